#!/usr/bin/env bash
# convscope's one build script.
#
#   ./build.sh          build the static site into dist/
#   ./build.sh serve    build, then serve dist/ on http://127.0.0.1:8080 (PORT to change)
#   ./build.sh test     install what is missing, build, and run every test (Rust on the CPU
#                       and on wgpu, the page in headless Chromium on WebGPU and on the CPU)
#   ./build.sh zoo      every torchvision CNN, with each exporter and opset, against
#                       onnxruntime layer by layer (`test` runs a subset covering every op)
#   ./build.sh bench    build, then print the benchmark figures (native and in the page)
#   ./build.sh fuzz     run both fuzz targets for FUZZ_SECONDS (60) each (cargo-fuzz, nightly)
#
# Installs what is missing: the wasm target, wasm-bindgen-cli at the version Cargo.lock pins,
# wasm-opt (npm's binaryen; Debian's breaks the module), and for `test`/`bench` Chromium,
# Mesa's lavapipe and playwright-core.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$PWD
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
TOOLS=$ROOT/.tools
WASM=$CARGO_TARGET_DIR/wasm32-unknown-unknown/wasm-release/convscope_web.wasm
export PATH=$HOME/.cargo/bin:$TOOLS/node_modules/.bin:$PATH

log() { printf '\n== %s\n' "$*"; }

ensure_wasm_tools() {
  if ! rustup target list --installed | grep -q '^wasm32-unknown-unknown$'; then
    log "adding the wasm32 target"
    rustup target add wasm32-unknown-unknown
  fi
  local want
  want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
  if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$want" ]; then
    log "installing wasm-bindgen-cli $want (the version Cargo.lock pins)"
    cargo install wasm-bindgen-cli --version "=$want"
  fi
  if [ ! -x "$TOOLS/node_modules/.bin/wasm-opt" ]; then
    log "installing wasm-opt (npm binaryen)"
    npm install --prefix "$TOOLS" --no-audit --no-fund --silent binaryen@132
  fi
}

ensure_test_tools() {
  local missing=()
  command -v chromium >/dev/null || missing+=(chromium)
  ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1 || missing+=(mesa-vulkan-drivers)
  ldconfig -p | grep -q libvulkan.so.1 || missing+=(libvulkan1)
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    local sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  if [ ! -d "$ROOT/tests/e2e/node_modules/playwright-core" ] || [ ! -d "$ROOT/tests/e2e/node_modules/onnxruntime-web" ] || [ ! -d "$ROOT/tests/e2e/node_modules/axe-core" ]; then
    log "installing playwright-core (no browser download: Debian's chromium is used), onnxruntime-web (the page benchmark's peer) and axe-core (the accessibility check)"
    (cd tests/e2e && npm ci --no-audit --no-fund --silent)
  fi
}

