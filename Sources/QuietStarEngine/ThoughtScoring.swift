import Foundation
import QuietStarKernels
import QuietStarModel

/// The likelihood of one line with and without thoughts, from the same pass.
public struct ThoughtLineScore: Sendable, Equatable {
    /// The line's tokens, the BOS token included when the tokenizer adds one.
    public var tokenIds: [Int32]
    /// Sum over tokens 1..<n of the mixed log-probability (with thoughts).
    public var logprob: Double
    /// Sum over tokens 1..<n of the plain log-probability (no thought), as `Scorer` computes it.
    public var baseLogprob: Double
    /// Per-token arrays aligned with `tokenIds` (entry `j` is about predicting token `j`; entry 0
    /// is nil). Empty unless `ScoreOptions.perToken`.
    /// - `tokenLogprobs`: mixed, `log mean_pass p_mix(token j)`.
    /// - `baseTokenLogprobs`: without thoughts.
    /// - `mixingWeights`: `w` of pass 0 at position `j - 1`.
    /// - `thoughts`: the content tokens of pass 0's thought after token `j - 1`.
    public var tokenLogprobs: [Double?]
    public var baseTokenLogprobs: [Double?]
    /// - `baseEntropies`, `baseTopProbabilities`: the entropy (nats) and largest probability of
    ///   the base distribution at position `j - 1`, what `ThinkWhen` decides from.
    /// A position that did not think (`ThinkWhen`) has the base log-probability as its mixed one,
    /// `w = 0` and an empty thought.
    public var mixingWeights: [Double?]
    public var thoughts: [[Int32]?]
    public var baseEntropies: [Double?] = []
    public var baseTopProbabilities: [Double?] = []
    /// Positions that thought (all `scoredTokens` under `ThinkWhen.always`).
    public var thoughtPositions = 0

    /// Tokens that were predicted (n - 1; 0 for an empty line).
    public var scoredTokens: Int { max(tokenIds.count - 1, 0) }
    public var perplexity: Double? { scoredTokens > 0 ? Foundation.exp(-logprob / Double(scoredTokens)) : nil }
    public var basePerplexity: Double? { scoredTokens > 0 ? Foundation.exp(-baseLogprob / Double(scoredTokens)) : nil }
}

/// Scores lines with a thought after every position: the parallel algorithm of Quiet-STaR.
///
/// Lines are taken `batchSize` at a time. First a plain pass over each line's text (prefill
/// steps packed across lines) gives every position's `h_base`, its base log-probability and the
/// text's keys and values. Then the thoughts of all positions (and all passes) of all lines of
/// the group are generated together, `k + 2` batched steps per pack of streams: one row per
/// stream per step, each row seeing its slot's text up to its position plus its own earlier
/// thought rows (two key spans, never a dense mask). After the end step the mixing head, the mix
/// and the LM head run over every stream of the pack as single matrix products.
///
/// A line's result depends only on its text, the options and its line index (thought draws come
/// from per-(seed, line, position, pass) generators), never on batching or sharding.
public final class ThoughtScorer {
    public let model: LanguageModel
    public let options: ScoreOptions
    /// The thought pass every pack of streams runs (its options: k, temperature, seed, passes).
    public let pass: ThoughtPass
    public var thoughtOptions: ThoughtOptions { pass.options }
    let transformer: Transformer
    let cache: KVCache
    /// Rows per step: text rows in the base pass, streams in a thought pack.
    let stepRows: Int
    private var batch = StepBatch()

    public init(model: LanguageModel, options: ScoreOptions, thoughtOptions: ThoughtOptions) throws(ModelError) {
        try options.validate()
        pass = try ThoughtPass(model: model, options: thoughtOptions)
        self.model = model
        self.options = options
        transformer = Transformer(weights: model.weights)
        // Every row of a step may carry a full row of logits: keep them near 64 MB.
        let logitBudget = max(options.batchSize, (16 << 20) / model.config.vocabSize)
        stepRows = max(1, min(options.maxStepTokens, logitBudget))
        cache = try KVCache(config: model.config, slots: options.batchSize, rowsPerSlot: model.config.contextLength,
                            scratchRows: stepRows * thoughtOptions.steps, encoding: options.kvCache)
    }

