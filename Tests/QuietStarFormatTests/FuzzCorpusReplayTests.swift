import Foundation
import QuietStarTestSupport
import Testing

/// Every input the reader's fuzz target has kept (`tools/fuzz/corpus/`, minimised runs) and every
/// format fixture, through the fuzz target's own checks (`ReaderExercise`), on every test run:
/// no fuzzing engine needed, and a regression in any of them traps here.
@Suite struct FuzzCorpusReplayTests {
    @Test func everyCorpusFileReplaysCleanly() throws {
        let corpus = Repository.files(in: "tools/fuzz/corpus")
        let fixtures = ["golden", "accept", "reject"].flatMap { Repository.files(in: "fixtures/format/\($0)") }
        var replayed = 0, accepted = 0
        for file in corpus + fixtures {
            let bytes = try Data(contentsOf: file)
            accepted += bytes.withUnsafeBytes { ReaderExercise.run($0) }
            replayed += 1
        }
        #expect(corpus.count >= 200, "the committed corpus is missing")
        // Most kept inputs reach the decoders once resealed: the replay is more than a checksum test.
        #expect(accepted * 4 >= replayed, "only \(accepted) of \(replayed) inputs got past validation")
    }
}
