"""--lr-schedule plateau, as torch's ReduceLROnPlateau: the learning rate each epoch logs is --lr
times --plateau-factor to the number of lowerings so far, where a lowering follows every run of
more than --plateau-patience epochs whose val_loss did not beat the best by more than 1e-4 of it;
the console says when; a run stopped by SIGTERM resumes with the same watch and ends with the
uninterrupted run's metrics; without validation the schedule is refused."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from cli_testing import (CRESCENDO, check, finish, metrics, run,  # noqa: E402
                         wait_for_epochs, without_timings)

LR, FACTOR, PATIENCE = 0.05, 0.5, 1


def expected_lrs(val_losses):
    """The lr of each epoch by ReduceLROnPlateau's rule, from the epochs' val_loss."""
    best, bad, reductions, lrs = None, 0, 0, []
    for loss in val_losses:
        lrs.append(LR * FACTOR ** reductions)
        if best is None or loss < best - 1e-4 * abs(best):
            best, bad = loss, 0
        else:
            bad += 1
            if bad > PATIENCE:
                reductions, bad = reductions + 1, 0
    return lrs, reductions


def main():
    tmp = tempfile.mkdtemp(prefix="cr_plateau_")
    try:
        data = os.path.join(tmp, "data")
        run("prepare", "synthetic", "--out", data, "--classes", "4", "--per-class", "24",
            "--val-per-class", "4", "--size", "64", "--seed", "6")
        args = ["train", "--data", data, "--train-csv", "train.csv", "--val-csv", "val.csv",
                "--model", "simple_cnn", "--resolution", "32", "--batch-size", "8", "--epochs",
                "8", "--seed", "4", "--threads", "1", "--lr-schedule", "plateau", "--lr", str(LR),
                "--plateau-factor", str(FACTOR), "--plateau-patience", str(PATIENCE)]
        whole = os.path.join(tmp, "whole")
        p = run(*args, "--out", whole)
        rows = metrics(whole)
        want, reductions = expected_lrs([r["val_loss"] for r in rows])
        got = [r["lr"] for r in rows]
        check(all(abs(g - w) <= 1e-9 * w for g, w in zip(got, want)),
              f"the lr follows the plateau rule: logged {got}, expected {want}")
        check(reductions > 0, "the run lowered the lr at least once: the test can tell")
        check(p.stdout.count("lr lowered to") == reductions, "the console says each lowering")

        cut = os.path.join(tmp, "cut")
        proc = subprocess.Popen([CRESCENDO, *args, "--out", cut], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        wait_for_epochs(proc, cut, 4)
        proc.send_signal(signal.SIGTERM)
        check(proc.wait() == 143, "stopped by SIGTERM")
        run("train", "--resume", cut)
        check(without_timings(metrics(cut)) == without_timings(rows),
              "the resumed run keeps the watch: the same epochs as the uninterrupted run")

        p = run("train", "--data", data, "--train-csv", "train.csv", "--model", "simple_cnn",
                "--resolution", "32", "--lr-schedule", "plateau", "--out",
                os.path.join(tmp, "noval"), expect=1)
        check("--lr-schedule plateau" in p.stderr and "--val" in p.stderr,
              f"no validation, no plateau: {p.stderr}")
        print(f"plateau: {reductions} lowerings in {len(rows)} epochs, as the rule says; resumed "
              "alike")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
