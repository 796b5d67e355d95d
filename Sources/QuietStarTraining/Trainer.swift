import Foundation
import QuietStarCheckpoint
import QuietStarFormat
import QuietStarModel
import QuietStarTokenizer

/// Everything that decides what a run computes. Stored in each training checkpoint as JSON
/// (`train.options`), so `--resume` continues with exactly the run's own settings.
public struct TrainingOptions: Codable, Sendable, Equatable {
    /// Total optimisation steps of the run.
    public var steps = 1000
    /// Sequences per micro-batch: text windows of the context length, or JSONL examples.
    public var batchSize = 8
    /// Micro-batches per optimisation step (gradients summed; one mean over all their targets).
    public var accumulation = 1
    public var learningRate = 3e-4
    public var warmupSteps = 0
    /// Cosine decay to `minimumLearningRateRatio x learningRate` at the last step; false: constant.
    public var cosine = true
    public var minimumLearningRateRatio = 0.1
    /// "adamw" or "sgd".
    public var optimizer = "adamw"
    public var beta1 = 0.9
    public var beta2 = 0.95
    public var eps = 1e-8
    public var weightDecay = 0.1
    /// Clip the global gradient norm to this; 0 turns clipping off.
    public var clipNorm = 1.0
    /// Learning-rate multipliers by tensor-name prefix (the longest matching prefix wins).
    public var learningRateScales: [String: Double] = [:]
    public var seed: UInt64 = 0
    public var data: [String] = []
    /// "text" or "completions".
    public var dataFormat = "text"
    /// The document delimiter of text data (UTF-8).
    public var delimiter = "\n\n"
    public var evalData: [String] = []
    public var evalEvery = 100
    /// Micro-batches of `evalData` each evaluation reads (always from its start).
    public var evalBatches = 8
    public var checkpointEvery = 100
    /// Training checkpoints kept in the output directory (older ones are deleted).
    public var keep = 2
    /// "lm" (next-token cross-entropy) or "quietstar" (the Quiet-STaR objective).
    public var objective = "lm"
    public var quietStar = QuietStarHyperparameters()
    /// Quiet-STaR: "all" trains everything; "thoughts" only the thought embeddings and the
    /// mixing head, the base model frozen.
    public var train = "all"

    public init() {}

    public var format: DataFormat {
        dataFormat == "completions" ? .completions : .text(delimiter: Array(delimiter.utf8))
    }

    public var schedule: LearningRateSchedule {
        LearningRateSchedule(peak: learningRate, warmupSteps: warmupSteps, totalSteps: steps,
                             minimumRatio: minimumLearningRateRatio, cosine: cosine)
    }

    public var optimizerValue: Optimizer {
        optimizer == "sgd" ? .sgd : .adamW(AdamW(beta1: beta1, beta2: beta2, eps: eps, weightDecay: weightDecay))
    }

    /// Checks every value a run depends on, naming the option at fault.
    public func validate() throws(TrainingError) {
        func require(_ ok: Bool, _ message: String) throws(TrainingError) { if !ok { throw TrainingError(message, kind: .usage) } }
        try require(steps >= 1, "steps must be at least 1")
        try require(batchSize >= 1, "batch size must be at least 1")
        try require(accumulation >= 1, "accumulation must be at least 1")
        try require(learningRate.isFinite && learningRate > 0, "the learning rate must be a positive number")
        try require(warmupSteps >= 0, "warm-up steps must not be negative")
        try require((0...1).contains(minimumLearningRateRatio), "the minimum learning-rate ratio must be in 0...1")
        try require(optimizer == "adamw" || optimizer == "sgd", "optimizer must be adamw or sgd, not \(optimizer)")
        try require((0..<1).contains(beta1) && (0..<1).contains(beta2), "AdamW betas must be in [0, 1)")
        try require(eps > 0 && weightDecay >= 0 && clipNorm >= 0, "eps must be positive, weight decay and clip norm not negative")
        try require(learningRateScales.values.allSatisfy { $0.isFinite && $0 >= 0 }, "learning-rate scales must be finite and not negative")
        try require(dataFormat == "text" || dataFormat == "completions", "data format must be text or completions")
        try require(!delimiter.isEmpty, "the document delimiter must not be empty")
        try require(!data.isEmpty, "no training data given")
        try require(evalEvery >= 0 && evalBatches >= 1, "eval every must not be negative, eval batches at least 1")
        try require(checkpointEvery >= 0 && keep >= 1, "checkpoint every must not be negative, keep at least 1")
        try require(objective == "lm" || objective == "quietstar", "objective must be lm or quietstar")
        try require(train == "all" || train == "thoughts", "train must be all or thoughts")
        if objective == "quietstar" { try quietStar.validate() }
    }

    public func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try! encoder.encode(self), as: UTF8.self)
    }

    public static func parse(_ json: String) throws(TrainingError) -> TrainingOptions {
        do { return try JSONDecoder().decode(TrainingOptions.self, from: Data(json.utf8)) }
        catch { throw TrainingError("train.options is not valid: \(error)") }
    }
}

