"""Pretrained weights from torchvision start a crescendo model (train --init) number for number.

torchvision's resnet18 (random weights, BatchNorm affine and running statistics randomized, so that
loading them matters) is saved as `safetensors.torch.save_file(model.state_dict(), path)` would
save it: its state dict, num_batches_tracked included, written here by safetensors_np. tool_parity
init starts crescendo's resnet18 from it through cr_checkpoint_load_init, the function behind
--init, and runs an eval-mode forward on a fixed batch. Checked:
- with torchvision's 10 classes, every tensor loads unchanged and crescendo's logits equal
  torchvision's eval logits in float64 within 1e-4 (parity_common.compare);
- with 1000 classes in the file, the classifier is swapped: every tensor but fc.* loads unchanged,
  fc keeps a fresh (10, 512) initialization, and the logits are torchvision's body from the file
  followed by crescendo's fc, within 1e-4.
Exits non-zero on any mismatch."""
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import parity_common  # noqa: E402
import safetensors_np  # noqa: E402

BATCH, RES, CLASSES = 4, 64, 10


def check(cond, what):
    if not cond:
        parity_common.failures.append(what)
        print(f"FAIL {what}")


def torchvision_file(path, num_classes, seed):
    """A torchvision resnet18 with randomized BatchNorm, saved as its state dict; the model."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = torchvision.models.resnet18(num_classes=num_classes)
    parity_common.randomize_batchnorm(model, gen)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.num_batches_tracked.fill_(seed)
    model.eval()
    safetensors_np.write(path, {k: v.detach().numpy() for k, v in model.state_dict().items()})
    return model


def crescendo_init(weights, x, tmp):
    """tool_parity init on `weights` and the batch x: crescendo's state, logits and metadata."""
    inp, out = os.path.join(tmp, "input.safetensors"), os.path.join(tmp, "init_out.safetensors")
    safetensors_np.write(inp, {"input": x.numpy()})
    subprocess.run([parity_common.TOOL, "init", "resnet18", weights, inp, out], check=True)
    tensors, metadata = safetensors_np.read(out)
    state = {k[len("state."):]: v for k, v in tensors.items() if k.startswith("state.")}
    return state, tensors["logits"], metadata


def check_state(label, state, model, skip=()):
    """crescendo's loaded tensors against the file's (the model's state dict), bit for bit."""
    want = {k: v.numpy() for k, v in model.state_dict().items() if k.split(".")[0] not in skip}
    for key, value in want.items():
        if key not in state or not np.array_equal(state[key], value):
            parity_common.failures.append(f"{label} {key}")
            print(f"FAIL {label}: {key} was not loaded as the file holds it")
    print(f"{label}: {len(want)} tensors compared with the file")


def same_classes(tmp, x):
    path = os.path.join(tmp, "resnet18_10.safetensors")
    model = torchvision_file(path, CLASSES, 3)
    state, logits, metadata = crescendo_init(path, x, tmp)
    check(metadata.get("swapped") == "0", f"no swap for 10 classes: {metadata}")
    check_state("10 classes", state, model)
    with torch.no_grad():
        want = model.double()(x.double()).numpy()
    result = parity_common.compare("10 classes: eval logits", logits, want)
    if result:
        print(f"10 classes: eval logits error {result[0]:.3g} (bound {result[1]:.3g})")


def swapped_classifier(tmp, x):
    path = os.path.join(tmp, "resnet18_1000.safetensors")
    model = torchvision_file(path, 1000, 5)
    state, logits, metadata = crescendo_init(path, x, tmp)
    check(metadata.get("swapped") == "1", f"the classifier swapped: {metadata}")
    check_state("1000 classes", state, model, skip=("fc",))
    check(state["fc.weight"].shape == (CLASSES, 512),
                        f"a fresh fc of (10, 512): {state['fc.weight'].shape}")
    model.fc = torch.nn.Linear(512, CLASSES)
    model.fc.load_state_dict({"weight": torch.from_numpy(state["fc.weight"]),
                              "bias": torch.from_numpy(state["fc.bias"])})
    with torch.no_grad():
        want = model.double()(x.double()).numpy()
    result = parity_common.compare("1000 classes swapped: eval logits", logits, want)
    if result:
        print(f"1000 classes swapped: eval logits error {result[0]:.3g} (bound {result[1]:.3g})")


def main():
    torch.set_num_threads(2)
    x = torch.randn(BATCH, 3, RES, RES, generator=torch.Generator().manual_seed(11))
    with tempfile.TemporaryDirectory() as tmp:
        same_classes(tmp, x)
        swapped_classifier(tmp, x)
    return parity_common.verdict("parity: resnet18 started from torchvision's weights agrees "
                                 "with torchvision (float64 reference)")


if __name__ == "__main__":
    sys.exit(main())
