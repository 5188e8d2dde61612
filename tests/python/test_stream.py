"""tests/python/test_stream.py - tfrecord_tools.Stream and the torch dataset
on real Fashion-MNIST shards written by tfrecord-write.

Independent references: the class folders of the image tree (counts per
label), Pillow's decoding of the tree's JPEG files (pixels), NumPy's own
arithmetic (the float formats), /proc/self/maps (no CUDA library loaded).
"""
import collections
import glob
import hashlib
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

import tfrecord_tools as tt

BIN = os.environ.get("TFR_BIN", "build/bin")
TEST_BIN = os.environ.get("TFR_TEST_BIN", "build/test-bin")
N_TRAIN = 600  # images per split in the tree (--limit)


def run(*args):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    if not os.path.exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"):
        pytest.skip("dataset-fashion-mnist is not installed")
    d = tmp_path_factory.mktemp("tt")
    tree, shards, plain = d / "fm", d / "shards", d / "plain"
    run(f"{BIN}/fashion-mnist-tree", "--limit", str(N_TRAIN), str(tree))
    run(f"{BIN}/tfrecord-write", "-q", "--channels", "1", "--shards", "train=3,test=1",
        f"train={tree}/train", f"test={tree}/test", str(shards))
    run(f"{BIN}/tfrecord-write", "-q", "--channels", "1", "--shards", "train=1,test=1",
        "--compression", "none", f"train={tree}/train", f"test={tree}/test", str(plain))
    return {"tree": tree, "shards": shards, "plain": plain}


def batches(stream):
    return [(x.copy(), y.copy()) for x, y in stream]


def epoch(data, **kw):
    opts = dict(split="train", batch_size=64, channels=1, seed=3)
    opts.update(kw)
    return batches(tt.Stream(str(data["shards"]), **opts))


def test_labels_are_the_tree_folders(data):
    classes = sorted(os.listdir(data["tree"] / "train"))
    want = collections.Counter()
    for i, c in enumerate(classes):  # labels.txt order: sorted class names
        want[i] = len(os.listdir(data["tree"] / "train" / c))
    got = collections.Counter()
    n = 0
    for x, y in epoch(data):
        assert x.dtype == np.uint8 and x.shape[1:] == (28, 28, 1)
        assert y.dtype == np.int64 and y.shape == (x.shape[0],)
        got.update(y.tolist())
        n += len(y)
    assert n == N_TRAIN
    assert got == want
    with open(data["shards"] / "labels.txt") as f:
        assert [l.strip() for l in f] == classes


def test_pixels_are_pillows_decoding(data):
    Image = pytest.importorskip("PIL.Image")
    classes = sorted(os.listdir(data["tree"] / "train"))
    ref = collections.defaultdict(set)
    for i, c in enumerate(classes):
        for p in glob.glob(str(data["tree"] / "train" / c / "*")):
            a = np.asarray(Image.open(p).convert("L"), dtype=np.uint8)
            ref[hashlib.sha1(a.tobytes()).hexdigest()].add(i)
    for x, y in epoch(data, shuffle_buffer=0):
        for img, lab in zip(x, y):
            h = hashlib.sha1(img[:, :, 0].tobytes()).hexdigest()
            assert lab in ref.get(h, ()), "an image that is no file of its class"


def test_float_formats_are_the_uint8_pixels_normalized(data):
    u8 = epoch(data, flip=True, pad_crop=2)
    nchw = epoch(data, flip=True, pad_crop=2, format="float32", mean=0.5, std=0.25)
    nhwc = epoch(data, flip=True, pad_crop=2, format="float32", layout="NHWC", mean=0.5, std=0.25)
    assert len(u8) == len(nchw) == len(nhwc)
    for (a, ya), (b, yb), (c, yc) in zip(u8, nchw, nhwc):
        ref = (a.astype(np.float32) / 255 - 0.5) / 0.25
        assert b.dtype == np.float32 and b.shape == (a.shape[0], 1, 28, 28)
        np.testing.assert_allclose(b, ref.transpose(0, 3, 1, 2), atol=2e-6)
        np.testing.assert_allclose(c, ref, atol=2e-6)
        assert (ya == yb).all() and (ya == yc).all()


def test_same_batches_for_any_thread_count_and_seed_matters(data):
    a = epoch(data, flip=True, pad_crop=2, threads=1)
    b = epoch(data, flip=True, pad_crop=2, threads=3)
    c = epoch(data, flip=True, pad_crop=2, threads=2, seed=4)
    assert all((x == y).all() and (l == m).all() for (x, l), (y, m) in zip(a, b))
    assert any((l != m).any() for (_, l), (_, m) in zip(a, c))


