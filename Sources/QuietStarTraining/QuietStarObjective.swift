import Foundation
import QuietStarCheckpoint
import QuietStarKernels
import QuietStarModel

/// The constants of Quiet-STaR training, with the reference's defaults (ezelikman/quiet-star:
/// `modeling_mistral.py` and `quiet-star-train.py`; names in brackets).
public struct QuietStarHyperparameters: Codable, Sendable, Equatable {
    /// Content tokens per thought, between the start and end markers [the reference's
    /// `n_ahead` counts forward passes: content tokens + 3].
    public var thoughtTokens = 9
    /// True tokens scored after the end marker, teacher-forced [`n_ahead_talk` = 4].
    public var lookahead = 4
    /// Independent thoughts per position; the baseline of the reward is their mean [`n_passes` = 2].
    public var passes = 2
    /// Temperature of the policy's log-probabilities [`reinforce_temperature` = 3].
    public var policyTemperature = 3.0
    /// Weight of the REINFORCE term [`policy_loss_beta` = 1e6].
    public var policyWeight = 1e6
    /// Weight of the base NLL; the mixed NLL gets `1 - baseWeight` [`original_loss_weight` = 0.5].
    public var baseWeight = 0.5
    /// Thought embeddings are trained divided by this [the reference's constant 100].
    public var embeddingScale = 100.0
    /// Temperature at which content tokens are sampled during training [1, gumbel-softmax's].
    public var thoughtTemperature = 1.0

    public init() {}

    public func validate() throws(TrainingError) {
        func require(_ ok: Bool, _ m: String) throws(TrainingError) { if !ok { throw TrainingError(m, kind: .usage) } }
        try require((1...QuietStarSettings.maxThoughtTokens).contains(thoughtTokens),
                    "thought tokens must be in 1...\(QuietStarSettings.maxThoughtTokens)")
        try require(lookahead >= 1, "the lookahead must be at least 1")
        try require(passes >= 1, "passes must be at least 1")
        try require(policyTemperature > 0 && policyWeight >= 0 && (0...1).contains(baseWeight),
                    "the policy temperature must be positive, the policy weight not negative, the base weight in 0...1")
        try require(embeddingScale > 0 && thoughtTemperature > 0, "the embedding scale and thought temperature must be positive")
    }
}

/// What one Quiet-STaR forward measured.
public struct QuietStarMetrics: Sendable, Equatable {
    public var baseNLL = 0.0
    /// Mean over talk steps of each step's mixed NLL (the reference's term). Step m only scores
    /// targets from index m + 1 on, so this is not comparable with `baseNLL`; step 0 is.
    public var mixedNLL = 0.0
    /// Mixed NLL per talk step (m = 0 ..< lookahead). Step 0 predicts the same targets as the
    /// base NLL (and is what `quietstar-run --thoughts` computes).
    public var mixedNLLPerStep: [Double] = []
    public var policy = 0.0
    public var total = 0.0
    public var meanW = 0.0
    public var meanReward = 0.0
    /// Fraction of the scored policy slots with a positive advantage.
    public var positiveRewardFraction = 0.0
    public var baseTargets = 0
    public var policySlots = 0

    /// Adds `m`'s means and counts (to average micro-batches: add them, then `averaged(over:)`).
    public mutating func add(_ m: QuietStarMetrics) {
        baseNLL += m.baseNLL
        mixedNLL += m.mixedNLL
        mixedNLLPerStep = mixedNLLPerStep.isEmpty ? m.mixedNLLPerStep : zip(mixedNLLPerStep, m.mixedNLLPerStep).map(+)
        policy += m.policy
        total += m.total
        meanW += m.meanW
        meanReward += m.meanReward
        positiveRewardFraction += m.positiveRewardFraction
        baseTargets += m.baseTargets
        policySlots += m.policySlots
    }

    /// The means divided by `n` (the counts stay sums).
    public func averaged(over n: Int) -> QuietStarMetrics {
        guard n > 1 else { return self }
        var m = self
        let d = Double(n)
        m.baseNLL /= d
        m.mixedNLL /= d
        m.mixedNLLPerStep = mixedNLLPerStep.map { $0 / d }
        m.policy /= d
        m.total /= d
        m.meanW /= d
        m.meanReward /= d
        m.positiveRewardFraction /= d
        return m
    }
}

