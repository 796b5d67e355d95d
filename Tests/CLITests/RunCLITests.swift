import Foundation
import Testing

/// `quietstar-run` as a user runs it: stdin/files in, records out, exit statuses.
@Suite struct RunCLITests {
    /// A temporary directory holding the `llama-tied` fixture converted with `quietstar-convert`
    /// (GPT-2 tokenizer, no BOS, context 256) and `llama-untied` (Llama-2 tokenizer, adds `<s>`).
    final class Models {
        let dir: URL
        var tied: String { dir.appendingPathComponent("tied.qstar").path }
        var untied: String { dir.appendingPathComponent("untied.qstar").path }
        init() throws {
            dir = try CLI.temporaryDirectory()
            for (name, out) in [("llama-tied", tied), ("llama-untied", untied)] {
                let r = try CLI.run("quietstar-convert", ["from-hf", CLI.fixture("hf/\(name)").path, "-o", out])
                #expect(r.status == 0, "conversion failed: \(r.stderrText)")
            }
        }
        deinit { try? FileManager.default.removeItem(at: dir) }
    }

    func lines(_ text: String) -> [String] {
        var l = text.components(separatedBy: "\n")
        if l.last == "" { l.removeLast() }
        return l
    }

    func json(_ line: String) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }

    static let prompts = (0..<12).map { "Prompt number \($0): once upon a time" } + ["", "x", "The end"]

    @Test func generateWritesOneRecordPerLineInOrder() throws {
        let m = try Models()
        let input = Data(Self.prompts.enumerated().map { "{\"id\": \"p\($0.offset)\", \"prompt\": \"\($0.element)\"}" }.joined(separator: "\n").utf8)
        let r = try CLI.run("quietstar-run", ["generate", "--model", m.untied, "--input-format", "jsonl", "--format", "jsonl",
                                              "--max-tokens", "6", "--batch-size", "4"], stdin: input)
        #expect(r.status == 0, "\(r.stderrText)")
        let out = lines(r.stdoutText)
        #expect(out.count == Self.prompts.count)
        for (i, line) in out.enumerated() {
            let o = try json(line)
            #expect(o["id"] as? String == "p\(i)")
            #expect(o["completion_tokens"] as? Int == 6)
            #expect(o["finish_reason"] as? String == "length")
            #expect(o["completion"] is String)
        }
        // Text output: the same completions, escaped one per line.
        let plain = try CLI.run("quietstar-run", ["generate", "--model", m.untied, "--max-tokens", "6"],
                                stdin: Data(Self.prompts.joined(separator: "\n").utf8))
        #expect(plain.status == 0)
        #expect(lines(plain.stdoutText).count == Self.prompts.count)
    }

    /// Batch size, thread count and sharding do not change any line's (sampled) output.
    @Test func outputIsInvariantToBatchingThreadsAndShards() throws {
        let m = try Models()
        let input = Data(Self.prompts.joined(separator: "\n").utf8)
        let common = ["generate", "--model", m.untied, "--format", "jsonl", "--max-tokens", "8", "--temperature", "0.9",
                      "--top-p", "0.9", "--seed", "11"]
        let reference = try CLI.run("quietstar-run", common + ["--batch-size", "1", "--threads", "1"], stdin: input)
        #expect(reference.status == 0)
        let batched = try CLI.run("quietstar-run", common + ["--batch-size", "16", "--step-tokens", "20"], stdin: input)
        #expect(batched.stdoutText == reference.stdoutText)
        // Three shards: each line exactly once, with its own output ("line" is the input line number).
        var byId: [Int: String] = [:]
        for k in 0..<3 {
            let part = try CLI.run("quietstar-run", common + ["--shard", "\(k)/3", "--batch-size", "5"], stdin: input)
            #expect(part.status == 0)
            for line in lines(part.stdoutText) {
                let id = try #require(try json(line)["line"] as? Int) - 1
                #expect(id % 3 == k && byId[id] == nil)
                byId[id] = line
            }
        }
        #expect(byId.keys.sorted() == Array(Self.prompts.indices))
        #expect(byId.keys.sorted().map { byId[$0]! } == lines(reference.stdoutText))
    }

    /// Invalid UTF-8, unparsable JSON, missing fields and over-long lines become error records in
    /// place; the other lines are processed; exit status 1.
    @Test func badLinesYieldErrorRecords() throws {
        let m = try Models()
        var input = Data("{\"id\": 1, \"prompt\": \"Hello\"}\n".utf8)
        input.append(contentsOf: [0x7B, 0x22, 0xFF, 0x22, 0x7D, 0x0A])   // {"\xff"}
        input.append(Data("not json\n{\"id\": 4}\n{\"id\": 5, \"prompt\": \"\(String(repeating: "word ", count: 400))\"}\n{\"prompt\": \"World\"}".utf8))
        let r = try CLI.run("quietstar-run", ["generate", "--model", m.tied, "--input-format", "jsonl", "--format", "jsonl",
                                              "--max-tokens", "3"], stdin: input)
        #expect(r.status == 1)
        let out = try lines(r.stdoutText).map(json)
        #expect(out.count == 6)
        #expect(out.map { $0["error"] != nil } == [false, true, true, true, true, false])
        #expect((out[1]["error"] as? String)?.contains("UTF-8") == true)
        #expect(out[3]["id"] as? Int == 4)
        #expect((out[4]["error"] as? String)?.contains("context") == true)
        #expect(out[5]["id"] is NSNull)   // no id: null, never a number another line could own
        #expect(out.map { $0["line"] as? Int } == [1, 2, 3, 4, 5, 6])
        #expect(out[1]["id"] is NSNull && out[2]["id"] is NSNull, "unreadable lines have no id")
        #expect(r.stderrText.contains("4 of 6 lines failed"))

        // Text mode: an empty line on stdout, the reason on stderr.
        var text = Data("Hello\n".utf8)
        text.append(contentsOf: [0x61, 0xC3, 0x28, 0x0A])
        text.append(Data("World\n".utf8))
        let t = try CLI.run("quietstar-run", ["score", "--model", m.tied], stdin: text)
        #expect(t.status == 1)
        let tl = lines(t.stdoutText)
        #expect(tl.count == 3 && tl[1] == "" && !tl[0].isEmpty && !tl[2].isEmpty)
        #expect(t.stderrText.contains("line 2: invalid UTF-8"))
    }

    /// `quietstar-run ... | head -1` ends quietly once head has gone, as `cat` would (SIGPIPE,
    /// no message), instead of reporting a write error or working through the rest of the input.
    @Test func aClosedOutputPipeEndsTheRunQuietly() throws {
        let m = try Models()
        let errors = m.dir.appendingPathComponent("stderr.txt")
        let tool = CLI.productsDirectory.appendingPathComponent("quietstar-run").path
        let script = "yes 'Once upon a time' | head -n 5000 | '\(tool)' generate --model '\(m.tied)' --max-tokens 2 --batch-size 4 2>'\(errors.path)' | head -n 1; echo \"status ${PIPESTATUS[2]}\""
        let shell = Process()
        shell.executableURL = URL(fileURLWithPath: "/bin/bash")
        shell.arguments = ["-c", script]
        let pipe = Pipe()
        shell.standardOutput = pipe
        try shell.run()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        shell.waitUntilExit()
        let out = lines(text)
        #expect(out.count == 2, "\(text)")
        #expect(out.last == "status 141", "killed by SIGPIPE (128 + 13)")
        #expect(try String(contentsOf: errors, encoding: .utf8).isEmpty, "no message on stderr")
    }

    @Test func emptyInputAndFiles() throws {
        let m = try Models()
        let empty = try CLI.run("quietstar-run", ["generate", "--model", m.tied])
        #expect(empty.status == 0 && empty.stdout.isEmpty)
        // Two files, the first without a final newline: lines do not run together.
        let a = m.dir.appendingPathComponent("a.txt"), b = m.dir.appendingPathComponent("b.txt")
        try Data("one\ntwo".utf8).write(to: a)
        try Data("three\n".utf8).write(to: b)
        let r = try CLI.run("quietstar-run", ["score", "--model", m.untied, "--format", "jsonl", a.path, b.path])
        #expect(r.status == 0)
        #expect(try lines(r.stdoutText).map { try json($0)["line"] as? Int } == [1, 2, 3])
    }

    @Test func scorePerTokenRecords() throws {
        let m = try Models()
        let r = try CLI.run("quietstar-run", ["score", "--model", m.untied, "--format", "jsonl", "--per-token"],
                            stdin: Data("Hello world\n".utf8))
        #expect(r.status == 0)
        let o = try json(lines(r.stdoutText)[0])
        let ids = try #require(o["token_ids"] as? [Int])
        let tokens = try #require(o["tokens"] as? [String])
        let logprobs = try #require(o["logprobs"] as? [Any])
        #expect(ids.first == 1)   // <s>
        #expect(tokens.count == ids.count && logprobs.count == ids.count && o["token_count"] as? Int == ids.count)
        #expect(logprobs[0] is NSNull)
        let values = logprobs.dropFirst().compactMap { ($0 as? NSNumber)?.doubleValue }
        #expect(values.count == ids.count - 1 && values.allSatisfy { $0 < 0 })
        let total = try #require((o["logprob"] as? NSNumber)?.doubleValue)
        #expect(abs(values.reduce(0, +) - total) < 1e-6)
        let ppl = try #require((o["perplexity"] as? NSNumber)?.doubleValue)
        #expect(abs(ppl - exp(-total / Double(ids.count - 1))) < 1e-6 * ppl)
    }

    @Test func exitStatuses() throws {
        let m = try Models()
        let missing = try CLI.run("quietstar-run", ["generate", "--model", m.dir.appendingPathComponent("none.qstar").path])
        #expect(missing.status == 66 && missing.stderrText.contains("none.qstar"))
        let bad = m.dir.appendingPathComponent("bad.qstar")
        try Data("this is not a checkpoint".utf8).write(to: bad)
        let corrupt = try CLI.run("quietstar-run", ["generate", "--model", bad.path])
        #expect(corrupt.status == 65 && corrupt.stderrText.contains("bad.qstar"))
        // No --model and no default model.
        var env = ProcessInfo.processInfo.environment
        env["QUIETSTAR_MODEL"] = nil
        let none = try CLI.run("quietstar-run", ["score"], environment: env)
        #expect(none.status == 66 && none.stderrText.contains("--model"))
        env["QUIETSTAR_MODEL"] = m.tied
        let fromEnv = try CLI.run("quietstar-run", ["score"], stdin: Data("hi\n".utf8), environment: env)
        #expect(fromEnv.status == 0 && lines(fromEnv.stdoutText).count == 1)
        for usage in [["score", "--per-token"], ["generate", "--temperature", "-1"], ["generate", "--shard", "3/3"],
                      ["generate", "--top-p", "0"], ["generate", "--batch-size", "0"], ["generate", "--bogus"]] {
            let r = try CLI.run("quietstar-run", usage + ["--model", m.tied])
            #expect(r.status == 64, "\(usage)")
        }
        let noFile = try CLI.run("quietstar-run", ["score", "--model", m.tied, m.dir.appendingPathComponent("nope.txt").path])
        #expect(noFile.status == 66)
        let help = try CLI.run("quietstar-run", ["--help"])
        #expect(help.status == 0 && help.stdoutText.contains("Exit status") && help.stdoutText.contains("Examples"))
    }

    /// Results stream: a line's result is written while the input pipe is still open and
    /// waiting for more (the engine never blocks on input while it has lines to run).
    @Test(arguments: [["generate", "--max-tokens", "3"], ["score"]])
    func resultsAppearBeforeInputEnds(_ command: [String]) throws {
        let m = try Models()
        try expectResultBeforeInputEnds(command + ["--model", m.untied, "--format", "jsonl"])
    }
}

