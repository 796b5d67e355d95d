import Foundation
import QuietStarCheckpoint
import QuietStarFormat
import QuietStarKernels
import QuietStarModel

/// Every trainable tensor of a model in one contiguous f32 block, in `TensorNames.model` order
/// (then any extra tensors, e.g. Quiet-STaR's), and a `ParameterLayout` that says where each lives.
/// Gradients and the optimiser's moments are `FloatBuffer`s of the same layout, so the optimiser
/// walks one flat array per quantity and a checkpoint writes tensor `i` from offset `i` of each.
public struct ParameterLayout: Sendable {
    public struct Tensor: Sendable, Equatable {
        public let name: String
        public let shape: [Int]
        public let offset: Int
        public var count: Int { shape.reduce(1, *) }
        /// AdamW's weight decay applies (matrices and embeddings); not to norm gains and biases.
        public var decays: Bool { shape.count >= 2 }
    }

    public let tensors: [Tensor]
    public let count: Int
    private let index: [String: Int]

    public init(_ entries: [TensorNames.Entry]) {
        var tensors: [Tensor] = []
        var at = 0
        for e in entries {
            tensors.append(Tensor(name: e.name, shape: e.shape, offset: at))
            at += e.shape.reduce(1, *)
        }
        self.tensors = tensors
        count = at
        index = Dictionary(uniqueKeysWithValues: tensors.enumerated().map { ($1.name, $0) })
    }

    /// The layout of `config`'s model tensors followed by `extra`.
    public init(config: ModelConfig, extra: [TensorNames.Entry] = []) {
        self.init(TensorNames.model(config) + extra)
    }

    public func tensor(_ name: String) -> Tensor? { index[name].map { tensors[$0] } }

    /// Offset of `name`, which must be in the layout.
    public func offset(_ name: String) -> Int {
        guard let t = tensor(name) else { preconditionFailure("ParameterLayout: no tensor \(name)") }
        return t.offset
    }
}

/// A zero-initialised f32 array of a layout's size (parameters, gradients, moments).
public final class FloatBuffer: @unchecked Sendable {
    public let count: Int
    public let base: UnsafeMutablePointer<Float>

    public init(count: Int) {
        self.count = count
        base = .allocate(capacity: max(count, 1))
        base.initialize(repeating: 0, count: max(count, 1))
    }

    deinit { base.deallocate() }

    public func zero() { base.update(repeating: 0, count: count) }

    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: base, count: count) }

    /// The floats of `tensor`.
    public func values(_ tensor: ParameterLayout.Tensor) -> UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: base + tensor.offset, count: tensor.count)
    }
}

/// The trainable parameters of a model: its layout, the f32 values, and views the transformer
/// and its backward read (`weights`) and write (`gradients(in:)`).
public final class Parameters: @unchecked Sendable {
    public let config: ModelConfig
    public let layout: ParameterLayout
    public let values: FloatBuffer
    /// The model over `values` (f32 matrices viewed in place: an optimiser step is seen by the
    /// next forward with no copy).
    public private(set) var weights: ModelWeights!
    /// Tensors trained in units other than the file's: the file holds `scale x` the trained value.
    /// Quiet-STaR's thought embeddings are trained divided by the embedding scale (100), as the
    /// reference stores them, so the optimiser's steps have the reference's size; `.qstar` files
    /// hold the effective vectors (spec 12.6).
    public var fileScales: [String: Float] = [:]

    public init(config: ModelConfig, extra: [TensorNames.Entry] = []) {
        self.config = config
        layout = ParameterLayout(config: config, extra: extra)
        values = FloatBuffer(count: layout.count)
        weights = makeWeights()
    }

    public func pointer(_ name: String) -> UnsafeMutablePointer<Float> { values.base + layout.offset(name) }

    /// The gradient view of a buffer with this layout.
    public func gradients(in buffer: FloatBuffer) -> ModelGradients {
        precondition(buffer.count == layout.count, "Parameters: gradient buffer of another layout")
        return ModelGradients(config: config, base: buffer.base, offset: layout.offset)
    }

