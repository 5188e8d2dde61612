#!/usr/bin/env bash
# tests/integration/test_engines_cli.sh - every deflate engine built in
# writes standard files: gzip -t accepts them, Python's gzip and zlib
# modules read back exactly the records of the uncompressed shard, in one
# member (streaming and chunked) and in several (shards concatenated), and
# the project's reader verifies every CRC; an engine that is not built in is
# refused naming the ones that are; the engine is part of the fingerprint.
# --index: seekable shards and their index, checked by Python alone: every
# record's offset and length in the decompressed stream, and a raw inflate
# that starts at any chunk's file offset gives the stream from that chunk's
# offset on.
set -u
. "$(dirname "$0")/lib.sh"
W="$TFR_BIN/tfrecord-write"
I="$TFR_BIN/tfrecord-inspect"
command -v gzip >/dev/null || skip "gzip not installed"
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || skip "dataset-fashion-mnist not installed"
"$TFR_BIN/fashion-mnist-tree" --limit 3000 "$WORK/fm" >/dev/null || fail "tree"
"$W" -q --compression none "$WORK/fm/train" "$WORK/plain" >/dev/null || fail "write plain"
plain="$WORK/plain/train-00000-of-00001.tfrecord"
[ -f "$plain" ] || fail "no plain shard: $(ls "$WORK/plain")"
built="zlib"
if "$W" -q --engine isal "$WORK/fm/train" "$WORK/probe" >/dev/null 2>&1; then built="zlib isal"; fi
for e in $built auto; do
    for chunk in 0 64K 1M; do
        for comp in gzip zlib; do
            out="$WORK/$e-$chunk-$comp"
            "$W" -q --engine "$e" --chunk-size "$chunk" --compression "$comp" "$WORK/fm/train" "$out" \
                >/dev/null || fail "write $e $chunk $comp"
            f=$(ls "$out"/train-*)
            if [ "$comp" = gzip ]; then gzip -t "$f" || fail "gzip -t: $e $chunk"; fi
            python3 - "$f" "$plain" "$comp" <<'PY' || fail "python reads $e $chunk $comp"
import gzip, sys, zlib
f, plain, comp = sys.argv[1:4]
data = open(f, "rb").read()
raw = gzip.decompress(data) if comp == "gzip" else zlib.decompress(data)
assert raw == open(plain, "rb").read(), "not the uncompressed shard's bytes"
PY
            out2=$("$I" -q --verify --sample 0 "$f") || fail "verify $e $chunk $comp: $out2"
        done
    done
done
# several members: two shards end to end are one file of two members
if [ "$built" != zlib ]; then
    cat "$WORK/isal-1M-gzip"/train-* "$WORK/zlib-0-gzip"/train-* >"$WORK/two.tfrecord.gz"
    gzip -t "$WORK/two.tfrecord.gz" || fail "gzip -t two members"
    json=$("$I" -q --json --sample 0 "$WORK/two.tfrecord.gz") || fail "verify two members"
    [ "$(jq_get "$json" "files[0].members")" = 2 ] || fail "members: $json"
    [ "$(jq_get "$json" records)" = 6000 ] || fail "records of two members: $json"
    out=$("$I" -q --sample 0 --index "$WORK/twoix" "$WORK/two.tfrecord.gz") || fail "index two: $out"
    contains "$out" "two.tfrecord.gz: not indexed: it has several members"
    contains "$out" "indexed 0 of 1 files"
    python3 -c 'import gzip, sys; d = gzip.open(sys.argv[1]).read(); p = open(sys.argv[2], "rb").read(); assert d == p + p' \
        "$WORK/two.tfrecord.gz" "$plain" || fail "python reads two members"
    # the engine is part of the shard set's identity
    out=$("$W" --engine zlib "$WORK/fm/train" "$WORK/isal-1M-gzip" 2>&1) && fail "zlib over isal shards: $out"
    contains "$out" "other inputs or options"
else
    expect_fail "deflate engine 'isal' is not built in (this build has: zlib, auto)" \
        "$W" --engine isal "$WORK/fm/train" "$WORK/x"
fi

