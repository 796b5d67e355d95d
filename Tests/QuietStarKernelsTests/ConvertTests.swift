import Foundation
import QuietStarFormat
import QuietStarTestSupport
import Testing
@testable import QuietStarKernels

@Suite struct ConvertTests {
    @Test(arguments: ["f32", "f16", "bf16", "q8_0"])
    func decodesReferenceEncodings(dtype: String) {
        let ref = Reference.shared
        let raw = ref.bytes("embedding/\(dtype)/raw")
        let expected = ref.floats("embedding/\(dtype)/decoded")
        var out = [Float](repeating: .nan, count: expected.count)
        raw.withUnsafeBytes { src in
            out.withUnsafeMutableBufferPointer { dst in
                Convert.decode(src.baseAddress!, .named(dtype), count: expected.count, into: dst.baseAddress!)
            }
        }
        // Decoding is exact: every stored value is representable in f32.
        #expect(out == expected, "\(dtype) decode differs from the numpy reference")
    }

    /// Every f16 and bf16 bit pattern, against the scalar definitions (Swift's `Float16` and the
    /// bf16 bit layout), through both the vector body and the scalar tail (odd count).
    @Test func everyHalfPattern() {
        let patterns = (0...UInt16.max).map { $0 }
        let count = patterns.count - 1  // 65535: not a multiple of 8 or 16
        var f16 = [Float](repeating: 0, count: count), bf16 = [Float](repeating: 0, count: count)
        patterns.withUnsafeBytes { src in
            Convert.decode(src.baseAddress!, .f16, count: count, into: &f16)
            Convert.decode(src.baseAddress!, .bf16, count: count, into: &bf16)
        }
        var bad16 = 0, badBF = 0
        for i in 0..<count {
            let h = Float(Float16(bitPattern: patterns[i]))
            if !(h == f16[i] && h.sign == f16[i].sign) && !(h.isNaN && f16[i].isNaN) { bad16 += 1 }
            let b = Float(bitPattern: UInt32(patterns[i]) << 16)
            if b.bitPattern != bf16[i].bitPattern { badBF += 1 }
        }
        #expect(bad16 == 0, "f16 patterns decoded wrongly: \(bad16)")
        #expect(badBF == 0, "bf16 patterns decoded wrongly: \(badBF)")
    }

    @Test func q8BlocksMatchScalarDefinition() {
        var rng = SplitMix64(seed: 7)
        let blocks = 5
        var raw = [UInt8](repeating: 0, count: blocks * 34)
        var expected = [Float]()
        for b in 0..<blocks {
            let scale = Float16(rng.uniform(0.1))
            let bits = scale.bitPattern
            raw[b * 34] = UInt8(bits & 0xFF)
            raw[b * 34 + 1] = UInt8(bits >> 8)
            for j in 0..<32 {
                let q = Int8(truncatingIfNeeded: Int(rng.next() % 255) - 127)
                raw[b * 34 + 2 + j] = UInt8(bitPattern: q)
                expected.append(Float(scale) * Float(q))
            }
        }
        var out = [Float](repeating: 0, count: blocks * 32)
        raw.withUnsafeBytes { Convert.decode($0.baseAddress!, .q8_0, count: blocks * 32, into: &out) }
        #expect(out == expected)
    }

    @Test func byteCounts() {
        #expect(Convert.byteCount(.f32, count: 64) == 256)
        #expect(Convert.byteCount(.f16, count: 64) == 128)
        #expect(Convert.byteCount(.bf16, count: 64) == 128)
        #expect(Convert.byteCount(.q8_0, count: 64) == 68)
        let w = WeightMatrix(encoding: .q8_0, rows: 3, cols: 96, base: UnsafeRawPointer(bitPattern: 64)!)
        #expect(w.rowBytes == 102 && w.byteCount == 306)
    }
}

@Suite struct VectorTests {
    /// exp8 against f64 `exp` over the whole finite range: at most 3 ulp relative error.
    @Test func expAccuracy() {
        var worst: Double = 0
        var worstX: Float = 0
        var x: Float = -87.0
        while x < 88.5 {
            let v = F8((0..<8).map { x + Float($0) * 0.0013 })
            let e = exp8(v)
            for k in 0..<8 {
                let ref = Foundation.exp(Double(v[k]))
                let err = abs(Double(e[k]) - ref) / ref
                if err > worst { worst = err; worstX = v[k] }
            }
            x += 0.0371
        }
        #expect(worst < 3 * 5.97e-8, "exp8 relative error \(worst) at \(worstX)")
    }

