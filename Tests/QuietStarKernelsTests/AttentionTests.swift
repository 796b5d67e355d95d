import Foundation
import QuietStarTestSupport
import Testing
@testable import QuietStarKernels

@Suite struct AttentionTests {
    static let cases = ["attention_causal", "attention_window", "attention_thought", "attention_decode"]

    /// Spans as the fixture lists them: per row, (start, count, step) in cache rows.
    static func spans(_ name: String) -> [[(start: Int, count: Int, step: Int)]] {
        (Reference.shared.params(name)["spans"] as! [[[Int]]]).map { row in row.map { ($0[0], $0[1], $0[2]) } }
    }

    @Test(arguments: cases)
    func matchesTorch(name: String) {
        let ref = Reference.shared
        let p = ref.params(name)
        let rows = p["rows"] as! Int, heads = p["heads"] as! Int, kvHeads = p["kvHeads"] as! Int
        let hd = p["headDim"] as! Int, kvRows = p["kvRows"] as! Int, stride = p["rowStride"] as! Int
        let q = ref.floats("\(name)/q"), k = ref.floats("\(name)/k"), v = ref.floats("\(name)/v")
        let dy = ref.floats("\(name)/dy")
        let rowSpans = Self.spans(name)
        var out = [Float](repeating: .nan, count: rows * heads * hd)
        var lse = [Float](repeating: .nan, count: rows * heads)
        var dq = [Float](repeating: .nan, count: rows * heads * hd)
        var dk = [Float](repeating: 0, count: kvRows * stride), dv = [Float](repeating: 0, count: kvRows * stride)
        k.withUnsafeBufferPointer { kb in
            v.withUnsafeBufferPointer { vb in
                func span(_ s: (start: Int, count: Int, step: Int)) -> KeySpan {
                    KeySpan(keys: kb.baseAddress! + s.start * stride, values: vb.baseAddress! + s.start * stride,
                            rowStride: s.step * stride, count: s.count)
                }
                let spanOf = { (r: Int) -> (KeySpan, KeySpan?) in
                    (span(rowSpans[r][0]), rowSpans[r].count > 1 ? span(rowSpans[r][1]) : nil)
                }
                Attention.forward(q: q, rows: rows, heads: heads, kvHeads: kvHeads, headDim: hd, spans: spanOf,
                                  out: &out, logSumExp: &lse, scratch: Scratch())
                dk.withUnsafeMutableBufferPointer { dkb in
                    dv.withUnsafeMutableBufferPointer { dvb in
                        func grad(_ s: (start: Int, count: Int, step: Int)) -> KeySpanGradient {
                            KeySpanGradient(dKeys: dkb.baseAddress! + s.start * stride, dValues: dvb.baseAddress! + s.start * stride,
                                            rowStride: s.step * stride)
                        }
                        Attention.backward(dOut: dy, q: q, out: out, logSumExp: lse, rows: rows, heads: heads,
                                           kvHeads: kvHeads, headDim: hd, spans: spanOf,
                                           gradients: { r in (grad(rowSpans[r][0]), rowSpans[r].count > 1 ? grad(rowSpans[r][1]) : nil) },
                                           dq: &dq)
                    }
                }
            }
        }
        expectClose(out, ref.floats("\(name)/out"), "\(name) out")
        expectClose(lse, ref.floats("\(name)/lse"), "\(name) logsumexp")
        expectClose(dq, ref.floats("\(name)/dq"), "\(name) dq")
        expectClose(dk, ref.floats("\(name)/dk"), "\(name) dk")
        expectClose(dv, ref.floats("\(name)/dv"), "\(name) dv")
    }

