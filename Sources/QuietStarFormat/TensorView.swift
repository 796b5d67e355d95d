/// A decoded tensor: typed shape plus its logical bytes.
///
/// `bytes` stay valid as long as this view (or any copy of it) lives: the view holds a strong
/// reference to whatever owns them (the file mapping for raw tensors, the decoded buffer for
/// zstd ones). Keep the view itself in a stored property or variable while using `bytes`, or
/// use `withUnsafeBytes` / `copyBytes`: a temporary view can be released right after `.bytes`
/// is read.
public struct TensorView: @unchecked Sendable {
    public let info: TensorInfo
    public var dtype: DType
    public var shape: [Int]
    public var elementCount: Int
    /// Logical (decoded) bytes, little-endian, row-major. Raw tensors are 64-byte aligned in
    /// the file and therefore in the page-aligned mapping.
    public let bytes: UnsafeRawBufferPointer
    private let owner: AnyObject

    init(info: TensorInfo, dtype: DType, shape: [Int], bytes: UnsafeRawBufferPointer, owner: AnyObject) {
        self.info = info
        self.dtype = dtype
        self.shape = shape
        self.elementCount = Int(info.elementCount)  // <= logical byte count <= Int.max
        self.bytes = bytes
        self.owner = owner
    }

    /// Runs `body` with the logical bytes while keeping their owner alive. Prefer this (or keep
    /// the view in a variable) over `Array(file.tensor(name).bytes)`, where the temporary view
    /// (and a decoded zstd buffer with it) may be released before the bytes are read.
    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        defer { withExtendedLifetime(owner) {} }
        return try body(bytes)
    }

    /// A copy of the logical bytes.
    public func copyBytes() -> [UInt8] {
        withUnsafeBytes { Array($0) }
    }

    /// All elements as Float (allocates; for tests and tools, not hot paths).
    public func toFloat32() throws(QStarError) -> [Float] {
        try checkFloating()
        var out = [Float](repeating: 0, count: elementCount)
        out.withUnsafeMutableBufferPointer { DTypeCodec.decode(bytes, dtype: dtype, into: $0) }
        withExtendedLifetime(owner) {}
        return out
    }

    /// Decodes `elements` into `into` (`into.count == elements.count`). For q8_0 both bounds
    /// must be multiples of 32 (blocks are the unit of decoding).
    public func decodeFloat32(elements: Range<Int>, into: UnsafeMutableBufferPointer<Float>) throws(QStarError) {
        try checkFloating()
        guard elements.lowerBound >= 0, elements.upperBound <= elementCount else {
            throw QStarError(.usage, field: info.name, "element range \(elements) is outside 0..<\(elementCount)")
        }
        guard into.count == elements.count else {
            throw QStarError(.usage, field: info.name, "destination holds \(into.count) floats for \(elements.count) elements")
        }
        let start: Int, end: Int
        if dtype == .q8_0 {
            let b = DTypeCodec.q8BlockSize
            guard elements.lowerBound % b == 0, elements.upperBound % b == 0 else {
                throw QStarError(.usage, field: info.name, "q8_0 ranges must start and end on 32-element blocks, got \(elements)")
            }
            start = elements.lowerBound / b * DTypeCodec.q8BlockBytes
            end = elements.upperBound / b * DTypeCodec.q8BlockBytes
        } else {
            let size = dtype.elementSize!
            start = elements.lowerBound * size
            end = elements.upperBound * size
        }
        DTypeCodec.decode(UnsafeRawBufferPointer(rebasing: bytes[start..<end]), dtype: dtype, into: into)
        withExtendedLifetime(owner) {}
    }

    private func checkFloating() throws(QStarError) {
        if !dtype.isFloatingPoint {
            throw QStarError(.usage, field: info.name, "\(dtype) is an integer type; read `bytes` instead of converting to Float")
        }
    }
}
