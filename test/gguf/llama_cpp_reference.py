"""Reference values from llama.cpp's own gguf-py (numpy ports of ggml's quantize/dequantize code).

  dequant FILE OUT_DIR NAME:START:COUNT...   -> OUT_DIR/<NAME>.f32 (rows START..START+COUNT as float32)
  quantize TYPE IN.f32 OUT.bin                -> ggml bytes of the float32 values in IN.f32
"""
import os
import sys

import numpy as np
from gguf import GGMLQuantizationType, GGUFReader
from gguf.quants import dequantize, quantize


def dequant(path, out_dir, specs):
    reader = GGUFReader(path)
    tensors = {t.name: t for t in reader.tensors}
    for spec in specs:
        name, start, count = spec.rsplit(":", 2)
        start, count = int(start), int(count)
        t = tensors[name]
        row_len = int(t.shape[0])
        data = t.data.reshape(-1, t.data.shape[-1]) if t.data.ndim > 1 else t.data.reshape(1, -1)
        rows = data[start : start + count]
        values = dequantize(rows, t.tensor_type).astype(np.float32).reshape(-1)
        assert values.size == count * row_len, (name, values.size, count, row_len)
        values.tofile(os.path.join(out_dir, name + ".f32"))


def quant(type_name, in_path, out_path):
    values = np.fromfile(in_path, dtype=np.float32).reshape(1, -1)
    quantize(values, GGMLQuantizationType[type_name]).tofile(out_path)


if __name__ == "__main__":
    if sys.argv[1] == "dequant":
        dequant(sys.argv[2], sys.argv[3], sys.argv[4:])
    else:
        quant(sys.argv[2], sys.argv[3], sys.argv[4])
