import Foundation
import QuietStarKernels
import QuietStarModel

/// Settings of a scoring run.
public struct ScoreOptions: Sendable {
    /// Lines in flight at once (KV-cache slots).
    public var batchSize: Int = 32
    /// Most rows (tokens) per transformer step. Every scored row needs a full row of logits, so
    /// the scorer lowers this further for large vocabularies to keep logits near 64 MB.
    public var maxStepTokens: Int = 512
    /// Keep each token's log-probability (`LineScore.tokenLogprobs`).
    public var perToken = false
    /// Add the tokenizer's BOS (and any template tokens), as Hugging Face does.
    public var addSpecialTokens = true
    /// How the KV cache stores keys and values: `.f16` halves the memory and the bytes attention
    /// streams per cached token (decoding many lines over long contexts is bound by them), at the
    /// cost of rounding each key and value to f16 (see docs/benchmarks.md for the measured effect).
    public var kvCache: CacheEncoding = .f32

    public init() {}

    public func validate() throws(ModelError) {
        guard batchSize >= 1 else { throw .invalidOption("batchSize", "must be at least 1, got \(batchSize)", in: "ScoreOptions") }
        guard maxStepTokens >= batchSize else {
            throw ModelError(.invalidArgument, "the step budget (\(maxStepTokens) tokens) must be at least the batch size (\(batchSize))")
        }
    }
}

/// The likelihood of one line under the model.
public struct LineScore: Sendable, Equatable {
    /// The line's tokens, the BOS token included when the tokenizer adds one.
    public var tokenIds: [Int32]
    /// `log p(token j | tokens 0..<j)` (natural log) for `j >= 1`; entry 0 is nil (nothing
    /// predicts the first token). Empty unless `ScoreOptions.perToken`.
    public var tokenLogprobs: [Double?]
    /// Sum of the log-probabilities of tokens 1..<n.
    public var logprob: Double
    /// Tokens that were predicted (n - 1; 0 for an empty line).
    public var scoredTokens: Int { max(tokenIds.count - 1, 0) }
    /// `exp(-logprob / scoredTokens)`; nil when no token was predicted.
    public var perplexity: Double? { scoredTokens > 0 ? Foundation.exp(-logprob / Double(scoredTokens)) : nil }
}

/// Scores many lines with continuous batching: each line's tokens are fed through the model (in
/// chunks, packed with other lines' chunks) and each position's logits score the next token.
public final class Scorer {
    public let model: LanguageModel
    public let options: ScoreOptions
    let transformer: Transformer
    let cache: KVCache
    private let scheduler: LineScheduler<ScoringLine>
    private var targets: [Int32] = []
    private var losses: [Float] = []

    public init(model: LanguageModel, options: ScoreOptions) throws(ModelError) {
        try options.validate()
        self.model = model
        self.options = options
        transformer = Transformer(weights: model.weights)
        cache = try KVCache(config: model.config, slots: options.batchSize, rowsPerSlot: model.config.contextLength,
                            encoding: options.kvCache)
        let logitBudget = max(options.batchSize, (16 << 20) / model.config.vocabSize)
        scheduler = LineScheduler(transformer: transformer, cache: cache,
                                  maxStepRows: min(options.maxStepTokens, logitBudget), window: 4 * options.batchSize)
    }

    /// Scores every request, delivering outcomes in request order as they complete (`onStep` and
    /// `inputReady` as in `Generator.run`).
    public func run<Source: IteratorProtocol, Tag>(_ source: inout Source,
                                                   emit: (LineOutcome<Tag, LineScore>) -> Void,
                                                   onStep: (Int) -> Void = { _ in },
                                                   inputReady: () -> Bool = { true })
    where Source.Element == LineRequest<Tag> {
        let vocab = model.config.vocabSize
        scheduler.run(&source,
                      start: { request in self.start(request) },
                      consume: { output, batch, slices in
                          // One cross-entropy call over every logit row of the step (parallel
                          // inside), then each line collects its rows.
                          let lines = self.scheduler.active
                          self.targets.removeAll(keepingCapacity: true)
                          for s in slices {
                              let line = lines[s.active].line
                              for p in s.firstPosition..<(s.firstPosition + s.count) { self.targets.append(line.tokens[p + 1]) }
                          }
                          precondition(self.targets.count == output.logitRows, "Scorer: every fed row must want logits")
                          if self.losses.count < self.targets.count { self.losses = [Float](repeating: 0, count: self.targets.count) }
                          self.targets.withUnsafeBufferPointer { t in
                              self.losses.withUnsafeMutableBufferPointer { loss in
                                  CrossEntropy.forward(logits: output.logits, rows: output.logitRows, vocab: vocab,
                                                       targets: t.baseAddress!, lossPerRow: loss.baseAddress!)
                              }
                          }
                          var k = 0
                          for s in slices {
                              let line = lines[s.active].line
                              for _ in 0..<s.count {
                                  line.record(-Double(self.losses[k]))
                                  k += 1
                              }
                          }
                          _ = batch
                      },
                      finish: { line in .success(line.score()) },
                      emit: emit, onStep: onStep, inputReady: inputReady)
    }

    /// Convenience: scores `texts` (line indices 0, 1, ...) and returns the outcomes.
    public func score(_ texts: [String]) -> [Result<LineScore, LineError>] {
        var source = texts.enumerated().map { LineRequest(line: $0.offset, tag: (), text: .success($0.element)) }.makeIterator()
        var results: [Result<LineScore, LineError>] = []
        run(&source, emit: { results.append($0.result) })
        return results
    }

    private func start<Tag>(_ request: LineRequest<Tag>) -> Result<ScoringLine, LineError> {
        let text: String
        switch request.text {
        case .failure(let error): return .failure(error)
        case .success(let t): text = t
        }
        let tokens = model.tokenizer.encode(text, addSpecialTokens: options.addSpecialTokens)
        let context = model.config.contextLength
        if tokens.count > context {
            return .failure(LineError("line has \(tokens.count) tokens, more than the model's context of \(context)"))
        }
        return .success(ScoringLine(tokens: tokens, perToken: options.perToken))
    }
}

/// One line being scored: every token but the last is fed; position p's logits score token p+1.
final class ScoringLine: ScheduledLine {
    let tokens: [Int32]
    var fed = 0
    private let perToken: Bool
    private var logprobs: [Double?] = []
    private var total: Double = 0

    init(tokens: [Int32], perToken: Bool) {
        self.tokens = tokens
        self.perToken = perToken
        if perToken {
            logprobs.reserveCapacity(tokens.count)
            if !tokens.isEmpty { logprobs.append(nil) }
        }
    }

    var feedLimit: Int { max(tokens.count - 1, 0) }
    func wantsLogits(at position: Int) -> Bool { true }
    var isFinished: Bool { fed >= feedLimit }

    /// The log-probability of the next unscored token (called in position order).
    func record(_ logprob: Double) {
        total += logprob
        if perToken { logprobs.append(logprob) }
    }

    func score() -> LineScore {
        LineScore(tokenIds: tokens, tokenLogprobs: logprobs, logprob: total)
    }
}
