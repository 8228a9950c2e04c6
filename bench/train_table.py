#!/usr/bin/python3
"""The table of bench/train_vs_pytorch.sh: images/s per configuration for crescendo (fp32, bf16)
and each PyTorch mode, then crescendo bf16 over the best PyTorch mode of any precision and
crescendo fp32 over the best PyTorch fp32 mode (NCHW, channels-last or compiled), naming the best.

Below the table: which torch each column ran (version, Python), the modes that were skipped and
why (torch.compile missing or failing), and how many runs shared the cores with other work (a
1-minute load over 1.25x the thread count; only the PyTorch lines record it), whose figures are low.

  /usr/bin/python3 bench/train_table.py results.jsonl
"""
import json
import sys

CRESCENDO = ["crescendo fp32", "crescendo bf16"]


def cell(value, width):
    return f"{value:>{width}.1f}" if isinstance(value, float) else f"{value:>{width}}"


def ratio(cells, ours, theirs):
    return f"{cells[ours] / cells[theirs]:.2f}x" if ours in cells and theirs else "n/a"


def main(path):
    rows, columns, versions, skipped, loaded = {}, list(CRESCENDO), {}, [], []
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            column = f"{r['framework']} {r['mode']}"
            key = (r["model"], r["resolution"], r["batch_size"])
            if r["framework"] != "crescendo":
                versions[r["framework"]] = f"{r['torch']} (Python {r['python']})"
            if "skipped" in r:
                skipped.append(f"{r['model']} {r['resolution']}px {column}: {r['skipped']}")
                continue
            if column not in columns:
                columns.append(column)
            rows.setdefault(key, {})[column] = float(r["images_per_sec"])
            if "loadavg" in r:
                loaded.append(max(r["loadavg"]) / r["threads"])
    torch_columns = [c for c in columns if c not in CRESCENDO]
    widths = [max(len(c), 8) for c in columns]
    print(f"{'model':<11} {'px':>4} {'batch':>5} "
          + " ".join(f"{c:>{w}}" for c, w in zip(columns, widths))
          + f"  {'bf16/best':>9} {'fp32/best fp32':>14}  best torch (any; fp32)")
    for (model, resolution, batch), cells in rows.items():
        present = [c for c in torch_columns if c in cells]
        best = max(present, key=cells.get, default=None)
        best32 = max((c for c in present if "bf16" not in c), key=cells.get, default=None)
        print(f"{model:<11} {resolution:>4} {batch:>5} "
              + " ".join(cell(cells.get(c, "n/a"), w) for c, w in zip(columns, widths))
              + f"  {ratio(cells, 'crescendo bf16', best):>9}"
              + f" {ratio(cells, 'crescendo fp32', best32):>14}  {best}; {best32}")
    for framework, version in versions.items():
        print(f"{framework} is torch {version}")
    for note in skipped:
        print(f"skipped: {note}")
    busy = [x for x in loaded if x > 1.25]
    if busy:
        print(f"{len(busy)} of {len(loaded)} PyTorch runs shared the cores with other work "
              f"(1-minute load up to {max(busy):.1f}x the thread count): their figures are low, "
              "and so may crescendo's be")


if __name__ == "__main__":
    main(sys.argv[1])
