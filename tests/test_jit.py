"""jit through the Numba backend: results equal eager evaluation, compositions, options.

Numba compiles cost about a second per program on CI machines, so the checks here share
programs: the function table of tests/test_numpy_functions.py is compiled in a few large
programs (value, vjp, jvp and vmap of many rows each) instead of one program per row.
Elsewhere in the suite jit runs the same generated source as plain Python (conftest.py).
"""

from __future__ import annotations

import numpy as np
import pytest

import funcad as fa
import funcad.numpy as fnp
from funcad.lowering.numba import stats

# pytest puts tests/ on sys.path (rootdir-relative "prepend" import mode, no __init__.py).
from test_numpy_functions import ROWS, _assert_tree_close, _everything  # noqa: E402


@pytest.fixture
def numba_on(monkeypatch):
    """Compile with Numba in this test (conftest disables it by default)."""
    monkeypatch.setenv("FUNCAD_DISABLE_JIT", "0")


def _close(a, b, rtol=1e-9, atol=1e-12):
    for x, y in zip(fa.tree_util.tree_leaves(a), fa.tree_util.tree_leaves(b), strict=True):
        x, y = np.asarray(x), np.asarray(y)
        assert x.shape == y.shape and x.dtype == y.dtype, (x.shape, x.dtype, y.shape, y.dtype)
        np.testing.assert_allclose(x, y, rtol=rtol, atol=atol)


# -- the function table, a few rows per compiled program ---------------------------------

def _table_programs(n_chunks: int):
    cases = []
    # Numba compile time grows faster than program size: a sample of rows, a few per
    # program (every row runs the generated source in test_numpy_functions.py).
    for r in [r for r in ROWS if r.jit][::_STRIDE]:
        shapes = max(r.shapes, key=lambda s: sum(len(x) for x in s))
        args = r.args(shapes)
        try:
            program, pargs = _everything(r, args, np.random.default_rng(1))
            eager = program(*pargs)
        except Exception:
            continue  # rows that fail eagerly belong to test_numpy_functions.py
        cases.append((r.name, program, pargs, eager))
    return [cases[i::n_chunks] for i in range(n_chunks)]


_STRIDE = 20
_CHUNKS = 5


@pytest.mark.parametrize("chunk", range(_CHUNKS))
def test_table_jit_equals_eager(numba_on, chunk):
    cases = _table_programs(_CHUNKS)[chunk]
    names = [c[0] for c in cases]

    def many(all_args):
        return [program(*pargs) for (_, program, _, _), pargs in zip(cases, all_args)]

    out = fa.jit(many)([c[2] for c in cases])
    for name, got, (_, _, _, eager) in zip(names, out, cases):
        _assert_tree_close(got, eager, 1e-9, 1e-12, f"{name} jit")


# -- compositions under jit ------------------------------------------------------------------

def _f(x):
    return fnp.sum(fnp.exp(fnp.sin(x) * x) + fnp.cos(x) ** 2)


def _rosen(x):
    return fnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def _logreg(w, x, y):
    z = fnp.dot(x, w)
    return fnp.log1p(fnp.exp(-y * z))


def test_compositions(numba_on):
    rng = np.random.default_rng(0)
    x = rng.normal(size=7)
    w, X, Y = rng.normal(size=4), rng.normal(size=(5, 4)), np.sign(rng.normal(size=5))

    def all_of_them(x, w, X, Y):
        return {
            "grad": fa.grad(_f)(x),
            "hessian": fa.hessian(_rosen)(x),
            "per_example": fa.vmap(fa.grad(_logreg), in_axes=(None, 0, 0))(w, X, Y),
            "grad_vmap": fa.grad(lambda w: fnp.sum(fa.vmap(_logreg, (None, 0, 0))(w, X, Y)))(w),
        }
    eager = all_of_them(x, w, X, Y)
    got = fa.jit(all_of_them)(x, w, X, Y)
    _close(got, eager)
    _close(got["hessian"], got["hessian"].T)
    _close(got["grad_vmap"], np.sum(got["per_example"], axis=0))


