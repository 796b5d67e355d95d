import Dispatch
import QuietStarCheckpoint
import QuietStarKernels

/// What one step produced. Pointers stay valid until the next step on the same transformer.
public struct StepOutput {
    public let rows: Int
    public let logitRows: Int
    public let hiddenSize: Int
    public let vocabSize: Int
    /// Final-norm hidden states, `rows x hiddenSize`, in batch row order.
    public let hidden: UnsafePointer<Float>
    /// Logits, `logitRows x vocabSize`, in the order of `StepBatch.logitRows`.
    public let logits: UnsafePointer<Float>

    /// The final-norm hidden state of batch row `row`.
    @inline(__always)
    public func hidden(row: Int) -> UnsafePointer<Float> { hidden + row * hiddenSize }

    /// The logits of the `index`-th logit row (`StepBatch.logitIndex[row]`).
    @inline(__always)
    public func logits(_ index: Int) -> UnsafePointer<Float> { logits + index * vocabSize }
}

/// The transformer forward step: the one code path behind prefill, decode, thought steps and the
/// forward half of training.
///
/// A step takes any set of rows (`StepBatch`), runs them through every layer together so each
/// weight multiplication is a single matrix-matrix product over all rows, writes their keys and
/// values into the cache rows they name, lets each row attend to the cache ranges it names, and
/// returns final-norm hidden states (all rows) and logits (the rows that asked).
///
/// Per layer (LLaMA): `h = x + Wo·attn(rope(Wq·n1), rope(Wk·n1), Wv·n1)` with `n1 = rmsnorm(x)`,
/// then `x' = h + Wdown·(silu(Wgate·n2) ⊙ Wup·n2)` with `n2 = rmsnorm(h)`.
///
/// Not thread-safe: one step at a time per transformer (the kernels parallelise inside).
public final class Transformer: @unchecked Sendable {
    public let weights: ModelWeights
    public var config: ModelConfig { weights.config }
    public let activations: Activations
    public let rotary: RotaryTable
    private let scratch = Scratch()
    /// When set, each step adds its time per phase here (benchmarks, tuning).
    public var profile: StepProfile?
    /// How the step and its backward multiply by weight matrices. `.tiles` (the default) is our
    /// own kernels (`LinearTiles` forward, `Gemm` backward): batch-invariant, the same bits on every
    /// ISA path, and faster than sgemm wherever AVX-512 runs. `.blas` (OpenBLAS sgemm) stays for
    /// benchmarks to compare against.
    public var linearStrategy: Linear.Strategy = .tiles
    /// Row inputs for the embedding gather (injected-embedding rows read id 0, then are overwritten).
    private var gatherIds: [Int32] = []
    /// Gradient buffers of `backward`, grown on first use (inference never allocates them).
    private let backwardBuffers = BackwardBuffers()

    public init(weights: ModelWeights, keepsLayerActivations: Bool = false) {
        self.weights = weights
        let c = weights.config
        activations = Activations(config: c, keepsLayers: keepsLayerActivations)
        rotary = RotaryTable(headDim: c.headDim, theta: c.ropeTheta, scaling: Self.kernelScaling(c.ropeScaling),
                             maxPosition: c.contextLength)
    }

    static func kernelScaling(_ s: RopeScalingConfig) -> RotaryTable.RopeScaling {
        switch s {
        case .none: return .none
        case .linear(let f): return .linear(factor: f)
        case .dynamic(let f, let n): return .dynamicNTK(factor: f, originalContext: n)
        case .llama3(let f, let lo, let hi, let n):
            return .llama3(factor: f, lowFreqFactor: lo, highFreqFactor: hi, originalContext: n)
        }
    }