    /// Central differences of Σ dy ⊙ attention(q, K, V) with a two-span (thought-style) layout
    /// and GQA, against the analytic backward.
    /// Head widths 5 (the generic backward) and 64 (its register-held specialisation).
    @Test(arguments: [5, 64])
    func gradientByFiniteDifferences(hd: Int) {
        var rng = SplitMix64(seed: 41)
        let rows = 3, heads = 4, kvHeads = 2, kvRows = 9
        let kvDim = kvHeads * hd
        // Row r sees text rows 0...r and thought rows 3 + r, 6 + r (stride 3).
        let q0 = rng.floats(rows * heads * hd, scale: 1.5), k0 = rng.floats(kvRows * kvDim, scale: 1.5)
        let v0 = rng.floats(kvRows * kvDim), dy = rng.floats(rows * heads * hd)
        func run(_ q: [Float], _ k: [Float], _ v: [Float], backward: Bool) -> (out: [Float], dq: [Float], dk: [Float], dv: [Float]) {
            var out = [Float](repeating: 0, count: rows * heads * hd), lse = [Float](repeating: 0, count: rows * heads)
            var dq = out, dk = [Float](repeating: 0, count: kvRows * kvDim), dv = dk
            k.withUnsafeBufferPointer { kb in
                v.withUnsafeBufferPointer { vb in
                    let spans = { (r: Int) -> (KeySpan, KeySpan?) in
                        (KeySpan(keys: kb.baseAddress!, values: vb.baseAddress!, rowStride: kvDim, count: r + 1),
                         KeySpan(keys: kb.baseAddress! + (3 + r) * kvDim, values: vb.baseAddress! + (3 + r) * kvDim,
                                 rowStride: 3 * kvDim, count: 2))
                    }
                    Attention.forward(q: q, rows: rows, heads: heads, kvHeads: kvHeads, headDim: hd, spans: spans,
                                      out: &out, logSumExp: &lse, scratch: Scratch())
                    guard backward else { return }
                    dk.withUnsafeMutableBufferPointer { dkb in
                        dv.withUnsafeMutableBufferPointer { dvb in
                            Attention.backward(dOut: dy, q: q, out: out, logSumExp: lse, rows: rows, heads: heads,
                                               kvHeads: kvHeads, headDim: hd, spans: spans,
                                               gradients: { r in
                                                   (KeySpanGradient(dKeys: dkb.baseAddress!, dValues: dvb.baseAddress!, rowStride: kvDim),
                                                    KeySpanGradient(dKeys: dkb.baseAddress! + (3 + r) * kvDim,
                                                                    dValues: dvb.baseAddress! + (3 + r) * kvDim, rowStride: 3 * kvDim))
                                               }, dq: &dq)
                        }
                    }
                }
            }
            return (out, dq, dk, dv)
        }
        let g = run(q0, k0, v0, backward: true)
        expectGradient(q0, analytic: g.dq, count: 30, "attention dq") { dot64(run($0, k0, v0, backward: false).out, dy) }
        expectGradient(k0, analytic: g.dk, count: 30, "attention dk") { dot64(run(q0, $0, v0, backward: false).out, dy) }
        expectGradient(v0, analytic: g.dv, count: 30, "attention dv") { dot64(run(q0, k0, $0, backward: false).out, dy) }
    }

