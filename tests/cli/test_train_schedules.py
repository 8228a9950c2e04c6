"""crescendo train with every schedule form, end to end on the tiny dataset of test_train_eval.py.

Checked:
- a ramp trains each epoch at the size its formula gives, and says so at each switch;
- --batch-pixels sizes each stage's batch and --lr-scaling linear scales the lr with it (constant
  lr schedule, so the logged lr is exactly the scaled one);
- --lr-pace pixels advances the lr schedule by each step's pixels, steps by its steps;
- --bn-recalibrate changes the validation after a switch, and nothing before it;
- an auto schedule switches stages (here at the latest after its share of --epochs), and a run
  killed after two epochs and resumed ends as the uninterrupted one, stage for stage;
- --eval-at-switch validates right after each switch (after --bn-recalibrate, which changes it);
- --progressive-reg grows dropout and crop strength with the stages;
- --match-scale crops the stages below the last size to (size / last size)^2 of the area;
- --test-res-search validates at 1, 1.15 and 1.3 times the last size, the first equal to the last
  epoch's validation;
- with neither --schedule nor --resolution the schedule doubles from 64 to the images' size;
- bad specs and an auto schedule without validation fail with a one-line reason.
Exits non-zero on the first failed check."""
import json
import math
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_testing import (check, finish, kill_after_epochs, metrics, noise_images,  # noqa: E402
                         run, without_timings)
from test_train_eval import make_dataset  # noqa: E402


def args(data, out, *extra):
    return ["train", "--data", data, "--val-csv", "val.csv", "--model", "simple_cnn",
            "--batch-size", "8", "--lr", "0.05", "--workers", "2", "--threads", "2", "--seed", "3",
            "--mean", "0.5", "--std", "0.25", "--out", out, *extra]


def test_ramp(tmp, data):
    out = os.path.join(tmp, "ramp")
    # epoch 2 is halfway: 16 + 16 (2 - 1) / 2 = 24, a multiple of 8
    p = run(*args(data, out, "--schedule", "ramp:16-32@1-3/8", "--epochs", "4"))
    rows = metrics(out)
    check([r["resolution"] for r in rows] == [16, 24, 32, 32], f"ramp sizes {rows}")
    check([r["stage"] for r in rows] == [0, 1, 2, 2], "ramp stages")
    check("stage 2/3: 24x24, batch 8" in p.stdout, f"switch line: {p.stdout[-1500:]}")


def test_batch_pixels_and_lr_scaling(tmp, data):
    out = os.path.join(tmp, "pixels")
    p = run(*args(data, out, "--schedule", "16:1,32:1", "--batch-pixels", "4096",
                  "--lr-schedule", "constant"))
    rows = metrics(out)
    check([r["batch_size"] for r in rows] == [16, 4], f"batches from the pixel budget: {rows}")
    check(rows[0]["lr"] == 0.05 and abs(rows[1]["lr"] - 0.0125) < 1e-12,
          f"linear lr scaling: {[r['lr'] for r in rows]}")
    check("stage 2/2: 32x32, batch 4, lr 0.0125" in p.stdout, f"switch line: {p.stdout[-1500:]}")
    out = os.path.join(tmp, "pixels_sqrt")
    run(*args(data, out, "--schedule", "16:1,32:1", "--batch-pixels", "4096",
              "--lr-schedule", "constant", "--lr-scaling", "sqrt"))
    check(abs(metrics(out)[1]["lr"] - 0.025) < 1e-12, "sqrt lr scaling")


def test_lr_pace(tmp, data):
    """--lr-pace pixels: on a cosine schedule over 16:2,32:1 (6 steps an epoch at batch 8), a
    32 px step advances the schedule four times as far as a 16 px one."""
    lrs = {}
    for pace in ("steps", "pixels"):
        out = os.path.join(tmp, f"pace_{pace}")
        run(*args(data, out, "--schedule", "16:2,32:1", "--lr-schedule", "cosine", "--lr-pace",
                  pace))
        lrs[pace] = [r["lr"] for r in metrics(out)]

    def cosine(position, total):
        return 0.05 * (1 + math.cos(math.pi * position / total)) / 2

    units = [1] * 12 + [4] * 6  # each step's advance; the lr logged is of steps 5, 11 and 17
    want = {"steps": [cosine(k, 18) for k in (5, 11, 17)],
            "pixels": [cosine(sum(units[:k]), sum(units)) for k in (5, 11, 17)]}
    for pace in want:
        check(all(abs(a - b) < 1e-9 for a, b in zip(lrs[pace], want[pace])),
              f"--lr-pace {pace}: lr {lrs[pace]}, want {want[pace]}")


