#!/usr/bin/env bash
# tests/integration/test_labels_cli.sh - labels are checked against the
# model: shards written with --label-offset 1 (labels 1..10) are refused by
# a 10-class model before the first step, naming the manifest and the
# --classes that fits (which then trains, as does leaving --classes out); a 3-class model is refused on
# 10-class shards; shards without a manifest stop at the first label the
# model has no class for, naming the file, offset and label; tfrecord-train
# --evaluate of a checkpoint with too few classes stops the same way.
# Without --preset the model takes the data's classes and channels (3 RGB
# photo classes, 10 gray Fashion-MNIST ones); a preset that disagrees with
# the data is an error saying what the data holds.
# A checkpoint carries its class names (labels.txt, shifted by the label
# offset) and its input normalization: --evaluate and tfrecord-label name
# classes from it with no labels.txt in sight, --labels FILE overrides it,
# and a model trained with --mean/--std is labelled with them by default.
set -u
. "$(dirname "$0")/lib.sh"
W="$TFR_BIN/tfrecord-write"
T="$TFR_BIN/tfrecord-train"
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || skip "dataset-fashion-mnist not installed"
"$TFR_BIN/fashion-mnist-tree" --limit 200 "$WORK/fm" >/dev/null || fail "tree"
"$W" -q --label-offset 1 "$WORK/fm/train" "$WORK/off" >/dev/null || fail "write offset"
"$W" -q "$WORK/fm/train" "$WORK/plain" >/dev/null || fail "write"
small=(--width 4 --levels 1 --batch 16 --epochs 1 --threads 2 -q)

expect_fail "$WORK/off/manifest.json: the labels of these shards run from 1 to 10 (10 classes, written with --label-offset), but the model has 10 classes (labels 0..9): give --classes 11" \
    "$T" --train "$WORK/off" --classes 10 "${small[@]}"
out=$("$T" --train "$WORK/off" --width 4 --levels 1 --batch 16 --epochs 1 --threads 2 2>&1) ||
    fail "labels 1..10 without --classes: $out"
contains "$out" "-> 11 classes" # taken from the data
"$T" --train "$WORK/off" --classes 11 "${small[@]}" --checkpoint-dir "$WORK/ck11" >/dev/null 2>&1 ||
    fail "--classes 11 on labels 1..10"
expect_fail "give --classes 10" "$T" --train "$WORK/plain" --classes 3 "${small[@]}"
expect_fail "give --classes 10" "$T" --train "$WORK/plain" --preset tiny "${small[@]}"

# no manifest: the stream finds the first label out of range
mkdir -p "$WORK/foreign"
cp "$WORK/off/train-00000-of-00001.tfrecord.gz" "$WORK/foreign/data.tfrecord.gz"
out=$("$T" --train "$WORK/foreign" "${small[@]}" 2>&1) && fail "trained on label 10 with 10 classes"
contains "$out" "$WORK/foreign/data.tfrecord.gz: offset "
contains "$out" "label 10 is not one of the 10 classes (0..9)"

# evaluating a 3-class checkpoint on 10-class shards stops, never scores shifted labels
"$T" --train "$WORK/plain" --classes 3 "${small[@]}" 2>/dev/null && fail "3 classes trained"
mkdir -p "$WORK/three/a" "$WORK/three/b" "$WORK/three/c"
for c in a b c; do cp "$(ls "$WORK"/fm/train/*/*.jpg | head -1)" "$WORK/three/$c/x.jpg"; done
"$W" -q "$WORK/three" "$WORK/three-shards" >/dev/null || fail "write three"
"$T" --train "$WORK/three-shards" --classes 3 "${small[@]}" --checkpoint-dir "$WORK/ck3" >/dev/null 2>&1 ||
    fail "train three"
out=$("$T" --evaluate "$WORK/ck3/epoch-0001.tfrc" --val "$WORK/plain" 2>&1) && fail "evaluated 10-class data with 3 classes"
contains "$out" "is not one of the 3 classes (0..2)"

# the model after the data
"$TFR_TEST_BIN/tfr-mktree" photos "$WORK/photos" >/dev/null || fail "photo tree"
"$W" -q "$WORK/photos" "$WORK/photo-shards" >/dev/null || fail "write photos"
out=$("$T" --train "$WORK/photo-shards" --width 4 --levels 1 --batch 16 --epochs 1 --threads 2 2>&1) ||
    fail "train on photos: $out"
