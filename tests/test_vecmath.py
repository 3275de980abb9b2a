"""The libm-free transcendental functions of funcad/lowering/numba/vecmath.py (exp,
expm1, log, log1p, sin, cos, tanh, pow): accuracy sweeps against long double NumPy
(float64) and float64 NumPy (float32), exact special values, and that the loops over
them vectorise (no libm call left in the kernel)."""

from __future__ import annotations

import re

import numpy as np
import pytest

import funcad as fa
import funcad.numpy as fnp

NAMES = ("exp", "expm1", "log", "log1p", "sin", "cos", "tanh")
MAX_ULP = 2.0
EXTENDED = np.finfo(np.longdouble).nmant >= 63


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("funcad-vecmath-cache"))


@pytest.fixture(params=["python", "numba"])
def compiled(request, monkeypatch, cache_dir):
    """Real compilation: LLVM kernels under a Python driver, or one Numba function."""
    monkeypatch.setenv("FUNCAD_DISABLE_JIT", "0")
    monkeypatch.setenv("FUNCAD_COMPILE", "sync")
    monkeypatch.setenv("FUNCAD_CACHE_DIR", cache_dir)
    monkeypatch.setenv("FUNCAD_DRIVER", request.param)
    return request.param


def _all(x):
    return tuple(getattr(fnp, n)(x) for n in NAMES)


def _specials(dt):
    fi = np.finfo(dt)
    tiny, sub = float(fi.tiny), float(fi.smallest_subnormal)
    vals = [0.0, np.inf, np.nan, 1.0, sub, 2 * sub, tiny, tiny * (1 - 2 ** -10), float(fi.max),
            2.0 ** -27, 2.0 ** -54, 2.0 ** -20, np.pi / 2, np.pi, 1e300, 1e22, 1e6, 1.6e6,
            0.625, 19.1, 20.0, 0.5 * np.log(2), 1.0 - 2.0 ** -53]
    if dt == np.float64:
        # exp: largest finite result, first overflow, smallest subnormal, first 0; expm1 -> -1.
        vals += [709.782712893384, 709.7827128933841, 708.39641853226408, -708.39641853226408,
                 -745.1332191019411, -745.1332191019412, -744.44007192138127, -37.42994775023705,
                 -38.0, 6381956970095103 * 2.0 ** 797]
    else:
        vals += [88.72283, 88.72284, 87.33654, -87.33654, -103.27893, -103.97208, -103.97209,
                 -16.635532, -17.0]
    x = np.array(vals, np.float64)
    x = x[np.abs(x) <= fi.max].astype(dt)
    return np.concatenate([x, -x, np.nextafter(x, dt(np.inf)), np.nextafter(x, dt(-np.inf))])