def test_grad_of_jit_and_vmap_of_jit(numba_on):
    rng = np.random.default_rng(1)
    x = rng.normal(size=6)
    jf = fa.jit(_f)
    _close(fa.grad(jf)(x), fa.grad(_f)(x))
    xs = rng.normal(size=(3, 6))
    _close(fa.vmap(jf)(xs), np.array([_f(r) for r in xs]))
    _close(fa.jit(fa.vmap(fa.grad(_f)))(xs), fa.vmap(fa.grad(_f))(xs))


def test_float32_stays_float32(numba_on):
    x = np.linspace(0.1, 1.0, 5, dtype=np.float32)
    g = fa.jit(fa.grad(lambda x: fnp.sum(fnp.sin(x) * 2.5 + x ** 3 + 1.0 / x)))(x)
    assert g.dtype == np.float32
    _close(g, fa.grad(lambda x: fnp.sum(fnp.sin(x) * 2.5 + x ** 3 + 1.0 / x))(x), rtol=1e-5)
    src = fa.jit(lambda x: x * 2.5).lower(x).source
    assert "np.float32(2.5)" in src


def test_fast_path_does_not_retrace_or_recompile(numba_on):
    f = fa.jit(lambda x, y: fnp.sin(x) * y)
    x = np.arange(4.0)
    f(x, x)
    lowered = stats["lowered"]
    for _ in range(3):
        _close(f(x, x), np.sin(x) * x)
    assert stats["lowered"] == lowered
    assert len(f._fast) == 1


def test_layouts_and_scalars_are_normalised(numba_on):
    f = fa.jit(lambda x, s: fnp.sum(x * s, axis=0))
    a = np.arange(12.0).reshape(3, 4)
    _close(f(a, 2.0), np.sum(a * 2.0, axis=0))
    _close(f(np.asfortranarray(a), np.float64(2.0)), np.sum(a * 2.0, axis=0))
    ro = a.copy()
    ro.flags.writeable = False
    _close(f(ro, 2.0), np.sum(a * 2.0, axis=0))
    _close(f(a[:, ::-1].copy()[:, ::-1], 2.0), np.sum(a * 2.0, axis=0))


def test_one_output_fast_path_normalises_layouts(numba_on):
    # The driver's one-output entry point (codegen._single_entry) runs the kernel on the
    # argument as it comes; a strided or read-only array of the same shape and dtype makes
    # the kernel refuse it, and the call goes to the general path.
    f = fa.jit(fa.grad(lambda x: fnp.sum(fnp.sin(x) * x)))
    x = np.linspace(-1.0, 1.0, 16)
    want = np.cos(x) * x + np.sin(x)
    strided = np.linspace(-1.0, 1.0, 32)[::2]          # (16,), as x, but every other
    want_strided = np.cos(strided) * strided + np.sin(strided)
    for arg, ref in [(x, want), (x, want), (strided, want_strided), (x[::-1], want[::-1]),
                     (fa.device_put(x), want), (x, want)]:
        out = f(arg)
        _close(out, ref)
        assert isinstance(out, fa.Array) and not out.flags.writeable
    ro = x.copy()
    ro.flags.writeable = False
    _close(f(ro), want)
    assert "_single(args)" in f.lower(x).source


def test_outputs_do_not_alias_inputs(numba_on):
    x = np.arange(6.0)
    out = fa.jit(lambda x: (x, x.reshape(2, 3)))(x)
    # Outputs are immutable Arrays: nothing can write through them, and writing into the
    # input afterwards must not change them either.
    assert not any(np.shares_memory(o, x) for o in out)
    x[0] = 100.0
    x[1] = 100.0
    assert out[0][0] == 0.0 and out[1][0, 1] == 1.0
    # The same for Array inputs (which reach compiled code as views of their memory).
    a = fa.device_put(np.arange(6.0))
    out = fa.jit(lambda x: (x, x.reshape(2, 3)))(a)
    assert not any(np.shares_memory(o, a) for o in out)


