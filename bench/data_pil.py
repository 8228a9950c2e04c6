#!/usr/bin/python3
"""The PIL + torchvision counterpart of `crescendo bench data`: images per second through
Image.open(path).convert("RGB"), Resize((r, r)), RandomHorizontalFlip, ToTensor and Normalize,
batched by a torch DataLoader, with nothing consuming the batches.

One worker is the DataLoader's num_workers=0: everything in this process, on one thread. N > 1
workers are num_workers=N (persistent processes, so start-up is paid in the untimed pass). Each
configuration makes one untimed pass over the set, then --passes timed ones, and reports the
median, as `crescendo bench data` does.

    bench/data_pil.py --data DIR [--csv FILE] [--resolution 64,128,256,512] [--workers 1,2] [--json]
"""
import argparse
import csv
import json
import os
import statistics
import sys
import time

import PIL
import torch
import torchvision
from PIL import Image
from torchvision import transforms

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class Images(torch.utils.data.Dataset):
    """The rows of a crescendo CSV (image_path, optional target), paths relative to root."""

    def __init__(self, root, csv_path, transform):
        with open(csv_path, newline="") as f:
            rows = list(csv.DictReader(f))
        self.paths = [os.path.join(root, r["image_path"]) for r in rows]
        self.labels = [int(r.get("target") or 0) for r in rows]
        self.transform = transform

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        with Image.open(self.paths[i]) as image:
            return self.transform(image.convert("RGB")), self.labels[i]


def measure(dataset, workers, batch_size, passes):
    """Median seconds of one pass, and images per pass."""
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, shuffle=True,
        num_workers=0 if workers == 1 else workers,
        persistent_workers=workers > 1)
    times = []
    for p in range(passes + 1):
        start = time.perf_counter()
        count = 0
        for images, _ in loader:
            count += images.shape[0]
        if p > 0:
            times.append(time.perf_counter() - start)
    return statistics.median(times), min(times), count


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="the image root")
    parser.add_argument("--csv", default="train.csv", help="relative to --data, or a path")
    parser.add_argument("--resolution", default="64,128,256,512")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    # one compute thread, as in a DataLoader worker: the comparison is per worker
    torch.set_num_threads(1)
    csv_path = os.path.join(args.data, args.csv)
    if not os.path.exists(csv_path):
        csv_path = args.csv
    for workers in [int(w) for w in args.workers.split(",")]:
        for side in [int(r) for r in args.resolution.split(",")]:
            transform = transforms.Compose([
                transforms.Resize((side, side)),
                transforms.RandomHorizontalFlip(),
                transforms.ToTensor(),
                transforms.Normalize(MEAN, STD),
            ])
            dataset = Images(args.data, csv_path, transform)
            median, best, count = measure(dataset, workers, args.batch_size, args.passes)
            rate = count / median
            if args.json:
                print(json.dumps({"framework": "pil", "pil": PIL.__version__,
                                  "torchvision": torchvision.__version__, "resolution": side,
                                  "workers": workers, "batch_size": args.batch_size,
                                  "images": count, "passes": args.passes,
                                  "median_s": round(median, 6), "best_s": round(best, 6),
                                  "images_per_sec": round(rate, 2)}))
            else:
                print(f"{side:4d}px  workers {workers:2d}  {count} images  median {median:.3f} s  "
                      f"best {best:.3f} s  {rate:.1f} img/s")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
