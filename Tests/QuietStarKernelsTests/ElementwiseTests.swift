import Foundation
import QuietStarTestSupport
import Testing
@testable import QuietStarKernels

@Suite struct RMSNormTests {
    @Test(arguments: ["rmsnorm_64", "rmsnorm_37"])
    func matchesTorch(name: String) {
        let ref = Reference.shared
        let p = ref.params(name)
        let rows = p["rows"] as! Int, dim = p["dim"] as! Int, eps = Float(p["eps"] as! Double)
        let x = ref.floats("\(name)/x"), w = ref.floats("\(name)/weight"), dy = ref.floats("\(name)/dy")
        var y = [Float](repeating: 0, count: rows * dim), rstd = [Float](repeating: 0, count: rows)
        RMSNorm.forward(x: x, rows: rows, dim: dim, weight: w, eps: eps, out: &y, rstd: &rstd)
        expectClose(y, ref.floats("\(name)/y"), "\(name) y")
        expectClose(rstd, ref.floats("\(name)/rstd"), "\(name) rstd")

        var dx = [Float](repeating: 0, count: rows * dim), dw = [Float](repeating: 0.5, count: dim)
        RMSNorm.backward(dy: dy, x: x, rows: rows, dim: dim, weight: w, rstd: rstd, dx: &dx, dWeight: &dw)
        expectClose(dx, ref.floats("\(name)/dx"), "\(name) dx")
        // dWeight accumulates onto what was there.
        expectClose(dw, ref.floats("\(name)/dweight").map { $0 + 0.5 }, "\(name) dweight")

        // accumulateDx adds; dx may alias dy when not accumulating.
        var acc = [Float](repeating: 1, count: rows * dim)
        RMSNorm.backward(dy: dy, x: x, rows: rows, dim: dim, weight: w, rstd: rstd, dx: &acc, accumulateDx: true, dWeight: nil)
        expectClose(acc, ref.floats("\(name)/dx").map { $0 + 1 }, "\(name) accumulated dx")
        var inPlace = dy
        inPlace.withUnsafeMutableBufferPointer { b in
            RMSNorm.backward(dy: b.baseAddress!, x: x, rows: rows, dim: dim, weight: w, rstd: rstd, dx: b.baseAddress!, dWeight: nil)
        }
        expectClose(inPlace, ref.floats("\(name)/dx"), "\(name) in-place dx")
    }

    @Test func gradientByFiniteDifferences() {
        var rng = SplitMix64(seed: 11)
        let rows = 3, dim = 21
        let x = rng.floats(rows * dim, scale: 2), w = rng.floats(dim).map { $0 + 1 }, dy = rng.floats(rows * dim)
        func loss(_ x: [Float], _ w: [Float]) -> Double {
            var y = [Float](repeating: 0, count: rows * dim)
            RMSNorm.forward(x: x, rows: rows, dim: dim, weight: w, eps: 1e-5, out: &y, rstd: nil)
            return dot64(y, dy)
        }
        var rstd = [Float](repeating: 0, count: rows), y = [Float](repeating: 0, count: rows * dim)
        RMSNorm.forward(x: x, rows: rows, dim: dim, weight: w, eps: 1e-5, out: &y, rstd: &rstd)
        var dx = [Float](repeating: 0, count: rows * dim), dw = [Float](repeating: 0, count: dim)
        RMSNorm.backward(dy: dy, x: x, rows: rows, dim: dim, weight: w, rstd: rstd, dx: &dx, dWeight: &dw)
        expectGradient(x, analytic: dx, "RMSNorm dx") { loss($0, w) }
        expectGradient(w, analytic: dw, "RMSNorm dweight") { loss(x, $0) }
    }
}

@Suite struct SwiGLUTests {
    @Test func matchesTorch() {
        let ref = Reference.shared
        let n = ref.params("swiglu")["count"] as! Int
        let g = ref.floats("swiglu/gate"), u = ref.floats("swiglu/up"), dy = ref.floats("swiglu/dy")
        var y = [Float](repeating: 0, count: n)
        SwiGLU.forward(gate: g, up: u, count: n, out: &y)
        expectClose(y, ref.floats("swiglu/y"), atol: 1e-6, rtol: 1e-5, "swiglu y")
        var dg = [Float](repeating: 0, count: n), du = [Float](repeating: 0, count: n)
        SwiGLU.backward(dOut: dy, gate: g, up: u, count: n, dGate: &dg, dUp: &du)
        expectClose(dg, ref.floats("swiglu/dgate"), atol: 1e-6, rtol: 1e-5, "swiglu dgate")
        expectClose(du, ref.floats("swiglu/dup"), atol: 1e-6, rtol: 1e-5, "swiglu dup")
    }