def test_options_parallel_and_fastmath(numba_on):
    x = np.linspace(-1, 1, 50).reshape(5, 10)

    def f(x):
        return fnp.sum(fnp.tanh(x) * x, axis=1) + fnp.sum(x ** 2)
    ref = f(x)
    _close(fa.jit(f, parallel=True)(x), ref)
    _close(fa.jit(f, fastmath=True)(x), ref, rtol=1e-12)
    assert "prange" in fa.jit(f, parallel=True).lower(x).source
    # fastmath never assumes NaN/Inf away
    y = np.array([np.nan, np.inf, 1.0])
    out = fa.jit(lambda y: fnp.isnan(y) | fnp.isinf(y) if hasattr(fnp, "isinf") else
                 fnp.isnan(y), fastmath=True)(y)
    assert bool(out[0])


def test_lower_shows_jaxpr_and_source(numba_on):
    lowered = fa.jit(fa.grad(lambda x: fnp.sum(fnp.sin(x) * x))).lower(np.ones(8))
    text = str(lowered)
    assert "sin" in text and "# jaxpr" in text
    src = lowered.source
    assert "def fa_" in src and "# c:f64[8] = sin a" in src or "= sin" in src
    # sin is written out without libm (funcad/lowering/numba/vecmath.py)
    assert "_rt.TWO_OVER_PI[" in src and "np.sin(" not in src and "for " in src
    assert "<pre" in lowered._repr_html_()


def test_big_constants_are_arguments(numba_on):
    c = np.arange(5000.0)
    f = fa.jit(lambda x: fnp.sum(x * c))
    _close(f(np.ones(5000)), np.sum(c))
    assert "5000" not in f.lower(np.ones(5000)).source.split("def ")[1].split(")")[0]


def test_disable_jit_runs_the_same_source(monkeypatch):
    monkeypatch.setenv("FUNCAD_DISABLE_JIT", "1")
    x = np.arange(5.0)
    f = fa.jit(lambda x: fnp.cumsum(x) * 2)
    _close(f(x), np.cumsum(x) * 2)
    from funcad.lowering.numba import compile_log
    assert compile_log()[-1].startswith("python ")


def test_static_args_must_be_hashable():
    f = fa.jit(lambda x, opts: x * len(opts), static_argnums=1)
    with pytest.raises(TypeError, match="hashable"):
        f(np.ones(2), [1, 2])
    _close(f(np.ones(2), (1, 2)), np.full(2, 2.0))


def test_missing_rule_names_primitive_and_function(numba_on):
    from funcad._core import lowering_rules
    from funcad.lowering.numba.codegen import LoweringError
    from funcad.primitives.elementwise import sin_p
    saved = lowering_rules.pop(sin_p)
    try:
        def my_function(x):
            return fnp.sin(x) * 3.0
        with pytest.raises(LoweringError, match="sin.*|.*my_function"):
            fa.jit(my_function)(np.ones(3))
        try:
            fa.jit(my_function)(np.ones(3))
        except LoweringError as e:
            assert "'sin'" in str(e) and "my_function" in str(e)
    finally:
        lowering_rules[sin_p] = saved


def test_numba_typing_error_is_wrapped(numba_on):
    from funcad._core import lowering_rules
    from funcad.lowering.numba.compile import NumbaCompileError
    from funcad.primitives.elementwise import cos_p
    saved = lowering_rules[cos_p]
    lowering_rules[cos_p] = "np.no_such_function({0})"
    try:
        with pytest.raises(NumbaCompileError) as info:
            fa.jit(lambda x: fnp.cos(x) + 1.0)(np.ones(3))
        msg = str(info.value)
        assert "cos" in msg and "np.no_such_function" in msg and "generated line" in msg
    finally:
        lowering_rules[cos_p] = saved


