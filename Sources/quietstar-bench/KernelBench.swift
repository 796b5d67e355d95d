import ArgumentParser
import Foundation
import QuietStarFormat
import QuietStarCheckpoint
import QuietStarKernels
import QuietStarModel

/// `quietstar-bench kernels`: throughput of every kernel at model-like sizes (a 7B-class layer:
/// hidden 4096, MLP 11008, 32 heads of 128 with 8 kv heads, vocabulary 32000), and for Linear, with
/// each weight dtype and m = 1 ... 256 rows, GFLOP/s against the sgemm peak and (at m = 1) against
/// the memory-bandwidth bound, for the batch-invariant tiled kernel and for `cblas_sgemm` (the
/// BLAS strategy) timed interleaved, so the price of batch invariance is measured on any machine.
struct KernelBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernels",
        abstract: "Kernel throughput; Linear against the sgemm peak and the bandwidth bound.")

    @OptionGroup var options: BenchOptions

    @Option(help: "Only run kernels whose name contains this (linear, linear_backward, convert, rmsnorm, rotary, swiglu, softmax, cross_entropy, embedding, attention).")
    var filter: String?

    func run() {
        let minTime = options.apply()
        Machine.emitInfo(subcommand: "kernels")
        let quick = options.quick
        let dims = quick ? Dims(hidden: 512, mlp: 1024, heads: 8, kvHeads: 2, headDim: 64, vocab: 4000, context: 256)
                         : Dims(hidden: 4096, mlp: 11008, heads: 32, kvHeads: 8, headDim: 128, vocab: 32000, context: 2048)
        func wanted(_ name: String) -> Bool { filter.map { name.contains($0) } ?? true }

        // Baselines in this run, on these threads.
        let peak = Baseline.measureSgemmPeak(minTime: minTime)
        let read = Baseline.measureReadBandwidth(bytes: quick ? 16 << 20 : 256 << 20, minTime: minTime)
        BenchOutput.emit([("bench", "baseline"), ("sgemm_peak_gflops", .double(peak)), ("read_gb_per_s", .double(read)),
                          ("threads", .int(Threads.count))])
        BenchOutput.note("baseline: sgemm peak \(String(format: "%.1f", peak)) GFLOP/s, read \(String(format: "%.1f", read)) GB/s on \(Threads.count) threads")

        let scratch = Scratch()
        if wanted("convert") { convert(dims, minTime) }
        if wanted("linear") { linear(dims, minTime, peak: peak, readGBs: read, scratch: scratch) }
        if wanted("linear_backward") { linearBackward(dims, minTime, peak: peak, scratch: scratch) }
        if wanted("rmsnorm") { rmsnorm(dims, minTime) }
        if wanted("rotary") { rotary(dims, minTime) }
        if wanted("swiglu") { swiglu(dims, minTime) }
        if wanted("softmax") { softmax(dims, minTime) }
        if wanted("cross_entropy") { crossEntropy(dims, minTime) }
        if wanted("embedding") { embedding(dims, minTime) }
        if wanted("attention") { attention(dims, minTime, scratch: scratch) }
    }

    struct Dims {
        var hidden, mlp, heads, kvHeads, headDim, vocab, context: Int
    }

    /// A `[rows, cols]` random f32 matrix encoded in `dtype` (through QuietStarFormat's codec, as
    /// a checkpoint writer would).
    static func weight(rows: Int, cols: Int, dtype: DType, seed: UInt64) -> (BenchBuffer<UInt8>, WeightMatrix) {
        let values = BenchBuffer<Float>(random: rows * cols, scale: 1 / Float(cols).squareRoot(), seed: seed)
        let bytes = Convert.byteCount(WeightEncoding(rawValue: dtype.name)!, count: cols) * rows
        let raw = BenchBuffer<UInt8>(count: bytes)
        DTypeCodec.encode(UnsafeBufferPointer(start: values.pointer, count: rows * cols), as: dtype,
                          into: UnsafeMutableRawBufferPointer(start: raw.pointer, count: bytes))
        return (raw, WeightMatrix(encoding: WeightEncoding(rawValue: dtype.name)!, rows: rows, cols: cols, base: UnsafeRawPointer(raw.pointer)))
    }

    static let dtypes: [DType] = [.f32, .f16, .bf16, .q8_0]

    func convert(_ d: Dims, _ minTime: Double) {
        // One weight row block at a time, as Linear's decode does (stays in cache).
        let n = d.hidden * 64
        let out = BenchBuffer<Float>(zeros: n)
        for dtype in Self.dtypes {
            let (raw, _) = Self.weight(rows: 64, cols: d.hidden, dtype: dtype, seed: 5)
            let t = Bench.measure(minTime: minTime) {
                Convert.decode(UnsafeRawPointer(raw.pointer), WeightEncoding(rawValue: dtype.name)!, count: n, into: out.pointer)
            }
            BenchOutput.emit([("bench", "convert"), ("dtype", .string(dtype.name)), ("elements", .int(n)),
                              ("g_elements_per_s", .double(Double(n) / t.median / 1e9))] + t.fields)
            withExtendedLifetime(raw) {}
        }
    }

    func linear(_ d: Dims, _ minTime: Double, peak: Double, readGBs: Double, scratch: Scratch) {
        let nIn = d.hidden, nOut = d.hidden
        let ms = options.quick ? [1, 8, 64] : [1, 2, 4, 8, 16, 32, 64, 256]
        let x = BenchBuffer<Float>(random: ms.max()! * nIn, seed: 7)
        let y = BenchBuffer<Float>(zeros: ms.max()! * nOut)
        for dtype in Self.dtypes {
            let (raw, w0) = Self.weight(rows: nOut, cols: nIn, dtype: dtype, seed: 6)
            // A model streams far more weights than any cache holds; one 4096² matrix (18-64 MB)
            // would partly live in a 32 MB L3. Rotate through copies totalling >= 256 MB.
            let copies = options.quick ? 1 : max(1, (256 << 20) / w0.byteCount + 1)
            let storage = BenchBuffer<UInt8>(count: copies * w0.byteCount)
            for c in 0..<copies { (storage.pointer + c * w0.byteCount).update(from: raw.pointer, count: w0.byteCount) }
            let weights = (0..<copies).map {
                WeightMatrix(encoding: WeightEncoding(rawValue: dtype.name)!, rows: nOut, cols: nIn, base: UnsafeRawPointer(storage.pointer + $0 * w0.byteCount))
            }
            var next = 0
            let bytesPerWeight = Double(w0.byteCount) / Double(nIn * nOut)
            // Reading every weight once bounds a matrix-vector product: 2 flops per weight.
            let boundGflops = 2 * readGBs / bytesPerWeight
            var tiles = 0.0, blas = 0.0
            for m in ms {
                let flops = 2 * Double(m) * Double(nIn) * Double(nOut)
                // Alternatives run interleaved so that load changes hit both alike.
                let strategies: [(String, Linear.Strategy)] = [("tiles", .tiles), ("blas", .blas)]
                let timings = Bench.measureInterleaved(minTime: minTime, minRounds: 3, strategies.map { _, strategy in
                    {
                        next = (next + 1) % copies
                        Linear.forward(x: x.pointer, rows: m, weight: weights[next], bias: nil, out: y.pointer,
                                       scratch: scratch, strategy: strategy)
                    }
                })
                for ((label, _), t) in zip(strategies, timings) {
                    // From the median; the best run is reported too (on a shared machine interference
                    // only slows runs down, but a lone fast outlier is not a throughput either).
                    let gflops = flops / t.median / 1e9
                    var fields: [(String, BenchValue)] = [
                        ("bench", "linear"), ("dtype", .string(dtype.name)), ("m", .int(m)), ("in", .int(nIn)),
                        ("out", .int(nOut)), ("strategy", .string(label)), ("gflops", .double(gflops)),
                        ("gflops_best", .double(flops / t.best / 1e9)), ("fraction_of_sgemm_peak", .double(gflops / peak)),
                    ]
                    if m == 1 { fields.append(("fraction_of_bandwidth_bound", .double(gflops / boundGflops))) }
                    BenchOutput.emit(fields + t.fields)
                    if label == "tiles" { tiles = gflops } else { blas = gflops }
                }
                BenchOutput.emit([("bench", "linear_tiles_vs_blas"), ("dtype", .string(dtype.name)), ("m", .int(m)),
                                  ("ratio", .double(tiles / blas))])
            }
            withExtendedLifetime(storage) {}
        }
    }

    /// The two products of a linear layer's backward (`Gemm` against sgemm, interleaved): dx = dy · W
    /// and dW += dyᵀ · x, for the attention-sized and the MLP-sized matrix of the model shape.
    func linearBackward(_ d: Dims, _ minTime: Double, peak: Double, scratch: Scratch) {
        let m = options.quick ? 64 : 512
        for (nOut, nIn) in [(d.hidden, d.hidden), (d.mlp, d.hidden), (d.hidden, d.mlp)] {
            let (raw, w) = Self.weight(rows: nOut, cols: nIn, dtype: .f32, seed: 8)
            let x = BenchBuffer<Float>(random: m * nIn, seed: 9), dy = BenchBuffer<Float>(random: m * nOut, seed: 10)
            let dx = BenchBuffer<Float>(zeros: m * nIn), dW = BenchBuffer<Float>(zeros: nOut * nIn)
            let flops = 2 * Double(m) * Double(nIn) * Double(nOut)
            for product in ["dx", "dweight"] {
                let strategies: [(String, Linear.Strategy)] = [("tiles", .tiles), ("blas", .blas)]
                let timings = Bench.measureInterleaved(minTime: minTime, minRounds: 3, strategies.map { _, strategy in
                    {
                        Linear.backward(dy: dy.pointer, x: x.pointer, rows: m, weight: w, dx: product == "dx" ? dx.pointer : nil,
                                        accumulateDx: false, dWeight: product == "dx" ? nil : dW.pointer, dBias: nil,
                                        scratch: scratch, strategy: strategy)
                    }
                })
                var rates: [Double] = []
                for ((label, _), t) in zip(strategies, timings) {
                    let gflops = flops / t.median / 1e9
                    rates.append(gflops)
                    BenchOutput.emit([("bench", "linear_backward"), ("product", .string(product)), ("m", .int(m)),
                                      ("in", .int(nIn)), ("out", .int(nOut)), ("strategy", .string(label)),
                                      ("gflops", .double(gflops)), ("fraction_of_sgemm_peak", .double(gflops / peak))] + t.fields)
                }
                BenchOutput.emit([("bench", "linear_backward_tiles_vs_blas"), ("product", .string(product)), ("in", .int(nIn)),
                                  ("out", .int(nOut)), ("ratio", .double(rates[0] / rates[1]))])
            }
            withExtendedLifetime((raw, x, dy, dx, dW)) {}
        }
    }

    func rmsnorm(_ d: Dims, _ minTime: Double) {
        let rows = 64, dim = d.hidden
        let x = BenchBuffer<Float>(random: rows * dim), w = BenchBuffer<Float>(random: dim), y = BenchBuffer<Float>(zeros: rows * dim)
        let rstd = BenchBuffer<Float>(zeros: rows), dx = BenchBuffer<Float>(zeros: rows * dim), dw = BenchBuffer<Float>(zeros: dim)
        let f = Bench.measure(minTime: minTime) {
            RMSNorm.forward(x: x.pointer, rows: rows, dim: dim, weight: w.pointer, eps: 1e-5, out: y.pointer, rstd: rstd.pointer)
        }
        emitElementwise("rmsnorm", "forward", rows * dim, bytes: 2 * rows * dim * 4, f)
        let b = Bench.measure(minTime: minTime) {
            RMSNorm.backward(dy: y.pointer, x: x.pointer, rows: rows, dim: dim, weight: w.pointer, rstd: rstd.pointer,
                             dx: dx.pointer, dWeight: dw.pointer)
        }
        emitElementwise("rmsnorm", "backward", rows * dim, bytes: 3 * rows * dim * 4, b)
    }

    func rotary(_ d: Dims, _ minTime: Double) {
        let rows = 64, heads = d.heads + 2 * d.kvHeads  // q and k of a fused QKV row
        let table = RotaryTable(headDim: d.headDim, theta: 10000, maxPosition: d.context)
        let x = BenchBuffer<Float>(random: rows * heads * d.headDim)
        let positions = BenchBuffer<Int32>(count: rows)
        for r in 0..<rows { positions.pointer[r] = Int32((r * 37) % d.context) }
        let t = Bench.measure(minTime: minTime) {
            Rotary.forward(x.pointer, rows: rows, heads: heads, headDim: d.headDim, rowStride: heads * d.headDim,
                           positions: positions.pointer, table: table)
        }
        emitElementwise("rotary", "forward", rows * heads * d.headDim, bytes: 2 * rows * heads * d.headDim * 4, t)
    }

    func swiglu(_ d: Dims, _ minTime: Double) {
        let n = 64 * d.mlp
        let g = BenchBuffer<Float>(random: n, scale: 4), u = BenchBuffer<Float>(random: n), out = BenchBuffer<Float>(zeros: n)
        let dg = BenchBuffer<Float>(zeros: n), du = BenchBuffer<Float>(zeros: n)
        let f = Bench.measure(minTime: minTime) { SwiGLU.forward(gate: g.pointer, up: u.pointer, count: n, out: out.pointer) }
        emitElementwise("swiglu", "forward", n, bytes: 3 * n * 4, f)
        let b = Bench.measure(minTime: minTime) {
            SwiGLU.backward(dOut: out.pointer, gate: g.pointer, up: u.pointer, count: n, dGate: dg.pointer, dUp: du.pointer)
        }
        emitElementwise("swiglu", "backward", n, bytes: 5 * n * 4, b)
    }

    func softmax(_ d: Dims, _ minTime: Double) {
        let rows = 64, cols = d.vocab
        let src = BenchBuffer<Float>(random: rows * cols, scale: 8), x = BenchBuffer<Float>(zeros: rows * cols)
        let t = Bench.measure(minTime: minTime) {
            x.pointer.update(from: src.pointer, count: rows * cols)
            Softmax.forwardRows(x.pointer, rows: rows, cols: cols)
        }
        emitElementwise("softmax", "forward (incl. copy)", rows * cols, bytes: 4 * rows * cols * 4, t)
    }

    func crossEntropy(_ d: Dims, _ minTime: Double) {
        let rows = 64, vocab = d.vocab
        let logits = BenchBuffer<Float>(random: rows * vocab, scale: 8), dl = BenchBuffer<Float>(zeros: rows * vocab)
        let targets = BenchBuffer<Int32>(count: rows), loss = BenchBuffer<Float>(zeros: rows)
        for r in 0..<rows { targets.pointer[r] = Int32((r * 7919) % vocab) }
        let f = Bench.measure(minTime: minTime) {
            CrossEntropy.forward(logits: logits.pointer, rows: rows, vocab: vocab, targets: targets.pointer, lossPerRow: loss.pointer)
        }
        emitElementwise("cross_entropy", "forward", rows * vocab, bytes: rows * vocab * 4, f)
        let b = Bench.measure(minTime: minTime) {
            CrossEntropy.backward(logits: logits.pointer, rows: rows, vocab: vocab, targets: targets.pointer, dLoss: nil,
                                  dLogits: dl.pointer)
        }
        emitElementwise("cross_entropy", "backward", rows * vocab, bytes: 2 * rows * vocab * 4, b)
    }

    func embedding(_ d: Dims, _ minTime: Double) {
        let count = 64
        let ids = BenchBuffer<Int32>(count: count)
        for i in 0..<count { ids.pointer[i] = Int32((i * 7919) % d.vocab) }
        let out = BenchBuffer<Float>(zeros: count * d.hidden)
        for dtype in Self.dtypes {
            let (raw, table) = Self.weight(rows: d.vocab, cols: d.hidden, dtype: dtype, seed: 9)
            let t = Bench.measure(minTime: minTime) {
                Embedding.forward(table: table, ids: ids.pointer, count: count, out: out.pointer)
            }
            emitElementwise("embedding", "forward \(dtype.name)", count * d.hidden, bytes: count * table.rowBytes, t)
            withExtendedLifetime(raw) {}
        }
    }

    /// Decode (one query row per sequence over its own cache) and causal prefill, GQA.
    func attention(_ d: Dims, _ minTime: Double, scratch: Scratch) {
        let kvDim = d.kvHeads * d.headDim, qDim = d.heads * d.headDim
        // Decode: 16 sequences, each with a cache of `context / 2` rows.
        let sequences = 16, cacheLen = d.context / 2
        let k = BenchBuffer<Float>(random: sequences * cacheLen * kvDim), v = BenchBuffer<Float>(random: sequences * cacheLen * kvDim)
        let q = BenchBuffer<Float>(random: max(sequences, 256) * qDim), out = BenchBuffer<Float>(zeros: max(sequences, 256) * qDim)
        // Per query head and key: q·k and p·v, 2·headDim flops each.
        let decodeFlops = Double(sequences * d.heads * cacheLen) * 4 * Double(d.headDim)
        // The same caches packed per row ([positions, kvHeads·headDim]) and head-major
        // ([kvHeads, positions, headDim] per sequence, through `headStride`), timed interleaved.
        let layouts: [(String, (Int) -> (KeySpan, KeySpan?))] = [
            ("decode_packed", { s in
                (KeySpan(keys: k.pointer + s * cacheLen * kvDim, values: v.pointer + s * cacheLen * kvDim,
                         rowStride: kvDim, count: cacheLen), nil)
            }),
            ("decode_head_major", { s in
                (KeySpan(keys: k.pointer + s * cacheLen * kvDim, values: v.pointer + s * cacheLen * kvDim,
                         rowStride: d.headDim, count: cacheLen, headStride: cacheLen * d.headDim), nil)
            }),
        ]
        let timings = Bench.measureInterleaved(minTime: minTime, layouts.map { _, spans in
            {
                Attention.forward(q: q.pointer, rows: sequences, heads: d.heads, kvHeads: d.kvHeads, headDim: d.headDim,
                                  spans: spans, out: out.pointer, scratch: scratch)
            }
        })
        for ((label, _), decode) in zip(layouts, timings) {
            BenchOutput.emit([("bench", "attention"), ("case", .string(label)), ("rows", .int(sequences)),
                              ("keys_per_row", .int(cacheLen)), ("heads", .int(d.heads)), ("kv_heads", .int(d.kvHeads)),
                              ("head_dim", .int(d.headDim)), ("gflops", .double(decodeFlops / decode.median / 1e9)),
                              ("kv_gb_per_s", .double(Double(sequences * cacheLen * kvDim * 8) / decode.median / 1e9))]
                             + decode.fields)
        }
        // Batched decode as the engine runs it: 64 lines, each one query row over its own 128
        // cached rows of a KV cache arena (head-major, 1024 rows per slot), six layers, so the
        // caches together (200 MB in f32) are far larger than the last-level cache; MHA 8 x 64.
        for encoding in CacheEncoding.allCases {
            let lines = 64, cached = 128
            let layers = 6
            let config = ModelConfig(vocabSize: 256, hiddenSize: 512, layerCount: layers, headCount: 8, kvHeadCount: 8, headDim: 64,
                                     intermediateSize: 1024, contextLength: 1024)
            guard let cache = try? KVCache(config: config, slots: lines, rowsPerSlot: 1024, encoding: encoding) else { continue }
            let rowsK = BenchBuffer<Float>(random: cached * config.kvDim, seed: 3), rowsV = BenchBuffer<Float>(random: cached * config.kvDim, seed: 4)
            for slot in 0..<lines {
                let rows = (0..<cached).map { cache.textRow(slot: slot, position: $0) }
                for l in 0..<layers { cache.store(layer: l, rows: rows, count: cached, keys: rowsK.pointer, values: rowsV.pointer) }
            }
            let dq = BenchBuffer<Float>(random: lines * config.queryDim, seed: 5), dOut = BenchBuffer<Float>(zeros: lines * config.queryDim)
            let t = Bench.measure(minTime: minTime) {
                for l in 0..<layers {
                    Attention.forward(q: dq.pointer, rows: lines, heads: 8, kvHeads: 8, headDim: 64,
                                      spans: { r in (cache.span(layer: l, KeyRange(start: cache.textRow(slot: r, position: 0), count: cached)), nil) },
                                      out: dOut.pointer, scratch: scratch)
                }
            }
            let flops = Double(layers * lines * 8 * cached) * 4 * 64
            BenchOutput.emit([("bench", "attention"), ("case", .string("decode_batch64_kv_\(encoding.rawValue)")), ("rows", .int(lines)),
                              ("keys_per_row", .int(cached)), ("heads", 8), ("kv_heads", 8), ("head_dim", 64),
                              ("gflops", .double(flops / t.median / 1e9)),
                              ("layers", .int(layers)),
                              ("kv_gb_per_s", .double(Double(layers * lines * cached * config.kvDim * 2 * encoding.byteWidth) / t.median / 1e9))]
                             + t.fields)
        }
        // Prefill: 256 rows attending causally to themselves.
        let rows = 256
        let prefill = Bench.measure(minTime: minTime) {
            Attention.forward(q: q.pointer, rows: rows, heads: d.heads, kvHeads: d.kvHeads, headDim: d.headDim,
                              spans: { r in (KeySpan(keys: k.pointer, values: v.pointer, rowStride: kvDim, count: r + 1), nil) },
                              out: out.pointer, scratch: scratch)
        }
        let prefillFlops = Double(rows * (rows + 1) / 2 * d.heads) * 4 * Double(d.headDim)
        BenchOutput.emit([("bench", "attention"), ("case", "prefill_causal"), ("rows", .int(rows)), ("heads", .int(d.heads)),
                          ("kv_heads", .int(d.kvHeads)), ("head_dim", .int(d.headDim)),
                          ("gflops", .double(prefillFlops / prefill.median / 1e9))] + prefill.fields)
    }

    private func emitElementwise(_ kernel: String, _ pass: String, _ elements: Int, bytes: Int, _ t: Timing) {
        BenchOutput.emit([("bench", .string(kernel)), ("pass", .string(pass)), ("elements", .int(elements)),
                          ("g_elements_per_s", .double(Double(elements) / t.median / 1e9)),
                          ("gb_per_s", .double(Double(bytes) / t.median / 1e9))] + t.fields)
    }
}
