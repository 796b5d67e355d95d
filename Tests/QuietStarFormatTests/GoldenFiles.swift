import Foundation
@testable import QuietStarFormat

/// Deterministic generators for the golden files in fixtures/format/golden/. The tests check
/// that the writer reproduces the committed files byte for byte and that the reader decodes
/// them to the values below. Regenerate with `QSTAR_WRITE_FIXTURES=1 swift test --filter Golden`.
enum GoldenFiles {
    /// The smallest useful checkpoint; walked through byte by byte in formats/qstar-v1.md.
    static func writeMinimal(to path: String) throws {
        let w = try QStarWriter(path: path)
        try w.addTensor(name: "w", dtype: .f32, shape: [2, 2], float32: [1, -2, 0.5, 3])
        try w.finish(metadata: Metadata([("general.name", .string("minimal"))]))
    }

    static let tinyEmbedding: [Float] = (0..<12).map { Float($0) * 0.25 - 1.5 }
    static let tinyNorm: [Float] = [1, 0.5, -2]
    static let tinyOutput: [Float] = [0.1, -0.2, 0.3, 1e-3, 65504, -7]
    static let tinyQ8: [Float] = (0..<64).map { Float(($0 * 37) % 29) - 14 }
    static let tinyZstd: [Float] = (0..<256).map { Float($0 % 8) }
    static let tinyIDs: [Int32] = [0, 1, -1, Int32.max, Int32.min]
    static let tinyCounts: [Int64] = [1 << 40, -3]
    static let tinyMask: UInt8 = 7

    static let tinyMetadata = Metadata([
        ("general.architecture", .string("llama")),
        ("general.name", .string("tiny golden")),
        ("llama.num_layers", .uint(1)),
        ("llama.rms_norm_eps", .float(1e-5)),
        ("llama.tie_embeddings", .bool(false)),
        ("test.signed", .int(-42)),
        ("tokenizer.tokens", .stringArray(["<s>", "</s>", "a", "é"])),
        ("train.rng_state", .uintArray([1, 2, UInt64.max])),
        ("test.floats", .floatArray([0.5, -1.25])),
        ("test.ints", .intArray([-1, 0, 1])),
        ("test.flags", .boolArray([true, false, true])),
    ])

    /// Several metadata types and tensors of several dtypes, one of them zstd.
    static func writeTiny(to path: String) throws {
        let w = try QStarWriter(path: path)
        try w.addTensor(name: "token_embedding.weight", dtype: .f32, shape: [4, 3], float32: tinyEmbedding)
        try w.addTensor(name: "layers.0.attn_norm.weight", dtype: .f16, shape: [3], float32: tinyNorm)
        try w.addTensor(name: "output.weight", dtype: .bf16, shape: [2, 3], float32: tinyOutput)
        try w.addTensor(name: "layers.0.ffn.down.weight", dtype: .q8_0, shape: [2, 32], float32: tinyQ8)
        try w.addTensor(name: "thought.start_embedding", dtype: .f32, shape: [256], encoding: .zstd, float32: tinyZstd)
        try tinyIDs.withUnsafeBytes { try w.addTensor(name: "test.ids", dtype: .i32, shape: [5], bytes: $0) }
        try tinyCounts.withUnsafeBytes { try w.addTensor(name: "test.counts", dtype: .i64, shape: [2], bytes: $0) }
        try withUnsafeBytes(of: tinyMask) { try w.addTensor(name: "test.mask", dtype: .u8, shape: [], bytes: $0) }
        try w.finish(metadata: tinyMetadata)
    }

    /// zstd output can change between libzstd releases; the golden tiny file was made with this
    /// one (ZSTD_versionNumber()). With another, the byte-for-byte check skips the zstd blob.
    static let zstdVersionOfGoldenFiles: UInt32 = 10504
}
