#!/usr/bin/env python3
"""Independent float64 reference of the Quiet-STaR training objective, thought tokens GIVEN.

Writes fixtures/quietstar-train/<case>.json and <case>.grad.f32 for fixtures/hf/quietstar-mistral:
loss terms, per-position values and the gradient of every parameter of the total loss and of
each term, so a Swift trainer with hand-written backward passes can be checked term by term.

Written from the semantics below (read from the public reference, ezelikman/quiet-star
`modeling_mistral.py` + `quiet-star-train.py`, and checked against it by
check_quietstar_objective.py), not from its code: the reference runs all thoughts in parallel
with a KV cache and a block-diagonal mask; here every thought stream is literally the text with
the thought inserted, run as one ordinary causal sequence through tiny_transformer.py.

Notation: a batch of B texts x^b (BOS included), lengths n_b, right-padded with the pad id
(= eos id, 2) to L = max n_b; k content tokens per thought; A = n_ahead_talk (lookahead);
P = n_passes (independent thoughts per position). The reference's `n_ahead` = k + 3 (the base
pass, START, the k content tokens, END each take one of its forward iterations), so its loop runs
n_ahead + A - 1 = k + A + 2 forward passes over the whole batch, repeated P times
(repeat_interleave: row b*P + p).

1. Base pass: plain causal forward over x^b; h_base[b, t] = final-RMSNorm hidden state at t
   (pads after the text are masked keys, so real positions never see them).
   base_lp[b, t] = log_softmax(lm_head(h_base[b, t]))[x_{t+1}] for t = 0..n_b-2.
2. Thought stream (b, p, t), for EVERY position t (the last one included): the sequence
       x_0..x_t, START, c_1..c_k, END, x_{t+1}, ..., x_{t+A-1}
   at RoPE positions 0..t+k+A+1 (START at t+1, c_i at t+1+i, END at t+k+2, x_{t+m} at t+k+2+m),
   one causal sequence: the stream sees the text up to x_t and its own earlier tokens, never
   another position's thought (the reference's mask: causal block over the text, then one
   diagonal block per earlier step). START/END inputs are start_embedding[0] * 100 and
   end_embedding[0] * 100 (row 1 is unused); c_i and the x's use embed_tokens rows.
   Teacher forcing: after END the TRUE next tokens are fed, not predictions. Past the end of the
   text the reference feeds the pad id; those inputs only reach outputs whose targets are
   padding, so they are left out here (a stream is cut after its last scored talk step).
3. Talk step m = 0..A-1 of stream (b, p, t): h_s = stream hidden state at END (m = 0) or at
   x_{t+m} (m >= 1); it predicts x_{t+m+1} and is mixed with the BASE hidden state at t+m
   (which predicts the same token):
       w[b,p,m,t] = talk_head(concat(h_base[b,t+m], h_s))   (both after the final norm;
                    Linear(2H->H), ReLU, Linear(H->H), ReLU, Linear(H->1, no bias); no sigmoid)
       mixed_lp[b,p,m,t] = log_softmax(lm_head((1-w) h_base[b,t+m] + w h_s))[x_{t+m+1}]
   scored where t+m+1 <= n_b-1 (the target is a real token).
4. Likelihood terms. Every CE tensor of the reference is averaged with `loss_mean`
   = sum / count(nonzero): over batch x passes x positions pooled, padded / past-the-end
   targets (label == pad id) excluded:
       base_nll  = mean over {(b, t): t <= n_b-2} of -base_lp        (passes only replicate it)
       mixed_nll = (1/A) sum_m mean over {(b, p, t): t+m <= n_b-2} of -mixed_lp[., m, .]
   (each talk step has its own count; the reference also computes mixed losses at the k+1
   thinking-phase iterations but leaves them out of the loss: first_and_last_mode.)
5. Reward, only at t = 0..L-A-2 (L = the PADDED length: the last A+1 positions of the batch
   get no policy term, even where they have scored talk steps):
       reward[b,p,t] = sum over scored m of (mixed_lp[b,p,m,t] - base_lp[b,t+m])
   (pads contribute 0: both CEs are ignored there), detached;
       advantage[b,p,t] = max(0, reward[b,p,t] - mean_p' reward[b,p',t]).
6. Policy (REINFORCE on the content tokens only; START/END are forced):
       logpi[b,p,i,t] = log_softmax(q / 3)[c_i],  q = lm_head(stream hidden state at the input
       before c_i: START for c_1, c_{i-1} for c_i), q[START] = q[END] = -1e10
       policy = (1/k) sum_i  sum_{b,p,t<=L-A-2} (-advantage * logpi) / (B * P * (L-1-A))
   i.e. a MEAN over all B*P*(L-1-A) slots (zero-advantage and padded slots included), then a
   mean over the k content tokens. Gradients reach every weight and start_embedding through
   logpi; end_embedding gets none from this term.
7. total = 0.5 * base_nll + 0.5 * mixed_nll + 1e6 * policy
   (original_loss_weight 0.5, base_loss_beta 1, policy_loss_beta 1e6, include_policy_loss).
   Nothing else is detached: the mixed NLL reaches h_base both through (1-w) h_base and the head
   input; the one-hot thought/teacher tokens are constants (gumbel_detach), so their embedding
   rows get the ordinary lookup gradient.

Against shared/notes/quiet-star.md (the code wins): the notes say the policy log-probs carry
gradient to "the start/end embeddings"; only start_embedding gets any (no content token is
predicted after END; the reference's gradient of end_embedding from this term is exactly 0).
Where the notes are silent, the points above are the code's: the averaging in 4 and 6, the
L-A-2 reward window of 5 (cut at the PADDED length), the thought-id masking of logpi, w
recomputed per talk step from the shifted base state, labels equal to the pad id (= eos)
ignored wherever they occur, and the mixed CE of the thinking-phase iterations computed but not
used. Everything else the notes say about the objective (n_ahead = k + 3, teacher forcing, talk
step k mixing with the base state at i+k-1 and predicting x_{i+k}, mean-over-passes baseline,
clamp, temperature 3, weights 0.5 / 0.5 / 1e6, row 0 x 100) holds.

Gradients are autograd's in float64 (float32 weights upcast exactly) of total, base_nll,
mixed_nll and policy (each unweighted); the JSON and the binary hold them rounded to float32.
A finite-difference self-check (central differences in float64 on the largest-gradient entry of
a dozen tensors covering every parameter group, for base_nll, mixed_nll and policy, advantages
held fixed for the policy term as the reference detaches them) is recorded in the JSON, with the
check that the total's gradient is exactly the weighted sum of the three.

    /tmp/refenv/bin/python tools/reference/quietstar_train_reference.py
"""
import json
import pathlib
import sys

