"""A plain float64 Llama/Mistral/Qwen2 forward written from the definitions, not from transformers.

It reads config.json (both the transformers-4.x and 5.x layouts) and the safetensors files
directly, and is used two ways: to cross-check every logit transformers produces for the
fixtures (so a wrong HF setting, e.g. a sliding window that is silently ignored, cannot hide in
the references), and as a second implementation of the Quiet-STaR thought pass.

Semantics (the ones the Swift engine must match):
- RMSNorm: x / sqrt(mean(x^2) + eps) * weight.
- RoPE on pairs (d, d + head_dim/2) ("rotate_half"), angle = position * inv_freq[d],
  inv_freq[d] = theta^(-2d/head_dim); linear scaling divides inv_freq by `factor`; llama3
  scaling keeps wavelengths < original/high_freq_factor, divides those > original/low_freq_factor
  by `factor`, and interpolates smoothly in between.
- Attention: causal; with a sliding window W, query i sees keys j with i - W < j <= i
  (W keys including itself). GQA: query head h uses kv head h // (heads / kv_heads).
- MLP: down(silu(gate(x)) * up(x)). Residual around both blocks, final RMSNorm, LM head
  (= embedding matrix when tied).
"""
import json
import math
import pathlib

import torch
from safetensors.torch import load_file


class Config:
    def __init__(self, folder):
        c = json.loads((pathlib.Path(folder) / "config.json").read_text())
        self.raw = c
        self.model_type = c["model_type"]
        self.hidden = c["hidden_size"]
        self.heads = c["num_attention_heads"]
        self.kv_heads = c.get("num_key_value_heads") or self.heads
        self.head_dim = c.get("head_dim") or self.hidden // self.heads
        self.layers = c["num_hidden_layers"]
        self.eps = c["rms_norm_eps"]
        self.vocab = c["vocab_size"]
        self.tied = c.get("tie_word_embeddings", False)
        # transformers 5 writes rope_parameters (theta inside); 4.x wrote rope_theta + rope_scaling.
        rope = dict(c.get("rope_parameters") or {})
        if not rope:
            rope = dict(c.get("rope_scaling") or {})
            rope["rope_theta"] = c.get("rope_theta", 10000.0)
        rope.setdefault("rope_type", rope.get("type", "default"))
        self.rope = rope
        window = c.get("sliding_window")
        if self.model_type == "qwen2" and not c.get("use_sliding_window", False):
            window = None
        self.sliding_window = window


def inv_freq(cfg):
    d = cfg.head_dim
    theta = float(cfg.rope["rope_theta"])
    f = torch.tensor([theta ** (-2.0 * i / d) for i in range(d // 2)], dtype=torch.float64)
    kind = cfg.rope["rope_type"]
    if kind == "default":
        return f
    if kind == "linear":
        return f / float(cfg.rope["factor"])
    if kind == "llama3":
        factor = float(cfg.rope["factor"])
        low, high = float(cfg.rope["low_freq_factor"]), float(cfg.rope["high_freq_factor"])
        old = float(cfg.rope["original_max_position_embeddings"])
        out = []
        for x in f.tolist():
            wavelen = 2 * math.pi / x
            if wavelen < old / high:
                out.append(x)
            elif wavelen > old / low:
                out.append(x / factor)
            else:
                s = (old / wavelen - low) / (high - low)
                out.append((1 - s) * x / factor + s * x)
        return torch.tensor(out, dtype=torch.float64)
    raise ValueError(f"rope_type {kind} not supported")


def load_weights(folder):
    folder = pathlib.Path(folder)
    index = folder / "model.safetensors.index.json"
    files = sorted(set(json.loads(index.read_text())["weight_map"].values())) if index.exists() else ["model.safetensors"]
    w = {}
    for f in files:
        w.update(load_file(str(folder / f)))
    return {k: v.to(torch.float64) for k, v in w.items()}


class Model:
    def __init__(self, folder):
        self.cfg = Config(folder)
        self.w = load_weights(folder)
        self.inv_freq = inv_freq(self.cfg)

    def embed(self, ids):
        return self.w["model.embed_tokens.weight"][torch.as_tensor(ids)]

    def lm_head(self, h):
        key = "model.embed_tokens.weight" if self.cfg.tied else "lm_head.weight"
        return h @ self.w[key].T

    def _linear(self, x, name):
        y = x @ self.w[name + ".weight"].T
        b = self.w.get(name + ".bias")
        return y if b is None else y + b

    def _norm(self, x, name):
        return x / torch.sqrt((x * x).mean(-1, keepdim=True) + self.cfg.eps) * self.w[name]

    def _rope(self, x, positions):
        # x: [T, n, d]
        ang = positions.to(torch.float64)[:, None] * self.inv_freq[None, :]          # [T, d/2]
        cos, sin = torch.cos(ang)[:, None, :], torch.sin(ang)[:, None, :]
        half = x.shape[-1] // 2
        a, b = x[..., :half], x[..., half:]
        return torch.cat([a * cos - b * sin, b * cos + a * sin], dim=-1)

    def forward(self, embeds, positions=None):
        """embeds [T, H] float64 -> final-norm hidden states [T, H]."""
        c = self.cfg
        T = embeds.shape[0]
        positions = torch.arange(T) if positions is None else torch.as_tensor(positions)
        i = torch.arange(T)[:, None]
        j = torch.arange(T)[None, :]
        visible = j <= i
        if c.sliding_window is not None:
            visible &= j > i - c.sliding_window
        x = embeds
        group = c.heads // c.kv_heads
        for layer in range(c.layers):
            p = f"model.layers.{layer}."
            h = self._norm(x, p + "input_layernorm.weight")
            q = self._linear(h, p + "self_attn.q_proj").view(T, c.heads, c.head_dim)
            k = self._linear(h, p + "self_attn.k_proj").view(T, c.kv_heads, c.head_dim)
            v = self._linear(h, p + "self_attn.v_proj").view(T, c.kv_heads, c.head_dim)
            q, k = self._rope(q, positions), self._rope(k, positions)
            heads = []
            for hh in range(c.heads):
                kv = hh // group
                s = (q[:, hh, :] @ k[:, kv, :].T) / math.sqrt(c.head_dim)
                s = s.masked_fill(~visible, float("-inf"))
                heads.append(torch.softmax(s, dim=-1) @ v[:, kv, :])
            x = x + self._linear(torch.cat(heads, dim=-1), p + "self_attn.o_proj")
            h = self._norm(x, p + "post_attention_layernorm.weight")
            gate = self._linear(h, p + "mlp.gate_proj")
            x = x + self._linear(torch.nn.functional.silu(gate) * self._linear(h, p + "mlp.up_proj"), p + "mlp.down_proj")
        return self._norm(x, "model.norm.weight")

    def logits(self, ids):
        return self.lm_head(self.forward(self.embed(ids)))
