import ArgumentParser
import Foundation
import QuietStarCLI
import QuietStarJSON
import QuietStarModel
import QuietStarTokenizer

struct QuietStarRun: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quietstar-run",
        abstract: "Run a language model over lines of text: generate continuations or score likelihoods.",
        discussion: """
            Each input line is one item (a prompt to continue, or a text to score); results come \
            out in input order, one line per input line, as soon as they are ready. Input streams \
            through bounded memory, so inputs of any size work. Many lines are processed together \
            (--batch-size) and a finished line's place is refilled at once.

            Output is deterministic: the same model, input, flags and --seed give the same \
            bytes whatever --batch-size, --step-tokens, --threads or --shard split (each line's \
            random draws come from its own generator, and every kernel computes a line's numbers \
            the same way whichever lines share the batch).

            Examples:
              quietstar-run generate --model m.qstar --max-tokens 20 prompts.txt
              echo 'The capital of France is' | quietstar-run generate --model m.qstar
              quietstar-run generate --model m.qstar --temperature 0.8 --top-p 0.95 \\
                  --seed 7 --input-format jsonl --format jsonl in.jsonl > out.jsonl
              quietstar-run score --model m.qstar --format jsonl --per-token texts.txt
              # one input over 4 processes: lines 2, 6, 10, ... here
              quietstar-run generate --model m.qstar --shard 2/4 big.txt > part2.txt

            The model is --model, else $QUIETSTAR_MODEL, else the bundled default \
            model (none is installed yet).

            Exit status:
              0   every line succeeded
              1   some lines failed; each has an error record in its place
              64  usage error (unknown flag, bad value)
              65  the model file is invalid (corrupt, unsupported, inconsistent)
              66  the model file or an input file is missing or unreadable
              74  I/O error while reading input or writing output (e.g. closed pipe)
            """,
        subcommands: [Generate.self, Score.self])
}

/// Output lines to stdout, written as each result arrives. A failed write (closed pipe, full
/// disk) ends the run with exit status 74.
final class Output {
    private var buffer: [UInt8] = []
    struct WriteError: Error { var message: String }

    func line(_ text: String) throws(WriteError) {
        buffer.removeAll(keepingCapacity: true)
        buffer.append(contentsOf: text.utf8)
        buffer.append(0x0A)
        var offset = 0
        while offset < buffer.count {
            let n = buffer.withUnsafeBytes { write(STDOUT_FILENO, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                throw WriteError(message: "writing the output failed: \(String(cString: strerror(errno)))")
            }
            offset += n
        }
    }
}

/// What both subcommands do around the library: open inputs, load the model, stream lines
/// through, write records, report progress and failures, pick the exit status.
enum LineRun {
    static func run<Value>(common: CommonOptions, textKeys: [String],
                           process: (InputLines, (LineOutcome<LineTag, Value>) -> Void, (Int) -> Void) -> Void,
                           record: @escaping (LineOutcome<LineTag, Value>, Value) -> String) throws {
        signal(SIGPIPE, SIG_IGN)   // a closed stdout becomes a write error (exit 74), not a silent death
        let missing = LineReader.unreadable(common.files)
        if !missing.isEmpty {
            for path in missing { StandardError.report("quietstar-run", "\(path): \(String(cString: strerror(errno)))") }
            throw ExitCode(ExitStatus.missingInput.rawValue)
        }
        if let threads = common.threads { Runtime.configureThreads(threads) }

        let input = InputLines(reader: LineReader(paths: common.files), format: common.inputFormat,
                               textKeys: textKeys, shard: common.shard)
        let output = Output()
        let progress = ProgressLine()
        let started = DispatchTime.now().uptimeNanoseconds
        var lines = 0, failed = 0, tokens = 0   // tokens: rows through the model (prompt and generated)
        var writeError: Output.WriteError?

