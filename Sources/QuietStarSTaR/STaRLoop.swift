import Foundation
import QuietStarJSON
import QuietStarModel
import QuietStarTraining

/// The STaR loop (Zelikman et al. 2022) as its reference implementation runs it, with the
/// reference's known gaps closed (see `../shared/notes/star.md` and the issue):
///
/// 1. generate a rationale and answer for each (sampled) training question with the current
///    model, prompted by the few-shot examples;
/// 2. keep those whose extracted answer equals the gold one;
/// 3. rationalize: retry the failures with the gold answer in a hint prompt; keep the successes
///    *without* the hint, as if found unaided;
/// 4. fine-tune from the base model (or, as an option, the previous model) on this iteration's
///    kept examples only, the loss on the rationale and answer only, for a number of steps
///    that grows per iteration;
/// 5. evaluate on the held-out questions.
///
/// A run's directory holds `star.json` (the options), `metrics.jsonl` (one line per finished
/// iteration; iteration 0 evaluates the base model) and `iteration-NN/` with the generation
/// step's input and records, `kept.jsonl` (the fine-tuning data, `{"id", "prompt",
/// "completion", "source"}`), the fine-tuning run's `train/metrics.jsonl`, `model.qstar` and
/// `summary.json`, written last: an iteration without it is unfinished, and `--resume` redoes it
/// from its start, so a resumed run ends with the same files as an uninterrupted one.
public final class STaRLoop {
    public let options: STaROptions
    public let directory: String
    public let generation: GenerationStep
    public let trainQuestions: [STaRQuestion]
    public let evalQuestions: [STaRQuestion]?

    public static let optionsFile = "star.json"
    public static let metricsFile = "metrics.jsonl"
    public static let summaryFile = "summary.json"

    /// What the loop reports as it goes.
    public enum Event {
        case log(String)
        case training(iteration: Int, TrainingRun.Event)
        /// An iteration finished: its metrics line.
        case iteration(Int, summary: String)
    }

    init(options: STaROptions, directory: String, generation: GenerationStep) throws(TrainingError) {
        try options.validate()
        self.options = options
        self.directory = directory
        self.generation = generation
        guard FileManager.default.isReadableFile(atPath: options.base) else {
            throw TrainingError("\(options.base): cannot read the base model", kind: .missingInput)
        }
        trainQuestions = try STaRQuestion.read(options.train)
        evalQuestions = try options.eval.map { p throws(TrainingError) in try STaRQuestion.read(p) }
    }

