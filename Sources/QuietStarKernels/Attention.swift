import CKernels
import Foundation

/// How a KV cache stores its keys and values. `f16` halves the bytes attention streams per key,
/// which is the whole cost of decoding many lines over long caches; every value read is widened to
/// f32 exactly, so the arithmetic is the f32 kernel's on the rounded keys and values.
public enum CacheEncoding: String, Sendable, CaseIterable {
    case f32, f16

    /// Bytes per stored value.
    public var byteWidth: Int { self == .f32 ? 4 : 2 }
}

/// A run of cached keys and values that some query rows attend to: kv head `h` of row `r` of the
/// span has its `headDim` keys at element `r * rowStride + h * headStride` of `keyBase` (values
/// likewise), each element `encoding.byteWidth` bytes.
///
/// `headStride` nil means the heads of a row are packed (`headStride = headDim`), the layout of a
/// `[positions, kvHeads * headDim]` cache. A head-major cache (`[kvHeads, positions, headDim]`:
/// `rowStride = headDim`, `headStride = capacity * headDim`) lets each (row, kv head) work unit
/// stream contiguous memory, which decode over long caches rewards (see `quietstar-bench kernels`,
/// attention decode cases).
public struct KeySpan: @unchecked Sendable {
    public var keyBase: UnsafeRawPointer
    public var valueBase: UnsafeRawPointer
    public var encoding: CacheEncoding
    public var rowStride: Int
    public var count: Int
    public var headStride: Int?

    /// A span of f32 keys and values.
    public init(keys: UnsafePointer<Float>, values: UnsafePointer<Float>, rowStride: Int, count: Int,
                headStride: Int? = nil) {
        self.init(keyBase: UnsafeRawPointer(keys), valueBase: UnsafeRawPointer(values), encoding: .f32,
                  rowStride: rowStride, count: count, headStride: headStride)
    }

    public init(keyBase: UnsafeRawPointer, valueBase: UnsafeRawPointer, encoding: CacheEncoding, rowStride: Int,
                count: Int, headStride: Int? = nil) {
        precondition(count >= 0, "KeySpan: negative count")
        self.keyBase = keyBase
        self.valueBase = valueBase
        self.encoding = encoding
        self.rowStride = rowStride
        self.count = count
        self.headStride = headStride
    }

    /// The f32 keys (only for an f32 span: the backward pass and direct readers).
    public var keys: UnsafePointer<Float> {
        precondition(encoding == .f32, "KeySpan: the keys are \(encoding), not f32")
        return keyBase.assumingMemoryBound(to: Float.self)
    }

    /// The f32 values (only for an f32 span).
    public var values: UnsafePointer<Float> {
        precondition(encoding == .f32, "KeySpan: the values are \(encoding), not f32")
        return valueBase.assumingMemoryBound(to: Float.self)
    }

    /// Same memory, layout and encoding (tile-mates whose keys can be streamed once for all).
    func sharesStorage(with o: KeySpan) -> Bool {
        keyBase == o.keyBase && valueBase == o.valueBase && encoding == o.encoding && rowStride == o.rowStride
            && headStride == o.headStride
    }
}

/// Where the gradients of a `KeySpan`'s keys and values go (same layout rules as `KeySpan`).
public struct KeySpanGradient: @unchecked Sendable {
    public var dKeys: UnsafeMutablePointer<Float>
    public var dValues: UnsafeMutablePointer<Float>
    public var rowStride: Int
    public var headStride: Int?

    public init(dKeys: UnsafeMutablePointer<Float>, dValues: UnsafeMutablePointer<Float>, rowStride: Int,
                headStride: Int? = nil) {
        self.dKeys = dKeys
        self.dValues = dValues
        self.rowStride = rowStride
        self.headStride = headStride
    }
}

/// Scaled dot-product attention of many query rows over cached keys/values, where each query row
/// sees the union of up to two key spans. One structure covers causal prefill (span A = cache rows
/// `0...position`), batched decode with per-sequence caches, sliding windows (a narrower span A) and
/// Quiet-STaR's thought mask (span A = the text up to the stream's position, span B = the stream's
/// own earlier thought tokens), without ever building an `L x L·steps` mask.
///
/// GQA: query head `h` uses kv head `h / (heads / kvHeads)`. Scale `1/sqrt(headDim)`.
public enum Attention {
    /// Keys processed per block of the online softmax.
    static let block = 64
    /// Query rows per work unit: rows of a tile whose span A starts at the same cache row share the
    /// keys they have in common (all of them but a few in causal prefill and in thought steps), so
    /// each key is loaded once for `tileRows x group` query vectors.
    static let tileRows = 8

