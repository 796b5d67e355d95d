import Foundation
import QuietStarFormat
import Testing

/// `quietstar-convert from-gguf` and `to-gguf` as a user runs them.
@Suite struct GGUFCLITests {
    let tool = "quietstar-convert"

    @Test func fromGGUFToGGUFRoundTrip() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let qstar = dir.appendingPathComponent("m.qstar").path
        let imported = try CLI.run(tool, ["from-gguf", CLI.fixture("gguf/models/mistral.q8_0.gguf").path, "-o", qstar, "--json"])
        #expect(imported.status == 0, "\(imported.stderrText)")
        #expect(imported.stderrText.contains("regrouped"), "the q/k note: \(imported.stderrText)")
        let summary = try #require(try JSONSerialization.jsonObject(with: imported.stdout) as? [String: Any])
        #expect((summary["dtypes"] as? [String: Int])?["q8_0"] == 16)

        let gguf = dir.appendingPathComponent("m.gguf").path
        let exported = try CLI.run(tool, ["to-gguf", qstar, "-o", gguf])
        #expect(exported.status == 0 && exported.stdout.isEmpty, "\(exported.stderrText)")
        let back = dir.appendingPathComponent("back.qstar").path
        #expect(try CLI.run(tool, ["from-gguf", gguf, "-o", back, "-q"]).status == 0)
        let a = try QStarFile.open(path: qstar), b = try QStarFile.open(path: back)
        for t in a.tensors { #expect(Array(b.storedBytes(b.info(t.name)!)) == Array(a.storedBytes(t)), "\(t.name)") }
    }

    @Test func thoughtParametersAreNotedOnStderr() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let qstar = dir.appendingPathComponent("qs.qstar").path
        #expect(try CLI.run(tool, ["from-hf", CLI.fixture("hf/quietstar-mistral").path, "-o", qstar, "-q"]).status == 0)
        let exported = try CLI.run(tool, ["to-gguf", qstar, "-o", dir.appendingPathComponent("qs.gguf").path])
        #expect(exported.status == 0)
        #expect(exported.stderrText.contains("thought parameters") && exported.stderrText.contains("quietstar."), "\(exported.stderrText)")
    }

    @Test func badInputsExitWithTheirStatus() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let bad = dir.appendingPathComponent("bad.gguf")
        try Data("GGUF\u{3}\0\0\0".utf8 + [UInt8](repeating: 0xFF, count: 16)).write(to: bad)
        let out = dir.appendingPathComponent("o.qstar").path
        let hostile = try CLI.run(tool, ["from-gguf", bad.path, "-o", out])
        #expect(hostile.status == 65 && hostile.stderrText.contains("n_tensors at byte 8"), "\(hostile.status) \(hostile.stderrText)")
        let missing = try CLI.run(tool, ["from-gguf", dir.appendingPathComponent("absent.gguf").path, "-o", out])
        #expect(missing.status == 66, "\(missing.stderrText)")
        #expect(!FileManager.default.fileExists(atPath: out))
    }
}
