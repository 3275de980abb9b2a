"""funcad.nn: values against NumPy/SciPy formulas, derivatives, stability, vmap and jit."""

import numpy as np
import pytest
from scipy import special

import funcad as fa
import funcad.numpy as fnp
from funcad import nn
from funcad.test_util import check_grads
from funcad.tree_util import tree_leaves

X = np.array([-3.0, -1.2, -0.3, 0.4, 1.1, 2.5])
EXTREME = np.array([-1e300, -1e4, -800.0, -40.0, -1e-300, 0.0, 1e-300, 40.0, 800.0, 1e4,
                    1e300])


def _gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))


UNARY = {
    "relu": (nn.relu, lambda x: np.maximum(x, 0)),
    "sigmoid": (nn.sigmoid, special.expit),
    "softplus": (nn.softplus, lambda x: np.logaddexp(x, 0)),
    "silu": (nn.silu, lambda x: x * special.expit(x)),
    "log_sigmoid": (nn.log_sigmoid, lambda x: -np.logaddexp(0, -x)),
    "gelu": (nn.gelu, _gelu_tanh),
    "gelu_exact": (lambda x: nn.gelu(x, approximate=False),
                   lambda x: x * special.ndtr(x)),
    "elu": (nn.elu, lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0)))),
    "elu_alpha": (lambda x: nn.elu(x, 0.5), lambda x: np.where(x > 0, x,
                                                               0.5 * np.expm1(np.minimum(x, 0)))),
    "celu": (lambda x: nn.celu(x, 2.0),
             lambda x: np.maximum(x, 0) + 2.0 * np.expm1(np.minimum(x, 0) / 2.0)),
    "selu": (nn.selu, lambda x: 1.0507009873554804934193349852946 * np.where(
        x > 0, x, 1.6732632423543772848170429916717 * np.expm1(np.minimum(x, 0)))),
    "leaky_relu": (nn.leaky_relu, lambda x: np.where(x >= 0, x, 0.01 * x)),
    "relu6": (nn.relu6, lambda x: np.clip(x, 0, 6)),
    "hard_tanh": (nn.hard_tanh, lambda x: np.clip(x, -1, 1)),
    "hard_sigmoid": (nn.hard_sigmoid, lambda x: np.clip(x + 3, 0, 6) / 6),
    "hard_silu": (nn.hard_silu, lambda x: x * np.clip(x + 3, 0, 6) / 6),
    "soft_sign": (nn.soft_sign, lambda x: x / (np.abs(x) + 1)),
}
# Exact first derivatives, for the stability tests at extreme inputs.
DERIV = {
    "relu": lambda x: (x > 0).astype(float),
    "sigmoid": lambda x: special.expit(x) * special.expit(-x),
    "softplus": special.expit,
    "log_sigmoid": lambda x: special.expit(-x),
    "silu": lambda x: special.expit(x) + x * special.expit(x) * special.expit(-x),
    "gelu_exact": lambda x: special.ndtr(x) + x * np.exp(-0.5 * x * x) / np.sqrt(2 * np.pi),
}


@pytest.mark.parametrize("name", UNARY)
def test_unary_values(name):
    f, ref = UNARY[name]
    np.testing.assert_allclose(f(X), ref(X), rtol=1e-13, atol=1e-15)
    x32 = X.astype(np.float32)
    assert f(x32).dtype == np.float32


@pytest.mark.parametrize("name", UNARY)
def test_unary_grads_order2(name):
    f, _ = UNARY[name]
    # shifted off the kinks of the piecewise activations (hard_sigmoid's at -3)
    check_grads(lambda x: f(x), (X + 0.013,), order=2, modes=("fwd", "rev"))


@pytest.mark.parametrize("name", UNARY)
def test_unary_extreme_inputs(name):
    f, ref = UNARY[name]
    with np.errstate(all="ignore"):
        expected = ref(EXTREME)
    y = f(EXTREME)
    assert np.all(np.isfinite(y))
    np.testing.assert_allclose(y, expected, rtol=1e-13, atol=1e-300)
    g = fa.vmap(fa.grad(f))(EXTREME)
    assert np.all(np.isfinite(g)), g
    if name in DERIV:
        with np.errstate(all="ignore"):
            np.testing.assert_allclose(g, DERIV[name](EXTREME), rtol=1e-12, atol=1e-300)
    gg = fa.vmap(fa.grad(fa.grad(f)))(EXTREME)
    assert np.all(np.isfinite(gg)), gg


def test_gelu_exact_tail_and_erfc():
    x = np.concatenate([-np.geomspace(1e-8, 38, 300), np.geomspace(1e-8, 38, 300)])
    np.testing.assert_allclose(nn.gelu(x, approximate=False), x * special.ndtr(x),
                               rtol=1e-12, atol=1e-300)