    /// Key and value bytes one `forward` reads past which it asks for the next unit's data ahead
    /// (`Lookahead`): a core's L2. Below it the keys are usually still cached from the last step
    /// (batch-1 decode over short contexts); above it they stream from memory (batched decode
    /// reads every line's whole cache per layer, tens of MB across the layers).
    static let lookaheadBytes = 2 << 20

    /// Scratch slots used by Attention.
    public static let scratchSlots = 0..<1

    /// `q`, `out`: `rows x (heads·headDim)`, contiguous. `spans(row)` gives the row's span A and
    /// optional span B; it is called concurrently and must be a pure lookup. Writes
    /// `logSumExp[row·heads + h]` (natural log of the softmax normaliser, in scaled-score units)
    /// when given: `backward` needs it. A row with no keys at all gets a zero output and
    /// `logSumExp = -inf`.
    ///
    /// Work units are (tile of `tileRows` rows, kv head), spread over the workers. Within a unit,
    /// the keys shared by every row of the tile are streamed once for all its query vectors; the
    /// rest (each row's own tail of span A, and span B) row by row. A blocked online softmax keeps
    /// a running max and sum per query vector, rescaling once per block of 64 keys.
    public static func forward(q: UnsafePointer<Float>, rows: Int, heads: Int, kvHeads: Int, headDim: Int,
                               spans: (Int) -> (KeySpan, KeySpan?), out: UnsafeMutablePointer<Float>,
                               logSumExp: UnsafeMutablePointer<Float>? = nil, scratch: Scratch) {
        precondition(kvHeads > 0 && heads % kvHeads == 0, "Attention: heads \(heads) not a multiple of kvHeads \(kvHeads)")
        let group = heads / kvHeads
        let tiles = (rows + tileRows - 1) / tileRows
        let tasks = tiles * kvHeads
        guard tasks > 0 else { return }
        let scale = 1 / Float(headDim).squareRoot()
        let vectors = tileRows * group
        // Per chunk: the state's vectors, then one block of widened keys and values (f16 spans).
        let stateFloats = vectors * (2 * headDim + block + 2)
        // ... and the chunk's `Lookahead` (8 floats' room, 32-byte aligned at this offset).
        let lookaheadOffset = stateFloats + 2 * block * headDim
        let perChunk = (lookaheadOffset + 8 + 7) & ~7
        let chunks = min(tasks, Threads.count == 1 ? 1 : Threads.count * 4)
        // Look ahead only when the call reads more keys and values than a core's cache holds: for
        // a few short lines they are still cached and the prefetches would only take load slots.
        var spanBytes = 0
        for r in 0..<rows where spanBytes <= Attention.lookaheadBytes {
            let (a, b) = spans(r)
            spanBytes += (a.count * a.encoding.byteWidth + (b.map { $0.count * $0.encoding.byteWidth } ?? 0)) * 2 * kvHeads * headDim
        }
        let looksAhead = spanBytes > Attention.lookaheadBytes
        let buffers = scratch.floats(chunks * perChunk, slot: scratchSlots.lowerBound)
        Threads.parallelFor(chunks) { c in
            // Span A key counts of the current tile's rows (the joint pass masks each row at its own).
            var counts = [Int](repeating: 0, count: tileRows)
            let buf = buffers + c * perChunk
            let lookahead = UnsafeMutableRawPointer(buf + lookaheadOffset).bindMemory(to: Lookahead.self, capacity: 1)
            lookahead.initialize(to: Lookahead())
            defer { _ = UnsafeMutableRawPointer(lookahead).bindMemory(to: Float.self, capacity: 8) }
            let state = OnlineSoftmax(headDim: headDim, lookahead: lookahead, qs: buf, acc: buf + vectors * headDim,
                                      scores: buf + 2 * vectors * headDim,
                                      runMax: buf + 2 * vectors * headDim + vectors * block,
                                      runSum: buf + 2 * vectors * headDim + vectors * block + vectors,
                                      widenedKeys: buf + stateFloats, widenedValues: buf + stateFloats + block * headDim)
            for task in (tasks * c / chunks)..<(tasks * (c + 1) / chunks) {
                let tile = task / kvHeads, kvh = task % kvHeads
                let r0 = tile * tileRows, n = min(tileRows, rows - r0)
                // Load the tile's query vectors (row-major over (row, head in group)), pre-scaled.
                for t in 0..<n {
                    for g in 0..<group {
                        let src = q + (r0 + t) * heads * headDim + (kvh * group + g) * headDim
                        let dst = state.qs + (t * group + g) * headDim
                        for d in 0..<headDim { dst[d] = src[d] * scale }
                    }
                }
                state.reset(n * group)
                // Keys the rows of the tile have in common (same span A start): streamed once for
                // all their query vectors, up to the end of the 64-key block in which the first
                // of them ends, each row masked at its own count. Blocks are cut at the same
                // multiples of 64 as when a row is alone, and the masking is exact (see
                // `consume`), so a row's output bits never depend on its tile-mates.
                let first = spans(r0).0
                var shared = first.count, longest = first.count
                counts[0] = first.count
                for t in 1..<max(1, n) {
                    let a = spans(r0 + t).0
                    if !a.sharesStorage(with: first) {
                        shared = 0
                        break
                    }
                    counts[t] = a.count
                    shared = min(shared, a.count)
                    longest = max(longest, a.count)
                }
                let joint = shared > 0 ? min(longest, (shared / block + 1) * block) : 0
                if joint > 0 {
                    state.consume(first, from: 0, to: joint, kvHead: kvh, vectors: 0..<(n * group)) { v in
                        counts[v / group]
                    }
                }
                for t in 0..<n {
                    let (a, b) = spans(r0 + t)
                    // The next row's keys and values are fetched while this row computes (the
                    // last row's: the next task's first row, from its start).
                    if looksAhead && t + 1 < n {
                        lookahead.pointee = Lookahead(spans(r0 + t + 1).0, from: joint, kvHead: kvh, headDim: headDim)
                    } else if looksAhead && task + 1 < tasks {
                        let nextRow = (task + 1) / kvHeads * tileRows
                        lookahead.pointee = Lookahead(spans(nextRow).0, from: 0, kvHead: (task + 1) % kvHeads, headDim: headDim)
                    }
                    let own = (t * group)..<((t + 1) * group)
                    if a.count > joint {
                        state.consume(a, from: joint, to: a.count, kvHead: kvh, vectors: own) { _ in a.count }
                    }
                    if let b { state.consume(b, from: 0, to: b.count, kvHead: kvh, vectors: own) { _ in b.count } }
                }
                for t in 0..<n {
                    let outRow = out + (r0 + t) * heads * headDim
                    for g in 0..<group {
                        let v = t * group + g
                        let o = outRow + (kvh * group + g) * headDim
                        let l = state.runSum[v]
                        if l > 0 {
                            o.update(from: state.acc + v * headDim, count: headDim)
                            Vec.scale(o, 1 / l, headDim)
                        } else {
                            o.update(repeating: 0, count: headDim)
                        }
                        logSumExp?[(r0 + t) * heads + kvh * group + g] = l > 0 ? state.runMax[v] + Foundation.log(l) : -.infinity
                    }
                }
            }
        }
    }

