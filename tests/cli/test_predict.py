"""crescendo predict end to end, and what eval shares with it (--tta flip, per-class metrics), on
the tiny dataset of test_train_eval.py and a model trained on it here.

The test images: the validation images, ambiguous ones (both squares, a dim square, a square at
the left edge at any height) and left-right mirrors of some of them, in a shuffled order.
Checked:
- predict on a CSV of paths only writes the header ID,image_path,target and one row per image
  in the CSV's order, IDs 0..n-1, targets in range, and at least two classes predicted;
- its targets give the confusion matrix that eval writes for a labeled CSV of the same images
  (the labels chosen at random for the ambiguous ones), with or without --tta flip, and eval's
  top-1 and per-class precision, recall, F1 and support agree with that matrix;
- an ID column is copied as given (quoted where needed) and a placeholder target column is not
  read; without --csv every image under --data is predicted, in sorted order, as from a CSV;
- --topk K adds topJ_class,topJ_prob columns: class names, the first the target's, and
  probabilities in [0, 1], best first, summing to 1 over all the classes;
- --tta flip gives an image and its mirror the same probabilities, the mean of theirs without
  it, which differ;
- --precision bf16 predicts (or is refused on a CPU without bf16 arithmetic);
- a CSV without image_path, a row without a path, a missing or corrupt image, and --topk above
  the class count each exit 1 with one line naming the file (and row), and leave no output.
Exits non-zero on the first failed check."""
import csv
import json
import os
import re
import sys
import tempfile

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_testing import check, finish, run  # noqa: E402
from test_train_eval import CLASSES, make_dataset, train_args  # noqa: E402

BATCH = "8"


def read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def make_test_images(data, rng):
    """In data/test: ambiguous images (both squares, or a dim one), images with a square at the
    left edge at heights from top to bottom, and left-right mirrors of those and of some
    validation PNGs. Returns the new paths and the (image, mirror) pairs."""
    os.makedirs(os.path.join(data, "test"), exist_ok=True)
    paths, pairs = [], []

    def save(img, rel):
        Image.fromarray(img).save(os.path.join(data, rel))
        paths.append(rel)

    for i in range(6):
        img = rng.integers(0, 60, size=(24, 24, 3), dtype=np.uint8)
        if i % 2 == 0:
            img[2:10, 2:10] = 230
            img[14:22, 14:22] = 230
        else:
            img[2:10, 2:10] = 110 + 10 * i
        save(img, f"test/ambiguous_{i}.png")
    # The classes differ by height, so a mirror changes little, except near the boundary between
    # them: where the heights sweep over.
    for i in range(8):
        img = rng.integers(0, 60, size=(24, 24, 3), dtype=np.uint8)
        img[4 + 2 * i:12 + 2 * i, 0:8] = 180
        save(img, f"test/edge_{i}.png")
        save(img[:, ::-1].copy(), f"test/edge_{i}_mirror.png")
        pairs.append((f"test/edge_{i}.png", f"test/edge_{i}_mirror.png"))
    for name in CLASSES:
        original = f"val/{name}_0.png"
        img = np.asarray(Image.open(os.path.join(data, original)))
        save(img[:, ::-1].copy(), f"test/{name}_0_mirror.png")
        pairs.append((original, f"test/{name}_0_mirror.png"))
    return paths, pairs


def confusion_from(targets, labels):
    m = [[0] * len(CLASSES) for _ in CLASSES]
    for t, p in zip(labels, targets):
        m[t][p] += 1
    return m


def read_confusion(path):
    header, rows = read_csv(path)
    check(header == ["true\\pred", *CLASSES], f"confusion header {header}")
    return [[int(x) for x in r[1:]] for r in rows]


def predict(ckpt, data, out, *extra):
    p = run("predict", "--checkpoint", ckpt, "--data", data, "--out", out, "--batch-size", BATCH,
            "--workers", "2", "--threads", "2", *extra)
    header, rows = read_csv(out)
    return p, header, rows


