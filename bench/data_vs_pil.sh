#!/bin/sh
# The data loader against PIL + torchvision on the same photographs: builds ~300 JPEGs of about
# 500x375 once (bench/make_jpegs.py), measures both at each resolution with 1 and 2 workers, and
# prints images/s side by side with the ratio and the 1 -> 2 worker scaling.
#
#   bench/data_vs_pil.sh [CRESCENDO] [IMAGES]
#
# CRESCENDO is the program (default build/crescendo), IMAGES the folder of JPEGs (default
# /tmp/crescendo-jpegs, made when it has no train.csv). A pass reads every image REPEAT times
# (default 4, through a CSV listing each row that often), so that a pass holds enough batches for
# the DataLoader's workers, which take whole batches, to share it evenly. RESOLUTIONS, WORKERS and
# PASSES in the environment change what is measured (defaults 64,128,256,512; 1,2; 3), and
# CRESCENDO_FLAGS adds options to `crescendo bench data` (--jpeg-scale full decodes JPEGs at full
# size, as PIL does; smallest at PIL's draft() scale).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
program=${1:-$here/../build/crescendo}
images=${2:-/tmp/crescendo-jpegs}
python=${PYTHON:-/usr/bin/python3}
resolutions=${RESOLUTIONS:-64,128,256,512}
workers=${WORKERS:-1,2}
passes=${PASSES:-3}
repeat=${REPEAT:-4}

[ -f "$images/train.csv" ] || "$python" "$here/make_jpegs.py" "$images"
csv=repeat$repeat.csv
{
    head -n 1 "$images/train.csv"
    i=0
    while [ "$i" -lt "$repeat" ]; do
        tail -n +2 "$images/train.csv"
        i=$((i + 1))
    done
} >"$images/$csv"
results=$(mktemp)
trap 'rm -f "$results"' EXIT
"$program" bench data --data "$images" --csv "$csv" --resolution "$resolutions" \
    --workers "$workers" --passes "$passes" --json ${CRESCENDO_FLAGS:-} >>"$results"
"$python" "$here/data_pil.py" --data "$images" --csv "$csv" --resolution "$resolutions" \
    --workers "$workers" --passes "$passes" --json >>"$results"

"$python" - "$results" <<'EOF'
import json
import sys

rate = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    rate[r["framework"], r["resolution"], r["workers"]] = r["images_per_sec"]
sides = sorted({k[1] for k in rate})
counts = sorted({k[2] for k in rate})
print(f"{'res':>5} {'workers':>7} {'crescendo img/s':>16} {'PIL img/s':>10} {'ratio':>6}"
      f" {'crescendo scaling':>18} {'PIL scaling':>12}")
for side in sides:
    for n in counts:
        c, p = rate.get(("crescendo", side, n)), rate.get(("pil", side, n))
        if c is None or p is None:
            continue
        c1, p1 = rate.get(("crescendo", side, counts[0])), rate.get(("pil", side, counts[0]))
        print(f"{side:>5} {n:>7} {c:>16.1f} {p:>10.1f} {c / p:>5.2f}x"
              f" {c / c1:>17.2f}x {p / p1:>11.2f}x")
EOF
