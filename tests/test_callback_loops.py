"""Host callbacks inside differentiated while loops (issue 10).

Under jit, reverse mode through a `while_loop` with a data-dependent trip count runs its
transpose, `while_rev`, which re-runs the primal loop and then the reverse loop. Debug
callbacks run in the forward pass only, once per primal iteration, in the loop's order, as
in JAX (their transpose does nothing) and as funcad's eager grad does; a pure callback the
recomputation needs runs from the Python driver.
"""

import numpy as np
import pytest

import funcad as fa
import funcad.numpy as fnp
from funcad import lax


@pytest.fixture
def numba_on(monkeypatch):
    """Compile with Numba in this test (conftest disables it by default)."""
    monkeypatch.setenv("FUNCAD_DISABLE_JIT", "0")


def _scale(i):
    return np.float64(1.0 + 0.1 * i)


def f_printing(x):
    """A while loop printing in its condition, its body and a cond branch inside it."""
    def cond(c):
        fa.debug.print("cond i={}", c[0])
        return c[1] < 2.0

    def body(c):
        i, v = c
        fa.debug.print("body i={} v={}", i, v)
        fa.debug.callback(lambda a: print("callback", a), v * 2)
        w = lax.cond(i > 0, lambda v: (fa.debug.print("branch {}", v), v * 1.25)[1],
                     lambda v: v, v)
        return i + 1, w + fnp.sin(w) * 0.5
    return lax.while_loop(cond, body, (0, x))[1] ** 2


def _run(capsys, fn, *args):
    out = fn(*args)
    return out, capsys.readouterr().out.splitlines()


def _forward_lines(x):
    """What the primal loop prints, computed in plain Python."""
    lines, i, v = [], 0, x
    while True:
        lines.append(f"cond i={i}")
        if not v < 2.0:
            return lines
        lines += [f"body i={i} v={v}", f"callback {v * 2}"]
        w = v
        if i > 0:
            lines.append(f"branch {v}")
            w = v * 1.25
        i, v = i + 1, w + np.sin(w) * 0.5


@pytest.mark.parametrize("transform", ["grad", "value_and_grad", "hessian"])
def test_debug_print_in_differentiated_while_loop_under_jit(capsys, transform):
    g = getattr(fa, transform)(f_printing)
    eager, eager_lines = _run(capsys, g, 0.3)
    jitted, jit_lines = _run(capsys, fa.jit(g), 0.3)
    # JAX's order and count: the forward pass, once per iteration
    assert eager_lines == _forward_lines(0.3)
    assert jit_lines == eager_lines
    for a, b in zip(fa.tree_util.tree_leaves(jitted), fa.tree_util.tree_leaves(eager)):
        np.testing.assert_allclose(a, b, rtol=1e-13)
    # the callbacks change nothing: the same loop without them
    quiet = getattr(fa, transform)(lambda x: _quiet(x))
    for a, b in zip(fa.tree_util.tree_leaves(quiet(0.3)), fa.tree_util.tree_leaves(eager)):
        np.testing.assert_allclose(a, b, rtol=1e-13)
    capsys.readouterr()


def _quiet(x):
    def body(c):
        i, v = c
        w = lax.cond(i > 0, lambda v: v * 1.25, lambda v: v, v)
        return i + 1, w + fnp.sin(w) * 0.5
    return lax.while_loop(lambda c: c[1] < 2.0, body, (0, x))[1] ** 2


def test_debug_print_in_while_loop_under_jit_of_vmap_of_grad(capsys):
    g = fa.vmap(fa.grad(f_printing))
    xs = np.array([0.3, 1.1])
    eager, eager_lines = _run(capsys, g, xs)
    jitted, jit_lines = _run(capsys, fa.jit(g), xs)
    assert jit_lines == eager_lines
    # a batched loop runs until every element is done, printing for each element every
    # iteration (as JAX's batched while_loop)
    n = max(sum(ln.startswith("body") for ln in _forward_lines(x)) for x in xs)
    assert sum(ln.startswith("body") for ln in eager_lines) == 2 * n
    np.testing.assert_allclose(jitted, eager, rtol=1e-13)


def test_linear_and_pullback_programs_do_not_print(capsys):
    # linearize/vjp print while they run the primal loop; the linear function and the
    # pullback (the loop of the linear program, while_rev) print nothing, also under jit.
    for g in (f_printing, fa.jit(f_printing)):
        y, f_jvp = fa.linearize(g, 0.3)
        assert capsys.readouterr().out.splitlines() == _forward_lines(0.3)
        t = f_jvp(1.0)
        y2, pull = fa.vjp(g, 0.3)
        assert capsys.readouterr().out.splitlines() == _forward_lines(0.3)
        (ct,) = pull(1.0)
        assert capsys.readouterr().out == ""
        np.testing.assert_allclose(t, ct, rtol=1e-13)


def f_pure(x):
    """A while loop whose primal carry needs a pure_callback (a step scale from the
    counter), so while_rev's recomputation calls it too."""
    def body(c):
        i, v = c
        fa.debug.print("i={} v={}", i, v)
        s = fa.pure_callback(_scale, fa.ShapeDtypeStruct((), np.float64), i)
        return i + 1, fnp.sin(v) * s + v
    return lax.while_loop(lambda c: c[1] < 3.0, body, (0, x))[1]


def test_pure_callback_in_differentiated_while_loop_under_jit(capsys):
    for transform in (fa.grad, fa.hessian):
        g = transform(f_pure)
        eager, eager_lines = _run(capsys, g, 0.4)
        jitted, jit_lines = _run(capsys, fa.jit(g), 0.4)
        assert jit_lines == eager_lines
        np.testing.assert_allclose(jitted, eager, rtol=1e-13)
    # the driver runs while_rev as Python loops
    src = fa.jit(fa.grad(f_pure)).lower(0.4).source
    assert "call_callback" in src and ".append((" in src


def test_pure_callback_of_integers_has_zero_derivative():
    f = lambda x, n: x * fa.pure_callback(_scale, fa.ShapeDtypeStruct((), np.float64), n)
    assert fa.grad(f)(2.0, 3) == pytest.approx(1.3)
    assert fa.jvp(lambda x: f(x, 3), (2.0,), (1.0,))[1] == pytest.approx(1.3)
    with pytest.raises(TypeError, match="pure_callback has no derivative"):
        fa.grad(lambda x: fa.pure_callback(np.sin, fa.ShapeDtypeStruct((), np.float64), x))(
            1.0)


def test_callbacks_in_differentiated_while_loop_compiled(numba_on, capsys):
    for f in (f_printing, f_pure):
        g = fa.grad(f)
        eager, eager_lines = _run(capsys, g, 0.4)
        jitted, jit_lines = _run(capsys, fa.jit(g), 0.4)
        assert jit_lines == eager_lines
        np.testing.assert_allclose(jitted, eager, rtol=1e-13)


def test_while_loop_without_callbacks_keeps_its_native_reverse_loop():
    src = fa.jit(fa.grad(_quiet)).lower(0.3).source
    assert ".append((" not in src
