#!/usr/bin/env bash
# tests/bench/bench_mpi.sh - data-parallel training on this machine:
# 2 MPI ranks x 1 thread against 1 process x 2 threads (the same global
# batch, the same images), one epoch of Fashion-MNIST each, REPEATS times:
# min and median images/s, the ratio of the medians, and the share of the
# ranks' epoch spent in the all-reduce (the rank-order sums, including the
# wait for the slower rank).
#
#   tests/bench/bench_mpi.sh [BUILD] [IMAGES] [REPEATS]   (default build 10000 3)
set -euo pipefail
BUILD=${1:-build}; IMAGES=${2:-10000}; REPEATS=${3:-3}
BIN=$(cd "$BUILD/bin" && pwd)
command -v mpirun >/dev/null || { echo "bench_mpi: skipped: no mpirun (openmpi-bin)"; exit 0; }
ldd "$BIN/tfrecord-train" | grep -q libmpi || { echo "bench_mpi: skipped: tfrecord-train has no MPI"; exit 0; }
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
"$BIN/fashion-mnist-tree" --limit "$IMAGES" "$W/fm" >/dev/null
"$BIN/tfrecord-write" -q --channels 1 --shards train=4 "train=$W/fm/train" "$W/sh" >/dev/null
C=(--train "$W/sh" --epochs 1 --batch 128 --seed 1 --lr 0.05 --json -q)
field() { python3 -c "import json,sys; e=json.load(sys.stdin)['epochs'][0]; print($1)"; }
one=() two=() share=()
for _ in $(seq "$REPEATS"); do
    one+=("$("$BIN/tfrecord-train" "${C[@]}" --threads 2 | field "e['images']/e['seconds']")")
    out=$(mpirun --oversubscribe -np 2 "$BIN/tfrecord-train" "${C[@]}" --threads 1)
    two+=("$(echo "$out" | field "e['images']/e['seconds']")")
    share+=("$(echo "$out" | field "100*e['comm_seconds']/e['seconds']")")
done
python3 - "${one[*]}" "${two[*]}" "${share[*]}" <<'PY'
import statistics, sys
one, two, share = ([float(x) for x in a.split()] for a in sys.argv[1:4])
print(f"bench_mpi 1 process x 2 threads: min {min(one):7.0f} median {statistics.median(one):7.0f} images/s")
print(f"bench_mpi 2 MPI ranks x 1 thread: min {min(two):7.0f} median {statistics.median(two):7.0f} images/s, "
      f"all-reduce {statistics.median(share):.1f}% of the epoch (median)")
print(f"bench_mpi ratio (2 ranks / 1 process): {statistics.median(two) / statistics.median(one):.2f}x")
PY
