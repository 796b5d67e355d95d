import Foundation
import QuietStarFormat
import QuietStarInterop
import QuietStarModel
import QuietStarTestSupport
import Testing

/// `fixtures/reference/<model>.json` (schema: tools/reference/README.md).
public struct ReferenceFile: Decodable {
    /// Every fixture family with a transformers reference, in `fixtures/hf/`.
    public static let models = ["llama-tied", "llama-untied", "llama-sharded", "llama-bf16", "llama3", "mistral", "qwen2",
                                "quietstar-mistral"]

    public struct Text: Decodable {
        public var text: String
        public var ids: [Int32]
        public var logits_offset: Int
        public var logits_shape: [Int]
        public var next_token_logprobs: [Double]
    }
    public struct Generation: Decodable {
        public var prompt: String
        public var prompt_ids: [Int32]
        public var new_ids: [Int32]
    }
    public var model: String
    public var vocab_size: Int
    public var logits_file: String
    public var texts: [Text]
    public var generation: [Generation]

    public static func load(_ model: String) throws -> (ReferenceFile, [Float]) {
        let ref = try Repository.fixtureJSON(ReferenceFile.self, "reference/\(model).json")
        return (ref, try Repository.fixtureFloats("reference/\(ref.logits_file)"))
    }
}

/// Converts `fixtures/hf/<model>` to a `.qstar` (optionally recoding matrices to `dtype`) and
/// loads it.
public func convertedModel(_ model: String, dtype: DType? = nil, in dir: TemporaryDirectory) throws -> LanguageModel {
    let path = dir.file("\(model)-\(dtype?.name ?? "source").qstar")
    _ = try convertFromHF(directory: Repository.fixture("hf/\(model)"), output: path, options: ConversionOptions(dtype: dtype))
    return try LanguageModel(path: path)
}

/// `fixtures/reference/quietstar-mistral.thoughts.json` (schema: tools/reference/README.md): the
/// independent sequential float64 reference, each thought inserted into the text and the whole
/// sequence re-run.
public struct ThoughtReference: Decodable {
    public struct Position: Decodable {
        public var position: Int
        public var thought_ids: [Int32]
        public var w: Double
        public var next_id: Int32?
        public var base_logprob: Double?
        public var mixed_logprob: Double?
    }
    public struct Scoring: Decodable {
        public var text: String
        public var ids: [Int32]
        public var k: Int
        public var sum_base_logprob: Double
        public var sum_mixed_logprob: Double
        public var positions: [Position]
    }
    public struct Step: Decodable {
        public var thought_ids: [Int32]
        public var w: Double
        public var token: Int32
        public var mixed_logprob: Double
    }
    public struct Generation: Decodable {
        public var prompt: String
        public var prompt_ids: [Int32]
        public var k: Int
        public var new_ids: [Int32]
        public var steps: [Step]
    }
    public var start_thought_id: Int32
    public var end_thought_id: Int32
    public var scoring: [Scoring]
    public var generation: [Generation]

    public static func load() throws -> ThoughtReference {
        let data = try Data(contentsOf: URL(fileURLWithPath: Repository.fixture("reference/quietstar-mistral.thoughts.json")))
        return try JSONDecoder().decode(ThoughtReference.self, from: data)
    }
}

/// The converted Quiet-STaR fixture with its thought parameters.
public func quietStarModel(in dir: TemporaryDirectory) throws -> (LanguageModel, ThoughtParameters) {
    let lm = try convertedModel("quietstar-mistral", in: dir)
    let thoughts = try #require(try LanguageModel(path: lm.path!).thoughts)
    return (lm, thoughts)
}