    /// Backward of `forward`, recomputing the probabilities from `logSumExp` (as FlashAttention-2
    /// does) instead of storing a `rows x keys` matrix:
    /// `dq` is written; the span gradients from `gradients(row)` (same layout as `spans(row)`) are
    /// accumulated, since many query rows share the same keys.
    ///
    /// Work is split over kv heads (each owns a disjoint slice of every key row, so overlapping
    /// spans of different rows never race); rows are walked in order inside a kv head.
    public static func backward(dOut: UnsafePointer<Float>, q: UnsafePointer<Float>, out: UnsafePointer<Float>,
                                logSumExp: UnsafePointer<Float>, rows: Int, heads: Int, kvHeads: Int, headDim: Int,
                                spans: (Int) -> (KeySpan, KeySpan?),
                                gradients: (Int) -> (KeySpanGradient, KeySpanGradient?),
                                dq: UnsafeMutablePointer<Float>) {
        precondition(kvHeads > 0 && heads % kvHeads == 0, "Attention: heads \(heads) not a multiple of kvHeads \(kvHeads)")
        let group = heads / kvHeads
        let scale = 1 / Float(headDim).squareRoot()
        Threads.parallelFor(kvHeads) { kvh in
            for row in 0..<rows {
                let (a, b) = spans(row)
                let (ga, gb) = gradients(row)
                precondition((b == nil) == (gb == nil), "Attention.backward: span B and its gradient must both be given or both be nil")
                for g in 0..<group {
                    let h = kvh * group + g
                    let off = row * heads * headDim + h * headDim
                    let qh = q + off, doh = dOut + off, dqh = dq + off
                    dqh.update(repeating: 0, count: headDim)
                    let lse = logSumExp[row * heads + h]
                    guard lse > -.infinity else { continue }
                    let delta = Vec.dot(doh, out + off, headDim)
                    let head = HeadGradient(kvHead: kvh, headDim: headDim, scale: scale, lse: lse, delta: delta,
                                            q: qh, dOut: doh, dq: dqh)
                    head.accumulate(a, ga)
                    if let b, let gb { head.accumulate(b, gb) }
                }
            }
        }
    }
}

