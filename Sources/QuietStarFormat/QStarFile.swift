/// The reader: maps a file, validates header, index and directory, and hands out tensor views.
///
/// Opening costs O(index size): nothing in the data region is read, so a 10 GB checkpoint
/// opens as fast as a 10 KB one. Tensor checksums are checked on demand (`verify`, and while
/// decoding zstd tensors, which reads every stored byte anyway).
///
/// The mapping is read-only and private. As with any mmap reader, a file truncated by another
/// process while mapped faults (SIGBUS) on access to the missing pages; writers in this package
/// never do that (they rename a new file into place, or only append and rewrite the header).
public final class QStarFile: @unchecked Sendable {
    /// The newest version this reader implements fully. Files of a newer minor open; their new
    /// value types are skipped and their new dtypes/encodings are listed but not decoded.
    public static let supportedVersion = FormatVersion(major: 1, minor: 0)

    public let path: String
    public let version: FormatVersion
    public let header: QStarHeader
    public let metadata: Metadata
    public let tensors: [TensorInfo]
    public let fileLength: UInt64

    private let mapping: MappedFile
    private let byName: NameIndex

    private init(path: String, mapping: MappedFile, validated: ValidatedFile) {
        self.path = path
        self.mapping = mapping
        self.header = validated.header
        self.version = validated.header.version
        self.metadata = validated.metadata
        self.tensors = validated.tensors
        self.fileLength = validated.header.fileLength
        self.byName = validated.byName
    }

    /// Maps and validates `path`. Every error names the file, the field and the byte offset.
    public static func open(path: String) throws(QStarError) -> QStarFile {
        let mapping: MappedFile
        do {
            mapping = try MappedFile(path: path)
        } catch {
            throw QStarError(.io, path: path, error.message)
        }
        do {
            let v = try ValidatedFile(mapping.bytes)
            return QStarFile(path: path, mapping: mapping, validated: v)
        } catch {
            throw error.naming(path)
        }
    }

    /// The same validation on bytes in memory (fuzzing, tests, embedded files).
    public static func validate(bytes: UnsafeRawBufferPointer, name: String) throws(QStarError)
        -> (version: FormatVersion, metadata: Metadata, tensors: [TensorInfo])
    {
        do {
            let v = try ValidatedFile(bytes)
            return (v.header.version, v.metadata, v.tensors)
        } catch {
            throw error.naming(name)
        }
    }

    public func info(_ name: String) -> TensorInfo? {
        byName.find(name, in: tensors).map { tensors[$0] }
    }

    /// The stored (maybe compressed) bytes, inside the mapping (validated to lie in the file).
    public func storedBytes(_ info: TensorInfo) -> UnsafeRawBufferPointer {
        let start = Int(info.offset)
        return UnsafeRawBufferPointer(rebasing: mapping.bytes[start..<(start + Int(info.storedLength))])
    }

    /// Drops the pages of `info`'s stored bytes (of `range` within them, when given) from this
    /// process's resident set, for readers that stream each tensor once (see
    /// `MappedFile.release`). Views stay valid: their pages are read back from the file if used.
    public func releaseStoredBytes(of info: TensorInfo, range: Range<Int>? = nil) {
        let start = Int(info.offset)
        let stored = start..<(start + Int(info.storedLength))
        guard let range else { return mapping.release(stored) }
        mapping.release(((start + range.lowerBound)..<(start + range.upperBound)).clamped(to: stored))
    }

    public func tensor(_ name: String) throws(QStarError) -> TensorView {
        guard let i = byName.find(name, in: tensors) else {
            throw QStarError(.usage, path: path, "no tensor named '\(name)'")
        }
        return try tensor(tensors[i])
    }

    /// raw: a zero-copy view into the mapping. zstd: checksum-verified and decoded into owned
    /// memory of exactly the logical size.
    public func tensor(_ info: TensorInfo) throws(QStarError) -> TensorView {
        try checkOwned(info)
        guard let dtype = info.dtype, let encoding = info.encoding, let logical = info.logicalByteCount else {
            throw QStarError(.unsupported, path: path, field: "index.tensors['\(info.name)']", offset: info.entryOffset,
                             "'\(info.name)' uses \(info.dtypeName) / \(info.encodingName), which this reader "
                                 + "(format \(QStarFile.supportedVersion)) cannot decode; the file is version \(version)")
        }
        let shape = try intShape(info)
        switch encoding {
        case .raw:
            return TensorView(info: info, dtype: dtype, shape: shape, bytes: storedBytes(info), owner: mapping)
        case .zstd:
            let buffer = try decodeZstd(info, logical: logical)
            return TensorView(info: info, dtype: dtype, shape: shape, bytes: buffer.bytes, owner: buffer)
        }
    }

