import Foundation
import QuietStarTestSupport
import Testing
@testable import QuietStarTokenizer

/// Properties of our implementation that Hugging Face parity alone does not pin down.
@Suite struct TokenizerBehaviorTests {
    /// The short-word scan and the long-word heap are two implementations of "merge the
    /// lowest-rank pair, leftmost first"; they must agree on any symbol sequence.
    @Test(arguments: ["llama2", "gpt2"])
    func mergeAlgorithmsAgree(_ name: String) throws {
        let tokenizer = try Fixtures.tokenizer(name)
        var rng = SplitMix64(seed: 0x853C_49E6_748F_EA9B)
        func next(_ bound: Int) -> Int { Int(rng.next() % UInt64(bound)) }
        // Initial symbols of real text (the fixture lines, cut and joined at random), so that
        // long chains of merges apply: bytes for byte-level, characters for SentencePiece.
        let lines = try Fixtures.expected().tokenizers[name]!.lines.map(\.text)
        func symbols(_ text: String) -> [Int32] {
            if tokenizer.byteLevelWords { return text.utf8.map { tokenizer.byteSymbolIds[Int($0)] }.filter { $0 >= 0 } }
            return ("▁" + text.replacingOccurrences(of: " ", with: "▁")).unicodeScalars.compactMap { tokenizer.id(of: String($0)) }
        }
        var merges = 0
        for _ in 0..<300 {
            let text = (0..<(1 + next(4))).map { _ in
                let line = Array(lines[next(lines.count)].unicodeScalars)
                let start = next(line.count + 1)
                return String(String.UnicodeScalarView(line[start..<min(line.count, start + next(60))]))
            }.joined()
            let symbols = symbols(text)
            let scan = tokenizer.merged(symbols, useHeap: false)
            #expect(scan == tokenizer.merged(symbols, useHeap: true), "\(text.debugDescription)")
            merges += symbols.count - scan.count
        }
        #expect(merges > 1000)   // the test exercised merging, not just lookups
    }

