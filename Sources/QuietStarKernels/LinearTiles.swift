import CKernels
/// The batch-invariant kernel behind `Linear.forward`: `out[i, j] = Σ_k x[i, k] · W[j, k] + b[j]`
/// with both operands read along `k` (the `[out, in]` layout the checkpoint stores, so nothing is
/// packed or transposed).
///
/// How one element is computed, whatever the tiling: eight accumulator lanes, lane `l` fused-
/// multiply-adds columns `l, l+8, l+16, ...` in order (a last step of zero-padded loads covers a
/// ragged tail), then one fixed tree (`fold4`) adds the lanes, then the bias is added. When the
/// columns are split into `depth`-sized passes the eight lanes are parked in memory between passes
/// and picked up again, so splitting changes nothing either.
///
/// How the work is cut, for speed only:
/// - a *tile* is 3 input rows by 4 weight rows: 12 SIMD8 accumulators, 3 + 4 loads per 12 FMAs,
///   which keeps both FMA pipes busy without spilling the 16 vector registers (a 1-row tile
///   covers the rows left over);
/// - a *block* is `blockRows` input rows by `blockCols` weight rows by `depth` columns; its
///   weight slice (decoded, for non-f32 weights) stays in L2 while every row tile of the block
///   streams past it, and each 4-row weight tile stays in L1 while the row tiles reuse it;
/// - blocks are spread over `Threads` workers; no element is ever split between workers.
enum LinearTiles {
    /// Input rows per block (a multiple of the 3-row tile).
    static let blockRows = 48
    /// Weight rows (outputs) per block (a multiple of the 4-row tile).
    static let blockCols = 64
    /// Columns per pass: a multiple of 32 (Q8_0 blocks) and of 8 (the SIMD width). Measured with
    /// `quietstar-bench kernels` on one thread (tiles/blas, interleaved): 1024 beat 512 by 7-30%
    /// at 1536 and 4096 columns (fewer parked accumulators; a 4-row weight tile is 16 KB) and
    /// matched 2048 there. 2048 then won for whole prefills whose MLP is 1536 wide (the 24.6M
    /// benchmark model, SmolLM2-135M): one pass, so each compressed weight slice is decoded once
    /// per chunk instead of once per row block (SmolLM2 q8_0 prefill, three alternated runs each:
    /// median 1,466 -> 1,578 tokens/s; f32 and f16 within the runs' noise).
    static let depth = 2048

    static func forward(x: UnsafePointer<Float>, rows m: Int, weight: WeightMatrix,
                        bias: UnsafePointer<Float>?, out: UnsafeMutablePointer<Float>, scratch: Scratch,
                        isa: KernelISA = .current) {
        // One input row: compressed weights are decoded in registers (same bits, no scratch round
        // trip); on AVX-512 f32 rows take the same row kernel, which prefetches the next rows.
        if m == 1 && (weight.encoding != .f32 || isa == .avx512) {
            LinearRow.forward(x: x, weight: weight, bias: bias, out: out, isa: isa)
            return
        }
        let nOut = weight.rows, nIn = weight.cols
        let rowBlocks = (m + blockRows - 1) / blockRows
        let colBlocks = (nOut + blockCols - 1) / blockCols
        let passes = max(1, (nIn + depth - 1) / depth)
        let blocks = rowBlocks * colBlocks
        let chunks = min(blocks, Threads.count == 1 ? 1 : Threads.count * 4)
        // Per chunk: a decoded weight slice (non-f32 only) and parked accumulators (only when
        // the columns take more than one pass).
        let decodedFloats = weight.encoding == .f32 ? 0 : blockCols * depth
        let parkedFloats = passes > 1 ? blockRows * blockCols * 8 : 0
        let perChunk = decodedFloats + parkedFloats
        let buffers = scratch.floats(max(1, chunks * perChunk), slot: Linear.scratchSlots.lowerBound)
        let work = Work(x: x, m: m, weight: weight, bias: bias, out: out, passes: passes, isa: isa)
        Threads.parallelFor(chunks) { c in
            let decoded = buffers + c * perChunk
            let parked = UnsafeMutableRawPointer(decoded + decodedFloats).assumingMemoryBound(to: F8.self)
            // Consecutive blocks of a chunk share their weight rows: with a single pass over the
            // columns, the slice decoded for one block serves the next ones too.
            var decodedBlock = -1
            for b in (blocks * c / chunks)..<(blocks * (c + 1) / chunks) {
                let colBlock = b / rowBlocks
                work.block(rowBlock: b % rowBlocks, colBlock: colBlock, decoded: decoded,
                           isDecoded: passes == 1 && decodedBlock == colBlock, parked: parked)
                decodedBlock = colBlock
            }
        }
    }

