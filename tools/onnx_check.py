#!/usr/bin/env python3
"""Check `recur export` against ONNX Runtime, and write the fixtures of tests/onnx_export.rs.

Usage (from the repository root, after `cargo build --release`):

    pip install onnxruntime onnx numpy safetensors
    python3 tools/onnx_check.py [--recur target/release/recur] [--out tests/fixtures/onnx]

Builds a set of models (trained for one epoch by `recur train` on examples/data, random ones
written here with recur's metadata, and the PyTorch-saved test models), exports each with
`recur export`, runs `onnx.checker.check_model` on it, and compares ONNX Runtime's outputs
with `recur predict`'s on a padded batch of 17 sequences of lengths 1..17 (real steps only:
padded steps mean nothing). Stateful exports run the batch in two pieces, each piece's h_n
the next one's h0, against recur on the whole sequences. Fails if any difference is above
1e-5. Writes into --out: each model (.safetensors), its .onnx, its input and lengths, ONNX
Runtime's output (`*_ort.npy`) and manifest.json, which tests/onnx_export.rs reads.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
from safetensors.numpy import load_file, save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "examples", "data")
B, T = 17, 17
TOL = 1e-5

# Trained for one epoch: (name, train arguments, export flags).
TRAINED = [
    ("classify_lstm_emb", ["classify", "--data", f"{DATA}/proteins.csv", "--cell", "lstm", "--hidden", "9"],
     ["--lengths", "--probs"]),
    ("classify_gru_l3_bi_init", ["classify", "--data", f"{DATA}/pairs.csv", "--cell", "gru",
                                 "--hidden", "7,5,3", "--bidirectional", "--learn-init"], ["--lengths"]),
    ("regress_rnn", ["regress", "--data", f"{DATA}/sums.csv", "--label-column", "target", "--cell", "rnn",
                     "--hidden", "5"], ["--lengths"]),
    ("label_gru_l3_emb", ["label", "--data", f"{DATA}/tags.csv", "--cell", "gru", "--hidden", "6,5,4"],
     ["--lengths"]),
    ("label_lstm_bi_init", ["label", "--data", f"{DATA}/suffix_tags.csv", "--cell", "lstm", "--hidden", "5",
                            "--bidirectional", "--learn-init"], ["--lengths", "--probs"]),
    ("forecast_rnn_l2", ["forecast", "--data", f"{DATA}/sine.csv", "--window", "20", "--horizon", "2",
                         "--cell", "rnn", "--hidden", "4,3"], ["--lengths"]),
]

# Random weights with recur's metadata: (name, config, export flags, seed).
RANDOM = [
    ("rnn_l3_bi_step_bce_init", dict(cell="rnn", input_size=3, hidden_sizes=[5, 4, 3], output_size=2,
                                     head="step", loss="bce", bidirectional=True, learn_init=True),
     ["--lengths", "--probs"], 1),
    ("lstm_l1_step_bce", dict(cell="lstm", input_size=2, hidden_sizes=[7], output_size=3, head="step",
                              loss="bce"), ["--lengths"], 2),
    ("gru_l3_bi_last_bce_emb_init", dict(cell="gru", input_size=4, hidden_sizes=[3, 5, 2], output_size=3,
                                         head="last", loss="bce", vocab_size=11, bidirectional=True,
                                         learn_init=True), ["--lengths", "--probs"], 3),
    ("lstm_l3_bi_step_mse_emb", dict(cell="lstm", input_size=3, hidden_sizes=[4, 6, 5], output_size=2,
                                     head="step", loss="mse", vocab_size=7, bidirectional=True),
     ["--lengths"], 4),
    ("gru_l1_step_mse_full", dict(cell="gru", input_size=3, hidden_sizes=[9], output_size=2, head="step",
                                  loss="mse"), [], 5),
    ("lstm_l2_step_ce_init_stateful", dict(cell="lstm", input_size=3, hidden_sizes=[6, 6], output_size=4,
                                           head="step", loss="ce", learn_init=True), ["--stateful"], 6),
    ("gru_l3_last_ce_stateful", dict(cell="gru", input_size=2, hidden_sizes=[5, 5, 5], output_size=3,
                                     head="last", loss="ce"), ["--stateful"], 7),
    ("rnn_l2_bi_last_ce_stateful", dict(cell="rnn", input_size=2, hidden_sizes=[4, 4], output_size=3,
                                        head="last", loss="ce", bidirectional=True), ["--stateful", "--lengths"], 8),
]

# Saved by PyTorch (no metadata; tests/fixtures/README.md): (name, file, export flags).
TORCH = [
    ("torch_bilstm", "torch_model_bilstm.safetensors", ["--lengths"]),
    ("torch_gru_step_bce", "torch_model_gru.safetensors", ["--lengths", "--probs", "--head", "step",
                                                           "--loss", "bce"]),
]


def run(args, cwd):
    r = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(args)}\n{r.stdout}{r.stderr}")
    return r.stdout


def param_specs(c):
    """recur's parameter table (src/model/mod.rs): (name, shape) in order."""
    g = {"rnn": 1, "lstm": 4, "gru": 3}[c["cell"]]
    dirs = ["", "_reverse"] if c.get("bidirectional") else [""]
    specs = []
    if c.get("vocab_size"):
        specs.append(("embedding.weight", [c["vocab_size"], c["input_size"]]))
    for k, h in enumerate(c["hidden_sizes"]):
        i = c["input_size"] if k == 0 else len(dirs) * c["hidden_sizes"][k - 1]
        for d in dirs:
            specs += [(f"rnn.weight_ih_l{k}{d}", [g * h, i]), (f"rnn.weight_hh_l{k}{d}", [g * h, h]),
                      (f"rnn.bias_ih_l{k}{d}", [g * h]), (f"rnn.bias_hh_l{k}{d}", [g * h])]
    specs += [("head.weight", [c["output_size"], len(dirs) * c["hidden_sizes"][-1]]),
              ("head.bias", [c["output_size"]])]
    if c.get("learn_init"):
        for k, h in enumerate(c["hidden_sizes"]):
            for d in dirs:
                specs.append((f"init.h0_l{k}{d}", [h]))
                if c["cell"] == "lstm":
                    specs.append((f"init.c0_l{k}{d}", [h]))
    return specs


