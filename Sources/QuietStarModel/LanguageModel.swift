import QuietStarCheckpoint
import QuietStarFormat
import QuietStarKernels
import QuietStarTokenizer

/// A checkpoint ready to run: configuration, weights viewed in place, its tokenizer and, for a
/// Quiet-STaR checkpoint, its thought parameters. Everything is read and validated once, here.
public final class LanguageModel: @unchecked Sendable {
    public let config: ModelConfig
    public let weights: ModelWeights
    public let tokenizer: Tokenizer
    /// The start/end-of-thought markers and the mixing head; nil for a plain model.
    public let thoughts: ThoughtParameters?
    /// Tokens that end a generated line: the checkpoint's EOS ids and the tokenizer's.
    public let endOfSequence: Set<Int32>
    /// Quiet-STaR's `<|startthought|>` / `<|endthought|>` ids, empty for a plain model. They mark
    /// thoughts and are never sampled as text.
    public let thoughtMarkers: [Int32]
    /// The file the model was loaded from (nil when built in memory).
    public let path: String?

    /// A model built in memory. `thoughtMarkers` defaults to the markers of `thoughts`.
    public init(config: ModelConfig, weights: ModelWeights, tokenizer: Tokenizer, thoughts: ThoughtParameters? = nil,
                thoughtMarkers: [Int32]? = nil, path: String? = nil) throws(ModelError) {
        guard tokenizer.vocabularySize <= config.vocabSize else {
            throw ModelError(.invalidModel, "the tokenizer has \(tokenizer.vocabularySize) tokens but llama.vocab_size is \(config.vocabSize)")
        }
        self.config = config
        self.weights = weights
        self.tokenizer = tokenizer
        self.thoughts = thoughts
        self.path = path
        self.thoughtMarkers = thoughtMarkers ?? thoughts?.markerIds ?? []
        var eos = Set(config.eosTokenIds)
        for id in tokenizer.eosTokenIds { eos.insert(id) }
        endOfSequence = eos
    }

    /// Opens `path` (memory-mapped; validated; no tensor bytes read until used). A Quiet-STaR
    /// checkpoint with some of its thought parameters missing or malformed is an invalid model.
    public convenience init(path: String) throws(ModelError) {
        let file: QStarFile
        do { file = try QStarFile.open(path: path) } catch { throw ModelError(error) }
        let config: ModelConfig
        do { config = try ModelConfig(metadata: file.metadata) } catch { throw ModelError(error) }
        let weights = try ModelWeights(file: file, config: config)
        let tokenizer: Tokenizer
        do { tokenizer = try Tokenizer(metadata: file.metadata) } catch {
            throw ModelError(.invalidModel, "\(path): tokenizer: \(error)")
        }
        let thoughts = try ThoughtParameters.load(file: file, config: config)
        try self.init(config: config, weights: weights, tokenizer: tokenizer, thoughts: thoughts, path: path)
    }
}
