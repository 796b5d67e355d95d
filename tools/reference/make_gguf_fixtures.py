"""Reference fixtures for the GGUF reader and dequantizers (fixtures/gguf/).

dequant.gguf holds, for every ggml type we decode, a tensor of random blocks stored in that
type (`<type>`) and beside it the `gguf` package's own dequantization of those bytes as F32
(`<type>.expected`). Our tests decode the first and compare bit patterns with the second, so the
reference is the Python package, not our reading of the C code.

Scale fields are drawn as finite f16 values (random bytes there would give inf/NaN); every other
byte is uniformly random, which exercises every bit of the packed quant fields.

    python3 -m venv ~/.cache/quietstar/venv && ~/.cache/quietstar/venv/bin/pip install -r tools/reference/requirements-gguf.txt
    ~/.cache/quietstar/venv/bin/python tools/reference/make_gguf_fixtures.py
"""
import os
import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf.quants import dequantize

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "gguf")
rng = np.random.default_rng(14)

# Byte offsets of the f16 scale fields inside one block, per type.
SCALES = {T.Q8_0: [0], T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2],
          T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208]}


def random_blocks(qtype, rows, cols):
    block, size = gguf.GGML_QUANT_SIZES[qtype]
    n = rows * cols // block
    raw = rng.integers(0, 256, size=(n, size), dtype=np.uint8)
    for at in SCALES[qtype]:
        scale = (rng.standard_normal(n) * 0.05).astype(np.float16)
        raw[:, at:at + 2] = scale.view(np.uint8).reshape(n, 2)
    return raw.reshape(rows, cols // block * size)


def main():
    w = gguf.GGUFWriter(os.path.join(OUT, "dequant.gguf"), arch="dequant-test")
    rows = 3
    for qtype in SCALES:
        block, _ = gguf.GGML_QUANT_SIZES[qtype]
        cols = 2 * block
        raw = random_blocks(qtype, rows, cols)
        name = qtype.name.lower()
        w.add_tensor(name, raw, raw_dtype=qtype)
        w.add_tensor(name + ".expected", dequantize(raw, qtype).astype(np.float32))
    values = rng.standard_normal((rows, 40)).astype(np.float32)
    w.add_tensor("f32", values)
    w.add_tensor("f32.expected", values)
    w.add_tensor("f16", values.astype(np.float16))
    w.add_tensor("f16.expected", values.astype(np.float16).astype(np.float32))
    bf16 = (values.view(np.uint32) >> 16).astype(np.uint16)
    w.add_tensor("bf16", bf16.view(np.uint8).reshape(rows, 80), raw_dtype=T.BF16)
    w.add_tensor("bf16.expected", dequantize(bf16.view(np.uint8).reshape(rows, 80), T.BF16).astype(np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    main()
