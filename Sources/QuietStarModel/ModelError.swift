import QuietStarCheckpoint
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
    /// For an invalid option value: the option as `Type.property` (`"ThoughtOptions.thoughtTokens"`)
    /// and what it must be (`"must be in 0...256, got 300"`). The library speaks of its own
    /// options; a command-line tool maps `option` to its flag and prints `requirement` after it.
    public var option: String?
    public var requirement: String?

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    /// `option` (a property of `type`) has a value it cannot take; `requirement` says what it must be.
    public static func invalidOption(_ option: String, _ requirement: String, in type: String) -> ModelError {
        var error = ModelError(.invalidArgument, "\(type).\(option) \(requirement)")
        error.option = "\(type).\(option)"
        error.requirement = requirement
        return error
    }

    public var description: String { message }

    /// Maps a container error onto a model error, keeping its full text (file, field, offset).
    init(_ error: QStarError) {
        switch error.kind {
        case .io: self.init(.missingFile, error.description)
        default: self.init(.invalidModel, error.description)
        }
    }

    /// A checkpoint that breaks the conventions is not a usable model; the text names the key.
    public init(_ error: CheckpointError) {
        self.init(.invalidModel, error.description)
    }
}
