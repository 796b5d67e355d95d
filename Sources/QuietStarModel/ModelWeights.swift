import QuietStarCheckpoint
import QuietStarFormat
import QuietStarKernels

/// One transformer block's parameters. Matrices are views (`[out, in]`, PyTorch layout) in
/// whatever dtype the checkpoint stores; the small vectors (norm gains, biases) are f32.
public struct LayerWeights: @unchecked Sendable {
    public var attnNorm: UnsafePointer<Float>
    public var q: WeightMatrix
    public var k: WeightMatrix
    public var v: WeightMatrix
    public var o: WeightMatrix
    public var qBias: UnsafePointer<Float>?
    public var kBias: UnsafePointer<Float>?
    public var vBias: UnsafePointer<Float>?
    public var ffnNorm: UnsafePointer<Float>
    public var gate: WeightMatrix
    public var up: WeightMatrix
    public var down: WeightMatrix

    public init(attnNorm: UnsafePointer<Float>, q: WeightMatrix, k: WeightMatrix, v: WeightMatrix, o: WeightMatrix,
                qBias: UnsafePointer<Float>?, kBias: UnsafePointer<Float>?, vBias: UnsafePointer<Float>?,
                ffnNorm: UnsafePointer<Float>, gate: WeightMatrix, up: WeightMatrix, down: WeightMatrix) {
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

/// All parameters of a model, as the transformer step reads them.
///
/// Loaded from a checkpoint, the matrices point straight into the memory-mapped file (or into the
/// decoded buffer of a zstd tensor), so a model much larger than RAM in f32 runs from its f16,
/// bf16 or Q8_0 bytes; only the norm gains and biases (a few KB per layer) are copied to f32.
/// A trainer builds one over its own f32 parameter buffers with the memberwise initialiser.
public final class ModelWeights: @unchecked Sendable {
    public let config: ModelConfig
    /// `[vocab, hidden]`; also the output head when `config.tieEmbeddings`.
    public let embedding: WeightMatrix
    public let layers: [LayerWeights]
    public let outputNorm: UnsafePointer<Float>
    /// `[vocab, hidden]`: `output.weight`, or the embedding when tied.
    public let output: WeightMatrix
    /// Whatever owns the memory the pointers above point into (mapped file, tensor views, f32
    /// vectors); released with the weights.
    private let owners: [AnyObject]

    public init(config: ModelConfig, embedding: WeightMatrix, layers: [LayerWeights],
                outputNorm: UnsafePointer<Float>, output: WeightMatrix, owners: [AnyObject]) {
        self.config = config
        self.embedding = embedding
        self.layers = layers
        self.outputNorm = outputNorm
        self.output = output
        self.owners = owners
    }

    /// Views the tensors of `file` (names and shapes per the spec's conventions), checking that
    /// every tensor the configuration implies exists with the right shape and a float dtype.
    public convenience init(file: QStarFile, config: ModelConfig) throws(ModelError) {
        let vectors = VectorArena()
        var views: [TensorView] = []

        func view(_ name: String, _ shape: [Int]) throws(ModelError) -> TensorView {
            guard let info = file.info(name) else {
                throw ModelError(.invalidModel, "\(file.path): tensor \(name) is missing (expected shape \(shape))")
            }
            guard info.shape.count == shape.count, zip(info.shape, shape).allSatisfy({ $0 == UInt64($1) }) else {
                throw ModelError(.invalidModel, "\(file.path): tensor \(name) has shape \(info.shape), expected \(shape) from the llama.* metadata")
            }
            guard let dtype = info.dtype, dtype.isFloatingPoint else {
                throw ModelError(.invalidModel, "\(file.path): tensor \(name) has dtype \(info.dtype?.name ?? "code \(info.dtypeCode)"), expected f32, f16, bf16 or q8_0")
            }
            let tensor: TensorView
            do { tensor = try file.tensor(info) } catch { throw ModelError(error) }
            views.append(tensor)
            return tensor
        }
        func matrix(_ name: String, rows: Int, cols: Int) throws(ModelError) -> WeightMatrix {
            let t = try view(name, [rows, cols])
            return WeightMatrix(encoding: try WeightEncoding(t.dtype, tensor: name), rows: rows, cols: cols, base: t.bytes.baseAddress!)
        }
        func vector(_ name: String, _ count: Int) throws(ModelError) -> UnsafePointer<Float> {
            let t = try view(name, [count])
            let out = vectors.allocate(count)
            do { try t.decodeFloat32(elements: 0..<count, into: UnsafeMutableBufferPointer(start: out, count: count)) }
            catch { throw ModelError(error) }
            return UnsafePointer(out)
        }

        let c = config
        func matrix(_ l: Int, _ part: TensorNames.LayerPart) throws(ModelError) -> WeightMatrix {
            let shape = part.shape(c)
            return try matrix(TensorNames.layer(l, part), rows: shape[0], cols: shape[1])
        }
        func vector(_ l: Int, _ part: TensorNames.LayerPart) throws(ModelError) -> UnsafePointer<Float> {
            try vector(TensorNames.layer(l, part), part.shape(c)[0])
        }
        let embedding = try matrix(TensorNames.embedding, rows: c.vocabSize, cols: c.hiddenSize)
        var layers: [LayerWeights] = []
        layers.reserveCapacity(c.layerCount)
        for l in 0..<c.layerCount {
            layers.append(LayerWeights(
                attnNorm: try vector(l, .attnNorm),
                q: try matrix(l, .q), k: try matrix(l, .k), v: try matrix(l, .v), o: try matrix(l, .o),
                qBias: c.attentionBias ? try vector(l, .qBias) : nil,
                kBias: c.attentionBias ? try vector(l, .kBias) : nil,
                vBias: c.attentionBias ? try vector(l, .vBias) : nil,
                ffnNorm: try vector(l, .ffnNorm),
                gate: try matrix(l, .gate), up: try matrix(l, .up), down: try matrix(l, .down)))
        }
        let outputNorm = try vector(TensorNames.outputNorm, c.hiddenSize)
        let output: WeightMatrix
        if c.tieEmbeddings {
            if file.info(TensorNames.output) != nil {
                throw ModelError(.invalidModel, "\(file.path): llama.tie_embeddings is true but an output.weight tensor is present; which one is meant is ambiguous")
            }
            output = embedding
        } else {
            output = try matrix(TensorNames.output, rows: c.vocabSize, cols: c.hiddenSize)
        }
        self.init(config: config, embedding: embedding, layers: layers, outputNorm: outputNorm, output: output,
                  owners: [file, vectors, TensorViewOwner(views)])
    }

    /// Bytes of weight data one token's forward pass streams from memory (every layer matrix and
    /// the output head): the numerator of the batch-1 decode bandwidth bound.
    public var bytesPerToken: Int {
        func bytes(_ w: WeightMatrix) -> Int { w.byteCount }
        var total = bytes(output)
        for layer in layers {
            total += bytes(layer.q) + bytes(layer.k) + bytes(layer.v) + bytes(layer.o)
            total += bytes(layer.gate) + bytes(layer.up) + bytes(layer.down)
        }
        return total
    }
}

/// Keeps tensor views (and so their decoded storage) alive as one object.
private final class TensorViewOwner {
    let views: [TensorView]
    init(_ views: [TensorView]) { self.views = views }
}

/// Owned f32 storage for the small parameter vectors, freed with the weights.
final class VectorArena {
    private var blocks: [UnsafeMutablePointer<Float>] = []

    func allocate(_ count: Int) -> UnsafeMutablePointer<Float> {
        let p = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
        p.initialize(repeating: 0, count: max(count, 1))
        blocks.append(p)
        return p
    }

    deinit { for p in blocks { p.deallocate() } }
}

extension WeightEncoding {
    /// The kernel layout of a checkpoint's floating-point dtype; an integer dtype is an error
    /// naming `tensor`.
    init(_ dtype: DType, tensor: String) throws(ModelError) {
        switch dtype {
        case .f32: self = .f32
        case .f16: self = .f16
        case .bf16: self = .bf16
        case .q8_0: self = .q8_0
        case .i32, .i64, .u8:
            throw ModelError(.invalidModel, "tensor \(tensor) has dtype \(dtype), expected f32, f16, bf16 or q8_0")
        }
    }
}
