"""funcad.lax additions (funcad/_lax_extra.py): implicit solves, constructors and shape
helpers, special functions; values against NumPy/SciPy, under jit and vmap, derivatives."""

import numpy as np
import pytest
import scipy.special as ss

import funcad as fa
import funcad.lax as lax
import funcad.numpy as fnp
from funcad.test_util import check_grads


def close(a, b, tol=1e-10):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol)


# -- custom_root ------------------------------------------------------------------------

def newton(f, x):
    for _ in range(25):
        x = x - f(x) / fa.grad(f)(x)
    return x


def bisection(f, x0):
    def body(_, lohi):
        lo, hi = lohi
        mid = 0.5 * (lo + hi)
        neg = f(mid) < 0
        return fnp.where(neg, mid, lo), fnp.where(neg, hi, mid)
    lo, hi = lax.fori_loop(0, 80, body, (x0 * 0.0, x0 * 0.0 + 10.0))
    return 0.5 * (lo + hi)


def scalar_solve(g, y):
    return y / g(1.0)


def cube_root(a, solve=newton):
    # root of x**3 - a, with a closed over: d/da = 1 / (3 a**(2/3))
    return lax.custom_root(lambda x: x ** 3 - a, 1.0, solve, scalar_solve)


@pytest.mark.parametrize("solve", [newton, bisection])
def test_custom_root_value_and_derivative(solve):
    f = lambda a: cube_root(a, solve)  # noqa: E731
    close(f(8.0), 2.0, 1e-9)
    close(fa.grad(f)(8.0), 1.0 / 12.0, 1e-9)
    close(fa.jit(fa.grad(f))(8.0), 1.0 / 12.0, 1e-9)
    a = np.array([1.0, 8.0, 27.0])
    close(fa.vmap(fa.grad(f))(a), 1.0 / (3.0 * a ** (2.0 / 3.0)), 1e-9)
    close(fa.jit(fa.vmap(f))(a), np.cbrt(a), 1e-9)
    check_grads(f, (5.0,), order=2, modes=("fwd", "rev"))
    check_grads(fa.jit(f), (5.0,), order=1, modes=("fwd", "rev"))


def test_custom_root_solver_not_differentiated():
    # a solver whose iterations have no useful derivative (a fixed number of bisection
    # steps, whose output depends on a only through comparisons) still differentiates
    f = lambda a: cube_root(a, bisection)  # noqa: E731
    close(fa.jvp(f, (8.0,), (1.0,))[1], 1.0 / 12.0, 1e-9)


def test_custom_root_vector_pytree_and_aux():
    # x = (u, v) solving u - p v = 0, v**2 - q = 0 (v > 0): v = sqrt(q), u = p sqrt(q)
    def as_vec(t):
        return fnp.stack([t["u"], t["v"]])

    def as_tree(z):
        return {"u": z[0], "v": z[1]}

    def solve(f, x):
        z = as_vec(x)
        for _ in range(30):
            j = fa.jacfwd(lambda z: as_vec(f(as_tree(z))))(z)
            z = z - fnp.linalg.solve(j, as_vec(f(as_tree(z))))
        return as_tree(z), fnp.asarray(30)

    def tangent_solve(g, y):
        j = fa.jacfwd(lambda z: as_vec(g(as_tree(z))))(fnp.zeros(2))
        return as_tree(fnp.linalg.solve(j, as_vec(y)))

    def root(p, q):
        f = lambda x: {"u": x["u"] - p * x["v"], "v": x["v"] ** 2 - q}  # noqa: E731
        sol, iters = lax.custom_root(f, {"u": 1.0, "v": 1.0}, solve, tangent_solve,
                                     has_aux=True)
        return sol["u"] + 3.0 * sol["v"] + 0.0 * iters

    p, q = 2.0, 4.0
    close(root(p, q), p * 2.0 + 6.0, 1e-9)
    gp, gq = fa.grad(root, (0, 1))(p, q)
    close(gp, np.sqrt(q), 1e-9)
    close(gq, (p + 3.0) / (2.0 * np.sqrt(q)), 1e-9)
    check_grads(root, (p, q), order=1, modes=("fwd", "rev"))


