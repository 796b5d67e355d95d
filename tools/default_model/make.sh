#!/usr/bin/env bash
# Re-creates the bundled default model, fixtures/default/quietstar-arithmetic.qstar, from
# scratch with this repository's own tools, deterministically (fixed seeds and thread counts):
#
#   1. pretrain a 4.8M-parameter LLaMA-style model (6 layers, hidden 256, byte tokenizer) on the
#      generated arithmetic corpus fixtures/corpus/arithmetic-train.txt (CC0; one statement
#      such as "417 + 86 = 503" per line), 1300 steps;
#   2. Quiet-STaR: train thought embeddings and the mixing head on the same corpus, the base
#      frozen (k = 4 thought tokens, lookahead 4, 2 thoughts per position), 500 steps;
#   3. store it as f16 (9.7 MB) and verify it.
#
#   bash tools/default_model/make.sh [WORKDIR]      (about 35 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
W=${1:-/tmp/qs-default}   # provenance.source in the file names $W/base.qstar
mkdir -p "$W"
swift build -c release --product quietstar-train >&2
swift build -c release --product quietstar-convert >&2
swift build -c release --product quietstar-inspect >&2
BIN="$W/bin"
mkdir -p "$BIN"
cp "$ROOT/.build/release/quietstar-train" "$ROOT/.build/release/quietstar-convert" "$ROOT/.build/release/quietstar-inspect" "$BIN/"
DATA=fixtures/corpus/arithmetic-train.txt
EVAL=fixtures/corpus/arithmetic-eval.txt

if [ ! -f "$W/base.qstar" ]; then
    rm -rf "$W/base-run"
    "$BIN/quietstar-train" pretrain --data "$DATA" --eval "$EVAL" --delimiter '\n' -o "$W/base-run" \
        --layers 6 --hidden 256 --heads 4 --ffn 688 --context 256 --steps 1300 --warmup 50 --lr 1e-3 \
        --threads 2 --seed 0 --name quietstar-arithmetic --log-every 100 --export "$W/base.qstar"
fi
if [ ! -f "$W/thoughts.qstar" ]; then
    rm -rf "$W/thoughts-run"
    "$BIN/quietstar-train" quietstar --from "$W/base.qstar" --data "$DATA" --eval "$EVAL" --delimiter '\n' \
        --thought-tokens 4 --lookahead 4 --thoughts-per-position 2 --batch-size 1 --steps 500 --warmup 20 \
        --lr 1e-3 --train thoughts --threads 2 --seed 3 --eval-every 100 --log-every 50 -o "$W/thoughts-run" \
        --export "$W/thoughts.qstar"
fi
mkdir -p fixtures/default
"$BIN/quietstar-convert" recode "$W/thoughts.qstar" --dtype f16 -o fixtures/default/quietstar-arithmetic.qstar
"$BIN/quietstar-inspect" --verify fixtures/default/quietstar-arithmetic.qstar
