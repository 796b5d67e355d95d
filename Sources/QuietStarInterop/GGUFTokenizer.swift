import QuietStarFormat
import QuietStarGGUF
import QuietStarTokenizer

/// `tokenizer.ggml.*` metadata -> `TokenizerSpec`, the tokenizer Hugging Face `tokenizers` builds
/// for the same model, so ids match it id for id.
///
/// - `gpt2` (byte-level BPE): tokens, merges (`"left right"`), and the split regex named by
///   `tokenizer.ggml.pre` (llama.cpp identifies it by name: `gpt-2`, `smollm`, `llama-bpe`,
///   `qwen2`; other names are refused rather than guessed).
/// - `llama` (SentencePiece): tokens and scores; the merges, when the file has none, are derived
///   from the scores the way `tokenizers`' SentencePiece conversion derives them (every split of
///   a piece into two vocabulary pieces, pieces by descending score). Byte tokens (`<0xAB>`,
///   type 6) mean byte fallback; `add_space_prefix` (default true) is the legacy `▁` prefix.
/// - Token types 3 (control) and 4 (user-defined) are Hugging Face added tokens: matched in the
///   text before anything else, control ones special (skipped when decoding without specials).
enum GGUFTokenizer {
    enum TokenType: Int32 { case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6 }

    static func spec(_ layout: GGUFLayout, path: String) throws(InteropError) -> TokenizerSpec {
        func fail(_ key: String, _ message: String, _ kind: InteropError.Kind = .invalidInput) -> InteropError {
            InteropError(kind, path: path, field: key, message)
        }
        func strings(_ key: String) throws(InteropError) -> [String]? {
            guard let v = layout[key] else { return nil }
            guard case let .array(.string, items) = v else { throw fail(key, "must be an array of strings") }
            return items.map { $0.stringValue! }
        }
        func id(_ key: String, below count: Int) throws(InteropError) -> Int32? {
            guard let v = layout[key] else { return nil }
            guard let u = v.unsignedValue, u < UInt64(count) else { throw fail(key, "\(v) is not a token id below \(count)") }
            return Int32(u)
        }
        func flag(_ key: String, _ fallback: Bool) throws(InteropError) -> Bool {
            guard let v = layout[key] else { return fallback }
            guard let b = v.boolValue else { throw fail(key, "must be a bool") }
            return b
        }

        guard let model = layout["tokenizer.ggml.model"]?.stringValue else {
            throw fail("tokenizer.ggml.model", "missing: the file carries no tokenizer, and a .qstar file must")
        }
        guard let tokens = try strings("tokenizer.ggml.tokens"), !tokens.isEmpty else {
            throw fail("tokenizer.ggml.tokens", "missing or empty")
        }
        var types = [Int32](repeating: TokenType.normal.rawValue, count: tokens.count)
        if let v = layout["tokenizer.ggml.token_type"] {
            guard case let .array(_, items) = v, items.count == tokens.count else {
                throw fail("tokenizer.ggml.token_type", "must be an array of \(tokens.count) integers, one per token")
            }
            for (i, item) in items.enumerated() {
                guard case let .int32(t) = item else { throw fail("tokenizer.ggml.token_type", "element \(i) is not an int32") }
                types[i] = t
            }
        }
        let added: [TokenizerSpec.AddedToken] = types.enumerated().compactMap { i, t in
            guard t == TokenType.control.rawValue || t == TokenType.userDefined.rawValue else { return nil }
            let special = t == TokenType.control.rawValue
            return TokenizerSpec.AddedToken(id: Int32(i), content: tokens[i], special: special, normalized: !special)
        }
        let bos = try id("tokenizer.ggml.bos_token_id", below: tokens.count)
        let eos = try id("tokenizer.ggml.eos_token_id", below: tokens.count)
        let pad = try id("tokenizer.ggml.padding_token_id", below: tokens.count)
        let addBos = try flag("tokenizer.ggml.add_bos_token", model == "llama")
        let addEos = try flag("tokenizer.ggml.add_eos_token", false)
        if addBos && bos == nil { throw fail("tokenizer.ggml.add_bos_token", "true, but there is no tokenizer.ggml.bos_token_id") }
        if addEos && eos == nil { throw fail("tokenizer.ggml.add_eos_token", "true, but there is no tokenizer.ggml.eos_token_id") }

        var spec: TokenizerSpec
        switch model {
        case "gpt2":
            guard let merges = try strings("tokenizer.ggml.merges") else {
                throw fail("tokenizer.ggml.merges", "missing: a gpt2 (byte-level BPE) tokenizer needs its merges")
            }
            let pre = layout["tokenizer.ggml.pre"]?.stringValue ?? "default"
            let pattern: TokenizerSpec.SplitPattern
            var normalizer = TokenizerSpec.Normalizer.none
            var ignoreMerges = false
            switch pre {
            case "gpt-2": pattern = .gpt2
            case "smollm": pattern = .gpt2Digits
            case "llama-bpe", "llama3", "llama-v3":
                pattern = .llama3
                ignoreMerges = true
            case "qwen2":
                pattern = .qwen2
                normalizer = .nfc
            default:
                throw fail("tokenizer.ggml.pre", "pre-tokenizer \"\(pre)\" is not supported (supported: gpt-2, smollm, llama-bpe, qwen2)", .unsupported)
            }
            spec = TokenizerSpec(
                model: .bpe, tokens: tokens, merges: try splitMerges(merges, path: path), addedTokens: added,
                normalizer: normalizer,
                preTokenizer: .byteLevel(addPrefixSpace: try flag("tokenizer.ggml.add_space_prefix", false), pattern: pattern),
                decoder: .byteLevel, ignoreMerges: ignoreMerges)
        case "llama":
            let merges: [TokenizerSpec.Merge]
            if let stored = try strings("tokenizer.ggml.merges") {
                merges = try splitMerges(stored, path: path)
            } else {
                guard case let .array(.float32, items)? = layout["tokenizer.ggml.scores"], items.count == tokens.count else {
                    throw fail("tokenizer.ggml.scores", "must be an array of \(tokens.count) float32 values when there are no merges")
                }
                let scores = items.map { v -> Float in if case let .float32(f) = v { return f }; return 0 }
                merges = sentencePieceMerges(tokens: tokens, scores: scores)
            }
            let byteFallback = types.contains(TokenType.byte.rawValue)
            let prefix = try flag("tokenizer.ggml.add_space_prefix", true)
            let unk = try id("tokenizer.ggml.unknown_token_id", below: tokens.count)
            spec = TokenizerSpec(
                model: .bpe, tokens: tokens, merges: merges, addedTokens: added,
                normalizer: prefix ? .legacyMetaspace(replacement: "\u{2581}") : .none,
                preTokenizer: prefix ? .none : .metaspace(replacement: "\u{2581}", prependScheme: .never, split: false),
                decoder: .sentencePiece(replacement: "\u{2581}", byteFallback: byteFallback, stripLeadingSpace: prefix),
                byteFallback: byteFallback, fuseUnknown: true, unknownTokenId: unk)
        default:
            throw fail("tokenizer.ggml.model", "\"\(model)\" is not supported (supported: gpt2, llama)", .unsupported)
        }
        spec.bosTokenId = bos
        spec.eosTokenIds = eos.map { [$0] } ?? []
        spec.padTokenId = pad
        spec.addBosToken = addBos
        spec.addEosToken = addEos
        do throws(TokenizerError) {
            try spec.validate()
            // Our own exports name the exact pipeline stages (GGUFTokenizerExport.pipelineKeys).
            if layout["quietstar.tokenizer.pre_tokenizer"] != nil {
                var entries = spec.metadata.entries.filter { !GGUFTokenizerExport.pipelineKeys.contains($0.key) }
                for (key, value) in layout.metadata where key.hasPrefix("quietstar.tokenizer.") {
                    let ours = String(key.dropFirst("quietstar.".count))
                    if GGUFTokenizerExport.pipelineKeys.contains(ours), let v = MetadataValue(gguf: value) { entries.append((ours, v)) }
                }
                spec = try TokenizerSpec(metadata: Metadata(entries))
            }
        } catch {
            throw fail("tokenizer.ggml.tokens", "the tokenizer is not one we can run: \(error)")
        }
        return spec
    }

