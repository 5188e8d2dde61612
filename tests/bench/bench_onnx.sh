#!/usr/bin/env bash
# tests/bench/bench_onnx.sh - inference on the same Fashion-MNIST test images
# by an exported model in ONNX Runtime (CPU, npm onnxruntime-node; batch 1
# and batch 128) and by this project's own paths: tfrecord-label (one image
# at a time, decoding each JPEG) and tfrecord-train --evaluate (batch 128
# from shards; the reference CPU backend and, where built, oneDNN's). Images/s, min and median over REPEATS, and the ratios of
# the medians (own / ONNX Runtime); the process CPU seconds of each.
# ONNX Runtime's numbers are the network alone (pixels already decoded and
# resized, as tfrecord-label --save-input wrote them); tfrecord-label's
# include the JPEG decode and a process start per run; --evaluate's include
# reading and decoding the shards.
#
#   tests/bench/bench_onnx.sh [BUILD] [IMAGES] [REPEATS] [THREADS]   (default build 2000 3 2)
#   the model: --preset fmnist (28x28x1, width 16, levels 1,1,1), untrained
#   weights (the speed does not depend on them)
set -euo pipefail
BUILD=${1:-build}; IMAGES=${2:-2000}; REPEATS=${3:-3}; THREADS=${4:-2}
BIN=$(cd "$BUILD/bin" && pwd)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
ORT=${TFR_ORT_DIR:-$(cd "$BUILD" && pwd)/ort}
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
[ -d "$ORT/node_modules/onnxruntime-node" ] ||
    { echo "bench_onnx: skipped: no onnxruntime-node in $ORT (tools/test installs it)"; exit 0; }
export TFR_ORT_DIR=$ORT TFR_ORT_THREADS=$THREADS
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
"$BIN/fashion-mnist-tree" --limit "$IMAGES" "$W/fm" >/dev/null
"$BIN/tfrecord-write" -q --channels 1 "$W/fm/test" "$W/sh" >/dev/null
# a checkpoint of the preset: one step on a few images
mkdir -p "$W/few/a" "$W/few/b"
mapfile -t tr < <(find "$W/fm/train" -name '*.jpg' | sort)
cp "${tr[@]:0:8}" "$W/few/a/"
cp "${tr[@]: -8}" "$W/few/b/"
"$BIN/tfrecord-write" -q --channels 1 "$W/few" "$W/few-sh" >/dev/null
"$BIN/tfrecord-train" -q --train "$W/few-sh" --preset fmnist --classes 10 --epochs 1 --batch 16 \
    --checkpoint-dir "$W/ck" >/dev/null 2>&1
ck="$W/ck/epoch-0001.tfrc"
"$BIN/tfrecord-export" "$ck" --onnx "$W/m.onnx" >/dev/null
mapfile -t imgs < <(find "$W/fm/test" -name '*.jpg' | sort)
"$BIN/tfrecord-label" --model "$ck" --top 1 --save-input "$W/px.bin" "${imgs[@]}" >/dev/null
n=${#imgs[@]}

# CMD...: prints "seconds cpu_seconds" of one run
timed() {
    /usr/bin/time -f "%e %U %S" -o "$W/t" "$@" >"$W/out" 2>/dev/null
    awk '{printf "%s %.2f\n", $1, $2 + $3}' "$W/t"
}
label=() label_cpu=() eval_=() eval_cpu=() evald=() evald_cpu=() ort1=() ort1_cpu=() ort128=() ort128_cpu=()
# the oneDNN backend where the build has it
dnnl=1
"$BIN/tfrecord-train" --evaluate "$ck" --val "$W/sh" --device onednn -q >/dev/null 2>&1 || dnnl=0
for _ in $(seq "$REPEATS"); do
    read -r s c < <(timed "$BIN/tfrecord-label" --model "$ck" --top 1 --threads 1 "${imgs[@]}")
    label+=("$(awk -v n="$n" -v s="$s" 'BEGIN{print n/s}')"); label_cpu+=("$c")
    read -r s c < <(timed "$BIN/tfrecord-train" --evaluate "$ck" --val "$W/sh" --batch 128 \
        --threads "$THREADS" -q)
    eval_+=("$(awk -v n="$n" -v s="$s" 'BEGIN{print n/s}')"); eval_cpu+=("$c")
    if [ "$dnnl" = 1 ]; then
        read -r s c < <(timed "$BIN/tfrecord-train" --evaluate "$ck" --val "$W/sh" --batch 128 \
            --threads "$THREADS" --device onednn -q)
        evald+=("$(awk -v n="$n" -v s="$s" 'BEGIN{print n/s}')"); evald_cpu+=("$c")
    fi
    for b in 1 128; do
        read -r s c < <(timed node "$SRC/tests/integration/ort_run.js" "$W/m.onnx" "$W/px.bin" \
            28 28 1 --batch "$b" --bench 0.1)
        r=$("$PY" -c "import json; print(json.load(open('$W/out'))['images_per_second']['median'])")
        if [ "$b" = 1 ]; then ort1+=("$r"); ort1_cpu+=("$c"); else ort128+=("$r"); ort128_cpu+=("$c"); fi
    done
done
"$PY" - "$n" "$THREADS" "${label[*]}" "${label_cpu[*]}" "${eval_[*]}" "${eval_cpu[*]}" \
    "${ort1[*]}" "${ort1_cpu[*]}" "${ort128[*]}" "${ort128_cpu[*]}" "${evald[*]:-}" "${evald_cpu[*]:-}" <<'PY'
import statistics as st, sys
n, threads = sys.argv[1], sys.argv[2]
v = [[float(x) for x in a.split()] for a in sys.argv[3:]]
rows = [("tfrecord-label (1 image, decode)", v[0], v[1]),
        ("tfrecord-train --evaluate (128)", v[2], v[3]),
        ("ONNX Runtime, batch 1", v[4], v[5]),
        ("ONNX Runtime, batch 128", v[6], v[7])]
if v[8]:
    rows.append(("tfrecord-train --evaluate, onednn", v[8], v[9]))
print(f"bench_onnx: {n} Fashion-MNIST test images, fmnist preset, {threads} threads")
for name, r, c in rows:
    print(f"bench_onnx {name:34s} min {min(r):8.0f} median {st.median(r):8.0f} images/s, "
          f"cpu {st.median(c):.2f} s per run")
m = [st.median(r) for _, r, _ in rows]
print(f"bench_onnx ratio tfrecord-label / ONNX Runtime batch 1:       {m[0] / m[2]:.2f}x")
print(f"bench_onnx ratio tfrecord-train --evaluate / ONNX Runtime 128: {m[1] / m[3]:.2f}x")
if v[8]:
    print(f"bench_onnx ratio --evaluate --device onednn / ONNX Runtime 128: {m[4] / m[3]:.2f}x")
PY
