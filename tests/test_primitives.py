"""Every primitive, bound directly: impl against NumPy, derivatives to order 2 (forward and
reverse), vmap against a loop (several in_axes), jit against eager.

Higher-order primitives (jit, closed_call, control flow, custom rules, checkpoint) are
exercised through the public functions that bind them. `test_every_primitive_is_covered`
fails when a new primitive has no row here.
"""

from __future__ import annotations

import numpy as np
import pytest

import funcad as fa
import funcad.numpy as fnp
from funcad import _core
from funcad.interpreters.ad import HashableArray
from funcad.interpreters.partial_eval import trace_to_jaxpr_flat
from funcad.primitives import elementwise as ew
from funcad.primitives import linalg as la
from funcad.primitives import reductions as red
from funcad.primitives import structural as st
from funcad.test_util import check_grads

# pytest puts tests/ on sys.path (rootdir-relative "prepend" import mode, no __init__.py).
from test_numpy_functions import (  # noqa: E402
    Row,
    _assert_tree_close,
    _batched_args,
    _everything,
    _in_axes_options,
    _loop,
    _split_args,
    check_grad_of_vmap,
    check_vmap_of_derivatives,
    traced,
)

P = _core.all_primitives
ROWS: list[Row] = []
#: primitive name -> rows that bind it
COVERED: dict[str, list[str]] = {}


def row(prims, name, fn, ref, shapes, domains="real", **kw) -> None:
    for p in [prims] if isinstance(prims, str) else prims:
        COVERED.setdefault(p, []).append(name)
    ROWS.append(Row(name, fn, ref, shapes, domains, **kw))


def bind(name, **params):
    """A function applying primitive `name` to its arguments."""
    prim = P[name]
    f = lambda *args: prim.bind(*args, **params)
    f.__name__ = name
    return f


U = [((),), ((3,),), ((2, 3),)]
B = [((), ()), ((3,), (3,)), ((2, 3), (2, 3))]

# -- elementwise ------------------------------------------------------------------------

for _p, _ref, _d in [
    ("neg", np.negative, "real"), ("sin", np.sin, "real"), ("cos", np.cos, "real"),
    ("tan", np.tan, "unit"), ("asin", np.arcsin, "unit"), ("acos", np.arccos, "unit"),
    ("atan", np.arctan, "real"), ("sinh", np.sinh, "real"), ("cosh", np.cosh, "real"),
    ("tanh", np.tanh, "real"), ("exp", np.exp, "real"), ("expm1", np.expm1, "real"),
    ("log", np.log, "pos"), ("log1p", np.log1p, "pos"), ("sqrt", np.sqrt, "pos"),
    ("abs", np.abs, "nz"), ("sign", np.sign, "nz"), ("floor", np.floor, "real"),
    ("ceil", np.ceil, "real"), ("round", np.round, "real"),
]:
    row(_p, _p, bind(_p), _ref, U, _d)
for _p, _ref in [("is_finite", np.isfinite), ("is_nan", np.isnan)]:
    row(_p, _p, bind(_p), _ref, U, grad=False)
row("stop_gradient", "stop_gradient", bind("stop_gradient"), lambda x: x, U, grad=False)
for _y, _d in [(0, "real"), (1, "real"), (2, "real"), (3, "real"), (-1, "nz"), (-3, "nz")]:
    row("integer_pow", f"integer_pow-{_y}", bind("integer_pow", y=_y),
        lambda x, y=_y: np.power(x, float(y)), U, _d)
for _p, _ref, _d in [
    ("add", np.add, "real"), ("sub", np.subtract, "real"), ("mul", np.multiply, "real"),
    ("div", np.divide, ("real", "nz")), ("pow", np.power, ("pos", "real")),
    ("max", np.maximum, "distinct"), ("min", np.minimum, "distinct"),
    ("atan2", np.arctan2, "nz"), ("rem", np.fmod, ("real", "gt1")),
]:
    row(_p, _p, bind(_p), _ref, B, _d)
row("mul_sz", "mul_sz", bind("mul_sz"), np.multiply, B)
row("mul_sz", "mul_sz-zero-times-inf",
    lambda t: P["mul_sz"].bind(t * np.array([0.0, 1.0]), np.array([np.inf, 2.0])),
    lambda t: np.array([0.0, 2.0]) * t, [((2,),)], grad=False)
row("max", "max-ties", bind("max"), np.maximum, [((4,), (4,))], "int:0:2", grad=False)
row("div", "div-int", bind("div"), np.floor_divide,
    [((5,), (5,))], ("int:-9:9", "int:1:4"), grad=False)
row("floor_divide", "floor_divide", bind("floor_divide"), np.floor_divide, B[1:],
    ("int:-9:9", "int:1:4"), grad=False)
row("nextafter", "nextafter", bind("nextafter"), np.nextafter, B, grad=False)
for _p, _ref in [("eq", np.equal), ("ne", np.not_equal), ("lt", np.less),
                 ("le", np.less_equal), ("gt", np.greater), ("ge", np.greater_equal)]:
    row(_p, _p, bind(_p), _ref, B, "int:0:3", grad=False)
for _p, _ref in [("and", np.bitwise_and), ("or", np.bitwise_or), ("xor", np.bitwise_xor)]:
    row(_p, _p, bind(_p), _ref, B, "bool", grad=False)
    row(_p, _p + "-int", bind(_p), _ref, B[1:], "int:0:8", grad=False)
