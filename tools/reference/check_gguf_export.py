"""Reads `quietstar-convert to-gguf` exports back with the `gguf` Python package and compares them
with llama.cpp's own exports of the same fixture families (fixtures/gguf/models/, written by
make_gguf_models.py): same tensor names, shapes and types, the same bytes for F16 exports
(so the q/k row order is llama.cpp's), the same hyperparameter keys and tokenizer. Not run by CI.

    swift build --product quietstar-convert
    ~/.cache/quietstar/venv/bin/python tools/reference/check_gguf_export.py [.build/debug/quietstar-convert]
"""
import os
import pathlib
import subprocess
import sys
import tempfile

import gguf
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
CONVERT = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / ".build" / "debug" / "quietstar-convert")
FAMILIES = ["llama-tied", "llama-untied", "qwen2"]
# Keys whose values both writers must agree on (general.name and the like may differ).
SKIP = {"general.name", "general.type", "general.size_label", "general.quantization_version", "tokenizer.chat_template",
        "tokenizer.ggml.add_sep_token", "tokenizer.ggml.scores", "tokenizer.ggml.merges", "tokenizer.ggml.unknown_token_id",
        "tokenizer.ggml.add_space_prefix"}


def fields(reader):
    return {k: f.contents() for k, f in reader.fields.items() if not k.startswith("GGUF.")}


def main():
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for family in FAMILIES:
            qstar, ours = os.path.join(tmp, family + ".qstar"), os.path.join(tmp, family + ".gguf")
            subprocess.run([CONVERT, "from-hf", str(ROOT / "fixtures" / "hf" / family), "-o", qstar], check=True,
                           stderr=subprocess.DEVNULL)
            subprocess.run([CONVERT, "to-gguf", qstar, "-o", ours, "--dtype", "f16"], check=True, stderr=subprocess.DEVNULL)
            a, b = gguf.GGUFReader(ours), gguf.GGUFReader(ROOT / "fixtures" / "gguf" / "models" / f"{family}.f16.gguf")
            at, bt = {t.name: t for t in a.tensors}, {t.name: t for t in b.tensors}
            problems = []
            if sorted(at) != sorted(bt):
                problems.append(f"tensor names differ: {sorted(set(at) ^ set(bt))}")
            for name in sorted(set(at) & set(bt)):
                x, y = at[name], bt[name]
                if x.tensor_type != y.tensor_type or list(x.shape) != list(y.shape):
                    problems.append(f"{name}: {x.tensor_type.name}{list(x.shape)} vs {y.tensor_type.name}{list(y.shape)}")
                elif not np.array_equal(np.asarray(x.data).view(np.uint8), np.asarray(y.data).view(np.uint8)):
                    problems.append(f"{name}: bytes differ")
            fa, fb = fields(a), fields(b)
            for k in sorted(set(fb) - SKIP):
                if k not in fa:
                    problems.append(f"{k}: missing")
                elif fa[k] != fb[k] and not (isinstance(fb[k], float) and abs(fa[k] - fb[k]) <= 1e-6 * abs(fb[k])):
                    shown = (lambda v: v[:5] if isinstance(v, list) else v)
                    problems.append(f"{k}: {shown(fa[k])} vs llama.cpp {shown(fb[k])}")
            print(f"{family}: {len(at)} tensors, {len(fa)} keys: " + ("OK, tensors byte-identical to llama.cpp's export"
                                                                  if not problems else "; ".join(problems)))
            failures += bool(problems)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
