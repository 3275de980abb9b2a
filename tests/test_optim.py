"""funcad.optim: each optimizer against hand-written NumPy references (optax's formulas),
jitted training steps, and small problems whose loss decreases."""

import numpy as np
import pytest

import funcad as fa
import funcad.numpy as fnp
from funcad import nn, optim
from funcad.tree_util import tree_leaves, tree_map, tree_structure

PARAMS = {"w": np.array([[0.5, -1.0], [2.0, 0.3]]), "b": np.array([0.1, -0.2])}
GRADS = [tree_map(lambda p, k=k: np.cos(p * (k + 1)) + 0.1 * k, PARAMS) for k in range(4)]


def _run(opt, params=PARAMS, grads=GRADS):
    state = opt.init(params)
    out = []
    for g in grads:
        updates, state = opt.update(g, state, params)
        params = optim.apply_updates(params, updates)
        out.append(params)
    return out, state


def _reference(step_fn, state0, params=PARAMS, grads=GRADS):
    """Run a NumPy step(p, g, state, k) -> (p, state) leaf by leaf."""
    out = []
    states = {key: state0(v) for key, v in params.items()}
    for k, g in enumerate(grads, start=1):
        new = {}
        for key in params:
            new[key], states[key] = step_fn(params[key], g[key], states[key], k)
        params = new
        out.append(params)
    return out


def _assert_trajectories(got, expected):
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        assert tree_structure(a) == tree_structure(b)
        for x, y in zip(tree_leaves(a), tree_leaves(b)):
            np.testing.assert_allclose(x, y, rtol=1e-14, atol=1e-15)


def test_sgd():
    got, _ = _run(optim.sgd(0.1))
    _assert_trajectories(got, _reference(lambda p, g, s, k: (p - 0.1 * g, s), lambda v: None))


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_momentum(nesterov):
    def step(p, g, tr, k):
        tr = g + 0.9 * tr
        u = g + 0.9 * tr if nesterov else tr
        return p - 0.05 * u, tr
    got, _ = _run(optim.sgd(0.05, momentum=0.9, nesterov=nesterov))
    _assert_trajectories(got, _reference(step, np.zeros_like))


def test_momentum_is_heavy_ball():
    def step(p, g, tr, k):
        tr = g + 0.7 * tr
        return p - 0.2 * tr, tr
    got, _ = _run(optim.momentum(0.2, beta=0.7))
    _assert_trajectories(got, _reference(step, np.zeros_like))
    got_default, _ = _run(optim.momentum(0.2))
    _assert_trajectories(got_default, _run(optim.sgd(0.2, momentum=0.9))[0])


def _adam_step(lr, b1, b2, eps, wd=0.0):
    def step(p, g, s, k):
        m, v = s
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat = m / (1 - b1 ** k)
        v_hat = v / (1 - b2 ** k)
        return p - lr * (m_hat / (np.sqrt(v_hat) + eps) + wd * p), (m, v)
    return step


def test_adam():
    got, state = _run(optim.adam(0.01, b1=0.8, b2=0.99, eps=1e-3))
    _assert_trajectories(got, _reference(_adam_step(0.01, 0.8, 0.99, 1e-3),
                                         lambda v: (np.zeros_like(v), np.zeros_like(v))))
    adam_state = state[0]
    assert isinstance(adam_state, optim.ScaleByAdamState)
    assert adam_state.count == 4 and adam_state.count.dtype == np.int32
    got, _ = _run(optim.adam(0.01))
    _assert_trajectories(got, _reference(_adam_step(0.01, 0.9, 0.999, 1e-8),
                                         lambda v: (np.zeros_like(v), np.zeros_like(v))))


def test_adamw_decays_params_not_gradients():
    got, _ = _run(optim.adamw(0.01, weight_decay=0.3))
    _assert_trajectories(got, _reference(_adam_step(0.01, 0.9, 0.999, 1e-8, wd=0.3),
                                         lambda v: (np.zeros_like(v), np.zeros_like(v))))
    got, _ = _run(optim.adamw(0.01))  # default weight_decay=1e-4, as in optax
    _assert_trajectories(got, _reference(_adam_step(0.01, 0.9, 0.999, 1e-8, wd=1e-4),
                                         lambda v: (np.zeros_like(v), np.zeros_like(v))))
    opt = optim.adamw(0.01)
    with pytest.raises(ValueError, match="params"):
        opt.update(GRADS[0], opt.init(PARAMS))


