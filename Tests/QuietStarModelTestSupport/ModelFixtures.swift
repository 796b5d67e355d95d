import Foundation
import QuietStarCheckpoint
import QuietStarFormat
import QuietStarModel
import QuietStarTestSupport

/// Small configurations that exercise every feature of the step.
public enum TestConfigs {
    /// GQA (4 heads over 2 KV heads), biases, untied head.
    public static let gqa = ModelConfig(vocabSize: 96, hiddenSize: 32, layerCount: 2, headCount: 4, kvHeadCount: 2,
                                 headDim: 8, intermediateSize: 64, contextLength: 64, rmsNormEps: 1e-5,
                                 ropeTheta: 10_000, attentionBias: true)
    /// MHA, tied head, sliding window of 5, linear RoPE scaling.
    public static let windowed = ModelConfig(vocabSize: 80, hiddenSize: 32, layerCount: 2, headCount: 2, kvHeadCount: 2,
                                      headDim: 16, intermediateSize: 48, contextLength: 64, rmsNormEps: 1e-6,
                                      ropeTheta: 10_000, ropeScaling: .linear(factor: 2), tieEmbeddings: true,
                                      slidingWindow: 5)
    /// Hidden and intermediate sizes that are multiples of 32, so every dtype (q8_0) applies.
    public static let quantisable = ModelConfig(vocabSize: 64, hiddenSize: 64, layerCount: 2, headCount: 4, kvHeadCount: 1,
                                         headDim: 16, intermediateSize: 96, contextLength: 64, rmsNormEps: 1e-5,
                                         ropeTheta: 10_000)
}

/// Loads a random model written to a temporary file.
public func randomWeights(_ config: ModelConfig, dtype: DType = .f32, seed: UInt64 = 1,
                   in dir: TemporaryDirectory) throws -> (QStarFile, ModelWeights) {
    let path = dir.file("m-\(seed)-\(dtype.name).qstar")
    try RandomModel.write(to: path, config: config, dtype: dtype, seed: seed)
    let file = try QStarFile.open(path: path)
    return (file, try ModelWeights(file: file, config: config))
}

