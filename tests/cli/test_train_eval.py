"""crescendo train and eval end to end on a tiny generated dataset, and the errors of bad input.

The dataset: 3 classes of 24x24 images (a bright square top-left, bottom-right, or none), half
PNG and half JPEG, listed in CSVs. Checked:
- train writes config.yaml, metrics.jsonl (every key DESIGN.md lists, one line per epoch),
  confusion/<epoch>.csv, last.safetensors and best.safetensors, and learns the task;
- eval of the checkpoint reports the accuracy the last epoch logged;
- two runs with the same seed write identical metrics.jsonl, timings aside;
- a run killed after two epochs and resumed with --resume ends as an uninterrupted one;
- --random-crop trains, is kept in config.yaml, changes the training metrics but not what
  validation sees at a given model, and two runs with one seed write the same metrics.jsonl;
- a CSV with other column names trains with --path-column, --target-column, --class-column;
- --jpeg-scale smallest, double and full decode large JPEGs at three sizes (three sets of metrics),
  and config.yaml keeps the choice;
- --precision bf16 learns the task, keeps bf16 in config.yaml and on --resume, and writes a
  checkpoint of the same fp32 tensors under the same names as an fp32 run, which eval scores in
  either precision (on a CPU without bf16 arithmetic, that train refuses it instead);
- each bad input (missing file, corrupt PNG, truncated JPEG, short row, non-numeric target,
  label >= class count, empty CSV) gives exit status 1 and a one-line error naming the file and
  row, or with --on-bad skip is skipped and counted.
Exits non-zero on the first failed check."""
import json
import os
import shutil
import struct
import sys
import tempfile

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_testing import (check, finish, kill_after_epochs, metrics, noise_images,  # noqa: E402
                         run, without_timings)

CLASSES = ["left", "right", "none"]
KEYS = ["epoch", "stage", "resolution", "batch_size", "lr", "train_loss", "train_acc", "val_loss",
        "val_acc", "val_top5", "images_per_sec", "epoch_seconds", "elapsed_seconds"]


def make_image(label, rng):
    img = rng.integers(0, 60, size=(24, 24, 3), dtype=np.uint8)
    if label == 0:
        img[2:10, 2:10] = 230
    elif label == 1:
        img[14:22, 14:22] = 230
    return Image.fromarray(img)