/// The Quiet-STaR training objective (the reference's, term for term; see
/// `tools/reference/quietstar_train_reference.py` for the full statement with indices), its
/// forward and its gradient, by ONE `Transformer.step` over every row and one
/// `Transformer.backward`:
///
/// - text rows: each sequence causal from position 0 (the base pass, `h_base`, base log-probs);
/// - per sequence `b`, pass `p` and position `t <= n_b - 2`, a stream `START, c_1..c_k, END,
///   x_{t+1}..x_{t+M}` (M = min(A - 1, n_b - 2 - t): teacher-forced true tokens) at rotary
///   positions `t+1, t+2, ...`, seeing the text `0...t` and its own earlier rows;
/// - talk step m: `w = head([h_base[t+m]; h_s])` with `h_s` the stream state at END (m = 0) or
///   at `x_{t+m}`, mixed log-prob `log_softmax(lm_head((1-w) h_base[t+m] + w h_s))[x_{t+m+1}]`;
/// - loss `baseWeight x base NLL + (1 - baseWeight) x mixed NLL + policyWeight x policy`, the
///   policy the REINFORCE term on the content tokens' log-probs at the policy temperature (both
///   markers masked), advantage `max(0, reward - mean over passes)` detached, the reward the sum
///   over scored talk steps of `mixed - base` log-prob, only for `t <= L - A - 2` (L the longest
///   sequence of the batch, as the reference's padded length).
///
/// Averages are the reference's: each CE term a mean over its counted targets (each talk step its
/// own count), the policy a mean over all `B x P x (L - 1 - A)` slots, then over the k tokens.
/// The one deliberate difference: the reference ignores every target equal to its pad id (its
/// EOS); we have no padding and count EOS targets.
public final class QuietStarObjective {
    public let parameters: Parameters
    public let hyper: QuietStarHyperparameters
    public let startTokenId: Int32
    public let endTokenId: Int32
    /// The base model is frozen (only the thought embeddings and the mixing head train).
    public var freezesBase = false
    /// The advantages of the last `run`, one per stream (sequence-major, then pass, then position).
    public private(set) var lastAdvantages: [Double] = []
    /// When set, `run` uses these advantages instead of computing them: the reference detaches
    /// them, so a finite-difference check of the policy term must hold them fixed.
    public var heldAdvantages: [Double]?
    let transformer: Transformer
    private let sampler: Transformer
    let head: MixingHead
    private let workspace = MixingHeadWorkspace()
    private let scratch = Scratch()
    /// The first of this objective's own slots in `scratch`: the kernels it calls with the same
    /// scratch (Linear, Gemm) use the slots below.
    private let ownSlots = Linear.scratchSlots.upperBound

    /// `parameters` must hold the model and the Quiet-STaR tensors (`TensorNames.thought`), the
    /// thought embeddings in trained units (`fileScales` set to the embedding scale).
    public init(parameters: Parameters, hyper: QuietStarHyperparameters, startTokenId: Int32, endTokenId: Int32)
        throws(TrainingError) {
        try hyper.validate()
        let c = parameters.config
        for e in TensorNames.thought(c) where parameters.layout.tensor(e.name) == nil {
            throw TrainingError("the parameters lack the Quiet-STaR tensor \(e.name)")
        }
        guard startTokenId >= 0, endTokenId >= 0, Int(max(startTokenId, endTokenId)) < c.vocabSize, startTokenId != endTokenId else {
            throw TrainingError("the start/end-of-thought ids \(startTokenId), \(endTokenId) must be two ids of the vocabulary")
        }
        if let window = c.slidingWindow, window < c.contextLength + hyper.thoughtTokens + hyper.lookahead + 2 {
            throw TrainingError("Quiet-STaR training does not support a sliding window (\(window)) shorter than the context plus a thought", kind: .usage)
        }
        self.parameters = parameters
        self.hyper = hyper
        self.startTokenId = startTokenId
        self.endTokenId = endTokenId
        transformer = Transformer(weights: parameters.weights, keepsLayerActivations: true)
        sampler = Transformer(weights: parameters.weights)
        func matrix(_ t: TensorNames.Thought) -> WeightMatrix {
            let shape = t.shape(c)
            return WeightMatrix(encoding: .f32, rows: shape[0], cols: shape[1], base: UnsafeRawPointer(parameters.pointer(t.rawValue)))
        }
        head = MixingHead(hiddenSize: c.hiddenSize, w0: matrix(.mixing0Weight),
                          b0: UnsafePointer(parameters.pointer(TensorNames.Thought.mixing0Bias.rawValue)),
                          w1: matrix(.mixing1Weight), b1: UnsafePointer(parameters.pointer(TensorNames.Thought.mixing1Bias.rawValue)),
                          w2: matrix(.mixing2Weight), output: .identity)
    }

