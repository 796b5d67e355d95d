/// A small, strict JSON reader and a deterministic writer.
///
/// Foundation's `JSONSerialization` silently keeps the last of two duplicate keys, turns every
/// number into a `Double`-backed `NSNumber` (a u64 byte offset above 2^53 would lose bits),
/// and reports errors without byte offsets. The files we read (safetensors headers, `config.json`,
/// shard indexes) are attacker-controlled, so this reader rejects duplicate keys, keeps numbers
/// as their literal text until a caller asks for a specific type, bounds nesting depth, and
/// reports the byte offset of every failure. The writer emits keys in insertion order so the
/// files we produce are byte-for-byte reproducible.
public indirect enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    /// The literal text of the number, exactly as it appeared (validated against the grammar).
    case number(String)
    case string(String)
    case array([JSONValue])
    /// Keys in document order; unique (the reader rejects duplicates).
    case object([(key: String, value: JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.number(x), .number(y)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: return false
        }
    }

    /// Builds a number from an integer.
    public static func integer<T: BinaryInteger>(_ v: T) -> JSONValue { .number(String(v)) }

    /// Builds a number from a double using the shortest text that round-trips (`1e-06`, `10000.0`).
    public static func double(_ v: Double) -> JSONValue {
        precondition(v.isFinite, "JSON has no representation for \(v)")
        var text = "\(v)"   // Swift prints the shortest round-tripping form: "1e-06", "10000.0"
        if !text.contains(".") && !text.contains("e") { text += ".0" }
        return .number(text)
    }

    // MARK: Typed access

    /// The members of an object, or nil.
    public var objectEntries: [(key: String, value: JSONValue)]? {
        if case let .object(entries) = self { return entries }
        return nil
    }

    /// The member named `key` of an object, or nil (also nil when this is not an object).
    public subscript(key: String) -> JSONValue? {
        guard case let .object(entries) = self else { return nil }
        return entries.first(where: { $0.key == key })?.value
    }

    public var isNull: Bool { if case .null = self { return true }; return false }

    public var stringValue: String? { if case let .string(s) = self { return s }; return nil }

    public var boolValue: Bool? { if case let .bool(b) = self { return b }; return nil }

    public var arrayValue: [JSONValue]? { if case let .array(a) = self { return a }; return nil }

    /// The value as an unsigned integer when it is an integer literal (no fraction, no exponent)
    /// that fits in 64 bits; `4096.0` is rejected: a hyperparameter written as a float is a bug
    /// in whatever wrote it and we would rather say so than guess.
    public var uint64Value: UInt64? {
        guard case let .number(text) = self, !text.hasPrefix("-"),
              !text.contains("."), !text.contains("e"), !text.contains("E") else { return nil }
        return UInt64(text)
    }

    /// The value as a signed integer literal that fits in 64 bits.
    public var int64Value: Int64? {
        guard case let .number(text) = self,
              !text.contains("."), !text.contains("e"), !text.contains("E") else { return nil }
        return Int64(text)
    }

    /// Any number as a double (integers included). Nil when out of range (overflow to infinity).
    public var doubleValue: Double? {
        guard case let .number(text) = self, let v = Double(text), v.isFinite else { return nil }
        return v
    }

    /// A short name of the kind of value, for error messages.
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

/// Where and why a JSON document was rejected.
public struct JSONParseError: Error, Sendable, Equatable {
    public var offset: Int
    public var message: String
}

/// The reader. `parse` accepts exactly one value surrounded by optional whitespace (RFC 8259).
public enum JSONReader {
    /// Nesting deeper than this is rejected: a header of 100 MB of `[` must not blow the stack.
    public static let maxDepth = 64

    public static func parse(_ bytes: UnsafeRawBufferPointer) throws(JSONParseError) -> JSONValue {
        var parser = Parser(bytes: bytes)
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        if parser.position != bytes.count {
            throw JSONParseError(offset: parser.position, message: "unexpected bytes after the JSON value")
        }
        return value
    }

    public static func parse(_ bytes: [UInt8]) throws(JSONParseError) -> JSONValue {
        try withBytes(of: bytes) { (raw) throws(JSONParseError) in try parse(raw) }
    }

    private struct Parser {
        let bytes: UnsafeRawBufferPointer
        var position = 0

        init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

        func fail(_ message: String, at offset: Int? = nil) -> JSONParseError {
            JSONParseError(offset: offset ?? position, message: message)
        }

        var current: UInt8? { position < bytes.count ? bytes[position] : nil }

        mutating func skipWhitespace() {
            while let c = current, c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { position += 1 }
        }

        mutating func expect(_ literal: StaticString) throws(JSONParseError) {
            let start = position
            let utf8 = UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount)
            for byte in utf8 {
                guard current == byte else { throw fail("invalid literal", at: start) }
                position += 1
            }
        }

        mutating func parseValue(depth: Int) throws(JSONParseError) -> JSONValue {
            guard depth <= JSONReader.maxDepth else { throw fail("nesting deeper than \(JSONReader.maxDepth)") }
            guard let c = current else { throw fail("unexpected end of JSON") }
            switch c {
            case UInt8(ascii: "{"): return try parseObject(depth: depth)
            case UInt8(ascii: "["): return try parseArray(depth: depth)
            case UInt8(ascii: "\""): return .string(try parseString())
            case UInt8(ascii: "t"): try expect("true"); return .bool(true)
            case UInt8(ascii: "f"): try expect("false"); return .bool(false)
            case UInt8(ascii: "n"): try expect("null"); return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
            default: throw fail("unexpected character \(Self.describe(c))")
            }
        }

        mutating func parseObject(depth: Int) throws(JSONParseError) -> JSONValue {
            position += 1  // {
            var entries: [(key: String, value: JSONValue)] = []
            var seen = Set<String>()
            skipWhitespace()
            if current == UInt8(ascii: "}") { position += 1; return .object(entries) }
            while true {
                skipWhitespace()
                let keyOffset = position
                guard current == UInt8(ascii: "\"") else { throw fail("expected a string key") }
                let key = try parseString()
                guard seen.insert(key).inserted else {
                    throw fail("duplicate key \"\(key)\"", at: keyOffset)
                }
                skipWhitespace()
                guard current == UInt8(ascii: ":") else { throw fail("expected ':' after a key") }
                position += 1
                skipWhitespace()
                let value = try parseValue(depth: depth + 1)
                entries.append((key, value))
                skipWhitespace()
                switch current {
                case UInt8(ascii: ","): position += 1
                case UInt8(ascii: "}"): position += 1; return .object(entries)
                default: throw fail("expected ',' or '}' in an object")
                }
            }
        }

        mutating func parseArray(depth: Int) throws(JSONParseError) -> JSONValue {
            position += 1  // [
            var items: [JSONValue] = []
            skipWhitespace()
            if current == UInt8(ascii: "]") { position += 1; return .array(items) }
            while true {
                skipWhitespace()
                items.append(try parseValue(depth: depth + 1))
                skipWhitespace()
                switch current {
                case UInt8(ascii: ","): position += 1
                case UInt8(ascii: "]"): position += 1; return .array(items)
                default: throw fail("expected ',' or ']' in an array")
                }
            }
        }

        /// Number grammar of RFC 8259: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
        mutating func parseNumber() throws(JSONParseError) -> JSONValue {
            let start = position
            func isDigit(_ c: UInt8?) -> Bool { c.map { $0 >= 0x30 && $0 <= 0x39 } ?? false }
            if current == UInt8(ascii: "-") { position += 1 }
            if current == UInt8(ascii: "0") {
                position += 1
            } else if isDigit(current) {
                while isDigit(current) { position += 1 }
            } else {
                throw fail("invalid number", at: start)
            }
            if current == UInt8(ascii: ".") {
                position += 1
                guard isDigit(current) else { throw fail("invalid number", at: start) }
                while isDigit(current) { position += 1 }
            }
            if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
                position += 1
                if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { position += 1 }
                guard isDigit(current) else { throw fail("invalid number", at: start) }
                while isDigit(current) { position += 1 }
            }
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
            return .number(text)
        }

        /// Strings: validates UTF-8, rejects raw control characters and lone surrogates.
        mutating func parseString() throws(JSONParseError) -> String {
            let start = position
            position += 1  // opening quote
            var out: [UInt8] = []
            while true {
                guard let c = current else { throw fail("unterminated string", at: start) }
                if c == UInt8(ascii: "\"") { position += 1; break }
                if c < 0x20 { throw fail("raw control character \(Self.describe(c)) in a string") }
                if c == UInt8(ascii: "\\") {
                    position += 1
                    guard let e = current else { throw fail("unterminated string", at: start) }
                    position += 1
                    switch e {
                    case UInt8(ascii: "\""): out.append(0x22)
                    case UInt8(ascii: "\\"): out.append(0x5C)
                    case UInt8(ascii: "/"): out.append(0x2F)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0C)
                    case UInt8(ascii: "n"): out.append(0x0A)
                    case UInt8(ascii: "r"): out.append(0x0D)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "u"):
                        var scalar = try parseHex4()
                        if (0xD800...0xDBFF).contains(scalar) {
                            guard current == UInt8(ascii: "\\") else { throw fail("lone high surrogate") }
                            position += 1
                            guard current == UInt8(ascii: "u") else { throw fail("lone high surrogate") }
                            position += 1
                            let low = try parseHex4()
                            guard (0xDC00...0xDFFF).contains(low) else { throw fail("invalid surrogate pair") }
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        } else if (0xDC00...0xDFFF).contains(scalar) {
                            throw fail("lone low surrogate")
                        }
                        guard let u = Unicode.Scalar(scalar) else { throw fail("invalid unicode escape") }
                        out.append(contentsOf: Array(String(Character(u)).utf8))
                    default:
                        throw fail("invalid escape \\\(Self.describe(e))")
                    }
                    continue
                }
                // Copy a run of plain bytes, validated as UTF-8 at the end.
                out.append(c)
                position += 1
            }
            guard let s = String(validating: out, as: UTF8.self) else {
                throw fail("string is not valid UTF-8", at: start)
            }
            return s
        }

        mutating func parseHex4() throws(JSONParseError) -> UInt32 {
            var v: UInt32 = 0
            for _ in 0..<4 {
                guard let c = current else { throw fail("truncated \\u escape") }
                let d: UInt32
                switch c {
                case 0x30...0x39: d = UInt32(c - 0x30)
                case 0x41...0x46: d = UInt32(c - 0x41 + 10)
                case 0x61...0x66: d = UInt32(c - 0x61 + 10)
                default: throw fail("invalid hex digit in \\u escape")
                }
                v = v << 4 | d
                position += 1
            }
            return v
        }

        static func describe(_ c: UInt8) -> String {
            (0x21...0x7E).contains(c) ? "'\(Character(Unicode.Scalar(c)))'" : "0x" + String(c, radix: 16)
        }
    }
}