/// `quietstar-run --thoughts` on the converted Quiet-STaR fixture, against the independent
/// sequential reference (`fixtures/reference/quietstar-mistral.thoughts.json`): greedy thoughts
/// (`--thought-temperature 0`) exactly, log-probs and w within 2e-4 (see ThoughtReferenceTests).
@Suite struct RunThoughtCLITests {
    final class Model {
        let dir: URL
        var path: String { dir.appendingPathComponent("qs.qstar").path }
        var plain: String { dir.appendingPathComponent("plain.qstar").path }
        init() throws {
            dir = try CLI.temporaryDirectory()
            for (name, out) in [("quietstar-mistral", path), ("llama-tied", plain)] {
                let r = try CLI.run("quietstar-convert", ["from-hf", CLI.fixture("hf/\(name)").path, "-o", out])
                #expect(r.status == 0, "conversion failed: \(r.stderrText)")
            }
        }
        deinit { try? FileManager.default.removeItem(at: dir) }
    }

    func reference() throws -> [String: Any] {
        let data = try Data(contentsOf: CLI.fixture("reference/quietstar-mistral.thoughts.json"))
        return try #require(JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// JSONL input lines `{"<key>": text}` (the fixture texts contain newlines).
    func jsonl(_ key: String, _ texts: [String]) throws -> Data {
        Data(try texts.map { String(decoding: try JSONSerialization.data(withJSONObject: [key: $0]), as: UTF8.self) }
            .joined(separator: "\n").utf8)
    }

    func records(_ text: String) throws -> [[String: Any]] {
        try text.split(separator: "\n").map { try #require(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
    }

    @Test func scoreWithThoughtsMatchesTheReference() throws {
        let m = try Model()
        let cases = try #require(try reference()["scoring"] as? [[String: Any]]).filter { $0["k"] as? Int == 3 }
        let texts = cases.map { $0["text"] as! String }
        let r = try CLI.run("quietstar-run", ["score", "--model", m.path, "--thoughts", "--thought-tokens", "3",
                                              "--thought-temperature", "0", "--format", "jsonl", "--per-token",
                                              "--show-thoughts", "--batch-size", "2", "--input-format", "jsonl"],
                            stdin: try jsonl("text", texts))
        #expect(r.status == 0, "\(r.stderrText)")
        let out = try records(r.stdoutText)
        #expect(out.count == cases.count)
        for (c, o) in zip(cases, out) {
            #expect(abs((o["logprob"] as! Double) - (c["sum_mixed_logprob"] as! Double)) < 1e-3)
            #expect(abs((o["base_logprob"] as! Double) - (c["sum_base_logprob"] as! Double)) < 1e-3)
            let thoughts = try #require(o["thoughts"] as? [Any]), weights = try #require(o["mixing_weights"] as? [Any])
            let logprobs = try #require(o["logprobs"] as? [Any]), texts = try #require(o["thought_texts"] as? [Any])
            #expect(thoughts.first is NSNull && logprobs.first is NSNull && texts.count == thoughts.count)
            for p in try #require(c["positions"] as? [[String: Any]]) where !(p["next_id"] is NSNull) {
                let j = (p["position"] as! Int) + 1
                #expect(thoughts[j] as? [Int] == p["thought_ids"] as? [Int], "position \(j - 1)")
                #expect(abs((weights[j] as! Double) - (p["w"] as! Double)) < 2e-4)
                #expect(abs((logprobs[j] as! Double) - (p["mixed_logprob"] as! Double)) < 2e-4)
            }
        }
        // Text output: five columns.
        let t = try CLI.run("quietstar-run", ["score", "--model", m.path, "--thoughts", "--thought-temperature", "0"],
                            stdin: Data(texts[0].utf8))
        #expect(t.status == 0 && t.stdoutText.split(separator: "\t").count == 5)
    }

    @Test func generateWithThoughtsMatchesTheReference() throws {
        let m = try Model()
        let cases = try #require(try reference()["generation"] as? [[String: Any]]).filter { $0["k"] as? Int == 5 }
        let prompts = cases.map { $0["prompt"] as! String }
        let args = ["generate", "--model", m.path, "--thoughts", "--thought-tokens", "5", "--thought-temperature", "0",
                    "--max-tokens", "8", "--ignore-eos"]
        let r = try CLI.run("quietstar-run", args + ["--format", "jsonl", "--show-thoughts", "--mixing-weights",
                                                     "--input-format", "jsonl"], stdin: try jsonl("prompt", prompts))
        #expect(r.status == 0, "\(r.stderrText)")
        let out = try records(r.stdoutText)
        #expect(out.count == 2)
        for (c, o) in zip(cases, out) {
            let steps = try #require(c["steps"] as? [[String: Any]])
            #expect(o["completion_tokens"] as? Int == 8)
            #expect(o["thought_ids"] as? [[Int]] == steps.map { $0["thought_ids"] as! [Int] })
            let w = try #require(o["mixing_weights"] as? [Double])
            #expect(zip(w, steps).allSatisfy { abs($0 - ($1["w"] as! Double)) < 2e-4 })
            #expect((o["thoughts"] as? [String])?.count == 8)
        }
        // Text mode: thoughts delimited before each token, weights after a TAB.
        let text = try CLI.run("quietstar-run", args + ["--show-thoughts", "--mixing-weights"], stdin: Data(prompts[0].utf8))
        #expect(text.status == 0)
        let line = text.stdoutText.trimmingCharacters(in: .newlines)
        #expect(line.components(separatedBy: "⟨").count == 9)
        #expect(line.components(separatedBy: "\t").last!.split(separator: ",").count == 8)
        // Batch and shard invariance with sampled thoughts.
        let sampled = ["generate", "--model", m.path, "--thoughts", "--max-tokens", "5", "--ignore-eos", "--temperature", "0.8",
                       "--seed", "4", "--format", "jsonl", "--show-thoughts", "--input-format", "jsonl"]
        let input = try jsonl("prompt", prompts + ["Hello there", "A"])
        let one = try CLI.run("quietstar-run", sampled + ["--batch-size", "1"], stdin: input)
        let four = try CLI.run("quietstar-run", sampled + ["--batch-size", "4", "--step-tokens", "8"], stdin: input)
        #expect(one.status == 0 && one.stdoutText == four.stdoutText)
        let shard = try CLI.run("quietstar-run", sampled + ["--shard", "1/2"], stdin: input)
        let all = one.stdoutText.split(separator: "\n")
        #expect(shard.stdoutText.split(separator: "\n") == [all[1], all[3]])
    }

    /// `--think-when`: a rule's positions think, the rest keep the base score; the records say how
    /// many thought and what the rule read; bad rules and a rule without --thoughts are usage errors.
    @Test func thinkWhenChoosesPositions() throws {
        let m = try Model()
        let input = Data("The quick brown fox jumps over the lazy dog.\nOnce upon a time".utf8)
        let common = ["score", "--model", m.path, "--format", "jsonl", "--thoughts", "--thought-tokens", "2", "--per-token"]
        let always = try records(try CLI.run("quietstar-run", common + ["--think-when", "always"], stdin: input).stdoutText)
        let entropies = always.flatMap { ($0["base_entropies"] as! [Any]).compactMap { $0 as? Double } }.sorted()
        let median = entropies[entropies.count / 2]
        let r = try CLI.run("quietstar-run", common + ["--think-when", "entropy:\(median)"], stdin: input)
        #expect(r.status == 0, "\(r.stderrText)")
        var thought = 0
        for (a, o) in zip(always, try records(r.stdoutText)) {
            let e = o["base_entropies"] as! [Any], lp = o["logprobs"] as! [Any], base = o["base_logprobs"] as! [Any]
            let alp = a["logprobs"] as! [Any]
            var count = 0
            for j in 1..<e.count {
                if Float(e[j] as! Double) >= Float(median) {
                    count += 1
                    #expect(lp[j] as? Double == alp[j] as? Double)
                } else {
                    #expect(lp[j] as? Double == base[j] as? Double && (o["mixing_weights"] as! [Any])[j] as? Double == 0)
                }
            }
            #expect(o["thought_positions"] as? Int == count)
            #expect(a["thought_positions"] as? Int == e.count - 1)
            thought += count
        }
        #expect(thought > 0 && thought < entropies.count)
        let never = try records(try CLI.run("quietstar-run", common + ["--think-when", "never"], stdin: input).stdoutText)
        #expect(never.allSatisfy { $0["logprob"] as? Double == $0["base_logprob"] as? Double && $0["thought_positions"] as? Int == 0 })
        // Generation: text output shows ⟨⟩ only where a thought ran (none under never).
        let g = try CLI.run("quietstar-run", ["generate", "--model", m.path, "--thoughts", "--think-when", "never", "--show-thoughts",
                                              "--max-tokens", "4", "--ignore-eos"], stdin: Data("Hello".utf8))
        #expect(g.status == 0 && !g.stdoutText.contains("⟨"))
        for bad in [["--think-when", "sometimes"], ["--think-when", "entropy:2..1"]] {
            let e = try CLI.run("quietstar-run", common + bad, stdin: input)
            #expect(e.status == 64 && e.stderrText.contains("--think-when"), "\(bad): \(e.stderrText)")
        }
        let plain = try CLI.run("quietstar-run", ["score", "--model", m.path, "--think-when", "never"], stdin: input)
        #expect(plain.status == 64 && plain.stderrText.contains("need --thoughts"))
    }

    /// `explain`: one report row per input line (its NLL without and with thoughts as score
    /// computes them), the totals, and the `--top` tokens thinking helped most, largest gain first.
    @Test func explainReportsWhereThinkingHelped() throws {
        let m = try Model()
        let texts = ["The quick brown fox jumps over the lazy dog.", "Once upon a time", "Hello world, hello again."]
        let input = Data(texts.joined(separator: "\n").utf8)
        let r = try CLI.run("quietstar-run", ["explain", "--model", m.path, "--thought-tokens", "2", "--top", "4", "--batch-size", "2"],
                            stdin: input)
        #expect(r.status == 0, "\(r.stderrText)")
        let lines = r.stdoutText.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines[0].hasPrefix("line  NLL/token"))
        let scored = try records(try CLI.run("quietstar-run", ["score", "--model", m.path, "--thoughts", "--thought-tokens", "2",
                                                               "--format", "jsonl"], stdin: input).stdoutText)
        for (i, s) in scored.enumerated() {
            let n = Double((s["token_count"] as! Int) - 1)
            let row = lines[1 + i].split(separator: " ", omittingEmptySubsequences: true)
            #expect(row[0] == "\(i + 1)" && lines[1 + i].hasSuffix(texts[i]))
            #expect(abs(Double(row[1])! - -(s["base_logprob"] as! Double) / n) < 1e-4, "line \(i + 1): without")
            #expect(abs(Double(row[3])! - -(s["logprob"] as! Double) / n) < 1e-4, "line \(i + 1): with")
        }
        #expect(lines.contains { $0.hasPrefix("all ") && $0.contains("--think-when always") })
        let table = lines.drop { !$0.hasPrefix("rank") }.dropFirst().filter { !$0.isEmpty }
        #expect(table.count == 4)
        // p without, p with and w: the three numbers between the quoted token and the quoted thought.
        let columns = try NSRegularExpression(pattern: #"" +(\S+) +(\S+) +(\S+)  ""#)
        let gains = try table.map { row -> Double in
            let match = try #require(columns.firstMatch(in: row, range: NSRange(row.startIndex..., in: row)), "\(row)")
            let number = { (i: Int) in Double(row[Range(match.range(at: i), in: row)!])! }
            return log(number(2)) - log(number(1))
        }
        #expect(zip(gains, gains.dropFirst()).allSatisfy { $0 >= $1 - 1e-3 }, "\(gains)\n\(r.stdoutText)")
        let jsonl = try CLI.run("quietstar-run", ["explain", "--model", m.path, "--format", "jsonl"], stdin: input)
        #expect(jsonl.status == 64)
    }

    /// Scores are the same bytes whatever the batch size, step size, thread count or shard split,
    /// with and without thoughts, on lines long enough (up to ~170 tokens) that attention crosses
    /// several 64-key blocks and a line's prefill is split over steps.
    @Test func scoresAreTheSameBytesWhateverTheBatching() throws {
        let m = try Model()
        let words = ["the", "of", "12", "+", "34", "=", "fox", "upon", "ü", "日本", "🙂", "brown"]
        let texts = (0..<6).map { i in (0..<(1 + i * 29 % 70)).map { words[($0 * 7 + i) % words.count] }.joined(separator: " ") }
        let input = Data(texts.joined(separator: "\n").utf8)
        for extra in [[], ["--thoughts", "--thought-tokens", "2", "--seed", "9", "--show-thoughts"]] {
            let common = ["score", "--model", m.path, "--format", "jsonl", "--per-token"] + extra
            let reference = try CLI.run("quietstar-run", common + ["--batch-size", "1", "--threads", "1"], stdin: input)
            #expect(reference.status == 0, "\(reference.stderrText)")
            #expect(reference.stdoutText.split(separator: "\n").count == texts.count)
            for options in [["--batch-size", "4", "--step-tokens", "37"], ["--batch-size", "16", "--threads", "2"]] {
                let other = try CLI.run("quietstar-run", common + options, stdin: input)
                #expect(other.stdout == reference.stdout, "\(extra) \(options): output bytes differ")
            }
            let all = reference.stdoutText.split(separator: "\n")
            let shard = try CLI.run("quietstar-run", common + ["--shard", "2/3", "--batch-size", "2"], stdin: input)
            #expect(shard.stdoutText.split(separator: "\n") == [all[2], all[5]], "\(extra): shard 2/3")
        }
    }

    /// Forcing the kernels' instruction-set path (`QUIETSTAR_ISA`) changes no output byte: the
    /// AVX-512 tiles and the AVX2 (baseline) tiles compute every element in the same order.
    /// Scoring with thoughts and sampled generation with thoughts, per path, same bytes.
    @Test func everyKernelPathWritesTheSameBytes() throws {
        let m = try Model()
        let input = Data("The quick brown fox jumps over the lazy dog.\nOnce upon a time\n12 + 34 =".utf8)
        let commands = [
            ["score", "--model", m.path, "--format", "jsonl", "--per-token", "--thoughts", "--thought-tokens", "3", "--batch-size", "3"],
            ["generate", "--model", m.path, "--format", "jsonl", "--thoughts", "--thought-tokens", "2", "--max-tokens", "6",
             "--temperature", "0.8", "--seed", "5"],
        ]
        for command in commands {
            var outputs: [String: Data] = [:]
            for isa in ["avx2", "avx512", "auto"] {
                var environment = ProcessInfo.processInfo.environment
                environment["QUIETSTAR_ISA"] = isa
                let r = try CLI.run("quietstar-run", command, stdin: input, environment: environment)
                #expect(r.status == 0, "\(isa): \(r.stderrText)")
                outputs[isa] = r.stdout
            }
            #expect(!(outputs["avx2"] ?? Data()).isEmpty)
            #expect(outputs["avx2"] == outputs["avx512"] && outputs["avx2"] == outputs["auto"], "\(command[0]): output depends on the kernel path")
        }
    }

    /// The f16 KV cache keeps every determinism promise: the same bytes whatever the batch size
    /// and kernel path, with and without thoughts; and it is not the f32 cache's output.
    @Test func halfPrecisionCacheIsDeterministic() throws {
        let m = try Model()
        let input = Data("The quick brown fox jumps over the lazy dog.\nOnce upon a time\n12 + 34 =\nA".utf8)
        for thoughts in [[], ["--thoughts", "--thought-tokens", "2"]] {
            var outputs: [String: Data] = [:]
            for (isa, batch) in [("avx2", "1"), ("avx512", "3"), ("auto", "4")] {
                var environment = ProcessInfo.processInfo.environment
                environment["QUIETSTAR_ISA"] = isa
                let r = try CLI.run("quietstar-run", ["score", "--model", m.path, "--format", "jsonl", "--per-token",
                                                      "--kv-cache", "f16", "--batch-size", batch] + thoughts,
                                    stdin: input, environment: environment)
                #expect(r.status == 0, "\(isa): \(r.stderrText)")
                outputs["\(isa)-\(batch)"] = r.stdout
            }
            #expect(Set(outputs.values).count == 1, "\(thoughts): the f16 cache's output depends on the batch size or kernel path")
            let f32 = try CLI.run("quietstar-run", ["score", "--model", m.path, "--format", "jsonl", "--per-token"] + thoughts,
                                  stdin: input)
            #expect(f32.status == 0 && f32.stdout != outputs["auto-4"], "\(thoughts): --kv-cache f16 changed nothing")
        }
        let bad = try CLI.run("quietstar-run", ["score", "--model", m.path, "--kv-cache", "f8"], stdin: input)
        #expect(bad.status == 64 && bad.stderrText.contains("kv-cache"), "\(bad.stderrText)")
    }

    /// With thoughts too, a line's result does not wait for more input (as `RunCLITests`).
    @Test(arguments: [["generate", "--max-tokens", "2"], ["score"]])
    func resultsAppearBeforeInputEnds(_ command: [String]) throws {
        let m = try Model()
        try expectResultBeforeInputEnds(command + ["--model", m.path, "--format", "jsonl", "--thoughts", "--thought-tokens", "2"])
    }

    @Test func plainCheckpointRunsPlainWithANotice() throws {
        let m = try Model()
        let input = Data("Once upon a time\nThe end".utf8)
        let plain = try CLI.run("quietstar-run", ["generate", "--model", m.plain, "--max-tokens", "4"], stdin: input)
        let asked = try CLI.run("quietstar-run", ["generate", "--model", m.plain, "--max-tokens", "4", "--thoughts"], stdin: input)
        #expect(asked.status == 0 && asked.stdoutText == plain.stdoutText)
        #expect(asked.stderrText.contains("no thought parameters"))
        let score = try CLI.run("quietstar-run", ["score", "--model", m.plain, "--thoughts"], stdin: input)
        #expect(score.status == 0 && score.stderrText.contains("running without thoughts"))
        // Thought flags without --thoughts are usage errors.
        for usage in [["generate", "--show-thoughts"], ["generate", "--mixing-weights"], ["score", "--thoughts-per-position", "2"],
                      ["score", "--thoughts", "--thought-temperature", "-1"]] {
            let r = try CLI.run("quietstar-run", usage + ["--model", m.path])
            #expect(r.status == 64, "\(usage)")
        }
    }
}

/// Runs `quietstar-run arguments`, writes one line into its stdin and keeps the pipe open: the
/// line's record must arrive before any more input does. Reads poll with a two-minute deadline,
/// so a run that waits for input fails the expectation instead of hanging the suite.
func expectResultBeforeInputEnds(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
    let process = Process()
    process.executableURL = CLI.productsDirectory.appendingPathComponent("quietstar-run")
    process.arguments = arguments
    let input = Pipe(), output = Pipe()
    process.standardInput = input
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    try process.run()
    input.fileHandleForWriting.write(Data("Once upon a time\n".utf8))
    // Read until the first record arrives, with the pipe still open.
    var received = Data()
    let deadline = Date().addingTimeInterval(120)
    while !received.contains(0x0A) && Date() < deadline {
        var ready = pollfd(fd: output.fileHandleForReading.fileDescriptor, events: Int16(POLLIN), revents: 0)
        guard poll(&ready, 1, 100) > 0 else { continue }
        let chunk = output.fileHandleForReading.availableData
        if chunk.isEmpty { break }
        received.append(chunk)
    }
    let streamed = String(decoding: received, as: UTF8.self).contains("\"line\":1,")
    #expect(streamed, "\(arguments): no record before more input", sourceLocation: sourceLocation)
    guard streamed else {
        // SIGKILL: the child inherits the test runner's blocked SIGTERM.
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        return
    }
    input.fileHandleForWriting.write(Data("Second line\n".utf8))
    try input.fileHandleForWriting.close()
    received.append(output.fileHandleForReading.readDataToEndOfFile())
    process.waitUntilExit()
    #expect(process.terminationStatus == 0, "\(arguments): exit status", sourceLocation: sourceLocation)
    #expect(String(decoding: received, as: UTF8.self).split(separator: "\n").count == 2, sourceLocation: sourceLocation)
}
