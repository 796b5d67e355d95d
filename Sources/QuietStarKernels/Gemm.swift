import CKernels
/// `C (+)= A · B` with `B` read along its rows: the two products of a linear layer's backward,
/// neither of which has the `[out, in]`-times-row shape `LinearTiles` computes.
///
/// - `dx[m, in] (+)= dy[m, out] · W[out, in]`: A is `dy` (row stride `out`, depth stride 1), B is
///   `W` itself, depth `out`.
/// - `dW[out, in] += dyᵀ[out, m] · x[m, in]`: A is `dy` read down its columns (row stride 1,
///   depth stride `out`), B is `x`, depth `m`.
///
/// So A is addressed by two strides and nothing is transposed: each work item copies its block
/// of A into `rowBlock`-wide depth rows as it goes. B is packed into 64-column tiles (zero-padded,
/// each `depth x 64` contiguous), the usual BLIS layout, because its rows sit a whole matrix
/// width apart and a strided 64-column panel maps onto a handful of L1 sets.
///
/// How one element is computed, whatever the tiling, thread count or ISA: one FMA chain in
/// depth order, `c = fma(a[k], b[k], c)` for `k = 0, 1, ...`, started from the stored `c` (or
/// from +0 with `fromZero`). Parking `c` in memory between depth blocks changes nothing, so the
/// AVX-512 kernel (`qs_gemm_block_avx512`, 6 rows by 64 columns in 24 zmm registers) and the
/// Swift one (6 rows by 16 columns in 12 ymm registers) write the same bits, and a row's result
/// never depends on how many rows share the call. That is what sgemm could not promise, and why
/// training's numbers no longer depend on the OpenBLAS build or its core type.
///
/// How the work is cut, for speed only: B is packed up to `packDepth` rows at a time (bounding
/// the scratch by `packBytes`, not the whole matrix); each work item owns `rowBlock` rows of C
/// and a run of column tiles and walks the depth in `depthBlock` steps, so one tile's packed
/// block (`depthBlock x 64` floats, 32 KiB) stays in L1 while the row tiles stream past it and the
/// A block (`rowBlock x depthBlock`) stays in L2 across the column tiles.
public enum Gemm {
    /// Columns per packed tile (the C kernel's `QS_GEMM_TILE_COLS`).
    static let tileCols = Int(QS_GEMM_TILE_COLS)
    /// Depth per inner block (see above).
    static let depthBlock = 128
    /// Rows of B packed at once, at most: a multiple of `depthBlock`.
    static let packDepth = 1024
    /// Bytes of packed B at once, at most (a wide B packs fewer rows): every row block re-reads
    /// the whole packed block, which should come from the last-level cache, not from DRAM.
    static let packBytes = 8 << 20
    /// Rows of C per work item (a multiple of the 6-row tile).
    static let rowBlock = 96

    /// Scratch slots used by Gemm (the packed B, then packed blocks of A); inside `Linear.scratchSlots`.
    public static let scratchSlots = 0..<2

