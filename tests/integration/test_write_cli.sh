#!/usr/bin/env bash
# tests/integration/test_write_cli.sh - tfrecord-write as a user runs it:
# Fashion-MNIST tree -> shards -> inspect; re-run is a no-op; changed options
# are refused without --force; a killed run leaves nothing that looks
# finished and the next run completes; workers + merge equal one run;
# images declaring too many pixels are skipped (--max-pixels);
# bad arguments exit non-zero with a message.
set -u
. "$(dirname "$0")/lib.sh"

W="$TFR_BIN/tfrecord-write"
I="$TFR_BIN/tfrecord-inspect"
FM=/usr/share/datasets/fashion-mnist
[ -f "$FM/train-images-idx3-ubyte.gz" ] || skip "dataset-fashion-mnist not installed"

"$TFR_BIN/fashion-mnist-tree" --limit 3000 "$WORK/fm" >/dev/null || fail "fashion-mnist-tree"
[ "$(find "$WORK/fm/train" -name '*.jpg' | wc -l)" = 3000 ] || fail "tree size"

# write, then inspect: counts match the tree and manifest, every CRC verifies
"$W" -q --channels 1 --shards 3 train="$WORK/fm/train" test="$WORK/fm/test" "$WORK/out" >/dev/null \
    || fail "write"
