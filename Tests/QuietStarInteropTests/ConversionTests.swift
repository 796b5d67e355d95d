import Foundation
import QuietStarFormat
import QuietStarTestSupport
import QuietStarTokenizer
import QuietStarJSON
import Testing
@testable import QuietStarInterop

/// Converted fixture files, made once per test process (conversion is deterministic, so every
/// test may share them) in a temporary directory.
final class ConvertedFixtures: @unchecked Sendable {
    static let shared = ConvertedFixtures()
    let directory: TemporaryDirectory
    private let lock = NSLock()
    private var cache: [String: String] = [:]

    private init() { directory = try! TemporaryDirectory() }

    /// `fixtures/hf/<model>` converted with default options.
    func qstar(_ model: String) throws -> String {
        lock.lock(); defer { lock.unlock() }
        if let path = cache[model] { return path }
        let path = directory.file("\(model).qstar")
        _ = try convertFromHF(directory: Fixtures.hf(model), output: path)
        cache[model] = path
        return path
    }
}

/// Whether the tensor's logical bytes equal `expected` (bytes of a mapping the caller keeps open).
func bytesEqual(_ view: TensorView, _ expected: UnsafeRawBufferPointer) -> Bool {
    view.bytes.count == expected.count && (expected.isEmpty || memcmp(view.bytes.baseAddress!, expected.baseAddress!, expected.count) == 0)
}

/// Whether two tensors hold the same logical bytes (each view keeps its storage alive).
func bytesEqual(_ a: TensorView, _ b: TensorView) -> Bool {
    bytesEqual(a, b.bytes)
}

@Suite struct ConversionTests {
    /// Every fixture converts; every tensor arrives with the source's exact bytes under its
    /// conventional name; metadata, tokenizer and provenance are complete.
    @Test(arguments: Fixtures.hfModels)
    func everyFixtureConverts(model: String) throws {
        let file = try QStarFile.open(path: try ConvertedFixtures.shared.qstar(model))
        let checkpoint = try HFCheckpoint(directory: Fixtures.hf(model))
        let config = try HFConfig.parse(checkpoint.configJSON, path: "c").config
        let m = file.metadata

        for (key, value) in config.metadataEntries where key != "general.name" {
            #expect(m[key] == value, "\(model): \(key)")
        }
        #expect(m["provenance.creator"] == .string("quietstar-convert"))
        #expect(m["provenance.source"] == .string(model))
        #expect(m["provenance.source_config_digest"] == .string(xxh64Digest(checkpoint.configBytes)))

        // The tokenizer inside the file is the one tokenizer.json describes, complete.
        let fromFile = try TokenizerSpec(metadata: m)
        let fromJSON = try TokenizerSpec(huggingFaceTokenizerJSON: checkpoint.tokenizerJSON!,
                                         tokenizerConfigJSON: checkpoint.tokenizerConfigJSON)
        #expect(fromFile == fromJSON)
        #expect(fromFile.huggingFaceTokenizerJSON == String(decoding: checkpoint.tokenizerJSON!, as: UTF8.self))
        let generation = try String(contentsOfFile: Fixtures.hf(model) + "/generation_config.json", encoding: .utf8)
        #expect(m["huggingface.generation_config"] == .string(generation))

        // Tensors: names, shapes, dtypes and bytes.
        var expectedNames = Set<String>()
        for entry in HFTensorNames.expectedTensors(config) {
            expectedNames.insert(entry.qstarName)
            let (source, info) = try #require(checkpoint.location(entry.hfName))
            let view = try file.tensor(entry.qstarName)
            #expect(view.info.shape == info.shape)
            #expect(view.dtype == info.dtype.qstarDType, "\(model): \(entry.qstarName) changed dtype")
            #expect(bytesEqual(view, source.data(info)), "\(model): \(entry.qstarName) bytes differ")
        }
        let quietStar = model == "quietstar-mistral"
        #expect((m["quietstar.start_thought_token_id"] != nil) == quietStar)
        if quietStar {
            for e in QuietStarLayout.entries(hiddenSize: UInt64(config.hiddenSize)) {
                expectedNames.insert(e.qstarName)
                let (source, info) = try #require(checkpoint.location(e.hfName))
                let values = try file.tensor(e.qstarName).toFloat32()
                let reference = referenceValues(source, e.hfName)
                if e.role == .thoughtEmbedding {
                    // Effective vector: row 0 times 100, in f32 like the reference's forward.
                    #expect(values == reference[0..<64].map { $0 * 100 })
                } else {
                    #expect(values == reference)
                    #expect(bytesEqual(try file.tensor(e.qstarName), source.data(info)))
                }
            }
            #expect(m["quietstar.start_thought_token_id"] == .uint(453))  // from tokenizer.json's added tokens
            #expect(m["quietstar.end_thought_token_id"] == .uint(452))
            #expect(m["quietstar.embedding_scale"] == .float(100))
            #expect(m["quietstar.thought_tokens"] == .uint(5))
            #expect(m["quietstar.mixing_head.output"] == .string("identity"))
            #expect(try file.tensor("mixing_head.2.weight").toFloat32().contains { $0 != 0 })
        }
        #expect(Set(file.tensors.map(\.name)) == expectedNames)
        #expect(file.verifyAll().isEmpty)
    }

