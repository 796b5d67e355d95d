import Foundation
import Testing
@testable import QuietStarTokenizer

/// Edge cases checked against Hugging Face `tokenizers` 0.23.3 (tools/reference/requirements.txt).
/// The expected tables were printed by this script, run from the repository root:
///
///     # Prints the reference tables of EdgeCaseTests.swift.
///     from tokenizers import Tokenizer, AddedToken, pre_tokenizers, Regex
///     F = "fixtures/tokenizers/"
///     PATTERNS = {
///         "gpt2": r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+",
///         "llama3": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
///         "qwen2": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
///     }
///
///     def q(s):  # a Swift string literal
///         esc = {'"': '\\"', '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t'}
///         return '"' + "".join(esc.get(c) or (c if 0x20 <= ord(c) < 0x7F else "\\u{%X}" % ord(c)) for c in s) + '"'
///
///     def byte_level_alphabet():  # GPT-2's bytes_to_unicode
///         bs = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
///         cs, n = bs[:], 0
///         for b in range(256):
///             if b not in bs:
///                 bs.append(b); cs.append(256 + n); n += 1
///         return dict(zip(bs, map(chr, cs)))
///
///     print("// split")
///     inputs = ["x \n\n  \n y", "a  b   c    d", "12345 678", "\u00a0\u00a0x", "it'ſ IT'S don'T 'll 'LL 'Re", "a\u0301b ǅx",
///               "  \r\n\t hi \t", "'''s!'s", "(word ((word", "x\u3000y a\u0085b \u2028 x", "tab\tsep\n\nend  ",
///               "\u088fa \U00010d40 9", "👋🏻 hi 🧑‍🚀!!", "  ", "a", "", "$$$ \n\n"]
///     for name, regex in PATTERNS.items():
///         split = pre_tokenizers.Split(Regex(regex), behavior="isolated")
///         for s in inputs:
///             print(f"(.{name}, {q(s)}, [{', '.join(q(w) for w, _ in split.pre_tokenize_str(s))}]),")
///
///     print("// added")
///     t = Tokenizer.from_file(F + "gpt2/tokenizer.json")
///     t.add_tokens([AddedToken("hello", single_word=True, normalized=False), AddedToken("<L>", lstrip=True, normalized=False),
///                   AddedToken("<R>", rstrip=True, normalized=False), AddedToken("<LR>", lstrip=True, rstrip=True, normalized=False),
///                   AddedToken("ab", normalized=True), AddedToken("abc", normalized=False)])   # ids 400...405
///     for s in ["hello world", "xhello hello_ hello", "a  <L>  b", "a  <R>  b", "a  <LR>  b <LR><LR>  <L>", "abcd ab abab",
///               "say hello, hello!"]:
///         print(f"({q(s)}, {t.encode(s, add_special_tokens=False).ids}),")
///
///     print("// legacy")
///     t = Tokenizer.from_file(F + "llama2/tokenizer.json")
///     t.add_tokens([AddedToken("hi there", normalized=True), AddedToken("[X]", normalized=False)])   # 450, 451
///     t.add_special_tokens([AddedToken("<extra>", normalized=True, special=True)])                     # 452
///     for s in ["say hi there", "hi there", "a [X] b", "[X]hi there", "a <extra> b", "x▁<extra>"]:
///         ids = t.encode(s, add_special_tokens=False).ids
///         print(f"({q(s)}, {ids}, {q(t.decode(ids))}, {q(t.decode(ids, skip_special_tokens=True))}),")
///
///     print("// invalid")
///     t = Tokenizer.from_file(F + "gpt2/tokenizer.json")
///     alphabet = byte_level_alphabet()
///     for seq in [[0xE4, 0xBD], [0xE4, 0xBD, 0xA0], [0xED, 0xA0, 0x80], [0xF0, 0x9F, 0x98, 0x61], [0xC0, 0xAF],
///                 [0xFF, 0x61, 0xFE], [0xF4, 0x90, 0x80, 0x80], [0xE0, 0x80], [0xF0, 0x9F, 0x98, 0x80]]:
///         print(f"([{', '.join('0x%02X' % b for b in seq)}], {q(t.decode([t.token_to_id(alphabet[b]) for b in seq]))}),")
///     t = Tokenizer.from_file(F + "llama2/tokenizer.json")
///     for seq in [[0xE4, 0xBD], [0xE4, 0xBD, 0xA0, 0xFF], [0xED, 0xA0, 0x80], [0x20, 0x41]]:
///         ids = [t.token_to_id("<0x%02X>" % b) for b in seq]
///         print(f"([{', '.join('0x%02X' % b for b in seq)}], {q(t.decode(ids))}, {q(t.decode(ids + [t.token_to_id('▁a')]))}),")
@Suite struct EdgeCaseTests {
    // MARK: Split regexes

