#!/usr/bin/env python3
"""PyTorch's side of recur's language-model measurements (run by hand; needs torch).

    python3 tools/torch_charlm.py train TEXT [--max-time 232] [--threads 2]
        A 2x256 LSTM character model as `recur train text --text TEXT --char` builds it
        (embedding 128, batch 32 streams, bptt 100, Adam 2e-3, clip 5, the last 10% held
        out), trained until the time budget, then the held-out loss in nats per character,
        streamed in 16 rows with the state carried, as recur reports it.
    python3 tools/torch_charlm.py bench [--seconds 5] [--threads 2]
        The bare training step of recur's `charlm` bench configuration (embedding 256,
        LSTM 2x256, 65 symbols, batch 32, bptt 100, Adam, clip 5, state carried): median ms
        and tokens/s; and generation at batch 1, one step per symbol, state carried.
"""
import argparse
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class LM(nn.Module):
    def __init__(self, vocab, emb, hidden, layers):
        super().__init__()
        self.embedding = nn.Embedding(vocab, emb)
        self.rnn = nn.LSTM(emb, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, x, state=None):
        y, state = self.rnn(self.embedding(x), state)
        return self.head(y), state


def detach(state):
    return tuple(s.detach() for s in state)


def streams(ids, n):
    length = len(ids) // n
    return ids[: n * length].view(n, length)


def stream_loss(model, ids, rows=16, bptt=100):
    data = streams(ids, rows)
    state, total, count = None, 0.0, 0
    with torch.no_grad():
        for t in range(0, data.size(1) - 1, bptt):
            x, y = data[:, t : t + bptt], data[:, t + 1 : t + 1 + bptt]
            x = x[:, : y.size(1)]
            logits, state = model(x, state)
            total += F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1), reduction="sum").item()
            count += y.numel()
    return total / count


def train(a):
    text = open(a.text, encoding="utf-8").read()
    symbols = sorted(set(text))
    index = {c: i for i, c in enumerate(symbols)}
    ids = torch.tensor([index[c] for c in text], dtype=torch.long)
    split = len(ids) - round(len(ids) * 0.1)
    train_ids, valid_ids = ids[:split], ids[split:]
    torch.manual_seed(1)
    model = LM(len(symbols), 128, 256, 2)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    data = streams(train_ids, 32)
    start, steps, tokens = time.time(), 0, 0
    while time.time() - start < a.max_time:
        state = None
        for t in range(0, data.size(1) - 1, 100):
            x, y = data[:, t : t + 100], data[:, t + 1 : t + 101]
            x = x[:, : y.size(1)]
            logits, state = model(x, state)
            state = detach(state)
            loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1))
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            steps, tokens = steps + 1, tokens + y.numel()
            if time.time() - start >= a.max_time:
                break
    seconds = time.time() - start
    valid = stream_loss(model, valid_ids)
    print(f"torch: {steps} steps, {tokens / seconds:.0f} tokens/s, {seconds:.1f}s; valid_loss {valid:.4f}")


def bench(a):
    torch.manual_seed(0)
    model = LM(65, 256, 256, 2)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    x = torch.randint(0, 65, (32, 100))
    y = torch.randint(0, 65, (32, 100))
    state, times = None, []
    start = time.time()
    while len(times) < 10 or time.time() - start < a.seconds:
        t0 = time.perf_counter()
        logits, state = model(x, state)
        state = detach(state)
        loss = F.cross_entropy(logits.reshape(-1, 65), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        times.append(time.perf_counter() - t0)
    med = statistics.median(times[3:])
    print(f"torch charlm step: {med * 1e3:.2f} ms, {3200 / med:.0f} tokens/s ({len(times)} steps)")
    with torch.no_grad():
        state, sym = None, torch.zeros(1, 1, dtype=torch.long)
        t0, n = time.perf_counter(), 0
        while time.perf_counter() - t0 < a.seconds:
            logits, state = model(sym, state)
            sym = logits[:, -1].argmax(-1, keepdim=True)
            n += 1
        print(f"torch generation: {n / (time.perf_counter() - t0):.0f} symbols/s (batch 1, state carried)")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("text")
    t.add_argument("--max-time", type=float, default=232)
    t.add_argument("--threads", type=int, default=2)
    b = sub.add_parser("bench")
    b.add_argument("--seconds", type=float, default=5)
    b.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    (train if a.cmd == "train" else bench)(a)


if __name__ == "__main__":
    main()
