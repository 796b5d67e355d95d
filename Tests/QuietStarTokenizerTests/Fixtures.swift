import Foundation
@testable import QuietStarTokenizer

/// The committed tokenizer fixtures (fixtures/tokenizers/, made by
/// tools/reference/make_tokenizers.py with Hugging Face tokenizers 0.23.3).
enum Fixtures {
    static let names = ["gpt2", "llama3", "qwen2", "llama2", "mistral-metaspace"]

    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("fixtures/tokenizers")

    static func data(_ path: String) throws -> Data {
        try Data(contentsOf: root.appendingPathComponent(path))
    }

    static func tokenizerJSON(_ name: String) throws -> Data { try data("\(name)/tokenizer.json") }
    static func configJSON(_ name: String) throws -> Data { try data("\(name)/tokenizer_config.json") }

    static func spec(_ name: String) throws -> TokenizerSpec {
        try TokenizerSpec(huggingFaceTokenizerJSON: tokenizerJSON(name), tokenizerConfigJSON: configJSON(name))
    }

    static func tokenizer(_ name: String) throws -> Tokenizer {
        try Tokenizer(spec: spec(name))
    }

    /// expected.json: what Hugging Face returns for every line of test_lines.txt.
    struct Expected: Decodable {
        struct Line: Decodable {
            let text: String
            let ids: [Int32]
            let ids_no_special: [Int32]
            let tokens: [String]
            let decoded: String
            let decoded_no_special: String
            let decoded_skip_special: String
        }
        struct Entry: Decodable {
            let vocab_size: Int
            let lines: [Line]
        }
        let tokenizers: [String: Entry]
    }

    static func expected() throws -> Expected {
        try JSONDecoder().decode(Expected.self, from: data("expected.json"))
    }

    /// A tokenizer.json fixture as a mutable JSON object, for building unsupported variants.
    static func object(_ name: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: tokenizerJSON(name)) as! [String: Any]
    }

    static func json(_ object: [String: Any]) throws -> Data {
        try JSONSerialization.data(withJSONObject: object)
    }
}
