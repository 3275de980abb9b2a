"""Control flow: scan, fori_loop, while_loop, cond, switch under every transform."""

import re

import numpy as np
import pytest

import funcad as fa
import funcad.numpy as fnp
from funcad import lax
from funcad._ir import typecheck_jaxpr
from funcad.test_util import check_grads

RNG = np.random.default_rng(0)
X = np.array([0.3, -0.4])
W = np.array([[0.5, 1.0], [1.5, -0.3], [0.2, 0.1]])


def f_scan(x, w):
    def body(c, wi):
        c2 = fnp.tanh(c * wi) + c
        return c2, fnp.sum(c2 ** 2)
    c, ys = lax.scan(body, x, w)
    return fnp.sum(c) + fnp.sum(ys)


def f_scan_pytree(x, w):
    def body(c, inp):
        a, b = c["a"], c["b"]
        new = {"a": a * fnp.sin(inp["w"]) + b, "b": b * 0.9}
        return new, (a[0], fnp.cos(a))
    c, (y1, y2) = lax.scan(body, {"a": x, "b": 0.5 * x}, {"w": w}, reverse=True)
    return fnp.sum(c["a"] * c["b"]) + fnp.sum(y1) + fnp.sum(y2)


def f_fori(x):
    return lax.fori_loop(0, 3, lambda i, v: v * fnp.sin(v + i), x)


def f_fori_traced(x):
    n = (fnp.sum(x) * 0 + 3).astype(np.int64)
    return lax.fori_loop(0, n, lambda i, v: v * fnp.sin(v + i), x)


def f_while(x):
    def body(c):
        i, v = c
        return i + 1, fnp.sin(v) * 1.1 + v
    return lax.while_loop(lambda c: c[0] < 4, body, (0, x))[1]


def f_while_data(x):
    # The trip count depends on the data (not on the differentiated direction).
    return lax.while_loop(lambda v: fnp.sum(fnp.abs(v)) < 5.0, lambda v: v * 1.3 + 0.1, x)


def f_cond(x):
    return lax.cond(fnp.sum(x) > 0, lambda y: fnp.sin(y) * y, lambda y: fnp.cos(y), x)


def f_switch(x, i):
    return lax.switch(i, [lambda y: fnp.exp(y), lambda y: y ** 3, lambda y: fnp.sin(y) * y],
                      x)


@pytest.mark.parametrize("f,args", [
    (f_scan, (X, W)),
    (f_scan_pytree, (X, W)),
    (f_fori, (X,)),
    (f_fori_traced, (X,)),
    (f_while, (X,)),
    (f_while_data, (np.array([0.5, 0.7]),)),
    (f_cond, (X,)),
    (f_cond, (-X - 1.0,)),
    (lambda x: f_switch(x, 0), (X,)),
    (lambda x: f_switch(x, 1), (X,)),
    (lambda x: f_switch(x, 7), (X,)),
])
def test_check_grads_order2(f, args):
    check_grads(f, args, order=2, modes=("fwd", "rev"))


@pytest.mark.parametrize("f,args", [
    (f_scan_pytree, (X, W)),
    (f_fori_traced, (X,)),
    (f_while, (X,)),
    (f_while_data, (np.array([0.5, 0.7]),)),
    (lambda x: f_switch(x, 2), (X,)),
])
def test_check_grads_order2_under_jit_and_vmap(f, args):
    check_grads(fa.jit(f), args, order=2)
    check_grads(lambda *a: fa.jit(fa.vmap(f))(*[np.stack([x, 1.1 * x]) for x in a]), args,
                order=2)


def test_values_match_python_loops():
    c, ys = lax.scan(lambda c, x: (c + x, c * x), 0.0, np.arange(4.0))
    assert float(c) == 6.0 and ys.tolist() == [0.0, 0.0, 2.0, 9.0]
    c, ys = lax.scan(lambda c, x: (c + x, c), 0.0, np.arange(4.0), reverse=True)
    assert ys.tolist() == [6.0, 5.0, 3.0, 0.0]
    assert int(lax.while_loop(lambda x: x < 10, lambda x: x * 2, 1)) == 16
    assert float(lax.fori_loop(2, 5, lambda i, x: x + i, 0.0)) == 9.0
    assert float(lax.cond(True, lambda x: x + 1.0, lambda x: x - 1.0, 1.0)) == 2.0
    assert float(lax.switch(-3, [lambda x: x + 1, lambda x: x * 10], 2.0)) == 3.0
    _, ys = lax.scan(lambda c, _: (c + 1, c), 0, None, length=3)
    assert ys.tolist() == [0, 1, 2]