def test_custom_root_errors():
    with pytest.raises(TypeError, match="structure"):
        lax.custom_root(lambda x: (x, x), 1.0, newton, scalar_solve)
    with pytest.raises(TypeError, match="has_aux"):
        fa.jit(lambda a: lax.custom_root(lambda x: x - a, 1.0, lambda f, x: x,
                                         scalar_solve, has_aux=True))(1.0)


# -- custom_linear_solve ----------------------------------------------------------------

A = np.array([[4.0, 1.0, 0.3], [2.0, 3.0, -0.5], [0.1, -0.4, 2.5]])
S = A @ A.T + np.eye(3)
B = np.array([1.0, -2.0, 0.5])


def direct(a):
    return lambda mv, r: fnp.linalg.solve(a, r)


def cg(mv, b):
    def body(st):
        x, r, p, rs, k = st
        ap = mv(p)
        al = rs / (p @ ap)
        x, r = x + al * p, r - al * ap
        rn = r @ r
        return x, r, p * (rn / rs) + r, rn, k + 1
    x0 = fnp.zeros_like(b)
    st = lax.while_loop(lambda st: (st[3] > 1e-30) & (st[4] < 60), body,
                        (x0, b, b, b @ b, 0))
    return st[0]


def nonsym(a, b):
    return lax.custom_linear_solve(lambda x: a @ x, b, direct(a),
                                   lambda vm, r: fnp.linalg.solve(a.T, r))


def sym_cg(s, b):
    return lax.custom_linear_solve(lambda x: s @ x, b, cg, symmetric=True)


def loss(solver, ref=False):
    def f(a, b):
        x = fnp.linalg.solve(a, b) if ref else solver(a, b)
        return fnp.sum(fnp.sin(x) * fnp.arange(1.0, 4.0))
    return f


@pytest.mark.parametrize("solver,mat", [(nonsym, A), (sym_cg, S)])
def test_custom_linear_solve_matches_linalg_solve(solver, mat):
    close(solver(mat, B), np.linalg.solve(mat, B), 1e-9)
    ref = fa.grad(loss(solver, ref=True), (0, 1))(mat, B)
    for g in (fa.grad(loss(solver), (0, 1)), fa.jit(fa.grad(loss(solver), (0, 1)))):
        got = g(mat, B)
        close(got[0], ref[0], 1e-9)
        close(got[1], ref[1], 1e-9)
    # forward mode
    t = fa.jvp(lambda b: solver(mat, b), (B,), (np.ones(3),))[1]
    close(t, np.linalg.solve(mat, np.ones(3)), 1e-9)
    bs = np.stack([B, 2.0 * B, -B])
    close(fa.vmap(solver, (None, 0))(mat, bs), np.linalg.solve(mat, bs.T).T, 1e-9)
    gb = fa.vmap(fa.grad(loss(solver), 1), (None, 0))(mat, bs)
    gr = fa.vmap(fa.grad(loss(solver, ref=True), 1), (None, 0))(mat, bs)
    close(gb, gr, 1e-9)
    check_grads(solver, (mat, B), order=1, modes=("fwd", "rev"))


def test_custom_linear_solve_second_order():
    # forward over forward, reverse over reverse and forward over reverse (the Hessian)
    # are implicit too
    check_grads(nonsym, (A, B), order=2, modes=("fwd",))
    check_grads(nonsym, (A, B), order=2, modes=("rev",))
    h = fa.hessian(loss(nonsym), 1)(A, B)
    close(h, fa.hessian(loss(nonsym, ref=True), 1)(A, B), 1e-9)
    for t in (lambda g: fa.jacrev(fa.grad(g, 0), 0), lambda g: fa.jacrev(fa.jacfwd(g, 1), 1),
              lambda g: fa.jit(fa.jacrev(fa.grad(g, 1), 0))):
        close(t(loss(nonsym))(A, B), t(loss(nonsym, ref=True))(A, B), 1e-9)
    # reverse over forward in the matrix's parameters is not supported: an error
    with pytest.raises(NotImplementedError):
        fa.jacrev(fa.jacfwd(loss(nonsym), 0), 0)(A, B)


