import Foundation
import QuietStarCheckpoint
import QuietStarFormat
import QuietStarModel
import QuietStarModelTestSupport
import QuietStarTestSupport
import QuietStarTokenizer
import QuietStarTraining
import Testing

/// The training loop's arithmetic: what a step with SGD, accumulation or a learning-rate
/// multiplier must do to the weights, and that a checkpoint round trip resumes the same run.
@Suite struct TrainerTests {
    static let config = ModelConfig(vocabSize: 260, hiddenSize: 32, layerCount: 2, headCount: 4, kvHeadCount: 2,
                                    headDim: 8, intermediateSize: 64, contextLength: 24, tieEmbeddings: true)

    static func corpus(_ dir: TemporaryDirectory) throws -> String {
        let path = dir.file("corpus.txt")
        var text = ""
        for i in 0..<200 { text += "\(i) + \(i % 7) = \(i + i % 7)\n" }
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    static func trainer(_ data: String, _ configure: (inout TrainingOptions) -> Void) throws -> Trainer {
        var o = TrainingOptions()
        o.data = [data]
        o.delimiter = "\n"
        o.batchSize = 2
        o.steps = 3
        o.learningRate = 1e-2
        configure(&o)
        let parameters = Parameters(config: config)
        parameters.initialise(seed: 2, std: 0.1)
        let tokenizer = try Tokenizer(spec: .byteLevel())
        return try Trainer(options: o, parameters: parameters, tokenizer: tokenizer,
                           metadata: Metadata(config.metadataEntries + tokenizer.spec.metadata.entries))
    }

    /// `--optimizer sgd --lr 1 --clip 0`: one step moves every weight by exactly minus its gradient,
    /// so the difference of two checkpoints is the gradient.
    @Test func sgdStepIsMinusTheGradient() throws {
        let dir = TemporaryDirectory()
        let data = try Self.corpus(dir)
        let t = try Self.trainer(data) { $0.optimizer = "sgd"; $0.learningRate = 1; $0.clipNorm = 0; $0.cosine = false }
        let before = Array(t.parameters.values.buffer)
        // The same first batch through the loss directly.
        let reader = try TrainingData(files: [data], format: .text(delimiter: [0x0A]), tokenizer: t.tokenizer,
                                      contextLength: Self.config.contextLength)
        let batch = try reader.next(2)
        let probe = Parameters(config: Self.config)
        _ = probe.values.buffer.update(fromContentsOf: before)
        let gradients = FloatBuffer(count: probe.layout.count)
        let total = batch.reduce(0) { $0 + $1.targetCount }
        try LanguageModelLoss(weights: probe.weights).run(batch, scale: 1 / Float(total), gradients: probe.gradients(in: gradients))
        _ = try t.step()
        var worst: Float = 0
        for i in 0..<before.count {
            let moved = before[i] - t.parameters.values.base[i]
            worst = max(worst, abs(moved - gradients.base[i]))
        }
        #expect(worst <= 1e-6, "weights moved by -gradient up to \(worst)")
        #expect(gradients.buffer.contains { $0 != 0 })
    }

    /// Two micro-batches of one sequence each are one mean over both: the same step as one
    /// micro-batch of two (to float32 rounding: the sums run in another order). Plain SGD with
    /// rate 1 so the step is the gradient itself: AdamW's first step is g / (|g| + eps), which
    /// turns a rounding-level difference in a near-zero gradient into a visible one (CI saw
    /// 1.2e-5 on another machine's BLAS) and would test the optimiser, not the accumulation.
    @Test func accumulationEqualsTheLargerBatch() throws {
        let dir = TemporaryDirectory()
        let data = try Self.corpus(dir)
        let sgd: (inout TrainingOptions) -> Void = { $0.optimizer = "sgd"; $0.learningRate = 1; $0.clipNorm = 0; $0.cosine = false }
        let big = try Self.trainer(data) { sgd(&$0); $0.batchSize = 2; $0.accumulation = 1 }
        let split = try Self.trainer(data) { sgd(&$0); $0.batchSize = 1; $0.accumulation = 2 }
        let a = try big.step(), b = try split.step()
        #expect(a.tokens == b.tokens)
        #expect(abs(a.loss - b.loss) < 1e-5)
        var worst: Float = 0
        for i in 0..<big.parameters.layout.count {
            worst = max(worst, abs(big.parameters.values.base[i] - split.parameters.values.base[i]))
        }
        #expect(worst < 1e-5, "accumulated step differs by \(worst)")
    }

    /// A multiplier of 0 freezes the tensors it names (AdamW's decay is scaled with the rate).
    @Test func learningRateScaleZeroFreezesTensors() throws {
        let dir = TemporaryDirectory()
        let data = try Self.corpus(dir)
        let t = try Self.trainer(data) { $0.learningRateScales = ["layers.0.": 0, "layers.1.attn": 0.5] }
        let before = Array(t.parameters.values.buffer)
        _ = try t.step()
        _ = try t.step()
        for tensor in t.parameters.layout.tensors {
            let moved = (0..<tensor.count).contains { before[tensor.offset + $0] != t.parameters.values.base[tensor.offset + $0] }
            #expect(moved == !tensor.name.hasPrefix("layers.0."), "\(tensor.name)")
        }
        #expect(t.groups[t.parameters.layout.tensors.firstIndex { $0.name == "layers.1.attn.q.weight" }!].learningRateScale == 0.5)
        for (tensor, group) in zip(t.parameters.layout.tensors, t.groups) {
            #expect(group.decays == !tensor.name.hasSuffix("norm.weight"), "weight decay on \(tensor.name)")
        }
    }

    /// A checkpoint holds the whole state: a trainer rebuilt from it takes the same next steps.
    @Test func checkpointRoundTripResumesTheSameSteps() throws {
        let dir = TemporaryDirectory()
        let data = try Self.corpus(dir)
        let straight = try Self.trainer(data) { $0.steps = 4 }
        for _ in 0..<4 { _ = try straight.step() }

        let first = try Self.trainer(data) { $0.steps = 4 }
        _ = try first.step()
        _ = try first.step()
        let run = TrainingRun(directory: dir.file("run"))
        try run.prepare()
        try first.checkpoint(to: run.checkpointPath(step: 2))
        let resumed = try run.resume()
        #expect(resumed.progress == first.progress)
        _ = try resumed.step()
        _ = try resumed.step()
        #expect(Array(resumed.parameters.values.buffer) == Array(straight.parameters.values.buffer))
        #expect(resumed.progress.data == straight.progress.data)

        // The checkpoint is a model quietstar-run takes, and holds the moments and train.* keys.
        let file = try QStarFile.open(path: run.checkpointPath(step: 2))
        #expect(file.info(TrainingState.adamWFirstMoment(of: TensorNames.embedding)) != nil)
        #expect(try file.metadata.uint(TrainingState.stepKey) == 2)
        _ = try LanguageModel(path: run.checkpointPath(step: 2))
    }
}