def test_bn_recalibrate(tmp, data):
    plain, recal = os.path.join(tmp, "plain"), os.path.join(tmp, "recal")
    run(*args(data, plain, "--schedule", "16:2,24:1"))
    p = run(*args(data, recal, "--schedule", "16:2,24:1", "--bn-recalibrate", "2"))
    a, b = without_timings(metrics(plain)), without_timings(metrics(recal))
    check(a[:2] == b[:2], "nothing changes before the switch")
    check(a[2]["val_loss"] != b[2]["val_loss"], "re-estimated statistics change the validation")
    check("re-estimated on 2 batches at 24x24" in p.stdout, f"said so: {p.stdout[-1500:]}")


def test_eval_at_switch(tmp, data):
    plain, recal = os.path.join(tmp, "switch"), os.path.join(tmp, "switch_recal")
    p = run(*args(data, plain, "--schedule", "16:2,24:1", "--eval-at-switch"))
    q = run(*args(data, recal, "--schedule", "16:2,24:1", "--eval-at-switch",
                  "--bn-recalibrate", "2"))
    a, b = metrics(plain), metrics(recal)
    check([r["switch_val_acc"] is None for r in a] == [True, True, False],
          f"validated at the switch only: {[r['switch_val_acc'] for r in a]}")
    check(a[2]["switch_val_loss"] != b[2]["switch_val_loss"],
          "re-estimated statistics change the validation at the switch")
    check("at the switch, before training at 24x24: val" in p.stdout and
          "at the switch" in q.stdout, f"said so: {p.stdout[-1500:]}")
    out = os.path.join(tmp, "no_switch")
    run(*args(data, out, "--schedule", "16:2,24:1"))
    check(without_timings(metrics(out)) == without_timings(
        [{k: v for k, v in r.items() if not k.startswith("switch_")} | {
            "switch_val_loss": None, "switch_val_acc": None} for r in a]),
        "the validation at the switch changes no training")


def test_progressive_reg(tmp, data):
    out = os.path.join(tmp, "reg")
    p = run(*args(data, out, "--schedule", "16:1,24:1", "--progressive-reg", "--dropout", "0.5",
                  "--random-crop", "0.4"))
    check("stage 1/2: 16x16, batch 8, lr" in p.stdout and "dropout 0.25, crop scale 0.7" in
          p.stdout and "dropout 0.5, crop scale 0.4" in p.stdout,
          f"regularization grows with the stages: {p.stdout[-1500:]}")
    full = os.path.join(tmp, "reg_full")
    run(*args(data, full, "--schedule", "16:1,24:1", "--dropout", "0.5", "--random-crop", "0.4"))
    check(metrics(out)[0]["train_loss"] != metrics(full)[0]["train_loss"],
          "the first stage trains with less regularization")


def test_match_scale(tmp, data):
    """--match-scale: the 16 px stage of 16:1,24:1 crops to at least (16/24)^2 of the area, which
    changes its training; the last stage trains on whole images."""
    plain, matched = os.path.join(tmp, "unmatched"), os.path.join(tmp, "matched")
    run(*args(data, plain, "--schedule", "16:1,24:1"))
    p = run(*args(data, matched, "--schedule", "16:1,24:1", "--match-scale"))
    lines = [line for line in p.stdout.splitlines() if line.startswith("stage ")]
    check(len(lines) == 2 and "16x16" in lines[0] and "crop scale 0.444," in lines[0]
          and "24x24" in lines[1] and "crop" not in lines[1],
          f"the small stage says its crops, the last none: {lines}")
    a, b = metrics(plain), metrics(matched)
    check(a[0]["train_loss"] != b[0]["train_loss"], "the small stage trains on crops")


