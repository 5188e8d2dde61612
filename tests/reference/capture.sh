#!/usr/bin/env bash
# tests/reference/capture.sh - runs every tool on fixed trees and prints one
# line per output: "<sha256>  <name>" for files (timestamps and timings
# removed from JSON), and the batch digests, losses and reports as text.
# Two builds whose captures are equal produce the same shards, manifests,
# labels, streams, checkpoints, caches and losses.
#
# usage: capture.sh BIN TEST_BIN WORKDIR [quick]
#   BIN: build/bin (the tools); TEST_BIN: build/test-bin (tfr-mktree,
#   tfr-streamhash); WORKDIR: an empty scratch folder (paths inside the
#   outputs are relative to it, so captures made in different folders agree).
#   quick: the parts that do not depend on the BLAS kernels (no training).
set -euo pipefail
: "${TFR_GOLDEN:=$(dirname "$0")/../../../shared/golden}"
TFR_GOLDEN=$(cd "$TFR_GOLDEN" && pwd)
BIN=$(cd "$1" && pwd); TB=$(cd "$2" && pwd); mkdir -p "$3"; cd "$3"
QUICK=${4:-}
FM=/usr/share/datasets/fashion-mnist

strip() {
    sed -E -e 's/"(created|seconds|seconds_[a-z]+|milliseconds)": ?"?[-0-9.:TZ]*"?,? ?//g' \
        -e 's/[0-9.]+ s \([0-9.]+ [KMG]?B\/s[^)]*\)/(timing)/g'
}
digest() { # digest NAME FILE: a normalized file's hash
    case "$2" in
        *.json) printf '%s  %s\n' "$(strip <"$2" | sha256sum | cut -c1-64)" "$1" ;;
        *) printf '%s  %s\n' "$(sha256sum <"$2" | cut -c1-64)" "$1" ;;
    esac
}
outdir() { # outdir DIR: every file below DIR
    find "$1" -type f | LC_ALL=C sort | while read -r f; do digest "$f" "$f"; done
}
run() { # run NAME CMD...: the command's normalized stdout and exit status
    local out rc=0
    out=$("${@:2}" 2>/dev/null) || rc=$?
    printf '%s  %s (exit %d)\n' "$(printf '%s' "$out" | strip | sha256sum | cut -c1-64)" "$1" "$rc"
}

"$TB/tfr-mktree" photos photos
"$TB/tfr-mktree" awkward awkward
if [ -f "$FM/train-images-idx3-ubyte.gz" ]; then
    "$BIN/fashion-mnist-tree" --limit 200 fm >/dev/null
else
    echo "no dataset-fashion-mnist" >&2; exit 77
fi
# fixed mtimes: the writer's fingerprint covers each image's size and mtime
find photos awkward fm -exec touch -h -d @1700000000 {} +

W="$BIN/tfrecord-write"
mkdir -p w1 w2 w3
for t in 1 2; do
    # jpeg layout: passthrough, and re-encoded at a size
    "$W" -q --threads $t --channels 1 --shards 2 train=fm/train test=fm/test w$t/fm-jpeg >/dev/null
    "$W" -q --threads $t --size 80x60 --resize crop --shards 3 --split train=70,validation=15,test=15 photos w$t/photos-jpeg >/dev/null
    "$W" -q --threads $t --shards 2 --flip random awkward w$t/awkward-jpeg >/dev/null || true
    # raw layout
    "$W" -q --threads $t --layout raw --channels 1 --shards 1 train=fm/train w$t/fm-raw >/dev/null
    "$W" -q --threads $t --layout raw --size 48x40 --resize pad --flip both photos w$t/photos-raw >/dev/null
    "$W" -q --threads $t --layout raw --size 32x32 --channels 1 awkward w$t/awkward-raw >/dev/null || true
    # tensor layout
    "$W" -q --threads $t --layout tensor --normalize rescale --channels 1 --label-offset 1 train=fm/train w$t/fm-tensor >/dev/null
    "$W" -q --threads $t --layout tensor --normalize samplewise --size 24x24 photos w$t/photos-tensor >/dev/null
    "$W" -q --threads $t --layout tensor --size 16x12 --resize crop awkward w$t/awkward-tensor >/dev/null || true
    # other compressions and the single-stream mode
    "$W" -q --threads $t --compression zlib --level 9 --shards 2 fm/test w$t/fm-zlib >/dev/null
    "$W" -q --threads $t --compression none --shards 2 fm/test w$t/fm-none >/dev/null
    "$W" -q --threads $t --chunk-size 0 --shards 1 fm/test w$t/fm-single >/dev/null
