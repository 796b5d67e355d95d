/// The fixed 64-byte header at offset 0 (spec, "Header").
///
/// | off | type  | field            |
/// |-----|-------|------------------|
/// | 0   | u8[8] | magic            |
/// | 8   | u32   | byte_order_mark  |
/// | 12  | u16   | major            |
/// | 14  | u16   | minor            |
/// | 16  | u64   | file_length      |
/// | 24  | u64   | index_offset     |
/// | 32  | u64   | index_length     |
/// | 40  | u64   | index_xxh64      |
/// | 48  | u64   | flags            |
/// | 56  | u64   | header_xxh64     |
public struct QStarHeader: Sendable, Equatable {
    public static let size = 64
    /// 0x89 "QST" CR LF SUB LF: the PNG trick. The high byte catches 7-bit stripping, CR LF
    /// catches newline translation in either direction, SUB stops DOS `type`.
    public static let magic: [UInt8] = [0x89, 0x51, 0x53, 0x54, 0x0D, 0x0A, 0x1A, 0x0A]
    /// Stored little-endian as `0D 0C 0B 0A`; a big-endian writer would store `0A 0B 0C 0D`.
    public static let byteOrderMark: UInt32 = 0x0A0B_0C0D
    /// Format 1.0 defines no flag bits.
    public static let knownFlags: UInt64 = 0

    public var version: FormatVersion
    public var fileLength: UInt64
    public var indexOffset: UInt64
    public var indexLength: UInt64
    public var indexChecksum: UInt64
    public var flags: UInt64

    public init(version: FormatVersion, fileLength: UInt64, indexOffset: UInt64,
                indexLength: UInt64, indexChecksum: UInt64, flags: UInt64 = 0) {
        self.version = version
        self.fileLength = fileLength
        self.indexOffset = indexOffset
        self.indexLength = indexLength
        self.indexChecksum = indexChecksum
        self.flags = flags
    }

    /// The 64 header bytes, checksum included.
    public func encoded() -> [UInt8] {
        var out = ByteBuilder()
        out.append(QStarHeader.magic)
        out.u32(QStarHeader.byteOrderMark)
        out.u16(version.major)
        out.u16(version.minor)
        out.u64(fileLength)
        out.u64(indexOffset)
        out.u64(indexLength)
        out.u64(indexChecksum)
        out.u64(flags)
        out.u64(XXH64.hash(out.bytes))
        return out.bytes
    }

