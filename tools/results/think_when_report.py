#!/usr/bin/env python3
"""Adaptive thinking's cost/quality curve on the default model (plain Python 3, no packages).

1. Scores the held-out arithmetic lines once with `--think-when always --per-token`: every
   position's base and mixed log-probability, and the base distribution's entropy and top
   probability (what the rules read).
2. For each rule (entropy:H, top-prob:P) and thresholds at quantiles of its signal, computes the
   fraction of positions that think and the resulting NLL (all tokens, answer tokens): a position
   that thinks has exactly its `always` mixed score (same thought stream), one that does not has
   its base score. An oracle (think exactly where the thought helped, which needs the answer) is
   shown as the ceiling no rule can pass.
3. Chooses entropy bands (think where L <= entropy < H) on a calibration split and measures them
   on a separate test split, so the band is not fitted to the lines it is judged on.
4. Runs `quietstar-run` for real at several thresholds, times each run (tokens/s) and checks that
   its NLL equals the predicted one to the last printed digit.

    python3 tools/results/think_when_report.py [--lines 1000] [--bin .build/release] [--out docs]

Writes <out>/results-think-when.json and <out>/results-think-when-{nll,speed}.svg.
"""
import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quietstar_report import classes, svg_lines  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def run(bin_dir, model, text, k, rule, per_token, seed=0):
    cmd = [str(bin_dir / "quietstar-run"), "score", "--model", str(model), "--format", "jsonl",
           "--thoughts", "--thought-tokens", str(k), "--seed", str(seed)]
    if rule:
        cmd += ["--think-when", rule]
    if per_token:
        cmd += ["--per-token"]
    start = time.perf_counter()
    out = subprocess.run(cmd, input=text, capture_output=True, text=True, check=True).stdout
    return [json.loads(l) for l in out.splitlines()], time.perf_counter() - start


def positions(records):
    """One entry per scored position: (base lp, mixed lp, entropy, top, is_answer)."""
    out = []
    for r in records:
        cls = classes(r["tokens"])
        for j in range(1, len(r["tokens"])):
            out.append((r["base_logprobs"][j], r["logprobs"][j], r["base_entropies"][j], r["base_top_probs"][j],
                        cls[j] == "answer"))
    return out


def curve(pos, thinks):
    """(fraction thought, NLL all, NLL answer) when position i thinks iff thinks[i]."""
    n = len(pos)
    chosen = [p[1] if t else p[0] for p, t in zip(pos, thinks)]
    answer = [c for c, p in zip(chosen, pos) if p[4]]
    return sum(thinks) / n, -sum(chosen) / n, -sum(answer) / max(1, len(answer))


def quantiles(values, fractions):
    s = sorted(values)
    return [s[min(len(s) - 1, max(0, int(round(f * (len(s) - 1)))))] for f in fractions]


def pareto(points):
    """Points (fraction, nll, payload) kept where no other has both fewer thoughts and lower NLL."""
    kept, best = [], math.inf
    for q in sorted(points, key=lambda q: (q[0], q[1])):
        if q[1] < best - 1e-12:
            kept.append(q)
            best = q[1]
    return kept


