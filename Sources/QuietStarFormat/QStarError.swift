/// The one error type of the format layer.
///
/// Every failure that comes from file contents names the file, the field (a dotted path such as
/// `index.tensors[3].offset`) and the absolute byte offset where that field was read, so that a
/// user with a hex editor, or a fuzzing triager, can go straight to the bad bytes.
public struct QStarError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Equatable {
        /// A system call failed (open, read, write, fsync, rename, mmap, allocation).
        case io
        /// The bytes are not a `.qstar` file at all (bad magic, byte-swapped writer, too short).
        case notQStar
        /// A major version this reader does not implement.
        case unsupportedVersion
        /// The file breaks a structural rule of the spec.
        case invalid
        /// A stored XXH64 does not match the bytes it covers.
        case checksumMismatch
        /// A metadata key is missing or has the wrong type (typed accessors).
        case metadata
        /// Valid, but uses something this reader cannot decode (a newer minor's dtype or encoding).
        case unsupported
        /// The caller used the API wrongly (bad shape, wrong byte count, writer misuse).
        case usage
    }

    public var kind: Kind
    public var path: String?
    public var field: String?
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

    /// `model.qstar: index.tensors[3].offset at byte 1234: offset 99 is not 64-byte aligned`
    /// (`<memory>` stands for the file of an error raised on bytes in memory).
    public var description: String {
        FileLocation(path: path ?? "<memory>", field: field, offset: offset).describing(message)
    }

    /// A copy that names `path` (errors raised below the file layer do not know it).
    func naming(_ path: String?) -> QStarError {
        var e = self
        if e.path == nil { e.path = path }
        return e
    }
}

/// Where in a file something is: the file, the field (a dotted path such as
/// `index.tensors[3].offset` or a JSON key) and the absolute byte offset, each when known.
///
/// Every located error of the package (`QStarError`, Interop's `InteropError`) prints its place
/// through this one layout, so messages read the same whichever layer raised them.
public struct FileLocation: Sendable, Equatable, CustomStringConvertible {
    public var path: String?
    public var field: String?
    public var offset: UInt64?

    public init(path: String? = nil, field: String? = nil, offset: UInt64? = nil) {
        self.path = path
        self.field = field
        self.offset = offset
    }

    /// `model.qstar: index.tensors[3].offset at byte 1234`; unknown parts are left out
    /// (`config.json at byte 15`, `header_length`, and "" when nothing is known).
    public var description: String {
        var s = path ?? ""
        if let field { s += (s.isEmpty ? "" : ": ") + field }
        if let offset { s += (s.isEmpty ? "" : " ") + "at byte \(offset)" }
        return s
    }

    /// `<location>: <message>`, or the message alone when nothing is known.
    public func describing(_ message: String) -> String {
        let place = description
        return place.isEmpty ? message : "\(place): \(message)"
    }
}

/// The `errno` text for an I/O error message.
func errnoDescription(_ code: Int32) -> String {
    guard let c = strerror(code) else { return "errno \(code)" }
    return String(cString: c) + " (errno \(code))"
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
