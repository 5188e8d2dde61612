#!/usr/bin/env bash
# tests/integration/test_retrain_cli.sh - the bottleneck cache and last-layer
# retraining on real Fashion-MNIST: a backbone trained on five classes,
# frozen, and a new head trained on the other five; the cache computes each
# bottleneck once, recomputes only what changed, rebuilds for another
# backbone or a damaged cache; folded and rounded models; tfrecord-label;
# the baselines beside the test accuracy (majority class, chance) and the
# warning when it does not beat them; --print-misclassified lists exactly
# the wrong test images; _nohash_ variants of one picture share a split.
set -u
. "$(dirname "$0")/lib.sh"

W="$TFR_BIN/tfrecord-write"
T="$TFR_BIN/tfrecord-train"
R="$TFR_BIN/tfrecord-retrain"
L="$TFR_BIN/tfrecord-label"
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || skip "dataset-fashion-mnist not installed"
"$TFR_BIN/fashion-mnist-tree" --limit 3000 "$WORK/fm" >/dev/null || fail "tree"
# classes in byte order: Ankle_boot Bag Coat Dress Pullover | Sandal Shirt Sneaker T-shirt_top Trouser
mkdir -p "$WORK/five-a" "$WORK/five-b"
for c in Ankle_boot Bag Coat Dress Pullover; do cp -r "$WORK/fm/train/$c" "$WORK/five-a/"; done
for c in Sandal Shirt Sneaker T-shirt_top Trouser; do cp -r "$WORK/fm/train/$c" "$WORK/five-b/"; done
nb=$(find "$WORK/five-b" -name '*.jpg' | wc -l)

"$W" -q --channels 1 "$WORK/five-a" "$WORK/shards-a" >/dev/null || fail "write a"
"$T" -q --train "$WORK/shards-a" --width 8 --levels 1,1 --batch 32 --lr 0.05 --epochs 3 --seed 1 \
    --checkpoint-dir "$WORK/bb1" >/dev/null 2>&1 || fail "train backbone"
bb="$WORK/bb1/epoch-0003.tfrc"
# bf16 named on the reference table is refused, not dropped, before any bottleneck is computed
expect_fail "needs the onednn backend" "$R" --backbone "$bb" --images "$WORK/five-b" \
    --cache "$WORK/cache-bf16" --out "$WORK/model-bf16" --device cpu --precision bf16
[ ! -e "$WORK/model-bf16" ] || fail "a refused retrain wrote its output"

args=(--backbone "$bb" --images "$WORK/five-b" --cache "$WORK/cache" --out "$WORK/model" --steps 600 --lr 0.05 --json)
out=$("$R" "${args[@]}") || fail "retrain: $out"
[ "$(jq_get "$out" computed)" = "$nb" ] || fail "first run computes every bottleneck: $out"
[ "$(jq_get "$out" reused)" = 0 ] || fail "first run reuses nothing"
acc=$(jq_get "$out" test_accuracy)
python3 -c "import sys; sys.exit(0 if float('$acc') >= 0.6 else 1)" \
    || fail "retrained head: test accuracy $acc, want >= 0.6 (chance 0.2)"
[ -f "$WORK/model/model.tfrc" ] && [ "$(head -1 "$WORK/model/labels.txt")" = Sandal ] || fail "model output"
# the cache is a TFRecord shard set like any other
"$TFR_BIN/tfrecord-inspect" -q --verify "$WORK/cache/bottlenecks.tfrecord.gz" >/dev/null || fail "cache not sound"

