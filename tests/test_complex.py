"""Complex numbers through every transform (issue 10), with JAX's conventions.

Oracles: NumPy for values (eager, jit as plain Python and as Numba, vmap vs a loop);
central finite differences in the real and imaginary directions for derivatives:
- holomorphic f: f'(z) = (f(z + h) - f(z - h)) / 2h, and `grad(f, holomorphic=True)`,
  `jacfwd/jacrev(holomorphic=True)` must give it;
- real-valued f of z = x + iy: `grad(f)(z) = df/dx - i df/dy` (JAX's convention, the
  conjugate of df/dx + i df/dy: grad(|z|**2) = 2 conj(z), 6-8j at 3+4j);
- check_grads with complex inputs (random complex directions; reverse mode through the
  bilinear pairing Re(sum(u * v)), for which vjp is the transpose of jvp), orders 1 and 2.
"""

import functools

import numpy as np
import pytest
import scipy.linalg

import funcad as fa
import funcad.numpy as fnp
from funcad import lax
from funcad.test_util import check_grads

CDTYPES = [np.complex128, np.complex64]


@pytest.fixture
def numba_on(monkeypatch):
    """Compile with Numba (tests default to running the generated source as Python)."""
    monkeypatch.setenv("FUNCAD_DISABLE_JIT", "0")


def _z(shape=(3,), dtype=np.complex128, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.uniform(0.3, 1.2, shape) * np.exp(1j * rng.uniform(-2.5, 2.5, shape))
            ).astype(dtype)


# name: (funcad function, NumPy function); all applied to a complex vector z.
OPS = {
    "add": (lambda z: z + (1 - 2j), lambda z: z + (1 - 2j)),
    "sub": (lambda z: (0.5 + 1j) - z, lambda z: (0.5 + 1j) - z),
    "mul": (lambda z: z * z * (2 - 1j), lambda z: z * z * (2 - 1j)),
    "div": (lambda z: (1 + 1j) / z, lambda z: (1 + 1j) / z),
    "neg": (lambda z: -z, lambda z: -z),
    "pow3": (lambda z: z ** 3, lambda z: z ** 3),
    "powc": (lambda z: z ** (0.5 + 0.25j), lambda z: z ** (0.5 + 0.25j)),
    "square": (fnp.square, np.square),
    "exp": (fnp.exp, np.exp),
    "log": (fnp.log, np.log),
    "sin": (fnp.sin, np.sin),
    "cos": (fnp.cos, np.cos),
    "tan": (fnp.tan, np.tan),
    "sinh": (fnp.sinh, np.sinh),
    "cosh": (fnp.cosh, np.cosh),
    "tanh": (fnp.tanh, np.tanh),
    "sqrt": (fnp.sqrt, np.sqrt),
    "expm1": (fnp.expm1, np.expm1),
    "log1p": (fnp.log1p, np.log1p),
    "abs": (fnp.abs, np.abs),
    "real": (fnp.real, np.real),
    "imag": (fnp.imag, np.imag),
    "conj": (fnp.conj, np.conj),
    "conjugate": (fnp.conjugate, np.conjugate),
    "angle": (fnp.angle, np.angle),
    "angle_deg": (lambda z: fnp.angle(z, deg=True), lambda z: np.angle(z, deg=True)),
    "lax_complex": (lambda z: lax.complex(fnp.abs(z), fnp.real(z) ** 2),
                    lambda z: np.abs(z) + 1j * np.real(z) ** 2),
    "methods": (lambda z: z.conj() * z.real + z.imag, lambda z: z.conj() * z.real + z.imag),
    "sum": (fnp.sum, np.sum),
    "mean": (fnp.mean, np.mean),
    "prod": (fnp.prod, np.prod),
    "cumsum": (fnp.cumsum, np.cumsum),
    "dot": (lambda z: fnp.outer(z, z) @ fnp.conj(z), lambda z: np.outer(z, z) @ np.conj(z)),
    "vdot": (lambda z: fnp.vdot(z, z * 1j), lambda z: np.vdot(z, z * 1j)),
    "einsum": (lambda z: fnp.einsum("i,j->ij", z, z), lambda z: np.einsum("i,j->ij", z, z)),
    "where": (lambda z: fnp.where(fnp.real(z) > 0, z, 2 * z),
              lambda z: np.where(np.real(z) > 0, z, 2 * z)),
    "index": (lambda z: z[::-1][1:] * z[0], lambda z: z[::-1][1:] * z[0]),
    "concat": (lambda z: fnp.concatenate([z, fnp.conj(z)]),
               lambda z: np.concatenate([z, np.conj(z)])),
    "astype": (lambda z: fnp.real(z).astype(z.dtype) * z, lambda z: np.real(z).astype(z.dtype) * z),
    "norm": (fnp.linalg.norm, np.linalg.norm),
    "var": (fnp.var, np.var),
    "std": (fnp.std, np.std),
    "cumprod": (fnp.cumprod, np.cumprod),
    "arcsin": (fnp.arcsin, np.arcsin),
    "arctan": (fnp.arctan, np.arctan),
    "arcsinh": (fnp.arcsinh, np.arcsinh),
    "log10": (fnp.log10, np.log10),
    "reciprocal": (fnp.reciprocal, np.reciprocal),
    "norm1": (lambda z: fnp.linalg.norm(z, 1), lambda z: np.linalg.norm(z, 1)),
    "at_set": (fa.jit(lambda z: z.at[1].set(2j) * z),
               lambda z: np.where(np.arange(z.size) == 1, 2j, z) * z),
    "at_add": (fa.jit(lambda z: z.at[1].add(z[0])),
               lambda z: z + np.where(np.arange(z.size) == 1, z[0], 0)),
    "scan": (lambda z: lax.scan(lambda c, x: (c * x + 1j, c), 1 + 0j * z[0], z)[0],
             lambda z: functools.reduce(lambda c, x: c * x + 1j, z, 1 + 0j * z[0])),
    "cond": (lambda z: lax.cond(fnp.real(z[0]) > 0, lambda z: z * 1j, lambda z: fnp.conj(z), z),
             lambda z: z * 1j if np.real(z[0]) > 0 else np.conj(z)),
    "to_real": (lambda z: fnp.abs(z).astype(np.float64) + 1,
                lambda z: np.abs(z).astype(np.float64) + 1),
}

