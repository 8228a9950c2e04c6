"""Parity of crescendo's bf16 mixed precision with PyTorch's autocast, on resnet18 (Debian's torch).

The set-up of test_resnet_parity.py (64x64, batch 8, BatchNorm randomized, three SGD steps) runs
through tool_parity in bf16 and through torch.autocast("cpu", bfloat16). Both are compared with the
same model in float64. Rounding to bf16 (8 significant bits) moves every number by up to 2^-9 of
itself, and a network compounds that, so the two cannot agree digit for digit; what must hold is
that crescendo is as close to the exact result as autocast is. A tensor passes when crescendo's
error (max |x - reference| / max |reference|, the measure of the fp32 test) is at most 1e-2 or at
most twice autocast's own. The weights after three steps compound three steps of such
gradients and are held to the same rule. Exits non-zero on any failure, printing the worst element.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_np  # noqa: E402
from test_resnet_parity import (BATCH, CLASSES, LR, MOMENTUM, RES, STEPS, TOOL,  # noqa: E402
                                WEIGHT_DECAY, randomize_batchnorm, relative_error)

TOL = 1e-2
MODEL = "resnet18"


def torch_run(source, x, y, dtype, autocast):
    """PyTorch's step 0 (logits, loss, gradients, buffers) and state after STEPS steps."""
    model = getattr(torchvision.models, MODEL)(num_classes=CLASSES)
    model.load_state_dict(source.state_dict())
    model.to(dtype).train()
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    record = {}
    for step in range(STEPS):
        opt.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            logits = model(x.to(dtype))
            loss = F.cross_entropy(logits, y)
        loss.backward()
        if step == 0:
            record["logits"] = logits.detach().float().numpy()
            record["loss"] = loss.item()
            record.update({f"grad.{k}": p.grad.numpy().copy() for k, p in model.named_parameters()})
            record.update({f"after1.{k}": b.numpy().copy() for k, b in model.named_buffers()})
        opt.step()
    record.update({f"final.{k}": v.numpy().copy() for k, v in model.state_dict().items()})
    return record


def main():
    torch.set_num_threads(2)
    gen = torch.Generator().manual_seed(1234)
    torch.manual_seed(0)
    model = getattr(torchvision.models, MODEL)(num_classes=CLASSES)
    randomize_batchnorm(model, gen)
    x = torch.randn(BATCH, 3, RES, RES, generator=gen)
    y = torch.randint(0, CLASSES, (BATCH,), generator=gen)
    state = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    with tempfile.TemporaryDirectory() as tmp:
        inp, out = os.path.join(tmp, "in.safetensors"), os.path.join(tmp, "out.safetensors")
        safetensors_np.write(inp, {**state, "input": x.numpy(),
                                   "labels": y.numpy().astype(np.int64)},
                             {"lr": LR, "momentum": MOMENTUM, "weight_decay": WEIGHT_DECAY,
                              "steps": STEPS})
        subprocess.run([TOOL, "train", MODEL, inp, out, "bf16"], check=True)
        got, _ = safetensors_np.read(out)
    exact = torch_run(model, x, y, torch.float64, autocast=False)
    autocast = torch_run(model, x, y, torch.float32, autocast=True)

    failures, worst = [], {}
    for key in exact:
        if key.endswith("num_batches_tracked"):
            continue
        ours, at = relative_error(got[key], exact[key])
        theirs, _ = relative_error(autocast[key], exact[key])
        group = key.split(".", 1)[0] if "." in key else key
        worst[group] = max(worst.get(group, (0, 0)), (ours, theirs))
        bound = max(TOL, 2 * theirs)
        if not ours <= bound:
            failures.append(key)
            print(f"FAIL {key}: error {ours:.3g} > {bound:.3g} (autocast {theirs:.3g}) at [{at}]: "
                  f"crescendo {np.asarray(got[key]).reshape(-1)[at]:.6g}, float64 "
                  f"{np.asarray(exact[key]).reshape(-1)[at]:.6g}")
    for group, (ours, theirs) in sorted(worst.items()):
        print(f"{group:<8} worst error: crescendo bf16 {ours:.3g}, torch autocast {theirs:.3g}")
    if failures:
        print(f"bf16 parity: {len(failures)} mismatches")
        return 1
    print("bf16 parity: resnet18 in bf16 is as close to float64 as torch.autocast")
    return 0


if __name__ == "__main__":
    sys.exit(main())
