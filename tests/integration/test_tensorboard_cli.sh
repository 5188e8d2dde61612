#!/usr/bin/env bash
# tests/integration/test_tensorboard_cli.sh - the TensorBoard logs of
# tfrecord-train, read back by an independent decoder: Google's protoc
# (--decode, from the project's restatement of TensorFlow's and
# TensorBoard's protos) on every record. Checks the Keras layout (train/ and
# validation/ runs with the same epoch_loss/epoch_accuracy tags; the
# untrained model at step 0), batch_loss every --log-every steps, images
# that hold PNGs of the size they declare (the first batch, the confusion
# matrix), histograms of every parameter tensor whose counts add up to the
# model's parameter count, the hparams session start (with the run's
# options) and end (success), and wall times inside the run.
set -u
. "$(dirname "$0")/lib.sh"
command -v protoc >/dev/null || skip "protoc not installed (protobuf-compiler)"
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || skip "dataset-fashion-mnist not installed"
"$TFR_BIN/fashion-mnist-tree" --limit 400 "$WORK/fm" >/dev/null || fail "tree"
"$TFR_BIN/tfrecord-write" -q train="$WORK/fm/train" test="$WORK/fm/test" "$WORK/shards" >/dev/null ||
    fail "write"
t0=$(date +%s)
out=$("$TFR_BIN/tfrecord-train" --train "$WORK/shards" --val "$WORK/shards" --width 4 --levels 1 \
      --epochs 2 --batch 32 --lr 0.05 --flip --log-every 5 --threads 2 --logdir "$WORK/run" 2>&1) ||
    fail "train: $out"
t1=$(($(date +%s) + 1))
params=$(printf '%s\n' "$out" | sed -n 's/.* \([0-9]*\) parameters.*/\1/p')
[ -n "$params" ] || fail "no parameter count in: $out"
python3 - "$WORK/run" "$TFR_SRC/proto" "$params" "$t0" "$t1" <<'PY' || fail "event files"
import codecs, glob, os, struct, subprocess, sys

run, proto, params, t0, t1 = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])

def records(path):
    d = open(path, "rb").read()
    p = 0
    while p < len(d):
        (n,) = struct.unpack("<Q", d[p:p + 8])
        yield d[p + 12:p + 12 + n]
        p += 16 + n

def parse_text(lines):
    """protoc's text format into dicts of lists"""
    out, i = {}, 0
    while i < len(lines):
        l = lines[i].strip()
        i += 1
        if not l:
            continue
        if l == "}":
            return out, i
        if l.endswith("{"):
            sub, used = parse_text(lines[i:])
            i += used
            out.setdefault(l[:-1].strip(), []).append(sub)
        else:
            k, v = l.split(":", 1)
            v = v.strip()
            if v.startswith('"'):
                v = codecs.escape_decode(v[1:-1].encode("latin1"))[0]
            out.setdefault(k, []).append(v)
    return out, i

def decode(msg, data, file="event.proto"):
    r = subprocess.run(["protoc", "--decode=" + msg, "-I", proto, os.path.join(proto, file)],
                       input=data, capture_output=True, check=True)
    return parse_text(r.stdout.decode("latin1").splitlines())[0]

def events(sub):
    (f,) = glob.glob(os.path.join(run, sub, "events.out.tfevents.*.v2"))
    ev = [decode("tensorflow.Event", r) for r in records(f)]
    assert ev[0]["file_version"] == [b"brain.Event:2"], ev[0]
    for e in ev:
        w = float(e["wall_time"][0])
        assert t0 - 1 <= w <= t1, ("wall time outside the run", w, t0, t1)
    return ev[1:]

def values(ev):
    for e in ev:
        step = int(e.get("step", ["0"])[0])
        for v in e["summary"][0]["value"]:
            yield step, v["tag"][0].decode(), v

