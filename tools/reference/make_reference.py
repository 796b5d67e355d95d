#!/usr/bin/env python3
"""Plain (thought-free) reference outputs of every fixtures/hf/ model, from transformers.

For each model folder writes fixtures/reference/<model>.json and <model>.logits.f32:
token ids of a few texts (the folder's tokenizer.json through `tokenizers`, default
add_special_tokens=True), the full float32 logits at every position (little-endian f32,
row-major, texts one after the other), the log-prob of each next token, and greedy generation.

Settings: AutoModelForCausalLM.from_pretrained(folder, dtype=float32, attn_implementation=
"eager"), model.eval(), torch.no_grad(), one thread. bf16 weights are upcast to f32 exactly.
Every logit is cross-checked against tiny_transformer.py (float64, written from the
definitions) and the largest difference is recorded in the JSON (max_abs_logit_diff), as are
the differences between two HF runs, between the eager and sdpa attention paths and between a
single text and a right-padded batch. feature_sensitivity records how far the logits move when
a feature is switched off in the float64 model (sliding window, RoPE scaling, biases), so a
fixture cannot pass an engine that ignores it.

    /tmp/refenv/bin/python tools/reference/make_reference.py
"""
import json
import pathlib
import struct
import sys

import numpy as np
import torch
import tokenizers
import transformers
from tokenizers import Tokenizer
from transformers import AutoModelForCausalLM, GenerationConfig

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import tiny_transformer  # noqa: E402

torch.set_num_threads(1)
transformers.logging.set_verbosity_error()
ROOT = pathlib.Path(__file__).resolve().parents[2]
HF = ROOT / "fixtures" / "hf"
OUT = ROOT / "fixtures" / "reference"

MODELS = ["llama-tied", "llama-untied", "llama-sharded", "llama-bf16", "llama3", "mistral", "qwen2",
          "quietstar-mistral"]
# 20-35 tokens each with these tiny vocabularies: longer than the Mistral window (8); the third
# goes through byte fallback / multi-byte byte-level tokens.
TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "def add(a, b):\n    return a + b",
    "Café au lait, 北京, 😀 and 12345!",
    "It's what they'd said: models think before speaking.",
]
PROMPTS = ["Once upon a time", "x = 1\ny ="]
NEW_TOKENS = 12


def f32(x):
    """A float32 value as the JSON number that reads back to the same float32."""
    return float(np.float32(x))


def load(name):
    return AutoModelForCausalLM.from_pretrained(HF / name, dtype=torch.float32, attn_implementation="eager").eval()


@torch.no_grad()
def generate(model, ids):
    # EOS must not stop the run: a tiny random model emits it by chance, and a fixed length
    # keeps the fixture simple. eos_token_id=None turns stopping off; nothing else changes argmax.
    cfg = GenerationConfig(do_sample=False, max_new_tokens=NEW_TOKENS, eos_token_id=None, pad_token_id=0,
                           bos_token_id=None)
    out = model.generate(torch.tensor([ids]), generation_config=cfg, attention_mask=torch.ones(1, len(ids), dtype=torch.long))
    return out[0, len(ids):].tolist()


def margin(logits):
    top = torch.topk(logits.to(torch.float64), 2).values
    return float(top[0] - top[1])


def sensitivity(name):
    """How much the logits move when one feature of the model is switched off (float64): proof
    that the fixture exercises it, so an engine that ignores it cannot pass. Recorded in JSON."""
    def moved(mutate):
        m = tiny_transformer.Model(HF / name)
        ids = Tokenizer.from_file(str(HF / name / "tokenizer.json")).encode(TEXTS[3]).ids
        before = m.logits(ids)
        mutate(m)
        m.inv_freq = tiny_transformer.inv_freq(m.cfg)
        return float((m.logits(ids) - before).abs().max())

    def rope(**changes):
        return lambda m: setattr(m.cfg, "rope", dict(m.cfg.rope, **changes))

    def no_bias(m):
        m.w = {k: (v * 0 if k.endswith(".bias") else v) for k, v in m.w.items()}

    checks = {
        "mistral": {"sliding_window_none": lambda m: setattr(m.cfg, "sliding_window", None),
                    "sliding_window_plus_1": lambda m: setattr(m.cfg, "sliding_window", 9),
                    "sliding_window_minus_1": lambda m: setattr(m.cfg, "sliding_window", 7)},
        "llama-untied": {"no_linear_scaling": rope(rope_type="default")},
        "llama3": {"no_llama3_scaling": rope(rope_type="default"),
                   "original_max_position_embeddings_32": rope(original_max_position_embeddings=32)},
        "qwen2": {"zero_qkv_biases": no_bias},
    }.get(name, {})
    out = {key: moved(f) for key, f in checks.items()}
    for key, value in out.items():
        assert value > 1.0, (name, key, value)
    return out


