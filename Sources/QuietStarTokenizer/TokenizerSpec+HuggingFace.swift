import Foundation
import QuietStarJSON

extension TokenizerSpec {
    /// Reads a Hugging Face `tokenizer.json` (and optionally the `tokenizer_config.json` next to it).
    ///
    /// Supported, exactly as `tokenizers` 0.23 runs them: a BPE model (merges as `"a b"` strings
    /// or `["a", "b"]` pairs; `byte_fallback`, `fuse_unk`, `unk_token`, `ignore_merges`); normalizer
    /// null, NFC, or the legacy SentencePiece `Sequence[Prepend("▁"), Replace(" ", "▁")]`;
    /// pre-tokenizer null, `ByteLevel`, `Sequence[Split(regex, Isolated), ByteLevel(use_regex:
    /// false)]` with the GPT-2, Llama-3 or Qwen2 regex, or `Metaspace`; decoder null, `ByteLevel`,
    /// `Metaspace`, or `Sequence[Replace("▁", " "), ByteFallback, Fuse, Strip(" ", 1, 0)]` (the
    /// last three optional); post-processor null, `ByteLevel`, `TemplateProcessing` adding at
    /// most one token before and one after the text, or a `Sequence` of those. Anything else is
    /// rejected with the JSON path of the offending value and what is supported.
    ///
    /// From `tokenizer_config.json`: `bos_token`, `eos_token`, `pad_token`, and, when
    /// `tokenizer.json` has no TemplateProcessing, `add_bos_token`/`add_eos_token`. Without a
    /// config, BOS/EOS ids come from the TemplateProcessing, if any. Both texts are kept verbatim.
    public init(huggingFaceTokenizerJSON: Data, tokenizerConfigJSON: Data?) throws(TokenizerError) {
        let root = try JSONNode.parse(huggingFaceTokenizerJSON, file: "tokenizer.json")
        _ = try root.members()
        if !root["truncation"].isNull {
            throw root["truncation"].error("unsupported truncation; supported: null (encode returns every id of the text; truncate the ids instead)")
        }
        // Padding to the longest sequence of a batch is a no-op for one sequence; anything else pads it.
        let padding = root["padding"]
        if !padding.isNull, padding["strategy"].stringValue != "BatchLongest" || !padding["pad_to_multiple_of"].isNull {
            throw padding.error("unsupported padding \(Self.describe(padding)); supported: null, or BatchLongest without pad_to_multiple_of")
        }

        // The model.
        let model = root["model"]
        let modelType = try model["type"].optionalString() ?? "BPE"
        guard modelType == "BPE" else {
            throw model["type"].error("unsupported model \(modelType.debugDescription); supported: BPE")
        }
        if !model["dropout"].isNull, model["dropout"].value?.doubleValue != 0 {
            throw model["dropout"].error("unsupported dropout \(model["dropout"].text) (random merges); supported: null or 0")
        }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let affix = try model[key].optionalString(), !affix.isEmpty {
                throw model[key].error("unsupported \(affix.debugDescription); supported: null or \"\"")
            }
        }
        let tokens = try Self.readVocabulary(model["vocab"])
        let merges = try Self.readMerges(model["merges"])

        // Added tokens.
        var addedTokens: [AddedToken] = []
        if !root["added_tokens"].isNull {
            for node in try root["added_tokens"].array() {
                let special = try node["special"].bool(or: false)
                let id = try node["id"].int()
                guard id >= 0, id < Int(Int32.max) else { throw node["id"].error("id \(id) out of range") }
                addedTokens.append(AddedToken(
                    id: Int32(id), content: try node["content"].string(), special: special,
                    lstrip: try node["lstrip"].bool(or: false), rstrip: try node["rstrip"].bool(or: false),
                    normalized: try node["normalized"].bool(or: !special),
                    singleWord: try node["single_word"].bool(or: false)))
            }
        }
        var vocabularyIndex: [ExactString: Int32] = [:]
        vocabularyIndex.reserveCapacity(tokens.count)
        for (i, t) in tokens.enumerated() { vocabularyIndex[ExactString(t)] = Int32(i) }
        let addedIndex = Dictionary(addedTokens.map { (ExactString($0.content), $0.id) }, uniquingKeysWith: { a, _ in a })
        /// Hugging Face's `token_to_id`: added tokens first, then the model vocabulary.
        func id(of content: String) -> Int32? { addedIndex[ExactString(content)] ?? vocabularyIndex[ExactString(content)] }