    /// Checks the stored bytes' XXH64 and, for zstd, that the frame decodes to exactly the
    /// logical size.
    public func verify(_ info: TensorInfo) throws(QStarError) {
        try checkOwned(info)
        try checkStoredChecksum(info)
        if info.encoding == .zstd, let logical = info.logicalByteCount {
            _ = try decodeZstd(info, logical: logical, checksumDone: true)
        }
    }

    /// Every failing tensor, not just the first.
    public func verifyAll() -> [(TensorInfo, QStarError)] {
        var failures: [(TensorInfo, QStarError)] = []
        for t in tensors {
            do { try verify(t) } catch { failures.append((t, error)) }
        }
        return failures
    }

    // MARK: Helpers

    /// A TensorInfo from another file would index outside this mapping.
    private func checkOwned(_ info: TensorInfo) throws(QStarError) {
        guard let i = byName.find(info.name, in: tensors), tensors[i] == info else {
            throw QStarError(.usage, path: path, "tensor info for '\(info.name)' does not come from this file")
        }
    }

    private func checkStoredChecksum(_ info: TensorInfo) throws(QStarError) {
        let actual = XXH64.hash(storedBytes(info))
        if actual != info.checksum {
            throw QStarError(.checksumMismatch, path: path, field: "index.tensors['\(info.name)'].xxh64",
                             offset: info.offset,
                             "stored bytes [\(info.offset), \(info.offset + info.storedLength)) hash to "
                                 + "\(hex16(actual)), directory says \(hex16(info.checksum)) (the tensor data is corrupted)")
        }
    }

    private func decodeZstd(_ info: TensorInfo, logical: UInt64, checksumDone: Bool = false)
        throws(QStarError) -> OwnedBuffer
    {
        if !checksumDone { try checkStoredChecksum(info) }
        guard logical <= UInt64(Int.max) else {
            throw QStarError(.unsupported, path: path, field: "index.tensors['\(info.name)']", offset: info.entryOffset,
                             "logical size \(logical) does not fit in memory on this platform")
        }
        let buffer: OwnedBuffer
        do {
            // The frame header is checked first, so a hostile size claim fails as such and not
            // as an allocation failure.
            try Zstd.checkFrame(storedBytes(info), logicalSize: Int(logical))
            buffer = try OwnedBuffer(count: Int(logical))
            try Zstd.decompress(storedBytes(info), into: buffer.mutableBytes)
        } catch {
            var e = error
            e.path = path
            e.field = "index.tensors['\(info.name)'] zstd data"
            e.offset = info.offset
            throw e
        }
        return buffer
    }

    private func intShape(_ info: TensorInfo) throws(QStarError) -> [Int] {
        var shape: [Int] = []
        for d in info.shape {
            guard d <= UInt64(Int.max) else {
                throw QStarError(.unsupported, path: path, field: "index.tensors['\(info.name)'].dims",
                                 offset: info.entryOffset, "dimension \(d) does not fit in Int")
            }
            shape.append(Int(d))
        }
        return shape
    }
}

/// The result of validating a whole file's bytes (header, index, directory).
struct ValidatedFile {
    let header: QStarHeader
    let metadata: Metadata
    let tensors: [TensorInfo]
    let byName: NameIndex

    init(_ file: UnsafeRawBufferPointer) throws(QStarError) {
        let supported = QStarFile.supportedVersion
        header = try QStarHeader.parse(file, supported: supported)
        let start = Int(header.indexOffset)
        let index = UnsafeRawBufferPointer(rebasing: file[start..<Int(header.fileLength)])
        let actual = XXH64.hash(index)
        if actual != header.indexChecksum {
            throw QStarError(.checksumMismatch, field: "header.index_xxh64", offset: 40,
                             "index [\(header.indexOffset), \(header.fileLength)) hashes to \(hex16(actual)), "
                                 + "header says \(hex16(header.indexChecksum)) (the index is corrupted)")
        }
        (metadata, tensors, byName) = try IndexParser(file: file, header: header, supported: supported).parse()
        try Directory.validatePlacement(tensors, indexOffset: header.indexOffset)
    }
}
