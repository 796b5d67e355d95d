/// Character classes of the split regexes, computed once per code point.
///
/// The supported pre-tokenizer regexes (GPT-2, Llama-3, Qwen2) only ever ask four questions of a
/// character: is it `\p{L}`, `\p{N}`, `\s`, or one of `[\r\n]`, plus the literal space of ` ?`.
/// Answering them from a table keeps the hand-written scanners in PreTokenization.swift free of
/// Unicode property lookups on the hot path.
enum ScalarClass: UInt8 {
    /// `\p{L}`: Lu, Ll, Lt, Lm, Lo.
    case letter
    /// `\p{N}`: Nd, Nl, No.
    case number
    /// U+0020, the only character the regexes' ` ?` accepts (also `\s`).
    case space
    /// U+000A or U+000D, the regexes' `[\r\n]` (also `\s`).
    case newline
    /// Any other `\s`: the Unicode White_Space property (tab, U+0085, U+00A0, U+3000, ...).
    case whitespace
    /// Everything else: punctuation, symbols, marks, controls, unassigned code points.
    case other

    var isWhitespace: Bool { self == .space || self == .newline || self == .whitespace }

    /// The newest Unicode version whose assignments the reference regex engines know.
    ///
    /// Hugging Face `tokenizers` 0.23 matches its split regexes with Oniguruma and the
    /// `single_word` test with Rust `regex`, both with Unicode 16.0 tables; the Swift standard
    /// library is newer (17.0 in Swift 6.3). A letter assigned in
    /// Unicode 17 is `\p{L}` for Swift but unassigned (so neither `\p{L}` nor `\p{N}`) for the
    /// reference, and the split must follow the reference to give the same ids. Measured by
    /// classifying every code point with both (4657 differences, all of age 17.0).
    static let referenceUnicodeVersion: (major: Int, minor: Int) = (16, 0)

    static func of(_ v: UInt32) -> ScalarClass {
        v < 0x10000 ? basicPlane[Int(v)] : compute(v)
    }

    /// The Basic Multilingual Plane as a table (64 KiB, built on first use). Hot loops fetch it
    /// once and index it directly; other planes are rare enough to compute.
    static let basicPlane: [ScalarClass] = (0..<UInt32(0x10000)).map { compute($0) }

    static func compute(_ v: UInt32) -> ScalarClass {
        switch v {
        case 0x20: return .space
        case 0x0A, 0x0D: return .newline
        default: break
        }
        guard let scalar = Unicode.Scalar(v) else { return .other }   // surrogate code points
        let properties = scalar.properties
        if properties.isWhitespace { return .whitespace }
        guard let age = properties.age,
              (age.major, age.minor) <= referenceUnicodeVersion else { return .other }
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            return .letter
        case .decimalNumber, .letterNumber, .otherNumber:
            return .number
        default:
            return .other
        }
    }
}

/// Rust `regex`'s Unicode `\w` (Alphabetic, marks, decimal digits, connector punctuation,
/// Join_Control): the word test of added tokens marked `single_word`. Its tables are Unicode 16
/// too, so later assignments are not word characters.
func isWordScalar(_ s: Unicode.Scalar) -> Bool {
    let p = s.properties
    guard let age = p.age, (age.major, age.minor) <= ScalarClass.referenceUnicodeVersion else { return false }
    if p.isAlphabetic || p.isJoinControl { return true }
    switch p.generalCategory {
    case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation:
        return true
    default:
        return false
    }
}
