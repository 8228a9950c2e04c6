#!/usr/bin/env bash
# The embedded default run behind `make demo`: Fashion-MNIST (Debian's dataset-fashion-mnist)
# imported once into ./data, trained with progressive resizing, then the test accuracy printed.
set -euo pipefail
crescendo=${1:-build/crescendo}
data=${DEMO_DATA:-data/fashion-mnist}
run=${DEMO_RUN:-runs/fashion-mnist-demo}

if [ ! -f "$data/test.csv" ]; then
  "$crescendo" prepare fashion-mnist --out "$data"
fi

start=$(date +%s)
"$crescendo" train --data "$data" --train-csv train.csv --val-csv test.csv \
  --model simple_cnn --channels 1 --mean 0.2860 --std 0.3530 --dropout 0.3 \
  --schedule 20:4,24:4,28:6 --batch-size 128 --lr 0.1 --seed 0 --out "$run" --overwrite
end=$(date +%s)

"$crescendo" eval --checkpoint "$run/last.safetensors" --data "$data" --csv test.csv
echo "demo: trained in $((end - start)) s; run folder $run (metrics.jsonl, confusion/, checkpoints)"
