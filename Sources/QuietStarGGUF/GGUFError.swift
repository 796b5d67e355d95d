import QuietStarFormat

/// The one error type of the GGUF reader and writer.
///
/// Like `QStarError`, every failure that comes from file contents names the file, the field
/// (`tensors[3].dims[1]`, `kv[7:tokenizer.ggml.tokens][12]`) and the absolute byte offset where
/// it was read, so a hostile or truncated file ends in a precise message, never a trap.
public struct GGUFError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Equatable {
        /// A system call failed (open, mmap, write).
        case io
        /// Not a GGUF file at all (bad magic, too short, big-endian writer).
        case notGGUF
        /// A version other than 2 and 3.
        case unsupportedVersion
        /// The bytes break a structural rule (counts, lengths, offsets, alignment, duplicates).
        case invalid
        /// Valid GGUF, but something we cannot decode or convert (a tensor type, an architecture).
        case unsupported
        /// A metadata key is missing or has the wrong type.
        case metadata
    }

    public var kind: Kind
    public var path: String?
    public var field: String?
    public var offset: UInt64?
    public var message: String

    public init(_ kind: Kind, path: String? = nil, field: String? = nil, offset: UInt64? = nil, _ message: String) {
        self.kind = kind
        self.path = path
        self.field = field
        self.offset = offset
        self.message = message
    }

    /// `model.gguf: tensors[3].offset at byte 1234: ...` through the package's one location layout.
    public var description: String {
        FileLocation(path: path ?? "<memory>", field: field, offset: offset).describing(message)
    }

    func naming(_ path: String) -> GGUFError {
        var e = self
        if e.path == nil { e.path = path }
        return e
    }
}