    /// `"left right"` entries, split at the first space (byte-level and SentencePiece tokens
    /// never contain one).
    static func splitMerges(_ entries: [String], path: String) throws(InteropError) -> [TokenizerSpec.Merge] {
        var merges: [TokenizerSpec.Merge] = []
        merges.reserveCapacity(entries.count)
        for (i, e) in entries.enumerated() {
            guard let space = e.utf8.firstIndex(of: 0x20) else {
                throw InteropError(.invalidInput, path: path, field: "tokenizer.ggml.merges[\(i)]", "\(e.debugDescription) has no space between its two parts")
            }
            let left = String(e[..<space]), right = String(e[e.utf8.index(after: space)...])
            merges.append(TokenizerSpec.Merge(left, right))
        }
        return merges
    }

    /// Merges for a SentencePiece vocabulary that has only scores, as `tokenizers`'
    /// `SentencePieceExtractor` builds them: for each piece, every split into two vocabulary
    /// pieces (ordered by the left piece's id, then the right's), and all of them ordered by
    /// the piece's score, highest first (a stable sort: equal scores keep id order).
    static func sentencePieceMerges(tokens: [String], scores: [Float]) -> [TokenizerSpec.Merge] {
        var ids: [ExactKey: Int] = [:]
        for (i, t) in tokens.enumerated() where ids[ExactKey(t)] == nil { ids[ExactKey(t)] = i }
        var merges: [(merge: TokenizerSpec.Merge, score: Float, order: Int)] = []
        for (i, piece) in tokens.enumerated() where ids[ExactKey(piece)] == i {
            let scalars = Array(piece.unicodeScalars)
            guard scalars.count > 1 else { continue }
            var local: [(Int, Int, TokenizerSpec.Merge)] = []
            for cut in 1..<scalars.count {
                var l = String.UnicodeScalarView(), r = String.UnicodeScalarView()
                l.append(contentsOf: scalars[..<cut])
                r.append(contentsOf: scalars[cut...])
                let left = String(l), right = String(r)
                if let li = ids[ExactKey(left)], let ri = ids[ExactKey(right)] { local.append((li, ri, TokenizerSpec.Merge(left, right))) }
            }
            local.sort { ($0.0, $0.1) < ($1.0, $1.1) }
            for m in local { merges.append((m.2, scores[i], merges.count)) }
        }
        merges.sort { $0.score != $1.score ? $0.score > $1.score : $0.order < $1.order }
        return merges.map(\.merge)
    }

    /// A dictionary key that compares token strings by their bytes (Swift's `String ==` would
    /// equate "é" and "e\u{301}").
    struct ExactKey: Hashable {
        let bytes: [UInt8]
        init(_ s: String) { bytes = Array(s.utf8) }
    }
}