# Holomorphic entries of OPS (for grad/jacfwd/jacrev with holomorphic=True).
HOLOMORPHIC = ["add", "sub", "mul", "div", "neg", "pow3", "powc", "square", "exp", "log",
               "sin", "cos", "tan", "sinh", "cosh", "tanh", "sqrt", "expm1", "log1p", "sum",
               "mean", "prod", "cumsum", "einsum", "index", "cumprod", "arcsin", "arctan",
               "arcsinh", "log10", "reciprocal"]


def _tol(dtype):
    return dict(rtol=2e-5, atol=2e-5) if np.dtype(dtype) == np.complex64 else dict(
        rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", CDTYPES)
@pytest.mark.parametrize("name", sorted(OPS))
def test_values_eager_and_jit_vs_numpy(name, dtype):
    f, ref = OPS[name]
    z = _z((4,), dtype)
    want = ref(z)
    got = f(z)
    assert np.asarray(got).dtype == np.asarray(want).dtype, name
    np.testing.assert_allclose(got, want, **_tol(dtype))
    got_jit = fa.jit(f)(z)
    assert np.asarray(got_jit).dtype == np.asarray(want).dtype, name
    np.testing.assert_allclose(got_jit, want, **_tol(dtype))


# Not differentiable (or piecewise constant): values only.
VALUE_ONLY = {
    "sign": (fnp.sign, np.sign),
    "round": (fnp.round, np.round),
    "isfinite": (fnp.isfinite, np.isfinite),
    "isnan": (fnp.isnan, np.isnan),
    "equal": (lambda z: z == z[::-1], lambda z: z == z[::-1]),
}


@pytest.mark.parametrize("dtype", CDTYPES)
@pytest.mark.parametrize("name", sorted(VALUE_ONLY))
def test_nondifferentiable_values(name, dtype):
    f, ref = VALUE_ONLY[name]
    z = _z((4,), dtype)
    for g in (f, fa.jit(f)):
        np.testing.assert_array_equal(g(z), ref(z))
    np.testing.assert_allclose(fa.grad(lambda z: fnp.sum(fnp.real(f(z) * 1.0)))(z), 0 * z)


@pytest.mark.parametrize("dtype", CDTYPES)
def test_values_under_numba_all_ops_one_program(numba_on, dtype):
    # One program with every op: one Numba compile per dtype.
    names = sorted(OPS)
    z = _z((4,), dtype)
    outs = fa.jit(lambda z: [OPS[n][0](z) for n in names])(z)
    for n, got in zip(names, outs):
        want = OPS[n][1](z)
        assert np.asarray(got).dtype == np.asarray(want).dtype, n
        np.testing.assert_allclose(got, want, err_msg=n, **_tol(dtype))


@pytest.mark.parametrize("name", sorted(OPS))
def test_vmap_matches_a_loop(name):
    f, _ = OPS[name]
    zs = _z((3, 4), seed=1)
    got = fa.vmap(f)(zs)
    want = np.stack([np.asarray(f(z)) for z in zs])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", sorted(OPS))
def test_check_grads_order_2(name):
    f, _ = OPS[name]
    check_grads(f, (_z((3,)),), order=2, modes=("fwd", "rev"))


@pytest.mark.parametrize("name", ["mul", "div", "exp", "sqrt", "abs", "angle", "lax_complex",
                                  "dot", "to_real"])
def test_check_grads_under_jit(name):
    f, _ = OPS[name]
    check_grads(fa.jit(f), (_z((3,)),), order=2, modes=("fwd", "rev"))


def test_check_grads_complex64():
    check_grads(lambda z: fnp.exp(z) * fnp.conj(z), (_z((3,), np.complex64),), order=1)


# -- holomorphic derivatives against f'(z) = (f(z + h) - f(z - h)) / 2h --------------------


def _fd_jacobian(f, z, h):
    """Central differences along each coordinate direction h * e_k (h real or imaginary)."""
    eye = np.eye(z.shape[0])
    return np.stack([(np.asarray(f(z + h * eye[k])) - np.asarray(f(z - h * eye[k])))
                     / (2 * abs(h)) for k in range(z.shape[0])], -1)


@pytest.mark.parametrize("name", HOLOMORPHIC)
def test_holomorphic_grad_jacfwd_jacrev(name):
    f, _ = OPS[name]
    z = _z((3,), seed=2)
    want = _fd_jacobian(f, z, 1e-6)
    for jac in (fa.jacfwd, fa.jacrev):
        np.testing.assert_allclose(jac(f, holomorphic=True)(z), want, rtol=1e-6, atol=1e-6)
    # The derivative in the imaginary direction is i f'(z) (Cauchy-Riemann).
    want_i = _fd_jacobian(f, z, 1e-6j)
    np.testing.assert_allclose(1j * want, want_i, rtol=1e-5, atol=1e-5)
    g = fa.grad(lambda z: fnp.sum(f(z)), holomorphic=True)(z)
    np.testing.assert_allclose(g, want.reshape(-1, 3).sum(0), rtol=1e-6, atol=1e-6)


def test_holomorphic_second_order_and_jit():
    def f(z):
        return fnp.sum(fnp.sin(z) * z ** 2)
    z = _z((3,), seed=3)
    d1 = np.cos(z) * z ** 2 + 2 * z * np.sin(z)
    d2 = -np.sin(z) * z ** 2 + 4 * z * np.cos(z) + 2 * np.sin(z)
    for g in (fa.grad(f, holomorphic=True), fa.jit(fa.grad(f, holomorphic=True))):
        np.testing.assert_allclose(g(z), d1, rtol=1e-12)
    h = fa.jacfwd(fa.grad(f, holomorphic=True), holomorphic=True)
    np.testing.assert_allclose(h(z), np.diag(d2), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fa.jit(h)(z), np.diag(d2), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fa.hessian(f, holomorphic=True)(z), np.diag(d2), rtol=1e-12,
                               atol=1e-12)
    np.testing.assert_allclose(
        fa.jacrev(fa.grad(f, holomorphic=True), holomorphic=True)(z), np.diag(d2),
        rtol=1e-12, atol=1e-12)


# -- real-valued functions of complex inputs: grad = df/dx - i df/dy ----------------------


def _fd_real_grad(f, z, h=1e-6):
    z = np.asarray(z, np.complex128)
    g = np.zeros(z.shape, np.complex128)
    for k in np.ndindex(z.shape):
        e = np.zeros(z.shape)
        e[k] = h
        dx = (float(f(z + e)) - float(f(z - e))) / (2 * h)
        dy = (float(f(z + 1j * e)) - float(f(z - 1j * e))) / (2 * h)
        g[k] = np.conj(dx + 1j * dy)  # JAX's convention
    return g


REAL_VALUED = {
    "abs2": lambda z: fnp.sum(fnp.abs(z) ** 2),
    "real_parts": lambda z: fnp.sum(fnp.real(z) ** 2 + 3 * fnp.imag(z) * fnp.real(z)),
    "re_sin": lambda z: fnp.sum(fnp.real(fnp.sin(z) * fnp.conj(z))),
    "angle": lambda z: fnp.sum(fnp.angle(z) ** 2),
    "log_abs": lambda z: fnp.sum(fnp.log(fnp.abs(fnp.exp(z) + 1))),
    "quadratic_form": lambda z: fnp.real(fnp.vdot(z, fnp.outer(z, fnp.conj(z)) @ z)),
}


@pytest.mark.parametrize("name", sorted(REAL_VALUED))
def test_grad_of_real_valued_function_follows_jax_convention(name):
    f = REAL_VALUED[name]
    z = _z((3,), seed=4)
    want = _fd_real_grad(f, z)
    for g in (fa.grad(f), fa.jit(fa.grad(f)), lambda z: fa.vjp(f, z)[1](1.0)[0],
              lambda z: fa.jacrev(f)(z)):
        np.testing.assert_allclose(g(z), want, rtol=1e-6, atol=1e-6)
    # Forward mode: the jvp in direction v is Re(conj(grad) ... ) = Re(g * v).
    v = _z((3,), seed=5)
    _, t = fa.jvp(f, (z,), (v,))
    np.testing.assert_allclose(t, np.real(np.sum(want * v)), rtol=1e-6, atol=1e-6)
    # Second order: the gradient map is real-linearizable; check it against FD.
    check_grads(f, (z,), order=2)


def test_grad_of_grad_real_valued_hessian_vector():
    # grad(|z|^2) = 2 conj(z); the jvp of that in direction v is 2 conj(v).
    f = REAL_VALUED["abs2"]
    z, v = _z((3,), seed=6), _z((3,), seed=7)
    _, t = fa.jvp(fa.grad(f), (z,), (v,))
    np.testing.assert_allclose(t, 2 * np.conj(v), rtol=1e-12)
    _, t = fa.jvp(fa.jit(fa.grad(f)), (z,), (v,))
    np.testing.assert_allclose(t, 2 * np.conj(v), rtol=1e-12)


def test_real_inputs_through_complex_intermediates():
    # A real function of real inputs computed with complex numbers: the usual gradient.
    def f(x):
        return fnp.sum(fnp.abs(fnp.exp(1j * x) + 0.5) ** 2)

    x = np.array([0.3, -1.2, 2.0])
    want = -np.sin(x)  # |e^{ix} + .5|^2 = 1.25 + cos(x)
    for g in (fa.grad(f), fa.jit(fa.grad(f))):
        got = g(x)
        assert got.dtype == np.float64
        np.testing.assert_allclose(got, want, rtol=1e-12)
    np.testing.assert_allclose(fa.hessian(f)(x), np.diag(-np.cos(x)), rtol=1e-12, atol=1e-12)
    jf = fa.jacfwd(lambda x: fnp.exp(1j * x))(x)
    np.testing.assert_allclose(jf, np.diag(1j * np.exp(1j * x)), rtol=1e-12)


# -- the examples of JAX's documentation, with their printed numbers ------------------------


def test_jax_doc_examples():
    # Autodiff cookbook, "Complex numbers and differentiation".
    def f(z):
        x, y = fnp.real(z), fnp.imag(z)
        return x ** 2 + y ** 2

    z = 3. + 4j
    assert complex(fa.grad(f)(z)) == 6 - 8j
    g64 = fa.grad(f)(np.complex64(z))
    assert g64.dtype == np.complex64 and complex(g64) == 6 - 8j
    np.testing.assert_allclose(fa.grad(lambda z: fnp.abs(z) ** 2)(z), 6 - 8j, rtol=1e-15)
    # Holomorphic: grad(sin, holomorphic=True)(z) == cos(z).
    g = fa.grad(fnp.sin, holomorphic=True)(np.complex64(z))
    assert g.dtype == np.complex64
    np.testing.assert_allclose(g, np.complex64(-27.034946 - 3.8511534j), rtol=1e-6)
    np.testing.assert_allclose(fa.grad(fnp.sin, holomorphic=True)(z), np.cos(z), rtol=1e-15)
    # vjp is the transpose of the linearization, with no conjugation.
    _, f_vjp = fa.vjp(lambda z: (2 + 1j) * z, z)
    assert complex(f_vjp(1.0 + 0j)[0]) == 2 + 1j
    _, f_vjp = fa.vjp(fnp.conj, z)
    assert complex(f_vjp(1j)[0]) == -1j
    _, f_vjp = fa.vjp(fnp.imag, z)
    assert complex(f_vjp(1.0)[0]) == -1j
    _, f_vjp = fa.vjp(fnp.real, z)
    assert complex(f_vjp(1.0)[0]) == 1


# -- errors ------------------------------------------------------------------------------------


def test_grad_of_complex_output_needs_holomorphic():
    with pytest.raises(TypeError, match="holomorphic=True"):
        fa.grad(lambda z: z ** 2)(1 + 1j)
    with pytest.raises(TypeError, match="jacrev requires real-valued outputs"):
        fa.jacrev(lambda z: z ** 2)(np.array([1 + 1j]))
    with pytest.raises(TypeError, match="jacfwd requires real-valued inputs"):
        fa.jacfwd(lambda z: z ** 2)(np.array([1 + 1j]))


def test_holomorphic_needs_complex_inputs_and_outputs():
    with pytest.raises(TypeError, match="requires inputs with complex dtype, but got float64"):
        fa.grad(lambda x: x ** 2, holomorphic=True)(1.0)
    with pytest.raises(TypeError, match="requires inputs with complex dtype"):
        fa.jacrev(lambda x: x ** 2, holomorphic=True)(np.ones(2))
    with pytest.raises(TypeError, match="requires inputs with complex dtype"):
        fa.jacfwd(lambda x: x ** 2, holomorphic=True)(np.ones(2))
    with pytest.raises(TypeError, match="requires outputs with complex dtype"):
        fa.grad(lambda z: fnp.abs(z), holomorphic=True)(1 + 1j)
    with pytest.raises(TypeError, match="requires outputs with complex dtype"):
        fa.jacfwd(lambda z: fnp.abs(z), holomorphic=True)(np.array([1 + 1j]))


@pytest.mark.parametrize("f", [fnp.max, fnp.min, fnp.argmax, fnp.argmin, fnp.sort,
                               fnp.argsort])
def test_ordering_reductions_of_complex_are_lexicographic(f):
    # (real, imag) order as NumPy and JAX (more in tests/test_complex_linalg.py)
    z = np.array([1 + 2j, 1 - 1j, -1 + 5j, 1 + 2j, 0.5 + 0j])
    want = getattr(np, f.__name__)(z)
    np.testing.assert_array_equal(f(z), want)
    np.testing.assert_array_equal(fa.jit(f)(z), want)


def test_lax_ordering_primitives_refuse_complex():
    z = _z((3,))
    with pytest.raises(TypeError, match="does not accept complex"):
        fa.jit(lambda z: fnp.arctan2(z, z))(z)
    with pytest.raises(TypeError, match="complex"):
        lax.complex(z, z)


@pytest.mark.parametrize("name", ["less", "less_equal", "greater", "greater_equal",
                                  "maximum", "minimum", "equal", "not_equal"])
def test_comparisons_are_lexicographic_as_numpy(name):
    a = np.array([1 + 2j, 1 + 1j, 2 - 1j, 0.5 + 3j, -1j])
    b = np.array([1 + 1j, 1 + 2j, 1 - 1j, 0.5 + 3j, 1j])
    want = getattr(np, name)(a, b)
    np.testing.assert_array_equal(getattr(fnp, name)(a, b), want)
    np.testing.assert_array_equal(fa.jit(getattr(fnp, name))(a, b), want)


def test_numpy_protocols_and_predicates():
    z = _z((3,))

    def f(z):
        assert fnp.iscomplexobj(z) and not fnp.isrealobj(z)
        return np.conj(z) * np.abs(z) + np.real(z) + np.imag(z)

    np.testing.assert_allclose(fa.jit(f)(z), np.conj(z) * np.abs(z) + z.real + z.imag)
    np.testing.assert_array_equal(fnp.iscomplex(np.array([1 + 0j, 1j])), [False, True])
    np.testing.assert_array_equal(fnp.isreal(np.array([1 + 0j, 1j])), [True, False])
    assert fnp.array([1, 2], dtype=fnp.complex64).dtype == np.complex64
    assert fnp.zeros(2, fnp.complex128).dtype == np.complex128


# -- complex matrices -----------------------------------------------------------------------


def _cmat(seed=12):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(3, 3)) + 1j * rng.normal(size=(3, 3)) + 3 * np.eye(3)


