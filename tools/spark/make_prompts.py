#!/usr/bin/env python3
"""Writes held-out arithmetic prompts as quietstar-run JSONL input, {"id", "prompt"} per line:
the first COUNT statements of fixtures/corpus/arithmetic-eval.txt (never trained on, the lines
tools/demo explains) cut before their result, e.g. {"id": "eval-1", "prompt": "154 + 404 ="}.

    python3 tools/spark/make_prompts.py [COUNT] > prompts.jsonl
"""
import json
import sys
from pathlib import Path

EVAL = Path(__file__).resolve().parents[2] / "fixtures/corpus/arithmetic-eval.txt"


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    lines = [l for l in EVAL.read_text(encoding="ascii").splitlines() if l][:count]
    for i, statement in enumerate(lines, 1):
        prompt = statement[: statement.index("=") + 1]
        print(json.dumps({"id": f"eval-{i}", "prompt": prompt}))


if __name__ == "__main__":
    main()