    /// The same problems with the cache stored head-major (`[kvHeads, positions, headDim]`, via
    /// `headStride`) give the same results.
    @Test(arguments: ["attention_causal", "attention_thought"])
    func headMajorCache(name: String) {
        let ref = Reference.shared
        let p = ref.params(name)
        let rows = p["rows"] as! Int, heads = p["heads"] as! Int, kvHeads = p["kvHeads"] as! Int
        let hd = p["headDim"] as! Int, kvRows = p["kvRows"] as! Int, stride = p["rowStride"] as! Int
        let rowSpans = Self.spans(name)
        // Repack [kvRows, stride] -> [kvHeads, kvRows, hd].
        func headMajor(_ a: [Float]) -> [Float] {
            var out = [Float](repeating: 0, count: kvHeads * kvRows * hd)
            for h in 0..<kvHeads { for r in 0..<kvRows { for d in 0..<hd { out[(h * kvRows + r) * hd + d] = a[r * stride + h * hd + d] } } }
            return out
        }
        let k = headMajor(ref.floats("\(name)/k")), v = headMajor(ref.floats("\(name)/v"))
        var out = [Float](repeating: .nan, count: rows * heads * hd), lse = [Float](repeating: .nan, count: rows * heads)
        var dq = out, dk = [Float](repeating: 0, count: k.count), dv = dk
        k.withUnsafeBufferPointer { kb in
            v.withUnsafeBufferPointer { vb in
                func span(_ s: (start: Int, count: Int, step: Int)) -> KeySpan {
                    KeySpan(keys: kb.baseAddress! + s.start * hd, values: vb.baseAddress! + s.start * hd,
                            rowStride: s.step * hd, count: s.count, headStride: kvRows * hd)
                }
                let spanOf = { (r: Int) -> (KeySpan, KeySpan?) in
                    (span(rowSpans[r][0]), rowSpans[r].count > 1 ? span(rowSpans[r][1]) : nil)
                }
                Attention.forward(q: ref.floats("\(name)/q"), rows: rows, heads: heads, kvHeads: kvHeads, headDim: hd,
                                  spans: spanOf, out: &out, logSumExp: &lse, scratch: Scratch())
                dk.withUnsafeMutableBufferPointer { dkb in
                    dv.withUnsafeMutableBufferPointer { dvb in
                        func grad(_ s: (start: Int, count: Int, step: Int)) -> KeySpanGradient {
                            KeySpanGradient(dKeys: dkb.baseAddress! + s.start * hd, dValues: dvb.baseAddress! + s.start * hd,
                                            rowStride: s.step * hd, headStride: kvRows * hd)
                        }
                        Attention.backward(dOut: ref.floats("\(name)/dy"), q: ref.floats("\(name)/q"), out: out,
                                           logSumExp: lse, rows: rows, heads: heads, kvHeads: kvHeads, headDim: hd,
                                           spans: spanOf,
                                           gradients: { r in (grad(rowSpans[r][0]), rowSpans[r].count > 1 ? grad(rowSpans[r][1]) : nil) },
                                           dq: &dq)
                    }
                }
            }
        }
        expectClose(out, ref.floats("\(name)/out"), "\(name) head-major out")
        expectClose(lse, ref.floats("\(name)/lse"), "\(name) head-major logsumexp")
        expectClose(dq, ref.floats("\(name)/dq"), "\(name) head-major dq")
        expectClose(dk, headMajor(ref.floats("\(name)/dk")), "\(name) head-major dk")
        expectClose(dv, headMajor(ref.floats("\(name)/dv")), "\(name) head-major dv")
    }

    @Test func rowWithoutKeysIsZero() {
        let q: [Float] = [1, 2, 3, 4]
        var out = [Float](repeating: .nan, count: 4), lse = [Float](repeating: 0, count: 1)
        let kv: [Float] = [0, 0, 0, 0]
        kv.withUnsafeBufferPointer { b in
            Attention.forward(q: q, rows: 1, heads: 1, kvHeads: 1, headDim: 4,
                              spans: { _ in (KeySpan(keys: b.baseAddress!, values: b.baseAddress!, rowStride: 4, count: 0), nil) },
                              out: &out, logSumExp: &lse, scratch: Scratch())
        }
        #expect(out == [0, 0, 0, 0])
        #expect(lse[0] == -.infinity)
    }
}

/// A query row's attention output bits depend on its own spans alone, not on which rows share its
/// work tile: rows of causal prefill (span A = cache rows 0...p, crossing several 64-key blocks),
/// some with a span B, computed all together, alone, and in other groupings. With MHA (group 1)
/// and GQA (group 3), so both the 4-vector and the leftover value kernels are exercised.
@Suite struct AttentionBatchInvarianceTests {
    @Test(arguments: [(4, 4), (6, 2)])
    func rowBitsDependOnTheRowAlone(heads: Int, kvHeads: Int) {
        var rng = SplitMix64(seed: 5)
        let hd = 24, kvRows = 300, stride = kvHeads * hd
        let k = rng.floats(kvRows * stride), v = rng.floats(kvRows * stride)
        // Row r: text position p_r (causal span A over rows 0...p_r) and, for some, a span B.
        let positions = [3, 63, 64, 65, 130, 131, 199, 200, 201, 202, 250, 129, 70]
        let q = rng.floats(positions.count * heads * hd, scale: 3)
        k.withUnsafeBufferPointer { kb in
            v.withUnsafeBufferPointer { vb in
                func spans(_ r: Int) -> (KeySpan, KeySpan?) {
                    let a = KeySpan(keys: kb.baseAddress!, values: vb.baseAddress!, rowStride: stride, count: positions[r] + 1)
                    let b = r % 3 == 1
                        ? KeySpan(keys: kb.baseAddress! + 260 * stride, values: vb.baseAddress! + 260 * stride, rowStride: stride, count: 5 + r)
                        : nil
                    return (a, b)
                }
                func run(_ order: [Int]) -> [Int: [UInt32]] {
                    let input = order.flatMap { q[($0 * heads * hd)..<(($0 + 1) * heads * hd)] }
                    var out = [Float](repeating: .nan, count: order.count * heads * hd)
                    Attention.forward(q: input, rows: order.count, heads: heads, kvHeads: kvHeads, headDim: hd,
                                      spans: { spans(order[$0]) }, out: &out, scratch: Scratch())
                    return Dictionary(uniqueKeysWithValues: order.enumerated().map { i, r in
                        (r, out[(i * heads * hd)..<((i + 1) * heads * hd)].map(\.bitPattern))
                    })
                }
                let reference = run(Array(positions.indices))
                for order in [positions.indices.map { [$0] }, [Array(positions.indices.reversed())], [[4, 5, 6, 7, 8, 9, 10, 11, 12]],
                              [[12, 0, 7], [2, 3, 1]]] {
                    for group in order {
                        let got = run(group)
                        let differing = group.filter { got[$0] != reference[$0] }
                        #expect(differing.isEmpty, "heads \(heads)/\(kvHeads): rows \(differing) changed in group \(group)")
                    }
                }
            }
        }
    }

