/// The ggml tensor types this reader understands, with their block geometry.
///
/// A row of `n` values of a block type takes `n / blockSize * blockBytes` bytes, and `n` must be
/// a multiple of `blockSize`. Codes are ggml's (`GGML_TYPE_*`); a code not listed here is refused
/// by name with its number, never guessed at.
public enum GGMLType: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8
    case q4_K = 12, q5_K = 13, q6_K = 14, bf16 = 30

    public var name: String {
        switch self {
        case .f32: "F32"
        case .f16: "F16"
        case .bf16: "BF16"
        case .q4_0: "Q4_0"
        case .q4_1: "Q4_1"
        case .q5_0: "Q5_0"
        case .q5_1: "Q5_1"
        case .q8_0: "Q8_0"
        case .q4_K: "Q4_K"
        case .q5_K: "Q5_K"
        case .q6_K: "Q6_K"
        }
    }

    public var description: String { name }

    /// Values per block (1 for the plain float types).
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16: 1
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0: 32
        case .q4_K, .q5_K, .q6_K: 256
        }
    }

    /// Bytes per block.
    public var blockBytes: Int {
        switch self {
        case .f32: 4
        case .f16, .bf16: 2
        case .q4_0: 2 + 16
        case .q4_1: 2 + 2 + 16
        case .q5_0: 2 + 4 + 16
        case .q5_1: 2 + 2 + 4 + 16
        case .q8_0: 2 + 32
        case .q4_K: 2 + 2 + 12 + 128
        case .q5_K: 2 + 2 + 12 + 32 + 128
        case .q6_K: 128 + 64 + 16 + 2
        }
    }

    public var isQuantized: Bool { blockSize > 1 }

    /// Bytes of a row of `count` values, or nil when `count` is not a whole number of blocks.
    public func rowBytes(_ count: UInt64) -> UInt64? {
        let b = UInt64(blockSize)
        guard count % b == 0 else { return nil }
        let (n, o) = (count / b).multipliedReportingOverflow(by: UInt64(blockBytes))
        return o ? nil : n
    }
}
