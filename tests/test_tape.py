"""Eager reverse mode on the tape (funcad/interpreters/tape.py) against the general path.

Every eager `grad` in the rest of the suite runs on the tape; here each case is also run
with the tape switched off (linearize into a jaxpr, then transpose it), and the two must
agree, including through compositions where the tape meets other transforms.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import funcad as fa
import funcad.numpy as fnp
from funcad import lax
from funcad.interpreters import tape, tape_backward
from tests.test_random_programs import inputs, programs, run


def both(f, *args, **kw):
    """f(*args) with the tape, and with the general path."""
    a = f(*args, **kw)
    tape.ENABLED = False
    try:
        b = f(*args, **kw)
    finally:
        tape.ENABLED = True
    return a, b


def assert_close(a, b, rtol=1e-12):
    la, ta = fa.tree_util.tree_flatten(a)
    lb, tb = fa.tree_util.tree_flatten(b)
    assert ta == tb
    for u, v in zip(la, lb):
        assert np.shape(u) == np.shape(v) and np.asarray(u).dtype == np.asarray(v).dtype
        np.testing.assert_allclose(u, v, rtol=rtol, atol=1e-14)


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(programs())
def test_random_programs_same_gradient(spec):
    # Unary and broadcasting binary functions, reductions, reshapes, concatenation,
    # cumsum, slices and integer indexing: the tape's three ways of transposing.
    prog, xs, ys, seed = spec
    x, y = inputs(xs, ys, seed)

    def f(x, y):
        return fnp.sum(fnp.sin(run(prog, fnp, x, y)))

    assert_close(*both(fa.grad(f, argnums=(0, 1)), x, y))


def f_small(x, y):
    a = fnp.sin(x) * y
    b = fnp.exp(-(a * a)) + fnp.cos(y)
    c = fnp.tanh(a * b) + fnp.log1p(x * x)
    d = fnp.sqrt(b * b + 1.0) * c
    return fnp.sum(a / (1.0 + d * d)) + fnp.mean(c * d)


X = np.linspace(-1.0, 1.2, 6)
Y = np.linspace(0.3, -0.8, 6)


def test_the_tape_is_used_eagerly_and_not_under_transforms(monkeypatch):
    calls = []
    real = tape.vjp_flat
    monkeypatch.setattr(tape, "vjp_flat", lambda *a: calls.append(1) or real(*a))
    fa.grad(f_small)(X, Y)
    assert calls == [1]
    fa.jit(fa.grad(f_small))(X, Y)
    fa.vmap(fa.grad(f_small))(np.stack([X, Y]), np.stack([Y, X]))
    assert calls == [1]


COMPOSITIONS = [
    "grad_grad", "vmap_grad", "grad_vmap", "closure_over_vmap", "jit_inside", "scan_inside",
    "custom_vjp_inside", "checkpoint_inside", "has_aux", "python_control_flow",
    "integer_intermediate", "complex_intermediate", "stop_gradient", "where",
    "live_denominator", "constant_output", "unused_input", "max_and_sort", "matmul",
    "hessian", "pieces_with_constants"]


@pytest.mark.parametrize("case", COMPOSITIONS)
def test_compositions_agree(case):
    if case == "grad_grad":
        g = fa.grad(fa.grad(lambda x: fnp.sum(fnp.sin(x) ** 3)))
        out = both(lambda x: g(x[0]), X)
    elif case == "vmap_grad":
        out = both(fa.vmap(fa.grad(f_small)), np.stack([X, Y]), np.stack([Y, X]))
    elif case == "grad_vmap":
        out = both(fa.grad(lambda w: fnp.sum(fa.vmap(lambda r: fnp.tanh(r * w))(
            np.stack([X, Y])))), X)
    elif case == "closure_over_vmap":
        out = both(fa.vmap(lambda w: fa.grad(lambda x: fnp.sum(fnp.sin(x * w)))(X)), Y)
    elif case == "jit_inside":
        inner = fa.jit(lambda x: fnp.cos(x) * x)
        out = both(fa.grad(lambda x: fnp.sum(inner(x) ** 2)), X)
    elif case == "scan_inside":
        def f(x):
            return fnp.sum(lax.scan(lambda c, v: (fnp.sin(c) * v, c), x, np.ones((3, 6)))[0])
        out = both(fa.grad(f), X)
    elif case == "custom_vjp_inside":
        @fa.custom_vjp
        def sq(x):
            return x * x

        sq.defvjp(lambda x: (x * x, x), lambda x, ct: (3.0 * x * ct,))   # deliberately not 2x
        out = both(fa.grad(lambda x: fnp.sum(sq(fnp.sin(x)))), X)
        np.testing.assert_allclose(out[0], 3.0 * np.sin(X) * np.cos(X))
    elif case == "checkpoint_inside":
        out = both(fa.grad(lambda x: fnp.sum(fa.checkpoint(lambda v: fnp.sin(v) * v)(x))), X)
    elif case == "has_aux":
        out = both(fa.grad(lambda x: (fnp.sum(x ** 2), {"m": fnp.max(x)}), has_aux=True), X)
    elif case == "python_control_flow":
        def f(x):
            s = fnp.sum(x)
            return fnp.sin(s) if s > 0 else fnp.cos(s) * x[0]
        out = both(fa.grad(f), X)
    elif case == "integer_intermediate":
        out = both(fa.grad(lambda x: fnp.sum(x * fnp.floor(x * 3).astype(int))), X)
    elif case == "complex_intermediate":
        out = both(fa.grad(lambda x: fnp.sum(fnp.abs(fnp.exp(1j * x) + x) ** 2)), X)
    elif case == "stop_gradient":
        out = both(fa.grad(lambda x: fnp.sum(x * lax.stop_gradient(x))), X)
    elif case == "where":
        out = both(fa.grad(lambda x: fnp.sum(fnp.where(x > 0, fnp.sqrt(fnp.abs(x)), x))), X)
    elif case == "live_denominator":
        out = both(fa.grad(lambda x, y: fnp.sum(x / (2.0 + y)), argnums=(0, 1)), X, Y)
    elif case == "constant_output":
        out = both(fa.grad(lambda x: fnp.sum(np.ones(6))), X)
        np.testing.assert_array_equal(out[0], np.zeros(6))
    elif case == "unused_input":
        out = both(fa.grad(lambda x, y: fnp.sum(x), argnums=(0, 1)), X, Y)
    elif case == "max_and_sort":
        out = both(fa.grad(lambda x: fnp.max(x) + fnp.sort(x)[1] * 2.0), X)
    elif case == "matmul":
        w = np.linspace(-1, 1, 12).reshape(6, 2)
        out = both(fa.grad(lambda w, x: fnp.sum(fnp.tanh(x @ w)), argnums=(0, 1)), w, X)
    elif case == "pieces_with_constants":
        # Primitives linear in all their arrays together, with constant pieces: a constant
        # padding value, a constant piece of a concatenation, a constant branch of where,
        # and a live padding value.
        def f(x, v):
            p = lax.pad(x, 0.5, ((1, 2, 1),))
            q = lax.pad(np.ones(3), v, ((2, 0, 0),))
            c = fnp.concatenate([x, np.arange(3.0), x * x])
            w = fnp.where(x > 0, x, 2.0)
            return fnp.sum(p * p) + fnp.sum(q * q) + fnp.sum(fnp.sin(c)) + fnp.sum(w ** 3)
        out = both(fa.grad(f, argnums=(0, 1)), X, 0.7)
    elif case == "hessian":
        out = both(fa.jacrev(fa.grad(lambda x: fnp.sum(fnp.sin(x) * x[::-1]))), X)
    assert_close(*out)


def test_a_differentiated_value_cannot_become_numpy():
    with pytest.raises(TypeError, match="stop_gradient"):
        fa.grad(lambda x: fnp.sum(np.asarray(x)))(X)
    # a value that is not differentiated converts fine
    assert float(fa.grad(lambda x: fnp.sum(x * np.asarray(fnp.cos(1.0))))(1.0)) == \
        pytest.approx(np.cos(1.0))


# ----------------------------------------------------------------------------------
# The backward pass compiled once per structure of tape (funcad/interpreters/tape_backward)


@pytest.fixture
def compile_at_once(monkeypatch):
    """Compile a structure's backward pass the first time it is seen."""
    monkeypatch.setattr(tape_backward, "COMPILE_AFTER", 0)
    tape.reset_cache()
    yield
    tape.reset_cache()