def check_eval_matches(ckpt, data, tmp, labels, targets, tta):
    """eval on labeled.csv writes the confusion matrix of predict's targets, and reports the
    top-1 and per-class numbers that matrix gives."""
    conf_path = os.path.join(tmp, f"confusion_{tta}.csv")
    p = run("eval", "--checkpoint", ckpt, "--data", data, "--csv", "labeled.csv", "--batch-size",
            BATCH, "--workers", "2", "--threads", "2", "--tta", tta, "--confusion-csv", conf_path)
    want = confusion_from(targets, labels)
    check(read_confusion(conf_path) == want,
          f"--tta {tta}: eval's confusion matrix {read_confusion(conf_path)} is predict's {want}")
    top1 = 100.0 * sum(want[c][c] for c in range(len(CLASSES))) / len(labels)
    check(f"top-1 {top1:.2f}%" in p.stdout, f"--tta {tta}: eval reports top-1 {top1:.2f}%: "
          f"{p.stdout[-300:]}")
    check((", flip TTA" in p.stdout) == (tta == "flip"), f"--tta {tta}: eval says whether TTA ran")
    check("class  precision  recall      F1  support" in p.stdout,
          f"eval prints the per-class header: {p.stdout}")
    for c, name in enumerate(CLASSES):
        support = sum(want[c])
        predicted = sum(want[t][c] for t in range(len(CLASSES)))
        precision = want[c][c] / predicted if predicted else 0.0
        recall = want[c][c] / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        line = f"{name:<5}  {precision:9.4f}  {recall:6.4f}  {f1:6.4f}  {support:7d}"
        check(line in p.stdout.splitlines(), f"--tta {tta}: eval prints {line!r}: {p.stdout}")


def test_paths_only(ckpt, data, tmp, order, labels):
    write_csv(os.path.join(data, "test.csv"), ["image_path"], [[path] for path in order])
    write_csv(os.path.join(data, "labeled.csv"), ["image_path", "target"],
              [[path, label] for path, label in zip(order, labels)])
    targets = {}
    for tta in ("none", "flip"):
        out = os.path.join(tmp, f"paths_{tta}.csv")
        _, header, rows = predict(ckpt, data, out, "--csv", "test.csv", "--tta", tta)
        check(header == ["ID", "image_path", "target"], f"header {header}")
        check(len(rows) == len(order), f"{len(rows)} rows for {len(order)} images")
        check([r[0] for r in rows] == [str(i) for i in range(len(order))], "IDs 0..n-1")
        check([r[1] for r in rows] == order, "rows in the CSV's order")
        check(all(r[2].isdigit() and int(r[2]) < len(CLASSES) for r in rows),
              f"targets in range: {[r[2] for r in rows]}")
        targets[tta] = [int(r[2]) for r in rows]
        check(len(set(targets[tta])) >= 2, f"more than one class predicted: {targets[tta]}")
        check_eval_matches(ckpt, data, tmp, labels, targets[tta], tta)
    return targets["none"]


def test_ids_and_folder(ckpt, data, tmp, order, targets):
    ids = [f"img-{i:03d}" for i in range(len(order))]
    ids[1] = "a,b"
    ids[2] = 'say "hi"'
    write_csv(os.path.join(data, "with_ids.csv"), ["ID", "image_path", "target"],
              [[i, path, ""] for i, path in zip(ids, order)])
    out = os.path.join(tmp, "ids.csv")
    _, header, rows = predict(ckpt, data, out, "--csv", "with_ids.csv")
    check(header == ["ID", "image_path", "target"], f"header {header}")
    check([r[0] for r in rows] == ids, f"IDs kept as given: {[r[0] for r in rows][:4]}")
    check([int(r[2]) for r in rows] == targets, "the same targets with an ID column")

    # Without --csv: every image under the folder, its own files first, then subfolders.
    # Clear images only, as their batches differ from the CSV's.
    folder = os.path.join(tmp, "flat")
    clear = [path for path in order if path.startswith("val/")]
    names = {"b.png": clear[0], "a.png": clear[1], "sub/c.png": clear[2], "sub/d/e.png": clear[3]}
    for name, source in names.items():
        os.makedirs(os.path.dirname(os.path.join(folder, name)), exist_ok=True)
        with open(os.path.join(data, source), "rb") as f, open(os.path.join(folder, name), "wb") as g:
            g.write(f.read())
    with open(os.path.join(folder, "notes.txt"), "w") as f:
        f.write("not an image")
    _, header, rows = predict(ckpt, folder, os.path.join(tmp, "folder.csv"))
    want = ["a.png", "b.png", "sub/c.png", "sub/d/e.png"]
    check([r[1] for r in rows] == want, f"folder order {[r[1] for r in rows]}")
    check([r[0] for r in rows] == ["0", "1", "2", "3"], "folder IDs 0..n-1")
    by_path = dict(zip(order, targets))
    check([int(r[2]) for r in rows] == [by_path[names[w]] for w in want],
          "a folder's images get the targets they get from a CSV")