    static let splits: [(TokenizerSpec.SplitPattern, String, [String])] = [
        (.gpt2, "x \n\n  \n y", ["x", " \n\n  \n", " y"]),
        (.gpt2, "a  b   c    d", ["a", " ", " b", "  ", " c", "   ", " d"]),
        (.gpt2, "12345 678", ["12345", " 678"]),
        (.gpt2, "\u{A0}\u{A0}x", ["\u{A0}", "\u{A0}", "x"]),
        (.gpt2, "it'\u{17F} IT'S don'T 'll 'LL 'Re", ["it", "'", "\u{17F}", " IT", "'", "S", " don", "'", "T", " '", "ll", " '", "LL", " '", "Re"]),
        (.gpt2, "a\u{301}b \u{1C5}x", ["a", "\u{301}", "b", " \u{1C5}x"]),
        (.gpt2, "  \r\n\t hi \t", ["  \r\n\t", " hi", " \t"]),
        (.gpt2, "'''s!'s", ["'''", "s", "!'", "s"]),
        (.gpt2, "(word ((word", ["(", "word", " ((", "word"]),
        (.gpt2, "x\u{3000}y a\u{85}b \u{2028} x", ["x", "\u{3000}", "y", " a", "\u{85}", "b", " \u{2028}", " x"]),
        (.gpt2, "tab\tsep\n\nend  ", ["tab", "\t", "sep", "\n", "\n", "end", "  "]),
        (.gpt2, "\u{88F}a \u{10D40} 9", ["\u{88F}", "a", " \u{10D40}", " 9"]),
        (.gpt2, "\u{1F44B}\u{1F3FB} hi \u{1F9D1}\u{200D}\u{1F680}!!", ["\u{1F44B}\u{1F3FB}", " hi", " \u{1F9D1}\u{200D}\u{1F680}!!"]),
        (.gpt2, "  ", ["  "]),
        (.gpt2, "a", ["a"]),
        (.gpt2, "", []),
        (.gpt2, "$$$ \n\n", ["$$$", " \n\n"]),
        (.llama3, "x \n\n  \n y", ["x", " \n\n  \n", " y"]),
        (.llama3, "a  b   c    d", ["a", " ", " b", "  ", " c", "   ", " d"]),
        (.llama3, "12345 678", ["123", "45", " ", "678"]),
        (.llama3, "\u{A0}\u{A0}x", ["\u{A0}", "\u{A0}x"]),
        (.llama3, "it'\u{17F} IT'S don'T 'll 'LL 'Re", ["it", "'\u{17F}", " IT", "'S", " don", "'T", " '", "ll", " '", "LL", " '", "Re"]),
        (.llama3, "a\u{301}b \u{1C5}x", ["a", "\u{301}b", " \u{1C5}x"]),
        (.llama3, "  \r\n\t hi \t", ["  \r\n", "\t", " hi", " \t"]),
        (.llama3, "'''s!'s", ["'''", "s", "!'", "s"]),
        (.llama3, "(word ((word", ["(word", " ((", "word"]),
        (.llama3, "x\u{3000}y a\u{85}b \u{2028} x", ["x", "\u{3000}y", " a", "\u{85}b", " \u{2028}", " x"]),
        (.llama3, "tab\tsep\n\nend  ", ["tab", "\tsep", "\n\n", "end", "  "]),
        (.llama3, "\u{88F}a \u{10D40} 9", ["\u{88F}a", " ", "\u{10D40}", " ", "9"]),
        (.llama3, "\u{1F44B}\u{1F3FB} hi \u{1F9D1}\u{200D}\u{1F680}!!", ["\u{1F44B}\u{1F3FB}", " hi", " \u{1F9D1}\u{200D}\u{1F680}!!"]),
        (.llama3, "  ", ["  "]),
        (.llama3, "a", ["a"]),
        (.llama3, "", []),
        (.llama3, "$$$ \n\n", ["$$$", " \n\n"]),
        (.qwen2, "x \n\n  \n y", ["x", " \n\n  \n", " y"]),
        (.qwen2, "a  b   c    d", ["a", " ", " b", "  ", " c", "   ", " d"]),
        (.qwen2, "12345 678", ["1", "2", "3", "4", "5", " ", "6", "7", "8"]),
        (.qwen2, "\u{A0}\u{A0}x", ["\u{A0}", "\u{A0}x"]),
        (.qwen2, "it'\u{17F} IT'S don'T 'll 'LL 'Re", ["it", "'\u{17F}", " IT", "'S", " don", "'T", " '", "ll", " '", "LL", " '", "Re"]),
        (.qwen2, "a\u{301}b \u{1C5}x", ["a", "\u{301}b", " \u{1C5}x"]),
        (.qwen2, "  \r\n\t hi \t", ["  \r\n", "\t", " hi", " \t"]),
        (.qwen2, "'''s!'s", ["'''", "s", "!'", "s"]),
        (.qwen2, "(word ((word", ["(word", " ((", "word"]),
        (.qwen2, "x\u{3000}y a\u{85}b \u{2028} x", ["x", "\u{3000}y", " a", "\u{85}b", " \u{2028}", " x"]),
        (.qwen2, "tab\tsep\n\nend  ", ["tab", "\tsep", "\n\n", "end", "  "]),
        (.qwen2, "\u{88F}a \u{10D40} 9", ["\u{88F}a", " ", "\u{10D40}", " ", "9"]),
        (.qwen2, "\u{1F44B}\u{1F3FB} hi \u{1F9D1}\u{200D}\u{1F680}!!", ["\u{1F44B}\u{1F3FB}", " hi", " \u{1F9D1}\u{200D}\u{1F680}!!"]),
        (.qwen2, "  ", ["  "]),
        (.qwen2, "a", ["a"]),
        (.qwen2, "", []),
        (.qwen2, "$$$ \n\n", ["$$$", " \n\n"]),
        // SmolLM: `pre_tokenizers.Sequence([Digits(individual_digits=True), ByteLevel(add_prefix_space=False)])`
        // `.pre_tokenize_str(text)`, words decoded from the byte-level alphabet.
        (.gpt2Digits, "a 123 b", ["a", " ", "1", "2", "3", " b"]),
        (.gpt2Digits, "x12y  3 ", ["x", "1", "2", "y", "  ", "3", " "]),
        (.gpt2Digits, "It's 2024!\n\n  ok", ["It", "'s", " ", "2", "0", "2", "4", "!", "\n\n ", " ok"]),
        (.gpt2Digits, "\u{663}\u{664} and \u{BD} or \u{B2}", ["\u{663}", "\u{664}", " and", " ", "\u{BD}", " or", " ", "\u{B2}"]),
        (.gpt2Digits, "   9", ["   ", "9"]),
        (.gpt2Digits, "no digits here  ", ["no", " digits", " here", "  "]),
    ]

