/// The index at the end of the file: "QIDX", metadata entries, then the tensor directory
/// (spec, "Index"). This file parses and encodes it; `Directory.swift` checks the tensors'
/// placement in the file.
enum IndexLayout {
    static let magic: [UInt8] = Array("QIDX".utf8)
    /// "QIDX" + metadata_count + tensor_count.
    static let minimumSize = 4 + 8 + 8
    /// key length + 1 key byte + value_type + value_length (a newer minor's value may be empty).
    static let minimumMetadataEntry: UInt64 = 8 + 1 + 4 + 8
    /// name length + 1 name byte + dtype + encoding + rank + offset + stored_length + xxh64.
    static let minimumTensorEntry: UInt64 = 8 + 1 + 4 + 4 + 4 + 8 + 8 + 8
}

/// Metadata value type codes (and array element type codes 0...4).
enum ValueType: UInt32 {
    case bool = 0, u64 = 1, i64 = 2, f64 = 3, string = 4, array = 5

    /// Smallest encoding of one array element of this type (bounds array counts).
    var minimumElementSize: UInt64 {
        switch self {
        case .bool: 1
        case .u64, .i64, .f64, .string: 8
        case .array: 12
        }
    }
}

extension MetadataValue {
    var valueType: ValueType {
        switch self {
        case .bool: .bool
        case .uint: .u64
        case .int: .i64
        case .float: .f64
        case .string: .string
        default: .array
        }
    }
}

/// Parses the index. All counts are bounded before anything is allocated; every value's
/// declared length must match what it occupies.
struct IndexParser {
    let file: UnsafeRawBufferPointer
    let header: QStarHeader
    let supported: FormatVersion
    /// A newer minor may add value types, dtypes and encodings: those are skipped / listed.
    var newerMinor: Bool { header.version.minor > supported.minor }

    /// Metadata, the directory in file order, and each tensor's position in it by name.
    func parse() throws(QStarError) -> (Metadata, [TensorInfo], NameIndex) {
        let start = Int(header.indexOffset)
        var c = ByteCursor(file: file, start: start, end: Int(header.fileLength), regionName: "the index")
        let magicAt = c.offset
        let m = try c.bytes(4, "index.magic")
        if !m.elementsEqual(IndexLayout.magic) {
            throw QStarError(.invalid, field: "index.magic", offset: magicAt,
                             "index starts with \(m.map(hex2).joined(separator: " ")), expected 'QIDX' (51 49 44 58)")
        }
        let metadata = try parseMetadata(&c)
        let (tensors, byName) = try parseTensors(&c)
        if c.remaining != 0 {
            throw QStarError(.invalid, field: "index", offset: c.offset,
                             "\(c.remaining) bytes left over after the last tensor entry (the index must end exactly at end of file)")
        }
        return (metadata, tensors, byName)
    }

    // MARK: Metadata

    private func parseMetadata(_ c: inout ByteCursor) throws(QStarError) -> Metadata {
        let n = try c.count("index.metadata_count", limit: QStarLimits.maxMetadataCount,
                            minimumEntrySize: IndexLayout.minimumMetadataEntry)
        var entries: [(key: String, value: MetadataValue)] = []
        entries.reserveCapacity(n)
        var seen = Set<String>(minimumCapacity: n)
        for i in 0..<n {
            let keyAt = c.offset
            let keyLength = try c.length("index.metadata[\(i)].key.length",
                                         limit: UInt64(QStarLimits.maxKeyLength), what: "key length")
            let keyBytes = try c.bytes(keyLength, "index.metadata[\(i)].key")
            if let problem = MetadataKey.problem(keyBytes) {
                throw QStarError(.invalid, field: "index.metadata[\(i)].key", offset: keyAt, problem)
            }
            let key = String(decoding: keyBytes, as: UTF8.self)
            if !seen.insert(key).inserted {
                throw QStarError(.invalid, field: "index.metadata[\(i)].key", offset: keyAt,
                                 "duplicate metadata key '\(key)'")
            }
            let typeAt = c.offset
            let typeCode = try c.u32("index.metadata[\(i)].value_type")
            let length = try c.length("index.metadata[\(i)].value_length", limit: UInt64.max, what: "value_length")
            let valueStart = c.position
            try c.skip(length, "index.metadata[\(i)].value")
            let field = "index.metadata[\(i)] ('\(key)')"
            var v = ByteCursor(file: file, start: valueStart, end: valueStart + length,
                               regionName: "the \(length)-byte value of metadata key '\(key)'")
            guard let type = ValueType(rawValue: typeCode) else {
                if newerMinor { continue }  // skippable thanks to value_length
                throw QStarError(.invalid, field: "index.metadata[\(i)].value_type", offset: UInt64(typeAt),
                                 "unknown value type \(typeCode) for key '\(key)' (format \(header.version) defines 0...5)")
            }
            guard let value = try parseValue(type, &v, field: field) else { continue }
            if v.remaining != 0 {
                throw QStarError(.invalid, field: "index.metadata[\(i)].value_length", offset: UInt64(typeAt + 4),
                                 "value_length is \(length) but the \(value.typeName) value of '\(key)' occupies \(length - v.remaining) bytes")
            }
            entries.append((key, value))
        }
        return Metadata(entries)
    }