    @Test func shardedAndSingleFileGiveIdenticalTensors() throws {
        let sharded = try QStarFile.open(path: try ConvertedFixtures.shared.qstar("llama-sharded"))
        let single = try QStarFile.open(path: try ConvertedFixtures.shared.qstar("llama-untied"))
        #expect(sharded.tensors.map(\.name) == single.tensors.map(\.name))
        for info in single.tensors {
            #expect(bytesEqual(try sharded.tensor(info.name), try single.tensor(info)))
        }
    }

    @Test func bf16SourceStaysBF16UnlessAskedAndWidensExactly() throws {
        let bf16 = try QStarFile.open(path: try ConvertedFixtures.shared.qstar("llama-bf16"))
        #expect(bf16.tensors.allSatisfy { $0.dtype == .bf16 })
        let dir = TemporaryDirectory()
        _ = try convertFromHF(directory: Fixtures.hf("llama-bf16"), output: dir.file("f32.qstar"), options: ConversionOptions(dtype: .f32))
        let f32 = try QStarFile.open(path: dir.file("f32.qstar"))
        for info in bf16.tensors {
            #expect(f32.info(info.name)?.dtype == .f32)
            #expect(try f32.tensor(info.name).toFloat32() == (try bf16.tensor(info).toFloat32()))
        }
    }

