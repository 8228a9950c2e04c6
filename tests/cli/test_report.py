"""report.html of a tiny three-stage run, read back with Python's html.parser.

Checked, against what the run's own metrics.jsonl and confusion CSV say:
- the page exists after training, whole (no .partial beside it), and self-contained: no http://
  or https:// address, no script at all;
- every tag closes in the order it opened, and the class names (one of them "<left & co>") come
  out escaped;
- each epoch chart (loss, accuracy, lr) has one band per stage, with the stage's size, in order,
  and a dashed line per switch; the accuracy chart a diamond per validation at a switch;
- the heatmap's percentages are the confusion matrix's rows normalized;
- one thumbnail per misclassified validation image (fewer than the grid holds here), each a PNG
  of at most 64 px whose caption names two different classes;
- a run killed after two epochs and resumed draws every epoch once, the killed run's included;
- where Debian's chromium is installed, a headless screenshot of the page is not blank and the
  page logs nothing to the console (the same checks first catch a page built to fail them);
  without chromium that part is skipped with the reason.
Exits non-zero on the first failed check."""
import base64
import csv
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
from html.parser import HTMLParser

from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_testing import check, finish, kill_after_epochs, metrics, run  # noqa: E402
from test_train_eval import make_dataset  # noqa: E402

ODD_NAME = "<left & co>"  # the class "left" renamed: it must be escaped on the page
CHARTS = ("loss", "accuracy", "lr")
VOID = {"meta", "br", "img", "hr", "input", "link", "col", "wbr"}
# the tooltip that starts each chart's point of the first series
POINT_TITLES = {"loss": "train loss, epoch ", "accuracy": "train accuracy, epoch ",
                "lr": "learning rate, epoch "}


def rename_left(data):
    for split in ("train", "val"):
        path = os.path.join(data, f"{split}.csv")
        with open(path) as f:
            lines = f.read().splitlines()
        renamed = [ODD_NAME + line[4:] if line.startswith("left,") else line for line in lines]
        with open(path, "w") as f:
            f.write("\n".join(renamed) + "\n")


def train_args(data, out):
    # A learning rate this small leaves mistakes for the confusion matrix and thumbnails.
    return ["train", "--data", data, "--val-csv", "val.csv", "--model", "simple_cnn",
            "--schedule", "16:1,24:1,32:1", "--batch-size", "8", "--lr", "0.00001",
            "--workers", "2", "--threads", "2", "--seed", "3", "--mean", "0.5", "--std", "0.25",
            "--eval-at-switch", "--out", out]


