import QuietStarJSON

/// Everything needed to run a tokenizer, as plain data: no Python, no `tokenizer.json` at run time.
///
/// The shape follows Hugging Face `tokenizers`, restricted to a closed set of configurations we
/// implement exactly (id for id): a model vocabulary (`tokens`, ids `0..<tokens.count`), ranked
/// `merges`, `addedTokens` (specials and user tokens, matched in the text before anything else),
/// and one choice each of normalizer, pre-tokenizer and decoder. Readers build it from
/// `tokenizer.json` (`init(huggingFaceTokenizerJSON:tokenizerConfigJSON:)`) or from `.qstar`
/// metadata (`init(metadata:)`); `validate()` checks the invariants `Tokenizer` relies on.
public struct TokenizerSpec: Sendable, Equatable {
    /// How words become ids.
    public enum Model: String, Sendable, Equatable, CaseIterable {
        /// Ids 0...255 are the bytes of the UTF-8 text; added tokens follow (see `byteLevel()`).
        case byte
        /// Byte-pair encoding over the model vocabulary with ranked merges.
        case bpe
    }

    /// One merge rule: the adjacent pair `left`, `right` becomes the token `left + right`.
    /// Its rank is its index in `merges` (lower merges first).
    public struct Merge: Sendable, Hashable {
        public var left: String
        public var right: String
        public init(_ left: String, _ right: String) {
            self.left = left
            self.right = right
        }

        /// Byte equality, as for every token string here (see `ExactString`).
        public static func == (a: Merge, b: Merge) -> Bool { a.left.isExactly(b.left) && a.right.isExactly(b.right) }

        public func hash(into hasher: inout Hasher) {
            hasher.combine(ExactString(left))
            hasher.combine(ExactString(right))
        }
    }

    /// A token matched in the raw (or normalized) text before pre-tokenization, as Hugging Face's
    /// `AddedToken`. Specials (BOS, EOS, chat markers, thought markers) are added tokens.
    public struct AddedToken: Sendable, Equatable {
        public var id: Int32
        public var content: String
        /// Skipped by `decode(_:skipSpecialTokens: true)`.
        public var special: Bool
        /// The match swallows the whitespace before it.
        public var lstrip: Bool
        /// The match swallows the whitespace after it.
        public var rstrip: Bool
        /// Matched in the normalized text (against the normalized content) instead of the raw text.
        public var normalized: Bool
        /// Matched only where it is not part of a longer word (`\w` on neither side).
        public var singleWord: Bool

        /// Byte equality of `content` (see `ExactString`).
        public static func == (a: AddedToken, b: AddedToken) -> Bool {
            a.id == b.id && a.content.isExactly(b.content) && a.special == b.special && a.lstrip == b.lstrip
                && a.rstrip == b.rstrip && a.normalized == b.normalized && a.singleWord == b.singleWord
        }

        public init(id: Int32, content: String, special: Bool = true, lstrip: Bool = false,
                    rstrip: Bool = false, normalized: Bool = false, singleWord: Bool = false) {
            self.id = id
            self.content = content
            self.special = special
            self.lstrip = lstrip
            self.rstrip = rstrip
            self.normalized = normalized
            self.singleWord = singleWord
        }
    }

    /// When Metaspace puts the replacement character in front of a text segment.
    public enum PrependScheme: String, Sendable, Equatable, CaseIterable {
        /// Only in front of the segment that starts the input (SentencePiece's dummy prefix).
        case first
        /// In front of every segment (segments are the text between added tokens).
        case always
        case never
    }

    /// The split regexes we implement, by the model family that introduced them.
    public enum SplitPattern: String, Sendable, Equatable, CaseIterable {
        /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
        case gpt2
        /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
        case llama3
        /// The Llama-3 pattern with single digits: `\p{N}` instead of `\p{N}{1,3}`.
        case qwen2
        /// SmolLM's `Sequence[Digits(individual_digits: true), ByteLevel(use_regex: true)]`
        /// (llama.cpp's `smollm` pre-tokenizer): every `\p{N}` character is a word of its own,
        /// and the GPT-2 regex cuts the text between them.
        case gpt2Digits = "gpt2_digits"

        /// The pattern as it appears in `tokenizer.json` (for `gpt2Digits`, the GPT-2 regex that
        /// runs after the digit split).
        public var regex: String {
            switch self {
            case .gpt2, .gpt2Digits:
                return #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
            case .llama3:
                return #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
            case .qwen2:
                return #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
            }
        }
    }

