#!/usr/bin/env python3
"""Train the tiny tokenizer fixtures and record what Hugging Face `tokenizers` does with them.

Writes, under fixtures/tokenizers/:
  <name>/tokenizer.json         one per family; the pipeline (normalizer, pre-tokenizer, model
                                options, post-processor, decoder, added tokens) copies the real
                                file named in tools/reference/README.md, only the vocab is tiny
  <name>/tokenizer_config.json  the transformers-side settings the real model ships
  expected.json                 ids (with and without special tokens), tokens and decoded text
                                for every line of test_lines.txt, for every tokenizer

Deterministic: the trainer is single-threaded and fed a fixed corpus, files are written with
sorted keys where the format allows it. Run it twice and `git diff` shows nothing.

    /tmp/refenv/bin/python tools/reference/make_tokenizers.py
"""
import json
import os
import pathlib
import re

os.environ["RAYON_NUM_THREADS"] = "1"          # the BPE trainer's word counting is parallel
os.environ["TOKENIZERS_PARALLELISM"] = "false"

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "fixtures" / "tokenizers"

# The real split patterns, copied from the released tokenizer.json files.
GPT2_REGEX = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
LLAMA3_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
                r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
               r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
# Training-only split for the SentencePiece families: SentencePiece never merges across a word
# start and splits digits one by one (split_digits=true in Llama's model); a run of "▁" before a
# word stays separate so whitespace-run pieces ("▁▁") are learnt like the real vocab has them.
SPM_TRAIN_REGEX = r"\p{N}|▁?[^▁\p{N}]+|▁+(?=▁)|▁+"

BYTE_TOKENS = [f"<0x{b:02X}>" for b in range(256)]


def corpus_lines():
    # Universal newlines here turn corpus.txt's two "\r" into line breaks. That is how the
    # committed vocabularies were trained (and fixtures/hf ships them), so it stays; the corpus
    # only has to be fixed, not exact.
    return (OUT / "corpus.txt").read_text(encoding="utf-8").split("\n")


def test_lines():
    # Exact bytes: newline="" keeps "\r" inside a line (universal newlines would make it a line
    # break, dropping the carriage-return cases). The file has no trailing newline, so splitting
    # on "\n" only gives exactly the test lines.
    with open(OUT / "test_lines.txt", encoding="utf-8", newline="") as f:
        return f.read().split("\n")


def train_byte_level(pre_tokenizer, normalizer, vocab_size, ignore_merges, subword_affixes):
    """Byte-level BPE: the 256 byte symbols are the alphabet, merges are learnt on top."""
    kwargs = {"continuing_subword_prefix": "", "end_of_word_suffix": ""} if subword_affixes else {}
    tok = Tokenizer(models.BPE(ignore_merges=ignore_merges, **kwargs))
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizer
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus_lines(), trainer=trainer)
    return tok


def train_sentencepiece_bpe(vocab_size, alphabet_size):
    """Llama/Mistral-style vocab: <unk> <s> </s>, the 256 byte tokens, then learnt pieces.

    Training runs on the "▁" form of the text (what both the legacy normalizer and the
    Metaspace pre-tokenizer produce). Only the `alphabet_size` most frequent characters get a
    piece (ties broken by code point; the trainer's own limit_alphabet breaks ties by hash order
    and is not reproducible), so rarer characters of the corpus must go through byte fallback.
    Text is cut at every excluded character so no piece can contain one.
    """
    texts = ["▁" + line.replace(" ", "▁") for line in corpus_lines() if line]
    counts = {}
    for t in texts:
        for c in t:
            counts[c] = counts.get(c, 0) + 1
    alphabet = set(sorted(counts, key=lambda c: (-counts[c], ord(c)))[:alphabet_size])
    segments = []
    for t in texts:
        segments += [s for s in re.split("[^" + re.escape("".join(sorted(alphabet))) + "]+", t) if s]
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(SPM_TRAIN_REGEX), behavior="isolated")
    learnt = vocab_size - 3 - 256
    trainer = trainers.BpeTrainer(vocab_size=learnt + 3, show_progress=False,
                                  special_tokens=["<unk>", "<s>", "</s>"])
    tok.train_from_iterator(segments, trainer=trainer)
    model = json.loads(tok.to_str())["model"]
    assert set(p for p in model["vocab"] if len(p) == 1) == alphabet
    pieces = sorted(((i, p) for p, i in model["vocab"].items() if i >= 3))
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in BYTE_TOKENS:
        vocab[b] = len(vocab)
    for _, p in pieces:
        assert p not in vocab, p
        vocab[p] = len(vocab)
    return vocab, model["merges"]


