/// Decoding of stored weight rows into f32: the one place that knows how f16, bf16 and Q8_0 look
/// in memory on the hot path (`DTypeCodec` in QuietStarFormat is the reference-quality codec for
/// files; this is the fast one for kernels).
///
/// Speed comes from F16C (`vcvtph2ps`) for f16, which the compiler uses for `Float16` -> `Float`
/// vector conversion only under `-target-cpu haswell` (set for every target in Package.swift).
public enum Convert {
    /// Elements per Q8_0 block.
    public static let q8BlockSize = 32
    /// Bytes per Q8_0 block: an f16 scale and 32 int8 values.
    public static let q8BlockBytes = 34

    /// Bytes taken by `count` consecutive elements (`count` a multiple of 32 for q8_0).
    public static func byteCount(_ encoding: WeightEncoding, count: Int) -> Int {
        switch encoding {
        case .f32: return count * 4
        case .f16, .bf16: return count * 2
        case .q8_0: return count / q8BlockSize * q8BlockBytes
        }
    }

    /// Decodes `count` elements at `src` into `into[0..<count]`. For q8_0, `src` must be the start
    /// of a block and `count` a multiple of 32.
    public static func decode(_ src: UnsafeRawPointer, _ encoding: WeightEncoding, count: Int, into dst: UnsafeMutablePointer<Float>) {
        switch encoding {
        case .f32:
            UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: count * 4)
        case .f16:
            decodeF16(src, count, dst)
        case .bf16:
            decodeBF16(src, count, dst)
        case .q8_0:
            precondition(count % q8BlockSize == 0, "Convert: q8_0 count \(count) is not a multiple of 32")
            decodeQ8(src, count, dst)
        }
    }

    @inline(__always)
    static func decodeF16(_ src: UnsafeRawPointer, _ count: Int, _ dst: UnsafeMutablePointer<Float>) {
        var i = 0
        while i + 16 <= count {
            store8(f16x8(src, i), dst + i)
            store8(f16x8(src, i + 8), dst + i + 8)
            i += 16
        }
        while i + 8 <= count {
            store8(f16x8(src, i), dst + i)
            i += 8
        }
        while i < count {
            dst[i] = Float(Float16(bitPattern: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
            i += 1
        }
    }

    @inline(__always)
    static func decodeBF16(_ src: UnsafeRawPointer, _ count: Int, _ dst: UnsafeMutablePointer<Float>) {
        var i = 0
        while i + 8 <= count {
            store8(bf16x8(src, i), dst + i)
            i += 8
        }
        while i < count {
            dst[i] = Float(bitPattern: UInt32(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16)
            i += 1
        }
    }

    @inline(__always)
    static func decodeQ8(_ src: UnsafeRawPointer, _ count: Int, _ dst: UnsafeMutablePointer<Float>) {
        var block = src
        var i = 0
        while i < count {
            let d = q8Scale(block)
            store8(q8x8(block, 0) * d, dst + i)
            store8(q8x8(block, 1) * d, dst + i + 8)
            store8(q8x8(block, 2) * d, dst + i + 16)
            store8(q8x8(block, 3) * d, dst + i + 24)
            block += q8BlockBytes
            i += q8BlockSize
        }
    }
}

// MARK: - eight-lane loads used by Convert and the fused Linear kernels

/// Elements `i..<i+8` of an f16 row, as f32.
@inline(__always)
func f16x8(_ src: UnsafeRawPointer, _ i: Int) -> F8 {
    F8(src.loadUnaligned(fromByteOffset: 2 * i, as: SIMD8<Float16>.self))
}

/// Elements `i..<i+8` of a bf16 row, as f32 (bf16 is the top half of an f32).
@inline(__always)
func bf16x8(_ src: UnsafeRawPointer, _ i: Int) -> F8 {
    let h = src.loadUnaligned(fromByteOffset: 2 * i, as: SIMD8<UInt16>.self)
    return unsafeBitCast(SIMD8<UInt32>(truncatingIfNeeded: h) &<< 16, to: F8.self)
}

/// The scale of the Q8_0 block at `block`.
@inline(__always)
func q8Scale(_ block: UnsafeRawPointer) -> Float {
    Float(Float16(bitPattern: block.loadUnaligned(as: UInt16.self)))
}

/// Quantised values `8k..<8k+8` of the Q8_0 block at `block`, as f32, unscaled.
@inline(__always)
func q8x8(_ block: UnsafeRawPointer, _ k: Int) -> F8 {
    // Lane by lane, so the optimiser sees one sign extension and one conversion (vpmovsxbd +
    // vcvtdq2ps); the generic SIMD conversions were left as out-of-line calls, which made Q8_0
    // decoding 8x slower than f16's.
    let q = block.loadUnaligned(fromByteOffset: 2 + 8 * k, as: SIMD8<Int8>.self)
    let w = SIMD8<Int32>(Int32(q[0]), Int32(q[1]), Int32(q[2]), Int32(q[3]),
                         Int32(q[4]), Int32(q[5]), Int32(q[6]), Int32(q[7]))
    return F8(Float(w[0]), Float(w[1]), Float(w[2]), Float(w[3]), Float(w[4]), Float(w[5]), Float(w[6]), Float(w[7]))
}
