"""What the parity tests share: running tool_parity, PyTorch's float64 reference and float32 runs,
and the comparison with its tolerance rule.

A training check writes a PyTorch model's state dict, an input and labels to a safetensors file;
tool_parity loads them and runs one training forward, the loss and backward, then three SGD steps
(lr 0.05, momentum 0.9, no Nesterov, weight decay 5e-4 on every parameter, as torch.optim.SGD
applies it). PyTorch does the same. Compared: logits, loss, every parameter gradient, the running
statistics after the first forward, and every weight after three steps. The reverse check: a
checkpoint crescendo writes for a fresh model loads into the PyTorch model with
load_state_dict(strict=True), and eval-mode logits agree.

Error measure: max |x - reference| / max |reference| per tensor (relative to the tensor's scale;
elementwise relative error means nothing for entries near zero). The reference is the same model
run by PyTorch in float64. crescendo passes when its error is at most 1e-4, or at most twice the
worst error of three PyTorch float32 runs: one as it is, two with every weight scaled by
1 + 1e-7 * N(0, 1), a perturbation the size of float32 rounding. The second clause is for networks
whose float32 gradients are chaotic (test_resnet_parity.py says where); there the spread of
PyTorch's own float32 runs tells rounding from a bug where no fixed bound can. The eval logits of
the reverse check are held to 1e-4."""
import os
import subprocess
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_np  # noqa: E402

TOOL = os.path.join(os.environ.get("CR_BUILD_DIR", "build"), "tool_parity")
TOL = 1e-4
LR, MOMENTUM, WEIGHT_DECAY, STEPS = 0.05, 0.9, 5e-4, 3
PERTURBATIONS = (0, 1, 2)  # 0: PyTorch float32 as it is; others: weights moved by ~1e-7

failures = []


def relative_error(got, ref):
    got = np.asarray(got, dtype=np.float64).reshape(-1)
    ref = np.asarray(ref, dtype=np.float64).reshape(-1)
    diff = np.abs(got - ref)
    worst = int(diff.argmax())
    return diff[worst] / max(np.abs(ref).max(), 1e-12), worst


def compare(what, got, ref64, torch32_runs=(), tol=TOL):
    """crescendo's `got` against the float64 reference: an error of at most `tol`, or twice the
    worst error of PyTorch's own runs. Returns the error and its bound (None on a size
    mismatch)."""
    got = np.asarray(got)
    if got.size != np.asarray(ref64).size:
        failures.append(what)
        print(f"FAIL {what}: {got.size} elements, torch has {np.asarray(ref64).size}")
        return None
    err, worst = relative_error(got, ref64)
    bound = max([tol] + [2 * relative_error(run, ref64)[0] for run in torch32_runs])
    if not err <= bound:
        failures.append(what)
        print(f"FAIL {what}: error {err:.3g} > {bound:.3g} at [{worst}]: crescendo "
              f"{got.reshape(-1)[worst]:.9g}, torch float64 {np.asarray(ref64).reshape(-1)[worst]:.9g}")
    return err, bound


def randomize_batchnorm(model, gen, small_gamma=()):
    """BatchNorm affine and running statistics drawn at random, so that nothing is trivially 0 or
    1; the BatchNorms in `small_gamma` get a gamma between 0 and 0.2 instead of 0.5 to 1.5."""
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            with torch.no_grad():
                if m in small_gamma:
                    m.weight.uniform_(0.0, 0.2, generator=gen)
                else:
                    m.weight.uniform_(0.5, 1.5, generator=gen)
                m.bias.uniform_(-0.2, 0.2, generator=gen)
                m.running_mean.uniform_(-0.1, 0.1, generator=gen)
                m.running_var.uniform_(0.5, 1.5, generator=gen)


