import CZstd
import Foundation
import Testing
@testable import QuietStarFormat

@Suite struct GoldenTests {
    static let regenerate = ProcessInfo.processInfo.environment["QSTAR_WRITE_FIXTURES"] == "1"

    /// Writes with `generate` to a temp file, optionally refreshes the fixture, returns both.
    func produce(_ name: String, _ generate: (String) throws -> Void) throws -> (written: [UInt8], golden: [UInt8]) {
        let dir = TestSupport.temporaryDirectory()
        defer { TestSupport.remove(dir) }
        try generate(dir + "/" + name)
        let written = TestSupport.read(dir + "/" + name)
        let goldenPath = TestSupport.fixture("golden/" + name)
        if GoldenTests.regenerate {
            try FileManager.default.createDirectory(atPath: TestSupport.fixture("golden"), withIntermediateDirectories: true)
            TestSupport.write(written, to: goldenPath)
        }
        return (written, TestSupport.read(goldenPath))
    }

    @Test func minimalIsReproducedByteForByte() throws {
        let (written, golden) = try produce("minimal.qstar", GoldenFiles.writeMinimal)
        #expect(!golden.isEmpty)
        #expect(written == golden)
    }

    @Test func tinyIsReproducedByteForByte() throws {
        let (written, golden) = try produce("tiny.qstar", GoldenFiles.writeTiny)
        #expect(written.count == golden.count)
        if ZSTD_versionNumber() == GoldenFiles.zstdVersionOfGoldenFiles {
            #expect(written == golden)
        } else {
            // Compare everything but the zstd blob and the checksums that cover it.
            let t = try TestSupport.validate(golden).tensors.first { $0.encoding == .zstd }!
            var a = written, b = golden
            for i in Int(t.offset)..<Int(t.offset + t.storedLength) { a[i] = 0; b[i] = 0 }
            #expect(a[64..<Int(t.offset)] == b[64..<Int(t.offset)])
        }
    }

    @Test func minimalDecodes() throws {
        let f = try QStarFile.open(path: TestSupport.fixture("golden/minimal.qstar"))
        #expect(f.fileLength == 208)
        #expect(f.metadata == Metadata([("general.name", .string("minimal"))]))
        #expect(f.tensors.count == 1)
        let t = try f.tensor("w")
        #expect(t.info.offset == 64 && t.info.storedLength == 16 && t.shape == [2, 2] && t.dtype == .f32)
        #expect(try t.toFloat32() == [1, -2, 0.5, 3])
    }

    @Test func tinyDecodes() throws {
        let f = try QStarFile.open(path: TestSupport.fixture("golden/tiny.qstar"))
        #expect(f.metadata == GoldenFiles.tinyMetadata)
        #expect(f.tensors.map(\.name) == ["token_embedding.weight", "layers.0.attn_norm.weight", "output.weight",
                                          "layers.0.ffn.down.weight", "thought.start_embedding", "test.ids",
                                          "test.counts", "test.mask"])
        #expect(f.verifyAll().isEmpty)
        #expect(try f.tensor("token_embedding.weight").toFloat32() == GoldenFiles.tinyEmbedding)
        #expect(try f.tensor("layers.0.attn_norm.weight").toFloat32() == [1, 0.5, -2])
        // bf16 keeps 8 significant bits: the exact expected values, computed by hand.
        #expect(try f.tensor("output.weight").toFloat32()
                == [0.10009765625, -0.2001953125, 0.30078125, 0.00099945068359375, 65536, -7])
        // q8_0: values are integers -14...14, so scale = 14/127 in f16 and each q rounds back.
        let q = try f.tensor("layers.0.ffn.down.weight").toFloat32()
        for (a, b) in zip(q, GoldenFiles.tinyQ8) { #expect(abs(a - b) <= 14 / 127 / 2 + 1e-3) }
        let z = try f.tensor("thought.start_embedding")
        #expect(z.info.encoding == .zstd && z.info.storedLength < 1024)
        #expect(try z.toFloat32() == GoldenFiles.tinyZstd)
        let ids = try f.tensor("test.ids")
        #expect(Array(ids.bytes.bindMemory(to: Int32.self)) == GoldenFiles.tinyIDs)
        let counts = try f.tensor("test.counts")
        #expect((0..<2).map { counts.bytes.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self) } == GoldenFiles.tinyCounts)
        let mask = try f.tensor("test.mask")
        #expect(mask.shape == [] && mask.elementCount == 1 && mask.copyBytes() == [7])
        // Raw tensors are 64-byte aligned inside the mapping.
        for t in f.tensors where t.encoding == .raw {
            #expect(Int(bitPattern: f.storedBytes(t).baseAddress!) % 64 == 0)
        }
    }
}