    /// nil: an array whose element type belongs to a newer minor (skipped).
    private func parseValue(_ type: ValueType, _ v: inout ByteCursor, field: String)
        throws(QStarError) -> MetadataValue?
    {
        switch type {
        case .bool: return .bool(try bool(&v, field))
        case .u64: return .uint(try v.u64(field))
        case .i64: return .int(Int64(bitPattern: try v.u64(field)))
        case .f64: return .float(Double(bitPattern: try v.u64(field)))
        case .string: return .string(try string(&v, field))
        case .array:
            let typeAt = v.offset
            let code = try v.u32(field + ".element_type")
            guard let element = ValueType(rawValue: code), element != .array else {
                if newerMinor { v.skipToEnd(); return nil }
                throw QStarError(.invalid, field: field + ".element_type", offset: typeAt,
                                 code == ValueType.array.rawValue
                                     ? "nested arrays are not allowed"
                                     : "unknown array element type \(code) (format \(header.version) defines 0...4)")
            }
            let n = try v.count(field + ".count", limit: QStarLimits.maxArrayCount,
                                minimumEntrySize: element.minimumElementSize)
            switch element {
            case .bool:
                var a = [Bool](); a.reserveCapacity(n)
                for i in 0..<n { a.append(try bool(&v, "\(field)[\(i)]")) }
                return .boolArray(a)
            case .u64:
                var a = [UInt64](); a.reserveCapacity(n)
                for i in 0..<n { a.append(try v.u64("\(field)[\(i)]")) }
                return .uintArray(a)
            case .i64:
                var a = [Int64](); a.reserveCapacity(n)
                for i in 0..<n { a.append(Int64(bitPattern: try v.u64("\(field)[\(i)]"))) }
                return .intArray(a)
            case .f64:
                var a = [Double](); a.reserveCapacity(n)
                for i in 0..<n { a.append(Double(bitPattern: try v.u64("\(field)[\(i)]"))) }
                return .floatArray(a)
            case .string:
                var a = [String](); a.reserveCapacity(n)
                for i in 0..<n { a.append(try string(&v, "\(field)[\(i)]")) }
                return .stringArray(a)
            case .array:
                return nil  // unreachable: excluded above
            }
        }
    }

    private func bool(_ v: inout ByteCursor, _ field: @autoclosure () -> String) throws(QStarError) -> Bool {
        let at = v.offset
        let b = try v.u8(field())
        if b > 1 { throw QStarError(.invalid, field: field(), offset: at, "bool byte is \(b); must be 0 or 1") }
        return b == 1
    }

    private func string(_ v: inout ByteCursor, _ field: @autoclosure () -> String) throws(QStarError) -> String {
        let n = try v.length(field() + ".length", limit: QStarLimits.maxStringLength, what: "string length")
        let at = v.offset
        let bytes = try v.bytes(n, field())
        guard let s = String(validating: bytes, as: UTF8.self) else {
            throw QStarError(.invalid, field: field(), offset: at, "string is not valid UTF-8")
        }
        return s
    }

    // MARK: Tensor directory

    /// A tensor name, or nil when the bytes are not UTF-8 or contain NUL. Names are nearly
    /// always ASCII: that case skips the generic UTF-8 validator (a fifth of a 100k-tensor open).
    @inline(__always)
    private func tensorName(_ bytes: UnsafeRawBufferPointer) -> String? {
        var ascii = true
        for b in bytes {
            if b == 0 { return nil }
            if b >= 0x80 { ascii = false }
        }
        if ascii { return String(decoding: bytes, as: UTF8.self) }
        return String(validating: bytes, as: UTF8.self)
    }

