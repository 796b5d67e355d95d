#!/usr/bin/env python3
"""Reference loss and gradients of plain next-token training, for the Swift trainer's backward passes.

For each model of MODELS writes fixtures/training/<model>.json and <model>.grads.f32: for one
batch of two sequences (20 and 28 tokens) and two loss masks (case A: every target; case B:
only the completion's targets), the loss, the per-target log-probs, and the gradient of that
loss with respect to EVERY parameter of the model.

Batch. ids = tokenizers.Tokenizer(tokenizer.json).encode(prompt + completion).ids[:length]
(add_special_tokens=True, so BOS is included where the tokenizer adds one); the prompt's own
encoding must be a prefix of it (checked), p = len(encode(prompt).ids). The sequences are
independent: each runs through its own forward (batch of one, positions 0..T-1, no padding).

Loss. Target t (t = 0..T-2) of a sequence is ids[t+1], predicted from logits[t]. m[b][t] is 1.0
or 0.0; case A: all 1; case B: the first P_b = p_b - 1 targets (those predicting prompt tokens)
are 0, the rest 1 (target p_b - 1 predicts the first completion token and counts).
    loss = sum_b sum_t m[b][t] * -log_softmax(logits_b[t])[ids_b[t+1]]  /  sum_b sum_t m[b][t]
i.e. ONE mean over all counted targets of the batch (not a mean of per-sequence means).

Reference values: transformers' model (AutoModelForCausalLM) in float64 with its three float32
islands removed, gradients by autograd (torch.autograd.grad of the loss). In float64,
transformers still (a) normalises in float32 inside RMSNorm (`hidden_states.to(torch.float32)`),
(b) builds RoPE cos/sin from a float32 inv_freq in float32 and (c) runs the eager attention
softmax in float32 (`softmax(..., dtype=torch.float32)`); so here every RMSNorm module and the
rotary module get a float64 forward (same formula), the inv_freq comes from
tiny_transformer.inv_freq in float64 (checked equal to transformers' float32 buffer to float32
precision), and attention is a registered implementation ("float64_eager": eager attention with
the softmax in the input dtype; mask from transformers' own eager mask functions, so Mistral's
sliding window is transformers' mask). Everything else (projections, biases, GQA/MQA repeat,
rotate_half, SwiGLU, residuals, tied LM head) is transformers' code. For tied models
(tie_word_embeddings) there is one embedding parameter, and its gradient is the sum of both uses.

Cross-checks, recorded in the JSON (3 significant digits):
- central finite differences of the float64 loss at the largest entry of every gradient tensor;
- tiny_transformer.py (float64, written from the definitions) with autograd: loss, per-target
  log-probs and every gradient;
- stock transformers in float64 (with the float32 islands): what the islands cost;
- stock transformers in float32 (eager), the way a float32 engine computes: the float32-vs-float64
  differences of the loss, log-probs and gradients, as an absolute max and relative to the
  largest |gradient| of each tensor, so the Swift side can set its tolerance.

All values in the JSON and the binary are the float64 reference rounded to float32 (written as
the decimal that reads back to the same float32). One thread; rerunning gives identical bytes.

    /tmp/refenv/bin/python tools/reference/train_reference.py
"""
import json
import pathlib
import struct
import sys
import types

import numpy as np
import torch
import tokenizers
import transformers
from safetensors import safe_open
from tokenizers import Tokenizer
from transformers import AttentionInterface, AutoModelForCausalLM
from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import tiny_transformer  # noqa: E402

torch.set_num_threads(1)
transformers.logging.set_verbosity_error()
transformers.utils.logging.disable_progress_bar()
ROOT = pathlib.Path(__file__).resolve().parents[2]
HF = ROOT / "fixtures" / "hf"
OUT = ROOT / "fixtures" / "training"

MODELS = ["llama-tied", "llama-untied", "llama3", "mistral", "qwen2"]
# Both longer than Mistral's window of 8; the prompts are 6-12 tokens with these vocabularies.
SEQUENCES = [
    {"prompt": "Q: 2 + 3?", "completion": " A: The sum is 5, since two and three make five.", "length": 20},
    {"prompt": "Tell me a story.",
     "completion": " Once upon a time, a quick brown fox jumped over the lazy dog and ran home.", "length": 28},
]
CASES = ["all_targets", "completion_only"]
ATTN = "float64_eager"

LOSS_DEFINITION = (
    "For each sequence b (ids_b, length T_b, its own forward from position 0), target t = 0..T_b-2 is ids_b[t+1], "
    "predicted from logits_b[t] (the logits after ids_b[0..t]); lp_b[t] = log_softmax(logits_b[t])[ids_b[t+1]] "
    "over the full vocabulary. loss = sum_b sum_t loss_mask[b][t] * (-lp_b[t]) / sum_b sum_t loss_mask[b][t]: one "
    "mean over all counted targets of the batch (not a mean of per-sequence means). all_targets: every mask value "
    "is 1. completion_only: the first prompt_targets[b] = len(encode(prompt_b)) - 1 targets (those predicting prompt "
    "tokens) are 0, the rest 1.")


