import QuietStarCheckpoint
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
    /// no `thought.*` / `mixing_head.*` tensors and no `quietstar.*` marker keys). A checkpoint
    /// with some of them but not all, or with unsupported settings, is an error naming what is wrong.
    public static func load(file: QStarFile, config: ModelConfig) throws(ModelError) -> ThoughtParameters? {
        let meta = file.metadata
        let keys = QuietStarSettings.requiredKeys
        let tensors = TensorNames.Thought.allCases
        if !QuietStarSettings.present(in: meta) && !tensors.contains(where: { file.info($0.rawValue) != nil }) { return nil }
        let missing = keys.filter { !meta.contains($0) }.map { "metadata \($0)" }
            + tensors.filter { file.info($0.rawValue) == nil }.map { "tensor \($0.rawValue)" }
        guard missing.isEmpty else {
            throw ModelError(.invalidModel, "\(file.path): incomplete Quiet-STaR checkpoint: \(missing.joined(separator: ", ")) missing (a Quiet-STaR model needs all of \(keys + tensors.map(\.rawValue)))")
        }
        let settings: QuietStarSettings
        do { settings = try QuietStarSettings(metadata: meta, vocabSize: config.vocabSize) } catch {
            throw ModelError(.invalidModel, "\(file.path): \(error.message)")
        }

        let vectors = VectorArena()
        var views: [TensorView] = []
        func view(_ tensor: TensorNames.Thought) throws(ModelError) -> TensorView {
            let name = tensor.rawValue, shape = tensor.shape(config)
            let info = file.info(name)!
            guard info.shape.count == shape.count, zip(info.shape, shape).allSatisfy({ $0 == UInt64($1) }) else {
                throw ModelError(.invalidModel, "\(file.path): tensor \(name) has shape \(info.shape), expected \(shape) (llama.hidden_size = \(config.hiddenSize))")
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
        func vector(_ tensor: TensorNames.Thought) throws(ModelError) -> UnsafePointer<Float> {
            let t = try view(tensor), count = config.hiddenSize
            let out = vectors.allocate(count)
            do { try t.decodeFloat32(elements: 0..<count, into: UnsafeMutableBufferPointer(start: out, count: count)) }
            catch { throw ModelError(error) }
            return UnsafePointer(out)
        }
        func matrix(_ tensor: TensorNames.Thought) throws(ModelError) -> WeightMatrix {
            let t = try view(tensor), shape = tensor.shape(config)
            return WeightMatrix(encoding: try WeightEncoding(t.dtype, tensor: tensor.rawValue), rows: shape[0], cols: shape[1],
                                base: t.bytes.baseAddress!)
        }
        let head = MixingHead(hiddenSize: config.hiddenSize, w0: try matrix(.mixing0Weight), b0: try vector(.mixing0Bias),
                              w1: try matrix(.mixing1Weight), b1: try vector(.mixing1Bias), w2: try matrix(.mixing2Weight),
                              output: settings.mixingHeadOutput)
        return ThoughtParameters(startTokenId: settings.startTokenId, endTokenId: settings.endTokenId,
                                 defaultThoughtTokens: settings.thoughtTokens,
                                 startEmbedding: try vector(.startEmbedding), endEmbedding: try vector(.endEmbedding),
                                 mixingHead: head, owners: [file, vectors, ViewsOwner(views)])
    }
}

private final class ViewsOwner {
    let views: [TensorView]
    init(_ views: [TensorView]) { self.views = views }
}

/// How thoughts are made.
public struct ThoughtOptions: Sendable, Equatable {
    /// Upper bound on content tokens per thought (the published models use 5-9).
    public static let maxThoughtTokens = QuietStarSettings.maxThoughtTokens

    /// Content tokens per thought (k), between the start and end markers.
    public var thoughtTokens: Int
    /// Temperature of content-token sampling: 1 as in the reference (a hard Gumbel sample is a
    /// temperature-1 sample); 0 is greedy, exactly reproducible across implementations.
    public var temperature: Double = 1
    /// Seeds the thought generators, one per (seed, line, position, pass).
    public var seed: UInt64 = 0
    /// Scoring only: independent thoughts per position; the mixed probability is their mean.
    public var passes: Int = 1
    /// Which positions think (adaptive thinking); the rest keep their base prediction.
    public var when: ThinkWhen = .always

    public init(thoughtTokens: Int, temperature: Double = 1, seed: UInt64 = 0, passes: Int = 1, when: ThinkWhen = .always) {
        self.thoughtTokens = thoughtTokens
        self.temperature = temperature
        self.seed = seed
        self.passes = passes
        self.when = when
    }

    public func validate() throws(ModelError) {
        guard thoughtTokens >= 0, thoughtTokens <= Self.maxThoughtTokens else {
            throw .invalidOption("thoughtTokens", "must be in 0...\(Self.maxThoughtTokens), got \(thoughtTokens)", in: "ThoughtOptions")
        }
        guard temperature.isFinite, temperature >= 0 else {
            throw .invalidOption("temperature", "must be 0 (greedy) or positive, got \(temperature)", in: "ThoughtOptions")
        }
        guard passes >= 1, passes <= 64 else {
            throw .invalidOption("passes", "must be in 1...64, got \(passes)", in: "ThoughtOptions")
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
