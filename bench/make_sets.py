#!/usr/bin/python3
"""Builds three image classification sets that were not designed for progressive resizing, for
comparing it with fixed full-size training at equal wall time: line sketches, photo crops, Fashion-MNIST.

    bench/make_sets.py sketches OUT [--train 2000 --val 600]
    bench/make_sets.py photos OUT [--train 2000 --val 600] [--debs DIR]
    bench/make_sets.py fashion OUT --source data/fashion-mnist [--train 3000 --val 1000]

sketches: 256x256 JPEGs (quality 90) of 30 classes of procedurally drawn line sketches. A class is
a template of a few strokes (polylines, cubic curves, circles, arcs); classes come in families of
three that share two strokes, so telling them apart takes their own thin strokes, which 64 px
blurs away. Each image draws its template rotated (±15°), scaled (0.8-1.1), shifted and wobbled by
a few px, with 2-3 px dark ink on a grainy paper tone, plus one or two stray strokes.

photos: crops of the photographs of bench/make_jpegs.py (same packages, unpacked into OUT/.debs or
--debs), 15-45% of the side of the largest crop of the aspect, at make_jpegs' sizes, flipped half
the time; the class is the photograph, so small crops leave texture and detail to go by.

fashion: a class-balanced seeded selection of Fashion-MNIST's train.csv and test.csv from --source,
upscaled with PIL's bicubic filter to 112x112 gray PNGs, with the source's class names and targets.

Each writes OUT/train/*, OUT/val/*, then OUT/val.csv and OUT/train.csv (class_name,image_path,
target; paths relative to OUT). train.csv comes last, so a folder that has it is complete and is
left alone. Classes are balanced to within one image and shuffled across the file names. The
choices are seeded: the same command gives the same bytes.
"""
import argparse
import csv
import itertools
import os
import random
import sys

import numpy as np
from PIL import Image, ImageDraw

from make_jpegs import SIZES, cut, load, photographs

SEED = 2026
SPLITS = ("train", "val")

SKETCH_CLASSES = 30
FAMILY = 3  # classes per family, sharing FAMILY_STROKES strokes
FAMILY_STROKES = 2
SIDE = 256
SUPERSAMPLE = 2  # drawn at twice the side and reduced, so that 2-3 px strokes are antialiased
WOBBLE_PX = 2.5

PHOTO_SIDES = (0.15, 0.45)

FASHION_SIDE = 112


def balanced(count, classes, rng):
    """Targets for `count` images, each class within one image of the others, in random order."""
    targets = [i % classes for i in range(count)]
    rng.shuffle(targets)
    return targets


def stroke(rng):
    """One stroke as a dense polyline, in units of half the image side around its centre. Every
    point lies within 0.71 of the centre, so rotation, scaling and shifts keep it in the frame."""
    kind = rng.integers(4)
    if kind == 0:
        corners = rng.uniform(-0.5, 0.5, (rng.integers(2, 5), 2))
        t = np.linspace(0, 1, 16, endpoint=False)[:, None]
        return np.concatenate([a + t * (b - a) for a, b in zip(corners, corners[1:])]
                              + [corners[-1:]])
    if kind == 1:
        c = rng.uniform(-0.5, 0.5, (4, 2))
        t = np.linspace(0, 1, 48)[:, None]
        return ((1 - t) ** 3 * c[0] + 3 * (1 - t) ** 2 * t * c[1] + 3 * (1 - t) * t ** 2 * c[2]
                + t ** 3 * c[3])
    centre = rng.uniform(-0.25, 0.25, 2)
    radius = rng.uniform(0.1, 0.35)
    extent = 2 * np.pi if kind == 2 else rng.uniform(0.5, 1.5) * np.pi
    angles = rng.uniform(0, 2 * np.pi) + np.linspace(0, extent, 48)
    return centre + radius * np.stack([np.cos(angles), np.sin(angles)], 1)


