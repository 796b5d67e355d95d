import ArgumentParser
import Foundation
import QuietStarCheckpoint
import QuietStarCLI
import QuietStarFormat
import QuietStarKernels
import QuietStarTokenizer
import QuietStarTraining

struct Pretrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a new model from flags, or continue pretraining a checkpoint (--from).",
        discussion: """
        A new model is a LLaMA-family decoder with tied embeddings (--untied for a separate \
        LM head), RMSNorm, rotary positions and a SwiGLU FFN, initialised as GPT-2 is \
        (N(0, 0.02); the attention output and FFN down projections scaled by 1/sqrt(2 x layers); \
        norm gains 1). Its tokenizer is the byte tokenizer (256 bytes, BOS, EOS and the two \
        thought markers) or the one of a .qstar or a tokenizer.json (--tokenizer).
        """)

    @Option(name: .long, help: "Transformer blocks.") var layers = 4
    @Option(name: .long, help: "Hidden size.") var hidden = 256
    @Option(name: .long, help: "Attention heads.") var heads = 4
    @Option(name: .long, help: "Key/value heads (GQA when fewer than --heads; default: --heads).") var kvHeads: Int?
    @Option(name: .long, help: "Size of one head (default: --hidden / --heads).") var headDim: Int?
    @Option(name: .long, help: "FFN intermediate size (default: 8/3 x --hidden, rounded up to a multiple of 32).") var ffn: Int?
    @Option(name: .long, help: "Context length: the window of text training and the model's limit.") var context = 256
    @Option(name: .long, help: "Rotary base.") var ropeTheta = 10_000.0
    @Option(name: .long, help: "RMSNorm epsilon.") var normEps = 1e-5
    @Flag(name: .long, help: "A separate LM head instead of tying it to the embeddings.") var untied = false
    @Option(name: .long, help: ArgumentHelp("byte, or a .qstar or tokenizer.json whose tokenizer to use.", valueName: "byte|path"))
    var tokenizer = "byte"
    @Option(name: .long, help: "Vocabulary size (default: the tokenizer's; may be larger, e.g. a multiple of 64).") var vocab: Int?
    @Option(name: .long, help: "general.name of the model.") var name: String?
    @Option(name: .long, help: ArgumentHelp("Continue pretraining this checkpoint instead of starting a new model.", valueName: "path"))
    var from: String?

    @OptionGroup var dataFlags: DataFlags
    @OptionGroup var optimisation: OptimisationFlags
    @OptionGroup var runFlags: RunFlags

    func run() throws {
        try runTraining(runFlags, build: { () throws -> (Trainer, TrainingRun) in
            let (o, directory) = try trainingOptions(dataFlags, optimisation, runFlags)
            if let from { return (try startFrom(from, options: o), directory) }
            let tok = try loadTokenizer(tokenizer)
            let kv = kvHeads ?? heads
            guard heads >= 1, kv >= 1, heads % kv == 0 else { throw ValidationError("--heads must be a multiple of --kv-heads") }
            let hd = headDim ?? hidden / heads
            guard hd >= 2, hd % 2 == 0, headDim != nil || hidden % heads == 0 else {
                throw ValidationError("--hidden / --heads must be an even head size (or give --head-dim)")
            }
            let intermediate = ffn ?? ((hidden * 8 / 3 + 31) / 32 * 32)
            let vocabSize = vocab ?? tok.vocabularySize
            guard vocabSize >= tok.vocabularySize else {
                throw ValidationError("--vocab \(vocabSize) is smaller than the tokenizer's \(tok.vocabularySize) tokens")
            }
            guard layers >= 1, hidden >= 2, intermediate >= 1, context >= 2 else {
                throw ValidationError("--layers, --hidden, --ffn must be positive and --context at least 2")
            }
            let config = ModelConfig(vocabSize: vocabSize, hiddenSize: hidden, layerCount: layers, headCount: heads,
                                     kvHeadCount: kv, headDim: hd, intermediateSize: intermediate, contextLength: context,
                                     rmsNormEps: normEps, ropeTheta: ropeTheta, tieEmbeddings: !untied,
                                     bosTokenId: tok.bosTokenId, eosTokenIds: tok.eosTokenIds, name: name)
            let parameters = Parameters(config: config)
            parameters.initialise(seed: o.seed)
            let metadata = Metadata(config.metadataEntries + tok.spec.metadata.entries)
            return (try Trainer(options: o, parameters: parameters, tokenizer: tok, metadata: metadata), directory)
        })
    }
}

struct Finetune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fine-tune any .qstar model (ours, or converted from Hugging Face).",
        discussion: """
        Weights are trained in f32 whatever the checkpoint stores (f16, bf16 and q8_0 are \
        decoded). The model's metadata (tokenizer, provenance, Hugging Face side files) is \
        carried into every checkpoint. Thought parameters of a Quiet-STaR checkpoint are not \
        trained here and are left out (quietstar-train quietstar trains them).
        """)

    @Option(name: .long, help: ArgumentHelp("The model to start from.", valueName: "path"))
    var from: String?

    @OptionGroup var dataFlags: DataFlags
    @OptionGroup var optimisation: OptimisationFlags
    @OptionGroup var runFlags: RunFlags

    func run() throws {
        try runTraining(runFlags, build: { () throws -> (Trainer, TrainingRun) in
            guard let from else { throw ValidationError("give --from MODEL (or --resume DIR)") }
            let (o, directory) = try trainingOptions(dataFlags, optimisation, runFlags)
            return (try startFrom(from, options: o), directory)
        })
    }
}

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the weights-only model of a training checkpoint.",
        discussion: """
        Leaves out the optimiser moments and the train.* keys; everything else (tensors in \
        their dtype, tokenizer, config, provenance) is copied. The result runs in quietstar-run \
        and converts with quietstar-convert to-hf as it is.
        """)

    @Argument(help: "The training checkpoint.") var checkpoint: String
    @Option(name: [.short, .long], help: "The model to write.") var output: String

    func run() throws {
        do {
            let file = try QStarFile.open(path: checkpoint)
            let writer = try QStarWriter(path: output)
            for info in file.tensors where !info.name.hasPrefix(TrainingState.optimizerTensorPrefix) {
                guard let dtype = info.dtype else { continue }
                let view = try file.tensor(info)
                try view.withUnsafeBytes { bytes throws(QStarError) in
                    try writer.addTensor(name: info.name, dtype: dtype, shape: info.shape.map(Int.init), bytes: bytes)
                }
            }
            try writer.finish(metadata: TrainingCheckpoint.modelMetadata(file))
        } catch let e as QStarError {
            StandardError.report("quietstar-train", "\(e)")
            throw ExitCode(e.kind == .io ? ExitStatus.ioError.rawValue : ExitStatus.invalidInput.rawValue)
        }
    }
}
