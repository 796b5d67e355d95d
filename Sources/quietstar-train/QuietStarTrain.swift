import ArgumentParser
import Foundation
import QuietStarCLI

/// `quietstar-train`: trains models and writes `.qstar` checkpoints. A thin adapter over
/// QuietStarTraining: flags become `TrainingOptions`, the library runs the loop.
@main
struct QuietStarTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quietstar-train",
        abstract: "Train LLaMA-family models on the CPU and write .qstar checkpoints.",
        discussion: """
        pretrain starts a new model from flags (or continues one); finetune starts from any \
        .qstar (ours, or converted from Hugging Face); quietstar teaches a model to think \
        (Quiet-STaR); export writes the weights-only model of \
        a training checkpoint. Every run writes into its --output directory: \
        checkpoint-<step>.qstar (weights, AdamW moments, step, generator state, data position \
        and the run's options) and metrics.jsonl. --resume DIR continues the newest checkpoint \
        of DIR exactly: the weights at the end are the same bytes as those of an \
        uninterrupted run. Same seed, data and flags give the same bytes on rerun (for a fixed \
        --threads).

        How text becomes training windows (--format text): each file is a stream of documents \
        separated by --delimiter (default a blank line, "\\n\\n"). A document is BOS + its tokens \
        + EOS. Documents are concatenated and cut into windows of exactly --context tokens; the \
        pieces of different documents inside a window are separate sequences (positions from 0, \
        attention only within the piece). The loss is the mean next-token cross-entropy over \
        every target inside a piece (the one target across a window cut is lost).

        JSONL (--format completions, the default for .jsonl files): one \
        {"prompt": ..., "completion": ...} per line; the sequence is BOS + prompt + completion \
        + EOS, one example per sequence, and the loss averages over the targets that predict \
        completion tokens and the EOS only, never the prompt.

        A step reads --accumulation x --batch-size sequences; the loss of the step is one mean \
        over all their counted targets. Files are read in order, epoch after epoch, streaming.

        Examples:
          quietstar-train pretrain --data corpus.txt --eval held-out.txt -o run \\
              --layers 4 --hidden 256 --heads 4 --ffn 688 --context 256 --steps 2000
          quietstar-train finetune --from model.qstar --data star.jsonl -o ft --lr 1e-4 --steps 200
          quietstar-train pretrain --resume run
          quietstar-train export run/checkpoint-00002000.qstar -o model.qstar

        Data goes nowhere but the output directory; progress (a redrawn line on a terminal, \
        plain log lines otherwise) and errors go to stderr.

        \(exitStatusHelp)
        """,
        subcommands: [Pretrain.self, Finetune.self, Quietstar.self, Star.self, DataCommand.self, Export.self])
}

/// The exit statuses this tool uses, for `--help`.
let exitStatusHelp = """
    Exit status:
      0   success
      64  usage error (unknown option, bad value)
      65  invalid input (checkpoint, data file, tokenizer)
      66  input missing or unreadable
      70  internal error (a bug: please report it)
      73  cannot create the output
    """
