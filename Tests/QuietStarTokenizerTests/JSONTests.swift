import Foundation
import Testing
@testable import QuietStarTokenizer

/// How tokenizer files reach the shared JSON reader (QuietStarJSON, whose own tests cover the
/// grammar): errors name the file and the byte.
@Suite struct JSONTests {
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
