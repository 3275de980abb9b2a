"""custom_jvp and custom_vjp under every transform."""

from functools import partial

import numpy as np
import pytest

import funcad as fa
import funcad.numpy as fnp
from funcad.test_util import check_grads

X = np.array([0.3, 0.7])
Y = np.array([1.5, -0.4])


@fa.custom_jvp
def my_sin(x):
    return fnp.sin(x)


@my_sin.defjvp
def _my_sin_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return fnp.sin(x), fnp.cos(x) * t


@fa.custom_jvp
def fake(x):
    return fnp.sin(x)


@fake.defjvp
def _fake_jvp(primals, tangents):
    return fnp.sin(primals[0]), 2.0 * tangents[0]  # deliberately not cos


@fa.custom_vjp
def sx(x, y):
    return fnp.sin(x) * y


def _sx_fwd(x, y):
    return fnp.sin(x) * y, (fnp.cos(x), fnp.sin(x), y)


def _sx_bwd(res, g):
    c, s, y = res
    return c * y * g, s * g


sx.defvjp(_sx_fwd, _sx_bwd)


@fa.custom_vjp
def clip_grad(x):
    return x


clip_grad.defvjp(lambda x: (x, None), lambda _, g: (fnp.clip(g, -1.0, 1.0),))


def test_custom_jvp_rule_is_used_in_both_modes():
    assert float(fa.grad(fake)(0.3)) == 2.0
    assert float(fa.jvp(fake, (0.3,), (1.0,))[1]) == 2.0
    np.testing.assert_allclose(fa.jacrev(fake)(X), 2.0 * np.eye(2))
    np.testing.assert_allclose(fa.jacfwd(fake)(X), 2.0 * np.eye(2))


def test_custom_jvp_check_grads_and_transforms():
    check_grads(lambda x: my_sin(x) * x, (X,), order=2)
    g = fa.grad(lambda x: fnp.sum(my_sin(x) * x))
    ref = np.cos(X) * X + np.sin(X)
    np.testing.assert_allclose(g(X), ref)
    np.testing.assert_allclose(fa.vmap(fa.grad(lambda x: my_sin(x) * x))(X), ref)
    np.testing.assert_allclose(fa.grad(lambda x: fnp.sum(fa.vmap(my_sin)(x) * x))(X), ref)
    np.testing.assert_allclose(fa.jit(g)(X), ref)
    np.testing.assert_allclose(fa.grad(fa.jit(lambda x: fnp.sum(my_sin(x) * x)))(X), ref)
    np.testing.assert_allclose(fa.hessian(lambda x: fnp.sum(my_sin(x)))(X),
                               np.diag(-np.sin(X)), atol=1e-12)
    np.testing.assert_allclose(fa.jit(fake)(X), np.sin(X))


def test_custom_jvp_closing_over_traced_value():
    def g(a, x):
        @fa.custom_jvp
        def h(x):
            return fnp.sin(a * x)

        @h.defjvp
        def h_jvp(p, t):
            return fnp.sin(a * p[0]), a * fnp.cos(a * p[0]) * t[0]
        return fnp.sum(h(x))

    ref = fa.grad(lambda a, x: fnp.sum(fnp.sin(a * x)), (0, 1))(0.5, X)
    got = fa.grad(g, (0, 1))(0.5, X)
    for r, v in zip(ref, got):
        np.testing.assert_allclose(v, r)
    check_grads(g, (0.5, X), order=2)


def test_custom_jvp_nondiff_argnums():
    @partial(fa.custom_jvp, nondiff_argnums=(1,))
    def powk(x, k):
        return x ** k

    @powk.defjvp
    def _(k, p, t):
        return p[0] ** k, k * p[0] ** (k - 1) * t[0]

    np.testing.assert_allclose(fa.grad(lambda x: fnp.sum(powk(x, 3)))(X), 3 * X ** 2)


def test_custom_vjp_reverse_uses_bwd():
    assert float(fa.grad(lambda x: 5.0 * clip_grad(x))(2.0)) == 1.0
    # Forward mode differentiates through the primal function instead (documented rule).
    assert float(fa.jvp(lambda x: 5.0 * clip_grad(x), (2.0,), (1.0,))[1]) == 5.0
    check_grads(sx, (X, Y), order=2)


