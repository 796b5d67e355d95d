import Foundation
import QuietStarCheckpoint
import QuietStarKernels
import QuietStarModel
import QuietStarModelTestSupport
import QuietStarTestSupport
import Testing

/// The mixing head's backward against central differences of its forward (f64 sums of f32
/// evaluations), for both output kinds.
@Suite struct MixingHeadTests {
    final class Parameters {
        var w0, b0, w1, b1, w2: [Float]
        let h: Int
        init(h: Int, seed: UInt64) {
            self.h = h
            var r = LineRandom(seed: seed, line: 1)
            func draw(_ n: Int, _ scale: Float) -> [Float] { (0..<n).map { _ in Float(r.nextUnit() * 2 - 1) * scale } }
            w0 = draw(h * 2 * h, 0.5); b0 = draw(h, 0.3); w1 = draw(h * h, 0.5); b1 = draw(h, 0.3); w2 = draw(h, 0.5)
        }
        func head(_ output: MixingHead.Output, _ body: (MixingHead) -> Void) {
            w0.withUnsafeBufferPointer { w0 in b0.withUnsafeBufferPointer { b0 in w1.withUnsafeBufferPointer { w1 in
                b1.withUnsafeBufferPointer { b1 in w2.withUnsafeBufferPointer { w2 in
                    body(MixingHead(hiddenSize: h,
                                    w0: WeightMatrix(encoding: .f32, rows: h, cols: 2 * h, base: UnsafeRawPointer(w0.baseAddress!)),
                                    b0: b0.baseAddress!,
                                    w1: WeightMatrix(encoding: .f32, rows: h, cols: h, base: UnsafeRawPointer(w1.baseAddress!)),
                                    b1: b1.baseAddress!,
                                    w2: WeightMatrix(encoding: .f32, rows: 1, cols: h, base: UnsafeRawPointer(w2.baseAddress!)),
                                    output: output))
                } }
            } } }
        }
    }

    @Test(arguments: [MixingHead.Output.identity, .sigmoid])
    func backwardMatchesFiniteDifferences(_ output: MixingHead.Output) {
        let h = 6, rows = 3
        let p = Parameters(h: h, seed: 42)
        var r = LineRandom(seed: 7, line: 2)
        var base = (0..<(rows * h)).map { _ in Float(r.nextUnit() * 2 - 1) }
        var thought = (0..<(rows * h)).map { _ in Float(r.nextUnit() * 2 - 1) }
        let coefficients: [Float] = [1.0, -0.7, 0.4]   // L = Σ c_r w_r
        let ws = MixingHeadWorkspace()
        func loss() -> Double {
            var w = [Float](repeating: 0, count: rows)
            p.head(output) { head in head.forward(base: base, thought: thought, rows: rows, workspace: ws, weights: &w) }
            return zip(w, coefficients).reduce(0.0) { $0 + Double($1.0 * $1.1) }
        }
        // Analytic gradients.
        var dBase = [Float](repeating: 0, count: rows * h), dThought = dBase
        var g0 = [Float](repeating: 0, count: h * 2 * h), gb0 = [Float](repeating: 0, count: h)
        var g1 = [Float](repeating: 0, count: h * h), gb1 = [Float](repeating: 0, count: h), g2 = [Float](repeating: 0, count: h)
        _ = loss()
        p.head(output) { head in
            g0.withUnsafeMutableBufferPointer { g0 in gb0.withUnsafeMutableBufferPointer { gb0 in
                g1.withUnsafeMutableBufferPointer { g1 in gb1.withUnsafeMutableBufferPointer { gb1 in
                    g2.withUnsafeMutableBufferPointer { g2 in
                        head.backward(dw: coefficients, rows: rows, workspace: ws, dBase: &dBase, dThought: &dThought,
                                      gradients: MixingHeadGradients(w0: g0.baseAddress!, b0: gb0.baseAddress!, w1: g1.baseAddress!,
                                                                     b1: gb1.baseAddress!, w2: g2.baseAddress!))
                    }
                } }
            } }
        }
        let eps: Float = 1e-3
        var worst = 0.0
        func check(_ name: String, _ analytic: [Float], _ value: (Int) -> Float, _ set: (Int, Float) -> Void) {
            for i in analytic.indices {
                let x = value(i)
                set(i, x + eps); let up = loss()
                set(i, x - eps); let down = loss()
                set(i, x)
                let numeric = (up - down) / Double(2 * eps)
                let err = abs(numeric - Double(analytic[i])) / max(1, abs(numeric))
                worst = max(worst, err)
                #expect(err < 2e-2, "\(output) \(name)[\(i)]: analytic \(analytic[i]) numeric \(numeric)")
            }
        }
        check("base", dBase, { base[$0] }, { base[$0] = $1 })
        check("thought", dThought, { thought[$0] }, { thought[$0] = $1 })
        check("w0", g0, { p.w0[$0] }, { p.w0[$0] = $1 })
        check("b0", gb0, { p.b0[$0] }, { p.b0[$0] = $1 })
        check("w1", g1, { p.w1[$0] }, { p.w1[$0] = $1 })
        check("b1", gb1, { p.b1[$0] }, { p.b1[$0] = $1 })
        check("w2", g2, { p.w2[$0] }, { p.w2[$0] = $1 })
        #expect(dBase.contains { $0 != 0 } && g0.contains { $0 != 0 }, "gradients must flow")
        print("mixing head \(output): worst relative gradient error \(worst)")
    }
}
