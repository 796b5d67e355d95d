import ArgumentParser
import Foundation
import QuietStarCheckpoint
import QuietStarCLI
import QuietStarFormat
import QuietStarInterop
import QuietStarJSON

/// This process's peak resident set (the kernel's high-water mark), for the --json summary:
/// conversions stream, so it stays far below the model size.
func peakResidentBytes() -> UInt64 {
    var usage = rusage()
    guard getrusage(RUSAGE_SELF.rawValue, &usage) == 0 else { return 0 }
    return UInt64(max(0, usage.ru_maxrss)) * 1024  // kilobytes on Linux
}

/// `--dtype` values.
enum DTypeArgument: String, ExpressibleByArgument, CaseIterable {
    case f32, f16, bf16, q8_0
    var dtype: DType { DType(name: rawValue)! }
}

/// `--compress` values.
enum CompressionArgument: String, ExpressibleByArgument, CaseIterable {
    case zstd, none
    var encoding: TensorEncoding { self == .zstd ? .zstd : .raw }
}

/// Options every subcommand shares.
struct CommonOptions: ParsableArguments {
    @Flag(name: .long, help: "Print a JSON summary of the conversion on stdout.")
    var json = false

    @Flag(name: [.short, .long], help: "Print nothing on stderr except errors.")
    var quiet = false
}

extension InteropError.Kind {
    var exitStatus: ExitStatus {
        switch self {
        case .invalidInput, .unsupported: .invalidInput
        case .missingInput: .missingInput
        case .cannotCreateOutput: .cannotCreateOutput
        case .io: .ioError
        case .usage: .usage
        case .internal: .internalError
        }
    }
}

/// Runs one conversion: progress on a terminal, notes and a summary line on stderr, the JSON
/// summary on stdout, and an exit status from the error kind.
func runConversion(_ common: CommonOptions, _ body: (@escaping (ConversionProgress) -> Void) throws(InteropError) -> ConversionReport) throws {
    let line = ProgressLine(enabled: StandardError.isTerminal && !common.quiet)
    let report: ConversionReport
    do throws(InteropError) {
        report = try body { p in
            let mb = { (b: UInt64) in String(format: "%.1f MB", Double(b) / 1e6) }
            let rate = p.elapsed > 0 ? String(format: "%.1f MB/s", Double(p.bytesDone) / 1e6 / p.elapsed) : ""
            line.update("\(min(p.tensorIndex + 1, p.tensorCount))/\(p.tensorCount) tensors  \(mb(p.bytesDone)) / \(mb(p.bytesTotal))  \(rate)  \(DisplayEscaping.escape(p.tensorName))")
        }
    } catch {
        line.finish()
        StandardError.report("quietstar-convert", DisplayEscaping.escape(error.description))
        throw ExitCode(error.kind.exitStatus.rawValue)
    }
    line.finish()
    if !common.quiet {
        for warning in report.warnings { StandardError.report("quietstar-convert", "warning: " + DisplayEscaping.escape(warning)) }
        for note in report.notes { StandardError.report("quietstar-convert", "note: " + DisplayEscaping.escape(note)) }
        let dtypes = report.dtypeCounts.map { "\($0.count) \($0.dtype)" }.joined(separator: ", ")
        StandardError.report("quietstar-convert", String(
            format: "wrote %@: %d tensors (%@), %.1f MB in %.2f s",
            DisplayEscaping.escape(report.output), report.tensorCount, dtypes, Double(report.bytesWritten) / 1e6, report.seconds))
    }
    if common.json {
        var summary = report.json.objectEntries ?? []
        summary.append(("max_resident_bytes", .integer(peakResidentBytes())))
        FileHandle.standardOutput.write(Data(JSONWriter.document(.object(summary)).utf8))
    }
}
