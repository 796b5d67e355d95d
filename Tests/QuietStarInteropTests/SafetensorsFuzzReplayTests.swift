import Foundation
import QuietStarTestSupport
import Testing

/// Every input the safetensors fuzz target kept (tools/fuzz/corpus/safetensors/, minimised runs of
/// `tools/fuzz/run-fuzz safetensors`) through the target's own checks (`SafetensorsExercise`), on every test
/// run: no fuzzing engine needed, and a regression on any kept input traps here.
@Suite struct SafetensorsFuzzReplayTests {
    @Test func everyCorpusFileReplaysCleanly() throws {
        let folder = Repository.root.appendingPathComponent("tools/fuzz/corpus/safetensors")
        let files = try FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)
            .filter { !$0.hasDirectoryPath }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
        #expect(files.count >= 50, "the committed corpus is missing")
        var accepted = 0
        for file in files {
            let bytes = try Data(contentsOf: file)
            accepted += bytes.withUnsafeBytes { SafetensorsExercise.run($0) }
        }
        // Some kept inputs get past the parsers: the replay is more than a rejection test.
        #expect(accepted > 0, "no corpus input was accepted")
    }
}
