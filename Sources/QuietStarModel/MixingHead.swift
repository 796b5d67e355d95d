import Foundation
import QuietStarCheckpoint
import QuietStarKernels

/// The Quiet-STaR mixing head ("talk head"): how much of the post-thought hidden state to use.
///
/// `w = out(W2 · relu(W1 · relu(W0 · [h_base; h_thought] + b0) + b1))`, one scalar per row, where
/// both inputs are final-norm hidden states, base first, and `out` is the identity (the reference
/// code: no sigmoid, no clamp) or a sigmoid when the checkpoint says so. Mixing itself happens on
/// hidden states: `h_mix = (1 - w) h_base + w h_thought`, then the ordinary LM head.
///
/// A plain struct of views, like `LayerWeights`: loaded from a checkpoint the matrices point into
/// the mapped file in whatever dtype it stores; a trainer builds one over its own f32 buffers.
public struct MixingHead: @unchecked Sendable {
    /// How the head's scalar becomes `w` (`quietstar.mixing_head.output`).
    public typealias Output = MixingHeadOutput

    public let hiddenSize: Int
    /// `[hidden, 2 x hidden]` and `[hidden]`.
    public var w0: WeightMatrix
    public var b0: UnsafePointer<Float>
    /// `[hidden, hidden]` and `[hidden]`.
    public var w1: WeightMatrix
    public var b1: UnsafePointer<Float>
    /// `[1, hidden]` (no bias).
    public var w2: WeightMatrix
    public var output: Output

    public init(hiddenSize: Int, w0: WeightMatrix, b0: UnsafePointer<Float>, w1: WeightMatrix, b1: UnsafePointer<Float>,
                w2: WeightMatrix, output: Output) {
        precondition(w0.rows == hiddenSize && w0.cols == 2 * hiddenSize, "MixingHead: w0 must be [hidden, 2 x hidden]")
        precondition(w1.rows == hiddenSize && w1.cols == hiddenSize, "MixingHead: w1 must be [hidden, hidden]")
        precondition(w2.rows == 1 && w2.cols == hiddenSize, "MixingHead: w2 must be [1, hidden]")
        self.hiddenSize = hiddenSize
        self.w0 = w0
        self.b0 = b0
        self.w1 = w1
        self.b1 = b1
        self.w2 = w2
        self.output = output
    }

    /// `w[r]` for `rows` rows of `base` and `thought` (each `rows x hidden`, contiguous). The
    /// intermediates stay in `workspace` for `backward`.
    public func forward(base: UnsafePointer<Float>, thought: UnsafePointer<Float>, rows: Int,
                        workspace ws: MixingHeadWorkspace, weights w: UnsafeMutablePointer<Float>) {
        guard rows > 0 else { return }
        let h = hiddenSize
        ws.reserve(rows: rows, hidden: h)
        // The concatenation [h_base; h_thought] per row: W0's input columns are in that order.
        for r in 0..<rows {
            (ws.input + r * 2 * h).update(from: base + r * h, count: h)
            (ws.input + r * 2 * h + h).update(from: thought + r * h, count: h)
        }
        Linear.forward(x: ws.input, rows: rows, weight: w0, bias: b0, out: ws.first, scratch: ws.scratch)
        Elementwise.relu(ws.first, count: rows * h)
        Linear.forward(x: ws.first, rows: rows, weight: w1, bias: b1, out: ws.second, scratch: ws.scratch)
        Elementwise.relu(ws.second, count: rows * h)
        Linear.forward(x: ws.second, rows: rows, weight: w2, bias: nil, out: ws.result, scratch: ws.scratch)
        for r in 0..<rows {
            let z = ws.result[r]
            w[r] = output == .sigmoid ? 1 / (1 + Foundation.exp(-z)) : z
            ws.result[r] = w[r]
        }
    }

