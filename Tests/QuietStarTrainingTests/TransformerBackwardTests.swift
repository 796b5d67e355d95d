import Foundation
import QuietStarCheckpoint
import QuietStarKernels
import QuietStarModel
import QuietStarModelTestSupport
import QuietStarTestSupport
import QuietStarTraining
import Testing

/// `Transformer.backward` by finite differences on a batch shaped like a Quiet-STaR pass: text
/// rows attending causally, thought rows whose input is an injected vector or a token, attending
/// to a text prefix (span A) plus their own earlier rows (span B), and logits on some rows only.
/// The PyTorch references (GradientReferenceTests) cover plain causal batches of every family;
/// this covers what they do not: the second span, injected rows and their input gradients.
@Suite struct TransformerBackwardTests {
    @Test(arguments: [TestConfigs.gqa, TestConfigs.windowed])
    func gradientsMatchFiniteDifferences(_ config: ModelConfig) throws {
        var c = config
        c.contextLength = 16
        let parameters = Parameters(config: c)
        parameters.initialise(seed: 9, std: 0.3)
        // Norm gains and biases away from their initial 1 and 0, so their gradients are generic.
        var random = SplitMix64(seed: 4)
        for t in parameters.layout.tensors where t.shape.count == 1 {
            for i in parameters.values.values(t).indices { parameters.values.values(t)[i] += random.uniform(0.3) }
        }
        let injected = (0..<2).map { _ in (0..<c.hiddenSize).map { _ in random.uniform(1) } }
        let injectedPointers = injected.map { v -> UnsafeMutablePointer<Float> in
            let p = UnsafeMutablePointer<Float>.allocate(capacity: v.count)
            p.initialize(from: v, count: v.count)
            return p
        }
        defer { injectedPointers.forEach { $0.deallocate() } }

        let transformer = Transformer(weights: parameters.weights, keepsLayerActivations: true)
        let cache = try KVCache(config: c, slots: 1, rowsPerSlot: 9)
        var batch = StepBatch()
        let text: [Int32] = [3, 17, 5, 40, 2, 11]
        for (p, id) in text.enumerated() {
            let first = c.slidingWindow.map { max(0, p - $0 + 1) } ?? 0
            batch.append(token: id, position: p, cacheRow: p, visible: KeyRange(start: first, count: p - first + 1),
                         logits: p % 2 == 1)
        }
        // A thought after text position 2: start vector, one token, end vector (rows 6, 7, 8).
        let prefix = KeyRange(start: 0, count: 3)
        batch.append(embedding: injectedPointers[0], position: 3, cacheRow: 6, visible: prefix,
                     extra: KeyRange(start: 6, count: 1), logits: false)
        batch.append(token: 21, position: 4, cacheRow: 7, visible: prefix, extra: KeyRange(start: 6, count: 2), logits: true)
        batch.append(embedding: injectedPointers[1], position: 5, cacheRow: 8, visible: prefix,
                     extra: KeyRange(start: 6, count: 3), logits: true)
        let targets: [Int32] = (0..<batch.logitCount).map { Int32(($0 * 7 + 3) % c.vocabSize) }

        func loss() -> Double {
            let out = transformer.step(batch, cache: cache)
            var l = [Float](repeating: 0, count: targets.count)
            CrossEntropy.forward(logits: out.logits, rows: targets.count, vocab: c.vocabSize, targets: targets, lossPerRow: &l)
            return l.reduce(0) { $0 + Double($1) }
        }

        // Analytic gradients.
        let gradients = FloatBuffer(count: parameters.layout.count)
        let out = transformer.step(batch, cache: cache)
        let logits = UnsafeMutablePointer(mutating: out.logits)
        CrossEntropy.backward(logits: logits, rows: targets.count, vocab: c.vocabSize, targets: targets, dLoss: nil, dLogits: logits)
        let dInput = transformer.backward(batch, cache: cache, dLogits: logits, gradients: parameters.gradients(in: gradients))
        let injectedGradients = [6, 8].map { Array(UnsafeBufferPointer(start: dInput + $0 * c.hiddenSize, count: c.hiddenSize)) }

        // Central differences at the largest-gradient entry (and one more) of every tensor and
        // at entries of the injected vectors. float32 forward: h = 1e-2, 2% relative tolerance
        // (or 2e-3 absolute for small gradients).
        func check(_ value: UnsafeMutablePointer<Float>, _ analytic: Float, _ what: String) {
            let h: Float = 1e-2
            let saved = value.pointee
            value.pointee = saved + h
            let up = loss()
            value.pointee = saved - h
            let down = loss()
            value.pointee = saved
            let numeric = (up - down) / Double(2 * h)
            let error = abs(numeric - Double(analytic))
            #expect(error <= 0.02 * abs(numeric) + 2e-3, "\(what): backward \(analytic), finite difference \(numeric)")
        }
        for t in parameters.layout.tensors {
            let g = gradients.values(t)
            let largest = g.indices.max { abs(g[$0]) < abs(g[$1]) }!
            for i in Set([largest, g.count / 2]) {
                check(parameters.values.base + t.offset + i, g[i], "\(t.name)[\(i)]")
            }
        }
        for (k, p) in injectedPointers.enumerated() {
            for i in [0, 5, c.hiddenSize - 1] { check(p + i, injectedGradients[k][i], "injected vector \(k)[\(i)]") }
        }
    }
}
