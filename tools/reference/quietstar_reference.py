#!/usr/bin/env python3
"""Independent, sequential Quiet-STaR reference for fixtures/hf/quietstar-mistral.

Written from the semantics in docs (notes/quiet-star.md), not from any parallel algorithm: every
thought is built by literally inserting it into the text and re-running the whole sequence.

For position i of a text x_0..x_{n-1}:
  1. Inline sequence x_0..x_i, START, c_1..c_k, END, positions 0..i+k+2. START and END are
     fed as inputs_embeds: start_embedding[0] * 100 and end_embedding[0] * 100 (not table rows).
  2. c_j = argmax of the LM head at the previous position of that same sequence (START's for
     c_1), with <|startthought|> and <|endthought|> set to -inf. Greedy, so the reference is
     deterministic; the released code samples at temperature 1.
  3. h_base = final-norm hidden state at position i of the plain pass over the text;
     h_thought = final-norm hidden state at the END position.
  4. w = talk_head(concat(h_base, h_thought)): Linear(2H->H), ReLU, Linear(H->H), ReLU,
     Linear(H->1, no bias); no sigmoid, no clamp.
  5. mixed logits = lm_head((1 - w) h_base + w h_thought).
Generation with thoughts: at each step think after the current last token (same procedure),
take argmax of the mixed logits with the two thought ids masked, append it, repeat.

Everything runs in float64 (the float32 weights upcast exactly) through tiny_transformer.py.
transformers cannot be the float64 engine: even with dtype=float64 its RMSNorm and RoPE compute
in float32 (about 1e-6 off). Every forward is still repeated by transformers
(MistralForCausalLM, eager, inputs_embeds, explicit position_ids) and must agree to 1e-4; the
largest difference is recorded.

    /tmp/refenv/bin/python tools/reference/quietstar_reference.py
"""
import json
import pathlib
import sys

import torch
import transformers
from safetensors.torch import load_file
from tokenizers import Tokenizer
from transformers import MistralForCausalLM

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import tiny_transformer  # noqa: E402

torch.set_num_threads(1)
transformers.logging.set_verbosity_error()
ROOT = pathlib.Path(__file__).resolve().parents[2]
FOLDER = ROOT / "fixtures" / "hf" / "quietstar-mistral"
OUT = ROOT / "fixtures" / "reference" / "quietstar-mistral.thoughts.json"

EMBEDDING_SCALE = 100.0
THOUGHT_LENGTHS = [3, 5]          # k = content tokens between START and END (n_ahead = k + 3)
TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "def add(a, b):\n    return a + b",
    "2 + 3 = 5, so 5 - 3 = 2.",
]
PROMPTS = ["Once upon a time", "x = 1\ny ="]
NEW_TOKENS = 8


class QuietStar:
    def __init__(self):
        self.hf = MistralForCausalLM.from_pretrained(FOLDER, dtype=torch.float64, attn_implementation="eager").eval()
        self.plain = tiny_transformer.Model(FOLDER)
        extra = {k: v.to(torch.float64) for k, v in load_file(str(FOLDER / "model.safetensors")).items()}
        self.start = extra["start_embedding"][0] * EMBEDDING_SCALE
        self.end = extra["end_embedding"][0] * EMBEDDING_SCALE
        self.head = [(extra["talk_head.0.0.weight"], extra["talk_head.0.0.bias"]),
                     (extra["talk_head.0.2.weight"], extra["talk_head.0.2.bias"]),
                     (extra["talk_head.0.4.weight"], None)]
        self.tok = Tokenizer.from_file(str(FOLDER / "tokenizer.json"))
        self.start_id = self.tok.token_to_id("<|startthought|>")
        self.end_id = self.tok.token_to_id("<|endthought|>")
        self.embed_table = self.hf.model.embed_tokens.weight.detach()
        self.worst_impl_diff = 0.0

    @torch.no_grad()
    def hidden(self, embeds):
        """Final-norm hidden states of a whole sequence given as input embeddings [T, H]."""
        T = embeds.shape[0]
        exact = self.plain.forward(embeds, torch.arange(T))
        hf = self.hf.model(inputs_embeds=embeds[None], position_ids=torch.arange(T)[None], use_cache=False)
        diff = float((hf.last_hidden_state[0] - exact).abs().max())
        self.worst_impl_diff = max(self.worst_impl_diff, diff)
        assert diff < 1e-4, diff
        return exact

    def lm_head(self, h):
        return h @ self.hf.lm_head.weight.detach().T

    def masked(self, logits):
        logits = logits.clone()
        logits[..., [self.start_id, self.end_id]] = float("-inf")
        return logits

    @staticmethod
    def top2(logits):
        top = torch.topk(logits, 2)
        return int(top.indices[0]), float(top.values[0] - top.values[1])

    def think(self, prefix, k):
        """Thought after the last token of `prefix`: content ids, their argmax margins, h_thought."""
        embeds = torch.cat([self.embed_table[torch.tensor(prefix)], self.start[None]])
        content, margins = [], []
        for _ in range(k):
            c, m = self.top2(self.masked(self.lm_head(self.hidden(embeds)[-1])))
            content.append(c)
            margins.append(m)
            embeds = torch.cat([embeds, self.embed_table[c][None]])
        embeds = torch.cat([embeds, self.end[None]])
        return content, margins, self.hidden(embeds)[-1]

    def mix_weight(self, h_base, h_thought):
        x = torch.cat([h_base, h_thought])
        for n, (weight, bias) in enumerate(self.head):
            x = weight @ x + (bias if bias is not None else 0)
            if n < 2:
                x = torch.relu(x)
        return float(x[0])

    def step(self, ids, i, k, h_base):
        content, margins, h_thought = self.think(ids[: i + 1], k)
        w = self.mix_weight(h_base, h_thought)
        base = self.lm_head(h_base)
        thought = self.lm_head(h_thought)
        mixed = self.lm_head((1 - w) * h_base + w * h_thought)
        # The LM head has no bias, so mixing hidden states = mixing logits.
        assert float((mixed - ((1 - w) * base + w * thought)).abs().max()) < 1e-9
        return content, margins, w, base, thought, mixed