    @Test func splitRegexesMatchOniguruma() {
        var scanner = SplitScanner()
        for (pattern, text, expected) in Self.splits {
            var bytes = Array(text.utf8)
            let words: [String] = bytes.withUnsafeMutableBufferPointer { buffer in
                scanner.split(UnsafeBufferPointer(buffer), pattern: pattern)
                var start = 0
                return scanner.wordEnds.map { end in
                    defer { start = Int(end) }
                    return String(decoding: buffer[start..<Int(end)], as: UTF8.self)
                }
            }
            #expect(words == expected, "\(pattern) \(text.debugDescription)")
        }
    }

    /// Letters new in Unicode 17 are unassigned for the reference's Oniguruma (Unicode 16).
    @Test func unicodeVersionOfTheReferenceRegexEngine() {
        #expect(ScalarClass.of(0x088F) == .other)       // ARABIC LETTER NOON WITH RING ABOVE (17.0)
        #expect(ScalarClass.of(0x10D40) == .number)     // GARAY DIGIT ZERO (16.0)
        #expect(ScalarClass.of(0x1F600) == .other)
        #expect(ScalarClass.of(0x3000) == .whitespace)
        #expect(ScalarClass.of(0x85) == .whitespace)
        #expect(ScalarClass.of(0x0D) == .newline)
        #expect(ScalarClass.of(0x20) == .space)
        #expect(ScalarClass.of(0x1C5) == .letter)       // ǅ, Lt
        #expect(ScalarClass.of(0x2167) == .number)      // Ⅷ, Nl
    }