def test_parallel_reductions_with_unit_leading_dim(numba_on):
    x = np.linspace(-1, 1, 24).reshape(1, 4, 6)

    def f(x):
        return fnp.sum(fnp.sin(x), axis=1), fnp.sum(x * x)
    _close(fa.jit(f, parallel=True)(x), f(x))


def _softmax_xent(x, y):
    m = fnp.max(x, axis=1, keepdims=True)
    lse = fnp.log(fnp.sum(fnp.exp(x - m), axis=1, keepdims=True)) + m
    return -fnp.mean(fnp.sum(y * (x - lse), axis=1))


@pytest.mark.parametrize("parallel", [False, True])
def test_row_reductions_share_one_outer_loop(numba_on, parallel, monkeypatch):
    # The fusion mechanism, without the size cap that cuts long loop nests into kernels.
    from funcad.lowering.numba import codegen
    monkeypatch.setattr(codegen, "_GROUP_CAP", 10 ** 6)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(7, 5)), rng.normal(size=(7, 5))
    vg = fa.value_and_grad(_softmax_xent)
    _close(fa.jit(vg, parallel=parallel)(x, y), vg(x, y))
    g = fa.jit(fa.grad(_softmax_xent), parallel=parallel)
    _close(g(x, y), fa.grad(_softmax_xent)(x, y))
    # Row max, sum of exps and the backward pass: one outer loop over the 7 rows.
    src = g.lower(x, y).source     # the driver and its kernels
    assert src.count("range(7)") == 1 and "rt.reshape" not in src

    def h(z):   # partial reductions of a 3-d value read back in later inner loops
        s = fnp.sum(z, axis=2, keepdims=True)
        t = fnp.max(z - s, axis=(1, 2))
        return (z - s) * t[:, None, None], fnp.sum(z * s, axis=0)
    z = rng.normal(size=(3, 4, 6))
    _close(fa.jit(h, parallel=parallel)(z), h(z))


def test_tanh_is_accurate_and_exact_on_edge_values(numba_on):
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(size=20000) * s for s in (1e-9, 1e-2, 0.3, 1, 5, 30)]
                       + [np.array([0.625, -0.625, np.nextafter(0.625, 1), 19.1, 5e-324])])
    got, ref = fa.jit(fnp.tanh)(x), np.tanh(x)
    assert np.max(np.abs(got - ref) / np.spacing(np.abs(ref))) <= 3
    edge = np.array([0.0, -0.0, np.inf, -np.inf, np.nan])
    got = fa.jit(fnp.tanh)(edge)
    np.testing.assert_array_equal(got, np.tanh(edge))
    assert list(np.signbit(got[:2])) == [False, True]
    x32 = x.astype(np.float32)
    got32 = fa.jit(fnp.tanh)(x32)
    assert got32.dtype == np.float32
    np.testing.assert_allclose(got32, np.tanh(x32), rtol=3e-7, atol=0)


def test_row_reductions_inside_scan_bodies(numba_on):
    from funcad import lax

    def f(x, w):
        def body(c, _):
            z = c @ w
            e = fnp.exp(z - fnp.max(z, axis=-1, keepdims=True))
            c = e / fnp.sum(e, axis=-1, keepdims=True) * fnp.sum(c, axis=1, keepdims=True)
            return c, fnp.max(c, axis=0)
        c, ys = lax.scan(body, x, None, length=3)
        return fnp.sum(c ** 2) + fnp.sum(ys)
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(4, 5)), rng.normal(size=(5, 5))
    g = fa.grad(f, argnums=(0, 1))
    _close(fa.jit(g)(x, w), g(x, w))
    vg = fa.vmap(fa.grad(f), in_axes=(0, None))
    xs = np.stack([x, x + 1])
    _close(fa.jit(vg, parallel=True)(xs, w), vg(xs, w))
