#!/usr/bin/env python3
"""Writes docs/results-star.json, the accuracy plots and a Markdown table from the STaR addition
experiment (tools/star/addition_experiment.sh), reading only the runs' metrics.jsonl files
(plain Python 3, no third-party packages):

    python3 tools/results/star_report.py WORKDIR [--out docs] [--name star]

Accuracy is exact match of the answer line on the held-out questions (50 per digit count),
greedy decoding, as quietstar-train star measures it after every iteration; iteration 0 is the
seed model.
"""
import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quietstar_report import svg_lines  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#000000"]


def metrics(run):
    path = Path(run) / "metrics.jsonl"
    return [json.loads(l) for l in path.read_text().splitlines()] if path.exists() else []


def main():
    p = argparse.ArgumentParser()
    p.add_argument("workdir")
    p.add_argument("--out", default=str(ROOT / "docs"))
    p.add_argument("--name", default="star", help="prefix of the files written (several experiments side by side)")
    a = p.parse_args()
    w, out = Path(a.workdir), Path(a.out)
    runs = {"rationalize": metrics(w / "star-rationalize"), "no_rationalize": metrics(w / "star-no-rationalize"),
            "frontier": metrics(w / "star-frontier"),
            "continue_rationalize": metrics(w / "star-continue-rationalize"),
            "continue_no_rationalize": metrics(w / "star-continue-no-rationalize")}
    direct, gold, gold_long = metrics(w / "direct-eval"), metrics(w / "gold-eval"), metrics(w / "gold-long-eval")
    result = {"runs": {}, "direct_baseline": direct[0]["eval_accuracy"] if direct else None,
              "gold_scratchpad_control": gold[0]["eval_accuracy"] if gold else None,
              "gold_scratchpad_2000_steps": gold_long[0]["eval_accuracy"] if gold_long else None}
    for name, ms in runs.items():
        result["runs"][name] = [{k: m.get(k) for k in ("iteration", "eval_accuracy", "train_accuracy", "train_questions",
                                                       "kept_generated", "kept_rationalized", "steps")} for m in ms]
    (out / f"results-{a.name}.json").write_text(json.dumps(result, indent=2) + "\n")

    for name, ms in runs.items():
        if not ms:
            continue
        digits = [k for k in ms[0]["eval_accuracy"] if k != "all"]
        series = [(f"{d}-digit", [(m["iteration"], 100 * m["eval_accuracy"][d]) for m in ms], COLOURS[i % 5])
                  for i, d in enumerate(digits)]
        series.append(("all", [(m["iteration"], 100 * m["eval_accuracy"]["all"]) for m in ms], COLOURS[5]))
        if direct:
            last = ms[-1]["iteration"]
            series.append(("direct baseline, all", [(0, 100 * direct[0]["eval_accuracy"]["all"]),
                                                    (last, 100 * direct[0]["eval_accuracy"]["all"])], "#7f7f7f"))
        title = {"rationalize": "STaR with rationalization", "no_rationalize": "STaR without rationalization",
                 "frontier": "STaR on 3-digit questions only",
                 "continue_rationalize": "STaR, continuing the previous model",
                 "continue_no_rationalize": "STaR, continuing, no rationalization"}[name] + ": held-out accuracy"
        svg_lines(out / f"results-{a.name}-{name.replace('_', '-')}.svg", title, series, "accuracy (%)", xlabel="iteration")

    # The Markdown table of docs/results.md.
    for name, ms in runs.items():
        if not ms:
            continue
        digits = [k for k in ms[0]["eval_accuracy"] if k != "all"]
        print(f"\n{name}:\n")
        print("| iteration | " + " | ".join(f"{d}-digit" for d in digits) + " | all | kept (generated + rationalized) | steps |")
        print("|---" * (len(digits) + 4) + "|")
        for m in ms:
            acc = m["eval_accuracy"]
            kept = "" if m["iteration"] == 0 else f"{m['kept_generated']} + {m['kept_rationalized']} of {m['train_questions']}"
            steps = "" if m["iteration"] == 0 else str(m["steps"])
            print(f"| {m['iteration']} | " + " | ".join(f"{100 * acc[d]:.0f}%" for d in digits)
                  + f" | {100 * acc['all']:.1f}% | {kept} | {steps} |")
    for label, ms in (("direct baseline", direct), ("gold-scratchpad control", gold),
                      ("gold-scratchpad control, 2000 steps", gold_long)):
        if ms:
            print(f"\n{label}: " + ", ".join(f"{k}: {100 * v:.1f}%" for k, v in ms[0]["eval_accuracy"].items()))


if __name__ == "__main__":
    main()
