"""onnxruntime's own node profile beside `convscope bench --profile`, by kind of convolution:
where convscope's CPU forward pass loses time to onnxruntime's, layer by layer.

    convscope bench --profile --runs 40 --json > OUT/profile.json
    python3 bench/ort_profile.py OUT/lite0.onnx OUT/profile.json   (bench/cpu.sh writes lite0.onnx)

onnxruntime times each node itself (SessionOptions.enable_profiling): 10 warm-up passes, then
RUNS (30) timed, the median of each node, on 1 thread and on 2 (as convscope's profile). Its
convolutions, in the order they run, are matched with convscope's convolution layers in
theirs (both run EfficientNet-Lite0's 49 in the network's order); each pair is classed by
convscope's kernel. Prints a Markdown table per kind, and the layers where the ratio is
worst.
"""

import collections
import json
import os
import sys
import tempfile

import numpy as np
import onnxruntime as ort

onnx_path, profile_path = sys.argv[1], sys.argv[2]
runs = int(os.environ.get("RUNS", 30))
ours = json.load(open(profile_path))
convs = [layer for layer in ours["layers"] if layer["kind"].startswith("conv2d")]


def node_medians(threads):
    """Each Conv node's median time (ms), in the order the nodes first ran."""
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.enable_profiling = True
    so.profile_file_prefix = os.path.join(tempfile.mkdtemp(), "ort")
    session = ort.InferenceSession(onnx_path, so, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: np.random.default_rng(0).random((1, 3, 224, 224), dtype=np.float32)}
    for _ in range(10 + runs):
        session.run(None, feed)
    events = json.load(open(session.end_profiling()))
    times, first = collections.defaultdict(list), {}
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time") and e["args"].get("op_name") == "Conv":
            name = e["name"][: -len("_kernel_time")]
            times[name].append(e["dur"] / 1000)
            first.setdefault(name, e["ts"])
    order = sorted(first, key=first.get)
    return [sorted(times[n][10:])[len(times[n][10:]) // 2] for n in order]


theirs = {t: node_medians(t) for t in (1, 2)}
if any(len(v) != len(convs) for v in theirs.values()):
    sys.exit(f"onnxruntime ran {len(theirs[1])} convolutions, convscope's profile has {len(convs)}: not the same network")
kinds = collections.defaultdict(lambda: [0, 0.0, 0.0, 0.0, 0.0])
for i, layer in enumerate(convs):
    k = kinds[layer["kind"]]
    k[0] += 1
    k[1] += layer["ms"][0]
    k[2] += theirs[1][i]
    k[3] += layer["ms"][1]
    k[4] += theirs[2][i]
print(f"\nconvscope's convolutions against onnxruntime {ort.__version__}'s, medians of each layer summed, ms")
print("| kind | layers | convscope, 1 thread | onnxruntime, 1 thread | ratio | convscope, 2 threads | onnxruntime, 2 threads | ratio |")
print("|---|---|---|---|---|---|---|---|")
for kind, (n, a1, b1, a2, b2) in kinds.items():
    print(f"| {kind} | {n} | {a1:.2f} | {b1:.2f} | {a1 / b1:.2f}x | {a2:.2f} | {b2:.2f} | {a2 / b2:.2f}x |")
worst = sorted(range(len(convs)), key=lambda i: -convs[i]["ms"][0] / theirs[1][i])[:5]
print("\nworst layers, 1 thread: " + ", ".join(f"{convs[i]['id']} {convs[i]['ms'][0]:.2f} against {theirs[1][i]:.2f} ms ({convs[i]['ms'][0] / theirs[1][i]:.1f}x)" for i in worst))
