"""Our fixture families exported to GGUF by llama.cpp's own converter (fixtures/gguf/models/).

The GGUF import is tested against files written the way real GGUF files are written, so the
exports come from llama.cpp's `convert_hf_to_gguf.py` (with the Q/K row permutation it applies to
llama-architecture models, its tensor names, its metadata and its tokenizer export), taken from
the llama-cpp-python sdist on PyPI (which vendors llama.cpp), never from our own writer:

    python3 -m venv ~/.cache/quietstar/venv
    ~/.cache/quietstar/venv/bin/pip install -r tools/reference/requirements-gguf.txt
    ~/.cache/quietstar/venv/bin/python tools/reference/make_gguf_models.py

Our byte-level BPE fixtures were trained here, so llama.cpp cannot recognise their pre-tokenizer
by its checksum; the family's pre-tokenizer name (`gpt-2`, `qwen2`) is supplied instead, which is
what a llama.cpp maintainer adds to `get_vocab_base_pre` for a new model.

Each export is checked against the family's transformers reference in the Swift tests
(fixtures/reference/<family>.json); nothing else is written here.
"""
import os
import pathlib
import subprocess
import sys
import tarfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "fixtures" / "gguf" / "models"
CACHE = pathlib.Path(os.environ.get("QUIETSTAR_CACHE", pathlib.Path.home() / ".cache" / "quietstar"))
SDIST = "llama-cpp-python==0.3.36"

# family -> (outtype, pre-tokenizer name for byte-level BPE families or None)
FAMILIES = {
    "llama-tied": ("f16", "gpt-2"),       # GPT-2 ByteLevel BPE, tied embeddings
    "llama-untied": ("f16", None),        # legacy SentencePiece conversion (byte fallback)
    "mistral": ("q8_0", None),            # Metaspace SentencePiece; stored as llama; Q8_0 blocks
    "qwen2": ("f16", "qwen2"),            # qwen2 architecture (no permutation), q/k/v biases
}


def converter_dir() -> pathlib.Path:
    """llama.cpp's converter from the llama-cpp-python sdist, unpacked once into the cache."""
    target = CACHE / "llama.cpp"
    if (target / "convert_hf_to_gguf.py").exists():
        return target
    download = CACHE / "sdist"
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                    "-d", str(download), SDIST], check=True)
    archive = next(download.glob("llama_cpp_python-*.tar.gz"))
    with tarfile.open(archive) as tar:
        prefix = tar.getnames()[0].split("/")[0] + "/vendor/llama.cpp/"
        wanted = ("convert_hf_to_gguf.py", "conversion/", "gguf-py/")
        members = [m for m in tar.getmembers() if m.name.startswith(prefix)
                   and m.name[len(prefix):].startswith(wanted)]
        for m in members:
            m.name = m.name[len(prefix):]
        tar.extractall(target, members=members, filter="data")
    return target


DRIVER = r"""
import sys
sys.argv = [sys.argv[0]] + sys.argv[2:]
pre = __import__("os").environ.get("QS_PRE")
sys.path.insert(0, __import__("os").environ["QS_CONVERTER"])
import convert_hf_to_gguf
from conversion.base import TextModel
if pre:
    TextModel.get_vocab_base_pre = lambda self, tokenizer: pre
convert_hf_to_gguf.main()
"""


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    conv = converter_dir()
    for family, (outtype, pre) in FAMILIES.items():
        env = dict(os.environ, QS_CONVERTER=str(conv), QS_PRE=pre or "")
        out = OUT / f"{family}.{outtype}.gguf"
        subprocess.run([sys.executable, "-c", DRIVER, "driver", str(ROOT / "fixtures" / "hf" / family),
                        "--outtype", outtype, "--outfile", str(out)], check=True, env=env, cwd=conv)
        print(f"{out.relative_to(ROOT)}: {out.stat().st_size} bytes")


if __name__ == "__main__":
    main()
