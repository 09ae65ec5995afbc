"""Writes the two-feature example data in examples/data/ (deterministic; numpy only).

    python3 tools/make_format_examples.py

600 sequences of 3-12 steps, each step two numbers in [-1, 1] (2 decimals). The class is
`more` when the first feature's sum exceeds the second's, else `less`: learnable only from
both features (either one alone predicts it at most ~75% of the time). The same rows in three
forms:

    pairs.csv        label,sequence   more,0.12 -0.50;0.33 0.91;...   (`;` between steps)
    pairs.jsonl      {"x": [[0.12, -0.5], [0.33, 0.91], ...], "y": "more"}
    pairs_x.npy      float32 [600, 12, 2], zero-padded past each length
    pairs_y.npy      int64 [600], 1 = more, 0 = less
    pairs_len.npy    int64 [600], the lengths
"""

import json
import os

import numpy as np

N, T_MAX, OUT = 600, 12, os.path.join(os.path.dirname(__file__), "..", "examples", "data")

rng = np.random.default_rng(4)
lengths = rng.integers(3, T_MAX + 1, size=N)
x = np.zeros((N, T_MAX, 2), dtype=np.float32)
csv, jsonl, y = ["label,sequence"], [], np.zeros(N, dtype=np.int64)
for i, n in enumerate(lengths):
    steps = np.round(rng.uniform(-1, 1, size=(n, 2)), 2)
    more = steps[:, 0].sum() > steps[:, 1].sum()
    y[i] = int(more)
    x[i, :n] = steps
    label = "more" if more else "less"
    csv.append(label + "," + ";".join(f"{a:.2f} {b:.2f}" for a, b in steps))
    jsonl.append(json.dumps({"x": [[float(a), float(b)] for a, b in steps], "y": label}))

with open(os.path.join(OUT, "pairs.csv"), "w") as f:
    f.write("\n".join(csv) + "\n")
with open(os.path.join(OUT, "pairs.jsonl"), "w") as f:
    f.write("\n".join(jsonl) + "\n")
np.save(os.path.join(OUT, "pairs_x.npy"), x)
np.save(os.path.join(OUT, "pairs_y.npy"), y)
np.save(os.path.join(OUT, "pairs_len.npy"), lengths.astype(np.int64))
print(f"wrote {N} sequences; {int(y.sum())} `more`")
