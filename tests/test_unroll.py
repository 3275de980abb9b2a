"""Small arrays in loop bodies are scalars: no allocation per iteration, same values.

See funcad/lowering/numba/unroll.py. Source checks read the generated program; value
checks compare jit with eager evaluation (the generated code runs as Python under the
test suite's FUNCAD_DISABLE_JIT=1, and compiled in `test_compiled_ode_gradient`).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, HealthCheck, strategies as st

import funcad as fa
import funcad.numpy as fnp
from funcad import lax
from tests.test_random_programs import inputs, programs, run


def lorenz(s, p):
    x, y, z = s[0], s[1], s[2]
    return fnp.stack([p[0] * (y - x), x * (p[1] - z) - y, x * y - p[2] * z])


def rk4(s, p, dt):
    k1 = lorenz(s, p)
    k2 = lorenz(s + 0.5 * dt * k1, p)
    k3 = lorenz(s + 0.5 * dt * k2, p)
    k4 = lorenz(s + dt * k3, p)
    return s + dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)


def ode_loss(p, x0, steps=50):
    sT, traj = lax.scan(lambda s, _: (rk4(s, p, 0.01), s), x0, None, length=steps)
    return fnp.sum(sT * sT) + 0.01 * fnp.sum(traj)


P, X0 = np.array([10.0, 28.0, 8.0 / 3.0]), np.array([1.0, 1.0, 1.0])


def _loop_bodies(src: str) -> list[str]:
    """The lines inside `for`/`while` loops of the driver and kernels, loop nests of the
    loop's own arrays excepted (`for i in range(3)` copying a carry before the loop)."""
    out, stack = [], []
    for ln in src.splitlines():
        if not ln.strip() or ln.lstrip().startswith("#"):
            continue
        ind = len(ln) - len(ln.lstrip())
        while stack and ind <= stack[-1]:
            stack.pop()
        if stack:
            out.append(ln)
        s = ln.strip()
        if (s.startswith("for ") and "range(2000)" in s or "range(50)" in s
                or s.startswith("while ")):
            stack.append(ind)
    return out


@pytest.mark.parametrize("what", ["value", "grad"])
def test_scan_body_with_small_state_allocates_nothing(what):
    f = ode_loss if what == "value" else fa.grad(ode_loss, argnums=(0, 1))
    src = fa.jit(f).lower(P, X0).source
    body = _loop_bodies(src)
    assert body, src
    allocations = [ln for ln in body if "empty" in ln or "fill(" in ln or "np.zeros" in ln]
    assert not allocations, "\n".join(allocations)
    out, ref = fa.jit(f)(P, X0), f(P, X0)
    for a, b in zip(fa.tree_util.tree_leaves(out), fa.tree_util.tree_leaves(ref)):
        np.testing.assert_allclose(a, b, rtol=1e-13)


def test_fori_and_while_loops_with_small_state():
    def f(v):
        def body(i, s):
            return fnp.stack([s[1], -s[0] * 0.5 + fnp.sin(s[2]), s[2] + s[0] * 1e-2])
        s = lax.fori_loop(0, 30, body, v)
        t = lax.while_loop(lambda s: s[2] < 3.0, lambda s: s + fnp.array([0.1, 0.0, 0.25]), s)
        return fnp.sum(s * t)

    v = np.array([0.3, -0.2, 0.1])
    src = fa.jit(f).lower(v).source
    assert "while" in src
    np.testing.assert_allclose(fa.jit(f)(v), f(v), rtol=1e-13)
    np.testing.assert_allclose(fa.jit(fa.grad(f))(v), fa.grad(f)(v), rtol=1e-12)


def test_small_carries_that_swap_and_pass_through():
    # c1, c2 = c2, c1 and an untouched carry: element-wise writes must read the old
    # values first.
    def f(a, b, c):
        def body(carry, x):
            a, b, c = carry
            return (b * 1.5, a + x, c), a[0] * b[1]
        (a, b, c), ys = lax.scan(body, (a, b, c), fnp.arange(4.0))
        return a, b, c, ys

    args = (np.array([1.0, 2.0]), np.array([3.0, 4.0]), np.array([5.0, 6.0]))
    for o, r in zip(fa.jit(f)(*args), f(*args)):
        np.testing.assert_array_equal(o, r)
    # the inputs are not written to
    np.testing.assert_array_equal(args[0], [1.0, 2.0])


