import Foundation

/// Row-wise softmax and log-softmax, in place, numerically stable (shifted by the row maximum).
/// A row of all `-inf` has no defined softmax; it comes out as NaN, as in PyTorch.
public enum Softmax {
    /// x[r] = softmax(x[r]) for each of `rows` rows of `cols` floats.
    public static func forwardRows(_ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int) {
        Threads.parallelRanges(rows, minChunk: max(1, 16384 / max(1, cols))) { range in
            for r in range {
                let xr = x + r * cols
                let m = Vec.max(xr, cols)
                let s = Vec.expInPlace(xr, cols, minus: m)
                Vec.scale(xr, 1 / s, cols)
            }
        }
    }

    /// x[r] = log_softmax(x[r]) = x - max - log Σ exp(x - max).
    public static func logSoftmaxRows(_ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int) {
        Threads.parallelRanges(rows, minChunk: max(1, 16384 / max(1, cols))) { range in
            for r in range {
                let xr = x + r * cols
                let m = Vec.max(xr, cols)
                let shift = m + Foundation.log(Vec.sumExp(xr, cols, minus: m))
                let sv = F8(repeating: shift)
                var j = 0
                while j + 8 <= cols {
                    store8(load8(xr + j) - sv, xr + j)
                    j += 8
                }
                while j < cols {
                    xr[j] -= shift
                    j += 1
                }
            }
        }
    }

    /// Backward of `forwardRows` from its output `y`: `dx = y ⊙ (dy - Σ dy ⊙ y)`. `dx` may alias `dy`.
    public static func backwardRows(y: UnsafePointer<Float>, dy: UnsafePointer<Float>, rows: Int, cols: Int,
                                    dx: UnsafeMutablePointer<Float>) {
        Threads.parallelRanges(rows, minChunk: max(1, 16384 / max(1, cols))) { range in
            for r in range {
                let yr = y + r * cols, dyr = dy + r * cols, dxr = dx + r * cols
                let dot = F8(repeating: Vec.dot(yr, dyr, cols))
                var j = 0
                while j + 8 <= cols {
                    store8(load8(yr + j) * (load8(dyr + j) - dot), dxr + j)
                    j += 8
                }
                while j < cols {
                    dxr[j] = yr[j] * (dyr[j] - dot[0])
                    j += 1
                }
            }
        }
    }

    /// Backward of `logSoftmaxRows` from its output `y` (log-probabilities):
    /// `dx = dy - exp(y) · Σ dy`. `dx` may alias `dy`.
    public static func logSoftmaxBackwardRows(y: UnsafePointer<Float>, dy: UnsafePointer<Float>, rows: Int, cols: Int,
                                              dx: UnsafeMutablePointer<Float>) {
        Threads.parallelRanges(rows, minChunk: max(1, 16384 / max(1, cols))) { range in
            for r in range {
                let yr = y + r * cols, dyr = dy + r * cols, dxr = dx + r * cols
                var total: Float = 0
                for j in 0..<cols { total += dyr[j] }
                let t = F8(repeating: total)
                var j = 0
                while j + 8 <= cols {
                    store8(load8(dyr + j) - exp8(load8(yr + j)) * t, dxr + j)
                    j += 8
                }
                while j < cols {
                    dxr[j] = dyr[j] - exp1(yr[j]) * total
                    j += 1
                }
            }
        }
    }
}

/// What a row of logits says about its own confidence, without a target: the entropy of its
/// softmax and its largest probability. Adaptive thinking (`ThinkWhen`) decides from these which
/// positions get a thought, so they must be cheap (two passes over the row, no stored
/// exponentials) and depend on the row alone (the same bits whatever the batch).
public enum Confidence {
    /// entropy[r] = -Σ p log p (nats) and top[r] = max p, with p = softmax(logits[r]).
    public static func rows(logits: UnsafePointer<Float>, rows: Int, vocab: Int,
                            entropy: UnsafeMutablePointer<Float>, top: UnsafeMutablePointer<Float>) {
        Threads.parallelRanges(rows, minChunk: max(1, 16384 / max(1, vocab))) { range in
            for r in range {
                let (h, p) = row(logits + r * vocab, vocab: vocab)
                entropy[r] = h
                top[r] = p
            }
        }
    }

    /// (entropy, largest probability) of softmax(`logits`): with `s = Σ exp(l - max)`,
    /// `H = log s - Σ exp(l - max) (l - max) / s` and `max p = 1 / s`.
    public static func row(_ logits: UnsafePointer<Float>, vocab: Int) -> (entropy: Float, top: Float) {
        let m = Vec.max(logits, vocab)
        let sh = F8(repeating: m)
        var s0 = F8(), t0 = F8()
        var j = 0
        while j + 8 <= vocab {
            let d = load8(logits + j) - sh
            let e = exp8(d)
            s0 += e
            // exp(-inf) = 0 and 0 * -inf is NaN: a masked logit adds nothing.
            t0 += (e * d).replacing(with: 0, where: e .== 0)
            j += 8
        }
        var s = s0.sum(), t = t0.sum()
        while j < vocab {
            let d = logits[j] - m
            let e = exp1(d)
            s += e
            if e > 0 { t += e * d }
            j += 1
        }
        return (Foundation.log(s) - t / s, 1 / s)
    }
}
