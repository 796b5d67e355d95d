/// One tensor of a GGUF file, after validation.
public struct GGUFTensorInfo: Sendable, Equatable {
    public let name: String
    /// ggml order: `dims[0]` is the innermost (contiguous) dimension.
    public let dims: [UInt64]
    public let type: GGMLType
    /// Absolute offset of the first byte in the file.
    public let offset: UInt64
    public let byteCount: UInt64
    public let elementCount: UInt64
    /// Where this tensor's entry starts in the tensor table, for errors raised later.
    public let entryOffset: UInt64

    /// Row-major order, outermost first (the order of our `.qstar` shapes and of PyTorch).
    public var shape: [UInt64] { dims.reversed() }
}

/// The limits a reader holds any file to, checked before anything is allocated.
public enum GGUFLimits {
    /// More tensors or keys than any model has; a larger count is a hostile or corrupt header.
    public static let maxTensorCount: UInt64 = 1 << 20
    public static let maxKeyCount: UInt64 = 1 << 20
    /// ggml's `GGML_MAX_DIMS`.
    public static let maxDims: UInt32 = 4
    /// Arrays of arrays deeper than this are refused (no model needs more than one level).
    public static let maxArrayDepth = 2
    public static let defaultAlignment: UInt64 = 32
}

/// The parsed, validated structure of a GGUF file: version, metadata and tensor table.
///
/// Parsing never traps and never allocates from an unchecked count: every count is compared with
/// what is left of the file (each item has a known minimum size), every dimension product and
/// byte size uses overflow-reporting arithmetic, and every tensor is checked to lie inside the
/// file, aligned, and not overlapping another, before any caller can ask for its bytes.
public struct GGUFLayout: Sendable {
    public let version: UInt32
    /// In file order.
    public let metadata: [(key: String, value: GGUFValue)]
    public let tensors: [GGUFTensorInfo]
    public let alignment: UInt64
    /// Absolute offset where the tensor data section starts.
    public let dataOffset: UInt64
    private let keyIndex: [String: Int]
    private let tensorIndex: [String: Int]

    public subscript(key: String) -> GGUFValue? { keyIndex[key].map { metadata[$0].value } }
    public func tensor(_ name: String) -> GGUFTensorInfo? { tensorIndex[name].map { tensors[$0] } }

