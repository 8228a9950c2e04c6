"""--ema DECAY end to end, on runs of one optimizer step per epoch at a constant learning rate, so
that the run of N epochs is the first N steps of the run of N + 1:

- the moving average the runs save (ema.safetensors, weights and BatchNorm statistics) follows
  the recurrence ema_k = ema_(k-1) + (1 - DECAY) * (w_k - ema_(k-1)) from the raw weights w_k each
  run saves (last.safetensors), in float32 as torch's lerp_;
- every epoch logs ema_val_loss and ema_val_acc and shows the average on the console line;
- ema.safetensors loads into PyTorch's simple_cnn with strict=True;
- a run killed after an epoch resumes its average and ends with the uninterrupted run's."""
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

HERE = os.path.dirname(__file__)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "parity"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bench"))
import safetensors_np  # noqa: E402
import torch_common  # noqa: E402
from cli_testing import CRESCENDO, check, finish, metrics, run  # noqa: E402

DECAY = 0.8


def tensors(path):
    state, _ = safetensors_np.read(path)
    return {k: v for k, v in state.items() if not k.startswith("optimizer.") and v.dtype ==
            np.float32}


def killed_with_checkpoint(arguments, out):
    """Runs crescendo and kills it once the first epoch's checkpoints are written."""
    proc = subprocess.Popen([CRESCENDO, *arguments], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while proc.poll() is None and time.time() < deadline:
        if os.path.exists(os.path.join(out, "last.safetensors")):
            proc.kill()
            break
        time.sleep(0.002)
    proc.wait()


def args(data, out, epochs):
    return ["train", "--data", data, "--train-csv", "train.csv", "--val-csv", "val.csv",
            "--model", "simple_cnn", "--resolution", "32", "--batch-size", "16", "--epochs",
            str(epochs), "--lr-schedule", "constant", "--lr", "0.05", "--seed", "2",
            "--threads", "1", "--ema", str(DECAY), "--out", out]


def main():
    tmp = tempfile.mkdtemp(prefix="cr_ema_")
    try:
        data = os.path.join(tmp, "data")
        run("prepare", "synthetic", "--out", data, "--classes", "4", "--per-class", "4",
            "--val-per-class", "4", "--size", "64", "--seed", "3")
        runs = []
        for epochs in (1, 2, 3):
            out = os.path.join(tmp, f"e{epochs}")
            p = run(*args(data, out, epochs))
            runs.append((tensors(os.path.join(out, "last.safetensors")),
                         tensors(os.path.join(out, "ema.safetensors"))))
        check(" ema " in p.stdout, "the console line shows the average's accuracy")
        rows = metrics(os.path.join(tmp, "e3"))
        check(all(r["ema_val_acc"] is not None and r["ema_val_loss"] is not None for r in rows),
              "every epoch logs the average's validation")

        rate = np.float32(1.0 - DECAY)
        worst = 0.0
        for (_, before), (raw, after) in zip(runs, runs[1:]):
            for name, value in after.items():
                want = before[name] + rate * (raw[name] - before[name])
                scale = max(1.0, float(np.abs(want).max()))
                worst = max(worst, float(np.abs(value - want).max()) / scale)
        check(worst <= 1e-6, f"the saved average follows the recurrence from the raw weights: "
              f"worst {worst:.3g}")
        moved = max(float(np.abs(runs[2][1][k] - runs[2][0][k]).max()) for k in runs[2][0])
        check(moved > 1e-4, "the average is not the raw weights")

        model = torch_common.make_model("simple_cnn", 4, 3)
        model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in
                               safetensors_np.read(os.path.join(tmp, "e3", "ema.safetensors"))[0]
                               .items()}, strict=True)

        cut = os.path.join(tmp, "cut")
        killed_with_checkpoint(args(data, cut, 3), cut)
        r = run("train", "--resume", cut)
        check("after epoch 1 " in r.stdout or "after epoch 2 " in r.stdout,
              f"killed before its end: {r.stdout[:300]}")
        resumed = tensors(os.path.join(cut, "ema.safetensors"))
        check(all(np.array_equal(resumed[k], runs[2][1][k]) for k in resumed),
              "a resumed run's average is the uninterrupted run's")
        print(f"--ema {DECAY}: the average follows the raw weights within {worst:.2g}, loads into "
              "torch, and resumes")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