def test_custom_linear_solve_pytree_and_aux():
    def f(a, u, v):
        mv = lambda x: {"u": a @ x["u"], "v": 2.0 * x["v"]}  # noqa: E731
        sol = lambda _, r: ({"u": fnp.linalg.solve(a, r["u"]), "v": r["v"] / 2.0},  # noqa
                            fnp.sum(r["u"]))
        tsol = lambda _, r: {"u": fnp.linalg.solve(a.T, r["u"]), "v": r["v"] / 2.0}  # noqa
        x, aux = lax.custom_linear_solve(mv, {"u": u, "v": v}, sol, tsol, has_aux=True)
        return x["u"] * x["v"] + 0.0 * aux

    close(f(A, B, 3.0), np.linalg.solve(A, B) * 1.5, 1e-9)
    check_grads(f, (A, B, 3.0), order=1, modes=("fwd", "rev"))
    close(fa.jit(f)(A, B, 3.0), np.linalg.solve(A, B) * 1.5, 1e-9)


def test_custom_linear_solve_without_transpose():
    def f(b):
        return lax.custom_linear_solve(lambda x: A @ x, b, direct(A))
    close(fa.jit(f)(B), np.linalg.solve(A, B), 1e-9)
    close(fa.jvp(f, (B,), (B,))[1], np.linalg.solve(A, B), 1e-9)   # forward mode works
    for g in (fa.grad(lambda b: f(b).sum()), fa.jit(fa.grad(lambda b: f(b).sum()))):
        with pytest.raises(ValueError, match="transpose_solve"):
            g(B)


# -- constructors and shapes ------------------------------------------------------------

def test_full_empty_full_like():
    x = lax.full((2, 3), 1.5)
    assert x.shape == (2, 3) and x.dtype == np.float64 and np.all(np.asarray(x) == 1.5)
    assert lax.full((2,), 3, np.float32).dtype == np.float32
    with pytest.raises(TypeError, match="scalar fill_value"):
        lax.full((2,), np.ones(2))
    y = lax.full_like(np.zeros((2, 2), np.int32), 7)
    assert y.dtype == np.int32 and np.all(np.asarray(y) == 7)
    assert lax.full_like(np.zeros(3), 2.0, shape=(4,)).shape == (4,)
    assert lax.empty((3, 2), np.float32).shape == (3, 2)
    close(fa.jit(lambda v: lax.full_like(v, 2.0) * v)(np.arange(3.0)), 2 * np.arange(3.0))


def test_select_n():
    c = [np.arange(4.0), 10 + np.arange(4.0), 20 + np.arange(4.0)]
    w = np.array([0, 2, 1, 2], np.int32)
    close(lax.select_n(w, *c), np.choose(w, c))
    close(lax.select_n(np.array([True, False, True, False]), c[0], c[1]),
          np.where([True, False, True, False], c[1], c[0]))
    close(lax.select_n(True, c[0], c[1]), c[1])
    close(fa.jit(lambda w, a, b, d: lax.select_n(w, a, b, d))(w, *c), np.choose(w, c))
    close(fa.vmap(lambda w, a: lax.select_n(w, a, -a))(w > 0, np.stack(c).T[:, :4]),
          np.where((w > 0)[:, None], -np.stack(c).T, np.stack(c).T))
    with pytest.raises(TypeError, match="same shapes and dtypes"):
        lax.select_n(w, c[0], np.arange(4))
    with pytest.raises(TypeError, match="at most 2"):
        lax.select_n(np.ones(4, bool), *c)
    g = fa.grad(lambda a, b: lax.select_n(w > 0, a, b).sum(), (0, 1))(c[0], c[1])
    close(g[0], (w == 0).astype(float))
    check_grads(lambda a, b: lax.select_n(w, a, b, a * b), (c[0], c[1]), order=2)


