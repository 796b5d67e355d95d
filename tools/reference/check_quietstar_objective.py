#!/usr/bin/env python3
"""Drive the public Quiet-STaR training code on the fixture model and compare it with ours.

    check_quietstar_objective.py PATH_TO_QUIET_STAR_CHECKOUT [--out summary.json]

PATH is a work tree of ezelikman/quiet-star (its modeling_mistral.py and configuration_mistral.py
are loaded in place of transformers' Mistral files, without touching the installed package).
Runs in its own venv (requirements-quietstar-ref.txt: transformers 4.37.2, tokenizers 0.15),
since the reference patches 4.37's Mistral. For every case of fixtures/quietstar-train/ it
feeds the case's ids (right-padded with the pad id, 2-D attention mask = ids != pad,
labels = ids) and given content tokens to MistralForCausalLM.forward in training mode, with
the settings of quiet-star-train.py (n_ahead = k + 3, n_ahead_talk, n_passes = 2, policy loss
on, gumbel_detach), and compares with quietstar_train_reference.py run in the same process in
float64:
- the four loss terms: the reference's forward is run four times, with its own weights set so
  that the loss is the total (defaults), base_nll only (original_loss_weight = 1, no policy),
  mixed_nll only (original_loss_weight = 0, no policy) and policy only (base_loss_beta = 0,
  policy_loss_beta = 1), and each loss is back-propagated: every parameter's gradient is
  compared;
- per position (read from the locals of the reference's forward when it returns, and from a
  hook on the talk head): base CE (loss_list[0]), mixed CE of every talk step
  (loss_list[n_ahead - 1 + m]), w of every talk step, the raw rewards (policy_reward), the
  content-token log-likelihoods at temperature 3 and the per-token policy terms
  (dqn_loss_list).

Traps handled (see shared notes): a 2-D attention mask is always passed; start/end token ids
and rm_initialized are set before the first forward (otherwise it re-initialises the thought
embeddings and zeroes the talk head's last layer); tokenizer.json is rewritten for tokenizers
0.15 (merges as "a b", no ignore_merges); F.gumbel_softmax is replaced during the call by a
function returning the one-hot of the given content tokens (call i -> c_i of every row
(b * n_passes + p) * L + t). The plotting/logging imports of modeling_mistral.py (pandas,
seaborn, matplotlib, wandb, termcolor, reportlab) are stubbed: they are used only in eval_mode
and with wandb, both off here.

Precision: in float64, transformers 4.37 still computes RMSNorm, the RoPE frequencies (and so
cos/sin) and the eager attention softmax in float32. Configuration "float64" patches those
three to float64 (numerics only: same formulas) so the comparison is exact to rounding;
"as-shipped" leaves them, and shows the float32-level differences the unmodified code has.
Both attention implementations of the file (eager and sdpa) are run.
"""
import argparse
import importlib.util
import json
import pathlib
import sys
import tempfile
import types

import torch

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import quietstar_train_reference as ours  # noqa: E402

torch.set_num_threads(1)
# 4.37's mask helper builds torch.full(..., finfo(float64).min) in the DEFAULT dtype: with float32
# as default it overflows, so a float64 run needs float64 as the default dtype.
torch.set_default_dtype(torch.float64)
ROOT = HERE.parents[1]
CASES = ROOT / "fixtures" / "quietstar-train"


def stub_modules():
    def module(name):
        m = types.ModuleType(name)
        m.__getattr__ = lambda attr: (lambda *a, **k: None)
        sys.modules[name] = m
        if "." in name:
            parent, child = name.rsplit(".", 1)
            setattr(sys.modules[parent], child, m)
        return m
    for name in ["pandas", "seaborn", "matplotlib", "matplotlib.pyplot", "matplotlib.colors", "wandb", "termcolor",
                 "reportlab", "reportlab.pdfgen", "reportlab.pdfgen.canvas", "reportlab.lib",
                 "reportlab.lib.pagesizes", "reportlab.lib.colors"]:
        if name not in sys.modules:
            module(name)


