import ArgumentParser
import QuietStarCLI
import QuietStarEngine
import QuietStarModel
import QuietStarTokenizer

/// The Quiet-STaR flags shared by `generate` and `score`.
struct ThoughtFlags: ParsableArguments {
    @Flag(name: .long, help: "Think before every token (Quiet-STaR). A checkpoint without thought parameters runs plain, with a notice on stderr.")
    var thoughts = false

    @Option(name: .long, help: ArgumentHelp("Content tokens per thought, between the start and end markers (default: the checkpoint's quietstar.thought_tokens).", valueName: "K"))
    var thoughtTokens: Int?

    @Option(name: .long, help: "Temperature of thought tokens (1 as in the reference; 0 is greedy and reproducible across implementations).")
    var thoughtTemperature: Double = 1

    @Flag(name: .long, help: "Show the thoughts (their text).")
    var showThoughts = false

    @Option(name: .long, help: ArgumentHelp(
        "Where to think (needs --thoughts): always (every position, the default), never, entropy:H (where the model's own next-token distribution has entropy >= H nats), entropy:L..H (entropy in [L, H): unsure but not guessing blindly, where the default model's thoughts help most) or top-prob:P (where its largest probability is below P). Elsewhere the plain prediction stands (w = 0) and the thought's k + 2 steps are saved. JSONL then adds \"thought_positions\"; see docs/results.md for what each threshold costs and gains.",
        valueName: "RULE"))
    var thinkWhen: ThinkWhen?

    func validate() throws {
        // Values are checked once, by the library (ThoughtPass), when the run starts.
        if !thoughts && (showThoughts || thoughtTokens != nil || thinkWhen != nil) {
            throw ValidationError("--show-thoughts, --thought-tokens and --think-when need --thoughts")
        }
    }

    /// The thought options for `model` (validated by the pass that runs them), or nil for a plain run (no `--thoughts`, or a checkpoint
    /// without thought parameters: then a notice on stderr). An inconsistent Quiet-STaR
    /// checkpoint never gets here: opening it failed (exit 65).
    func resolve(_ model: LanguageModel, seed: UInt64, passes: Int = 1) throws -> ThoughtOptions? {
        guard thoughts else { return nil }
        guard let parameters = model.thoughts else {
            StandardError.report("quietstar-run", "notice: \(model.path ?? "the model") has no thought parameters (thought.start_embedding, mixing_head.*, quietstar.* metadata); running without thoughts")
            return nil
        }
        return ThoughtOptions(thoughtTokens: thoughtTokens ?? parameters.defaultThoughtTokens,
                              temperature: thoughtTemperature, seed: seed, passes: passes, when: thinkWhen ?? .always)
    }
}

extension ThinkWhen: ExpressibleByArgument {
    public init?(argument: String) { self.init(argument) }
    public static var defaultCompletionKind: CompletionKind { .list(["always", "never", "entropy:", "top-prob:"]) }
}

extension ModelError {
    /// The message with the library's option names replaced by this tool's flags
    /// (`ThoughtOptions.thoughtTokens must be ...` -> `--thought-tokens must be ...`).
    var flagMessage: String {
        guard let option, let requirement, let flag = Self.flags[option] else { return message }
        return "\(flag) \(requirement)"
    }

    /// Which flag sets which library option.
    static let flags: [String: String] = [
        "GenerationOptions.maxTokens": "--max-tokens", "GenerationOptions.batchSize": "--batch-size",
        "GenerationOptions.stop": "--stop", "ScoreOptions.batchSize": "--batch-size",
        "SamplingOptions.temperature": "--temperature", "SamplingOptions.topK": "--top-k",
        "SamplingOptions.topP": "--top-p", "ThoughtOptions.thoughtTokens": "--thought-tokens",
        "ThoughtOptions.temperature": "--thought-temperature", "ThoughtOptions.passes": "--thoughts-per-position",
    ]
}

/// How thoughts appear in output.
enum ThoughtText {
    /// A thought's text, markers excluded.
    static func text(_ ids: [Int32], _ tokenizer: Tokenizer) -> String { tokenizer.decode(ids) }

    /// Text mode with `--show-thoughts`: each output token preceded by its thought in `⟨...⟩`,
    /// e.g. `⟨ so the⟩ answer⟨ is⟩ is`, cut where the completion's text ends (a stop string).
    static func interleaved(_ c: ThoughtCompletion, _ tokenizer: Tokenizer) -> String {
        var decoder = StreamingDecoder(tokenizer: tokenizer)
        for id in c.prompt { _ = decoder.append(id) }
        var out = "", shown = 0
        let limit = c.completion.text.utf8.count
        for (t, id) in c.completion.tokens.enumerated() where shown < limit {
            if c.thought[t] { out += "⟨" + text(c.thoughts[t], tokenizer) + "⟩" }
            var piece = decoder.append(id)
            if t == c.completion.tokens.count - 1 { piece += decoder.finish() }
            let bytes = Array(piece.utf8.prefix(limit - shown))
            shown += bytes.count
            out += String(decoding: bytes, as: UTF8.self)
        }
        return out
    }
}
