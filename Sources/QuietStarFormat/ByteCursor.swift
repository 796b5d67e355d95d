/// A bounds-checked little-endian reader over a region of the file.
///
/// Every read names its field and reports the absolute offset where it was attempted, so a
/// truncated or hostile index can only ever produce a precise `QStarError`, never a trap. Field
/// names are autoclosures: they cost nothing unless an error is actually raised.
struct ByteCursor {
    /// The whole file; positions are absolute offsets into it.
    let file: UnsafeRawBufferPointer
    /// Absolute offset of the next read.
    private(set) var position: Int
    /// Absolute exclusive end of the region being parsed.
    let end: Int
    /// What the region is called in truncation messages ("the index", "metadata value").
    let regionName: String

    init(file: UnsafeRawBufferPointer, start: Int, end: Int, regionName: String) {
        self.file = file
        self.position = start
        self.end = end
        self.regionName = regionName
    }

    var remaining: Int { end - position }
    var offset: UInt64 { UInt64(position) }

    @inline(__always)
    private func need(_ n: Int, _ field: () -> String) throws(QStarError) {
        if n > remaining {
            throw QStarError(.invalid, field: field(), offset: offset,
                             "needs \(n) bytes but only \(remaining) remain in \(regionName)")
        }
    }

    @inline(__always)
    mutating func u8(_ field: @autoclosure () -> String) throws(QStarError) -> UInt8 {
        try need(1, field)
        defer { position += 1 }
        return file.load(fromByteOffset: position, as: UInt8.self)
    }

    @inline(__always)
    mutating func u32(_ field: @autoclosure () -> String) throws(QStarError) -> UInt32 {
        try need(4, field)
        defer { position += 4 }
        return UInt32(littleEndian: file.loadUnaligned(fromByteOffset: position, as: UInt32.self))
    }

    @inline(__always)
    mutating func u64(_ field: @autoclosure () -> String) throws(QStarError) -> UInt64 {
        try need(8, field)
        defer { position += 8 }
        return UInt64(littleEndian: file.loadUnaligned(fromByteOffset: position, as: UInt64.self))
    }

    /// A view of the next `count` bytes (already known to fit).
    @inline(__always)
    mutating func bytes(_ count: Int, _ field: @autoclosure () -> String) throws(QStarError)
        -> UnsafeRawBufferPointer
    {
        try need(count, field)
        defer { position += count }
        return UnsafeRawBufferPointer(rebasing: file[position..<(position + count)])
    }

    mutating func skip(_ count: Int, _ field: @autoclosure () -> String) throws(QStarError) {
        try need(count, field)
        position += count
    }

    /// Skips the rest of the region (a value of a newer minor's type).
    mutating func skipToEnd() { position = end }

    /// A u64 length that must fit in what remains; returned as Int.
    mutating func length(_ field: @autoclosure () -> String, limit: UInt64, what: String)
        throws(QStarError) -> Int
    {
        let at = offset
        let n = try u64(field())
        if n > limit {
            throw QStarError(.invalid, field: field(), offset: at,
                             "\(what) \(n) exceeds the limit \(limit)")
        }
        if n > UInt64(remaining) {
            throw QStarError(.invalid, field: field(), offset: at,
                             "\(what) \(n) runs past the end of \(regionName) (\(remaining) bytes remain)")
        }
        return Int(n)
    }

    /// A u64 element count, bounded by a hard limit and by `minimumEntrySize` x count fitting in
    /// what remains (overflow-checked), so no hostile count can cause a big allocation or loop.
    mutating func count(_ field: @autoclosure () -> String, limit: UInt64, minimumEntrySize: UInt64)
        throws(QStarError) -> Int
    {
        let at = offset
        let n = try u64(field())
        if n > limit {
            throw QStarError(.invalid, field: field(), offset: at, "count \(n) exceeds the limit \(limit)")
        }
        let (needed, overflow) = n.multipliedReportingOverflow(by: minimumEntrySize)
        if overflow || needed > UInt64(remaining) {
            throw QStarError(.invalid, field: field(), offset: at,
                             "count \(n) needs at least \(overflow ? "2^64+" : String(needed)) bytes "
                                 + "but only \(remaining) remain in \(regionName)")
        }
        return Int(n)
    }
}

// MARK: - Typed-throws access to array storage
//
// `Array.withUnsafeBytes` and `withUnsafeMutableBytes` are `rethrows`, which erases a typed
// error to `any Error`; these keep `QStarError` typed through the closure. (The buffer-pointer
// forms, `withUnsafeBufferPointer` and its mutable twin, already carry typed throws.)

func withBytes<R>(_ a: [UInt8], _ body: (UnsafeRawBufferPointer) throws(QStarError) -> R) throws(QStarError) -> R {
    let r: Result<R, QStarError> = a.withUnsafeBytes { b in
        Result { () throws(QStarError) -> R in try body(b) }
    }
    return try r.get()
}

func withMutableBytes<R>(_ a: inout [UInt8], _ body: (UnsafeMutableRawBufferPointer) throws(QStarError) -> R)
    throws(QStarError) -> R
{
    let r: Result<R, QStarError> = a.withUnsafeMutableBytes { b in
        Result { () throws(QStarError) -> R in try body(b) }
    }
    return try r.get()
}
