import Foundation
import QuietStarTestSupport
import Testing

/// Every input the trainer's data-reader fuzz target kept (tools/fuzz/corpus/training/, minimised
/// runs of `tools/fuzz/run-fuzz training`) through the target's own checks
/// (`TrainingDataExercise`), on every test run: no fuzzing engine needed, and a regression on any
/// kept input traps here.
@Suite struct TrainingDataFuzzReplayTests {
    @Test func everyCorpusFileReplaysCleanly() throws {
        let (files, read) = try Repository.replayCorpus("training") { TrainingDataExercise.run($0) }
        #expect(files >= 50, "the committed corpus is missing")
        // Kept inputs get past the readers: the replay is more than a rejection test.
        #expect(read > 0, "no corpus input gave a sequence")
    }
}
