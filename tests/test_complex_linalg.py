"""Complex ordering and complex linear algebra (issue 10, second part).

- Ordering: sort/argsort/lexsort/lax.sort/max/min/argmax/argmin/sort_complex of complex
  arrays order lexicographically on (real, imag) as NumPy and JAX (NaNs last in sorts, the
  first NaN wins in arg-extrema); oracle NumPy, eager, jit and vmap vs a loop.
- Decompositions of complex matrices: cholesky, eigh/eigvalsh, svd, qr, pinv, lstsq and
  scipy.linalg's; values vs NumPy/SciPy, `check_grads` to order 2 in both modes through
  gauge-invariant functions (eigenvector moduli, projectors, reconstructions), vmap.
- eig/eigvals (real and complex input, complex output): values vs NumPy, eigenvalue
  derivatives to order 2 (3 once), eigenvector derivatives refused as in JAX.
- One Numba compile (two programs) covers all of it under jit with real compiles.
"""

import functools

import numpy as np
import pytest
import scipy.linalg

import funcad as fa
import funcad.numpy as fnp
import funcad.scipy.linalg as fsl
from funcad import lax
from funcad.test_util import check_grads


@pytest.fixture
def numba_on(monkeypatch):
    """Compile with Numba (tests default to running the generated source as Python)."""
    monkeypatch.setenv("FUNCAD_DISABLE_JIT", "0")


def _cmat(m=3, n=3, seed=0, dtype=np.complex128):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(m, n)) + 1j * rng.normal(size=(m, n))).astype(dtype)


def _herm(a):
    return a @ a.conj().T + np.eye(a.shape[0])


def _H(x):
    return fnp.conj(fnp.swapaxes(x, -1, -2))


# -- ordering ------------------------------------------------------------------------------

def _ties_and_nans():
    """Complex values with ties in the real part, equal values and NaNs in each part."""
    rng = np.random.default_rng(3)
    z = (rng.integers(-2, 3, (4, 7)) + 1j * rng.integers(-2, 3, (4, 7))).astype(complex)
    z[1, 2] = complex(np.nan, 1.0)
    z[2, 3] = complex(1.0, np.nan)
    z[3, 0] = complex(np.nan, np.nan)
    z[3, 4] = complex(np.nan, 0.0)
    z[0, 5] = complex(np.inf, -1.0)
    z[0, 6] = complex(-np.inf, np.inf)
    return z


ORDER_OPS = {  # name: (funcad, numpy), each applied along an axis
    "sort": (fnp.sort, np.sort),
    "argsort": (fnp.argsort, np.argsort),
    "sort_desc": (functools.partial(fnp.sort, descending=True),
                  lambda z, axis: np.flip(np.sort(z, axis=axis), axis)),
    "max": (fnp.max, np.max),
    "min": (fnp.min, np.min),
    "argmax": (fnp.argmax, np.argmax),
    "argmin": (fnp.argmin, np.argmin),
    "amax_keepdims": (functools.partial(fnp.max, keepdims=True),
                      functools.partial(np.max, keepdims=True)),
    "lax_sort": (lambda z, axis: lax.sort(z, dimension=axis), np.sort),
}


@pytest.mark.parametrize("name", sorted(ORDER_OPS))
@pytest.mark.parametrize("dtype", [np.complex128, np.complex64])
def test_complex_ordering_vs_numpy(name, dtype):
    f, ref = ORDER_OPS[name]
    z = _ties_and_nans().astype(dtype)
    for axis in (0, 1, -1):
        want = ref(z, axis=axis)
        for g in (f, fa.jit(f, static_argnames="axis")):
            got = np.asarray(g(z, axis=axis))
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got, want, err_msg=f"{name} axis={axis}")
    # vmap over rows vs a loop
    got = fa.vmap(lambda r: f(r, axis=0))(z)
    np.testing.assert_array_equal(got, np.stack([ref(r, axis=0) for r in z]))


@pytest.mark.parametrize("fn", ["max", "min", "argmax", "argmin"])
def test_complex_reductions_over_all_and_several_axes(fn):
    z = _ties_and_nans()[:3]  # (NaN rows dropped: row 1 has one) and a 3-d stack
    z3 = np.stack([z, z[::-1] * 1j])
    for axis in (None, (0, 2), (1,)):
        if fn.startswith("arg") and isinstance(axis, tuple):
            continue
        np.testing.assert_array_equal(getattr(fnp, fn)(z3, axis=axis),
                                      getattr(np, fn)(z3, axis=axis), err_msg=str(axis))


