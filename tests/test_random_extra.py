"""funcad.random: gumbel(mode="high"), binomial, multinomial, typed keys, clone, shuffle.

Draws are checked against JAX's own, recorded once with JAX 0.10.2 (x64) by
`tests/programs/record_jax.py --random` (the JAX table below; JAX is not needed to run
these tests), and against direct NumPy transcriptions of JAX's algorithms (jax/_src/random:
`_gumbel`, `_binomial_inversion`, `_btrs`, `_binomial`, `multinomial`) fed with the same
random bits, which funcad's `split` and `uniform` produce bit for bit as JAX does
(tests/test_random.py). Distribution checks use fixed seeds.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import funcad as fa
import funcad.random as jr

K42 = jr.PRNGKey(42)
K0 = jr.PRNGKey(0)

nan, inf = np.nan, np.inf
# funcad.random expression: (dtype, shape, flat values) of JAX's draw for the same
# expression with jax.random, recorded once with JAX 0.10.2 (x64)
JAX = {
    'jr.binomial(K42, np.array([5., 20., 100., 1000., 40., 7.]), '
    'np.array([.3, .7, .4, .01, .95, .5]))': ('float64', (6,), [
        1.0, 15.0, 31.0, 9.0, 33.0, 6.0
    ]),
    'jr.binomial(K42, 50., 0.3, (8,))': ('float64', (8,), [
        18.0, 15.0, 9.0, 13.0, 22.0, 10.0, 16.0, 11.0
    ]),
    'jr.binomial(K42, np.array([[3.], [300.]]), np.array([.2, .6,'
    ' .9]))': ('float64', (2, 3), [
        0.0, 2.0, 2.0, 50.0, 175.0, 261.0
    ]),
    'jr.binomial(jr.PRNGKey(7), 1000., 0.5, (6,))': ('float64', (6,), [
        509.0, 506.0, 487.0, 495.0, 504.0, 510.0
    ]),
    'jr.binomial(K42, np.array([np.nan, -1., np.inf, 5., 5., 5., '
    '0., 7.9, np.inf]), np.array([.5, .5, .5, np.nan, 1., 0., .3,'
    ' 1., .7]))': ('float64', (9,), [
        nan, nan, inf, nan, 5.0, 0.0, 0.0, 7.0, inf
    ]),
    'jr.binomial(K42, 20., np.float32(0.4), (5,), '
    'dtype=np.float32)': ('float32', (5,), [
        6.0, 9.0, 5.0, 7.0, 11.0
    ]),
    'jr.binomial(K42, np.float32(300.), np.float32(0.45), (6,), '
    'dtype=np.float32)': ('float32', (6,), [
        141.0, 143.0, 126.0, 129.0, 123.0, 127.0
    ]),
    'jr.binomial(K42, 40., 0.3, (4,), dtype=np.float32)': ('float32', (4,), [
        13.0, 13.0, 20.0, 8.0
    ]),
    'jr.multinomial(K42, 10., np.array([.2, .3, .1, .4]))': ('float64', (4,), [
        1.0, 2.0, 1.0, 6.0
    ]),
    'jr.multinomial(K42, 1000., np.array([.2, .3, .1, .4]))': ('float64', (4,), [
        206.0, 316.0, 108.0, 370.0
    ]),
    'jr.multinomial(K42, np.array([5., 50.]), np.array([[.5, .5, '
    '0.], [.1, .1, .8]]))': ('float64', (2, 3), [
        3.0, 2.0, 0.0, 5.0, 3.0, 42.0
    ]),
    'jr.multinomial(jr.PRNGKey(3), 100., np.array([.2, .3, .5]), '
    'shape=(4, 3))': ('float64', (4, 3), [
        15.0, 35.0, 50.0, 16.0, 36.0, 48.0, 20.0, 27.0, 53.0, 23.0, 30.0, 47.0
    ]),
    'jr.multinomial(K42, 30., np.array([.25, .25, .5], '
    'np.float32), dtype=np.float32)': ('float32', (3,), [
        10.0, 4.0, 16.0
    ]),
    "jr.gumbel(K42, (7,), mode='high')": ('float64', (7,), [
        0.5862781993145616, 4.1914816021674115, 0.15822814885001754, -0.26900584689070045,
        -0.151958877200521, -0.03212800499585835, -0.034023165434156136
    ]),
    "jr.gumbel(jr.PRNGKey(5), (2, 3), mode='high')": ('float64', (2, 3), [
        -0.006034780655542646, 3.0300677725315888, -0.5951775698736924, -0.14265140496486067,
        1.449878754698434, 1.3593254608958192
    ]),
    "jr.gumbel(K42, (6,), np.float32, mode='high')": ('float32', (6,), [
        0.39925816655158997, -0.12997561693191528, 0.043095413595438004, 0.1944437325000763,
        0.5124775171279907, 0.12605616450309753
    ]),
    'jr.categorical(K42, np.array([[.1, 1., -.5, .3], [2., 0., '
    "0., -1.]]), mode='high')": ('int64', (2,), [
        1, 0
    ]),
}


@pytest.mark.parametrize("expr", list(JAX))
def test_matches_recorded_jax(expr):
    dtype, shape, values = JAX[expr]
    got = np.asarray(eval(expr, {"jr": jr, "np": np, "K42": K42}))
    assert got.dtype == dtype and got.shape == shape, (got.dtype, got.shape)
    want = np.array(values, dtype).reshape(shape)
    if expr.startswith("jr.gumbel"):
        # log and log1p may round a few ulps apart in XLA and NumPy
        np.testing.assert_allclose(got, want, rtol=16 * np.finfo(dtype).eps)
    else:  # counts and indices: exact
        np.testing.assert_array_equal(got, want)


# -- NumPy transcriptions of JAX's algorithms --------------------------------------------


def _np_gumbel_high(key, shape, dtype):
    info = np.finfo(dtype)
    u = np.asarray(jr.uniform(key, (2, *shape), dtype))
    high, low = u[0], u[1]
    fill = dtype(max(2.0 ** -(2 * info.nmant + 1), float(info.tiny)))
    x = np.where(high >= 0.5, high, high + dtype(2.0 ** -info.nmant) * low + fill)
    return -np.log(-np.log1p(-x))


_TAIL = np.array([0.0810614667953272, 0.0413406959554092, 0.0276779256849983,
                  0.02079067210376509, 0.0166446911898211, 0.0138761288230707,
                  0.0118967099458917, 0.0104112652619720, 0.00925546218271273,
                  0.00833056343336287])


def _np_stirling(k):
    kc = np.clip(k, 0.0, 9.0)
    kp1sq = (kc + 1) * (kc + 1)
    approx = (1.0 / 12 - (1.0 / 360 - 1.0 / 1260 / kp1sq) / kp1sq) / (kc + 1)
    # (JAX evaluates the approximation at the clamped k too)
    idx = np.nan_to_num(np.floor(kc)).astype(int)
    return np.where(k <= 9, np.take(_TAIL.astype(k.dtype), idx, mode="clip"), approx)


def _np_binomial(key, n, p, shape):
    """JAX's _binomial for float64 n, p of the given shape (loops over whole arrays, as
    JAX's while loops do, so each iteration consumes the same keys)."""
    n = np.broadcast_to(np.asarray(n, float), shape)
    p = np.broadcast_to(np.asarray(p, float), shape)
    with np.errstate(all="ignore"):
        p_lt_half = p < 0.5
        q = np.where(p_lt_half, p, 1.0 - p)
        bad_n = np.isnan(n) | (n < 0)
        q_nan, q_neg = np.isnan(q), q < 0
        q = np.where(q_nan | q_neg, 0.01, q)
        use_inv = bad_n | (n * q <= 10.0)
        n = np.floor(n)
        # inversion
        cnt = np.where(use_inv, n, 0.0)
        log1mq = np.log1p(-q)
        num = np.zeros(shape)
        gsum = np.zeros(shape)
        k = key
        while (gsum <= cnt).any():
            ks = np.asarray(jr.split(k))
            sub, k = ks[0], ks[1]
            num = np.where(gsum <= cnt, num + 1, num)
            u = np.asarray(jr.uniform(sub, shape))
            gsum = gsum + np.ceil(np.log(u) / log1mq)
        inv = num - 1
        # BTRS
        cb = np.where(use_inv, 1e4, n)
        qb = np.where(use_inv, 0.5, q)
        sd = np.sqrt(cb * qb * (1 - qb))
        b = 1.15 + 2.53 * sd
        a = -0.0873 + 0.0248 * b + 0.01 * qb
        c = cb * qb + 0.5
        v_r = 0.92 - 4.2 / b
        r = qb / (1 - qb)
        alpha = (2.83 + 5.1 / b) * sd
        m = np.floor((cb + 1) * qb)
        out = np.full(shape, -1.0)
        acc = np.zeros(shape, bool)
        k = key
        while (~acc).any():
            ks = np.asarray(jr.split(k, 3))
            k, s0, s1 = ks[0], ks[1], ks[2]
            u = np.asarray(jr.uniform(s0, shape)) - 0.5
            v = np.asarray(jr.uniform(s1, shape))
            us = 0.5 - np.abs(u)
            a1 = (us >= 0.07) & (v <= v_r)
            kk = np.floor((2 * a / us + b) * u + c)
            rej = (kk < 0) | (kk > cb)
            v = np.log(v * alpha / (a / (us * us) + b))
            ub = ((m + 0.5) * np.log((m + 1) / (r * (cb - m + 1)))
                  + (cb + 1) * np.log((cb - m + 1) / (cb - kk + 1))
                  + (kk + 0.5) * np.log(r * (cb - kk + 1) / (kk + 1))
                  + _np_stirling(m) + _np_stirling(cb - m)
                  - _np_stirling(kk) - _np_stirling(cb - kk))
            accept = a1 | (~rej & (v <= ub))
            out = np.where(accept, kk, out)
            acc |= accept
        s = np.where(use_inv, inv, out)
        invalid = q_neg | q_nan | bad_n
        s = np.where(invalid, np.nan, s)
        s = np.where(np.isinf(n) & ~invalid, np.inf, s)
        return np.where(p_lt_half | bad_n | q_nan | np.isinf(n), s, n - s)


