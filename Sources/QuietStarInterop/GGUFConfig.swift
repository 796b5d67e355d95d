import QuietStarCheckpoint
import QuietStarFormat
import QuietStarGGUF

/// The llama.cpp architectures `convertFromGGUF` reads, and what tells them apart.
public enum GGUFArchitecture: String, Sendable, CaseIterable {
    /// Llama, and Mistral-style models, which llama.cpp stores as `llama`.
    case llama
    /// Qwen2: q/k/v biases, NeoX rotary (Hugging Face's rotate-half).
    case qwen2

    /// llama.cpp runs `llama` with interleaved rotary pairs (ggml's "normal" rope), so its
    /// converter regroups each head's q and k rows from Hugging Face's halves into pairs;
    /// `qwen2` runs NeoX rotary, Hugging Face's own layout, and is stored as is.
    var permutesQK: Bool { self == .llama }
}

/// `{arch}.*` metadata of a GGUF file -> `ModelConfig`.
///
/// Every key under the architecture's prefix must be one this reader knows: a key we do not
/// know could change the network (experts, partial rotary, logit soft-capping), so it is refused
/// by name unless the caller asked to ignore unknown keys, in which case it becomes a warning.
enum GGUFConfig {
    /// Keys that describe the network and are read below.
    static let known: Set<String> = [
        "context_length", "embedding_length", "block_count", "feed_forward_length",
        "attention.head_count", "attention.head_count_kv", "attention.layer_norm_rms_epsilon",
        "attention.key_length", "attention.value_length", "rope.freq_base", "rope.dimension_count",
        "vocab_size", "rope.scaling.type", "rope.scaling.factor", "rope.scaling.original_context_length",
        "attention.sliding_window", "expert_count", "expert_used_count", "rope.scaling.finetuned",
    ]

