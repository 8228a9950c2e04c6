"""What the PyTorch side of the comparisons shares: thread setup, the simple_cnn model, timing.

Kept in one place so that `pytorch_train_step.py` and `fashion_mnist_pytorch.py` measure the same
network under the same thread settings as `crescendo bench train` and `crescendo train`, and so
that tests/parity/test_simple_cnn_parity.py checks crescendo's simple_cnn against this very module.
Runs with Debian's /usr/bin/python3 (torch 1.13) and with a newer torch in a venv.
"""
import ctypes
import os
import platform

import torch
import torch.nn as nn


def loaded_libraries(fragment):
    """Paths of shared objects mapped into this process whose file name contains `fragment`."""
    paths = set()
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1]
            if fragment in os.path.basename(path):
                paths.add(path)
    return sorted(paths)


def set_threads(n):
    """torch's intra-op threads and, when torch runs on a pthread OpenBLAS (Debian's build), that
    library's own pool, which torch.set_num_threads does not reach. Returns a description."""
    torch.set_num_threads(n)
    notes = [f"torch threads {torch.get_num_threads()}"]
    for path in loaded_libraries("libopenblas"):
        blas = ctypes.CDLL(path)
        if hasattr(blas, "openblas_set_num_threads"):
            blas.openblas_set_num_threads(n)
            notes.append(f"openblas threads {blas.openblas_get_num_threads()} ({os.path.basename(path)})")
    return ", ".join(notes)


def environment():
    cpu = "unknown cpu"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    # Debian's torch (BLAS_INFO=generic) takes whatever libblas.so.3 the alternatives system points
    # at: OpenBLAS, or the single-threaded reference BLAS, which makes Linear layers much slower
    config = torch.__config__.show()
    blas = config.split("BLAS_INFO=", 1)[1].split(",", 1)[0] if "BLAS_INFO=" in config else "?"
    system = [os.path.realpath(p) for p in loaded_libraries("libblas") + loaded_libraries("libopenblas")]
    if system:
        blas += " (" + ", ".join(system) + ")"
    return {"torch": torch.__version__, "python": platform.python_version(), "cpu": cpu,
            "cores": os.cpu_count(), "blas": blas,
            "isa": next((line.split(":", 1)[1].strip() for line in config.splitlines()
                         if "CPU capability" in line), "?")}


class SimpleCNN(nn.Module):
    """crescendo's simple_cnn (src/nn/models/simple_cnn.c) with the same state_dict names:
    3 x [conv3x3 (no bias) - BN - ReLU - maxpool 2], 32/64/128 channels, an adaptive average pool
    to 3x3 (the identity at 28 px; it lets the net take any size), then dropout, fc 1152 -> 256,
    ReLU, dropout, fc 256 -> classes."""

    def __init__(self, num_classes=10, in_channels=1, dropout=0.3):
        super().__init__()
        layers, width = [], in_channels
        for out in (32, 64, 128):
            layers += [nn.Conv2d(width, out, 3, padding=1, bias=False), nn.BatchNorm2d(out),
                       nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            width = out
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(3)
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(128 * 9, 256),
                                  nn.ReLU(inplace=True), nn.Dropout(dropout), nn.Linear(256, num_classes))

    def forward(self, x):
        return self.head(self.pool(self.features(x)))


def make_model(name, num_classes, in_channels, dropout=0.3):
    import torchvision

    if name == "simple_cnn":
        return SimpleCNN(num_classes, in_channels, dropout)
    if name in ("resnet18", "resnet34", "resnet50"):
        model = getattr(torchvision.models, name)(num_classes=num_classes)
        if in_channels != 3:
            model.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
        return model
    raise SystemExit(f"unknown model {name!r} (resnet18, resnet34, resnet50, simple_cnn)")


def decay_groups(model, weight_decay):
    """Weight decay on conv and linear weights only, none on BatchNorm or biases (1-D tensors)."""
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def median(values):
    s = sorted(values)
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2
