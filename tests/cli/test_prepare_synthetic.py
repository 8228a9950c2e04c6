"""crescendo prepare synthetic on a tiny set: 3 classes of 64 px images.

Checked:
- the summary line, train.csv and val.csv (header, one row per image, class by class, names and
  targets of the first three shape-texture pairs) and the JPEGs they list (64x64 RGB);
- the help says how to train on the set;
- a size that is no multiple of 8 fails with the library's message and exit status 1.
Exits non-zero on the first failed check."""
import csv
import os
import sys
import tempfile

from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_testing import check, finish, run  # noqa: E402

NAMES = ["disc-horizontal", "disc-vertical", "disc-checker"]

with tempfile.TemporaryDirectory() as work:
    out = os.path.join(work, "synth")
    r = run("prepare", "synthetic", "--out", out, "--classes", "3", "--per-class", "2",
            "--val-per-class", "1", "--size", "64", "--workers", "2")
    check("wrote 6 training and 3 validation 64x64 images of 3 classes" in r.stdout, r.stdout)
    for split, per_class in (("train", 2), ("val", 1)):
        with open(os.path.join(out, f"{split}.csv")) as f:
            rows = list(csv.reader(f))
        check(rows[0] == ["class_name", "image_path", "target"], f"{split}.csv header {rows[0]}")
        want = [[NAMES[i // per_class], f"{split}/{i:05d}.jpg", str(i // per_class)]
                for i in range(3 * per_class)]
        check(rows[1:] == want, f"{split}.csv rows {rows[1:]}")
        for _, path, _ in rows[1:]:
            with Image.open(os.path.join(out, path)) as image:
                check(image.format == "JPEG" and image.mode == "RGB" and image.size == (64, 64),
                      f"{path}: {image.format} {image.mode} {image.size}")
    check(sorted(os.listdir(out)) == ["train", "train.csv", "val", "val.csv"],
          f"files in the output folder: {os.listdir(out)}")

    r = run("prepare", "synthetic", "--help")
    check("crescendo train --data DIR --train-csv train.csv --val-csv val.csv" in
          " ".join(r.stdout.split()), r.stdout)

    r = run("prepare", "synthetic", "--out", out, "--size", "100", expect=1)
    check("size 100 is not a multiple of 8" in r.stderr, r.stderr)
finish()
