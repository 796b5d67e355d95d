#!/usr/bin/env bash
# The STaR n-digit addition experiment of docs/results.md, from scratch, deterministically
# (fixed seeds; the numbers hold for the thread counts below). Stages run in order and each
# skips what a previous run of this script already finished, so it can be restarted.
#
#   bash tools/star/addition_experiment.sh [WORKDIR]      (default /tmp/star-addition)
#   ITERATIONS=8 SEED=few-shot bash tools/star/addition_experiment.sh /tmp/star-fewshot
#
# SEED=1-2 (the default): the seed set holds worked 1-2 digit sums only. SEED=few-shot: the
# same plus 50 worked sums of each longer length (3, 4, 5 digits): the paper prompts GPT-J with
# 10 worked examples per length; a model this small cannot learn in context, so they go into
# its pretraining instead.
#
# 1. data: 50 held-out questions per digit count 1-5; 16,050 training questions (the rest of
#    the 1-digit ones, 4,000 per digit count 2-5); the seed set: every 1-2 digit problem not
#    held out (8,100), worked with the scratchpad, 30% with the answer as a hint (and with
#    SEED=few-shot, 50 of each of 3, 4 and 5 digits, drawn apart from the held-out ones).
# 2. seed: a 0.8M-parameter model (4 layers, hidden 128) pretrained by quietstar-train on the
#    seed set only (it has never seen 3-5 digit sums).
# 3. star: STaR with rationalization and without (16 iterations, 1,000 questions sampled
#    per iteration, 300 steps + 20 per iteration, fine-tuned from the seed model each time).
# 4. direct: the baseline, the seed model fine-tuned on direct answers (no scratchpad) to
#    every training question, for as many steps as the last STaR iteration, evaluated the
#    same way (a STaR run of 0 iterations evaluates a model).
# 5. controls: the seed model fine-tuned on gold scratchpads of every training question (can
#    it learn longer sums at all?), and STaR on the 3-digit questions only (the frontier).
# 6. STaR with --continue-from-previous (with and without rationalization).
# 7. report: tools/results/star_report.py writes docs/results-<name>.json and the plots.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
W=${1:-/tmp/star-addition}
ITERATIONS=${ITERATIONS:-16}
case "${SEED:-1-2}" in
    1-2) SEED_DIGITS=1-2; SEED_COUNTS=8100; NAME=star ;;
    few-shot) SEED_DIGITS=1-5; SEED_COUNTS=8100,8100,50,50,50; NAME=star-fewshot ;;
    *) echo "SEED must be 1-2 or few-shot" >&2; exit 64 ;;
esac
mkdir -p "$W"
swift build -c release --product quietstar-train >&2
swift build -c release --product quietstar-run >&2
# The tools are copied out of .build, so rebuilding the package while this runs changes nothing here.
BIN="$W/bin"
mkdir -p "$BIN"
cp "$ROOT/.build/release/quietstar-train" "$ROOT/.build/release/quietstar-run" "$BIN/"
T="$BIN/quietstar-train"

# 1. data
if [ ! -f "$W/seed.txt" ]; then
    "$T" data addition --digits 1-5 --count 50 --seed 1 -o "$W/eval.jsonl"
    "$T" data addition --digits 1-5 --count 4000 --seed 2 --exclude "$W/eval.jsonl" -o "$W/train.jsonl"
    "$T" data addition --digits 1-5 --count 4000 --seed 2 --exclude "$W/eval.jsonl" --format completions \
        --style direct -o "$W/train-direct.jsonl"
    "$T" data addition --digits 1-2 --count 50 --seed 4 --exclude "$W/eval.jsonl" --format text -o "$W/seed-eval.txt"
    "$T" data addition --digits "$SEED_DIGITS" --count "$SEED_COUNTS" --seed 3 --exclude "$W/eval.jsonl" --format text \
        --hints 0.3 -o "$W/seed.txt"
fi

# 2. the seed model
if [ ! -f "$W/seed.qstar" ]; then
    rm -rf "$W/seed-run"
    "$T" pretrain --data "$W/seed.txt" --eval "$W/seed-eval.txt" -o "$W/seed-run" \
        --layers 4 --hidden 128 --heads 4 --context 320 --batch-size 16 --steps 1200 --warmup 100 --lr 2e-3 \
        --eval-every 300 --checkpoint-every 300 --log-every 100 --threads 2 --seed 3 --export "$W/seed.qstar"