    /// Scores every request, delivering outcomes in request order. Lines are scored in groups of
    /// up to `batchSize`; a group closes early when `inputReady` says the next read would wait, so
    /// a line's result never waits on input that has not arrived (`onStep`, `inputReady` as in
    /// `Generator.run`).
    public func run<Source: IteratorProtocol, Tag>(_ source: inout Source,
                                                   emit: (LineOutcome<Tag, ThoughtLineScore>) -> Void,
                                                   onStep: (Int) -> Void = { _ in },
                                                   inputReady: () -> Bool = { true })
    where Source.Element == LineRequest<Tag> {
        var exhausted = false
        while !exhausted {
            var group: [(request: LineRequest<Tag>, work: Result<ThoughtScoringLine, LineError>)] = []
            var lines = 0
            while lines < options.batchSize, group.isEmpty || inputReady() {
                guard let request = source.next() else { exhausted = true; break }
                let work = start(request)
                if case .success = work { lines += 1 }
                group.append((request, work))
            }
            let works = group.compactMap { try? $0.work.get() }
            if !works.isEmpty { process(works, onStep: onStep) }
            for (request, work) in group {
                emit(LineOutcome(line: request.line, tag: request.tag, result: work.map { $0.result(perToken: options.perToken) }))
            }
        }
    }

    /// Convenience: scores `texts` (line indices 0, 1, ...).
    public func score(_ texts: [String]) -> [Result<ThoughtLineScore, LineError>] {
        var source = texts.enumerated().map { LineRequest(line: $0.offset, tag: (), text: .success($0.element)) }.makeIterator()
        var results: [Result<ThoughtLineScore, LineError>] = []
        run(&source, emit: { results.append($0.result) })
        return results
    }

    private func start<Tag>(_ request: LineRequest<Tag>) -> Result<ThoughtScoringLine, LineError> {
        let text: String
        switch request.text {
        case .failure(let error): return .failure(error)
        case .success(let t): text = t
        }
        return start(tokens: model.tokenizer.encode(text, addSpecialTokens: options.addSpecialTokens), line: request.line)
    }

    private func start(tokens: [Int32], line: Int) -> Result<ThoughtScoringLine, LineError> {
        let context = model.config.contextLength, k = thoughtOptions.thoughtTokens
        // The end row of the thought after the second-to-last token (i = T - 2) sits at inline
        // position i + k + 2 = T + k, which must be below the context length.
        if tokens.count + k >= context {
            return .failure(LineError("line has \(tokens.count) tokens; with \(k)-token thoughts at most \(context - k - 1) fit the model's context of \(context)"))
        }
        if let bad = tokens.first(where: { $0 < 0 || Int($0) >= model.config.vocabSize }) {
            return .failure(LineError("token id \(bad) is outside the vocabulary of \(model.config.vocabSize)"))
        }
        return .success(ThoughtScoringLine(tokens: tokens, line: line, hidden: model.config.hiddenSize,
                                           options: thoughtOptions))
    }

    /// Scores token sequences directly (no tokenizer): what a trainer or benchmark feeds. Line
    /// `lines[i]` (default `i`) seeds sequence `i`'s thoughts.
    public func score(tokens sequences: [[Int32]], lines: [Int]? = nil,
                      onStep: (Int) -> Void = { _ in }) -> [Result<ThoughtLineScore, LineError>] {
        let indices = lines ?? Array(sequences.indices)
        precondition(indices.count == sequences.count, "ThoughtScorer.score: one line index per sequence")
        var results: [Result<ThoughtLineScore, LineError>] = []
        var start = 0
        while start < sequences.count {
            var group: [Result<ThoughtScoringLine, LineError>] = []
            var lines = 0
            while start < sequences.count && lines < options.batchSize {
                let work = self.start(tokens: sequences[start], line: indices[start])
                if case .success = work { lines += 1 }
                group.append(work)
                start += 1
            }
            let works = group.compactMap { try? $0.get() }
            if !works.isEmpty { process(works, onStep: onStep) }
            results += group.map { $0.map { $0.result(perToken: options.perToken) } }
        }
        return results
    }

    /// Runs the base pass and every thought of `lines` (at most `batchSize`; line `s` uses slot `s`).
    func process(_ lines: [ThoughtScoringLine], onStep: (Int) -> Void) {
        basePass(lines, onStep: onStep)
        // Streams in (line, position, pass) order, packed `stepRows` at a time.
        var streams: [Stream] = []
        streams.reserveCapacity(stepRows)
        for (s, line) in lines.enumerated() {
            for i in 0..<line.positions where line.thinks[i] {
                for pass in 0..<thoughtOptions.passes {
                    streams.append(Stream(line: s, position: i, pass: pass))
                    if streams.count == stepRows {
                        thoughtPack(streams, lines, onStep: onStep)
                        streams.removeAll(keepingCapacity: true)
                    }
                }
            }
        }
        if !streams.isEmpty { thoughtPack(streams, lines, onStep: onStep) }
    }

