#!/usr/bin/env python3
"""Reference optimizer steps (torch.optim.AdamW, clip_grad_norm_, SGD), float32, for the Swift trainer.

Writes fixtures/training/optim.json: three small float32 tensors ("vector7" [7], "matrix5x3"
[5, 3], "vector64" [64]) with random initial values, and for each of 3 steps random gradients,
then the values torch computes:

- AdamW (torch.optim.AdamW, foreach=False: the single-tensor implementation), lr 1e-2, betas
  (0.9, 0.95), eps 1e-8, two parameter groups as a trainer builds them: weight_decay 0.1 for the
  matrix, 0.0 for the vectors (norms and biases). Parameters after every step; exp_avg,
  exp_avg_sq and the step count after the last one.
- torch.nn.utils.clip_grad_norm_(max_norm 1.0) before step 2 (only there): the total norm, the
  clip coefficient and the clipped gradients; AdamW step 2 uses the clipped gradients.
- torch.optim.SGD (lr 0.1, no momentum, no weight decay), one step from the initial values with
  the step-1 gradients.

Random values: numpy.random.default_rng(SEED).standard_normal(shape, dtype=float32): all initial
values (tensor order of TENSORS), then each step's gradients (same order).

Checks recorded in the JSON: a numpy re-implementation of torch's float32 operation order
(the `recipe` strings) reproduces torch bit for bit except that torch's float32 sqrt is not
correctly rounded (see `checks`); the foreach and fused AdamW implementations against the
single-tensor one; the same updates in float64 (how far float32 drifts from exact arithmetic).
One thread; rerunning gives identical bytes on an AVX2 or AVX-512 CPU (torch's DEFAULT CPU
capability does not fuse multiply-adds and gives other values; the script refuses to run there).

    /tmp/refenv/bin/python tools/reference/optim_reference.py
"""
import json
import math
import pathlib

import numpy as np
import torch

torch.set_num_threads(1)
ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "fixtures" / "training"

SEED = 20240607
TENSORS = [("vector7", [7]), ("matrix5x3", [5, 3]), ("vector64", [64])]
GROUPS = [{"weight_decay": 0.1, "params": ["matrix5x3"]}, {"weight_decay": 0.0, "params": ["vector7", "vector64"]}]
LR, BETAS, EPS = 1e-2, (0.9, 0.95), 1e-8
STEPS, CLIP_STEP, MAX_NORM = 3, 2, 1.0
SGD_LR = 0.1

ADAMW_RECIPE = [
    "torch 2.x _single_tensor_adam with decoupled_weight_decay (AdamW), per tensor, step t = 1, 2, 3; f() = round to "
    "float32, every tensor operation rounds to float32, fma = one rounding; Python scalars are doubles:",
    "p = p * f(1 - lr * weight_decay)                      (only when weight_decay != 0)",
    "m = fma(f(1 - beta1), g - m, m)                        (m.lerp_(g, 1 - beta1); weight < 0.5 form)",
    "v = v * f(beta2); v = fma(f(f(1 - beta2) * g), g, v)   (v.mul_(beta2).addcmul_(g, g, value=1 - beta2))",
    "bc1 = 1 - beta1**t; bc2 = 1 - beta2**t; step_size = lr / bc1; bc2_sqrt = bc2**0.5   (doubles)",
    "denom = sqrt(v) / f(bc2_sqrt) + f(eps)                 (true division, not a reciprocal multiply)",
    "p = p + f(f(f(-step_size) * m) / denom)                (p.addcdiv_(m, denom, value=-step_size))",
    "m and v start at 0; the state step count is a float32 tensor. torch's float32 sqrt on CPU is not always "
    "correctly rounded (1 ulp off for ~20% of inputs, see checks); with this fixture's values an IEEE sqrt gives the "
    "same bytes.",
]
CLIP_RECIPE = [
    "total_norm = vector_norm(stack([vector_norm(g_i) for each tensor]))   (2-norm, float32)",
    "clip_coef = min(f(max_norm * f(1 / f(total_norm + 1e-6))), 1.0)       (max_norm / tensor is reciprocal * max_norm)",
    "g_i = g_i * clip_coef",
]
SGD_RECIPE = ["p = fma(f(-lr), g, p)   (p.add_(g, alpha=-lr); one rounding on AVX2/AVX-512 builds, two on "
              "the DEFAULT CPU capability)"]


def values(t):
    """Row-major float32 values as the JSON numbers that read back to the same float32."""
    return [float(x) for x in t.detach().to(torch.float32).flatten().tolist()]


