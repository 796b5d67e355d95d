import Foundation
import QuietStarFormat
import Testing

/// `quietstar-train data addition` and `quietstar-train star` end to end, on
/// `fixtures/star/adder.qstar` (a 2-layer model pretrained by `tools/star/make_test_fixture.sh`
/// on worked 1- and 2-digit sums, half of them hinted).
@Suite struct StarCLITests {
    static let base = CLI.fixture("star/adder.qstar").path

    static func data(_ dir: URL, _ name: String, _ arguments: [String]) throws -> URL {
        let url = dir.appendingPathComponent(name)
        let r = try CLI.run("quietstar-train", ["data", "addition"] + arguments + ["-o", url.path])
        #expect(r.status == 0, "\(r.stderrText)")
        return url
    }

    static func lines(_ url: URL) throws -> [String] {
        try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map(String.init)
    }

    static func object(_ line: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
    }

    @Test func dataAdditionWritesEachFormat() throws {
        let root = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let held = try Self.data(root, "held.jsonl", ["--digits", "1-2", "--count", "30", "--seed", "1"])
        let star = try Self.lines(held)
        #expect(star.count == 60)
        let first = try Self.object(star[0])
        #expect(Set(first.keys) == ["id", "question", "answer", "category"])
        let train = try Self.data(root, "train.jsonl", ["--digits", "1-2", "--count", "1000", "--seed", "2", "--exclude", held.path])
        let trainLines = try Self.lines(train)
        #expect(trainLines.count == 70 + 1000, "100 one-digit problems exist, 30 are held out")
        let heldQuestions = Set(try star.map { try Self.object($0)["question"] as! String })
        #expect(try trainLines.allSatisfy { !heldQuestions.contains(try Self.object($0)["question"] as! String) })
        // Same seed, same bytes.
        let again = try Self.data(root, "again.jsonl", ["--digits", "1-2", "--count", "30", "--seed", "1"])
        #expect(try Data(contentsOf: again) == Data(contentsOf: held))

        let direct = try Self.lines(try Self.data(root, "d.jsonl", ["--digits", "3", "--count", "2", "--format", "completions", "--style", "direct"]))
        let d = try Self.object(direct[0])
        #expect((d["prompt"] as! String).hasPrefix("Input:\n") && (d["prompt"] as! String).hasSuffix("\nTarget:\n"))
        #expect(!(d["completion"] as! String).contains("scratch"))
        let text = try String(contentsOf: try Self.data(root, "t.txt", ["--digits", "2", "--count", "20", "--format", "text", "--hints", "1"]),
                              encoding: .utf8)
        let documents = text.components(separatedBy: "\n\n").filter { !$0.isEmpty }
        #expect(documents.count == 20)
        #expect(documents.allSatisfy { $0.contains("\nTarget: ") && $0.contains("<scratch>\n") && $0.contains("\n</scratch>\n") })
    }

    static func starArguments(train: URL, eval: URL, _ dir: URL) -> [String] {
        ["star", "--base", base, "--train", train.path, "--eval", eval.path, "-o", dir.path, "--iterations", "2",
         "--steps", "6", "--steps-growth", "2", "--batch-size", "4", "--lr", "1e-3", "--max-tokens", "90",
         "--generation-batch-size", "8", "--threads", "1", "--seed", "3"]
    }

