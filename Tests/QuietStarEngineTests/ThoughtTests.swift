import Foundation
import QuietStarCheckpoint
import QuietStarEngine
import QuietStarFormat
import QuietStarKernels
import QuietStarModel
import QuietStarModelTestSupport
import QuietStarTestSupport
import Testing

/// Texts of 5-30 tokens for the Quiet-STaR fixture.
private let texts = [
    "The quick brown fox jumps over the lazy dog.",
    "Once upon a time",
    "A",
    "Numbers 1 2 3 4 5 and more numbers 6 7 8 9 follow here.",
    "Hello world, hello again.",
]

private func scores(_ lm: LanguageModel, _ thoughts: ThoughtParameters, _ texts: [String], lines: [Int]? = nil,
                    batchSize: Int, stepTokens: Int, thought: ThoughtOptions) throws -> [ThoughtLineScore] {
    var options = ScoreOptions()
    options.perToken = true
    options.batchSize = batchSize
    options.maxStepTokens = stepTokens
    let scorer = try ThoughtScorer(model: lm, options: options, thoughtOptions: thought)
    let indices = lines ?? Array(texts.indices)
    var source = zip(indices, texts).map { LineRequest(line: $0, tag: $0, text: .success($1)) }.makeIterator()
    var out: [ThoughtLineScore] = []
    var tags: [Int] = []
    scorer.run(&source, emit: { tags.append($0.tag); out.append(try! $0.result.get()) })
    #expect(tags == indices, "outcomes in input order")
    return out
}

/// Thought generation of `prompts` (6 tokens, EOS ignored, output seed 11); AdaptiveThinkingTests uses it too.
func thoughtCompletions(_ lm: LanguageModel, _ thoughts: ThoughtParameters, _ prompts: [String], lines: [Int]? = nil,
                                batchSize: Int, stepTokens: Int = 64, temperature: Double = 0.8,
                                thought: ThoughtOptions) throws -> [ThoughtCompletion] {
    var options = GenerationOptions()
    options.maxTokens = 6
    options.ignoreEndOfSequence = true
    options.batchSize = batchSize
    options.maxStepTokens = stepTokens
    options.sampling = SamplingOptions(temperature: temperature)
    options.seed = 11
    let generator = try ThoughtGenerator(model: lm, options: options, thoughtOptions: thought)
    let indices = lines ?? Array(prompts.indices)
    var source = zip(indices, prompts).map { LineRequest(line: $0, tag: $0, text: .success($1)) }.makeIterator()
    var out: [ThoughtCompletion] = []
    generator.run(&source, emit: { out.append(try! $0.result.get()) })
    return out
}

/// Two scores agree: identical thoughts and mixing decisions, floats within rounding (different
/// batch shapes take different matrix-product paths, so the last bits may differ).
/// Bit for bit the same line result (batching, packing and neighbours change nothing).
private func expectSame(_ a: ThoughtLineScore, _ b: ThoughtLineScore, _ what: String) {
    #expect(a.tokenIds == b.tokenIds, "\(what)")
    #expect(a.thoughts == b.thoughts, "\(what): thoughts")
    #expect(a.logprob.bitPattern == b.logprob.bitPattern && a.baseLogprob.bitPattern == b.baseLogprob.bitPattern,
            "\(what): sums")
    #expect(a.tokenLogprobs.map { $0?.bitPattern } == b.tokenLogprobs.map { $0?.bitPattern }, "\(what): mixed log-probs")
    #expect(a.baseTokenLogprobs.map { $0?.bitPattern } == b.baseTokenLogprobs.map { $0?.bitPattern }, "\(what): base log-probs")
    #expect(a.mixingWeights.map { $0?.bitPattern } == b.mixingWeights.map { $0?.bitPattern }, "\(what): w")
}