    /// Parses and validates `file` (the whole file's bytes).
    public static func parse(_ file: UnsafeRawBufferPointer) throws(GGUFError) -> GGUFLayout {
        var c = GGUFCursor(file: file)
        guard file.count >= 24 else {
            throw GGUFError(.notGGUF, offset: 0, "\(file.count) bytes is too short for a GGUF header (24)")
        }
        let magic = Array(file[0..<4])
        guard magic == Array("GGUF".utf8) else {
            throw GGUFError(.notGGUF, field: "magic", offset: 0, "bytes \(magic) are not \"GGUF\"")
        }
        try c.skip(4, "magic")
        let version = try c.u32("version")
        if version != 2 && version != 3 {
            // The magic is not byte-swapped by big-endian writers; a swapped version gives them away.
            if version.byteSwapped == 2 || version.byteSwapped == 3 {
                throw GGUFError(.unsupportedVersion, field: "version", offset: 4, "a big-endian GGUF file; only little-endian is supported")
            }
            throw GGUFError(.unsupportedVersion, field: "version", offset: 4, "version \(version); supported are 2 and 3")
        }
        // Minimum entry sizes: a tensor is name length + n_dims + one dim + type + offset; a
        // key/value is key length + type + a one-byte value.
        let tensorCount = try c.count("n_tensors", minimumItemSize: 8 + 4 + 8 + 4 + 8, limit: GGUFLimits.maxTensorCount)
        let keyCount = try c.count("n_kv", minimumItemSize: 8 + 4 + 1, limit: GGUFLimits.maxKeyCount)

        var metadata: [(key: String, value: GGUFValue)] = []
        metadata.reserveCapacity(keyCount)
        var keyIndex: [String: Int] = [:]
        for i in 0..<keyCount {
            let at = c.offset
            let key = try c.string("kv[\(i)].key")
            let field = "kv[\(i):\(key)]"
            guard !key.isEmpty else { throw GGUFError(.invalid, field: "kv[\(i)].key", offset: at, "empty key") }
            guard keyIndex[key] == nil else { throw GGUFError(.invalid, field: field, offset: at, "duplicate key") }
            let typeAt = c.offset
            let code = try c.u32(field + ".type")
            guard let type = GGUFValueType(rawValue: code) else {
                throw GGUFError(.invalid, field: field + ".type", offset: typeAt, "unknown value type \(code)")
            }
            let value = try readValue(&c, type: type, field: field, depth: 0)
            keyIndex[key] = metadata.count
            metadata.append((key, value))
        }

        var alignment = GGUFLimits.defaultAlignment
        if let i = keyIndex["general.alignment"] {
            guard case let .uint32(a) = metadata[i].value else {
                throw GGUFError(.invalid, field: "general.alignment", "must be a uint32, found \(metadata[i].value.type)")
            }
            guard a > 0 && a & (a - 1) == 0 else {
                throw GGUFError(.invalid, field: "general.alignment", "\(a) is not a power of two")
            }
            alignment = UInt64(a)
        }

        var entries: [(name: String, dims: [UInt64], type: GGMLType, relative: UInt64, bytes: UInt64, count: UInt64, at: UInt64)] = []
        entries.reserveCapacity(tensorCount)
        var tensorIndex: [String: Int] = [:]
        for i in 0..<tensorCount {
            let at = c.offset
            let name = try c.string("tensors[\(i)].name")
            let field = "tensors[\(i):\(name)]"
            guard !name.isEmpty else { throw GGUFError(.invalid, field: "tensors[\(i)].name", offset: at, "empty tensor name") }
            guard tensorIndex[name] == nil else { throw GGUFError(.invalid, field: field, offset: at, "duplicate tensor name") }
            let dimsAt = c.offset
            let n = try c.u32(field + ".n_dims")
            guard n >= 1 && n <= GGUFLimits.maxDims else {
                throw GGUFError(.invalid, field: field + ".n_dims", offset: dimsAt, "\(n) dimensions; 1 to \(GGUFLimits.maxDims) are allowed")
            }
            var dims: [UInt64] = []
            var count: UInt64 = 1
            for d in 0..<Int(n) {
                let dAt = c.offset
                let dim = try c.u64(field + ".dims[\(d)]")
                guard dim > 0 else { throw GGUFError(.invalid, field: field + ".dims[\(d)]", offset: dAt, "zero-sized dimension") }
                guard dim <= UInt64(Int64.max) else {
                    throw GGUFError(.invalid, field: field + ".dims[\(d)]", offset: dAt, "dimension \(dim) exceeds the int64 range")
                }
                let (p, o) = count.multipliedReportingOverflow(by: dim)
                guard !o && p <= UInt64(Int64.max) else {
                    throw GGUFError(.invalid, field: field + ".dims[\(d)]", offset: dAt, "the element count overflows")
                }
                count = p
                dims.append(dim)
            }
            let typeAt = c.offset
            let code = try c.u32(field + ".type")
            guard let type = GGMLType(rawValue: code) else {
                throw GGUFError(.unsupported, field: field + ".type", offset: typeAt, "ggml type \(code) is not supported")
            }
            guard let row = type.rowBytes(dims[0]) else {
                throw GGUFError(.invalid, field: field + ".dims[0]", offset: dimsAt + 4,
                                "\(dims[0]) is not a multiple of \(type.name)'s block of \(type.blockSize)")
            }
            let (bytes, o) = row.multipliedReportingOverflow(by: count / dims[0])
            guard !o else { throw GGUFError(.invalid, field: field, offset: dimsAt, "the byte size overflows") }
            let offAt = c.offset
            let relative = try c.u64(field + ".offset")
            guard relative % alignment == 0 else {
                throw GGUFError(.invalid, field: field + ".offset", offset: offAt, "\(relative) is not a multiple of the alignment \(alignment)")
            }
            tensorIndex[name] = entries.count
            entries.append((name, dims, type, relative, bytes, count, at))
        }

        // The data section starts at the next multiple of the alignment.
        let end = c.offset
        let (padded, o) = end.addingReportingOverflow(alignment - 1)
        let dataOffset = o ? UInt64.max : padded / alignment * alignment
        let fileSize = UInt64(file.count)
        if tensorCount > 0 && dataOffset > fileSize {
            throw GGUFError(.invalid, field: "data", offset: end, "the data section would start at \(dataOffset), past the end of the \(fileSize)-byte file")
        }
        var tensors: [GGUFTensorInfo] = []
        tensors.reserveCapacity(entries.count)
        for (i, e) in entries.enumerated() {
            let field = "tensors[\(i):\(e.name)].offset"
            let (start, o1) = dataOffset.addingReportingOverflow(e.relative)
            let (stop, o2) = start.addingReportingOverflow(e.bytes)
            guard !o1 && !o2 && stop <= fileSize else {
                throw GGUFError(.invalid, field: field, offset: e.at,
                                "\(e.bytes) bytes at data offset \(e.relative) lie outside the \(fileSize)-byte file (truncated?)")
            }
            tensors.append(GGUFTensorInfo(name: e.name, dims: e.dims, type: e.type, offset: start, byteCount: e.bytes,
                                          elementCount: e.count, entryOffset: e.at))
        }
        // No two tensors share bytes: overlapping tensors are either corruption or a polyglot trick.
        let sorted = tensors.sorted { $0.offset < $1.offset }
        for (a, b) in zip(sorted, sorted.dropFirst()) where b.offset < a.offset + a.byteCount {
            throw GGUFError(.invalid, field: "tensors[\(tensorIndex[b.name]!):\(b.name)].offset", offset: b.entryOffset,
                            "overlaps tensor \(a.name)")
        }
        return GGUFLayout(version: version, metadata: metadata, tensors: tensors, alignment: alignment,
                          dataOffset: dataOffset, keyIndex: keyIndex, tensorIndex: tensorIndex)
    }

