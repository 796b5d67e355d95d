import Foundation
import QuietStarCheckpoint
import QuietStarFormat
import QuietStarJSON
import Testing
@testable import QuietStarInterop

@Suite struct HFConfigTests {
    func load(_ model: String) throws -> JSONValue {
        try JSONReader.parse([UInt8](Data(contentsOf: URL(fileURLWithPath: Fixtures.hf(model) + "/config.json"))))
    }

    /// A valid Llama config with one key replaced (nil removes it).
    func llama(_ changes: [String: JSONValue?]) throws -> JSONValue {
        var entries = try #require(try load("llama-untied").objectEntries)
        for (key, value) in changes {
            entries.removeAll { $0.key == key }
            if let value { entries.append((key, value)) }
        }
        return .object(entries)
    }

    func parseError(_ json: JSONValue, allowUnknown: Bool = false) -> InteropError? {
        do {
            _ = try HFConfig.parse(json, path: "config.json", allowUnknownKeys: allowUnknown)
            return nil
        } catch {
            return error
        }
    }

    @Test(arguments: Fixtures.hfModels)
    func everyFixtureConfigParses(model: String) throws {
        let (config, architecture, warnings) = try HFConfig.parse(try load(model), path: "config.json")
        #expect(warnings.isEmpty)
        #expect(config.hiddenSize == 64)
        #expect(config.headCount % config.kvHeadCount == 0)
        #expect(HFArchitecture.forExport(config) == architecture)
        // Round trips: metadata and config.json both give the same hyperparameters back.
        let fromMetadata = try HFConfig.modelConfig(metadata: Metadata(config.metadataEntries), path: "m.qstar")
        #expect(fromMetadata == config)
        let rendered = JSONWriter.document(HFConfig.configJSON(config, architecture: architecture, torchDType: "float32"))
        let reparsed = try HFConfig.parse(try JSONReader.parse(Array(rendered.utf8)), path: "out/config.json").config
        var expected = config
        expected.name = nil  // _name_or_path is not written
        #expect(reparsed == expected)
    }

    @Test func familySpecificValues() throws {
        let (qwen, qwenClass, _) = try HFConfig.parse(try load("qwen2"), path: "c")
        #expect(qwenClass == .qwen2 && qwen.attentionBias && qwen.tieEmbeddings)
        #expect(qwen.ropeTheta == 1_000_000 && qwen.slidingWindow == nil && qwen.eosTokenIds == [447])

        let l3 = try HFConfig.parse(try load("llama3"), path: "c").config
        #expect(l3.ropeScaling == .llama3(factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContext: 64))
        #expect(l3.ropeTheta == 500_000 && l3.headDim == 16 && l3.bosTokenId == 441)

        let (mistral, mistralClass, _) = try HFConfig.parse(try load("mistral"), path: "c")
        #expect(mistralClass == .mistral && (mistral.slidingWindow ?? 0) > 0 && mistral.kvHeadCount < mistral.headCount)

        let metadata = Metadata(l3.metadataEntries)
        #expect(metadata["general.architecture"] == .string("llama"))
        #expect(metadata["general.source_architecture"] == .string("LlamaForCausalLM"))
        #expect(metadata["llama.rope_scaling.type"] == .string("llama3"))
        #expect(metadata["llama.rope_scaling.original_context_length"] == .uint(64))
        #expect(metadata["llama.sliding_window"] == .uint(0))
    }

    @Test func transformers4RopeSpellingIsRead() throws {
        let c = try HFConfig.parse(try llama([
            "rope_parameters": nil, "rope_theta": .double(5000),
            "rope_scaling": .object([("type", .string("dynamic")), ("factor", .double(2))]),
        ]), path: "c").config
        #expect(c.ropeTheta == 5000)
        #expect(c.ropeScaling == .dynamic(factor: 2, originalContext: c.contextLength))
        let defaults = try HFConfig.parse(try llama(["rope_scaling": nil, "rope_theta": nil]), path: "c").config
        #expect(defaults.ropeTheta == 10000 && defaults.ropeScaling == .none)
        let linear = try HFConfig.parse(try load("llama-untied"), path: "c").config
        #expect(linear.ropeScaling == .linear(factor: 2))
    }

