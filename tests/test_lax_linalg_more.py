"""The rest of jax.lax.linalg (issue 10): tridiagonal_solve, hessenberg, tridiagonal, schur,
householder_product, ormqr, symmetric_product, cholesky_update, qdwh, and funcad.scipy.linalg's schur, hessenberg, polar and
eigh_tridiagonal.

- tridiagonal_solve: values vs SciPy's gtsv and a dense solve (float32/64, complex, stacks,
  several right-hand sides, pivoting, JAX's examples, NaNs for singular systems), eager,
  jit and vmap (every in_axes pattern) vs a loop, check_grads to order 2 in both modes in
  every operand, and one Numba-compiled program (values and gradient).
- hessenberg / tridiagonal / schur: values vs LAPACK through SciPy, reconstructions
  (Q H Q^H = A, T quasi-triangular, Z unitary), stacks, jit, vmap; derivatives raise
  NotImplementedError naming the decomposition (as JAX has no rule); one Numba-compiled
  program (Python driver, and a scan over them).
- scipy.linalg.rsf2csf (vs SciPy) and sqrtm (the complex Schur method; vs SciPy).
- qdwh / polar: u h = a, u orthonormal, h Hermitian positive definite, vs scipy.linalg.polar;
  jit, vmap, derivatives through the iteration.
"""

import numpy as np
import pytest
import scipy.linalg
from scipy.linalg import lapack

import funcad as fa
import funcad.numpy as fnp
import funcad.scipy.linalg as fsl
from funcad import lax
from funcad.test_util import check_grads

DTYPES = [np.float32, np.float64, np.complex64, np.complex128]
TOL = {np.float32: 2e-4, np.float64: 1e-11, np.complex64: 2e-4, np.complex128: 1e-11}


@pytest.fixture
def numba_on(monkeypatch):
    """Compile with Numba (tests default to running the generated source as Python)."""
    monkeypatch.setenv("FUNCAD_DISABLE_JIT", "0")


def _rand(rng, shape, dtype):
    x = rng.normal(size=shape)
    if np.dtype(dtype).kind == "c":
        x = x + 1j * rng.normal(size=shape)
    return x.astype(dtype)


def _band(rng, shape, k, dtype, dominant=True):
    dl, du = _rand(rng, shape, dtype), _rand(rng, shape, dtype)
    d = _rand(rng, shape, dtype)
    if dominant:
        d = (d + 4 * np.sign(d.real)).astype(dtype)
    return dl, d, du, _rand(rng, shape + (k,), dtype)


def _dense(dl, d, du):
    """The dense matrices of bands [..., m] (JAX's convention)."""
    m = d.shape[-1]
    a = np.zeros(d.shape + (m,), d.dtype)
    i = np.arange(m)
    a[..., i, i] = d
    a[..., i[1:], i[:-1]] = dl[..., 1:]
    a[..., i[:-1], i[1:]] = du[..., :-1]
    return a


# -- tridiagonal_solve --------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,k", [((1,), 1), ((2,), 2), ((6,), 1), ((3, 5), 2),
                                     ((2, 3, 4), 3)])
def test_tridiagonal_solve_values(dtype, shape, k):
    rng = np.random.default_rng(0)
    dl, d, du, b = _band(rng, shape, k, dtype, dominant=False)
    x = lax.linalg.tridiagonal_solve(dl, d, du, b)
    assert x.dtype == dtype and x.shape == b.shape
    a = _dense(dl, d, du)
    tol = TOL[dtype] * 50
    np.testing.assert_allclose(x, np.linalg.solve(a, b), rtol=tol, atol=tol)
    if shape[-1] > 1:     # LAPACK's gtsv, the same routine JAX's CPU path calls
        gtsv = lapack.get_lapack_funcs("gtsv", dtype=np.dtype(dtype))
        ref = np.stack([gtsv(l_[1:], d_, u_[:-1], b_)[3] for l_, d_, u_, b_ in
                        zip(dl.reshape(-1, shape[-1]), d.reshape(-1, shape[-1]),
                            du.reshape(-1, shape[-1]), b.reshape((-1,) + b.shape[-2:]))])
        np.testing.assert_array_equal(x.reshape(ref.shape), ref)
    xj = fa.jit(lax.linalg.tridiagonal_solve)(dl, d, du, b)
    np.testing.assert_allclose(xj, x, rtol=tol, atol=tol)


def test_tridiagonal_solve_jax_examples():
    f32 = np.float32
    # row interchanges needed (JAX's tests)
    x = lax.linalg.tridiagonal_solve(np.array([0.0, 2.0, -2.0, 3.0], f32),
                                     np.array([1.0, 4.0, 1.0, -1.0], f32),
                                     np.array([2.0, -1.0, 1.0, 0.0], f32),
                                     np.array([[1.0], [2.0], [3.0], [4.0]], f32))
    np.testing.assert_allclose(x.ravel(), [8.0, -3.5, 0.0, -4.0], atol=1e-5)
    x = fa.jit(lax.linalg.tridiagonal_solve)(np.array([0.0, 1.0, -6.0, 1.0], f32),
                                             np.array([1.0, -1.0, 2.0, 1.0], f32),
                                             np.array([2.0, 1.0, -1.0, 0.0], f32),
                                             np.array([[1.0], [2.0], [-1.0], [-2.0]], f32))
    np.testing.assert_allclose(x.ravel(), [5.0, -2.0, -5.0, 3.0], atol=1e-5)
    # singular systems: NaNs (JAX: NaN or inf)
    for f in (lax.linalg.tridiagonal_solve, fa.jit(lax.linalg.tridiagonal_solve)):
        z = np.zeros(3, f32)
        assert np.isnan(f(z, z, z, np.ones((3, 1), f32))).all()
        x = f(np.array([0.0, 1.0], f32), np.array([1.0, 3.0], f32), np.array([3.0, 0.0], f32),
              np.array([[1.0], [4.0]], f32))
        assert np.isnan(x).all()
    # the endpoints dl[0], du[-1] are not read
    dl, d, du = np.linspace(-1, 1, 10), np.linspace(1, 2, 10), np.linspace(1, -1, 10)
    b = np.linspace(0.1, -0.1, 10)[:, None]
    dlz, duz = dl.copy(), du.copy()
    dlz[0] = duz[-1] = 0.0
    np.testing.assert_array_equal(lax.linalg.tridiagonal_solve(dl, d, du, b),
                                  lax.linalg.tridiagonal_solve(dlz, d, duz, b))


