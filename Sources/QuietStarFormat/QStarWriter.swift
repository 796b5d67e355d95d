/// Writes a `.qstar` file: tensors stream into an `AtomicOutputFile` (a temporary file next to
/// the destination), then `finish` appends the index, writes the header, fsyncs, checks the
/// result with the reader, renames it over the destination and fsyncs the directory. Readers of
/// the destination see either the old file or the complete new one, never a partial write (and
/// a file that is currently mapped is never overwritten in place).
///
/// Output bytes depend only on the inputs: no timestamps, zero padding, tensors in the order
/// they were added, metadata in its given order. Every blob starts at a 64-byte boundary.
public final class QStarWriter {
    public let path: String
    public var temporaryPath: String { file.temporaryPath }
    private let compressionLevel: Int32
    private let file: AtomicOutputFile
    private var state = State.writing
    /// The offset of the next byte.
    private var position: UInt64 { file.position }
    private var tensors: [TensorInfo] = []
    private var names = Set<String>()
    private var current: OpenTensor?

    private enum State { case writing, finished, failed }

    private struct OpenTensor {
        let name: String
        let dtype: DType
        let shape: [UInt64]
        let encoding: TensorEncoding
        let elementCount: UInt64
        let logical: UInt64
        let offset: UInt64
        var received: UInt64 = 0
        var stored: UInt64 = 0
        var hasher = XXH64()
        var compressor: Zstd.Compressor?
    }

    /// Creates `<path>.tmp-<pid>-<random>` exclusively (never clobbering anything).
    public init(path: String, compressionLevel: Int32 = 3) throws(QStarError) {
        self.path = path
        self.compressionLevel = compressionLevel
        file = try AtomicOutputFile(destination: path)
        // The header is written last, when the index is known; reserve its 64 bytes.
        do {
            try emit(zeros: QStarHeader.size)
        } catch {
            abort()
            throw error
        }
    }

    deinit {
        if state != .finished { abort() }
    }

    /// Removes the temporary file. Safe to call more than once; the writer is unusable after.
    public func abort() {
        file.abort()
        if state != .finished { state = .failed }
    }

    // MARK: Adding tensors

    /// Adds a tensor from its logical bytes (little-endian, row-major, `dtype` x `shape` bytes).
    public func addTensor(name: String, dtype: DType, shape: [Int], encoding: TensorEncoding = .raw,
                          bytes: UnsafeRawBufferPointer) throws(QStarError) {
        try beginTensor(name: name, dtype: dtype, shape: shape, encoding: encoding)
        try append(bytes)
        try endTensor()
    }

    /// Adds a tensor from Float values, converted to `dtype` (f32, f16, bf16 or q8_0).
    public func addTensor(name: String, dtype: DType, shape: [Int], encoding: TensorEncoding = .raw,
                          float32 values: [Float]) throws(QStarError) {
        guard dtype.isFloatingPoint else {
            throw QStarError(.usage, path: path, field: name, "cannot convert Float values to \(dtype)")
        }
        // Check everything about the values before the tensor starts, so a rejected call leaves
        // the writer usable.
        let (_, expected, _) = try checkedShape(shape, dtype: dtype, name: name)
        guard UInt64(values.count) == expected else {
            throw QStarError(.usage, path: path, field: name, "\(values.count) values for shape \(shape)")
        }
        if dtype == .q8_0 {
            try values.withUnsafeBufferPointer { (v) throws(QStarError) in try checkQ8Representable(v, name: name) }
        }
        try beginTensor(name: name, dtype: dtype, shape: shape, encoding: encoding)
        // Convert in chunks (a whole number of q8_0 blocks) so big tensors need little scratch.
        let chunk = 16384
        let scratchSize = dtype.byteCount(elementCount: UInt64(chunk), innermost: UInt64(chunk))!
        var scratch = [UInt8](repeating: 0, count: Int(scratchSize))
        try values.withUnsafeBufferPointer { (v) throws(QStarError) in
            var start = 0
            while start < v.count {
                let n = min(chunk, v.count - start)
                let src = UnsafeBufferPointer(rebasing: v[start..<(start + n)])
                let size = Int(dtype.byteCount(elementCount: UInt64(n), innermost: UInt64(n))!)
                try withMutableBytes(&scratch) { (s) throws(QStarError) in
                    let dst = UnsafeMutableRawBufferPointer(rebasing: s[0..<size])
                    DTypeCodec.encode(src, as: dtype, into: dst)
                    try append(UnsafeRawBufferPointer(dst))
                }
                start += n
            }
        }
        try endTensor()
    }

