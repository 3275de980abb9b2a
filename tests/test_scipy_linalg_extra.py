"""funcad.scipy.linalg's special matrices, svd, solve_sylvester, expm_frechet and funm
(funcad/scipy/_linalg_extra.py), against scipy.linalg.

- values and dtypes on a few shapes and dtypes (float64, float32, complex, int where SciPy
  keeps them), eagerly, under jit and (batched builders, solve_sylvester, svd) vmap and
  leading batch axes as JAX's;
- check_grads to order 2 in both modes for the differentiable ones;
- the errors of bad sizes, modes and kinds.
"""

import numpy as np
import pytest
import scipy.linalg as sl

import funcad as fa
import funcad.numpy as fnp
import funcad.scipy.linalg as fsl
from funcad.test_util import check_grads

RTOL = {np.float32: 2e-5, np.float64: 1e-12, np.complex64: 2e-5, np.complex128: 1e-12}


def _rand(rng, shape, dtype):
    x = rng.standard_normal(shape)
    if np.dtype(dtype).kind == "c":
        x = x + 1j * rng.standard_normal(shape)
    return x.astype(dtype)


def _close(got, want, dtype=np.float64, atol=None):
    got = np.asarray(got)
    assert got.shape == np.shape(want), (got.shape, np.shape(want))
    tol = RTOL[np.dtype(dtype).type]
    np.testing.assert_allclose(got, want, rtol=tol * 10,
                               atol=tol * 10 if atol is None else atol)


BUILDERS_2 = {"toeplitz": lambda c, r: fsl.toeplitz(c, r),
              "hankel": lambda c, r: fsl.hankel(c, r)}


@pytest.mark.parametrize("name", ["toeplitz", "hankel"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex128])
@pytest.mark.parametrize("m,n", [(4, 3), (1, 5), (3, 1)])
def test_toeplitz_hankel(name, dtype, m, n):
    rng = np.random.default_rng(0)
    c, r = _rand(rng, (m,), dtype), _rand(rng, (n,), dtype)
    f, ref = getattr(fsl, name), getattr(sl, name)
    out = f(c, r)
    assert isinstance(out, fa.Array) and out.dtype == dtype
    _close(out, ref(c, r), dtype)
    _close(f(c), ref(c), dtype)           # r defaults: conj(c) / zeros
    _close(fa.jit(f)(c, r), ref(c, r), dtype)
    # leading axes are batch axes (JAX), and vmap agrees with them
    cb, rb = _rand(rng, (2, m), dtype), _rand(rng, (2, n), dtype)
    want = np.stack([ref(cb[i], rb[i]) for i in range(2)])
    _close(f(cb, rb), want, dtype)
    _close(fa.vmap(f)(cb, rb), want, dtype)
    _close(f(cb, rb[0]), np.stack([ref(cb[i], rb[0]) for i in range(2)]), dtype)


def test_toeplitz_int_and_empty():
    c = np.array([1, 2, 3])
    out = fsl.toeplitz(c)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, sl.toeplitz(c))
    np.testing.assert_array_equal(fsl.hankel(c, [9, 4, 5, 6]), sl.hankel(c, [9, 4, 5, 6]))
    assert fsl.toeplitz(np.zeros(0)).shape == (0, 0)
    with pytest.raises(ValueError, match="at least 1-dimensional"):
        fsl.hankel(1.0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex128])
