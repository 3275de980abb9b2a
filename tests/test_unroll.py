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