def reference(name):
    model = load(name)
    sdpa = AutoModelForCausalLM.from_pretrained(HF / name, dtype=torch.float32, attn_implementation="sdpa").eval()
    tok = Tokenizer.from_file(str(HF / name / "tokenizer.json"))
    auto_tok = transformers.AutoTokenizer.from_pretrained(HF / name)
    exact = tiny_transformer.Model(HF / name)
    blob = bytearray()
    texts, worst = [], {"vs_float64": 0.0, "rerun": 0.0, "vs_sdpa": 0.0, "vs_batched": 0.0}
    with torch.no_grad():
        batch_ids = [tok.encode(t).ids for t in TEXTS]
        for text, ids in zip(TEXTS, batch_ids):
            assert auto_tok(text)["input_ids"] == ids, (name, text)
            x = torch.tensor([ids])
            logits = model(x).logits[0]
            worst["rerun"] = max(worst["rerun"], float((model(x).logits[0] - logits).abs().max()))
            worst["vs_sdpa"] = max(worst["vs_sdpa"], float((sdpa(x).logits[0] - logits).abs().max()))
            ref = exact.logits(ids)
            worst["vs_float64"] = max(worst["vs_float64"], float((ref - logits.double()).abs().max()))
            logp = torch.log_softmax(logits, dim=-1)
            offset = len(blob) // 4
            blob += struct.pack(f"<{logits.numel()}f", *logits.flatten().tolist())
            texts.append({
                "text": text,
                "ids": ids,
                "logits_offset": offset,
                "logits_shape": list(logits.shape),
                "next_token_logprobs": [f32(logp[i, ids[i + 1]]) for i in range(len(ids) - 1)],
                "argmax": logits.argmax(-1).tolist(),
                "argmax_margin": [margin(logits[i]) for i in range(len(ids))],
            })
        # The same texts as one right-padded batch: position-wise logits must not depend on it.
        T = max(len(i) for i in batch_ids)
        padded = torch.tensor([i + [0] * (T - len(i)) for i in batch_ids])
        mask = torch.tensor([[1] * len(i) + [0] * (T - len(i)) for i in batch_ids])
        batched = model(padded, attention_mask=mask).logits
        for b, (ids, entry) in enumerate(zip(batch_ids, texts)):
            single = torch.tensor(np.frombuffer(bytes(blob), dtype="<f4")[entry["logits_offset"]:
                                  entry["logits_offset"] + len(ids) * entry["logits_shape"][1]]).view(len(ids), -1)
            worst["vs_batched"] = max(worst["vs_batched"], float((batched[b, :len(ids)] - single).abs().max()))

    generations = []
    for prompt in PROMPTS:
        ids = tok.encode(prompt).ids
        new = generate(model, ids)
        # Independent check: greedy decoding by full recomputation in float64.
        seq, margins = list(ids), []
        for step in range(NEW_TOKENS):
            row = exact.logits(seq)[-1]
            margins.append(margin(row))
            seq.append(int(row.argmax()))
        agrees = seq[len(ids):] == new
        assert agrees or min(margins) < 1e-4, (name, prompt, new, seq[len(ids):])
        generations.append({"prompt": prompt, "prompt_ids": ids, "new_ids": new, "output_ids": ids + new,
                            "decoded": tok.decode(ids + new, skip_special_tokens=False),
                            "eos_in_output": model.config.eos_token_id in new,
                            "float64_greedy_agrees": agrees, "argmax_margin": margins})
    for key, value in worst.items():
        assert value < 2e-4, (name, key, value)

    (OUT / f"{name}.logits.f32").write_bytes(bytes(blob))
    doc = {
        "model": name,
        "hf_folder": f"fixtures/hf/{name}",
        "logits_file": f"{name}.logits.f32",
        "logits_format": "little-endian float32, row-major [T, vocab] per text at logits_offset (in floats)",
        "vocab_size": model.config.vocab_size,
        "dtype": "float32",
        "settings": ("AutoModelForCausalLM.from_pretrained(dtype=float32, attn_implementation='eager'), eval, "
                     "no_grad; ids = tokenizers.Tokenizer(tokenizer.json).encode(text) (add_special_tokens=True); "
                     "next_token_logprobs[i] = log_softmax(logits[i])[ids[i+1]] in float32; generation = "
                     f"generate(do_sample=False, max_new_tokens={NEW_TOKENS}) with EOS stopping disabled"),
        "versions": {"torch": torch.__version__.split("+")[0], "transformers": transformers.__version__,
                     "tokenizers": tokenizers.__version__},
        "max_abs_logit_diff": worst,
        "feature_sensitivity": sensitivity(name),
        "texts": texts,
        "generation": generations,
    }
    (OUT / f"{name}.json").write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return worst


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for name in MODELS:
        worst = reference(name)
        print(name, {k: f"{v:.2e}" for k, v in worst.items()})


if __name__ == "__main__":
    main()
