import ArgumentParser
import Foundation
import QuietStarCheckpoint
import QuietStarEngine
import QuietStarFormat
import QuietStarKernels
import QuietStarModel

/// `quietstar-bench engine`: the transformer step on a ~25M-parameter random model, against the
/// machine's own baselines measured in the same run.
///
/// - prefill: steps of `--prefill-rows` prompt rows (several lines of `--prefill-length` tokens,
///   causal attention, logits only at each line's last row, as generation does); tokens/s and
///   achieved GFLOP/s as a fraction of the sgemm peak.
/// - decode at batch `--batch` (64): one row per line, each line with `--context` tokens already
///   cached; tokens/s and fraction of the sgemm peak.
/// - end to end: `quietstar-run generate`'s library path (tokenizer, continuous batching,
///   sampling, in-order output) over `--batch` prompts at once.
/// - decode at batch 1: tokens/s against the memory-bandwidth bound, `copy bandwidth / weight
///   bytes per token` (every weight matrix and the output head are streamed once per token).
///
/// Rates use each measurement's best repeat, like the sgemm peak they are divided by (on a shared
/// machine the best repeat is the one least disturbed); medians are in the timing fields.
///
/// FLOPs counted: 2 per multiply-add of every weight matrix (all rows), of the output head (rows
/// that want logits), and of attention (q·k and p·v over each row's visible keys). Norms, rotary,
/// softmax and SwiGLU are not counted (they are time the step spends, not useful FLOPs).
extension CacheEncoding: ExpressibleByArgument {}

