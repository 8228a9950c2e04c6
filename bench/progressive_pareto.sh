#!/bin/sh
# Progressive resizing against fixed full-size training on equal wall time: for each set, budget
# and seed, one run of each under `train --time-budget`, which plans the epochs of every stage to
# fill the budget; then pareto_table.py prints each set's accuracy-for-time table (mean and spread
# over the seeds), the time progressive needs for fixed size's final accuracy, and an SVG plot.
# The sets are made by make_sets.py and were not designed for progressive resizing: line sketches
# (256 px JPEGs, trained at 128), crops of photographs (500x375 JPEGs, at 128) and Fashion-MNIST
# upscaled to 112 px (PNG).
#
#   bench/progressive_pareto.sh [CRESCENDO]
#
# CRESCENDO is the program (default build/crescendo). The environment chooses the rest:
#   SETS      sketches,photos,fashion112 (any subset)
#   SETS_DIR  where the sets are, made there when missing (data/pareto)
#   BUDGETS   the budgets in seconds (45,90,135: the middle one is 2/3 of the last)
#   SEEDS     0,1,2
#   RECIPES   fixed,progressive (either alone runs only that one)
#   FLAGS     options added to every run (--precision bf16 --lr 0.05: the peak lr at which fixed
#             size measured best on these sets; "" for train's defaults)
#   PROGRESSIVE_FLAGS  options added to the progressive runs, which otherwise take train's default
#             schedule up to the full size (an ablation: --lr-pace steps)
#   TAG       names the progressive runs progressive-TAG, so that ablations sit beside the default
#   RUNS      where run folders, logs and times.tsv go (/tmp/crescendo-pareto)
# Runs are sequential and use every core; keep the machine otherwise idle.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
program=${1:-$here/../build/crescendo}
sets=${SETS:-sketches,photos,fashion112}
sets_dir=${SETS_DIR:-data/pareto}
budgets=${BUDGETS:-45,90,135}
seeds=${SEEDS:-0,1,2}
recipes=${RECIPES:-fixed,progressive}
flags=${FLAGS---precision bf16 --lr 0.05}
progressive_flags=${PROGRESSIVE_FLAGS:-}
runs=${RUNS:-/tmp/crescendo-pareto}
python=${PYTHON:-/usr/bin/python3}
progressive=progressive${TAG:+-$TAG}
mkdir -p "$runs"

# one_run NAME OPTIONS...: trains into $runs/NAME and appends its wall time to times.tsv
one_run() {
    name=$1
    shift
    echo "$name: $*" >&2
    start=$(date +%s.%N)
    # shellcheck disable=SC2086 # $flags is a list of options
    "$program" train --out "$runs/$name" --overwrite $flags "$@" >"$runs/$name.log" 2>&1 || {
        tail -n 5 "$runs/$name.log" >&2
        exit 1
    }
    end=$(date +%s.%N)
    printf '%s\t%s\n' "$name" "$(echo "$end - $start" | bc)" >>"$runs/times.tsv"
}

for set in $(echo "$sets" | tr , ' '); do
    case $set in
    sketches) full=128 channels=3 ;;
    photos) full=128 channels=3 ;;
    fashion112) full=112 channels=1 ;;
    *) echo "unknown set $set" >&2 && exit 2 ;;
    esac
    data=$sets_dir/$set
    [ -f "$data/train.csv" ] || case $set in
    fashion112)
        [ -f data/fashion-mnist/test.csv ] || "$program" prepare fashion-mnist --out data/fashion-mnist
        "$python" "$here/make_sets.py" fashion "$data" --source data/fashion-mnist ;;
    *) "$python" "$here/make_sets.py" "$set" "$data" ;;
    esac
    for budget in $(echo "$budgets" | tr , ' '); do
        for seed in $(echo "$seeds" | tr , ' '); do
            set -- --data "$data" --train-csv train.csv --val-csv val.csv --model resnet18 \
                --channels "$channels" --time-budget "$budget" --seed "$seed"
            case ",$recipes," in *,fixed,*)
                one_run "$set-fixed-$budget-s$seed" --resolution "$full" "$@" ;;
            esac
            case ",$recipes," in *,progressive,*)
                # shellcheck disable=SC2086 # $progressive_flags is a list of options
                one_run "$set-$progressive-$budget-s$seed" --max-resolution "$full" "$@" \
                    $progressive_flags ;;
            esac
        done
    done
done

"$python" "$here/pareto_table.py" "$runs" --svg "$runs/pareto.svg"