def sig3(x):
    return float(f"{float(x):.3g}")


def random_inputs():
    # numpy, not torch.randn: torch's normal sampler gives other values on the DEFAULT CPU
    # capability than on AVX2/AVX-512, numpy's PCG64 the same everywhere.
    rng = np.random.default_rng(SEED)

    def draw(shape):
        return torch.from_numpy(rng.standard_normal(shape, dtype=np.float32))

    init = {n: draw(s) for n, s in TENSORS}
    grads = [{n: draw(s) for n, s in TENSORS} for _ in range(STEPS)]
    return init, grads


def groups_of(params):
    return [{"params": [params[n] for n in grp["params"]], "weight_decay": grp["weight_decay"]} for grp in GROUPS]


def run_adamw(init, grads, **impl):
    """torch AdamW over STEPS steps, with clip_grad_norm_ before CLIP_STEP."""
    params = {n: torch.nn.Parameter(v.clone()) for n, v in init.items()}
    opt = torch.optim.AdamW(groups_of(params), lr=LR, betas=BETAS, eps=EPS, **impl)
    steps = []
    for i, step_grads in enumerate(grads, start=1):
        for n, p in params.items():
            p.grad = step_grads[n].clone()
        clip = None
        if i == CLIP_STEP:
            ordered = [params[n] for n, _ in TENSORS]
            total = torch.nn.utils.clip_grad_norm_(ordered, MAX_NORM)
            coef = torch.clamp(MAX_NORM / (total + 1e-6), max=1.0)
            t = float(total.item())
            assert float(coef.item()) == min(f(MAX_NORM * f(1 / f(t + 1e-6))), 1.0)     # CLIP_RECIPE
            for n, p in params.items():      # torch multiplied exactly by this coefficient
                assert torch.equal(p.grad, step_grads[n] * coef), n
            clip = {"total_norm": total.clone(), "clip_coef": coef, "clipped": {n: p.grad.clone() for n, p in params.items()}}
        opt.step()
        steps.append({"params": {n: p.detach().clone() for n, p in params.items()}, "clip": clip})
    state = {n: {k: opt.state[params[n]][k].clone() for k in ("step", "exp_avg", "exp_avg_sq")} for n in params}
    return steps, state


# ------------------------------------------------------------------ independent re-implementations

def f(x):
    return float(np.float32(x))


def r(x):
    """Round a float64 array to float32 (kept as float64 holding float32 values)."""
    return np.asarray(x, dtype=np.float64).astype(np.float32).astype(np.float64)


def sqrt_ieee(x):
    return r(np.sqrt(x))        # sqrt of a float32 in float64, rounded once: correctly rounded


def sqrt_torch(x):
    return torch.from_numpy(x.astype(np.float32)).sqrt().numpy().astype(np.float64)


def recipe_adamw(init, step_grads, sqrt, float64=False):
    """The update of ADAMW_RECIPE in numpy: rounding to float32 after every operation, or none
    at all (float64=True: the same formula in float64 arithmetic, float32 inputs)."""
    rd = (lambda x: np.asarray(x, dtype=np.float64)) if float64 else r
    fs = (lambda x: float(x)) if float64 else f
    wd = {n: grp["weight_decay"] for grp in GROUPS for n in grp["params"]}
    p = {n: v.numpy().astype(np.float64).flatten() for n, v in init.items()}
    m = {n: np.zeros_like(v) for n, v in p.items()}
    v = {n: np.zeros_like(x) for n, x in p.items()}
    out = []
    for t, grads in enumerate(step_grads, start=1):
        bc1, bc2 = 1 - BETAS[0] ** t, 1 - BETAS[1] ** t
        step_size, bc2_sqrt = LR / bc1, bc2 ** 0.5
        for n in p:
            g = grads[n].numpy().astype(np.float64).flatten()
            if wd[n] != 0:
                p[n] = rd(p[n] * fs(1 - LR * wd[n]))
            m[n] = rd(m[n] + fs(1 - BETAS[0]) * rd(g - m[n]))
            v[n] = rd(v[n] * fs(BETAS[1]))
            v[n] = rd(v[n] + rd(fs(1 - BETAS[1]) * g) * g)
            root = np.sqrt(v[n]) if float64 else sqrt(v[n])
            denom = rd(rd(root / fs(bc2_sqrt)) + fs(EPS))
            p[n] = rd(p[n] + rd(rd(fs(-step_size) * m[n]) / denom))
        out.append({n: x.copy() for n, x in p.items()})
    return out, m, v


