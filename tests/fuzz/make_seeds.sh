#!/usr/bin/env bash
# tests/fuzz/make_seeds.sh BUILD_DIR - regenerates the seed corpora in
# tests/fuzz/corpus/ from a release build's tools (tfrecord-write,
# tfrecord-train, tfr-mktree), protoc and the golden TensorFlow files.
# The seeds are committed; run this only to change them on purpose.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=$(cd "${1:?usage: make_seeds.sh BUILD_DIR}" && pwd)
bin=$build/bin
golden=${TFR_GOLDEN:-$src/../shared/golden}
out=$here/corpus
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# checkpoint/tiny-v1.ckpt is a version 1 checkpoint (no meta section),
# kept as it was made: today's trainer writes version 2
v1="$tmp/tiny-v1.ckpt"
cp "$out/checkpoint/tiny-v1.ckpt" "$v1" 2>/dev/null || v1=""
rm -rf "$out"
for t in record example tensor image json checkpoint stream index onnx; do mkdir -p "$out/$t"; done
[ -n "$v1" ] && cp "$v1" "$out/checkpoint/tiny-v1.ckpt"

# ---- small trees and shards ------------------------------------------------
"$bin/fashion-mnist-tree" --limit 20 --quality 75 "$tmp/fm" >/dev/null
"$build/test-bin/tfr-mktree" awkward "$tmp/awk" >/dev/null
mkdir -p "$tmp/tiny/a" "$tmp/tiny/b"
cp "$(find "$tmp/fm/train" -name '*.jpg' | sort | head -1)" "$tmp/tiny/a/x.jpg"
cp "$(find "$tmp/fm/train" -name '*.jpg' | sort | sed -n 5p)" "$tmp/tiny/b/y.jpg"
for layout in jpeg raw tensor; do
    for comp in gzip zlib none; do
        "$bin/tfrecord-write" -q --layout "$layout" --compression "$comp" --size 8x8 \
            --channels 1 --split train=100 --shards 1 "$tmp/tiny" "$tmp/w-$layout-$comp" >/dev/null
    done
done

python3 - "$tmp" "$out" "$golden" <<'PY'
import glob, os, struct, sys, zlib, gzip
tmp, out, golden = sys.argv[1:4]

def records(path):
    data = open(path, 'rb').read()
    if data[:2] == b'\x1f\x8b':
        data = gzip.decompress(data)
    elif data[:1] == b'\x78':
        data = zlib.decompress(data)
    recs, i = [], 0
    while i + 12 <= len(data):
        n = struct.unpack('<Q', data[i:i + 8])[0]
        recs.append(data[i + 12:i + 12 + n])
        i += 16 + n
    return recs

def put(target, name, data):
    with open(os.path.join(out, target, name), 'wb') as f:
        f.write(data)

shards = sorted(glob.glob(tmp + '/w-*/*-of-*'))
for s in shards:
    tag = os.path.basename(os.path.dirname(s))[2:]
    raw = open(s, 'rb').read()
    comp = {'gzip': 3, 'zlib': 2, 'none': 1}[tag.split('-')[1]]
    put('record', tag + '-file', bytes([comp]) + raw)               # the file as written
    put('record', tag + '-auto-skip', bytes([4]) + raw)             # auto, skip_corrupt
    recs = records(s)
    put('record', tag + '-framed', bytes([1 | 32]) + b'TFRZ'.join(recs))
    put('record', tag + '-framed-zlib', bytes([2 | 64 | 32]) + b'TFRZ'.join(recs))
    for k, r in enumerate(recs):
        put('example', '%s-%d' % (tag, k), r)
    # stream: options (8x8 or first-image size, 1 or 3 channels, formats) + records
    for j, opts in enumerate([(8, 7, 0, 1), (0, 0, 1 | 2, 2), (12, 11, 1 | 4 | 8 | 64, 5),
                              (8, 7, 1 | 2 | 128, 9), (6, 5, 1 | 2 | 192, 3)]):
        put('stream', '%s-%d' % (tag, j), bytes(opts) + b'TFRZ'.join(recs))
    put('stream', tag + '-file', bytes([8, 7, 1 | 2, 128 | 1]) + raw)
for g in sorted(glob.glob(golden + '/*')):
    if g.endswith('.md'):
        continue
    raw = open(g, 'rb').read()
    name = 'golden-' + os.path.basename(g)
    put('record', name, bytes([0]) + raw)
    put('record', name + '-skip', bytes([4 | 8]) + raw)
    try:
        for k, r in enumerate(records(g)[:4]):
            put('example', '%s-%d' % (name, k), r)
    except Exception:
        pass
put('record', 'empty', bytes([0]))

# images: 4 option bytes + the file
imgs = sorted(glob.glob(tmp + '/awk/**/*', recursive=True)) + \
       sorted(glob.glob(tmp + '/tiny/*/*.jpg'))
