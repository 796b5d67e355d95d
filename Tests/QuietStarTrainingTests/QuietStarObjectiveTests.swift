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
        let ref = try Repository.fixtureJSON(QuietStarTrainingReference.self, "quietstar-train/\(name).json")
        return (ref, try Repository.fixtureFloats("quietstar-train/\(ref.gradients_file)"))
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

/// Finite differences of the objective on a random Quiet-STaR model (float32 forward, central
/// differences): the likelihood terms through the mixing head, the blend, the thought rows and
/// the injected embeddings, and the REINFORCE term with the advantages held (as the reference
/// detaches them).
@Suite struct QuietStarObjectiveFiniteDifferenceTests {
    @Test func gradientsMatchFiniteDifferences() throws {
        let dir = TemporaryDirectory()
        let c = ModelConfig(vocabSize: 260, hiddenSize: 32, layerCount: 2, headCount: 4, kvHeadCount: 2, headDim: 8,
                            intermediateSize: 64, contextLength: 32, bosTokenId: 256, eosTokenIds: [257])
        let path = dir.file("qs.qstar")
        try RandomModel.write(to: path, config: c, seed: 5, extraMetadata: RandomModel.byteTokenizerMetadata,
                              quietStar: .byteTokenizer)
        var hyper = QuietStarHyperparameters()
        hyper.thoughtTokens = 3
        hyper.lookahead = 3
        hyper.passes = 2
        let parameters = Parameters(config: c, extra: TensorNames.thought(c))
        for t in [TensorNames.Thought.startEmbedding, .endEmbedding] { parameters.fileScales[t.rawValue] = 100 }
        try parameters.load(from: try QStarFile.open(path: path))
        // RandomModel draws every mixing layer (the last one too), so w and its gradient are generic.
        let objective = try QuietStarObjective(parameters: parameters, hyper: hyper, startTokenId: 258, endTokenId: 259)
        let sequences: [[Int32]] = [[256, 49, 50, 32, 43, 32, 51, 61, 52], [256, 55, 42, 56, 61]]
        let content = try objective.sampleThoughts(sequences, seed: 7)
        let gradients = FloatBuffer(count: parameters.layout.count)

        for (term, weights) in [("likelihood", QuietStarObjective.TermWeights(base: 0.5, mixed: 0.5, policy: 0)),
                                ("policy", QuietStarObjective.TermWeights(base: 0, mixed: 0, policy: 1))] {
            objective.heldAdvantages = nil
            gradients.zero()
            _ = try objective.run(sequences, content: content, weights: weights, gradients: gradients)
            objective.heldAdvantages = objective.lastAdvantages
            if term == "policy" { #expect(objective.lastAdvantages.contains { $0 > 0 }, "some advantage is positive") }
            func loss() throws -> Double { try objective.run(sequences, content: content, weights: weights, gradients: nil).total }
            var checked = 0
            for t in parameters.layout.tensors {
                let g = gradients.values(t)
                guard let largest = g.indices.max(by: { abs(g[$0]) < abs(g[$1]) }), g[largest] != 0 else { continue }
                let p = parameters.values.base + t.offset + largest
                let saved = p.pointee
                let h = max(1e-3 * abs(saved), 1e-3)
                p.pointee = saved + h
                let up = try loss()
                p.pointee = saved - h
                let down = try loss()
                p.pointee = saved
                let numeric = (up - down) / Double(2 * h)
                #expect(abs(numeric - Double(g[largest])) <= 0.03 * abs(numeric) + 1e-3 * max(1, abs(numeric)),
                        "\(term) \(t.name)[\(largest)]: backward \(g[largest]), finite difference \(numeric)")
                checked += 1
            }
            #expect(checked >= 10, "\(term): \(checked) tensors checked")
        }
        objective.heldAdvantages = nil
    }
}

/// Turning a converted Hugging Face model into one that thinks: the markers are added to its
/// tokenizer and vocabulary, the thought parameters initialised, and the written checkpoint is a
/// Quiet-STaR model `LanguageModel` loads.
@Suite struct QuietStarSetupTests {
    @Test func aPlainHuggingFaceModelGetsMarkersAndThoughtParameters() throws {
        let dir = TemporaryDirectory()
        let lm = try convertedModel("llama-tied", in: dir)
        let file = try QStarFile.open(path: lm.path!)
        var hyper = QuietStarHyperparameters()
        hyper.thoughtTokens = 2
        hyper.lookahead = 2
        let (parameters, settings, metadata, tokenizer) = try QuietStarSetup.parameters(
            file: file, config: lm.config, tokenizer: lm.tokenizer, hyper: hyper, initialString: "---", seed: 1)
        let v = lm.config.vocabSize
        #expect(parameters.config.vocabSize == v + 2)
        #expect(settings.startTokenId == Int32(v) && settings.endTokenId == Int32(v + 1))
        #expect(tokenizer.id(of: QuietStarSetup.startMarker) == Int32(v))
        #expect(tokenizer.encode("hello") == lm.tokenizer.encode("hello"), "the old vocabulary is unchanged")
        let h = lm.config.hiddenSize
        let embedding = parameters.pointer(TensorNames.embedding)
        #expect((v * h..<(v + 2) * h).allSatisfy { embedding[$0] == 0 })
        #expect((0..<h).allSatisfy { embedding[$0] == lm.weights.embedding.base.assumingMemoryBound(to: Float.self)[$0] })
        #expect((0..<h).allSatisfy { parameters.pointer(TensorNames.Thought.mixing2Weight.rawValue)[$0] == 0 }, "w starts at 0")

        let objective = try QuietStarObjective(parameters: parameters, hyper: hyper, startTokenId: settings.startTokenId,
                                               endTokenId: settings.endTokenId)
        let ids = tokenizer.encode("Q: 2 + 3? A: 5")
        let content = try objective.sampleThoughts([ids], seed: 3)
        #expect(content[0][0].prefix(ids.count - 1).allSatisfy { $0.count == 2 && !$0.contains(Int32(v)) && !$0.contains(Int32(v + 1)) })
        let m = try objective.run([ids], content: content, gradients: FloatBuffer(count: parameters.layout.count))
        #expect(abs(m.mixedNLLPerStep[0] - m.baseNLL) < 1e-5, "w = 0: the next-token mixed NLL is the base NLL")

        let path = dir.file("thinking.qstar")
        try TrainingCheckpoint.write(to: path, parameters: parameters, moments: nil, optimizer: .sgd,
                                     progress: TrainingProgress(random: LineRandom(seed: 1, line: 1)), options: nil,
                                     metadata: metadata, weightsOnly: true)
        let thinking = try LanguageModel(path: path)
        #expect(thinking.thoughts != nil && thinking.config.vocabSize == v + 2)
    }
}
