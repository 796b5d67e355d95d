import ArgumentParser
import Foundation
import QuietStarCheckpoint
import QuietStarEngine
import QuietStarFormat
import QuietStarKernels
import QuietStarModel

/// `quietstar-bench thoughts`: Quiet-STaR scoring and generation against plain scoring and
/// generation of the same text on the same ~25M-parameter random model (with random thought
/// parameters), timed interleaved in one run so load changes hit both alike.
///
/// - scoring: `--lines` lines of `--length` tokens, plain (`Scorer`) vs thoughts (`ThoughtScorer`,
///   k content tokens, temperature 1). Issue bound: thought / plain time <= (k + 2) x 1.3.
/// - generation at batch `--batch`: prompts of `--prompt-length` tokens, `--new-tokens` each,
///   plain (`Generator`) vs thoughts (`ThoughtGenerator`). Issue bound: thought / plain
///   throughput >= 0.7 / (k + 2).
///
/// Fraction of the sgemm peak counts only the weight-matrix FLOPs of the rows each run puts
/// through the transformer (2 per multiply-add, rows counted by the step callback); output
/// heads, the mixing head and attention are left out, so it is a lower bound.
struct ThoughtBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "thoughts",
        abstract: "Quiet-STaR scoring and generation vs plain, on a ~25M-parameter model, and fraction of sgemm peak.")

    @OptionGroup var options: BenchOptions

    @Option(help: "Thought content tokens (k).")
    var thoughtTokens: Int = 3

    @Option(help: "Lines scored per run.")
    var lines: Int = 4

    @Option(help: "Tokens per scored line.")
    var length: Int = 128

    @Option(help: "Lines generated together.")
    var batch: Int = 64

    @Option(help: "Prompt tokens per generated line.")
    var promptLength: Int = 16

    @Option(help: "Tokens generated per line.")
    var newTokens: Int = 16

    func run() throws {
        let minTime = options.apply()
        Machine.emitInfo(subcommand: "thoughts")
        let quick = options.quick
        let k = thoughtTokens
        let config = quick
            ? ModelConfig(vocabSize: 1024, hiddenSize: 128, layerCount: 2, headCount: 4, kvHeadCount: 4, headDim: 32,
                          intermediateSize: 384, contextLength: 1024, tieEmbeddings: true)
            : ModelConfig(vocabSize: 8192, hiddenSize: 512, layerCount: 6, headCount: 8, kvHeadCount: 8, headDim: 64,
                          intermediateSize: 1536, contextLength: 1024, tieEmbeddings: true)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("quietstar-thought-bench-\(getpid()).qstar").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try RandomModel.write(to: path, config: config, seed: 1, extraMetadata: RandomModel.byteTokenizerMetadata,
                              quietStar: .byteTokenizer)
        let model = try LanguageModel(path: path)
        guard let thoughts = try LanguageModel(path: path).thoughts else {
            throw ValidationError("the benchmark model has no thought parameters")
        }
        let peak = Baseline.measureSgemmPeak(minTime: minTime)
        BenchOutput.emit([("bench", "thoughts_baseline"), ("sgemm_peak_gflops", .double(peak)), ("threads", .int(Threads.count)),
                          ("thought_tokens", .int(k)), ("hidden", .int(config.hiddenSize)), ("layers", .int(config.layerCount)),
                          ("vocab", .int(config.vocabSize))])
        let flopsPerRow = 2 * Double(config.layerMatrixParameters)

        // Byte-tokenizer texts: `n` printable bytes (+ BOS) each.
        func texts(_ count: Int, _ n: Int, seed: UInt64) -> [String] {
            var r = LineRandom(seed: seed, line: 3)
            return (0..<count).map { _ in String((0..<n).map { _ in Character(UnicodeScalar(UInt8(97 + r.next() % 26))) }) }
        }

        // Scoring.
        do {
            let scoreLines = quick ? 2 : lines, n = quick ? 32 : length
            let input = texts(scoreLines, n - 1, seed: 1)
            var options = ScoreOptions()
            options.batchSize = scoreLines
            let plain = try Scorer(model: model, options: options)
            let thinking = try ThoughtScorer(model: model, options: options,
                                             thoughtOptions: ThoughtOptions(thoughtTokens: k, temperature: 1))
            var plainRows = 0, thoughtRows = 0
            let t = Bench.measureInterleaved(warmup: 1, minTime: minTime, minRounds: 3, [
                { plainRows = 0; var source = Self.requests(input); plain.run(&source, emit: { _ in }, onStep: { plainRows += $0 }) },
                { thoughtRows = 0; var source = Self.requests(input); thinking.run(&source, emit: { _ in }, onStep: { thoughtRows += $0 }) },
            ])
            let ratio = t[1].median / t[0].median, bound = Double(k + 2) * 1.3
            let gflops = Double(thoughtRows) * flopsPerRow / t[1].median / 1e9
            let plainGflops = Double(plainRows) * flopsPerRow / t[0].median / 1e9
            BenchOutput.emit([("bench", "thoughts_score"), ("lines", .int(scoreLines)), ("tokens_per_line", .int(n)),
                              ("thought_tokens", .int(k)), ("plain_seconds", .double(t[0].median)),
                              ("thought_seconds", .double(t[1].median)), ("time_ratio", .double(ratio)),
                              ("bound_ratio", .double(bound)), ("within_bound", .bool(ratio <= bound)),
                              ("plain_fraction_of_sgemm_peak", .double(plainGflops / peak)),
                              ("thought_fraction_of_sgemm_peak", .double(gflops / peak)),
                              ("thought_rows", .int(thoughtRows)), ("plain_rows", .int(plainRows))])
            BenchOutput.note(String(format: "score k=%d: thoughts take %.2fx plain (bound %.2fx); matrix GFLOP/s %.1f plain, %.1f thoughts = %.0f%% of sgemm peak %.1f",
                                    k, ratio, bound, plainGflops, gflops, 100 * gflops / peak, peak))
        }

        // Generation at batch `batch`.
        do {
            let lines = quick ? 8 : batch, prompt = quick ? 8 : promptLength, new = quick ? 4 : newTokens
            let input = texts(lines, prompt - 1, seed: 2)
            var options = GenerationOptions()
            options.batchSize = lines
            options.maxTokens = new
            options.ignoreEndOfSequence = true
            options.maxStepTokens = max(512, 2 * lines)
            let plain = try Generator(model: model, options: options)
            let thinking = try ThoughtGenerator(model: model, options: options,
                                                thoughtOptions: ThoughtOptions(thoughtTokens: k, temperature: 1))
            var plainRows = 0, thoughtRows = 0
            let t = Bench.measureInterleaved(warmup: 1, minTime: minTime, minRounds: 3, [
                { plainRows = 0; var source = Self.requests(input); plain.run(&source, emit: { _ in }, onStep: { plainRows += $0 }) },
                { thoughtRows = 0; var source = Self.requests(input); thinking.run(&source, emit: { _ in }, onStep: { thoughtRows += $0 }) },
            ])
            let generated = Double(lines * new)
            let plainRate = generated / t[0].median, thoughtRate = generated / t[1].median
            let fraction = thoughtRate / plainRate, bound = 0.7 / Double(k + 2)
            let gflops = Double(thoughtRows) * flopsPerRow / t[1].median / 1e9
            let plainGflops = Double(plainRows) * flopsPerRow / t[0].median / 1e9
            BenchOutput.emit([("bench", "thoughts_generate"), ("batch", .int(lines)), ("prompt_tokens", .int(prompt)),
                              ("new_tokens", .int(new)), ("thought_tokens", .int(k)),
                              ("plain_tokens_per_s", .double(plainRate)), ("thought_tokens_per_s", .double(thoughtRate)),
                              ("throughput_fraction", .double(fraction)), ("bound_fraction", .double(bound)),
                              ("within_bound", .bool(fraction >= bound)),
                              ("plain_fraction_of_sgemm_peak", .double(plainGflops / peak)),
                              ("thought_fraction_of_sgemm_peak", .double(gflops / peak))])
            BenchOutput.note(String(format: "generate batch %d k=%d: %.0f tokens/s with thoughts vs %.0f plain = %.3f (bound %.3f); matrix GFLOP/s %.1f = %.0f%% of sgemm peak",
                                    lines, k, thoughtRate, plainRate, fraction, bound, gflops, 100 * gflops / peak))
        }
    }

    static func requests(_ texts: [String]) -> IndexingIterator<[LineRequest<Void>]> {
        texts.enumerated().map { LineRequest(line: $0.offset, tag: (), text: .success($0.element)) }.makeIterator()
    }
}
