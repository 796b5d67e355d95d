import ArgumentParser
import QuietStarInterop

struct FromGGUF: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "from-gguf",
        abstract: "Convert a GGUF file (llama.cpp) to a .qstar file.",
        discussion: """
        Architectures llama (Llama, and Mistral-style models stored as llama) and qwen2; \
        tensor types F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K; the \
        tokenizer from the file's metadata (gpt2 byte-level BPE or llama SentencePiece). The \
        q/k rows llama.cpp interleaves for its rotary layout are put back in Hugging Face order. \
        Tensors are decoded one at a time, so the memory used stays near one tensor.

        Without --dtype each matrix is stored in the nearest lossless-or-better dtype of ours: \
        f32, f16 and bf16 as they are, Q8_0 as q8_0 (exactly), and the 4-, 5- and 6-bit types \
        as q8_0. Vectors (norms, biases) are stored as f32.

        Examples:
          quietstar-convert from-gguf SmolLM2-135M-Instruct.Q4_1.gguf -o smollm2.qstar
          quietstar-convert from-gguf model.gguf -o model-f32.qstar --dtype f32 --json
        """)

    @Argument(help: "The GGUF file.")
    var path: String

    @Option(name: .shortAndLong, help: "The .qstar file to write (replaced atomically).")
    var output: String

    @Option(help: "Storage dtype for weight matrices: f32, f16, bf16, q8_0 (default: the nearest to each tensor's GGUF type).")
    var dtype: DTypeArgument?

    @Option(help: "Tensor compression: zstd or none.")
    var compress: CompressionArgument = .none

    @Flag(help: "Convert even if the file has architecture keys this version does not know (they are listed as warnings).")
    var ignoreUnknownConfig = false

    @OptionGroup var common: CommonOptions

    func run() throws {
        let options = ConversionOptions(dtype: dtype?.dtype, compression: compress.encoding,
                                        ignoreUnknownConfigKeys: ignoreUnknownConfig)
        try runConversion(common) { (progress) throws(InteropError) in
            try convertFromGGUF(path: path, output: output, options: options, progress: progress)
        }
    }
}
