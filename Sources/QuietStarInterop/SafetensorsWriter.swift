import QuietStarFormat
import QuietStarJSON

/// Streams a safetensors file to disk without holding any tensor in memory.
///
/// safetensors puts the byte ranges of every tensor in the header, before the data, so the
/// writer is told every tensor (name, dtype, shape) up front; it then accepts each tensor's
/// bytes in that order, in as many `append` calls as the caller likes, and checks the counts.
/// The header is padded with spaces to a multiple of 8 bytes, as the upstream writer does, so
/// the data buffer starts aligned. The file appears at `path` only after `finish` (temp file,
/// fsync, rename, directory fsync); an abandoned writer leaves nothing behind.
public final class SafetensorsWriter {
    public struct Entry: Sendable, Equatable {
        public var name: String
        public var dtype: SafetensorsDType
        public var shape: [UInt64]
        public init(name: String, dtype: SafetensorsDType, shape: [UInt64]) {
            self.name = name
            self.dtype = dtype
            self.shape = shape
        }
    }

    public let path: String
    public let entries: [Entry]
    private let ranges: [Range<UInt64>]
    private let file: AtomicOutputFile
    private let dataStart: UInt64
    private var current: Int? = nil
    private var next = 0

    /// Validates the entries, then writes the header. `metadata` becomes `__metadata__`.
    public init(path: String, entries: [Entry], metadata: [(key: String, value: String)] = []) throws(InteropError) {
        var names = Set<String>()
        var ranges: [Range<UInt64>] = []
        var offset: UInt64 = 0
        for e in entries {
            guard e.name != "__metadata__", names.insert(e.name).inserted else {
                throw InteropError(.internal, path: path, field: e.name, "duplicate or reserved tensor name")
            }
            var count: UInt64 = 1
            for d in e.shape {
                let (p, o) = count.multipliedReportingOverflow(by: d)
                guard !o else { throw InteropError(.internal, path: path, field: e.name, "shape overflows") }
                count = p
            }
            guard let bytes = e.dtype.byteCount(elementCount: count) else {
                throw InteropError(.internal, path: path, field: e.name, "size overflows")
            }
            ranges.append(offset..<(offset + bytes))
            offset += bytes
        }

        var header: [(key: String, value: JSONValue)] = []
        if !metadata.isEmpty {
            header.append(("__metadata__", .object(metadata.map { ($0.key, JSONValue.string($0.value)) })))
        }
        for (e, r) in zip(entries, ranges) {
            header.append((e.name, .object([
                ("dtype", .string(e.dtype.rawValue)),
                ("shape", .array(e.shape.map { JSONValue.integer($0) })),
                ("data_offsets", .array([.integer(r.lowerBound), .integer(r.upperBound)])),
            ])))
        }
        var headerBytes = JSONWriter().encode(.object(header))
        while headerBytes.count % 8 != 0 { headerBytes.append(UInt8(ascii: " ")) }
        guard UInt64(headerBytes.count) <= SafetensorsFile.maxHeaderBytes else {
            throw InteropError(.usage, path: path, "header of \(headerBytes.count) bytes exceeds the safetensors cap")
        }

        self.path = path
        self.entries = entries
        self.ranges = ranges
        let length = UInt64(headerBytes.count)
        do throws(QStarError) {
            file = try AtomicOutputFile(destination: path)
            try file.write((0..<8).map { UInt8(truncatingIfNeeded: length >> (8 * $0)) })
            try file.write(headerBytes)
        } catch {
            throw InteropError(error, as: .cannotCreateOutput)
        }
        dataStart = 8 + UInt64(headerBytes.count)
    }

    /// Starts the next tensor; `name` must be the next one declared.
    public func beginTensor(_ name: String) throws(InteropError) {
        guard current == nil, next < entries.count, entries[next].name == name else {
            throw InteropError(.internal, path: path, field: name,
                               "tensors must be written in declared order (expected \(next < entries.count ? entries[next].name : "none"))")
        }
        current = next
        next += 1
    }

    public func append(_ bytes: UnsafeRawBufferPointer) throws(InteropError) {
        guard let i = current else { throw InteropError(.internal, path: path, "append outside a tensor") }
        let end = dataStart + ranges[i].upperBound
        guard file.position + UInt64(bytes.count) <= end else {
            throw InteropError(.internal, path: path, field: entries[i].name, "more bytes than dtype x shape")
        }
        do throws(QStarError) {
            try file.write(bytes)
        } catch {
            throw InteropError(error, as: .cannotCreateOutput)
        }
    }

    public func endTensor() throws(InteropError) {
        guard let i = current else { throw InteropError(.internal, path: path, "endTensor outside a tensor") }
        guard file.position == dataStart + ranges[i].upperBound else {
            throw InteropError(.internal, path: path, field: entries[i].name,
                               "wrote \(file.position - dataStart - ranges[i].lowerBound) bytes, expected \(ranges[i].count)")
        }
        current = nil
    }

    /// Writes a whole tensor in one call.
    public func write(_ name: String, _ bytes: UnsafeRawBufferPointer) throws(InteropError) {
        try beginTensor(name)
        try append(bytes)
        try endTensor()
    }

    /// Checks every tensor was written, then makes the file appear at `path`.
    public func finish() throws(InteropError) {
        guard current == nil, next == entries.count else {
            throw InteropError(.internal, path: path, "finish before every tensor was written")
        }
        do throws(QStarError) {
            try file.commit()
        } catch {
            throw InteropError(error, as: .cannotCreateOutput)
        }
    }

    public func abort() { file.abort() }
}
