/// A JSON value with ordered objects, so output key order is fixed by the code that builds it
/// (stable across runs and platforms, unlike a dictionary's).
indirect enum JSON {
    case null
    case bool(Bool)
    case int(Int64)
    case uint(UInt64)
    /// Non-finite values are not JSON numbers: they print as the strings "NaN", "Infinity",
    /// "-Infinity" (documented in --help).
    case double(Double)
    case float(Float)
    case string(String)
    case array([JSON])
    case object([(String, JSON)])

    /// Pretty-printed with two-space indents; arrays of scalars stay on one line. `indent` is
    /// the nesting depth the value starts at (for members written one by one).
    func rendered(indent: Int = 0) -> String {
        var out = ""
        write(into: &out, indent: indent)
        return out
    }

    /// Flat objects up to this many characters print on one line.
    static let inlineWidth = 100

    /// A scalar or an array of scalars.
    private var isFlat: Bool {
        if case .array(let items) = self { return items.allSatisfy(\.isScalar) }
        return isScalar
    }

    private var isScalar: Bool {
        switch self {
        case .array, .object: false
        default: true
        }
    }

    private func write(into out: inout String, indent: Int) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .uint(let u): out += String(u)
        case .double(let d): JSON.number(d.isFinite ? String(d) : nil, nonFinite: d, into: &out)
        case .float(let f): JSON.number(f.isFinite ? String(f) : nil, nonFinite: Double(f), into: &out)
        case .string(let s): JSON.quote(s, into: &out)
        case .array(let items):
            if items.isEmpty { out += "[]"; return }
            if items.allSatisfy(\.isScalar) {
                out += "["
                for (i, item) in items.enumerated() {
                    if i > 0 { out += ", " }
                    item.write(into: &out, indent: indent)
                }
                out += "]"
                return
            }
            let pad = String(repeating: "  ", count: indent + 1)
            out += "[\n"
            for (i, item) in items.enumerated() {
                out += pad
                item.write(into: &out, indent: indent + 1)
                out += i < items.count - 1 ? ",\n" : "\n"
            }
            out += String(repeating: "  ", count: indent) + "]"
        case .object(let members):
            if members.isEmpty { out += "{}"; return }
            // Small flat objects ({"type": "u64", "value": 1}) read best on one line.
            if members.allSatisfy({ $0.1.isFlat }) {
                var line = "{"
                for (i, (key, value)) in members.enumerated() {
                    if i > 0 { line += ", " }
                    JSON.quote(key, into: &line)
                    line += ": "
                    value.write(into: &line, indent: indent + 1)
                }
                line += "}"
                if line.utf8.count <= JSON.inlineWidth { out += line; return }
            }
            let pad = String(repeating: "  ", count: indent + 1)
            out += "{\n"
            for (i, (key, value)) in members.enumerated() {
                out += pad
                JSON.quote(key, into: &out)
                out += ": "
                value.write(into: &out, indent: indent + 1)
                out += i < members.count - 1 ? ",\n" : "\n"
            }
            out += String(repeating: "  ", count: indent) + "}"
        }
    }

    private static func number(_ finite: String?, nonFinite: Double, into out: inout String) {
        if let finite { out += finite; return }
        out += nonFinite.isNaN ? "\"NaN\"" : (nonFinite > 0 ? "\"Infinity\"" : "\"-Infinity\"")
    }

    /// RFC 8259 string: quote, backslash and C0 controls escaped; everything else as UTF-8.
    /// DEL and C1 controls are escaped too, so raw JSON on a terminal is as safe as the summary.
    static func quote(_ s: String, into out: inout String) {
        out += "\""
        // Fast path: printable ASCII without quote or backslash (nearly every name and key).
        if s.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F && $0 != 0x22 && $0 != 0x5C }) {
            out += s
            out += "\""
            return
        }
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                let v = scalar.value
                if v < 0x20 || v == 0x7F || (0x80...0x9F).contains(v) || v == 0x2028 || v == 0x2029 {
                    let h = String(v, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - h.count) + h
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }
}