    /// Backward of `forward` (the last call with the same `workspace`), given `dw[r] = dL/dw[r]`:
    /// adds `dL/dh_base` and `dL/dh_thought` into `dBase` / `dThought` (`rows x hidden`) when
    /// given, and adds the parameter gradients into `gradients` when given (needs f32 weights).
    public func backward(dw: UnsafePointer<Float>, rows: Int, workspace ws: MixingHeadWorkspace,
                         dBase: UnsafeMutablePointer<Float>?, dThought: UnsafeMutablePointer<Float>?,
                         gradients: MixingHeadGradients?) {
        guard rows > 0 else { return }
        let h = hiddenSize
        precondition(ws.rows >= rows, "MixingHead.backward: the workspace holds no forward pass of \(rows) rows")
        let dz = ws.gradient(0), d2 = ws.gradient(1), d1 = ws.gradient(2), dInput = ws.gradient(3)
        for r in 0..<rows {
            let y = ws.result[r]
            dz[r] = output == .sigmoid ? dw[r] * y * (1 - y) : dw[r]
        }
        Linear.backward(dy: dz, x: ws.second, rows: rows, weight: w2, dx: d2, accumulateDx: false,
                        dWeight: gradients?.w2, dBias: nil, scratch: ws.scratch)
        Elementwise.reluBackward(d2, post: ws.second, count: rows * h)
        Linear.backward(dy: d2, x: ws.first, rows: rows, weight: w1, dx: d1, accumulateDx: false,
                        dWeight: gradients?.w1, dBias: gradients?.b1, scratch: ws.scratch)
        Elementwise.reluBackward(d1, post: ws.first, count: rows * h)
        Linear.backward(dy: d1, x: ws.input, rows: rows, weight: w0, dx: dInput, accumulateDx: false,
                        dWeight: gradients?.w0, dBias: gradients?.b0, scratch: ws.scratch)
        for r in 0..<rows {
            if let dBase { for i in 0..<h { dBase[r * h + i] += dInput[r * 2 * h + i] } }
            if let dThought { for i in 0..<h { dThought[r * h + i] += dInput[r * 2 * h + h + i] } }
        }
    }
}

/// Gradient buffers of the mixing head's parameters (f32, the parameters' shapes); `backward`
/// adds into them.
public struct MixingHeadGradients: @unchecked Sendable {
    public var w0: UnsafeMutablePointer<Float>
    public var b0: UnsafeMutablePointer<Float>
    public var w1: UnsafeMutablePointer<Float>
    public var b1: UnsafeMutablePointer<Float>
    public var w2: UnsafeMutablePointer<Float>

    public init(w0: UnsafeMutablePointer<Float>, b0: UnsafeMutablePointer<Float>, w1: UnsafeMutablePointer<Float>,
                b1: UnsafeMutablePointer<Float>, w2: UnsafeMutablePointer<Float>) {
        self.w0 = w0
        self.b0 = b0
        self.w1 = w1
        self.b1 = b1
        self.w2 = w2
    }
}

/// The mixing head's intermediates (concatenated input, both ReLU outputs, w) and backward
/// buffers, grown to the largest batch seen.
public final class MixingHeadWorkspace: @unchecked Sendable {
    public private(set) var rows = 0
    private var capacity = 0
    private var hidden = 0
    private var storage: UnsafeMutablePointer<Float>?
    let scratch = Scratch()

    public init() {}
    deinit { storage?.deallocate() }

    /// Per row: input 2H, first H, second H, result 1; gradients 1, H, H, 2H.
    private static func floatsPerRow(_ h: Int) -> Int { 8 * h + 2 }

    func reserve(rows: Int, hidden h: Int) {
        if rows > capacity || h != hidden {
            storage?.deallocate()
            capacity = max(rows, capacity + capacity / 2)
            hidden = h
            let n = capacity * Self.floatsPerRow(h)
            storage = .allocate(capacity: n)
            storage!.initialize(repeating: 0, count: n)
        }
        self.rows = rows
    }

    var input: UnsafeMutablePointer<Float> { storage! }
    var first: UnsafeMutablePointer<Float> { storage! + capacity * 2 * hidden }
    var second: UnsafeMutablePointer<Float> { storage! + capacity * 3 * hidden }
    /// The head's output `w` per row (after the sigmoid when there is one).
    var result: UnsafeMutablePointer<Float> { storage! + capacity * 4 * hidden }

    /// Backward buffers: 0 = dz (rows), 1 = d second (rows x H), 2 = d first (rows x H),
    /// 3 = d input (rows x 2H).
    func gradient(_ index: Int) -> UnsafeMutablePointer<Float> {
        let base = storage! + capacity * (4 * hidden + 1)
        switch index {
        case 0: return base
        case 1: return base + capacity
        case 2: return base + capacity * (1 + hidden)
        default: return base + capacity * (1 + 2 * hidden)
        }
    }
}
