import Foundation
import Testing
@testable import QuietStarTokenizer

@Suite struct StreamingTests {
    func stream(_ tokenizer: Tokenizer, _ ids: [Int32], skip: Bool = false) -> [String] {
        var decoder = StreamingDecoder(tokenizer: tokenizer, skipSpecialTokens: skip)
        return ids.map { decoder.append($0) } + [decoder.finish()]
    }

    /// Streamed pieces concatenate to the full decode for every fixture line, and a piece is
    /// never emitted with a broken character.
    @Test(arguments: Fixtures.names)
    func concatenationEqualsDecode(_ name: String) throws {
        let tokenizer = try Fixtures.tokenizer(name)
        for line in try Fixtures.expected().tokenizers[name]!.lines {
            let pieces = stream(tokenizer, line.ids)
            #expect(pieces.joined() == line.decoded, "\(name): \(line.text.debugDescription)")
            #expect(!pieces.dropLast().contains { $0.contains("\u{FFFD}") } || line.decoded.contains("\u{FFFD}"))
            #expect(stream(tokenizer, line.ids, skip: true).joined() == line.decoded_skip_special)
            #expect(String(decoding: tokenizer.decodeBytes(line.ids), as: UTF8.self) == line.decoded)
        }
    }

    /// An emoji split over byte tokens appears only once its last byte arrives.
    @Test func waitsForCompleteCharacters() throws {
        let tokenizer = try Fixtures.tokenizer("gpt2")
        let ids = tokenizer.encode("a😀", addSpecialTokens: false)
        #expect(ids.count >= 3)   // the tiny vocabulary splits the emoji's four bytes
        #expect(stream(tokenizer, ids) == ["a"] + Array(repeating: "", count: ids.count - 2) + ["😀", ""])
        let unfinished = stream(tokenizer, Array(ids.dropLast()))
        #expect(unfinished == ["a"] + Array(repeating: "", count: ids.count - 2) + ["\u{FFFD}"])
    }

    /// SentencePiece decoders strip the first space of the output, wherever it first appears.
    @Test func leadingSpaceIsStrippedOnce() throws {
        let tokenizer = try Fixtures.tokenizer("llama2")
        let ids = tokenizer.encode("Hello world", addSpecialTokens: false)
        #expect(stream(tokenizer, ids).joined() == "Hello world")
        let withBos = tokenizer.encode("Hello world")
        #expect(stream(tokenizer, withBos).joined() == "<s> Hello world")
        #expect(stream(tokenizer, withBos, skip: true).joined() == "Hello world")
    }

    @Test func unfinishedTail() {
        #expect(StreamingDecoder.unfinishedTail([0x41]) == 0)
        #expect(StreamingDecoder.unfinishedTail([0x41, 0xE4]) == 1)
        #expect(StreamingDecoder.unfinishedTail([0xE4, 0xBD]) == 2)
        #expect(StreamingDecoder.unfinishedTail([0xE4, 0xBD, 0xA0]) == 0)
        #expect(StreamingDecoder.unfinishedTail([0xF0, 0x9F, 0x98]) == 3)
        #expect(StreamingDecoder.unfinishedTail([0xED, 0xA0]) == 0)      // a surrogate can never complete
        #expect(StreamingDecoder.unfinishedTail([0xF4, 0x90]) == 0)      // beyond U+10FFFF
        #expect(StreamingDecoder.unfinishedTail([0xC0]) == 0)
        #expect(StreamingDecoder.unfinishedTail([0xBD, 0xA0]) == 0)
    }
}
