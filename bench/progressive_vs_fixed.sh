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
# shellcheck disable=SC2034 # read by runs.sh
python=${PYTHON:-/usr/bin/python3}
mkdir -p "$runs"

# train NAME OPTIONS... (one run into $runs/NAME) and summarize NAMES (the table)
# shellcheck source=bench/runs.sh
. "$here/runs.sh"

names=""
case ",$sets," in *,synthetic,*)
    [ -f "$synthetic/train.csv" ] ||
        "$program" prepare synthetic --out "$synthetic" --texture-period 8
    set -- --data "$synthetic" --train-csv train.csv --val-csv val.csv --model resnet18 \
        --batch-size 32 --lr 0.02 --seed 0
    train synthetic-progressive --schedule "${SYNTH_PROGRESSIVE:-64:3,128:3,256:2}" "$@"
    train synthetic-fixed --schedule "${SYNTH_FIXED:-256:8}" "$@"
    train synthetic-low --schedule "${SYNTH_LOW:-64:8}" "$@"
    names="$names synthetic-fixed synthetic-progressive synthetic-low"
    ;;
esac
case ",$sets," in *,fashion-mnist,*)
    [ -f "$fashion/test.csv" ] || "$program" prepare fashion-mnist --out "$fashion"
    set -- --data "$fashion" --train-csv train.csv --val-csv test.csv --model simple_cnn \
        --channels 1 --mean 0.2860 --std 0.3530 --dropout 0.3 --batch-size 128 --lr 0.1 --seed 0
    train fashion-mnist-progressive --schedule "${FASHION_PROGRESSIVE:-16:3,22:3,28:3}" "$@"
    train fashion-mnist-fixed --schedule "${FASHION_FIXED:-28:9}" "$@"
    names="$names fashion-mnist-fixed fashion-mnist-progressive"
    ;;
esac

# shellcheck disable=SC2086 # $names is a list of words
summarize --compare synthetic-fixed:synthetic-progressive:1.5:0.5 \
    --compare fashion-mnist-fixed:fashion-mnist-progressive:1.5:0.5 $names
