import QuietStarFormat
import QuietStarJSON
import Synchronization

/// A tokenizer ready to run: `TokenizerSpec` compiled into lookup tables.
///
/// `encode` gives the ids Hugging Face `tokenizers` gives for the same `tokenizer.json`, and
/// `decode` its text. The tables are immutable after init; the only mutable state is a cache of
/// recently merged words behind a lock, which never changes a result. Safe to share across
/// threads.
public final class Tokenizer: Sendable {
    public let spec: TokenizerSpec

    /// Ids `0..<vocabularySize`: the model vocabulary, then added tokens beyond it.
    public var vocabularySize: Int { tokenStrings.count }
    public var bosTokenId: Int32? { spec.bosTokenId }
    public var eosTokenIds: [Int32] { spec.eosTokenIds }
    public var padTokenId: Int32? { spec.padTokenId }

    // MARK: Tables

    /// Every id's string as Hugging Face's `id_to_token` reports it (vocabulary entry, or added
    /// token content, normalized for `normalized` tokens).
    let tokenStrings: [String]
    let isSpecial: [Bool]

    /// True when words are raw bytes (byte-level pre-tokenization; the vocabulary was read
    /// through the byte-level alphabet), false when they are UTF-8 characters.
    let byteLevelWords: Bool
    /// The model vocabulary keyed by the bytes words are made of; entry -> id in `vocabularyIds`.
    let vocabulary: ByteKeyTable
    let vocabularyIds: [Int32]
    /// Byte-level vocabularies may hold tokens outside the alphabet (never produced by
    /// tokenizing, but `id(of:)` must find them).
    let tokensOutsideAlphabet: [ExactString: Int32]
    let merges: MergeTable
    /// Byte-level words: the id of each single byte's token, or -1.
    let byteSymbolIds: [Int32]
    /// UTF-8 words: the id of each single ASCII character's token, or -1.
    let asciiSymbolIds: [Int32]
    /// The `<0xAB>` tokens of byte fallback, or -1.
    let byteFallbackIds: [Int32]

    /// Added tokens matched in the raw text, and those matched in the normalized text.
    let rawAddedTokens: AddedTokenMatcher
    let normalizedAddedTokens: AddedTokenMatcher
    let addedTokenIds: [ExactString: Int32]

    /// Each id's bytes as the decoder produces them (see Decoding.swift), in one arena.
    let tokenByteArena: [UInt8]
    let tokenByteStarts: [Int32]

    let cache = Mutex(WordCache())

