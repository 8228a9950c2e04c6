#!/usr/bin/env bash
# crescendo's training step in fp32 and bf16 against PyTorch's modes on this machine, interleaved
# configuration by configuration so that drift hits both sides alike; prints images/s and ratios.
#
#   bench/train_vs_pytorch.sh    # the five configurations below; a PyTorch mode stops after
#                                # about BUDGET seconds, plus torch.compile's compilation
#   CONFIGS="simple_cnn:28:128" STEPS=3 WARMUP=2 bench/train_vs_pytorch.sh
#
# CONFIGS: MODEL:RESOLUTION:BATCH, space-separated (simple_cnn takes 1 input channel, the ResNets
# 3). PyTorch runs bench/pytorch_train_step.py in the newest torch of the virtual environment
# VENV_PYTHON (default .venv/bin/python; see README) and in Debian's torch (DEBIAN_PYTHON, default
# /usr/bin/python3), each when it imports, in every mode or those MODES lists; a torch that cannot
# run torch.compile says why under the table. STEPS timed and WARMUP warm-up steps (defaults 20
# and 5; PyTorch takes at least 2 warm-up steps, and as many timed steps as fit in BUDGET seconds,
# default 60, when the full count would not), THREADS for both sides (default 2), CRESCENDO the
# program (default build/crescendo). The JSON lines are kept in OUT (default a new temporary
# folder) as results.jsonl, with the programs' stderr beside them.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
crescendo=${CRESCENDO:-$root/build/crescendo}
venv_python=${VENV_PYTHON:-$root/.venv/bin/python}
debian_python=${DEBIAN_PYTHON:-/usr/bin/python3}
configs=${CONFIGS:-"resnet18:64:64 resnet18:128:64 resnet18:224:64 resnet50:128:64
                    simple_cnn:28:128"}
steps=${STEPS:-20}
warmup=${WARMUP:-5}
threads=${THREADS:-2}
budget=${BUDGET:-60}
out=${OUT:-$(mktemp -d)}
mkdir -p "$out"
results="$out/results.jsonl"
: >"$results"

modes=${MODES:-fp32,fp32_cl,bf16,bf16_cl,compile_fp32_cl,compile_bf16_cl}

crescendo_side() { # PRECISION MODEL RESOLUTION BATCH CHANNELS
    OMP_NUM_THREADS=$threads "$crescendo" bench train --precision "$1" --model "$2" \
        --resolution "$3" --batch-size "$4" --channels "$5" --threads "$threads" \
        --warmup "$warmup" --steps "$steps" --json >>"$results" 2>>"$out/crescendo.err" ||
        echo "  crescendo $1 failed: $(tail -n 1 "$out/crescendo.err")" >&2
}

torch_side() { # PYTHON LABEL MODEL RESOLUTION BATCH
    if ! "$1" -c "import torch, torchvision" 2>/dev/null; then
        echo "  $2: $1 cannot import torch and torchvision, left out" >&2
        return 0
    fi
    local began=$SECONDS
    OMP_NUM_THREADS=$threads TORCHINDUCTOR_COMPILE_THREADS=$threads "$1" \
        "$here/pytorch_train_step.py" --json --model "$3" --resolution "$4" --batch-size "$5" \
        --modes "$modes" --threads "$threads" --warmup "$warmup" --steps "$steps" \
        --budget "$budget" 2>>"$out/torch-$2.err" |
        sed "s/^{/{\"framework\": \"$2\", /" >>"$results" ||
        echo "  $2 failed: $(tail -n 1 "$out/torch-$2.err")" >&2
    echo "  $2: $((SECONDS - began)) s" >&2
}

for config in $configs; do
    IFS=: read -r model resolution batch <<<"$config"
    channels=3
    [ "$model" = simple_cnn ] && channels=1
    echo "$model ${resolution}px batch $batch" >&2
    began=$SECONDS
    crescendo_side fp32 "$model" "$resolution" "$batch" "$channels"
    crescendo_side bf16 "$model" "$resolution" "$batch" "$channels"
    echo "  crescendo: $((SECONDS - began)) s" >&2
    torch_side "$venv_python" torch "$model" "$resolution" "$batch"
    torch_side "$debian_python" torch-debian "$model" "$resolution" "$batch"
done

/usr/bin/python3 "$here/train_table.py" "$results"
echo "JSON lines: $results" >&2