def test_tridiagonal_solve_errors():
    z = np.zeros(3)
    with pytest.raises(TypeError, match="one shape"):
        lax.linalg.tridiagonal_solve(z, np.zeros(4), z, np.zeros((3, 1)))
    with pytest.raises(TypeError, match="b must have shape"):
        lax.linalg.tridiagonal_solve(z, z, z, np.zeros(3))



@pytest.mark.parametrize("dtype", DTYPES)
def test_tridiagonal_solve_perturb_singular(dtype):
    """JAX's perturbed kernel: singular systems give large finite solutions; regular ones
    the ordinary solution (JAX's test cases), eagerly, under jit and vmap, differentiable."""
    f = lambda *a: lax.linalg.tridiagonal_solve(*a, perturb_singular=True)  # noqa: E731
    c = lambda *v: np.array(v, dtype)  # noqa: E731
    for g in (f, fa.jit(f)):
        z = np.zeros(3, dtype)
        x = g(z, z, z, np.ones((3, 1), dtype))
        assert np.isfinite(x).all() and np.all(np.abs(x) > 1e6)
        x = g(c(0, 1), c(1, 3), c(3, 0), c([1], [4]))
        assert np.isfinite(x).all() and np.all(np.abs(x) > 1e6)
        x = g(c(0, 2, -2, 3), c(1, 4, 1, -1), c(2, -1, 1, 0), c([1], [2], [3], [4]))
        np.testing.assert_allclose(x.ravel(), [8.0, -3.5, 0.0, -4.0], atol=1e-5)
        x = g(c(0, 1, -6, 1), c(1, -1, 2, 1), c(2, 1, -1, 0), c([1], [2], [-1], [-2]))
        np.testing.assert_allclose(x.ravel(), [5.0, -2.0, -5.0, 3.0], atol=1e-5)
    rng = np.random.default_rng(20)
    dl, d, du, b = _band(rng, (3, 6), 2, dtype)
    x = f(dl, d, du, b)
    tol = TOL[dtype] * 50
    np.testing.assert_allclose(x, np.linalg.solve(_dense(dl, d, du), b), rtol=tol, atol=tol)
    np.testing.assert_allclose(fa.vmap(f)(dl, d, du, b), x, rtol=tol, atol=tol)
    if dtype in (np.float64, np.complex128):
        check_grads(f, (dl[0], d[0], du[0], b[0]), order=2, modes=("fwd", "rev"))


@pytest.mark.parametrize("in_axes", [0, (None, 0, None, 0), (0, None, 0, None),
                                     (None, None, None, 1), (1, 0, 0, 2)])
