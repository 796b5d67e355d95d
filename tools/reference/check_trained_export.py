"""Checks that a model trained by quietstar-train, exported with `quietstar-convert to-hf`, computes
in Hugging Face transformers what quietstar-run computes: the next-token log-probabilities of every
token of a few texts. Token ids come from quietstar-run (`score --per-token`), so models whose
tokenizer has no tokenizer.json form (the byte tokenizer) are checked too.

    python tools/reference/check_trained_export.py run/model.qstar [bin-dir] [text ...]

Exits non-zero if any log-probability differs by more than 1e-4.
"""
import json
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM

warnings.filterwarnings("ignore")
ROOT = Path(__file__).resolve().parents[2]
TEXTS = ["12 + 30 = 42", "417 + 86 = 503", "500 - 123 = 377", "9 * 7 = 63"]


def main() -> int:
    model = sys.argv[1]
    bin_dir = Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / ".build/debug"
    texts = sys.argv[3:] or TEXTS
    with tempfile.TemporaryDirectory() as tmp:
        export = Path(tmp) / "hf"
        subprocess.run([str(bin_dir / "quietstar-convert"), "to-hf", model, "-o", str(export)], check=True,
                       stderr=subprocess.DEVNULL)
        run = subprocess.run([str(bin_dir / "quietstar-run"), "score", "--model", model, "--format", "jsonl", "--per-token"],
                             input="\n".join(texts) + "\n", capture_output=True, text=True, check=True)
        hf = AutoModelForCausalLM.from_pretrained(export, dtype=torch.float32, attn_implementation="eager").eval()
        worst = 0.0
        for line in run.stdout.splitlines():
            record = json.loads(line)
            ids = torch.tensor([record["token_ids"]])
            with torch.no_grad():
                logprobs = torch.log_softmax(hf(ids).logits[0].double(), dim=-1)
            for j in range(1, ids.shape[1]):
                diff = abs(logprobs[j - 1, ids[0, j]].item() - record["logprobs"][j])
                worst = max(worst, diff)
        print(f"{model}: {len(texts)} texts, max |log p(transformers) - log p(quietstar-run)| = {worst:.2e}")
        return 0 if worst <= 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main())