def test_vmap_matches_python_loop():
    xs = RNG.standard_normal((4, 2))
    for f in (lambda x: f_scan(x, W), f_scan_pytree_w, f_fori, f_cond, f_while):
        np.testing.assert_allclose(fa.vmap(f)(xs), np.stack([f(x) for x in xs]), rtol=1e-12)
    # A batched predicate: each element runs its own number of iterations.
    xs = np.abs(xs) + 0.1
    out = fa.vmap(f_while_data)(xs)
    np.testing.assert_allclose(out, np.stack([f_while_data(x) for x in xs]), rtol=1e-12)
    idx = np.array([0, 1, 2, 1])
    out = fa.vmap(f_switch)(xs, idx)
    np.testing.assert_allclose(out, np.stack([f_switch(x, i) for x, i in zip(xs, idx)]))


def f_scan_pytree_w(x):
    return f_scan_pytree(x, W)


def test_vmap_of_grad_and_grad_of_vmap():
    xs = np.abs(RNG.standard_normal((3, 2))) + 0.1
    for f in (lambda x: f_scan(x, W), lambda x: fnp.sum(f_while_data(x) ** 2),
              lambda x: fnp.sum(f_cond(x)), lambda x: fnp.sum(f_fori_traced(x))):
        ref = np.stack([fa.grad(f)(x) for x in xs])
        np.testing.assert_allclose(fa.vmap(fa.grad(f))(xs), ref, rtol=1e-10)
        np.testing.assert_allclose(fa.grad(lambda x: fnp.sum(fa.vmap(f)(x)))(xs), ref,
                                   rtol=1e-10)


def test_nested_scan_and_hessian():
    def inner(c, w):
        return lax.scan(lambda d, v: (fnp.sin(d * v) + d, None), c, w)[0]

    def outer(x):
        c, _ = lax.scan(lambda c, w: (inner(c, w), fnp.sum(c)), x, np.stack([W, W * 0.5]))
        return fnp.sum(c ** 2)

    check_grads(outer, (X,), order=2)
    h = fa.hessian(lambda x: f_scan(x, W))(X)
    np.testing.assert_allclose(h, h.T, atol=1e-10)
    np.testing.assert_allclose(h, fa.jacrev(fa.jacfwd(lambda x: f_scan(x, W)))(X), atol=1e-10)
    np.testing.assert_allclose(fa.hessian(lambda x: fnp.sum(f_while(x)))(X),
                               fa.jacfwd(fa.jacfwd(lambda x: fnp.sum(f_while(x))))(X),
                               atol=1e-10)


def test_jit_matches_eager():
    for f, args in [(f_scan, (X, W)), (f_scan_pytree, (X, W)), (f_fori, (X,)),
                    (f_fori_traced, (X,)), (f_while, (X,)), (f_while_data, (X + 1,)),
                    (f_cond, (X,)), (f_cond, (-X - 1,)), (lambda x: f_switch(x, 2), (X,))]:
        np.testing.assert_allclose(fa.jit(f)(*args), f(*args), rtol=1e-12)
    g = fa.grad(f_scan, (0, 1))
    for a, b in zip(fa.jit(g)(X, W), g(X, W)):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    for a, b in zip(fa.grad(fa.jit(f_scan), (0, 1))(X, W), g(X, W)):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    gc = fa.grad(lambda x: fnp.sum(f_cond(x)))
    np.testing.assert_allclose(fa.jit(gc)(X), gc(X), rtol=1e-12)


def test_jitted_scan_is_one_native_loop():
    def f(x, w):
        c, ys = lax.scan(lambda c, wi: (c + fnp.tanh(wi * c), fnp.sum(c)), x, w)
        return fnp.sum(c ** 2) + fnp.sum(ys)

    src = fa.jit(f).lower(X, np.arange(7.0)).source
    loops = re.findall(r"for k\d+ in range\(7\)", src)
    assert len(loops) == 1, src
    assert "objmode" not in src and "callback" not in src
    # The gradient: a forward loop and a reverse loop reading the residual stacks.
    src = fa.jit(fa.grad(f)).lower(X, np.arange(7.0)).source
    loops = re.findall(r"for k\d+ in range\(7\)", src)
    assert len(loops) == 2, src
    assert "6 - k" in src  # reversed index into the stacks
    assert "objmode" not in src


def test_make_jaxpr_shows_bodies():
    text = str(fa.make_jaxpr(lambda x: f_scan(x, W))(X))
    assert "scan[" in text and "jaxpr=" in text and "tanh" in text
    text = str(fa.make_jaxpr(f_cond)(X))
    assert "= cond " in text and "branches[0]=" in text and "branches[1]=" in text
    text = str(fa.make_jaxpr(f_while)(X))
    assert "cond_jaxpr=" in text and "body_jaxpr=" in text


