import Foundation
import Testing
@testable import QuietStarTokenizer

/// Every fixture tokenizer on every test line, against Hugging Face `tokenizers` (expected.json).
@Suite struct HuggingFaceParityTests {
    static let expected = Result { try Fixtures.expected() }

    @Test(arguments: Fixtures.names)
    func encodeMatchesHuggingFace(_ name: String) throws {
        let tokenizer = try Fixtures.tokenizer(name)
        let entry = try #require(try Self.expected.get().tokenizers[name])
        #expect(tokenizer.vocabularySize == entry.vocab_size)
        #expect(entry.lines.count >= 40)
        // The lines are test_lines.txt split on "\n" only, byte for byte ("\r" stays inside a line).
        let fileLines = try Fixtures.data("test_lines.txt").split(separator: 0x0A, omittingEmptySubsequences: false)
        try #require(entry.lines.count == fileLines.count, "expected.json has \(entry.lines.count) lines, test_lines.txt \(fileLines.count)")
        for (line, bytes) in zip(entry.lines, fileLines) {
            #expect(Array(line.text.utf8) == Array(bytes), "\(String(decoding: bytes, as: UTF8.self).debugDescription)")
        }
        for line in entry.lines {
            #expect(tokenizer.encode(line.text, addSpecialTokens: true) == line.ids, "\(name): \(line.text.debugDescription)")
            #expect(tokenizer.encode(line.text, addSpecialTokens: false) == line.ids_no_special, "\(name): \(line.text.debugDescription)")
            // Token strings by their bytes: String == would let "é" pass for "e\u{301}".
            #expect(line.ids.map { Array((tokenizer.token(of: $0) ?? "?").utf8) } == line.tokens.map { Array($0.utf8) },
                    "\(name): \(line.text.debugDescription)")
        }
    }

    @Test(arguments: Fixtures.names)
    func decodeMatchesHuggingFace(_ name: String) throws {
        let tokenizer = try Fixtures.tokenizer(name)
        let entry = try #require(try Self.expected.get().tokenizers[name])
        for line in entry.lines {
            let context: Comment = "\(name): \(line.text.debugDescription)"
            #expect(Array(tokenizer.decode(line.ids).utf8) == Array(line.decoded.utf8), context)
            #expect(Array(tokenizer.decode(line.ids_no_special).utf8) == Array(line.decoded_no_special.utf8), context)
            #expect(Array(tokenizer.decode(line.ids, skipSpecialTokens: true).utf8) == Array(line.decoded_skip_special.utf8), context)
        }
    }
}
