import Foundation
import QuietStarEngine
import QuietStarFormat
import QuietStarModel
import QuietStarModelTestSupport
import QuietStarTestSupport
import Testing

/// Prompts of different lengths (so lines finish prefill and generation at different steps).
let generationPrompts: [String] = [
    "Once upon a time", "The quick brown fox", "In the beginning", "A", "Hello, world! How are you today?",
    "1 2 3 4 5 6 7 8 9 10 11 12", "The capital of France is", "She said that", "x", "We hold these truths",
    "It was the best of times, it was the worst of times", "Call me", "To be, or not to be", "Numbers: 42",
    "Why?", "The end is near, and the", "Lorem ipsum dolor sit amet", "Dear Sir or Madam,", "Rain", "Go",
]

func completions(_ model: LanguageModel, _ prompts: [String], lines: [Int]? = nil,
                 configure: (inout GenerationOptions) -> Void) throws -> [Result<Completion, LineError>] {
    var options = GenerationOptions()
    configure(&options)
    let generator = try Generator(model: model, options: options)
    let indices = lines ?? Array(prompts.indices)
    var source = zip(indices, prompts).map { LineRequest(line: $0, tag: $0, text: .success($1)) }.makeIterator()
    var out: [Result<Completion, LineError>] = []
    var tags: [Int] = []
    generator.run(&source, emit: { outcome in
        tags.append(outcome.tag)
        out.append(outcome.result)
    })
    #expect(tags == indices, "outcomes must come back in input order")
    return out
}

