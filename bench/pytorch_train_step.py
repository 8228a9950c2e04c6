#!/usr/bin/python3
"""PyTorch's training-step speed on the CPU, measured the way `crescendo bench train` measures its own.

One step: zero_grad, forward, cross-entropy, backward, SGD (momentum 0.9, weight decay 5e-4), on one
fixed random batch, so only compute is timed. Each configuration runs at least 5 warm-up steps
(the first builds oneDNN primitives) and then at least 20 timed ones; images/s is the batch size over
the median step. A configuration whose 25 steps would take longer than --budget seconds runs the
reduced protocol instead — 2 warm-up steps and as many timed steps as fit, at least 3 — and says so
in "protocol".

Modes: fp32 (NCHW), fp32_cl (channels-last model and input), bf16 (torch.autocast on the CPU, NCHW),
bf16_cl (autocast, channels-last), and compile_fp32_cl / compile_bf16_cl, the channels-last ones with
the model through torch.compile (its compilation falls in the warm-up steps). A mode this torch
cannot run (torch.compile before torch 2, or a compiler failure) prints a line with "skipped" and
the reason instead of a measurement.
Threads: --threads for torch and for a pthread OpenBLAS if torch uses one (Debian's does).

  /usr/bin/python3 bench/pytorch_train_step.py --model resnet18 --resolution 64,128 --json
  .venv/bin/python bench/pytorch_train_step.py --model resnet18,simple_cnn --modes fp32,fp32_cl,bf16

--json prints one JSON object per configuration (images_per_sec, median_ms, min_ms, torch, ...);
without it, a table at the end as well.
"""
import argparse
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_common import environment, make_model, median, set_threads  # noqa: E402

MODES = ("fp32", "fp32_cl", "bf16", "bf16_cl", "compile_fp32_cl", "compile_bf16_cl")


def build(args, model_name, resolution, mode):
    torch.manual_seed(args.seed)
    in_channels = args.in_channels or (1 if model_name == "simple_cnn" else 3)
    model = make_model(model_name, args.num_classes, in_channels).train()
    x = torch.randn(args.batch_size, in_channels, resolution, resolution)
    y = torch.randint(0, args.num_classes, (args.batch_size,))
    if mode.endswith("_cl"):
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    forward = model
    if mode.startswith("compile_"):
        if not hasattr(torch, "compile"):
            raise Unavailable(f"torch {torch.__version__} has no torch.compile")
        forward = torch.compile(model)

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled="bf16" in mode):
            loss = F.cross_entropy(forward(x), y)
        loss.backward()
        opt.step()

    return step


class Unavailable(Exception):
    """A mode this torch cannot run."""


def timed(step):
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def measure(args, model_name, resolution, mode):
    skipped = {"model": model_name, "resolution": resolution, "batch_size": args.batch_size,
               "mode": mode, **environment()}
    try:
        step = build(args, model_name, resolution, mode)
        load_before = os.getloadavg()[0]
        began = time.perf_counter()
        warm = [timed(step), timed(step)]
    except Unavailable as e:
        return {**skipped, "skipped": str(e)}
    except Exception as e:  # noqa: BLE001 - a compiler failure is a result to report, not a crash
        if not mode.startswith("compile_"):
            raise
        return {**skipped, "skipped": f"torch.compile failed: {type(e).__name__}: {e}"[:300]}
    estimate = warm[-1]
    if (args.warmup + args.steps) * estimate <= args.budget:
        protocol = "full"
        warm += [timed(step) for _ in range(args.warmup - len(warm))]
        count = args.steps
    else:
        protocol = "reduced"
        count = max(3, int((args.budget - (time.perf_counter() - began)) / estimate))
    times = [timed(step) for _ in range(count)]
    med = median(times)
    return {
        "model": model_name, "resolution": resolution, "batch_size": args.batch_size, "mode": mode,
        "num_classes": args.num_classes, "images_per_sec": round(args.batch_size / med, 2),
        "median_ms": round(1e3 * med, 2), "min_ms": round(1e3 * min(times), 2),
        "max_ms": round(1e3 * max(times), 2), "warmup_steps": len(warm), "timed_steps": count,
        "protocol": protocol, "threads": torch.get_num_threads(),
        # other work on the machine shows up here first: a 1-minute load above the thread count
        # means the steps shared the cores
        "loadavg": [round(load_before, 2), round(os.getloadavg()[0], 2)], **environment(),
    }


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="resnet18", help="comma list: resnet18, resnet34, resnet50, simple_cnn")
    ap.add_argument("--resolution", default="64,128", help="comma list of square input sizes")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--modes", default="fp32,fp32_cl", help="comma list of " + ", ".join(MODES))
    ap.add_argument("--num-classes", type=int, default=10)
    ap.add_argument("--in-channels", type=int, default=0, help="0: 1 for simple_cnn, 3 for the ResNets")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=5, help="warm-up steps of the full protocol (>= 2)")
    ap.add_argument("--steps", type=int, default=20, help="timed steps of the full protocol")
    ap.add_argument("--budget", type=float, default=60.0,
                    help="seconds a configuration may take before the reduced protocol is used")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="only the JSON lines")
    args = ap.parse_args()
    args.models = args.model.split(",")
    args.resolutions = [int(r) for r in args.resolution.split(",")]
    args.mode_list = args.modes.split(",")
    bad = [m for m in args.mode_list if m not in MODES]
    if bad or args.warmup < 2 or args.steps < 1 or args.batch_size < 1:
        ap.error(f"bad --modes {bad}, --warmup (>= 2), --steps or --batch-size")
    return args


def main():
    args = parse_args()
    threads = set_threads(args.threads)
    if not args.json:
        print(f"# {environment()} ({threads})", flush=True)
    results = []
    for model_name in args.models:
        for resolution in args.resolutions:
            for mode in args.mode_list:
                result = measure(args, model_name, resolution, mode)
                results.append(result)
                print(json.dumps(result), flush=True)
    if not args.json:
        print(f"\n{'model':<11} {'res':>4} {'batch':>5} {'mode':<15} {'img/s':>8} {'median ms':>10} "
              f"{'min ms':>8}  protocol")
        for r in results:
            if "skipped" in r:
                print(f"{r['model']:<11} {r['resolution']:>4} {r['batch_size']:>5} {r['mode']:<15} "
                      f"skipped: {r['skipped']}")
                continue
            print(f"{r['model']:<11} {r['resolution']:>4} {r['batch_size']:>5} {r['mode']:<15} "
                  f"{r['images_per_sec']:>8.1f} {r['median_ms']:>10.1f} {r['min_ms']:>8.1f}  "
                  f"{r['protocol']} {r['warmup_steps']}+{r['timed_steps']}")


if __name__ == "__main__":
    main()
