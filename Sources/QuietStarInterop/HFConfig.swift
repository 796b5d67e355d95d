import QuietStarCheckpoint
import QuietStarFormat
import QuietStarJSON

public enum HFArchitecture: String, Sendable, CaseIterable {
    case llama = "LlamaForCausalLM"
    case mistral = "MistralForCausalLM"
    case qwen2 = "Qwen2ForCausalLM"

    /// `config.json`'s `model_type`.
    public var modelType: String {
        switch self {
        case .llama: "llama"
        case .mistral: "mistral"
        case .qwen2: "qwen2"
        }
    }

    init?(modelType: String) {
        guard let a = HFArchitecture.allCases.first(where: { $0.modelType == modelType }) else { return nil }
        self = a
    }

    /// `max_position_embeddings` when the config omits it (the transformers class default).
    var defaultContextLength: UInt64 {
        switch self {
        case .llama: 2048
        case .mistral: 4096 * 32
        case .qwen2: 32768
        }
    }

    /// The class an export writes for `config`: the one it came from (`general.source_architecture`)
    /// or, for a model made here, the simplest class that can express its hyperparameters. A
    /// class that cannot express a feature would silently drop it, so q/k/v biases force Qwen2
    /// and a sliding window rules out Llama.
    public static func forExport(_ config: ModelConfig) -> HFArchitecture {
        let bias = config.attentionBias, window = config.slidingWindow != nil
        var arch = config.sourceArchitecture.flatMap(HFArchitecture.init(rawValue:))
            ?? (bias ? .qwen2 : window ? .mistral : .llama)
        if bias && arch != .qwen2 { arch = .qwen2 }
        if window && arch == .llama { arch = .mistral }
        return arch
    }
}

/// Hugging Face `config.json` <-> `ModelConfig` (the one type for the hyperparameters; its
/// `llama.*` form lives in QuietStarCheckpoint).
///
/// Reading is strict. A key we do not know is an error (unless the caller opts out), because a
/// new field usually means a new architectural feature that would silently compute something
/// else; a key we know but whose value we cannot run (`hidden_act: "gelu"`, yarn rope, an
/// o_proj bias, mixed sliding/full layers) is an `unsupported` error naming the key. Missing
/// optional keys take the default the corresponding transformers class uses, so we read the
/// same model transformers would build.
public enum HFConfig {
    /// Keys that do not change what the network computes (training, generation and framework
    /// settings of `PretrainedConfig`). They are accepted and dropped.
    static let inertKeys: Set<String> = [
        "_name_or_path", "architectures", "model_type", "transformers_version", "torch_dtype", "dtype",
        "use_cache", "initializer_range", "attention_dropout", "pad_token_id", "pretraining_tp",
        "output_attentions", "output_hidden_states", "return_dict", "torchscript", "use_bfloat16",
        "tf_legacy_loss", "pruned_heads", "chunk_size_feed_forward", "is_decoder", "id2label",
        "label2id", "problem_type", "tokenizer_class", "prefix", "task_specific_params",
        "finetuning_task", "sep_token_id", "decoder_start_token_id", "embd_pdrop", "resid_pdrop",
        "max_length", "min_length", "do_sample", "early_stopping", "num_beams", "num_beam_groups",
        "diversity_penalty", "temperature", "top_k", "top_p", "typical_p", "repetition_penalty",
        "length_penalty", "no_repeat_ngram_size", "encoder_no_repeat_ngram_size", "bad_words_ids",
        "num_return_sequences", "output_scores", "return_dict_in_generate", "forced_bos_token_id",
        "forced_eos_token_id", "remove_invalid_values", "exponential_decay_length_penalty",
        "suppress_tokens", "begin_suppress_tokens", "auto_map", "cross_attention_hidden_size",
        // Quiet-STaR's configuration_mistral.py: the number of thoughts kept in a training batch.
        "max_thoughts",
        // What current transformers `save_pretrained` also writes: the unknown-token id (a
        // tokenizer fact), the attention backend chosen at load time, the hub revision, and
        // generation-only switches. None of them changes a weight or an operation.
        "unk_token_id", "_attn_implementation", "_attn_implementation_autoset", "_commit_hash",
        "name_or_path", "tie_encoder_decoder", "output_router_logits", "use_return_dict",
    ]

