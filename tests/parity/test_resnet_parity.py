"""Parity of crescendo's ResNets with torchvision's, number for number (Debian's torch, CPU, fp32).

For resnet18 and resnet50 (num_classes=10) at 64x64, batch 8: torchvision's weights (BatchNorm
affine and running statistics randomized, so that nothing is trivially 0 or 1) go to a safetensors
file; tool_parity loads them and runs one training forward, the loss and backward, then three SGD
steps (lr 0.05, momentum 0.9, no Nesterov, weight decay 5e-4 on every parameter, as
torch.optim.SGD applies it). PyTorch does the same. Compared: logits, loss, every parameter
gradient, the running statistics after the first forward, and every weight after three steps.
The reverse: a checkpoint crescendo writes for a fresh model loads into torchvision with
load_state_dict(strict=True), and eval-mode logits agree.

Error measure: max |crescendo - torch| / max |torch| per tensor (relative to the tensor's scale;
elementwise relative error is meaningless for entries near zero). Bound 1e-4 for everything: the
two sides differ only in summation order (oneDNN's blocking vs PyTorch's), which in fp32 over the
~4.7k-term reductions of these convolutions gives ~1e-6 relative; 1e-4 leaves room for the
3 optimizer steps amplifying it, and is still 3 orders below any real bug (a wrong formula).
Exits non-zero on any mismatch, printing the worst element."""
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

TOOL = os.path.join(os.environ.get("CR_BUILD_DIR", "build"), "tool_parity")
TOL = 1e-4
LR, MOMENTUM, WEIGHT_DECAY, STEPS = 0.05, 0.9, 5e-4, 3
BATCH, RES, CLASSES = 8, 64, 10

failures = []


def compare(what, got, want, tol=TOL):
    got = np.asarray(got, dtype=np.float64).reshape(-1)
    want = np.asarray(want, dtype=np.float64).reshape(-1)
    if got.shape != want.shape:
        failures.append(f"{what}: shape {got.shape} vs {want.shape}")
        print(f"FAIL {what}: shape {got.shape} vs torch {want.shape}")
        return
    scale = max(np.abs(want).max(), 1e-12)
    diff = np.abs(got - want)
    worst = int(diff.argmax())
    err = diff[worst] / scale
    if not err <= tol:
        failures.append(what)
        print(f"FAIL {what}: error {err:.3g} > {tol:g} at [{worst}]: crescendo {got[worst]:.9g}, "
              f"torch {want[worst]:.9g}")
    return err


def randomize_batchnorm(model, gen):
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            with torch.no_grad():
                m.weight.uniform_(0.5, 1.5, generator=gen)
                m.bias.uniform_(-0.2, 0.2, generator=gen)
                m.running_mean.uniform_(-0.1, 0.1, generator=gen)
                m.running_var.uniform_(0.5, 1.5, generator=gen)


def forward_parity(name, tmp):
    gen = torch.Generator().manual_seed(1234)
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(num_classes=CLASSES)
    randomize_batchnorm(model, gen)
    x = torch.randn(BATCH, 3, RES, RES, generator=gen)
    y = torch.randint(0, CLASSES, (BATCH,), generator=gen)
    state = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    inp = os.path.join(tmp, f"{name}_in.safetensors")
    out = os.path.join(tmp, f"{name}_out.safetensors")
    safetensors_np.write(inp, {**state, "input": x.numpy(), "labels": y.numpy().astype(np.int64)},
                         {"lr": LR, "momentum": MOMENTUM, "weight_decay": WEIGHT_DECAY,
                          "steps": STEPS})
    subprocess.run([TOOL, "train", name, inp, out], check=True)
    got, _ = safetensors_np.read(out)

    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    for step in range(STEPS):
        opt.zero_grad()
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        loss.backward()
        if step == 0:
            compare(f"{name} logits", got["logits"], logits.detach().numpy())
            compare(f"{name} loss", got["loss"], loss.item())
            for k, p in model.named_parameters():
                compare(f"{name} grad {k}", got[f"grad.{k}"], p.grad.numpy())
            for k, b in model.named_buffers():
                compare(f"{name} after one forward: {k}", got[f"after1.{k}"], b.numpy())
        opt.step()
    for k, v in model.state_dict().items():
        compare(f"{name} after {STEPS} steps: {k}", got[f"final.{k}"], v.numpy())


def reverse_parity(name, tmp):
    ckpt = os.path.join(tmp, f"{name}_crescendo.safetensors")
    subprocess.run([TOOL, "export", name, ckpt], check=True)
    tensors, _ = safetensors_np.read(ckpt)
    x = tensors.pop("input")
    logits = tensors.pop("logits")
    model = getattr(torchvision.models, name)(num_classes=CLASSES)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()}, strict=True)
    model.eval()
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    compare(f"{name} checkpoint loaded into torchvision: eval logits", logits, want)


def main():
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("resnet18", "resnet50"):
            forward_parity(name, tmp)
            reverse_parity(name, tmp)
    if failures:
        print(f"parity: {len(failures)} mismatches")
        return 1
    print("parity: resnet18 and resnet50 agree with torchvision within 1e-4")
    return 0


if __name__ == "__main__":
    sys.exit(main())
