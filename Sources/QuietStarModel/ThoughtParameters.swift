import QuietStarFormat
import QuietStarKernels

/// What a Quiet-STaR checkpoint adds to a language model: the thought marker ids, the effective
/// start/end-of-thought input vectors, and the mixing head (spec: `formats/qstar-v1.md`,
/// "Conventions", `quietstar.*` and `thought.*` / `mixing_head.*`).
public final class ThoughtParameters: @unchecked Sendable {
    /// `<|startthought|>` and `<|endthought|>`: never sampled, neither inside a thought nor as output.
    public let startTokenId: Int32
    public let endTokenId: Int32
    /// `quietstar.thought_tokens`: the number of content tokens per thought the model was trained with.
    public let defaultThoughtTokens: Int
    /// The vectors fed for the start and end markers (`hidden` floats each; already scaled, so
    /// they replace the token embedding row as is).
    public let startEmbedding: UnsafePointer<Float>
    public let endEmbedding: UnsafePointer<Float>
    public let mixingHead: MixingHead
    private let owners: [AnyObject]

    public init(startTokenId: Int32, endTokenId: Int32, defaultThoughtTokens: Int,
                startEmbedding: UnsafePointer<Float>, endEmbedding: UnsafePointer<Float>,
                mixingHead: MixingHead, owners: [AnyObject]) {
        self.startTokenId = startTokenId
        self.endTokenId = endTokenId
        self.defaultThoughtTokens = defaultThoughtTokens
        self.startEmbedding = startEmbedding
        self.endEmbedding = endEmbedding
        self.mixingHead = mixingHead
        self.owners = owners
    }

    /// The token ids that must never be sampled.
    public var markerIds: [Int32] { [startTokenId, endTokenId] }

    /// Reads the thought parameters of `file`; nil when the checkpoint has none (a plain model:
    /// no `thought.start_embedding` and no `quietstar.*` keys). A checkpoint with some of them but
    /// not all, or with unsupported settings, is an error naming what is wrong.
    public static func load(file: QStarFile, config: ModelConfig) throws(ModelError) -> ThoughtParameters? {
        let meta = file.metadata
        let keys = ["quietstar.start_thought_token_id", "quietstar.end_thought_token_id"]
        let tensors = ["thought.start_embedding", "thought.end_embedding", "mixing_head.0.weight", "mixing_head.0.bias",
                       "mixing_head.1.weight", "mixing_head.1.bias", "mixing_head.2.weight"]
        let presentKeys = keys.filter { meta.contains($0) }
        let presentTensors = tensors.filter { file.info($0) != nil }
        if presentKeys.isEmpty && presentTensors.isEmpty { return nil }
        let missing = keys.filter { !meta.contains($0) }.map { "metadata \($0)" }
            + tensors.filter { file.info($0) == nil }.map { "tensor \($0)" }
        guard missing.isEmpty else {
            throw ModelError(.invalidModel, "\(file.path): incomplete Quiet-STaR checkpoint: \(missing.joined(separator: ", ")) missing (a Quiet-STaR model needs all of \(keys + tensors))")
        }
        let h = config.hiddenSize, vocab = config.vocabSize
        func id(_ key: String) throws(ModelError) -> Int32 {
            let v: UInt64
            do { v = try meta.uint(key) } catch { throw ModelError(error) }
            guard v < UInt64(vocab) else {
                throw ModelError(.invalidModel, "\(file.path): metadata \(key) = \(v) is not below llama.vocab_size = \(vocab)")
            }
            return Int32(v)
        }
        let start = try id("quietstar.start_thought_token_id"), end = try id("quietstar.end_thought_token_id")
        guard start != end else {
            throw ModelError(.invalidModel, "\(file.path): quietstar.start_thought_token_id and quietstar.end_thought_token_id are both \(start)")
        }
        /// Metadata reads with the container's error (naming key and file) as a model error.
        func uint(_ key: String) throws(ModelError) -> UInt64? {
            do { return try meta.uintIfPresent(key) } catch { throw ModelError(error) }
        }
        func string(_ key: String) throws(ModelError) -> String? {
            do { return try meta.stringIfPresent(key) } catch { throw ModelError(error) }
        }
        // Without the key: 5, the length of the published "8-ahead" model's thoughts.
        let k = try uint("quietstar.thought_tokens") ?? 5
        guard k <= UInt64(ThoughtOptions.maxThoughtTokens) else {
            throw ModelError(.invalidModel, "\(file.path): metadata quietstar.thought_tokens = \(k) is above \(ThoughtOptions.maxThoughtTokens)")
        }
        if let layers = try uint("quietstar.mixing_head.hidden_layers"), layers != 2 {
            throw ModelError(.invalidModel, "\(file.path): metadata quietstar.mixing_head.hidden_layers = \(layers) is not supported (only 2)")
        }
        if let input = try string("quietstar.mixing_head.input"), input != "concat_base_thought" {
            throw ModelError(.invalidModel, "\(file.path): metadata quietstar.mixing_head.input = \"\(input)\" is not supported (only \"concat_base_thought\")")
        }
        let outputName = try string("quietstar.mixing_head.output") ?? "identity"
        guard let output = MixingHead.Output(rawValue: outputName) else {
            throw ModelError(.invalidModel, "\(file.path): metadata quietstar.mixing_head.output = \"\(outputName)\" is not supported (\"identity\" or \"sigmoid\")")
        }

        let vectors = VectorArena()
        var views: [TensorView] = []
        func view(_ name: String, _ shape: [Int]) throws(ModelError) -> TensorView {
            let info = file.info(name)!
            guard info.shape.count == shape.count, zip(info.shape, shape).allSatisfy({ $0 == UInt64($1) }) else {
                throw ModelError(.invalidModel, "\(file.path): tensor \(name) has shape \(info.shape), expected \(shape) (llama.hidden_size = \(h))")
            }
            guard let dtype = info.dtype, dtype.isFloatingPoint else {
                throw ModelError(.invalidModel, "\(file.path): tensor \(name) has dtype \(info.dtype?.name ?? "code \(info.dtypeCode)"), expected a float dtype")
            }
            do {
                let t = try file.tensor(info)
                views.append(t)
                return t
            } catch { throw ModelError(error) }
        }
        func vector(_ name: String, _ count: Int) throws(ModelError) -> UnsafePointer<Float> {
            let t = try view(name, [count])
            let out = vectors.allocate(count)
            do { try t.decodeFloat32(elements: 0..<count, into: UnsafeMutableBufferPointer(start: out, count: count)) }
            catch { throw ModelError(error) }
            return UnsafePointer(out)
        }
        func matrix(_ name: String, _ rows: Int, _ cols: Int) throws(ModelError) -> WeightMatrix {
            let t = try view(name, [rows, cols])
            return WeightMatrix(encoding: try WeightEncoding(t.dtype, tensor: name), rows: rows, cols: cols, base: t.bytes.baseAddress!)
        }
        let head = MixingHead(hiddenSize: h, w0: try matrix("mixing_head.0.weight", h, 2 * h), b0: try vector("mixing_head.0.bias", h),
                              w1: try matrix("mixing_head.1.weight", h, h), b1: try vector("mixing_head.1.bias", h),
                              w2: try matrix("mixing_head.2.weight", 1, h), output: output)
        return ThoughtParameters(startTokenId: start, endTokenId: end, defaultThoughtTokens: Int(k),
                                 startEmbedding: try vector("thought.start_embedding", h),
                                 endEmbedding: try vector("thought.end_embedding", h),
                                 mixingHead: head, owners: [file, vectors, ViewsOwner(views)])
    }

