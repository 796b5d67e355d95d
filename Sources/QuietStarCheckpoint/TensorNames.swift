/// Every tensor name of a `.qstar` model with the shape its configuration implies (spec 12.6).
///
/// Shapes are outermost first; a linear layer's weight is `[out, in]` (PyTorch's layout). The
/// order of `model(_:)` is the order every writer emits tensors in: embedding, then layer by
/// layer (so a sharded source is read front to back), then the final norm and the output head.
public enum TensorNames {
    public static let embedding = "token_embedding.weight"
    public static let outputNorm = "output_norm.weight"
    /// Absent when `llama.tie_embeddings`: the output head is then the embedding.
    public static let output = "output.weight"

    /// The tensors of one decoder layer, after `layers.N.`, in writing order.
    public enum LayerPart: String, Sendable, CaseIterable {
        case attnNorm = "attn_norm.weight"
        case q = "attn.q.weight"
        case k = "attn.k.weight"
        case v = "attn.v.weight"
        /// Biases exist only with `llama.attention_bias` (Qwen2).
        case qBias = "attn.q.bias"
        case kBias = "attn.k.bias"
        case vBias = "attn.v.bias"
        case o = "attn.o.weight"
        case ffnNorm = "ffn_norm.weight"
        case gate = "ffn.gate.weight"
        case up = "ffn.up.weight"
        case down = "ffn.down.weight"

        public var isBias: Bool { self == .qBias || self == .kBias || self == .vBias }

        /// The shape this part has in a model of `config`.
        public func shape(_ c: ModelConfig) -> [Int] {
            switch self {
            case .attnNorm, .ffnNorm: [c.hiddenSize]
            case .q: [c.queryDim, c.hiddenSize]
            case .k, .v: [c.kvDim, c.hiddenSize]
            case .qBias: [c.queryDim]
            case .kBias, .vBias: [c.kvDim]
            case .o: [c.hiddenSize, c.queryDim]
            case .gate, .up: [c.intermediateSize, c.hiddenSize]
            case .down: [c.hiddenSize, c.intermediateSize]
            }
        }
    }

    /// `layers.N.<part>`.
    public static func layer(_ layer: Int, _ part: LayerPart) -> String { "layers.\(layer).\(part.rawValue)" }

    /// `layers.12.ffn.up.weight` -> (12, .up); nil for any other name (also "01" or "+1" as N).
    public static func parseLayer(_ name: String) -> (layer: Int, part: LayerPart)? {
        guard let (layer, rest) = splitLayer(name, prefix: "layers."), let part = LayerPart(rawValue: String(rest)) else {
            return nil
        }
        return (layer, part)
    }

    /// `<prefix>12.rest` -> (12, "rest"), with N in canonical decimal.
    public static func splitLayer(_ name: String, prefix: String) -> (Int, Substring)? {
        guard name.hasPrefix(prefix) else { return nil }
        let rest = name.dropFirst(prefix.count)
        guard let dot = rest.firstIndex(of: "."), dot != rest.startIndex else { return nil }
        let digits = rest[..<dot]
        guard digits.count <= 9, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
              digits == "0" || !digits.hasPrefix("0"), let layer = Int(digits) else { return nil }
        return (layer, rest[rest.index(after: dot)...])
    }

    /// A tensor name and its shape.
    public struct Entry: Sendable, Equatable {
        public var name: String
        public var shape: [Int]
        public init(name: String, shape: [Int]) {
            self.name = name
            self.shape = shape
        }
    }

    /// Every tensor of the plain model described by `config`, in writing order.
    public static func model(_ c: ModelConfig) -> [Entry] {
        var out = [Entry(name: embedding, shape: [c.vocabSize, c.hiddenSize])]
        for l in 0..<c.layerCount {
            for part in LayerPart.allCases where !part.isBias || c.attentionBias {
                out.append(Entry(name: layer(l, part), shape: part.shape(c)))
            }
        }
        out.append(Entry(name: outputNorm, shape: [c.hiddenSize]))
        if !c.tieEmbeddings { out.append(Entry(name: output, shape: [c.vocabSize, c.hiddenSize])) }
        return out
    }

    /// The tensors a Quiet-STaR model adds (spec 12.6): the effective start/end-of-thought input
    /// vectors (already multiplied by `quietstar.embedding_scale`) and the three-layer mixing head.
    public enum Thought: String, Sendable, CaseIterable {
        case startEmbedding = "thought.start_embedding"
        case endEmbedding = "thought.end_embedding"
        case mixing0Weight = "mixing_head.0.weight"
        case mixing0Bias = "mixing_head.0.bias"
        case mixing1Weight = "mixing_head.1.weight"
        case mixing1Bias = "mixing_head.1.bias"
        /// `[1, hidden]`, no bias: the head's scalar output `w`.
        case mixing2Weight = "mixing_head.2.weight"

        public func shape(_ c: ModelConfig) -> [Int] {
            let h = c.hiddenSize
            switch self {
            case .startEmbedding, .endEmbedding, .mixing0Bias, .mixing1Bias: return [h]
            case .mixing0Weight: return [h, 2 * h]
            case .mixing1Weight: return [h, h]
            case .mixing2Weight: return [1, h]
            }
        }
    }

    /// Every Quiet-STaR tensor with its shape, in writing order.
    public static func thought(_ c: ModelConfig) -> [Entry] {
        Thought.allCases.map { Entry(name: $0.rawValue, shape: $0.shape(c)) }
    }

    /// Tensor prefixes that mark thought parameters (reporting, grouping).
    public static let thoughtPrefixes = ["thought.", "mixing_head."]
}
