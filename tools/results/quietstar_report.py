#!/usr/bin/env python3
"""Writes docs/results-<name>.json and the SVG curves of docs/results.md from a Quiet-STaR
experiment on the arithmetic corpus (no third-party packages: plain Python 3).

Scores the held-out file with the deployed engine (`quietstar-run score --per-token`, with
`--thoughts` for the Quiet-STaR model), so every number is what a user of the checkpoint gets:

    python3 tools/results/quietstar_report.py --eval fixtures/corpus/arithmetic-eval.txt \
        --base base.qstar --quietstar qs/model.qstar --baseline lm/model.qstar \
        --quietstar-run qs --baseline-run lm --thought-tokens 4 --out docs

Token classes of a line `a op b = c` (byte tokenizer): `answer` = the digits after `=`,
`operand` = the digits before it, `other` = spaces, the operator and `=`. Log-probs are per
token, the BOS excluded; the mixed log-prob of the Quiet-STaR model is the one with thoughts,
its base log-prob the same model without (same pass).
"""
import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def score(bin_dir, model, lines, thoughts=None, seed=0):
    cmd = [str(bin_dir / "quietstar-run"), "score", "--model", str(model), "--format", "jsonl", "--per-token"]
    if thoughts:
        cmd += ["--thoughts", "--thought-tokens", str(thoughts), "--seed", str(seed)]
    out = subprocess.run(cmd, input="\n".join(lines) + "\n", capture_output=True, text=True, check=True).stdout
    return [json.loads(l) for l in out.splitlines()]


def classes(tokens):
    """Class of each token (index 0 = BOS gets None)."""
    out, seen_eq = [None], False
    for tok in tokens[1:]:
        if tok == "=":
            seen_eq = True
            out.append("other")
        elif tok.isdigit():
            out.append("answer" if seen_eq else "operand")
        else:
            out.append("other")
    return out


def nll_by_class(records, key):
    sums, counts = {}, {}
    for r in records:
        for c, lp in zip(classes(r["tokens"]), r[key]):
            if c is None or lp is None:
                continue
            for name in (c, "all"):
                sums[name] = sums.get(name, 0.0) - lp
                counts[name] = counts.get(name, 0) + 1
    return {k: {"nll": sums[k] / counts[k], "tokens": counts[k]} for k in sorted(sums)}


def svg_lines(path, title, series, ylabel, xlabel="step"):
    """A line chart: series = [(label, [(x, y)], colour)]."""
    w, h, l, r, t, b = 720, 360, 60, 150, 30, 40
    xs = [x for _, pts, _ in series for x, _ in pts]
    ys = [y for _, pts, _ in series for _, y in pts if y is not None and math.isfinite(y)]
    if not xs or not ys:
        return
    x0, x1 = min(xs), max(xs) or 1
    y0, y1 = min(ys), max(ys)
    if y1 == y0:
        y1 = y0 + 1
    pad = (y1 - y0) * 0.05
    y0, y1 = y0 - pad, y1 + pad
    sx = lambda x: l + (x - x0) / max(1e-9, x1 - x0) * (w - l - r)
    sy = lambda y: t + (y1 - y) / (y1 - y0) * (h - t - b)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
             f'<rect width="{w}" height="{h}" fill="white"/>',
             f'<text x="{w / 2}" y="18" text-anchor="middle" font-size="14">{title}</text>',
             f'<line x1="{l}" y1="{h - b}" x2="{w - r}" y2="{h - b}" stroke="black"/>',
             f'<line x1="{l}" y1="{t}" x2="{l}" y2="{h - b}" stroke="black"/>',
             f'<text x="{(l + w - r) / 2}" y="{h - 8}" text-anchor="middle">{xlabel}</text>',
             f'<text x="14" y="{(t + h - b) / 2}" transform="rotate(-90 14 {(t + h - b) / 2})" text-anchor="middle">{ylabel}</text>']
    # Enough decimals that the five tick labels differ (a narrow range needs more than 3 digits).
    decimals = max(0, 1 - math.floor(math.log10(max(1e-12, (y1 - y0) / 4))))
    for i in range(5):
        yv = y0 + (y1 - y0) * i / 4
        label = f"{yv:.{decimals}f}" if abs(yv) < 1e5 else f"{yv:.3g}"
        parts.append(f'<text x="{l - 6}" y="{sy(yv) + 4:.1f}" text-anchor="end">{label}</text>')
        xv = x0 + (x1 - x0) * i / 4
        parts.append(f'<text x="{sx(xv):.1f}" y="{h - b + 16}" text-anchor="middle">{xv:.0f}</text>')
    for n, (label, pts, colour) in enumerate(series):
        pts = [(x, y) for x, y in pts if y is not None and math.isfinite(y)]
        if not pts:
            continue
        d = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{d}"/>')
        parts.append(f'<text x="{w - r + 10}" y="{t + 16 * n + 10}" fill="{colour}">{label}</text>')
    parts.append("</svg>")
    Path(path).write_text("\n".join(parts) + "\n")