    /// A new run in `directory` (created; it must not hold a run already).
    public static func start(_ options: STaROptions, directory: String, generation: GenerationStep) throws(TrainingError) -> STaRLoop {
        let loop = try STaRLoop(options: options, directory: directory, generation: generation)
        if FileManager.default.fileExists(atPath: loop.path(optionsFile)) {
            throw TrainingError("\(directory) already holds a STaR run; continue it with --resume \(directory) or choose another --output",
                                kind: .usage)
        }
        do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
            throw TrainingError("\(directory): cannot create the output directory: \(error)", kind: .cannotCreateOutput)
        }
        try writeFile(loop.path(optionsFile), Array(options.json().utf8))
        return loop
    }

    /// The run in `directory`, with its own options; `iterations` may be raised to go further.
    public static func resume(directory: String, generation: GenerationStep, iterations: Int? = nil) throws(TrainingError) -> STaRLoop {
        var options = try savedOptions(directory: directory)
        if let iterations { options.iterations = iterations }
        return try STaRLoop(options: options, directory: directory, generation: generation)
    }

    /// The options a run in `directory` was started with.
    public static func savedOptions(directory: String) throws(TrainingError) -> STaROptions {
        let file = (directory as NSString).appendingPathComponent(optionsFile)
        guard let data = FileManager.default.contents(atPath: file) else {
            throw TrainingError("\(directory): no \(optionsFile): not a STaR run's directory", kind: .missingInput)
        }
        return try STaROptions.parse(data, path: file)
    }

    func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

    static func iterationName(_ n: Int) -> String { String(format: "iteration-%02d", n) }

    /// The last iteration whose summary was written (-1: none).
    public func lastFinishedIteration() -> Int {
        var n = -1
        while FileManager.default.fileExists(atPath: path(Self.iterationName(n + 1) + "/" + Self.summaryFile)) { n += 1 }
        return n
    }

    /// The model iteration `n` ended with (`base` for iteration 0).
    func modelPath(_ summary: JSONValue) -> String {
        guard let m = summary["model"]?.stringValue, m != "base" else { return options.base }
        return path(m)
    }

    func readSummary(_ n: Int) throws(TrainingError) -> JSONValue {
        let p = path(Self.iterationName(n) + "/" + Self.summaryFile)
        guard let data = FileManager.default.contents(atPath: p) else { throw TrainingError("\(p): cannot read", kind: .missingInput) }
        do { return try JSONReader.parse(Array(data)) } catch { throw TrainingError("\(p): \(error)") }
    }

    /// Runs the iterations not finished yet, up to `options.iterations`.
    public func run(report: (Event) -> Void) throws(TrainingError) {
        let done = lastFinishedIteration()
        // What an interrupted iteration left is redone from scratch; metrics are rebuilt from
        // the finished iterations' summaries.
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where name.hasPrefix("iteration-") {
            if let k = Int(name.dropFirst("iteration-".count)), k > done { try? FileManager.default.removeItem(atPath: path(name)) }
        }
        var metrics: [UInt8] = []
        var summaries: [JSONValue] = []
        for k in stride(from: 0, through: done, by: 1) {
            let s = try readSummary(k)
            summaries.append(s)
            JSONWriter.appendRecord(s, to: &metrics)
        }
        try writeFile(path(Self.metricsFile), metrics)
        if done >= 0 { report(.log("resuming after iteration \(done) of \(options.iterations)")) }
        var model = summaries.last.map(modelPath) ?? options.base
        for n in stride(from: done + 1, through: options.iterations, by: 1) {
            let summary = try runIteration(n, model: model, report: report)
            model = modelPath(summary)
            var line: [UInt8] = []
            JSONWriter.appendRecord(summary, to: &line)
            metrics += line
            try writeFile(path(Self.metricsFile), metrics)
            report(.iteration(n, summary: String(decoding: line.dropLast(), as: UTF8.self)))
        }
    }

    /// Training questions of iteration `n`: all, or `sample` drawn without replacement from a
    /// generator seeded by (seed, n), in file order.
    func sampledQuestions(_ n: Int) -> [STaRQuestion] {
        let all = trainQuestions
        guard options.sample > 0, options.sample < all.count else { return all }
        var random = LineRandom(seed: options.seed, line: 0x57A8_0000 + UInt64(n))
        var indices = Array(all.indices)
        for i in 0..<options.sample {
            indices.swapAt(i, i + Int(random.next() % UInt64(all.count - i)))
        }
        return indices.prefix(options.sample).sorted().map { all[$0] }
    }

    private func runIteration(_ n: Int, model: String, report: (Event) -> Void) throws(TrainingError) -> JSONValue {
        let name = Self.iterationName(n)
        let dir = path(name)
        func file(_ f: String) -> String { (dir as NSString).appendingPathComponent(f) }
        try? FileManager.default.removeItem(atPath: dir)
        do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
            throw TrainingError("\(dir): cannot create: \(error)", kind: .cannotCreateOutput)
        }
        var seconds: [(key: String, value: JSONValue)] = []
        func timed<T>(_ key: String, _ body: () throws(TrainingError) -> T) throws(TrainingError) -> T {
            let start = DispatchTime.now().uptimeNanoseconds
            let r = try body()
            seconds.append((key, .double((Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6).rounded() / 1e3)))
            return r
        }
        var members: [(key: String, value: JSONValue)] = [("iteration", .integer(n))]

        if n == 0 {
            if let eval = evalQuestions {
                report(.log("iteration 0: evaluating the base model on \(eval.count) questions"))
                let acc = try timed("eval") { () throws(TrainingError) in try evaluate(model, eval, dir: dir) }
                members += [("eval_questions", .integer(eval.count)), ("eval_accuracy", acc.json)]
            }
            members += [("model", .string("base")), ("seconds", .object(seconds))]
            return try finish(members, dir: dir)
        }

        // 1-2: generate, keep the correct ones.
        let questions = sampledQuestions(n)
        report(.log("iteration \(n): generating for \(questions.count) questions"))
        let completions = try timed("generate") { () throws(TrainingError) in
            try generation.run(model: model, prompts: questions.map { options.prompt($0.question) },
                               input: file("generate.jsonl"), output: file("generate.out.jsonl"), options: options)
        }
        var trainAccuracy = Accuracy()
        var kept: [(question: STaRQuestion, completion: String, source: String)] = []
        var failed: [STaRQuestion] = []
        var errors = completions.filter { $0 == nil }.count
        for (q, c) in zip(questions, completions) {
            let ok = c.map { options.answer.isCorrect($0, gold: q.answer) } ?? false
            trainAccuracy.add(category: q.category, correct: ok)
            if ok { kept.append((q, c!, "generated")) } else { failed.append(q) }
        }
        let fromGeneration = kept.count

        // 3: rationalize the failures with the answer as a hint; keep them without it.
        if options.rationalize && !failed.isEmpty {
            report(.log("iteration \(n): rationalizing \(failed.count) failures"))
            let hinted = try timed("rationalize") { () throws(TrainingError) in
                try generation.run(model: model, prompts: failed.map { options.hintPrompt($0.question, answer: $0.answer) },
                                   input: file("rationalize.jsonl"), output: file("rationalize.out.jsonl"), options: options)
            }
            errors += hinted.filter { $0 == nil }.count
            for (q, c) in zip(failed, hinted) where c.map({ options.answer.isCorrect($0, gold: q.answer) }) ?? false {
                kept.append((q, c!, "rationalized"))
            }
        }
        // Mixed once, seeded, so fine-tuning batches are not sorted by category or by source.
        var random = LineRandom(seed: options.seed, line: 0x4B_E970_0000 + UInt64(n))
        random.shuffle(&kept)
        var keptBytes: [UInt8] = []
        for k in kept {
            JSONWriter.appendRecord(.object([("id", k.question.id), ("prompt", .string(options.trainingPrompt(k.question.question))),
                                             ("completion", .string(k.completion)), ("source", .string(k.source))]),
                                    to: &keptBytes)
        }
        try writeFile(file("kept.jsonl"), keptBytes)
        report(.log("iteration \(n): kept \(fromGeneration) generated + \(kept.count - fromGeneration) rationalized of \(questions.count)"))

        // 4: fine-tune from the base (or the previous model) on this iteration's kept examples.
        var result = model
        var modelName = model == options.base ? "base" : relative(model)
        let steps = options.steps(iteration: n)
        if kept.isEmpty {
            report(.log("iteration \(n): nothing kept, the model stays as it was"))
        } else {
            var t = options.training
            t.data = [file("kept.jsonl")]
            t.dataFormat = "completions"
            t.steps = steps
            t.evalData = []
            t.checkpointEvery = 0
            t.keep = 1
            let start = options.continueFromPrevious ? model : options.base
            report(.log("iteration \(n): fine-tuning \(start == options.base ? "the base model" : start) for \(steps) steps"))
            let run = TrainingRun(directory: file("train"))
            let trainer = try Trainer.startingFrom(start, options: t).trainer
            try timed("train") { () throws(TrainingError) in
                try run.run(trainer) { report(.training(iteration: n, $0)) }
                try trainer.checkpoint(to: file("model.qstar"), weightsOnly: true)
            }
            for s in run.checkpointSteps() { try? FileManager.default.removeItem(atPath: run.checkpointPath(step: s)) }
            result = file("model.qstar")
            modelName = name + "/model.qstar"
        }

        // 5: evaluate the new model.
        members += [("model", .string(modelName)), ("fine_tuned", .bool(!kept.isEmpty)), ("steps", .integer(kept.isEmpty ? 0 : steps)),
                    ("train_questions", .integer(questions.count)), ("train_correct", .integer(trainAccuracy.correct)),
                    ("train_accuracy", trainAccuracy.json), ("rationalization_attempts", .integer(options.rationalize ? failed.count : 0)),
                    ("kept_generated", .integer(fromGeneration)), ("kept_rationalized", .integer(kept.count - fromGeneration)),
                    ("generation_errors", .integer(errors))]
        if let eval = evalQuestions {
            report(.log("iteration \(n): evaluating on \(eval.count) questions"))
            let acc = try timed("eval") { () throws(TrainingError) in try evaluate(result, eval, dir: dir) }
            members += [("eval_questions", .integer(eval.count)), ("eval_accuracy", acc.json)]
        }
        members.append(("seconds", .object(seconds)))
        return try finish(members, dir: dir)
    }

    private func relative(_ p: String) -> String {
        let prefix = directory.hasSuffix("/") ? directory : directory + "/"
        return p.hasPrefix(prefix) ? String(p.dropFirst(prefix.count)) : p
    }

    private func evaluate(_ model: String, _ questions: [STaRQuestion], dir: String) throws(TrainingError) -> Accuracy {
        let completions = try generation.run(model: model, prompts: questions.map { options.prompt($0.question) },
                                             input: (dir as NSString).appendingPathComponent("eval.jsonl"),
                                             output: (dir as NSString).appendingPathComponent("eval.out.jsonl"), options: options)
        var acc = Accuracy()
        for (q, c) in zip(questions, completions) {
            acc.add(category: q.category, correct: c.map { options.answer.isCorrect($0, gold: q.answer) } ?? false)
        }
        return acc
    }

    private func finish(_ members: [(key: String, value: JSONValue)], dir: String) throws(TrainingError) -> JSONValue {
        let summary = JSONValue.object(members)
        try writeFile((dir as NSString).appendingPathComponent(Self.summaryFile), Array(JSONWriter.document(summary).utf8))
        return summary
    }
}