/// What one optimisation step did.
public struct StepMetrics: Sendable {
    public var step: Int
    public var loss: Double
    public var learningRate: Double
    public var gradientNorm: Double
    /// Counted targets of the step.
    public var tokens: Int
    public var seconds: Double
    /// The Quiet-STaR terms (averaged over the step's micro-batches), for that objective.
    public var quietStar: QuietStarMetrics?
}

/// The training loop: data in, optimisation steps, held-out evaluation, checkpoints.
///
/// One step: read `accumulation x batchSize` sequences, run forward and backward on each
/// micro-batch with the step's common scale, clip, apply the optimiser with the schedule's rate.
/// The whole state between steps is `parameters`, `moments` and `progress`; `checkpoint` writes
/// all three, and a trainer built from a checkpoint continues bit for bit.
public final class Trainer {
    public let options: TrainingOptions
    public let parameters: Parameters
    public let gradients: FloatBuffer
    public let moments: AdamWMoments?
    public let optimizer: Optimizer
    public let tokenizer: Tokenizer
    /// The model's own metadata (config, tokenizer, provenance), written into every checkpoint.
    public let metadata: Metadata
    public private(set) var progress: TrainingProgress
    public let groups: [ParameterGroup]
    private let loss: LanguageModelLoss
    private let data: TrainingData
    /// The Quiet-STaR objective when `options.objective` is "quietstar".
    public let quietStar: QuietStarObjective?
    /// The tensors the optimiser updates (all, or only the Quiet-STaR ones when the base is frozen).
    public let trainedTensors: [ParameterLayout.Tensor]
    private let trainedGroups: [ParameterGroup]

    public init(options: TrainingOptions, parameters: Parameters, tokenizer: Tokenizer, metadata: Metadata,
                progress: TrainingProgress? = nil, moments: AdamWMoments? = nil) throws(TrainingError) {
        try options.validate()
        self.options = options
        self.parameters = parameters
        self.tokenizer = tokenizer
        self.metadata = metadata
        optimizer = options.optimizerValue
        gradients = FloatBuffer(count: parameters.layout.count)
        if case .adamW = optimizer {
            self.moments = moments ?? AdamWMoments(count: parameters.layout.count)
        } else {
            self.moments = nil
        }
        self.progress = progress ?? TrainingProgress(random: LineRandom(seed: options.seed, line: 0x7EA1))
        let groups = parameters.layout.tensors.map { t in
            let match = options.learningRateScales.filter { t.name.hasPrefix($0.key) }.max { $0.key.count < $1.key.count }
            return ParameterGroup(learningRateScale: Float(match?.value ?? 1), decays: t.decays)
        }
        self.groups = groups
        loss = LanguageModelLoss(weights: parameters.weights)
        if options.objective == "quietstar" {
            let settings: QuietStarSettings
            do { settings = try QuietStarSettings(metadata: metadata, vocabSize: parameters.config.vocabSize) }
            catch { throw TrainingError("Quiet-STaR training needs the quietstar.* keys: \(error)") }
            let objective = try QuietStarObjective(parameters: parameters, hyper: options.quietStar,
                                                   startTokenId: settings.startTokenId, endTokenId: settings.endTokenId)
            objective.freezesBase = options.train == "thoughts"
            quietStar = objective
        } else {
            quietStar = nil
        }
        let thoughtNames = Set(TensorNames.Thought.allCases.map(\.rawValue))
        let trained = parameters.layout.tensors.indices.filter { i in
            options.train == "all" || thoughtNames.contains(parameters.layout.tensors[i].name)
        }
        trainedTensors = trained.map { parameters.layout.tensors[$0] }
        trainedGroups = trained.map { groups[$0] }
        data = try TrainingData(files: options.data, format: options.format, tokenizer: tokenizer,
                                contextLength: parameters.config.contextLength, position: self.progress.data)
    }

    public var isFinished: Bool { progress.step >= options.steps }

    /// One optimisation step.
    public func step() throws(TrainingError) -> StepMetrics {
        if quietStar != nil { return try quietStarStep() }
        let start = DispatchTime.now().uptimeNanoseconds
        var micro: [[TrainingSequence]] = []
        for _ in 0..<options.accumulation { micro.append(try data.next(options.batchSize)) }
        let total = micro.reduce(0) { $0 + $1.reduce(0) { $0 + $1.targetCount } }
        guard total > 0 else { throw TrainingError("step \(progress.step + 1) has no targets to train on") }
        gradients.zero()
        let view = parameters.gradients(in: gradients)
        var lossSum = 0.0
        for batch in micro {
            lossSum += try loss.run(batch, scale: 1 / Float(total), gradients: view).lossSum
        }
        let norm = clipGradients(gradients, tensors: parameters.layout.tensors, maxNorm: options.clipNorm)
        let rate = options.schedule.rate(at: progress.step)
        optimizer.update(parameters: parameters.values, gradients: gradients, moments: moments,
                         tensors: parameters.layout.tensors, groups: groups, learningRate: rate, step: progress.step + 1)
        progress.step += 1
        progress.data = data.position
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return StepMetrics(step: progress.step, loss: lossSum / Double(total), learningRate: rate, gradientNorm: norm,
                           tokens: total, seconds: seconds)
    }

