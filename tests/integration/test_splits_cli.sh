#!/usr/bin/env bash
# tests/integration/test_splits_cli.sh - a shard set's splits are never mixed
# by accident: tfrecord-write --split train=80,validation=10,test=10, then
# tfrecord-train on the folder (and on its manifest) trains on the train
# split only and validates on the validation split, saying so; a glob over
# every split is refused with the command that fixes it; SOURCE:SPLIT names
# one split in tfrecord-train, tfrecord-read and tfrecord-inspect, and an
# unknown one is an error listing the splits there are; tfrecord-read on the
# folder says it reads every split; tfrecord-retrain keeps the shards' own
# splits. Counts are checked against the writer's manifest.json.
set -u
. "$(dirname "$0")/lib.sh"
W="$TFR_BIN/tfrecord-write"
T="$TFR_BIN/tfrecord-train"
R="$TFR_BIN/tfrecord-read"
I="$TFR_BIN/tfrecord-inspect"
RT="$TFR_BIN/tfrecord-retrain"
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || skip "dataset-fashion-mnist not installed"
"$TFR_BIN/fashion-mnist-tree" --limit 300 "$WORK/fm" >/dev/null || fail "tree"
"$W" -q --split train=80,validation=10,test=10 "$WORK/fm/train" "$WORK/out" >/dev/null || fail "write"
count() { # records of a split, from the manifest
    python3 -c 'import json,sys; m=json.load(open(sys.argv[1]))
print(sum(s["records"] for s in m["shards"] if s["split"] == sys.argv[2]))' "$WORK/out/manifest.json" "$1"
}
ntrain=$(count train); nval=$(count validation); ntest=$(count test)
[ $((ntrain + nval + ntest)) = 300 ] && [ "$nval" -gt 0 ] && [ "$ntest" -gt 0 ] || fail "split counts $ntrain $nval $ntest"

small=(--width 4 --levels 1 --batch 16 --epochs 1 --threads 2 --checkpoint-dir "$WORK/ck")
for src in "$WORK/out" "$WORK/out/manifest.json"; do
    rm -rf "$WORK/log"
    out=$("$T" --train "$src" --val "$src" "${small[@]}" --logdir "$WORK/log" 2>&1) ||
        fail "train on $src: $out"
    contains "$out" "train: $ntrain records in 1 shard (split train of $src, the default for --train)"
    contains "$out" "val: $nval records in 1 shard (split validation of $src, the default for --val)"
    # the epoch took the training split only: ceil(ntrain / 16) steps, not ceil(300 / 16)
    steps=$(tail -1 "$WORK/log/history.csv" | cut -d, -f2)
    [ "$steps" = $(( (ntrain + 15) / 16 )) ] || fail "$steps steps in the epoch for $ntrain training records"
done
expect_fail "would include the 'test' split" "$T" --train "$WORK/out/*" "${small[@]}"
expect_fail "--train '$WORK/out/:train'" "$T" --train "$WORK/out/*" "${small[@]}"
out=$("$T" --train "$WORK/out:test" "${small[@]}" 2>&1) || fail "train on a named split: $out"
contains "$out" "train: $ntest records in 1 shard (split test, named by $WORK/out:test)"
expect_fail "no split 'nope' in this shard set (its splits: " "$T" --train "$WORK/out:nope" "${small[@]}"

# tfrecord-read: every split, said; or the one named
out=$("$R" --channels 1 "$WORK/out" 2>&1) || fail "read all: $out"
contains "$out" "every split; $WORK/out:NAME reads one"
contains "$out" "300 images"
out=$("$R" --channels 1 "$WORK/out/manifest.json:test" 2>&1) || fail "read test: $out"
contains "$out" "$ntest images"
expect_fail "no split 'nope'" "$R" "$WORK/out:nope"
out=$("$I" "$WORK/out:validation" 2>&1) || fail "inspect validation: $out"
contains "$out" "records    $nval"

# tfrecord-retrain on the shards: the writer's splits, not its own hash
bb=$(ls "$WORK"/ck/epoch-*.tfrc | head -1)
out=$("$RT" --backbone "$bb" --images "$WORK/out" --cache "$WORK/cache" --out "$WORK/model" \
      --steps 5 --json 2>/dev/null) || fail "retrain on shards"
[ "$(jq_get "$out" writer_splits)" = true ] || fail "retrain re-split the shards: $out"
[ "$(jq_get "$out" train)" = "$ntrain" ] && [ "$(jq_get "$out" validation)" = "$nval" ] &&
    [ "$(jq_get "$out" test)" = "$ntest" ] || fail "retrain splits differ from the writer's: $out"
pass
