import ArgumentParser
import Foundation
import QuietStarCLI
import QuietStarFormat
import QuietStarJSON
import QuietStarModel
import QuietStarSTaR
import QuietStarTraining

struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Write generated training data.",
        subcommands: [Addition.self])
}

struct Addition: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "n-digit addition problems, with the STaR paper's scratchpad or direct answers.",
        discussion: """
        Both operands have exactly n digits (1-digit operands include 0). Problems are distinct \
        within a digit count, drawn from a generator seeded by (--seed, n), and written in one \
        seeded random order (digit counts mixed); ids are add<n>-<index in sorted order>. \
        --exclude leaves out the problems of other files (a held-out set). A digit count with fewer distinct problems \
        than its --count gives all of them.

        --format star: {"id", "question", "answer", "category"} per line (category = n), what \
        quietstar-train star reads. --format completions: {"prompt", "completion"} for \
        quietstar-train finetune (the direct-answer baseline: --style direct). --format text: \
        one document per problem (prompt + target), separated by blank lines, for pretraining; \
        --hints F writes a fraction F of them with the answer in the prompt (the \
        rationalization prompt), so a seed model learns to read a hint.

        The scratchpad of 624 + 259 (--style scratchpad), after the prompt "Input:\\n6 2 4 + 2 5 \
        9\\nTarget:\\n":
          <scratch>
          6 2 4 + 2 5 9 , C: 0
          6 2 + 2 5 , 3 C: 1
          6 + 2 , 8 3 C: 0
          , 8 8 3 C: 0
          0 8 8 3
          </scratch>
          8 8 3
        --style direct: the answer line alone.

        Example: a held-out set and a training set without its problems:
          quietstar-train data addition --digits 1-5 --count 100 --seed 1 -o eval.jsonl
          quietstar-train data addition --digits 1-5 --count 2000 --seed 2 --exclude eval.jsonl -o train.jsonl
        """)

    @Option(name: .long, help: ArgumentHelp("Operand digit counts: N or N-M.", valueName: "N-M")) var digits = "1-5"
    @Option(name: .long, help: ArgumentHelp("Problems per digit count: one N for all, or one per digit count (N1,N2,...).", valueName: "N[,N...]"))
    var count = "1000"
    @Option(name: .long, help: "Seed of the draw.") var seed: UInt64 = 0
    @Option(name: .long, help: "star, completions or text.") var format: Format = .star
    @Option(name: .long, help: "scratchpad or direct (completions and text).") var style: Style = .scratchpad
    @Option(name: .long, help: "text: the fraction of documents written with the hint prompt.") var hints = 0.0
    @Option(name: .long, help: ArgumentHelp("Leave out the problems of this star file (repeat).", valueName: "file"))
    var exclude: [String] = []
    @Option(name: .long, help: "The prompt ({question} replaced; \\n understood).") var promptTemplate = "Input:\\n{question}\\nTarget:\\n"
    @Option(name: .long, help: "The hint prompt ({question}, {answer}).") var hintTemplate = "Input:\\n{question}\\nTarget: {answer}\\n"
    @Option(name: [.short, .long], help: ArgumentHelp("Write here (atomically) instead of stdout.", valueName: "file"))
    var output: String?

    enum Format: String, ExpressibleByArgument, CaseIterable { case star, completions, text }
    enum Style: String, ExpressibleByArgument, CaseIterable { case scratchpad, direct }

    func run() throws {
        let parts = digits.split(separator: "-").map { Int($0) }
        guard (1...2).contains(parts.count), parts.allSatisfy({ $0 != nil }), let low = parts.first!, let high = parts.last!,
              1 <= low, low <= high, high <= 15 else {
            throw ValidationError("--digits \(digits): expected N or N-M with 1 <= N <= M <= 15")
        }
        var counts = count.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) ?? -1 }
        if counts.count == 1 { counts = Array(repeating: counts[0], count: high - low + 1) }
        guard counts.count == high - low + 1, counts.allSatisfy({ $0 >= 0 }), counts.contains(where: { $0 > 0 }) else {
            throw ValidationError("--count \(count): expected one number, or one per digit count \(low)-\(high), none negative")
        }
        guard (0...1).contains(hints) else { throw ValidationError("--hints must be between 0 and 1") }
        var excluded = Set<AdditionProblem>()
        do {
            for path in exclude {
                for q in try STaRQuestion.read(path) {
                    guard let p = AdditionProblem(question: q.question) else {
                        throw TrainingError("\(path): \(q.id): \(q.question) is not an addition question")
                    }
                    excluded.insert(p)
                }
            }
        } catch let e as TrainingError {
            StandardError.report("quietstar-train", e.description)
            throw ExitCode(e.kind.exitStatus.rawValue)
        }
        var problems = AdditionProblem.sample(digits: low...high, counts: counts, seed: seed, excluding: excluded)
        // One seeded shuffle across digit counts, so consecutive lines (and training batches) mix them.
        var order = LineRandom(seed: seed, line: 0x5F0F)
        order.shuffle(&problems)
        var numbers: [AdditionProblem: Int] = [:]
        for n in low...high {
            for (i, p) in problems.filter({ $0.digits == n }).sorted(by: { ($0.a, $0.b) < ($1.a, $1.b) }).enumerated() { numbers[p] = i }
        }
        // The prompts exactly as quietstar-train star builds them (without few-shot examples).
        var templates = STaROptions()
        templates.promptTemplate = unescape(promptTemplate)
        templates.hintTemplate = unescape(hintTemplate)
        var hintRandom = LineRandom(seed: seed, line: 0x4817)
        var out: [UInt8] = []
        for p in problems {
            let i = numbers[p]!
            let target = style == .scratchpad ? p.scratchpad : p.answer
            let question = templates.trainingPrompt(p.question)
            switch format {
            case .star:
                JSONWriter.appendRecord(.object([("id", .string(String(format: "add%d-%05d", p.digits, i))),
                                                 ("question", .string(p.question)), ("answer", .string(p.answer)),
                                                 ("category", .integer(p.digits))]), to: &out)
            case .completions:
                JSONWriter.appendRecord(.object([("prompt", .string(question)), ("completion", .string(target))]), to: &out)
            case .text:
                let hinted = hints > 0 && hintRandom.nextUnit() < hints
                let head = hinted ? templates.hintPrompt(p.question, answer: p.answer) : question
                out += Array((head + target + "\n\n").utf8)
            }
        }
        if let output {
            do {
                let file = try AtomicOutputFile(destination: output)
                try file.write(out)
                try file.commit()
            } catch {
                StandardError.report("quietstar-train", "\(error)")
                throw ExitCode(ExitStatus.cannotCreateOutput.rawValue)
            }
        } else {
            FileHandle.standardOutput.write(Data(out))
        }
        let perDigit = (low...high).map { n in "\(n)-digit \(problems.filter { $0.digits == n }.count)" }.joined(separator: ", ")
        StandardError.report("quietstar-train", "\(problems.count) problems (\(perDigit))")
    }
}