def ulps(a, b):
    ia = np.asarray(a, dtype=np.float32).view(np.int32).astype(np.int64)
    ib = np.asarray(b, dtype=np.float32).view(np.int32).astype(np.int64)
    return int(np.abs(ia - ib).max())


def compare_steps(torch_steps, other):
    """(elements that differ, max ulps, max abs diff) over all steps and tensors."""
    differ, worst_ulps, worst_abs = 0, 0, 0.0
    for mine, theirs in zip(torch_steps, other):
        for n, t in mine["params"].items():
            a = t.numpy().astype(np.float64).flatten()
            b = np.asarray(theirs[n], dtype=np.float64).flatten()
            differ += int((a != b).sum())
            worst_abs = max(worst_abs, float(np.abs(a - b).max()))
            worst_ulps = max(worst_ulps, ulps(a, b))
    return differ, worst_ulps, worst_abs


def main():
    # torch's CPU kernels fuse multiply-adds (FMA) on the AVX2 and AVX-512 builds (identical bytes
    # on both) but not on the DEFAULT one, so the recipe and the fixture need one of those two.
    assert torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512"), torch.backends.cpu.get_cpu_capability()
    init, grads = random_inputs()
    steps, state = run_adamw(init, grads, foreach=False)
    used = [dict(g) for g in grads]                                  # gradients each step really used
    used[CLIP_STEP - 1] = steps[CLIP_STEP - 1]["clip"]["clipped"]
    n_elements = sum(math.prod(s) for _, s in TENSORS)

    checks = {"elements_per_step": n_elements, "steps": STEPS}
    for label, sqrt in (("recipe_float32_ieee_sqrt", sqrt_ieee), ("recipe_float32_torch_sqrt", sqrt_torch)):
        out, m, v = recipe_adamw(init, used, sqrt)
        differ, worst_ulps, worst_abs = compare_steps(steps, out)
        moments = sum(int((state[n][k].numpy().astype(np.float64).flatten() != x[n]).sum())
                      for n in m for k, x in (("exp_avg", m), ("exp_avg_sq", v)))
        checks[label] = {"params_differing": differ, "max_ulps": worst_ulps, "max_abs_diff": sig3(worst_abs),
                         "final_moments_differing": moments}
    assert checks["recipe_float32_torch_sqrt"]["params_differing"] == 0, checks
    assert checks["recipe_float32_torch_sqrt"]["final_moments_differing"] == 0, checks
    exact, m64, v64 = recipe_adamw(init, used, None, float64=True)
    differ, worst_ulps, worst_abs = compare_steps(steps, exact)
    checks["float64_same_inputs"] = {"max_abs_param_diff": sig3(worst_abs),
                                     "max_abs_exp_avg_diff": sig3(max(float(np.abs(state[n]["exp_avg"].numpy().flatten() - m64[n]).max()) for n in m64)),
                                     "max_abs_exp_avg_sq_diff": sig3(max(float(np.abs(state[n]["exp_avg_sq"].numpy().flatten() - v64[n]).max()) for n in v64))}
    # torch's float32 sqrt on CPU is not always correctly rounded (1 ulp off, e.g. 0.5962566137313843)
    sample = torch.rand(100000, generator=torch.Generator().manual_seed(SEED), dtype=torch.float32) + 0.1
    x = sample.numpy().astype(np.float64)
    checks["torch_float32_sqrt_misrounded_fraction"] = sig3(float((sqrt_torch(x) != sqrt_ieee(x)).mean()))
    checks["torch_float32_sqrt_max_ulps_from_ieee"] = ulps(sqrt_torch(x), sqrt_ieee(x))
    for label, impl in (("foreach", {"foreach": True}), ("fused", {"fused": True})):
        other, _ = run_adamw(init, grads, **impl)
        differ, worst_ulps, worst_abs = compare_steps(steps, [s["params"] for s in other])
        checks[f"torch_{label}_vs_single_tensor"] = {"params_differing": differ, "max_ulps": worst_ulps,
                                                      "max_abs_diff": sig3(worst_abs)}
        if label == "fused":
            ieee, _, _ = recipe_adamw(init, used, sqrt_ieee)
            checks["torch_fused_vs_recipe_float32_ieee_sqrt"] = {"params_differing": compare_steps(other, ieee)[0]}
    assert checks["float64_same_inputs"]["max_abs_param_diff"] < 1e-6, checks

    # Clip: total norm in float64 from the same gradients
    clip = steps[CLIP_STEP - 1]["clip"]
    norm64 = math.sqrt(sum(float((g.double() ** 2).sum()) for g in grads[CLIP_STEP - 1].values()))

    # SGD
    sgd_params = {n: torch.nn.Parameter(v.clone()) for n, v in init.items()}
    sgd = torch.optim.SGD([sgd_params[n] for n, _ in TENSORS], lr=SGD_LR, momentum=0.0, weight_decay=0.0, foreach=False)
    for n, p in sgd_params.items():
        p.grad = grads[0][n].clone()
    sgd.step()
    sgd_forms = {}
    for form, fn in (("fma", lambda p, g: r(p + f(-SGD_LR) * g)), ("two_roundings", lambda p, g: r(p + r(f(-SGD_LR) * g)))):
        sgd_forms[form] = sum(int((sgd_params[n].detach().numpy().astype(np.float64).flatten() !=
                                   fn(init[n].numpy().astype(np.float64).flatten(), grads[0][n].numpy().astype(np.float64).flatten())).sum())
                              for n in init)

    doc = {
        "generator": "tools/reference/optim_reference.py",
        "versions": {"torch": torch.__version__.split("+")[0], "numpy": np.__version__},
        "cpu_capability": "AVX2 or AVX512 (torch.backends.cpu.get_cpu_capability(); both give these bytes)",
        "dtype": "float32 throughout; every value is written as the decimal that reads back to the same float32",
        "layout": "each tensor's values row-major (flattened), shape in `tensors`",
        "seed": SEED,
        "random": "numpy.random.default_rng(seed).standard_normal(shape, dtype=float32): initial values of each tensor, "
                  "then step 1's gradients of each tensor, then step 2's, step 3's (tensor order of `tensors`)",
        "tensors": [{"name": n, "shape": s} for n, s in TENSORS],
        "initial_params": {n: values(v) for n, v in init.items()},
        "adamw": {
            "settings": {"lr": LR, "betas": list(BETAS), "eps": EPS, "amsgrad": False, "maximize": False,
                         "foreach": False, "implementation": "torch.optim.AdamW (single-tensor)"},
            "param_groups": GROUPS,
            "recipe": ADAMW_RECIPE,
            "steps": [{"step": i,
                       "grads": {n: values(g) for n, g in grads[i - 1].items()},
                       "grads_used": ("clip_grad_norm.clipped_grads" if i == CLIP_STEP else "grads"),
                       "params_after": {n: values(v) for n, v in s["params"].items()}}
                      for i, s in enumerate(steps, start=1)],
            "state_after_last_step": {n: {"step": int(st["step"].item()), "exp_avg": values(st["exp_avg"]),
                                          "exp_avg_sq": values(st["exp_avg_sq"])} for n, st in state.items()},
            "checks": checks,
        },
        "clip_grad_norm": {
            "before_step": CLIP_STEP, "max_norm": MAX_NORM, "norm_type": 2.0,
            "call": "torch.nn.utils.clip_grad_norm_([vector7, matrix5x3, vector64], max_norm) (foreach default: "
                    "torch._foreach_norm on CPU), applied to adamw.steps[before_step - 1].grads",
            "recipe": CLIP_RECIPE,
            "total_norm": float(clip["total_norm"].item()),
            "clip_coef": float(clip["clip_coef"].item()),
            "clipped_grads": {n: values(g) for n, g in clip["clipped"].items()},
            "checks": {"total_norm_float64": sig3(norm64),
                       "total_norm_abs_diff_vs_float64": sig3(abs(float(clip["total_norm"].item()) - norm64))},
        },
        "sgd": {
            "settings": {"lr": SGD_LR, "momentum": 0.0, "weight_decay": 0.0, "dampening": 0.0, "nesterov": False,
                         "foreach": False},
            "recipe": SGD_RECIPE,
            "from": "initial_params, one step with adamw.steps[0].grads",
            "params_after": {n: values(p) for n, p in sgd_params.items()},
            "checks": {f"params_differing_from_{k}": v for k, v in sgd_forms.items()},
        },
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "optim.json").write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(json.dumps({"adamw_checks": checks, "clip": doc["clip_grad_norm"]["checks"], "total_norm": doc["clip_grad_norm"]["total_norm"],
                      "clip_coef": doc["clip_grad_norm"]["clip_coef"], "sgd": doc["sgd"]["checks"]}, indent=1))


if __name__ == "__main__":
    main()