contains "$out" "28x28x3 -> 3 classes"
contains "$out" "the stream resizes"
out=$("$T" --train "$WORK/plain" --width 4 --levels 1 --batch 16 --epochs 1 --threads 2 2>&1) ||
    fail "train on fashion-mnist: $out"
contains "$out" "28x28x1 -> 10 classes"
expect_fail "--preset homework is a 200-class model, but the data holds 3 classes" \
    "$T" --train "$WORK/photo-shards" --preset homework "${small[@]}"
expect_fail "holds grayscale ones: give --input 64x64x1" \
    "$T" --train "$WORK/plain" --preset homework --classes 10 "${small[@]}"

# class names travel in the checkpoint, shifted by the label offset
names=($(cat "$WORK/off/labels.txt"))
mkdir -p "$WORK/alone" && cp "$WORK/ck11/epoch-0001.tfrc" "$WORK/alone/m.tfrc"
out=$("$T" --evaluate "$WORK/alone/m.tfrc" --val "$WORK/off:train" 2>&1) || fail "evaluate offset: $out"
row0=$(printf '%s\n' "$out" | grep -E '^  0 ') || fail "no row 0: $out"
row1=$(printf '%s\n' "$out" | grep -E '^  1 ') || fail "no row 1: $out"
row10=$(printf '%s\n' "$out" | grep -E '^ 10 ') || fail "no row 10: $out"
case "$row0" in "  0 "" "*) ;; *) fail "label 0 (no class) has a name: $row0" ;; esac
contains "$row1" "${names[0]:0:10}"
contains "$row10" "${names[9]:0:10}"
img=$(ls "$WORK/fm/train/${names[3]}"/*.jpg | head -1)
out=$("$TFR_BIN/tfrecord-label" --model "$WORK/alone/m.tfrc" --top 11 --json "$img" 2>&1) ||
    fail "label with checkpoint names: $out"
python3 - "$out" "${names[@]}" <<'PY' || fail "tfrecord-label names: $out"
import json, sys
top = json.loads(sys.argv[1])[0]["top"]
names = sys.argv[2:]
got = {t["label"]: t["name"] for t in top}
assert len(got) == 11, got
assert got[0] is None, got               # label 0: the offset's unused class
for k in range(1, 11):
    assert got[k] == names[k - 1], (k, got[k], names[k - 1])
PY
printf 'zero\none\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\nten\n' >"$WORK/mine.txt"
out=$("$TFR_BIN/tfrecord-label" --model "$WORK/alone/m.tfrc" --labels "$WORK/mine.txt" --top 11 "$img" 2>&1) ||
    fail "label --labels: $out"
contains "$out" "  zero "
contains "$out" "  ten "
out=$("$T" --evaluate "$WORK/alone/m.tfrc" --val "$WORK/off:train" --labels "$WORK/mine.txt" 2>&1) ||
    fail "evaluate --labels: $out"
contains "$(printf '%s\n' "$out" | grep -E '^  4 ')" "four"

# the normalization travels too: labelled as trained, unless told otherwise
"$T" --train "$WORK/plain" --mean 0.2 --std 0.4 "${small[@]}" --checkpoint-dir "$WORK/cknorm" \
    >/dev/null 2>&1 || fail "train --mean 0.2 --std 0.4"
ck="$WORK/cknorm/epoch-0001.tfrc"
L="$TFR_BIN/tfrecord-label"
dflt=$("$L" --model "$ck" --json "$img" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["top"])')
same=$("$L" --model "$ck" --mean 0.2 --std 0.4 --json "$img" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["top"])')
other=$("$L" --model "$ck" --mean 0.5 --std 0.25 --json "$img" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["top"])')
[ "$dflt" = "$same" ] || fail "default normalization is not the trained one: $dflt vs $same"
[ "$dflt" != "$other" ] || fail "--mean/--std change nothing: $dflt"
e1=$("$T" --evaluate "$ck" --val "$WORK/plain" -q 2>&1 | head -1)
e2=$("$T" --evaluate "$ck" --val "$WORK/plain" --mean 0.2 --std 0.4 -q 2>&1 | head -1)
[ "$e1" = "$e2" ] || fail "--evaluate does not use the trained normalization: $e1 vs $e2"
pass