def test_sort_complex_lexsort_and_maximum():
    z = _ties_and_nans()
    np.testing.assert_array_equal(fnp.sort_complex(z), np.sort_complex(z))
    for a in (np.array([5, 3, 6, 2]), np.float32([2.0, -1.0]), np.array([3.0, 1.0])):
        got, want = fnp.sort_complex(a), np.sort_complex(a)
        # JAX's dtype: float32 -> complex64 (NumPy widens it to complex128)
        assert got.dtype == (np.complex64 if a.dtype == np.float32 else want.dtype)
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(fa.jit(lambda a: np.sort_complex(a))(z), np.sort_complex(z))
    np.testing.assert_array_equal(fnp.lexsort([z[0], z[1]]), np.lexsort([z[0], z[1]]))
    np.testing.assert_array_equal(fnp.lexsort([z[1].real, z[0]]),
                                  np.lexsort([z[1].real, z[0]]))
    a, b = z[0], z[1]
    np.testing.assert_array_equal(fnp.maximum(a, b), np.maximum(a, b))
    np.testing.assert_array_equal(fnp.minimum(a, b), np.minimum(a, b))
    for f in (fnp.median, functools.partial(fnp.quantile, q=0.5)):
        with pytest.raises(ValueError, match="does not support complex"):
            f(z)


def test_derivatives_through_complex_ordering():
    z = _cmat(2, 5, seed=7)
    w = np.arange(10.0).reshape(2, 5)
    for f in (lambda z: fnp.sort(z, axis=-1) * w,
              lambda z: fnp.sort(z, axis=0, descending=True),
              lambda z: fnp.max(z, axis=1),
              lambda z: fnp.min(z),
              lambda z: fnp.sort_complex(z) ** 2):
        check_grads(f, (z,), order=2)
    # max/min: JAX's derivative, the tangent averaged over the elements equal to the result
    z = np.array([1 + 2j, 3 + 1j, 3 + 1j, -1 + 0j, 3 + 0.5j])
    np.testing.assert_array_equal(fa.grad(lambda z: fnp.real(fnp.max(z)))(z),
                                  [0, 0.5, 0.5, 0, 0])
    np.testing.assert_array_equal(fa.grad(lambda z: fnp.imag(fnp.min(z)))(z),
                                  [0, 0, 0, -1j, 0])
    # an infinite or NaN extremum: the value as NumPy's, a zero derivative
    zz = np.array([[1 + 2j, np.inf + 1j], [np.nan + 0j, 2 + 2j]])
    np.testing.assert_array_equal(fnp.max(zz, axis=1), np.max(zz, axis=1))
    np.testing.assert_array_equal(
        fa.grad(lambda z: fnp.sum(fnp.imag(fnp.max(z, axis=1))))(zz), np.zeros((2, 2)))
    z = _cmat(2, 5, seed=7)[0]
    # sort's jvp permutes the tangents; grad of a real function of sorted values
    g = fa.grad(lambda z: fnp.sum(fnp.abs(fnp.sort(z)) ** 2 * np.arange(5)))(z)
    rank = np.argsort(np.argsort(z))
    np.testing.assert_allclose(g, 2 * np.conj(z) * rank)


# -- decompositions of complex matrices ------------------------------------------------------

A3 = _cmat(3, 3, seed=1)
TALL = _cmat(4, 2, seed=2)
WIDE = _cmat(2, 4, seed=3)