    struct Stream {
        var line: Int
        var position: Int
        var pass: Int
    }

    /// The plain pass: every line's positions `0..<T-1`, prefill rows packed across lines.
    private func basePass(_ lines: [ThoughtScoringLine], onStep: (Int) -> Void) {
        let c = model.config, h = c.hiddenSize
        var fed = [Int](repeating: 0, count: lines.count)
        var owners: [(line: Int, position: Int)] = []
        var targets: [Int32] = [], losses: [Float] = []
        var entropies: [Float] = [], tops: [Float] = []
        let when = thoughtOptions.when, confidence = options.perToken || when.readsBaseDistribution
        var next = 0
        while next < lines.count {
            batch.removeAll()
            owners.removeAll(keepingCapacity: true)
            targets.removeAll(keepingCapacity: true)
            var s = next
            while s < lines.count && batch.count < stepRows {
                let line = lines[s]
                let n = min(line.positions - fed[s], stepRows - batch.count)
                for p in fed[s]..<(fed[s] + n) {
                    batch.append(token: line.tokens[p], position: p, cacheRow: cache.textRow(slot: s, position: p),
                                 visible: cache.visibleRows(slot: s, position: p, window: c.slidingWindow), logits: true)
                    owners.append((s, p))
                    targets.append(line.tokens[p + 1])
                }
                fed[s] += n
                if fed[s] == line.positions { s += 1 }
            }
            next = s
            if batch.isEmpty { continue }
            let out = transformer.step(batch, cache: cache)
            onStep(batch.count)
            if losses.count < targets.count { losses = [Float](repeating: 0, count: targets.count) }
            targets.withUnsafeBufferPointer { t in
                losses.withUnsafeMutableBufferPointer { l in
                    CrossEntropy.forward(logits: out.logits, rows: out.logitRows, vocab: c.vocabSize,
                                         targets: t.baseAddress!, lossPerRow: l.baseAddress!)
                }
            }
            if confidence {
                if entropies.count < targets.count {
                    entropies = [Float](repeating: 0, count: targets.count)
                    tops = entropies
                }
                entropies.withUnsafeMutableBufferPointer { e in
                    tops.withUnsafeMutableBufferPointer { t in
                        Confidence.rows(logits: out.logits, rows: out.logitRows, vocab: c.vocabSize,
                                        entropy: e.baseAddress!, top: t.baseAddress!)
                    }
                }
            }
            for (r, o) in owners.enumerated() {
                let line = lines[o.line]
                line.baseLogprobs[o.position] = -Double(losses[r])
                if confidence {
                    line.entropies[o.position] = entropies[r]
                    line.tops[o.position] = tops[r]
                    line.thinks[o.position] = when.thinks(entropy: entropies[r], top: tops[r])
                } else {
                    line.thinks[o.position] = when == .always
                }
                line.hBase.withUnsafeMutableBufferPointer { hb in
                    (hb.baseAddress! + o.position * h).update(from: out.hidden(row: r), count: h)
                }
            }
        }
    }