def f32(x):
    """A float32 value as the JSON number that reads back to the same float32."""
    if torch.is_tensor(x):
        x = x.detach().item()
    return float(np.float32(x))


def sig3(x):
    """A measured difference, to 3 significant digits (stable across reruns, readable)."""
    return float(f"{float(x):.3g}")


# ------------------------------------------------------------------ float64 transformers

def float64_eager_attention(module, query, key, value, attention_mask, scaling, dropout=0.0, **kwargs):
    """transformers' eager_attention_forward, with the softmax in the input dtype (float64)."""
    groups = module.num_key_value_groups
    if groups > 1:
        b, kv, t, d = key.shape
        key = key[:, :, None].expand(b, kv, groups, t, d).reshape(b, kv * groups, t, d)
        value = value[:, :, None].expand(b, kv, groups, t, d).reshape(b, kv * groups, t, d)
    scores = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        scores = scores + attention_mask[:, :, :, : key.shape[-2]]
    weights = torch.softmax(scores, dim=-1)
    float64_eager_attention.calls += 1
    return torch.matmul(weights, value).transpose(1, 2).contiguous(), weights


float64_eager_attention.calls = 0
AttentionInterface.register(ATTN, float64_eager_attention)
AttentionMaskInterface.register(ATTN, ALL_MASK_ATTENTION_FUNCTIONS["eager"])


def rmsnorm64(self, hidden_states):
    variance = hidden_states.pow(2).mean(-1, keepdim=True)
    return self.weight * (hidden_states * torch.rsqrt(variance + self.variance_epsilon))


def rotary64(self, x, position_ids):
    freqs = position_ids[..., None].to(torch.float64) * self.inv_freq64
    emb = torch.cat((freqs, freqs), dim=-1)
    return (emb.cos() * self.attention_scaling).to(x.dtype), (emb.sin() * self.attention_scaling).to(x.dtype)


def load_hf(name, dtype, attn="eager", exact64=False):
    model = AutoModelForCausalLM.from_pretrained(HF / name, dtype=dtype, attn_implementation=attn).eval()
    if exact64:
        cfg = tiny_transformer.Config(HF / name)
        norms = rotaries = 0
        for module in model.modules():
            kind = type(module).__name__
            if kind.endswith("RMSNorm"):
                module.forward = types.MethodType(rmsnorm64, module)
                norms += 1
            elif kind.endswith("RotaryEmbedding"):
                inv = tiny_transformer.inv_freq(cfg)
                hf_inv = module.inv_freq.to(torch.float64)
                # transformers computes inv_freq in float32: equal to ours to float32 precision.
                assert float(((hf_inv - inv).abs() / inv).max()) < 3e-7, (name, hf_inv, inv)
                assert module.attention_scaling == 1.0, (name, module.attention_scaling)
                module.inv_freq64 = inv
                module.forward = types.MethodType(rotary64, module)
                rotaries += 1
        assert norms == 2 * cfg.layers + 1 and rotaries == 1, (name, norms, rotaries)
    return model


# ------------------------------------------------------------------ loss

def batch(name):
    tok = Tokenizer.from_file(str(HF / name / "tokenizer.json"))
    seqs = []
    for s in SEQUENCES:
        prompt_ids = tok.encode(s["prompt"]).ids
        full = tok.encode(s["prompt"] + s["completion"]).ids
        assert full[: len(prompt_ids)] == prompt_ids, (name, s["prompt"])
        assert len(full) >= s["length"] > len(prompt_ids) + 1, (name, len(full), len(prompt_ids))
        seqs.append({"ids": full[: s["length"]], "prompt_tokens": len(prompt_ids)})
    return seqs


def masks(seqs, case):
    out = []
    for s in seqs:
        n = len(s["ids"]) - 1
        skip = 0 if case == "all_targets" else s["prompt_tokens"] - 1
        out.append([0.0] * skip + [1.0] * (n - skip))
    return out


def loss_of(logits_fn, seqs, mask):
    """logits_fn(ids) -> [T, V]; returns (loss, per-sequence target log-probs)."""
    total, count, logprobs = 0, 0.0, []
    for s, m in zip(seqs, mask):
        ids = torch.tensor(s["ids"])
        logits = logits_fn(ids)
        lp = torch.log_softmax(logits[:-1], dim=-1).gather(1, ids[1:, None])[:, 0]
        w = torch.tensor(m, dtype=lp.dtype)
        total = total - (lp * w).sum()
        count += sum(m)
        logprobs.append(lp)
    return total / count, logprobs


