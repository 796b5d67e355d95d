import Foundation
import QuietStarTestSupport
import Testing
@testable import QuietStarKernels

@Suite struct RotaryTests {
    static let cases = ["rope_default", "rope_linear", "rope_llama3", "rope_dynamic"]

    static func table(_ name: String, maxPosition: Int? = nil) -> RotaryTable {
        let p = Reference.shared.params(name)
        let s = p["scaling"] as! [String: Any]
        let scaling: RotaryTable.RopeScaling
        switch p["ropeType"] as! String {
        case "default": scaling = .none
        case "linear": scaling = .linear(factor: s["factor"] as! Double)
        case "llama3":
            scaling = .llama3(factor: s["factor"] as! Double, lowFreqFactor: s["lowFreqFactor"] as! Double,
                              highFreqFactor: s["highFreqFactor"] as! Double, originalContext: s["originalContext"] as! Int)
        case "dynamic": scaling = .dynamicNTK(factor: s["factor"] as! Double, originalContext: s["originalContext"] as! Int)
        default: fatalError()
        }
        return RotaryTable(headDim: p["headDim"] as! Int, theta: p["theta"] as! Double, scaling: scaling,
                           maxPosition: maxPosition ?? (p["maxPosition"] as! Int))
    }

    /// The inverse frequencies and cos/sin equal transformers' to f32 rounding.
    @Test(arguments: cases)
    func frequenciesMatchTransformers(name: String) {
        let ref = Reference.shared
        let table = Self.table(name)
        expectClose(table.invFreq, ref.floats("\(name)/inv_freq"), atol: 0, rtol: 2.5e-7, "\(name) inv_freq")
        let positions = ref.ints("\(name)/positions")
        let half = table.headDim / 2
        var cosines = [Float](), sines = [Float]()
        for p in positions {
            for i in 0..<half {
                cosines.append(table.cosTable[Int(p) * half + i])
                sines.append(table.sinTable[Int(p) * half + i])
            }
        }
        expectClose(cosines, ref.floats("\(name)/cos"), atol: 2e-7, rtol: 0, "\(name) cos")
        expectClose(sines, ref.floats("\(name)/sin"), atol: 2e-7, rtol: 0, "\(name) sin")
    }

    @Test(arguments: cases)
    func rotatesLikeTransformers(name: String) {
        let ref = Reference.shared
        let p = ref.params(name)
        let rows = p["rows"] as! Int, heads = p["heads"] as! Int, hd = p["headDim"] as! Int
        let stride = p["rowStride"] as! Int
        let positions = ref.ints("\(name)/positions")
        let x = ref.floats("\(name)/x")
        // Tabulated, and (except for dynamic NTK, whose frequencies depend on maxPosition) with a
        // tiny table so that every position is computed on the fly.
        var tables = [Self.table(name)]
        if name != "rope_dynamic" { tables.append(Self.table(name, maxPosition: 3)) }
        for table in tables {
            var y = x
            Rotary.forward(&y, rows: rows, heads: heads, headDim: hd, rowStride: stride, positions: positions, table: table)
            let used = (0..<rows).flatMap { r in (0..<heads * hd).map { y[r * stride + $0] } }
            expectClose(used, ref.floats("\(name)/y"), atol: 2e-6, rtol: 1e-5, "\(name) y (table \(table.maxPosition))")
            let padding = (0..<rows).flatMap { r in (heads * hd..<stride).map { y[r * stride + $0] } }
            let padIn = (0..<rows).flatMap { r in (heads * hd..<stride).map { x[r * stride + $0] } }
            #expect(padding == padIn, "row padding must be left alone")

            let dy = ref.floats("\(name)/dy")
            var dx = [Float](repeating: 0, count: rows * heads * hd)
            for r in 0..<rows { for j in 0..<heads * hd { dx[r * heads * hd + j] = dy[r * heads * hd + j] } }
            Rotary.backward(&dx, rows: rows, heads: heads, headDim: hd, rowStride: heads * hd, positions: positions, table: table)
            expectClose(dx, ref.floats("\(name)/dx"), atol: 2e-6, rtol: 1e-5, "\(name) dx (table \(table.maxPosition))")
        }
    }

    /// Backward is the adjoint of forward: <R x, dy> = <x, Rᵀ dy>, and forward then backward is
    /// the identity (a rotation's transpose is its inverse).
    @Test func backwardIsAdjointAndInverse() {
        var rng = SplitMix64(seed: 21)
        let rows = 5, heads = 2, hd = 10
        let table = RotaryTable(headDim: hd, theta: 10000, maxPosition: 64)
        let positions: [Int32] = [0, 3, 63, 64, 1000]
        let x = rng.floats(rows * heads * hd), dy = rng.floats(rows * heads * hd)
        var rx = x, rtdy = dy
        Rotary.forward(&rx, rows: rows, heads: heads, headDim: hd, rowStride: heads * hd, positions: positions, table: table)
        Rotary.backward(&rtdy, rows: rows, heads: heads, headDim: hd, rowStride: heads * hd, positions: positions, table: table)
        #expect(abs(dot64(rx, dy) - dot64(x, rtdy)) < 1e-4)
        var back = rx
        Rotary.backward(&back, rows: rows, heads: heads, headDim: hd, rowStride: heads * hd, positions: positions, table: table)
        expectClose(back, x, atol: 1e-5, rtol: 0, "forward then backward")
        expectGradient(x, analytic: rtdy, "rotary dx") { x in
            var y = x
            Rotary.forward(&y, rows: rows, heads: heads, headDim: hd, rowStride: heads * hd, positions: positions, table: table)
            return dot64(y, dy)
        }
    }
}