    /// The loop on a real model: iteration 1 keeps the sums the model gets right, retries the rest
    /// with the answer as a hint, fine-tunes the base; iteration 2 starts again from the base with
    /// more steps. A run killed in its second iteration and resumed ends with the same files.
    @Test func starKeepsRationalizesFineTunesFromTheBaseAndResumesExactly() throws {
        let root = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let eval = try Self.data(root, "eval.jsonl", ["--digits", "1-2", "--count", "6", "--seed", "1"])
        let train = try Self.data(root, "train.jsonl", ["--digits", "1-2", "--count", "10", "--seed", "2", "--exclude", eval.path])

        let straight = root.appendingPathComponent("straight")
        let r = try CLI.run("quietstar-train", Self.starArguments(train: train, eval: eval, straight))
        #expect(r.status == 0, "\(r.stderrText)")
        let metrics = try Self.lines(straight.appendingPathComponent("metrics.jsonl")).map(Self.object)
        try #require(metrics.count == 3, "iteration 0 (the base) and two iterations")
        let one = metrics[1], two = metrics[2]
        #expect((metrics[0]["eval_accuracy"] as! [String: Double])["1"]! > 0.5, "the base model adds 1-digit numbers")
        #expect(one["train_questions"] as! Int == 20)
        #expect(one["kept_generated"] as! Int > 0)
        #expect(one["rationalization_attempts"] as! Int == 20 - (one["train_correct"] as! Int))
        #expect(one["fine_tuned"] as! Bool)
        #expect(one["steps"] as! Int == 6 && two["steps"] as! Int == 8)
        #expect(Set((one["eval_accuracy"] as! [String: Double]).keys) == ["all", "1", "2"])

        // Kept examples: the plain prompt (never the hint) and a completion that reaches the answer.
        let kept = try Self.lines(straight.appendingPathComponent("iteration-01/kept.jsonl")).map(Self.object)
        #expect(kept.count == (one["kept_generated"] as! Int) + (one["kept_rationalized"] as! Int))
        let answers = Dictionary(uniqueKeysWithValues: try Self.lines(train).map(Self.object).map { ($0["id"] as! String, $0) })
        for k in kept {
            let q = answers[k["id"] as! String]!
            #expect(k["prompt"] as! String == "Input:\n\(q["question"] as! String)\nTarget:\n")
            let last = (k["completion"] as! String).split(separator: "\n").last.map(String.init)
            #expect(last == q["answer"] as? String)
        }
        // Each iteration fine-tunes the base model, not the previous one.
        for n in 1...2 {
            let model = try QStarFile.open(path: straight.appendingPathComponent(String(format: "iteration-%02d/model.qstar", n)).path)
            #expect(model.metadata["provenance.source"] == .string(Self.base))
        }

        // Killed during iteration 2, then resumed: the same models, kept examples and metrics.
        let killed = root.appendingPathComponent("killed")
        let process = Process()
        process.executableURL = CLI.productsDirectory.appendingPathComponent("quietstar-train")
        process.arguments = Self.starArguments(train: train, eval: eval, killed)
        process.standardError = FileHandle.nullDevice
        try process.run()
        let marker = killed.appendingPathComponent("iteration-02/generate.jsonl").path
        let deadline = Date().addingTimeInterval(300)
        while !FileManager.default.fileExists(atPath: marker) && Date() < deadline && process.isRunning { usleep(5_000) }
        usleep(UInt32.random(in: 0..<200_000))
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(!FileManager.default.fileExists(atPath: killed.appendingPathComponent("iteration-02/summary.json").path),
                "killed before iteration 2 finished")
        let resumed = try CLI.run("quietstar-train", ["star", "--resume", killed.path, "--threads", "1"])
        #expect(resumed.status == 0, "\(resumed.stderrText)")
        #expect(resumed.stderrText.contains("resuming after iteration 1"))
        for file in ["iteration-01/model.qstar", "iteration-02/model.qstar", "iteration-02/kept.jsonl", "iteration-02/eval.out.jsonl"] {
            #expect(try Data(contentsOf: killed.appendingPathComponent(file)) == Data(contentsOf: straight.appendingPathComponent(file)),
                    "\(file) differs after resuming")
        }
        func withoutTimes(_ url: URL) throws -> [NSDictionary] {
            try Self.lines(url).map { var o = try Self.object($0); o["seconds"] = nil; return o as NSDictionary }
        }
        #expect(try withoutTimes(killed.appendingPathComponent("metrics.jsonl")) == withoutTimes(straight.appendingPathComponent("metrics.jsonl")))
    }

    /// Rationalization through an external generation command (a script that only knows the
    /// answer when the hint gives it, and writes its records in reverse order): every failure is
    /// rationalized and kept without its hint.
    @Test func rationalizedExamplesAreKeptWithoutTheHint() throws {
        let root = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let train = try Self.data(root, "train.jsonl", ["--digits", "1-2", "--count", "8", "--seed", "4"])
        let script = #"awk '{ match($0, /"id":[0-9]+/); id = substr($0, RSTART + 5, RLENGTH - 5); a = "0"; if (match($0, /Target: [0-9 ]+\\n/)) a = substr($0, RSTART + 8, RLENGTH - 10); printf "{\"id\":%s,\"completion\":\"<scratch>\\nI was told\\n</scratch>\\n%s\"}\n", id, a }' {input} | tac > {output}"#
        let dir = root.appendingPathComponent("run")
        let fewShot = root.appendingPathComponent("few-shot.txt")
        try Data("Input:\n1 + 1\nTarget:\n<scratch>\n1 + 1 , C: 0\n, 2 C: 0\n0 2\n</scratch>\n2\n\n".utf8).write(to: fewShot)
        let r = try CLI.run("quietstar-train", ["star", "--base", Self.base, "--train", train.path, "-o", dir.path,
                                                 "--iterations", "1", "--steps", "2", "--batch-size", "2", "--threads", "1",
                                                 "--few-shot", fewShot.path, "--generate-command", script])
        #expect(r.status == 0, "\(r.stderrText)")
        let questions = try Self.lines(train).map(Self.object)
        let zeros = questions.filter { $0["answer"] as! String == "0" }.count
        let m = try Self.object(try Self.lines(dir.appendingPathComponent("metrics.jsonl"))[1])
        #expect(m["kept_generated"] as! Int == zeros)
        #expect(m["kept_rationalized"] as! Int == 16 - zeros)
        #expect(m["eval_accuracy"] == nil, "no --eval given")
        let kept = try Self.lines(dir.appendingPathComponent("iteration-01/kept.jsonl")).map(Self.object)
        #expect(kept.count == 16)
        for k in kept {
            #expect(!(k["prompt"] as! String).contains("Target: "), "a kept example has the hint in its prompt")
            #expect((k["completion"] as! String).hasPrefix("<scratch>\nI was told\n</scratch>\n"))
        }
        #expect(kept.filter { $0["source"] as! String == "rationalized" }.count == 16 - zeros)
        let hinted = try Self.lines(dir.appendingPathComponent("iteration-01/rationalize.jsonl")).map(Self.object)
        #expect(hinted.allSatisfy { ($0["prompt"] as! String).contains("\nTarget: ") }, "the retry prompts show the answer")
        // Few-shot examples go before every generation prompt and are never trained on.
        let asked = try Self.lines(dir.appendingPathComponent("iteration-01/generate.jsonl")).map(Self.object)
        #expect(asked.count == 16 && asked.allSatisfy { ($0["prompt"] as! String).hasPrefix("Input:\n1 + 1\nTarget:\n<scratch>") })
        #expect(hinted.allSatisfy { ($0["prompt"] as! String).hasPrefix("Input:\n1 + 1\n") }, "--hint-few-shot defaults to --few-shot")
        #expect(kept.allSatisfy { !($0["prompt"] as! String).contains("<scratch>") })
    }

    @Test func starErrors() throws {
        let root = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let train = try Self.data(root, "train.jsonl", ["--digits", "1", "--count", "3"])
        let missing = try CLI.run("quietstar-train", ["star", "--base", root.appendingPathComponent("none.qstar").path,
                                                       "--train", train.path, "-o", root.appendingPathComponent("a").path])
        #expect(missing.status == 66, "\(missing.stderrText)")
        let badTemplate = try CLI.run("quietstar-train", ["star", "--base", Self.base, "--train", train.path,
                                                           "--hint-template", "{question}", "-o", root.appendingPathComponent("b").path])
        #expect(badTemplate.status == 64, "\(badTemplate.stderrText)")
        #expect(badTemplate.stderrText.contains("{answer}"))
        let notARun = try CLI.run("quietstar-train", ["star", "--resume", root.path])
        #expect(notARun.status == 66, "\(notARun.stderrText)")
        let failing = try CLI.run("quietstar-train", ["star", "--base", Self.base, "--train", train.path, "--iterations", "1",
                                                       "--generate-command", "exit 9", "-o", root.appendingPathComponent("c").path])
        #expect(failing.status == 65, "\(failing.stderrText)")
        #expect(failing.stderrText.contains("status 9"))
    }
}
