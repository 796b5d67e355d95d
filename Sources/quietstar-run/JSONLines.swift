import Foundation

/// The small amount of JSON the tool reads (one object per input line) and writes (one object per
/// result line). Output is written by hand: field order is fixed and numbers print exactly as
/// Swift's shortest round-trip form.
enum JSONLines {
    /// Decodes `bytes` as UTF-8, or says where it stops being valid.
    static func utf8(_ bytes: [UInt8]) -> Result<String, LineFailure> {
        if let s = String(validating: bytes, as: UTF8.self) { return .success(s) }
        // Find the first offending byte for the message.
        var offset = 0
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        loop: while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar): offset += UTF8.width(scalar)
            case .emptyInput: break loop
            case .error: break loop
            }
        }
        return .failure(LineFailure("invalid UTF-8 at byte \(offset) of the line"))
    }

    /// Parses one JSONL input object and takes its text from the first of `keys` present.
    /// Returns the text and the `id` value (re-serialised compactly), or why the line is unusable.
    static func parseObject(_ bytes: [UInt8], keys: [String]) -> (id: String?, text: Result<String, LineFailure>) {
        if case .failure(let f) = utf8(bytes) { return (nil, .failure(f)) }
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: Data(bytes), options: []) } catch {
            return (nil, .failure(LineFailure("not a JSON object: \(bytes.isEmpty ? "empty line" : "JSON syntax error")")))
        }
        guard let dict = object as? [String: Any] else {
            return (nil, .failure(LineFailure("not a JSON object (a JSONL line must be {\"\(keys[0])\": ...})")))
        }
        var id: String?
        if let value = dict["id"] {
            id = (try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed, .withoutEscapingSlashes]))
                .map { String(decoding: $0, as: UTF8.self) }
        }
        for key in keys {
            guard let value = dict[key] else { continue }
            guard let text = value as? String else {
                return (id, .failure(LineFailure("field \"\(key)\" must be a string")))
            }
            return (id, .success(text))
        }
        let wanted = keys.map { "\"\($0)\"" }.joined(separator: " or ")
        return (id, .failure(LineFailure("the object has no \(wanted) field")))
    }

    /// `"..."` with JSON escapes (control characters as \u00XX; everything else verbatim UTF-8).
    static func string(_ s: String, into out: inout String) {
        out.append("\"")
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out.append("\\\"")
            case "\\": out.append("\\\\")
            case "\n": out.append("\\n")
            case "\r": out.append("\\r")
            case "\t": out.append("\\t")
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F || scalar == "\u{2028}" || scalar == "\u{2029}" {
                    let hex = String(scalar.value, radix: 16)
                    out.append("\\u" + String(repeating: "0", count: 4 - hex.count) + hex)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out.append("\"")
    }

    /// A JSON number (null when not finite).
    static func number(_ x: Double) -> String { x.isFinite ? "\(x)" : "null" }
}

/// Why an input line could not be used; becomes that line's error record.
struct LineFailure: Error {
    var message: String
    init(_ message: String) { self.message = message }
}
