import Foundation
import QuietStarCheckpoint
import QuietStarFormat
import QuietStarTokenizer

/// Writes checkpoints with random weights for a given configuration: the models of tests and
/// benchmarks that must not depend on downloaded files. Deterministic for a seed.
public enum RandomModel {
    /// Scales of the random weights. The defaults (embeddings and matrices like the committed
    /// Hugging Face fixtures) give peaked, non-uniform next-token distributions.
    public struct Scales: Sendable {
        public var embedding: Float = 0.5
        public var matrix: Float = 0.15
        public var bias: Float = 0.1
        /// Norm gains are drawn uniformly in `1 ± normSpread`.
        public var normSpread: Float = 0.2
        public init() {}
    }

    /// The Quiet-STaR parameters `write` adds when asked: thought vectors, a mixing head scaled so
    /// that `w` lands around ±0.5, and the `quietstar.*` keys.
    public struct QuietStarParts: Sendable {
        public var startTokenId: Int32
        public var endTokenId: Int32
        public var thoughtTokens: Int
        public var output: MixingHead.Output
        public init(startTokenId: Int32, endTokenId: Int32, thoughtTokens: Int = 3, output: MixingHead.Output = .identity) {
            self.startTokenId = startTokenId
            self.endTokenId = endTokenId
            self.thoughtTokens = thoughtTokens
            self.output = output
        }
        /// The byte tokenizer's markers (`<|startthought|>` = 258, `<|endthought|>` = 259).
        public static let byteTokenizer = QuietStarParts(startTokenId: 258, endTokenId: 259)
    }

    /// `tokenizer.*` entries of the byte tokenizer (256 bytes + BOS, EOS and the two thought
    /// markers = 260 ids), for random models that need text in and out.
    public static var byteTokenizerMetadata: [(key: String, value: MetadataValue)] {
        TokenizerSpec.byteLevel().metadata.entries
    }

    /// Writes a model of `config` with every matrix in `dtype` (vectors stay f32) to `path`.
    /// `extraMetadata` (e.g. a tokenizer's `tokenizer.*` entries) is appended to the config's;
    /// `quietStar` adds thought parameters (spec names and `quietstar.*` keys).
    public static func write(to path: String, config: ModelConfig, dtype: DType = .f32, seed: UInt64 = 0,
                             scales: Scales = Scales(),
                             extraMetadata: [(key: String, value: MetadataValue)] = [],
                             quietStar: QuietStarParts? = nil) throws(ModelError) {
        var random = LineRandom(seed: seed, line: 0x5EED)
        func normal(_ count: Int, _ std: Float) -> [Float] {
            var out = [Float](repeating: 0, count: count)
            var i = 0
            while i < count {
                // Box-Muller: two independent normals per pair of uniforms.
                let u1 = max(random.nextUnit(), 1e-300), u2 = random.nextUnit()
                let r = (-2 * Foundation.log(u1)).squareRoot()
                out[i] = Float(r * Foundation.cos(2 * .pi * u2)) * std
                if i + 1 < count { out[i + 1] = Float(r * Foundation.sin(2 * .pi * u2)) * std }
                i += 2
            }
            return out
        }
        func gains(_ count: Int) -> [Float] {
            (0..<count).map { _ in 1 + scales.normSpread * Float(2 * random.nextUnit() - 1) }
        }

        let c = config
        do {
            let writer = try QStarWriter(path: path)
            func matrix(_ name: String, _ rows: Int, _ cols: Int, _ std: Float) throws(QStarError) {
                try writer.addTensor(name: name, dtype: dtype, shape: [rows, cols], float32: normal(rows * cols, std))
            }
            func vector(_ name: String, _ values: [Float]) throws(QStarError) {
                try writer.addTensor(name: name, dtype: .f32, shape: [values.count], float32: values)
            }
            // Every tensor in the conventions' order; matrices drawn at their scale, norm gains
            // around 1, biases small.
            for entry in TensorNames.model(c) {
                let isEmbedding = entry.name == TensorNames.embedding || entry.name == TensorNames.output
                if entry.shape.count == 2 {
                    try matrix(entry.name, entry.shape[0], entry.shape[1], isEmbedding ? scales.embedding : scales.matrix)
                } else if entry.name.hasSuffix(".bias") {
                    try vector(entry.name, normal(entry.shape[0], scales.bias))
                } else {
                    try vector(entry.name, gains(entry.shape[0]))
                }
            }
            var quietStarMetadata: [(key: String, value: MetadataValue)] = []
            if let q = quietStar {
                let h = c.hiddenSize, fan = Float(h).squareRoot()
                try vector(TensorNames.Thought.startEmbedding.rawValue, normal(h, scales.embedding))
                try vector(TensorNames.Thought.endEmbedding.rawValue, normal(h, scales.embedding))
                try matrix(TensorNames.Thought.mixing0Weight.rawValue, h, 2 * h, 1 / fan)
                try vector(TensorNames.Thought.mixing0Bias.rawValue, normal(h, scales.bias))
                try matrix(TensorNames.Thought.mixing1Weight.rawValue, h, h, 1.5 / fan)
                try vector(TensorNames.Thought.mixing1Bias.rawValue, normal(h, scales.bias))
                try matrix(TensorNames.Thought.mixing2Weight.rawValue, 1, h, 1 / fan)
                quietStarMetadata = QuietStarSettings(startTokenId: q.startTokenId, endTokenId: q.endTokenId,
                                                      thoughtTokens: q.thoughtTokens, embeddingScale: 1,
                                                      mixingHeadOutput: q.output).metadataEntries
            }
            try writer.finish(metadata: Metadata(c.metadataEntries + extraMetadata + quietStarMetadata))
        } catch {
            throw ModelError(error)
        }
    }
}
