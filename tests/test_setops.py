"""Value-dependent output sizes: unique (and its unique_* forms), set operations, nonzero,
histogram, bincount, digitize. Eagerly NumPy's results; under jit and vmap with JAX's
static `size=` / `length=` (NumPy's result, padded); without them a clear error naming
the argument; histogram differentiable in its weights."""

from __future__ import annotations

import numpy as np
import pytest

import funcad as fa
import funcad.numpy as fnp
from funcad._core import ConcretizationTypeError
from funcad.test_util import check_grads

RNG = np.random.default_rng(0)
INTS = np.array([3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5])
FLOATS = np.array([0.5, np.nan, -1.0, 0.5, np.nan, 2.0, -1.0])
MAT = np.array([[1, 2], [3, 4], [1, 2], [0, 9], [3, 4]])
EMPTY = np.zeros(0)

# name: (funcad call, NumPy call, input)
UNIQUE = {
    "ints": (lambda x: fnp.unique(x), np.unique, INTS),
    "all_extras": (lambda x: fnp.unique(x, True, True, True),
                   lambda x: np.unique(x, True, True, True), INTS),
    "nan_equal": (lambda x: fnp.unique(x, return_counts=True),
                  lambda x: np.unique(x, return_counts=True), FLOATS),
    "nan_distinct": (lambda x: fnp.unique(x, equal_nan=False),
                     lambda x: np.unique(x, equal_nan=False), FLOATS),
    "2d_flat_inverse": (lambda x: fnp.unique(x, return_inverse=True),
                        lambda x: np.unique(x, return_inverse=True), MAT),
    "axis0": (lambda x: fnp.unique(x, True, True, True, axis=0),
              lambda x: np.unique(x, True, True, True, axis=0), MAT),
    "axis1": (lambda x: fnp.unique(x, return_counts=True, axis=1),
              lambda x: np.unique(x, return_counts=True, axis=1), MAT.T),
    "empty": (lambda x: fnp.unique(x, return_counts=True),
              lambda x: np.unique(x, return_counts=True), EMPTY),
    "unique_values": (fnp.unique_values, lambda x: np.unique(x), INTS),
    "unique_counts": (lambda x: tuple(fnp.unique_counts(x)),
                      lambda x: tuple(np.unique_counts(x)), INTS),
    "unique_inverse": (lambda x: tuple(fnp.unique_inverse(x)),
                       lambda x: tuple(np.unique_inverse(x)), MAT),
    "unique_all": (lambda x: tuple(fnp.unique_all(x)), lambda x: tuple(np.unique_all(x)),
                   FLOATS),
    "nonzero": (lambda x: fnp.nonzero(x), np.nonzero, MAT - 2),
    "flatnonzero": (fnp.flatnonzero, np.flatnonzero, MAT - 2),
    "argwhere": (fnp.argwhere, np.argwhere, MAT - 2),
    "union1d": (lambda x: fnp.union1d(x, INTS[:4] + 7), lambda x: np.union1d(x, INTS[:4] + 7),
                INTS),
    "setdiff1d": (lambda x: fnp.setdiff1d(x, [1, 5]), lambda x: np.setdiff1d(x, [1, 5]), INTS),
    "intersect1d": (lambda x: fnp.intersect1d(x, [9, 0, 5, 5]),
                    lambda x: np.intersect1d(x, [9, 0, 5, 5]), INTS),
    "setxor1d": (lambda x: fnp.setxor1d(x, [9, 0, 7]), lambda x: np.setxor1d(x, [9, 0, 7]),
                 INTS),
}


def _tuple(r):
    return r if isinstance(r, tuple) else (r,)


def _assert_same(got, want):
    got, want = _tuple(got), _tuple(want)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        g, w = np.asarray(g), np.asarray(w)
        assert g.shape == w.shape, (g.shape, w.shape)
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("name", UNIQUE)
def test_eager_matches_numpy(name):
    f, ref, x = UNIQUE[name]
    _assert_same(f(x), ref(x))