done
# the thread count changes nothing
for d in w1/*; do
    diff -r -I "\"created\"" "$d" "w2/${d#w1/}" >/dev/null || { echo "threads differ: $d" >&2; exit 1; }
done
echo "# tfrecord-write"
outdir w1
echo "# tfrecord-write --json"
run "write --json fm" "$W" --json --force --channels 1 --shards 2 train=fm/train test=fm/test w1/fm-jpeg
run "write --json awkward" "$W" --json --shards 2 --flip random awkward w3/awkward

echo "# tfrecord-inspect"
for d in w1/*; do
    run "inspect --json $d" "$BIN/tfrecord-inspect" -q --json --verify "$d"
    run "inspect --show 2 $d" "$BIN/tfrecord-inspect" -q --show 2 "$d"
done
mkdir -p golden
cp "$TFR_GOLDEN"/*.tfrecord* "$TFR_GOLDEN"/*.gz golden/
for g in golden/*; do
    run "inspect --json $g" "$BIN/tfrecord-inspect" -q --json "$g"
done

echo "# stream (tfr-streamhash)"
SH="$TB/tfr-streamhash"
for t in 1 3; do
    run "stream fm u8 flip pad-crop t$t" "$SH" --threads $t --batch 16 --channels 1 --flip --pad-crop 2 --seed 7 w1/fm-jpeg/manifest.json
    run "stream photos nchw rrc t$t" "$SH" --threads $t --batch 8 --format nchw --size 32x32 --rrc 0.4 --flip --seed 3 w1/photos-jpeg
    run "stream photos nhwc center t$t" "$SH" --threads $t --batch 5 --format nhwc --size 20x20 --center-crop 0.8 --shuffle-buffer 1 'w1/photos-jpeg/validation-*'
    run "stream raw u8 t$t" "$SH" --threads $t --batch 7 --epochs 2 --seed 9 w1/photos-raw
    run "stream tensor nhwc t$t" "$SH" --threads $t --batch 9 --format nhwc --channels 1 w1/fm-tensor
    run "stream tensor same size t$t" "$SH" --threads $t --batch 4 --format nchw --size 24x24 w1/photos-tensor
    run "stream awkward t$t" "$SH" --threads $t --batch 3 --size 24x24 w1/awkward-jpeg w1/awkward-raw
    run "stream golden t$t" "$SH" --threads $t --batch 1 --size 16x16 golden/tfrecord_lite-images.tfrecord
done

[ "$QUICK" = quick ] && exit 0

echo "# tfrecord-train"
# Losses depend on the BLAS kernels, which OpenBLAS picks per CPU (AVX-512
# ones round differently): the reference uses its AVX2 (Haswell) kernels.
export OPENBLAS_CORETYPE=Haswell
T="$BIN/tfrecord-train"
"$T" -q --train w1/fm-jpeg/train-00000-of-00002.tfrecord.gz --train w1/fm-jpeg/train-00001-of-00002.tfrecord.gz \
    --val w1/fm-jpeg/test-00000-of-00002.tfrecord.gz --levels 1,1 --width 4 --epochs 2 --batch 8 \
    --lr 0.05 --cosine --flip --pad-crop 2 --seed 5 --threads 2 --logdir run --checkpoint-dir run/ckpt >/dev/null
echo "first 50 steps:"; head -51 run/steps.csv
cut -d, -f1-4 run/history.csv
digest ckpt-epoch1 run/ckpt/epoch-0001.tfrc
digest ckpt-epoch2 run/ckpt/epoch-0002.tfrc
run "evaluate" "$T" --evaluate run/ckpt/epoch-0002.tfrc --val w1/fm-jpeg

echo "# tfrecord-retrain / tfrecord-label"
"$BIN/tfrecord-retrain" -q --json --backbone run/ckpt/epoch-0002.tfrc --images photos --cache rcache --out rout \
    --steps 30 --batch 10 --eval-every 10 --seed 4 >rjson || true
strip <rjson | sed -E 's/"(computed|reused)":[0-9]+,?//g'; echo
outdir rcache
outdir rout
run "label" "$BIN/tfrecord-label" --model rout --top 2 --json photos/daisy/daisy_00.jpg photos/tulips/tulips_03.jpg
