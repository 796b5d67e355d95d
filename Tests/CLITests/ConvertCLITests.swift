import Foundation
import QuietStarFormat
import Testing

/// `quietstar-convert` as a user runs it: arguments, exit statuses, stdout/stderr discipline.
@Suite struct ConvertCLITests {
    let tool = "quietstar-convert"

    @Test func helpTeachesExamplesAndExitStatuses() throws {
        let top = try CLI.run(tool, ["--help"])
        #expect(top.status == 0)
        for needle in ["from-hf", "to-hf", "recode", "Examples:", "Exit status:", "64", "65", "66", "70", "73"] {
            #expect(top.stdoutText.contains(needle), "top-level help lacks \(needle)")
        }
        let recode = try CLI.run(tool, ["recode", "--help"])
        #expect(recode.stdoutText.contains("q8_0") && recode.stdoutText.contains("2^-11"))
        let fromHF = try CLI.run(tool, ["from-hf", "--help"])
        #expect(fromHF.stdoutText.contains("--dtype") && fromHF.stdoutText.contains("--compress"))
    }

    @Test func fromHFRecodeToHFRoundTrip() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let qstar = dir.appendingPathComponent("qs.qstar").path
        let convert = try CLI.run(tool, ["from-hf", CLI.fixture("hf/quietstar-mistral").path, "-o", qstar])
        #expect(convert.status == 0, "\(convert.stderrText)")
        #expect(convert.stdout.isEmpty, "stdout must stay empty without --json")
        #expect(convert.stderrText.contains("wrote"))
        let file = try QStarFile.open(path: qstar)
        #expect(file.info("thought.start_embedding")?.shape == [64])
        #expect(file.metadata["quietstar.start_thought_token_id"] == .uint(453))

        let q8 = dir.appendingPathComponent("q8.qstar").path
        let recode = try CLI.run(tool, ["recode", qstar, "-o", q8, "--dtype", "q8_0", "--compress", "zstd", "--json", "--quiet"])
        #expect(recode.status == 0, "\(recode.stderrText)")
        #expect(recode.stderr.isEmpty, "--quiet: \(recode.stderrText)")
        let summary = try #require(try JSONSerialization.jsonObject(with: recode.stdout) as? [String: Any])
        #expect(summary["tensors"] as? Int == file.tensors.count)
        #expect((summary["dtypes"] as? [String: Int])?["q8_0"] == 19)
        #expect(summary["quietstar"] as? Bool == true)
        #expect(try QStarFile.open(path: q8).metadata == file.metadata)

        let hf = dir.appendingPathComponent("hf").path
        let export = try CLI.run(tool, ["to-hf", qstar, "-o", hf, "--max-shard-size", "300KB"])
        #expect(export.status == 0, "\(export.stderrText)")
        let names = try FileManager.default.contentsOfDirectory(atPath: hf).sorted()
        #expect(names.contains("config.json") && names.contains("tokenizer.json") && names.contains("model.safetensors.index.json"))

        // The export converts back to the same tensors.
        let back = dir.appendingPathComponent("back.qstar").path
        #expect(try CLI.run(tool, ["from-hf", hf, "-o", back, "-q"]).status == 0)
        let again = try QStarFile.open(path: back)
        for info in file.tensors {
            #expect(try again.tensor(info.name).toFloat32() == (try file.tensor(info).toFloat32()), "\(info.name)")
        }
    }

    @Test func exitStatusesTellFailuresApart() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("out.qstar").path

        // 64: usage.
        #expect(try CLI.run(tool, ["from-hf", CLI.fixture("hf/qwen2").path]).status == 64)
        #expect(try CLI.run(tool, ["from-hf", CLI.fixture("hf/qwen2").path, "-o", out, "--dtype", "f8"]).status == 64)
        #expect(try CLI.run(tool, ["to-hf", out, "-o", dir.path + "/x", "--dtype", "q8_0"]).status == 64)

        // 66: missing input.
        let missing = try CLI.run(tool, ["from-hf", dir.appendingPathComponent("nope").path, "-o", out])
        #expect(missing.status == 66)
        #expect(missing.stderrText.hasPrefix("quietstar-convert: "))
        #expect(try CLI.run(tool, ["recode", dir.appendingPathComponent("nope.qstar").path, "-o", out]).status == 66)

        // 65: invalid input (a config with an architecture we do not run), and nothing written.
        let bad = dir.appendingPathComponent("bad")
        try FileManager.default.copyItem(at: CLI.fixture("hf/qwen2"), to: bad)
        let config = bad.appendingPathComponent("config.json")
        let text = try String(contentsOf: config, encoding: .utf8).replacingOccurrences(of: "\"silu\"", with: "\"gelu\"")
        try text.write(to: config, atomically: false, encoding: .utf8)
        let invalid = try CLI.run(tool, ["from-hf", bad.path, "-o", out])
        #expect(invalid.status == 65)
        #expect(invalid.stderrText.contains("config.json: hidden_act"))
        #expect(invalid.stdout.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: out))

        // 65: a file that is not a .qstar.
        #expect(try CLI.run(tool, ["recode", config.path, "-o", out]).status == 65)

        // 73: cannot create the output.
        #expect(try CLI.run(tool, ["from-hf", CLI.fixture("hf/qwen2").path, "-o", dir.path + "/no/such/out.qstar"]).status == 73)
        #expect(try CLI.run(tool, ["from-hf", CLI.fixture("hf/qwen2").path, "-o", out, "-q"]).status == 0)
        let occupied = try CLI.run(tool, ["to-hf", out, "-o", bad.path])
        #expect(occupied.status == 73)
        #expect(occupied.stderrText.contains("not an empty directory"))

        // Only the files this test made are there: no temporaries left by the failures.
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        #expect(left == ["bad", "out.qstar"])
    }
}

