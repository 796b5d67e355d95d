import Foundation
import QuietStarFormat
import QuietStarGGUF
import QuietStarTestSupport
import QuietStarTokenizer
import Testing
@testable import QuietStarInterop

/// `convertToGGUF` read back by our own GGUF reader and imported again by `convertFromGGUF`
/// (tools/reference/check_gguf_export.py reads the same exports with the `gguf` package and
/// finds them byte-identical to llama.cpp's own exports of these families).
@Suite struct GGUFExportTests {
    static func exported(_ family: String, dtype: DType? = nil, in dir: TemporaryDirectory) throws -> (qstar: String, gguf: String) {
        let qstar = dir.file("\(family).qstar"), gguf = dir.file("\(family).gguf")
        _ = try convertFromHF(directory: Fixtures.hf(family), output: qstar)
        _ = try convertToGGUF(input: qstar, output: gguf, options: ConversionOptions(dtype: dtype))
        return (qstar, gguf)
    }

    /// f32 -> GGUF F32 -> f32: every tensor comes back with its bytes (llama's q/k rows
    /// regrouped on the way out and back), the tokenizer with its ids, and Mistral's sliding
    /// window through `quietstar.sliding_window`.
    @Test(arguments: ["llama-tied", "llama-untied", "mistral", "qwen2"])
    func roundTripsBitForBit(_ family: String) throws {
        let dir = TemporaryDirectory()
        let (qstar, gguf) = try Self.exported(family, in: dir)
        let layout = try GGUFFile.open(path: gguf).layout
        #expect(layout.version == 3)
        #expect(layout["general.architecture"]?.stringValue == (family == "qwen2" ? "qwen2" : "llama"))
        let back = dir.file("\(family)-back.qstar")
        _ = try convertFromGGUF(path: gguf, output: back)
        let a = try QStarFile.open(path: qstar), b = try QStarFile.open(path: back)
        #expect(a.tensors.map(\.name) == b.tensors.map(\.name))
        for t in a.tensors {
            let u = try #require(b.info(t.name))
            #expect(u.dtype == t.dtype && u.shape == t.shape && Array(b.storedBytes(u)) == Array(a.storedBytes(t)), "\(family): \(t.name)")
        }
        let original = try Tokenizer(metadata: a.metadata), imported = try Tokenizer(metadata: b.metadata)
        for text in ["Hello world, it's 2024!", "  spaces\tand\nnewlines  ", "naïve café 🤗", "<s>a</s><|endoftext|>"] {
            #expect(imported.encode(text) == original.encode(text), "\(family): ids of \(text.debugDescription)")
            #expect(imported.encode(text, addSpecialTokens: false) == original.encode(text, addSpecialTokens: false))
        }
        for key in ["llama.sliding_window", "llama.rope_scaling.type", "llama.rope_theta", "llama.rms_norm_eps", "llama.tie_embeddings"] {
            #expect(a.metadata[key] == b.metadata[key], "\(family): \(key)")
        }
    }

    /// Q8_0 blocks are written as they are stored, and read back as the same blocks.
    @Test func q8ExportKeepsTheBlocks() throws {
        let dir = TemporaryDirectory()
        let qstar = dir.file("m.qstar"), gguf = dir.file("m.gguf"), back = dir.file("back.qstar")
        _ = try convertFromHF(directory: Fixtures.hf("mistral"), output: qstar, options: ConversionOptions(dtype: .q8_0))
        _ = try convertToGGUF(input: qstar, output: gguf)
        let layout = try GGUFFile.open(path: gguf).layout
        #expect(layout.tensor("blk.0.attn_q.weight")?.type == .q8_0 && layout.tensor("blk.0.attn_norm.weight")?.type == .f32)
        _ = try convertFromGGUF(path: gguf, output: back)
        let a = try QStarFile.open(path: qstar), b = try QStarFile.open(path: back)
        for t in a.tensors {
            let u = try #require(b.info(t.name))
            #expect(u.dtype == t.dtype && Array(b.storedBytes(u)) == Array(a.storedBytes(t)), "\(t.name)")
        }
    }

    /// Thought parameters have no llama.cpp form: they travel as `quietstar.*` metadata that our
    /// reader reads back value for value (llama.cpp ignores unknown keys and runs the base model).
    @Test func thoughtParametersTravelAsQuietStarKeys() throws {
        let dir = TemporaryDirectory()
        let (qstar, gguf) = try Self.exported("quietstar-mistral", in: dir)
        let report = try convertToGGUF(input: qstar, output: dir.file("again.gguf"))
        #expect(report.quietStar && report.notes.contains { $0.contains("quietstar.* metadata") })
        let layout = try GGUFFile.open(path: gguf).layout
        let file = try QStarFile.open(path: qstar)
        for name in ["thought.start_embedding", "thought.end_embedding", "mixing_head.0.weight"] {
            let info = try #require(file.info(name))
            let view = try file.tensor(info)
            var want = [Float](repeating: 0, count: view.elementCount)
            try want.withUnsafeMutableBufferPointer { try view.decodeFloat32(elements: 0..<$0.count, into: $0) }
            let got = try #require(layout["quietstar.tensor.\(name)"]?.arrayValue).map { v -> Float in
                if case let .float32(f) = v { return f }
                return .nan
            }
            #expect(got == want, "\(name)")
            #expect(layout["quietstar.tensor.\(name).shape"]?.arrayValue?.compactMap(\.unsignedValue) == info.shape)
        }
        #expect(layout["quietstar.start_thought_token_id"] != nil)
        #expect(layout.tensors.allSatisfy { !$0.name.contains("thought") && !$0.name.contains("mixing") })

        // from-gguf reads them back: the same Quiet-STaR model, tensor for tensor and key for key.
        let back = dir.file("back.qstar")
        #expect(try convertFromGGUF(path: gguf, output: back).quietStar)
        let again = try QStarFile.open(path: back)
        #expect(Set(again.tensors.map(\.name)) == Set(file.tensors.map(\.name)))
        for t in file.tensors where t.dtype == .f32 {
            #expect(Array(again.storedBytes(again.info(t.name)!)) == Array(file.storedBytes(t)), "\(t.name)")
        }
        for (k, v) in file.metadata.entries where k.hasPrefix("quietstar.") { #expect(again.metadata[k] == v, "\(k)") }
    }

    @Test func refusesDTypesGGUFCannotHold() throws {
        let dir = TemporaryDirectory()
        let qstar = dir.file("m.qstar")
        _ = try convertFromHF(directory: Fixtures.hf("llama-tied"), output: qstar)
        #expect(throws: InteropError.self) { try convertToGGUF(input: qstar, output: dir.file("x.gguf"), options: ConversionOptions(dtype: .i32)) }
        #expect(!FileManager.default.fileExists(atPath: dir.file("x.gguf")))
    }
}