# -- gumbel(mode="high") ------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gumbel_high_is_jax_algorithm(dtype):
    got = np.asarray(jr.gumbel(K42, (7,), dtype, mode="high"))
    assert got.dtype == dtype and got.shape == (7,)
    np.testing.assert_allclose(got, _np_gumbel_high(K42, (7,), dtype),
                               rtol=8 * np.finfo(dtype).eps)
    np.testing.assert_allclose(fa.jit(lambda k: jr.gumbel(k, (7,), dtype, "high"))(K42), got,
                               rtol=8 * np.finfo(dtype).eps)


def test_gumbel_modes():
    g = np.asarray(jr.gumbel(jr.PRNGKey(5), (40000,), mode="high"))
    assert abs(g.mean() - np.euler_gamma) < 0.02
    assert abs(g.var() - np.pi ** 2 / 6) < 0.05
    np.testing.assert_array_equal(jr.gumbel(K42, (3,), mode=None), jr.gumbel(K42, (3,)))
    np.testing.assert_array_equal(jr.gumbel(K42, (3,), mode="highest"),
                                  jr.gumbel(K42, (3,), mode="high"))
    with pytest.raises(ValueError, match="mode"):
        jr.gumbel(K42, (3,), mode="medium")
    logits = np.log(np.array([[0.1, 0.2, 0.7], [0.5, 0.25, 0.25]]))
    got = jr.categorical(K42, logits, mode="high")
    g = _np_gumbel_high(K42, (2, 3), np.float64)
    np.testing.assert_array_equal(got, np.argmax(g + logits, axis=-1))


