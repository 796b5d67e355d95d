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
}
