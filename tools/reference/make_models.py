#!/usr/bin/env python3
"""Build the tiny Hugging Face model folders under fixtures/hf/ with transformers' own classes.

Every folder is what a user downloads: config.json, model.safetensors (or shards + index),
generation_config.json, tokenizer.json, tokenizer_config.json. Weights are random but not
default-initialised: HF's init (std 0.02, unit norms, zero biases) gives near-uniform logits
and zero biases that hide bugs, so every matrix is redrawn with std ~0.15, every norm weight
is 1 +- 0.2 and every bias is non-zero.

    /tmp/refenv/bin/python tools/reference/make_models.py

Requires fixtures/tokenizers/ (make_tokenizers.py). Deterministic: fixed per-model seeds,
single-threaded torch, safetensors written with sorted tensor names.
"""
import json
import pathlib
import shutil
import tempfile
import zlib

import torch
from safetensors.torch import load_file, save_file
from transformers import (LlamaConfig, LlamaForCausalLM, MistralConfig, MistralForCausalLM, Qwen2Config,
                          Qwen2ForCausalLM)

torch.set_num_threads(1)
ROOT = pathlib.Path(__file__).resolve().parents[2]
TOKENIZERS = ROOT / "fixtures" / "tokenizers"
OUT = ROOT / "fixtures" / "hf"

# The published Quiet-STaR layout (ezelikman/quiet-star modeling_mistral.py).
EMBEDDING_SCALE = 100.0
THOUGHT_INIT_STD_SCALE = 1e-2
END_THOUGHT, START_THOUGHT = "<|endthought|>", "<|startthought|>"

COMMON = dict(hidden_size=64, intermediate_size=160, num_hidden_layers=2, num_attention_heads=4,
              max_position_embeddings=256)


def generator(name):
    """One seed per model, derived from its name so adding a model never reshuffles the others."""
    g = torch.Generator().manual_seed(zlib.crc32(name.encode()))
    return g


@torch.no_grad()
def perturb(model, g, matrix_std=0.15, embedding_std=0.5, bias_std=0.1):
    """Redraw every parameter so outputs are peaked and every code path carries weight."""
    for name, p in sorted(model.named_parameters()):
        if p.dim() == 1 and "norm" in name:
            p.copy_(1.0 + 0.2 * (2 * torch.rand(p.shape, generator=g) - 1))
        elif name.endswith(".bias"):
            p.copy_(bias_std * torch.randn(p.shape, generator=g))
        elif "embed_tokens" in name or "lm_head" in name:
            # Large enough that logits are peaked (mean entropy ~2 nats of ~6 for uniform).
            p.copy_(embedding_std * torch.randn(p.shape, generator=g))
        else:
            p.copy_(matrix_std * torch.randn(p.shape, generator=g))


def tokenizer_ids(name):
    doc = json.loads((TOKENIZERS / name / "tokenizer.json").read_text(encoding="utf-8"))
    ids = dict(doc["model"]["vocab"])
    ids.update({t["content"]: t["id"] for t in doc["added_tokens"]})
    return ids


def copy_tokenizer(name, dest):
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(TOKENIZERS / name / f, dest / f)


def build(cls, config, name):
    config._attn_implementation = "eager"
    torch.manual_seed(0)  # HF's own init runs first; perturb then overwrites every parameter
    model = cls(config).eval()
    perturb(model, generator(name))
    return model


def save(model, dest, **kwargs):
    if dest.exists():
        shutil.rmtree(dest)
    model.save_pretrained(dest, **kwargs)


def llama_tied():
    ids = tokenizer_ids("gpt2")
    eot = ids["<|endoftext|>"]
    config = LlamaConfig(vocab_size=len(ids), num_key_value_heads=4, head_dim=16, rope_theta=10000.0,
                         rms_norm_eps=1e-6, tie_word_embeddings=True, bos_token_id=eot, eos_token_id=eot, **COMMON)
    return build(LlamaForCausalLM, config, "llama-tied"), "gpt2"


def llama_untied():
    ids = tokenizer_ids("llama2")
    config = LlamaConfig(vocab_size=len(ids), num_key_value_heads=4, head_dim=16, rope_theta=10000.0,
                         rope_scaling={"rope_type": "linear", "factor": 2.0}, rms_norm_eps=1e-5,
                         tie_word_embeddings=False, bos_token_id=1, eos_token_id=2, **COMMON)
    return build(LlamaForCausalLM, config, "llama-untied"), "llama2"