/// The keys and values the next work unit of `Attention.forward` will read. Decode over many
/// caches is bound by memory, and reading a unit's keys only when its arithmetic starts left the
/// memory idle during the arithmetic and the arithmetic idle during the reads (measured: 5.6 ms for
/// six layers of 64 f16 caches of 128 rows, against 2.1 ms to stream them and 1.75 ms to compute
/// from cache). So the current unit's value loop asks for the next unit's lines as it goes, a few
/// per key (4.0 ms; with the f32 cache 6.7 -> 5.3 ms). A prefetch changes no value, only when a
/// line arrives.
struct Lookahead {
    var keys: UnsafeRawPointer? = nil
    var values: UnsafeRawPointer? = nil
    var bytes = 0
    /// Lines of each asked for per key the current unit processes: a key's worth, so the next
    /// unit is in flight by the end of this one when both are about as long.
    var linesPerKey = 1

    init() {}

    /// Rows `from...` of `span`'s kv head `kvHead` (nothing for a span that is not head-major, where
    /// one head's rows are not one run).
    init(_ span: KeySpan, from: Int, kvHead: Int, headDim: Int) {
        guard span.count > from, span.rowStride == headDim else { return }
        let width = span.encoding.byteWidth
        let offset = (from * headDim + kvHead * (span.headStride ?? headDim)) * width
        keys = span.keyBase + offset
        values = span.valueBase + offset
        bytes = (span.count - from) * headDim * width
        linesPerKey = max(1, headDim * width / 64)
    }

    @inline(__always) mutating func advance() {
        for _ in 0..<linesPerKey { step() }
    }

    @inline(__always) mutating func step() {
        guard bytes > 0, let k = keys, let v = values else { return }
        qs_prefetch(k)
        qs_prefetch(v)
        keys = k + 64
        values = v + 64
        bytes -= 64
    }
}

/// The running state of one work unit of `Attention.forward`: query vectors `qs` (pre-scaled,
/// `headDim` each), their unnormalised outputs `acc`, running max and sum, and a block of scores
/// per vector (`Attention.block` floats each).
private struct OnlineSoftmax {
    let headDim: Int
    let lookahead: UnsafeMutablePointer<Lookahead>
    let qs: UnsafeMutablePointer<Float>, acc: UnsafeMutablePointer<Float>, scores: UnsafeMutablePointer<Float>
    let runMax: UnsafeMutablePointer<Float>, runSum: UnsafeMutablePointer<Float>
    /// One block's keys and values of an f16 span, widened to f32 (`headDim` floats per key).
    let widenedKeys: UnsafeMutablePointer<Float>, widenedValues: UnsafeMutablePointer<Float>

    func reset(_ vectors: Int) {
        acc.update(repeating: 0, count: vectors * headDim)
        runMax.update(repeating: -.infinity, count: vectors)
        runSum.update(repeating: 0, count: vectors)
    }

