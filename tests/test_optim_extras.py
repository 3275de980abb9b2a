"""optax names of issue 10 in funcad.optim: losses, schedules, transformations, optimizers.

References are the formulas of optax's documentation written out with NumPy; every
optimizer also runs jitted and matches its eager run.
"""

from __future__ import annotations

import numpy as np
import pytest

import funcad as fa
import funcad.numpy as fnp
from funcad import optim
from funcad.test_util import check_grads

RNG = np.random.default_rng(0)
P = RNG.normal(size=(3,))
T = RNG.normal(size=(3,))

# -- losses -----------------------------------------------------------------------------


def _np_log_sigmoid(x):
    return -np.logaddexp(0, -x)


@pytest.mark.parametrize("name,fn,ref", [
    ("l2_loss", lambda p, t: optim.l2_loss(p, t), lambda p, t: 0.5 * (p - t) ** 2),
    ("squared_error", lambda p, t: optim.squared_error(p, t), lambda p, t: (p - t) ** 2),
    ("huber_loss", lambda p, t: optim.huber_loss(p * 2, t, delta=0.7),
     lambda p, t: np.where(np.abs(2 * p - t) <= 0.7, 0.5 * (2 * p - t) ** 2,
                           0.7 * (np.abs(2 * p - t) - 0.35))),
    ("sigmoid_binary_cross_entropy",
     lambda p, t: optim.sigmoid_binary_cross_entropy(p * 3, 1 / (1 + np.exp(-t))),
     lambda p, t: -(1 / (1 + np.exp(-t))) * _np_log_sigmoid(3 * p)
     - (1 - 1 / (1 + np.exp(-t))) * _np_log_sigmoid(-3 * p)),
])
def test_elementwise_losses(name, fn, ref):
    np.testing.assert_allclose(fn(P, T), ref(P, T), rtol=1e-12)
    check_grads(lambda p: fn(p, T), (P,), order=2)
    np.testing.assert_allclose(fa.jit(fn)(P, T), ref(P, T), rtol=1e-12)
    np.testing.assert_allclose(fa.vmap(fn)(np.stack([P, T]), np.stack([T, P])),
                               np.stack([ref(P, T), ref(T, P)]), rtol=1e-12)


def test_losses_without_targets_and_namespace():
    np.testing.assert_allclose(optim.l2_loss(P), 0.5 * P ** 2)
    np.testing.assert_allclose(optim.squared_error(P), P ** 2)
    assert optim.losses.huber_loss is optim.huber_loss


def test_softmax_cross_entropy():
    logits = RNG.normal(size=(4, 5))
    labels = np.array([0, 3, 4, 1])
    onehot = np.eye(5)[labels]
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    ref = -(onehot * logp).sum(-1)
    np.testing.assert_allclose(optim.softmax_cross_entropy(logits, onehot), ref, rtol=1e-12)
    np.testing.assert_allclose(
        optim.softmax_cross_entropy_with_integer_labels(logits, labels), ref, rtol=1e-12)
    np.testing.assert_allclose(optim.softmax_cross_entropy_with_integer_labels(
        logits.T, labels, axis=0), ref, rtol=1e-12)
    check_grads(lambda z: optim.softmax_cross_entropy_with_integer_labels(z, labels),
                (logits,), order=2)
    check_grads(lambda z: optim.softmax_cross_entropy(z, onehot), (logits,), order=2)
    np.testing.assert_allclose(fa.jit(optim.softmax_cross_entropy_with_integer_labels)(
        logits, labels), ref, rtol=1e-12)
    big = np.array([[1000.0, 0.0]])
    np.testing.assert_allclose(optim.softmax_cross_entropy_with_integer_labels(
        big, np.array([1])), [1000.0])


# -- schedules ---------------------------------------------------------------------------


