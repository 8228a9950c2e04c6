#!/usr/bin/python3
"""Parity of the image path with PIL 9 and torchvision, on images this script generates.

Runs the unit_test_transform program of the build in job mode (CR_TRANSFORM_JOBS) and compares:
  decode     PNG (L, 1-bit, P with transparency, LA, RGBA, RGB) and JPEG (4:2:0, 4:2:2, 4:4:4,
             progressive, gray, CMYK, 1x1) against Image.open(p).convert("RGB" / "L"), and the
             DCT-scaled decode against Image.draft("RGB", (r, r)); all must be equal.
  resize     cr_resize_u8 against Image.resize((w, h), BILINEAR), downscale and upscale, integer
             and non-integer factors, incl. 500x375 -> 64, 128, 256, 512.
  transform  cr_transform_apply against torchvision resized_crop / resize, hflip, to_tensor,
             normalize (permuted to H, W, C).
Both are the same arithmetic, so equality is expected. The stated tolerance leaves room for a
PIL release that rounds one coefficient differently: a resize fails if any pixel is off by more
than 1 or more than 0.1% of them differ; a transform fails on the same counts in 8-bit steps
(|diff| <= 1 / (255 std) + 1e-6). On failure the worst element is printed and the exit status is 1.
"""
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torchvision.transforms.functional as TF
from PIL import Image
from torchvision.transforms import InterpolationMode

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
failures = []
inexact = []  # comparisons within tolerance but not equal