# name: (function of (x, size, fill_value), NumPy reference, input, size)
SIZED = {
    "unique": (lambda x, s, fv: fnp.unique(x, size=s, fill_value=fv), np.unique, INTS, 9),
    "unique_truncated": (lambda x, s, fv: fnp.unique(x, size=s, fill_value=fv),
                         lambda x: np.unique(x)[:4], INTS, 4),
    "unique_floats": (lambda x, s, fv: fnp.unique(x, size=s, fill_value=fv), np.unique,
                      FLOATS, 6),
    "unique_values": (lambda x, s, fv: fnp.unique_values(x, size=s, fill_value=fv),
                      np.unique, INTS, 8),
    "flatnonzero": (lambda x, s, fv: fnp.flatnonzero(x, size=s, fill_value=fv),
                    np.flatnonzero, MAT - 2, 12),
    "union1d": (lambda x, s, fv: fnp.union1d(x, np.array([0, 20]), size=s, fill_value=fv),
                lambda x: np.union1d(x, [0, 20]), INTS, 11),
    "setdiff1d": (lambda x, s, fv: fnp.setdiff1d(x, np.array([1, 5]), size=s,
                                                 fill_value=fv),
                  lambda x: np.setdiff1d(x, [1, 5]), INTS, 7),
    "intersect1d": (lambda x, s, fv: fnp.intersect1d(x, np.array([9, 1, 8]), size=s,
                                                     fill_value=fv),
                    lambda x: np.intersect1d(x, [9, 1, 8]), INTS, 3),
    "setxor1d": (lambda x, s, fv: fnp.setxor1d(x, np.array([9, 0]), size=s, fill_value=fv),
                 lambda x: np.setxor1d(x, [9, 0]), INTS, 8),
}


def _padded(want, size, fill):
    want = np.asarray(want)[:size]
    return np.concatenate([want, np.full(size - want.size, fill, want.dtype)])


@pytest.mark.parametrize("name", SIZED)
def test_size_under_jit_and_vmap(name):
    f, ref, x, size = SIZED[name]
    fill = -7
    want = _padded(ref(x), size, fill)
    got = fa.jit(lambda x: f(x, size, fill))(x)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(f(x, size, fill), want)  # eager with size: the same
    xs = np.stack([x, np.roll(x, 3), x[::-1]])
    got = fa.vmap(lambda x: f(x, size, fill))(xs)
    for row, xi in zip(got, xs, strict=True):
        np.testing.assert_array_equal(row, _padded(ref(xi), size, fill))


def test_unique_size_extras_follow_jax():
    # JAX's padding: the index of a missing value is perm[0]'s, its count 0, and the
    # default fill_value is the smallest value
    vals, idx, inv, cnt = fa.jit(lambda x: fnp.unique(x, True, True, True, size=9))(INTS)
    np.testing.assert_array_equal(vals, [1, 2, 3, 4, 5, 6, 9, 1, 1])
    np.testing.assert_array_equal(idx, [1, 6, 0, 2, 4, 7, 5, 1, 1])
    np.testing.assert_array_equal(inv, np.unique(INTS, return_inverse=True)[1])
    np.testing.assert_array_equal(cnt, [2, 1, 2, 1, 3, 1, 1, 0, 0])
    vals, cnt = fa.jit(lambda x: fnp.unique(x, return_counts=True, axis=0, size=4,
                                            fill_value=-1))(MAT)
    np.testing.assert_array_equal(vals, [[0, 9], [1, 2], [3, 4], [-1, -1]])
    np.testing.assert_array_equal(cnt, [1, 2, 2, 0])
    r = fa.jit(lambda x: fnp.unique_all(x, size=8))(INTS)
    np.testing.assert_array_equal(r.counts[:7], np.unique_all(INTS).counts)
    nz = fa.jit(lambda x: fnp.nonzero(x, size=6, fill_value=(-1, -2)))(MAT - 2)
    ref = np.nonzero(MAT - 2)
    np.testing.assert_array_equal(nz[0], _padded(ref[0], 6, -1))
    np.testing.assert_array_equal(nz[1], _padded(ref[1], 6, -2))
    aw = fa.jit(lambda x: fnp.argwhere(x, size=3))(MAT - 2)
    np.testing.assert_array_equal(aw, np.argwhere(MAT - 2)[:3])


@pytest.mark.parametrize("call", [
    lambda x: fnp.unique(x), lambda x: fnp.unique_counts(x), lambda x: fnp.nonzero(x),
    lambda x: fnp.flatnonzero(x), lambda x: fnp.argwhere(x),
    lambda x: fnp.setdiff1d(x, np.array([1])), lambda x: fnp.union1d(x, x)])
def test_traced_without_size_names_size(call):
    with pytest.raises(ConcretizationTypeError, match="size="):
        fa.jit(call)(INTS)
    with pytest.raises(ConcretizationTypeError, match="size="):
        fa.vmap(call)(np.stack([INTS, INTS]))


def test_unique_errors_and_edges():
    with pytest.raises(ValueError, match="fill_value"):
        fnp.unique(EMPTY, size=3)
    np.testing.assert_array_equal(fnp.unique(EMPTY, size=2, fill_value=1.5), [1.5, 1.5])
    with pytest.raises(ValueError, match="out of bounds"):
        fnp.unique(MAT, axis=2)
    with pytest.raises(NotImplementedError, match="return_indices"):
        fnp.intersect1d(INTS, INTS, return_indices=True)
    # a traced value's unique values are still differentiable (through the sorted gather)
    g = fa.grad(lambda x: fnp.sum(fnp.unique(x, size=3) ** 2))(np.array([2.0, 1.0, 3.0]))
    np.testing.assert_allclose(g, [4.0, 2.0, 6.0])