    /// Content tokens `[b][p][t][i]` for every position `t <= n_b - 2` (shorter lists elsewhere
    /// are fine: positions past that have no stream). Sampled from the model itself at the thought
    /// temperature, both markers excluded, the stream of (b, p, t) from its own generator.
    public func sampleThoughts(_ sequences: [[Int32]], seed: UInt64) throws(TrainingError) -> [[[[Int32]]]] {
        let c = parameters.config, k = hyper.thoughtTokens, P = hyper.passes
        let layout = try Layout(sequences, k: k, lookahead: hyper.lookahead, passes: P, config: c)
        var content = sequences.map { s in (0..<P).map { _ in [[Int32]](repeating: [], count: s.count) } }
        var randoms: [LineRandom] = layout.streams.map { LineRandom(seed: seed, line: UInt64($0.index)) }
        let vocab = c.vocabSize
        var batch = StepBatch()
        let start = startPointer, temperature = Float(hyper.thoughtTemperature)
        var probabilities = [Float](repeating: 0, count: vocab)
        for j in 0..<k {
            batch.removeAll()
            if j == 0 {
                for (b, s) in sequences.enumerated() {
                    for (t, id) in s.enumerated() {
                        batch.append(token: id, position: t, cacheRow: layout.cache.textRow(slot: b, position: t),
                                     visible: layout.cache.visibleRows(slot: b, position: t, window: c.slidingWindow), logits: false)
                    }
                }
            }
            for st in layout.streams {
                let r = layout.ranges(st, step: j)
                if j == 0 {
                    batch.append(embedding: start, position: st.t + 1, cacheRow: st.row, visible: r.visible, extra: r.extra, logits: true)
                } else {
                    batch.append(token: content[st.b][st.p][st.t][j - 1], position: st.t + 1 + j, cacheRow: st.row + j,
                                 visible: r.visible, extra: r.extra, logits: true)
                }
            }
            let out = sampler.step(batch, cache: layout.cache)
            for (n, st) in layout.streams.enumerated() {
                let logits = out.logits(n)
                var m = -Float.infinity
                for v in 0..<vocab where v != Int(startTokenId) && v != Int(endTokenId) { m = max(m, logits[v] / temperature) }
                var sum: Float = 0
                for v in 0..<vocab {
                    let e = (v == Int(startTokenId) || v == Int(endTokenId)) ? 0 : Foundation.exp(logits[v] / temperature - m)
                    probabilities[v] = e
                    sum += e
                }
                var u = Float(randoms[n].nextUnit()) * sum
                var pick = vocab - 1
                for v in 0..<vocab where probabilities[v] > 0 {
                    u -= probabilities[v]
                    if u < 0 { pick = v; break }
                }
                if probabilities[pick] == 0 { pick = (0..<vocab).first { probabilities[$0] > 0 } ?? 0 }
                content[st.b][st.p][st.t].append(Int32(pick))
            }
        }
        return content
    }

    private var startPointer: UnsafePointer<Float> { UnsafePointer(effective(.startEmbedding)) }
    private var endPointer: UnsafePointer<Float> { UnsafePointer(effective(.endEmbedding)) }
    private var effectiveVectors: [TensorNames.Thought: UnsafeMutablePointer<Float>] = [:]

