"""Table-driven tests of funcad.numpy: one row per function (and per interesting variant).

Every row is checked on several shapes for
  * its value and dtype against NumPy,
  * derivatives to order 2 in forward and reverse mode against finite differences,
  * vmap against a Python loop over the batch axis, for several in_axes,
  * jit against eager evaluation (values, vjp, jvp and vmap in one jitted program).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

import funcad as fa
import funcad.numpy as fnp
from funcad.test_util import check_grads
from funcad.tree_util import tree_flatten, tree_leaves, tree_map, tree_unflatten

BATCH = 3

# ----------------------------------------------------------------------------------
# Test data


def _mat(rng, shape):
    """Well-conditioned square matrices (a stack of them for rank > 2)."""
    n = shape[-1]
    return rng.uniform(-1, 1, shape) + 3 * np.eye(n)


def _spd(rng, shape):
    """Symmetric positive-definite matrices."""
    a = rng.uniform(-1, 1, shape)
    return a @ np.swapaxes(a, -1, -2) + shape[-1] * np.eye(shape[-1])


def _distinct(rng, shape):
    """Values far apart from each other (no ties for max/min/sort-like functions)."""
    n = int(np.prod(shape, dtype=np.int64))
    vals = rng.permutation(n) * 0.37 - 0.2 * n + rng.uniform(0, 0.05, n)
    return vals.reshape(shape)


_DOMAINS: dict[str, Callable] = {
    "real": lambda rng, s: rng.uniform(-2, 2, s),
    "pos": lambda rng, s: rng.uniform(0.5, 2, s),
    "unit": lambda rng, s: rng.uniform(-0.8, 0.8, s),
    "nz": lambda rng, s: rng.uniform(0.3, 2, s) * rng.choice([-1.0, 1.0], s),
    "gt1": lambda rng, s: rng.uniform(1.2, 3, s),
    "prob": lambda rng, s: rng.uniform(0.05, 0.95, s),
    "distinct": _distinct,
    "mat": _mat,
    "spd": _spd,
    "bool": lambda rng, s: rng.random(s) < 0.5,
}


def _gen(domain: str, shape, rng) -> np.ndarray:
    if domain.startswith("int"):
        _, lo, hi = domain.split(":")
        return np.asarray(rng.integers(int(lo), int(hi), shape), np.int64)
    return np.asarray(_DOMAINS[domain](rng, shape))


def _is_float_domain(domain: str) -> bool:
    return not (domain.startswith("int") or domain == "bool")


@dataclass
class Row:
    """One function under test: `fn` (funcad) must agree with `ref` (NumPy)."""

    name: str
    fn: Callable
    ref: Callable
    shapes: list
    domains: Any = "real"
    grad: bool = True
    vmap: bool = True
    jit: bool = True
    rtol: float = 1e-10
    atol: float = 1e-12
    grad_kw: dict = field(default_factory=dict)

    def domains_for(self, n: int) -> list[str]:
        d = self.domains
        return [d] * n if isinstance(d, str) else list(d)

    def args(self, shapes, seed: int = 0) -> list:
        rng = np.random.default_rng(seed)
        return [_gen(d, s, rng) for d, s in zip(self.domains_for(len(shapes)), shapes,
                                                  strict=True)]


def traced(f: Callable) -> Callable:
    """Run `f` on traced values (to test tracer operators and methods eagerly)."""
    def g(*args):
        return fa.jvp(f, tuple(args), tuple(np.zeros_like(a) for a in args))[0]
    g.__name__ = getattr(f, "__name__", "traced")
    return g


ROWS: list[Row] = []


def row(name, fn, ref, shapes, domains="real", **kw) -> None:
    ROWS.append(Row(name, fn, ref, shapes, domains, **kw))


S_UNARY = [((),), ((3,),), ((2, 3),)]
S_BINARY = [((), ()), ((3,), (3,)), ((2, 3), (3,)), ((2, 1), (1, 3)), ((), (2, 3))]

# -- elementwise ----------------------------------------------------------------------

_UNARY = {
    "negative": "real", "square": "real", "sqrt": "pos", "exp": "real", "expm1": "real",
    "log": "pos", "log1p": "pos", "sin": "real", "cos": "real", "tan": "unit",
    "tanh": "real", "sinh": "real", "cosh": "real", "arcsin": "unit", "arccos": "unit",
    "arctan": "real", "abs": "nz", "sign": "nz", "floor": "real", "ceil": "real",
    "round": "real",
}
for _n, _d in _UNARY.items():
    row(_n, getattr(fnp, _n), getattr(np, _n), S_UNARY, _d)
for _n in ["isnan", "isfinite"]:
    row(_n, getattr(fnp, _n), getattr(np, _n), S_UNARY, grad=False)

_BINARY = {
    "add": "real", "subtract": "real", "multiply": "real", "divide": ("real", "nz"),
    "true_divide": ("real", "nz"), "power": ("pos", "real"), "maximum": "distinct",
    "minimum": "distinct", "arctan2": "nz", "logaddexp": "real",
}
for _n, _d in _BINARY.items():
    row(_n, getattr(fnp, _n), getattr(np, _n), S_BINARY, _d)
row("maximum-same-shape", fnp.maximum, np.maximum, [((4,), (4,))], ("real", "real"))
row("power-int-exponent", lambda x: fnp.power(x, 3), lambda x: np.power(x, 3), S_UNARY)
row("power-neg-int-exponent", lambda x: fnp.power(x, -2), lambda x: np.power(x, -2.0),
    S_UNARY, "nz")
row("power-float-exponent", lambda x: fnp.power(x, 1.5), lambda x: np.power(x, 1.5),
    S_UNARY, "pos")
row("power-scalar-base", lambda x: fnp.power(2.0, x), lambda x: np.power(2.0, x), S_UNARY)
row("operator-pow", traced(lambda x: x ** 2 + 2.0 ** x), lambda x: x ** 2 + 2.0 ** x,
    S_UNARY)
row("operators-arith", traced(lambda x, y: (x + y) * (x - y) / y - (-x) + abs(y)),
    lambda x, y: (x + y) * (x - y) / y - (-x) + abs(y), S_BINARY, ("real", "nz"))
row("operators-reflected", traced(lambda x: 1.0 - x + 2.0 * x / (3.0 + x ** 2)),
    lambda x: 1.0 - x + 2.0 * x / (3.0 + x ** 2), S_UNARY)
row("clip", lambda x: fnp.clip(x, -0.5, 0.7), lambda x: np.clip(x, -0.5, 0.7), S_UNARY)
row("clip-min-max-names", lambda x: fnp.clip(x, min=-0.5, max=0.7),
    lambda x: np.clip(x, min=-0.5, max=0.7), S_UNARY)
row("round-decimals", lambda x: fnp.round(x * 10, 1) + fnp.round(x * 100, -1),
    lambda x: np.round(x * 10, 1) + np.round(x * 100, -1), S_UNARY)
row("clip-arrays", fnp.clip, np.clip, [((4,), (4,), (4,)), ((2, 3), (3,), ())],
    ("real", "gt1", "gt1"))
row("clip-min-only", lambda x: fnp.clip(x, a_min=0.1), lambda x: np.clip(x, 0.1, None),
    S_UNARY, "nz")
row("where", lambda c, x, y: fnp.where(c > 0, x, y), lambda c, x, y: np.where(c > 0, x, y),
    [((), (), ()), ((3,), (3,), (3,)), ((2, 3), (3,), ()), ((2, 1), (1, 3), (2, 3))], "nz")
# The branch `where` does not take must not poison gradients with 0 * inf = nan.
row("where-sqrt-negative", lambda x: fnp.where(x > 0, fnp.sqrt(x), 0.0),
    lambda x: np.where(x > 0, np.sqrt(np.abs(x)), 0.0), S_UNARY, "nz")
row("where-log-division", lambda x: fnp.where(x > 0, fnp.log(x) / x, x ** 2),
    lambda x: np.where(x > 0, np.log(np.abs(x)) / x, x ** 2), S_UNARY, "nz")
row("where-bool-arg", lambda c, x: fnp.where(c, x, 0.0), lambda c, x: np.where(c, x, 0.0),
    [((3,), (3,)), ((2, 3), (3,))], ("bool", "real"))

for _n in ["equal", "not_equal", "less", "less_equal", "greater", "greater_equal"]:
    row(_n, getattr(fnp, _n), getattr(np, _n), S_BINARY, "int:0:3", grad=False)
    row(_n + "-float", getattr(fnp, _n), getattr(np, _n), S_BINARY[1:3], "real", grad=False)
row("operators-compare", traced(lambda x, y: (x < y) & (x <= 1.0) | (x == y) ^ (x != 0.5)),
    lambda x, y: (x < y) & (x <= 1.0) | (x == y) ^ (x != 0.5), S_BINARY, grad=False)
for _n in ["logical_and", "logical_or"]:
    row(_n, getattr(fnp, _n), getattr(np, _n), S_BINARY, "bool", grad=False)
    row(_n + "-numbers", getattr(fnp, _n), getattr(np, _n), S_BINARY[1:3], "int:0:2",
        grad=False)
row("logical_not", fnp.logical_not, np.logical_not, S_UNARY, "bool", grad=False)
row("logical_not-numbers", fnp.logical_not, np.logical_not, S_UNARY, "int:0:2", grad=False)

# (beyond API.md's list: the other elementwise functions funcad.numpy exports)
for _n, _d in {"cbrt": "nz", "exp2": "real", "log2": "pos", "log10": "pos", "rint": "real",
               "reciprocal": "nz", "positive": "real", "deg2rad": "real", "rad2deg": "real",
               "sinc": "nz", "absolute": "nz", "around": "real"}.items():
    row(_n, getattr(fnp, _n), getattr(np, _n), S_UNARY, _d)
# float_power: NumPy's is always float64, JAX's (and funcad's) keeps float32
row("float_power", fnp.float_power, lambda x, y: np.power(
    *(np.asarray(v, np.result_type(v, np.float32)) for v in (x, y))), S_BINARY, ("pos", "real"))
for _n, _d in {"hypot": "nz", "copysign": "nz",
               "fmod": ("real", "gt1"), "mod": ("real", "gt1"), "remainder": ("real", "gt1"),
               "floor_divide": ("real", "gt1")}.items():
    row(_n, getattr(fnp, _n), getattr(np, _n), S_BINARY, _d)
row("heaviside", fnp.heaviside, np.heaviside, S_BINARY, "nz")
row("mod-int", fnp.mod, np.mod, S_BINARY[1:3], ("int:-9:9", "int:1:4"), grad=False)
row("floor_divide-int", fnp.floor_divide, np.floor_divide, S_BINARY[1:3],
    ("int:-9:9", "int:1:4"), grad=False)
row("nan_to_num", lambda x: fnp.nan_to_num(fnp.log(x)), lambda x: np.nan_to_num(np.log(x)),
    S_UNARY, "pos")
row("isinf", fnp.isinf, np.isinf, S_UNARY, grad=False)
row("logical_xor", fnp.logical_xor, np.logical_xor, S_BINARY, "bool", grad=False)
for _n in ["bitwise_and", "bitwise_or", "bitwise_xor"]:
    row(_n, getattr(fnp, _n), getattr(np, _n), S_BINARY[1:3], "int:0:8", grad=False)
row("invert", fnp.invert, np.invert, S_UNARY, "int:0:8", grad=False)

# -- reductions -----------------------------------------------------------------------

_RED_CONFIGS = [  # (axis, keepdims, shapes)
    (None, False, [((),), ((4,),), ((2, 3),)]),
    (0, False, [((4,),), ((2, 3),)]),
    (-1, True, [((4,),), ((2, 3),)]),
    ((0, 2), False, [((2, 3, 2),)]),
    ((1,), True, [((2, 3, 2),)]),
]
_REDUCTIONS = {"sum": "real", "mean": "real", "prod": "real", "max": "distinct",
               "min": "distinct", "var": "real", "std": "real"}
for _n, _d in _REDUCTIONS.items():
    for _ax, _kd, _sh in _RED_CONFIGS:
        if _n == "std":  # sqrt'(0): the std of one number has no derivative (as in JAX)
            _sh = [s for s in _sh if s != ((),)]
        row(f"{_n}-axis{_ax}-keepdims{_kd}",
            lambda x, n=_n, ax=_ax, kd=_kd: getattr(fnp, n)(x, axis=ax, keepdims=kd),
            lambda x, n=_n, ax=_ax, kd=_kd: getattr(np, n)(x, axis=ax, keepdims=kd),
            _sh, _d)
for _n in ["all", "any"]:
    for _ax, _kd, _sh in _RED_CONFIGS:
        row(f"{_n}-axis{_ax}-keepdims{_kd}",
            lambda x, n=_n, ax=_ax, kd=_kd: getattr(fnp, n)(x, axis=ax, keepdims=kd),
            lambda x, n=_n, ax=_ax, kd=_kd: getattr(np, n)(x, axis=ax, keepdims=kd),
            _sh, "bool", grad=False)
for _n in ["argmax", "argmin"]:
    for _ax, _kd, _sh in [(None, False, [((4,),), ((2, 3),)]), (0, False, [((2, 3),)]),
                          (-1, True, [((2, 3),)]), (None, True, [((2, 3),)])]:
        row(f"{_n}-axis{_ax}-keepdims{_kd}",
            lambda x, n=_n, ax=_ax, kd=_kd: getattr(fnp, n)(x, axis=ax, keepdims=kd),
            lambda x, n=_n, ax=_ax, kd=_kd: getattr(np, n)(x, axis=ax, keepdims=kd),
            _sh, "distinct", grad=False)
for _ax in [None, 0, -1]:
    row(f"cumsum-axis{_ax}", lambda x, ax=_ax: fnp.cumsum(x, axis=ax),
        lambda x, ax=_ax: np.cumsum(x, axis=ax), [((4,),), ((2, 3),)])
row("var-ddof1", lambda x: fnp.var(x, axis=0, ddof=1), lambda x: np.var(x, axis=0, ddof=1),
    [((4,),), ((3, 2),)])
row("std-ddof1", lambda x: fnp.std(x, ddof=1), lambda x: np.std(x, ddof=1), [((4,),)])
row("prod-with-zero", lambda x: fnp.prod(x * np.array([1.0, 0.0, 1.0, 1.0]), axis=-1),
    lambda x: np.prod(x * np.array([1.0, 0.0, 1.0, 1.0]), axis=-1), [((4,),), ((2, 4),)])
row("max-with-ties", lambda x: fnp.max(fnp.minimum(x, 1.0), axis=-1),
    lambda x: np.max(np.minimum(x, 1.0), axis=-1), [((4,),)], "gt1", grad=False)
row("methods-reductions",
    traced(lambda x: x.sum() + x.mean(axis=0).sum() * x.max() - x.min(axis=-1).prod()
           + x.var() + x.std(axis=1, keepdims=True).sum() + x.cumsum(axis=0)[-1, 0]),
    lambda x: x.sum() + x.mean(axis=0).sum() * x.max() - x.min(axis=-1).prod() + x.var()
    + x.std(axis=1, keepdims=True).sum() + x.cumsum(axis=0)[-1, 0], [((2, 3),)], "distinct")

# -- linear algebra ---------------------------------------------------------------------

row("dot", fnp.dot, np.dot, [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 2)), ((2, 3), (3, 4)),
                              ((2, 2, 3), (3, 2)), ((), (3,)), ((2, 3), (4, 3, 2))])
row("matmul", fnp.matmul, np.matmul,
    [((3,), (3,)), ((2, 3), (3, 4)), ((2, 2, 3), (3, 4)), ((3,), (2, 3, 4)), ((2, 3), (3,)),
     ((2, 1, 2, 3), (3, 3, 2)), ((2, 3), (2, 3, 2))])
row("operator-matmul", traced(lambda a, b: a @ b + (b.T @ a.T).T),
    lambda a, b: a @ b + (b.T @ a.T).T, [((2, 3), (3, 4))])
row("vdot", fnp.vdot, np.vdot, [((3,), (3,)), ((2, 3), (2, 3))])
row("inner", fnp.inner, np.inner, [((3,), (3,)), ((2, 3), (4, 3)), ((), (3,))])
row("outer", fnp.outer, np.outer, [((3,), (4,)), ((2, 2), (3,))])
row("tensordot", fnp.tensordot, np.tensordot, [((2, 3, 4), (3, 4, 2)), ((3, 4), (3, 4))])
row("tensordot-axes1", lambda a, b: fnp.tensordot(a, b, axes=1),
    lambda a, b: np.tensordot(a, b, axes=1), [((2, 3), (3, 4)), ((3,), (3, 2))])
row("tensordot-axes-lists", lambda a, b: fnp.tensordot(a, b, axes=([1, 0], [0, 2])),
    lambda a, b: np.tensordot(a, b, axes=([1, 0], [0, 2])), [((2, 3), (3, 4, 2))])
for _sub, _sh in [("ij,jk->ik", ((2, 3), (3, 4))), ("ij,ij->", ((2, 3), (2, 3))),
                  ("ii->", ((3, 3),)), ("ii->i", ((3, 3),)), ("ij->ji", ((2, 3),)),
                  ("bij,bjk->bik", ((2, 2, 3), (2, 3, 2))), ("i,j->ij", ((2,), (3,))),
                  ("...ij,...jk->...ik", ((2, 2, 3), (2, 3, 2))),
                  ("ij,jk,kl->il", ((2, 3), (3, 2), (2, 2))), ("ijk,ik->j", ((2, 3, 2), (2, 2))),
                  ("ij,jk", ((2, 3), (3, 2))), ("iijj->", ((2, 2, 3, 3),)),
                  ("i,i,i->i", ((3,), (3,), (3,))), ("ij->", ((2, 3),)),
                  ("...i,...i->...", ((2, 1, 3), (4, 3))), ("ij,ij->ij", ((2, 1), (2, 3))),
                  ("...i,i->...", ((2, 3, 4), (4,))), ("i,ij,j", ((2,), (2, 3), (3,)))]:
    row(f"einsum-{_sub}", lambda *a, s=_sub: fnp.einsum(s, *a),
        lambda *a, s=_sub: np.einsum(s, *a), [_sh])
row("trace", fnp.trace, np.trace, [((3, 3),), ((2, 3),), ((2, 3, 4),)])
row("trace-offset", lambda a: fnp.trace(a, offset=1), lambda a: np.trace(a, offset=1),
    [((3, 3),), ((2, 4),)])
row("trace-axes", lambda a: fnp.trace(a, axis1=1, axis2=2),
    lambda a: np.trace(a, axis1=1, axis2=2), [((2, 3, 3),)])
row("norm", fnp.linalg.norm, np.linalg.norm, [((3,),), ((2, 3),), ((2, 2, 2),)], "nz")
for _kw, _sh in [({"ord": 1}, ((3,),)), ({"ord": np.inf}, ((3,),)), ({"ord": 3}, ((3,),)),
                 ({"ord": -np.inf}, ((3,),)), ({"ord": "fro"}, ((2, 3),)),
                 ({"ord": 1}, ((3, 3),)), ({"ord": np.inf}, ((3, 2),)),
                 ({"axis": 1}, ((2, 3),)), ({"axis": 0, "keepdims": True}, ((2, 3),)),
                 ({"axis": (1, 2)}, ((2, 2, 3),)), ({"keepdims": True}, ((2, 3),)),
                 ({"ord": 2, "axis": -1}, ((2, 3),))]:
    row(f"norm-{_kw}", lambda x, kw=_kw: fnp.linalg.norm(x, **kw),
        lambda x, kw=_kw: np.linalg.norm(x, **kw), [_sh], "distinct")
row("solve", fnp.linalg.solve, np.linalg.solve,
    [((3, 3), (3,)), ((3, 3), (3, 2)), ((2, 3, 3), (2, 3, 2)), ((2, 3, 3), (3,))],
    ("mat", "real"), rtol=1e-9)
row("inv", fnp.linalg.inv, np.linalg.inv, [((3, 3),), ((2, 3, 3),)], "mat", rtol=1e-9)
row("det", fnp.linalg.det, np.linalg.det, [((3, 3),), ((2, 3, 3),), ((1, 1),)], "mat",
    rtol=1e-9)
row("slogdet", lambda a: tuple(fnp.linalg.slogdet(a)), lambda a: tuple(np.linalg.slogdet(a)),
    [((3, 3),), ((2, 3, 3),)], "mat", rtol=1e-9)
row("slogdet-negative", lambda a: tuple(fnp.linalg.slogdet(-a)),
    lambda a: tuple(np.linalg.slogdet(-a)), [((3, 3),)], "mat", rtol=1e-9)
row("cholesky", fnp.linalg.cholesky, np.linalg.cholesky, [((3, 3),), ((2, 3, 3),)], "spd",
    rtol=1e-9)
row("cholesky-upper", lambda a: fnp.linalg.cholesky(a, upper=True),
    lambda a: np.linalg.cholesky(a, upper=True), [((3, 3),)], "spd", rtol=1e-9)
row("cholesky-symmetrize", lambda a: fnp.linalg.cholesky(a, symmetrize_input=True),
    lambda a: np.linalg.cholesky((a + a.T) / 2), [((3, 3),)], "spd", rtol=1e-9)

# -- shapes -----------------------------------------------------------------------------

for _name, _f, _g, _sh in [
    ("reshape", lambda x: fnp.reshape(x, (3, 2)), lambda x: np.reshape(x, (3, 2)),
     [((2, 3),), ((6,),)]),
    ("reshape-minus1", lambda x: fnp.reshape(x, (2, -1)), lambda x: np.reshape(x, (2, -1)),
     [((6,),), ((2, 2, 2),)]),
    ("reshape-shape-kw", lambda x: fnp.reshape(x, shape=(1, -1)),
     lambda x: np.reshape(x, shape=(1, -1)), [((),), ((2, 3),)]),
    ("reshape-int", lambda x: fnp.reshape(x, 6), lambda x: np.reshape(x, 6), [((2, 3),)]),
    ("ravel", fnp.ravel, np.ravel, [((),), ((2, 3),)]),
    ("transpose", fnp.transpose, np.transpose, [((),), ((3,),), ((2, 3),), ((2, 3, 4),)]),
    ("transpose-axes", lambda x: fnp.transpose(x, (1, 0, 2)),
     lambda x: np.transpose(x, (1, 0, 2)), [((2, 3, 4),)]),
    ("transpose-negative-axes", lambda x: fnp.transpose(x, (-1, 0, 1)),
     lambda x: np.transpose(x, (-1, 0, 1)), [((2, 3, 4),)]),
    ("swapaxes", lambda x: fnp.swapaxes(x, 0, -1), lambda x: np.swapaxes(x, 0, -1),
     [((2, 3),), ((2, 3, 4),)]),
    ("moveaxis", lambda x: fnp.moveaxis(x, 0, -1), lambda x: np.moveaxis(x, 0, -1),
     [((2, 3),), ((2, 3, 4),)]),
    ("moveaxis-numpy-ints", lambda x: fnp.moveaxis(x, np.int64(0), np.int32(-1)),
     lambda x: np.moveaxis(x, 0, -1), [((2, 3),)]),
    ("moveaxis-multi", lambda x: fnp.moveaxis(x, [0, 1], [-1, 0]),
     lambda x: np.moveaxis(x, [0, 1], [-1, 0]), [((2, 3, 4),)]),
    ("expand_dims", lambda x: fnp.expand_dims(x, 0), lambda x: np.expand_dims(x, 0),
     [((),), ((3,),), ((2, 3),)]),
    ("expand_dims-neg", lambda x: fnp.expand_dims(x, -1), lambda x: np.expand_dims(x, -1),
     [((3,),), ((2, 3),)]),
    ("expand_dims-tuple", lambda x: fnp.expand_dims(x, (0, 2)),
     lambda x: np.expand_dims(x, (0, 2)), [((3,),), ((2, 3),)]),
    ("squeeze", fnp.squeeze, np.squeeze, [((1,),), ((1, 3, 1),), ((2, 3),)]),
    ("squeeze-axis", lambda x: fnp.squeeze(x, axis=-1), lambda x: np.squeeze(x, axis=-1),
     [((1, 3, 1),), ((2, 1),)]),
    ("broadcast_to", lambda x: fnp.broadcast_to(x, (2, 3)), lambda x: np.broadcast_to(x, (2, 3)),
     [((),), ((3,),), ((2, 1),), ((1, 3),)]),
    ("tile", lambda x: fnp.tile(x, 2), lambda x: np.tile(x, 2), [((),), ((3,),), ((2, 3),)]),
    ("tile-tuple", lambda x: fnp.tile(x, (2, 1, 2)), lambda x: np.tile(x, (2, 1, 2)),
     [((3,),), ((2, 3),)]),
    ("repeat", lambda x: fnp.repeat(x, 2), lambda x: np.repeat(x, 2), [((),), ((2, 3),)]),
    ("repeat-axis", lambda x: fnp.repeat(x, 3, axis=1), lambda x: np.repeat(x, 3, axis=1),
     [((2, 3),)]),
    ("repeat-array", lambda x: fnp.repeat(x, [1, 0, 2], axis=-1),
     lambda x: np.repeat(x, [1, 0, 2], axis=-1), [((3,),), ((2, 3),)]),
    ("repeat-total-length-short", lambda x: fnp.repeat(x, 2, total_repeat_length=5),
     lambda x: np.repeat(x, 2)[:5], [((3,),)]),
    ("repeat-total-length-long", lambda x: fnp.repeat(x, [1, 2], axis=0, total_repeat_length=5),
     lambda x: np.concatenate([np.repeat(x, [1, 2], axis=0), x[-1:], x[-1:]]), [((2, 3),)]),
    ("flip", fnp.flip, np.flip, [((3,),), ((2, 3),)]),
    ("flip-axis", lambda x: fnp.flip(x, 1), lambda x: np.flip(x, 1), [((2, 3),)]),
    ("flip-axes", lambda x: fnp.flip(x, (0, -1)), lambda x: np.flip(x, (0, -1)),
     [((2, 3, 2),)]),
    ("pad", lambda x: fnp.pad(x, 1), lambda x: np.pad(x, 1), [((3,),), ((2, 3),)]),
    ("pad-pairs", lambda x: fnp.pad(x, ((1, 2), (0, 1))), lambda x: np.pad(x, ((1, 2), (0, 1))),
     [((2, 3),)]),
    ("pad-pair", lambda x: fnp.pad(x, (2, 1)), lambda x: np.pad(x, (2, 1)),
     [((3,),), ((2, 3),)]),
    ("pad-constant-values", lambda x: fnp.pad(x, 1, constant_values=1.5),
     lambda x: np.pad(x, 1, constant_values=1.5), [((3,),)]),
    ("pad-zero-width", lambda x: fnp.pad(x, ((0, 0), (1, 0))),
     lambda x: np.pad(x, ((0, 0), (1, 0))), [((2, 3),)]),
] + [
    (f"pad-{_m}", lambda x, m=_m: fnp.pad(x, ((2, 1), (3, 4)), mode=m),
     lambda x, m=_m: np.pad(x, ((2, 1), (3, 4)), mode=m), [((3, 3),), ((4, 2),)])
    for _m in ["edge", "reflect", "symmetric", "wrap"]
]:
    row(_name, _f, _g, _sh)
for _n, _f, _g, _sh in [
    ("diag-extract", lambda x: fnp.diag(x, 1), lambda x: np.diag(x, 1), [((3, 4),)]),
    ("diag-build", lambda x: fnp.diag(x, -1), lambda x: np.diag(x, -1), [((3,),)]),
    ("diagonal", lambda x: fnp.diagonal(x, 1, 0, 2), lambda x: np.diagonal(x, 1, 0, 2),
     [((3, 2, 4),)]),
    ("tril", lambda x: fnp.tril(x, -1), lambda x: np.tril(x, -1), [((3, 4),), ((2, 3, 3),)]),
    ("triu", lambda x: fnp.triu(x, 1), lambda x: np.triu(x, 1), [((3, 4),)]),
    ("roll", lambda x: fnp.roll(x, 2, axis=-1), lambda x: np.roll(x, 2, axis=-1),
     [((4,),), ((2, 3),)]),
    ("roll-flat", lambda x: fnp.roll(x, -1), lambda x: np.roll(x, -1), [((2, 3),)]),
    ("roll-multi", lambda x: fnp.roll(x, (1, -1), axis=(0, 1)),
     lambda x: np.roll(x, (1, -1), axis=(0, 1)), [((2, 3),)]),
    ("fliplr", fnp.fliplr, np.fliplr, [((2, 3),)]), ("flipud", fnp.flipud, np.flipud,
                                                     [((2, 3),)]),
    ("atleast_2d", fnp.atleast_2d, np.atleast_2d, [((),), ((3,),)]),
    ("array_split", lambda x: fnp.array_split(x, 3), lambda x: np.array_split(x, 3),
     [((7,),), ((4, 2),)]),
    ("average", lambda x: fnp.average(x, axis=1, weights=np.array([1.0, 2.0, 3.0])),
     lambda x: np.average(x, axis=1, weights=np.array([1.0, 2.0, 3.0])), [((2, 3),)]),
    ("average-axis0-square", lambda x: fnp.average(x, axis=0, weights=np.arange(1.0, 4.0)),
     lambda x: np.average(x, axis=0, weights=np.arange(1.0, 4.0)), [((3, 3),)]),
    ("average-returned", lambda x: fnp.average(x, axis=-1, returned=True),
     lambda x: np.average(x, axis=-1, returned=True), [((2, 3),)]),
]:
    row(_n, _f, _g, _sh)
row("hstack", lambda x, y: fnp.hstack([x, y]), lambda x, y: np.hstack([x, y]),
    [((3,), (2,)), ((2, 3), (2, 1))])
row("vstack", lambda x, y: fnp.vstack([x, y]), lambda x, y: np.vstack([x, y]),
    [((3,), (3,)), ((2, 3), (1, 3))])
row("column_stack", lambda x, y: fnp.column_stack([x, y]),
    lambda x, y: np.column_stack([x, y]), [((3,), (3,)), ((3, 2), (3,))])
row("concatenate", lambda x, y: fnp.concatenate([x, y]), lambda x, y: np.concatenate([x, y]),
    [((3,), (2,)), ((2, 3), (1, 3))])
row("concatenate-axis1", lambda x, y: fnp.concatenate((x, y, x), axis=1),
    lambda x, y: np.concatenate((x, y, x), axis=1), [((2, 3), (2, 1))])
row("concatenate-axisNone", lambda x, y: fnp.concatenate([x, y], axis=None),
    lambda x, y: np.concatenate([x, y], axis=None), [((2, 3), (4,))])
row("stack", lambda x, y: fnp.stack([x, y]), lambda x, y: np.stack([x, y]),
    [((), ()), ((3,), (3,)), ((2, 3), (2, 3))])
row("stack-axis", lambda x, y: fnp.stack((x, y), axis=-1),
    lambda x, y: np.stack((x, y), axis=-1), [((3,), (3,)), ((2, 3), (2, 3))])
row("split", lambda x: fnp.split(x, 2), lambda x: np.split(x, 2), [((4,),), ((2, 3),)])
row("split-indices", lambda x: fnp.split(x, [1, 3], axis=-1),
    lambda x: np.split(x, [1, 3], axis=-1), [((4,),), ((2, 5),)])
row("methods-shapes",
    traced(lambda x: x.T.reshape(-1) * 2 + x.reshape((3, 2)).ravel() + x.flatten()
           + x.transpose().reshape(3, 2).ravel() + x.swapaxes(0, 1).ravel()
           + x.astype(np.int64).astype(np.float64).ravel() + x.squeeze().ravel()),
    lambda x: x.T.reshape(-1) * 2 + x.reshape((3, 2)).ravel() + x.flatten()
    + x.transpose().reshape(3, 2).ravel() + x.swapaxes(0, 1).ravel()
    + x.astype(np.int64).astype(np.float64).ravel() + x.squeeze().ravel(),
    [((2, 3),)], rtol=1e-6)

# -- indexing ---------------------------------------------------------------------------

_IDX = [
    ("int", lambda x: x[1]), ("neg-int", lambda x: x[-1]), ("slice", lambda x: x[1:3]),
    ("step", lambda x: x[::2]), ("neg-step", lambda x: x[::-1]),
    ("neg-step2", lambda x: x[3:0:-2]), ("neg-step-empty", lambda x: x[0:3:-1]),
    ("ellipsis", lambda x: x[..., 1]), ("newaxis", lambda x: x[None, 1:]),
    ("newaxis-mid", lambda x: x[:, None]), ("int-slice", lambda x: x[1, 2:4]),
    ("int-array", lambda x: x[np.array([0, 2, 2])]), ("list", lambda x: x[[3, 0]]),
    ("two-arrays", lambda x: x[[0, 2], [1, 3]]), ("slice-array", lambda x: x[:, [1, 0]]),
    ("slice-then-array", lambda x: x[1:, [0, 2]]),
    ("array-2d", lambda x: x[np.array([[0, 1], [2, 3]])]),
    ("neg-array", lambda x: x[np.array([-1, 0])]),
    ("int-and-array", lambda x: x[1, [0, 2]]),
    ("bool-mask", lambda x: x[np.array([True, False, True, True])]),
    ("bool-mask-2d", lambda x: x[np.arange(20).reshape(4, 5)[:, :] % 3 == 0]),
    ("bool-mask-axis1", lambda x: x[:, np.array([True, False, True, False, True])]),
    ("negstep-and-array", lambda x: x[::-1, [1, 1, 4]]),
]
for _n, _f in _IDX:
    row(f"getitem-{_n}", traced(_f), _f, [((4, 5),)])
for _n, _f in [("3d-int-array-mid", lambda x: x[:, 1, [0, 2]]),
               ("3d-arrays-split", lambda x: x[[0, 1], :, [1, 2]]),
               ("3d-arrays-adjacent", lambda x: x[:, [0, 2], [1, 1]]),
               ("3d-ellipsis-array", lambda x: x[..., [2, 0]]),
               ("3d-slices", lambda x: x[1:, ::-2, 1::2])]:
    row(f"getitem-{_n}", traced(_f), _f, [((2, 3, 4),)])
row("getitem-vector-int", traced(lambda x: x[2]), lambda x: x[2], [((4,),)])
row("getitem-traced-int", lambda x, i: traced(lambda y, j: y[j])(x, i), lambda x, i: x[i],
    [((5,), ()), ((4, 5), ())], ("real", "int:-4:4"))
row("getitem-traced-int-slice", lambda x, i: traced(lambda y, j: y[j, 1:3])(x, i),
    lambda x, i: x[i, 1:3], [((4, 5), ())], ("real", "int:0:4"))
row("getitem-traced-int-axis1", lambda x, i: traced(lambda y, j: y[:, j])(x, i),
    lambda x, i: x[:, i], [((4, 5), ())], ("real", "int:0:4"))
row("getitem-traced-array", lambda x, i: traced(lambda y, j: y[j])(x, i), lambda x, i: x[i],
    [((5,), (3,)), ((4, 5), (2, 2))], ("real", "int:0:4"))
row("getitem-traced-out-of-range-clamps", lambda x, i: traced(lambda y, j: y[j])(x, i),
    lambda x, i: x[np.clip(np.where(i < 0, i + 5, i), 0, 4)], [((5,), ()), ((5,), (3,))],
    ("real", "int:-9:9"))
row("take", lambda x: fnp.take(x, np.array([2, 0, 2]), axis=1),
    lambda x: np.take(x, np.array([2, 0, 2]), axis=1), [((2, 3),), ((2, 3, 2),)])
row("take-flat", lambda x: fnp.take(x, [4, 0]), lambda x: np.take(x, [4, 0]), [((2, 3),)])
row("take-scalar", lambda x: fnp.take(x, 1, axis=0), lambda x: np.take(x, 1, axis=0),
    [((3,),), ((2, 3),)])
row("take-traced", fnp.take, np.take, [((5,), (3,)), ((2, 3), (2, 2))], ("real", "int:0:5"))
row("take-mode-clip", lambda x: fnp.take(x, [-1, 5, 1], mode="clip"),
    lambda x: np.take(x, [-1, 5, 1], mode="clip"), [((4,),)])
row("take-mode-wrap", lambda x: fnp.take(x, [-1, 5, 1], mode="wrap"),
    lambda x: np.take(x, [-1, 5, 1], mode="wrap"), [((4,),)])
_TAA_IDX = np.array([[2, 0, 1, 1], [0, 0, 2, 1]])
row("take_along_axis", lambda x: fnp.take_along_axis(x, _TAA_IDX, axis=1),
    lambda x: np.take_along_axis(x, _TAA_IDX, axis=1), [((2, 3),)])
row("take_along_axis-axis0", lambda x: fnp.take_along_axis(x, _TAA_IDX.T % 2, axis=0),
    lambda x: np.take_along_axis(x, _TAA_IDX.T % 2, axis=0), [((2, 2),)])
row("take_along_axis-broadcast", lambda x: fnp.take_along_axis(x, _TAA_IDX[:1], axis=1),
    lambda x: np.take_along_axis(x, _TAA_IDX[:1], axis=1), [((3, 3),)])
row("take_along_axis-broadcast-arr", lambda x: fnp.take_along_axis(x, _TAA_IDX, axis=1),
    lambda x: np.take_along_axis(np.broadcast_to(x, (2, 3)), _TAA_IDX, axis=1), [((1, 3),)])
row("take_along_axis-axisNone", lambda x: fnp.take_along_axis(x, np.array([3, 1, 1]), axis=None),
    lambda x: np.take_along_axis(x, np.array([3, 1, 1]), axis=None), [((4,),), ((2, 2),)])
row("take_along_axis-traced", fnp.take_along_axis,
    lambda x, i: np.take_along_axis(x, i, axis=-1), [((2, 3), (2, 4))], ("real", "int:0:3"))


def _np_at(x, idx, op, v):
    out = np.array(x, copy=True)
    if op == "set":
        out[idx] = v
    elif op == "add":
        np.add.at(out, idx, v)
    elif op == "multiply":
        np.multiply.at(out, idx, v)
    return out


_AT = [  # (name, index, op, value shape)
    ("set-int", 1, "set", (5,)), ("set-slice", slice(1, 3), "set", ()),
    ("set-negstep", (slice(None), slice(None, None, -2)), "set", (3,)),
    ("add-slice", slice(1, 3), "add", (2, 5)), ("add-dup", np.array([0, 0, 2]), "add", (3, 5)),
    ("set-two-arrays", ([0, 2], [1, 3]), "set", (2,)), ("add-col", (Ellipsis, 2), "add", (4,)),
    ("multiply-int", 2, "multiply", (5,)), ("multiply-arrays", ([0, 3], [1, 1]), "multiply", ()),
    ("multiply-dup", np.array([1, 1]), "multiply", (5,)),
    ("set-mask", np.array([True, False, True, False]), "set", ()),
]
for _n, _idx, _op, _vs in _AT:
    row(f"at-{_n}", lambda x, v, i=_idx, op=_op: getattr(fnp.at(x)[i], op)(v),
        lambda x, v, i=_idx, op=_op: _np_at(x, i, op, v), [((4, 5), _vs)], "nz")
row("at-get", lambda x: fnp.at(x)[1:, [0, 2]].get(), lambda x: x[1:, [0, 2]], [((4, 5),)])
row("at-method", traced(lambda x, v: x.at[1].set(v).at[2:].add(v).at[0].multiply(v)),
    lambda x, v: _np_at(_np_at(_np_at(x, 1, "set", v), slice(2, None), "add", v), 0,
                        "multiply", v), [((4, 3), (3,))], "nz")
row("at-traced-index", lambda x, i, v: traced(lambda y, j, w: y.at[j].add(w))(x, i, v),
    lambda x, i, v: _np_at(x, i, "add", v), [((5,), (), ()), ((4, 3), (2,), (2, 3))],
    ("real", "int:0:4", "real"))
def _np_at_drop(x, i, op, v):
    """x.at[i] update along axis 0 with JAX's semantics: out-of-range indices are dropped."""
    i = np.asarray(i)
    n = x.shape[0]
    keep = (i >= -n) & (i < n)
    v = np.broadcast_to(v, i.shape + x.shape[1:])
    return _np_at(x, i[keep], op, v[keep])


