#!/usr/bin/env bash
# tests/integration/test_train_cli.sh - tfrecord-train as a user runs it on
# real Fashion-MNIST shards: it learns (accuracy well above chance), writes
# checkpoints, TensorBoard events and a history; a run resumed from its
# epoch-1 checkpoint reproduces the uninterrupted run's losses bit for bit;
# --evaluate prints accuracy and a confusion matrix. --threads sizes the
# compute pool, and with more than one thread idle OpenMP threads spin
# briefly then sleep unless the user chose a wait policy.
set -u
. "$(dirname "$0")/lib.sh"

W="$TFR_BIN/tfrecord-write"
T="$TFR_BIN/tfrecord-train"
I="$TFR_BIN/tfrecord-inspect"
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || skip "dataset-fashion-mnist not installed"
"$TFR_BIN/fashion-mnist-tree" --limit 800 "$WORK/fm" >/dev/null || fail "tree"
"$W" -q --channels 1 train="$WORK/fm/train" test="$WORK/fm/test" "$WORK/shards" >/dev/null || fail "write"

common=(--train "$WORK/shards/train-00000-of-00001.tfrecord.gz" --val "$WORK/shards/test-00000-of-00001.tfrecord.gz"
        --width 8 --levels 1,1 --batch 32 --lr 0.05 --flip --pad-crop 2 --threads 2 --seed 7 -q)

# uninterrupted: 4 epochs
"$T" "${common[@]}" --epochs 4 --logdir "$WORK/a" --checkpoint-dir "$WORK/a/ck" >/dev/null 2>&1 || fail "train a"
[ -f "$WORK/a/ck/epoch-0004.tfrc" ] || fail "no checkpoint per epoch"
[ "$(cat "$WORK/a/ck/latest")" = epoch-0004.tfrc ] || fail "latest pointer"
[ "$(wc -l < "$WORK/a/history.csv")" = 5 ] || fail "history rows"
acc=$(tail -1 "$WORK/a/history.csv" | cut -d, -f7)
python3 -c "import sys; sys.exit(0 if float('$acc') > 0.3 else 1)" || fail "val accuracy $acc not above chance"

# interrupted after epoch 1, then resumed to 4: identical losses from step 1 on
"$T" "${common[@]}" --epochs 1 --logdir "$WORK/b" --checkpoint-dir "$WORK/b/ck" >/dev/null 2>&1 || fail "train b"
out=$("$T" "${common[@]}" --epochs 4 --logdir "$WORK/b" --checkpoint-dir "$WORK/b/ck" --resume "$WORK/b/ck" 2>&1) \
    || fail "resume: $out"
cut -d, -f1-3 "$WORK/a/steps.csv" > "$WORK/a.steps"
cut -d, -f1-3 "$WORK/b/steps.csv" > "$WORK/b.steps"
cmp "$WORK/a.steps" "$WORK/b.steps" || fail "resumed losses differ: $(diff "$WORK/a.steps" "$WORK/b.steps" | head -4)"
[ "$(wc -l < "$WORK/a.steps")" -gt 50 ] || fail "too few steps logged"

# TensorBoard event file: plain TFRecords, every CRC good
ev=$(ls "$WORK"/a/train/events.out.tfevents.*.v2)
json=$("$I" -q --json "$ev")
[ "$(jq_get "$json" files[0].compression)" = none ] || fail "events compression"
python3 - "$ev" <<'PY' || fail "event file content"
import struct, sys
d = open(sys.argv[1], "rb").read()
p, tags, n = 0, set(), 0
while p < len(d):
    (l,) = struct.unpack("<Q", d[p:p + 8]); rec = d[p + 12:p + 12 + l]; p += 16 + l; n += 1
    if n == 1:
        assert b"brain.Event:2" in rec, "first event is the file version"
    for t in (b"epoch_accuracy", b"epoch_loss", b"batch_loss"):
        if t in rec:
            tags.add(t)
assert len(tags) == 3, tags
PY