    /// Folds keys `from..<to` of `span` into the query vectors `vectors`, one block of keys at a
    /// time: scores for the block (four vectors x two keys per micro-kernel call), one rescale of
    /// each accumulator per block, then the weighted values (four vectors x sixteen output lanes
    /// held in registers across the block's keys). Vector `v` only sees keys below `limit(v)`.
    ///
    /// Blocks start at `from` (0 or a multiple of `block`), and a vector's result is exactly what
    /// it would be with `to = limit(v)`: its masked scores become `-inf` up to the next multiple
    /// of eight, so `expInPlace` adds exact zeros in whole SIMD chunks; a block it does not see at
    /// all leaves its state untouched; masked weights are 0, and `acc + 0 * v` is `acc`.
    @inline(__always)
    func consume(_ span: KeySpan, from: Int, to end: Int, kvHead: Int, vectors: Range<Int>, limit: (Int) -> Int) {
        guard end > from, !vectors.isEmpty else { return }
        let block = Attention.block
        let hd = headDim
        var j0 = from
        while j0 < end {
            let nb = min(block, end - j0)
            let head = kvHead * (span.headStride ?? hd)
            // The block's keys and values as f32: in place, or widened (exactly) from f16 into
            // scratch, after which the arithmetic is the f32 path's whatever the stride.
            let kBase: UnsafePointer<Float>, vBase: UnsafePointer<Float>, stride: Int
            switch span.encoding {
            case .f32:
                kBase = span.keys + j0 * span.rowStride + head
                vBase = span.values + j0 * span.rowStride + head
                stride = span.rowStride
            case .f16:
                widen(span, rows: j0..<(j0 + nb), head: head)
                kBase = UnsafePointer(widenedKeys)
                vBase = UnsafePointer(widenedValues)
                stride = hd
            }
            // Scores: groups of four vectors two keys at a time, then each leftover vector eight
            // keys at a time (the same arithmetic per dot product either way).
            var v = vectors.lowerBound
            while v + 4 <= vectors.upperBound {
                let q4 = (UnsafePointer(qs + v * hd), UnsafePointer(qs + (v + 1) * hd),
                          UnsafePointer(qs + (v + 2) * hd), UnsafePointer(qs + (v + 3) * hd))
                let s0 = scores + v * block, s1 = s0 + block, s2 = s1 + block, s3 = s2 + block
                var jj = 0
                while jj < nb {
                    let k0 = kBase + jj * stride
                    let k1 = jj + 1 < nb ? k0 + stride : k0
                    let (a, b) = Attention.dot4x2(q4, k0, k1, hd)
                    s0[jj] = a[0]; s1[jj] = a[1]; s2[jj] = a[2]; s3[jj] = a[3]
                    if jj + 1 < nb {
                        s0[jj + 1] = b[0]; s1[jj + 1] = b[1]; s2[jj + 1] = b[2]; s3[jj + 1] = b[3]
                    }
                    jj += 2
                }
                v += 4
            }
            while v < vectors.upperBound {
                let sv = scores + v * block
                var jj = 0
                while jj < nb {
                    // A ragged last group of keys repeats its last key; those scores are dropped.
                    let (a, b) = Attention.dot1x8(qs + v * hd, kBase + jj * stride, stride: stride,
                                                  keys: nb - jj, hd)
                    for i in 0..<min(8, nb - jj) { sv[jj + i] = i < 4 ? a[i] : b[i - 4] }
                    jj += 8
                }
                v += 1
            }
            // Online softmax: mask, new max, rescale, exponentiate in place.
            let padded = (nb + 7) & ~7
            for v in vectors {
                let sv = scores + v * block
                let valid = min(nb, limit(v) - j0)
                guard valid > 0 else {
                    sv.update(repeating: 0, count: nb)
                    continue
                }
                for jj in valid..<padded { sv[jj] = -.infinity }
                let newMax = Swift.max(runMax[v], Vec.max(sv, valid))
                // While every score so far is -inf there is nothing to rescale against.
                let shift = newMax == -.infinity ? 0 : newMax
                let correction = runMax[v] == -.infinity ? 0 : exp1(runMax[v] - shift)
                runSum[v] = runSum[v] * correction + Vec.expInPlace(sv, padded, minus: shift)
                if correction != 1 { Vec.scale(acc + v * hd, correction, hd) }
                runMax[v] = newMax
            }
            // Weighted values.
            v = vectors.lowerBound
            while v + 4 <= vectors.upperBound {
                accumulateValues4(v, vBase, stride, nb)
                v += 4
            }
            while v < vectors.upperBound {
                accumulateValues1(v, vBase, stride, nb)
                v += 1
            }
            j0 += nb
        }
    }

    /// Widens keys and values of rows `rows` of an f16 span (kv head at element offset `head`)
    /// into `widenedKeys` / `widenedValues`, `headDim` floats per row.
    @inline(__always)
    func widen(_ span: KeySpan, rows: Range<Int>, head: Int) {
        let hd = headDim
        if span.rowStride == hd {
            // Head-major cache: the block is one contiguous run.
            let offset = 2 * (rows.lowerBound * hd + head)
            Convert.decodeF16(span.keyBase + offset, rows.count * hd, widenedKeys)
            Convert.decodeF16(span.valueBase + offset, rows.count * hd, widenedValues)
            return
        }
        for (i, r) in rows.enumerated() {
            let offset = 2 * (r * span.rowStride + head)
            Convert.decodeF16(span.keyBase + offset, hd, widenedKeys + i * hd)
            Convert.decodeF16(span.valueBase + offset, hd, widenedValues + i * hd)
        }
    }

