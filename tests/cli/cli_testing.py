"""What the command-line tests share: running crescendo, checks that stop at the first failure
with the plain "N passed, M failed" line, reading metrics.jsonl, and killing a run mid-way."""
import json
import os
import subprocess
import sys
import time

CRESCENDO = os.path.join(os.environ.get("CR_BUILD_DIR", "build"), "crescendo")
TIMING = {"images_per_sec", "epoch_seconds", "elapsed_seconds", "data_wait_percent"}
checks = 0


def check(cond, what):
    global checks
    checks += 1
    if not cond:
        print(f"FAIL: {what}")
        print(f"{checks - 1} passed, 1 failed")
        sys.exit(1)


def finish():
    print(f"{checks} passed, 0 failed")


def run(*args, expect=0):
    """Runs crescendo; its exit status must be `expect`."""
    p = subprocess.run([CRESCENDO, *args], capture_output=True, text=True, timeout=600)
    check(p.returncode == expect, f"crescendo {' '.join(args)}: exit {p.returncode}, expected "
          f"{expect}\nstdout: {p.stdout[-2000:]}\nstderr: {p.stderr[-2000:]}")
    return p


def metrics(out):
    with open(os.path.join(out, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def without_timings(rows):
    return [{k: v for k, v in r.items() if k not in TIMING} for r in rows]


def wait_for_epochs(proc, out, epochs):
    """Waits (two minutes at most) until out/metrics.jsonl holds `epochs` epochs or proc ends."""
    log = os.path.join(out, "metrics.jsonl")
    deadline = time.time() + 120
    while proc.poll() is None and time.time() < deadline:
        if os.path.exists(log) and sum(1 for _ in open(log)) >= epochs:
            return
        time.sleep(0.002)


def kill_after_epochs(args, out, epochs):
    """Starts `crescendo args` and kills it once `epochs` epochs are in out/metrics.jsonl."""
    proc = subprocess.Popen([CRESCENDO, *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    wait_for_epochs(proc, out, epochs)
    proc.kill()
    proc.wait()


def noise_images(root, count, height, width, ext, seed):
    """count images of random pixels, height x width, saved as root/<i>.<ext> and listed in
    root/train.csv with the classes c0 and c1 taking turns."""
    import numpy as np
    from PIL import Image
    os.makedirs(root)
    rng = np.random.default_rng(seed)
    with open(os.path.join(root, "train.csv"), "w") as f:
        f.write("class_name,image_path,target\n")
        for i in range(count):
            pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(os.path.join(root, f"{i}.{ext}"))
            f.write(f"c{i % 2},{i}.{ext},{i % 2}\n")