def test_circulant_fiedler(dtype):
    rng = np.random.default_rng(1)
    c = _rand(rng, (5,), dtype)
    _close(fsl.circulant(c), sl.circulant(c), dtype)
    _close(fa.jit(fsl.circulant)(c), sl.circulant(c), dtype)
    cb = _rand(rng, (3, 5), dtype)
    want = np.stack([sl.circulant(x) for x in cb])
    _close(fsl.circulant(cb), want, dtype)
    _close(fa.vmap(fsl.circulant)(cb), want, dtype)
    if dtype != np.complex128:
        _close(fsl.fiedler(c), sl.fiedler(c), dtype)
        _close(fa.jit(fsl.fiedler)(c), sl.fiedler(c), dtype)
        _close(fa.vmap(fsl.fiedler)(cb), np.stack([sl.fiedler(x) for x in cb]), dtype)
    np.testing.assert_array_equal(fsl.fiedler(np.array([1, 4, 12, 45, 77])),
                                  sl.fiedler([1, 4, 12, 45, 77]))


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex128])
@pytest.mark.parametrize("n", [2, 3, 5])
def test_leslie_companion(dtype, n):
    rng = np.random.default_rng(2)
    f, s = _rand(rng, (n,), dtype), _rand(rng, (n - 1,), dtype)
    _close(fsl.leslie(f, s), sl.leslie(f, s), dtype)
    _close(fa.jit(fsl.leslie)(f, s), sl.leslie(f, s), dtype)
    a = _rand(rng, (n,), dtype) + 2
    _close(fsl.companion(a), sl.companion(a), dtype)
    _close(fa.jit(fsl.companion)(a), sl.companion(a), dtype)
    ab = _rand(rng, (3, n), dtype) + 2
    want = np.stack([sl.companion(x) for x in ab])
    _close(fsl.companion(ab), want, dtype)
    _close(fa.vmap(fsl.companion)(ab), want, dtype)
    fb, sb = _rand(rng, (3, n), dtype), _rand(rng, (3, n - 1), dtype)
    want = np.stack([sl.leslie(fb[i], sb[i]) for i in range(3)])
    _close(fsl.leslie(fb, sb), want, dtype)
    _close(fa.vmap(fsl.leslie)(fb, sb), want, dtype)


def test_leslie_companion_errors_and_dtypes():
    assert fsl.companion(np.array([1, -10, 31, -30])).dtype == np.float64
    np.testing.assert_array_equal(fsl.companion([1, -10, 31, -30]),
                                  sl.companion([1, -10, 31, -30]))
    with pytest.raises(ValueError, match="at least 2"):
        fsl.companion([1.0])
    with pytest.raises(ValueError, match="at least 2"):
        fsl.leslie([1.0], [])
    with pytest.raises(ValueError, match="one less"):
        fsl.leslie([1.0, 2.0, 3.0], [1.0])


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 8])
def test_fiedler_companion(n):
    rng = np.random.default_rng(3)
    a = rng.standard_normal(n) + 2.0
    # (n == 1: SciPy returns an empty vector, JAX (and funcad) an empty (0, 0) matrix)
    ref = sl.fiedler_companion(a).reshape(n - 1, n - 1)
    _close(fsl.fiedler_companion(a), ref)
    _close(fa.jit(fsl.fiedler_companion)(a), ref)
    ab = rng.standard_normal((2, n)) + 2.0
    want = np.stack([sl.fiedler_companion(x).reshape(n - 1, n - 1) for x in ab])
    _close(fsl.fiedler_companion(ab), want)
    _close(fa.vmap(fsl.fiedler_companion)(ab), want)
    if n > 1:   # eigenvalues are the roots
        ev = np.sort_complex(np.linalg.eigvals(np.asarray(fsl.fiedler_companion(a))))
        np.testing.assert_allclose(ev, np.sort_complex(np.roots(a)), atol=1e-8)


@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("m,n", [(3, 5), (5, 3), (4, 4), (1, 3), (3, 1)])
def test_convolution_matrix(mode, m, n):
    rng = np.random.default_rng(4)
    a = rng.standard_normal(m)
    A = fsl.convolution_matrix(a, n, mode)
    _close(A, sl.convolution_matrix(a, n, mode))
    v = rng.standard_normal(n)
    _close(np.asarray(A) @ v, np.convolve(a, v, mode))
    _close(fa.jit(fsl.convolution_matrix, static_argnums=(1, 2))(a, n, mode),
           sl.convolution_matrix(a, n, mode))
    ab = rng.standard_normal((2, m))
    _close(fa.vmap(lambda x: fsl.convolution_matrix(x, n, mode))(ab),
           np.stack([sl.convolution_matrix(x, n, mode) for x in ab]))