def template(k):
    shared = np.random.default_rng((SEED, 1, k // FAMILY))
    own = np.random.default_rng((SEED, 2, k))
    return ([stroke(shared) for _ in range(FAMILY_STROKES)]
            + [stroke(own) for _ in range(own.integers(1, 3))])


def wobble(points, rng):
    """Displaces a stroke by noise that varies smoothly along it, as a hand does, not per pixel."""
    anchors = rng.normal(0, WOBBLE_PX, (4, 2))
    along = np.linspace(0, 3, len(points))
    return points + np.stack([np.interp(along, np.arange(4), anchors[:, j]) for j in range(2)], 1)


def sketch(strokes, rng):
    angle = np.radians(rng.uniform(-15, 15))
    rotation = rng.uniform(0.8, 1.1) * SIDE / 2 * np.array([[np.cos(angle), -np.sin(angle)],
                                                            [np.sin(angle), np.cos(angle)]])
    centre = SIDE / 2 + rng.uniform(-16, 16, 2)
    lines = [wobble(s @ rotation.T + centre, rng) for s in strokes]
    lines += [wobble(stroke(rng) * SIDE / 2 + SIDE / 2, rng) for _ in range(rng.integers(1, 3))]
    tone = rng.uniform(222, 248)
    paper = tuple(int(tone - d) for d in (0, rng.uniform(0, 8), rng.uniform(4, 20)))
    shade = rng.uniform(15, 70)
    ink = tuple(int(shade + d) for d in (0, 0, rng.uniform(0, 35)))
    width = int(rng.integers(2 * SUPERSAMPLE, 3 * SUPERSAMPLE + 1))
    canvas = Image.new("RGB", (SIDE * SUPERSAMPLE,) * 2, paper)
    draw = ImageDraw.Draw(canvas)
    for line in lines:
        draw.line([tuple(p) for p in line * SUPERSAMPLE], fill=ink, width=width, joint="curve")
    pixels = np.asarray(canvas.reduce(SUPERSAMPLE), np.float32)
    pixels += rng.normal(0, 4, (SIDE, SIDE, 1))
    return Image.fromarray(np.clip(pixels + 0.5, 0, 255).astype(np.uint8))


def sketches(args):
    templates = [template(k) for k in range(SKETCH_CLASSES)]
    names = [f"sketch-{k // FAMILY:02d}{'abcdefghij'[k % FAMILY]}" for k in range(SKETCH_CLASSES)]
    for s, (split, count) in enumerate(zip(SPLITS, (args.train, args.val))):
        order = balanced(count, SKETCH_CLASSES, np.random.default_rng((SEED, 3, s)))
        for i, target in enumerate(order):
            rng = np.random.default_rng((SEED, 4, s, i))
            yield split, names[target], target, sketch(templates[target], rng), ".jpg"


def photos(args):
    sources = photographs(args.debs or os.path.join(args.out, ".debs"))
    images = [load(p) for p in sources]
    names = [os.path.splitext(os.path.basename(p))[0] for p in sources]
    for split, count in zip(SPLITS, (args.train, args.val)):
        rng = random.Random(f"photos/{split}/{SEED}")
        for target in balanced(count, len(images), rng):
            picture = cut(images[target], rng.choice(SIZES), rng, PHOTO_SIDES)
            if rng.random() < 0.5:
                picture = picture.transpose(Image.FLIP_LEFT_RIGHT)
            yield split, names[target], target, picture, ".jpg"


def fashion(args):
    for split, source, count in zip(SPLITS, ("train.csv", "test.csv"), (args.train, args.val)):
        with open(os.path.join(args.source, source), newline="") as f:
            rows = list(csv.DictReader(f))
        rng = random.Random(f"fashion/{split}/{SEED}")
        groups = {}
        for row in rows:
            groups.setdefault(int(row["target"]), []).append(row)
        for target in sorted(groups):
            rng.shuffle(groups[target])
        # Dealt round the classes, so that any prefix of the selection is balanced.
        dealt = [row for deal in itertools.zip_longest(*(groups[t] for t in sorted(groups)))
                 for row in deal if row is not None]
        picked = dealt[:count]
        rng.shuffle(picked)
        for row in picked:
            image = Image.open(os.path.join(args.source, row["image_path"])).convert("L")
            image = image.resize((FASHION_SIDE, FASHION_SIDE), Image.BICUBIC)
            yield split, row["class_name"], int(row["target"]), image, ".png"


def write(out, samples):
    """Saves the images in the order given, numbering each split's files, then the CSVs."""
    rows = {split: [] for split in SPLITS}
    total = 0
    for split, name, target, image, extension in samples:
        path = f"{split}/{len(rows[split]):05d}{extension}"
        os.makedirs(os.path.join(out, split), exist_ok=True)
        if extension == ".jpg":
            image.save(os.path.join(out, path), quality=90)
        else:
            image.save(os.path.join(out, path))
        total += os.path.getsize(os.path.join(out, path))
        rows[split].append((name, path, target))
    for split in reversed(SPLITS):
        part = os.path.join(out, split + ".csv.part")
        with open(part, "w", newline="") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(["class_name", "image_path", "target"])
            writer.writerows(rows[split])
        os.replace(part, os.path.join(out, split + ".csv"))
    count = sum(len(r) for r in rows.values())
    classes = len({target for r in rows.values() for _, _, target in r})
    print(f"{out}: {len(rows['train'])} train + {len(rows['val'])} val images, {classes} classes, "
          f"{total / count / 1024:.1f} KiB on average")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    kinds = parser.add_subparsers(dest="kind", required=True)
    for kind, train, val in (("sketches", 2000, 600), ("photos", 2000, 600),
                             ("fashion", 3000, 1000)):
        sub = kinds.add_parser(kind)
        sub.add_argument("out", help="the folder to write")
        sub.add_argument("--train", type=int, default=train)
        sub.add_argument("--val", type=int, default=val)
        if kind == "photos":
            sub.add_argument("--debs", help="where the packages are unpacked (OUT/.debs)")
        if kind == "fashion":
            sub.add_argument("--source", required=True,
                             help="the prepared Fashion-MNIST folder, with train.csv and test.csv")
    args = parser.parse_args()
    if os.path.exists(os.path.join(args.out, "train.csv")):
        print(f"{args.out}: train.csv exists, nothing to do")
        return 0
    os.makedirs(args.out, exist_ok=True)
    write(args.out, {"sketches": sketches, "photos": photos, "fashion": fashion}[args.kind](args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
