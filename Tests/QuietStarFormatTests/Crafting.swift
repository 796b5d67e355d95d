@testable import QuietStarFormat

/// Hand assembly of `.qstar` bytes for hostile-file tests: every field is written explicitly,
/// so a test reads like the layout table in the spec.
struct IndexBuilder {
    var bytes: [UInt8] = Array("QIDX".utf8)
    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func raw(_ b: [UInt8]) { bytes.append(contentsOf: b) }
    mutating func string(_ s: String) { raw(bytes: Array(s.utf8)) }
    mutating func raw(bytes b: [UInt8]) { u64(UInt64(b.count)); raw(b) }

    /// A metadata entry with an explicit type and the value's bytes (value_length computed).
    mutating func entry(_ key: String, type: UInt32, value: [UInt8]) {
        string(key)
        u32(type)
        u64(UInt64(value.count))
        raw(value)
    }

    /// A tensor directory entry.
    mutating func tensor(_ name: [UInt8], dtype: UInt32, encoding: UInt32 = 0, dims: [UInt64],
                         offset: UInt64, storedLength: UInt64, checksum: UInt64 = 0) {
        raw(bytes: name)
        u32(dtype)
        u32(encoding)
        u32(UInt32(dims.count))
        for d in dims { u64(d) }
        u64(offset)
        u64(storedLength)
        u64(checksum)
    }
}

func le64(_ v: UInt64) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
func le32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }

/// A whole file: header fields (checksums computed unless overridden), data region, index.
struct CraftedFile {
    var major: UInt16 = 1
    var minor: UInt16 = 0
    var flags: UInt64 = 0
    /// Bytes from offset 64 up to the index.
    var data: [UInt8] = []
    var index = IndexBuilder()

    var indexOffset: UInt64 { UInt64(64 + data.count) }

    func bytes() -> [UInt8] {
        let header = QStarHeader(version: FormatVersion(major: major, minor: minor),
                                 fileLength: indexOffset + UInt64(index.bytes.count), indexOffset: indexOffset,
                                 indexLength: UInt64(index.bytes.count), indexChecksum: XXH64.hash(index.bytes),
                                 flags: flags)
        return header.encoded() + data + index.bytes
    }

    /// The data region grows to hold `blob` at the next 64-byte boundary; returns its offset.
    mutating func addBlob(_ blob: [UInt8]) -> UInt64 {
        while data.count % 64 != 0 { data.append(0) }
        let offset = indexOffset
        data += blob
        return offset
    }
}

/// Re-seals a (deliberately damaged) file: recomputes the index checksum (when the header's
/// index range lies inside the file) and then the header checksum, so that the structural
/// validation behind the checksums is what gets exercised.
func reseal(_ bytes: inout [UInt8]) {
    guard bytes.count >= 64 else { return }
    let start = bytes.u64(at: 24), length = bytes.u64(at: 32)
    let (end, o) = start.addingReportingOverflow(length)
    if !o, start <= UInt64(bytes.count), end <= UInt64(bytes.count) {
        bytes.putU64(XXH64.hash(Array(bytes[Int(start)..<Int(end)])), at: 40)
    }
    bytes.putU64(XXH64.hash(Array(bytes[0..<56])), at: 56)
}