row("not", "not", bind("not"), np.logical_not, U, "bool", grad=False)
row("not", "not-int", bind("not"), np.invert, U, "int:0:8", grad=False)


def _shift_ref(kind):
    # JAX's shifts: the amount as unsigned; >= 64 bits shifts everything out.
    def ref(x, y):
        x, y = np.asarray(x, np.int64), np.asarray(y, np.int64)
        ok, s = y.astype(np.uint64) < 64, np.clip(y, 0, 63)
        if kind == "left":
            return np.where(ok, x << s, 0)
        if kind == "logical":
            return np.where(ok, (x.view(np.uint64) >> s.astype(np.uint64)).view(np.int64), 0)
        return x >> np.where(ok, s, 63)
    return ref


for _p, _k in [("shift_left", "left"), ("shift_right_logical", "logical"),
               ("shift_right_arithmetic", "arithmetic")]:
    row(_p, _p, bind(_p), _shift_ref(_k), B, ("int:-9:9", "int:-2:70"), grad=False)
row("population_count", "population_count", bind("population_count"),
    lambda x: np.bitwise_count(np.asarray(x).view(np.uint64)).astype(np.int64), U,
    "int:-9:9", grad=False)
row("select_n", "select_n", lambda c, x, y: P["select_n"].bind(c, x, y),
    lambda c, x, y: np.where(c, y, x), [((), (), ()), ((2, 3), (2, 3), (2, 3))],
    ("bool", "real", "real"))
row("select_n", "select_n-3way", lambda c, x, y, z: P["select_n"].bind(c, x, y, z),
    lambda c, x, y, z: np.choose(c, [x, y, z]), [((4,), (4,), (4,), (4,))],
    ("int:0:3", "real", "real", "real"))
# Complex numbers (tests/test_complex.py has complex inputs and outputs): built from real
# operands and projected back to reals (jacrev, like JAX's, refuses complex outputs), so
# that every generic oracle here applies.


def _re_im(w):
    return P["real"].bind(w) * 1.5 - P["imag"].bind(w) * 0.5


def _ref_re_im(w):
    return np.real(w) * 1.5 - np.imag(w) * 0.5


row(["complex", "real", "imag"], "complex", lambda x, y: _re_im(P["complex"].bind(x, y)),
    lambda x, y: _ref_re_im(x + 1j * y), B)
row(["complex", "conj"], "conj",
    lambda x, y: _re_im(P["conj"].bind(P["complex"].bind(x, y)) * (2 - 1j)),
    lambda x, y: _ref_re_im((x - 1j * y) * (2 - 1j)), B)
row(["complex", "abs"], "abs-complex",
    lambda x, y: P["abs"].bind(P["complex"].bind(x, y)), lambda x, y: np.abs(x + 1j * y),
    B, "nz")
row("convert_element_type", "convert-f32-f64",
    lambda x: P["convert_element_type"].bind(x.astype(np.float32), new_dtype=np.dtype(np.float64)),
    lambda x: x.astype(np.float32).astype(np.float64), U, grad=False)
row("convert_element_type", "convert-to-f32",
    lambda x: P["convert_element_type"].bind(x, new_dtype=np.dtype(np.float32)),
    lambda x: x.astype(np.float32), U, grad=False)
row("convert_element_type", "convert-f64-roundtrip",
    lambda x: P["convert_element_type"].bind(
        P["convert_element_type"].bind(x, new_dtype=np.dtype(np.float32)) * np.float32(0)
        + np.float32(1), new_dtype=np.dtype(np.float64)) * x,
    lambda x: x, U)
row("convert_element_type", "convert-to-int",
    lambda x: P["convert_element_type"].bind(x, new_dtype=np.dtype(np.int64)),
    lambda x: x.astype(np.int64), U, grad=False)

# -- reductions --------------------------------------------------------------------------

for _p, _ref, _d in [("reduce_sum", np.sum, "real"), ("reduce_max", np.max, "distinct"),
                     ("reduce_min", np.min, "distinct"), ("reduce_prod", np.prod, "real")]:
    for _axes, _sh in [((0,), [((4,),), ((2, 3),)]), ((1,), [((2, 3),)]),
                       ((0, 2), [((2, 3, 2),)]), ((), [((2, 3),)])]:
        row(_p, f"{_p}-{_axes}", bind(_p, axes=_axes),
            lambda x, r=_ref, a=_axes: r(x, axis=a), _sh, _d)
for _p, _ref in [("reduce_and", np.all), ("reduce_or", np.any)]:
    row(_p, _p, bind(_p, axes=(1,)), lambda x, r=_ref: r(x, axis=1), [((2, 3),)], "bool",
        grad=False)
for _p, _ref in [("argmax", np.argmax), ("argmin", np.argmin)]:
    for _ax in [0, 1]:
        row(_p, f"{_p}-{_ax}", bind(_p, axis=_ax, index_dtype=np.dtype(np.int32)),
            lambda x, r=_ref, a=_ax: r(x, axis=a).astype(np.int32), [((3, 4),)], "distinct",
            grad=False)
for _rev in [False, True]:
    row("cumsum", f"cumsum-rev{_rev}", bind("cumsum", axis=1, reverse=_rev),
        lambda x, r=_rev: np.flip(np.cumsum(np.flip(x, 1), 1), 1) if r else np.cumsum(x, 1),
        [((2, 3),), ((1, 4, 2),)])

