#!/usr/bin/env bash
# tests/integration/test_onnx_cli.sh - tfrecord-export's ONNX models, checked
# by runtimes that are not this project's: ONNX's own checker and shape
# inference (python3-onnx) and ONNX Runtime (npm onnxruntime-node, through
# ort_run.js). On real Fashion-MNIST test images, a trained backbone
# (folded, unfolded, float input, rounded weights), a tfrecord-retrain model
# (backbone + new head, its class names; on Fashion-MNIST and on RGB
# photographs) and an RGB model give ONNX
# Runtime's logits within 1e-4 of tfrecord-label's with the same top-1 on
# every image; a damaged checkpoint writes nothing; --show describes a model
# and refuses what is not one.
set -u
. "$(dirname "$0")/lib.sh"

X="$TFR_BIN/tfrecord-export"
W="$TFR_BIN/tfrecord-write"
T="$TFR_BIN/tfrecord-train"
R="$TFR_BIN/tfrecord-retrain"
L="$TFR_BIN/tfrecord-label"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
ORT=${TFR_ORT_DIR:-$TFR_BUILD/ort}
need() { # a missing independent runtime: a failure when the suite requires it
    if [ "${TFR_REQUIRE_ORT:-0}" = 1 ]; then fail "$*"; else skip "$*"; fi
}
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || skip "dataset-fashion-mnist not installed"
"$PY" -c 'import onnx, numpy' 2>/dev/null || need "python3-onnx not installed (apt-get install python3-onnx)"
command -v node >/dev/null || need "node not installed (apt-get install nodejs)"
[ -d "$ORT/node_modules/onnxruntime-node" ] ||
    need "no onnxruntime-node in $ORT (npm install --prefix $ORT --ignore-scripts onnxruntime-node)"
export TFR_ORT_DIR=$ORT TFR_ORT_THREADS=2
RUN="$TFR_SRC/tests/integration/ort_run.js"

# onnx.checker (full) and strict shape inference; the inferred output shapes
check_onnx() {
    "$PY" - "$@" <<'PY' || fail "onnx checker on $*"
import sys, onnx
from onnx import shape_inference
for path in sys.argv[1:]:
    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    inf = shape_inference.infer_shapes(m, check_type=True, strict_mode=True)
    for o in inf.graph.output:
        dims = [d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim]
        assert dims[0] == "batch" and len(dims) == 2, (path, o.name, dims)
PY
}
# compare LABEL_JSON ORT_JSON: logits within 1e-4, top-1 identical, probabilities
# summing to 1 and matching the top score
compare() {
    "$PY" - "$1" "$2" "$3" <<'PY' || fail "ONNX Runtime disagrees with tfrecord-label ($3)"
import json, sys
lab = json.load(open(sys.argv[1]))
ort = json.load(open(sys.argv[2]))
assert len(lab) == len(ort["logits"]) >= 1, (len(lab), len(ort["logits"]))
worst = 0.0
for i, (l, o) in enumerate(zip(lab, ort["logits"])):
    d = max(abs(a - b) for a, b in zip(l["logits"], o))
    worst = max(worst, d)
    top = max(range(len(o)), key=o.__getitem__)
    assert top == l["top"][0]["label"], (i, l["image"], top, l["top"][0])
    p = ort["probabilities"][i]
    assert abs(sum(p) - 1) < 1e-5 and abs(p[top] - l["top"][0]["score"]) < 1e-5, (i, p)
assert worst < 1e-4, worst
print(f"{sys.argv[3]}: {len(lab)} images, max |logit difference| {worst:.2e}")
PY
}

