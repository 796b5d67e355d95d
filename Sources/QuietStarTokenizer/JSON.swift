/// A small JSON reader for `tokenizer.json`, exact about strings.
///
/// Why not Foundation's `JSONSerialization`: it returns objects as `[String: Any]`, and Swift
/// String equality is canonical equivalence, so a vocabulary holding both "é" (U+00E9) and
/// "e\u{301}" — distinct tokens with distinct ids for Hugging Face — silently loses one. Here
/// objects keep every member, in document order, with keys exactly as written; callers compare
/// token strings by their UTF-8 bytes. Like serde_json, the reader rejects invalid UTF-8, raw
/// control characters in strings and unpaired surrogate escapes, and reports the byte offset.
indirect enum JSON {
    case null
    case bool(Bool)
    /// A number written without fraction or exponent that fits in Int64.
    case integer(Int64)
    case double(Double)
    case string(String)
    case array([JSON])
    /// Members in document order; duplicate keys are kept (the caller decides).
    case object([(key: String, value: JSON)])

    struct SyntaxError: Error {
        let offset: Int
        let message: String
    }

    static func parse(_ bytes: UnsafeBufferPointer<UInt8>) throws(SyntaxError) -> JSON {
        var reader = Reader(bytes: bytes)
        reader.skipWhitespace()
        let value = try reader.value(depth: 0)
        reader.skipWhitespace()
        guard reader.position == bytes.count else { throw reader.error("unexpected text after the JSON value") }
        return value
    }

    /// Compact JSON text of the value (for error messages).
    var text: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .integer(let i): return String(i)
        case .double(let d): return String(d)
        case .string(let s): return Self.quote(s)
        case .array(let a): return "[" + a.map(\.text).joined(separator: ",") + "]"
        case .object(let o): return "{" + o.map { Self.quote($0.key) + ":" + $0.value.text }.joined(separator: ",") + "}"
        }
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for c in s.unicodeScalars {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if c.value < 0x20 {
                    let hex = String(c.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(c)
                }
            }
        }
        return out + "\""
    }

    private struct Reader {
        let bytes: UnsafeBufferPointer<UInt8>
        var position = 0
        /// Deeper nesting than any tokenizer file has; bounds the recursion.
        static let maxDepth = 128

        func error(_ message: String) -> SyntaxError { SyntaxError(offset: position, message: message) }

        mutating func skipWhitespace() {
            while position < bytes.count, case let b = bytes[position], b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 {
                position += 1
            }
        }

        mutating func expect(_ literal: StaticString, _ value: JSON) throws(SyntaxError) -> JSON {
            let n = literal.utf8CodeUnitCount
            guard position + n <= bytes.count,
                  (0..<n).allSatisfy({ bytes[position + $0] == literal.utf8Start[$0] }) else {
                throw error("invalid literal")
            }
            position += n
            return value
        }

        mutating func value(depth: Int) throws(SyntaxError) -> JSON {
            guard depth < Self.maxDepth else { throw error("nested deeper than \(Self.maxDepth) levels") }
            guard position < bytes.count else { throw error("unexpected end of input") }
            switch bytes[position] {
            case UInt8(ascii: "{"):
                position += 1
                var members: [(key: String, value: JSON)] = []
                skipWhitespace()
                if position < bytes.count && bytes[position] == UInt8(ascii: "}") { position += 1; return .object(members) }
                while true {
                    skipWhitespace()
                    guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else { throw error("expected a string key") }
                    let key = try string()
                    skipWhitespace()
                    guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else { throw error("expected ':'") }
                    position += 1
                    skipWhitespace()
                    members.append((key, try value(depth: depth + 1)))
                    skipWhitespace()
                    guard position < bytes.count else { throw error("unexpected end of input in an object") }
                    if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
                    if bytes[position] == UInt8(ascii: "}") { position += 1; return .object(members) }
                    throw error("expected ',' or '}'")
                }
            case UInt8(ascii: "["):
                position += 1
                var elements: [JSON] = []
                skipWhitespace()
                if position < bytes.count && bytes[position] == UInt8(ascii: "]") { position += 1; return .array(elements) }
                while true {
                    skipWhitespace()
                    elements.append(try value(depth: depth + 1))
                    skipWhitespace()
                    guard position < bytes.count else { throw error("unexpected end of input in an array") }
                    if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
                    if bytes[position] == UInt8(ascii: "]") { position += 1; return .array(elements) }
                    throw error("expected ',' or ']'")
                }
            case UInt8(ascii: "\""):
                return .string(try string())
            case UInt8(ascii: "t"): return try expect("true", .bool(true))
            case UInt8(ascii: "f"): return try expect("false", .bool(false))
            case UInt8(ascii: "n"): return try expect("null", .null)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                return try number()
            default:
                throw error("unexpected character")
            }
        }

        mutating func number() throws(SyntaxError) -> JSON {
            let start = position
            func digits() -> Int {
                let s = position
                while position < bytes.count && bytes[position] >= 0x30 && bytes[position] <= 0x39 { position += 1 }
                return position - s
            }
            if bytes[position] == UInt8(ascii: "-") { position += 1 }
            let intStart = position
            guard digits() > 0 else { throw error("invalid number") }
            guard bytes[intStart] != 0x30 || position - intStart == 1 else { throw error("invalid number (leading zero)") }
            var integral = true
            if position < bytes.count && bytes[position] == UInt8(ascii: ".") {
                position += 1
                integral = false
                guard digits() > 0 else { throw error("invalid number") }
            }
            if position < bytes.count && (bytes[position] | 0x20) == UInt8(ascii: "e") {
                position += 1
                integral = false
                if position < bytes.count && (bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-")) { position += 1 }
                guard digits() > 0 else { throw error("invalid number") }
            }
            let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
            if integral, let i = Int64(text) { return .integer(i) }
            guard let d = Double(text) else { throw error("invalid number") }
            return .double(d)
        }

        /// A string starting at the opening quote.
        mutating func string() throws(SyntaxError) -> String {
            position += 1
            let start = position
            // Fast path: no escapes.
            while position < bytes.count {
                let b = bytes[position]
                if b == UInt8(ascii: "\"") {
                    guard let s = String(validating: UnsafeBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self) else {
                        throw SyntaxError(offset: start, message: "string is not valid UTF-8")
                    }
                    position += 1
                    return s
                }
                if b == UInt8(ascii: "\\") { break }
                if b < 0x20 { throw error("control character in a string") }
                position += 1
            }
            var out = Array(UnsafeBufferPointer(rebasing: bytes[start..<position]))
            while true {
                guard position < bytes.count else { throw error("unterminated string") }
                let b = bytes[position]
                position += 1
                switch b {
                case UInt8(ascii: "\""):
                    guard let s = String(validating: out, as: UTF8.self) else {
                        throw SyntaxError(offset: start, message: "string is not valid UTF-8")
                    }
                    return s
                case UInt8(ascii: "\\"):
                    guard position < bytes.count else { throw error("unterminated escape") }
                    let e = bytes[position]
                    position += 1
                    switch e {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0C)
                    case UInt8(ascii: "n"): out.append(0x0A)
                    case UInt8(ascii: "r"): out.append(0x0D)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "u"):
                        var v = try hex4()
                        if v >= 0xD800 && v < 0xDC00 {
                            guard position + 1 < bytes.count, bytes[position] == UInt8(ascii: "\\"),
                                  bytes[position + 1] == UInt8(ascii: "u") else { throw error("unpaired surrogate escape") }
                            position += 2
                            let low = try hex4()
                            guard low >= 0xDC00 && low < 0xE000 else { throw error("unpaired surrogate escape") }
                            v = 0x10000 + (v - 0xD800) << 10 + (low - 0xDC00)
                        } else if v >= 0xDC00 && v < 0xE000 {
                            throw error("unpaired surrogate escape")
                        }
                        out.append(contentsOf: String(Unicode.Scalar(v)!).utf8)
                    default:
                        throw error("invalid escape")
                    }
                default:
                    if b < 0x20 { throw error("control character in a string") }
                    out.append(b)
                }
            }
        }

        mutating func hex4() throws(SyntaxError) -> UInt32 {
            guard position + 4 <= bytes.count else { throw error("truncated \\u escape") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = bytes[position]
                let d: UInt32
                switch c {
                case 0x30...0x39: d = UInt32(c - 0x30)
                case 0x41...0x46: d = UInt32(c - 0x41 + 10)
                case 0x61...0x66: d = UInt32(c - 0x61 + 10)
                default: throw error("invalid \\u escape")
                }
                v = v << 4 | d
                position += 1
            }
            return v
        }
    }
}
