import QuietStarKernels

/// Where a thought row's keys go and what it sees.
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

/// The thought pass: the one sequence that scoring, generation and (next) training run to think
/// after a text position, whatever schedules it.
///
/// For each stream (slot, text position `i`, pass) it is `k + 2` transformer steps, one row per
/// stream per step, laid out by `KVCache.thoughtRanges`:
/// 1. `appendRow(step: 0)` feeds the start vector; `appendRow(step: j)` for `1...k` feeds content
///    token `c_j`; `appendRow(step: k + 1)` feeds the end vector. Rows `0..<k` want logits.
/// 2. After steps `0..<k`, `drawContent` draws `c_{j+1}` from those logits (markers masked, at the
///    thought temperature, from the stream's own generator `random(line:position:pass:)`).
/// 3. After step `k + 1`, the caller gathers `h_base` (the text row at `i`) and `h_end` (the end
///    row) into `mixer.base` / `mixer.end`, and `mixer.mix(rows:)` gives `w` and the mixed logits.
///
/// A scorer runs the steps back to back for packs of streams; the generator fuses step 0 with
/// the text row it follows (all keys of a step are stored before any row attends), so a token
/// costs `k + 2` steps. Options are validated once, here.
public final class ThoughtPass {
    public let thoughts: ThoughtParameters
    public let options: ThoughtOptions
    let sampler: ThoughtSampler
    public let mixer: ThoughtMixer
    private let window: Int?

    public init(model: LanguageModel, options: ThoughtOptions) throws(ModelError) {
        guard let thoughts = model.thoughts else {
            throw ModelError(.invalidArgument, "\(model.path ?? "the model"): no thought parameters (thought.*, mixing_head.*, quietstar.*): a plain model cannot think")
        }
        try options.validate()
        self.thoughts = thoughts
        self.options = options
        sampler = ThoughtSampler(options: options, thoughts: thoughts, vocabSize: model.config.vocabSize)
        mixer = ThoughtMixer(weights: model.weights, thoughts: thoughts)
        window = model.config.slidingWindow
    }

    /// Content tokens per thought (k).
    public var thoughtTokens: Int { options.thoughtTokens }
    /// Rows per stream: start, k content tokens, end.
    public var steps: Int { options.steps }

    /// The generator of the stream thinking after `position` of line `line` (pass `pass`).
    public func random(line: Int, position: Int, pass: Int) -> LineRandom {
        ThoughtRandom.stream(seed: options.seed, line: line, position: position, pass: pass)
    }

    /// Appends step `step` of the stream after text position `textPosition` of `slot`, whose rows
    /// start at cache row `streamStart`: the start vector at step 0, `token` (content token
    /// `c_step`) at steps `1...k`, the end vector at step `k + 1`. Returns the row's index.
    @discardableResult
    public func appendRow(to batch: inout StepBatch, step j: Int, token: Int32, cache: KVCache, slot: Int,
                          textPosition i: Int, streamStart: Int) -> Int {
        let k = options.thoughtTokens
        let (visible, extra) = cache.thoughtRanges(slot: slot, textPosition: i, step: j, streamStart: streamStart, window: window)
        let position = i + 1 + j, row = streamStart + j, logits = j < k
        if j == 0 {
            return batch.append(embedding: thoughts.startEmbedding, position: position, cacheRow: row, visible: visible,
                                extra: extra, logits: logits)
        }
        if j == k + 1 {
            return batch.append(embedding: thoughts.endEmbedding, position: position, cacheRow: row, visible: visible,
                                extra: extra, logits: logits)
        }
        return batch.append(token: token, position: position, cacheRow: row, visible: visible, extra: extra, logits: logits)
    }

    /// Draws the next content token of `count` streams from their logit rows (contiguous,
    /// `count x vocab`), each from its own generator.
    public func drawContent(count: Int, logits: UnsafePointer<Float>, randoms: UnsafeMutablePointer<LineRandom>,
                            tokens: UnsafeMutablePointer<Int32>) {
        sampler.draw(count: count, logits: logits, randoms: randoms, tokens: tokens)
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
public final class ThoughtMixer {
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

    public func reserve(rows: Int) {
        guard rows > capacity else { return }
        storage?.deallocate()
        capacity = max(rows, capacity + capacity / 2)
        let n = capacity * (3 * hidden + 1 + vocab)
        storage = .allocate(capacity: n)
        storage!.initialize(repeating: 0, count: n)
    }

    /// Where callers gather `h_base` and `h_end` rows before `mix` (`rows x hidden` each).
    public var base: UnsafeMutablePointer<Float> { storage! }
    public var end: UnsafeMutablePointer<Float> { storage! + capacity * hidden }
    public var mixed: UnsafeMutablePointer<Float> { storage! + 2 * capacity * hidden }
    /// `w` per row, after `mix`.
    public var w: UnsafeMutablePointer<Float> { storage! + 3 * capacity * hidden }
    /// Mixed logits (`rows x vocab`), after `mix`.
    public var logits: UnsafeMutablePointer<Float> { storage! + 3 * capacity * hidden + capacity }

    /// Runs the head, the mix and the LM head over the first `rows` gathered rows.
    public func mix(rows: Int) {
        guard rows > 0 else { return }
        precondition(rows <= capacity, "ThoughtMixer: reserve(rows:) first")
        head.forward(base: base, thought: end, rows: rows, workspace: workspace, weights: w)
        Elementwise.blend(base, end, weights: w, rows: rows, dim: hidden, into: mixed)
        Linear.forward(x: mixed, rows: rows, weight: weights.output, bias: nil, out: logits, scratch: scratch)
    }
}