def test_transformed_programs_typecheck():
    for f in (lambda x: f_scan(x, W), lambda x: fnp.sum(f_cond(x)),
              lambda x: fnp.sum(f_while(x))):
        typecheck_jaxpr(fa.make_jaxpr(fa.grad(f))(X).jaxpr)
        typecheck_jaxpr(fa.make_jaxpr(fa.vmap(fa.grad(f)))(np.stack([X, X])).jaxpr)


def test_while_reverse_mode_trip_count_recorded():
    # grad through a data-dependent loop (JAX refuses reverse mode here).
    def f(x):
        return lax.while_loop(lambda v: v < 100.0, lambda v: v * v + 1.0, x)

    x = 1.5  # 1.5 -> 3.25 -> 11.5625 -> 134.69...: three steps
    expected = 2 * 1.5 * 2 * 3.25 * 2 * 11.5625
    np.testing.assert_allclose(fa.grad(f)(x), expected)


def test_while_reverse_mode_under_jit_records_carries_natively():
    def f(a, x):
        def body(c):
            i, v = c
            return i + 1, fnp.sin(v) * a + v
        return fnp.sum(lax.while_loop(lambda c: c[1][0] < 3.0, body, (0, x))[1] ** 2)

    g = fa.grad(f, (0, 1))
    x = np.array([0.3, -0.4])
    ref = g(1.1, x)
    for got in (fa.jit(g)(1.1, x), fa.grad(fa.jit(f), (0, 1))(1.1, x)):
        for a, b in zip(got, ref):
            np.testing.assert_allclose(a, b, rtol=1e-12)
    src = fa.jit(g).lower(1.1, x).source
    assert "while True:" in src and "stack" in src and "range(n" in src
    assert "objmode" not in src
    # Second derivatives under jit: forward mode over the recorded reverse pass.
    h = fa.hessian(lambda x: f(1.1, x))
    np.testing.assert_allclose(fa.jit(h)(x), h(x), rtol=1e-10)
    ja = fa.jacfwd(fa.grad(f))
    np.testing.assert_allclose(fa.jit(ja)(1.1, x), ja(1.1, x), rtol=1e-10)
    xs = np.abs(RNG.standard_normal((3, 2))) * 0.5
    gv = fa.grad(lambda x: f(1.1, x))
    np.testing.assert_allclose(fa.jit(fa.vmap(gv))(xs), np.stack([gv(x) for x in xs]),
                               rtol=1e-12)


def test_reverse_over_reverse_while_under_jit():
    def f(x):
        return fnp.sum(lax.while_loop(lambda v: fnp.sum(v) < 5.0,
                                      lambda v: fnp.sin(v) * 1.3 + v + 0.1, x) ** 2)
    x = np.array([0.5, 0.6])
    h = fa.hessian(f)(x)
    np.testing.assert_allclose(fa.jit(fa.jacrev(fa.grad(f)))(x), h, rtol=1e-10)
    np.testing.assert_allclose(fa.jacrev(fa.grad(fa.jit(f)))(x), h, rtol=1e-10)
    check_grads(fa.jit(f_while), (X,), order=2, modes=("rev",))


def test_cond_double_where_safe_under_vmap():
    f = lambda x: lax.cond(x > 0, lambda y: fnp.sqrt(y), lambda y: 0.0 * y, x)  # noqa: E731
    g = fa.vmap(fa.grad(f))(np.array([0.0, 4.0, -1.0]))
    np.testing.assert_array_equal(g, [0.0, 0.25, 0.0])


def test_double_where():
    f = lambda x: fnp.where(x > 0, fnp.sqrt(x), 0.0)  # noqa: E731
    assert float(fa.grad(f)(0.0)) == 0.0
    assert float(fa.grad(f)(4.0)) == 0.25
    g = lambda x: fnp.sum(fnp.where(x > 0, fnp.log(x), x))  # noqa: E731
    x = np.array([0.0, 2.0, -1.0])
    np.testing.assert_array_equal(fa.grad(g)(x), [1.0, 0.5, 1.0])
    np.testing.assert_array_equal(fa.jit(fa.grad(g))(x), [1.0, 0.5, 1.0])
    h = lambda x, y: fnp.where(y != 0, x / y, 0.0)  # noqa: E731
    assert [float(v) for v in fa.grad(h, (0, 1))(1.0, 0.0)] == [0.0, 0.0]
    assert float(fa.hessian(f)(0.0)) == 0.0
    assert np.isinf(fa.grad(fnp.sqrt)(0.0))  # the taken branch keeps its true derivative


