#!/usr/bin/env bash
# tests/integration/test_inspect_cli.sh - tfrecord-inspect as a user runs it:
# golden TensorFlow files, exit codes on defects and bad arguments, JSON;
# pictures: the pixel statistics of Fashion-MNIST match its published mean
# and standard deviation, the contact sheet is a PNG of the size --json
# says (read from its IHDR here, not by the project's decoder), --dump
# writes the first N images.
set -u
. "$(dirname "$0")/lib.sh"

INSPECT="$TFR_BIN/tfrecord-inspect"
G="$TFR_GOLDEN"
[ -f "$G/pwnall-singles.tfrecords" ] || skip "golden files not found in $G"

# golden files: exact record counts, clean verdict, exit 0 under --verify
out=$("$INSPECT" -q --verify "$G") || fail "--verify on golden files exited $?"
contains "$out" "records    152"
contains "$out" "verdict: OK"
json=$("$INSPECT" -q --json "$G/tfx-penguin-eval-data_tfrecord-00000-of-00001.gz")
[ "$(jq_get "$json" "records")" = 100 ] || fail "penguin records: $json"
[ "$(jq_get "$json" "files[0].members")" = 1 ] || fail "penguin members"
[ "$(jq_get "$json" "label_key")" = species ] || fail "label key"
# --show prints readable Examples
out=$("$INSPECT" -q --show 1 "$G/pwnall-singles.tfrecords")
contains "$out" "int_feature"
contains "$out" "[42]"

# defects: non-zero under --verify, listed with file, record and offset
python3 - "$WORK" "$G" <<'PY'
import sys
w, g = sys.argv[1], sys.argv[2]
d = bytearray(open(g + "/tfrecord_lite-test.tfrecord", "rb").read())
d[500] ^= 4
open(w + "/flip.tfrecord", "wb").write(d)
z = open(g + "/tfx-penguin-eval-data_tfrecord-00000-of-00001.gz", "rb").read()
open(w + "/trail.gz", "wb").write(z + b"garbage")
open(w + "/notrailer.gz", "wb").write(z[:-8])
open(w + "/cut-header.tfrecord", "wb").write(open(g + "/pwnall-singles.tfrecords", "rb").read()[:-40])
PY
for f in flip.tfrecord trail.gz notrailer.gz cut-header.tfrecord; do
    if out=$("$INSPECT" -q --verify "$WORK/$f" 2>&1); then
        fail "--verify accepted damaged $f"
    fi
    contains "$out" "$WORK/$f: record"
    contains "$out" "DEFECTS FOUND"
done
out=$("$INSPECT" -q --verify "$WORK/flip.tfrecord" 2>&1 || true)
contains "$out" "record 4, offset 403: data CRC mismatch"
# records after the damaged one are still read (skip and count)
json=$("$INSPECT" -q --json "$WORK/flip.tfrecord")
[ "$(jq_get "$json" "records")" = 41 ] || fail "records around a bad CRC: $json"
out=$("$INSPECT" -q --verify "$WORK/trail.gz" 2>&1 || true)
contains "$out" "7 bytes of trailing data"
out=$("$INSPECT" -q --verify "$WORK/cut-header.tfrecord" 2>&1 || true)
contains "$out" "truncated record"
# without --verify the report is still printed and the exit status is 0
"$INSPECT" -q "$WORK/flip.tfrecord" >/dev/null || fail "plain inspect exited non-zero on a readable file"

# bad arguments: clear message, non-zero exit
expect_fail "cannot open" "$INSPECT" "$WORK/missing.tfrecord"
mkdir -p "$WORK/empty"
expect_fail "no record files" "$INSPECT" "$WORK/empty"
expect_fail "no file matches" "$INSPECT" "$WORK/nothing-*.gz"
touch "$WORK/unreadable.tfrecord"; chmod 000 "$WORK/unreadable.tfrecord"
if [ "$(id -u)" != 0 ]; then
    expect_fail "Permission denied" "$INSPECT" --verify "$WORK/unreadable.tfrecord"
fi
"$INSPECT" --max-errors x "$G" >/dev/null 2>&1; [ $? = 2 ] || fail "bad option value should exit 2"
"$INSPECT" >/dev/null 2>&1; [ $? = 2 ] || fail "no arguments should exit 2"