    private func makeWeights() -> ModelWeights {
        let c = config
        func matrix(_ name: String) -> WeightMatrix {
            let t = layout.tensor(name)!
            return WeightMatrix(encoding: .f32, rows: t.shape[0], cols: t.shape[1], base: UnsafeRawPointer(values.base + t.offset))
        }
        func vector(_ name: String) -> UnsafePointer<Float> { UnsafePointer(pointer(name)) }
        func part(_ l: Int, _ p: TensorNames.LayerPart) -> String { TensorNames.layer(l, p) }
        let layers = (0..<c.layerCount).map { l in
            LayerWeights(attnNorm: vector(part(l, .attnNorm)),
                         q: matrix(part(l, .q)), k: matrix(part(l, .k)), v: matrix(part(l, .v)), o: matrix(part(l, .o)),
                         qBias: c.attentionBias ? vector(part(l, .qBias)) : nil,
                         kBias: c.attentionBias ? vector(part(l, .kBias)) : nil,
                         vBias: c.attentionBias ? vector(part(l, .vBias)) : nil,
                         ffnNorm: vector(part(l, .ffnNorm)),
                         gate: matrix(part(l, .gate)), up: matrix(part(l, .up)), down: matrix(part(l, .down)))
        }
        let embedding = matrix(TensorNames.embedding)
        return ModelWeights(config: c, embedding: embedding, layers: layers, outputNorm: vector(TensorNames.outputNorm),
                            output: c.tieEmbeddings ? embedding : matrix(TensorNames.output), owners: [values])
    }

    /// Reads every tensor of the layout from `file` (any float dtype, decoded to f32), checking
    /// shapes. Tensors of the file outside the layout are ignored.
    public func load(from file: QStarFile) throws(TrainingError) {
        for t in layout.tensors {
            guard let info = file.info(t.name) else {
                throw TrainingError("\(file.path): tensor \(t.name) is missing (expected shape \(t.shape))")
            }
            guard info.shape.map(Int.init) == t.shape else {
                throw TrainingError("\(file.path): tensor \(t.name) has shape \(info.shape), expected \(t.shape)")
            }
            do { try file.tensor(info).decodeFloat32(elements: 0..<t.count, into: values.values(t)) }
            catch { throw TrainingError("\(file.path): tensor \(t.name): \(error)") }
            if let scale = fileScales[t.name] {
                // A training checkpoint keeps the exact trained value beside the scaled one.
                if let exact = file.info(TrainingState.trainedValue(of: t.name)), exact.dtype == .f32,
                   exact.shape.map(Int.init) == t.shape {
                    do { try file.tensor(exact).decodeFloat32(elements: 0..<t.count, into: values.values(t)) }
                    catch { throw TrainingError("\(file.path): tensor \(exact.name): \(error)") }
                } else {
                    let v = values.values(t)
                    for i in v.indices { v[i] /= scale }
                }
            }
        }
    }

    /// Fresh weights for pretraining (GPT-2's scheme): matrices and embeddings N(0, 0.02), the
    /// projections that feed the residual stream (`attn.o`, `ffn.down`) N(0, 0.02/sqrt(2 x layers))
    /// so the residual's variance does not grow with depth, norm gains 1, biases 0. Deterministic
    /// for a seed.
    public func initialise(seed: UInt64, std: Float = 0.02) {
        var random = LineRandom(seed: seed, line: 0x1A17)
        let residualStd = std / Float(2 * config.layerCount).squareRoot()
        for t in layout.tensors {
            let out = values.values(t)
            if t.shape.count == 1 {
                let isGain = t.name.hasSuffix("norm.weight")
                for i in out.indices { out[i] = isGain ? 1 : 0 }
                continue
            }
            let s = t.name.hasSuffix(TensorNames.LayerPart.o.rawValue) || t.name.hasSuffix(TensorNames.LayerPart.down.rawValue)
                ? residualStd : std
            var i = 0
            while i < out.count {
                let u1 = max(random.nextUnit(), 1e-300), u2 = random.nextUnit()
                let r = (-2 * Foundation.log(u1)).squareRoot()
                out[i] = Float(r * Foundation.cos(2 * .pi * u2)) * s
                if i + 1 < out.count { out[i + 1] = Float(r * Foundation.sin(2 * .pi * u2)) * s }
                i += 2
            }
        }
    }
}

/// A training failure, with a message that names the file, flag or value at fault.
public struct TrainingError: Error, CustomStringConvertible, Sendable {
    /// What went wrong, for exit statuses.
    public enum Kind: Sendable { case invalidInput, missingInput, cannotCreateOutput, usage }
    public let kind: Kind
    public let description: String
    public init(_ message: String, kind: Kind = .invalidInput) {
        self.kind = kind
        description = message
    }
}
