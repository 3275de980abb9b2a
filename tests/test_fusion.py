"""Loop fusion across pads, transposes and phases (codegen.py): fewer passes over memory.

- `pad` is a fusible read (the element, or the padding value outside it), so a padded
  value is never materialized and its consumers fuse with it;
- a transpose that is a fused value's only use is a second, permuted store of it;
- values read only by later phases of the same loop nest (at the same outer index) are one
  row, reused by every outer iteration, not a whole array.
Each is checked on the generated source and against eager evaluation.
"""

from __future__ import annotations

import numpy as np
import pytest

import funcad as fa
import funcad.numpy as fnp
from funcad import lax


def rosenbrock(x):
    return fnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def rosenbrock_hessian(x):
    n = x.shape[0]
    h = np.zeros((n, n))
    for i in range(n - 1):
        h[i, i] += 1200.0 * x[i] ** 2 - 400.0 * x[i + 1] + 2.0
        h[i + 1, i + 1] += 200.0
        h[i, i + 1] = h[i + 1, i] = -400.0 * x[i]
    return h


@pytest.fixture(params=["python", "numba"])
def driver(request, monkeypatch):
    monkeypatch.setenv("FUNCAD_DRIVER", request.param)
    return request.param


def test_pad_fuses_with_its_consumers(driver):
    def f(x):
        return lax.pad(fnp.sin(x), 0.5, ((1, 2, 0), (-1, 1, 1))) * 2.0 + 1.0

    x = np.linspace(-1.0, 1.0, 12).reshape(3, 4)
    src = fa.jit(f).lower(x).source
    # sin over x's domain, then one loop nest for the padded domain (no padded array)
    assert "_rt.fill(" not in src and src.count("# fused loop") == 2, src
    np.testing.assert_allclose(fa.jit(f)(x), f(x), rtol=1e-15)
    np.testing.assert_allclose(fa.jit(fa.grad(lambda x: fnp.sum(f(x) ** 2)))(x),
                               fa.grad(lambda x: fnp.sum(f(x) ** 2))(x), rtol=1e-13)


def test_transpose_of_a_fused_value_is_a_permuted_store(driver):
    def f(x, y):
        return fnp.transpose(fnp.sin(x) * y + 1.0)

    x, y = np.linspace(-1.0, 1.0, 15).reshape(3, 5), np.linspace(0.5, 2.0, 5)
    src = fa.jit(f).lower(x, y).source
    assert src.count("# fused loop") == 1, src
    np.testing.assert_allclose(fa.jit(f)(x, y), f(x, y), rtol=1e-15)


def test_hessian_is_one_pass_with_row_buffers(driver):
    x = np.linspace(-1.2, 1.5, 100)
    src = fa.jit(fa.hessian(rosenbrock)).lower(x).source
    assert "_rt.fill(" not in src, src
    if driver == "numba":
        # One function, loop nests uncut: no 100x100 temporary besides the result, no
        # full (100, 1, 99) array. (The Python driver cuts nests into 12-equation
        # kernels, whose values between them are arrays.)
        assert "(100, 1, 99" not in src and src.count("100, 100") == 1, src
    np.testing.assert_allclose(fa.jit(fa.hessian(rosenbrock))(x), rosenbrock_hessian(x),
                               rtol=1e-12, atol=1e-9)


def test_compiled_hessian(monkeypatch, tmp_path):
    monkeypatch.setenv("FUNCAD_DISABLE_JIT", "0")
    monkeypatch.setenv("FUNCAD_COMPILE", "sync")
    monkeypatch.setenv("FUNCAD_CACHE_DIR", str(tmp_path))
    x = np.linspace(-1.2, 1.5, 30)
    np.testing.assert_allclose(fa.jit(fa.hessian(rosenbrock))(x), rosenbrock_hessian(x),
                               rtol=1e-12, atol=1e-9)


def test_per_example_outer_products_are_one_fused_pass(driver):
    # vmap(grad) of a dense layer: a batch of outer products (a dot over a size-1
    # contraction) then a transpose; written once, element by element.
    def loss(params, x, y):
        W, b = params
        h = fnp.tanh(x @ W + b)
        return fnp.sum((h - y) ** 2)

    rng = np.random.default_rng(0)
    params = (rng.standard_normal((6, 5)), rng.standard_normal(5))
    X, Y = rng.standard_normal((7, 6)), rng.standard_normal((7, 5))
    g = fa.vmap(fa.grad(loss), in_axes=(None, 0, 0))
    src = fa.jit(g).lower(params, X, Y).source
    assert "(7, 5, 6" not in src and "(7, 6, 5, np" in src, src   # no (B, out, in) temporary
    # (the generated tanh is within 1.5 ulp of NumPy's, so not bit-identical)
    for a, b in zip(fa.jit(g)(params, X, Y), g(params, X, Y)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)
    for i in range(7):
        ref = fa.grad(loss)(params, X[i], Y[i])
        np.testing.assert_allclose(fa.jit(g)(params, X, Y)[0][i], ref[0], rtol=1e-10,
                                   atol=1e-13)
    # a plain outer product, and one with a size-1 contraction in the middle
    a, b = rng.standard_normal((4, 1)), rng.standard_normal((1, 3))
    for f in (lambda a, b: fnp.outer(a, b), lambda a, b: a @ b,
              lambda a, b: lax.dot_general(a, b, (((1,), (0,)), ((), ())))):
        np.testing.assert_allclose(fa.jit(f)(a, b), np.asarray(a) @ np.asarray(b),
                                   rtol=1e-15)


