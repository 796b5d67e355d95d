import ArgumentParser
import Foundation
import QuietStarCLI
import QuietStarEngine
import QuietStarJSON
import QuietStarModel
import QuietStarTokenizer

extension LineOutcome where Tag == LineTag {
    /// What every JSONL record starts with: `id`, the input object's id exactly as written (null
    /// for text input, a line without one, or a line that could not be read), and `line`, the
    /// 1-based input line number. A record is tied to its line by `line`, so an error record can
    /// never pass for another line's (a line index in `id` would collide with small-integer ids).
    var head: [(key: String, value: JSONValue)] { [("id", tag.id ?? .null), ("line", .integer(line + 1))] }
}

/// The fields every generation record starts with.
func completionMembers(_ head: [(key: String, value: JSONValue)], _ c: Completion) -> [(key: String, value: JSONValue)] {
    head + [("completion", .string(c.text)), ("completion_tokens", .integer(c.tokens.count)),
     ("prompt_tokens", .integer(c.promptTokens)), ("finish_reason", .string(c.finishReason.rawValue))]
}

/// `--per-token`: the token ids and each token's text.
func tokenMembers(_ ids: [Int32], _ tokenizer: Tokenizer) -> [(key: String, value: JSONValue)] {
    [("token_ids", .array(ids.map { .integer($0) })), ("tokens", .array(ids.map { .string(tokenizer.tokenText($0)) }))]
}