def test_relu_grad_at_zero_is_zero():
    assert fa.grad(nn.relu)(0.0) == 0.0
    assert fa.grad(nn.relu)(1.0) == 1.0


def test_sigmoid_second_derivative():
    # sigmoid'' = s (1 - s) (1 - 2 s); third derivative at 0 is -1/8.
    x = np.linspace(-5, 5, 11)
    s = special.expit(x)
    np.testing.assert_allclose(fa.vmap(fa.grad(fa.grad(nn.sigmoid)))(x),
                               s * (1 - s) * (1 - 2 * s), atol=1e-15)
    assert abs(fa.grad(fa.grad(fa.grad(nn.sigmoid)))(0.0) + 0.125) < 1e-14


A = np.array([[0.3, -1.2, 2.0, 0.1], [1.5, 0.2, -0.7, -2.2], [0.0, 0.4, 1.1, -0.5]])


@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 1)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_logsumexp_values_and_grads(axis, keepdims):
    out = nn.logsumexp(A, axis=axis, keepdims=keepdims)
    np.testing.assert_allclose(out, special.logsumexp(A, axis=axis, keepdims=keepdims),
                               rtol=1e-14)
    check_grads(lambda a: nn.logsumexp(a, axis=axis, keepdims=keepdims), (A,), order=2,
                modes=("fwd", "rev"))


def test_logsumexp_weights():
    b = np.array([0.5, 2.0, 1.0, 0.0])
    np.testing.assert_allclose(nn.logsumexp(A, axis=1, b=b),
                               special.logsumexp(A, axis=1, b=b), rtol=1e-14)
    check_grads(lambda a, w: nn.logsumexp(a, axis=1, b=w), (A, b + 0.5), order=2,
                modes=("fwd", "rev"))


def test_logsumexp_extremes():
    a = np.array([1000.0, 1000.0, -np.inf, 999.0])
    assert nn.logsumexp(a) == pytest.approx(special.logsumexp(a), rel=1e-15)
    g = fa.grad(nn.logsumexp)(a)
    np.testing.assert_allclose(g, special.softmax(a), rtol=1e-14)
    assert g[2] == 0.0
    assert np.all(np.isfinite(fa.hessian(nn.logsumexp)(a)[np.ix_([0, 1, 3], [0, 1, 3])]))
    with np.errstate(divide="ignore"):
        assert nn.logsumexp(np.full(3, -np.inf)) == -np.inf
    assert nn.logsumexp(np.array([-1e308, -1e308])) == pytest.approx(-1e308, rel=1e-15)


@pytest.mark.parametrize("axis", [0, 1, -1, (0, 1)])
def test_softmax_log_softmax(axis):
    np.testing.assert_allclose(nn.softmax(A, axis=axis), special.softmax(A, axis=axis),
                               rtol=1e-14)
    np.testing.assert_allclose(nn.log_softmax(A, axis=axis),
                               special.log_softmax(A, axis=axis), rtol=1e-14, atol=1e-15)
    check_grads(lambda a: nn.softmax(a, axis=axis), (A,), order=2, modes=("fwd", "rev"))
    check_grads(lambda a: nn.log_softmax(a, axis=axis), (A,), order=2, modes=("fwd", "rev"))


def test_softmax_extremes_and_masks():
    a = np.array([1e4, 1e4 - 1.0, -np.inf, -1e4])
    y = nn.softmax(a)
    np.testing.assert_allclose(y, special.softmax(a), rtol=1e-14)
    ct = np.array([1.0, -2.0, 3.0, 0.5])
    for f in (nn.softmax, nn.log_softmax):
        jac = fa.jacrev(f)(a)
        assert np.all(np.isfinite(jac[[0, 1, 3]])), jac
        np.testing.assert_allclose(fa.jacfwd(f)(a)[[0, 1, 3]], jac[[0, 1, 3]], atol=1e-15)
    # d softmax = y * (t - <y, t>): exactly zero on masked entries.
    _, t = fa.jvp(nn.softmax, (a,), (ct,))
    assert t[2] == 0.0
    assert nn.log_softmax(a)[2] == -np.inf


def test_one_hot():
    labels = np.array([0, 2, 1, 5, -1])
    out = nn.one_hot(labels, 3)
    np.testing.assert_array_equal(out, np.eye(3)[[0, 2, 1]].tolist() + [[0, 0, 0]] * 2)
    assert out.dtype == np.float64
    assert nn.one_hot(labels, 3, dtype=np.float32).dtype == np.float32
    assert nn.one_hot(np.array([[0, 1]]), 2, axis=0).shape == (2, 1, 2)
    # Traced labels inside a transform.
    f = fa.jit(lambda y: nn.one_hot(y, 4))
    np.testing.assert_array_equal(f(np.array([3, 0])), np.eye(4)[[3, 0]])


