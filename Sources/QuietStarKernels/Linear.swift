import CBLAS
/// A fully connected layer in PyTorch's `nn.Linear` layout: `y[m, out] = x[m, in] · Wᵀ + b`,
/// with `W` stored `[out, in]` row-major in any weight dtype.
///
/// The forward pass runs on our own tiled kernel (`LinearTiles`), not on BLAS, because of one
/// promise: a row's output depends only on that row's input, never on how many other rows share
/// the call, where the row sits among them, or how many threads run. OpenBLAS `sgemm` breaks it
/// (its edge kernels and thread splits round a row differently depending on `m`), which made
/// scores differ in the last bits between `--batch-size 1` and `--batch-size 16`. Here every
/// output element is the same sequence of operations wherever it is computed: eight FMA lanes
/// walk the row in order (lane `l` takes columns `l, l+8, ...`, a zero-padded last step for a
/// ragged tail), one fixed tree adds them up, then the bias is added. Tiles, blocks and threads
/// only decide *when* an element is computed, never *how*.
///
/// Weights stay where they are: f32 weights are read in place; f16, bf16 and Q8_0 are decoded a
/// slice (`LinearTiles.blockCols` rows by `depth` columns) at a time into per-worker scratch, so
/// no f32 copy of the matrix ever exists; a decoded slice serves every row tile of its block.
///
/// The backward pass runs on `Gemm`, whose per-element order is fixed in the same way.
public enum Linear {
    public enum Strategy: Sendable {
        /// The batch-invariant tiled kernel (the default and what the model uses).
        case tiles
        /// `cblas_sgemm` (per decoded panel for non-f32 weights): the baseline the benchmark
        /// compares against. Its rounding of a row depends on `m`.
        case blas
    }

    /// Target size in bytes of one decoded f32 panel for the BLAS paths: big enough for sgemm to
    /// run near peak, small enough to stay in the last-level cache.
    static let panelBytes = 2 << 20

    /// Scratch slots used by Linear and the `Gemm` of its backward (callers sharing a `Scratch`
    /// with other kernels avoid these).
    public static let scratchSlots = 0..<2

    /// y[m, out] = x[m, in] · Wᵀ (+ bias). `x` is `m x weight.cols`, `out` is `m x weight.rows`,
    /// both contiguous; `out` must not overlap `x`.
    public static func forward(x: UnsafePointer<Float>, rows m: Int, weight: WeightMatrix,
                               bias: UnsafePointer<Float>?, out: UnsafeMutablePointer<Float>,
                               scratch: Scratch, strategy: Strategy = .tiles) {
        guard m > 0, weight.rows > 0 else { return }
        switch strategy {
        case .tiles: LinearTiles.forward(x: x, rows: m, weight: weight, bias: bias, out: out, scratch: scratch)
        case .blas: forwardPanels(x: x, rows: m, weight: weight, bias: bias, out: out, scratch: scratch)
        }
    }

    /// Backward of `forward`:
    /// - `dx[m, in] = dy · W` (added to `dx` when `accumulateDx`, else written); any weight dtype
    ///   (non-f32 weights are decoded while they are packed).
    /// - `dWeight[out, in] += dyᵀ · x` (f32 weights only: gradients of a quantised matrix are
    ///   not representable in it).
    /// - `dBias[out] += Σ_rows dy`.
    ///
    /// Both products run on `Gemm` by default: one FMA chain per element in a fixed order, so
    /// gradients are the same bits on every ISA path and thread count (and about 1.4x faster than
    /// OpenBLAS's Haswell sgemm on an AVX-512 machine). `.blas` keeps sgemm for comparison.
    /// `scratch` holds Gemm's packed operand (one is made for the call when it is nil).
    public static func backward(dy: UnsafePointer<Float>, x: UnsafePointer<Float>, rows m: Int,
                                weight: WeightMatrix, dx: UnsafeMutablePointer<Float>?, accumulateDx: Bool,
                                dWeight: UnsafeMutablePointer<Float>?, dBias: UnsafeMutablePointer<Float>?,
                                scratch: Scratch? = nil, strategy: Strategy = .tiles) {
        guard m > 0 else { return }
        precondition(dWeight == nil || weight.encoding == .f32,
                     "Linear.backward: weight gradients need f32 weights, got \(weight.encoding)")
        switch strategy {
        case .tiles:
            let nOut = weight.rows, nIn = weight.cols
            let scratch = scratch ?? Scratch()
            if let dx {
                Gemm.accumulate(rows: m, a: dy, aRowStride: nOut, aDepthStride: 1, b: weight, c: dx, ldc: nIn,
                                fromZero: !accumulateDx, scratch: scratch)
            }
            if let dWeight {
                let inputs = WeightMatrix(encoding: .f32, rows: m, cols: nIn, base: UnsafeRawPointer(x))
                Gemm.accumulate(rows: nOut, a: dy, aRowStride: 1, aDepthStride: nOut, b: inputs, c: dWeight, ldc: nIn,
                                fromZero: false, scratch: scratch)
            }
        case .blas:
            backwardBLAS(dy: dy, x: x, rows: m, weight: weight, dx: dx, accumulateDx: accumulateDx, dWeight: dWeight,
                         scratch: scratch, panel: nil)
        }
        if let dBias {
            for i in 0..<m { Vec.add(dy + i * weight.rows, into: dBias, weight.rows) }
        }
    }

    /// The sgemm products of `backward` (`.blas`), with an explicit panel height for non-f32
    /// weights (tests use small panels to cover the panel loop).
    static func backwardBLAS(dy: UnsafePointer<Float>, x: UnsafePointer<Float>, rows m: Int,
                             weight: WeightMatrix, dx: UnsafeMutablePointer<Float>?, accumulateDx: Bool,
                             dWeight: UnsafeMutablePointer<Float>?, scratch: Scratch?, panel panelOverride: Int?) {
        let nOut = weight.rows, nIn = weight.cols
        Threads.ensureBLASConfigured()
        if let dx {
            if weight.encoding == .f32 {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(nIn), Int32(nOut),
                            1, dy, Int32(nOut), weight.base.assumingMemoryBound(to: Float.self), Int32(nIn),
                            accumulateDx ? 1 : 0, dx, Int32(nIn))
            } else {
                let scratch = scratch ?? Scratch()
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
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(nOut), Int32(nIn), Int32(m),
                        1, dy, Int32(nOut), x, Int32(nIn), 1, dWeight, Int32(nIn))
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
        if weight.encoding == .f32 {
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
                Convert.decode(weight.row(r0 + r), weight.encoding, count: cols, into: buffer + r * cols)
            }
        }
    }
}
