import Foundation

/// Rotary position embedding frequencies and a cos/sin table, computed the way Hugging Face
/// transformers computes them (`modeling_rope_utils`), including its f32 arithmetic: the inverse
/// frequencies are f32, the angle is the f32 product `Float(position) * invFreq`, and only cos/sin
/// of that angle are evaluated in f64 before rounding to f32 (torch's f32 cos/sin are within an
/// ulp of that). Matching the f32 angle matters: at position 4000 a "more exact" f64 angle would
/// differ from what the checkpoint was trained with by up to 1e-4 rad.
public struct RotaryTable: Sendable {
    /// `rope_type` and its parameters (`rope_scaling` / `rope_parameters` in a HF config).
    public enum RopeScaling: Sendable, Equatable {
        /// `default`.
        case none
        /// `linear`: positions divided by `factor` (applied to the frequencies).
        case linear(factor: Double)
        /// `llama3`: long wavelengths divided by `factor`, short ones kept, smooth in between.
        case llama3(factor: Double, lowFreqFactor: Double, highFreqFactor: Double, originalContext: Int)
        /// `dynamic` (NTK-aware): the base grows with the sequence length once it exceeds
        /// `originalContext` (HF's `max_position_embeddings`). The table's `maxPosition` plays
        /// the role of HF's `seq_len` (longest position id + 1).
        case dynamicNTK(factor: Double, originalContext: Int)
    }

    public let headDim: Int
    /// Positions `0..<maxPosition` are tabulated; later ones are computed on the fly.
    public let maxPosition: Int
    /// `headDim / 2` inverse frequencies, as HF's `inv_freq` buffer.
    public let invFreq: [Float]
    /// `maxPosition x headDim/2` each.
    let cosTable: [Float]
    let sinTable: [Float]

    public init(headDim: Int, theta: Double, scaling: RopeScaling = .none, maxPosition: Int) {
        precondition(headDim > 0 && headDim % 2 == 0, "RotaryTable: headDim must be even and positive, got \(headDim)")
        precondition(maxPosition >= 0, "RotaryTable: negative maxPosition")
        self.headDim = headDim
        self.maxPosition = maxPosition
        let inv = RotaryTable.inverseFrequencies(headDim: headDim, theta: theta, scaling: scaling, maxPosition: maxPosition)
        self.invFreq = inv
        let half = headDim / 2
        var c = [Float](repeating: 0, count: maxPosition * half)
        var s = [Float](repeating: 0, count: maxPosition * half)
        for p in 0..<maxPosition {
            for i in 0..<half {
                let angle = Double(Float(p) * inv[i])
                c[p * half + i] = Float(Foundation.cos(angle))
                s[p * half + i] = Float(Foundation.sin(angle))
            }
        }
        cosTable = c
        sinTable = s
    }

    /// HF's `inv_freq` for `rope_type`, step by step in the same precision as transformers.
    public static func inverseFrequencies(headDim dim: Int, theta: Double, scaling: RopeScaling, maxPosition: Int) -> [Float] {
        func base(_ b: Double) -> [Float] {
            // 1.0 / (base ** (torch.arange(0, dim, 2).float() / dim)), all in f32.
            stride(from: 0, to: dim, by: 2).map { i in
                1 / powf(Float(b), Float(i) / Float(dim))
            }
        }
        switch scaling {
        case .none:
            return base(theta)
        case .linear(let factor):
            return base(theta).map { $0 / Float(factor) }
        case .llama3(let factor, let lowFreqFactor, let highFreqFactor, let originalContext):
            let f = Float(factor), lo = Float(lowFreqFactor), hi = Float(highFreqFactor), old = Float(originalContext)
            let lowFreqWavelen = Float(Double(originalContext) / lowFreqFactor)
            let highFreqWavelen = Float(Double(originalContext) / highFreqFactor)
            return base(theta).map { inv in
                let wavelen = Float(2 * Double.pi) / inv
                let scaled = wavelen > lowFreqWavelen ? inv / f : inv
                let isMedium = !(wavelen < highFreqWavelen) && !(wavelen > lowFreqWavelen)
                guard isMedium else { return scaled }
                let smooth = (old / wavelen - lo) / (hi - lo)
                return (1 - smooth) * scaled / f + smooth * scaled
            }
        case .dynamicNTK(let factor, let originalContext):
            let seqLen = Double(max(maxPosition, originalContext))
            let grown = theta * pow(factor * seqLen / Double(originalContext) - (factor - 1), Double(dim) / Double(dim - 2))
            return base(grown)
        }
    }

