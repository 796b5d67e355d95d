import Foundation
import Testing

/// `quietstar-run ... --output FILE --resume`: a batch job killed part way continues where it
/// stopped and ends with the bytes an uninterrupted run writes, for plain and thought
/// generation, greedy and sampled, whole input and one shard.
@Suite struct RunResumeTests {
    static let input = (0..<48).map { "{\"id\": \($0), \"prompt\": \"Line \($0): once upon a time\"}" }.joined(separator: "\n") + "\n"

    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var arguments: [String]
        var thoughts: Bool
        var testDescription: String { name }
    }

    static let cases = [
        Case(name: "greedy", arguments: ["--max-tokens", "24"], thoughts: false),
        Case(name: "sampled, shard 1/3", arguments: ["--max-tokens", "24", "--temperature", "0.8", "--seed", "5", "--shard", "1/3"],
             thoughts: false),
        Case(name: "thoughts, sampled", arguments: ["--max-tokens", "12", "--temperature", "0.7", "--seed", "3", "--thoughts",
                                                    "--thought-tokens", "2"], thoughts: true),
    ]

    @Test(arguments: cases)
    func aKilledJobResumesToTheSameBytes(_ c: Case) throws {
        let root = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let model = root.appendingPathComponent("m.qstar").path
        let family = c.thoughts ? "quietstar-mistral" : "llama-untied"
        let converted = try CLI.run("quietstar-convert", ["from-hf", CLI.fixture("hf/\(family)").path, "-o", model])
        try #require(converted.status == 0, "\(converted.stderrText)")
        let inputFile = root.appendingPathComponent("in.jsonl")
        try Data(Self.input.utf8).write(to: inputFile)
        let common = ["generate", "--model", model, "--input-format", "jsonl", "--format", "jsonl", "--batch-size", "4",
                      "--threads", "1"] + c.arguments + [inputFile.path]

        let full = root.appendingPathComponent("full.jsonl")
        let r = try CLI.run("quietstar-run", common + ["--output", full.path])
        #expect(r.status == 0, "\(r.stderrText)")
        #expect(r.stdout.isEmpty, "records go to --output, not stdout")
        let want = try Data(contentsOf: full)

        // Killed at seeded random moments after some records are written, resumed each time.
        var random = SystemRandomNumberGenerator()
        let part = root.appendingPathComponent("part.jsonl")
        for attempt in 0..<2 {
            let process = Process()
            process.executableURL = CLI.productsDirectory.appendingPathComponent("quietstar-run")
            process.arguments = common + ["--output", part.path] + (attempt > 0 ? ["--resume"] : [])
            process.standardError = FileHandle.nullDevice
            try process.run()
            let floor = attempt == 0 ? 200 : (try Data(contentsOf: part).count) + 200
            let deadline = Date().addingTimeInterval(120)
            func size() -> Int { ((try? FileManager.default.attributesOfItem(atPath: part.path))?[.size] as? Int) ?? 0 }
            while process.isRunning && Date() < deadline && size() < floor {
                usleep(1_000)
            }
            usleep(UInt32.random(in: 0..<30_000, using: &random))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        let partial = try Data(contentsOf: part)
        #expect(partial.count < want.count, "the job was killed before it finished")
        let resumed = try CLI.run("quietstar-run", common + ["--output", part.path, "--resume"])
        #expect(resumed.status == 0, "\(resumed.stderrText)")
        let got = try Data(contentsOf: part)
        #expect(got == want, "after resuming from \(partial.count) of \(want.count) bytes the output differs")

        // Resuming a finished file changes nothing; a torn last line is dropped and redone.
        let again = try CLI.run("quietstar-run", common + ["--output", part.path, "--resume"])
        #expect(again.status == 0)
        #expect(try Data(contentsOf: part) == want, "resuming a finished file changed it")
        let cut = want.prefix(want.count * 2 / 3)
        try cut.write(to: part)
        let torn = try CLI.run("quietstar-run", common + ["--output", part.path, "--resume"])
        #expect(torn.status == 0, "\(torn.stderrText)")
        #expect(try Data(contentsOf: part) == want, "a torn record is not dropped and redone")
    }

    @Test func resumeNeedsAnOutputFile() throws {
        let r = try CLI.run("quietstar-run", ["generate", "--model", "m.qstar", "--resume"])
        #expect(r.status == 64)
        #expect(r.stderrText.contains("--output"))
    }
}