    /// F16 and F64 sources: F16 is kept bit for bit, F64 is rounded to the nearest f32.
    @Test func f16AndF64SourcesConvert() throws {
        let dir = TemporaryDirectory()
        let source = try SafetensorsFile(path: Fixtures.hf("mistral") + "/model.safetensors")
        for dtype in [SafetensorsDType.f16, .f64] {
            let folder = dir.file(dtype.rawValue)
            try FileManager.default.copyItem(atPath: Fixtures.hf("mistral"), toPath: folder)
            try FileManager.default.removeItem(atPath: folder + "/model.safetensors")
            let writer = try SafetensorsWriter(path: folder + "/model.safetensors",
                                               entries: source.tensors.map { .init(name: $0.name, dtype: dtype, shape: $0.shape) })
            for info in source.tensors {
                let values = referenceValues(source, info.name)
                let bytes: [UInt8] = dtype == .f16
                    ? values.map { Float16($0).bitPattern }.withUnsafeBytes { Array($0) }
                    : values.map { Double($0) + 1e-12 }.withUnsafeBytes { Array($0) }
                try bytes.withUnsafeBytes { try writer.write(info.name, $0) }
            }
            try writer.finish()
            let out = dir.file("\(dtype.rawValue).qstar")
            _ = try convertFromHF(directory: folder, output: out)
            let file = try QStarFile.open(path: out)
            let written = try SafetensorsFile(path: folder + "/model.safetensors")
            for info in written.tensors {
                let name = try #require(HFTensorNames.qstarName(forHF: info.name))
                let view = try file.tensor(name)
                #expect(view.dtype == (dtype == .f16 ? .f16 : .f32))
                if dtype == .f16 { #expect(bytesEqual(view, written.data(info))) }
                #expect(try view.toFloat32() == referenceValues(written, info.name))
            }
        }
    }

    /// to-hf then from-hf gives back the same .qstar tensors bit for bit (f32), and the exported
    /// safetensors hold the original Hugging Face bytes.
    @Test(arguments: Fixtures.hfModels.filter { $0 != "llama-bf16" })
    func toHFThenFromHFIsBitExact(model: String) throws {
        let dir = TemporaryDirectory()
        let original = try ConvertedFixtures.shared.qstar(model)
        let hf = dir.file("hf")
        let report = try convertToHF(input: original, outputDirectory: hf)
        #expect(report.quietStar == (model == "quietstar-mistral"))
        #expect(!dir.contents.contains { $0.contains(".tmp-") })
        let back = dir.file("back.qstar")
        _ = try convertFromHF(directory: hf, output: back)

        let a = try QStarFile.open(path: original), b = try QStarFile.open(path: back)
        #expect(a.tensors.map(\.name) == b.tensors.map(\.name))
        for info in a.tensors {
            #expect(info.dtype == .f32)
            #expect(bytesEqual(try b.tensor(info.name), try a.tensor(info)), "\(model): \(info.name)")
        }
        // Metadata too, except what names the source folder.
        let ignored: Set<String> = ["general.name", "provenance.source", "provenance.source_config_digest"]
        #expect(a.metadata.entries.filter { !ignored.contains($0.key) }.map(\.key) == b.metadata.entries.filter { !ignored.contains($0.key) }.map(\.key))
        for (key, value) in a.metadata.entries where !ignored.contains(key) {
            #expect(b.metadata[key] == value, "\(model): \(key)")
        }

        // The exported safetensors hold the fixture's own bytes (the Quiet-STaR thought
        // parameters excepted, checked below).
        let source = try HFCheckpoint(directory: Fixtures.hf(model))
        let exported = try HFCheckpoint(directory: hf)
        for name in exported.tensorNames.sorted() {
            let (file, info) = try #require(exported.location(name))
            let (sourceFile, sourceInfo) = try #require(source.location(name), "\(name) is not in the source")
            if name == "start_embedding" || name == "end_embedding" {
                let values = referenceValues(file, name), expected = referenceValues(sourceFile, name)
                // Row 0: the effective vector (row 0 x 100 in f32, what the model computes with)
                // is identical. Row 0 itself may differ by an ulp: where 100 * ulp(x) < ulp(100 x),
                // several f32 values share one product, and the import keeps only the product.
                for (x, y) in zip(values[0..<64], expected[0..<64]) {
                    #expect(x * 100 == y * 100, "\(name) row 0")
                    #expect(abs(x - y) <= y.ulp, "\(name) row 0")
                }
                for (x, y) in zip(values[64...], expected[64...]) { #expect(abs(x - y) <= 1e-5 * abs(y), "\(name) row 1") }
            } else {
                #expect(file.data(info).elementsEqual(sourceFile.data(sourceInfo)), "\(model): \(name)")
            }
        }
        #expect(exported.tensorNames.subtracting(source.tensorNames).isEmpty)
        if model == "llama-tied" || model == "qwen2" { #expect(!exported.tensorNames.contains("lm_head.weight")) }
        // Side files come back verbatim.
        for side in ["tokenizer.json", "tokenizer_config.json", "generation_config.json"] {
            #expect(try Data(contentsOf: URL(fileURLWithPath: hf + "/" + side)) == (try Data(contentsOf: URL(fileURLWithPath: Fixtures.hf(model) + "/" + side))), "\(side)")
        }
    }

    @Test func exportShardsWhenAsked() throws {
        let dir = TemporaryDirectory()
        let hf = dir.file("hf")
        _ = try convertToHF(input: try ConvertedFixtures.shared.qstar("llama-untied"), outputDirectory: hf,
                            options: ConversionOptions(maxShardBytes: 200_000))
        let files = try FileManager.default.contentsOfDirectory(atPath: hf).sorted()
        #expect(files.contains("model.safetensors.index.json"))
        #expect(files.contains("model-00001-of-00004.safetensors"))
        #expect(!files.contains("model.safetensors"))
        let back = dir.file("back.qstar")
        _ = try convertFromHF(directory: hf, output: back)
        let a = try QStarFile.open(path: try ConvertedFixtures.shared.qstar("llama-untied")), b = try QStarFile.open(path: back)
        for info in a.tensors { #expect(bytesEqual(try b.tensor(info.name), try a.tensor(info))) }
    }

    @Test func requestedDTypesApplyToMatricesOnly() throws {
        let dir = TemporaryDirectory()
        for dtype in [DType.f16, .bf16, .q8_0] {
            let path = dir.file("\(dtype.name).qstar")
            let report = try convertFromHF(directory: Fixtures.hf("quietstar-mistral"), output: path,
                                           options: ConversionOptions(dtype: dtype, compression: .zstd))
            let file = try QStarFile.open(path: path)
            for info in file.tensors {
                #expect(info.dtype == (info.shape.count >= 2 ? dtype : .f32), "\(dtype): \(info.name)")
                #expect(info.encoding == .zstd)
            }
            #expect(report.dtypeCounts.map(\.dtype).sorted() == ["f32", dtype.name].sorted())
            #expect(file.verifyAll().isEmpty)
        }
    }

    @Test func compressedOutputHoldsTheSameValues() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("z.qstar")
        _ = try convertFromHF(directory: Fixtures.hf("qwen2"), output: path, options: ConversionOptions(compression: .zstd))
        let z = try QStarFile.open(path: path), raw = try QStarFile.open(path: try ConvertedFixtures.shared.qstar("qwen2"))
        #expect(z.fileLength < raw.fileLength)
        for info in raw.tensors {
            #expect(z.info(info.name)?.encoding == .zstd)
            #expect(bytesEqual(try z.tensor(info.name), try raw.tensor(info)))
        }
        #expect(z.metadata == raw.metadata)
    }

    @Test func quietStarExportWritesThePublishedLayout() throws {
        let dir = TemporaryDirectory()
        let hf = dir.file("hf")
        _ = try convertToHF(input: try ConvertedFixtures.shared.qstar("quietstar-mistral"), outputDirectory: hf)
        let config = try JSONReader.parse([UInt8](Data(contentsOf: URL(fileURLWithPath: hf + "/config.json"))))
        #expect(config["architectures"] == .array([.string("MistralForCausalLM")]))
        #expect(config["use_concat_talk_head"] == .bool(true) && config["use_weighted_talk_head"] == .bool(true))
        let exported = try HFCheckpoint(directory: hf)
        let (file, info) = try #require(exported.location("start_embedding"))
        #expect(info.shape == [2, 64])
        // Row 1 is the reference initialisation, recomputed here independently in double.
        let embedding = referenceValues(try #require(exported.location("model.embed_tokens.weight")).file, "model.embed_tokens.weight")
        let rows = embedding.count / 64
        let row1 = referenceValues(file, "start_embedding")[64...]
        for c in 0..<64 {
            let column = (0..<rows).map { Double(embedding[$0 * 64 + c]) }
            let mean = column.reduce(0, +) / Double(rows)
            let std = (column.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(rows - 1)).squareRoot()
            #expect(abs(Double(row1[64 + c]) - log(std * 1e-2 / 100)) < 1e-6)
        }
        for name in ["talk_head.0.0.weight", "talk_head.0.0.bias", "talk_head.0.2.weight", "talk_head.0.2.bias", "talk_head.0.4.weight"] {
            #expect(exported.location(name) != nil, "\(name)")
        }
    }

    /// Thought markers are found as Hugging Face's token_to_id finds them: added tokens first,
    /// then the vocabulary, by bytes ("é" and "e\u{301}" are two tokens though Swift's == says
    /// they are equal).
    @Test func tokenLookupIsByteExact() throws {
        let json = #"{"added_tokens":[{"id":5,"content":"<|startthought|>","special":true}],"model":{"type":"BPE","vocab":{"<unk>":0,"e":1,"\u0301":2,"\u00e9":3,"e\u0301":4},"merges":[]}}"#
        let imported = try TokenizerBridge.importHF(tokenizerJSON: Data(json.utf8), tokenizerConfigJSON: nil, path: "m/tokenizer.json")
        #expect(imported.tokenID("<|startthought|>") == 5)
        #expect(imported.tokenID("\u{E9}") == 3)
        #expect(imported.tokenID("e\u{301}") == 4)   // String == would find "é", id 3
        #expect(imported.tokenID("<|endthought|>") == nil)
    }

    @Test func unscaledRowZeroRoundTripsWheneverPossible() {
        var rng = SplitMix64(seed: 7)
        var exact = 0
        for _ in 0..<10_000 {
            let e = Float(Int64(bitPattern: rng.next() >> 11)) / Float(1 << 52) * 3
            let r = QuietStarLayout.unscaled(e)
            if r * 100 == e { exact += 1 }
            #expect(abs(r * 100 - e) <= e.ulp * 2)
        }
        // Not every f32 is a product x * 100 of an f32 x; most are.
        #expect(exact > 9_000)
    }
}