def hf_run(model, names, seqs, mask):
    params = dict(model.named_parameters())
    assert sorted(params) == names, (sorted(params), names)
    loss, lps = loss_of(lambda ids: model(input_ids=ids[None]).logits[0], seqs, mask)
    grads = torch.autograd.grad(loss, [params[n] for n in names])
    return loss.detach(), [lp.detach() for lp in lps], dict(zip(names, grads))


def tiny_run(name, names, seqs, mask, mutate=None):
    m = tiny_transformer.Model(HF / name)
    leaves = {k: v.clone().requires_grad_(True) for k, v in m.w.items()}
    assert sorted(leaves) == names
    m.w = dict(leaves)
    if mutate is not None:
        mutate(m)
        m.inv_freq = tiny_transformer.inv_freq(m.cfg)
    loss, lps = loss_of(m.logits, seqs, mask)
    grads = torch.autograd.grad(loss, [leaves[n] for n in names])
    return loss.detach(), [lp.detach() for lp in lps], dict(zip(names, grads))


def compare(ref, other):
    """Differences of a run against the reference run: loss, log-probs, gradients."""
    loss_r, lp_r, g_r = ref
    loss_o, lp_o, g_o = other
    per_tensor, worst_abs, worst_rel = {}, 0.0, 0.0
    for n, g in g_r.items():
        d = float((g_o[n].to(torch.float64) - g).abs().max())
        scale = float(g.abs().max())
        per_tensor[n] = {"max_abs_diff": sig3(d), "max_abs_grad": sig3(scale)}
        worst_abs = max(worst_abs, d)
        worst_rel = max(worst_rel, d / scale if scale > 0 else 0.0)
    return {
        "loss_abs_diff": sig3(abs(float(loss_o) - float(loss_r))),
        "max_abs_logprob_diff": sig3(max(float((b.to(torch.float64) - a).abs().max()) for a, b in zip(lp_r, lp_o))),
        "max_abs_grad_diff": sig3(worst_abs),
        "max_rel_grad_diff": sig3(worst_rel),
        "per_tensor": per_tensor,
    }


def sensitivity(name, names, seqs, mask, ref):
    """How far the gradients move (max over tensors of max |diff| / max |grad|) when one feature
    is dropped in the float64 tiny_transformer: proof that the fixture exercises it, so a
    backward pass that ignores it cannot pass a float32 tolerance."""
    def rope(**changes):
        return lambda m: setattr(m.cfg, "rope", dict(m.cfg.rope, **changes))

    def window(w):
        return lambda m: setattr(m.cfg, "sliding_window", w)

    def head_use_detached(m):
        # Same logits, but the tied LM head's use of the embedding matrix contributes no
        # gradient: what a trainer forgetting the second use of the tied matrix computes.
        m.lm_head = lambda h: h @ m.w["model.embed_tokens.weight"].detach().T

    def no_bias(m):
        m.w = {k: (v * 0 if k.endswith(".bias") else v) for k, v in m.w.items()}

    checks = {
        "mistral": {"sliding_window_none": window(None), "sliding_window_plus_1": window(9),
                    "sliding_window_minus_1": window(7)},
        "llama-untied": {"no_linear_scaling": rope(rope_type="default")},
        "llama3": {"no_llama3_scaling": rope(rope_type="default")},
        "qwen2": {"zero_qkv_biases": no_bias, "embedding_grad_without_lm_head_use": head_use_detached},
        "llama-tied": {"embedding_grad_without_lm_head_use": head_use_detached},
    }[name]
    out = {}
    for key, mutate in checks.items():
        grads = tiny_run(name, names, seqs, mask, mutate)[2]
        # with zeroed biases the bias gradients are trivially 0: compare the other tensors
        kept = [n for n in names if not (key == "zero_qkv_biases" and n.endswith(".bias"))]
        out[key] = sig3(max(float((grads[n] - ref[2][n]).abs().max() / ref[2][n].abs().max()) for n in kept))
        assert out[key] > 1e-2, (name, key, out[key])
    return out


FD_STEP = 1e-6


def finite_differences(name, names, seqs, mask, ref):
    """Central differences of the float64 loss (tiny_transformer) at the largest-|gradient| entry
    of every tensor: max |fd - grad| / |grad| over those entries."""
    m = tiny_transformer.Model(HF / name)
    base = dict(m.w)
    worst = 0.0
    for n in names:
        g = ref[2][n].flatten()
        i = int(g.abs().argmax())
        vals = []
        for sign in (1, -1):
            t = base[n].clone()
            t.view(-1)[i] += sign * FD_STEP
            m.w = dict(base, **{n: t})
            with torch.no_grad():
                vals.append(float(loss_of(m.logits, seqs, mask)[0]))
        fd = (vals[0] - vals[1]) / (2 * FD_STEP)
        worst = max(worst, abs(fd - float(g[i])) / abs(float(g[i])))
    assert worst < 1e-6, (name, worst)
    return {"step": FD_STEP, "entries": len(names), "max_rel_error": sig3(worst)}


