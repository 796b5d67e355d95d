"""The comparison model of `tools/bench compare`, written for both engines from one set of weights.

The shape is quietstar-bench engine's random model (hidden 512, 6 layers, 8 heads of 64, SwiGLU
1536, vocabulary 8192, tied embeddings: 24.6M parameters), so `tools/bench compare` and
`quietstar-bench engine` describe the same network. Weights are seeded normal draws.

Writes, under OUT:
  hf/                      config.json + model.safetensors (f32) + tokenizer.json, for
                           `quietstar-convert from-hf` (the tokenizer is a small fixture one:
                           throughput benchmarks feed token ids, and vocab_size may exceed it)
  model-{f32,f16,q8_0}.gguf  the same weights for llama.cpp, tensors named and Q/K rows permuted
                           as llama.cpp's convert_hf_to_gguf.py does for LlamaForCausalLM, a
                           placeholder SentencePiece vocabulary of vocab_size tokens.

Needs numpy, safetensors and gguf (tools/compare/requirements.txt). Not used by CI.
"""
import json
import shutil
import sys
from pathlib import Path

import gguf
import numpy as np
from safetensors.numpy import save_file

HIDDEN, LAYERS, HEADS, KV_HEADS, HEAD_DIM, FFN, VOCAB, CONTEXT = 512, 6, 8, 8, 64, 1536, 8192, 1024
EPS, THETA = 1e-5, 10000.0


def weights(seed=0):
    rng = np.random.default_rng(seed)
    def normal(*shape, std=0.02):
        return (rng.standard_normal(shape) * std).astype(np.float32)
    t = {"model.embed_tokens.weight": normal(VOCAB, HIDDEN),
         "model.norm.weight": (1 + normal(HIDDEN, std=0.1)).astype(np.float32)}
    for i in range(LAYERS):
        p = f"model.layers.{i}."
        t[p + "input_layernorm.weight"] = (1 + normal(HIDDEN, std=0.1)).astype(np.float32)
        t[p + "post_attention_layernorm.weight"] = (1 + normal(HIDDEN, std=0.1)).astype(np.float32)
        t[p + "self_attn.q_proj.weight"] = normal(HEADS * HEAD_DIM, HIDDEN)
        t[p + "self_attn.k_proj.weight"] = normal(KV_HEADS * HEAD_DIM, HIDDEN)
        t[p + "self_attn.v_proj.weight"] = normal(KV_HEADS * HEAD_DIM, HIDDEN)
        t[p + "self_attn.o_proj.weight"] = normal(HIDDEN, HEADS * HEAD_DIM)
        t[p + "mlp.gate_proj.weight"] = normal(FFN, HIDDEN)
        t[p + "mlp.up_proj.weight"] = normal(FFN, HIDDEN)
        t[p + "mlp.down_proj.weight"] = normal(HIDDEN, FFN)
    return t


def write_hf(out: Path, t, tokenizer_json: Path):
    out.mkdir(parents=True, exist_ok=True)
    save_file(t, str(out / "model.safetensors"))
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": HIDDEN,
              "intermediate_size": FFN, "num_hidden_layers": LAYERS, "num_attention_heads": HEADS,
              "num_key_value_heads": KV_HEADS, "head_dim": HEAD_DIM, "vocab_size": VOCAB,
              "max_position_embeddings": CONTEXT, "rms_norm_eps": EPS, "rope_theta": THETA,
              "tie_word_embeddings": True, "hidden_act": "silu", "torch_dtype": "float32"}
    (out / "config.json").write_text(json.dumps(config, indent=2))
    shutil.copy(tokenizer_json, out / "tokenizer.json")


def permute(w, heads):
    """llama.cpp's LlamaModel.permute: HF's half-split rotary rows -> GGUF's interleaved pairs."""
    return w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def write_gguf(path: Path, t, dtype: str):
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("quietstar-bench-compare")
    w.add_context_length(CONTEXT)
    w.add_embedding_length(HIDDEN)
    w.add_block_count(LAYERS)
    w.add_feed_forward_length(FFN)
    w.add_head_count(HEADS)
    w.add_head_count_kv(KV_HEADS)
    w.add_rope_dimension_count(HEAD_DIM)
    w.add_rope_freq_base(THETA)
    w.add_layer_norm_rms_eps(EPS)
    w.add_vocab_size(VOCAB)
    w.add_file_type({"f32": gguf.LlamaFileType.ALL_F32, "f16": gguf.LlamaFileType.MOSTLY_F16,
                     "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0}[dtype])
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    tokens += [f"\u2581t{i}" for i in range(VOCAB - len(tokens))]
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores([0.0] * 3 + [0.0] * 256 + [-float(i) for i in range(VOCAB - 259)])
    w.add_token_types([gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL]
                      + [gguf.TokenType.BYTE] * 256 + [gguf.TokenType.NORMAL] * (VOCAB - 259))
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)

    def matrix(name, a):
        if dtype == "f32":
            w.add_tensor(name, a)
        elif dtype == "f16":
            w.add_tensor(name, a.astype(np.float16))
        else:
            q = gguf.quants.quantize(a, gguf.GGMLQuantizationType.Q8_0)
            w.add_tensor(name, q, raw_shape=q.shape, raw_dtype=gguf.GGMLQuantizationType.Q8_0)

    matrix("token_embd.weight", t["model.embed_tokens.weight"])
    w.add_tensor("output_norm.weight", t["model.norm.weight"])
    for i in range(LAYERS):
        p, b = f"model.layers.{i}.", f"blk.{i}."
        w.add_tensor(b + "attn_norm.weight", t[p + "input_layernorm.weight"])
        w.add_tensor(b + "ffn_norm.weight", t[p + "post_attention_layernorm.weight"])
        matrix(b + "attn_q.weight", permute(t[p + "self_attn.q_proj.weight"], HEADS))
        matrix(b + "attn_k.weight", permute(t[p + "self_attn.k_proj.weight"], KV_HEADS))
        matrix(b + "attn_v.weight", t[p + "self_attn.v_proj.weight"])
        matrix(b + "attn_output.weight", t[p + "self_attn.o_proj.weight"])
        matrix(b + "ffn_gate.weight", t[p + "mlp.gate_proj.weight"])
        matrix(b + "ffn_up.weight", t[p + "mlp.up_proj.weight"])
        matrix(b + "ffn_down.weight", t[p + "mlp.down_proj.weight"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    out, tokenizer_json = Path(sys.argv[1]), Path(sys.argv[2])
    t = weights()
    write_hf(out / "hf", t, tokenizer_json)
    for dtype in ("f32", "f16", "q8_0"):
        write_gguf(out / f"model-{dtype}.gguf", t, dtype)
    print(f"wrote {out}/hf and {out}/model-{{f32,f16,q8_0}}.gguf", file=sys.stderr)


if __name__ == "__main__":
    main()