# -- binomial -------------------------------------------------------------------------------

CASES = [  # n, p: inversion (n*q <= 10) and BTRS, p above and below 1/2
    (np.array([5.0, 20.0, 100.0, 1000.0, 40.0, 7.0]),
     np.array([0.3, 0.7, 0.4, 0.01, 0.95, 0.5])),
    (50.0, 0.3),
    (np.array([[3.0], [300.0]]), np.array([0.2, 0.6, 0.9])),
]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_binomial_is_jax_algorithm(case):
    n, p = CASES[case]
    shape = np.broadcast_shapes(np.shape(n), np.shape(p))
    if not shape:
        shape = (8,)
    got = np.asarray(jr.binomial(K42, n, p, shape))
    assert got.dtype == np.float64 and got.shape == shape
    np.testing.assert_array_equal(got, _np_binomial(K42, n, p, shape))
    assert np.all((got >= 0) & (got <= np.broadcast_to(n, shape)))


def test_binomial_edge_cases_as_jax():
    n = np.array([np.nan, -1.0, np.inf, 5.0, 5.0, 5.0, 0.0, 7.9, np.inf])
    p = np.array([0.5, 0.5, 0.5, np.nan, 1.0, 0.0, 0.3, 1.0, 0.7])
    got = np.asarray(jr.binomial(K42, n, p))
    np.testing.assert_array_equal(got, [np.nan, np.nan, np.inf, np.nan, 5.0, 0.0, 0.0,
                                        7.0, np.inf])
    np.testing.assert_array_equal(got, _np_binomial(K42, n, p, n.shape))