        process(input, { outcome in
            guard writeError == nil else { return }
            lines += 1
            let text: String
            switch outcome.result {
            case .success(let value):
                text = record(outcome, value)
            case .failure(let error):
                failed += 1
                if common.format == .jsonl {
                    text = JSONLines.record([("id", outcome.id), ("error", .string(error.message))])
                } else {
                    StandardError.report("quietstar-run", "line \(outcome.line + 1): \(error.message)")
                    text = ""
                }
            }
            do throws(Output.WriteError) { try output.line(text) } catch { writeError = error }
        }, { rows in
            tokens += rows
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
            progress.update("\(lines) lines done, \(String(format: "%.1f", Double(tokens) / max(seconds, 1e-9))) tokens/s")
        })
        progress.finish()

        if let writeError {
            StandardError.report("quietstar-run", writeError.message)
            throw ExitCode(ExitStatus.ioError.rawValue)
        }
        if let readError = input.readError {
            StandardError.report("quietstar-run", readError.description)
            throw ExitCode(ExitStatus.ioError.rawValue)
        }
        if failed > 0 {
            StandardError.report("quietstar-run", "\(failed) of \(lines) lines failed (error records written in their place)")
            throw ExitCode(ExitStatus.someLinesFailed.rawValue)
        }
    }
}

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Continue each input line (a prompt) with generated text.",
        discussion: """
            Text output: one line per prompt, the completion escaped so it stays on one line \
            (\\n, \\t, \\r, \\\\ and \\u{XX} for other control characters). A failed line \
            prints an empty line and its error on stderr.
            JSONL output: {"id", "completion", "completion_tokens", "prompt_tokens", \
            "finish_reason"} per line ("stop": end-of-sequence token or a --stop string; "length": \
            --max-tokens reached or the context is full), or {"id", "error"} for a failed line. \
            "id" is the input object's id exactly as written, else the 0-based line index. \
            completion_tokens counts every sampled token, including an end-of-sequence token.
            JSONL input: {"id": ..., "prompt": "..."} per line, strict JSON (a repeated key is an \
            error; keys match byte for byte).

            --temperature 0 (the default) is greedy decoding. Sampling draws from a generator \
            seeded by (--seed, line index), so each line's output is the same whatever \
            --batch-size, --threads or --shard.

            --thoughts (Quiet-STaR checkpoints): before every output token the model thinks \
            (start marker, --thought-tokens K sampled tokens at --thought-temperature, end \
            marker) using the text's cache, mixes the post-thought state in with the learned \
            weight w, chooses the token and forgets the thought. Thought tokens draw from \
            generators seeded by (--seed, line, position). --show-thoughts: text output puts \
            each token's thought before it as ⟨thought⟩; JSONL adds "thoughts" (one text per \
            output token) and "thought_ids". --mixing-weights: JSONL adds "mixing_weights" (w \
            per output token); text output appends a TAB and the weights, comma-separated.
            """)

    @OptionGroup var common: CommonOptions

    @Option(name: .long, help: "Most tokens generated per line.")
    var maxTokens: Int = 256

    @Option(name: .long, help: "Stop when the completion contains this string (repeatable); it is not included.")
    var stop: [String] = []

    @Option(name: .long, help: "Sampling temperature; 0 picks the most likely token.")
    var temperature: Double = 0

    @Option(name: .long, help: "Sample only among the K most likely tokens (0: all).")
    var topK: Int = 0

    @Option(name: .long, help: "Sample only among the most likely tokens covering this probability (1: all).")
    var topP: Double = 1

    @Option(name: .long, help: "Seed of the per-line random generators.")
    var seed: UInt64 = 0

    @Flag(name: .long, help: "Keep generating after an end-of-sequence token.")
    var ignoreEos = false

    @OptionGroup var thinking: ThoughtFlags

    @Flag(name: .long, help: "Emit the mixing weight w of each output token (needs --thoughts).")
    var mixingWeights = false

    func validate() throws {
        if mixingWeights && !thinking.thoughts { throw ValidationError("--mixing-weights needs --thoughts") }
        var options = generationOptions
        options.batchSize = common.batchSize
        do { try options.validate() } catch { throw ValidationError(error.message) }
    }

    var generationOptions: GenerationOptions {
        var o = GenerationOptions()
        o.maxTokens = maxTokens
        o.stop = stop
        o.sampling = SamplingOptions(temperature: temperature, topK: topK, topP: topP)
        o.seed = seed
        o.batchSize = common.batchSize
        o.maxStepTokens = common.stepTokens
        o.ignoreEndOfSequence = ignoreEos
        return o
    }

    func run() throws {
        let model = try ModelLocator.load(common.model)
        if let (parameters, thoughtOptions) = try thinking.resolve(model, seed: seed) {
            return try runWithThoughts(model, parameters, thoughtOptions)
        }
        let generator: Generator
        do { generator = try Generator(model: model, options: generationOptions) } catch {
            StandardError.report("quietstar-run", error.message)
            throw ExitCode(ExitStatus.usage.rawValue)
        }
        let jsonl = common.format == .jsonl
        try LineRun.run(common: common, textKeys: ["prompt"],
                        process: { input, emit, onStep in
                            var source = input
                            generator.run(&source, emit: emit, onStep: onStep, inputReady: { input.isReady })
                        },
                        record: { outcome, c in
                            guard jsonl else { return DisplayEscaping.escape(c.text) }
                            return JSONLines.record(completionMembers(outcome.id, c))
                        })
    }

    func runWithThoughts(_ model: LanguageModel, _ parameters: ThoughtParameters, _ thoughtOptions: ThoughtOptions) throws {
        let generator: ThoughtGenerator
        do {
            generator = try ThoughtGenerator(model: model, thoughts: parameters, options: generationOptions,
                                             thoughtOptions: thoughtOptions)
        } catch {
            StandardError.report("quietstar-run", error.message)
            throw ExitCode(ExitStatus.usage.rawValue)
        }
        let jsonl = common.format == .jsonl, show = thinking.showThoughts, weights = mixingWeights
        let tokenizer = model.tokenizer
        try LineRun.run(common: common, textKeys: ["prompt"],
                        process: { input, emit, onStep in
                            var source = input
                            generator.run(&source, emit: emit, onStep: onStep, inputReady: { input.isReady })
                        },
                        record: { outcome, t in
                            let c = t.completion
                            guard jsonl else {
                                var line = DisplayEscaping.escape(show ? ThoughtText.interleaved(t, tokenizer) : c.text)
                                if weights {
                                    line += "\t" + t.mixingWeights.map { JSONNumber($0)?.text ?? "null" }
                                        .joined(separator: ",")
                                }
                                return line
                            }
                            var members = completionMembers(outcome.id, c)
                            if show {
                                members.append(("thoughts", .array(t.thoughts.map { .string(ThoughtText.text($0, tokenizer)) })))
                                members.append(("thought_ids", .array(t.thoughts.map { .array($0.map { .integer($0) }) })))
                            }
                            if weights { members.append(("mixing_weights", .array(t.mixingWeights.map(JSONLines.number)))) }
                            return JSONLines.record(members)
                        })
    }
}

