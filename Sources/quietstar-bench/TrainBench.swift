import ArgumentParser
import Foundation
import QuietStarCheckpoint
import QuietStarKernels
import QuietStarModel
import QuietStarTraining

/// `quietstar-bench train`: one training step of `quietstar-train` (forward with activations
/// kept, cross-entropy, backward, clipping, AdamW) on a ~19M-parameter model at context 256,
/// against the sgemm peak measured in the same run and, with `--pytorch PYTHON`, against the same
/// step in plain PyTorch on the CPU (`tools/bench_train_torch.py`, run by this process with the
/// same shapes and threads, so both numbers come from the same machine state).
///
/// FLOPs per token: `6 x parameters + 12 x layers x hidden x context`, the usual estimate of a
/// training step (forward 2, backward 4 per parameter and token, plus attention), the same
/// definition the PyTorch script uses.
struct TrainBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Training tokens/s and GFLOP/s of a ~19M-parameter model vs sgemm peak (and PyTorch with --pytorch).")

    @OptionGroup var options: BenchOptions

    @Option(help: "Transformer blocks.") var layers = 6
    @Option(help: "Hidden size.") var hidden = 512
    @Option(help: "Attention heads.") var heads = 8
    @Option(help: "FFN intermediate size.") var ffn = 1376
    @Option(help: "Vocabulary size (the byte tokenizer's 260 by default).") var vocab = 260
    @Option(help: "Context length (tokens per sequence).") var context = 256
    @Option(help: "Sequences per step.") var batch = 8
    @Option(help: "Timed steps (after one warm-up step).") var steps = 5
    @Option(help: "Matrix products, forward and backward: tiles (our kernels, what the trainer uses) or blas (OpenBLAS sgemm, for comparison).")
    var products = "tiles"
    @Option(help: "A Python with torch: also run tools/bench_train_torch.py with the same shapes and compare.")
    var pytorch: String?

    func run() throws {
        _ = options.apply()
        Machine.emitInfo(subcommand: "train")
        let quick = options.quick
        let c = ModelConfig(vocabSize: vocab, hiddenSize: quick ? 64 : hidden, layerCount: quick ? 2 : layers,
                            headCount: quick ? 2 : heads, kvHeadCount: quick ? 2 : heads,
                            headDim: (quick ? 64 : hidden) / (quick ? 2 : heads), intermediateSize: quick ? 160 : ffn,
                            contextLength: quick ? 64 : context, tieEmbeddings: true)
        let batch = quick ? 2 : self.batch, steps = quick ? 2 : self.steps
        let parameters = Parameters(config: c)
        parameters.initialise(seed: 1)
        let loss = LanguageModelLoss(weights: parameters.weights)
        guard products == "blas" || products == "tiles" else { throw ValidationError("--products must be tiles or blas") }
        loss.transformer.linearStrategy = products == "blas" ? .blas : .tiles
        let gradients = FloatBuffer(count: parameters.layout.count)
        let moments = AdamWMoments(count: parameters.layout.count)
        let optimizer = Optimizer.adamW(AdamW())
        let groups = parameters.layout.tensors.map { ParameterGroup(decays: $0.decays) }
        var random = LineRandom(seed: 3, line: 0)
        let tokensPerStep = batch * (c.contextLength - 1)
        var stepNumber = 0
        func step() throws {
            let sequences = (0..<batch).map { _ in
                TrainingSequence(tokens: (0..<c.contextLength).map { _ in Int32(random.next() % UInt64(c.vocabSize)) })
            }
            gradients.zero()
            try loss.run(sequences, scale: 1 / Float(tokensPerStep), gradients: parameters.gradients(in: gradients))
            clipGradients(gradients, tensors: parameters.layout.tensors, maxNorm: 1)
            stepNumber += 1
            optimizer.update(parameters: parameters.values, gradients: gradients, moments: moments,
                             tensors: parameters.layout.tensors, groups: groups, learningRate: 3e-4, step: stepNumber)
        }

        let peak = Baseline.measureSgemmPeak(minTime: options.quick ? 0.05 : options.minTime)
        // The FMA peak of the path our products run on: the ceiling independent of any BLAS build.
        let fmaPeak = Baseline.measureFMAPeak(avx512: KernelISA.current == .avx512, threads: Threads.count,
                                              minTime: options.quick ? 0.05 : options.minTime)
        try step()   // warm-up: buffers, pages, OpenBLAS threads
        var samples: [Double] = []
        for _ in 0..<steps {
            let t0 = Bench.now()
            try step()
            samples.append(Bench.seconds(since: t0))
        }
        samples.sort()
        let median = samples[samples.count / 2]
        let flopsPerToken = 6 * Double(parameters.layout.count) + 12 * Double(c.layerCount * c.hiddenSize * c.contextLength)
        // Tokens per step counted as the rows computed (batch x context), as PyTorch's script does.
        let rows = Double(batch * c.contextLength)
        let tokensPerSecond = rows / median
        let gflops = flopsPerToken * tokensPerSecond / 1e9
        let activationBytes = Activations.bytesPerRow(c, keepsLayers: true)
        let kvBytes = 2 * c.layerCount * c.kvDim * MemoryLayout<Float>.stride
        BenchOutput.emit([
            ("bench", "train"), ("implementation", "quietstar"), ("products", .string(products)), ("threads", .int(Threads.count)),
            ("layers", .int(c.layerCount)), ("hidden", .int(c.hiddenSize)), ("heads", .int(c.headCount)),
            ("ffn", .int(c.intermediateSize)), ("vocab", .int(c.vocabSize)), ("context", .int(c.contextLength)),
            ("batch", .int(batch)), ("parameters", .int(parameters.layout.count)),
            ("tokens_per_step", .int(batch * c.contextLength)),
            ("step_seconds_median", .double(median)), ("step_seconds_best", .double(samples[0])),
            ("tokens_per_second", .double(tokensPerSecond)), ("gflops_per_second", .double(gflops)),
            ("sgemm_peak_gflops", .double(peak)), ("fraction_of_sgemm_peak", .double(gflops / peak)),
            ("fma_peak_gflops", .double(fmaPeak)), ("fraction_of_fma_peak", .double(gflops / fmaPeak)),
            ("activation_bytes_per_token", .int(activationBytes + kvBytes)),
            ("peak_rss_mib", .double(Double(peakResidentBytes()) / Double(1 << 20))),
        ])
        BenchOutput.note(String(format: "train: %.0f tokens/s, %.1f GFLOP/s = %.0f%% of sgemm peak %.1f, %.0f%% of FMA peak %.1f; activations %d KiB/token",
                                tokensPerSecond, gflops, 100 * gflops / peak, peak, 100 * gflops / fmaPeak, fmaPeak,
                                (activationBytes + kvBytes) / 1024))

        guard let python = pytorch else { return }
        guard let (line, object) = try runPythonBaseline(python, script: "tools/bench_train_torch.py", arguments: [
            "--layers", "\(c.layerCount)", "--hidden", "\(c.hiddenSize)", "--heads", "\(c.headCount)",
            "--kv-heads", "\(c.kvHeadCount)", "--ffn", "\(c.intermediateSize)", "--vocab", "\(c.vocabSize)",
            "--context", "\(c.contextLength)", "--batch", "\(batch)", "--steps", "\(steps)", "--warmup", "1",
            "--threads", "\(Threads.count)"]), let torchRate = object["tokens_per_second"] as? Double else { return }
        print(line)
        BenchOutput.emit([("bench", "train_vs_pytorch"), ("quietstar_tokens_per_second", .double(tokensPerSecond)),
                          ("pytorch_tokens_per_second", .double(torchRate)), ("speedup", .double(tokensPerSecond / torchRate)),
                          ("pytorch_peak_rss_mib", .double(object["peak_rss_mib"] as? Double ?? .nan))])
        BenchOutput.note(String(format: "train: %.2fx PyTorch's tokens/s", tokensPerSecond / torchRate))
    }
}

/// Runs a Python baseline script of `tools/` (path relative to the repository) and returns its
/// last stdout line, parsed; nil (with a note) when it fails.
func runPythonBaseline(_ python: String, script: String, arguments: [String]) throws -> (String, [String: Any])? {
    let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent(script).path
    let process = Process()
    process.executableURL = URL(fileURLWithPath: python)
    process.arguments = [path] + arguments
    let out = Pipe()
    process.standardOutput = out
    process.standardError = FileHandle.nullDevice
    try process.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let line = String(decoding: data, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? ""
    guard process.terminationStatus == 0, let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
        BenchOutput.note("\(script) failed (status \(process.terminationStatus))")
        return nil
    }
    return (line, object)
}

/// This process's peak resident set (the kernel's high-water mark).
func peakResidentBytes() -> UInt64 {
    var usage = rusage()
    guard getrusage(RUSAGE_SELF.rawValue, &usage) == 0 else { return 0 }
    return UInt64(max(0, usage.ru_maxrss)) * 1024
}