def uncached(f, *args):
    tape_backward.ENABLED = False
    try:
        return f(*args)
    finally:
        tape_backward.ENABLED = True


def compiled():
    return [p for p in tape_backward._programs.values() if p is not tape_backward.FAILED]


def assert_same_bits(a, b):
    la, ta = fa.tree_util.tree_flatten(a)
    lb, tb = fa.tree_util.tree_flatten(b)
    assert ta == tb
    for u, v in zip(la, lb):
        assert np.asarray(u).dtype == np.asarray(v).dtype
        np.testing.assert_array_equal(u, v)


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(programs())
def test_random_programs_cached_backward(compile_at_once, spec):
    # The compiled backward pass gives the bits of the tape's own, the first time (when it
    # is compiled) and after (when it is replayed on other values of the same shapes).
    prog, xs, ys, seed = spec
    x, y = inputs(xs, ys, seed)

    def f(x, y):
        return fnp.sum(fnp.sin(run(prog, fnp, x, y)))

    g = fa.grad(f, argnums=(0, 1))
    assert_same_bits(g(x, y), uncached(g, x, y))
    x2, y2 = x * 0.75 + 0.1, y * 1.25 - 0.2
    assert_same_bits(g(x2, y2), uncached(g, x2, y2))


def test_small_program_is_compiled_and_replayed(compile_at_once):
    g = fa.grad(f_small, argnums=(0, 1))
    first = g(X, Y)
    assert len(compiled()) == 1
    prog = compiled()[0]
    for k in range(3):
        x, y = X + 0.1 * k, Y - 0.2 * k
        assert_same_bits(g(x, y), uncached(g, x, y))
        assert_close(g(x, y), both(g, x, y)[1])
    assert compiled() == [prog]
    assert_same_bits(first, uncached(g, X, Y))