MATRIX_OPS = {
    "solve": (lambda a: fnp.linalg.solve(a, a[:, 0] * 1j),
              lambda a: np.linalg.solve(a, a[:, 0] * 1j)),
    "inv": (fnp.linalg.inv, np.linalg.inv),
    "det": (fnp.linalg.det, np.linalg.det),
    "slogdet_sign": (lambda a: fnp.linalg.slogdet(a)[0], lambda a: np.linalg.slogdet(a)[0]),
    "slogdet_log": (lambda a: fnp.linalg.slogdet(a)[1], lambda a: np.linalg.slogdet(a)[1]),
    "matrix_power": (lambda a: fnp.linalg.matrix_power(a, 3),
                     lambda a: np.linalg.matrix_power(a, 3)),
    "matmul_conjT": (lambda a: a @ a.conj().T, lambda a: a @ a.conj().T),
    "trace": (fnp.trace, np.trace),
}


@pytest.mark.parametrize("name", sorted(MATRIX_OPS))
def test_complex_matrices(name):
    f, ref = MATRIX_OPS[name]
    a = _cmat()
    want = ref(a)
    for g in (f, fa.jit(f)):
        got = g(a)
        assert np.asarray(got).dtype == np.asarray(want).dtype
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    check_grads(f, (a,), order=2)
    np.testing.assert_allclose(fa.vmap(f)(np.stack([a, _cmat(13)])),
                               np.stack([want, ref(_cmat(13))]), rtol=1e-10, atol=1e-12)


