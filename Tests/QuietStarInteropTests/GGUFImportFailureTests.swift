import Foundation
import QuietStarFormat
import QuietStarGGUF
import QuietStarTestSupport
import Testing
@testable import QuietStarInterop

/// `convertFromGGUF` refuses what it cannot convert faithfully, naming the key or tensor, and
/// leaves no output behind. Each case is a valid export of the llama-tied fixture with one
/// thing changed (rewritten through `GGUFWriter`).
@Suite struct GGUFImportFailureTests {
    struct Case: CustomStringConvertible, Sendable {
        var name: String
        var field: String
        var kind: InteropError.Kind
        var edit: @Sendable (inout [(key: String, value: GGUFValue)], inout [String]) -> Void
        var description: String { name }
    }

    static let cases: [Case] = [
        Case(name: "unsupported architecture", field: "general.architecture", kind: .unsupported) { m, _ in
            set(&m, "general.architecture", .string("gemma"))
        },
        Case(name: "unknown architecture key", field: "llama.expert_gating_func", kind: .unsupported) { m, _ in
            m.append(("llama.expert_gating_func", .uint32(1)))
        },
        Case(name: "partial rotary", field: "llama.rope.dimension_count", kind: .unsupported) { m, _ in
            set(&m, "llama.rope.dimension_count", .uint32(8))
        },
        Case(name: "yarn rope scaling", field: "llama.rope.scaling.type", kind: .unsupported) { m, _ in
            m.append(("llama.rope.scaling.type", .string("yarn")))
        },
        Case(name: "missing tensor", field: "blk.1.ffn_up.weight", kind: .invalidInput) { _, dropped in
            dropped.append("blk.1.ffn_up.weight")
        },
        Case(name: "wrong shape from the metadata", field: "token_embd.weight", kind: .invalidInput) { m, _ in
            set(&m, "llama.embedding_length", .uint32(32))
            set(&m, "llama.attention.key_length", .uint32(8))
            set(&m, "llama.attention.value_length", .uint32(8))
            set(&m, "llama.rope.dimension_count", .uint32(8))
        },
        Case(name: "unknown tokenizer model", field: "tokenizer.ggml.model", kind: .unsupported) { m, _ in
            set(&m, "tokenizer.ggml.model", .string("t5"))
        },
        Case(name: "unknown pre-tokenizer", field: "tokenizer.ggml.pre", kind: .unsupported) { m, _ in
            set(&m, "tokenizer.ggml.pre", .string("deepseek-coder"))
            m.removeAll { $0.key.hasPrefix("quietstar.tokenizer.") }
        },
        Case(name: "bos id outside the vocabulary", field: "tokenizer.ggml.bos_token_id", kind: .invalidInput) { m, _ in
            set(&m, "tokenizer.ggml.bos_token_id", .uint32(100_000))
        },
    ]

    static func set(_ m: inout [(key: String, value: GGUFValue)], _ key: String, _ value: GGUFValue) {
        if let i = m.firstIndex(where: { $0.key == key }) { m[i].value = value } else { m.append((key, value)) }
    }

    /// The llama-tied export with `edit` applied to its metadata and tensor list.
    static func edited(_ edit: (inout [(key: String, value: GGUFValue)], inout [String]) -> Void, in dir: TemporaryDirectory) throws -> String {
        let qstar = dir.file("m.qstar"), base = dir.file("base.gguf"), out = dir.file("edited.gguf")
        _ = try convertFromHF(directory: Fixtures.hf("llama-tied"), output: qstar)
        _ = try convertToGGUF(input: qstar, output: base)
        let file = try GGUFFile.open(path: base)
        var metadata = file.layout.metadata
        var dropped: [String] = []
        edit(&metadata, &dropped)
        let kept = file.layout.tensors.filter { !dropped.contains($0.name) }
        let writer = try GGUFWriter(path: out, metadata: metadata, tensors: kept.map { GGUFWriter.Tensor(name: $0.name, dims: $0.dims, type: $0.type) })
        for t in kept {
            try writer.beginTensor(t.name)
            try writer.append(file.bytes(of: t))
            try writer.endTensor()
        }
        try writer.finish()
        return out
    }

    @Test func theUneditedExportConverts() throws {
        let dir = TemporaryDirectory()
        _ = try convertFromGGUF(path: try Self.edited({ _, _ in }, in: dir), output: dir.file("ok.qstar"))
    }

    @Test(arguments: cases)
    func isRefusedNamingTheField(_ c: Case) throws {
        let dir = TemporaryDirectory()
        let path = try Self.edited(c.edit, in: dir)
        let output = dir.file("out.qstar")
        do {
            _ = try convertFromGGUF(path: path, output: output)
            Issue.record("\(c.name) was converted")
        } catch {
            #expect(error.field == c.field && error.kind == c.kind, "\(c.name): \(error)")
        }
        #expect(!FileManager.default.fileExists(atPath: output))
    }

    @Test func hostileBytesEndInAnErrorNamingTheFile() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("bad.gguf")
        try Data("GGUF\u{3}\0\0\0".utf8 + [UInt8](repeating: 0xFF, count: 16)).write(to: URL(fileURLWithPath: path))
        do {
            _ = try convertFromGGUF(path: path, output: dir.file("out.qstar"))
            Issue.record("accepted")
        } catch {
            #expect(error.kind == .invalidInput && error.path == path && error.field == "n_tensors" && error.offset == 8, "\(error)")
        }
        #expect(throws: InteropError.self) { try convertFromGGUF(path: dir.file("absent.gguf"), output: dir.file("o.qstar")) }
    }
}