    /// q8_0 cannot hold NaN, Inf, or a block whose scale (absmax / 127) overflows f16.
    private func checkQ8Representable(_ src: UnsafeBufferPointer<Float>, name: String) throws(QStarError) {
        for b in stride(from: 0, to: src.count, by: DTypeCodec.q8BlockSize) {
            var amax: Float = 0
            for i in b..<(b + DTypeCodec.q8BlockSize) {
                let x = src[i]
                if !x.isFinite {
                    throw QStarError(.usage, path: path, field: name, "element \(i) is \(x); q8_0 holds finite values only")
                }
                amax = max(amax, abs(x))
            }
            if !DTypeCodec.halfBitsToFloat(DTypeCodec.floatToHalfBits(amax / 127)).isFinite {
                throw QStarError(.usage, path: path, field: name,
                                 "block at element \(b) has absmax \(amax); its q8_0 scale overflows f16 (max 65504 x 127)")
            }
        }
    }

    /// Starts a tensor whose bytes arrive through `append`. Validates name and shape now, so a
    /// bad tensor fails before any of its bytes are written.
    public func beginTensor(name: String, dtype: DType, shape: [Int], encoding: TensorEncoding = .raw)
        throws(QStarError)
    {
        try checkWritable()
        if let c = current {
            throw QStarError(.usage, path: path, field: name, "tensor '\(c.name)' is still open (call endTensor first)")
        }
        let nameBytes = name.utf8.count
        if nameBytes == 0 || nameBytes > QStarLimits.maxTensorNameLength || name.utf8.contains(0) {
            throw QStarError(.usage, path: path, field: name, "tensor names are 1...\(QStarLimits.maxTensorNameLength) bytes of UTF-8 without NUL")
        }
        if names.contains(name) {
            throw QStarError(.usage, path: path, field: name, "duplicate tensor name")
        }
        if UInt64(tensors.count) >= QStarLimits.maxTensorCount {
            throw QStarError(.usage, path: path, field: name, "more than \(QStarLimits.maxTensorCount) tensors")
        }
        let (dims, elements, logical) = try checkedShape(shape, dtype: dtype, name: name)
        try padToAlignment()
        var t = OpenTensor(name: name, dtype: dtype, shape: dims, encoding: encoding, elementCount: elements,
                           logical: logical, offset: position)
        if encoding == .zstd {
            do {
                t.compressor = try Zstd.Compressor(level: compressionLevel, contentSize: logical)
            } catch {
                fail()
                throw error.naming(path)
            }
        }
        names.insert(name)
        current = t
    }

    /// Rank, dimensions, element count and byte size, all checked (sizes overflow-checked).
    private func checkedShape(_ shape: [Int], dtype: DType, name: String) throws(QStarError)
        -> (dims: [UInt64], elements: UInt64, logical: UInt64)
    {
        if shape.count > QStarLimits.maxRank {
            throw QStarError(.usage, path: path, field: name, "rank \(shape.count) exceeds \(QStarLimits.maxRank)")
        }
        var elements: UInt64 = 1
        for d in shape {
            if d < 1 { throw QStarError(.usage, path: path, field: name, "shape \(shape) has a dimension < 1") }
            let (p, o) = elements.multipliedReportingOverflow(by: UInt64(d))
            if o { throw QStarError(.usage, path: path, field: name, "element count of shape \(shape) overflows") }
            elements = p
        }
        let dims = shape.map { UInt64($0) }
        guard let logical = dtype.byteCount(elementCount: elements, innermost: dims.last ?? 1) else {
            throw QStarError(.usage, path: path, field: name,
                             dtype == .q8_0 ? "q8_0 needs an innermost dimension that is a multiple of 32, shape is \(shape)"
                                            : "byte size of shape \(shape) overflows")
        }
        return (dims, elements, logical)
    }

