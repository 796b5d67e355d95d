import Foundation
import QuietStarEngine
import QuietStarModel
import QuietStarModelTestSupport
import QuietStarTestSupport
import Testing

@Suite struct ScorerTests {
    func scores(_ model: LanguageModel, _ texts: [String], batch: Int, step: Int) throws -> [Result<LineScore, LineError>] {
        var options = ScoreOptions()
        options.batchSize = batch
        options.maxStepTokens = step
        options.perToken = true
        return try Scorer(model: model, options: options).score(texts)
    }

    /// Scores do not depend on batching (bit for bit: the kernels promise a row's result depends
    /// on that row alone), per-token values add up to the total, perplexity follows from it, and each value equals a direct log-softmax of the
    /// prefill logits.
    @Test func scoresAreConsistentAndBatchIndependent() throws {
        let dir = TemporaryDirectory()
        let model = try convertedModel("mistral", in: dir)
        let a = try scores(model, generationPrompts, batch: 1, step: 512)
        let b = try scores(model, generationPrompts, batch: 7, step: 9)
        let transformer = Transformer(weights: model.weights)
        for (x, y) in zip(a, b) {
            let s = try x.get(), t = try y.get()
            #expect(s.tokenIds == t.tokenIds)
            #expect(s.logprob.bitPattern == t.logprob.bitPattern)
            #expect(s.tokenLogprobs.map { $0?.bitPattern } == t.tokenLogprobs.map { $0?.bitPattern })
            #expect(abs(s.tokenLogprobs.compactMap { $0 }.reduce(0, +) - s.logprob) < 1e-9)
            #expect(s.tokenLogprobs.count == s.tokenIds.count && s.tokenLogprobs[0] == nil)
            if let ppl = s.perplexity {
                #expect(abs(ppl - exp(-s.logprob / Double(s.tokenIds.count - 1))) < 1e-9)
            }
            let logits = try prefillLogits(transformer, [s.tokenIds])[0]
            for j in 1..<s.tokenIds.count {
                let row = logits[j - 1].map(Double.init)
                let m = row.max()!
                let lse = m + log(row.map { exp($0 - m) }.reduce(0, +))
                #expect(abs((s.tokenLogprobs[j] ?? 0) - (row[Int(s.tokenIds[j])] - lse)) < 1e-4)
            }
        }
    }

    @Test func degenerateAndBadLines() throws {
        let dir = TemporaryDirectory()
        let withBOS = try convertedModel("llama-untied", in: dir)   // adds <s>
        let noBOS = try convertedModel("llama-tied", in: dir)       // GPT-2: nothing added
        let onlyBOS = try scores(withBOS, [""], batch: 2, step: 16)[0].get()
        #expect(onlyBOS.tokenIds.count == 1 && onlyBOS.logprob == 0 && onlyBOS.perplexity == nil)
        let empty = try scores(noBOS, [""], batch: 2, step: 16)[0].get()
        #expect(empty.tokenIds.isEmpty && empty.tokenLogprobs.isEmpty && empty.perplexity == nil)
        let long = String(repeating: "word ", count: 400)
        let results = try scores(noBOS, ["a b", long, "c d"], batch: 2, step: 16)
        #expect(throws: LineError.self) { try results[1].get() }
        #expect(try results[2].get().tokenIds.count == 2)
    }
}
