import Foundation
import QuietStarFormat
import QuietStarJSON
import QuietStarTestSupport
import Testing
@testable import QuietStarInterop

/// Broken inputs: a clear error naming the file and the key or tensor, the right kind (which
/// becomes the exit status), and nothing left behind.
@Suite struct FailureTests {
    /// A writable copy of a fixture folder.
    func copy(_ model: String, into dir: TemporaryDirectory) throws -> String {
        let target = dir.file("in-\(model)")
        try FileManager.default.copyItem(atPath: Fixtures.hf(model), toPath: target)
        return target
    }

    /// Rewrites `folder/file` keeping its tensors except `drop`, replacing values per `replace`
    /// (f32 tensors), and appending `add`.
    func rewrite(_ folder: String, file: String = "model.safetensors", drop: Set<String> = [],
                 replace: [String: (inout [Float]) -> Void] = [:], add: [(String, [UInt64], [Float])] = []) throws {
        let path = folder + "/" + file
        let source = try SafetensorsFile(path: path)
        var tensors: [(SafetensorsWriter.Entry, [UInt8])] = []
        for info in source.tensors where !drop.contains(info.name) {
            var bytes = [UInt8](source.data(info))
            if let change = replace[info.name] {
                var values = referenceValues(source, info.name)
                change(&values)
                bytes = values.withUnsafeBytes { [UInt8]($0) }
            }
            tensors.append((.init(name: info.name, dtype: info.dtype, shape: info.shape), bytes))
        }
        for (name, shape, values) in add {
            tensors.append((.init(name: name, dtype: .f32, shape: shape), values.withUnsafeBytes { [UInt8]($0) }))
        }
        let writer = try SafetensorsWriter(path: path + ".new", entries: tensors.map(\.0), metadata: source.metadata)
        for (entry, bytes) in tensors { try bytes.withUnsafeBytes { try writer.write(entry.name, $0) } }
        try writer.finish()
        try FileManager.default.removeItem(atPath: path)
        try FileManager.default.moveItem(atPath: path + ".new", toPath: path)
    }

    func editConfig(_ folder: String, _ change: (inout [(key: String, value: JSONValue)]) -> Void) throws {
        let path = folder + "/config.json"
        var entries = try JSONReader.parse([UInt8](Data(contentsOf: URL(fileURLWithPath: path)))).objectEntries!
        change(&entries)
        try JSONWriter.document(.object(entries)).write(toFile: path, atomically: false, encoding: .utf8)
    }