    public init(spec: TokenizerSpec) throws(TokenizerError) {
        try spec.validate()
        self.spec = spec
        let size = spec.vocabularySize

        // Hugging Face's id_to_token gives an added token's content, normalized if the token is
        // `normalized` (the legacy normalizer turns "hello world" into "▁hello▁world"), and the
        // decoder sees that string. skip_special_tokens then looks the string up among the
        // specials' contents, so a special whose normalized form differs is not skipped.
        var strings = spec.tokens
        strings.reserveCapacity(size)
        for a in spec.addedTokens.sorted(by: { $0.id < $1.id }) where Int(a.id) >= spec.tokens.count {
            strings.append(a.content)
        }
        for a in spec.addedTokens where a.normalized {
            strings[Int(a.id)] = String(decoding: spec.normalizer.apply(a.content), as: UTF8.self)
        }
        let specialContents = Set(spec.addedTokens.filter(\.special).map { ExactString($0.content) })
        tokenStrings = strings
        isSpecial = strings.map { specialContents.contains(ExactString($0)) }
        addedTokenIds = Dictionary(spec.addedTokens.map { (ExactString($0.content), $0.id) }, uniquingKeysWith: { a, _ in a })

        // The vocabulary, keyed by what words are made of.
        let byteLevel: Bool
        if case .byteLevel = spec.preTokenizer { byteLevel = true } else { byteLevel = false }
        byteLevelWords = byteLevel
        var table = ByteKeyTable(capacity: spec.tokens.count)
        var ids: [Int32] = []
        ids.reserveCapacity(spec.tokens.count)
        var outside: [ExactString: Int32] = [:]
        for (id, token) in spec.tokens.enumerated() {
            var key: [UInt8]
            if spec.model == .byte {
                key = [UInt8(id)]
            } else if byteLevel {
                guard let bytes = ByteLevelAlphabet.bytes(of: token) else {
                    outside[ExactString(token)] = Int32(id)
                    continue
                }
                key = bytes
            } else {
                key = Array(token.utf8)
            }
            let entry = key.withUnsafeBytes { table.insert($0) }
            precondition(entry == ids.count, "validated: token keys are unique")
            ids.append(Int32(id))
        }
        vocabulary = table
        vocabularyIds = ids
        tokensOutsideAlphabet = outside

        func lookup(_ bytes: [UInt8]) -> Int32 {
            let e = bytes.withUnsafeBytes { table.find($0) }
            return e < 0 ? -1 : ids[e]
        }
        func idOfVocabularyToken(_ token: String) -> Int32 {
            if spec.model == .byte { return -1 }
            if byteLevel {
                guard let bytes = ByteLevelAlphabet.bytes(of: token) else { return -1 }
                return lookup(bytes)
            }
            return lookup(Array(token.utf8))
        }
        byteSymbolIds = (0..<256).map { lookup([UInt8($0)]) }
        asciiSymbolIds = (0..<128).map { lookup([UInt8($0)]) }
        byteFallbackIds = (0..<256).map { b in
            let name = TokenizerSpec.byteTokenName(UInt8(b))
            return spec.model == .byte ? -1 : idOfVocabularyToken(name)
        }

        // Merges between tokens that tokenizing can produce.
        var mergeTable = MergeTable(capacity: spec.merges.count)
        for (rank, m) in spec.merges.enumerated() {
            let l = idOfVocabularyToken(m.left), r = idOfVocabularyToken(m.right), j = idOfVocabularyToken(m.left + m.right)
            if l >= 0 && r >= 0 && j >= 0 { mergeTable.set(l, r, rank: rank, result: j) }
        }
        merges = mergeTable

        // Added tokens: Hugging Face matches the non-normalized ones in the raw text first, then
        // the normalized ones (their content normalized too) in each normalized segment.
        func entry(_ a: TokenizerSpec.AddedToken, _ bytes: [UInt8]) -> (bytes: [UInt8], pattern: AddedTokenMatcher.Pattern) {
            (bytes, .init(id: a.id, lstrip: a.lstrip, rstrip: a.rstrip, singleWord: a.singleWord))
        }
        let ordered = spec.addedTokens.filter(\.special) + spec.addedTokens.filter { !$0.special }
        rawAddedTokens = AddedTokenMatcher(ordered.filter { !$0.normalized }.map { entry($0, Array($0.content.utf8)) })
        normalizedAddedTokens = AddedTokenMatcher(ordered.filter(\.normalized).map { entry($0, spec.normalizer.apply($0.content)) })

        var arena: [UInt8] = []
        var starts: [Int32] = [0]
        starts.reserveCapacity(size + 1)
        for id in 0..<size {
            arena.append(contentsOf: Self.decodedBytes(of: strings[id], id: id, spec: spec))
            starts.append(Int32(arena.count))
        }
        tokenByteArena = arena
        tokenByteStarts = starts
    }

    /// Reads a tokenizer stored in `.qstar` metadata (`TokenizerMetadataKey`).
    public convenience init(metadata: Metadata) throws(TokenizerError) {
        try self.init(spec: TokenizerSpec(metadata: metadata))
    }

    /// Hugging Face's `token_to_id`: an added token's content, or a vocabulary token string in
    /// the vocabulary's own alphabet ("Ġthe", "▁the").
    public func id(of token: String) -> Int32? {
        if let id = addedTokenIds[ExactString(token)] { return id }
        if let id = tokensOutsideAlphabet[ExactString(token)] { return id }
        let key: [UInt8]
        if spec.model == .byte {
            return spec.tokens.firstIndex { $0.isExactly(token) }.map { Int32($0) }
        } else if byteLevelWords {
            guard let bytes = ByteLevelAlphabet.bytes(of: token) else { return nil }
            key = bytes
        } else {
            key = Array(token.utf8)
        }
        let e = key.withUnsafeBytes { vocabulary.find($0) }
        return e < 0 ? nil : vocabularyIds[e]
    }

    /// The token string of `id` as Hugging Face's `id_to_token` reports it, or nil.
    public func token(of id: Int32) -> String? {
        id >= 0 && Int(id) < tokenStrings.count ? tokenStrings[Int(id)] : nil
    }

    /// Whether `decode(_:skipSpecialTokens: true)` skips `id`: a special added token (unless it is
    /// `normalized` and its normalized form differs from its content, as in Hugging Face).
    public func isSpecialToken(_ id: Int32) -> Bool {
        id >= 0 && Int(id) < isSpecial.count && isSpecial[Int(id)]
    }
}

