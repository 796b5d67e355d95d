import Foundation
import QuietStarEngine
import QuietStarKernels
import QuietStarModel
import QuietStarModelTestSupport
import QuietStarTestSupport
import Testing

/// Adaptive thinking (`ThinkWhen`): positions think only where a rule on the base distribution
/// says so, in scoring and generation, with the same bytes whatever the batching.
@Suite struct AdaptiveThinkingTests {
    private let texts = [
        "The quick brown fox jumps over the lazy dog.",
        "Once upon a time",
        "A",
        "Numbers 1 2 3 4 5 and more numbers 6 7 8 9 follow here.",
        "Hello world, hello again.",
    ]

    private func score(_ lm: LanguageModel, _ texts: [String], batchSize: Int = 5, stepTokens: Int = 64,
                       _ t: ThoughtOptions) throws -> [ThoughtLineScore] {
        var options = ScoreOptions()
        options.perToken = true
        options.batchSize = batchSize
        options.maxStepTokens = stepTokens
        return try ThoughtScorer(model: lm, options: options, thoughtOptions: t).score(texts).map { try $0.get() }
    }

    private func generate(_ lm: LanguageModel, _ prompts: [String], lines: [Int]? = nil, batchSize: Int,
                          stepTokens: Int = 64, temperature: Double, _ t: ThoughtOptions) throws -> [ThoughtCompletion] {
        try thoughtCompletions(lm, lm.thoughts!, prompts, lines: lines, batchSize: batchSize, stepTokens: stepTokens,
                               temperature: temperature, thought: t)
    }

    @Test func rulesParseAndDecide() {
        #expect(ThinkWhen("always") == .always && ThinkWhen("never") == .never)
        #expect(ThinkWhen("entropy:1.5") == .entropyAtLeast(1.5) && ThinkWhen("top-prob:0.9") == .topProbabilityBelow(0.9))
        for bad in ["", "sometimes", "entropy", "entropy:", "entropy:-1", "entropy:nan", "entropy:inf", "top-prob:0",
                    "top-prob:1.5", "top-prob:x", "Entropy:1"] {
            #expect(ThinkWhen(bad) == nil, "\(bad)")
        }
        #expect(ThinkWhen("entropy:2")!.thinks(entropy: 2, top: 0.1) && !ThinkWhen("entropy:2")!.thinks(entropy: 1.99, top: 0.1))
        #expect(ThinkWhen("top-prob:0.5")!.thinks(entropy: 0, top: 0.49) && !ThinkWhen("top-prob:0.5")!.thinks(entropy: 9, top: 0.5))
        #expect(ThinkWhen("entropy:0.1..1") == .entropyBetween(0.1, 1))
        for bad in ["entropy:1..1", "entropy:2..1", "entropy:-1..1", "entropy:..1", "entropy:1..", "entropy:0.1..inf"] {
            #expect(ThinkWhen(bad) == nil, "\(bad)")
        }
        let band = ThinkWhen.entropyBetween(0.1, 1)
        #expect(band.thinks(entropy: 0.1, top: 0.9) && band.thinks(entropy: 0.99, top: 0.5))
        #expect(!band.thinks(entropy: 1, top: 0.5) && !band.thinks(entropy: 0.09, top: 0.99))
        for rule in [ThinkWhen.entropyAtLeast(0.25), .entropyBetween(0.125, 2.5), .topProbabilityBelow(0.75), .always, .never] {
            #expect(ThinkWhen(rule.description) == rule)
        }
    }

    /// Entropy and top probability against a float64 softmax, masked (-inf) logits included.
    @Test func confidenceMatchesFloat64() {
        var rng = SplitMix64(seed: 3)
        for vocab in [1, 7, 8, 37, 1000] {
            var logits = (0..<vocab).map { _ in rng.uniform(6) }
            if vocab > 8 { logits[2] = -.infinity; logits[vocab - 1] = -.infinity }
            let m = Double(logits.max()!)
            let e = logits.map { Foundation.exp(Double($0) - m) }
            let s = e.reduce(0, +)
            let entropy = -e.map { $0 / s }.filter { $0 > 0 }.map { $0 * Foundation.log($0) }.reduce(0, +)
            let got = logits.withUnsafeBufferPointer { Confidence.row($0.baseAddress!, vocab: vocab) }
            #expect(abs(Double(got.entropy) - entropy) < 1e-5 * max(1, entropy), "vocab \(vocab): entropy")
            #expect(abs(Double(got.top) - 1 / s) < 1e-6, "vocab \(vocab): top")
        }
    }

