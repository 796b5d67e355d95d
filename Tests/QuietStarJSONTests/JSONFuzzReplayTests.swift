import Foundation
import QuietStarTestSupport
import Testing

/// Every input the json fuzz target kept (tools/fuzz/corpus/json/, minimised runs of
/// `tools/fuzz/run-fuzz json`) through the target's own checks (`JSONExercise`), on every test
/// run: no fuzzing engine needed, and a regression on any kept input traps here.
@Suite struct JSONFuzzReplayTests {
    @Test func everyCorpusFileReplaysCleanly() throws {
        let (files, accepted) = try Repository.replayCorpus("json") { JSONExercise.run($0) }
        #expect(files >= 100, "the committed corpus is missing")
        // Some kept inputs get past the parsers: the replay is more than a rejection test.
        #expect(accepted > 0, "no corpus input was accepted")
    }
}