for _op in ["set", "add", "multiply"]:
    row(f"at-traced-out-of-range-dropped-{_op}",
        lambda x, i, v, op=_op: traced(lambda y, j, w: getattr(y.at[j], op)(w))(x, i, v),
        lambda x, i, v, op=_op: _np_at_drop(x, i, op, v),
        [((5,), (), ()), ((4, 3), (3,), (3, 3))], ("nz", "int:-9:9", "nz"))
row("at-multiply-dup-traced-index", lambda x, i, v: traced(lambda y, j, w: y.at[j].multiply(w))(
    x, i, v), lambda x, i, v: _np_at(x, i, "multiply", v), [((3,), (4,), (4,))],
    ("nz", "int:0:2", "nz"))
def _np_at_reduce(x, i, op, v):
    out = np.array(x, copy=True)
    getattr(np, op).at(out, i, v)
    return out


for _op, _np_op in [("min", "minimum"), ("max", "maximum")]:
    row(f"at-{_op}-repeats", lambda x, v, op=_op: getattr(fnp.at(x)[np.array([1, 1, 3])], op)(v),
        lambda x, v, op=_np_op: _np_at_reduce(x, np.array([1, 1, 3]), op, v),
        [((5,), (3,)), ((5, 2), (3, 2))], "distinct")
    row(f"at-{_op}-traced-index",
        lambda x, i, v, op=_op: traced(lambda y, j, w: getattr(y.at[j], op)(w))(x, i, v),
        lambda x, i, v, op=_np_op: _np_at_reduce(x, i, op, v), [((4,), (5,), (5,))],
        ("distinct", "int:0:3", "distinct"))
