#!/usr/bin/python3
"""crescendo's learning-rate schedules against torch.optim.lr_scheduler, step by step.

Each case is run through `unit_test_schedule --lr key=value ...` (from CR_BUILD_DIR) and through
the torch schedulers a PyTorch user would chain for it: LinearLR warm-up then the schedule, joined
by SequentialLR. The lr recorded for step k is the one the k-th optimizer.step() uses.
Fails on a relative difference over 1e-9, printing the worst step.
"""
import os
import subprocess
import sys
import warnings

import torch
from torch.optim import lr_scheduler

HELPER = os.path.join(os.environ.get("CR_BUILD_DIR", "."), "unit_test_schedule")
TOLERANCE = 1e-9
# SequentialLR steps the next schedule with an epoch argument, which torch 1.13 warns about
warnings.filterwarnings("ignore", message="The epoch parameter")

CASES = [
    dict(kind="constant", lr=0.1, total=50),
    dict(kind="step", lr=0.1, total=60, step_size=20, gamma=0.1),
    dict(kind="cosine", lr=0.1, total=100, min_lr=0.001),
    dict(kind="onecycle", lr=0.1, total=936, pct=0.25, div=10, final_div=100),  # fmnist, 2 epochs
    dict(kind="onecycle", lr=0.05, total=37, pct=0.3, div=25, final_div=1e4),
    dict(kind="constant", lr=0.2, total=20, warmup=8, start=0.25),
    dict(kind="step", lr=0.1, total=30, warmup=5, start=1 / 3, step_size=7, gamma=0.5),
    dict(kind="cosine", lr=0.1, total=100, warmup=10, start=0.1),
    dict(kind="onecycle", lr=0.4, total=200, warmup=20, start=0.01, pct=0.25, div=10, final_div=100),
]


def crescendo_lrs(case):
    args = [f"kind={case['kind']}"] + [f"{k}={v!r}" for k, v in case.items() if k != "kind"]
    out = subprocess.run([HELPER, "--lr", *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{HELPER} --lr {' '.join(args)}: {out.stderr.strip()}")
    return [float(line) for line in out.stdout.split()]


def torch_lrs(case):
    total, warmup = case["total"], case.get("warmup", 0)
    steps = total - warmup
    first_lr = case["lr"] / case["div"] if case["kind"] == "onecycle" else case["lr"]
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=first_lr)
    warm = lr_scheduler.LinearLR(opt, start_factor=case["start"], total_iters=warmup) if warmup else None
    if case["kind"] == "constant":
        main = lr_scheduler.LambdaLR(opt, lambda k: 1.0)
    elif case["kind"] == "step":
        main = lr_scheduler.StepLR(opt, step_size=case["step_size"], gamma=case["gamma"])
    elif case["kind"] == "cosine":
        main = lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=case.get("min_lr", 0.0))
    else:
        main = lr_scheduler.OneCycleLR(opt, max_lr=case["lr"], total_steps=steps, pct_start=case["pct"],
                                       anneal_strategy="cos", div_factor=case["div"],
                                       final_div_factor=case["final_div"], three_phase=False,
                                       cycle_momentum=False)
    sched = lr_scheduler.SequentialLR(opt, [warm, main], milestones=[warmup]) if warm else main
    lrs = []
    for _ in range(total):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def main():
    if not os.access(HELPER, os.X_OK):
        print(f"FAIL: helper {HELPER} not built (set CR_BUILD_DIR)")
        return 1
    failed = 0
    for case in CASES:
        ours, theirs = crescendo_lrs(case), torch_lrs(case)
        if len(ours) != len(theirs):
            print(f"FAIL {case}: {len(ours)} steps from crescendo, {len(theirs)} from torch")
            failed += 1
            continue
        errors = [abs(a - b) / max(abs(b), 1e-300) for a, b in zip(ours, theirs)]
        worst = max(range(len(errors)), key=errors.__getitem__)
        status = "ok" if errors[worst] <= TOLERANCE else "FAIL"
        failed += status == "FAIL"
        print(f"{status} {case}: worst step {worst}: crescendo {ours[worst]!r}, torch {theirs[worst]!r}, "
              f"relative error {errors[worst]:.3g}")
    print(f"lr schedules vs torch {torch.__version__}: {failed} of {len(CASES)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