def test_compiled_after_the_second_call():
    tape.reset_cache()
    g = fa.grad(f_small, argnums=(0, 1))
    g(X, Y)
    assert compiled() == []
    g(X, Y)
    assert len(compiled()) == 1
    tape.reset_cache()


def test_python_control_flow_changes_the_tape(compile_at_once):
    def f(x, w):
        s = fnp.sum(x)
        if s > 0:
            out = fnp.sin(x) * w
        else:
            out = fnp.cos(x) * x
        for _ in range(int(abs(float(s))) % 3):
            out = fnp.tanh(out) * x
        return fnp.sum(out ** 2)

    g = fa.grad(f, argnums=(0, 1))
    for k, x in enumerate([X, -X, X * 3, -X * 5, X, -X * 5, X * 3, -X]):
        w = Y * (1 + k)
        assert_close(g(x, w), both(g, x, w)[1])
        assert_same_bits(g(x, w), uncached(g, x, w))
    assert len(compiled()) >= 3


def test_shapes_change_between_calls(compile_at_once):
    g = fa.grad(lambda x, m: fnp.sum(fnp.tanh(x @ m) * fnp.mean(x)), argnums=(0, 1))
    for n in [3, 4, 3, 5, 4, 3]:
        x = np.linspace(-1.0, 1.0, n)
        m = np.linspace(0.5, -0.5, 2 * n).reshape(n, 2)
        assert_close(g(x, m), both(g, x, m)[1])
        assert_same_bits(g(x, m), uncached(g, x, m))