row("at-apply", lambda x: fnp.at(x)[np.array([0, 2, 2])].apply(fnp.sin),
    lambda x: _np_at(x, np.array([0, 2]), "set", np.sin(x[np.array([0, 2])])), [((4,),)])
row("at-subtract-divide", lambda x, v: fnp.at(fnp.at(x)[1:].subtract(v))[0].divide(v[0]),
    lambda x, v: _np_at(_np_at(x, slice(1, None), "add", -v), 0, "set", x[0] / v[0]),
    [((3,), (2,))], "nz")
row("at-multiply-dup-x-only", lambda x: fnp.at(x)[np.array([1, 1])].multiply(2.5),
    lambda x: _np_at(x, np.array([1, 1]), "multiply", 2.5), [((3,),)])

# -- creation (values, and their use inside transforms) -----------------------------------

row("zeros-at-set", traced(lambda x: fnp.zeros(4).at[1].set(x)),
    lambda x: _np_at(np.zeros(4), 1, "set", x), [((),)])
row("zeros-shape", lambda x: fnp.zeros((2, 3)) + x, lambda x: np.zeros((2, 3)) + x,
    [((),), ((3,),)])
row("ones-like", lambda x: fnp.ones_like(x) * x + fnp.zeros_like(x),
    lambda x: np.ones_like(x) * x + np.zeros_like(x), S_UNARY)
row("full-traced", lambda x: fnp.full((2, 3), x), lambda x: np.full((2, 3), x), [((),)])
row("full-traced-array", lambda x: fnp.full((2, 3), x), lambda x: np.full((2, 3), x),
    [((3,),)])
row("full_like", lambda x: fnp.full_like(x, 2.5) * x, lambda x: np.full_like(x, 2.5) * x,
    S_UNARY)
row("full_like-traced", lambda x, y: fnp.full_like(x, y), lambda x, y: np.full_like(x, y),
    [((3,), ())])
row("arange", lambda x: fnp.arange(3) * x + fnp.arange(1, 4) + fnp.arange(0.5, 2.0, 0.5),
    lambda x: np.arange(3) * x + np.arange(1, 4) + np.arange(0.5, 2.0, 0.5), [((),), ((3,),)])
row("linspace", lambda x: fnp.linspace(0.0, 1.0, 5) * x, lambda x: np.linspace(0.0, 1.0, 5) * x,
    [((),)])
row("linspace-traced", lambda x, y: fnp.linspace(x, y, 4), lambda x, y: np.linspace(x, y, 4),
    [((), ()), ((2,), (2,))])
row("linspace-no-endpoint", lambda x: fnp.linspace(x, 2.0, 4, endpoint=False),
    lambda x: np.linspace(x, 2.0, 4, endpoint=False), [((),)])
row("eye", lambda x: fnp.eye(3) * x + fnp.eye(3, 4, k=1)[:, :3] + fnp.identity(3),
    lambda x: np.eye(3) * x + np.eye(3, 4, k=1)[:, :3] + np.identity(3), [((),), ((3,),)])
