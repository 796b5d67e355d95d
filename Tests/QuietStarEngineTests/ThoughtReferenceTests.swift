import Foundation
import QuietStarEngine
import QuietStarFormat
import QuietStarModel
import QuietStarModelTestSupport
import QuietStarTestSupport
import Testing

/// Greedy thoughts (`temperature 0`) against the reference, through the parallel scoring path.
///
/// Tolerances: the reference is float64 (transformers agrees with it to 1.6e-6); the engine runs
/// float32 through a different summation order, and the mixed log-probability adds the head and
/// a second LM-head product. Observed differences are ~1e-5; 2e-4 on log-probs and w leaves room
/// for other BLAS builds while catching any semantic slip (a wrong position, mask or marker moves
/// log-probs by 0.1 to several nats). Thought ids must match exactly: the smallest reference
/// top-1/top-2 margin is 0.0047, far above float32 noise.
@Suite struct ThoughtReferenceTests {
    static let tolerance = 2e-4

    @Test(arguments: [3, 5])
    func parallelScoringMatchesSequentialReference(k: Int) throws {
        let dir = TemporaryDirectory()
        let ref = try ThoughtReference.load()
        let (lm, thoughts) = try quietStarModel(in: dir)
        #expect(thoughts.startTokenId == ref.start_thought_id && thoughts.endTokenId == ref.end_thought_id)
        var options = ScoreOptions()
        options.perToken = true
        options.batchSize = 2
        options.maxStepTokens = 40   // several thought packs and base chunks per group
        let scorer = try ThoughtScorer(model: lm, options: options,
                                       thoughtOptions: ThoughtOptions(thoughtTokens: k, temperature: 0))
        let cases = ref.scoring.filter { $0.k == k }
        #expect(cases.count == 3)
        let results = scorer.score(cases.map(\.text))
        var worst = 0.0
        for (c, result) in zip(cases, results) {
            let score = try result.get()
            #expect(score.tokenIds == c.ids)
            for p in c.positions where p.next_id != nil {
                let j = p.position + 1
                #expect(score.thoughts[j] == p.thought_ids, "k=\(k) \(c.text.prefix(12)) position \(p.position): thought")
                let diffs = [abs(score.mixingWeights[j]! - p.w), abs(score.baseTokenLogprobs[j]! - p.base_logprob!),
                             abs(score.tokenLogprobs[j]! - p.mixed_logprob!)]
                worst = max(worst, diffs.max()!)
                #expect(diffs.max()! < Self.tolerance, "k=\(k) position \(p.position): |w|, base, mixed diffs \(diffs)")
            }
            #expect(abs(score.logprob - c.sum_mixed_logprob) < 1e-3)
            #expect(abs(score.baseLogprob - c.sum_base_logprob) < 1e-3)
        }
        print("thought reference k=\(k): max |diff| (w, log-probs) = \(worst)")
    }

    /// Greedy generation with thoughts, both prompts batched together (and alone), token for token.
    @Test(arguments: [3, 5])
    func generationMatchesSequentialReference(k: Int) throws {
        let dir = TemporaryDirectory()
        let ref = try ThoughtReference.load()
        let (lm, thoughts) = try quietStarModel(in: dir)
        let cases = ref.generation.filter { $0.k == k }
        #expect(cases.count == 2)
        for batchSize in [1, 2] {
            var options = GenerationOptions()
            options.maxTokens = cases[0].new_ids.count
            options.ignoreEndOfSequence = true
            options.batchSize = batchSize
            options.maxStepTokens = 8   // prompts of ~15 tokens are fed in chunks
            let generator = try ThoughtGenerator(model: lm, options: options,
                                                 thoughtOptions: ThoughtOptions(thoughtTokens: k, temperature: 0))
            let results = generator.generate(cases.map(\.prompt))
            for (c, result) in zip(cases, results) {
                let got = try result.get()
                #expect(got.completion.tokens == c.new_ids, "k=\(k) batch \(batchSize) \(c.prompt)")
                #expect(got.thoughts == c.steps.map(\.thought_ids), "k=\(k) batch \(batchSize) \(c.prompt): thoughts")
                for (w, step) in zip(got.mixingWeights, c.steps) {
                    #expect(abs(w - step.w) < Self.tolerance, "k=\(k) \(c.prompt): w \(w) vs \(step.w)")
                }
            }
        }
    }
}
