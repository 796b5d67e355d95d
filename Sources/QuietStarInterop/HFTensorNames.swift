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

    /// Every tensor the model described by `config` needs, in `TensorNames.model`'s order, with
    /// both names.
    public static func expectedTensors(_ config: ModelConfig) -> [Entry] {
        TensorNames.model(config).map { e in
            Entry(qstarName: e.name, hfName: hfName(forQStar: e.name)!, shape: e.shape.map { UInt64($0) })
        }
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
        guard let (layer, rest) = TensorNames.splitLayer(name, prefix: layersFrom),
              let part = layerParts.first(where: { from($0) == rest }) else { return nil }
        return "\(layersTo)\(layer).\(to(part))"
    }
}