        var unknownTokenId: Int32?
        if let unk = try model["unk_token"].optionalString() {
            guard let i = vocabularyIndex[ExactString(unk)] else {
                throw model["unk_token"].error("\(unk.debugDescription) is not in model.vocab")
            }
            unknownTokenId = i
        }

        let normalizer = try Self.readNormalizer(root["normalizer"])
        let preTokenizer = try Self.readPreTokenizer(root["pre_tokenizer"])
        let decoder = try Self.readDecoder(root["decoder"])
        let template = try Self.readPostProcessor(root["post_processor"])

        // Special ids: tokenizer_config.json names them; the template says what encode adds.
        var config: JSONNode?
        if let tokenizerConfigJSON {
            config = try JSONNode.parse(tokenizerConfigJSON, file: "tokenizer_config.json")
            _ = try config!.members()
        }
        func specialId(_ key: String) throws(TokenizerError) -> Int32? {
            guard let node = config?[key], !node.isNull else { return nil }
            let content = node.stringValue != nil ? try node.string() : try node["content"].string()
            guard let i = id(of: content) else {
                throw node.error("\(content.debugDescription) is neither an added token nor in model.vocab of tokenizer.json")
            }
            return i
        }
        var bos = try specialId("bos_token")
        var eos = try specialId("eos_token")
        let pad = try specialId("pad_token")
        var addBos = false, addEos = false
        if let template {
            let location = "tokenizer.json: post_processor"
            if let first = template.prefix.first {
                if let bos, bos != first {
                    throw TokenizerError(location, "TemplateProcessing adds id \(first) before the text but tokenizer_config.json's bos_token is id \(bos)")
                }
                bos = first
                addBos = true
            }
            if let last = template.suffix.first {
                if let eos, eos != last {
                    throw TokenizerError(location, "TemplateProcessing adds id \(last) after the text but tokenizer_config.json's eos_token is id \(eos)")
                }
                eos = last
                addEos = true
            }
        } else if let config {
            addBos = try config["add_bos_token"].bool(or: false)
            addEos = try config["add_eos_token"].bool(or: false)
            if addBos && bos == nil { throw config["add_bos_token"].error("true, but there is no bos_token") }
            if addEos && eos == nil { throw config["add_eos_token"].error("true, but there is no eos_token") }
        }