    static func parse(_ layout: GGUFLayout, path: String, allowUnknownKeys: Bool)
        throws(InteropError) -> (config: ModelConfig, architecture: GGUFArchitecture, warnings: [String]) {
        func fail(_ key: String, _ message: String, _ kind: InteropError.Kind = .invalidInput) -> InteropError {
            InteropError(kind, path: path, field: key, message)
        }
        guard let archName = layout["general.architecture"]?.stringValue else {
            throw fail("general.architecture", "missing, or not a string")
        }
        guard let arch = GGUFArchitecture(rawValue: archName) else {
            throw fail("general.architecture", "\"\(archName)\" is not supported (supported: llama, qwen2)", .unsupported)
        }
        let prefix = archName + "."
        var warnings: [String] = []
        for (key, _) in layout.metadata where key.hasPrefix(prefix) {
            let rest = String(key.dropFirst(prefix.count))
            guard !known.contains(rest) else { continue }
            if allowUnknownKeys {
                warnings.append("\(key): unknown metadata key ignored")
            } else {
                throw fail(key, "unknown metadata key (it may change the network); --ignore-unknown-config converts anyway", .unsupported)
            }
        }

        func value(_ name: String) -> GGUFValue? { layout[prefix + name] }
        func int(_ name: String, _ range: ClosedRange<Int>, default fallback: Int? = nil) throws(InteropError) -> Int {
            guard let v = value(name) else {
                if let fallback { return fallback }
                throw fail(prefix + name, "missing")
            }
            guard let u = v.unsignedValue, u >= UInt64(range.lowerBound), u <= UInt64(range.upperBound) else {
                throw fail(prefix + name, "\(v) is not an integer in \(range.lowerBound)...\(range.upperBound)")
            }
            return Int(u)
        }
        /// f32 keys as the decimal the writer meant: 1e-6 stored as f32 reads back as 1e-6,
        /// not 9.99999997e-07 (the f32 is what the network uses either way).
        func float(_ name: String, default fallback: Double? = nil) throws(InteropError) -> Double {
            guard let v = value(name) else {
                if let fallback { return fallback }
                throw fail(prefix + name, "missing")
            }
            guard let d = v.doubleValue, d.isFinite else { throw fail(prefix + name, "\(v) is not a finite number") }
            if case let .float32(f) = v { return Double(f.description) ?? d }
            return d
        }

        let tokens = layout["tokenizer.ggml.tokens"]?.arrayValue?.count
        let hidden = try int("embedding_length", 1...(1 << 17))
        let heads = try int("attention.head_count", 1...4096)
        let kvHeads = try int("attention.head_count_kv", 1...4096, default: heads)
        guard hidden % heads == 0 || value("attention.key_length") != nil else {
            throw fail(prefix + "attention.head_count", "\(heads) does not divide \(prefix)embedding_length = \(hidden)")
        }
        let headDim = try int("attention.key_length", 2...4096, default: hidden / heads)
        if try int("attention.value_length", 2...4096, default: headDim) != headDim {
            throw fail(prefix + "attention.value_length", "differs from the key length \(headDim) (not supported)", .unsupported)
        }
        if try int("rope.dimension_count", 1...4096, default: headDim) != headDim {
            throw fail(prefix + "rope.dimension_count", "rotary over part of a head is not supported (head_dim \(headDim))", .unsupported)
        }
        if try int("expert_count", 0...0, default: 0) != 0 { throw fail(prefix + "expert_count", "mixtures of experts are not supported", .unsupported) }

        let ropeScaling: RopeScalingConfig
        switch value("rope.scaling.type")?.stringValue ?? "none" {
        case "none": ropeScaling = .none
        case "linear": ropeScaling = .linear(factor: try float("rope.scaling.factor"))
        case let other:
            throw fail(prefix + "rope.scaling.type", "\"\(other)\" is not supported (none, linear)", .unsupported)
        }
        var window = try int("attention.sliding_window", 0...(1 << 24), default: 0)
        // Our own exports keep a Mistral-style window llama.cpp's llama cannot express here.
        if window == 0, let w = layout["quietstar.sliding_window"]?.unsignedValue, w <= 1 << 24 { window = Int(w) }

        let vocab = try int("vocab_size", 1...(1 << 24), default: tokens ?? 0)
        func tokenId(_ key: String) throws(InteropError) -> Int32? {
            guard let v = layout[key] else { return nil }
            guard let u = v.unsignedValue, u < UInt64(max(vocab, 1)) else { throw fail(key, "\(v) is not a token id below the vocabulary size \(vocab)") }
            return Int32(u)
        }
        let config = ModelConfig(
            vocabSize: vocab,
            hiddenSize: hidden,
            layerCount: try int("block_count", 1...4096),
            headCount: heads, kvHeadCount: kvHeads, headDim: headDim,
            intermediateSize: try int("feed_forward_length", 1...(1 << 20)),
            contextLength: try int("context_length", 1...(1 << 24)),
            rmsNormEps: try float("attention.layer_norm_rms_epsilon"),
            ropeTheta: try float("rope.freq_base", default: 10_000),
            ropeScaling: ropeScaling,
            tieEmbeddings: layout.tensor("output.weight") == nil,
            slidingWindow: window == 0 ? nil : window,
            attentionBias: layout.tensor("blk.0.attn_q.bias") != nil,
            bosTokenId: try tokenId("tokenizer.ggml.bos_token_id"),
            eosTokenIds: try tokenId("tokenizer.ggml.eos_token_id").map { [$0] } ?? [],
            name: layout["general.name"]?.stringValue,
            sourceArchitecture: "gguf:" + archName)
        guard config.vocabSize > 0 else { throw fail(prefix + "vocab_size", "missing, and there is no tokenizer.ggml.tokens to count") }
        // The same checks every .qstar reader applies, so a bad file fails here, naming the GGUF key.
        var metadata = Metadata()
        for (k, v) in config.metadataEntries { metadata[k] = v }
        do { _ = try ModelConfig(metadata: metadata) } catch {
            throw InteropError(.invalidInput, path: path, field: error.key, "inconsistent hyperparameters: \(error.message)")
        }
        return (config, arch, warnings)
    }
}
