import Foundation

/// How one tensor is optimised: its learning-rate multiplier and whether weight decay applies.
/// The Quiet-STaR trainer gives the thought embeddings and the mixing head their own multipliers;
/// by default every matrix decays and no norm gain or bias does.
public struct ParameterGroup: Sendable, Equatable {
    public var learningRateScale: Float = 1
    public var decays: Bool
    public init(learningRateScale: Float = 1, decays: Bool) {
        self.learningRateScale = learningRateScale
        self.decays = decays
    }
}

/// The optimisers. Both update a flat parameter buffer tensor by tensor, in place, with the exact
/// float32 operation order of PyTorch 2.x (`torch.optim.AdamW(foreach=False)` and `torch.optim.SGD`),
/// so a step given the same gradients gives the same bytes as torch (checked against
/// `fixtures/training/optim.json`).
public enum Optimizer: Sendable, Equatable {
    case adamW(AdamW)
    case sgd

    public var name: String {
        switch self {
        case .adamW: "adamw"
        case .sgd: "sgd"
        }
    }

    /// Applies one step to `tensors` of `parameters` with `gradients`; `step` counts from 1.
    public func update(parameters: FloatBuffer, gradients: FloatBuffer, moments: AdamWMoments?,
                       tensors: [ParameterLayout.Tensor], groups: [ParameterGroup], learningRate: Double, step: Int) {
        precondition(tensors.count == groups.count, "Optimizer: one group per tensor")
        switch self {
        case .adamW(let adam):
            guard let moments else { preconditionFailure("Optimizer: AdamW needs its moments") }
            for (t, group) in zip(tensors, groups) {
                adam.update(parameters.base + t.offset, gradients.base + t.offset, moments.first.base + t.offset,
                            moments.second.base + t.offset, count: t.count,
                            learningRate: learningRate * Double(group.learningRateScale),
                            weightDecay: group.decays ? adam.weightDecay : 0, step: step)
            }
        case .sgd:
            for (t, group) in zip(tensors, groups) {
                let lr = Float(learningRate * Double(group.learningRateScale))
                let p = parameters.base + t.offset, g = gradients.base + t.offset
                // p.add_(g, alpha=-lr) is one fused multiply-add in torch's CPU kernel.
                for i in 0..<t.count { p[i] = p[i].addingProduct(-lr, g[i]) }
            }
        }
    }
}

/// AdamW's first and second moments, one buffer each in the parameter layout.
public final class AdamWMoments: @unchecked Sendable {
    public let first: FloatBuffer
    public let second: FloatBuffer
    public init(count: Int) {
        first = FloatBuffer(count: count)
        second = FloatBuffer(count: count)
    }
}

/// AdamW with decoupled weight decay (Loshchilov & Hutter), as torch implements it.
public struct AdamW: Sendable, Equatable {
    public var beta1 = 0.9
    public var beta2 = 0.95
    public var eps = 1e-8
    public var weightDecay = 0.1

    public init(beta1: Double = 0.9, beta2: Double = 0.95, eps: Double = 1e-8, weightDecay: Double = 0.1) {
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.weightDecay = weightDecay
    }

    /// torch's `_single_tensor_adam` (decoupled decay), every operation rounded to float32 where
    /// torch rounds, the scalars computed in double as Python does:
    /// `p *= f(1 - lr·wd)`; `m = fma(f(1 - β1), g - m, m)`; `v = fma(f(f(1 - β2)·g), g, v·f(β2))`;
    /// `p += f(f(-lr/bc1)·m) / (sqrt(v) / f(sqrt(bc2)) + f(eps))`.
    func update(_ p: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>, _ m: UnsafeMutablePointer<Float>,
                _ v: UnsafeMutablePointer<Float>, count: Int, learningRate lr: Double, weightDecay wd: Double, step: Int) {
        let t = Double(step)
        let decay = Float(1 - lr * wd)
        let oneMinusBeta1 = Float(1 - beta1), beta2f = Float(beta2), oneMinusBeta2 = Float(1 - beta2)
        let bc1 = 1 - Foundation.pow(beta1, t), bc2 = 1 - Foundation.pow(beta2, t)
        let negStepSize = Float(-(lr / bc1))
        let bc2Sqrt = Float(bc2.squareRoot())
        let epsf = Float(eps)
        for i in 0..<count {
            if wd != 0 { p[i] *= decay }
            let gi = g[i]
            m[i] = m[i].addingProduct(oneMinusBeta1, gi - m[i])
            v[i] = (v[i] * beta2f).addingProduct(oneMinusBeta2 * gi, gi)
            let denom = v[i].squareRoot() / bc2Sqrt + epsf
            p[i] += (negStepSize * m[i]) / denom
        }
    }
}

/// Gradient clipping by global norm, as `torch.nn.utils.clip_grad_norm_`: the norm of the
/// per-tensor norms; when above `maxNorm`, every gradient is scaled by `maxNorm / (norm + 1e-6)`.
/// Returns the norm before clipping. Norms are summed in double (one order, for any thread count).
@discardableResult
public func clipGradients(_ gradients: FloatBuffer, tensors: [ParameterLayout.Tensor], maxNorm: Double?) -> Double {
    var total = 0.0
    for t in tensors {
        let g = gradients.base + t.offset
        var s = 0.0
        for i in 0..<t.count { s += Double(g[i]) * Double(g[i]) }
        let norm = Double(Float(s.squareRoot()))
        total += norm * norm
    }
    let norm = Double(Float(total.squareRoot()))
    if let maxNorm, maxNorm > 0 {
        // torch: f(max_norm · f(1 / f(norm + 1e-6))), clamped to 1.
        let coefficient = min(1, Float(maxNorm) * (1 / Float(norm + 1e-6)))
        if coefficient < 1 {
            for t in tensors {
                let g = gradients.base + t.offset
                for i in 0..<t.count { g[i] *= coefficient }
            }
        }
    }
    return norm
}

/// Linear warm-up then cosine decay to `minimumRatio x peak` at `totalSteps` (the learning rate
/// of step `step`, counting from 0). With no warm-up and `totalSteps` 0 the rate is constant.
public struct LearningRateSchedule: Sendable, Equatable {
    public var peak: Double
    public var warmupSteps: Int
    public var totalSteps: Int
    public var minimumRatio: Double
    public var cosine: Bool

    public init(peak: Double, warmupSteps: Int = 0, totalSteps: Int = 0, minimumRatio: Double = 0.1, cosine: Bool = true) {
        self.peak = peak
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
        self.minimumRatio = minimumRatio
        self.cosine = cosine
    }

    public func rate(at step: Int) -> Double {
        if step < warmupSteps { return peak * Double(step + 1) / Double(warmupSteps) }
        guard cosine, totalSteps > warmupSteps else { return peak }
        let progress = min(1, Double(step - warmupSteps) / Double(totalSteps - warmupSteps))
        let floor = peak * minimumRatio
        return floor + (peak - floor) * 0.5 * (1 + Foundation.cos(Double.pi * progress))
    }
}
