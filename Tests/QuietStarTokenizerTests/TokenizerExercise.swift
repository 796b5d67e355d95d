import Foundation
#if !QSTAR_FUZZ
import QuietStarTokenizer
#endif

// What the tokenizer's fuzz target (tools/fuzz/run-fuzz tokenizer) does with one input, shared
// by the libFuzzer entry (tools/fuzz/TokenizerFuzz.swift, compiled into the tokenizer module with
// -D QSTAR_FUZZ) and by `TokenizerFuzzReplayTests`, which replays every committed corpus file
// (tools/fuzz/corpus/tokenizer/) through it on every test run. The input is tried three ways:
//
// 1. as a tokenizer.json: parsed (`TokenizerSpec(huggingFaceTokenizerJSON:)`), built, its
//    `.qstar` metadata written and read back to an equal spec, and a probe text encoded and
//    decoded with it;
// 2. as text (its first 1 KiB, decoded as UTF-8 with replacement) through one of the committed
//    fixture tokenizers (chosen by the input's last byte, so each gets a fifth of the inputs and
//    an execution costs one tokenizer, not five): ids inside the vocabulary, the streaming
//    decoder equal to `decodeBytes`, and for the byte-level BPE tokenizers without a normalizer
//    (gpt2, llama3), which promise it, decode(encode(x)) == x byte for byte;
// 3. as ids (little-endian 16-bit words, shifted so some are negative or past the vocabulary)
//    through that fixture's decoders: out-of-vocabulary ids are dropped, nothing traps.
enum TokenizerExercise {
    struct Fixture: Sendable {
        let name: String
        let tokenizer: Tokenizer
        /// decode(encode(x)) == x for every valid UTF-8 x.
        let roundTrips: Bool
    }

    static let repositoryRoot: String = {
        var path = #filePath
        if !path.hasPrefix("/") { path = FileManager.default.currentDirectoryPath + "/" + path }
        return URL(fileURLWithPath: path).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
    }()

    static let fixtures: [Fixture] = [("gpt2", true), ("llama3", true), ("qwen2", false), ("llama2", false),
                                      ("mistral-metaspace", false)].map { name, roundTrips in
        let dir = repositoryRoot + "/fixtures/tokenizers/" + name
        let json = FileManager.default.contents(atPath: dir + "/tokenizer.json")!
        let config = FileManager.default.contents(atPath: dir + "/tokenizer_config.json")
        let spec = try! TokenizerSpec(huggingFaceTokenizerJSON: json, tokenizerConfigJSON: config)
        return Fixture(name: name, tokenizer: try! Tokenizer(spec: spec), roundTrips: roundTrips)
    }

    static let probe = "Hello, world! 12 + 30 = 42\n\tcafé 日本語 🙂 <|endoftext|> <s></s>  "

    /// Runs the checks (a failed check traps); returns 1 when the input is an accepted
    /// tokenizer.json, else 0.
    @discardableResult
    static func run(_ input: UnsafeRawBufferPointer) -> Int {
        var accepted = 0
        // 1. A tokenizer.json.
        if input.first == UInt8(ascii: "{"),
           let spec = try? TokenizerSpec(huggingFaceTokenizerJSON: Data(input), tokenizerConfigJSON: nil) {
            let back: TokenizerSpec
            do { back = try TokenizerSpec(metadata: spec.metadata) } catch {
                preconditionFailure("an accepted spec's metadata does not read back: \(error)")
            }
            precondition(back == spec, "metadata round trip changed the spec")
            if let tokenizer = try? Tokenizer(spec: spec) {
                accepted = 1
                exercise(tokenizer, Array(probe.utf8.prefix(max(0, input.count % 64))), roundTrips: false)
                decodeIds(tokenizer, input)
            }
        }
        // 2. Text.
        let f = fixtures[Int(input.last ?? 0) % fixtures.count]
        exercise(f.tokenizer, Array(input.prefix(1024)), roundTrips: f.roundTrips)
        // 3. Ids.
        decodeIds(f.tokenizer, input)
        return accepted
    }

    static func exercise(_ t: Tokenizer, _ raw: [UInt8], roundTrips: Bool) {
        let text = String(decoding: raw, as: UTF8.self)
        for special in [false, true] {
            let ids = t.encode(text, addSpecialTokens: special)
            for id in ids { precondition(id >= 0 && Int(id) < t.vocabularySize, "encode produced id \(id)") }
            let decoded = t.decode(ids)
            let bytes = t.decodeBytes(ids)
            if roundTrips && !special {
                precondition(Array(decoded.utf8) == Array(text.utf8), "decode(encode(x)) != x")
                precondition(bytes == Array(text.utf8), "decodeBytes(encode(x)) != x")
            }
            streamingMatches(t, ids, bytes, skip: false)
            let skipped = t.decodeBytes(ids, skipSpecialTokens: true)
            streamingMatches(t, ids, skipped, skip: true)
            _ = t.decode(ids, skipSpecialTokens: true)
            for id in ids.prefix(64) {
                _ = t.tokenText(id)
                let s = t.token(of: id)
                precondition(s != nil, "no token string for id \(id)")
            }
        }
    }

    static func streamingMatches(_ t: Tokenizer, _ ids: [Int32], _ bytes: [UInt8], skip: Bool) {
        var stream = StreamingDecoder(tokenizer: t, skipSpecialTokens: skip)
        var out: [UInt8] = []
        for id in ids { out += Array(stream.append(id).utf8) }
        out += Array(stream.finish().utf8)
        precondition(out == Array(String(decoding: bytes, as: UTF8.self).utf8), "streamed text differs from decodeBytes")
    }

    static func decodeIds(_ t: Tokenizer, _ input: UnsafeRawBufferPointer) {
        var ids: [Int32] = []
        var i = 0
        while i + 1 < min(input.count, 512) {
            ids.append(Int32(UInt16(input[i]) | UInt16(input[i + 1]) << 8) - 256)
            i += 2
        }
        let kept = ids.filter { $0 >= 0 && Int($0) < t.vocabularySize }
        precondition(Array(t.decode(ids).utf8) == Array(t.decode(kept).utf8), "out-of-vocabulary ids are not dropped")
        precondition(t.decodeBytes(ids) == t.decodeBytes(kept), "out-of-vocabulary ids are not dropped (bytes)")
        _ = t.decode(ids, skipSpecialTokens: true)
        streamingMatches(t, ids, t.decodeBytes(ids), skip: false)
        for id in ids.prefix(16) { _ = t.tokenText(id); _ = t.isSpecialToken(id); _ = t.token(of: id) }
    }
}