def test_complex_matrices_under_numba(numba_on):
    a = np.stack([_cmat(), _cmat(13)])
    outs = fa.jit(lambda a: [fa.vmap(MATRIX_OPS[n][0])(a) for n in sorted(MATRIX_OPS)])(a)
    for n, got in zip(sorted(MATRIX_OPS), outs):
        np.testing.assert_allclose(got, np.stack([MATRIX_OPS[n][1](m) for m in a]),
                                   rtol=1e-10, atol=1e-12, err_msg=n)


@pytest.mark.parametrize("name", ["cholesky", "eigvalsh", "svdvals", "pinv"])
def test_complex_decompositions(name):
    # (their derivatives, jit and vmap: tests/test_complex_linalg.py)
    a = _cmat()
    a = a @ a.conj().T + np.eye(3)
    f, ref = getattr(fnp.linalg, name), getattr(np.linalg, name, None)
    if name == "svdvals":
        ref = functools.partial(np.linalg.svd, compute_uv=False)
    for g in (f, fa.jit(f)):
        np.testing.assert_allclose(g(a), ref(a), rtol=1e-10, atol=1e-12)


# -- a small port: a unitary propagation and phase retrieval ---------------------------------


def _expm(a, squarings=8, terms=12):
    """exp(a) by scaling and squaring with a Taylor polynomial (traceable, complex)."""
    a = a / 2.0 ** squarings
    n = a.shape[0]
    out = fnp.eye(n, dtype=a.dtype)
    term = fnp.eye(n, dtype=a.dtype)
    for k in range(1, terms):
        term = term @ a / k
        out = out + term
    for _ in range(squarings):
        out = out @ out
    return out


