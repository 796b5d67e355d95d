import Foundation
import QuietStarTestSupport
import Testing
@testable import QuietStarFormat

/// f16 / bf16 / q8_0 conversions against numpy (f16, q8_0 rule) and torch (bf16), plus
/// exhaustive checks over all 65536 16-bit patterns.
@Suite struct DTypeCodecTests {
    struct EncodeCase { let input: UInt32; let expected: UInt16 }

    static func encodeCases(_ file: String) throws -> [EncodeCase] {
        let bytes = TestSupport.read(TestSupport.fixture("reference/" + file))
        #expect(bytes.count % 8 == 0 && bytes.count > 8000)
        return stride(from: 0, to: bytes.count, by: 8).map {
            EncodeCase(input: bytes.u32(at: $0), expected: UInt16(bytes.u32(at: $0 + 4) & 0xFFFF))
        }
    }

    static func isHalfNaN(_ h: UInt16) -> Bool { h & 0x7C00 == 0x7C00 && h & 0x03FF != 0 }

    @Test func f16EncodeMatchesNumpy() throws {
        let cases = try DTypeCodecTests.encodeCases("f16_encode.bin")
        var mismatches = 0
        for c in cases {
            let x = Float(bitPattern: c.input)
            let got = DTypeCodec.floatToHalfBits(x)
            if x.isNaN {
                // NaN stays NaN, keeps its sign, and is quiet.
                #expect(DTypeCodecTests.isHalfNaN(got) && got & 0x0200 != 0 && (got & 0x8000 != 0) == (x.sign == .minus))
            } else if got != c.expected {
                mismatches += 1
                if mismatches < 5 {
                    Issue.record("f16(\(x)) bits 0x\(String(c.input, radix: 16)): got 0x\(String(got, radix: 16)), numpy 0x\(String(c.expected, radix: 16))")
                }
            }
        }
        #expect(mismatches == 0)
    }

