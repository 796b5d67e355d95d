import Foundation
import QuietStarEngine
import QuietStarModel
import QuietStarModelTestSupport
import QuietStarTestSupport
import Testing

/// The engine against Hugging Face transformers' own outputs for every fixture model:
/// next-token log-probabilities through the scorer (chunked prefill packed with other lines) and
/// greedy generation token for token through the generator (continuous batching). The logits
/// themselves are checked in QuietStarModelTests' ReferenceTests.
@Suite struct EngineReferenceTests {
    static let models = ReferenceFile.models

    @Test(arguments: models)
    func scoresAndGreedyGenerationMatchTransformers(_ model: String) throws {
        let dir = TemporaryDirectory()
        let (ref, _) = try ReferenceFile.load(model)
        let lm = try convertedModel(model, in: dir)

        var scoreOptions = ScoreOptions()
        scoreOptions.perToken = true
        scoreOptions.batchSize = 2
        scoreOptions.maxStepTokens = 16   // forces chunked prefill packed with other lines
        let scores = try Scorer(model: lm, options: scoreOptions).score(ref.texts.map(\.text))
        for (text, result) in zip(ref.texts, scores) {
            let score = try result.get()
            #expect(score.tokenIds == text.ids)
            #expect(score.tokenLogprobs.first == .some(nil))
            for (j, want) in text.next_token_logprobs.enumerated() {
                let got = score.tokenLogprobs[j + 1] ?? .nan
                #expect(abs(got - want) < 1e-4, "\(model): log p(token \(j + 1)) = \(got), transformers \(want)")
            }
            let sum = text.next_token_logprobs.reduce(0, +)
            #expect(abs(score.logprob - sum) < 1e-3)
        }

        var options = GenerationOptions()
        options.maxTokens = ref.generation.map(\.new_ids.count).max() ?? 12
        options.ignoreEndOfSequence = true   // the reference disabled EOS stopping
        options.batchSize = 2
        let completions = try Generator(model: lm, options: options).generate(ref.generation.map(\.prompt))
        for (g, result) in zip(ref.generation, completions) {
            let completion = try result.get()
            #expect(completion.promptTokens == g.prompt_ids.count)
            #expect(completion.tokens == g.new_ids, "\(model): greedy continuation of \(g.prompt.debugDescription)")
            #expect(completion.finishReason == .length)
        }
    }

    /// The f16 KV cache (`--kv-cache f16`) against the same references: every key and value is
    /// rounded to f16, which moved log-probabilities by 0.006-0.009 on these models (against
    /// 1e-4 with the f32 cache), well inside the bound; and they do move (the option is used).
    @Test(arguments: models)
    func halfPrecisionCacheStaysCloseToTransformers(_ model: String) throws {
        let dir = TemporaryDirectory()
        let (ref, _) = try ReferenceFile.load(model)
        let lm = try convertedModel(model, in: dir)
        var options = ScoreOptions()
        options.perToken = true
        options.batchSize = 2
        options.maxStepTokens = 16
        options.kvCache = .f16
        let scores = try Scorer(model: lm, options: options).score(ref.texts.map(\.text))
        var worst = 0.0
        for (text, result) in zip(ref.texts, scores) {
            let score = try result.get()
            for (j, want) in text.next_token_logprobs.enumerated() {
                worst = max(worst, abs(Double(score.tokenLogprobs[j + 1] ?? .nan) - Double(want)))
            }
        }
        print("EngineReferenceTests: \(model): f16 KV cache, max |log p - transformers| = \(worst)")
        #expect(worst < 2e-2, "\(model): f16 cache moved a log-probability by \(worst)")
        #expect(worst > 1e-7, "\(model): the f16 cache changed nothing; is it used?")
    }
}