def test_test_res_search(tmp, data):
    out = os.path.join(tmp, "fixres")
    p = run(*args(data, out, "--schedule", "16:1,24:1", "--test-res-search"))
    with open(os.path.join(out, "test_res_search.json")) as f:
        table = json.load(f)
    sizes = [r["resolution"] for r in table["results"]]
    # 24 x 1.15 = 27.6 rounds to 24 (left out), 24 x 1.3 = 31.2 to 32
    check(table["train_resolution"] == 24 and sizes == [24, 32], f"sizes searched: {table}")
    check(table["results"][0]["val_acc"] == metrics(out)[-1]["val_acc"],
          "at the training size the search repeats the last validation")
    best = max(table["results"], key=lambda r: r["val_acc"])["resolution"]
    check(f"best test resolution {best} px" in p.stdout, f"the best is named: {p.stdout[-800:]}")


def test_default_schedule(tmp):
    data = os.path.join(tmp, "big")
    noise_images(data, 8, 96, 112, "png", seed=1)
    out = os.path.join(tmp, "default")
    p = run("train", "--data", data, "--model", "simple_cnn", "--epochs", "3", "--batch-size",
            "4", "--threads", "2", "--workers", "1", "--out", out)
    check([r["resolution"] for r in metrics(out)] == [64, 96, 96],
          f"from 64 to the images' shorter side: {metrics(out)}")
    check("schedule 64:1,96:2, from the images' 96 px" in p.stdout, f"said so: {p.stdout[:600]}")


def test_auto_and_resume(tmp, data):
    spec = ["--schedule", "auto:16,20,24", "--epochs", "6", "--stage-patience", "1",
            "--stage-metric", "val_acc"]
    out = os.path.join(tmp, "auto")
    p = run(*args(data, out, *spec))
    rows = metrics(out)
    stages = [r["stage"] for r in rows]
    check(len(rows) == 6 and stages == sorted(stages) and stages[-1] == 2,
          f"auto moved through its stages: {stages}")
    check(all(r["resolution"] == [16, 20, 24][r["stage"]] for r in rows), "sizes follow stages")
    check(stages.count(0) <= 2 and stages.count(1) <= 2,
          f"no stage but the last outlasts its share of 2 epochs: {stages}")
    check("stage 3/3: 24x24" in p.stdout and "until early stopping or epoch 6" in p.stdout,
          f"switch lines: {p.stdout[-1500:]}")
    part = os.path.join(tmp, "auto_part")
    kill_after_epochs(args(data, part, *spec), part, 2)
    run("train", "--resume", part)
    check(without_timings(metrics(part)) == without_timings(rows),
          "a resumed auto run ends as an uninterrupted one")


def test_errors(tmp, data):
    out = os.path.join(tmp, "bad")
    cases = [
        (["--schedule", "ramp:16-32@2-8", "--epochs", "5"], "raise --epochs"),
        (["--schedule", "auto:16:3,24"], "without epochs"),
        (["--schedule", "linear:16-32"], "unknown form 'linear'"),
        (["--schedule", "auto:16,20,24", "--epochs", "2"], "--epochs of at least 3"),
    ]
    for extra, needle in cases:
        p = run(*args(data, out, *extra, "--overwrite"), expect=1)
        check(needle in p.stderr and len(p.stderr.strip().splitlines()) == 1,
              f"{extra}: one line naming {needle!r}: {p.stderr}")
    p = run("train", "--data", data, "--model", "simple_cnn", "--schedule", "auto:16,24",
            "--out", out, "--overwrite", expect=1)
    check("--val-csv or --val-split" in p.stderr, f"auto needs validation: {p.stderr}")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "data")
        make_dataset(data)
        test_ramp(tmp, data)
        test_batch_pixels_and_lr_scaling(tmp, data)
        test_lr_pace(tmp, data)
        test_bn_recalibrate(tmp, data)
        test_eval_at_switch(tmp, data)
        test_progressive_reg(tmp, data)
        test_match_scale(tmp, data)
        test_test_res_search(tmp, data)
        test_default_schedule(tmp)
        test_auto_and_resume(tmp, data)
        test_errors(tmp, data)
    finish()


if __name__ == "__main__":
    main()
