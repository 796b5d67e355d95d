import QuietStarFormat
import QuietStarJSON

/// The hyperparameters of a LLaMA-family decoder, read from a Hugging Face `config.json` or
/// from `.qstar` metadata, and written back to either.
///
/// Reading is strict. A key we do not know is an error (unless the caller opts out), because a
/// new field usually means a new architectural feature that would silently compute something
/// else; a key we know but whose value we cannot run (`hidden_act: "gelu"`, yarn rope, an
/// o_proj bias, mixed sliding/full layers) is an `unsupported` error naming the key. Missing
/// optional keys take the default the corresponding transformers class uses, so we read the
/// same model transformers would build.
public struct HFModelConfig: Sendable, Equatable {
    public enum Architecture: String, Sendable, CaseIterable {
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
            guard let a = Architecture.allCases.first(where: { $0.modelType == modelType }) else { return nil }
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
    }

    public enum RopeScaling: Sendable, Equatable {
        case none
        /// Positions divided by `factor`.
        case linear(factor: Double)
        /// NTK-aware: the base grows once a sequence passes `originalContextLength`.
        case dynamic(factor: Double, originalContextLength: UInt64)
        /// Llama 3.1's frequency-dependent interpolation.
        case llama3(factor: Double, lowFreqFactor: Double, highFreqFactor: Double, originalContextLength: UInt64)

        public var typeName: String {
            switch self {
            case .none: "none"
            case .linear: "linear"
            case .dynamic: "dynamic"
            case .llama3: "llama3"
            }
        }
    }

    public var architecture: Architecture
    public var name: String?
    public var vocabSize: UInt64
    public var hiddenSize: UInt64
    public var numLayers: UInt64
    public var numHeads: UInt64
    public var numKVHeads: UInt64
    public var headDim: UInt64
    public var intermediateSize: UInt64
    public var contextLength: UInt64
    public var rmsNormEps: Double
    public var ropeTheta: Double
    public var ropeScaling: RopeScaling
    public var tieEmbeddings: Bool
    /// 0 = full attention everywhere.
    public var slidingWindow: UInt64
    /// q, k and v projections carry biases (Qwen2); o never does in this format.
    public var attentionBias: Bool
    public var bosTokenID: UInt64?
    /// Empty when the config names none.
    public var eosTokenIDs: [UInt64]