        self.init(
            model: .bpe, tokens: tokens, merges: merges, addedTokens: addedTokens,
            normalizer: normalizer, preTokenizer: preTokenizer, decoder: decoder,
            byteFallback: try model["byte_fallback"].bool(or: false),
            fuseUnknown: try model["fuse_unk"].bool(or: false),
            unknownTokenId: unknownTokenId, ignoreMerges: try model["ignore_merges"].bool(or: false),
            bosTokenId: bos, eosTokenIds: eos.map { [$0] } ?? [], padTokenId: pad,
            addBosToken: addBos, addEosToken: addEos,
            huggingFaceTokenizerJSON: String(decoding: huggingFaceTokenizerJSON, as: UTF8.self),
            huggingFaceTokenizerConfigJSON: tokenizerConfigJSON.map { String(decoding: $0, as: UTF8.self) })
        try validate()
    }

    // MARK: Components

    /// `model.vocab`: ids must be exactly 0..<count (every released vocabulary is dense).
    private static func readVocabulary(_ node: JSONNode) throws(TokenizerError) -> [String] {
        let vocab = try node.members()
        var tokens = [String?](repeating: nil, count: vocab.count)
        for (token, value) in vocab {
            guard let i = value.int64Value, i >= 0, i < vocab.count else {
                let entry = node.member(token, value)
                throw entry.error("expected an id in 0..<\(vocab.count) (ids must be dense), found \(entry.kind)")
            }
            let id = Int(i)
            if let other = tokens[id] {
                throw node.member(token, value).error("id \(id) is also \(other.debugDescription)'s; ids must be unique")
            }
            tokens[id] = token
        }
        return tokens.map { $0! }   // count distinct ids in 0..<count: all filled
    }

    /// `model.merges`: `"left right"` strings (files before tokenizers 0.20) or `[left, right]`.
    private static func readMerges(_ node: JSONNode) throws(TokenizerError) -> [Merge] {
        if node.isNull { return [] }
        var merges: [Merge] = []
        let entries = try node.rawArray()
        merges.reserveCapacity(entries.count)
        for (i, value) in entries.enumerated() {
            if case .string(let line) = value {
                // As tokenizers' convert_merges_to_hashmap: exactly one space; "#version" lines skipped.
                if line.hasPrefix("#version") { continue }
                let parts = line.split(separator: " ", omittingEmptySubsequences: false)
                guard parts.count == 2 else {
                    throw node.element(i, value).error("a merge string must be two tokens separated by one space, found \(line.debugDescription)")
                }
                merges.append(Merge(String(parts[0]), String(parts[1])))
            } else if case .array(let pair) = value, pair.count == 2, case .string(let left) = pair[0], case .string(let right) = pair[1] {
                merges.append(Merge(left, right))
            } else {
                throw node.element(i, value).error("a merge must be \"left right\" or [\"left\", \"right\"], found \(node.element(i, value).kind)")
            }
        }
        return merges
    }

    private static func unsupported(_ node: JSONNode, _ what: String, supported: String) -> TokenizerError {
        node.error("unsupported \(what); supported: \(supported)")
    }

    private static func describe(_ node: JSONNode) -> String { node.text }

    private static func readNormalizer(_ node: JSONNode) throws(TokenizerError) -> Normalizer {
        let supported = "null, NFC, Sequence[Prepend(\"▁\"), Replace(\" \", \"▁\")] (legacy SentencePiece)"
        if node.isNull { return .none }
        switch try node.type() {
        case "NFC":
            return .nfc
        case "Sequence":
            let steps = try node["normalizers"].array()
            if steps.isEmpty { return .none }
            if steps.count == 1 { return try readNormalizer(steps[0]) }
            if steps.count == 2 {
                let types = [try steps[0].type(), try steps[1].type()]
                if let p = types.firstIndex(of: "Prepend"), let r = types.firstIndex(of: "Replace") {
                    let prepend = try steps[p]["prepend"].string()
                    let pattern = steps[r]["pattern"]["String"]
                    let content = try steps[r]["content"].string()
                    if pattern.stringValue == " ", content == prepend, !prepend.isEmpty {
                        return .legacyMetaspace(replacement: prepend)
                    }
                }
            }
            throw unsupported(node, "normalizer \(describe(node))", supported: supported)
        default:
            throw unsupported(node, "normalizer \(describe(node))", supported: supported)
        }
    }

    private static func readPreTokenizer(_ node: JSONNode) throws(TokenizerError) -> PreTokenizer {
        let supported = "null, ByteLevel, Sequence[Split(GPT-2, Llama-3 or Qwen2 regex, Isolated), ByteLevel(add_prefix_space: false, use_regex: false)], Sequence[Digits(individual_digits: true), ByteLevel(add_prefix_space: false)], Metaspace"
        if node.isNull { return .none }
        switch try node.type() {
        case "ByteLevel":
            let regex = try node["use_regex"].bool(or: true)
            return .byteLevel(addPrefixSpace: try node["add_prefix_space"].bool(or: true), pattern: regex ? .gpt2 : nil)
        case "Metaspace":
            return .metaspace(replacement: try metaspaceReplacement(node), prependScheme: try prependScheme(node),
                              split: try node["split"].bool(or: true))
        case "Sequence":
            let steps = try node["pretokenizers"].array()
            if steps.count == 1 { return try readPreTokenizer(steps[0]) }
            // SmolLM: every digit alone, then GPT-2's byte-level regex on the rest.
            if steps.count == 2, try steps[0].type() == "Digits", try steps[1].type() == "ByteLevel" {
                guard try steps[0]["individual_digits"].bool(or: false) else {
                    throw unsupported(steps[0], "Digits(individual_digits: false)", supported: "individual_digits: true")
                }
                guard try !steps[1]["add_prefix_space"].bool(or: true), try steps[1]["use_regex"].bool(or: true) else {
                    throw unsupported(steps[1], "ByteLevel after Digits with add_prefix_space or without use_regex",
                                      supported: "add_prefix_space: false, use_regex: true")
                }
                return .byteLevel(addPrefixSpace: false, pattern: .gpt2Digits)
            }
            if steps.count == 2, try steps[0].type() == "Split", try steps[1].type() == "ByteLevel" {
                let split = steps[0], byteLevel = steps[1]
                let pattern = split["pattern"]["Regex"]
                guard let regex = pattern.stringValue else {
                    throw unsupported(split["pattern"], "split pattern \(describe(split["pattern"]))",
                                      supported: "{\"Regex\": <the GPT-2, Llama-3 or Qwen2 pattern>}")
                }
                guard let known = SplitPattern.allCases.first(where: { $0.regex == regex }) else {
                    throw unsupported(pattern, "split regex \(regex.debugDescription)", supported: "GPT-2, Llama-3, Qwen2 (exactly as in their tokenizer.json)")
                }
                guard try split["behavior"].string() == "Isolated" else {
                    throw unsupported(split["behavior"], "split behavior \(try split["behavior"].string())", supported: "Isolated")
                }
                guard try !split["invert"].bool(or: false) else {
                    throw unsupported(split["invert"], "invert: true", supported: "false")
                }
                guard try !byteLevel["add_prefix_space"].bool(or: true), try !byteLevel["use_regex"].bool(or: true) else {
                    throw unsupported(byteLevel, "ByteLevel after Split with add_prefix_space or use_regex set",
                                      supported: "add_prefix_space: false, use_regex: false")
                }
                return .byteLevel(addPrefixSpace: false, pattern: known)
            }
            throw unsupported(node, "pre-tokenizer \(describe(node))", supported: supported)
        default:
            throw unsupported(node, "pre-tokenizer \(describe(node))", supported: supported)
        }
    }

    private static func metaspaceReplacement(_ node: JSONNode) throws(TokenizerError) -> String {
        let r = try node["replacement"].string()
        guard r.unicodeScalars.count == 1 else { throw node["replacement"].error("must be one character, found \(r.debugDescription)") }
        return r
    }

    /// `prepend_scheme`, or the older `add_prefix_space` (false: never, otherwise always).
    private static func prependScheme(_ node: JSONNode) throws(TokenizerError) -> PrependScheme {
        if let name = try node["prepend_scheme"].optionalString() {
            guard let scheme = PrependScheme(rawValue: name) else {
                throw unsupported(node["prepend_scheme"], "prepend_scheme \(name.debugDescription)", supported: "first, always, never")
            }
            return scheme
        }
        return try node["add_prefix_space"].bool(or: true) ? .always : .never
    }

    private static func readDecoder(_ node: JSONNode) throws(TokenizerError) -> Decoder {
        let supported = "null, ByteLevel, Metaspace, Sequence[Replace(\"▁\", \" \"), ByteFallback, Fuse, Strip(\" \", 1, 0)] (ByteFallback and Strip optional)"
        if node.isNull { return .none }
        switch try node.type() {
        case "ByteLevel":
            return .byteLevel
        case "Metaspace":
            return .metaspace(replacement: try metaspaceReplacement(node), prependScheme: try prependScheme(node))
        case "Sequence":
            let steps = try node["decoders"].array()
            if steps.count == 1, try steps[0].type() != "Replace" { return try readDecoder(steps[0]) }
            let types = try steps.map { (s) throws(TokenizerError) in try s.type() }
            let shapes: [[String]] = [["Replace", "ByteFallback", "Fuse", "Strip"], ["Replace", "ByteFallback", "Fuse"],
                                      ["Replace", "Fuse", "Strip"], ["Replace", "Fuse"]]
            if shapes.contains(types) {
                let replace = steps[0]
                let pattern = replace["pattern"]["String"]
                guard let r = pattern.stringValue, r.unicodeScalars.count == 1,
                      try replace["content"].string() == " " else {
                    throw unsupported(replace, "Replace \(describe(replace))", supported: "Replace(\"▁\", \" \") with a one-character pattern")
                }
                var strip = false
                if types.last == "Strip" {
                    let s = steps[steps.count - 1]
                    guard try s["content"].string() == " ", try s["start"].int() == 1, try s["stop"].int() == 0 else {
                        throw unsupported(s, "Strip \(describe(s))", supported: "Strip(content: \" \", start: 1, stop: 0)")
                    }
                    strip = true
                }
                return .sentencePiece(replacement: r, byteFallback: types.contains("ByteFallback"), stripLeadingSpace: strip)
            }
            throw unsupported(node, "decoder \(describe(node))", supported: supported)
        default:
            throw unsupported(node, "decoder \(describe(node))", supported: supported)
        }
    }

    /// The ids a TemplateProcessing puts around a single sequence; nil without a template.
    private static func readPostProcessor(_ node: JSONNode) throws(TokenizerError) -> (prefix: [Int32], suffix: [Int32])? {
        let supported = "null, ByteLevel, TemplateProcessing adding at most one token before and one after $A, Sequence of these"
        if node.isNull { return nil }
        switch try node.type() {
        case "ByteLevel":
            return nil   // offsets only; ids are unchanged
        case "Sequence":
            var found: (prefix: [Int32], suffix: [Int32])?
            for step in try node["processors"].array() {
                if let t = try readPostProcessor(step) {
                    guard found == nil else { throw unsupported(step, "a second TemplateProcessing", supported: supported) }
                    found = t
                }
            }
            return found
        case "TemplateProcessing":
            var prefix: [Int32] = [], suffix: [Int32] = []
            var seenSequence = false
            for item in try node["single"].array() {
                if item["Sequence"].exists {
                    guard try item["Sequence"]["id"].string() == "A", !seenSequence else {
                        throw unsupported(item, "template item \(describe(item))", supported: "exactly one {\"Sequence\": {\"id\": \"A\"}}")
                    }
                    seenSequence = true
                } else if item["SpecialToken"].exists {
                    let name = try item["SpecialToken"]["id"].string()
                    let special = node["special_tokens"][name]
                    guard special.exists else { throw item.error("\(name.debugDescription) is not in post_processor.special_tokens") }
                    let ids = try special["ids"].array().map { (i) throws(TokenizerError) -> Int32 in
                        let v = try i.int()
                        guard v >= 0, v < Int(Int32.max) else { throw i.error("id \(v) out of range") }
                        return Int32(v)
                    }
                    if seenSequence { suffix += ids } else { prefix += ids }
                } else {
                    throw unsupported(item, "template item \(describe(item))", supported: "SpecialToken, Sequence")
                }
            }
            guard seenSequence else { throw node["single"].error("the template has no {\"Sequence\": {\"id\": \"A\"}}") }
            guard prefix.count <= 1, suffix.count <= 1 else {
                throw unsupported(node["single"], "template adding \(prefix.count) ids before and \(suffix.count) after the text",
                                  supported: "at most one before (BOS) and one after (EOS)")
            }
            return (prefix, suffix)
        default:
            throw unsupported(node, "post-processor \(describe(node))", supported: supported)
        }
    }
}
