/// A string compared and hashed by its UTF-8 bytes.
///
/// Swift's `String` equality and hashing use canonical equivalence ("é" == "e\u{301}"), while a
/// token is its exact bytes: Hugging Face (Rust) keeps "é" and "e\u{301}" as different tokens
/// with different ids. Every lookup of a token string by value goes through this type.
struct ExactString: Hashable, Sendable {
    let string: String

    init(_ string: String) { self.string = string }

    static func == (a: ExactString, b: ExactString) -> Bool { a.string.utf8.elementsEqual(b.string.utf8) }

    func hash(into hasher: inout Hasher) {
        var s = string
        s.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}

extension String {
    /// Byte equality (see `ExactString`).
    func isExactly(_ other: String) -> Bool { utf8.elementsEqual(other.utf8) }
}
