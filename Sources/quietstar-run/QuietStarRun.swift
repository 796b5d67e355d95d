import ArgumentParser
import Foundation
import QuietStarCLI
import QuietStarJSON
import QuietStarModel
import QuietStarTokenizer

struct QuietStarRun: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quietstar-run",
        abstract: "Run a language model over lines of text: generate continuations or score likelihoods.",
        discussion: """
            Each input line is one item (a prompt to continue, or a text to score); results come \
            out in input order, one line per input line, as soon as they are ready. Input streams \
            through bounded memory, so inputs of any size work. Many lines are processed together \
            (--batch-size) and a finished line's place is refilled at once.

            Output is deterministic: the same model, input, flags and --seed give the same \
            bytes whatever --batch-size, --step-tokens, --threads or --shard split (each line's \
            random draws come from its own generator, and every kernel computes a line's numbers \
            the same way whichever lines share the batch).

            Examples:
              quietstar-run generate --model m.qstar --max-tokens 20 prompts.txt
              echo 'The capital of France is' | quietstar-run generate --model m.qstar
              quietstar-run generate --model m.qstar --temperature 0.8 --top-p 0.95 \\
                  --seed 7 --input-format jsonl --format jsonl in.jsonl > out.jsonl
              quietstar-run score --model m.qstar --format jsonl --per-token texts.txt
              # one input over 4 processes: lines 2, 6, 10, ... here
              quietstar-run generate --model m.qstar --shard 2/4 big.txt > part2.txt

            The model is --model, else $QUIETSTAR_MODEL, else the bundled default \
            model: default.qstar beside the executable or in ../share/quietstar/ \
            (tools/demo installs fixtures/default/quietstar-arithmetic.qstar there).

            Environment: QUIETSTAR_ISA=avx2|avx512|auto picks the kernels' instruction \
            set (default: the best this CPU runs). Every path writes the same bytes; \
            only the speed differs.

            Exit status:
              0   every line succeeded
              1   some lines failed; each has an error record in its place
              64  usage error (unknown flag, bad value)
              65  the model file is invalid (corrupt, unsupported, inconsistent)
              66  the model file or an input file is missing or unreadable
              74  I/O error while reading input or writing output (e.g. closed pipe)
            """,
        subcommands: [Generate.self, Score.self, Explain.self])
}