@pytest.mark.parametrize("n,p", [(10.0, 0.2), (50.0, 0.3), (200.0, 0.8), (1000.0, 0.5),
                                 (30.0, 0.97)])
def test_binomial_moments(n, p):
    x = np.asarray(jr.binomial(jr.PRNGKey(7), n, p, (20000,)))
    mean, var = n * p, n * p * (1 - p)
    assert np.all(x == np.floor(x))
    assert abs(x.mean() - mean) < 5 * np.sqrt(var / x.size)
    assert abs(x.var() - var) < 0.06 * var


def test_binomial_dtypes_and_errors():
    x = jr.binomial(K42, 20.0, np.float32(0.4), (5,), dtype=np.float32)
    assert x.dtype == np.float32
    # float32 probabilities: JAX computes in the probabilities' dtype
    x32 = np.asarray(jr.binomial(K42, 100.0, np.float32(0.4), (2000,)))
    assert abs(x32.mean() - 40) < 0.5
    with pytest.raises(ValueError, match="float dtype"):
        jr.binomial(K42, 5.0, 0.5, dtype=np.int32)
    with pytest.raises(ValueError, match="broadcast"):
        jr.binomial(K42, np.ones(3), 0.5, (2,))


def test_binomial_jit_vmap_and_no_gradient():
    n, p = CASES[0]
    eager = np.asarray(jr.binomial(K42, n, p))
    np.testing.assert_array_equal(fa.jit(jr.binomial)(K42, n, p), eager)
    keys = jr.split(K0, 3)
    np.testing.assert_array_equal(fa.vmap(lambda k: jr.binomial(k, n, p))(keys),
                                  np.stack([jr.binomial(k, n, p) for k in keys]))
    # vmap over n and p (each draw then has shape (): a different sample than the batch)
    np.testing.assert_array_equal(fa.vmap(lambda a, b: jr.binomial(K42, a, b))(n, p),
                                  np.array([jr.binomial(K42, a, b) for a, b in zip(n, p)]))
    # JAX's draws carry no gradient (floor, then selects): d/dp and d/dn are 0
    g = fa.grad(lambda a, b: jr.binomial(K42, a, b), argnums=(0, 1))(50.0, 0.3)
    assert g == (0.0, 0.0)


# -- multinomial ----------------------------------------------------------------------------


def _np_multinomial(key, n, p):
    p = np.asarray(p, float)
    rem = np.cumsum(p[::-1])[::-1]
    ratios = p / np.where(rem == 0, 1, rem)
    keys = np.asarray(jr.split(key, len(p)))
    counts = []
    for r, k in zip(ratios, keys):
        c = float(_np_binomial(k, n, np.clip(r, 0, 1), ()))
        counts.append(c)
        n = n - c
    return np.array(counts)


