import Foundation
import QuietStarModel
import QuietStarModelTestSupport
import Testing

@Suite struct SamplerTests {
    /// Logits of a known distribution: p ∝ [8, 4, 2, 1, 1] (ids 0..4) at temperature 1.
    let logits: [Float] = [8, 4, 2, 1, 1].map { Float(log(Double($0))) }

    func frequencies(_ options: SamplingOptions, draws: Int = 12_000) -> [Double] {
        let sampler = Sampler(options: options, vocabSize: logits.count)
        var random = LineRandom(seed: 42, line: 3)
        var counts = [Int](repeating: 0, count: logits.count)
        var probs = [Float](repeating: 0, count: logits.count)
        var order = [Int32](repeating: 0, count: logits.count)
        for _ in 0..<draws {
            let t = sampler.sample(logits: logits, random: &random, probs: &probs, order: &order)
            counts[Int(t)] += 1
        }
        return counts.map { Double($0) / Double(draws) }
    }

    func expectClose(_ got: [Double], _ want: [Double]) {
        for (g, w) in zip(got, want) { #expect(abs(g - w) < 0.02, "got \(got), want \(want)") }
    }

    @Test func temperatureTopKTopPDistributions() {
        expectClose(frequencies(SamplingOptions(temperature: 1)), [8, 4, 2, 1, 1].map { $0 / 16 })
        // Temperature 0.5 squares the probabilities.
        expectClose(frequencies(SamplingOptions(temperature: 0.5)), [64, 16, 4, 1, 1].map { $0 / 86 })
        expectClose(frequencies(SamplingOptions(temperature: 1, topK: 2)), [8.0 / 12, 4.0 / 12, 0, 0, 0])
        // Nucleus 0.8: 0.5 + 0.25 = 0.75 < 0.8, so the third token joins: {0, 1, 2}.
        expectClose(frequencies(SamplingOptions(temperature: 1, topP: 0.8)), [8.0 / 14, 4.0 / 14, 2.0 / 14, 0, 0])
        expectClose(frequencies(SamplingOptions(temperature: 1, topK: 4, topP: 0.5)), [1, 0, 0, 0, 0])
        expectClose(frequencies(SamplingOptions(temperature: 1, suppressedTokens: [0])), [0, 0.5, 0.25, 0.125, 0.125])
    }

    @Test func greedyPicksTheLowestIdAmongEqualsAndSkipsSuppressed() {
        let tied: [Float] = [1, 5, 5, 2]
        var random = LineRandom(seed: 0, line: 0)
        let before = random
        var probs = [Float](repeating: 0, count: 4), order = [Int32](repeating: 0, count: 4)
        #expect(Sampler(options: SamplingOptions(), vocabSize: 4).sample(logits: tied, random: &random, probs: &probs, order: &order) == 1)
        #expect(random == before, "greedy draws no random number")
        let skip = Sampler(options: SamplingOptions(suppressedTokens: [1]), vocabSize: 4)
        #expect(skip.argmax(tied) == 2)
    }

    @Test func lineGeneratorsAreDeterministicAndDistinct() {
        var a = LineRandom(seed: 5, line: 9), b = LineRandom(seed: 5, line: 9)
        #expect((0..<8).map { _ in a.next() } == (0..<8).map { _ in b.next() })
        var seen = Set<UInt64>()
        for seed in 0..<4 as Range<UInt64> {
            for line in 0..<64 as Range<UInt64> {
                var r = LineRandom(seed: seed, line: line)
                seen.insert(r.next())
            }
        }
        #expect(seen.count == 256)
        var u = LineRandom(seed: 1, line: 1)
        let mean = (0..<10_000).map { _ in u.nextUnit() }.reduce(0, +) / 10_000
        #expect(abs(mean - 0.5) < 0.02)
    }
}
