import ArgumentParser
import Foundation
import QuietStarCLI
import QuietStarKernels
import QuietStarModel

enum InputFormat: String, ExpressibleByArgument, CaseIterable {
    case text, jsonl
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text, jsonl
}

extension CacheEncoding: ExpressibleByArgument {}

/// `--shard K/N`: this process takes lines K, K+N, K+2N, ... (0-based).
struct Shard: ExpressibleByArgument {
    var index: Int
    var count: Int

    init?(argument: String) {
        let parts = argument.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let k = Int(parts[0]), let n = Int(parts[1]), n >= 1, k >= 0, k < n else { return nil }
        index = k
        count = n
    }

    static var defaultValueDescription: String { "0/1" }
}

/// Options shared by `generate` and `score`.
struct CommonOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The model checkpoint (.qstar).", valueName: "M.qstar"))
    var model: String?

    @Argument(help: ArgumentHelp("Input files, one item per line; '-' or none reads stdin.", valueName: "FILE"))
    var files: [String] = []

    @Option(name: .long, help: "How input lines are read: text (each line is the text) or jsonl (one JSON object per line).")
    var inputFormat: InputFormat = .text

    @Option(name: .long, help: "Output: text (one line per input line) or jsonl (one JSON object per input line).")
    var format: OutputFormat = .text

    @Option(name: .long, help: "Lines processed together (KV-cache slots). Larger is faster, up to memory.")
    var batchSize: Int = 32

    @Option(name: .long, help: ArgumentHelp("How the KV cache stores keys and values: f32 (exact) or f16 (half the memory and the bytes read per cached token; faster decode of many lines over long contexts, each key and value rounded to f16).", valueName: "f32|f16"))
    var kvCache: CacheEncoding = .f32

    @Option(name: .long, help: "Most tokens per transformer step (prefill chunk size).")
    var stepTokens: Int = 512

    @Option(name: .long, help: "Worker threads for the kernels and OpenBLAS (default: all cores).")
    var threads: Int?

    @Option(name: .long, help: ArgumentHelp("Process only lines K, K+N, K+2N, ... (0-based), for splitting one input over N processes.", valueName: "K/N"))
    var shard: Shard?

    @Option(name: [.short, .long], help: ArgumentHelp("Write the records to FILE instead of stdout, each one whole as it is done.", valueName: "FILE"))
    var output: String?

    @Flag(name: .long, help: "With --output: keep the complete records FILE already holds (a torn last line is dropped), skip their input lines, and append the rest. The file ends as an uninterrupted run's would.")
    var resume = false

    func validate() throws {
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
        guard stepTokens >= batchSize else { throw ValidationError("--step-tokens must be at least --batch-size") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        if resume && output == nil { throw ValidationError("--resume needs --output FILE (the records to continue)") }
    }
}

enum ModelLocator {
    /// Where a bundled default model would be installed, relative to the executable.
    static var bundledCandidates: [String] {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        return [exe.appendingPathComponent("../share/quietstar/default.qstar").standardizedFileURL.path,
                exe.appendingPathComponent("default.qstar").path]
    }

    /// `--model`, else `$QUIETSTAR_MODEL`, else the bundled default model; nil when none exists.
    static func resolve(_ explicit: String?) -> String? {
        if let explicit { return explicit }
        if let env = ProcessInfo.processInfo.environment["QUIETSTAR_MODEL"], !env.isEmpty { return env }
        return bundledCandidates.first { FileManager.default.fileExists(atPath: $0) }
    }

    /// Loads the model or exits with the documented status (66 missing, 65 invalid).
    static func load(_ explicit: String?) throws -> LanguageModel {
        guard let path = resolve(explicit) else {
            StandardError.report("quietstar-run", """
                no model: pass --model M.qstar (or set QUIETSTAR_MODEL). No bundled default model is \
                installed (looked for \(bundledCandidates.joined(separator: ", ")); tools/demo installs one). \
                `quietstar-convert from-hf DIR -o M.qstar` makes a model from a Hugging Face folder.
                """)
            throw ExitCode(ExitStatus.missingInput.rawValue)
        }
        guard FileManager.default.fileExists(atPath: path) else {
            StandardError.report("quietstar-run", "\(path): no such model file")
            throw ExitCode(ExitStatus.missingInput.rawValue)
        }
        do {
            return try LanguageModel(path: path)
        } catch {
            StandardError.report("quietstar-run", error.description)
            throw ExitCode(error.kind == .missingFile ? ExitStatus.missingInput.rawValue : ExitStatus.invalidInput.rawValue)
        }
    }
}