struct Score: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compute the log-likelihood and perplexity of each input line.",
        discussion: """
            For each line: logprob = Σ_{j≥1} log p(token j | tokens 0..j-1) (natural log), the \
            token count n (including the BOS token when the tokenizer adds one) and perplexity = \
            exp(-logprob / (n - 1)).
            Text output: "logprob<TAB>token_count<TAB>perplexity" per line (perplexity "nan" when \
            n < 2); a failed line prints an empty line and its error on stderr.
            JSONL output: {"id", "logprob", "token_count", "perplexity"}; with --per-token also \
            "token_ids", "tokens" (each token's text) and "logprobs", aligned with token_ids: entry \
            j is log p(token j | tokens 0..j-1), entry 0 is null.
            JSONL input: {"id": ..., "text": "..."} (or "prompt") per line, strict JSON as for \
            generate; "id" is echoed exactly as written.

            --thoughts (Quiet-STaR checkpoints): a thought after every position, all of a \
            line's thoughts generated together (one batched step per thought token). logprob is \
            then with thoughts (mixed) and base_logprob without, both from the same pass. Text \
            output: "logprob<TAB>token_count<TAB>perplexity<TAB>base_logprob<TAB>base_perplexity". \
            JSONL adds "base_logprob" and "base_perplexity"; with --per-token also \
            "base_logprobs", "mixing_weights" and "thoughts" (ids of the thought after token \
            j-1), aligned with token_ids, entry 0 null; --show-thoughts adds "thought_texts". \
            --thoughts-per-position N averages the mixed probability over N independent thoughts \
            (logprobs = log of the mean); mixing_weights and thoughts are those of the first.
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
        guard thoughtsPerPosition >= 1 && thoughtsPerPosition <= 64 else {
            throw ValidationError("--thoughts-per-position must be in 1...64")
        }
        if thoughtsPerPosition != 1 && !thinking.thoughts { throw ValidationError("--thoughts-per-position needs --thoughts") }
    }

    func run() throws {
        let model = try ModelLocator.load(common.model)
        var options = ScoreOptions()
        options.batchSize = common.batchSize
        options.maxStepTokens = common.stepTokens
        options.perToken = perToken
        if let (parameters, thoughtOptions) = try thinking.resolve(model, seed: seed, passes: thoughtsPerPosition) {
            return try runWithThoughts(model, options, parameters, thoughtOptions)
        }
        let scorer: Scorer
        do { scorer = try Scorer(model: model, options: options) } catch {
            StandardError.report("quietstar-run", error.message)
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
                            var members: [(key: String, value: JSONValue)] = [
                                ("id", outcome.id), ("logprob", JSONLines.number(score.logprob)),
                                ("token_count", .integer(score.tokenIds.count)), ("perplexity", JSONLines.number(ppl)),
                            ]
                            if perToken {
                                members += tokenMembers(score.tokenIds, tokenizer)
                                members.append(("logprobs", .array(score.tokenLogprobs.map(JSONLines.number))))
                            }
                            return JSONLines.record(members)
                        })
    }

    func runWithThoughts(_ model: LanguageModel, _ options: ScoreOptions, _ parameters: ThoughtParameters,
                         _ thoughtOptions: ThoughtOptions) throws {
        let scorer: ThoughtScorer
        do {
            scorer = try ThoughtScorer(model: model, thoughts: parameters, options: options, thoughtOptions: thoughtOptions)
        } catch {
            StandardError.report("quietstar-run", error.message)
            throw ExitCode(ExitStatus.usage.rawValue)
        }
        let jsonl = common.format == .jsonl, show = thinking.showThoughts, perToken = perToken
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
                            var members: [(key: String, value: JSONValue)] = [
                                ("id", outcome.id), ("logprob", JSONLines.number(score.logprob)),
                                ("base_logprob", JSONLines.number(score.baseLogprob)),
                                ("token_count", .integer(score.tokenIds.count)), ("perplexity", JSONLines.number(ppl)),
                                ("base_perplexity", JSONLines.number(basePpl)),
                            ]
                            if perToken {
                                members += tokenMembers(score.tokenIds, tokenizer)
                                members.append(("logprobs", numbers(score.tokenLogprobs)))
                                members.append(("base_logprobs", numbers(score.baseTokenLogprobs)))
                                members.append(("mixing_weights", numbers(score.mixingWeights)))
                                members.append(("thoughts", .array(score.thoughts.map { t in
                                    t.map { .array($0.map { .integer($0) }) } ?? .null
                                })))
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

extension LineOutcome where Tag == LineTag {
    /// The record's `id`: the input object's id as written, else the 0-based line index.
    var id: JSONValue { tag.id ?? .integer(line) }
}

/// The fields every generation record starts with.
private func completionMembers(_ id: JSONValue, _ c: Completion) -> [(key: String, value: JSONValue)] {
    [("id", id), ("completion", .string(c.text)), ("completion_tokens", .integer(c.tokens.count)),
     ("prompt_tokens", .integer(c.promptTokens)), ("finish_reason", .string(c.finishReason.rawValue))]
}

/// `--per-token`: the token ids and each token's text.
private func tokenMembers(_ ids: [Int32], _ tokenizer: Tokenizer) -> [(key: String, value: JSONValue)] {
    [("token_ids", .array(ids.map { .integer($0) })), ("tokens", .array(ids.map { .string(tokenizer.tokenText($0)) }))]
}