    @Test func expEdges() {
        let e = exp8(F8(-.infinity, .infinity, .nan, -100, 0, 100, -87.3, 88.0))
        #expect(e[0] == 0)
        #expect(e[1] == .infinity)
        #expect(e[2].isNaN)
        #expect(e[3] == 0)
        #expect(e[4] == 1)
        #expect(e[5] == .infinity)
        #expect(e[6] > 0 && e[6].isNormal)
        #expect(abs(Double(e[7]) / Foundation.exp(88.0) - 1) < 1e-6)
    }

    @Test func reductions() {
        var rng = SplitMix64(seed: 3)
        for n in [0, 1, 7, 8, 31, 32, 33, 100] {
            let a = rng.floats(n), b = rng.floats(n)
            let d = Vec.dot(a, b, n)
            #expect(abs(Double(d) - dot64(a, b)) < 1e-5, "dot n=\(n)")
            let s = Vec.sumOfSquares(a, n)
            #expect(abs(Double(s) - dot64(a, a)) < 1e-5, "sumOfSquares n=\(n)")
            if n > 0 {
                #expect(Vec.max(a, n) == a.max()!, "max n=\(n)")
                var withNaN = a
                withNaN[n - 1] = .nan
                #expect(Vec.max(withNaN, n).isNaN, "max propagates NaN, n=\(n)")
            }
        }
    }
}

@Suite struct ThreadsTests {
    @Test func everyIndexExactlyOnce() {
        for n in [0, 1, 2, 3, 17, 1000] {
            let hits = UnsafeMutablePointer<Int32>.allocate(capacity: max(n, 1))
            defer { hits.deallocate() }
            hits.initialize(repeating: 0, count: max(n, 1))
            Threads.parallelFor(n) { i in hits[i] += 1 }
            #expect((0..<n).allSatisfy { hits[$0] == 1 }, "parallelFor n=\(n)")
            hits.update(repeating: 0, count: max(n, 1))
            Threads.parallelRanges(n, minChunk: 5) { r in for i in r { hits[i] += 1 } }
            #expect((0..<n).allSatisfy { hits[$0] == 1 }, "parallelRanges n=\(n)")
        }
    }

    @Test func scratchGrowsAndKeepsSlotsApart() {
        let s = Scratch()
        let a = s.floats(10, slot: 0)
        let b = s.floats(10, slot: 1)
        #expect(a != b)
        a[9] = 1
        #expect(s.floats(5, slot: 0) == a, "a smaller request reuses the slot")
        let big = s.floats(1_000_000, slot: 0)
        big[999_999] = 2
        #expect(Int(bitPattern: big) % 64 == 0)
        #expect(s.capacityBytes >= 4_000_000)
    }
}

/// The hot-path decoder agrees with QuietStarFormat's reference codec (an independent, scalar
/// implementation) on values it encoded itself, including rounding edge cases.
@Suite struct ConvertAgainstCodecTests {
    @Test(arguments: [DType.f32, .f16, .bf16, .q8_0])
    func agreesWithDTypeCodec(dtype: DType) {
        var rng = SplitMix64(seed: 99)
        var values = rng.floats(32 * 9, scale: 3)
        values[0] = 0; values[1] = -0.0; values[2] = 65504; values[3] = 1e-7; values[4] = -2.5e-5
        values[40] = 1e-3  // a block whose other values are large
        for i in 64..<96 { values[i] = 0 }  // an all-zero q8_0 block
        let bytes = Convert.byteCount(WeightEncoding(dtype), count: values.count)
        var raw = [UInt8](repeating: 0, count: bytes)
        values.withUnsafeBufferPointer { src in
            raw.withUnsafeMutableBytes { DTypeCodec.encode(src, as: dtype, into: $0) }
        }
        var expected = [Float](repeating: 0, count: values.count), actual = expected
        raw.withUnsafeBytes { src in
            expected.withUnsafeMutableBufferPointer { DTypeCodec.decode(src, dtype: dtype, into: $0) }
            Convert.decode(src.baseAddress!, WeightEncoding(dtype), count: values.count, into: &actual)
        }
        #expect(actual.map(\.bitPattern) == expected.map(\.bitPattern), "\(dtype)")
    }
}