# optax's outputs, recorded once from JAX 0.10.2 (x64 on, eager): for each count, the value
# and dtype at an int32 count, then at a Python int count.
_OPTAX_SCHEDULES = {
    'optim.constant_schedule(0.3)': [
        (0, 0.3, 'float64', 0.3, 'float64'),
        (1, 0.3, 'float64', 0.3, 'float64'),
        (3, 0.3, 'float64', 0.3, 'float64'),
        (4, 0.3, 'float64', 0.3, 'float64'),
        (7, 0.3, 'float64', 0.3, 'float64'),
        (12, 0.3, 'float64', 0.3, 'float64'),
        (30, 0.3, 'float64', 0.3, 'float64'),
    ],
    'optim.linear_schedule(1.0, 0.1, 10, transition_begin=2)': [
        (0, 1.0, 'float32', 1.0, 'float64'),
        (1, 1.0, 'float32', 1.0, 'float64'),
        (3, 0.9099999666213989, 'float32', 0.91, 'float64'),
        (4, 0.8199999928474426, 'float32', 0.8200000000000001, 'float64'),
        (7, 0.550000011920929, 'float32', 0.55, 'float64'),
        (12, 0.10000000149011612, 'float32', 0.1, 'float64'),
        (30, 0.10000000149011612, 'float32', 0.1, 'float64'),
    ],
    'optim.polynomial_schedule(1.0, 0.0, 2, 10)': [
        (0, 1.0, 'float32', 1.0, 'float64'),
        (1, 0.809999942779541, 'float32', 0.81, 'float64'),
        (3, 0.4899999797344208, 'float32', 0.48999999999999994, 'float64'),
        (4, 0.36000001430511475, 'float32', 0.36, 'float64'),
        (7, 0.09000000357627869, 'float32', 0.09000000000000002, 'float64'),
        (12, 0.0, 'float32', 0.0, 'float64'),
        (30, 0.0, 'float32', 0.0, 'float64'),
    ],
    'optim.exponential_decay(2.0, 5, 0.5, transition_begin=3)': [
        (0, 2.0, 'float32', 2.0, 'float64'),
        (1, 2.0, 'float32', 2.0, 'float64'),
        (3, 2.0, 'float32', 2.0, 'float64'),
        (4, 1.7411011457443237, 'float32', 1.7411011265922482, 'float64'),
        (7, 1.148698329925537, 'float32', 1.1486983549970349, 'float64'),
        (12, 0.5743492245674133, 'float32', 0.5743491774985174, 'float64'),
        (30, 0.04736613854765892, 'float32', 0.04736614270344993, 'float64'),
    ],
    'optim.exponential_decay(2.0, 5, 0.5, staircase=True, end_value=0.6)': [
        (0, 2.0, 'float32', 2.0, 'float64'),
        (1, 2.0, 'float32', 2.0, 'float64'),
        (3, 2.0, 'float32', 2.0, 'float64'),
        (4, 2.0, 'float32', 2.0, 'float64'),
        (7, 1.0, 'float32', 1.0, 'float64'),
        (12, 0.6000000238418579, 'float32', 0.6, 'float64'),
        (30, 0.6000000238418579, 'float32', 0.6, 'float64'),
    ],
    'optim.cosine_decay_schedule(1.0, 20, alpha=0.1)': [
        (0, 1.0, 'float64', 1.0, 'float64'),
        (1, 0.994459753267812, 'float64', 0.994459753267812, 'float64'),
        (3, 0.9509529358847655, 'float64', 0.9509529358847655, 'float64'),
        (4, 0.9140576474687263, 'float64', 0.9140576474687263, 'float64'),
        (7, 0.7542957248827961, 'float64', 0.7542957248827961, 'float64'),
        (12, 0.41094235253127376, 'float64', 0.41094235253127376, 'float64'),
        (30, 0.1, 'float64', 0.1, 'float64'),
    ],
    'optim.warmup_cosine_decay_schedule(0.0, 1.0, 5, 25, end_value=0.2)': [
        (0, 0.0, 'float32', 0.0, 'float64'),
        (1, 0.19999998807907104, 'float32', 0.19999999999999996, 'float64'),
        (3, 0.6000000238418579, 'float32', 0.6, 'float64'),
        (4, 0.800000011920929, 'float32', 0.8, 'float64'),
        (7, 0.9804226160049438, 'float32', 0.9804226065180615, 'float64'),
        (12, 0.7815961837768555, 'float32', 0.7815961998958187, 'float64'),
        (30, 0.20000000298023224, 'float32', 0.2, 'float64'),
    ],
    'optim.join_schedules([optim.constant_schedule(1.0), optim.linear_schedule(1.0, 0.0, 4)], [3])': [
        (0, 1.0, 'float32', 1.0, 'float64'),
        (1, 1.0, 'float32', 1.0, 'float64'),
        (3, 1.0, 'float32', 1.0, 'float64'),
        (4, 0.75, 'float32', 0.75, 'float64'),
        (7, 0.0, 'float32', 0.0, 'float64'),
        (12, 0.0, 'float32', 0.0, 'float64'),
        (30, 0.0, 'float32', 0.0, 'float64'),
    ],
    'optim.piecewise_constant_schedule(1.0, {3: 0.5, 6: 0.1})': [
        (0, 1.0, 'float64', 1.0, 'float64'),
        (1, 1.0, 'float64', 1.0, 'float64'),
        (3, 0.5, 'float64', 0.5, 'float64'),
        (4, 0.5, 'float64', 0.5, 'float64'),
        (7, 0.05, 'float64', 0.05, 'float64'),
        (12, 0.05, 'float64', 0.05, 'float64'),
        (30, 0.05, 'float64', 0.05, 'float64'),
    ],
}


