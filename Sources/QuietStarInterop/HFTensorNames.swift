import QuietStarCheckpoint

/// The one place that knows how Hugging Face state-dict names map onto `.qstar` tensor names.
///
/// ```
/// model.embed_tokens.weight                          token_embedding.weight
/// model.layers.N.input_layernorm.weight              layers.N.attn_norm.weight
/// model.layers.N.self_attn.{q,k,v,o}_proj.weight     layers.N.attn.{q,k,v,o}.weight
/// model.layers.N.self_attn.{q,k,v}_proj.bias         layers.N.attn.{q,k,v}.bias
/// model.layers.N.post_attention_layernorm.weight     layers.N.ffn_norm.weight
/// model.layers.N.mlp.{gate,up,down}_proj.weight      layers.N.ffn.{gate,up,down}.weight
/// model.norm.weight                                  output_norm.weight
/// lm_head.weight                                     output.weight   (absent when tied)
/// ```
/// Both use PyTorch's [out, in] layout for linear weights, so no tensor is transposed.
public enum HFTensorNames {
    /// A model tensor: both names and the shape the config implies.
    public struct Entry: Sendable, Equatable {
        public var qstarName: String
        public var hfName: String
        public var shape: [UInt64]
    }

    private typealias Names = (hf: String, qstar: String)

    private static let embedding: Names = ("model.embed_tokens.weight", TensorNames.embedding)
    private static let finalNorm: Names = ("model.norm.weight", TensorNames.outputNorm)
    private static let outputHead: Names = ("lm_head.weight", TensorNames.output)
    /// The tensors outside the layers.
    private static let globalParts = [embedding, finalNorm, outputHead]

    /// The tensors of one layer, after `model.layers.N.` / `layers.N.`.
    private static let layerParts: [Names] = [
        ("input_layernorm.weight", TensorNames.LayerPart.attnNorm.rawValue),
        ("self_attn.q_proj.weight", TensorNames.LayerPart.q.rawValue),
        ("self_attn.k_proj.weight", TensorNames.LayerPart.k.rawValue),
        ("self_attn.v_proj.weight", TensorNames.LayerPart.v.rawValue),
        ("self_attn.q_proj.bias", TensorNames.LayerPart.qBias.rawValue),
        ("self_attn.k_proj.bias", TensorNames.LayerPart.kBias.rawValue),
        ("self_attn.v_proj.bias", TensorNames.LayerPart.vBias.rawValue),
        ("self_attn.o_proj.weight", TensorNames.LayerPart.o.rawValue),
        ("post_attention_layernorm.weight", TensorNames.LayerPart.ffnNorm.rawValue),
        ("mlp.gate_proj.weight", TensorNames.LayerPart.gate.rawValue),
        ("mlp.up_proj.weight", TensorNames.LayerPart.up.rawValue),
        ("mlp.down_proj.weight", TensorNames.LayerPart.down.rawValue),
    ]

    /// Every tensor the model described by `config` needs, in the order we write them:
    /// embedding, then layer by layer (the order checkpoints are sharded in, so a sharded
    /// source is read front to back), then the final norm and the output head.
    public static func expectedTensors(_ config: HFModelConfig) -> [Entry] {
        let h = config.hiddenSize, q = config.numHeads * config.headDim, kv = config.numKVHeads * config.headDim
        let ffn = config.intermediateSize
        var out = [Entry(qstarName: embedding.qstar, hfName: embedding.hf, shape: [config.vocabSize, h])]
        for layer in 0..<config.numLayers {
            for part in layerParts {
                let shape: [UInt64]
                switch part.qstar {
                case "attn_norm.weight", "ffn_norm.weight": shape = [h]
                case "attn.q.weight": shape = [q, h]
                case "attn.k.weight", "attn.v.weight": shape = [kv, h]
                case "attn.q.bias": shape = [q]
                case "attn.k.bias", "attn.v.bias": shape = [kv]
                case "attn.o.weight": shape = [h, q]
                case "ffn.gate.weight", "ffn.up.weight": shape = [ffn, h]
                default: shape = [h, ffn]  // ffn.down.weight
                }
                if part.qstar.hasSuffix(".bias") && !config.attentionBias { continue }
                out.append(Entry(qstarName: "layers.\(layer).\(part.qstar)",
                                 hfName: "model.layers.\(layer).\(part.hf)", shape: shape))
            }
        }
        out.append(Entry(qstarName: finalNorm.qstar, hfName: finalNorm.hf, shape: [h]))
        if !config.tieEmbeddings {
            out.append(Entry(qstarName: outputHead.qstar, hfName: outputHead.hf, shape: [config.vocabSize, h]))
        }
        return out
    }

    /// The `.qstar` name of a Hugging Face model tensor, or nil when it is not one.
    public static func qstarName(forHF name: String) -> String? {
        translate(name, from: { $0.hf }, to: { $0.qstar }, layersFrom: "model.layers.", layersTo: "layers.")
    }

    /// The Hugging Face name of a `.qstar` model tensor, or nil when it is not one.
    public static func hfName(forQStar name: String) -> String? {
        translate(name, from: { $0.qstar }, to: { $0.hf }, layersFrom: "layers.", layersTo: "model.layers.")
    }

    /// One direction of the tables above.
    private static func translate(_ name: String, from: (Names) -> String, to: (Names) -> String,
                                  layersFrom: String, layersTo: String) -> String? {
        if let global = globalParts.first(where: { from($0) == name }) { return to(global) }
        guard let (layer, rest) = splitLayer(name, prefix: layersFrom),
              let part = layerParts.first(where: { from($0) == rest }) else { return nil }
        return "\(layersTo)\(layer).\(to(part))"
    }

    /// `model.layers.12.mlp.up_proj.weight` -> (12, "mlp.up_proj.weight"). Rejects "01", "+1".
    private static func splitLayer(_ name: String, prefix: String) -> (UInt64, Substring)? {
        guard name.hasPrefix(prefix) else { return nil }
        let rest = name.dropFirst(prefix.count)
        guard let dot = rest.firstIndex(of: "."), dot != rest.startIndex else { return nil }
        let digits = rest[..<dot]
        guard digits.allSatisfy({ $0.isASCII && $0.isNumber }),
              digits == "0" || !digits.hasPrefix("0"), let layer = UInt64(digits) else { return nil }
        return (layer, rest[rest.index(after: dot)...])
    }
}
