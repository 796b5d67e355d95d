import Foundation
import QuietStarKernels

/// How the next token is chosen from a row of logits.
public struct SamplingOptions: Sendable, Equatable {
    /// 0 picks the most likely token (greedy, no random draw); otherwise logits are divided by it.
    public var temperature: Double
    /// Keep only the `topK` most likely tokens (0: no limit).
    public var topK: Int
    /// Keep the smallest set of most likely tokens whose probability reaches `topP` (1: no limit).
    public var topP: Double
    /// Tokens that are never chosen (their logits count as -inf), e.g. Quiet-STaR's thought markers.
    public var suppressedTokens: [Int32]

    public init(temperature: Double = 0, topK: Int = 0, topP: Double = 1, suppressedTokens: [Int32] = []) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.suppressedTokens = suppressedTokens
    }

    public var isGreedy: Bool { temperature == 0 }

    /// Checks the ranges; the message names the option as the command line spells it.
    public func validate() throws(ModelError) {
        guard temperature.isFinite, temperature >= 0 else {
            throw .invalidOption("temperature", "must be 0 (greedy) or positive, got \(temperature)", in: "SamplingOptions")
        }
        guard topK >= 0 else { throw .invalidOption("topK", "must be 0 (off) or positive, got \(topK)", in: "SamplingOptions") }
        guard topP > 0, topP <= 1 else { throw .invalidOption("topP", "must be in (0, 1], got \(topP)", in: "SamplingOptions") }
    }
}

/// Picks tokens from logits. Deterministic: the choice depends only on the logits row, the
/// options and the line's generator, never on which other rows were in the batch.
///
/// Ties are broken toward the lower token id everywhere (greedy argmax and the candidate order of
/// top-k / top-p), so two runs that compute the same logits always make the same choice.
public struct Sampler: Sendable {
    public let options: SamplingOptions
    public let vocabSize: Int

    public init(options: SamplingOptions, vocabSize: Int) {
        self.options = options
        self.vocabSize = vocabSize
    }

    /// Floats and indices `sample` needs per concurrent call.
    public var workspaceFloats: Int { vocabSize }

    /// Chooses a token from `logits` (`vocabSize` floats, left unchanged). `probs` and `order`
    /// are `vocabSize`-long work buffers owned by the caller (one pair per concurrent call).
    public func sample(logits: UnsafePointer<Float>, random: inout LineRandom,
                       probs: UnsafeMutablePointer<Float>, order: UnsafeMutablePointer<Int32>) -> Int32 {
        let n = vocabSize
        if options.isGreedy { return argmax(logits) }

        // Tempered softmax over the allowed tokens (suppressed ones get probability 0).
        let invT = Float(1 / options.temperature)
        var maxLogit = -Float.infinity
        for i in 0..<n where logits[i] > maxLogit && !isSuppressed(Int32(i)) { maxLogit = logits[i] }
        guard maxLogit > -Float.infinity else { return argmax(logits) }
        for i in 0..<n { probs[i] = (logits[i] - maxLogit) * invT }
        for t in options.suppressedTokens where t >= 0 && Int(t) < n { probs[Int(t)] = -Float.infinity }
        Softmax.forwardRows(probs, rows: 1, cols: n)

        let k = options.topK > 0 ? min(options.topK, n) : n
        let cut = options.topP < 1
        if k == n && !cut {
            // Plain temperature sampling: walk the distribution in id order.
            let u = Float(random.nextUnit())
            var acc: Float = 0
            var last: Int32 = 0
            for i in 0..<n where probs[i] > 0 {
                acc += probs[i]
                last = Int32(i)
                if u < acc { return Int32(i) }
            }
            return last   // rounding left `acc` a hair below 1
        }

        // Candidates in decreasing probability (ties: lower id first).
        var count: Int
        if k < n {
            count = selectTop(k, probs: probs, order: order)
        } else {
            // Only top-p: the nucleus lies among the tokens at least as likely as the cut-off that
            // already gathers `topP` mass; try 1/n first (almost always enough), else sort all.
            count = 0
            var mass: Float = 0
            let floor = 1 / Float(n)
            for i in 0..<n where probs[i] >= floor {
                order[count] = Int32(i)
                mass += probs[i]
                count += 1
            }
            if Double(mass) < options.topP {
                count = 0
                for i in 0..<n where probs[i] > 0 {
                    order[count] = Int32(i)
                    count += 1
                }
            }
            sortByProbability(order, count, probs)
        }
        if cut {
            var mass: Double = 0
            var kept = 0
            while kept < count {
                mass += Double(probs[Int(order[kept])])
                kept += 1
                if mass >= options.topP { break }
            }
            count = max(kept, 1)
        }
        var total: Double = 0
        for j in 0..<count { total += Double(probs[Int(order[j])]) }
        let u = random.nextUnit() * total
        var acc: Double = 0
        for j in 0..<count {
            acc += Double(probs[Int(order[j])])
            if u < acc { return order[j] }
        }
        return order[count - 1]
    }

    /// The most likely allowed token (lowest id among equals).
    public func argmax(_ logits: UnsafePointer<Float>) -> Int32 {
        var best = -1
        var bestValue = -Float.infinity
        for i in 0..<vocabSize where logits[i] > bestValue && !isSuppressed(Int32(i)) {
            best = i
            bestValue = logits[i]
        }
        if best >= 0 { return Int32(best) }
        // Every allowed logit is -inf or NaN: a degenerate row; the first allowed id is as good
        // as any and keeps the choice deterministic.
        for i in 0..<vocabSize where !isSuppressed(Int32(i)) { return Int32(i) }
        return 0
    }

    @inline(__always)
    private func isSuppressed(_ id: Int32) -> Bool {
        !options.suppressedTokens.isEmpty && options.suppressedTokens.contains(id)
    }

    /// Puts the `k` most likely tokens into `order[0..<k]`, most likely first; returns how many
    /// have non-zero probability (at most `k`). A size-k min-heap: O(n log k).
    private func selectTop(_ k: Int, probs: UnsafePointer<Float>, order orderPointer: UnsafeMutablePointer<Int32>) -> Int {
        let order = UnsafeMutableBufferPointer(start: orderPointer, count: k)
        // Heap order: "a is worse than b" = lower probability, or equal and higher id.
        @inline(__always) func worse(_ a: Int32, _ b: Int32) -> Bool {
            let pa = probs[Int(a)], pb = probs[Int(b)]
            return pa < pb || (pa == pb && a > b)
        }
        func siftDown(_ start: Int, _ size: Int) {
            var i = start
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < size && worse(order[l], order[m]) { m = l }
                if r < size && worse(order[r], order[m]) { m = r }
                if m == i { return }
                order.swapAt(i, m)
                i = m
            }
        }
        var size = 0
        for i in 0..<vocabSize where probs[i] > 0 {
            let id = Int32(i)
            if size < k {
                order[size] = id
                size += 1
                var c = size - 1
                while c > 0 {
                    let p = (c - 1) / 2
                    if worse(order[c], order[p]) { order.swapAt(c, p); c = p } else { break }
                }
            } else if worse(order[0], id) {
                order[0] = id
                siftDown(0, size)
            }
        }
        sortByProbability(orderPointer, size, probs)
        return size
    }

    private func sortByProbability(_ order: UnsafeMutablePointer<Int32>, _ count: Int, _ probs: UnsafePointer<Float>) {
        var buffer = UnsafeMutableBufferPointer(start: order, count: count)
        buffer.sort { a, b in
            let pa = probs[Int(a)], pb = probs[Int(b)]
            return pa > pb || (pa == pb && a < b)
        }
    }
}
