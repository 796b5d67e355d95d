import CBLAS
import QuietStarFormat

/// A fully connected layer in PyTorch's `nn.Linear` layout: `y[m, out] = x[m, in] · Wᵀ + b`,
/// with `W` stored `[out, in]` row-major in any weight dtype.
///
/// Two ways to compute it, chosen by `m` (measured with `quietstar-bench kernels`, see
/// `Linear.fusedMaxRows`):
/// - `panels`: f32 weights go straight to one `cblas_sgemm`. Other dtypes are decoded a panel of
///   rows at a time into scratch and each panel is one sgemm, so no f32 copy of the whole matrix
///   ever exists. Compute bound: wins once `m` is large enough to reuse each weight many times.
/// - `fused`: for few rows, the product is bound by reading the weights once. Workers take tiles of
///   four output rows, decode them into a small buffer that stays in cache and dot them against
///   every input row, two rows at a time. No BLAS call, our own threads.
public enum Linear {
    public enum Strategy: Sendable {
        /// Pick by dtype and `m` (see `fusedMaxRows`).
        case automatic
        /// Decode + dot kernel on our threads.
        case fused
        /// sgemm (per decoded panel for non-f32 weights).
        case panels
    }

    /// Largest `m` for which `automatic` uses the fused kernel, per weight dtype.
    ///
    /// From `quietstar-bench kernels` (4096 x 4096 weights, rotated through 256 MB so they stream
    /// from memory as in a real model; fused and panels timed interleaved): on the 2-core EPYC
    /// sandbox the fused kernel beat decode+sgemm for every dtype up to m = 16 and lost from
    /// m = 32 or 64 on. At m = 1 it streams the weights at the machine's read bandwidth while
    /// sgemm manages about 1 GFLOP/s (f32) and the panel path pays a full f32 decode.
    public static func fusedMaxRows(_ dtype: DType) -> Int {
        switch dtype {
        case .f32, .f16, .bf16, .q8_0: return 16
        default: return 0
        }
    }

    /// Target size in bytes of one decoded f32 panel: big enough for sgemm to run near peak, small
    /// enough to stay in the last-level cache.
    static let panelBytes = 2 << 20

    /// Scratch slots used by Linear (callers sharing a `Scratch` with other kernels avoid these).
    public static let scratchSlots = 0..<1

    /// y[m, out] = x[m, in] · Wᵀ (+ bias). `x` is `m x weight.cols`, `out` is `m x weight.rows`,
    /// both contiguous; `out` must not overlap `x`.
    public static func forward(x: UnsafePointer<Float>, rows m: Int, weight: WeightMatrix,
                               bias: UnsafePointer<Float>?, out: UnsafeMutablePointer<Float>,
                               scratch: Scratch, strategy: Strategy = .automatic) {
        guard m > 0, weight.rows > 0 else { return }
        let useFused: Bool
        switch strategy {
        case .automatic: useFused = m <= fusedMaxRows(weight.dtype)
        case .fused: useFused = true
        case .panels: useFused = false
        }
        if useFused {
            forwardFused(x: x, rows: m, weight: weight, bias: bias, out: out, scratch: scratch)
        } else {
            forwardPanels(x: x, rows: m, weight: weight, bias: bias, out: out, scratch: scratch)
        }
    }

    /// Backward of `forward`:
    /// - `dx[m, in] = dy · W` (added to `dx` when `accumulateDx`, else written); any weight dtype
    ///   (non-f32 weights are decoded panel by panel into `scratch`, which is then required).
    /// - `dWeight[out, in] += dyᵀ · x` (f32 weights only: gradients of a quantised matrix are
    ///   not representable in it).
    /// - `dBias[out] += Σ_rows dy`.
    public static func backward(dy: UnsafePointer<Float>, x: UnsafePointer<Float>, rows m: Int,
                                weight: WeightMatrix, dx: UnsafeMutablePointer<Float>?, accumulateDx: Bool,
                                dWeight: UnsafeMutablePointer<Float>?, dBias: UnsafeMutablePointer<Float>?,
                                scratch: Scratch? = nil) {
        backward(dy: dy, x: x, rows: m, weight: weight, dx: dx, accumulateDx: accumulateDx, dWeight: dWeight,
                 dBias: dBias, scratch: scratch, panel: nil)
    }

