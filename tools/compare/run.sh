#!/usr/bin/env bash
# `tools/bench compare [DIR]`: our engine and llama.cpp on the same weights, same machine, same
# thread count, one run. JSON lines to DIR/compare.jsonl (default docs/), a table on stderr and
# in DIR/benchmarks.md's llama.cpp section (tools/results/bench_report.py). Not used by CI:
# it downloads and builds llama.cpp (tools/compare/build-llamacpp.sh) and needs Python for the
# model files (tools/compare/make_model.py in a venv under the cache folder).
#
# Workloads, per dtype (f32, f16, q8_0) of the 24.6M comparison model:
#   prefill   64 lines x 128 tokens     ours: quietstar-bench engine prefill; llama.cpp: batched-bench S_PP (npl 64)
#   decode 64 one token for each of 64 lines with 128 cached   ours: engine decode batch 64; llama.cpp: batched-bench S_TG (npl 64)
#   decode 1  one line, 128 cached      ours: engine decode batch 1; llama.cpp: llama-bench tg128
# Our decode runs twice: with the f32 KV cache (our default) and with an f16 one (--kv-cache f16,
# llama.cpp's default cache type).
# Extra models: COMPARE_MODELS="name=path.qstar:path.gguf ..." (for example SmolLM2-135M from
# tools/models/smollm2) are measured the same way at their own dtype.
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-docs}"
threads="${COMPARE_THREADS:-$(nproc)}"
cache="${QUIETSTAR_CACHE:-$HOME/.cache/quietstar}"
work="$cache/compare"
mkdir -p "$out" "$work"

llama="$(bash tools/compare/build-llamacpp.sh)"
venv="$cache/compare-venv"
if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet -r tools/compare/requirements.txt >&2
fi
swift build -c release --product quietstar-bench >&2
swift build -c release --product quietstar-convert >&2
bin="$(swift build -c release --show-bin-path)"

if [[ ! -f "$work/model-q8_0.qstar" ]]; then
    "$venv/bin/python" tools/compare/make_model.py "$work" fixtures/tokenizers/mistral-metaspace/tokenizer.json
    "$bin/quietstar-convert" from-hf "$work/hf" -o "$work/model-f32.qstar"
    for d in f16 q8_0; do "$bin/quietstar-convert" recode "$work/model-f32.qstar" -o "$work/model-$d.qstar" --dtype "$d"; done
fi

json="$out/compare.jsonl"
: > "$json.tmp"
# The machine and its baselines (sgemm, FMA peak per ISA path, bandwidth), measured in this run.
"$bin/quietstar-bench" sgemm --threads "$threads" | sed 's/^{/{"run":"compare",/' >> "$json.tmp"

measure() {  # name qstar gguf
    local name="$1" qstar="$2" gguf="$3"
    echo "compare: $name: ours" >&2
    "$bin/quietstar-bench" engine --model "$qstar" --threads "$threads" --batch 64 --prefill-length 128 --context 128 --min-time 0.5 \
        | sed "s/^{/{\"run\":\"compare\",\"model\":\"$name\",\"engine\":\"quietstar\",/" >> "$json.tmp"
    # The same with an f16 KV cache, llama.cpp's default cache type (decode rows only).
    "$bin/quietstar-bench" engine --model "$qstar" --threads "$threads" --batch 64 --prefill-length 128 --context 128 --min-time 0.5 \
        --kv-cache f16 | grep '"engine_decode"\|"engine_model"' \
        | sed "s/^{/{\"run\":\"compare\",\"model\":\"$name\",\"engine\":\"quietstar-kv-f16\",/" >> "$json.tmp"
    echo "compare: $name: llama.cpp" >&2
    "$llama/llama-batched-bench" -m "$gguf" -t "$threads" -tb "$threads" -c 17000 -b 2048 -ub 512 -npp 128 -ntg 32 -npl 64 \
        --output-format jsonl 2> /dev/null | grep '^{' \
        | sed "s/^{/{\"run\":\"compare\",\"model\":\"$name\",\"engine\":\"llama.cpp\",\"bench\":\"batched-bench\",/" >> "$json.tmp"
    "$llama/llama-bench" -m "$gguf" -t "$threads" -p 0 -n 128 -r 3 -o jsonl 2> /dev/null | grep '^{' \
        | sed "s/^{/{\"run\":\"compare\",\"model\":\"$name\",\"engine\":\"llama.cpp\",\"bench\":\"llama-bench\",/" >> "$json.tmp"
}
for d in f32 f16 q8_0; do measure "bench-24.6M-$d" "$work/model-$d.qstar" "$work/model-$d.gguf"; done
for spec in ${COMPARE_MODELS:-}; do
    name="${spec%%=*}"; paths="${spec#*=}"
    measure "$name" "${paths%%:*}" "${paths#*:}"
done
mv "$json.tmp" "$json"
python3 tools/results/compare_report.py "$json" >&2
echo "compare: wrote $json" >&2
