/// Typed key/value metadata: an ordered list with unique keys.

/// One metadata value. The cases are exactly the value types of format 1.0 (spec, "Metadata").
public enum MetadataValue: Hashable, Sendable, CustomStringConvertible {
    case bool(Bool), uint(UInt64), int(Int64), float(Double), string(String)
    case boolArray([Bool]), uintArray([UInt64]), intArray([Int64]), floatArray([Double])
    case stringArray([String])

    /// The spec's name of the type: "bool", "u64", "i64", "f64", "string", "u64[]", ...
    public var typeName: String {
        switch self {
        case .bool: "bool"
        case .uint: "u64"
        case .int: "i64"
        case .float: "f64"
        case .string: "string"
        case .boolArray: "bool[]"
        case .uintArray: "u64[]"
        case .intArray: "i64[]"
        case .floatArray: "f64[]"
        case .stringArray: "string[]"
        }
    }

    public var description: String {
        func list<T>(_ a: [T], _ f: (T) -> String) -> String {
            let shown = a.prefix(8).map(f).joined(separator: ", ")
            return "[" + shown + (a.count > 8 ? ", ... (\(a.count) elements)]" : "]")
        }
        switch self {
        case .bool(let v): return String(v)
        case .uint(let v): return String(v)
        case .int(let v): return String(v)
        case .float(let v): return String(v)
        case .string(let v): return String(reflecting: v)
        case .boolArray(let a): return list(a) { String($0) }
        case .uintArray(let a): return list(a) { String($0) }
        case .intArray(let a): return list(a) { String($0) }
        case .floatArray(let a): return list(a) { String($0) }
        case .stringArray(let a): return list(a) { String(reflecting: $0) }
        }
    }
}

/// Ordered metadata with unique keys. Order is preserved on write so files are reproducible.
public struct Metadata: Sendable, Equatable, CustomStringConvertible {
    private var storage: [(key: String, value: MetadataValue)] = []
    private var positions: [String: Int] = [:]

    /// Builds metadata from `entries` in order; a repeated key keeps its first position and
    /// takes the later value (the same rule as assigning through the subscript).
    public init(_ entries: [(key: String, value: MetadataValue)] = []) {
        storage.reserveCapacity(entries.count)
        for e in entries { self[e.key] = e.value }
    }

    public var entries: [(key: String, value: MetadataValue)] { storage }
    public var count: Int { storage.count }
    public var keys: [String] { storage.map(\.key) }

    /// Set replaces in place or appends; nil removes (keeping the others' order).
    public subscript(key: String) -> MetadataValue? {
        get { positions[key].map { storage[$0].value } }
        set {
            if let i = positions[key] {
                if let newValue {
                    storage[i].value = newValue
                } else {
                    storage.remove(at: i)
                    positions[key] = nil
                    for j in i..<storage.count { positions[storage[j].key] = j }
                }
            } else if let newValue {
                positions[key] = storage.count
                storage.append((key, newValue))
            }
        }
    }

    public func contains(_ key: String) -> Bool { positions[key] != nil }

    public static func == (a: Metadata, b: Metadata) -> Bool {
        a.storage.count == b.storage.count
            && zip(a.storage, b.storage).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }

    public var description: String {
        storage.map { "\($0.key) = \($0.value)" }.joined(separator: "\n")
    }

    // MARK: Typed accessors

    private func value(_ key: String) throws(QStarError) -> MetadataValue {
        guard let v = self[key] else {
            throw QStarError(.metadata, field: key, "required metadata key is missing")
        }
        return v
    }

    private func mismatch(_ key: String, _ expected: String, _ v: MetadataValue) -> QStarError {
        QStarError(.metadata, field: key, "expected \(expected), found \(v.typeName) \(v)")
    }

    public func bool(_ key: String) throws(QStarError) -> Bool {
        let v = try value(key)
        if case .bool(let b) = v { return b }
        throw mismatch(key, "bool", v)
    }

