"""Writes the `.csm` fuzz target's seeds: small models that load, one per op family the
bundled models use (conv with TF-same padding, batch norm, ReLU6, depthwise, residual add,
pooling, linear), in f16 and f32, plus the bundled digit CNN's header with its tensors cut to
a few bytes. `python3 fuzz/seeds/csm.py OUT_DIR` (./build.sh fuzz runs it)."""
import json
import random
import struct
import sys
from pathlib import Path


def csm(header, tensors, dtype):
    data = bytearray()
    entries = []
    for name in sorted(tensors):
        shape, values = tensors[name]
        while len(data) % 8:
            data.append(0)
        entries.append({"name": name, "dtype": dtype, "shape": shape, "offset": len(data)})
        data += struct.pack(f"<{len(values)}{'e' if dtype == 'f16' else 'f'}", *values)
    body = json.dumps({**header, "tensors": entries}).encode()
    out = bytearray(b"CSM\0" + struct.pack("<IQ", 1, len(body)) + body)
    while len(out) % 8:
        out.append(0)
    return bytes(out + data)


def values(n, rng):
    return [round(rng.uniform(-1, 1), 3) for _ in range(n)]


def tiny_cnn(rng):
    t = {"bn.v": ([4], [0.5, 1.0, 1.5, 2.0])}

    def add(name, shape):
        n = 1
        for d in shape:
            n *= d
        t[name] = (shape, values(n, rng))
        return name

    conv = lambda i, w, b, stride, pad, groups, src: {"id": i, "op": "conv2d", "weight": w, "bias": b, "stride": stride,
        "padding": pad, "dilation": [1, 1], "groups": groups, "inputs": [src]}
    nodes = [
        conv("stem.conv", add("stem.w", [4, 3, 3, 3]), None, [2, 2], [[0, 1], [0, 1]], 1, "input"),
        {"id": "stem.bn", "op": "batch_norm", "gamma": add("bn.g", [4]), "beta": add("bn.b", [4]), "mean": add("bn.m", [4]),
         "var": "bn.v", "eps": 0.001, "inputs": ["stem.conv"]},
        {"id": "stem", "op": "act", "fn": "relu6", "inputs": ["stem.bn"]},
        conv("dw", add("dw.w", [4, 1, 3, 3]), add("dw.b", [4]), [1, 1], [[1, 1], [1, 1]], 4, "stem"),
        {"id": "dw.act", "op": "act", "fn": "relu", "inputs": ["dw"]},
        {"id": "res", "op": "add", "inputs": ["dw.act", "stem"]},
        {"id": "pool1", "op": "max_pool2d", "kernel": [2, 2], "stride": [2, 2], "padding": [[0, 0], [0, 0]], "dilation": [1, 1],
         "ceil_mode": False, "inputs": ["res"]},
        {"id": "pool", "op": "global_avg_pool", "inputs": ["pool1"]},
        {"id": "logits", "op": "linear", "weight": add("fc.w", [2, 4]), "bias": add("fc.b", [2]), "inputs": ["pool"]},
    ]
    header = {"name": "tiny-cnn", "description": "fuzz seed", "input": {"channels": 3, "height": 8, "width": 8,
              "mean": [123.675, 116.28, 103.53], "std": [58.395, 57.12, 57.375]}, "labels": ["a", "b"],
              "graph": {"input_shape": [3, 8, 8], "nodes": nodes}}
    return header, t


def main(out):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    header, tensors = tiny_cnn(random.Random(7))
    for dtype in ("f16", "f32"):
        (out / f"tiny-cnn-{dtype}.csm").write_bytes(csm(header, tensors, dtype))
    digit = (Path(__file__).resolve().parents[2] / "weights/digit-cnn.csm").read_bytes()
    (length,) = struct.unpack("<Q", digit[8:16])
    (out / "digit-cnn-header.csm").write_bytes(digit[: 16 + length + 64])


if __name__ == "__main__":
    main(sys.argv[1])