def test_custom_vjp_forward_mode_jacfwd_hessian():
    np.testing.assert_allclose(fa.jacfwd(sx)(X, Y), np.diag(np.cos(X) * Y))
    np.testing.assert_allclose(fa.hessian(lambda x: fnp.sum(sx(x, Y)))(X),
                               np.diag(-np.sin(X) * Y), atol=1e-12)
    np.testing.assert_allclose(fa.jacrev(sx)(X, Y), fa.jacfwd(sx)(X, Y))


def test_custom_vjp_vmap_and_jit():
    xs, ys = np.stack([X, X + 1]), np.stack([Y, Y])
    ref = np.cos(xs) * ys
    np.testing.assert_allclose(fa.vmap(fa.grad(lambda x, y: fnp.sum(sx(x, y))))(xs, ys), ref)
    np.testing.assert_allclose(fa.grad(lambda x: fnp.sum(fa.vmap(sx)(x, ys)))(xs), ref)
    g = fa.grad(lambda x: fnp.sum(sx(x, Y)))
    np.testing.assert_allclose(fa.jit(g)(X), np.cos(X) * Y)
    np.testing.assert_allclose(fa.grad(fa.jit(lambda x: fnp.sum(sx(x, Y))))(X), np.cos(X) * Y)
    np.testing.assert_allclose(fa.jit(lambda x: fa.jvp(lambda x: sx(x, Y), (x,), (x,))[1])(X),
                               np.cos(X) * Y * X)
    assert float(fa.jit(fa.grad(lambda x: 5.0 * clip_grad(x)))(2.0)) == 1.0


def test_custom_vjp_closure_and_nondiff():
    @partial(fa.custom_vjp, nondiff_argnums=(0,))
    def app(fn, x):
        return fn(x)

    app.defvjp(lambda fn, x: (fn(x), x), lambda fn, x, g: (g * 100.0,))
    np.testing.assert_allclose(fa.grad(lambda x: fnp.sum(app(fnp.sin, x)))(X), [100.0] * 2)

    def outer(a, x):
        @fa.custom_vjp
        def f(x):
            return a * x
        f.defvjp(lambda x: (a * x, None), lambda _, g: (a * g,))
        return fnp.sum(f(x))
    # The closed-over `a` is differentiated through f; x through bwd.
    ga, gx = fa.grad(outer, (0, 1))(2.0, X)
    np.testing.assert_allclose(ga, X.sum())
    np.testing.assert_allclose(gx, [2.0, 2.0])


def test_bad_rules_are_reported():
    @fa.custom_vjp
    def f(x):
        return x
    f.defvjp(lambda x: (x, None), lambda _, g: g)  # not a tuple
    with pytest.raises(TypeError, match="one cotangent per differentiable argument"):
        fa.grad(f)(1.0)

    @fa.custom_jvp
    def h(x):
        return x
    with pytest.raises(AttributeError, match="defjvp"):
        h(1.0)


def _self_calling_sin():
    @fa.custom_jvp
    def f(x):
        return fnp.sin(x)

    @f.defjvp
    def f_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        return f(x), fnp.cos(x) * t   # the rule calls the function it decorates (JAX idiom)
    return f


def test_custom_jvp_rule_may_call_its_own_function():
    f = _self_calling_sin()
    x = np.array([0.3, 1.0, 2.0])
    np.testing.assert_allclose(f(x), np.sin(x))
    np.testing.assert_allclose(fa.grad(lambda v: f(v).sum())(x), np.cos(x))
    np.testing.assert_allclose(fa.jvp(f, (x,), (np.ones(3),))[1], np.cos(x))
    np.testing.assert_allclose(fa.grad(fa.grad(f))(1.0), -np.sin(1.0))
    np.testing.assert_allclose(fa.grad(fa.grad(fa.grad(f)))(1.0), -np.cos(1.0))
    np.testing.assert_allclose(fa.vmap(fa.grad(f))(x), np.cos(x))
    np.testing.assert_allclose(fa.jit(fa.vmap(fa.grad(f)))(x), np.cos(x))


