import ArgumentParser
import Foundation
import QuietStarCLI
import QuietStarEngine
import QuietStarJSON
import QuietStarModel
import QuietStarTokenizer

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Continue each input line (a prompt) with generated text.",
        discussion: """
            Text output: one line per prompt, the completion escaped so it stays on one line \
            (\\n, \\t, \\r, \\\\ and \\u{XX} for other control characters). A failed line \
            prints an empty line and its error on stderr.
            JSONL output: {"id", "line", "completion", "completion_tokens", "prompt_tokens", \
            "finish_reason"} per line ("stop": end-of-sequence token or a --stop string; "length": \
            --max-tokens reached or the context is full), or {"id", "line", "error"} for a failed line. \
            "id" is the input object's id exactly as written (null for text input, or when the \
            line has none or cannot be read); "line" is the 1-based input line number. \
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
            --think-when RULE thinks only before the tokens where the rule says (see its help): \
            the others are chosen from the plain prediction (w 0, empty thought, no ⟨⟩ in text \
            output) at the cost of one step; JSONL adds "thought_positions".
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
        do { try options.validate() } catch { throw ValidationError(error.flagMessage) }
    }

    var generationOptions: GenerationOptions {
        var o = GenerationOptions()
        o.maxTokens = maxTokens
        o.stop = stop
        o.sampling = SamplingOptions(temperature: temperature, topK: topK, topP: topP)
        o.seed = seed
        o.batchSize = common.batchSize
        o.kvCache = common.kvCache
        o.maxStepTokens = common.stepTokens
        o.ignoreEndOfSequence = ignoreEos
        return o
    }

    func run() throws {
        let model = try ModelLocator.load(common.model)
        if let thoughtOptions = try thinking.resolve(model, seed: seed) {
            return try runWithThoughts(model, thoughtOptions)
        }
        let generator: Generator
        do { generator = try Generator(model: model, options: generationOptions) } catch {
            StandardError.report("quietstar-run", error.flagMessage)
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
                            return JSONLines.record(completionMembers(outcome.head, c))
                        })
    }

    func runWithThoughts(_ model: LanguageModel, _ thoughtOptions: ThoughtOptions) throws {
        let generator: ThoughtGenerator
        do {
            generator = try ThoughtGenerator(model: model, options: generationOptions,
                                             thoughtOptions: thoughtOptions)
        } catch {
            StandardError.report("quietstar-run", error.flagMessage)
            throw ExitCode(ExitStatus.usage.rawValue)
        }
        let jsonl = common.format == .jsonl, show = thinking.showThoughts, weights = mixingWeights
        let adaptive = thinking.thinkWhen != nil
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
                            var members = completionMembers(outcome.head, c)
                            if adaptive { members.append(("thought_positions", .integer(t.thoughtPositions))) }
                            if show {
                                members.append(("thoughts", .array(t.thoughts.map { .string(ThoughtText.text($0, tokenizer)) })))
                                members.append(("thought_ids", .array(t.thoughts.map { .array($0.map { .integer($0) }) })))
                            }
                            if weights { members.append(("mixing_weights", .array(t.mixingWeights.map(JSONLines.number)))) }
                            return JSONLines.record(members)
                        })
    }
}