def test_tridiagonal_solve_vmap(in_axes):
    rng = np.random.default_rng(1)
    dl, d, du, b = _band(rng, (5,), 2, np.float64)
    args = [dl, d, du, b]
    axes = in_axes if isinstance(in_axes, tuple) else (in_axes,) * 4
    batched = []
    for x, ax in zip(args, axes):
        if ax is None:
            batched.append(x)
        else:
            stack = np.stack([x + 0.1 * i for i in range(3)])
            batched.append(np.moveaxis(stack, 0, ax))
    out = fa.vmap(lax.linalg.tridiagonal_solve, in_axes=in_axes)(*batched)
    for i in range(3):
        one = [x if ax is None else np.take(x, i, axis=ax) for x, ax in zip(batched, axes)]
        np.testing.assert_allclose(out[i], lax.linalg.tridiagonal_solve(*one), rtol=1e-12)
    outj = fa.jit(fa.vmap(lax.linalg.tridiagonal_solve, in_axes=in_axes))(*batched)
    np.testing.assert_allclose(outj, out, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
@pytest.mark.parametrize("shape,k", [((4,), 1), ((2, 3), 2)])
def test_tridiagonal_solve_grads(dtype, shape, k):
    rng = np.random.default_rng(2)
    args = _band(rng, shape, k, dtype)
    check_grads(lax.linalg.tridiagonal_solve, args, order=2, modes=("fwd", "rev"))
    # each operand alone (the others closed over)
    for i in range(4):
        def f(x, i=i):
            a = list(args)
            a[i] = x
            return lax.linalg.tridiagonal_solve(*a)
        check_grads(f, (args[i],), order=1, modes=("fwd", "rev"))


def test_tridiagonal_solve_derivatives_match_dense():
    rng = np.random.default_rng(3)
    dl, d, du, b = _band(rng, (5,), 2, np.float64, dominant=False)

    def loss(dl, d, du, b):
        return fnp.sum(fnp.sin(lax.linalg.tridiagonal_solve(dl, d, du, b)))

    def dense_loss(dl, d, du, b):
        m = 5
        a = (fnp.diag(d) + fnp.diag(dl[1:], -1) + fnp.diag(du[:-1], 1))
        del m
        return fnp.sum(fnp.sin(fnp.linalg.solve(a, b)))

    g = fa.grad(loss, argnums=(0, 1, 2, 3))(dl, d, du, b)
    gd = fa.grad(dense_loss, argnums=(0, 1, 2, 3))(dl, d, du, b)
    for x, y in zip(g, gd):
        np.testing.assert_allclose(x, y, rtol=1e-10, atol=1e-12)
    assert g[0][0] == 0 and g[2][-1] == 0        # the endpoints are not read
    gj = fa.jit(fa.grad(loss, argnums=(0, 1, 2, 3)))(dl, d, du, b)
    for x, y in zip(gj, g):
        np.testing.assert_allclose(x, y, rtol=1e-12)
    h = fa.hessian(loss, argnums=1)(dl, d, du, b)
    hd = fa.hessian(dense_loss, argnums=1)(dl, d, du, b)
    np.testing.assert_allclose(h, hd, rtol=1e-9, atol=1e-11)
    jf = fa.jacfwd(lax.linalg.tridiagonal_solve, argnums=1)(dl, d, du, b)
    jr = fa.jacrev(lax.linalg.tridiagonal_solve, argnums=1)(dl, d, du, b)
    np.testing.assert_allclose(jf, jr, rtol=1e-10, atol=1e-12)


def test_tridiagonal_solve_implicit_heat_step():
    """An implicit (backward Euler) heat equation step: jit(grad) through a scan of solves."""
    n, steps, r = 16, 5, 0.4
    dl = np.full(n, -r)
    du = np.full(n, -r)
    d = np.full(n, 1 + 2 * r)

    def run(u0, diff):
        def step(u, _):
            u = lax.linalg.tridiagonal_solve(dl * diff, 1 + (d - 1) * diff, du * diff,
                                             u[:, None])[:, 0]
            return u, fnp.sum(u)
        u, s = lax.scan(step, u0, None, length=steps)
        return fnp.sum(u ** 2) + fnp.sum(s)

    u0 = np.sin(np.linspace(0, np.pi, n))
    a = _dense(dl, d, du)
    u = u0
    total = 0.0
    for _ in range(steps):
        u = np.linalg.solve(a, u)
        total += u.sum()
    np.testing.assert_allclose(run(u0, 1.0), np.sum(u ** 2) + total, rtol=1e-12)
    g = fa.jit(fa.grad(run, argnums=(0, 1)))(u0, 1.0)
    ge = fa.grad(run, argnums=(0, 1))(u0, 1.0)
    np.testing.assert_allclose(g[0], ge[0], rtol=1e-12)
    check_grads(run, (u0, 1.0), order=1, modes=("fwd", "rev"))


def test_tridiagonal_solve_numba(numba_on):
    """The generated gtsv loop compiled by Numba: equal to LAPACK's gtsv (the eager impl)
    with row interchanges, over a stack, real and complex; with a gradient."""
    rng = np.random.default_rng(4)
    dl, d, du, b = _band(rng, (3, 7), 2, np.float64, dominant=False)
    d = d * 0.1                                   # forces row interchanges
    cl, cd, cu, cb = _band(rng, (2, 6), 1, np.complex128, dominant=False)
    d[2, 3] = 0.0

    def f(dl, d, du, b, cl, cd, cu, cb):
        x = lax.linalg.tridiagonal_solve(dl, d, du, b)
        g = fa.grad(lambda d: fnp.sum(fnp.tanh(lax.linalg.tridiagonal_solve(dl, d, du, b))))(d)
        return x, g, lax.linalg.tridiagonal_solve(cl, cd, cu, cb)

    args = (dl, d, du, b, cl, cd, cu, cb)
    z = np.zeros(3)
    pert = fa.jit(lambda z, b: lax.linalg.tridiagonal_solve(z, z, z, b, perturb_singular=True))
    np.testing.assert_array_equal(pert(z, np.ones((3, 1))), lax.linalg.tridiagonal_solve(
        z, z, z, np.ones((3, 1)), perturb_singular=True))
    out = fa.jit(f)(*args)
    ref = f(*args)
    np.testing.assert_array_equal(out[0], ref[0])
    np.testing.assert_allclose(out[1], ref[1], rtol=1e-12)
    np.testing.assert_array_equal(out[2], ref[2])
    singular = lax.linalg.tridiagonal_solve(np.zeros(3), np.zeros(3), np.zeros(3),
                                            np.ones((3, 1)))
    assert np.isnan(fa.jit(lax.linalg.tridiagonal_solve)(
        np.zeros(3), np.zeros(3), np.zeros(3), np.ones((3, 1)))).all()
    assert np.isnan(singular).all()


# -- hessenberg, tridiagonal, householder_product -----------------------------------------------

def _gehrd(a):
    ht, tau, info = lapack.get_lapack_funcs("gehrd", (a,))(a)
    assert info == 0
    return ht, tau


def _q_of_hessenberg(packed, taus):
    q = lax.linalg.householder_product(packed[..., 1:, :-1], taus)
    n = packed.shape[-1]
    out = np.zeros(packed.shape, packed.dtype)
    out[..., 0, 0] = 1
    out[..., 1:, 1:] = q
    return out


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (2, 2), (5, 5), (2, 3, 4, 4)])
def test_hessenberg(dtype, shape):
    rng = np.random.default_rng(5)
    a = _rand(rng, shape, dtype)
    packed, taus = lax.linalg.hessenberg(a)
    n = shape[-1]
    assert packed.dtype == dtype and taus.dtype == dtype
    assert packed.shape == shape and taus.shape == shape[:-2] + (n - 1,)
    flat = a.reshape((-1, n, n))
    if n > 1:
        for i, m in enumerate(flat):
            ht, tau = _gehrd(m)
            np.testing.assert_allclose(packed.reshape(flat.shape)[i], ht, rtol=TOL[dtype],
                                       atol=TOL[dtype])
            np.testing.assert_allclose(taus.reshape((-1, n - 1))[i], tau, rtol=TOL[dtype],
                                       atol=TOL[dtype])
    h = np.triu(packed, -1)
    q = _q_of_hessenberg(packed, taus)
    tol = TOL[dtype] * 20
    np.testing.assert_allclose(q @ h @ np.conj(np.swapaxes(q, -1, -2)), a, atol=tol)
    np.testing.assert_allclose(np.conj(np.swapaxes(q, -1, -2)) @ q,
                               np.broadcast_to(np.eye(n), shape), atol=tol)
    pj, tj = fa.jit(lax.linalg.hessenberg)(a)
    np.testing.assert_array_equal(pj, packed)
    np.testing.assert_array_equal(tj, taus)
    if len(shape) == 4:
        pv, tv = fa.vmap(fa.vmap(lax.linalg.hessenberg))(a)
        np.testing.assert_array_equal(pv, packed)
        pv, tv = fa.vmap(lax.linalg.hessenberg, in_axes=1)(a)
        np.testing.assert_array_equal(pv, np.swapaxes(packed, 0, 1))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (4, 4), (2, 5, 5)])