# ------------------------------------------------------------------ one model

def safetensors_shapes(name):
    with safe_open(str(HF / name / "model.safetensors"), framework="pt") as f:
        return {k: list(f.get_slice(k).get_shape()) for k in f.keys()}


def reference(name):
    seqs = batch(name)
    shapes = safetensors_shapes(name)
    names = sorted(shapes)          # the safetensors file's order (its header and data are name-sorted)
    exact = load_hf(name, torch.float64, ATTN, exact64=True)
    stock64 = load_hf(name, torch.float64)
    stock32 = load_hf(name, torch.float32)
    blob, cases, offset = bytearray(), [], 0
    for case in CASES:
        mask = masks(seqs, case)
        calls = float64_eager_attention.calls
        ref = hf_run(exact, names, seqs, mask)
        assert float64_eager_attention.calls == calls + exact.config.num_hidden_layers * len(seqs)
        tiny = tiny_run(name, names, seqs, mask)
        checks = {"tiny_transformer_float64": compare(ref, tiny),
                  "transformers_stock_float64": compare(ref, hf_run(stock64, names, seqs, mask)),
                  "transformers_float32": compare(ref, hf_run(stock32, names, seqs, mask)),
                  "finite_difference_float64": finite_differences(name, names, seqs, mask, ref)}
        assert checks["tiny_transformer_float64"]["max_rel_grad_diff"] < 1e-10, (name, case, checks)
        assert checks["transformers_float32"]["max_rel_grad_diff"] < 1e-3, (name, case, checks)
        loss, logprobs, grads = ref
        index = []
        for n in names:
            g = grads[n]
            assert list(g.shape) == shapes[n], (n, g.shape, shapes[n])
            index.append({"name": n, "shape": shapes[n], "offset": offset})
            offset += g.numel()
            blob += g.to(torch.float32).contiguous().numpy().astype("<f4").tobytes()
        entry = {
            "name": case,
            "prompt_targets": [int(m.count(0.0)) for m in mask],
            "loss_mask": mask,
            "counted_targets": int(sum(sum(m) for m in mask)),
            "loss": f32(loss),
            "gradients": index,
            "checks": checks,
        }
        if case == "all_targets":
            entry["target_logprobs"] = [[f32(v) for v in lp] for lp in logprobs]
            entry["feature_sensitivity"] = sensitivity(name, names, seqs, mask, ref)
        cases.append(entry)

    (OUT / f"{name}.grads.f32").write_bytes(bytes(blob))
    doc = {
        "model": name,
        "hf_folder": f"fixtures/hf/{name}",
        "generator": "tools/reference/train_reference.py",
        "vocab_size": exact.config.vocab_size,
        "tie_word_embeddings": bool(exact.config.tie_word_embeddings),
        "dtype": ("computed in float64 (float32 weights upcast exactly); every number here and in gradients_file is "
                  "that value rounded to float32"),
        "settings": ("AutoModelForCausalLM.from_pretrained(dtype=float64, attn_implementation='float64_eager'), eval "
                     "(no dropout exists), with RMSNorm, RoPE and the attention softmax in float64 (see the generator's "
                     "docstring); one forward per sequence (batch of one, positions 0..T-1, no padding, no attention "
                     "mask argument); gradients = torch.autograd.grad(loss, parameters); one thread"),
        "versions": {"torch": torch.__version__.split("+")[0], "transformers": transformers.__version__,
                     "tokenizers": tokenizers.__version__},
        "loss_definition": LOSS_DEFINITION,
        "gradients_file": f"{name}.grads.f32",
        "gradients_format": ("little-endian float32, each tensor row-major (shape as in the safetensors file) at "
                             "`offset` floats; one block per case in the order of `cases`, tensors in name order "
                             "(the safetensors file's order); tied models have no lm_head.weight entry: the "
                             "embedding gradient is the sum of both uses"),
        "sequences": [{"prompt": s["prompt"], "completion": s["completion"], "ids": q["ids"],
                       "length": len(q["ids"]), "prompt_tokens": q["prompt_tokens"]}
                      for s, q in zip(SEQUENCES, seqs)],
        "cases": cases,
    }
    (OUT / f"{name}.json").write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return doc


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for name in MODELS:
        doc = reference(name)
        summary = {c["name"]: {"loss": c["loss"], **{k: {m: v[m] for m in ("loss_abs_diff", "max_abs_grad_diff",
                                                                           "max_rel_grad_diff", "max_rel_error") if m in v}
                                                     for k, v in c["checks"].items()}} for c in doc["cases"]}
        print(name, json.dumps(summary))


if __name__ == "__main__":
    main()
