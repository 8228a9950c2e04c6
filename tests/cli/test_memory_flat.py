"""Resident memory stays flat across 20 alternating stages of progressive resizing.

resnet18 trains on the tiny dataset of test_train_eval.py with the schedule 32:1,96:1 repeated ten
times (batch 16), so the activation plan, the oneDNN primitives and the loader's buffers are rebuilt
at every switch. The process's resident set size (VmRSS) is sampled every few milliseconds and the
peak of each epoch recorded. The first cycle (epochs 1-2) allocates what the two sizes need and the
second (epochs 3-4) settles the allocator; from then on, epochs 5..20 must peak within 5% of the
second cycle's peak. A leak of one activation plan per switch (~25 MB at 96 px, 16 switches) fails
it. Measured: 416 MiB at every epoch from 3 to 20 (+0.0%).

glibc's malloc moves its mmap threshold up each time a large mmapped block is freed, after which
blocks of that size come from a thread's heap and stay resident when freed; which loader thread
gets which block depends on timing. Run beside other tests, that once stepped RSS up by 27 MB at
epoch 11 and kept it there, a one-time +6.5% that is the allocator's and not a growth per
switch. The run therefore pins the threshold (MALLOC_MMAP_THRESHOLD_), so that RSS follows what
crescendo holds (without the pin: 532-539 MiB, and that step now and then).
Exits non-zero on failure."""
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_testing import CRESCENDO, check, finish, metrics  # noqa: E402
from test_train_eval import make_dataset  # noqa: E402


def resident_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def main():
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "data")
        make_dataset(data)
        out = os.path.join(tmp, "run")
        schedule = ",".join(["32:1,96:1"] * 10)
        proc = subprocess.Popen([CRESCENDO, "train", "--data", data, "--val-csv", "val.csv",
                                 "--model", "resnet18", "--schedule", schedule, "--batch-size",
                                 "16", "--workers", "2", "--out", out], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True,
                                env=dict(os.environ, MALLOC_MMAP_THRESHOLD_="131072"))
        log = os.path.join(out, "metrics.jsonl")
        peaks = {}  # epoch in progress (1-based) -> peak VmRSS in KiB
        deadline = time.time() + 600
        while proc.poll() is None and time.time() < deadline:
            rss = resident_kib(proc.pid)
            done = sum(1 for _ in open(log)) if os.path.exists(log) else 0
            if rss is not None:
                peaks[done + 1] = max(peaks.get(done + 1, 0), rss)
            time.sleep(0.003)
        _, err = proc.communicate(timeout=60)
        check(proc.returncode == 0, f"training ran: {err[-1000:]}")
        check(len(metrics(out)) == 20, "20 epochs logged")
        settled = max(peaks.get(3, 0), peaks.get(4, 0))
        check(settled > 0, f"memory sampled: {peaks}")
        later = {e: kib for e, kib in peaks.items() if 5 <= e <= 20}
        check(len(later) >= 12, f"most later epochs sampled: {sorted(later)}")
        worst = max(later.values())
        print(f"peak VmRSS: second cycle {settled / 1024:.1f} MiB, epochs 5-20 at most "
              f"{worst / 1024:.1f} MiB ({100 * (worst / settled - 1):+.1f}%)")
        check(worst <= 1.05 * settled, f"memory grew past 5%: {peaks}")
    finish()


if __name__ == "__main__":
    main()
