import Foundation
import QuietStarFormat
import Testing

/// The bundled default model is what `tools/default_model/make.sh` pins: its configuration,
/// provenance and Quiet-STaR settings, at most 16 MB, every checksum intact. (What its thoughts
/// do is measured by tools/default_model/evaluate.py in release mode and stated in the README:
/// scoring with thoughts in a debug build would take minutes.)
@Suite struct DefaultModelTests {
    static let path = CLI.fixture("default/quietstar-arithmetic.qstar").path

    @Test func isWhatTheScriptPins() throws {
        let size = try #require(try FileManager.default.attributesOfItem(atPath: Self.path)[.size] as? Int)
        #expect(size <= 16 << 20)
        let file = try QStarFile.open(path: Self.path)
        let m = file.metadata
        #expect(m["general.name"] == .string("quietstar-arithmetic"))
        #expect(try m.uint("llama.num_layers") == 6 && m.uint("llama.hidden_size") == 256)
        #expect(try m.uint("llama.num_heads") == 4 && m.uint("llama.intermediate_size") == 688)
        #expect(try m.uint("llama.context_length") == 256 && m.uint("llama.vocab_size") == 260)
        #expect(try m.uint("quietstar.thought_tokens") == 4)
        #expect(try m.uint("provenance.training_step") == 500, "500 Quiet-STaR steps")
        #expect(m["provenance.creator"] == .string("quietstar-train"))
        #expect(m["provenance.source"] == .string("/tmp/qs-default/base.qstar"), "pretrained by the same script")
        #expect(!m.keys.contains { $0.hasPrefix("train.") }, "a weights-only model")
        #expect(file.tensors.contains { $0.name == "thought.start_embedding" } && file.tensors.contains { $0.name.hasPrefix("mixing_head.") })
        let dtypes = Set(file.tensors.compactMap { $0.dtype.map { "\($0)" } })
        #expect(dtypes.contains("f16"), "stored as f16: \(dtypes)")
        let verify = try CLI.run("quietstar-inspect", ["--verify", Self.path])
        #expect(verify.status == 0, "\(verify.stderrText)")
    }

    /// Without --model, quietstar-run takes $QUIETSTAR_MODEL (tools/demo also installs the file
    /// beside the executables, the bundled location).
    @Test func runsWithoutModelFlag() throws {
        let r = try CLI.run("quietstar-run", ["generate", "--max-tokens", "3"], stdin: Data("12 + 30 =\n".utf8),
                            environment: ["QUIETSTAR_MODEL": Self.path])
        #expect(r.status == 0, "\(r.stderrText)")
        #expect(r.stdoutText.split(separator: "\n").count == 1)
    }
}