# name: (funcad function, NumPy/SciPy reference or None, input); every output is a
# gauge-invariant function (check_grads compares it with finite differences).
DECOMP = {
    "cholesky": (lambda a: fnp.linalg.cholesky(_herm_t(a)),
                 lambda a: np.linalg.cholesky(_herm(a)), A3),
    "cholesky_upper_sym": (
        lambda a: fnp.linalg.cholesky(_herm_t(a), upper=True, symmetrize_input=True),
        lambda a: np.linalg.cholesky(_herm(a), upper=True), A3),
    # only the lower triangle and the real part of the diagonal are read, as LAPACK's
    "cholesky_lower_read": (lambda a: fnp.linalg.cholesky(
        _herm_t(a) + fnp.triu(a, 1) + 0.5j * fnp.eye(3) * fnp.real(a),
        symmetrize_input=False),
        lambda a: np.linalg.cholesky(_herm(a)), A3),
    "eigvalsh": (lambda a: fnp.linalg.eigvalsh(a + _H(a)),
                 lambda a: np.linalg.eigvalsh(a + a.conj().T), A3),
    "eigh_moduli": (lambda a: fnp.abs(fnp.linalg.eigh(a + _H(a))[1]) ** 2,
                    lambda a: np.abs(np.linalg.eigh(a + a.conj().T)[1]) ** 2, A3),
    "eigh_reconstruct": (lambda a: _eigh_rebuild(a + _H(a)), lambda a: a + a.conj().T, A3),
    "eigh_upper": (lambda a: fnp.linalg.eigh(a, UPLO="U", symmetrize_input=False)[0],
                   lambda a: np.linalg.eigh(a, UPLO="U")[0], A3),
    "svdvals": (lambda a: fnp.linalg.svd(a, compute_uv=False),
                lambda a: np.linalg.svd(a, compute_uv=False), A3),
    "svd_reconstruct": (lambda a: _svd_rebuild(a), lambda a: a, A3),
    "svd_phase_pairs": (lambda a: _svd_pairs(a), lambda a: _svd_pairs_np(a), A3),
    "svd_tall_u_moduli": (lambda a: fnp.abs(fnp.linalg.svd(a, full_matrices=False)[0]) ** 2,
                          lambda a: np.abs(np.linalg.svd(a, full_matrices=False)[0]) ** 2,
                          TALL),
    "svd_wide_projectors": (lambda a: _svd_projectors(a), lambda a: _svd_projectors_np(a),
                            WIDE),
    "qr": (lambda a: fnp.linalg.qr(a), lambda a: np.linalg.qr(a), A3),
    "qr_tall": (lambda a: fnp.linalg.qr(a), lambda a: np.linalg.qr(a), TALL),
    "pinv_tall": (fnp.linalg.pinv, np.linalg.pinv, TALL),
    "pinv_wide": (fnp.linalg.pinv, np.linalg.pinv, WIDE),
    "lstsq": (lambda a: fnp.linalg.lstsq(a, _cmat(4, 1, seed=9))[0],
              lambda a: np.linalg.lstsq(a, _cmat(4, 1, seed=9))[0], TALL),
    "matrix_norm_2": (lambda a: fnp.linalg.matrix_norm(a, ord=2),
                      lambda a: np.linalg.matrix_norm(a, ord=2), A3),
    "scipy_cholesky": (lambda a: fsl.cholesky(_herm_t(a)),
                       lambda a: scipy.linalg.cholesky(_herm(a)), A3),
    "scipy_cho_solve": (lambda a: fsl.cho_solve(fsl.cho_factor(_herm_t(a)), a[:, :2]),
                        lambda a: scipy.linalg.cho_solve(scipy.linalg.cho_factor(_herm(a)),
                                                         a[:, :2]), A3),
    "scipy_solve_triangular_C": (
        lambda a: fsl.solve_triangular(a, a[:, 0], trans="C", lower=True),
        lambda a: scipy.linalg.solve_triangular(a, a[:, 0], trans="C", lower=True), A3),
    "scipy_lu_solve_2": (lambda a: fsl.lu_solve(fsl.lu_factor(a), a[:, 1], trans=2),
                         lambda a: scipy.linalg.lu_solve(scipy.linalg.lu_factor(a), a[:, 1],
                                                         trans=2), A3),
    "scipy_solve_her": (lambda a: fsl.solve(a, a[:, 0], assume_a="her", lower=True),
                        lambda a: scipy.linalg.solve(a, a[:, 0], assume_a="her", lower=True),
                        A3),
    "scipy_eigh": (lambda a: fsl.eigh(a)[0], lambda a: scipy.linalg.eigh(a)[0], A3),
    "scipy_eigh_vectors": (lambda a: fsl.eigh(a + _H(a))[1], None, A3),
}


def _herm_t(a):
    return a @ _H(a) + fnp.eye(a.shape[0])


def _eigh_rebuild(h):
    w, v = fnp.linalg.eigh(h)
    return (v * w) @ _H(v)


def _svd_rebuild(a):
    u, s, vh = fnp.linalg.svd(a, full_matrices=False)
    return (u * s) @ vh


def _svd_pairs(a):
    # u_ij conj(v_kj): the phase each pair (u_j, v_j) shares cancels
    u, s, vh = fnp.linalg.svd(a)
    return fnp.einsum("ij,jk->ijk", u, vh)