def llama3():
    ids = tokenizer_ids("llama3")
    # original_max_position_embeddings 64 (not 32): with head_dim 16 and theta 5e5 the RoPE
    # wavelengths are 6.3, 32.5, 173, ... ; 64 puts 32.5 inside the (64/4, 64/1) band, so the
    # smooth interpolation branch of llama3 scaling is exercised next to the kept and the
    # divided frequencies.
    config = LlamaConfig(vocab_size=len(ids), num_key_value_heads=2, head_dim=16, rope_theta=500000.0,
                         rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                       "high_freq_factor": 4.0, "original_max_position_embeddings": 64},
                         rms_norm_eps=1e-5, tie_word_embeddings=False, bos_token_id=ids["<|begin_of_text|>"],
                         eos_token_id=ids["<|end_of_text|>"], **COMMON)
    return build(LlamaForCausalLM, config, "llama3"), "llama3"


def mistral():
    ids = tokenizer_ids("mistral-metaspace")
    config = MistralConfig(vocab_size=len(ids), num_key_value_heads=1, head_dim=16, rope_theta=10000.0,
                           sliding_window=8, rms_norm_eps=1e-5, tie_word_embeddings=False, bos_token_id=1,
                           eos_token_id=2, **COMMON)
    return build(MistralForCausalLM, config, "mistral"), "mistral-metaspace"


def qwen2():
    ids = tokenizer_ids("qwen2")
    eot = ids["<|endoftext|>"]
    config = Qwen2Config(vocab_size=len(ids), num_key_value_heads=2, rope_theta=1000000.0, rms_norm_eps=1e-6,
                         tie_word_embeddings=True, use_sliding_window=False, bos_token_id=eot, eos_token_id=eot,
                         **COMMON)
    return build(Qwen2ForCausalLM, config, "qwen2"), "qwen2"


def write_json(path, obj):
    path.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def v4_config(dest, rope_theta, rope_scaling):
    """Rewrite a transformers-5 config.json in the layout of the 4.x era (top-level rope_theta and
    rope_scaling, torch_dtype), which most checkpoints on the Hub still have."""
    cfg = json.loads((dest / "config.json").read_text())
    cfg.pop("rope_parameters")
    cfg["rope_theta"] = rope_theta
    cfg["rope_scaling"] = rope_scaling
    cfg["torch_dtype"] = cfg.pop("dtype")
    cfg["transformers_version"] = "4.46.0"
    write_json(dest / "config.json", cfg)


def quietstar_tokenizer(dest):
    """mistral-metaspace plus the two thought tokens, appended in the released tokenizer's order."""
    doc = json.loads((TOKENIZERS / "mistral-metaspace" / "tokenizer.json").read_text(encoding="utf-8"))
    base = len(doc["model"]["vocab"])
    for offset, content in enumerate((END_THOUGHT, START_THOUGHT)):
        doc["added_tokens"].append({"id": base + offset, "content": content, "single_word": False, "lstrip": False,
                                    "rstrip": False, "normalized": False, "special": True})
    (dest / "tokenizer.json").write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    cfg = json.loads((TOKENIZERS / "mistral-metaspace" / "tokenizer_config.json").read_text())
    cfg["additional_special_tokens"] = [END_THOUGHT, START_THOUGHT]
    for offset, content in enumerate((END_THOUGHT, START_THOUGHT)):
        cfg["added_tokens_decoder"][str(base + offset)] = {"content": content, "lstrip": False, "normalized": False,
                                                           "rstrip": False, "single_word": False, "special": True}
    write_json(dest / "tokenizer_config.json", cfg)
    return base + 2


