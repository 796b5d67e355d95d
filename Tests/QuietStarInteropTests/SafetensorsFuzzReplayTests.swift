import Foundation
import QuietStarTestSupport
import Testing

/// Every input the safetensors fuzz target kept (tools/fuzz/corpus/safetensors/, minimised runs of
/// `tools/fuzz/run-fuzz safetensors`) through the target's own checks (`SafetensorsExercise`), on every test
/// run: no fuzzing engine needed, and a regression on any kept input traps here.
@Suite struct SafetensorsFuzzReplayTests {
    @Test func everyCorpusFileReplaysCleanly() throws {
        let (files, accepted) = try Repository.replayCorpus("safetensors") { SafetensorsExercise.run($0) }
        #expect(files >= 50, "the committed corpus is missing")
        // Some kept inputs get past the parsers: the replay is more than a rejection test.
        #expect(accepted > 0, "no corpus input was accepted")
    }
}