def test_multinomial_is_jax_algorithm():
    p = np.array([0.2, 0.3, 0.1, 0.4])
    for n in (10.0, 100.0, 1000.0):
        got = np.asarray(jr.multinomial(K42, n, p))
        assert got.shape == (4,) and got.sum() == n
        np.testing.assert_array_equal(got, _np_multinomial(K42, n, p))


def test_multinomial_shapes_moments_jit_vmap():
    p = np.array([0.2, 0.3, 0.5])
    m = np.asarray(jr.multinomial(jr.PRNGKey(3), 100.0, p, shape=(4000, 3)))
    assert m.shape == (4000, 3)
    np.testing.assert_array_equal(m.sum(-1), 100.0)
    np.testing.assert_allclose(m.mean(0), 100 * p, atol=0.3)
    np.testing.assert_allclose(m.var(0), 100 * p * (1 - p), rtol=0.08)
    ns = np.array([5.0, 50.0])
    ps = np.array([[0.5, 0.5, 0.0], [0.1, 0.1, 0.8]])
    got = np.asarray(jr.multinomial(K42, ns, ps, dtype=np.float32))
    assert got.dtype == np.float32 and got.shape == (2, 3) and got[0, 2] == 0
    np.testing.assert_array_equal(got.sum(-1), ns)
    np.testing.assert_array_equal(fa.jit(lambda k: jr.multinomial(k, ns, ps))(K42),
                                  jr.multinomial(K42, ns, ps))
    keys = jr.split(K0, 2)
    np.testing.assert_array_equal(fa.vmap(lambda k: jr.multinomial(k, 20.0, p))(keys),
                                  np.stack([jr.multinomial(k, 20.0, p) for k in keys]))
    np.testing.assert_array_equal(fa.vmap(lambda n: jr.multinomial(K42, n, p))(ns),
                                  np.stack([jr.multinomial(K42, n, p) for n in ns]))


# -- typed keys, clone, shuffle ---------------------------------------------------------------


def test_typed_keys():
    k = jr.key(42)
    assert k.shape == () and k.ndim == 0 and str(k.dtype) == "key<fry>"
    assert "key<fry>" in repr(k)
    np.testing.assert_array_equal(jr.key_data(k), K42)
    assert jr.key_data(K42) is not None and jr.key_impl(k) == "threefry2x32"
    ks = jr.split(k, 3)
    assert isinstance(ks, jr.PRNGKeyArray) and ks.shape == (3,) and len(ks) == 3
    np.testing.assert_array_equal(jr.key_data(ks), jr.split(K42, 3))
    assert ks[1].shape == () and ks[1:].shape == (2,) and ks[None].shape == (1, 3)
    np.testing.assert_array_equal(jr.key_data(ks[..., 2]), jr.split(K42, 3)[2])
    assert jr.split(k, (2, 2)).shape == (2, 2)
    np.testing.assert_array_equal(jr.key_data(jr.fold_in(k, 7)), jr.fold_in(K42, 7))
    w = jr.wrap_key_data(jr.split(K42, 3))
    assert w.shape == (3,)
    np.testing.assert_array_equal(w == ks, [True, True, True])
    # every sampler takes both kinds of key, with the same numbers
    for f in (lambda q: jr.uniform(q, (3,)), lambda q: jr.normal(q, (2,)),
              lambda q: jr.randint(q, (3,), 0, 9), lambda q: jr.permutation(q, 5),
              lambda q: jr.gamma(q, 2.0, (2,)), lambda q: jr.binomial(q, 20.0, 0.3, (3,)),
              lambda q: jr.choice(q, 5, (2,)), lambda q: jr.bits(q, (2,))):
        np.testing.assert_array_equal(f(k), f(K42))
    assert jr.clone(k) is k
    np.testing.assert_array_equal(jr.uniform(jr.clone(k)), jr.uniform(k))
    with pytest.raises(TypeError, match="key_data"):
        np.asarray(k)
    with pytest.raises(TypeError, match="vmap"):
        jr.uniform(ks)
    with pytest.raises(NotImplementedError, match="threefry2x32"):
        jr.key(0, impl="rbg")


