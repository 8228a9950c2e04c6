"""crescendo train --time-budget end to end on the tiny dataset of test_train_eval.py; registered to
run alone (RUN_SERIAL), since it checks wall time and the plan is made from timings taken at the
start.

Checked: the schedule's sizes get epochs that fill the budget, so that the run, planning included,
ends within 10% of it (in builds without sanitizers, CR_SANITIZED unset); the printed plan is what trains and config.yaml records it; a killed and
resumed run keeps it rather than planning again; a budget that holds no epoch, an auto schedule
and a malformed duration fail with a one-line reason. Exits non-zero on the first failed check."""
import os
import re
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_testing import check, finish, kill_after_epochs, metrics, run  # noqa: E402
from test_train_eval import make_dataset  # noqa: E402
from test_train_schedules import args  # noqa: E402


def test_time_budget(tmp, data):
    out = os.path.join(tmp, "budget")
    budget = ["--schedule", "16:1,24:1", "--time-budget", "6s"]
    start = time.monotonic()
    p = run(*args(data, out, *budget))
    seconds = time.monotonic() - start
    if os.environ.get("CR_SANITIZED") == "1":
        # shadow memory and checked allocations make the timed batches and the epochs cost
        # differently, so a sanitized build says nothing of how well the plan fills its budget
        print(f"a 6 s budget took {seconds:.2f} s (sanitized build: not held to 10%)")
    else:
        check(5.4 <= seconds <= 6.6, f"a 6 s budget took {seconds:.2f} s")
    plan = re.search(r"^plan (16:(\d+),24:(\d+)): ", p.stdout, re.M)
    check(plan is not None and "time budget 6s (6 s): measured in" in p.stdout,
          f"the plan is printed: {p.stdout[:800]}")
    if not plan:
        return
    rows = metrics(out)
    sizes = [16] * int(plan.group(2)) + [24] * int(plan.group(3))
    check([r["resolution"] for r in rows] == sizes, f"the plan {plan.group(1)} is trained")
    with open(os.path.join(out, "config.yaml")) as f:
        config = f.read()
    check(f'schedule: "{plan.group(1)}"' in config and 'time-budget: "6s"' in config,
          f"config.yaml records the plan: {config}")
    part = os.path.join(tmp, "budget_part")
    kill_after_epochs(args(data, part, *budget), part, 2)
    with open(os.path.join(part, "config.yaml")) as f:
        planned = re.search(r'schedule: "([^"]+)"', f.read()).group(1)
    p = run("train", "--resume", part)
    check("time budget" not in p.stdout, "a resumed run keeps its plan")
    resumed = [r["resolution"] for r in metrics(part)]
    want = schedule_sizes(planned)
    check(resumed == want, f"the resumed run ends its plan {planned}: {resumed}")
    for extra, needle in ((["--time-budget", "0.001s"], "holds no epoch at 24 px"),
                          (["--time-budget", "5 minutes"], "expected a duration"),
                          (["--schedule", "auto:16,24", "--time-budget", "1m"], "auto schedule")):
        p = run(*args(data, out, "--schedule", "16:1,24:1", *extra, "--overwrite"), expect=1)
        check(needle in p.stderr and len(p.stderr.strip().splitlines()) == 1,
              f"{extra}: one line naming {needle!r}: {p.stderr}")


def schedule_sizes(spec):
    """The size of each epoch of an explicit schedule RES:EPOCHS,..."""
    sizes = []
    for stage in spec.split(","):
        side, epochs = stage.split(":")
        sizes += [int(side)] * int(epochs)
    return sizes


def main():
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "data")
        make_dataset(data)
        test_time_budget(tmp, data)
    finish()


if __name__ == "__main__":
    main()
