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
        for line in entry.lines {
            #expect(tokenizer.encode(line.text, addSpecialTokens: true) == line.ids, "\(name): \(line.text.debugDescription)")
            #expect(tokenizer.encode(line.text, addSpecialTokens: false) == line.ids_no_special, "\(name): \(line.text.debugDescription)")
            #expect(line.ids.map { tokenizer.token(of: $0) ?? "?" } == line.tokens, "\(name): \(line.text.debugDescription)")
        }
    }

    @Test(arguments: Fixtures.names)
    func decodeMatchesHuggingFace(_ name: String) throws {
        let tokenizer = try Fixtures.tokenizer(name)
        let entry = try #require(try Self.expected.get().tokenizers[name])
        for line in entry.lines {
            #expect(tokenizer.decode(line.ids) == line.decoded, "\(name): \(line.text.debugDescription)")
            #expect(tokenizer.decode(line.ids_no_special) == line.decoded_no_special, "\(name): \(line.text.debugDescription)")
            #expect(tokenizer.decode(line.ids, skipSpecialTokens: true) == line.decoded_skip_special, "\(name): \(line.text.debugDescription)")
        }
    }
}
