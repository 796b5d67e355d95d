#!/usr/bin/env bash
# Re-creates fixtures/star/adder.qstar, the small model the STaR CLI tests start from: a
# 2-layer, hidden-64 model pretrained by quietstar-train on worked 1- and 2-digit additions
# (half of them with the answer given as a hint), so it adds 1-digit numbers and can use a hint.
# Deterministic (fixed seeds, one thread); about a minute. On its held-out 1-2 digit sums it gets
# every 1-digit one and about a quarter of the 2-digit ones right.
set -euo pipefail
cd "$(dirname "$0")/../.."
# QUIETSTAR_BIN: a folder holding an already built quietstar-train (default: build it here).
if [ -n "${QUIETSTAR_BIN:-}" ]; then T="$QUIETSTAR_BIN/quietstar-train"; else
    swift build -c release --product quietstar-train >&2
    T=.build/release/quietstar-train
fi
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
"$T" data addition --digits 1-2 --count 100,200 --seed 21 --format text --hints 0.5 -o "$W/seed.txt"
"$T" pretrain --data "$W/seed.txt" -o "$W/run" --layers 2 --hidden 64 --heads 2 --ffn 192 --context 128 \
    --batch-size 8 --steps 8000 --warmup 50 --lr 3e-3 --checkpoint-every 0 --log-every 250 --threads 1 --seed 21 \
    --name star-test-adder --export "$W/adder.qstar"
mkdir -p fixtures/star
cp "$W/adder.qstar" fixtures/star/adder.qstar