    /// acc[v] += P[v, 0..<nb] · V[0..<nb]: per output lane exactly the arithmetic of
    /// `accumulateValues4` (an FMA chain from zero over the block's keys, then one add into
    /// `acc`), so a query vector gets the same bits whether or not it is grouped with three others.
    /// Sixty-four lanes at a time: eight independent chains keep both FMA pipes busy (one chain
    /// per eight lanes alone would wait on FMA latency at every key).
    @inline(__always)
    func accumulateValues1(_ v: Int, _ vBase: UnsafePointer<Float>, _ stride: Int, _ nb: Int) {
        let hd = headDim
        let p = scores + v * Attention.block
        let a = acc + v * hd
        var d = 0
        while d + 64 <= hd {
            var c0 = F8(), c1 = F8(), c2 = F8(), c3 = F8(), c4 = F8(), c5 = F8(), c6 = F8(), c7 = F8()
            var row = vBase + d
            for jj in 0..<nb {
                lookahead.pointee.advance()
                let pj = F8(repeating: p[jj])
                c0 = c0.addingProduct(pj, load8(row)); c1 = c1.addingProduct(pj, load8(row + 8))
                c2 = c2.addingProduct(pj, load8(row + 16)); c3 = c3.addingProduct(pj, load8(row + 24))
                c4 = c4.addingProduct(pj, load8(row + 32)); c5 = c5.addingProduct(pj, load8(row + 40))
                c6 = c6.addingProduct(pj, load8(row + 48)); c7 = c7.addingProduct(pj, load8(row + 56))
                row += stride
            }
            let o = a + d
            store8(load8(o) + c0, o); store8(load8(o + 8) + c1, o + 8)
            store8(load8(o + 16) + c2, o + 16); store8(load8(o + 24) + c3, o + 24)
            store8(load8(o + 32) + c4, o + 32); store8(load8(o + 40) + c5, o + 40)
            store8(load8(o + 48) + c6, o + 48); store8(load8(o + 56) + c7, o + 56)
            d += 64
        }
        while d + 8 <= hd {
            var c = F8()
            var row = vBase + d
            let asks = d == 0   // heads narrower than 64 lanes ask here
            for jj in 0..<nb {
                if asks { lookahead.pointee.advance() }
                c = c.addingProduct(F8(repeating: p[jj]), load8(row))
                row += stride
            }
            store8(load8(a + d) + c, a + d)
            d += 8
        }
        while d < hd {
            var c: Float = 0
            var row = vBase + d
            for jj in 0..<nb {
                c += p[jj] * row[0]
                row += stride
            }
            a[d] += c
            d += 1
        }
    }

    /// acc[v..v+4] += P[v..v+4, 0..<nb] · V[0..<nb], sixteen lanes at a time in registers.
    @inline(__always)
    func accumulateValues4(_ v: Int, _ vBase: UnsafePointer<Float>, _ stride: Int, _ nb: Int) {
        let hd = headDim, block = Attention.block
        let p0 = scores + v * block, p1 = p0 + block, p2 = p1 + block, p3 = p2 + block
        let a0 = acc + v * hd, a1 = a0 + hd, a2 = a1 + hd, a3 = a2 + hd
        var d = 0
        while d + 16 <= hd {
            var c00 = F8(), c01 = F8(), c10 = F8(), c11 = F8(), c20 = F8(), c21 = F8(), c30 = F8(), c31 = F8()
            var row = vBase + d
            for jj in 0..<nb {
                lookahead.pointee.advance()
                let x0 = load8(row), x1 = load8(row + 8)
                c00 = c00.addingProduct(F8(repeating: p0[jj]), x0); c01 = c01.addingProduct(F8(repeating: p0[jj]), x1)
                c10 = c10.addingProduct(F8(repeating: p1[jj]), x0); c11 = c11.addingProduct(F8(repeating: p1[jj]), x1)
                c20 = c20.addingProduct(F8(repeating: p2[jj]), x0); c21 = c21.addingProduct(F8(repeating: p2[jj]), x1)
                c30 = c30.addingProduct(F8(repeating: p3[jj]), x0); c31 = c31.addingProduct(F8(repeating: p3[jj]), x1)
                row += stride
            }
            store8(load8(a0 + d) + c00, a0 + d); store8(load8(a0 + d + 8) + c01, a0 + d + 8)
            store8(load8(a1 + d) + c10, a1 + d); store8(load8(a1 + d + 8) + c11, a1 + d + 8)
            store8(load8(a2 + d) + c20, a2 + d); store8(load8(a2 + d + 8) + c21, a2 + d + 8)
            store8(load8(a3 + d) + c30, a3 + d); store8(load8(a3 + d + 8) + c31, a3 + d + 8)
            d += 16
        }
        while d + 8 <= hd {
            var c0 = F8(), c1 = F8(), c2 = F8(), c3 = F8()
            var row = vBase + d
            for jj in 0..<nb {
                let x = load8(row)
                c0 = c0.addingProduct(F8(repeating: p0[jj]), x)
                c1 = c1.addingProduct(F8(repeating: p1[jj]), x)
                c2 = c2.addingProduct(F8(repeating: p2[jj]), x)
                c3 = c3.addingProduct(F8(repeating: p3[jj]), x)
                row += stride
            }
            store8(load8(a0 + d) + c0, a0 + d); store8(load8(a1 + d) + c1, a1 + d)
            store8(load8(a2 + d) + c2, a2 + d); store8(load8(a3 + d) + c3, a3 + d)
            d += 8
        }
        while d < hd {
            var c = SIMD4<Float>()
            var row = vBase + d
            for jj in 0..<nb {
                c += SIMD4<Float>(p0[jj], p1[jj], p2[jj], p3[jj]) * row[0]
                row += stride
            }
            a0[d] += c[0]; a1[d] += c[1]; a2[d] += c[2]; a3[d] += c[3]
            d += 1
        }
    }
}