    private func parseTensors(_ c: inout ByteCursor) throws(QStarError) -> ([TensorInfo], NameIndex) {
        let n = try c.count("index.tensor_count", limit: QStarLimits.maxTensorCount,
                            minimumEntrySize: IndexLayout.minimumTensorEntry)
        var tensors = [TensorInfo]()
        tensors.reserveCapacity(n)
        var byName = NameIndex(capacity: n)
        for i in 0..<n {
            let entryAt = c.offset
            /// Field names and messages are built only when an error is raised.
            func f(_ suffix: String) -> String { "index.tensors[\(i)]" + suffix }
            let nameLength = try c.length(f(".name.length"), limit: UInt64(QStarLimits.maxTensorNameLength),
                                          what: "name length")
            if nameLength == 0 {
                throw QStarError(.invalid, field: f(".name.length"), offset: entryAt, "tensor name is empty")
            }
            let nameAt = c.offset
            let nameBytes = try c.bytes(nameLength, f(".name"))
            guard let name = tensorName(nameBytes) else {
                throw QStarError(.invalid, field: f(".name"), offset: nameAt,
                                 nameBytes.contains(0) ? "tensor name contains a NUL byte" : "tensor name is not valid UTF-8")
            }
            let nameHash = XXH64.hash(nameBytes)
            // Compares only with entries already appended; tensor i is appended below.
            if !byName.insert(hash: nameHash, position: i, tensors: tensors, name: name) {
                throw QStarError(.invalid, field: f(".name"), offset: nameAt, "duplicate tensor name '\(name)'")
            }
            var fn: String { "'\(name)'" }
            let dtypeAt = c.offset
            let dtypeCode = try c.u32(f(".dtype"))
            let encodingAt = c.offset
            let encodingCode = try c.u32(f(".encoding"))
            let rankAt = c.offset
            let rank = try c.u32(f(".rank"))
            if rank > UInt32(QStarLimits.maxRank) {
                throw QStarError(.invalid, field: f(".rank"), offset: rankAt,
                                 "\(fn): rank \(rank) exceeds the limit \(QStarLimits.maxRank)")
            }
            var shape = [UInt64]()
            shape.reserveCapacity(Int(rank))
            var elements: UInt64 = 1
            for d in 0..<Int(rank) {
                let dimAt = c.offset
                let dim = try c.u64(f(".dims[\(d)]"))
                if dim == 0 {
                    throw QStarError(.invalid, field: f(".dims[\(d)]"), offset: dimAt,
                                     "\(fn): dimension \(d) is 0 (every dimension must be >= 1)")
                }
                let (product, overflow) = elements.multipliedReportingOverflow(by: dim)
                if overflow {
                    throw QStarError(.invalid, field: f(".dims[\(d)]"), offset: dimAt,
                                     "\(fn): the element count overflows 64 bits at dimension \(d) (\(dim))")
                }
                elements = product
                shape.append(dim)
            }
            let offsetAt = c.offset
            let offset = try c.u64(f(".offset"))
            let lengthAt = c.offset
            let stored = try c.u64(f(".stored_length"))
            let checksum = try c.u64(f(".xxh64"))

            let dtype = DType(rawValue: dtypeCode)
            let encoding = TensorEncoding(rawValue: encodingCode)
            if dtype == nil && !newerMinor {
                throw QStarError(.invalid, field: f(".dtype"), offset: UInt64(dtypeAt),
                                 "\(fn): unknown dtype \(dtypeCode) (format \(header.version) defines 0...6)")
            }
            if encoding == nil && !newerMinor {
                throw QStarError(.invalid, field: f(".encoding"), offset: UInt64(encodingAt),
                                 "\(fn): unknown encoding \(encodingCode) (format \(header.version) defines 0...1)")
            }
            var logical: UInt64?
            if let dtype {
                guard let size = dtype.byteCount(elementCount: elements, innermost: shape.last ?? 1) else {
                    if dtype == .q8_0 {
                        throw QStarError(.invalid, field: f(".dims"), offset: UInt64(rankAt),
                                         "\(fn): q8_0 needs an innermost dimension that is a multiple of 32, shape is \(shape)")
                    }
                    throw QStarError(.invalid, field: f(".dims"), offset: UInt64(rankAt),
                                     "\(fn): byte size of \(elements) \(dtype) elements overflows 64 bits")
                }
                logical = size
            }
            if stored == 0 {
                throw QStarError(.invalid, field: f(".stored_length"), offset: lengthAt,
                                 "\(fn): stored_length is 0")
            }
            if let logical, let encoding {
                switch encoding {
                case .raw:
                    if offset % QStarLimits.alignment != 0 {
                        throw QStarError(.invalid, field: f(".offset"), offset: offsetAt,
                                         "\(fn): offset \(offset) is not 64-byte aligned (raw tensors must be)")
                    }
                    if stored != logical {
                        throw QStarError(.invalid, field: f(".stored_length"), offset: lengthAt,
                                         "\(fn): raw stored_length \(stored) != \(logical) bytes for \(dtype!) \(shape)")
                    }
                case .zstd:
                    let (bound, overflow) = stored.multipliedReportingOverflow(by: QStarLimits.maxZstdExpansion)
                    if !overflow && logical > bound {
                        throw QStarError(.invalid, field: f(".stored_length"), offset: lengthAt,
                                         "\(fn): a \(stored)-byte zstd frame cannot decode to \(logical) bytes "
                                             + "(zstd expands at most \(QStarLimits.maxZstdExpansion)x)")
                    }
                }
            }
            tensors.append(TensorInfo(name: name, dtype: dtype, dtypeCode: dtypeCode, encoding: encoding,
                                      encodingCode: encodingCode, shape: shape, offset: offset,
                                      storedLength: stored, checksum: checksum, elementCount: elements,
                                      logicalByteCount: logical, entryOffset: entryAt))
        }
        return (tensors, byName)
    }
}