"$TFR_BIN/fashion-mnist-tree" --limit 2000 "$WORK/fm" >/dev/null || fail "tree"
# classes in byte order: Ankle_boot Bag Coat Dress Pullover | Sandal Shirt Sneaker T-shirt_top Trouser
mkdir -p "$WORK/five-a" "$WORK/five-b"
for c in Ankle_boot Bag Coat Dress Pullover; do cp -r "$WORK/fm/train/$c" "$WORK/five-a/"; done
for c in Sandal Shirt Sneaker T-shirt_top Trouser; do cp -r "$WORK/fm/train/$c" "$WORK/five-b/"; done
"$W" -q --channels 1 "$WORK/five-a" "$WORK/shards-a" >/dev/null || fail "write"
"$T" -q --train "$WORK/shards-a" --width 8 --levels 1,1 --batch 32 --lr 0.05 --epochs 2 --seed 1 \
    --mean 0.3 --std 0.35 --checkpoint-dir "$WORK/bb" >/dev/null 2>&1 || fail "train backbone"
bb="$WORK/bb/epoch-0002.tfrc"

# 200 test images of every class, through tfrecord-label: its logits and the
# exact pixels it fed the model
mapfile -t imgs < <(find "$WORK/fm/test" -name '*.jpg' | sort | awk 'NR % 10 == 1' | head -200)
[ "${#imgs[@]}" -ge 100 ] || fail "only ${#imgs[@]} test images"
"$L" --model "$bb" --json --logits --top 1 --save-input "$WORK/px.bin" "${imgs[@]}" \
    >"$WORK/label.json" || fail "tfrecord-label"