def test_topk(ckpt, data, tmp, targets):
    _, header, rows = predict(ckpt, data, os.path.join(tmp, "top3.csv"), "--csv", "test.csv",
                              "--topk", "3")
    check(header == ["ID", "image_path", "target", "top1_class", "top1_prob", "top2_class",
                     "top2_prob", "top3_class", "top3_prob"], f"--topk 3 header {header}")
    for r, target in zip(rows, targets):
        names, probs = r[3::2], [float(x) for x in r[4::2]]
        check(int(r[2]) == target, "--topk keeps the targets")
        check(names[0] == CLASSES[target] and sorted(names) == sorted(CLASSES),
              f"top classes {names} start with the target {target}")
        check(all(0.0 <= p <= 1.0 for p in probs) and probs == sorted(probs, reverse=True),
              f"probabilities in [0, 1], best first: {probs}")
        check(abs(sum(probs) - 1.0) < 1e-5, f"all 3 classes' probabilities sum to 1: {probs}")
    _, header, rows = predict(ckpt, data, os.path.join(tmp, "top1.csv"), "--csv", "test.csv",
                              "--topk", "1")
    check(header[3:] == ["top1_class", "top1_prob"] and len(rows[0]) == 5, f"--topk 1 {header}")


def test_tta_symmetry(ckpt, data, tmp, pairs):
    probs_of = {}
    for tta in ("none", "flip"):
        _, _, rows = predict(ckpt, data, os.path.join(tmp, f"pairs_{tta}.csv"), "--csv",
                             "test.csv", "--topk", "3", "--tta", tta)
        probs_of[tta] = {r[1]: {c: float(x) for c, x in zip(r[3::2], r[4::2])} for r in rows}
    plain, flip = probs_of["none"], probs_of["flip"]

    def gap(p, q):
        return max(abs(p[c] - q[c]) for c in CLASSES)

    for a, b in pairs:
        check(gap(flip[a], flip[b]) < 1e-5,
              f"--tta flip: {a} and its mirror alike: {flip[a]} {flip[b]}")
        mean = {c: (plain[a][c] + plain[b][c]) / 2 for c in CLASSES}
        check(gap(flip[a], mean) < 1e-5,
              f"--tta flip: {a} gets the mean of its and its mirror's: {flip[a]} {mean}")
    worst = max(gap(plain[a], plain[b]) for a, b in pairs)
    check(worst > 1e-2, f"without --tta an image and its mirror differ (largest gap {worst})")


def test_bf16(ckpt, data, tmp, order):
    out = os.path.join(tmp, "bf16.csv")
    args = ["predict", "--checkpoint", ckpt, "--data", data, "--csv", "test.csv", "--out", out,
            "--precision", "bf16"]
    if "bf16:     supported" not in run("info").stdout:
        p = run(*args, expect=1)
        check("no fast bf16 arithmetic" in p.stderr, f"bf16 refused: {p.stderr[-200:]}")
        return
    run(*args)
    header, rows = read_csv(out)
    check([r[1] for r in rows] == order and all(int(r[2]) < len(CLASSES) for r in rows),
          "--precision bf16 predicts every image")