@pytest.mark.parametrize("src", list(_OPTAX_SCHEDULES))
def test_schedules_match_optax(src):
    """Values and dtypes as optax's: an int32 count makes most schedules float32 (JAX's
    int32 / int is float32), a Python int count float64; eagerly and under jit."""
    sched = eval(src, {"optim": optim})
    for c, v32, dt32, v, dt in _OPTAX_SCHEDULES[src]:
        rtol = 3e-7 if dt32 == "float32" else 1e-12
        for got in (sched(np.int32(c)), fa.jit(sched)(np.int32(c))):
            assert np.asarray(got).dtype == dt32, (src, c)
            np.testing.assert_allclose(got, v32, rtol=rtol, atol=1e-15)
        got = sched(c)
        assert np.asarray(got).dtype == dt, (src, c)
        np.testing.assert_allclose(got, v, rtol=1e-12, atol=1e-15)


# -- transformations and optimizers against NumPy references ----------------------------------


_GRADS = [{"w": RNG.normal(size=3), "b": np.array(RNG.normal())} for _ in range(4)]


def _run(opt, jit=False):
    params = {"w": np.array([0.5, -1.0, 2.0]), "b": np.array(0.3)}
    grads = _GRADS
    state = opt.init(params)
    update = fa.jit(opt.update) if jit else opt.update
    out = []
    for g in grads:
        u, state = update(g, state, params)
        params = optim.apply_updates(params, u)
        out.append(params)
    return grads, out


def _np_run(step_fn, grads, state0):
    params = {"w": np.array([0.5, -1.0, 2.0]), "b": np.array(0.3)}
    out, state = [], {k: state0(v) for k, v in params.items()}
    for t, g in enumerate(grads, start=1):
        new = {}
        for k in params:
            u, state[k] = step_fn(g[k], state[k], params[k], t)
            new[k] = params[k] + u
        params = new
        out.append(params)
    return out


def _rms(g, s, p, t, decay=0.9, eps=1e-8):
    nu = decay * s + (1 - decay) * g * g
    return -0.1 * g / np.sqrt(nu + eps), nu


def _rms_centered_momentum(g, s, p, t):
    mu, nu, tr = s
    mu = 0.9 * mu + 0.1 * g
    nu = 0.9 * nu + 0.1 * g * g
    u = -0.1 * g / np.sqrt(nu - mu * mu + 1e-8)
    tr = u + 0.5 * tr
    return tr, (mu, nu, tr)


def _adagrad(g, s, p, t):
    s = s + g * g
    return -0.1 * g / np.sqrt(s + 1e-7), s


def _lion(g, mu, p, t):
    u = np.sign(0.1 * g + 0.9 * mu)
    return -0.1 * (u + 1e-3 * p), 0.01 * g + 0.99 * mu


def _lamb(g, s, p, t):
    mu, nu = s
    mu = 0.9 * mu + 0.1 * g
    nu = 0.999 * nu + 0.001 * g * g
    u = (mu / (1 - 0.9 ** t)) / (np.sqrt(nu / (1 - 0.999 ** t)) + 1e-6) + 0.01 * p
    ratio = np.linalg.norm(p) / np.linalg.norm(u)
    return -0.1 * u * ratio, (mu, nu)


def _clip_sched(g, s, p, t):
    # the schedule of an int32 count is float32, as in optax (JAX's int32 / int is float32)
    lr = np.float32(0.2) * np.float32(0.5) ** (np.float32(t - 1) / np.float32(2))
    return np.clip(g, -0.5, 0.5) * lr, s


