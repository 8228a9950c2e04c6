#!/usr/bin/python3
"""crescendo's SGD and AdamW against torch.optim on the same parameters, gradients and lrs.

`unit_test_optim --run ...` (from CR_BUILD_DIR) steps the small model of test_optim.c and prints
every element; the same model is rebuilt here from its formulas and stepped by torch.optim.SGD /
torch.optim.AdamW with weight decay only on weights unless decay_all=1 (two param groups, as a
PyTorch recipe does it). Fails when an element differs by more than 1e-6 (relative above 1),
printing the worst element of each case and how many are bit-identical (all of them with
torch 1.13, whose kernels the CPU backend follows).
"""
import os
import subprocess
import sys

import torch

HELPER = os.path.join(os.environ.get("CR_BUILD_DIR", "."), "unit_test_optim")
TOLERANCE = 1e-6
LAYOUT = [("conv.weight", "weight", (2, 3)), ("bn.weight", "norm", (2,)), ("bn.bias", "norm", (2,)),
          ("fc.weight", "weight", (3, 2)), ("fc.bias", "bias", (3,))]
LRS = [0.1, 0.05, 0.02, 0.08, 0.03]

CASES = [
    ("sgd", dict(momentum=0.9, nesterov=1, wd=5e-4)),  # the Fashion-MNIST recipe
    ("sgd", dict(momentum=0.9, dampening=0.1, wd=1e-2, decay_all=1)),
    ("sgd", dict(wd=1e-3)),
    ("adamw", dict()),
    ("adamw", dict(wd=0.05, beta1=0.8, beta2=0.99, eps=1e-6, decay_all=1)),
]


def initial_value(k, i):
    return ((7 * i + 3 * k) % 17 - 8) / 8.0


def gradient(k, i, t):
    return ((5 * i + 3 * t + k) % 13 - 6) / 16.0


def torch_run(kind, cfg):
    params = []
    for k, (name, _, shape) in enumerate(LAYOUT):
        n = 1
        for d in shape:
            n *= d
        params.append(torch.tensor([initial_value(k, i) for i in range(n)], dtype=torch.float32)
                      .reshape(shape).requires_grad_())
    wd = cfg.get("wd", 0.0 if kind == "sgd" else 1e-2)
    decay_all = cfg.get("decay_all", 0)
    groups = [{"params": [p for p, (_, role, _) in zip(params, LAYOUT) if decay_all or role == "weight"],
               "weight_decay": wd},
              {"params": [p for p, (_, role, _) in zip(params, LAYOUT) if not decay_all and role != "weight"],
               "weight_decay": 0.0}]
    groups = [g for g in groups if g["params"]]
    if kind == "sgd":
        opt = torch.optim.SGD(groups, lr=LRS[0], momentum=cfg.get("momentum", 0.0),
                              dampening=cfg.get("dampening", 0.0), nesterov=bool(cfg.get("nesterov", 0)))
    else:
        opt = torch.optim.AdamW(groups, lr=LRS[0], betas=(cfg.get("beta1", 0.9), cfg.get("beta2", 0.999)),
                                eps=cfg.get("eps", 1e-8))
    for t, lr in enumerate(LRS, start=1):
        for k, p in enumerate(params):
            p.grad = torch.tensor([gradient(k, i, t) for i in range(p.numel())],
                                  dtype=torch.float32).reshape(p.shape)
        for g in opt.param_groups:
            g["lr"] = lr
        opt.step()
    return {name: p.detach().reshape(-1).tolist() for (name, _, _), p in zip(LAYOUT, params)}


def crescendo_run(kind, cfg):
    args = [kind, "lrs=" + ",".join(repr(lr) for lr in LRS)] + [f"{k}={v!r}" for k, v in cfg.items()]
    out = subprocess.run([HELPER, "--run", *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{HELPER} --run {' '.join(args)}: {out.stderr.strip()}")
    values = {}
    for line in out.stdout.splitlines():
        name, index, value = line.split()
        values.setdefault(name, {})[int(index)] = float.fromhex(value)
    return values


def main():
    if not os.access(HELPER, os.X_OK):
        print(f"FAIL: helper {HELPER} not built (set CR_BUILD_DIR)")
        return 1
    failed = 0
    for kind, cfg in CASES:
        ours, theirs = crescendo_run(kind, cfg), torch_run(kind, cfg)
        worst, identical, total = (-1.0, "", 0, 0.0, 0.0), 0, 0
        for name, want in theirs.items():
            for i, w in enumerate(want):
                got = ours.get(name, {}).get(i, float("nan"))
                identical += got == w
                total += 1
                err = abs(got - w) / max(1.0, abs(w))
                if not err <= worst[0]:
                    worst = (err, name, i, got, w)
        ok = worst[0] <= TOLERANCE
        failed += not ok
        print(f"{'ok' if ok else 'FAIL'} {kind} {cfg}: worst {worst[1]}[{worst[2]}]: crescendo {worst[3]!r}, "
              f"torch {worst[4]!r}, error {worst[0]:.3g}; {identical} of {total} bit-identical")
    print(f"optimizers vs torch {torch.__version__}: {failed} of {len(CASES)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
