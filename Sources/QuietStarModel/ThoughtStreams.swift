import QuietStarKernels

/// The pieces that scoring and generation with thoughts share: where a thought row's keys go and
/// what it sees, how content tokens are drawn, and how a finished thought is mixed in.
///
/// A thought after text position `i` of a slot is a stream of `k + 2` rows (start, `k` content
/// tokens, end) at inline rotary positions `i + 1 ... i + k + 2`. Its rows live in the cache's
/// scratch region, stream-major (`streamStart + j` for step `j`), so the stream's own earlier rows
/// are one contiguous span. Row `j` attends to two spans: the text rows `0...i` of its slot (span
/// A) and its own rows `0...j` (span B), each narrowed by the sliding window counted in inline
/// positions. Nothing else is visible, so streams never see each other, and the text never sees a
/// thought: dropping a thought is forgetting its scratch rows.
extension KVCache {
    /// The attention ranges of step `step` of the stream thinking after text position
    /// `textPosition` of `slot`, whose rows start at arena row `streamStart`.
    @inline(__always)
    public func thoughtRanges(slot: Int, textPosition i: Int, step j: Int, streamStart: Int,
                              window: Int?) -> (visible: KeyRange, extra: KeyRange) {
        let position = i + 1 + j
        // Oldest inline position inside the window (keys at positions > position - window).
        let oldest = window.map { position - $0 + 1 } ?? 0
        let ownFirst = max(0, oldest - (i + 1))   // first own row still visible
        let own = KeyRange(start: streamStart + ownFirst, count: j - ownFirst + 1)
        let textFirst = max(0, oldest)
        guard textFirst <= i else { return (own, .empty) }   // the window holds only the thought
        return (KeyRange(start: textRow(slot: slot, position: textFirst), count: i - textFirst + 1), own)
    }
}

extension StepBatch {
    /// Appends step `step` of a thought stream (see `KVCache.thoughtRanges`): the start vector at
    /// step 0, content token `token` at steps `1...k`, the end vector at step `k + 1`.
    @discardableResult
    mutating func appendThought(step j: Int, thoughtTokens k: Int, token: Int32, thoughts: ThoughtParameters,
                                cache: KVCache, slot: Int, textPosition i: Int, streamStart: Int, window: Int?,
                                logits: Bool) -> Int {
        let (visible, extra) = cache.thoughtRanges(slot: slot, textPosition: i, step: j, streamStart: streamStart, window: window)
        let position = i + 1 + j, row = streamStart + j
        if j == 0 {
            return append(embedding: thoughts.startEmbedding, position: position, cacheRow: row, visible: visible,
                          extra: extra, logits: logits)
        }
        if j == k + 1 {
            return append(embedding: thoughts.endEmbedding, position: position, cacheRow: row, visible: visible,
                          extra: extra, logits: logits)
        }
        return append(token: token, position: position, cacheRow: row, visible: visible, extra: extra, logits: logits)
    }
}

/// Draws thought content tokens: the LM head's distribution at the stream's last row, at the
/// thought temperature, with the start/end markers masked (never sampled). Many streams are drawn
/// in parallel, each from its own generator, so the draw depends only on the stream.
final class ThoughtSampler {
    let sampler: Sampler
    private var floats: UnsafeMutablePointer<Float>?
    private var order: UnsafeMutablePointer<Int32>?
    private var chunks = 0

    init(options: ThoughtOptions, thoughts: ThoughtParameters, vocabSize: Int) {
        sampler = Sampler(options: SamplingOptions(temperature: options.temperature, suppressedTokens: thoughts.markerIds),
                          vocabSize: vocabSize)
    }

    deinit {
        floats?.deallocate()
        order?.deallocate()
    }

    /// For each `i < count`: `tokens[i] = draw(logits row i, &randoms[i])`, the rows contiguous
    /// (`count x vocab` from `logits`).
    func draw(count: Int, logits: UnsafePointer<Float>, randoms: UnsafeMutablePointer<LineRandom>,
              tokens: UnsafeMutablePointer<Int32>) {
        guard count > 0 else { return }
        let vocab = sampler.vocabSize
        let sampler = self.sampler
        if sampler.options.isGreedy {
            Threads.parallelRanges(count, minChunk: max(1, 8192 / vocab)) { range in
                for i in range { tokens[i] = sampler.argmax(logits + i * vocab) }
            }
            return
        }
        let n = min(count, max(1, Threads.count * 4))
        if n > chunks {
            floats?.deallocate()
            order?.deallocate()
            floats = .allocate(capacity: n * vocab)
            order = .allocate(capacity: n * vocab)
            chunks = n
        }
        let (floats, order) = (self.floats!, self.order!)
        Threads.parallelFor(n) { c in
            for i in (count * c / n)..<(count * (c + 1) / n) {
                tokens[i] = sampler.sample(logits: logits + i * vocab, random: &randoms[i], probs: floats + c * vocab,
                                           order: order + c * vocab)
            }
        }
    }
}

/// Mixes finished thoughts into the text: `w = head(h_base, h_end)`, `h_mix = (1 - w) h_base +
/// w h_end`, `logits = lm_head(h_mix)`, for a batch of streams at once (one matrix product per
/// head layer and one for the LM head).
final class ThoughtMixer {
    let weights: ModelWeights
    let head: MixingHead
    let workspace = MixingHeadWorkspace()
    private let scratch = Scratch()
    private var capacity = 0
    private var storage: UnsafeMutablePointer<Float>?   // base, end, mixed (rows x H each), w, logits
    private let hidden: Int
    private let vocab: Int

    init(weights: ModelWeights, thoughts: ThoughtParameters) {
        self.weights = weights
        head = thoughts.mixingHead
        hidden = weights.config.hiddenSize
        vocab = weights.config.vocabSize
    }

    deinit { storage?.deallocate() }

    func reserve(rows: Int) {
        guard rows > capacity else { return }
        storage?.deallocate()
        capacity = max(rows, capacity + capacity / 2)
        let n = capacity * (3 * hidden + 1 + vocab)
        storage = .allocate(capacity: n)
        storage!.initialize(repeating: 0, count: n)
    }

    /// Where callers gather `h_base` and `h_end` rows before `mix` (`rows x hidden` each).
    var base: UnsafeMutablePointer<Float> { storage! }
    var end: UnsafeMutablePointer<Float> { storage! + capacity * hidden }
    var mixed: UnsafeMutablePointer<Float> { storage! + 2 * capacity * hidden }
    /// `w` per row, after `mix`.
    var w: UnsafeMutablePointer<Float> { storage! + 3 * capacity * hidden }
    /// Mixed logits (`rows x vocab`), after `mix`.
    var logits: UnsafeMutablePointer<Float> { storage! + 3 * capacity * hidden + capacity }

    /// Runs the head, the mix and the LM head over the first `rows` gathered rows.
    func mix(rows: Int) {
        guard rows > 0 else { return }
        precondition(rows <= capacity, "ThoughtMixer: reserve(rows:) first")
        head.forward(base: base, thought: end, rows: rows, workspace: workspace, weights: w)
        Elementwise.blend(base, end, weights: w, rows: rows, dim: hidden, into: mixed)
        Linear.forward(x: mixed, rows: rows, weight: weights.output, bias: nil, out: logits, scratch: scratch)
    }
}
