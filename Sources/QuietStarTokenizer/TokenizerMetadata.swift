import QuietStarFormat

/// The `tokenizer.*` metadata keys of a `.qstar` file: the normative list (formats/qstar-v1.md
/// refers here). `TokenizerSpec.metadata` writes them in this order; `TokenizerSpec(metadata:)`
/// reads them back to an equal spec and ignores keys outside this list (a file may carry others,
/// such as a chat template, for other readers).
///
/// Ids are u64. "Required" keys must be present for every tokenizer; the others are written
/// only when they apply (for the pipeline stage chosen) or have a value.
public enum TokenizerMetadataKey {
    /// string, required: `"byte"` (ids 0...255 are UTF-8 bytes, `TokenizerSpec.byteLevel()`) or
    /// `"bpe"` (byte-pair encoding over `tokenizer.tokens` with `tokenizer.merges`).
    public static let model = "tokenizer.model"
    /// string[], required: the model vocabulary; element i is the token with id i, in the
    /// vocabulary's own alphabet (GPT-2 byte-level "Ġthe", SentencePiece "▁the"). Added tokens
    /// with ids beyond it are listed only under `tokenizer.added_tokens.*`. The byte model stores
    /// `<0x00>`...`<0xFF>`.
    public static let tokens = "tokenizer.tokens"
    /// string[], required (may be empty): merges in rank order. Each entry is `left + " " + right`
    /// and is split at its first space, so the right token may contain spaces. If the left token
    /// contains a space, the entry is instead `"\u{0}" + left + "\u{0}" + right`, split at its
    /// second U+0000 (so such a left token cannot contain U+0000, and no left token may start
    /// with it). Byte-level tokens never contain a space ("Ġ" stands for it) and SentencePiece
    /// tokens use "▁", so in practice every entry is the plain form Hugging Face also writes.
    public static let merges = "tokenizer.merges"
    /// string, required: `"none"`, `"nfc"` (Unicode NFC) or `"legacy_metaspace"` (the legacy
    /// SentencePiece conversion: spaces become `tokenizer.normalizer.replacement`, and a
    /// non-empty segment gets one in front).
    public static let normalizer = "tokenizer.normalizer"
    /// string, with `legacy_metaspace`: the replacement, usually "▁" (U+2581).
    public static let normalizerReplacement = "tokenizer.normalizer.replacement"
    /// string, required: `"none"` (a segment is one word), `"byte_level"` or `"metaspace"`.
    public static let preTokenizer = "tokenizer.pre_tokenizer"
    /// string, with `byte_level`: the split regex, `"gpt2"`, `"llama3"`, `"qwen2"`, `"gpt2_digits"`
    /// (SmolLM: each digit alone, then the GPT-2 regex) or `"none"`
    /// (`TokenizerSpec.SplitPattern` has the exact patterns).
    public static let preTokenizerPattern = "tokenizer.pre_tokenizer.pattern"
    /// bool, with `byte_level`: a space is put in front of every segment that lacks one.
    public static let preTokenizerAddPrefixSpace = "tokenizer.pre_tokenizer.add_prefix_space"
    /// string, with `metaspace`: the one-character replacement for spaces, usually "▁".
    public static let preTokenizerReplacement = "tokenizer.pre_tokenizer.replacement"
    /// string, with `metaspace`: `"first"`, `"always"` or `"never"` (when to prepend the replacement).
    public static let preTokenizerPrependScheme = "tokenizer.pre_tokenizer.prepend_scheme"
    /// bool, with `metaspace`: a new word starts at every replacement character.
    public static let preTokenizerSplit = "tokenizer.pre_tokenizer.split"
    /// string, required: `"none"` (token strings joined by spaces), `"byte_level"`,
    /// `"sentencepiece"` (Replace, ByteFallback?, Fuse, Strip?) or `"metaspace"`.
    public static let decoder = "tokenizer.decoder"
    /// string, with `sentencepiece` and `metaspace`: the character that decodes to a space.
    public static let decoderReplacement = "tokenizer.decoder.replacement"
    /// bool, with `sentencepiece`: `<0xAB>` tokens decode to their bytes.
    public static let decoderByteFallback = "tokenizer.decoder.byte_fallback"
    /// bool, with `sentencepiece`: one leading space of the decoded text is removed.
    public static let decoderStripLeadingSpace = "tokenizer.decoder.strip_leading_space"
    /// string, with `metaspace`: `"first"`, `"always"` or `"never"`.
    public static let decoderPrependScheme = "tokenizer.decoder.prepend_scheme"
    /// bool, required: characters missing from the vocabulary become `<0xAB>` byte tokens.
    public static let byteFallback = "tokenizer.byte_fallback"
    /// bool, required: consecutive unknown characters become one unknown token.
    public static let fuseUnknown = "tokenizer.fuse_unk"
    /// u64, optional: the unknown token's id (a vocabulary id).
    public static let unknownTokenId = "tokenizer.unk_token_id"
    /// bool, required: a word that is a vocabulary entry is that token without merging.
    public static let ignoreMerges = "tokenizer.ignore_merges"
    /// u64[], required (may be empty): added tokens' ids; the six keys below are parallel to it.
    public static let addedTokenIds = "tokenizer.added_tokens.ids"
    /// string[]: added tokens' text.
    public static let addedTokenContents = "tokenizer.added_tokens.contents"
    /// bool[]: skipped when decoding with `skipSpecialTokens`.
    public static let addedTokenSpecial = "tokenizer.added_tokens.special"
    /// bool[]: the match takes the whitespace before it.
    public static let addedTokenLstrip = "tokenizer.added_tokens.lstrip"
    /// bool[]: the match takes the whitespace after it.
    public static let addedTokenRstrip = "tokenizer.added_tokens.rstrip"
    /// bool[]: matched in the normalized text rather than the raw text.
    public static let addedTokenNormalized = "tokenizer.added_tokens.normalized"
    /// bool[]: matched only as a whole word.
    public static let addedTokenSingleWord = "tokenizer.added_tokens.single_word"
    /// u64, optional: beginning-of-sequence id.
    public static let bosTokenId = "tokenizer.bos_token_id"
    /// u64[], required (may be empty): end-of-sequence ids; the first is the one encode appends.
    public static let eosTokenIds = "tokenizer.eos_token_ids"
    /// u64, optional: padding id.
    public static let padTokenId = "tokenizer.pad_token_id"
    /// bool, required: encoding with special tokens starts with the BOS id.
    public static let addBosToken = "tokenizer.add_bos_token"
    /// bool, required: encoding with special tokens ends with the first EOS id.
    public static let addEosToken = "tokenizer.add_eos_token"
    /// string, optional: the Hugging Face `tokenizer.json` this tokenizer came from, verbatim.
    public static let huggingFaceTokenizerJSON = "tokenizer.huggingface.tokenizer_json"
    /// string, optional: the Hugging Face `tokenizer_config.json`, verbatim.
    public static let huggingFaceTokenizerConfigJSON = "tokenizer.huggingface.tokenizer_config_json"
}

