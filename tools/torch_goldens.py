#!/usr/bin/env python3
"""Write PyTorch golden fixtures for recur's tests into tests/fixtures/.

Usage (from the repository root):

    python3 tools/torch_goldens.py [--out tests/fixtures]

Needs torch, numpy and safetensors. Every golden file is float64 and fully
deterministic for a given torch version (torch.manual_seed per fixture).
See tests/fixtures/README.md for the list of files and tensor names.
"""
import argparse
import copy
import json
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

# Odd, mutually distinct sizes so that transposition bugs show up.
I, H, T, B, C = 5, 7, 9, 3, 4

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}

OPTIMIZERS = {
    "sgd": (torch.optim.SGD, {"lr": 0.1, "momentum": 0.9}),
    "adam": (torch.optim.Adam, {"lr": 0.01}),
    "rmsprop": (torch.optim.RMSprop, {"lr": 0.01}),
}
OPT_STEPS = 3
CLIP_MAX_NORM = 0.5

# (file stem, cell, num_layers, head, loss, seed)
FIXTURES = [
    ("rnn_l1_last_ce", "rnn", 1, "last", "ce", 1),
    ("rnn_l2_last_ce", "rnn", 2, "last", "ce", 2),
    ("lstm_l1_last_ce", "lstm", 1, "last", "ce", 3),
    ("lstm_l2_last_ce", "lstm", 2, "last", "ce", 4),
    ("gru_l1_last_ce", "gru", 1, "last", "ce", 5),
    ("gru_l2_last_ce", "gru", 2, "last", "ce", 6),
    ("lstm_l2_step_bce", "lstm", 2, "step", "bce", 7),
    ("gru_l1_step_bce", "gru", 1, "step", "bce", 8),
    ("rnn_l2_step_mse", "rnn", 2, "step", "mse", 9),
    ("lstm_l1_step_mse", "lstm", 1, "step", "mse", 10),
    # Bidirectional (PyTorch bidirectional=True, `_reverse` tensors). The last-step head of a
    # bidirectional model reads both directions' final states, cat(h_n[-2], h_n[-1]), as
    # Keras's Bidirectional does; output[:, -1] would give the reverse direction after 1 step.
    ("lstm_l2_bi_last_ce", "lstm", 2, "last", "ce", 11),
    ("gru_l2_bi_step_bce", "gru", 2, "step", "bce", 12),
    ("rnn_l1_bi_last_ce", "rnn", 1, "last", "ce", 13),
    ("lstm_l1_bi_step_mse", "lstm", 1, "step", "mse", 14),
]


class Model(nn.Module):
    def __init__(self, cell, input_size, hidden_size, num_layers, num_classes, bidirectional=False):
        super().__init__()
        kw = {"nonlinearity": "tanh"} if cell == "rnn" else {}
        if bidirectional:
            kw["bidirectional"] = True
        self.rnn = CELLS[cell](input_size, hidden_size, num_layers=num_layers,
                               batch_first=True, **kw)
        self.head = nn.Linear(hidden_size * (2 if bidirectional else 1), num_classes)


def forward(model, cell, head, x, h0, c0):
    if cell == "lstm":
        output, (h_n, c_n) = model.rnn(x, (h0, c0))
    else:
        output, h_n = model.rnn(x, h0)
        c_n = None
    if head == "last" and model.rnn.bidirectional:
        feats = torch.cat([h_n[-2], h_n[-1]], dim=1)
    else:
        feats = output[:, -1] if head == "last" else output
    return model.head(feats), output, h_n, c_n


def loss_fn(kind, logits, target):
    if kind == "ce":
        return F.cross_entropy(logits, target.long())
    if kind == "bce":
        return F.binary_cross_entropy_with_logits(logits, target)
    if kind == "mse":
        return F.mse_loss(logits, target)
    raise ValueError(kind)