# pictures, on all of Fashion-MNIST's training set (published: mean 0.2860,
# std 0.3530 of the raw pixels; the JPEG tree shifts them by about 0.0015)
if [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
    "$TFR_BIN/fashion-mnist-tree" "$WORK/fm" >/dev/null || fail "tree"
    "$TFR_BIN/tfrecord-write" -q train="$WORK/fm/train" test="$WORK/fm/test" "$WORK/fms" >/dev/null ||
        fail "write"
    json=$("$INSPECT" -q --json --decode-all --contact-sheet "$WORK/sheet.png" --per-class 5 \
           --cell 40 --dump "$WORK/dump" 4 "$WORK/fms:train") || fail "pictures: $json"
    python3 - "$json" "$WORK/sheet.png" <<'PY' || fail "pictures JSON: $json"
import json, struct, sys
j = json.loads(sys.argv[1])
px = j["pixels"]
assert px["exact"] and px["images"] == 60000, px
assert abs(px["mean"][0] - 0.2860) < 0.003 and abs(px["std"][0] - 0.3530) < 0.003, px
assert j["image_sizes"] == [{"width": 28, "height": 28, "count": 60000}], j["image_sizes"]
cs = j["contact_sheet"]
png = open(sys.argv[2], "rb").read()
assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
w, h = struct.unpack(">II", png[16:24])
assert (w, h) == (cs["width"], cs["height"]) and cs["rows"] == 10, (w, h, cs)
assert w == 150 + 5 * 42 + 2, w
assert j["dumped"] == 4
PY
    [ "$(ls "$WORK/dump" | grep -c '^train-00000-of-00001-r00000[0-3]-label[0-9]\.png$')" = 4 ] ||
        fail "dump names: $(ls "$WORK/dump")"
    out=$("$INSPECT" -q "$WORK/fms:test")
    contains "$out" "pixels (x/255, a uniform sample of 200 of 10000 images"
    contains "$out" "for tfrecord-train: --mean 0."
    python3 - "$out" <<'PY' || fail "the sample's standard error does not cover the exact mean: $out"
import re, sys
m, se = map(float, re.search(r"mean ([0-9.]+) \+- ([0-9.]+)", sys.argv[1]).groups())
assert 0 < se < 0.05 and abs(m - 0.2868) < 4 * se, (m, se)  # the test set's raw mean is 0.2868
PY
    contains "$out" "image sizes (from headers, 10000 images): 28x28 10000"
fi

# --spec: a tf.data reader that is valid Python, for the jpeg and tensor layouts
if [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
    "$TFR_BIN/tfrecord-write" -q --layout tensor --normalize rescale --size 16x16 --channels 3 "$WORK/fm/test" \
        "$WORK/tens" >/dev/null || fail "write tensor"
    spec=$("$INSPECT" -q --spec "$WORK/fms:train") || fail "spec"
    contains "$spec" '"image/encoded": tf.io.FixedLenFeature([], tf.string),  # JPEG images'
    contains "$spec" '"image/class/label": tf.io.FixedLenFeature([], tf.int64),'
    contains "$spec" 'tf.io.decode_jpeg(example["image/encoded"], channels=1)'
    contains "$spec" 'return image_encoded, example["image/class/label"]'
    contains "$spec" 'compression_type="GZIP"'
    python3 -c 'import ast, sys; ast.parse(sys.argv[1])' "$spec" || fail "--spec is not Python: $spec"
    spec=$("$INSPECT" -q --spec "$WORK/tens") || fail "spec tensor"
    contains "$spec" 'img = tf.io.parse_tensor(example["img"], out_type=tf.float32)  # [16,16,3]'
    contains "$spec" 'label = tf.io.parse_tensor(example["label"], out_type=tf.uint8)'
    contains "$spec" 'return img, label'
    python3 -c 'import ast, sys; ast.parse(sys.argv[1])' "$spec" || fail "--spec is not Python: $spec"
    # the tensor layout understood: dtype, shape, range, the label histogram
    out=$("$INSPECT" -q "$WORK/tens")
    contains "$out" "float32 tensor [16,16,3], values 0 .. 1"
    contains "$out" "labels (label): 10 classes over 10000 records"
    json=$("$INSPECT" -q --json "$WORK/tens")
    [ "$(jq_get "$json" "schema[0].tensor.shape[2]")" = 3 ] || fail "tensor shape in json: $json"
    # a --label-key no record has is an error naming the keys there are
    expect_fail "--label-key nope: no record has it (the keys are: img, label)" \
        "$INSPECT" -q --label-key nope "$WORK/tens"
    "$INSPECT" -q --label-key nope "$WORK/tens" >/dev/null 2>&1; [ $? = 2 ] || fail "--label-key: exit 2"
    # a JPEG named like a shard is said to be a JPEG
    cp "$(find "$WORK/fm/train" -name "*.jpg" | sort | head -1)" "$WORK/photo.tfrecord"
    out=$("$INSPECT" -q "$WORK/photo.tfrecord" 2>&1)
    contains "$out" "photo.tfrecord: a JPEG image, not a TFRecord file"
fi
pass