# -- structural -------------------------------------------------------------------------

row("broadcast_in_dim", "broadcast_in_dim",
    bind("broadcast_in_dim", shape=(2, 3, 4), broadcast_dimensions=(1,)),
    lambda x: np.broadcast_to(x[None, :, None], (2, 3, 4)), [((3,),)])
row("broadcast_in_dim", "broadcast_in_dim-ones",
    bind("broadcast_in_dim", shape=(2, 3), broadcast_dimensions=(0, 1)),
    lambda x: np.broadcast_to(x, (2, 3)), [((1, 3),), ((2, 1),)])
row("broadcast_in_dim", "broadcast_in_dim-scalar",
    bind("broadcast_in_dim", shape=(2, 2), broadcast_dimensions=()),
    lambda x: np.broadcast_to(x, (2, 2)), [((),)])
row("reshape", "reshape", bind("reshape", new_sizes=(3, 2)), lambda x: x.reshape(3, 2),
    [((2, 3),), ((6,),)])
row("transpose", "transpose", bind("transpose", permutation=(2, 0, 1)),
    lambda x: np.transpose(x, (2, 0, 1)), [((2, 3, 4),)])
row("rev", "rev", bind("rev", dimensions=(0, 2)), lambda x: x[::-1, :, ::-1],
    [((2, 3, 2),)])
row("slice", "slice", bind("slice", start_indices=(1, 0), limit_indices=(4, 5), strides=(2, 2)),
    lambda x: x[1:4:2, 0:5:2], [((4, 5),)])
row("slice", "slice-empty", bind("slice", start_indices=(1,), limit_indices=(1,), strides=(1,)),
    lambda x: x[1:1], [((3,),)])


def _np_pad(x, pv, config):
    lo_hi = [(max(lo, 0), max(hi, 0)) for lo, hi, _ in config]
    shape = [n + (n - 1) * it if n else 0 for n, (_, _, it) in zip(x.shape, config)]
    inner = np.full(shape, pv)
    inner[tuple(slice(None, None, it + 1) for _, _, it in config)] = x
    out = np.pad(inner, lo_hi, constant_values=pv)
    # negative padding crops
    return out[tuple(slice(max(-lo, 0), n - max(-hi, 0))
                     for (lo, hi, _), n in zip(config, out.shape))]


for _cfg in [((1, 2, 0),), ((0, 1, 1), (2, 0, 2)), ((0, 0, 0), (1, 1, 0)),
             ((-1, 2, 0),), ((1, -1, 1), (-1, 1, 0))]:
    row("pad", f"pad-{_cfg}", lambda x, pv, c=_cfg: P["pad"].bind(x, pv, padding_config=c),
        lambda x, pv, c=_cfg: _np_pad(x, pv, c), [(tuple(3 - i for i in range(len(_cfg))), ())])
row("concatenate", "concatenate", bind("concatenate", dimension=1),
    lambda *xs: np.concatenate(xs, axis=1), [((2, 1), (2, 3), (2, 2))])
row("iota", "iota", lambda x: P["iota"].bind(dtype=np.dtype(np.int64), shape=(2, 3),
                                            dimension=1) * x,
    lambda x: np.broadcast_to(np.arange(3), (2, 3)) * x, [((),), ((2, 3),)])
_CONST = HashableArray(np.arange(6.0).reshape(2, 3))
row("const", "const", lambda x: P["const"].bind(value=_CONST) * x,
    lambda x: np.arange(6.0).reshape(2, 3) * x, [((),), ((3,),)])

_G_IDX = np.array([[2, 0], [1, 1]])
row("gather", "gather-axis0", lambda x: P["gather"].bind(x, _G_IDX, axes=(0,)),
    lambda x: x[_G_IDX], [((3,),), ((3, 2),)])
row("gather", "gather-axis1", lambda x: P["gather"].bind(x, _G_IDX, axes=(1,)),
    lambda x: np.moveaxis(x, 1, 0)[_G_IDX], [((2, 3),)])
row("gather", "gather-two-axes",
    lambda x: P["gather"].bind(x, _G_IDX, _G_IDX[::-1], axes=(2, 0)),
    lambda x: np.moveaxis(x, (2, 0), (0, 1))[_G_IDX, _G_IDX[::-1]], [((3, 2, 3),)])
row("gather", "gather-traced-idx", lambda x, i: P["gather"].bind(x, i, axes=(0,)),
    lambda x, i: x[i], [((4, 2), (3,)), ((4,), (2, 2))], ("real", "int:0:4"))
_S_IDX = np.array([0, 2, 0])
for _p, _op in [("scatter_add", np.add.at), ("scatter_mul", np.multiply.at)]:
    row(_p, _p, lambda x, u, p=_p: P[p].bind(x, _S_IDX, u, axes=(0,)),
        lambda x, u, op=_op: _at(op, x, _S_IDX, u), [((3,), (3,)), ((3, 2), (3, 2))],
        "nz")
    row(_p, _p + "-axis1", lambda x, u, p=_p: P[p].bind(x, _S_IDX, u, axes=(1,)),
        lambda x, u, op=_op: np.moveaxis(_at(op, np.moveaxis(x, 1, 0), _S_IDX, u), 0, 1),
        [((2, 3), (3, 2))], "nz")
    row(_p, _p + "-traced-idx", lambda x, i, u, p=_p: P[p].bind(x, i, u, axes=(0,)),
        lambda x, i, u, op=_op: _at(op, x, i, u), [((3,), (4,), (4,))],
        ("nz", "int:0:3", "nz"))