def load_reference(checkout):
    stub_modules()
    import transformers.models.mistral  # noqa: F401
    mods = {}
    for name in ["configuration_mistral", "modeling_mistral"]:
        full = f"transformers.models.mistral.{name}"
        spec = importlib.util.spec_from_file_location(full, checkout / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[full] = mod
        spec.loader.exec_module(mod)
        mods[name] = mod
    return mods["modeling_mistral"]


def load_tokenizer(tmp):
    """The fixture tokenizer for tokenizers 0.15: merges as "a b" strings, no ignore_merges, and
    the Metaspace pre-tokenizer (prepend_scheme first, split false; 0.15 has no `split` and would
    cut at every space) as the equivalent legacy normalizer Prepend("▁") + Replace(" ", "▁"),
    the same for any text that does not start with a space. The ids are checked against the
    fixture's (tokenizers 0.23) below."""
    from transformers import PreTrainedTokenizerFast
    spec = json.loads((ours.FOLDER / "tokenizer.json").read_text())
    pre = spec["pre_tokenizer"]
    assert spec["normalizer"] is None and pre["type"] == "Metaspace" and pre["prepend_scheme"] == "first"
    assert not pre["split"]
    spec["pre_tokenizer"] = None
    spec["normalizer"] = {"type": "Sequence", "normalizers": [
        {"type": "Prepend", "prepend": pre["replacement"]},
        {"type": "Replace", "pattern": {"String": " "}, "content": pre["replacement"]}]}
    model = spec["model"]
    model.pop("ignore_merges", None)
    model["merges"] = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    path = pathlib.Path(tmp) / "tokenizer.json"
    path.write_text(json.dumps(spec))
    tok = PreTrainedTokenizerFast(tokenizer_file=str(path), bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    tok.padding_side = "right"
    tok.pad_token_id = tok.eos_token_id
    return tok


class Float64Numerics:
    """RMSNorm, RoPE frequencies and the eager softmax in float64 (4.37 forces float32)."""

    def __init__(self, mm, model):
        self.mm, self.model = mm, model

    def __enter__(self):
        mm = self.mm
        self.norm = mm.MistralRMSNorm.forward
        self.softmax = torch.nn.functional.softmax

        def norm(module, x):
            var = x.pow(2).mean(-1, keepdim=True)
            return module.weight * (x * torch.rsqrt(var + module.variance_epsilon))
        mm.MistralRMSNorm.forward = norm
        softmax = self.softmax

        def softmax64(x, dim=None, _stacklevel=3, dtype=None):
            if x.dtype == torch.float64:
                dtype = None
            return softmax(x, dim=dim, _stacklevel=_stacklevel, dtype=dtype)
        torch.nn.functional.softmax = softmax64
        for layer in self.model.model.layers:
            rot = layer.self_attn.rotary_emb
            rot.inv_freq = 1.0 / (rot.base ** (torch.arange(0, rot.dim, 2, dtype=torch.float64) / rot.dim))
            rot._set_cos_sin_cache(rot.max_position_embeddings, rot.inv_freq.device, torch.float64)
        return self

    def __exit__(self, *exc):
        self.mm.MistralRMSNorm.forward = self.norm
        torch.nn.functional.softmax = self.softmax


TERM_SETTINGS = {
    "total": {},
    "base_nll": {"original_loss_weight": 1.0, "include_policy_loss": False},
    "mixed_nll": {"original_loss_weight": 0.0, "include_policy_loss": False},
    "policy": {"base_loss_beta": 0.0, "policy_loss_beta": 1.0},
}


def make_model(mm, attn, doc):
    s = doc["settings"]
    model, info = mm.MistralForCausalLM.from_pretrained(
        str(ours.FOLDER), torch_dtype=torch.float64, attn_implementation=attn, output_loading_info=True)
    assert not any(info[key] for key in ("missing_keys", "unexpected_keys", "mismatched_keys")), info
    assert model.config._attn_implementation == attn
    configure_training(model, s["start_thought_id"], s["end_thought_id"], s["k"], s["n_ahead_talk"], s["n_passes"])
    return model


def configure_training(model, start_id, end_id, k, talk, passes):
    """The attributes quiet-star-train.py's model_init sets, and the ids set before the first
    forward (otherwise it re-initialises the thought embeddings and zeroes the talk head)."""
    model.start_token_id, model.end_token_id = start_id, end_id
    model.rm_initialized = True
    model.gumbel_detach = True
    model.include_policy_loss = True
    model.use_end_thought_token = True
    model.use_start_thought_token = True
    model.n_ahead = k + 3
    model.n_ahead_talk = talk
    model.n_passes = passes
    model.n_tokens_print = 1
    model.gradient_accumulation_steps = 1
    model.residual_think_head = False
    model.optimize_lm_head_only_at_start = False
    model.gumbel_temperature = 1
    model.wandb_enabled = False
    model.original_mode = False
    model.kill_after = None
    model.train()
    assert not model.eval_mode


def run_reference(mm, model, tok, doc, term):
    s = doc["settings"]
    B, P, L, k = s["batch"], s["n_passes"], s["padded_length"], s["k"]
    saved = {name: getattr(model, name) for name in ("original_loss_weight", "include_policy_loss",
                                                    "base_loss_beta", "policy_loss_beta")}
    for name, value in TERM_SETTINGS[term].items():
        setattr(model, name, value)
    model.tokenizer = tok
    ids = torch.tensor(doc["input_ids"])
    content = torch.tensor(doc["content_ids"])                       # [B, P, L, k]
    calls = []

    def given_thought(logits, tau=1, hard=False, eps=1e-10, dim=-1):
        assert hard and dim == -1 and logits.shape == (B * P * L, model.vocab_size)
        i = len(calls)
        calls.append(tau)
        return torch.nn.functional.one_hot(content[..., i].reshape(-1), logits.shape[-1]).to(logits.dtype)

    captured, talk = {}, []
    code_file = mm.__file__

    def profiler(frame, event, arg):
        if event == "return" and frame.f_code.co_name == "forward" and frame.f_code.co_filename == code_file \
                and "loss_list" in frame.f_locals and "dqn_loss_list" in frame.f_locals:
            captured.update(frame.f_locals)
    hook = model.talk_head[0].register_forward_hook(lambda mod, inp, out: talk.append(out.detach().clone()))
    gumbel = torch.nn.functional.gumbel_softmax
    torch.nn.functional.gumbel_softmax = given_thought
    model.zero_grad(set_to_none=True)
    sys.setprofile(profiler)
    try:
        out = model(input_ids=ids, attention_mask=(ids != tok.pad_token_id).long(), labels=ids.clone())
    finally:
        sys.setprofile(None)
        torch.nn.functional.gumbel_softmax = gumbel
        hook.remove()
        for name, value in saved.items():
            setattr(model, name, value)
    assert len(calls) == k, calls
    out.loss.backward()
    grads = {n: (p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p)) for n, p in model.named_parameters()}
    return float(out.loss.detach()), grads, captured, talk


def max_diff(pairs):
    """pairs: list of (reference, ours) floats -> (max abs diff, max abs diff / max |reference|)."""
    if not pairs:
        return None
    d = max(abs(a - b) for a, b in pairs)
    scale = max(abs(a) for a, _ in pairs)
    return {"max_abs": d, "max_rel": d / scale if scale else d, "n": len(pairs)}


def group_of(name):
    if name.startswith("talk_head"):
        return "talk_head"
    if "self_attn" in name:
        return "attention"
    if "mlp" in name:
        return "mlp"
    if "norm" in name:
        return "norms"
    return {"model.embed_tokens.weight": "embed_tokens", "lm_head.weight": "lm_head"}.get(name, name)


def compare_case(mm, tok, doc, attn, float64):
    s = doc["settings"]
    B, P, L, k, A = s["batch"], s["n_passes"], s["padded_length"], s["k"], s["n_ahead_talk"]
    lengths, window = doc["lengths"], L - 1 - A
    for b, x in enumerate(doc["ids"]):
        assert not doc["texts"][b].startswith(" ")
        assert tok(doc["texts"][b])["input_ids"] == x, "tokenizers 0.15 ids differ from the fixture's"
    obj = ours.Objective(doc["ids"], doc["content_ids"], k, A, P)
    mine, my_grads = ours.gradients(obj, ours.load_params())
    for key in ("base_lp", "mixed_lp", "w", "logpi"):
        mine[key] = {i: v.detach() for i, v in mine[key].items()}
    mine["policy_per_token"] = [v.detach() for v in mine["policy_per_token"]]
    model = make_model(mm, attn, doc)
    result = {"case": doc["case"], "attention": attn, "numerics": "float64" if float64 else "as-shipped",
              "terms": {}, "gradients": {}, "per_position": {}}
    ctx = Float64Numerics(mm, model) if float64 else None
    if ctx:
        ctx.__enter__()
    try:
        for term in ours.TERMS:
            loss, grads, cap, talk = run_reference(mm, model, tok, doc, term)
            value = float(mine[term].detach())
            result["terms"][term] = {"reference": loss, "ours": value, **max_diff([(loss, value)])}
            groups = {}
            for name, g in grads.items():
                pair = (g, my_grads[term][name])
                groups.setdefault(group_of(name), []).append(pair)
            result["gradients"][term] = {}
            for group, items in sorted(groups.items()):
                d = max(float((a - b).abs().max()) for a, b in items)
                scale = max(float(a.abs().max()) for a, _ in items)
                result["gradients"][term][group] = {"max_abs": d, "max_rel": d / scale if scale else d, "max_ref": scale}
            if term == "total":
                captured, talk_out = cap, talk
    finally:
        if ctx:
            ctx.__exit__()

    n_ahead = k + 3
    loss_list = [x.detach() for x in captured["loss_list"]]
    pp = result["per_position"]
    base = [(float(loss_list[0][b * P + p, t]), -float(mine["base_lp"][b, t]))
            for b in range(B) for p in range(P) for t in range(lengths[b] - 1)]
    base_pad_zero = all(float(loss_list[0][b * P + p, t]) == 0.0
                        for b in range(B) for p in range(P) for t in range(lengths[b] - 1, L - 1))
    pp["base_ce"] = max_diff(base)
    mixed, ws, mixed_pad_zero = [], [], True
    for m in range(A):
        ref = loss_list[n_ahead - 1 + m]
        wref = talk_out[len(talk_out) - A + m]
        for b in range(B):
            for p in range(P):
                for t in range(L - 1 - m):
                    if (b, p, m, t) in mine["mixed_lp"]:
                        mixed.append((float(ref[b * P + p, t]), -float(mine["mixed_lp"][b, p, m, t])))
                        ws.append((float(wref[b * P + p, t, 0]), float(mine["w"][b, p, m, t])))
                    else:
                        mixed_pad_zero &= float(ref[b * P + p, t]) == 0.0
    pp["mixed_ce"] = max_diff(mixed)
    pp["w"] = max_diff(ws)
    pp["ignored_targets_are_zero"] = base_pad_zero and mixed_pad_zero
    reward = captured["policy_reward"].detach()
    assert tuple(reward.shape) == (B * P, window)
    pp["reward"] = max_diff([(float(reward[b * P + p, t]), float(mine["reward"][b, p, t]))
                             for b in range(B) for p in range(P) for t in range(window)])
    lls = [x.detach() for x in captured["action_loglikelihoods_list"]]
    assert len(lls) == k
    pp["policy_logprob"] = max_diff([(float(lls[i][b * P + p, t]), float(mine["logpi"][b, p, i, t]))
                                     for i in range(k) for b in range(B) for p in range(P)
                                     for t in range(min(L - 1, lengths[b]))])
    pp["policy_per_content_token"] = max_diff([(float(v.detach()), float(mine["policy_per_token"][i]))
                                               for i, v in enumerate(captured["dqn_loss_list"])])
    assert len(captured["dqn_loss_list"]) == k
    # The committed fixture is our float64 result rounded to float32.
    pp["fixture_vs_float64_loss_rel"] = max(abs(doc["loss"][t] - mine[t].item()) / abs(mine[t].item()) for t in ours.TERMS)
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("checkout", type=pathlib.Path)
    ap.add_argument("--out", type=pathlib.Path)
    args = ap.parse_args()
    import transformers
    transformers.logging.set_verbosity_error()
    mm = load_reference(args.checkout.resolve())
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        tok = load_tokenizer(tmp)
        for path in sorted(CASES.glob("*.json")):
            doc = json.loads(path.read_text())
            for attn, float64 in [("eager", True), ("sdpa", True), ("eager", False), ("sdpa", False)]:
                r = compare_case(mm, tok, doc, attn, float64)
                results.append(r)
                worst_grad = max(v["max_rel"] for t in r["gradients"].values() for v in t.values())
                worst_term = max(v["max_rel"] for v in r["terms"].values())
                worst_pp = max(v["max_rel"] for v in r["per_position"].values() if isinstance(v, dict))
                print(f"{r['case']:>12} {attn:>5} {r['numerics']:>10}: terms rel {worst_term:.2e}, "
                      f"gradients rel {worst_grad:.2e}, per-position rel {worst_pp:.2e}, "
                      f"ignored targets zero: {r['per_position']['ignored_targets_are_zero']}")
    versions = {"transformers": transformers.__version__, "torch": torch.__version__}
    if args.out:
        args.out.write_text(json.dumps({"versions": versions, "results": results}, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
