"""tests/python/test_io.py - tfrecord_tools.records, parse_example, write
and inspect against independent references: a TFRecord framing parser and
crc32c written here from the format's definition, the values the golden
files' README states (files written by TensorFlow and others), Pillow's
decoding of the source images, and the C tools' own --json reports."""
import gzip
import json
import os
import shutil
import struct
import subprocess

import numpy as np
import pytest

import tfrecord_tools as tt

BIN = os.environ.get("TFR_BIN", "build/bin")
GOLDEN = os.environ.get("TFR_GOLDEN", os.path.join(os.path.dirname(__file__), "../../../shared/golden"))


def golden(name):
    p = os.path.join(GOLDEN, name)
    if not os.path.exists(p):
        pytest.skip(f"golden file {name} not found in {GOLDEN}")
    return p


# crc32c (Castagnoli, reflected 0x82F63B78), bit by bit: slow and obviously right
def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def masked(data):
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def frame_records(raw):
    """uint64 length, masked crc32c of it, data, masked crc32c of the data."""
    out, pos = [], 0
    while pos < len(raw):
        (n,) = struct.unpack_from("<Q", raw, pos)
        assert struct.unpack_from("<I", raw, pos + 8)[0] == masked(raw[pos:pos + 8])
        data = raw[pos + 12:pos + 12 + n]
        assert struct.unpack_from("<I", raw, pos + 12 + n)[0] == masked(data)
        out.append(data)
        pos += 16 + n
    return out


def test_crc32c_reference_vector():
    assert crc32c(b"123456789") == 0xE3069283


@pytest.mark.parametrize("name", ["tfrecord_lite-images.tfrecord", "tfrecord_lite-test.tfrecord",
                                  "pwnall-singles.tfrecords",
                                  "tfx-penguin-eval-data_tfrecord-00000-of-00001.gz",
                                  "ecosystem-hadoop-part-m-00000.gz"])
def test_records_are_the_framed_bytes(name):
    path = golden(name)
    raw = open(path, "rb").read()
    if name.endswith(".gz"):
        raw = gzip.decompress(raw)
    want = frame_records(raw)
    with tt.records(path) as r:
        got = list(r)
        st = r.stats()
    assert got == want and len(got) > 0
    assert st["records"] == len(want)
    assert st["compression"] == ("gzip" if name.endswith(".gz") else "none")


def test_parse_example_values_from_the_golden_readme():
    recs = [tt.parse_example(r) for r in tt.records(golden("pwnall-singles.tfrecords"))]
    assert list(recs[0]) == ["int_feature"] and recs[0]["int_feature"].dtype == np.int64
    assert recs[0]["int_feature"].tolist() == [42]
    assert recs[1]["float_feature"].dtype == np.float32
    assert recs[1]["float_feature"].tolist() == [np.float32(3.14)]
    assert recs[2] == {"byte_feature": [b"@ABCD"]}
    last = tt.parse_example(list(tt.records(golden("tfrecord_lite-test.tfrecord")))[-1])
    assert last["feature0"].tolist() == [0] and last["feature1"].tolist() == [1]
    assert last["feature2"] == [b"dog"]
    assert abs(float(last["feature3"][0]) - -1.45109355) < 1e-6
    imgs = [tt.parse_example(r) for r in tt.records(golden("tfrecord_lite-images.tfrecord"))]
    assert [(int(e["height"][0]), int(e["width"][0]), int(e["depth"][0]), int(e["label"][0]))
            for e in imgs] == [(213, 320, 3, 0), (239, 194, 1, 1)]
    assert imgs[0]["image_raw"][0][:3] == b"\xff\xd8\xff"


def test_parse_example_rejects_what_is_not_an_example():
    with pytest.raises(tt.DataError):
        tt.parse_example(b"\x0a\x05\x0a\x03abc\xff")  # a feature map entry cut short
    with pytest.raises(TypeError):
        tt.parse_example(12)
    assert tt.parse_example(b"") == {}  # the empty Example


def test_records_name_the_bad_record(tmp_path):
    src = golden("tfrecord_lite-test.tfrecord")
    raw = bytearray(open(src, "rb").read())
    recs = frame_records(bytes(raw))
    # flip a bit in the data of record 5
    off = sum(16 + len(r) for r in recs[:5])
    raw[off + 12 + 3] ^= 0x10
    bad = tmp_path / "bad.tfrecord"
    bad.write_bytes(bytes(raw))
    got = []
    with pytest.raises(tt.DataError) as e:
        for r in tt.records(bad):
            got.append(r)
    assert got == recs[:5]
    assert e.value.path == str(bad) and e.value.record == 5 and e.value.offset == off
    assert isinstance(e.value, OSError)
    with tt.records(bad, skip_corrupt=True) as r:
        kept = list(r)
        assert r.stats()["corrupt_skipped"] == 1
    assert kept == recs[:5] + recs[6:]
    with pytest.raises(tt.DataError) as e:
        list(tt.records(tmp_path / "missing.tfrecord"))
    assert e.value.path == str(tmp_path / "missing.tfrecord")
    with pytest.raises(ValueError, match="compression"):
        tt.records(src, compression="lz4")