row("scatter_mul", "scatter_mul-grad-operand",
    lambda x: P["scatter_mul"].bind(x, _S_IDX, np.array([2.0, -1.0, 0.5]), axes=(0,)),
    lambda x: _at(np.multiply.at, x, _S_IDX, np.array([2.0, -1.0, 0.5])), [((3,),)])
row("scatter", "scatter-unique", lambda x, u: P["scatter"].bind(x, np.array([2, 0]), u, axes=(0,)),
    lambda x, u: _at(None, x, np.array([2, 0]), u), [((3,), (2,)), ((3, 2), (2, 2))])
row("scatter", "scatter-duplicates", lambda x, u: P["scatter"].bind(x, _S_IDX, u, axes=(0,)),
    lambda x, u: _at(None, x, _S_IDX, u), [((3,), (3,)), ((3, 2), (3, 2))])
row("scatter", "scatter-traced-idx", lambda x, i, u: P["scatter"].bind(x, i, u, axes=(0,)),
    lambda x, i, u: _at(None, x, i, u), [((3,), (4,), (4,))], ("real", "int:0:3", "real"))


def _at(op, x, idx, u):
    out = np.array(x, copy=True)
    if op is None:
        out[idx] = u
    else:
        op(out, idx, u)
    return out


row("dynamic_slice", "dynamic_slice",
    lambda x, i: P["dynamic_slice"].bind(x, i, np.int64(1), slice_sizes=(2, 2)),
    lambda x, i: x[min(max(i, 0), 2):min(max(i, 0), 2) + 2, 1:3], [((4, 3), ())],
    ("real", "int:-1:4"))
row("dynamic_update_slice", "dynamic_update_slice",
    lambda x, u, i: P["dynamic_update_slice"].bind(x, u, i, np.int64(0)),
    lambda x, u, i: _dus(x, u, (i, 0)), [((4, 3), (2, 3), ())], ("real", "real", "int:-1:4"))


def _dus(x, u, starts):
    out = np.array(x, copy=True)
    st_ = [min(max(int(s), 0), n - k) for s, n, k in zip(starts, x.shape, u.shape)]
    out[tuple(slice(s, s + k) for s, k in zip(st_, u.shape))] = u
    return out


# -- linear algebra -----------------------------------------------------------------------

for _dn, _sh, _ref in [
    ((((1,), (0,)), ((), ())), ((2, 3), (3, 4)), lambda a, b: a @ b),
    ((((0,), (0,)), ((), ())), ((3,), (3,)), np.dot),
    ((((2,), (1,)), ((0,), (0,))), ((2, 3, 4), (2, 4, 2)), np.matmul),
    ((((1, 2), (2, 0)), ((), ())), ((2, 3, 4), (4, 2, 3)),
     lambda a, b: np.tensordot(a, b, ((1, 2), (2, 0)))),
    ((((), ()), ((0,), (1,))), ((2, 3), (4, 2)), lambda a, b: np.einsum("bi,kb->bik", a, b)),
    ((((), ()), ((), ())), ((2,), (3,)), np.outer),
]:
    row("dot_general", f"dot_general-{_dn}", bind("dot_general", dimension_numbers=_dn), _ref,
        [_sh])
row("solve", "solve", bind("solve"), np.linalg.solve, [((3, 3), (3, 2)), ((2, 3, 3), (2, 3, 1))],
    ("mat", "real"), rtol=1e-9)
row("det", "det", bind("det"), np.linalg.det, [((3, 3),), ((2, 2, 2),)], "mat", rtol=1e-9)
row("slogdet", "slogdet", lambda a: tuple(P["slogdet"].bind(a)),
    lambda a: tuple(np.linalg.slogdet(a)), [((3, 3),), ((2, 2, 2),)], "mat", rtol=1e-9)
row("cholesky", "cholesky", bind("cholesky"), np.linalg.cholesky, [((3, 3),), ((2, 3, 3),)],
    "spd", rtol=1e-9)


def _lu_ref(a):
    from funcad.primitives.decompositions import lu_factor_numpy
    outs = [lu_factor_numpy(m) for m in a.reshape((-1,) + a.shape[-2:])]
    return tuple(np.stack([o[i] for o in outs]).reshape(a.shape[:-2] + o0.shape)
                 for i, o0 in enumerate(outs[0]))


row("lu", "lu", lambda a: P["lu"].bind(a)[0], lambda a: _lu_ref(a)[0],
    [((3, 3),), ((2, 4, 4),)], "real", rtol=1e-9)
row("lu", "lu-pivots", lambda a: tuple(P["lu"].bind(a)[1:]), lambda a: _lu_ref(a)[1:],
    [((4, 4),), ((2, 3, 3),)], "real", grad=False)

# -- funcad.random's primitives -----------------------------------------------------------