def added(id_, content, normalized):
    return {"id": id_, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
            "normalized": normalized, "special": True}


def template(bos, bos_id):
    return {
        "type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
        "pair": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                 {"SpecialToken": {"id": bos, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
        "special_tokens": {bos: {"id": bos, "ids": [bos_id], "tokens": [bos]}},
    }


def document(added_tokens, normalizer, pre_tokenizer, post_processor, decoder, model):
    """A tokenizer.json with the top-level key order every real file has."""
    return {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added_tokens,
            "normalizer": normalizer, "pre_tokenizer": pre_tokenizer, "post_processor": post_processor,
            "decoder": decoder, "model": model}


def bpe_model(vocab, merges, *, unk, prefix, fuse_unk, byte_fallback, ignore_merges, string_merges):
    # The 2019-2023 files (GPT-2, Llama-2) store merges as "left right" strings; files written
    # by tokenizers >= 0.20 use [left, right] pairs. Readers must take both.
    if string_merges:
        assert all(" " not in a and " " not in b for a, b in merges)
        merges = [f"{a} {b}" for a, b in merges]
    return {"type": "BPE", "dropout": None, "unk_token": unk, "continuing_subword_prefix": prefix,
            "end_of_word_suffix": prefix, "fuse_unk": fuse_unk, "byte_fallback": byte_fallback,
            "ignore_merges": ignore_merges, "vocab": vocab, "merges": merges}


def trained_model(tok):
    m = json.loads(tok.to_str())["model"]
    return m["vocab"], m["merges"]


def byte_level(add_prefix_space, trim_offsets, use_regex):
    return {"type": "ByteLevel", "add_prefix_space": add_prefix_space, "trim_offsets": trim_offsets,
            "use_regex": use_regex}


def split(regex):
    return {"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": False}


def make_gpt2():
    """Mimics openai-community/gpt2 tokenizer.json."""
    tok = train_byte_level(pre_tokenizers.ByteLevel(add_prefix_space=False), None, 399, False, True)
    vocab, merges = trained_model(tok)
    eot = len(vocab)
    vocab = dict(vocab, **{"<|endoftext|>": eot})
    doc = document([added(eot, "<|endoftext|>", True)], None, byte_level(False, True, True),
                   byte_level(True, False, True), byte_level(True, True, True),
                   bpe_model(vocab, merges, unk=None, prefix="", fuse_unk=False, byte_fallback=False,
                             ignore_merges=False, string_merges=True))
    config = {
        "add_bos_token": False, "add_prefix_space": False, "bos_token": "<|endoftext|>",
        "clean_up_tokenization_spaces": False, "eos_token": "<|endoftext|>", "errors": "replace",
        "model_max_length": 1024, "pad_token": None, "tokenizer_class": "GPT2Tokenizer",
        "unk_token": "<|endoftext|>",
        "added_tokens_decoder": {str(eot): added_decoder("<|endoftext|>", True)},
    }
    return doc, config


LLAMA3_SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
                   "<|reserved_special_token_1|>", "<|start_header_id|>", "<|end_header_id|>",
                   "<|reserved_special_token_2|>", "<|reserved_special_token_3|>", "<|eot_id|>"]


def make_llama3():
    """Mimics meta-llama/Meta-Llama-3-8B tokenizer.json (specials in the same order)."""
    pre = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(LLAMA3_REGEX), behavior="isolated"),
                                   pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok = train_byte_level(pre, None, 439, True, False)
    vocab, merges = trained_model(tok)
    # Vocabularies converted from tiktoken (Llama 3's) hold words that the merge list alone does
    # not rebuild; ignore_merges=true looks a whole pre-token up first. Two such words, present
    # in test_lines.txt as whole pre-tokens, make the flag observable.
    vocab = dict(vocab)
    for word in ("Hello", "Ġworld"):
        assert word not in vocab
        vocab[word] = len(vocab)
    base = len(vocab)
    specials = [(base + i, s) for i, s in enumerate(LLAMA3_SPECIALS)]
    doc = document(
        [added(i, s, False) for i, s in specials], None,
        {"type": "Sequence", "pretokenizers": [split(LLAMA3_REGEX), byte_level(False, True, False)]},
        {"type": "Sequence", "processors": [byte_level(True, False, True), template("<|begin_of_text|>", base)]},
        byte_level(True, True, True),
        bpe_model(vocab, merges, unk=None, prefix=None, fuse_unk=False, byte_fallback=False,
                  ignore_merges=True, string_merges=False))
    config = {
        "bos_token": "<|begin_of_text|>", "clean_up_tokenization_spaces": True, "eos_token": "<|end_of_text|>",
        "model_input_names": ["input_ids", "attention_mask"], "model_max_length": 1000000000000000019884624838656,
        "tokenizer_class": "PreTrainedTokenizerFast",
        "added_tokens_decoder": {str(i): added_decoder(s, False) for i, s in specials},
    }
    return doc, config