# evaluation of a checkpoint
out=$("$T" --evaluate "$WORK/a/ck/epoch-0004.tfrc" --val "$WORK/shards/test-00000-of-00001.tfrecord.gz") || fail "evaluate"
contains "$out" "accuracy"
contains "$out" "confusion matrix"
contains "$out" "Ankle_boot"
# --tta-flip: every image and its mirror; another loss, an accuracy near the plain one
pj=$("$T" --evaluate "$WORK/a/ck/epoch-0004.tfrc" --val "$WORK/shards/test-00000-of-00001.tfrecord.gz" --json) \
    || fail "evaluate --json"
# the checkpoint folder: its newest checkpoint, the one 'latest' names
dj=$("$T" --evaluate "$WORK/a/ck" --val "$WORK/shards/test-00000-of-00001.tfrecord.gz" --json) \
    || fail "evaluate a checkpoint folder: $dj"
[ "$(jq_get "$dj" checkpoint)" = "$WORK/a/ck/epoch-0004.tfrc" ] &&
    [ "$(jq_get "$dj" loss)" = "$(jq_get "$pj" loss)" ] || fail "--evaluate DIR is not its latest: $dj"
tj=$("$T" --evaluate "$WORK/a/ck/epoch-0004.tfrc" --val "$WORK/shards/test-00000-of-00001.tfrecord.gz" --json \
    --tta-flip) || fail "evaluate --tta-flip"
python3 - "$pj" "$tj" <<'PY' || fail "--tta-flip: $tj"
import json, sys
p, t = json.loads(sys.argv[1]), json.loads(sys.argv[2])
assert p["loss"] != t["loss"], "the same loss with and without flip averaging"
assert abs(p["accuracy"] - t["accuracy"]) < 0.1 and 0 < t["loss"] < 5, (p, t)
PY

# the CUDA device: without one, a clear refusal before any work; with one,
# GPU training learns, its checkpoint evaluates on the CPU to the accuracy the
# GPU reported, and a CPU checkpoint resumes on the GPU
if ! out=$("$T" "${common[@]}" --epochs 1 --device cuda --checkpoint-dir "$WORK/g/ck" --logdir "$WORK/g" 2>&1); then
    case "$out" in
        *"no CUDA device"*|*"no CUDA backend"*) echo "CUDA part skipped: $out" ;;
        *) fail "--device cuda failed: $out" ;;
    esac
else
    gacc=$(tail -1 "$WORK/g/history.csv" | cut -d, -f7)
    python3 -c "import sys; sys.exit(0 if float('$gacc') > 0.3 else 1)" || fail "GPU val accuracy $gacc"
    out=$("$T" --evaluate "$WORK/g/ck/epoch-0001.tfrc" --val "$WORK/shards/test-00000-of-00001.tfrecord.gz") || fail "evaluate GPU checkpoint on the CPU"
    cacc=$(printf '%s\n' "$out" | sed -n 's/.*accuracy \([0-9.]*\),.*/\1/p' | head -1)
    python3 -c "import sys; sys.exit(0 if abs(float('$gacc') - float('$cacc')) < 0.02 else 1)" \
        || fail "GPU checkpoint: GPU validation $gacc, CPU evaluation $cacc"
    "$T" "${common[@]}" --epochs 2 --device cuda --resume "$WORK/b/ck/epoch-0001.tfrc" >/dev/null 2>&1 \
        || fail "CPU checkpoint resumed on the GPU"
fi

one=(--train "$WORK/shards/train-00000-of-00001.tfrecord.gz" --width 4 --levels 1 --batch 64 --epochs 1)
# the oneDNN backend: it learns, says so, resumes bit for bit on itself (same
# threads, same CPU), and its checkpoint evaluates on the reference backend
# to the accuracy it reported
if ! out=$("$T" "${common[@]}" --epochs 4 --device onednn --logdir "$WORK/d" --checkpoint-dir "$WORK/d/ck" 2>&1); then
    case "$out" in
        *"no oneDNN backend"*) echo "oneDNN part skipped: $out"; have_dnnl=0 ;;
        *) fail "--device onednn failed: $out" ;;
    esac
