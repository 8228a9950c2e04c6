#!/usr/bin/python3
"""Safetensors files crossing between crescendo and PyTorch, both ways.

The format is parsed and written here by hand (struct, json, numpy) from the specification, so
this checks crescendo against the format rather than against itself; torch checks that the values
load into a module's state dict and that crescendo's bf16 rounding is torch's.
Runs the helper modes of unit_test_safetensors (--write FILE, --dump FILE) from CR_BUILD_DIR.
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch

HELPER = os.path.join(os.environ.get("CR_BUILD_DIR", "."), "unit_test_safetensors")
NUMPY = {"F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32, "U8": np.uint8,
         "BF16": np.uint16}
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def parse(path):
    """Reads a safetensors file per the specification; returns (header, metadata, arrays)."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    text = raw[8:8 + n].decode("utf-8")
    header = json.loads(text)
    metadata = header.pop("__metadata__", {})
    data = raw[8 + n:]
    arrays = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        arrays[name] = np.frombuffer(data[begin:end], dtype=NUMPY[info["dtype"]]).reshape(info["shape"])
    return n, text, header, metadata, arrays, len(data)


def crescendo_to_torch(tmp):
    path = os.path.join(tmp, "from_crescendo.safetensors")
    subprocess.run([HELPER, "--write", path], check=True)
    n, text, header, metadata, arrays, data_size = parse(path)

    check(n % 8 == 0, f"header length {n} is not a multiple of 8")
    check(text.rstrip(" ").endswith("}"), f"the header ends in {text[-8:]!r}, not '}}' and spaces")
    check(metadata == {"epoch": "3", "model": "resnet18"}, f"metadata {metadata}")
    spans = sorted(tuple(info["data_offsets"]) for info in header.values())
    check(spans[0][0] == 0 and spans[-1][1] == data_size and
          all(a[1] == b[0] for a, b in zip(spans, spans[1:])), f"offsets do not tile: {spans}")
    for name, info in header.items():
        size = np.dtype(NUMPY[info["dtype"]]).itemsize
        check(info["data_offsets"][0] % size == 0, f"{name} starts at a misaligned offset")

    expected = {
        "fc.weight": np.arange(12, dtype=np.float32).reshape(3, 4) * 0.25 - 1.5,
        "fc.bias": 0.5 - np.arange(3, dtype=np.float32),
        "bn.num_batches_tracked": np.array(123456789012, dtype=np.int64),
        "mask": (np.arange(7) * 37).astype(np.uint8),
        "half": np.array([1.0, -2.0], dtype=np.float16),
        "idx": np.array([[-1, 0], [1, 2**31 - 1]], dtype=np.int32),
        "empty": np.zeros((0, 3), dtype=np.float32),
    }
    for name, want in expected.items():
        got = arrays.get(name)
        check(got is not None and got.shape == want.shape and got.dtype == want.dtype and
              np.array_equal(got, want), f"{name}: got {got!r}, expected {want!r}")
    bf16_source = torch.tensor([1.00390625, 1.01171875, -2.5, 3.14159265, 1e-3], dtype=torch.float32)
    want_bits = bf16_source.to(torch.bfloat16).view(torch.int16).numpy().astype(np.uint16)
    check(np.array_equal(arrays["emb.bf16"], want_bits),
          f"bf16 bits {arrays['emb.bf16']} differ from torch's rounding {want_bits}")

    linear = torch.nn.Linear(4, 3)
    linear.load_state_dict({"weight": torch.from_numpy(arrays["fc.weight"].copy()),
                            "bias": torch.from_numpy(arrays["fc.bias"].copy())}, strict=True)
    x = torch.ones(1, 4)
    want = torch.from_numpy(expected["fc.weight"]) @ x[0] + torch.from_numpy(expected["fc.bias"])
    check(torch.equal(linear(x)[0].detach(), want), "the loaded Linear computes something else")


def write_by_hand(path, tensors, metadata=None, pad=False):
    """tensors: list of (name, dtype, array) in file order; no alignment unless the caller makes it."""
    header, blobs, offset = {}, [], 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, array in tensors:
        blob = array.tobytes()
        header[name] = {"dtype": dtype, "shape": list(array.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header).encode()
    if pad:
        text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def torch_to_crescendo(tmp):
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 5, 3)
    bn = torch.nn.BatchNorm2d(5)
    bn(torch.randn(4, 5, 6, 6))  # running stats and num_batches_tracked become non-trivial
    state = {f"conv.{k}": v for k, v in conv.state_dict().items()}
    state.update({f"bn.{k}": v for k, v in bn.state_dict().items()})
    # a 3-byte tensor first puts every later tensor at an odd offset, as a careless writer might
    tensors = [("odd", "U8", np.array([7, 8, 9], dtype=np.uint8))]
    for name, value in state.items():
        array = value.detach().numpy()
        tensors.append((name, {np.dtype(np.float32): "F32", np.dtype(np.int64): "I64"}[array.dtype], array))
    half = torch.randn(6).to(torch.bfloat16)
    tensors.append(("bf16", "BF16", half.view(torch.int16).numpy().astype(np.uint16)))
    path = os.path.join(tmp, "from_torch.safetensors")
    write_by_hand(path, tensors, metadata={"format": "pt", "note": "ünïcode"})
    out = subprocess.run([HELPER, "--dump", path], capture_output=True, text=True)
    check(out.returncode == 0, f"--dump failed: {out.stderr.strip()}")
    if out.returncode != 0:
        return
    dumped = json.loads(out.stdout)
    check(dumped["metadata"] == {"format": "pt", "note": "ünïcode"}, f"metadata {dumped['metadata']}")
    names = [t["name"] for t in dumped["tensors"]]
    check(names == sorted(name for name, _, _ in tensors), f"names {names}")
    for t in dumped["tensors"]:
        want = next(a for name, _, a in tensors if name == t["name"])
        got = np.frombuffer(bytes.fromhex(t["hex"]), dtype=want.dtype).reshape(t["shape"])
        check(t["aligned"], f"{t['name']}: crescendo's view is misaligned")
        if not np.array_equal(got, want):
            diff = np.abs(got.astype(np.float64) - want.astype(np.float64)).reshape(-1)
            worst = int(np.argmax(diff)) if diff.size else -1
            check(False, f"{t['name']}: worst element {worst}: crescendo {got.reshape(-1)[worst]}, "
                         f"torch {want.reshape(-1)[worst]}")

    # a corrupt file: crescendo must refuse it and name it
    bad = os.path.join(tmp, "overlap.safetensors")
    write_by_hand(bad, [("a", "F32", np.zeros(2, np.float32))], pad=True)
    with open(bad, "r+b") as f:
        raw = f.read().replace(b"[0, 8]", b"[0, 9]")
        f.seek(0)
        f.write(raw + b"\0")
    out = subprocess.run([HELPER, "--dump", bad], capture_output=True, text=True)
    check(out.returncode != 0 and "overlap.safetensors" in out.stderr and "need 8 bytes" in out.stderr,
          f"corrupt file: exit {out.returncode}, stderr {out.stderr.strip()!r}")


def main():
    if not os.access(HELPER, os.X_OK):
        print(f"FAIL: helper {HELPER} not built (set CR_BUILD_DIR)")
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        crescendo_to_torch(tmp)
        torch_to_crescendo(tmp)
    print(f"safetensors vs torch: {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
