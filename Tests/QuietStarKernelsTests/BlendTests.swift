import QuietStarTestSupport
import Testing
@testable import QuietStarKernels

/// `Elementwise.blend` / `relu` and their backwards against central differences of
/// `L = Σ dOut ⊙ f(inputs)` (the gradient the backward computes exactly).
@Suite struct BlendTests {
    let rows = 3, dim = 37

    @Test func blendMatchesItsDefinitionAndBackwardMatchesFiniteDifferences() {
        var random = SplitMix64(seed: 41)
        let a = random.floats(rows * dim), b = random.floats(rows * dim), w = random.floats(rows, scale: 1.5)
        let dOut = random.floats(rows * dim)
        func blend(_ a: [Float], _ b: [Float], _ w: [Float]) -> [Float] {
            var out = [Float](repeating: 0, count: rows * dim)
            Elementwise.blend(a, b, weights: w, rows: rows, dim: dim, into: &out)
            return out
        }
        let out = blend(a, b, w)
        for r in 0..<rows {
            for i in 0..<dim {
                #expect(out[r * dim + i] == (1 - w[r]) * a[r * dim + i] + w[r] * b[r * dim + i])
            }
        }
        var dA = [Float](repeating: 0.25, count: rows * dim), dB = [Float](repeating: -0.5, count: rows * dim)
        var dw = [Float](repeating: 9, count: rows)
        Elementwise.blendBackward(dOut: dOut, a, b, weights: w, rows: rows, dim: dim, dA: &dA, dB: &dB, dWeights: &dw)
        // dA / dB accumulate onto what was there; dWeights is written.
        expectGradient(a, analytic: dA.map { $0 - 0.25 }, "blend dA") { dot64(dOut, blend($0, b, w)) }
        expectGradient(b, analytic: dB.map { $0 + 0.5 }, "blend dB") { dot64(dOut, blend(a, $0, w)) }
        expectGradient(w, analytic: dw, count: rows, "blend dw") { dot64(dOut, blend(a, b, $0)) }
    }

    @Test func reluBackwardMatchesFiniteDifferencesAwayFromZero() {
        var random = SplitMix64(seed: 42)
        // Keep inputs away from the kink, where the central difference is not the derivative.
        let x = random.floats(rows * dim).map { $0 >= 0 ? $0 + 0.05 : $0 - 0.05 }
        let dy = random.floats(rows * dim)
        func relu(_ x: [Float]) -> [Float] {
            var y = x
            Elementwise.relu(&y, count: y.count)
            return y
        }
        let post = relu(x)
        #expect(post == x.map { max($0, 0) })
        var grad = dy
        Elementwise.reluBackward(&grad, post: post, count: grad.count)
        expectGradient(x, analytic: grad, eps: 1e-2, "relu") { dot64(dy, relu($0)) }
        var nan: [Float] = [.nan, -0.0, 1]
        Elementwise.relu(&nan, count: 3)
        #expect(nan.map(\.bitPattern) == [Float(0).bitPattern, Float(0).bitPattern, Float(1).bitPattern])
    }

    @Test func addIsExactAcrossTheVectorTail() {
        var random = SplitMix64(seed: 43)
        let a = random.floats(77), b = random.floats(77)
        var out = [Float](repeating: 0, count: 77)
        Elementwise.add(a, b, into: &out, count: 77)
        #expect(out == zip(a, b).map { $0 + $1 })
    }
}