[ "$(stat -c %s "$WORK/px.bin")" = $((${#imgs[@]} * 28 * 28)) ] || fail "--save-input size"

out=$("$X" "$bb" --onnx "$WORK/folded.onnx") || fail "export: $out"
contains "$out" "input   pixels uint8 [batch, 28, 28, 1]"
contains "$out" "output  logits float32 [batch, 5]"
contains "$out" "trtexec --onnx=$WORK/folded.onnx --minShapes=pixels:1x28x28x1"
"$X" "$bb" --onnx "$WORK/unfolded.onnx" --no-fold-bn >/dev/null || fail "export unfolded"
# a --checkpoint-dir folder exports its newest checkpoint
out=$("$X" "$WORK/bb" --onnx "$WORK/dir.onnx" --json) || fail "export a checkpoint folder: $out"
[ "$(jq_get "$out" metadata.source_checkpoint)" = "$bb" ] || fail "folder export: $out"
"$X" "$bb" --onnx "$WORK/float.onnx" --input float --opset 17 >/dev/null || fail "export float"
"$X" "$bb" --onnx "$WORK/rounded.onnx" --round-weights >/dev/null || fail "export rounded"
check_onnx "$WORK/folded.onnx" "$WORK/unfolded.onnx" "$WORK/float.onnx" "$WORK/rounded.onnx"

# the graph: what folding removes, what the metadata says
"$PY" - "$WORK" <<'PY' || fail "graph contents"
import collections, json, sys, onnx
from onnx import numpy_helper
w = sys.argv[1]
ops = lambda m: collections.Counter(n.op_type for n in m.graph.node)
f, u, fl, r = (onnx.load(f"{w}/{n}.onnx") for n in ("folded", "unfolded", "float", "rounded"))
of, ou = ops(f), ops(u)
meta = {p.key: p.value for p in f.metadata_props}
nf = int(meta["folded_batch_norms"])
assert nf > 0 and ou["BatchNormalization"] - of["BatchNormalization"] == nf, (of, ou, nf)
assert of["Conv"] == ou["Conv"] and of["Cast"] == 1 and of["Softmax"] == 1, of
assert json.loads(meta["class_names"]) == ["Ankle_boot", "Bag", "Coat", "Dress", "Pullover"]
prep = json.loads(meta["preprocessing"])
assert (prep["height"], prep["width"], prep["channels"]) == (28, 28, 1), prep
assert abs(prep["mean"] - 0.3) < 1e-6 and abs(prep["std"] - 0.35) < 1e-6, prep
assert meta["epochs"] == "2" and meta["source_checkpoint"].endswith("epoch-0002.tfrc"), meta
assert [i.name for i in f.graph.input] == ["pixels"] and [i.name for i in fl.graph.input] == ["input"]
assert fl.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
assert [o.name for o in f.graph.output] == ["logits", "probabilities"]
assert fl.opset_import[0].version == 17 and f.opset_import[0].version == 13
# rounded: every conv and dense kernel on at most 256 levels
for t in r.graph.initializer:
    if t.name.endswith("/kernel"):
        assert len(set(numpy_helper.to_array(t).ravel().tolist())) <= 256, t.name
    if t.name.endswith("/kernel") and t.name.startswith("conv"):
        a = numpy_helper.to_array(t)
        assert a.ndim == 4, (t.name, a.shape)
PY

for kind in folded unfolded; do
    node "$RUN" "$WORK/$kind.onnx" "$WORK/px.bin" 28 28 1 --batch 64 >"$WORK/$kind.json" ||
        fail "ONNX Runtime on $kind"
    compare "$WORK/label.json" "$WORK/$kind.json" "backbone, $kind"
done
node "$RUN" "$WORK/float.onnx" "$WORK/px.bin" 28 28 1 --batch 33 --float 0.3 0.35 >"$WORK/float.json" ||
    fail "ONNX Runtime on float"
compare "$WORK/label.json" "$WORK/float.json" "backbone, float input"
# rounding changes the weights: most answers stay
node "$RUN" "$WORK/rounded.onnx" "$WORK/px.bin" 28 28 1 >"$WORK/rounded.json" || fail "ORT rounded"
"$PY" - "$WORK/label.json" "$WORK/rounded.json" <<'PY' || fail "rounded weights changed too many answers"
import json, sys
lab, o = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))["logits"]
same = sum(max(range(len(r)), key=r.__getitem__) == l["top"][0]["label"] for l, r in zip(lab, o))
assert same >= 0.9 * len(lab), (same, len(lab))
PY

# a retrained model: the backbone with a new head on the other five classes
"$R" --backbone "$bb" --images "$WORK/five-b" --cache "$WORK/cache" --out "$WORK/model" \
    --steps 300 --lr 0.05 >/dev/null 2>&1 || fail "retrain"
mapfile -t bimgs < <(for c in Sandal Shirt Sneaker T-shirt_top Trouser; do
    find "$WORK/fm/test/$c" -name '*.jpg' | sort | head -30; done)
"$L" --model "$WORK/model" --json --logits --top 1 --save-input "$WORK/pxb.bin" "${bimgs[@]}" \
    >"$WORK/label-b.json" || fail "tfrecord-label retrained"
out=$("$X" "$WORK/model" --onnx "$WORK/retrained.onnx") || fail "export retrained: $out"
contains "$out" "output  logits float32 [batch, 5]"
check_onnx "$WORK/retrained.onnx"
node "$RUN" "$WORK/retrained.onnx" "$WORK/pxb.bin" 28 28 1 --batch 1 >"$WORK/retrained.json" ||
    fail "ONNX Runtime on the retrained model"
compare "$WORK/label-b.json" "$WORK/retrained.json" "retrained head, batch 1"
"$PY" - "$WORK/retrained.onnx" "$WORK/model/labels.txt" <<'PY' || fail "retrained class names"
import json, sys, onnx
meta = {p.key: p.value for p in onnx.load(sys.argv[1]).metadata_props}
names = open(sys.argv[2]).read().split("\n")[:5]
assert json.loads(meta["class_names"]) == names, (meta["class_names"], names)
PY

# a model saved folded and rounded by tfrecord-retrain exports its rounded values
"$R" --backbone "$bb" --images "$WORK/five-b" --cache "$WORK/cache" --out "$WORK/model-r" \
    --steps 300 --lr 0.05 --fold-bn --round-weights >/dev/null 2>&1 || fail "retrain --round-weights"
"$L" --model "$WORK/model-r" --json --logits --top 1 "${bimgs[@]}" >"$WORK/label-r.json" ||
    fail "tfrecord-label rounded"
"$X" "$WORK/model-r" --onnx "$WORK/retrained-r.onnx" >/dev/null || fail "export rounded model"
node "$RUN" "$WORK/retrained-r.onnx" "$WORK/pxb.bin" 28 28 1 >"$WORK/retrained-r.json" ||
    fail "ONNX Runtime on the rounded model"
compare "$WORK/label-r.json" "$WORK/retrained-r.json" "retrained, folded and rounded"
"$PY" - "$WORK/retrained-r.onnx" <<'PY' || fail "a rounded model's kernels are not on 256 levels"
import sys, onnx
from onnx import numpy_helper
m = onnx.load(sys.argv[1])
k = [t for t in m.graph.initializer if t.name.startswith("conv") and t.name.endswith("/kernel")]
assert k and all(len(set(numpy_helper.to_array(t).ravel().tolist())) <= 256 for t in k)
PY

# RGB: a model of three channels, where NHWC -> NCHW has to be right; basic
# blocks (two 3x3 convolutions; the second level's first one strided and
# projected)
"$TFR_TEST_BIN/tfr-mktree" photos "$WORK/photos" >/dev/null || fail "photo tree"
"$W" -q --size 24x20 "$WORK/photos" "$WORK/photo-shards" >/dev/null || fail "write photos"
"$T" -q --train "$WORK/photo-shards" --block basic --width 4 --levels 1,1 --batch 8 --epochs 2 --seed 3 \
    --checkpoint-dir "$WORK/pc" >/dev/null 2>&1 || fail "train on photos"
pc="$WORK/pc/epoch-0002.tfrc"
mapfile -t pimgs < <(find "$WORK/photos" -type f | sort)
"$L" --model "$pc" --json --logits --top 1 --save-input "$WORK/pxp.bin" "${pimgs[@]}" \
    >"$WORK/label-p.json" || fail "tfrecord-label photos"
out=$("$X" "$pc" --onnx "$WORK/rgb.onnx" --json) || fail "export rgb"
[ "$(jq_get "$out" inputs[0].shape[3])" = 3 ] || fail "RGB input shape: $out"
h=$(jq_get "$out" inputs[0].shape[1]); w=$(jq_get "$out" inputs[0].shape[2])
[ "$h" = 20 ] && [ "$w" = 24 ] || fail "--size 24x20 model is 20 high, 24 wide: $out"
check_onnx "$WORK/rgb.onnx"
"$PY" - "$WORK/rgb.onnx" <<'PY' || fail "basic-block graph"
import collections, json, sys, onnx
m = onnx.load(sys.argv[1])
arch = json.loads({p.key: p.value for p in m.metadata_props}["architecture"])
assert arch["block"] == "basic" and arch["levels"] == [1, 1], arch
k = {n.name: n for n in m.graph.node if n.op_type == "Conv"}
shape = lambda n: next(a.ints for a in n.attribute if a.name == "kernel_shape")
stride = lambda n: next(a.ints for a in n.attribute if a.name == "strides")
# tail 3x3; level 0: 3x3, 3x3; level 1: 3x3 stride 2, 3x3, 1x1 stride 2 projection
assert [tuple(shape(n)) for n in k.values()] == [(3, 3)] * 5 + [(1, 1)], [shape(n) for n in k.values()]
assert [tuple(stride(n)) for n in k.values()] == [(1, 1)] * 3 + [(2, 2), (1, 1), (2, 2)]
PY
node "$RUN" "$WORK/rgb.onnx" "$WORK/pxp.bin" "$h" "$w" 3 --batch 16 >"$WORK/rgb.json" ||
    fail "ONNX Runtime on RGB"
compare "$WORK/label-p.json" "$WORK/rgb.json" "RGB photos"
# a head retrained on the photographs with that RGB backbone
"$R" --backbone "$pc" --images "$WORK/photos" --cache "$WORK/pcache" --out "$WORK/pmodel" \
    --steps 100 --lr 0.05 >/dev/null 2>&1 || fail "retrain on photos"
"$L" --model "$WORK/pmodel" --json --logits --top 1 "${pimgs[@]}" >"$WORK/label-pm.json" ||
    fail "tfrecord-label photo head"
"$X" "$WORK/pmodel" --onnx "$WORK/pmodel.onnx" >/dev/null || fail "export photo head"
check_onnx "$WORK/pmodel.onnx"
node "$RUN" "$WORK/pmodel.onnx" "$WORK/pxp.bin" "$h" "$w" 3 --batch 1 >"$WORK/pmodel.json" ||
    fail "ONNX Runtime on the photo head"
compare "$WORK/label-pm.json" "$WORK/pmodel.json" "retrained head on photos, batch 1"
# swapping two channels of the input must change the answer: the check sees channel order
"$PY" - "$WORK/pxp.bin" "$WORK/pxs.bin" <<'PY' || fail "swap channels"
import sys
b = bytearray(open(sys.argv[1], "rb").read())
b[0::3], b[2::3] = b[2::3], b[0::3]
open(sys.argv[2], "wb").write(b)
PY
node "$RUN" "$WORK/rgb.onnx" "$WORK/pxs.bin" "$h" "$w" 3 >"$WORK/rgb-swapped.json" || fail "ORT swapped"
if "$PY" - "$WORK/label-p.json" "$WORK/rgb-swapped.json" <<'PY' 2>/dev/null; then
import json, sys
lab, o = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))["logits"]
worst = max(abs(a - b) for l, r in zip(lab, o) for a, b in zip(l["logits"], r))
sys.exit(0 if worst < 1e-4 else 1)
PY
    fail "red and blue swapped gave the same logits: the comparison cannot see channel order"
