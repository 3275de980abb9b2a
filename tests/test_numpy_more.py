"""The rest of jax.numpy's names (funcad/numpy/_more.py): values against NumPy, eager and
under jit, vmap over a batch against a loop, derivatives to order 2 where the function is
differentiable, and the clear errors (inplace=True, traced sizes)."""

from __future__ import annotations

import numpy as np
import pytest

import funcad as fa
import funcad.numpy as fnp
from funcad._core import ConcretizationTypeError
from funcad.test_util import check_grads

RNG = np.random.default_rng(0)
V = RNG.normal(size=5)
M = RNG.normal(size=(3, 3))
I1 = np.array([12, -7, 0, 30, 9])
I2 = np.array([18, 21, 0, -4, 0])

# name: (funcad function, NumPy function, args, differentiable argnums or None)
ROWS = {
    "concat": (lambda a, b: fnp.concat([a, b]), lambda a, b: np.concatenate([a, b]),
               (V, V[:2]), (0, 1)),
    "pow": (fnp.pow, np.power, (np.abs(V) + 0.5, V), (0, 1)),
    "bitwise_invert": (fnp.bitwise_invert, np.invert, (I1,), None),
    "gcd": (fnp.gcd, np.gcd, (I1, I2), None),
    "lcm": (fnp.lcm, np.lcm, (I1, I2), None),
    "frexp": (fnp.frexp, np.frexp, (np.array([8.0, -0.375, 0.0, 1e-310, -3e300, np.inf,
                                              np.nan, 1.0, 0.5, 2.0 ** -1074]),), None),
    "frexp32": (fnp.frexp, np.frexp, (np.array([3.0, -1e-40, 7e30], np.float32),), None),
    "spacing": (fnp.spacing, np.spacing, (np.array([1.0, -1.0, 0.0, 1e300, -2.5e-310,
                                                    np.inf]),), None),
    "nextafter": (fnp.nextafter, np.nextafter, (V, np.array([0.0, np.inf, -np.inf, 1.0, 2.0])),
                  None),
    "i0": (fnp.i0, np.i0, (V * 3,), (0,)),
    "hanning": (lambda: fnp.hanning(7), lambda: np.hanning(7), (), None),
    "hamming": (lambda: fnp.hamming(6), lambda: np.hamming(6), (), None),
    "blackman": (lambda: fnp.blackman(5), lambda: np.blackman(5), (), None),
    "bartlett": (lambda: fnp.bartlett(6), lambda: np.bartlett(6), (), None),
    "bartlett_1": (lambda: fnp.bartlett(1), lambda: np.bartlett(1), (), None),
    "kaiser": (lambda b: fnp.kaiser(6, b), lambda b: np.kaiser(6, b), (np.array(2.5),), (0,)),
    "block": (lambda a, b: fnp.block([[a, b], [b.T, a[:1, :1]]]),
              lambda a, b: np.block([[a, b], [b.T, a[:1, :1]]]), (M[:2, :2], M[:2, :1]),
              (0, 1)),
    "block_1d": (lambda a, b: fnp.block([a, b]), lambda a, b: np.block([a, b]), (V, V[:2]),
                 (0, 1)),
    "r_": (lambda a: fnp.r_[a, 0.5, 1:3, 0:1:3j], lambda a: np.r_[a, 0.5, 1:3, 0:1:3j],
           (V,), (0,)),
    "c_": (lambda a: fnp.c_[a, a * 2], lambda a: np.c_[a, a * 2], (V,), (0,)),
    "fromfunction": (lambda: fnp.fromfunction(lambda i, j: i * 3 + j, (2, 3)),
                     lambda: np.fromfunction(lambda i, j: i * 3 + j, (2, 3)), (), None),
    "resize": (lambda a: fnp.resize(a, (3, 4)), lambda a: np.resize(a, (3, 4)), (V,), (0,)),
    "apply_over_axes": (lambda a: fnp.apply_over_axes(fnp.sum, a, [0, 1]),
                        lambda a: np.apply_over_axes(np.sum, a, [0, 1]), (M,), (0,)),
    "diagflat": (lambda a: fnp.diagflat(a, 1), lambda a: np.diagflat(a, 1), (V[:3],), (0,)),
    "fill_diagonal": (lambda a, v: fnp.fill_diagonal(a, v, inplace=False),
                      lambda a, v: _np_inplace(np.fill_diagonal, a, v), (M, V[:3]), (0, 1)),
    "fill_diagonal_wrap": (lambda a: fnp.fill_diagonal(a, 2.0, wrap=True, inplace=False),
                           lambda a: _np_inplace(np.fill_diagonal, a, 2.0, wrap=True),
                           (RNG.normal(size=(7, 3)),), (0,)),
    "put": (lambda a, v: fnp.put(a, np.array([0, 4, 7]), v, inplace=False),
            lambda a, v: _np_inplace(np.put, a, [0, 4, 7], v), (M, V[:3]), (0, 1)),
    "put_wrap": (lambda a: fnp.put(a, np.array([-1, 10]), 5.0, mode="wrap", inplace=False),
                 lambda a: _np_inplace(np.put, a, [-1, 10], 5.0, mode="wrap"), (M,), (0,)),
    "place": (lambda a, v: fnp.place(a, M > 0, v, inplace=False),
              lambda a, v: _np_inplace(np.place, a, M > 0, v), (M, V[:2]), (0, 1)),
    "put_along_axis": (lambda a, v: fnp.put_along_axis(a, np.array([[2], [0], [1]]), v, 1,
                                                       inplace=False),
                       lambda a, v: _np_inplace(np.put_along_axis, a, np.array([[2], [0], [1]]),
                                                v, 1), (M, V[:3, None]), (0, 1)),
    "poly": (fnp.poly, np.poly, (V[:4],), (0,)),
    # JAX's remainder keeps u's length (NumPy trims its leading zeros)
    "polydiv": (lambda u, v: fnp.polydiv(u, v),
                lambda u, v: (np.polydiv(u, v)[0],
                              np.pad(np.polydiv(u, v)[1], (len(u) - len(np.polydiv(u, v)[1]),
                                                          0))), (V, V[:3]), (0, 1)),
    "histogram2d": (lambda x, y, w: fnp.histogram2d(x, y, bins=(3, 4), weights=w),
                    lambda x, y, w: np.histogram2d(x, y, bins=(3, 4), weights=w),
                    (RNG.normal(size=40), RNG.normal(size=40), RNG.uniform(size=40)), (2,)),
    "histogramdd": (lambda s: fnp.histogramdd(s, bins=[2, 3, 2], density=True),
                    lambda s: np.histogramdd(s, bins=[2, 3, 2], density=True),
                    (RNG.normal(size=(30, 3)),), None),
    "top_k": (lambda a: fnp.top_k(a, 3), lambda a: (np.sort(a)[::-1][:3],
                                                     np.argsort(-a, kind="stable")[:3]),
              (V,), None),
    "diag_indices_from": (fnp.diag_indices_from, np.diag_indices_from, (M,), None),
}


