import Foundation
import Testing

/// Batch, thread and shard invariance on a checkpoint written by our own trainer (the STaR test
/// model), not only on converted ones: sampled generation and scoring give the same bytes for
/// batch sizes 1, 7 and 64, 1 and 2 threads, and 3 shards merged by line.
@Suite struct TrainedInvarianceTests {
    static let model = CLI.fixture("star/adder.qstar").path
    /// `{"id", "prompt", "text"}` lines (generate reads "prompt", score "text"): addition prompts.
    static let input = Data((0..<21).map { i in
        let prompt = "Input:\\n\(i % 10) + \(i / 3)\\nTarget:\\n"
        return "{\"id\": \"q\(i)\", \"prompt\": \"\(prompt)\", \"text\": \"\(prompt)\"}"
    }.joined(separator: "\n").utf8)

    static func records(_ arguments: [String]) throws -> [String] {
        let r = try CLI.run("quietstar-run", arguments, stdin: input)
        #expect(r.status == 0, "\(r.stderrText)")
        return r.stdoutText.split(separator: "\n").map(String.init)
    }

    @Test(arguments: [["generate", "--max-tokens", "40", "--temperature", "0.8", "--seed", "9"], ["score", "--per-token"]])
    func sameBytesHoweverTheWorkIsSplit(_ command: [String]) throws {
        let common = command + ["--model", Self.model, "--input-format", "jsonl", "--format", "jsonl"]
        let reference = try Self.records(common + ["--batch-size", "1", "--threads", "1"])
        #expect(reference.count == 21)
        for (batch, threads) in [(7, 2), (64, 1), (64, 2)] {
            let got = try Self.records(common + ["--batch-size", "\(batch)", "--threads", "\(threads)"])
            #expect(got == reference, "batch \(batch), threads \(threads)")
        }
        var merged: [Int: String] = [:]
        for k in 0..<3 {
            for line in try Self.records(common + ["--shard", "\(k)/3", "--batch-size", "7"]) {
                let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                merged[try #require(object["line"] as? Int)] = line
            }
        }
        #expect(merged.keys.sorted().map { merged[$0]! } == reference, "3 shards merged by line")
    }
}
