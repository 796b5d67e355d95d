import Foundation
import QuietStarFormat
import Testing

/// `quietstar-train` end to end: exact resumption after SIGKILL, export, the error statuses.
@Suite struct TrainCLITests {
    /// A tiny model on the arithmetic corpus; a few milliseconds a step.
    static func pretrainArguments(_ dir: URL, steps: Int) -> [String] {
        ["pretrain", "--data", CLI.fixture("corpus/arithmetic-eval.txt").path, "--delimiter", "\\n",
         "--layers", "2", "--hidden", "32", "--heads", "2", "--ffn", "64", "--context", "48", "--batch-size", "2",
         "--steps", "\(steps)", "--warmup", "2", "--lr", "3e-3", "--checkpoint-every", "1", "--keep", "3",
         "--threads", "1", "--seed", "5", "-o", dir.path]
    }

    static func checkpoint(_ dir: URL, _ step: Int) -> URL {
        dir.appendingPathComponent(String(format: "checkpoint-%08d.qstar", step))
    }

    @Test func resumingAfterSIGKILLEndsWithTheSameBytes() throws {
        let root = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let steps = 40
        let straight = root.appendingPathComponent("straight")
        let r = try CLI.run("quietstar-train", Self.pretrainArguments(straight, steps: steps))
        #expect(r.status == 0, "\(r.stderrText)")
        let want = try Data(contentsOf: Self.checkpoint(straight, steps))

        // The same run, killed at a random moment after its third checkpoint, then resumed.
        let killed = root.appendingPathComponent("killed")
        let process = Process()
        process.executableURL = CLI.productsDirectory.appendingPathComponent("quietstar-train")
        process.arguments = Self.pretrainArguments(killed, steps: steps)
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        while !FileManager.default.fileExists(atPath: Self.checkpoint(killed, 3).path) && Date() < deadline && process.isRunning {
            usleep(2_000)
        }
        usleep(UInt32.random(in: 0..<20_000))
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        let left = (try? FileManager.default.contentsOfDirectory(atPath: killed.path)) ?? []
        #expect(!FileManager.default.fileExists(atPath: Self.checkpoint(killed, steps).path), "killed before the end (\(left))")

        let resumed = try CLI.run("quietstar-train", ["pretrain", "--resume", killed.path, "--threads", "1"])
        #expect(resumed.status == 0, "\(resumed.stderrText)")
        #expect(resumed.stderrText.contains("resuming"))
        let got = try Data(contentsOf: Self.checkpoint(killed, steps))
        let after = try FileManager.default.contentsOfDirectory(atPath: killed.path)
        #expect(after.allSatisfy { !$0.contains(".tmp-") }, "a killed write's temporary file is cleaned up on resume: \(after)")
        #expect(after.filter { $0.hasPrefix("checkpoint-") }.count == 3, "--keep 3")
        #expect(got == want, "the resumed run's final checkpoint differs from the uninterrupted run's")

        // Metrics: one line per step, the interrupted steps not repeated.
        let lines = try String(contentsOf: killed.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
            .split(separator: "\n").filter { !$0.contains("eval_loss") }
        #expect(lines.count == steps)

        // The weights-only export runs in quietstar-run.
        let model = root.appendingPathComponent("model.qstar")
        let e = try CLI.run("quietstar-train", ["export", Self.checkpoint(killed, steps).path, "-o", model.path])
        #expect(e.status == 0, "\(e.stderrText)")
        let file = try QStarFile.open(path: model.path)
        #expect(!file.tensors.contains { $0.name.hasPrefix("optimizer.") })
        #expect(!file.metadata.keys.contains { $0.hasPrefix("train.") })
        let s = try CLI.run("quietstar-run", ["score", "--model", model.path, "--format", "jsonl"], stdin: Data("12 + 30 = 42\n".utf8))
        #expect(s.status == 0, "\(s.stderrText)")
        #expect(s.stdoutText.contains("logprob"))
    }

    /// Training's numbers do not depend on the machine's kernel path or the thread count: every
    /// product (forward tiles, backward Gemm) computes each element in one fixed order, so the
    /// AVX2 path on one thread and the AVX-512 path on two write the same checkpoint bytes.
    @Test func trainingWritesTheSameBytesOnEveryKernelPathAndThreadCount() throws {
        let root = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        var outputs: [String: Data] = [:]
        for (isa, threads) in [("avx2", "1"), ("avx512", "2"), ("auto", "2")] {
            let dir = root.appendingPathComponent("\(isa)-\(threads)")
            var arguments = Self.pretrainArguments(dir, steps: 4)
            arguments[arguments.firstIndex(of: "--threads")! + 1] = threads
            arguments[arguments.firstIndex(of: "--hidden")! + 1] = "80"
            arguments[arguments.firstIndex(of: "--ffn")! + 1] = "200"
            var environment = ProcessInfo.processInfo.environment
            environment["QUIETSTAR_ISA"] = isa
            let r = try CLI.run("quietstar-train", arguments, environment: environment)
            #expect(r.status == 0, "\(isa): \(r.stderrText)")
            outputs["\(isa)-\(threads)"] = try Data(contentsOf: Self.checkpoint(dir, 4))
        }
        #expect(Set(outputs.values).count == 1, "the checkpoint depends on the kernel path or thread count")
    }

    @Test func errorsHaveTheirStatuses() throws {
        let root = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let missing = try CLI.run("quietstar-train", ["pretrain", "--data", root.appendingPathComponent("nope.txt").path,
                                                      "-o", root.appendingPathComponent("r").path, "--steps", "1"])
        #expect(missing.status == 66, "\(missing.stderrText)")
        #expect(missing.stderrText.contains("nope.txt"))

        let bad = root.appendingPathComponent("bad.jsonl")
        try Data("{\"prompt\": \"a\"}\n".utf8).write(to: bad)
        let invalid = try CLI.run("quietstar-train", ["pretrain", "--data", bad.path, "-o", root.appendingPathComponent("r2").path,
                                                      "--steps", "1", "--layers", "1", "--hidden", "16", "--heads", "2"])
        #expect(invalid.status == 65, "\(invalid.stderrText)")
        #expect(invalid.stderrText.contains("bad.jsonl") && invalid.stderrText.contains("byte 0"))

        // Data of blank lines only: refused, not trained on forever.
        let blank = root.appendingPathComponent("blank.jsonl")
        try Data("\n  \n\t\r\n".utf8).write(to: blank)
        let nothing = try CLI.run("quietstar-train", ["pretrain", "--data", blank.path, "-o", root.appendingPathComponent("r3").path,
                                                      "--steps", "1", "--layers", "1", "--hidden", "16", "--heads", "2"])
        #expect(nothing.status == 65, "\(nothing.stderrText)")
        #expect(nothing.stderrText.contains("hold no records"))

        let usage = try CLI.run("quietstar-train", ["pretrain", "--data", bad.path, "--steps", "1"])
        #expect(usage.status == 64, "\(usage.stderrText)")
        let noResume = try CLI.run("quietstar-train", ["pretrain", "--resume", root.appendingPathComponent("empty").path])
        #expect(noResume.status == 66, "\(noResume.stderrText)")
    }
}

/// `quietstar-train quietstar` end to end: a tiny pretrained model learns to think for a few
/// steps; SIGKILL and `--resume` end with the same bytes; the checkpoint thinks in
/// `quietstar-run --thoughts` and exports in the published Quiet-STaR layout.
@Suite struct QuietStarTrainCLITests {
    @Test func quietStarRunResumesExactlyAndItsModelThinks() throws {
        let root = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let base = root.appendingPathComponent("base.qstar")
        let pre = try CLI.run("quietstar-train", TrainCLITests.pretrainArguments(root.appendingPathComponent("pre"), steps: 3)
                                + ["--export", base.path])
        #expect(pre.status == 0, "\(pre.stderrText)")

        func arguments(_ dir: URL) -> [String] {
            ["quietstar", "--from", base.path, "--data", CLI.fixture("corpus/arithmetic-eval.txt").path, "--delimiter", "\\n",
             "--thought-tokens", "2", "--lookahead", "2", "--batch-size", "1", "--steps", "12", "--lr", "1e-3",
             "--checkpoint-every", "1", "--keep", "2", "--threads", "1", "--seed", "9", "-o", dir.path]
        }
        let straight = root.appendingPathComponent("straight")
        let r = try CLI.run("quietstar-train", arguments(straight))
        #expect(r.status == 0, "\(r.stderrText)")
        let final = TrainCLITests.checkpoint(straight, 12)
        let want = try Data(contentsOf: final)

        let killed = root.appendingPathComponent("killed")
        let process = Process()
        process.executableURL = CLI.productsDirectory.appendingPathComponent("quietstar-train")
        process.arguments = arguments(killed)
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        while !FileManager.default.fileExists(atPath: TrainCLITests.checkpoint(killed, 2).path) && Date() < deadline && process.isRunning {
            usleep(2_000)
        }
        usleep(UInt32.random(in: 0..<20_000))
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(!FileManager.default.fileExists(atPath: TrainCLITests.checkpoint(killed, 12).path))
        let resumed = try CLI.run("quietstar-train", ["quietstar", "--resume", killed.path, "--threads", "1"])
        #expect(resumed.status == 0, "\(resumed.stderrText)")
        #expect(try Data(contentsOf: TrainCLITests.checkpoint(killed, 12)) == want, "resumed Quiet-STaR run differs")

        // Metrics carry the Quiet-STaR terms.
        let metrics = try String(contentsOf: straight.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        #expect(metrics.contains("\"mixed_nll\"") && metrics.contains("\"mean_w\"") && metrics.contains("\"positive_reward_fraction\""))

        // The training checkpoint thinks as it is, and exports in the published layout.
        let s = try CLI.run("quietstar-run", ["score", "--model", final.path, "--thoughts", "--format", "jsonl"],
                            stdin: Data("12 + 30 = 42\n".utf8))
        #expect(s.status == 0, "\(s.stderrText)")
        #expect(s.stdoutText.contains("base_logprob"))
        let hf = root.appendingPathComponent("hf")
        let e = try CLI.run("quietstar-convert", ["to-hf", final.path, "-o", hf.path])
        #expect(e.status == 0, "\(e.stderrText)")
        let config = try String(contentsOf: hf.appendingPathComponent("config.json"), encoding: .utf8)
        #expect(config.contains("\"use_weighted_talk_head\""), "the published Quiet-STaR config fields")
        #expect(FileManager.default.fileExists(atPath: hf.appendingPathComponent("model.safetensors").path))
    }
}
