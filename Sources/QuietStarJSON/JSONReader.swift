/// Where and why a document was rejected.
///
/// `offset` is the byte offset of the offending byte: the unexpected character, the first byte
/// of an ill-formed UTF-8 sequence, the backslash of a bad escape, the opening quote of a
/// duplicate key or of an unterminated string, the end of the input when it ends too early.
/// `line` and `column` (both from 1, the column counted in bytes) say the same for editors.
public struct JSONParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public var offset: Int
    public var line: Int
    public var column: Int
    public var message: String

    public init(offset: Int, line: Int, column: Int, message: String) {
        self.offset = offset
        self.line = line
        self.column = column
        self.message = message
    }

    /// `line 3, column 7 (byte 42): expected ':' after a key`
    public var description: String { "line \(line), column \(column) (byte \(offset)): \(message)" }
}

/// A strict RFC 8259 reader: exactly one value surrounded by optional whitespace, nothing
/// accepted that the grammar does not allow (no comments, trailing commas, NaN, leading zeros,
/// single quotes, byte-order mark), strings checked as UTF-8 with raw control characters and
/// unpaired surrogate escapes rejected, as serde_json (what Hugging Face and safetensors use)
/// does. The input is treated as hostile: nesting and size are bounded and nothing traps.
public enum JSONReader {
    /// What to do with an object that repeats a key (keys compared by their bytes).
    public enum DuplicateKeys: Sendable, Equatable {
        /// Fail at the repeated key: a later value silently winning (Foundation, Python) lets two
        /// tools read different values from one file.
        case reject
        /// Keep every member in document order; the caller decides.
        case keep
    }

    public struct Options: Sendable, Equatable {
        /// The most arrays and objects a value may sit inside; the root is inside none.
        /// Recursion per level is small, but 100 MB of `[` must not reach the stack's end.
        public var maxDepth: Int
        /// The largest document accepted, in bytes.
        public var maxBytes: Int
        public var duplicateKeys: DuplicateKeys

        /// The bound `maxDepth` may not exceed (a few hundred bytes of stack per level fit well
        /// inside the 512 KiB of a secondary thread).
        public static let depthCeiling = 512

        public init(maxDepth: Int = 64, maxBytes: Int = .max, duplicateKeys: DuplicateKeys = .reject) {
            precondition((0...Self.depthCeiling).contains(maxDepth), "maxDepth must be in 0...\(Self.depthCeiling)")
            precondition(maxBytes >= 0, "maxBytes must not be negative")
            self.maxDepth = maxDepth
            self.maxBytes = maxBytes
            self.duplicateKeys = duplicateKeys
        }
    }

    /// Parses one document.
    public static func parse(_ bytes: UnsafeRawBufferPointer, options: Options = Options()) throws(JSONParseError) -> JSONValue {
        var parser = Parser(bytes: bytes, options: options)
        guard bytes.count <= options.maxBytes else {
            throw parser.error("the document is \(bytes.count) bytes, more than the limit of \(options.maxBytes)", at: options.maxBytes)
        }
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        guard parser.position == bytes.count else {
            throw parser.error("unexpected text after the JSON value")
        }
        return value
    }

    /// Parses one document from any byte collection (`[UInt8]`, `Data`, a slice).
    public static func parse<Bytes: Collection<UInt8>>(_ bytes: Bytes, options: Options = Options()) throws(JSONParseError) -> JSONValue {
        let result: Result<JSONValue, JSONParseError>? = bytes.withContiguousStorageIfAvailable { buffer in
            do throws(JSONParseError) { return .success(try parse(UnsafeRawBufferPointer(buffer), options: options)) }
            catch { return .failure(error) }
        }
        if let result { return try result.get() }
        return try parse(Array(bytes), options: options)
    }

    // MARK: The parser

    private struct Parser {
        let bytes: UnsafeRawBufferPointer
        let options: Options
        var position = 0

        init(bytes: UnsafeRawBufferPointer, options: Options) {
            self.bytes = bytes
            self.options = options
        }

        /// An error at `offset` (default: the current position), with its line and column.
        func error(_ message: String, at offset: Int? = nil) -> JSONParseError {
            let at = offset ?? position
            var line = 1, lineStart = 0
            for i in 0..<min(at, bytes.count) where bytes[i] == 0x0A {
                line += 1
                lineStart = i + 1
            }
            return JSONParseError(offset: at, line: line, column: at - lineStart + 1, message: message)
        }

        var current: UInt8? { position < bytes.count ? bytes[position] : nil }

        mutating func skipWhitespace() {
            while position < bytes.count {
                switch bytes[position] {
                case 0x20, 0x0A, 0x0D, 0x09: position += 1
                default: return
                }
            }
        }