def predicted(pos, rule):
    """What `rule` decides at each position (ThinkWhen, in Python)."""
    if rule == "always":
        return [True] * len(pos)
    if rule == "never":
        return [False] * len(pos)
    kind, value = rule.split(":")
    if kind == "top-prob":
        return [q[3] < float(value) for q in pos]
    if ".." in value:
        lo, hi = map(float, value.split(".."))
        return [lo <= q[2] < hi for q in pos]
    return [q[2] >= float(value) for q in pos]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default=str(ROOT / "fixtures/default/quietstar-arithmetic.qstar"))
    p.add_argument("--eval", default=str(ROOT / "fixtures/corpus/arithmetic-eval.txt"))
    p.add_argument("--lines", type=int, default=1000, help="lines in each split (calibration, then test)")
    p.add_argument("--thought-tokens", type=int, default=4)
    p.add_argument("--bin", default=str(ROOT / ".build/release"))
    p.add_argument("--out", default=str(ROOT / "docs"))
    a = p.parse_args()
    bin_dir, out = Path(a.bin), Path(a.out)
    lines = [l for l in Path(a.eval).read_text().splitlines() if l]
    calibration, test = lines[: a.lines], lines[a.lines: 2 * a.lines]
    k = a.thought_tokens
    cal = positions(run(bin_dir, a.model, "\n".join(calibration) + "\n", k, "always", True)[0])
    text = "\n".join(test) + "\n"
    pos = positions(run(bin_dir, a.model, text, k, "always", True)[0])
    n = len(pos)
    model = Path(a.model).resolve()
    result = {"model": str(model.relative_to(ROOT)) if model.is_relative_to(ROOT) else str(model),
              "calibration_lines": len(calibration), "test_lines": len(test), "test_positions": n,
              "answer_positions": sum(1 for q in pos if q[4]), "thought_tokens": k}

    def point(rule, where=pos):
        f, nll, ans = curve(where, predicted(where, rule))
        return {"rule": rule, "fraction": f, "nll": nll, "answer_nll": ans}

    # One-sided rules: thresholds at quantiles of the test split's own signal (no choice is made).
    fractions = [i / 20 for i in range(21)]
    offline = {
        "entropy": [point(f"entropy:{h!r}") for h in quantiles([q[2] for q in pos], [1 - f for f in fractions])],
        "top-prob": [point(f"top-prob:{t!r}") for t in quantiles([q[3] for q in pos], fractions)],
    }
    # Entropy bands: chosen on the calibration split (the Pareto front of fraction vs NLL over a
    # grid of quantile pairs), then measured on the test split.
    grid = sorted(set(quantiles([q[2] for q in cal], [i / 40 for i in range(41)])))
    bands = []
    for i, lo in enumerate(grid):
        for hi in grid[i + 1:]:
            rule = f"entropy:{lo!r}..{hi!r}"
            f, nll, _ = curve(cal, predicted(cal, rule))
            bands.append((f, nll, rule))
    front = pareto(bands)
    offline["entropy-band"] = [dict(point(rule), calibration_fraction=f, calibration_nll=nll) for f, nll, rule in front]
    # The oracle: positions ranked by how much their thought helped (needs the true token).
    order = sorted(range(n), key=lambda i: pos[i][0] - pos[i][1])
    offline["oracle"] = []
    for f in fractions:
        chosen = set(order[: int(round(f * n))])
        g, nll, ans = curve(pos, [i in chosen for i in range(n)])
        offline["oracle"].append({"fraction": g, "nll": nll, "answer_nll": ans})
    result["offline"] = offline
    result["never"], result["always"] = point("never"), point("always")

    # Real runs on the test split: each rule's NLL must equal the prediction; time each.
    def near(curve_points, fraction):
        return min(curve_points, key=lambda c: abs(c["fraction"] - fraction))["rule"]
    rules = ["never", "always"] + [near(offline["entropy"], f) for f in (0.25, 0.5)] \
        + [near(offline["top-prob"], 0.5)] + [near(offline["entropy-band"], f) for f in (0.1, 0.2, 0.4)]
    result["runs"] = []
    for rule in dict.fromkeys(rules):
        recs, wall = run(bin_dir, a.model, text, k, rule, False)
        scored = sum(r["token_count"] - 1 for r in recs)
        thought = sum(r["thought_positions"] for r in recs)
        nll = -sum(r["logprob"] for r in recs) / scored
        expect = point(rule)
        result["runs"].append({"rule": rule, "fraction": thought / scored, "nll": nll, "predicted_nll": expect["nll"],
                               "answer_nll": expect["answer_nll"], "seconds": wall, "tokens_per_second": scored / wall})
        print(json.dumps(result["runs"][-1]), file=sys.stderr)
        if abs(nll - expect["nll"]) > 1e-9 or abs(thought / scored - expect["fraction"]) > 1e-12:
            sys.exit(f"{rule}: measured NLL {nll} / fraction {thought / scored} differ from the predicted {expect}")

    out.mkdir(parents=True, exist_ok=True)
    (out / "results-think-when.json").write_text(json.dumps(result, indent=1) + "\n")
    series = [
        ("entropy >= H", [(100 * c["fraction"], c["nll"]) for c in offline["entropy"]], "#1f77b4"),
        ("top-prob < P", [(100 * c["fraction"], c["nll"]) for c in offline["top-prob"]], "#2ca02c"),
        ("entropy band", [(100 * c["fraction"], c["nll"]) for c in offline["entropy-band"]], "#ff7f0e"),
        ("oracle", [(100 * c["fraction"], c["nll"]) for c in offline["oracle"]], "#999999"),
    ]
    svg_lines(out / "results-think-when-nll.svg", "Held-out NLL vs positions thought about (default model)",
              series, "NLL per token (nats)", xlabel="% of positions with a thought")
    speed = sorted(result["runs"], key=lambda r: r["fraction"])
    svg_lines(out / "results-think-when-speed.svg", "Scoring speed vs positions thought about",
              [("tokens/s", [(100 * r["fraction"], r["tokens_per_second"]) for r in speed], "#d62728")],
              "scored tokens / s", xlabel="% of positions with a thought")
    print(json.dumps({key: result[key] for key in ("test_positions", "never", "always", "runs")}, indent=1))


if __name__ == "__main__":
    main()
