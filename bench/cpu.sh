#!/usr/bin/env bash
# convscope's native CPU path beside PyTorch and onnxruntime, in the same run on the same
# machine (ratios, not absolute times: these machines' clocks move by 25% from run to run).
#
#   bench/cpu.sh [PYTHON]   PYTHON has torch and onnxruntime (./build.sh bench passes the
#                           test tools' venv); the release CLI must be built
#
# convscope: `convscope bench --backend cpu` (EfficientNet-Lite0 forward at 224 px, forward and
# backward to the input, Grad-CAM, a patterns step of 16 channels of blocks.5); peers:
# bench/peer_torch.py on the CPU (the same four on PyTorch, and onnxruntime's forward), as many
# threads as the machine has cores (THREADS overrides). Writes ${OUT:-bench/out}/cpu-bench.json
# and the network's ONNX export (lite0.onnx, for tests/e2e/bench-ort.mjs), and prints the
# table; RUNS and STEPS shorten it.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-bench/out}
runs=${RUNS:-20} steps=${STEPS:-8}
py=${1:-python3}
bin=${CARGO_TARGET_DIR:-target}/release/convscope
mkdir -p "$out"
ONNX_OUT=$out/lite0.onnx "$py" bench/peer_torch.py cpu "$runs" | tee "$out/torch.json"
"$bin" bench --backend cpu --image www/samples/chelsea.png --runs "$runs" --attention --methods gradcam --json | tee "$out/convscope-forward.json"
"$bin" bench --backend cpu --patterns --steps "$steps" --json | tee "$out/convscope-patterns.json"
"$py" bench/table.py "$out" cpu