@Suite struct ThoughtTests {
    /// Sampled thoughts (temperature 1, two passes) do not depend on batch size, step size
    /// (how streams are packed), or which other lines share the run (shards).
    @Test func scoringIsInvariantToBatchingAndSharding() throws {
        let dir = TemporaryDirectory()
        let (lm, thoughts) = try quietStarModel(in: dir)
        let t = ThoughtOptions(thoughtTokens: 3, temperature: 1, seed: 5, passes: 2)
        let reference = try scores(lm, thoughts, texts, batchSize: 1, stepTokens: 512, thought: t)
        for (batch, step) in [(5, 512), (2, 7), (3, 33)] {
            let got = try scores(lm, thoughts, texts, batchSize: batch, stepTokens: step, thought: t)
            for i in texts.indices { expectSame(got[i], reference[i], "batch \(batch) step \(step) line \(i)") }
        }
        let odd = [1, 3]
        let shard = try scores(lm, thoughts, odd.map { texts[$0] }, lines: odd, batchSize: 2, stepTokens: 20, thought: t)
        for (s, i) in zip(shard, odd) { expectSame(s, reference[i], "shard line \(i)") }
        // The draws are real: another seed gives other thoughts, and passes average.
        let other = try scores(lm, thoughts, texts, batchSize: 5, stepTokens: 512,
                               thought: ThoughtOptions(thoughtTokens: 3, temperature: 1, seed: 6, passes: 2))
        #expect(other[0].thoughts != reference[0].thoughts)
        let onePass = try scores(lm, thoughts, texts, batchSize: 5, stepTokens: 512,
                                 thought: ThoughtOptions(thoughtTokens: 3, temperature: 1, seed: 5, passes: 1))
        #expect(onePass[0].thoughts == reference[0].thoughts, "pass 0 draws the same thoughts")
        #expect(onePass[0].tokenLogprobs != reference[0].tokenLogprobs, "a second pass changes the mean")
        #expect(abs(onePass[0].baseLogprob - reference[0].baseLogprob) < 1e-3, "the base pass ignores thoughts")
    }

    /// Thoughts never leak: changing one line changes no other line, and changing token p of a
    /// line changes nothing its positions before p see (thoughts, w, base and mixed log-probs of
    /// the tokens up to p).
    @Test func thoughtsDoNotLeakAcrossLinesOrPositions() throws {
        let dir = TemporaryDirectory()
        let (lm, thoughts) = try quietStarModel(in: dir)
        let t = ThoughtOptions(thoughtTokens: 4, temperature: 1, seed: 3)
        let before = try scores(lm, thoughts, texts, batchSize: 5, stepTokens: 512, thought: t)
        var changed = texts
        changed[1] = "Twice upon a time, far away"
        let after = try scores(lm, thoughts, changed, batchSize: 5, stepTokens: 512, thought: t)
        for i in texts.indices where i != 1 { expectSame(after[i], before[i], "line \(i) after changing line 1") }
        #expect(after[1].tokenIds != before[1].tokenIds)

        // Within a line: replace the last word.
        let a = try scores(lm, thoughts, ["The quick brown fox jumps over the lazy dog."], batchSize: 1, stepTokens: 512, thought: t)[0]
        let b = try scores(lm, thoughts, ["The quick brown fox jumps over the lazy cat."], batchSize: 1, stepTokens: 512, thought: t)[0]
        let p = a.tokenIds.indices.first { a.tokenIds[$0] != b.tokenIds[$0] }!
        #expect(p > 5)
        for j in 1..<p {
            #expect(a.thoughts[j] == b.thoughts[j], "thought after token \(j - 1)")
            #expect(abs(a.mixingWeights[j]! - b.mixingWeights[j]!) < 1e-5)
            #expect(abs(a.tokenLogprobs[j]! - b.tokenLogprobs[j]!) < 1e-4)
        }
        #expect(a.tokenLogprobs[p] != b.tokenLogprobs[p])
    }