def test_resume_from_state_is_exact(data):
    opts = dict(split="train", batch_size=50, channels=1, seed=9, epochs=2, flip=True)
    whole = batches(tt.Stream(str(data["shards"]), **opts))
    s = tt.Stream(str(data["shards"]), **opts)
    head = [next(s) for _ in range(15)]  # into the second epoch
    st = s.state()
    s.close()
    assert st["epoch"] == 1 and st["records"] == 150 and st["seed"] == 9
    rest = batches(tt.Stream(str(data["shards"]), state=st, **opts))
    assert len(head) + len(rest) == len(whole)
    for (x, y), (a, b) in zip([*head, *rest], whole):
        assert (x == a).all() and (y == b).all()


def test_len_and_epoch_records_from_the_manifest(data):
    s = tt.Stream(str(data["shards"] / "manifest.json"), split="train", batch_size=64, channels=1)
    assert s.epoch_records() == N_TRAIN
    assert len(s) == (N_TRAIN + 63) // 64
    assert len(batches(s)) == len(s)
    d = tt.Stream(str(data["shards"]), split="train", batch_size=64, channels=1, drop_remainder=True)
    assert len(d) == N_TRAIN // 64 == len(batches(d))


def test_ranks_share_an_epoch_without_overlap(data):
    seen = []
    for rank in range(2):
        s = tt.Stream(str(data["plain"]), split="train", batch_size=32, channels=1, rank=rank, world=2,
                      shuffle_buffer=0)
        seen.append([hashlib.sha1(x.tobytes()).hexdigest() for b, _ in s for x in b])
    whole = tt.Stream(str(data["plain"]), split="train", batch_size=32, channels=1, shuffle_buffer=0)
    every = [hashlib.sha1(x.tobytes()).hexdigest() for b, _ in whole for x in b]
    assert len(seen[0]) == len(seen[1]) == N_TRAIN // 2
    # the two shares are the epoch: no record in both, none in neither
    assert collections.Counter(seen[0] + seen[1]) == collections.Counter(every)


def test_whole_files_or_records_per_rank(data):
    """3 shards of 200 records, 2 ranks: whole files leave the third shard's
    worth out of each epoch (and say so in epoch_records); split_records
    shares every record"""
    def share(rank, **kw):
        s = tt.Stream(str(data["shards"]), split="train", batch_size=50, channels=1, rank=rank,
                      world=2, **kw)
        n = s.epoch_records()
        return n, [hashlib.sha1(x.tobytes()).hexdigest() for b, _ in s for x in b]

    every = [hashlib.sha1(x.tobytes()).hexdigest() for b, _ in
             tt.Stream(str(data["shards"]), split="train", batch_size=50, channels=1) for x in b]
    (n0, a), (n1, b) = share(0), share(1)
    assert n0 == n1 == len(a) == len(b) == N_TRAIN // 3
    assert not (collections.Counter(a) & collections.Counter(b)) or len(set(every)) < N_TRAIN
    (n0, a), (n1, b) = share(0, split_records=True), share(1, split_records=True)
    assert n0 == n1 == len(a) == len(b) == N_TRAIN // 2
    assert collections.Counter(a + b) == collections.Counter(every)
    # exact: 7 ranks of an epoch that does not divide by 7, none left out
    shares = [tt.Stream(str(data["shards"]), split="train", batch_size=50, channels=1, rank=r,
                        world=7, split_records="exact") for r in range(7)]
    counts = [s.epoch_records() for s in shares]
    got = [[hashlib.sha1(x.tobytes()).hexdigest() for b, _ in s for x in b] for s in shares]
    assert counts == [len(g) for g in got] and sum(counts) == N_TRAIN
    assert max(counts) - min(counts) == (1 if N_TRAIN % 7 else 0)
    assert collections.Counter(sum(got, [])) == collections.Counter(every)
    with pytest.raises(ValueError, match="split_records"):
        tt.Stream(str(data["shards"]), split="train", split_records="some")


def test_copy_false_views_the_stream_buffer(data):
    a = tt.Stream(str(data["shards"]), split="train", batch_size=64, channels=1, seed=1)
    b = tt.Stream(str(data["shards"]), split="train", batch_size=64, channels=1, seed=1, copy=False)
    x, _ = next(a)
    v, _ = next(b)
    # copy=False: a view whose base is the stream; the default: the batch's
    # buffer taken out of the stream (no copy), owned through a capsule
    assert v.base is b and x.base is not a and x.base is not None
    assert (x == v).all()