    /// One call's operands, shared read-only by the workers (each writes disjoint outputs).
    struct Work {
        let x: UnsafePointer<Float>
        let m: Int
        let weight: WeightMatrix
        let bias: UnsafePointer<Float>?
        let out: UnsafeMutablePointer<Float>
        let passes: Int
        let isa: KernelISA

        /// Computes outputs `[rowBlock * blockRows, +blockRows) x [colBlock * blockCols, +blockCols)`.
        /// `isDecoded`: `decoded` already holds this block's weight rows (single pass only).
        func block(rowBlock: Int, colBlock: Int, decoded: UnsafeMutablePointer<Float>, isDecoded: Bool,
                   parked: UnsafeMutablePointer<F8>) {
            let nIn = weight.cols, nOut = weight.rows
            let i0 = rowBlock * blockRows, i1 = min(m, i0 + blockRows)
            let j0 = colBlock * blockCols, j1 = min(nOut, j0 + blockCols)
            for pass in 0..<passes {
                let k0 = pass * depth, count = min(nIn, k0 + depth) - k0
                let phase = Phase(first: pass == 0, last: pass == passes - 1)
                // This pass's weight slice: in place for f32, else decoded rows j0..<j1.
                let w: UnsafePointer<Float>, ldw: Int
                if weight.encoding == .f32 {
                    w = weight.base.assumingMemoryBound(to: Float.self) + j0 * nIn + k0
                    ldw = nIn
                } else {
                    let skip = Convert.byteCount(weight.encoding, count: k0)
                    for j in j0..<j1 where !isDecoded {
                        Convert.decode(weight.row(j) + skip, weight.encoding, count: count,
                                       into: decoded + (j - j0) * depth)
                    }
                    w = UnsafePointer(decoded)
                    ldw = depth
                }
                if isa == .avx512 {
                    // The same per-element arithmetic in 6 x 8 tiles of 512-bit registers.
                    qs_linear_pass_avx512(x + i0 * nIn + k0, Int64(nIn), Int64(i1 - i0), w, Int64(ldw), Int64(j1 - j0),
                                          Int64(count), UnsafeMutableRawPointer(parked).assumingMemoryBound(to: Float.self),
                                          Int64(blockCols), out + i0 * nOut + j0, Int64(nOut), bias.map { $0 + j0 },
                                          phase.first ? 1 : 0, phase.last ? 1 : 0)
                    continue
                }
                var j = j0
                while j < j1 {
                    let cols = min(4, j1 - j)
                    // A ragged last tile repeats its last weight row; those results are dropped.
                    let wt = w + (j - j0) * ldw
                    let wRows = (wt, wt + min(1, cols - 1) * ldw, wt + min(2, cols - 1) * ldw, wt + min(3, cols - 1) * ldw)
                    var i = i0
                    while i < i1 {
                        let rows = i1 - i >= 3 ? 3 : 1
                        let tile = Tile(x: x + i * nIn + k0, ldx: nIn, w: wRows, count: count,
                                        parked: parked + (i - i0) * blockCols + (j - j0),
                                        out: out + i * nOut + j, ldo: nOut, bias: bias.map { $0 + j }, cols: cols)
                        if rows == 3 { tile.run3(phase) } else { tile.run1(phase) }
                        i += rows
                    }
                    j += 4
                }
            }
        }
    }

    /// Where a pass sits among the passes over the columns.
    struct Phase {
        /// Accumulators start at zero (else they are picked up from `parked`).
        let first: Bool
        /// Accumulators are folded into `out` (else they are parked).
        let last: Bool
    }

    /// One tile's operands: up to 3 input rows (`ldx` apart) against 4 weight rows, over `count`
    /// columns. `parked` holds the tile's accumulators between passes, laid out like the block's
    /// outputs: row `r`, weight row `c` at `parked[r * blockCols + c]`.
    struct Tile {
        let x: UnsafePointer<Float>
        let ldx: Int
        let w: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>)
        let count: Int
        let parked: UnsafeMutablePointer<F8>
        let out: UnsafeMutablePointer<Float>
        let ldo: Int
        let bias: UnsafePointer<Float>?
        /// Valid weight rows (outputs) in this tile, 1...4.
        let cols: Int

        /// Row `r`'s four accumulators.
        @inline(__always) func slot(_ r: Int) -> UnsafeMutablePointer<F8> { parked + r * blockCols }

