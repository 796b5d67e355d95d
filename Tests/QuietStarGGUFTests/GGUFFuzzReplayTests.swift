import Foundation
import QuietStarTestSupport
import Testing

/// Every input the GGUF fuzz target has kept (tools/fuzz/corpus-gguf/, minimised runs of
/// tools/fuzz/run-gguf-fuzz) and every GGUF fixture, through the fuzz target's own checks
/// (`GGUFExercise`) on every test run: no fuzzing engine needed, and a regression traps here.
@Suite struct GGUFFuzzReplayTests {
    @Test func everyCorpusFileReplaysCleanly() throws {
        let corpus = Repository.files(in: "tools/fuzz/corpus-gguf")
        let fixtures = Repository.files(in: "fixtures/gguf") + Repository.files(in: "fixtures/gguf/models")
        var accepted = 0
        for file in corpus + fixtures {
            let bytes = try Data(contentsOf: file)
            accepted += bytes.withUnsafeBytes { GGUFExercise.run($0) } ? 1 : 0
        }
        #expect(corpus.count >= 100, "the committed corpus is missing")
        #expect(fixtures.allSatisfy { f in (try? Data(contentsOf: f).withUnsafeBytes { GGUFExercise.run($0) }) == true })
        // Kept inputs must reach past the header into the tables and decoders, not only fail early.
        #expect(accepted * 10 >= corpus.count, "only \(accepted) of \(corpus.count + fixtures.count) inputs were accepted")
    }
}