def opt_metadata():
    """Full hyperparameters (torch defaults included) as a JSON string."""
    desc = {}
    dummy = [nn.Parameter(torch.zeros(1))]
    for name, (cls, kw) in OPTIMIZERS.items():
        d = cls(dummy, **kw).defaults
        desc[name] = {k: v for k, v in d.items()
                      if isinstance(v, (int, float, bool, tuple)) and v is not None
                      and k not in ("foreach", "fused", "capturable",
                                    "differentiable", "maximize", "decoupled_weight_decay")}
        desc[name]["maximize"] = d.get("maximize", False)
    desc["steps"] = OPT_STEPS
    desc["step_order"] = "zero_grad, forward, backward, record loss, optimizer.step"
    desc["clip"] = {"fn": "clip_grad_norm_", "max_norm": CLIP_MAX_NORM, "norm_type": 2.0,
                    "params": "rnn + head (not input/h0/c0)", "applied_to": "initial gradients"}
    return json.dumps(desc, sort_keys=True)


def canonicalize_header(path):
    """Rewrite the safetensors JSON header with sorted keys.

    safetensors stores __metadata__ in a hash map, so its key order (and thus
    the file's bytes) changes from run to run. Sorting makes regeneration
    byte-for-byte reproducible, so an unchanged fixture shows no git diff.
    Data offsets are relative to the end of the header, so only the header
    changes; it is padded with spaces to a multiple of 8 as safetensors does.
    """
    with open(path, "rb") as f:
        raw = f.read()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    meta = header.pop("__metadata__", None)
    ordered = {}
    if meta is not None:
        ordered["__metadata__"] = dict(sorted(meta.items()))
    ordered.update(sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]))
    text = json.dumps(ordered, separators=(",", ":")).encode()
    text += b" " * (-(8 + len(text)) % 8)
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little") + text + data)
    os.chmod(path, 0o644)


def make_fixture(stem, cell, L, head, loss_kind, seed, out_dir):
    torch.manual_seed(seed)
    bidir = "_bi_" in stem
    D = 2 if bidir else 1
    model = Model(cell, I, H, L, C, bidir).double()
    init_state = {k: v.detach().clone() for k, v in model.state_dict().items()}

    x = torch.randn(B, T, I, dtype=torch.float64)
    h0 = torch.randn(L * D, B, H, dtype=torch.float64)
    c0 = torch.randn(L * D, B, H, dtype=torch.float64) if cell == "lstm" else None
    if loss_kind == "ce":
        target = torch.randint(0, C, (B,)).double()
    elif loss_kind == "bce":
        target = torch.randint(0, 2, (B, T, C)).double()
    else:
        target = torch.randn(B, T, C, dtype=torch.float64)

    tensors = {k: v.clone() for k, v in init_state.items()}
    tensors["input"] = x.clone()
    tensors["h0"] = h0.clone()
    if c0 is not None:
        tensors["c0"] = c0.clone()
    tensors["target"] = target.clone()

    # Forward + backward at the initial parameters.
    xg = x.clone().requires_grad_(True)
    h0g = h0.clone().requires_grad_(True)
    c0g = c0.clone().requires_grad_(True) if c0 is not None else None
    logits, output, h_n, c_n = forward(model, cell, head, xg, h0g, c0g)
    loss = loss_fn(loss_kind, logits, target)
    loss.backward()
    tensors["output"] = output.detach().clone()
    tensors["h_n"] = h_n.detach().clone()
    if c_n is not None:
        tensors["c_n"] = c_n.detach().clone()
    tensors["logits"] = logits.detach().clone()
    tensors["loss"] = loss.detach().reshape(1).clone()
    for name, p in model.named_parameters():
        tensors[f"grad.{name}"] = p.grad.detach().clone()
    tensors["grad.input"] = xg.grad.detach().clone()
    tensors["grad.h0"] = h0g.grad.detach().clone()
    if c0g is not None:
        tensors["grad.c0"] = c0g.grad.detach().clone()

    # Gradient clipping of the initial gradients (parameters only).
    clip_model = copy.deepcopy(model)
    for p_src, p_dst in zip(model.parameters(), clip_model.parameters()):
        p_dst.grad = p_src.grad.detach().clone()
    total = torch.nn.utils.clip_grad_norm_(clip_model.parameters(), max_norm=CLIP_MAX_NORM)
    for name, p in clip_model.named_parameters():
        tensors[f"clip.grad.{name}"] = p.grad.detach().clone()
    tensors["clip.total_norm"] = total.detach().reshape(1).double().clone()

    # Optimizer trajectories from the initial parameters.
    for opt_name, (cls, kw) in OPTIMIZERS.items():
        m = Model(cell, I, H, L, C, bidir).double()
        m.load_state_dict(init_state)
        opt = cls(m.parameters(), **kw)
        losses = []
        for step in range(1, OPT_STEPS + 1):
            opt.zero_grad()
            lg, _, _, _ = forward(m, cell, head, x, h0, c0)
            ls = loss_fn(loss_kind, lg, target)
            ls.backward()
            losses.append(ls.item())
            opt.step()
            if step in (1, OPT_STEPS):
                for name, p in m.named_parameters():
                    tensors[f"{opt_name}.step{step}.{name}"] = p.detach().clone()
        tensors[f"{opt_name}.losses"] = torch.tensor(losses, dtype=torch.float64)

    for k, v in tensors.items():
        assert v.dtype == torch.float64, (k, v.dtype)
        tensors[k] = v.contiguous()

    metadata = {
        "cell": cell,
        "num_layers": str(L),
        "input_size": str(I),
        "hidden_size": str(H),
        "num_classes": str(C),
        "batch": str(B),
        "seq_len": str(T),
        "head": head,
        "loss": loss_kind,
        "seed": str(seed),
        "torch_version": torch.__version__,
        "optimizers": opt_metadata(),
    }
    if bidir:
        metadata["bidirectional"] = "true"  # only here, so older fixtures keep their bytes
    path = os.path.join(out_dir, f"{stem}.safetensors")
    save_file(tensors, path, metadata=metadata)
    canonicalize_header(path)
    return path, tensors


