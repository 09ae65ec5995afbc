#!/usr/bin/env python3
"""Write the PyTorch golden of two consecutive truncated-BPTT batches of a language model
into tests/fixtures/ (run by hand from the repository root; needs torch and safetensors):

    python3 tools/torch_tbptt_golden.py [--out tests/fixtures]

An embedding, a 2-layer LSTM (and a 1-layer GRU) and a per-step linear head over V symbols,
float64. Batch 1 runs from a zero state; its loss and every parameter's gradient are
recorded, one SGD step (lr 0.1) is taken, and batch 2 runs from batch 1's final state,
detached, as `word_language_model` and char-rnn train: its loss, gradients and final state
are recorded too.
"""
import argparse
import json
import os

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

V, E, H, B, T = 6, 5, 7, 3, 4
LR = 0.1


class LM(nn.Module):
    def __init__(self, cell, layers):
        super().__init__()
        self.embedding = nn.Embedding(V, E)
        self.rnn = {"lstm": nn.LSTM, "gru": nn.GRU}[cell](E, H, num_layers=layers, batch_first=True)
        self.head = nn.Linear(H, V)

    def forward(self, x, state):
        y, state = self.rnn(self.embedding(x), state)
        return self.head(y), state


def make(stem, cell, layers, seed, out):
    torch.manual_seed(seed)
    model = LM(cell, layers).double()
    t = {k: v.detach().clone() for k, v in model.state_dict().items()}
    ids = torch.randint(0, V, (B, 2 * T + 1))
    x1, y1 = ids[:, :T], ids[:, 1 : T + 1]
    x2, y2 = ids[:, T : 2 * T], ids[:, T + 1 :]
    for k, v in {"x1": x1, "y1": y1, "x2": x2, "y2": y2}.items():
        t[k] = v.double()
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    state = None
    for n, (x, y) in enumerate([(x1, y1), (x2, y2)], start=1):
        opt.zero_grad()
        logits, state = model(x, state)
        loss = F.cross_entropy(logits.reshape(-1, V), y.reshape(-1))
        loss.backward()
        t[f"loss{n}"] = loss.detach().reshape(1).clone()
        for name, p in model.named_parameters():
            t[f"grad{n}.{name}"] = p.grad.detach().clone()
        h = state[0] if cell == "lstm" else state
        t[f"h_n{n}"] = h.detach().clone()
        if cell == "lstm":
            t[f"c_n{n}"] = state[1].detach().clone()
        opt.step()
        state = tuple(s.detach() for s in state) if cell == "lstm" else state.detach()
    meta = {"cell": cell, "num_layers": str(layers), "vocab": str(V), "embedding": str(E),
            "hidden_size": str(H), "batch": str(B), "bptt": str(T), "lr": str(LR),
            "torch_version": torch.__version__}
    t = {k: v.contiguous() for k, v in t.items()}
    path = os.path.join(out, f"{stem}.safetensors")
    save_file(t, path, metadata=meta)
    print(path, json.dumps({k: list(v.shape) for k, v in t.items() if not k.startswith("grad")}))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", default="tests/fixtures")
    a = p.parse_args()
    make("lstm_l2_tbptt", "lstm", 2, 31, a.out)
    make("gru_l1_tbptt", "gru", 1, 32, a.out)


if __name__ == "__main__":
    main()