    /// Runs one step over `batch`, reading and writing `cache`.
    ///
    /// Preconditions (checked; a violation is a bug in the caller): every position is in
    /// `0..<contextLength`, every cache row and range lies inside the cache, every token id is
    /// below the vocabulary size, every row sees at least one key.
    public func step(_ batch: StepBatch, cache: KVCache) -> StepOutput {
        let c = config
        let rows = batch.count
        precondition(rows > 0, "Transformer.step: empty batch")
        precondition(cache.kvDim == c.kvDim && cache.layerCount == c.layerCount, "Transformer.step: cache built for another model")
        validate(batch, cache: cache)
        let a = activations
        a.reserve(rows: rows, logitRows: batch.logitCount)
        let hidden = c.hiddenSize, qDim = c.queryDim, kvDim = c.kvDim, inter = c.intermediateSize
        let eps = Float(c.rmsNormEps)

        // Embeddings: gather token rows, then drop injected vectors over their rows.
        let x0 = a.residual(0)
        gatherIds.removeAll(keepingCapacity: true)
        for id in batch.inputs { gatherIds.append(max(id, 0)) }
        gatherIds.withUnsafeBufferPointer { ids in
            timed(.embedding) {
                Embedding.forward(table: weights.embedding, ids: ids.baseAddress!, count: rows, out: x0)
            }
        }
        for (r, id) in batch.inputs.enumerated() where id < 0 {
            (x0 + r * hidden).update(from: batch.embeddings[Int(-1 - id)], count: hidden)
        }

        batch.positions.withUnsafeBufferPointer { positionsBuffer in
            let positions = positionsBuffer.baseAddress!
            for (l, w) in weights.layers.enumerated() {
                let x = a.residual(l)

                // Attention block.
                let n1 = a.attentionInput(l), q = a.queries(l), attnOut = a.attentionOutput(l), h = a.mid(l)
                timed(.norm) {
                    RMSNorm.forward(x: x, rows: rows, dim: hidden, weight: w.attnNorm, eps: eps, out: n1, rstd: a.attentionRstd(l))
                }
                timed(.attentionProjections) {
                    Linear.forward(x: n1, rows: rows, weight: w.q, bias: w.qBias, out: q,
                                   scratch: scratch, strategy: linearStrategy)
                    Linear.forward(x: n1, rows: rows, weight: w.k, bias: w.kBias, out: a.keys,
                                   scratch: scratch, strategy: linearStrategy)
                    Linear.forward(x: n1, rows: rows, weight: w.v, bias: w.vBias, out: a.values,
                                   scratch: scratch, strategy: linearStrategy)
                }
                timed(.rotary) {
                    Rotary.forward(q, rows: rows, heads: c.headCount, headDim: c.headDim, rowStride: qDim,
                                   positions: positions, table: rotary)
                    Rotary.forward(a.keys, rows: rows, heads: c.kvHeadCount, headDim: c.headDim, rowStride: kvDim,
                                   positions: positions, table: rotary)
                }
                timed(.cache) {
                    batch.cacheRows.withUnsafeBufferPointer { cacheRows in
                        cache.store(layer: l, rows: cacheRows.baseAddress!, count: rows, keys: a.keys, values: a.values)
                    }
                }
                timed(.attention) {
                    batch.visible.withUnsafeBufferPointer { visible in
                        batch.extra.withUnsafeBufferPointer { extra in
                            Attention.forward(q: q, rows: rows, heads: c.headCount, kvHeads: c.kvHeadCount, headDim: c.headDim,
                                              spans: { r in
                                                  let e = extra[r]
                                                  return (cache.span(layer: l, visible[r]), e.count > 0 ? cache.span(layer: l, e) : nil)
                                              },
                                              out: attnOut, logSumExp: a.keepsLayers ? a.attentionLogSumExp(l) : nil,
                                              scratch: scratch)
                        }
                    }
                }
                timed(.attentionProjections) {
                    Linear.forward(x: attnOut, rows: rows, weight: w.o, bias: nil, out: a.projection,
                                   scratch: scratch, strategy: linearStrategy)
                }
                timed(.residual) { Elementwise.add(x, a.projection, into: h, count: rows * hidden) }

                // Feed-forward block.
                let n2 = a.ffnInput(l), gate = a.gate(l), up = a.up(l), act = a.ffnActivation(l)
                timed(.norm) {
                    RMSNorm.forward(x: h, rows: rows, dim: hidden, weight: w.ffnNorm, eps: eps, out: n2, rstd: a.ffnRstd(l))
                }
                timed(.ffnProjections) {
                    Linear.forward(x: n2, rows: rows, weight: w.gate, bias: nil, out: gate,
                                   scratch: scratch, strategy: linearStrategy)
                    Linear.forward(x: n2, rows: rows, weight: w.up, bias: nil, out: up,
                                   scratch: scratch, strategy: linearStrategy)
                }
                timed(.activation) { SwiGLU.forward(gate: gate, up: up, count: rows * inter, out: act) }
                timed(.ffnProjections) {
                    Linear.forward(x: act, rows: rows, weight: w.down, bias: nil, out: a.projection,
                                   scratch: scratch, strategy: linearStrategy)
                }
                timed(.residual) { Elementwise.add(h, a.projection, into: a.residual(l + 1), count: rows * hidden) }
            }
        }

        // Final norm for every row; the output head only for the rows that asked.
        timed(.norm) {
            RMSNorm.forward(x: a.residual(c.layerCount), rows: rows, dim: hidden, weight: weights.outputNorm, eps: eps,
                            out: a.hidden, rstd: a.finalRstd)
        }
        let logitRows = batch.logitCount
        if logitRows > 0 {
            let input: UnsafePointer<Float>
            if logitRows == rows {
                input = UnsafePointer(a.hidden)   // every row, in order: no gather needed
            } else {
                for (i, r) in batch.logitRows.enumerated() {
                    (a.logitInput + i * hidden).update(from: a.hidden + Int(r) * hidden, count: hidden)
                }
                input = UnsafePointer(a.logitInput)
            }
            timed(.outputHead) {
                Linear.forward(x: input, rows: logitRows, weight: weights.output, bias: nil, out: a.logits,
                               scratch: scratch, strategy: linearStrategy)
            }
        }
        return StepOutput(rows: rows, logitRows: logitRows, hiddenSize: hidden, vocabSize: c.vocabSize,
                          hidden: a.hidden, logits: a.logits)
    }

