#!/usr/bin/env bash
# crescendo's training step in fp32 and bf16 against PyTorch's modes on this machine, interleaved
# configuration by configuration so that drift hits both sides alike; prints images/s and ratios.
#
#   bench/train_vs_pytorch.sh            # the five configurations below, ~15 minutes on 2 cores
#   CONFIGS="resnet18:64:64" STEPS=5 WARMUP=2 bench/train_vs_pytorch.sh
#
# CONFIGS: MODEL:RESOLUTION:BATCH, space-separated. PyTorch runs bench/pytorch_train_step.py in
# the newest torch of the virtual environment VENV_PYTHON (default .venv/bin/python; see README)
# in every mode, and in Debian's torch (/usr/bin/python3) without torch.compile, when each imports.
# The JSON lines are kept in OUT.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
crescendo=${CRESCENDO:-$root/build/crescendo}
venv_python=${VENV_PYTHON:-$root/.venv/bin/python}
debian_python=${DEBIAN_PYTHON:-/usr/bin/python3}
configs=${CONFIGS:-"resnet18:64:64 resnet18:128:64 resnet18:224:64 resnet50:128:64 simple_cnn:28:128"}
steps=${STEPS:-20}
warmup=${WARMUP:-5}
threads=${THREADS:-2}
out=${OUT:-$(mktemp -d)}
mkdir -p "$out"
results="$out/results.jsonl"
: >"$results"

newest_modes=fp32,fp32_cl,bf16,bf16_cl,compile_fp32_cl,compile_bf16_cl
debian_modes=fp32,fp32_cl,bf16,bf16_cl

torch_side() { # PYTHON LABEL MODES MODEL RESOLUTION BATCH
    "$1" -c "import torch, torchvision" 2>/dev/null || return 0
    OMP_NUM_THREADS=$threads "$1" "$here/pytorch_train_step.py" --json --model "$4" \
        --resolution "$5" --batch-size "$6" --modes "$3" --threads "$threads" \
        --warmup "$warmup" --steps "$steps" 2>"$out/torch-$2.err" |
        sed "s/^{/{\"framework\": \"$2\", /" >>"$results"
}

for config in $configs; do
    IFS=: read -r model resolution batch <<<"$config"
    channels=3
    [ "$model" = simple_cnn ] && channels=1
    echo "$model ${resolution}px batch $batch" >&2
    for precision in fp32 bf16; do
        "$crescendo" bench train --model "$model" --resolution "$resolution" --batch-size "$batch" \
            --channels "$channels" --precision "$precision" --threads "$threads" \
            --warmup "$warmup" --steps "$steps" --json >>"$results" 2>>"$out/crescendo.err" ||
            echo "  crescendo $precision failed: $(tail -n 1 "$out/crescendo.err")" >&2
    done
    torch_side "$venv_python" torch "$newest_modes" "$model" "$resolution" "$batch"
    torch_side "$debian_python" torch-debian "$debian_modes" "$model" "$resolution" "$batch"
done

/usr/bin/python3 "$here/train_table.py" "$results"
echo "JSON lines: $results" >&2