@Suite struct GeneratorTests {
    /// Batch size 1, 16, and 3 lines with a 5-token step budget (prefill split into chunks and
    /// packed with other lines' decode rows; slots refilled as lines finish) give the same
    /// output, greedy and sampled. Lines finish at different times (max tokens and stop strings).
    @Test func outputDoesNotDependOnBatching() throws {
        let dir = TemporaryDirectory()
        let model = try convertedModel("llama-tied", in: dir)
        for sampled in [false, true] {
            var results: [[Result<Completion, LineError>]] = []
            for (batch, step) in [(1, 512), (16, 512), (3, 5)] {
                results.append(try completions(model, generationPrompts) { o in
                    o.maxTokens = 24
                    o.batchSize = batch
                    o.maxStepTokens = step
                    o.stop = ["e", "t"]
                    if sampled { o.sampling = SamplingOptions(temperature: 0.9, topK: 40, topP: 0.95) }
                    o.seed = 1234
                })
            }
            for r in results.dropFirst() {
                for (a, b) in zip(results[0], r) { #expect(try a.get() == b.get(), "sampled: \(sampled)") }
            }
            let lengths = Set(results[0].map { (try? $0.get().tokens.count) ?? -1 })
            #expect(lengths.count > 3, "lines should finish at different times")
        }
    }

    /// A line's random draws depend on (seed, line index) only: the odd lines run alone (a shard)
    /// give the same output as in the full run; another seed changes the output.
    @Test func samplingIsSeededByLineIndex() throws {
        let dir = TemporaryDirectory()
        let model = try convertedModel("mistral", in: dir)
        func run(_ prompts: [String], lines: [Int], seed: UInt64) throws -> [Completion] {
            try completions(model, prompts, lines: lines) { o in
                o.maxTokens = 12
                o.sampling = SamplingOptions(temperature: 1.0)
                o.seed = seed
                o.batchSize = 4
            }.map { try $0.get() }
        }
        let all = try run(generationPrompts, lines: Array(generationPrompts.indices), seed: 7)
        let odd = Array(stride(from: 1, to: generationPrompts.count, by: 2))
        let shard = try run(odd.map { generationPrompts[$0] }, lines: odd, seed: 7)
        #expect(shard == odd.map { all[$0] })
        let other = try run(generationPrompts, lines: Array(generationPrompts.indices), seed: 8)
        #expect(other != all)
        // Same prompt on two lines: different draws.
        let twice = try run(["Once upon a time", "Once upon a time"], lines: [0, 1], seed: 7)
        #expect(twice[0].tokens != twice[1].tokens)
    }

    /// Greedy output continues the prompt exactly as a single greedy decode of that prompt would
    /// (each step's argmax over the logits of the whole sequence).
    @Test func greedyEqualsStepwiseArgmax() throws {
        let dir = TemporaryDirectory()
        let model = try convertedModel("qwen2", in: dir)
        let c = try completions(model, ["The quick brown fox"]) { $0.maxTokens = 10; $0.ignoreEndOfSequence = true }[0].get()
        var tokens = model.tokenizer.encode("The quick brown fox")
        let transformer = Transformer(weights: model.weights)
        for _ in 0..<10 {
            let logits = try prefillLogits(transformer, [tokens])[0].last!
            tokens.append(Int32(logits.indices.max { logits[$0] < logits[$1] || (logits[$0] == logits[$1] && $0 > $1) }!))
        }
        #expect(c.tokens == Array(tokens.suffix(10)))
    }

    /// A stop string ends the line and the completion stops right before it.
    @Test func stopStringsCutTheCompletion() throws {
        let dir = TemporaryDirectory()
        let model = try convertedModel("llama-tied", in: dir)
        let prompt = "Once upon a time"
        let free = try completions(model, [prompt]) { $0.maxTokens = 30; $0.ignoreEndOfSequence = true }[0].get()
        #expect(free.finishReason == .length && free.tokens.count == 30)
        // A stop string taken from the middle of the free-running text.
        let bytes = Array(free.text.utf8)
        let start = bytes.count / 2
        let stop = String(decoding: bytes[start..<(start + 3)], as: UTF8.self)
        let cut = try completions(model, [prompt]) { $0.maxTokens = 30; $0.ignoreEndOfSequence = true; $0.stop = ["@@@", stop] }[0].get()
        let expectedText = String(free.text[..<free.text.range(of: stop)!.lowerBound])
        #expect(cut.text == expectedText)
        #expect(cut.finishReason == .stop)
        #expect(cut.tokens == Array(free.tokens.prefix(cut.tokens.count)))
        #expect(cut.tokens.count < 30)
    }

    /// An end-of-sequence token ends the line: it is counted but not part of the text.
    @Test func endOfSequenceStopsTheLine() throws {
        let dir = TemporaryDirectory()
        let base = try convertedModel("llama-untied", in: dir)
        let prompt = "Once upon a time"
        let free = try completions(base, [prompt]) { $0.maxTokens = 12; $0.ignoreEndOfSequence = true }[0].get()
        // Declare the 4th generated token (one that did not occur before it) an EOS token.
        let k = (3..<12).first { !free.tokens[..<$0].contains(free.tokens[$0]) }!
        var config = base.config
        config.eosTokenIds = [free.tokens[k]]
        let model = try LanguageModel(config: config, weights: base.weights, tokenizer: base.tokenizer)
        let c = try completions(model, [prompt]) { $0.maxTokens = 12 }[0].get()
        #expect(c.finishReason == .stop)
        #expect(c.tokens == Array(free.tokens[...k]))
        let before = try completions(base, [prompt]) { $0.maxTokens = k; $0.ignoreEndOfSequence = true }[0].get()
        #expect(c.text == before.text)
    }

    /// Quiet-STaR's thought markers are read from the checkpoint and never generated as text.
    @Test func thoughtTokensAreNeverSampled() throws {
        let dir = TemporaryDirectory()
        let qs = try convertedModel("quietstar-mistral", in: dir)
        #expect(Set(qs.thoughtMarkers) == [452, 453])
        // Declare the tokens a plain greedy run picks first to be thought markers: they vanish.
        let base = try convertedModel("mistral", in: dir)
        let free = try completions(base, ["Once upon a time"]) { $0.maxTokens = 8; $0.ignoreEndOfSequence = true }[0].get()
        let banned = Array(Set(free.tokens.prefix(2)))
        let model = try LanguageModel(config: base.config, weights: base.weights, tokenizer: base.tokenizer, thoughtMarkers: banned)
        for sampled in [false, true] {
            let c = try completions(model, ["Once upon a time"]) { o in
                o.maxTokens = 8
                o.ignoreEndOfSequence = true
                if sampled { o.sampling = SamplingOptions(temperature: 1) }
            }[0].get()
            #expect(!c.tokens.contains { banned.contains($0) })
        }
    }

    /// Lines that cannot run become failures in their place; the others are unaffected.
    @Test func badLinesFailInPlace() throws {
        let dir = TemporaryDirectory()
        let model = try convertedModel("llama-tied", in: dir)   // GPT-2 tokenizer: no BOS
        let long = String(repeating: "word ", count: 400)       // > 256-token context
        var options = GenerationOptions()
        options.maxTokens = 5
        options.batchSize = 2
        let generator = try Generator(model: model, options: options)
        let requests: [LineRequest<Int>] = [
            LineRequest(line: 0, tag: 0, text: .success("Hello")),
            LineRequest(line: 1, tag: 1, text: .failure(LineError("invalid UTF-8 at byte 3 of the line"))),
            LineRequest(line: 2, tag: 2, text: .success(long)),
            LineRequest(line: 3, tag: 3, text: .success("")),
            LineRequest(line: 4, tag: 4, text: .success("World")),
        ]
        var source = requests.makeIterator()
        var outcomes: [LineOutcome<Int, Completion>] = []
        generator.run(&source, emit: { outcomes.append($0) })
        #expect(outcomes.map(\.tag) == [0, 1, 2, 3, 4])
        #expect((try? outcomes[0].result.get()) != nil)
        #expect(throws: LineError.self) { try outcomes[1].result.get() }
        #expect(throws: LineError.self) { try outcomes[2].result.get() }
        #expect(throws: LineError.self) { try outcomes[3].result.get() }
        #expect(try outcomes[4].result.get().tokens.count == 5)
        // Alone, line 4 gives the same tokens (the failures did not disturb it).
        #expect(try generator.generate(["World"])[0].get() == outcomes[4].result.get())
    }

    /// Edge cases: no input, zero max tokens, a prompt filling the whole context.
    @Test func edgeCases() throws {
        let dir = TemporaryDirectory()
        let model = try convertedModel("llama-untied", in: dir)   // adds <s>, context 256
        var options = GenerationOptions()
        options.maxTokens = 0
        #expect(try Generator(model: model, options: options).generate([]).isEmpty)
        let none = try Generator(model: model, options: options).generate(["Hello"])[0].get()
        #expect(none.tokens.isEmpty && none.text.isEmpty && none.finishReason == .length)

        options.maxTokens = 10
        options.ignoreEndOfSequence = true
        let generator = try Generator(model: model, options: options)
        // Find a text of exactly 255 and 256 tokens: the first has room for one token.
        var text = ""
        while model.tokenizer.encode(text).count < 255 { text += "a " }
        while model.tokenizer.encode(text).count > 255 { text.removeLast() }
        #expect(model.tokenizer.encode(text).count == 255)
        let fits = try generator.generate([text])[0].get()
        #expect(fits.tokens.count == 2 && fits.finishReason == .length)   // positions 255 and then full
        // The empty line still has <s> to continue from.
        #expect(try generator.generate([""])[0].get().tokens.count == 10)
    }

    @Test func optionsAreValidated() throws {
        let dir = TemporaryDirectory()
        let model = try convertedModel("llama-tied", in: dir)
        for change in [{ (o: inout GenerationOptions) in o.sampling.temperature = -1 },
                       { $0.sampling.topP = 0 }, { $0.sampling.topK = -1 }, { $0.batchSize = 0 },
                       { $0.maxTokens = -1 }, { $0.stop = [""] }, { $0.maxStepTokens = 2; $0.batchSize = 4 }] {
            var o = GenerationOptions()
            change(&o)
            #expect(throws: ModelError.self) { try Generator(model: model, options: o) }
        }
    }
}