    // MARK: Added tokens

    /// The gpt2 fixture plus user tokens exercising single_word, lstrip, rstrip and normalized.
    static func gpt2WithAddedTokens() throws -> Tokenizer {
        var spec = try Fixtures.spec("gpt2")
        let added: [(String, Bool, Bool, Bool, Bool)] = [   // content, singleWord, lstrip, rstrip, normalized
            ("hello", true, false, false, false), ("<L>", false, true, false, false), ("<R>", false, false, true, false),
            ("<LR>", false, true, true, false), ("ab", false, false, false, true), ("abc", false, false, false, false)]
        for (i, a) in added.enumerated() {
            spec.addedTokens.append(.init(id: Int32(400 + i), content: a.0, special: false, lstrip: a.2, rstrip: a.3,
                                          normalized: a.4, singleWord: a.1))
        }
        return try Tokenizer(spec: spec)
    }

    @Test func addedTokenMatchingRules() throws {
        let tokenizer = try Self.gpt2WithAddedTokens()
        let cases: [(String, [Int32])] = [
            ("hello world", [400, 273, 314, 75, 67]),
            ("xhello hello_ hello", [87, 262, 303, 78, 348, 303, 78, 62, 220, 400]),
            ("a  <L>  b", [64, 401, 220, 266]),
            ("a  <R>  b", [64, 256, 402, 65]),
            ("a  <LR>  b <LR><LR>  <L>", [64, 403, 65, 403, 403, 401]),
            ("abcd ab abab", [405, 67, 220, 404, 220, 404, 404]),
            ("say hello, hello!", [82, 64, 88, 220, 400, 11, 220, 400, 0]),
        ]
        for (text, ids) in cases {
            #expect(tokenizer.encode(text, addSpecialTokens: false) == ids, "\(text.debugDescription)")
        }
    }

