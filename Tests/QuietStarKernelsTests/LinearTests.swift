import Foundation
import QuietStarFormat
import QuietStarTestSupport
import Testing
@testable import QuietStarKernels

@Suite struct LinearTests {
    static let cases: [String] = Reference.shared.cases.keys.filter { $0.hasPrefix("linear/") }.sorted()

    enum Path: CaseIterable { case tiles, blas, smallPanels }

    static func forward(_ path: Path, x: [Float], m: Int, weight: WeightMatrix, bias: [Float]?, scratch: Scratch) -> [Float] {
        var y = [Float](repeating: .nan, count: m * weight.rows)
        let run = { (b: UnsafePointer<Float>?) in
            switch path {
            case .tiles: Linear.forward(x: x, rows: m, weight: weight, bias: b, out: &y, scratch: scratch)
            case .blas: Linear.forward(x: x, rows: m, weight: weight, bias: b, out: &y, scratch: scratch)
            case .smallPanels: Linear.forwardPanels(x: x, rows: m, weight: weight, bias: b, out: &y, scratch: scratch, panel: 16)
            }
        }
        if let bias { bias.withUnsafeBufferPointer { run($0.baseAddress!) } } else { run(nil) }
        return y
    }

    @Test(arguments: cases)
    func matchesTorch(name: String) {
        let ref = Reference.shared
        let p = ref.params(name)
        let m = p["rows"] as! Int, nIn = p["inFeatures"] as! Int, nOut = p["outFeatures"] as! Int
        let dtypeName = p["dtype"] as! String, hasBias = p["bias"] as! Bool
        let x = ref.floats("linear/m\(m)/x"), dy = ref.floats("linear/m\(m)/dy")
        let bias = hasBias ? ref.floats("linear/bias") : nil
        let scratch = Scratch()
        withWeight(ref.bytes("linear/\(dtypeName)/raw"), dtype: .named(dtypeName), rows: nOut, cols: nIn) { w in
            for path in Path.allCases {
                let y = Self.forward(path, x: x, m: m, weight: w, bias: bias, scratch: scratch)
                expectClose(y, ref.floats("\(name)/y"), "\(name) y via \(path)")
            }
            // dx written, then accumulated, on Gemm, on sgemm and on sgemm with small decoded panels;
            // f32 weights also get dW and db (accumulated).
            for path in Path.allCases {
                func backward(_ dx: inout [Float], accumulate: Bool) {
                    switch path {
                    case .tiles, .blas:
                        Linear.backward(dy: dy, x: x, rows: m, weight: w, dx: &dx, accumulateDx: accumulate, dWeight: nil,
                                        dBias: nil, scratch: scratch, strategy: path == .tiles ? .tiles : .blas)
                    case .smallPanels:
                        Linear.backwardBLAS(dy: dy, x: x, rows: m, weight: w, dx: &dx, accumulateDx: accumulate, dWeight: nil,
                                            scratch: scratch, panel: 16)
                    }
                }
                var dx = [Float](repeating: .nan, count: m * nIn)
                backward(&dx, accumulate: false)
                expectClose(dx, ref.floats("\(name)/dx"), "\(name) dx via \(path)")
                var acc = [Float](repeating: 2, count: m * nIn)
                backward(&acc, accumulate: true)
                expectClose(acc, ref.floats("\(name)/dx").map { $0 + 2 }, "\(name) accumulated dx via \(path)")
            }
            if w.encoding == .f32 {
                let dW = [Float](repeating: 1, count: nOut * nIn), dB = [Float](repeating: -1, count: nOut)
                for strategy in [Linear.Strategy.tiles, .blas] {
                    var dW = dW, dB = dB
                    dB.withUnsafeMutableBufferPointer { db in
                        Linear.backward(dy: dy, x: x, rows: m, weight: w, dx: nil, accumulateDx: false,
                                        dWeight: &dW, dBias: hasBias ? db.baseAddress! : nil, strategy: strategy)
                    }
                    expectClose(dW, ref.floats("\(name)/dweight").map { $0 + 1 }, "\(name) dweight via \(strategy)")
                    if hasBias { expectClose(dB, ref.floats("\(name)/dbias").map { $0 - 1 }, "\(name) dbias") }
                }
            }
        }
    }

    @Test(arguments: ["f32", "f16", "bf16"])
    func scalarTailColumns(dtype: String) {
        let ref = Reference.shared
        let name = "linear_tail/\(dtype)"
        let p = ref.params(name)
        let m = p["rows"] as! Int, nIn = p["inFeatures"] as! Int, nOut = p["outFeatures"] as! Int
        let scratch = Scratch()
        withWeight(ref.bytes("\(name)/raw"), dtype: .named(dtype), rows: nOut, cols: nIn) { w in
            for path in Path.allCases {
                let y = Self.forward(path, x: ref.floats("linear_tail/x"), m: m, weight: w, bias: nil, scratch: scratch)
                expectClose(y, ref.floats("\(name)/y"), "\(name) via \(path)")
            }
        }
    }

