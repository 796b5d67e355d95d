import ArgumentParser
import Foundation
import QuietStarCLI
import QuietStarEngine
import QuietStarJSON
import QuietStarModel
import QuietStarTokenizer

struct Score: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compute the log-likelihood and perplexity of each input line.",
        discussion: """
            For each line: logprob = Σ_{j≥1} log p(token j | tokens 0..j-1) (natural log), the \
            token count n (including the BOS token when the tokenizer adds one) and perplexity = \
            exp(-logprob / (n - 1)).
            Text output: "logprob<TAB>token_count<TAB>perplexity" per line (perplexity "nan" when \
            n < 2); a failed line prints an empty line and its error on stderr.
            JSONL output: {"id", "line", "logprob", "token_count", "perplexity"}; with --per-token also \
            "token_ids", "tokens" (each token's text) and "logprobs", aligned with token_ids: entry \
            j is log p(token j | tokens 0..j-1), entry 0 is null.
            JSONL input: {"id": ..., "text": "..."} (or "prompt") per line, strict JSON as for \
            generate; "id" is echoed exactly as written (null when absent) and "line" is the \
            1-based input line number.

            --thoughts (Quiet-STaR checkpoints): a thought after every position, all of a \
            line's thoughts generated together (one batched step per thought token). logprob is \
            then with thoughts (mixed) and base_logprob without, both from the same pass. Text \
            output: "logprob<TAB>token_count<TAB>perplexity<TAB>base_logprob<TAB>base_perplexity". \
            JSONL adds "base_logprob" and "base_perplexity"; with --per-token also \
            "base_logprobs", "mixing_weights" and "thoughts" (ids of the thought after token \
            j-1), aligned with token_ids, entry 0 null; --show-thoughts adds "thought_texts". \
            --thoughts-per-position N averages the mixed probability over N independent thoughts \
            (logprobs = log of the mean); mixing_weights and thoughts are those of the first.
            --think-when RULE thinks only where the rule says (see its help): elsewhere the \
            mixed log-probability is the base one, w is 0 and the thought is empty. JSONL then \
            adds "thought_positions" (positions that thought) and, with --per-token, \
            "base_entropies" and "base_top_probs" (what the rule reads, at position j-1).
            """)

    @OptionGroup var common: CommonOptions

    @Flag(name: .long, help: "Add per-token ids, texts and log-probabilities (needs --format jsonl).")
    var perToken = false

    @OptionGroup var thinking: ThoughtFlags

    @Option(name: .long, help: ArgumentHelp("Independent thoughts per position; the mixed probability is their mean (needs --thoughts).", valueName: "N"))
    var thoughtsPerPosition: Int = 1

    @Option(name: .long, help: "Seed of the thought generators (with --thoughts).")
    var seed: UInt64 = 0

    func validate() throws {
        if perToken && common.format != .jsonl { throw ValidationError("--per-token needs --format jsonl") }
        if thoughtsPerPosition != 1 && !thinking.thoughts { throw ValidationError("--thoughts-per-position needs --thoughts") }
    }

    func run() throws {
        let model = try ModelLocator.load(common.model)
        var options = ScoreOptions()
        options.batchSize = common.batchSize
        options.kvCache = common.kvCache
        options.maxStepTokens = common.stepTokens
        options.perToken = perToken
        if let thoughtOptions = try thinking.resolve(model, seed: seed, passes: thoughtsPerPosition) {
            return try runWithThoughts(model, options, thoughtOptions)
        }
        let scorer: Scorer
        do { scorer = try Scorer(model: model, options: options) } catch {
            StandardError.report("quietstar-run", error.flagMessage)
            throw ExitCode(ExitStatus.usage.rawValue)
        }
        let jsonl = common.format == .jsonl
        let tokenizer = model.tokenizer
        try LineRun.run(common: common, textKeys: ["text", "prompt"],
                        process: { input, emit, onStep in
                            var source = input
                            scorer.run(&source, emit: emit, onStep: onStep, inputReady: { input.isReady })
                        },
                        record: { outcome, score in
                            let ppl = score.perplexity ?? .nan
                            guard jsonl else { return "\(score.logprob)\t\(score.tokenIds.count)\t\(ppl)" }
                            var members: [(key: String, value: JSONValue)] = outcome.head + [
                                ("logprob", JSONLines.number(score.logprob)),
                                ("token_count", .integer(score.tokenIds.count)), ("perplexity", JSONLines.number(ppl)),
                            ]
                            if perToken {
                                members += tokenMembers(score.tokenIds, tokenizer)
                                members.append(("logprobs", .array(score.tokenLogprobs.map(JSONLines.number))))
                            }
                            return JSONLines.record(members)
                        })
    }

    func runWithThoughts(_ model: LanguageModel, _ options: ScoreOptions, _ thoughtOptions: ThoughtOptions) throws {
        let scorer: ThoughtScorer
        do {
            scorer = try ThoughtScorer(model: model, options: options, thoughtOptions: thoughtOptions)
        } catch {
            StandardError.report("quietstar-run", error.flagMessage)
            throw ExitCode(ExitStatus.usage.rawValue)
        }
        let jsonl = common.format == .jsonl, show = thinking.showThoughts, perToken = perToken
        let adaptive = thinking.thinkWhen != nil
        let tokenizer = model.tokenizer
        func numbers(_ values: [Double?]) -> JSONValue { .array(values.map(JSONLines.number)) }
        try LineRun.run(common: common, textKeys: ["text", "prompt"],
                        process: { input, emit, onStep in
                            var source = input
                            scorer.run(&source, emit: emit, onStep: onStep, inputReady: { input.isReady })
                        },
                        record: { outcome, score in
                            let ppl = score.perplexity ?? .nan, basePpl = score.basePerplexity ?? .nan
                            guard jsonl else {
                                return "\(score.logprob)\t\(score.tokenIds.count)\t\(ppl)\t\(score.baseLogprob)\t\(basePpl)"
                            }
                            var members: [(key: String, value: JSONValue)] = outcome.head + [
                                ("logprob", JSONLines.number(score.logprob)),
                                ("base_logprob", JSONLines.number(score.baseLogprob)),
                                ("token_count", .integer(score.tokenIds.count)), ("perplexity", JSONLines.number(ppl)),
                                ("base_perplexity", JSONLines.number(basePpl)),
                            ]
                            if adaptive { members.append(("thought_positions", .integer(score.thoughtPositions))) }
                            if perToken {
                                members += tokenMembers(score.tokenIds, tokenizer)
                                members.append(("logprobs", numbers(score.tokenLogprobs)))
                                members.append(("base_logprobs", numbers(score.baseTokenLogprobs)))
                                members.append(("mixing_weights", numbers(score.mixingWeights)))
                                members.append(("thoughts", .array(score.thoughts.map { t in
                                    t.map { .array($0.map { .integer($0) }) } ?? .null
                                })))
                                if adaptive {
                                    members.append(("base_entropies", numbers(score.baseEntropies)))
                                    members.append(("base_top_probs", numbers(score.baseTopProbabilities)))
                                }
                                if show {
                                    members.append(("thought_texts", .array(score.thoughts.map { t in
                                        t.map { .string(ThoughtText.text($0, tokenizer)) } ?? .null
                                    })))
                                }
                            }
                            return JSONLines.record(members)
                        })
    }
}
