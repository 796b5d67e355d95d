/// Deterministic JSON text: the same value always gives the same bytes.
///
/// Members are written in the order they are listed (a `JSONValue` object is a list, so that
/// order is whatever the code building it chose), numbers exactly as their text (`JSONNumber`
/// makes doubles the shortest text that round-trips), everything else verbatim UTF-8 except
/// what must or should be escaped: `"`, `\`, C0 controls (`\n`, `\r`, `\t`, else `\u00XX`),
/// DEL and C1 controls (a terminal would act on them), U+2028 and U+2029 (line breaks to
/// JavaScript) and Unicode noncharacters (U+FDD0-U+FDEF and U+xFFFE/U+xFFFF, which some
/// decoders replace), as `\uXXXX` (a surrogate pair above U+FFFF).
///
/// The writer appends to a byte buffer, so a producer of JSON Lines encodes each record into one
/// reused buffer and hands it to the output whole (`appendRecord`).
public struct JSONWriter: Sendable {
    public enum Style: Sendable, Equatable {
        /// No whitespace: `{"a":[1,2]}`. JSON Lines records, safetensors headers.
        case compact
        /// Two-space indentation, one member or element per line, `": "` after keys, `[]` and
        /// `{}` for empty containers: Python's `json.dumps(indent=2)`, as Hugging Face writes
        /// `config.json`.
        case pretty
    }

    public var style: Style

    public init(_ style: Style = .compact) { self.style = style }

    /// Appends the text of `value` to `out`.
    public func append(_ value: JSONValue, to out: inout [UInt8]) {
        Self.write(value, into: &out, indent: style == .pretty ? 0 : nil)
    }

    /// The text of `value` as bytes.
    public func encode(_ value: JSONValue) -> [UInt8] {
        var out: [UInt8] = []
        append(value, to: &out)
        return out
    }

    /// The text of `value`.
    public func render(_ value: JSONValue) -> String { String(decoding: encode(value), as: UTF8.self) }

    /// What a `.json` file holds: the pretty text and a final newline.
    public static func document(_ value: JSONValue) -> String {
        var out = JSONWriter(.pretty).encode(value)
        out.append(0x0A)
        return String(decoding: out, as: UTF8.self)
    }

    /// One JSON Lines record: the compact text of `value` and a newline. Compact text never
    /// contains a raw newline (strings escape theirs), so records stay one per line.
    public static func appendRecord(_ value: JSONValue, to out: inout [UInt8]) {
        write(value, into: &out, indent: nil)
        out.append(0x0A)
    }

    /// Appends `s` as a quoted JSON string, for code that writes some fields by hand.
    public static func appendQuoted(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var s = s
        s.withUTF8 { utf8 in
            var runStart = 0, i = 0
            while i < utf8.count {
                let b = utf8[i]
                let length: Int, scalar: UInt32
                if b < 0x80 {
                    if b >= 0x20 && b != UInt8(ascii: "\"") && b != UInt8(ascii: "\\") && b != 0x7F { i += 1; continue }
                    length = 1
                    scalar = UInt32(b)
                } else {
                    // A String is valid UTF-8, so the lead byte gives the length.
                    length = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2
                    var v = UInt32(b) & (0x7F >> length)
                    for k in 1..<length { v = v << 6 | UInt32(utf8[i + k] & 0x3F) }
                    guard needsEscape(v) else { i += length; continue }
                    scalar = v
                }
                out.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<i]))
                appendEscape(scalar, to: &out)
                i += length
                runStart = i
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart...]))
        }
        out.append(UInt8(ascii: "\""))
    }

    /// `s` as a quoted JSON string (for messages that show a key or a token).
    public static func quoted(_ s: String) -> String {
        var out: [UInt8] = []
        appendQuoted(s, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    // MARK: Implementation

    /// `indent` is the current nesting level when pretty, nil when compact.
    private static func write(_ value: JSONValue, into out: inout [UInt8], indent: Int?) {
        switch value {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .number(let n): out.append(contentsOf: n.text.utf8)
        case .string(let s): appendQuoted(s, to: &out)
        case .array(let items):
            writeContainer(items, "[", "]", into: &out, indent: indent) { item, out, inner in
                write(item, into: &out, indent: inner)
            }
        case .object(let members):
            writeContainer(members, "{", "}", into: &out, indent: indent) { member, out, inner in
                appendQuoted(member.key, to: &out)
                out.append(contentsOf: (inner == nil ? ":" : ": ").utf8)
                write(member.value, into: &out, indent: inner)
            }
        }
    }

    /// The layout of both containers: `open`, the elements separated by commas (each on its own
    /// line, one level deeper, when pretty), `close` on its own line; `[]` / `{}` when empty.
    private static func writeContainer<Elements: Collection>(
        _ elements: Elements, _ open: Unicode.Scalar, _ close: Unicode.Scalar, into out: inout [UInt8], indent: Int?,
        element: (Elements.Element, inout [UInt8], Int?) -> Void
    ) {
        out.append(UInt8(ascii: open))
        if elements.isEmpty { out.append(UInt8(ascii: close)); return }
        let inner = indent.map { $0 + 1 }
        for (i, e) in elements.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            newline(&out, inner)
            element(e, &out, inner)
        }
        newline(&out, indent)
        out.append(UInt8(ascii: close))
    }

    private static func newline(_ out: inout [UInt8], _ indent: Int?) {
        guard let indent else { return }
        out.append(0x0A)
        out.append(contentsOf: repeatElement(UInt8(ascii: " "), count: 2 * indent))
    }

    /// Non-ASCII scalars written as escapes: C1 controls, the JavaScript line breaks and the
    /// noncharacters.
    private static func needsEscape(_ v: UInt32) -> Bool {
        (0x80...0x9F).contains(v) || v == 0x2028 || v == 0x2029 || (0xFDD0...0xFDEF).contains(v) || v & 0xFFFE == 0xFFFE
    }

    private static func appendEscape(_ v: UInt32, to out: inout [UInt8]) {
        switch v {
        case 0x22: out.append(contentsOf: #"\""#.utf8)
        case 0x5C: out.append(contentsOf: #"\\"#.utf8)
        case 0x0A: out.append(contentsOf: #"\n"#.utf8)
        case 0x0D: out.append(contentsOf: #"\r"#.utf8)
        case 0x09: out.append(contentsOf: #"\t"#.utf8)
        case 0x10000...:
            let u = v - 0x10000
            appendUnicodeEscape(0xD800 + (u >> 10), to: &out)
            appendUnicodeEscape(0xDC00 + (u & 0x3FF), to: &out)
        default:
            appendUnicodeEscape(v, to: &out)
        }
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// `\u001f` (lower-case hex, as Python writes it).
    private static func appendUnicodeEscape(_ unit: UInt32, to out: inout [UInt8]) {
        out.append(contentsOf: #"\u"#.utf8)
        for shift in stride(from: 12, through: 0, by: -4) { out.append(hexDigits[Int(unit >> UInt32(shift) & 0xF)]) }
    }
}