# nothing changed: zero backbone passes
out=$("$R" "${args[@]}") || fail "rerun"
[ "$(jq_get "$out" computed)" = 0 ] && [ "$(jq_get "$out" reused)" = "$nb" ] || fail "rerun recomputed: $out"
# one image changed: one pass
one=$(find "$WORK/five-b/Shirt" -name '*.jpg' | head -1)
other=$(find "$WORK/five-b/Sandal" -name '*.jpg' | head -1)
cp "$other" "$one"
out=$("$R" "${args[@]}") || fail "after touch"
[ "$(jq_get "$out" computed)" = 1 ] || fail "a changed image recomputes 1: $out"
# sizes no file has, in a damaged cache.json: those entries match nothing
# and are recomputed (a double beyond uint64_t is not converted: UBSan)
python3 - "$WORK/cache/cache.json" <<'PY' || fail "edit cache.json"
import re, sys
p = sys.argv[1]
s = open(p).read()
s, n = re.subn(r'"size": [0-9]+,', '"size": 1e300,', s, count=1)
s, m = re.subn(r'"size": [0-9]+,', '"size": -5,', s, count=1)
assert n == 1 and m == 1
open(p, 'w').write(s)
PY
out=$("$R" "${args[@]}") || fail "after huge sizes in cache.json"
[ "$(jq_get "$out" computed)" = 2 ] || fail "entries with impossible sizes reused: $out"
# a truncated cache is detected and rebuilt, not trusted
f="$WORK/cache/bottlenecks.tfrecord.gz"
head -c $(( $(stat -c %s "$f") / 2 )) "$f" > "$f.cut" && mv "$f.cut" "$f"
out=$("$R" "${args[@]}") || fail "after truncation"
[ "$(jq_get "$out" computed)" = "$nb" ] && [ "$(jq_get "$out" rebuilt)" = true ] || fail "truncated cache trusted: $out"
contains "$out" "read back"
# another backbone: everything recomputed
"$T" -q --train "$WORK/shards-a" --width 8 --levels 1,1 --batch 32 --epochs 1 --seed 2 \
    --checkpoint-dir "$WORK/bb2" >/dev/null 2>&1 || fail "train backbone 2"
out=$("$R" --backbone "$WORK/bb2/epoch-0001.tfrc" --images "$WORK/five-b" --cache "$WORK/cache" --steps 50 --json) \
    || fail "retrain bb2"
[ "$(jq_get "$out" computed)" = "$nb" ] || fail "another backbone recomputes all: $out"
contains "$out" "backbone"

# export: folded BN gives the same outputs; rounded weights cost < 2 points of accuracy
out=$("$R" "${args[@]}" --backbone "$bb" --fold-bn --round-weights) || fail "export"
python3 - "$out" <<'PY' || fail "export checks: $out"
import json, sys
r = json.loads(sys.argv[1])
assert r["folded"] >= 3, r
assert r["fold_max_diff"] < 1e-5, r
assert abs(r["rounded_accuracy"] - r["test_accuracy"]) <= 0.02, r
assert r["gzip_bytes_rounded"] < r["gzip_bytes"], r
PY

# labelling images with the retrained model
img=$(find "$WORK/five-b/Trouser" -name '*.jpg' | head -1)
out=$("$L" --model "$WORK/model" "$img") || fail "label"
contains "$out" "evaluated in"
json=$("$L" --json --model "$WORK/model" "$img" "$other")
[ "$(jq_get "$json" 0.top.0.name)" = Trouser ] || echo "note: top-1 for a trouser image was $(jq_get "$json" 0.top.0.name)"
python3 -c "import json,sys; r=json.loads(sys.argv[1]); assert len(r)==2 and len(r[0]['top'])==5 and abs(sum(t['score'] for t in r[0]['top'])-1)<0.5" "$json" \
    || fail "label json: $json"
# the retrained model also works with tfrecord-train --evaluate
"$W" -q --channels 1 "$WORK/five-b" "$WORK/shards-b" >/dev/null || fail "write b"
out=$("$T" --evaluate "$WORK/model/model.tfrc" --val "$WORK/shards-b") || fail "evaluate retrained"
contains "$out" "accuracy"
# shards as the image source (image/encoded + image/class/label, names from labels.txt)
out=$("$R" --backbone "$bb" --images "$WORK/shards-b" --cache "$WORK/cache-s" --steps 200 --lr 0.05 --json) \
    || fail "retrain from shards: $out"
