import Foundation
import QuietStarFormat
import QuietStarTokenizer

/// The tokenizer as a conversion needs it: its `tokenizer.*` metadata, its size, and the ids of
/// named tokens (the Quiet-STaR thought markers).
struct ImportedTokenizer {
    var spec: TokenizerSpec
    var tokenizer: Tokenizer
    var metadata: [(key: String, value: MetadataValue)]
    var vocabularySize: Int { spec.vocabularySize }

    /// The id of `content` as Hugging Face's `token_to_id` finds it: an added token first (that
    /// is how `<|startthought|>` is defined), else a vocabulary entry; compared by bytes, so "é"
    /// never finds "e\u{301}".
    func tokenID(_ content: String) -> UInt64? {
        tokenizer.id(of: content).map { UInt64($0) }
    }
}

/// The seam between conversions and QuietStarTokenizer, which owns `tokenizer.json` parsing
/// and the `tokenizer.*` keys: this file only moves data across.
enum TokenizerBridge {
    static func importHF(tokenizerJSON: Data, tokenizerConfigJSON: Data?, path: String) throws(InteropError) -> ImportedTokenizer {
        do throws(TokenizerError) {
            let spec = try TokenizerSpec(huggingFaceTokenizerJSON: tokenizerJSON, tokenizerConfigJSON: tokenizerConfigJSON)
            return ImportedTokenizer(spec: spec, tokenizer: try Tokenizer(spec: spec), metadata: spec.metadata.entries)
        } catch {
            // Unsupported configurations and malformed files both land here, and both are
            // problems with this input.
            throw located(error, path: path)
        }
    }

    /// The verbatim Hugging Face files the tokenizer was imported from, or nil when it has
    /// none (the byte tokenizer of models trained here).
    static func exportHF(metadata: Metadata, path: String) throws(InteropError) -> (tokenizerJSON: Data, tokenizerConfigJSON: Data?)? {
        guard metadata.entries.contains(where: { $0.key.hasPrefix("tokenizer.") }) else { return nil }
        let spec: TokenizerSpec
        do throws(TokenizerError) {
            spec = try TokenizerSpec(metadata: metadata)
        } catch {
            throw located(error, path: path)
        }
        guard let json = spec.huggingFaceTokenizerJSON else { return nil }
        return (Data(json.utf8), spec.huggingFaceTokenizerConfigJSON.map { Data($0.utf8) })
    }

    /// The tokenizer module locates errors as "tokenizer.json: model.type" or "metadata: key";
    /// this makes the file part the error's path and the rest its field.
    static func located(_ error: TokenizerError, path: String) -> InteropError {
        var file = path
        var field: String? = error.location
        if let colon = error.location.range(of: ": ") {
            let place = String(error.location[..<colon.lowerBound])
            field = String(error.location[colon.upperBound...])
            if place.hasSuffix(".json") { file = Paths.join(Paths.parent(of: path), place) }
        } else if error.location.hasSuffix(".json") {
            file = Paths.join(Paths.parent(of: path), error.location)
            field = nil
        }
        return InteropError(.invalidInput, path: file, field: field, error.message)
    }
}
