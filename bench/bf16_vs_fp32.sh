#!/bin/sh
# Mixed precision against fp32 on whole training runs: the same recipe and seed trained with
# --precision fp32 and bf16, each run's wall time and final and best validation accuracy, and
# whether bf16 met its target: at most 0.7x the wall time, within 0.3 points on the demo recipe
# (Fashion-MNIST, simple_cnn, scripts/demo.sh's schedule) and within 0.5 points on the synthetic
# set's progressive run of bench/progressive_vs_fixed.sh (ResNet-18, 64:3,128:3,256:2).
#
#   bench/bf16_vs_fp32.sh [CRESCENDO]
#
# The environment: SETS (demo,synthetic), FASHION and SYNTHETIC (the data folders, made when
# missing), RUNS (/tmp/crescendo-bf16). Runs are sequential and use every core: keep the machine
# otherwise idle, or the wall times mean nothing.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
program=${1:-$here/../build/crescendo}
sets=${SETS:-demo,synthetic}
fashion=${FASHION:-data/fashion-mnist}
synthetic=${SYNTHETIC:-data/synthetic-p8}
runs=${RUNS:-/tmp/crescendo-bf16}
# shellcheck disable=SC2034 # read by runs.sh
python=${PYTHON:-/usr/bin/python3}
mkdir -p "$runs"

# train NAME OPTIONS... (one run into $runs/NAME) and summarize NAMES (the table)
# shellcheck source=bench/runs.sh
. "$here/runs.sh"

names=""
compare=""
case ",$sets," in *,demo,*)
    [ -f "$fashion/test.csv" ] || "$program" prepare fashion-mnist --out "$fashion"
    for precision in fp32 bf16; do
        train "demo-$precision" --data "$fashion" --train-csv train.csv --val-csv test.csv \
            --model simple_cnn --channels 1 --mean 0.2860 --std 0.3530 --dropout 0.3 \
            --schedule 20:4,24:4,28:6 --batch-size 128 --lr 0.1 --seed 0 --precision "$precision"
    done
    names="$names demo-fp32 demo-bf16"
    compare="$compare --compare demo-fp32:demo-bf16:1.43:0.3"
    ;;
esac
case ",$sets," in *,synthetic,*)
    [ -f "$synthetic/train.csv" ] ||
        "$program" prepare synthetic --out "$synthetic" --texture-period 8
    for precision in fp32 bf16; do
        train "synthetic-$precision" --data "$synthetic" --train-csv train.csv --val-csv val.csv \
            --model resnet18 --batch-size 32 --lr 0.02 --seed 0 --schedule 64:3,128:3,256:2 \
            --precision "$precision"
    done
    names="$names synthetic-fp32 synthetic-bf16"
    compare="$compare --compare synthetic-fp32:synthetic-bf16:1.43:0.5"
    ;;
esac

# shellcheck disable=SC2086 # lists of words
summarize $compare $names
