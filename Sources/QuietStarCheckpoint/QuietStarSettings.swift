import QuietStarFormat

/// How the mixing head's scalar becomes `w`: the reference code uses it as is (no sigmoid, no
/// clamp); a checkpoint may ask for a sigmoid (`quietstar.mixing_head.output`).
public enum MixingHeadOutput: String, Sendable, Equatable {
    case identity, sigmoid
}

/// The `quietstar.*` keys of a thought-augmented model (spec 12.4), read and written by this one
/// type. Which tensors go with them is `TensorNames.Thought`.
public struct QuietStarSettings: Sendable, Equatable {
    public static let startTokenKey = "quietstar.start_thought_token_id"
    public static let endTokenKey = "quietstar.end_thought_token_id"
    public static let thoughtTokensKey = "quietstar.thought_tokens"
    public static let embeddingScaleKey = "quietstar.embedding_scale"
    public static let hiddenLayersKey = "quietstar.mixing_head.hidden_layers"
    public static let outputKey = "quietstar.mixing_head.output"
    public static let inputKey = "quietstar.mixing_head.input"
    /// The keys whose presence makes a checkpoint a Quiet-STaR one.
    public static let requiredKeys = [startTokenKey, endTokenKey]

    /// Without `quietstar.thought_tokens`: 5, the length of the published "8-ahead" model's
    /// thoughts (its `n_ahead` = 8 counts the base pass, start and end).
    public static let defaultThoughtTokens = 5
    /// Upper bound on content tokens per thought (the published models use 5-9).
    public static let maxThoughtTokens = 256

    /// `<|startthought|>` and `<|endthought|>`: never sampled, neither inside a thought nor as output.
    public var startTokenId: Int32
    public var endTokenId: Int32
    /// The number of content tokens per thought the model was trained with.
    public var thoughtTokens: Int
    /// Informational: the factor the stored thought embeddings were already multiplied by.
    public var embeddingScale: Double
    public var mixingHeadOutput: MixingHeadOutput

    public init(startTokenId: Int32, endTokenId: Int32, thoughtTokens: Int = QuietStarSettings.defaultThoughtTokens,
                embeddingScale: Double = 1, mixingHeadOutput: MixingHeadOutput = .identity) {
        self.startTokenId = startTokenId
        self.endTokenId = endTokenId
        self.thoughtTokens = thoughtTokens
        self.embeddingScale = embeddingScale
        self.mixingHeadOutput = mixingHeadOutput
    }

    /// Whether `metadata` has any `quietstar.*` marker key (a model that has some but not all is
    /// an incomplete Quiet-STaR checkpoint, which `init(metadata:vocabSize:)` reports).
    public static func present(in metadata: Metadata) -> Bool {
        requiredKeys.contains { metadata.contains($0) }
    }

    /// Reads and validates the keys: both marker ids below `vocabSize` and distinct, k within
    /// bounds, a supported mixing head. Errors name the key and the value.
    public init(metadata meta: Metadata, vocabSize: Int) throws(CheckpointError) {
        func id(_ key: String) throws(CheckpointError) -> Int32 {
            let v: UInt64
            do { v = try meta.uint(key) } catch { throw CheckpointError(error) }
            guard v < UInt64(vocabSize) else {
                throw CheckpointError(key: key, "metadata \(key) = \(v) is not below llama.vocab_size = \(vocabSize)")
            }
            return Int32(v)
        }
        func uint(_ key: String) throws(CheckpointError) -> UInt64? {
            do { return try meta.uintIfPresent(key) } catch { throw CheckpointError(error) }
        }
        func string(_ key: String) throws(CheckpointError) -> String? {
            do { return try meta.stringIfPresent(key) } catch { throw CheckpointError(error) }
        }
        let start = try id(Self.startTokenKey), end = try id(Self.endTokenKey)
        guard start != end else {
            throw CheckpointError(key: Self.endTokenKey, "\(Self.startTokenKey) and \(Self.endTokenKey) are both \(start)")
        }
        let k = try uint(Self.thoughtTokensKey) ?? UInt64(Self.defaultThoughtTokens)
        guard k <= UInt64(Self.maxThoughtTokens) else {
            throw CheckpointError(key: Self.thoughtTokensKey, "metadata \(Self.thoughtTokensKey) = \(k) is above \(Self.maxThoughtTokens)")
        }
        if let layers = try uint(Self.hiddenLayersKey), layers != 2 {
            throw CheckpointError(key: Self.hiddenLayersKey, "metadata \(Self.hiddenLayersKey) = \(layers) is not supported (only 2)")
        }
        if let input = try string(Self.inputKey), input != "concat_base_thought" {
            throw CheckpointError(key: Self.inputKey, "metadata \(Self.inputKey) = \"\(input)\" is not supported (only \"concat_base_thought\")")
        }
        let outputName = try string(Self.outputKey) ?? MixingHeadOutput.identity.rawValue
        guard let output = MixingHeadOutput(rawValue: outputName) else {
            throw CheckpointError(key: Self.outputKey, "metadata \(Self.outputKey) = \"\(outputName)\" is not supported (\"identity\" or \"sigmoid\")")
        }
        let scale: Double
        do { scale = meta.contains(Self.embeddingScaleKey) ? try meta.float(Self.embeddingScaleKey) : 1 } catch {
            throw CheckpointError(error)
        }
        self.init(startTokenId: start, endTokenId: end, thoughtTokens: Int(k), embeddingScale: scale,
                  mixingHeadOutput: output)
    }

    /// The entries `init(metadata:vocabSize:)` reads back, in writing order.
    public var metadataEntries: [(key: String, value: MetadataValue)] {
        [
            (Self.startTokenKey, .uint(UInt64(startTokenId))),
            (Self.endTokenKey, .uint(UInt64(endTokenId))),
            (Self.thoughtTokensKey, .uint(UInt64(thoughtTokens))),
            (Self.embeddingScaleKey, .float(embeddingScale)),
            (Self.hiddenLayersKey, .uint(2)),
            (Self.outputKey, .string(mixingHeadOutput.rawValue)),
            (Self.inputKey, .string("concat_base_thought")),
        ]
    }
}
