import ArgumentParser
import Foundation
import QuietStarCheckpoint
import QuietStarFormat
import QuietStarKernels
import QuietStarModel
import QuietStarTraining

/// `quietstar-bench train-quietstar`: one step of `quietstar-train quietstar` (thoughts sampled by
/// the model, the Quiet-STaR objective's forward and backward, clipping, AdamW) on a random model
/// of the 5M arithmetic shape, and, with `--pytorch PYTHON --reference CHECKOUT`, the same step of
/// the public reference implementation (`tools/bench_quietstar_torch.py`) run by this process with
/// the same shapes and threads. Tokens are text tokens (`batch x length`) per second; each costs
/// `passes x (thought tokens + 2 + lookahead - 1)` thought rows besides its own.
struct TrainQuietStarBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-quietstar",
        abstract: "Quiet-STaR training step tokens/s (and the public PyTorch reference's with --pytorch).")

    @OptionGroup var options: BenchOptions
    @Option(help: "Transformer blocks.") var layers = 6
    @Option(help: "Hidden size.") var hidden = 256
    @Option(help: "Attention heads.") var heads = 4
    @Option(help: "FFN intermediate size.") var ffn = 688
    @Option(help: "Sequences per step.") var batch = 2
    @Option(help: "Tokens per sequence.") var length = 64
    @Option(help: "Content tokens per thought.") var thoughtTokens = 4
    @Option(help: "Lookahead (talk steps).") var lookahead = 4
    @Option(help: "Thoughts per position.") var passes = 2
    @Option(help: "Timed steps (after one warm-up step).") var steps = 3
    @Option(help: "A Python with the reference's requirements (tools/reference/requirements-quietstar-ref.txt).")
    var pytorch: String?
    @Option(help: "A checkout of ezelikman/quiet-star, for --pytorch.") var reference: String?

    func run() throws {
        _ = options.apply()
        Machine.emitInfo(subcommand: "train-quietstar")
        let quick = options.quick
        let h = quick ? 64 : hidden, n = quick ? 2 : heads
        let c = ModelConfig(vocabSize: 260, hiddenSize: h, layerCount: quick ? 2 : layers, headCount: n, kvHeadCount: n,
                            headDim: h / n, intermediateSize: quick ? 160 : ffn, contextLength: 512, bosTokenId: 256,
                            eosTokenIds: [257])
        let batch = quick ? 1 : self.batch, length = quick ? 16 : self.length, steps = quick ? 1 : self.steps
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("quietstar-train-bench-\(getpid()).qstar").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try RandomModel.write(to: path, config: c, seed: 1, extraMetadata: RandomModel.byteTokenizerMetadata,
                              quietStar: .byteTokenizer)
        var hyper = QuietStarHyperparameters()
        hyper.thoughtTokens = thoughtTokens
        hyper.lookahead = lookahead
        hyper.passes = passes
        let parameters = Parameters(config: c, extra: TensorNames.thought(c))
        for t in [TensorNames.Thought.startEmbedding, .endEmbedding] { parameters.fileScales[t.rawValue] = Float(hyper.embeddingScale) }
        try parameters.load(from: try QStarFile.open(path: path))
        let objective = try QuietStarObjective(parameters: parameters, hyper: hyper, startTokenId: 258, endTokenId: 259)
        let gradients = FloatBuffer(count: parameters.layout.count)
        let moments = AdamWMoments(count: parameters.layout.count)
        let optimizer = Optimizer.adamW(AdamW())
        let groups = parameters.layout.tensors.map { ParameterGroup(decays: $0.decays) }
        var random = LineRandom(seed: 3, line: 0)
        var stepNumber = 0
        func step() throws {
            let sequences = (0..<batch).map { _ in [Int32(256)] + (1..<length).map { _ in Int32(3 + random.next() % 253) } }
            gradients.zero()
            let content = try objective.sampleThoughts(sequences, seed: random.next())
            _ = try objective.run(sequences, content: content, gradients: gradients)
            clipGradients(gradients, tensors: parameters.layout.tensors, maxNorm: 1)
            stepNumber += 1
            optimizer.update(parameters: parameters.values, gradients: gradients, moments: moments,
                             tensors: parameters.layout.tensors, groups: groups, learningRate: 1e-6, step: stepNumber)
        }
        try step()
        var samples: [Double] = []
        for _ in 0..<steps {
            let t0 = Bench.now()
            try step()
            samples.append(Bench.seconds(since: t0))
        }
        samples.sort()
        let median = samples[samples.count / 2]
        let tokensPerSecond = Double(batch * length) / median
        BenchOutput.emit([
            ("bench", "train_quietstar"), ("implementation", "quietstar"), ("threads", .int(Threads.count)),
            ("layers", .int(c.layerCount)), ("hidden", .int(h)), ("heads", .int(n)), ("ffn", .int(c.intermediateSize)),
            ("vocab", .int(c.vocabSize)), ("batch", .int(batch)), ("length", .int(length)),
            ("thought_tokens", .int(thoughtTokens)), ("lookahead", .int(lookahead)), ("passes", .int(passes)),
            ("parameters", .int(parameters.layout.count)), ("step_seconds_median", .double(median)),
            ("step_seconds_best", .double(samples[0])), ("tokens_per_second", .double(tokensPerSecond)),
            ("peak_rss_mib", .double(Double(peakResidentBytes()) / Double(1 << 20))),
        ])
        BenchOutput.note(String(format: "train-quietstar: %.1f tokens/s", tokensPerSecond))

        guard let python = pytorch else { return }
        guard let reference else { throw ValidationError("--pytorch needs --reference CHECKOUT") }
        guard let (line, object) = try runPythonBaseline(python, script: "tools/bench_quietstar_torch.py", arguments: [
            reference, "--layers", "\(c.layerCount)", "--hidden", "\(h)", "--heads", "\(n)", "--kv-heads", "\(n)",
            "--ffn", "\(c.intermediateSize)", "--vocab", "\(c.vocabSize)", "--batch", "\(batch)", "--length", "\(length)",
            "--thought-tokens", "\(thoughtTokens)", "--lookahead", "\(lookahead)", "--passes", "\(passes)",
            "--steps", "\(steps)", "--warmup", "1", "--threads", "\(Threads.count)"]),
            let torchRate = object["tokens_per_second"] as? Double else { return }
        print(line)
        BenchOutput.emit([("bench", "train_quietstar_vs_reference"), ("quietstar_tokens_per_second", .double(tokensPerSecond)),
                          ("reference_tokens_per_second", .double(torchRate)), ("speedup", .double(tokensPerSecond / torchRate)),
                          ("reference_peak_rss_mib", .double(object["peak_rss_mib"] as? Double ?? .nan))])
        BenchOutput.note(String(format: "train-quietstar: %.2fx the reference's tokens/s", tokensPerSecond / torchRate))
    }
}