row("array-of-tracers", lambda x, y: fnp.array([x, y, x * y]),
    lambda x, y: np.array([x, y, x * y]), [((), ()), ((2,), (2,))])
row("asarray-list", lambda x: fnp.asarray([[1.0, 2.0], [3.0, 4.0]]) @ x,
    lambda x: np.asarray([[1.0, 2.0], [3.0, 4.0]]) @ x, [((2,),)])
row("created-methods", lambda x: (fnp.ones(3) * x).sum() + fnp.zeros((2, 2)).T.sum()
    + fnp.arange(4.0).reshape(2, 2).max() + fnp.asarray(x).mean(),
    lambda x: (np.ones(3) * x).sum() + 3.0 + x.mean(), [((),), ((3,),)])

# -- issue 10: more of NumPy (composites; sort-like functions over the argsort primitive) --------

for _n, _d in {"arcsinh": "real", "arccosh": "gt1", "arctanh": "unit", "asinh": "real",
               "acosh": "gt1", "atanh": "unit", "trunc": "real", "fix": "real"}.items():
    row(_n, getattr(fnp, _n), getattr(np, _n), S_UNARY, _d)
for _n in ["fmax", "fmin"]:
    row(_n, getattr(fnp, _n), getattr(np, _n), S_BINARY, "distinct")
row("fmax-nan", lambda x, y: fnp.fmax(x, fnp.where(y > 0, np.nan, y)),
    lambda x, y: np.fmax(x, np.where(y > 0, np.nan, y)), S_BINARY[1:3], "distinct")
row("ldexp", fnp.ldexp, np.ldexp, S_BINARY[1:3], ("real", "int:-3:4"))
row("logaddexp2", fnp.logaddexp2, np.logaddexp2, S_BINARY)
row("signbit", fnp.signbit, np.signbit, S_UNARY, grad=False)
row("isposinf-isneginf", lambda x: (fnp.isposinf(1 / x), fnp.isneginf(-1 / x)),
    lambda x: (np.isposinf(1 / x), np.isneginf(-1 / x)), S_UNARY, grad=False)
for _kw in [{}, {"rtol": 0.3}, {"atol": 1.0, "equal_nan": True}]:
    row(f"isclose-{_kw}", lambda x, y, kw=_kw: fnp.isclose(x, y, **kw),
        lambda x, y, kw=_kw: np.isclose(x, y, **kw), S_BINARY, grad=False)
    row(f"allclose-{_kw}", lambda x, y, kw=_kw: fnp.allclose(x, y, **kw),
        lambda x, y, kw=_kw: np.bool_(np.allclose(x, y, **kw)), S_BINARY, grad=False)
row("array_equal", lambda x, y: (fnp.array_equal(x, y), fnp.array_equal(x, x),
                                 fnp.array_equal(x, x[None])),
    lambda x, y: (np.bool_(np.array_equal(x, y)), np.bool_(True), np.bool_(False)),
    S_BINARY[1:2], grad=False, vmap=False)
row("isclose-inf-nan", lambda x: fnp.isclose(x, np.array([np.inf, -np.inf, np.nan, 1.0]),
                                             equal_nan=True),
    lambda x: np.isclose(x, np.array([np.inf, -np.inf, np.nan, 1.0]), equal_nan=True),
    [((4,),)], grad=False)
for _ix in ["xy", "ij"]:
    row(f"meshgrid-{_ix}", lambda x, y, ix=_ix: fnp.meshgrid(x, y, indexing=ix),
        lambda x, y, ix=_ix: tuple(np.meshgrid(x, y, indexing=ix)), [((3,), (2,))])
    row(f"meshgrid-3-{_ix}", lambda x, y, z, ix=_ix: fnp.meshgrid(x, y, z, indexing=ix),
        lambda x, y, z, ix=_ix: tuple(np.meshgrid(x, y, z, indexing=ix)), [((3,), (2,), (2,))])
row("meshgrid-sparse", lambda x, y: fnp.meshgrid(x, y, sparse=True),
    lambda x, y: tuple(np.meshgrid(x, y, sparse=True)), [((3,), (2,))])
row("unstack", lambda x: fnp.unstack(x, axis=1), lambda x: tuple(np.moveaxis(x, 1, 0)),
    [((2, 3),), ((2, 3, 2),)])
row("vecdot", fnp.vecdot, lambda x, y: np.sum(x * y, axis=-1),
    [((3,), (3,)), ((2, 3), (3,)), ((2, 1, 3), (4, 3))])
row("matvec", fnp.matvec, lambda a, v: np.einsum("...ij,...j->...i", a, v),
    [((2, 3), (3,)), ((2, 2, 3), (2, 3)), ((2, 3), (4, 3))])
row("vecmat", fnp.vecmat, lambda v, a: np.einsum("...i,...ij->...j", v, a),
    [((2,), (2, 3)), ((4, 2), (2, 3))])
row("matrix_transpose", fnp.matrix_transpose, lambda x: np.swapaxes(x, -1, -2),
    [((2, 3),), ((2, 3, 4),)])
row("kron", fnp.kron, np.kron, [((2, 3), (2, 2)), ((3,), (2,)), ((2, 2), (3,)), ((), (2,))])
row("cross", fnp.cross, np.cross, [((3,), (3,)), ((2, 3), (3,)), ((2, 3), (2, 3))])
row("cross-axis", lambda a, b: fnp.cross(a, b, axis=0), lambda a, b: np.cross(a, b, axis=0),
    [((3, 2), (3, 2))])
row("cross-2d", lambda a, b: fnp.cross(a, b),
    lambda a, b: a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0], [((2,), (2,)), ((3, 2), (2,))])
row("cross-2-3", fnp.cross, np.cross, [((2,), (3,)), ((3,), (2,))])
for _k in [0, 1, -1]:
    row(f"tril_indices-{_k}", lambda x, k=_k: x[fnp.tril_indices(3, k)],
        lambda x, k=_k: x[np.tril_indices(3, k)], [((3, 3),)])
    row(f"triu_indices_from-{_k}", lambda x, k=_k: x[fnp.triu_indices_from(x, k)],
        lambda x, k=_k: x[np.triu_indices_from(x, k)], [((3, 4),)])
row("diag_indices", lambda x: x[fnp.diag_indices(3)], lambda x: x[np.diag_indices(3)],
    [((3, 3),)])
for _m in ["full", "same", "valid"]:
    row(f"convolve-{_m}", lambda a, v, m=_m: fnp.convolve(a, v, mode=m),
        lambda a, v, m=_m: np.convolve(a, v, mode=m), [((5,), (3,)), ((2,), (4,)), ((3,), (3,))])
    row(f"correlate-{_m}", lambda a, v, m=_m: fnp.correlate(a, v, mode=m),
        lambda a, v, m=_m: np.correlate(a, v, mode=m), [((5,), (3,)), ((2,), (4,))])
row("polyval", fnp.polyval, np.polyval, [((3,), ()), ((4,), (2, 3)), ((1,), (2,))])
for _n, _kw in [("n1", {}), ("n2", {"n": 2}), ("axis0", {"axis": 0}),
                ("prepend-append", {"prepend": 0.5, "append": np.array([[1.0], [2.0]])})]:
    row(f"diff-{_n}", lambda x, kw=_kw: fnp.diff(x, **kw), lambda x, kw=_kw: np.diff(x, **kw),
        [((2, 4),)] if _n == "prepend-append" else [((4,),), ((3, 4),)][_n == "axis0":])
row("ediff1d", lambda x: fnp.ediff1d(x, to_begin=[1.0], to_end=-1.0),
    lambda x: np.ediff1d(x, to_begin=[1.0], to_end=-1.0), [((4,),), ((2, 3),)])
row("trapezoid", fnp.trapezoid, np.trapezoid, [((4,),), ((2, 3),)])
row("trapezoid-x", lambda y, x: fnp.trapezoid(y, x), lambda y, x: np.trapezoid(y, x),
    [((4,), (4,)), ((2, 3), (3,))])
row("trapezoid-dx-axis", lambda y: fnp.trapezoid(y, dx=0.5, axis=0),
    lambda y: np.trapezoid(y, dx=0.5, axis=0), [((3, 2),)])
row("cov", fnp.cov, lambda x: np.cov(x).astype(x.dtype), [((3, 5),), ((5,),)], rtol=1e-9)
row("cov-options", lambda x, y: fnp.cov(x, y, rowvar=False, bias=True),
    lambda x, y: np.cov(x, y, rowvar=False, bias=True).astype(x.dtype), [((5, 2), (5,))],
    rtol=1e-9)
row("cov-weights", lambda x: fnp.cov(x, fweights=np.array([1, 2, 1, 3]),
                                     aweights=np.array([0.5, 1.0, 2.0, 1.5])),
    lambda x: np.cov(x, fweights=np.array([1, 2, 1, 3]),
                     aweights=np.array([0.5, 1.0, 2.0, 1.5])).astype(x.dtype), [((2, 4),)],
    rtol=1e-9)
# (NumPy computes cov and corrcoef of float32 data in float64; funcad keeps float32)
row("corrcoef", fnp.corrcoef, lambda x: np.corrcoef(x).astype(x.dtype), [((3, 5),)],
    rtol=1e-9, atol=1e-10)
row("corrcoef-xy", fnp.corrcoef, lambda x, y: np.corrcoef(x, y).astype(x.dtype),
    [((5,), (5,))], rtol=1e-9, atol=1e-10)
row("select", lambda c, x, y: fnp.select([c > 0.5, c < -0.5], [x, y], default=-1.0),
    lambda c, x, y: np.select([c > 0.5, c < -0.5], [x, y], default=-1.0),
    [((4,), (4,), (4,)), ((2, 3), (3,), ())])
row("piecewise", lambda x: fnp.piecewise(x, [x < 0, x > 1], [lambda t: t ** 2, 3.0,
                                                             lambda t: -t]),
    lambda x: np.piecewise(x, [x < 0, x > 1], [lambda t: t ** 2, 3.0, lambda t: -t]),
    S_UNARY[1:])
row("piecewise-one", lambda x: fnp.piecewise(x, x < 0, [fnp.sin, fnp.cos]),
    lambda x: np.piecewise(x, x < 0, [np.sin, np.cos]), S_UNARY[1:2])
for _ax in [None, 0, -1]:
    row(f"cumprod-axis{_ax}", lambda x, ax=_ax: fnp.cumprod(x, axis=ax),
        lambda x, ax=_ax: np.cumprod(x, axis=ax), [((5,),), ((2, 3),)], "nz")
row("cumprod-zero", lambda x: fnp.cumprod(x * np.array([1.0, 0.0, 1.0, 1.0])),
    lambda x: np.cumprod(x * np.array([1.0, 0.0, 1.0, 1.0])), [((4,),)])
row("cumulative_sum", lambda x: fnp.cumulative_sum(x, axis=-1, include_initial=True),
    lambda x: np.cumulative_sum(x, axis=-1, include_initial=True), [((3,),), ((2, 3),)])
row("cumulative_prod", lambda x: fnp.cumulative_prod(x, axis=0, include_initial=True),
    lambda x: np.cumulative_prod(x, axis=0, include_initial=True), [((3,),), ((2, 3),)], "nz")
for _ax in [-1, 0, None]:
    row(f"sort-axis{_ax}", lambda x, ax=_ax: fnp.sort(x, axis=ax),
        lambda x, ax=_ax: np.sort(x, axis=ax), [((5,),), ((3, 4),)], "distinct")
    row(f"argsort-axis{_ax}", lambda x, ax=_ax: fnp.argsort(x, axis=ax),
        lambda x, ax=_ax: np.argsort(x, axis=ax, kind="stable"), [((5,),), ((3, 4),)],
        "distinct", grad=False)
row("sort-descending", lambda x: fnp.sort(x, descending=True),
    lambda x: -np.sort(-x), [((5,),), ((3, 4),)], "distinct")
row("argsort-ties-stable", lambda x: (fnp.argsort(x), fnp.argsort(x, descending=True)),
    lambda x: (np.argsort(x, kind="stable"), np.argsort(-x, kind="stable")),
    [((7,),), ((3, 6),)], "int:0:3", grad=False)
row("argsort-nan", lambda x: fnp.argsort(fnp.where(x > 1, np.nan, x)),
    lambda x: np.argsort(np.where(x > 1, np.nan, x), kind="stable"), [((6,),), ((2, 5),)],
    grad=False)
row("sort-int", fnp.sort, np.sort, [((6,),)], "int:-5:5", grad=False)
row("lexsort", lambda a, b: fnp.lexsort((a, b)), lambda a, b: np.lexsort((a, b)),
    [((6,), (6,)), ((2, 5), (2, 5))], "int:0:3", grad=False)
_XP = np.array([-1.5, -0.4, 0.3, 0.9, 1.6])
row("interp", lambda x, fp: fnp.interp(x, _XP, fp), lambda x, fp: np.interp(x, _XP, fp),
    [((), (5,)), ((7,), (5,)), ((2, 3), (5,))])
row("interp-xp-left-right", lambda x, d: fnp.interp(x, fnp.cumsum(d) - 2.5, np.arange(5.0),
                                                    left=-1.0, right=9.0),
    lambda x, d: np.interp(x, np.cumsum(d) - 2.5, np.arange(5.0), left=-1.0, right=9.0),
    [((7,), (5,))], ("real", "pos"))
row("interp-period", lambda x, fp: fnp.interp(x, _XP, fp, period=2.0),
    lambda x, fp: np.interp(x, _XP, fp, period=2.0), [((7,), (5,))])
_SS = np.array([-1.0, -0.5, 0.0, 0.0, 0.7, 1.2])
for _side in ["left", "right"]:
    row(f"searchsorted-{_side}", lambda v, s=_side: fnp.searchsorted(_SS, v, side=s),
        lambda v, s=_side: np.searchsorted(_SS, v, side=s), S_UNARY, grad=False)
row("searchsorted-ties-nan", lambda v: (fnp.searchsorted(_SS, v), fnp.searchsorted(
    _SS, v, side="right")), lambda v: (np.searchsorted(_SS, v), np.searchsorted(_SS, v,
                                                                                 side="right")),
    [((5,),)], "int:-1:2", grad=False)
row("searchsorted-sorter", lambda v: fnp.searchsorted(_SS[::-1], v, sorter=np.arange(6)[::-1]),
    lambda v: np.searchsorted(_SS[::-1], v, sorter=np.arange(6)[::-1]), S_UNARY, grad=False)
for _n in ["median", "nanmedian"]:
    for _kw, _sh in [({}, [((5,),), ((2, 3),)]), ({"axis": 0}, [((3, 2),)]),
                     ({"axis": -1, "keepdims": True}, [((2, 4),)]),
                     ({"axis": (0, 2)}, [((2, 3, 2),)])]:
        row(f"{_n}-{_kw}", lambda x, n=_n, kw=_kw: getattr(fnp, n)(x, **kw),
            lambda x, n=_n, kw=_kw: getattr(np, n)(x, **kw), _sh, "distinct")