else
    have_dnnl=1
    dacc=$(tail -1 "$WORK/d/history.csv" | cut -d, -f7)
    python3 -c "import sys; sys.exit(0 if float('$dacc') > 0.3 else 1)" || fail "onednn val accuracy $dacc"
    "$T" "${common[@]}" --epochs 1 --device onednn --logdir "$WORK/e" --checkpoint-dir "$WORK/e/ck" >/dev/null 2>&1 \
        || fail "onednn train e"
    "$T" "${common[@]}" --epochs 4 --device onednn --logdir "$WORK/e" --checkpoint-dir "$WORK/e/ck" \
        --resume "$WORK/e/ck" >/dev/null 2>&1 || fail "onednn resume"
    cut -d, -f1-3 "$WORK/d/steps.csv" > "$WORK/d.steps"
    cut -d, -f1-3 "$WORK/e/steps.csv" > "$WORK/e.steps"
    cmp "$WORK/d.steps" "$WORK/e.steps" || fail "onednn resumed losses differ: $(diff "$WORK/d.steps" "$WORK/e.steps" | head -4)"
    # the recipe's path: basic blocks with bf16 convolutions resume bit for bit too
    bb=("${common[@]}" --block basic --precision bf16 --device onednn)
    "$T" "${bb[@]}" --epochs 2 --logdir "$WORK/bf" >/dev/null 2>&1 || fail "basic bf16 train"
    "$T" "${bb[@]}" --epochs 1 --logdir "$WORK/bg" --checkpoint-dir "$WORK/bg/ck" >/dev/null 2>&1 ||
        fail "basic bf16 train 1"
    "$T" "${bb[@]}" --epochs 2 --logdir "$WORK/bg" --checkpoint-dir "$WORK/bg/ck" --resume "$WORK/bg/ck" \
        >/dev/null 2>&1 || fail "basic bf16 resume"
    cut -d, -f1-3 "$WORK/bf/steps.csv" > "$WORK/bf.steps"
    cut -d, -f1-3 "$WORK/bg/steps.csv" > "$WORK/bg.steps"
    cmp "$WORK/bf.steps" "$WORK/bg.steps" ||
        fail "basic bf16 resumed losses differ: $(diff "$WORK/bf.steps" "$WORK/bg.steps" | head -4)"
    out=$("$T" --evaluate "$WORK/d/ck/epoch-0004.tfrc" --val "$WORK/shards/test-00000-of-00001.tfrecord.gz") \
        || fail "evaluate the onednn checkpoint on the cpu"
    cacc=$(printf '%s\n' "$out" | sed -n 's/.*accuracy \([0-9.]*\),.*/\1/p' | head -1)
    python3 -c "import sys; sys.exit(0 if abs(float('$dacc') - float('$cacc')) < 0.02 else 1)" \
        || fail "onednn checkpoint: onednn validation $dacc, cpu evaluation $cacc"
    out=$("$T" "${one[@]}" --device onednn --threads 2 2>&1) || fail "onednn device line: $out"
    contains "$out" "device: onednn (2 threads, oneDNN"
fi

# --recipe fmnist: its settings as if written where it stands; a later
# option wins, an earlier one loses (--width 8 before it; --epochs 3 and
# --levels 1,1,1 after)
out=$("$T" --train "$WORK/shards/train-00000-of-00001.tfrecord.gz" --width 8 --recipe fmnist --epochs 3 \
      --levels 1,1,1 --threads 2 --logdir "$WORK/r" 2>&1) || fail "--recipe fmnist: $out"
contains "$out" "model: pre-activation basic ResNet, 28x28x1 -> 10 classes, width 48,"
if [ "$have_dnnl" = 1 ]; then
    contains "$out" "device: onednn (2 threads"
    contains "$out" "bf16" # the recipe's precision, where the table has it
else
    contains "$out" "device: cpu (2 threads" # auto: bf16 means fp32 on the reference table
