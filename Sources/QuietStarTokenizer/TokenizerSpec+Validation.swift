import QuietStarJSON

extension TokenizerSpec {
    /// Checks the invariants `Tokenizer` relies on, naming the first offending field.
    ///
    /// Both readers call it, and `Tokenizer(spec:)` calls it again because a spec is a plain
    /// struct anyone can edit. The rules are those of Hugging Face `tokenizers` where it has
    /// them (a merge must produce a vocabulary entry), plus the restrictions of this
    /// implementation (dense ids, supported combinations of pipeline stages).
    public func validate() throws(TokenizerError) {
        func fail(_ field: String, _ message: String) -> TokenizerError {
            TokenizerError("spec: " + field, message)
        }
        guard !tokens.isEmpty else { throw fail("tokens", "the vocabulary is empty") }
        guard tokens.count < Int(Int32.max) / 2 else {
            throw fail("tokens", "\(tokens.count) tokens; ids must fit in Int32")
        }
        // Token strings by their bytes (see ExactString); entry numbers are ids.
        var index = ByteKeyTable(capacity: tokens.count)
        for (i, t) in tokens.enumerated() {
            var t = t
            let e = t.withUTF8 { index.insert(UnsafeRawBufferPointer($0)) }
            if e != i {
                throw fail("tokens[\(i)]", "\(t.debugDescription) is also tokens[\(e)]; token strings must be unique")
            }
        }
        func idOf(_ s: String) -> Int? {
            var s = s
            let e = s.withUTF8 { index.find(UnsafeRawBufferPointer($0)) }
            return e < 0 ? nil : e
        }

        switch model {
        case .byte:
            for b in 0..<256 where b >= tokens.count || tokens[b] != Self.byteTokenName(UInt8(b)) {
                throw fail("tokens[\(b)]", "the byte model's ids 0...255 must be named <0x00>...<0xFF>")
            }
            guard tokens.count == 256 else { throw fail("tokens", "the byte model has exactly 256 tokens (specials are added tokens)") }
            guard merges.isEmpty else { throw fail("merges", "the byte model has no merges") }
            guard normalizer == .none, preTokenizer == .none else {
                throw fail("normalizer", "the byte model takes the text's bytes as they are: normalizer and pre-tokenizer must be none")
            }
            guard decoder == .byteLevel else { throw fail("decoder", "the byte model decodes with .byteLevel") }
            guard !byteFallback, unknownTokenId == nil, !ignoreMerges else {
                throw fail("byteFallback", "byte fallback, an unknown token and ignoreMerges are BPE options")
            }
        case .bpe:
            for (rank, m) in merges.enumerated() {
                guard m.left.utf8.first != 0, !(m.left.utf8.contains(0x20) && m.left.utf8.contains(0)) else {
                    throw fail("merges[\(rank)]", "\(m.left.debugDescription) starts with U+0000 or contains both a space and U+0000, which tokenizer.merges cannot store")
                }
                let merged = m.left + m.right   // byte concatenation: String + never normalizes
                guard idOf(m.left) != nil, idOf(m.right) != nil, idOf(merged) != nil else {
                    let missing = idOf(m.left) == nil ? m.left : idOf(m.right) == nil ? m.right : merged
                    throw fail("merges[\(rank)]", "\(m.left.debugDescription) + \(m.right.debugDescription): \(missing.debugDescription) is not in the vocabulary")
                }
            }
        }

        switch (normalizer, preTokenizer) {
        case (.legacyMetaspace(let r), .none):
            guard !r.isEmpty else { throw fail("normalizer", "the legacy Metaspace replacement is empty") }
        case (.legacyMetaspace, _):
            throw fail("normalizer", "the legacy Metaspace normalizer is only supported without a pre-tokenizer (as in Llama-2's tokenizer.json)")
        case (_, .metaspace(let r, _, _)):
            guard r.unicodeScalars.count == 1 else {
                throw fail("preTokenizer", "the Metaspace replacement must be one character, found \(r.debugDescription)")
            }
        default:
            break
        }
        switch decoder {
        case .sentencePiece(let r, _, _), .metaspace(let r, _):
            guard r.unicodeScalars.count == 1 else {
                throw fail("decoder", "the decoder's replacement must be one character, found \(r.debugDescription)")
            }
        case .none, .byteLevel:
            break
        }

        var addedIds = Set<Int32>()
        var addedContents = Set<ExactString>()
        for (i, a) in addedTokens.enumerated() {
            let field = "addedTokens[\(i)]"
            guard !a.content.isEmpty else { throw fail(field, "empty content") }
            guard a.id >= 0 else { throw fail(field, "negative id \(a.id)") }
            guard addedIds.insert(a.id).inserted else { throw fail(field, "id \(a.id) is used by an earlier added token") }
            guard addedContents.insert(ExactString(a.content)).inserted else {
                throw fail(field, "\(a.content.debugDescription) is an earlier added token's content too")
            }
            if Int(a.id) < tokens.count {
                guard tokens[Int(a.id)].isExactly(a.content) else {
                    throw fail(field, "id \(a.id) is the vocabulary's \(tokens[Int(a.id)].debugDescription), not \(a.content.debugDescription)")
                }
            } else if let other = idOf(a.content) {
                throw fail(field, "\(a.content.debugDescription) is vocabulary id \(other); it cannot also be id \(a.id)")
            }
        }
        let size = vocabularySize
        let beyond = addedTokens.filter { Int($0.id) >= tokens.count }.count
        guard beyond == size - tokens.count else {
            throw fail("addedTokens", "added token ids beyond the vocabulary must be dense: ids \(tokens.count)..<\(size) are not all used")
        }

        func check(_ field: String, _ id: Int32?, limit: Int) throws(TokenizerError) {
            if let id, id < 0 || Int(id) >= limit {
                throw fail(field, "id \(id) is outside 0..<\(limit)")
            }
        }
        try check("unknownTokenId", unknownTokenId, limit: tokens.count)
        try check("bosTokenId", bosTokenId, limit: size)
        try check("padTokenId", padTokenId, limit: size)
        for (i, e) in eosTokenIds.enumerated() { try check("eosTokenIds[\(i)]", e, limit: size) }
        guard !addBosToken || bosTokenId != nil else { throw fail("addBosToken", "set, but there is no bosTokenId") }
        guard !addEosToken || !eosTokenIds.isEmpty else { throw fail("addEosToken", "set, but eosTokenIds is empty") }
    }
}