[ "$(jq_get "$out" computed)" = "$nb" ] && [ "$(jq_get "$out" classes)" = 5 ] || fail "shards source: $out"
out=$("$R" --backbone "$bb" --images "$WORK/shards-b" --cache "$WORK/cache-s" --steps 10 --json)
[ "$(jq_get "$out" computed)" = 0 ] || fail "shards source cache reuse: $out"
expect_fail "cannot open" "$L" --model "$WORK/model" "$WORK/missing.jpg"
# bottlenecks on the GPU: the same head accuracy as on the CPU, within a few images
if gout=$("$R" --backbone "$bb" --images "$WORK/five-b" --cache "$WORK/cache-g" --out "$WORK/model-g" \
        --steps 600 --lr 0.05 --json --device cuda 2>&1); then
    gacc=$(jq_get "$gout" test_accuracy)
    python3 -c "import sys; sys.exit(0 if abs(float('$gacc') - float('$acc')) <= 0.05 else 1)" \
        || fail "bottlenecks on the GPU: test accuracy $gacc, on the CPU $acc"
else
    case "$gout" in
        *"no CUDA device"*|*"no CUDA backend"*) echo "GPU part skipped: $gout" ;;
        *) fail "--device cuda: $gout" ;;
    esac
fi

# baselines: five balanced classes -> the majority class gets ~20%, chance 20%
out=$("$R" "${args[@]}") || fail "retrain again: $out"
python3 - "$out" <<'PY' || fail "baselines: $out"
import json, sys
j = json.loads(sys.argv[1])
assert abs(j["chance_accuracy"] - 0.2) < 1e-9, j
assert 0.1 < j["majority_accuracy"] < 0.3, j
assert j["test_accuracy"] > j["majority_accuracy"], j
assert j["fold_max_diff"] is None and j["gzip_bytes"] is None, j  # not asked for
PY
out=$("$R" --backbone "$bb" --images "$WORK/five-b" --cache "$WORK/cache" --steps 600 --lr 0.05 \
      --print-misclassified 2>&1) || fail "misclassified: $out"
contains "$out" "always the majority class:"
python3 - "$out" <<'PY' || fail "misclassified count: $out"
import re, sys
t = sys.argv[1]
acc, n = re.search(r"final test accuracy ([0-9.]+)% \(N=(\d+)\)", t).groups()
wrong = len(re.findall(r"^misclassified: ", t, re.M))
assert round(int(n) * (1 - float(acc) / 100)) == wrong, (acc, n, wrong)
for m in re.finditer(r"^misclassified: (\S+)/\S+ \((\S+), predicted (\S+)\)$", t, re.M):
    assert m.group(1) == m.group(2) and m.group(2) != m.group(3), m.group(0)
PY
# a head that learns nothing (one step) is warned about
out=$("$R" --backbone "$bb" --images "$WORK/five-b" --cache "$WORK/cache" --steps 1 --lr 1e-9 2>&1) ||
    fail "one step: $out"
contains "$out" "warning: the test accuracy does not beat always answering"

# _nohash_: the variants of one picture land in one split, so every split
# holds whole groups of 3; the same files named without the marker do not
for mark in _nohash_ _v; do
    d="$WORK/nh$mark"
    mkdir -p "$d/a" "$d/b"
    for c in a b; do
        find "$WORK/five-b/Sandal" -name '*.jpg' | sort | sed -n 1,40p | while read -r src; do
            i=$(basename "$src" .jpg)
            for v in 0 1 2; do cp "$src" "$d/$c/pic$c$i$mark$v.jpg"; done
        done
    done
    out=$("$R" --backbone "$bb" --images "$d" --steps 5 --split validation=30,test=30 --json) ||
        fail "retrain $mark: $out"
    echo "$out" >"$WORK/split$mark.json"
done
python3 - "$WORK/split_nohash_.json" "$WORK/split_v.json" <<'PY' || fail "_nohash_ splits"
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
for j in (a, b):
    assert j["train"] + j["validation"] + j["test"] == 240, j
assert all(a[k] % 3 == 0 for k in ("train", "validation", "test")), a
assert not all(b[k] % 3 == 0 for k in ("train", "validation", "test")), b
PY
pass