def _threefry_ref(k1, k2, x1, x2):
    """Threefry-2x32 on Python ints (Salmon et al.), packed as (y1 << 32) | y2."""
    m = 0xFFFFFFFF

    def one(k1, k2, x1, x2):
        ks = [k1, k2, k1 ^ k2 ^ 0x1BD11BDA]
        x = [(x1 + ks[0]) & m, (x2 + ks[1]) & m]
        for i in range(5):
            for r in ((13, 15, 26, 6), (17, 29, 16, 24))[i % 2]:
                x[0] = (x[0] + x[1]) & m
                x[1] = (((x[1] << r) | (x[1] >> (32 - r))) & m) ^ x[0]
            x[0] = (x[0] + ks[(i + 1) % 3]) & m
            x[1] = (x[1] + ks[(i + 2) % 3] + i + 1) & m
        return (x[0] << 32) | x[1]
    args = np.broadcast_arrays(*(np.asarray(v).astype(np.uint32) for v in (k1, k2, x1, x2)))
    out = [one(*(int(v) for v in vals)) for vals in zip(*(a.ravel() for a in args))]
    return np.array(out, np.uint64).reshape(args[0].shape)


row("threefry2x32", "threefry2x32",
    lambda *a: P["threefry2x32"].bind(*(v.astype(np.uint32) for v in a)), _threefry_ref,
    [((), (), (), ()), ((3,), (3,), (3,), (3,)), ((2, 3), (2, 3), (2, 3), (2, 3))],
    "int:0:4000000000", grad=False)

# (issue 10)
import scipy.special as _sp  # noqa: E402

for _p, _ref, _d in [("asinh", np.arcsinh, "real"), ("acosh", np.arccosh, "gt1"),
                     ("atanh", np.arctanh, "unit"), ("erf", _sp.erf, "real"),
                     ("erfc", _sp.erfc, "real"), ("lgamma", _sp.gammaln, "pos")]:
    row(_p, _p, bind(_p), _ref, U, _d, rtol=1e-12)
for _ax in [0, 1]:
    row("argsort", f"argsort-axis{_ax}", bind("argsort", axis=_ax, index_dtype=np.dtype(np.int64)),
        lambda x, a=_ax: np.argsort(x, axis=a, kind="stable"), [((3, 4),)], "int:0:3",
        grad=False)
row("eigh", "eigh", lambda a: (lambda w, v: (w, v ** 2))(*P["eigh"].bind(a)),
    lambda a: (lambda w, v: (w, v ** 2))(*np.linalg.eigh(a)), [((3, 3),), ((2, 3, 3),)], "spd",
    rtol=1e-8, atol=1e-10)
row("svd", "svd", lambda a: (lambda u, s, vt: (u ** 2, s, vt ** 2))(
    *P["svd"].bind(a, full_matrices=False)),
    lambda a: (lambda u, s, vt: (u ** 2, s, vt ** 2))(*np.linalg.svd(a, full_matrices=False)),
    [((3, 3),), ((4, 2),), ((2, 2, 3),)], rtol=1e-8, atol=1e-10)
row("qr", "qr", lambda a: tuple(P["qr"].bind(a)), lambda a: tuple(np.linalg.qr(a)),
    [((3, 3),), ((4, 2),), ((2, 3, 2),)], rtol=1e-8, atol=1e-10)
# (real and imaginary parts: jacrev needs real outputs)
row("eig", "eigvals", lambda a: (lambda w: (fnp.real(w), fnp.imag(w)))(
    P["eig"].bind(a, vectors=False, gauge_free=False)[0]),
    lambda a: (lambda w: (w.real, w.imag))(np.linalg.eig(a)[0].astype(complex)),
    [((3, 3),), ((2, 3, 3),)], rtol=1e-8, atol=1e-10)
row("eig", "eig-vectors", lambda a: (lambda w, v: (w, fnp.abs(v)))(
    *P["eig"].bind(a, vectors=True, gauge_free=False)),
    lambda a: (lambda w, v: (w.astype(complex), np.abs(v)))(*np.linalg.eig(a)),
    [((3, 3),), ((2, 3, 3),)], grad=False, rtol=1e-8, atol=1e-10)
# (issue 10: the rest of lax.linalg; more in tests/test_lax_linalg_more.py)
import scipy.linalg as _sp_linalg  # noqa: E402
def _tridiag_ref(dl, d, du, b):
    """A dense solve of the tridiagonal system (d shifted by 4: diagonally dominant)."""
    def one(l, dd, u, rhs):
        n = dd.shape[0]
        a = np.diag(dd + 4.0) + np.diag(l[1:], -1) + np.diag(u[:-1], 1)
        return np.linalg.solve(a, rhs)
    lead = b.shape[:-2]
    outs = [one(*v) for v in zip(*(x.reshape((-1,) + x.shape[len(lead):])
                                   for x in (dl, d, du, b)))]
    return np.stack(outs).reshape(b.shape)


row("tridiagonal_solve", "tridiagonal_solve",
    lambda dl, d, du, b: P["tridiagonal_solve"].bind(dl, d + 4.0, du, b,
                                                    perturb_singular=False),
    _tridiag_ref, [((4,), (4,), (4,), (4, 2)), ((2, 3), (2, 3), (2, 3), (2, 3, 1))],
    rtol=1e-10)


def _per_matrix_ref(f):
    return lambda a: np.stack([f(m) for m in a.reshape((-1,) + a.shape[-2:])]).reshape(
        a.shape[:-2] + f(a.reshape((-1,) + a.shape[-2:])[0]).shape)


