#!/usr/bin/env python3
"""Renders `tools/bench compare`'s JSON lines (compare.jsonl) as a markdown table: our engine and
llama.cpp on the same weights, per model, dtype and workload, with the ratio (plain Python 3).

    python3 tools/results/compare_report.py docs/compare.jsonl

bench_report.py includes this table in docs/benchmarks.md when compare.jsonl sits beside
benchmarks.jsonl.
"""
import json
import sys


def table(rows):
    machine = next((r for r in rows if r.get("bench") == "machine"), {})
    peaks = [r for r in rows if r.get("bench") == "fma_peak" and r.get("threads") == machine.get("threads")]
    peak = max((r["gflops"] for r in peaks), default=None)
    models = []
    for r in rows:
        if r.get("model") and r["model"] not in models:
            models.append(r["model"])
    out = [f"Same weights, same machine ({machine.get('cpu', '?')}, {machine.get('cores', '?')} cores, our kernel path "
           f"`{machine.get('isa', '?')}`), {machine.get('threads', '?')} threads each, one run of `tools/bench compare`. "
           "llama.cpp built from the llama-cpp-python 0.3.36 sdist with GGML_NATIVE=ON. Prefill: 64 lines x 128 tokens "
           "(llama.cpp: batched-bench S_PP, npl 64); decode 64: one token for each of 64 lines (batched-bench S_TG, "
           "128 + 32 tokens deep); decode 1: one line (llama-bench tg128; ours 128 tokens deep). llama.cpp's KV cache "
           "is f16 (its default); ours is f32 unless the row says f16 KV (`--kv-cache f16`)."
           + (f" Machine FMA peak measured in the same run (best ISA path, {machine.get('threads')} threads): "
              f"{peak:,.0f} GFLOP/s; our prefill GFLOP/s as its fraction in parentheses." if peak else ""), "",
           "| model | dtype | workload | QuietStar tok/s | llama.cpp tok/s | ratio |", "|---|---|---|---|---|---|"]
    for model in models:
        mine = [r for r in rows if r.get("model") == model and r.get("engine") == "quietstar"]
        theirs = [r for r in rows if r.get("model") == model and r.get("engine") == "llama.cpp"]
        info = next((r for r in mine if r.get("bench") == "engine_model"), {})
        dtype = info.get("dtype", "?")
        def record(bench, batch=None):
            return next((r for r in mine if r.get("bench") == bench and (batch is None or r.get("batch") == batch)), {})
        def ours(bench, batch=None):
            return record(bench, batch).get("tokens_per_s")
        prefill_gflops = record("engine_prefill").get("gflops")
        prefill_note = f" ({prefill_gflops / peak:.0%})" if peak and prefill_gflops else ""
        half = [r for r in rows if r.get("model") == model and r.get("engine") == "quietstar-kv-f16"]
        def ours_f16_cache(batch):
            return next((r for r in half if r.get("bench") == "engine_decode" and r.get("batch") == batch), {}).get("tokens_per_s")
        bb = next((r for r in theirs if r.get("bench") == "batched-bench"), {})
        lb = next((r for r in theirs if r.get("bench") == "llama-bench" and r.get("n_gen", 0) > 0), {})
        for workload, a, b in (("prefill 64 x 128", ours("engine_prefill"), bb.get("speed_pp")),
                               ("decode batch 64", ours("engine_decode", 64), bb.get("speed_tg")),
                               ("decode batch 1", ours("engine_decode", 1), lb.get("avg_ts")),
                               ("decode batch 64, f16 KV", ours_f16_cache(64), bb.get("speed_tg")),
                               ("decode batch 1, f16 KV", ours_f16_cache(1), lb.get("avg_ts"))):
            if "f16 KV" in workload and not a:
                continue  # runs from before the f16 cache existed
            ratio = f"{a / b:.2f}x" if a and b else "-"
            note = prefill_note if workload.startswith("prefill") else ""
            out.append(f"| {model} | {dtype} | {workload} | {a:,.0f}{note} | {b:,.0f} | {ratio} |" if a and b else
                       f"| {model} | {dtype} | {workload} | {a or '-'} | {b or '-'} | - |")
    return "\n".join(out)


def main():
    rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
    print(table(rows))


if __name__ == "__main__":
    main()
