import ArgumentParser
import Foundation
import QuietStarCheckpoint
import QuietStarCLI
import QuietStarFormat
import QuietStarInterop
import QuietStarJSON

/// `quietstar-convert`: Hugging Face checkpoints in and out of `.qstar`, and dtype/compression
/// changes. A thin adapter: every command is one call into QuietStarInterop.
@main
struct QuietStarConvert: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quietstar-convert",
        abstract: "Convert Hugging Face checkpoints to and from .qstar, change dtypes, compress.",
        discussion: """
        Supported: decoder-only LLaMA-family models (LlamaForCausalLM, MistralForCausalLM, \
        Qwen2ForCausalLM) in safetensors (single file or sharded) with their tokenizer.json, \
        and the published Quiet-STaR layout (start_embedding, end_embedding, talk_head), \
        which is detected and mapped onto thought embeddings and the mixing head.

        Examples:
          quietstar-convert from-hf ./Mistral-7B-v0.1 -o mistral.qstar --dtype bf16
          quietstar-convert from-hf ./quietstar-8-ahead -o qs.qstar --dtype q8_0
          quietstar-convert to-hf trained.qstar -o ./trained-hf
          quietstar-convert recode model.qstar -o model-q8.qstar --dtype q8_0

        Nothing is written to stdout except the --json summary; progress (on a terminal), \
        notes and errors go to stderr. A failed conversion leaves no output behind.

        \(exitStatusHelp)
        """,
        subcommands: [FromHF.self, ToHF.self, Recode.self])
}

/// The exit statuses this tool uses, for `--help`.
let exitStatusHelp = "Exit status:\n" + [ExitStatus.success, .usage, .invalidInput, .missingInput, .internalError,
                                         .cannotCreateOutput, .ioError].map { status in
    let text: String
    switch status {
    case .success: text = "success"
    case .usage: text = "usage error (unknown option, bad value)"
    case .invalidInput: text = "invalid or unsupported input (config, safetensors, shapes)"
    case .missingInput: text = "input missing or unreadable"
    case .internalError: text = "internal error (a bug: please report it)"
    case .cannotCreateOutput: text = "cannot create the output (permissions, disk full, non-empty folder)"
    default: text = "I/O error while reading or writing"
    }
    return "  \(status.rawValue)\(status.rawValue < 10 ? "   " : "  ")\(text)"
}.joined(separator: "\n")

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

struct FromHF: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "from-hf",
        abstract: "Convert a Hugging Face model folder to a .qstar file.",
        discussion: """
        DIR holds config.json, model.safetensors (or model-0000x-of-0000N.safetensors with \
        model.safetensors.index.json) and tokenizer.json; tokenizer_config.json and \
        generation_config.json are read when present. Shards are read one tensor at a time, \
        so models larger than memory convert.

        --dtype applies to weight matrices; vectors (norms, biases, thought embeddings) are \
        stored as f32, and q8_0 falls back to f32 for a matrix whose rows are not a multiple \
        of 32. Without --dtype every tensor keeps its source dtype (lossless; F64 becomes f32).

        Examples:
          quietstar-convert from-hf ./llama -o llama.qstar
          quietstar-convert from-hf ./llama -o llama-q8.qstar --dtype q8_0 --compress zstd --json
        """)

    @Argument(help: "The Hugging Face model folder.")
    var directory: String

    @Option(name: .shortAndLong, help: "The .qstar file to write (replaced atomically).")
    var output: String

    @Option(help: "Storage dtype for weight matrices: f32, f16, bf16, q8_0 (default: keep the source dtype).")
    var dtype: DTypeArgument?

    @Option(help: "Tensor compression: zstd or none.")
    var compress: CompressionArgument = .none

    @Option(help: "Content tokens per thought recorded for a Quiet-STaR checkpoint (quietstar.thought_tokens).")
    var thoughtTokens: UInt64 = QuietStarLayout.defaultThoughtTokens

    @Flag(help: "Convert even if config.json has keys this version does not know (they are listed as warnings).")
    var ignoreUnknownConfig = false

    @OptionGroup var common: CommonOptions

    func validate() throws {
        guard thoughtTokens <= UInt64(QuietStarSettings.maxThoughtTokens) else {
            throw ValidationError("--thought-tokens must be at most \(QuietStarSettings.maxThoughtTokens) (what a checkpoint may record)")
        }
    }

    func run() throws {
        let options = ConversionOptions(dtype: dtype?.dtype, compression: compress.encoding,
                                        ignoreUnknownConfigKeys: ignoreUnknownConfig, thoughtTokens: thoughtTokens)
        try runConversion(common) { (progress) throws(InteropError) in
            try convertFromHF(directory: directory, output: output, options: options, progress: progress)
        }
    }
}

