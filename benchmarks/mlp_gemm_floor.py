"""The floor of the mlp_grad workload (../shared/bench W1): its eight matrix products alone.

The gradient of the 784-256-256-10 MLP at batch 128 needs eight GEMMs (three forward,
five backward: x @ W1 and x.T @ dA1 are 25.7 M multiply-adds each); together they run at
the single core's peak. This is a backend for a copy of the shared benchmark that times
just those products, into preallocated outputs (no fresh pages), with NumPy's BLAS, so
that their time sits in the same table as funcad's and the hand-written limit's:

    cp -r ../shared/bench /tmp/bench && cp benchmarks/mlp_gemm_floor.py /tmp/bench/backends/gemmfloor.py
    sed -i 's/"torch", "limit"\\]/"torch", "limit", "gemmfloor"]/' /tmp/bench/common.py
    FUNCAD_CACHE_DIR=$(mktemp -d) python /tmp/bench/run.py --backends funcad,limit,gemmfloor \\
        --workloads W1 --rounds 2 --out /tmp/bench.json

(Its gradient check fails by design: it returns zeros.) On 2026-11-29, two runs: funcad
3.56 / 3.63 ms, limit 3.67 / 3.61 ms, the GEMMs alone 3.38 / 3.36 ms = 0.92-0.93 x the
limit, above issue 11's target of 0.9 x the limit.
"""

import numpy as np

AVAILABLE = True
VERSIONS: dict = {}
NOTES = {"mlp_grad": "the eight GEMMs of the MLP gradient alone (a floor; returns zeros)"}


def mlp_grad(data):
    """The GEMMs of the MLP's gradient, on arrays shaped as the real ones."""
    (W1, b1), (W2, b2), (W3, b3) = data["params"]
    x = data["x"]
    B = x.shape[0]
    h1 = np.tanh(x @ W1 + b1)
    h2 = np.tanh(h1 @ W2 + b2)
    dz = np.full((B, W3.shape[1]), 1.0 / B)
    da2 = np.ones((B, W2.shape[1]))
    da1 = np.ones((B, W1.shape[1]))
    out = [np.empty((B, W1.shape[1])), np.empty((B, W2.shape[1])), np.empty((B, W3.shape[1])),
           np.empty(W3.shape), np.empty((B, W2.shape[1])), np.empty(W2.shape),
           np.empty((B, W1.shape[1])), np.empty(W1.shape)]
    zeros = [np.zeros_like(p) for pair in data["params"] for p in pair]

    def fn():
        np.matmul(x, W1, out=out[0])
        np.matmul(h1, W2, out=out[1])
        np.matmul(h2, W3, out=out[2])
        np.matmul(h2.T, dz, out=out[3])
        np.matmul(dz, W3.T, out=out[4])
        np.matmul(h1.T, da2, out=out[5])
        np.matmul(da2, W2.T, out=out[6])
        np.matmul(x.T, da1, out=out[7])
        return zeros
    return fn
