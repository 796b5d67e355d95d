import Foundation
import QuietStarTestSupport
import Testing

/// Every input the trainer's data-reader fuzz target kept (tools/fuzz/corpus/training/, minimised
/// runs of `tools/fuzz/run-fuzz training`) through the target's own checks
/// (`TrainingDataExercise`), on every test run: no fuzzing engine needed, and a regression on any
/// kept input traps here.
@Suite struct TrainingDataFuzzReplayTests {
    @Test func everyCorpusFileReplaysCleanly() throws {
        let folder = Repository.root.appendingPathComponent("tools/fuzz/corpus/training")
        let files = try FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)
            .filter { !$0.hasDirectoryPath }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
        #expect(files.count >= 50, "the committed corpus is missing")
        var read = 0
        for file in files {
            let bytes = try Data(contentsOf: file)
            read += bytes.withUnsafeBytes { TrainingDataExercise.run($0) }
        }
        // Kept inputs get past the readers: the replay is more than a rejection test.
        #expect(read > 0, "no corpus input gave a sequence")
    }
}
