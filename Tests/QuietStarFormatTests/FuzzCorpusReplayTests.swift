import Foundation
import QuietStarTestSupport
import Testing

/// Every input the reader's fuzz target has kept (`tools/fuzz/corpus/`, minimised runs) and every
/// format fixture, through the fuzz target's own checks (`ReaderExercise`), on every test run:
/// no fuzzing engine needed, and a regression in any of them traps here.
@Suite struct FuzzCorpusReplayTests {
    static func files(_ folder: URL) -> [URL] {
        ((try? FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)) ?? [])
            .filter { !$0.hasDirectoryPath && $0.pathExtension != "md" }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
    }

    @Test func everyCorpusFileReplaysCleanly() throws {
        let corpus = Repository.root.appendingPathComponent("tools/fuzz/corpus")
        let fixtures = ["golden", "accept", "reject"].map { URL(fileURLWithPath: Repository.fixture("format/\($0)")) }
        var replayed = 0, accepted = 0
        for file in Self.files(corpus) + fixtures.flatMap(Self.files) {
            let bytes = try Data(contentsOf: file)
            accepted += bytes.withUnsafeBytes { ReaderExercise.run($0) }
            replayed += 1
        }
        #expect(Self.files(corpus).count >= 200, "the committed corpus is missing")
        // Most kept inputs reach the decoders once resealed: the replay is more than a checksum test.
        #expect(accepted * 4 >= replayed, "only \(accepted) of \(replayed) inputs got past validation")
    }
}