@pytest.mark.parametrize("lower", [True, False])
def test_tridiagonal(dtype, shape, lower):
    rng = np.random.default_rng(6)
    a = _rand(rng, shape, dtype)
    packed, d, e, taus = lax.linalg.tridiagonal(a, lower=lower)
    real = np.finfo(dtype).dtype
    assert (packed.dtype, d.dtype, e.dtype, taus.dtype) == (dtype, real, real, dtype)
    n = shape[-1]
    name = "hetrd" if np.dtype(dtype).kind == "c" else "sytrd"
    for i, m in enumerate(a.reshape((-1, n, n))):
        if n == 1:
            continue
        c, dd, ee, tau, info = lapack.get_lapack_funcs(name, (m,))(m, lower=int(lower))
        assert info == 0
        for got, want in ((packed, c), (d, dd), (e, ee), (taus, tau)):
            np.testing.assert_allclose(got.reshape((-1,) + want.shape)[i], want,
                                       rtol=TOL[dtype], atol=TOL[dtype])
    # the eigenvalues of the tridiagonal matrix are those of the Hermitian matrix read
    tri = np.zeros(shape, real)
    idx = np.arange(n)
    tri[..., idx, idx] = d
    tri[..., idx[1:], idx[:-1]] = e
    tri[..., idx[:-1], idx[1:]] = e
    herm = np.tril(a) if lower else np.triu(a)
    herm = herm + np.conj(np.swapaxes(herm, -1, -2))
    herm[..., idx, idx] = herm[..., idx, idx].real / 2
    np.testing.assert_allclose(np.linalg.eigvalsh(tri), np.linalg.eigvalsh(herm),
                               atol=TOL[dtype] * 50)
    outs = fa.jit(lambda a: lax.linalg.tridiagonal(a, lower=lower))(a)
    for x, y in zip(outs, (packed, d, e, taus)):
        np.testing.assert_array_equal(x, y)
    if len(shape) == 3:
        outs = fa.vmap(lambda a: lax.linalg.tridiagonal(a, lower=lower))(a)
        for x, y in zip(outs, (packed, d, e, taus)):
            np.testing.assert_array_equal(x, y)


def test_householder_product_vs_orgqr():
    rng = np.random.default_rng(7)
    a = rng.normal(size=(6, 4))
    qr_, tau, _, info = lapack.dgeqrf(a)
    assert info == 0
    q = lax.linalg.householder_product(qr_, tau)
    q_ref, _ = np.linalg.qr(a)
    np.testing.assert_allclose(np.abs(q), np.abs(q_ref), atol=1e-12)
    np.testing.assert_allclose(q.T @ q, np.eye(4), atol=1e-12)
    np.testing.assert_allclose(fa.jit(lax.linalg.householder_product)(qr_, tau), q, atol=1e-14)
    qv = fa.vmap(lax.linalg.householder_product)(np.stack([qr_, qr_]), np.stack([tau, tau]))
    np.testing.assert_allclose(qv[1], q, atol=1e-14)
    check_grads(lax.linalg.householder_product, (qr_, tau), order=1, modes=("fwd", "rev"))



@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
@pytest.mark.parametrize("left", [True, False])
@pytest.mark.parametrize("transpose", [True, False])
def test_ormqr(dtype, left, transpose):
    rng = np.random.default_rng(18)
    a = _rand(rng, (5, 3), dtype)
    packed, tau, _, info = lapack.get_lapack_funcs("geqrf", (a,))(a)
    assert info == 0
    q = lax.linalg.ormqr(packed, tau, np.eye(5, dtype=dtype))    # the full 5 x 5 Q
    np.testing.assert_allclose(q[:, :3], lax.linalg.householder_product(packed, tau),
                               atol=1e-14)
    q_ref, _ = np.linalg.qr(a, mode="complete")
    np.testing.assert_allclose(np.abs(q[:, :3]), np.abs(q_ref[:, :3]), atol=1e-12)
    np.testing.assert_allclose(np.conj(q.T) @ q, np.eye(5), atol=1e-12)
    c = _rand(rng, (5, 2) if left else (2, 5), dtype)
    op = np.conj(q.T) if transpose else q
    want = op @ c if left else c @ op
    got = lax.linalg.ormqr(packed, tau, c, left=left, transpose=transpose)
    np.testing.assert_allclose(got, want, atol=1e-12)
    f = fa.jit(lambda a, t, c: lax.linalg.ormqr(a, t, c, left=left, transpose=transpose))
    np.testing.assert_allclose(f(packed, tau, c), want, atol=1e-12)
    check_grads(lambda c: lax.linalg.ormqr(packed, tau, c, left=left, transpose=transpose),
                (c,), order=1, modes=("fwd", "rev"))