def test_searched_resolution(ckpt, data, tmp):
    """Without --resolution, the best size of the run's test resolution search, when it has one."""
    out = os.path.join(tmp, "sized.csv")
    args = ["predict", "--checkpoint", ckpt, "--data", data, "--csv", "test.csv", "--out", out]
    check("at 24x24" in run(*args).stdout, "predict runs at the last training size by default")
    search = os.path.join(os.path.dirname(ckpt), "test_res_search.json")
    with open(search, "w") as f:
        json.dump({"train_resolution": 24, "results": [
            {"resolution": 24, "val_loss": 0.5, "val_acc": 0.5},
            {"resolution": 32, "val_loss": 0.4, "val_acc": 0.9},
            {"resolution": 40, "val_loss": 0.4, "val_acc": 0.9}]}, f)
    p = run(*args)
    check("at 32x32" in p.stdout, f"predict takes the search's first best size: {p.stdout}")
    check("at 24x24" in run(*args, "--resolution", "24").stdout, "--resolution overrides it")
    os.remove(search)


def test_bad_inputs(ckpt, data, tmp):
    with open(os.path.join(data, "broken.png"), "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    good = "val/left_0.png"
    cases = [
        ("no_path.csv", f"ID,path\n1,{good}\n", ["no_path.csv:1", "image_path"]),
        ("empty_path.csv", f"ID,image_path\n1,{good}\n2,\n", ["empty_path.csv:3", "empty image"]),
        ("missing.csv", f"image_path\n{good}\nnope.png\n", ["missing.csv:3", "nope.png"]),
        ("corrupt.csv", f"image_path\n{good}\nbroken.png\n", ["corrupt.csv:3", "broken.png"]),
    ]
    out = os.path.join(tmp, "bad_out.csv")
    for name, text, needles in cases:
        with open(os.path.join(data, name), "w") as f:
            f.write(text)
        p = run("predict", "--checkpoint", ckpt, "--data", data, "--csv", name, "--out", out,
                expect=1)
        lines = [line for line in p.stderr.splitlines() if line.strip()]
        check(len(lines) == 1 and all(n in lines[0] for n in needles),
              f"{name}: one line naming {needles}: {lines}")
        check(not os.path.exists(out) and not os.path.exists(out + ".partial"),
              f"{name}: no output left behind")
    p = run("predict", "--checkpoint", ckpt, "--data", data, "--csv", "test.csv", "--out", out,
            "--topk", "4", expect=1)
    check("--topk 4: the model has 3 classes" in p.stderr, f"--topk 4 refused: {p.stderr}")
    p = run("predict", "--checkpoint", ckpt, "--data", data, "--out", out, "--tta", "crop",
            expect=2)
    check("--tta" in p.stderr, f"--tta crop is a usage error: {p.stderr}")
    p = run("predict", "--checkpoint", ckpt, "--data", data, expect=2)
    check("--out" in p.stderr, f"--out is required: {p.stderr}")


def test_help():
    for command in ("predict", "eval"):
        p = run(command, "--help")
        for option in ("--tta", "--precision", "--resolution", "--checkpoint"):
            check(option in p.stdout, f"{command} --help lists {option}")
    p = run("predict", "--help")
    check("--topk" in p.stdout and "--out" in p.stdout, "predict --help lists --topk and --out")
    check(re.search(r"^\s*predict\s", run("--help").stdout, re.M) is not None,
          "crescendo --help lists predict")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "data")
        make_dataset(data)
        rng = np.random.default_rng(7)
        extra, pairs = make_test_images(data, rng)
        _, val_rows = read_csv(os.path.join(data, "val.csv"))
        images = [(r[1], int(r[2])) for r in val_rows]
        images += [(path, int(rng.integers(0, len(CLASSES)))) for path in extra]
        order = rng.permutation(len(images))
        paths = [images[i][0] for i in order]
        labels = [images[i][1] for i in order]
        out = os.path.join(tmp, "run")
        run(*train_args(data, out))
        ckpt = os.path.join(out, "last.safetensors")
        test_help()
        targets = test_paths_only(ckpt, data, tmp, paths, labels)
        test_ids_and_folder(ckpt, data, tmp, paths, targets)
        test_topk(ckpt, data, tmp, targets)
        test_tta_symmetry(ckpt, data, tmp, pairs)
        test_bf16(ckpt, data, tmp, paths)
        test_searched_resolution(ckpt, data, tmp)
        test_bad_inputs(ckpt, data, tmp)
    finish()


if __name__ == "__main__":
    main()
