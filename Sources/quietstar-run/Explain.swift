import ArgumentParser
import Foundation
import QuietStarCLI
import QuietStarEngine
import QuietStarModel
import QuietStarTokenizer

struct Explain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show, for people, where thinking helped: per line and per token.",
        discussion: """
            Scores each input line with thoughts (as score --thoughts --per-token) and prints a \
            readable report: one line per input line (its NLL per token without and with \
            thoughts, and how many tokens became more likely), then a table of the --top tokens \
            whose probability rose most with their thought: the text before the token, the token, \
            its probability without and with the thought, the mixing weight w and the thought \
            itself. For data, use score --thoughts --per-token --format jsonl: this report's \
            layout may change.
            """)

    @OptionGroup var common: CommonOptions

    @Option(name: .long, help: ArgumentHelp("Content tokens per thought (default: the checkpoint's quietstar.thought_tokens).", valueName: "K"))
    var thoughtTokens: Int?

    @Option(name: .long, help: "Temperature of thought tokens (1 as in the reference; 0 is greedy).")
    var thoughtTemperature: Double = 1

    @Option(name: .long, help: ArgumentHelp("Where to think, as for score --think-when.", valueName: "RULE"))
    var thinkWhen: ThinkWhen = .always

    @Option(name: .long, help: "Rows of the table of tokens that thinking helped most.")
    var top: Int = 10

    @Option(name: .long, help: "Seed of the thought generators.")
    var seed: UInt64 = 0

    func validate() throws {
        if common.format != .text || common.output != nil || common.resume {
            throw ValidationError("explain prints a report for people: --format jsonl, --output and --resume are for score")
        }
        if top < 0 { throw ValidationError("--top must be at least 0") }
    }

    func run() throws {
        let model = try ModelLocator.load(common.model)
        guard let parameters = model.thoughts else {
            StandardError.report("quietstar-run", "\(model.path ?? "the model") has no thought parameters: explain needs a Quiet-STaR checkpoint")
            throw ExitCode(ExitStatus.invalidInput.rawValue)
        }
        let thoughtOptions = ThoughtOptions(thoughtTokens: thoughtTokens ?? parameters.defaultThoughtTokens,
                                            temperature: thoughtTemperature, seed: seed, when: thinkWhen)
        var options = ScoreOptions()
        options.batchSize = common.batchSize
        options.kvCache = common.kvCache
        options.maxStepTokens = common.stepTokens
        options.perToken = true
        let scorer: ThoughtScorer
        do { scorer = try ThoughtScorer(model: model, options: options, thoughtOptions: thoughtOptions) } catch {
            StandardError.report("quietstar-run", error.flagMessage)
            throw ExitCode(ExitStatus.usage.rawValue)
        }
        let report = HelpedTokens(top: top, tokenizer: model.tokenizer)
        say("line  NLL/token: without ->     with    change  more likely  text")
        var failure: Error?
        do {
            try LineRun.run(common: common, textKeys: ["text", "prompt"],
                            process: { input, emit, onStep in
                                var source = input
                                scorer.run(&source, emit: emit, onStep: onStep, inputReady: { input.isReady })
                            },
                            record: { outcome, score in report.add(line: outcome.line + 1, score) })
        } catch { failure = error }
        report.printTable(k: thoughtOptions.thoughtTokens, when: thoughtOptions.when)
        if let failure { throw failure }
    }
}

/// The report's state: totals over every scored token and the `top` tokens whose log-probability
/// rose most with their thought (kept as a small sorted array, so the input is never held).
final class HelpedTokens {
    struct Row {
        var line: Int
        var before: String
        var token: String
        var base: Double
        var mixed: Double
        var w: Double
        var thought: String
        var gain: Double { mixed - base }
    }

    let top: Int
    let tokenizer: Tokenizer
    private(set) var rows: [Row] = []
    private var tokens = 0, improved = 0, thoughtPositions = 0
    private var baseSum = 0.0, mixedSum = 0.0

    init(top: Int, tokenizer: Tokenizer) {
        self.top = top
        self.tokenizer = tokenizer
    }

    /// Takes one scored line; returns its report line.
    func add(line: Int, _ s: ThoughtLineScore) -> String {
        var better = 0
        for j in 1..<max(s.tokenIds.count, 1) {
            guard let mixed = s.tokenLogprobs[j], let base = s.baseTokenLogprobs[j] else { continue }
            if mixed > base { better += 1 }
            let gain = mixed - base
            if top > 0, rows.count < top || gain > rows[rows.count - 1].gain {
                let row = Row(line: line, before: String(tokenizer.decode(Array(s.tokenIds[..<j]), skipSpecialTokens: true).suffix(24)),
                              token: tokenizer.decode([s.tokenIds[j]]), base: base, mixed: mixed,
                              w: s.mixingWeights[j] ?? 0, thought: tokenizer.decode(s.thoughts[j] ?? []))
                let at = rows.firstIndex { gain > $0.gain } ?? rows.count
                rows.insert(row, at: at)
                if rows.count > top { rows.removeLast() }
            }
        }
        let n = s.scoredTokens
        tokens += n
        improved += better
        thoughtPositions += s.thoughtPositions
        baseSum += s.baseLogprob
        mixedSum += s.logprob
        let text = DisplayEscaping.escape(tokenizer.decode(s.tokenIds, skipSpecialTokens: true))
        guard n > 0 else { return String(format: "%4d  (nothing to predict)", line) }
        return String(format: "%4d             %8.4f -> %8.4f  %+8.2f%%  %4d of %-4d  ", line, -s.baseLogprob / Double(n),
                      -s.logprob / Double(n), 100 * (s.baseLogprob - s.logprob) / s.baseLogprob, better, n) + text
    }

    func printTable(k: Int, when: ThinkWhen) {
        guard tokens > 0 else { return }
        say("")
        say(String(format: "all              %8.4f -> %8.4f  %+8.2f%%  %d of %d tokens more likely; %d positions thought (k = %d, --think-when ",
                     -baseSum / Double(tokens), -mixedSum / Double(tokens), 100 * (baseSum - mixedSum) / baseSum, improved,
                     tokens, thoughtPositions, k) + when.description + ")")
        guard !rows.isEmpty else { return }
        say("")
        say("Tokens that thinking helped most (p = probability of the actual next token):")
        say("rank  line  " + pad("text before", 24, left: true) + " " + pad("token", 8) + "  p without     p with        w  thought")
        for (i, r) in rows.enumerated() {
            say(String(format: "%4d  %4d  ", i + 1, r.line) + pad(DisplayEscaping.escape(r.before), 24, left: true) + " "
                  + pad(quoted(r.token), 8) + String(format: "  %9.4g  %9.4g  %7.4f  ", exp(r.base), exp(r.mixed), r.w)
                  + quoted(r.thought))
        }
    }

    private func quoted(_ s: String) -> String { "\"" + DisplayEscaping.escape(s) + "\"" }

    /// `s` padded with spaces to `width` characters (on the left when `left`, for right alignment).
    private func pad(_ s: String, _ width: Int, left: Bool = false) -> String {
        let fill = String(repeating: " ", count: max(0, width - s.count))
        return left ? fill + s : s + fill
    }
}

/// Writes a report line straight to standard output (unbuffered, like the records `LineRun`
/// writes between the header and the table, so the order holds).
private func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
