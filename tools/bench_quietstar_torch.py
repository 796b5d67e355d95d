#!/usr/bin/env python3
"""The PyTorch baseline of `quietstar-bench train-quietstar`: one Quiet-STaR training step of the
public reference implementation (ezelikman/quiet-star `modeling_mistral.py`, loaded in place of
transformers 4.37.2's Mistral as tools/reference/check_quietstar_objective.py does), float32 on
the CPU, on a randomly initialised model of the given shape.

The step is the reference trainer's (`quiet-star-train.py` settings: n_ahead = k + 3,
n_ahead_talk, n_passes, gumbel_detach, policy loss on, original_loss_weight 0.5, policy_loss_beta
1e6): forward in training mode (which samples the thoughts), backward, clip_grad_norm_(1.0),
AdamW. Inputs: `--batch` rows of `--length` random token ids, attention mask all ones.

    /tmp/qsref-env/bin/python tools/bench_quietstar_torch.py /tmp/qsref --threads 2

Prints one JSON line on stdout.
"""
import argparse
import json
import os
import pathlib
import resource
import statistics
import sys
import time
import types

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "reference"))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("checkout", type=pathlib.Path)
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--kv-heads", type=int, default=4)
    p.add_argument("--ffn", type=int, default=688)
    p.add_argument("--vocab", type=int, default=260)
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--length", type=int, default=64)
    p.add_argument("--thought-tokens", type=int, default=4)
    p.add_argument("--lookahead", type=int, default=4)
    p.add_argument("--passes", type=int, default=2)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    a = p.parse_args()

    import torch
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    # The reference's modules, loaded as the correctness check loads them (plotting stubbed).
    # Whatever the optimiser imports lazily is imported now, before the reference's plotting
    # stubs enter sys.modules (torch's lazy imports inspect every module and trip over them).
    warm = torch.zeros(2, requires_grad=True)
    warm.sum().backward()
    torch.nn.utils.clip_grad_norm_([warm], 1.0)
    torch.optim.AdamW([warm], lr=1e-6).step()
    import check_quietstar_objective as check
    import transformers  # before the plotting stubs (they have no module spec), as the check does
    transformers.logging.set_verbosity_error()
    mm = check.load_reference(a.checkout.resolve())
    torch.set_default_dtype(torch.float32)   # the check module sets float64 for its own float64 runs
    cm = sys.modules["transformers.models.mistral.configuration_mistral"]
    config = cm.MistralConfig(vocab_size=a.vocab, hidden_size=a.hidden, intermediate_size=a.ffn,
                              num_hidden_layers=a.layers, num_attention_heads=a.heads, num_key_value_heads=a.kv_heads,
                              max_position_embeddings=a.length + a.thought_tokens + a.lookahead + 8, sliding_window=None,
                              rms_norm_eps=1e-5, tie_word_embeddings=False, pad_token_id=2)
    config._attn_implementation = "eager"
    model = mm.MistralForCausalLM(config).float()
    check.configure_training(model, a.vocab - 2, a.vocab - 1, a.thought_tokens, a.lookahead, a.passes)
    model.tokenizer = types.SimpleNamespace(pad_token_id=2)   # only its pad id is read in training
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-6, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.001)
    parameters = sum(q.numel() for q in model.parameters())
    generator = torch.Generator().manual_seed(1)

    def step():
        ids = torch.randint(3, 256, (a.batch, a.length), generator=generator)
        optimizer.zero_grad(set_to_none=True)
        out = model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=ids.clone())
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()

    for _ in range(a.warmup):
        step()
    times = []
    for _ in range(a.steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    median = statistics.median(times)
    print(json.dumps({
        "bench": "train_quietstar", "implementation": "quiet-star reference (PyTorch)", "torch_version": torch.__version__,
        "threads": a.threads, "layers": a.layers, "hidden": a.hidden, "heads": a.heads, "kv_heads": a.kv_heads,
        "ffn": a.ffn, "vocab": a.vocab, "batch": a.batch, "length": a.length, "thought_tokens": a.thought_tokens,
        "lookahead": a.lookahead, "passes": a.passes, "parameters": parameters,
        "step_seconds_median": round(median, 4), "step_seconds_best": round(min(times), 4),
        "tokens_per_second": round(a.batch * a.length / median, 2),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }))


if __name__ == "__main__":
    main()
