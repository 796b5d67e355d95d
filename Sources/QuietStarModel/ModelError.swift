import QuietStarFormat

/// Why a model could not be loaded or run. Every message names what was wrong and where (the
/// metadata key, the tensor, the file) so that a user can act on it.
public struct ModelError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Equatable {
        /// The checkpoint file is missing or unreadable.
        case missingFile
        /// The checkpoint exists but is not a usable model: corrupt container, missing or
        /// mistyped metadata, missing tensor, wrong shape, unsupported dtype or architecture.
        case invalidModel
        /// A caller asked for something impossible (a batch of zero rows, a position past the
        /// cache): a bug in the caller, reported instead of crashing.
        case invalidArgument
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }

    /// Maps a container error onto a model error, keeping its full text (file, field, offset).
    init(_ error: QStarError) {
        switch error.kind {
        case .io: self.init(.missingFile, error.description)
        default: self.init(.invalidModel, error.description)
        }
    }
}