def quietstar_mistral():
    """A Mistral model in the layout ezelikman/quietstar-8-ahead was published in."""
    name = "quietstar-mistral"
    dest = OUT / name
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    vocab = quietstar_tokenizer(dest)
    config = MistralConfig(vocab_size=vocab, num_key_value_heads=2, head_dim=16, rope_theta=10000.0,
                           sliding_window=4096, rms_norm_eps=1e-5, tie_word_embeddings=False, bos_token_id=1,
                           eos_token_id=2, **COMMON)
    model = build(MistralForCausalLM, config, name)
    H = config.hidden_size
    g = generator(name + "/thought")
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)
        tensors = load_file(str(pathlib.Path(tmp) / "model.safetensors"))
        shutil.copyfile(pathlib.Path(tmp) / "generation_config.json", dest / "generation_config.json")

    # start/end embeddings as the reference initialises them: row 0 = embedding("---"'s first
    # token) / scale, row 1 = log(std * 1e-2 / scale) (a reparameterisation the paper does not
    # use). Noise on row 0 makes the two effective vectors differ from the dash row and from
    # each other; x100 at use time turns 1e-3 into 0.1.
    from tokenizers import Tokenizer
    dash = Tokenizer.from_file(str(dest / "tokenizer.json")).encode("---", add_special_tokens=False).ids[0]
    embed = tensors["model.embed_tokens.weight"]
    row1 = torch.log(embed.std(dim=0) * THOUGHT_INIT_STD_SCALE / EMBEDDING_SCALE)
    extra = {}
    for key in ("start_embedding", "end_embedding"):
        row0 = embed[dash] / EMBEDDING_SCALE + 2e-3 * torch.randn(H, generator=g)
        extra[key] = torch.stack([row0, row1]).contiguous()
    # The mixing head with every layer non-zero (the reference zeroes the last one at the start
    # of training; a trained head is not zero). Scales keep w mostly within about [-1, 1].
    extra["talk_head.0.0.weight"] = 0.1 * torch.randn(H, 2 * H, generator=g)
    extra["talk_head.0.0.bias"] = 0.1 * torch.randn(H, generator=g)
    extra["talk_head.0.2.weight"] = 0.15 * torch.randn(H, H, generator=g)
    extra["talk_head.0.2.bias"] = 0.1 * torch.randn(H, generator=g)
    extra["talk_head.0.4.weight"] = 0.04 * torch.randn(1, H, generator=g)
    tensors.update(extra)
    save_file({k: tensors[k].contiguous() for k in sorted(tensors)}, str(dest / "model.safetensors"),
              metadata={"format": "pt"})

    # config.json as the patched 4.37 MistralConfig wrote it: the stock Mistral fields plus the
    # Quiet-STaR switches, with the values the training script passes (max_thoughts = n_ahead +
    # n_ahead_talk + 1 for the 8-ahead model trained with n_ahead_talk 4). No head_dim: 4.37
    # derived it as hidden_size / num_attention_heads.
    cfg = {
        "architectures": ["MistralForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 1, "eos_token_id": 2,
        "hidden_act": "silu", "hidden_size": H, "initializer_range": 0.02,
        "intermediate_size": config.intermediate_size, "max_position_embeddings": config.max_position_embeddings,
        "model_type": "mistral", "num_attention_heads": config.num_attention_heads,
        "num_hidden_layers": config.num_hidden_layers, "num_key_value_heads": config.num_key_value_heads,
        "rms_norm_eps": config.rms_norm_eps, "rope_theta": 10000.0, "sliding_window": config.sliding_window,
        "tie_word_embeddings": False, "torch_dtype": "float32", "transformers_version": "4.37.0.dev0",
        "use_cache": True, "vocab_size": vocab,
        "max_thoughts": 13, "merged_lm_and_talk_heads": False, "merged_lm_and_think_heads": True,
        "merged_talk_heads": True, "use_complex_talk_head": True, "use_complex_think_head": False,
        "use_concat_talk_head": True, "use_shallow_talk": False, "use_shallow_think": True,
        "use_weighted_talk_head": True,
    }
    write_json(dest / "config.json", cfg)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for name, make in (("llama-tied", llama_tied), ("llama3", llama3), ("mistral", mistral), ("qwen2", qwen2)):
        model, tok = make()
        save(model, OUT / name)
        copy_tokenizer(tok, OUT / name)

    model, tok = llama_untied()
    save(model, OUT / "llama-untied")
    copy_tokenizer(tok, OUT / "llama-untied")
    v4_config(OUT / "llama-untied", 10000.0, {"rope_type": "linear", "factor": 2.0})
    # Same weights, split into ~200 kB shards with model.safetensors.index.json (config in the
    # transformers-5 layout, so the two folders also differ in how they spell RoPE scaling).
    save(model, OUT / "llama-sharded", max_shard_size="200kB")
    copy_tokenizer(tok, OUT / "llama-sharded")
    # Same weights rounded to bfloat16 on disk (round to nearest even, as torch casts).
    save(model.to(torch.bfloat16), OUT / "llama-bf16")
    copy_tokenizer(tok, OUT / "llama-bf16")

    quietstar_mistral()


if __name__ == "__main__":
    main()