    @Test func f16EncodeMatchesSwiftFloat16OnRandomInputs() {
        // A second independent reference: the standard library's Float16 conversion.
        var rng = SplitMix64(seed: 7)
        for _ in 0..<200_000 {
            let x = Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()))
            let got = DTypeCodec.floatToHalfBits(x)
            if x.isNaN { #expect(DTypeCodecTests.isHalfNaN(got)); continue }
            #expect(got == Float16(x).bitPattern, "x = \(x)")
        }
    }

    @Test func bf16EncodeMatchesTorch() throws {
        let cases = try DTypeCodecTests.encodeCases("bf16_encode.bin")
        var mismatches = 0
        for c in cases {
            let x = Float(bitPattern: c.input)
            let got = DTypeCodec.floatToBFloat16Bits(x)
            if x.isNaN {
                // torch canonicalises NaN to 0x7FC0; we keep sign and payload, but it must be a quiet NaN.
                #expect(DTypeCodec.bfloat16BitsToFloat(got).isNaN && got & 0x0040 != 0)
                #expect((got & 0x8000 != 0) == (x.sign == .minus))
            } else if got != c.expected {
                mismatches += 1
                if mismatches < 5 {
                    Issue.record("bf16(\(x)): got 0x\(String(got, radix: 16)), torch 0x\(String(c.expected, radix: 16))")
                }
            }
        }
        #expect(mismatches == 0)
    }

    /// Every f16 pattern decodes and re-encodes to itself; signalling NaNs come back quiet.
    @Test func f16AllPatternsRoundTrip() {
        for h in 0...UInt16.max {
            let x = DTypeCodec.halfBitsToFloat(h)
            let back = DTypeCodec.floatToHalfBits(x)
            if DTypeCodecTests.isHalfNaN(h) {
                #expect(x.isNaN && back == h | 0x0200)
            } else if back != h {
                Issue.record("f16 0x\(String(h, radix: 16)) -> \(x) -> 0x\(String(back, radix: 16))")
            }
        }
    }

    /// The decode table agrees with numpy's (hash of all 65536 results, NaNs canonicalised).
    @Test func f16DecodeTableMatchesNumpy() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: TestSupport.fixture("reference/f16_decode.json")))
        let expected = try JSONDecoder().decode([String: String].self, from: data)["xxh64"]!
        var table = [UInt32]()
        for h in 0...UInt16.max {
            let x = DTypeCodec.halfBitsToFloat(h)
            table.append(x.isNaN ? 0x7FC0_0000 : x.bitPattern.littleEndian)
            if !x.isNaN { #expect(x == Float(Float16(bitPattern: h))) }
        }
        let got = table.withUnsafeBytes { XXH64.hash($0) }
        #expect(String(got, radix: 16, uppercase: true).leftPadded(16) == expected)
    }

    @Test func bf16AllPatternsRoundTrip() {
        for b in 0...UInt16.max {
            let x = DTypeCodec.bfloat16BitsToFloat(b)
            let back = DTypeCodec.floatToBFloat16Bits(x)
            let isNaN = b & 0x7F80 == 0x7F80 && b & 0x007F != 0
            if isNaN {
                #expect(x.isNaN && back == b | 0x0040)
            } else if back != b {
                Issue.record("bf16 0x\(String(b, radix: 16)) -> \(x) -> 0x\(String(back, radix: 16))")
            }
        }
    }

    @Test func specialValues() {
        #expect(DTypeCodec.floatToHalfBits(65504) == 0x7BFF)
        #expect(DTypeCodec.floatToHalfBits(65520) == 0x7C00)       // halfway to 2^16: ties to even = Inf
        #expect(DTypeCodec.floatToHalfBits(65519.99) == 0x7BFF)
        #expect(DTypeCodec.floatToHalfBits(-.infinity) == 0xFC00)
        #expect(DTypeCodec.floatToHalfBits(0x1p-24) == 0x0001)      // smallest subnormal
        #expect(DTypeCodec.floatToHalfBits(0x1p-25) == 0x0000)      // exactly half of it: ties to even (0)
        #expect(DTypeCodec.floatToHalfBits(0x1.000002p-25) == 0x0001)
        #expect(DTypeCodec.floatToHalfBits(0x1.8p-24) == 0x0002)    // 1.5 ulp: ties to even (2)
        #expect(DTypeCodec.floatToHalfBits(-0.0) == 0x8000)
        #expect(DTypeCodec.floatToHalfBits(0x1.ffcp-15) == 0x0400)  // rounds up into the smallest normal
        #expect(DTypeCodec.floatToBFloat16Bits(Float(bitPattern: 0x3F80_8000)) == 0x3F80)  // tie, even stays
        #expect(DTypeCodec.floatToBFloat16Bits(Float(bitPattern: 0x3F81_8000)) == 0x3F82)  // tie, odd rounds up
        #expect(DTypeCodec.floatToBFloat16Bits(.greatestFiniteMagnitude) == 0x7F80)         // overflow to Inf
        #expect(DTypeCodec.halfBitsToFloat(0x7BFF) == 65504)
        #expect(DTypeCodec.halfBitsToFloat(0x0001) == 0x1p-24)
    }

    @Test func q8_0MatchesNumpyRule() throws {
        let bytes = TestSupport.read(TestSupport.fixture("reference/q8_0.bin"))
        let record = 32 * 4 + 34 + 2
        #expect(bytes.count % record == 0 && bytes.count / record > 100)
        var input = [Float](repeating: 0, count: 32)
        var out = [UInt8](repeating: 0, count: 34)
        for r in 0..<(bytes.count / record) {
            let base = r * record
            for i in 0..<32 { input[i] = Float(bitPattern: bytes.u32(at: base + 4 * i)) }
            let expected = Array(bytes[(base + 128)..<(base + 162)])
            input.withUnsafeBufferPointer { src in
                out.withUnsafeMutableBytes { DTypeCodec.encode(src, as: .q8_0, into: $0) }
            }
            #expect(out == expected, "block \(r)")
            // Decoding is q * scale, exactly.
            var decoded = [Float](repeating: 0, count: 32)
            out.withUnsafeBytes { b in decoded.withUnsafeMutableBufferPointer { DTypeCodec.decode(b, dtype: .q8_0, into: $0) } }
            let s = DTypeCodec.halfBitsToFloat(UInt16(out[0]) | UInt16(out[1]) << 8)
            for i in 0..<32 { #expect(decoded[i] == Float(Int8(bitPattern: out[2 + i])) * s) }
        }
    }

    @Test func q8_0ZeroBlockAndTies() {
        var out = [UInt8](repeating: 0xAA, count: 34)
        let zeros = [Float](repeating: 0, count: 32)
        zeros.withUnsafeBufferPointer { s in out.withUnsafeMutableBytes { DTypeCodec.encode(s, as: .q8_0, into: $0) } }
        #expect(out == [UInt8](repeating: 0, count: 34))
        // scale 0.25 exactly; 0.625 / 0.25 = 2.5 rounds to even (2), GGUF's roundf would give 3.
        var x = [Float](repeating: 0, count: 32)
        x[0] = 127 * 0.25
        x[1] = 0.625
        x[2] = -0.875  // -3.5 -> -4
        x.withUnsafeBufferPointer { s in out.withUnsafeMutableBytes { DTypeCodec.encode(s, as: .q8_0, into: $0) } }
        #expect(out[0] == 0x00 && out[1] == 0x34)  // f16 0.25 = 0x3400
        #expect(Int8(bitPattern: out[2]) == 127 && Int8(bitPattern: out[3]) == 2 && Int8(bitPattern: out[4]) == -4)
    }

    @Test func q8_0NonFiniteInputNeverTraps() {
        var out = [UInt8](repeating: 0, count: 34)
        for bad: Float in [.nan, .infinity, -.infinity, .greatestFiniteMagnitude] {
            var x = [Float](repeating: 1, count: 32)
            x[5] = bad
            x.withUnsafeBufferPointer { s in out.withUnsafeMutableBytes { DTypeCodec.encode(s, as: .q8_0, into: $0) } }
        }
    }

    @Test func bufferCodecsRoundTripEveryFloatType() {
        var rng = SplitMix64(seed: 3)
        let values = (0..<256).map { _ in Float(rng.nextDouble() * 20 - 10) }
        for dtype in [DType.f32, .f16, .bf16, .q8_0] {
            let size = Int(dtype.byteCount(elementCount: 256, innermost: 256)!)
            var bytes = [UInt8](repeating: 0, count: size)
            values.withUnsafeBufferPointer { s in bytes.withUnsafeMutableBytes { DTypeCodec.encode(s, as: dtype, into: $0) } }
            var back = [Float](repeating: 0, count: 256)
            bytes.withUnsafeBytes { b in back.withUnsafeMutableBufferPointer { DTypeCodec.decode(b, dtype: dtype, into: $0) } }
            let tolerance: Float = switch dtype {
            case .f32: 0
            case .f16: 10 * 0x1p-11
            case .bf16: 10 * 0x1p-8
            default: 10 / 127 / 2 * 1.01
            }
            for i in 0..<256 { #expect(abs(back[i] - values[i]) <= tolerance, "\(dtype) element \(i)") }
        }
    }
}


extension String {
    func leftPadded(_ n: Int) -> String { String(repeating: "0", count: max(0, n - count)) + self }
}
