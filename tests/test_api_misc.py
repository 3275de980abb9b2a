"""Issue 10 odds and ends: bit shifts, packbits/unpackbits, vectorize(signature=), sm3,
jax_debug_nans, non-square lax.linalg.lu, from_dlpack and __array_namespace_info__.

Table-driven: each CASE is a funcad function, its arguments and a NumPy reference; every
case runs eagerly, under jit (generated Python, the test default) and under vmap (against
a loop); a few run through real Numba compiles.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pytest

import funcad as fa
import funcad.lax as lax
import funcad.numpy as fnp


@dataclass
class Case:
    name: str
    fn: Callable
    args: tuple
    ref: Callable
    vmap: bool = True
    jit: bool = True
    kw: dict = field(default_factory=dict)


def _i(vals, dtype=np.int64):
    return np.array(vals, dtype)


# JAX's shift semantics: the amount as unsigned of the operand's width.
def _ref_shift(kind):
    def ref(x, y):
        x, y = np.asarray(x), np.asarray(y)
        x, y = np.broadcast_arrays(x, y.astype(x.dtype))
        bits = 8 * x.dtype.itemsize
        u = np.dtype(f"u{x.dtype.itemsize}")
        out = []
        for a, s in zip(x.ravel().tolist(), y.ravel().tolist()):
            s = s % (1 << bits)                      # as unsigned
            ua = a % (1 << bits)
            if kind == "left":
                r = (ua << s) % (1 << bits) if s < bits else 0
            elif kind == "logical":
                r = ua >> s if s < bits else 0
            else:
                sa = ua - (1 << bits) if ua >> (bits - 1) else ua
                r = (sa >> min(s, bits - 1)) % (1 << bits)
            out.append(r)
        return np.array(out, u).reshape(x.shape).view(x.dtype)
    return ref


_X8 = _i([1, -1, 5, -128, 127, 3, -7], np.int8)
_S8 = _i([0, 1, 7, 8, -1, 100, 2], np.int8)
_X64 = _i([1, -1, 5, -(2**63), 2**62, 3, -7])
_S64 = _i([0, 1, 63, 64, -1, 200, 2])
_XU = _i([1, 255, 128, 7, 0, 200, 33], np.uint8)
_SU = _i([0, 1, 7, 8, 9, 255, 3], np.uint8)
_XU32 = _i([1, 2**32 - 1, 2**31, 7, 0, 12345, 33], np.uint32)
_SU32 = _i([0, 1, 31, 32, 33, 2**32 - 1, 3], np.uint32)

CASES: list[Case] = []
for _k, _lax, _np in [("left", lax.shift_left, fnp.left_shift),
                      ("logical", lax.shift_right_logical, None),
                      ("arithmetic", lax.shift_right_arithmetic, None)]:
    for _x, _s, _tag in [(_X8, _S8, "i8"), (_X64, _S64, "i64"), (_XU, _SU, "u8"),
                         (_XU32, _SU32, "u32"), (_X64.reshape(1, 7)[:, :4], _S64[:4], "bcast")]:
        CASES.append(Case(f"lax.{_lax.__name__}-{_tag}", _lax, (_x, _s), _ref_shift(_k)))
for _x, _s, _tag in [(_X8, _S8, "i8"), (_X64, _S64, "i64"), (_XU, _SU, "u8"),
                     (_XU32, _SU32, "u32")]:
    CASES.append(Case(f"left_shift-{_tag}", fnp.left_shift, (_x, _s), _ref_shift("left")))
    CASES.append(Case(f"bitwise_left_shift-{_tag}", fnp.bitwise_left_shift, (_x, _s),
                      _ref_shift("left")))
    _rk = "logical" if _x.dtype.kind == "u" else "arithmetic"
    CASES.append(Case(f"right_shift-{_tag}", fnp.right_shift, (_x, _s), _ref_shift(_rk)))
    CASES.append(Case(f"bitwise_right_shift-{_tag}", fnp.bitwise_right_shift, (_x, _s),
                      _ref_shift(_rk)))
# In range, NumPy agrees with JAX.
_XR = np.arange(-20, 20, dtype=np.int32).reshape(4, 10)
_SR = (np.arange(40, dtype=np.int32) % 31).reshape(4, 10)
CASES += [
    Case("left_shift-numpy", fnp.left_shift, (_XR, _SR), np.left_shift),
    Case("right_shift-numpy", fnp.right_shift, (_XR, _SR), np.right_shift),
    Case("left_shift-scalar", lambda x: fnp.left_shift(x, 2), (_XR,),
         lambda x: np.left_shift(x, 2)),
]
for _x, _tag in [(_X8, "i8"), (_X64, "i64"), (_XU, "u8"), (_XU32, "u32"), (_XR, "i32")]:
    CASES.append(Case(f"bitwise_count-{_tag}", fnp.bitwise_count, (_x,), np.bitwise_count))
    CASES.append(Case(f"lax.population_count-{_tag}", lax.population_count, (_x,),
                      lambda x: np.bitwise_count(x.view(f"u{x.dtype.itemsize}"))
                      .astype(x.dtype)))

# packbits / unpackbits
_BITS = (np.arange(2 * 3 * 11).reshape(2, 3, 11) % 3 == 0)
_BYTES = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4) * 11
for _axis in [None, 0, 1, 2, -1]:
    for _order in ["big", "little"]:
        CASES.append(Case(f"packbits-{_axis}-{_order}",
                          lambda a, axis=_axis, order=_order:
                          fnp.packbits(a, axis=axis, bitorder=order), (_BITS,),
                          lambda a, axis=_axis, order=_order:
                          np.packbits(a, axis=axis, bitorder=order)))
        for _count in [None, 3, 13, -5, 40]:
            CASES.append(Case(f"unpackbits-{_axis}-{_order}-{_count}",
                              lambda a, axis=_axis, order=_order, count=_count:
                              fnp.unpackbits(a, axis=axis, count=count, bitorder=order),
                              (_BYTES,),
                              lambda a, axis=_axis, order=_order, count=_count:
                              np.unpackbits(a, axis=axis, count=count, bitorder=order)))
CASES += [
    Case("packbits-int", fnp.packbits, (np.array([3, 0, -1, 0, 0, 0, 0, 2, 5]),),
         np.packbits),
    Case("packbits-0d-axis-none", fnp.packbits, (np.array(True),), np.packbits, vmap=False),
]


# vectorize: signature cases against NumPy's vectorize (a Python loop)
_rng = np.random.default_rng(0)
_M = _rng.normal(size=(4, 2, 3))
_V = _rng.normal(size=(3,))
_VS = _rng.normal(size=(5, 1, 3))
_VEC = [
    ("matvec", lambda m, v: m @ v, "(m,n),(n)->(m)", (_M, _V)),
    ("matvec-bcast", lambda m, v: m @ v, "(m,n),(n)->(m)", (_M, _VS)),
    ("dot", lambda a, b: (a * b).sum(), "(n),(n)->()", (_VS, _V)),
    ("outer", lambda a, b: a[:, None] * b[None, :], "(n),(k)->(n,k)", (_VS, _V[:2])),
    ("scalar-in-vec-out", lambda a: a * np.arange(3.0), "()->(k)", (_V,)),
    ("two-outputs", lambda a: (a.sum(), a.max()), "(n)->(),()", (_M,)),
    ("no-loop", lambda m, v: m @ v, "(m,n),(n)->(m)", (_M[0], _V)),
    ("elementwise", lambda a, b: a * b + 1, "(),()->()", (_M, _V)),
]
for _name, _f, _sig, _args in _VEC:
    CASES.append(Case(f"vectorize-{_name}",
                      lambda *a, f=_f, sig=_sig: fnp.vectorize(f, signature=sig)(*a), _args,
                      lambda *a, f=_f, sig=_sig: np.vectorize(f, signature=sig)(*a)))
CASES += [
    Case("vectorize-excluded", lambda x, p: fnp.vectorize(
        lambda x, p: fnp.polyval(p, x), excluded={1})(x, p), (_M, [1.0, 2.0, 3.0]),
        lambda x, p: np.polyval(p, x), vmap=False),
    Case("vectorize-excluded-sig", lambda x, k: fnp.vectorize(
        lambda x, k: x[:k].sum(), excluded={1}, signature="(n)->()")(x, k), (_M, 2),
        lambda x, k: x[..., :k].sum(-1), vmap=False, jit=False),  # k is static
    Case("vectorize-no-sig-vector-out", lambda x: fnp.vectorize(
        lambda a: fnp.stack([a, 2 * a]))(x), (_M,),
        lambda x: np.stack([x, 2 * x], -1)),
]


def _check(out, ref, what):
    if isinstance(ref, tuple):
        assert isinstance(out, tuple) and len(out) == len(ref), what
        for k, (o, r) in enumerate(zip(out, ref)):
            _check(o, r, f"{what} output {k}")
        return
    out, ref = np.asarray(out), np.asarray(ref)
    assert out.dtype == ref.dtype, f"{what}: dtype {out.dtype} != {ref.dtype}"
    assert out.shape == ref.shape, f"{what}: shape {out.shape} != {ref.shape}"
    np.testing.assert_allclose(out, ref, rtol=1e-10, atol=1e-12, err_msg=what)


@pytest.mark.parametrize("c", CASES, ids=lambda c: c.name)
def test_eager(c: Case):
    _check(c.fn(*c.args), c.ref(*c.args), c.name)


@pytest.mark.parametrize("c", [c for c in CASES if c.jit], ids=lambda c: c.name)
def test_jit(c: Case):
    _check(fa.jit(c.fn)(*c.args), c.ref(*c.args), c.name + " jit")


@pytest.mark.parametrize("c", [c for c in CASES if c.vmap], ids=lambda c: c.name)
def test_vmap(c: Case):
    # Map over a stacked copy (the second one changed) of the first argument.
    a0 = np.asarray(c.args[0])
    other = a0[::-1].copy() if a0.ndim else a0
    stacked = np.stack([a0, other])
    out = fa.vmap(lambda a: c.fn(a, *c.args[1:]))(stacked)
    refs = [c.ref(a, *c.args[1:]) for a in stacked]
    ref = tuple(map(np.stack, zip(*refs))) if isinstance(refs[0], tuple) else np.stack(refs)
    _check(out, ref, c.name + " vmap")


NUMBA = ["lax.shift_left-i8", "lax.shift_right_logical-i64", "lax.shift_right_arithmetic-u32",
         "lax.shift_right_arithmetic-i8", "bitwise_count-i64", "bitwise_count-i32",
         "lax.population_count-u8", "packbits-2-little", "unpackbits-1-big-13",
         "vectorize-matvec-bcast"]


@pytest.mark.parametrize("name", NUMBA)
def test_numba(name, monkeypatch):
    monkeypatch.setenv("FUNCAD_DISABLE_JIT", "0")
    (c,) = [c for c in CASES if c.name == name]
    _check(fa.jit(c.fn)(*c.args), c.ref(*c.args), c.name + " numba")


def test_shift_errors():
    with pytest.raises(TypeError, match="left_shift needs integer"):
        fnp.left_shift(np.array([1.0]), 1)
    with pytest.raises(TypeError, match="shift_right_logical needs integer"):
        lax.shift_right_logical(np.array([True]), np.array([True]))
    with pytest.raises(TypeError, match="bitwise_count needs an integer"):
        fnp.bitwise_count(np.array([1.5]))
    with pytest.raises(TypeError, match="unpackbits needs a uint8"):
        fnp.unpackbits(np.array([1, 2]))
    with pytest.raises(ValueError, match="bitorder"):
        fnp.packbits(np.array([1]), bitorder="middle")


def test_vectorize_errors():
    mv = fnp.vectorize(lambda m, v: m @ v, signature="(m,n),(n)->(m)")
    with pytest.raises(ValueError, match="inconsistent size for core dimension 'n'"):
        mv(np.ones((2, 3)), np.ones(4))
    with pytest.raises(ValueError, match="fewer than its 2 core"):
        mv(np.ones(3), np.ones(3))
    with pytest.raises(TypeError, match="1 vectorized"):
        fnp.vectorize(lambda a, b: a, signature="(n),(n)->()")(np.ones(3))
    with pytest.raises(ValueError, match="not a valid gufunc signature"):
        fnp.vectorize(lambda a: a, signature="(n->()")
    with pytest.raises(ValueError, match="core dimensions"):
        fnp.vectorize(lambda a: a, signature="(n)->()")(np.ones((2, 3)))
    with pytest.raises(ValueError, match="2 outputs"):
        fnp.vectorize(lambda a: a.sum(), signature="(n)->(),()")(np.ones((2, 3)))
    with pytest.raises(TypeError, match="excluded"):
        fnp.vectorize(lambda a: a, excluded={"a"})


def test_vectorize_grad_and_jit():
    f = fnp.vectorize(lambda m, v: fnp.tanh(m @ v), signature="(m,n),(n)->(m)")
    from funcad.test_util import check_grads
    check_grads(lambda m, v: f(m, v), (_M, _V), order=2, modes=("fwd", "rev"))
    np.testing.assert_allclose(fa.jit(f)(_M, _V), np.tanh(_M @ _V))


def test_shifts_have_no_derivative():
    # Integer outputs: grad through a shift of an integer is a zero (float0-like) path.
    f = lambda x: x * fnp.left_shift(3, 2).astype(np.float64)
    assert fa.grad(f)(1.5) == 12.0
    jaxpr = fa.make_jaxpr(lambda x, y: lax.shift_left(x, y))(_X8, _S8)
    assert "shift_left" in str(jaxpr)


# -- optimizers.sm3 ------------------------------------------------------------------------


def _sm3_ref(x0, grads, step=0.1, mom=0.9):
    """SM3 with momentum in NumPy loops: per-axis accumulators, min-combined."""
    shape = np.shape(x0)
    x = np.atleast_1d(np.asarray(x0, float)).copy()
    m = np.zeros_like(x)
    vs = [np.zeros(n) for n in x.shape]
    out = []
    for g in grads:
        g = np.reshape(g, x.shape)
        accum = np.empty_like(x)
        for idx in np.ndindex(*x.shape):
            accum[idx] = min(vs[j][idx[j]] for j in range(x.ndim)) + g[idx] ** 2
        inv = np.where(accum > 0, 1 / np.sqrt(np.where(accum > 0, accum, 1)), 0)
        m = (1 - mom) * g * inv + mom * m
        x = x - step * m
        vs = [np.array([accum.take(k, axis=j).max() for k in range(x.shape[j])])
              for j in range(x.ndim)]
        out.append(x.reshape(shape))
    return out


@pytest.mark.parametrize("shape", [(), (3,), (2, 3), (2, 1, 4)], ids=str)
@pytest.mark.parametrize("jit", [False, True])
def test_sm3_matches_reference(shape, jit):
    from funcad.example_libraries import optimizers as opt
    rng = np.random.default_rng(3)
    x0 = rng.normal(size=shape)
    grads = [rng.normal(size=shape) for _ in range(4)]
    grads[1] = np.zeros(shape)            # a zero accumulator entry stays finite
    init, update, get_params = opt.sm3(0.1)
    step = fa.jit(update) if jit else update
    state = init({"w": x0, "b": np.float64(1.0)})
    ref = _sm3_ref(x0, grads)
    for i, (g, r) in enumerate(zip(grads, ref)):
        state = step(i, {"w": g, "b": np.float64(0.5)}, state)
        p = get_params(state)
        assert np.shape(p["w"]) == shape and np.shape(p["b"]) == ()
        np.testing.assert_allclose(p["w"], r, rtol=1e-12, atol=1e-14)
    # the state packs and unpacks like the other optimizers' states
    again = opt.pack_optimizer_state(opt.unpack_optimizer_state(state))
    np.testing.assert_allclose(get_params(again)["w"], ref[-1])


def test_sm3_trains_under_grad():
    from funcad.example_libraries import optimizers as opt
    init, update, get_params = opt.sm3(0.5, momentum=0.5)
    target = np.arange(6.0).reshape(2, 3)
    loss = lambda p: fnp.sum((p - target) ** 2)
    state = init(np.zeros((2, 3)))
    step = fa.jit(lambda i, s: update(i, fa.grad(loss)(get_params(s)), s))
    first = float(loss(get_params(state)))
    for i in range(60):
        state = step(i, state)
    assert float(loss(get_params(state))) < 0.05 * first


# -- jax_debug_nans / jax_debug_infs ---------------------------------------------------------


def _nested(x):
    inner = fa.jit(lambda y: fnp.log(y - 2.0))
    return fnp.sin(x) + inner(x)


def _scanned(x):
    return fa.lax.scan(lambda c, y: (c + fnp.sqrt(y), c), 0.0, x)[0]


NAN_CASES = [
    # (name, function, argument, primitive named in the error)
    ("log", fnp.log, np.array([1.0, -1.0]), "log"),
    ("sqrt-scalar", fnp.sqrt, -2.0, "sqrt"),
    ("inf-minus-inf", lambda x: fnp.exp(x) - fnp.exp(x), np.array([1000.0]), "sub"),
    ("zero-div-zero", lambda x: fnp.asarray(x) / x, np.zeros(2), "div"),
    ("array-operator", lambda x: fnp.sqrt(x) * np.inf - fnp.sqrt(x) * np.inf, np.ones(2), "sub"),
    ("nested-jit", _nested, np.ones(3), "log"),
    ("scan", _scanned, np.array([1.0, -1.0]), "sqrt"),
    ("value_and_grad", fa.value_and_grad(lambda x: fnp.sum(fnp.log(x))), np.array([-1.0]),
     "log"),
    ("vmap", fa.vmap(lambda x: fnp.arcsin(x)), np.array([0.5, 2.0]), "asin"),
]


@pytest.fixture
def debug_nans_on():
    fa.config.update("jax_debug_nans", True)
    try:
        yield
    finally:
        fa.config.update("jax_debug_nans", False)


@pytest.mark.parametrize("name,f,x,prim", NAN_CASES, ids=[c[0] for c in NAN_CASES])
@pytest.mark.parametrize("jit", [False, True])
def test_debug_nans_names_the_primitive(name, f, x, prim, jit, debug_nans_on):
    g = fa.jit(f) if jit else f
    with pytest.raises(FloatingPointError, match=rf"invalid value \(nan\) encountered in {prim}\b"):
        g(x)


@pytest.mark.parametrize("name,f,x,prim", NAN_CASES[:5], ids=[c[0] for c in NAN_CASES[:5]])
def test_debug_nans_off_gives_nans(name, f, x, prim):
    with np.errstate(all="ignore"):
        assert np.isnan(np.asarray(fa.jit(f)(x))).any()
        assert np.isnan(np.asarray(f(x))).any()


def test_debug_nans_inputs_with_nans_do_not_raise(debug_nans_on):
    x = np.array([np.nan, 1.0])
    out = fnp.sin(x) + 1.0
    assert np.isnan(out[0]) and out[1] == np.sin(1.0) + 1.0
    assert np.isnan(fa.jit(lambda x: fnp.exp(x) * 2)(x)[0])
    assert fnp.log(np.array([2.0])) == np.log(2.0)     # no NaN: nothing to say
    assert fa.jit(lambda i: i // 2)(np.arange(4)).tolist() == [0, 0, 1, 1]


def test_debug_nans_bypasses_the_jit_fast_path():
    f = fa.jit(lambda x: fnp.sqrt(x) * 2.0)
    x = np.array([-1.0, 4.0])
    with np.errstate(all="ignore"):
        f(x)
        f(x)                         # cached on the fast path
    with fa.debug_nans(True):
        assert fa.config.jax_debug_nans
        with pytest.raises(FloatingPointError, match="in sqrt"):
            f(x)
    assert not fa.config.jax_debug_nans
    with np.errstate(all="ignore"):
        assert np.isnan(f(x)[0])


def test_debug_nans_numba(monkeypatch, debug_nans_on):
    monkeypatch.setenv("FUNCAD_DISABLE_JIT", "0")
    f = fa.jit(lambda x: fnp.sum(fnp.tanh(x) * fnp.log(x - 1.0)))
    assert np.isfinite(f(np.array([2.0, 3.0])))
    with pytest.raises(FloatingPointError, match="encountered in log"):
        f(np.array([2.0, 0.5]))


def test_debug_infs():
    with fa.debug_infs(True):
        with pytest.raises(FloatingPointError, match=r"invalid value \(inf\) encountered in log"):
            fnp.log(np.array([0.0]))
        with pytest.raises(FloatingPointError, match="encountered in exp"):
            fa.jit(lambda x: fnp.exp(x) + 1.0)(np.array([1e4]))
        assert fnp.isinf(fnp.add(np.inf, 1.0))          # an infinite input: not new
    with np.errstate(all="ignore"):
        assert fnp.log(0.0) == -np.inf


def test_debug_flags_reject_unknown_and_read_back():
    with fa.debug_nans(True):
        assert fa.config.read("jax_debug_nans") is True
    assert fa.config.read("jax_debug_nans") is False


def test_shift_operators_on_tracers_and_arrays():
    x = np.array([1, -8, 3], np.int32)
    f = lambda x: ((x << 2) >> 1, 1 << x[0], 64 >> (x & 3))
    ref = ((x << 2) >> 1, 1 << x[0], 64 >> (x & 3))
    for g in (f, fa.jit(f)):
        for o, r in zip(g(x), ref):
            np.testing.assert_array_equal(o, r)
            assert np.asarray(o).dtype == np.asarray(r).dtype
    np.testing.assert_array_equal(fa.vmap(lambda v: v << 1)(x), x << 1)


# -- lax.linalg.lu on non-square matrices -----------------------------------------------------


def _lu_ref(x):
    """(lu, pivots, permutation) from LAPACK's getrf (scipy), per matrix of the stack."""
    import scipy.linalg as sl
    x = np.asarray(x)
    m, n = x.shape[-2:]
    flat = x.reshape((-1, m, n))
    lus, pivs, perms = [], [], []
    for a in flat:
        lu, piv = sl.lu_factor(a)
        perm = np.arange(m)
        for i, p in enumerate(piv):
            perm[[i, p]] = perm[[p, i]]
        lus.append(lu), pivs.append(piv), perms.append(perm)
    lead = x.shape[:-2]
    return (np.stack(lus).reshape(x.shape), np.stack(pivs).astype(np.int32).reshape(
        lead + (min(m, n),)), np.stack(perms).astype(np.int32).reshape(lead + (m,)))


