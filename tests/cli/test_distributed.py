"""Training on several processes under mpirun, end to end on small synthetic sets:

- two processes with --batch-size 16 and --sync-bn follow one process with --batch-size 32 (the
  same samples per step, the same dropout masks): losses and final weights equal within float32
  reduction order, while BatchNorm's local statistics (the default) make a visible difference;
- rank 0 alone prints the run and writes the run folder;
- killing one rank mid-epoch ends the job in bounded time with mpirun's line naming the rank, the
  run folder resumes, and the resumed run's epochs are those of an uninterrupted run;
- a bad image met by one rank stops every rank with one line naming the rank and the file;
- --time-budget plans once for every process: the plan rank 0 prints is what all of them train;
- SIGTERM to mpirun stops every rank at one step with last.safetensors written there, and the
  resumed job ends as the uninterrupted one.

Skipped (exit 77) when this build has no MPI or mpirun is missing."""
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from cli_testing import (CRESCENDO, check, finish, metrics, run,  # noqa: E402
                         wait_for_epochs, without_timings)

SKIP = 77
# mpirun refuses root unless told; CI runs as root
MPI_ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1")


def mpirun(np_, *args, timeout=300):
    return subprocess.run(["mpirun", "-np", str(np_), CRESCENDO, *args], capture_output=True,
                          text=True, timeout=timeout, env=MPI_ENV)


def mpi_train(np_, *args):
    p = mpirun(np_, "train", *args)
    check(p.returncode == 0, f"mpirun -np {np_} crescendo train {' '.join(args)}: exit "
          f"{p.returncode}\nstdout: {p.stdout[-2000:]}\nstderr: {p.stderr[-2000:]}")
    return p


