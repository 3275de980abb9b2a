"""jit benchmarks: funcad's compiled programs against hand-written gradients, same run.

Run:  python benchmarks/bench_jit.py            (prints a table; medians of several runs)
      python benchmarks/bench_jit.py --quick    (fewer repetitions)
A JAX column is added when jax is importable. Not run in CI.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

# One BLAS thread for both sides (NumPy's and SciPy's OpenBLAS, which Numba calls), so
# that ratios do not depend on what else the machine is doing.
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402

os.environ["FUNCAD_DISABLE_JIT"] = "0"
import funcad as fa  # noqa: E402
import funcad.numpy as fnp  # noqa: E402
import numba  # noqa: E402

try:  # optional column
    import jax  # type: ignore
    import jax.numpy as jnp  # type: ignore
    jax.config.update("jax_enable_x64", True)
except Exception:  # pragma: no cover
    jax = None

REPEATS = 3 if "--quick" in sys.argv else 7


def _batch_size(fn, min_time: float) -> int:
    fn()
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        if time.perf_counter() - t0 > min_time / 5:
            return n
        n *= 4


def compare(*fns, min_time=0.2) -> list[float]:
    """Median seconds per call of each function; batches alternate between them, so
    that all of them see the same machine load."""
    sizes = [_batch_size(f, min_time) for f in fns]
    runs: list[list[float]] = [[] for _ in fns]
    for _ in range(REPEATS):
        for f, n, r in zip(fns, sizes, runs):
            t0 = time.perf_counter()
            for _ in range(n):
                f()
            r.append((time.perf_counter() - t0) / n)
    return [statistics.median(r) for r in runs]


# -- 1. call overhead -------------------------------------------------------------------------

def bench_overhead():
    x = np.linspace(0, 1, 8)
    g = fa.jit(fa.grad(lambda x: fnp.sum(fnp.sin(x) * x)))

    @numba.njit
    def hand(x):
        return np.sin(x) + x * np.cos(x)
    np.testing.assert_allclose(g(x), hand(x))
    fns = [lambda: g(x), lambda: hand(x)]
    if jax is not None:
        jg = jax.jit(jax.grad(lambda x: jnp.sum(jnp.sin(x) * x)))
        xj = jnp.asarray(x)
        fns.append(lambda: jg(xj).block_until_ready())
    return ["jit(grad(sum(sin(x)*x))) call, n=8", *compare(*fns)]


# -- 2. elementwise grad on 1e6 -----------------------------------------------------------------

def bench_elementwise():
    x = np.linspace(-2, 2, 1_000_000)
    f = lambda x: fnp.sum(fnp.exp(fnp.sin(x) * x) + fnp.cos(x) ** 2)  # noqa: E731
    g = fa.jit(fa.grad(f))

    @numba.njit(error_model="numpy")
    def hand(x):
        out = np.empty_like(x)
        for i in range(x.size):
            s, c = np.sin(x[i]), np.cos(x[i])
            out[i] = np.exp(s * x[i]) * (c * x[i] + s) - 2.0 * c * s
        return out
    np.testing.assert_allclose(g(x), hand(x), rtol=1e-10, atol=1e-12)
    fns = [lambda: g(x), lambda: hand(x)]
    if jax is not None:
        jg = jax.jit(jax.grad(lambda x: jnp.sum(jnp.exp(jnp.sin(x) * x) + jnp.cos(x) ** 2)))
        xj = jnp.asarray(x)
        fns.append(lambda: jg(xj).block_until_ready())
    return ["grad sum(exp(sin(x)*x)+cos(x)^2), 1e6", *compare(*fns)]


# -- 3. MLP ------------------------------------------------------------------------------------

def mlp_loss(params, x, y):
    """Softmax cross-entropy of a tanh MLP (the benchmark's loss)."""
    h = x
    for w, b in params[:-1]:
        h = fnp.tanh(h @ w + b)
    w, b = params[-1]
    logits = h @ w + b
    m = fnp.max(logits, axis=1, keepdims=True)
    lse = fnp.log(fnp.sum(fnp.exp(logits - m), axis=1, keepdims=True)) + m
    return -fnp.mean(fnp.sum(y * (logits - lse), axis=1))


def mlp_data(seed=0, sizes=(784, 256, 256, 10), batch=128):
    """Parameters and a batch for mlp_loss."""
    rng = np.random.default_rng(seed)
    params = [(rng.normal(size=(a, b)) / np.sqrt(a), np.zeros(b))
              for a, b in zip(sizes[:-1], sizes[1:])]
    x = rng.normal(size=(batch, sizes[0]))
    y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], batch)]
    return params, x, y


def mlp_numpy_grad(params, x, y):
    """Hand-written NumPy backprop of mlp_loss."""
    hs = [x]
    for w, b in params[:-1]:
        hs.append(np.tanh(hs[-1] @ w + b))
    w, b = params[-1]
    logits = hs[-1] @ w + b
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    d = (p - y) / x.shape[0]
    grads = [None] * len(params)
    grads[-1] = (hs[-1].T @ d, d.sum(axis=0))
    d = d @ w.T
    for i in range(len(params) - 2, -1, -1):
        d = d * (1.0 - hs[i + 1] ** 2)
        grads[i] = (hs[i].T @ d, d.sum(axis=0))
        if i:
            d = d @ params[i][0].T
    return grads