    /// Text normalization, applied to each segment between added tokens.
    public enum Normalizer: Sendable, Equatable {
        case none
        /// Unicode canonical composition (Qwen2).
        case nfc
        /// The legacy SentencePiece conversion (Llama-2, Mistral-7B-v0.1):
        /// `Sequence[Prepend(replacement), Replace(" ", replacement)]`, i.e. every space becomes
        /// `replacement` and a non-empty segment gets one in front.
        case legacyMetaspace(replacement: String)
    }

    /// How a normalized segment is cut into the words that BPE sees.
    public enum PreTokenizer: Sendable, Equatable {
        /// The whole segment is one word (legacy SentencePiece conversions, the byte model).
        case none
        /// Byte-level BPE: optionally a space in front of every segment, then the split regex
        /// (`nil`: no split), then each word's bytes are the BPE symbols. GPT-2's
        /// `ByteLevel(use_regex: true)` is `.gpt2`; Llama-3/Qwen2's
        /// `Sequence[Split(regex, Isolated), ByteLevel(use_regex: false)]` is `.llama3`/`.qwen2`.
        case byteLevel(addPrefixSpace: Bool, pattern: SplitPattern?)
        /// Spaces become `replacement` (one character, usually "▁"), which is put in front per
        /// `prependScheme`; with `split`, a new word starts at every `replacement`.
        case metaspace(replacement: String, prependScheme: PrependScheme, split: Bool)
    }

    /// How ids become text.
    public enum Decoder: Sendable, Equatable {
        /// No decoder: the token strings joined with single spaces (Hugging Face's fallback).
        case none
        /// Each token's bytes (byte-level alphabet undone; byte model: the byte itself),
        /// concatenated and read as UTF-8 with U+FFFD for invalid sequences.
        case byteLevel
        /// `Sequence[Replace(replacement, " "), ByteFallback?, Fuse, Strip(" ", 1, 0)?]`, the
        /// decoder of SentencePiece conversions. Byte fallback turns runs of `<0xAB>` tokens
        /// into their UTF-8 text (one U+FFFD per byte if a run is not valid UTF-8).
        case sentencePiece(replacement: String, byteFallback: Bool, stripLeadingSpace: Bool)
        /// Metaspace decoder: `replacement` becomes a space, except that the first token loses
        /// its replacement characters unless `prependScheme` is `.never`.
        case metaspace(replacement: String, prependScheme: PrependScheme)
    }

    public var model: Model
    /// The model vocabulary: `tokens[id]` for ids `0..<tokens.count`, in the vocabulary's own
    /// alphabet (byte-level "Ġthe", SentencePiece "▁the"). The byte model names its 256 ids
    /// `<0x00>`...`<0xFF>`.
    public var tokens: [String]
    /// Ranked merges; empty for the byte model.
    public var merges: [Merge]
    /// Added tokens. Ids below `tokens.count` name a vocabulary entry with the same content;
    /// ids from `tokens.count` on extend the vocabulary densely.
    public var addedTokens: [AddedToken]
    public var normalizer: Normalizer
    public var preTokenizer: PreTokenizer
    public var decoder: Decoder
    /// A character missing from the vocabulary becomes its UTF-8 bytes as `<0xAB>` tokens.
    public var byteFallback: Bool
    /// Consecutive unknown characters become one unknown token.
    public var fuseUnknown: Bool
    /// The id for characters that are neither in the vocabulary nor byte-fallback-able;
    /// without one such characters are dropped (as Hugging Face does).
    public var unknownTokenId: Int32?
    /// A word that is itself a vocabulary entry is that token, merges or not (Llama-3).
    public var ignoreMerges: Bool
    public var bosTokenId: Int32?
    /// End-of-sequence ids; the first is the one `addEosToken` appends, generation may stop on any.
    public var eosTokenIds: [Int32]
    public var padTokenId: Int32?
    /// `encode(_:addSpecialTokens: true)` starts with `bosTokenId`.
    public var addBosToken: Bool
    /// `encode(_:addSpecialTokens: true)` ends with `eosTokenIds[0]`.
    public var addEosToken: Bool
    /// The Hugging Face files this spec was read from, verbatim, so a converter can write them
    /// back losslessly. Not used for tokenizing.
    public var huggingFaceTokenizerJSON: String?
    public var huggingFaceTokenizerConfigJSON: String?

