import Foundation

/// A value inside a parsed JSON document, with its path, so that every complaint about
/// `tokenizer.json` says exactly where (`pre_tokenizer.pretokenizers[0].pattern.Regex`).
struct JSONNode {
    /// `nil` when the member is absent.
    let value: JSON?
    let file: String
    let path: String

    static func parse(_ data: Data, file: String) throws(TokenizerError) -> JSONNode {
        do {
            let value = try data.withUnsafeBytes { try JSON.parse($0.bindMemory(to: UInt8.self)) }
            return JSONNode(value: value, file: file, path: "")
        } catch let e as JSON.SyntaxError {
            throw TokenizerError(file, "not valid JSON at byte \(e.offset): \(e.message)")
        } catch {
            throw TokenizerError(file, "not valid JSON: \(error)")
        }
    }

    func error(_ message: String) -> TokenizerError {
        TokenizerError(path.isEmpty ? file : "\(file): \(path)", message)
    }

    /// The member named `key` (the first, if repeated), or an absent node.
    subscript(key: String) -> JSONNode {
        var found: JSON?
        if case .object(let members)? = value {
            found = members.first { $0.key.utf8.elementsEqual(key.utf8) }?.value
        }
        return JSONNode(value: found, file: file, path: path.isEmpty ? key : "\(path).\(key)")
    }

    /// Absent or `null`.
    var isNull: Bool {
        switch value {
        case nil, .null?: return true
        default: return false
        }
    }

    var exists: Bool { value != nil }

    /// What the value is, for messages.
    var kind: String {
        switch value {
        case nil: return "nothing (the key is missing)"
        case .null?: return "null"
        case .bool(let b)?: return "\(b)"
        case .integer(let i)?: return "the number \(i)"
        case .double(let d)?: return "the number \(d)"
        case .string(let s)?: return "the string \(JSON.quote(s))"
        case .array?: return "an array"
        case .object?: return "an object"
        }
    }

    /// The value as compact JSON, shortened, for messages.
    var text: String {
        guard let value else { return kind }
        let t = value.text
        return t.count > 200 ? String(t.prefix(200)) + "..." : t
    }

    func members() throws(TokenizerError) -> [(key: String, value: JSON)] {
        guard case .object(let m)? = value else { throw error("expected an object, found \(kind)") }
        return m
    }

    func array() throws(TokenizerError) -> [JSONNode] {
        try rawArray().enumerated().map { element($0.offset, $0.element) }
    }

    /// The elements without their paths (building 10^5 path strings costs more than parsing);
    /// `element(_:_:)` makes the node for an element that needs a closer look or an error.
    func rawArray() throws(TokenizerError) -> [JSON] {
        guard case .array(let a)? = value else { throw error("expected an array, found \(kind)") }
        return a
    }

    func element(_ index: Int, _ value: JSON) -> JSONNode {
        JSONNode(value: value, file: file, path: "\(path)[\(index)]")
    }

    func member(_ key: String, _ value: JSON) -> JSONNode {
        JSONNode(value: value, file: file, path: "\(path)[\(JSON.quote(key))]")
    }

    var stringValue: String? {
        if case .string(let s)? = value { return s }
        return nil
    }

    var integerValue: Int64? {
        if case .integer(let i)? = value { return i }
        return nil
    }

    func string() throws(TokenizerError) -> String {
        guard let s = stringValue else { throw error("expected a string, found \(kind)") }
        return s
    }

    /// nil when absent or null.
    func optionalString() throws(TokenizerError) -> String? {
        isNull ? nil : try string()
    }

    /// `fallback` when absent or null (nil fallback: required).
    func bool(or fallback: Bool? = nil) throws(TokenizerError) -> Bool {
        if isNull, let fallback { return fallback }
        guard case .bool(let b)? = value else { throw error("expected true or false, found \(kind)") }
        return b
    }

    func int() throws(TokenizerError) -> Int {
        guard let i = integerValue else { throw error("expected an integer, found \(kind)") }
        return Int(i)
    }

    /// The `type` tag of a Hugging Face component object.
    func type() throws(TokenizerError) -> String {
        try self["type"].string()
    }
}