NETLIKE = {
    "relu": nn.relu, "sigmoid": nn.sigmoid, "softplus": nn.softplus, "silu": nn.silu,
    "log_sigmoid": nn.log_sigmoid,
    "gelu": nn.gelu, "gelu_exact": lambda x: nn.gelu(x, approximate=False),
    "softmax": nn.softmax, "log_softmax": nn.log_softmax,
    "logsumexp": lambda x: nn.logsumexp(x, axis=-1),
}


@pytest.mark.parametrize("name", NETLIKE)
def test_vmap_and_jit(name):
    f = NETLIKE[name]
    rows = A
    looped = np.stack([f(r) for r in rows])
    np.testing.assert_allclose(fa.vmap(f)(rows), looped, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(fa.jit(f)(rows), f(rows), rtol=1e-14, atol=1e-15)
    loss = lambda x: fnp.sum(f(x) * np.arange(1.0, 1.0 + x.shape[-1]))
    g_loop = np.stack([fa.grad(loss)(r) for r in rows])
    np.testing.assert_allclose(fa.vmap(fa.grad(loss))(rows), g_loop, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(fa.jit(fa.grad(loss))(rows[0]), g_loop[0], rtol=1e-13,
                               atol=1e-15)


def test_cross_entropy_training_gradient():
    # A typical classification loss: log_softmax + one_hot, differentiated through a layer.
    rng = np.random.default_rng(0)
    w, x = rng.normal(size=(3, 4)), rng.normal(size=(5, 3))
    y = np.array([0, 3, 1, 2, 3])

    def loss(w):
        return -fnp.mean(fnp.sum(nn.log_softmax(x @ w) * nn.one_hot(y, 4), axis=-1))

    logits = x @ w
    expected = x.T @ (special.softmax(logits, axis=-1) - np.eye(4)[y]) / 5
    np.testing.assert_allclose(fa.grad(loss)(w), expected, rtol=1e-13, atol=1e-15)
    check_grads(loss, (w,), order=2, modes=("fwd", "rev"))


def test_numba_compiled_matches_eager(monkeypatch):
    # One real Numba compile covering every function and its gradient (the rest of the
    # suite runs jit's generated source as plain Python).
    monkeypatch.setenv("FUNCAD_DISABLE_JIT", "0")

    def everything(x):
        outs = [f(x) for f in NETLIKE.values()]
        outs.append(nn.one_hot(fnp.argmax(x, axis=-1), 4))
        return outs, fa.grad(lambda x: sum(fnp.sum(o * o) for o in outs_of(x)))(x)

    def outs_of(x):
        return [f(x) for f in NETLIKE.values()]

    x = np.concatenate([A, EXTREME[None, 3:7]])
    got, expected = fa.jit(everything)(x), everything(x)
    for a, b in zip(tree_leaves(got), tree_leaves(expected), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-300)
        assert np.all(np.isfinite(a))


def test_glu_and_standardize():
    x = np.arange(12.0).reshape(3, 4) / 5 - 1
    np.testing.assert_allclose(nn.glu(x), x[:, :2] * special.expit(x[:, 2:]), rtol=1e-14)
    np.testing.assert_allclose(nn.glu(x, axis=0 if x.shape[0] % 2 == 0 else 1),
                               x[:, :2] * special.expit(x[:, 2:]), rtol=1e-14)
    with pytest.raises(ValueError, match="even"):
        nn.glu(x, axis=0)
    for axis in (-1, 0, (0, 1), None):
        m = x.mean(axis=axis, keepdims=True)
        v = x.var(axis=axis, keepdims=True)
        ref = (x - m) / np.sqrt(v + 1e-5)
        np.testing.assert_allclose(nn.standardize(x, axis), ref, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(nn.standardize(x, axis, algorithm="stable"), ref,
                                   rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(nn.standardize(x, mean=0.0, variance=1.0, epsilon=0.0), x)
    with pytest.raises(ValueError, match="algorithm"):
        nn.standardize(x, algorithm="slow")
    check_grads(lambda a: nn.standardize(a, 0), (x,), order=2)
    check_grads(lambda a: nn.glu(a), (x,), order=2)
    np.testing.assert_allclose(fa.jit(lambda a: nn.standardize(a, (0, 1)))(x),
                               nn.standardize(x, (0, 1)), rtol=1e-13)
    np.testing.assert_allclose(fa.vmap(nn.standardize)(x), nn.standardize(x), rtol=1e-13)
