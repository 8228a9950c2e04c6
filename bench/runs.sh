# bench/runs.sh — what the training benchmarks share, sourced by them: `train NAME ARGS...` runs
# crescendo train into $runs/NAME (log beside it, stopping the script on failure), and
# `summarize [--compare BASE:OTHER:MIN_SPEEDUP:MAX_DROP ...] NAME...` prints runs_table.py's table.
# The sourcing script sets $program (crescendo), $runs and $python.
# shellcheck shell=sh disable=SC2154 # program, runs and python come from the sourcing script

train() {
    name=$1
    shift
    echo "$name: $*" >&2
    "$program" train --out "$runs/$name" --overwrite "$@" >"$runs/$name.log" 2>&1 || {
        tail -n 5 "$runs/$name.log" >&2
        exit 1
    }
}

summarize() {
    "$python" "$(dirname "$0")/runs_table.py" "$runs" "$@"
}
