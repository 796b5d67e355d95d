#if !QSTAR_FUZZ
import QuietStarJSON
#endif

// What the JSON reader's fuzz target (tools/fuzz/run-fuzz json) does with one input, shared by
// the libFuzzer entry (tools/fuzz/JSONFuzz.swift, compiled into the JSON module with
// -D QSTAR_FUZZ) and by `JSONFuzzReplayTests`, which replays every committed corpus file
// (tools/fuzz/corpus/json/) through it on every test run. The input is read as one document and
// as JSON Lines (each line a document, as quietstar-run and the trainer read them). For each:
// no trap; an error names a position inside the input; an accepted value is written back
// (compact and pretty), re-read to an equal value, and compact output is a fixed point; every
// accessor is walked; a stricter depth limit and kept duplicate keys never accept less or trap.
enum JSONExercise {
    /// Runs the checks (a failed check traps); returns how many documents were accepted.
    @discardableResult
    static func run(_ input: UnsafeRawBufferPointer) -> Int {
        var accepted = check(input) ? 1 : 0
        var start = 0
        for i in 0..<input.count where input[i] == 0x0A {
            if check(UnsafeRawBufferPointer(rebasing: input[start..<i])) { accepted += 1 }
            start = i + 1
        }
        if start > 0, start < input.count, check(UnsafeRawBufferPointer(rebasing: input[start...])) { accepted += 1 }
        return accepted
    }

    static func check(_ bytes: UnsafeRawBufferPointer) -> Bool {
        let value: JSONValue
        do {
            value = try JSONReader.parse(bytes)
        } catch {
            precondition(error.offset >= 0 && error.offset <= bytes.count, "error offset \(error.offset) outside the input")
            precondition(error.line >= 1 && error.column >= 1, "error position \(error.line):\(error.column)")
            precondition(!error.message.isEmpty, "empty error message")
            // Keeping duplicates accepts a superset of the default.
            _ = try? JSONReader.parse(bytes, options: .init(duplicateKeys: .keep))
            return false
        }
        let compact = JSONWriter(.compact).encode(value)
        let again: JSONValue
        do { again = try JSONReader.parse(compact) } catch {
            preconditionFailure("the writer's output does not read back: \(error)")
        }
        precondition(again == value, "compact round trip changed the value")
        precondition(JSONWriter(.compact).encode(again) == compact, "compact output is not a fixed point")
        let pretty = JSONWriter(.pretty).encode(value)
        precondition((try? JSONReader.parse(pretty)) == value, "pretty round trip changed the value")
        // A value accepted by default is accepted with duplicates kept, identically.
        precondition((try? JSONReader.parse(bytes, options: .init(duplicateKeys: .keep))) == value,
                     "keeping duplicate keys changed an accepted document")
        // Depth: accepted exactly when the limit is at least the value's depth.
        let d = depth(value)
        precondition((try? JSONReader.parse(bytes, options: .init(maxDepth: d))) == value, "rejected at its own depth \(d)")
        if d > 0 { precondition((try? JSONReader.parse(bytes, options: .init(maxDepth: d - 1))) == nil, "accepted above the depth limit") }
        // The size limit.
        if bytes.count > 0 { precondition((try? JSONReader.parse(bytes, options: .init(maxBytes: bytes.count - 1))) == nil) }
        walk(value)
        return true
    }

    /// How many arrays and objects the deepest value sits inside (the root: 0).
    static func depth(_ v: JSONValue) -> Int {
        switch v {
        case .array(let a): a.isEmpty ? 0 : 1 + a.map(depth).max()!
        case .object(let o): o.isEmpty ? 0 : 1 + o.map { depth($0.value) }.max()!
        default: 0
        }
    }

    static func walk(_ v: JSONValue) {
        _ = v.isNull
        _ = v.boolValue
        _ = v.stringValue
        _ = v.uint64Value
        _ = v.int64Value
        if let n = v.numberValue {
            _ = n.isInteger
            _ = n.description
            precondition(JSONNumber(n.text) == n, "a number's text does not read back")
        }
        if let a = v.arrayValue { a.forEach(walk) }
        if let o = v.objectEntries {
            for (k, member) in o {
                // Lookup finds the first member with this key.
                precondition(v[k] != nil, "member \(k) not found by lookup")
                walk(member)
            }
        }
    }
}