    /// `backward` with an explicit panel height (tests use small panels to cover the panel loop).
    static func backward(dy: UnsafePointer<Float>, x: UnsafePointer<Float>, rows m: Int,
                         weight: WeightMatrix, dx: UnsafeMutablePointer<Float>?, accumulateDx: Bool,
                         dWeight: UnsafeMutablePointer<Float>?, dBias: UnsafeMutablePointer<Float>?,
                         scratch: Scratch?, panel panelOverride: Int?) {
        guard m > 0 else { return }
        let nOut = weight.rows, nIn = weight.cols
        Threads.ensureBLASConfigured()
        if let dx {
            if weight.dtype == .f32 {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(nIn), Int32(nOut),
                            1, dy, Int32(nOut), weight.base.assumingMemoryBound(to: Float.self), Int32(nIn),
                            accumulateDx ? 1 : 0, dx, Int32(nIn))
            } else {
                guard let scratch else { preconditionFailure("Linear.backward: non-f32 weights need a Scratch") }
                let panel = panelOverride ?? panelRows(weight)
                let buffer = scratch.floats(panel * nIn, slot: scratchSlots.lowerBound)
                var p0 = 0
                while p0 < nOut {
                    let p = min(panel, nOut - p0)
                    decodeRows(weight, from: p0, count: p, into: buffer)
                    let beta: Float = (p0 == 0 && !accumulateDx) ? 0 : 1
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(nIn), Int32(p),
                                1, dy + p0, Int32(nOut), buffer, Int32(nIn), beta, dx, Int32(nIn))
                    p0 += p
                }
            }
        }
        if let dWeight {
            precondition(weight.dtype == .f32, "Linear.backward: weight gradients need f32 weights, got \(weight.dtype)")
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(nOut), Int32(nIn), Int32(m),
                        1, dy, Int32(nOut), x, Int32(nIn), 1, dWeight, Int32(nIn))
        }
        if let dBias {
            for i in 0..<m { Vec.add(dy + i * nOut, into: dBias, nOut) }
        }
    }

    // MARK: - panels + sgemm

    /// Rows per decoded panel: about `panelBytes` of f32, a multiple of 16, at least 16.
    static func panelRows(_ weight: WeightMatrix) -> Int {
        let rows = max(16, (panelBytes / (4 * max(1, weight.cols))) & ~15)
        return min(rows, weight.rows)
    }

    static func forwardPanels(x: UnsafePointer<Float>, rows m: Int, weight: WeightMatrix,
                              bias: UnsafePointer<Float>?, out: UnsafeMutablePointer<Float>, scratch: Scratch,
                              panel panelOverride: Int? = nil) {
        let nOut = weight.rows, nIn = weight.cols
        Threads.ensureBLASConfigured()
        // With a bias, start from it and let sgemm add (beta = 1): one pass over `out` either way.
        if let bias {
            for i in 0..<m { (out + i * nOut).update(from: bias, count: nOut) }
        }
        let beta: Float = bias == nil ? 0 : 1
        if weight.dtype == .f32 {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(nOut), Int32(nIn),
                        1, x, Int32(nIn), weight.base.assumingMemoryBound(to: Float.self), Int32(nIn),
                        beta, out, Int32(nOut))
            return
        }
        let panel = panelOverride ?? panelRows(weight)
        let buffer = scratch.floats(panel * nIn, slot: scratchSlots.lowerBound)
        var p0 = 0
        while p0 < nOut {
            let p = min(panel, nOut - p0)
            decodeRows(weight, from: p0, count: p, into: buffer)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(p), Int32(nIn),
                        1, x, Int32(nIn), buffer, Int32(nIn), beta, out + p0, Int32(nOut))
            p0 += p
        }
    }

    /// Decodes weight rows `r0..<r0+count` into `buffer` (row-major, `cols` floats each), spread
    /// over our workers (never overlapping an sgemm, which runs after this returns).
    static func decodeRows(_ weight: WeightMatrix, from r0: Int, count: Int, into buffer: UnsafeMutablePointer<Float>) {
        let cols = weight.cols
        Threads.parallelRanges(count, minChunk: max(1, 32768 / max(1, cols))) { range in
            for r in range {
                Convert.decode(weight.row(r0 + r), dtype: weight.dtype, count: cols, into: buffer + r * cols)
            }
        }
    }

    // MARK: - fused decode + dot

    static func forwardFused(x: UnsafePointer<Float>, rows m: Int, weight: WeightMatrix,
                             bias: UnsafePointer<Float>?, out: UnsafeMutablePointer<Float>, scratch: Scratch) {
        let nOut = weight.rows, nIn = weight.cols
        let tiles = (nOut + 3) / 4
        // Enough tiles per chunk that a chunk reads at least ~64 KB of weights.
        let minTiles = max(1, 65536 / max(1, weight.rowBytes * 4))
        let chunks = min(Threads.count * 4, max(1, tiles / minTiles))
        let decoded = weight.dtype == .f32 ? nil : scratch.floats(chunks * 4 * nIn, slot: scratchSlots.lowerBound)
        Threads.parallelFor(chunks) { c in
            let t0 = tiles * c / chunks, t1 = tiles * (c + 1) / chunks
            let buffer = decoded.map { $0 + c * 4 * nIn }
            for t in t0..<t1 {
                let o = t * 4
                let k = min(4, nOut - o)
                // The tile's rows as f32, in place (f32) or decoded into this chunk's buffer. A
                // ragged last tile repeats its last row; those results are never stored.
                let rows: UnsafePointer<Float>
                if let buffer {
                    for r in 0..<k {
                        Convert.decode(weight.row(o + r), dtype: weight.dtype, count: nIn, into: buffer + r * nIn)
                    }
                    rows = UnsafePointer(buffer)
                } else {
                    rows = weight.base.assumingMemoryBound(to: Float.self) + o * nIn
                }
                let w = (rows, rows + min(1, k - 1) * nIn, rows + min(2, k - 1) * nIn, rows + min(3, k - 1) * nIn)
                var i = 0
                while i + 2 <= m {
                    let s = dot4x2(w, x + i * nIn, x + (i + 1) * nIn, nIn)
                    for r in 0..<k {
                        let b = bias?[o + r] ?? 0
                        out[i * nOut + o + r] = s.0[r] + b
                        out[(i + 1) * nOut + o + r] = s.1[r] + b
                    }
                    i += 2
                }
                if i < m {
                    let s = dot4x1(w, x + i * nIn, nIn)
                    for r in 0..<k { out[i * nOut + o + r] = s[r] + (bias?[o + r] ?? 0) }
                }
            }
        }
    }

    /// Dots of four weight rows with two input rows: eight independent FMA chains.
    @inline(__always)
    static func dot4x2(_ w: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>),
                       _ x0: UnsafePointer<Float>, _ x1: UnsafePointer<Float>, _ n: Int) -> (SIMD4<Float>, SIMD4<Float>) {
        var a0 = F8(), a1 = F8(), a2 = F8(), a3 = F8()
        var b0 = F8(), b1 = F8(), b2 = F8(), b3 = F8()
        var j = 0
        while j + 8 <= n {
            let u = load8(x0 + j), v = load8(x1 + j)
            let w0 = load8(w.0 + j), w1 = load8(w.1 + j), w2 = load8(w.2 + j), w3 = load8(w.3 + j)
            a0 = a0.addingProduct(w0, u); b0 = b0.addingProduct(w0, v)
            a1 = a1.addingProduct(w1, u); b1 = b1.addingProduct(w1, v)
            a2 = a2.addingProduct(w2, u); b2 = b2.addingProduct(w2, v)
            a3 = a3.addingProduct(w3, u); b3 = b3.addingProduct(w3, v)
            j += 8
        }
        var s0 = SIMD4<Float>(a0.sum(), a1.sum(), a2.sum(), a3.sum())
        var s1 = SIMD4<Float>(b0.sum(), b1.sum(), b2.sum(), b3.sum())
        while j < n {
            let wj = SIMD4<Float>(w.0[j], w.1[j], w.2[j], w.3[j])
            s0 += wj * x0[j]
            s1 += wj * x1[j]
            j += 1
        }
        return (s0, s1)
    }

    /// Dots of four weight rows with one input row.
    @inline(__always)
    static func dot4x1(_ w: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>),
                       _ x0: UnsafePointer<Float>, _ n: Int) -> SIMD4<Float> {
        var a0 = F8(), a1 = F8(), a2 = F8(), a3 = F8()
        var j = 0
        while j + 8 <= n {
            let u = load8(x0 + j)
            a0 = a0.addingProduct(load8(w.0 + j), u)
            a1 = a1.addingProduct(load8(w.1 + j), u)
            a2 = a2.addingProduct(load8(w.2 + j), u)
            a3 = a3.addingProduct(load8(w.3 + j), u)
            j += 8
        }
        var s = SIMD4<Float>(a0.sum(), a1.sum(), a2.sum(), a3.sum())
        while j < n {
            s += SIMD4<Float>(w.0[j], w.1[j], w.2[j], w.3[j]) * x0[j]
            j += 1
        }
        return s
    }
}
