import Foundation
import QuietStarFormat
import Testing

/// `quietstar-inspect` as a user runs it: arguments in, stdout/stderr/exit status out.
///
/// Expected values come from the golden file's definition (Tests/QuietStarFormatTests/
/// GoldenFiles.swift, fixtures/format/golden/tiny.qstar), written out here by hand, not from
/// the tool's own code.
@Suite struct InspectCLITests {
    static let tiny = CLI.fixture("format/golden/tiny.qstar").path
    /// The tiny golden file's tensors in file order: name, dtype, shape, encoding.
    static let tinyTensors: [(String, String, [Int], String)] = [
        ("token_embedding.weight", "f32", [4, 3], "raw"),
        ("layers.0.attn_norm.weight", "f16", [3], "raw"),
        ("output.weight", "bf16", [2, 3], "raw"),
        ("layers.0.ffn.down.weight", "q8_0", [2, 32], "raw"),
        ("thought.start_embedding", "f32", [256], "zstd"),
        ("test.ids", "i32", [5], "raw"),
        ("test.counts", "i64", [2], "raw"),
        ("test.mask", "u8", [], "raw"),
    ]
    /// 12 + 3 + 6 + 64 + 256 + 5 + 2 + 1 elements, all model weights (no optimizer.* state).
    static let tinyParameters = 349

    func inspect(_ arguments: String...) throws -> CLIResult {
        try CLI.run("quietstar-inspect", arguments)
    }

