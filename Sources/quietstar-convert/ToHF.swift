import ArgumentParser
import Foundation
import QuietStarCheckpoint
import QuietStarCLI
import QuietStarFormat
import QuietStarInterop
import QuietStarJSON

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
