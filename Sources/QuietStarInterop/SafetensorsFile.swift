import QuietStarFormat
import QuietStarJSON

/// One tensor of a safetensors file, as its header declares it (after validation).
public struct SafetensorsTensorInfo: Sendable, Equatable {
    public let name: String
    public let dtype: SafetensorsDType
    /// Outermost first, as in PyTorch.
    public let shape: [UInt64]
    public let elementCount: UInt64
    /// Byte range inside the data buffer (the file minus the 8-byte length and the header).
    public let dataRange: Range<UInt64>
    /// Byte range inside the file.
    public let fileRange: Range<UInt64>
}

/// A validated, memory-mapped safetensors file.
///
/// Layout: u64 little-endian header length N, N bytes of JSON header
/// `{"__metadata__": {str: str}, name: {"dtype", "shape", "data_offsets": [begin, end]}}`,
/// then the data buffer. Validation is at least as strict as the upstream reader after its
/// security audit: the header is capped at 100 MB and must lie inside the file, must be a JSON
/// object (duplicate keys rejected), every size is computed with overflow checks,
/// dtype x shape must equal the declared byte range, and the ranges must tile the data buffer
/// exactly: first at 0, each starting where the previous ends, the last ending at end of file
/// (no holes, no overlaps, no trailing bytes that could smuggle a second file format).
/// Opening costs a header parse; tensor bytes are not touched until read.
public final class SafetensorsFile: @unchecked Sendable {
    /// Upstream's cap on the header length.
    public static let maxHeaderBytes: UInt64 = 100_000_000

    public let path: String
    /// Tensors in data-buffer order.
    public let tensors: [SafetensorsTensorInfo]
    /// The optional `__metadata__` map, in header order.
    public let metadata: [(key: String, value: String)]
    /// Where the data buffer starts in the file (8 + header length).
    public let dataOffset: UInt64
    private let index: [String: Int]
    private let mapping: MappedFile

    /// Maps and validates `path`. Errors name the file, the header field and the byte offset.
    public init(path: String) throws(InteropError) {
        let mapping: MappedFile
        do {
            mapping = try MappedFile(path: path)
        } catch {
            throw InteropError(error)
        }
        let parsed = try Self.validate(bytes: mapping.bytes, name: path)
        self.path = path
        self.mapping = mapping
        self.tensors = parsed.tensors
        self.metadata = parsed.metadata
        self.dataOffset = parsed.dataOffset
        var index: [String: Int] = [:]
        for (i, t) in parsed.tensors.enumerated() { index[t.name] = i }
        self.index = index
    }

    public func info(_ name: String) -> SafetensorsTensorInfo? { index[name].map { tensors[$0] } }