def test_write_then_inspect_agree_with_the_tools(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    tree = tmp_path / "tree"
    rng = np.random.default_rng(4)
    pixels = {}
    for c in ("cat", "dog"):
        (tree / c).mkdir(parents=True)
        for i in range(7):
            px = rng.integers(0, 256, (20 + i, 30, 3), dtype=np.uint8)
            Image.fromarray(px).save(tree / c / f"{i}.png")
            pixels[(c, i)] = px
    (tree / "dog" / "notes.txt").write_text("not an image")
    out = tmp_path / "out"
    rep = tt.write(str(tree), out, splits="train=70,test=30", layout="raw", size=(16, 24),
                   shards=1, seed=5)
    assert rep["records"] == 14 and rep["classes"] == ["cat", "dog"]
    # the same job through the tool gives the same shards (same report but timings)
    out2 = tmp_path / "out2"
    subprocess.run([f"{BIN}/tfrecord-write", "-q", "--split", "train=70,test=30", "--layout", "raw",
                    "--size", "24x16", "--shards", "1", "--seed", "5", str(tree), str(out2)],
                   check=True)
    for f in sorted(os.listdir(out)):
        if f.endswith(".gz"):
            assert open(out / f, "rb").read() == open(out2 / f, "rb").read(), f
    shards = sorted(str(out / f) for f in os.listdir(out) if f.endswith(".gz"))
    report = tt.inspect(shards)
    cli = json.loads(subprocess.run([f"{BIN}/tfrecord-inspect", "--json", *shards], check=True,
                                    capture_output=True, text=True).stdout)
    for d in (report, cli):
        d.pop("seconds", None)
    # the tool adds its pictures section (sizes, pixel statistics, sheet)
    assert {k: cli[k] for k in report} == report and len(report) >= 10
    assert report["records"] == 14
    # every record: the label is the class folder, the raw pixels are the image resized
    seen = 0
    for s in shards:
        for r in tt.records(s):
            ex = tt.parse_example(r)
            assert ex["image/raw"][0] and len(ex["image/raw"][0]) == 16 * 24 * 3
            assert int(ex["image/class/label"][0]) in (0, 1)
            seen += 1
    assert seen == 14
    with pytest.raises(ValueError, match="layout"):
        tt.write(str(tree), tmp_path / "x", layout="png")
    with pytest.raises(ValueError, match="splits"):
        tt.write(str(tree), tmp_path / "x", splits="train=70,test=20")
    with pytest.raises(tt.DataError):
        tt.write(str(tmp_path / "no-such-dir"), tmp_path / "x")


def test_inspect_lists_defects_instead_of_raising(tmp_path):
    src = golden("tfrecord_lite-test.tfrecord")
    bad = tmp_path / "cut.tfrecord"
    raw = open(src, "rb").read()
    bad.write_bytes(raw[: len(raw) - 7])
    rep = tt.inspect([src, str(bad)])
    assert rep["records"] == 42 + 41
    text = json.dumps(rep)
    assert "cut.tfrecord" in text and "trunc" in text.lower()
    # verify=True: the first defect raised, with where it is
    assert tt.inspect([src], verify=True)["records"] == 42
    with pytest.raises(tt.DataError) as ei:
        tt.inspect([src, str(bad)], verify=True)
    e = ei.value
    assert e.path == str(bad) and e.record == 41 and e.offset is not None and e.offset > 0
    assert "1 defect in all" in str(e) and "cut.tfrecord" in str(e)
    assert isinstance(e, OSError)


def rss_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_no_leak_over_many_reads_and_parses():
    path = golden("tfrecord_lite-images.tfrecord")

    def once():
        with tt.records(path) as r:
            for rec in r:
                ex = tt.parse_example(rec)
                assert len(ex["image_raw"][0]) > 1000
        try:
            tt.parse_example(b"\x0a\x05\x0a\x03abc\xff")
        except tt.DataError:
            pass

    for _ in range(200):
        once()
    before = rss_kb()
    for _ in range(2000):
        once()
    # 2000 rounds of 2 records of ~16 KB: a leak of either would be > 60 MB
    assert rss_kb() - before < 8000