def test_symmetric_product_and_cholesky_update():
    rng = np.random.default_rng(19)
    a, c = rng.normal(size=(2, 4, 3)), rng.normal(size=(2, 4, 4))
    c = c + np.swapaxes(c, -1, -2)
    out = lax.linalg.symmetric_product(a, c, alpha=2.0, beta=-0.5)
    want = 2.0 * a @ np.swapaxes(a, -1, -2) - 0.5 * c
    np.testing.assert_allclose(np.tril(out), np.tril(want), atol=1e-12)
    sym = lax.linalg.symmetric_product(a, c + np.triu(np.ones((4, 4)), 1), beta=1.0,
                                       symmetrize_output=True)
    np.testing.assert_allclose(sym, np.swapaxes(sym, -1, -2))
    m = rng.normal(size=(4, 4))
    spd = m @ m.T + np.eye(4)
    r = np.linalg.cholesky(spd).T
    w = rng.normal(size=4)
    r2 = lax.linalg.cholesky_update(r, w)
    np.testing.assert_allclose(r2, np.linalg.cholesky(spd + np.outer(w, w)).T, atol=1e-12)
    np.testing.assert_allclose(fa.jit(lax.linalg.cholesky_update)(r, w), r2, atol=1e-13)
    check_grads(lambda w: lax.linalg.cholesky_update(r, w), (w,), order=1,
                modes=("fwd", "rev"))

# -- schur ---------------------------------------------------------------------------------------

def _assert_schur(a, t, z, dtype):
    n = a.shape[-1]
    tol = TOL[dtype] * 10 * max(n, 1)
    zh = np.conj(np.swapaxes(z, -1, -2))
    np.testing.assert_allclose(z @ t @ zh, a, atol=tol)
    np.testing.assert_allclose(zh @ z, np.broadcast_to(np.eye(n), a.shape), atol=tol)
    # upper triangular below the first subdiagonal; real: isolated 2x2 blocks only
    assert np.all(np.tril(t, -2) == 0)
    sub = np.diagonal(t, -1, -2, -1)
    if np.dtype(dtype).kind == "c":
        assert np.all(sub == 0)
    else:
        assert not np.any((sub[..., 1:] != 0) & (sub[..., :-1] != 0))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (4, 4), (9, 9), (2, 3, 5, 5)])
def test_schur(dtype, shape):
    rng = np.random.default_rng(8)
    a = _rand(rng, shape, dtype)
    t, z = lax.linalg.schur(a)
    assert t.dtype == dtype and z.dtype == dtype and t.shape == z.shape == shape
    _assert_schur(a, t, z, dtype)
    t_ref, z_ref = scipy.linalg.schur(a.reshape((-1,) + shape[-2:])[0],
                                      output="complex" if np.dtype(dtype).kind == "c"
                                      else "real")
    np.testing.assert_allclose(t.reshape((-1,) + shape[-2:])[0], t_ref, atol=TOL[dtype] * 10)
    (t_only,) = lax.linalg.schur(a, compute_schur_vectors=False)
    np.testing.assert_allclose(t_only, t, atol=TOL[dtype] * 10)
    tj, zj = fa.jit(lax.linalg.schur)(a)
    np.testing.assert_array_equal(tj, t)
    np.testing.assert_array_equal(zj, z)
    if len(shape) == 4:
        tv, zv = fa.vmap(fa.vmap(lax.linalg.schur))(a)
        np.testing.assert_array_equal(tv, t)
        tv, zv = fa.jit(fa.vmap(lax.linalg.schur, in_axes=2))(np.moveaxis(a, 0, 2))
        np.testing.assert_array_equal(tv, t)


def test_schur_eigenvalues_of_real_form():
    rng = np.random.default_rng(9)
    a = rng.normal(size=(6, 6))
    t, _ = lax.linalg.schur(a)
    w = np.linalg.eigvals(a)
    ws = np.linalg.eigvals(np.asarray(t))       # block triangular: same spectrum
    np.testing.assert_allclose(np.sort_complex(ws), np.sort_complex(w), atol=1e-10)


def test_schur_options_and_errors():
    a = np.eye(3)
    with pytest.raises(NotImplementedError, match="sort_eig_vals"):
        lax.linalg.schur(a, sort_eig_vals=True)
    with pytest.raises(ValueError, match="square"):
        lax.linalg.schur(np.ones((2, 3)))
    with pytest.raises(ValueError, match="square"):
        lax.linalg.hessenberg(np.ones(3))
    with pytest.raises(ValueError, match="square"):
        lax.linalg.tridiagonal(np.ones((3, 2)))
    with pytest.raises(ValueError, match="output"):
        fsl.schur(a, output="other")


