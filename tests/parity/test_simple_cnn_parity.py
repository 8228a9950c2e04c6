"""Parity of crescendo's simple_cnn with its PyTorch definition (SimpleCNN in bench/torch_common.py,
the network the Fashion-MNIST bench trains), number for number (Debian's torch, CPU, fp32).

Two shapes, batch 8, 10 classes, dropout 0 (tool_parity's config, so both sides are deterministic):
28x28 with one channel, Fashion-MNIST's, where the last max pool drops the 7th row and column and
the adaptive pool is the identity on the 3x3 map; and 32x32 with three channels, where the adaptive
pool averages the 4x4 map in overlapping 2x2 windows. BatchNorm affine and running statistics are
randomized; parity_common.py says what is compared and the tolerance rule (the bound stays 1e-4 in
this shallow network). The reverse check exports a gray model, as Fashion-MNIST trains it.
Exits non-zero on any mismatch, printing the worst element."""
import os
import sys
import tempfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "bench"))
import parity_common  # noqa: E402
from torch_common import SimpleCNN  # noqa: E402

BATCH, CLASSES = 8, 10
SHAPES = ((1, 28), (3, 32))  # (channels, side)


def make_simple_cnn(channels):
    return lambda: SimpleCNN(num_classes=CLASSES, in_channels=channels, dropout=0.0)


def forward_parity(channels, side, tmp):
    gen = torch.Generator().manual_seed(1234)
    torch.manual_seed(0)
    model = make_simple_cnn(channels)()
    parity_common.randomize_batchnorm(model, gen)
    x = torch.randn(BATCH, channels, side, side, generator=gen)
    y = torch.randint(0, CLASSES, (BATCH,), generator=gen)
    parity_common.train_parity("simple_cnn", f"simple_cnn {channels}x{side}x{side}",
                               make_simple_cnn(channels), model, x, y, tmp)


def main():
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        for channels, side in SHAPES:
            forward_parity(channels, side, tmp)
        parity_common.reverse_parity("simple_cnn", "simple_cnn gray", make_simple_cnn(1), tmp,
                                     ["1"])
    return parity_common.verdict("parity: simple_cnn agrees with PyTorch (float64 reference)")


if __name__ == "__main__":
    sys.exit(main())
