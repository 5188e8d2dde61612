#!/usr/bin/env bash
# tests/integration/test_stream_tensor_cli.sh - tensor-layout shards read at
# another size than they were written: tfrecord-read (larger, much larger,
# smaller; with and without pad-crop) and tfrecord-train exit 0 with the
# asked shape (they used to overflow the stream's float scratch buffer).
set -u
. "$(dirname "$0")/lib.sh"

W="$TFR_BIN/tfrecord-write"
R="$TFR_BIN/tfrecord-read"
T="$TFR_BIN/tfrecord-train"
"$TFR_TEST_BIN/tfr-mktree" photos "$WORK/photos" >/dev/null || fail "tfr-mktree"
"$W" -q --layout tensor --size 12x12 "$WORK/photos" "$WORK/out/" >/dev/null || fail "write tensor 12x12"

for fmt in nhwc nchw; do
    for size in 16x16 256x256 40x24 8x8 12x12; do
        for pad in 0 3; do
            what="read --format $fmt --size $size --pad-crop $pad"
            json=$("$R" -q --json --threads 2 --format "$fmt" --size "$size" --pad-crop "$pad" "$WORK/out/") \
                || fail "$what: exit $?"
            [ "$(jq_get "$json" width)x$(jq_get "$json" height)" = "$size" ] || fail "$what: shape $json"
            [ "$(jq_get "$json" channels)" = 3 ] || fail "$what: channels $json"
            [ "$(jq_get "$json" images)" = "$(jq_get "$(cat "$WORK/out/manifest.json")" splits.train.records)" ] \
                || fail "$what: image count $json"
            [ "$(jq_get "$json" corrupt_skipped)" = 0 ] || fail "$what: skipped records $json"
        done
    done
done

# the trainer streams the same shards at its own input size
out=$("$T" --train "$WORK/out/" --input 32x32x3 --width 8 --levels 1,1 --epochs 1 --batch 16 --threads 2 \
      --logdir "$WORK/log" 2>&1) || fail "train --input 32x32x3: $out"
contains "$out" "32x32x3 ->"
contains "$out" "epoch 1/1"
[ "$(wc -l < "$WORK/log/history.csv")" = 2 ] || fail "history rows"
pass