train, val, root = events("train"), events("validation"), events("")
tr, va = {}, {}
for step, tag, v in values(train):
    tr.setdefault(tag, []).append((step, v))
for step, tag, v in values(val):
    va.setdefault(tag, []).append((step, v))

# Keras layout: the same tags in train/ and validation/, one per epoch; the baseline at 0
assert [s for s, _ in tr["epoch_loss"]] == [1, 2], tr["epoch_loss"]
assert [s for s, _ in va["epoch_loss"]] == [0, 1, 2], va["epoch_loss"]
assert [s for s, _ in va["epoch_accuracy"]] == [0, 1, 2]
for s, v in tr["epoch_accuracy"] + va["epoch_accuracy"]:
    assert 0 <= float(v["simple_value"][0]) <= 1
assert [s for s, _ in tr["epoch_learning_rate"]] == [1, 2]
bl = [s for s, _ in tr["batch_loss"]]
assert bl and all(s % 5 == 0 for s in bl) and bl == sorted(bl), bl

# images: PNGs of the declared size
def png_size(b):
    assert b[:8] == b"\x89PNG\r\n\x1a\n" and b[12:16] == b"IHDR", b[:16]
    return struct.unpack(">II", b[16:24])
for tag, d, want in (("first_batch", tr, 1), ("confusion_matrix", va, 3)):
    assert [s for s, _ in d[tag]] == [1, 2], (tag, d[tag])
    for s, v in d[tag]:
        im = v["image"][0]
        w, h = png_size(im["encoded_image_string"][0])
        assert (w, h) == (int(im["width"][0]), int(im["height"][0])), (tag, w, h, im["width"])
        assert int(im["colorspace"][0]) == want, (tag, im["colorspace"])
# the first batch: 16 images of 28x28 enlarged twice, 8 a row, 2-pixel gaps
w, h = png_size(tr["first_batch"][0][1]["image"][0]["encoded_image_string"][0])
assert (w, h) == (8 * 56 + 9 * 2, 2 * 56 + 3 * 2), (w, h)

# histograms: every parameter tensor once per epoch, counts adding up
total, tensors = 0, 0
for tag, lst in tr.items():
    for s, v in lst:
        if "histo" not in v:
            continue
        hp = v["histo"][0]
        counts = [float(x) for x in hp.get("bucket", [])]
        limits = [float(x) for x in hp.get("bucket_limit", [])]
        assert len(counts) == len(limits) == 30, (tag, len(counts))
        assert sum(counts) == float(hp["num"][0]), (tag, sum(counts), hp["num"])
        assert limits == sorted(limits) and float(hp["min"][0]) <= float(hp["max"][0])
        if s == 1 and not tag.endswith("/gradient"):
            total += sum(counts)
            tensors += 1
assert total == params, ("histograms count", total, "parameters", params)
assert "dense/kernel" in tr and "dense/kernel/gradient" in tr and "conv01/kernel" in tr

# hparams: session start with the options, session end with success
plug = {}
for step, tag, v in values(root):
    md = v["metadata"][0]["plugin_data"][0]
    assert md["plugin_name"] == [b"hparams"], md
    plug[tag] = decode("tensorboard.hparams.HParamsPluginData", md["content"][0], "hparams.proto")
start = plug["_hparams_/session_start_info"]["session_start_info"][0]
hp = {e["key"][0].decode(): e["value"][0] for e in start["hparams"]}
assert abs(float(hp["lr"]["number_value"][0]) - 0.05) < 1e-7, hp["lr"]  # a float32 option
assert float(hp["batch"]["number_value"][0]) == 32
assert hp["flip"]["bool_value"] == ["true"], hp["flip"]
assert float(hp["parameters"]["number_value"][0]) == params
assert t0 - 1 <= float(start["start_time_secs"][0]) <= t1
end = plug["_hparams_/session_end_info"]["session_end_info"][0]
assert end["status"] == ["STATUS_SUCCESS"], end
PY
pass