    /// cos/sin of position `p` for the `headDim/2` frequencies, into `cos`/`sin`.
    @inline(__always)
    func angles(_ p: Int, cos: UnsafeMutablePointer<Float>, sin: UnsafeMutablePointer<Float>) {
        let half = headDim / 2
        for i in 0..<half {
            let angle = Double(Float(p) * invFreq[i])
            cos[i] = Float(Foundation.cos(angle))
            sin[i] = Float(Foundation.sin(angle))
        }
    }
}

/// Applies rotary embeddings in place, Hugging Face's `rotate_half` convention: the pairs are
/// `(i, i + headDim/2)` and `x' = x·cos + rotate_half(x)·sin`, i.e.
/// `x'[i] = x[i]·c - x[i+h]·s`, `x'[i+h] = x[i+h]·c + x[i]·s`.
public enum Rotary {
    /// Rotates `heads` heads of `headDim` floats at the start of each row (`rowStride` floats
    /// apart), row `r` at position `positions[r]`.
    public static func forward(_ x: UnsafeMutablePointer<Float>, rows: Int, heads: Int, headDim: Int,
                               rowStride: Int, positions: UnsafePointer<Int32>, table: RotaryTable) {
        apply(x, rows: rows, heads: heads, headDim: headDim, rowStride: rowStride, positions: positions,
              table: table, direction: 1)
    }

    /// The inverse rotation (the transpose of `forward`'s linear map), applied in place to gradients.
    public static func backward(_ dx: UnsafeMutablePointer<Float>, rows: Int, heads: Int, headDim: Int,
                                rowStride: Int, positions: UnsafePointer<Int32>, table: RotaryTable) {
        apply(dx, rows: rows, heads: heads, headDim: headDim, rowStride: rowStride, positions: positions,
              table: table, direction: -1)
    }

    static func apply(_ x: UnsafeMutablePointer<Float>, rows: Int, heads: Int, headDim: Int, rowStride: Int,
                      positions: UnsafePointer<Int32>, table: RotaryTable, direction: Float) {
        precondition(headDim == table.headDim, "Rotary: headDim \(headDim) does not match the table's \(table.headDim)")
        let half = headDim / 2
        table.cosTable.withUnsafeBufferPointer { cosT in
            table.sinTable.withUnsafeBufferPointer { sinT in
                Threads.parallelRanges(rows, minChunk: max(1, 8192 / max(1, heads * headDim))) { range in
                    withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * half) { tmp in
                        for r in range {
                            let p = Int(positions[r])
                            precondition(p >= 0, "Rotary: negative position \(p) in row \(r)")
                            let c: UnsafePointer<Float>, s: UnsafePointer<Float>
                            if p < table.maxPosition {
                                c = cosT.baseAddress! + p * half
                                s = sinT.baseAddress! + p * half
                            } else {
                                table.angles(p, cos: tmp.baseAddress!, sin: tmp.baseAddress! + half)
                                c = UnsafePointer(tmp.baseAddress!)
                                s = UnsafePointer(tmp.baseAddress! + half)
                            }
                            for h in 0..<heads {
                                rotate(x + r * rowStride + h * headDim, half, c, s, direction)
                            }
                        }
                    }
                }
            }
        }
    }

    /// One head: `direction` +1 rotates by the angle, -1 by its negative.
    @inline(__always)
    static func rotate(_ v: UnsafeMutablePointer<Float>, _ half: Int, _ c: UnsafePointer<Float>,
                       _ s: UnsafePointer<Float>, _ direction: Float) {
        let d = F8(repeating: direction)
        var i = 0
        while i + 8 <= half {
            let a = load8(v + i), b = load8(v + half + i)
            let cv = load8(c + i), sv = load8(s + i) * d
            store8(a * cv - b * sv, v + i)
            store8(b * cv + a * sv, v + half + i)
            i += 8
        }
        while i < half {
            let a = v[i], b = v[half + i]
            let sv = s[i] * direction
            v[i] = a * c[i] - b * sv
            v[half + i] = b * c[i] + a * sv
            i += 1
        }
    }
}
