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
from funcad.interpreters import tape
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


@pytest.mark.parametrize("case", [
    "grad_grad", "vmap_grad", "grad_vmap", "closure_over_vmap", "jit_inside", "scan_inside",
    "custom_vjp_inside", "checkpoint_inside", "has_aux", "python_control_flow",
    "integer_intermediate", "complex_intermediate", "stop_gradient", "where",
    "live_denominator", "constant_output", "unused_input", "max_and_sort", "matmul",
    "hessian", "pieces_with_constants"])
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
