#!/usr/bin/env bash
# tests/bench/bench_gpu_input.sh - does the streaming reader keep the GPU
# fed? Trains the homework ResNet on CUDA for one epoch over 60,000 real
# Fashion-MNIST images written as 64x64 RGB JPEG shards on local disk, and
# prints images/s and the fraction of the epoch spent waiting for the next
# batch (target: under 5%), for the JPEG layout (decoded on the CPU every
# epoch) and the raw-pixel layout.
#   bench_gpu_input.sh [BUILD_DIR] [BATCH] [THREADS]   (no GPU: prints SKIP)
set -euo pipefail
build=${1:-build}
batch=${2:-128}
threads=${3:-0}
bin="$build/bin"
work=$(mktemp -d "${TMPDIR:-/tmp}/tfr-gpuin-XXXXXX")
trap 'rm -rf "$work"' EXIT
"$bin/fashion-mnist-tree" "$work/fm" >/dev/null
for layout in jpeg raw; do
    "$bin/tfrecord-write" -q --size 64x64 --channels 3 --layout $layout train="$work/fm/train" \
        "$work/$layout" >/dev/null
    if ! out=$("$bin/tfrecord-train" -q --preset homework --classes 10 --device cuda --epochs 1 \
            --batch "$batch" --threads "$threads" --flip --train "$work/$layout" --logdir "$work/log-$layout" 2>&1); then
        echo "bench_gpu_input SKIP: $out"
        exit 0
    fi
    row=$(tail -1 "$work/log-$layout/history.csv")
    echo "bench_gpu_input layout=$layout batch=$batch images/s $(echo "$row" | cut -d, -f8)" \
         "input wait $(python3 -c "print(f'{100 * float(\"$(echo "$row" | cut -d, -f10)\"):.1f}%')")"
done
