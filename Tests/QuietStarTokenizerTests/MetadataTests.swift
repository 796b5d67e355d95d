import Foundation
import QuietStarFormat
import Testing
@testable import QuietStarTokenizer

@Suite struct MetadataTests {
    @Test(arguments: Fixtures.names)
    func roundTripsExactly(_ name: String) throws {
        let spec = try Fixtures.spec(name)
        let metadata = spec.metadata
        let back = try TokenizerSpec(metadata: metadata)
        #expect(back == spec)
        #expect(back.metadata == metadata)
        #expect(metadata.keys.allSatisfy { $0.hasPrefix("tokenizer.") })
        #expect(back.huggingFaceTokenizerJSON == String(decoding: try Fixtures.tokenizerJSON(name), as: UTF8.self))

        // The tokenizer read back from metadata tokenizes like the one read from tokenizer.json.
        let a = try Tokenizer(spec: spec), b = try Tokenizer(metadata: metadata)
        for line in try Fixtures.expected().tokenizers[name]!.lines {
            #expect(b.encode(line.text) == a.encode(line.text))
        }
    }

    /// formats/qstar-v1.md section 12.3 lists exactly the keys the writer emits, in its order:
    /// every spec's keys appear in the table in table order, and every row is written by at
    /// least one of the specs.
    @Test func specTableMatchesTheWriter() throws {
        let spec = try String(contentsOf: Fixtures.root.deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("formats/qstar-v1.md"), encoding: .utf8)
        let section = try #require(spec.components(separatedBy: "### 12.3 `tokenizer.*`").last?
            .components(separatedBy: "\n### ").first)
        let table = section.split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("| `tokenizer.") else { return nil }
            return String(line.dropFirst(3).prefix { $0 != "`" })
        }
        #expect(Set(table).count == table.count)
        var metaspaceDecoder = try Fixtures.spec("mistral-metaspace")   // no fixture decodes with Metaspace
        metaspaceDecoder.decoder = .metaspace(replacement: "▁", prependScheme: .first)
        let specs = try Fixtures.names.map { try Fixtures.spec($0) } + [TokenizerSpec.byteLevel(), metaspaceDecoder]
        var written = Set<String>()
        for metadata in specs.map(\.metadata) {
            var rows = table[...]
            for key in metadata.keys {
                guard let i = rows.firstIndex(of: key) else {
                    Issue.record("\(key) is written but not in the table (or out of order)")
                    continue
                }
                rows = rows[(i + 1)...]
                written.insert(key)
            }
        }
        #expect(Set(table).subtracting(written).sorted() == [])
    }

    @Test func byteTokenizerRoundTrips() throws {
        let spec = TokenizerSpec.byteLevel()
        #expect(try TokenizerSpec(metadata: spec.metadata) == spec)
        #expect(spec.metadata[TokenizerMetadataKey.model] == .string("byte"))
    }

    /// Keys outside the tokenizer's list belong to other readers and are ignored.
    @Test func otherKeysAreIgnored() throws {
        let spec = try Fixtures.spec("qwen2")
        var metadata = Metadata([("general.name", .string("tiny")), ("tokenizer.chat_template", .string("{{ x }}"))])
        for (key, value) in spec.metadata.entries { metadata[key] = value }
        #expect(try TokenizerSpec(metadata: metadata) == spec)
    }

    /// A merge whose left token contains a space cannot be split at the first space; it is
    /// stored as "\0left\0right" (TokenizerMetadataKey.merges).
    @Test func mergeEntriesWithSpaces() throws {
        var spec = TokenizerSpec(model: .bpe, tokens: ["a", "b", " ", "a ", "a b", "a b ", " b", "a b b", "x\0", "x\0 b"],
                                 merges: [.init("a", " "), .init("a b", " "), .init(" ", "b"), .init("a b", " b"), .init("x\0", " b")])
        try spec.validate()
        let entries = try spec.metadata.stringArray(TokenizerMetadataKey.merges)
        #expect(entries == ["a  ", "\0a b\0 ", "\0 \0b", "\0a b\0 b", "x\0  b"])
        #expect(try TokenizerSpec(metadata: spec.metadata) == spec)
        #expect(TokenizerSpec.merge(fromEntry: "no-space") == nil)
        #expect(TokenizerSpec.merge(fromEntry: "\0no-second-nul") == nil)

        // A left token that starts with U+0000 has no unambiguous entry: refused.
        spec.tokens += ["\0y", "\0yb"]
        spec.merges.append(.init("\0y", "b"))
        #expect(throws: TokenizerError.self) { try spec.validate() }
    }

    @Test func errorsNameTheKey() throws {
        let good = try Fixtures.spec("llama2").metadata
        func error(_ edit: (inout Metadata) -> Void) -> TokenizerError? {
            var m = good
            edit(&m)
            do {
                _ = try TokenizerSpec(metadata: m)
                return nil
            } catch {
                return error
            }
        }
        let missing = error { $0[TokenizerMetadataKey.model] = nil }
        #expect(missing?.location == "metadata: tokenizer.model")
        #expect(missing?.message.contains("missing") == true)

        let wrongType = error { $0[TokenizerMetadataKey.tokens] = .string("x") }
        #expect(wrongType?.location == "metadata: tokenizer.tokens")

        let unknown = error { $0[TokenizerMetadataKey.preTokenizer] = .string("whitespace") }
        #expect(unknown?.location == "metadata: tokenizer.pre_tokenizer")
        #expect(unknown?.message.contains("byte_level, metaspace, none") == true)

        let ragged = error { $0[TokenizerMetadataKey.addedTokenLstrip] = .boolArray([false]) }
        #expect(ragged?.location == "metadata: tokenizer.added_tokens.lstrip")

        let badMerge = error { $0[TokenizerMetadataKey.merges] = .stringArray(["▁ t", "nospace"]) }
        #expect(badMerge?.location == "metadata: tokenizer.merges[1]")

        let outOfRange = error { $0[TokenizerMetadataKey.bosTokenId] = .uint(100_000) }
        #expect(outOfRange?.location == "spec: bosTokenId")
    }
}
