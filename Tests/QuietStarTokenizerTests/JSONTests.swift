import Foundation
import Testing
@testable import QuietStarTokenizer

@Suite struct JSONTests {
    func parse(_ text: String) throws -> JSON {
        var bytes = Array(text.utf8)
        return try bytes.withUnsafeMutableBufferPointer { try JSON.parse(UnsafeBufferPointer($0)) }
    }

    func failure(_ text: String) -> JSON.SyntaxError? {
        do {
            _ = try parse(text)
            return nil
        } catch let e as JSON.SyntaxError {
            return e
        } catch {
            return nil
        }
    }

    @Test func values() throws {
        let v = try parse(#" {"a": [1, -2, 3.5, 1e2, true, false, null], "b": "x\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00", "a": {}} "#)
        guard case .object(let members) = v else { Issue.record("not an object"); return }
        #expect(members.map(\.key) == ["a", "b", "a"])   // order and duplicates kept
        #expect(members[0].value.text == "[1,-2,3.5,100.0,true,false,null]")
        guard case .string(let s) = members[1].value else { Issue.record("not a string"); return }
        #expect(Array(s.unicodeScalars) == Array("x\"\\/\u{8}\u{C}\n\r\t\u{E9}\u{1F600}".unicodeScalars))
        #expect(try parse("12345678901234").text == "12345678901234")
    }

    @Test func errorsHaveOffsets() {
        #expect(failure(#"{"a": 1,}"#)?.offset == 8)
        #expect(failure(#"{"a" 1}"#)?.message == "expected ':'")
        #expect(failure(#"["\ud800"]"#)?.message == "unpaired surrogate escape")
        #expect(failure("[\"a\u{1}\"]")?.message == "control character in a string")
        #expect(failure("[01]") != nil)
        #expect(failure("[1] 2")?.message == "unexpected text after the JSON value")
        #expect(failure(String(repeating: "[", count: 200))?.message.contains("nested deeper") == true)
        var invalid: [UInt8] = Array(#"[""#.utf8) + [0xFF] + Array(#""]"#.utf8)
        let e = invalid.withUnsafeMutableBufferPointer { buffer -> JSON.SyntaxError? in
            do throws(JSON.SyntaxError) {
                _ = try JSON.parse(UnsafeBufferPointer(buffer))
                return nil
            } catch {
                return error
            }
        }
        #expect(e?.message == "string is not valid UTF-8")
    }

    @Test func tokenizerJSONErrorsNameTheFile() {
        do {
            _ = try TokenizerSpec(huggingFaceTokenizerJSON: Data("{\"model\": ".utf8), tokenizerConfigJSON: nil)
            Issue.record("accepted")
        } catch {
            #expect(error.location == "tokenizer.json")
            #expect(error.message.hasPrefix("not valid JSON at byte 10"))
        }
    }
}
