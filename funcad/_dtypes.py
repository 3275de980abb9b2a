"""JAX's dtype promotion (with x64 on): the type lattice, weak types, inexact dtypes.

funcad promotes as JAX does, not as NumPy does (docs/coverage.md, "dtypes"):
- every integer (and bool) sits below every float, and every float below the complex
  types of at least its width: int32 + float32 is float32, int64 + float32 is float32,
  int32 + complex64 is complex64 (NumPy: float64, float64, complex128);
- Python scalars (int, float, complex; not bool) are *weak*: they take the dtype of the
  array they meet if its kind can hold them (float32 + 2.0 is float32, uint8 + 1 is uint8),
  and the result of an operation whose operands are all weak is weak too;
- a bool or an integer of up to 32 bits made inexact (sin, mean, true division) becomes
  float32, a 64-bit integer float64 (`inexact_dtype`).

The lattice is a DAG over node names; a weak node ("i*", "f*", "c*") resolves to int64,
float64 or complex128 and marks the result weak.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from funcad._core import ShapedArray, Tracer

# Each node's immediate successors (JAX's lattice, non-strict mode, x64).
_EDGES = {
    "b1": ["i*"],
    "i*": ["u8", "i8"],
    "u8": ["i16", "u16"], "u16": ["i32", "u32"], "u32": ["i64", "u64"], "u64": ["f*"],
    "i8": ["i16"], "i16": ["i32"], "i32": ["i64"], "i64": ["f*"],
    "f*": ["f16", "c*"], "f16": ["f32"], "f32": ["f64", "c64"], "f64": ["c128"],
    "c*": ["c64"], "c64": ["c128"], "c128": [],
}

_NODE_OF_DTYPE = {np.dtype(k): v for k, v in [
    ("bool", "b1"), ("uint8", "u8"), ("uint16", "u16"), ("uint32", "u32"), ("uint64", "u64"),
    ("int8", "i8"), ("int16", "i16"), ("int32", "i32"), ("int64", "i64"),
    ("float16", "f16"), ("float32", "f32"), ("float64", "f64"),
    ("complex64", "c64"), ("complex128", "c128")]}
_DTYPE_OF_NODE = {v: k for k, v in _NODE_OF_DTYPE.items()}
# A weak node stands for the default dtype of its kind.
_DTYPE_OF_NODE.update({"i*": np.dtype(np.int64), "f*": np.dtype(np.float64),
                       "c*": np.dtype(np.complex128)})
_WEAK_NODE = {"i": "i*", "u": "i*", "f": "f*", "c": "c*", "b": "b1"}
_PY_WEAK = {int: ("i64", True), float: ("f64", True), complex: ("c128", True)}


def _upper_bounds() -> dict[str, frozenset]:
    ub: dict[str, frozenset] = {}

    def walk(n: str) -> frozenset:
        if n not in ub:
            ub[n] = frozenset({n}).union(*[walk(m) for m in _EDGES[n]])
        return ub[n]
    for n in _EDGES:
        walk(n)
    return ub


_UB = _upper_bounds()


@functools.cache
def _join(nodes: frozenset) -> str:
    """The least upper bound of lattice nodes."""
    common = frozenset.intersection(*[_UB[n] for n in nodes])
    for c in common:
        if common <= _UB[c]:
            return c
    raise TypeError(f"no common dtype for {sorted(nodes)}")  # (the lattice has one)


def _node(x: Any) -> tuple[str, bool]:
    """(lattice node of its dtype, weak) of a value: a Python scalar, an array, a tracer or
    a dtype."""
    t = type(x)
    if t in _PY_WEAK:
        return _PY_WEAK[t]
    if t is np.ndarray or isinstance(x, (np.ndarray, np.generic)):
        dt, weak = x.dtype, t is not np.ndarray and getattr(x, "_weak", False) is True
    elif isinstance(x, Tracer):
        dt, weak = x.aval.dtype, x.aval.weak_type
    elif isinstance(x, ShapedArray):
        dt, weak = x.dtype, x.weak_type
    elif t is bool:
        dt, weak = np.dtype(bool), False
    else:
        try:
            dt, weak = np.dtype(x), False
        except TypeError:
            dt, weak = np.asarray(x).dtype, False
    node = _NODE_OF_DTYPE.get(dt)
    if node is None:
        raise TypeError(f"funcad has no arrays of dtype {dt}")
    return node, weak


@functools.cache
def _promote_nodes(keys: tuple) -> tuple[np.dtype, bool]:
    if len(keys) == 1:
        node, weak = keys[0]
        return _DTYPE_OF_NODE[node], weak and node != "b1"
    nodes = {n for n, _ in keys}
    if len(nodes) == 1 and not all(w for _, w in keys):
        return _DTYPE_OF_NODE[next(iter(nodes))], False
    if all(w for _, w in keys):
        # all weak: promote their dtypes as strong ones, and keep the result weak
        return _DTYPE_OF_NODE[_join(frozenset(nodes))], True
    joined = _join(frozenset(_WEAK_NODE[_DTYPE_OF_NODE[n].kind] if w else n
                             for n, w in keys))
    return _DTYPE_OF_NODE[joined], joined.endswith("*")


def result_type_weak(*args: Any) -> tuple[np.dtype, bool]:
    """(dtype, weak) of combining values (arrays, tracers, Python scalars, dtypes) by JAX's
    promotion rules."""
    return _promote_nodes(tuple(_node(a) for a in args))


def result_type(*args: Any) -> np.dtype:
    """The dtype of combining values by JAX's promotion rules (x64 on)."""
    return _promote_nodes(tuple(_node(a) for a in args))[0]


def promote_types(a: Any, b: Any) -> np.dtype:
    """The promoted dtype of two dtypes (both strong), as jax.numpy.promote_types."""
    return _promote_nodes(((_NODE_OF_DTYPE[np.dtype(a)], False),
                           (_NODE_OF_DTYPE[np.dtype(b)], False)))[0]


_INEXACT = {np.dtype(k): np.dtype(np.float64 if np.dtype(k).itemsize == 8 else np.float32)
            for k in ["bool", "uint8", "int8", "uint16", "int16", "uint32", "int32",
                      "uint64", "int64"]}


def inexact_dtype(dtype: Any) -> np.dtype:
    """The dtype a bool/integer dtype becomes where a float is needed (sin, mean, x / y):
    float32 up to 32 bits and float64 for 64 bits, as JAX (also with x64 on).

    >>> inexact_dtype(np.int32), inexact_dtype(bool), inexact_dtype(np.int64)
    (dtype('float32'), dtype('float32'), dtype('float64'))
    """
    dtype = np.dtype(dtype)
    return _INEXACT.get(dtype, dtype)
