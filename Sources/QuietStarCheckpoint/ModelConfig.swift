import QuietStarFormat

/// How rotary position angles are stretched for contexts longer than the model was trained on.
/// Mirrors `llama.rope_scaling.*` (the Hugging Face `rope_scaling` dictionary).
public enum RopeScalingConfig: Sendable, Equatable {
    case none
    /// Positions divided by `factor` (Hugging Face "linear").
    case linear(factor: Double)
    /// Dynamic NTK: the base grows with the sequence length once it passes `originalContext`.
    case dynamic(factor: Double, originalContext: Int)
    /// Llama 3.1: low frequencies divided by `factor`, high ones kept, a smooth ramp between.
    case llama3(factor: Double, lowFreqFactor: Double, highFreqFactor: Double, originalContext: Int)
}

/// The hyperparameters of a decoder-only LLaMA-family model (Llama, Mistral, Qwen2), read from the
/// `llama.*` metadata keys of a checkpoint (spec: `formats/qstar-v1.md`, "Conventions").
///
/// Everything is validated here, once, with bounds that keep every later size computation far
/// from overflow; an error names the metadata key at fault.
public struct ModelConfig: Sendable, Equatable {
    public var vocabSize: Int
    public var hiddenSize: Int
    public var layerCount: Int
    public var headCount: Int
    public var kvHeadCount: Int
    public var headDim: Int
    public var intermediateSize: Int
    /// The longest sequence (prompt + generated tokens) the model accepts.
    public var contextLength: Int
    public var rmsNormEps: Double
    public var ropeTheta: Double
    public var ropeScaling: RopeScalingConfig
    /// The output head reuses the token embedding (no `output.weight` tensor).
    public var tieEmbeddings: Bool
    /// Each token attends to at most this many keys, itself included (Mistral); nil: unlimited.
    public var slidingWindow: Int?
    /// q, k and v projections carry biases (Qwen2).
    public var attentionBias: Bool
    public var bosTokenId: Int32?
    public var eosTokenIds: [Int32]
    /// `general.name`: a human-readable name, when the source had one.
    public var name: String?
    /// `general.source_architecture`: the Hugging Face class the weights came from
    /// (`"LlamaForCausalLM"`, ...); nil for models made here. Changes nothing in the network.
    public var sourceArchitecture: String?

    public init(vocabSize: Int, hiddenSize: Int, layerCount: Int, headCount: Int, kvHeadCount: Int,
                headDim: Int, intermediateSize: Int, contextLength: Int, rmsNormEps: Double = 1e-5,
                ropeTheta: Double = 10_000, ropeScaling: RopeScalingConfig = .none,
                tieEmbeddings: Bool = false, slidingWindow: Int? = nil, attentionBias: Bool = false,
                bosTokenId: Int32? = nil, eosTokenIds: [Int32] = [], name: String? = nil,
                sourceArchitecture: String? = nil) {
        self.vocabSize = vocabSize
        self.hiddenSize = hiddenSize
        self.layerCount = layerCount
        self.headCount = headCount
        self.kvHeadCount = kvHeadCount
        self.headDim = headDim
        self.intermediateSize = intermediateSize
        self.contextLength = contextLength
        self.rmsNormEps = rmsNormEps
        self.ropeTheta = ropeTheta
        self.ropeScaling = ropeScaling
        self.tieEmbeddings = tieEmbeddings
        self.slidingWindow = slidingWindow
        self.attentionBias = attentionBias
        self.bosTokenId = bosTokenId
        self.eosTokenIds = eosTokenIds
        self.name = name
        self.sourceArchitecture = sourceArchitecture
    }

    /// Width of one query row (all heads).
    public var queryDim: Int { headCount * headDim }
    /// Width of one key (or value) row of the cache (all KV heads).
    public var kvDim: Int { kvHeadCount * headDim }

    /// Parameters in the weight matrices that every token multiplies (attention and FFN, all
    /// layers), not counting embeddings, output head, norms or biases.
    public var layerMatrixParameters: Int {
        layerCount * (2 * hiddenSize * queryDim + 2 * hiddenSize * kvDim + 3 * hiddenSize * intermediateSize)
    }

