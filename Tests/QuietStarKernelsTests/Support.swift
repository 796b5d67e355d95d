import Foundation
import QuietStarFormat
import Testing
@testable import QuietStarKernels

/// The reference fixtures written by `tools/reference/kernels_reference.py`: case parameters and
/// named arrays (f32 / i32 / u8) in one binary blob.
final class Reference: @unchecked Sendable {
    static let shared = Reference()

    let cases: [String: [String: Any]]
    private let arrays: [String: (dtype: String, shape: [Int], offset: Int, bytes: Int)]
    private let blob: Data

    private init() {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("fixtures/kernels")
        let json = try! JSONSerialization.jsonObject(with: Data(contentsOf: root.appendingPathComponent("reference.json"))) as! [String: Any]
        cases = json["cases"] as! [String: [String: Any]]
        var index: [String: (String, [Int], Int, Int)] = [:]
        for (name, entry) in json["arrays"] as! [String: [String: Any]] {
            index[name] = (entry["dtype"] as! String, entry["shape"] as! [Int], entry["offset"] as! Int, entry["bytes"] as! Int)
        }
        arrays = index
        blob = try! Data(contentsOf: root.appendingPathComponent("reference.bin"))
    }

    func params(_ name: String) -> [String: Any] {
        guard let c = cases[name] else { fatalError("no reference case \(name)") }
        return c
    }

    func shape(_ name: String) -> [Int] { entry(name).shape }

    func floats(_ name: String) -> [Float] {
        let e = entry(name)
        precondition(e.dtype == "f32", "\(name) is \(e.dtype)")
        return blob.withUnsafeBytes { raw in
            (0..<e.bytes / 4).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: e.offset + 4 * $0, as: UInt32.self))) }
        }
    }

    func ints(_ name: String) -> [Int32] {
        let e = entry(name)
        precondition(e.dtype == "i32", "\(name) is \(e.dtype)")
        return blob.withUnsafeBytes { raw in
            (0..<e.bytes / 4).map { Int32(littleEndian: raw.loadUnaligned(fromByteOffset: e.offset + 4 * $0, as: Int32.self)) }
        }
    }

    func bytes(_ name: String) -> [UInt8] {
        let e = entry(name)
        return Array(blob[e.offset..<e.offset + e.bytes])
    }

    private func entry(_ name: String) -> (dtype: String, shape: [Int], offset: Int, bytes: Int) {
        guard let e = arrays[name] else { fatalError("no reference array \(name)") }
        return e
    }
}

/// Largest |a - b| / (atol + rtol·|b|) over the arrays; <= 1 means within tolerance. Records a
/// failure naming the first offending index.
@discardableResult
func expectClose(_ actual: [Float], _ expected: [Float], atol: Float = 1e-5, rtol: Float = 1e-4,
                 _ what: @autoclosure () -> String, sourceLocation: SourceLocation = #_sourceLocation) -> Float {
    #expect(actual.count == expected.count, "\(what()): \(actual.count) values, expected \(expected.count)",
            sourceLocation: sourceLocation)
    var worst: Float = 0
    var worstIndex = -1
    for i in 0..<min(actual.count, expected.count) {
        let a = actual[i], e = expected[i]
        if a == e { continue }  // includes equal infinities
        let ratio = (a.isNaN || e.isNaN || a.isInfinite || e.isInfinite) ? .infinity : abs(a - e) / (atol + rtol * abs(e))
        if ratio > worst { worst = ratio; worstIndex = i }
    }
    #expect(worst <= 1, "\(what()): index \(worstIndex) is \(worstIndex >= 0 ? actual[worstIndex] : 0), expected \(worstIndex >= 0 ? expected[worstIndex] : 0) (error ratio \(worst))",
            sourceLocation: sourceLocation)
    return worst
}


/// Checks an analytic gradient against central differences of a scalar loss.
///
/// `loss(x)` evaluates the f32 kernel on a perturbed copy of `x` and reduces in f64 (typically
/// Σ dy ⊙ f(x) for a fixed random dy, whose gradient is exactly what the backward computes).
/// Checks `count` coordinates spread over `x`. Central differences on an f32 function have
/// error ~ ulp(loss)/eps + eps²·f''', hence the loose but still failing-on-bugs tolerance.
func expectGradient(_ x: [Float], analytic: [Float], eps: Float = 4e-3, count: Int = 24,
                    atol: Double = 2e-3, rtol: Double = 2e-2, _ what: String,
                    sourceLocation: SourceLocation = #_sourceLocation, loss: ([Float]) -> Double) {
    #expect(x.count == analytic.count, "\(what): gradient size", sourceLocation: sourceLocation)
    let stride = max(1, x.count / count)
    var i = 0
    var worst = 0.0
    var report = ""
    while i < x.count {
        var p = x, m = x
        let h = eps * max(1, abs(x[i]))
        p[i] += h
        m[i] -= h
        let numeric = (loss(p) - loss(m)) / Double(p[i] - m[i])
        let ratio = abs(numeric - Double(analytic[i])) / (atol + rtol * abs(numeric))
        if ratio > worst {
            worst = ratio
            report = "index \(i): analytic \(analytic[i]), numeric \(numeric)"
        }
        i += stride
    }
    #expect(worst <= 1, "\(what): \(report)", sourceLocation: sourceLocation)
}

/// Σ a ⊙ b in f64.
func dot64(_ a: [Float], _ b: [Float]) -> Double {
    zip(a, b).reduce(0) { $0 + Double($1.0) * Double($1.1) }
}

/// A `WeightMatrix` over a byte array kept alive for the duration of `body`.
func withWeight<R>(_ bytes: [UInt8], dtype: WeightEncoding, rows: Int, cols: Int, _ body: (WeightMatrix) -> R) -> R {
    bytes.withUnsafeBytes { raw in
        body(WeightMatrix(encoding: dtype, rows: rows, cols: cols, base: raw.baseAddress!))
    }
}

extension WeightEncoding {
    static func named(_ name: String) -> WeightEncoding { WeightEncoding(rawValue: name)! }

    /// The kernel layout of a checkpoint dtype (the tests cross-check against Format's codec).
    init(_ dtype: DType) { self.init(rawValue: dtype.name)! }
}