    func json(_ result: CLIResult) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: result.stdout)
        return try #require(object as? [String: Any])
    }

    /// The values of a human `--tensor` listing: every token after the "[index]" labels.
    func listedValues(_ stdout: String) -> [String] {
        stdout.split(separator: "\n").filter { $0.trimmingCharacters(in: .whitespaces).hasPrefix("[") }
            .flatMap { line in line.split(separator: "]", maxSplits: 1)[1].split(separator: " ").map(String.init) }
    }

    /// A copy of `source` in a fresh directory, so a test can damage it.
    func copy(_ source: String, in dir: URL) throws -> String {
        let path = dir.appendingPathComponent("copy.qstar").path
        try FileManager.default.copyItem(atPath: source, toPath: path)
        return path
    }

    func flipByte(_ path: String, at offset: UInt64) throws {
        let handle = try #require(FileHandle(forUpdatingAtPath: path))
        defer { try? handle.close() }
        try handle.seek(toOffset: offset)
        let old = try #require(try handle.read(upToCount: 1)).first!
        try handle.seek(toOffset: offset)
        try handle.write(contentsOf: [old ^ 0xFF])
    }

    // MARK: Summary

    @Test func summaryOfTheGoldenFileHasEveryGroupAndTensor() throws {
        let r = try inspect(Self.tiny)
        #expect(r.status == 0, "\(r.stderrText)")
        let out = r.stdoutText
        let lines = out.split(separator: "\n").map(String.init)
        for section in ["File", "Model", "Tokenizer", "Thoughts", "Provenance", "Tensors"] {
            #expect(lines.contains(section), "missing section \(section)")
        }
        #expect(out.contains("qstar 1.0"))
        #expect(out.contains("1,768 bytes"))
        #expect(lines.contains { $0.contains("architecture") && $0.contains("llama") })
        #expect(lines.contains { $0.contains("parameters") && $0.contains("\(Self.tinyParameters) in 8 tensors") })
        #expect(lines.contains { $0.contains("llama.rms_norm_eps") && $0.contains("1e-05") })
        #expect(lines.contains { $0.contains("general.name") && $0.contains("\"tiny golden\"") })
        #expect(lines.contains { $0.contains("tokenizer.tokens") && $0.contains("[\"<s>\", \"</s>\", \"a\", \"é\"]") })
        #expect(lines.contains { $0.contains("train.rng_state") && $0.contains("18446744073709551615") })
        // One table row per tensor, with its dtype, shape and encoding.
        for (name, dtype, shape, encoding) in Self.tinyTensors {
            let shapeText = "[" + shape.map(String.init).joined(separator: ", ") + "]"
            let row = lines.first { $0.hasPrefix("  \(name) ") }
            #expect(row != nil, "no row for \(name)")
            if let row {
                let cells = row.split(separator: " ").map(String.init)
                #expect(cells.contains(dtype) && row.contains(" \(shapeText) ") && cells.contains(encoding), "\(row)")
            }
        }
        // The zstd tensor: 50 stored bytes for 1024 logical ones.
        #expect(lines.contains { $0.contains("thought.start_embedding") && $0.contains("zstd (4.9%)") && $0.hasSuffix("50 B") })
    }

    @Test func parameterCountExcludesOptimizerStateAndLongArraysAreSummarised() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("train.qstar").path
        let w = try QStarWriter(path: path)
        try w.addTensor(name: "token_embedding.weight", dtype: .f32, shape: [1000, 3], float32: [Float](repeating: 1, count: 3000))
        try w.addTensor(name: "optimizer.adamw.m.token_embedding.weight", dtype: .f32, shape: [1000, 3],
                        float32: [Float](repeating: 0, count: 3000))
        let tokens = (0..<32002).map { "t\($0)" }
        try w.finish(metadata: Metadata([("tokenizer.tokens", .stringArray(tokens)),
                                         ("tokenizer.merges", .string(String(repeating: "ab ", count: 2000)))]))

        let r = try inspect(path)
        #expect(r.status == 0)
        let lines = r.stdoutText.split(separator: "\n").map(String.init)
        #expect(lines.contains { $0.contains("parameters") && $0.contains("3,000 (3.00 K) in 1 tensor") })
        #expect(lines.contains { $0.contains("optimizer state") && $0.contains("3,000 values in 1 optimizer.* tensor") })
        let tokenLine = try #require(lines.first { $0.contains("tokenizer.tokens") })
        #expect(tokenLine.contains("32,002 strings: \"t0\", \"t1\"") && tokenLine.hasSuffix(", ...") && tokenLine.count < 120)
        let mergesLine = try #require(lines.first { $0.contains("tokenizer.merges") })
        #expect(mergesLine.contains("(6,000 bytes)") && mergesLine.count < 120)

        let j = try json(try inspect(path, "--json"))
        let model = try #require(j["model"] as? [String: Any])
        #expect(model["parameters"] as? Int == 3000 && model["optimizer_values"] as? Int == 3000)
        let meta = try #require(j["metadata"] as? [String: [String: Any]])
        #expect(meta["tokenizer.tokens"]?["count"] as? Int == 32002 && meta["tokenizer.tokens"]?["truncated"] as? Bool == true)
        #expect((meta["tokenizer.tokens"]?["head"] as? [String])?.first == "t0")
        let full = try json(try inspect(path, "--json", "--full-metadata"))
        let fullMeta = try #require(full["metadata"] as? [String: [String: Any]])
        #expect(fullMeta["tokenizer.tokens"]?["value"] as? [String] == tokens)
        #expect(try inspect(path, "--full-metadata").stdoutText.contains("\"t32001\"]"))
    }

    // MARK: JSON

    @Test func jsonHasTheFileModelMetadataAndTensors() throws {
        let r = try inspect(Self.tiny, "--json")
        #expect(r.status == 0, "\(r.stderrText)")
        let j = try json(r)
        #expect(Array(j.keys).sorted() == ["file", "metadata", "model", "tensors"])
        let file = try #require(j["file"] as? [String: Any])
        #expect(file["size"] as? Int == 1768 && file["format_version"] as? String == "1.0")
        #expect(file["tensor_count"] as? Int == 8 && file["metadata_count"] as? Int == 11)
        let model = try #require(j["model"] as? [String: Any])
        #expect(model["architecture"] as? String == "llama" && model["parameters"] as? Int == Self.tinyParameters)
        let meta = try #require(j["metadata"] as? [String: [String: Any]])
        #expect(meta["llama.num_layers"]?["type"] as? String == "u64" && meta["llama.num_layers"]?["value"] as? Int == 1)
        #expect(meta["test.signed"]?["value"] as? Int == -42)
        #expect(meta["test.flags"]?["value"] as? [Bool] == [true, false, true])
        #expect(meta["tokenizer.tokens"]?["value"] as? [String] == ["<s>", "</s>", "a", "é"])

        // Tensors in file order; offsets, sizes and checksums agree with the reader.
        let tensors = try #require(j["tensors"] as? [[String: Any]])
        let reader = try QStarFile.open(path: Self.tiny)
        #expect(tensors.count == Self.tinyTensors.count)
        for (t, (expected, info)) in zip(tensors, zip(Self.tinyTensors, reader.tensors)) {
            #expect(t["name"] as? String == expected.0)
            #expect(t["dtype"] as? String == expected.1)
            #expect(t["shape"] as? [Int] == expected.2)
            #expect(t["encoding"] as? String == expected.3)
            #expect(t["offset"] as? Int == Int(info.offset) && t["stored_bytes"] as? Int == Int(info.storedLength))
            let hex = String(info.checksum, radix: 16, uppercase: true)
            #expect(t["checksum"] as? String == "0x" + String(repeating: "0", count: 16 - hex.count) + hex)
        }
        #expect(tensors[4]["logical_bytes"] as? Int == 1024)
        // Key order is fixed: the text starts with "file" and tensors come after metadata.
        let text = r.stdoutText
        #expect(text.hasPrefix("{\n  \"file\": {"))
        #expect(text.range(of: "\"metadata\"")!.lowerBound < text.range(of: "\"tensors\"")!.lowerBound)
    }

    // MARK: Verify

    @Test func verifyPassesOnTheGoldenFile() throws {
        let r = try inspect(Self.tiny, "--verify")
        #expect(r.status == 0)
        #expect(r.stdoutText.hasPrefix("ok: all checksums match (8 tensors, 221 B"))
        let j = try json(try inspect(Self.tiny, "--verify", "--json"))
        let v = try #require(j["verification"] as? [String: Any])
        #expect(v["ok"] as? Bool == true && v["checked_tensors"] as? Int == 8 && (v["damaged"] as? [Any])?.isEmpty == true)
    }

    @Test(arguments: ["output.weight", "thought.start_embedding", "test.mask"])
    func verifyNamesTheOneDamagedTensor(_ victim: String) throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = try copy(Self.tiny, in: dir)
        let info = try #require(try QStarFile.open(path: path).info(victim))
        try flipByte(path, at: info.offset + info.storedLength / 2)

        let r = try inspect(path, "--verify")
        #expect(r.status == 3)
        let damaged = r.stdoutText.split(separator: "\n").filter { $0.hasPrefix("DAMAGED") }
        #expect(damaged.count == 1)
        #expect(damaged.first?.hasPrefix("DAMAGED \(victim) at byte \(info.offset) ") == true, "\(damaged)")
        #expect(r.stdoutText.contains("FAILED: 1 of 8 tensors damaged"))

        let j = try json(try inspect(path, "--verify", "--json"))
        let v = try #require(j["verification"] as? [String: Any])
        let list = try #require(v["damaged"] as? [[String: Any]])
        #expect(v["ok"] as? Bool == false && list.count == 1)
        #expect(list.first?["name"] as? String == victim && list.first?["offset"] as? Int == Int(info.offset))
        #expect(list.first?["kind"] as? String == "checksum")
        // --tensor on it fails the same way (a raw one still prints, flagged); the summary does
        // not read tensor data and still succeeds.
        let values = try inspect(path, "--tensor", victim)
        #expect(values.status == 3 && values.stderrText.contains("\(victim)"))
        #expect(try inspect(path).status == 0)
    }

    // MARK: Tensor values

    @Test func tensorPrintsTheGoldenValues() throws {
        let embedding = (0..<12).map { Float($0) * 0.25 - 1.5 }
        let r = try inspect(Self.tiny, "--tensor", "token_embedding.weight", "--limit", "0")
        #expect(r.status == 0, "\(r.stderrText)")
        #expect(r.stdoutText.contains("[4, 3] (12 elements)"))
        #expect(listedValues(r.stdoutText).map { Float($0) } == embedding)

        // bf16 keeps 8 significant bits (the exact values, computed by hand in the golden tests).
        let bf16 = try inspect(Self.tiny, "--tensor", "output.weight")
        #expect(listedValues(bf16.stdoutText).map { Float($0)! }
                == [0.10009765625, -0.2001953125, 0.30078125, 0.00099945068359375, 65536, -7])

        // Default limit 16, on the zstd tensor (values i % 8).
        let z = try inspect(Self.tiny, "--tensor", "thought.start_embedding")
        #expect(z.stdoutText.contains("first 16 of 256"))
        #expect(listedValues(z.stdoutText).map { Float($0) } == (0..<16).map { Float($0 % 8) })

        // Integers print as integers.
        let ids = try inspect(Self.tiny, "--tensor", "test.ids")
        #expect(listedValues(ids.stdoutText) == ["0", "1", "-1", "2147483647", "-2147483648"])
        let counts = try inspect(Self.tiny, "--tensor", "test.counts")
        #expect(listedValues(counts.stdoutText) == ["1099511627776", "-3"])
        #expect(listedValues(try inspect(Self.tiny, "--tensor", "test.mask").stdoutText) == ["7"])

        // q8_0, a limit inside the first block: the first 5 of the reader's decoded values.
        let q8 = try inspect(Self.tiny, "--tensor", "layers.0.ffn.down.weight", "--limit", "5")
        let decoded = try QStarFile.open(path: Self.tiny).tensor("layers.0.ffn.down.weight").toFloat32()
        #expect(listedValues(q8.stdoutText).map { Float($0)! } == Array(decoded.prefix(5)))
        let source = (0..<5).map { Float(($0 * 37) % 29) - 14 }
        for (a, b) in zip(decoded, source) { #expect(abs(a - b) <= 14.0 / 127 / 2 + 1e-3) }
    }

    @Test func tensorAsJSON() throws {
        let r = try inspect(Self.tiny, "--tensor", "layers.0.attn_norm.weight", "--json")
        #expect(r.status == 0)
        let j = try json(r)
        #expect(j["dtype"] as? String == "f16" && j["shape"] as? [Int] == [3] && j["checksum_ok"] as? Bool == true)
        #expect(j["values"] as? [Double] == [1, 0.5, -2])
        let limited = try json(try inspect(Self.tiny, "--tensor", "thought.start_embedding", "--json", "--limit", "20"))
        #expect(limited["shown"] as? Int == 20 && (limited["values"] as? [Double])?.count == 20)
    }

    @Test func damagedRawTensorValuesAreShownButFlagged() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = try copy(Self.tiny, in: dir)
        let info = try #require(try QStarFile.open(path: path).info("token_embedding.weight"))
        try flipByte(path, at: info.offset)
        let r = try inspect(path, "--tensor", "token_embedding.weight")
        #expect(r.status == 3)
        #expect(r.stdoutText.contains("MISMATCH"))
        #expect(r.stderrText.contains("token_embedding.weight") && r.stderrText.contains("xxh64"))
    }

    // MARK: Failures and exit statuses

    @Test func truncatedFileIsInvalidWithFieldAndOffset() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("truncated.qstar").path
        let bytes = try Data(contentsOf: URL(fileURLWithPath: Self.tiny))
        try bytes.prefix(1000).write(to: URL(fileURLWithPath: path))
        for mode in [[], ["--json"], ["--verify"], ["--tensor", "test.ids"]] {
            let r = try CLI.run("quietstar-inspect", [path] + mode)
            #expect(r.status == 65)
            #expect(r.stdout.isEmpty)
            #expect(r.stderrText.contains("truncated.qstar: header.file_length at byte 16"), "\(r.stderrText)")
            #expect(r.stderrText.contains("truncated"))
        }
    }

    @Test func missingFileIs66() throws {
        let r = try inspect("/nonexistent/dir/model.qstar")
        #expect(r.status == 66)
        #expect(r.stderrText.contains("/nonexistent/dir/model.qstar"))
    }

    @Test func usageErrorsAre64() throws {
        let cases: [[String]] = [
            [],                                              // no FILE
            [Self.tiny, "--bogus"],                          // unknown flag
            [Self.tiny, "--limit", "3"],                     // --limit without --tensor
            [Self.tiny, "--tensor", "test.ids", "--limit", "-1"],
            [Self.tiny, "--tensor", "test.ids", "--limit", "many"],
            [Self.tiny, "--verify", "--tensor", "test.ids"],
            [Self.tiny, Self.tiny],                          // two files
        ]
        for args in cases {
            let r = try CLI.run("quietstar-inspect", args)
            #expect(r.status == 64, "\(args): \(r.status) \(r.stderrText)")
            #expect(r.stdout.isEmpty, "\(args)")
        }
        // An unknown tensor is a usage error, with the close names suggested.
        let r = try inspect(Self.tiny, "--tensor", "outptu.weigth")
        #expect(r.status == 64)
        #expect(r.stderrText.contains("no tensor named 'outptu.weigth'") && r.stderrText.contains("did you mean: output.weight"))
    }

    @Test func helpTeachesModesAndExitStatuses() throws {
        let r = try inspect("--help")
        #expect(r.status == 0)
        for needle in ["--verify", "--tensor", "--limit", "--json", "--full-metadata", "Examples:", "Exit status:",
                       "65  invalid input file", "3   a checksum did not match"] {
            #expect(r.stdoutText.contains(needle), "help lacks \(needle)")
        }
    }

    /// The exact bytes of `--json`: flat objects and arrays of scalars on one line, floats as
    /// their shortest round-trip text, non-finite ones as the strings the help names, strings
    /// escaped as QuietStarJSON's writer does.
    @Test func jsonLayoutAndNumbersAreExact() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("numbers.qstar").path
        let w = try QStarWriter(path: path)
        try w.addTensor(name: "w", dtype: .f32, shape: [5], float32: [.nan, .infinity, -.infinity, 0.1, 1e-6])
        try w.finish(metadata: Metadata([
            ("a.floats", .floatArray([.nan, .infinity, -.infinity, 0.1, 1e-6, 1e16, -0.0, 10000])),
            ("b.u64", .uint(.max)), ("c.i64", .int(.min)),
            ("d.string", .string("quote\" back\\ tab\t nel\u{85} caf\u{E9}")),
        ]))

        let r = try inspect(path, "--json")
        #expect(r.status == 0)
        #expect(r.stdoutText.contains("""
              "metadata": {
                "a.floats": {"type": "f64[]", "value": ["NaN", "Infinity", "-Infinity", 0.1, 1e-06, 1e+16, -0.0, 10000.0]},
                "b.u64": {"type": "u64", "value": 18446744073709551615},
                "c.i64": {"type": "i64", "value": -9223372036854775808},
                "d.string": {"type": "string", "value": "quote\\" back\\\\ tab\\t nel\\u0085 caf\u{E9}"}
              },
              "tensors": [
                {
                  "name": "w",
                  "dtype": "f32",
                  "shape": [5],
            """))

        let t = try inspect(path, "--tensor", "w", "--json")
        #expect(t.status == 0)
        #expect(t.stdoutText.hasPrefix("{\n  \"name\": \"w\",\n  \"dtype\": \"f32\",\n  \"shape\": [5],\n"))
        #expect(t.stdoutText.hasSuffix("""
              "checksum_ok": true,
              "shown": 5,
              "values": [
                "NaN", "Infinity", "-Infinity", 0.1, 1e-06
              ]
            }

            """))
    }

    // MARK: Hostile strings

    @Test func controlCharactersInNamesAndStringsAreEscaped() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("hostile.qstar").path
        let evilName = "evil\u{1B}[2J\nname"
        let evilString = "line1\nline2\u{1B}]0;pwned\u{07}\u{9B}31m"
        let w = try QStarWriter(path: path)
        try w.addTensor(name: evilName, dtype: .f32, shape: [2], float32: [1, 2])
        try w.finish(metadata: Metadata([("general.name", .string(evilString)),
                                         ("tokenizer.tokens", .stringArray(["ok", "\u{1B}[31mred"]))]))

        func expectClean(_ text: String, _ context: String) {
            #expect(!text.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" || $0.value == 0x7F || (0x80...0x9F).contains($0.value) },
                    "raw control character in \(context)")
        }
        let summary = try inspect(path)
        #expect(summary.status == 0)
        expectClean(summary.stdoutText, "summary")
        #expect(summary.stdoutText.contains("evil\\u{1B}[2J\\nname"))
        #expect(summary.stdoutText.contains("\"line1\\nline2\\u{1B}]0;pwned\\u{7}\\u{9B}31m\""))
        #expect(summary.stdoutText.contains("\"\\u{1B}[31mred\""))
        // Every line of the summary is one line: the newline in the name did not split a row.
        #expect(summary.stdoutText.split(separator: "\n").contains { $0.hasPrefix("  evil\\u{1B}[2J\\nname ") })

        let j = try inspect(path, "--json")
        expectClean(j.stdoutText, "JSON")
        let parsed = try json(j)
        #expect((parsed["tensors"] as? [[String: Any]])?.first?["name"] as? String == evilName)
        #expect((parsed["metadata"] as? [String: [String: Any]])?["general.name"]?["value"] as? String == evilString)

        let t = try inspect(path, "--tensor", evilName)
        #expect(t.status == 0)
        expectClean(t.stdoutText, "--tensor")
        #expect(listedValues(t.stdoutText) == ["1.0", "2.0"])

        // Damaged: the DAMAGED line and the stderr message are escaped too.
        let info = try #require(try QStarFile.open(path: path).info(evilName))
        try flipByte(path, at: info.offset)
        let v = try inspect(path, "--verify")
        #expect(v.status == 3)
        expectClean(v.stdoutText, "--verify")
        #expect(v.stdoutText.contains("DAMAGED evil\\u{1B}[2J\\nname at byte \(info.offset)"))
        let missing = try inspect(path, "--tensor", "evil")
        #expect(missing.status == 64)
        expectClean(missing.stderrText, "stderr")
    }
}
