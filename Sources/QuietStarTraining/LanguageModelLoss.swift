import QuietStarCheckpoint
import QuietStarKernels
import QuietStarModel

/// One causal sequence of a training batch: its tokens from position 0, and which next-token
/// targets count. Target `t` (for `t` in `0..<tokens.count - 1`) is `tokens[t + 1]` predicted from
/// position `t`; it counts when `t >= firstTarget`. A text window's document gives
/// `firstTarget = 0`; a prompt/completion example gives the index of the last prompt token, so
/// only completion tokens (and the closing EOS) are predicted.
public struct TrainingSequence: Sendable, Equatable {
    public var tokens: [Int32]
    public var firstTarget: Int

    public init(tokens: [Int32], firstTarget: Int = 0) {
        self.tokens = tokens
        self.firstTarget = firstTarget
    }

    /// Targets that count.
    public var targetCount: Int { max(0, tokens.count - 1 - firstTarget) }
}

/// The language-modelling loss of a batch of sequences and its gradient, by one `Transformer.step`
/// over all their tokens (each sequence in its own run of cache rows, attending causally within
/// itself, a sliding window applied as in inference) and one `Transformer.backward`.
///
/// The loss of a step is one mean over every counted target of the step (all micro-batches of a
/// gradient-accumulation step together, not a mean of per-sequence means): each micro-batch
/// passes `scale = 1 / (counted targets of the whole step)`, so summed gradients are the gradient
/// of that mean.
public final class LanguageModelLoss {
    public let transformer: Transformer
    private var cache: KVCache?
    private var batch = StepBatch()
    private var targets: [Int32] = []
    private var dLoss: [Float] = []
    private var losses: [Float] = []

    public init(weights: ModelWeights) {
        transformer = Transformer(weights: weights, keepsLayerActivations: true)
    }

    /// Runs the forward pass over `sequences` and, when `gradients` is given or `inputGradients`
    /// is wanted, the backward pass with every counted target weighted by `scale`. Returns the sum
    /// of the counted targets' losses (nats) and their number.
    @discardableResult
    public func run(_ sequences: [TrainingSequence], scale: Float, gradients: ModelGradients?, backward: Bool = true)
        throws(TrainingError) -> (lossSum: Double, targets: Int) {
        let c = transformer.config
        let rows = sequences.reduce(0) { $0 + $1.tokens.count }
        guard rows > 0 else { return (0, 0) }
        for (i, s) in sequences.enumerated() {
            guard s.tokens.count <= c.contextLength else {
                throw TrainingError("training sequence \(i) has \(s.tokens.count) tokens, more than the context length \(c.contextLength)")
            }
            if let bad = s.tokens.first(where: { $0 < 0 || Int($0) >= c.vocabSize }) {
                throw TrainingError("training sequence \(i) has token id \(bad), outside the vocabulary of \(c.vocabSize)")
            }
        }
        if cache == nil || cache!.totalRows < rows {
            do { cache = try KVCache(config: c, slots: 1, rowsPerSlot: max(rows, (cache?.totalRows ?? 0) * 3 / 2)) }
            catch { throw TrainingError("\(error)") }
        }
        let cache = self.cache!
        batch.removeAll()
        targets.removeAll(keepingCapacity: true)
        dLoss.removeAll(keepingCapacity: true)
        var base = 0
        var counted = 0
        for s in sequences {
            let n = s.tokens.count
            for p in 0..<n {
                let first = c.slidingWindow.map { max(0, p - $0 + 1) } ?? 0
                batch.append(token: s.tokens[p], position: p, cacheRow: base + p,
                             visible: KeyRange(start: base + first, count: p - first + 1), logits: true)
                let counts = p + 1 < n && p >= s.firstTarget
                targets.append(counts ? s.tokens[p + 1] : -1)
                dLoss.append(counts ? scale : 0)
                if counts { counted += 1 }
            }
            base += n
        }
        let out = transformer.step(batch, cache: cache)
        if losses.count < rows { losses = [Float](repeating: 0, count: rows) }
        let vocab = c.vocabSize
        targets.withUnsafeBufferPointer { t in
            losses.withUnsafeMutableBufferPointer { l in
                CrossEntropy.forward(logits: out.logits, rows: rows, vocab: vocab, targets: t.baseAddress!,
                                     lossPerRow: l.baseAddress!)
            }
        }
        var sum = 0.0
        for r in 0..<rows where targets[r] >= 0 { sum += Double(losses[r]) }
        if backward {
            // The logits are not needed after the loss: their gradient overwrites them.
            let logits = UnsafeMutablePointer(mutating: out.logits)
            targets.withUnsafeBufferPointer { t in
                dLoss.withUnsafeBufferPointer { d in
                    CrossEntropy.backward(logits: logits, rows: rows, vocab: vocab, targets: t.baseAddress!,
                                          dLoss: d.baseAddress!, dLogits: logits)
                }
            }
            transformer.backward(batch, cache: cache, dLogits: logits, gradients: gradients)
        }
        return (sum, counted)
    }
}
