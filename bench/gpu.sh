#!/usr/bin/env bash
# convscope on a real GPU, beside PyTorch on the same GPU in the same run (ratios, not
# absolute times: these machines' clocks move by 25% from run to run).
#
#   bench/gpu.sh                   build with ./build.sh's tools (network needed), then run
#                                  the native benchmark and, where Chromium is installed, the
#                                  page benchmark on the hardware adapter
#   bench/gpu.sh --prebuilt DIR    (DIR relative to the repository's root)
#                                  a machine that reaches no network (the device tool's): use
#                                  DIR/convscope or DIR/convscope.gz (a release build made
#                                  elsewhere, x86-64) and DIR/*.deb (Vulkan's and glvnd's
#                                  loaders, unpacked where the machine has none); the page is
#                                  skipped there
#   bench/gpu.sh --prepare DIR     make that DIR here: the release CLI stripped and gzipped,
#                                  and the Vulkan and glvnd loaders' .debs (apt-get download)
#
# With the device tool: `echo /.gpu/ >> .git/info/exclude; bench/gpu.sh --prepare .gpu`, then
# run `bench/gpu.sh --prebuilt .gpu` with carry [".gpu"] and OUT=$OUT (timeout 480 s).
#
# Native: `convscope bench --backend wgpu` (EfficientNet-Lite0 forward at 224 px, forward and
# backward to the input, Grad-CAM, and a patterns step of 16 channels of blocks.5) and
# bench/peer_torch.py (the same four on PyTorch, CUDA). Writes everything to
# ${OUT:-bench/out}/gpu-bench.json and prints a table (RUNS and STEPS shorten it). About 2
# minutes with --prebuilt on a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-bench/out}
runs=${RUNS:-50} steps=${STEPS:-8}
mkdir -p "$out"
log() { printf '\n== %s\n' "$*"; }

prebuilt=""
if [ "${1:-}" = "--prepare" ]; then
  mkdir -p "$2"
  cargo build --release -p convscope-cli
  strip -o "$2/convscope" "${CARGO_TARGET_DIR:-target}/release/convscope"
  gzip -9f "$2/convscope"
  apt_o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64)
  mkdir -p /tmp/amd64/partial
  apt-get "${apt_o[@]}" update -qq
  # NVIDIA's Vulkan driver is libGLX_nvidia, a glvnd library: on the device tool's H200 with
  # Vulkan's loader alone wgpu found no adapter; with glvnd's libraries too it found the GPU
  # (2026-12-04).
  (cd "$2" && apt-get "${apt_o[@]}" download libvulkan1 libglvnd0 libegl1 libgl1 libglx0 libopengl0 libgles2)
  ls -la "$2"
  exit 0
fi
if [ "${1:-}" = "--prebuilt" ]; then prebuilt=$(cd "$2" && pwd); fi

if [ -n "$prebuilt" ]; then
  bin=$prebuilt/convscope
  [ -x "$bin" ] || { gunzip -c "$prebuilt/convscope.gz" > /tmp/convscope && chmod +x /tmp/convscope && bin=/tmp/convscope; }
  # (grep without -q: under pipefail an early exit would fail ldconfig with SIGPIPE.)
  if ! /sbin/ldconfig -p | grep libvulkan > /dev/null && compgen -G "$prebuilt/*.deb" > /dev/null; then
    log "unpacking Vulkan's loader"
    for f in "$prebuilt"/*.deb; do dpkg -x "$f" /; done
    /sbin/ldconfig
  fi
else
  ./build.sh build
  cargo build --release -p convscope-cli
  bin=${CARGO_TARGET_DIR:-target}/release/convscope
fi
# NVIDIA's Vulkan driver where the image keeps it outside the loader's search path.
for icd in /usr/share/vulkan/icd.d/nvidia_icd.json /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json; do
  if [ -f "$icd" ] && [ -z "${VK_DRIVER_FILES:-}" ]; then export VK_DRIVER_FILES=$icd; fi
done
export CONVSCOPE_WEIGHTS=$PWD/weights
nvidia-smi --query-gpu=name,driver_version,clocks.sm --format=csv,noheader 2>/dev/null | tee "$out/gpu.txt" || echo "no nvidia-smi" | tee "$out/gpu.txt"

log "PyTorch on the same GPU (first: its figures come back even if wgpu finds no adapter)"
torch_device=$(python3 -c 'import torch; print("cuda" if torch.cuda.is_available() else "cpu")')
python3 bench/peer_torch.py "$torch_device" "$runs" | tee "$out/torch.json"

log "convscope, native wgpu: the adapter, forward, Grad-CAM (and forward+backward), patterns"
# Which adapter wgpu takes: a software one (no NVIDIA Vulkan driver mounted) is not a GPU figure.
command -v vulkaninfo > /dev/null && vulkaninfo --summary 2>/dev/null | grep -E "deviceName|driverName" | tee "$out/adapter.txt" || true
"$bin" bench --backend wgpu --runs "$runs" --attention --methods gradcam --image www/samples/chelsea.png --json | tee "$out/convscope-forward.json"
"$bin" bench --backend wgpu --patterns --steps "$steps" --json | tee "$out/convscope-patterns.json"

python3 bench/table.py "$out" wgpu
cp "$out/wgpu-bench.json" "$out/gpu-bench.json"

if [ -z "$prebuilt" ] && [ -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
  log "the page on the hardware adapter (headless Chromium, Vulkan)"
  CONVSCOPE_CHROMIUM_ARGS="--enable-unsafe-webgpu --enable-features=Vulkan --use-angle=vulkan --ignore-gpu-blocklist" \
    CONVSCOPE_BENCH_BACKENDS=webgpu node tests/e2e/bench.mjs | tee "$out/page.txt"
fi
