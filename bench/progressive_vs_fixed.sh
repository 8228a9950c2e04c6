#!/bin/sh
# Progressive resizing against training at the full size, same model, recipe and epochs: the wall
# time of each run, its final and best validation accuracy, and the speed-up at the accuracy given
# up. Two sets: the synthetic JPEGs of `crescendo prepare synthetic --texture-period 8` (256 px;
# 12 classes of shape x texture whose texture a decode at 64 px cannot show, so that resolution
# matters, while 128 px can, so the last stage fine-tunes) trained as a ResNet-18, and
# Fashion-MNIST (28 px) as the demo's small CNN.
#
#   bench/progressive_vs_fixed.sh [CRESCENDO]
#
# CRESCENDO is the program (default build/crescendo). The environment chooses the rest:
#   SETS        synthetic,fashion-mnist (either alone runs only that one)
#   SYNTHETIC   the synthetic set's folder, made when it has no train.csv (data/synthetic-p8)
#   FASHION     the Fashion-MNIST folder, made when it has no test.csv (data/fashion-mnist)
#   RUNS        where the run folders and logs go (/tmp/crescendo-progressive)
#   SYNTH_FIXED, SYNTH_PROGRESSIVE, SYNTH_LOW   the synthetic schedules (256:8, 64:3,128:3,256:2,
#               and 64:8, which shows what the textures are worth)
#   FASHION_FIXED, FASHION_PROGRESSIVE          (28:9 and 16:3,22:3,28:3)
# Runs are sequential and use every core; keep the machine otherwise idle.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
program=${1:-$here/../build/crescendo}
sets=${SETS:-synthetic,fashion-mnist}
synthetic=${SYNTHETIC:-data/synthetic-p8}
fashion=${FASHION:-data/fashion-mnist}
runs=${RUNS:-/tmp/crescendo-progressive}
python=${PYTHON:-/usr/bin/python3}
mkdir -p "$runs"

# train NAME SCHEDULE OPTIONS...: one run into $runs/NAME, its console into $runs/NAME.log.
train() {
    name=$1
    schedule=$2
    shift 2
    echo "$name: --schedule $schedule" >&2
    "$program" train --schedule "$schedule" --out "$runs/$name" --overwrite "$@" \
        >"$runs/$name.log" 2>&1 || {
        tail -n 5 "$runs/$name.log" >&2
        exit 1
    }
}

names=""
case ",$sets," in *,synthetic,*)
    [ -f "$synthetic/train.csv" ] ||
        "$program" prepare synthetic --out "$synthetic" --texture-period 8
    set -- --data "$synthetic" --train-csv train.csv --val-csv val.csv --model resnet18 \
        --batch-size 32 --lr 0.02 --seed 0
    train synthetic-progressive "${SYNTH_PROGRESSIVE:-64:3,128:3,256:2}" "$@"
    train synthetic-fixed "${SYNTH_FIXED:-256:8}" "$@"
    train synthetic-low "${SYNTH_LOW:-64:8}" "$@"
    names="$names synthetic-fixed synthetic-progressive synthetic-low"
    ;;
esac
case ",$sets," in *,fashion-mnist,*)
    [ -f "$fashion/test.csv" ] || "$program" prepare fashion-mnist --out "$fashion"
    set -- --data "$fashion" --train-csv train.csv --val-csv test.csv --model simple_cnn \
        --channels 1 --mean 0.2860 --std 0.3530 --dropout 0.3 --batch-size 128 --lr 0.1 --seed 0
    train fashion-mnist-progressive "${FASHION_PROGRESSIVE:-16:3,22:3,28:3}" "$@"
    train fashion-mnist-fixed "${FASHION_FIXED:-28:9}" "$@"
    names="$names fashion-mnist-fixed fashion-mnist-progressive"
    ;;
esac

"$python" - "$runs" $names <<'EOF'
import json
import os
import sys

runs, names = sys.argv[1], sys.argv[2:]
rows = {}
for name in names:
    with open(os.path.join(runs, name, "metrics.jsonl")) as f:
        epochs = [json.loads(line) for line in f]
    sizes = []
    for e in epochs:
        if not sizes or sizes[-1][0] != e["resolution"]:
            sizes.append([e["resolution"], 0])
        sizes[-1][1] += 1
    rows[name] = {
        "schedule": ",".join(f"{r}:{n}" for r, n in sizes),
        "seconds": epochs[-1]["elapsed_seconds"],
        "final": epochs[-1]["val_acc"],
        "best": max(e["val_acc"] for e in epochs),
    }
print(f"{'run':<26} {'schedule':<20} {'wall s':>8} {'final val acc':>14} {'best val acc':>13}")
for name, r in rows.items():
    print(f"{name:<26} {r['schedule']:<20} {r['seconds']:>8.1f} {100 * r['final']:>13.2f}%"
          f" {100 * r['best']:>12.2f}%")
for set_name in ("synthetic", "fashion-mnist"):
    fixed, prog = rows.get(f"{set_name}-fixed"), rows.get(f"{set_name}-progressive")
    if not fixed or not prog:
        continue
    speedup = fixed["seconds"] / prog["seconds"]
    gap = 100 * (fixed["final"] - prog["final"])
    print(f"{set_name}: progressive is {speedup:.2f}x faster than fixed, final accuracy "
          f"{-gap:+.2f} points")
    if set_name == "synthetic":
        met = speedup >= 1.5 and gap <= 0.5
        print(f"  target >= 1.5x within 0.5 points: {'met' if met else 'NOT met'}")
        low = rows.get("synthetic-low")
        if low:
            print(f"  at 64 px throughout: {100 * low['final']:.2f}% "
                  f"({100 * (low['final'] - fixed['final']):+.2f} points against 256 px)")
EOF