/// The writer: two-space indentation like Python's `json.dumps(indent=2)` (what Hugging Face
/// writes), keys in insertion order, non-ASCII kept as UTF-8, a trailing newline.
public enum JSONWriter {
    public static func render(_ value: JSONValue, pretty: Bool = true) -> String {
        var out = ""
        write(value, into: &out, indent: pretty ? 0 : nil)
        if pretty { out += "\n" }
        return out
    }

    private static func write(_ value: JSONValue, into out: inout String, indent: Int?) {
        switch value {
        case .null: out += "null"
        case let .bool(b): out += b ? "true" : "false"
        case let .number(text): out += text
        case let .string(s): writeString(s, into: &out)
        case let .array(items):
            if items.isEmpty { out += "[]"; return }
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                newline(&out, indent.map { $0 + 1 })
                write(item, into: &out, indent: indent.map { $0 + 1 })
            }
            newline(&out, indent)
            out += "]"
        case let .object(entries):
            if entries.isEmpty { out += "{}"; return }
            out += "{"
            for (i, entry) in entries.enumerated() {
                if i > 0 { out += "," }
                newline(&out, indent.map { $0 + 1 })
                writeString(entry.key, into: &out)
                out += indent == nil ? ":" : ": "
                write(entry.value, into: &out, indent: indent.map { $0 + 1 })
            }
            newline(&out, indent)
            out += "}"
        }
    }

    private static func newline(_ out: inout String, _ indent: Int?) {
        guard let indent else { return }
        out += "\n" + String(repeating: "  ", count: indent)
    }

    private static func writeString(_ s: String, into out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }
}