struct EngineBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engine",
        abstract: "Transformer prefill and decode throughput on a ~25M-parameter model vs sgemm peak and bandwidth.")

    @OptionGroup var options: BenchOptions

    @Option(help: "Weight dtype of the random model (f32, f16, bf16, q8_0).")
    var dtype: String = "f32"

    @Option(help: "Rows per prefill step.")
    var prefillRows: Int = 512

    @Option(help: "Tokens per line in the prefill measurement.")
    var prefillLength: Int = 128

    @Option(help: "Lines decoded together in the batched decode measurement.")
    var batch: Int = 64

    @Option(help: "Tokens already cached per line when decoding.")
    var context: Int = 128

    @Option(help: "KV cache storage: f32 or f16.")
    var kvCache: CacheEncoding = .f32

    @Option(help: ArgumentHelp("Measure this checkpoint instead of the random model (--dtype is then the file's).",
                               discussion: "tools/bench compare uses it to run our engine and llama.cpp on the same weights."))
    var model: String?

    func run() throws {
        let minTime = options.apply()
        guard let weightType = DType(name: dtype), weightType.isFloatingPoint else {
            throw ValidationError("--dtype must be f32, f16, bf16 or q8_0")
        }
        Machine.emitInfo(subcommand: "engine")
        let quick = options.quick
        if let model {
            let file = try QStarFile.open(path: model)
            let config = try ModelConfig(metadata: file.metadata)
            try measure(config: config, file: file, path: model, minTime: minTime, quick: quick)
            return
        }
        // hidden 512, 6 layers, 8 heads of 64, SwiGLU 1536, vocabulary 8192 tied: 24.6M parameters.
        let config = quick
            ? ModelConfig(vocabSize: 1024, hiddenSize: 128, layerCount: 2, headCount: 4, kvHeadCount: 4, headDim: 32,
                          intermediateSize: 384, contextLength: 1024, tieEmbeddings: true)
            : ModelConfig(vocabSize: 8192, hiddenSize: 512, layerCount: 6, headCount: 8, kvHeadCount: 8, headDim: 64,
                          intermediateSize: 1536, contextLength: 1024, tieEmbeddings: true)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("quietstar-engine-bench-\(getpid()).qstar").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try RandomModel.write(to: path, config: config, dtype: weightType, seed: 1,
                              extraMetadata: RandomModel.byteTokenizerMetadata)
        try measure(config: config, file: try QStarFile.open(path: path), path: path, minTime: minTime, quick: quick)
    }

    func measure(config: ModelConfig, file: QStarFile, path: String, minTime: Double, quick: Bool) throws {
        let parameters = config.layerMatrixParameters + config.vocabSize * config.hiddenSize
        let weights = try ModelWeights(file: file, config: config)
        let weightType = weights.layers.first?.q.encoding.rawValue ?? weights.output.encoding.rawValue
        let transformer = Transformer(weights: weights)

        let peak = Baseline.measureSgemmPeak(minTime: minTime)
        let copy = Baseline.measureCopyBandwidth(bytes: quick ? 16 << 20 : 256 << 20, minTime: minTime)
        BenchOutput.emit([("bench", "engine_baseline"), ("sgemm_peak_gflops", .double(peak)),
                          ("copy_gb_per_s", .double(copy)), ("threads", .int(Threads.count))])
        BenchOutput.emit([("bench", "engine_model"), ("parameters", .int(parameters)), ("dtype", .string(weightType)),
                          ("hidden", .int(config.hiddenSize)), ("layers", .int(config.layerCount)),
                          ("heads", .int(config.headCount)), ("intermediate", .int(config.intermediateSize)),
                          ("vocab", .int(config.vocabSize)), ("weight_bytes_per_token", .int(weights.bytesPerToken)),
                          ("kv_cache", .string(kvCache.rawValue))])

        /// One more run of `body` with the step profiler on: where the time goes, by phase.
        func profile(_ name: String, _ body: () -> Void) {
            let p = StepProfile()
            transformer.profile = p
            body()
            transformer.profile = nil
            let total = StepProfile.Phase.allCases.reduce(0) { $0 + p.seconds($1) }
            var fields: [(String, BenchValue)] = [("bench", "engine_profile"), ("case", .string(name)), ("seconds", .double(total))]
            for phase in StepProfile.Phase.allCases { fields.append((phase.rawValue, .double(p.seconds(phase) / total))) }
            BenchOutput.emit(fields)
        }

        // Useful FLOPs of a step (see the type's doc comment).
        let matrixFlopsPerRow = 2 * Double(config.layerMatrixParameters)
        let headFlopsPerRow = 2 * Double(config.vocabSize * config.hiddenSize)
        func attentionFlops(visible: Int) -> Double { 4 * Double(config.queryDim * config.layerCount) * Double(visible) }

        // Prefill: lines of `prefillLength` tokens packed into steps of `prefillRows`.
        do {
            let length = min(prefillLength, prefillRows)
            let lines = max(1, prefillRows / length)
            let rows = lines * length
            let cache = try KVCache(config: config, slots: lines, rowsPerSlot: config.contextLength, encoding: kvCache)
            var step = StepBatch()
            var flops = 0.0
            for s in 0..<lines {
                for p in 0..<length {
                    step.append(token: Int32((s * 7919 + p * 104_729) % config.vocabSize), position: p,
                                cacheRow: cache.textRow(slot: s, position: p),
                                visible: cache.visibleRows(slot: s, position: p, window: nil), logits: p == length - 1)
                    flops += matrixFlopsPerRow + attentionFlops(visible: p + 1) + (p == length - 1 ? headFlopsPerRow : 0)
                }
            }
            let t = Bench.measure(minTime: minTime, minRepeats: 3) { _ = transformer.step(step, cache: cache) }
            profile("prefill") { _ = transformer.step(step, cache: cache) }
            let gflops = flops / t.best / 1e9
            BenchOutput.emit([("bench", "engine_prefill"), ("rows_per_step", .int(rows)), ("line_length", .int(length)),
                              ("tokens_per_s", .double(Double(rows) / t.best)), ("gflops", .double(gflops)),
                              ("fraction_of_sgemm_peak", .double(gflops / peak))] + t.fields)
            BenchOutput.note(String(format: "prefill: %.0f tokens/s, %.1f GFLOP/s = %.0f%% of sgemm peak %.1f",
                                    Double(rows) / t.best, gflops, 100 * gflops / peak, peak))
        }

        // Decode: `lines` rows per step, each line `context` tokens deep, 16 steps per timing.
        func decode(lines: Int) throws -> (tokensPerSecond: Double, gflops: Double, timing: Timing) {
            let cache = try KVCache(config: config, slots: lines, rowsPerSlot: config.contextLength, encoding: kvCache)
            var step = StepBatch()
            // Fill every line's cache with `context` tokens, a prefill chunk at a time.
            for s in 0..<lines {
                var p0 = 0
                while p0 < context {
                    step.removeAll()
                    for p in p0..<min(context, p0 + prefillRows) {
                        step.append(token: Int32((s * 31 + p * 17) % config.vocabSize), position: p,
                                    cacheRow: cache.textRow(slot: s, position: p),
                                    visible: cache.visibleRows(slot: s, position: p, window: nil), logits: false)
                    }
                    _ = transformer.step(step, cache: cache)
                    p0 += prefillRows
                }
            }
            let steps = 16
            var flops = 0.0
            for k in 0..<steps {
                flops += Double(lines) * (matrixFlopsPerRow + headFlopsPerRow + attentionFlops(visible: context + k + 1))
            }
            func run() {
                for k in 0..<steps {
                    step.removeAll()
                    for s in 0..<lines {
                        let p = context + k
                        step.append(token: Int32((s + k * 13) % config.vocabSize), position: p,
                                    cacheRow: cache.textRow(slot: s, position: p),
                                    visible: cache.visibleRows(slot: s, position: p, window: nil), logits: true)
                    }
                    _ = transformer.step(step, cache: cache)
                }
            }
            let t = Bench.measure(warmup: 1, minTime: minTime, minRepeats: 3) { run() }
            profile("decode_batch_\(lines)") { run() }
            return (Double(lines * steps) / t.best, flops / t.best / 1e9, t)
        }

        let batched = try decode(lines: batch)
        BenchOutput.emit([("bench", "engine_decode"), ("batch", .int(batch)), ("context", .int(context)),
                          ("tokens_per_s", .double(batched.tokensPerSecond)), ("gflops", .double(batched.gflops)),
                          ("fraction_of_sgemm_peak", .double(batched.gflops / peak))] + batched.timing.fields)
        BenchOutput.note(String(format: "decode batch %d: %.0f tokens/s, %.1f GFLOP/s = %.0f%% of sgemm peak",
                                batch, batched.tokensPerSecond, batched.gflops, 100 * batched.gflops / peak))

        // End to end through the generator: `batch` prompts of ~prefillLength bytes (the byte
        // tokenizer: one token per byte), 32 greedy tokens each, twice as many lines as slots.
        do {
            let model = try LanguageModel(path: path)
            var options = GenerationOptions()
            options.maxTokens = quick ? 4 : 32
            options.batchSize = batch
            options.kvCache = kvCache
            options.ignoreEndOfSequence = true
            let generator = try Generator(model: model, options: options)
            var random = LineRandom(seed: 9, line: 0)
            let prompts = (0..<(2 * batch)).map { _ in
                String((0..<prefillLength).map { _ in Character(Unicode.Scalar(UInt8(97 + random.next() % 26))) })
            }
            var rows = 0
            let t0 = Bench.now()
            var source = prompts.enumerated().map { LineRequest(line: $0.offset, tag: (), text: .success($0.element)) }.makeIterator()
            var generated = 0
            generator.run(&source, emit: { generated += (try? $0.result.get().tokens.count) ?? 0 }, onStep: { rows += $0 })
            let seconds = Bench.seconds(since: t0)
            BenchOutput.emit([("bench", "engine_generate"), ("lines", .int(prompts.count)), ("batch", .int(batch)),
                              ("prompt_tokens_per_line", .int(prefillLength + 1)), ("new_tokens_per_line", .int(options.maxTokens)),
                              ("generated_tokens_per_s", .double(Double(generated) / seconds)),
                              ("processed_tokens_per_s", .double(Double(rows) / seconds)), ("seconds", .double(seconds))])
            BenchOutput.note(String(format: "generate end to end: %d lines, %.0f new tokens/s, %.0f tokens/s through the model",
                                    prompts.count, Double(generated) / seconds, Double(rows) / seconds))
        }

        let single = try decode(lines: 1)
        let bound = copy * 1e9 / Double(weights.bytesPerToken)
        BenchOutput.emit([("bench", "engine_decode"), ("batch", 1), ("context", .int(context)),
                          ("tokens_per_s", .double(single.tokensPerSecond)),
                          ("bandwidth_bound_tokens_per_s", .double(bound)),
                          ("fraction_of_bandwidth_bound", .double(single.tokensPerSecond / bound)),
                          ("fraction_of_sgemm_peak", .double(single.gflops / peak))] + single.timing.fields)
        BenchOutput.note(String(format: "decode batch 1: %.0f tokens/s = %.0f%% of the bandwidth bound %.0f tokens/s (%.1f GB/s copy, %.1f MB/token)",
                                single.tokensPerSecond, 100 * single.tokensPerSecond / bound, bound, copy,
                                Double(weights.bytesPerToken) / 1e6))
        withExtendedLifetime(file) {}
    }
}