# seekable indexed shards
for e in $built; do
    "$W" -q --index --engine "$e" --shards 2 "$WORK/fm/train" "$WORK/ix-$e" >/dev/null || fail "write --index $e"
    for f in "$WORK/ix-$e"/train-*.tfrecord.gz; do
        ix="$WORK/ix-$e/index/$(basename "$f").index"
        [ -f "$ix" ] || fail "no index for $f"
        gzip -t "$f" || fail "gzip -t $f"
        python3 - "$f" "$ix" <<'PY' || fail "index of $f"
import gzip, struct, sys, zlib
f, ix = sys.argv[1:3]
data = open(f, "rb").read()
stream = gzip.decompress(data)
lines = open(ix).read().splitlines()
head = dict(l.split(" ", 1) for l in lines[:6])
assert lines[0] == "tfrecord-index 1" and int(head["bytes"]) == len(data), head
assert head["compression"] == "gzip" and head["seekable"] == "1", head
nrec, nchk = int(head["records"]), int(head["chunks"])
chunks = [tuple(map(int, l.split()[1:])) for l in lines[6:6 + nchk]]
recs = [tuple(map(int, l.split()[1:])) for l in lines[6 + nchk:]]
assert len(recs) == nrec and nchk > 1, (nrec, nchk)
pos = 0
for off, n in recs:  # every record, back to back, lengths as in the stream
    assert off == pos and struct.unpack("<Q", stream[off:off + 8])[0] == n, (off, n)
    pos = off + 16 + n
assert pos == len(stream)
for coff, uoff in chunks:  # inflating from any chunk needs nothing before it
    d = zlib.decompressobj(-15)
    got = d.decompress(data[coff:coff + (4 << 20)], 1 << 16)
    assert got == stream[uoff:uoff + len(got)] and len(got) > 0, (coff, uoff)
PY
    done
    out=$("$I" -q --verify --sample 0 "$WORK/ix-$e") || fail "verify indexed $e: $out"
    # manifest.json names each shard's index with its counts
    python3 - "$WORK/ix-$e" <<'PY' || fail "manifest index entries ($e)"
import json, os, sys
d = sys.argv[1]
m = json.load(open(os.path.join(d, "manifest.json")))
assert len(m["shards"]) == 2
for sh in m["shards"]:
    ix = sh["index"]
    assert ix["file"] == "index/" + sh["file"] + ".index", ix
    head = dict(l.split(" ", 1) for l in open(os.path.join(d, ix["file"])).read().splitlines()[:6])
    assert ix["seekable"] is True and int(head["chunks"]) == ix["chunks"] > 1, (ix, head)
    assert int(head["records"]) == sh["records"], (head, sh)
PY
done
"$W" -q --shards 2 "$WORK/fm/train" "$WORK/noix" >/dev/null || fail "write without --index"
python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); assert all("index" not in s for s in m["shards"])' \
    "$WORK/noix/manifest.json" || fail "an index entry without --index"

# uncompressed shards with --index also get DALI's index (tfrecord2idx format)
"$W" -q --index --compression none --shards 2 "$WORK/fm/train" "$WORK/dali" >/dev/null || fail "write dali"
for f in "$WORK/dali"/train-*.tfrecord; do
    idx="$WORK/dali/index/$(basename "$f").idx"
    python3 - "$f" "$idx" <<'PY' || fail "DALI index of $f"
import struct, sys
data = open(sys.argv[1], "rb").read()
pos = 0
for line in open(sys.argv[2]):
    off, size = map(int, line.split())
    assert off == pos, (off, pos)
    assert struct.unpack("<Q", data[off:off + 8])[0] == size - 16, (off, size)
    pos = off + size
assert pos == len(data) and pos > 0
PY
done

# --verify checks the index beside the shards: one that lost its last record is a defect
e1=$(echo $built | cut -d' ' -f1)
f=$(ls "$WORK/ix-$e1"/train-*.tfrecord.gz | head -1)
ix="$WORK/ix-$e1/index/$(basename "$f").index"
python3 - "$ix" <<'PY'
import sys
p = sys.argv[1]
lines = open(p).read().splitlines()
n = int(lines[4].split()[1])
lines[4] = "records %d" % (n - 1)
open(p, "w").write("\n".join(lines[:-1]) + "\n")
PY
out=$("$I" -q --verify --sample 0 "$WORK/ix-$e1" 2>&1) && fail "an index that disagrees passed --verify: $out"
contains "$out" "disagrees with it: it lists"
pass