def test_jit_of_grad_of_custom_jvp_uses_the_gradient():
    # Regression: jit copied the custom_jvp object's attributes (its `fun`) over its own.
    f = _self_calling_sin()
    np.testing.assert_allclose(fa.jit(fa.grad(f))(1.0), np.cos(1.0))
    g = fa.jit(fa.grad(fa.checkpoint(lambda x: fnp.sin(x) * x)))
    np.testing.assert_allclose(g(1.0), np.cos(1.0) + np.sin(1.0))


# -- eager derivatives run a custom_jvp rule on the values, as JAX does -----------------

@fa.custom_jvp
def _clipped_sin(x):
    if x > 0:               # Python control flow on the value: fine eagerly, as in JAX
        return fnp.sin(x)
    return x


@_clipped_sin.defjvp
def _clipped_sin_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return _clipped_sin(x), (fnp.cos(x) if x > 0 else 1.0) * t


@pytest.mark.parametrize("tape_on", [True, False])
def test_custom_jvp_with_python_control_flow_eagerly(tape_on, monkeypatch):
    from funcad.interpreters import tape
    monkeypatch.setattr(tape, "ENABLED", tape_on)
    f = _clipped_sin
    assert float(fa.grad(f)(1.0)) == pytest.approx(np.cos(1.0))
    assert float(fa.grad(f)(-2.0)) == 1.0
    assert float(fa.grad(fa.grad(f))(1.0)) == pytest.approx(-np.sin(1.0))
    assert float(fa.hessian(f)(0.5)) == pytest.approx(-np.sin(0.5))
    y, t = fa.jvp(f, (1.0,), (2.0,))
    assert float(y) == pytest.approx(np.sin(1.0)) and float(t) == pytest.approx(2 * np.cos(1.0))
    assert float(fa.jacfwd(f)(-1.0)) == 1.0
    # under jit the value is not known: JAX's error too
    with pytest.raises(fa.errors.ConcretizationTypeError):
        fa.jit(fa.grad(f))(1.0)


def test_custom_jvp_rule_runs_once_per_eager_gradient():
    calls = []

    @fa.custom_jvp
    def f(x):
        calls.append("f")
        return fnp.sin(x)

    @f.defjvp
    def f_jvp(p, t):
        calls.append("rule")
        return fnp.sin(p[0]), 2.0 * t[0]

    assert float(fa.grad(f)(0.3)) == 2.0
    assert calls == ["rule"]


def test_custom_jvp_traces_are_cached_per_signature():
    # Eager vmap traces a custom_jvp function and its rule to jaxprs; like jit, it keeps
    # them per (static arguments, structure, shapes, dtypes), so a second call traces
    # nothing (erfinv: 44 custom fma calls per random.normal).
    calls = {"f": 0, "rule": 0}

    @fa.custom_jvp
    def f(x, n):
        calls["f"] += 1
        return fnp.sin(x) * n

    @f.defjvp
    def f_jvp(primals, tangents):
        calls["rule"] += 1
        (x, n), (t, _) = primals, tangents
        return f(x, n), fnp.cos(x) * n * t

    g = fa.vmap(f, in_axes=(0, None))
    x = np.array([0.1, 0.2, 0.3])
    want = np.sin(x) * 2.0
    np.testing.assert_allclose(g(x, 2.0), want, rtol=1e-15)
    first = dict(calls)
    assert first["f"] >= 1 and first["rule"] >= 1
    np.testing.assert_allclose(g(x, 2.0), want, rtol=1e-15)
    np.testing.assert_allclose(g(x + 1.0, 2.0), np.sin(x + 1.0) * 2.0, rtol=1e-15)
    assert calls == first                       # same signature: nothing traced again
    g(np.ones((2, 4)), 2.0)                     # another shape: traced again
    assert calls["f"] > first["f"]
    # the derivative of the cached trace
    np.testing.assert_allclose(fa.vmap(fa.grad(f), in_axes=(0, None))(x, 2.0),
                               2.0 * np.cos(x), rtol=1e-15)
    # a new rule replaces the cached traces
    @f.defjvp
    def f_jvp2(primals, tangents):
        (x, n), (t, _) = primals, tangents
        return f(x, n), 0.0 * t
    np.testing.assert_allclose(fa.vmap(fa.grad(f), in_axes=(0, None))(x, 2.0), 0.0)


