import Foundation

/// A value inside a parsed JSON document, with its path, so that every complaint about
/// `tokenizer.json` says exactly where (`pre_tokenizer.pretokenizers[0].pattern.Regex`).
///
/// Parsing itself is Foundation's `JSONSerialization`: the tokenizer files are produced by Hugging
/// Face tooling, ids are far below 2^53, and a missing or mistyped field is reported here with
/// its path. (`QuietStarInterop` has a stricter reader for attacker-controlled headers; this
/// module sits below it and cannot use it.)
struct JSONNode {
    /// `nil` when the member is absent.
    let value: Any?
    let file: String
    let path: String

    static func parse(_ data: Data, file: String) throws(TokenizerError) -> JSONNode {
        do {
            let value = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
            return JSONNode(value: value, file: file, path: "")
        } catch {
            throw TokenizerError(file, "not valid JSON: \(error.localizedDescription)")
        }
    }

    func error(_ message: String) -> TokenizerError {
        TokenizerError(path.isEmpty ? file : "\(file): \(path)", message)
    }

    subscript(key: String) -> JSONNode {
        JSONNode(value: (value as? [String: Any])?[key], file: file, path: path.isEmpty ? key : "\(path).\(key)")
    }

    /// Absent or `null`.
    var isNull: Bool { value == nil || value is NSNull }
    var exists: Bool { value != nil }

    /// What the value is, for messages.
    var kind: String {
        switch value {
        case nil: return "nothing (the key is missing)"
        case is NSNull: return "null"
        case is String: return "a string"
        case is [Any]: return "an array"
        case is [String: Any]: return "an object"
        case let n as NSNumber: return "the number \(n)"
        default: return "an unexpected value"
        }
    }

    func object() throws(TokenizerError) -> [String: Any] {
        guard let o = value as? [String: Any] else { throw error("expected an object, found \(kind)") }
        return o
    }

    func array() throws(TokenizerError) -> [JSONNode] {
        try rawArray().enumerated().map { element($0.offset, $0.element) }
    }

    /// The elements without their paths (building 10^5 path strings costs more than parsing);
    /// `element(_:_:)` makes the node for an element that needs a closer look or an error.
    func rawArray() throws(TokenizerError) -> [Any] {
        guard let a = value as? [Any] else { throw error("expected an array, found \(kind)") }
        return a
    }

    func element(_ index: Int, _ value: Any) -> JSONNode {
        JSONNode(value: value, file: file, path: "\(path)[\(index)]")
    }

    func member(_ key: String, _ value: Any) -> JSONNode {
        JSONNode(value: value, file: file, path: "\(path)[\(key.debugDescription)]")
    }

    func string() throws(TokenizerError) -> String {
        guard let s = value as? String else { throw error("expected a string, found \(kind)") }
        return s
    }

    /// nil when absent or null.
    func optionalString() throws(TokenizerError) -> String? {
        isNull ? nil : try string()
    }

    /// `fallback` when absent or null (nil fallback: required).
    func bool(or fallback: Bool? = nil) throws(TokenizerError) -> Bool {
        if isNull, let fallback { return fallback }
        guard let n = value as? NSNumber, n == 0 || n == 1, !(value is String) else {
            throw error("expected true or false, found \(kind)")
        }
        return n.boolValue
    }

    func int() throws(TokenizerError) -> Int {
        guard let n = value as? NSNumber, Double(n.int64Value) == n.doubleValue else {
            throw error("expected an integer, found \(kind)")
        }
        return Int(n.int64Value)
    }

    /// The `type` tag of a Hugging Face component object.
    func type() throws(TokenizerError) -> String {
        try self["type"].string()
    }
}