    public init(architecture: Architecture, name: String? = nil, vocabSize: UInt64, hiddenSize: UInt64,
                numLayers: UInt64, numHeads: UInt64, numKVHeads: UInt64, headDim: UInt64,
                intermediateSize: UInt64, contextLength: UInt64, rmsNormEps: Double, ropeTheta: Double,
                ropeScaling: RopeScaling = .none, tieEmbeddings: Bool, slidingWindow: UInt64 = 0,
                attentionBias: Bool = false, bosTokenID: UInt64? = nil, eosTokenIDs: [UInt64] = []) {
        self.architecture = architecture
        self.name = name
        self.vocabSize = vocabSize
        self.hiddenSize = hiddenSize
        self.numLayers = numLayers
        self.numHeads = numHeads
        self.numKVHeads = numKVHeads
        self.headDim = headDim
        self.intermediateSize = intermediateSize
        self.contextLength = contextLength
        self.rmsNormEps = rmsNormEps
        self.ropeTheta = ropeTheta
        self.ropeScaling = ropeScaling
        self.tieEmbeddings = tieEmbeddings
        self.slidingWindow = slidingWindow
        self.attentionBias = attentionBias
        self.bosTokenID = bosTokenID
        self.eosTokenIDs = eosTokenIDs
    }

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
    ]

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
        throws(InteropError) -> (config: HFModelConfig, warnings: [String])
    {
        guard let entries = json.objectEntries else {
            throw InteropError(.invalidInput, path: path, "config must be a JSON object, found \(json.kindName)")
        }
        let reader = ConfigReader(path: path, json: json)
        var warnings: [String] = []

        // Architecture: `architectures` (what save_pretrained writes) and `model_type` must agree.
        let modelType = try reader.string("model_type")
        guard let fromType = Architecture(modelType: modelType) else {
            throw reader.unsupported("model_type", "\"\(modelType)\" is not one of llama, mistral, qwen2")
        }
        if let list = json["architectures"], !list.isNull {
            guard let names = list.arrayValue?.compactMap(\.stringValue), names.count == list.arrayValue?.count,
                  names.count == 1 else {
                throw reader.invalid("architectures", "must be a list of one class name")
            }
            guard let a = Architecture(rawValue: names[0]) else {
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
        for (key, _) in entries where !known.contains(key) {
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
        let config = HFModelConfig(
            architecture: arch, name: name, vocabSize: vocab, hiddenSize: hidden, numLayers: layers,
            numHeads: heads, numKVHeads: kvHeads, headDim: headDim, intermediateSize: intermediate,
            contextLength: context, rmsNormEps: eps, ropeTheta: theta, ropeScaling: scaling,
            tieEmbeddings: tie, slidingWindow: window, attentionBias: attentionBias, bosTokenID: bos,
            eosTokenIDs: eos)
        return (config, warnings)
    }

    /// Rope settings come either as transformers 4's `rope_theta` + `rope_scaling` or as
    /// transformers 5's `rope_parameters` (which holds `rope_theta` too). Both are read.
    private static func parseRope(_ reader: ConfigReader, context: UInt64) throws(InteropError)
        -> (theta: Double, scaling: RopeScaling)
    {
        var theta = try reader.optionalDouble("rope_theta")
        var params: [(key: String, value: JSONValue)] = []
        var paramsKey = "rope_scaling"
        for key in ["rope_scaling", "rope_parameters"] {
            guard let v = reader.json[key], !v.isNull else { continue }
            guard let entries = v.objectEntries else { throw reader.invalid(key, "must be an object or null") }
            if !params.isEmpty { throw reader.invalid(key, "both rope_scaling and rope_parameters are present") }
            params = entries
            paramsKey = key
        }
        let p = JSONValue.object(params)
        if let t = p["rope_theta"] {
            guard let value = t.doubleValue else { throw reader.invalid("\(paramsKey).rope_theta", "must be a number") }
            if let top = theta, top != value {
                throw reader.invalid("\(paramsKey).rope_theta", "\(value) contradicts rope_theta = \(top)")
            }
            theta = value
        }
        let ropeTheta = theta ?? 10000
        guard ropeTheta > 0 else { throw reader.invalid("rope_theta", "must be positive") }

        if params.isEmpty { return (ropeTheta, .none) }
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
        case "default": return (ropeTheta, .none)
        case "linear": return (ropeTheta, .linear(factor: try number("factor")))
        case "dynamic":
            return (ropeTheta, .dynamic(factor: try number("factor"), originalContextLength: try original() ?? context))
        default:
            guard let orig = try original() else {
                throw reader.invalid("\(paramsKey).original_max_position_embeddings", "required for llama3 rope")
            }
            return (ropeTheta, .llama3(factor: try number("factor"), lowFreqFactor: try number("low_freq_factor"),
                                       highFreqFactor: try number("high_freq_factor"), originalContextLength: orig))
        }
    }

    /// One window for every layer, or none. Qwen2 can mix full and sliding layers, which one
    /// number cannot describe; that is refused rather than approximated.
    private static func parseSlidingWindow(_ reader: ConfigReader, arch: Architecture, layers: UInt64)
        throws(InteropError) -> UInt64
    {
        switch arch {
        case .llama:
            return 0
        case .mistral:
            return try reader.optionalPositive("sliding_window") ?? 0
        case .qwen2:
            let window = try reader.optionalPositive("sliding_window")
            var sliding: [Bool]
            if let types = reader.json["layer_types"], !types.isNull {
                guard let list = types.arrayValue, UInt64(list.count) == layers else {
                    throw reader.invalid("layer_types", "must list one type per layer (\(layers))")
                }
                sliding = []
                for item in list {
                    switch item.stringValue {
                    case "full_attention": sliding.append(false)
                    case "sliding_attention": sliding.append(true)
                    default: throw reader.unsupported("layer_types", "items must be full_attention or sliding_attention")
                    }
                }
            } else {
                let use = try reader.optionalBool("use_sliding_window") ?? false
                let firstSliding = try reader.optionalUInt("max_window_layers") ?? 28
                sliding = (0..<layers).map { use && $0 >= firstSliding }
            }
            if sliding.allSatisfy({ !$0 }) { return 0 }
            guard sliding.allSatisfy({ $0 }) else {
                throw reader.unsupported("layer_types", "mixes sliding-window and full-attention layers; the format has one window for all layers")
            }
            guard let window else { throw reader.invalid("sliding_window", "sliding layers need a window size") }
            return window
        }
    }

    // MARK: .qstar metadata

    /// The `general.*` and `llama.*` entries of the format's conventions.
    public var metadataEntries: [(key: String, value: MetadataValue)] {
        var m: [(key: String, value: MetadataValue)] = [
            ("general.architecture", .string("llama")),
        ]
        if let name { m.append(("general.name", .string(name))) }
        m += [
            ("general.source_architecture", .string(architecture.rawValue)),
            ("llama.vocab_size", .uint(vocabSize)),
            ("llama.hidden_size", .uint(hiddenSize)),
            ("llama.num_layers", .uint(numLayers)),
            ("llama.num_heads", .uint(numHeads)),
            ("llama.num_kv_heads", .uint(numKVHeads)),
            ("llama.head_dim", .uint(headDim)),
            ("llama.intermediate_size", .uint(intermediateSize)),
            ("llama.context_length", .uint(contextLength)),
            ("llama.rms_norm_eps", .float(rmsNormEps)),
            ("llama.rope_theta", .float(ropeTheta)),
            ("llama.rope_scaling.type", .string(ropeScaling.typeName)),
        ]
        switch ropeScaling {
        case .none: break
        case let .linear(factor):
            m.append(("llama.rope_scaling.factor", .float(factor)))
        case let .dynamic(factor, original):
            m.append(("llama.rope_scaling.factor", .float(factor)))
            m.append(("llama.rope_scaling.original_context_length", .uint(original)))
        case let .llama3(factor, low, high, original):
            m.append(("llama.rope_scaling.factor", .float(factor)))
            m.append(("llama.rope_scaling.low_freq_factor", .float(low)))
            m.append(("llama.rope_scaling.high_freq_factor", .float(high)))
            m.append(("llama.rope_scaling.original_context_length", .uint(original)))
        }
        m += [
            ("llama.tie_embeddings", .bool(tieEmbeddings)),
            ("llama.sliding_window", .uint(slidingWindow)),
            ("llama.attention_bias", .bool(attentionBias)),
        ]
        if let bosTokenID { m.append(("llama.bos_token_id", .uint(bosTokenID))) }
        if eosTokenIDs.count == 1 {
            m.append(("llama.eos_token_id", .uint(eosTokenIDs[0])))
        } else if eosTokenIDs.count > 1 {
            m.append(("llama.eos_token_ids", .uintArray(eosTokenIDs)))
        }
        return m
    }

    /// Reads the `llama.*` keys back. `path` names the file in errors.
    public init(metadata: Metadata, path: String) throws(InteropError) {
        let m = MetadataReader(metadata: metadata, path: path)
        let family = try m.string("general.architecture")
        guard family == "llama" else {
            throw InteropError(.unsupported, path: path, field: "general.architecture",
                               "\"\(family)\": only the llama family converts to Hugging Face")
        }
        let bias = try m.optionalBool("llama.attention_bias") ?? false
        let window = try m.optionalUInt("llama.sliding_window") ?? 0
        var arch: Architecture
        if let source = try m.optionalString("general.source_architecture"), let a = Architecture(rawValue: source) {
            arch = a
        } else {
            // Trained here: pick the simplest class that can express the hyperparameters.
            arch = bias ? .qwen2 : window > 0 ? .mistral : .llama
        }
        // A class that cannot express a feature would silently drop it.
        if bias && arch != .qwen2 { arch = .qwen2 }
        if window > 0 && arch == .llama { arch = .mistral }

        let scalingType = try m.optionalString("llama.rope_scaling.type") ?? "none"
        let scaling: RopeScaling
        switch scalingType {
        case "none": scaling = .none
        case "linear": scaling = .linear(factor: try m.float("llama.rope_scaling.factor"))
        case "dynamic":
            scaling = .dynamic(factor: try m.float("llama.rope_scaling.factor"),
                               originalContextLength: try m.uint("llama.rope_scaling.original_context_length"))
        case "llama3":
            scaling = .llama3(factor: try m.float("llama.rope_scaling.factor"),
                              lowFreqFactor: try m.float("llama.rope_scaling.low_freq_factor"),
                              highFreqFactor: try m.float("llama.rope_scaling.high_freq_factor"),
                              originalContextLength: try m.uint("llama.rope_scaling.original_context_length"))
        default:
            throw InteropError(.unsupported, path: path, field: "llama.rope_scaling.type", "unknown rope scaling \"\(scalingType)\"")
        }
        var eos: [UInt64] = []
        if metadata.contains("llama.eos_token_ids") {
            eos = try m.uintArray("llama.eos_token_ids")
        } else if let one = try m.optionalUInt("llama.eos_token_id") {
            eos = [one]
        }
        self.init(
            architecture: arch, name: try m.optionalString("general.name"),
            vocabSize: try m.uint("llama.vocab_size"),
            hiddenSize: try m.uint("llama.hidden_size"),
            numLayers: try m.uint("llama.num_layers"),
            numHeads: try m.uint("llama.num_heads"),
            numKVHeads: try m.uint("llama.num_kv_heads"),
            headDim: try m.uint("llama.head_dim"),
            intermediateSize: try m.uint("llama.intermediate_size"),
            contextLength: try m.uint("llama.context_length"),
            rmsNormEps: try m.float("llama.rms_norm_eps"),
            ropeTheta: try m.float("llama.rope_theta"),
            ropeScaling: scaling,
            tieEmbeddings: try m.bool("llama.tie_embeddings"),
            slidingWindow: window, attentionBias: bias,
            bosTokenID: try m.optionalUInt("llama.bos_token_id"),
            eosTokenIDs: eos)
        for (key, value) in [("llama.hidden_size", hiddenSize), ("llama.num_layers", numLayers), ("llama.num_heads", numHeads),
                             ("llama.num_kv_heads", numKVHeads), ("llama.head_dim", headDim), ("llama.vocab_size", vocabSize),
                             ("llama.intermediate_size", intermediateSize)] where value == 0 {
            throw InteropError(.invalidInput, path: path, field: key, "must be positive")
        }
        guard numHeads % numKVHeads == 0 else {
            throw InteropError(.invalidInput, path: path, field: "llama.num_kv_heads", "\(numKVHeads) does not divide llama.num_heads = \(numHeads)")
        }
    }

    // MARK: config.json

    /// A `config.json` that transformers (4.x and 5.x) loads as this model. Written in the
    /// transformers 4 spelling (`rope_theta` + `rope_scaling`), which transformers 5 still reads.
    /// `extra` entries (the Quiet-STaR head settings) are appended.
    public func configJSON(torchDType: String, extra: [(key: String, value: JSONValue)] = []) -> JSONValue {
        var c: [(key: String, value: JSONValue)] = [
            ("architectures", .array([.string(architecture.rawValue)])),
            ("model_type", .string(architecture.modelType)),
            ("vocab_size", .integer(vocabSize)),
            ("hidden_size", .integer(hiddenSize)),
            ("intermediate_size", .integer(intermediateSize)),
            ("num_hidden_layers", .integer(numLayers)),
            ("num_attention_heads", .integer(numHeads)),
            ("num_key_value_heads", .integer(numKVHeads)),
            ("head_dim", .integer(headDim)),
            ("hidden_act", .string("silu")),
            ("max_position_embeddings", .integer(contextLength)),
            ("rms_norm_eps", .double(rmsNormEps)),
            ("rope_theta", .double(ropeTheta)),
        ]
        switch ropeScaling {
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
        c.append(("tie_word_embeddings", .bool(tieEmbeddings)))
        switch architecture {
        case .llama:
            c.append(("attention_bias", .bool(false)))
            c.append(("mlp_bias", .bool(false)))
        case .mistral:
            c.append(("sliding_window", slidingWindow > 0 ? .integer(slidingWindow) : .null))
        case .qwen2:
            c.append(("use_sliding_window", .bool(slidingWindow > 0)))
            c.append(("sliding_window", slidingWindow > 0 ? .integer(slidingWindow) : .null))
            c.append(("max_window_layers", .integer(slidingWindow > 0 ? 0 : numLayers)))
        }
        c.append(("bos_token_id", bosTokenID.map { .integer($0) } ?? .null))
        switch eosTokenIDs.count {
        case 0: c.append(("eos_token_id", .null))
        case 1: c.append(("eos_token_id", .integer(eosTokenIDs[0])))
        default: c.append(("eos_token_id", .array(eosTokenIDs.map { .integer($0) })))
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

/// Typed reads of `.qstar` metadata with errors that name the file and the key.
struct MetadataReader {
    let metadata: Metadata
    let path: String

    private func wrap<T>(_ key: String, _ read: (Metadata) throws(QStarError) -> T) throws(InteropError) -> T {
        do throws(QStarError) {
            return try read(metadata)
        } catch {
            var e = InteropError(error, as: .invalidInput)
            if e.path == nil { e.path = path }
            if e.field == nil { e.field = key }
            throw e
        }
    }

    func uint(_ key: String) throws(InteropError) -> UInt64 { try wrap(key) { (m) throws(QStarError) in try m.uint(key) } }
    func float(_ key: String) throws(InteropError) -> Double { try wrap(key) { (m) throws(QStarError) in try m.float(key) } }
    func bool(_ key: String) throws(InteropError) -> Bool { try wrap(key) { (m) throws(QStarError) in try m.bool(key) } }
    func string(_ key: String) throws(InteropError) -> String { try wrap(key) { (m) throws(QStarError) in try m.string(key) } }
    func uintArray(_ key: String) throws(InteropError) -> [UInt64] { try wrap(key) { (m) throws(QStarError) in try m.uintArray(key) } }

    func optionalUInt(_ key: String) throws(InteropError) -> UInt64? { metadata.contains(key) ? try uint(key) : nil }
    func optionalBool(_ key: String) throws(InteropError) -> Bool? { metadata.contains(key) ? try bool(key) : nil }
    func optionalString(_ key: String) throws(InteropError) -> String? { metadata.contains(key) ? try string(key) : nil }
}
