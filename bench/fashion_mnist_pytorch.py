#!/usr/bin/python3
"""Fashion-MNIST with PyTorch on the CPU, by the recipe `crescendo train` takes, for side-by-side runs.

The network is crescendo's simple_cnn (bench/torch_common.py). The recipe flags mirror crescendo's:
--epochs --batch-size --lr --momentum --nesterov --weight-decay --lr-schedule --seed --resolution.
Defaults: 9 epochs, batch 128, SGD with Nesterov momentum 0.9, weight decay 5e-4 on conv and linear
weights only (none on BatchNorm or biases), one-cycle lr peaking at 0.1 after 25% of the steps (from
0.01, down to 1e-4; momentum is not cycled, as crescendo's optimizer does not cycle it — torch's
OneCycleLR does by default, --cycle-momentum turns that on), random horizontal flips, normalization
with mean 0.2860 and std 0.3530. The last partial batch of an epoch is dropped.

Data, read once into memory before the clock starts:
  --data DIR  the folder `crescendo prepare fashion-mnist` writes: train.csv and test.csv with the
              columns class_name,image_path,target, image_path relative to DIR
  --idx DIR   the raw IDX files (default /usr/share/datasets/fashion-mnist, Debian's
              dataset-fashion-mnist package)
At another --resolution the images are resized once, bilinear with antialiasing.

Prints one line per epoch and, at the end, one JSON object (seconds per epoch, test accuracy).
  /usr/bin/python3 bench/fashion_mnist_pytorch.py --epochs 1
"""
import argparse
import csv
import gzip
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch.optim import lr_scheduler

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_common import SimpleCNN, decay_groups, environment, set_threads  # noqa: E402

MEAN, STD = 0.2860, 0.3530
IDX_DIR = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    """An IDX file (optionally gzipped) as a numpy array: magic 0x0000 0x08 ndim, big-endian dims."""
    with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
        raw = f.read()
    if raw[:3] != b"\0\0\x08":
        raise SystemExit(f"{path}: not an IDX file of unsigned bytes")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_idx(folder, split):
    prefix = "train" if split == "train" else "t10k"

    def find(kind):
        for name in (f"{prefix}-{kind}-ubyte.gz", f"{prefix}-{kind}-ubyte"):
            if os.path.exists(os.path.join(folder, name)):
                return os.path.join(folder, name)
        raise SystemExit(f"{folder}: no {prefix}-{kind}-ubyte[.gz] (apt-get install dataset-fashion-mnist)")

    return read_idx(find("images-idx3")), read_idx(find("labels-idx1"))


def load_csv(folder, split):
    from PIL import Image

    path = os.path.join(folder, f"{split}.csv")
    images, labels = [], []
    with open(path, newline="") as f:
        for row, record in enumerate(csv.DictReader(f), start=2):
            try:
                with Image.open(os.path.join(folder, record["image_path"])) as image:
                    images.append(np.asarray(image.convert("L")))
                labels.append(int(record["target"]))
            except (KeyError, ValueError, OSError) as e:
                raise SystemExit(f"{path} (row {row}): {e}")
    return np.stack(images), np.array(labels, dtype=np.int64)


def to_tensor(images, resolution):
    """uint8 (N, H, W) -> normalized float (N, 1, R, R)."""
    x = torch.from_numpy(images.copy()).float().div_(255).unsqueeze(1)
    if x.shape[-1] != resolution or x.shape[-2] != resolution:
        x = F.interpolate(x, size=(resolution, resolution), mode="bilinear", align_corners=False,
                          antialias=True)
    return x.sub_(MEAN).div_(STD).contiguous()


def make_schedule(args, opt, total_steps):
    if args.lr_schedule == "onecycle":
        return lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=total_steps, pct_start=args.pct_start,
                                       anneal_strategy="cos", div_factor=args.div_factor,
                                       final_div_factor=args.final_div_factor, three_phase=False,
                                       cycle_momentum=args.cycle_momentum)
    if args.lr_schedule == "cosine":
        return lr_scheduler.CosineAnnealingLR(opt, T_max=total_steps)
    if args.lr_schedule == "step":  # crescendo's default: two decays by 10 over the run
        return lr_scheduler.StepLR(opt, step_size=max(1, (total_steps + 2) // 3), gamma=0.1)
    return lr_scheduler.LambdaLR(opt, lambda step: 1.0)


def evaluate(model, x, y, args, memory_format):
    model.eval()
    loss, correct = 0.0, 0
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.mode == "bf16"):
        for i in range(0, x.shape[0], args.eval_batch_size):
            logits = model(x[i:i + args.eval_batch_size].contiguous(memory_format=memory_format)).float()
            target = y[i:i + args.eval_batch_size]
            loss += F.cross_entropy(logits, target, reduction="sum").item()
            correct += (logits.argmax(1) == target).sum().item()
    model.train()
    return loss / x.shape[0], correct / x.shape[0]


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    source = ap.add_mutually_exclusive_group()
    source.add_argument("--data", help="folder with train.csv and test.csv (crescendo prepare)")
    source.add_argument("--idx", help=f"folder with the IDX files (default {IDX_DIR})")
    ap.add_argument("--epochs", type=int, default=9)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.1, help="the peak lr for onecycle")
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--nesterov", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--weight-decay", type=float, default=5e-4, help="on conv and linear weights only")
    ap.add_argument("--lr-schedule", choices=("onecycle", "cosine", "step", "constant"), default="onecycle")
    ap.add_argument("--pct-start", type=float, default=0.25)
    ap.add_argument("--div-factor", type=float, default=10.0)
    ap.add_argument("--final-div-factor", type=float, default=100.0)
    ap.add_argument("--cycle-momentum", action="store_true", help="torch OneCycleLR's default (0.85-0.95)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--resolution", type=int, default=28)
    ap.add_argument("--dropout", type=float, default=0.3)
    ap.add_argument("--label-smoothing", type=float, default=0.0)
    ap.add_argument("--flip", action=argparse.BooleanOptionalAction, default=True,
                    help="random horizontal flips")
    ap.add_argument("--mode", choices=("fp32", "fp32_cl", "bf16"), default="fp32")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--eval-batch-size", type=int, default=1000)
    ap.add_argument("--json-out", help="also write the final JSON object to this file")
    args = ap.parse_args()
    if args.epochs < 1 or args.batch_size < 1 or args.resolution < 8:
        ap.error("--epochs and --batch-size must be >= 1, --resolution >= 8")
    return args


