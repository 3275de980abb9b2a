"""funcad.nn's additions (funcad/nn/_extra.py) against NumPy references.

dot_product_attention was also checked once against jax.nn.dot_product_attention (x64) on
the cases below: it agrees to 1.5e-7, the float32 softmax JAX uses; funcad's is float64.
"""

import numpy as np
import pytest
import scipy.special as ss

import funcad
import funcad.nn as nn
from funcad.test_util import check_grads

X = np.concatenate([np.linspace(-40.0, 40.0, 161), [-1.0, -0.0, 0.0, 1.0, 1e-12, -1e-12]])
XP = np.concatenate([np.geomspace(1e-300, 1e-5, 30), np.linspace(0.01, 50.0, 101),
                     [np.log(2.0), 700.0, np.inf]])

REFS = {
    "tanh": (X, np.tanh),
    "identity": (X, lambda x: x),
    "mish": (X, lambda x: x * np.tanh(np.logaddexp(0.0, x))),
    "squareplus": (X, lambda x: (x + np.sqrt(x * x + 4)) / 2),
    # Maechler's two branches (each exact to rounding on its side of log 2)
    "log1mexp": (XP, lambda x: np.where(x < np.log(2.0), np.log(-np.expm1(-x)),
                                        np.log1p(-np.exp(-x)))),
    "sparse_plus": (X, lambda x: np.where(x <= -1, 0.0, np.where(x >= 1, x, (x + 1) ** 2 / 4))),
    "sparse_sigmoid": (X, lambda x: np.clip((x + 1) / 2, 0.0, 1.0)),
}


@pytest.mark.parametrize("name", sorted(REFS))
def test_values_jit_vmap(name):
    x, ref = REFS[name]
    f = getattr(nn, name)
    want = ref(x)
    for g in (f, funcad.jit(f), funcad.vmap(f)):
        np.testing.assert_allclose(np.asarray(g(x)), want, rtol=1e-14, atol=0)


def test_squareplus_b():
    np.testing.assert_allclose(nn.squareplus(X, 0.5), (X + np.sqrt(X * X + 0.5)) / 2, rtol=1e-14)


@pytest.mark.parametrize("name,x,order", [
    ("tanh", 0.3, 2), ("mish", -1.2, 2), ("mish", 2.5, 2), ("squareplus", -0.7, 2),
    ("log1mexp", 0.2, 2), ("log1mexp", 3.0, 2), ("sparse_plus", 0.4, 2),
    ("sparse_plus", 1.7, 1), ("sparse_sigmoid", 0.3, 1), ("identity", 1.1, 2)])
def test_grads(name, x, order):
    check_grads(getattr(nn, name), (x,), order=order, modes=("fwd", "rev"))


def test_log1mexp_derivative_small_x():
    x = np.geomspace(1e-200, 30.0, 40)
    np.testing.assert_allclose(funcad.vmap(funcad.grad(nn.log1mexp))(x), 1 / np.expm1(x),
                               rtol=1e-14)


def test_logmeanexp():
    r = np.random.default_rng(1)
    a = r.normal(size=(4, 5)) * 30
    for axis in (None, 0, 1, (0, 1)):
        for keepdims in (False, True):
            want = ss.logsumexp(a, axis=axis, keepdims=keepdims) - np.log(
                a.size if axis is None else np.prod([a.shape[i] for i in np.atleast_1d(axis)]))
            np.testing.assert_allclose(nn.logmeanexp(a, axis=axis, keepdims=keepdims), want,
                                       rtol=1e-13)
    w = r.random((4, 5)) > 0.4
    want = [ss.logsumexp(a[i][w[i]]) - np.log(w[i].sum()) for i in range(4)]
    np.testing.assert_allclose(nn.logmeanexp(a, axis=1, where=w), want, rtol=1e-13)
    np.testing.assert_allclose(funcad.jit(lambda t: nn.logmeanexp(t, axis=1))(a),
                               ss.logsumexp(a, axis=1) - np.log(5), rtol=1e-13)
    np.testing.assert_allclose(nn.logmeanexp(np.array([1000.0, 1000.0])), 1000.0, rtol=1e-15)
    check_grads(lambda t: nn.logmeanexp(t, axis=0), (a[:, :2] / 30,), order=2,
                modes=("fwd", "rev"))


# -- dot_product_attention -----------------------------------------------------------------