# -- bad input ------------------------------------------------------------------------


def test_carry_changing_shape_names_leaf_and_types():
    with pytest.raises(TypeError, match=r"carry\['b'\].*f64\[2\].*f64\[3\]"):
        lax.scan(lambda c, x: ({"a": c["a"], "b": fnp.zeros(3)}, x),
                 {"a": 1.0, "b": np.zeros(2)}, np.arange(3.0))
    # A strongly typed carry keeps its dtype (a Python number would be promoted, as in
    # JAX: see tests/test_composition.py).
    with pytest.raises(TypeError, match=r"carry\[1\].*i64\[\].*f64\[\]"):
        lax.while_loop(lambda c: c[0] < 3, lambda c: (c[0] + 1, c[1] * 0.5),
                       (0, np.int64(1)))
    with pytest.raises(TypeError, match="carry"):
        lax.fori_loop(0, 3, lambda i, x: fnp.stack([x, x]), np.ones(2))


def test_fori_loop_dtype_error_names_the_promotion():
    with pytest.raises(TypeError, match=r"fori_loop.*val.*f32\[2\].*f64\[2\].*astype"):
        lax.fori_loop(0, 3, lambda i, x: x + np.ones(2), np.ones(2, np.float32))
    # the integer index times a float32 carry is float32 (JAX's promotion), as in JAX
    out = lax.fori_loop(0, 3, lambda i, x: x * i + 1, np.ones(2, np.float32))
    assert out.dtype == np.float32


def test_map_and_linearize():
    np.testing.assert_array_equal(lax.map(lambda x: x * 2.0, np.arange(3.0)), [0.0, 2.0, 4.0])
    y, f_jvp = fa.linearize(lambda x: lax.while_loop(lambda v: v < 10, lambda v: v * 2.0, x),
                            1.5)
    assert float(y) == 12.0 and float(f_jvp(1.0)) == 8.0
    y, f_jvp = fa.linearize(lambda x: f_scan(x, W), X)
    np.testing.assert_allclose(f_jvp(np.ones(2)), fa.jvp(lambda x: f_scan(x, W), (X,),
                                                         (np.ones(2),))[1])


def test_cond_branches_with_different_structures_names_both():
    def yes(x):
        return x, x

    def no(x):
        return x
    with pytest.raises(TypeError, match="yes.*no|no.*yes"):
        lax.cond(True, yes, no, 1.0)
    with pytest.raises(TypeError, match="f64\\[2\\].*f64\\[\\]|f64\\[\\].*f64\\[2\\]"):
        lax.cond(True, lambda x: x, lambda x: fnp.stack([x, x]), 1.0)


def test_python_if_on_traced_value_names_lax_cond():
    def body(c, x):
        if c > 0:
            return c - x, None
        return c + x, None
    with pytest.raises(fa.ConcretizationTypeError, match="lax.cond"):
        lax.scan(body, 1.0, np.arange(3.0))


def test_scan_length_mismatch():
    with pytest.raises(ValueError, match="disagree"):
        lax.scan(lambda c, x: (c, None), 0.0, (np.ones(3), np.ones(4)))


@pytest.fixture
def numba_on(monkeypatch):
    """Compile with Numba in this test (conftest runs generated source as plain Python)."""
    monkeypatch.setenv("FUNCAD_DISABLE_JIT", "0")


def test_numba_compiles_loops_and_their_reverse_passes(numba_on):
    # One program exercising every control-flow lowering rule (Numba compiles are slow).
    @fa.custom_vjp
    def scaled(x):
        return 2.0 * x
    scaled.defvjp(lambda x: (2.0 * x, None), lambda _, g: (2.0 * g,))

    def f(a, x, w):
        c, ys = lax.scan(lambda c, wi: (c + fnp.tanh(wi * c * a), fnp.sum(c)), x, w,
                         checkpoint="nothing")
        c = lax.cond(fnp.sum(c) > 0, lambda y: fnp.sqrt(fnp.abs(y) + 1.0), lambda y: y * a, c)

        def body(s):
            i, v = s
            return i + 1, fnp.sin(v) * a + v
        _, v = lax.while_loop(lambda s: s[1][0] < 3.0, body, (0, scaled(c)))
        return fnp.sum(v ** 2) + fnp.sum(ys)

    x, w = np.array([0.3, -0.4]), np.array([0.5, 1.5, -0.2])
    g = fa.grad(f, (0, 1, 2))
    for a, b in zip(fa.jit(g)(0.9, x, w), g(0.9, x, w)):
        np.testing.assert_allclose(a, b, rtol=1e-10)


