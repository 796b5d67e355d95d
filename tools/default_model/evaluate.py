#!/usr/bin/env python3
"""Measures what the bundled default model's thoughts do on held-out arithmetic (plain Python 3):
scores fixtures/corpus/arithmetic-eval.txt with `quietstar-run score --thoughts --per-token`
(the deployed engine, the shipped f16 file) and prints base and mixed NLL per token class
(answer = the digits after `=`, operand = digits before it, other) as JSON:

    python3 tools/default_model/evaluate.py [--lines 1000] [--bin .build/release]
"""
import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "results"))
from quietstar_report import nll_by_class, score  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default=str(ROOT / "fixtures/default/quietstar-arithmetic.qstar"))
    p.add_argument("--eval", default=str(ROOT / "fixtures/corpus/arithmetic-eval.txt"))
    p.add_argument("--lines", type=int, default=1000)
    p.add_argument("--bin", default=str(ROOT / ".build/release"))
    a = p.parse_args()
    lines = [l for l in Path(a.eval).read_text().splitlines() if l][: a.lines]
    records = score(Path(a.bin), a.model, lines, thoughts=4)
    result = {"lines": len(lines), "base": nll_by_class(records, "base_logprobs"),
              "with_thoughts": nll_by_class(records, "logprobs")}
    answer = [(r["logprobs"][j] - r["base_logprobs"][j]) for r in records for j in range(1, len(r["tokens"]))
              if r["logprobs"][j] is not None and r["tokens"][j].isdigit() and "=" in r["tokens"][:j]]
    result["answer_tokens_improved_fraction"] = sum(1 for g in answer if g > 0) / max(1, len(answer))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