    /// Backward of the last `step(batch, cache:)`, which must have run on this transformer with
    /// `keepsLayerActivations` and the same `batch` and `cache` (the cache still holding that
    /// step's keys and values). `dLogits` is `logitRows x vocab` in the order of the step's logit
    /// rows. Adds every parameter's gradient into `gradients` (nil: a frozen model, only the input
    /// gradients are computed) and returns the gradient of the step's input rows (`rows x hidden`,
    /// valid until the next step or backward): an injected-embedding row's gradient is its row.
    ///
    /// The same layers as `step`, in reverse, each operation's backward with the forward's own
    /// arguments (`Attention.backward` gets the forward's key spans, so any mask the rows
    /// describe, causal, windowed or Quiet-STaR's two spans, differentiates with no new code).
    /// Keys and values of every row land in cache rows, so their gradients are gathered per layer
    /// from a cache-shaped gradient plane that the attention backward accumulates into.
    /// `dHidden` (`rows x hidden`, optional) is a gradient on the final-norm hidden states
    /// themselves, for losses that use them besides the LM head (Quiet-STaR's mixing).
    @discardableResult
    public func backward(_ batch: StepBatch, cache: KVCache, dLogits: UnsafePointer<Float>,
                         dHidden: UnsafePointer<Float>? = nil, gradients: ModelGradients?) -> UnsafePointer<Float> {
        let c = config, a = activations
        precondition(a.keepsLayers, "Transformer.backward: the transformer was built without keepsLayerActivations")
        let rows = batch.count
        precondition(rows > 0 && rows <= a.rowCapacity, "Transformer.backward: batch does not match the last step")
        let hidden = c.hiddenSize, qDim = c.queryDim, kvDim = c.kvDim, inter = c.intermediateSize
        let g = gradients
        let b = backwardBuffers.reserve(rows: rows, config: c, cacheRows: cache.totalRows)
        let dRes = b.residual, dNorm = b.normalised

        // Output head: dHidden = dLogits · W (rows without logits get zero), dW += dLogitsᵀ · h.
        let logitRows = batch.logitCount
        if logitRows == rows {
            Linear.backward(dy: dLogits, x: a.hidden, rows: rows, weight: weights.output, dx: dNorm, accumulateDx: false,
                            dWeight: g.map { $0.output ?? $0.embedding }, dBias: nil, scratch: scratch, strategy: linearStrategy)
        } else {
            dNorm.update(repeating: 0, count: rows * hidden)
            if logitRows > 0 {
                Linear.backward(dy: dLogits, x: a.logitInput, rows: logitRows, weight: weights.output, dx: b.gathered,
                                accumulateDx: false, dWeight: g.map { $0.output ?? $0.embedding }, dBias: nil,
                                scratch: scratch, strategy: linearStrategy)
                for (i, r) in batch.logitRows.enumerated() {
                    (dNorm + Int(r) * hidden).update(from: b.gathered + i * hidden, count: hidden)
                }
            }
        }
        if let dHidden { Elementwise.add(dNorm, dHidden, into: dNorm, count: rows * hidden) }
        RMSNorm.backward(dy: dNorm, x: a.residual(c.layerCount), rows: rows, dim: hidden, weight: weights.outputNorm,
                         rstd: a.finalRstd, dx: dRes, dWeight: g?.outputNorm)

        batch.positions.withUnsafeBufferPointer { positionsBuffer in
            let positions = positionsBuffer.baseAddress!
            for l in stride(from: c.layerCount - 1, through: 0, by: -1) {
                let w = weights.layers[l], lg = g?.layers[l]
                // dRes holds d(layer output). Feed-forward block: x' = h + down(silu(gate) * up).
                Linear.backward(dy: dRes, x: a.ffnActivation(l), rows: rows, weight: w.down, dx: b.activation,
                                accumulateDx: false, dWeight: lg?.down, dBias: nil, scratch: scratch, strategy: linearStrategy)
                SwiGLU.backward(dOut: b.activation, gate: a.gate(l), up: a.up(l), count: rows * inter,
                                dGate: b.gate, dUp: b.up)
                Linear.backward(dy: b.gate, x: a.ffnInput(l), rows: rows, weight: w.gate, dx: dNorm, accumulateDx: false,
                                dWeight: lg?.gate, dBias: nil, scratch: scratch, strategy: linearStrategy)
                Linear.backward(dy: b.up, x: a.ffnInput(l), rows: rows, weight: w.up, dx: dNorm, accumulateDx: true,
                                dWeight: lg?.up, dBias: nil, scratch: scratch, strategy: linearStrategy)
                // dRes becomes d(mid): the residual path plus the norm's backward.
                RMSNorm.backward(dy: dNorm, x: a.mid(l), rows: rows, dim: hidden, weight: w.ffnNorm, rstd: a.ffnRstd(l),
                                 dx: dRes, accumulateDx: true, dWeight: lg?.ffnNorm)

                // Attention block: h = x + o(attn(rope(q), rope(k), v)).
                Linear.backward(dy: dRes, x: a.attentionOutput(l), rows: rows, weight: w.o, dx: b.attention,
                                accumulateDx: false, dWeight: lg?.o, dBias: nil, scratch: scratch, strategy: linearStrategy)
                let planeFloats = cache.totalRows * kvDim
                b.keyPlane.update(repeating: 0, count: planeFloats)
                b.valuePlane.update(repeating: 0, count: planeFloats)
                let headStride = cache.headStride, headDim = c.headDim
                let keyPlane = b.keyPlane, valuePlane = b.valuePlane
                func gradient(_ range: KeyRange) -> KeySpanGradient {
                    KeySpanGradient(dKeys: keyPlane + range.start * headDim, dValues: valuePlane + range.start * headDim,
                                    rowStride: headDim, headStride: headStride)
                }
                batch.visible.withUnsafeBufferPointer { visible in
                    batch.extra.withUnsafeBufferPointer { extra in
                        Attention.backward(dOut: b.attention, q: a.queries(l), out: a.attentionOutput(l),
                                           logSumExp: a.attentionLogSumExp(l), rows: rows, heads: c.headCount,
                                           kvHeads: c.kvHeadCount, headDim: headDim,
                                           spans: { r -> (KeySpan, KeySpan?) in
                                               let e = extra[r]
                                               return (cache.span(layer: l, visible[r]), e.count > 0 ? cache.span(layer: l, e) : nil)
                                           },
                                           gradients: { r -> (KeySpanGradient, KeySpanGradient?) in
                                               let e = extra[r]
                                               return (gradient(visible[r]), e.count > 0 ? gradient(e) : nil)
                                           },
                                           dq: b.queries)
                    }
                }
                // Each row's own key/value gradient, out of the plane (head-major) into rows.
                for (i, row) in batch.cacheRows.enumerated() {
                    for h in 0..<c.kvHeadCount {
                        (b.keys + i * kvDim + h * headDim).update(from: keyPlane + h * headStride + row * headDim, count: headDim)
                        (b.values + i * kvDim + h * headDim).update(from: valuePlane + h * headStride + row * headDim, count: headDim)
                    }
                }
                Rotary.backward(b.queries, rows: rows, heads: c.headCount, headDim: headDim, rowStride: qDim,
                                positions: positions, table: rotary)
                Rotary.backward(b.keys, rows: rows, heads: c.kvHeadCount, headDim: headDim, rowStride: kvDim,
                                positions: positions, table: rotary)
                let n1 = a.attentionInput(l)
                Linear.backward(dy: b.queries, x: n1, rows: rows, weight: w.q, dx: dNorm, accumulateDx: false,
                                dWeight: lg?.q, dBias: lg?.qBias, scratch: scratch, strategy: linearStrategy)
                Linear.backward(dy: b.keys, x: n1, rows: rows, weight: w.k, dx: dNorm, accumulateDx: true,
                                dWeight: lg?.k, dBias: lg?.kBias, scratch: scratch, strategy: linearStrategy)
                Linear.backward(dy: b.values, x: n1, rows: rows, weight: w.v, dx: dNorm, accumulateDx: true,
                                dWeight: lg?.v, dBias: lg?.vBias, scratch: scratch, strategy: linearStrategy)
                // dRes becomes d(layer input).
                RMSNorm.backward(dy: dNorm, x: a.residual(l), rows: rows, dim: hidden, weight: w.attnNorm,
                                 rstd: a.attentionRstd(l), dx: dRes, accumulateDx: true, dWeight: lg?.attnNorm)
            }
        }

        // Embedding gather: token rows add into their table rows; injected rows are the caller's.
        if let g {
            gatherIds.removeAll(keepingCapacity: true)
            let source: UnsafePointer<Float>
            if batch.embeddings.isEmpty {
                gatherIds.append(contentsOf: batch.inputs)
                source = UnsafePointer(dRes)
            } else {
                for (r, id) in batch.inputs.enumerated() where id >= 0 {
                    (b.gathered + gatherIds.count * hidden).update(from: dRes + r * hidden, count: hidden)
                    gatherIds.append(id)
                }
                source = UnsafePointer(b.gathered)
            }
            gatherIds.withUnsafeBufferPointer { ids in
                Embedding.backward(dOut: source, ids: ids.baseAddress!, count: ids.count, dim: hidden, dTable: g.embedding)
            }
        }
        return UnsafePointer(dRes)
    }