def bench_mlp():
    params, x, y = mlp_data()
    g = fa.jit(fa.grad(mlp_loss))
    got, ref = g(params, x, y), mlp_numpy_grad(params, x, y)
    for (a, b), (c, d) in zip(got, ref):
        np.testing.assert_allclose(a, c, rtol=1e-8, atol=1e-12)
        np.testing.assert_allclose(b, d, rtol=1e-8, atol=1e-12)
    return ["MLP 784-256-256-10 grad, batch 128",
            *compare(lambda: g(params, x, y), lambda: mlp_numpy_grad(params, x, y))]


# -- 4. per-example gradients -------------------------------------------------------------------

def logreg_loss(w, x, y):
    """Logistic loss of one example."""
    return fnp.log1p(fnp.exp(-y * fnp.dot(x, w)))


def bench_per_example():
    rng = np.random.default_rng(0)
    w, X = rng.normal(size=64) * 0.1, rng.normal(size=(256, 64))
    Y = np.sign(rng.normal(size=256))
    g = fa.jit(fa.vmap(fa.grad(logreg_loss), in_axes=(None, 0, 0)))

    @numba.njit(error_model="numpy")
    def hand(w, X, Y):
        out = np.empty_like(X)
        for i in range(X.shape[0]):
            z = 0.0
            for j in range(X.shape[1]):
                z += X[i, j] * w[j]
            c = -Y[i] / (1.0 + np.exp(Y[i] * z))
            for j in range(X.shape[1]):
                out[i, j] = c * X[i, j]
        return out
    np.testing.assert_allclose(g(w, X, Y), hand(w, X, Y), rtol=1e-10)
    return ["per-example grads logreg 256x64", *compare(lambda: g(w, X, Y),
                                                        lambda: hand(w, X, Y))]


# -- 5. hessian ---------------------------------------------------------------------------------

def rosenbrock(x):
    """The Rosenbrock function on R^n."""
    return fnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def rosen_hess_numpy(x):
    """Hand-written hessian of the Rosenbrock function."""
    n = x.size
    h = np.zeros((n, n))
    d = np.zeros(n)
    d[:-1] += 1200 * x[:-1] ** 2 - 400 * x[1:] + 2
    d[1:] += 200
    off = -400 * x[:-1]
    h[np.arange(n), np.arange(n)] = d
    h[np.arange(n - 1), np.arange(1, n)] = off
    h[np.arange(1, n), np.arange(n - 1)] = off
    return h


def bench_hessian():
    x = np.linspace(-1, 1, 100)
    h = fa.jit(fa.hessian(rosenbrock))
    np.testing.assert_allclose(h(x), rosen_hess_numpy(x), rtol=1e-10, atol=1e-9)
    return ["jit(hessian(rosenbrock)), R^100", *compare(lambda: h(x),
                                                        lambda: rosen_hess_numpy(x))]


# -- 6. compile and cache times (fresh processes) ------------------------------------------------

_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import numpy as np
import funcad as fa
t_import = time.perf_counter() - t0
t0 = time.perf_counter()
import numba
from funcad.lowering.numba import _runtime
_runtime.copy(np.ones(1))   # Numba's once-per-process start-up (any Numba user pays it)
t_numba = time.perf_counter() - t0
sys.path.insert(0, sys.argv[1])
from bench_jit import mlp_loss, mlp_data
params, x, y = mlp_data()
g = fa.jit(fa.grad(mlp_loss))
t0 = time.perf_counter()
g(params, x, y)
t_first = time.perf_counter() - t0
print(json.dumps({"import": t_import, "numba_import": t_numba, "first": t_first}))
"""


def bench_compile():
    here = os.path.dirname(os.path.abspath(__file__))
    cold, warm = [], []
    for _ in range(3 if REPEATS > 3 else 1):
        with tempfile.TemporaryDirectory() as d:
            env = dict(os.environ, FUNCAD_CACHE_DIR=d, FUNCAD_DISABLE_JIT="0")
            for bucket in (cold, warm):
                out = subprocess.run([sys.executable, "-c", _CHILD, here], env=env,
                                     capture_output=True, text=True, check=True)
                bucket.append(json.loads(out.stdout.strip().splitlines()[-1]))

    def med(b, k):
        return statistics.median(r[k] for r in b)
    return [
        ["compile: first call jit(grad(mlp)), fresh process", med(cold, "first"), None],
        ["compile: first call, 2nd process (disk cache)", med(warm, "first"), None],
        ["  import funcad", med(warm, "import"), None],
        ["  import numba + its start-up (before the above)", med(warm, "numba_import"), None],
    ]


def main():
    rows = [bench_overhead(), bench_elementwise(), bench_mlp(), bench_per_example(),
            bench_hessian(), *bench_compile()]
    head = f"{'workload':52s} {'funcad':>11s} {'hand':>11s} {'ratio':>7s}"
    head += f" {'jax':>11s}" if jax is not None else ""
    print(head)
    print("-" * len(head))
    for r in rows:
        name, t, base = r[0], r[1], r[2]
        unit = (lambda s: f"{s * 1e6:9.2f}us") if t < 1e-3 else (lambda s: f"{s * 1e3:9.2f}ms")
        line = f"{name:52s} {unit(t):>11s} "
        line += f"{unit(base):>11s} {t / base:7.2f}" if base else f"{'':>11s} {'':>7s}"
        if jax is not None and len(r) > 3:
            line += f" {unit(r[3]):>11s}"
        print(line)
    print(f"\nmedians of {REPEATS} runs; numba {numba.__version__}, numpy {np.__version__}, "
          f"{os.cpu_count()} cpus")


if __name__ == "__main__":
    main()
