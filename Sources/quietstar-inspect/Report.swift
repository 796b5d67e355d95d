import QuietStarFormat
import QuietStarJSON

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
                         verification: Verification.Result?) -> JSONValue {
        let facts = Facts(file)
        let h = file.header
        var members: [(key: String, value: JSONValue)] = [
            ("file", .object([
                ("path", .string(path)),
                ("size", .integer(file.fileLength)),
                ("format_version", .string(file.version.description)),
                ("reader_version", .string(QStarFile.supportedVersion.description)),
                ("index_offset", .integer(h.indexOffset)),
                ("index_length", .integer(h.indexLength)),
                ("index_checksum", .string(hex(h.indexChecksum))),
                ("tensor_count", .integer(file.tensors.count)),
                ("metadata_count", .integer(file.metadata.count)),
                ("stored_bytes", .integer(facts.storedBytes)),
                ("logical_bytes", facts.logicalBytes.map { .integer($0) } ?? .null),
            ])),
            ("model", .object([
                ("architecture", facts.architecture.map { .string($0) } ?? .null),
                ("parameters", .integer(facts.parameters)),
                ("parameter_tensors", .integer(facts.parameterTensors)),
                ("thought_parameters", .integer(facts.thoughtParameters)),
                ("thought_tensors", .integer(facts.thoughtTensors)),
                ("optimizer_values", .integer(facts.optimizerElements)),
                ("optimizer_tensors", .integer(facts.optimizerTensors)),
            ])),
            ("metadata", .object(file.metadata.entries.map { ($0.key, value($0.value, full: fullMetadata)) })),
            ("tensors", .array(file.tensors.map(tensor))),
        ]
        if let verification { members.append(("verification", verification.json)) }
        return .object(members)
    }

    static func tensor(_ t: TensorInfo) -> JSONValue {
        .object([
            ("name", .string(t.name)),
            ("dtype", .string(t.dtypeName)),
            ("shape", .array(t.shape.map { .integer($0) })),
            ("encoding", .string(t.encodingName)),
            ("offset", .integer(t.offset)),
            ("stored_bytes", .integer(t.storedLength)),
            ("logical_bytes", t.logicalByteCount.map { .integer($0) } ?? .null),
            ("elements", .integer(t.elementCount)),
            ("checksum", .string(hex(t.checksum))),
        ])
    }

    /// {"type": "u64", "value": 1}; long arrays and strings summarised unless `full`.
    static func value(_ v: MetadataValue, full: Bool) -> JSONValue {
        func array(_ items: [JSONValue]) -> [(key: String, value: JSONValue)] {
            if full || items.count <= arrayLimit { return [("value", .array(items))] }
            return [("count", .integer(items.count)), ("head", .array(Array(items.prefix(arrayHead)))),
                    ("truncated", .bool(true))]
        }
        let body: [(key: String, value: JSONValue)]
        switch v {
        case .bool(let b): body = [("value", .bool(b))]
        case .uint(let u): body = [("value", .integer(u))]
        case .int(let i): body = [("value", .integer(i))]
        case .float(let d): body = [("value", JSONLayout.number(d))]
        case .string(let s):
            if full || s.utf8.count <= stringLimit {
                body = [("value", .string(s))]
            } else {
                body = [("length", .integer(s.utf8.count)), ("head", .string(prefix(s, bytes: stringLimit / 4))),
                        ("truncated", .bool(true))]
            }
        case .boolArray(let a): body = array(a.map { .bool($0) })
        case .uintArray(let a): body = array(a.map { .integer($0) })
        case .intArray(let a): body = array(a.map { .integer($0) })
        case .floatArray(let a): body = array(a.map(JSONLayout.number))
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