    @inline(__always)
    private func timed(_ phase: StepProfile.Phase, _ body: () -> Void) {
        guard let profile else { return body() }
        let t0 = DispatchTime.now().uptimeNanoseconds
        body()
        profile.add(phase, nanoseconds: DispatchTime.now().uptimeNanoseconds - t0)
    }

    private func validate(_ batch: StepBatch, cache: KVCache) {
        let total = cache.totalRows, vocab = Int32(config.vocabSize), context = Int32(config.contextLength)
        for r in 0..<batch.count {
            let id = batch.inputs[r], p = batch.positions[r], row = batch.cacheRows[r]
            let v = batch.visible[r], e = batch.extra[r]
            precondition(id < vocab, "Transformer.step: row \(r) token \(id) is not below the vocabulary size \(vocab)")
            precondition(p >= 0 && p < context, "Transformer.step: row \(r) position \(p) is outside 0..<\(context)")
            precondition(row >= 0 && row < total, "Transformer.step: row \(r) cache row \(row) is outside the cache (\(total) rows)")
            precondition(v.start >= 0 && v.count >= 1 && v.end <= total,
                         "Transformer.step: row \(r) visible range \(v.start)..<\(v.end) is empty or outside the cache")
            precondition(e.count == 0 || (e.start >= 0 && e.count > 0 && e.end <= total),
                         "Transformer.step: row \(r) extra range \(e.start)..<\(e.end) is outside the cache")
        }
    }
}

/// Where step time goes, by phase.
public final class StepProfile: @unchecked Sendable {
    public enum Phase: String, CaseIterable, Sendable {
        case embedding, norm, attentionProjections, rotary, cache, attention, residual, ffnProjections, activation, outputHead
    }
    private var nanoseconds = [UInt64](repeating: 0, count: Phase.allCases.count)

    public init() {}

    func add(_ phase: StepProfile.Phase, nanoseconds ns: UInt64) {
        nanoseconds[Phase.allCases.firstIndex(of: phase)!] += ns
    }

    public func seconds(_ phase: Phase) -> Double {
        Double(nanoseconds[Phase.allCases.firstIndex(of: phase)!]) / 1e9
    }

    public func reset() { nanoseconds = nanoseconds.map { _ in 0 } }
}
