/// GPT-2's reversible byte <-> printable character mapping (`bytes_to_unicode` in OpenAI's
/// encoder.py and Hugging Face's ByteLevel).
///
/// Byte-level BPE vocabularies are written in this alphabet so that every token is printable:
/// the 188 printable Latin-1 bytes ('!'...'~', '¡'...'¬', '®'...'ÿ') stand for themselves and the
/// other 68 bytes (controls, space, 0x7F-0xA0, 0xAD) take U+0100, U+0101, ... in byte order, so a
/// space is "Ġ" (U+0120) and a newline "Ċ" (U+010A). Internally we undo the mapping once, at load
/// time: the vocabulary is keyed by raw bytes and words are never re-encoded while tokenizing.
enum ByteLevelAlphabet {
    /// The character that stands for each byte.
    static let scalarForByte: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: "\0", count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            let printable = (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
            if printable {
                table[b] = Unicode.Scalar(UInt32(b))!
            } else {
                table[b] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    /// The inverse: the byte a character stands for, or -1. Every alphabet character is below
    /// U+0144 (256 + 68), so a flat table covers it.
    static let byteForScalar: [Int16] = {
        var table = [Int16](repeating: -1, count: 0x144)
        for b in 0..<256 { table[Int(scalarForByte[b].value)] = Int16(b) }
        return table
    }()

    /// The raw bytes a byte-level token string stands for, or nil if the string contains a
    /// character outside the alphabet (such a token can never come out of byte-level
    /// pre-tokenization; the ByteLevel decoder prints it verbatim).
    static func bytes(of token: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(token.unicodeScalars.count)
        for s in token.unicodeScalars {
            guard s.value < 0x144, case let b = byteForScalar[Int(s.value)], b >= 0 else { return nil }
            out.append(UInt8(b))
        }
        return out
    }

    /// The alphabet form of raw bytes (what Hugging Face shows as the token string).
    static func string(of bytes: some Sequence<UInt8>) -> String {
        var s = String.UnicodeScalarView()
        for b in bytes { s.append(scalarForByte[Int(b)]) }
        return String(s)
    }
}

extension TokenizerSpec {
    /// A byte-level BPE token string for raw bytes ("Ġ" for a space): what exporters that
    /// write a byte-level vocabulary need (the GGUF exporter writes the byte model this way).
    public static func byteLevelToken(_ bytes: some Sequence<UInt8>) -> String {
        ByteLevelAlphabet.string(of: bytes)
    }
}