def make_torch_model(cell, out_dir, seed, bidirectional=False):
    """A float32 model saved exactly as a PyTorch user would (no metadata). A bidirectional
    one's head reads both directions' final states, cat(h_n[-2], h_n[-1])."""
    torch.manual_seed(seed)
    D = 2 if bidirectional else 1

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = CELLS[cell](3, 6, num_layers=2, batch_first=True,
                                   **({"bidirectional": True} if bidirectional else {}))
            self.head = nn.Linear(6 * D, 5)

    m = M()
    stem = f"torch_model_{'bi' if bidirectional else ''}{cell}"
    path = os.path.join(out_dir, f"{stem}.safetensors")
    save_file(m.state_dict(), path)
    os.chmod(path, 0o644)
    x = torch.randn(4, 8, 3)
    with torch.no_grad():
        out, h_n = m.rnn(x)
        if cell == "lstm":
            h_n = h_n[0]
        feats = torch.cat([h_n[-2], h_n[-1]], dim=1) if bidirectional else out[:, -1]
        logits = m.head(feats)
    np.save(os.path.join(out_dir, f"{stem}_input.npy"), x.numpy().astype(np.float32))
    np.save(os.path.join(out_dir, f"{stem}_logits.npy"), logits.numpy().astype(np.float32))
    return path


def verify(path, tensors):
    back = load_file(path)
    assert set(back) == set(tensors), path
    for k, v in tensors.items():
        assert torch.equal(back[k], v), (path, k)
    loss = back["loss"].item()
    assert np.isfinite(loss) and loss > 0, (path, loss)
    for o in OPTIMIZERS:
        assert torch.isfinite(back[f"{o}.losses"]).all(), (path, o)
    return back


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(1)

    for stem, cell, L, head, loss_kind, seed in FIXTURES:
        path, tensors = make_fixture(stem, cell, L, head, loss_kind, seed, args.out)
        back = verify(path, tensors)
        losses = ", ".join(f"{o}={back[o + '.losses'].numpy().round(4).tolist()}" for o in OPTIMIZERS)
        print(f"{os.path.basename(path):32s} {len(back):3d} tensors  loss={back['loss'].item():.6f}  {losses}")

    for i, cell in enumerate(("lstm", "gru")):
        path = make_torch_model(cell, args.out, 100 + i)
        print(f"{os.path.basename(path):32s} keys={sorted(load_file(path))}")
    path = make_torch_model("lstm", args.out, 102, bidirectional=True)
    print(f"{os.path.basename(path):32s} keys={sorted(load_file(path))}")


if __name__ == "__main__":
    main()