_LU_SHAPES = [(3, 3), (5, 3), (3, 5), (2, 4, 3), (2, 3, 4), (1, 4), (4, 1), (6, 2)]
LU_CASES = [Case(f"lu-{'x'.join(map(str, s))}", lax.linalg.lu,
                 (np.random.default_rng(7).normal(size=s),), _lu_ref) for s in _LU_SHAPES]


def _check_lu(out, ref, what):
    for k, (o, r) in enumerate(zip(out, ref)):
        assert np.asarray(o).dtype == r.dtype and np.shape(o) == r.shape, (what, k)
        np.testing.assert_allclose(o, r, rtol=1e-10, atol=1e-12, err_msg=f"{what} {k}")


@pytest.mark.parametrize("c", LU_CASES, ids=lambda c: c.name)
def test_lu_nonsquare(c: Case):
    (x,) = c.args
    _check_lu(c.fn(x), c.ref(x), c.name)
    _check_lu(fa.jit(c.fn)(x), c.ref(x), c.name + " jit")
    stacked = np.stack([x, 2 * x[..., ::-1, :]])
    out = fa.vmap(c.fn)(stacked)
    refs = [c.ref(a) for a in stacked]
    _check_lu(out, tuple(map(np.stack, zip(*refs))), c.name + " vmap")
    # x[perm] == L @ U
    lu, _, perm = c.fn(x)
    m, n = x.shape[-2:]
    k = min(m, n)
    lower = np.tril(np.asarray(lu)[..., :, :k], -1) + np.eye(m, k)
    upper = np.triu(np.asarray(lu)[..., :k, :])
    np.testing.assert_allclose(lower @ upper,
                               np.take_along_axis(x, np.asarray(perm)[..., :, None], -2),
                               atol=1e-12)


