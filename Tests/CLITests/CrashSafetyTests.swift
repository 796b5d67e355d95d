import Foundation
import Testing

/// A writer killed at any moment never leaves a partial file under the final name: the converter
/// and the recoder, each SIGKILLed at seeded random moments while they replace an existing
/// output, leave either the previous file or the complete new one, and it passes --verify.
/// The trainer gets the same: killed again and again while it writes checkpoints every step.
@Suite struct CrashSafetyTests {
    /// SplitMix64: the kill moments are reproducible from the seed.
    struct Moments {
        var state: UInt64
        mutating func next(below bound: UInt64) -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return (z ^ (z >> 31)) % bound
        }
    }

    /// Runs `arguments` and kills it after `micros`; returns whether it had already exited.
    static func killed(_ tool: String, _ arguments: [String], after micros: UInt64) throws -> Bool {
        let process = Process()
        process.executableURL = CLI.productsDirectory.appendingPathComponent(tool)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        usleep(UInt32(micros))
        let finished = !process.isRunning
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        return finished
    }

    static func verify(_ path: String) throws -> Bool {
        try CLI.run("quietstar-inspect", ["--verify", path]).status == 0
    }

    @Test(arguments: ["from-hf", "recode"])
    func aKilledWriterLeavesTheOldFileOrTheNewOne(_ command: String) throws {
        let root = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let out = root.appendingPathComponent("model.qstar").path
        let source = root.appendingPathComponent("source.qstar").path
        // Two different complete files the output can legitimately be.
        for (family, path) in [("llama-tied", out), ("llama-untied", source)] {
            let r = try CLI.run("quietstar-convert", ["from-hf", CLI.fixture("hf/\(family)").path, "-o", path])
            try #require(r.status == 0, "\(r.stderrText)")
        }
        let old = try Data(contentsOf: URL(fileURLWithPath: out))
        let arguments = command == "from-hf"
            ? ["from-hf", CLI.fixture("hf/llama-untied").path, "-o", out, "--dtype", "f16"]
            : ["recode", source, "-o", out, "--dtype", "q8_0", "--compress", "zstd"]
        // The complete new file, for comparison.
        let reference = root.appendingPathComponent("reference.qstar").path
        let started = Date()
        let full = try CLI.run("quietstar-convert", arguments.map { $0 == out ? reference : $0 })
        let duration = UInt64(Date().timeIntervalSince(started) * 1e6)
        try #require(full.status == 0, "\(full.stderrText)")
        let new = try Data(contentsOf: URL(fileURLWithPath: reference))

        var moments = Moments(state: command == "from-hf" ? 17 : 29)
        var sawOld = false, sawNew = false
        for _ in 0..<16 {
            let before = try Data(contentsOf: URL(fileURLWithPath: out))
            // Kill moments spread over twice a whole run: before, during and after the write.
            _ = try Self.killed("quietstar-convert", arguments, after: moments.next(below: 2 * duration + 1))
            let after = try Data(contentsOf: URL(fileURLWithPath: out))
            #expect(after == before || after == new, "a partial file under the final name (\(after.count) bytes)")
            #expect(try Self.verify(out))
            if after == old { sawOld = true }
            if after == new { sawNew = true }
            // Back to the old file for the next round, so every kill replaces an existing output.
            try old.write(to: URL(fileURLWithPath: out))
        }
        // Whatever a killed writer left is named as a temporary file, never as an output.
        let names = try FileManager.default.contentsOfDirectory(atPath: root.path)
        #expect(names.allSatisfy { ["model.qstar", "source.qstar", "reference.qstar"].contains($0) || $0.contains(".tmp-") }, "\(names)")
        #expect(sawOld && sawNew, "kills landed only before (or only after) the rename: \(sawOld) \(sawNew)")
    }

    /// The trainer SIGKILLed at 12 seeded moments, each time resumed from what it left: after every
    /// kill each checkpoint under its final name passes --verify and nothing else but temporary
    /// files is left; the run still ends with the uninterrupted run's bytes.
    @Test func aKilledTrainerLeavesOnlyCompleteCheckpoints() throws {
        let root = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let steps = 30
        let straight = root.appendingPathComponent("straight")
        let started = Date()
        let r = try CLI.run("quietstar-train", TrainCLITests.pretrainArguments(straight, steps: steps))
        try #require(r.status == 0, "\(r.stderrText)")
        let duration = UInt64(Date().timeIntervalSince(started) * 1e6)
        let want = try Data(contentsOf: TrainCLITests.checkpoint(straight, steps))

        let dir = root.appendingPathComponent("killed")
        var moments = Moments(state: 41)
        var kills = 0, finished = false
        for _ in 0..<12 where !finished {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
            let resume = names.contains { $0.hasPrefix("checkpoint-") && $0.hasSuffix(".qstar") }
            if !resume { try? FileManager.default.removeItem(at: dir) }
            let arguments = resume ? ["pretrain", "--resume", dir.path, "--threads", "1"]
                                   : TrainCLITests.pretrainArguments(dir, steps: steps)
            // A resumed run has less left to do: kill within the first quarter of a whole run's time.
            finished = try Self.killed("quietstar-train", arguments, after: moments.next(below: duration / 4 + 1))
            kills += finished ? 0 : 1
            let left = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
            for name in left where name.hasSuffix(".qstar") && !name.contains(".tmp-") {
                #expect(try Self.verify(dir.appendingPathComponent(name).path), "\(name) after kill \(kills)")
            }
            let known = left.allSatisfy { $0.contains(".tmp-") || $0.hasSuffix(".qstar") || $0 == "metrics.jsonl" || $0.hasSuffix(".json") }
            #expect(known, "\(left)")
        }
        #expect(kills >= 4, "most kills should land while the trainer runs (\(kills) in a \(duration) us run)")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        if !names.contains(where: { $0.hasPrefix("checkpoint-") }) { try? FileManager.default.removeItem(at: dir) }
        let last = names.contains(where: { $0.hasPrefix("checkpoint-") })
            ? try CLI.run("quietstar-train", ["pretrain", "--resume", dir.path, "--threads", "1"])
            : try CLI.run("quietstar-train", TrainCLITests.pretrainArguments(dir, steps: steps))
        #expect(last.status == 0, "\(last.stderrText)")
        #expect(try Data(contentsOf: TrainCLITests.checkpoint(dir, steps)) == want)
    }
}
