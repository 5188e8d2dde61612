"""tests/bench/bench_python.py - images/s into torch tensors through
tfrecord_tools beside torchvision's ImageFolder + DataLoader(num_workers=2)
doing the same work on the same images, and beside the C stream alone
(tfrecord-read), in the same run:

  (a) Fashion-MNIST 28x28x1, the 60,000 training images: decode, flip,
      pad-2 random crop, normalize;
  (b) 224x224 photographs (500x375 JPEGs): decode, random resized crop,
      flip, normalize.

    PYTHONPATH=build/python python3 tests/bench/bench_python.py [BUILD] [REPEATS]

The stream is measured twice: with its default copy=True (every batch a
fresh array) and with copy=False (arrays viewing the stream's buffer, valid
until the next batch). Each side runs REPEATS times (default 3) over the same images; min and
median images/s and CPU seconds per 1000 images (this process and its
children) are printed, and the ratios of the medians. Needs Debian's
python3-torch, python3-torchvision and python3-pil; prints "skipped: ..."
without them.
"""
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

build = sys.argv[1] if len(sys.argv) > 1 else "build"
repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 3
BIN = os.path.join(build, "bin")
sys.path.insert(0, os.path.join(build, "python"))
try:
    import numpy as np
    import torch
    import torchvision
    import torchvision.transforms as T
    from PIL import Image
except ImportError as e:
    print(f"bench_python: skipped: {e.name} is not installed")
    sys.exit(0)
import tfrecord_tools as tt

torch.set_num_threads(1)


def cpu_s():
    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def measure(label, fn):
    rates, cpus = [], []
    for _ in range(repeats):
        c0, t0 = cpu_s(), time.perf_counter()
        n = fn()
        t, c = time.perf_counter() - t0, cpu_s() - c0
        rates.append(n / t)
        cpus.append(c / n * 1000)
    med = statistics.median(rates)
    print(f"bench_python {label:<44} {n} images: min {min(rates):8.0f} median {med:8.0f} images/s, "
          f"{statistics.median(cpus):.3f} CPU s / 1000 images")
    return med


def ours(source, epochs=1, **kw):
    def run():
        n = 0
        with tt.Stream(source, threads=2, epochs=epochs, **kw) as s:
            for x, y in s:
                xt, yt = torch.from_numpy(x), torch.from_numpy(y)
                n += xt.shape[0]
        return n
    return run


def theirs(tree, transform, epochs=1):
    ds = torchvision.datasets.ImageFolder(tree, transform=transform)

    def run():
        n = 0
        # the workers live through every epoch, as the stream's threads do
        dl = torch.utils.data.DataLoader(ds, batch_size=128, shuffle=True, num_workers=2,
                                         persistent_workers=epochs > 1)
        for _ in range(epochs):
            for x, y in dl:
                n += x.shape[0]
        return n
    return run


def c_alone(args):
    def run():
        out = subprocess.run([f"{BIN}/tfrecord-read", "-q", "--json", "--threads", "2", *args],
                             check=True, capture_output=True, text=True).stdout
        import json
        return json.loads(out)["images"]
    return run


def case(name, tree, shards, kw, read_args, transform, epochs=1):
    print(f"bench_python ({name}, {epochs} epoch{'s' if epochs > 1 else ''} a run)")
    a = measure("tfrecord_tools.Stream -> torch", ours(shards, epochs, **kw))
    z = measure("tfrecord_tools.Stream(copy=False) -> torch", ours(shards, epochs, copy=False, **kw))
    b = measure("torchvision ImageFolder + DataLoader(2 workers)", theirs(tree, transform, epochs))
    c = measure("C stream alone (tfrecord-read)", c_alone(["--epochs", str(epochs), *read_args]))
    print(f"bench_python {name}: {a / b:.2f}x torchvision (target >= 3x), "
          f"{a / c:.2f}x the C stream alone (target >= 0.9x); zero-copy batches "
          f"(copy=False): {z / b:.2f}x torchvision, {z / c:.2f}x the C stream")


with tempfile.TemporaryDirectory() as d:
    # (a) Fashion-MNIST
    fm, fms = os.path.join(d, "fm"), os.path.join(d, "fms")
    subprocess.run([f"{BIN}/fashion-mnist-tree", fm], check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run([f"{BIN}/tfrecord-write", "-q", "--channels", "1", f"train={fm}/train", fms],
                   check=True, stdout=subprocess.DEVNULL)
    case("fmnist 28x28x1", f"{fm}/train", f"{fms}:train",
         dict(batch_size=128, channels=1, format="float32", flip=True, pad_crop=2, mean=0.5, std=0.25),
         ["--batch", "128", "--channels", "1", "--format", "nchw", "--flip", "--pad-crop", "2",
          f"{fms}:train"],
         T.Compose([T.Grayscale(), T.RandomHorizontalFlip(), T.RandomCrop(28, padding=2), T.ToTensor(),
                    T.Normalize(0.5, 0.25)]))
    # (b) photographs: smooth random colour fields with detail, 500x375 JPEGs
    ph, phs = os.path.join(d, "ph"), os.path.join(d, "phs")
    rng = np.random.default_rng(1)
    for c in range(4):
        os.makedirs(f"{ph}/class{c}")
        for i in range(150):
            low = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
            img = Image.fromarray(low).resize((500, 375), Image.BICUBIC)
            noise = rng.integers(0, 24, (375, 500, 3), dtype=np.uint8)
            Image.fromarray(np.asarray(img) // 2 + noise).save(f"{ph}/class{c}/{i}.jpg", quality=90)
    subprocess.run([f"{BIN}/tfrecord-write", "-q", f"train={ph}", phs], check=True,
                   stdout=subprocess.DEVNULL)
    case("photos 224x224x3", ph, f"{phs}:train",
         dict(batch_size=128, size=224, format="float32", flip=True, random_resized_crop=0.25,
              mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)),
         ["--batch", "128", "--size", "224x224", "--format", "nchw", "--flip",
          "--random-resized-crop", "0.25", f"{phs}:train"],
         T.Compose([T.RandomResizedCrop(224, scale=(0.25, 1)), T.RandomHorizontalFlip(), T.ToTensor(),
                    T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))]),
         epochs=4)  # 600 photos: one epoch is a second, mostly start-up
