"""Checks that `quietstar-convert to-hf` exports load in Hugging Face transformers and compute the
committed reference logits: each fixture goes HF folder -> .qstar (from-hf) -> HF folder (to-hf),
is loaded with AutoModelForCausalLM / AutoTokenizer, and its logits are compared with
fixtures/reference/<model>.logits.f32. Needs the Python packages of requirements.txt.

    python tools/reference/check_hf_export.py [path/to/quietstar-convert]

Exits non-zero if any model differs by more than 1e-5 or its tokenizer disagrees on the ids.
"""
import json
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

warnings.filterwarnings("ignore")
ROOT = Path(__file__).resolve().parents[2]
MODELS = ["llama-tied", "llama-untied", "llama3", "llama-sharded", "llama-bf16", "mistral", "qwen2",
          "quietstar-mistral"]


def main() -> int:
    convert = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / ".build/debug/quietstar-convert")
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name in MODELS:
            qstar, export = Path(tmp) / f"{name}.qstar", Path(tmp) / name
            subprocess.run([convert, "from-hf", str(ROOT / "fixtures/hf" / name), "-o", str(qstar)], check=True,
                           stderr=subprocess.DEVNULL)
            subprocess.run([convert, "to-hf", str(qstar), "-o", str(export)], check=True, stderr=subprocess.DEVNULL)
            ref = json.loads((ROOT / "fixtures/reference" / f"{name}.json").read_text())
            logits = np.fromfile(ROOT / "fixtures/reference" / ref["logits_file"], dtype="<f4")
            model = AutoModelForCausalLM.from_pretrained(export, dtype=torch.float32, attn_implementation="eager")
            tokenizer = AutoTokenizer.from_pretrained(export)
            worst, ids_ok = 0.0, True
            for text in ref["texts"]:
                ids_ok &= tokenizer(text["text"])["input_ids"] == text["ids"]
                with torch.no_grad():
                    out = model(torch.tensor([text["ids"]])).logits[0].numpy()
                expected = logits[text["logits_offset"]: text["logits_offset"] + out.size].reshape(out.shape)
                worst = max(worst, float(np.abs(out - expected).max()))
            ok = worst <= 1e-5 and ids_ok
            failures += not ok
            print(f"{name:18s} max |logit - reference| = {worst:.3g}, tokenizer ids {'match' if ids_ok else 'DIFFER'}"
                  f"{'' if ok else '  FAIL'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
