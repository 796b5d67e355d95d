import Foundation
import Testing
@testable import QuietStarFormat

@Suite struct RoundTripTests {
    @Test func rawF32RoundTrip() throws {
        let dir = TestSupport.temporaryDirectory()
        defer { TestSupport.remove(dir) }
        let path = dir + "/a.qstar"
        let w = try QStarWriter(path: path)
        let values: [Float] = (0..<24).map { Float($0) * 0.5 - 3 }
        try w.addTensor(name: "w", dtype: .f32, shape: [4, 6], float32: values)
        try w.finish(metadata: Metadata([("general.name", .string("tiny")), ("llama.num_layers", .uint(2))]))
        let f = try QStarFile.open(path: path)
        #expect(f.version == QStarFile.supportedVersion)
        #expect(try f.metadata.string("general.name") == "tiny")
        #expect(try f.metadata.uint("llama.num_layers") == 2)
        let t = try f.tensor("w")
        #expect(t.shape == [4, 6])
        #expect(try t.toFloat32() == values)
        #expect(f.verifyAll().isEmpty)
        // No temporary files left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["a.qstar"])
    }
}