def random_model(path, config, seed):
    """Weights U(-0.7, 0.7) (larger than PyTorch's init, so that the cells saturate somewhat)."""
    rng = np.random.default_rng(seed)
    tensors = {n: rng.uniform(-0.7, 0.7, s).astype(np.float32) for n, s in param_specs(config)}
    meta = {"format": "recur", "format_version": "1", "config": json.dumps(config, sort_keys=True)}
    save_file(tensors, path, metadata=meta)


def read_meta(path):
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        return json.loads(f.read(n)).get("__metadata__", {})


def inputs(config, seed, padded):
    """17 sequences of 17 steps, float32 as recur reads them (token ids as floats). Padded:
    sequence r has length lengths[r] (1..17 in a shuffled order), its padded steps 0."""
    rng = np.random.default_rng(seed)
    lengths = rng.permutation(np.arange(1, T + 1)) if padded else np.full(B, T)
    if config.get("vocab_size"):
        x = rng.integers(0, config["vocab_size"], (B, T)).astype(np.float32)
    else:
        x = rng.normal(0.0, 1.5, (B, T, config["input_size"])).astype(np.float32)
    for r, n in enumerate(lengths):
        x[r, n:] = 0
    return x, lengths.astype(np.int64)


def ort_input(x, config, task):
    """What the graph takes: token ids as int64; numbers normalized as `recur predict` does for
    a classify/regress/label model (a forecast model's array is taken as normalized)."""
    if config.get("vocab_size"):
        return x.astype(np.int64)
    norm = (task or {}).get("normalize")
    if norm and task.get("name") != "forecast":
        norm = np.array(norm, dtype=np.float64).reshape(-1, 2)
        return ((x.astype(np.float64) - norm[:, 0]) / norm[:, 1]).astype(np.float32)
    return x


def initial_state(model_path, config, batch):
    """h0 (and c0) [layers*dirs, batch, H]: the learned initial state, or zeros."""
    dirs = ["", "_reverse"] if config.get("bidirectional") else [""]
    t = load_file(model_path)
    names = ["h0", "c0"] if config["cell"] == "lstm" else ["h0"]
    out = {}
    for s in names:
        units = [t.get(f"init.{s}_l{k}{d}", np.zeros(h, np.float32))
                 for k, h in enumerate(config["hidden_sizes"]) for d in dirs]
        out[s] = np.stack([np.broadcast_to(u, (batch, len(u))) for u in units]).astype(np.float32)
    return out