def main():
    args = parse_args()
    threads = set_threads(args.threads)
    torch.manual_seed(args.seed)
    print(f"# {environment()} ({threads})", flush=True)
    began = time.perf_counter()
    if args.data:
        train_images, train_labels = load_csv(args.data, "train")
        test_images, test_labels = load_csv(args.data, "test")
    else:
        train_images, train_labels = load_idx(args.idx or IDX_DIR, "train")
        test_images, test_labels = load_idx(args.idx or IDX_DIR, "test")
    x_train, x_test = to_tensor(train_images, args.resolution), to_tensor(test_images, args.resolution)
    y_train = torch.from_numpy(train_labels.astype(np.int64))
    y_test = torch.from_numpy(test_labels.astype(np.int64))
    print(f"# data: train {tuple(x_train.shape)}, test {tuple(x_test.shape)}, "
          f"loaded in {time.perf_counter() - began:.1f} s", flush=True)

    memory_format = torch.channels_last if args.mode == "fp32_cl" else torch.contiguous_format
    model = SimpleCNN(num_classes=int(y_train.max()) + 1, in_channels=1, dropout=args.dropout)
    model = model.to(memory_format=memory_format).train()
    opt = torch.optim.SGD(decay_groups(model, args.weight_decay), lr=args.lr, momentum=args.momentum,
                          nesterov=args.nesterov)
    steps_per_epoch = x_train.shape[0] // args.batch_size
    sched = make_schedule(args, opt, args.epochs * steps_per_epoch)
    order = torch.Generator().manual_seed(args.seed)

    history, clock = [], time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        start, lr = time.perf_counter(), opt.param_groups[0]["lr"]
        permutation = torch.randperm(x_train.shape[0], generator=order)
        loss_sum, correct = 0.0, 0
        for step in range(steps_per_epoch):
            index = permutation[step * args.batch_size:(step + 1) * args.batch_size]
            xb, yb = x_train[index], y_train[index]
            if args.flip:
                flip = torch.rand(xb.shape[0], generator=order) < 0.5
                xb = torch.where(flip[:, None, None, None], xb.flip(3), xb)
            xb = xb.contiguous(memory_format=memory_format)
            opt.zero_grad(set_to_none=True)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.mode == "bf16"):
                logits = model(xb)
                loss = F.cross_entropy(logits, yb, label_smoothing=args.label_smoothing)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.item()
            correct += (logits.argmax(1) == yb).sum().item()
        train_seconds = time.perf_counter() - start
        test_loss, test_acc = evaluate(model, x_test, y_test, args, memory_format)
        seen = steps_per_epoch * args.batch_size
        record = {"epoch": epoch, "resolution": args.resolution, "lr": lr,
                  "train_loss": loss_sum / steps_per_epoch, "train_acc": correct / seen,
                  "test_loss": test_loss, "test_acc": test_acc, "images_per_sec": seen / train_seconds,
                  "train_seconds": train_seconds, "epoch_seconds": time.perf_counter() - start,
                  "elapsed_seconds": time.perf_counter() - clock}
        history.append(record)
        print(f"epoch {epoch}/{args.epochs}  res {args.resolution}  lr {lr:.4g}  "
              f"train loss {record['train_loss']:.4f} acc {100 * record['train_acc']:.2f}%  "
              f"test loss {test_loss:.4f} acc {100 * test_acc:.2f}%  "
              f"{record['images_per_sec']:.0f} img/s  {record['epoch_seconds']:.1f} s", flush=True)

    result = {"benchmark": "fashion_mnist_pytorch", **environment(), "threads": torch.get_num_threads(),
              "recipe": {k: v for k, v in vars(args).items() if k != "json_out"},
              "seconds_per_epoch": [round(r["epoch_seconds"], 2) for r in history],
              "train_seconds_per_epoch": [round(r["train_seconds"], 2) for r in history],
              "total_seconds": round(time.perf_counter() - clock, 2),
              "test_acc": history[-1]["test_acc"], "best_test_acc": max(r["test_acc"] for r in history),
              "history": history}
    print(json.dumps(result), flush=True)
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