def crescendo_train(name, label, model, x, y, tmp, *tool_args):
    """tool_parity train (with `tool_args`, e.g. "bf16") on crescendo's model `name` from
    `model`'s state, input x (N, C, H, W) and labels y: crescendo's tensors by name."""
    state = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    stem = os.path.join(tmp, label.replace(" ", "_"))
    inp, out = f"{stem}_in.safetensors", f"{stem}_out.safetensors"
    safetensors_np.write(inp, {**state, "input": x.numpy(), "labels": y.numpy().astype(np.int64)},
                         {"lr": LR, "momentum": MOMENTUM, "weight_decay": WEIGHT_DECAY,
                          "steps": STEPS})
    subprocess.run([TOOL, "train", name, inp, out, *tool_args], check=True)
    return safetensors_np.read(out)[0]


def compare_groups(label, got, reference, runs, tol=TOL):
    """compare() for every tensor of `reference`; prints the worst error of each group of tensors
    (logits, loss, grad, after1, final)."""
    groups = {}
    for key in reference:
        result = compare(f"{label} {key}", got[key], reference[key], [run[key] for run in runs],
                         tol)
        group = key.split(".")[0]
        if result and (group not in groups or result[0] > groups[group][0]):
            groups[group] = (*result, key)
    for group, (err, bound, key) in groups.items():
        print(f"{label} {group}: worst error {err:.3g} (bound {bound:.3g}) in {key}")


def train_parity(name, label, make_model, model, x, y, tmp):
    """crescendo_train against PyTorch; `make_model()` builds a fresh PyTorch model of the same
    shape. Each tensor is held to the float32 rule of this module's docstring."""
    got = crescendo_train(name, label, model, x, y, tmp)
    reference = torch_run(make_model, model, x, y, torch.float64)
    noise = [torch_run(make_model, model, x, y, torch.float32, perturb=seed)
             for seed in PERTURBATIONS]
    compare_groups(label, got, reference, noise)


def torch_run(make_model, source, x, y, dtype, perturb=None, autocast=False):
    """PyTorch's side: the logits, loss, gradients and buffers of step 0 and the state after
    STEPS steps, in `dtype`; with `perturb`, every weight first scaled by 1 + 1e-7 * N(0, 1); with
    `autocast`, forward and loss under torch.autocast("cpu", bfloat16)."""
    model = make_model()
    model.load_state_dict(source.state_dict())
    model.to(dtype).train()
    if perturb is not None and perturb > 0:
        gen = torch.Generator().manual_seed(perturb)
        with torch.no_grad():
            for p in model.parameters():
                p.mul_(1 + 1e-7 * torch.randn(p.shape, generator=gen, dtype=dtype))
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    record = {}
    for step in range(STEPS):
        opt.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            logits = model(x.to(dtype))
            loss = F.cross_entropy(logits, y)
        loss.backward()
        if step == 0:
            record["logits"] = logits.detach().to(dtype).numpy()
            record["loss"] = loss.item()
            record.update({f"grad.{k}": p.grad.numpy().copy() for k, p in model.named_parameters()})
            record.update({f"after1.{k}": b.numpy().copy() for k, b in model.named_buffers()})
        opt.step()
    record.update({f"final.{k}": v.numpy().copy() for k, v in model.state_dict().items()})
    return record


def reverse_parity(name, label, make_model, tmp, export_args=()):
    """A fresh crescendo `name` exported by tool_parity (with `export_args`) loads strictly into
    `make_model()`, whose eval logits in float64 must match crescendo's."""
    ckpt = os.path.join(tmp, f"{label.replace(' ', '_')}_crescendo.safetensors")
    subprocess.run([TOOL, "export", name, ckpt, *export_args], check=True)
    tensors, _ = safetensors_np.read(ckpt)
    x = tensors.pop("input")
    logits = tensors.pop("logits")
    model = make_model()
    model.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()}, strict=True)
    model.eval()
    with torch.no_grad():
        want = model.double()(torch.from_numpy(x).double()).numpy()
    result = compare(f"{label} checkpoint loaded into PyTorch: eval logits", logits, want)
    if result:
        print(f"{label} reverse eval logits: error {result[0]:.3g} (bound {result[1]:.3g})")


def verdict(success):
    """The exit status: 1 with a count when anything disagreed, else 0 after `success`."""
    if failures:
        print(f"parity: {len(failures)} mismatches")
        return 1
    print(success)
    return 0
