#!/usr/bin/env python3
"""Time PyTorch (CPU, float32) training steps on recur's benchmark configurations.

Usage:
    python3 tools/torch_bench.py [--threads 2] [--steps 50] [--warmup 5] [--json] [--only NAME ...]

One timed step = zero_grad + forward + loss + backward + optimizer.step.
Reports the median wall-clock milliseconds per step. Inputs/targets are random,
generated once outside the timed loop.
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# name: batch, seq_len, input, hidden, classes, head ("last"/"step"), loss, optimizer, lr, steps cap
CONFIGS = [
    {"config": "bitcount", "B": 1000, "T": 20, "I": 1, "H": 24, "C": 21,
     "head": "last", "loss": "ce", "opt": "adam", "lr": 1e-3},
    {"config": "addition", "B": 16, "T": 10, "I": 2, "H": 20, "C": 1,
     "head": "step", "loss": "bce", "opt": "adam", "lr": 0.01},
    {"config": "aesop", "B": 1, "T": 3, "I": 1, "H": 512, "C": 112,
     "head": "last", "loss": "ce", "opt": "rmsprop", "lr": 1e-3},
    {"config": "mnist", "B": 128, "T": 28, "I": 28, "H": 128, "C": 10,
     "head": "last", "loss": "ce", "opt": "adam", "lr": 1e-3},
]


class Model(nn.Module):
    def __init__(self, i, h, c):
        super().__init__()
        self.rnn = nn.LSTM(i, h, batch_first=True)
        self.head = nn.Linear(h, c)


def bench(cfg, steps, warmup, max_seconds):
    torch.manual_seed(0)
    B, T, I, H, C = cfg["B"], cfg["T"], cfg["I"], cfg["H"], cfg["C"]
    model = Model(I, H, C)
    x = torch.randn(B, T, I)
    if cfg["loss"] == "ce":
        target = torch.randint(0, C, (B,))
    else:
        target = torch.randint(0, 2, (B, T, C)).float()
    if cfg["opt"] == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
    else:
        opt = torch.optim.RMSprop(model.parameters(), lr=cfg["lr"])

    def step():
        opt.zero_grad()
        out, _ = model.rnn(x)
        feats = out[:, -1] if cfg["head"] == "last" else out
        logits = model.head(feats)
        if cfg["loss"] == "ce":
            loss = F.cross_entropy(logits, target)
        else:
            loss = F.binary_cross_entropy_with_logits(logits, target)
        loss.backward()
        opt.step()
        return loss

    for _ in range(warmup):
        step()
    times = []
    start = time.perf_counter()
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1e3)
        if time.perf_counter() - start > max_seconds and len(times) >= 5:
            break
    return statistics.median(times), len(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--max-seconds", type=float, default=30.0,
                    help="stop timing a config after this long (min 5 steps)")
    ap.add_argument("--only", nargs="*", help="config names to run")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    results = []
    for cfg in CONFIGS:
        if args.only and cfg["config"] not in args.only:
            continue
        ms, n = bench(cfg, args.steps, args.warmup, args.max_seconds)
        results.append({"config": cfg["config"], "ms_per_step": round(ms, 4), "steps": n})

    if args.json:
        print(json.dumps([{"config": r["config"], "ms_per_step": r["ms_per_step"]} for r in results]))
    else:
        print(f"torch {torch.__version__}, threads={args.threads}, float32, median ms/step")
        print(f"{'config':10s} {'ms/step':>10s} {'steps':>6s}")
        for r in results:
            print(f"{r['config']:10s} {r['ms_per_step']:10.3f} {r['steps']:6d}")


if __name__ == "__main__":
    main()
