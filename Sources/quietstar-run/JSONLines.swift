import QuietStarJSON

/// The JSON the tool reads (one object per input line) and writes (one object per result line),
/// through QuietStarJSON: the strict reader (keys compared by their bytes, duplicate keys
/// rejected, numbers kept as written) and the deterministic writer (fields in the order the
/// records list them, doubles as Swift's shortest round-trip text).
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

    /// Parses one JSONL input object and takes its text from the first of `keys` present (keys
    /// match by their exact bytes, so a canonically equivalent spelling is a different key).
    /// Returns the text and the `id` value (nil when absent), or why the line is unusable.
    static func parseObject(_ bytes: [UInt8], keys: [String]) -> (id: JSONValue?, text: Result<String, LineFailure>) {
        if case .failure(let f) = utf8(bytes) { return (nil, .failure(f)) }
        if bytes.isEmpty { return (nil, .failure(LineFailure("not a JSON object: empty line"))) }
        let object: JSONValue
        do { object = try JSONReader.parse(bytes) } catch {
            return (nil, .failure(LineFailure("invalid JSON at byte \(error.offset) of the line: \(error.message)")))
        }
        guard case .object = object else {
            let shape = "a JSONL line must be {\(JSONWriter.quoted(keys[0])): ...}"
            return (nil, .failure(LineFailure("expected a JSON object, found \(object.kindName) (\(shape))")))
        }
        let id = object["id"]
        for key in keys {
            guard let value = object[key] else { continue }
            guard let text = value.stringValue else {
                return (id, .failure(LineFailure("field \(JSONWriter.quoted(key)) must be a string, found \(value.kindName)")))
            }
            return (id, .success(text))
        }
        let wanted = keys.map(JSONWriter.quoted).joined(separator: " or ")
        return (id, .failure(LineFailure("the object has no \(wanted) field")))
    }

    /// A JSON number, or null when `x` is not finite (JSON has no NaN or infinity).
    static func number(_ x: Double) -> JSONValue { JSONNumber(x).map(JSONValue.number) ?? .null }

    /// `number`, and null for a missing value.
    static func number(_ x: Double?) -> JSONValue { x.map(number) ?? .null }

    /// The compact text of one output record (no newline: `Output.line` adds it).
    static func record(_ members: [(key: String, value: JSONValue)]) -> String {
        JSONWriter(.compact).render(.object(members))
    }
}

/// Why an input line could not be used; becomes that line's error record.
struct LineFailure: Error {
    var message: String
    init(_ message: String) { self.message = message }
}