def test_default_batches_stay_as_they_were(data):
    """the default arrays are the stream's taken buffers: the batches after
    them (every slot of the ring refilled several times) leave them alone,
    and they outlive the stream"""
    s = tt.Stream(str(data["shards"]), split="train", batch_size=32, channels=1, seed=2,
                  format="float32", flip=True, epochs=3)
    kept = [(x, x.copy()) for x, _ in s]
    s.close()
    assert len(kept) > 20
    assert all((x == c).all() for x, c in kept)
    ref = tt.Stream(str(data["shards"]), split="train", batch_size=32, channels=1, seed=2,
                    format="float32", flip=True, epochs=3, copy=False)
    for (x, _), (v, _) in zip(kept, ref):
        assert (x == v).all()


def test_dropped_batches_are_reused_and_kept_ones_are_not(data):
    """a default array that dies goes back to its open stream, which fills
    that buffer again for a later batch (no fresh pages per batch); arrays
    still alive are never refilled, and ones that outlive the stream stay
    valid; the values equal copy=False's throughout"""
    kw = dict(split="train", batch_size=32, channels=1, seed=4, format="float32", flip=True,
              epochs=2)
    ref = [x.copy() for x, _ in tt.Stream(str(data["shards"]), copy=False, **kw)]
    s = tt.Stream(str(data["shards"]), **kw)
    kept = []
    for i, (x, _) in enumerate(s):
        assert (x == ref[i]).all()
        if i % 5 == 0:
            kept.append((i, x))  # alive: its buffer must not come back
        del x
    given = s.stats()["batches_given_back"]
    s.close()
    assert len(ref) > 20
    # every dropped batch but the last went back to the stream
    assert given >= len(ref) - len(kept) - 1, (given, len(ref), len(kept))
    for i, x in kept:
        assert (x == ref[i]).all()
    assert len({x.__array_interface__["data"][0] for _, x in kept}) == len(kept)


def corrupt_copy(src, dst, where):
    shutil.copy(src, dst)
    with open(dst, "r+b") as f:
        f.seek(where)
        c = f.read(1)
        f.seek(where)
        f.write(bytes([c[0] ^ 0x40]))


