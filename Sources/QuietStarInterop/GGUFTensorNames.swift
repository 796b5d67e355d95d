import QuietStarCheckpoint

/// The one place that knows how llama.cpp's tensor names map onto `.qstar` tensor names.
///
/// ```
/// token_embd.weight                     token_embedding.weight
/// blk.N.attn_norm.weight                layers.N.attn_norm.weight
/// blk.N.attn_{q,k,v}.{weight,bias}      layers.N.attn.{q,k,v}.{weight,bias}
/// blk.N.attn_output.weight              layers.N.attn.o.weight
/// blk.N.ffn_norm.weight                 layers.N.ffn_norm.weight
/// blk.N.ffn_{gate,up,down}.weight       layers.N.ffn.{gate,up,down}.weight
/// output_norm.weight                    output_norm.weight
/// output.weight                         output.weight   (absent when tied)
/// ```
/// GGUF lists dimensions innermost first (`ne[0]` is a row's length), so a linear weight is
/// `[in, out]` there and `[out, in]` here: the same bytes, the dimension list reversed.
public enum GGUFTensorNames {
    private static let globals: [(gguf: String, qstar: String)] = [
        ("token_embd.weight", TensorNames.embedding),
        ("output_norm.weight", TensorNames.outputNorm),
        ("output.weight", TensorNames.output),
    ]

    private static let layerParts: [(gguf: String, qstar: TensorNames.LayerPart)] = [
        ("attn_norm.weight", .attnNorm), ("attn_q.weight", .q), ("attn_k.weight", .k), ("attn_v.weight", .v),
        ("attn_q.bias", .qBias), ("attn_k.bias", .kBias), ("attn_v.bias", .vBias), ("attn_output.weight", .o),
        ("ffn_norm.weight", .ffnNorm), ("ffn_gate.weight", .gate), ("ffn_up.weight", .up), ("ffn_down.weight", .down),
    ]

    /// The GGUF name of a `.qstar` model tensor, or nil when it is not one.
    public static func ggufName(forQStar name: String) -> String? {
        if let g = globals.first(where: { $0.qstar == name }) { return g.gguf }
        guard let (layer, part) = TensorNames.parseLayer(name),
              let p = layerParts.first(where: { $0.qstar == part }) else { return nil }
        return "blk.\(layer).\(p.gguf)"
    }

    /// The `.qstar` name of a GGUF model tensor, or nil when it is not one.
    public static func qstarName(forGGUF name: String) -> String? {
        if let g = globals.first(where: { $0.gguf == name }) { return g.qstar }
        guard let (layer, rest) = TensorNames.splitLayer(name, prefix: "blk."),
              let p = layerParts.first(where: { $0.gguf == rest }) else { return nil }
        return TensorNames.layer(layer, p.qstar)
    }
}
