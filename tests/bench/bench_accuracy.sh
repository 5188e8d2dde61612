#!/usr/bin/env bash
# tests/bench/bench_accuracy.sh - Fashion-MNIST test accuracy of the CPU
# trainer after E epochs, and the wall time, to set beside the published
# Fashion-MNIST table (ResNet18 0.949; simple CNNs 0.90-0.93).
#   bench_accuracy.sh [EPOCHS] [BUILD_DIR] [TRAIN_OPTION...]   (default 10, ./build)
# Options after the build folder go to tfrecord-train after the defaults
# below, e.g. `--device onednn --levels 2,2,2` (a later option wins).
set -euo pipefail
epochs=${1:-10}
build=${2:-build}
shift $(($# < 2 ? $# : 2))
bin="$build/bin"
work=$(mktemp -d "${TMPDIR:-/tmp}/tfr-acc-XXXXXX")
trap 'rm -rf "$work"' EXIT
"$bin/fashion-mnist-tree" "$work/fm" >/dev/null
"$bin/tfrecord-write" -q --channels 1 train="$work/fm/train" test="$work/fm/test" "$work/shards" >/dev/null
start=$(date +%s)
"$bin/tfrecord-train" -q --train "$work/shards/train-00000-of-00001.tfrecord.gz" \
    --val "$work/shards/test-00000-of-00001.tfrecord.gz" --epochs "$epochs" --cosine --lr 0.1 \
    --batch 128 --flip --pad-crop 2 --logdir "$work/log" "$@"
end=$(date +%s)
best=$(tail -n +2 "$work/log/history.csv" | cut -d, -f7 | sort -g | tail -1)
last=$(tail -1 "$work/log/history.csv" | cut -d, -f7)
ran=$(($(wc -l <"$work/log/history.csv") - 1)) # the epochs run (a --recipe after sets its own)
echo "bench_accuracy fmnist epochs=$ran $* test accuracy $last (best epoch $best) wall $((end - start)) s threads $(nproc)"