# Python with PyTorch and onnxruntime, for the ONNX import tests' reference exports
# (tests/onnx/export.py). PyPI's torch wheel brings its CUDA libraries (~5 GB); nothing
# else is reachable.
ensure_onnx_refs() {
  local py=$TOOLS/py refs=$CARGO_TARGET_DIR/onnx-refs stamp
  if [ ! -x "$py/bin/python" ] || ! "$py/bin/python" -c 'import torch, torchvision, onnx, onnxruntime, onnxscript' 2>/dev/null; then
    log "installing PyTorch, torchvision, onnx, onnxruntime and onnxscript (for the ONNX reference exports)"
    python3 -m venv "$py"
    "$py/bin/pip" install -q --disable-pip-version-check \
      torch==2.15.0 torchvision==0.29.2 onnx==1.23.2 onnxruntime==1.32.0 numpy==2.4.6 \
      onnxscript==0.7.2 onnx_ir==1.1.0
  fi
  stamp=$(cat tests/onnx/export.py tests/onnx/zoo.py | sha256sum | cut -c1-16)
  if [ "$(cat "$refs/stamp" 2>/dev/null)" != "$stamp" ]; then
    log "exporting ResNet-18, MobileNetV2 and a small CNN to ONNX with onnxruntime's outputs"
    rm -rf "$refs" && mkdir -p "$refs"
    "$py/bin/python" -W ignore tests/onnx/export.py "$refs"
    echo "$stamp" > "$refs/stamp"
  fi
  export CONVSCOPE_ONNX_REFS=$refs
  # ONNX's backend node tests, written from the onnx package's own test cases.
  local nodes=$CARGO_TARGET_DIR/onnx-node
  stamp=$(cat tests/onnx/node_tests.py "$py"/lib/python3*/site-packages/onnx-*.dist-info/METADATA | sha256sum | cut -c1-16)
  if [ "$(cat "$nodes/stamp" 2>/dev/null)" != "$stamp" ]; then
    log "writing ONNX's backend node tests"
    rm -rf "$nodes" && mkdir -p "$nodes"
    "$py/bin/python" tests/onnx/node_tests.py "$nodes"
    echo "$stamp" > "$nodes/stamp"
  fi
  export CONVSCOPE_ONNX_NODE_TESTS=$nodes
}