def weights(path):
    """The model's float tensors of a checkpoint (the optimizer's state left out)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__" or name.startswith("optimizer") or t["dtype"] != "F32":
            continue
        begin, end = t["data_offsets"]
        out[name] = np.frombuffer(data[begin:end], dtype=np.float32)
    return out


def difference(a, b):
    """How far apart two checkpoints' models are: the norm of their difference over the norm of
    the first, all tensors taken as one vector (a tensor's own scale would make a BatchNorm bias
    that is still near 0 look far off for a rounding)."""
    x = np.concatenate([a[k] for k in sorted(a)]).astype(np.float64)
    y = np.concatenate([b[k] for k in sorted(a)]).astype(np.float64)
    return float(np.linalg.norm(x - y) / np.linalg.norm(x))


def common(data, out, batch):
    return ["--data", data, "--train-csv", "train.csv", "--val-csv", "val.csv",
            "--model", "simple_cnn", "--resolution", "32", "--batch-size", str(batch),
            "--seed", "3", "--threads", "1", "--lr", "0.02", "--out", out, "--overwrite"]


def test_follows_one_process(tmp, data):
    one, two, local = (os.path.join(tmp, n) for n in ("one", "two", "local"))
    run("train", *common(data, one, 32), "--epochs", "3")
    p = mpi_train(2, *common(data, two, 16), "--epochs", "3", "--sync-bn")
    mpi_train(2, *common(data, local, 16), "--epochs", "3")

    check("2 processes of 1 threads, batches of 16 images per process" in p.stdout,
          f"the run says how it is spread: {p.stdout[:400]}")
    check(p.stdout.count("epoch 1/3") == 1, "only rank 0 prints the epochs")
    a, b = metrics(one), metrics(two)
    check(len(a) == len(b) == 3, "three epochs logged once")
    for x, y in zip(a, b):
        for key in ("train_loss", "val_loss"):
            check(abs(x[key] - y[key]) <= 1e-4 * abs(x[key]),
                  f"epoch {x['epoch']} {key}: one process {x[key]}, two {y[key]}")
    w1, w2 = weights(os.path.join(one, "last.safetensors")), weights(
        os.path.join(two, "last.safetensors"))
    synced = difference(w1, w2)
    check(synced < 1e-3, f"final weights of 2 x 16 with --sync-bn against 1 x 32: relative "
          f"difference {synced:.3g}")
    unsynced = difference(w1, weights(os.path.join(local, "last.safetensors")))
    check(unsynced > 20 * synced and unsynced > 1e-3,
          f"BatchNorm's local statistics change the run: {unsynced:.3g} against {synced:.3g}")

    # dropout masks follow the sample, not its place in one process's batch
    run("train", *common(data, one, 32), "--epochs", "2", "--dropout", "0.3")
    mpi_train(2, *common(data, two, 16), "--epochs", "2", "--dropout", "0.3", "--sync-bn")
    dropped = difference(weights(os.path.join(one, "last.safetensors")),
                         weights(os.path.join(two, "last.safetensors")))
    check(dropped < 1e-3, f"with --dropout 0.3, 2 x 16 against 1 x 32: {dropped:.3g}")

    # resnet18's gradients go in several buckets, each sent while backward goes on
    big = ["--model", "resnet18", "--epochs", "1"]
    run("train", *common(data, one, 32), *big)
    mpi_train(2, *common(data, two, 16), *big, "--sync-bn")
    resnet = difference(weights(os.path.join(one, "last.safetensors")),
                        weights(os.path.join(two, "last.safetensors")))
    check(resnet < 1e-3, f"resnet18, 2 x 16 against 1 x 32: {resnet:.3g}")
    print(f"2 x 16 against 1 x 32: weights {synced:.2g} apart with --sync-bn ({dropped:.2g} with "
          f"dropout, {resnet:.2g} for resnet18), {unsynced:.2g} without")


def rank_pid(parent, rank, deadline):
    """The pid of the crescendo under mpirun `parent` that runs `rank`, once it runs."""
    while time.time() < deadline:
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/environ", "rb") as f:
                    env = f.read().split(b"\0")
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    exe = f.read().split(b"\0")[0]
            except OSError:
                continue
            if (exe.endswith(b"crescendo") and f"OMPI_COMM_WORLD_RANK={rank}".encode() in env
                    and is_descendant(int(pid), parent)):
                return int(pid)
        time.sleep(0.01)
    return None


def is_descendant(pid, ancestor):
    while pid > 1:
        if pid == ancestor:
            return True
        try:
            with open(f"/proc/{pid}/stat") as f:
                pid = int(f.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            return False
    return False


def test_killed_rank_and_resume(tmp, data):
    whole, cut = os.path.join(tmp, "whole"), os.path.join(tmp, "cut")
    args = ["--data", data, "--train-csv", "train.csv", "--val-csv", "val.csv", "--model",
            "simple_cnn", "--resolution", "64", "--batch-size", "8", "--epochs", "4", "--seed",
            "5", "--threads", "1"]
    mpi_train(2, *args, "--out", whole)

    proc = subprocess.Popen(["mpirun", "-np", "2", CRESCENDO, "train", *args, "--out", cut],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=MPI_ENV)
    victim = rank_pid(proc.pid, 1, time.time() + 120)
    check(victim is not None, "rank 1 of the job found")
    wait_for_epochs(proc, cut, 1)
    killed = time.time()
    os.kill(victim, 9)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        check(False, "the job still runs a minute after one of its ranks was killed")
    ended = time.time() - killed
    check(proc.returncode != 0, "a job with a killed rank fails")
    check(ended < 30, f"the job ended {ended:.1f} s after its rank was killed")
    check("rank 1" in err and "signal 9" in err,
          f"mpirun names the rank that died and how: {err[-1500:]}")
    done = len(metrics(cut))
    check(1 <= done < 4, f"killed mid-run: {done} epochs logged")

    mpi_train(2, "--resume", cut)
    check(without_timings(metrics(cut)) == without_timings(metrics(whole)),
          "the resumed run's epochs are the uninterrupted run's")
    print(f"rank 1 killed after {done} epochs: the job ended in {ended:.1f} s; resumed to the same "
          "epochs")


def close(a, b, what):
    """Per-epoch metrics equal, the losses within float rounding (a resumed job's BatchNorm
    statistics are averaged at the stop, which the epoch's end does too, in another order)."""
    check(len(a) == len(b), f"{what}: {len(a)} epochs against {len(b)}")
    for x, y in zip(a, b):
        for key in x:
            same = x[key] == y[key] or (isinstance(x[key], float) and isinstance(y[key], float)
                                        and abs(x[key] - y[key]) <= 1e-6 * abs(x[key]))
            check(same, f"{what}: epoch {x['epoch']} {key}: {x[key]} against {y[key]}")


def test_stopped_job_resumes(tmp, data):
    whole, cut = os.path.join(tmp, "whole-stop"), os.path.join(tmp, "cut-stop")
    args = ["--data", data, "--train-csv", "train.csv", "--val-csv", "val.csv", "--model",
            "simple_cnn", "--resolution", "64", "--batch-size", "2", "--epochs", "12", "--seed",
            "3", "--threads", "1"]
    mpi_train(2, *args, "--out", whole)
    proc = subprocess.Popen(["mpirun", "-np", "2", CRESCENDO, "train", *args, "--out", cut],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=MPI_ENV)
    wait_for_epochs(proc, cut, 1)
    time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)  # mpirun passes it on to every rank
    out, err = proc.communicate(timeout=120)
    check("stopped" in out and "--resume" in out, f"the job stopped where it was: {out[-600:]}"
          f"\n{err[-600:]}")
    mpi_train(2, "--resume", cut)
    close(without_timings(metrics(whole)), without_timings(metrics(cut)),
          "a job stopped by SIGTERM and resumed")
    print("SIGTERM to mpirun: every rank stopped at one step; the resumed job ends as the "
          "uninterrupted one")


