/// Scalar reference conversions between f32 and the stored element types.
///
/// Bit-exact and platform independent (no reliance on hardware F16C or `Float16`), so that a
/// file written on one machine decodes identically everywhere. The kernels may add faster
/// vectorised conversions; tests hold them to these.
public enum DTypeCodec {
    public static let q8BlockSize = 32
    /// f16 scale (2 bytes) + 32 signed bytes.
    public static let q8BlockBytes = 34

    // MARK: f16 (IEEE 754 binary16: 1 sign, 5 exponent (bias 15), 10 fraction bits)

    /// f32 -> f16 bits, round to nearest, ties to even. Overflow goes to +-Inf, values below half
    /// the smallest subnormal go to +-0, NaN stays NaN: sign kept, made quiet (bit 9 set), top 9
    /// payload bits kept.
    @inline(__always)
    public static func floatToHalfBits(_ x: Float) -> UInt16 {
        let b = x.bitPattern
        let sign = UInt16(truncatingIfNeeded: (b >> 16) & 0x8000)
        let exp = Int((b >> 23) & 0xFF)
        let man = b & 0x7F_FFFF
        if exp == 0xFF {
            if man == 0 { return sign | 0x7C00 }
            return sign | 0x7E00 | UInt16(truncatingIfNeeded: man >> 13)
        }
        // Rebias: the f16 biased exponent this value would have if it were normal.
        let he = exp - 127 + 15
        if he >= 0x1F { return sign | 0x7C00 }
        if he <= 0 {
            // Subnormal (or zero) result. Value in units of 2^-24 is m * 2^(he - 14).
            let shift = 14 - he
            if shift > 24 { return sign }  // below 2^-25: rounds to zero
            let m = man | 0x80_0000  // exp == 0 inputs (f32 subnormals) are far below; shift > 24
            var half = m >> UInt32(shift)
            let rem = m & ((1 << UInt32(shift)) - 1)
            let halfway: UInt32 = 1 << UInt32(shift - 1)
            if rem > halfway || (rem == halfway && (half & 1) != 0) { half += 1 }
            return sign | UInt16(truncatingIfNeeded: half)
        }
        var half = UInt32(he) << 10 | (man >> 13)
        let rem = man & 0x1FFF
        if rem > 0x1000 || (rem == 0x1000 && (half & 1) != 0) { half += 1 }  // may carry into Inf
        return sign | UInt16(truncatingIfNeeded: half)
    }

