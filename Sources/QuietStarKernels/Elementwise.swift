/// Element-wise pieces of the forward path that are not layers of their own: the residual add,
/// the mixing head's ReLU and the Quiet-STaR blend of two hidden states. Each forward has its
/// backward beside it, in the same argument order, like every other kernel.
public enum Elementwise {
    /// `out = a + b` (`out` may alias `a` or `b`).
    ///
    /// Backward: the gradient of `out` flows unchanged to both `a` and `b`, so a residual
    /// connection needs no kernel of its own (the caller adds `dOut` where both inputs came from).
    public static func add(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>,
                           count: Int) {
        Threads.parallelRanges(count, minChunk: 1 << 15) { range in
            var i = range.lowerBound
            while i + 8 <= range.upperBound {
                store8(load8(a + i) + load8(b + i), out + i)
                i += 8
            }
            while i < range.upperBound {
                out[i] = a[i] + b[i]
                i += 1
            }
        }
    }

    /// `x = max(x, 0)` in place; NaN becomes 0 (the comparison is false for it).
    public static func relu(_ x: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count where !(x[i] > 0) { x[i] = 0 }
    }

    /// Backward of `relu`: `dy *= relu'(input)`, read from the ReLU's *output* `post`, which is
    /// positive exactly where the input was (so the forward can run in place).
    public static func reluBackward(_ dy: UnsafeMutablePointer<Float>, post: UnsafePointer<Float>, count: Int) {
        for i in 0..<count where !(post[i] > 0) { dy[i] = 0 }
    }

    /// Per row `r` of `rows x dim`: `out = (1 - w[r]) * a + w[r] * b`, Quiet-STaR's mix of the base
    /// and post-thought hidden states (`w` weights the post-thought side, as the reference does).
    /// `out` may alias neither input.
    public static func blend(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, weights w: UnsafePointer<Float>,
                             rows: Int, dim: Int, into out: UnsafeMutablePointer<Float>) {
        for r in 0..<rows {
            let wr = w[r], keep = 1 - wr
            let ar = a + r * dim, br = b + r * dim, o = out + r * dim
            for i in 0..<dim { o[i] = keep * ar[i] + wr * br[i] }
        }
    }

    /// Backward of `blend` given `dOut`: adds `(1 - w) dOut` into `dA`, `w dOut` into `dB` (each
    /// when given) and writes `dw[r] = sum_i dOut[i] (b[i] - a[i])`.
    public static func blendBackward(dOut: UnsafePointer<Float>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                                     weights w: UnsafePointer<Float>, rows: Int, dim: Int,
                                     dA: UnsafeMutablePointer<Float>?, dB: UnsafeMutablePointer<Float>?,
                                     dWeights: UnsafeMutablePointer<Float>) {
        for r in 0..<rows {
            let wr = w[r], keep = 1 - wr
            let d = dOut + r * dim, ar = a + r * dim, br = b + r * dim
            var dw: Float = 0
            for i in 0..<dim { dw += d[i] * (br[i] - ar[i]) }
            dWeights[r] = dw
            if let dA { for i in 0..<dim { dA[r * dim + i] += keep * d[i] } }
            if let dB { for i in 0..<dim { dB[r * dim + i] += wr * d[i] } }
        }
    }
}