def _np_inplace(fn, a, *args, **kw):
    a = np.array(a, copy=True)
    fn(a, *args, **kw)
    return a


def _flat(x):
    if isinstance(x, (tuple, list)):
        return [v for item in x for v in _flat(item)]
    return [np.asarray(x)]


def _same(got, want, rtol=1e-12):
    got, want = _flat(got), _flat(want)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape, (g.shape, w.shape)
        if np.issubdtype(w.dtype, np.inexact):
            assert g.dtype == w.dtype, (g.dtype, w.dtype)
            np.testing.assert_allclose(g, w, rtol=rtol, atol=1e-13)
        else:
            np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("name", ROWS)
def test_values_eager_and_jit(name):
    f, ref, args, _ = ROWS[name]
    _same(f(*args), ref(*args))
    if name not in ("histogramdd",):
        _same(fa.jit(f)(*args), ref(*args), rtol=1e-11)


@pytest.mark.parametrize("name", [n for n, r in ROWS.items() if r[3] is not None])
def test_grads_order2(name):
    f, _, args, nums = ROWS[name]

    def g(*xs):
        full = list(args)
        for i, x in zip(nums, xs, strict=True):
            full[i] = x
        out = f(*full)
        return out[0] if name.startswith("histogram") else out
    check_grads(g, tuple(args[i] for i in nums), order=2, modes=("fwd", "rev"))