    /// f16 bits -> f32 (exact). NaN payloads are carried over unchanged.
    @inline(__always)
    public static func halfBitsToFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exp = UInt32((h >> 10) & 0x1F)
        let man = UInt32(h & 0x3FF)
        if exp == 0x1F { return Float(bitPattern: sign | 0x7F80_0000 | (man << 13)) }
        if exp == 0 {
            // Zero or subnormal: man * 2^-24, exact in f32.
            let magnitude = Float(man) * 0x1p-24
            return Float(bitPattern: sign | magnitude.bitPattern)
        }
        return Float(bitPattern: sign | ((exp + 112) << 23) | (man << 13))
    }

    // MARK: bf16 (the top 16 bits of an f32)

    /// f32 -> bf16 bits, round to nearest, ties to even; NaN stays NaN (made quiet, sign and the
    /// top payload bits kept); overflow rounds to +-Inf.
    @inline(__always)
    public static func floatToBFloat16Bits(_ x: Float) -> UInt16 {
        let b = x.bitPattern
        if (b & 0x7FFF_FFFF) > 0x7F80_0000 {
            return UInt16(truncatingIfNeeded: b >> 16) | 0x0040
        }
        let rounded = b &+ 0x7FFF &+ ((b >> 16) & 1)
        return UInt16(truncatingIfNeeded: rounded >> 16)
    }

    @inline(__always)
    public static func bfloat16BitsToFloat(_ b: UInt16) -> Float {
        Float(bitPattern: UInt32(b) << 16)
    }

    // MARK: q8_0

    /// Quantises one block of 32 values into 34 bytes:
    /// `scale = f16(absmax / 127)`; with `s = f32(scale)`,
    /// `q[i] = clamp(roundNearestEven(x[i] / s), -127, 127)`, and all q are 0 when `s == 0`.
    /// (GGUF uses `roundf` and multiplies by `1/d` of the unrounded d; we divide by the stored
    /// scale so that decoding `q * s` is as close as 8 bits allow.) Non-finite input produces a
    /// non-finite or zero scale; it never traps. Writers reject it before it gets here.
    @inline(__always)
    static func encodeQ8Block(_ x: UnsafePointer<Float>, _ out: UnsafeMutableRawPointer) {
        var amax: Float = 0
        for i in 0..<q8BlockSize { amax = max(amax, abs(x[i])) }
        let scaleBits = floatToHalfBits(amax / 127)
        out.storeBytes(of: scaleBits.littleEndian, toByteOffset: 0, as: UInt16.self)
        let s = halfBitsToFloat(scaleBits)
        let usable = s != 0 && s.isFinite
        for i in 0..<q8BlockSize {
            var q: Float = 0
            if usable {
                q = (x[i] / s).rounded(.toNearestOrEven)
                if q.isNaN { q = 0 }
                q = min(max(q, -127), 127)
            }
            out.storeBytes(of: Int8(q), toByteOffset: 2 + i, as: Int8.self)
        }
    }

    @inline(__always)
    static func decodeQ8Block(_ p: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>) {
        let s = halfBitsToFloat(UInt16(littleEndian: p.loadUnaligned(as: UInt16.self)))
        for i in 0..<q8BlockSize {
            out[i] = Float(p.load(fromByteOffset: 2 + i, as: Int8.self)) * s
        }
    }

    // MARK: Buffers

    /// Encodes `src` as `dtype` into `dst`. `dst.count` must equal the dtype's byte count for
    /// `src.count` elements (for q8_0, `src.count` is a multiple of 32). Floating types only.
    public static func encode(_ src: UnsafeBufferPointer<Float>, as dtype: DType,
                              into dst: UnsafeMutableRawBufferPointer) {
        let n = src.count
        precondition(dtype.isFloatingPoint, "DTypeCodec.encode: \(dtype) is not a floating type")
        precondition(dtype.byteCount(elementCount: UInt64(n), innermost: UInt64(dtype == .q8_0 ? n : 1))
                     .map { Int($0) == dst.count } ?? (n == 0 && dst.count == 0),
                     "DTypeCodec.encode: destination has \(dst.count) bytes for \(n) \(dtype) values")
        guard n > 0, let s = src.baseAddress, let d = dst.baseAddress else { return }
        switch dtype {
        case .f32:
            for i in 0..<n { d.storeBytes(of: s[i].bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self) }
        case .f16:
            for i in 0..<n { d.storeBytes(of: floatToHalfBits(s[i]).littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
        case .bf16:
            for i in 0..<n { d.storeBytes(of: floatToBFloat16Bits(s[i]).littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
        case .q8_0:
            for b in 0..<(n / q8BlockSize) { encodeQ8Block(s + b * q8BlockSize, d + b * q8BlockBytes) }
        case .i32, .i64, .u8:
            break
        }
    }

    /// Decodes `dst.count` elements of `dtype` from `src` (which holds exactly that many; for
    /// q8_0 a whole number of blocks). Floating types only.
    public static func decode(_ src: UnsafeRawBufferPointer, dtype: DType,
                              into dst: UnsafeMutableBufferPointer<Float>) {
        let n = dst.count
        precondition(dtype.isFloatingPoint, "DTypeCodec.decode: \(dtype) is not a floating type")
        precondition(dtype.byteCount(elementCount: UInt64(n), innermost: UInt64(dtype == .q8_0 ? n : 1))
                     .map { Int($0) == src.count } ?? (n == 0 && src.count == 0),
                     "DTypeCodec.decode: source has \(src.count) bytes for \(n) \(dtype) values")
        guard n > 0, let s = src.baseAddress, let d = dst.baseAddress else { return }
        switch dtype {
        case .f32:
            for i in 0..<n {
                d[i] = Float(bitPattern: UInt32(littleEndian: s.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
            }
        case .f16:
            for i in 0..<n {
                d[i] = halfBitsToFloat(UInt16(littleEndian: s.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
            }
        case .bf16:
            for i in 0..<n {
                d[i] = bfloat16BitsToFloat(UInt16(littleEndian: s.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
            }
        case .q8_0:
            for b in 0..<(n / q8BlockSize) { decodeQ8Block(s + b * q8BlockBytes, d + b * q8BlockSize) }
        case .i32, .i64, .u8:
            break
        }
    }
}