@pytest.mark.parametrize("name,fn", [
    ("schur", lambda a: lax.linalg.schur(a)[0]),
    ("schur", lambda a: fsl.schur(a)[1]),
    ("hessenberg", lambda a: lax.linalg.hessenberg(a)[0]),
    ("hessenberg", lambda a: fsl.hessenberg(a)),
    ("tridiagonal", lambda a: lax.linalg.tridiagonal(a)[1]),
])
def test_decompositions_without_derivatives_raise(name, fn):
    a = np.array([[1.0, 2.0, 0.5], [0.3, 4.0, 1.0], [2.0, 0.1, 3.0]])
    loss = lambda a: fnp.sum(fn(a) ** 2)  # noqa: E731
    for transform in (fa.grad(loss), fa.jit(fa.grad(loss)),
                      lambda a: fa.jvp(loss, (a,), (a,))):
        with pytest.raises(NotImplementedError, match=name):
            transform(a)
    # a derivative that does not flow through the decomposition works
    g = fa.grad(lambda a, b: fnp.sum(fn(a)) * b, argnums=1)(a, 2.0)
    np.testing.assert_allclose(g, np.sum(fn(a)))
    g = fa.grad(lambda a: fnp.sum(fn(lax.stop_gradient(a))) + fnp.sum(a))(a)
    np.testing.assert_allclose(g, np.ones_like(a))


def test_reductions_numba(numba_on):
    """One Numba-compiled program: hessenberg, tridiagonal and schur from the Python driver,
    also inside a scan (which the driver then runs), with compiled code around them."""
    rng = np.random.default_rng(10)
    a = rng.normal(size=(2, 4, 4))

    def f(a):
        packed, taus = lax.linalg.hessenberg(a)
        _, d, e, _ = lax.linalg.tridiagonal(a + fnp.swapaxes(a, -1, -2))
        t, z = lax.linalg.schur(fnp.tanh(a))

        def body(c, x):
            tt, _ = lax.linalg.schur(x * c)
            return c + 1.0, fnp.sum(fnp.abs(fnp.diagonal(tt, axis1=-2, axis2=-1)))
        _, s = lax.scan(body, 1.0, a)
        return fnp.triu(packed, -1) * 2, taus, d, e, t, z, s

    out = fa.jit(f)(a)
    ref = f(a)
    for x, y in zip(out, ref):
        np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-13)
    assert "_rt.host_schur(" in fa.jit(f).lower(a).source


# -- funcad.scipy.linalg: schur, hessenberg ----------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("output", ["real", "complex"])
def test_scipy_schur(dtype, output):
    rng = np.random.default_rng(11)
    a = _rand(rng, (5, 5), dtype)
    t, z = fsl.schur(a, output=output)
    t_ref, z_ref = scipy.linalg.schur(a, output=output)
    assert t.dtype == t_ref.dtype
    cdt = np.result_type(dtype, np.complex64).type if output == "complex" else dtype
    _assert_schur(a.astype(cdt), t, z, cdt)
    np.testing.assert_allclose(np.diagonal(t), np.diagonal(t_ref), atol=TOL[dtype] * 20)
    tb, zb = fa.jit(lambda a: fsl.schur(a, output=output))(np.stack([a, 2 * a]))
    np.testing.assert_allclose(tb[0], t, atol=TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (4, 4), (3, 6, 6)])
def test_scipy_hessenberg(dtype, shape):
    rng = np.random.default_rng(12)
    a = _rand(rng, shape, dtype)
    h = fsl.hessenberg(a)
    h2, q = fsl.hessenberg(a, calc_q=True)
    np.testing.assert_array_equal(h, h2)
    assert np.all(np.tril(h, -2) == 0)
    tol = TOL[dtype] * 30
    np.testing.assert_allclose(q @ h @ np.conj(np.swapaxes(q, -1, -2)), a, atol=tol)
    for i, m in enumerate(a.reshape((-1,) + shape[-2:])):
        h_ref, q_ref = scipy.linalg.hessenberg(m, calc_q=True)
        np.testing.assert_allclose(h.reshape((-1,) + shape[-2:])[i], h_ref, atol=tol)
        np.testing.assert_allclose(q.reshape((-1,) + shape[-2:])[i], q_ref, atol=tol)
    hj, qj = fa.jit(lambda a: fsl.hessenberg(a, calc_q=True))(a)
    np.testing.assert_allclose(qj, q, atol=tol)
    if len(shape) == 3:
        hv, qv = fa.vmap(lambda a: fsl.hessenberg(a, calc_q=True))(a)
        np.testing.assert_allclose(qv, q, atol=tol)



@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scipy_rsf2csf(dtype):
    rng = np.random.default_rng(21)
    a = rng.normal(size=(6, 6)).astype(dtype)
    t, z = scipy.linalg.schur(a)
    tc, zc = fsl.rsf2csf(t, z)
    tr, zr = scipy.linalg.rsf2csf(t, z)
    tol = TOL[dtype] * 20
    np.testing.assert_allclose(tc, tr, atol=tol)
    np.testing.assert_allclose(zc, zr, atol=tol)
    assert np.all(np.tril(tc, -1) == 0)
    np.testing.assert_allclose(zc @ tc @ np.conj(zc.T), a, atol=tol)
    tb, zb = fa.jit(fsl.rsf2csf)(np.stack([t, t]), np.stack([z, z]))
    np.testing.assert_allclose(tb[1], tc, atol=tol)
    tv, _ = fa.vmap(fsl.rsf2csf)(np.stack([t, t]), np.stack([z, z]))
    np.testing.assert_allclose(tv[0], tc, atol=tol)