def _tridiag_eigvals(a):
    """Eigenvalues of the tridiagonal form that tridiagonal packs (d and e): a's own."""
    _, d, e, _ = P["tridiagonal"].bind(a, lower=True)
    n = d.shape[-1]
    e = fnp.concatenate([e, fnp.zeros(e.shape[:-1] + (1,))], axis=-1)
    t = (d[..., :, None] * np.eye(n) + e[..., :, None] * np.eye(n, k=1)
         + e[..., None, :] * np.eye(n, k=-1))
    return fnp.linalg.eigvalsh(t)


# No derivatives (as JAX): each row checks an invariant against NumPy/SciPy.
row("hessenberg", "hessenberg", lambda a: fnp.triu(P["hessenberg"].bind(a)[0], -1),
    _per_matrix_ref(lambda m: _sp_linalg.hessenberg(m)),
    [((4, 4),), ((2, 3, 3),)], grad=False, rtol=1e-10, atol=1e-12)
row("tridiagonal", "tridiagonal", _tridiag_eigvals,
    lambda a: np.linalg.eigvalsh((a + np.swapaxes(a, -1, -2)) / 2), [((4, 4),), ((2, 3, 3),)],
    "spd", grad=False, rtol=1e-9, atol=1e-12)
row("schur", "schur",
    lambda a: (lambda t, vs: fnp.matmul(fnp.matmul(vs, t), fnp.swapaxes(vs, -1, -2)))(
        *P["schur"].bind(a, compute_schur_vectors=True)),
    lambda a: a, [((4, 4),), ((2, 3, 3),)], grad=False, rtol=1e-9, atol=1e-12)


# eig_vectors_tangent (the eigenvector tangent of eig, refused when evaluated, transposed or
# compiled) has no value to compare: tests/test_complex_linalg.py checks that it raises.
COVERED.setdefault("eig_vectors_tangent", []).append(
    "test_complex_linalg.py::test_eig_eigenvector_derivatives_raise")
row("name", "name", lambda x: P["name"].bind(x, name="n"), lambda x: x, U)
# fft: each type over one and two trailing axes, from real operands (complex ones are made
# as x * (1 + 0.5j)) to real outputs (complex results as (real, imag)), as jacrev needs; the
# vmap cases also put the batch axis among the transformed ones. More in tests/test_fft.py.


def _fft_row(fft_type, lengths, ref, shapes, complex_in):
    def fn(x):
        y = P["fft"].bind(x * (1 + 0.5j) if complex_in else x, fft_type=fft_type,
                          fft_lengths=lengths)
        return (fnp.real(y), fnp.imag(y)) if fft_type != "IRFFT" else y

    def want(x):
        y = ref(x * (1 + 0.5j) if complex_in else x)
        return (y.real, y.imag) if fft_type != "IRFFT" else y
    row("fft", f"fft-{fft_type}-{len(lengths)}d", fn, want, shapes)


_fft_row("FFT", (4,), np.fft.fft, [((4,),), ((2, 4),)], True)
_fft_row("IFFT", (2, 3), np.fft.ifft2, [((2, 3),), ((2, 2, 3),)], True)
_fft_row("RFFT", (5,), np.fft.rfft, [((5,),), ((3, 5),)], False)
_fft_row("RFFT", (3, 4), np.fft.rfft2, [((3, 4),), ((2, 3, 4),)], False)
_fft_row("IRFFT", (6,), lambda z: np.fft.irfft(z, 6), [((4,),), ((2, 4),)], True)
_fft_row("IRFFT", (3, 5), lambda z: np.fft.irfft2(z, (3, 5)), [((3, 3),), ((2, 3, 3),)], True)
row("callback", "pure_callback", lambda x: fa.pure_callback(
    np.sin, fa.ShapeDtypeStruct(np.shape(x), np.result_type(x)), x), np.sin, U, grad=False)

# -- higher-order primitives, through the functions that bind them -----------------------


def _sin_jaxpr():
    from funcad._core import ShapedArray
    jaxpr, consts = trace_to_jaxpr_flat(lambda x: [fnp.sin(x) * x], [ShapedArray((3,),
                                                                                 np.dtype(float))])
    assert not consts
    return jaxpr


_JAXPR = _sin_jaxpr()
row("closed_call", "closed_call", lambda x: P["closed_call"].bind(x, jaxpr=_JAXPR)[0],
    lambda x: np.sin(x) * x, [((3,),)])
row("jit", "jit", fa.jit(lambda x, y: fnp.sin(x) * y), lambda x, y: np.sin(x) * y, B)


def _scan_f(x, ys):
    def body(c, y):
        c = fnp.sin(c) * y + 0.5 * c
        return c, c * y
    return fa.lax.scan(body, x, ys)


def _scan_ref(x, ys):
    outs = []
    for y in ys:
        x = np.sin(x) * y + 0.5 * x
        outs.append(x * y)
    return x, np.stack(outs)


row("scan", "scan", _scan_f, _scan_ref, [((), (4,)), ((2,), (3, 2))])


def _while_f(x):
    return fa.lax.while_loop(lambda c: c[0] < 3, lambda c: (c[0] + 1, fnp.sin(c[1]) * 1.5),
                             (0, x))[1]


def _while_ref(x):
    for _ in range(3):
        x = np.sin(x) * 1.5
    return x


row(["while", "while_rev"], "while", _while_f, _while_ref, U)
def _fori_ref(x):
    for _ in range(3):
        x = x * 0.5 + np.cos(x)
    return x


