import Foundation
import QuietStarCheckpoint
import QuietStarFormat
import QuietStarInterop
import QuietStarModel
import QuietStarModelTestSupport
import QuietStarTestSupport
import QuietStarTraining
import Testing

/// `fixtures/training/<model>.json` (schema: tools/reference/README.md, "Training references").
struct TrainingReference: Decodable {
    struct Sequence: Decodable {
        var ids: [Int32]
        var prompt_tokens: Int
    }
    struct Gradient: Decodable {
        var name: String
        var offset: Int
        var shape: [Int]
    }
    struct Case: Decodable {
        var name: String
        var loss: Double
        var prompt_targets: [Int]
        var gradients: [Gradient]
    }
    var model: String
    var gradients_file: String
    var sequences: [Sequence]
    var cases: [Case]

    static func load(_ model: String) throws -> (TrainingReference, [Float]) {
        let ref = try Repository.fixtureJSON(TrainingReference.self, "training/\(model).json")
        return (ref, try Repository.fixtureFloats("training/\(ref.gradients_file)"))
    }
}

/// The whole model's loss and the gradient of every parameter, by `Transformer.step` and
/// `Transformer.backward`, against PyTorch autograd through Hugging Face transformers (float64) for
/// each family we convert: tied and untied Llama with linear RoPE scaling, Llama 3 (GQA, llama3
/// scaling), Mistral (MQA, a sliding window of 8 shorter than the sequences) and Qwen2 (q/k/v
/// biases, tied). Two cases: every target counts, and completion-only (prompt targets masked).
///
/// Tolerance: |g - ref| <= 1e-4 x max|ref| per tensor and 1e-4 on the loss (40x what PyTorch's own
/// float32 reaches on these fixtures; tools/reference/README.md). Dropping any feature (window,
/// scaling, biases, the tied head's contribution) moves gradients by 0.33-1.4 x max|ref|.
@Suite struct GradientReferenceTests {
    @Test(arguments: ["llama-tied", "llama-untied", "llama3", "mistral", "qwen2"])
    func gradientsMatchPyTorch(_ model: String) throws {
        let dir = TemporaryDirectory()
        let (ref, floats) = try TrainingReference.load(model)
        let lm = try convertedModel(model, in: dir)
        let parameters = Parameters(config: lm.config)
        try parameters.load(from: try QStarFile.open(path: lm.path!))
        let loss = LanguageModelLoss(weights: parameters.weights)
        let gradients = FloatBuffer(count: parameters.layout.count)
        for c in ref.cases {
            let sequences = zip(ref.sequences, c.prompt_targets).map { TrainingSequence(tokens: $0.ids, firstTarget: $1) }
            let total = sequences.reduce(0) { $0 + $1.targetCount }
            gradients.zero()
            let (sum, counted) = try loss.run(sequences, scale: 1 / Float(total), gradients: parameters.gradients(in: gradients))
            #expect(counted == total)
            let mean = sum / Double(counted)
            #expect(abs(mean - c.loss) < 1e-4, "\(model) \(c.name): loss \(mean), reference \(c.loss)")
            var worst = 0.0
            var seen = Set<String>()
            for g in c.gradients {
                let name = try #require(HFTensorNames.qstarName(forHF: g.name), "\(g.name) has no .qstar name")
                let t = try #require(parameters.layout.tensor(name), "\(name) is not a parameter")
                #expect(t.shape == g.shape, "\(name): shape")
                seen.insert(name)
                let want = floats[g.offset..<(g.offset + t.count)]
                let got = gradients.values(t)
                let scale = Double(want.map { abs($0) }.max() ?? 0)
                var diff = 0.0
                for (a, b) in zip(got, want) { diff = max(diff, Double(abs(a - b))) }
                let relative = diff / max(scale, 1e-12)
                worst = max(worst, relative)
                #expect(relative <= 1e-4, "\(model) \(c.name): \(name) differs by \(diff) (max |ref| \(scale))")
            }
            #expect(seen == Set(parameters.layout.tensors.map(\.name)), "\(model): every parameter has a reference gradient")
            print("training reference \(model) \(c.name): loss \(mean) vs \(c.loss), worst relative gradient error \(worst)")
        }
    }
}