    /// Generation with thoughts: same completions, thoughts and weights whatever the batch size,
    /// step size or shard; other lines' prompts never change a line.
    @Test func generationIsInvariantToBatchingShardingAndNeighbours() throws {
        let dir = TemporaryDirectory()
        let (lm, thoughts) = try quietStarModel(in: dir)
        let t = ThoughtOptions(thoughtTokens: 2, temperature: 1, seed: 9)
        let reference = try thoughtCompletions(lm, thoughts, texts, batchSize: 1, thought: t)
        #expect(reference.allSatisfy { $0.thoughts.count == $0.completion.tokens.count && $0.thoughts.allSatisfy { $0.count == 2 } })
        for (batch, step) in [(5, 64), (2, 10), (4, 8)] {
            let got = try thoughtCompletions(lm, thoughts, texts, batchSize: batch, stepTokens: step, thought: t)
            for i in texts.indices {
                #expect(got[i].completion == reference[i].completion, "batch \(batch) step \(step) line \(i)")
                #expect(got[i].thoughts == reference[i].thoughts, "batch \(batch) step \(step) line \(i): thoughts")
                #expect(zip(got[i].mixingWeights, reference[i].mixingWeights).allSatisfy { abs($0 - $1) < 1e-4 })
            }
        }
        let odd = [1, 3]
        let shard = try thoughtCompletions(lm, thoughts, odd.map { texts[$0] }, lines: odd, batchSize: 2, thought: t)
        for (s, i) in zip(shard, odd) { #expect(s.completion == reference[i].completion && s.thoughts == reference[i].thoughts) }
        var changed = texts
        changed[2] = "Something else entirely"
        let after = try thoughtCompletions(lm, thoughts, changed, batchSize: 5, thought: t)
        for i in texts.indices where i != 2 { #expect(after[i].thoughts == reference[i].thoughts && after[i].completion == reference[i].completion) }
        // Markers are never sampled, inside thoughts or out.
        let markers = Set(thoughts.markerIds)
        #expect(reference.allSatisfy { c in !c.completion.tokens.contains(where: markers.contains) && !c.thoughts.joined().contains(where: markers.contains) })
    }

    /// k = 0 (start and end only) runs in both paths, and the context bound is enforced.
    @Test func emptyThoughtsAndContextBounds() throws {
        let dir = TemporaryDirectory()
        let (lm, thoughts) = try quietStarModel(in: dir)
        let zero = ThoughtOptions(thoughtTokens: 0, temperature: 0)
        let s = try scores(lm, thoughts, ["Once upon a time"], batchSize: 1, stepTokens: 64, thought: zero)[0]
        #expect(s.thoughts.dropFirst().allSatisfy { $0 == [] } && s.logprob != s.baseLogprob)
        let g = try thoughtCompletions(lm, thoughts, ["Once upon a time"], batchSize: 1, temperature: 0, thought: zero)[0]
        #expect(g.completion.tokens.count == 6 && g.thoughts.allSatisfy(\.isEmpty))

        // A text that fits the context alone but not with its thoughts fails in place.
        var options = ScoreOptions()
        options.batchSize = 2
        let scorer = try ThoughtScorer(model: lm, options: options,
                                       thoughtOptions: ThoughtOptions(thoughtTokens: 8, temperature: 0))
        let long = String(repeating: "a b ", count: 130)
        let results = scorer.score(["A b", long])
        #expect((try? results[0].get()) != nil)
        #expect(throws: LineError.self) { try results[1].get() }
    }

    @Test func plainCheckpointHasNoThoughtParameters() throws {
        let dir = TemporaryDirectory()
        let (file, weights) = try randomWeights(TestConfigs.gqa, in: dir)
        #expect(try ThoughtParameters.load(file: file, config: weights.config) == nil)
    }
}

/// The two-span thought rows against the plain definition: for each position i, the inline
/// sequence `x_0..x_i, start, c_1..c_k, end` run as ordinary causal text in a slot of its own
/// (injected start/end vectors, greedy content tokens with the markers masked). A sliding window
/// of 5, shorter than the thoughts plus the text, checks that the window is counted in inline
/// positions over both spans.
@Suite struct ThoughtLayoutTests {
    static let config = ModelConfig(vocabSize: 300, hiddenSize: 32, layerCount: 2, headCount: 4, kvHeadCount: 2,
                                    headDim: 8, intermediateSize: 64, contextLength: 64, rmsNormEps: 1e-5,
                                    ropeTheta: 10_000, slidingWindow: 5)

    @Test(arguments: [nil, 5] as [Int?])
    func parallelThoughtsEqualInlineSequences(window: Int?) throws {
        let dir = TemporaryDirectory()
        var config = Self.config
        config.slidingWindow = window
        let path = dir.file("windowed.qstar")
        try RandomModel.write(to: path, config: config, seed: 3, extraMetadata: RandomModel.byteTokenizerMetadata,
                              quietStar: .byteTokenizer)
        let lm = try LanguageModel(path: path)
        let thoughts = try #require(try LanguageModel(path: path).thoughts)
        let k = 3, h = config.hiddenSize
        let tokens = testTokens(14, vocab: 256, seed: 4)
        var options = ScoreOptions()
        options.perToken = true
        options.maxStepTokens = 40
        let scorer = try ThoughtScorer(model: lm, options: options,
                                       thoughtOptions: ThoughtOptions(thoughtTokens: k, temperature: 0))
        let score = try scorer.score(tokens: [tokens])[0].get()

        let transformer = Transformer(weights: lm.weights)
        let sampler = Sampler(options: SamplingOptions(suppressedTokens: thoughts.markerIds), vocabSize: config.vocabSize)
        let head = MixingHeadWorkspace()
        for i in 0..<(tokens.count - 1) {
            let cache = try KVCache(config: config, slots: 1, rowsPerSlot: config.contextLength)
            func row(_ batch: inout StepBatch, _ p: Int, token: Int32?, embedding: UnsafePointer<Float>?) {
                let visible = cache.visibleRows(slot: 0, position: p, window: window)
                if let embedding {
                    batch.append(embedding: embedding, position: p, cacheRow: cache.textRow(slot: 0, position: p), visible: visible, logits: true)
                } else {
                    batch.append(token: token!, position: p, cacheRow: cache.textRow(slot: 0, position: p), visible: visible, logits: true)
                }
            }
            var batch = StepBatch()
            for p in 0...i { row(&batch, p, token: tokens[p], embedding: nil) }
            var out = transformer.step(batch, cache: cache)
            let base = Array(UnsafeBufferPointer(start: out.hidden(row: i), count: h))
            var thought: [Int32] = []
            for j in 0...(k + 1) {
                batch.removeAll()
                row(&batch, i + 1 + j, token: j >= 1 && j <= k ? thought[j - 1] : nil,
                    embedding: j == 0 ? thoughts.startEmbedding : j == k + 1 ? thoughts.endEmbedding : nil)
                out = transformer.step(batch, cache: cache)
                if j < k { thought.append(sampler.argmax(out.logits(0))) }
            }
            let end = Array(UnsafeBufferPointer(start: out.hidden(row: 0), count: h))
            var w: Float = 0
            thoughts.mixingHead.forward(base: base, thought: end, rows: 1, workspace: head, weights: &w)
            // Mixed log-probability in float64 from the output matrix (f32 here).
            let output = lm.weights.output.base.assumingMemoryBound(to: Float.self)
            let mixed = (0..<h).map { Double(1 - w) * Double(base[$0]) + Double(w) * Double(end[$0]) }
            let logits = (0..<config.vocabSize).map { v in (0..<h).reduce(0.0) { $0 + Double(output[v * h + $1]) * mixed[$1] } }
            let m = logits.max()!
            let lse = m + log(logits.reduce(0) { $0 + exp($1 - m) })
            let want = logits[Int(tokens[i + 1])] - lse
            #expect(score.thoughts[i + 1] == thought, "window \(String(describing: window)) position \(i): thought")
            #expect(abs(score.mixingWeights[i + 1]! - Double(w)) < 1e-4, "position \(i): w")
            #expect(abs(score.tokenLogprobs[i + 1]! - want) < 1e-4, "position \(i): mixed log-prob")
        }
    }

    /// The last inline position of a thought must be below the context length: scoring takes
    /// lines of up to `context - k - 1` tokens, generation stops (length) before a thought would
    /// pass the end.
    @Test func contextBoundIsExact() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("bound.qstar")
        let c = Self.config, k = 3
        try RandomModel.write(to: path, config: c, seed: 5, extraMetadata: RandomModel.byteTokenizerMetadata,
                              quietStar: .byteTokenizer)
        let lm = try LanguageModel(path: path)
        let thoughts = try #require(try LanguageModel(path: path).thoughts)
        let scorer = try ThoughtScorer(model: lm, options: ScoreOptions(),
                                       thoughtOptions: ThoughtOptions(thoughtTokens: k, temperature: 0))
        let fits = testTokens(c.contextLength - k - 1, vocab: 256, seed: 1)
        let results = scorer.score(tokens: [fits, fits + [7]])
        #expect((try? results[0].get()) != nil)
        #expect(throws: LineError.self) { try results[1].get() }

        var options = GenerationOptions()
        options.maxTokens = 5
        options.ignoreEndOfSequence = true
        let generator = try ThoughtGenerator(model: lm, options: options,
                                             thoughtOptions: ThoughtOptions(thoughtTokens: k, temperature: 0))
        // Byte tokenizer: BOS + one token per byte.
        let prompt = String(repeating: "a", count: c.contextLength - k - 3)   // BOS + 58 = context - k - 2 tokens
        let out = generator.generate([prompt, prompt + "a"])
        let one = try out[0].get(), none = try out[1].get()
        #expect(one.completion.tokens.count == 1 && one.completion.finishReason == .length)
        #expect(none.completion.tokens.isEmpty && none.completion.finishReason == .length)
    }

    @Test func incompleteQuietStarCheckpointIsAnErrorNamingWhatIsMissing() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("half.qstar")
        try RandomModel.write(to: path, config: Self.config, extraMetadata: [("quietstar.start_thought_token_id", .uint(258)),
                                                                            ("quietstar.end_thought_token_id", .uint(259))])
        let error = #expect(throws: ModelError.self) { try ThoughtParameters.load(file: QStarFile.open(path: path), config: Self.config) }
        #expect(error?.message.contains("tensor thought.start_embedding") == true)
        #expect(error?.message.contains("mixing_head.2.weight") == true)
    }
}