def test_reciprocal_nextafter_barrier():
    x = np.array([0.5, -2.0, 4.0])
    close(lax.reciprocal(x), 1 / x)
    check_grads(lax.reciprocal, (x,), order=2)
    with pytest.raises(TypeError, match="float"):
        lax.reciprocal(np.arange(3))
    close(lax.nextafter(x, np.inf), np.nextafter(x, np.inf), 0)
    close(fa.jit(lax.nextafter)(x, -np.inf), np.nextafter(x, -np.inf), 0)
    tree = {"a": x, "b": (x, 2.0)}
    out = lax.optimization_barrier(tree)
    close(out["b"][0], x)
    close(fa.grad(lambda v: lax.optimization_barrier((v, v))[0].sum())(x), np.ones(3))


def test_split_collapse_tile_stack_unstack():
    x = np.arange(24.0).reshape(2, 3, 4)
    parts = lax.split(x, [1, 3], axis=2)
    close(parts[0], x[:, :, :1])
    close(parts[1], x[:, :, 1:])
    with pytest.raises(ValueError, match="sum to the size"):
        lax.split(x, [1, 1], axis=2)
    close(fa.jit(lambda v: lax.split(v, [2, 0, 2], 2)[2])(x), x[:, :, 2:])
    check_grads(lambda v: lax.split(v, [1, 2], 1)[1] ** 2, (x,), order=1)
    assert lax.collapse(x, 1).shape == (2, 12)
    assert lax.collapse(x, 0, 2).shape == (6, 4)
    close(lax.collapse(x, 0, 2), x.reshape(6, 4))
    close(lax.tile(x[0], (2, 1)), np.tile(x[0], (2, 1)))
    with pytest.raises(ValueError, match="reps length"):
        lax.tile(x, (2,))
    close(lax.stack([x[0], x[1]], 1), np.stack([x[0], x[1]], 1))
    u = lax.unstack(x, 1)
    assert isinstance(u, tuple) and len(u) == 3
    close(u[2], x[:, 2])
    close(fa.vmap(lambda v: lax.stack(lax.unstack(v, 0), 1))(x), np.swapaxes(x, 1, 2))


def test_broadcast_shapes_reduce_xor_index_take():
    assert lax.broadcast_shapes((2, 1), (3,)) == (2, 3)
    assert lax.broadcast_shapes((1,), (4, 5, 1)) == (4, 5, 1)
    with pytest.raises(ValueError, match="Incompatible shapes"):
        lax.broadcast_shapes((2,), (3,))
    r = np.random.default_rng(0).integers(0, 1000, (5, 3, 7))
    close(lax.reduce_xor(r, (0,)), np.bitwise_xor.reduce(r, 0), 0)
    close(lax.reduce_xor(r, (0, 2)), np.bitwise_xor.reduce(np.bitwise_xor.reduce(r, 2), 0), 0)
    b = r % 2 == 1
    close(lax.reduce_xor(b, (1,)), np.logical_xor.reduce(b, 1), 0)
    close(fa.jit(lambda v: lax.reduce_xor(v, (2,)))(r), np.bitwise_xor.reduce(r, 2), 0)
    close(fa.vmap(lambda v: lax.reduce_xor(v, (0,)))(r), np.bitwise_xor.reduce(r, 1), 0)
    with pytest.raises(TypeError, match="booleans or integers"):
        lax.reduce_xor(np.ones(3), (0,))
    src = np.arange(24.0).reshape(3, 4, 2)
    i0, i1 = np.array([0, 2, 1]), np.array([1, 3, 3])
    close(lax.index_take(src, (i0, i1), (0, 1)), src[i0, i1])
    close(lax.index_take(src, (i1,), (1,)), np.moveaxis(src, 1, 0)[i1])
    close(fa.jit(lambda s: lax.index_take(s, (i0, i1), (0, 1)))(src), src[i0, i1])
    check_grads(lambda s: lax.index_take(s, (i0, i1), (0, 1)), (src,), order=1)


# -- special functions ------------------------------------------------------------------

X = np.array([0.4, 1.3, 3.7])


