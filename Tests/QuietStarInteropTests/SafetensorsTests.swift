import Foundation
import QuietStarJSON
import QuietStarTestSupport
import Testing
@testable import QuietStarInterop

@Suite struct SafetensorsTests {
    /// The committed corpus: every file's accept/reject decision matches the upstream reader
    /// (recorded in manifest.json by make_corpus.py), except where we are stricter on purpose.
    @Test func corpusDecisionsMatchUpstream() throws {
        let manifestBytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Fixtures.path("safetensors/manifest.json"))))
        let manifest = try JSONReader.parse(manifestBytes)
        let entries = try #require(manifest.objectEntries)
        #expect(entries.count >= 25)
        for (name, record) in entries {
            let ours = try #require(record["ours_accepts"]?.boolValue as Bool?)
            let path = Fixtures.path("safetensors/\(name)")
            do {
                let file = try SafetensorsFile(path: path)
                #expect(ours, "\(name) was accepted but must be rejected")
                // Accepted files tile their data buffer exactly.
                var end: UInt64 = 0
                for t in file.tensors {
                    #expect(t.dataRange.lowerBound == end)
                    end = t.dataRange.upperBound
                }
            } catch {
                #expect(!ours, "\(name) was rejected: \(error)")
                #expect(error.kind == .invalidInput, "\(name): \(error)")
                #expect(error.path == path)
                #expect(error.description.hasPrefix(path + ": "))
            }
        }
    }

    @Test(arguments: [
        ("header_length_past_eof", "header_length", "past the end of the file"),
        ("header_length_huge", "header_length", "exceeds the 100000000-byte cap"),
        ("header_length_max_u64", "header_length", "cap"),
        ("overlapping_ranges", "b.data_offsets", "overlaps the previous tensor"),
        ("hole_between_tensors", "b.data_offsets", "leaves a hole"),
        ("trailing_bytes", "data_offsets", "trailing bytes"),
        ("truncated_data", "data_offsets", "truncated"),
        ("wrong_dtype_size", "a.data_offsets", "needs 16 bytes"),
        ("wrong_dtype_size_bf16_as_f32", "a.data_offsets", "needs 8 bytes"),
        ("unknown_dtype", "a.dtype", "unknown dtype \"F12\""),
        ("shape_product_overflow", "a.shape", "overflows"),
        ("negative_dimension", "a.shape", "non-negative"),
        ("duplicate_tensor_name", "header", "duplicate key \"a\""),
        ("metadata_not_strings", "__metadata__.n", "must be strings"),
        ("too_short", "header_length", "shorter than"),
        ("invalid_utf8_header", "header", "UTF-8"),
    ])
    func hostileFilesGetPreciseErrors(name: String, field: String, message: String) {
        let path = Fixtures.path("safetensors/\(name).safetensors")
        do {
            _ = try SafetensorsFile(path: path)
            Issue.record("\(name) accepted")
        } catch {
            #expect(error.field == field, "\(name): \(error)")
            #expect(error.message.contains(message), "\(name): \(error)")
            #expect(error.offset != nil, "\(name): \(error)")
        }
    }

    @Test func missingFileIsMissingInput() {
        do {
            _ = try SafetensorsFile(path: "/nonexistent/model.safetensors")
            Issue.record("opened a missing file")
        } catch {
            #expect(error.kind == .missingInput)
        }
        // A directory is not a readable input either.
        let directory = #expect(throws: InteropError.self) { _ = try SafetensorsFile(path: NSTemporaryDirectory()) }
        #expect(directory?.kind == .missingInput)
        #expect(directory?.message == "not a regular file")
    }

    /// Random byte flips and truncations of a valid file never crash the validator, and anything
    /// it accepts still tiles the buffer.
    @Test func mutatedFilesNeverCrash() throws {
        let valid = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Fixtures.path("safetensors/valid_basic.safetensors"))))
        var rng = SplitMix64(seed: 0x5AFE)
        var accepted = 0
        for round in 0..<3000 {
            var bytes = valid
            if round % 5 == 0 {
                bytes.removeLast(Int(rng.next() % UInt64(bytes.count)))
            } else {
                for _ in 0..<(1 + rng.next() % 3) {
                    bytes[Int(rng.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: rng.next())
                }
            }
            let result = bytes.withUnsafeBytes { raw in Result { () throws(InteropError) in try SafetensorsFile.validate(bytes: raw, name: "m") } }
            if case let .success(parsed) = result {
                accepted += 1
                var end: UInt64 = 0
                for t in parsed.tensors {
                    #expect(t.dataRange.lowerBound == end)
                    end = t.dataRange.upperBound
                }
                #expect(parsed.dataOffset + end == UInt64(bytes.count))
            }
        }
        #expect(accepted < 3000)
    }

    @Test func writerStreamsAndReaderReadsBack() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("out.safetensors")
        let a: [Float] = (0..<1000).map { Float($0) * 0.5 - 7 }
        let b: [UInt16] = [0x3F80, 0x4000, 0xC040]  // bf16 1, 2, -3
        let writer = try SafetensorsWriter(
            path: path,
            entries: [.init(name: "a", dtype: .f32, shape: [10, 100]), .init(name: "empty", dtype: .f16, shape: [0, 3]),
                      .init(name: "b", dtype: .bf16, shape: [3])],
            metadata: [("format", "pt")])
        try writer.beginTensor("a")
        try a.withUnsafeBytes { raw in
            // In uneven pieces, as a conversion would stream it.
            try writer.append(UnsafeRawBufferPointer(rebasing: raw[0..<1001]))
            try writer.append(UnsafeRawBufferPointer(rebasing: raw[1001...]))
        }
        try writer.endTensor()
        try writer.write("empty", UnsafeRawBufferPointer(start: nil, count: 0))
        try b.withUnsafeBytes { try writer.write("b", $0) }
        #expect(!FileManager.default.fileExists(atPath: path), "visible before finish")
        try writer.finish()
        #expect(dir.contents == ["out.safetensors"])

        let file = try SafetensorsFile(path: path)
        #expect(file.dataOffset % 8 == 0)
        #expect(file.metadata.map(\.key) == ["format"])
        #expect(file.tensors.map(\.name) == ["a", "empty", "b"])
        #expect(file.info("a")?.shape == [10, 100])
        #expect(referenceValues(file, "a") == a)
        #expect(referenceValues(file, "b") == [1, 2, -3])
        #expect(file.info("empty")?.elementCount == 0)
    }

    @Test func writerRefusesMisuseAndLeavesNothing() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("bad.safetensors")
        do {
            let writer = try SafetensorsWriter(path: path, entries: [.init(name: "x", dtype: .f32, shape: [2]),
                                                                    .init(name: "y", dtype: .f32, shape: [1])])
            #expect(throws: InteropError.self) { try writer.beginTensor("y") }  // out of order
            try writer.beginTensor("x")
            let three: [Float] = [1, 2, 3]
            #expect(throws: InteropError.self) { try three.withUnsafeBytes { try writer.append($0) } }  // too many bytes
            let one: [Float] = [1]
            try one.withUnsafeBytes { try writer.append($0) }
            #expect(throws: InteropError.self) { try writer.endTensor() }  // too few
            #expect(throws: InteropError.self) { try writer.finish() }
        }
        // The writer went out of scope unfinished: its temporary file is gone too.
        #expect(dir.contents.isEmpty)
        #expect(throws: InteropError.self) {
            _ = try SafetensorsWriter(path: path, entries: [.init(name: "x", dtype: .f32, shape: [1]), .init(name: "x", dtype: .f32, shape: [1])])
        }
        #expect(dir.contents.isEmpty)
    }
}