# -- histograms ------------------------------------------------------------------------------

DATA = RNG.normal(size=50)
HIST = {
    "default": {},
    "bins_int": {"bins": 7},
    "range": {"bins": 5, "range": (-1.0, 1.0)},
    "edges": {"bins": np.array([-2.0, -0.5, 0.0, 0.3, 2.5])},
    "density": {"bins": 6, "density": True},
    "weights": {"bins": 4, "weights": RNG.uniform(size=50)},
    "weights_density": {"bins": 4, "range": (-1.5, 1.5), "weights": RNG.uniform(size=50),
                        "density": True},
}


@pytest.mark.parametrize("name", HIST)
def test_histogram_matches_numpy(name):
    kw = HIST[name]
    counts, edges = fnp.histogram(DATA, **kw)
    ref_counts, ref_edges = np.histogram(DATA, **kw)
    np.testing.assert_allclose(edges, ref_edges, rtol=1e-14)
    np.testing.assert_allclose(counts, ref_counts, rtol=1e-12)
    np.testing.assert_allclose(fnp.histogram_bin_edges(DATA, kw.get("bins", 10),
                                                       kw.get("range")),
                               np.histogram_bin_edges(DATA, kw.get("bins", 10),
                                                      kw.get("range")), rtol=1e-14)
    jc, je = fa.jit(lambda d: fnp.histogram(d, **kw))(DATA)
    np.testing.assert_allclose(jc, ref_counts, rtol=1e-12)
    np.testing.assert_allclose(je, ref_edges, rtol=1e-14)


def test_histogram_edge_cases_vmap_and_grads():
    # last bin includes its right edge; a constant input widens the range by 0.5
    np.testing.assert_array_equal(fnp.histogram(np.array([0.0, 1.0, 1.0]), bins=2)[0],
                                  np.histogram(np.array([0.0, 1.0, 1.0]), bins=2)[0])
    np.testing.assert_allclose(fnp.histogram(np.ones(3), bins=2)[1],
                               np.histogram(np.ones(3), bins=2)[1])
    np.testing.assert_array_equal(fnp.histogram(np.arange(5), bins=2)[0],
                                  np.histogram(np.arange(5), bins=2)[0])
    with pytest.raises(NotImplementedError, match="string"):
        fnp.histogram(DATA, bins="auto")
    with pytest.raises(ValueError, match="same shape"):
        fnp.histogram(DATA, weights=np.ones(3))
    xs = RNG.normal(size=(4, 30))
    counts, edges = fa.vmap(lambda d: fnp.histogram(d, bins=5))(xs)
    for c, e, d in zip(counts, edges, xs, strict=True):
        rc, re = np.histogram(d, bins=5)
        np.testing.assert_allclose(c, rc)
        np.testing.assert_allclose(e, re, rtol=1e-14, atol=1e-14)
    w = RNG.uniform(size=50)
    check_grads(lambda w: fnp.histogram(DATA, bins=4, weights=w, density=True)[0], (w,),
                order=2, modes=("fwd", "rev"))
    check_grads(fa.jit(lambda w: fnp.histogram(DATA, bins=4, weights=w)[0]), (w,), order=2)


def test_bincount_and_digitize():
    x = np.array([0, 1, 1, 3, 2, 1, 7])
    w = RNG.uniform(size=7)
    np.testing.assert_array_equal(fnp.bincount(x), np.bincount(x))
    np.testing.assert_allclose(fnp.bincount(x, w, minlength=10), np.bincount(x, w, minlength=10))
    np.testing.assert_array_equal(fa.jit(lambda x: fnp.bincount(x, length=8))(x), np.bincount(x))
    got = fa.vmap(lambda x: fnp.bincount(x, length=9))(np.stack([x, x[::-1] + 1]))
    np.testing.assert_array_equal(got[1], np.bincount(x + 1, minlength=9))
    with pytest.raises(TypeError, match="length="):
        fa.jit(fnp.bincount)(x)
    check_grads(lambda w: fnp.bincount(x, w, length=8), (w,), order=2)
    bins = np.array([-1.0, 0.0, 0.5, 2.0])
    for right in (False, True):
        np.testing.assert_array_equal(fnp.digitize(DATA, bins, right=right),
                                      np.digitize(DATA, bins, right=right))
        np.testing.assert_array_equal(fa.jit(lambda d, r=right: fnp.digitize(d, bins, right=r))(DATA),
                                      np.digitize(DATA, bins, right=right))
    np.testing.assert_array_equal(fnp.digitize(DATA, bins[::-1]), np.digitize(DATA, bins[::-1]))
    got = fa.vmap(lambda b: fnp.digitize(DATA[:5], b))(np.stack([bins, bins + 0.1]))
    np.testing.assert_array_equal(got[1], np.digitize(DATA[:5], bins + 0.1))
