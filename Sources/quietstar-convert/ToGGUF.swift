import ArgumentParser
import QuietStarInterop

struct ToGGUF: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "to-gguf",
        abstract: "Export a .qstar model as a GGUF file that llama.cpp loads.",
        discussion: """
        Models with q/k/v biases are written as qwen2, all others as llama (with the q/k row \
        order llama.cpp's rotary expects). The tokenizer is written as tokenizer.ggml.* metadata.

        Thought parameters and the mixing head have no llama.cpp form: they are stored under \
        quietstar.* metadata keys, which llama.cpp ignores (it runs the base model), and a note \
        on stderr says so. --dtype applies to matrices; vectors are F32. Without --dtype each \
        matrix keeps its dtype (q8_0 is written as Q8_0 byte for byte).

        Examples:
          quietstar-convert to-gguf model.qstar -o model.gguf
          quietstar-convert to-gguf model.qstar -o model-q8.gguf --dtype q8_0
        """)

    @Argument(help: "The .qstar model.")
    var input: String

    @Option(name: .shortAndLong, help: "The GGUF file to write (replaced atomically).")
    var output: String

    @Option(help: "Storage dtype for weight matrices: f32, f16, bf16, q8_0 (default: each tensor's own).")
    var dtype: DTypeArgument?

    @OptionGroup var common: CommonOptions

    func run() throws {
        let options = ConversionOptions(dtype: dtype?.dtype)
        try runConversion(common) { (progress) throws(InteropError) in
            try convertToGGUF(input: input, output: output, options: options, progress: progress)
        }
    }
}
