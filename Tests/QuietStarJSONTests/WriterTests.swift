import QuietStarTestSupport
import Testing
import QuietStarJSON

@Suite struct WriterTests {
    @Test func writerRoundTripsAndIsDeterministic() throws {
        let value = JSONValue.object([
            ("z", .integer(3)), ("a", .array([.double(1e-6), .double(10000), .bool(false), .null])),
            ("s", .string("quote\" backslash\\ tab\t ctl\u{01} é")), ("e", .object([])), ("l", .array([])),
        ])
        let text = JSONWriter.document(value)
        #expect(text.hasPrefix("{\n  \"z\": 3,\n  \"a\": [\n    1e-06,\n    10000.0,"))
        #expect(try JSONReader.parse(Array(text.utf8)) == value)
        #expect(try JSONReader.parse(JSONWriter().encode(value)) == value)
        #expect(JSONWriter.document(value) == text)
    }

    /// The exact bytes of both styles (pretty is Python's `json.dumps(indent=2)`).
    @Test func stylesAreExact() {
        let value = JSONValue.object([
            ("b", .array([.integer(1), .object([("c", .null)]), .array([])])), ("a", .object([])), ("", .string("")),
        ])
        #expect(JSONWriter().render(value) == #"{"b":[1,{"c":null},[]],"a":{},"":""}"#)
        #expect(JSONWriter(.pretty).render(value) == """
            {
              "b": [
                1,
                {
                  "c": null
                },
                []
              ],
              "a": {},
              "": ""
            }
            """)
        #expect(JSONWriter.document(.array([])) == "[]\n")
        #expect(JSONWriter().render(.string("x")) == #""x""#)
    }

    @Test func escapesControlsAndNoncharactersOnly() {
        func quoted(_ s: String) -> String { JSONWriter.quoted(s) }
        #expect(quoted("a\"b\\c/d") == #""a\"b\\c/d""#)
        #expect(quoted("\n\r\t\u{8}\u{C}\u{0}\u{1F}") == #""\n\r\t\u0008\u000c\u0000\u001f""#)
        #expect(quoted("\u{7F}\u{80}\u{9F}\u{A0}") == "\"\\u007f\\u0080\\u009f\u{A0}\"")
        #expect(quoted("\u{2027}\u{2028}\u{2029}\u{202A}") == "\"\u{2027}\\u2028\\u2029\u{202A}\"")
        // Swift rejects noncharacters in literals; build those strings from scalar values.
        func scalars(_ values: UInt32...) -> String { String(String.UnicodeScalarView(values.map { Unicode.Scalar($0)! })) }
        #expect(quoted(scalars(0xFDCF, 0xFDD0, 0xFDEF, 0xFDF0)) == "\"\u{FDCF}\\ufdd0\\ufdef\u{FDF0}\"")
        #expect(quoted(scalars(0xFFFD, 0xFFFE, 0xFFFF)) == "\"\u{FFFD}\\ufffe\\uffff\"")
        #expect(quoted(scalars(0x1FFFE, 0x10FFFF, 0x1F600)) == "\"\\ud83f\\udffe\\udbff\\udfff\u{1F600}\"")
        #expect(quoted("é e\u{301} 中文") == "\"é e\u{301} 中文\"")
    }

    /// Every scalar class survives writer -> reader, byte for byte, in both styles.
    @Test func randomStringsRoundTrip() throws {
        let pool: [ClosedRange<UInt32>] = [0...0x7F, 0x80...0x7FF, 0x800...0xD7FF, 0xE000...0xFFFF, 0x10000...0x10FFFF,
                                           0xFDD0...0xFDEF, 0x2028...0x2029]
        var rng = SplitMix64(seed: 42)
        for _ in 0..<500 {
            var s = String.UnicodeScalarView()
            for _ in 0..<Int(rng.next() % 12) {
                let range = pool[Int(rng.next() % UInt64(pool.count))]
                s.append(Unicode.Scalar(range.lowerBound + UInt32(rng.next() % UInt64(range.count)))!)
            }
            let string = String(s)
            let value = JSONValue.object([(string, .array([.string(string)]))])
            for style in [JSONWriter.Style.compact, .pretty] {
                let bytes = JSONWriter(style).encode(value)
                #expect(!bytes.contains(0x7F) && !bytes.contains { $0 < 0x20 && (style == .compact || $0 != 0x0A && $0 != 0x20) })
                let back = try JSONReader.parse(bytes)
                #expect(back == value, "\(string.unicodeScalars.map { String($0.value, radix: 16) })")
            }
        }
    }

    @Test func recordsAreOneLineEach() throws {
        var out: [UInt8] = []
        JSONWriter.appendRecord(.object([("text", .string("two\nlines")), ("n", .integer(1))]), to: &out)
        JSONWriter.appendRecord(.array([.string("\u{2028}")]), to: &out)
        #expect(String(decoding: out, as: UTF8.self) == "{\"text\":\"two\\nlines\",\"n\":1}\n[\"\\u2028\"]\n")
        var hand: [UInt8] = Array("{\"id\":".utf8)
        JSONWriter.appendQuoted("a\tb", to: &hand)
        #expect(String(decoding: hand, as: UTF8.self) == #"{"id":"a\tb""#)
    }
}

@Suite struct NumberTests {
    @Test func integerAccessorsRejectFractionsAndNegatives() throws {
        #expect(JSONNumber("4096.0")!.uint64 == nil)
        #expect(JSONNumber("1e3")!.uint64 == nil)
        #expect(JSONNumber("-1")!.uint64 == nil)
        #expect(JSONNumber("-1")!.int64 == -1)
        #expect(JSONNumber("18446744073709551616")!.uint64 == nil)
        #expect(JSONNumber("1e999")!.double == nil)
        #expect(JSONNumber("4096")!.isInteger)
        #expect(!JSONNumber("4.096E3")!.isInteger)
    }

    /// `model_max_length` of many tokenizer_config.json files: no integer type holds it, the
    /// text stays exact, and it is an ordinary double.
    @Test func hugeNumbersKeepTheirText() throws {
        let v = try parse(#"{"model_max_length": 1000000000000000019884624838656, "x": -99999999999999999999999, "y": 1e400}"#)
        let n = try #require(v["model_max_length"]?.numberValue)
        #expect(n.text == "1000000000000000019884624838656")
        #expect(n.uint64 == nil && n.int64 == nil)
        #expect(n.double == 1e30)
        #expect(v["x"]?.int64Value == nil)
        #expect(v["y"]?.doubleValue == nil)
        let long = String(repeating: "9", count: 100_000)
        #expect(try parse(long).numberValue?.text == long)
        #expect(JSONWriter().render(v) == #"{"model_max_length":1000000000000000019884624838656,"x":-99999999999999999999999,"y":1e400}"#)
    }

    @Test func onlyTheGrammarIsANumber() {
        for good in ["0", "-0", "1", "-12", "1.5", "0.0", "1e5", "1E-5", "-1.25e+10"] {
            #expect(JSONNumber(good)?.text == good)
        }
        for bad in ["", "-", "01", "1.", ".5", "+1", "1e", "1e+", " 1", "1 ", "0x1", "NaN", "Infinity", "1_000", "١"] {
            #expect(JSONNumber(bad) == nil, "\(bad)")
        }
    }

    /// Doubles print as the shortest text that reads back exactly (Python's repr agrees on all of these).
    @Test func doublesAreShortestRoundTrip() throws {
        let cases: [(Double, String)] = [
            (0.1, "0.1"), (1e-6, "1e-06"), (10000, "10000.0"), (1e16, "1e+16"), (-0.0, "-0.0"),
            (5e-324, "5e-324"), (1.7976931348623157e308, "1.7976931348623157e+308"), (1e-5, "1e-05"), (123456.789, "123456.789"),
        ]
        for (v, text) in cases { #expect(JSONNumber(v)?.text == text) }
        #expect(JSONNumber(Double.nan) == nil && JSONNumber(Double.infinity) == nil && JSONNumber(-Float.infinity) == nil)
        #expect(JSONNumber(Float(0.1))?.text == "0.1")
        #expect(JSONNumber(Float(3))?.text == "3.0")
        var rng = SplitMix64(seed: 7)
        for _ in 0..<2000 {
            let v = Double(bitPattern: rng.next())
            guard v.isFinite else { continue }
            let n = try #require(JSONNumber(v))
            #expect(JSONNumber(n.text) == n)   // grammar-valid
            #expect(Double(n.text)?.bitPattern == v.bitPattern)
        }
    }
}