def test_norms_of_per_example_gradients_store_no_gradient(driver):
    # The transposed batch of outer products is only squared and summed: the transpose is
    # dropped (sink_transposes.py) and the squares are summed in the loop that makes them.
    def loss(params, x, y):
        W, b = params
        return fnp.sum((fnp.tanh(x @ W + b) - y) ** 2)

    def grad_norm(params, x, y):
        g = fa.grad(loss)(params, x, y)
        return fnp.sqrt(sum(fnp.sum(v * v) for v in fa.tree_util.tree_leaves(g)))

    rng = np.random.default_rng(1)
    params = (rng.standard_normal((6, 5)), rng.standard_normal(5))
    X, Y = rng.standard_normal((7, 6)), rng.standard_normal((7, 5))
    f = fa.vmap(grad_norm, in_axes=(None, 0, 0))
    src = fa.jit(f).lower(params, X, Y).source
    assert "(7, 6, 5" not in src and "(7, 5, 6" not in src, src
    np.testing.assert_allclose(fa.jit(f)(params, X, Y), f(params, X, Y), rtol=1e-10)
    # kept axes that would come out reordered: the transpose stays, values still right
    g = lambda x: fnp.sum(fnp.transpose(x, (2, 0, 1)) ** 2, axis=1)  # noqa: E731
    x = rng.standard_normal((2, 3, 4))
    np.testing.assert_allclose(fa.jit(g)(x), np.sum(np.transpose(x, (2, 0, 1)) ** 2, axis=1),
                               rtol=1e-14)
    h = lambda x: fnp.max(-fnp.transpose(x, (1, 0, 2)), axis=(0, 1))  # noqa: E731
    np.testing.assert_allclose(fa.jit(h)(x), np.max(-np.transpose(x, (1, 0, 2)), axis=(0, 1)))


def test_loop_nests_are_not_cut_where_a_large_value_would_be_stored(monkeypatch):
    # The Python driver cuts loop nests at 12 equations, but not while a value too large
    # for the caches (here 80 x 64 x 64) is still to be read by equations not fused yet.
    monkeypatch.setenv("FUNCAD_DRIVER", "python")
    from funcad.lowering.numba import codegen
    monkeypatch.setattr(codegen, "_CUT_MAX", 1000)

    def f(a, b, c):
        big = a[:, :, None] * b[:, None, :]                    # (80, 64, 64)
        s = fnp.sum(fnp.tanh(c) * fnp.sin(c) + fnp.cos(c) * fnp.exp(c), axis=1)
        return fnp.sqrt(fnp.sum(big * big, axis=(1, 2)) + s)

    rng = np.random.default_rng(2)
    a, b, c = rng.standard_normal((80, 64)), rng.standard_normal((80, 64)), \
        rng.standard_normal((80, 7))
    src = fa.jit(f).lower(a, b, c).source
    assert "(80, 64, 64" not in src, src
    np.testing.assert_allclose(fa.jit(f)(a, b, c), f(a, b, c), rtol=1e-12)


def test_output_transpose_of_a_matrix_is_a_view(driver):
    # A program output that is the transpose of a matrix computed in the program is
    # returned as a transposed view, not stored with a stride in the inner loop.
    g = fa.jit(lambda a: fnp.tanh(a * 2.0).T)
    a = np.arange(12.0).reshape(3, 4) / 10
    src = g.lower(a).source
    assert "np.transpose(" in src, src
    out = g(a)
    np.testing.assert_allclose(out, np.tanh(a * 2.0).T, rtol=1e-15)
    assert isinstance(out, fa.Array) and not out.flags.writeable and out.shape == (4, 3)
    # fed back into a compiled program (its inputs must be C-contiguous): normalised
    h = fa.jit(lambda b: b @ np.ones(3))
    np.testing.assert_allclose(h(out), np.tanh(a * 2.0).T @ np.ones(3), rtol=1e-14)
    np.testing.assert_allclose(fa.jit(fa.hessian(rosenbrock))(np.linspace(-1, 1, 9)),
                               rosenbrock_hessian(np.linspace(-1, 1, 9)), rtol=1e-12,
                               atol=1e-9)
