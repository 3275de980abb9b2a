"""funcad.example_libraries.optimizers against NumPy references of jax.example_libraries."""

from __future__ import annotations

import numpy as np
import pytest

import funcad as fa
import funcad.numpy as fnp
from funcad.example_libraries import optimizers as opt

RNG = np.random.default_rng(1)
GRADS = [RNG.normal(size=3) for _ in range(5)]
X0 = np.array([0.5, -1.0, 2.0])


def _sgd(i, g, s):
    return (s[0] - 0.1 * g,)


def _momentum(i, g, s):
    x, v = s
    v = 0.9 * v + g
    return x - 0.1 * v, v


def _nesterov(i, g, s):
    x, v = s
    v = 0.9 * v + g
    return x - 0.1 * (0.9 * v + g), v


def _adagrad(i, g, s):
    x, gsq, m = s
    gsq = gsq + g * g
    m = 0.1 * g / np.sqrt(gsq) + 0.9 * m
    return x - 0.1 * m, gsq, m


def _rmsprop(i, g, s):
    x, a = s
    a = 0.9 * a + 0.1 * g * g
    return x - 0.1 * g / np.sqrt(a + 1e-8), a


def _rmsprop_momentum(i, g, s):
    x, a, m = s
    a = 0.9 * a + 0.1 * g * g
    m = 0.9 * m + 0.1 * g / np.sqrt(a + 1e-8)
    return x - m, a, m


def _adam(i, g, s):
    x, m, v = s
    m = 0.1 * g + 0.9 * m
    v = 0.001 * g * g + 0.999 * v
    mhat, vhat = m / (1 - 0.9 ** (i + 1)), v / (1 - 0.999 ** (i + 1))
    return x - 0.1 * mhat / (np.sqrt(vhat) + 1e-8), m, v


def _adamax(i, g, s):
    x, m, u = s
    m = 0.1 * g + 0.9 * m
    u = np.maximum(0.999 * u, np.abs(g))
    return x - (0.1 / (1 - 0.9 ** (i + 1))) * m / (u + 1e-8), m, u


@pytest.mark.parametrize("make,ref,nstate", [
    (lambda: opt.sgd(0.1), _sgd, 1), (lambda: opt.momentum(0.1, 0.9), _momentum, 2),
    (lambda: opt.nesterov(0.1, 0.9), _nesterov, 2), (lambda: opt.adagrad(0.1), _adagrad, 3),
    (lambda: opt.rmsprop(0.1), _rmsprop, 2),
    (lambda: opt.rmsprop_momentum(0.1), _rmsprop_momentum, 3),
    (lambda: opt.adam(0.1), _adam, 3), (lambda: opt.adamax(0.1), _adamax, 3),
])
def test_optimizers_match_references(make, ref, nstate):
    init, update, get_params = make()
    for jit in (False, True):
        step = fa.jit(update) if jit else update
        state = init({"x": X0})
        s = (X0,) + tuple(np.zeros(3) for _ in range(nstate - 1))
        for i, g in enumerate(GRADS):
            state = step(i, {"x": g}, state)
            s = ref(i, g, s)
            np.testing.assert_allclose(get_params(state)["x"], s[0], rtol=1e-12, atol=1e-14)


def test_schedules():
    assert opt.constant(0.3)(7) == 0.3
    np.testing.assert_allclose(opt.exponential_decay(1.0, 10, 0.5)(20), 0.25)
    np.testing.assert_allclose(opt.inverse_time_decay(1.0, 10, 1.0)(10), 0.5)
    np.testing.assert_allclose(opt.inverse_time_decay(1.0, 10, 1.0, staircase=True)(15), 0.5)
    np.testing.assert_allclose(opt.polynomial_decay(1.0, 10, 0.1, 2.0)(5), 0.9 * 0.25 + 0.1)
    np.testing.assert_allclose(opt.polynomial_decay(1.0, 10, 0.1)(50), 0.1)
    pc = opt.piecewise_constant([2, 5], [1.0, 0.5, 0.1])
    assert [float(pc(i)) for i in (0, 2, 4, 5, 9)] == [1.0, 0.5, 0.5, 0.1, 0.1]
    assert float(fa.jit(pc)(3)) == 0.5
    init, update, get_params = opt.sgd(opt.exponential_decay(1.0, 1, 0.5))
    s = update(1, np.ones(1), init(np.zeros(1)))
    np.testing.assert_allclose(get_params(s), [-0.5])


def test_utilities_and_state_packing():
    tree = {"a": np.array([3.0]), "b": np.array([4.0])}
    np.testing.assert_allclose(opt.l2_norm(tree), 5.0)
    clipped = opt.clip_grads(tree, 1.0)
    np.testing.assert_allclose(clipped["a"], [0.6])
    init, update, get_params = opt.adam(0.1)
    state = update(0, tree, init(tree))
    again = opt.pack_optimizer_state(opt.unpack_optimizer_state(state))
    s2 = update(1, tree, again)
    s1 = update(1, tree, state)
    np.testing.assert_allclose(get_params(s2)["a"], get_params(s1)["a"])


def test_training_loop_under_jit():
    x = RNG.normal(size=(20, 2))
    y = x @ np.array([2.0, -1.0])
    init, update, get_params = opt.momentum(0.05, 0.9)

    def loss(p):
        return fnp.mean((x @ p - y) ** 2)

    @fa.jit
    def step(i, s):
        return update(i, fa.grad(loss)(get_params(s)), s)
    s = init(np.zeros(2))
    for i in range(200):
        s = step(i, s)
    np.testing.assert_allclose(get_params(s), [2.0, -1.0], atol=1e-3)