class Page(HTMLParser):
    """What the checks need of the page, and every tag that closes out of order."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.problems = [], []
        self.svg = None
        self.bands = {c: [] for c in CHARTS}
        self.switches = {c: 0 for c in CHARTS}
        self.diamonds = {c: 0 for c in CHARTS}
        self.points = {c: [] for c in CHARTS}
        self.images, self.scripts = [], 0
        self.heatmap, self.finished_heatmap, self.row, self.cell = None, None, None, None
        self.in_diamonds = self.in_title = False
        self.title = ""

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag not in VOID:
            self.stack.append(tag)
        classes = (a.get("class") or "").split()
        if tag == "script":
            self.scripts += 1
        elif tag == "svg":
            self.svg = a.get("id")
        elif tag == "rect" and "stage-band" in classes and self.svg in self.bands:
            self.bands[self.svg].append((int(a["data-stage"]), int(a["data-resolution"])))
        elif tag == "line" and "switch" in classes and self.svg in self.switches:
            self.switches[self.svg] += 1
        elif tag == "g" and "diamonds" in classes:
            self.in_diamonds = True
        elif tag == "path" and self.in_diamonds and self.svg in self.diamonds:
            self.diamonds[self.svg] += 1
        elif tag == "title" and self.svg in self.points:
            self.in_title, self.title = True, ""
        elif tag == "img":
            self.images.append(a)
        elif tag == "table" and "heatmap" in classes:
            self.heatmap = []
        elif tag == "tr" and self.heatmap is not None:
            self.row = []
        elif tag in ("td", "th") and self.row is not None:
            self.cell = ""

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes <{self.stack[-1] if self.stack else ''}> "
                                 f"at line {self.getpos()[0]}")
            return
        self.stack.pop()
        if tag == "svg":
            self.svg = None
        elif tag == "g":
            self.in_diamonds = False
        elif tag == "title" and self.in_title:
            self.in_title = False
            prefix = POINT_TITLES[self.svg]
            if self.title.startswith(prefix):
                self.points[self.svg].append(int(self.title[len(prefix):].split(":")[0]))
        elif tag in ("td", "th") and self.row is not None and self.cell is not None:
            self.row.append(self.cell.strip())
            self.cell = None
        elif tag == "tr" and self.row is not None:
            self.heatmap.append(self.row)
            self.row = None
        elif tag == "table" and self.heatmap is not None and self.row is None:
            self.finished_heatmap, self.heatmap = self.heatmap, None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data
        if self.in_title:
            self.title += data


def read_page(out):
    path = os.path.join(out, "report.html")
    check(os.path.exists(path), f"train wrote {path}")
    check(not os.path.exists(path + ".partial"), "no half-written report is left beside it")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    page = Page()
    page.feed(text)
    page.close()
    check(not page.problems, f"tags close in order: {page.problems[:3]}")
    check(not page.stack, f"every tag is closed: {page.stack}")
    return path, text, page


def expected_stages(rows):
    """(stage, resolution) of each stage the epochs went through, in order."""
    seen = []
    for r in rows:
        if not seen or seen[-1] != (r["stage"], r["resolution"]):
            seen.append((r["stage"], r["resolution"]))
    return seen


def check_page(out):
    path, text, page = read_page(out)
    rows = metrics(out)
    check("http://" not in text and "https://" not in text, "no address outside the file")
    check(page.scripts == 0 and "<script" not in text, "no script")
    check(ODD_NAME not in text and "&lt;left &amp; co&gt;" in text,
          "the class name <left & co> is escaped")

    stages = expected_stages(rows)
    check(len(stages) == 3, f"the run went through 3 stages: {stages}")
    switches_at = sum(1 for r in rows if r["switch_val_acc"] is not None)
    for chart in CHARTS:
        check(page.bands[chart] == stages, f"{chart}: one band per stage {stages}, got "
              f"{page.bands[chart]}")
        check(page.switches[chart] == len(stages) - 1, f"{chart}: a line per switch, got "
              f"{page.switches[chart]}")
        check(sorted(page.points[chart]) == [r["epoch"] for r in rows],
              f"{chart}: a point per epoch {[r['epoch'] for r in rows]}, got "
              f"{sorted(page.points[chart])}")
    check(switches_at == 2 and page.diamonds["accuracy"] == switches_at,
          f"a diamond per validation at a switch: {page.diamonds['accuracy']} of {switches_at}")

    with open(os.path.join(out, "confusion", f"{rows[-1]['epoch']}.csv"), newline="") as f:
        table = list(csv.reader(f))
    names, counts = table[0][1:], [[int(x) for x in row[1:]] for row in table[1:]]
    check(page.finished_heatmap, "the page has a heatmap")
    check(page.finished_heatmap[0][1:] == names, f"heatmap columns {page.finished_heatmap[0]}")
    for t, row in enumerate(counts):
        want = [f"{100 * (c / sum(row)):.0f}" for c in row]
        got = page.finished_heatmap[t + 1]
        check(got[0] == names[t] and got[1:] == want,
              f"heatmap row {names[t]}: {got}, the confusion CSV gives {want}")

    wrong = sum(c for t, row in enumerate(counts) for p, c in enumerate(row) if p != t)
    check(0 < wrong <= 32, f"the run leaves a few mistakes to show: {wrong}")
    thumbs = [a for a in page.images if a.get("src", "").startswith("data:image/png;base64,")]
    check(len(thumbs) == len(page.images) == wrong,
          f"one thumbnail per misclassified image: {len(thumbs)} of {wrong}")
    for a in thumbs:
        png = Image.open(io.BytesIO(base64.b64decode(a["src"].split(",", 1)[1])))
        check(png.format == "PNG" and max(png.size) <= 64 and
              png.size == (int(a["width"]), int(a["height"])), f"a thumbnail of {png.size}")
        truth, guess = a["alt"].split(" predicted as ")
        check(truth in names and guess in names and truth != guess, f"caption {a['alt']!r}")
    return path


def screenshot(chromium, page, shot, profile):
    """Renders page headless; returns chromium's stderr."""
    p = subprocess.run([chromium, "--headless", "--disable-gpu", "--no-sandbox",
                        f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
                        f"--screenshot={shot}", "--window-size=1200,2000", "file://" + page],
                       capture_output=True, text=True, timeout=300)
    check(os.path.exists(shot), f"chromium wrote a screenshot of {page}: exit {p.returncode}\n"
          f"{p.stderr[-1500:]}")
    return p.stderr


def blank(shot):
    with Image.open(shot) as img:
        return all(lo == hi for lo, hi in img.convert("RGB").getextrema())


def console_lines(stderr):
    return [line for line in stderr.splitlines() if re.search(r":CONSOLE|Uncaught", line, re.I)]


def browser_check(tmp, page):
    chromium = shutil.which("chromium")
    if chromium is None:
        print("headless browser check: skipped, chromium is not installed (Debian's chromium "
              "package; scripts/install-deps.sh test installs it where the archive has it)")
        return
    profile = os.path.join(tmp, "chromium-profile")
    # a white page whose script fails: both checks must catch it, or they prove nothing
    bad = os.path.join(tmp, "bad.html")
    with open(bad, "w") as f:
        f.write("<!DOCTYPE html><html><body style='background:#fff'>"
                "<script>undefinedFunction();</script></body></html>")
    shot = os.path.join(tmp, "bad.png")
    errors = console_lines(screenshot(chromium, bad, shot, profile))
    check(blank(shot) and errors, f"the checks catch a blank page with a script error: blank "
          f"{blank(shot)}, console {errors}")
    shot = os.path.join(tmp, "report.png")
    errors = console_lines(screenshot(chromium, page, shot, profile))
    with Image.open(shot) as img:
        check(img.size == (1200, 2000), f"a 1200x2000 screenshot, got {img.size}")
    check(not blank(shot), "the screenshot of report.html is not blank")
    check(not errors, f"report.html logs nothing to the console: {errors}")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "data")
        make_dataset(data)
        rename_left(data)
        whole = os.path.join(tmp, "whole")
        run(*train_args(data, whole))
        page = check_page(whole)

        part = os.path.join(tmp, "part")
        kill_after_epochs(train_args(data, part), part, 2)
        run("train", "--resume", part)
        check(len(metrics(part)) == 3, "the resumed run logged 3 epochs")
        check_page(part)

        browser_check(tmp, page)
    finish()


if __name__ == "__main__":
    main()