def test_typed_keys_through_transforms():
    k = jr.key(42)
    ks = jr.split(k, 3)
    np.testing.assert_array_equal(fa.jit(lambda q: jr.normal(q, (2,)))(k), jr.normal(K42, (2,)))
    out = fa.jit(jr.split)(k)
    assert isinstance(out, jr.PRNGKeyArray) and out.shape == (2,)
    np.testing.assert_array_equal(jr.key_data(out), jr.split(K42))
    np.testing.assert_array_equal(fa.vmap(lambda q: jr.uniform(q, (2,)))(ks),
                                  np.stack([jr.uniform(q, (2,)) for q in ks]))
    vs = fa.vmap(jr.split)(ks)
    assert isinstance(vs, jr.PRNGKeyArray) and vs.shape == (3, 2)
    np.testing.assert_array_equal(jr.key_data(vs), np.stack([jr.split(q) for q in
                                                             jr.split(K42, 3)]))
    total = fa.lax.scan(lambda c, q: (c + jr.uniform(q), None), 0.0, ks)[0]
    np.testing.assert_allclose(total, sum(float(jr.uniform(q)) for q in ks))
    assert fa.grad(lambda x, q: x * jr.normal(q))(1.0, k) == jr.normal(K42)


def test_typed_keys_are_pytree_leaves():
    k = jr.key(3)
    ks = jr.split(k, 3)
    # funcad.tree and funcad.tree_util see a key array as one leaf, as JAX does
    assert fa.tree.leaves(k) == [k] and fa.tree_util.tree_leaves(k)[0] is k
    leaves, td = fa.tree_util.tree_flatten({"k": ks, "x": 1.0})
    assert leaves[0] is ks and leaves[1] == 1.0 and td.num_leaves == 2
    assert fa.tree.structure(k) == fa.tree.structure(1.0)
    assert fa.tree.map(lambda x: x.shape, {"a": k, "b": ks}) == {"a": (), "b": (3,)}
    assert fa.tree_util.tree_map(lambda x: x, (k,))[0] is k
    back = fa.tree.unflatten(td, leaves)
    assert back["k"] is ks
    assert fa.tree.leaves(ks, is_leaf=lambda x: False) == [ks]
    # ... and the transforms still trace their data
    d = fa.jit(lambda t: t)({"k": ks, "x": 1.0})
    assert isinstance(d["k"], jr.PRNGKeyArray)
    np.testing.assert_array_equal(jr.key_data(d["k"]), jr.key_data(ks))
    a = fa.jit(lambda t: fa.tree.map(lambda q: jr.uniform(q), t))({"a": k})["a"]
    assert a == jr.uniform(k)


def test_typed_keys_through_loops_and_cond():
    k = jr.key(5)

    def body(i, c):
        q, s = c
        q, sub = jr.split(q)
        return q, s + jr.uniform(sub)

    def eager(q, n):
        s = 0.0
        for _ in range(n):
            q, sub = jr.split(q)
            s += float(jr.uniform(sub))
        return q, s

    q3, s3 = eager(k, 3)
    for run in (lambda q: fa.lax.fori_loop(0, 3, body, (q, 0.0)),
                fa.jit(lambda q: fa.lax.fori_loop(0, 3, body, (q, 0.0)))):
        q, s = run(k)
        assert isinstance(q, jr.PRNGKeyArray) and q.shape == ()
        np.testing.assert_array_equal(jr.key_data(q), jr.key_data(q3))
        np.testing.assert_allclose(s, s3)
    q, n = fa.jit(lambda q: fa.lax.while_loop(
        lambda c: c[1] < 3, lambda c: (jr.split(c[0])[0], c[1] + 1), (q, 0)))(k)
    np.testing.assert_array_equal(jr.key_data(q), jr.key_data(
        jr.split(jr.split(jr.split(k)[0])[0])[0]))
    for pred in (True, False):
        out = fa.jit(lambda p, q: fa.lax.cond(p, lambda r: jr.split(r)[1], lambda r: r, q))(
            pred, k)
        want = jr.split(k)[1] if pred else k
        np.testing.assert_array_equal(jr.key_data(out), jr.key_data(want))
    # a key as an unmapped, non-differentiated argument of grad
    ks = jr.split(k, 2)
    g = fa.grad(lambda x, qs: x ** 2 * jr.normal(qs[1]))(2.0, ks)
    np.testing.assert_allclose(g, 4.0 * jr.normal(ks[1]))
    with pytest.raises(TypeError, match="differentiate"):
        fa.grad(lambda q: jr.normal(q))(k)