def _svd_pairs_np(a):
    u, s, vh = np.linalg.svd(a)
    return np.einsum("ij,jk->ijk", u, vh)


def _svd_projectors(a):
    u, s, vh = fnp.linalg.svd(a, full_matrices=False)
    return u @ _H(u), _H(vh) @ vh


def _svd_projectors_np(a):
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    return u @ u.conj().T, vh.conj().T @ vh


def _tree_close(got, want, **kw):
    got, want = (list(x) if isinstance(x, tuple) else [x] for x in (got, want))
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), **kw)


@pytest.mark.parametrize("name", sorted(DECOMP))
def test_complex_decomposition_values_and_grads(name):
    f, ref, a = DECOMP[name]
    if ref is not None:
        want = ref(a)
        _tree_close(f(a), want, rtol=1e-9, atol=1e-11)
        _tree_close(fa.jit(f)(a), want, rtol=1e-9, atol=1e-11)
    check_grads(f, (a,), order=2)


@pytest.mark.parametrize("name", ["cholesky", "eigh_moduli", "svd_reconstruct", "qr",
                                  "svdvals", "pinv_tall"])
def test_complex_decompositions_under_vmap(name):
    f, _, a = DECOMP[name]
    stack = np.stack([a, a * (1 + 0.5j), a.conj()])
    got = fa.vmap(f)(stack)
    loop = [f(m) for m in stack]
    if isinstance(loop[0], tuple):
        loop = tuple(np.stack(x) for x in zip(*loop))
    else:
        loop = np.stack(loop)
    _tree_close(got, loop, rtol=1e-10, atol=1e-12)


def test_complex64_decompositions():
    a = _cmat(3, 3, seed=4, dtype=np.complex64)
    h = _herm(a).astype(np.complex64)
    L = fnp.linalg.cholesky(h)
    assert L.dtype == np.complex64
    np.testing.assert_allclose(L, np.linalg.cholesky(h), rtol=1e-4, atol=1e-5)
    w, v = fnp.linalg.eigh(h)
    assert w.dtype == np.float32 and v.dtype == np.complex64
    u, s, vh = fnp.linalg.svd(a)
    assert s.dtype == np.float32
    np.testing.assert_allclose((u * s) @ vh, a, rtol=1e-4, atol=1e-5)
    check_grads(lambda a: fnp.linalg.svd(a, compute_uv=False), (a,), order=1)


def test_complex_eigh_and_svd_derivative_conventions():
    # JAX's gauges: diag(V^H dV) = 0 for eigh; for svd diag(V^H dV) = 0 and the shared phase
    # goes to U: Im diag(U^H dU) = Im diag(U^H dA V) / s
    a = A3
    h = a + a.conj().T
    t = _cmat(3, 3, seed=5)
    th = t + t.conj().T
    (w, v), (dw, dv) = fa.jvp(fnp.linalg.eigh, (h,), (th,))
    np.testing.assert_allclose(np.diag(np.asarray(v).conj().T @ dv), 0, atol=1e-12)
    assert np.asarray(dw).dtype == np.float64
    (u, s, vh), (du, ds, dvh) = fa.jvp(lambda a: fnp.linalg.svd(a), (a,), (t,))
    u, vh, du, dvh = map(np.asarray, (u, vh, du, dvh))
    np.testing.assert_allclose(np.diag(vh @ dvh.conj().T), 0, atol=1e-12)
    d = u.conj().T @ t @ vh.conj().T
    np.testing.assert_allclose(np.diag(u.conj().T @ du).imag, np.diag(d).imag / s,
                               atol=1e-12)
    np.testing.assert_allclose(ds, np.diag(d).real, atol=1e-12)


# -- eig ---------------------------------------------------------------------------------------

REAL4 = np.random.default_rng(11).normal(size=(4, 4))  # two real, one conjugate pair
EIG_INPUTS = {"real": REAL4, "complex": _cmat(4, 4, seed=12),
              "float32": REAL4.astype(np.float32), "complex64": _cmat(3, 3, 13, np.complex64)}


