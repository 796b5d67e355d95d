import Foundation

/// A run of cached keys and values that some query rows attend to: row `r` of the span has its
/// keys at `keys + r * rowStride` and values at `values + r * rowStride`, `kvHeads * headDim`
/// floats each (head `h` at offset `h * headDim`).
public struct KeySpan: @unchecked Sendable {
    public var keys: UnsafePointer<Float>
    public var values: UnsafePointer<Float>
    public var rowStride: Int
    public var count: Int

    public init(keys: UnsafePointer<Float>, values: UnsafePointer<Float>, rowStride: Int, count: Int) {
        precondition(count >= 0, "KeySpan: negative count")
        self.keys = keys
        self.values = values
        self.rowStride = rowStride
        self.count = count
    }
}

/// Where the gradients of a `KeySpan`'s keys and values go (same row layout as the span).
public struct KeySpanGradient: @unchecked Sendable {
    public var dKeys: UnsafeMutablePointer<Float>
    public var dValues: UnsafeMutablePointer<Float>
    public var rowStride: Int

    public init(dKeys: UnsafeMutablePointer<Float>, dValues: UnsafeMutablePointer<Float>, rowStride: Int) {
        self.dKeys = dKeys
        self.dValues = dValues
        self.rowStride = rowStride
    }
}

/// Scaled dot-product attention of many query rows over cached keys/values, where each query row
/// sees the union of up to two key spans. One structure covers causal prefill (span A = cache rows
/// `0...position`), batched decode with per-sequence caches, sliding windows (a narrower span A) and
/// Quiet-STaR's thought mask (span A = the text up to the stream's position, span B = the stream's
/// own earlier thought tokens), without ever building an `L x L·steps` mask.
///
/// GQA: query head `h` uses kv head `h / (heads / kvHeads)`. Scale `1/sqrt(headDim)`.
public enum Attention {
    /// Keys processed per block of the online softmax.
    static let block = 64

    /// Scratch slots used by Attention.
    public static let scratchSlots = 0..<1

    /// `q`, `out`: `rows x (heads·headDim)`, contiguous. `spans(row)` gives the row's span A and
    /// optional span B; it is called concurrently and must be a pure lookup. Writes
    /// `logSumExp[row·heads + h]` (natural log of the softmax normaliser, in scaled-score units)
    /// when given: `backward` needs it. A row with no keys at all gets a zero output and
    /// `logSumExp = -inf`.
    ///
    /// Work is split over (row, kv head) pairs; each pair streams its keys once for all the query
    /// heads that share them, with a blocked online softmax (running max and sum per head).
    public static func forward(q: UnsafePointer<Float>, rows: Int, heads: Int, kvHeads: Int, headDim: Int,
                               spans: (Int) -> (KeySpan, KeySpan?), out: UnsafeMutablePointer<Float>,
                               logSumExp: UnsafeMutablePointer<Float>? = nil, scratch: Scratch) {
        precondition(kvHeads > 0 && heads % kvHeads == 0, "Attention: heads \(heads) not a multiple of kvHeads \(kvHeads)")
        let group = heads / kvHeads
        let tasks = rows * kvHeads
        guard tasks > 0 else { return }
        let scale = 1 / Float(headDim).squareRoot()
        let perChunk = group * (2 * headDim + block + 2)
        let chunks = min(tasks, Threads.count == 1 ? 1 : Threads.count * 4)
        let buffers = scratch.floats(chunks * perChunk, slot: scratchSlots.lowerBound)
        Threads.parallelFor(chunks) { c in
            let buf = buffers + c * perChunk
            let qs = buf, acc = buf + group * headDim, scores = acc + group * headDim
            let runMax = scores + group * block, runSum = runMax + group
            for task in (tasks * c / chunks)..<(tasks * (c + 1) / chunks) {
                let row = task / kvHeads, kvh = task % kvHeads
                let h0 = kvh * group
                let qRow = q + row * heads * headDim
                for g in 0..<group {
                    let src = qRow + (h0 + g) * headDim
                    for d in 0..<headDim { qs[g * headDim + d] = src[d] * scale }
                    runMax[g] = -.infinity
                    runSum[g] = 0
                }
                acc.update(repeating: 0, count: group * headDim)
                let (a, b) = spans(row)
                let state = OnlineSoftmax(group: group, headDim: headDim, kvHead: kvh, qs: qs, acc: acc,
                                          scores: scores, runMax: runMax, runSum: runSum)
                state.consume(a)
                if let b { state.consume(b) }
                let outRow = out + row * heads * headDim
                for g in 0..<group {
                    let o = outRow + (h0 + g) * headDim
                    let l = runSum[g]
                    if l > 0 {
                        o.update(from: acc + g * headDim, count: headDim)
                        Vec.scale(o, 1 / l, headDim)
                    } else {
                        o.update(repeating: 0, count: headDim)
                    }
                    logSumExp?[row * heads + h0 + g] = l > 0 ? runMax[g] + Foundation.log(l) : -.infinity
                }
            }
        }
    }