    /// Reads and validates the `llama.*` keys.
    public init(metadata: Metadata) throws(CheckpointError) {
        func uint(_ key: String, _ range: ClosedRange<Int>) throws(CheckpointError) -> Int {
            let value: UInt64
            do { value = try metadata.uint(key) } catch { throw CheckpointError(error) }
            guard value <= UInt64(range.upperBound), Int(value) >= range.lowerBound else {
                throw CheckpointError(key: key, "metadata \(key) = \(value) is outside \(range.lowerBound)...\(range.upperBound)")
            }
            return Int(value)
        }
        func float(_ key: String, _ valid: (Double) -> Bool, _ what: String) throws(CheckpointError) -> Double {
            let value: Double
            do { value = try metadata.float(key) } catch { throw CheckpointError(error) }
            guard value.isFinite, valid(value) else {
                throw CheckpointError(key: key, "metadata \(key) = \(value) must be \(what)")
            }
            return value
        }
        func optionalTokenId(_ key: String, below vocab: Int) throws(CheckpointError) -> Int32? {
            guard metadata.contains(key) else { return nil }
            return Int32(try uint(key, 0...(vocab - 1)))
        }

        let architecture: String
        do { architecture = try metadata.string("general.architecture") } catch { throw CheckpointError(error) }
        guard architecture == "llama" else {
            throw CheckpointError(key: "general.architecture", "metadata general.architecture = \"\(architecture)\" is not supported (only \"llama\", the LLaMA family: Llama, Mistral, Qwen2)")
        }
        // Bounds: generous for real models, small enough that products of two or three of them
        // (a layer's weight count, a cache row) stay far inside Int.
        vocabSize = try uint("llama.vocab_size", 1...(1 << 24))
        hiddenSize = try uint("llama.hidden_size", 1...(1 << 17))
        layerCount = try uint("llama.num_layers", 1...4096)
        headCount = try uint("llama.num_heads", 1...4096)
        kvHeadCount = try uint("llama.num_kv_heads", 1...4096)
        headDim = try uint("llama.head_dim", 2...4096)
        intermediateSize = try uint("llama.intermediate_size", 1...(1 << 20))
        contextLength = try uint("llama.context_length", 1...(1 << 24))
        guard headCount % kvHeadCount == 0 else {
            throw CheckpointError(key: "llama.num_kv_heads", "metadata llama.num_heads = \(headCount) is not a multiple of llama.num_kv_heads = \(kvHeadCount)")
        }
        guard headDim % 2 == 0 else {
            throw CheckpointError(key: "llama.head_dim", "metadata llama.head_dim = \(headDim) must be even (rotary embeddings rotate pairs)")
        }
        rmsNormEps = try float("llama.rms_norm_eps", { $0 > 0 }, "positive")
        ropeTheta = try float("llama.rope_theta", { $0 > 1 }, "greater than 1")

        let scalingType: String
        if metadata.contains("llama.rope_scaling.type") {
            do { scalingType = try metadata.string("llama.rope_scaling.type") } catch { throw CheckpointError(error) }
        } else {
            scalingType = "none"
        }
        switch scalingType {
        case "none":
            ropeScaling = .none
        case "linear":
            ropeScaling = .linear(factor: try float("llama.rope_scaling.factor", { $0 > 0 }, "positive"))
        case "dynamic":
            ropeScaling = .dynamic(factor: try float("llama.rope_scaling.factor", { $0 >= 1 }, "at least 1"),
                                   originalContext: try uint("llama.rope_scaling.original_context_length", 1...(1 << 24)))
        case "llama3":
            let low = try float("llama.rope_scaling.low_freq_factor", { $0 > 0 }, "positive")
            let high = try float("llama.rope_scaling.high_freq_factor", { $0 > low }, "greater than llama.rope_scaling.low_freq_factor")
            ropeScaling = .llama3(factor: try float("llama.rope_scaling.factor", { $0 > 0 }, "positive"),
                                  lowFreqFactor: low, highFreqFactor: high,
                                  originalContext: try uint("llama.rope_scaling.original_context_length", 1...(1 << 24)))
        default:
            throw CheckpointError(key: "llama.rope_scaling.type", "metadata llama.rope_scaling.type = \"\(scalingType)\" is not supported (none, linear, dynamic, llama3)")
        }

        do {
            tieEmbeddings = metadata.contains("llama.tie_embeddings") ? try metadata.bool("llama.tie_embeddings") : false
            attentionBias = metadata.contains("llama.attention_bias") ? try metadata.bool("llama.attention_bias") : false
        } catch { throw CheckpointError(error) }
        let window = metadata.contains("llama.sliding_window") ? try uint("llama.sliding_window", 0...(1 << 24)) : 0
        slidingWindow = window == 0 ? nil : window

        bosTokenId = try optionalTokenId("llama.bos_token_id", below: vocabSize)
        var eos: [Int32] = []
        if let id = try optionalTokenId("llama.eos_token_id", below: vocabSize) { eos.append(id) }
        if metadata.contains("llama.eos_token_ids") {
            let ids: [UInt64]
            do { ids = try metadata.uintArray("llama.eos_token_ids") } catch { throw CheckpointError(error) }
            for id in ids {
                guard id < UInt64(vocabSize) else {
                    throw CheckpointError(key: "llama.eos_token_ids", "metadata llama.eos_token_ids contains \(id), not below llama.vocab_size = \(vocabSize)")
                }
                if !eos.contains(Int32(id)) { eos.append(Int32(id)) }
            }
        }
        eosTokenIds = eos
        do {
            name = try metadata.stringIfPresent("general.name")
            sourceArchitecture = try metadata.stringIfPresent("general.source_architecture")
        } catch { throw CheckpointError(error) }
    }

