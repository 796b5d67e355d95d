#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import QuietStarFormat

/// Every failure of an import, export or recode: what kind (which decides the CLI's exit status),
/// which file, which field or tensor, where in the file, and a message a user can act on.
public struct InteropError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Equatable {
        /// An input exists but is malformed or hostile (bad JSON, bad safetensors, shape mismatch).
        case invalidInput
        /// The input is well formed but asks for something we do not implement (architecture,
        /// rope type, activation, a config field we do not know).
        case unsupported
        /// A required input file is missing or cannot be opened.
        case missingInput
        /// The output cannot be created or written (permissions, disk full, existing directory).
        case cannotCreateOutput
        /// Reading an input failed part way (I/O error).
        case io
        /// The caller asked for something inconsistent (a dtype the target format cannot hold).
        case usage
        /// A broken invariant: a bug in QuietStar.
        case `internal`
    }

    public var kind: Kind
    /// The file the problem is in (as given by the caller), when there is one.
    public var path: String?
    /// The JSON key, header field or tensor name concerned.
    public var field: String?
    /// Byte offset in `path`, when known.
    public var offset: UInt64?
    public var message: String

    public init(_ kind: Kind, path: String? = nil, field: String? = nil, offset: UInt64? = nil,
                _ message: String) {
        self.kind = kind
        self.path = path
        self.field = field
        self.offset = offset
        self.message = message
    }

    /// `config.json: num_key_value_heads: 3 does not divide num_attention_heads = 8`
    public var description: String { FileLocation(path: path, field: field, offset: offset).describing(message) }

    /// A file that could not be mapped: one that is absent, unreadable or not a regular file is
    /// a missing input; any other failure is I/O.
    init(_ failure: MappedFile.Failure) {
        let unreadable = failure.reason == .cannotOpen && [ENOENT, EACCES, ENOTDIR].contains(failure.code)
        let missing = unreadable || failure.reason == .notRegularFile
        self.init(missing ? .missingInput : .io, path: failure.path, failure.message)
    }

    /// Wraps an error of the container layer, keeping its location, under the given kind.
    init(_ error: QStarError, as kind: Kind? = nil) {
        let mapped: Kind
        switch error.kind {
        case .io: mapped = .io
        case .notQStar, .invalid, .checksumMismatch, .metadata, .unsupportedVersion: mapped = .invalidInput
        case .unsupported: mapped = .unsupported
        case .usage: mapped = .usage
        }
        self.init(kind ?? mapped, path: error.path, field: error.field, offset: error.offset, error.message)
    }
}
