import QuietStarFormat
import QuietStarKernels
import QuietStarTokenizer

/// A checkpoint ready to run: configuration, weights viewed in place, and its tokenizer.
public final class LanguageModel: @unchecked Sendable {
    public let config: ModelConfig
    public let weights: ModelWeights
    public let tokenizer: Tokenizer
    /// Tokens that end a generated line: the checkpoint's EOS ids and the tokenizer's.
    public let endOfSequence: Set<Int32>
    /// Quiet-STaR's `<|startthought|>` / `<|endthought|>` ids (`quietstar.*_thought_token_id`),
    /// empty for a plain model. They mark thoughts and are never sampled as text.
    public let thoughtTokens: [Int32]
    /// The file the model was loaded from (nil when built in memory).
    public let path: String?

    public init(config: ModelConfig, weights: ModelWeights, tokenizer: Tokenizer, thoughtTokens: [Int32] = [],
                path: String? = nil) throws(ModelError) {
        guard tokenizer.vocabularySize <= config.vocabSize else {
            throw ModelError(.invalidModel, "the tokenizer has \(tokenizer.vocabularySize) tokens but llama.vocab_size is \(config.vocabSize)")
        }
        self.config = config
        self.weights = weights
        self.tokenizer = tokenizer
        self.path = path
        self.thoughtTokens = thoughtTokens
        var eos = Set(config.eosTokenIds)
        for id in tokenizer.eosTokenIds { eos.insert(id) }
        endOfSequence = eos
    }

    /// Opens `path` (memory-mapped; validated; no tensor bytes read until used).
    public convenience init(path: String) throws(ModelError) {
        let file: QStarFile
        do { file = try QStarFile.open(path: path) } catch { throw ModelError(error) }
        let config = try ModelConfig(metadata: file.metadata)
        let weights = try ModelWeights(file: file, config: config)
        let tokenizer: Tokenizer
        do { tokenizer = try Tokenizer(metadata: file.metadata) } catch {
            throw ModelError(.invalidModel, "\(path): tokenizer: \(error)")
        }
        var thoughts: [Int32] = []
        for key in ["quietstar.start_thought_token_id", "quietstar.end_thought_token_id"] where file.metadata.contains(key) {
            let id: UInt64
            do { id = try file.metadata.uint(key) } catch { throw ModelError(error) }
            guard id < UInt64(config.vocabSize) else {
                throw ModelError(.invalidModel, "\(path): metadata \(key) = \(id) is not below llama.vocab_size = \(config.vocabSize)")
            }
            thoughts.append(Int32(id))
        }
        try self.init(config: config, weights: weights, tokenizer: tokenizer, thoughtTokens: thoughts, path: path)
    }
}