fi

# bad input: a damaged checkpoint writes nothing and keeps what was there
head -c 3000 "$bb" >"$WORK/cut.tfrc"
expect_fail "cut.tfrc" "$X" "$WORK/cut.tfrc" --onnx "$WORK/cut.onnx"
[ ! -e "$WORK/cut.onnx" ] || fail "a failed export left cut.onnx"
ls "$WORK"/cut.onnx.tmp* >/dev/null 2>&1 && fail "a failed export left a temporary"
echo keep >"$WORK/keep.onnx"
expect_fail "cut.tfrc" "$X" "$WORK/cut.tfrc" --onnx "$WORK/keep.onnx"
[ "$(cat "$WORK/keep.onnx")" = keep ] || fail "a failed export replaced an existing file"
expect_fail "No such file" "$X" "$WORK/none.tfrc" --onnx "$WORK/none.onnx"
expect_fail "opset" "$X" "$bb" --onnx "$WORK/o.onnx" --opset 12
expect_fail "needs --onnx" "$X" "$bb"
# --show: an ONNX file described, anything else refused by name
out=$("$X" --show "$WORK/unfolded.onnx") || fail "--show: $out"
contains "$out" "BatchNormalization"
contains "$out" "input   pixels uint8 [batch, 28, 28, 1]"
out=$("$X" --show "$WORK/folded.onnx" --json) || fail "--show --json"
np=$(jq_get "$out" parameters)
"$PY" - "$WORK/folded.onnx" "$np" <<'PY' || fail "--show parameter count"
import sys, onnx
from onnx import numpy_helper
m = onnx.load(sys.argv[1])
n = sum(numpy_helper.to_array(t).size for t in m.graph.initializer)
assert n == int(sys.argv[2]), (n, sys.argv[2])
PY
head -c 20000 "$WORK/folded.onnx" >"$WORK/trunc.onnx"
expect_fail "trunc.onnx: not an ONNX model" "$X" --show "$WORK/trunc.onnx"
: >"$WORK/empty.onnx"
expect_fail "empty.onnx" "$X" --show "$WORK/empty.onnx"
expect_fail "epoch-0002.tfrc: not an ONNX model" "$X" --show "$bb"
pass
