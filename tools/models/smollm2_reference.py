"""transformers' own outputs for SmolLM2-135M-Instruct loaded from the same GGUF file we import.

Writes, next to the .qstar (by tools/models/smollm2 reference):
  smollm2-reference.json     ids, logits offsets and next-token log-probs per text; greedy
                             continuations (schema: tools/reference/README.md, as fixtures/reference/)
  smollm2-reference.logits.f32
  smollm2-tokenizer.json     ids of more texts from the Hugging Face tokenizer of the model, for
                             id-for-id checks (see the note in main about the pre-tokenizer)

transformers dequantizes the GGUF (Q4_1, one Q8_0 tensor) to float32 and undoes llama.cpp's q/k
row permutation itself, so this is an independent reading of the file.

    python smollm2_reference.py GGUF OUTDIR
"""
import json
import os
import sys

import numpy as np
import torch
from tokenizers import pre_tokenizers
from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

TEXTS = [
    "The capital of France is",
    "def fibonacci(n):\n    if n < 2:\n        return n\n",
    "In 1969, Neil Armstrong became the first person to walk on the Moon. He said",
    "<|im_start|>user\nWhat is 12 + 30?<|im_end|>\n<|im_start|>assistant\n",
]
PROMPTS = [
    "<|im_start|>user\nName three colours.<|im_end|>\n<|im_start|>assistant\n",
    "Once upon a time",
    "The three primary colours are",
]
TOKENIZER_TEXTS = TEXTS + PROMPTS + [
    "Numbers: 3.14159, 2024-12-07, 1,000,000 and ½.",
    "  leading spaces, trailing spaces  ",
    "naïve café — “quotes” and emoji 🤗🚀",
    "tabs\tand\nnewlines\r\n\n\nend",
    "It's, they're, we'll, I'd, DON'T",
    "x=y+1; for(i=0;i<10;i++){}",
]
NEW_TOKENS = 32


def main():
    gguf_path, out = sys.argv[1], sys.argv[2]
    folder, name = os.path.split(os.path.abspath(gguf_path))
    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    model.eval()
    vocab = model.config.vocab_size
    texts, chunks, offset = [], [], 0
    with torch.no_grad():
        for text in TEXTS:
            ids = tok(text, add_special_tokens=False)["input_ids"]
            logits = model(torch.tensor([ids])).logits[0].float().numpy()
            logp = torch.log_softmax(torch.from_numpy(logits), dim=-1).numpy()
            texts.append({"text": text, "ids": ids, "logits_offset": offset, "logits_shape": list(logits.shape),
                          "next_token_logprobs": [float(logp[i, ids[i + 1]]) for i in range(len(ids) - 1)]})
            chunks.append(logits.astype("<f4").ravel())
            offset += logits.size
        generation = []
        for prompt in PROMPTS:
            ids = tok(prompt, add_special_tokens=False)["input_ids"]
            cfg = GenerationConfig(do_sample=False, max_new_tokens=NEW_TOKENS, eos_token_id=None, pad_token_id=0)
            new = model.generate(torch.tensor([ids]), generation_config=cfg)[0, len(ids):].tolist()
            generation.append({"prompt": prompt, "prompt_ids": ids, "new_ids": new})
    np.concatenate(chunks).tofile(os.path.join(out, "smollm2-reference.logits.f32"))
    with open(os.path.join(out, "smollm2-reference.json"), "w") as f:
        json.dump({"model": "smollm2-135m-instruct", "vocab_size": vocab, "logits_file": "smollm2-reference.logits.f32",
                   "texts": texts, "generation": generation,
                   "note": f"transformers loading {name} (gguf_file=), float32; greedy, max {NEW_TOKENS} new tokens "
                           "(transformers stops at the model's EOS <|im_end|> even with eos_token_id=None)"}, f, indent=1)
    # transformers rebuilds the tokenizer from the GGUF metadata with plain ByteLevel, dropping the
    # Digits(individual_digits) step of SmolLM2's own tokenizer.json (and of llama.cpp's "smollm"
    # pre-tokenizer). Both are recorded: "ids" from the model's own pipeline, restored on the same
    # vocabulary and merges, and "transformers_gguf_ids" as transformers builds it.
    gguf_ids = [tok(t, add_special_tokens=False)["input_ids"] for t in TOKENIZER_TEXTS]
    tok.backend_tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    with open(os.path.join(out, "smollm2-tokenizer.json"), "w") as f:
        json.dump([{"text": t, "ids": tok(t, add_special_tokens=False)["input_ids"], "transformers_gguf_ids": g}
                   for t, g in zip(TOKENIZER_TEXTS, gguf_ids)], f, indent=1)
    print(f"wrote {out}/smollm2-reference.json, .logits.f32, smollm2-tokenizer.json")


if __name__ == "__main__":
    main()