    /// A thinking position has exactly the mixed score of `always` (the same thought stream); a
    /// skipped one has the base score, w 0 and no thought; the decision follows the reported
    /// entropy; `never` is the plain model.
    @Test func scoringThinksWhereTheRuleSays() throws {
        let dir = TemporaryDirectory()
        let (lm, _) = try quietStarModel(in: dir)
        let base = ThoughtOptions(thoughtTokens: 2, temperature: 1, seed: 4)
        let always = try score(lm, texts, base)
        let entropies = always.flatMap { $0.baseEntropies.compactMap { $0 } }.sorted()
        let median = Float(entropies[entropies.count / 2])
        var rule = base
        rule.when = .entropyAtLeast(median)
        let adaptive = try score(lm, texts, rule)
        var thought = 0, skipped = 0
        for (a, s) in zip(always, adaptive) {
            #expect(a.baseLogprob.bitPattern == s.baseLogprob.bitPattern)
            #expect(a.baseEntropies == s.baseEntropies)
            for j in 1..<s.tokenIds.count {
                if Float(s.baseEntropies[j]!) >= median {
                    thought += 1
                    #expect(s.tokenLogprobs[j]!.bitPattern == a.tokenLogprobs[j]!.bitPattern, "position \(j)")
                    #expect(s.thoughts[j] == a.thoughts[j] && s.mixingWeights[j] == a.mixingWeights[j])
                } else {
                    skipped += 1
                    #expect(s.tokenLogprobs[j] == s.baseTokenLogprobs[j] && s.mixingWeights[j] == 0 && s.thoughts[j] == [])
                }
            }
            #expect(s.thoughtPositions == (1..<max(s.tokenIds.count, 1)).filter { Float(s.baseEntropies[$0]!) >= median }.count)
        }
        #expect(thought > 0 && skipped > 0)
        #expect(always.allSatisfy { $0.thoughtPositions == $0.scoredTokens })
        var never = base
        never.when = .never
        for s in try score(lm, texts, never) {
            #expect(s.logprob == s.baseLogprob && s.thoughtPositions == 0)
        }
        // Batching and packing change nothing.
        let small = try score(lm, texts, batchSize: 2, stepTokens: 7, rule)
        #expect(small == adaptive)
    }

    /// A rule that always says yes runs the adaptive path (text rows with logits, per-line
    /// draws) and must give exactly what `always` gives.
    @Test func generationWithAYesRuleIsAlways() throws {
        let dir = TemporaryDirectory()
        let (lm, _) = try quietStarModel(in: dir)
        let base = ThoughtOptions(thoughtTokens: 2, temperature: 1, seed: 9)
        var yes = base
        yes.when = .topProbabilityBelow(1)
        for temperature in [0.0, 0.8] {
            let a = try generate(lm, texts, batchSize: 3, temperature: temperature, base)
            let b = try generate(lm, texts, batchSize: 3, temperature: temperature, yes)
            #expect(a == b, "temperature \(temperature)")
            #expect(a.allSatisfy { $0.thoughtPositions == $0.completion.tokens.count })
        }
    }

    /// `never` chooses every token from the base distribution: the plain generator's greedy
    /// output, markers aside (the thought generator never emits them).
    @Test func generationNeverIsThePlainModel() throws {
        let dir = TemporaryDirectory()
        let (lm, thoughts) = try quietStarModel(in: dir)
        var never = ThoughtOptions(thoughtTokens: 2, temperature: 1, seed: 9)
        never.when = .never
        let got = try generate(lm, texts, batchSize: 2, temperature: 0, never)
        var options = GenerationOptions()
        options.maxTokens = 6
        options.ignoreEndOfSequence = true
        options.sampling = SamplingOptions(temperature: 0, suppressedTokens: thoughts.markerIds)
        let plain = try Generator(model: lm, options: options).generate(texts).map { try $0.get() }
        for (g, p) in zip(got, plain) {
            #expect(g.completion.tokens == p.tokens && g.thoughtPositions == 0 && g.mixingWeights.allSatisfy { $0 == 0 })
        }
    }

    /// A real threshold: some tokens think, some do not, and the bytes do not depend on batch
    /// size, step size, shard or neighbours.
    @Test func adaptiveGenerationIsInvariant() throws {
        let dir = TemporaryDirectory()
        let (lm, _) = try quietStarModel(in: dir)
        var rule = ThoughtOptions(thoughtTokens: 2, temperature: 1, seed: 9)
        // The median base entropy over the prompts' positions: about half the tokens think.
        var options = ScoreOptions()
        options.perToken = true
        let entropies = try ThoughtScorer(model: lm, options: options, thoughtOptions: rule).score(texts)
            .flatMap { try $0.get().baseEntropies.compactMap { $0 } }.sorted()
        rule.when = .entropyAtLeast(Float(entropies[entropies.count / 2]))
        let reference = try generate(lm, texts, batchSize: 1, temperature: 0.8, rule)
        let thought = reference.map(\.thoughtPositions).reduce(0, +), total = reference.map { $0.completion.tokens.count }.reduce(0, +)
        #expect(thought > 0 && thought < total, "\(thought) of \(total) tokens thought")
        for r in reference {
            for t in r.thought.indices where !r.thought[t] { #expect(r.thoughts[t] == [] && r.mixingWeights[t] == 0) }
        }
        for (batch, step) in [(5, 64), (2, 3), (4, 8)] {
            #expect(try generate(lm, texts, batchSize: batch, stepTokens: step, temperature: 0.8, rule) == reference,
                    "batch \(batch) step \(step)")
        }
        let odd = [1, 3]
        #expect(try generate(lm, odd.map { texts[$0] }, lines: odd, batchSize: 2, temperature: 0.8, rule) == odd.map { reference[$0] })
    }
}
