import QuietStarFormat

/// The element types a safetensors header may name, with their sizes in bits.
///
/// Every dtype the upstream reader accepts is listed so that a valid file is never rejected at
/// parse time; which of them a conversion can read is a separate question (`isConvertibleFloat`).
public enum SafetensorsDType: String, Sendable, CaseIterable {
    case bool = "BOOL"
    case f4 = "F4"
    case f6e2m3 = "F6_E2M3"
    case f6e3m2 = "F6_E3M2"
    case u8 = "U8"
    case i8 = "I8"
    case f8e5m2 = "F8_E5M2"
    case f8e4m3 = "F8_E4M3"
    case f8e8m0 = "F8_E8M0"
    case i16 = "I16"
    case u16 = "U16"
    case f16 = "F16"
    case bf16 = "BF16"
    case i32 = "I32"
    case u32 = "U32"
    case f32 = "F32"
    case c64 = "C64"
    case f64 = "F64"
    case i64 = "I64"
    case u64 = "U64"

    public var bitSize: UInt64 {
        switch self {
        case .f4: return 4
        case .f6e2m3, .f6e3m2: return 6
        case .bool, .u8, .i8, .f8e5m2, .f8e4m3, .f8e8m0: return 8
        case .i16, .u16, .f16, .bf16: return 16
        case .i32, .u32, .f32: return 32
        case .c64, .f64, .i64, .u64: return 64
        }
    }

    /// Floating-point types a conversion reads into f32: F32 (exact), F16 and BF16 (exact, f32
    /// holds every value of both), F64 (rounded to nearest f32).
    public var isConvertibleFloat: Bool {
        switch self {
        case .f32, .f16, .bf16, .f64: return true
        default: return false
        }
    }

    /// Bytes for `elementCount` elements, or nil on overflow or a sub-byte count that does not
    /// end on a byte boundary (upstream rejects those as misaligned).
    public func byteCount(elementCount: UInt64) -> UInt64? {
        let (bits, overflow) = elementCount.multipliedReportingOverflow(by: bitSize)
        guard !overflow, bits % 8 == 0 else { return nil }
        return bits / 8
    }
}

/// The dtypes both formats store with the same bytes (safetensors' F64 and the other wide or
/// narrow types have no `.qstar` twin; `.qstar`'s q8_0 has no safetensors one).
private let sameBytes: [(safetensors: SafetensorsDType, qstar: DType)] = [
    (.f32, .f32), (.f16, .f16), (.bf16, .bf16), (.i32, .i32), (.i64, .i64), (.u8, .u8),
]

extension SafetensorsDType {
    /// The `.qstar` dtype with the same bytes, if any.
    var qstarDType: DType? { sameBytes.first { $0.safetensors == self }?.qstar }
}

extension DType {
    /// The safetensors dtype with the same bytes, if any (q8_0 has none).
    var safetensorsDType: SafetensorsDType? { sameBytes.first { $0.qstar == self }?.safetensors }
}
