#!/usr/bin/env bash
# Dataset examples, natively on the CPU: `convscope examples` over 1,000 and 10,000 photos
# (bench/example_set.py), EfficientNet-Lite0 `blocks.5` and `blocks.10`, top 9: images per
# second, the process' peak memory (flat if the index streams), the index's size on disk.
# bench/examples.sh PYTHON [SIZES]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-python3}
SIZES=${2:-"1000 10000"}
CLI=${CARGO_TARGET_DIR:-target}/release/convscope
OUT=${OUT:-bench/out}/examples
mkdir -p "$OUT"
for n in $SIZES; do
  set_dir=$OUT/set$n
  [ "$(ls "$set_dir" 2>/dev/null | wc -l)" -eq "$n" ] || "$PY" bench/example_set.py "$n" "$set_dir"
  rm -rf "$OUT/index$n"
  /usr/bin/time -f '%M %e' -o "$OUT/time$n" "$CLI" examples --model efficientnet-lite0 --layer blocks.5,blocks.10 \
    --top 9 --channels 0..1 --batch 8 "$set_dir" -o "$OUT/index$n" --json > "$OUT/run$n.json" 2>/dev/null
  read -r kb secs < "$OUT/time$n"
  per_s=$("$PY" -c "import json; print(round(json.load(open('$OUT/run$n.json'))['images_per_second'], 1))")
  size=$(stat -c %s "$OUT/index$n/index.json")
  echo "$n images: $per_s images/s, peak memory $((kb / 1024)) MiB, index $size bytes, $secs s in all"
done
