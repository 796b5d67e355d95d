import Foundation
import QuietStarTestSupport
import QuietStarTraining
import Testing

/// `fixtures/training/optim.json`: torch's AdamW (two groups, three steps, clipping before step
/// 2) and SGD in float32. Our AdamW follows torch's operation order, so parameters and moments
/// must be the same bytes; clipping sums in another order, so the norm and the clipped gradients
/// agree to float32 rounding.
@Suite struct OptimizerTests {
    struct Reference: Decodable {
        struct Tensor: Decodable { var name: String; var shape: [Int] }
        struct Step: Decodable {
            var grads: [String: [Float]]
            var params_after: [String: [Float]]
        }
        struct Group: Decodable { var params: [String]; var weight_decay: Double }
        struct Settings: Decodable { var lr: Double; var betas: [Double]; var eps: Double }
        struct State: Decodable { var exp_avg: [Float]; var exp_avg_sq: [Float] }
        struct AdamWCase: Decodable {
            var settings: Settings
            var param_groups: [Group]
            var steps: [Step]
            var state_after_last_step: [String: State]
        }
        struct Clip: Decodable {
            var before_step: Int
            var max_norm: Double?
            var total_norm: Double?
            var clip_coef: Double
            var clipped_grads: [String: [Float]]
        }
        struct SGDSettings: Decodable { var lr: Double }
        struct SGDCase: Decodable { var settings: SGDSettings; var params_after: [String: [Float]] }
        var tensors: [Tensor]
        var initial_params: [String: [Float]]
        var adamw: AdamWCase
        var clip_grad_norm: Clip
        var sgd: SGDCase
    }

    static func load() throws -> Reference {
        try Repository.fixtureJSON(Reference.self, "training/optim.json")
    }

    /// The fixture's tensors as a layout, and a buffer filled from per-name arrays.
    static func layout(_ ref: Reference) -> ParameterLayout {
        ParameterLayout(ref.tensors.map { .init(name: $0.name, shape: $0.shape) })
    }
    static func fill(_ buffer: FloatBuffer, _ layout: ParameterLayout, _ values: [String: [Float]]) {
        for t in layout.tensors { _ = buffer.values(t).update(fromContentsOf: values[t.name]!) }
    }
    static func bits(_ buffer: FloatBuffer, _ t: ParameterLayout.Tensor) -> [UInt32] { buffer.values(t).map(\.bitPattern) }

    @Test func adamWMatchesTorchBitForBit() throws {
        let ref = try Self.load()
        let layout = Self.layout(ref)
        let params = FloatBuffer(count: layout.count), grads = FloatBuffer(count: layout.count)
        let moments = AdamWMoments(count: layout.count)
        Self.fill(params, layout, ref.initial_params)
        let a = ref.adamw.settings
        let decay = Dictionary(uniqueKeysWithValues: ref.adamw.param_groups.flatMap { g in g.params.map { ($0, g.weight_decay) } })
        let weightDecays = Set(decay.values.filter { $0 != 0 })
        #expect(weightDecays.count == 1)
        let optimizer = Optimizer.adamW(AdamW(beta1: a.betas[0], beta2: a.betas[1], eps: a.eps, weightDecay: weightDecays.first!))
        let groups = layout.tensors.map { ParameterGroup(decays: decay[$0.name]! != 0) }
        for (i, step) in ref.adamw.steps.enumerated() {
            Self.fill(grads, layout, step.grads)
            if i + 1 == ref.clip_grad_norm.before_step {
                let norm = clipGradients(grads, tensors: layout.tensors, maxNorm: ref.clip_grad_norm.max_norm ?? 1.0)
                if let want = ref.clip_grad_norm.total_norm { #expect(abs(norm - want) <= 1e-6 * want) }
                for t in layout.tensors {
                    for (x, y) in zip(grads.values(t), ref.clip_grad_norm.clipped_grads[t.name]!) {
                        #expect(abs(x - y) <= 2e-7 * max(1, abs(y)), "clipped \(t.name)")
                    }
                }
                // From here on, torch's clipped gradients exactly (the step is what is compared).
                Self.fill(grads, layout, ref.clip_grad_norm.clipped_grads)
            }
            optimizer.update(parameters: params, gradients: grads, moments: moments, tensors: layout.tensors, groups: groups,
                             learningRate: a.lr, step: i + 1)
            for t in layout.tensors {
                #expect(Self.bits(params, t) == step.params_after[t.name]!.map(\.bitPattern), "step \(i + 1): \(t.name)")
            }
        }
        for t in layout.tensors {
            let state = ref.adamw.state_after_last_step[t.name]!
            #expect(Self.bits(moments.first, t) == state.exp_avg.map(\.bitPattern), "exp_avg \(t.name)")
            #expect(Self.bits(moments.second, t) == state.exp_avg_sq.map(\.bitPattern), "exp_avg_sq \(t.name)")
        }
    }

    @Test func sgdMatchesTorchBitForBit() throws {
        let ref = try Self.load()
        let layout = Self.layout(ref)
        let params = FloatBuffer(count: layout.count), grads = FloatBuffer(count: layout.count)
        Self.fill(params, layout, ref.initial_params)
        Self.fill(grads, layout, ref.adamw.steps[0].grads)
        Optimizer.sgd.update(parameters: params, gradients: grads, moments: nil, tensors: layout.tensors,
                             groups: layout.tensors.map { _ in ParameterGroup(decays: false) },
                             learningRate: ref.sgd.settings.lr, step: 1)
        for t in layout.tensors {
            #expect(Self.bits(params, t) == ref.sgd.params_after[t.name]!.map(\.bitPattern), "\(t.name)")
        }
    }

    @Test func scheduleWarmsUpThenDecays() {
        let s = LearningRateSchedule(peak: 1e-3, warmupSteps: 10, totalSteps: 110, minimumRatio: 0.1)
        #expect(s.rate(at: 0) == 1e-4)
        #expect(abs(s.rate(at: 9) - 1e-3) < 1e-15)
        #expect(abs(s.rate(at: 10) - 1e-3) < 1e-15)
        #expect(abs(s.rate(at: 60) - 0.55e-3) < 1e-12)
        #expect(abs(s.rate(at: 110) - 1e-4) < 1e-15)
        #expect(abs(s.rate(at: 500) - 1e-4) < 1e-15)
        #expect(LearningRateSchedule(peak: 2e-3).rate(at: 77) == 2e-3)
    }
}