/// One query head of one row in `Attention.backward`.
private struct HeadGradient {
    let kvHead: Int, headDim: Int
    let scale: Float, lse: Float, delta: Float
    let q: UnsafePointer<Float>, dOut: UnsafePointer<Float>, dq: UnsafeMutablePointer<Float>

    /// With p = exp(scale·q·k - lse): dV += p·dOut; dS = p·(dOut·v - delta)·scale;
    /// dq += dS·k; dK += dS·q. Keys go eight at a time: both dot products of a block share one
    /// load of q (or dOut) per lane (`Attention.dot1x8`) and the eight probabilities are one
    /// vector `exp`; the three updates stay per key.
    @inline(__always)
    func accumulate(_ span: KeySpan, _ grad: KeySpanGradient) {
        if headDim == 64 {
            accumulate64(span, grad)
            return
        }
        let off = kvHead * (span.headStride ?? headDim), gOff = kvHead * (grad.headStride ?? headDim)
        let stride = span.rowStride
        var j0 = 0
        while j0 < span.count {
            let nb = min(8, span.count - j0)
            let k = span.keys + j0 * stride + off, v = span.values + j0 * stride + off
            let (s0, s1) = Attention.dot1x8(q, k, stride: stride, keys: nb, headDim)
            let (d0, d1) = Attention.dot1x8(dOut, v, stride: stride, keys: nb, headDim)
            let p = exp8(F8(lowHalf: s0, highHalf: s1) * scale - F8(repeating: lse))
            let ds = p * (F8(lowHalf: d0, highHalf: d1) - F8(repeating: delta)) * scale
            for t in 0..<nb {
                let j = j0 + t
                Vec.axpy(p[t], dOut, grad.dValues + j * grad.rowStride + gOff, headDim)
                Vec.axpy(ds[t], k + t * stride, dq, headDim)
                Vec.axpy(ds[t], q, grad.dKeys + j * grad.rowStride + gOff, headDim)
            }
            j0 += nb
        }
    }

    /// `accumulate` for 64-wide heads (the common size), with `dq`, `q` and `dOut` held in
    /// registers across the keys: the same FMA per element in the same key order (so the same
    /// bits), without a load and a store of `dq` per key. The per-key updates were bound by those
    /// memory operations (three read-modify-write passes per key).
    @inline(__always)
    func accumulate64(_ span: KeySpan, _ grad: KeySpanGradient) {
        let off = kvHead * (span.headStride ?? 64), gOff = kvHead * (grad.headStride ?? 64)
        let stride = span.rowStride
        typealias Row = (F8, F8, F8, F8, F8, F8, F8, F8)
        @inline(__always) func load(_ p: UnsafePointer<Float>) -> Row {
            (load8(p), load8(p + 8), load8(p + 16), load8(p + 24), load8(p + 32), load8(p + 40), load8(p + 48), load8(p + 56))
        }
        /// y += a · x, stored at `y`.
        @inline(__always) func axpy(_ a: Float, _ x: Row, _ y: UnsafeMutablePointer<Float>) {
            let s = F8(repeating: a)
            store8(load8(y).addingProduct(s, x.0), y); store8(load8(y + 8).addingProduct(s, x.1), y + 8)
            store8(load8(y + 16).addingProduct(s, x.2), y + 16); store8(load8(y + 24).addingProduct(s, x.3), y + 24)
            store8(load8(y + 32).addingProduct(s, x.4), y + 32); store8(load8(y + 40).addingProduct(s, x.5), y + 40)
            store8(load8(y + 48).addingProduct(s, x.6), y + 48); store8(load8(y + 56).addingProduct(s, x.7), y + 56)
        }
        let qr = load(q), dr = load(dOut)
        var g = load(UnsafePointer(dq))
        var j0 = 0
        while j0 < span.count {
            let nb = min(8, span.count - j0)
            let k = span.keys + j0 * stride + off, v = span.values + j0 * stride + off
            let (s0, s1) = Attention.dot1x8(q, k, stride: stride, keys: nb, 64)
            let (d0, d1) = Attention.dot1x8(dOut, v, stride: stride, keys: nb, 64)
            let p = exp8(F8(lowHalf: s0, highHalf: s1) * scale - F8(repeating: lse))
            let ds = p * (F8(lowHalf: d0, highHalf: d1) - F8(repeating: delta)) * scale
            for t in 0..<nb {
                let j = j0 + t
                axpy(p[t], dr, grad.dValues + j * grad.rowStride + gOff)
                let kt = k + t * stride, a = F8(repeating: ds[t])
                g.0 = g.0.addingProduct(a, load8(kt)); g.1 = g.1.addingProduct(a, load8(kt + 8))
                g.2 = g.2.addingProduct(a, load8(kt + 16)); g.3 = g.3.addingProduct(a, load8(kt + 24))
                g.4 = g.4.addingProduct(a, load8(kt + 32)); g.5 = g.5.addingProduct(a, load8(kt + 40))
                g.6 = g.6.addingProduct(a, load8(kt + 48)); g.7 = g.7.addingProduct(a, load8(kt + 56))
                axpy(ds[t], qr, grad.dKeys + j * grad.rowStride + gOff)
            }
            j0 += nb
        }
        store8(g.0, dq); store8(g.1, dq + 8); store8(g.2, dq + 16); store8(g.3, dq + 24)
        store8(g.4, dq + 32); store8(g.5, dq + 40); store8(g.6, dq + 48); store8(g.7, dq + 56)
    }
}