def test_convolution_matrix_errors():
    with pytest.raises(ValueError, match="positive"):
        fsl.convolution_matrix([1.0, 2.0], 0)
    with pytest.raises(ValueError, match="mode"):
        fsl.convolution_matrix([1.0, 2.0], 3, "bad")
    with pytest.raises(TypeError, match="static"):
        fsl.convolution_matrix([1.0, 2.0], 2.5)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64])
def test_block_diag(dtype):
    rng = np.random.default_rng(5)
    arrs = [(rng.standard_normal((2, 3)) * 5).astype(dtype), np.array([1, 2], dtype=dtype),
            np.array(7, dtype=dtype), (rng.standard_normal((3, 1)) * 5).astype(dtype)]
    out = fsl.block_diag(*arrs)
    assert out.dtype == dtype
    _close(out, sl.block_diag(*arrs), np.float32 if dtype == np.float32 else np.float64)
    _close(fa.jit(fsl.block_diag)(*arrs), sl.block_diag(*arrs),
           np.float32 if dtype == np.float32 else np.float64)
    assert fsl.block_diag().shape == sl.block_diag().shape == (1, 0)
    np.testing.assert_array_equal(fsl.block_diag(np.eye(2), np.zeros((0, 2)), [[5.0]]),
                                  sl.block_diag(np.eye(2), np.zeros((0, 2)), [[5.0]]))
    with pytest.raises(ValueError, match="at most 2 dimensions"):
        fsl.block_diag(np.ones((1, 1, 1)))


def test_block_diag_under_vmap():
    rng = np.random.default_rng(6)
    a, b = rng.standard_normal((3, 2, 2)), rng.standard_normal((3, 1, 3))
    _close(fa.vmap(fsl.block_diag)(a, b), np.stack([sl.block_diag(a[i], b[i])
                                                    for i in range(3)]))


@pytest.mark.parametrize("n", [0, 1, 2, 5, 12])
def test_size_matrices(n):
    for name in ["hilbert", "invhilbert", "pascal", "invpascal"]:
        out = getattr(fsl, name)(n)
        assert isinstance(out, fa.Array) and out.dtype == np.float64, name
        np.testing.assert_array_equal(out, np.asarray(getattr(sl, name)(n), dtype=np.float64),
                                      err_msg=name)
    for kind in ["lower", "upper", "symmetric"]:
        np.testing.assert_array_equal(fsl.pascal(n, kind), sl.pascal(n, kind))
        np.testing.assert_array_equal(fsl.invpascal(n, kind), sl.invpascal(n, kind))
    if n >= 1:
        for full in (False, True):
            _close(fsl.helmert(n, full), sl.helmert(n, full))
    for scale in (None, "sqrtn", "n"):
        if n >= 1:
            _close(fsl.dft(n, scale), sl.dft(n, scale), atol=1e-14)
    assert fsl.dft(3, dtype=np.complex64).dtype == np.complex64