    /// Generates and mixes in the thoughts of `streams` (at most `stepRows`): `k + 2` steps.
    private func thoughtPack(_ streams: [Stream], _ lines: [ThoughtScoringLine], onStep: (Int) -> Void) {
        let c = model.config, h = c.hiddenSize, k = thoughtOptions.thoughtTokens, steps = thoughtOptions.steps
        let n = streams.count
        var randoms = streams.map {
            pass.random(line: lines[$0.line].line, position: $0.position, pass: $0.pass)
        }
        var content = [Int32](repeating: 0, count: n * k)
        var drawn = [Int32](repeating: 0, count: n)
        for j in 0..<steps {
            batch.removeAll()
            for (s, stream) in streams.enumerated() {
                pass.appendRow(to: &batch, step: j, token: j >= 1 && j <= k ? content[s * k + j - 1] : 0, cache: cache,
                               slot: stream.line, textPosition: stream.position, streamStart: cache.scratchRow(s * steps))
            }
            let out = transformer.step(batch, cache: cache)
            onStep(batch.count)
            if j < k {
                // Row s wants logits and every row does: logit index s.
                randoms.withUnsafeMutableBufferPointer { r in
                    drawn.withUnsafeMutableBufferPointer { d in
                        pass.drawContent(count: n, logits: out.logits, randoms: r.baseAddress!, tokens: d.baseAddress!)
                    }
                }
                for s in 0..<n { content[s * k + j] = drawn[s] }
            } else if j == steps - 1 {
                let mixer = pass.mixer
                mixer.reserve(rows: n)
                for (s, stream) in streams.enumerated() {
                    lines[stream.line].hBase.withUnsafeBufferPointer { hb in
                        (mixer.base + s * h).update(from: hb.baseAddress! + stream.position * h, count: h)
                    }
                }
                mixer.end.update(from: out.hidden, count: n * h)
                mixer.mix(rows: n)
                let targets = streams.map { lines[$0.line].tokens[$0.position + 1] }
                var losses = [Float](repeating: 0, count: n)
                targets.withUnsafeBufferPointer { t in
                    losses.withUnsafeMutableBufferPointer { l in
                        CrossEntropy.forward(logits: mixer.logits, rows: n, vocab: c.vocabSize, targets: t.baseAddress!,
                                             lossPerRow: l.baseAddress!)
                    }
                }
                for (s, stream) in streams.enumerated() {
                    lines[stream.line].record(position: stream.position, pass: stream.pass, mixedLogprob: -Double(losses[s]),
                                              w: Double(mixer.w[s]), thought: content[(s * k)..<(s * k + k)])
                }
            }
        }
    }
}

/// One line being scored with thoughts: positions `0..<T-1` each predict the next token.
final class ThoughtScoringLine {
    let tokens: [Int32]
    let line: Int
    let passes: Int
    var positions: Int { max(tokens.count - 1, 0) }
    var hBase: [Float]
    var baseLogprobs: [Double]
    /// `positions x passes`.
    var mixedLogprobs: [Double]
    var weights: [Double]
    var thoughts: [[Int32]]
    /// Whether position `i` thinks (`ThinkWhen`, decided in the base pass).
    var thinks: [Bool]
    /// The base distribution's entropy and top probability at `i` (when per-token output or the
    /// rule needs them).
    var entropies: [Float]
    var tops: [Float]

    init(tokens: [Int32], line: Int, hidden: Int, options: ThoughtOptions) {
        self.tokens = tokens
        self.line = line
        passes = options.passes
        let n = max(tokens.count - 1, 0)
        hBase = [Float](repeating: 0, count: n * hidden)
        baseLogprobs = [Double](repeating: 0, count: n)
        mixedLogprobs = [Double](repeating: 0, count: n * options.passes)
        weights = [Double](repeating: 0, count: n)
        thoughts = [[Int32]](repeating: [], count: n)
        thinks = [Bool](repeating: true, count: n)
        entropies = [Float](repeating: .nan, count: n)
        tops = entropies
    }

    func record(position i: Int, pass: Int, mixedLogprob: Double, w: Double, thought: ArraySlice<Int32>) {
        mixedLogprobs[i * passes + pass] = mixedLogprob
        if pass == 0 {
            weights[i] = w
            thoughts[i] = Array(thought)
        }
    }

    /// `log mean_pass p_mix` at position `i` (log-sum-exp, stable).
    func mixed(_ i: Int) -> Double {
        guard thinks[i] else { return baseLogprobs[i] }
        let row = mixedLogprobs[(i * passes)..<((i + 1) * passes)]
        if passes == 1 { return row.first! }
        let m = row.max()!
        guard m.isFinite else { return m }
        return m + Foundation.log(row.reduce(0) { $0 + Foundation.exp($1 - m) } / Double(passes))
    }

    func result(perToken: Bool) -> ThoughtLineScore {
        let n = positions
        let mixed = (0..<n).map(mixed)
        var score = ThoughtLineScore(tokenIds: tokens, logprob: mixed.reduce(0, +), baseLogprob: baseLogprobs.reduce(0, +),
                                     tokenLogprobs: [], baseTokenLogprobs: [], mixingWeights: [], thoughts: [])
        score.thoughtPositions = thinks.reduce(0) { $0 + ($1 ? 1 : 0) }
        if perToken && !tokens.isEmpty {
            score.tokenLogprobs = [nil] + mixed.map { $0 }
            score.baseTokenLogprobs = [nil] + baseLogprobs.map { $0 }
            score.mixingWeights = [nil] + weights.map { $0 }
            score.thoughts = [nil] + thoughts.map { $0 }
            score.baseEntropies = [nil] + entropies.map { Double($0) }
            score.baseTopProbabilities = [nil] + tops.map { Double($0) }
        }
        return score
    }
}
