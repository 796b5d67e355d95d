/// ggml's tensor types decoded to f32, value for value as ggml's reference dequantizers (and the
/// `gguf` Python package) compute them.
///
/// The arithmetic is written in the same order those reference implementations use, in f32 and
/// without fused multiply-adds (`(d * scale) * q - (dmin * m)`), so results are bit-identical to
/// the reference rather than merely close; `DequantizeTests` compares bit patterns.
public enum Dequantize {
    /// Decodes `count` values of `type` from `source` (which holds exactly their bytes) into `out`.
    public static func run(_ type: GGMLType, _ source: UnsafeRawBufferPointer, count: Int, into out: UnsafeMutableBufferPointer<Float>) {
        precondition(count % type.blockSize == 0 && out.count >= count
            && source.count == count / type.blockSize * type.blockBytes, "Dequantize.run: sizes do not match")
        let blocks = count / type.blockSize
        let src = source.baseAddress!
        let dst = out.baseAddress!
        switch type {
        case .f32:
            for i in 0..<count { dst[i] = Float(bitPattern: UInt32(littleEndian: src.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
        case .f16:
            for i in 0..<count { dst[i] = half(src, 2 * i) }
        case .bf16:
            for i in 0..<count { dst[i] = Float(bitPattern: UInt32(u16(src, 2 * i)) << 16) }
        case .q8_0:
            for b in 0..<blocks { q8_0(src + b * 34, dst + b * 32) }
        case .q4_0:
            for b in 0..<blocks { q4_0(src + b * 18, dst + b * 32) }
        case .q4_1:
            for b in 0..<blocks { q4_1(src + b * 20, dst + b * 32) }
        case .q5_0:
            for b in 0..<blocks { q5_0(src + b * 22, dst + b * 32) }
        case .q5_1:
            for b in 0..<blocks { q5_1(src + b * 24, dst + b * 32) }
        case .q4_K:
            for b in 0..<blocks { q4_K(src + b * 144, dst + b * 256) }
        case .q5_K:
            for b in 0..<blocks { q5_K(src + b * 176, dst + b * 256) }
        case .q6_K:
            for b in 0..<blocks { q6_K(src + b * 210, dst + b * 256) }
        }
    }

    @inline(__always) static func u16(_ p: UnsafeRawPointer, _ at: Int) -> UInt16 {
        UInt16(littleEndian: p.loadUnaligned(fromByteOffset: at, as: UInt16.self))
    }

    @inline(__always) static func half(_ p: UnsafeRawPointer, _ at: Int) -> Float {
        Float(Float16(bitPattern: u16(p, at)))
    }

    @inline(__always) static func byte(_ p: UnsafeRawPointer, _ at: Int) -> UInt8 { p.load(fromByteOffset: at, as: UInt8.self) }

    /// f16 scale, then 32 signed bytes: x = d * q.
    static func q8_0(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 0)
        for j in 0..<32 { y[j] = d * Float(Int8(bitPattern: byte(p, 2 + j))) }
    }

    /// f16 scale, 16 bytes of nibbles: the low nibbles are values 0..<16, the high ones 16..<32,
    /// each offset by 8.
    static func q4_0(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 0)
        for j in 0..<16 {
            let q = byte(p, 2 + j)
            y[j] = d * Float(Int(q & 0xF) - 8)
            y[j + 16] = d * Float(Int(q >> 4) - 8)
        }
    }

    /// f16 scale and f16 minimum, 16 bytes of unsigned nibbles: x = d * q + m.
    static func q4_1(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 0), m = half(p, 2)
        for j in 0..<16 {
            let q = byte(p, 4 + j)
            y[j] = d * Float(q & 0xF) + m
            y[j + 16] = d * Float(q >> 4) + m
        }
    }

    /// The fifth bits of Q5_0/Q5_1: bit j of the 32-bit `qh` belongs to value j.
    @inline(__always) static func fifthBits(_ p: UnsafeRawPointer, _ at: Int) -> UInt32 {
        UInt32(littleEndian: p.loadUnaligned(fromByteOffset: at, as: UInt32.self))
    }