def test_size_matrices_large_and_jit():
    # exact: binomials and the inverse Hilbert matrix from Python integers
    np.testing.assert_array_equal(fsl.pascal(30), sl.pascal(30).astype(np.float64))
    np.testing.assert_array_equal(fsl.invhilbert(14), sl.invhilbert(14))
    # beyond 2^53: each entry the correctly rounded integer (SciPy's exact=True ones)
    for kind in ("symmetric", "lower"):
        np.testing.assert_array_equal(fsl.pascal(40, kind),
                                      sl.pascal(40, kind, exact=True).astype(np.float64))
        np.testing.assert_array_equal(fsl.invpascal(40, kind),
                                      sl.invpascal(40, kind, exact=True).astype(np.float64))
    np.testing.assert_array_equal(fsl.invhilbert(30),
                                  sl.invhilbert(30, exact=True).astype(np.float64))
    big = np.asarray(fsl.pascal(600))      # past float64's range: inf, as SciPy's floats
    assert np.isinf(big[-1, -1]) and big[-1, -1] > 0 and big[0, -1] == 1
    np.testing.assert_array_equal(fa.jit(fsl.hilbert, static_argnums=0)(4), sl.hilbert(4))
    np.testing.assert_array_equal(fa.jit(lambda: fsl.pascal(4, "upper"))(),
                                  sl.pascal(4, "upper"))
    for n in (1, 2, 8, 32):
        h = fsl.hadamard(n)
        assert h.dtype == np.int64
        np.testing.assert_array_equal(h, sl.hadamard(n))
    assert fsl.hadamard(4, dtype=np.float32).dtype == np.float32


def test_size_matrices_errors():
    with pytest.raises(ValueError, match="power of 2"):
        fsl.hadamard(6)
    with pytest.raises(ValueError, match="positive"):
        fsl.helmert(0)
    with pytest.raises(ValueError, match="kind"):
        fsl.pascal(3, "diagonal")
    with pytest.raises(ValueError, match="kind"):
        fsl.invpascal(3, "diagonal")
    with pytest.raises(ValueError, match="scale"):
        fsl.dft(3, "bad")
    with pytest.raises(ValueError, match="complex"):
        fsl.dft(3, dtype=np.float64)
    with pytest.raises(TypeError, match="static"):
        fa.jit(fsl.hilbert)(3)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex128])
@pytest.mark.parametrize("shape", [(4, 4), (5, 3), (3, 5)])
def test_svd(dtype, shape):
    rng = np.random.default_rng(7)
    a = _rand(rng, shape, dtype)
    k = min(shape)
    s = fsl.svd(a, compute_uv=False)
    assert s.dtype == np.dtype(dtype).type(0).real.dtype
    _close(s, sl.svd(a, compute_uv=False), dtype)
    for full in (True, False):
        u, s, vh = fsl.svd(a, full_matrices=full)
        uu, _, vv = sl.svd(a, full_matrices=full)
        assert u.shape == uu.shape and vh.shape == vv.shape
        _close(np.asarray(u)[:, :k] * np.asarray(s) @ np.asarray(vh)[:k], a, dtype)
        _close(np.asarray(u).conj().T @ np.asarray(u), np.eye(u.shape[1]), dtype)
    _close(fa.jit(lambda x: fsl.svd(x, compute_uv=False))(a),
           sl.svd(a, compute_uv=False), dtype)
    ab = _rand(rng, (2, *shape), dtype)
    _close(fa.vmap(lambda x: fsl.svd(x, compute_uv=False))(ab),
           np.stack([sl.svd(x, compute_uv=False) for x in ab]), dtype)
    _close(fsl.svd(ab, compute_uv=False, lapack_driver="gesvd"),
           np.stack([sl.svd(x, compute_uv=False) for x in ab]), dtype)
    with pytest.raises(ValueError, match="lapack_driver"):
        fsl.svd(a, lapack_driver="bad")


def _ref_sylvester(A, B, C):
    # SciPy in one dtype: a complex A with a real B gives SciPy wrong answers
    wide = np.complex128 if np.iscomplexobj(A) else np.float64
    return sl.solve_sylvester(A.astype(wide), B.astype(wide), C.astype(wide))


def _sylvester_problem(rng, m, n, dtype, batch=()):
    A = _rand(rng, (*batch, m, m), dtype) + 3 * np.eye(m, dtype=dtype)
    B = _rand(rng, (*batch, n, n), dtype) + 3 * np.eye(n, dtype=dtype)
    C = _rand(rng, (*batch, m, n), dtype)
    return A, B, C