    /// Backward of `forward`, recomputing the probabilities from `logSumExp` (as FlashAttention-2
    /// does) instead of storing a `rows x keys` matrix:
    /// `dq` is written; the span gradients from `gradients(row)` (same layout as `spans(row)`) are
    /// accumulated, since many query rows share the same keys.
    ///
    /// Work is split over kv heads (each owns a disjoint slice of every key row, so overlapping
    /// spans of different rows never race); rows are walked in order inside a kv head.
    public static func backward(dOut: UnsafePointer<Float>, q: UnsafePointer<Float>, out: UnsafePointer<Float>,
                                logSumExp: UnsafePointer<Float>, rows: Int, heads: Int, kvHeads: Int, headDim: Int,
                                spans: (Int) -> (KeySpan, KeySpan?),
                                gradients: (Int) -> (KeySpanGradient, KeySpanGradient?),
                                dq: UnsafeMutablePointer<Float>) {
        precondition(kvHeads > 0 && heads % kvHeads == 0, "Attention: heads \(heads) not a multiple of kvHeads \(kvHeads)")
        let group = heads / kvHeads
        let scale = 1 / Float(headDim).squareRoot()
        Threads.parallelFor(kvHeads) { kvh in
            for row in 0..<rows {
                let (a, b) = spans(row)
                let (ga, gb) = gradients(row)
                precondition((b == nil) == (gb == nil), "Attention.backward: span B and its gradient must both be given or both be nil")
                for g in 0..<group {
                    let h = kvh * group + g
                    let off = row * heads * headDim + h * headDim
                    let qh = q + off, doh = dOut + off, dqh = dq + off
                    dqh.update(repeating: 0, count: headDim)
                    let lse = logSumExp[row * heads + h]
                    guard lse > -.infinity else { continue }
                    let delta = Vec.dot(doh, out + off, headDim)
                    let head = HeadGradient(kvHead: kvh, headDim: headDim, scale: scale, lse: lse, delta: delta,
                                            q: qh, dOut: doh, dq: dqh)
                    head.accumulate(a, ga)
                    if let b, let gb { head.accumulate(b, gb) }
                }
            }
        }
    }
}

/// The running state of one (row, kv head) task in `Attention.forward`: `group` query heads
/// (pre-scaled in `qs`), their unnormalised outputs `acc`, running max and sum.
private struct OnlineSoftmax {
    let group: Int, headDim: Int, kvHead: Int
    let qs: UnsafeMutablePointer<Float>, acc: UnsafeMutablePointer<Float>, scores: UnsafeMutablePointer<Float>
    let runMax: UnsafeMutablePointer<Float>, runSum: UnsafeMutablePointer<Float>

    /// Folds every key of `span` into the state, `Attention.block` keys at a time: scores for the
    /// block, one rescale of the accumulators per block (not per key), then the weighted values.
    @inline(__always)
    func consume(_ span: KeySpan) {
        let block = Attention.block
        var j0 = 0
        while j0 < span.count {
            let nb = min(block, span.count - j0)
            let kBase = span.keys + j0 * span.rowStride + kvHead * headDim
            for jj in 0..<nb {
                let k = kBase + jj * span.rowStride
                for g in 0..<group {
                    scores[g * block + jj] = Vec.dot(qs + g * headDim, k, headDim)
                }
            }
            for g in 0..<group {
                let sg = scores + g * block
                let newMax = Swift.max(runMax[g], Vec.max(sg, nb))
                // While every score so far is -inf there is nothing to rescale against.
                let shift = newMax == -.infinity ? 0 : newMax
                let correction = runMax[g] == -.infinity ? 0 : exp1(runMax[g] - shift)
                runSum[g] = runSum[g] * correction + Vec.expInPlace(sg, nb, minus: shift)
                if correction != 1 { Vec.scale(acc + g * headDim, correction, headDim) }
                runMax[g] = newMax
            }
            let vBase = span.values + j0 * span.rowStride + kvHead * headDim
            for jj in 0..<nb {
                let v = vBase + jj * span.rowStride
                for g in 0..<group {
                    Vec.axpy(scores[g * block + jj], v, acc + g * headDim, headDim)
                }
            }
            j0 += nb
        }
    }
}

/// One query head of one row in `Attention.backward`.
private struct HeadGradient {
    let kvHead: Int, headDim: Int
    let scale: Float, lse: Float, delta: Float
    let q: UnsafePointer<Float>, dOut: UnsafePointer<Float>, dq: UnsafeMutablePointer<Float>

    /// With p = exp(scale·q·k - lse): dV += p·dOut; dS = p·(dOut·v - delta)·scale;
    /// dq += dS·k; dK += dS·q.
    @inline(__always)
    func accumulate(_ span: KeySpan, _ grad: KeySpanGradient) {
        let off = kvHead * headDim
        for j in 0..<span.count {
            let k = span.keys + j * span.rowStride + off
            let v = span.values + j * span.rowStride + off
            let p = exp1(scale * Vec.dot(q, k, headDim) - lse)
            Vec.axpy(p, dOut, grad.dValues + j * grad.rowStride + off, headDim)
            let ds = p * (Vec.dot(dOut, v, headDim) - delta) * scale
            Vec.axpy(ds, k, dq, headDim)
            Vec.axpy(ds, q, grad.dKeys + j * grad.rowStride + off, headDim)
        }
    }
}
