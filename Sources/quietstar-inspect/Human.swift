import Foundation
import QuietStarCLI
import QuietStarFormat

/// Number, size and value formatting for the human-readable output. Every string that came out
/// of the file goes through `DisplayEscaping` here or at the call site: a hostile checkpoint
/// must never get a raw control character onto the user's terminal.
enum Human {
    /// "48 B", "1.7 KiB", "256.0 MiB", "1.00 GiB": binary units, 2-4 significant digits.
    static func bytes(_ n: UInt64) -> String {
        if n < 1024 { return "\(n) B" }
        let units = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
        var value = Double(n) / 1024
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return fixed(value, digits: value < 10 ? 2 : 1) + " " + units[unit]
    }

    /// "1,234,567": thousands separated, exact.
    static func grouped(_ n: UInt64) -> String {
        let digits = Array(String(n))
        var out = ""
        for (i, d) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(d)
        }
        return out
    }

    /// "1 tensor", "8 tensors" (thousands grouped).
    static func plural(_ n: Int, _ noun: String) -> String {
        "\(grouped(UInt64(n))) \(noun)\(n == 1 ? "" : "s")"
    }

    /// "1.23 M", "7.24 B": a parameter count at a glance (short scale, as papers quote them).
    static func count(_ n: UInt64) -> String {
        if n < 1000 { return String(n) }
        let units = ["K", "M", "B", "T"]
        var value = Double(n) / 1000
        var unit = 0
        while value >= 1000 && unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        return fixed(value, digits: value < 100 ? 2 : 1) + " " + units[unit]
    }

    /// `value` with exactly `digits` decimals (no Foundation formatter: same output everywhere).
    static func fixed(_ value: Double, digits: Int) -> String {
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let scaled = (value * scale).rounded()
        guard scaled.isFinite, abs(scaled) < 9e18 else { return String(value) }
        let n = Int64(scaled)
        let whole = n / Int64(scale), frac = abs(n % Int64(scale))
        var s = (n < 0 && whole == 0 ? "-" : "") + String(whole)
        if digits > 0 {
            let f = String(frac)
            s += "." + String(repeating: "0", count: digits - f.count) + f
        }
        return s
    }

    /// "[4, 3]"; a scalar's empty shape is "[]".
    static func shape(_ dims: [UInt64]) -> String {
        "[" + dims.map(String.init).joined(separator: ", ") + "]"
    }

    /// A quoted, escaped string, cut to about `limit` characters unless `limit` is nil. Inner
    /// quotes become \" (unambiguous: DisplayEscaping already doubled every backslash).
    static func quoted(_ s: String, limit: Int?) -> String {
        let escaped = DisplayEscaping.escape(s).replacingOccurrences(of: "\"", with: "\\\"")
        guard let limit, escaped.count > limit else { return "\"" + escaped + "\"" }
        return "\"" + String(escaped.prefix(limit)) + "\"... (\(grouped(UInt64(s.utf8.count))) bytes)"
    }

    /// One metadata value on one line. Long arrays become "32002 strings: "<s>", "</s>", ..."
    /// and long strings are cut, unless `full`.
    static func value(_ v: MetadataValue, full: Bool) -> String {
        let stringLimit: Int? = full ? nil : 72
        switch v {
        case .bool(let b): return String(b)
        case .uint(let u): return String(u)
        case .int(let i): return String(i)
        case .float(let d): return String(d)
        case .string(let s): return quoted(s, limit: stringLimit)
        case .boolArray(let a): return list(a.map { String($0) }, noun: "bools", full: full)
        case .uintArray(let a): return list(a.map { String($0) }, noun: "u64 values", full: full)
        case .intArray(let a): return list(a.map { String($0) }, noun: "i64 values", full: full)
        case .floatArray(let a): return list(a.map { String($0) }, noun: "f64 values", full: full)
        case .stringArray(let a):
            return list(a.map { quoted($0, limit: full ? nil : 24) }, noun: "strings", full: full)
        }
    }

    /// "[a, b, c]" when short (or `full`), else "N nouns: a, b, c, ..." within ~72 characters.
    private static func list(_ items: [String], noun: String, full: Bool) -> String {
        let all = "[" + items.joined(separator: ", ") + "]"
        if full || (items.count <= 8 && all.count <= 72) { return all }
        var out = "\(grouped(UInt64(items.count))) \(noun): "
        var shown = 0
        for item in items {
            if shown > 0 && out.count + item.count > 72 { break }
            out += (shown > 0 ? ", " : "") + item
            shown += 1
        }
        return out + (shown < items.count ? ", ..." : "")
    }

    /// Left-aligned columns, two spaces apart; the last column is not padded.
    static func table(_ rows: [[String]], indent: String = "  ", rightAligned: Set<Int> = []) -> [String] {
        guard let columns = rows.map(\.count).max() else { return [] }
        var widths = [Int](repeating: 0, count: columns)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        return rows.map { row in
            var line = indent
            for (i, cell) in row.enumerated() {
                let pad = String(repeating: " ", count: widths[i] - cell.count)
                if i == row.count - 1 && !rightAligned.contains(i) {
                    line += cell
                } else {
                    line += rightAligned.contains(i) ? pad + cell : cell + pad
                }
                if i < row.count - 1 { line += "  " }
            }
            return line
        }
    }
}
