/// A string compared and hashed by its UTF-8 bytes.
///
/// Swift's `String` equality and hashing use canonical equivalence ("é" == "e\u{301}"), while a
/// JSON key or a token is its exact bytes: Hugging Face (Rust, serde_json) keeps "é" and
/// "e\u{301}" as different keys and different tokens with different ids. Every lookup of such a
/// string by value goes through this type (or `String.isExactly`).
public struct ExactString: Hashable, Sendable, CustomStringConvertible {
    public let string: String

    public init(_ string: String) { self.string = string }

    public static func == (a: ExactString, b: ExactString) -> Bool { a.string.isExactly(b.string) }

    public func hash(into hasher: inout Hasher) {
        var s = string
        s.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }

    public var description: String { string }
}

extension String {
    /// Byte equality (see `ExactString`): false for "é" and "e\u{301}", which `==` calls equal.
    public func isExactly(_ other: String) -> Bool { utf8.elementsEqual(other.utf8) }
}
