import ArgumentParser
import Foundation
import QuietStarCLI
import QuietStarEngine
import QuietStarJSON
import QuietStarModel
import QuietStarTokenizer

/// Output lines to stdout, written as each result arrives. A closed pipe (`| head`) ends the
/// process at once and quietly, by SIGPIPE, as `cat` or `grep` end; any other failed write
/// (full disk, I/O error) ends the run with exit status 74.
final class Output {
    private var buffer: [UInt8] = []
    struct WriteError: Error { var message: String }

    func line(_ text: String) throws(WriteError) {
        buffer.removeAll(keepingCapacity: true)
        buffer.append(contentsOf: text.utf8)
        buffer.append(0x0A)
        var offset = 0
        while offset < buffer.count {
            let n = buffer.withUnsafeBytes { write(STDOUT_FILENO, $0.baseAddress! + offset, $0.count - offset) }
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

        let input = InputLines(reader: LineReader(paths: common.files), format: common.inputFormat,
                               textKeys: textKeys, shard: common.shard)
        let output = Output()
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
