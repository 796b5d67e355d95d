import Foundation
import QuietStarTestSupport
import Testing

/// Every input the json fuzz target kept (tools/fuzz/corpus/json/, minimised runs of
/// `tools/fuzz/run-fuzz json`) through the target's own checks (`JSONExercise`), on every test
/// run: no fuzzing engine needed, and a regression on any kept input traps here.
@Suite struct JSONFuzzReplayTests {
    @Test func everyCorpusFileReplaysCleanly() throws {
        let folder = Repository.root.appendingPathComponent("tools/fuzz/corpus/json")
        let files = try FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)
            .filter { !$0.hasDirectoryPath }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
        #expect(files.count >= 100, "the committed corpus is missing")
        var accepted = 0
        for file in files {
            let bytes = try Data(contentsOf: file)
            accepted += bytes.withUnsafeBytes { JSONExercise.run($0) }
        }
        // Some kept inputs get past the parsers: the replay is more than a rejection test.
        #expect(accepted > 0, "no corpus input was accepted")
    }
}