for _n, _q in [("quantile", 0.3), ("percentile", 30.0), ("nanquantile", 0.3),
               ("nanpercentile", 30.0)]:
    for _kw, _sh in [({}, [((5,),), ((2, 3),)]), ({"axis": 1}, [((2, 5),)]),
                     ({"axis": 0, "keepdims": True}, [((4, 2),)])] + [
            ({"method": _m}, [((6,),)]) for _m in ["lower", "higher", "nearest",
                                                     "midpoint"]]:
        row(f"{_n}-{_kw}", lambda x, n=_n, q=_q, kw=_kw: getattr(fnp, n)(x, q, **kw),
            lambda x, n=_n, q=_q, kw=_kw: getattr(np, n)(x, q, **kw), _sh, "distinct")
    row(f"{_n}-array-q", lambda x, n=_n, q=_q: getattr(fnp, n)(x, np.array([q, 2 * q]), axis=-1),
        lambda x, n=_n, q=_q: getattr(np, n)(x, np.array([q, 2 * q]), axis=-1),
        [((6,),), ((2, 5),)], "distinct")
row("quantile-traced-q", lambda x, q: fnp.quantile(x, q), lambda x, q: np.quantile(x, q),
    [((6,), ()), ((6,), (2,))], ("distinct", "prob"), grad_kw={"eps": 1e-4})
_NANMASK = np.array([False, True, False, False, True, False])
for _n in ["nansum", "nanprod", "nanmean", "nanvar", "nanstd", "nanmax", "nanmin",
           "nanmedian"]:
    row(f"{_n}-with-nans", lambda x, n=_n: getattr(fnp, n)(fnp.where(_NANMASK, np.nan, x),
                                                            axis=-1),
        lambda x, n=_n: getattr(np, n)(np.where(_NANMASK, np.nan, x), axis=-1),
        [((6,),), ((2, 6),)], "distinct")
    row(f"{_n}-axis-keepdims", lambda x, n=_n: getattr(fnp, n)(x, axis=0, keepdims=True),
        lambda x, n=_n: getattr(np, n)(x, axis=0, keepdims=True), [((3, 2),)], "distinct")
for _n in ["nanargmax", "nanargmin"]:
    row(f"{_n}-with-nans", lambda x, n=_n: getattr(fnp, n)(fnp.where(_NANMASK, np.nan, x),
                                                            axis=-1),
        lambda x, n=_n: getattr(np, n)(np.where(_NANMASK, np.nan, x), axis=-1),
        [((6,),), ((2, 6),)], "distinct", grad=False)
for _n in ["nancumsum", "nancumprod"]:
    row(f"{_n}-with-nans", lambda x, n=_n: getattr(fnp, n)(fnp.where(_NANMASK, np.nan, x),
                                                            axis=-1),
        lambda x, n=_n: getattr(np, n)(np.where(_NANMASK, np.nan, x), axis=-1),
        [((6,),), ((2, 6),)], "nz")
row("nanvar-ddof", lambda x: fnp.nanvar(x, ddof=1), lambda x: np.nanvar(x, ddof=1), [((5,),)])
row("nanmax-all-nan", lambda x: fnp.nanmax(fnp.where(np.array([[True] * 3, [False] * 3]),
                                                     np.nan, x), axis=1),
    lambda x: np.array([np.nan, np.max(x[1])], x.dtype), [((2, 3),)], "distinct", grad=False)


# -- issue 10: decompositions (sign-invariant outputs: v**2, u**2) and what uses them ------------

row("eigh", lambda a: (fnp.linalg.eigh(a)[0], fnp.linalg.eigh(a)[1] ** 2),
    lambda a: (np.linalg.eigh(a)[0], np.linalg.eigh(a)[1] ** 2), [((3, 3),), ((2, 3, 3),)],
    "spd", rtol=1e-8, atol=1e-10)
row("eigh-upper-no-symmetrize", lambda a: fnp.linalg.eigh(a, UPLO="U",
                                                          symmetrize_input=False)[1] ** 2,
    lambda a: np.linalg.eigh(a, UPLO="U")[1] ** 2, [((3, 3),)], "spd", rtol=1e-8, atol=1e-10)
row("eigvalsh", fnp.linalg.eigvalsh, np.linalg.eigvalsh, [((3, 3),)], "spd", rtol=1e-9)
for _sh in [((3, 3),), ((4, 3),), ((3, 4),), ((2, 4, 3),)]:
    row(f"svd-{_sh}", lambda a: (lambda r: (r.U ** 2, r.S, r.Vh ** 2))(
        fnp.linalg.svd(a, full_matrices=False)),
        lambda a: (lambda r: (r.U ** 2, r.S, r.Vh ** 2))(np.linalg.svd(a, full_matrices=False)),
        [_sh], rtol=1e-8, atol=1e-10)
row("svd-full-square", lambda a: (lambda r: (r[0] ** 2, r[1], r[2] ** 2))(fnp.linalg.svd(a)),
    lambda a: (lambda r: (r[0] ** 2, r[1], r[2] ** 2))(np.linalg.svd(a)), [((3, 3),)],
    rtol=1e-8, atol=1e-10)
row("svd-full-rect-values", lambda a: fnp.linalg.svd(a)[0] ** 2,
    lambda a: np.linalg.svd(a)[0] ** 2, [((4, 2),)], grad=False, rtol=1e-8, atol=1e-10)
row("svdvals", fnp.linalg.svdvals, lambda a: np.linalg.svd(a, compute_uv=False),
    [((3, 4),), ((2, 3, 2),)], rtol=1e-9)
row("svd-compute_uv-false", lambda a: fnp.linalg.svd(a, compute_uv=False),
    lambda a: np.linalg.svd(a, compute_uv=False), [((4, 3),)], rtol=1e-9)
row("qr", lambda a: tuple(fnp.linalg.qr(a)), lambda a: tuple(np.linalg.qr(a)),
    [((3, 3),), ((4, 3),), ((2, 4, 3),)], rtol=1e-8, atol=1e-10)
row("qr-mode-r", lambda a: fnp.linalg.qr(a, mode="r"), lambda a: np.linalg.qr(a, mode="r"),
    [((4, 3),)], rtol=1e-8, atol=1e-10)
row("qr-wide-values", lambda a: tuple(fnp.linalg.qr(a)), lambda a: tuple(np.linalg.qr(a)),
    [((3, 4),)], grad=False, rtol=1e-8, atol=1e-10)
row("pinv", fnp.linalg.pinv, np.linalg.pinv, [((3, 3),), ((4, 3),), ((3, 4),), ((2, 4, 3),)],
    rtol=1e-8, atol=1e-10)
for _p in [0, 1, 2, 3, 5, -2]:
    row(f"matrix_power-{_p}", lambda a, p=_p: fnp.linalg.matrix_power(a, p),
        lambda a, p=_p: np.linalg.matrix_power(a, p), [((3, 3),), ((2, 2, 2),)], "mat",
        rtol=1e-9)
row("multi_dot", lambda a, b, c, d: fnp.linalg.multi_dot([a, b, c, d]),
    lambda a, b, c, d: np.linalg.multi_dot([a, b, c, d]), [((3,), (3, 4), (4, 2), (2,)),
                                                            ((2, 3), (3, 4), (4, 2), (2, 2))])
row("matrix_rank", lambda a: fnp.linalg.matrix_rank(a), np.linalg.matrix_rank,
    [((3, 3),), ((4, 3),)], grad=False)
row("matrix_rank-deficient", lambda a: fnp.linalg.matrix_rank(a @ np.ones((3, 1)) @ a[:1]),
    lambda a: np.linalg.matrix_rank(a @ np.ones((3, 1)) @ a[:1]), [((3, 3),)], grad=False)
row("lstsq", lambda a, b: (lambda r: (r[0], r[1], r[3]))(fnp.linalg.lstsq(a, b)),
    lambda a, b: (lambda r: (r[0], r[1], r[3]))(np.linalg.lstsq(a, b)),
    [((4, 3), (4,)), ((5, 2), (5, 2))], rtol=1e-8, atol=1e-10)


# -- issue 10: funcad.lax operations (references: NumPy/SciPy or brute-force loops) -------------

import scipy.special as _sp  # noqa: E402

from funcad import lax  # noqa: E402

for _n, _ref, _d in [("erf", _sp.erf, "real"), ("erfc", _sp.erfc, "real"),
                     ("lgamma", _sp.gammaln, "pos"), ("digamma", _sp.digamma, "pos"),
                     ("erf_inv", _sp.erfinv, "unit"), ("logistic", _sp.expit, "real"),
                     ("rsqrt", lambda x: 1 / np.sqrt(x), "pos")]:
    row(f"lax.{_n}", getattr(lax, _n), _ref, S_UNARY, _d, rtol=1e-12)
row("lax.lgamma-gt1", lax.lgamma, _sp.gammaln, [((4,),)], "gt1", rtol=1e-12)
row("lax.digamma-reflection", lambda x: lax.digamma(x * 0.2 - 0.5),
    lambda x: _sp.digamma(x * 0.2 - 0.5), S_UNARY, "unit", rtol=1e-12)
row("lax.clamp", lambda x: lax.clamp(-0.5, x, 0.7), lambda x: np.clip(x, -0.5, 0.7), S_UNARY)
for _y in [0, 1, 2, 3, -2]:
    row(f"lax.integer_pow-{_y}", lambda x, y=_y: lax.integer_pow(x, y),
        lambda x, y=_y: x ** float(y), S_UNARY, "nz")
row("lax.rem", lax.rem, np.fmod, S_BINARY, ("real", "gt1"))
row("lax.sign", lax.sign, np.sign, S_UNARY, "nz")
row("lax.round-away", lambda x: lax.round(x * 4), lambda x: np.sign(x * 4) * np.floor(
    np.abs(x * 4) + 0.5), S_UNARY)
row("lax.round-even", lambda x: lax.round(x * 4, lax.RoundingMethod.TO_NEAREST_EVEN),
    lambda x: np.round(x * 4), S_UNARY)
row("lax.pad", lambda x: lax.pad(x, 0.5, [(1, 2, 1), (-1, 1, 0)]),
    lambda x: np.pad(np.insert(x, np.repeat(np.arange(1, x.shape[0]), 1), 0.5, axis=0),
                     ((1, 2), (0, 1)), constant_values=0.5)[:, 1:], [((3, 4),)])
row("lax.broadcast_in_dim", lambda x: lax.broadcast_in_dim(x, (2, 3, 4), (1,)),
    lambda x: np.broadcast_to(x[None, :, None], (2, 3, 4)), [((3,),)])
row("lax.reshape-dimensions", lambda x: lax.reshape(x, (3, 2), dimensions=(1, 0)),
    lambda x: x.T.reshape(3, 2), [((2, 3),)])
row("lax.dynamic_slice", lambda x, i: lax.dynamic_slice(x, (i, 1), (2, 2)),
    lambda x, i: x[min(max(i, 0), 2):min(max(i, 0), 2) + 2, 1:3], [((4, 4), ())],
    ("real", "int:-1:5"))
row("lax.dynamic_update_slice", lambda x, u, i: lax.dynamic_update_slice(x, u, (1, i)),
    lambda x, u, i: _np_at(x, (slice(1, 3), slice(min(max(i, 0), 2), min(max(i, 0), 2) + 2)),
                           "set", u), [((4, 4), (2, 2), ())], ("real", "real", "int:-1:5"))
row("lax.dynamic_index_in_dim", lambda x, i: lax.dynamic_index_in_dim(x, i, 1, False),
    lambda x, i: x[:, min(max(i, 0), 3)], [((2, 4), ())], ("real", "int:-1:5"))
row("lax.dynamic_update_index_in_dim", lambda x, u, i: lax.dynamic_update_index_in_dim(
    x, u, i, 0), lambda x, u, i: _np_at(x, min(max(i, 0), 2), "set", u),
    [((3, 4), (4,), ())], ("real", "real", "int:-1:4"))
row("lax.dot_general", lambda a, b: lax.dot_general(a, b, (((2,), (1,)), ((0,), (0,)))),
    lambda a, b: np.einsum("bij,bjk->bik", a, b), [((2, 3, 4), (2, 4, 2))])
row("lax.dot_general-multi", lambda a, b: lax.dot_general(a, b, (((0, 2), (2, 0)), ((), ()))),
    lambda a, b: np.einsum("icj,jdi->cd", a, b), [((2, 3, 4), (4, 2, 2))])
row("lax.dot", lax.dot, np.dot, [((3,), (3, 2)), ((2, 3), (3,))])
for _n, _nref in [("cumsum", np.cumsum), ("cumprod", np.cumprod),
                  ("cummax", np.maximum.accumulate), ("cummin", np.minimum.accumulate),
                  ("cumlogsumexp", np.logaddexp.accumulate)]:
    for _rev in [False, True]:
        row(f"lax.{_n}-reverse{_rev}", lambda x, n=_n, r=_rev: getattr(lax, n)(x, 1, r),
            lambda x, f=_nref, r=_rev: np.flip(f(np.flip(x, 1), axis=1), 1) if r else f(
                x, axis=1), [((2, 5),)], "distinct" if _n in ("cummax", "cummin") else "nz")
row("lax.associative_scan-pytree", lambda x, y: lax.associative_scan(
    lambda a, b: {"s": a["s"] + b["s"], "m": fnp.maximum(a["m"], b["m"])}, {"s": x, "m": y}),
    lambda x, y: {"s": np.cumsum(x, 0), "m": np.maximum.accumulate(y, 0)},
    [((5,), (5,)), ((6, 2), (6, 2))], "distinct")


def _np_rev_matmul_scan(x):
    """out[:, i] = x[:, n-1] @ ... @ x[:, i] (JAX: the scan of the reversed sequence)."""
    n = x.shape[1]
    out = np.empty_like(x)
    acc = x[:, n - 1]
    out[:, n - 1] = acc
    for i in range(n - 2, -1, -1):
        acc = acc @ x[:, i]
        out[:, i] = acc
    return out


row("lax.associative_scan-reverse-axis", lambda x: lax.associative_scan(
    fnp.matmul, x, reverse=True, axis=1), _np_rev_matmul_scan, [((2, 5, 2, 2),)])
row("lax.sort", lambda x: lax.sort(x, 0), lambda x: np.sort(x, 0), [((4, 3),)], "distinct")
row("lax.sort-multi", lambda k, v: lax.sort((fnp.floor(k), v), num_keys=1),
    lambda k, v: (np.sort(np.floor(k)), np.take_along_axis(
        v, np.argsort(np.floor(k), kind="stable"), -1)), [((6,), (6,)), ((2, 6), (2, 6))],
    "distinct")
row("lax.sort-two-keys", lambda a, b: lax.sort((a, b), num_keys=2),
    lambda a, b: (a[np.lexsort((b, a))], b[np.lexsort((b, a))]), [((8,), (8,))], "int:0:3",
    grad=False)
row("lax.top_k", lambda x: lax.top_k(x, 2)[0], lambda x: -np.sort(-x, -1)[..., :2],
    [((5,),), ((2, 4),)], "distinct")