@pytest.mark.parametrize("kind", sorted(EIG_INPUTS))
def test_eig_values_vs_numpy(kind):
    a = EIG_INPUTS[kind]
    w_np, v_np = np.linalg.eig(a)
    cdt = np.result_type(a.dtype, np.complex64)
    tol = dict(rtol=1e-4, atol=1e-5) if cdt == np.complex64 else dict(rtol=1e-10,
                                                                      atol=1e-12)
    for eig in (fnp.linalg.eig, fa.jit(fnp.linalg.eig)):
        w, v = eig(a)
        assert w.dtype == cdt and v.dtype == cdt
        np.testing.assert_allclose(w, w_np, **tol)  # LAPACK's order, as NumPy
        np.testing.assert_allclose(np.abs(v), np.abs(v_np), **tol)
        np.testing.assert_allclose(a @ v, v * w, **tol)
        np.testing.assert_allclose(np.linalg.norm(v, axis=0), 1, **tol)
    np.testing.assert_allclose(fnp.linalg.eigvals(a), w_np, **tol)
    # lax.linalg.eig: [w, vl, vr], the left eigenvectors as LAPACK's (up to phase)
    w, vl, vr = lax.linalg.eig(a)
    _, vl_sp = scipy.linalg.eig(a, left=True, right=False)
    np.testing.assert_allclose(np.abs(vl), np.abs(vl_sp), **tol)
    np.testing.assert_allclose(vl.conj().T @ a, w[:, None] * vl.conj().T, **tol)
    assert len(lax.linalg.eig(a, compute_left_eigenvectors=False)) == 2
    assert len(lax.linalg.eig(a, compute_left_eigenvectors=False,
                              compute_right_eigenvectors=False)) == 1


def test_eig_under_vmap():
    stack = np.stack([REAL4, REAL4.T, REAL4 @ REAL4])
    np.testing.assert_allclose(fa.vmap(fnp.linalg.eigvals)(stack),
                               np.stack([np.linalg.eigvals(m) for m in stack]), rtol=1e-10)
    w, v = fa.vmap(fnp.linalg.eig)(stack)
    for i, m in enumerate(stack):
        np.testing.assert_allclose(w[i], np.linalg.eig(m)[0], rtol=1e-10)
        np.testing.assert_allclose(np.abs(v[i]), np.abs(np.linalg.eig(m)[1]), rtol=1e-10,
                                   atol=1e-12)


@pytest.mark.parametrize("kind", ["real", "complex"])
def test_eigvals_derivatives(kind):
    a = EIG_INPUTS[kind]
    check_grads(fnp.linalg.eigvals, (a,), order=2)
    # eig's eigenvalues are differentiable in reverse mode too (its vectors unused)
    def loss(f):
        return lambda a: fnp.sum(fnp.abs(f(a)) ** 2 + fnp.real(f(a)))
    np.testing.assert_allclose(fa.grad(loss(lambda a: fnp.linalg.eig(a)[0]))(a),
                               fa.grad(loss(fnp.linalg.eigvals))(a), rtol=1e-12)
    # dw = diag(V^-1 dA V); a sum of eigenvalues is the trace
    np.testing.assert_allclose(fa.grad(lambda a: fnp.real(fnp.sum(fnp.linalg.eigvals(a))))(a),
                               np.eye(4), atol=1e-12)


def test_eigvals_third_order_and_hessian():
    a = EIG_INPUTS["complex"][:3, :3]
    check_grads(fnp.linalg.eigvals, (a,), order=3, modes=("fwd",))
    hess = fa.hessian(lambda a: fnp.sum(fnp.real(fnp.linalg.eigvals(a)) ** 2))(REAL4)
    assert hess.shape == (4, 4, 4, 4) and np.all(np.isfinite(hess))


def test_eig_eigenvector_derivatives_raise():
    a = REAL4
    uses_vectors = [
        lambda: fa.jvp(fnp.linalg.eig, (a,), (a,)),
        lambda: fa.grad(lambda a: fnp.sum(fnp.abs(fnp.linalg.eig(a)[1])))(a),
        lambda: fa.jit(lambda a: fa.jvp(fnp.linalg.eig, (a,), (a,)))(a),
        lambda: fa.vmap(fa.grad(lambda a: fnp.sum(fnp.abs(fnp.linalg.eig(a)[1]))))(
            np.stack([a, a])),
        lambda: fa.grad(lambda a: fnp.sum(fnp.abs(lax.linalg.eig(a)[1])))(a),
    ]
    for f in uses_vectors:
        with pytest.raises(NotImplementedError, match="derivatives of the eigenvectors"):
            f()


# -- Numba: real compiles (slow; two programs cover everything above) -------------------------


