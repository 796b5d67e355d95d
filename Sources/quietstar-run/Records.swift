import ArgumentParser
import Foundation
import QuietStarCLI
import QuietStarEngine
import QuietStarJSON
import QuietStarModel
import QuietStarTokenizer

extension LineOutcome where Tag == LineTag {
    /// The record's `id`: the input object's id as written, else the 0-based line index.
    var id: JSONValue { tag.id ?? .integer(line) }
}

/// The fields every generation record starts with.
func completionMembers(_ id: JSONValue, _ c: Completion) -> [(key: String, value: JSONValue)] {
    [("id", id), ("completion", .string(c.text)), ("completion_tokens", .integer(c.tokens.count)),
     ("prompt_tokens", .integer(c.promptTokens)), ("finish_reason", .string(c.finishReason.rawValue))]
}

/// `--per-token`: the token ids and each token's text.
func tokenMembers(_ ids: [Int32], _ tokenizer: Tokenizer) -> [(key: String, value: JSONValue)] {
    [("token_ids", .array(ids.map { .integer($0) })), ("tokens", .array(ids.map { .string(tokenizer.tokenText($0)) }))]
}
