import Foundation
import QuietStarTraining

/// Everything that decides what a STaR run computes. Saved as `star.json` in the run's directory
/// when it starts, so `--resume` continues with exactly the run's own settings.
public struct STaROptions: Codable, Sendable, Equatable {
    /// The model every iteration fine-tunes from (and the first one generates with).
    public var base = ""
    /// Questions: JSONL, one `{"id", "question", "answer"}` (optional `"category"`) per line.
    public var train = ""
    /// Held-out questions, same format; evaluated after every iteration (and for the base).
    public var eval: String?
    /// The prompt of a question: `{question}` is replaced. Training examples are this prompt and
    /// the kept rationale.
    public var promptTemplate = "Input:\n{question}\nTarget:\n"
    /// The rationalization prompt: `{question}` and `{answer}` (the gold answer) are replaced.
    public var hintTemplate = "Input:\n{question}\nTarget: {answer}\n"
    /// Worked examples put before every generation prompt (few-shot); never trained on.
    public var fewShot = ""
    /// Worked examples put before every rationalization prompt (default: `fewShot`).
    public var hintFewShot: String?
    public var answer = AnswerMatching()
    /// Retry the failed questions with the gold answer as a hint (kept without the hint).
    public var rationalize = true
    /// Fine-tune each iteration from the previous iteration's model instead of the base.
    public var continueFromPrevious = false
    public var iterations = 16
    /// Fine-tuning steps of the first iteration.
    public var steps = 300
    /// Steps added per iteration (`stepsGrowthPercent` false) or the percentage they grow by.
    public var stepsGrowth = 20.0
    public var stepsGrowthPercent = false
    /// Training questions drawn per iteration (without replacement, seeded); 0: all of them.
    public var sample = 0
    /// Generation: most tokens per answer, the stop strings, lines decoded together.
    public var maxTokens = 256
    public var stop = ["\n\n"]
    public var generationBatchSize = 64
    /// A shell command that does the generation step instead of `quietstar-run generate`
    /// (placeholders `{model}`, `{input}`, `{output}`, `{args}`; see `GenerationStep`).
    public var generateCommand: String?
    public var seed: UInt64 = 0
    /// The fine-tuning run of each iteration (its data and steps are set per iteration).
    public var training = TrainingOptions()

    public init() {}

    /// Fine-tuning steps of iteration `n` (1-based).
    public func steps(iteration n: Int) -> Int {
        let k = Double(max(0, n - 1))
        let s = stepsGrowthPercent ? Double(steps) * pow(1 + stepsGrowth / 100, k) : Double(steps) + stepsGrowth * k
        return max(1, Int(s.rounded()))
    }

    public func validate() throws(TrainingError) {
        func require(_ ok: Bool, _ message: String) throws(TrainingError) { if !ok { throw TrainingError(message, kind: .usage) } }
        try require(!base.isEmpty, "no base model given")
        try require(!train.isEmpty, "no training questions given")
        try require(promptTemplate.contains("{question}"), "the prompt template must contain {question}")
        try require(hintTemplate.contains("{question}") && hintTemplate.contains("{answer}"),
                    "the hint template must contain {question} and {answer}")
        try require(iterations >= 0, "iterations must not be negative")
        try require(steps >= 1, "steps must be at least 1")
        try require(stepsGrowth.isFinite && (stepsGrowthPercent ? stepsGrowth > -100 : true), "the step growth must be a number (above -100%)")
        try require(sample >= 0, "the sample size must not be negative")
        try require(maxTokens >= 1, "max tokens must be at least 1")
        try require(!stop.contains(where: \.isEmpty), "stop strings must not be empty")
        try require(generationBatchSize >= 1, "the generation batch size must be at least 1")
        try answer.validate()
        var t = training
        t.data = ["(kept examples)"]
        t.dataFormat = "completions"
        try t.validate()
    }

    public func prompt(_ question: String) -> String {
        fewShot + promptTemplate.replacingOccurrences(of: "{question}", with: question)
    }

    /// The question's prompt as it is trained on: without the few-shot examples.
    public func trainingPrompt(_ question: String) -> String {
        promptTemplate.replacingOccurrences(of: "{question}", with: question)
    }

    public func hintPrompt(_ question: String, answer: String) -> String {
        (hintFewShot ?? fewShot) + hintTemplate.replacingOccurrences(of: "{answer}", with: answer)
            .replacingOccurrences(of: "{question}", with: question)
    }

    public func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        return String(decoding: try! encoder.encode(self), as: UTF8.self) + "\n"
    }

    public static func parse(_ data: Data, path: String) throws(TrainingError) -> STaROptions {
        do { return try JSONDecoder().decode(STaROptions.self, from: data) }
        catch { throw TrainingError("\(path): not a STaR run's options: \(error)") }
    }
}