    /// f16 scale, 32 fifth bits, 16 bytes of nibbles: x = d * (q - 16).
    static func q5_0(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 0), qh = fifthBits(p, 2)
        for j in 0..<16 {
            let q = byte(p, 6 + j)
            let lo = Int(q & 0xF) | Int((qh >> UInt32(j)) & 1) << 4
            let hi = Int(q >> 4) | Int((qh >> UInt32(j + 16)) & 1) << 4
            y[j] = d * Float(lo - 16)
            y[j + 16] = d * Float(hi - 16)
        }
    }

    /// f16 scale and minimum, 32 fifth bits, 16 bytes of nibbles: x = d * q + m.
    static func q5_1(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 0), m = half(p, 2), qh = fifthBits(p, 4)
        for j in 0..<16 {
            let q = byte(p, 8 + j)
            let lo = Int(q & 0xF) | Int((qh >> UInt32(j)) & 1) << 4
            let hi = Int(q >> 4) | Int((qh >> UInt32(j + 16)) & 1) << 4
            y[j] = d * Float(lo) + m
            y[j + 16] = d * Float(hi) + m
        }
    }

    /// The 6-bit scale and minimum of sub-block `j` (of 8) packed in the 12 scale bytes of
    /// Q4_K/Q5_K: sub-blocks 0-3 use the low 6 bits of bytes j and j+4; 4-7 combine a nibble of
    /// byte j+4 with the top 2 bits of bytes j-4 and j.
    @inline(__always) static func scaleMin(_ s: UnsafeRawPointer, _ j: Int) -> (Float, Float) {
        if j < 4 {
            return (Float(byte(s, j) & 63), Float(byte(s, j + 4) & 63))
        }
        let sc = (byte(s, j + 4) & 0xF) | ((byte(s, j - 4) >> 6) << 4)
        let m = (byte(s, j + 4) >> 4) | ((byte(s, j) >> 6) << 4)
        return (Float(sc), Float(m))
    }

    /// 256 values in 8 sub-blocks of 32, each with a 6-bit scale and minimum times the f16
    /// super-block `d` and `dmin`: x = (d * sc) * q - (dmin * m).
    static func q4_K(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 0), dmin = half(p, 2)
        let scales = p + 4, qs = p + 16
        for chunk in 0..<4 {  // 64 values: the low nibbles of 32 bytes, then their high nibbles
            let (s1, m1) = scaleMin(scales, 2 * chunk), (s2, m2) = scaleMin(scales, 2 * chunk + 1)
            let d1 = d * s1, dm1 = dmin * m1, d2 = d * s2, dm2 = dmin * m2
            for l in 0..<32 {
                let q = byte(qs, 32 * chunk + l)
                y[64 * chunk + l] = d1 * Float(q & 0xF) - dm1
                y[64 * chunk + 32 + l] = d2 * Float(q >> 4) - dm2
            }
        }
    }

    /// Q4_K plus a fifth bit per value from `qh` (bit 2*chunk for the low nibbles, 2*chunk+1 for
    /// the high ones).
    static func q5_K(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 0), dmin = half(p, 2)
        let scales = p + 4, qh = p + 16, qs = p + 48
        for chunk in 0..<4 {
            let (s1, m1) = scaleMin(scales, 2 * chunk), (s2, m2) = scaleMin(scales, 2 * chunk + 1)
            let d1 = d * s1, dm1 = dmin * m1, d2 = d * s2, dm2 = dmin * m2
            for l in 0..<32 {
                let q = byte(qs, 32 * chunk + l), h = byte(qh, l)
                let lo = (q & 0xF) | (((h >> (2 * chunk)) & 1) << 4)
                let hi = (q >> 4) | (((h >> (2 * chunk + 1)) & 1) << 4)
                y[64 * chunk + l] = d1 * Float(lo) - dm1
                y[64 * chunk + 32 + l] = d2 * Float(hi) - dm2
            }
        }
    }

    /// 256 values as 4 low bits (`ql`), 2 high bits (`qh`), minus 32, times a signed 8-bit scale
    /// per 16 values and the f16 `d`: x = (d * sc) * q.
    static func q6_K(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let ql = p, qh = p + 128, sc = p + 192
        let d = half(p, 208)
        for half in 0..<2 {  // 128 values each: ql bytes 64*half..., qh bytes 32*half..., scales 8*half...
            for l in 0..<32 {
                let a = byte(ql, 64 * half + l), b = byte(ql, 64 * half + 32 + l), h = byte(qh, 32 * half + l)
                let q1 = Int((a & 0xF) | ((h & 3) << 4)) - 32
                let q2 = Int((b & 0xF) | (((h >> 2) & 3) << 4)) - 32
                let q3 = Int((a >> 4) | (((h >> 4) & 3) << 4)) - 32
                let q4 = Int((b >> 4) | (((h >> 6) & 3) << 4)) - 32
                let s = 8 * half + l / 16
                func scale(_ k: Int) -> Float { d * Float(Int8(bitPattern: byte(sc, s + k))) }
                y[128 * half + l] = scale(0) * Float(q1)
                y[128 * half + 32 + l] = scale(2) * Float(q2)
                y[128 * half + 64 + l] = scale(4) * Float(q3)
                y[128 * half + 96 + l] = scale(6) * Float(q4)
            }
        }
    }
}