    /// Keys that are inert only at one value: a decoder-only causal LM has these false. True
    /// would add cross-attention or an encoder, which we cannot compute, so it is refused.
    static let falseOnlyKeys: Set<String> = ["is_encoder_decoder", "add_cross_attention"]

    /// Keys of the published Quiet-STaR configuration that describe its heads, with the values
    /// our layout implements: one concatenating, three-layer, scalar-output talk head separate
    /// from the LM head; thoughts sampled from the LM head itself.
    static let quietStarHeadKeys: [(key: String, supported: Bool?)] = [
        ("merged_talk_heads", true), ("merged_lm_and_talk_heads", false),
        ("merged_lm_and_think_heads", true), ("use_concat_talk_head", true),
        ("use_shallow_talk", false), ("use_complex_talk_head", true), ("use_weighted_talk_head", true),
        // Only matter when thinking has its own head, which merged_lm_and_think_heads rules out.
        ("use_shallow_think", nil), ("use_complex_think_head", nil),
    ]

    /// Parses `config.json`. `path` names the file in errors. Unknown keys are errors unless
    /// `allowUnknownKeys`, in which case they are returned as warnings.
    public static func parse(_ json: JSONValue, path: String, allowUnknownKeys: Bool = false)
        throws(InteropError) -> (config: ModelConfig, architecture: HFArchitecture, warnings: [String])
    {
        guard let entries = json.objectEntries else {
            throw InteropError(.invalidInput, path: path, "config must be a JSON object, found \(json.kindName)")
        }
        let reader = ConfigReader(path: path, json: json)
        var warnings: [String] = []

        // Architecture: `architectures` (what save_pretrained writes) and `model_type` must agree.
        let modelType = try reader.string("model_type")
        guard let fromType = HFArchitecture(modelType: modelType) else {
            throw reader.unsupported("model_type", "\"\(modelType)\" is not one of llama, mistral, qwen2")
        }
        if let list = json["architectures"], !list.isNull {
            guard let names = list.arrayValue?.compactMap(\.stringValue), names.count == list.arrayValue?.count,
                  names.count == 1 else {
                throw reader.invalid("architectures", "must be a list of one class name")
            }
            guard let a = HFArchitecture(rawValue: names[0]) else {
                throw reader.unsupported("architectures", "\"\(names[0])\" is not LlamaForCausalLM, MistralForCausalLM or Qwen2ForCausalLM")
            }
            guard a == fromType else {
                throw reader.invalid("architectures", "\(a.rawValue) contradicts model_type \"\(modelType)\"")
            }
        }
        let arch = fromType

        var known = inertKeys.union([
            "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
            "head_dim", "intermediate_size", "max_position_embeddings", "rms_norm_eps", "rope_theta",
            "rope_scaling", "rope_parameters", "tie_word_embeddings", "bos_token_id", "eos_token_id",
            "hidden_act",
        ])
        known.formUnion(quietStarHeadKeys.map(\.key))
        switch arch {
        case .llama: known.formUnion(["attention_bias", "mlp_bias"])
        case .mistral: known.formUnion(["sliding_window"])
        case .qwen2: known.formUnion(["sliding_window", "use_sliding_window", "max_window_layers", "layer_types"])
        }
        for (key, value) in entries where !known.contains(key) {
            // transformers writes `quantization_config: null` for an unquantized model.
            if key == "quantization_config" && value.isNull { continue }
            if falseOnlyKeys.contains(key) {
                guard value.boolValue == false || value.isNull else {
                    throw reader.unsupported(key, "must be false: encoder-decoder models and cross-attention are not supported")
                }
                continue
            }
            if key == "quantization_config" {
                throw reader.unsupported(key, "quantized Hugging Face checkpoints are not supported; convert the unquantized weights")
            }
            if allowUnknownKeys {
                warnings.append("\(path): ignored unknown config key \"\(key)\"")
            } else {
                throw reader.unsupported(key, "unknown config key (pass --ignore-unknown-config to convert anyway if it does not change the network)")
            }
        }

        let act = try reader.optionalString("hidden_act") ?? "silu"
        guard act == "silu" else { throw reader.unsupported("hidden_act", "\"\(act)\": only silu (SwiGLU) is supported") }

        let hidden = try reader.positive("hidden_size")
        let layers = try reader.positive("num_hidden_layers")
        let heads = try reader.positive("num_attention_heads")
        let kvHeads = try reader.optionalPositive("num_key_value_heads") ?? heads
        guard heads % kvHeads == 0 else {
            throw reader.invalid("num_key_value_heads", "\(kvHeads) does not divide num_attention_heads = \(heads)")
        }
        let headDim: UInt64
        if let d = try reader.optionalPositive("head_dim") {
            headDim = d
        } else {
            guard hidden % heads == 0 else {
                throw reader.invalid("hidden_size", "\(hidden) is not a multiple of num_attention_heads = \(heads) and head_dim is absent")
            }
            headDim = hidden / heads
        }
        guard headDim % 2 == 0 else { throw reader.invalid("head_dim", "\(headDim) is odd; rotary embeddings need pairs") }
        let intermediate = try reader.positive("intermediate_size")
        let vocab = try reader.positive("vocab_size")
        let context = try reader.optionalPositive("max_position_embeddings") ?? arch.defaultContextLength
        let eps = try reader.optionalDouble("rms_norm_eps") ?? 1e-6
        guard eps > 0 else { throw reader.invalid("rms_norm_eps", "must be positive") }
        let tie = try reader.optionalBool("tie_word_embeddings") ?? false

        var attentionBias = arch == .qwen2  // Qwen2's q/k/v projections always have biases
        if arch == .llama {
            if try reader.optionalBool("mlp_bias") == true {
                throw reader.unsupported("mlp_bias", "MLP biases are not part of the format")
            }
            if try reader.optionalBool("attention_bias") == true {
                throw reader.unsupported("attention_bias", "Llama's attention_bias also adds an o_proj bias, which the format does not hold")
            }
            attentionBias = false
        }

        let (theta, scaling) = try parseRope(reader, context: context)
        let window = try parseSlidingWindow(reader, arch: arch, layers: layers)

        let bos = try reader.optionalUInt("bos_token_id")
        var eos: [UInt64] = []
        if let v = json["eos_token_id"], !v.isNull {
            if let one = v.uint64Value {
                eos = [one]
            } else if let list = v.arrayValue {
                for item in list {
                    guard let id = item.uint64Value else { throw reader.invalid("eos_token_id", "list items must be non-negative integers") }
                    eos.append(id)
                }
            } else {
                throw reader.invalid("eos_token_id", "must be an integer or a list of integers, found \(v.kindName)")
            }
        }
        for id in (bos.map { [$0] } ?? []) + eos where id >= vocab {
            throw reader.invalid(id == bos ? "bos_token_id" : "eos_token_id", "token id \(id) is outside the vocabulary of \(vocab)")
        }

        let name = json["_name_or_path"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
        func int(_ v: UInt64) -> Int { Int(clamping: v) }
        let config = ModelConfig(
            vocabSize: int(vocab), hiddenSize: int(hidden), layerCount: int(layers), headCount: int(heads),
            kvHeadCount: int(kvHeads), headDim: int(headDim), intermediateSize: int(intermediate),
            contextLength: int(context), rmsNormEps: eps, ropeTheta: theta, ropeScaling: scaling,
            tieEmbeddings: tie, slidingWindow: window == 0 ? nil : int(window), attentionBias: attentionBias,
            bosTokenId: bos.map { Int32(clamping: $0) }, eosTokenIds: eos.map { Int32(clamping: $0) },
            name: name, sourceArchitecture: arch.rawValue)
        // The bounds every checkpoint is held to, checked now rather than when the output is opened.
        do { _ = try ModelConfig(metadata: Metadata(config.metadataEntries)) } catch {
            throw InteropError(.unsupported, path: path, field: error.key.flatMap { hfKeys[$0] } ?? error.key, error.message)
        }
        return (config, arch, warnings)
    }

    /// The `config.json` key behind each `llama.*` key, for errors found after mapping.
    private static let hfKeys: [String: String] = [
        "llama.vocab_size": "vocab_size", "llama.hidden_size": "hidden_size", "llama.num_layers": "num_hidden_layers",
        "llama.num_heads": "num_attention_heads", "llama.num_kv_heads": "num_key_value_heads",
        "llama.head_dim": "head_dim", "llama.intermediate_size": "intermediate_size",
        "llama.context_length": "max_position_embeddings", "llama.rms_norm_eps": "rms_norm_eps",
        "llama.rope_theta": "rope_theta", "llama.rope_scaling.factor": "rope_scaling",
        "llama.rope_scaling.low_freq_factor": "rope_scaling", "llama.rope_scaling.high_freq_factor": "rope_scaling",
        "llama.rope_scaling.original_context_length": "rope_scaling", "llama.sliding_window": "sliding_window",
        "llama.bos_token_id": "bos_token_id", "llama.eos_token_id": "eos_token_id", "llama.eos_token_ids": "eos_token_id",
    ]

    /// Rope settings come as transformers 4's `rope_theta` + `rope_scaling`, as transformers 5's
    /// `rope_parameters` (which holds `rope_theta` too), or as both: a config saved by one
    /// version and re-saved by another carries both spellings. Both are read, and they must
    /// describe the same rotary embedding; a contradiction is an error naming the later key.
    private static func parseRope(_ reader: ConfigReader, context: UInt64) throws(InteropError)
        -> (theta: Double, scaling: RopeScalingConfig)
    {
        var theta = try reader.optionalDouble("rope_theta")
        var thetaKey = "rope_theta"
        var scaling: (key: String, value: RopeScalingConfig)?
        for key in ["rope_scaling", "rope_parameters"] {
            guard let v = reader.json[key], !v.isNull else { continue }
            guard let entries = v.objectEntries else { throw reader.invalid(key, "must be an object or null") }
            let p = JSONValue.object(entries)
            if let t = p["rope_theta"] {
                guard let value = t.doubleValue else { throw reader.invalid("\(key).rope_theta", "must be a number") }
                if let top = theta, top != value {
                    throw reader.invalid("\(key).rope_theta", "\(value) contradicts \(thetaKey) = \(top)")
                }
                theta = value
                thetaKey = "\(key).rope_theta"
            }
            let parsed = try ropeScaling(reader, key: key, entries: entries, context: context)
            if let earlier = scaling, earlier.value != parsed {
                throw reader.invalid(key, "\(parsed) contradicts \(earlier.key) = \(earlier.value)")
            }
            scaling = (key, parsed)
        }
        let ropeTheta = theta ?? 10000
        guard ropeTheta > 0 else { throw reader.invalid("rope_theta", "must be positive") }
        return (ropeTheta, scaling?.value ?? .none)
    }

    /// One rope object (`rope_scaling` or `rope_parameters`) as the scaling it describes.
    private static func ropeScaling(_ reader: ConfigReader, key paramsKey: String,
                                    entries params: [(key: String, value: JSONValue)], context: UInt64)
        throws(InteropError) -> RopeScalingConfig
    {
        let p = JSONValue.object(params)
        let typeNames = ["rope_type", "type"].compactMap { p[$0]?.stringValue }
        guard let type = typeNames.first else { throw reader.invalid("\(paramsKey).rope_type", "missing") }
        if typeNames.count == 2 && typeNames[0] != typeNames[1] {
            throw reader.invalid("\(paramsKey).type", "\"\(typeNames[1])\" contradicts rope_type \"\(typeNames[0])\"")
        }
        let allowed: Set<String>
        switch type {
        case "default": allowed = []
        case "linear": allowed = ["factor"]
        case "dynamic": allowed = ["factor", "original_max_position_embeddings"]
        case "llama3": allowed = ["factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"]
        default:
            throw reader.unsupported("\(paramsKey).rope_type", "\"\(type)\": supported are default, linear, dynamic, llama3")
        }
        for (key, value) in params where !["rope_type", "type", "rope_theta"].contains(key) && !allowed.contains(key) {
            // transformers 5 fills `partial_rotary_factor = 1.0` into some configs; 1 is a no-op.
            if key == "partial_rotary_factor", value.doubleValue == 1 { continue }
            throw reader.unsupported("\(paramsKey).\(key)", "not supported with rope type \"\(type)\"")
        }
        func number(_ key: String) throws(InteropError) -> Double {
            guard let v = p[key]?.doubleValue else { throw reader.invalid("\(paramsKey).\(key)", "missing or not a number") }
            guard v > 0 else { throw reader.invalid("\(paramsKey).\(key)", "must be positive") }
            return v
        }
        func original() throws(InteropError) -> UInt64? {
            guard let v = p["original_max_position_embeddings"] else { return nil }
            guard let n = v.uint64Value, n > 0 else {
                throw reader.invalid("\(paramsKey).original_max_position_embeddings", "must be a positive integer")
            }
            return n
        }
        switch type {
        case "default": return .none
        case "linear": return .linear(factor: try number("factor"))
        case "dynamic":
            return .dynamic(factor: try number("factor"), originalContext: Int(clamping: try original() ?? context))
        default:
            guard let orig = try original() else {
                throw reader.invalid("\(paramsKey).original_max_position_embeddings", "required for llama3 rope")
            }
            return .llama3(factor: try number("factor"), lowFreqFactor: try number("low_freq_factor"),
                           highFreqFactor: try number("high_freq_factor"), originalContext: Int(clamping: orig))
        }
    }

    /// One window for every layer, or none. Qwen2 can mix full and sliding layers, which one
    /// number cannot describe; that is refused rather than approximated.
    private static func parseSlidingWindow(_ reader: ConfigReader, arch: HFArchitecture, layers: UInt64)
        throws(InteropError) -> UInt64
    {
        switch arch {
        case .llama:
            return 0
        case .mistral:
            return try reader.optionalPositive("sliding_window") ?? 0
        case .qwen2:
            let window = try reader.optionalPositive("sliding_window")
            // How many layers slide, and whether they all do; counted, not listed, since
            // num_hidden_layers is whatever the file says (a list of 2^64 - 1 flags trapped).
            var slidingLayers: UInt64 = 0
            if let types = reader.json["layer_types"], !types.isNull {
                guard let list = types.arrayValue, UInt64(list.count) == layers else {
                    throw reader.invalid("layer_types", "must list one type per layer (\(layers))")
                }
                for item in list {
                    switch item.stringValue {
                    case "full_attention": break
                    case "sliding_attention": slidingLayers += 1
                    default: throw reader.unsupported("layer_types", "items must be full_attention or sliding_attention")
                    }
                }
            } else {
                // Layers from max_window_layers on slide when use_sliding_window is set.
                let use = try reader.optionalBool("use_sliding_window") ?? false
                let firstSliding = try reader.optionalUInt("max_window_layers") ?? 28
                slidingLayers = use && firstSliding < layers ? layers - firstSliding : 0
            }
            if slidingLayers == 0 { return 0 }
            guard slidingLayers == layers else {
                throw reader.unsupported("layer_types", "mixes sliding-window and full-attention layers; the format has one window for all layers")
            }
            guard let window else { throw reader.invalid("sliding_window", "sliding layers need a window size") }
            return window
        }
    }

    // MARK: .qstar metadata

    /// The configuration of a `.qstar` file being exported, with errors that name the file and key.
    public static func modelConfig(metadata: Metadata, path: String) throws(InteropError) -> ModelConfig {
        if case .string(let family) = metadata["general.architecture"], family != "llama" {
            throw InteropError(.unsupported, path: path, field: "general.architecture",
                               "\"\(family)\": only the llama family converts to Hugging Face")
        }
        do { return try ModelConfig(metadata: metadata) } catch {
            throw InteropError(.invalidInput, path: path, field: error.key, error.message)
        }
    }

    // MARK: config.json

    /// A `config.json` that transformers (4.x and 5.x) loads as this model. Written in the
    /// transformers 4 spelling (`rope_theta` + `rope_scaling`), which transformers 5 still reads.
    /// `extra` entries (the Quiet-STaR head settings) are appended.
    public static func configJSON(_ config: ModelConfig, architecture: HFArchitecture, torchDType: String,
                                  extra: [(key: String, value: JSONValue)] = []) -> JSONValue {
        let window = config.slidingWindow ?? 0
        var c: [(key: String, value: JSONValue)] = [
            ("architectures", .array([.string(architecture.rawValue)])),
            ("model_type", .string(architecture.modelType)),
            ("vocab_size", .integer(config.vocabSize)),
            ("hidden_size", .integer(config.hiddenSize)),
            ("intermediate_size", .integer(config.intermediateSize)),
            ("num_hidden_layers", .integer(config.layerCount)),
            ("num_attention_heads", .integer(config.headCount)),
            ("num_key_value_heads", .integer(config.kvHeadCount)),
            ("head_dim", .integer(config.headDim)),
            ("hidden_act", .string("silu")),
            ("max_position_embeddings", .integer(config.contextLength)),
            ("rms_norm_eps", .double(config.rmsNormEps)),
            ("rope_theta", .double(config.ropeTheta)),
        ]
        switch config.ropeScaling {
        case .none:
            c.append(("rope_scaling", .null))
        case let .linear(factor):
            c.append(("rope_scaling", .object([("rope_type", .string("linear")), ("factor", .double(factor))])))
        case let .dynamic(factor, original):
            c.append(("rope_scaling", .object([("rope_type", .string("dynamic")), ("factor", .double(factor)),
                                               ("original_max_position_embeddings", .integer(original))])))
        case let .llama3(factor, low, high, original):
            c.append(("rope_scaling", .object([
                ("rope_type", .string("llama3")), ("factor", .double(factor)),
                ("low_freq_factor", .double(low)), ("high_freq_factor", .double(high)),
                ("original_max_position_embeddings", .integer(original)),
            ])))
        }
        c.append(("tie_word_embeddings", .bool(config.tieEmbeddings)))
        switch architecture {
        case .llama:
            c.append(("attention_bias", .bool(false)))
            c.append(("mlp_bias", .bool(false)))
        case .mistral:
            c.append(("sliding_window", window > 0 ? .integer(window) : .null))
        case .qwen2:
            c.append(("use_sliding_window", .bool(window > 0)))
            c.append(("sliding_window", window > 0 ? .integer(window) : .null))
            c.append(("max_window_layers", .integer(window > 0 ? 0 : config.layerCount)))
        }
        c.append(("bos_token_id", config.bosTokenId.map { .integer(Int($0)) } ?? .null))
        switch config.eosTokenIds.count {
        case 0: c.append(("eos_token_id", .null))
        case 1: c.append(("eos_token_id", .integer(Int(config.eosTokenIds[0]))))
        default: c.append(("eos_token_id", .array(config.eosTokenIds.map { .integer(Int($0)) })))
        }
        c.append(("torch_dtype", .string(torchDType)))
        c.append(("use_cache", .bool(true)))
        c += extra
        return .object(c)
    }
}

extension InteropError {
    /// A copy that names `path` when the error did not know its file.
    func naming(_ path: String) -> InteropError {
        var e = self
        if e.path == nil { e.path = path }
        return e
    }
}

/// Typed reads of `config.json` keys with errors that name the file and the key.
struct ConfigReader {
    let path: String
    let json: JSONValue