fi
# by name, the reference table trains the recipe in fp32 rather than refusing its bf16
out=$("$T" --train "$WORK/shards/train-00000-of-00001.tfrecord.gz" --recipe fmnist --device cpu \
      --epochs 1 --levels 1 --width 4 --threads 2 2>&1) || fail "--recipe fmnist --device cpu: $out"
contains "$out" "device: cpu (2 threads"
expect_fail "needs the onednn backend" "$T" --train "$WORK/shards/train-00000-of-00001.tfrecord.gz" \
    --device cpu --precision bf16 --width 4 --levels 1
[ "$(wc -l < "$WORK/r/history.csv")" = 4 ] || fail "--recipe then --epochs 3: $(cat "$WORK/r/history.csv")"
# epoch 1 of 3, half-way through a 2-epoch warm-up to lr 0.1 under the
# cosine: the epoch's last lr near 0.1 x 0.5 x 0.75, not the default 0.01
rlr=$(sed -n 2p "$WORK/r/history.csv" | cut -d, -f3)
python3 -c "import sys; sys.exit(0 if 0.025 < float('$rlr') < 0.05 else 1)" || fail "--recipe lr $rlr"
expect_fail "unknown recipe" "$T" --train "$WORK/shards" --recipe imagenet

# bad input
expect_fail "unknown device" "$T" "${common[@]}" --device tpu
expect_fail "checkpoint" "$T" --evaluate "$WORK/shards/labels.txt" --val "$WORK/shards"
expect_fail "cannot open" "$T" --train "$WORK/none.tfrecord" --epochs 1
# one --threads rule: the compute pool is --threads; the wait policy
out=$("$T" "${one[@]}" --threads 2 2>&1) || fail "train --threads 2: $out"
contains "$out" "device: cpu (2 threads, OpenBLAS, spin 20000 then sleep)"
out=$("$T" "${one[@]}" --threads 1 2>&1) || fail "train --threads 1: $out"
contains "$out" "device: cpu (1 thread, OpenBLAS"
out=$(OMP_WAIT_POLICY=active "$T" "${one[@]}" --threads 2 2>&1) || fail "train active: $out"
contains "$out" "2 threads, OpenBLAS, active wait)"
out=$(GOMP_SPINCOUNT=5 "$T" "${one[@]}" --threads 2 2>&1) || fail "train spin 5: $out"
contains "$out" "spin 5 then sleep"
# the chart of the history, redrawn every epoch
[ "$(head -c 8 "$WORK/a/history.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] ||
    fail "no history.png beside history.csv"
"$T" "${one[@]}" --threads 1 --logdir "$WORK/p" --plot "$WORK/p/curves.png" -q >/dev/null 2>&1 ||
    fail "--plot"
[ -s "$WORK/p/curves.png" ] && [ ! -e "$WORK/p/history.png" ] || fail "--plot FILE is not where the chart went"
expect_fail "--plot: needs --logdir DIR" "$T" "${one[@]}" --plot "$WORK/x.png"
# resuming with another schedule says what it becomes; the same schedule says nothing
"$T" "${one[@]}" --threads 1 --cosine --lr 0.1 --epochs 1 --checkpoint-dir "$WORK/cos" -q >/dev/null 2>&1 ||
    fail "cosine run"
out=$("$T" "${one[@]}" --threads 1 --cosine --lr 0.1 --epochs 3 --resume "$WORK/cos" -q 2>&1) ||
    fail "resume cosine: $out"
contains "$out" "warning: the learning-rate schedule changed (the run had --lr 0.1, --cosine, --epochs 1; now --lr 0.1, --cosine, --epochs 3)"
contains "$out" "the cosine now spans all the new epochs"
"$T" "${one[@]}" --threads 1 --epochs 1 --checkpoint-dir "$WORK/const" -q >/dev/null 2>&1 || fail "const run"
out=$("$T" "${one[@]}" --threads 1 --epochs 2 --resume "$WORK/const" -q 2>&1) || fail "resume const: $out"
case "$out" in *warning*) fail "a constant schedule resumed for more epochs warned: $out" ;; esac
pass