    /// Appends the next logical bytes of the open tensor.
    public func append(_ bytes: UnsafeRawBufferPointer) throws(QStarError) {
        try checkWritable()
        guard var t = current else {
            throw QStarError(.usage, path: path, "append called with no open tensor (call beginTensor first)")
        }
        let (total, o) = t.received.addingReportingOverflow(UInt64(bytes.count))
        if o || total > t.logical {
            fail()
            throw QStarError(.usage, path: path, field: t.name,
                             "appending \(bytes.count) bytes exceeds the tensor's \(t.logical) bytes (\(t.received) already written)")
        }
        t.received = total
        current = nil  // exclusive access while we write through it
        defer { current = t }
        do {
            if let compressor = t.compressor {
                try compressor.compress(bytes, end: false) { (out) throws(QStarError) in
                    t.hasher.update(out)
                    t.stored += UInt64(out.count)
                    try self.emit(out)
                }
            } else {
                t.hasher.update(bytes)
                t.stored += UInt64(bytes.count)
                try emit(bytes)
            }
        } catch {
            fail()
            throw error.naming(path)
        }
    }

    /// Closes the open tensor; its byte count must equal dtype x shape.
    public func endTensor() throws(QStarError) {
        try checkWritable()
        guard var t = current else {
            throw QStarError(.usage, path: path, "endTensor called with no open tensor")
        }
        if t.received != t.logical {
            fail()
            throw QStarError(.usage, path: path, field: t.name,
                             "received \(t.received) bytes, but \(t.dtype) \(t.shape) is \(t.logical) bytes")
        }
        current = nil
        if let compressor = t.compressor {
            do {
                try compressor.compress(UnsafeRawBufferPointer(start: nil, count: 0), end: true) { (out) throws(QStarError) in
                    t.hasher.update(out)
                    t.stored += UInt64(out.count)
                    try self.emit(out)
                }
            } catch {
                fail()
                throw error.naming(path)
            }
        }
        tensors.append(TensorInfo(name: t.name, dtype: t.dtype, dtypeCode: t.dtype.rawValue, encoding: t.encoding,
                                  encodingCode: t.encoding.rawValue, shape: t.shape, offset: t.offset,
                                  storedLength: t.stored, checksum: t.hasher.digest(), elementCount: t.elementCount,
                                  logicalByteCount: t.logical, entryOffset: 0))
    }

    // MARK: Finishing

    /// Appends the index, writes the header, fsyncs, validates the result with the reader,
    /// renames over `path` and fsyncs the directory.
    public func finish(metadata: Metadata) throws(QStarError) {
        try checkWritable()
        if let c = current {
            throw QStarError(.usage, path: path, field: c.name, "tensor '\(c.name)' is still open (call endTensor first)")
        }
        do {
            try IndexEncoder.validate(metadata)
        } catch {
            throw error.naming(path)
        }
        do throws(QStarError) {
            let index = IndexEncoder.encode(metadata: metadata, tensors: tensors)
            let indexOffset = position
            try file.write(index)
            let header = QStarHeader(version: QStarFile.supportedVersion, fileLength: position,
                                     indexOffset: indexOffset, indexLength: UInt64(index.count),
                                     indexChecksum: XXH64.hash(index))
            try withBytes(header.encoded()) { (b) throws(QStarError) in try file.overwrite(at: 0, with: b) }
            // The reader's full validation is cheap (independent of tensor bytes) and means this
            // writer can never publish a file its own reader rejects.
            try file.commit { (temporary) throws(QStarError) in _ = try QStarFile.open(path: temporary) }
            state = .finished
        } catch {
            // Renamed into place, only the directory fsync failed: the file is there.
            if file.isCommitted { state = .finished } else { fail() }
            throw error
        }
    }

    /// The directory entries written so far (offsets are final; for tools and tests).
    public var writtenTensors: [TensorInfo] { tensors }

    // MARK: Byte output

    private func checkWritable() throws(QStarError) {
        switch state {
        case .writing: return
        case .finished: throw QStarError(.usage, path: path, "the writer has already finished")
        case .failed: throw QStarError(.usage, path: path, "the writer failed or was aborted earlier")
        }
    }

    private func fail() { abort() }

    private func emit(_ bytes: UnsafeRawBufferPointer) throws(QStarError) {
        try file.write(bytes)
    }

    private func emit(zeros count: Int) throws(QStarError) {
        try file.write(zeros: count)
    }

    private func padToAlignment() throws(QStarError) {
        let rem = Int(position % QStarLimits.alignment)
        if rem != 0 {
            do { try emit(zeros: Int(QStarLimits.alignment) - rem) } catch { fail(); throw error }
        }
    }
}
