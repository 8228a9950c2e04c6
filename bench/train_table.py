#!/usr/bin/python3
"""The table of bench/train_vs_pytorch.sh: images/s per configuration for crescendo (fp32, bf16)
and each PyTorch mode, then crescendo bf16 over the best PyTorch mode of any precision and
crescendo fp32 over the best PyTorch fp32 mode (NCHW, channels-last or compiled), naming the best.

  /usr/bin/python3 bench/train_table.py results.jsonl
"""
import json
import sys


def main(path):
    rows, columns = {}, []
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            if "skipped" in r:
                continue
            side = "crescendo" if r["framework"] == "crescendo" else r["framework"]
            column = f"{side} {r['mode']}"
            if column not in columns:
                columns.append(column)
            key = (r["model"], r["resolution"], r["batch_size"])
            rows.setdefault(key, {})[column] = r["images_per_sec"]
    torch_columns = [c for c in columns if not c.startswith("crescendo")]
    header = f"{'model':<11} {'px':>4} {'batch':>5} " + " ".join(f"{c:>14}" for c in columns)
    print(header + f"  {'bf16/best':>9} {'fp32/best fp32':>14}  best torch (any; fp32)")
    for (model, resolution, batch), cells in rows.items():
        line = f"{model:<11} {resolution:>4} {batch:>5} "
        line += " ".join(f"{cells[c]:>14.1f}" if c in cells else f"{'n/a':>14}" for c in columns)
        best = max((c for c in torch_columns if c in cells), key=cells.get, default=None)
        fp32 = [c for c in torch_columns if c in cells and "bf16" not in c]
        best32 = max(fp32, key=cells.get, default=None)
        ratio = lambda ours, theirs: (f"{cells[ours] / cells[theirs]:.2f}x"
                                      if ours in cells and theirs else "n/a")
        line += f"  {ratio('crescendo bf16', best):>9} {ratio('crescendo fp32', best32):>14}"
        print(line + f"  {best}; {best32}")


if __name__ == "__main__":
    main(sys.argv[1])