/// A plain float64 forward pass written from the model's definition, one sequence at a time, with
/// no cache and no batching: the independent check of `Transformer.step`. Returns the logits of
/// every position, `[T][vocab]`.
public func referenceLogits(file: QStarFile, config c: ModelConfig, tokens: [Int32]) throws -> [[Double]] {
    func tensor(_ name: String) throws -> [Double] { try file.tensor(name).toFloat32().map(Double.init) }
    func linear(_ x: [Double], _ w: [Double], _ out: Int, _ bias: [Double]? = nil) -> [Double] {
        let n = x.count
        return (0..<out).map { o in
            var s = bias?[o] ?? 0
            for i in 0..<n { s += w[o * n + i] * x[i] }
            return s
        }
    }
    func rmsnorm(_ x: [Double], _ g: [Double]) -> [Double] {
        let ms = x.reduce(0) { $0 + $1 * $1 } / Double(x.count)
        let r = 1 / (ms + c.rmsNormEps).squareRoot()
        return zip(x, g).map { $0 * r * $1 }
    }
    func rope(_ v: inout [Double], heads: Int, position: Int) {
        let d = c.headDim, half = d / 2
        var factor = 1.0
        if case .linear(let f) = c.ropeScaling { factor = f }
        for h in 0..<heads {
            for i in 0..<half {
                let inv = 1 / pow(c.ropeTheta, Double(2 * i) / Double(d)) / factor
                let angle = Double(position) * inv
                let a = v[h * d + i], b = v[h * d + half + i]
                v[h * d + i] = a * cos(angle) - b * sin(angle)
                v[h * d + half + i] = b * cos(angle) + a * sin(angle)
            }
        }
    }
    let embedding = try tensor("token_embedding.weight")
    let output = c.tieEmbeddings ? embedding : try tensor("output.weight")
    let H = c.hiddenSize
    var xs = tokens.map { Array(embedding[Int($0) * H..<(Int($0) + 1) * H]) }
    let T = tokens.count
    for l in 0..<c.layerCount {
        let p = "layers.\(l)."
        let wq = try tensor(p + "attn.q.weight"), wk = try tensor(p + "attn.k.weight"), wv = try tensor(p + "attn.v.weight")
        let wo = try tensor(p + "attn.o.weight")
        let bq = c.attentionBias ? try tensor(p + "attn.q.bias") : nil
        let bk = c.attentionBias ? try tensor(p + "attn.k.bias") : nil
        let bv = c.attentionBias ? try tensor(p + "attn.v.bias") : nil
        let g1 = try tensor(p + "attn_norm.weight"), g2 = try tensor(p + "ffn_norm.weight")
        let wg = try tensor(p + "ffn.gate.weight"), wu = try tensor(p + "ffn.up.weight"), wd = try tensor(p + "ffn.down.weight")
        var qs: [[Double]] = [], ks: [[Double]] = [], vs: [[Double]] = []
        for t in 0..<T {
            let n = rmsnorm(xs[t], g1)
            var q = linear(n, wq, c.queryDim, bq), k = linear(n, wk, c.kvDim, bk)
            rope(&q, heads: c.headCount, position: t)
            rope(&k, heads: c.kvHeadCount, position: t)
            qs.append(q); ks.append(k); vs.append(linear(n, wv, c.kvDim, bv))
        }
        for t in 0..<T {
            var attn = [Double](repeating: 0, count: c.queryDim)
            let first = c.slidingWindow.map { max(0, t - $0 + 1) } ?? 0
            for h in 0..<c.headCount {
                let kvh = h / (c.headCount / c.kvHeadCount), d = c.headDim
                var scores: [Double] = []
                for j in first...t {
                    var s = 0.0
                    for i in 0..<d { s += qs[t][h * d + i] * ks[j][kvh * d + i] }
                    scores.append(s / Double(d).squareRoot())
                }
                let m = scores.max()!
                let e = scores.map { exp($0 - m) }
                let z = e.reduce(0, +)
                for (jj, j) in (first...t).enumerated() {
                    for i in 0..<d { attn[h * d + i] += e[jj] / z * vs[j][kvh * d + i] }
                }
            }
            let o = linear(attn, wo, H)
            let mid = zip(xs[t], o).map(+)
            let n2 = rmsnorm(mid, g2)
            let gate = linear(n2, wg, c.intermediateSize), up = linear(n2, wu, c.intermediateSize)
            let act = zip(gate, up).map { g, u in g / (1 + exp(-g)) * u }
            xs[t] = zip(mid, linear(act, wd, H)).map(+)
        }
    }
    let gf = try tensor("output_norm.weight")
    return xs.map { linear(rmsnorm($0, gf), output, c.vocabSize) }
}

/// Deterministic token sequences for tests.
public func testTokens(_ count: Int, vocab: Int, seed: UInt64) -> [Int32] {
    var r = LineRandom(seed: seed, line: 7)
    return (0..<count).map { _ in Int32(r.next() % UInt64(vocab)) }
}

/// Runs whole sequences through `transformer` as prefill steps, `slotsPerStep` sequences per step
/// (each sequence in its own slot), returning every position's logits per sequence.
public func prefillLogits(_ transformer: Transformer, _ sequences: [[Int32]], chunk: Int = .max) throws -> [[[Float]]] {
    let c = transformer.config
    let cache = try KVCache(config: c, slots: sequences.count, rowsPerSlot: c.contextLength)
    var result = sequences.map { _ in [[Float]]() }
    var fed = sequences.map { _ in 0 }
    var batch = StepBatch()
    while zip(fed, sequences).contains(where: { $0 < $1.count }) {
        batch.removeAll()
        var owners: [(Int, Int)] = []
        for (s, seq) in sequences.enumerated() where fed[s] < seq.count {
            let n = min(chunk, seq.count - fed[s])
            for p in fed[s]..<(fed[s] + n) {
                batch.append(token: seq[p], position: p, cacheRow: cache.textRow(slot: s, position: p),
                             visible: cache.visibleRows(slot: s, position: p, window: c.slidingWindow), logits: true)
                owners.append((s, p))
            }
            fed[s] += n
        }
        let out = transformer.step(batch, cache: cache)
        for (i, (s, _)) in owners.enumerated() {
            result[s].append(Array(UnsafeBufferPointer(start: out.logits(i), count: c.vocabSize)))
        }
    }
    return result
}

public func maxAbsDifference(_ a: [Float], _ b: [Double]) -> Double {
    zip(a, b).map { abs(Double($0) - $1) }.max() ?? 0
}

public func maxAbsDifference(_ a: [Float], _ b: [Float]) -> Float {
    zip(a, b).map { abs($0 - $1) }.max() ?? 0
}
