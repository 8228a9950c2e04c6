"""Parity of crescendo's bf16 mixed precision with PyTorch's autocast, on resnet18 (Debian's torch).

The set-up of test_resnet_parity.py (64x64, batch 8, BatchNorm randomized, three SGD steps) runs
through tool_parity in bf16 and through torch.autocast("cpu", bfloat16). Both are compared with the
same model in float64. Rounding to bf16 (8 significant bits) moves every number by up to 2^-9 of
itself, and a network compounds that, so the two cannot agree digit for digit; what must hold is
that crescendo is as close to the exact result as autocast is. A tensor passes when crescendo's
error (max |x - reference| / max |reference|, parity_common's measure) is at most 1e-2, or at most
twice autocast's own. With batch 8, autocast's gradients are 18-78% off float64 in that measure
(BatchNorm's backward cancels), so the fixed 1e-2 alone could not hold for them; the logits and
loss stay near it. The weights after three steps compound three such gradients and are held to the
same rule. Exits non-zero on any failure, printing the worst element.
"""
import os
import sys
import tempfile

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import parity_common  # noqa: E402
from test_resnet_parity import make_resnet, resnet_case  # noqa: E402

BF16_TOL = 1e-2
MODEL = "resnet18"


def main():
    torch.set_num_threads(2)
    model, x, y = resnet_case(MODEL)
    with tempfile.TemporaryDirectory() as tmp:
        got = parity_common.crescendo_train(MODEL, "resnet18 bf16", model, x, y, tmp, "bf16")
    exact = parity_common.torch_run(make_resnet(MODEL), model, x, y, torch.float64)
    autocast = parity_common.torch_run(make_resnet(MODEL), model, x, y, torch.float32,
                                       autocast=True)
    parity_common.compare_groups("resnet18 bf16", got, exact, [autocast], BF16_TOL)
    return parity_common.verdict(
        "bf16 parity: resnet18 in bf16 is as close to float64 as torch.autocast")


if __name__ == "__main__":
    sys.exit(main())
