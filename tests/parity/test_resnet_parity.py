"""Parity of crescendo's ResNets with torchvision's, number for number (Debian's torch, CPU, fp32).

For resnet18 and resnet50 (num_classes=10) at 64x64, batch 8: torchvision's weights (BatchNorm
affine and running statistics randomized, so that nothing is trivially 0 or 1) go to a safetensors
file; tool_parity loads them and runs one training forward, the loss and backward, then three SGD
steps (lr 0.05, momentum 0.9, no Nesterov, weight decay 5e-4 on every parameter, as
torch.optim.SGD applies it). PyTorch does the same. Compared: logits, loss, every parameter
gradient, the running statistics after the first forward, and every weight after three steps.
The reverse: a checkpoint crescendo writes for a fresh model loads into torchvision with
load_state_dict(strict=True), and eval-mode logits agree.

Error measure: max |x - reference| / max |reference| per tensor (relative to the tensor's scale;
elementwise relative error means nothing for entries near zero). The reference is the same model
run by PyTorch in float64. crescendo passes when its error is at most 1e-4, or at most twice the
error of PyTorch's own float32 run. The second clause is the justified bound: in resnet50 at 64x64
with batch 8, layer4's BatchNorm normalizes 32 values per channel and ReLU masks sit near zero,
so float32 rounding alone moves some gradients by several percent — PyTorch's float32 gradients
differ from its float64 ones by up to 17% there, and crescendo's by less. No fixed bound between two
float32 runs can tell rounding from a bug in that regime; distance to the float64 truth can.
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
BATCH, RES, CLASSES = int(os.environ.get("PARITY_BATCH", 8)), 64, 10

failures = []


def relative_error(got, ref):
    got = np.asarray(got, dtype=np.float64).reshape(-1)
    ref = np.asarray(ref, dtype=np.float64).reshape(-1)
    diff = np.abs(got - ref)
    worst = int(diff.argmax())
    return diff[worst] / max(np.abs(ref).max(), 1e-12), worst


def compare(what, got, ref64, torch32=None):
    """crescendo's `got` against the float64 reference, allowing twice torch32's own error."""
    got = np.asarray(got)
    if got.size != np.asarray(ref64).size:
        failures.append(what)
        print(f"FAIL {what}: {got.size} elements, torch has {np.asarray(ref64).size}")
        return
    err, worst = relative_error(got, ref64)
    bound = TOL
    if torch32 is not None:
        bound = max(TOL, 2 * relative_error(torch32, ref64)[0])
    if not err <= bound:
        failures.append(what)
        print(f"FAIL {what}: error {err:.3g} > {bound:.3g} at [{worst}]: crescendo "
              f"{got.reshape(-1)[worst]:.9g}, torch float64 {np.asarray(ref64).reshape(-1)[worst]:.9g}")


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

    model64 = getattr(torchvision.models, name)(num_classes=CLASSES)
    model64.load_state_dict(model.state_dict())
    model64.double()
    runs = []
    for m, inputs in ((model, x), (model64, x.double())):
        m.train()
        opt = torch.optim.SGD(m.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
        record = {}
        for step in range(STEPS):
            opt.zero_grad()
            logits = m(inputs)
            loss = F.cross_entropy(logits, y)
            loss.backward()
            if step == 0:
                record["logits"] = logits.detach().numpy()
                record["loss"] = loss.item()
                record.update({f"grad.{k}": p.grad.numpy().copy() for k, p in m.named_parameters()})
                record.update({f"after1.{k}": b.numpy().copy() for k, b in m.named_buffers()})
            opt.step()
        record.update({f"final.{k}": v.numpy().copy() for k, v in m.state_dict().items()})
        runs.append(record)
    torch32, torch64 = runs
    for key in torch64:
        compare(f"{name} {key}", got[key], torch64[key], torch32[key])


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
        want = model.double()(torch.from_numpy(x).double()).numpy()
    compare(f"{name} checkpoint loaded into torchvision: eval logits", logits, want)  # eval: 1e-4


def main():
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        for name in os.environ.get("PARITY_MODELS", "resnet18,resnet50").split(","):
            forward_parity(name, tmp)
            reverse_parity(name, tmp)
    if failures:
        print(f"parity: {len(failures)} mismatches")
        return 1
    print("parity: resnet18 and resnet50 agree with torchvision (float64 reference)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