def test_constants_change_between_calls(compile_at_once):
    # Constants are values of the call, not of the compiled program: a Python number, a
    # closed-over array (of another shape too), a 0-d array.
    for c, arr in [(2.0, np.arange(6.0)), (3.0, np.ones(6)), (-1.5, np.arange(1.0, 2.0)),
                   (2.0, np.full(6, 0.5))]:
        def f(x):
            return fnp.sum(fnp.sin(x * c) * arr + x ** 2 * np.asarray(c))
        g = fa.grad(f)
        expected = np.cos(X * c) * c * arr + 2 * X * c
        np.testing.assert_allclose(g(X), expected, rtol=1e-13)
        assert_same_bits(g(X), uncached(g, X))


def test_params_and_dtypes_in_the_structure(compile_at_once):
    # Equal structures but for params (axes) or dtypes do not share a program.
    m = np.linspace(-1.0, 1.0, 12).reshape(3, 4)
    for axis in [0, 1, 0, 1]:
        g = fa.grad(lambda m: fnp.sum(fnp.sin(fnp.sum(m, axis=axis)) ** 2))
        np.testing.assert_allclose(
            g(m), np.broadcast_to(np.expand_dims(np.sin(2 * m.sum(axis)), axis), m.shape),
            rtol=1e-13)
    for dtype in [np.float32, np.float64, np.float32]:
        g = fa.grad(lambda x: fnp.sum(fnp.exp(x) * 2.0))
        out = g(X.astype(dtype))
        assert out.dtype == dtype
        np.testing.assert_allclose(out, 2 * np.exp(X.astype(dtype)), rtol=1e-6)


def test_not_compiled_keeps_working(compile_at_once):
    # Equations linearized on their own (a custom_vjp, a loop, a complex intermediate)
    # leave the tape to its own backward pass, every call.
    @fa.custom_vjp
    def sq(x):
        return x * x

    sq.defvjp(lambda x: (x * x, x), lambda x, ct: (3.0 * x * ct,))
    for f in [lambda x: fnp.sum(sq(fnp.sin(x))),
              lambda x: fnp.sum(lax.scan(lambda c, v: (fnp.sin(c) * v, c), x,
                                         np.ones((3, 6)))[0]),
              lambda x: fnp.sum(fnp.abs(fnp.exp(1j * x) + x) ** 2)]:
        g = fa.grad(f)
        for _ in range(3):
            assert_close(*both(g, X))
    assert compiled() == []


def test_the_cache_stays_bounded(compile_at_once, monkeypatch):
    monkeypatch.setattr(tape_backward, "MAX_PROGRAMS", 4)
    g = fa.grad(lambda x: fnp.sum(fnp.sin(x) * x))
    for n in range(1, 12):
        x = np.linspace(0.0, 1.0, n)
        np.testing.assert_allclose(g(x), np.cos(x) * x + np.sin(x), rtol=1e-13)
        assert len(tape_backward._programs) <= 4
    assert len(tape_backward._seen) <= 16
    monkeypatch.setattr(tape, "MAX_NODES", 30)
    tape.reset_cache()
    for n in range(1, 12):
        x = np.linspace(0.0, 1.0, n)
        np.testing.assert_allclose(g(x), np.cos(x) * x + np.sin(x), rtol=1e-13)
        assert tape._n_nodes <= 30


def test_debug_nans_with_a_compiled_backward(compile_at_once):
    # The nan is made by the backward pass only (inf - inf: sqrt's derivatives at 0).
    g = fa.grad(lambda x: fnp.sum(fnp.sqrt(x) - fnp.sqrt(x)))
    g(np.ones(3))
    g(np.ones(3))
    assert len(compiled()) == 1
    with np.errstate(all="ignore"):
        assert np.isnan(g(np.zeros(3))).all()
    with fa.debug_nans(True):
        with pytest.raises(FloatingPointError, match="nan"):
            g(np.zeros(3))


