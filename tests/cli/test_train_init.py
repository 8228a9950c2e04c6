"""crescendo train --init and --freeze-epochs end to end: fine-tuning a simple_cnn that crescendo
pretrained on one generated set, on another (whose classifier, head.5, the model registry names).
Loading torchvision's weights into a resnet18, and swapping its fc, is test_init_parity.py's.

The sets, 32x32 PNGs listed in CSVs: "squares", 3 classes (a bright square top-left, bottom-right,
or none), and "bars", 2 classes (a bright horizontal or vertical bar). Checked:
- a simple_cnn trained on squares, its last.safetensors (optimizer state included) starts a run on
  bars: the classifier is swapped (the console says so), the loss stays finite and the validation
  accuracy ends well above chance; the epochs after --freeze-epochs change the layers before it;
- started from best.safetensors on squares again (the same class count, so the classifier loads
  too) with --freeze-epochs 2 over two stages of progressive resizing (16 then 32 px, with
  BatchNorm re-estimation at the switch), the checkpoint after them holds every tensor of the init
  file bit for bit, BatchNorm statistics and num_batches_tracked included, except the
  classifier's, which trained;
- with AdamW and --freeze-epochs 2 of 4 epochs, a run killed after 3 epochs and resumed ends as an
  uninterrupted one; --init with --resume is refused, and so is --freeze-epochs without --init;
- files that do not fit fail before training with one line per mismatch naming the tensor: a
  wrong shape (both shapes named), a missing tensor, an unexpected tensor, and 3-channel weights
  for --channels 1.
Exits non-zero on the first failed check."""
import math
import os
import sys
import tempfile

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "parity"))
from cli_testing import check, finish, kill_after_epochs, metrics, run, without_timings  # noqa: E402
import safetensors_np  # noqa: E402

SIDE = 32


def square_image(label, rng):
    img = rng.integers(0, 60, size=(SIDE, SIDE, 3), dtype=np.uint8)
    if label == 0:
        img[3:13, 3:13] = 230
    elif label == 1:
        img[19:29, 19:29] = 230
    return img


def bar_image(label, rng):
    img = rng.integers(0, 60, size=(SIDE, SIDE, 3), dtype=np.uint8)
    at = int(rng.integers(4, 24))
    if label == 0:
        img[at:at + 4, 2:30] = 230
    else:
        img[2:30, at:at + 4] = 230
    return img