        @inline(__always) func load(_ r: Int, _ phase: Phase) -> (F8, F8, F8, F8) {
            if phase.first { return (F8(), F8(), F8(), F8()) }
            let p = slot(r)
            return (p[0], p[1], p[2], p[3])
        }

        @inline(__always) func finish(_ r: Int, _ a: (F8, F8, F8, F8), _ phase: Phase) {
            guard phase.last else {
                let p = slot(r)
                p[0] = a.0; p[1] = a.1; p[2] = a.2; p[3] = a.3
                return
            }
            let o = out + r * ldo
            if cols == 4 {
                let b = bias.map { UnsafeRawPointer($0).loadUnaligned(as: SIMD4<Float>.self) } ?? SIMD4()
                UnsafeMutableRawPointer(o).storeBytes(of: fold4(a) + b, as: SIMD4<Float>.self)
            } else {
                let sums = fold4(a)
                for c in 0..<cols { o[c] = sums[c] + (bias?[c] ?? 0) }
            }
        }

        /// Three input rows by four weight rows.
        @inline(__always) func run3(_ phase: Phase) {
            let x0 = x, x1 = x + ldx, x2 = x + 2 * ldx
            var a0 = load(0, phase), a1 = load(1, phase), a2 = load(2, phase)
            let full = count & ~7
            var k = 0
            while k < full {
                step3(load8(x0 + k), load8(x1 + k), load8(x2 + k),
                      load8(w.0 + k), load8(w.1 + k), load8(w.2 + k), load8(w.3 + k), &a0, &a1, &a2)
                k &+= 8
            }
            if k < count {
                let n = count - k
                step3(zeroPadded(x0 + k, n), zeroPadded(x1 + k, n), zeroPadded(x2 + k, n),
                      zeroPadded(w.0 + k, n), zeroPadded(w.1 + k, n), zeroPadded(w.2 + k, n), zeroPadded(w.3 + k, n), &a0, &a1, &a2)
            }
            finish(0, a0, phase); finish(1, a1, phase); finish(2, a2, phase)
        }

        /// One input row by four weight rows (rows left over, and single-row decode).
        @inline(__always) func run1(_ phase: Phase) {
            var a = load(0, phase)
            let full = count & ~7
            var k = 0
            while k < full {
                step1(load8(x + k), load8(w.0 + k), load8(w.1 + k), load8(w.2 + k), load8(w.3 + k), &a)
                k &+= 8
            }
            if k < count {
                let n = count - k
                step1(zeroPadded(x + k, n), zeroPadded(w.0 + k, n), zeroPadded(w.1 + k, n), zeroPadded(w.2 + k, n), zeroPadded(w.3 + k, n), &a)
            }
            finish(0, a, phase)
        }
    }
}

// The per-element arithmetic, in one place for both tile shapes: each accumulator lane gets one
// FMA per column step, so a 3-row tile and a 1-row tile compute identical bits.

/// One column step of a 3 x 4 tile. The FMA per element is the same as in `step1`.
@inline(__always)
private func step3(_ u0: F8, _ u1: F8, _ u2: F8, _ v0: F8, _ v1: F8, _ v2: F8, _ v3: F8,
                  _ a0: inout (F8, F8, F8, F8), _ a1: inout (F8, F8, F8, F8), _ a2: inout (F8, F8, F8, F8)) {
    a0.0 = a0.0.addingProduct(u0, v0); a1.0 = a1.0.addingProduct(u1, v0); a2.0 = a2.0.addingProduct(u2, v0)
    a0.1 = a0.1.addingProduct(u0, v1); a1.1 = a1.1.addingProduct(u1, v1); a2.1 = a2.1.addingProduct(u2, v1)
    a0.2 = a0.2.addingProduct(u0, v2); a1.2 = a1.2.addingProduct(u1, v2); a2.2 = a2.2.addingProduct(u2, v2)
    a0.3 = a0.3.addingProduct(u0, v3); a1.3 = a1.3.addingProduct(u1, v3); a2.3 = a2.3.addingProduct(u2, v3)
}

@inline(__always)
private func step1(_ u: F8, _ v0: F8, _ v1: F8, _ v2: F8, _ v3: F8, _ a: inout (F8, F8, F8, F8)) {
    a.0 = a.0.addingProduct(u, v0)
    a.1 = a.1.addingProduct(u, v1)
    a.2 = a.2.addingProduct(u, v2)
    a.3 = a.3.addingProduct(u, v3)
}

/// The last `n < 8` values at `p`, zero-padded to eight lanes.
@inline(__always)
private func zeroPadded(_ p: UnsafePointer<Float>, _ n: Int) -> F8 {
    var v = F8()
    for l in 0..<n { v[l] = p[l] }
    return v
}
