import QuietStarFormat
import QuietStarGGUF

/// Metadata values across the two formats. Ours are u64/i64/f64 (and arrays of them); GGUF has
/// every width. Export keeps our widths; import widens.
extension GGUFValue {
    init(_ v: MetadataValue) {
        switch v {
        case let .bool(b): self = .bool(b)
        case let .uint(u): self = .uint64(u)
        case let .int(i): self = .int64(i)
        case let .float(f): self = .float64(f)
        case let .string(s): self = .string(s)
        case let .boolArray(a): self = .array(.bool, a.map { .bool($0) })
        case let .uintArray(a): self = .array(.uint64, a.map { .uint64($0) })
        case let .intArray(a): self = .array(.int64, a.map { .int64($0) })
        case let .floatArray(a): self = .array(.float64, a.map { .float64($0) })
        case let .stringArray(a): self = .array(.string, a.map { .string($0) })
        }
    }
}

extension MetadataValue {
    /// nil for what has no form of ours (arrays of arrays, of signed small integers).
    init?(gguf v: GGUFValue) {
        switch v {
        case let .bool(b): self = .bool(b)
        case let .string(s): self = .string(s)
        case let .float32(f): self = .float(Double(f))
        case let .float64(d): self = .float(d)
        case let .int8(i): self = .int(Int64(i))
        case let .int16(i): self = .int(Int64(i))
        case let .int32(i): self = .int(Int64(i))
        case let .int64(i): self = .int(i)
        case .uint8, .uint16, .uint32, .uint64: self = .uint(v.unsignedValue!)
        case let .array(type, items):
            switch type {
            case .string: self = .stringArray(items.compactMap(\.stringValue))
            case .bool: self = .boolArray(items.compactMap(\.boolValue))
            case .uint8, .uint16, .uint32, .uint64: self = .uintArray(items.compactMap(\.unsignedValue))
            case .float32, .float64: self = .floatArray(items.compactMap(\.doubleValue))
            default: return nil
            }
        }
    }
}
