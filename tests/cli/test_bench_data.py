"""crescendo bench data, --cache-decoded and --max-image-pixels on a few generated JPEGs and PNGs.

Checked:
- bench data prints one JSON object per resolution and worker count, each pass covering every
  image, and without a cache decodes every image every pass;
- with --cache-decoded the timed passes decode nothing (the untimed first pass filled the cache);
- --random-crop reads every image every pass, even with --cache-decoded (crops are never cached);
- --max-image-pixels below an image's size fails bench data, train and eval with the file's name
  and the limit, and exit status 1.
Exits non-zero on the first failed check."""
import json
import os
import shutil
import sys
import tempfile

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_testing import check, finish, run  # noqa: E402

def make_images(root, count):
    rng = np.random.default_rng(0)
    rows = ["image_path,target"]
    for i in range(count):
        pixels = rng.integers(0, 256, size=(30 + i, 40, 3), dtype=np.uint8)
        name = f"{i:02d}." + ("jpg" if i % 2 else "png")
        Image.fromarray(pixels).save(os.path.join(root, name))
        rows.append(f"{name},{i % 2}")
    with open(os.path.join(root, "train.csv"), "w") as f:
        f.write("\n".join(rows) + "\n")


def bench(root, *extra):
    r = run("bench", "data", "--data", root, "--resolution", "16,24", "--workers", "1,2",
            "--passes", "2", "--json", *extra)
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    check(len(lines) == 4, f"4 configurations, got {r.stdout}")
    check([(x["resolution"], x["workers"]) for x in lines] == [(16, 1), (24, 1), (16, 2), (24, 2)],
          f"resolutions within worker counts: {lines}")
    for x in lines:
        check(x["images"] == 10 and x["images_per_sec"] > 0, f"every image, a rate: {x}")
    return lines


def main():
    root = tempfile.mkdtemp(prefix="cr_bench_data_")
    try:
        make_images(root, 10)
        for x in bench(root):
            check(x["decoded_per_pass"] == 10, f"no cache: every image decoded: {x}")
        for x in bench(root, "--cache-decoded", "1"):
            check(x["decoded_per_pass"] == 0, f"cache: nothing decoded after the first pass: {x}")
        for x in bench(root, "--random-crop", "0.35", "--cache-decoded", "1"):
            check(x["decoded_per_pass"] == 10, f"random crops: every image decoded: {x}")

        r = run("bench", "data", "--data", root, "--max-image-pixels", "1300", "--passes", "1",
                expect=1)
        check("train.csv:" in r.stderr and "over the limit of 1300" in r.stderr,
              f"bench data over the pixel limit: {r.stderr}")
        out = os.path.join(root, "run")
        r = run("train", "--data", root, "--model", "simple_cnn", "--resolution", "16",
                "--epochs", "1", "--batch-size", "5", "--out", out, "--max-image-pixels", "1300",
                expect=1)
        check("over the limit of 1300" in r.stderr, f"train over the pixel limit: {r.stderr}")
        run("train", "--data", root, "--model", "simple_cnn", "--resolution", "16", "--epochs",
            "2", "--batch-size", "5", "--out", out, "--overwrite", "--cache-decoded", "1")
        r = run("eval", "--checkpoint", os.path.join(out, "last.safetensors"), "--data", root,
                "--csv", "train.csv", "--max-image-pixels", "1300", expect=1)
        check("over the limit of 1300" in r.stderr, f"eval over the pixel limit: {r.stderr}")
        run("eval", "--checkpoint", os.path.join(out, "last.safetensors"), "--data", root, "--csv",
            "train.csv")
    finally:
        shutil.rmtree(root)
    finish()


if __name__ == "__main__":
    main()