fi

# 3. STaR, with and without rationalization (one thread each, side by side)
star() {   # name, extra flags...
    local name=$1; shift
    if [ -f "$W/$name/star.json" ]; then
        "$T" star --resume "$W/$name" --threads 1 --iterations "$ITERATIONS"
    else
        "$T" star --base "$W/seed.qstar" --train "$W/train.jsonl" --eval "$W/eval.jsonl" -o "$W/$name" \
            --iterations "$ITERATIONS" --sample 1000 --steps 300 --steps-growth 20 --batch-size 8 --lr 5e-4 \
            --warmup 20 --max-tokens 200 --threads 1 --seed 7 "$@"
    fi
}
star star-rationalize > "$W/star-rationalize.log" 2>&1 &
star star-no-rationalize --no-rationalize > "$W/star-no-rationalize.log" 2>&1 &
wait

# 4. the direct-answer baseline: the seed model fine-tuned on every training question's answer
#    alone, for as many steps as the last STaR iteration, evaluated the same way.
STEPS=$((300 + 20 * (ITERATIONS - 1)))
finetune_and_evaluate() {   # name, data, threads[, steps]
    local steps=${4:-$STEPS}
    if [ ! -f "$W/$1.qstar" ]; then
        rm -rf "$W/$1-run"
        "$T" finetune --from "$W/seed.qstar" --data "$2" -o "$W/$1-run" --steps "$steps" --batch-size 8 --lr 5e-4 \
            --warmup 20 --checkpoint-every 0 --log-every 100 --threads "$3" --seed 7 --export "$W/$1.qstar"
    fi
    if [ ! -f "$W/$1-eval/iteration-00/summary.json" ]; then
        rm -rf "$W/$1-eval"
        "$T" star --base "$W/$1.qstar" --train "$W/train.jsonl" --eval "$W/eval.jsonl" -o "$W/$1-eval" \
            --iterations 0 --max-tokens 200 --threads "$3"
    fi
}
finetune_and_evaluate direct "$W/train-direct.jsonl" 2

# 5. controls. Gold scratchpads: the seed model fine-tuned on the true scratchpad of every
#    training question (what STaR would keep if every rationale were right), same steps: can
#    this model learn 3-5 digit sums at all? (Also with 2,000 steps.) Frontier: STaR on the
#    3-digit questions only.
"$T" data addition --digits 1-5 --count 4000 --seed 2 --exclude "$W/eval.jsonl" --format completions \
    -o "$W/train-gold.jsonl" 2>/dev/null
{   # ... and again with 2,000 steps: more supervision than any STaR iteration gets.
    finetune_and_evaluate gold "$W/train-gold.jsonl" 1
    finetune_and_evaluate gold-long "$W/train-gold.jsonl" 1 2000
} > "$W/gold.log" 2>&1 &
"$T" data addition --digits 3 --count 4000 --seed 2 --exclude "$W/eval.jsonl" -o "$W/train-3digit.jsonl" 2>/dev/null
if [ -f "$W/star-frontier/star.json" ]; then
    "$T" star --resume "$W/star-frontier" --threads 1 --iterations "$ITERATIONS"
else
    "$T" star --base "$W/seed.qstar" --train "$W/train-3digit.jsonl" --eval "$W/eval.jsonl" -o "$W/star-frontier" \
        --iterations "$ITERATIONS" --sample 1000 --steps 300 --steps-growth 20 --batch-size 8 --lr 5e-4 \
        --warmup 20 --max-tokens 200 --threads 1 --seed 7
fi > "$W/star-frontier.log" 2>&1
wait

# 6. STaR again, each iteration fine-tuning the previous model (--continue-from-previous)
#    instead of the seed model, with and without rationalization.
star star-continue-rationalize --continue-from-previous > "$W/star-continue-rationalize.log" 2>&1 &
star star-continue-no-rationalize --continue-from-previous --no-rationalize \
    > "$W/star-continue-no-rationalize.log" 2>&1 &
wait

# 7. the report
python3 tools/results/star_report.py "$W" --name "$NAME"