    @Test func gradientByFiniteDifferences() {
        var rng = SplitMix64(seed: 12)
        let n = 37
        let g = rng.floats(n, scale: 4), u = rng.floats(n), dy = rng.floats(n)
        func loss(_ g: [Float], _ u: [Float]) -> Double {
            var y = [Float](repeating: 0, count: n)
            SwiGLU.forward(gate: g, up: u, count: n, out: &y)
            return dot64(y, dy)
        }
        var dg = [Float](repeating: 0, count: n), du = [Float](repeating: 0, count: n)
        SwiGLU.backward(dOut: dy, gate: g, up: u, count: n, dGate: &dg, dUp: &du)
        expectGradient(g, analytic: dg, count: n, "SwiGLU dgate") { loss($0, u) }
        expectGradient(u, analytic: du, count: n, "SwiGLU dup") { loss(g, $0) }
    }
}

@Suite struct SoftmaxTests {
    @Test func softmaxMatchesTorch() {
        let ref = Reference.shared
        let p = ref.params("softmax")
        let rows = p["rows"] as! Int, cols = p["cols"] as! Int
        var y = ref.floats("softmax/x")
        Softmax.forwardRows(&y, rows: rows, cols: cols)
        expectClose(y, ref.floats("softmax/y"), atol: 1e-7, rtol: 1e-5, "softmax y")
        var dx = ref.floats("softmax/dy")
        dx.withUnsafeMutableBufferPointer { d in
            Softmax.backwardRows(y: y, dy: d.baseAddress!, rows: rows, cols: cols, dx: d.baseAddress!)
        }
        expectClose(dx, ref.floats("softmax/dx"), atol: 1e-6, rtol: 1e-5, "softmax dx")
    }

    @Test func logSoftmaxMatchesTorch() {
        let ref = Reference.shared
        let p = ref.params("log_softmax")
        let rows = p["rows"] as! Int, cols = p["cols"] as! Int
        var y = ref.floats("log_softmax/x")
        Softmax.logSoftmaxRows(&y, rows: rows, cols: cols)
        expectClose(y, ref.floats("log_softmax/y"), atol: 1e-5, rtol: 1e-5, "log_softmax y")
        var dx = [Float](repeating: 0, count: rows * cols)
        Softmax.logSoftmaxBackwardRows(y: y, dy: ref.floats("log_softmax/dy"), rows: rows, cols: cols, dx: &dx)
        expectClose(dx, ref.floats("log_softmax/dx"), atol: 1e-6, rtol: 1e-5, "log_softmax dx")
    }

    @Test func gradientsByFiniteDifferences() {
        var rng = SplitMix64(seed: 13)
        let rows = 2, cols = 19
        let x = rng.floats(rows * cols, scale: 3), dy = rng.floats(rows * cols)
        for log in [false, true] {
            func f(_ x: [Float]) -> [Float] {
                var y = x
                if log { Softmax.logSoftmaxRows(&y, rows: rows, cols: cols) } else { Softmax.forwardRows(&y, rows: rows, cols: cols) }
                return y
            }
            let y = f(x)
            var dx = [Float](repeating: 0, count: rows * cols)
            if log {
                Softmax.logSoftmaxBackwardRows(y: y, dy: dy, rows: rows, cols: cols, dx: &dx)
            } else {
                Softmax.backwardRows(y: y, dy: dy, rows: rows, cols: cols, dx: &dx)
            }
            expectGradient(x, analytic: dx, count: rows * cols, log ? "log_softmax dx" : "softmax dx") { dot64(f($0), dy) }
        }
    }
}