extension TokenizerSpec {
    /// The spec as `tokenizer.*` metadata entries (see `TokenizerMetadataKey`), ready to merge
    /// into a file's metadata. `TokenizerSpec(metadata:)` reads it back to an equal spec.
    public var metadata: Metadata {
        typealias K = TokenizerMetadataKey
        var m = Metadata()
        m[K.model] = .string(model.rawValue)
        m[K.tokens] = .stringArray(tokens)
        m[K.merges] = .stringArray(merges.map(Self.mergeEntry))
        switch normalizer {
        case .none: m[K.normalizer] = .string("none")
        case .nfc: m[K.normalizer] = .string("nfc")
        case .legacyMetaspace(let r):
            m[K.normalizer] = .string("legacy_metaspace")
            m[K.normalizerReplacement] = .string(r)
        }
        switch preTokenizer {
        case .none: m[K.preTokenizer] = .string("none")
        case .byteLevel(let addPrefixSpace, let pattern):
            m[K.preTokenizer] = .string("byte_level")
            m[K.preTokenizerPattern] = .string(pattern?.rawValue ?? "none")
            m[K.preTokenizerAddPrefixSpace] = .bool(addPrefixSpace)
        case .metaspace(let r, let scheme, let split):
            m[K.preTokenizer] = .string("metaspace")
            m[K.preTokenizerReplacement] = .string(r)
            m[K.preTokenizerPrependScheme] = .string(scheme.rawValue)
            m[K.preTokenizerSplit] = .bool(split)
        }
        switch decoder {
        case .none: m[K.decoder] = .string("none")
        case .byteLevel: m[K.decoder] = .string("byte_level")
        case .sentencePiece(let r, let byteFallback, let strip):
            m[K.decoder] = .string("sentencepiece")
            m[K.decoderReplacement] = .string(r)
            m[K.decoderByteFallback] = .bool(byteFallback)
            m[K.decoderStripLeadingSpace] = .bool(strip)
        case .metaspace(let r, let scheme):
            m[K.decoder] = .string("metaspace")
            m[K.decoderReplacement] = .string(r)
            m[K.decoderPrependScheme] = .string(scheme.rawValue)
        }
        m[K.byteFallback] = .bool(byteFallback)
        m[K.fuseUnknown] = .bool(fuseUnknown)
        if let unknownTokenId { m[K.unknownTokenId] = .uint(UInt64(unknownTokenId)) }
        m[K.ignoreMerges] = .bool(ignoreMerges)
        m[K.addedTokenIds] = .uintArray(addedTokens.map { UInt64($0.id) })
        m[K.addedTokenContents] = .stringArray(addedTokens.map(\.content))
        m[K.addedTokenSpecial] = .boolArray(addedTokens.map(\.special))
        m[K.addedTokenLstrip] = .boolArray(addedTokens.map(\.lstrip))
        m[K.addedTokenRstrip] = .boolArray(addedTokens.map(\.rstrip))
        m[K.addedTokenNormalized] = .boolArray(addedTokens.map(\.normalized))
        m[K.addedTokenSingleWord] = .boolArray(addedTokens.map(\.singleWord))
        if let bosTokenId { m[K.bosTokenId] = .uint(UInt64(bosTokenId)) }
        m[K.eosTokenIds] = .uintArray(eosTokenIds.map { UInt64($0) })
        if let padTokenId { m[K.padTokenId] = .uint(UInt64(padTokenId)) }
        m[K.addBosToken] = .bool(addBosToken)
        m[K.addEosToken] = .bool(addEosToken)
        if let huggingFaceTokenizerJSON { m[K.huggingFaceTokenizerJSON] = .string(huggingFaceTokenizerJSON) }
        if let huggingFaceTokenizerConfigJSON { m[K.huggingFaceTokenizerConfigJSON] = .string(huggingFaceTokenizerConfigJSON) }
        return m
    }

