import Foundation
import QuietStarCheckpoint
import QuietStarFormat
import QuietStarModel
import QuietStarModelTestSupport
import QuietStarTestSupport
import Testing

@Suite struct TransformerTests {
    /// Logits at every position agree with the plain float64 forward, for GQA + biases, a sliding
    /// window + linear RoPE scaling + tied head, and MQA.
    @Test(arguments: [("gqa", TestConfigs.gqa), ("windowed", TestConfigs.windowed), ("mqa", TestConfigs.quantisable)])
    func matchesFloat64Reference(_ name: String, _ config: ModelConfig) throws {
        let dir = TemporaryDirectory()
        let (file, weights) = try randomWeights(config, in: dir)
        let transformer = Transformer(weights: weights)
        let tokens = testTokens(19, vocab: config.vocabSize, seed: 3)
        let got = try prefillLogits(transformer, [tokens])[0]
        let want = try referenceLogits(file: file, config: config, tokens: tokens)
        for t in 0..<tokens.count {
            let diff = maxAbsDifference(got[t], want[t])
            #expect(diff < 2e-4, "\(name): position \(t) differs by \(diff)")
        }
    }

    /// f16, bf16 and Q8_0 weights are used in place: the logits match the float64 forward over the
    /// same stored (decoded) weights as closely as f32 weights do.
    @Test(arguments: [DType.f16, .bf16, .q8_0])
    func quantisedWeightsMatchReference(_ dtype: DType) throws {
        let dir = TemporaryDirectory()
        let config = TestConfigs.quantisable
        let (file, weights) = try randomWeights(config, dtype: dtype, in: dir)
        #expect(weights.layers[0].q.encoding.rawValue == dtype.name)
        let transformer = Transformer(weights: weights)
        let tokens = testTokens(13, vocab: config.vocabSize, seed: 5)
        // Prefill (sgemm over decoded panels) and single-row decode (fused kernel) both.
        for chunk in [Int.max, 1] {
            let got = try prefillLogits(transformer, [tokens], chunk: chunk)[0]
            let want = try referenceLogits(file: file, config: config, tokens: tokens)
            for t in 0..<tokens.count {
                let diff = maxAbsDifference(got[t], want[t])
                #expect(diff < 2e-4, "\(dtype.name) chunk \(chunk): position \(t) differs by \(diff)")
            }
        }
    }

    /// Prefill in one step, in chunks, and one token per step (decode) give the same logits.
    @Test func prefillChunksAndDecodeAgree() throws {
        let dir = TemporaryDirectory()
        for config in [TestConfigs.gqa, TestConfigs.windowed] {
            let (_, weights) = try randomWeights(config, in: dir)
            let transformer = Transformer(weights: weights)
            let tokens = testTokens(23, vocab: config.vocabSize, seed: 11)
            let whole = try prefillLogits(transformer, [tokens])[0]
            for chunk in [7, 1] {
                let parts = try prefillLogits(transformer, [tokens], chunk: chunk)[0]
                for t in 0..<tokens.count {
                    #expect(maxAbsDifference(whole[t], parts[t]) < 1e-5, "chunk \(chunk), position \(t)")
                }
            }
        }
    }

    /// A sequence's logits do not depend on the other sequences in its step (different row
    /// counts, neighbours, slots) beyond float rounding: OpenBLAS's sgemm rounds differently for
    /// different row counts (measured: up to a few ulps), so equality is to 1e-5, not bitwise.
    @Test func sequencesInOneStepAreIndependent() throws {
        let dir = TemporaryDirectory()
        let config = TestConfigs.gqa
        let (_, weights) = try randomWeights(config, in: dir)
        let transformer = Transformer(weights: weights)
        let seqs = (0..<5).map { testTokens(9 + 3 * $0, vocab: config.vocabSize, seed: UInt64(20 + $0)) }
        let together = try prefillLogits(transformer, seqs)
        for (s, seq) in seqs.enumerated() {
            let alone = try prefillLogits(transformer, [seq])[0]
            for t in 0..<seq.count {
                let diff = maxAbsDifference(together[s][t], alone[t])
                #expect(diff < 1e-5, "sequence \(s) position \(t): batched and alone differ by \(diff)")
            }
        }
    }

