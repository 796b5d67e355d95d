/// `decode`, `decodeBytes`, streaming and per-token display.
///
/// `decode` reproduces Hugging Face's decoders exactly, including how they treat bytes that are
/// not UTF-8: the ByteLevel decoder reads all bytes at once with one U+FFFD per maximal invalid
/// subsequence (Rust's `from_utf8_lossy`, which Swift's `String(decoding:as:)` matches), while
/// ByteFallback turns a whole run of `<0xAB>` tokens that is not valid UTF-8 into one U+FFFD per
/// byte. `decodeBytes` and `StreamingDecoder` work on the raw bytes instead, so streamed text is
/// `String(decoding: decodeBytes(ids), as: UTF8.self)`, equal to `decode` whenever the output is
/// valid UTF-8.
extension Tokenizer {
    /// The text of `ids`, as Hugging Face `tokenizers` `decode(ids, skip_special_tokens:)`.
    /// Ids outside the vocabulary are dropped (as Hugging Face drops them).
    public func decode(_ ids: [Int32], skipSpecialTokens: Bool = false) -> String {
        let kept = keptIds(ids, skipSpecialTokens)
        switch spec.decoder {
        case .byteLevel:
            return String(decoding: concatenatedBytes(kept), as: UTF8.self)
        case .none:
            return kept.map { tokenStrings[Int($0)] }.joined(separator: " ")
        case .sentencePiece(let replacement, let byteFallback, let stripLeadingSpace):
            let r = replacement.unicodeScalars.first!
            var out = String.UnicodeScalarView()
            var run: [UInt8] = []
            func flushRun() {
                guard !run.isEmpty else { return }
                if let text = String(validating: run, as: UTF8.self) {
                    out.append(contentsOf: text.unicodeScalars)
                } else {
                    out.append(contentsOf: repeatElement("\u{FFFD}" as Unicode.Scalar, count: run.count))
                }
                run.removeAll()
            }
            for id in kept {
                let piece = Self.replacing(r, with: " ", in: tokenStrings[Int(id)])
                if byteFallback, let b = Self.byteTokenValue(piece) {
                    run.append(b)
                } else {
                    flushRun()
                    out.append(contentsOf: piece.unicodeScalars)
                }
            }
            flushRun()
            if stripLeadingSpace && out.first == " " { out.removeFirst() }
            return String(out)
        case .metaspace(let replacement, let scheme):
            let r = replacement.unicodeScalars.first!
            var out = String.UnicodeScalarView()
            for (i, id) in kept.enumerated() {
                for s in tokenStrings[Int(id)].unicodeScalars {
                    if s != r {
                        out.append(s)
                    } else if i > 0 || scheme == .never {
                        out.append(" ")
                    }
                }
            }
            return String(out)
        }
    }

    /// The raw bytes `ids` decode to, before any UTF-8 validation: byte-level tokens' bytes,
    /// byte-fallback tokens' bytes, other tokens' text (with the decoder's space handling).
    public func decodeBytes(_ ids: [Int32], skipSpecialTokens: Bool = false) -> [UInt8] {
        var bytes: [UInt8] = []
        for (i, id) in keptIds(ids, skipSpecialTokens).enumerated() {
            appendBytes(of: id, index: i, to: &bytes)
        }
        if case .sentencePiece(_, _, true) = spec.decoder, bytes.first == 0x20 { bytes.removeFirst() }
        return bytes
    }