row("lax.top_k-indices", lambda x: lax.top_k(x, 3)[1],
    lambda x: np.argsort(-x, -1, kind="stable")[..., :3].astype(np.int32),
    [((5,),), ((2, 4),)], "int:0:3", grad=False)


def _np_reduce_window(x, init, op, win, strides, pads, base=None, wdil=None):
    nd = x.ndim
    base, wdil = base or (1,) * nd, wdil or (1,) * nd
    shp = [(n - 1) * b + 1 for n, b in zip(x.shape, base)]
    xd = np.full(shp, init, x.dtype)
    xd[tuple(slice(None, None, b) for b in base)] = x
    xd = np.pad(xd, pads, constant_values=init)
    eff = [(w - 1) * d + 1 for w, d in zip(win, wdil)]
    outs = [(n - e) // s + 1 for n, e, s in zip(xd.shape, eff, strides)]
    out = np.empty(outs, x.dtype)
    for pos in itertools.product(*[range(o) for o in outs]):
        sl = tuple(slice(p * s, p * s + e, d) for p, s, e, d in zip(pos, strides, eff, wdil))
        out[pos] = op.reduce(xd[sl].ravel(), initial=init)
    return out


for _n, _args, _np_args, _sh in [
    ("maxpool", (-np.inf, lax.max, (2, 2), (2, 2), "VALID"),
     (-np.inf, np.maximum, (2, 2), (2, 2), ((0, 0), (0, 0))), [((4, 4),), ((4, 6),)]),
    ("maxpool-3d-same", (-np.inf, lax.max, (1, 3, 3), (1, 2, 2), "SAME"),
     (-np.inf, np.maximum, (1, 3, 3), (1, 2, 2), ((0, 0), (1, 1), (0, 1))), [((2, 5, 4),)]),
    ("sum-same", (0.0, lax.add, (3,), (1,), "SAME"), (0.0, np.add, (3,), (1,), ((1, 1),)),
     [((5,),)]),
    ("sum-init-pads", (1.0, lax.add, (2, 2), (1, 2), [(1, 0), (0, 2)]),
     (1.0, np.add, (2, 2), (1, 2), ((1, 0), (0, 2))), [((3, 4),)]),
]:
    row(f"lax.reduce_window-{_n}", lambda x, a=_args: lax.reduce_window(x, *a),
        lambda x, a=_np_args: _np_reduce_window(x, *a), _sh, "distinct")
row("lax.reduce_window-dilations", lambda x: lax.reduce_window(
    x, 0.0, lax.add, (2,), (2,), "VALID", base_dilation=(2,), window_dilation=(2,)),
    lambda x: _np_reduce_window(x, 0.0, np.add, (2,), (2,), ((0, 0),), (2,), (2,)), [((6,),)])


def _np_conv(lhs, rhs, strides, pads, lhs_dil=None, rhs_dil=None, groups=1):
    """Brute-force NC... / OI... convolution (cross-correlation)."""
    nsp = lhs.ndim - 2
    lhs_dil, rhs_dil = lhs_dil or (1,) * nsp, rhs_dil or (1,) * nsp
    shp = [(n - 1) * d + 1 for n, d in zip(lhs.shape[2:], lhs_dil)]
    x = np.zeros(lhs.shape[:2] + tuple(shp), lhs.dtype)
    x[(slice(None), slice(None)) + tuple(slice(None, None, d) for d in lhs_dil)] = lhs
    x = np.pad(x, ((0, 0), (0, 0)) + tuple(pads))
    o, i = rhs.shape[:2]
    eff = [(k - 1) * d + 1 for k, d in zip(rhs.shape[2:], rhs_dil)]
    outs = [(n - e) // s + 1 for n, e, s in zip(x.shape[2:], eff, strides)]
    out = np.zeros((lhs.shape[0], o, *outs), lhs.dtype)
    og = o // groups
    for oc in range(o):
        g = oc // og
        for pos in itertools.product(*[range(m) for m in outs]):
            sl = tuple(slice(p * s, p * s + e, d) for p, s, e, d in zip(pos, strides, eff,
                                                                          rhs_dil))
            patch = x[(slice(None), slice(g * i, (g + 1) * i)) + sl]
            out[(slice(None), oc) + pos] = np.sum(patch * rhs[oc], axis=tuple(
                range(1, nsp + 2)))
    return out


for _n, _kw, _ref_kw, _sh in [
    ("valid", {"window_strides": (1, 1), "padding": "VALID"},
     {"strides": (1, 1), "pads": ((0, 0), (0, 0))}, ((2, 3, 5, 4), (2, 3, 3, 2))),
    ("same-stride2", {"window_strides": (2, 2), "padding": "SAME"},
     {"strides": (2, 2), "pads": ((1, 1), (0, 1))}, ((1, 2, 5, 6), (3, 2, 3, 3))),
    ("dilated-padded", {"window_strides": (1, 2), "padding": [(1, 0), (2, 1)],
                        "lhs_dilation": (2, 1), "rhs_dilation": (1, 2)},
     {"strides": (1, 2), "pads": ((1, 0), (2, 1)), "lhs_dil": (2, 1), "rhs_dil": (1, 2)},
     ((1, 2, 3, 5), (2, 2, 2, 2))),
    ("groups", {"window_strides": (1, 1), "padding": "VALID", "feature_group_count": 2},
     {"strides": (1, 1), "pads": ((0, 0), (0, 0)), "groups": 2}, ((1, 4, 4, 3), (4, 2, 2, 2))),
    ("1d", {"window_strides": (2,), "padding": [(1, 1)]}, {"strides": (2,), "pads": ((1, 1),)},
     ((2, 2, 7), (3, 2, 3))),
]:
    row(f"lax.conv_general_dilated-{_n}",
        lambda x, w, kw=_kw: lax.conv_general_dilated(x, w, **kw),
        lambda x, w, kw=_ref_kw: _np_conv(x, w, **kw), [_sh], rtol=1e-9)
row("lax.conv_general_dilated-NHWC-HWIO",
    lambda x, w: lax.conv_general_dilated(x, w, (1, 1), "SAME",
                                          dimension_numbers=("NHWC", "HWIO", "NHWC")),
    lambda x, w: np.transpose(_np_conv(np.transpose(x, (0, 3, 1, 2)), np.transpose(
        w, (3, 2, 0, 1)), (1, 1), ((1, 1), (0, 1))), (0, 2, 3, 1)),
    [((2, 4, 3, 2), (3, 2, 2, 3))], rtol=1e-9)
row("lax.conv_general_dilated-batch-groups",
    lambda x, w: lax.conv_general_dilated(x, w, (2, 1), [(1, 0), (0, 1)], batch_group_count=2),
    # batch group b (the b-th half of the batch) with output-feature group b, concatenated
    lambda x, w: np.concatenate([_np_conv(x[2 * b:2 * b + 2], w[3 * b:3 * b + 3], (2, 1),
                                          ((1, 0), (0, 1))) for b in range(2)], axis=1),
    [((4, 2, 4, 3), (6, 2, 2, 2))], rtol=1e-9)
row("lax.conv", lambda x, w: lax.conv(x, w, (1, 1), "VALID"),
    lambda x, w: _np_conv(x, w, (1, 1), ((0, 0), (0, 0))), [((1, 2, 4, 4), (2, 2, 2, 2))],
    rtol=1e-9)


# -- issue 10: more of dir(jax.numpy) ----------------------------------------------------------

for _n, _f, _g, _sh, _d in [
    ("atleast_3d", fnp.atleast_3d, np.atleast_3d, [((),), ((3,),), ((2, 3),)], "real"),
    ("rot90", fnp.rot90, np.rot90, [((2, 3),), ((2, 3, 2),)], "real"),
    ("rot90-k", lambda x: (fnp.rot90(x, 2), fnp.rot90(x, -1, axes=(1, 0))),
     lambda x: (np.rot90(x, 2), np.rot90(x, -1, axes=(1, 0))), [((2, 3),)], "real"),
    ("append", lambda x: fnp.append(x, x[:1], axis=0), lambda x: np.append(x, x[:1], axis=0),
     [((2, 3),)], "real"),
    # (NumPy promotes float32 with a Python float, int ranges or float64 weights in
    # append, vander, poly*, geomspace and bincount; funcad keeps float32, as JAX)
    ("append-flat", lambda x: fnp.append(x, 2.0), lambda x: np.append(x, 2.0).astype(x.dtype),
     [((2, 3),)], "real"),
    ("delete", lambda x: fnp.delete(x, [0, 2], axis=1), lambda x: np.delete(x, [0, 2], axis=1),
     [((2, 4),)], "real"),
    ("delete-flat-slice", lambda x: fnp.delete(x, slice(1, 4)),
     lambda x: np.delete(x, slice(1, 4)), [((2, 3),)], "real"),
    ("insert-scalar", lambda x: fnp.insert(x, 1, 9.0, axis=1),
     lambda x: np.insert(x, 1, 9.0, axis=1), [((2, 3),)], "real"),
    ("insert-many", lambda x, v: fnp.insert(x, [1, 3, 1], v),
     lambda x, v: np.insert(x, [1, 3, 1], v), [((4,), (3,))], "real"),
    ("insert-array-at-scalar", lambda x, v: fnp.insert(x, -1, v, axis=0),
     lambda x, v: np.insert(x, -1, v, axis=0), [((3, 2), (2,))], "real"),
    ("ptp", lambda x: fnp.ptp(x, axis=-1), lambda x: np.ptp(x, axis=-1), [((4,),), ((2, 3),)],
     "distinct"),
    ("modf", fnp.modf, np.modf, S_UNARY, "real"),
    ("divmod", lambda x, y: fnp.divmod(x, y), lambda x, y: np.divmod(x, y), S_BINARY,
     ("real", "gt1")),
    ("angle", fnp.angle, np.angle, S_UNARY, "nz"),
    ("fabs", fnp.fabs, np.fabs, S_UNARY, "nz"),
    ("logspace", lambda x, y: fnp.logspace(x, y, 4), lambda x, y: np.logspace(x, y, 4),
     [((), ())], "real"),
    ("geomspace", lambda x, y: fnp.geomspace(x, y, 5),
     lambda x, y: np.geomspace(x, y, 5).astype(x.dtype), [((), ())], "pos"),
    ("vander", lambda x: fnp.vander(x, 4), lambda x: np.vander(x, 4).astype(x.dtype),
     [((3,),)], "real"),
    ("vander-increasing", lambda x: fnp.vander(x, increasing=True),
     lambda x: np.vander(x, increasing=True).astype(x.dtype), [((3,),)], "real"),
    ("tri-indices", lambda x: x * fnp.tri(3, 4, 1) + fnp.indices((3, 4))[1],
     lambda x: x * np.tri(3, 4, 1) + np.indices((3, 4))[1], [((3, 4),)], "real"),
    ("ix_", lambda x: x[fnp.ix_(np.array([0, 2]), np.array([1, 0, 3]))],
     lambda x: x[np.ix_(np.array([0, 2]), np.array([1, 0, 3]))], [((3, 4),)], "real"),
    ("rollaxis", lambda x: fnp.rollaxis(x, 2, 0), lambda x: np.rollaxis(x, 2, 0),
     [((2, 3, 4),)], "real"),
    ("unwrap", lambda x: fnp.unwrap(x * 3), lambda x: np.unwrap(x * 3), [((6,),), ((2, 5),)],
     "real"),
    ("gradient", fnp.gradient, lambda x: np.gradient(x), [((5,),)], "real"),
    ("gradient-2d", lambda x: fnp.gradient(x, 0.5), lambda x: tuple(np.gradient(x, 0.5)),
     [((3, 4),)], "real"),
    ("polyder-polyint", lambda p: (fnp.polyder(p, 2), fnp.polyint(p, 2, k=[1.0, 2.0])),
     lambda p: (np.polyder(p, 2).astype(p.dtype), np.polyint(p, 2, k=[1.0, 2.0]).astype(
         p.dtype)), [((4,),)], "real"),
    ("polyadd-sub-mul", lambda a, b: (fnp.polyadd(a, b), fnp.polysub(a, b), fnp.polymul(a, b)),
     lambda a, b: (np.polyadd(a, b), np.polysub(a, b), np.polymul(a, b)), [((3,), (2,))],
     "real"),
    ("polyfit", lambda x, y: fnp.polyfit(x, y, 2),
     lambda x, y: np.polyfit(x, y, 2).astype(x.dtype), [((6,), (6,))], ("distinct", "real")),
    ("vectorize", lambda x, y: fnp.vectorize(lambda a, b: fnp.sin(a) * b + 1)(x, y),
     lambda x, y: np.sin(x) * y + 1, S_BINARY, "real"),
    ("apply_along_axis", lambda x: fnp.apply_along_axis(lambda v: v[:2] * fnp.sum(v), 1, x),
     lambda x: np.apply_along_axis(lambda v: v[:2] * np.sum(v), 1, x), [((3, 4),)], "real"),
    ("apply_along_axis-scalar", lambda x: fnp.apply_along_axis(fnp.max, 0, x),
     lambda x: np.apply_along_axis(np.max, 0, x), [((3, 4),)], "distinct"),
    ("choose", lambda i, x, y: fnp.choose(i, [x, y]), lambda i, x, y: np.choose(i, [x, y]),
     [((4,), (4,), (4,))], ("int:0:2", "real", "real")),
    ("compress", lambda x: fnp.compress([True, False, True], x, axis=1),
     lambda x: np.compress([True, False, True], x, axis=1), [((2, 3),)], "real"),
]:
    row(_n, _f, _g, _sh, _d)
row("count_nonzero", lambda x: fnp.count_nonzero(x, axis=0),
    lambda x: np.count_nonzero(x, axis=0), [((3, 4),)], "int:-1:2", grad=False)
row("digitize", lambda x: (fnp.digitize(x, np.array([-1.0, 0.0, 1.5])),
                           fnp.digitize(x, np.array([1.5, 0.0, -1.0]), right=True)),
    lambda x: (np.digitize(x, np.array([-1.0, 0.0, 1.5])),
               np.digitize(x, np.array([1.5, 0.0, -1.0]), right=True)), S_UNARY, grad=False)
row("isin", lambda x: (fnp.isin(x, [0, 2]), fnp.isin(x, np.array([[1]]), invert=True)),
    lambda x: (np.isin(x, [0, 2]), np.isin(x, np.array([[1]]), invert=True)),
    [((5,),), ((2, 3),)], "int:0:4", grad=False)
row("bincount", lambda x: fnp.bincount(x, length=5), lambda x: np.bincount(x, minlength=5),
    [((6,),)], "int:0:5", grad=False)
row("bincount-weights", lambda w: fnp.bincount(np.array([0, 2, 2, 1]), w, length=4),
    lambda w: np.bincount(np.array([0, 2, 2, 1]), w, minlength=4).astype(w.dtype), [((4,),)])
row("unravel-ravel-index", lambda i: (fnp.unravel_index(i, (3, 4)),
                                      fnp.ravel_multi_index(fnp.unravel_index(i, (3, 4)), (3, 4))),
    lambda i: (np.unravel_index(i, (3, 4)), i), [((), ), ((5,),)], "int:0:12", grad=False)
row("linalg.cond", fnp.linalg.cond, np.linalg.cond, [((3, 3),), ((2, 3, 3),)], "mat",
    rtol=1e-9)
row("linalg.cond-1", lambda a: fnp.linalg.cond(a, 1), lambda a: np.linalg.cond(a, 1),
    [((3, 3),)], "mat", rtol=1e-9)
for _o in ["fro", "nuc", 2, -2, 1, np.inf]:
    row(f"linalg.matrix_norm-{_o}", lambda a, o=_o: fnp.linalg.matrix_norm(a, ord=o),
        lambda a, o=_o: np.linalg.matrix_norm(a, ord=o), [((3, 3),), ((2, 3, 4),)], "nz",
        rtol=1e-9)
row("linalg.vector_norm", lambda x: fnp.linalg.vector_norm(x, axis=-1, ord=3),
    lambda x: np.linalg.vector_norm(x, axis=-1, ord=3), [((2, 3),)], "nz")
row("linalg.vector_norm-all", lambda x: fnp.linalg.vector_norm(x, keepdims=True),
    lambda x: np.linalg.vector_norm(x, keepdims=True), [((2, 3),)], "nz")
row("linalg.array-api", lambda a, b: (fnp.linalg.vecdot(a, b), fnp.linalg.cross(a, b),
                                      fnp.linalg.outer(a[0], b[1]), fnp.linalg.diagonal(a),
                                      fnp.linalg.trace(a), fnp.linalg.matmul(a, b.T),
                                      fnp.linalg.matrix_transpose(a),
                                      fnp.linalg.tensordot(a, b, axes=2)),
    lambda a, b: (np.linalg.vecdot(a, b), np.linalg.cross(a, b), np.linalg.outer(a[0], b[1]),
                  np.linalg.diagonal(a), np.linalg.trace(a), np.linalg.matmul(a, b.T),
                  np.linalg.matrix_transpose(a), np.linalg.tensordot(a, b, axes=2)),
    [((3, 3), (3, 3))])
row("linalg.tensorinv", lambda a: fnp.linalg.tensorinv(a.reshape(4, 2, 2), ind=1),
    lambda a: np.linalg.tensorinv(a.reshape(4, 2, 2), ind=1), [((4, 4),)], "mat", rtol=1e-9)
row("linalg.tensorsolve", lambda a, b: fnp.linalg.tensorsolve(a.reshape(2, 3, 2, 3) + 0, b),
    lambda a, b: np.linalg.tensorsolve(a.reshape(2, 3, 2, 3), b), [((6, 6), (2, 3))],
    ("mat", "real"), rtol=1e-9)


# -- issue 10: lax.reduce and lax.linalg -------------------------------------------------------

row("lax.reduce-add", lambda x: lax.reduce(x, 0.0, lax.add, (0,)),
    lambda x: np.sum(x, axis=0), [((3, 4),)])
row("lax.reduce-max-init", lambda x: lax.reduce(x, 0.5, lax.max, (1,)),
    lambda x: np.maximum(np.max(x, axis=1), 0.5), [((3, 4),)], "distinct")
row("lax.reduce-pytree-custom", lambda x, y: lax.reduce(
    (x, y), (0.0, 1.0), lambda a, b: (a[0] + b[0] * a[1], a[1] * b[1]), (1,)),
    lambda x, y: (lambda ps: ((x * np.concatenate([np.ones((2, 1), x.dtype), ps[:, :-1]],
                                                  1)).sum(1), ps[:, -1]))(np.cumprod(y, 1)),
    [((2, 3), (2, 3))])
row("lax.linalg.triangular_solve", lambda a, b: (
    lax.linalg.triangular_solve(a, b, left_side=True, lower=True),
    lax.linalg.triangular_solve(a, b.T, left_side=False, lower=False, transpose_a=True),
    lax.linalg.triangular_solve(a, b, left_side=True, lower=True, unit_diagonal=True)),
    lambda a, b: (np.linalg.solve(np.tril(a), b), b.T @ np.linalg.inv(np.triu(a).T),
                  np.linalg.solve(np.tril(a, -1) + np.eye(3, dtype=a.dtype), b)),
    [((3, 3), (3, 2))], ("mat", "real"), rtol=1e-9)
row("lax.linalg.eigh-cholesky", lambda a: (lax.linalg.eigh(a)[1], lax.linalg.cholesky(a)),
    lambda a: (np.linalg.eigh(a)[0], np.linalg.cholesky(a)), [((3, 3),)], "spd", rtol=1e-9)
row("lax.linalg.svd-qr", lambda a: (lax.linalg.svd(a, compute_uv=False),
                                    lax.linalg.qr(a, full_matrices=False)),
    lambda a: (np.linalg.svd(a, compute_uv=False), tuple(np.linalg.qr(a))), [((4, 3),)],
    rtol=1e-9, atol=1e-12)


# ----------------------------------------------------------------------------------
# Checks


def _cases(rows):
    for r in rows:
        for shapes in r.shapes:
            yield pytest.param(r, shapes, id=f"{r.name}-{'-'.join(map(str, shapes))}"
                               .replace(" ", ""))


def _assert_tree_close(actual, expected, rtol, atol, what="", check_dtype=True):
    a_leaves, a_tree = tree_flatten(actual)
    e_leaves, e_tree = tree_flatten(expected)
    assert a_tree == e_tree, f"{what}: structure {a_tree} != {e_tree}"
    for a, e in zip(a_leaves, e_leaves):
        a, e = np.asarray(a), np.asarray(e)
        assert a.shape == e.shape, f"{what}: shape {a.shape} != {e.shape}"
        if check_dtype:
            assert a.dtype == e.dtype, f"{what}: dtype {a.dtype} != {e.dtype}"
        if a.dtype == bool or np.issubdtype(a.dtype, np.integer):
            np.testing.assert_array_equal(a, e, err_msg=what)
        else:
            np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, err_msg=what)


def _as_tuple_out(out):
    return tuple(out) if isinstance(out, list) else out


def _split_args(r: Row, args):
    """Float arguments (differentiated) and a function of them only."""
    doms = r.domains_for(len(args))
    fl = [i for i, d in enumerate(doms) if _is_float_domain(d)]

    def f(*fargs):
        full = list(args)
        for i, a in zip(fl, fargs):
            full[i] = a
        return _as_tuple_out(r.fn(*full))
    f.__name__ = r.name
    return f, [args[i] for i in fl]


@pytest.mark.parametrize("r,shapes", list(_cases(ROWS)))
def test_value(r: Row, shapes):
    args = r.args(shapes)
    out = _as_tuple_out(r.fn(*args))
    expected = _as_tuple_out(r.ref(*args))
    _assert_tree_close(out, expected, r.rtol, r.atol, f"{r.name} value")
    for leaf in tree_leaves(out):
        assert isinstance(leaf, (np.ndarray, np.generic)), type(leaf)


_GRAD_ROWS = [r for r in ROWS if r.grad]


@pytest.mark.parametrize("r,shapes", list(_cases(_GRAD_ROWS)))
def test_grads(r: Row, shapes):
    f, fargs = _split_args(r, r.args(shapes))
    check_grads(f, fargs, order=2, modes=("fwd", "rev"), **r.grad_kw)


def _in_axes_options(shapes) -> list[tuple]:
    n = len(shapes)
    opts = {(0,) * n, tuple(min(1, len(s)) for s in shapes)}
    for i in range(n):
        opts.add(tuple(0 if j == i else None for j in range(n)))
        if n > 1:
            opts.add(tuple(len(s) if j == i else None for j, s in enumerate(shapes)))
    return sorted(opts, key=str)


def _batched_args(r: Row, shapes, in_axes):
    per_elem = [r.args(shapes, seed=k) for k in range(BATCH)]
    bargs = []
    for i, ax in enumerate(in_axes):
        if ax is None:
            bargs.append(per_elem[0][i])
        else:
            bargs.append(np.stack([p[i] for p in per_elem], axis=ax))
    return per_elem, bargs


def _loop(r: Row, per_elem, in_axes):
    outs = []
    for k in range(BATCH):
        args = [per_elem[k][i] if ax is not None else per_elem[0][i]
                for i, ax in enumerate(in_axes)]
        outs.append(_as_tuple_out(r.fn(*args)))
    return tree_map(lambda *xs: np.stack(xs), *outs)


_VMAP_CASES = [pytest.param(r, s, ax, id=f"{p.id}-in_axes{ax}".replace(" ", ""))
               for p in _cases([r for r in ROWS if r.vmap]) for r, s in [p.values]
               for ax in _in_axes_options(s)]


@pytest.mark.parametrize("r,shapes,in_axes", _VMAP_CASES)
def test_vmap(r: Row, shapes, in_axes):
    per_elem, bargs = _batched_args(r, shapes, in_axes)
    out = _as_tuple_out(fa.vmap(r.fn, in_axes=in_axes)(*bargs))
    _assert_tree_close(out, _loop(r, per_elem, in_axes), 1e-9, 1e-12, f"{r.name} vmap")


def _everything(r: Row, args, rng):
    """One program with the row's value, a vjp, a jvp and a vmap (for jit vs eager)."""
    f, fargs = _split_args(r, args)
    _, in_axes = None, (0,) * len(args)
    per_elem, bargs = _batched_args(r, [np.shape(a) for a in args], in_axes)
    del per_elem
    cts = ts = None
    if r.grad:
        out = f(*fargs)
        cts = tree_map(lambda o: rng.standard_normal(np.shape(o)), out)
        ts = tuple(rng.standard_normal(np.shape(a)) for a in fargs)

    def program(args, fargs, bargs):
        res = {"value": r.fn(*args)}
        if r.vmap:
            res["vmap"] = fa.vmap(r.fn)(*bargs)
        if r.grad:
            g, _ = _split_args(r, args)
            res["vjp"] = fa.vjp(g, *fargs)[1](cts)
            res["jvp"] = fa.jvp(g, tuple(fargs), ts)[1]
        return res
    return program, (list(args), list(fargs), bargs)


@pytest.mark.parametrize("driver", ["auto", "python"])
@pytest.mark.parametrize("r,shapes", list(_cases([r for r in ROWS if r.jit])))
def test_jit_matches_eager(r: Row, shapes, driver, monkeypatch):
    # "python": the program split into kernels under a Python driver, whatever its size.
    monkeypatch.setenv("FUNCAD_DRIVER", driver)
    args = r.args(shapes)
    program, pargs = _everything(r, args, np.random.default_rng(1))
    eager = program(*pargs)
    jitted = fa.jit(program)(*pargs)
    _assert_tree_close(jitted, eager, 1e-9, 1e-12, f"{r.name} jit")


# ----------------------------------------------------------------------------------
# dtype rules: float64 default, float32 stays float32, JAX's promotion

# Result dtypes (JAX's rules) and their values, row by row against dtypes recorded from
# JAX: tests/test_dtypes.py.


def test_float32_grad_stays_float32():
    x = np.linspace(0.1, 1.0, 4, dtype=np.float32)
    g = fa.grad(lambda x: fnp.sum(fnp.sin(x) * 2.0 + x ** 2 / 3))(x)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, 2 * np.cos(x) + 2 * x / 3, rtol=1e-5)
    h = fa.vmap(fa.grad(lambda x: fnp.tanh(x) * 0.5))(x)
    assert h.dtype == np.float32