row("while", "fori_loop", lambda x: fa.lax.fori_loop(0, 3, lambda i, c: c * 0.5 + fnp.cos(c), x),
    _fori_ref, U)
row("cond", "cond", lambda p, x: fa.lax.cond(p > 0, fnp.sin, fnp.cos, x),
    lambda p, x: np.sin(x) if p > 0 else np.cos(x), [((), ()), ((), (3,))], ("nz", "real"),
    vmap=True)
row("cond", "switch", lambda i, x: fa.lax.switch(i, [fnp.sin, fnp.cos, fnp.exp], x),
    lambda i, x: [np.sin, np.cos, np.exp][min(max(int(i), 0), 2)](x), [((), (3,))],
    ("int:0:3", "real"))
row("checkpoint", "checkpoint", fa.checkpoint(lambda x: fnp.sin(fnp.sin(x)) * x),
    lambda x: np.sin(np.sin(x)) * x, U)


@fa.custom_jvp
def _softplus(x):
    return fnp.logaddexp(x, 0.0)


@_softplus.defjvp
def _softplus_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    # (JAX's docs call _softplus itself here; funcad's custom_jvp recursed on that when this
    # was written.)
    return fnp.logaddexp(x, 0.0), t / (1 + fnp.exp(-x))


@fa.custom_vjp
def _cube(x):
    return x ** 3


def _cube_fwd(x):
    return x ** 3, x


def _cube_bwd(x, ct):
    return (3 * x ** 2 * ct,)


_cube.defvjp(_cube_fwd, _cube_bwd)

row("custom_jvp_call", "custom_jvp", _softplus, lambda x: np.logaddexp(x, 0.0), U)
row(["custom_vjp_call", "custom_lin"], "custom_vjp", _cube, lambda x: x ** 3, U)


# ----------------------------------------------------------------------------------
# Checks (the same as for the funcad.numpy table)


def _cases(rows):
    for r in rows:
        for shapes in r.shapes:
            yield pytest.param(r, shapes, id=f"{r.name}-{'-'.join(map(str, shapes))}"
                               .replace(" ", ""))


def test_every_primitive_is_covered():
    missing = sorted(set(P) - set(COVERED))
    assert not missing, f"primitives without a row in tests/test_primitives.py: {missing}"


def test_rows_bind_the_primitive_they_claim():
    for name, rows in COVERED.items():
        for r in (r for r in ROWS if r.name in rows):
            program, pargs = _everything(r, r.args(r.shapes[-1]), np.random.default_rng(1))
            if not r.jit:  # a row that cannot be staged whole: its value only
                program, pargs = r.fn, r.args(r.shapes[-1])
            jaxpr = fa.make_jaxpr(program)(*pargs)  # value, vjp, jvp and vmap of the row
            assert name in _all_prim_names(jaxpr.jaxpr), (name, r.name, str(jaxpr))
            break


def _all_prim_names(jaxpr) -> set[str]:
    names = set()
    for e in jaxpr.eqns:
        names.add(e.primitive.name)
        for v in e.params.values():
            for j in (v if isinstance(v, (tuple, list)) else [v]):
                inner = getattr(j, "jaxpr", j)
                if hasattr(inner, "eqns"):
                    names |= _all_prim_names(inner)
    return names


@pytest.mark.parametrize("r,shapes", list(_cases(ROWS)))
def test_impl(r: Row, shapes):
    args = r.args(shapes)
    out = r.fn(*args)
    out = tuple(out) if isinstance(out, list) else out
    _assert_tree_close(out, r.ref(*args), r.rtol, r.atol, f"{r.name} impl")


@pytest.mark.parametrize("r,shapes", list(_cases([r for r in ROWS if r.grad])))
def test_grads(r: Row, shapes):
    f, fargs = _split_args(r, r.args(shapes))
    check_grads(f, fargs, order=2, modes=("fwd", "rev"), **r.grad_kw)


_VMAP_CASES = [pytest.param(r, s, ax, id=f"{p.id}-in_axes{ax}".replace(" ", ""))
               for p in _cases([r for r in ROWS if r.vmap]) for r, s in [p.values]
               for ax in _in_axes_options(s)]


@pytest.mark.parametrize("r,shapes,in_axes", _VMAP_CASES)
def test_vmap(r: Row, shapes, in_axes):
    per_elem, bargs = _batched_args(r, shapes, in_axes)
    out = fa.vmap(r.fn, in_axes=in_axes)(*bargs)
    out = tuple(out) if isinstance(out, list) else out
    _assert_tree_close(out, _loop(r, per_elem, in_axes), 1e-9, 1e-12, f"{r.name} vmap")


@pytest.mark.parametrize("driver", ["auto", "python"])
@pytest.mark.parametrize("r,shapes", list(_cases([r for r in ROWS if r.jit])))
def test_jit_matches_eager(r: Row, shapes, driver, monkeypatch):
    # "python": the program split into kernels under a Python driver, whatever its size.
    monkeypatch.setenv("FUNCAD_DRIVER", driver)
    program, pargs = _everything(r, r.args(shapes), np.random.default_rng(1))
    _assert_tree_close(fa.jit(program)(*pargs), program(*pargs), 1e-9, 1e-12, f"{r.name} jit")


# -- rule details the table cannot see -----------------------------------------------------


