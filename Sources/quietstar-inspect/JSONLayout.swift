import QuietStarJSON

/// The layout of `--json` output. Values are `JSONValue`s (objects keep the order the code
/// lists their members in, so key order is fixed) and every scalar, string and key is written
/// by `JSONWriter`; only the whitespace is the report's own: two-space indents like
/// `JSONWriter.Style.pretty`, but arrays of scalars stay on one line (`[4, 3]`) and small flat
/// objects too (`{"type": "u64", "value": 1}`), so a shape or a metadata value reads at a glance.
enum JSONLayout {
    /// Flat objects up to this many bytes print on one line.
    static let inlineWidth = 100

    /// `value` laid out; `indent` is the nesting depth it starts at (for members written one by
    /// one).
    static func render(_ value: JSONValue, indent: Int = 0) -> String {
        var out: [UInt8] = []
        write(value, into: &out, indent: indent)
        return String(decoding: out, as: UTF8.self)
    }

    /// A scalar or an array of scalars.
    private static func isFlat(_ value: JSONValue) -> Bool {
        if case .array(let items) = value { return items.allSatisfy(isScalar) }
        return isScalar(value)
    }

    private static func isScalar(_ value: JSONValue) -> Bool {
        switch value {
        case .array, .object: false
        default: true
        }
    }

    private static func write(_ value: JSONValue, into out: inout [UInt8], indent: Int) {
        switch value {
        case .null, .bool, .number, .string:
            JSONWriter().append(value, to: &out)
        case .array(let items):
            if items.isEmpty { out += "[]".utf8; return }
            if items.allSatisfy(isScalar) {
                out += "[".utf8
                for (i, item) in items.enumerated() {
                    if i > 0 { out += ", ".utf8 }
                    JSONWriter().append(item, to: &out)
                }
                out += "]".utf8
                return
            }
            out += "[\n".utf8
            for (i, item) in items.enumerated() {
                pad(&out, indent + 1)
                write(item, into: &out, indent: indent + 1)
                out += (i < items.count - 1 ? ",\n" : "\n").utf8
            }
            pad(&out, indent)
            out += "]".utf8
        case .object(let members):
            if members.isEmpty { out += "{}".utf8; return }
            if members.allSatisfy({ isFlat($0.value) }) {
                var line: [UInt8] = [UInt8(ascii: "{")]
                for (i, member) in members.enumerated() {
                    if i > 0 { line += ", ".utf8 }
                    JSONWriter.appendQuoted(member.key, to: &line)
                    line += ": ".utf8
                    write(member.value, into: &line, indent: indent + 1)
                }
                line += "}".utf8
                if line.count <= inlineWidth { out += line; return }
            }
            out += "{\n".utf8
            for (i, member) in members.enumerated() {
                pad(&out, indent + 1)
                JSONWriter.appendQuoted(member.key, to: &out)
                out += ": ".utf8
                write(member.value, into: &out, indent: indent + 1)
                out += (i < members.count - 1 ? ",\n" : "\n").utf8
            }
            pad(&out, indent)
            out += "}".utf8
        }
    }

    private static func pad(_ out: inout [UInt8], _ indent: Int) {
        out += repeatElement(UInt8(ascii: " "), count: 2 * indent)
    }

    /// A float as a JSON number (`JSONNumber`'s shortest round-trip text); a non-finite one,
    /// which JSON cannot hold, as the string "NaN", "Infinity" or "-Infinity" (documented in
    /// --help).
    static func number(_ d: Double) -> JSONValue {
        if let n = JSONNumber(d) { return .number(n) }
        return .string(d.isNaN ? "NaN" : d > 0 ? "Infinity" : "-Infinity")
    }

    static func number(_ f: Float) -> JSONValue {
        if let n = JSONNumber(f) { return .number(n) }
        return number(Double(f))
    }
}