    @Test func qwen2SlidingWindowForms() throws {
        let base = try #require(try load("qwen2").objectEntries)
        func qwen(_ changes: [(String, JSONValue)]) -> JSONValue {
            var e = base.filter { entry in !changes.contains { $0.0 == entry.key } }
            e += changes.map { ($0.0, $0.1) }
            return .object(e)
        }
        let allSliding = qwen([("layer_types", .array([.string("sliding_attention"), .string("sliding_attention")])),
                               ("sliding_window", .integer(32))])
        #expect(try HFConfig.parse(allSliding, path: "c").config.slidingWindow == 32)
        let mixed = qwen([("layer_types", .array([.string("full_attention"), .string("sliding_attention")])),
                          ("sliding_window", .integer(32))])
        #expect(parseError(mixed)?.field == "layer_types")
        #expect(parseError(mixed)?.kind == .unsupported)
        let legacy = qwen([("layer_types", .null), ("use_sliding_window", .bool(true)), ("max_window_layers", .integer(0)),
                           ("sliding_window", .integer(16))])
        #expect(try HFConfig.parse(legacy, path: "c").config.slidingWindow == 16)
        let legacyMixed = qwen([("layer_types", .null), ("use_sliding_window", .bool(true)), ("max_window_layers", .integer(1)),
                                ("sliding_window", .integer(16))])
        #expect(parseError(legacyMixed)?.field == "layer_types")
        let legacyOff = qwen([("layer_types", .null), ("use_sliding_window", .bool(true)), ("max_window_layers", .integer(2))])
        #expect(try HFConfig.parse(legacyOff, path: "c").config.slidingWindow == nil)
    }

    /// A layer count of 2^64 - 1 is refused by the checkpoint bounds, naming the key; the
    /// sliding-window rule used to list one flag per layer first and trapped (found by
    /// `tools/fuzz/run-fuzz safetensors`).
    @Test func aHugeLayerCountIsRefusedNotListed() throws {
        let base = try #require(try load("qwen2").objectEntries)
        for sliding in [false, true] {
            var e = base.filter { !["num_hidden_layers", "layer_types", "use_sliding_window"].contains($0.key) }
            e += [("num_hidden_layers", .integer(UInt64.max)), ("use_sliding_window", .bool(sliding))]
            let error = try #require(parseError(.object(e)))
            #expect(error.field == (sliding ? "layer_types" : "num_hidden_layers"), "\(error)")
        }
    }

    @Test(arguments: [
        ("fancy_new_feature", JSONValue.bool(true), "fancy_new_feature", InteropError.Kind.unsupported),
        ("model_type", .string("gpt2"), "model_type", .unsupported),
        ("hidden_act", .string("gelu"), "hidden_act", .unsupported),
        ("num_key_value_heads", .integer(3), "num_key_value_heads", .invalidInput),
        ("hidden_size", .number(JSONNumber("64.0")!), "hidden_size", .invalidInput),
        ("hidden_size", .null, "hidden_size", .invalidInput),
        ("attention_bias", .bool(true), "attention_bias", .unsupported),
        ("mlp_bias", .bool(true), "mlp_bias", .unsupported),
        ("architectures", .array([.string("MistralForCausalLM")]), "architectures", .invalidInput),
        ("quantization_config", .object([]), "quantization_config", .unsupported),
        ("rope_scaling", .object([("rope_type", .string("yarn")), ("factor", .double(4))]), "rope_scaling.rope_type", .unsupported),
        ("rope_scaling", .object([("rope_type", .string("llama3")), ("factor", .double(4))]), "rope_scaling.original_max_position_embeddings", .invalidInput),
        ("rope_parameters", .object([("rope_type", .string("default"))]), "rope_parameters", .invalidInput),
        ("eos_token_id", .integer(100_000), "eos_token_id", .invalidInput),
        ("rms_norm_eps", .string("1e-5"), "rms_norm_eps", .invalidInput),
    ] as [(String, JSONValue, String, InteropError.Kind)])
    func badConfigsNameTheKey(key: String, value: JSONValue, field: String, kind: InteropError.Kind) throws {
        let json = try llama([key: value])
        let error = try #require(parseError(json), "accepted \(key) = \(value)")
        #expect(error.field == field, "\(error)")
        #expect(error.kind == kind, "\(error)")
        #expect(error.path == "config.json")
        #expect(error.description.hasPrefix("config.json: \(field): "))
    }

    /// Keys transformers' `save_pretrained` writes that change nothing about the network parse
    /// with the plain command, to the same configuration as without them.
    @Test func keysSavePretrainedWritesAreAccepted() throws {
        let plain = try HFConfig.parse(try load("llama-untied"), path: "c").config
        let saved = try llama([
            "unk_token_id": .integer(0), "_name_or_path": .string(""), "quantization_config": .null,
            "_attn_implementation_autoset": .bool(true), "is_encoder_decoder": .bool(false),
            "add_cross_attention": .bool(false), "tie_encoder_decoder": .bool(false),
        ])
        let (config, _, warnings) = try HFConfig.parse(saved, path: "c")
        #expect(warnings.isEmpty)
        #expect(config == plain)
        // transformers 5 writes rope_parameters beside (or instead of) the version 4 spelling.
        let both = try llama(["rope_theta": .double(5000),
                              "rope_parameters": .object([("rope_type", .string("linear")), ("factor", .double(2)),
                                                          ("rope_theta", .double(5000))])])
        let c = try HFConfig.parse(both, path: "c").config
        #expect(c.ropeTheta == 5000 && c.ropeScaling == .linear(factor: 2))
        let only = try llama(["rope_scaling": nil, "rope_theta": nil,
                              "rope_parameters": .object([("rope_type", .string("default")), ("rope_theta", .double(7))])])
        let o = try HFConfig.parse(only, path: "c").config
        #expect(o.ropeTheta == 7 && o.ropeScaling == .none)
    }