def test_compiled_ode_gradient(monkeypatch, tmp_path):
    monkeypatch.setenv("FUNCAD_DISABLE_JIT", "0")
    monkeypatch.setenv("FUNCAD_COMPILE", "sync")
    monkeypatch.setenv("FUNCAD_CACHE_DIR", str(tmp_path))
    g = fa.grad(ode_loss, argnums=(0, 1))
    for a, b in zip(fa.jit(g)(P, X0), g(P, X0)):
        np.testing.assert_allclose(a, b, rtol=1e-12)


@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(programs())
def test_random_small_programs_in_scan_bodies(spec):
    # Every building block of the random programs (elementwise, reductions, reshapes,
    # slices, concatenation, gathers, matmuls) as the body of a scan over small values.
    prog, xs, ys, seed = spec
    x, y = inputs(xs, ys, seed)

    def f(x, y):
        def body(c, k):
            out = run(prog, fnp, c, y)
            return c * 0.9 + 0.1 * fnp.tanh(fnp.sum(out) * k), out
        c, outs = lax.scan(body, x, fnp.linspace(0.5, 1.0, 3))
        return fnp.sum(c ** 2) + fnp.sum(fnp.sin(outs))

    np.testing.assert_allclose(fa.jit(f)(x, y), f(x, y), rtol=1e-12, atol=1e-13)
    for a, b in zip(fa.jit(fa.grad(f, argnums=(0, 1)))(x, y),
                    fa.grad(f, argnums=(0, 1))(x, y)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


# -- vmap of a scan with small per-example state: a loop over examples -------------------

@pytest.fixture
def by_example(monkeypatch):
    """Run the by-example lowering in the generated Python as well (see control_rules)."""
    from funcad.lowering.numba import control_rules
    monkeypatch.setattr(control_rules, "BY_EXAMPLE_INTERPRETED", True)


def _example_loops(src: str) -> list[str]:
    """`for b.. in range(B)` loops nested in a scan's step loop."""
    lines = src.splitlines()
    found = []
    for k, ln in enumerate(lines):
        s = ln.strip()
        if s.startswith("for k") and k + 2 < len(lines):
            nxt = [x.strip() for x in lines[k + 1:k + 3]]
            found += [x for x in nxt if x.startswith("for b")]
    return found


PS = np.array([[10.0, 28.0, 8.0 / 3.0], [9.0, 27.0, 2.5], [11.0, 26.0, 3.0],
               [10.5, 28.5, 2.0], [8.0, 25.0, 2.9]])


@pytest.mark.parametrize("argnums", [0, 1, (0, 1)])
def test_vmapped_ode_gradient_runs_by_example(by_example, argnums):
    x0s = X0 + 0.1 * np.arange(5)[:, None]
    g = fa.vmap(fa.grad(ode_loss, argnums=argnums), in_axes=(0, 0))
    src = fa.jit(g).lower(PS, x0s).source
    assert len(_example_loops(src)) == 2, src       # the forward and the reverse scan
    body = _loop_bodies(src)
    assert not [ln for ln in body if "empty" in ln or "fill(" in ln], src
    out = fa.jit(g)(PS, x0s)
    ref = [fa.grad(ode_loss, argnums=argnums)(p, x) for p, x in zip(PS, x0s)]
    for k, r in enumerate(ref):
        for a, b in zip(fa.tree_util.tree_leaves(out), fa.tree_util.tree_leaves(r)):
            np.testing.assert_allclose(a[k], b, rtol=1e-13)


def test_by_example_scan_with_unbatched_carries_consts_and_outputs(by_example):
    # A counter carry and a step-size const that do not depend on the mapped input, a
    # per-step output that does not either, unbatched xs, and a reverse scan.
    def f(s0, w, xs):
        def body(c, x):
            s, n = c
            s = fnp.stack([s[1] * w[0], -s[0] + x * w[1] + 0.1 * n])
            return (s, n + 1.0), (s[0] * n, n * 2.0)
        (s, n), (ys, ns) = lax.scan(body, (s0, 0.0), xs, reverse=True)
        return s, n, ys, ns

    s0 = np.array([[1.0, 0.5], [0.2, -0.3], [2.0, 1.0]])
    w = np.array([0.9, 0.3])
    xs = np.linspace(0.0, 1.0, 7)
    g = fa.vmap(f, in_axes=(0, None, None))
    assert _example_loops(fa.jit(g).lower(s0, w, xs).source)
    out = fa.jit(g)(s0, w, xs)
    ref = g(s0, w, xs)
    for a, b in zip(out, ref):
        np.testing.assert_array_equal(a, b)


def test_by_example_scan_of_length_zero_and_batched_xs(by_example):
    def f(s0, xs):
        return lax.scan(lambda s, x: (s * x, s[0] + x), s0, xs)

    s0 = np.ones((4, 3))
    for n in (0, 5):
        xs = np.linspace(1.0, 2.0, 4 * n).reshape(4, n)
        g = fa.vmap(f)
        out, ref = fa.jit(g)(s0, xs), g(s0, xs)
        for a, b in zip(out, ref):
            assert np.shape(a) == np.shape(b)
            np.testing.assert_array_equal(a, b)


def test_large_per_example_state_stays_batched(by_example):
    def f(s0):
        return lax.scan(lambda s, _: (fnp.sin(s) * 0.5, None), s0, None, length=3)[0]
    s0 = np.ones((4, 40))
    assert not _example_loops(fa.jit(fa.vmap(f)).lower(s0).source)


def test_compiled_vmapped_ode_gradient_by_example(monkeypatch, tmp_path):
    monkeypatch.setenv("FUNCAD_DISABLE_JIT", "0")
    monkeypatch.setenv("FUNCAD_COMPILE", "sync")
    monkeypatch.setenv("FUNCAD_CACHE_DIR", str(tmp_path))
    g = fa.vmap(fa.grad(ode_loss), in_axes=(0, None))
    assert len(_example_loops(fa.jit(g).lower(PS, X0).source)) == 2
    out = fa.jit(g)(PS, X0)
    for k, p in enumerate(PS):
        np.testing.assert_allclose(out[k], fa.grad(ode_loss)(p, X0), rtol=1e-12)


@settings(max_examples=10, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(programs())
def test_random_small_programs_in_vmapped_scan_bodies(by_example, spec):
    # The by-example lowering against vmap's batched evaluation, on random scan bodies.
    prog, xs, ys, seed = spec
    x, y = inputs(xs, ys, seed)

    def f(x, y):
        def body(c, k):
            out = run(prog, fnp, c, y)
            return c * 0.9 + 0.1 * fnp.tanh(fnp.sum(out) * k), out
        c, outs = lax.scan(body, x, fnp.linspace(0.5, 1.0, 3))
        return fnp.sum(c ** 2) + fnp.sum(fnp.sin(outs))

    xb = np.stack([x, 0.5 * x, -x])
    g = fa.vmap(f, in_axes=(0, None))
    np.testing.assert_allclose(fa.jit(g)(xb, y), g(xb, y), rtol=1e-12, atol=1e-13)
    dg = fa.vmap(fa.grad(f, argnums=(0, 1)), in_axes=(0, None))
    for a, b in zip(fa.jit(dg)(xb, y), dg(xb, y)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


# -- reverse mode recomputes small scan bodies instead of storing their intermediates -----

def _stacked_residuals(jaxpr):
    """Per-step shapes of what the forward scan stacks for the reverse scan."""
    fwd = next(e for e in jaxpr.eqns if e.primitive.name == "scan")
    nk = fwd.params["num_carry"]
    return [v.aval.shape[1:] for v in fwd.out_binders[nk:]]


def test_small_scan_bodies_are_recomputed_in_reverse(monkeypatch):
    from funcad.primitives import control
    g = fa.grad(ode_loss, argnums=(0, 1))
    stacked = _stacked_residuals(fa.make_jaxpr(g)(P, X0).jaxpr)
    # the carry of each step (3 numbers) and the trajectory output, not RK4's 40-odd
    # intermediates
    assert sorted(stacked) == [(3,), (3,)], stacked
    out = fa.jit(g)(P, X0)
    monkeypatch.setattr(control, "RECOMPUTE_MAX", 0)       # store everything instead
    assert len(_stacked_residuals(fa.make_jaxpr(g)(P, X0).jaxpr)) > 10
    for a, b in zip(out, fa.jit(g)(P, X0)):
        np.testing.assert_allclose(a, b, rtol=1e-14)


def test_scan_bodies_with_effects_or_large_values_store_residuals():
    def printing(x):
        def body(c, _):
            fa.debug.print("c={c}", c=c)
            return fnp.sin(c) * 1.1, None
        return lax.scan(body, x, None, length=3)[0]

    def large(x):
        return lax.scan(lambda c, _: (fnp.sin(c) * 1.1, None), x, None, length=3)[0]

    for f, x in ((printing, 0.5), (large, np.ones(40))):
        jp = fa.make_jaxpr(fa.grad(lambda x: fnp.sum(f(x))))(x).jaxpr
        assert not any(e.primitive.name == "checkpoint" for e in _inner_eqns(jp)), jp


def _inner_eqns(jaxpr):
    from funcad import views
    for e in jaxpr.eqns:
        yield e
        for _, sub in views.subjaxprs(e):
            yield from _inner_eqns(sub)