import numpy as np
import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import tiny_transformer  # noqa: E402

torch.set_num_threads(1)
ROOT = pathlib.Path(__file__).resolve().parents[2]
FOLDER = ROOT / "fixtures" / "hf" / "quietstar-mistral"
OUT = ROOT / "fixtures" / "quietstar-train"

EMBEDDING_SCALE = 100.0
ORIGINAL_LOSS_WEIGHT = 0.5
POLICY_LOSS_BETA = 1e6
REINFORCE_TEMPERATURE = 3.0
MASKED_LOGIT = -1e10
START_ID, END_ID = 453, 452
PAD_ID = 2                       # the reference's pad_token_id = eos_token_id
ORIGINAL_VOCAB = 452             # content tokens are drawn from ids 0..451 (not the thought ids)
TERMS = ["total", "base_nll", "mixed_nll", "policy"]

CASES = [
    {"name": "k3-a4-p2-b2", "k": 3, "n_ahead_talk": 4, "n_passes": 2, "seed": 1,
     "texts": ["def add(a, b):\n    return a + b", "If x = 3 then 2x = 6."]},
    {"name": "k2-a2-p2-b1", "k": 2, "n_ahead_talk": 2, "n_passes": 2, "seed": 2,
     "texts": ["Once upon a time, a fox."]},
]


