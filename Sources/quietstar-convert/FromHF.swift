import ArgumentParser
import Foundation
import QuietStarCheckpoint
import QuietStarCLI
import QuietStarFormat
import QuietStarInterop
import QuietStarJSON

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