    /// One token for display: its decoded text ("Ġthe" -> " the", "<0x0A>" -> "\n"), with bytes
    /// that do not form UTF-8 on their own shown as `<0xAB>`. Empty for an unknown id.
    public func tokenText(_ id: Int32) -> String {
        guard id >= 0, Int(id) < tokenStrings.count else { return "" }
        if spec.decoder == .none { return tokenStrings[Int(id)] }
        let bytes = Array(tokenBytes(id))
        if let text = String(validating: bytes, as: UTF8.self) { return text }
        var out = ""
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = bytes.makeIterator()
        var offset = 0
        loop: while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let encoded):
                out.unicodeScalars.append(Unicode.UTF8.decode(encoded))
                offset += encoded.count
            case .error(let length):
                for b in bytes[offset..<(offset + length)] { out += TokenizerSpec.byteTokenName(b) }
                offset += length
            case .emptyInput:
                break loop
            }
        }
        return out
    }

    // MARK: Per-token bytes

    /// The bytes of one id in the decoder's terms, ignoring position (see `appendBytes`).
    func tokenBytes(_ id: Int32) -> ArraySlice<UInt8> {
        tokenByteArena[Int(tokenByteStarts[Int(id)])..<Int(tokenByteStarts[Int(id) + 1])]
    }

    /// Appends the bytes of the `index`-th kept token: only the Metaspace decoder (which drops
    /// the first token's replacement characters) and the null decoder (which joins with spaces)
    /// depend on the position. The sentencepiece leading-space strip is the caller's.
    func appendBytes(of id: Int32, index: Int, to bytes: inout [UInt8]) {
        switch spec.decoder {
        case .metaspace(let replacement, let scheme) where index == 0 && scheme != .never:
            let r = replacement.unicodeScalars.first!
            for s in tokenStrings[Int(id)].unicodeScalars where s != r { bytes.append(contentsOf: String(s).utf8) }
        case .none where index > 0:
            bytes.append(0x20)
            bytes.append(contentsOf: tokenBytes(id))
        default:
            bytes.append(contentsOf: tokenBytes(id))
        }
    }

    private func keptIds(_ ids: [Int32], _ skipSpecialTokens: Bool) -> [Int32] {
        ids.filter { $0 >= 0 && Int($0) < tokenStrings.count && !(skipSpecialTokens && isSpecial[Int($0)]) }
    }

    private func concatenatedBytes(_ ids: [Int32]) -> [UInt8] {
        var bytes: [UInt8] = []
        for id in ids { bytes.append(contentsOf: tokenBytes(id)) }
        return bytes
    }

    /// What the decoder makes of one token on its own (stored per id at init).
    static func decodedBytes(of token: String, id: Int, spec: TokenizerSpec) -> [UInt8] {
        switch spec.decoder {
        case .byteLevel:
            if spec.model == .byte && id < 256 { return [UInt8(id)] }
            // Hugging Face maps a token through the alphabet only if every character is in it.
            return ByteLevelAlphabet.bytes(of: token) ?? Array(token.utf8)
        case .sentencePiece(let replacement, let byteFallback, _):
            let piece = replacing(replacement.unicodeScalars.first!, with: " ", in: token)
            if byteFallback, let b = byteTokenValue(piece) { return [b] }
            return Array(piece.utf8)
        case .metaspace(let replacement, _):
            return Array(replacing(replacement.unicodeScalars.first!, with: " ", in: token).utf8)
        case .none:
            return Array(token.utf8)
        }
    }

    static func replacing(_ r: Unicode.Scalar, with replacement: Unicode.Scalar, in s: String) -> String {
        guard s.unicodeScalars.contains(r) else { return s }
        var out = String.UnicodeScalarView()
        for c in s.unicodeScalars { out.append(c == r ? replacement : c) }
        return String(out)
    }

    /// The byte of a `<0xAB>` token as Hugging Face's ByteFallback decoder reads it: six bytes,
    /// "<0x" + two characters Rust's `u8::from_str_radix(_, 16)` accepts + ">" (so a leading "+"
    /// is accepted, as in Rust).
    static func byteTokenValue(_ s: String) -> UInt8? {
        let u = Array(s.utf8)
        guard u.count == 6, u[0] == 0x3C, u[1] == 0x30, u[2] == 0x78, u[5] == 0x3E else { return nil }
        func hex(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: return c - 0x30
            case 0x41...0x46: return c - 0x41 + 10
            case 0x61...0x66: return c - 0x61 + 10
            default: return nil
            }
        }
        if u[3] == 0x2B { return hex(u[4]) }
        guard let hi = hex(u[3]), let lo = hex(u[4]) else { return nil }
        return hi << 4 | lo
    }
}

/// Turns ids into text as they are generated, emitting text as soon as its UTF-8 is complete.
///
/// A byte-level token can end in the middle of a character (an emoji is often two or three
/// tokens), so each `append` returns only the text whose bytes are complete and keeps an
/// unfinished trailing sequence (at most 3 bytes) for the next call; `finish` flushes it. The
/// concatenated output equals `String(decoding: tokenizer.decodeBytes(ids), as: UTF8.self)`.
public struct StreamingDecoder: Sendable {
    public let tokenizer: Tokenizer
    public let skipSpecialTokens: Bool
    private var pending: [UInt8] = []
    private var tokenCount = 0
    private var atOutputStart = true

    public init(tokenizer: Tokenizer, skipSpecialTokens: Bool = false) {
        self.tokenizer = tokenizer
        self.skipSpecialTokens = skipSpecialTokens
    }

    /// Feeds one id; returns the text completed by it (often empty mid-character).
    public mutating func append(_ id: Int32) -> String {
        guard id >= 0, Int(id) < tokenizer.vocabularySize,
              !(skipSpecialTokens && tokenizer.isSpecialToken(id)) else { return "" }
        let before = pending.count
        tokenizer.appendBytes(of: id, index: tokenCount, to: &pending)
        tokenCount += 1
        if atOutputStart && pending.count > before {
            atOutputStart = false
            if case .sentencePiece(_, _, true) = tokenizer.spec.decoder, pending[before] == 0x20 {
                pending.remove(at: before)
            }
        }
        let complete = pending.count - Self.unfinishedTail(pending)
        guard complete > 0 else { return "" }
        let text = String(decoding: pending[..<complete], as: UTF8.self)
        pending.removeFirst(complete)
        return text
    }

    /// Flushes an unfinished trailing sequence (as U+FFFD) and resets for a new stream.
    public mutating func finish() -> String {
        let text = String(decoding: pending, as: UTF8.self)
        pending.removeAll()
        tokenCount = 0
        atOutputStart = true
        return text
    }

    /// The length of a trailing sequence that is a proper prefix of a well-formed UTF-8
    /// character (so more bytes may complete it), else 0.
    static func unfinishedTail(_ b: [UInt8]) -> Int {
        let n = b.count
        var k = 1
        while k <= min(3, n) {
            let lead = b[n - k]
            if lead & 0xC0 == 0x80 { k += 1; continue }   // continuation byte: look further back
            let length: Int
            switch lead {
            case 0xC2...0xDF: length = 2
            case 0xE0...0xEF: length = 3
            case 0xF0...0xF4: length = 4
            default: return 0
            }
            guard length > k else { return 0 }
            if k >= 2 {
                let second = b[n - k + 1]
                let range: ClosedRange<UInt8> = switch lead {
                case 0xE0: 0xA0...0xBF
                case 0xED: 0x80...0x9F
                case 0xF0: 0x90...0xBF
                case 0xF4: 0x80...0x8F
                default: 0x80...0xBF
                }
                guard range.contains(second) else { return 0 }
            }
            return k
        }
        return 0
    }
}
