import Foundation
import QuietStarCheckpoint
import QuietStarFormat
import Testing

/// The checkpoint conventions: each type writes what it reads back, and the spec's tables list
/// exactly what the code writes.
@Suite struct ConventionsTests {
    static let config = ModelConfig(vocabSize: 96, hiddenSize: 32, layerCount: 2, headCount: 4, kvHeadCount: 2,
                                    headDim: 8, intermediateSize: 64, contextLength: 64, rmsNormEps: 1e-5,
                                    ropeTheta: 10_000,
                                    ropeScaling: .llama3(factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContext: 32),
                                    attentionBias: true, bosTokenId: 1, eosTokenIds: [2], name: "tiny",
                                    sourceArchitecture: "Qwen2ForCausalLM")

    static var spec: String {
        get throws {
            let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent()
            return try String(contentsOf: root.appendingPathComponent("formats/qstar-v1.md"), encoding: .utf8)
        }
    }

    @Test(arguments: [[Int32](), [2], [2, 5]])
    func modelConfigReadsBackWhatItWrites(eos: [Int32]) throws {
        var config = Self.config
        config.eosTokenIds = eos
        let read = try ModelConfig(metadata: Metadata(config.metadataEntries))
        #expect(read == config)
        // One end token is written as llama.eos_token_id, several as llama.eos_token_ids.
        let keys = config.metadataEntries.map(\.key)
        #expect(keys.contains("llama.eos_token_id") == (eos.count == 1))
        #expect(keys.contains("llama.eos_token_ids") == (eos.count > 1))
    }

    @Test func everyWrittenConfigKeyIsInTheSpec() throws {
        let spec = try Self.spec
        for (key, _) in Self.config.metadataEntries {
            #expect(spec.contains("`\(key)`"), "\(key) is written but not in formats/qstar-v1.md section 12")
        }
        for (key, _) in QuietStarSettings(startTokenId: 94, endTokenId: 95).metadataEntries {
            #expect(spec.contains("`\(key)`"), "\(key) is written but not in formats/qstar-v1.md section 12.4")
        }
        for key in [TrainingState.stepKey, TrainingState.rngStateKey, TrainingState.dataPositionKey,
                    TrainingState.optimizerKey, TrainingState.optionsKey] + TrainingState.adamWKeys {
            #expect(spec.contains(key), "\(key) is not in formats/qstar-v1.md section 12.5")
        }
    }

    /// Section 12.6 lists every tensor name (with `N` for the layer) that `TensorNames` produces.
    @Test func tensorTableMatchesTheSpec() throws {
        let section = try #require(try Self.spec.components(separatedBy: "### 12.6 Tensor names and shapes").last?
            .components(separatedBy: "\n## ").first)
        let names = (TensorNames.model(Self.config) + TensorNames.thought(Self.config)).map {
            $0.name.replacingOccurrences(of: #"layers\.\d+\."#, with: "layers.N.", options: .regularExpression)
        }
        for name in Set(names) {
            #expect(section.contains("`\(name)`"), "\(name) is not in section 12.6")
        }
        #expect(TensorNames.adamWFirstMomentPrefixMatchesSpec(section))
    }

    @Test func tensorShapesFollowTheConfig() {
        let c = Self.config
        let entries = TensorNames.model(c)
        #expect(entries.first == .init(name: "token_embedding.weight", shape: [96, 32]))
        #expect(entries.contains(.init(name: "layers.1.attn.k.bias", shape: [16])))
        #expect(entries.contains(.init(name: "layers.0.attn.o.weight", shape: [32, 32])))
        #expect(entries.contains(.init(name: "layers.1.ffn.down.weight", shape: [32, 64])))
        #expect(entries.last == .init(name: "output.weight", shape: [96, 32]))
        // 1 embedding + 2 layers x 12 parts + final norm + head.
        #expect(entries.count == 1 + 2 * 12 + 2)
        var plain = c
        plain.attentionBias = false
        plain.tieEmbeddings = true
        let fewer = TensorNames.model(plain)
        #expect(fewer.count == 1 + 2 * 9 + 1)
        #expect(!fewer.contains { $0.name.hasSuffix(".bias") || $0.name == TensorNames.output })
        #expect(TensorNames.thought(c).map(\.shape) == [[32], [32], [32, 64], [32], [32, 32], [32], [1, 32]])
    }

    @Test func layerNamesParseOnlyInCanonicalForm() {
        #expect(TensorNames.parseLayer("layers.12.ffn.up.weight")! == (12, .up))
        for bad in ["layers.01.ffn.up.weight", "layers.+1.ffn.up.weight", "layers..ffn.up.weight",
                    "layers.1.ffn.up.bias", "layer.1.ffn.up.weight", "layers.99999999999.attn.q.weight"] {
            #expect(TensorNames.parseLayer(bad) == nil, "\(bad)")
        }
    }

    @Test func quietStarSettingsReadBackAndNameBadKeys() throws {
        let settings = QuietStarSettings(startTokenId: 94, endTokenId: 95, thoughtTokens: 9, embeddingScale: 100,
                                         mixingHeadOutput: .sigmoid)
        let m = Metadata(settings.metadataEntries)
        #expect(QuietStarSettings.present(in: m))
        #expect(try QuietStarSettings(metadata: m, vocabSize: 96) == settings)
        #expect(!QuietStarSettings.present(in: Metadata(Self.config.metadataEntries)))
        let bad: [(String, MetadataValue)] = [
            (QuietStarSettings.startTokenKey, .uint(96)), (QuietStarSettings.endTokenKey, .uint(94)),
            (QuietStarSettings.thoughtTokensKey, .uint(257)), (QuietStarSettings.hiddenLayersKey, .uint(3)),
            (QuietStarSettings.outputKey, .string("tanh")), (QuietStarSettings.inputKey, .string("sum")),
        ]
        for (key, value) in bad {
            var broken = m
            broken[key] = value
            let error = #expect(throws: CheckpointError.self) { try QuietStarSettings(metadata: broken, vocabSize: 96) }
            #expect(error?.key == key, "\(key): \(error?.message ?? "")")
        }
    }
}

extension TensorNames {
    /// The optimiser moment names of `TrainingState` follow the spec's pattern.
    static func adamWFirstMomentPrefixMatchesSpec(_ section: String) -> Bool {
        section.contains("`optimizer.adamw.m.<parameter name>`")
            && TrainingState.adamWFirstMoment(of: "output.weight") == "optimizer.adamw.m.output.weight"
            && TrainingState.adamWSecondMoment(of: "output.weight") == "optimizer.adamw.v.output.weight"
    }
}
