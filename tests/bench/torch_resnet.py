#!/usr/bin/env python3
"""tests/bench/torch_resnet.py - the PyTorch baseline for bench_train_gpu
and bench_train.

Trains the same pre-activation ResNet as src/nn/model.c (the "homework"
preset by default: 64x64x3 -> 200 classes, width 64, bottleneck levels
4,6,3,2; --preset fmnist for 28x28x1 -> 10, width 16, levels 1,1,1;
--preset recipe for tfrecord-train --recipe fmnist's network: 28x28x1 ->
10, basic blocks, width 48, levels 2,2,2; --block basic for basic blocks).

--device cuda (bench_train_gpu): uint8 NHWC batch from pinned host memory,
normalized on the GPU, forward, softmax cross-entropy, backward, SGD with
momentum; channels_last; TF32, strict fp32, or bf16 autocast (bf16
activations, fp32 weights) as asked.

--device cpu (bench_train): fp32 (or --precision bf16: CPU autocast to
bf16), --threads intra-op threads, --layout nchw or channels_last, a fixed float batch (bench_train's step: no input
pipeline), forward, cross-entropy, backward, SGD with momentum and weight
decay, timed for at least --seconds after a warm-up step.

Prints one JSON line: {"mode", "batch", "precision", "images_per_s",
"cpu_s", "torch"}.
"""
import argparse
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, cin, cout, stride, project):
        super().__init__()
        mid = cout // 4
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, mid, 1, stride, 0, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, mid, 3, 1, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(mid, cout, 1, 1, 0, bias=False)
        self.proj = nn.Conv2d(cin, cout, 1, stride, 0, bias=False) if project else None

    def forward(self, x):
        a = F.relu(self.bn1(x))
        b = self.conv1(a)
        b = self.conv2(F.relu(self.bn2(b)))
        b = self.conv3(F.relu(self.bn3(b)))
        return b + (self.proj(a) if self.proj is not None else x)


class BasicBlock(nn.Module):
    """two 3x3 convolutions; a strided 1x1 projection where the size or width changes"""

    def __init__(self, cin, cout, stride, project):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        project = stride != 1 or cin != cout
        self.proj = nn.Conv2d(cin, cout, 1, stride, 0, bias=False) if project else None

    def forward(self, x):
        a = F.relu(self.bn1(x))
        b = self.conv2(F.relu(self.bn2(self.conv1(a))))
        return b + (self.proj(a) if self.proj is not None else x)


class ResNet(nn.Module):
    def __init__(self, in_c=3, classes=200, width=64, levels=(4, 6, 3, 2), block="bottleneck"):
        super().__init__()
        self.tail = nn.Conv2d(in_c, width, 3, 1, 1, bias=False)
        self.tail_bn = nn.BatchNorm2d(width)
        blocks, c = [], width
        kind = BasicBlock if block == "basic" else Block
        for lvl, n in enumerate(levels):
            ni = (width if block == "basic" else 4 * width) << lvl
            for b in range(n):
                blocks.append(kind(c, ni, 2 if (lvl > 0 and b == 0) else 1, b == 0))
                c = ni
        self.blocks = nn.Sequential(*blocks)
        self.head_bn = nn.BatchNorm2d(c)
        self.fc = nn.Linear(c, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.tail_bn(self.tail(x))), 2)
        x = self.blocks(x)
        x = F.relu(self.head_bn(x)).mean((2, 3))
        return self.fc(x)


PRESETS = {"homework": (64, 3, 200, 64, "4,6,3,2", "bottleneck"),
           "fmnist": (28, 1, 10, 16, "1,1,1", "bottleneck"),
           "recipe": (28, 1, 10, 48, "2,2,2", "basic")}


def main_cpu(a, levels):
    torch.set_num_threads(a.threads)
    size, in_c = a.size, a.in_c
    model = ResNet(in_c, a.classes, a.width, levels, a.block)
    cl = a.layout == "channels_last"
    if cl:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    g = torch.Generator().manual_seed(1)
    x = torch.rand((a.batch, in_c, size, size), generator=g) - 0.5
    if cl:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.arange(a.batch) % a.classes

    bf16 = a.precision == "bf16"

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    step()  # warm-up
    steps = 0
    c0, t0 = time.process_time(), time.perf_counter()
    while time.perf_counter() - t0 < a.seconds or steps < 3:
        step()
        steps += 1
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    print(json.dumps({"mode": "eager", "layout": a.layout, "batch": a.batch,
                      "precision": "bf16" if bf16 else "fp32",
                      "images_per_s": a.batch * steps / dt, "cpu_s": dc, "steps": steps,
                      "threads": a.threads, "params": sum(p.numel() for p in model.parameters()),
                      "torch": torch.__version__}))
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    ap.add_argument("--preset", choices=sorted(PRESETS), default=None)
    ap.add_argument("--layout", choices=["nchw", "channels_last"], default="channels_last")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--in-c", type=int, default=3)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--precision", choices=["fp32", "tf32", "bf16"], default="tf32")
    ap.add_argument("--mode", choices=["eager", "compile"], default="eager")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--classes", type=int, default=200)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--levels", default="4,6,3,2")
    ap.add_argument("--block", choices=["bottleneck", "basic"], default="bottleneck")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    a = ap.parse_args()
    if a.preset:
        a.size, a.in_c, a.classes, a.width, a.levels, a.block = PRESETS[a.preset]
    levels = tuple(int(x) for x in a.levels.split(","))
    if a.device == "cpu":
        return main_cpu(a, levels)
    if not torch.cuda.is_available():
        print(json.dumps({"error": "no CUDA device"}))
        return 77
    tf32 = a.precision != "fp32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cudnn.benchmark = True  # algorithm search per shape, as ours
    dev = torch.device("cuda")
    model = ResNet(3, a.classes, a.width, levels, a.block).to(dev).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    fwd = torch.compile(model) if a.mode == "compile" else model

    g = torch.Generator().manual_seed(1)
    n = a.batch
    host = [torch.randint(0, 256, (n, a.size, a.size, 3), dtype=torch.uint8, generator=g).pin_memory()
            for _ in range(3)]
    labels = [torch.randint(0, a.classes, (n,), generator=g).pin_memory() for _ in range(3)]
    mean, std = 0.5, 0.25

    def step(i):
        x = host[i % 3].to(dev, non_blocking=True)
        y = labels[i % 3].to(dev, non_blocking=True)
        x = x.permute(0, 3, 1, 2).float().div_(255.0).sub_(mean).div_(std)
        x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=a.precision == "bf16"):
            loss = F.cross_entropy(fwd(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    for i in range(a.warmup):
        step(i)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for i in range(a.steps):
        loss = step(i)
    loss.item()
    torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    print(json.dumps({"mode": a.mode, "batch": n, "precision": a.precision,
                      "images_per_s": n * a.steps / dt, "torch": torch.__version__}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
