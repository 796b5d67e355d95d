#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension QStarFile {
    /// Replaces a file's metadata without rewriting tensor data (spec, "Replacing metadata").
    ///
    /// 1. append the new index (same tensor directory, new metadata) at the current end of file;
    /// 2. fsync;
    /// 3. rewrite the 64-byte header (one sector) to point at the new index;
    /// 4. fsync.
    /// The old index becomes dead space in the data region. A crash between 2 and 3 leaves
    /// trailing bytes that the reader rejects with a message saying an edit was interrupted (the
    /// old metadata is intact: truncating to the old length recovers it). Tensor bytes are never
    /// touched, so existing mappings of the file stay valid.
    ///
    /// Refuses files of a newer minor version: their skipped metadata would be lost.
    public static func replaceMetadata(path: String, with metadata: Metadata) throws(QStarError) {
        do {
            try IndexEncoder.validate(metadata)
        } catch {
            throw error.naming(path)
        }
        let fd = Glibc.open(path, O_RDWR | O_CLOEXEC)
        if fd < 0 { throw FileIO.fail("cannot open for writing", path) }
        defer { close(fd) }
        let old = try QStarFile.open(path: path)
        if old.version.minor > supportedVersion.minor {
            throw QStarError(.unsupported, path: path, field: "header.minor", offset: 14,
                             "file is version \(old.version); this writer (format \(supportedVersion)) would drop what it cannot read")
        }
        let size = try FileIO.fileSize(fd, path: path)
        if size != old.fileLength {
            throw QStarError(.io, path: path, "file changed size while being edited (\(old.fileLength) -> \(size))")
        }
        let index = IndexEncoder.encode(metadata: metadata, tensors: old.tensors)
        let (newLength, overflow) = old.fileLength.addingReportingOverflow(UInt64(index.count))
        if overflow { throw QStarError(.usage, path: path, "file would exceed 2^64 bytes") }
        let header = QStarHeader(version: old.version, fileLength: newLength, indexOffset: old.fileLength,
                                 indexLength: UInt64(index.count), indexChecksum: XXH64.hash(index),
                                 flags: old.header.flags)
        try withBytes(index) { (b) throws(QStarError) in
            try FileIO.pwriteAll(fd, b, at: old.fileLength, path: path)
        }
        try FileIO.sync(fd, path: path)
        try withBytes(header.encoded()) { (b) throws(QStarError) in
            try FileIO.pwriteAll(fd, b, at: 0, path: path)
        }
        try FileIO.sync(fd, path: path)
    }
}