    /// Parses and validates the header against the real size of `file`.
    ///
    /// Order: magic (with a diagnosis of the usual corruptions), byte order, major version
    /// (checked before the checksum because a different major may lay the header out
    /// differently; bytes 0..<16 are the same in every major), header checksum, flags, then
    /// the lengths. The index checksum is checked by the caller.
    static func parse(_ file: UnsafeRawBufferPointer, supported: FormatVersion)
        throws(QStarError) -> QStarHeader
    {
        try checkMagic(file)
        if file.count < size {
            throw QStarError(.notQStar, field: "header", offset: 0,
                             "file is \(file.count) bytes, shorter than the 64-byte header (truncated)")
        }
        func u64(_ at: Int) -> UInt64 { UInt64(littleEndian: file.loadUnaligned(fromByteOffset: at, as: UInt64.self)) }
        let bom = UInt32(littleEndian: file.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
        if bom != byteOrderMark {
            if bom == byteOrderMark.byteSwapped {
                throw QStarError(.notQStar, field: "header.byte_order_mark", offset: 8,
                                 "byte-order mark is byte-swapped (0x0D0C0B0A): the file was written "
                                     + "big-endian; .qstar is little-endian only")
            }
            throw QStarError(.invalid, field: "header.byte_order_mark", offset: 8,
                             "byte-order mark is 0x\(String(bom, radix: 16, uppercase: true)), expected 0x0A0B0C0D")
        }
        let major = UInt16(littleEndian: file.loadUnaligned(fromByteOffset: 12, as: UInt16.self))
        let minor = UInt16(littleEndian: file.loadUnaligned(fromByteOffset: 14, as: UInt16.self))
        let version = FormatVersion(major: major, minor: minor)
        if major != supported.major {
            throw QStarError(.unsupportedVersion, field: "header.major", offset: 12,
                             "file is format version \(version); this reader supports "
                                 + "\(supported.major).x (files up to \(supported) fully)")
        }
        let stored = u64(56)
        let actual = XXH64.hash(UnsafeRawBufferPointer(rebasing: file[0..<56]))
        if stored != actual {
            throw QStarError(.checksumMismatch, field: "header.header_xxh64", offset: 56,
                             "header checksum is \(hex16(stored)) but bytes 0..<56 hash to \(hex16(actual)) "
                                 + "(the header is corrupted)")
        }
        let flags = u64(48)
        if flags & ~knownFlags != 0 && minor <= supported.minor {
            throw QStarError(.invalid, field: "header.flags", offset: 48,
                             "unknown flag bits 0x\(String(flags & ~knownFlags, radix: 16)) in a \(version) file")
        }
        let header = QStarHeader(version: version, fileLength: u64(16), indexOffset: u64(24),
                                 indexLength: u64(32), indexChecksum: u64(40), flags: flags)
        try header.checkLengths(file)
        return header
    }

    private func checkLengths(_ file: UnsafeRawBufferPointer) throws(QStarError) {
        let actual = UInt64(file.count)
        if fileLength > actual {
            throw QStarError(.invalid, field: "header.file_length", offset: 16,
                             "header says the file is \(fileLength) bytes but it has \(actual): "
                                 + "the file is truncated (\(fileLength - actual) bytes missing)")
        }
        if fileLength < actual {
            var message = "\(actual - fileLength) trailing bytes after the \(fileLength) bytes the header records"
            let at = Int(fileLength)
            if actual - fileLength >= 4, Array(file[at..<(at + 4)]) == IndexLayout.magic {
                message += "; they begin with an index ('QIDX'): a metadata replacement was interrupted "
                    + "before the header was rewritten. The old metadata is intact: truncate the file to "
                    + "\(fileLength) bytes to recover it"
            }
            throw QStarError(.invalid, field: "header.file_length", offset: 16, message)
        }
        if indexOffset < UInt64(QStarHeader.size) {
            throw QStarError(.invalid, field: "header.index_offset", offset: 24,
                             "index_offset \(indexOffset) is inside the 64-byte header")
        }
        let (indexEnd, overflow) = indexOffset.addingReportingOverflow(indexLength)
        if overflow || indexEnd != fileLength {
            throw QStarError(.invalid, field: "header.index_length", offset: 32,
                             "index_offset \(indexOffset) + index_length \(indexLength) "
                                 + (overflow ? "overflows 64 bits" : "= \(indexEnd)")
                                 + "; the index must end exactly at file_length \(fileLength)")
        }
        if indexLength < UInt64(IndexLayout.minimumSize) {
            throw QStarError(.invalid, field: "header.index_length", offset: 32,
                             "index_length \(indexLength) is smaller than the smallest index (\(IndexLayout.minimumSize) bytes)")
        }
    }

    /// Names the usual ways a file's first bytes get mangled.
    static func checkMagic(_ file: UnsafeRawBufferPointer) throws(QStarError) {
        let n = min(file.count, 8)
        let head = Array(file[0..<n])
        if n == 8 && head == magic { return }
        if head.isEmpty {
            throw QStarError(.notQStar, field: "header.magic", offset: 0, "file is empty")
        }
        func fail(_ why: String) -> QStarError {
            QStarError(.notQStar, field: "header.magic", offset: 0, why)
        }
        let shown = head.map(hex2).joined(separator: " ")
        if head == Array(magic[0..<n]) {
            throw QStarError(.notQStar, field: "header", offset: 0,
                             "file is \(file.count) bytes, shorter than the 64-byte header (truncated)")
        }
        if n >= 4 && head[1...3] == magic[1...3] {
            if head[0] == 0x09 {
                throw fail("magic is \(shown): the high bit of byte 0 was stripped (a 7-bit transfer)")
            }
            let rest = Array(head[4...])
            if rest.starts(with: [0x0A, 0x1A, 0x0A]) {
                throw fail("magic is \(shown): CRLF -> LF translation detected (the file went through a "
                           + "text-mode transfer); the file is damaged, fetch it again in binary mode")
            }
            if rest.starts(with: [0x0D, 0x0D, 0x0A]) || rest.starts(with: [0x0D, 0x0A, 0x1A, 0x0D]) {
                throw fail("magic is \(shown): LF -> CRLF translation detected (the file went through a "
                           + "text-mode transfer); the file is damaged, fetch it again in binary mode")
            }
            throw fail("magic is \(shown), expected 89 51 53 54 0D 0A 1A 0A (damaged magic)")
        }
        if head.starts(with: Array("GGUF".utf8)) {
            throw fail("this is a GGUF file, not .qstar (convert it first)")
        }
        if file.count > 8 && file[8] == UInt8(ascii: "{") {
            throw fail("this looks like a safetensors file (u64 length + JSON), not .qstar (convert it first)")
        }
        throw fail("not a .qstar file (magic is \(shown), expected 89 51 53 54 0D 0A 1A 0A)")
    }
}

func hex16(_ v: UInt64) -> String {
    let s = String(v, radix: 16, uppercase: true)
    return "0x" + String(repeating: "0", count: 16 - s.count) + s
}

/// Little-endian byte assembly for the header and index.
struct ByteBuilder {
    var bytes: [UInt8] = []
    mutating func append(_ b: [UInt8]) { bytes.append(contentsOf: b) }
    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func string(_ s: String) {
        var s = s
        s.withUTF8 { u in
            u64(UInt64(u.count))
            bytes.append(contentsOf: u)
        }
    }
}