    /// An f16 span is the f32 kernel on the f16-rounded keys and values, bit for bit: packed and
    /// head-major layouts, rows that share keys (prefill tiles) and rows with a span B, GQA and MHA.
    @Test(arguments: [(4, 4), (6, 2)])
    func halfPrecisionSpansAreTheF32KernelOnRoundedValues(heads: Int, kvHeads: Int) {
        var rng = SplitMix64(seed: 8)
        let hd = 24, kvRows = 300, stride = kvHeads * hd
        let k = rng.floats(kvRows * stride, scale: 2), v = rng.floats(kvRows * stride, scale: 2)
        let kHalf = k.map { Float16($0).bitPattern }, vHalf = v.map { Float16($0).bitPattern }
        let kRounded = kHalf.map { Float(Float16(bitPattern: $0)) }, vRounded = vHalf.map { Float(Float16(bitPattern: $0)) }
        // Head-major copies ([kvHeads, kvRows, hd]) of both.
        func headMajor<T>(_ a: [T]) -> [T] {
            var out = a
            for h in 0..<kvHeads { for r in 0..<kvRows { for d in 0..<hd { out[(h * kvRows + r) * hd + d] = a[r * stride + h * hd + d] } } }
            return out
        }
        let positions = [3, 63, 64, 65, 130, 131, 199, 200, 201, 202, 250, 129, 70, 71, 72, 73]
        let q = rng.floats(positions.count * heads * hd, scale: 3)
        for layout in ["packed", "head-major"] {
            let major = layout == "head-major"
            let (k32, v32) = major ? (headMajor(kRounded), headMajor(vRounded)) : (kRounded, vRounded)
            let (k16, v16) = major ? (headMajor(kHalf), headMajor(vHalf)) : (kHalf, vHalf)
            let rowStride = major ? hd : stride, headStride: Int? = major ? kvRows * hd : nil
            func run(_ keys: UnsafeRawPointer, _ values: UnsafeRawPointer, _ encoding: CacheEncoding) -> [UInt32] {
                let width = encoding.byteWidth
                func span(_ first: Int, _ count: Int) -> KeySpan {
                    KeySpan(keyBase: keys + first * rowStride * width, valueBase: values + first * rowStride * width,
                            encoding: encoding, rowStride: rowStride, count: count, headStride: headStride)
                }
                var out = [Float](repeating: .nan, count: positions.count * heads * hd)
                Attention.forward(q: q, rows: positions.count, heads: heads, kvHeads: kvHeads, headDim: hd,
                                  spans: { r in (span(0, positions[r] + 1), r % 3 == 1 ? span(260, 5 + r) : nil) },
                                  out: &out, scratch: Scratch())
                return out.map(\.bitPattern)
            }
            let exact = k32.withUnsafeBytes { kb in v32.withUnsafeBytes { vb in run(kb.baseAddress!, vb.baseAddress!, .f32) } }
            let half = k16.withUnsafeBytes { kb in v16.withUnsafeBytes { vb in run(kb.baseAddress!, vb.baseAddress!, .f16) } }
            #expect(exact == half, "\(layout) heads \(heads)/\(kvHeads): the f16 span differs from f32 on the rounded values")
            #expect(!half.contains { Float(bitPattern: $0).isNaN })
        }
    }
}