def test_callbacks_inside_compiled_loops(numba_on, capsys):
    # debug.print, debug.callback and pure_callback in fori_loop/scan/while_loop bodies
    # (and a cond inside one) under real compilation: the loop runs in the Python driver.
    def fori_body(i, c):
        fa.debug.print("i={i} c={c}", i=i, c=c)
        y = fa.pure_callback(lambda v: np.asarray(v * 2.0).T,
                             fa.ShapeDtypeStruct((2,), np.float64), c)
        lax.cond(i % 2 == 0, lambda: fa.debug.print("even {}", i), lambda: None)
        return fnp.tanh(y) + 1.0

    f = fa.jit(lambda x: lax.fori_loop(0, 3, fori_body, x))
    c, want = np.array([0.5, -1.0]), []
    for i in range(3):
        want.append(f"i={i} c={c}")
        if i % 2 == 0:
            want.append(f"even {i}")
        c = np.tanh(2.0 * c) + 1.0
    np.testing.assert_allclose(f(np.array([0.5, -1.0])), c, rtol=1e-14)
    assert capsys.readouterr().out.splitlines() == want

    def scan_body(c, x):
        fa.debug.callback(lambda a, b: print("scan", a, b), c, x)
        return c + x, c * x
    c, ys = fa.jit(lambda xs: lax.scan(scan_body, 0.0, xs))(np.arange(3.0))
    assert c == 3.0
    np.testing.assert_array_equal(ys, [0.0, 0.0, 2.0])
    assert capsys.readouterr().out == "scan 0.0 0.0\nscan 0.0 1.0\nscan 1.0 2.0\n"

    def while_body(s):
        i, v = s
        fa.debug.print("w {} {}", i, v)
        return i + 1, v * fa.pure_callback(lambda t: t + 1.0,
                                           fa.ShapeDtypeStruct((), np.float64), v)
    n, v = fa.jit(lambda: lax.while_loop(lambda s: s[0] < 3, while_body, (0, 1.0)))()
    assert (n, v) == (3, 42.0)
    assert capsys.readouterr().out == "w 0 1.0\nw 1 2.0\nw 2 6.0\n"
    # a loop without callbacks is still one native loop
    src = fa.jit(lambda xs: lax.scan(lambda c, x: (c + x, c * x), 0.0, xs)).lower(
        np.arange(3.0)).source
    assert "callback" not in src


def test_large_loop_bodies_run_from_the_driver(monkeypatch):
    # A while loop whose native loop would be a kernel of thousands of lines (a rejection
    # sampler: threefry and erfinv written out per element) ran through Numba in 1.5-2.5
    # minutes; the driver runs it instead, its body's loop nests are small kernels.
    import funcad.random as jr
    from funcad.lowering.numba.codegen import DRIVER_LOOP_LINES
    monkeypatch.setenv("FUNCAD_DISABLE_JIT", "0")    # lower as for real compilation
    monkeypatch.setenv("FUNCAD_DRIVER", "auto")
    f = fa.jit(lambda k: jr.gamma(k, 2.0, (3,)))
    src = f.lower(jr.PRNGKey(0)).source
    driver, _, kernels = src.partition("# ---- kernels")
    assert re.search(r"^    while True:$", driver, re.M), driver[:3000]
    bodies = re.split(r"\n# __k\d+: ", kernels)[1:]
    assert len(bodies) > 10
    for b in bodies:
        assert len(b.splitlines()) < DRIVER_LOOP_LINES, b[:500]
    # every kernel is in the LLVM kernel compiler's subset (none falls back to Numba)
    llvm = pytest.importorskip("funcad.lowering.llvm")
    from funcad.lowering.numba import compile as fc
    seen = []
    real = fc.kernel_callable

    def record(kernel, types, *rest):
        seen.append((kernel, types))
        return real(kernel, types, *rest)

    monkeypatch.setattr(fc, "kernel_callable", record)
    monkeypatch.setenv("FUNCAD_DISABLE_JIT", "1")
    g = fa.jit(lambda k: jr.gamma(k, 2.375, (3,)))     # a program not built before
    np.testing.assert_array_equal(g(jr.PRNGKey(0)), jr.gamma(jr.PRNGKey(0), 2.375, (3,)))
    assert len(seen) > 10
    for kernel, types in {k.key: (k, t) for k, t in seen}.values():
        arg_types = [llvm.ArrayArg(np.dtype(t[1]), t[2]) if t[0] == "a"
                     else llvm.ScalarArg(np.dtype(t[1])) for t in types]
        llvm.kernel_compiler.generate_ir(kernel.source(), kernel.name, arg_types)