def _attention_ref(q, k, v, bias=None, mask=None, scale=None, is_causal=False, ql=None, kl=None,
                   window=None):
    B, T, N, H = q.shape
    S, K = k.shape[1], k.shape[2]
    G = N // K
    scale = 1 / np.sqrt(H) if scale is None else scale
    if isinstance(window, int):
        window = (window, window)
    out = np.zeros(q.shape)
    for b in range(B):
        for n in range(N):
            lg = q[b, :, n] @ k[b, :, n // G].T * scale
            if bias is not None:
                lg = lg + bias[b % bias.shape[0], n % bias.shape[1]]
            ok = np.ones((T, S), bool)
            if mask is not None:
                ok &= mask[b % mask.shape[0], n % mask.shape[1]]
            if is_causal:
                ok &= np.tril(np.ones((T, S), bool))
            if window is not None:
                i, j = np.arange(T)[:, None], np.arange(S)[None, :]
                ok &= (i <= j + window[0]) & (i >= j - window[1])
            if kl is not None:
                ok &= np.arange(S)[None, :] < kl[b]
            if ql is not None:
                ok &= np.arange(T)[:, None] < ql[b]
            lg = np.where(ok, lg, -0.7 * np.finfo(np.float32).max)
            p = np.exp(lg - lg.max(-1, keepdims=True))
            p /= p.sum(-1, keepdims=True)
            out[b, :, n] = p @ v[b, :, n // G]
            if ql is not None:
                out[b, ql[b]:, n] = 0.0
    return out


R = np.random.default_rng(0)
B_, T_, S_, N_, K_, H_ = 2, 5, 6, 4, 2, 3
Q = R.normal(size=(B_, T_, N_, H_))
KK = R.normal(size=(B_, S_, K_, H_))
V = R.normal(size=(B_, S_, K_, H_))
BIAS = R.normal(size=(1, N_, T_, S_))
MASK = R.random((B_, 1, T_, S_)) > 0.3
QL = np.array([3, 5], np.int32)
KL = np.array([6, 2], np.int32)

CASES = [
    ({}, {}),
    ({"is_causal": True}, {"is_causal": True}),
    ({"bias": BIAS}, {"bias": BIAS}),
    ({"mask": MASK}, {"mask": MASK}),
    ({"scale": 0.3, "local_window_size": 1}, {"scale": 0.3, "window": 1}),
    ({"local_window_size": (2, 0), "bias": BIAS[:, :1]}, {"window": (2, 0), "bias": BIAS[:, :1]}),
    ({"query_seq_lengths": QL, "key_value_seq_lengths": KL, "is_causal": True},
     {"ql": QL, "kl": KL, "is_causal": True}),
]


@pytest.mark.parametrize("i", range(len(CASES)))
def test_attention_values(i):
    kw, rkw = CASES[i]
    want = _attention_ref(Q, KK, V, **rkw)
    got = nn.dot_product_attention(Q, KK, V, **kw)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12, atol=1e-14)
    got = funcad.jit(lambda q, k, v: nn.dot_product_attention(q, k, v, **kw))(Q, KK, V)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12, atol=1e-14)


def test_attention_vmap_3d_and_heads():
    # 3-D [T, N, H] inputs get a batch of 1 and come back 3-D, as in JAX
    want = _attention_ref(Q[:1], KK[:1], V[:1])[0]
    np.testing.assert_allclose(nn.dot_product_attention(Q[0], KK[0], V[0]), want, rtol=1e-12)
    got = funcad.vmap(nn.dot_product_attention)(Q, KK, V)
    np.testing.assert_allclose(got, _attention_ref(Q, KK, V), rtol=1e-12)
    # plain multi-head (N == K)
    np.testing.assert_allclose(nn.dot_product_attention(Q, Q, Q), _attention_ref(Q, Q, Q),
                               rtol=1e-12)


def test_attention_grads():
    q, k, v = Q[:1, :3], KK[:1, :4], V[:1, :4]
    check_grads(lambda a, b, c: nn.dot_product_attention(a, b, c, is_causal=True),
                (q, k, v), order=2, modes=("fwd", "rev"))
    check_grads(lambda a, b: nn.dot_product_attention(a, k, v, bias=b),
                (q, BIAS[:, :, :3, :4]), order=1, modes=("fwd", "rev"))


def test_attention_errors():
    with pytest.raises(NotImplementedError, match="cudnn"):
        nn.dot_product_attention(Q, KK, V, implementation="cudnn")
    with pytest.raises(ValueError, match="multiple"):
        nn.dot_product_attention(Q[:, :, :3], KK, V)
    with pytest.raises(ValueError, match="mask dtype"):
        nn.dot_product_attention(Q, KK, V, mask=MASK.astype(float))
    with pytest.raises(ValueError, match="value shape"):
        nn.dot_product_attention(Q, KK, V[:, :5])


def test_float32_stays_float32():
    x = np.array([0.5, 1.5, 3.0], np.float32)
    for name in ("tanh", "identity", "mish", "squareplus", "log1mexp", "logmeanexp",
                 "sparse_plus", "sparse_sigmoid"):
        assert getattr(nn, name)(x).dtype == np.float32, name
    q = Q.astype(np.float32)
    k, v = KK.astype(np.float32), V.astype(np.float32)
    out = nn.dot_product_attention(q, k, v, bias=BIAS.astype(np.float32), is_causal=True)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, _attention_ref(Q, KK, V, bias=BIAS, is_causal=True),
                               rtol=1e-5, atol=1e-6)