    /// Also accepts a non-negative `.int`.
    public func uint(_ key: String) throws(QStarError) -> UInt64 {
        let v = try value(key)
        switch v {
        case .uint(let u): return u
        case .int(let i) where i >= 0: return UInt64(i)
        default: throw mismatch(key, "u64", v)
        }
    }

    public func int(_ key: String) throws(QStarError) -> Int64 {
        let v = try value(key)
        switch v {
        case .int(let i): return i
        case .uint(let u) where u <= UInt64(Int64.max): return Int64(u)
        default: throw mismatch(key, "i64", v)
        }
    }

    /// Also accepts `.uint` and `.int` (converted to the nearest Double).
    public func float(_ key: String) throws(QStarError) -> Double {
        let v = try value(key)
        switch v {
        case .float(let d): return d
        case .uint(let u): return Double(u)
        case .int(let i): return Double(i)
        default: throw mismatch(key, "f64", v)
        }
    }

    public func string(_ key: String) throws(QStarError) -> String {
        let v = try value(key)
        if case .string(let s) = v { return s }
        throw mismatch(key, "string", v)
    }

    public func boolArray(_ key: String) throws(QStarError) -> [Bool] {
        let v = try value(key)
        if case .boolArray(let a) = v { return a }
        throw mismatch(key, "bool[]", v)
    }

    public func stringArray(_ key: String) throws(QStarError) -> [String] {
        let v = try value(key)
        if case .stringArray(let a) = v { return a }
        throw mismatch(key, "string[]", v)
    }

    /// Also accepts an `.intArray` whose elements are all non-negative.
    public func uintArray(_ key: String) throws(QStarError) -> [UInt64] {
        let v = try value(key)
        switch v {
        case .uintArray(let a): return a
        case .intArray(let a) where a.allSatisfy({ $0 >= 0 }): return a.map { UInt64($0) }
        default: throw mismatch(key, "u64[]", v)
        }
    }

    public func intArray(_ key: String) throws(QStarError) -> [Int64] {
        let v = try value(key)
        if case .intArray(let a) = v { return a }
        throw mismatch(key, "i64[]", v)
    }

    public func floatArray(_ key: String) throws(QStarError) -> [Double] {
        let v = try value(key)
        if case .floatArray(let a) = v { return a }
        throw mismatch(key, "f64[]", v)
    }

    // Optional variants: nil when absent, but a present value of the wrong type still throws.
    public func uintIfPresent(_ key: String) throws(QStarError) -> UInt64? {
        contains(key) ? try uint(key) : nil
    }
    public func floatIfPresent(_ key: String) throws(QStarError) -> Double? {
        contains(key) ? try float(key) : nil
    }
    public func boolIfPresent(_ key: String) throws(QStarError) -> Bool? {
        contains(key) ? try bool(key) : nil
    }
    public func stringIfPresent(_ key: String) throws(QStarError) -> String? {
        contains(key) ? try string(key) : nil
    }
}

/// Key syntax shared by reader and writer: 1...256 bytes of `[A-Za-z0-9._-]`.
enum MetadataKey {
    @inline(__always)
    static func isKeyByte(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"),
             UInt8(ascii: "-"):
            return true
        default:
            return false
        }
    }

    /// nil when valid, else why not.
    static func problem(_ bytes: some Collection<UInt8>) -> String? {
        if bytes.isEmpty { return "key is empty" }
        if bytes.count > QStarLimits.maxKeyLength {
            return "key is \(bytes.count) bytes; the limit is \(QStarLimits.maxKeyLength)"
        }
        if let bad = bytes.first(where: { !isKeyByte($0) }) {
            return "key contains byte 0x\(hex2(bad)); keys use only A-Z a-z 0-9 . _ -"
        }
        return nil
    }
}

func hex2(_ b: UInt8) -> String {
    let s = String(b, radix: 16, uppercase: true)
    return b < 16 ? "0" + s : s
}
