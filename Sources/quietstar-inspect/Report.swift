import QuietStarFormat

/// The `--json` document: the same facts as the summary, as one object with fixed key order.
///
/// ```
/// { "file": {...}, "model": {...}, "metadata": {key: {"type", "value"} ...},
///   "tensors": [{name, dtype, shape, encoding, offset, stored_bytes, logical_bytes, elements, checksum}],
///   "verification": {...} (with --verify) }
/// ```
enum Report {
    /// Arrays longer than this (and strings longer than `stringLimit` bytes) are summarised as
    /// {"count"/"length", "head", "truncated": true} unless --full-metadata.
    static let arrayLimit = 16
    static let arrayHead = 8
    static let stringLimit = 1024

    static func document(_ file: QStarFile, path: String, fullMetadata: Bool,
                         verification: Verification.Result?) -> JSON {
        let facts = Facts(file)
        let h = file.header
        var members: [(String, JSON)] = [
            ("file", .object([
                ("path", .string(path)),
                ("size", .uint(file.fileLength)),
                ("format_version", .string(file.version.description)),
                ("reader_version", .string(QStarFile.supportedVersion.description)),
                ("index_offset", .uint(h.indexOffset)),
                ("index_length", .uint(h.indexLength)),
                ("index_checksum", .string(hex(h.indexChecksum))),
                ("tensor_count", .uint(UInt64(file.tensors.count))),
                ("metadata_count", .uint(UInt64(file.metadata.count))),
                ("stored_bytes", .uint(facts.storedBytes)),
                ("logical_bytes", facts.logicalBytes.map { .uint($0) } ?? .null),
            ])),
            ("model", .object([
                ("architecture", facts.architecture.map { .string($0) } ?? .null),
                ("parameters", .uint(facts.parameters)),
                ("parameter_tensors", .uint(UInt64(facts.parameterTensors))),
                ("thought_parameters", .uint(facts.thoughtParameters)),
                ("thought_tensors", .uint(UInt64(facts.thoughtTensors))),
                ("optimizer_values", .uint(facts.optimizerElements)),
                ("optimizer_tensors", .uint(UInt64(facts.optimizerTensors))),
            ])),
            ("metadata", .object(file.metadata.entries.map { ($0.key, value($0.value, full: fullMetadata)) })),
            ("tensors", .array(file.tensors.map(tensor))),
        ]
        if let verification { members.append(("verification", verification.json)) }
        return .object(members)
    }

    static func tensor(_ t: TensorInfo) -> JSON {
        .object([
            ("name", .string(t.name)),
            ("dtype", .string(t.dtypeName)),
            ("shape", .array(t.shape.map { .uint($0) })),
            ("encoding", .string(t.encodingName)),
            ("offset", .uint(t.offset)),
            ("stored_bytes", .uint(t.storedLength)),
            ("logical_bytes", t.logicalByteCount.map { .uint($0) } ?? .null),
            ("elements", .uint(t.elementCount)),
            ("checksum", .string(hex(t.checksum))),
        ])
    }

    /// {"type": "u64", "value": 1}; long arrays and strings summarised unless `full`.
    static func value(_ v: MetadataValue, full: Bool) -> JSON {
        func array(_ items: [JSON]) -> [(String, JSON)] {
            if full || items.count <= arrayLimit { return [("value", .array(items))] }
            return [("count", .uint(UInt64(items.count))), ("head", .array(Array(items.prefix(arrayHead)))),
                    ("truncated", .bool(true))]
        }
        let body: [(String, JSON)]
        switch v {
        case .bool(let b): body = [("value", .bool(b))]
        case .uint(let u): body = [("value", .uint(u))]
        case .int(let i): body = [("value", .int(i))]
        case .float(let d): body = [("value", .double(d))]
        case .string(let s):
            if full || s.utf8.count <= stringLimit {
                body = [("value", .string(s))]
            } else {
                body = [("length", .uint(UInt64(s.utf8.count))), ("head", .string(prefix(s, bytes: stringLimit / 4))),
                        ("truncated", .bool(true))]
            }
        case .boolArray(let a): body = array(a.map { .bool($0) })
        case .uintArray(let a): body = array(a.map { .uint($0) })
        case .intArray(let a): body = array(a.map { .int($0) })
        case .floatArray(let a): body = array(a.map { .double($0) })
        case .stringArray(let a): body = array(a.map { .string($0) })
        }
        return .object([("type", .string(v.typeName))] + body)
    }

    /// The longest prefix of whole characters within `bytes` UTF-8 bytes.
    private static func prefix(_ s: String, bytes: Int) -> String {
        var n = 0
        var out = ""
        for c in s {
            n += c.utf8.count
            if n > bytes { break }
            out.append(c)
        }
        return out
    }
}
