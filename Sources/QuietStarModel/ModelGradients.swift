import QuietStarCheckpoint

/// Where `Transformer.backward` adds the gradient of each parameter: one f32 buffer per tensor of
/// `ModelWeights`, same shapes, row-major. Gradients accumulate (`+=`), so the caller zeroes them
/// before a step and may run several backward passes (gradient accumulation) into the same ones.
///
/// The trainer owns the storage (one contiguous block in `TensorNames.model` order) and builds this
/// view over it; a tied model has no `output` gradient: the LM head's gradient lands in
/// `embedding`, which is then the sum of the lookup's and the head's contributions.
public struct LayerGradients: @unchecked Sendable {
    public var attnNorm: UnsafeMutablePointer<Float>
    public var q: UnsafeMutablePointer<Float>
    public var k: UnsafeMutablePointer<Float>
    public var v: UnsafeMutablePointer<Float>
    public var o: UnsafeMutablePointer<Float>
    public var qBias: UnsafeMutablePointer<Float>?
    public var kBias: UnsafeMutablePointer<Float>?
    public var vBias: UnsafeMutablePointer<Float>?
    public var ffnNorm: UnsafeMutablePointer<Float>
    public var gate: UnsafeMutablePointer<Float>
    public var up: UnsafeMutablePointer<Float>
    public var down: UnsafeMutablePointer<Float>

    public init(attnNorm: UnsafeMutablePointer<Float>, q: UnsafeMutablePointer<Float>, k: UnsafeMutablePointer<Float>,
                v: UnsafeMutablePointer<Float>, o: UnsafeMutablePointer<Float>, qBias: UnsafeMutablePointer<Float>?,
                kBias: UnsafeMutablePointer<Float>?, vBias: UnsafeMutablePointer<Float>?,
                ffnNorm: UnsafeMutablePointer<Float>, gate: UnsafeMutablePointer<Float>, up: UnsafeMutablePointer<Float>,
                down: UnsafeMutablePointer<Float>) {
        self.attnNorm = attnNorm
        self.q = q
        self.k = k
        self.v = v
        self.o = o
        self.qBias = qBias
        self.kBias = kBias
        self.vBias = vBias
        self.ffnNorm = ffnNorm
        self.gate = gate
        self.up = up
        self.down = down
    }
}

public struct ModelGradients: @unchecked Sendable {
    public var embedding: UnsafeMutablePointer<Float>
    public var layers: [LayerGradients]
    public var outputNorm: UnsafeMutablePointer<Float>
    /// nil for a tied model (the head's gradient goes to `embedding`).
    public var output: UnsafeMutablePointer<Float>?

    public init(embedding: UnsafeMutablePointer<Float>, layers: [LayerGradients], outputNorm: UnsafeMutablePointer<Float>,
                output: UnsafeMutablePointer<Float>?) {
        self.embedding = embedding
        self.layers = layers
        self.outputNorm = outputNorm
        self.output = output
    }

    /// A view over `base`, laid out as `TensorNames.model(config)` lists the tensors, each
    /// `offsets[name]` floats from `base`.
    public init(config c: ModelConfig, base: UnsafeMutablePointer<Float>, offset: (String) -> Int) {
        func at(_ name: String) -> UnsafeMutablePointer<Float> { base + offset(name) }
        func part(_ l: Int, _ p: TensorNames.LayerPart) -> UnsafeMutablePointer<Float> { at(TensorNames.layer(l, p)) }
        layers = (0..<c.layerCount).map { l in
            LayerGradients(attnNorm: part(l, .attnNorm), q: part(l, .q), k: part(l, .k), v: part(l, .v), o: part(l, .o),
                           qBias: c.attentionBias ? part(l, .qBias) : nil, kBias: c.attentionBias ? part(l, .kBias) : nil,
                           vBias: c.attentionBias ? part(l, .vBias) : nil, ffnNorm: part(l, .ffnNorm),
                           gate: part(l, .gate), up: part(l, .up), down: part(l, .down))
        }
        embedding = at(TensorNames.embedding)
        outputNorm = at(TensorNames.outputNorm)
        output = c.tieEmbeddings ? nil : at(TensorNames.output)
    }
}