def _hamiltonian(theta):
    # H = sum_k theta_k P_k with fixed Hermitian P_k: H is Hermitian for real theta.
    rng = np.random.default_rng(11)
    ps = []
    for _ in range(theta.shape[0]):
        m = rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4))
        ps.append((m + m.conj().T) / 2)
    return fnp.einsum("k,kij->ij", theta.astype(np.complex128), np.stack(ps)), ps


def test_port_quantum_gate_fidelity():
    theta = np.array([0.3, -0.7, 0.5])
    psi0 = np.array([1, 0, 0, 0], complex)
    target = np.array([0.5, 0.5j, -0.5, 0.5j])

    def fidelity(theta):
        h, _ = _hamiltonian(theta)
        u = _expm(-1j * h)
        return fnp.abs(fnp.vdot(target, u @ psi0)) ** 2

    h_np = sum(t * p for t, p in zip(theta, _hamiltonian(theta)[1]))
    u_np = scipy.linalg.expm(-1j * h_np)
    np.testing.assert_allclose(_expm(-1j * fnp.asarray(h_np)), u_np, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(u_np.conj().T @ u_np, np.eye(4), atol=1e-12)
    want = abs(np.vdot(target, u_np @ psi0)) ** 2
    np.testing.assert_allclose(fidelity(theta), want, rtol=1e-10)
    g = fa.grad(fidelity)(theta)
    assert g.dtype == np.float64
    eps = 1e-6
    fd = np.array([(fidelity(theta + eps * e) - fidelity(theta - eps * e)) / (2 * eps)
                   for e in np.eye(3)])
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(fa.jit(fa.grad(fidelity))(theta), g, rtol=1e-10)
    np.testing.assert_allclose(fa.jacfwd(fidelity)(theta), g, rtol=1e-10)
    np.testing.assert_allclose(fa.hessian(fidelity)(theta), fa.jacrev(fa.grad(fidelity))(theta),
                               rtol=1e-8, atol=1e-10)


def test_port_phase_retrieval_with_dft():
    # Recover a phase mask phi from far-field intensities |F exp(i phi)|^2 (F: the DFT).
    n = 8
    k = np.arange(n)
    dft = np.exp(-2j * np.pi * np.outer(k, k) / n) / np.sqrt(n)
    phi_true = np.random.default_rng(5).uniform(-1, 1, n)
    target = np.abs(dft @ np.exp(1j * phi_true)) ** 2

    def loss(phi):
        field = fnp.exp(1j * phi)
        far = dft @ field
        return fnp.sum((fnp.abs(far) ** 2 - target) ** 2)

    phi0 = phi_true + 0.2 * np.random.default_rng(6).normal(size=n)
    check_grads(loss, (phi0,), order=2)
    # The same loss written on a complex field u: grad w.r.t. u follows JAX's convention.
    def loss_u(u):
        return fnp.sum((fnp.abs(dft @ u) ** 2 - target) ** 2)
    u0 = np.exp(1j * phi0)
    np.testing.assert_allclose(fa.grad(loss_u)(u0), _fd_real_grad(loss_u, u0), rtol=1e-5,
                               atol=1e-6)
    # Chain rule through u = exp(i phi): dL/dphi = Re(grad_u * d u/dphi) = Re(g * i u).
    np.testing.assert_allclose(fa.grad(loss)(phi0), np.real(fa.grad(loss_u)(u0) * 1j * u0),
                               rtol=1e-10, atol=1e-12)
    step = fa.jit(lambda phi: phi - 0.05 * fa.grad(loss)(phi))
    phi = phi0
    for _ in range(200):
        phi = step(phi)
    assert loss(phi) < 1e-2 * loss(phi0)


def test_vmap_of_grad_and_grad_of_vmap():
    f = REAL_VALUED["re_sin"]
    zs = _z((4, 3), seed=8)
    per = fa.vmap(fa.grad(f))(zs)
    loop = np.stack([fa.grad(f)(z) for z in zs])
    np.testing.assert_allclose(per, loop, rtol=1e-12)
    total = fa.grad(lambda zs: fnp.sum(fa.vmap(f)(zs)))(zs)
    np.testing.assert_allclose(total, loop, rtol=1e-12)


def test_grad_under_numba(numba_on):
    f = REAL_VALUED["log_abs"]
    z = _z((3,), seed=9)
    np.testing.assert_allclose(fa.jit(fa.grad(f))(z), _fd_real_grad(f, z), rtol=1e-6)
    h = fa.jit(fa.jacfwd(fa.grad(lambda z: fnp.sum(fnp.tanh(z) * z), holomorphic=True),
                         holomorphic=True))
    zz = _z((3,), seed=10)
    d2 = np.diag(2 * (1 - np.tanh(zz) ** 2) - 2 * zz * np.tanh(zz) * (1 - np.tanh(zz) ** 2))
    np.testing.assert_allclose(h(zz), d2, rtol=1e-10, atol=1e-12)
    z64 = _z((3,), np.complex64, seed=9)
    g64 = fa.jit(fa.grad(f))(z64)
    assert g64.dtype == np.complex64
    np.testing.assert_allclose(g64, _fd_real_grad(f, z64.astype(complex)), rtol=1e-3, atol=1e-4)
