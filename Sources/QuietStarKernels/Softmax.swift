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