def test_custom_jvp_cache_keys_static_arguments_and_skips_closures_over_tracers():
    @partial(fa.custom_jvp, nondiff_argnums=(0,))
    def app(k, x):
        return fnp.sin(x) * k

    @app.defjvp
    def app_jvp(k, primals, tangents):
        (x,), (t,) = primals, tangents
        return app(k, x), k * fnp.cos(x) * t

    x = np.array([0.1, 0.2])
    for k in (1, 2.0, 3, True):   # static values of other types are other traces
        np.testing.assert_allclose(fa.vmap(lambda v: app(k, v))(x), np.sin(x) * k)
        np.testing.assert_allclose(fa.vmap(fa.grad(lambda v: app(k, v)))(x),
                                   k * np.cos(x))
    # an unhashable static argument is traced at each call
    k = np.array(3.0)
    np.testing.assert_allclose(fa.vmap(lambda v: app(k, v))(x), np.sin(x) * 3.0)

    # a function closing over a batched value: its trace holds a tracer, never cached
    box = {}

    @fa.custom_jvp
    def h(x):
        return x * box["scale"]

    @h.defjvp
    def h_jvp(primals, tangents):
        return h(primals[0]), tangents[0] * box["scale"]

    def call(s, v):
        box["scale"] = s
        return h(v)

    for scale in (np.array([1.0, 2.0]), np.array([3.0, 5.0])):
        np.testing.assert_allclose(fa.vmap(call)(scale, x), scale * x)
        np.testing.assert_allclose(fa.vmap(fa.grad(call, 1))(scale, x), scale)
    assert not h._traces


def test_vmap_of_random_normal_is_bit_identical_and_fast():
    import time
    import funcad.random as jr
    keys = jr.split(jr.PRNGKey(0), 8)
    f = fa.vmap(lambda k: jr.normal(k, (3,)))
    first = np.asarray(f(keys))
    loop = np.stack([np.asarray(jr.normal(k, (3,))) for k in keys])
    assert np.array_equal(first.view(np.uint64), loop.view(np.uint64))
    t = time.perf_counter()
    again = np.asarray(f(keys))
    assert np.array_equal(again.view(np.uint64), first.view(np.uint64))
    # (was ~0.06-0.5 s a call, tracing erfinv's 44 custom fma calls each time; now ~2 ms)
    assert time.perf_counter() - t < 0.05


def test_pickled_custom_jvp_leaves_its_traces_behind():
    cloudpickle = pytest.importorskip("cloudpickle")

    def make():
        @fa.custom_jvp
        def f(x):
            return fnp.sin(x)

        @f.defjvp
        def f_jvp(primals, tangents):
            return f(primals[0]), fnp.cos(primals[0]) * tangents[0]
        return f

    f = make()
    x = np.array([0.1, 0.2])
    fa.vmap(f)(x)
    assert f._traces
    g = cloudpickle.loads(cloudpickle.dumps(f))
    assert g._traces == {} and f._traces
    np.testing.assert_allclose(fa.vmap(fa.grad(g))(x), np.cos(x), rtol=1e-15)


_SCALE = 2.0


@fa.custom_jvp
def _scaled(x):
    return x * _SCALE


@_scaled.defjvp
def _scaled_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return x * _SCALE, t * _SCALE


def test_custom_jvp_trace_cache_sees_changed_closed_over_values():
    # The traces are kept per signature, but a global or a closure cell that changed
    # value is traced again (eager vmap must see the value of the moment, as in JAX).
    global _SCALE
    x = np.arange(3.0)
    _SCALE = 2.0
    np.testing.assert_array_equal(fa.vmap(_scaled)(x), 2.0 * x)
    _SCALE = 3.0
    np.testing.assert_array_equal(fa.vmap(_scaled)(x), 3.0 * x)
    np.testing.assert_array_equal(fa.vmap(fa.grad(_scaled))(x), np.full(3, 3.0))
    _SCALE = 2.0

    def make(c):
        @fa.custom_jvp
        def f(x):
            return x * c[0]
        f.defjvps(lambda t, ans, x: t * c[0])
        return f
    box = [1.5]
    f = make(box)
    np.testing.assert_array_equal(fa.vmap(f)(x), 1.5 * x)
    box2 = [4.0]
    g = make(box2)
    np.testing.assert_array_equal(fa.vmap(g)(x), 4.0 * x)