def photo(w, h, seed):
    """Smooth colour fields, hard edges and noise: content where resampling errors show."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (max(h // 16, 2), max(w // 16, 2), 3), dtype=np.uint8)
    img = np.asarray(Image.fromarray(coarse).resize((w, h), Image.BICUBIC), dtype=np.float64)
    img[h // 3: h // 2, w // 4: w // 2] = (250, 10, 128)  # a hard-edged block
    img += rng.normal(0, 12, img.shape)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def read_result(path, dtype):
    with open(path, "rb") as f:
        w, h, c = struct.unpack("<3i", f.read(12))
        return np.frombuffer(f.read(), dtype=dtype).reshape(h, w, c)


def compare(what, got, want, step):
    """Fails `what` if any element differs by more than one step or over 0.1% differ at all."""
    if got.shape != want.shape:
        failures.append(f"{what}: shape {got.shape}, expected {want.shape}")
        return
    diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
    worst = np.unravel_index(np.argmax(diff), diff.shape)
    off = np.count_nonzero(diff > step * 1e-3)
    message = (f"{what}: {off} of {diff.size} differ, worst at (y, x, c) = {worst}: "
               f"crescendo {got[worst]}, reference {want[worst]}")
    if diff[worst] > step + 1e-6 or off > 0.001 * diff.size:
        failures.append(message)
    elif off:
        inexact.append(message)


def main():
    build = os.environ.get("CR_BUILD_DIR", "build")
    program = os.path.join(build, "unit_test_transform")
    if not os.access(program, os.X_OK):
        sys.exit(f"test_resize_pil: {program} is not built")
    tmp = tempfile.mkdtemp(prefix="crescendo-pil-")
    jobs, checks = [], []

    def job(line, check):
        jobs.append(line)
        checks.append(check)

    # --- decoding ---
    base = photo(160, 120, 1)
    rgba = np.dstack([np.asarray(base), np.arange(160 * 120, dtype=np.uint8).reshape(120, 160)])
    pal = base.quantize(64)
    pal.info["transparency"] = 3
    sources = {
        "rgb.png": (base, {}), "gray.png": (base.convert("L"), {}),
        "bits.png": (base.convert("1"), {}), "rgba.png": (Image.fromarray(rgba, "RGBA"), {}),
        "la.png": (Image.fromarray(rgba[:, :, 2:], "LA"), {}),
        "palette.png": (pal, {"transparency": 3}),
        "q90.jpg": (base, {"quality": 90}),
        "q75-444.jpg": (base, {"quality": 75, "subsampling": 0}),
        "q90-422.jpg": (base, {"quality": 90, "subsampling": 1}),
        "progressive.jpg": (base, {"quality": 90, "progressive": True}),
        "gray.jpg": (base.convert("L"), {"quality": 90}),
        "cmyk.jpg": (base.convert("CMYK"), {"quality": 95}),
        "one.jpg": (photo(1, 1, 2), {}), "one.png": (photo(1, 1, 3), {}),
    }
    for name, (img, options) in sources.items():
        path = os.path.join(tmp, name)
        img.save(path, **options)
        for mode, channels in (("RGB", 3), ("L", 1)):
            out = f"{path}.{mode}.out"
            want = np.asarray(Image.open(path).convert(mode))
            want = want.reshape(img.height, img.width, channels)
            job(f"decode {path} {channels} 0 0 {out}",
                lambda out=out, want=want, name=name, mode=mode:
                    compare(f"decode {name} as {mode}", read_result(out, np.uint8), want, 0))

    # DCT-scaled decoding is PIL's draft()
    big = os.path.join(tmp, "big.jpg")
    photo(500, 375, 4).save(big, quality=90)
    for rw, rh in ((64, 64), (100, 100), (128, 128), (125, 94), (125, 93), (63, 47), (256, 256)):
        out = f"{big}.draft{rw}x{rh}.out"
        im = Image.open(big)
        im.draft("RGB", (rw, rh))
        want = np.asarray(im.convert("RGB"))
        job(f"decode {big} 3 {rw} {rh} {out}",
            lambda out=out, want=want, what=f"decode big.jpg at draft size {rw}x{rh}":
                compare(what, read_result(out, np.uint8), want, 0))

    # --- resizing (PNG sources, so the decode is exact and only the resize is compared) ---
    cases = {
        (500, 375): [(64, 64), (128, 128), (256, 256), (512, 512), (300, 200), (333, 77),
                     (123, 457), (499, 374), (1000, 10), (640, 480), (1, 1)],
        (375, 500): [(64, 64), (224, 224), (81, 333)],
        (97, 61): [(64, 64), (13, 7), (250, 61), (97, 200)],
        (7, 5): [(64, 64), (3, 2)],
        (1, 1): [(5, 3)],
    }
    for i, ((w, h), targets) in enumerate(cases.items()):
        src = os.path.join(tmp, f"src{w}x{h}.png")
        img = photo(w, h, 10 + i)
        img.save(src)
        for mode, channels in (("RGB", 3), ("L", 1)):
            im = img.convert(mode)
            for tw, th in targets:
                out = f"{src}.{mode}.{tw}x{th}.out"
                want = np.asarray(im.resize((tw, th), Image.BILINEAR)).reshape(th, tw, channels)
                job(f"resize {src} {channels} {tw} {th} {out}",
                    lambda out=out, want=want, what=f"resize {mode} {w}x{h} -> {tw}x{th}":
                        compare(what, read_result(out, np.uint8), want, 1))

    # --- the whole transform against torchvision ---
    rng = np.random.default_rng(5)
    src = os.path.join(tmp, "src500x375.png")
    img = Image.open(src).convert("RGB")
    img.load()
    for k in range(12):
        tw, th = [(64, 64), (128, 128), (256, 256), (512, 512), (224, 160), (97, 333)][k % 6]
        flip = int(rng.integers(0, 2))
        crop = (0, 0, 0, 0)
        if k >= 4:
            cw, ch = int(rng.integers(20, 501)), int(rng.integers(20, 376))
            crop = (int(rng.integers(0, 501 - cw)), int(rng.integers(0, 376 - ch)), cw, ch)
        mean = MEAN if k % 3 else (0.5, 0.5, 0.5)
        std = STD if k % 3 else (0.5, 0.5, 0.5)
        x, y, cw, ch = crop
        ref = TF.resized_crop(img, y, x, ch, cw, [th, tw], InterpolationMode.BILINEAR) if cw \
            else TF.resize(img, [th, tw], InterpolationMode.BILINEAR)
        if flip:
            ref = TF.hflip(ref)
        ref = TF.normalize(TF.to_tensor(ref), list(mean), list(std)).permute(1, 2, 0).numpy()
        out = os.path.join(tmp, f"transform{k}.out")
        job(f"transform {src} 3 {tw} {th} {flip} {x} {y} {cw} {ch} "
            + " ".join(f"{v!r}" for v in mean + std) + f" {out}",
            lambda out=out, ref=ref, what=f"transform {k}: {tw}x{th} flip {flip} crop {crop}",
            step=1 / (255 * min(std)):
                compare(what, read_result(out, np.float32), ref, step))
    gray = Image.open(src).convert("L")
    ref = TF.normalize(TF.to_tensor(TF.hflip(TF.resize(gray, [100, 150]))), [0.3], [0.7])
    out = os.path.join(tmp, "transform-gray.out")
    job(f"transform {src} 1 150 100 1 0 0 0 0 0.3 0 0 0.7 1 1 {out}",
        lambda out=out, ref=ref.permute(1, 2, 0).numpy():
            compare("transform gray 150x100 flip", read_result(out, np.float32), ref,
                    1 / (255 * 0.7)))

    job_file = os.path.join(tmp, "jobs.txt")
    with open(job_file, "w") as f:
        f.write("\n".join(jobs) + "\n")
    run = subprocess.run([program], env=dict(os.environ, CR_TRANSFORM_JOBS=job_file),
                         capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"test_resize_pil: {program} failed:\n{run.stdout}{run.stderr}")
    for check in checks:
        check()
    for f in os.listdir(tmp):
        os.remove(os.path.join(tmp, f))
    os.rmdir(tmp)
    if failures:
        print("\n".join(failures))
        sys.exit(f"test_resize_pil: {len(failures)} of {len(checks)} comparisons failed")
    if inexact:
        print("\n".join(inexact))
    print(f"test_resize_pil: {len(checks)} comparisons with PIL {Image.__version__} and "
          f"torchvision within tolerance, {len(checks) - len(inexact)} of them equal")


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
