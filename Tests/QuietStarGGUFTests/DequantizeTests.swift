import QuietStarTestSupport
import Testing
@testable import QuietStarGGUF

/// Every ggml type we decode, against the `gguf` Python package's dequantizer on random blocks
/// (fixtures/gguf/dequant.gguf, made by tools/reference/make_gguf_fixtures.py).
@Suite struct DequantizeTests {
    static let file = Result { try GGUFFile.open(path: Repository.fixture("gguf/dequant.gguf")) }

    @Test(arguments: GGMLType.allCases)
    func matchesTheReferenceBitForBit(type: GGMLType) throws {
        let file = try Self.file.get()
        let name = type.name.lowercased()
        let stored = try #require(file.layout.tensor(name), "fixture has no \(name)")
        let expected = try #require(file.layout.tensor(name + ".expected"))
        #expect(stored.type == type && expected.type == .f32)
        #expect(stored.shape == expected.shape)
        let ours = file.values(of: stored), reference = file.values(of: expected)
        #expect(ours.count == reference.count && ours.count > 0)
        let mismatches = zip(ours, reference).enumerated().filter { $0.element.0.bitPattern != $0.element.1.bitPattern }
        #expect(mismatches.isEmpty, "\(type): \(mismatches.count) values differ, first \(mismatches.first.map { "\($0.offset): \($0.element)" } ?? "")")
    }

    @Test func fixtureIsReadAsTheGGUFPackageWroteIt() throws {
        let layout = try Self.file.get().layout
        #expect(layout.version == 3)
        #expect(layout["general.architecture"] == .string("dequant-test"))
        #expect(layout.tensors.count == 2 * GGMLType.allCases.count)
        #expect(layout.tensor("q4_k")?.shape == [3, 512])
        #expect(layout.dataOffset % layout.alignment == 0)
    }
}