    public init(model: Model, tokens: [String], merges: [Merge] = [], addedTokens: [AddedToken] = [],
                normalizer: Normalizer = .none, preTokenizer: PreTokenizer = .none,
                decoder: Decoder = .none, byteFallback: Bool = false, fuseUnknown: Bool = false,
                unknownTokenId: Int32? = nil, ignoreMerges: Bool = false, bosTokenId: Int32? = nil,
                eosTokenIds: [Int32] = [], padTokenId: Int32? = nil, addBosToken: Bool = false,
                addEosToken: Bool = false, huggingFaceTokenizerJSON: String? = nil,
                huggingFaceTokenizerConfigJSON: String? = nil) {
        self.model = model
        self.tokens = tokens
        self.merges = merges
        self.addedTokens = addedTokens
        self.normalizer = normalizer
        self.preTokenizer = preTokenizer
        self.decoder = decoder
        self.byteFallback = byteFallback
        self.fuseUnknown = fuseUnknown
        self.unknownTokenId = unknownTokenId
        self.ignoreMerges = ignoreMerges
        self.bosTokenId = bosTokenId
        self.eosTokenIds = eosTokenIds
        self.padTokenId = padTokenId
        self.addBosToken = addBosToken
        self.addEosToken = addEosToken
        self.huggingFaceTokenizerJSON = huggingFaceTokenizerJSON
        self.huggingFaceTokenizerConfigJSON = huggingFaceTokenizerConfigJSON
    }

    /// Equality with token strings compared by their bytes: Swift's `String ==` would call the
    /// tokens "é" and "e\u{301}" equal, which for a tokenizer they are not.
    public static func == (a: TokenizerSpec, b: TokenizerSpec) -> Bool {
        func same(_ x: String?, _ y: String?) -> Bool {
            switch (x, y) {
            case (nil, nil): return true
            case let (x?, y?): return x.isExactly(y)
            default: return false
            }
        }
        return a.model == b.model && a.tokens.count == b.tokens.count && zip(a.tokens, b.tokens).allSatisfy { $0.isExactly($1) }
            && a.merges == b.merges && a.addedTokens == b.addedTokens && a.normalizer == b.normalizer
            && a.preTokenizer == b.preTokenizer && a.decoder == b.decoder && a.byteFallback == b.byteFallback
            && a.fuseUnknown == b.fuseUnknown && a.unknownTokenId == b.unknownTokenId && a.ignoreMerges == b.ignoreMerges
            && a.bosTokenId == b.bosTokenId && a.eosTokenIds == b.eosTokenIds && a.padTokenId == b.padTokenId
            && a.addBosToken == b.addBosToken && a.addEosToken == b.addEosToken
            && same(a.huggingFaceTokenizerJSON, b.huggingFaceTokenizerJSON)
            && same(a.huggingFaceTokenizerConfigJSON, b.huggingFaceTokenizerConfigJSON)
    }

    /// Every id: the model vocabulary plus added tokens beyond it.
    public var vocabularySize: Int {
        addedTokens.reduce(tokens.count) { max($0, Int($1.id) + 1) }
    }

    /// The byte tokenizer of models trained from scratch here.
    ///
    /// Ids 0...255 are the bytes of the UTF-8 text (named `<0x00>`...`<0xFF>`), then four special
    /// tokens: `<|bos|>` = 256, `<|eos|>` = 257, `<|startthought|>` = 258, `<|endthought|>` = 259.
    /// Encoding adds BOS (not EOS); the specials are recognized in the text like any Hugging
    /// Face special token. Decoding reads the bytes as UTF-8 with U+FFFD for invalid sequences,
    /// exactly as a byte-level BPE with no merges would in Hugging Face.
    public static func byteLevel() -> TokenizerSpec {
        let specials = ["<|bos|>", "<|eos|>", "<|startthought|>", "<|endthought|>"]
        return TokenizerSpec(
            model: .byte,
            tokens: (0...255).map { byteTokenName(UInt8($0)) },
            addedTokens: specials.enumerated().map { AddedToken(id: Int32(256 + $0.offset), content: $0.element) },
            decoder: .byteLevel,
            bosTokenId: 256, eosTokenIds: [257], addBosToken: true)
    }

    /// `<0xAB>`: the name of a byte token (SentencePiece byte fallback, the byte model).
    public static func byteTokenName(_ byte: UInt8) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        return String(decoding: [0x3C, 0x30, 0x78, hex[Int(byte >> 4)], hex[Int(byte & 15)], 0x3E], as: UTF8.self)
    }
}
