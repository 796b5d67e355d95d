/// A bounds-checked little-endian reader over the whole file.
///
/// Each read checks what remains before touching a byte and names the field in its error with
/// the absolute offset of the read. Lengths read from the file are compared against what is left
/// of the file before anything is allocated, so a declared 2^63-element array or a string longer
/// than the file fails at once instead of allocating or looping.
struct GGUFCursor {
    let file: UnsafeRawBufferPointer
    private(set) var position: Int

    init(file: UnsafeRawBufferPointer, position: Int = 0) {
        self.file = file
        self.position = position
    }

    var remaining: Int { file.count - position }
    var offset: UInt64 { UInt64(position) }

    @inline(__always)
    private func need(_ n: Int, _ field: () -> String) throws(GGUFError) {
        if n > remaining {
            throw GGUFError(.invalid, field: field(), offset: offset,
                            "needs \(n) bytes but only \(remaining) remain in the file")
        }
    }

    @inline(__always)
    mutating func load<T: FixedWidthInteger>(_: T.Type, _ field: @autoclosure () -> String) throws(GGUFError) -> T {
        try need(MemoryLayout<T>.size, field)
        defer { position += MemoryLayout<T>.size }
        return T(littleEndian: file.loadUnaligned(fromByteOffset: position, as: T.self))
    }

    mutating func u32(_ field: @autoclosure () -> String) throws(GGUFError) -> UInt32 { try load(UInt32.self, field()) }
    mutating func u64(_ field: @autoclosure () -> String) throws(GGUFError) -> UInt64 { try load(UInt64.self, field()) }

    /// A count of items each at least `minimumItemSize` bytes long: it must fit in what remains.
    mutating func count(_ field: @autoclosure () -> String, minimumItemSize: Int, limit: UInt64 = .max) throws(GGUFError) -> Int {
        let at = offset
        let n = try u64(field())
        let fits = UInt64(remaining) / UInt64(max(minimumItemSize, 1))
        if n > limit {
            throw GGUFError(.invalid, field: field(), offset: at, "count \(n) exceeds the limit of \(limit)")
        }
        if n > fits {
            throw GGUFError(.invalid, field: field(), offset: at,
                            "count \(n) of items of at least \(minimumItemSize) bytes cannot fit in the \(remaining) bytes that remain")
        }
        return Int(n)
    }

    /// A GGUF string: u64 length, then that many bytes of UTF-8.
    mutating func string(_ field: @autoclosure () -> String) throws(GGUFError) -> String {
        let at = offset
        let n = try count(field() + ".length", minimumItemSize: 1)
        let bytes = UnsafeRawBufferPointer(rebasing: file[position..<(position + n)])
        guard let s = String(validating: bytes, as: UTF8.self) else {
            throw GGUFError(.invalid, field: field(), offset: at, "string of \(n) bytes is not valid UTF-8")
        }
        position += n
        return s
    }

    /// The raw bytes of a GGUF string, for tokens that need not be valid UTF-8 on their own.
    mutating func stringBytes(_ field: @autoclosure () -> String) throws(GGUFError) -> [UInt8] {
        let n = try count(field() + ".length", minimumItemSize: 1)
        defer { position += n }
        return Array(file[position..<(position + n)])
    }

    mutating func skip(_ n: Int, _ field: @autoclosure () -> String) throws(GGUFError) {
        try need(n, field)
        position += n
    }
}