    /// A row fed an injected embedding equal to a token's embedding row behaves as that token.
    @Test func injectedEmbeddingRowEqualsTokenRow() throws {
        let dir = TemporaryDirectory()
        let config = TestConfigs.gqa
        let (file, weights) = try randomWeights(config, in: dir)
        let transformer = Transformer(weights: weights)
        let tokens = testTokens(6, vocab: config.vocabSize, seed: 4)
        let table = try file.tensor("token_embedding.weight").toFloat32()
        let last = Int(tokens[5])
        let vector = Array(table[last * config.hiddenSize..<(last + 1) * config.hiddenSize])
        let cache = try KVCache(config: config, slots: 1, rowsPerSlot: config.contextLength)
        var batch = StepBatch()
        for p in 0..<5 {
            batch.append(token: tokens[p], position: p, cacheRow: p, visible: cache.visibleRows(slot: 0, position: p, window: nil), logits: false)
        }
        let got: [Float] = vector.withUnsafeBufferPointer { v in
            batch.append(embedding: v.baseAddress!, position: 5, cacheRow: 5,
                         visible: cache.visibleRows(slot: 0, position: 5, window: nil), logits: true)
            let out = transformer.step(batch, cache: cache)
            return Array(UnsafeBufferPointer(start: out.logits(0), count: config.vocabSize))
        }
        let want = try prefillLogits(transformer, [tokens])[0][5]
        #expect(maxAbsDifference(got, want) < 1e-5)
    }

    /// The thought layout as data: tokens appended in the cache's scratch region, each seeing its
    /// text prefix (span A) plus the stream's own earlier scratch rows (span B), give the logits of
    /// the same tokens appended to the text itself.
    @Test func scratchStreamWithExtraSpanEqualsInlineSequence() throws {
        let dir = TemporaryDirectory()
        let config = TestConfigs.gqa
        let (_, weights) = try randomWeights(config, in: dir)
        let transformer = Transformer(weights: weights)
        let text = testTokens(8, vocab: config.vocabSize, seed: 8)
        let thought = testTokens(4, vocab: config.vocabSize, seed: 9)
        let cache = try KVCache(config: config, slots: 1, rowsPerSlot: config.contextLength, scratchRows: 16)
        var batch = StepBatch()
        for p in 0..<text.count {
            batch.append(token: text[p], position: p, cacheRow: cache.textRow(slot: 0, position: p),
                         visible: cache.visibleRows(slot: 0, position: p, window: nil), logits: false)
        }
        _ = transformer.step(batch, cache: cache)
        // The stream branches after text position 4: it sees text rows 0...4, never 5...7.
        let branch = 4
        var streamLogits: [[Float]] = []
        for j in 0..<thought.count {
            batch.removeAll()
            batch.append(token: thought[j], position: branch + 1 + j, cacheRow: cache.scratchRow(3 + j),
                         visible: cache.visibleRows(slot: 0, position: branch, window: nil),
                         extra: KeyRange(start: cache.scratchRow(3), count: j + 1), logits: true)
            let out = transformer.step(batch, cache: cache)
            streamLogits.append(Array(UnsafeBufferPointer(start: out.logits(0), count: config.vocabSize)))
        }
        let inline = try prefillLogits(transformer, [Array(text[0...branch]) + thought])[0]
        for j in 0..<thought.count {
            #expect(maxAbsDifference(streamLogits[j], inline[branch + 1 + j]) < 1e-5, "thought step \(j)")
        }
    }

    /// With `keepsLayerActivations`, the same logits come out and every layer's intermediates stay
    /// addressable (they differ between layers).
    @Test func keptActivationsGiveTheSameLogits() throws {
        let dir = TemporaryDirectory()
        let config = TestConfigs.gqa
        let (_, weights) = try randomWeights(config, in: dir)
        let tokens = testTokens(10, vocab: config.vocabSize, seed: 12)
        let plain = try prefillLogits(Transformer(weights: weights), [tokens])[0]
        let keeping = Transformer(weights: weights, keepsLayerActivations: true)
        let kept = try prefillLogits(keeping, [tokens])[0]
        #expect(plain == kept)
        let a = keeping.activations
        let h = config.hiddenSize
        let layer0 = Array(UnsafeBufferPointer(start: a.residual(0), count: 10 * h))
        let layer1 = Array(UnsafeBufferPointer(start: a.residual(1), count: 10 * h))
        #expect(layer0 != layer1)
    }
}
