import Testing
@testable import QuietStarInterop

@Suite struct JSONTests {
    @Test func parsesNestedValuesAndKeepsNumberText() throws {
        let v = try JSONReader.parse(Array(#" {"a": [1, -2.5e3, true, null], "b": {"c": "x\u00e9\ud83d\ude00\n"}, "big": 18446744073709551615} "#.utf8))
        #expect(v["a"]?.arrayValue?.count == 4)
        #expect(v["a"]?.arrayValue?[1] == .number("-2.5e3"))
        #expect(v["a"]?.arrayValue?[1].doubleValue == -2500)
        #expect(v["b"]?["c"]?.stringValue == "xé😀\n")
        // u64 max survives exactly (a Double could not hold it).
        #expect(v["big"]?.uint64Value == UInt64.max)
        #expect(v.objectEntries?.map(\.key) == ["a", "b", "big"])
    }

    @Test func integerAccessorsRejectFractionsAndNegatives() throws {
        #expect(JSONValue.number("4096.0").uint64Value == nil)
        #expect(JSONValue.number("1e3").uint64Value == nil)
        #expect(JSONValue.number("-1").uint64Value == nil)
        #expect(JSONValue.number("-1").int64Value == -1)
        #expect(JSONValue.number("18446744073709551616").uint64Value == nil)
        #expect(JSONValue.number("1e999").doubleValue == nil)
    }

    @Test(arguments: [
        (#"{"a":1,"a":2}"#, 7, "duplicate key"),
        (#"{"a":01}"#, 6, "expected ',' or '}'"),  // a leading zero ends the number
        (#"[1,]"#, 3, "unexpected character"),
        (#"{"a":"\x"}"#, 8, "invalid escape"),
        ("\"\u{01}\"", 1, "raw control"),
        (#""\udc00""#, 7, "lone low surrogate"),
        (#"{"a":1} x"#, 8, "unexpected bytes after"),
        ("", 0, "unexpected end"),
    ])
    func rejectsMalformedInputWithOffsets(text: String, offset: Int, message: String) {
        do {
            _ = try JSONReader.parse(Array(text.utf8))
            Issue.record("accepted \(text)")
        } catch {
            #expect(error.offset == offset, "\(text): \(error)")
            #expect(error.message.contains(message), "\(text): \(error.message)")
        }
    }

    @Test func rejectsDeepNestingWithoutCrashing() {
        let deep = String(repeating: "[", count: 100_000)
        #expect(throws: JSONParseError.self) { try JSONReader.parse(Array(deep.utf8)) }
    }

    @Test func rejectsInvalidUTF8InStrings() {
        let bytes: [UInt8] = [0x22, 0xFF, 0x22]
        #expect(throws: JSONParseError.self) { try JSONReader.parse(bytes) }
    }

    @Test func writerRoundTripsAndIsDeterministic() throws {
        let value = JSONValue.object([
            ("z", .integer(3)), ("a", .array([.double(1e-6), .double(10000), .bool(false), .null])),
            ("s", .string("quote\" backslash\\ tab\t ctl\u{01} é")), ("e", .object([])), ("l", .array([])),
        ])
        let text = JSONWriter.render(value)
        #expect(text.hasPrefix("{\n  \"z\": 3,\n  \"a\": [\n    1e-06,\n    10000.0,"))
        #expect(try JSONReader.parse(Array(text.utf8)) == value)
        #expect(try JSONReader.parse(Array(JSONWriter.render(value, pretty: false).utf8)) == value)
        #expect(JSONWriter.render(value) == text)
    }
}
