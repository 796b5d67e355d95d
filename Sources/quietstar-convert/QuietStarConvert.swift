import ArgumentParser
import Foundation
import QuietStarCheckpoint
import QuietStarCLI
import QuietStarFormat
import QuietStarInterop
import QuietStarJSON

/// `quietstar-convert`: Hugging Face checkpoints and GGUF files in and out of `.qstar`, and
/// dtype/compression changes. A thin adapter: every command is one call into QuietStarInterop.
@main
struct QuietStarConvert: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quietstar-convert",
        abstract: "Convert Hugging Face checkpoints and GGUF files to and from .qstar, change dtypes, compress.",
        discussion: """
        Supported: decoder-only LLaMA-family models (LlamaForCausalLM, MistralForCausalLM, \
        Qwen2ForCausalLM) in safetensors (single file or sharded) with their tokenizer.json, \
        and the published Quiet-STaR layout (start_embedding, end_embedding, talk_head), \
        which is detected and mapped onto thought embeddings and the mixing head. GGUF files \
        (llama.cpp) of the llama and qwen2 architectures, F32 to Q4_K, in both directions.

        Examples:
          quietstar-convert from-hf ./Mistral-7B-v0.1 -o mistral.qstar --dtype bf16
          quietstar-convert from-hf ./quietstar-8-ahead -o qs.qstar --dtype q8_0
          quietstar-convert to-hf trained.qstar -o ./trained-hf
          quietstar-convert from-gguf SmolLM2-135M-Instruct.Q4_1.gguf -o smollm2.qstar
          quietstar-convert to-gguf trained.qstar -o trained.gguf --dtype q8_0
          quietstar-convert recode model.qstar -o model-q8.qstar --dtype q8_0

        Nothing is written to stdout except the --json summary; progress (on a terminal), \
        notes and errors go to stderr. A failed conversion leaves no output behind.

        \(exitStatusHelp)
        """,
        subcommands: [FromHF.self, FromGGUF.self, ToHF.self, ToGGUF.self, Recode.self])
}

/// The exit statuses this tool uses, for `--help`.
let exitStatusHelp = "Exit status:\n" + [ExitStatus.success, .usage, .invalidInput, .missingInput, .internalError,
                                         .cannotCreateOutput, .ioError].map { status in
    let text: String
    switch status {
    case .success: text = "success"
    case .usage: text = "usage error (unknown option, bad value)"
    case .invalidInput: text = "invalid or unsupported input (config, safetensors, GGUF, shapes)"
    case .missingInput: text = "input missing or unreadable"
    case .internalError: text = "internal error (a bug: please report it)"
    case .cannotCreateOutput: text = "cannot create the output (permissions, disk full, non-empty folder)"
    default: text = "I/O error while reading or writing"
    }
    return "  \(status.rawValue)\(status.rawValue < 10 ? "   " : "  ")\(text)"
}.joined(separator: "\n")