out=$("$I" -q --verify "$WORK/out") || fail "inspect --verify: $out"
contains "$out" "records    6000"
contains "$out" "labels (image/class/label): 10 classes"
[ -f "$WORK/out/train-00002-of-00003.tfrecord.gz" ] || fail "shard names"
[ "$(head -1 "$WORK/out/labels.txt")" = Ankle_boot ] || fail "labels.txt"
json=$(cat "$WORK/out/manifest.json")
[ "$(jq_get "$json" splits.train.records)" = 3000 ] || fail "manifest train records"
[ "$(jq_get "$json" complete)" = true ] || fail "manifest complete"
# the shards are plain gzip: gzip itself verifies them
for f in "$WORK"/out/*.tfrecord.gz; do gzip -t "$f" || fail "gzip -t $f"; done

# re-run with the same inputs: nothing to do; other options: refused; --force: rewritten
out=$("$W" -q --channels 1 --shards 3 train="$WORK/fm/train" test="$WORK/fm/test" "$WORK/out")
contains "$out" "up to date"
expect_fail "--force" "$W" -q --channels 3 --shards 3 train="$WORK/fm/train" test="$WORK/fm/test" "$WORK/out"
"$W" -q --force --channels 3 --shards 2 train="$WORK/fm/train" test="$WORK/fm/test" "$WORK/out" >/dev/null \
    || fail "--force"
[ ! -e "$WORK/out/train-00002-of-00003.tfrecord.gz" ] || fail "old shard survived --force"
"$I" -q --verify "$WORK/out" >/dev/null || fail "inspect after --force"

# thread count does not change a byte (GZIP chunked parallel compression)
"$W" -q --threads 1 --shards 2 "$WORK/fm/train" "$WORK/t1" >/dev/null || fail "t1"
"$W" -q --threads 3 --shards 2 "$WORK/fm/train" "$WORK/t3" >/dev/null || fail "t3"
for f in "$WORK"/t1/*.tfrecord.gz; do cmp "$f" "$WORK/t3/$(basename "$f")" || fail "threads differ: $f"; done
# the TensorFlow-identical single-stream mode also reads back
"$W" -q --chunk-size 0 --shards 1 "$WORK/fm/test" "$WORK/tf" >/dev/null || fail "--chunk-size 0"
"$I" -q --verify "$WORK/tf" >/dev/null || fail "inspect --chunk-size 0"

# workers: two processes each write their share; merge == single run
"$W" -q --shards 4 --num-workers 2 --worker-index 0 "$WORK/fm/train" "$WORK/wk" >/dev/null || fail "w0"
expect_fail "has not finished" "$W" --merge-manifests "$WORK/wk"
"$W" -q --shards 4 --num-workers 2 --worker-index 1 "$WORK/fm/train" "$WORK/wk" >/dev/null || fail "w1"
"$W" --merge-manifests "$WORK/wk" >/dev/null || fail "merge"
"$W" -q --shards 4 "$WORK/fm/train" "$WORK/single" >/dev/null || fail "single"
for f in "$WORK"/single/*.tfrecord.gz; do cmp "$f" "$WORK/wk/$(basename "$f")" || fail "worker shard differs: $f"; done
out=$("$I" -q --verify "$WORK/wk") || fail "inspect merged: $out"
contains "$out" "records    3000"
# the merged folder is the same set as one run: a rerun with the same inputs does nothing
out=$("$W" -q --shards 4 "$WORK/fm/train" "$WORK/wk" 2>&1) || fail "rerun on merged: $out"
contains "$out" "is up to date"

# workers from a scheduler's environment: a Slurm array (indexes from 1) and
# a Kubernetes Indexed Job each write their own shard, and say so; the merge
# equals the single run again
out=$(SLURM_ARRAY_TASK_ID=1 SLURM_ARRAY_TASK_MIN=1 "$W" -q --shards 2 --num-workers 2 \
      "$WORK/fm/train" "$WORK/env" 2>&1) || fail "slurm worker: $out"
contains "$out" "worker 0 of 2: wrote 1 of the 2 shards"
out=$(JOB_COMPLETION_INDEX=1 "$W" -q --shards 2 --num-workers 2 "$WORK/fm/train" "$WORK/env" 2>&1) ||
    fail "k8s worker: $out"
contains "$out" "worker 1 of 2: wrote 1 of the 2 shards"
"$W" --merge-manifests "$WORK/env" >/dev/null || fail "merge env workers"
"$W" -q --shards 2 "$WORK/fm/train" "$WORK/single2" >/dev/null || fail "single2"
for f in "$WORK"/single2/*.tfrecord.gz; do cmp "$f" "$WORK/env/$(basename "$f")" || fail "env worker shard differs: $f"; done
expect_fail "without --worker-index: give it, or run under a scheduler" \
    env -u SLURM_ARRAY_TASK_ID -u JOB_COMPLETION_INDEX -u OMPI_COMM_WORLD_RANK -u PMI_RANK \
    "$W" -q --num-workers 2 "$WORK/fm/train" "$WORK/none"
expect_fail "JOB_COMPLETION_INDEX=5 is not a worker index in 0..1" \
    env JOB_COMPLETION_INDEX=5 "$W" -q --num-workers 2 "$WORK/fm/train" "$WORK/none"
# the README's Slurm array and Kubernetes Indexed Job commands, scaled down,
# with the variables each scheduler sets given by hand
for i in 0 1; do
    SLURM_ARRAY_TASK_ID=$i SLURM_CPUS_PER_TASK=2 "$W" -q --size 28x28 --shards train=2,validation=1 \
        --num-workers 2 --threads 2 --split train=90,validation=10 "$WORK/fm/train" "$WORK/slurm" \
        >/dev/null 2>&1 || fail "README slurm task $i"
    JOB_COMPLETION_INDEX=$i "$W" -q --size 28x28 --shards train=2,validation=1 \
        --split train=90,validation=10 --num-workers 2 "$WORK/fm/train" "$WORK/k8s" \
        >/dev/null 2>&1 || fail "README k8s pod $i"
done
for d in slurm k8s; do
    "$W" --merge-manifests "$WORK/$d" >/dev/null || fail "merge $d"
    out=$("$I" -q --verify "$WORK/$d") || fail "verify $d: $out"
    contains "$out" "records    3000"
done
# more workers than shards: the spare one says so, writes nothing, succeeds
out=$("$W" -q --shards 2 --num-workers 3 --worker-index 2 "$WORK/fm/train" "$WORK/spare" 2>&1) ||
    fail "spare worker: $out"
contains "$out" "worker 2 of 3: no shard to write (2 shards for 3 workers); nothing to do"
ls "$WORK/spare" 2>/dev/null | grep -q 'tfrecord' && fail "the spare worker wrote a shard"

# an output folder that is the root or inside it would be scanned as a class
mkdir -p "$WORK/self/cat" && cp "$(find "$WORK/fm/test" -name '*.jpg' | head -1)" "$WORK/self/cat/a.jpg"
expect_fail "is the dataset root" "$W" -q "$WORK/self" "$WORK/self"
expect_fail "is inside the dataset root" "$W" -q "$WORK/self" "$WORK/self/out/deeper"
expect_fail "is inside the dataset root" "$W" -q train="$WORK/self" "$WORK/self/../self/o"
[ ! -e "$WORK/self/out" ] || fail "a refused run created its output folder"
"$W" -q "$WORK/self" "$WORK/selfish" >/dev/null || fail "a sibling folder with the root's name as prefix"

# kill -9 mid-run: no complete-looking shard or manifest; the next run completes
"$TFR_BIN/fashion-mnist-tree" --limit 20000 "$WORK/big" >/dev/null || fail "big tree"
"$W" -q --threads 1 --shards 4 --channels 3 --size 56x56 "$WORK/big/train" "$WORK/killed" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 2000); do
    ls "$WORK/killed" 2>/dev/null | grep -q incomplete && break
    sleep 0.01
done
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
if ls "$WORK/killed" | grep -q incomplete; then
    ls "$WORK/killed" | grep -v -e incomplete -e '\.tmp\.' | grep -q . && fail "killed run left finished-looking files: $(ls "$WORK/killed")"
else
    echo "note: the run finished before it could be killed; interruption not exercised"
fi
"$W" -q --threads 2 --shards 4 --channels 3 --size 56x56 "$WORK/big/train" "$WORK/killed" >/dev/null || fail "rerun after kill"
ls "$WORK/killed" | grep -q -e incomplete -e '\.tmp\.' && fail "temporaries survived the rerun"
"$I" -q --verify "$WORK/killed" >/dev/null || fail "inspect after rerun"

# awkward trees from the command line
mkdir -p "$WORK/odd/class a" "$WORK/odd/ünï"
cp "$WORK/fm/train/Bag/"*.jpg "$WORK/odd/class a/" 2>/dev/null
head -c 100 "$(ls "$WORK"/fm/train/Coat/*.jpg | head -1)" > "$WORK/odd/ünï/cut.jpg"
: > "$WORK/odd/ünï/empty.jpg"
cp "$(ls "$WORK"/fm/train/Coat/*.jpg | head -1)" "$WORK/odd/ünï/ok image.jpg"
out=$("$W" --json "$WORK/odd" "$WORK/oddout") || fail "odd tree"
[ "$(jq_get "$out" records)" = "$(( $(ls "$WORK/odd/class a" | wc -l) + 1 ))" ] || fail "odd records: $out"
contains "$out" "empty file"
contains "$out" "cut.jpg"

# decompression bombs: a JPEG and a PNG whose headers claim 46000x46000 are
# skipped (raw layout, full size: the case that once took 6 GB) with their size
# and the limit in the reason; --strict stops; --max-pixels moves the limit
mkdir -p "$WORK/bomb/a"
src_jpg=$(ls "$WORK"/fm/train/Bag/*.jpg | head -1)
cp "$src_jpg" "$WORK/bomb/a/ok.jpg"
python3 - "$src_jpg" "$WORK/bomb/a/bomb.jpg" "$WORK/bomb/a/bomb.png" <<'PY' || fail "making bombs"
import struct, sys, zlib
j = bytearray(open(sys.argv[1], "rb").read())
i = j.index(b"\xff\xc0")                      # SOF0: FF C0 len P H W
j[i + 5:i + 9] = struct.pack(">HH", 46000, 46000)
open(sys.argv[2], "wb").write(j)
def chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
ihdr = struct.pack(">IIBBBBB", 46000, 46000, 8, 2, 0, 0, 0)
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
open(sys.argv[3], "wb").write(png)
PY
out=$("$W" -q --json --layout raw "$WORK/bomb" "$WORK/bombout") || fail "bomb tree: $out"
[ "$(jq_get "$out" records)" = 1 ] || fail "bomb records: $out"
contains "$out" "bomb.jpg"
contains "$out" "bomb.png"
contains "$out" "JPEG declares 46000x46000 = 2116000000 pixels, over the limit of 178956970 pixels"
contains "$out" "PNG declares 46000x46000"
contains "$out" "--max-pixels raises it"
out=$("$W" -q --layout tensor "$WORK/bomb" "$WORK/bombtensor") || fail "bomb tree, tensor: $out"
contains "$out" "skipped 2 files"
expect_fail "declares 46000x46000 = 2116000000 pixels" "$W" -q --strict --layout raw "$WORK/bomb" "$WORK/bombstrict"
# the 28x28 image: kept at --max-pixels 784, skipped at 783 (jpeg pass-through too)
rm "$WORK/bomb/a/bomb.jpg" "$WORK/bomb/a/bomb.png"
out=$("$W" -q --json --layout raw --max-pixels 784 "$WORK/bomb" "$WORK/px784") || fail "--max-pixels 784: $out"
[ "$(jq_get "$out" records)" = 1 ] || fail "--max-pixels 784 records: $out"
out=$("$W" -q --json --max-pixels 783 "$WORK/bomb" "$WORK/px783") || fail "--max-pixels 783: $out"
[ "$(jq_get "$out" records)" = 0 ] || fail "--max-pixels 783 records: $out"
contains "$out" "28x28 = 784 pixels, over the limit of 783 pixels"
# another limit is another run (fingerprint): the old output is not "up to date"
expect_fail "--force" "$W" -q --max-pixels 1000 "$WORK/bomb" "$WORK/px783"
"$W" --max-pixels 0 "$WORK/bomb" "$WORK/o" >/dev/null 2>&1; [ $? = 2 ] || fail "--max-pixels 0 should exit 2"

# Tiny ImageNet layout: train/<wnid>/images/*.JPEG plus a flat val/images folder
# labelled by val_annotations.txt (file, wnid, box)
mkdir -p "$WORK/tiny/train/n01/images" "$WORK/tiny/train/n02/images" "$WORK/tiny/val/images"
imgs=("$WORK"/fm/train/Bag/*.jpg)
cp "${imgs[0]}" "$WORK/tiny/train/n01/images/n01_0.JPEG"
cp "${imgs[1]}" "$WORK/tiny/train/n02/images/n02_0.JPEG"
printf 'n01_0.JPEG 0 0 10 10\n' > "$WORK/tiny/train/n01/n01_boxes.txt"
cp "${imgs[2]}" "$WORK/tiny/val/images/val_0.JPEG"
cp "${imgs[3]}" "$WORK/tiny/val/images/val_1.JPEG"
cp "${imgs[4]}" "$WORK/tiny/val/images/val_2.JPEG"
printf 'val_0.JPEG\tn02\t0\t0\t5\t5\nval_1.JPEG\tn01\t1\t1\t6\t6\n' > "$WORK/tiny/val/val_annotations.txt"
out=$("$W" --json --labels-from val="$WORK/tiny/val/val_annotations.txt" \
      train="$WORK/tiny/train" val="$WORK/tiny/val/images" "$WORK/tinyout") || fail "tiny imagenet: $out"
[ "$(jq_get "$out" splits.train)" = 2 ] || fail "tiny train records: $out"
[ "$(jq_get "$out" splits.val)" = 2 ] || fail "tiny val records: $out"
contains "$out" "not listed in the labels file"
contains "$out" "n01_boxes.txt"
out=$("$I" -q --json "$WORK/tinyout/val-00000-of-00001.tfrecord.gz")
[ "$(jq_get "$out" labels[0].text)" = n01 ] || fail "val label text: $out"
[ "$(jq_get "$out" labels[1].count)" = 1 ] || fail "val labels: $out"
# --label-offset 1 (TF-models ImageNet): labels start at 1
out=$("$W" -q --label-offset 1 "$WORK/tiny/train" "$WORK/tinyoff" >/dev/null && "$I" -q --json "$WORK/tinyoff")
[ "$(jq_get "$out" labels[0].label)" = 1 ] || fail "--label-offset: $out"

# bad arguments
expect_fail "dataset root" "$W" "$WORK/nope" "$WORK/o"
expect_fail "no class folders" "$W" "$WORK/fm/train/Bag" "$WORK/o"
"$W" --size 0x5 "$WORK/fm/train" "$WORK/o" >/dev/null 2>&1; [ $? = 2 ] || fail "--size 0x5 should exit 2"
"$W" --split train=50,test=40 "$WORK/fm/train" "$WORK/o" >/dev/null 2>&1; [ $? = 2 ] || fail "bad --split should exit 2"
expect_fail "tensor layout" "$W" --normalize rescale "$WORK/fm/train" "$WORK/o"

# files that are not images by name are ignored and counted apart from
# damaged images; found = written + damaged; no doubled slashes
mkdir -p "$WORK/debris"
cp -r "$WORK/fm/train/." "$WORK/debris/"
first=$(ls "$WORK/debris" | head -1)
touch "$WORK/debris/$first/Thumbs.db"
echo "notes" >"$WORK/debris/$first/readme.txt"
echo "a,b" >"$WORK/debris/$first/labels.csv"
head -c 100 "$(find "$WORK/debris/$first" -name '*.jpg' | head -1)" >"$WORK/debris/$first/cut.jpg"
json=$("$W" --json "$WORK/debris/" "$WORK/debris-out") || fail "write debris: $json"
python3 - "$json" <<'PY' || fail "debris counts: $json"
import json, sys
j = json.loads(sys.argv[1])
assert j["ignored"] == 3, j["ignored"]
reasons = [s["reason"] for s in j["skipped"]]
assert reasons.count("ignored (not an image)") == 3, reasons
assert j["images_found"] == j["records"] + 1, (j["images_found"], j["records"])
assert all("//" not in s["path"] for s in j["skipped"]), j["skipped"]
PY
out=$("$W" --force "$WORK/debris/" "$WORK/debris-out" 2>&1) || fail "write debris text"
contains "$out" "ignored 3 files that are not images"
contains "$out" "skipped 1 file:"

# one open and one read per input file: the writer checks content from the
# bytes it decodes; a file that is no image by content is skipped with the
# scan's reason, counted in neither images_found nor records, and an
# up-to-date rerun (which reads nothing) reports the same
mkdir -p "$WORK/once"
cp -r "$WORK/fm/train/." "$WORK/once/"
echo "this is text" >"$WORK/once/$first/fake.jpg"
printf 'GIF89a......' >"$WORK/once/$first/anim.jpg"
nimg=$(find "$WORK/once" -name '*.jpg' | wc -l)
if command -v strace >/dev/null && strace -f -qq -o /dev/null -e trace=none true 2>/dev/null; then
    # (LeakSanitizer cannot run under ptrace: the sanitizer build's leak check is off here)
    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
    strace -f -qq -o "$WORK/once.trace" -e trace=open,openat,read,close "$W" -q --threads 1 \
        "$WORK/once" "$WORK/once-out" >/dev/null || fail "write under strace"
    python3 - "$WORK/once.trace" "$WORK/once" "$nimg" <<'PY' || fail "opens per input file"
import collections, re, sys
trace, root, nimg = sys.argv[1], sys.argv[2], int(sys.argv[3])
opens = collections.Counter()
fd_of = {}
reads = collections.Counter()
for line in open(trace):
    m = re.match(r'(\d+)\s+open(?:at)?\((?:AT_FDCWD, )?"([^"]+)".*= (\d+)$', line)
    if m:
        fd_of.pop((m.group(1), m.group(3)), None)  # the number now names another file
        if m.group(2).startswith(root + "/") and m.group(2).endswith(".jpg"):
            opens[m.group(2)] += 1
            fd_of[(m.group(1), m.group(3))] = m.group(2)
        continue
    m = re.match(r'(\d+)\s+close\((\d+)\)', line)
    if m:
        fd_of.pop((m.group(1), m.group(2)), None)
        continue
    m = re.match(r'(\d+)\s+read\((\d+),', line)
    if m and (m.group(1), m.group(2)) in fd_of:
        reads[fd_of[(m.group(1), m.group(2))]] += 1
assert len(opens) == nimg, (len(opens), nimg)
twice = [p for p, n in opens.items() if n != 1]
assert not twice, ("opened more than once", twice[:3])
more = [p for p, n in reads.items() if n != 1]
assert not more, ("read more than once", more[:3])
PY
else
    "$W" -q "$WORK/once" "$WORK/once-out" >/dev/null || fail "write once"
fi
j1=$("$W" --json --threads 2 --force "$WORK/once" "$WORK/once-out") || fail "write once: $j1"
j2=$("$W" --json "$WORK/once" "$WORK/once-out") || fail "rerun once: $j2"
python3 - "$j1" "$j2" "$nimg" <<'PY' || fail "content skips: $j1 / $j2"
import json, sys
a, b, nimg = json.loads(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3])
assert not a["up_to_date"] and b["up_to_date"], (a["up_to_date"], b["up_to_date"])
for j in (a, b):
    why = {s["path"].rsplit("/", 1)[1]: s["reason"] for s in j["skipped"]}
    assert why.get("fake.jpg") == "not a JPEG or PNG image (by content)", why
    assert why.get("anim.jpg") == "not a JPEG or PNG image (by content)", why
    assert j["images_found"] == nimg - 2 == a["records"], (j["images_found"], nimg, a["records"])
assert a["skipped"] == b["skipped"], (a["skipped"], b["skipped"])
PY
mkdir -p "$WORK/noimg/a" "$WORK/noimg/b"
echo x >"$WORK/noimg/a/1.jpg"; echo y >"$WORK/noimg/b/2.png"
expect_fail "no JPEG or PNG images found" "$W" "$WORK/noimg" "$WORK/noimg-out"
[ ! -e "$WORK/noimg-out/manifest.json" ] || fail "a set of no images was committed"

# manifest.json's features are exactly the keys the records hold, with their kinds
for layout in jpeg raw tensor; do
    "$W" -q --layout "$layout" --size 16x16 "$WORK/fm/train" "$WORK/feat-$layout" >/dev/null ||
        fail "write $layout"
    json=$("$TFR_BIN/tfrecord-inspect" -q --json --sample 0 "$WORK/feat-$layout")
    python3 - "$WORK/feat-$layout/manifest.json" "$json" <<'PY' || fail "$layout features"
import json, sys
m = json.load(open(sys.argv[1]))
schema = {k["key"]: k["kind"] for k in json.loads(sys.argv[2])["schema"]}
feats = {f["key"]: f["dtype"] for f in m["features"]}
assert feats == schema, (feats, schema)
assert all(f["shape"] == [] and f["meaning"] for f in m["features"]), m["features"]
PY
done
pass