@pytest.mark.parametrize("name,opt,step,state0", [
    ("rmsprop", optim.rmsprop(0.1), _rms, np.zeros_like),
    ("rmsprop-centered-momentum", optim.rmsprop(0.1, centered=True, momentum=0.5),
     _rms_centered_momentum, lambda v: (0 * v, 0 * v, 0 * v)),
    ("adagrad", optim.adagrad(0.1), _adagrad, lambda v: np.full_like(v, 0.1)),
    ("lion", optim.lion(0.1), _lion, np.zeros_like),
    ("lamb", optim.lamb(0.1, weight_decay=0.01), _lamb, lambda v: (0 * v, 0 * v)),
    ("clip-scale_by_schedule", optim.chain(optim.clip(0.5), optim.scale_by_schedule(
        optim.exponential_decay(0.2, 2, 0.5))), _clip_sched, np.zeros_like),
])
def test_optimizers_match_references(name, opt, step, state0):
    grads, got = _run(opt)
    want = _np_run(step, grads, state0)
    for g, w in zip(got, want):
        for k in w:
            np.testing.assert_allclose(g[k], w[k], rtol=1e-10, atol=1e-12, err_msg=name)
    _, jitted = _run(opt, jit=True)
    for g, j in zip(got, jitted):
        for k in g:
            np.testing.assert_allclose(j[k], g[k], rtol=1e-12, atol=1e-14, err_msg=name)


def test_scale_by_rms_options():
    t = optim.scale_by_rms(decay=0.5, eps=1e-3, initial_scale=1.0, eps_in_sqrt=False,
                           bias_correction=True)
    s = t.init(np.zeros(2))
    g = np.array([1.0, -2.0])
    u, s = t.update(g, s)
    nu = 0.5 * 1.0 + 0.5 * g * g
    np.testing.assert_allclose(u, g / (np.sqrt(nu / 0.5) + 1e-3))


def test_flatten_matches_unflattened():
    opt = optim.adam(0.1)
    _, plain = _run(opt)
    _, flat = _run(optim.flatten(opt))
    for a, b in zip(plain, flat):
        for k in a:
            np.testing.assert_allclose(a[k], b[k], rtol=1e-12)
    state = optim.flatten(opt).init({"w": np.zeros(3), "b": np.zeros(())})
    assert state[0].mu.shape == (4,)


def test_inject_hyperparams():
    opt = optim.inject_hyperparams(optim.adam)(learning_rate=0.1, b1=0.8)
    _, got = _run(opt)
    _, want = _run(optim.adam(0.1, b1=0.8))
    for a, b in zip(got, want):
        for k in a:
            np.testing.assert_allclose(a[k], b[k], rtol=1e-12)
    state = opt.init(np.zeros(2))
    assert float(state.hyperparams["learning_rate"]) == 0.1
    state = state._replace(hyperparams={**state.hyperparams, "learning_rate": np.array(1.0)})
    u, state = fa.jit(opt.update)(np.ones(2), state)
    np.testing.assert_allclose(u, [-1.0, -1.0], rtol=1e-6)
    sched = optim.inject_hyperparams(optim.sgd)(learning_rate=optim.linear_schedule(1.0, 0.0,
                                                                                     4))
    s = sched.init(np.zeros(1))
    for expected in [1.0, 0.75, 0.5]:
        u, s = sched.update(np.ones(1), s)
        np.testing.assert_allclose(u, [-expected])
        np.testing.assert_allclose(s.hyperparams["learning_rate"], expected)


def test_type_names_exist():
    for n in ["Params", "Updates", "OptState", "Schedule", "ScalarOrSchedule",
              "TransformInitFn", "TransformUpdateFn", "GradientTransformation",
              "GradientTransformationExtraArgs"]:
        assert hasattr(optim, n), n


def test_training_with_lamb_under_jit_reduces_loss():
    x = RNG.normal(size=(32, 3))
    y = x @ np.array([1.0, -2.0, 0.5]) + 0.3
    params = {"w": np.zeros(3) + 0.1, "b": np.zeros(())}
    opt = optim.chain(optim.clip(1.0), optim.lamb(0.05))
    state = opt.init(params)

    def loss(p):
        return fnp.mean(optim.l2_loss(x @ p["w"] + p["b"], y))

    @fa.jit
    def step(p, s):
        g = fa.grad(loss)(p)
        u, s = opt.update(g, s, p)
        return optim.apply_updates(p, u), s
    first = float(loss(params))
    for _ in range(60):
        params, state = step(params, state)
    assert float(loss(params)) < 0.2 * first