    /// The effective (scaled) start/end vector, refreshed from the trained values on each call.
    private func effective(_ t: TensorNames.Thought) -> UnsafeMutablePointer<Float> {
        let h = parameters.config.hiddenSize
        let p = effectiveVectors[t] ?? {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: h)
            effectiveVectors[t] = p
            return p
        }()
        let stored = parameters.pointer(t.rawValue), scale = Float(hyper.embeddingScale)
        for i in 0..<h { p[i] = stored[i] * scale }
        return p
    }

    deinit { for p in effectiveVectors.values { p.deallocate() } }

    /// The term weights (base, mixed, policy); the reference's by default. Tests pass one term at a time.
    public struct TermWeights: Sendable {
        public var base: Double
        public var mixed: Double
        public var policy: Double
        public init(base: Double, mixed: Double, policy: Double) {
            self.base = base
            self.mixed = mixed
            self.policy = policy
        }
    }

    public var referenceWeights: TermWeights {
        TermWeights(base: hyper.baseWeight, mixed: 1 - hyper.baseWeight, policy: hyper.policyWeight)
    }

    /// Forward (and, with `gradients`, backward) of the objective on `sequences` (each from BOS,
    /// at most the context length) with the given content tokens. The gradient of
    /// `scale x total` is added into `gradients` (laid out as `parameters`).
    public func run(_ sequences: [[Int32]], content: [[[[Int32]]]], weights: TermWeights? = nil, scale: Double = 1,
                    gradients: FloatBuffer?) throws(TrainingError) -> QuietStarMetrics {
        let c = parameters.config, k = hyper.thoughtTokens, A = hyper.lookahead, P = hyper.passes
        let H = c.hiddenSize, V = c.vocabSize
        let weights = weights ?? referenceWeights
        let layout = try Layout(sequences, k: k, lookahead: A, passes: P, config: c)
        for st in layout.streams where content[st.b][st.p][st.t].count < k {
            throw TrainingError("no \(k) content tokens for sequence \(st.b), pass \(st.p), position \(st.t)")
        }
        let B = sequences.count, L = layout.paddedLength

        // One step: text rows (all want logits: the base CE), then every stream's rows; START and
        // c_1..c_{k-1} want logits (the policy's log-probs); END and the teacher-forced tokens give
        // the talk states through the hidden output.
        var batch = StepBatch()
        let start = startPointer, end = endPointer
        var textRowIndex: [[Int]] = []
        var targets: [Int32] = []   // per logit row: the base target, or the content token (policy)
        for (b, s) in sequences.enumerated() {
            var rows: [Int] = []
            for (t, id) in s.enumerated() {
                rows.append(batch.append(token: id, position: t, cacheRow: layout.cache.textRow(slot: b, position: t),
                                         visible: layout.cache.visibleRows(slot: b, position: t, window: c.slidingWindow),
                                         logits: true))
                targets.append(t + 1 < s.count ? s[t + 1] : -1)
            }
            textRowIndex.append(rows)
        }
        var streamRows: [Int] = []   // row of each stream's START
        for st in layout.streams {
            let s = sequences[st.b], thought = content[st.b][st.p][st.t]
            let first = batch.count
            streamRows.append(first)
            for j in 0..<st.length {
                let r = layout.ranges(st, step: j)
                let position = st.t + 1 + j
                let wantsLogits = j < k   // START (j = 0) and c_1..c_{k-1} (j = 1..k-1)
                if j == 0 {
                    batch.append(embedding: start, position: position, cacheRow: st.row, visible: r.visible, extra: r.extra, logits: true)
                } else if j <= k {
                    batch.append(token: thought[j - 1], position: position, cacheRow: st.row + j, visible: r.visible,
                                 extra: r.extra, logits: wantsLogits)
                } else if j == k + 1 {
                    batch.append(embedding: end, position: position, cacheRow: st.row + j, visible: r.visible, extra: r.extra, logits: false)
                } else {
                    let m = j - k - 1
                    batch.append(token: s[st.t + m], position: position, cacheRow: st.row + j, visible: r.visible,
                                 extra: r.extra, logits: false)
                }
                if wantsLogits { targets.append(thought[j]) }
            }
        }
        let out = transformer.step(batch, cache: layout.cache)
        let rows = batch.count, logitRows = batch.logitCount

        // Base log-probs at every text row.
        var lossPerRow = [Float](repeating: 0, count: logitRows)
        var lse = [Float](repeating: 0, count: logitRows)
        let textLogitRows = sequences.reduce(0) { $0 + $1.count }
        CrossEntropy.forward(logits: out.logits, rows: textLogitRows, vocab: V, targets: targets, lossPerRow: &lossPerRow,
                             logSumExp: &lse)
        var baseLP: [[Double]] = []
        var baseCount = 0, baseSum = 0.0
        var at = 0
        for s in sequences {
            var lp: [Double] = []
            for t in 0..<s.count {
                if t + 1 < s.count {
                    lp.append(-Double(lossPerRow[at]))
                    baseSum += Double(lossPerRow[at])
                    baseCount += 1
                }
                at += 1
            }
            baseLP.append(lp)
        }

        // Talk steps: gather (h_base[t+m], h_s) pairs, mixing head, blend, LM head, CE.
        struct Talk { var stream: Int; var m: Int; var baseRow: Int; var talkRow: Int; var target: Int32 }
        var talks: [Talk] = []
        for (n, st) in layout.streams.enumerated() {
            let s = sequences[st.b]
            for m in 0..<A where st.t + m + 1 <= s.count - 1 {
                talks.append(Talk(stream: n, m: m, baseRow: textRowIndex[st.b][st.t + m], talkRow: streamRows[n] + k + 1 + m,
                                  target: s[st.t + m + 1]))
            }
        }
        let R = talks.count
        let hBase = scratch.floats(R * H, slot: ownSlots + 0), hTalk = scratch.floats(R * H, slot: ownSlots + 1)
        let mixed = scratch.floats(R * H, slot: ownSlots + 2), mixedLogits = scratch.floats(R * V, slot: ownSlots + 3)
        for (i, talk) in talks.enumerated() {
            (hBase + i * H).update(from: out.hidden(row: talk.baseRow), count: H)
            (hTalk + i * H).update(from: out.hidden(row: talk.talkRow), count: H)
        }
        var w = [Float](repeating: 0, count: R)
        head.forward(base: hBase, thought: hTalk, rows: R, workspace: workspace, weights: &w)
        Elementwise.blend(hBase, hTalk, weights: w, rows: R, dim: H, into: mixed)
        Linear.forward(x: mixed, rows: R, weight: parameters.weights.output, bias: nil, out: mixedLogits, scratch: scratch,
                       strategy: transformer.linearStrategy)
        var mixedLoss = [Float](repeating: 0, count: R)
        let talkTargets = talks.map(\.target)
        CrossEntropy.forward(logits: mixedLogits, rows: R, vocab: V, targets: talkTargets, lossPerRow: &mixedLoss)
        var stepCount = [Int](repeating: 0, count: A), stepSum = [Double](repeating: 0, count: A)
        var reward = [Double](repeating: 0, count: layout.streams.count)
        for (i, talk) in talks.enumerated() {
            stepCount[talk.m] += 1
            stepSum[talk.m] += Double(mixedLoss[i])
            let st = layout.streams[talk.stream]
            reward[talk.stream] += -Double(mixedLoss[i]) - baseLP[st.b][st.t + talk.m]
        }
        var metrics = QuietStarMetrics()
        metrics.baseTargets = baseCount
        metrics.baseNLL = baseCount > 0 ? baseSum / Double(baseCount) : 0
        metrics.mixedNLLPerStep = (0..<A).map { stepCount[$0] > 0 ? stepSum[$0] / Double(stepCount[$0]) : 0 }
        metrics.mixedNLL = metrics.mixedNLLPerStep.reduce(0, +) / Double(A)
        metrics.meanW = R > 0 ? w.reduce(0) { $0 + Double($1) } / Double(R) : 0

        // Rewards and advantages on the policy slots t <= L - A - 2.
        let lastSlot = L - A - 2
        var advantage = [Double](repeating: 0, count: layout.streams.count)
        var slotIndex: [Int: [Int]] = [:]   // (b, t) -> the streams of its passes
        for (n, st) in layout.streams.enumerated() where st.t <= lastSlot { slotIndex[st.b * L + st.t, default: []].append(n) }
        var rewardSum = 0.0, positive = 0, slots = 0
        for (_, streams) in slotIndex {
            // Every pass of a slot has a stream (same t, same b), so the mean is over all P.
            let mean = streams.reduce(0) { $0 + reward[$1] } / Double(P)
            for n in streams {
                advantage[n] = max(0, reward[n] - mean)
                rewardSum += reward[n]
                slots += 1
                if advantage[n] > 0 { positive += 1 }
            }
        }
        if let held = heldAdvantages {
            precondition(held.count == advantage.count, "QuietStarObjective: held advantages for another batch")
            advantage = held
        }
        lastAdvantages = advantage
        metrics.meanReward = slots > 0 ? rewardSum / Double(slots) : 0
        metrics.positiveRewardFraction = slots > 0 ? Double(positive) / Double(slots) : 0
        let denominator = Double(B * P * max(1, L - 1 - A))
        metrics.policySlots = B * P * max(0, L - 1 - A)

        // Policy log-probs at temperature T with both markers masked: log pi = log_softmax(q / T)[c].
        let T = Float(hyper.policyTemperature)
        let policyLogits = out.logits + textLogitRows * V
        let policyRows = logitRows - textLogitRows
        let tempered = scratch.floats(max(1, policyRows) * V, slot: ownSlots + 4)
        for r in 0..<policyRows {
            let src = policyLogits + r * V, dst = tempered + r * V
            for v in 0..<V { dst[v] = src[v] / T }
            dst[Int(startTokenId)] = -1e10
            dst[Int(endTokenId)] = -1e10
        }
        var policyLoss = [Float](repeating: 0, count: max(1, policyRows))
        let policyTargets = Array(targets[textLogitRows...])
        CrossEntropy.forward(logits: tempered, rows: policyRows, vocab: V, targets: policyTargets, lossPerRow: &policyLoss)
        var policy = 0.0
        for (n, _) in layout.streams.enumerated() where advantage[n] > 0 {
            for i in 0..<k { policy += advantage[n] * Double(policyLoss[n * k + i]) }
        }
        metrics.policy = policy / denominator / Double(k)
        metrics.total = weights.base * metrics.baseNLL + weights.mixed * metrics.mixedNLL + weights.policy * metrics.policy

        guard let gradients else { return metrics }

        // Backward. dLogits: base CE on text rows, REINFORCE on policy rows.
        let dLogits = scratch.floats(logitRows * V, slot: ownSlots + 5)
        var dBase = [Float](repeating: 0, count: textLogitRows)
        for r in 0..<textLogitRows where targets[r] >= 0 { dBase[r] = Float(scale * weights.base / Double(max(1, baseCount))) }
        CrossEntropy.backward(logits: out.logits, rows: textLogitRows, vocab: V, targets: targets, dLoss: dBase, dLogits: dLogits)
        // d(policy)/d(log pi) = -advantage / (denominator k); log pi = -CE of the tempered logits.
        var dPolicy = [Float](repeating: 0, count: max(1, policyRows))
        for n in 0..<layout.streams.count where advantage[n] > 0 {
            for i in 0..<k { dPolicy[n * k + i] = Float(scale * weights.policy * advantage[n] / denominator / Double(k)) }
        }
        let dTempered = dLogits + textLogitRows * V
        CrossEntropy.backward(logits: tempered, rows: policyRows, vocab: V, targets: policyTargets, dLoss: dPolicy, dLogits: dTempered)
        for r in 0..<policyRows {
            let d = dTempered + r * V
            for v in 0..<V { d[v] /= T }
            d[Int(startTokenId)] = 0
            d[Int(endTokenId)] = 0
        }

        // Mixed CE -> LM head -> blend -> mixing head -> hidden states.
        var dMixed = [Float](repeating: 0, count: R)
        for (i, talk) in talks.enumerated() {
            dMixed[i] = Float(scale * weights.mixed / Double(A) / Double(max(1, stepCount[talk.m])))
        }
        let dMixedLogits = scratch.floats(R * V, slot: ownSlots + 6)
        CrossEntropy.backward(logits: mixedLogits, rows: R, vocab: V, targets: talkTargets, dLoss: dMixed, dLogits: dMixedLogits)
        let grads = parameters.gradients(in: gradients)
        let dMixedHidden = scratch.floats(R * H, slot: ownSlots + 7)
        Linear.backward(dy: dMixedLogits, x: mixed, rows: R, weight: parameters.weights.output, dx: dMixedHidden,
                        accumulateDx: false, dWeight: freezesBase ? nil : (grads.output ?? grads.embedding), dBias: nil, scratch: scratch,
                        strategy: transformer.linearStrategy)
        let dHBase = scratch.floats(R * H, slot: ownSlots + 8), dHTalk = scratch.floats(R * H, slot: ownSlots + 9)
        dHBase.update(repeating: 0, count: R * H)
        dHTalk.update(repeating: 0, count: R * H)
        var dw = [Float](repeating: 0, count: R)
        Elementwise.blendBackward(dOut: dMixedHidden, hBase, hTalk, weights: w, rows: R, dim: H, dA: dHBase, dB: dHTalk,
                                  dWeights: &dw)
        func g(_ t: TensorNames.Thought) -> UnsafeMutablePointer<Float> { gradients.base + parameters.layout.offset(t.rawValue) }
        head.backward(dw: dw, rows: R, workspace: workspace, dBase: dHBase, dThought: dHTalk,
                      gradients: MixingHeadGradients(w0: g(.mixing0Weight), b0: g(.mixing0Bias), w1: g(.mixing1Weight),
                                                     b1: g(.mixing1Bias), w2: g(.mixing2Weight)))
        let dHidden = scratch.floats(rows * H, slot: ownSlots + 10)
        dHidden.update(repeating: 0, count: rows * H)
        for (i, talk) in talks.enumerated() {
            Elementwise.add(dHidden + talk.baseRow * H, dHBase + i * H, into: dHidden + talk.baseRow * H, count: H)
            Elementwise.add(dHidden + talk.talkRow * H, dHTalk + i * H, into: dHidden + talk.talkRow * H, count: H)
        }
        let dInput = transformer.backward(batch, cache: layout.cache, dLogits: dLogits, dHidden: dHidden,
                                          gradients: freezesBase ? nil : grads)
        // The injected rows: d(stored) = scale x d(effective).
        let dStart = g(.startEmbedding), dEnd = g(.endEmbedding), s = Float(hyper.embeddingScale)
        for first in streamRows {
            let endRow = first + k + 1
            for i in 0..<H {
                dStart[i] += s * dInput[first * H + i]
                dEnd[i] += s * dInput[endRow * H + i]
            }
        }
        return metrics
    }

    /// Where every row of a Quiet-STaR batch lives: sequence `b`'s text in cache slot `b`, then
    /// each stream's `length` rows contiguous in the scratch region.
    struct Layout {
        struct Stream { var b: Int; var p: Int; var t: Int; var row: Int; var length: Int; var index: Int }
        let cache: KVCache
        let streams: [Stream]
        let paddedLength: Int
        let window: Int?

        init(_ sequences: [[Int32]], k: Int, lookahead A: Int, passes P: Int, config c: ModelConfig) throws(TrainingError) {
            guard !sequences.isEmpty, let L = sequences.map(\.count).max(), L >= 2 else {
                throw TrainingError("a Quiet-STaR batch needs a sequence of at least two tokens")
            }
            guard L <= c.contextLength else {
                throw TrainingError("a sequence of \(L) tokens is longer than the context length \(c.contextLength)")
            }
            var streams: [Stream] = []
            var row = 0
            for (b, s) in sequences.enumerated() {
                for p in 0..<P {
                    for t in 0..<max(0, s.count - 1) {
                        // START, k content tokens, END, then x_{t+1}..x_{t+M}.
                        let m = min(A - 1, s.count - 2 - t)
                        let length = k + 2 + m
                        streams.append(Stream(b: b, p: p, t: t, row: row, length: length, index: streams.count))
                        row += length
                    }
                }
            }
            let cache: KVCache
            do { cache = try KVCache(config: c, slots: sequences.count, rowsPerSlot: L, scratchRows: max(1, row)) }
            catch { throw TrainingError("\(error)") }
            // Stream rows are arena rows from the scratch region on.
            self.cache = cache
            self.streams = streams.map { var s = $0; s.row = cache.scratchRow(s.row); return s }
            paddedLength = L
            window = c.slidingWindow
        }

        func ranges(_ s: Stream, step j: Int) -> (visible: KeyRange, extra: KeyRange) {
            cache.thoughtRanges(slot: s.b, textPosition: s.t, step: j, streamStart: s.row, window: window)
        }
    }
}
