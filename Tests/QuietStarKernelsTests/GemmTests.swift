import QuietStarFormat
import QuietStarTestSupport
import Testing
@testable import QuietStarKernels

/// `Gemm.accumulate`, the backward products of every linear layer: its sums against float64,
/// its promise that an element is one FMA chain in depth order (so the bits are the same on both
/// ISA paths and whichever rows share the call), and every seam of its cutting: rows that are
/// not a multiple of the 6-row tile and span several row blocks, columns with a ragged 16- and
/// 64-column tail, depths that cross the 128-row inner block and the 1024-row packing block,
/// both stride layouts of A, compressed B, and starting from zero or from the stored C.
@Suite struct GemmTests {
    /// (rows, cols, depth)
    static let shapes: [(m: Int, n: Int, k: Int)] = [
        (1, 1, 1), (1, 7, 3), (5, 16, 64), (6, 64, 128), (7, 65, 129), (13, 100, 300),
        (101, 70, 1061), (200, 33, 2100), (97, 130, 40),
    ]

    /// A's two layouts: `dy` along its rows (dx = dy · W) and down its columns (dW = dyᵀ · x).
    enum Layout: CaseIterable { case rows, columns }

    struct Case {
        let m: Int, n: Int, k: Int
        let layout: Layout
        let a: [Float], c: [Float]
        var b: [Float]
        var aRowStride: Int { layout == .rows ? k : 1 }
        var aDepthStride: Int { layout == .rows ? 1 : m }

        init(_ shape: (m: Int, n: Int, k: Int), layout: Layout, seed: UInt64) {
            var rng = SplitMix64(seed: seed)
            (m, n, k) = shape
            self.layout = layout
            a = rng.floats(m * k)
            b = rng.floats(k * n, scale: 0.5)
            c = rng.floats(m * n)
        }

        func element(_ i: Int) -> (row: Int, col: Int) { (i / n, i % n) }
        func aValue(_ r: Int, _ d: Int) -> Float { a[r * aRowStride + d * aDepthStride] }

        /// Runs the product on `rows` (a subset of C's rows, in the order given), returns those rows of C.
        func run(_ isa: KernelISA, fromZero: Bool, rows: [Int]? = nil, bRaw: [UInt8]? = nil, dtype: DType = .f32,
                 scratch: Scratch) -> [Float] {
            let rows = rows ?? Array(0..<m)
            // The chosen rows of A, as their own operand with the same layout.
            let sub = Case(copying: self, rows: rows)
            var out = rows.flatMap { c[($0 * n)..<(($0 + 1) * n)] }
            let raw = bRaw ?? b.withUnsafeBytes { [UInt8]($0) }
            withWeight(raw, dtype: WeightEncoding(dtype), rows: k, cols: n) { w in
                Gemm.accumulate(rows: rows.count, a: sub.a, aRowStride: sub.aRowStride, aDepthStride: sub.aDepthStride,
                                b: w, c: &out, ldc: n, fromZero: fromZero, scratch: scratch, isa: isa)
            }
            return out
        }

        init(copying o: Case, rows: [Int]) {
            m = rows.count; n = o.n; k = o.k; layout = o.layout; b = o.b; c = o.c
            var a = [Float](repeating: 0, count: m * k)
            for (i, r) in rows.enumerated() {
                for d in 0..<k { a[o.layout == .rows ? i * k + d : i + d * m] = o.aValue(r, d) }
            }
            self.a = a
        }
    }

    @Test(arguments: Layout.allCases)
    func sumsMatchFloat64(layout: Layout) {
        let scratch = Scratch()
        for (shape, seed) in zip(Self.shapes, 1...) {
            let t = Case(shape, layout: layout, seed: UInt64(seed))
            for fromZero in [true, false] {
                let got = t.run(.current, fromZero: fromZero, scratch: scratch)
                var worst = 0.0
                for i in 0..<(t.m * t.n) {
                    let (r, j) = t.element(i)
                    var s = fromZero ? 0.0 : Double(t.c[i]), magnitude = abs(s)
                    for d in 0..<t.k {
                        let p = Double(t.aValue(r, d)) * Double(t.b[d * t.n + j])
                        s += p
                        magnitude += abs(p)
                    }
                    worst = max(worst, abs(Double(got[i]) - s) / max(1e-30, magnitude))
                }
                // A chain of k roundings: relative to Σ|terms| the error is at most about k·2⁻²⁴.
                #expect(worst <= Double(t.k + 1) * 0x1p-24, "\(shape) \(layout) fromZero \(fromZero): relative error \(worst)")
            }
        }
    }

