import Foundation
import QuietStarCheckpoint
import QuietStarFormat
import QuietStarModel
import QuietStarTokenizer

/// Where a run stands between two steps: everything besides the weights and moments that the
/// next step depends on. With the weights and moments it is the whole state of a run, so a run
/// resumed from a checkpoint takes exactly the steps the uninterrupted run would have taken.
public struct TrainingProgress: Sendable, Equatable {
    /// Optimisation steps taken (the next step is `step + 1`, learning rate `schedule.rate(at: step)`).
    public var step: Int
    public var random: LineRandom
    public var data: DataPosition

    public init(step: Int = 0, random: LineRandom, data: DataPosition = DataPosition()) {
        self.step = step
        self.random = random
        self.data = data
    }
}

/// Reading and writing training checkpoints (spec 12.5, 12.6): the model's tensors in f32 under
/// their usual names (so `quietstar-run` takes a training checkpoint as it is), the optimiser's
/// moments as `optimizer.adamw.m.<name>` / `optimizer.adamw.v.<name>`, and `train.*` keys: the
/// step, the generator state, the data position and the run's options (JSON), from which
/// `--resume` rebuilds the run. A weights-only export leaves out the moments and `train.*`.
public enum TrainingCheckpoint {
    public static let optionsKey = TrainingState.optionsKey
    public static let creator = "quietstar-train"
    public static let version = "0.1.0"

    /// Writes `path` atomically (temporary file, fsync, rename): a crash leaves the previous file
    /// or the new one, never a mix. `metadata` holds the model's own keys (config, tokenizer,
    /// `quietstar.*`, provenance of the source); training keys are added here.
    public static func write(to path: String, parameters: Parameters, moments: AdamWMoments?, optimizer: Optimizer,
                             progress: TrainingProgress, options: String?, metadata: Metadata,
                             weightsOnly: Bool) throws(TrainingError) {
        var m = metadata
        for key in m.keys where key.hasPrefix("train.") { m[key] = nil }
        m[TrainingState.provenanceCreatorKey] = .string(creator)
        m[TrainingState.provenanceCreatorVersionKey] = .string(version)
        m[TrainingState.provenanceTrainingStepKey] = .uint(UInt64(progress.step))
        if !weightsOnly {
            m[TrainingState.stepKey] = .uint(UInt64(progress.step))
            m[TrainingState.rngStateKey] = .uintArray(progress.random.state)
            m[TrainingState.dataPositionKey] = .uintArray(progress.data.words)
            m[TrainingState.optimizerKey] = .string(optimizer.name)
            if case .adamW(let a) = optimizer {
                let values = [a.beta1, a.beta2, a.eps, a.weightDecay]
                for (key, value) in zip(TrainingState.adamWKeys, values) { m[key] = .float(value) }
            }
            if let options { m[optionsKey] = .string(options) }
        }
        do {
            let writer = try QStarWriter(path: path)
            func add(_ name: String, _ shape: [Int], _ values: UnsafeMutableBufferPointer<Float>) throws(QStarError) {
                try writer.addTensor(name: name, dtype: .f32, shape: shape, bytes: UnsafeRawBufferPointer(values))
            }
            for t in parameters.layout.tensors {
                if let scale = parameters.fileScales[t.name] {
                    var scaled = Array(parameters.values.values(t))
                    for i in scaled.indices { scaled[i] *= scale }
                    try scaled.withUnsafeMutableBufferPointer { b throws(QStarError) in try add(t.name, t.shape, b) }
                } else {
                    try add(t.name, t.shape, parameters.values.values(t))
                }
            }
            if !weightsOnly {
                for t in parameters.layout.tensors where parameters.fileScales[t.name] != nil {
                    try add(TrainingState.trainedValue(of: t.name), t.shape, parameters.values.values(t))
                }
            }
            if !weightsOnly, let moments {
                for t in parameters.layout.tensors {
                    try add(TrainingState.adamWFirstMoment(of: t.name), t.shape, moments.first.values(t))
                    try add(TrainingState.adamWSecondMoment(of: t.name), t.shape, moments.second.values(t))
                }
            }
            try writer.finish(metadata: m)
        } catch {
            throw TrainingError("\(path): writing the checkpoint failed: \(error)", kind: .cannotCreateOutput)
        }
    }

    /// The metadata of `file` that describes the model (everything but training state).
    public static func modelMetadata(_ file: QStarFile) -> Metadata {
        var m = file.metadata
        for key in m.keys where key.hasPrefix("train.") { m[key] = nil }
        return m
    }

    /// The progress stored in a training checkpoint (nil for a weights-only file).
    public static func progress(_ file: QStarFile) throws(TrainingError) -> TrainingProgress? {
        let m = file.metadata
        guard m.contains(TrainingState.stepKey) else { return nil }
        do {
            let step = try m.uint(TrainingState.stepKey)
            guard case .uintArray(let rng)? = m[TrainingState.rngStateKey], rng.count == 4, rng.contains(where: { $0 != 0 }) else {
                throw TrainingError("\(file.path): \(TrainingState.rngStateKey) must be four u64 words, not all zero")
            }
            guard case .uintArray(let words)? = m[TrainingState.dataPositionKey], let data = DataPosition(words: words) else {
                throw TrainingError("\(file.path): \(TrainingState.dataPositionKey) must be four u64 words (epoch, file, byte offset, token)")
            }
            guard step <= UInt64(Int32.max) else { throw TrainingError("\(file.path): \(TrainingState.stepKey) \(step) is out of range") }
            return TrainingProgress(step: Int(step), random: LineRandom(state: rng), data: data)
        } catch let e as TrainingError {
            throw e
        } catch {
            throw TrainingError("\(file.path): \(error)")
        }
    }

    /// Reads the AdamW moments of every tensor of `parameters`' layout.
    public static func loadMoments(_ file: QStarFile, into moments: AdamWMoments, layout: ParameterLayout) throws(TrainingError) {
        for t in layout.tensors {
            for (name, buffer) in [(TrainingState.adamWFirstMoment(of: t.name), moments.first),
                                   (TrainingState.adamWSecondMoment(of: t.name), moments.second)] {
                guard let info = file.info(name), info.dtype == .f32, info.shape.map(Int.init) == t.shape else {
                    throw TrainingError("\(file.path): optimiser tensor \(name) is missing or is not f32 of shape \(t.shape)")
                }
                do { try file.tensor(info).decodeFloat32(elements: 0..<t.count, into: buffer.values(t)) }
                catch { throw TrainingError("\(file.path): \(name): \(error)") }
            }
        }
    }
}

extension TrainingCheckpoint {
    /// Opens the model a run starts from: a missing or unreadable file is a missing input,
    /// anything else an invalid one.
    public static func open(_ path: String) throws(TrainingError) -> QStarFile {
        do { return try QStarFile.open(path: path) } catch {
            throw TrainingError("\(path): \(error)", kind: error.kind == .io ? .missingInput : .invalidInput)
        }
    }

    /// The configuration and tokenizer `file` (read from `path`) describes, errors naming the path.
    public static func model(_ file: QStarFile, path: String) throws(TrainingError) -> (config: ModelConfig, tokenizer: Tokenizer) {
        let config: ModelConfig
        do { config = try ModelConfig(metadata: file.metadata) } catch { throw TrainingError("\(path): \(error)") }
        let tokenizer: Tokenizer
        do { tokenizer = try Tokenizer(metadata: file.metadata) } catch { throw TrainingError("\(path): tokenizer: \(error)") }
        return (config, tokenizer)
    }
}