def _sweep(dt, n_log, n_uniform, seed=0):
    """Log-spaced over the whole range (both signs), uniform over the usual one, near
    multiples of pi/2 (small and huge), near the overflow/underflow thresholds, specials."""
    rng = np.random.default_rng(seed)
    fi = np.finfo(dt)
    logs = np.exp(rng.uniform(np.log(float(fi.smallest_subnormal)), np.log(float(fi.max)),
                              n_log))
    uni = np.concatenate([rng.uniform(-10, 10, n_uniform), rng.uniform(-1, 1, n_uniform // 4),
                          rng.uniform(-800, 800, n_uniform // 4)])
    k = np.concatenate([np.arange(1, 2000), np.unique(rng.integers(1, 2 ** 62, 2000)),
                        2.0 ** np.arange(20, 1000, 7) * rng.uniform(1, 2, 140)])
    near = (k * (np.pi / 2)).astype(np.float64)
    edges = np.concatenate([rng.uniform(-746, -700, 2000), rng.uniform(700, 710, 2000),
                            rng.uniform(-104, -80, 2000), rng.uniform(80, 89, 2000),
                            rng.uniform(-1.5, 0, 2000), 1 + rng.uniform(-1e-6, 1e-6, 2000)])
    x = np.concatenate([logs, -logs, uni, near, -near, edges]).astype(np.float64)
    x = x[np.isfinite(x.astype(dt))].astype(dt)
    x = np.concatenate([x, np.nextafter(x[-n_uniform:], dt(np.inf)), _specials(dt)])
    return x


def _reference(name, x):
    with np.errstate(all="ignore"):
        if x.dtype == np.float64:
            return getattr(np, name)(x.astype(np.longdouble if EXTENDED else np.float64))
        return getattr(np, name)(x.astype(np.float64))


def _ulps(y, ref, dt):
    """|y - ref| in ulps of the exact result rounded to dt (0 where both are the same
    infinity or both NaN)."""
    rounded = ref.astype(dt)
    same = (np.isnan(y) & np.isnan(rounded)) | (np.isinf(rounded) & (y == rounded))
    with np.errstate(all="ignore"):
        err = np.abs(y.astype(ref.dtype) - ref) / np.spacing(np.abs(rounded)).astype(ref.dtype)
    err = np.where(same, 0.0, err).astype(np.float64)
    return np.where(np.isnan(err), np.inf, err)


def _check(name, x, y, ref, dt):
    assert y.dtype == dt, (name, y.dtype)
    err = _ulps(y, ref, dt)
    i = int(np.argmax(err))
    assert err[i] <= MAX_ULP, (
        f"{name} {np.dtype(dt).name}: {err[i]:.3f} ulp at x={x[i]!r}: {y[i]!r} vs {ref[i]!r}")
    return float(err[i])


def _check_specials(name, x, y, dt):
    """Bit-exact classification against NumPy: NaN, infinities, signed zeros."""
    with np.errstate(all="ignore"):
        want = getattr(np, name)(x)
    assert want.dtype == dt
    for a, b, v in zip(y, want, x):
        if np.isnan(b) or np.isinf(b) or b == 0:
            assert (np.isnan(a) and np.isnan(b)) or (a == b and np.signbit(a) == np.signbit(b)), \
                f"{name}({v!r}) = {a!r}, NumPy says {b!r}"


@pytest.mark.parametrize("dt", [np.float64, np.float32])
def test_accuracy_sweep(compiled, dt):
    x = _sweep(dt, 200_000, 100_000)
    outs = fa.jit(_all)(x)
    worst = {}
    for name, y in zip(NAMES, outs):
        y = np.asarray(y)
        worst[name] = _check(name, x, y, _reference(name, x), dt)
        if not EXTENDED and dt == np.float64:
            continue
        sp = _specials(dt)
        idx = np.isin(x, sp)
        _check_specials(name, x[idx], y[idx], dt)
    print(f"max ulp ({np.dtype(dt).name}, {compiled}):", worst)


@pytest.mark.slow
@pytest.mark.parametrize("dt", [np.float64, np.float32])
def test_accuracy_dense_sweep(compiled, dt):
    for seed in range(3):
        x = _sweep(dt, 1_000_000, 500_000, seed=seed + 1)
        for name, y in zip(NAMES, fa.jit(_all)(x)):
            _check(name, x, np.asarray(y), _reference(name, x), dt)


@pytest.mark.parametrize("dt", [np.float64, np.float32])
def test_within_two_ulp_of_numpy(compiled, dt):
    """Against NumPy's own float results (not only the exact ones), where NumPy's result
    is within 1 ulp (NumPy's cos(6381956970095103 * 2**797) is 8 ulp off, ours 0.05)."""
    x = _sweep(dt, 50_000, 50_000, seed=7)
    for name, y in zip(NAMES, fa.jit(_all)(x)):
        with np.errstate(all="ignore"):
            want = getattr(np, name)(x)
        y = np.asarray(y)
        numpy_ok = _ulps(want, _reference(name, x), dt) <= 1
        ok = (np.isnan(y) & np.isnan(want)) | (y == want) | ~numpy_ok
        with np.errstate(all="ignore"):
            d = np.where(ok, 0, np.abs(y.astype(np.float64) - want) / np.spacing(np.abs(want)))
        i = int(np.argmax(d))
        assert d[i] <= MAX_ULP, f"{name}: {d[i]} ulp from NumPy at {x[i]!r}"


@pytest.fixture
def vecmath_as_python(monkeypatch):
    """Lower with vecmath's source although FUNCAD_DISABLE_JIT=1 runs it as Python (that
    mode normally writes NumPy's functions instead, for speed)."""
    from funcad.lowering.numba import codegen
    monkeypatch.setattr(codegen, "interpreted", lambda: False)


def test_interpreted_mode_calls_numpy():
    x = np.linspace(-3.0, 3.0, 7)
    src = fa.jit(_all).lower(x).source
    assert "np.sin(" in src and "np.exp(" in src
    for name, y in zip(NAMES, fa.jit(_all)(x)):
        np.testing.assert_array_equal(np.asarray(y), getattr(np, name)(x))


def test_specials_interpreted(vecmath_as_python):
    """The same source run as plain Python on NumPy scalars (what a Python driver does
    with rank-0 values): special values exact, no Python exception (division by zero...)."""
    for dt in (np.float64, np.float32):
        x = np.concatenate([_specials(dt), np.linspace(-30, 30, 61).astype(dt)])
        for name, y in zip(NAMES, fa.jit(_all)(x)):
            y = np.asarray(y)
            _check_specials(name, x, y, dt)
            _check(name, x, y, _reference(name, x), dt)


@pytest.mark.parametrize("driver", ["python", "numba"])
def test_rank0_and_python_floats(monkeypatch, cache_dir, driver):
    """Rank-0 arguments: NumPy scalars and plain Python floats, in the driver or compiled."""
    monkeypatch.setenv("FUNCAD_DISABLE_JIT", "0")
    monkeypatch.setenv("FUNCAD_COMPILE", "sync")
    monkeypatch.setenv("FUNCAD_CACHE_DIR", cache_dir)
    monkeypatch.setenv("FUNCAD_DRIVER", driver)
    for v in (0.5, -0.0, 1e300, 3.0, np.float32(2.5), np.float64(-700.0)):
        got = fa.jit(_all)(v)
        for name, y in zip(NAMES, got):
            want = getattr(np, name)(np.asarray(v))
            assert np.asarray(y).dtype == want.dtype
            np.testing.assert_allclose(np.asarray(y), want, rtol=4 * np.finfo(want.dtype).eps,
                                       atol=0, err_msg=f"{name}({v!r})")


def test_sin_cos_share_their_reduction(monkeypatch, vecmath_as_python):
    monkeypatch.setenv("FUNCAD_DRIVER", "numba")
    src = fa.jit(lambda x: fnp.sin(x) * fnp.cos(x)).lower(np.ones(8)).source
    assert src.count("_rt.TWO_OVER_PI[") == 4      # one reduction: 4 table reads
    grad = fa.jit(fa.grad(lambda x: fnp.sum(fnp.exp(fnp.sin(x) * x) + fnp.cos(x) ** 2)))
    assert grad.lower(np.ones(8)).source.count("_rt.TWO_OVER_PI[") == 4


def test_integer_and_complex_inputs_keep_their_lowering():
    x = np.arange(1, 5)
    np.testing.assert_allclose(fa.jit(fnp.exp)(x), np.exp(x), rtol=1e-15)
    np.testing.assert_allclose(fa.jit(fnp.sin)(x.astype(np.float32)), np.sin(np.float32(x)),
                               rtol=1e-6)


# -- pow (float ** float) -------------------------------------------------------------------

def _pow_sweep(dt, n, seed=0):
    rng = np.random.default_rng(seed)
    fi = np.finfo(dt)
    big = 1 if dt == np.float64 else 8
    x = np.concatenate([np.exp(rng.uniform(np.log(float(fi.smallest_subnormal)),
                                           np.log(float(fi.max)), n)),
                        rng.uniform(0, 3, n), 1 + rng.uniform(-1e-3, 1e-3, n)])
    y = np.concatenate([rng.uniform(-5, 5, n), rng.uniform(-800, 800, n) / big,
                        rng.uniform(-1e5, 1e5, n)])
    neg = np.round(rng.uniform(-60, 60, n // 10))                 # negative x, integer y
    x = np.concatenate([x, -x[:n // 10]]).astype(dt)
    y = np.concatenate([y, neg]).astype(dt)
    sp = _pow_specials(dt)
    gx, gy = np.meshgrid(sp, sp)
    return np.concatenate([x, gx.ravel()]), np.concatenate([y, gy.ravel()])


def _pow_specials(dt):
    v = [0.0, 1.0, 2.0, 0.5, 3.0, 2.5, np.inf, np.nan, 1e-300, 1e300, 5e-324, 1 - 2 ** -53,
         1 + 2 ** -52, 1024.0, 1075.0]
    x = np.array(v)
    x = x[np.abs(x) <= np.finfo(dt).max]
    return np.concatenate([x, -x]).astype(dt)


def _pow_reference(x, y):
    with np.errstate(all="ignore"):
        if x.dtype == np.float64:
            t = np.longdouble if EXTENDED else np.float64
            return np.power(x.astype(t), y.astype(t))
        return np.power(x.astype(np.float64), y.astype(np.float64))


@pytest.mark.parametrize("dt", [np.float64, np.float32])
def test_pow_accuracy_and_specials(compiled, dt):
    x, y = _pow_sweep(dt, 100_000)
    z = np.asarray(fa.jit(lambda a, b: a ** b)(x, y))
    assert z.dtype == dt
    err = _ulps(z, _pow_reference(x, y), dt)
    i = int(np.argmax(err))
    assert err[i] <= MAX_ULP, f"pow({x[i]!r}, {y[i]!r}) = {z[i]!r}: {err[i]:.3f} ulp"
    with np.errstate(all="ignore"):
        want = np.power(x, y)
    special = np.isnan(want) | np.isinf(want) | (want == 0)
    same = (np.isnan(z) & np.isnan(want)) | ((z == want) & (np.signbit(z) == np.signbit(want)))
    bad = np.flatnonzero(special & ~same)
    assert not bad.size, [(x[k], y[k], z[k], want[k]) for k in bad[:5]]
    print(f"pow max ulp ({np.dtype(dt).name}, {compiled}): {err[i]:.3f}")


def test_pow_interpreted(vecmath_as_python):
    for dt in (np.float64, np.float32):
        sp = _pow_specials(dt)
        gx, gy = np.meshgrid(sp, sp)
        x, y = gx.ravel(), gy.ravel()
        z = np.asarray(fa.jit(lambda a, b: a ** b)(x, y))
        with np.errstate(all="ignore"):
            want = np.power(x, y)
        same = (np.isnan(z) & np.isnan(want)) | ((z == want) & (np.signbit(z) == np.signbit(want)))
        err = _ulps(z, _pow_reference(x, y), dt)
        assert np.all(same | (err <= MAX_ULP)), [(a, b, c, d) for a, b, c, d, ok in
                                                 zip(x, y, z, want, same) if not ok][:5]


# -- vectorisation -------------------------------------------------------------------------

_LIBM = re.compile(r"@(llvm\.)?(exp|expm1|log|log1p|sin|cos|tanh|pow)f?(\.[fv]\w*)?\(")


def _kernel_irs(f, x, monkeypatch):
    from funcad.lowering.llvm import ArrayArg, ScalarArg
    from funcad.lowering.llvm.kernel_compiler import optimised_ir
    from funcad.lowering.numba import codegen
    from funcad.lowering.numba.compile import _options_dict, lower_program
    monkeypatch.setenv("FUNCAD_DRIVER", "python")
    monkeypatch.setattr(codegen, "interpreted", lambda: False)   # the compiled source
    args = x if isinstance(x, tuple) else (x,)
    lowered = lower_program(fa.jit(f).lower(*args)._flat, "f", _options_dict(()))
    irs = []
    for call in lowered.calls:
        types = [ArrayArg(np.dtype(t[1]), t[2]) if t[0] == "a" else ScalarArg(np.dtype(t[1]))
                 for t in call.types]
        irs.append(optimised_ir(call.kernel.source(), call.kernel.name, types))
    return irs


@pytest.mark.parametrize("dt", [np.float64, np.float32])
@pytest.mark.parametrize("name", NAMES)
def test_llvm_kernel_vectorises(monkeypatch, name, dt):
    (ir,) = _kernel_irs(getattr(fnp, name), np.ones(1000, dt), monkeypatch)
    assert not _LIBM.search(ir), _LIBM.search(ir).group()
    assert re.search(r"<(4|8|16) x (double|float)>", ir), f"{name} {dt}: no vector loop"


@pytest.mark.parametrize("dt", [np.float64, np.float32])
def test_llvm_pow_kernel_vectorises(monkeypatch, dt):
    x = np.ones(1000, dt)
    (ir,) = _kernel_irs(lambda a, b: a ** b, (x, x), monkeypatch)
    assert not _LIBM.search(ir), _LIBM.search(ir).group()
    assert re.search(r"<(4|8|16) x (double|float)>", ir)


def test_numba_program_vectorises(monkeypatch, vecmath_as_python):
    import numba

    from funcad.lowering.numba.compile import _numba_flags, _options_dict
    monkeypatch.setenv("FUNCAD_DRIVER", "numba")
    f = fa.grad(lambda x: fnp.sum(fnp.exp(fnp.sin(x) * x) + fnp.cos(x) ** 2 + fnp.log1p(x * x)
                                  + fnp.expm1(-x * x) + fnp.log(2 + x) + fnp.tanh(x)
                                  + (2 + x) ** x))
    src = fa.jit(f).lower(np.ones(1000)).source
    ns: dict = {}
    exec(compile(src, "<vecmath test>", "exec"), ns)
    fn = next(v for k, v in ns.items() if k.startswith("fa_"))
    flags = _numba_flags(_options_dict(()))
    flags.pop("cache", None)
    disp = numba.njit(**flags)(fn)
    disp(np.ones(1000))
    ir = next(iter(disp.inspect_llvm().values()))
    assert not _LIBM.search(ir), _LIBM.search(ir).group()
    assert re.search(r"<(4|8) x double>", ir)


def test_libm_where_the_loop_cannot_vectorise(vecmath_as_python, monkeypatch):
    # exp in an outer loop around an inner loop (per-example logistic regression's
    # gradient) and at rank 0: libm's np.exp; in the innermost loop: vecmath's source.
    monkeypatch.setenv("FUNCAD_DRIVER", "numba")

    def outer(x, w):
        return fnp.exp(x @ w)[:, None] * x

    x, w = np.ones((6, 5)), np.ones(5)
    assert "np.exp(" in fa.jit(outer).lower(x, w).source
    assert "np.exp(" in fa.jit(lambda s: fnp.exp(s) * 2.0).lower(1.5).source
    assert "np.exp(" not in fa.jit(fnp.exp).lower(np.ones(8)).source
    np.testing.assert_allclose(fa.jit(outer)(x, w), np.exp(x @ w)[:, None] * x, rtol=1e-15)