def test_bad_data_raises_data_error_naming_file_record_offset(data, tmp_path):
    src = glob.glob(str(data["plain"] / "train-*"))[0]
    bad = tmp_path / "bad.tfrecord"
    corrupt_copy(src, bad, os.path.getsize(src) // 2)
    s = tt.Stream(str(bad), batch_size=16, channels=1, shuffle_buffer=0)
    with pytest.raises(tt.DataError) as e:
        batches(s)
    assert isinstance(e.value, OSError)
    assert e.value.path == str(bad) and e.value.filename == str(bad)
    assert isinstance(e.value.record, int) and e.value.record >= 0
    assert isinstance(e.value.offset, int) and 0 <= e.value.offset < os.path.getsize(src)
    assert str(bad) in str(e.value)
    # skip_corrupt: the good records still come, the bad one is counted
    s = tt.Stream(str(bad), batch_size=16, channels=1, shuffle_buffer=0, skip_corrupt=True)
    n = sum(len(y) for _, y in s)
    assert n == N_TRAIN - s.stats()["corrupt_skipped"] and 0 < s.stats()["corrupt_skipped"] < 5


def test_truncated_gzip_shard(data, tmp_path):
    src = glob.glob(str(data["shards"] / "train-*"))[0]
    cut = tmp_path / "cut.tfrecord.gz"
    with open(src, "rb") as f, open(cut, "wb") as g:
        g.write(f.read(os.path.getsize(src) // 3))
    with pytest.raises(tt.DataError) as e:
        batches(tt.Stream(str(cut), batch_size=16, channels=1))
    assert e.value.path == str(cut)


def test_options_and_missing_files(data, tmp_path):
    with pytest.raises(tt.DataError) as e:
        tt.Stream(str(tmp_path / "none.tfrecord"))
    assert "none.tfrecord" in str(e.value)
    with pytest.raises(ValueError):
        tt.Stream(str(data["shards"]), split="train", batch_size=0)
    with pytest.raises(ValueError):
        tt.Stream(str(data["shards"]), split="train", format="int16")
    with pytest.raises(ValueError):
        tt.Stream(str(data["shards"]), split="train", mean=0.5)  # uint8 output
    with pytest.raises(TypeError):
        tt.Stream(str(data["shards"]), 64)  # options are keywords
    s = tt.Stream(str(data["shards"]), split="train", channels=1)
    s.close()
    with pytest.raises(ValueError):
        next(s)


def test_importing_loads_no_cuda_library():
    code = ("import tfrecord_tools, sys; m = open('/proc/self/maps').read(); "
            "sys.exit(1 if any(l in m for l in ('libcudnn', 'libcublas', 'libcudart', 'libdnnl')) else 0)")
    r = subprocess.run([sys.executable, "-c", code], env=os.environ)
    assert r.returncode == 0, "importing tfrecord_tools mapped a CUDA or oneDNN library"
    so = glob.glob(os.path.join(os.path.dirname(tt.__file__), "_native*.so"))[0]
    dyn = subprocess.run(["readelf", "-d", so], capture_output=True, text=True).stdout
    assert "NEEDED" in dyn and "cudnn" not in dyn and "cublas" not in dyn and "dnnl" not in dyn


def test_torch_workers_split_the_epoch(data):
    torch = pytest.importorskip("torch")
    from tfrecord_tools.torch import StreamDataset

    def run_epoch(workers, ep):
        ds = StreamDataset(str(data["plain"]), split="train", batch_size=20, channels=1, seed=5,
                           format="float32", shuffle_buffer=256)
        ds.set_epoch(ep)
        loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=workers)
        out = []
        for x, y in loader:
            assert x.dtype == torch.float32 and x.shape[1:] == (1, 28, 28) and y.dtype == torch.int64
            out += [(hashlib.sha1(a.numpy().tobytes()).hexdigest(), int(b)) for a, b in zip(x, y)]
        return out

    one = run_epoch(0, 0)
    assert len(one) == N_TRAIN
    two = run_epoch(2, 0)
    # each worker its share: nothing twice, nothing that the whole epoch lacks
    assert len(two) == N_TRAIN  # 600 records split 300 / 300
    assert collections.Counter(two) == collections.Counter(one)
    assert [h for h, _ in run_epoch(0, 1)] != [h for h, _ in one]  # set_epoch reshuffles


def readme_python_blocks():
    src = os.environ.get("TFR_SRC", os.path.join(os.path.dirname(__file__), "..", ".."))
    import re
    with open(os.path.join(src, "README.md")) as f:
        return re.findall(r"^```python\n(.*?)^```", f.read(), flags=re.S | re.M)


def test_readme_examples_run(data, tmp_path):
    blocks = readme_python_blocks()
    assert len(blocks) >= 2, "README lost its Python examples"
    os.symlink(data["shards"], tmp_path / "shards")
    for code in blocks:
        if "onnxruntime" in code:
            # the ONNX Runtime example: where the Python runtime is installed,
            # on a model exported from a checkpoint of these shards (the same
            # exports run in ONNX Runtime's node build in test_onnx_cli.sh)
            try:
                import onnxruntime  # noqa: F401
            except ImportError:
                continue
            b = os.environ["TFR_BIN"]
            subprocess.run([f"{b}/tfrecord-train", "-q", "--train", str(data["shards"]), "--width", "4",
                            "--levels", "1", "--epochs", "1", "--checkpoint-dir", str(tmp_path / "ck")],
                           check=True, capture_output=True)
            subprocess.run([f"{b}/tfrecord-export", str(tmp_path / "ck" / "epoch-0001.tfrc"), "--onnx",
                            str(tmp_path / "model.onnx")], check=True, capture_output=True)
            jpg = next(pathlib.Path(data["tree"]).rglob("*.jpg"))
            shutil.copy(jpg, tmp_path / "photo1.jpg")
        if "import torch" in code:
            pytest.importorskip("torch")
            code = "import torch\ntorch.manual_seed(0)\n" + code  # a fixed initialization
        r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=os.environ,
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr[-2000:]
        if "epoch 1: loss" in code or "set_epoch" in code:
            losses = [float(l.split()[-1]) for l in r.stdout.splitlines() if l.startswith("epoch")]
            # 2 epochs of 600 images: it learns (chance is 2.30)
            assert len(losses) == 2 and losses[-1] < 2.25, r.stdout


def fnv(data):
    """FNV-1a 64, as tests/reference/streamhash.c digests a batch"""
    h = 0xCBF29CE484222325
    for x in data:
        h = ((h ^ x) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


@pytest.mark.parametrize("fmt", ["u8", "nchw"])
def test_same_bytes_as_the_c_stream(data, fmt):
    args = ["--channels", "1", "--flip", "--pad-crop", "2", "--seed", "11", "--batch", "100",
            "--format", fmt, "--epochs", "2", f"{data['shards']}:train"]
    out = subprocess.run([f"{TEST_BIN}/tfr-streamhash", *args], check=True, capture_output=True,
                         text=True).stdout.splitlines()
    c_lines = [l for l in out if l.startswith("epoch")]
    kw = dict(split="train", batch_size=100, channels=1, flip=True, pad_crop=2, seed=11, epochs=2,
              threads=2)
    if fmt == "nchw":
        kw["format"] = "float32"
    py_lines = []
    for i, (x, y) in enumerate(tt.Stream(str(data["shards"]), **kw)):
        e, b = divmod(i, 6)
        c = x.shape[1] if fmt == "nchw" else x.shape[3]
        h, w = (x.shape[2], x.shape[3]) if fmt == "nchw" else (x.shape[1], x.shape[2])
        py_lines.append(f"epoch {e} batch {b} n {len(y)} {h}x{w}x{c} data {fnv(x.tobytes()):016x} "
                        f"labels {fnv(y.astype(np.int32).tobytes()):016x}")
    assert len(c_lines) == 12 and py_lines == c_lines


def rss_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])


def test_no_leak_over_1000_open_close_cycles(data):
    src = glob.glob(str(data["plain"] / "train-*"))[0]

    def cycle():
        with tt.Stream(src, batch_size=8, channels=1, threads=1, shuffle_buffer=16) as s:
            next(s)
            s.state()

    for _ in range(50):  # the allocator's and the thread stacks' first growth
        cycle()
    before = rss_kb()
    for _ in range(1000):
        cycle()
    grown = rss_kb() - before
    assert grown < 8 * 1024, f"RSS grew by {grown} kB over 1000 streams"


def test_bad_arguments_name_themselves(data):
    for kw, name in [(dict(batch_size=0), "batch"), (dict(channels=2), "channels"),
                     (dict(size=(0, 4)), "size"), (dict(format="f16"), "format"),
                     (dict(layout="CHWN", format="float32"), "layout"),
                     (dict(mean=(1, 2), format="float32"), "mean"),
                     (dict(state={"seed": 1}), "epoch"), (dict(rank=3, world=2), "rank")]:
        with pytest.raises((ValueError, TypeError, KeyError)) as e:
            tt.Stream(str(data["shards"]), split="train", **kw)
        assert name in str(e.value), (kw, str(e.value))
    with pytest.raises(TypeError) as e:
        tt.Stream(str(data["shards"]), batch_sizes=4)
    assert "batch_sizes" in str(e.value)


def test_torch_trains_a_few_hundred_steps(data):
    torch = pytest.importorskip("torch")
    import torch.nn as nn
    from tfrecord_tools.torch import StreamDataset

    torch.manual_seed(0)
    ds = StreamDataset(str(data["shards"]), split="train", batch_size=20, channels=1,
                       format="float32", mean=0.5, std=0.25, flip=True, seed=2)
    loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2, pin_memory=False)
    net = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    steps, first, last = 0, None, []
    for ep in range(10):
        ds.set_epoch(ep)
        for x, y in loader:
            loss = nn.functional.cross_entropy(net(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            first = first if first is not None else loss.item()
            last = (last + [loss.item()])[-30:]
            steps += 1
    assert steps == 300
    # the last epoch's mean loss, from chance (2.30) to below 1.2
    assert first > 1.8 and sum(last) / len(last) < 1.2, (first, sum(last) / len(last))


def test_random_erase_sets_a_rectangle_to_the_mean(data):
    kw = dict(format="float32", mean=0.5, std=0.25)
    # (v/255 - 0.5)/0.25 is never exactly 0 for a uint8 v: zeros are erased pixels
    plain = epoch(data, **kw)
    erased = epoch(data, random_erase=1.0, **kw)
    assert all((x != 0).all() for x, _ in plain)
    for x, _ in erased:
        for img in x[:, 0]:
            ys, xs = np.nonzero(img == 0)
            assert len(ys) >= 0.02 * 28 * 28 * 0.6  # sides rounded to whole pixels
            # one rectangle: every pixel of its bounding box is erased
            box = img[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
            assert (box == 0).all() and box.size <= 0.33 * 28 * 28 * 1.2
    half = epoch(data, random_erase=0.5, **kw)
    n = sum(int((img == 0).any()) for x, _ in half for img in x[:, 0])
    assert 0.35 * N_TRAIN < n < 0.65 * N_TRAIN