@pytest.mark.parametrize("method", ["schur", "eigen"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex128, np.complex64])
@pytest.mark.parametrize("m,n", [(3, 3), (4, 2), (1, 3)])
def test_solve_sylvester(method, dtype, m, n):
    rng = np.random.default_rng(8)
    A, B, C = _sylvester_problem(rng, m, n, dtype)
    want = _ref_sylvester(A, B, C)
    X = fsl.solve_sylvester(A, B, C, method=method)
    assert X.dtype == dtype
    _close(X, want, dtype, atol=1e-4 if dtype in (np.float32, np.complex64) else 1e-11)
    _close(fa.jit(lambda *a: fsl.solve_sylvester(*a, method=method))(A, B, C), want, dtype,
           atol=1e-4 if dtype in (np.float32, np.complex64) else 1e-11)
    Ab, Bb, Cb = _sylvester_problem(rng, m, n, dtype, batch=(3,))
    want = np.stack([_ref_sylvester(Ab[i], Bb[i], Cb[i]) for i in range(3)]).astype(dtype)
    atol = 1e-4 if dtype in (np.float32, np.complex64) else 1e-11
    _close(fsl.solve_sylvester(Ab, Bb, Cb, method=method), want, dtype, atol=atol)
    _close(fa.vmap(lambda *a: fsl.solve_sylvester(*a, method=method))(Ab, Bb, Cb), want,
           dtype, atol=atol)
    _close(fa.vmap(fsl.solve_sylvester, (0, None, 0))(Ab, Bb[0], Cb),
           np.stack([_ref_sylvester(Ab[i], Bb[0], Cb[i]) for i in range(3)]).astype(dtype),
           dtype, atol=atol)


def test_solve_sylvester_singular_and_errors():
    A = np.diag([1.0, 2.0])
    B = -np.diag([1.0, 3.0])
    C = np.ones((2, 2))
    for method in ("schur", "eigen"):   # an eigenvalue sum of 0: NaNs, as JAX
        assert np.isnan(np.asarray(fsl.solve_sylvester(A, B, C, method=method))).all()
    np.testing.assert_allclose(fsl.solve_sylvester(np.array([[1, 2], [3, 4]]),
                                                   np.array([[5, 6], [7, 8]]),
                                                   np.array([[6, 8], [10, 12]])),
                               np.eye(2), atol=1e-12)
    with pytest.raises(ValueError, match="Incompatible shapes"):
        fsl.solve_sylvester(np.eye(2), np.eye(3), np.ones((2, 2)))
    with pytest.raises(ValueError, match="method"):
        fsl.solve_sylvester(np.eye(2), np.eye(2), np.ones((2, 2)), method="bad")


# -- derivatives ------------------------------------------------------------------------------


def test_grads_builders():
    rng = np.random.default_rng(9)
    c, r = rng.standard_normal(4), rng.standard_normal(3)
    kw = dict(order=2, modes=("fwd", "rev"))
    check_grads(fsl.toeplitz, (c, r), **kw)
    check_grads(fsl.toeplitz, (c,), **kw)
    check_grads(fsl.toeplitz, (c + 1j * r[0],), **kw)
    check_grads(fsl.hankel, (c, r), **kw)
    check_grads(fsl.circulant, (c,), **kw)
    check_grads(fsl.leslie, (c, r), **kw)
    check_grads(fsl.companion, (c + np.array([3.0, 0, 0, 0]),), **kw)
    check_grads(fsl.fiedler_companion, (c + np.array([3.0, 0, 0, 0]),), **kw)
    check_grads(lambda a: fsl.convolution_matrix(a, 3, "same"), (c,), **kw)
    check_grads(lambda a, b, s: fsl.block_diag(a, b, s),
                (rng.standard_normal((2, 2)), rng.standard_normal((1, 3)), 1.5), **kw)
    check_grads(fa.jit(fsl.toeplitz), (c, r), **kw)


