#!/usr/bin/env bash
# What each regularizer is worth here: the final validation accuracy of two recipes with each of
# weight decay, dropout, label smoothing, EMA, mixup and cutmix switched against the recipe's
# setting, one run each (seed 0):
#   fashion    the demo's run (scripts/demo.sh): simple_cnn on Fashion-MNIST, 20:4,24:4,28:6, dropout 0.3
#   synthetic  resnet18 in bf16 on the synthetic set of textures at half its size, 10 epochs
# The EMA rows report the moving average's accuracy.
#   bench/regularizers.sh [fashion|synthetic|all]
# Environment: CRESCENDO (build/crescendo), OUT (runs/regularizers), FASHION (data/fashion-mnist),
# SYNTHETIC (data/synthetic-p8, made with prepare synthetic --texture-period 8).
set -euo pipefail
crescendo=${CRESCENDO:-build/crescendo}
out=${OUT:-runs/regularizers}
fashion=${FASHION:-data/fashion-mnist}
synthetic=${SYNTHETIC:-data/synthetic-p8}
which=${1:-all}

[ -f "$fashion/test.csv" ] || "$crescendo" prepare fashion-mnist --out "$fashion"
[ -f "$synthetic/val.csv" ] || "$crescendo" prepare synthetic --out "$synthetic" --texture-period 8

fashion_recipe=(--data "$fashion" --train-csv train.csv --val-csv test.csv --model simple_cnn
  --channels 1 --mean 0.2860 --std 0.3530 --dropout 0.3 --schedule 20:4,24:4,28:6
  --batch-size 128 --lr 0.1 --seed 0)
synthetic_recipe=(--data "$synthetic" --train-csv train.csv --val-csv val.csv --model resnet18
  --resolution 64 --epochs 10 --batch-size 64 --lr 0.05 --precision bf16 --seed 0)

# name, then the options that differ from the recipe: the EMA decay and the dropout to try
variants() {
  local ema=$1 dropout=$2
  echo "recipe"
  echo "weight-decay-off --weight-decay 0"
  echo "dropout-$dropout --dropout $dropout"
  echo "label-smoothing-0.1 --label-smoothing 0.1"
  echo "ema-$ema --ema $ema"
  echo "mixup-0.2 --mixup 0.2"
  echo "cutmix-1.0 --cutmix 1.0"
}

run_set() {
  local set=$1; shift
  local -a recipe=("$@")
  local ema=0.999 dropout=0
  [ "$set" = synthetic ] && ema=0.99 dropout=0.3
  variants "$ema" "$dropout" | while read -r name flags; do
    # shellcheck disable=SC2086 # flags are words
    "$crescendo" train "${recipe[@]}" $flags --out "$out/$set-$name" --overwrite >/dev/null
    echo "$set $name"
  done
}

case "$which" in
  fashion) run_set fashion "${fashion_recipe[@]}" ;;
  synthetic) run_set synthetic "${synthetic_recipe[@]}" ;;
  all) run_set fashion "${fashion_recipe[@]}"; run_set synthetic "${synthetic_recipe[@]}" ;;
  *) echo "usage: $0 [fashion|synthetic|all]" >&2; exit 2 ;;
esac

/usr/bin/python3 - "$out" <<'PY'
import json, os, sys
out = sys.argv[1]
rows = {}
for name in sorted(os.listdir(out)):
    path = os.path.join(out, name, "metrics.jsonl")
    if not os.path.exists(path):
        continue
    last = [json.loads(l) for l in open(path)][-1]
    acc = last["ema_val_acc"] if last.get("ema_val_acc") is not None else last["val_acc"]
    s, variant = name.split("-", 1)
    rows.setdefault(s, {})[variant] = 100 * acc
for s, table in rows.items():
    base = table.get("recipe")
    print(f"\n{s}: final val accuracy % (difference to the recipe)")
    for variant, acc in sorted(table.items(), key=lambda kv: kv[0] != "recipe"):
        delta = "" if variant == "recipe" or base is None else f" ({acc - base:+.2f})"
        print(f"  {variant:22s} {acc:6.2f}{delta}")
PY