        mutating func parseValue(depth: Int) throws(JSONParseError) -> JSONValue {
            guard depth <= options.maxDepth else { throw error("nested deeper than \(options.maxDepth) levels") }
            guard let c = current else { throw error("unexpected end of input") }
            switch c {
            case UInt8(ascii: "{"): return try parseObject(depth: depth)
            case UInt8(ascii: "["): return try parseArray(depth: depth)
            case UInt8(ascii: "\""): return .string(try parseString())
            case UInt8(ascii: "t"): try expect("true"); return .bool(true)
            case UInt8(ascii: "f"): try expect("false"); return .bool(false)
            case UInt8(ascii: "n"): try expect("null"); return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
            default: throw error("unexpected character \(Self.describe(c))")
            }
        }

        mutating func expect(_ literal: StaticString) throws(JSONParseError) {
            let n = literal.utf8CodeUnitCount
            guard position + n <= bytes.count,
                  (0..<n).allSatisfy({ bytes[position + $0] == literal.utf8Start[$0] }) else {
                throw error("invalid literal (expected \(literal))")
            }
            position += n
        }

        mutating func parseObject(depth: Int) throws(JSONParseError) -> JSONValue {
            position += 1  // {
            var members: [(key: String, value: JSONValue)] = []
            var seen = Set<ExactString>()
            skipWhitespace()
            if current == UInt8(ascii: "}") { position += 1; return .object(members) }
            while true {
                skipWhitespace()
                let keyOffset = position
                guard current == UInt8(ascii: "\"") else {
                    throw error(current == nil ? "unexpected end of input in an object" : "expected a string key")
                }
                let key = try parseString()
                if options.duplicateKeys == .reject {
                    guard seen.insert(ExactString(key)).inserted else {
                        throw error("duplicate key \(JSONWriter.quoted(key))", at: keyOffset)
                    }
                }
                skipWhitespace()
                guard current == UInt8(ascii: ":") else { throw error("expected ':' after a key") }
                position += 1
                skipWhitespace()
                members.append((key, try parseValue(depth: depth + 1)))
                skipWhitespace()
                switch current {
                case UInt8(ascii: ","): position += 1
                case UInt8(ascii: "}"): position += 1; return .object(members)
                case nil: throw error("unexpected end of input in an object")
                default: throw error("expected ',' or '}' in an object")
                }
            }
        }

        mutating func parseArray(depth: Int) throws(JSONParseError) -> JSONValue {
            position += 1  // [
            var elements: [JSONValue] = []
            skipWhitespace()
            if current == UInt8(ascii: "]") { position += 1; return .array(elements) }
            while true {
                skipWhitespace()
                elements.append(try parseValue(depth: depth + 1))
                skipWhitespace()
                switch current {
                case UInt8(ascii: ","): position += 1
                case UInt8(ascii: "]"): position += 1; return .array(elements)
                case nil: throw error("unexpected end of input in an array")
                default: throw error("expected ',' or ']' in an array")
                }
            }
        }

        mutating func parseNumber() throws(JSONParseError) -> JSONNumber {
            let start = position
            switch JSONNumber.scan(bytes, from: start) {
            case .failure(let at, let message):
                throw error(at < bytes.count ? "invalid number: \(message)" : "unexpected end of input in a number", at: at)
            case .success(let end):
                position = end
                return JSONNumber(validated: String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self))
            }
        }