def test_grads_svd():
    rng = np.random.default_rng(10)
    kw = dict(order=2, modes=("fwd", "rev"))
    for shape in [(3, 3), (4, 2)]:
        a = rng.standard_normal(shape)
        check_grads(lambda x: fsl.svd(x, compute_uv=False), (a,), **kw)

        def recon(x):   # U diag(s) V^H: invariant to the signs of the singular vectors
            u, s, vh = fsl.svd(x, full_matrices=False)
            return (u * s[None, :]) @ vh
        check_grads(recon, (a,), **kw)


@pytest.mark.parametrize("method", ["schur", "eigen"])
def test_grads_solve_sylvester(method):
    rng = np.random.default_rng(11)
    A, B, C = _sylvester_problem(rng, 3, 2, np.float64)
    kw = dict(order=2, modes=("fwd", "rev"))

    def f(*a):
        return fsl.solve_sylvester(*a, method=method)
    check_grads(f, (A, B, C), **kw)
    check_grads(fa.jit(f), (A, B, C), **kw)
    Ac, Bc, Cc = _sylvester_problem(rng, 2, 2, np.complex128)
    check_grads(f, (Ac, Bc, Cc), order=1, modes=("fwd", "rev"))
    # against the vec formulation, (I x A + B^T x I) vec(X) = vec(C)
    g = fa.grad(lambda a: fnp.sum(fsl.solve_sylvester(a, B, C) ** 2))(A)

    def dense(a):
        K = fnp.kron(fnp.eye(2), a) + fnp.kron(B.T, fnp.eye(3))
        x = fnp.linalg.solve(K, C.T.reshape(-1))
        return fnp.sum(x ** 2)
    _close(g, fa.grad(dense)(A), atol=1e-10)


# -- expm_frechet, funm -----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_expm_frechet(dtype):
    rng = np.random.default_rng(12)
    A, E = _rand(rng, (3, 3), dtype), _rand(rng, (3, 3), dtype)
    eA, L = fsl.expm_frechet(A, E)
    eA2, L2 = sl.expm_frechet(A, E)
    _close(eA, eA2, dtype, atol=1e-12)
    _close(L, L2, dtype, atol=1e-12)
    _close(fsl.expm_frechet(A, E, compute_expm=False), L2, dtype, atol=1e-12)
    _close(fa.jit(fsl.expm_frechet)(A, E)[1], L2, dtype, atol=1e-12)
    Ab, Eb = _rand(rng, (2, 3, 3), dtype), _rand(rng, (2, 3, 3), dtype)
    _close(fa.vmap(lambda a, e: fsl.expm_frechet(a, e, compute_expm=False))(Ab, Eb),
           np.stack([sl.expm_frechet(Ab[i], Eb[i])[1] for i in range(2)]), dtype, atol=1e-12)
    with pytest.raises(ValueError, match="same shape"):
        fsl.expm_frechet(np.eye(2), np.eye(3))


def test_funm():
    rng = np.random.default_rng(13)
    A = rng.standard_normal((4, 4))
    F = fsl.funm(A, fnp.exp)
    assert F.dtype == np.complex128
    _close(F, sl.funm(A, np.exp), atol=1e-11)
    _close(fsl.funm(A, lambda x: fnp.sin(x) + 2 * fnp.cos(x)),
           sl.funm(A, lambda x: np.sin(x) + 2 * np.cos(x)), atol=1e-11)
    for n in (1, 2, 12):
        B = rng.standard_normal((n, n))
        F, err = fsl.funm(B, fnp.exp, disp=False)
        F2, err2 = sl.funm(B, np.exp, disp=False)
        _close(F, F2, atol=1e-11)
        np.testing.assert_allclose(float(err), err2, rtol=1e-6)
    _close(fsl.funm(np.eye(3), fnp.exp), np.e * np.eye(3))    # equal eigenvalues
    _close(fa.jit(lambda a: fsl.funm(a, fnp.exp))(A), sl.funm(A, np.exp), atol=1e-11)
    with pytest.raises(ValueError, match="square"):
        fsl.funm(np.ones((2, 3)), fnp.exp)
