/// One metadata value, typed as the file stores it.
///
/// Arrays keep their element type so that a writer can round-trip them and a reader can insist
/// on, say, an array of strings for `tokenizer.ggml.tokens` rather than accepting anything.
public enum GGUFValue: Sendable, Equatable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case float32(Float), bool(Bool), string(String), uint64(UInt64), int64(Int64), float64(Double)
    indirect case array(GGUFValueType, [GGUFValue])

    public var type: GGUFValueType {
        switch self {
        case .uint8: .uint8
        case .int8: .int8
        case .uint16: .uint16
        case .int16: .int16
        case .uint32: .uint32
        case .int32: .int32
        case .float32: .float32
        case .bool: .bool
        case .string: .string
        case .uint64: .uint64
        case .int64: .int64
        case .float64: .float64
        case .array: .array
        }
    }

    /// Any integer type as a UInt64, when it is non-negative (GGUF writers disagree on widths:
    /// context length is u32 in one file and u64 in another).
    public var unsignedValue: UInt64? {
        switch self {
        case let .uint8(v): UInt64(v)
        case let .uint16(v): UInt64(v)
        case let .uint32(v): UInt64(v)
        case let .uint64(v): v
        case let .int8(v): v >= 0 ? UInt64(v) : nil
        case let .int16(v): v >= 0 ? UInt64(v) : nil
        case let .int32(v): v >= 0 ? UInt64(v) : nil
        case let .int64(v): v >= 0 ? UInt64(v) : nil
        default: nil
        }
    }

    /// Either float type (and integers, which some writers use for whole numbers) as a Double.
    public var doubleValue: Double? {
        switch self {
        case let .float32(v): Double(v)
        case let .float64(v): v
        default: unsignedValue.map(Double.init)
        }
    }

    public var stringValue: String? {
        if case let .string(s) = self { return s }
        return nil
    }

    public var boolValue: Bool? {
        if case let .bool(b) = self { return b }
        return nil
    }

    public var arrayValue: [GGUFValue]? {
        if case let .array(_, items) = self { return items }
        return nil
    }
}

/// The metadata value type codes of GGUF v2/v3.
public enum GGUFValueType: UInt32, Sendable, CaseIterable {
    case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6, bool = 7
    case string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12

    /// Bytes of one value of a fixed-size type; nil for string and array.
    var fixedSize: Int? {
        switch self {
        case .uint8, .int8, .bool: 1
        case .uint16, .int16: 2
        case .uint32, .int32, .float32: 4
        case .uint64, .int64, .float64: 8
        case .string, .array: nil
        }
    }

    /// The fewest bytes one value can occupy (a string is at least its u64 length; an array its
    /// type and count), used to refuse counts that cannot fit before reading them.
    var minimumSize: Int { fixedSize ?? (self == .string ? 8 : 12) }
}
