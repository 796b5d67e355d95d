#!/usr/bin/env python3
"""Writes the arithmetic corpus in fixtures/corpus/ (generated; no third-party text, CC0).

Each line is one document (train with `--delimiter '\n'`): an addition, subtraction or multiplication of small numbers with
its result, e.g. `417 + 86 = 503`. The digits of a result depend on a computation (carries,
borrows, partial products) that a small model cannot do in one forward step but can do in a few
written tokens, which is what Quiet-STaR's thoughts are for (issue 12); for plain pretraining it
is a corpus whose held-out loss has a known floor: the operands are random, the results are
determined.

    python3 tools/data/make_arithmetic.py        # rewrites fixtures/corpus/arithmetic-{train,eval}.txt

Deterministic: Python's `random.Random(seed)` (Mersenne Twister, stable across versions).
"""
import os
import random

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "fixtures", "corpus")


def statement(r: random.Random) -> str:
    kind = r.random()
    if kind < 0.5:
        a, b = r.randint(0, 999), r.randint(0, 999)
        return f"{a} + {b} = {a + b}"
    if kind < 0.8:
        a, b = r.randint(0, 999), r.randint(0, 999)
        a, b = max(a, b), min(a, b)
        return f"{a} - {b} = {a - b}"
    a, b = r.randint(0, 99), r.randint(0, 9)
    return f"{a} * {b} = {a * b}"


def write(name: str, seed: int, lines: int, exclude: set) -> set:
    """Writes `lines` statements none of which is in `exclude`; returns the set written."""
    r = random.Random(seed)
    path = os.path.join(ROOT, name)
    written = set()
    with open(path, "w", encoding="ascii", newline="\n") as f:
        n = 0
        while n < lines:
            s = statement(r)
            if s in exclude:
                continue
            f.write(s + "\n")
            written.add(s)
            n += 1
    print(f"{path}: {lines} lines, {os.path.getsize(path)} bytes")
    return written


if __name__ == "__main__":
    os.makedirs(ROOT, exist_ok=True)
    train = write("arithmetic-train.txt", 20261207, 160_000, set())
    # Held out: no statement of the training file (so multiplications, of which there are only
    # 1000, are rare here: most are in the training file).
    write("arithmetic-eval.txt", 7, 4_000, train)
