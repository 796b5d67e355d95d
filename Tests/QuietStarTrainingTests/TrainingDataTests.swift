import Foundation
import QuietStarTestSupport
import QuietStarTokenizer
import QuietStarTraining
import Testing

/// How files become training sequences (the rules `quietstar-train --help` states), and that a
/// saved position resumes the exact stream.
@Suite struct TrainingDataTests {
    let tokenizer = try! Tokenizer(spec: .byteLevel())
    let bos: Int32 = 256, eos: Int32 = 257

    func bytes(_ s: String) -> [Int32] { s.utf8.map { Int32($0) } }

    @Test func textWindowsSplitAtDocumentsAndKeepEveryTargetInside() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("docs.txt")
        try Data("ab\n\ncde\n\n\n\nf".utf8).write(to: URL(fileURLWithPath: path))
        let data = try TrainingData(files: [path], format: .text(delimiter: Array("\n\n".utf8)), tokenizer: tokenizer,
                                    contextLength: 5)
        // Stream: [BOS a b EOS] [BOS c d e EOS] [BOS f EOS] (the empty document is skipped), then again.
        let w1 = try data.next(1)
        #expect(w1.map(\.tokens) == [[bos] + bytes("ab") + [eos], [bos]])
        let w2 = try data.next(1)
        #expect(w2.map(\.tokens) == [bytes("cde") + [eos], [bos]])
        let w3 = try data.next(1)
        #expect(w3.map(\.tokens) == [bytes("f") + [eos], [bos] + bytes("ab")])
        #expect(data.position.epoch == 1)
        #expect(w1.allSatisfy { $0.firstTarget == 0 })
        #expect(w1.reduce(0) { $0 + $1.targetCount } == 3)
    }

    @Test func completionsCountOnlyCompletionTargets() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("ex.jsonl")
        try Data("{\"prompt\": \"Q:\", \"completion\": \" 42\"}\n\n{\"completion\": \"x\", \"prompt\": \"\"}\r\n".utf8)
            .write(to: URL(fileURLWithPath: path))
        let data = try TrainingData(files: [path], format: .completions, tokenizer: tokenizer, contextLength: 64)
        let batch = try data.next(2)
        #expect(batch[0].tokens == [bos] + bytes("Q: 42") + [eos])
        // Targets from the last prompt token on: " ", "4", "2", EOS.
        #expect(batch[0].firstTarget == 2)
        #expect(batch[0].targetCount == 4)
        #expect(batch[1].tokens == [bos] + bytes("x") + [eos])
        #expect(batch[1].firstTarget == 0)
    }

    @Test func badJSONLinesNameFileAndOffset() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("bad.jsonl")
        try Data("{\"prompt\": \"a\", \"completion\": \"b\"}\n{\"prompt\": 3}\n".utf8).write(to: URL(fileURLWithPath: path))
        let data = try TrainingData(files: [path], format: .completions, tokenizer: tokenizer, contextLength: 64)
        _ = try data.next(1)
        #expect {
            _ = try data.next(1)
        } throws: { error in
            let text = "\(error)"
            return text.contains("bad.jsonl") && text.contains("byte 35") && text.contains("\"prompt\"")
        }
    }

    @Test func aSavedPositionResumesTheSameStream() throws {
        let dir = TemporaryDirectory()
        let a = dir.file("a.txt"), b = dir.file("b.txt")
        var text = ""
        for i in 0..<300 { text += "line \(i) " + String(repeating: "x", count: i % 17) + "\n" }
        try Data(text.utf8).write(to: URL(fileURLWithPath: a))
        try Data("short\nfile\n".utf8).write(to: URL(fileURLWithPath: b))
        let format = DataFormat.text(delimiter: [0x0A])
        let straight = try TrainingData(files: [a, b], format: format, tokenizer: tokenizer, contextLength: 37)
        var expected: [[TrainingSequence]] = []
        var positions: [DataPosition] = []
        for _ in 0..<150 {
            positions.append(straight.position)
            expected.append(try straight.next(3))
        }
        #expect(straight.position.epoch >= 1, "the test crosses files and epochs")
        for k in [0, 1, 17, 64, 149] {
            let resumed = try TrainingData(files: [a, b], format: format, tokenizer: tokenizer, contextLength: 37,
                                           position: positions[k])
            for j in k..<min(k + 5, expected.count) { #expect(try resumed.next(3) == expected[j], "batch \(j) after resuming at \(k)") }
        }
    }

    /// Files of blank documents or blank lines only are refused; they made the reader cycle
    /// through epochs forever (seen writing `tools/fuzz/run-fuzz training`: its seed of three blank
    /// lines timed out).
    @Test func filesOfBlankRecordsOnlyAreRefused() throws {
        let dir = TemporaryDirectory()
        let text = dir.file("blank.txt"), empty = dir.file("empty.txt"), jsonl = dir.file("blank.jsonl")
        try Data("\n\n\n".utf8).write(to: URL(fileURLWithPath: text))
        try Data().write(to: URL(fileURLWithPath: empty))
        try Data("\n  \r\n\t\n".utf8).write(to: URL(fileURLWithPath: jsonl))
        for (files, format) in [([text], DataFormat.text(delimiter: [0x0A])), ([empty, text], .text(delimiter: [0x0A])),
                                ([jsonl], .completions), ([jsonl, empty, jsonl], .completions)] {
            let data = try TrainingData(files: files, format: format, tokenizer: tokenizer, contextLength: 8)
            #expect { _ = try data.next(1) } throws: { "\($0)".contains("hold no records") }
        }
        // A usable record after a blank one is still found, in a later file.
        let good = dir.file("good.txt")
        try Data("ok\n".utf8).write(to: URL(fileURLWithPath: good))
        let data = try TrainingData(files: [text, empty, good], format: .text(delimiter: [0x0A]), tokenizer: tokenizer,
                                    contextLength: 4)
        #expect(try data.next(1).map(\.tokens) == [[bos] + bytes("ok") + [eos]])
    }

    /// A prompt that leaves no room for a completion target is refused, naming the file, the
    /// record's byte and the allowed range.
    @Test func aPromptAsLongAsTheContextIsRefused() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("long.jsonl")
        try Data("{\"prompt\": \"ok\", \"completion\": \"1\"}\n{\"prompt\": \"abcdefg\", \"completion\": \"1\"}\n".utf8)
            .write(to: URL(fileURLWithPath: path))
        let data = try TrainingData(files: [path], format: .completions, tokenizer: tokenizer, contextLength: 8)
        _ = try data.next(1)
        #expect { _ = try data.next(1) } throws: { error in
            let text = "\(error)"
            return text.contains("long.jsonl (record at byte 36)") && text.contains("the prompt is 8 tokens, it must be between 1 and 7")
        }
    }
}
