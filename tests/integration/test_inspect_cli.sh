#!/usr/bin/env bash
# tests/integration/test_inspect_cli.sh - tfrecord-inspect as a user runs it:
# golden TensorFlow files, exit codes on defects and bad arguments, JSON.
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
pass