def test_bad_image_on_one_rank(tmp, data):
    bad = os.path.join(tmp, "bad")
    shutil.copytree(data, bad)
    with open(os.path.join(bad, "train.csv")) as f:
        rows = f.read().splitlines()
    victim = rows[1].split(",")[1]
    with open(os.path.join(bad, victim), "wb") as f:
        f.write(b"not a jpeg")
    started = time.time()
    p = mpirun(2, "train", *common(bad, os.path.join(tmp, "bad-run"), 16), "--epochs", "2",
               timeout=120)
    seconds = time.time() - started
    check(p.returncode != 0, "a bad image fails the job")
    # mpirun's own notice of the abort may come before or after it, not inside
    lines = re.findall(r"crescendo: error: rank \d of 2: [^\n]*", p.stderr)
    check(len(lines) == 1 and os.path.basename(victim) in lines[0],
          f"one line names the rank and the file: {p.stderr[-1500:]}")
    check(seconds < 60, f"every rank stopped, in {seconds:.1f} s")


def test_time_budget(tmp, data):
    out = os.path.join(tmp, "budget")
    p = mpi_train(2, *common(data, out, 16), "--time-budget", "5s")
    plans = [l for l in p.stdout.splitlines() if l.startswith("plan ")]
    check(len(plans) == 1, f"one plan printed, by rank 0: {p.stdout[:600]}")
    planned = sum(int(stage.split(":")[1]) for stage in plans[0].split()[1].rstrip(":").split(","))
    check(len(metrics(out)) == planned, f"every process trained the plan {plans[0]}")


def main():
    info = subprocess.run([CRESCENDO, "info"], capture_output=True, text=True).stdout
    if "mpi:      none" in info or not shutil.which("mpirun"):
        print("skipped: this build has no MPI or mpirun is missing (scripts/install-deps.sh "
              "installs libopenmpi-dev and openmpi-bin)")
        sys.exit(SKIP)
    tmp = tempfile.mkdtemp(prefix="cr_mpi_")
    try:
        data = os.path.join(tmp, "data")
        run("prepare", "synthetic", "--out", data, "--classes", "4", "--per-class", "16",
            "--val-per-class", "4", "--size", "64", "--seed", "1")
        test_follows_one_process(tmp, data)
        test_killed_rank_and_resume(tmp, data)
        test_bad_image_on_one_rank(tmp, data)
        test_time_budget(tmp, data)
        test_stopped_job_resumes(tmp, data)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
