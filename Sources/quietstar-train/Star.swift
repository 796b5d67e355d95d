import ArgumentParser
import Foundation
import QuietStarCLI
import QuietStarKernels
import QuietStarSTaR
import QuietStarTraining

struct Star: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "star",
        abstract: "The STaR loop: generate rationales, keep the correct ones, rationalize failures, fine-tune.",
        discussion: """
        Each data line is {"id", "question", "answer"} with an optional "category" (for example \
        the digit count) for per-category accuracy. An iteration n = 1, 2, ... : the current model \
        (the base for n = 1) answers each training question (all, or --sample N drawn per \
        iteration), prompted by --few-shot + --prompt-template; answers equal to the gold one \
        after --normalize are kept. Failures are retried with the gold answer shown \
        (--hint-few-shot + --hint-template); the successes are kept WITHOUT the hint, as the \
        prompt-template prompt and the rationale (--no-rationalize turns this off). Then the \
        base model (the previous model with --continue-from-previous) is fine-tuned on this \
        iteration's kept examples only, loss on rationale + answer only, for --steps (first \
        iteration) plus --steps-growth per iteration (N: add N steps; N%: grow by N percent); \
        the paper's arithmetic run used 300 + 20. The new model is evaluated on --eval.

        Generation is greedy, batched, and is an ordinary `quietstar-run generate --format \
        jsonl` over the iteration's JSONL file (quietstar-run beside this executable, or \
        --quietstar-run PATH). --generate-command CMD runs it through /bin/sh instead, for \
        sharding over processes or machines: {model}, {input}, {output} and {args} (the flags \
        the loop would pass) are replaced by shell-quoted values, and CMD must write every \
        record to {output}; records may come in any order. For example: \
          --generate-command 'for k in 0 1; do quietstar-run generate --model {model} {args} \
        --shard $k/2 {input} & done > {output}; wait'

        The run's directory: star.json (options), metrics.jsonl (one line per iteration: \
        accuracy per category on the sampled training questions by the iteration's generating \
        model and on --eval by its fine-tuned model, counts kept from generation and from \
        rationalization; iteration 0 evaluates the base), iteration-NN/ (generation inputs and \
        records, kept.jsonl, train/metrics.jsonl, model.qstar, summary.json). --resume DIR \
        restarts at the last finished iteration and ends with the same models and kept files \
        as an uninterrupted run (for the same --threads).

        Example (the addition task; see quietstar-train data --help):
          quietstar-train star --base seed.qstar --train add-train.jsonl --eval add-eval.jsonl \\
              --sample 1000 --iterations 12 --steps 300 --steps-growth 20 --lr 3e-4 -o star-run
        """)

    @Option(name: .long, help: ArgumentHelp("The model each iteration fine-tunes from (and the first generates with).", valueName: "path"))
    var base: String?
    @Option(name: .long, help: ArgumentHelp("Training questions (JSONL).", valueName: "file")) var train: String?
    @Option(name: .long, help: ArgumentHelp("Held-out questions (JSONL), evaluated after every iteration.", valueName: "file"))
    var eval: String?
    @Option(name: .long, help: "Iterations (default 16; 0: only evaluate the base model; with --resume, the run's own).")
    var iterations: Int?
    @Option(name: .long, help: ArgumentHelp("Steps added per iteration (N), or the percentage they grow by (N%).", valueName: "N|N%"))
    var stepsGrowth = "20"
    @Option(name: .long, help: "Training questions drawn per iteration (0: all).") var sample = 0
    @Option(name: .long, help: ArgumentHelp("Worked examples put before every generation prompt.", valueName: "file"))
    var fewShot: String?
    @Option(name: .long, help: ArgumentHelp("Worked examples put before every rationalization prompt (default: --few-shot).", valueName: "file"))
    var hintFewShot: String?
    @Option(name: .long, help: "The prompt of a question ({question} is replaced; \\n understood).")
    var promptTemplate = "Input:\\n{question}\\nTarget:\\n"
    @Option(name: .long, help: "The rationalization prompt ({question}, {answer} replaced).")
    var hintTemplate = "Input:\\n{question}\\nTarget: {answer}\\n"
    @Option(name: .long, help: ArgumentHelp("The answer is the text after the last MARKER, to the end of its line (default: the last non-empty line).", valueName: "MARKER"))
    var answerAfter: String?
    @Option(name: .long, help: ArgumentHelp("The answer is the first group (or the whole) of the last match of RE.", valueName: "RE"))
    var answerRegex: String?
    @Option(name: .long, help: "Answers compare after: whitespace (trim, collapse runs), nospace (remove all), exact.")
    var normalize: AnswerMatching.Normalization = .whitespace
    @Flag(name: .long, help: "Do not retry failures with the answer as a hint.") var noRationalize = false
    @Flag(name: .long, help: "Fine-tune each iteration from the previous model instead of the base.") var continueFromPrevious = false
    @Option(name: .long, help: "Most tokens generated per answer.") var maxTokens = 256
    @Option(name: .long, help: "Generation stops at this string (repeat; default a blank line; \\n understood).") var stop: [String] = []
    @Option(name: .long, help: "Lines generated together.") var generationBatchSize = 64
    @Option(name: .long, help: ArgumentHelp("Run the generation step through /bin/sh with this command.", valueName: "CMD"))
    var generateCommand: String?
    @Option(name: .long, help: ArgumentHelp("The quietstar-run to generate with (default: the one beside this tool, else PATH).", valueName: "path"))
    var quietstarRun: String?

    @OptionGroup var optimisation: OptimisationFlags

    @Option(name: [.short, .long], help: ArgumentHelp("The run's directory.", valueName: "dir")) var output: String?
    @Option(name: .long, help: ArgumentHelp("Continue the run in this directory (only --iterations may change).", valueName: "dir"))
    var resume: String?
    @Option(name: .long, help: "Worker threads for fine-tuning and generation (default: all cores).") var threads: Int?
    @Option(name: .long, help: "Without a terminal, log a fine-tuning line every this many steps.") var logEvery = 100
    @Flag(name: [.short, .long], help: "Print nothing on stderr except errors.") var quiet = false

    func options() throws -> STaROptions {
        guard let base, let train else { throw ValidationError("give --base MODEL and --train QUESTIONS (or --resume DIR)") }
        var o = STaROptions()
        o.base = base
        o.train = train
        o.eval = eval
        o.iterations = iterations ?? 16
        o.steps = optimisation.steps ?? 300   // the first iteration's
        let growth = stepsGrowth.hasSuffix("%") ? String(stepsGrowth.dropLast()) : stepsGrowth
        guard let g = Double(growth), g.isFinite else { throw ValidationError("--steps-growth \(stepsGrowth): expected N or N%") }
        o.stepsGrowth = g
        o.stepsGrowthPercent = stepsGrowth.hasSuffix("%")
        o.sample = sample
        o.fewShot = try fewShot.map(readText) ?? ""
        o.hintFewShot = try hintFewShot.map(readText)
        o.promptTemplate = unescape(promptTemplate)
        o.hintTemplate = unescape(hintTemplate)
        guard answerAfter == nil || answerRegex == nil else { throw ValidationError("give --answer-after or --answer-regex, not both") }
        o.answer = AnswerMatching(extraction: answerAfter != nil ? .after : answerRegex != nil ? .regex : .lastLine,
                                  pattern: answerAfter.map(unescape) ?? answerRegex ?? "", normalization: normalize)
        o.rationalize = !noRationalize
        o.continueFromPrevious = continueFromPrevious
        o.maxTokens = maxTokens
        if !stop.isEmpty { o.stop = stop.map(unescape) }
        o.generationBatchSize = generationBatchSize
        o.generateCommand = generateCommand
        var t = TrainingOptions()
        try optimisation.apply(to: &t)
        o.training = t
        o.seed = t.seed
        return o
    }

    func readText(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TrainingError("\(path): cannot read this file", kind: .missingInput)
        }
        return String(decoding: data, as: UTF8.self)
    }

    func generationStep(_ o: STaROptions) throws -> GenerationStep {
        if let command = o.generateCommand { return GenerationStep(runner: .shell(command)) }
        return GenerationStep(runner: .quietstarRun(executable: try quietstarRunPath(), threads: threads))
    }

    func quietstarRunPath() throws -> String {
        if let quietstarRun { return quietstarRun }
        let beside = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
            .appendingPathComponent("quietstar-run").path
        if FileManager.default.isExecutableFile(atPath: beside) { return beside }
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            let p = "\(dir)/quietstar-run"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        throw TrainingError("cannot find quietstar-run beside \(beside) or on PATH: give --quietstar-run PATH", kind: .missingInput)
    }

    func run() throws {
        if let threads {
            guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
            Threads.configure(count: threads)
        }
        let tool = "quietstar-train"
        do {
            let loop: STaRLoop
            if let resume {
                let saved = try STaRLoop.savedOptions(directory: resume)
                loop = try STaRLoop.resume(directory: resume, generation: try generationStep(saved), iterations: iterations)
            } else {
                guard let output else { throw ValidationError("give the run's directory with --output (or --resume DIR)") }
                let o = try options()
                loop = try STaRLoop.start(o, directory: output, generation: try generationStep(o))
            }
            let line = ProgressLine(enabled: StandardError.isTerminal && !quiet)
            try loop.run { event in
                guard !quiet else { return }
                switch event {
                case .log(let text):
                    line.finish()
                    StandardError.report(tool, text)
                case .training(let n, .step(let m, _)):
                    let text = String(format: "iteration %d: step %d/%d  loss %.4f  lr %.3g", n, m.step,
                                      loop.options.steps(iteration: n), m.loss, m.learningRate)
                    if StandardError.isTerminal { line.update(text) }
                    else if m.step % max(1, logEvery) == 0 { StandardError.report(tool, text) }
                case .training: break
                case .iteration(let n, let summary):
                    line.finish()
                    StandardError.report(tool, "iteration \(n) done: \(summary)")
                }
            }
            line.finish()
        } catch let e as TrainingError {
            StandardError.report(tool, e.description)
            throw ExitCode(e.kind.exitStatus.rawValue)
        }
    }
}

extension AnswerMatching.Normalization: ExpressibleByArgument {}

/// `\n` and `\t` in a flag's value.
func unescape(_ s: String) -> String {
    s.replacingOccurrences(of: "\\n", with: "\n").replacingOccurrences(of: "\\t", with: "\t")
}