    /// One tokenizer shared by many tasks (the word cache is the only shared mutable state).
    @Test func concurrentEncodingAgrees() async throws {
        let lines = try Fixtures.expected().tokenizers["llama3"]!.lines
        let tokenizer = try Fixtures.tokenizer("llama3")
        let agreed = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<8 {
                group.addTask { lines.allSatisfy { tokenizer.encode($0.text) == $0.ids } }
            }
            return await group.reduce(true) { $0 && $1 }
        }
        #expect(agreed)
    }

    /// Without a TemplateProcessing, tokenizer_config's add_bos_token/add_eos_token decide (what
    /// transformers does for Llama-style tokenizers).
    @Test func configFlagsWithoutTemplate() throws {
        let config = Data(#"{"bos_token": "<|endoftext|>", "eos_token": {"content": "<|endoftext|>"}, "add_bos_token": true, "add_eos_token": true}"#.utf8)
        let spec = try TokenizerSpec(huggingFaceTokenizerJSON: Fixtures.tokenizerJSON("gpt2"), tokenizerConfigJSON: config)
        #expect(spec.addBosToken && spec.addEosToken)
        let tokenizer = try Tokenizer(spec: spec)
        let plain = tokenizer.encode("Hello world", addSpecialTokens: false)
        #expect(tokenizer.encode("Hello world") == [399] + plain + [399])

        let none = try TokenizerSpec(huggingFaceTokenizerJSON: Fixtures.tokenizerJSON("gpt2"), tokenizerConfigJSON: nil)
        #expect(!none.addBosToken && none.bosTokenId == nil && none.eosTokenIds.isEmpty)
        let llama2 = try TokenizerSpec(huggingFaceTokenizerJSON: Fixtures.tokenizerJSON("llama2"), tokenizerConfigJSON: nil)
        #expect(llama2.addBosToken && llama2.bosTokenId == 1)   // from the template alone
    }

    @Test func tokenLookupAndDisplay() throws {
        let gpt2 = try Fixtures.tokenizer("gpt2")
        let the = try #require(gpt2.id(of: "Ġthe"))
        #expect(gpt2.token(of: the) == "Ġthe")
        #expect(gpt2.tokenText(the) == " the")
        #expect(gpt2.id(of: "<|endoftext|>") == 399)
        #expect(gpt2.id(of: " the") == nil)
        #expect(gpt2.token(of: 400) == nil && gpt2.tokenText(-1) == "")
        #expect(gpt2.tokenText(try #require(gpt2.id(of: "Ċ"))) == "\n")
        #expect(gpt2.tokenText(try #require(gpt2.id(of: "ä"))) == "<0xE4>")   // a lone lead byte

        let llama2 = try Fixtures.tokenizer("llama2")
        #expect(llama2.tokenText(try #require(llama2.id(of: "<0x0A>"))) == "\n")
        #expect(llama2.tokenText(try #require(llama2.id(of: "▁w"))) == " w")
        #expect(llama2.isSpecialToken(1) && !llama2.isSpecialToken(3))
    }

    /// "é" (U+00E9) and "e\u{301}" are different tokens, although Swift's String calls them
    /// equal. Expected ids from Hugging Face tokenizers 0.23.3 on this very tokenizer.json.
    @Test func canonicallyEquivalentTokensStayDistinct() throws {
        let json = #"{"version":"1.0","truncation":null,"padding":null,"added_tokens":[],"normalizer":null,"pre_tokenizer":null,"post_processor":null,"decoder":null,"model":{"type":"BPE","dropout":null,"unk_token":"<unk>","continuing_subword_prefix":null,"end_of_word_suffix":null,"fuse_unk":false,"byte_fallback":false,"ignore_merges":false,"vocab":{"<unk>":0,"e":1,"\u0301":2,"\u00e9":3,"e\u0301":4,"x":5},"merges":[["e","\u0301"]]}}"#
        let spec = try TokenizerSpec(huggingFaceTokenizerJSON: Data(json.utf8), tokenizerConfigJSON: nil)
        #expect(spec.tokens.count == 6)
        let tokenizer = try Tokenizer(spec: spec)
        #expect(tokenizer.encode("\u{E9}") == [3])
        #expect(tokenizer.encode("e\u{301}") == [4])
        #expect(tokenizer.encode("xe\u{301}x\u{E9}") == [5, 4, 5, 3])
        #expect(tokenizer.id(of: "\u{E9}") == 3 && tokenizer.id(of: "e\u{301}") == 4)
        #expect(try TokenizerSpec(metadata: spec.metadata) == spec)
        var swapped = spec
        swapped.tokens.swapAt(3, 4)
        #expect(swapped != spec)
    }

    /// NFC (Qwen2's normalizer): composition, canonical reordering, singletons, exclusions.
    @Test func nfc() throws {
        let cases: [(String, String)] = [
            ("\u{1100}\u{1161}\u{11A8}", "\u{AC01}"), ("\u{212B}", "\u{C5}"), ("e\u{301}\u{323}", "\u{1EB9}\u{301}"),
            ("\u{2126}", "\u{3A9}"), ("\u{344}", "\u{308}\u{301}"), ("\u{958}", "\u{915}\u{93C}"), ("A\u{30A}", "\u{C5}"),
            ("\u{F900}", "\u{8C48}"), ("a\u{308}\u{301}", "\u{E4}\u{301}"), ("plain ascii", "plain ascii")]
        let qwen2 = try Fixtures.tokenizer("qwen2")
        for (input, composed) in cases {
            #expect(TokenizerSpec.Normalizer.nfc.apply(input) == Array(composed.utf8), "\(input.debugDescription)")
            #expect(qwen2.encode(input) == qwen2.encode(composed))
        }
    }

    /// `first` prepends "▁" only to the segment at offset 0 of the input.
    @Test func metaspacePrependsOnlyAtTheStart() throws {
        let tokenizer = try Fixtures.tokenizer("mistral-metaspace")
        let plain = tokenizer.encode("a", addSpecialTokens: false)
        #expect(tokenizer.token(of: plain[0])?.hasPrefix("▁") == true)
        let after = tokenizer.encode("</s>a", addSpecialTokens: false)
        #expect(after.first == 2 && tokenizer.token(of: after[1])?.hasPrefix("▁") == false)
    }
}
