import Foundation
import QuietStarCheckpoint
import QuietStarFormat
import QuietStarModel
import QuietStarModelTestSupport
import QuietStarTestSupport
import Testing

@Suite struct ModelConfigTests {
    @Test func metadataRoundTrips() throws {
        for config in [TestConfigs.gqa, TestConfigs.windowed, TestConfigs.quantisable] {
            #expect(try ModelConfig(metadata: Metadata(config.metadataEntries)) == config)
        }
        var c = TestConfigs.gqa
        c.ropeScaling = .llama3(factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContext: 64)
        c.bosTokenId = 1
        c.eosTokenIds = [2, 5]
        #expect(try ModelConfig(metadata: Metadata(c.metadataEntries)) == c)
        c.ropeScaling = .dynamic(factor: 2, originalContext: 32)
        #expect(try ModelConfig(metadata: Metadata(c.metadataEntries)) == c)
    }

    /// Every problem names the metadata key at fault.
    @Test(arguments: [
        ("llama.hidden_size", nil, "llama.hidden_size"),
        ("llama.num_heads", MetadataValue.string("four"), "llama.num_heads"),
        ("llama.num_kv_heads", .uint(3), "llama.num_kv_heads"),
        ("llama.head_dim", .uint(7), "llama.head_dim"),
        ("llama.vocab_size", .uint(0), "llama.vocab_size"),
        ("llama.rms_norm_eps", .float(-1), "llama.rms_norm_eps"),
        ("llama.rope_scaling.type", .string("yarn"), "llama.rope_scaling.type"),
        ("general.architecture", .string("gpt2"), "general.architecture"),
        ("llama.eos_token_ids", .uintArray([1, 100_000]), "llama.eos_token_ids"),
    ] as [(String, MetadataValue?, String)])
    func invalidMetadataNamesTheKey(_ key: String, _ value: MetadataValue?, _ named: String) {
        var m = Metadata(TestConfigs.gqa.metadataEntries)
        m[key] = value
        do {
            _ = try ModelConfig(metadata: m)
            Issue.record("accepted \(key) = \(String(describing: value))")
        } catch {
            #expect(error.key == named, "\(error.message)")
            #expect(error.message.contains(named), "\(error.message)")
        }
    }

    /// A missing tensor or a wrong shape is named, with the file.
    @Test func missingOrMisshapenTensorsAreNamed() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("m.qstar")
        try RandomModel.write(to: path, config: TestConfigs.gqa, seed: 1)
        let file = try QStarFile.open(path: path)
        var wider = TestConfigs.gqa
        wider.intermediateSize = 80
        #expect(throws: ModelError.self) { try ModelWeights(file: file, config: wider) }
        do { _ = try ModelWeights(file: file, config: wider) } catch {
            #expect(error.message.contains("layers.0.ffn.gate.weight") && error.message.contains("m.qstar"))
        }
        var tied = TestConfigs.gqa
        tied.tieEmbeddings = true   // but output.weight is present: ambiguous
        #expect(throws: ModelError.self) { try ModelWeights(file: file, config: tied) }
        var noBias = TestConfigs.gqa
        noBias.attentionBias = false   // extra tensors are ignored
        #expect(throws: Never.self) { try ModelWeights(file: file, config: noBias) }
        var untiedMissing = TestConfigs.windowed
        untiedMissing.tieEmbeddings = false
        let path2 = dir.file("w.qstar")
        try RandomModel.write(to: path2, config: TestConfigs.windowed, seed: 2)
        let file2 = try QStarFile.open(path: path2)
        do {
            _ = try ModelWeights(file: file2, config: untiedMissing)
            Issue.record("a missing output.weight was accepted")
        } catch {
            #expect(error.message.contains("output.weight"))
        }
        #expect(throws: ModelError.self) { try LanguageModel(path: dir.file("absent.qstar")) }
        do { _ = try LanguageModel(path: dir.file("absent.qstar")) } catch { #expect(error.kind == .missingFile) }
    }

    /// Weight matrices are views into the mapped file, in the stored dtype: no copy, no f32
    /// expansion (what lets a bf16 model larger than half the RAM run).
    @Test(arguments: [DType.f32, .bf16, .q8_0])
    func matricesAreReadInPlace(_ dtype: DType) throws {
        let dir = TemporaryDirectory()
        let (file, weights) = try randomWeights(TestConfigs.quantisable, dtype: dtype, in: dir)
        func mapped(_ name: String) -> UnsafeRawPointer? { file.storedBytes(file.info(name)!).baseAddress }
        #expect(weights.embedding.base == mapped("token_embedding.weight"))
        #expect(weights.layers[1].down.base == mapped("layers.1.ffn.down.weight"))
        #expect(weights.layers[0].q.encoding.rawValue == dtype.name && weights.output.encoding.rawValue == dtype.name)
        #expect(weights.output.base == mapped("output.weight"))
    }
}