    /// Reads the `tokenizer.*` keys (other keys are ignored) and validates the result.
    public init(metadata m: Metadata) throws(TokenizerError) {
        typealias K = TokenizerMetadataKey
        do {
            func choice<T>(_ key: String, _ options: [String: T]) throws -> T {
                let name = try m.string(key)
                guard let value = options[name] else {
                    throw TokenizerError("metadata: \(key)", "unknown value \(name.debugDescription); known: \(options.keys.sorted().joined(separator: ", "))")
                }
                return value
            }
            func id(_ key: String) throws -> Int32? {
                guard let v = try m.uintIfPresent(key) else { return nil }
                return try Self.id(v, key)
            }
            func schemes(_ key: String) throws -> PrependScheme {
                try choice(key, Dictionary(uniqueKeysWithValues: PrependScheme.allCases.map { ($0.rawValue, $0) }))
            }

            let model = try choice(K.model, ["byte": Model.byte, "bpe": .bpe])
            let tokens = try m.stringArray(K.tokens)
            let merges = try m.stringArray(K.merges).enumerated().map { (i, entry) throws in
                guard let merge = Self.merge(fromEntry: entry) else {
                    throw TokenizerError("metadata: \(K.merges)[\(i)]", "\(entry.debugDescription) is neither \"left right\" nor \"\\u{0}left\\u{0}right\"")
                }
                return merge
            }
            let normalizer: Normalizer = switch try choice(K.normalizer, ["none": 0, "nfc": 1, "legacy_metaspace": 2]) {
            case 0: .none
            case 1: .nfc
            default: .legacyMetaspace(replacement: try m.string(K.normalizerReplacement))
            }
            let preTokenizer: PreTokenizer = switch try choice(K.preTokenizer, ["none": 0, "byte_level": 1, "metaspace": 2]) {
            case 0: .none
            case 1: .byteLevel(
                addPrefixSpace: try m.bool(K.preTokenizerAddPrefixSpace),
                pattern: try choice(K.preTokenizerPattern, ["none": Optional<SplitPattern>.none, "gpt2": .gpt2, "llama3": .llama3, "qwen2": .qwen2, "gpt2_digits": .gpt2Digits]))
            default: .metaspace(
                replacement: try m.string(K.preTokenizerReplacement),
                prependScheme: try schemes(K.preTokenizerPrependScheme), split: try m.bool(K.preTokenizerSplit))
            }
            let decoder: Decoder = switch try choice(K.decoder, ["none": 0, "byte_level": 1, "sentencepiece": 2, "metaspace": 3]) {
            case 0: .none
            case 1: .byteLevel
            case 2: .sentencePiece(
                replacement: try m.string(K.decoderReplacement), byteFallback: try m.bool(K.decoderByteFallback),
                stripLeadingSpace: try m.bool(K.decoderStripLeadingSpace))
            default: .metaspace(replacement: try m.string(K.decoderReplacement), prependScheme: try schemes(K.decoderPrependScheme))
            }

            let ids = try m.uintArray(K.addedTokenIds)
            let contents = try m.stringArray(K.addedTokenContents)
            let flags = try [K.addedTokenSpecial, K.addedTokenLstrip, K.addedTokenRstrip, K.addedTokenNormalized,
                             K.addedTokenSingleWord].map { try m.boolArray($0) }
            for (key, count) in zip([K.addedTokenContents] + [K.addedTokenSpecial, K.addedTokenLstrip, K.addedTokenRstrip,
                                     K.addedTokenNormalized, K.addedTokenSingleWord], [contents.count] + flags.map(\.count))
                where count != ids.count {
                throw TokenizerError("metadata: \(key)", "has \(count) elements; \(K.addedTokenIds) has \(ids.count)")
            }
            let addedTokens = try ids.indices.map { i throws in
                AddedToken(id: try Self.id(ids[i], "\(K.addedTokenIds)[\(i)]"), content: contents[i], special: flags[0][i],
                           lstrip: flags[1][i], rstrip: flags[2][i], normalized: flags[3][i], singleWord: flags[4][i])
            }

            self.init(
                model: model, tokens: tokens, merges: merges, addedTokens: addedTokens,
                normalizer: normalizer, preTokenizer: preTokenizer, decoder: decoder,
                byteFallback: try m.bool(K.byteFallback), fuseUnknown: try m.bool(K.fuseUnknown),
                unknownTokenId: try id(K.unknownTokenId), ignoreMerges: try m.bool(K.ignoreMerges),
                bosTokenId: try id(K.bosTokenId),
                eosTokenIds: try m.uintArray(K.eosTokenIds).enumerated().map { try Self.id($0.element, "\(K.eosTokenIds)[\($0.offset)]") },
                padTokenId: try id(K.padTokenId),
                addBosToken: try m.bool(K.addBosToken), addEosToken: try m.bool(K.addEosToken),
                huggingFaceTokenizerJSON: try m.stringIfPresent(K.huggingFaceTokenizerJSON),
                huggingFaceTokenizerConfigJSON: try m.stringIfPresent(K.huggingFaceTokenizerConfigJSON))
        } catch let e as TokenizerError {
            throw e
        } catch let e as QStarError {
            throw TokenizerError("metadata: \(e.field ?? "tokenizer")", e.message)
        } catch {
            throw TokenizerError("metadata", "\(error)")
        }
        try validate()
    }

    private static func id(_ value: UInt64, _ key: String) throws(TokenizerError) -> Int32 {
        guard value < UInt64(Int32.max) else { throw TokenizerError("metadata: \(key)", "id \(value) does not fit in Int32") }
        return Int32(value)
    }

    /// The metadata form of a merge (see `TokenizerMetadataKey.merges`).
    static func mergeEntry(_ m: Merge) -> String {
        if m.left.utf8.contains(0x20) {
            return "\u{0}" + m.left + "\u{0}" + m.right
        }
        return m.left + " " + m.right
    }

    static func merge(fromEntry entry: String) -> Merge? {
        let bytes = Array(entry.utf8)
        if bytes.first == 0 {
            guard let i = bytes.dropFirst().firstIndex(of: 0) else { return nil }
            return Merge(String(decoding: bytes[1..<i], as: UTF8.self), String(decoding: bytes[(i + 1)...], as: UTF8.self))
        }
        guard let i = bytes.firstIndex(of: 0x20) else { return nil }
        return Merge(String(decoding: bytes[..<i], as: UTF8.self), String(decoding: bytes[(i + 1)...], as: UTF8.self))
    }
}