// MARK: - Encoding

enum IndexEncoder {
    /// The index bytes for `metadata` and `tensors`, which the caller has validated.
    static func encode(metadata: Metadata, tensors: [TensorInfo]) -> [UInt8] {
        var b = ByteBuilder()
        b.append(IndexLayout.magic)
        b.u64(UInt64(metadata.count))
        for (key, value) in metadata.entries {
            b.string(key)
            b.u32(value.valueType.rawValue)
            var v = ByteBuilder()
            encodeValue(value, into: &v)
            b.u64(UInt64(v.bytes.count))
            b.append(v.bytes)
        }
        b.u64(UInt64(tensors.count))
        for t in tensors {
            b.string(t.name)
            b.u32(t.dtypeCode)
            b.u32(t.encodingCode)
            b.u32(UInt32(t.shape.count))
            for d in t.shape { b.u64(d) }
            b.u64(t.offset)
            b.u64(t.storedLength)
            b.u64(t.checksum)
        }
        return b.bytes
    }

    private static func encodeValue(_ value: MetadataValue, into b: inout ByteBuilder) {
        func array(_ type: ValueType, _ count: Int) {
            b.u32(type.rawValue)
            b.u64(UInt64(count))
        }
        switch value {
        case .bool(let v): b.u8(v ? 1 : 0)
        case .uint(let v): b.u64(v)
        case .int(let v): b.u64(UInt64(bitPattern: v))
        case .float(let v): b.u64(v.bitPattern)
        case .string(let s): b.string(s)
        case .boolArray(let a): array(.bool, a.count); for v in a { b.u8(v ? 1 : 0) }
        case .uintArray(let a): array(.u64, a.count); for v in a { b.u64(v) }
        case .intArray(let a): array(.i64, a.count); for v in a { b.u64(UInt64(bitPattern: v)) }
        case .floatArray(let a): array(.f64, a.count); for v in a { b.u64(v.bitPattern) }
        case .stringArray(let a): array(.string, a.count); for s in a { b.string(s) }
        }
    }

    /// Checks metadata against the limits a reader enforces, so a writer can never produce a
    /// file that its own reader rejects.
    static func validate(_ metadata: Metadata) throws(QStarError) {
        if UInt64(metadata.count) > QStarLimits.maxMetadataCount {
            throw QStarError(.usage, field: "metadata", "\(metadata.count) entries exceed the limit \(QStarLimits.maxMetadataCount)")
        }
        for (key, value) in metadata.entries {
            if let problem = MetadataKey.problem(Array(key.utf8)) {
                throw QStarError(.usage, field: key, problem)
            }
            func checkString(_ s: String) throws(QStarError) {
                if UInt64(s.utf8.count) > QStarLimits.maxStringLength {
                    throw QStarError(.usage, field: key, "string of \(s.utf8.count) bytes exceeds the limit \(QStarLimits.maxStringLength)")
                }
            }
            func checkCount(_ n: Int) throws(QStarError) {
                if UInt64(n) > QStarLimits.maxArrayCount {
                    throw QStarError(.usage, field: key, "array of \(n) elements exceeds the limit \(QStarLimits.maxArrayCount)")
                }
            }
            switch value {
            case .string(let s): try checkString(s)
            case .stringArray(let a):
                try checkCount(a.count)
                for s in a { try checkString(s) }
            case .boolArray(let a): try checkCount(a.count)
            case .uintArray(let a): try checkCount(a.count)
            case .intArray(let a): try checkCount(a.count)
            case .floatArray(let a): try checkCount(a.count)
            case .bool, .uint, .int, .float: break
            }
        }
    }
}
