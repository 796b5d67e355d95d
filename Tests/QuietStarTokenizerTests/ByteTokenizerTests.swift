import Foundation
import Testing
@testable import QuietStarTokenizer

@Suite struct ByteTokenizerTests {
    let tokenizer = try! Tokenizer(spec: .byteLevel())

    @Test func layout() {
        #expect(tokenizer.vocabularySize == 260)
        #expect(tokenizer.bosTokenId == 256)
        #expect(tokenizer.eosTokenIds == [257])
        #expect(tokenizer.id(of: "<|startthought|>") == 258)
        #expect(tokenizer.id(of: "<|endthought|>") == 259)
        #expect(tokenizer.id(of: "<0x41>") == 65)
        #expect(tokenizer.tokenText(65) == "A")
        #expect(tokenizer.tokenText(0xE4) == "<0xE4>")
        #expect(tokenizer.tokenText(258) == "<|startthought|>")
    }

    @Test func encodeIsTheUTF8Bytes() {
        let text = "héllo 👋\r\n"
        #expect(tokenizer.encode(text) == [256] + text.utf8.map { Int32($0) })
        #expect(tokenizer.encode(text, addSpecialTokens: false) == text.utf8.map { Int32($0) })
        #expect(tokenizer.encode("") == [256])
        #expect(tokenizer.decode(tokenizer.encode(text)) == "<|bos|>" + text)
        #expect(tokenizer.decode(tokenizer.encode(text), skipSpecialTokens: true) == text)
    }

    @Test func specialsInTheText() {
        #expect(tokenizer.encode("a<|startthought|>b<|endthought|><|eos|>", addSpecialTokens: false) == [97, 258, 98, 259, 257])
        #expect(tokenizer.encode("<|startthought", addSpecialTokens: false) == "<|startthought".utf8.map { Int32($0) })
    }

    /// Invalid UTF-8 decodes with one U+FFFD per maximal invalid subsequence, as HF's ByteLevel.
    @Test func invalidUTF8() {
        #expect(tokenizer.decode([0xE4, 0xBD, 0x41]) == "\u{FFFD}A")
        #expect(tokenizer.decode([0xED, 0xA0, 0x80]) == "\u{FFFD}\u{FFFD}\u{FFFD}")
        #expect(tokenizer.decode([0xFF]) == "\u{FFFD}")
        #expect(tokenizer.decode([0xE4, 0xBD, 0xA0]) == "你")
        #expect(tokenizer.decodeBytes([256, 0xE4, 0xBD], skipSpecialTokens: true) == [0xE4, 0xBD])
        #expect(tokenizer.decode([-1, 260, 65]) == "A")   // unknown ids are dropped
    }

    @Test func fromMetadata() throws {
        let t = try Tokenizer(metadata: TokenizerSpec.byteLevel().metadata)
        #expect(t.encode("ok") == [256, 111, 107])
    }
}