@Suite struct CrossEntropyTests {
    @Test func matchesTorch() {
        let ref = Reference.shared
        let p = ref.params("cross_entropy")
        let rows = p["rows"] as! Int, vocab = p["vocab"] as! Int
        let logits = ref.floats("cross_entropy/logits"), targets = ref.ints("cross_entropy/targets")
        var loss = [Float](repeating: .nan, count: rows), lse = [Float](repeating: .nan, count: rows)
        CrossEntropy.forward(logits: logits, rows: rows, vocab: vocab, targets: targets, lossPerRow: &loss, logSumExp: &lse)
        expectClose(loss, ref.floats("cross_entropy/loss"), "cross-entropy loss")
        expectClose(lse, ref.floats("cross_entropy/logsumexp"), "cross-entropy logsumexp")
        var d = [Float](repeating: .nan, count: rows * vocab)
        CrossEntropy.backward(logits: logits, rows: rows, vocab: vocab, targets: targets,
                              dLoss: ref.floats("cross_entropy/dloss"), dLogits: &d)
        expectClose(d, ref.floats("cross_entropy/dlogits"), atol: 1e-7, rtol: 1e-5, "cross-entropy dlogits")
        // In place over the logits.
        var inPlace = logits
        inPlace.withUnsafeMutableBufferPointer { b in
            CrossEntropy.backward(logits: b.baseAddress!, rows: rows, vocab: vocab, targets: targets,
                                  dLoss: ref.floats("cross_entropy/dloss"), dLogits: b.baseAddress!)
        }
        expectClose(inPlace, ref.floats("cross_entropy/dlogits"), atol: 1e-7, rtol: 1e-5, "in-place dlogits")
    }

    @Test func gradientByFiniteDifferences() {
        var rng = SplitMix64(seed: 14)
        let rows = 3, vocab = 29
        let x = rng.floats(rows * vocab, scale: 3)
        let targets: [Int32] = [4, -100, 28]
        let dLoss: [Float] = [0.7, 1.3, -0.4]
        func loss(_ x: [Float]) -> Double {
            var l = [Float](repeating: 0, count: rows)
            CrossEntropy.forward(logits: x, rows: rows, vocab: vocab, targets: targets, lossPerRow: &l)
            return dot64(l, dLoss)
        }
        var d = [Float](repeating: 0, count: rows * vocab)
        CrossEntropy.backward(logits: x, rows: rows, vocab: vocab, targets: targets, dLoss: dLoss, dLogits: &d)
        expectGradient(x, analytic: d, count: 40, "cross-entropy dlogits", loss: loss)
    }
}

@Suite struct EmbeddingTests {
    @Test(arguments: ["f32", "f16", "bf16", "q8_0"])
    func gathersEveryDType(dtype: String) {
        let ref = Reference.shared
        let p = ref.params("embedding")
        let vocab = p["vocab"] as! Int, dim = p["dim"] as! Int, count = p["count"] as! Int
        let ids = ref.ints("embedding/ids")
        var out = [Float](repeating: .nan, count: count * dim)
        withWeight(ref.bytes("embedding/\(dtype)/raw"), dtype: .named(dtype), rows: vocab, cols: dim) { table in
            Embedding.forward(table: table, ids: ids, count: count, out: &out)
        }
        #expect(out == ref.floats("embedding/\(dtype)/y"), "\(dtype) embedding rows")
    }

    @Test func backwardScatterAdds() {
        let ref = Reference.shared
        let p = ref.params("embedding")
        let vocab = p["vocab"] as! Int, dim = p["dim"] as! Int, count = p["count"] as! Int
        var dTable = [Float](repeating: 0, count: vocab * dim)
        Embedding.backward(dOut: ref.floats("embedding/dy"), ids: ref.ints("embedding/ids"), count: count, dim: dim, dTable: &dTable)
        expectClose(dTable, ref.floats("embedding/dtable"), "embedding dtable (id 3 repeated three times)")
    }

    @Test func gradientByFiniteDifferences() {
        var rng = SplitMix64(seed: 15)
        let vocab = 6, dim = 9
        let ids: [Int32] = [2, 5, 2, 0]
        let table = rng.floats(vocab * dim), dy = rng.floats(ids.count * dim)
        func loss(_ t: [Float]) -> Double {
            var out = [Float](repeating: 0, count: ids.count * dim)
            t.withUnsafeBytes { raw in
                Embedding.forward(table: WeightMatrix(encoding: .f32, rows: vocab, cols: dim, base: raw.baseAddress!),
                                  ids: ids, count: ids.count, out: &out)
            }
            return dot64(out, dy)
        }
        var dTable = [Float](repeating: 0, count: vocab * dim)
        Embedding.backward(dOut: dy, ids: ids, count: ids.count, dim: dim, dTable: &dTable)
        expectGradient(table, analytic: dTable, count: vocab * dim, "embedding dtable", loss: loss)
    }
}