def run_ort(onnx_path, feeds, config, stateful, model_path):
    sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    if not stateful:
        return sess.run(None, feeds)[0]
    # In two pieces, the state carried over; a bidirectional model runs once from its state.
    state = initial_state(model_path, config, B)
    cuts = [(0, T)] if config.get("bidirectional") or "lengths" in feeds else [(0, 7), (7, T)]
    outs = []
    for a, b in cuts:
        piece = dict(feeds, input=feeds["input"][:, a:b], **state)
        res = sess.run(None, piece)
        outs.append(res[0])
        state = {"h0": res[1]} | ({"c0": res[2]} if config["cell"] == "lstm" else {})
    return np.concatenate(outs, axis=1) if config["head"] == "step" else outs[-1]


def check(name, model, flags, out_dir, recur, work):
    meta = read_meta(model)
    task = json.loads(meta["task"]) if "task" in meta else None
    onnx_path = os.path.join(out_dir, f"{name}.onnx")
    run([recur, "export", "--model", model, "-o", onnx_path, *flags], work)
    m = onnx.load(onnx_path)
    onnx.checker.check_model(m, full_check=True)
    config = json.loads({p.key: p.value for p in m.metadata_props}["config"])
    stateful, lengths_in = "--stateful" in flags, "--lengths" in flags
    x, lengths = inputs(config, sum(map(ord, name)), padded=lengths_in)
    x_path, l_path = os.path.join(out_dir, f"{name}_input.npy"), os.path.join(out_dir, f"{name}_lengths.npy")
    np.save(x_path, x)
    np.save(l_path, lengths)
    feeds = {"input": ort_input(x, config, task)}
    if lengths_in:
        feeds["lengths"] = lengths
    got = run_ort(onnx_path, feeds, config, stateful, model)
    np.save(os.path.join(out_dir, f"{name}_ort.npy"), got)
    predict = [f for f in flags if f not in ("--lengths", "--stateful")]  # --probs, --head, --loss
    y_path = os.path.join(work, f"{name}_recur.npy")
    run([recur, "predict", "--model", model, "--input", x_path, "--lengths", l_path, "--output", y_path,
         *predict], work)
    want = np.load(y_path)
    assert got.shape == want.shape, (name, got.shape, want.shape)
    if got.ndim == 3:  # per step: real steps only
        mask = np.arange(T)[None, :] < lengths[:, None]
        got, want = got[mask], want[mask]
    err = float(np.abs(got - want).max())
    print(f"{name:32} {' '.join(flags):44} max |ORT - recur| = {err:.2e}")
    if not err <= TOL:
        sys.exit(f"{name}: ONNX Runtime and recur differ by {err} > {TOL}")
    return {"name": name, "model": f"{name}.safetensors", "flags": flags, "predict_flags": predict,
            "max_abs_error": err}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--recur", default=os.path.join(ROOT, "target", "release", "recur"))
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures", "onnx"))
    a = ap.parse_args()
    recur, out = os.path.abspath(a.recur), os.path.abspath(a.out)
    os.makedirs(out, exist_ok=True)
    cases = []
    with tempfile.TemporaryDirectory() as work:
        for name, args, flags in TRAINED:
            model = os.path.join(out, f"{name}.safetensors")
            run([recur, "train", *args, "--epochs", "1", "--threads", "1", "-q", "-o", model], work)
            cases.append((name, model, flags))
        for name, config, flags, seed in RANDOM:
            model = os.path.join(out, f"{name}.safetensors")
            random_model(model, config, seed)
            cases.append((name, model, flags))
        for name, src, flags in TORCH:
            model = os.path.join(out, f"{name}.safetensors")
            shutil.copyfile(os.path.join(ROOT, "tests", "fixtures", src), model)
            cases.append((name, model, flags))
        manifest = [check(name, model, flags, out, recur, work) for name, model, flags in cases]
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump({"onnxruntime": ort.__version__, "onnx": onnx.__version__, "tolerance": TOL,
                   "batch": B, "time": T, "cases": manifest}, f, indent=1)
        f.write("\n")
    print(f"{len(manifest)} models agree with ONNX Runtime {ort.__version__} to {TOL}")


if __name__ == "__main__":
    main()