    /// The per-element order is one FMA chain: checked bit for bit against a scalar `fma` loop.
    @Test(arguments: Layout.allCases)
    func everyElementIsOneFMAChainInDepthOrder(layout: Layout) {
        let scratch = Scratch()
        for isa in KernelISA.allCases where isa.isSupported {
            for (shape, seed) in zip(Self.shapes, 11...) {
                let t = Case(shape, layout: layout, seed: UInt64(seed))
                let got = t.run(isa, fromZero: false, scratch: scratch)
                var mismatches = 0
                for i in 0..<(t.m * t.n) {
                    let (r, j) = t.element(i)
                    var s = t.c[i]
                    for d in 0..<t.k { s = s.addingProduct(t.aValue(r, d), t.b[d * t.n + j]) }
                    if s.bitPattern != got[i].bitPattern { mismatches += 1 }
                }
                #expect(mismatches == 0, "\(isa) \(shape) \(layout): \(mismatches) elements differ from the FMA chain")
            }
        }
    }

    @Test(arguments: Layout.allCases)
    func avx512MatchesTheBaselineBitForBit(layout: Layout) {
        guard KernelISA.avx512.isSupported else {
            print("GemmTests: this CPU has no AVX-512; only the baseline path runs here")
            return
        }
        let scratch = Scratch()
        for (shape, seed) in zip(Self.shapes, 21...) {
            let t = Case(shape, layout: layout, seed: UInt64(seed))
            for fromZero in [true, false] {
                let base = t.run(.baseline, fromZero: fromZero, scratch: scratch).map(\.bitPattern)
                let wide = t.run(.avx512, fromZero: fromZero, scratch: scratch).map(\.bitPattern)
                #expect(base == wide, "\(shape) \(layout) fromZero \(fromZero)")
            }
        }
    }

    /// A row's bits do not depend on which other rows share the call (row blocks, column groups
    /// and work items all move with the row count).
    @Test func rowBitsDependOnTheRowAlone() {
        let scratch = Scratch()
        let t = Case((m: 203, n: 150, k: 1100), layout: .columns, seed: 5)
        let whole = t.run(.current, fromZero: true, scratch: scratch)
        for rows in [[0], [202, 7, 100], Array(stride(from: 1, to: 203, by: 2)), Array(97..<203)] {
            let part = t.run(.current, fromZero: true, rows: rows, scratch: scratch)
            let expected = rows.flatMap { whole[($0 * t.n)..<(($0 + 1) * t.n)] }
            #expect(part.map(\.bitPattern) == expected.map(\.bitPattern), "rows \(rows.prefix(4))... (\(rows.count))")
        }
    }

    /// Compressed B is decoded while it is packed: the result is the f32 product of the decoded values.
    @Test(arguments: [DType.f16, .bf16, .q8_0])
    func compressedOperandsAreDecodedExactly(dtype: DType) {
        let scratch = Scratch()
        let t = Case((m: 19, n: 96, k: 150), layout: .rows, seed: 9)
        var raw = [UInt8](repeating: 0, count: Convert.byteCount(WeightEncoding(dtype), count: t.k * t.n))
        t.b.withUnsafeBufferPointer { src in raw.withUnsafeMutableBytes { DTypeCodec.encode(src, as: dtype, into: $0) } }
        var decoded = [Float](repeating: 0, count: t.k * t.n)
        raw.withUnsafeBytes { Convert.decode($0.baseAddress!, WeightEncoding(dtype), count: t.k * t.n, into: &decoded) }
        var viaDecoded = t
        viaDecoded.b = decoded
        for isa in KernelISA.allCases where isa.isSupported {
            let got = t.run(isa, fromZero: false, bRaw: raw, dtype: dtype, scratch: scratch)
            let want = viaDecoded.run(isa, fromZero: false, scratch: scratch)
            #expect(got.map(\.bitPattern) == want.map(\.bitPattern), "\(dtype) via \(isa)")
        }
    }

    @Test func emptyDepthClearsOrKeeps() {
        var c: [Float] = [1, 2, 3, 4]
        let a: [Float] = [0]
        withWeight([0, 0, 0, 0], dtype: .f32, rows: 0, cols: 2) { w in
            Gemm.accumulate(rows: 2, a: a, aRowStride: 0, aDepthStride: 1, b: w, c: &c, ldc: 2, fromZero: false, scratch: Scratch())
            #expect(c == [1, 2, 3, 4])
            Gemm.accumulate(rows: 2, a: a, aRowStride: 0, aDepthStride: 1, b: w, c: &c, ldc: 2, fromZero: true, scratch: Scratch())
            #expect(c == [0, 0, 0, 0])
        }
    }
}
