import ArgumentParser
import Foundation
import QuietStarCheckpoint
import QuietStarCLI
import QuietStarFormat
import QuietStarKernels
import QuietStarTokenizer
import QuietStarTraining

extension TrainingError.Kind {
    var exitStatus: ExitStatus {
        switch self {
        case .invalidInput: .invalidInput
        case .missingInput: .missingInput
        case .cannotCreateOutput: .cannotCreateOutput
        case .usage: .usage
        }
    }
}

/// The options every subcommand's flags give, and the run's directory.
func trainingOptions(_ data: DataFlags, _ optimisation: OptimisationFlags, _ run: RunFlags) throws
    -> (TrainingOptions, TrainingRun) {
    var o = TrainingOptions()
    try data.apply(to: &o)
    try optimisation.apply(to: &o)
    run.apply(to: &o)
    return (o, TrainingRun(directory: try outputDirectory(run)))
}

func outputDirectory(_ run: RunFlags) throws -> String {
    guard let output = run.output else { throw ValidationError("give the run's directory with --output (or --resume DIR)") }
    return output
}

/// Builds the trainer of a fresh run (or the resumed one), runs it with progress on stderr, and
/// exports the weights-only model when asked.
func runTraining(_ run: RunFlags, build: () throws -> (Trainer, TrainingRun)) throws {
    if let threads = run.threads {
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        Threads.configure(count: threads)
    }
    let tool = "quietstar-train"
    do {
        let trainer: Trainer, directory: TrainingRun
        if let resume = run.resume {
            directory = TrainingRun(directory: resume)
            trainer = try directory.resume(steps: nil)
            if !run.quiet { StandardError.report(tool, "resuming \(resume) at step \(trainer.progress.step) of \(trainer.options.steps)") }
        } else {
            (trainer, directory) = try build()
            if let existing = directory.checkpointSteps().last {
                throw TrainingError("\(directory.directory) already holds checkpoint-\(existing); continue it with --resume \(directory.directory) or choose another --output", kind: .usage)
            }
        }
        let c = trainer.parameters.config
        if !run.quiet {
            StandardError.report(tool, "model: \(c.layerCount) layers, hidden \(c.hiddenSize), \(c.headCount) heads (\(c.kvHeadCount) kv), ffn \(c.intermediateSize), context \(c.contextLength), vocab \(c.vocabSize), \(trainer.parameters.layout.count) parameters")
        }
        let line = ProgressLine(enabled: StandardError.isTerminal && !run.quiet)
        let total = trainer.options.steps, first = trainer.progress.step
        try directory.run(trainer) { event in
            guard !run.quiet else { return }
            switch event {
            case .step(let m, let elapsed):
                let done = m.step - first
                let eta = done > 0 ? elapsed / Double(done) * Double(total - m.step) : 0
                var text = String(format: "step %d/%d  loss %.4f  lr %.3g  |g| %.3g  %.0f tok/s  ETA %@", m.step, total, m.loss,
                                  m.learningRate, m.gradientNorm, Double(m.tokens) / max(m.seconds, 1e-9), duration(eta))
                if let q = m.quietStar {
                    text += String(format: "  base %.4f  mixed %.4f  w %.3f  reward %.3f (%.0f%% > 0)", q.baseNLL, q.mixedNLL,
                                   q.meanW, q.meanReward, 100 * q.positiveRewardFraction)
                }
                if StandardError.isTerminal { line.update(text) }
                else if m.step % max(1, run.logEvery) == 0 || m.step == total { StandardError.report(tool, text) }
            case .evaluation(let step, let loss, let targets):
                line.finish()
                StandardError.report(tool, String(format: "step %d  eval loss %.4f over %d targets", step, loss, targets))
            case .quietStarEvaluation(let step, let e):
                line.finish()
                StandardError.report(tool, String(format: "step %d  eval base NLL %.4f  mixed NLL %.4f  mean w %.3f over %d targets",
                                                  step, e.baseNLL, e.mixedNLL, e.meanW, e.baseTargets))
            case .checkpoint(let path):
                line.finish()
                StandardError.report(tool, "wrote \(path)")
            }
        }
        line.finish()
        if let export = run.export {
            try trainer.checkpoint(to: export, weightsOnly: true)
            if !run.quiet { StandardError.report(tool, "wrote \(export) (weights only)") }
        }
    } catch let e as TrainingError {
        StandardError.report(tool, e.description)
        throw ExitCode(e.kind.exitStatus.rawValue)
    }
}

func duration(_ seconds: Double) -> String {
    let s = Int(seconds.rounded())
    return s >= 3600 ? String(format: "%dh%02dm", s / 3600, s / 60 % 60) : String(format: "%dm%02ds", s / 60, s % 60)
}

/// A trainer that starts from the weights (and tokenizer, config, metadata) of `path`.
func startFrom(_ path: String, options: TrainingOptions) throws -> Trainer {
    let (trainer, dropped) = try Trainer.startingFrom(path, options: options)
    if dropped {
        StandardError.report("quietstar-train", "note: \(path) has thought parameters; this command trains the base model only and leaves them out")
    }
    return trainer
}

/// `byte`, a `.qstar` (its tokenizer), or a `tokenizer.json` (with `tokenizer_config.json` beside it when present).
func loadTokenizer(_ source: String) throws -> Tokenizer {
    do {
        if source == "byte" { return try Tokenizer(spec: .byteLevel()) }
        if source.hasSuffix(".qstar") {
            let file: QStarFile
            do { file = try QStarFile.open(path: source) } catch { throw TrainingError("\(source): \(error)", kind: .missingInput) }
            return try Tokenizer(metadata: file.metadata)
        }
        guard let json = FileManager.default.contents(atPath: source) else {
            throw TrainingError("\(source): cannot read this tokenizer file", kind: .missingInput)
        }
        let configPath = ((source as NSString).deletingLastPathComponent as NSString).appendingPathComponent("tokenizer_config.json")
        return try Tokenizer(spec: TokenizerSpec(huggingFaceTokenizerJSON: json,
                                                 tokenizerConfigJSON: FileManager.default.contents(atPath: configPath)))
    } catch let e as TokenizerError {
        throw TrainingError("\(source): tokenizer: \(e)")
    }
}