    func invalid(_ key: String, _ message: String) -> InteropError {
        InteropError(.invalidInput, path: path, field: key, message)
    }

    func unsupported(_ key: String, _ message: String) -> InteropError {
        InteropError(.unsupported, path: path, field: key, message)
    }

    /// The value, or nil when absent or null.
    func value(_ key: String) -> JSONValue? {
        guard let v = json[key], !v.isNull else { return nil }
        return v
    }

    func string(_ key: String) throws(InteropError) -> String {
        guard let v = value(key) else { throw invalid(key, "required key is missing") }
        guard let s = v.stringValue else { throw invalid(key, "must be a string, found \(v.kindName)") }
        return s
    }

    func optionalString(_ key: String) throws(InteropError) -> String? {
        guard let v = value(key) else { return nil }
        guard let s = v.stringValue else { throw invalid(key, "must be a string, found \(v.kindName)") }
        return s
    }

    func positive(_ key: String) throws(InteropError) -> UInt64 {
        guard let n = try optionalPositive(key) else { throw invalid(key, "required key is missing") }
        return n
    }

    func optionalPositive(_ key: String) throws(InteropError) -> UInt64? {
        guard let n = try optionalUInt(key) else { return nil }
        guard n > 0 else { throw invalid(key, "must be positive") }
        return n
    }

    func optionalUInt(_ key: String) throws(InteropError) -> UInt64? {
        guard let v = value(key) else { return nil }
        guard let n = v.uint64Value else {
            if case let .number(n) = v { throw invalid(key, "must be a non-negative integer, found \(n.text)") }
            throw invalid(key, "must be a non-negative integer, found \(v.kindName)")
        }
        return n
    }

    func optionalDouble(_ key: String) throws(InteropError) -> Double? {
        guard let v = value(key) else { return nil }
        guard let d = v.doubleValue else { throw invalid(key, "must be a finite number, found \(v.kindName)") }
        return d
    }

    func optionalBool(_ key: String) throws(InteropError) -> Bool? {
        guard let v = value(key) else { return nil }
        guard let b = v.boolValue else { throw invalid(key, "must be true or false, found \(v.kindName)") }
        return b
    }
}
