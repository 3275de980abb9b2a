"""Large random programs (hundreds to thousands of equations) compiled for real.

A seeded generator builds programs out of residual chains with random activations, DAGs
with fan-out and fan-in (a pool of earlier values, random pairs combined), reductions,
row/column broadcasts, reshapes/transposes/slices/concatenate/pad, small matmuls and
loops (`lax.scan`, `lax.fori_loop`). Each program and the jitted gradient of a scalar
loss built from it must equal eager evaluation to tight tolerances, compiled for real
(FUNCAD_DISABLE_JIT=0, FUNCAD_COMPILE=sync, a fresh FUNCAD_CACHE_DIR), with the Python
driver and with FUNCAD_DRIVER=auto; the programs must split into kernels that are shared.

Budget: the default cases take well under a minute. More seeds: FUNCAD_LARGE_CASES=N
(extra seeds per test of the `slow` sweep); `-m slow` runs the sweep.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import funcad as fa
import funcad.numpy as fnp
from funcad import lax
from funcad.lowering.numba import stats
from funcad.lowering.numba.compile import _options_dict, lower_program

M, N = 6, 8          # matrix shape of the values the generator combines
T = 3                # length of scanned sequences
K = 64               # number of scalar weights


# ------------------------------------------------------------------------- generator
def _act(rng, z):
    """A random activation (bounded, or linear with a small slope)."""
    kind = rng.integers(6)
    if kind == 0:
        return fnp.tanh(z)
    if kind == 1:
        return fnp.sin(z)
    if kind == 2:
        return fnp.exp(-(z * z)) - 0.5                 # exp of something small / negative
    if kind == 3:
        return 1.0 / (1.0 + fnp.exp(-z)) - 0.5          # sigmoid-like
    if kind == 4:
        return 0.5 * fnp.maximum(z, 0.0)                # relu
    return fnp.where(z > 0, z, 0.1 * z) * 0.5         # leaky relu via where


def _normalise(h):
    return h / fnp.sqrt(1.0 + fnp.mean(h * h))


def _step(rng, pool, p, depth):
    """One random building block: returns a new (M, N) value from the pool."""
    ws, row, col, W = p["ws"], p["row"], p["col"], p["W"]
    a = pool[rng.integers(len(pool))]
    b = pool[rng.integers(len(pool))]
    w = ws[int(rng.integers(K))]
    kind = int(rng.integers(12))
    if kind <= 2:                                       # residual chain segment
        h = a
        for _ in range(int(rng.integers(2, 6))):
            h = h + 0.5 * _act(rng, ws[int(rng.integers(K))] * h)
        return h
    if kind == 3:                                       # fan-in of two values
        op = rng.integers(3)
        if op == 0:
            return a + 0.5 * b
        if op == 1:
            return a * fnp.tanh(b)
        return a - b * w
    if kind == 4:                                       # reductions, keepdims and not
        op = rng.integers(4)
        if op == 0:
            return a - fnp.mean(a, axis=1, keepdims=True)
        if op == 1:
            return a * fnp.tanh(fnp.sum(b, axis=0))     # row vector against matrix
        if op == 2:
            return a - 0.5 * fnp.max(a, axis=1, keepdims=True) + fnp.mean(b)
        return _normalise(a)
    if kind == 5:                                       # broadcasts of the parameters
        if rng.integers(2):
            return a * row + col[:, None]
        return a + fnp.tanh(col[:, None] * row[None, :] * b)
    if kind == 6:                                       # reshape / transpose
        if rng.integers(2):
            return fnp.transpose(fnp.reshape(a, (N, M))) + b
        return fnp.reshape(fnp.transpose(fnp.reshape(a, (M * N // 4, 4))), (M, N)) * w
    if kind == 7:                                       # slices, concatenate, pad
        op = rng.integers(3)
        if op == 0:
            return fnp.concatenate([a[:, 1:], a[:, :1]], axis=1) + b
        if op == 1:
            return fnp.pad(a[1:-1, :], ((1, 1), (0, 0))) + 0.25 * b
        return fnp.concatenate([a[:2] * b[:2], a[2:] - b[2:]], axis=0)
    if kind == 8:                                       # matmul of small matrices
        return fnp.tanh(a @ W) * 0.5 + b
    if kind == 9 and depth["loops"] > 0:                # lax.scan over a short sequence
        depth["loops"] -= 1
        xs = fnp.stack([a * ws[j] for j in range(T)])

        def body(h, x):
            h = h + 0.5 * fnp.tanh(x * h + w)
            return h, fnp.sum(h, axis=1)

        h, ys = lax.scan(body, b, xs)
        return h + fnp.mean(ys, axis=0)[:, None]
    if kind == 10 and depth["loops"] > 0:               # lax.fori_loop
        depth["loops"] -= 1

        def body(i, h):
            return h + 0.25 * fnp.sin(w * h + a)

        return lax.fori_loop(0, T, body, b)
    return a + 0.5 * _act(rng, w * b)


def make_program(seed: int, n_blocks: int, loops: int = 1, repeats: int = 1):
    """A deterministic random program `f(params) -> (M, N)`, its loss and its inputs.

    With `repeats` > 1 the same random sequence of `n_blocks` blocks is applied again to
    the pool (a stack of identical random "layers")."""
    data_rng = np.random.default_rng(10_000 + seed)
    params = {"ws": data_rng.uniform(-0.8, 0.8, K),
              "x": data_rng.standard_normal((M, N)),
              "row": data_rng.uniform(0.5, 1.5, N),
              "col": data_rng.standard_normal(M) * 0.3,
              "W": data_rng.standard_normal((N, N)) / np.sqrt(N)}
    target = data_rng.standard_normal((M, N))

    def f(p):
        depth = {"loops": loops}
        pool = [p["x"], fnp.tanh(p["x"] * p["row"])]
        for i in range(n_blocks * repeats):
            if i % n_blocks == 0:                  # the same choices on every trace
                rng = np.random.default_rng(seed)
                pool = pool[-2:]
            h = _step(rng, pool, p, depth)
            if i % n_blocks % 8 == 7:
                h = _normalise(h)                  # keeps magnitudes O(1) in deep DAGs
            pool.append(h)
            if len(pool) > 12:                     # forget old values, keep fan-out local
                pool.pop(int(rng.integers(1, len(pool) - 4)))
        pool = pool[-4:]
        out = pool[-1]
        for v in pool[-4:-1]:                      # fan-in of the last values
            out = out + 0.3 * v
        return out

    def loss(p):
        y = f(p)
        return fnp.mean((y - target) ** 2) + 0.1 * fnp.sum(fnp.tanh(y) * target)

    return f, loss, params


# --------------------------------------------------------------------------- helpers
from funcad.lowering.numba.background import program_size as _count_eqns  # noqa: E402


def _split_calls(fn, *args):
    closed = fa.jit(fn).lower(*args)
    lowered = lower_program(closed._flat, "f", _options_dict(()))
    return _count_eqns(closed._flat), lowered


def _assert_close(got, want, what):
    got, want = fa.tree_util.tree_leaves(got), fa.tree_util.tree_leaves(want)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        g, w = np.asarray(g), np.asarray(w)
        assert g.shape == w.shape and g.dtype == w.dtype, (what, g.shape, w.shape)
        scale = max(1.0, float(np.max(np.abs(w))) if w.size else 1.0)
        # rtol 1e-9: the generated tanh is a ~1.5-ulp approximation, amplified through
        # chains of a few hundred layers; atol relative to the largest entry.
        np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-11 * scale, err_msg=what)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("funcad-large-cache"))


@pytest.fixture
def real_jit(monkeypatch, cache_dir):
    monkeypatch.setenv("FUNCAD_DISABLE_JIT", "0")
    monkeypatch.setenv("FUNCAD_COMPILE", "sync")
    monkeypatch.setenv("FUNCAD_CACHE_DIR", cache_dir)
    return monkeypatch


def _check(seed, n_blocks, loops, driver, monkeypatch):
    monkeypatch.setenv("FUNCAD_DRIVER", driver)
    f, loss, params = make_program(seed, n_blocks, loops)
    want_f = f(params)
    want_g = fa.grad(loss)(params)
    got_f = fa.jit(f)(params)
    got_g = fa.jit(fa.grad(loss))(params)
    _assert_close(got_f, want_f, f"seed {seed} f, driver {driver}")
    _assert_close(got_g, want_g, f"seed {seed} grad, driver {driver}")
    # A second call reuses the compiled program.
    _assert_close(fa.jit(fa.grad(loss))(params), want_g, f"seed {seed} grad again")


# ----------------------------------------------------------------------------- tests
# (seed, blocks, loops): loops are few, a Numba-compiled loop kernel costs ~0.2-1 s.
CASES = [(0, 40, 0), (1, 50, 1)]


@pytest.mark.parametrize("driver", ["python", "auto"])
@pytest.mark.parametrize("seed,n_blocks,loops", CASES)
def test_random_large_program_equals_eager(seed, n_blocks, loops, driver, real_jit):
    _check(seed, n_blocks, loops, driver, real_jit)


def test_generated_programs_are_large_and_share_kernels(monkeypatch):
    monkeypatch.setenv("FUNCAD_DRIVER", "python")
    f, loss, params = make_program(2, 200, 0)
    n_f, low_f = _split_calls(f, params)
    n_g, low_g = _split_calls(fa.grad(loss), params)
    assert n_f >= 500, n_f
    assert n_g >= 1000, n_g
    for low in (low_f, low_g):
        assert low.split
        keys = [c.kernel.key for c in low.calls]
        assert len(keys) >= 50, len(keys)
        # Repeated building blocks are one kernel: fewer distinct kernels than calls.
        assert len(set(keys)) < 0.8 * len(keys), (len(set(keys)), len(keys))


@pytest.mark.parametrize("grad", [False, True])
def test_repeated_random_layers_share_kernels(grad, monkeypatch):
    """The same random block stacked 2 and 6 times: 3x the calls, hardly new kernels."""
    monkeypatch.setenv("FUNCAD_DRIVER", "python")
    lows = []
    for repeats in (2, 6):
        f, loss, params = make_program(7, 30, 0, repeats=repeats)
        lows.append(_split_calls(fa.grad(loss) if grad else f, params)[1])
    k2, k6 = ({c.kernel.key for c in low.calls} for low in lows)
    n2, n6 = len(lows[0].calls), len(lows[1].calls)
    assert n6 > 2.5 * n2, (n2, n6)
    assert len(k6 - k2) <= 0.1 * len(k2), (len(k2), len(k6))
    assert len(k6) < 0.4 * n6, (len(k6), n6)


def test_residual_chain_shares_kernels_across_depth_and_size(monkeypatch, real_jit):
    """A long residual chain: kernels of 100 layers are those of 50; other sizes reuse."""
    real_jit.setenv("FUNCAD_DRIVER", "python")

    def chain(n):
        def loss(ws, x):
            h = x
            for i in range(n):
                h = h + fnp.tanh(ws[i] * h)
            return fnp.mean(h * h)
        return loss

    ws = np.random.default_rng(3).uniform(-0.3, 0.3, 100)
    x = np.random.default_rng(4).standard_normal(257)
    _, small = _split_calls(fa.grad(chain(50), argnums=(0, 1)), ws[:50], x)
    _, big = _split_calls(fa.grad(chain(100), argnums=(0, 1)), ws, x)
    ks, kb = {c.kernel.key for c in small.calls}, {c.kernel.key for c in big.calls}
    # Twice the depth, (almost) no new kernel; a handful in all (the count depends on
    # codegen's loop-nest size cap, not on the depth).
    assert len(kb - ks) <= 3 and len(kb) <= 20 and len(big.calls) > 150, (len(ks), len(kb))
    g = fa.jit(fa.grad(chain(100), argnums=(0, 1)))
    want = fa.grad(chain(100), argnums=(0, 1))(ws, x)
    before = dict(stats)
    _assert_close(g(ws, x), want, "chain 100")
    compiled = (stats["kernels_llvm"] - before["kernels_llvm"]
                + stats["kernels_compiled"] - before["kernels_compiled"])
    assert compiled <= len(kb)
    # Another vector length: no new kernel compiled (sizes are arguments).
    x2 = np.random.default_rng(5).standard_normal(1000)
    before = dict(stats)
    _assert_close(g(ws, x2), fa.grad(chain(100), argnums=(0, 1))(ws, x2), "chain 100, n=1000")
    assert stats["kernels_llvm"] == before["kernels_llvm"]
    assert stats["kernels_compiled"] == before["kernels_compiled"]


def _extra_seeds():
    n = int(os.environ.get("FUNCAD_LARGE_CASES", "0") or 0)
    return [(100 + i, 150 + 50 * (i % 5), i % 3) for i in range(n)]


@pytest.mark.slow
@pytest.mark.parametrize("seed,n_blocks,loops",
                         [(2, 200, 0), (10, 400, 2), (11, 800, 1), (12, 300, 3)] + _extra_seeds())
def test_random_large_program_sweep(seed, n_blocks, loops, real_jit):
    _check(seed, n_blocks, loops, "python", real_jit)
    _check(seed, n_blocks, loops, "auto", real_jit)


@pytest.mark.slow
def test_random_program_whole_numba_driver(real_jit):
    """FUNCAD_DRIVER=numba: a mid-sized random program as one Numba function."""
    _check(5, 40, 0, "numba", real_jit)
