"""Table-driven tests of funcad.scipy (special, stats, linalg): one row per function.

Every row is checked for
  * its value against SciPy on the same inputs,
  * derivatives to order 2 in forward and reverse mode against finite differences,
  * vmap against a Python loop over a batch axis,
  * jit against eager evaluation (the generated source, run as Python in the test suite).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
import scipy.linalg as sl
import scipy.special as ss
import scipy.stats as st

import funcad as fa
from funcad import lax
from funcad.scipy import linalg as L
from funcad.scipy import special as sp
from funcad.scipy import stats as S
from funcad.test_util import check_grads


def _spd(rng, n=3):
    a = rng.uniform(-1, 1, (n, n))
    return a @ a.T + n * np.eye(n)


def _sym(rng, n=3):
    a = rng.uniform(-1, 1, (n, n))
    return a + a.T + np.diag(np.arange(n) * 2.0)  # well separated eigenvalues


def _canonical_signs(v):
    idx = np.argmax(np.abs(v), axis=-2)
    big = np.take_along_axis(v, idx[..., None, :], axis=-2)
    return v * np.where(big < 0, -1.0, 1.0)


def _mat(rng, n=3):
    return rng.uniform(-1, 1, (n, n)) + 3 * np.eye(n)


_DOMAINS: dict[str, Callable] = {
    "real": lambda rng: rng.uniform(-3, 3, 4),
    "wide": lambda rng: np.array([-30.0, -6.0, -0.4, 0.7, 1.5, 9.0]),
    "pos": lambda rng: rng.uniform(0.5, 3, 4),
    "gammaarg": lambda rng: np.array([0.3, 1.7, 4.2, 13.5, -0.6, -2.3]),
    "prob": lambda rng: rng.uniform(0.05, 0.95, 4),
    "unit": lambda rng: rng.uniform(-0.9, 0.9, 4),
    "gt1": lambda rng: rng.uniform(1.5, 4, 4),
    "bessel": lambda rng: np.array([-12.0, -2.5, -0.3, 0.4, 3.0, 9.0]),
    "k01": lambda rng: np.array([0.0, 1.0, 1.0, 0.0]),
    "count": lambda rng: np.array([0.0, 2.0, 5.0, 1.0]),
    "x01": lambda rng: rng.uniform(0.1, 0.9, 4),
    "lo": lambda rng: rng.uniform(-1.0, -0.2, 4),
    "big": lambda rng: rng.uniform(2.0, 3.0, 4),
    "spd": _spd,
    "sym": _sym,
    "gen": lambda rng: rng.uniform(-1, 1, (4, 4)),
    "mat": _mat,
    "rhs": lambda rng: rng.uniform(-1, 1, (3, 2)),
    "vec3": lambda rng: rng.uniform(-1, 1, 3),
    "vec4": lambda rng: rng.uniform(-1, 1, 4),
    "pts3": lambda rng: rng.uniform(-1, 1, (4, 3)),
    "small": lambda rng: rng.uniform(-0.7, 0.7, (3, 3)),
}


@dataclass
class Row:
    name: str
    fn: Callable
    ref: Callable
    domains: tuple[str, ...]
    grad_argnums: tuple[int, ...] | None = None  # None: all float arguments
    rtol: float = 1e-12
    atol: float = 1e-14
    grad_tol: float = 1e-5
    order: int = 2

    def args(self, seed=0):
        rng = np.random.default_rng(seed)
        return tuple(np.asarray(_DOMAINS[d](rng), np.float64) for d in self.domains)


R = Row
ROWS = [
    # special
    R("erf", sp.erf, ss.erf, ("wide",)),
    R("erfc", sp.erfc, ss.erfc, ("wide",), rtol=1e-13),
    R("erfinv", sp.erfinv, ss.erfinv, ("unit",)),
    R("ndtr", sp.ndtr, ss.ndtr, ("wide",), rtol=1e-13),
    R("ndtri", sp.ndtri, ss.ndtri, ("prob",)),
    R("log_ndtr", sp.log_ndtr, ss.log_ndtr, ("wide",), rtol=1e-12),  # JAX's 3-term series
    R("expit", sp.expit, ss.expit, ("real",)),
    R("logit", sp.logit, ss.logit, ("prob",)),
    R("gammaln", sp.gammaln, ss.gammaln, ("gammaarg",), atol=1e-13),
    R("digamma", sp.digamma, ss.digamma, ("gammaarg",), rtol=1e-11, atol=1e-12),
    R("betaln", sp.betaln, ss.betaln, ("pos", "pos"), atol=1e-13),
    R("xlogy", sp.xlogy, ss.xlogy, ("real", "pos")),
    R("xlog1py", sp.xlog1py, ss.xlog1py, ("real", "pos")),
    R("entr", sp.entr, ss.entr, ("pos",)),
    R("i0e", sp.i0e, ss.i0e, ("bessel",)),
    R("i1e", sp.i1e, ss.i1e, ("bessel",)),
    R("i0", sp.i0, ss.i0, ("bessel",)),
    R("i1", sp.i1, ss.i1, ("bessel",)),
    R("zeta", sp.zeta, ss.zeta, ("gt1", "pos")),
    R("gammainc", sp.gammainc, ss.gammainc, ("gt1", "pos"), rtol=1e-12),
    R("betainc", sp.betainc, ss.betainc, ("gt1", "pos", "x01"), rtol=1e-12, atol=1e-14),
    R("gammaincc", sp.gammaincc, ss.gammaincc, ("gt1", "pos"), rtol=1e-12),
    R("logsumexp", lambda a: sp.logsumexp(a), lambda a: ss.logsumexp(a), ("real",)),
    R("logsumexp_b", lambda a, b: sp.logsumexp(a, b=b), lambda a, b: ss.logsumexp(a, b=b),
      ("real", "pos")),
    R("logsumexp_sign", lambda a, b: sp.logsumexp(a, b=b - 1.5, return_sign=True)[0],
      lambda a, b: ss.logsumexp(a, b=b - 1.5, return_sign=True)[0], ("real", "pos")),
    R("softmax", sp.softmax, ss.softmax, ("real",)),
    R("log_softmax", sp.log_softmax, ss.log_softmax, ("real",)),
    # stats
    R("norm.logpdf", S.norm.logpdf, st.norm.logpdf, ("real", "real", "pos")),
    R("norm.pdf", S.norm.pdf, st.norm.pdf, ("real", "real", "pos")),
    R("norm.cdf", S.norm.cdf, st.norm.cdf, ("real", "real", "pos")),
    R("norm.logcdf", S.norm.logcdf, st.norm.logcdf, ("real", "real", "pos")),
    R("norm.sf", S.norm.sf, st.norm.sf, ("real", "real", "pos")),
    R("norm.logsf", S.norm.logsf, st.norm.logsf, ("real", "real", "pos")),
    R("norm.ppf", S.norm.ppf, st.norm.ppf, ("prob", "real", "pos")),
    R("norm.isf", S.norm.isf, st.norm.isf, ("prob", "real", "pos")),
    R("t.logpdf", S.t.logpdf, st.t.logpdf, ("real", "gt1", "real", "pos")),
    R("t.pdf", S.t.pdf, st.t.pdf, ("real", "gt1", "real", "pos")),
    R("multivariate_normal.logpdf", S.multivariate_normal.logpdf,
      st.multivariate_normal.logpdf, ("pts3", "vec3", "spd"), rtol=1e-11),
    R("bernoulli.logpmf", S.bernoulli.logpmf, st.bernoulli.logpmf, ("k01", "prob"),
      grad_argnums=(1,)),
    R("bernoulli.pmf", S.bernoulli.pmf, st.bernoulli.pmf, ("k01", "prob"), grad_argnums=(1,)),
    R("bernoulli.cdf", S.bernoulli.cdf, st.bernoulli.cdf, ("k01", "prob"), grad_argnums=(1,)),
    R("poisson.logpmf", S.poisson.logpmf, st.poisson.logpmf, ("count", "pos"),
      grad_argnums=(1,)),
    R("poisson.pmf", S.poisson.pmf, st.poisson.pmf, ("count", "pos"), grad_argnums=(1,)),
    R("beta.logpdf", S.beta.logpdf, st.beta.logpdf, ("x01", "gt1", "gt1")),
    R("beta.pdf", S.beta.pdf, st.beta.pdf, ("x01", "gt1", "gt1")),
    R("beta.cdf", S.beta.cdf, st.beta.cdf, ("x01", "gt1", "gt1"), rtol=1e-12),
    R("beta.logsf", S.beta.logsf, st.beta.logsf, ("x01", "gt1", "pos"), rtol=1e-12),
    R("gamma.logpdf", S.gamma.logpdf, st.gamma.logpdf, ("pos", "gt1")),
    R("gamma.pdf", S.gamma.pdf, st.gamma.pdf, ("pos", "gt1")),
    R("gamma.cdf", S.gamma.cdf, st.gamma.cdf, ("pos", "gt1"), rtol=1e-12),
    R("gamma.logsf", S.gamma.logsf, st.gamma.logsf, ("pos", "gt1", "x01", "big"),
      rtol=1e-12),
    R("poisson.cdf", S.poisson.cdf, st.poisson.cdf, ("count", "pos"), grad_argnums=(1,),
      rtol=1e-12),
    R("expon.logpdf", S.expon.logpdf, st.expon.logpdf, ("gt1", "x01", "pos")),
    R("expon.cdf", S.expon.cdf, st.expon.cdf, ("pos", "x01", "pos")),
    R("expon.logsf", S.expon.logsf, st.expon.logsf, ("pos", "x01", "pos")),
    R("expon.ppf", S.expon.ppf, st.expon.ppf, ("prob", "real", "pos")),
    R("laplace.logpdf", S.laplace.logpdf, st.laplace.logpdf, ("real", "real", "pos")),
    R("laplace.cdf", S.laplace.cdf, st.laplace.cdf, ("real", "real", "pos")),
    R("uniform.logpdf", S.uniform.logpdf, st.uniform.logpdf, ("x01", "lo", "big"),
      grad_argnums=(2,)),
    R("uniform.cdf", S.uniform.cdf, st.uniform.cdf, ("x01", "x01", "pos")),
    R("uniform.ppf", S.uniform.ppf, st.uniform.ppf, ("prob", "real", "pos")),
    R("cauchy.logpdf", S.cauchy.logpdf, st.cauchy.logpdf, ("real", "real", "pos")),
    R("cauchy.cdf", S.cauchy.cdf, st.cauchy.cdf, ("real", "real", "pos")),
    R("cauchy.logsf", S.cauchy.logsf, st.cauchy.logsf, ("real", "real", "pos")),
    R("cauchy.ppf", S.cauchy.ppf, st.cauchy.ppf, ("prob", "real", "pos")),
    R("cauchy.isf", S.cauchy.isf, st.cauchy.isf, ("prob", "real", "pos")),
    # linalg
    R("cholesky", L.cholesky, sl.cholesky, ("spd",)),
    R("cholesky_lower", lambda a: L.cholesky(a, lower=True),
      lambda a: sl.cholesky(a, lower=True), ("spd",)),
    R("cho_solve", lambda a, b: L.cho_solve(L.cho_factor(a), b),
      lambda a, b: sl.cho_solve(sl.cho_factor(a), b), ("spd", "rhs"), rtol=1e-11),
    R("cho_solve_lower", lambda a, b: L.cho_solve(L.cho_factor(a, lower=True), b),
      lambda a, b: sl.cho_solve(sl.cho_factor(a, lower=True), b), ("spd", "vec3"),
      rtol=1e-11),
    R("solve_triangular", lambda a, b: L.solve_triangular(a, b, lower=True),
      lambda a, b: sl.solve_triangular(a, b, lower=True), ("mat", "rhs")),
    R("solve_triangular_T", lambda a, b: L.solve_triangular(a, b, trans="T"),
      lambda a, b: sl.solve_triangular(a, b, trans="T"), ("mat", "vec3")),
    R("solve_triangular_unit", lambda a, b: L.solve_triangular(a, b, unit_diagonal=True),
      lambda a, b: sl.solve_triangular(a, b, unit_diagonal=True), ("mat", "rhs")),
    R("solve", L.solve, sl.solve, ("mat", "rhs"), rtol=1e-11),
    R("solve_pos", lambda a, b: L.solve(a, b, assume_a="pos"),
      lambda a, b: sl.solve(a, b, assume_a="pos"), ("spd", "vec3"), rtol=1e-11),
    R("inv", L.inv, sl.inv, ("mat",), rtol=1e-11),
    R("det", L.det, sl.det, ("mat",), rtol=1e-11),
    R("expm", L.expm, sl.expm, ("small",), rtol=1e-11, grad_tol=1e-4),
    R("eigh_values", lambda a: L.eigh(a)[0], lambda a: sl.eigh(a)[0], ("sym",)),
    R("eigh_vectors", lambda a: L.eigh(a)[1], lambda a: _canonical_signs(sl.eigh(a)[1]),
      ("sym",), rtol=1e-11, atol=1e-12, grad_tol=1e-4),
    R("eigh_upper", lambda a: L.eigh(a, lower=False, eigvals_only=True),
      lambda a: sl.eigh(a, lower=False, eigvals_only=True), ("gen",)),
    R("lu_factor", lambda a: L.lu_factor(a)[0], lambda a: sl.lu_factor(a)[0], ("gen",),
      rtol=1e-11),
    R("lu_solve", lambda a, b: L.lu_solve(L.lu_factor(a), b),
      lambda a, b: sl.lu_solve(sl.lu_factor(a), b), ("mat", "rhs"), rtol=1e-11),
    R("lu_solve_T", lambda a, b: L.lu_solve(L.lu_factor(a), b, trans=1),
      lambda a, b: sl.lu_solve(sl.lu_factor(a), b, trans=1), ("gen", "vec4"), rtol=1e-10),
    R("lu_l", lambda a: L.lu(a)[1], lambda a: sl.lu(a)[1], ("gen",), rtol=1e-11),
    R("lu_u", lambda a: L.lu(a)[2], lambda a: sl.lu(a)[2], ("gen",), rtol=1e-11),
    R("lu_permute_l", lambda a: L.lu(a, permute_l=True)[0],
      lambda a: sl.lu(a, permute_l=True)[0], ("gen",), rtol=1e-11),
    R("lax.linalg.lu", lambda a: lax.linalg.lu(a)[0], lambda a: sl.lu_factor(a)[0], ("gen",),
      rtol=1e-11),
]
IDS = [r.name for r in ROWS]


@pytest.mark.parametrize("r", ROWS, ids=IDS)
def test_value(r: Row):
    args = r.args()
    got = np.asarray(r.fn(*args))
    want = np.asarray(r.ref(*args))
    assert got.shape == want.shape, (got.shape, want.shape)
    np.testing.assert_allclose(got, want, rtol=r.rtol, atol=r.atol)


def _grad_target(r: Row, args):
    nums = r.grad_argnums if r.grad_argnums is not None else tuple(range(len(args)))
    fixed = list(args)

    def f(*xs):
        full = list(fixed)
        for i, x in zip(nums, xs):
            full[i] = x
        return r.fn(*full)
    return f, tuple(args[i] for i in nums)


@pytest.mark.parametrize("r", ROWS, ids=IDS)
def test_grads(r: Row):
    f, xs = _grad_target(r, r.args())
    check_grads(f, xs, order=r.order, atol=r.grad_tol, rtol=r.grad_tol)


@pytest.mark.parametrize("r", ROWS, ids=IDS)
def test_vmap(r: Row):
    batch = [r.args(seed) for seed in range(3)]
    stacked = tuple(np.stack(a) for a in zip(*batch))
    got = fa.vmap(r.fn)(*stacked)
    want = np.stack([np.asarray(r.fn(*a)) for a in batch])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("r", ROWS, ids=IDS)
def test_jit_matches_eager(r: Row):
    args = r.args()
    np.testing.assert_allclose(fa.jit(r.fn)(*args), r.fn(*args), rtol=1e-12, atol=1e-14)
    f, xs = _grad_target(r, args)
    g = fa.grad(lambda *xs: fa.numpy.sum(f(*xs)))
    np.testing.assert_allclose(fa.jit(g)(*xs), g(*xs), rtol=1e-10, atol=1e-12)


# -- behaviour at edges and options ----------------------------------------------------------


def test_special_edge_values_match_scipy():
    x = np.array([-np.inf, -1.0, 0.0, 1.0, np.inf])
    np.testing.assert_array_equal(sp.erfinv(x[1:4]), ss.erfinv(x[1:4]))
    np.testing.assert_array_equal(sp.ndtri(np.array([0.0, 0.5, 1.0])), [-np.inf, 0.0, np.inf])
    np.testing.assert_array_equal(sp.erf(x), ss.erf(x))
    np.testing.assert_array_equal(sp.erfc(x), ss.erfc(x))
    assert np.isinf(sp.gammaln(np.array([0.0, -1.0, -2.0]))).all()
    np.testing.assert_array_equal(sp.xlogy(np.array([0.0]), np.array([0.0])), [0.0])
    np.testing.assert_array_equal(sp.entr(np.array([0.0, -1.0])), [0.0, -np.inf])
    assert np.isnan(sp.logsumexp(np.array([0.0, 1.0]), b=np.array([1.0, -1.0])))


def test_special_accuracy_on_wide_grids():
    x = np.linspace(-26, 26, 1001)
    np.testing.assert_allclose(sp.erfc(x), ss.erfc(x), rtol=1e-13)
    # (below -20: JAX's 3-term asymptotic series, ~1e-12)
    np.testing.assert_allclose(sp.log_ndtr(np.linspace(-100, 30, 1001)),
                               ss.log_ndtr(np.linspace(-100, 30, 1001)), rtol=1e-12)
    p = np.concatenate([np.logspace(-300, -1, 300), 1 - np.logspace(-15, -1, 30)])
    np.testing.assert_allclose(sp.ndtri(p), ss.ndtri(p), rtol=1e-13)
    g = np.linspace(0.01, 60, 2000)
    np.testing.assert_allclose(sp.gammaln(g), ss.gammaln(g), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(sp.digamma(g), ss.digamma(g), rtol=1e-12, atol=1e-12)
    u = np.linspace(-0.999, 0.999, 999)
    np.testing.assert_allclose(sp.erfinv(u), ss.erfinv(u), rtol=1e-14)


def test_logsumexp_options():
    a = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 4.0]])
    b = np.array([[1.0, -2.0, 0.5], [1.0, 1.0, -0.1]])
    for axis in (None, 0, 1, (0, 1)):
        for keepdims in (False, True):
            v, s = sp.logsumexp(a, axis=axis, b=b, keepdims=keepdims, return_sign=True)
            wv, ws = ss.logsumexp(a, axis=axis, b=b, keepdims=keepdims, return_sign=True)
            np.testing.assert_allclose(v, wv, rtol=1e-13)
            np.testing.assert_array_equal(s, ws)


def test_float32_stays_float32():
    x = np.array([0.3, -0.2], np.float32)
    for f in (sp.erf, sp.erfc, sp.erfinv, sp.ndtr, sp.gammaln, sp.digamma, sp.expit):
        assert f(x).dtype == np.float32, f
    np.testing.assert_allclose(sp.erfinv(x), ss.erfinv(x), rtol=1e-6)


def test_linalg_stacked_matrices():
    rng = np.random.default_rng(1)
    a = np.stack([_spd(rng) for _ in range(2)])
    b = rng.uniform(-1, 1, (2, 3, 2))
    np.testing.assert_allclose(L.cho_solve(L.cho_factor(a), b),
                               np.stack([sl.cho_solve(sl.cho_factor(x), y)
                                         for x, y in zip(a, b)]), rtol=1e-11)
    np.testing.assert_allclose(L.expm(a / 4), np.stack([sl.expm(x / 4) for x in a]),
                               rtol=1e-11)


def test_lu_pivots_and_permutation_match_scipy():
    a = np.random.default_rng(3).normal(size=(2, 5, 5))
    for m in a:
        _, piv = L.lu_factor(m)
        np.testing.assert_array_equal(piv, sl.lu_factor(m)[1])
        p = L.lu(m)[0]
        np.testing.assert_array_equal(p, sl.lu(m)[0])
    pivs = fa.jit(lambda a: L.lu_factor(a)[1])(a)
    np.testing.assert_array_equal(pivs, np.stack([sl.lu_factor(m)[1] for m in a]))


def test_expm_large_norms_and_jit():
    a = np.array([[1.0, 2.0], [-3.0, 0.5]])
    for scale in (1e-3, 1.0, 30.0):
        np.testing.assert_allclose(L.expm(scale * a), sl.expm(scale * a), rtol=1e-11,
                                   atol=1e-14)
        np.testing.assert_allclose(fa.jit(L.expm)(scale * a), sl.expm(scale * a), rtol=1e-11,
                                   atol=1e-14)
    check_grads(lambda a: fa.jit(L.expm)(a), (10 * a,), order=1, atol=1e-4, rtol=1e-4)


def test_out_of_support_densities():
    assert S.beta.logpdf(1.5, 2.0, 3.0) == -np.inf
    assert S.gamma.pdf(-1.0, 2.0) == 0.0
    assert S.expon.logpdf(-1.0) == -np.inf
    assert S.poisson.logpmf(1.5, 2.0) == -np.inf
    assert S.uniform.pdf(2.0) == 0.0
    # gradients stay finite where the density is evaluated inside the support
    g = fa.grad(lambda a: S.beta.logpdf(0.3, a, 2.0))(1.5)
    assert np.isfinite(g)


def test_numba_lowers_eigh_and_lu(monkeypatch):
    monkeypatch.setenv("FUNCAD_DISABLE_JIT", "0")
    rng = np.random.default_rng(5)
    a = rng.uniform(-1, 1, (2, 3, 3))
    s = a + np.swapaxes(a, -1, -2)

    def f(a, s):
        lu_, piv = L.lu_factor(a)
        return lu_, piv, L.eigh(s, eigvals_only=True)
    lu_, piv, w = fa.jit(f)(a, s)
    np.testing.assert_allclose(lu_, np.stack([sl.lu_factor(m)[0] for m in a]), rtol=1e-12)
    np.testing.assert_array_equal(piv, np.stack([sl.lu_factor(m)[1] for m in a]))
    np.testing.assert_allclose(w, np.linalg.eigvalsh(s), rtol=1e-12)


def test_lax_linalg_lu_matches_jax_contract():
    a = np.random.default_rng(3).normal(size=(3, 5, 5))
    lu, piv, perm = lax.linalg.lu(a)
    assert piv.dtype == np.int32 and perm.dtype == np.int32  # JAX's dtypes
    for m, f, p, q in zip(a, lu, piv, perm, strict=True):
        ref_lu, ref_piv = sl.lu_factor(m)
        np.testing.assert_allclose(f, ref_lu, rtol=1e-11)
        np.testing.assert_array_equal(p, ref_piv)
        lower, upper = np.tril(f, -1) + np.eye(5), np.triu(f)
        np.testing.assert_allclose(m[q], lower @ upper, rtol=1e-12, atol=1e-13)
        np.testing.assert_array_equal(lax.linalg.lu_pivots_to_permutation(p, 5), q)
    for out, ref in zip(fa.jit(lax.linalg.lu)(a), (lu, piv, perm), strict=True):
        np.testing.assert_allclose(out, ref, rtol=1e-12)
        assert out.dtype == ref.dtype
    for out, ref in zip(fa.vmap(lax.linalg.lu)(a), (lu, piv, perm), strict=True):
        np.testing.assert_allclose(out, ref, rtol=1e-12)
    with pytest.raises(ValueError, match="expected a matrix"):
        lax.linalg.lu(np.ones(3))       # non-square ones: tests/test_api_misc.py


def test_lu_derivatives_under_jit_and_vmap():
    a = np.random.default_rng(4).normal(size=(3, 4, 4))

    def f(m):  # both factors, through the packed lu output
        return lax.linalg.lu(m)[0]

    def g(m):  # scipy's (p, l, u), all three used
        p, low, up = L.lu(m)
        return p @ low @ up + low * up.T

    for fun in (f, g):
        check_grads(fa.jit(fun), (a[0],), order=2, modes=("fwd", "rev"))
        check_grads(fa.vmap(fun), (a,), order=2, modes=("fwd", "rev"))
        check_grads(fa.jit(fa.vmap(fun)), (a,), order=1, modes=("fwd", "rev"))
        # grad of vmap == vmap of grad, jit or not
        per = fa.vmap(fa.grad(lambda m: fa.numpy.sum(fa.numpy.sin(fun(m)))))(a)
        loop = np.stack([fa.grad(lambda m: fa.numpy.sum(fa.numpy.sin(fun(m))))(m) for m in a])
        np.testing.assert_allclose(per, loop, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(
            fa.jit(fa.vmap(fa.grad(lambda m: fa.numpy.sum(fa.numpy.sin(fun(m))))))(a), loop,
            rtol=1e-10, atol=1e-12)


def test_stats_distributions_are_submodules():
    # as in JAX, where examples/advi.py does `import jax.scipy.stats.norm as norm`
    import importlib

    for name in S.__all__:
        module = importlib.import_module(f"funcad.scipy.stats.{name}")
        assert module is getattr(S, name)
    import funcad.scipy.stats.norm as norm
    from funcad.scipy.stats.t import logpdf
    assert float(norm.logpdf(0.0)) == pytest.approx(st.norm.logpdf(0.0), rel=1e-15)
    assert float(logpdf(0.5, 3.0)) == pytest.approx(st.t.logpdf(0.5, 3.0), rel=1e-14)
    one = np.ones(1)
    assert float(fa.vmap(norm.logpdf)(0.5 * one, 0 * one, 2 * one)[0]) == pytest.approx(
        st.norm.logpdf(0.5, 0.0, 2.0), rel=1e-15)


# ---- funcad.scipy.signal (found missing by the convolutions port) ----

_SIGNAL_SHAPES = [((5, 6), (3, 2)), ((2, 3), (4, 5)), ((3, 4), (3, 4)), ((4, 3), (4, 1))]


@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("shapes", _SIGNAL_SHAPES + [((7,), (3,)), ((2,), (5,)),
                                                      ((4, 5, 3), (2, 3, 2))])
def test_signal_convolve_correlate_match_scipy(shapes, mode):
    import scipy.signal as ss
    from funcad.scipy import signal as sig
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=shapes[0]), rng.normal(size=shapes[1])
    np.testing.assert_allclose(sig.convolve(a, b, mode), ss.convolve(a, b, mode, "direct"),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(sig.correlate(a, b, mode), ss.correlate(a, b, mode, "direct"),
                               rtol=1e-12, atol=1e-12)
    if a.ndim == 2:
        np.testing.assert_allclose(sig.convolve2d(a, b, mode), ss.convolve2d(a, b, mode),
                                   rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(sig.correlate2d(a, b, mode), ss.correlate2d(a, b, mode),
                                   rtol=1e-12, atol=1e-12)
    # complex correlation conjugates the second input, as SciPy does
    ac, bc = a + 1j * rng.normal(size=a.shape), b - 2j * rng.normal(size=b.shape)
    np.testing.assert_allclose(sig.correlate(ac, bc, mode), ss.correlate(ac, bc, mode, "direct"),
                               rtol=1e-12, atol=1e-12)
    if a.ndim == 2:
        np.testing.assert_allclose(sig.correlate2d(ac, bc, mode), ss.correlate2d(ac, bc, mode),
                                   rtol=1e-12, atol=1e-12)


def test_signal_dtypes_errors_grads_jit_vmap():
    from funcad.scipy import signal as sig
    assert fa.scipy.signal is sig
    assert sig.convolve(np.arange(4), np.ones(2, np.int32)).dtype == np.float64
    assert sig.convolve(np.ones(4, np.float32), np.ones(2, np.float32)).dtype == np.float32
    with pytest.raises(ValueError):
        sig.convolve(np.ones((3, 2)), np.ones((2, 3)))
    with pytest.raises(ValueError):
        sig.convolve2d(np.ones(3), np.ones(2))
    with pytest.raises(NotImplementedError):
        sig.convolve2d(np.ones((3, 3)), np.ones((2, 2)), boundary="wrap")
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(5, 4)), rng.normal(size=(3, 2))
    for f in (sig.convolve, sig.correlate, sig.convolve2d, sig.correlate2d):
        for mode in ("full", "same", "valid"):
            check_grads(lambda x, y: f(x, y, mode), (a, b), order=2, atol=1e-6, rtol=1e-6)
            np.testing.assert_allclose(fa.jit(lambda x, y: f(x, y, mode))(a, b), f(a, b, mode),
                                       rtol=1e-13, atol=1e-13)
    batch = rng.normal(size=(3, 5, 4))
    np.testing.assert_allclose(fa.vmap(lambda x: sig.convolve(x, b, "same"))(batch),
                               np.stack([sig.convolve(x, b, "same") for x in batch]),
                               rtol=1e-13, atol=1e-13)