@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (2, 4, 2)], ids=str)
def test_lu_nonsquare_grads(shape):
    from funcad.test_util import check_grads
    x = np.random.default_rng(2).normal(size=shape)
    check_grads(lambda x: lax.linalg.lu(x)[0], (x,), order=2, modes=("fwd", "rev"))


def test_lu_nonsquare_numba(monkeypatch):
    monkeypatch.setenv("FUNCAD_DISABLE_JIT", "0")
    for s in [(5, 3), (2, 3, 4)]:
        x = np.random.default_rng(4).normal(size=s)
        _check_lu(fa.jit(lax.linalg.lu)(x), _lu_ref(x), f"lu {s} numba")


def test_lu_rejects_vectors_and_integers():
    with pytest.raises(ValueError, match="expected a matrix"):
        lax.linalg.lu(np.ones(3))
    with pytest.raises(TypeError, match="floating-point"):
        from funcad.primitives.decompositions import lu_p
        fa.jit(lambda a: lu_p.bind(a))(np.ones((2, 3), np.int64))    # abstract eval


# -- DLPack and the array API inspection namespace ---------------------------------------


def test_from_dlpack():
    src = np.arange(6.0).reshape(2, 3)
    a = fnp.from_dlpack(src)
    assert type(a) is fa.Array and not a.flags.writeable
    np.testing.assert_array_equal(a, src)
    assert np.shares_memory(a, src)         # no copy by default, as JAX on the CPU
    b = fnp.from_dlpack(src, copy=True)
    assert not np.shares_memory(b, src)
    src[0, 0] = 42.0
    assert a[0, 0] == 42.0 and b[0, 0] == 0.0
    for dev in (None, fa.devices()[0], "cpu"):
        c = fnp.from_dlpack(src, device=dev, copy=False)
        assert np.shares_memory(c, src)
    # funcad Arrays are producers too (also of strided, int and complex data)
    for x in (fnp.arange(4, dtype=np.int32), fnp.ones((3, 2)).T, fnp.array([1 + 2j])):
        y = fnp.from_dlpack(x)
        assert y.dtype == x.dtype and np.array_equal(y, x)
        np.testing.assert_array_equal(np.from_dlpack(x), x)
    # the result goes through transforms like any Array
    assert float(fa.jit(fa.grad(lambda v: fnp.sum(v ** 2)))(fnp.from_dlpack(src))[1, 2]) \
        == 10.0
    with pytest.raises(TypeError, match="__dlpack__ and __dlpack_device__"):
        fnp.from_dlpack([1.0, 2.0])
    with pytest.raises(TypeError, match="traced value"):
        fa.jit(fnp.from_dlpack)(src)
    with pytest.raises(ValueError, match="one device"):
        fnp.from_dlpack(src, device="cuda:0")

    class OnGpu:
        def __dlpack__(self, **kw):
            raise AssertionError("not reached")

        def __dlpack_device__(self):
            return (2, 0)
    with pytest.raises(TypeError, match="CPU arrays only"):
        fnp.from_dlpack(OnGpu())