def test_rules_looking_at_values_are_guarded(compile_at_once):
    # div's and sqrt's jvp rules take exact shortcuts where the denominator is nonzero or
    # the factor finite: a compiled program keeps them, checked on every call's values.
    g = fa.grad(lambda x, y: fnp.sum(fnp.sin(x / y) * fnp.sqrt(y * y + x)), argnums=(0, 1))
    x = np.linspace(0.5, 2.0, 50)
    y = np.linspace(-1.3, 1.1, 50)
    y0 = np.where(np.abs(y) < 0.3, 0.0, y)
    with np.errstate(all="ignore"):
        for yy in [y, y, y0, y, y0]:
            got, want = g(x, yy), uncached(g, x, yy)
            if yy is y:
                assert_same_bits(got, want)
            for u, v in zip(got, want):
                np.testing.assert_allclose(u, v, rtol=1e-15, atol=0, equal_nan=True)
    assert [p.guarded for p in compiled()] == [True]


def test_a_replaced_rule_is_seen(compile_at_once, monkeypatch):
    from funcad._core import jvp_rules
    from funcad.primitives.elementwise import cos_p, mul_p, sin_p

    def f(x):
        return fnp.sum(fnp.sin(x) * x)

    right = np.cos(X) * X + np.sin(X)
    g = fa.grad(f)
    for _ in range(2):
        np.testing.assert_allclose(g(X), right, rtol=1e-14)

    def doubled(primals, tangents):
        (x,), (t,) = primals, tangents
        return sin_p.bind(x), mul_p.bind(t, mul_p.bind(cos_p.bind(x), np.float64(2.0)))

    with monkeypatch.context() as m:
        m.setitem(jvp_rules, sin_p, doubled)
        for _ in range(3):
            np.testing.assert_allclose(g(X), 2 * np.cos(X) * X + np.sin(X), rtol=1e-14)
    for _ in range(2):
        np.testing.assert_allclose(g(X), right, rtol=1e-14)


@pytest.mark.parametrize("case", ["grad_grad", "hessian", "vmap_inside", "jit_inside",
                                  "custom_jvp", "value_and_grad_aux", "integer_branch"])
def test_compositions_with_a_compiled_backward(compile_at_once, case):
    # Run three times (compiled the first, replayed after) on other values each time:
    # the bits of the tape's own backward pass, and the general path's values.
    if case == "grad_grad":
        g = fa.grad(fa.grad(lambda x: fnp.sum(fnp.sin(x) ** 3 * x)))
        f = lambda x: g(x[0])                                       # noqa: E731
    elif case == "hessian":
        f = fa.jacrev(fa.grad(lambda x: fnp.sum(fnp.sin(x) * x[::-1])))
    elif case == "vmap_inside":
        f = fa.grad(lambda w: fnp.sum(fa.vmap(lambda r: fnp.tanh(r * w))(np.stack([X, Y]))))
    elif case == "jit_inside":
        inner = fa.jit(lambda x: fnp.cos(x) * x)
        f = fa.grad(lambda x: fnp.sum(inner(x) ** 2))
    elif case == "custom_jvp":
        @fa.custom_jvp
        def softplus(x):
            return fnp.log1p(fnp.exp(x))

        softplus.defjvp(lambda p, t: (softplus(p[0]), t[0] * 2.0))   # deliberately 2
        f = fa.grad(lambda x: fnp.sum(softplus(x * x)))
    elif case == "value_and_grad_aux":
        f = fa.value_and_grad(lambda x: (fnp.sum(fnp.exp(x) * x), {"m": fnp.max(x)}),
                              has_aux=True)
    elif case == "integer_branch":
        f = fa.grad(lambda x: fnp.sum(x * fnp.floor(x * 3).astype(int) + fnp.sin(x)))
    for k in range(3):
        x = X * (1.0 + 0.1 * k)
        got = f(x)
        assert_same_bits(got, uncached(f, x))
        assert_close(got, both(f, x)[1])


@pytest.mark.parametrize("case", COMPOSITIONS)
def test_compositions_agree_compiled(compile_at_once, case):
    # The same, with backward passes compiled the first time and replayed the second.
    test_compositions_agree(case)
    test_compositions_agree(case)
