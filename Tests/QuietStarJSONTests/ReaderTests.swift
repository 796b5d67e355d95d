import QuietStarTestSupport
import Testing
import QuietStarJSON

func parse(_ text: String, _ options: JSONReader.Options = JSONReader.Options()) throws -> JSONValue {
    try JSONReader.parse(Array(text.utf8), options: options)
}

func parseError(_ bytes: [UInt8], _ options: JSONReader.Options = JSONReader.Options()) -> JSONParseError? {
    do {
        _ = try JSONReader.parse(bytes, options: options)
        return nil
    } catch {
        return error
    }
}

func parseError(_ text: String, _ options: JSONReader.Options = JSONReader.Options()) -> JSONParseError? {
    parseError(Array(text.utf8), options)
}

@Suite struct ReaderTests {
    @Test func parsesNestedValuesAndKeepsNumberText() throws {
        let v = try parse(#" {"a": [1, -2.5e3, true, null], "b": {"c": "x\u00e9\ud83d\ude00\n"}, "big": 18446744073709551615} "#)
        #expect(v["a"]?.arrayValue?.count == 4)
        #expect(v["a"]?.arrayValue?[1] == .number(JSONNumber("-2.5e3")!))
        #expect(v["a"]?.arrayValue?[1].doubleValue == -2500)
        #expect(v["b"]?["c"]?.stringValue == "xé😀\n")
        // u64 max survives exactly (a Double could not hold it).
        #expect(v["big"]?.uint64Value == UInt64.max)
        #expect(v.objectEntries?.map(\.key) == ["a", "b", "big"])
    }

    @Test func everyEscapeDecodes() throws {
        let v = try parse(#"["x\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00\u0000\uFFFF"]"#)
        let s = try #require(v.arrayValue?.first?.stringValue)
        #expect(Array(s.unicodeScalars) == Array("x\"\\/\u{8}\u{C}\n\r\t\u{E9}\u{1F600}\u{0}\u{FFFF}".unicodeScalars))
    }

    /// Tokenizer files keep every member; the order and the repeats are the caller's to judge.
    @Test func keepPolicyKeepsDuplicatesInOrder() throws {
        let v = try parse(#" {"a": [1, -2, 3.5, 1e2, true, false, null], "b": "x", "a": {}} "#, .init(duplicateKeys: .keep))
        let members = try #require(v.objectEntries)
        #expect(members.map(\.key) == ["a", "b", "a"])
        #expect(JSONWriter().render(members[0].value) == "[1,-2,3.5,1e2,true,false,null]")
        #expect(members[0].value.arrayValue?[3].doubleValue == 100)
        #expect(v["a"]?.arrayValue?.count == 7)   // lookups find the first
        #expect(try JSONWriter().render(parse("12345678901234")) == "12345678901234")
    }

    @Test func rfc8259AcceptsScalarsAndItsFourWhitespaces() throws {
        #expect(try parse("1") == .integer(1))
        #expect(try parse(" \t\r\n\"x\" \t\r\n") == .string("x"))
        #expect(try parse("null") == .null)
        #expect(try parse("false") == .bool(false))
        #expect(try parse(#"{"":[[],{}]}"#)[""]?.arrayValue == [.array([]), .object([])])
        #expect(try parse(#""\/""#) == .string("/"))
        #expect(try parse(#""\u00E9\u00e9""#) == .string("éé"))
        #expect(try parse("-0") == .number(JSONNumber("-0")!))
        #expect(try parse("0e0").doubleValue == 0)
        #expect(try parse("1E+2").doubleValue == 100)
        #expect(try parse("-1.5e-3").doubleValue == -0.0015)
    }

    /// Each row: input, offset of the offending byte, the message (or its start).
    @Test(arguments: [
        (#"{"a":1,"a":2}"#, 7, "duplicate key \"a\""),
        (#"{"a":01}"#, 6, "expected ',' or '}'"),   // a leading zero ends the number
        ("[01]", 2, "expected ',' or ']'"),
        ("01", 1, "unexpected text after the JSON value"),
        (#"[1,]"#, 3, "unexpected character ']'"),
        (#"{"a": 1,}"#, 8, "expected a string key"),
        (#"{"a" 1}"#, 5, "expected ':' after a key"),
        (#"{a:1}"#, 1, "expected a string key"),
        (#"{'a':1}"#, 1, "expected a string key"),
        (#"{"a":"\x"}"#, 6, "invalid escape '\\x'"),
        ("\"\u{01}\"", 1, "raw control character 0x1 in a string"),
        ("[\"a\u{1F}\"]", 3, "raw control character 0x1f in a string"),
        ("\"\t\"", 1, "raw control character 0x9 in a string"),
        (#""\udc00""#, 1, "lone low surrogate \\uDC00"),
        (#"["\ud800"]"#, 2, "lone high surrogate \\uD800"),
        (#""\ud800\u0041""#, 1, "lone high surrogate \\uD800 (followed by \\u0041"),
        (#""\ud800x""#, 1, "lone high surrogate"),
        (#""\u12G4""#, 1, "invalid \\u escape: 'G' is not a hex digit"),
        (#""\u12"#, 0, "unterminated string"),
        (#""abc"#, 0, "unterminated string"),
        (#"{"a":1} x"#, 8, "unexpected text after the JSON value"),
        ("[1] 2", 4, "unexpected text after the JSON value"),
        ("", 0, "unexpected end of input"),
        ("   ", 3, "unexpected end of input"),
        ("[1,", 3, "unexpected end of input"),
        ("[1", 2, "unexpected end of input in an array"),
        (#"{"a":1"#, 6, "unexpected end of input in an object"),
        (#"{"a""#, 4, "expected ':' after a key"),
        ("tru", 0, "invalid literal (expected true)"),
        ("nulll", 4, "unexpected text after the JSON value"),
        ("NaN", 0, "unexpected character 'N'"),
        ("Infinity", 0, "unexpected character 'I'"),
        ("+1", 0, "unexpected character '+'"),
        (".5", 0, "unexpected character '.'"),
        ("-", 1, "unexpected end of input in a number"),
        ("-x", 1, "invalid number: expected a digit"),
        ("1.", 2, "unexpected end of input in a number"),
        ("1.e3", 2, "invalid number: expected a digit after the decimal point"),
        ("1e", 2, "unexpected end of input in a number"),
        ("1e+x", 3, "invalid number: expected a digit in the exponent"),
        ("0x10", 1, "unexpected text after the JSON value"),
        ("[1 2]", 3, "expected ',' or ']' in an array"),
        ("/* c */ 1", 0, "unexpected character '/'"),
        ("[1]\u{0C}", 3, "unexpected text after the JSON value"),   // form feed is not JSON whitespace
        ("\u{FEFF}1", 0, "unexpected character 0xef"),              // nor is a byte-order mark
    ] as [(String, Int, String)])
    func rejectsMalformedInputWithOffsets(text: String, offset: Int, message: String) {
        guard let error = parseError(text) else { Issue.record("accepted \(text.debugDescription)"); return }
        #expect(error.offset == offset, "\(text.debugDescription): \(error)")
        #expect(error.message.hasPrefix(message), "\(text.debugDescription): \(error.message)")
    }

    @Test func errorsSayLineAndColumn() throws {
        let error = try #require(parseError("{\n  \"a\": 1,\n  \"b\" 2\n}"))
        #expect(error.offset == 18)
        #expect((error.line, error.column) == (3, 7))
        #expect(error.description == "line 3, column 7 (byte 18): expected ':' after a key")
        #expect(try #require(parseError("x")).description == "line 1, column 1 (byte 0): unexpected character 'x'")
    }

    /// Unicode table 3-7: every ill-formed sequence is rejected at its first byte.
    @Test(arguments: [
        [0xFF], [0x80], [0xBF],                    // never a lead byte / a stray continuation
        [0xC0, 0x80], [0xC1, 0xBF],                // overlong two-byte forms
        [0xE0, 0x80, 0x80], [0xE0, 0x9F, 0xBF],    // overlong three-byte forms
        [0xF0, 0x80, 0x80, 0x80], [0xF0, 0x8F, 0xBF, 0xBF],   // overlong four-byte forms
        [0xED, 0xA0, 0x80], [0xED, 0xBF, 0xBF],    // UTF-16 surrogates encoded directly
        [0xF4, 0x90, 0x80, 0x80], [0xF5, 0x80, 0x80, 0x80],   // above U+10FFFF
        [0xE2, 0x82], [0xF0, 0x9F, 0x98],          // truncated before the closing quote
        [0xC3, 0x41], [0xE2, 0x28, 0xA1],          // a continuation byte missing
    ] as [[UInt8]])
    func rejectsIllFormedUTF8AtItsFirstByte(sequence: [UInt8]) {
        let document: [UInt8] = Array(#"["ok", "ab"#.utf8) + sequence + Array(#"cd"]"#.utf8)
        let error = parseError(document)
        #expect(error?.offset == 10, "\(sequence): \(String(describing: error))")
        #expect(error?.message == "invalid UTF-8 in a string")
    }

    @Test func acceptsEveryWellFormedLength() throws {
        let scalars = "a é € 😀 \u{7F} \u{80} \u{7FF} \u{800} \u{FFFF} \u{10000} \u{10FFFF}"
        #expect(try parse("\"\(scalars)\"").stringValue?.isExactly(scalars) == true)
        // Outside strings, any non-ASCII byte is an unexpected character.
        #expect(parseError([0x5B, 0xC3, 0xA9, 0x5D])?.offset == 1)
    }

    /// Keys and strings are their bytes: "é" and "e\u{301}" (canonically equivalent, so equal
    /// for Swift's ==) are two different keys, and an escape that decodes to the bytes of an
    /// earlier key repeats it.
    @Test func keysAreComparedByTheirBytes() throws {
        let v = try parse(#"{"\u00e9": 1, "e\u0301": 2}"#)
        #expect(v["é"] == .integer(1))
        #expect(v["e\u{301}"] == .integer(2))
        #expect(JSONValue.string("é") != .string("e\u{301}"))
        #expect(JSONValue.object([("é", .null)]) != .object([("e\u{301}", .null)]))
        let repeated = parseError(#"{"a": 1, "\u0061": 2}"#)
        #expect(repeated?.offset == 9)
        #expect(repeated?.message == #"duplicate key "a""#)
    }

    @Test func depthIsBounded() throws {
        func nested(_ n: Int) -> String { String(repeating: "[", count: n) + "1" + String(repeating: "]", count: n) }
        _ = try parse(nested(64))
        let error = parseError(nested(65))
        #expect(error?.offset == 65)   // the value inside the 65th array
        #expect(error?.message == "nested deeper than 64 levels")
        _ = try parse(String(repeating: "[", count: 65) + String(repeating: "]", count: 65))   // nothing sits that deep
        _ = try parse(nested(3), .init(maxDepth: 3))
        #expect(parseError(nested(4), .init(maxDepth: 3)) != nil)
        #expect(parseError("[]", .init(maxDepth: 0)) == nil)
        #expect(parseError("[1]", .init(maxDepth: 0))?.message == "nested deeper than 0 levels")
        // The deepest limit allowed fits the stack of a test (secondary) thread in a debug build.
        let ceiling = JSONReader.Options.depthCeiling
        #expect(try parse(nested(ceiling), .init(maxDepth: ceiling)).arrayValue?.count == 1)
        // 100,000 levels of either kind: an error, not a stack overflow.
        #expect(parseError(String(repeating: "[", count: 100_000))?.offset == 65)
        #expect(parseError(String(repeating: #"{"a":"#, count: 100_000)) != nil)
    }

    @Test func sizeIsBounded() throws {
        #expect(try parse("[1, 2]", .init(maxBytes: 6)) == .array([.integer(1), .integer(2)]))
        let error = parseError("[1, 2] ", .init(maxBytes: 6))
        #expect(error?.offset == 6)
        #expect(error?.message == "the document is 7 bytes, more than the limit of 6")
    }

    @Test func readsAnyByteCollection() throws {
        let bytes = Array(#"xx{"a":[true]}yy"#.utf8)
        #expect(try JSONReader.parse(bytes[2..<14])["a"] == .array([.bool(true)]))
        #expect(try JSONReader.parse(Array("7".utf8).lazy.map { $0 }) == .integer(7))   // not contiguous: copied
        let error = try #require(parseError(Array(#"{"a":[tru]}"#.utf8)))
        #expect(error.offset == 6)
    }

    /// Random edits of a realistic document never crash the reader, and whatever it accepts
    /// writes back to text that reads as the same value.
    @Test func mutatedDocumentsNeverCrash() throws {
        let seed: [UInt8] = Array(#"{"model": {"vocab": {"a": 0, "\u00e9": 1, "e\u0301": 2}, "merges": [["a", "b"]]}, "x": [1.5e3, -0, null, true, "\ud83d\ude00\n"]}"#.utf8)
        let insertable = Array(#"{}[]",:\u0e-"#.utf8)
        var rng = SplitMix64(seed: 0x5EED)
        var accepted = 0
        for _ in 0..<3000 {
            var doc = seed
            for _ in 0..<Int(rng.next() % 4 + 1) {
                let i = Int(rng.next() % UInt64(doc.count))
                switch rng.next() % 3 {
                case 0: doc[i] = UInt8(truncatingIfNeeded: rng.next())
                case 1: doc.remove(at: i)
                default: doc.insert(insertable[Int(rng.next() % UInt64(insertable.count))], at: i)
                }
            }
            guard let value = try? JSONReader.parse(doc, options: .init(duplicateKeys: .keep)) else { continue }
            accepted += 1
            #expect(try JSONReader.parse(JSONWriter().encode(value), options: .init(duplicateKeys: .keep)) == value)
            #expect(try JSONReader.parse(JSONWriter(.pretty).encode(value), options: .init(duplicateKeys: .keep)) == value)
        }
        #expect(accepted > 100)
    }
}