def test_vmap_axes_count_key_axes():
    ks = jr.split(jr.key(1), (3, 4))
    data = jr.key_data(ks)
    # a negative in_axes counts the key's axes, not its data's word axis
    got = fa.vmap(jr.key_data, in_axes=-1)(ks)
    np.testing.assert_array_equal(got, np.moveaxis(np.asarray(data), 1, 0))
    with pytest.raises(ValueError, match="out of range"):
        fa.vmap(jr.key_data, in_axes=-3)(ks)
    k3 = jr.split(jr.key(2), 3)
    out = fa.vmap(lambda q: jr.split(q, 2), out_axes=-1)(k3)
    assert isinstance(out, jr.PRNGKeyArray) and out.shape == (2, 3)
    for i in range(3):
        np.testing.assert_array_equal(jr.key_data(out[:, i]), jr.key_data(jr.split(k3[i], 2)))
    assert "key<fry>" in repr(fa.eval_shape(jr.split, jr.key(0)))


def test_shuffle_is_deprecated_independent_permutation():
    x = np.arange(12.0).reshape(3, 4)
    with pytest.warns(FutureWarning, match="permutation"):
        got = jr.shuffle(K42, x, axis=1)
    np.testing.assert_array_equal(got, jr.permutation(K42, x, axis=1, independent=True))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.testing.assert_array_equal(jr.shuffle(jr.key(42), np.arange(8)),
                                      jr.permutation(K42, 8))


def test_multivariate_normal_eigh_and_svd_methods():
    k = jr.PRNGKey(7)
    mean, cov = np.array([1.0, -1.0, 0.5]), np.array([[2.0, 0.5, 0.1], [0.5, 1.0, 0.2],
                                                       [0.1, 0.2, 0.7]])
    z = np.asarray(jr.normal(k, (4, 3)))
    w, v = np.linalg.eigh(cov)
    u, s, _ = np.linalg.svd(cov)
    for method, factor in (("eigh", v * np.sqrt(w)), ("svd", u * np.sqrt(s))):
        got = jr.multivariate_normal(k, mean, cov, (4,), method=method)
        np.testing.assert_allclose(got, mean + z @ factor.T, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(
            fa.jit(lambda q: jr.multivariate_normal(q, mean, cov, (4,), method=method))(k),
            got, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="method"):
        jr.multivariate_normal(k, mean, cov, method="qr")


def test_ball_is_uniform_in_the_unit_ball():
    k = jr.PRNGKey(3)
    b = np.asarray(jr.ball(k, 3, shape=(4000,)))
    assert b.shape == (4000, 3)
    r = np.linalg.norm(b, axis=-1)
    assert r.max() < 1.0
    # uniform in the 3-ball: r**3 is uniform on [0, 1]
    assert abs(np.mean(r ** 3) - 0.5) < 0.02
    b1 = np.asarray(jr.ball(k, 2, p=1, shape=(1000,)))
    assert np.abs(b1).sum(-1).max() < 1.0
    # its key schedule: generalized_normal with the first half of split, exponential
    k1, k2 = jr.split(k)
    g = np.asarray(jr.generalized_normal(k1, 2.0, (5, 2)))
    e = np.asarray(jr.exponential(k2, (5,)))
    np.testing.assert_allclose(jr.ball(k, 2, shape=(5,)),
                               g / np.sqrt((g ** 2).sum(-1) + e)[:, None], rtol=1e-13)
    np.testing.assert_allclose(fa.jit(lambda q: jr.ball(q, 2, shape=(5,)))(k),
                               jr.ball(k, 2, shape=(5,)), rtol=1e-13)
    assert jr.ball(jr.key(0), 4).shape == (4,)
    with pytest.raises(ValueError, match="positive integer"):
        jr.ball(k, 0)