def test_complex_ordering_and_linalg_under_numba(numba_on):
    z = _ties_and_nans()
    stack = np.stack([A3, A3 * (1 - 0.5j)])
    reals = np.stack([REAL4, REAL4.T])

    def program(z, stack, reals):
        u, s, vh = fnp.linalg.svd(stack, full_matrices=False)
        q, r = fnp.linalg.qr(stack)
        w, v = fnp.linalg.eigh(stack + _H(stack))
        ew, ev = fnp.linalg.eig(reals)
        return [fnp.sort(z, axis=1), fnp.argsort(z, axis=0), fnp.max(z, axis=1),
                fnp.argmin(z, axis=0), fnp.sort_complex(z[0]),
                fnp.linalg.cholesky(stack @ _H(stack) + fnp.eye(3)), s, (u * s[..., None, :]) @ vh,
                q @ r, w, fnp.abs(v) ** 2, ew, fnp.abs(ev), fnp.linalg.eigvals(stack),
                fnp.linalg.eigvals(reals.astype(np.float32)), fnp.linalg.eig(stack)[1]]
    got = fa.jit(program)(z, stack, reals)
    herm = stack + np.conj(np.swapaxes(stack, -1, -2))
    want = [np.sort(z, axis=1), np.argsort(z, axis=0, kind="stable"), np.max(z, axis=1),
            np.argmin(z, axis=0), np.sort_complex(z[0]),
            np.linalg.cholesky(stack @ np.conj(np.swapaxes(stack, -1, -2)) + np.eye(3)),
            np.linalg.svd(stack, compute_uv=False), stack, stack,
            np.linalg.eigvalsh(herm), np.abs(np.linalg.eigh(herm)[1]) ** 2,
            np.linalg.eig(reals)[0], np.abs(np.linalg.eig(reals)[1]),
            np.linalg.eigvals(stack), np.linalg.eigvals(reals.astype(np.float32)), None]
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        if w is None:  # complex eigenvectors: a v = v w
            ws = np.linalg.eigvals(stack)
            np.testing.assert_allclose(stack @ g, g * ws[:, None, :], atol=1e-10)
            continue
        tol = 1e-4 if np.asarray(g).dtype == np.complex64 else 1e-10
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol, err_msg=f"output {i}")
    # derivatives compiled: eigenvalues of eig, svd and eigh of complex matrices
    grad = fa.jit(fa.grad(lambda a, c: fnp.sum(fnp.real(fnp.linalg.eigvals(a)) ** 2)
                          + fnp.sum(fnp.linalg.svd(c, compute_uv=False))
                          + fnp.sum(fnp.abs(fnp.linalg.eigh(c + _H(c))[1][0]) ** 2),
                          argnums=(0, 1)))
    ref = fa.grad(lambda a, c: fnp.sum(fnp.real(fnp.linalg.eigvals(a)) ** 2)
                  + fnp.sum(fnp.linalg.svd(c, compute_uv=False))
                  + fnp.sum(fnp.abs(fnp.linalg.eigh(c + _H(c))[1][0]) ** 2),
                  argnums=(0, 1))
    for g, w in zip(grad(REAL4, A3), ref(REAL4, A3)):
        np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-11)


def test_cholesky_symmetrizes_as_jax_and_numpy_dispatch_reads_one_triangle():
    # JAX's default (symmetrize_input=True) splits the derivative with respect to a[i, j]
    # and a[j, i] evenly (the autodiff cookbook's last cell needs it); NumPy's own
    # function on traced values reads the lower triangle, as NumPy.
    a = _herm_t(A3)
    f = lambda x: fnp.sum(fnp.abs(fnp.linalg.cholesky(x)) ** 2 + fnp.real(
        fnp.linalg.cholesky(x)))
    g = np.asarray(fa.grad(f)(a))
    np.testing.assert_allclose(g, np.conj(g.T), rtol=1e-12, atol=1e-14)
    low = np.asarray(fa.grad(lambda x: fnp.sum(fnp.real(np.linalg.cholesky(x))))(a))
    assert np.all(np.triu(low, 1) == 0) and np.any(np.tril(low, -1) != 0)
    explicit = fa.grad(lambda x: fnp.sum(fnp.real(
        fnp.linalg.cholesky(x, symmetrize_input=False))))(a)
    np.testing.assert_allclose(explicit, low, rtol=1e-13)
