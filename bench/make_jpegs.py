#!/usr/bin/python3
"""Builds a folder of ImageNet-like JPEGs (about 500x375, quality 90, 4:2:0) for the data-loading
benchmarks, cut from real photographs that Debian ships, plus train.csv listing them.

The photographs come from two packages fetched with `apt-get download` and unpacked with
`dpkg-deb -x` into OUT/.debs (nothing is installed): the wallpapers of lomiri-wallpapers-16.04
and the colour photographs among scikit-image's sample data (python3-skimage). Each output image
is a random crop (40-100% of the side of the largest crop of its aspect) of one photograph,
resized with PIL's Lanczos filter to 500x375 (70%), 375x500 (20%) or 500x333 (10%) and saved
as PIL saves by default. The choices are seeded: the same command gives the same files.

    bench/make_jpegs.py OUT [--count 300]

The class of an image is the photograph it was cut from, so train.csv is a valid training set.
"""
import argparse
import csv
import glob
import os
import random
import subprocess
import sys

from PIL import Image

PACKAGES = {
    "lomiri-wallpapers-16.04": ("usr/share/backgrounds", None),
    "python3-skimage": ("usr/lib/python3/dist-packages/skimage/data",
                        ["astronaut.png", "chelsea.png", "coffee.png", "motorcycle_left.png",
                         "rocket.jpg", "hubble_deep_field.jpg"]),
}
SIZES = [(500, 375)] * 7 + [(375, 500)] * 2 + [(500, 333)]
LONGEST_SOURCE = 2048  # photographs are reduced to this first, so crops are quick to resize


def unpack(package, debs):
    """The folder the package's files are unpacked to, downloading it once."""
    target = os.path.join(debs, package)
    if os.path.isdir(target):
        return target
    os.makedirs(debs, exist_ok=True)
    found = glob.glob(os.path.join(debs, package + "_*.deb"))
    if not found:
        subprocess.run(["apt-get", "download", package], cwd=debs, check=True)
        found = glob.glob(os.path.join(debs, package + "_*.deb"))
    subprocess.run(["dpkg-deb", "-x", sorted(found)[-1], target + ".part"], check=True)
    os.rename(target + ".part", target)
    return target


def photographs(debs):
    paths = []
    for package, (folder, names) in PACKAGES.items():
        root = os.path.join(unpack(package, debs), folder)
        if names is None:
            paths += sorted(glob.glob(os.path.join(root, "*.jpg")))
        else:
            paths += [os.path.join(root, n) for n in names]
    return paths


def load(path):
    image = Image.open(path)
    longest = max(image.size)
    if image.format == "JPEG" and longest > 2 * LONGEST_SOURCE:
        image.draft("RGB", (image.width // 2, image.height // 2))
    image = image.convert("RGB")
    if max(image.size) > LONGEST_SOURCE:
        scale = LONGEST_SOURCE / max(image.size)
        image = image.resize((round(image.width * scale), round(image.height * scale)),
                             Image.LANCZOS)
    return image


def cut(image, size, rng, sides=(0.4, 1.0)):
    """A random crop of `image` with the aspect of `size`, resized to `size`; its side is a
    fraction in `sides` of the side of the largest such crop."""
    aspect = size[0] / size[1]
    width, height = image.size
    if width / height > aspect:
        crop_w, crop_h = height * aspect, height
    else:
        crop_w, crop_h = width, width / aspect
    side = rng.uniform(*sides)
    crop_w, crop_h = crop_w * side, crop_h * side
    x = rng.uniform(0, width - crop_w)
    y = rng.uniform(0, height - crop_h)
    return image.resize(size, Image.LANCZOS, box=(x, y, x + crop_w, y + crop_h))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", help="the folder to write (images, train.csv, .debs)")
    parser.add_argument("--count", type=int, default=300)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    sources = photographs(os.path.join(args.out, ".debs"))
    images = [load(p) for p in sources]
    rng = random.Random(2026)
    rows = []
    total = 0
    for i in range(args.count):
        k = i % len(images)
        picture = cut(images[k], rng.choice(SIZES), rng)
        if rng.random() < 0.5:
            picture = picture.transpose(Image.FLIP_LEFT_RIGHT)
        name = f"{i:04d}.jpg"
        picture.save(os.path.join(args.out, name), quality=90)
        total += os.path.getsize(os.path.join(args.out, name))
        label = os.path.splitext(os.path.basename(sources[k]))[0]
        rows.append((label, name, k))
    with open(os.path.join(args.out, "train.csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["class_name", "image_path", "target"])
        writer.writerows(rows)
    print(f"{args.out}: {args.count} JPEGs from {len(sources)} photographs, "
          f"{total / args.count / 1024:.0f} KiB on average")


if __name__ == "__main__":
    sys.exit(main())
