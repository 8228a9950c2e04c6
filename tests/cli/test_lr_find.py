"""crescendo lr-find: the sweep takes train's options, plots the smoothed loss against the rate,
writes nothing, and suggests a rate inside the range where a short run's loss falls: short runs at
a constant rate are tried from 1000x below the suggestion to 1000x above it, and the suggestion
must be one of those whose training loss fell from the first epoch to the last, below the rate at
which the sweep saw the loss run away."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from cli_testing import CRESCENDO, check, finish, metrics, run  # noqa: E402


def main():
    tmp = tempfile.mkdtemp(prefix="cr_lrfind_")
    try:
        data = os.path.join(tmp, "data")
        run("prepare", "synthetic", "--out", data, "--classes", "4", "--per-class", "32",
            "--val-per-class", "4", "--size", "64", "--seed", "5")
        common = ["--data", data, "--train-csv", "train.csv", "--model", "simple_cnn",
                  "--resolution", "32", "--batch-size", "16", "--seed", "1", "--threads", "1"]
        out = os.path.join(tmp, "never")
        p = run("lr-find", *common, "--out", out)
        check(not os.path.exists(out), "lr-find writes no run folder")
        m = re.search(r"suggested --lr (\S+)", p.stdout)
        check(m is not None, f"a suggestion: {p.stdout[-600:]}")
        suggestion = float(m.group(1))
        check(p.stdout.count("*") > 20 and "|" in p.stdout, "the loss is drawn, the suggestion "
              "marked")
        again = run("lr-find", *common)
        check(re.search(r"suggested --lr (\S+)", again.stdout).group(1) == m.group(1),
              "the same seed suggests the same rate")

        falls = {}
        for factor in (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0):
            lr = suggestion * factor
            run_dir = os.path.join(tmp, f"lr{factor:g}")
            # a rate far too high may end the run with a loss that is no longer a number
            subprocess.run([CRESCENDO, "train", *common, "--epochs", "3", "--lr-schedule",
                            "constant", "--lr", f"{lr:.6g}", "--out", run_dir],
                           capture_output=True, timeout=600)
            rows = metrics(run_dir) if os.path.exists(os.path.join(run_dir, "metrics.jsonl")) \
                else []
            losses = [r["train_loss"] for r in rows]
            falls[factor] = (len(losses) == 3 and all(x is not None for x in losses)
                             and losses[-1] < losses[0] - 0.02)
        print("loss falls at", {f"{suggestion * f:.2g}": v for f, v in falls.items()})
        check(falls[1.0], f"a short run at the suggested {suggestion:.3g} learns")
        check(not all(falls.values()), "some rates in the range do not learn: the test can tell")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