    /// `c[i * ldc + j] (+)= Σ_k a[i * aRowStride + k * aDepthStride] · B[k][j]` for `i < rows`,
    /// `j < b.cols`, `k < b.rows`, where B is `b` (any weight encoding; compressed rows are
    /// decoded while packing). With `fromZero` the sums start from zero and `c`'s old contents
    /// are ignored, else they are added to. `c` must not overlap `a` or `b`.
    public static func accumulate(rows m: Int, a: UnsafePointer<Float>, aRowStride: Int, aDepthStride: Int,
                                  b: WeightMatrix, c: UnsafeMutablePointer<Float>, ldc: Int, fromZero: Bool,
                                  scratch: Scratch, isa: KernelISA = .current) {
        let n = b.cols, depth = b.rows
        guard m > 0, n > 0 else { return }
        if depth == 0 {
            if fromZero { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
            return
        }
        let tiles = (n + tileCols - 1) / tileCols
        let fitting = packBytes / (tiles * tileCols * MemoryLayout<Float>.stride) / depthBlock * depthBlock
        let packRows = min(max(depthBlock, min(packDepth, fitting)), depth)
        let tileStride = packRows * tileCols
        let packed = scratch.floats(tiles * tileStride, slot: scratchSlots.lowerBound)
        let rowBlocks = (m + rowBlock - 1) / rowBlock
        // Enough work items to balance the workers: split the columns too when rows are few.
        let target = Threads.count == 1 ? 1 : Threads.count * 4
        let colGroups = min(tiles, max(1, (target + rowBlocks - 1) / rowBlocks))
        let items = rowBlocks * colGroups
        let chunks = min(items, target)
        // Each chunk copies its A block into `rowBlock`-wide depth rows first: read down its
        // columns (dW's dyᵀ) A has its depth steps a whole matrix width apart (a page per step),
        // and along its rows (dx's dy) six separate streams; packed, a step's six values share a
        // cache line. Measured 5-10% faster for both layouts on both paths.
        let aBuffers = scratch.floats(chunks * rowBlock * depthBlock, slot: scratchSlots.lowerBound + 1)
        var k0 = 0
        while k0 < depth {
            let kRows = min(packRows, depth - k0)
            pack(b, from: k0, rows: kRows, tiles: tiles, into: packed, tileStride: tileStride)
            let startsFromZero = fromZero && k0 == 0
            Threads.parallelFor(chunks) { chunk in
                for item in (items * chunk / chunks)..<(items * (chunk + 1) / chunks) {
                    let rb = item / colGroups, cg = item % colGroups
                    let i0 = rb * rowBlock, i1 = min(m, i0 + rowBlock)
                    let t0 = tiles * cg / colGroups, t1 = tiles * (cg + 1) / colGroups
                    guard t0 < t1 else { continue }
                    let cols = min(n, t1 * tileCols) - t0 * tileCols
                    var kb = 0
                    while kb < kRows {
                        let count = min(depthBlock, kRows - kb)
                        let aBlock = aBuffers + chunk * rowBlock * depthBlock
                        packA(a + i0 * aRowStride + (k0 + kb) * aDepthStride, rowStride: aRowStride,
                              depthStride: aDepthStride, rows: i1 - i0, depth: count, into: aBlock)
                        let pBlock = UnsafePointer(packed + t0 * tileStride + kb * tileCols)
                        let cBlock = c + i0 * ldc + t0 * tileCols
                        let zero = startsFromZero && kb == 0
                        // The packed block: row stride 1, depth stride `rowBlock`.
                        if isa == .avx512 {
                            qs_gemm_block_avx512(aBlock, 1, Int64(rowBlock), Int64(i1 - i0), pBlock, Int64(tileStride),
                                                 Int64(count), cBlock, Int64(ldc), Int64(cols), zero ? 1 : 0)
                        } else {
                            block(a: aBlock, aRowStride: 1, aDepthStride: rowBlock, rows: i1 - i0, packed: pBlock,
                                  tileStride: tileStride, depth: count, c: cBlock, ldc: ldc, cols: cols, zero: zero)
                        }
                        kb += count
                    }
                }
            }
            k0 += kRows
        }
    }

    /// Copies an A block into `rowBlock`-wide depth rows: `buffer[k * rowBlock + i] = a(i, k)`.
    static func packA(_ a: UnsafePointer<Float>, rowStride: Int, depthStride: Int, rows: Int, depth: Int,
                      into buffer: UnsafeMutablePointer<Float>) {
        if rowStride == 1 {
            for k in 0..<depth { (buffer + k * rowBlock).update(from: a + k * depthStride, count: rows) }
        } else {
            for i in 0..<rows {
                let row = a + i * rowStride
                for k in 0..<depth { buffer[k * rowBlock + i] = row[k * depthStride] }
            }
        }
    }

    /// Packs rows `k0 ..< k0 + rows` of `b` into column tiles: tile `t`, row `k` at
    /// `packed[t * tileStride + k * 64 ..< +64]`, zero past the last column.
    static func pack(_ b: WeightMatrix, from k0: Int, rows: Int, tiles: Int, into packed: UnsafeMutablePointer<Float>,
                     tileStride: Int) {
        let n = b.cols, encoding = b.encoding
        Threads.parallelRanges(tiles * rows, minChunk: 256) { range in
            for item in range {
                let t = item / rows, k = item % rows
                let j0 = t * tileCols, valid = min(tileCols, n - j0)
                let dst = packed + t * tileStride + k * tileCols
                Convert.decode(b.row(k0 + k) + Convert.byteCount(encoding, count: j0), encoding, count: valid, into: dst)
                if valid < tileCols { (dst + valid).update(repeating: 0, count: tileCols - valid) }
            }
        }
    }

    /// The baseline kernel of one block (`qs_gemm_block_avx512`'s arguments): column tiles in
    /// 16-column slices (skipping slices wholly past `cols`), each against row tiles of 6 and
    /// then single rows.
    static func block(a: UnsafePointer<Float>, aRowStride: Int, aDepthStride: Int, rows: Int,
                      packed: UnsafePointer<Float>, tileStride: Int, depth: Int,
                      c: UnsafeMutablePointer<Float>, ldc: Int, cols: Int, zero: Bool) {
        var j = 0
        while j < cols {
            let tile = packed + (j / tileCols) * tileStride + j % tileCols
            let valid = min(16, cols - j)
            let t = Tile(packed: tile, depth: depth, valid: valid, zero: zero)
            var i = 0
            while i + 6 <= rows {
                t.run6(a: a + i * aRowStride, rs: aRowStride, ks: aDepthStride, c: c + i * ldc + j, ldc: ldc)
                i += 6
            }
            while i < rows {
                t.run1(a: a + i * aRowStride, ks: aDepthStride, c: c + i * ldc + j)
                i += 1
            }
            j += 16
        }
    }

    /// Rows of C against one 16-column slice of a packed tile (row stride 64), `valid` columns
    /// kept. Every element: `c = c.addingProduct(a, b)` (one FMA) per depth step, in order.
    struct Tile {
        let packed: UnsafePointer<Float>
        let depth: Int
        let valid: Int
        let zero: Bool

        @inline(__always) func load(_ p: UnsafeMutablePointer<Float>) -> (F8, F8) {
            if zero { return (F8(), F8()) }
            if valid == 16 { return (load8(p), load8(p + 8)) }
            var v = (F8(), F8())
            for l in 0..<valid { if l < 8 { v.0[l] = p[l] } else { v.1[l - 8] = p[l] } }
            return v
        }

        @inline(__always) func store(_ v: (F8, F8), _ p: UnsafeMutablePointer<Float>) {
            if valid == 16 { store8(v.0, p); store8(v.1, p + 8); return }
            for l in 0..<valid { p[l] = l < 8 ? v.0[l] : v.1[l - 8] }
        }

        /// Six rows `rs` apart.
        @inline(__always) func run6(a: UnsafePointer<Float>, rs: Int, ks: Int, c: UnsafeMutablePointer<Float>, ldc: Int) {
            var c0 = load(c), c1 = load(c + ldc), c2 = load(c + 2 * ldc)
            var c3 = load(c + 3 * ldc), c4 = load(c + 4 * ldc), c5 = load(c + 5 * ldc)
            var k = 0, ak = 0
            while k < depth {
                let b = packed + k * Gemm.tileCols
                let b0 = load8(b), b1 = load8(b + 8)
                var s = F8(repeating: a[ak])
                c0.0 = c0.0.addingProduct(s, b0); c0.1 = c0.1.addingProduct(s, b1)
                s = F8(repeating: a[ak + rs])
                c1.0 = c1.0.addingProduct(s, b0); c1.1 = c1.1.addingProduct(s, b1)
                s = F8(repeating: a[ak + 2 * rs])
                c2.0 = c2.0.addingProduct(s, b0); c2.1 = c2.1.addingProduct(s, b1)
                s = F8(repeating: a[ak + 3 * rs])
                c3.0 = c3.0.addingProduct(s, b0); c3.1 = c3.1.addingProduct(s, b1)
                s = F8(repeating: a[ak + 4 * rs])
                c4.0 = c4.0.addingProduct(s, b0); c4.1 = c4.1.addingProduct(s, b1)
                s = F8(repeating: a[ak + 5 * rs])
                c5.0 = c5.0.addingProduct(s, b0); c5.1 = c5.1.addingProduct(s, b1)
                k &+= 1
                ak &+= ks
            }
            store(c0, c); store(c1, c + ldc); store(c2, c + 2 * ldc)
            store(c3, c + 3 * ldc); store(c4, c + 4 * ldc); store(c5, c + 5 * ldc)
        }

        /// One row (the rows a 6-row tile leaves over).
        @inline(__always) func run1(a: UnsafePointer<Float>, ks: Int, c: UnsafeMutablePointer<Float>) {
            var c0 = load(c)
            var k = 0, ak = 0
            while k < depth {
                let b = packed + k * Gemm.tileCols
                let s = F8(repeating: a[ak])
                c0.0 = c0.0.addingProduct(s, load8(b)); c0.1 = c0.1.addingProduct(s, load8(b + 8))
                k &+= 1
                ak &+= ks
            }
            store(c0, c)
        }
    }
}