    /// The `general.*` and `llama.*` entries describing this configuration, in the order every
    /// writer emits them; what `init(metadata:)` reads back.
    public var metadataEntries: [(key: String, value: MetadataValue)] {
        var entries: [(key: String, value: MetadataValue)] = [("general.architecture", .string("llama"))]
        if let name { entries.append(("general.name", .string(name))) }
        if let sourceArchitecture { entries.append(("general.source_architecture", .string(sourceArchitecture))) }
        entries += [
            ("llama.vocab_size", .uint(UInt64(vocabSize))),
            ("llama.hidden_size", .uint(UInt64(hiddenSize))),
            ("llama.num_layers", .uint(UInt64(layerCount))),
            ("llama.num_heads", .uint(UInt64(headCount))),
            ("llama.num_kv_heads", .uint(UInt64(kvHeadCount))),
            ("llama.head_dim", .uint(UInt64(headDim))),
            ("llama.intermediate_size", .uint(UInt64(intermediateSize))),
            ("llama.context_length", .uint(UInt64(contextLength))),
            ("llama.rms_norm_eps", .float(rmsNormEps)),
            ("llama.rope_theta", .float(ropeTheta)),
        ]
        switch ropeScaling {
        case .none:
            entries.append(("llama.rope_scaling.type", .string("none")))
        case .linear(let factor):
            entries.append(("llama.rope_scaling.type", .string("linear")))
            entries.append(("llama.rope_scaling.factor", .float(factor)))
        case .dynamic(let factor, let original):
            entries.append(("llama.rope_scaling.type", .string("dynamic")))
            entries.append(("llama.rope_scaling.factor", .float(factor)))
            entries.append(("llama.rope_scaling.original_context_length", .uint(UInt64(original))))
        case .llama3(let factor, let low, let high, let original):
            entries.append(("llama.rope_scaling.type", .string("llama3")))
            entries.append(("llama.rope_scaling.factor", .float(factor)))
            entries.append(("llama.rope_scaling.low_freq_factor", .float(low)))
            entries.append(("llama.rope_scaling.high_freq_factor", .float(high)))
            entries.append(("llama.rope_scaling.original_context_length", .uint(UInt64(original))))
        }
        entries += [
            ("llama.tie_embeddings", .bool(tieEmbeddings)),
            ("llama.sliding_window", .uint(UInt64(slidingWindow ?? 0))),
            ("llama.attention_bias", .bool(attentionBias)),
        ]
        if let bos = bosTokenId { entries.append(("llama.bos_token_id", .uint(UInt64(bos)))) }
        if eosTokenIds.count == 1 {
            entries.append(("llama.eos_token_id", .uint(UInt64(eosTokenIds[0]))))
        } else if eosTokenIds.count > 1 {
            entries.append(("llama.eos_token_ids", .uintArray(eosTokenIds.map { UInt64($0) })))
        }
        return entries
    }
}