    /// The tensor's bytes inside the mapping (not aligned: safetensors makes no promise).
    public func data(_ info: SafetensorsTensorInfo) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: mapping.bytes[Int(info.fileRange.lowerBound)..<Int(info.fileRange.upperBound)])
    }

    /// Drops the tensor's pages from this process's resident set once it has been converted.
    public func release(_ info: SafetensorsTensorInfo) {
        mapping.release(Int(info.fileRange.lowerBound)..<Int(info.fileRange.upperBound))
    }

    /// The same for a byte range of the file (whole pages inside it only).
    public func release(bytes range: Range<Int>) {
        mapping.release(range)
    }

    /// The whole validation, on bytes in memory (used by `init` and by the hostile-input tests).
    public static func validate(bytes: UnsafeRawBufferPointer, name: String) throws(InteropError)
        -> (tensors: [SafetensorsTensorInfo], metadata: [(key: String, value: String)], dataOffset: UInt64)
    {
        func invalid(_ field: String?, _ offset: UInt64?, _ message: String) -> InteropError {
            InteropError(.invalidInput, path: name, field: field, offset: offset, message)
        }
        let fileLength = UInt64(bytes.count)
        guard fileLength >= 8 else {
            throw invalid("header_length", 0, "file is \(fileLength) bytes, shorter than the 8-byte header length")
        }
        let headerLength = bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self).littleEndian
        guard headerLength <= maxHeaderBytes else {
            throw invalid("header_length", 0, "header length \(headerLength) exceeds the \(maxHeaderBytes)-byte cap")
        }
        guard headerLength <= fileLength - 8 else {
            throw invalid("header_length", 0,
                          "header length \(headerLength) runs past the end of the file (\(fileLength) bytes)")
        }
        guard headerLength >= 2 else {
            throw invalid("header", 8, "header of \(headerLength) bytes cannot hold a JSON object")
        }
        let header = UnsafeRawBufferPointer(rebasing: bytes[8..<(8 + Int(headerLength))])
        guard header[0] == UInt8(ascii: "{") else {
            throw invalid("header", 8, "header does not start with '{'")
        }
        let json: JSONValue
        do {
            json = try JSONReader.parse(header)
        } catch {
            throw invalid("header", 8 + UInt64(error.offset), "invalid JSON: \(error.message)")
        }
        guard let entries = json.objectEntries else { throw invalid("header", 8, "header is not a JSON object") }

        let dataOffset = 8 + headerLength
        let dataLength = fileLength - dataOffset
        var metadata: [(key: String, value: String)] = []
        var tensors: [SafetensorsTensorInfo] = []
        tensors.reserveCapacity(entries.count)
        for (key, value) in entries {
            if key == "__metadata__" {
                guard let members = value.objectEntries else {
                    throw invalid("__metadata__", 8, "must be an object of strings, found \(value.kindName)")
                }
                for (k, v) in members {
                    guard let s = v.stringValue else {
                        throw invalid("__metadata__.\(k)", 8, "metadata values must be strings, found \(v.kindName)")
                    }
                    metadata.append((k, s))
                }
                continue
            }
            tensors.append(try parseTensor(key, value, dataOffset: dataOffset, name: name))
        }

        // Tiling: sorted by range, each begins where the previous ended, the last ends at EOF.
        let order = tensors.indices.sorted {
            let a = tensors[$0].dataRange, b = tensors[$1].dataRange
            return (a.lowerBound, a.upperBound) < (b.lowerBound, b.upperBound)
        }
        var expected: UInt64 = 0
        for i in order {
            let t = tensors[i]
            guard t.dataRange.lowerBound == expected else {
                let what = t.dataRange.lowerBound < expected ? "overlaps the previous tensor" : "leaves a hole before it"
                throw invalid("\(t.name).data_offsets", dataOffset + t.dataRange.lowerBound,
                              "begins at \(t.dataRange.lowerBound) but the previous tensor ends at \(expected): \(what)")
            }
            expected = t.dataRange.upperBound
        }
        guard expected == dataLength else {
            if expected > dataLength {
                throw invalid("data_offsets", dataOffset + dataLength,
                              "tensors end at data offset \(expected) but the file holds only \(dataLength) data bytes (truncated?)")
            }
            throw invalid("data_offsets", dataOffset + expected,
                          "\(dataLength - expected) trailing bytes after the last tensor")
        }
        return (order.map { tensors[$0] }, metadata, dataOffset)
    }

    private static func parseTensor(_ key: String, _ value: JSONValue, dataOffset: UInt64, name: String)
        throws(InteropError) -> SafetensorsTensorInfo
    {
        func invalid(_ field: String, _ message: String) -> InteropError {
            InteropError(.invalidInput, path: name, field: "\(key).\(field)", offset: 8, message)
        }
        guard let members = value.objectEntries else {
            throw InteropError(.invalidInput, path: name, field: key, offset: 8,
                               "tensor entry must be an object, found \(value.kindName)")
        }
        for (k, _) in members where !["dtype", "shape", "data_offsets"].contains(k) {
            throw invalid(k, "unknown field in a tensor entry")
        }
        guard let dtypeName = value["dtype"]?.stringValue else { throw invalid("dtype", "missing or not a string") }
        guard let dtype = SafetensorsDType(rawValue: dtypeName) else {
            throw invalid("dtype", "unknown dtype \"\(dtypeName)\"")
        }
        guard let shapeItems = value["shape"]?.arrayValue else { throw invalid("shape", "missing or not an array") }
        var shape: [UInt64] = []
        var count: UInt64 = 1
        for item in shapeItems {
            guard let d = item.uint64Value else { throw invalid("shape", "dimensions must be non-negative integers") }
            let (product, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow else { throw invalid("shape", "element count overflows 64 bits") }
            count = product
            shape.append(d)
        }
        guard let offsets = value["data_offsets"]?.arrayValue, offsets.count == 2,
              let begin = offsets[0].uint64Value, let end = offsets[1].uint64Value else {
            throw invalid("data_offsets", "must be two non-negative integers [begin, end]")
        }
        guard begin <= end else { throw invalid("data_offsets", "begin \(begin) is after end \(end)") }
        guard let byteCount = dtype.byteCount(elementCount: count) else {
            throw invalid("shape", "\(count) elements of \(dtypeName) overflow or do not end on a byte boundary")
        }
        guard byteCount == end - begin else {
            throw InteropError(.invalidInput, path: name, field: "\(key).data_offsets", offset: 8,
                               "\(dtypeName) \(shape) needs \(byteCount) bytes but the range [\(begin), \(end)) holds \(end - begin)")
        }
        let (fileBegin, o1) = dataOffset.addingReportingOverflow(begin)
        let (fileEnd, o2) = dataOffset.addingReportingOverflow(end)
        guard !o1 && !o2 else { throw invalid("data_offsets", "offsets overflow 64 bits") }
        return SafetensorsTensorInfo(name: key, dtype: dtype, shape: shape, elementCount: count,
                                     dataRange: begin..<end, fileRange: fileBegin..<fileEnd)
    }
}