    /// The same keys at values that would change the network are still refused, naming the key.
    @Test(arguments: [
        ("is_encoder_decoder", JSONValue.bool(true), "is_encoder_decoder"),
        ("add_cross_attention", .bool(true), "add_cross_attention"),
        ("quantization_config", .object([("quant_method", .string("bitsandbytes"))]), "quantization_config"),
    ] as [(String, JSONValue, String)])
    func networkChangingValuesAreStillRefused(key: String, value: JSONValue, field: String) throws {
        let error = try #require(parseError(try llama([key: value])))
        #expect(error.field == field && error.kind == .unsupported, "\(error)")
    }

    @Test func contradictingRopeSpellingsAreRefused() throws {
        let factor = try llama(["rope_parameters": .object([("rope_type", .string("linear")), ("factor", .double(4))])])
        #expect(parseError(factor)?.field == "rope_parameters")
        let theta = try llama(["rope_theta": .double(5000),
                               "rope_parameters": .object([("rope_type", .string("linear")), ("factor", .double(2)),
                                                           ("rope_theta", .double(6000))])])
        #expect(parseError(theta)?.field == "rope_parameters.rope_theta")
    }

    @Test func unknownKeysCanBeDowngradedToWarnings() throws {
        let json = try llama(["fancy_new_feature": .bool(true)])
        let (_, _, warnings) = try HFConfig.parse(json, path: "config.json", allowUnknownKeys: true)
        #expect(warnings == ["config.json: ignored unknown config key \"fancy_new_feature\""])
    }

    @Test func quietStarHeadVariantsWeCannotHoldAreRefused() throws {
        var entries = try #require(try load("quietstar-mistral").objectEntries)
        try QuietStarLayout.checkConfig(.object(entries), path: "c")
        entries.removeAll { $0.key == "use_concat_talk_head" }
        entries.append(("use_concat_talk_head", .bool(false)))
        #expect(throws: InteropError.self) { try QuietStarLayout.checkConfig(.object(entries), path: "c") }
    }

    @Test func metadataChoosesAClassThatExpressesTheModel() throws {
        var config = try HFConfig.parse(try load("llama-untied"), path: "c").config
        config.attentionBias = true
        var m = Metadata(config.metadataEntries)
        m["general.source_architecture"] = nil
        #expect(try HFArchitecture.forExport(HFConfig.modelConfig(metadata: m, path: "m")) == .qwen2)
        m["llama.attention_bias"] = .bool(false)
        m["llama.sliding_window"] = .uint(128)
        #expect(try HFArchitecture.forExport(HFConfig.modelConfig(metadata: m, path: "m")) == .mistral)
        m["llama.num_kv_heads"] = .uint(3)
        #expect(throws: InteropError.self) { try HFConfig.modelConfig(metadata: m, path: "m") }
        m["llama.num_kv_heads"] = nil
        do {
            _ = try HFConfig.modelConfig(metadata: m, path: "m.qstar")
            Issue.record("accepted metadata without llama.num_kv_heads")
        } catch {
            #expect(error.description.contains("llama.num_kv_heads"))
        }
    }

    @Test func tensorNamesMapBothWays() throws {
        let config = try HFConfig.parse(try load("qwen2"), path: "c").config
        let entries = HFTensorNames.expectedTensors(config)
        #expect(entries.count == 1 + 12 * 2 + 1)  // tied: no output.weight; biases present
        for e in entries {
            #expect(HFTensorNames.qstarName(forHF: e.hfName) == e.qstarName)
            #expect(HFTensorNames.hfName(forQStar: e.qstarName) == e.hfName)
        }
        #expect(HFTensorNames.qstarName(forHF: "model.layers.01.mlp.up_proj.weight") == nil)
        #expect(HFTensorNames.qstarName(forHF: "model.layers.1.mlp.up_proj.bias") == nil)
        #expect(HFTensorNames.qstarName(forHF: "lm_head.weight") == "output.weight")
    }
}
