import QuietStarFormat

/// A checkpoint that breaks the conventions: a `llama.*` / `quietstar.*` key missing, mistyped or
/// out of range, a tensor of the wrong shape. The message names the key (or tensor) and the value,
/// so a user can act on it; `key` is that name, for callers that locate errors by field.
public struct CheckpointError: Error, CustomStringConvertible, Sendable {
    public var key: String?
    public var message: String

    public init(key: String?, _ message: String) {
        self.key = key
        self.message = message
    }

    /// A container error from a typed metadata read, keeping its full text (file, key, offset).
    public init(_ error: QStarError) {
        self.init(key: error.field, error.description)
    }

    public var description: String { message }
}