def logprob(logits, target):
    return float(torch.log_softmax(logits, dim=-1)[target])


def score_text(qs, text, k):
    ids = qs.tok.encode(text).ids
    h_plain = qs.hidden(qs.embed_table[torch.tensor(ids)])
    positions = []
    for i in range(len(ids)):
        content, margins, w, base, thought, mixed = qs.step(ids, i, k, h_plain[i])
        nxt = ids[i + 1] if i + 1 < len(ids) else None
        best, best_margin = qs.top2(qs.masked(mixed))
        positions.append({
            "position": i,
            "thought_ids": content,
            "thought_argmax_margins": margins,
            "w": w,
            "next_id": nxt,
            "base_logprob": logprob(base, nxt) if nxt is not None else None,
            "thought_logprob": logprob(thought, nxt) if nxt is not None else None,
            "mixed_logprob": logprob(mixed, nxt) if nxt is not None else None,
            "mixed_argmax": best,
            "mixed_argmax_margin": best_margin,
        })
    scored = positions[:-1]
    return {"text": text, "ids": ids, "k": k, "positions": positions,
            "sum_base_logprob": sum(p["base_logprob"] for p in scored),
            "sum_mixed_logprob": sum(p["mixed_logprob"] for p in scored)}


def generate(qs, prompt, k):
    ids = qs.tok.encode(prompt).ids
    prompt_len = len(ids)
    steps = []
    for _ in range(NEW_TOKENS):
        h_base = qs.hidden(qs.embed_table[torch.tensor(ids)])[-1]
        content, margins, w, base, thought, mixed = qs.step(ids, len(ids) - 1, k, h_base)
        token, margin = qs.top2(qs.masked(mixed))
        steps.append({"thought_ids": content, "thought_argmax_margins": margins, "w": w, "token": token,
                      "token_margin": margin, "mixed_logprob": logprob(mixed, token),
                      "base_argmax": qs.top2(qs.masked(base))[0]})
        ids = ids + [token]
    return {"prompt": prompt, "prompt_ids": ids[:prompt_len], "k": k, "new_ids": ids[prompt_len:],
            "output_ids": ids, "steps": steps}


def main():
    qs = QuietStar()
    scoring = [score_text(qs, t, k) for k in THOUGHT_LENGTHS for t in TEXTS]
    generation = [generate(qs, p, k) for k in THOUGHT_LENGTHS for p in PROMPTS]
    margins = [m for s in scoring for p in s["positions"] for m in p["thought_argmax_margins"]]
    margins += [m for g in generation for s in g["steps"] for m in s["thought_argmax_margins"] + [s["token_margin"]]]
    ws = [p["w"] for s in scoring for p in s["positions"]]
    doc = {
        "model": "quietstar-mistral",
        "hf_folder": "fixtures/hf/quietstar-mistral",
        "dtype": "float64 (tiny_transformer.py; float32 weights upcast exactly); every forward also run by transformers (float64 weights, float32 norm/RoPE internals) and compared",
        "embedding_scale": EMBEDDING_SCALE,
        "start_thought_id": qs.start_id,
        "end_thought_id": qs.end_id,
        "semantics": (
            "Per position i: inline sequence x_0..x_i, START, c_1..c_k, END at positions 0..i+k+2; START/END "
            "inputs = start_embedding[0]*100, end_embedding[0]*100; c_j = argmax of the LM head at the previous "
            "position of the same sequence with the two thought ids at -inf; h_base = final-norm hidden at i of "
            "the plain pass; h_thought = final-norm hidden at END; w = talk_head(concat(h_base, h_thought)) "
            "(Linear 2H->H, ReLU, Linear H->H, ReLU, Linear H->1 no bias, no sigmoid); mixed logits = "
            "lm_head((1-w) h_base + w h_thought). *_logprob = log_softmax over the full vocabulary (no masking) "
            "of x_{i+1}; null at the last position. mixed_argmax masks the two thought ids. Generation: think "
            "after the last token, append argmax of the masked mixed logits, repeat."),
        "stats": {"min_argmax_margin": min(margins), "w_min": min(ws), "w_max": max(ws),
                  "w_mean": sum(ws) / len(ws), "max_abs_hidden_diff_hf_vs_tiny_transformer": qs.worst_impl_diff},
        "scoring": scoring,
        "generation": generation,
    }
    OUT.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(json.dumps(doc["stats"]))


if __name__ == "__main__":
    main()
