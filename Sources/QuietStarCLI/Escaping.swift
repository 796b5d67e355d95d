/// Makes untrusted strings (tensor names, metadata values, token texts) safe to print on a
/// terminal: control characters, including ESC, would otherwise let a hostile checkpoint rewrite
/// the user's screen.
public enum DisplayEscaping {
    /// Escapes C0/C1 controls, DEL and backslash as `\n`, `\t`, `\r`, `\\` or `\u{XX}`; everything
    /// else, including non-ASCII letters and emoji, is kept as is.
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            case "\\": out += "\\\\"
            default:
                let v = scalar.value
                if v < 0x20 || v == 0x7F || (0x80...0x9F).contains(v) || v == 0x2028 || v == 0x2029 {
                    out += "\\u{" + String(v, radix: 16, uppercase: true) + "}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }
}
