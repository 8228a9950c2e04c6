"""SIGTERM and SIGINT in the middle of a training epoch: the run finishes the step under way,
writes last.safetensors there (with how many batches of the epoch it had trained and what they
scored), says so, and exits with 128 + the signal (143, 130); `--resume` then trains the rest of
the epoch and the run's metrics.jsonl is the uninterrupted run's, timings aside. A stop that lands
between epochs resumes as well."""
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from cli_testing import (CRESCENDO, check, finish, metrics, run,  # noqa: E402
                         wait_for_epochs, without_timings)


def metadata(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n)).get("__metadata__", {})


def stop_mid_run(args, out, signo, delay):
    """Starts the run, sends `signo` `delay` seconds after its first epoch is logged."""
    proc = subprocess.Popen([CRESCENDO, *args, "--out", out], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    wait_for_epochs(proc, out, 1)
    time.sleep(delay)
    proc.send_signal(signo)
    stdout, stderr = proc.communicate(timeout=120)
    return proc.returncode, stdout, stderr


def test_signal(tmp, data, whole, signo, code):
    args = train_args(data)
    # an early delay lands in the second epoch's training; retried later should it miss
    for attempt, delay in enumerate((0.15, 0.3, 0.05, 0.5)):
        out = os.path.join(tmp, f"stopped-{signo}-{attempt}")
        rc, stdout, stderr = stop_mid_run(args, out, signo, delay)
        check(rc == code, f"signal {signo}: exit {rc}, expected {code}\n{stderr[-1000:]}")
        meta = metadata(os.path.join(out, "last.safetensors"))
        if "epoch_batch" in meta:
            break
    check("epoch_batch" in meta, "one of the stops landed inside an epoch")
    batch = int(meta["epoch_batch"])
    check(f"after its batch {batch}" in stdout and "--resume" in stdout,
          f"the run says where it stopped and how to continue: {stdout[-400:]}")
    check(len(metrics(out)) == int(meta["epoch"]), "no line for the unfinished epoch")
    r = run("train", "--resume", out)
    check(f"after its batch {batch}" in r.stdout, "the resumed run says where it starts")
    check(without_timings(metrics(out)) == without_timings(metrics(whole)),
          f"signal {signo} at batch {batch}: the resumed run's epochs are the uninterrupted run's")
    print(f"signal {signo}: stopped after batch {batch} of epoch {int(meta['epoch']) + 1}, exit "
          f"{rc}, resumed to the same metrics")


def train_args(data):
    return ["train", "--data", data, "--train-csv", "train.csv", "--val-csv", "val.csv",
            "--model", "simple_cnn", "--resolution", "64", "--batch-size", "4", "--epochs", "3",
            "--seed", "3", "--threads", "1"]


def main():
    tmp = tempfile.mkdtemp(prefix="cr_stop_")
    try:
        data = os.path.join(tmp, "data")
        run("prepare", "synthetic", "--out", data, "--classes", "4", "--per-class", "24",
            "--val-per-class", "4", "--size", "64", "--seed", "4")
        whole = os.path.join(tmp, "whole")
        run(*train_args(data), "--out", whole)
        test_signal(tmp, data, whole, signal.SIGTERM, 143)
        test_signal(tmp, data, whole, signal.SIGINT, 130)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
