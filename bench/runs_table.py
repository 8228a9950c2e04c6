#!/usr/bin/python3
"""The table of the training benchmarks (progressive_vs_fixed.sh, bf16_vs_fp32.sh): for each run
folder under RUNS, its schedule as trained, wall time, final and best validation accuracy, from
metrics.jsonl. Each --compare BASE:OTHER:MIN_SPEEDUP:MAX_DROP adds a line: how much faster OTHER
ran than BASE, the accuracy it gave up, and whether it met the target (at least MIN_SPEEDUP times
faster, at most MAX_DROP points lower).

  runs_table.py RUNS [--compare BASE:OTHER:MIN_SPEEDUP:MAX_DROP ...] NAME...
"""
import argparse
import json
import os


def summary(runs, name):
    with open(os.path.join(runs, name, "metrics.jsonl")) as f:
        epochs = [json.loads(line) for line in f]
    sizes = []
    for e in epochs:
        if not sizes or sizes[-1][0] != e["resolution"]:
            sizes.append([e["resolution"], 0])
        sizes[-1][1] += 1
    return {
        "schedule": ",".join(f"{r}:{n}" for r, n in sizes),
        "seconds": epochs[-1]["elapsed_seconds"],
        "final": epochs[-1]["val_acc"],
        "best": max(e["val_acc"] for e in epochs),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("runs")
    ap.add_argument("names", nargs="+")
    ap.add_argument("--compare", action="append", default=[])
    args = ap.parse_args()
    rows = {name: summary(args.runs, name) for name in args.names}
    print(f"{'run':<26} {'schedule':<20} {'wall s':>8} {'final val acc':>14} {'best val acc':>13}")
    for name, r in rows.items():
        print(f"{name:<26} {r['schedule']:<20} {r['seconds']:>8.1f} {100 * r['final']:>13.2f}%"
              f" {100 * r['best']:>12.2f}%")
    for spec in args.compare:
        base, other, min_speedup, max_drop = spec.split(":")
        if base not in rows or other not in rows:
            continue
        speedup = rows[base]["seconds"] / rows[other]["seconds"]
        drop = 100 * (rows[base]["final"] - rows[other]["final"])
        met = speedup >= float(min_speedup) and drop <= float(max_drop)
        print(f"{other} against {base}: {speedup:.2f}x faster ({1 / speedup:.2f}x the wall time), "
              f"final accuracy {-drop:+.2f} points; target >= {min_speedup}x within "
              f"{max_drop} points: {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
