import Foundation
import Testing
@testable import QuietStarTokenizer

/// Configurations we do not implement are refused with the JSON path and what is supported,
/// never tokenized approximately.
@Suite struct RejectionTests {
    /// Reads `name`'s tokenizer.json after `edit`, expecting an error.
    func rejection(_ name: String, config: [String: Any]? = nil, _ edit: (inout [String: Any]) -> Void) throws -> TokenizerError {
        var object = try Fixtures.object(name)
        edit(&object)
        let configData = try config.map { try JSONSerialization.data(withJSONObject: $0) } ?? Fixtures.configJSON(name)
        do {
            let spec = try TokenizerSpec(huggingFaceTokenizerJSON: Fixtures.json(object), tokenizerConfigJSON: configData)
            Issue.record("accepted: \(spec.preTokenizer) \(spec.normalizer) \(spec.decoder)")
            return TokenizerError("", "")
        } catch let error as TokenizerError {
            return error
        }
    }

    static func sub(_ o: [String: Any], _ key: String) -> [String: Any] { o[key] as! [String: Any] }

    @Test func unknownSplitRegex() throws {
        let e = try rejection("llama3") { o in
            var pre = Self.sub(o, "pre_tokenizer")
            var steps = pre["pretokenizers"] as! [[String: Any]]
            steps[0]["pattern"] = ["Regex": #"\w+|\s+"#]
            pre["pretokenizers"] = steps
            o["pre_tokenizer"] = pre
        }
        #expect(e.location == "tokenizer.json: pre_tokenizer.pretokenizers[0].pattern.Regex")
        #expect(e.message.contains(#"unsupported split regex "\\w+|\\s+""#))
        #expect(e.message.contains("supported: GPT-2, Llama-3, Qwen2"))
    }

    @Test func splitBehaviorAndByteLevelOptions() throws {
        let behavior = try rejection("qwen2") { o in
            var pre = Self.sub(o, "pre_tokenizer")
            var steps = pre["pretokenizers"] as! [[String: Any]]
            steps[0]["behavior"] = "MergedWithPrevious"
            pre["pretokenizers"] = steps
            o["pre_tokenizer"] = pre
        }
        #expect(behavior.location == "tokenizer.json: pre_tokenizer.pretokenizers[0].behavior")
        let prefix = try rejection("qwen2") { o in
            var pre = Self.sub(o, "pre_tokenizer")
            var steps = pre["pretokenizers"] as! [[String: Any]]
            steps[1]["add_prefix_space"] = true
            pre["pretokenizers"] = steps
            o["pre_tokenizer"] = pre
        }
        #expect(prefix.location == "tokenizer.json: pre_tokenizer.pretokenizers[1]")
    }

    @Test func unsupportedComponents() throws {
        let model = try rejection("gpt2") { o in
            var m = Self.sub(o, "model")
            m["type"] = "WordPiece"
            o["model"] = m
        }
        #expect(model.location == "tokenizer.json: model.type")
        #expect(model.message.contains("supported: BPE"))

        let normalizer = try rejection("gpt2") { $0["normalizer"] = ["type": "NFKC"] }
        #expect(normalizer.location == "tokenizer.json: normalizer")
        #expect(normalizer.message.contains("supported: null, NFC"))

        let pre = try rejection("gpt2") { $0["pre_tokenizer"] = ["type": "Whitespace"] }
        #expect(pre.location == "tokenizer.json: pre_tokenizer")

        let decoder = try rejection("gpt2") { $0["decoder"] = ["type": "WordPiece", "prefix": "##", "cleanup": true] }
        #expect(decoder.location == "tokenizer.json: decoder")
        #expect(decoder.message.contains("supported: null, ByteLevel, Metaspace"))

        let strip = try rejection("llama2") { o in
            var d = Self.sub(o, "decoder")
            var steps = d["decoders"] as! [[String: Any]]
            steps[3]["start"] = 2
            d["decoders"] = steps
            o["decoder"] = d
        }
        #expect(strip.location == "tokenizer.json: decoder.decoders[3]")

        let truncation = try rejection("gpt2") { $0["truncation"] = ["max_length": 512] }
        #expect(truncation.location == "tokenizer.json: truncation")
        let padding = try rejection("gpt2") { $0["padding"] = ["strategy": ["Fixed": 16], "pad_id": 0] }
        #expect(padding.location == "tokenizer.json: padding")
        var batchLongest = try Fixtures.object("gpt2")
        batchLongest["padding"] = ["strategy": "BatchLongest", "direction": "Right", "pad_to_multiple_of": NSNull(), "pad_id": 0]
        _ = try TokenizerSpec(huggingFaceTokenizerJSON: Fixtures.json(batchLongest), tokenizerConfigJSON: nil)

        let affix = try rejection("gpt2") { o in
            var m = Self.sub(o, "model")
            m["continuing_subword_prefix"] = "##"
            o["model"] = m
        }
        #expect(affix.location == "tokenizer.json: model.continuing_subword_prefix")
    }

    @Test func inconsistentVocabularyAndMerges() throws {
        let hole = try rejection("gpt2") { o in
            var m = Self.sub(o, "model")
            var v = m["vocab"] as! [String: Any]
            v["Ġ"] = 10_000
            m["vocab"] = v
            o["model"] = m
        }
        #expect(hole.location == #"tokenizer.json: model.vocab["Ġ"]"#)

        let merge = try rejection("llama3") { o in
            var m = Self.sub(o, "model")
            m["merges"] = [["Ġ", "t"], ["zz", "q"]]
            o["model"] = m
        }
        #expect(merge.location == "spec: merges[1]")
        #expect(merge.message.contains(#""zz" is not in the vocabulary"#))

        let stringMerge = try rejection("llama2") { o in
            var m = Self.sub(o, "model")
            m["merges"] = ["▁ t", "a b c"]
            o["model"] = m
        }
        #expect(stringMerge.location == "tokenizer.json: model.merges[1]")

        let added = try rejection("llama2") { o in
            var tokens = o["added_tokens"] as! [[String: Any]]
            tokens[1]["content"] = "<bos>"
            o["added_tokens"] = tokens
        }
        #expect(added.location == "spec: addedTokens[1]")
    }

    @Test func templatesAndSpecialTokens() throws {
        let twoBefore = try rejection("llama2") { o in
            var p = Self.sub(o, "post_processor")
            p["single"] = [["SpecialToken": ["id": "<s>", "type_id": 0]], ["SpecialToken": ["id": "<s>", "type_id": 0]],
                           ["Sequence": ["id": "A", "type_id": 0]]]
            o["post_processor"] = p
        }
        #expect(twoBefore.location == "tokenizer.json: post_processor.single")
        #expect(twoBefore.message.contains("at most one before (BOS) and one after (EOS)"))

        let conflicting = try rejection("llama2", config: ["bos_token": "</s>"]) { _ in }
        #expect(conflicting.location == "tokenizer.json: post_processor")

        let unknownBos = try rejection("gpt2", config: ["bos_token": "<|nope|>"]) { _ in }
        #expect(unknownBos.location == "tokenizer_config.json: bos_token")

        let metaspace = try rejection("mistral-metaspace") { o in
            var p = Self.sub(o, "pre_tokenizer")
            p["replacement"] = "__"
            o["pre_tokenizer"] = p
        }
        #expect(metaspace.location == "tokenizer.json: pre_tokenizer.replacement")
    }
}
