import Foundation
import QuietStarFormat

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

    /// Writes a model of `config` with every matrix in `dtype` (vectors stay f32) to `path`.
    /// `extraMetadata` (e.g. a tokenizer's `tokenizer.*` entries) is appended to the config's.
    public static func write(to path: String, config: ModelConfig, dtype: DType = .f32, seed: UInt64 = 0,
                             scales: Scales = Scales(),
                             extraMetadata: [(key: String, value: MetadataValue)] = []) throws(ModelError) {
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
            try matrix("token_embedding.weight", c.vocabSize, c.hiddenSize, scales.embedding)
            for l in 0..<c.layerCount {
                let p = "layers.\(l)."
                try vector(p + "attn_norm.weight", gains(c.hiddenSize))
                try matrix(p + "attn.q.weight", c.queryDim, c.hiddenSize, scales.matrix)
                try matrix(p + "attn.k.weight", c.kvDim, c.hiddenSize, scales.matrix)
                try matrix(p + "attn.v.weight", c.kvDim, c.hiddenSize, scales.matrix)
                if c.attentionBias {
                    try vector(p + "attn.q.bias", normal(c.queryDim, scales.bias))
                    try vector(p + "attn.k.bias", normal(c.kvDim, scales.bias))
                    try vector(p + "attn.v.bias", normal(c.kvDim, scales.bias))
                }
                try matrix(p + "attn.o.weight", c.hiddenSize, c.queryDim, scales.matrix)
                try vector(p + "ffn_norm.weight", gains(c.hiddenSize))
                try matrix(p + "ffn.gate.weight", c.intermediateSize, c.hiddenSize, scales.matrix)
                try matrix(p + "ffn.up.weight", c.intermediateSize, c.hiddenSize, scales.matrix)
                try matrix(p + "ffn.down.weight", c.hiddenSize, c.intermediateSize, scales.matrix)
            }
            try vector("output_norm.weight", gains(c.hiddenSize))
            if !c.tieEmbeddings { try matrix("output.weight", c.vocabSize, c.hiddenSize, scales.embedding) }
            try writer.finish(metadata: Metadata(c.metadataEntries + extraMetadata))
        } catch {
            throw ModelError(error)
        }
    }
}
