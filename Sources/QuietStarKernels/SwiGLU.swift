/// The gated feed-forward activation of Llama/Mistral MLPs: `h = silu(gate) ⊙ up`, with
/// `silu(g) = g · σ(g)`.
public enum SwiGLU {
    /// `out[i] = silu(gate[i]) · up[i]`. `out` may be `gate` or `up`.
    public static func forward(gate: UnsafePointer<Float>, up: UnsafePointer<Float>, count: Int,
                               out: UnsafeMutablePointer<Float>) {
        Threads.parallelRanges(count, minChunk: 32768) { range in
            var i = range.lowerBound
            let one = F8(repeating: 1)
            while i + 8 <= range.upperBound {
                let g = load8(gate + i)
                // g / (1 + e^-g): e^-g -> inf for very negative g gives -0, NaN stays NaN.
                store8(g * load8(up + i) / (one + exp8(-g)), out + i)
                i += 8
            }
            while i < range.upperBound {
                out[i] = gate[i] * up[i] / (1 + exp1(-gate[i]))
                i += 1
            }
        }
    }

    /// `dGate = dOut · up · σ(g)(1 + g(1 - σ(g)))`, `dUp = dOut · silu(g)`, written (not added).
    /// `dGate` may be `gate` and `dUp` may be `up` (each element is read before it is written).
    public static func backward(dOut: UnsafePointer<Float>, gate: UnsafePointer<Float>, up: UnsafePointer<Float>,
                                count: Int, dGate: UnsafeMutablePointer<Float>, dUp: UnsafeMutablePointer<Float>) {
        Threads.parallelRanges(count, minChunk: 32768) { range in
            var i = range.lowerBound
            let one = F8(repeating: 1)
            while i + 8 <= range.upperBound {
                let g = load8(gate + i), u = load8(up + i), d = load8(dOut + i)
                let sig = one / (one + exp8(-g))
                let silu = g * sig
                store8(d * u * sig * (one + g * (one - sig)), dGate + i)
                store8(d * silu, dUp + i)
                i += 8
            }
            while i < range.upperBound {
                let g = gate[i], u = up[i], d = dOut[i]
                let sig = 1 / (1 + exp1(-g))
                dGate[i] = d * u * sig * (1 + g * (1 - sig))
                dUp[i] = d * g * sig
                i += 1
            }
        }
    }
}
