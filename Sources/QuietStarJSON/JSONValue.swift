/// A JSON document as plain data.
///
/// Objects are member lists in document order, not dictionaries: the order is what a writer
/// reproduces byte for byte, and a list can hold what a dictionary cannot (the duplicate keys a
/// reader was told to keep, keys that differ only in Unicode normalization). Equality and
/// lookups compare strings and keys by their UTF-8 bytes (see `ExactString`), numbers by their
/// text (see `JSONNumber`).
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(JSONNumber)
    case string(String)
    case array([JSONValue])
    /// Members in document order. Keys are unique unless the reader was asked to keep duplicates.
    case object([(key: String, value: JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.number(x), .number(y)): return x == y
        case let (.string(x), .string(y)): return x.isExactly(y)
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.key.isExactly($1.key) && $0.value == $1.value }
        default: return false
        }
    }

    // MARK: Building

    /// A number from an integer.
    public static func integer<T: BinaryInteger>(_ v: T) -> JSONValue { .number(JSONNumber(v)) }

    /// A number from a double, as the shortest text that round-trips (`1e-06`, `10000.0`).
    /// JSON has no NaN or infinity: passing one is a programming error (use `JSONNumber(_:)`,
    /// which returns nil for them, when the value may not be finite).
    public static func double(_ v: Double) -> JSONValue {
        guard let n = JSONNumber(v) else { preconditionFailure("JSON has no representation for \(v)") }
        return .number(n)
    }

    // MARK: Reading

    /// The members of an object, or nil.
    public var objectEntries: [(key: String, value: JSONValue)]? {
        if case let .object(entries) = self { return entries }
        return nil
    }

    /// The first member whose key has exactly the bytes of `key`; nil when there is none or
    /// this is not an object.
    public subscript(key: String) -> JSONValue? {
        guard case let .object(entries) = self else { return nil }
        return entries.first(where: { $0.key.isExactly(key) })?.value
    }

    public var isNull: Bool { if case .null = self { return true }; return false }

    public var stringValue: String? { if case let .string(s) = self { return s }; return nil }

    public var boolValue: Bool? { if case let .bool(b) = self { return b }; return nil }

    public var arrayValue: [JSONValue]? { if case let .array(a) = self { return a }; return nil }

    public var numberValue: JSONNumber? { if case let .number(n) = self { return n }; return nil }

    /// An integer literal that fits in `UInt64` (see `JSONNumber.uint64`).
    public var uint64Value: UInt64? { numberValue?.uint64 }

    /// An integer literal that fits in `Int64` (see `JSONNumber.int64`).
    public var int64Value: Int64? { numberValue?.int64 }

    /// Any finite number as a `Double` (see `JSONNumber.double`).
    public var doubleValue: Double? { numberValue?.double }

    /// What kind of value this is, for error messages ("a string", "an object").
    public var kindName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}