/// Conversions stream tensor by tensor: converting a model whose largest tensor is 64 MB must
/// not make the converter's resident set grow by anything like 64 MB.
@Suite struct ConvertMemoryTests {
    /// A Llama folder with a 64 MB embedding, 2 small layers and the llama2 test tokenizer.
    static func makeModel(in dir: URL) throws -> URL {
        let model = dir.appendingPathComponent("big")
        try FileManager.default.createDirectory(at: model, withIntermediateDirectories: true)
        let (hidden, vocab, layers, ffn) = (256, 65536, 2, 512)
        var tensors: [(String, [Int])] = [("model.embed_tokens.weight", [vocab, hidden])]
        for l in 0..<layers {
            let p = "model.layers.\(l)."
            tensors += [(p + "input_layernorm.weight", [hidden]), (p + "post_attention_layernorm.weight", [hidden])]
            for m in ["q", "k", "v", "o"] { tensors.append((p + "self_attn.\(m)_proj.weight", [hidden, hidden])) }
            tensors += [(p + "mlp.gate_proj.weight", [ffn, hidden]), (p + "mlp.up_proj.weight", [ffn, hidden]),
                        (p + "mlp.down_proj.weight", [hidden, ffn])]
        }
        tensors.append(("model.norm.weight", [hidden]))
        // Header by hand (the CLI tests do not link the interop module).
        var entries: [String] = []
        var offset = 0
        for (name, shape) in tensors {
            let bytes = 4 * shape.reduce(1, *)
            entries.append("\"\(name)\":{\"dtype\":\"F32\",\"shape\":\(shape),\"data_offsets\":[\(offset),\(offset + bytes)]}")
            offset += bytes
        }
        var header = Array(("{" + entries.joined(separator: ",") + "}").utf8)
        while header.count % 8 != 0 { header.append(0x20) }
        let url = model.appendingPathComponent("model.safetensors")
        #expect(FileManager.default.createFile(atPath: url.path, contents: nil))
        let handle = try FileHandle(forWritingTo: url)
        var length = UInt64(header.count).littleEndian
        try handle.write(contentsOf: Data(bytes: &length, count: 8) + Data(header))
        // Small non-zero values, written 4 MB at a time.
        var values = [Float](repeating: 0, count: 1 << 20)
        for i in values.indices { values[i] = Float(i % 251) / 2510 }
        let chunk = values.withUnsafeBytes { Data($0) }
        var left = offset
        while left > 0 {
            let n = min(left, chunk.count)
            try handle.write(contentsOf: chunk.prefix(n))
            left -= n
        }
        try handle.close()
        let config = """
        {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": \(hidden),
         "num_hidden_layers": \(layers), "num_attention_heads": 4, "num_key_value_heads": 4,
         "intermediate_size": \(ffn), "vocab_size": \(vocab), "max_position_embeddings": 512,
         "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": true}
        """
        try config.write(to: model.appendingPathComponent("config.json"), atomically: false, encoding: .utf8)
        for file in ["tokenizer.json", "tokenizer_config.json"] {
            try FileManager.default.copyItem(at: CLI.fixture("tokenizers/llama2/\(file)"), to: model.appendingPathComponent(file))
        }
        return model
    }

    func peak(_ result: CLIResult) throws -> Int {
        #expect(result.status == 0, "\(result.stderrText)")
        let summary = try #require(try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any])
        return try #require(summary["max_resident_bytes"] as? Int)
    }

    @Test func residentMemoryStaysFarBelowTheLargestTensor() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try Self.makeModel(in: dir)
        let qstar = dir.appendingPathComponent("big.qstar").path
        let tool = "quietstar-convert"
        // The tool's own baseline: a conversion of a tiny model.
        let baseline = try peak(try CLI.run(tool, ["from-hf", CLI.fixture("hf/qwen2").path, "-o", dir.appendingPathComponent("small.qstar").path, "--json", "-q"]))
        let largest = 64 << 20
        let fromHF = try peak(try CLI.run(tool, ["from-hf", model.path, "-o", qstar, "--json", "-q"]))
        // (zstd rather than a dtype change: q8_0 encoding in a debug build would take seconds.)
        let recode = try peak(try CLI.run(tool, ["recode", qstar, "-o", dir.appendingPathComponent("z.qstar").path, "--compress", "zstd", "--json", "-q"]))
        let toHF = try peak(try CLI.run(tool, ["to-hf", qstar, "-o", dir.appendingPathComponent("hf").path, "--json", "-q"]))
        for (name, value) in [("from-hf", fromHF), ("recode", recode), ("to-hf", toHF)] {
            #expect(value - baseline < largest / 4, "\(name): peak \(value >> 20) MB vs baseline \(baseline >> 20) MB")
        }
    }
}
