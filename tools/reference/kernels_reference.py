#!/usr/bin/env python3
"""Reference outputs for QuietStarKernels, from numpy/PyTorch (float64 where we compute, and
transformers' own code for rotary embeddings).

Writes fixtures/kernels/reference.json (parameters of every case and an index of named arrays)
and fixtures/kernels/reference.bin (the arrays, little-endian, concatenated). Deterministic:
rerunning reproduces the same bytes.

    /tmp/refenv/bin/python tools/reference/kernels_reference.py   # or any env from requirements.txt

Conventions match the Swift kernels: row-major activations, nn.Linear weights [out, in], Q8_0 rows
of 34-byte blocks (f16 scale, 32 int8), rotary in the rotate_half convention. Backward references
are torch autograd gradients of sum(dy * f(x)) for a random upstream dy.
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "fixtures", "kernels")
torch.set_default_dtype(torch.float64)


class Store:
    """Named arrays in one binary blob plus a JSON index."""

    def __init__(self):
        self.blob = bytearray()
        self.index = {}
        self.cases = {}

    def add(self, name, array):
        a = np.ascontiguousarray(array)
        if a.dtype == np.float64:
            a = a.astype(np.float32)
        kind = {np.dtype(np.float32): "f32", np.dtype(np.int32): "i32", np.dtype(np.uint8): "u8"}[a.dtype]
        assert name not in self.index, name
        while len(self.blob) % 16:
            self.blob.append(0)
        self.index[name] = {"dtype": kind, "shape": list(a.shape), "offset": len(self.blob), "bytes": a.nbytes}
        self.blob += a.astype(a.dtype.newbyteorder("<")).tobytes()
        return name

    def case(self, name, **params):
        assert name not in self.cases, name
        self.cases[name] = params

    def write(self):
        os.makedirs(OUT, exist_ok=True)
        with open(os.path.join(OUT, "reference.bin"), "wb") as f:
            f.write(bytes(self.blob))
        with open(os.path.join(OUT, "reference.json"), "w") as f:
            json.dump({"generator": "tools/reference/kernels_reference.py", "cases": self.cases,
                       "arrays": self.index}, f, indent=1, sort_keys=True)
            f.write("\n")


def t(a):
    return torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=True)


def f32(a):
    return np.asarray(a, dtype=np.float32)


# ---------------------------------------------------------------- weight encodings

def encode_f16(w):
    return f32(w).astype(np.float16).view(np.uint8).reshape(w.shape[0], -1), f32(w).astype(np.float16).astype(np.float64)


def encode_bf16(w):
    bits = f32(w).view(np.uint32).astype(np.uint64)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
    decoded = (rounded.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    return rounded.view(np.uint8).reshape(w.shape[0], -1), decoded


def encode_q8_0(w):
    rows, cols = w.shape
    assert cols % 32 == 0
    blocks = f32(w).reshape(rows, cols // 32, 32)
    amax = np.abs(blocks).max(axis=2)
    d = (amax / 127).astype(np.float16)
    dd = d.astype(np.float32)
    inv = np.where(dd > 0, 1 / np.where(dd > 0, dd, 1), 0)
    q = np.clip(np.rint(blocks * inv[..., None]), -127, 127).astype(np.int8)
    raw = np.zeros((rows, cols // 32, 34), dtype=np.uint8)
    raw[:, :, 0:2] = d.view(np.uint8).reshape(rows, cols // 32, 2)
    raw[:, :, 2:] = q.view(np.uint8)
    decoded = (dd[..., None].astype(np.float64) * q.astype(np.float64)).reshape(rows, cols)
    return raw.reshape(rows, -1), decoded


def encode(w, dtype):
    if dtype == "f32":
        return f32(w).view(np.uint8).reshape(w.shape[0], -1), f32(w).astype(np.float64)
    return {"f16": encode_f16, "bf16": encode_bf16, "q8_0": encode_q8_0}[dtype](w)


# ---------------------------------------------------------------- cases

def rmsnorm(s, rng):
    for name, rows, dim in (("rmsnorm_64", 5, 64), ("rmsnorm_37", 3, 37)):
        x = rng.normal(0, 2, (rows, dim))
        w = rng.normal(1, 0.3, dim)
        dy = rng.normal(0, 1, (rows, dim))
        eps = 1e-5
        xt, wt = t(x), t(w)
        rstd = torch.rsqrt(xt.pow(2).mean(-1, keepdim=True) + eps)
        y = xt * rstd * wt
        (y * torch.tensor(dy)).sum().backward()
        s.case(name, rows=rows, dim=dim, eps=eps)
        s.add(f"{name}/x", x); s.add(f"{name}/weight", w); s.add(f"{name}/dy", dy)
        s.add(f"{name}/y", y.detach()); s.add(f"{name}/rstd", rstd.detach().reshape(rows))
        s.add(f"{name}/dx", xt.grad); s.add(f"{name}/dweight", wt.grad)


def rotary(s, rng):
    from transformers import LlamaConfig
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding, apply_rotary_pos_emb

    configs = {
        "rope_default": (64, 2048, {"rope_type": "default", "rope_theta": 10000.0}, {}),
        "rope_linear": (64, 4096, {"rope_type": "linear", "rope_theta": 10000.0, "factor": 4.0}, {"factor": 4.0}),
        "rope_llama3": (64, 131072, {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0,
                                     "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                     "original_max_position_embeddings": 8192},
                        {"factor": 8.0, "lowFreqFactor": 1.0, "highFreqFactor": 4.0, "originalContext": 8192}),
        "rope_dynamic": (64, 2048, {"rope_type": "dynamic", "rope_theta": 10000.0, "factor": 2.0},
                         {"factor": 2.0, "originalContext": 2048}),
    }
    positions = np.array([0, 1, 7, 100, 2047, 4999], dtype=np.int32)
    for name, (head_dim, max_pos, params, scaling) in configs.items():
        config = LlamaConfig(hidden_size=head_dim * 4, num_attention_heads=4, max_position_embeddings=max_pos,
                             rope_parameters=params)
        rope = LlamaRotaryEmbedding(config)
        # HF's dynamic type grows its base when it first sees position 4999 (seq_len 5000); the
        # Swift table is built for maxPosition = 5000 to match.
        cos, sin = rope(torch.zeros(1, dtype=torch.float32), torch.tensor(positions[None].astype(np.int64)))
        inv = rope.inv_freq.detach().numpy()
        heads, rows = 3, len(positions)
        row_stride = heads * head_dim + 8  # rows padded, as a fused QKV buffer would be
        x = rng.normal(0, 1, (rows, row_stride))
        dy = rng.normal(0, 1, (rows, heads, head_dim))
        xt = t(x[:, :heads * head_dim].reshape(rows, heads, head_dim))
        c = torch.tensor(cos[0].numpy().astype(np.float64))[:, None, :]
        sn = torch.tensor(sin[0].numpy().astype(np.float64))[:, None, :]
        y, _ = apply_rotary_pos_emb(xt, xt, c, sn, unsqueeze_dim=0)
        (y * torch.tensor(dy)).sum().backward()
        s.case(name, headDim=head_dim, theta=params["rope_theta"], ropeType=params["rope_type"],
               scaling=scaling, maxPosition=5000, heads=heads, rows=rows, rowStride=row_stride)
        s.add(f"{name}/inv_freq", inv)
        s.add(f"{name}/positions", positions)
        s.add(f"{name}/cos", cos[0].numpy()[:, :head_dim // 2])
        s.add(f"{name}/sin", sin[0].numpy()[:, :head_dim // 2])
        s.add(f"{name}/x", x)
        s.add(f"{name}/y", y.detach().reshape(rows, heads * head_dim))
        s.add(f"{name}/dy", dy.reshape(rows, heads * head_dim))
        s.add(f"{name}/dx", xt.grad.reshape(rows, heads * head_dim))


def swiglu(s, rng):
    n = 203
    g = rng.normal(0, 3, n)
    g[:6] = [-100, -30, -10, 10, 30, 100]
    u = rng.normal(0, 1, n)
    dy = rng.normal(0, 1, n)
    gt, ut = t(g), t(u)
    y = F.silu(gt) * ut
    (y * torch.tensor(dy)).sum().backward()
    s.case("swiglu", count=n)
    for k, v in (("gate", g), ("up", u), ("dy", dy), ("y", y.detach()), ("dgate", gt.grad), ("dup", ut.grad)):
        s.add(f"swiglu/{k}", v)


def softmax(s, rng):
    rows, cols = 4, 67
    x = rng.normal(0, 3, (rows, cols))
    x[1, :5] = -np.inf          # masked entries
    x[2, 10] = 80.0              # large values: must not overflow
    x[2, 11] = 79.0
    dy = rng.normal(0, 1, (rows, cols))
    for name, fn in (("softmax", lambda v: torch.softmax(v, -1)), ("log_softmax", lambda v: torch.log_softmax(v, -1))):
        xt = t(x)
        y = fn(xt)
        dyt = torch.tensor(dy)
        # -inf * 0 would poison the sum for log_softmax; masked entries get no upstream gradient.
        mask = torch.isfinite(y)
        (torch.where(mask, y, torch.zeros_like(y)) * torch.where(mask, dyt, torch.zeros_like(dyt))).sum().backward()
        s.case(name, rows=rows, cols=cols)
        dy_used = np.where(mask.numpy(), dy, 0)
        s.add(f"{name}/x", x); s.add(f"{name}/y", y.detach()); s.add(f"{name}/dy", dy_used)
        s.add(f"{name}/dx", xt.grad)


def cross_entropy(s, rng):
    rows, vocab = 5, 103
    logits = rng.normal(0, 4, (rows, vocab))
    logits[3, 7] = 60.0
    targets = np.array([3, 102, -100, 7, 0], dtype=np.int32)
    dloss = rng.normal(1, 0.5, rows)
    lt = t(logits)
    loss = F.cross_entropy(lt, torch.tensor(targets.astype(np.int64)), reduction="none", ignore_index=-100)
    (loss * torch.tensor(dloss)).sum().backward()
    s.case("cross_entropy", rows=rows, vocab=vocab)
    s.add("cross_entropy/logits", logits); s.add("cross_entropy/targets", targets)
    s.add("cross_entropy/loss", loss.detach()); s.add("cross_entropy/dloss", dloss)
    s.add("cross_entropy/dlogits", lt.grad)
    s.add("cross_entropy/logsumexp", torch.logsumexp(lt.detach(), -1))


def embedding(s, rng):
    vocab, dim = 20, 64
    table = rng.normal(0, 1, (vocab, dim))
    table[3, :32] *= 1e-3    # a block with a tiny scale
    table[4, 32:] = 0        # an all-zero block (scale 0)
    ids = np.array([3, 0, 19, 3, 4, 11, 3], dtype=np.int32)
    dy = rng.normal(0, 1, (len(ids), dim))
    s.case("embedding", vocab=vocab, dim=dim, count=len(ids), dtypes=["f32", "f16", "bf16", "q8_0"])
    s.add("embedding/ids", ids); s.add("embedding/dy", dy)
    for dtype in ("f32", "f16", "bf16", "q8_0"):
        raw, decoded = encode(table, dtype)
        s.add(f"embedding/{dtype}/raw", raw)
        s.add(f"embedding/{dtype}/decoded", decoded)
        s.add(f"embedding/{dtype}/y", decoded[ids])
    tt = t(table)
    (F.embedding(torch.tensor(ids.astype(np.int64)), tt) * torch.tensor(dy)).sum().backward()
    s.add("embedding/dtable", tt.grad)


def linear(s, rng):
    shapes = [(96, 40)]  # in (a multiple of 32 for q8_0), out (not a multiple of 4: ragged tiles)
    for n_in, n_out in shapes:
        w = rng.normal(0, 1 / np.sqrt(n_in), (n_out, n_in))
        b = rng.normal(0, 0.5, n_out)
        s.add("linear/bias", b)
        for m in (1, 3, 64):
            x = rng.normal(0, 1, (m, n_in))
            dy = rng.normal(0, 1, (m, n_out))
            s.add(f"linear/m{m}/x", x); s.add(f"linear/m{m}/dy", dy)
            for dtype in ("f32", "f16", "bf16", "q8_0"):
                raw, decoded = encode(w, dtype)
                if m == 1:
                    s.add(f"linear/{dtype}/raw", raw)
                    s.add(f"linear/{dtype}/decoded", decoded)
                for with_bias in (False, True):
                    name = f"linear/{dtype}/m{m}/{'bias' if with_bias else 'nobias'}"
                    xt, wt, bt = t(x), t(decoded), t(b)
                    y = F.linear(xt, wt, bt if with_bias else None)
                    (y * torch.tensor(dy)).sum().backward()
                    s.case(name, rows=m, inFeatures=n_in, outFeatures=n_out, dtype=dtype, bias=with_bias)
                    s.add(f"{name}/y", y.detach())
                    s.add(f"{name}/dx", xt.grad)
                    if dtype == "f32":
                        s.add(f"{name}/dweight", wt.grad)
                        if with_bias:
                            s.add(f"{name}/dbias", bt.grad)
    # An input width with a scalar tail (not a multiple of 8), f32 and f16.
    n_in, n_out, m = 37, 9, 3
    w = rng.normal(0, 0.3, (n_out, n_in))
    x = rng.normal(0, 1, (m, n_in))
    s.add("linear_tail/x", x)
    for dtype in ("f32", "f16", "bf16"):
        raw, decoded = encode(w, dtype)
        s.case(f"linear_tail/{dtype}", rows=m, inFeatures=n_in, outFeatures=n_out, dtype=dtype, bias=False)
        s.add(f"linear_tail/{dtype}/raw", raw)
        s.add(f"linear_tail/{dtype}/y", x @ decoded.T)


def attention(s, rng):
    """Each case: a flat key/value store [n, kvHeads*headDim] (rows possibly padded), query rows,
    and for each query row the spans it sees as (start, count, stride-in-rows) pairs; the dense
    reference mask is built from the same spans."""

    def run(name, q, kv_rows, kv_heads, head_dim, spans, row_pad=0):
        rows, heads = q.shape[0], q.shape[1] // head_dim
        kv_dim = kv_heads * head_dim
        stride = kv_dim + row_pad
        k = rng.normal(0, 1, (kv_rows, stride))
        v = rng.normal(0, 1, (kv_rows, stride))
        dy = rng.normal(0, 1, (rows, heads * head_dim))
        mask = np.zeros((rows, kv_rows), dtype=bool)
        flat = []
        for r, row_spans in enumerate(spans):
            assert 1 <= len(row_spans) <= 2
            for start, count, step in row_spans:
                mask[r, start + step * np.arange(count)] = True
            flat.append([list(sp) for sp in row_spans])
        qt, kt, vt = t(q), t(k), t(v)
        group = heads // kv_heads
        outs = []
        lses = []
        for h in range(heads):
            kvh = h // group
            qh = qt[:, h * head_dim:(h + 1) * head_dim]
            kh = kt[:, kvh * head_dim:(kvh + 1) * head_dim]
            vh = vt[:, kvh * head_dim:(kvh + 1) * head_dim]
            scores = qh @ kh.T / np.sqrt(head_dim)
            scores = scores.masked_fill(~torch.tensor(mask), float("-inf"))
            outs.append(torch.softmax(scores, -1) @ vh)
            lses.append(torch.logsumexp(scores, -1))
        out = torch.cat(outs, -1)
        (out * torch.tensor(dy)).sum().backward()
        s.case(name, rows=rows, heads=heads, kvHeads=kv_heads, headDim=head_dim, kvRows=kv_rows,
               rowStride=stride, spans=flat)
        s.add(f"{name}/q", q); s.add(f"{name}/k", k); s.add(f"{name}/v", v); s.add(f"{name}/dy", dy)
        s.add(f"{name}/out", out.detach()); s.add(f"{name}/lse", torch.stack(lses, -1).detach())
        s.add(f"{name}/dq", qt.grad); s.add(f"{name}/dk", kt.grad); s.add(f"{name}/dv", vt.grad)

    # Causal prefill over 70 rows (crosses the 64-key block), GQA 4 query heads over 2 kv heads.
    L, heads, kvh, hd = 70, 4, 2, 16
    run("attention_causal", rng.normal(0, 1, (L, heads * hd)), L, kvh, hd,
        [[(0, i + 1, 1)] for i in range(L)])
    # Sliding window of 5 keys, head size with a scalar tail (12), padded cache rows.
    L, heads, kvh, hd, w = 11, 2, 2, 12, 5
    run("attention_window", rng.normal(0, 1, (L, heads * hd)), L, kvh, hd,
        [[(max(0, i - w + 1), min(w, i + 1), 1)] for i in range(L)], row_pad=4)
    # Quiet-STaR thought step: L text rows, then `steps` thought rows per position stored
    # step-major (row L + s*L + i is step s of the stream at position i). Query i sees text
    # 0...i (span A) and its own thought rows (span B, stride L rows).
    L, steps, heads, kvh, hd = 6, 3, 4, 2, 8
    run("attention_thought", rng.normal(0, 1, (L, heads * hd)), L + steps * L, kvh, hd,
        [[(0, i + 1, 1), (L + i, steps, L)] for i in range(L)])
    # Batched decode: three sequences with their own caches (one store, disjoint ranges), one
    # query row each, multi-query attention (4 heads over 1 kv head).
    lengths, heads, kvh, hd = [5, 1, 9], 4, 1, 8
    starts = np.cumsum([0] + lengths[:-1])
    run("attention_decode", rng.normal(0, 1, (3, heads * hd)), sum(lengths), kvh, hd,
        [[(int(st), n, 1)] for st, n in zip(starts, lengths)])


def main():
    rng = np.random.default_rng(20240611)
    s = Store()
    for fn in (rmsnorm, rotary, swiglu, softmax, cross_entropy, embedding, linear, attention):
        fn(s, rng)
    s.write()
    print(f"wrote {len(s.cases)} cases, {len(s.index)} arrays, {len(s.blob)} bytes to {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