        /// A string starting at its opening quote. One pass checks UTF-8 and finds the end;
        /// runs without escapes are copied whole, escapes decoded one at a time.
        mutating func parseString() throws(JSONParseError) -> String {
            let quote = position
            position += 1
            var runStart = position
            var decoded: [UInt8] = []   // used once an escape appears
            var escaped = false
            while true {
                guard position < bytes.count else { throw error("unterminated string", at: quote) }
                let b = bytes[position]
                if b >= 0x80 {
                    guard let length = Self.utf8SequenceLength(bytes, at: position) else {
                        throw error("invalid UTF-8 in a string")
                    }
                    position += length
                } else if b == UInt8(ascii: "\"") {
                    let run = UnsafeRawBufferPointer(rebasing: bytes[runStart..<position])
                    position += 1
                    guard escaped else { return String(decoding: run, as: UTF8.self) }
                    decoded.append(contentsOf: run)
                    return String(decoding: decoded, as: UTF8.self)
                } else if b == UInt8(ascii: "\\") {
                    decoded.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[runStart..<position]))
                    try parseEscape(into: &decoded, quote: quote)
                    escaped = true
                    runStart = position
                } else if b < 0x20 {
                    throw error("raw control character \(Self.describe(b)) in a string (write it as an escape)")
                } else {
                    position += 1
                }
            }
        }

        /// One escape, starting at its backslash, inside the string that opens at `quote`.
        /// Errors point at the backslash (or at the quote when the input ends first).
        mutating func parseEscape(into out: inout [UInt8], quote: Int) throws(JSONParseError) {
            let backslash = position
            position += 1
            guard let e = current else { throw error("unterminated string", at: quote) }
            position += 1
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                let unit = try hex4(escapeAt: backslash, quote: quote)
                var scalar = unit
                switch unit {
                case 0xD800...0xDBFF:
                    let lowAt = position
                    guard lowAt + 1 < bytes.count, bytes[lowAt] == UInt8(ascii: "\\"), bytes[lowAt + 1] == UInt8(ascii: "u") else {
                        throw error("lone high surrogate \(Self.hexEscape(unit)) (a \\uDC00-\\uDFFF escape must follow)", at: backslash)
                    }
                    position += 2
                    let low = try hex4(escapeAt: lowAt, quote: quote)
                    guard (0xDC00...0xDFFF).contains(low) else {
                        throw error("lone high surrogate \(Self.hexEscape(unit)) (followed by \(Self.hexEscape(low)), not a low surrogate)", at: backslash)
                    }
                    scalar = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                case 0xDC00...0xDFFF:
                    throw error("lone low surrogate \(Self.hexEscape(unit))", at: backslash)
                default:
                    break
                }
                Self.appendUTF8(scalar, to: &out)
            default:
                let shown = (0x21...0x7E).contains(e) ? "'\\\(Character(Unicode.Scalar(e)))'" : "'\\' followed by \(Self.describe(e))"
                throw error("invalid escape \(shown)", at: backslash)
            }
        }

        /// The four hex digits after `\u`.
        mutating func hex4(escapeAt backslash: Int, quote: Int) throws(JSONParseError) -> UInt32 {
            var v: UInt32 = 0
            for _ in 0..<4 {
                guard let c = current else { throw error("unterminated string", at: quote) }
                let d: UInt32
                switch c {
                case 0x30...0x39: d = UInt32(c - 0x30)
                case 0x41...0x46: d = UInt32(c - 0x41 + 10)
                case 0x61...0x66: d = UInt32(c - 0x61 + 10)
                default: throw error("invalid \\u escape: \(Self.describe(c)) is not a hex digit", at: backslash)
                }
                v = v << 4 | d
                position += 1
            }
            return v
        }

        /// Encodes a Unicode scalar value (never a surrogate: the caller has combined or
        /// rejected those) as UTF-8.
        static func appendUTF8(_ v: UInt32, to out: inout [UInt8]) {
            switch v {
            case 0..<0x80:
                out.append(UInt8(v))
            case 0x80..<0x800:
                out.append(UInt8(0xC0 | v >> 6)); out.append(UInt8(0x80 | v & 0x3F))
            case 0x800..<0x10000:
                out.append(UInt8(0xE0 | v >> 12)); out.append(UInt8(0x80 | v >> 6 & 0x3F)); out.append(UInt8(0x80 | v & 0x3F))
            default:
                out.append(UInt8(0xF0 | v >> 18)); out.append(UInt8(0x80 | v >> 12 & 0x3F))
                out.append(UInt8(0x80 | v >> 6 & 0x3F)); out.append(UInt8(0x80 | v & 0x3F))
            }
        }

        /// The length of the well-formed UTF-8 sequence starting at `i` (which holds a byte
        /// >= 0x80), or nil when it is ill-formed: Unicode table 3-7, so no overlong forms, no
        /// surrogates, nothing above U+10FFFF, no truncated sequence.
        static func utf8SequenceLength(_ s: UnsafeRawBufferPointer, at i: Int) -> Int? {
            let length: Int, second: ClosedRange<UInt8>
            switch s[i] {
            case 0xC2...0xDF: length = 2; second = 0x80...0xBF
            case 0xE0: length = 3; second = 0xA0...0xBF
            case 0xE1...0xEC, 0xEE...0xEF: length = 3; second = 0x80...0xBF
            case 0xED: length = 3; second = 0x80...0x9F
            case 0xF0: length = 4; second = 0x90...0xBF
            case 0xF1...0xF3: length = 4; second = 0x80...0xBF
            case 0xF4: length = 4; second = 0x80...0x8F
            default: return nil
            }
            guard i + length <= s.count, second.contains(s[i + 1]) else { return nil }
            for k in 2..<length where s[i + k] & 0xC0 != 0x80 { return nil }
            return length
        }

        /// `'x'` for a printable ASCII byte, `0x1f` otherwise.
        static func describe(_ c: UInt8) -> String {
            (0x21...0x7E).contains(c) ? "'\(Character(Unicode.Scalar(c)))'" : "0x" + String(c, radix: 16)
        }

        /// `\uD800`
        static func hexEscape(_ unit: UInt32) -> String {
            let hex = String(unit, radix: 16, uppercase: true)
            return "\\u" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
        }
    }
}