    /// Opens `path` and reads its thought parameters (nil for a plain model).
    public static func load(path: String, config: ModelConfig) throws(ModelError) -> ThoughtParameters? {
        let file: QStarFile
        do { file = try QStarFile.open(path: path) } catch { throw ModelError(error) }
        return try load(file: file, config: config)
    }
}

private final class ViewsOwner {
    let views: [TensorView]
    init(_ views: [TensorView]) { self.views = views }
}

/// How thoughts are made.
public struct ThoughtOptions: Sendable, Equatable {
    /// Upper bound on content tokens per thought (the published models use 5-9).
    public static let maxThoughtTokens = 256

    /// Content tokens per thought (k), between the start and end markers.
    public var thoughtTokens: Int
    /// Temperature of content-token sampling: 1 as in the reference (a hard Gumbel sample is a
    /// temperature-1 sample); 0 is greedy, exactly reproducible across implementations.
    public var temperature: Double = 1
    /// Seeds the thought generators, one per (seed, line, position, pass).
    public var seed: UInt64 = 0
    /// Scoring only: independent thoughts per position; the mixed probability is their mean.
    public var passes: Int = 1

    public init(thoughtTokens: Int, temperature: Double = 1, seed: UInt64 = 0, passes: Int = 1) {
        self.thoughtTokens = thoughtTokens
        self.temperature = temperature
        self.seed = seed
        self.passes = passes
    }

    public func validate() throws(ModelError) {
        guard thoughtTokens >= 0, thoughtTokens <= Self.maxThoughtTokens else {
            throw ModelError(.invalidArgument, "--thought-tokens must be in 0...\(Self.maxThoughtTokens), got \(thoughtTokens)")
        }
        guard temperature.isFinite, temperature >= 0 else {
            throw ModelError(.invalidArgument, "--thought-temperature must be 0 (greedy) or positive, got \(temperature)")
        }
        guard passes >= 1, passes <= 64 else {
            throw ModelError(.invalidArgument, "--thoughts-per-position must be in 1...64, got \(passes)")
        }
    }

    /// Forward steps per thought: start, k content tokens, end.
    public var steps: Int { thoughtTokens + 2 }
}

/// The generator of one thought stream, seeded by (seed, line, text position, pass), so a thought
/// draws the same numbers however lines are batched, sharded or split into steps.
public enum ThoughtRandom {
    public static func stream(seed: UInt64, line: Int, position: Int, pass: Int) -> LineRandom {
        // A hash chain through SplitMix64: each coordinate is mixed in after the previous ones
        // are fully diffused, so neighbouring (line, position, pass) triples are unrelated.
        var a = SplitMix64(state: seed ^ 0x7468_6F75_6768_7473)   // "thoughts"
        var b = SplitMix64(state: a.next() ^ UInt64(truncatingIfNeeded: line))
        var c = SplitMix64(state: b.next() ^ UInt64(truncatingIfNeeded: position))
        return LineRandom(seed: c.next(), line: UInt64(truncatingIfNeeded: pass))
    }
}
