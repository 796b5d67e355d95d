import ArgumentParser
import Foundation
import QuietStarCheckpoint
import QuietStarCLI
import QuietStarFormat
import QuietStarInterop
import QuietStarJSON

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