QWEN2_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")


def make_qwen2():
    """Mimics Qwen/Qwen2-0.5B tokenizer.json (single-digit split, NFC, three specials)."""
    pre = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(QWEN2_REGEX), behavior="isolated"),
                                   pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok = train_byte_level(pre, normalizers.NFC(), 447, False, True)
    vocab, merges = trained_model(tok)
    base = len(vocab)
    specials = [(base, "<|endoftext|>"), (base + 1, "<|im_start|>"), (base + 2, "<|im_end|>")]
    doc = document(
        [added(i, s, False) for i, s in specials], {"type": "NFC"},
        {"type": "Sequence", "pretokenizers": [split(QWEN2_REGEX), byte_level(False, False, False)]},
        byte_level(False, False, False), byte_level(False, False, False),
        bpe_model(dict(vocab), merges, unk=None, prefix="", fuse_unk=False, byte_fallback=False,
                  ignore_merges=False, string_merges=False))
    config = {
        "add_prefix_space": False, "bos_token": None, "chat_template": QWEN2_CHAT_TEMPLATE,
        "clean_up_tokenization_spaces": False, "eos_token": "<|endoftext|>", "errors": "replace",
        "model_max_length": 32768, "pad_token": "<|endoftext|>", "split_special_tokens": False,
        "tokenizer_class": "Qwen2Tokenizer", "unk_token": None,
        "additional_special_tokens": ["<|im_start|>", "<|im_end|>"],
        "added_tokens_decoder": {str(i): added_decoder(s, False) for i, s in specials},
    }
    return doc, config


SPM_SPECIALS = [(0, "<unk>"), (1, "<s>"), (2, "</s>")]


def spm_config(legacy):
    return {
        "add_bos_token": True, "add_eos_token": False, "bos_token": "<s>", "clean_up_tokenization_spaces": False,
        "eos_token": "</s>", "legacy": legacy, "model_max_length": 1000000000000000019884624838656,
        "pad_token": None, "sp_model_kwargs": {}, "spaces_between_special_tokens": False,
        "tokenizer_class": "LlamaTokenizer", "unk_token": "<unk>", "use_default_system_prompt": False,
        "added_tokens_decoder": {str(i): added_decoder(s, False) for i, s in SPM_SPECIALS},
    }


