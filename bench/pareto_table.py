#!/usr/bin/python3
"""The accuracy-for-time tables of progressive_pareto.sh: per set and budget, each recipe's final
validation accuracy (mean over the seeds, and the spread: half the range) and wall time, then the
least time at which each progressive recipe reaches fixed size's accuracy at the largest budget
(within 0.5 point), how far the worst run's wall time was from its budget, and an SVG plot of
accuracy against wall time per set.

    bench/pareto_table.py RUNS [--svg FILE]

RUNS holds the run folders NAME = SET-RECIPE-BUDGET-sSEED and times.tsv (NAME, wall seconds; the
last line of a name counts). Exits 1 when a run in times.tsv has no metrics.
"""
import argparse
import json
import os
import re
import sys
from collections import defaultdict

NAME = re.compile(r"^(?P<set>[a-z0-9]+)-(?P<recipe>fixed|progressive(?:-[\w.-]+)?)-"
                  r"(?P<budget>\d+)-s(?P<seed>\d+)$")
WITHIN = 0.5  # points: "reaches fixed size's accuracy"


def final_accuracy(folder):
    with open(os.path.join(folder, "metrics.jsonl")) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return 100.0 * rows[-1]["val_acc"]


def load(runs):
    times = {}
    with open(os.path.join(runs, "times.tsv")) as f:
        for line in f:
            name, seconds = line.split()
            times[name] = float(seconds)
    results = defaultdict(lambda: defaultdict(dict))  # set -> recipe -> budget -> [(acc, s)]
    for name, seconds in times.items():
        m = NAME.match(name)
        if not m:
            continue
        per_budget = results[m["set"]][m["recipe"]]
        per_budget.setdefault(int(m["budget"]), []).append(
            (final_accuracy(os.path.join(runs, name)), seconds))
    return results


def budgets_kept(runs):
    """(name, budget, wall seconds) of every run in times.tsv."""
    with open(os.path.join(runs, "times.tsv")) as f:
        for line in f:
            name, seconds = line.split()
            m = NAME.match(name)
            if m:
                yield name, int(m["budget"]), float(seconds)


def summary(points):
    accs = [a for a, _ in points]
    mean = sum(accs) / len(accs)
    return mean, (max(accs) - min(accs)) / 2, sum(s for _, s in points) / len(points), len(accs)


def table(set_name, recipes):
    names = ["fixed"] + sorted(r for r in recipes if r != "fixed")
    names = [r for r in names if r in recipes]
    budgets = sorted({b for r in names for b in recipes[r]})
    print(f"\n{set_name}: final val accuracy %, mean ± half-range over seeds (wall s)")
    print(f"{'budget':>8} " + " ".join(f"{r:>24}" for r in names))
    for b in budgets:
        cells = []
        for r in names:
            if b in recipes[r]:
                mean, spread, seconds, n = summary(recipes[r][b])
                cells.append(f"{mean:6.2f} ± {spread:4.2f} ({seconds:4.0f} s, {n})")
            else:
                cells.append("-")
        print(f"{b:>6} s " + " ".join(f"{c:>24}" for c in cells))
    if "fixed" not in recipes:
        return
    top = max(recipes["fixed"])
    target, _, fixed_seconds, _ = summary(recipes["fixed"][top])
    for r in names[1:]:
        reached = [b for b in sorted(recipes[r]) if summary(recipes[r][b])[0] >= target - WITHIN]
        if reached:
            seconds = summary(recipes[r][reached[0]])[2]
            print(f"{r} reaches fixed's {target:.2f}% (at {top} s) within {WITHIN} point in "
                  f"{seconds:.0f} s: {seconds / fixed_seconds:.2f}x fixed's time")
        else:
            print(f"{r} does not reach fixed's {target:.2f}% (at {top} s) within {WITHIN} point "
                  f"at any budget measured")


COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]


def svg(results, path):
    width, height, pad = 360, 260, 44
    sets = sorted(results)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width * len(sets)}" '
             f'height="{height + 40}" font-family="sans-serif" font-size="11">']
    for i, set_name in enumerate(sets):
        recipes = results[set_name]
        pts = [(summary(p)[2], summary(p)[0]) for r in recipes.values() for p in r.values()]
        x0, x1 = 0, max(s for s, _ in pts) * 1.05
        y0, y1 = min(a for _, a in pts) - 1, max(a for _, a in pts) + 1

        def at(seconds, acc, ox=i * width):
            return (ox + pad + (seconds - x0) / (x1 - x0) * (width - 2 * pad),
                    height - pad + 20 - (acc - y0) / (y1 - y0) * (height - 2 * pad))
        ox = i * width
        parts.append(f'<text x="{ox + width / 2}" y="14" text-anchor="middle" '
                     f'font-weight="bold">{set_name}</text>')
        bx, by = at(x0, y0)
        tx, ty = at(x1, y1)
        parts.append(f'<rect x="{bx}" y="{ty}" width="{tx - bx}" height="{by - ty}" '
                     f'fill="none" stroke="#999"/>')
        parts.append(f'<text x="{(bx + tx) / 2}" y="{by + 30}" text-anchor="middle">'
                     f'wall time (s)</text>')
        for v in (y0, (y0 + y1) / 2, y1):
            parts.append(f'<text x="{bx - 4}" y="{at(x0, v)[1] + 4}" text-anchor="end">'
                         f'{v:.1f}</text>')
        for v in (x1 / 3, 2 * x1 / 3):
            parts.append(f'<text x="{at(v, y0)[0]}" y="{by + 14}" text-anchor="middle">'
                         f'{v:.0f}</text>')
        for k, (recipe, per_budget) in enumerate(sorted(recipes.items())):
            color = COLORS[k % len(COLORS)]
            line = [at(summary(p)[2], summary(p)[0]) for _, p in sorted(per_budget.items())]
            parts.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>' % (
                color, " ".join(f"{x:.1f},{y:.1f}" for x, y in line)))
            for x, y in line:
                parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}"/>')
            parts.append(f'<text x="{bx + 6}" y="{ty + 14 + 13 * k}" fill="{color}">'
                         f'{recipe}</text>')
    parts.append("</svg>\n")
    with open(path, "w") as f:
        f.write("\n".join(parts))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs")
    parser.add_argument("--svg", help="write the plot here")
    args = parser.parse_args()
    try:
        results = load(args.runs)
    except (OSError, KeyError, IndexError, ValueError) as e:
        print(f"pareto_table.py: {e}", file=sys.stderr)
        return 1
    for set_name in sorted(results):
        table(set_name, results[set_name])
    worst = max(((abs(seconds / budget - 1), name) for name, budget, seconds in budgets_kept(
        args.runs)), default=None)
    if worst:
        print(f"\nwall time against budget: worst {100 * worst[0]:.1f}% off ({worst[1]})")
    if args.svg and results:
        svg(results, args.svg)
        print(f"\nplot: {args.svg}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
