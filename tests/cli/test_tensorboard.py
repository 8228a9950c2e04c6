"""The TensorBoard event file of a run, read two ways: by a decoder written here from the format's
definition (TFRecord framing with masked CRC-32C, Event and Summary protocol buffers), and by the
tensorboard package's own EventAccumulator where a Python with tensorboard can be had (the
project's .venv, or one made in the build folder from PyPI; otherwise that half is skipped, saying
why). Both must give, per epoch, the values metrics.jsonl has; and a run killed and resumed must
read as the uninterrupted one, each epoch once, through the session-restart event it writes."""
import glob
import json
import os
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_testing import check, finish, kill_after_epochs, metrics, run  # noqa: E402
from test_train_eval import make_dataset, train_args  # noqa: E402

# tag -> metrics.jsonl key
TAGS = {"loss/train": "train_loss", "loss/val": "val_loss", "accuracy/train": "train_acc",
        "accuracy/val": "val_acc", "accuracy/val_top5": "val_top5", "lr": "lr",
        "resolution": "resolution", "batch_size": "batch_size",
        "images_per_sec": "images_per_sec"}


def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def masked(data):
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def fields(buf):
    """(field number, wire type, value) of a protocol buffer message."""
    i = 0
    while i < len(buf):
        key, i = varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = varint(buf, i)
        elif wire == 1:
            value, i = buf[i:i + 8], i + 8
        elif wire == 5:
            value, i = buf[i:i + 4], i + 4
        elif wire == 2:
            n, i = varint(buf, i)
            value, i = buf[i:i + n], i + n
        else:
            raise ValueError(f"wire type {wire}")
        yield number, wire, value


def varint(buf, i):
    shift = value = 0
    while True:
        b = buf[i]
        value |= (b & 0x7F) << shift
        i, shift = i + 1, shift + 7
        if not b & 0x80:
            return value, i


def read_events(path):
    """The events of one file: dicts with step, wall_time and version, restart or scalars."""
    with open(path, "rb") as f:
        data = f.read()
    events, i = [], 0
    while i < len(data):
        head = data[i:i + 8]
        (length,) = struct.unpack("<Q", head)
        (head_crc,) = struct.unpack("<I", data[i + 8:i + 12])
        check(head_crc == masked(head), f"{path}: length CRC of the record at byte {i}")
        body = data[i + 12:i + 12 + length]
        (body_crc,) = struct.unpack("<I", data[i + 12 + length:i + 16 + length])
        check(body_crc == masked(body), f"{path}: data CRC of the record at byte {i}")
        i += 16 + length
        event = {"step": 0, "scalars": {}}
        for number, _, value in fields(body):
            if number == 1:
                event["wall_time"] = struct.unpack("<d", value)[0]
            elif number == 2:
                event["step"] = value
            elif number == 3:
                event["version"] = value.decode()
            elif number == 5:
                for _, _, v in fields(value):
                    item = dict((n, x) for n, _, x in fields(v))
                    event["scalars"][item[1].decode()] = struct.unpack("<f", item[2])[0]
            elif number == 6:
                event["restart"] = dict((n, x) for n, _, x in fields(value)).get(1) == 1
        events.append(event)
    check(i == len(data), f"{path}: ends at a record boundary")
    return events


def scalars_of_run(out):
    """{tag: {step: value}} over the run's event files in time order, a restart dropping what
    earlier files logged from its step on, as TensorBoard does."""
    files = sorted(glob.glob(os.path.join(out, "events.out.tfevents.*")))
    check(files, f"an event file in {out}")
    merged = {}
    for path in files:
        events = read_events(path)
        check(events[0].get("version") == "brain.Event:2", f"{path} starts with the version")
        for e in events[1:]:
            if e.get("restart"):
                for values in merged.values():
                    for step in [s for s in values if s >= e["step"]]:
                        del values[step]
            for tag, value in e["scalars"].items():
                check(e["step"] not in merged.get(tag, {}), f"{tag} at step {e['step']} once")
                merged.setdefault(tag, {})[e["step"]] = value
    return merged


def compare(scalars, rows, how):
    for tag, key in TAGS.items():
        want = {r["epoch"]: r[key] for r in rows if r[key] is not None}
        got = scalars.get(tag, {})
        check(sorted(got) == sorted(want), f"{how}: {tag} at epochs {sorted(got)}, "
              f"metrics.jsonl has {sorted(want)}")
        for epoch, value in want.items():
            check(got[epoch] == struct.unpack("<f", struct.pack("<f", value))[0],
                  f"{how}: {tag} at epoch {epoch} is {got[epoch]}, metrics.jsonl {value}")


def tensorboard_python(build):
    """A Python that imports tensorboard, or None and why not."""
    source = os.environ.get("CR_SOURCE_DIR", ".")
    candidates = [os.path.join(source, ".venv", "bin", "python"),
                  os.path.join(build, "tensorboard-venv", "bin", "python")]
    for python in candidates:
        if os.path.exists(python) and subprocess.run(
                [python, "-c", "import tensorboard"], capture_output=True).returncode == 0:
            return python, None
    venv = os.path.join(build, "tensorboard-venv")
    try:
        subprocess.run([sys.executable, "-m", "venv", venv], check=True, capture_output=True,
                       timeout=120)
        subprocess.run([os.path.join(venv, "bin", "pip"), "install", "-q", "--timeout", "30",
                        "tensorboard"], check=True, capture_output=True, timeout=300)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as e:
        detail = getattr(e, "stderr", b"") or b""
        return None, f"no tensorboard from PyPI ({e}; {detail.decode(errors='replace')[-200:]})"
    return candidates[1], None


READER = """
import json, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
acc = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0})
acc.Reload()
print(json.dumps({t: {str(s.step): s.value for s in acc.Scalars(t)} for t in acc.Tags()["scalars"]}))
"""


def main():
    build = os.environ.get("CR_BUILD_DIR", "build")
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "data")
        make_dataset(data)
        whole = os.path.join(tmp, "whole")
        run(*train_args(data, whole))
        compare(scalars_of_run(whole), metrics(whole), "a run")

        part = os.path.join(tmp, "part")
        kill_after_epochs(train_args(data, part), part, 2)
        run("train", "--resume", part)
        check(len(glob.glob(os.path.join(part, "events.out.tfevents.*"))) == 2,
              "the resumed run wrote a second event file")
        compare(scalars_of_run(part), metrics(part), "a killed and resumed run")

        python, why = tensorboard_python(build)
        if python is None:
            print(f"tensorboard's reader: skipped, {why}")
        else:
            for out in (whole, part):
                p = subprocess.run([python, "-c", READER, out], capture_output=True, text=True,
                                   timeout=300)
                check(p.returncode == 0, f"tensorboard reads {out}: {p.stderr[-1000:]}")
                read = {t: {int(s): v for s, v in steps.items()}
                        for t, steps in json.loads(p.stdout).items()}
                compare(read, metrics(out), f"tensorboard's reader of {os.path.basename(out)}")
    finish()


if __name__ == "__main__":
    main()
