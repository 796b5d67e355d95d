import Foundation
import QuietStarCheckpoint
import QuietStarFormat
import QuietStarInterop
import QuietStarModel
import QuietStarModelTestSupport
import QuietStarTestSupport
import QuietStarTraining
import Testing

/// `fixtures/quietstar-train/<case>.json` (schema: tools/reference/README.md, "Quiet-STaR training
/// objective"): the reference objective on the Quiet-STaR fixture with the thought tokens given.
struct QuietStarTrainingReference: Decodable {
    struct Tensor: Decodable { var name: String; var offset: Int; var shape: [Int] }
    struct Term: Decodable { var term: String; var tensors: [Tensor] }
    struct Loss: Decodable {
        var base_nll: Double
        var mixed_nll: Double
        var mixed_nll_per_step: [Double]
        var policy: Double
        var total: Double
    }
    struct Settings: Decodable {
        var k: Int
        var n_ahead_talk: Int
        var n_passes: Int
        var start_thought_id: Int32
        var end_thought_id: Int32
    }
    var ids: [[Int32]]
    var lengths: [Int]
    var content_ids: [[[[Int32]]]]
    var loss: Loss
    var settings: Settings
    var gradients: [Term]
    var gradients_file: String

    static func load(_ name: String) throws -> (QuietStarTrainingReference, [Float]) {
        let json = try Data(contentsOf: URL(fileURLWithPath: Repository.fixture("quietstar-train/\(name).json")))
        let ref = try JSONDecoder().decode(QuietStarTrainingReference.self, from: json)
        let raw = try Data(contentsOf: URL(fileURLWithPath: Repository.fixture("quietstar-train/\(ref.gradients_file)")))
        let floats = raw.withUnsafeBytes { bytes in
            (0..<(raw.count / 4)).map { Float(bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
        }
        return (ref, floats)
    }
}

/// Our Quiet-STaR loss (every term) and the gradient of every parameter of each term against the
/// independent float64 PyTorch implementation, itself checked against the public reference
/// (agreement 1.7e-15 on the loss, 1.1e-14 on gradients; tools/reference/README.md).
///
/// Tolerance: `|g - ref| <= 1e-4 x max|ref|` per tensor and term, 1e-4 relative on each loss.
@Suite struct QuietStarObjectiveTests {
    /// The reference's parameter names for the Quiet-STaR tensors (the base model's are HF's own).
    static let thoughtNames: [String: String] = [
        "start_embedding": TensorNames.Thought.startEmbedding.rawValue,
        "end_embedding": TensorNames.Thought.endEmbedding.rawValue,
        "talk_head.0.0.weight": TensorNames.Thought.mixing0Weight.rawValue,
        "talk_head.0.0.bias": TensorNames.Thought.mixing0Bias.rawValue,
        "talk_head.0.2.weight": TensorNames.Thought.mixing1Weight.rawValue,
        "talk_head.0.2.bias": TensorNames.Thought.mixing1Bias.rawValue,
        "talk_head.0.4.weight": TensorNames.Thought.mixing2Weight.rawValue,
    ]

    @Test(arguments: ["k3-a4-p2-b2", "k2-a2-p2-b1"])
    func lossAndGradientsMatchTheReference(_ name: String) throws {
        let dir = TemporaryDirectory()
        let (ref, floats) = try QuietStarTrainingReference.load(name)
        let lm = try convertedModel("quietstar-mistral", in: dir)
        let c = lm.config
        let parameters = Parameters(config: c, extra: TensorNames.thought(c))
        var hyper = QuietStarHyperparameters()
        hyper.thoughtTokens = ref.settings.k
        hyper.lookahead = ref.settings.n_ahead_talk
        hyper.passes = ref.settings.n_passes
        for t in [TensorNames.Thought.startEmbedding, .endEmbedding] { parameters.fileScales[t.rawValue] = Float(hyper.embeddingScale) }
        try parameters.load(from: try QStarFile.open(path: lm.path!))
        let objective = try QuietStarObjective(parameters: parameters, hyper: hyper, startTokenId: ref.settings.start_thought_id,
                                               endTokenId: ref.settings.end_thought_id)
        let sequences = zip(ref.ids, ref.lengths).map { Array($0.prefix($1)) }

        let terms: [(String, QuietStarObjective.TermWeights?, Double)] = [
            ("total", nil, ref.loss.total), ("base_nll", .init(base: 1, mixed: 0, policy: 0), ref.loss.base_nll),
            ("mixed_nll", .init(base: 0, mixed: 1, policy: 0), ref.loss.mixed_nll),
            ("policy", .init(base: 0, mixed: 0, policy: 1), ref.loss.policy),
        ]
        let gradients = FloatBuffer(count: parameters.layout.count)
        for (term, weights, wantLoss) in terms {
            gradients.zero()
            let m = try objective.run(sequences, content: ref.content_ids, weights: weights, gradients: gradients)
            let got = term == "total" ? m.total : term == "base_nll" ? m.baseNLL : term == "mixed_nll" ? m.mixedNLL : m.policy
            #expect(abs(got - wantLoss) <= 1e-4 * abs(wantLoss), "\(name) \(term): loss \(got), reference \(wantLoss)")
            if term == "total" {
                for (a, b) in zip(m.mixedNLLPerStep, ref.loss.mixed_nll_per_step) { #expect(abs(a - b) <= 1e-4 * b) }
            }
            let block = try #require(ref.gradients.first { $0.term == term })
            var worst = 0.0
            for t in block.tensors {
                let ours = Self.thoughtNames[t.name] ?? HFTensorNames.qstarName(forHF: t.name)
                let tensor = try #require(ours.flatMap { parameters.layout.tensor($0) }, "\(t.name) has no parameter")
                // The reference's thought embeddings are [2, hidden]; row 0 is the one used.
                let want = Array(floats[t.offset..<(t.offset + tensor.count)])
                if t.shape.count == 2, t.shape[0] == 2, tensor.shape.count == 1 {
                    let unused = floats[(t.offset + tensor.count)..<(t.offset + 2 * tensor.count)]
                    #expect(unused.allSatisfy { $0 == 0 }, "\(t.name): row 1 gets no gradient")
                }
                let have = gradients.values(tensor)
                let scale = Double(want.map { abs($0) }.max() ?? 0)
                var diff = 0.0
                for (a, b) in zip(have, want) { diff = max(diff, Double(abs(a - b))) }
                let relative = scale > 0 ? diff / scale : diff
                worst = max(worst, relative)
                #expect(relative <= 1e-4 || diff <= 1e-6, "\(name) \(term): \(tensor.name) differs by \(diff) (max |ref| \(scale))")
            }
            print("quietstar objective \(name) \(term): loss \(got) vs \(wantLoss), worst relative gradient error \(worst)")
        }
    }
}
