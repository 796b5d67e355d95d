#!/usr/bin/env python3
"""The PyTorch baseline of `quietstar-bench train`: the same training step in plain PyTorch on the CPU.

A LLaMA-family decoder written from its definition in torch.nn (token embedding; per block RMSNorm,
q/k/v/o projections without bias, rotate-half rotary embeddings with base 10000, causal softmax
attention through `scaled_dot_product_attention`, grouped key/value heads by repetition, RMSNorm,
SwiGLU FFN; final RMSNorm; LM head tied to the embedding unless --untied), float32. One step is
exactly what quietstar-train does: zero the gradients, forward, mean next-token cross-entropy over
every target, backward, `clip_grad_norm_(1.0)`, AdamW (betas 0.9/0.95, eps 1e-8, weight decay 0.1
on matrices and embeddings, none on norm gains). Inputs are random token ids.

Prints one JSON line on stdout (notes on stderr). `quietstar-bench train --pytorch PYTHON` runs
this with its own shapes and thread count and prints both lines and the ratio:

    python3 -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install -r tools/reference/requirements.txt
    /tmp/torchenv/bin/python tools/bench_train_torch.py --threads 2
"""
import argparse
import json
import math
import os
import resource
import statistics
import sys
import time

import torch
import torch.nn.functional as F


class RMSNorm(torch.nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class Block(torch.nn.Module):
    def __init__(self, a):
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = a.heads, a.kv_heads, a.hidden // a.heads
        self.attn_norm = RMSNorm(a.hidden, a.eps)
        self.q = torch.nn.Linear(a.hidden, a.heads * self.head_dim, bias=False)
        self.k = torch.nn.Linear(a.hidden, a.kv_heads * self.head_dim, bias=False)
        self.v = torch.nn.Linear(a.hidden, a.kv_heads * self.head_dim, bias=False)
        self.o = torch.nn.Linear(a.heads * self.head_dim, a.hidden, bias=False)
        self.ffn_norm = RMSNorm(a.hidden, a.eps)
        self.gate = torch.nn.Linear(a.hidden, a.ffn, bias=False)
        self.up = torch.nn.Linear(a.hidden, a.ffn, bias=False)
        self.down = torch.nn.Linear(a.ffn, a.hidden, bias=False)

    def forward(self, x, cos, sin):
        b, t, _ = x.shape
        n = self.attn_norm(x)
        q = self.q(n).view(b, t, self.heads, self.head_dim).transpose(1, 2)
        k = self.k(n).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v(n).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if self.kv_heads != self.heads:
            k = k.repeat_interleave(self.heads // self.kv_heads, dim=1)
            v = v.repeat_interleave(self.heads // self.kv_heads, dim=1)
        attn = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        h = x + self.o(attn.transpose(1, 2).reshape(b, t, -1))
        n = self.ffn_norm(h)
        return h + self.down(F.silu(self.gate(n)) * self.up(n))


class Model(torch.nn.Module):
    def __init__(self, a):
        super().__init__()
        self.embedding = torch.nn.Embedding(a.vocab, a.hidden)
        self.blocks = torch.nn.ModuleList(Block(a) for _ in range(a.layers))
        self.norm = RMSNorm(a.hidden, a.eps)
        self.head = None if a.tied else torch.nn.Linear(a.hidden, a.vocab, bias=False)
        d = a.hidden // a.heads
        inv = 1.0 / (10000.0 ** (torch.arange(0, d, 2, dtype=torch.float32) / d))
        angles = torch.outer(torch.arange(a.context, dtype=torch.float32), inv)
        angles = torch.cat((angles, angles), dim=-1)
        self.register_buffer("cos", angles.cos(), persistent=False)
        self.register_buffer("sin", angles.sin(), persistent=False)
        for name, p in self.named_parameters():
            if p.dim() == 2:
                torch.nn.init.normal_(p, std=0.02)

    def forward(self, ids):
        x = self.embedding(ids)
        for block in self.blocks:
            x = block(x, self.cos[: ids.shape[1]], self.sin[: ids.shape[1]])
        x = self.norm(x)
        return x @ self.embedding.weight.T if self.head is None else self.head(x)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--kv-heads", type=int, default=None)
    p.add_argument("--ffn", type=int, default=1376)
    p.add_argument("--vocab", type=int, default=260)
    p.add_argument("--context", type=int, default=256)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--eps", type=float, default=1e-5)
    p.add_argument("--untied", dest="tied", action="store_false")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    a.kv_heads = a.kv_heads or a.heads
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)

    model = Model(a)
    decay = [q for q in model.parameters() if q.dim() >= 2]
    no_decay = [q for q in model.parameters() if q.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                                  lr=3e-4, betas=(0.9, 0.95), eps=1e-8)
    parameters = sum(q.numel() for q in model.parameters())
    generator = torch.Generator().manual_seed(a.seed + 1)

    def step():
        ids = torch.randint(0, a.vocab, (a.batch, a.context), generator=generator)
        optimizer.zero_grad(set_to_none=True)
        logits = model(ids)
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, a.vocab), ids[:, 1:].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        return loss.item()

    for _ in range(a.warmup):
        step()
    times = []
    for _ in range(a.steps):
        t0 = time.perf_counter()
        loss = step()
        times.append(time.perf_counter() - t0)
    median = statistics.median(times)
    tokens = a.batch * a.context
    flops_per_token = 6 * parameters + 12 * a.layers * a.hidden * a.context
    print(json.dumps({
        "bench": "train", "implementation": "pytorch", "torch_version": torch.__version__, "threads": a.threads,
        "layers": a.layers, "hidden": a.hidden, "heads": a.heads, "kv_heads": a.kv_heads, "ffn": a.ffn,
        "vocab": a.vocab, "context": a.context, "batch": a.batch, "tied": a.tied, "parameters": parameters,
        "tokens_per_step": tokens, "step_seconds_median": round(median, 4), "step_seconds_best": round(min(times), 4),
        "tokens_per_second": round(tokens / median, 1),
        "flops_definition": "6 x parameters + 12 x layers x hidden x context per token",
        "gflops_per_second": round(flops_per_token * tokens / median / 1e9, 2),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "final_loss": round(loss, 4),
    }))
    print(f"pytorch train: {tokens / median:.0f} tokens/s", file=sys.stderr)


if __name__ == "__main__":
    main()