def test_special_values_against_scipy():
    m = np.array([0.0, 1.0, 3.0])
    close(lax.polygamma(m, X), ss.polygamma(m.astype(int), X), 1e-11)
    assert np.isnan(np.asarray(lax.polygamma(1.5, 2.0)))
    close(lax.zeta(np.array([2.0, 3.5, 6.0]), X), ss.zeta([2.0, 3.5, 6.0], X), 1e-11)
    close(lax.igamma(X, 1.2 * X), ss.gammainc(X, 1.2 * X), 1e-11)
    close(lax.igammac(X, 0.7 * X), ss.gammaincc(X, 0.7 * X), 1e-11)
    close(lax.bessel_i0e(np.array([-3.0, 0.0, 0.5, 20.0])),
          ss.i0e([-3.0, 0.0, 0.5, 20.0]), 1e-12)
    close(lax.bessel_i1e(np.array([-3.0, 0.0, 0.5, 20.0])),
          ss.i1e([-3.0, 0.0, 0.5, 20.0]), 1e-12)
    xb = np.array([0.1, 0.5, 0.9])
    close(lax.betainc(X, X[::-1], xb), ss.betainc(X, X[::-1], xb), 1e-11)
    # jit and vmap
    close(fa.jit(lax.polygamma)(m, X), ss.polygamma(m.astype(int), X), 1e-11)
    close(fa.vmap(lax.betainc)(X, X[::-1], xb), ss.betainc(X, X[::-1], xb), 1e-11)
    close(fa.vmap(lax.igamma, (None, 0))(2.0, X), ss.gammainc(2.0, X), 1e-11)
    with pytest.raises(TypeError, match="same dtypes"):
        lax.igamma(np.float32(1.0), np.float64(2.0))


def test_special_derivatives():
    check_grads(lambda x: lax.polygamma(1.0, x), (X,), order=2, modes=("fwd", "rev"))
    close(fa.grad(lambda x: lax.polygamma(2.0, x))(1.5), ss.polygamma(3, 1.5), 1e-11)
    xb = np.array([0.2, 0.5, 0.7])
    check_grads(lambda x: lax.betainc(2.0, 3.5, x), (xb,), order=2, modes=("fwd", "rev"))
    check_grads(lambda a, x: lax.igamma(a, x), (X, 1.2 * X), order=1, modes=("fwd", "rev"),
                atol=1e-5, rtol=1e-5)
    close(fa.grad(lambda x: lax.igamma(2.0, x))(1.0), np.exp(-1.0), 1e-11)
    close(fa.grad(lambda x: lax.igammac(2.0, x))(1.0), -np.exp(-1.0), 1e-11)
    check_grads(lax.bessel_i0e, (X,), order=2)
    check_grads(lax.bessel_i1e, (X,), order=2)


def test_special_no_derivative_where_jax_has_none():
    for f in (lambda m: lax.polygamma(m, 1.5), lambda a: lax.betainc(a, 2.0, 0.5),
              lambda x: lax.zeta(x, 2.0), lambda q: lax.zeta(3.0, q),
              lambda x: lax.nextafter(x, 0.0)):
        with pytest.raises(ValueError, match="no derivative"):
            fa.grad(f)(1.5)
        with pytest.raises(ValueError, match="no derivative"):
            fa.jit(fa.grad(f))(2.5)
        with pytest.raises(ValueError, match="no derivative"):
            fa.jvp(f, (2.5,), (1.0,))
    # grad of a compiled function: refused (reverse) or NaN (forward), never a number
    with pytest.raises(Exception):
        fa.grad(fa.jit(lambda m: lax.polygamma(m, 1.5)))(1.0)
    assert np.isnan(np.asarray(fa.jvp(fa.jit(lambda m: lax.polygamma(m, 1.5)),
                                      (1.0,), (1.0,))[1]))
    # not differentiated: fine under every transform
    close(fa.grad(lambda x: lax.polygamma(fa.lax.stop_gradient(x), x))(2.0),
          ss.polygamma(3, 2.0), 1e-11)