    private static func readValue(_ c: inout GGUFCursor, type: GGUFValueType, field: String, depth: Int) throws(GGUFError) -> GGUFValue {
        switch type {
        case .uint8: return .uint8(try c.load(UInt8.self, field))
        case .int8: return .int8(try c.load(Int8.self, field))
        case .uint16: return .uint16(try c.load(UInt16.self, field))
        case .int16: return .int16(try c.load(Int16.self, field))
        case .uint32: return .uint32(try c.u32(field))
        case .int32: return .int32(try c.load(Int32.self, field))
        case .uint64: return .uint64(try c.u64(field))
        case .int64: return .int64(try c.load(Int64.self, field))
        case .float32: return .float32(Float(bitPattern: try c.u32(field)))
        case .float64: return .float64(Double(bitPattern: try c.u64(field)))
        case .bool:
            let at = c.offset
            let b = try c.load(UInt8.self, field)
            guard b <= 1 else { throw GGUFError(.invalid, field: field, offset: at, "bool byte \(b) is neither 0 nor 1") }
            return .bool(b == 1)
        case .string: return .string(try c.string(field))
        case .array:
            let at = c.offset
            let code = try c.u32(field + ".element_type")
            guard let element = GGUFValueType(rawValue: code) else {
                throw GGUFError(.invalid, field: field + ".element_type", offset: at, "unknown value type \(code)")
            }
            if element == .array && depth + 1 >= GGUFLimits.maxArrayDepth {
                throw GGUFError(.invalid, field: field + ".element_type", offset: at, "arrays nested deeper than \(GGUFLimits.maxArrayDepth)")
            }
            let n = try c.count(field + ".count", minimumItemSize: element.minimumSize)
            var items: [GGUFValue] = []
            items.reserveCapacity(n)
            for j in 0..<n { items.append(try readValue(&c, type: element, field: "\(field)[\(j)]", depth: depth + 1)) }
            return .array(element, items)
        }
    }
}