# torchvision's CNN classifiers (tests/onnx/zoo.py) against onnxruntime, layer by layer.
# `./build.sh test` exports and compares a subset that uses every ONNX op of the whole zoo
# and every exporter (TorchScript at opsets 13, 17 and 23, dynamo); `./build.sh zoo` does
# every model with each exporter and opset (~25 GB of references, about 20 minutes here).
# Each run writes its rows of the README's table to $CARGO_TARGET_DIR/zoo-<set>/table.md.
ZOO_SUBSET="googlenet inception_v3 shufflenet_v2_x1_0 mobilenet_v3_small densenet121"
# $1: subset|all
zoo_compare() {
  ensure_onnx_refs
  local set=$1 py=$TOOLS/py dir stamp variant failed=0
  for variant in torchscript:17 dynamo:18 torchscript:13 dynamo:28 torchscript:23; do
    local exporter=${variant%%:*} opset=${variant##*:} models
    if [ "$set" = subset ]; then
      case $variant in
        torchscript:17) models=$ZOO_SUBSET ;;
        dynamo:18) models="shufflenet_v2_x1_0 efficientnet_b0" ;;
        torchscript:13 | torchscript:23) models=convnext_tiny ;;
        *) continue ;;
      esac
    else
      models=""
    fi
    dir=$CARGO_TARGET_DIR/zoo-$set/$exporter-$opset
    stamp=$( (sha256sum tests/onnx/zoo.py; echo "$models") | sha256sum | cut -c1-16)
    if [ "$(cat "$dir/stamp" 2>/dev/null)" != "$stamp" ]; then
      log "exporting the zoo ($exporter, opset $opset): ${models:-every model}"
      rm -rf "$dir" && mkdir -p "$dir"
      # shellcheck disable=SC2086
      "$py/bin/python" -W ignore tests/onnx/zoo.py "$dir" $models --exporter "$exporter" --opset "$opset" || true
      echo "$stamp" > "$dir/stamp"
    fi
    log "the zoo against onnxruntime, layer by layer ($exporter, opset $opset)"
    # The full run goes on past a failing model, so that its table has every row.
    CONVSCOPE_ZOO=$dir CONVSCOPE_ZOO_TABLE=$dir/table.md \
      cargo test --release -p convscope-core --test onnx_exports torchvision_zoo -- --ignored --nocapture \
      || { [ "$set" = all ] && failed=1; } || return 1
    # The full run keeps only the tables: the references take ~6 GB per exporter.
    if [ "$set" = all ]; then find "$dir" -mindepth 1 -not -name table.md -not -name stamp -delete; fi
  done
  cat "$CARGO_TARGET_DIR"/zoo-"$set"/*/table.md > "$CARGO_TARGET_DIR/zoo-$set/table.md.all"
  log "the zoo's table: $CARGO_TARGET_DIR/zoo-$set/table.md.all"
  return $failed
}

# The wasm-opt every build of the page goes through. -ocimfs 0: a function is no longer
# inlined just because it has one caller, whatever its size (binaryen's -O3 does that by
# default; small functions still are inlined). Those merged functions cost the page's cold
# start (the wasm's code is compiled lazily, function by function, as it first runs): with
# them, navigation to the first prediction took ~1.9 s against ~1.65 s, and the model's load
# about 1.5x as long, for a warm forward pass within 1% (BENCHMARKS.md, "The page's cold
# start").
optimise_wasm() {
  wasm-opt -O3 -ocimfs 0 --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-mutable-globals --enable-reference-types --enable-multivalue --enable-simd \
    --strip-debug --strip-producers "$1" -o "$1"
}

build_site() {
  ensure_wasm_tools
  rm -rf dist && mkdir -p dist/pkg dist/pkg-webgpu dist/weights
  # Two builds of the page's wasm: pkg/ without the WebGPU backend (burn-wgpu and cubecl are
  # four fifths of the code), which every page loads and the CPU path runs on, and
  # pkg-webgpu/ with it, loaded only when a WebGPU engine is made (www/runtime.js). The CPU
  # path's cold start then compiles a fifth of the code (BENCHMARKS.md, "Two builds").
  log "building the wasm with WebGPU (release)"
  cargo build -p convscope-web --target wasm32-unknown-unknown --profile wasm-release
  wasm-bindgen --target web --no-typescript --out-dir dist/pkg-webgpu "$WASM"
  log "building the wasm without WebGPU (release)"
  cargo build -p convscope-web --target wasm32-unknown-unknown --profile wasm-release --no-default-features
  wasm-bindgen --target web --no-typescript --out-dir dist/pkg "$WASM"
  log "optimising the wasm"
  optimise_wasm dist/pkg/convscope_web_bg.wasm
  optimise_wasm dist/pkg-webgpu/convscope_web_bg.wasm
  cp -r www/. dist/
  cp weights/*.csm weights/README.md dist/weights/
  # The offline cache: its name comes from the build's content, written into dist/sw.js.
  local cache
  cache=$(node tools/precache.mjs dist)
  log "service worker cache: $cache"
  local pkg raw gz
  for pkg in pkg pkg-webgpu; do
    raw=$(stat -c %s dist/$pkg/convscope_web_bg.wasm)
    gz=$(gzip -9 -c dist/$pkg/convscope_web_bg.wasm | wc -c)
    log "dist/$pkg: wasm $raw bytes, $gz gzipped"
  done
}

serve() {
  local port=${PORT:-8080}
  log "serving dist/ on http://127.0.0.1:$port (Ctrl-C to stop)"
  exec python3 -m http.server "$port" --bind 127.0.0.1 --directory dist
}

run_tests() {
  ensure_test_tools
  # Mesa's lavapipe wants a runtime dir and says "error:" (harmlessly) without one.
  if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
    XDG_RUNTIME_DIR=$(mktemp -d); chmod 700 "$XDG_RUNTIME_DIR"; export XDG_RUNTIME_DIR
  fi
  log "formatting (cargo fmt --check) and lints (clippy -D warnings, native and wasm)"
  rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt
  rustup component list --installed | grep -q '^clippy' || rustup component add clippy
  cargo fmt --all --check
  cargo clippy --workspace --all-targets -- -D warnings
  ensure_wasm_tools
  cargo clippy -p convscope-web --target wasm32-unknown-unknown -- -D warnings
  cargo clippy -p convscope-web --target wasm32-unknown-unknown --no-default-features -- -D warnings
  log "Rust tests (CPU and wgpu on lavapipe)"
  cargo test --release --workspace
  ensure_onnx_refs
  log "ONNX exports against onnxruntime (CPU and wgpu)"
  cargo test --release -p convscope-core --test onnx_exports -- --ignored --nocapture --skip torchvision_zoo
  log "ONNX backend node tests of the supported ops (CPU and wgpu)"
  cargo test --release -p convscope-core --test onnx_conformance -- --ignored --nocapture
  zoo_compare subset
  build_site
  log "unit tests of the page's modules (node)"
  node --test tests/unit/
  log "end-to-end tests in headless Chromium"
  CONVSCOPE_ZOO_PAGE=$CARGO_TARGET_DIR/zoo-subset node --test tests/e2e/
}

# Both fuzz targets (fuzz/: the ONNX importer and the .csm loader) for FUZZ_SECONDS each (60
# by default) with cargo-fuzz on the nightly toolchain, from seeds: the ONNX refs' small model
# and the kept findings, and fuzz/seeds/csm.py's small models. A crash stops it and leaves its
# input in fuzz/artifacts/<target>/; keep it in tests/data/<target>-fuzz/ with a test.
run_fuzz() {
  command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
  local corpus=$CARGO_TARGET_DIR/fuzz-corpus seconds=${FUZZ_SECONDS:-60}
  mkdir -p "$corpus/onnx_import" "$corpus/csm_load"
  cp tests/data/onnx-fuzz/*.onnx "$corpus/onnx_import/"
  [ -f "$CARGO_TARGET_DIR/onnx-refs/small.onnx" ] && cp "$CARGO_TARGET_DIR/onnx-refs/small.onnx" "$corpus/onnx_import/"
  python3 fuzz/seeds/csm.py "$corpus/csm_load"
  cp tests/data/csm-fuzz/*.csm "$corpus/csm_load/" 2>/dev/null || true
  for target in onnx_import csm_load; do
    log "fuzzing $target for $seconds s"
    local out=$CARGO_TARGET_DIR/fuzz-$target.log status=0
    (cd fuzz && cargo +nightly fuzz run "$target" "$corpus/$target" -- \
      -max_total_time="$seconds" -rss_limit_mb=4096 -timeout=20 -print_final_stats=1) >"$out" 2>&1 || status=$?
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)|^Done|ERROR|SUMMARY|panicked|Test unit|^error' "$out" || true
    echo "corpus: $(ls "$corpus/$target" | wc -l) inputs"
    if [ "$status" -ne 0 ]; then echo "fuzzing $target failed (exit $status): see $out and fuzz/artifacts/$target/" >&2; return "$status"; fi
  done
}

case "${1:-build}" in
  build) build_site ;;
  serve) build_site; serve ;;
  test) run_tests ;;
  zoo) ensure_test_tools; zoo_compare all ;;
  fuzz) run_fuzz ;;
  bench)
    ensure_test_tools
    build_site
    cargo build --release -p convscope-cli
    ensure_onnx_refs
    log "native CPU beside PyTorch and onnxruntime (ratios)"
    bench/cpu.sh "$TOOLS/py/bin/python"
    log "the CPU forward pass by kind of op, beside onnxruntime's own node profile"
    "$CARGO_TARGET_DIR/release/convscope" bench --profile --runs 40 --json > bench/out/profile.json
    "$TOOLS/py/bin/python" bench/ort_profile.py bench/out/lite0.onnx bench/out/profile.json
    log "native wgpu (lavapipe here: a CPU pretending to be a GPU)"
    "$CARGO_TARGET_DIR/release/convscope" bench --backend wgpu --runs 20
    "$CARGO_TARGET_DIR/release/convscope" bench --backend wgpu --patterns
    log "the page's CPU path beside ONNX Runtime Web (ratios)"
    CONVSCOPE_ORT_MODEL=bench/out/lite0.onnx node tests/e2e/bench-ort.mjs
    node tests/e2e/bench.mjs
    node tests/e2e/bench-patterns.mjs
    ;;
  *) echo "usage: ./build.sh [build|serve|test|zoo|bench|fuzz]" >&2; exit 2 ;;
esac