def test_jit_of_while_loop():
    x = np.array([0.3, -1.2])
    _assert_tree_close(fa.jit(_while_f)(x), _while_ref(x), 1e-12, 1e-12, "while jit")
    _assert_tree_close(fa.jit(fa.vmap(_while_f))(x), _while_ref(x), 1e-12, 1e-12, "while")


def test_stop_gradient_has_zero_derivative():
    x = np.array([0.5, -1.0])
    assert np.all(fa.grad(lambda x: fnp.sum(P["stop_gradient"].bind(x) * x))(x) == x)
    assert np.all(fa.jacfwd(bind("stop_gradient"))(x) == 0)


def test_nondiff_primitives_give_zero_tangents():
    x = np.array([0.3, 1.7])
    for name in ["sign", "floor", "ceil", "round"]:
        assert np.all(fa.jvp(bind(name), (x,), (np.ones(2),))[1] == 0)


def test_minmax_ties_split_the_gradient():
    g = fa.grad(lambda x, y: P["max"].bind(x, y), argnums=(0, 1))(np.float64(1.0), np.float64(1.0))
    assert g == (0.5, 0.5)
    g = fa.grad(lambda x: fnp.max(x))(np.array([2.0, 2.0, 1.0]))
    np.testing.assert_allclose(g, [0.5, 0.5, 0.0])


def test_scatter_mul_update_gradient_with_repeats_and_zeros():
    u = np.array([0.0, 3.0, 0.0])  # two zeros sent to position 0
    g = fa.grad(lambda u: fnp.sum(P["scatter_mul"].bind(np.full(3, 2.0), _S_IDX, u,
                                                         axes=(0,))))(u)
    np.testing.assert_array_equal(g, [0.0, 2.0, 0.0])
    u = np.array([5.0, 3.0, 0.0])
    g = fa.grad(lambda u: fnp.sum(P["scatter_mul"].bind(np.full(3, 2.0), _S_IDX, u,
                                                         axes=(0,))))(u)
    np.testing.assert_array_equal(g, [0.0, 2.0, 10.0])


def test_shape_rules_reject_bad_operands():
    with pytest.raises(ValueError, match=r"\(2,\).*\(3,\)"):
        P["add"].bind(np.ones(2), np.ones(3))
    with pytest.raises(TypeError, match="dtypes"):
        fa.make_jaxpr(lambda x: P["mul"].bind(x, np.ones(2, np.float32)))(np.ones(2))
    with pytest.raises(ValueError, match="contracting"):
        fa.make_jaxpr(bind("dot_general", dimension_numbers=(((1,), (0,)), ((), ()))))(
            np.ones((2, 3)), np.ones((2, 3)))
    with pytest.raises(ValueError, match="reshape"):
        fa.make_jaxpr(bind("reshape", new_sizes=(4,)))(np.ones(3))


def test_abstract_eval_matches_impl():
    """The shape rule of every table row predicts the impl's shape and dtype."""
    for r in ROWS:
        args = r.args(r.shapes[-1])
        closed = fa.make_jaxpr(lambda *a, r=r: r.fn(*a))(*args)
        out = r.fn(*args)
        leaves = fa.tree_util.tree_leaves(tuple(out) if isinstance(out, list) else out)
        for aval, v in zip(closed.jaxpr.out_avals, leaves, strict=True):
            v = np.asarray(v)
            assert (aval.shape, aval.dtype) == (v.shape, v.dtype), r.name


_ = (ew, la, red, st, traced)


@pytest.mark.parametrize("r,shapes", list(_cases([r for r in ROWS if r.grad and r.vmap])))
def test_vmap_of_derivatives(r: Row, shapes):
    check_vmap_of_derivatives(r, shapes)


@pytest.mark.parametrize("r,shapes", list(_cases([r for r in ROWS if r.grad and r.vmap])))
def test_grad_of_vmap(r: Row, shapes):
    check_grad_of_vmap(r, shapes)


@pytest.mark.parametrize("r,shapes", list(_cases([r for r in ROWS if r.grad and r.vmap])))
def test_jacfwd_equals_jacrev(r: Row, shapes):
    f, fargs = _split_args(r, r.args(shapes))
    argnums = tuple(range(len(fargs)))
    _assert_tree_close(fa.jacfwd(f, argnums)(*fargs), fa.jacrev(f, argnums)(*fargs), 1e-9,
                       1e-12, f"{r.name} jacfwd vs jacrev")


@pytest.mark.parametrize("r", [pytest.param(r, id=r.name) for r in ROWS if r.jit])
def test_programs_typecheck(r: Row):
    """The jaxpr of the row's value, vjp, jvp and vmap (and their inner jaxprs) type-check."""
    from funcad._ir import typecheck_jaxpr
    program, pargs = _everything(r, r.args(r.shapes[-1]), np.random.default_rng(1))
    typecheck_jaxpr(fa.make_jaxpr(program)(*pargs).jaxpr)


def test_pad_of_a_constant_by_a_traced_padding_value():
    # Only the padding value is differentiated: pad's transpose gets its operand as a
    # value (found by tests/test_tape.py's constant pieces).
    from funcad import lax
    f = lambda v: fnp.sum(lax.pad(np.ones(3), v, ((2, 0, 1),)) ** 2)  # noqa: E731
    for g in (fa.grad(f), fa.jit(fa.grad(f))):
        assert float(g(0.7)) == pytest.approx(4 * 2 * 0.7)
