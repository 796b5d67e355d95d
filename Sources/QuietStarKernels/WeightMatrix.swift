/// How the elements of a weight row lie in memory. The kernels read these four layouts directly;
/// which checkpoint dtype maps to which is the model's business (Kernels knows no file format).
public enum WeightEncoding: String, Sendable, CaseIterable, CustomStringConvertible {
    case f32, f16, bf16
    /// Blocks of 32 elements: an f16 scale, then 32 int8 values (34 bytes).
    case q8_0

    public var description: String { rawValue }
}

/// A weight matrix as a checkpoint stores it: a zero-copy view of `rows x cols` elements in
/// `encoding`, row-major. For `q8_0` each row is `cols / 32` blocks of 34 bytes (an f16 scale,
/// then 32 int8), so a row never shares a block with the next one.
///
/// The view does not own its bytes: whoever made it (a mapped checkpoint, a test buffer) keeps them
/// alive for as long as the view is used.
public struct WeightMatrix: @unchecked Sendable {
    public let encoding: WeightEncoding
    public let rows: Int
    public let cols: Int
    public let base: UnsafeRawPointer

    public init(encoding: WeightEncoding, rows: Int, cols: Int, base: UnsafeRawPointer) {
        precondition(rows >= 0 && cols >= 0, "WeightMatrix: negative shape \(rows) x \(cols)")
        precondition(encoding != .q8_0 || cols % Convert.q8BlockSize == 0,
                     "WeightMatrix: q8_0 rows must be a multiple of 32 columns, got \(cols)")
        self.encoding = encoding
        self.rows = rows
        self.cols = cols
        self.base = base
    }

    /// Bytes of one row.
    public var rowBytes: Int { Convert.byteCount(encoding, count: cols) }

    /// Bytes of the whole matrix.
    public var byteCount: Int { rowBytes * rows }

    /// The first byte of row `r`.
    @inline(__always)
    public func row(_ r: Int) -> UnsafeRawPointer { base + r * rowBytes }
}