def splitmix64(seed):
    state = seed & 0xFFFFFFFFFFFFFFFF
    while True:
        state = (state + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
        yield z ^ (z >> 31)


def content_tokens(seed, batch, passes, length, k):
    """content[b][p][t][i], i = 0..k-1, for every padded position t = 0..L-1."""
    rng = splitmix64(seed)
    return [[[[next(rng) % ORIGINAL_VOCAB for _ in range(k)] for _ in range(length)]
             for _ in range(passes)] for _ in range(batch)]


class Objective:
    """The objective of one case over a parameter dict (tensor name -> float64 tensor)."""

    def __init__(self, ids, content, k, talk, passes):
        self.ids, self.content, self.k, self.A, self.P = ids, content, k, talk, passes
        self.B = len(ids)
        self.lengths = [len(x) for x in ids]
        self.L = max(self.lengths)
        assert self.L - 1 - self.A >= 1 and min(self.lengths) >= self.A + 2
        self.model = tiny_transformer.Model(FOLDER)

    def run(self, w, fixed_advantage=None):
        m = self.model
        m.w = w
        E = w["model.embed_tokens.weight"]
        start = w["start_embedding"][0] * EMBEDDING_SCALE
        end = w["end_embedding"][0] * EMBEDDING_SCALE
        head = [(w["talk_head.0.0.weight"], w["talk_head.0.0.bias"]),
                (w["talk_head.0.2.weight"], w["talk_head.0.2.bias"]),
                (w["talk_head.0.4.weight"], None)]

        def lm_head(h):
            return h @ w["lm_head.weight"].T

        def talk_head(x):
            for n, (weight, bias) in enumerate(head):
                x = x @ weight.T + (bias if bias is not None else 0)
                if n < 2:
                    x = torch.relu(x)
            return x[..., 0]

        B, P, A, k, L = self.B, self.P, self.A, self.k, self.L
        window = L - 1 - A                       # reward positions t = 0..window-1
        h_base, base_lp = [], {}
        for b, x in enumerate(self.ids):
            h = m.forward(E[torch.tensor(x)])
            h_base.append(h)
            lp = torch.log_softmax(lm_head(h[:-1]), dim=-1)
            for t in range(len(x) - 1):
                base_lp[b, t] = lp[t, x[t + 1]]

        w_val, mixed_lp, logpi = {}, {}, {}
        for b, x in enumerate(self.ids):
            n = len(x)
            for p in range(P):
                for t in range(n):
                    c = self.content[b][p][t]
                    steps = min(A, n - 1 - t)                   # talk steps with a real target
                    parts = [E[torch.tensor(x[: t + 1])], start[None], E[torch.tensor(c)], end[None]]
                    if steps > 1:
                        parts.append(E[torch.tensor(x[t + 1: t + steps])])
                    h = m.forward(torch.cat(parts))
                    q = lm_head(h[t + 1: t + 1 + k]).clone()     # at START, c_1..c_{k-1}
                    q[:, [START_ID, END_ID]] = MASKED_LOGIT
                    lq = torch.log_softmax(q / REINFORCE_TEMPERATURE, dim=-1)
                    for i in range(k):
                        logpi[b, p, i, t] = lq[i, c[i]]
                    for s in range(steps):
                        hs = h[t + k + 2 + s]
                        hb = h_base[b][t + s]
                        wt = talk_head(torch.cat([hb, hs]))
                        w_val[b, p, s, t] = wt
                        mixed = lm_head((1 - wt) * hb + wt * hs)
                        mixed_lp[b, p, s, t] = torch.log_softmax(mixed, dim=-1)[x[t + s + 1]]

        base_nll = -torch.stack(list(base_lp.values())).mean()
        mixed_steps = [-torch.stack([v for (b, p, s, t), v in mixed_lp.items() if s == step]).mean()
                       for step in range(A)]
        mixed_nll = sum(mixed_steps) / A

        reward = torch.zeros(B, P, window, dtype=torch.float64)
        for (b, p, s, t), v in mixed_lp.items():
            if t < window:
                reward[b, p, t] += float(v.detach()) - float(base_lp[b, t + s].detach())
        advantage = (reward - reward.mean(dim=1, keepdim=True)).clamp(min=0)
        if fixed_advantage is not None:
            advantage = fixed_advantage
        per_token = []
        for i in range(k):
            acc = torch.zeros((), dtype=torch.float64)
            for b in range(B):
                for p in range(P):
                    for t in range(min(window, self.lengths[b])):
                        acc = acc - advantage[b, p, t] * logpi[b, p, i, t]
            per_token.append(acc / (B * P * window))
        policy = sum(per_token) / k
        total = ORIGINAL_LOSS_WEIGHT * base_nll + (1 - ORIGINAL_LOSS_WEIGHT) * mixed_nll + POLICY_LOSS_BETA * policy
        return {"total": total, "base_nll": base_nll, "mixed_nll": mixed_nll, "policy": policy,
                "mixed_steps": mixed_steps, "policy_per_token": per_token, "reward": reward,
                "advantage": advantage, "base_lp": base_lp, "mixed_lp": mixed_lp, "w": w_val, "logpi": logpi}


def load_params():
    return {name: v.clone() for name, v in tiny_transformer.load_weights(FOLDER).items()}


def gradients(obj, params):
    """Terms, per-position values and autograd gradients of every term (float64)."""
    leaves = {n: v.clone().requires_grad_(True) for n, v in params.items()}
    out = obj.run(leaves)
    names = sorted(leaves)
    grads = {}
    for term in TERMS:
        g = torch.autograd.grad(out[term], [leaves[n] for n in names], retain_graph=True, allow_unused=True)
        grads[term] = {n: (gi if gi is not None else torch.zeros_like(leaves[n])).detach() for n, gi in zip(names, g)}
    return out, grads


FD_TENSORS = ["model.embed_tokens.weight", "lm_head.weight", "model.layers.0.self_attn.q_proj.weight",
              "model.layers.0.self_attn.v_proj.weight", "model.layers.1.mlp.down_proj.weight",
              "model.layers.0.input_layernorm.weight", "model.norm.weight", "start_embedding",
              "end_embedding", "talk_head.0.0.weight", "talk_head.0.2.bias", "talk_head.0.4.weight"]
FD_TERMS = ["base_nll", "mixed_nll", "policy"]


def fd_step(name):
    # start/end_embedding enter the model multiplied by 100: a smaller step keeps the effective
    # perturbation of the thought embedding (1e-5) from crossing ReLU kinks of the talk head.
    return 1e-7 if name in ("start_embedding", "end_embedding") else 1e-5


def finite_differences(obj, params, out, grads):
    """Central differences in float64 of the three (unweighted) terms; for the policy term the
    advantages are held at their unperturbed values, since the reference detaches them. The
    total is their fixed linear combination (checked exactly in combination_error); its own
    finite differences would drown in rounding (total ~ 2e6)."""
    fixed = out["advantage"].detach()
    entries = []
    for name in FD_TENSORS:
        step = fd_step(name)
        picked = []
        for term in FD_TERMS:
            g = grads[term][name].flatten()
            if float(g.abs().max()) == 0.0:
                continue
            idx = int(g.abs().argmax())
            if idx not in picked:
                picked.append(idx)
        for idx in picked:
            vals = []
            for sign in (1, -1):
                p = dict(params)
                t = p[name].clone()
                t.view(-1)[idx] += sign * step
                p[name] = t
                with torch.no_grad():
                    r = obj.run(p, fixed_advantage=fixed)
                vals.append({term: float(r[term]) for term in FD_TERMS})
            for term in FD_TERMS:
                fd = (vals[0][term] - vals[1][term]) / (2 * step)
                ag = float(grads[term][name].flatten()[idx])
                if ag == 0.0 and fd == 0.0:
                    continue
                scale = float(grads[term][name].abs().max())
                entries.append({"tensor": name, "index": idx, "term": term, "step": step, "autograd": ag,
                                "finite_difference": fd, "rel_error": abs(fd - ag) / max(abs(ag), 1e-300),
                                "error_vs_tensor_max": abs(fd - ag) / scale})
    return entries


def combination_error(grads):
    """max |g_total - (0.5 g_base + 0.5 g_mixed + 1e6 g_policy)| / max |g_total| over all tensors."""
    num = den = 0.0
    for n, g in grads["total"].items():
        combo = (ORIGINAL_LOSS_WEIGHT * grads["base_nll"][n] + (1 - ORIGINAL_LOSS_WEIGHT) * grads["mixed_nll"][n]
                 + POLICY_LOSS_BETA * grads["policy"][n])
        num = max(num, float((g - combo).abs().max()))
        den = max(den, float(g.abs().max()))
    return num / den


def f32(x):
    """A float32 value as the JSON number that reads back to the same float32."""
    if torch.is_tensor(x):
        x = x.detach().item()
    return float(np.float32(x))


def build_case(case):
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(str(FOLDER / "tokenizer.json"))
    assert tok.token_to_id("<|startthought|>") == START_ID and tok.token_to_id("<|endthought|>") == END_ID
    ids = [tok.encode(text).ids for text in case["texts"]]
    assert all(PAD_ID not in x for x in ids)
    k, A, P = case["k"], case["n_ahead_talk"], case["n_passes"]
    L = max(len(x) for x in ids)
    content = content_tokens(case["seed"], len(ids), P, L, k)
    obj = Objective(ids, content, k, A, P)
    params = load_params()
    out, grads = gradients(obj, params)
    fd = finite_differences(obj, params, out, grads)
    return ids, content, obj, out, grads, fd


def case_document(case, ids, content, obj, out, grads, fd, grad_file):
    B, P, A, k, L = obj.B, obj.P, obj.A, obj.k, obj.L
    window = L - 1 - A
    lengths = obj.lengths

    def val(d, key):
        return f32(d[key]) if key in d else None

    names = sorted(grads["total"])
    offset, grad_index = 0, []
    for term in TERMS:
        tensors = []
        for n in names:
            g = grads[term][n]
            tensors.append({"name": n, "shape": list(g.shape), "offset": offset})
            offset += g.numel()
        grad_index.append({"term": term, "tensors": tensors})
    mixed_counts = [sum(1 for (b, p, s, t) in out["mixed_lp"] if s == step) for step in range(A)]
    ws = [float(v) for v in out["w"].values()]
    # With 2 passes the advantage is max(0, +-(r_0 - r_1) / 2): the smallest gap over the slots
    # with a scored talk step says how far a float32 engine is from flipping a clamp.
    scored = [(b, t) for b in range(B) for t in range(min(window, lengths[b] - 1))]
    gaps = [abs(float(out["reward"][b, 0, t] - out["reward"][b, 1, t])) for b, t in scored] if P == 2 else []
    return {
        "case": case["name"],
        "model": "quietstar-mistral",
        "hf_folder": "fixtures/hf/quietstar-mistral",
        "generator": "tools/reference/quietstar_train_reference.py",
        "dtype": "computed in float64 (float32 weights upcast exactly); every number here and in the binary is that value rounded to float32",
        "semantics": ("Quiet-STaR training objective of ezelikman/quiet-star (modeling_mistral.py defaults, quiet-star-train.py "
                      "settings) with the content tokens given: see the docstring of the generator and tools/reference/README.md."),
        "settings": {"k": k, "n_ahead": k + 3, "n_ahead_talk": A, "n_passes": P, "batch": B, "padded_length": L,
                     "pad_id": PAD_ID, "start_thought_id": START_ID, "end_thought_id": END_ID,
                     "embedding_scale": EMBEDDING_SCALE, "original_loss_weight": ORIGINAL_LOSS_WEIGHT,
                     "policy_loss_beta": POLICY_LOSS_BETA, "reinforce_temperature": REINFORCE_TEMPERATURE,
                     "masked_logit": MASKED_LOGIT, "content_seed": case["seed"],
                     "content_rng": "SplitMix64(seed); content[b][p][t][i] = next() % 452, in b, p, t, i order"},
        "texts": case["texts"],
        "ids": ids,
        "lengths": lengths,
        "input_ids": [x + [PAD_ID] * (L - len(x)) for x in ids],
        "content_ids": content,
        "weights": {"base_nll": ORIGINAL_LOSS_WEIGHT, "mixed_nll": 1 - ORIGINAL_LOSS_WEIGHT, "policy": POLICY_LOSS_BETA},
        "loss": {"total": f32(out["total"]), "base_nll": f32(out["base_nll"]), "mixed_nll": f32(out["mixed_nll"]),
                 "policy": f32(out["policy"]),
                 "mixed_nll_per_step": [f32(v) for v in out["mixed_steps"]],
                 "policy_per_content_token": [f32(v) for v in out["policy_per_token"]]},
        "stats": {"w_min": f32(min(ws)), "w_max": f32(max(ws)),
                  "min_abs_reward_gap_between_passes": f32(min(gaps)) if gaps else None},
        "counts": {"base_positions": len(out["base_lp"]), "mixed_positions_per_step": mixed_counts,
                   "policy_slots": B * P * window},
        "base_logprob": [[val(out["base_lp"], (b, t)) for t in range(L - 1)] for b in range(B)],
        "w": [[[[val(out["w"], (b, p, s, t)) for t in range(L)] for s in range(A)] for p in range(P)] for b in range(B)],
        "mixed_logprob": [[[[val(out["mixed_lp"], (b, p, s, t)) for t in range(L)] for s in range(A)]
                           for p in range(P)] for b in range(B)],
        "policy_logprob": [[[[val(out["logpi"], (b, p, i, t)) for t in range(L)] for i in range(k)]
                            for p in range(P)] for b in range(B)],
        "reward": [[[f32(out["reward"][b, p, t]) for t in range(window)] for p in range(P)] for b in range(B)],
        "advantage": [[[f32(out["advantage"][b, p, t]) for t in range(window)] for p in range(P)] for b in range(B)],
        "gradients_file": grad_file,
        "gradients_format": "little-endian float32, row-major; one block per term in the order of `gradients`, tensors in name order",
        "gradients": grad_index,
        "finite_difference_check": {
            "terms": FD_TERMS, "total_combination_rel_error": f32(combination_error(grads)), "entries": [{k2: (f32(v) if isinstance(v, float) else v) for k2, v in e.items()} for e in fd],
            "max_rel_error": f32(max(e["rel_error"] for e in fd)),
            "max_error_vs_tensor_max": f32(max(e["error_vs_tensor_max"] for e in fd))},
    }


def grad_blob(grads):
    names = sorted(grads["total"])
    blob = bytearray()
    for term in TERMS:
        for n in names:
            a = grads[term][n].to(torch.float32).contiguous().numpy().astype("<f4")
            blob += a.tobytes()
    return bytes(blob)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for case in CASES:
        ids, content, obj, out, grads, fd = build_case(case)
        grad_file = f"{case['name']}.grad.f32"
        doc = case_document(case, ids, content, obj, out, grads, fd, grad_file)
        (OUT / grad_file).write_bytes(grad_blob(grads))
        (OUT / f"{case['name']}.json").write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        print(json.dumps({"case": case["name"], "loss": doc["loss"], "fd": {k2: doc["finite_difference_check"][k2] for k2 in ("max_rel_error", "max_error_vs_tensor_max", "total_combination_rel_error")},
                          "fd_entries": len(fd)}))


if __name__ == "__main__":
    main()
