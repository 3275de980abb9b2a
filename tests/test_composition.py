"""Regression tests of issue 8: compositions that real programs hit.

One section per item of the issue: closures over tracers in every staging transform,
custom rules that call their own function, nested jit in the Numba lowering, compile-cache
keys, static argument names, weakly typed loop carries, unhashable pytree aux_data, the
per-function trace cache, and error types. The random-program counterpart is
tests/test_composition_random.py.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest

import funcad as fa
import funcad.numpy as fnp
from funcad import lax, tree_util
from funcad.lowering.numba import stats

RNG = np.random.default_rng(0)
X = RNG.normal(size=(5, 3))
W0 = np.array([0.3, -0.2, 0.5])


def _close(a, b, rtol=1e-9, atol=1e-12):
    for x, y in zip(tree_util.tree_leaves(a), tree_util.tree_leaves(b), strict=True):
        x, y = np.asarray(x), np.asarray(y)
        assert x.shape == y.shape, (x.shape, y.shape)
        np.testing.assert_allclose(x, y, rtol=rtol, atol=atol)


@pytest.fixture
def numba_on(monkeypatch):
    """Compile with Numba in this test (conftest disables it by default)."""
    monkeypatch.setenv("FUNCAD_DISABLE_JIT", "0")


# -- 1. closures over values traced by an outer transform ----------------------------------


def test_issue_examples_jit_closing_over_grad_tracer():
    w = np.ones(3)
    ref = fa.grad(lambda w: fnp.sum((X @ w) ** 2))(w)
    assert np.abs(ref).sum() > 1
    _close(fa.grad(lambda w: fnp.sum(fa.jit(lambda X: X @ w)(X) ** 2))(w), ref)
    _close(fa.grad(lambda w: fnp.sum(fa.jit(fa.vmap(lambda x: fnp.dot(x, w)))(X) ** 2))(w),
           ref)


def _custom_jvp_of(f):
    g = fa.custom_jvp(f)
    g.defjvp(lambda p, t: (f(*p), fa.jvp(f, p, t)[1]))
    return g


def _custom_vjp_of(f):
    g = fa.custom_vjp(f)
    g.defvjp(lambda x: (f(x), x), lambda x, ct: fa.vjp(f, x)[1](ct))
    return g


def _zeros_rows(X):
    return fnp.zeros(X.shape[0])


# Each stager runs `f(X)` inside a staged function; `f` closes over the outer `w`.
STAGERS = {
    "jit": lambda f: fa.jit(f),
    "jit(vmap)": lambda f: fa.jit(fa.vmap(lambda x: f(x[None])[0])),
    "checkpoint": lambda f: fa.checkpoint(f),
    "scan": lambda f: (lambda X: lax.scan(lambda c, x: (c, f(x[None])[0]), 0.0, X)[1]),
    "fori_loop": lambda f: (lambda X: lax.fori_loop(0, 2, lambda i, c: f(X), _zeros_rows(X))),
    "while_loop": lambda f: (lambda X: lax.while_loop(
        lambda c: c[0] < 1, lambda c: (c[0] + 1, f(X)), (0, _zeros_rows(X)))[1]),
    "cond": lambda f: (lambda X: lax.cond(True, f, _zeros_rows, X)),
    "switch": lambda f: (lambda X: lax.switch(1, [_zeros_rows, f], X)),
    "custom_jvp": _custom_jvp_of,
    "custom_vjp": _custom_vjp_of,
}

OUTERS = {
    "grad": lambda f: fa.grad(f)(W0),
    "jvp": lambda f: fa.jvp(f, (W0,), (np.array([1.0, -2.0, 0.5]),))[1],
    "linearize": lambda f: fa.linearize(f, W0)[1](np.array([1.0, -2.0, 0.5])),
    "vmap": lambda f: fa.vmap(f)(np.stack([W0, 2 * W0])),
    "vmap(grad)": lambda f: fa.vmap(fa.grad(f))(np.stack([W0, -W0])),
    "jit(grad)": lambda f: fa.jit(fa.grad(f))(W0),
    "jacfwd": lambda f: fa.jacfwd(f)(W0),
    "grad(grad)": lambda f: fa.grad(lambda w: fa.grad(f)(w)[0])(W0),
}


def _loss(stage):
    return lambda w: fnp.sum(fnp.sin(stage(lambda X: X @ w)(X)) ** 2)


@pytest.mark.parametrize("outer", list(OUTERS))
@pytest.mark.parametrize("stager", list(STAGERS))
def test_staged_function_closing_over_outer_tracer(stager, outer):
    expected = OUTERS[outer](_loss(lambda f: f))
    _close(OUTERS[outer](_loss(STAGERS[stager])), expected)


def test_jit_closing_over_tracer_compiled(numba_on):
    w = np.ones(3)
    ref = fa.grad(lambda w: fnp.sum((X @ w) ** 2))(w)
    _close(fa.grad(lambda w: fnp.sum(fa.jit(lambda X: X @ w)(X) ** 2))(w), ref)


def test_jit_defined_outside_closing_over_a_tracer_is_not_reused_stale():
    box = {}

    def f(X):
        return X @ box["w"]
    jf = fa.jit(f)

    def loss(w):
        box["w"] = w
        return fnp.sum(jf(X) ** 2)
    g1 = fa.grad(loss)(W0)
    g2 = fa.grad(loss)(2 * W0)
    _close(g1, 2 * X.T @ (X @ W0))
    _close(g2, 2 * X.T @ (X @ (2 * W0)))


def test_converting_a_differentiated_value_to_numpy_raises():
    with pytest.raises(TypeError, match="drop its derivative"):
        fa.grad(lambda x: np.asarray(x) * x)(2.0)
    # without a derivative flowing through it, it is just a value
    _close(fa.grad(lambda x: np.asarray(fa.stop_gradient(x)) * x)(2.0), 2.0)


# -- 2. custom rules that call their own function -------------------------------------------


@fa.custom_vjp
def _sin_times(x, y):
    return fnp.sin(x) * y


def _sin_times_fwd(x, y):
    return _sin_times(x, y), (fnp.cos(x), fnp.sin(x), y)   # JAX's idiom: f inside f_fwd


def _sin_times_bwd(res, g):
    cos_x, sin_x, y = res
    return cos_x * g * y, sin_x * g


_sin_times.defvjp(_sin_times_fwd, _sin_times_bwd)


def test_custom_vjp_fwd_calling_its_function():
    x, y = 3.0, 4.0
    _close(fa.grad(_sin_times)(x, y), y * np.cos(x))
    _close(fa.grad(fa.grad(_sin_times))(x, y), -y * np.sin(x))
    _close(fa.jit(fa.grad(_sin_times, argnums=(0, 1)))(x, y), (y * np.cos(x), np.sin(x)))
    _close(fa.vmap(fa.grad(_sin_times))(np.array([3.0, 1.0]), np.array([4.0, 2.0])),
           np.array([4.0, 2.0]) * np.cos([3.0, 1.0]))
    _close(fa.jvp(_sin_times, (x, y), (1.0, 0.0))[1], y * np.cos(x))
    _close(fa.hessian(lambda x: _sin_times(x, y))(x), -y * np.sin(x))


@partial(fa.custom_vjp, nondiff_argnums=(0,))
def fixed_point(f, a, x_guess):
    def cond_fun(carry):
        x_prev, x = carry
        return fnp.abs(x_prev - x) > 1e-10

    def body_fun(carry):
        _, x = carry
        return x, f(a, x)
    _, x_star = lax.while_loop(cond_fun, body_fun, (x_guess, f(a, x_guess)))
    return x_star


def _fixed_point_fwd(f, a, x_init):
    x_star = fixed_point(f, a, x_init)
    return x_star, (a, x_star)


def _rev_iter(f, packed, u):
    a, x_star, x_star_bar = packed
    _, vjp_x = fa.vjp(lambda x: f(a, x), x_star)
    return x_star_bar + vjp_x(u)[0]


def _fixed_point_rev(f, res, x_star_bar):
    a, x_star = res
    _, vjp_a = fa.vjp(lambda a: f(a, x_star), a)
    a_bar, = vjp_a(fixed_point(partial(_rev_iter, f), (a, x_star, x_star_bar), x_star_bar))
    return a_bar, fnp.zeros_like(x_star)


fixed_point.defvjp(_fixed_point_fwd, _fixed_point_rev)


def newton_sqrt(a):
    return fixed_point(lambda a, x: 0.5 * (x + a / x), a, a)


def test_fixed_point_example_of_jax_custom_derivative_guide():
    _close(newton_sqrt(2.0), np.sqrt(2.0))
    _close(fa.grad(newton_sqrt)(2.0), 0.5 / np.sqrt(2.0))
    _close(fa.grad(fa.grad(newton_sqrt))(2.0), -0.25 * 2.0 ** -1.5, rtol=1e-7)
    _close(fa.jit(fa.grad(newton_sqrt))(2.0), 0.5 / np.sqrt(2.0))
    _close(fa.vmap(fa.grad(newton_sqrt))(np.array([2.0, 4.0])), 0.5 / np.sqrt([2.0, 4.0]))


def test_custom_jvp_rule_calling_its_function_still_works():
    @fa.custom_jvp
    def f(x):
        return fnp.exp(x)

    @f.defjvp
    def f_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        y = f(x)
        return y, y * t
    _close(fa.grad(f)(0.5), np.exp(0.5))
    _close(fa.grad(fa.grad(f))(0.5), np.exp(0.5))
    _close(fa.vmap(fa.grad(fa.grad(f)))(np.array([0.5, 1.0])), np.exp([0.5, 1.0]))


def test_self_calling_rules_of_functions_closing_over_tracers():
    # The inner call's rules must take the closed-over tracer as an operand, so they are
    # traced at the call (not lazily) when the function closes over traced values.
    def outer_vjp(s):
        @fa.custom_vjp
        def g(x):
            return fnp.sin(x) * s

        def g_fwd(x):
            return g(x), fnp.cos(x)

        def g_bwd(c, ct):
            return (c * s * ct,)
        g.defvjp(g_fwd, g_bwd)
        return fa.grad(fa.grad(g))(s)                   # -sin(s) * s

    def outer_jvp(s):
        @fa.custom_jvp
        def g(x):
            return fnp.sin(x) * s

        @g.defjvp
        def g_jvp(p, t):
            return g(*p), fnp.cos(p[0]) * s * t[0]
        return fa.jacfwd(fa.jacfwd(g))(s)               # -sin(s) * s

    s = 0.7
    for outer in (outer_vjp, outer_jvp):
        _close(outer(s), -np.sin(s) * s)
        _close(fa.grad(outer)(s), -np.cos(s) * s - np.sin(s))
        _close(fa.vmap(fa.grad(outer))(np.array([s, 0.2])),
               -np.cos([s, 0.2]) * [s, 0.2] - np.sin([s, 0.2]))


def test_lazy_rule_closing_over_a_tracer_raises_clearly():
    # The refused case: the rule, but not the function, closes over a traced value, and
    # the call inside the rule (traced lazily) is differentiated again. Eagerly the rules
    # run on values, so it works (as in JAX); under jit, where x has no value, it is
    # refused.
    def outer(s, traced_x):
        @fa.custom_jvp
        def g(x):
            return fnp.sin(x)

        @g.defjvp
        def g_jvp(p, t):
            return g(*p), fnp.cos(p[0]) * s * t[0]      # deliberately scaled by s
        return fa.grad(fa.grad(g))(0.3 + 0.0 * s if traced_x else 0.3)
    _close(outer(2.0, False), -np.sin(0.3) * 2.0)
    for traced_x in (False, True):
        _close(fa.grad(outer)(2.0, traced_x), -np.sin(0.3))
    _close(fa.jit(fa.grad(outer), static_argnums=1)(2.0, False), -np.sin(0.3))
    with pytest.raises(TypeError, match="closes over a traced value"):
        fa.jit(fa.grad(outer), static_argnums=1)(2.0, True)


# -- 3. nested jit under grad in the Numba lowering -----------------------------------------


def test_nested_jit_under_grad_lowers(numba_on):
    L = fa.jit(lambda v: fnp.sum(fnp.cos(v)))
    inner = fa.jit(lambda s: fa.grad(L)(s))
    x = np.array([0.3, 0.5])
    _close(fa.jit(lambda u: inner(x + u))(x), -np.sin(2 * x))
    a = fa.jit(lambda x: fnp.sum(fnp.sin(x)))
    _close(fa.jit(fa.grad(fa.jit(lambda x: a(x) * 2.0)))(x), 2 * np.cos(x))
    lj = fa.jit(lambda b: fnp.sum(b ** 2))
    _close(fa.jit(fa.grad(lambda b: fnp.mean(fa.jit(fa.vmap(lj))(b))))(np.ones((4, 3))),
           np.full((4, 3), 0.5))


def test_inlining_nested_calls_keeps_every_variable_bound():
    from funcad._ir import typecheck_jaxpr
    from funcad.lowering.numba.codegen import inline_calls
    a = fa.jit(lambda x: fnp.sum(fnp.sin(x)))
    b = fa.jit(lambda x: a(x) * 2.0 + a(x * 3.0))
    c = fa.jit(lambda x: b(x) + b(x + 1.0))
    lowered = fa.jit(fa.grad(c)).lower(np.array([0.3, 0.5]))
    flat = inline_calls(lowered._flat)
    typecheck_jaxpr(flat)
    assert not any(e.primitive.name == "jit" for e in flat.eqns)
    src = lowered.source   # lowers without a KeyError
    assert "def " in src


# -- 4. compile-cache keys include the input signature ---------------------------------------


def test_trivial_programs_do_not_collide_in_the_compile_cache(numba_on):
    # Programs whose source does not mention ranks or dtypes (`+a` is a copy of `a`).
    _close(fa.jit(lambda a: +a)(np.ones(3)), np.ones(3))
    _close(fa.jit(lambda a: +a)(np.ones((2, 3))), np.ones((2, 3)))
    out32 = fa.jit(lambda a: a * 1.0)(np.ones(3, np.float32))
    out64 = fa.jit(lambda a: a * 1.0)(np.ones(3))
    assert out32.dtype == np.float32 and out64.dtype == np.float64
    out32 = fa.jit(lambda a: a * 1.0)(np.ones(3, np.float32))
    assert out32.dtype == np.float32
    # empty programs: the output is an input
    for x in (np.ones(2, np.float32), np.ones((2, 2)), np.arange(3), np.float32(2.0), 2.0,
              np.ones(2, bool)):
        out = fa.jit(lambda a: a)(x)
        assert out.dtype == np.asarray(x).dtype and out.shape == np.shape(x)
        _close(out, x)
    # no inputs at all
    _close(fa.jit(lambda: fnp.ones(2))(), np.ones(2))
    _close(fa.jit(lambda: 3.0)(), 3.0)


def test_programs_sharing_source_do_not_share_constants():
    from funcad._core import ShapedArray
    from funcad._ir import Jaxpr, JaxprEqn, Var
    from funcad.interpreters.ad import HashableArray
    from funcad.lowering.numba.compile import compile_jaxpr
    from funcad.primitives.elementwise import add_p
    from funcad.primitives.structural import const_p

    def program(c):
        a = ShapedArray((3,), np.dtype(np.float64))
        x, k, y = Var(a), Var(a), Var(a)
        return Jaxpr((), (x,), (JaxprEqn(const_p, (), {"value": HashableArray(c)}, (k,)),
                                JaxprEqn(add_p, (x, k), {}, (y,))), (y,))
    _close(compile_jaxpr(program(np.arange(3.0)), "p").run(np.zeros(3))[0], np.arange(3.0))
    _close(compile_jaxpr(program(np.arange(3.0) * 10), "p").run(np.zeros(3))[0],
           np.arange(3.0) * 10)


def test_signature_is_part_of_the_source_key():
    from funcad.lowering.numba.compile import program_source
    f = fa.jit(lambda a: +a)
    keys = {program_source(f.lower(x)._flat, "f").split("def ")[1].split("(")[0]
            for x in (np.ones(3), np.ones((2, 3)), np.ones(3, np.float32), 1.0, np.float64(1))}
    assert len(keys) == 5


# -- 5. static_argnames and static_argnums map through the signature -------------------------


def test_static_argnames_given_positionally():
    def f(x):
        return 3.0 * x ** 2 if x < 3 else -4 * x
    _close(fa.jit(f, static_argnames="x")(2.0), 12.0)
    _close(fa.jit(f, static_argnames="x")(x=4.0), -16.0)
    _close(fa.jit(f, static_argnums=0)(x=2.0), 12.0)


def test_static_argnames_with_other_arguments():
    def g(a, n, *, scale=1.0):
        return fnp.sum(a ** n) * scale
    jg = fa.jit(g, static_argnames=("n",))
    _close(jg(np.arange(3.0), 2), 5.0)
    _close(jg(np.arange(3.0), n=3), 9.0)
    _close(jg(np.arange(3.0), 2, scale=2.0), 10.0)
    assert jg.static_argnums == (1,)
    jh = fa.jit(g, static_argnums=1)
    assert jh.static_argnames == ("n",)
    _close(jh(np.arange(3.0), n=3), 9.0)


# -- 6. weakly typed loop carries -----------------------------------------------------------


def test_weak_python_number_carry_is_promoted():
    out = lax.fori_loop(0, 3, lambda i, s: s + 0.5, 0)
    assert out.dtype == np.float64
    _close(out, 1.5)
    _close(fa.jit(lambda n: lax.fori_loop(0, n, lambda i, s: s + 0.5, 0))(3), 1.5)
    _close(lax.while_loop(lambda s: s < 2, lambda s: s + 0.5, 0), 2.0)
    c, ys = lax.scan(lambda c, x: (c + x, c * x), 0.0, np.ones(3, np.float32))
    assert c.dtype == np.float32 and ys.dtype == np.float32
    (c0, c1), _ = lax.scan(lambda c, x: ((c[0] + x, c[1]), None), (0, np.float32(1)),
                           np.ones(3))
    assert c0.dtype == np.float64 and c1.dtype == np.float32
    # an int carry that stays int stays int
    out = lax.fori_loop(0, 3, lambda i, s: s + 1, 0)
    assert out.dtype == np.int64 and out == 3
    _close(fa.grad(lambda x: lax.fori_loop(0, 3, lambda i, s: s * x + 1.0, 0))(2.0), 5.0)
    _close(fa.jit(lambda s0: lax.fori_loop(0, 3, lambda i, s: s + 0.5, s0))(0), 1.5)


def test_strongly_typed_carry_mismatch_is_an_error_naming_the_leaf():
    with pytest.raises(TypeError, match=r"fori_loop.*val.*i64\[\].*f64\[\]"):
        lax.fori_loop(0, 3, lambda i, s: s + 0.5, np.int64(0))
    with pytest.raises(TypeError, match=r"scan.*carry\[1\].*f32\[\].*f64\[\]"):
        lax.scan(lambda c, x: ((c[0], c[1] * x), None), (0.0, np.float32(1)), np.ones(3))
    with pytest.raises(TypeError, match=r"while_loop.*carry.*i64\[\].*f64\[2\]"):
        lax.while_loop(lambda s: fnp.all(s < 2), lambda s: s + np.ones(2), 0)


# -- 7. pytree nodes with unhashable aux_data ----------------------------------------------


class _Node:
    def __init__(self, x, meta):
        self.x, self.meta = x, meta


tree_util.register_pytree_node(_Node, lambda n: ((n.x,), n.meta),
                               lambda meta, kids: _Node(kids[0], meta))


def test_jit_accepts_unhashable_aux_data():
    calls = []

    def f(n):
        calls.append(1)
        return _Node(n.x * n.meta["k"], n.meta)
    jf = fa.jit(f)
    _close(jf(_Node(np.ones(2), {"k": 2.0})).x, 2 * np.ones(2))
    _close(jf(_Node(np.ones(2), {"k": 2.0})).x, 2 * np.ones(2))
    assert len(calls) == 1        # equal aux_data: the trace is reused
    _close(jf(_Node(np.ones(2), {"k": 3.0})).x, 3 * np.ones(2))
    assert len(calls) == 2        # different aux_data: traced again
    _close(fa.grad(lambda n: fnp.sum(jf(n).x))(_Node(np.ones(2), {"k": 2.0})).x,
           np.array([2.0, 2.0]))
    _close(fa.vmap(jf)(_Node(np.ones((3, 2)), {"k": 2.0})).x, 2 * np.ones((3, 2)))


def test_treedef_equality_and_hash_with_unhashable_aux():
    a = tree_util.tree_structure(_Node(1.0, {"k": [1, 2]}))
    b = tree_util.tree_structure(_Node(2.0, {"k": [1, 2]}))
    c = tree_util.tree_structure(_Node(2.0, {"k": [1, 3]}))
    assert a == b and hash(a) == hash(b) and a != c
    assert len({a, b, c}) == 2
    d = tree_util.tree_structure(_Node(1.0, np.arange(3)))   # == is elementwise
    assert d != tree_util.tree_structure(_Node(1.0, np.arange(3)))
    assert d == d


# -- 8. the trace cache is per function, not per wrapper ------------------------------------


def test_fresh_jit_wrapper_reuses_traces():
    calls = []

    def f(x):
        calls.append(1)
        return fnp.sin(x) * 2.0
    x = np.arange(3.0)
    for _ in range(100):
        _close(fa.jit(f)(x), np.sin(x) * 2.0)
    assert len(calls) == 1
    fa.jit(f)(np.arange(4.0))
    assert len(calls) == 2
    fa.jit(f, static_argnums=())(x)   # same configuration
    assert len(calls) == 2
    fa.jit(f, fastmath=True)(x)       # other options: another cache
    assert len(calls) == 3


def test_fresh_wrapper_reuses_compiled_program(numba_on):
    def f(x):
        return fnp.cos(x) + 1.0
    x = np.arange(3.0)
    fa.jit(f)(x)
    lowered = stats["lowered"]
    for _ in range(20):
        _close(fa.jit(f)(x), np.cos(x) + 1.0)
    assert stats["lowered"] == lowered


def test_trace_cache_does_not_keep_functions_alive():
    import gc
    import weakref

    def make():
        def f(x):
            return x + 1.0
        return f
    f = make()
    fa.jit(f)(np.ones(2))
    ref = weakref.ref(f)
    del f
    gc.collect()
    assert ref() is None


# -- 9. error types where JAX's users catch them ---------------------------------------------


def test_contraction_size_mismatch_is_a_type_error_naming_both_shapes():
    for op in (fnp.dot, fnp.matmul, lambda a, b: a @ b, fnp.inner):
        with pytest.raises(TypeError, match=r"\(3,\).*\(4,\)"):
            fa.grad(lambda a, b: fnp.sum(op(a, b)))(np.ones(3), np.ones(4))
        with pytest.raises(TypeError, match=r"\(2, 3\).*\(4, 5\)"):
            fa.jit(lambda a, b: op(a, b))(np.ones((2, 3)), np.ones((4, 5)))
    # on concrete values too; and NumPy users, who catch ValueError, still can
    for op in (fnp.dot, fnp.matmul, fnp.inner, fnp.tensordot):
        with pytest.raises(TypeError, match=r"\(3,\).*\(4,\)"):
            op(np.ones(3), np.ones(4)) if op is not fnp.tensordot else op(
                np.ones(3), np.ones(4), 1)
        with pytest.raises(ValueError):
            op(np.ones(3), np.ones(4)) if op is not fnp.tensordot else op(
                np.ones(3), np.ones(4), 1)
    with pytest.raises(TypeError, match="einsum"):
        fnp.einsum("ij,jk->ik", np.ones((2, 3)), np.ones((4, 2)))


@pytest.mark.parametrize("name,fun", [
    # (numpy.fft and packbits: now in funcad.numpy)
    ("numpy.real_if_close", lambda x: np.real_if_close(x)),
    # (histogram, frexp, roots: now in funcad.numpy; np.roots on tracers: test_ufunc.py)
    # (numpy.sort_complex and numpy.linalg.eigvals are implemented now: their tests are in
    # tests/test_complex_linalg.py)
])
def test_unimplemented_numpy_function_on_tracer_is_a_type_error(name, fun):
    with pytest.raises(TypeError, match=name.replace(".", r"\.") + " is not supported"):
        fa.grad(lambda x: fnp.sum(fun(x)))(np.ones(4))
    with pytest.raises(TypeError, match=name.replace(".", r"\.")):
        fa.jit(fun)(np.ones(4))


# -- found by tests/test_composition_random.py -------------------------------------------


def test_grad_of_while_loop_with_concrete_inputs_inside_a_staged_function():
    # The loop's inputs are concrete, so its trip count is known, but the function around
    # it is staged (a cond branch, jit): the trip count was staged too, and linearizing
    # built a scan of length None.
    def wl(y):
        return lax.while_loop(lambda s: s[0] < 2, lambda s: (s[0] + 1, s[1] * y), (0, y))[1]

    def f(x):
        return fa.grad(lambda y: wl(y) * x)(2.0)     # d/dy y**3 = 12, times x
    _close(lax.cond(True, f, lambda x: x, 1.5), 18.0)
    _close(fa.jit(f)(1.5), 18.0)
    _close(fa.grad(lambda x: fa.jit(f)(x))(1.5), 12.0)