for k, p in enumerate(x for x in imgs if os.path.isfile(x)):
    data = open(p, 'rb').read()
    if len(data) > 20000:
        continue
    put('image', 'img-%02d' % k, bytes([0x86, 16, 16, k % 256]) + data)
    put('image', 'img-%02d-gray' % k, bytes([0x97, 5, 9, (k * 37) % 256]) + data)
PY

# ---- tensors: the writer's own, and the broadcast (*_val) forms via protoc ----
python3 - "$tmp" "$out" <<'PY'
import glob, sys, os
tmp, out = sys.argv[1:3]
# the tensor layout's img feature: find the serialized TensorProto in an Example
for k, p in enumerate(sorted(glob.glob(out + '/example/tensor-*'))):
    d = open(p, 'rb').read()
    i = d.find(b'\x08\x01\x12')  # dtype DT_FLOAT, then tensor_shape
    if i >= 0:
        open(os.path.join(out, 'tensor', 'layout-%d' % k), 'wb').write(bytes([1]) + d[i:])
PY
enc() { protoc -I"$src/proto" --encode=tensorflow.TensorProto tensor.proto; }
printf 'dtype: DT_FLOAT tensor_shape { dim { size: 2 } dim { size: 3 } } float_val: 1.5\n' | enc >"$tmp/t1"
printf 'dtype: DT_INT32 tensor_shape { dim { size: 4 } } int_val: 7 int_val: 8\n' | enc >"$tmp/t2"
printf 'dtype: DT_INT64 tensor_shape { } int64_val: 3\n' | enc >"$tmp/t3"
printf 'dtype: DT_DOUBLE tensor_shape { dim { size: 2 } } double_val: 0.25 double_val: 2\n' | enc >"$tmp/t4"
printf 'dtype: DT_UINT8 tensor_shape { dim { size: 3 } } tensor_content: "abc"\n' | enc >"$tmp/t5"
for i in 1 2 3 4 5; do
    { printf '\0'; cat "$tmp/t$i"; } >"$out/tensor/val-$i"
    { printf '\x18'; cat "$tmp/t$i"; } >"$out/tensor/val-$i-bounded"
done

# ---- JSON: manifest.json | labels.txt | cache.json + its records --------------
m=$tmp/w-jpeg-gzip
{ cat "$m/manifest.json"; printf 'TFRZ'; cat "$m/labels.txt"; } >"$out/json/manifest"
exenc() { protoc -I"$src/proto" --encode=tensorflow.Example example.proto; }
printf 'features { feature { key: "bottleneck" value { float_list { value: [1, 2, 3, 4] } } }
 feature { key: "filename" value { bytes_list { value: "a/x.jpg" } } }
 feature { key: "label" value { int64_list { value: 0 } } } }\n' | exenc >"$tmp/bn"
{ printf '{"fingerprint": "fuzz-fingerprint", "feature_dim": 4, "images": [{"path": "a/x.jpg", "size": 1234, "crc32c": "0badf00d"}]}';
  printf 'TFRZa\nb\nTFRZ'; cat "$tmp/bn"; } >"$out/json/cache"
printf '{"a": [1, -2.5e3, true, false, null, "s\\u00fc\\n"], "b": {"c": {}}}' >"$out/json/plain"

# ---- checkpoint: a tiny trained model -------------------------------------------
"$bin/tfrecord-write" -q --size 8x8 --channels 1 --split train=100 --shards 1 "$tmp/tiny" "$tmp/ck-data" >/dev/null
"$bin/tfrecord-train" -q --train "$tmp/ck-data" --input 8x8x1 --classes 2 --width 4 --levels 1 \
    --epochs 1 --batch 2 --checkpoint-dir "$tmp/ck" >/dev/null
cp "$(ls "$tmp"/ck/epoch-*.tfrc | head -1)" "$out/checkpoint/tiny.ckpt"

# ---- onnx: that model exported, folded and not, pixels and float input ----------
"$bin/tfrecord-export" "$out/checkpoint/tiny.ckpt" --onnx "$out/onnx/tiny.onnx" >/dev/null
"$bin/tfrecord-export" "$out/checkpoint/tiny.ckpt" --onnx "$out/onnx/tiny-float-unfolded.onnx" \
    --no-fold-bn --input float --opset 17 >/dev/null

# ---- index: the indexes of small seekable shards -----------------------------------
for comp in gzip none; do
    "$bin/tfrecord-write" -q --index --compression "$comp" --chunk-size 64K --size 8x8 \
        "$tmp/tiny" "$tmp/ix-$comp" >/dev/null
    cp "$tmp/ix-$comp"/index/*.index "$out/index/$comp.index"
done

du -sh "$out"
for t in "$out"/*; do echo "$(basename "$t"): $(ls "$t" | wc -l) seeds"; done
