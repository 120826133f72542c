"""The ratio table of one benchmark run: convscope's figures beside its peers', measured in the
same run on the same machine (the ratios are the figures; absolute times here move by 25%).

    python3 bench/table.py OUT BACKEND   reads OUT/convscope-forward.json,
        OUT/convscope-patterns.json and OUT/torch.json (bench/peer_torch.py), prints a
        Markdown table and writes OUT/<BACKEND>-bench.json
"""

import json
import sys

out, backend = sys.argv[1], sys.argv[2]
fwd = json.load(open(f"{out}/convscope-forward.json"))[0]
pat = json.load(open(f"{out}/convscope-patterns.json"))
peer = json.load(open(f"{out}/torch.json"))
att = {a["method"]: a["median_ms"] for a in fwd["attention"]}
lucent = next(p for p in pat if p["channels"] == 16 and p["fit"].startswith("resized"))
step = lucent["ms_per_step"]
# Lucent's step computes one gradient; a step that also went through the redirected network
# computed two, and the row says so.
redirected = lucent.get("redirected_steps", 0)
pattern_row = "patterns step, 16 x 128 px resized to 224" + (f" ({redirected} of {lucent['steps']} steps computed two gradients)" if redirected else "")
rows = [("forward, 224 px", fwd["median_ms"], "PyTorch", peer["forward_ms"])]
if "onnxruntime_forward_ms" in peer:
    rows.append(("forward, 224 px", fwd["median_ms"], f"onnxruntime {peer['onnxruntime']}", peer["onnxruntime_forward_ms"]))
rows += [
    ("forward + backward to the input", att["forward+backward to the input"], "PyTorch", peer["forward_backward_ms"]),
    ("Grad-CAM (head)", att["gradcam"], "PyTorch", peer["gradcam_ms"]),
    (pattern_row, step, "PyTorch, Lucent's step", peer["patterns_step_16_ms"]),
]
threads = f", {peer['threads']} threads" if "threads" in peer else ""
print(f"\nconvscope (native {backend}) against {peer['peer']}{threads}; medians, ms")
print("| figure | convscope | peer | peer's | ratio |\n|---|---|---|---|---|")
for name, ours, who, theirs in rows:
    print(f"| {name} | {ours:.2f} | {who} | {theirs:.2f} | {ours / theirs:.2f}x |")
json.dump({"backend": backend, "peer": peer, "convscope": {"forward": fwd, "patterns": pat}, "rows": rows}, open(f"{out}/{backend}-bench.json", "w"), indent=1)