extension Attention {
    /// Dots of four query vectors with two keys: eight independent FMA chains. Per dot product
    /// the arithmetic of `dot1x8` (one FMA chain of eight lanes, `fold4`, then a scalar tail).
    @inline(__always)
    static func dot4x2(_ w: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>),
                       _ x0: UnsafePointer<Float>, _ x1: UnsafePointer<Float>, _ n: Int) -> (SIMD4<Float>, SIMD4<Float>) {
        var a0 = F8(), a1 = F8(), a2 = F8(), a3 = F8()
        var b0 = F8(), b1 = F8(), b2 = F8(), b3 = F8()
        var j = 0
        while j + 8 <= n {
            let u = load8(x0 + j), v = load8(x1 + j)
            let w0 = load8(w.0 + j), w1 = load8(w.1 + j), w2 = load8(w.2 + j), w3 = load8(w.3 + j)
            a0 = a0.addingProduct(w0, u); b0 = b0.addingProduct(w0, v)
            a1 = a1.addingProduct(w1, u); b1 = b1.addingProduct(w1, v)
            a2 = a2.addingProduct(w2, u); b2 = b2.addingProduct(w2, v)
            a3 = a3.addingProduct(w3, u); b3 = b3.addingProduct(w3, v)
            j += 8
        }
        var s0 = fold4((a0, a1, a2, a3))
        var s1 = fold4((b0, b1, b2, b3))
        while j < n {
            let wj = SIMD4<Float>(w.0[j], w.1[j], w.2[j], w.3[j])
            s0 += wj * x0[j]
            s1 += wj * x1[j]
            j += 1
        }
        return (s0, s1)
    }

    /// Dots of one query vector with the eight keys from `k`, `stride` apart (fewer than eight
    /// `keys` repeat the last one): eight FMA chains sharing one query load, for the vectors a
    /// tile does not group by four (single-vector decode rows of MHA models, where `dot4x2`
    /// would compute each dot four times).
    @inline(__always)
    static func dot1x8(_ q: UnsafePointer<Float>, _ k: UnsafePointer<Float>, stride: Int, keys: Int,
                       _ n: Int) -> (SIMD4<Float>, SIMD4<Float>) {
        let last = keys - 1
        let k1 = k + min(1, last) * stride, k2 = k + min(2, last) * stride, k3 = k + min(3, last) * stride
        let k4 = k + min(4, last) * stride, k5 = k + min(5, last) * stride, k6 = k + min(6, last) * stride
        let k7 = k + min(7, last) * stride
        var a0 = F8(), a1 = F8(), a2 = F8(), a3 = F8(), a4 = F8(), a5 = F8(), a6 = F8(), a7 = F8()
        var j = 0
        while j + 8 <= n {
            let u = load8(q + j)
            a0 = a0.addingProduct(u, load8(k + j)); a1 = a1.addingProduct(u, load8(k1 + j))
            a2 = a2.addingProduct(u, load8(k2 + j)); a3 = a3.addingProduct(u, load8(k3 + j))
            a4 = a4.addingProduct(u, load8(k4 + j)); a5 = a5.addingProduct(u, load8(k5 + j))
            a6 = a6.addingProduct(u, load8(k6 + j)); a7 = a7.addingProduct(u, load8(k7 + j))
            j += 8
        }
        var s0 = fold4((a0, a1, a2, a3))
        var s1 = fold4((a4, a5, a6, a7))
        while j < n {
            s0 += SIMD4<Float>(k[j], k1[j], k2[j], k3[j]) * q[j]
            s1 += SIMD4<Float>(k4[j], k5[j], k6[j], k7[j]) * q[j]
            j += 1
        }
        return (s0, s1)
    }
}