@pytest.mark.parametrize("name", ["pow", "gcd", "lcm", "frexp", "spacing", "i0", "kaiser",
                                  "resize", "diagflat", "fill_diagonal", "put", "poly",
                                  "polydiv", "block_1d", "put_along_axis"])
def test_vmap_matches_loop(name):
    f, _, args, _ = ROWS[name]
    batch = [tuple(np.asarray(a) * (1 + (k if np.issubdtype(np.asarray(a).dtype, np.inexact)
                                         else 0)) for a in args) for k in range(3)]
    stacked = tuple(np.stack(a) for a in zip(*batch, strict=True))
    got = fa.vmap(f)(*stacked)
    for k, b in enumerate(batch):
        _same(fa.tree_util.tree_map(lambda x, k=k: x[k], got), f(*b))


def test_errors():
    for fn, args in [(fnp.fill_diagonal, (M, 1.0)), (fnp.put, (M, [0], 1.0)),
                     (fnp.place, (M, M > 0, [1.0])),
                     (fnp.put_along_axis, (M, np.zeros((3, 1), int), 1.0, 1))]:
        with pytest.raises(NotImplementedError, match="inplace=False"):
            fn(*args)
    with pytest.raises(IndexError, match="out of range"):
        fnp.put(M, np.array([9]), 1.0, inplace=False)
    with pytest.raises(TypeError, match="integers"):
        fnp.gcd(1.5, 2)
    with pytest.raises(ValueError, match="mismatched"):
        fnp.block([[V], V])
    with pytest.raises(NotImplementedError, match="string"):
        fnp.r_["0,2", V]
    with pytest.raises(NotImplementedError, match="1-d"):
        fnp.poly(M)
    with pytest.raises(ConcretizationTypeError, match="length M"):
        fa.jit(fnp.hanning)(5)
    np.testing.assert_array_equal(fnp.trim_zeros(np.array([0, 0, 1, 2, 0])), [1, 2])
    np.testing.assert_allclose(fnp.polydiv(np.array([1.0, -3.0, 2.0]), np.array([1.0, -1.0]),
                                           trim_leading_zeros=True)[1], [0.0])
    assert fnp.iscomplexobj(np.ones(2, complex)) and fnp.isrealobj(V)
    assert fnp.iterable(V) and not fnp.iterable(1.0)
    assert fnp.isdtype(np.float64, "real floating")
    assert fnp.__array_api_version__
    np.testing.assert_array_equal(fnp.mask_indices(3, np.triu, 1)[1],
                                  np.mask_indices(3, np.triu, 1)[1])


def test_numpy_dispatch_on_tracers():
    # NumPy's own functions on traced values reach these composites (__array_function__)
    x = RNG.normal(size=20)
    w = RNG.uniform(size=20)
    g = fa.grad(lambda w: fnp.sum(np.histogram(x, bins=4, weights=w)[0] ** 2))(w)
    counts = np.histogram(x, bins=4, weights=w)[0]
    idx = np.clip(np.searchsorted(np.histogram_bin_edges(x, 4), x, side="right") - 1, 0, 3)
    np.testing.assert_allclose(g, 2 * counts[idx], rtol=1e-12)
    np.testing.assert_allclose(fa.jit(lambda x: np.frexp(x)[0])(x), np.frexp(x)[0])
    np.testing.assert_array_equal(fa.jit(lambda a: np.gcd(a, 6))(I1), np.gcd(I1, 6))