def make_dataset(root, per_class=16, seed=0):
    rng = np.random.default_rng(seed)
    rows = {"train": [], "val": []}
    for split, count in (("train", per_class), ("val", per_class // 2)):
        os.makedirs(os.path.join(root, split), exist_ok=True)
        for label, name in enumerate(CLASSES):
            for i in range(count):
                ext = "png" if i % 2 == 0 else "jpg"
                rel = f"{split}/{name}_{i}.{ext}"
                make_image(label, rng).save(os.path.join(root, rel), quality=95)
                rows[split].append(f"{name},{rel},{label}")
    for split, lines in rows.items():
        with open(os.path.join(root, f"{split}.csv"), "w") as f:
            f.write("class_name,image_path,target\n" + "\n".join(lines) + "\n")


def train_args(data, out, *extra):
    return ["train", "--data", data, "--val-csv", "val.csv", "--model", "simple_cnn",
            "--schedule", "16:2,24:3", "--batch-size", "8", "--lr", "0.05", "--workers", "2",
            "--threads", "2", "--seed", "3", "--mean", "0.5", "--std", "0.25", "--out", out, *extra]


def test_train_and_eval(tmp, data):
    out = os.path.join(tmp, "run")
    run(*train_args(data, out))
    for name in ("config.yaml", "metrics.jsonl", "last.safetensors", "best.safetensors",
                 "confusion/5.csv"):
        check(os.path.exists(os.path.join(out, name)), f"train wrote {name}")
    rows = metrics(out)
    check(len(rows) == 5, f"5 epochs logged, got {len(rows)}")
    check(all(k in rows[0] for k in KEYS), f"metrics.jsonl has every key: {sorted(rows[0])}")
    check([r["resolution"] for r in rows] == [16, 16, 24, 24, 24], "stages followed")
    check(rows[-1]["val_acc"] >= 0.9, f"learned the task: val_acc {rows[-1]['val_acc']}")
    with open(os.path.join(out, "confusion/5.csv")) as f:
        header = f.readline().strip()
    check(header == "true\\pred,left,right,none", f"confusion header {header!r}")
    p = run("eval", "--checkpoint", os.path.join(out, "last.safetensors"), "--data", data,
            "--csv", "val.csv")
    want = f"top-1 {100 * rows[-1]['val_acc']:.2f}%"
    check(want in p.stdout, f"eval reports {want}: {p.stdout[-300:]}")
    return out, rows


def test_determinism_and_resume(tmp, data, first_rows):
    again = os.path.join(tmp, "again")
    run(*train_args(data, again))
    check(without_timings(metrics(again)) == without_timings(first_rows),
          "two runs with one seed write the same metrics.jsonl")
    # Kill a run once two epochs are logged, then resume: the result is the uninterrupted one.
    part = os.path.join(tmp, "part")
    kill_after_epochs(train_args(data, part), part, 2)
    run("train", "--resume", part)
    check(without_timings(metrics(part)) == without_timings(first_rows),
          "a resumed run ends where an uninterrupted one does")
    p = run(*train_args(data, part), expect=2)
    check("--resume" in p.stderr, "an existing run folder is not overwritten silently")


def test_random_crop(tmp, data, first_rows):
    crop_rows = []
    for name in ("crop", "crop_again"):
        out = os.path.join(tmp, name)
        run(*train_args(data, out, "--random-crop", "0.35"))
        crop_rows.append(without_timings(metrics(out)))
    check(len(crop_rows[0]) == 5, f"5 epochs logged with --random-crop, got {len(crop_rows[0])}")
    check(crop_rows[0] == crop_rows[1], "two --random-crop runs with one seed write the same "
          "metrics.jsonl")
    check(crop_rows[0][0]["train_loss"] != first_rows[0]["train_loss"],
          "--random-crop changes what is trained on")
    with open(os.path.join(tmp, "crop", "config.yaml")) as f:
        config = f.read()
    check("random-crop: 0.35" in config, f"config.yaml keeps --random-crop:\n{config}")
    p = run("train", "--data", data, "--random-crop", "1.5", "--out", os.path.join(tmp, "x"),
            expect=2)
    check("random-crop" in p.stderr, f"--random-crop 1.5 is refused: {p.stderr.strip()}")


def bad_case(tmp, data, name, csv_text, files, needle):
    """A copy of the data with one CSV; fails with a message containing needle, or skips."""
    root = os.path.join(tmp, name)
    shutil.copytree(data, root)
    for rel, content in files.items():
        with open(os.path.join(root, rel), "wb") as f:
            f.write(content)
    with open(os.path.join(root, "bad.csv"), "w") as f:
        f.write(csv_text)
    out = os.path.join(tmp, name + "_run")
    base = ["train", "--data", root, "--train-csv", "bad.csv", "--model", "simple_cnn",
            "--resolution", "16", "--epochs", "1", "--batch-size", "4", "--workers", "1",
            "--out", out]
    p = run(*base, expect=1)
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    check(len(lines) == 1 and needle in lines[0], f"{name}: one line naming {needle!r}: {lines}")
    return base


def test_bad_inputs(tmp, data):
    header = "class_name,image_path,target\n"
    good = "".join(f"left,train/left_{i}.png,0\n" for i in range(0, 16, 2))
    good += "".join(f"right,train/right_{i}.png,1\n" for i in range(0, 16, 2))
    with open(os.path.join(data, "train/left_1.jpg"), "rb") as f:
        jpeg = f.read()
    cases = [
        ("missing", header + good + "left,train/nope.png,0\n", {}, "bad.csv:18"),
        ("corrupt_png", header + good + "left,broken.png,0\n",
         {"broken.png": b"\x89PNG\r\n\x1a\n" + b"\0" * 40}, "bad.csv:18"),
        ("truncated_jpeg", header + good + "left,cut.jpg,0\n", {"cut.jpg": jpeg[:len(jpeg) // 2]},
         "bad.csv:18"),
        ("short_row", header + good + "left,train/left_0.png\n", {}, "bad.csv:18"),
        ("non_numeric", header + good + "left,train/left_0.png,zero\n", {}, "bad.csv:18"),
        ("label_range", header + good + "left,train/left_0.png,7\n", {}, "bad.csv:18"),
        ("empty", "", {}, "bad.csv"),
    ]
    for name, text, files, needle in cases:
        base = bad_case(tmp, data, name, text, files, needle)
        if name in ("empty", "label_range"):
            continue  # no row to skip / the class count is only known from the labels
        p = run(*base, "--on-bad", "skip", "--overwrite")
        check("skipped" in p.stderr + p.stdout and "bad.csv:18" in p.stderr + p.stdout,
              f"{name}: --on-bad skip names the skipped row: {p.stderr[-500:]}")


def test_jpeg_scale(tmp):
    """--jpeg-scale: 64x64 JPEGs trained at 16 px are decoded at 1/4 scale (smallest), 1/2
    (double) or full size, which changes the pixels and so the metrics; config.yaml keeps the
    choice."""
    data = os.path.join(tmp, "large")
    noise_images(data, 16, 64, 64, "jpg", seed=5)
    losses = {}
    for scale in ("smallest", "double", "full"):
        out = os.path.join(tmp, f"decode_{scale}")
        run("train", "--data", data, "--model", "simple_cnn", "--resolution", "16", "--epochs",
            "1", "--batch-size", "8", "--threads", "2", "--seed", "1", "--out", out,
            "--jpeg-scale", scale)
        losses[scale] = metrics(out)[0]["train_loss"]
        with open(os.path.join(out, "config.yaml")) as f:
            config = f.read()
        check(f"jpeg-scale: {scale}" in config, f"config.yaml keeps --jpeg-scale {scale}:\n{config}")
    check(len(set(losses.values())) == 3, f"each --jpeg-scale trains on other pixels: {losses}")


def test_column_names(tmp, data):
    """A CSV with its own column names, chosen with --path-column and friends."""
    with open(os.path.join(data, "train.csv")) as f:
        rows = f.read().splitlines()[1:]
    with open(os.path.join(data, "renamed.csv"), "w") as f:
        f.write("label,kind,file\n")
        for row in rows:
            name, path, target = row.split(",")
            f.write(f"{target},{name},{path}\n")
    out = os.path.join(tmp, "renamed_run")
    base = ["train", "--data", data, "--train-csv", "renamed.csv", "--model", "simple_cnn",
            "--resolution", "16", "--epochs", "1", "--batch-size", "8", "--out", out]
    p = run(*base, expect=1)
    check("image_path" in p.stderr, f"a missing default column is named: {p.stderr}")
    run(*base, "--path-column", "file", "--target-column", "label", "--class-column", "kind",
        "--overwrite")
    check(len(metrics(out)) == 1, "trained from renamed columns")


def safetensors_header(path):
    with open(path, "rb") as f:
        size = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(size))
    header.pop("__metadata__", None)
    return header


def test_bf16(tmp, data, fp32_out):
    out = os.path.join(tmp, "bf16")
    if "bf16:     supported" not in run("info").stdout:
        p = run(*train_args(data, out, "--precision", "bf16"), expect=1)
        check("no fast bf16 arithmetic" in p.stderr, f"bf16 refused: {p.stderr[-200:]}")
        return
    part = os.path.join(tmp, "bf16-part")
    kill_after_epochs(train_args(data, part, "--precision", "bf16"), part, 2)
    run("train", "--resume", part)
    rows = metrics(part)
    check(len(rows) == 5 and rows[-1]["val_acc"] >= 0.9,
          f"bf16 resumed and learned the task: {[r['val_acc'] for r in rows]}")
    with open(os.path.join(part, "config.yaml")) as f:
        check("precision: bf16" in f.read(), "config.yaml keeps --precision bf16")
    ours = safetensors_header(os.path.join(part, "last.safetensors"))
    theirs = safetensors_header(os.path.join(fp32_out, "last.safetensors"))
    check({k: (v["dtype"], v["shape"]) for k, v in ours.items()} ==
          {k: (v["dtype"], v["shape"]) for k, v in theirs.items()},
          "a bf16 run's checkpoint has the fp32 run's tensors, types and shapes")
    for precision in ("fp32", "bf16"):
        p = run("eval", "--checkpoint", os.path.join(part, "last.safetensors"), "--data", data,
                "--csv", "val.csv", "--precision", precision)
        check("top-1 " in p.stdout, f"eval --precision {precision}: {p.stdout[-200:]}")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "data")
        make_dataset(data)
        out, rows = test_train_and_eval(tmp, data)
        test_determinism_and_resume(tmp, data, rows)
        test_random_crop(tmp, data, rows)
        test_bad_inputs(tmp, data)
        test_column_names(tmp, data)
        test_jpeg_scale(tmp)
        test_bf16(tmp, data, out)
    finish()


if __name__ == "__main__":
    main()
