import QuietStarGGUF
import QuietStarTokenizer

/// `TokenizerSpec` -> `tokenizer.ggml.*`, the export direction of `GGUFTokenizer`.
///
/// - Byte-level BPE becomes `gpt2` with the pre-tokenizer's llama.cpp name (`gpt-2`, `smollm`,
///   `llama-bpe`, `qwen2`).
/// - SentencePiece-style BPE (legacy `▁` normalizer or Metaspace) becomes `llama`, with the merges
///   kept (our importer reads them back exactly) and scores `-rank` of the merge that makes
///   each token (0 for base pieces), so llama.cpp's score-driven merging follows the BPE ranks.
/// - The byte tokenizer becomes `gpt2` over the byte-level alphabet with no merges: every byte
///   is its own token whatever the split, which is exactly ids 0...255.
/// Added tokens are control (special) or user-defined tokens; the vocabulary is padded with
/// unused `[PAD<id>]` tokens to the model's vocabulary size, as llama.cpp's converter does.
enum GGUFTokenizerExport {
    enum Failure: Error { case unsupported(String) }

    static func metadata(_ spec: TokenizerSpec, vocabSize: Int, bosTokenId: Int32?) throws(Failure) -> [(key: String, value: GGUFValue)] {
        typealias T = GGUFTokenizer.TokenType
        var tokens = spec.tokens
        if spec.model == .byte {
            tokens = (0...255).map { TokenizerSpec.byteLevelToken([UInt8($0)]) }
        }
        var types = [Int32](repeating: T.normal.rawValue, count: tokens.count)
        let total = max(vocabSize, spec.vocabularySize)
        while tokens.count < total {
            tokens.append("[PAD\(tokens.count)]")
            types.append(T.unused.rawValue)
        }
        for a in spec.addedTokens {
            tokens[Int(a.id)] = a.content
            types[Int(a.id)] = a.special ? T.control.rawValue : T.userDefined.rawValue
        }
        var m: [(key: String, value: GGUFValue)] = []
        let mergeStrings = spec.merges.map { GGUFValue.string($0.left + " " + $0.right) }
        switch (spec.model, spec.normalizer, spec.preTokenizer) {
        case (.byte, _, _):
            m.append(("tokenizer.ggml.model", .string("gpt2")))
            m.append(("tokenizer.ggml.pre", .string("gpt-2")))
            m.append(("tokenizer.ggml.merges", .array(.string, [])))
        case (.bpe, _, .byteLevel(let prefix, let pattern?)):
            let pre: String
            switch pattern {
            case .gpt2: pre = "gpt-2"
            case .gpt2Digits: pre = "smollm"
            case .llama3: pre = "llama-bpe"
            case .qwen2: pre = "qwen2"
            }
            m.append(("tokenizer.ggml.model", .string("gpt2")))
            m.append(("tokenizer.ggml.pre", .string(pre)))
            m.append(("tokenizer.ggml.merges", .array(.string, mergeStrings)))
            m.append(("tokenizer.ggml.add_space_prefix", .bool(prefix)))
        case (.bpe, .legacyMetaspace("\u{2581}"), .none), (.bpe, .none, .metaspace("\u{2581}", _, _)):
            var scores = [Float](repeating: 0, count: tokens.count)
            var index: [GGUFTokenizer.ExactKey: Int] = [:]
            for (i, t) in tokens.enumerated() where index[GGUFTokenizer.ExactKey(t)] == nil { index[GGUFTokenizer.ExactKey(t)] = i }
            for (rank, merge) in spec.merges.enumerated() {
                if let id = index[GGUFTokenizer.ExactKey(merge.left + merge.right)], scores[id] == 0 { scores[id] = -Float(rank + 1) }
            }
            for (i, t) in tokens.enumerated() where types[i] == T.normal.rawValue && isByteToken(t) { types[i] = T.byte.rawValue }
            // An unknown token that is also an added token stays one (Hugging Face's `<unk>` is).
            if let unk = spec.unknownTokenId, types[Int(unk)] == T.normal.rawValue { types[Int(unk)] = T.unknown.rawValue }
            m.append(("tokenizer.ggml.model", .string("llama")))
            m.append(("tokenizer.ggml.pre", .string("default")))
            m.append(("tokenizer.ggml.scores", .array(.float32, scores.map { .float32($0) })))
            m.append(("tokenizer.ggml.merges", .array(.string, mergeStrings)))
            m.append(("tokenizer.ggml.add_space_prefix", .bool(spec.normalizer != .none)))
            if let unk = spec.unknownTokenId { m.append(("tokenizer.ggml.unknown_token_id", .uint32(UInt32(unk)))) }
        default:
            throw .unsupported("this tokenizer (normalizer \(spec.normalizer), pre-tokenizer \(spec.preTokenizer)) has no tokenizer.ggml form")
        }
        m.insert(("tokenizer.ggml.tokens", .array(.string, tokens.map { .string($0) })), at: 1)
        m.insert(("tokenizer.ggml.token_type", .array(.int32, types.map { .int32($0) })), at: 2)
        if let bos = spec.bosTokenId ?? bosTokenId { m.append(("tokenizer.ggml.bos_token_id", .uint32(UInt32(bos)))) }
        if let eos = spec.eosTokenIds.first { m.append(("tokenizer.ggml.eos_token_id", .uint32(UInt32(eos)))) }
        if let pad = spec.padTokenId { m.append(("tokenizer.ggml.padding_token_id", .uint32(UInt32(pad)))) }
        m.append(("tokenizer.ggml.add_bos_token", .bool(spec.addBosToken)))
        m.append(("tokenizer.ggml.add_eos_token", .bool(spec.addEosToken)))
        // llama.cpp's SentencePiece has one pipeline; ours has several (legacy prefix, Metaspace
        // first/always/never). The exact stages travel under quietstar.* for our importer.
        for (k, v) in spec.metadata.entries where pipelineKeys.contains(k) { m.append(("quietstar." + k, GGUFValue(v))) }
        return m
    }

    /// Our `tokenizer.*` keys that choose the normalizer, pre-tokenizer and decoder.
    static let pipelineKeys: Set<String> = {
        typealias K = TokenizerMetadataKey
        return [K.normalizer, K.normalizerReplacement, K.preTokenizer, K.preTokenizerPattern, K.preTokenizerAddPrefixSpace,
                K.preTokenizerReplacement, K.preTokenizerPrependScheme, K.preTokenizerSplit, K.decoder, K.decoderReplacement,
                K.decoderByteFallback, K.decoderStripLeadingSpace, K.decoderPrependScheme]
    }()

    static func isByteToken(_ t: String) -> Bool {
        let u = Array(t.utf8)
        return u.count == 6 && t.hasPrefix("<0x") && t.hasSuffix(">") && UInt8(String(t.dropFirst(3).dropLast()), radix: 16) != nil
    }
}