    /// Central differences through the tiled path (the BLAS path is sgemm's own business).
    @Test func gradientByFiniteDifferences() {
        var rng = SplitMix64(seed: 31)
        let m = 3, nIn = 13, nOut = 6
        let x = rng.floats(m * nIn), wv = rng.floats(nOut * nIn), b = rng.floats(nOut), dy = rng.floats(m * nOut)
        let scratch = Scratch()
        func loss(_ x: [Float], _ wv: [Float], _ b: [Float]) -> Double {
            var y = [Float](repeating: 0, count: m * nOut)
            wv.withUnsafeBytes { raw in
                let w = WeightMatrix(encoding: .f32, rows: nOut, cols: nIn, base: raw.baseAddress!)
                Linear.forward(x: x, rows: m, weight: w, bias: b, out: &y, scratch: scratch)
            }
            return dot64(y, dy)
        }
        var dx = [Float](repeating: 0, count: m * nIn), dW = [Float](repeating: 0, count: nOut * nIn)
        var dB = [Float](repeating: 0, count: nOut)
        wv.withUnsafeBytes { raw in
            let w = WeightMatrix(encoding: .f32, rows: nOut, cols: nIn, base: raw.baseAddress!)
            Linear.backward(dy: dy, x: x, rows: m, weight: w, dx: &dx, accumulateDx: false, dWeight: &dW, dBias: &dB)
        }
        expectGradient(x, analytic: dx, "Linear dx") { loss($0, wv, b) }
        expectGradient(wv, analytic: dW, "Linear dweight") { loss(x, $0, b) }
        expectGradient(b, analytic: dB, count: nOut, "Linear dbias") { loss(x, wv, $0) }
    }
}

/// The promise `Linear.forward` makes to the model: a row's output bits depend on that row alone,
/// not on how many rows share the call or where the row sits among them. Shapes cross every seam
/// of the tiling: ragged 3-row and 4-column tiles, several row and column blocks, several passes
/// over the columns, a column count that is not a multiple of the SIMD width, and single rows of
/// compressed weights (LinearRow, the batch-1 decode kernel) against the same rows in the tiles.
@Suite struct LinearBatchInvarianceTests {
    @Test(arguments: [(DType.f32, 1061), (.f32, 2100), (.f16, 2112), (.f16, 1061), (.bf16, 520), (.bf16, 2100), (.q8_0, 2112)])
    func rowBitsDependOnTheRowAlone(dtype: DType, nIn: Int) {
        var rng = SplitMix64(seed: 77)
        let m = 101, nOut = 70
        let x = rng.floats(m * nIn), values = rng.floats(nOut * nIn, scale: 0.5), bias = rng.floats(nOut)
        var raw = [UInt8](repeating: 0, count: Convert.byteCount(WeightEncoding(dtype), count: nOut * nIn))
        values.withUnsafeBufferPointer { src in raw.withUnsafeMutableBytes { DTypeCodec.encode(src, as: dtype, into: $0) } }
        let scratch = Scratch()
        withWeight(raw, dtype: WeightEncoding(dtype), rows: nOut, cols: nIn) { w in
            func run(_ rows: [Int]) -> [UInt32] {
                let input = rows.flatMap { x[($0 * nIn)..<(($0 + 1) * nIn)] }
                var y = [Float](repeating: .nan, count: rows.count * nOut)
                Linear.forward(x: input, rows: rows.count, weight: w, bias: bias, out: &y, scratch: scratch)
                return y.map(\.bitPattern)
            }
            let all = run(Array(0..<m))
            func rowsOf(_ bits: [UInt32], _ order: [Int]) -> [Int: ArraySlice<UInt32>] {
                Dictionary(uniqueKeysWithValues: order.enumerated().map { ($1, bits[($0 * nOut)..<(($0 + 1) * nOut)]) })
            }
            let reference = rowsOf(all, Array(0..<m))
            var orders: [[Int]] = [Array((0..<m).reversed()), [50], [0, 100], Array(stride(from: 3, to: m, by: 7))]
            orders.append((0..<m).map { ($0 * 37) % m })
            for order in orders {
                let got = rowsOf(run(order), order)
                let differing = order.filter { got[$0] != reference[$0] }
                #expect(differing.isEmpty, "\(dtype) x \(nIn): rows \(differing.prefix(5)) changed with \(order.count) rows in the call")
            }
            // And the bits are a correct product (against an f64 dot of the decoded weights).
            var decoded = [Float](repeating: 0, count: nOut * nIn)
            raw.withUnsafeBytes { Convert.decode($0.baseAddress!, WeightEncoding(dtype), count: nOut * nIn, into: &decoded) }
            var worst: Double = 0
            for i in 0..<m {
                for j in 0..<nOut {
                    var s = Double(bias[j])
                    for k in 0..<nIn { s += Double(x[i * nIn + k]) * Double(decoded[j * nIn + k]) }
                    worst = max(worst, abs(Double(Float(bitPattern: all[i * nOut + j])) - s))
                }
            }
            #expect(worst < 2e-4, "\(dtype) x \(nIn): max error \(worst) against f64")
        }
    }
}