    /// One Quiet-STaR step: per micro-batch, thoughts sampled by the model (from the run's
    /// generator, so a resumed run samples the same), then the objective's forward and backward
    /// with scale `1 / accumulation` (each micro-batch's objective is already a mean).
    private func quietStarStep() throws(TrainingError) -> StepMetrics {
        let q = quietStar!
        let start = DispatchTime.now().uptimeNanoseconds
        var micro: [[[Int32]]] = []
        for _ in 0..<options.accumulation {
            micro.append(try data.next(options.batchSize).map(\.tokens).filter { $0.count >= 2 })
        }
        gradients.zero()
        var sum = QuietStarMetrics()
        var tokens = 0, batches = 0
        for batch in micro where !batch.isEmpty {
            let seed = progress.random.next()
            let content = try q.sampleThoughts(batch, seed: seed)
            let m = try q.run(batch, content: content, scale: 1 / Double(options.accumulation), gradients: gradients)
            sum.add(m)
            tokens += m.baseTargets
            batches += 1
        }
        guard batches > 0 else { throw TrainingError("step \(progress.step + 1) has no sequence of two tokens or more") }
        sum = sum.averaged(over: batches)
        let norm = clipGradients(gradients, tensors: trainedTensors, maxNorm: options.clipNorm)
        let rate = options.schedule.rate(at: progress.step)
        optimizer.update(parameters: parameters.values, gradients: gradients, moments: moments,
                         tensors: trainedTensors, groups: trainedGroups, learningRate: rate, step: progress.step + 1)
        progress.step += 1
        progress.data = data.position
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return StepMetrics(step: progress.step, loss: sum.total, learningRate: rate, gradientNorm: norm, tokens: tokens,
                           seconds: seconds, quietStar: sum)
    }

    /// Quiet-STaR's held-out measure: base and mixed NLL of the first `evalBatches` micro-batches
    /// of `files`, thoughts sampled from a fixed seed (every evaluation draws the same way).
    public func evaluateQuietStar(_ files: [String]) throws(TrainingError) -> QuietStarMetrics {
        let q = quietStar!
        let eval = try TrainingData(files: files, format: options.format, tokenizer: tokenizer,
                                    contextLength: parameters.config.contextLength)
        var sum = QuietStarMetrics()
        var n = 0
        for b in 0..<options.evalBatches {
            let batch = try eval.next(options.batchSize).map(\.tokens).filter { $0.count >= 2 }
            if batch.isEmpty { continue }
            let content = try q.sampleThoughts(batch, seed: UInt64(b))
            sum.add(try q.run(batch, content: content, gradients: nil))
            n += 1
            if eval.position.epoch > 0 { break }
        }
        sum = sum.averaged(over: n)
        return sum
    }

    /// Mean loss per target over the first `evalBatches` micro-batches of `files` (read from
    /// their start each time, so every evaluation sees the same text).
    public func evaluate(_ files: [String]) throws(TrainingError) -> (loss: Double, targets: Int) {
        let eval = try TrainingData(files: files, format: options.format, tokenizer: tokenizer,
                                    contextLength: parameters.config.contextLength)
        var sum = 0.0, count = 0
        for _ in 0..<options.evalBatches {
            let batch = try eval.next(options.batchSize)
            let r = try loss.run(batch, scale: 0, gradients: nil, backward: false)
            sum += r.lossSum
            count += r.targets
            if eval.position.epoch > 0 { break }   // a small eval set is read once
        }
        return (count > 0 ? sum / Double(count) : .nan, count)
    }

    /// Writes a training checkpoint (weights, moments, progress, options) or a weights-only model.
    public func checkpoint(to path: String, weightsOnly: Bool = false) throws(TrainingError) {
        try TrainingCheckpoint.write(to: path, parameters: parameters, moments: moments, optimizer: optimizer,
                                     progress: progress, options: options.json(), metadata: metadata,
                                     weightsOnly: weightsOnly)
    }
}

extension Trainer {
    /// A trainer that fine-tunes the model at `path` (its weights, tokenizer, config and
    /// metadata). Thought parameters of a Quiet-STaR checkpoint are not part of plain training:
    /// they are left out, and `droppedThoughts` says so.
    public static func startingFrom(_ path: String, options: TrainingOptions) throws(TrainingError)
        -> (trainer: Trainer, droppedThoughts: Bool) {
        let file = try TrainingCheckpoint.open(path)
        let (config, tokenizer) = try TrainingCheckpoint.model(file, path: path)
        let parameters = Parameters(config: config)
        try parameters.load(from: file)
        var metadata = TrainingCheckpoint.modelMetadata(file)
        let thoughtKeys = metadata.keys.filter { $0.hasPrefix("quietstar.") }
        for key in thoughtKeys { metadata[key] = nil }
        metadata[TrainingState.provenanceSourceKey] = .string(path)
        let trainer = try Trainer(options: options, parameters: parameters, tokenizer: tokenizer, metadata: metadata)
        return (trainer, !thoughtKeys.isEmpty)
    }
}
