import ArgumentParser
import Foundation
import QuietStarCLI
import QuietStarEngine
import QuietStarJSON
import QuietStarModel
import QuietStarTokenizer

/// Output lines to stdout or `--output FILE`, each record written whole by one `write` as it
/// arrives (so an interrupted run leaves complete records and at most one torn last line). A
/// closed pipe (`| head`) ends the process at once and quietly, by SIGPIPE, as `cat` or `grep`
/// end; any other failed write (full disk, I/O error) ends the run with exit status 74.
final class Output {
    private var buffer: [UInt8] = []
    private let fd: Int32
    struct WriteError: Error { var message: String }

    init(fd: Int32 = STDOUT_FILENO) { self.fd = fd }

    /// `path` for appending after its first `keep` bytes (the rest, a torn record, is cut off).
    static func file(_ path: String, keep: UInt64) throws(WriteError) -> Output {
        let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw WriteError(message: "\(path): cannot open the output: \(String(cString: strerror(errno)))") }
        guard ftruncate(fd, off_t(keep)) == 0, lseek(fd, off_t(keep), SEEK_SET) >= 0 else {
            close(fd)
            throw WriteError(message: "\(path): cannot prepare the output: \(String(cString: strerror(errno)))")
        }
        return Output(fd: fd)
    }

    /// Flushes a file output to the disk (a no-op for stdout).
    func finish() throws(WriteError) {
        guard fd != STDOUT_FILENO else { return }
        if fsync(fd) != 0 { throw WriteError(message: "syncing the output failed: \(String(cString: strerror(errno)))") }
        close(fd)
    }

    func line(_ text: String) throws(WriteError) {
        buffer.removeAll(keepingCapacity: true)
        buffer.append(contentsOf: text.utf8)
        buffer.append(0x0A)
        var offset = 0
        while offset < buffer.count {
            let n = buffer.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EPIPE {
                    // Nobody reads any more: stop now, the way every Unix filter does.
                    signal(SIGPIPE, SIG_DFL)
                    raise(SIGPIPE)
                }
                throw WriteError(message: "writing the output failed: \(String(cString: strerror(errno)))")
            }
            offset += n
        }
    }
}

/// What both subcommands do around the library: open inputs, load the model, stream lines
/// through, write records, report progress and failures, pick the exit status.
enum LineRun {
    static func run<Value>(common: CommonOptions, textKeys: [String],
                           process: (InputLines, (LineOutcome<LineTag, Value>) -> Void, (Int) -> Void) -> Void,
                           record: @escaping (LineOutcome<LineTag, Value>, Value) -> String) throws {
        signal(SIGPIPE, SIG_IGN)   // a closed stdout is seen as EPIPE by `Output`, which then ends the process quietly
        let missing = LineReader.unreadable(common.files)
        if !missing.isEmpty {
            for path in missing { StandardError.report("quietstar-run", "\(path): \(String(cString: strerror(errno)))") }
            throw ExitCode(ExitStatus.missingInput.rawValue)
        }
        if let threads = common.threads { Runtime.configureThreads(threads) }

        var output = Output()
        var done = 0
        if let path = common.output {
            do throws(Output.WriteError) {
                var keep: UInt64 = 0
                if common.resume {
                    (done, keep) = try ResumableOutput.completeRecords(path)
                    if done > 0 {
                        StandardError.report("quietstar-run", "\(path): \(done) records already there; resuming after them")
                    }
                }
                output = try Output.file(path, keep: keep)
            } catch {
                StandardError.report("quietstar-run", error.message)
                throw ExitCode(ExitStatus.cannotCreateOutput.rawValue)
            }
        }
        let input = InputLines(reader: LineReader(paths: common.files), format: common.inputFormat,
                               textKeys: textKeys, shard: common.shard, skip: done)
        let progress = ProgressLine()
        let started = DispatchTime.now().uptimeNanoseconds
        var lines = 0, failed = 0, tokens = 0   // tokens: rows through the model (prompt and generated)
        var writeError: Output.WriteError?

        process(input, { outcome in
            guard writeError == nil else { return }
            lines += 1
            let text: String
            switch outcome.result {
            case .success(let value):
                text = record(outcome, value)
            case .failure(let error):
                failed += 1
                if common.format == .jsonl {
                    text = JSONLines.record(outcome.head + [("error", .string(error.message))])
                } else {
                    StandardError.report("quietstar-run", "line \(outcome.line + 1): \(error.message)")
                    text = ""
                }
            }
            do throws(Output.WriteError) { try output.line(text) } catch { writeError = error }
        }, { rows in
            tokens += rows
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
            progress.update("\(lines) lines done, \(String(format: "%.1f", Double(tokens) / max(seconds, 1e-9))) tokens/s")
        })
        progress.finish()
        if writeError == nil {
            do throws(Output.WriteError) { try output.finish() } catch { writeError = error }
        }

        if let writeError {
            StandardError.report("quietstar-run", writeError.message)
            throw ExitCode(ExitStatus.ioError.rawValue)
        }
        if let readError = input.readError {
            StandardError.report("quietstar-run", readError.description)
            throw ExitCode(ExitStatus.ioError.rawValue)
        }
        if failed > 0 {
            StandardError.report("quietstar-run", "\(failed) of \(lines) lines failed (error records written in their place)")
            throw ExitCode(ExitStatus.someLinesFailed.rawValue)
        }
    }
}

/// What `--output FILE --resume` finds in FILE: records are lines, one per input line of this
/// shard in input order, so the complete lines are the input lines already answered.
enum ResumableOutput {
    /// The number of complete lines of `path` and the byte count they end at (a missing file has
    /// none). Read in chunks: the file is never held in memory.
    static func completeRecords(_ path: String) throws(Output.WriteError) -> (count: Int, bytes: UInt64) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return (0, 0) }
            throw Output.WriteError(message: "\(path): cannot read the output to resume: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        var count = 0, offset: UInt64 = 0, end: UInt64 = 0
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw Output.WriteError(message: "\(path): read failed: \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            for i in 0..<n where chunk[i] == 0x0A {
                count += 1
                end = offset + UInt64(i + 1)
            }
            offset += UInt64(n)
        }
        return (count, end)
    }
}
