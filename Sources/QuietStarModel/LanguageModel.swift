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
    /// The file the model was loaded from (nil when built in memory).
    public let path: String?

    public init(config: ModelConfig, weights: ModelWeights, tokenizer: Tokenizer, path: String? = nil) throws(ModelError) {
        guard tokenizer.vocabularySize <= config.vocabSize else {
            throw ModelError(.invalidModel, "the tokenizer has \(tokenizer.vocabularySize) tokens but llama.vocab_size is \(config.vocabSize)")
        }
        self.config = config
        self.weights = weights
        self.tokenizer = tokenizer
        self.path = path
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
        try self.init(config: config, weights: weights, tokenizer: tokenizer, path: path)
    }
}