# ----------------------------------------------------------------------------------
# Things the table cannot express


def test_array_attributes_on_tracers():
    seen = {}

    def f(x):
        seen.update(shape=x.shape, ndim=x.ndim, dtype=x.dtype, size=x.size, T=x.T.shape,
                    len=len(x))
        return x.sum()
    fa.grad(f)(np.ones((2, 3)))
    assert seen == {"shape": (2, 3), "ndim": 2, "dtype": np.float64, "size": 6, "T": (3, 2),
                    "len": 2}


def test_created_values_are_traced_inside_transforms():
    def f(x):
        z = fnp.zeros(3)
        assert hasattr(z, "at")
        return z.at[1].set(x).sum() + fnp.ones((2,)).at[0].add(x)[0]
    assert fa.grad(f)(1.5) == 2.0
    assert np.allclose(fa.vmap(f)(np.arange(3.0)), 2 * np.arange(3.0) + 1)


def test_at_functional_form_on_arrays():
    x = np.arange(5.0)
    np.testing.assert_array_equal(fnp.at(x)[1].set(9.0), [0, 9, 2, 3, 4])
    np.testing.assert_array_equal(fnp.at(x)[[1, 1]].add(1.0), [0, 3, 2, 3, 4])
    np.testing.assert_array_equal(fnp.at(x)[::2].multiply(2.0), [0, 1, 4, 3, 8])
    np.testing.assert_array_equal(fnp.at(x)[2:].get(), [2, 3, 4])
    np.testing.assert_array_equal(x, np.arange(5.0))  # never modified in place


def test_scatter_set_duplicates_gradient():
    # The last write wins, so only the last duplicate's update gets a gradient.
    def f(v):
        return fnp.sum(fnp.at(np.zeros(3))[np.array([0, 0, 2])].set(v) * np.arange(1.0, 4.0))
    v = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(f(v), 2.0 + 9.0)
    np.testing.assert_allclose(fa.grad(f)(v), [0.0, 1.0, 3.0])
    check_grads(f, (v,), order=2)


def test_item_assignment_on_tracers_names_the_fix():
    with pytest.raises(TypeError, match=r"\.at\[idx\]\.set"):
        traced(lambda x: x.__setitem__(0, 1.0))(np.ones(3))


def test_floor_divide_and_remainder_match_numpy_exactly():
    rng = np.random.default_rng(0)
    a = np.concatenate([[1.0, -1.0, 1.0, 7.5, -7.5, 0.0, 5.0, np.inf], rng.uniform(-9, 9, 200)])
    b = np.concatenate([[0.1, 0.1, -0.1, 2.0, 2.0, 3.0, 0.0, 2.0], rng.uniform(-3, 3, 200)])
    with np.errstate(all="ignore"):
        for f in ["floor_divide", "remainder", "mod", "fmod"]:
            np.testing.assert_array_equal(getattr(fnp, f)(a, b), getattr(np, f)(a, b), f)
            np.testing.assert_array_equal(traced(getattr(fnp, f))(a, b), getattr(np, f)(a, b))
    np.testing.assert_array_equal(fnp.round(np.array([15, 25, -35]), -1), [20, 20, -40])


def test_at_keyword_arguments():
    x = np.arange(4.0)
    np.testing.assert_array_equal(
        fnp.at(x)[1].set(9.0, indices_are_sorted=True, unique_indices=True, mode="drop"),
        [0, 9, 2, 3])
    with pytest.raises(NotImplementedError, match="fill"):
        fnp.at(x)[1].get(mode="fill", fill_value=np.nan)
    with pytest.raises(NotImplementedError, match="clip"):
        fnp.at(x)[1].add(1.0, mode="clip")
    with pytest.raises(TypeError, match="unexpected keyword argument 'bogus'"):
        fnp.at(x)[1].set(1.0, bogus=True)