def make_llama2():
    """Mimics meta-llama/Llama-2-7b-hf (and mistralai/Mistral-7B-v0.1) tokenizer.json: legacy form."""
    vocab, merges = train_sentencepiece_bpe(450, 110)
    doc = document(
        [added(i, s, False) for i, s in SPM_SPECIALS],
        {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"},
                                             {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
        None, template("<s>", 1), spm_decoder(),
        bpe_model(vocab, merges, unk="<unk>", prefix=None, fuse_unk=True, byte_fallback=True,
                  ignore_merges=False, string_merges=True))
    return doc, spm_config(True)


def spm_decoder():
    """What transformers' LlamaConverter writes, legacy or not: byte tokens must be decoded."""
    return {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
                                             {"type": "ByteFallback"}, {"type": "Fuse"},
                                             {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}


def make_mistral_metaspace():
    """Mimics the non-legacy SentencePiece conversion (transformers' LlamaConverter with
    legacy=False, as in mistralai/Mistral-7B-v0.3): no normalizer, a Metaspace pre-tokenizer
    (prepend_scheme first, split false), byte fallback. The decoder stays the byte-fallback
    Sequence: a Metaspace decoder would print byte tokens as "<0xC3>" and no real file pairs it
    with byte_fallback."""
    vocab, merges = train_sentencepiece_bpe(452, 110)
    meta = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": False}
    doc = document(
        [added(i, s, False) for i, s in SPM_SPECIALS], None, meta, template("<s>", 1), spm_decoder(),
        bpe_model(vocab, merges, unk="<unk>", prefix=None, fuse_unk=True, byte_fallback=True,
                  ignore_merges=False, string_merges=False))
    return doc, spm_config(False)


def added_decoder(content, normalized):
    return {"content": content, "lstrip": False, "normalized": normalized, "rstrip": False,
            "single_word": False, "special": True}


MAKERS = {"gpt2": make_gpt2, "llama3": make_llama3, "qwen2": make_qwen2, "llama2": make_llama2,
          "mistral-metaspace": make_mistral_metaspace}


def write_json(path, obj, sort_keys):
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=sort_keys) + "\n"
    path.write_text(text, encoding="utf-8", newline="")


def expectations(tok, lines):
    out = []
    for line in lines:
        with_sp = tok.encode(line, add_special_tokens=True)
        without = tok.encode(line, add_special_tokens=False)
        out.append({
            "text": line,
            "ids": with_sp.ids,
            "tokens": with_sp.tokens,
            "ids_no_special": without.ids,
            "decoded": tok.decode(with_sp.ids, skip_special_tokens=False),
            "decoded_no_special": tok.decode(without.ids, skip_special_tokens=False),
            "decoded_skip_special": tok.decode(with_sp.ids, skip_special_tokens=True),
        })
    return out


def main():
    lines = test_lines()
    expected = {"about": ("Hugging Face tokenizers 0.23.3 on fixtures/tokenizers/test_lines.txt "
                          "(lines = file split on \"\\n\" only; the file has no trailing newline). "
                          "ids = encode(text, add_special_tokens=True).ids, ids_no_special = "
                          "add_special_tokens=False; decoded* = decode(ids, skip_special_tokens=False) "
                          "of the corresponding ids; decoded_skip_special = decode(ids, skip_special_tokens=True)."),
                "tokenizers": {}}
    for name, make in MAKERS.items():
        doc, config = make()
        # Load our document back: the library must accept it and keep every option we set.
        tok = Tokenizer.from_str(json.dumps(doc))
        reserialized = json.loads(tok.to_str())
        for key in ("normalizer", "pre_tokenizer", "post_processor", "decoder", "added_tokens"):
            assert reserialized[key] == doc[key], (name, key, reserialized[key], doc[key])
        for key in ("fuse_unk", "byte_fallback", "ignore_merges", "unk_token", "continuing_subword_prefix"):
            assert reserialized["model"][key] == doc["model"][key], (name, key)
        write_json(OUT / name / "tokenizer.json", doc, sort_keys=False)
        write_json(OUT / name / "tokenizer_config.json", config, sort_keys=True)
        tok = Tokenizer.from_file(str(OUT / name / "tokenizer.json"))
        expected["tokenizers"][name] = {"vocab_size": tok.get_vocab_size(with_added_tokens=True),
                                        "lines": expectations(tok, lines)}
    write_json(OUT / "expected.json", expected, sort_keys=True)


if __name__ == "__main__":
    main()
