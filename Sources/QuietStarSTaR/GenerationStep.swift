import Foundation
import QuietStarFormat
import QuietStarJSON
import QuietStarTraining

/// The generation step of an iteration: a JSONL file of `{"id", "prompt"}` lines in, a JSONL file
/// of `quietstar-run generate --format jsonl` records out. It is an ordinary `quietstar-run
/// generate` run, so it can be split over processes or machines (`--shard K/N`) by a command of
/// the user's; the loop only reads the records back by id, in any order.
public struct GenerationStep: Sendable {
    public enum Runner: Sendable, Equatable {
        /// `quietstar-run` at this path, with `--threads` when given.
        case quietstarRun(executable: String, threads: Int?)
        /// `/bin/sh -c` this command, with `{model}`, `{input}`, `{output}` and `{args}` (the
        /// generation flags the loop would pass to `quietstar-run generate`, shell-quoted)
        /// replaced; the same values are in `QUIETSTAR_MODEL`, `QUIETSTAR_INPUT`,
        /// `QUIETSTAR_OUTPUT` and `QUIETSTAR_GENERATE_ARGS`. It must write every record to
        /// `{output}` and exit 0 (or 1: some lines failed, their error records count as wrong).
        case shell(String)
    }

    public var runner: Runner

    public init(runner: Runner) { self.runner = runner }

    /// The `quietstar-run generate` flags of a run: JSONL in and out, greedy, the run's limits.
    public static func arguments(_ o: STaROptions) -> [String] {
        var args = ["--input-format", "jsonl", "--format", "jsonl", "--max-tokens", "\(o.maxTokens)",
                    "--batch-size", "\(o.generationBatchSize)", "--step-tokens", "\(max(512, o.generationBatchSize))"]
        for s in o.stop { args += ["--stop", s] }
        return args
    }

    /// Runs the step over `prompts` with `model`, keeping `input` and the records at `output`.
    /// Returns each prompt's completion (nil for an error record), in the prompts' order.
    public func run(model: String, prompts: [String], input: String, output: String,
                    options: STaROptions) throws(TrainingError) -> [String?] {
        var bytes: [UInt8] = []
        for (i, p) in prompts.enumerated() {
            JSONWriter.appendRecord(.object([("id", .integer(i)), ("prompt", .string(p))]), to: &bytes)
        }
        try writeFile(input, bytes)
        let partial = output + ".partial"
        try? FileManager.default.removeItem(atPath: partial)
        let args = Self.arguments(options)
        let process = Process()
        var environment = ProcessInfo.processInfo.environment
        environment["QUIETSTAR_MODEL"] = model
        environment["QUIETSTAR_INPUT"] = input
        environment["QUIETSTAR_OUTPUT"] = partial
        environment["QUIETSTAR_GENERATE_ARGS"] = args.map(shellQuoted).joined(separator: " ")
        process.environment = environment
        switch runner {
        case .quietstarRun(let executable, let threads):
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = ["generate", "--model", model] + args + (threads.map { ["--threads", "\($0)"] } ?? []) + [input]
            guard FileManager.default.createFile(atPath: partial, contents: nil),
                  let handle = FileHandle(forWritingAtPath: partial) else {
                throw TrainingError("\(partial): cannot create the generation output", kind: .cannotCreateOutput)
            }
            process.standardOutput = handle
        case .shell(let command):
            let line = command.replacingOccurrences(of: "{model}", with: shellQuoted(model))
                .replacingOccurrences(of: "{input}", with: shellQuoted(input))
                .replacingOccurrences(of: "{output}", with: shellQuoted(partial))
                .replacingOccurrences(of: "{args}", with: args.map(shellQuoted).joined(separator: " "))
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", line]
        }
        do { try process.run() } catch {
            throw TrainingError("cannot start the generation step (\(runner)): \(error)", kind: .missingInput)
        }
        process.waitUntilExit()
        let status = process.terminationStatus
        guard process.terminationReason == .exit, status == 0 || status == 1 else {
            throw TrainingError("the generation step (\(runner)) failed with status \(status); its input is \(input)")
        }
        let records = try Self.readRecords(partial, count: prompts.count)
        // rename(2) replaces a previous output in one step (moveItem refuses to).
        guard rename(partial, output) == 0 else {
            throw TrainingError("\(output): cannot move the generation records into place: \(String(cString: strerror(errno)))",
                                kind: .cannotCreateOutput)
        }
        return records
    }

    /// The completion of each input id `0 ..< count` from generate's JSONL records.
    static func readRecords(_ path: String, count: Int) throws(TrainingError) -> [String?] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TrainingError("\(path): the generation step wrote no output")
        }
        var out = [String?](repeating: nil, count: count)
        var seen = [Bool](repeating: false, count: count)
        var lineNumber = 0
        for line in data.split(separator: 0x0A) {
            lineNumber += 1
            let value: JSONValue
            do { value = try JSONReader.parse(Array(line)) } catch {
                throw TrainingError("\(path): line \(lineNumber): not a JSON record: \(error)")
            }
            guard let id = value["id"]?.int64Value, id >= 0, id < count else {
                throw TrainingError("\(path): line \(lineNumber): no \"id\" between 0 and \(count - 1)")
            }
            guard !seen[Int(id)] else { throw TrainingError("\(path): line \(lineNumber): a second record for id \(id)") }
            seen[Int(id)] = true
            out[Int(id)] = value["completion"]?.stringValue
        }
        if let missing = seen.firstIndex(of: false) {
            throw TrainingError("\(path): no record for input \(missing) (of \(count)): the generation step did not finish")
        }
        return out
    }
}

func shellQuoted(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }

/// Writes `bytes` to `path` atomically (temporary file, fsync, rename).
func writeFile(_ path: String, _ bytes: [UInt8]) throws(TrainingError) {
    do {
        let file = try AtomicOutputFile(destination: path)
        try file.write(bytes)
        try file.commit()
    } catch { throw TrainingError("\(path): cannot write: \(error)", kind: .cannotCreateOutput) }
}
