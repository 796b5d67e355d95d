#!/usr/bin/env python3
"""Writes held-out arithmetic prompts as quietstar-run JSONL input, {"id", "prompt"} per line:
the first COUNT statements of fixtures/corpus/arithmetic-eval.txt (never trained on, the lines
tools/demo explains) cut before their result, e.g. {"id": "eval-1", "prompt": "154 + 404 ="}; with --texts, whole
statements to score, {"id": "eval-1", "text": "154 + 404 = 558"}.

    python3 tools/spark/make_prompts.py [--texts] [COUNT] > prompts.jsonl
"""
import json
import sys
from pathlib import Path

EVAL = Path(__file__).resolve().parents[2] / "fixtures/corpus/arithmetic-eval.txt"


def main():
    args = sys.argv[1:]
    texts = "--texts" in args
    args = [a for a in args if a != "--texts"]
    count = int(args[0]) if args else 400
    lines = [l for l in EVAL.read_text(encoding="ascii").splitlines() if l][:count]
    for i, statement in enumerate(lines, 1):
        if texts:
            print(json.dumps({"id": f"eval-{i}", "text": statement}))
        else:
            print(json.dumps({"id": f"eval-{i}", "prompt": statement[: statement.index("=") + 1]}))


if __name__ == "__main__":
    main()