def test_boolean_mask_needs_concrete_values():
    with pytest.raises(fa.ConcretizationTypeError, match="mask"):
        fa.grad(lambda x: fnp.sum(x[x > 0]))(np.ones(3))
    # JAX's NonConcreteBooleanIndexError, an IndexError (the thinking_in_jax port catches
    # `jit(lambda x: x[x < 0])` as one)
    with pytest.raises(fa.errors.NonConcreteBooleanIndexError, match="mask"):
        fa.jit(lambda x: x[x < 0])(np.ones(3))
    with pytest.raises(IndexError, match="mask"):
        fa.vmap(lambda x: x[x < 0])(np.ones((2, 3)))


def test_traced_slice_bounds_name_the_fix():
    with pytest.raises(fa.ConcretizationTypeError, match=r"i \+ fnp\.arange\(k\)"):
        fa.jit(lambda x, i: x[i:i + 2])(np.arange(5.0), 1)
    window = fa.jit(lambda x, i: x[i + fnp.arange(2)])(np.arange(5.0), 1)
    np.testing.assert_array_equal(window, [1.0, 2.0])


def test_index_out_of_bounds():
    with pytest.raises(IndexError, match="out of bounds"):
        traced(lambda x: x[5])(np.ones(3))
    with pytest.raises(IndexError, match="out of bounds"):
        traced(lambda x: x[np.array([0, 3])])(np.ones(3))
    with pytest.raises(IndexError, match="too many indices"):
        traced(lambda x: x[0, 0])(np.ones(3))


def test_shape_mismatch_messages_show_both_shapes():
    with pytest.raises(ValueError, match=r"\(2,\).*\(3,\)"):
        fnp.add(np.ones(2), np.ones(3))
    with pytest.raises(ValueError, match=r"\(2, ?3\).*\(2, ?3\)|not aligned"):
        fnp.matmul(np.ones((2, 3)), np.ones((2, 3)))
    with pytest.raises(ValueError, match="reshape"):
        fnp.reshape(np.ones(6), (4, 2))


def test_unsupported_cases_raise_clear_errors():
    with pytest.raises(NotImplementedError, match="pad"):
        fnp.pad(np.ones(3), 1, mode="median")
    with pytest.raises(TypeError, match="out="):
        fnp.sum(np.ones(3), out=np.zeros(()))
    with pytest.raises(ValueError, match="take"):
        fnp.take(np.ones(3), [0], mode="bogus")


def test_numpy_dispatch_protocols():
    def f(x):
        return np.sum(np.sin(x) * np.exp(x)) + np.dot(x, x) + np.linalg.norm(x)
    x = np.array([0.3, -0.7, 1.1])
    g = fa.grad(f)(x)
    expected = np.cos(x) * np.exp(x) + np.sin(x) * np.exp(x) + 2 * x + x / np.linalg.norm(x)
    np.testing.assert_allclose(g, expected, rtol=1e-12)
    check_grads(f, (x,), order=2)


def test_all_listed_functions_exist():
    listed = ["add", "subtract", "multiply", "divide", "true_divide", "negative", "power", "square", "sqrt", "exp", "expm1", "log", "log1p", "sin", "cos", "tan", "tanh", "sinh", "cosh", "arcsin", "arccos", "arctan", "arctan2", "abs", "sign", "maximum", "minimum", "clip", "where", "floor", "ceil", "round", "isnan", "isfinite", "logaddexp", "equal", "not_equal", "less", "less_equal", "greater", "greater_equal", "logical_and", "logical_or", "logical_not", "sum", "mean", "prod", "max", "min", "argmax", "argmin", "var", "std", "cumsum", "all", "any", "dot", "matmul", "vdot", "inner", "outer", "tensordot", "einsum", "trace", "reshape", "ravel", "transpose", "swapaxes", "moveaxis", "expand_dims", "squeeze", "broadcast_to", "concatenate", "stack", "split", "tile", "repeat", "flip", "pad", "take", "take_along_axis", "zeros", "ones", "full", "zeros_like", "ones_like", "full_like", "arange", "linspace", "eye", "array", "asarray", "at"]
    missing = [n for n in listed if not callable(getattr(fnp, n, None))]
    missing += [n for n in ["norm", "solve", "inv", "det", "slogdet", "cholesky"]
                if not callable(getattr(fnp.linalg, n, None))]
    assert not missing


@pytest.mark.parametrize("name", ["sum", "mean", "max", "prod", "var", "std", "argmax",
                                  "all", "cumsum", "reshape", "transpose", "take", "clip",
                                  "concatenate", "stack", "split", "pad", "repeat", "tile",
                                  "squeeze", "expand_dims", "moveaxis", "swapaxes", "flip",
                                  "linspace", "arange", "full", "einsum", "tensordot",
                                  "round", "where", "take_along_axis", "broadcast_to",
                                  "trace", "eye", "zeros", "ones", "full_like"])
def test_argument_names_match_numpy(name):
    import inspect
    np_params = [p for p in inspect.signature(getattr(np, name)).parameters.values()
                 if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
                 and p.name not in ("out", "like", "device", "copy", "order", "subok",
                                    "casting", "initial", "where", "newshape", "mean",
                                    "correction", "stable", "kind")]
    fa_params = inspect.signature(getattr(fnp, name)).parameters
    missing = [p.name for p in np_params if p.name not in fa_params]
    assert not missing, f"fnp.{name} lacks numpy's arguments {missing}"


def test_keepdims_argmax_axis_none():
    x = np.arange(6.0).reshape(2, 3)
    assert fnp.argmax(x, keepdims=True).shape == np.argmax(x, keepdims=True).shape


_ = itertools


# ----------------------------------------------------------------------------------
# vmap of derivatives: the batching rules of the primitives in jvp and transposed programs


def _derivative_fns(r: Row, args, rng):
    """vjp and jvp of the row as functions of (float args..., cotangent/tangent...)."""
    f, fargs = _split_args(r, args)
    out = f(*fargs)
    ct = tree_map(lambda o: rng.standard_normal(np.shape(o)), out)
    ct_leaves, ct_tree = tree_flatten(ct)
    n = len(fargs)

    def vjp_fn(*a):
        return fa.vjp(f, *a[:n])[1](tree_unflatten(ct_tree, list(a[n:])))

    def jvp_fn(*a):
        return fa.jvp(f, tuple(a[:n]), tuple(a[n:]))[1]
    return fargs, ct_leaves, vjp_fn, jvp_fn


def check_vmap_of_derivatives(r: Row, shapes):
    rng = np.random.default_rng(2)
    batches = [_derivative_fns(r, r.args(shapes, seed=k), rng) for k in range(BATCH)]
    _, _, vjp_fn, jvp_fn = batches[0]
    for fn, extra in [(vjp_fn, lambda b: b[1]), (jvp_fn, lambda b: list(b[0]))]:
        per = [list(b[0]) + list(extra(b)) for b in batches]
        n = len(per[0])
        for axes in [(0,) * n, tuple(None if i % 2 else np.ndim(per[0][i]) for i in range(n))]:
            if all(a is None for a in axes):
                continue
            bargs = [per[0][i] if ax is None else np.stack([p[i] for p in per], axis=ax)
                     for i, ax in enumerate(axes)]
            got = fa.vmap(fn, in_axes=axes)(*bargs)
            loop = [fn(*[per[k][i] if ax is not None else per[0][i]
                         for i, ax in enumerate(axes)]) for k in range(BATCH)]
            want = tree_map(lambda *xs: np.stack(xs), *loop)
            _assert_tree_close(got, want, 1e-9, 1e-12, f"{r.name} vmap of derivative {axes}")


@pytest.mark.parametrize("r,shapes", list(_cases([r for r in ROWS if r.grad and r.vmap])))
def test_vmap_of_derivatives(r: Row, shapes):
    check_vmap_of_derivatives(r, shapes)


def check_grad_of_vmap(r: Row, shapes):
    args = r.args(shapes)
    doms = r.domains_for(len(args))
    per = [r.args(shapes, seed=k) for k in range(BATCH)]
    axes = tuple(np.ndim(a) if i % 2 else 0 for i, a in enumerate(args))
    bargs = [np.stack([p[i] for p in per], axis=ax) for i, ax in enumerate(axes)]
    fl = [i for i, d in enumerate(doms) if _is_float_domain(d)]

    def g(*fargs):
        full = list(bargs)
        for i, a in zip(fl, fargs):
            full[i] = a
        return _as_tuple_out(fa.vmap(r.fn, in_axes=axes)(*full))
    check_grads(g, [bargs[i] for i in fl], order=1, modes=("fwd", "rev"), **r.grad_kw)


@pytest.mark.parametrize("r,shapes", list(_cases([r for r in ROWS if r.grad and r.vmap])))
def test_grad_of_vmap(r: Row, shapes):
    check_grad_of_vmap(r, shapes)


# ----------------------------------------------------------------------------------
# float32 stays float32: every row on float32 inputs, against NumPy on the same inputs


def _as_f32(r: Row, args):
    return [a.astype(np.float32) if _is_float_domain(d) else a
            for a, d in zip(args, r.domains_for(len(args)))]


@pytest.mark.parametrize("r", [pytest.param(r, id=r.name) for r in ROWS
                               if any(_is_float_domain(d) for d in r.domains_for(
                                   len(r.shapes[0])))])
def test_float32(r: Row):
    args = _as_f32(r, r.args(r.shapes[-1]))
    with np.errstate(all="ignore"):
        expected = _as_tuple_out(r.ref(*args))
    out = _as_tuple_out(r.fn(*args))
    _assert_tree_close(out, expected, 2e-5, 1e-5, f"{r.name} float32")
    if r.grad:
        f, fargs = _split_args(r, args)
        ct = tree_map(lambda o: np.ones(np.shape(o), np.asarray(o).dtype), f(*fargs))
        grads = fa.vjp(f, *fargs)[1](ct)
        for g, a in zip(grads, fargs):
            assert g.dtype == a.dtype, f"{r.name}: gradient dtype {g.dtype} for {a.dtype}"


@pytest.mark.parametrize("r,shapes", list(_cases([r for r in ROWS if r.grad and r.vmap])))
def test_jacfwd_equals_jacrev(r: Row, shapes):
    f, fargs = _split_args(r, r.args(shapes))
    argnums = tuple(range(len(fargs)))
    _assert_tree_close(fa.jacfwd(f, argnums)(*fargs), fa.jacrev(f, argnums)(*fargs), 1e-9,
                       1e-12, f"{r.name} jacfwd vs jacrev")


# ----------------------------------------------------------------------------------
# Plain NumPy calls on traced values dispatch to funcad (__array_ufunc__/__array_function__)

def _np_twin(r: Row):
    """The NumPy function of a row whose fn is a funcad.numpy function, else None."""
    for mod, fmod in ((np, fnp), (np.linalg, fnp.linalg)):
        name = getattr(r.fn, "__name__", "")
        if getattr(fmod, name, None) is r.fn and callable(getattr(mod, name, None)):
            return getattr(mod, name)
    return None


_DISPATCH_ROWS = [r for r in ROWS if _np_twin(r) is not None and all(
    _is_float_domain(d) for d in r.domains_for(len(r.shapes[0])))]


@pytest.mark.parametrize("r,shapes", list(_cases(_DISPATCH_ROWS)))
def test_numpy_calls_on_tracers_dispatch(r: Row, shapes):
    args = r.args(shapes)
    np_fn = _np_twin(r)
    out = _as_tuple_out(traced(lambda *a: _as_tuple_out(np_fn(*a)))(*args))
    _assert_tree_close(out, _as_tuple_out(r.ref(*args)), r.rtol, r.atol, f"numpy.{r.name}")
    if r.grad:
        check_grads(lambda *a: _as_tuple_out(np_fn(*a)), args, order=1)


def test_dispatch_covers_the_listed_functions():
    names = {getattr(r.fn, "__name__", "") for r in _DISPATCH_ROWS}
    assert len(names) >= 40, sorted(names)


@pytest.mark.parametrize("r", [pytest.param(r, id=r.name) for r in ROWS if r.jit])
def test_programs_typecheck(r: Row):
    """The jaxpr of the row's value, vjp, jvp and vmap (and their inner jaxprs) type-check."""
    from funcad._ir import typecheck_jaxpr
    program, pargs = _everything(r, r.args(r.shapes[-1]), np.random.default_rng(1))
    typecheck_jaxpr(fa.make_jaxpr(program)(*pargs).jaxpr)


def test_real_imag_conj():
    z = np.array([1 + 2j, 3 - 1j])
    np.testing.assert_array_equal(fnp.real(z), np.real(z))
    np.testing.assert_array_equal(fnp.imag(z), np.imag(z))
    np.testing.assert_array_equal(fnp.conj(z), np.conj(z))
    x = np.array([0.5, -1.5])
    g = fa.grad(lambda x: fnp.sum(fnp.real(x) * 2 + fnp.imag(x) + fnp.conj(x) + x.real + x.imag))
    np.testing.assert_array_equal(g(x), [4.0, 4.0])
    # Complex values trace too (issue 10; tests/test_complex.py covers them in depth).
    np.testing.assert_array_equal(fa.jit(fnp.real)(z), np.real(z))
    np.testing.assert_allclose(fa.jit(fnp.abs)(z), np.abs(z))


_EDGE = np.array([0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.5, -2.5, 1e-300, 1e300, -1e300, np.inf,
                  -np.inf, np.nan, 3.0, 7.0, 1e-8, 0.1])


@pytest.mark.parametrize("name", ["negative", "square", "sqrt", "exp", "expm1", "log", "log1p", "sin", "cos", "tan", "tanh", "sinh", "cosh", "arcsin", "arccos", "arctan", "abs", "sign", "floor", "ceil", "round", "isnan", "isfinite", "isinf", "exp2", "log2", "log10", "rint", "reciprocal", "deg2rad", "rad2deg", "sinc", "positive", "nan_to_num", "logical_not"])
def test_unary_edge_values_match_numpy(name):
    with np.errstate(all="ignore"):
        expected = getattr(np, name)(_EDGE)
        _assert_tree_close(getattr(fnp, name)(_EDGE), expected, 1e-14, 0, name)


@pytest.mark.parametrize("name", ["add", "subtract", "multiply", "divide", "power", "maximum", "minimum", "arctan2", "logaddexp", "hypot", "copysign", "fmod", "mod", "remainder", "floor_divide", "heaviside", "equal", "not_equal", "less", "less_equal", "greater", "greater_equal", "logical_and", "logical_or", "logical_xor", "float_power"])
def test_binary_edge_values_match_numpy(name):
    x, y = (v.ravel() for v in np.meshgrid(_EDGE, _EDGE))
    with np.errstate(all="ignore"):
        expected = getattr(np, name)(x, y)
        _assert_tree_close(getattr(fnp, name)(x, y), expected, 1e-13, 0, name)