    /// Runs a conversion that must fail, and checks the output directory holds only `before`.
    func expectFailure(_ dir: TemporaryDirectory, kind: InteropError.Kind, path: String? = nil, field: String? = nil,
                       message: String? = nil, sourceLocation: SourceLocation = #_sourceLocation,
                       _ body: () throws -> Void) {
        let before = dir.contents
        do {
            try body()
            Issue.record("conversion succeeded", sourceLocation: sourceLocation)
        } catch let error as InteropError {
            #expect(error.kind == kind, "\(error)", sourceLocation: sourceLocation)
            if let path { #expect(error.path == path, "\(error)", sourceLocation: sourceLocation) }
            if let field { #expect(error.field == field, "\(error)", sourceLocation: sourceLocation) }
            if let message { #expect(error.message.contains(message), "\(error)", sourceLocation: sourceLocation) }
        } catch {
            Issue.record("unexpected error type: \(error)", sourceLocation: sourceLocation)
        }
        #expect(dir.contents == before, "output or temporary files left behind", sourceLocation: sourceLocation)
    }

    @Test func shapeMismatchNamesTensorAndFile() throws {
        let dir = TemporaryDirectory()
        let input = try copy("llama-untied", into: dir)
        try editConfig(input) { e in
            e.removeAll { $0.key == "intermediate_size" }
            e.append(("intermediate_size", .integer(128)))
        }
        expectFailure(dir, kind: .invalidInput, path: input + "/model.safetensors", field: "model.layers.0.mlp.gate_proj.weight",
                      message: "does not match [128, 64]") {
            _ = try convertFromHF(directory: input, output: dir.file("out.qstar"))
        }
    }

    @Test func missingAndUnexpectedTensors() throws {
        let dir = TemporaryDirectory()
        let input = try copy("mistral", into: dir)
        try rewrite(input, drop: ["model.norm.weight"])
        expectFailure(dir, kind: .invalidInput, field: "model.norm.weight", message: "missing") {
            _ = try convertFromHF(directory: input, output: dir.file("out.qstar"))
        }
        let input2 = try copy("qwen2", into: dir)
        try rewrite(input2, add: [("model.layers.0.mlp.extra.weight", [2], [1, 2])])
        expectFailure(dir, kind: .invalidInput, field: "model.layers.0.mlp.extra.weight", message: "unexpected tensor") {
            _ = try convertFromHF(directory: input2, output: dir.file("out.qstar"))
        }
    }

    @Test func partialQuietStarLayoutIsRefused() throws {
        let dir = TemporaryDirectory()
        let input = try copy("quietstar-mistral", into: dir)
        try rewrite(input, drop: ["talk_head.0.4.weight"])
        expectFailure(dir, kind: .invalidInput, field: "talk_head.0.4.weight", message: "Quiet-STaR") {
            _ = try convertFromHF(directory: input, output: dir.file("out.qstar"))
        }
    }

    @Test func damagedShardIsRejectedBeforeWriting() throws {
        let dir = TemporaryDirectory()
        let input = try copy("llama-sharded", into: dir)
        let shard = input + "/model-00003-of-00004.safetensors"
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: shard))
        try handle.truncate(atOffset: 5000)
        try handle.close()
        expectFailure(dir, kind: .invalidInput, path: shard, message: "truncated") {
            _ = try convertFromHF(directory: input, output: dir.file("out.qstar"))
        }
    }

    @Test func hostileShardIndexIsRejected() throws {
        let dir = TemporaryDirectory()
        let input = try copy("llama-sharded", into: dir)
        let index = input + "/model.safetensors.index.json"
        var text = try String(contentsOfFile: index, encoding: .utf8)
        text = text.replacingOccurrences(of: "\"model-00004-of-00004.safetensors\"", with: "\"../../etc/model.safetensors\"")
        try text.write(toFile: index, atomically: false, encoding: .utf8)
        expectFailure(dir, kind: .invalidInput, path: index, message: "plain .safetensors file name") {
            _ = try convertFromHF(directory: input, output: dir.file("out.qstar"))
        }
    }

    @Test func unsupportedTokenizerIsRefused() throws {
        let dir = TemporaryDirectory()
        let input = try copy("qwen2", into: dir)
        let path = input + "/tokenizer.json"
        let text = try String(contentsOfFile: path, encoding: .utf8)
        try text.replacingOccurrences(of: "\"type\": \"BPE\"", with: "\"type\": \"WordPiece\"")
            .write(toFile: path, atomically: false, encoding: .utf8)
        #expect(try String(contentsOfFile: path, encoding: .utf8) != text)
        expectFailure(dir, kind: .invalidInput, path: path) {
            _ = try convertFromHF(directory: input, output: dir.file("out.qstar"))
        }
    }

    @Test func configProblems() throws {
        let dir = TemporaryDirectory()
        let input = try copy("llama3", into: dir)
        try editConfig(input) { $0.append(("new_attention_trick", .bool(true))) }
        expectFailure(dir, kind: .unsupported, path: input + "/config.json", field: "new_attention_trick") {
            _ = try convertFromHF(directory: input, output: dir.file("out.qstar"))
        }
        let report = try convertFromHF(directory: input, output: dir.file("ok.qstar"), options: ConversionOptions(ignoreUnknownConfigKeys: true))
        #expect(report.warnings.count == 1 && report.warnings[0].contains("new_attention_trick"))
        try FileManager.default.removeItem(atPath: dir.file("ok.qstar"))

        try "{\"model_type\": ".write(toFile: input + "/config.json", atomically: false, encoding: .utf8)
        expectFailure(dir, kind: .invalidInput, path: input + "/config.json", message: "invalid JSON") {
            _ = try convertFromHF(directory: input, output: dir.file("out.qstar"))
        }
    }

    @Test func missingInputs() throws {
        let dir = TemporaryDirectory()
        expectFailure(dir, kind: .missingInput) {
            _ = try convertFromHF(directory: dir.file("nope"), output: dir.file("out.qstar"))
        }
        let input = try copy("qwen2", into: dir)
        try FileManager.default.removeItem(atPath: input + "/tokenizer.json")
        expectFailure(dir, kind: .missingInput, path: input + "/tokenizer.json") {
            _ = try convertFromHF(directory: input, output: dir.file("out.qstar"))
        }
        try FileManager.default.removeItem(atPath: input + "/model.safetensors")
        expectFailure(dir, kind: .missingInput, path: input) {
            _ = try convertFromHF(directory: input, output: dir.file("out.qstar"))
        }
        expectFailure(dir, kind: .missingInput, path: dir.file("nope.qstar")) {
            _ = try recode(input: dir.file("nope.qstar"), output: dir.file("out.qstar"))
        }
    }

    /// Failures after tensors have started streaming: the writer's temporary file goes too.
    @Test func failureInTheMiddleLeavesNothing() throws {
        let dir = TemporaryDirectory()
        let input = try copy("llama-untied", into: dir)
        try rewrite(input, replace: ["lm_head.weight": { $0[77] = .nan }, "model.layers.1.mlp.down_proj.weight": { $0[5] = 1e6 }])
        // q8_0 cannot hold a NaN: refused when the last tensor streams.
        expectFailure(dir, kind: .invalidInput, field: "output.weight", message: "q8_0 needs finite values") {
            _ = try convertFromHF(directory: input, output: dir.file("out.qstar"), options: ConversionOptions(dtype: .q8_0))
        }
        // f16 cannot hold 1e6: refused rather than turned into infinity.
        expectFailure(dir, kind: .usage, field: "layers.1.ffn.down.weight", message: "beyond the f16 range") {
            _ = try convertFromHF(directory: input, output: dir.file("out.qstar"), options: ConversionOptions(dtype: .f16))
        }
        // An existing output is left untouched by a failed conversion.
        try "precious".write(toFile: dir.file("out.qstar"), atomically: false, encoding: .utf8)
        expectFailure(dir, kind: .invalidInput) {
            _ = try convertFromHF(directory: input, output: dir.file("out.qstar"), options: ConversionOptions(dtype: .q8_0))
        }
        #expect(try String(contentsOfFile: dir.file("out.qstar"), encoding: .utf8) == "precious")
    }

    @Test func outputProblems() throws {
        let dir = TemporaryDirectory()
        expectFailure(dir, kind: .cannotCreateOutput) {
            _ = try convertFromHF(directory: Fixtures.hf("qwen2"), output: dir.file("no/such/dir/out.qstar"))
        }
        let occupied = dir.file("occupied")
        try FileManager.default.createDirectory(atPath: occupied, withIntermediateDirectories: false)
        try "x".write(toFile: occupied + "/keep.txt", atomically: false, encoding: .utf8)
        let qstar = try ConvertedFixtures.shared.qstar("qwen2")
        expectFailure(dir, kind: .cannotCreateOutput, path: occupied, message: "not an empty directory") {
            _ = try convertToHF(input: qstar, outputDirectory: occupied)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: occupied) == ["keep.txt"])
        expectFailure(dir, kind: .usage) {
            _ = try convertToHF(input: qstar, outputDirectory: dir.file("hf"), options: ConversionOptions(dtype: .q8_0))
        }
        // An empty directory is fine (and is replaced by the export).
        let empty = dir.file("empty")
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: false)
        _ = try convertToHF(input: qstar, outputDirectory: empty)
        #expect(FileManager.default.fileExists(atPath: empty + "/model.safetensors"))
    }
}
