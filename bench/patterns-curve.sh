#!/usr/bin/env bash
# Filter patterns' quality against steps, to choose the page's default steps and size: one
# run per layer and fit (EfficientNet-Lite0, 16 channels, seed 0, the page's settings), with
# `--curve`, so each point is the same run at that step (a run does not depend on its
# length). Prints per point the channels' mean activation on their own pattern as a share of
# the last step's, how many are still off, and the native time so far; the galleries at each
# point are in $OUT/patterns-curve/<layer>-<fit>/gallery-<steps>.png, to look at.
# bench/patterns-curve.sh [LAYERS] [SIZE] [STEPS]
set -euo pipefail
cd "$(dirname "$0")/.."
LAYERS=${1:-"stem blocks.5 blocks.10"}
SIZE=${2:-96}
STEPS=${3:-256}
CLI=${CARGO_TARGET_DIR:-target}/release/convscope
OUT=${OUT:-bench/out}/patterns-curve
mkdir -p "$OUT"
for layer in $LAYERS; do
  for fit in model as-is; do
    dir=$OUT/$layer-$fit
    "$CLI" patterns --model efficientnet-lite0 --layer "$layer" --channels 0..16 --size "$SIZE" --steps "$STEPS" \
      --fit "$fit" --curve 8,16,24,32,48,64,96,128,192 -o "$dir" --json > "$dir.json" 2>/dev/null
    node -e '
      const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
      const mean = (v) => v.reduce((a, b) => a + b, 0) / v.length;
      const last = mean(r.own_means);
      const rows = [...r.curve, { steps: r.steps, seconds: r.seconds, own_means: r.own_means }];
      console.log(`${r.layer}, ${r.size} px, fit ${process.argv[2]}: ${(r.ms_per_step / 1000).toFixed(2)} s a step natively`);
      console.log("  steps  own mean  share of last  off  native s");
      for (const p of rows) {
        const off = p.own_means.filter((v) => v <= 0).length;
        console.log(`  ${String(p.steps).padStart(5)}  ${mean(p.own_means).toFixed(3).padStart(8)}  ${(mean(p.own_means) / last).toFixed(3).padStart(13)}  ${String(off).padStart(3)}  ${p.seconds.toFixed(1).padStart(8)}`);
      }' "$dir.json" "$fit"
  done
done
