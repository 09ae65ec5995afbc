#!/usr/bin/env python3
"""Cut the first N examples of MNIST t10k into tests/fixtures/mnist_small/ (gzipped IDX).

Usage (from the repository root; --src is the directory holding the MNIST t10k-*.gz files,
by default data/mnist, where `recur train mnist` looks for them too):

    python3 tools/cut_mnist.py [--src data/mnist] [--out tests/fixtures/mnist_small] [-n 200]

Only the standard library is needed. The output is deterministic (gzip mtime 0, no file name).
"""
import argparse
import gzip
import os
import struct


def cut(src, dst, n):
    with gzip.open(src, "rb") as f:
        data = f.read()
    assert data[:3] == b"\x00\x00\x08", f"{src}: not an unsigned-byte IDX file"
    ndims = data[3]
    dims = list(struct.unpack(f">{ndims}I", data[4 : 4 + 4 * ndims]))
    row = 1
    for d in dims[1:]:
        row *= d
    body = data[4 + 4 * ndims : 4 + 4 * ndims + n * row]
    dims[0] = n
    out = data[:4] + struct.pack(f">{ndims}I", *dims) + body
    with open(dst, "wb") as f:
        f.write(gzip.compress(out, compresslevel=9, mtime=0))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", default="data/mnist")
    ap.add_argument("--out", default="tests/fixtures/mnist_small")
    ap.add_argument("-n", type=int, default=200)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    for name in ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]:
        cut(os.path.join(a.src, name), os.path.join(a.out, name), a.n)


if __name__ == "__main__":
    main()
