#!/usr/bin/env python3
"""Renders the JSON lines of `tools/bench report` as docs/benchmarks.md (plain Python 3).

    python3 tools/results/bench_report.py docs/benchmarks.jsonl > docs/benchmarks.md

Every figure comes from that one run: ratios are against the baselines (sgemm peak, memory
bandwidth) the same run measured, so the page says how close to the machine each path gets.
"""
import json
import os
import sys


def fmt(x, digits=3):
    if x is None:
        return "-"
    if isinstance(x, int) or abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.{digits}g}"


def main():
    rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
    by = lambda bench, **kw: [r for r in rows if r.get("bench") == bench and all(r.get(k) == v for k, v in kw.items())]
    machine = by("machine")[0]
    out = ["# Benchmarks", "",
           "Written by `tools/bench report` (JSON lines: `benchmarks.jsonl`, rendered by "
           "`tools/results/bench_report.py`); one run, one machine. Re-run it before comparing: numbers from another "
           "run or a busy machine are not comparable. Ratios are against baselines measured in the same run.", "",
           "## Machine", "",
           f"- CPU: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB; flags `{machine['cpu_flags']}`; "
           f"kernel path `{machine.get('isa', 'baseline')}` (Swift kernels built for x86-64 Haswell: AVX2 + FMA + F16C; the "
           f"matrix products (tiled, and batch-1 decode of compressed weights) also have AVX-512 bodies chosen at run time; "
           f"`QUIETSTAR_ISA` overrides)",
           f"- BLAS: {machine['openblas']}"]
    for r in by("sgemm"):
        if r["m"] == r["n"] == r["k"]:
            out.append(f"- `cblas_sgemm` {r['m']}^3, {r['threads']} thread(s): {fmt(r['gflops'])} GFLOP/s")
    for r in by("fma_peak"):
        out.append(f"- FMA peak ({r['isa']} registers, our probe), {r['threads']} thread(s): {fmt(r['gflops'])} GFLOP/s")
    for r in by("memory"):
        out.append(f"- memory {r['kind']}, {r['threads']} thread(s): {fmt(r['gb_per_s'])} GB/s")

    out += ["", "## Checkpoint open (mmap + validation) by file size", "",
            "| tensors | file | open, warm (us) | open, cold cache (us) | RSS added by open (MiB) |", "|---|---|---|---|---|"]
    for r in by("format_open"):
        rss = r.get("rss_open_delta_mib")
        out.append(f"| {r['family']} | {fmt(r['file_mib'])} MiB | {fmt(r['open_warm_us_median'])} | "
                   f"{fmt(r['open_cold_us_median'])} | {fmt(rss)} |")

    out += ["", "## Engine: prefill and decode by weight dtype", ""]
    model = by("engine_model")
    if model:
        m = model[0]
        out.append(f"Random model, {m['parameters']:,} parameters (hidden {m['hidden']}, {m['layers']} layers, "
                   f"vocab {m['vocab']}), 2 threads.")
        out.append("")
    out += ["| dtype | prefill tok/s (of sgemm peak) | decode batch 1 tok/s (of bandwidth bound) | decode batch 64 tok/s (of sgemm peak) | peak RSS MiB |",
            "|---|---|---|---|---|"]
    for dtype in ("f32", "f16", "bf16", "q8_0"):
        run = f"engine-{dtype}"
        pre = [r for r in by("engine_prefill") if r.get("run") == run]
        d1 = [r for r in by("engine_decode", batch=1) if r.get("run") == run]
        d64 = [r for r in by("engine_decode") if r.get("run") == run and r["batch"] > 1]
        rss = [r for r in by("process") if r.get("run") == run]
        if not pre:
            continue
        cell = lambda rs, key, frac: f"{fmt(rs[0][key])} ({fmt(rs[0].get(frac), 2)})" if rs else "-"
        out.append(f"| {dtype} | {cell(pre, 'tokens_per_s', 'fraction_of_sgemm_peak')} | "
                   f"{cell(d1, 'tokens_per_s', 'fraction_of_bandwidth_bound')} | "
                   f"{cell(d64, 'tokens_per_s', 'fraction_of_sgemm_peak')} | {fmt(rss[0]['peak_rss_mib']) if rss else '-'} |")

    out += ["", "## Thoughts: cost relative to plain passes", "",
            "| k | scoring time / plain (bound) | thought generation tok/s / plain | fraction of sgemm peak (scoring) | peak RSS MiB |",
            "|---|---|---|---|---|"]
    for k in (2, 4, 8):
        run = f"thoughts-k{k}"
        sc = [r for r in by("thoughts_score") if r.get("run") == run]
        ge = [r for r in by("thoughts_generate") if r.get("run") == run]
        rss = [r for r in by("process") if r.get("run") == run]
        if not sc:
            continue
        s, g = sc[0], (ge[0] if ge else {})
        out.append(f"| {k} | {fmt(s['time_ratio'])}x ({fmt(s['bound_ratio'])}x) | "
                   f"{fmt(g.get('thought_tokens_per_s'))} / {fmt(g.get('plain_tokens_per_s'))} | "
                   f"{fmt(s['thought_fraction_of_sgemm_peak'], 2)} | {fmt(rss[0]['peak_rss_mib']) if rss else '-'} |")

    out += ["", "## Training", "",
            "| step | tokens/s | GFLOP/s (of FMA peak; of sgemm peak) | PyTorch tokens/s, same run | ours / PyTorch | peak RSS MiB |",
            "|---|---|---|---|---|---|"]
    torch_lm = by("train", implementation="pytorch")
    for r in by("train", implementation="quietstar"):
        # Our own peak (the process line would include a PyTorch child measured in the same run).
        rss = [r] if "peak_rss_mib" in r else [p for p in by("process") if p.get("run") == "train"]
        theirs = torch_lm[0]["tokens_per_second"] if torch_lm else None
        ratio = f"{r['tokens_per_second'] / theirs:.2f}x" if theirs else "-"
        out.append(f"| LM training, {r['parameters']:,} params, context {r['context']}, batch {r['batch']} | "
                   f"{fmt(r['tokens_per_second'])} | {fmt(r['gflops_per_second'])} ({fmt(r.get('fraction_of_fma_peak'), 2)}; "
                   f"{fmt(r.get('fraction_of_sgemm_peak'), 2)}) | {fmt(theirs) if theirs else '-'} | {ratio} | "
                   f"{fmt(rss[0]['peak_rss_mib']) if rss else '-'} |")
    for r in by("train_quietstar", implementation="quietstar"):
        out.append(f"| Quiet-STaR step, {r['parameters']:,} params, k {r['thought_tokens']}, lookahead {r['lookahead']} | "
                   f"{fmt(r['tokens_per_second'])} | - | - | - | {fmt(r.get('peak_rss_mib'))} |")
    out += ["", "PyTorch: " + ("the LM step in plain PyTorch on the CPU, measured in this run (`BENCH_PYTORCH=PYTHON tools/bench report`)."
                              if torch_lm else
                              "not in this run (`BENCH_PYTORCH=PYTHON tools/bench report` or `quietstar-bench train --pytorch PYTHON` "
                              "adds it; docs/results.md has the last comparison)."),
            ""]
    compare = os.path.join(os.path.dirname(sys.argv[1]), "compare.jsonl")
    if os.path.exists(compare):
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import compare_report
        out += ["## Against llama.cpp (`tools/bench compare`)", "",
                compare_report.table([json.loads(l) for l in open(compare) if l.strip()]), ""]
    else:
        out += ["llama.cpp: no `compare.jsonl` beside this run's JSON (`tools/bench compare` writes it).", ""]
    print("\n".join(out))


if __name__ == "__main__":
    main()