def make_dataset(root, classes, draw, per_class, seed):
    rng = np.random.default_rng(seed)
    for split, count in (("train", per_class), ("val", per_class // 2)):
        os.makedirs(os.path.join(root, split), exist_ok=True)
        lines = []
        for label, name in enumerate(classes):
            for i in range(count):
                rel = f"{split}/{name}_{i}.png"
                Image.fromarray(draw(label, rng)).save(os.path.join(root, rel))
                lines.append(f"{name},{rel},{label}")
        with open(os.path.join(root, f"{split}.csv"), "w") as f:
            f.write("class_name,image_path,target\n" + "\n".join(lines) + "\n")


def train_args(data, out, *extra):
    return ["train", "--data", data, "--val-csv", "val.csv", "--model", "simple_cnn",
            "--resolution", str(SIDE), "--batch-size", "8", "--lr", "0.05", "--workers", "2",
            "--threads", "2", "--seed", "4", "--mean", "0.2", "--std", "0.3", "--out", out, *extra]


def tensors(path):
    return safetensors_np.read(path)[0]


def test_swap(tmp, squares, bars):
    """Pretrains on squares, fine-tunes on bars; returns the pretraining run folder."""
    pre = os.path.join(tmp, "pre")
    run(*train_args(squares, pre, "--epochs", "3"))
    init = os.path.join(pre, "last.safetensors")
    out = os.path.join(tmp, "swap")
    p = run(*train_args(bars, out, "--epochs", "4", "--init", init, "--freeze-epochs", "1"))
    lines = p.stdout.splitlines()
    check(any(line.startswith(f"initialized from {init}") and "optimizer state left out" in line
              for line in lines), f"the init is reported: {p.stdout[:600]}")
    swap = [line for line in lines if line.startswith("classifier swap")]
    check(len(swap) == 1 and "head.5 has 3 outputs" in swap[0] and "this run 2 classes" in swap[0],
          f"one line says the classifier is swapped: {swap}")
    check(any("epoch 1 trains head.5 alone" in line for line in lines) and
          any("from epoch 2 every layer trains" in line for line in lines),
          f"the console says what is frozen: {p.stdout[:800]}")
    rows = metrics(out)
    check(len(rows) == 4 and all(math.isfinite(r["train_loss"]) for r in rows),
          f"4 epochs with a finite loss: {[r['train_loss'] for r in rows]}")
    check(rows[-1]["val_acc"] >= 0.8, f"fine-tuned above chance (0.5): {rows[-1]['val_acc']}")
    before, after = tensors(init), tensors(os.path.join(out, "last.safetensors"))
    check(after["head.5.weight"].shape == (2, 256),
          f"the classifier has 2 classes: {after['head.5.weight'].shape}")
    check(not np.array_equal(before["features.0.weight"], after["features.0.weight"]) and
          not np.array_equal(before["head.2.weight"], after["head.2.weight"]),
          "the layers before the classifier train after --freeze-epochs")
    return pre


def test_freeze(tmp, pre, squares_again):
    init = os.path.join(pre, "best.safetensors")
    out = os.path.join(tmp, "frozen")
    run(*train_args(squares_again, out, "--schedule", "16:1,32:1", "--bn-recalibrate", "2",
                    "--init", init, "--freeze-epochs", "2"))
    check([r["resolution"] for r in metrics(out)] == [16, 32], "two stages trained")
    before, after = tensors(init), tensors(os.path.join(out, "last.safetensors"))
    body = [k for k in before if not k.startswith("head.5.")]
    check(len(body) == 20 and all(k in after for k in body), f"every tensor saved: {len(body)}")
    changed = [k for k in body if not np.array_equal(before[k], after[k])]
    check(not changed, f"the frozen epochs leave the layers before head.5 as loaded: {changed}")
    check(before["features.1.num_batches_tracked"] > 0, "the init file counted its batches")
    check(not np.array_equal(before["head.5.weight"], after["head.5.weight"]) and
          not np.array_equal(before["head.5.bias"], after["head.5.bias"]),
          "the classifier trains while the rest is frozen")


def test_resume(tmp, pre, squares_again):
    init = os.path.join(pre, "best.safetensors")
    extra = ["--epochs", "4", "--init", init, "--freeze-epochs", "2", "--optimizer", "adamw",
             "--lr", "0.002"]
    whole = os.path.join(tmp, "whole")
    run(*train_args(squares_again, whole, *extra))
    part = os.path.join(tmp, "part")
    kill_after_epochs(train_args(squares_again, part, *extra), part, 3)
    run("train", "--resume", part)
    check(without_timings(metrics(part)) == without_timings(metrics(whole)),
          "a run resumed across --freeze-epochs ends as an uninterrupted one")
    p = run("train", "--resume", part, "--init", init, expect=2)
    check("--init with --resume" in p.stderr, f"--init with --resume is refused: {p.stderr}")
    p = run(*train_args(squares_again, os.path.join(tmp, "nofreeze"), "--freeze-epochs", "1"),
            expect=1)
    check("--init" in p.stderr, f"--freeze-epochs without --init is refused: {p.stderr}")


def misfit(tmp, squares, name, state, needles, *extra):
    """A run from `state` fails before its first epoch, one line per mismatch, naming each."""
    path = os.path.join(tmp, f"{name}.safetensors")
    safetensors_np.write(path, state)
    out = os.path.join(tmp, f"{name}_run")
    p = run(*train_args(squares, out, "--epochs", "1", "--init", path, *extra), expect=1)
    lines = p.stderr.strip().splitlines()
    check(lines[0].startswith("crescendo: error: ") and "does not fit" in lines[0],
          f"{name}: an error that the file does not fit: {lines}")
    for needle in needles:
        check(sum(needle in line for line in lines[1:]) == 1,
              f"{name}: one line names {needle!r}: {lines}")
    check(len(lines) == 1 + len(needles), f"{name}: one line per mismatch: {lines}")
    check(not os.path.exists(os.path.join(out, "metrics.jsonl")), f"{name}: nothing trained")


def test_misfits(tmp, pre, squares):
    good = tensors(os.path.join(pre, "best.safetensors"))
    wrong = dict(good, **{"features.4.weight": np.zeros((64, 16, 3, 3), np.float32)})
    misfit(tmp, squares, "wrong_shape", wrong,
           ['"features.4.weight" is F32 [64, 16, 3, 3] in the file, F32 [64, 32, 3, 3] in the '
            'model'])
    missing = {k: v for k, v in good.items() if k != "features.9.running_var"}
    misfit(tmp, squares, "missing", missing, ['missing tensor "features.9.running_var"'])
    extra = dict(good, **{"aux.weight": np.ones((3, 3), np.float32)})
    misfit(tmp, squares, "unexpected", extra, ['unexpected tensor "aux.weight"'])
    misfit(tmp, squares, "channels", good, ['"features.0.weight" is F32 [32, 3, 3, 3] in the '
                                            'file, F32 [32, 1, 3, 3] in the model: the file\'s '
                                            'first layer reads 3 input channels, this model 1'],
           "--channels", "1")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        squares, bars = os.path.join(tmp, "squares"), os.path.join(tmp, "bars")
        squares_again = os.path.join(tmp, "squares_again")
        make_dataset(squares, ["left", "right", "none"], square_image, 16, 0)
        make_dataset(bars, ["horizontal", "vertical"], bar_image, 24, 1)
        make_dataset(squares_again, ["left", "right", "none"], square_image, 16, 2)
        pre = test_swap(tmp, squares, bars)
        test_freeze(tmp, pre, squares_again)
        test_resume(tmp, pre, squares_again)
        test_misfits(tmp, pre, squares)
    finish()


if __name__ == "__main__":
    main()