def test_clip_by_global_norm():
    g = {"a": np.array([3.0, 0.0]), "b": np.array([[4.0]])}
    opt = optim.clip_by_global_norm(1.0)
    clipped, _ = opt.update(g, opt.init(g))
    np.testing.assert_allclose(clipped["a"], [0.6, 0.0])
    np.testing.assert_allclose(clipped["b"], [[0.8]])
    np.testing.assert_allclose(optim.global_norm(clipped), 1.0)
    same, _ = optim.clip_by_global_norm(10.0).update(g, ())
    np.testing.assert_array_equal(same["a"], g["a"])
    zeros = tree_map(np.zeros_like, g)
    out, _ = optim.clip_by_global_norm(0.0).update(zeros, ())
    assert all(np.all(x == 0) for x in tree_leaves(out))


def test_chain_order():
    g = np.array([3.0, 4.0])
    # clip then scale: [-0.06, -0.08]; scale then clip: the scaled norm 0.5 is not clipped.
    a = optim.chain(optim.clip_by_global_norm(1.0), optim.scale(-0.1))
    b = optim.chain(optim.scale(-0.1), optim.clip_by_global_norm(1.0))
    np.testing.assert_allclose(a.update(g, a.init(g))[0], [-0.06, -0.08])
    np.testing.assert_allclose(b.update(g, b.init(g))[0], [-0.3, -0.4])
    opt = optim.chain(optim.clip_by_global_norm(1.0), optim.adam(0.1))
    state = opt.init(g)
    assert isinstance(state, tuple) and len(state) == 2


def test_chain_clip_then_adam_matches_reference():
    grads = [tree_map(lambda x: 10.0 * x, g) for g in GRADS]
    got, _ = _run(optim.chain(optim.clip_by_global_norm(1.0), optim.adam(0.01)), grads=grads)
    clipped = []
    for g in grads:
        norm = np.sqrt(sum(np.sum(x ** 2) for x in tree_leaves(g)))
        clipped.append(tree_map(lambda x, n=norm: x * min(1.0, 1.0 / n), g))
    _assert_trajectories(got, _reference(_adam_step(0.01, 0.9, 0.999, 1e-8),
                                         lambda v: (np.zeros_like(v), np.zeros_like(v)),
                                         grads=clipped))


def test_schedule_learning_rate():
    def schedule(count):
        return 0.1 * 0.5 ** count
    got, state = _run(optim.sgd(schedule))
    expected = _reference(lambda p, g, s, k: (p - 0.1 * 0.5 ** (k - 1) * g, s),
                          lambda v: None)
    _assert_trajectories(got, expected)
    assert state[-1].count == 4


def test_apply_updates_keeps_dtype_and_checks_structure():
    p = {"w": np.ones(2, np.float32)}
    out = optim.apply_updates(p, {"w": np.array([0.5, 0.25])})
    assert out["w"].dtype == np.float32
    with pytest.raises(ValueError, match="structure"):
        optim.apply_updates(p, {"v": np.ones(2)})


def _mlp(params, x):
    h = nn.relu(x @ params["w1"] + params["b1"])
    return h @ params["w2"] + params["b2"]


def _init_mlp(rng, sizes=(2, 16, 3)):
    return {"w1": rng.normal(size=sizes[:2]) / np.sqrt(sizes[0]), "b1": np.zeros(sizes[1]),
            "w2": rng.normal(size=sizes[1:]) / np.sqrt(sizes[1]), "b2": np.zeros(sizes[2])}


def _blobs(rng, n=60):
    y = rng.integers(0, 3, size=n)
    centres = np.array([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]])
    return centres[y] + 0.5 * rng.normal(size=(n, 2)), y


