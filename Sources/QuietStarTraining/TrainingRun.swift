import Foundation
import QuietStarCheckpoint
import QuietStarFormat
import QuietStarModel
import QuietStarTokenizer

/// A run's output directory: training checkpoints `checkpoint-<step>.qstar` (the last `keep`),
/// `metrics.jsonl` (one line per step and per evaluation), and the loop that fills them.
public struct TrainingRun {
    public let directory: String
    public static let metricsFile = "metrics.jsonl"

    public init(directory: String) { self.directory = directory }

    public func checkpointPath(step: Int) -> String {
        (directory as NSString).appendingPathComponent(String(format: "checkpoint-%08d.qstar", step))
    }

    /// Steps of the checkpoints in the directory, ascending.
    public func checkpointSteps() -> [Int] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.compactMap { name -> Int? in
            guard name.hasPrefix("checkpoint-"), name.hasSuffix(".qstar") else { return nil }
            return Int(name.dropFirst("checkpoint-".count).dropLast(".qstar".count))
        }.sorted()
    }

    /// What a training loop reports as it goes.
    public enum Event {
        case step(StepMetrics, elapsed: Double)
        case evaluation(step: Int, loss: Double, targets: Int)
        case quietStarEvaluation(step: Int, QuietStarMetrics)
        case checkpoint(path: String)
    }

    /// Creates the directory (it may exist; a resumed run reuses it).
    public func prepare() throws(TrainingError) {
        do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        catch { throw TrainingError("\(directory): cannot create the output directory: \(error)", kind: .cannotCreateOutput) }
    }

    /// Rebuilds the trainer of the newest checkpoint in the directory, with its own options
    /// (`steps` may be raised to train further). Metrics lines past the checkpoint's step (written
    /// by the interrupted run after its last checkpoint) are dropped.
    public func resume(steps: Int? = nil) throws(TrainingError) -> Trainer {
        guard let last = checkpointSteps().last else {
            throw TrainingError("\(directory): no checkpoint-*.qstar to resume from", kind: .missingInput)
        }
        let path = checkpointPath(step: last)
        let file: QStarFile
        do { file = try QStarFile.open(path: path) } catch { throw TrainingError("\(path): \(error)") }
        guard let progress = try TrainingCheckpoint.progress(file),
              case .string(let json)? = file.metadata[TrainingCheckpoint.optionsKey] else {
            throw TrainingError("\(path): not a training checkpoint (no train.step / train.options)")
        }
        var options = try TrainingOptions.parse(json)
        if let steps { options.steps = steps }
        let (config, tokenizer) = try TrainingCheckpoint.model(file, path: path)
        let parameters: Parameters
        if options.objective == "quietstar" {
            parameters = Parameters(config: config, extra: TensorNames.thought(config))
            for t in [TensorNames.Thought.startEmbedding, .endEmbedding] {
                parameters.fileScales[t.rawValue] = Float(options.quietStar.embeddingScale)
            }
        } else {
            parameters = Parameters(config: config)
        }
        try parameters.load(from: file)
        var moments: AdamWMoments?
        if options.optimizer == "adamw" {
            moments = AdamWMoments(count: parameters.layout.count)
            try TrainingCheckpoint.loadMoments(file, into: moments!, layout: parameters.layout)
        }
        try truncateMetrics(after: progress.step)
        // A checkpoint write that was killed leaves its temporary file: nobody else writes here.
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        where name.hasPrefix("checkpoint-") && name.contains(".qstar.tmp-") {
            try? FileManager.default.removeItem(atPath: (directory as NSString).appendingPathComponent(name))
        }
        return try Trainer(options: options, parameters: parameters, tokenizer: tokenizer,
                           metadata: TrainingCheckpoint.modelMetadata(file), progress: progress, moments: moments)
    }

    /// Runs `trainer` to its last step: metrics per step, evaluation every `evalEvery` steps and
    /// at the end, a checkpoint every `checkpointEvery` steps and at the end.
    public func run(_ trainer: Trainer, report: (Event) -> Void) throws(TrainingError) {
        try prepare()
        let metrics = try MetricsFile(path: (directory as NSString).appendingPathComponent(Self.metricsFile))
        let o = trainer.options
        let started = DispatchTime.now().uptimeNanoseconds
        func elapsed() -> Double { Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9 }
        while !trainer.isFinished {
            let m = try trainer.step()
            let last = trainer.isFinished
            var extra = ""
            if let q = m.quietStar {
                extra = ",\"base_nll\":\(json(q.baseNLL)),\"mixed_nll\":\(json(q.mixedNLL)),\"mixed_nll_next\":\(json(q.mixedNLLPerStep.first ?? .nan)),\"policy\":\(json(q.policy)),\"mean_w\":\(json(q.meanW)),\"mean_reward\":\(json(q.meanReward)),\"positive_reward_fraction\":\(json(q.positiveRewardFraction))"
            }
            metrics.write("{\"step\":\(m.step),\"loss\":\(json(m.loss)),\"lr\":\(json(m.learningRate)),\"grad_norm\":\(json(m.gradientNorm)),\"tokens\":\(m.tokens),\"tokens_per_second\":\(json(Double(m.tokens) / max(m.seconds, 1e-9))),\"elapsed_seconds\":\(json(elapsed()))\(extra)}")
            report(.step(m, elapsed: elapsed()))
            let evaluates = !o.evalData.isEmpty && ((o.evalEvery > 0 && m.step % o.evalEvery == 0) || last)
            if evaluates, trainer.quietStar != nil {
                let e = try trainer.evaluateQuietStar(o.evalData)
                metrics.write("{\"step\":\(m.step),\"eval_base_nll\":\(json(e.baseNLL)),\"eval_mixed_nll\":\(json(e.mixedNLL)),\"eval_mixed_nll_next\":\(json(e.mixedNLLPerStep.first ?? .nan)),\"eval_mean_w\":\(json(e.meanW)),\"eval_targets\":\(e.baseTargets)}")
                report(.quietStarEvaluation(step: m.step, e))
            } else if evaluates {
                let e = try trainer.evaluate(o.evalData)
                metrics.write("{\"step\":\(m.step),\"eval_loss\":\(json(e.loss)),\"eval_targets\":\(e.targets)}")
                report(.evaluation(step: m.step, loss: e.loss, targets: e.targets))
            }
            if (o.checkpointEvery > 0 && m.step % o.checkpointEvery == 0) || last {
                let path = checkpointPath(step: m.step)
                try trainer.checkpoint(to: path)
                report(.checkpoint(path: path))
                for old in checkpointSteps().dropLast(o.keep) { try? FileManager.default.removeItem(atPath: checkpointPath(step: old)) }
            }
        }
    }

    private func truncateMetrics(after step: Int) throws(TrainingError) {
        let path = (directory as NSString).appendingPathComponent(Self.metricsFile)
        guard let data = FileManager.default.contents(atPath: path) else { return }
        var kept: [Substring] = []
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            guard let r = line.range(of: "\"step\":") else { continue }
            let digits = line[r.upperBound...].prefix { $0.isNumber }
            if let s = Int(digits), s <= step { kept.append(line) }
        }
        let text = kept.map { $0 + "\n" }.joined()
        do { try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic) }
        catch { throw TrainingError("\(path): cannot rewrite the metrics: \(error)") }
    }
}

/// A number as JSON (non-finite values become null).
func json(_ x: Double) -> String { x.isFinite ? "\(x)" : "null" }

/// Appends lines to the metrics file, each written whole.
final class MetricsFile {
    private let handle: FileHandle
    init(path: String) throws(TrainingError) {
        if !FileManager.default.fileExists(atPath: path) { FileManager.default.createFile(atPath: path, contents: nil) }
        guard let h = FileHandle(forWritingAtPath: path) else { throw TrainingError("\(path): cannot open the metrics file") }
        h.seekToEndOfFile()
        handle = h
    }
    deinit { try? handle.close() }
    func write(_ line: String) { handle.write(Data((line + "\n").utf8)) }
}