@pytest.mark.parametrize("dtype", [np.float64, np.complex128, np.float32])
def test_scipy_sqrtm(dtype):
    rng = np.random.default_rng(22)
    a = _rand(rng, (5, 5), dtype)
    s = fsl.sqrtm(a)
    tol = TOL[dtype] * 100
    np.testing.assert_allclose(s @ s, a, atol=tol)
    np.testing.assert_allclose(s, scipy.linalg.sqrtm(a), atol=tol)
    spd = np.eye(3) * 4 + 0.5
    np.testing.assert_allclose(fsl.sqrtm(spd) @ fsl.sqrtm(spd), spd, atol=1e-12)
    np.testing.assert_allclose(fa.jit(fsl.sqrtm)(a), s, atol=tol)
    np.testing.assert_allclose(fa.vmap(fsl.sqrtm)(np.stack([a, a]))[1], s, atol=tol)
    with pytest.raises(NotImplementedError, match="schur"):
        fa.grad(lambda a: fnp.sum(fnp.abs(fsl.sqrtm(a))))(a.real)

# -- qdwh, polar ---------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(4, 4), (7, 3), (1, 1)])
def test_qdwh(dtype, shape):
    rng = np.random.default_rng(13)
    x = _rand(rng, shape, dtype)
    u, h, k, ok = lax.linalg.qdwh(x)
    assert u.dtype == dtype and h.dtype == dtype and u.shape == shape
    assert h.shape == (shape[1],) * 2 and k.dtype == np.int32 and bool(ok)
    assert 1 <= int(k) <= 10
    tol = TOL[dtype] * 20
    np.testing.assert_allclose(u @ h, x, atol=tol)
    np.testing.assert_allclose(np.conj(u.T) @ u, np.eye(shape[1]), atol=tol)
    np.testing.assert_allclose(h, np.conj(h.T), atol=tol)
    assert np.linalg.eigvalsh(h).min() > 0
    u_ref, h_ref = scipy.linalg.polar(x.astype(np.result_type(dtype, np.float64)))
    np.testing.assert_allclose(u, u_ref, atol=tol * 10)
    np.testing.assert_allclose(h, h_ref, atol=tol * 10)
    uj, hj, kj, okj = fa.jit(lax.linalg.qdwh)(x)
    np.testing.assert_allclose(uj, u, atol=tol)
    assert int(kj) == int(k) and bool(okj)


def test_qdwh_options():
    rng = np.random.default_rng(14)
    x = rng.normal(size=(5, 4))
    x[:, 0] *= 1e-6                                    # ill-conditioned: more iterations
    _, _, k, ok = lax.linalg.qdwh(x)
    assert bool(ok)
    u1, _, k1, ok1 = lax.linalg.qdwh(x, max_iterations=1)
    assert int(k1) == 1 and not bool(ok1)
    padded = np.zeros((7, 6))
    padded[:5, :4] = x
    u, h, kd, okd = lax.linalg.qdwh(padded, dynamic_shape=(5, 4))
    u0, h0, _, _ = lax.linalg.qdwh(x)
    np.testing.assert_allclose(u[:5, :4], u0, atol=1e-12)
    assert np.all(u[5:] == 0) and np.all(u[:, 4:] == 0) and np.all(h[4:] == 0)
    with pytest.raises(ValueError, match="M >= N"):
        lax.linalg.qdwh(np.ones((2, 3)))
    xs = rng.normal(size=(3, 4, 4))
    us, hs, ks, oks = fa.vmap(lax.linalg.qdwh)(xs)
    for i in range(3):
        np.testing.assert_allclose(us[i], lax.linalg.qdwh(xs[i])[0], atol=1e-12)
    assert oks.all()


@pytest.mark.parametrize("method", ["qdwh", "svd"])
@pytest.mark.parametrize("side,shape", [("right", (4, 4)), ("right", (5, 3)),
                                        ("left", (3, 5)), ("left", (4, 4)),
                                        ("right", (2, 4, 3))])
@pytest.mark.parametrize("dtype", [np.float64, np.complex128, np.float32])
def test_polar(method, side, shape, dtype):
    rng = np.random.default_rng(15)
    a = _rand(rng, shape, dtype)
    u, p = fsl.polar(a, side=side, method=method)
    tol = TOL[dtype] * 50
    for i, m in enumerate(a.reshape((-1,) + shape[-2:])):
        u_ref, p_ref = scipy.linalg.polar(m.astype(np.result_type(dtype, np.float64)),
                                          side=side)
        np.testing.assert_allclose(u.reshape((-1,) + u_ref.shape)[i], u_ref, atol=tol)
        np.testing.assert_allclose(p.reshape((-1,) + p_ref.shape)[i], p_ref, atol=tol)
    recon = u @ p if side == "right" else p @ u
    np.testing.assert_allclose(recon, a, atol=tol)
    uj, pj = fa.jit(lambda a: fsl.polar(a, side=side, method=method))(a)
    np.testing.assert_allclose(uj, u, atol=tol)


def test_polar_errors_and_grads():
    with pytest.raises(NotImplementedError, match="m >= n"):
        fsl.polar(np.ones((2, 3)), side="right")
    with pytest.raises(ValueError, match="side"):
        fsl.polar(np.eye(2), side="up")
    with pytest.raises(ValueError, match="method"):
        fsl.polar(np.eye(2), method="newton")
    rng = np.random.default_rng(16)
    a = rng.normal(size=(3, 3)) + 3 * np.eye(3)

    def u_of(a):
        return fsl.polar(a)[0]

    def u_svd(a):
        return fsl.polar(a, method="svd")[0]
    # derivatives through the QDWH iteration (its while_loop) equal the SVD route's
    jq = fa.jacfwd(u_of)(a)
    np.testing.assert_allclose(jq, fa.jacfwd(u_svd)(a), atol=1e-8)
    np.testing.assert_allclose(fa.jacrev(u_of)(a), jq, atol=1e-8)
    check_grads(lambda a: fsl.polar(a)[1], (a,), order=1, modes=("fwd", "rev"))