def metrics(run):
    return [json.loads(l) for l in (Path(run) / "metrics.jsonl").read_text().splitlines()]


def smooth(points, n=20):
    out = []
    for i in range(len(points)):
        window = [y for _, y in points[max(0, i - n + 1): i + 1]]
        out.append((points[i][0], sum(window) / len(window)))
    return out


def decode(ids):
    return "".join(chr(i) if i < 256 else f"<{i}>" for i in ids)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--eval", required=True)
    p.add_argument("--base", required=True)
    p.add_argument("--quietstar", required=True)
    p.add_argument("--baseline", required=True)
    p.add_argument("--quietstar-run", required=True)
    p.add_argument("--baseline-run", required=True)
    p.add_argument("--thought-tokens", type=int, required=True)
    p.add_argument("--lines", type=int, default=1000)
    p.add_argument("--bin", default=str(ROOT / ".build/release"))
    p.add_argument("--out", default=str(ROOT / "docs"))
    p.add_argument("--name", default="quietstar", help="prefix of the files written (several runs side by side)")
    a = p.parse_args()
    bin_dir, out = Path(a.bin), Path(a.out)
    lines = [l for l in Path(a.eval).read_text().splitlines() if l][: a.lines]

    qs = score(bin_dir, a.quietstar, lines, thoughts=a.thought_tokens)
    result = {
        "eval_file": a.eval, "lines": len(lines), "thought_tokens": a.thought_tokens,
        "base_model": nll_by_class(score(bin_dir, a.base, lines), "logprobs"),
        "baseline_same_compute": nll_by_class(score(bin_dir, a.baseline, lines), "logprobs"),
        "quietstar_without_thoughts": nll_by_class(qs, "base_logprobs"),
        "quietstar_with_thoughts": nll_by_class(qs, "logprobs"),
    }
    ws = [w for r in qs for w in r["mixing_weights"] if w is not None]
    result["quietstar_mean_w"] = sum(ws) / len(ws)
    # Thoughts that helped most: largest mixed - base log-prob gain on answer tokens.
    gains = []
    for r in qs:
        cls = classes(r["tokens"])
        for j in range(1, len(r["tokens"])):
            if cls[j] == "answer":
                gains.append((r["logprobs"][j] - r["base_logprobs"][j], r, j))
    gains.sort(key=lambda g: -g[0])
    result["examples"] = [{
        "line": decode(r["token_ids"][1:]), "prefix": decode(r["token_ids"][1:j]), "token": r["tokens"][j],
        "thought": decode(r["thoughts"][j]), "w": r["mixing_weights"][j], "gain_nats": g,
        "base_logprob": r["base_logprobs"][j], "mixed_logprob": r["logprobs"][j]} for g, r, j in gains[:8]]
    result["answer_tokens_improved_fraction"] = sum(1 for g, _, _ in gains if g > 0) / max(1, len(gains))
    (out / f"results-{a.name}.json").write_text(json.dumps(result, indent=2) + "\n")

    q, b = metrics(a.quietstar_run), metrics(a.baseline_run)
    train = [m for m in q if "base_nll" in m]
    svg_lines(out / f"results-{a.name}-nll.svg", "Quiet-STaR training (smoothed over 20 steps)", [
        ("base NLL", smooth([(m["step"], m["base_nll"]) for m in train]), "#1f77b4"),
        ("mixed NLL (mean over talk steps)", smooth([(m["step"], m["mixed_nll"]) for m in train]), "#d62728"),
        ("mixed NLL, next token", smooth([(m["step"], m.get("mixed_nll_next")) for m in train if "mixed_nll_next" in m]), "#ff7f0e"),
    ], "nats / token")
    svg_lines(out / f"results-{a.name}-w-reward.svg", "Quiet-STaR: mean w and mean reward (smoothed)", [
        ("mean w", smooth([(m["step"], m["mean_w"]) for m in train]), "#2ca02c"),
        ("mean reward", smooth([(m["step"], m["mean_reward"]) for m in train]), "#9467bd"),
        ("positive-reward fraction", smooth([(m["step"], m["positive_reward_fraction"]) for m in train]), "#8c564b"),
    ], "value")
    svg_lines(out / f"results-{a.name}-eval.svg", "Held-out NLL during training", [
        ("baseline (LM) eval", [(m["step"], m["eval_loss"]) for m in b if "eval_loss" in m], "#1f77b4"),
        ("Quiet-STaR eval base", [(m["step"], m["eval_base_nll"]) for m in q if "eval_base_nll" in m], "#17becf"),
        ("Quiet-STaR eval mixed", [(m["step"], m["eval_mixed_nll"]) for m in q if "eval_mixed_nll" in m], "#d62728"),
    ], "nats / token")
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