    /// Normalized added tokens under the legacy normalizer: matched as "▁hi▁there", reported and
    /// decoded in that form, and a normalized special is then not skipped.
    @Test func normalizedAddedTokensUnderTheLegacyNormalizer() throws {
        var spec = try Fixtures.spec("llama2")
        spec.addedTokens += [.init(id: 450, content: "hi there", special: false, normalized: true),
                             .init(id: 451, content: "[X]", special: false, normalized: false),
                             .init(id: 452, content: "<extra>", special: true, normalized: true)]
        let tokenizer = try Tokenizer(spec: spec)
        #expect(tokenizer.token(of: 450) == "▁hi▁there")
        #expect(tokenizer.id(of: "hi there") == 450)
        #expect(!tokenizer.isSpecialToken(452))
        let cases: [(String, [Int32], String, String)] = [
            ("say hi there", [377, 318, 341, 450], "say hi there", "say hi there"),
            ("hi there", [450], "hi there", "hi there"),
            ("a [X] b", [370, 367, 451, 369, 319], "a [X]  b", "a [X]  b"),
            ("[X]hi there", [451, 450], "[X] hi there", "[X] hi there"),
            ("a <extra> b", [370, 452, 376], "a <extra> b", "a <extra> b"),
            ("x\u{2581}<extra>", [367, 340, 452], "x <extra>", "x <extra>"),
        ]
        for (text, ids, decoded, skipped) in cases {
            #expect(tokenizer.encode(text, addSpecialTokens: false) == ids, "\(text.debugDescription)")
            #expect(tokenizer.decode(ids) == decoded, "\(text.debugDescription)")
            #expect(tokenizer.decode(ids, skipSpecialTokens: true) == skipped, "\(text.debugDescription)")
        }
    }

    // MARK: Invalid UTF-8

    /// ByteLevel: one U+FFFD per maximal invalid subsequence of all the bytes together.
    @Test func byteLevelDecodeOfInvalidUTF8() throws {
        let tokenizer = try Fixtures.tokenizer("gpt2")
        let cases: [([UInt8], String)] = [
            ([0xE4, 0xBD], "\u{FFFD}"),
            ([0xE4, 0xBD, 0xA0], "\u{4F60}"),
            ([0xED, 0xA0, 0x80], "\u{FFFD}\u{FFFD}\u{FFFD}"),
            ([0xF0, 0x9F, 0x98, 0x61], "\u{FFFD}a"),
            ([0xC0, 0xAF], "\u{FFFD}\u{FFFD}"),
            ([0xFF, 0x61, 0xFE], "\u{FFFD}a\u{FFFD}"),
            ([0xF4, 0x90, 0x80, 0x80], "\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}"),
            ([0xE0, 0x80], "\u{FFFD}\u{FFFD}"),
            ([0xF0, 0x9F, 0x98, 0x80], "\u{1F600}"),
        ]
        for (bytes, expected) in cases {
            let ids = bytes.map { tokenizer.id(of: ByteLevelAlphabet.string(of: [$0]))! }
            #expect(tokenizer.decode(ids) == expected, "\(bytes)")
            #expect(tokenizer.decodeBytes(ids) == bytes)
        }
    }

    /// ByteFallback: a run of byte tokens that is not valid UTF-8 gives one U+FFFD per byte.
    @Test func byteFallbackDecodeOfInvalidUTF8() throws {
        let tokenizer = try Fixtures.tokenizer("llama2")
        let word = try #require(tokenizer.id(of: "▁a"))
        let cases: [([UInt8], String, String)] = [
            ([0xE4, 0xBD], "\u{FFFD}\u{FFFD}", "\u{FFFD}\u{FFFD} a"),
            ([0xE4, 0xBD, 0xA0, 0xFF], "\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}", "\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD} a"),
            ([0xED, 0xA0, 0x80], "\u{FFFD}\u{FFFD}\u{FFFD}", "\u{FFFD}\u{FFFD}\u{FFFD} a"),
            ([0x20, 0x41], "A", "A a"),
        ]
        for (bytes, alone, followed) in cases {
            let ids = bytes.map { tokenizer.id(of: TokenizerSpec.byteTokenName($0))! }
            #expect(tokenizer.decode(ids) == alone, "\(bytes)")
            #expect(tokenizer.decode(ids + [word]) == followed, "\(bytes)")
        }
    }
}