# -- eigh_tridiagonal ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_eigh_tridiagonal(dtype):
    rng = np.random.default_rng(17)
    d, e = rng.normal(size=6).astype(dtype), rng.normal(size=5).astype(dtype)
    w = fsl.eigh_tridiagonal(d, e, eigvals_only=True)
    w_ref = scipy.linalg.eigh_tridiagonal(d, e, eigvals_only=True)
    assert w.dtype == dtype
    np.testing.assert_allclose(w, w_ref, atol=TOL[dtype] * 20)
    wi = fsl.eigh_tridiagonal(d, e, eigvals_only=True, select="i", select_range=(1, 3))
    np.testing.assert_allclose(wi, w_ref[1:4], atol=TOL[dtype] * 20)
    w2, v = fsl.eigh_tridiagonal(d, e)
    a = _dense(np.concatenate([[0], e]), d, np.concatenate([e, [0]]))
    np.testing.assert_allclose(a @ v, v * w2, atol=TOL[dtype] * 50)
    np.testing.assert_allclose(fa.jit(lambda d, e: fsl.eigh_tridiagonal(
        d, e, eigvals_only=True))(d, e), w, atol=TOL[dtype] * 20)
    wv = fa.vmap(lambda d, e: fsl.eigh_tridiagonal(d, e, eigvals_only=True))(
        np.stack([d, 2 * d]), np.stack([e, 2 * e]))
    np.testing.assert_allclose(wv[1], 2 * w, atol=TOL[dtype] * 40)
    with pytest.raises(NotImplementedError, match="select='v'"):
        fsl.eigh_tridiagonal(d, e, eigvals_only=True, select="v")
    if dtype == np.float64:
        check_grads(lambda d, e: fsl.eigh_tridiagonal(d, e, eigvals_only=True), (d, e),
                    order=2, modes=("fwd", "rev"))
    # complex (Hermitian) off-diagonal: real eigenvalues
    ce = (e + 1j * rng.normal(size=5)).astype(np.complex128)
    wc = fsl.eigh_tridiagonal(d.astype(np.complex128), ce, eigvals_only=True)
    dense = np.diag(d.astype(complex)) + np.diag(ce, 1) + np.diag(np.conj(ce), -1)
    np.testing.assert_allclose(wc, np.linalg.eigvalsh(dense), atol=1e-4)


# -- qr: scipy.linalg.qr's modes, and column pivoting ---------------------------------------

_QR_SHAPES = [(5, 3), (4, 4), (3, 5)]


@pytest.mark.parametrize("pivoting", [False, True])
@pytest.mark.parametrize("mode", ["full", "economic", "r"])
@pytest.mark.parametrize("shape", _QR_SHAPES)
def test_scipy_qr_matches_scipy(shape, mode, pivoting):
    a = np.random.default_rng(3).normal(size=shape)
    if mode == "full" and shape[0] > shape[1]:
        with pytest.raises(NotImplementedError, match="mode='economic'"):
            fsl.qr(a, mode=mode, pivoting=pivoting)
        return
    want = scipy.linalg.qr(a, mode=mode, pivoting=pivoting)
    want = want if isinstance(want, tuple) else (want,)
    for f in (fsl.qr, fa.jit(fsl.qr, static_argnames=("mode", "pivoting"))):
        got = f(a, mode=mode, pivoting=pivoting)
        assert len(got) == len(want)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-13)
        if pivoting:
            assert got[-1].dtype == np.int32
            q, r = (got[0], got[1]) if mode != "r" else (None, got[0])
            d = np.abs(np.diagonal(r))
            assert np.all(d[:-1] >= d[1:] - 1e-12)       # rank-revealing order
            if q is not None:
                np.testing.assert_allclose(q @ r, a[:, got[-1]], atol=1e-13)


def test_qr_pivoting_rank_deficient_vmap_and_stacks():
    rng = np.random.default_rng(4)
    a = rng.normal(size=(6, 2)) @ rng.normal(size=(2, 4))       # rank 2
    q, r, p = lax.linalg.qr(a, pivoting=True, full_matrices=False)
    assert np.all(np.abs(np.diagonal(r)[2:]) < 1e-12)
    np.testing.assert_allclose(q @ r, a[:, p], atol=1e-13)
    stack = np.stack([a, rng.normal(size=(6, 4)), 2 * a])
    per = [lax.linalg.qr(m, pivoting=True, full_matrices=False) for m in stack]
    for got in (lax.linalg.qr(stack, pivoting=True, full_matrices=False),
                fa.vmap(lambda m: lax.linalg.qr(m, pivoting=True, full_matrices=False))(stack),
                fa.jit(fa.vmap(lambda m: fsl.qr(m, mode="economic", pivoting=True)))(stack)):
        for k in range(3):
            np.testing.assert_allclose(got[k], np.stack([t[k] for t in per]), atol=1e-13)


@pytest.mark.parametrize("shape", [(5, 3), (4, 4)])
def test_qr_pivoting_derivatives(shape):
    # The pivots are constant near a generic matrix: Q and R are those of a[:, p], whose
    # derivatives are the QR's (sign-invariant outputs: R's diagonal squared, Q R).
    a = np.random.default_rng(5).normal(size=shape)

    def f(a):
        q, r, _ = lax.linalg.qr(a, pivoting=True, full_matrices=False)
        return fnp.sum(fnp.diagonal(r) ** 2) + fnp.sum(fnp.tanh(q @ r))
    check_grads(f, (a,), order=2, modes=("fwd", "rev"))
    check_grads(fa.jit(f), (a,), order=1, modes=("fwd", "rev"))