def test_array_namespace_info():
    info = fnp.__array_namespace_info__()
    assert info.capabilities() == {"boolean indexing": False,
                                   "data-dependent shapes": False, "max dimensions": 64}
    assert info.default_device() is None
    assert info.devices() == [None, fa.devices()[0]]
    assert info.default_dtypes() == {
        "real floating": np.dtype("float64"), "complex floating": np.dtype("complex128"),
        "integral": np.dtype("int64"), "indexing": np.dtype("int64")}
    assert info.default_dtypes(device=fa.devices()[0]) == info.default_dtypes()
    every = info.dtypes()
    assert set(every) == {"bool", "int8", "int16", "int32", "int64", "uint8", "uint16",
                          "uint32", "uint64", "float32", "float64", "complex64",
                          "complex128"}
    assert all(np.dtype(k) == v for k, v in every.items())
    assert set(info.dtypes(kind="integral")) == {"int8", "int16", "int32", "int64", "uint8",
                                                 "uint16", "uint32", "uint64"}
    assert set(info.dtypes(kind="signed integer")) == {"int8", "int16", "int32", "int64"}
    assert set(info.dtypes(kind=("bool", "complex floating"))) == {
        "bool", "complex64", "complex128"}
    assert set(info.dtypes(kind="real floating")) == {"float32", "float64"}
    assert set(info.dtypes(kind="numeric")) == set(every) - {"bool"}
    with pytest.raises(ValueError, match="unknown kind 'float'.*'real floating'"):
        info.dtypes(kind="float")
    with pytest.raises(ValueError, match="one device"):
        info.dtypes(device="gpu")
    # every dtype it lists makes arrays
    for d in every.values():
        assert fnp.zeros(2, dtype=d).dtype == d
