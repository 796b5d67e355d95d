import QuietStarFormat
import QuietStarTestSupport
import Testing
@testable import QuietStarKernels

/// Every instruction-set path computes the same bits: the AVX-512 tiles against the baseline
/// (Swift SIMD, AVX2) tiles, and for one input row of compressed weights the AVX-512 row kernel
/// against LinearRow, on shapes that hit every edge of both tilings (ragged 6-row and
/// 3-row tiles, ragged 8- and 4-column tiles, several row and column blocks, one and several
/// passes over the columns, a column tail that is not a multiple of 8, with and without bias,
/// and values whose sums cancel to signed zeros).
@Suite struct KernelISATests {
    static let shapes: [(m: Int, nOut: Int, nIn: Int)] = [
        (1, 1, 7), (1, 5, 37), (1, 70, 1061), (1, 130, 520), (1, 33, 64),
        (2, 1, 7), (5, 13, 37), (13, 70, 64), (49, 130, 1061), (101, 70, 1088), (7, 9, 2100), (96, 128, 96),
    ]

    @Test(arguments: [DType.f32, .f16, .bf16, .q8_0])
    func avx512TilesMatchTheBaselineBitForBit(dtype: DType) throws {
        guard KernelISA.avx512.isSupported else {
            print("KernelISATests: this CPU has no AVX-512; only the baseline path runs here")
            return
        }
        let scratch = Scratch()
        for (shape, seed) in zip(Self.shapes, 1...) {
            let nIn = dtype == .q8_0 ? (shape.nIn + 31) / 32 * 32 : shape.nIn
            var rng = SplitMix64(seed: UInt64(seed))
            var x = rng.floats(shape.m * nIn)
            // A row of exact zeros and one of -0: their sums are signed zeros the fold must keep.
            if shape.m > 1 { for k in 0..<nIn { x[k] = 0; x[nIn + k] = -0.0 } }
            let values = rng.floats(shape.nOut * nIn, scale: 0.5), bias = rng.floats(shape.nOut)
            var raw = [UInt8](repeating: 0, count: Convert.byteCount(WeightEncoding(dtype), count: shape.nOut * nIn))
            values.withUnsafeBufferPointer { src in raw.withUnsafeMutableBytes { DTypeCodec.encode(src, as: dtype, into: $0) } }
            withWeight(raw, dtype: WeightEncoding(dtype), rows: shape.nOut, cols: nIn) { w in
                for b in [bias, nil] as [[Float]?] {
                    func run(_ isa: KernelISA) -> [UInt32] {
                        var y = [Float](repeating: .nan, count: shape.m * shape.nOut)
                        let call = { (p: UnsafePointer<Float>?) in
                            LinearTiles.forward(x: x, rows: shape.m, weight: w, bias: p, out: &y, scratch: scratch, isa: isa)
                        }
                        if let b { b.withUnsafeBufferPointer { call($0.baseAddress) } } else { call(nil) }
                        return y.map(\.bitPattern)
                    }
                    let base = run(.baseline), wide = run(.avx512)
                    let differing = (0..<base.count).filter { base[$0] != wide[$0] }
                    #expect(differing.isEmpty,
                            "\(dtype) \(shape) bias \(b != nil): \(differing.count) outputs differ, first at \(differing.first ?? -1)")
                    #expect(!base.contains { Float(bitPattern: $0).isNaN }, "\(dtype) \(shape): an output was not written")
                }
            }
        }
    }

    @Test func environmentChoosesThePath() {
        var warnings: [String] = []
        let warn = { (s: String) in warnings.append(s) }
        #expect(KernelISA.resolve(environment: nil, warn: warn) == KernelISA.best)
        #expect(KernelISA.resolve(environment: "auto", warn: warn) == KernelISA.best)
        #expect(KernelISA.resolve(environment: "avx2", warn: warn) == .baseline)
        #expect(KernelISA.resolve(environment: "baseline", warn: warn) == .baseline)
        #expect(warnings.isEmpty)
        #expect(KernelISA.resolve(environment: "avx521", warn: warn) == KernelISA.best)
        #expect(warnings.last?.contains("QUIETSTAR_ISA=avx521") == true)
        let avx512 = KernelISA.resolve(environment: "avx512", warn: warn)
        #expect(avx512 == (KernelISA.avx512.isSupported ? .avx512 : .baseline))
    }
}
