import ArgumentParser
import Foundation
import QuietStarCLI
import QuietStarKernels
import QuietStarTraining

/// What the training data is and how it is read.
struct DataFlags: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("A training data file (repeat for several; read in order).", valueName: "file"))
    var data: [String] = []

    @Option(name: .long, help: "text, completions, or auto: completions for .jsonl files, text otherwise.")
    var format: FormatArgument = .auto

    @Option(name: .long, help: ArgumentHelp("Document delimiter of text data; \\n and \\t are understood.", valueName: "string"))
    var delimiter = "\\n\\n"

    @Option(name: .long, help: ArgumentHelp("A held-out file (repeat for several), same format as --data.", valueName: "file"))
    var eval: [String] = []

    @Option(name: .long, help: "Evaluate every this many steps (and at the end); 0: only at the end.")
    var evalEvery = 100

    @Option(name: .long, help: "Micro-batches of held-out data per evaluation (read from its start each time).")
    var evalBatches = 8

    enum FormatArgument: String, ExpressibleByArgument, CaseIterable { case auto, text, completions }

    func apply(to o: inout TrainingOptions) throws {
        guard !data.isEmpty else { throw ValidationError("give at least one --data file") }
        o.data = data
        switch format {
        case .auto: o.dataFormat = data.allSatisfy { $0.hasSuffix(".jsonl") } ? "completions" : "text"
            if o.dataFormat == "text", data.contains(where: { $0.hasSuffix(".jsonl") }) {
                throw ValidationError("--data mixes .jsonl and text files: say --format")
            }
        case .text: o.dataFormat = "text"
        case .completions: o.dataFormat = "completions"
        }
        o.delimiter = unescape(delimiter)
        o.evalData = eval
        o.evalEvery = evalEvery
        o.evalBatches = evalBatches
    }
}

/// The optimisation: steps, batch, schedule, optimiser, clipping.
struct OptimisationFlags: ParsableArguments {
    @Option(name: .long, help: "Optimisation steps of the run (default 1000; star: of its first iteration, default 300; with --resume, the run's own).")
    var steps: Int?

    @Option(name: .long, help: "Sequences per micro-batch (text windows or JSONL examples).")
    var batchSize = 8

    @Option(name: .long, help: "Micro-batches per step (gradient accumulation).")
    var accumulation = 1

    @Option(name: .long, help: "Peak learning rate.")
    var lr = 3e-4

    @Option(name: .long, help: "Linear warm-up steps.")
    var warmup = 0

    @Option(name: .long, help: "cosine (decay to --min-lr-ratio x --lr at the last step) or constant.")
    var schedule: ScheduleArgument = .cosine

    @Option(name: .long, help: "Final learning rate of the cosine decay, as a fraction of --lr.")
    var minLrRatio = 0.1

    @Option(name: .long, help: "adamw (decoupled weight decay) or sgd (plain, no momentum).")
    var optimizer: OptimizerArgument = .adamw

    @Option(name: .long, help: "AdamW beta1.")
    var beta1 = 0.9
    @Option(name: .long, help: "AdamW beta2.")
    var beta2 = 0.95
    @Option(name: .long, help: "AdamW epsilon.")
    var eps = 1e-8
    @Option(name: .long, help: "AdamW weight decay, on matrices and embeddings only (never norms or biases).")
    var weightDecay = 0.1

    @Option(name: .long, help: "Clip the global gradient norm to this; 0: no clipping.")
    var clip = 1.0

    @Option(name: .long, help: ArgumentHelp("A learning-rate multiplier for the tensors whose name starts with PREFIX (repeat; the longest prefix wins), e.g. --lr-scale token_embedding=0.1.", valueName: "PREFIX=X"))
    var lrScale: [String] = []

    @Option(name: .long, help: "Seed of the run (initialisation and any sampling).")
    var seed: UInt64 = 0

    enum ScheduleArgument: String, ExpressibleByArgument, CaseIterable { case cosine, constant }
    enum OptimizerArgument: String, ExpressibleByArgument, CaseIterable { case adamw, sgd }

    func apply(to o: inout TrainingOptions) throws {
        o.steps = steps ?? 1000
        o.batchSize = batchSize
        o.accumulation = accumulation
        o.learningRate = lr
        o.warmupSteps = warmup
        o.cosine = schedule == .cosine
        o.minimumLearningRateRatio = minLrRatio
        o.optimizer = optimizer.rawValue
        o.beta1 = beta1
        o.beta2 = beta2
        o.eps = eps
        o.weightDecay = weightDecay
        o.clipNorm = clip
        o.seed = seed
        for item in lrScale {
            let parts = item.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, let x = Double(parts[1]), x.isFinite, x >= 0 else {
                throw ValidationError("--lr-scale \(item): expected PREFIX=X with X a number >= 0")
            }
            o.learningRateScales[String(parts[0])] = x
        }
    }
}

/// Where the run writes, how often, and the machine.
struct RunFlags: ParsableArguments {
    @Option(name: [.short, .long], help: ArgumentHelp("The run's directory: checkpoints and metrics.jsonl.", valueName: "dir"))
    var output: String?

    @Option(name: .long, help: ArgumentHelp("Continue the newest checkpoint of this run directory, with its own options (only --steps may change).", valueName: "dir"))
    var resume: String?

    @Option(name: .long, help: "Write a training checkpoint every this many steps (and at the end); 0: only at the end.")
    var checkpointEvery = 100

    @Option(name: .long, help: "Training checkpoints to keep (older ones are deleted).")
    var keep = 2

    @Option(name: .long, help: ArgumentHelp("At the end, also write the weights-only model here (what quietstar-run and to-hf take).", valueName: "path"))
    var export: String?

    @Option(name: .long, help: "Worker threads for the kernels and OpenBLAS (default: all cores).")
    var threads: Int?

    @Option(name: .long, help: "Without a terminal, log a line every this many steps.")
    var logEvery = 10

    @Flag(name: [.short, .long], help: "Print nothing on stderr except errors.")
    var quiet = false

    func apply(to o: inout TrainingOptions) {
        o.checkpointEvery = checkpointEvery
        o.keep = keep
    }
}
