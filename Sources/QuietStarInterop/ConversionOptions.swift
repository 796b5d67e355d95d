import QuietStarFormat
import QuietStarJSON

/// What a conversion should produce.
public struct ConversionOptions: Sendable {
    /// Storage dtype for weight matrices; nil keeps each tensor's own dtype (lossless).
    /// See `DTypePolicy` for which tensors it applies to.
    public var dtype: DType?
    /// How tensors are stored in a `.qstar` output; nil (recode only) keeps each tensor's own.
    public var compression: TensorEncoding?
    /// Unknown `config.json` keys become warnings instead of errors.
    public var ignoreUnknownConfigKeys: Bool
    /// `quietstar.thought_tokens` for an imported Quiet-STaR checkpoint.
    public var thoughtTokens: UInt64
    /// Largest safetensors shard `convertToHF` writes (bytes of tensor data); a tensor larger
    /// than this gets a shard of its own.
    public var maxShardBytes: UInt64
    /// Level passed to zstd.
    public var compressionLevel: Int32

    public init(dtype: DType? = nil, compression: TensorEncoding? = nil, ignoreUnknownConfigKeys: Bool = false,
                thoughtTokens: UInt64 = QuietStarLayout.defaultThoughtTokens,
                maxShardBytes: UInt64 = 5_000_000_000, compressionLevel: Int32 = 3) {
        self.dtype = dtype
        self.compression = compression
        self.ignoreUnknownConfigKeys = ignoreUnknownConfigKeys
        self.thoughtTokens = thoughtTokens
        self.maxShardBytes = maxShardBytes
        self.compressionLevel = compressionLevel
    }
}

/// Which dtype each tensor is stored in when a dtype is requested.
///
/// - Weight matrices (rank >= 2) take the requested dtype. q8_0 needs the innermost dimension
///   to be a multiple of 32; a matrix that is not is kept in f32 (and reported).
/// - Vectors (norm weights, biases, thought embeddings) stay f32: they are a rounding error of
///   the file size, and RMSNorm gains and biases are where low precision hurts first
///   (llama.cpp makes the same choice). f32 holds f16/bf16 sources exactly.
/// - Optimizer moments (`optimizer.*`) and integer tensors are never changed.
/// - Without a requested dtype every tensor keeps its dtype (f64 sources become f32).
public enum DTypePolicy {
    public static func target(requested: DType?, source: DType, shape: [UInt64], name: String) -> DType {
        guard source.isFloatingPoint, !name.hasPrefix("optimizer.") else { return source }
        guard let requested else { return source }
        if shape.count < 2 { return .f32 }
        if requested == .q8_0 {
            guard let inner = shape.last, inner > 0, inner % UInt64(DTypeCodec.q8BlockSize) == 0 else { return .f32 }
        }
        return requested
    }
}

/// Where a running conversion is, for progress displays.
public struct ConversionProgress: Sendable {
    /// 0-based index of the tensor being written, and how many there are.
    public var tensorIndex: Int
    public var tensorCount: Int
    public var tensorName: String
    /// Source bytes converted so far and in total.
    public var bytesDone: UInt64
    public var bytesTotal: UInt64
    /// Seconds since the conversion started.
    public var elapsed: Double
}

/// What a finished conversion did.
public struct ConversionReport: Sendable {
    public var output: String
    public var tensorCount: Int
    /// Logical source bytes read and bytes written to the output.
    public var bytesRead: UInt64
    public var bytesWritten: UInt64
    /// How many tensors ended up in each dtype ("f32": 12, ...), sorted by name.
    public var dtypeCounts: [(dtype: String, count: Int)]
    /// Whether thought parameters were found and converted.
    public var quietStar: Bool
    /// Things the user should know that are not problems ("lm_head.weight ignored: tied").
    public var notes: [String]
    /// Things that may be problems (ignored unknown config keys).
    public var warnings: [String]
    public var seconds: Double

    /// A JSON summary (for `--json`).
    public var json: JSONValue {
        .object([
            ("output", .string(output)),
            ("tensors", .integer(tensorCount)),
            ("bytes_read", .integer(bytesRead)),
            ("bytes_written", .integer(bytesWritten)),
            ("dtypes", .object(dtypeCounts.map { ($0.dtype, JSONValue.integer($0.count)) })),
            ("quietstar", .bool(quietStar)),
            ("notes", .array(notes.map { .string($0) })),
            ("warnings", .array(warnings.map { .string($0) })),
            ("seconds", .double((seconds * 1000).rounded() / 1000)),
        ])
    }
}

/// Counts tensors per dtype for the report.
struct DTypeTally {
    private var counts: [String: Int] = [:]
    mutating func add(_ dtype: String) { counts[dtype, default: 0] += 1 }
    var sorted: [(dtype: String, count: Int)] { counts.sorted { $0.key < $1.key }.map { ($0.key, $0.value) } }
}
