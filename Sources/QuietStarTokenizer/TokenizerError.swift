/// Why a tokenizer could not be built or read.
///
/// `location` says where the offending value came from, precisely enough to find it: a JSON path
/// inside `tokenizer.json` (`tokenizer.json: pre_tokenizer.pretokenizers[0].pattern.Regex`), a
/// metadata key (`metadata: tokenizer.merges[17]`) or a spec field (`spec: addedTokens[2]`).
/// `message` says what is wrong and, for unsupported configurations, what is supported.
public struct TokenizerError: Error, CustomStringConvertible, Sendable, Equatable {
    public let location: String
    public let message: String

    public init(_ location: String, _ message: String) {
        self.location = location
        self.message = message
    }

    public var description: String { "\(location): \(message)" }
}