def _xent(params, x, y):
    return -fnp.mean(fnp.sum(nn.log_softmax(_mlp(params, x)) * nn.one_hot(y, 3), axis=-1))


@pytest.mark.parametrize("make_opt", [
    lambda: optim.adam(0.05),
    lambda: optim.adamw(0.05, weight_decay=1e-3),
    lambda: optim.sgd(0.2, momentum=0.9),
    lambda: optim.chain(optim.clip_by_global_norm(1.0), optim.adam(0.05)),
], ids=["adam", "adamw", "sgd_momentum", "clip_adam"])
def test_jitted_classification_step(make_opt, rng):
    opt = make_opt()
    params = _init_mlp(rng)
    x, y = _blobs(rng)

    @fa.jit
    def step(params, state, x, y):
        loss, grads = fa.value_and_grad(_xent)(params, x, y)
        updates, state = opt.update(grads, state, params)
        return optim.apply_updates(params, updates), state, loss

    state = opt.init(params)
    p_eager, s_eager = params, state
    losses = []
    for i in range(40):
        params, state, loss = step(params, state, x, y)
        losses.append(float(loss))
        if i < 2:  # jit and eager agree, optimizer state included
            g = fa.grad(_xent)(p_eager, x, y)
            u, s_eager = opt.update(g, s_eager, p_eager)
            p_eager = optim.apply_updates(p_eager, u)
            assert tree_structure(state) == tree_structure(s_eager)
            for a, b in zip(tree_leaves((params, state)), tree_leaves((p_eager, s_eager))):
                np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    assert losses[-1] < 0.3 * losses[0]


def test_regression_loss_decreases(rng):
    x = rng.normal(size=(50, 3))
    y = x @ np.array([1.0, -2.0, 0.5]) + 0.3
    params = (np.zeros(3), np.zeros(()))
    opt = optim.momentum(0.05)
    state = opt.init(params)

    def loss(p):
        return fnp.mean((x @ p[0] + p[1] - y) ** 2)

    first = loss(params)
    for _ in range(100):
        updates, state = opt.update(fa.grad(loss)(params), state)
        params = optim.apply_updates(params, updates)
    assert loss(params) < 1e-3 * first
    np.testing.assert_allclose(params[0], [1.0, -2.0, 0.5], atol=1e-2)


def test_jitted_step_with_numba(monkeypatch, rng):
    # One real Numba compile of a training step: states (with an int32 count) and nn.
    monkeypatch.setenv("FUNCAD_DISABLE_JIT", "0")
    opt = optim.adam(0.05)
    params = _init_mlp(rng)
    x, y = _blobs(rng, 30)

    @fa.jit
    def step(params, state):
        loss, grads = fa.value_and_grad(_xent)(params, x, y)
        updates, state = opt.update(grads, state, params)
        return optim.apply_updates(params, updates), state, loss

    state = opt.init(params)
    p2, s2, l0 = step(params, state)
    loss_e, g = fa.value_and_grad(_xent)(params, x, y)
    u, s_e = opt.update(g, state, params)
    for a, b in zip(tree_leaves((p2, s2, l0)), tree_leaves((optim.apply_updates(params, u),
                                                             s_e, loss_e))):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    assert s2[0].count.dtype == np.int32


@pytest.mark.parametrize("make_opt", [
    lambda: optim.adam(lambda count: 0.1 * 0.5 ** count),
    lambda: optim.adamw(0.1),
    lambda: optim.sgd(0.1, momentum=0.9, nesterov=True),
], ids=["adam_schedule", "adamw", "nesterov"])
def test_float32_params_and_states_stay_float32_under_jit(make_opt):
    opt = make_opt()
    params = {"w": np.ones(3, np.float32)}

    @fa.jit
    def step(params, state):
        grads = fa.grad(lambda p: fnp.sum(p["w"] ** 2))(params)
        updates, state = opt.update(grads, state, params)
        return optim.apply_updates(params, updates), state

    state = opt.init(params)
    for _ in range(2):
        params, state = step(params, state)
    assert params["w"].dtype == np.float32
    for leaf in tree_leaves(state):
        assert leaf.dtype in (np.float32, np.int32)
