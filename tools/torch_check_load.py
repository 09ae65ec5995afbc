#!/usr/bin/env python3
"""Check that a recur model file loads into the equivalent PyTorch module.

Usage:
    python3 tools/torch_check_load.py MODEL.safetensors [--input X.npy --logits Y.npy] [--atol 1e-5]

Builds {rnn: nn.RNN/LSTM/GRU(input_size, hidden_size, num_layers, batch_first=True),
head: nn.Linear(hidden_size, num_classes)} from the file's `config` metadata (a JSON
string), or, if that is missing, from the tensor shapes, then calls
load_state_dict(load_file(path), strict=True) and prints OK. With --input/--logits,
compares head(rnn(x)[0][:, -1]) with the expected logits and prints the max diff.
Exit code 0 on success, 1 on mismatch.
"""
import argparse
import json
import re
import sys

import numpy as np
import torch
import torch.nn as nn
from safetensors import safe_open
from safetensors.torch import load_file

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
GATES = {1: "rnn", 3: "gru", 4: "lstm"}


class Model(nn.Module):
    def __init__(self, cell, input_size, hidden_size, num_layers, num_classes, nonlinearity):
        super().__init__()
        kw = {"nonlinearity": nonlinearity} if cell == "rnn" else {}
        self.rnn = CELLS[cell](input_size, hidden_size, num_layers=num_layers,
                               batch_first=True, **kw)
        self.head = nn.Linear(hidden_size, num_classes)


def infer_config(tensors):
    w = tensors["rnn.weight_ih_l0"]
    head_w = tensors["head.weight"]
    hidden = head_w.shape[1]
    gates, rem = divmod(w.shape[0], hidden)
    if rem or gates not in GATES:
        raise SystemExit(f"cannot infer cell: rnn.weight_ih_l0 {list(w.shape)}, hidden {hidden}")
    layers = 1 + max(int(m.group(1)) for k in tensors
                     if (m := re.fullmatch(r"rnn\.weight_ih_l(\d+)", k)))
    return {"cell": GATES[gates], "input_size": w.shape[1], "hidden_size": hidden,
            "num_layers": layers, "num_classes": head_w.shape[0]}


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--input", help="float32 .npy [B, T, I]")
    ap.add_argument("--logits", help="float32 .npy [B, C]")
    ap.add_argument("--atol", type=float, default=1e-5)
    args = ap.parse_args()
    if (args.input is None) != (args.logits is None):
        ap.error("--input and --logits go together")

    with safe_open(args.model, "pt") as f:
        meta = f.metadata() or {}
    tensors = load_file(args.model)
    if "config" in meta:
        cfg = json.loads(meta["config"])
        source = "metadata"
    else:
        cfg = infer_config(tensors)
        source = "inferred from shapes"
    cell = str(cfg["cell"]).lower()
    nonlinearity = cfg.get("nonlinearity", "tanh")
    print(f"config ({source}): cell={cell} input_size={cfg['input_size']} "
          f"hidden_size={cfg['hidden_size']} num_layers={cfg['num_layers']} "
          f"num_classes={cfg['num_classes']}")

    dtypes = {v.dtype for v in tensors.values()}
    dtype = dtypes.pop() if len(dtypes) == 1 else torch.float32
    model = Model(cell, int(cfg["input_size"]), int(cfg["hidden_size"]),
                  int(cfg["num_layers"]), int(cfg["num_classes"]), nonlinearity).to(dtype)
    model.load_state_dict(tensors, strict=True)
    print(f"OK: load_state_dict(strict=True), {len(tensors)} tensors, dtype {dtype}")

    if args.input:
        x = torch.from_numpy(np.load(args.input)).to(dtype)
        expected = torch.from_numpy(np.load(args.logits)).to(dtype)
        with torch.no_grad():
            logits = model.head(model.rnn(x)[0][:, -1])
        if logits.shape != expected.shape:
            print(f"FAIL: logits shape {list(logits.shape)} != expected {list(expected.shape)}")
            return 1
        diff = (logits - expected).abs().max().item()
        ok = diff <= args.atol
        print(f"{'OK' if ok else 'FAIL'}: max |logits - expected| = {diff:.3e} (atol {args.atol:g})")
        return 0 if ok else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
