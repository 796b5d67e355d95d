import Foundation
import Testing

/// JSONL input goes through QuietStarJSON's strict reader: what Foundation's `JSONSerialization`
/// let through or changed (a repeated key, number ids normalised, an id object's members
/// re-ordered, keys merged by canonical equivalence) now either fails the line with a message
/// saying what and where, or is echoed back byte for byte.
@Suite struct RunJSONInputTests {
    /// `score --input-format jsonl --format jsonl` on the `llama-tied` model over `lines`.
    func score(_ m: RunCLITests.Models, _ lines: [String]) throws -> (result: CLIResult, records: [String]) {
        let r = try CLI.run("quietstar-run", ["score", "--model", m.tied, "--input-format", "jsonl", "--format", "jsonl"],
                            stdin: Data(lines.joined(separator: "\n").utf8))
        var records = r.stdoutText.components(separatedBy: "\n")
        if records.last == "" { records.removeLast() }
        return (r, records)
    }

    /// Whether `s` starts with exactly the bytes of `prefix` (`String.hasPrefix` would call "é"
    /// and "e\u{301}" equal).
    func startsExactly(_ s: String, _ prefix: String) -> Bool { s.utf8.starts(with: prefix.utf8) }

    @Test func aRepeatedKeyFailsItsLineAndTheOthersRun() throws {
        let m = try RunCLITests.Models()
        let (r, out) = try score(m, [
            #"{"id": "a", "prompt": "Hello"}"#,
            #"{"id": "b", "prompt": "Hello", "prompt": "World"}"#,
            #"{"id": "c", "text": "World"}"#,
        ])
        #expect(r.status == 1)
        #expect(out.count == 3)
        #expect(startsExactly(out[0], #"{"id":"a","line":1,"logprob":"#))
        // The error names the key and points at the opening quote of its second occurrence; the
        // id is unknown because the line did not parse, so it is null and "line" says which line.
        #expect(out[1] == #"{"id":null,"line":2,"error":"invalid JSON at byte 31 of the line: duplicate key \"prompt\""}"#)
        #expect(startsExactly(out[2], #"{"id":"c","line":3,"logprob":"#))
        #expect(r.stderrText.contains("1 of 3 lines failed"))
    }

    @Test func idsAreEchoedExactlyAsWritten() throws {
        let m = try RunCLITests.Models()
        let ids = [
            "12345678901234567890", "-12345678901234567890123",   // no Double or Int64 holds these
            "1.0", "1E3", "-0.5e-7",   // number text is kept, not normalised to 1, 1000, -5e-08
            #"{"z":[1,2.50,{"k":null}],"a":"x","b":true}"#,   // members in document order
            #""a\/b\u00e9""#,   // a string is re-serialised: the same value, minimal escapes
        ]
        let echoed = ids.dropLast() + [#""a/bé""#]
        let (r, out) = try score(m, ids.map { #"{"id": \#($0), "text": "Hello"}"# })
        #expect(r.status == 0, "\(r.stderrText)")
        #expect(out.count == ids.count)
        for (n, (record, id)) in zip(out, echoed).enumerated() {
            #expect(startsExactly(record, #"{"id":\#(id),"line":\#(n + 1),"logprob":"#), "\(record)")
        }
    }

    @Test func keysMatchByTheirBytesNotByCanonicalEquivalence() throws {
        let m = try RunCLITests.Models()
        let precomposed = "\u{E9}", decomposed = "e\u{301}"   // canonically equivalent: Swift's == says equal
        let (r, out) = try score(m, [
            // Two keys that differ in their bytes are two members, not a duplicate, and are
            // echoed as written (Foundation merged them into one member holding 2).
            #"{"id": {"\#(precomposed)": 1, "\#(decomposed)": 2}, "text": "Hello"}"#,
            // "prompt" followed by a combining mark is another key, not "prompt".
            #"{"id": 1, "prompt\#u{301}": "Hello"}"#,
        ])
        #expect(r.status == 1)
        #expect(out.count == 2)
        #expect(startsExactly(out[0], #"{"id":{"\#(precomposed)":1,"\#(decomposed)":2},"line":1,"logprob":"#), "\(out[0])")
        #expect(!startsExactly(out[0], #"{"id":{"\#(precomposed)":1,"\#(precomposed)":2}"#))
        #expect(out[1].utf8.elementsEqual(#"{"id":1,"line":2,"error":"the object has no \"text\" or \"prompt\" field"}"#.utf8))
    }
}
