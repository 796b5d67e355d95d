import Foundation
import QuietStarJSON

/// A value inside a parsed JSON document, with its path, so that every complaint about
/// `tokenizer.json` says exactly where (`pre_tokenizer.pretokenizers[0].pattern.Regex`).
///
/// Keys are compared by their bytes (QuietStarJSON), and duplicate keys are kept: a lookup takes
/// the first, and a vocabulary that repeats a token is rejected by the spec's validation.
struct JSONNode {
    /// `nil` when the member is absent.
    let value: JSONValue?
    let file: String
    let path: String

    static func parse(_ data: Data, file: String) throws(TokenizerError) -> JSONNode {
        do throws(JSONParseError) {
            let value = try JSONReader.parse(data, options: JSONReader.Options(duplicateKeys: .keep))
            return JSONNode(value: value, file: file, path: "")
        } catch {
            throw TokenizerError(file, "not valid JSON at byte \(error.offset) (line \(error.line), column \(error.column)): \(error.message)")
        }
    }

    func error(_ message: String) -> TokenizerError {
        TokenizerError(path.isEmpty ? file : "\(file): \(path)", message)
    }

    /// The member named `key` (the first, if repeated), or an absent node.
    subscript(key: String) -> JSONNode {
        JSONNode(value: value?[key], file: file, path: path.isEmpty ? key : "\(path).\(key)")
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
        case .number(let n)?: return "the number \(n.text)"
        case .string(let s)?: return "the string \(JSONWriter.quoted(s))"
        case .array?: return "an array"
        case .object?: return "an object"
        }
    }

    /// The value as compact JSON, shortened, for messages.
    var text: String {
        guard let value else { return kind }
        let t = JSONWriter().render(value)
        return t.count > 200 ? String(t.prefix(200)) + "..." : t
    }

    func members() throws(TokenizerError) -> [(key: String, value: JSONValue)] {
        guard case .object(let m)? = value else { throw error("expected an object, found \(kind)") }
        return m
    }

    func array() throws(TokenizerError) -> [JSONNode] {
        try rawArray().enumerated().map { element($0.offset, $0.element) }
    }

    /// The elements without their paths (building 10^5 path strings costs more than parsing);
    /// `element(_:_:)` makes the node for an element that needs a closer look or an error.
    func rawArray() throws(TokenizerError) -> [JSONValue] {
        guard case .array(let a)? = value else { throw error("expected an array, found \(kind)") }
        return a
    }

    func element(_ index: Int, _ value: JSONValue) -> JSONNode {
        JSONNode(value: value, file: file, path: "\(path)[\(index)]")
    }

    func member(_ key: String, _ value: JSONValue) -> JSONNode {
        JSONNode(value: value, file: file, path: "\(path)[\(JSONWriter.quoted(key))]")
    }

    var stringValue: String? { value?.stringValue }

    /// An integer literal that fits in Int64.
    var integerValue: Int64? { value?.int64Value }

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