struct ToHF: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "to-hf",
        abstract: "Export a .qstar file as a Hugging Face model folder.",
        discussion: """
        Writes config.json, model.safetensors (sharded with an index above --max-shard-size), \
        tokenizer.json and tokenizer_config.json (the original files when the model was \
        imported) and generation_config.json when one was imported. The folder loads with \
        AutoModelForCausalLM.from_pretrained. A model with thought parameters is written in the \
        published Quiet-STaR layout: start_embedding and end_embedding [2, hidden] with row 0 = \
        the stored vector / 100 and row 1 = the reference initialisation, and talk_head.0.*. \
        Optimizer state is not exported. The output folder must not exist or be empty.

        Example:
          quietstar-convert to-hf trained.qstar -o ./trained-hf --dtype bf16
        """)

    @Argument(help: "The .qstar file to export.")
    var input: String

    @Option(name: .shortAndLong, help: "The folder to create.")
    var output: String

    @Option(help: "dtype of every tensor: f32, f16, bf16 (default: each tensor's own; q8_0 is dequantised to f32).")
    var dtype: DTypeArgument?

    @Option(help: "Largest shard, e.g. 5GB, 500MB, 100000 (bytes).")
    var maxShardSize: String = "5GB"

    @OptionGroup var common: CommonOptions

    func validate() throws {
        if dtype == .q8_0 { throw ValidationError("--dtype q8_0 cannot be stored in safetensors; use f32, f16 or bf16") }
        if Self.parseSize(maxShardSize) == nil { throw ValidationError("--max-shard-size: expected a size like 5GB, 500MB or 1000000") }
    }

    /// "5GB" -> 5_000_000_000 (decimal units, as Hugging Face's max_shard_size).
    static func parseSize(_ text: String) -> UInt64? {
        let units: [(String, UInt64)] = [("GB", 1_000_000_000), ("MB", 1_000_000), ("KB", 1_000), ("B", 1)]
        let upper = text.uppercased()
        for (suffix, scale) in units where upper.hasSuffix(suffix) {
            guard let n = UInt64(upper.dropLast(suffix.count)), n > 0 else { return nil }
            let (v, o) = n.multipliedReportingOverflow(by: scale)
            return o ? nil : v
        }
        return UInt64(upper).flatMap { $0 > 0 ? $0 : nil }
    }

    func run() throws {
        let options = ConversionOptions(dtype: dtype?.dtype, maxShardBytes: Self.parseSize(maxShardSize)!)
        try runConversion(common) { (progress) throws(InteropError) in
            try convertToHF(input: input, outputDirectory: output, options: options, progress: progress)
        }
    }
}

struct Recode: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recode",
        abstract: "Rewrite a .qstar file with another dtype and/or compression.",
        discussion: """
        Metadata (tokenizer, provenance, training state) is carried over unchanged. --dtype \
        applies to weight matrices as in from-hf; optimizer moments and integer tensors are \
        never changed. Tensors whose dtype does not change are copied bit for bit. OUTPUT may \
        be the input file itself: it is replaced only when the new file is complete.

        Error of recoding f32 weights x to d, bound (measured on the fixture models):
          f16   |x-d|/|x| <= 2^-11 = 4.88e-4, |x| >= 2^-14   (4.87e-4)
          bf16  |x-d|/|x| <= 2^-8 = 3.91e-3                  (3.89e-3)
          q8_0  |x-d|/absmax(block of 32) <= 1.001/254       (3.938e-3)

        Examples:
          quietstar-convert recode model.qstar -o model-bf16.qstar --dtype bf16
          quietstar-convert recode model.qstar -o model.qstar --compress zstd
        """)

    @Argument(help: "The .qstar file to read.")
    var input: String

    @Option(name: .shortAndLong, help: "The .qstar file to write (may be the input).")
    var output: String

    @Option(help: "Storage dtype for weight matrices: f32, f16, bf16, q8_0 (default: unchanged).")
    var dtype: DTypeArgument?

    @Option(help: "Tensor compression: zstd or none (default: unchanged).")
    var compress: CompressionArgument?

    @OptionGroup var common: CommonOptions

    func run() throws {
        let options = ConversionOptions(dtype: dtype?.dtype, compression: compress?.encoding)
        try runConversion(common) { (progress) throws(InteropError) in
            try recode(input: input, output: output, options: options, progress: progress)
        }
    }
}
