import CKernels
/// `LinearTiles` for one input row and f16, bf16 or Q8_0 weights (and f32 on the AVX-512 path,
/// whose row kernel prefetches): batch-1 decode, where the whole cost is reading the weights once.
///
/// The tiled kernel decodes a slice of weight rows into f32 scratch and then streams the input
/// rows past it, which pays when many rows share the slice. With one row every decoded value is
/// used once, so the detour (a store and a reload per weight) made f16 decode *slower* than f32
/// although it reads half the bytes. Here each weight row is converted eight values at a time in
/// registers and fed straight to the FMA.
///
/// The arithmetic is `LinearTiles`' exactly: lane `l` of each of four accumulators adds columns
/// `l, l+8, ...` in order (the decoded value is the same f32 `Convert.decode` writes; a ragged
/// tail is zero-padded), `fold4` adds the lanes, then the bias. So a row's output is the same
/// bits whichever kernel computed it, and batch invariance holds across the switch.
enum LinearRow {
    /// Weight rows per work item handed to a worker (a multiple of the 4-row tile).
    static let chunkRows = 64

    static func forward(x: UnsafePointer<Float>, weight: WeightMatrix, bias: UnsafePointer<Float>?,
                        out: UnsafeMutablePointer<Float>, isa: KernelISA = .current) {
        precondition(weight.encoding != .f32 || isa == .avx512, "LinearRow: f32 weights take the tiled kernel on the baseline path")
        let nOut = weight.rows
        let items = (nOut + chunkRows - 1) / chunkRows
        let chunks = min(items, Threads.count == 1 ? 1 : Threads.count * 4)
        // The C kernel's name for the encoding (only read on the AVX-512 path).
        let code: Int32 = switch weight.encoding {
        case .f32: Int32(QS_ENCODING_F32)
        case .f16: Int32(QS_ENCODING_F16)
        case .bf16: Int32(QS_ENCODING_BF16)
        case .q8_0: Int32(QS_ENCODING_Q8_0)
        }
        Threads.parallelFor(chunks) { c in
            if isa == .avx512 {
                // The same arithmetic, 16 rows per tile in 512-bit registers, next rows prefetched.
                let first = items * c / chunks * chunkRows, end = min(nOut, items * (c + 1) / chunks * chunkRows)
                qs_linear_rows_avx512(x, Int64(weight.cols), weight.base, Int64(weight.rowBytes), code,
                                      Int64(first), Int64(end), bias, out)
                return
            }
            for item in (items * c / chunks)..<(items * (c + 1) / chunks) {
                var j = item * chunkRows
                let end = min(nOut, j + chunkRows)
                while j < end {
                    tile(x: x, weight: weight, first: j, cols: min(4, end - j), bias: bias, out: out)
                    j += 4
                }
            }
        }
    }

    /// Outputs `first ..< first + cols` (`cols` 1...4; a ragged tile repeats its last row).
    @inline(__always)
    static func tile(x: UnsafePointer<Float>, weight: WeightMatrix, first j: Int, cols: Int,
                     bias: UnsafePointer<Float>?, out: UnsafeMutablePointer<Float>) {
        let r = (weight.row(j), weight.row(j + min(1, cols - 1)), weight.row(j + min(2, cols - 1)),
                 weight.row(j + min(3, cols - 1)))
        var a = (F8(), F8(), F8(), F8())
        let n = weight.cols
        switch weight.encoding {
        case .f16:
            halves(x, n, r, &a, f16x8) { row, i in Float(Float16(bitPattern: row.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
        case .bf16:
            halves(x, n, r, &a, bf16x8) { row, i in Float(bitPattern: UInt32(row.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16) }
        case .q8_0:
            var b = (r.0, r.1, r.2, r.3)
            var k = 0
            while k < n {
                let d = (q8Scale(b.0), q8Scale(b.1), q8Scale(b.2), q8Scale(b.3))
                for s in 0..<4 {
                    let u = load8(x + k + 8 * s)
                    a.0 = a.0.addingProduct(u, q8x8(b.0, s) * d.0)
                    a.1 = a.1.addingProduct(u, q8x8(b.1, s) * d.1)
                    a.2 = a.2.addingProduct(u, q8x8(b.2, s) * d.2)
                    a.3 = a.3.addingProduct(u, q8x8(b.3, s) * d.3)
                }
                b = (b.0 + Convert.q8BlockBytes, b.1 + Convert.q8BlockBytes, b.2 + Convert.q8BlockBytes,
                     b.3 + Convert.q8BlockBytes)
                k += Convert.q8BlockSize
            }
        case .f32:
            preconditionFailure("LinearRow: f32")
        }
        // The same finish as `LinearTiles.Tile.finish` on its last pass.
        let o = out + j
        if cols == 4 {
            let bv = bias.map { UnsafeRawPointer($0 + j).loadUnaligned(as: SIMD4<Float>.self) } ?? SIMD4()
            UnsafeMutableRawPointer(o).storeBytes(of: fold4(a) + bv, as: SIMD4<Float>.self)
        } else {
            let sums = fold4(a)
            for c in 0..<cols { o[c] = sums[c] + (bias?[j + c] ?? 0) }
        }
    }

    /// Four rows of 16-bit values, f16 or bf16 (`eight` widens eight of a row's values, `element` one).
    @inline(__always)
    static func halves(_ x: UnsafePointer<Float>, _ n: Int,
                       _ r: (UnsafeRawPointer, UnsafeRawPointer, UnsafeRawPointer, UnsafeRawPointer),
                       _ a: inout (F8, F8, F8, F8), _ eight: (UnsafeRawPointer, Int) -> F8,
                       _ element: (UnsafeRawPointer, Int) -> Float) {
        var k = 0
        while k + 8 <= n {
            let u = load8(x + k)
            a.0 = a.0.addingProduct(u, eight(r.0, k))
            a.1 = a.1.addingProduct(u, eight(r.1, k))
            a.2 = a.2.addingProduct(u, eight(r.2, k))
            a.3 = a.3.addingProduct(u, eight(r.3, k))
            k += 8
        }
        if k < n { tail(x, k, n, &a, r, element) }
    }

    /// The last `n - k < 8` columns, zero-padded as the tiled kernel pads them.
    @inline(__always)
    static func tail(_ x: UnsafePointer<Float>, _ k: Int, _ n: Int, _ a: inout (F8, F8, F8, F8),
                     _ r: (UnsafeRawPointer, UnsafeRawPointer, UnsafeRawPointer, UnsafeRawPointer),
                     _ element: (UnsafeRawPointer, Int) -> Float) {
        var u = F8(), v0 = F8(), v1 = F8(), v2 = F8(), v3 = F8()
        for l in 0..<(n - k) {
            u[l] = x[k + l]
            v0[l] = element(r.0, k + l); v1[l] = element(r.1, k + l)
            v2[l] = element(r.2, k + l); v3[l] = element(r.3, k + l)
        }
        a.0 = a.0.addingProduct(u, v0)
        a.1 = a.1.addingProduct(u, v1)
        a.2 = a.2.addingProduct(u, v2)
        a.3 = a.3.addingProduct(u, v3)
    }
}
