"""Shared helpers for writing primitive rules."""

from __future__ import annotations

from typing import Any

import numpy as np

from funcad._core import (
    ShapedArray,
    abstract_eval_rules,
    batch_rules,
    get_aval,
    impl_rules,
    jvp_rules,
    linear_primitives,
    new_primitive,
    nondiff_primitives,
    transpose_rules,
)
from funcad.interpreters.ad import Zero, is_undefined
from funcad.interpreters.batching import moveaxis


def shape_error(op: str, *avals: ShapedArray, extra: str = "") -> ValueError:
    shapes = " and ".join(str(a.shape) for a in avals)
    return ValueError(f"{op}: incompatible shapes {shapes}{extra}")


def same_shape_dtype(name: str, *avals: ShapedArray) -> ShapedArray:
    """Abstract eval of an n-ary elementwise op: all shapes and dtypes must agree."""
    a0 = avals[0]
    for a in avals[1:]:
        if a.shape != a0.shape:
            raise ValueError(f"{name}: operands have different shapes "
                             f"{' and '.join(str(a.shape) for a in avals)}; use "
                             f"funcad.numpy functions (which broadcast) or broadcast_to")
        if a.dtype != a0.dtype:
            raise TypeError(f"{name}: operands have different dtypes "
                            f"{' and '.join(a.dtype.name for a in avals)}")
    return a0 if not a0.weak_type else ShapedArray(a0.shape, a0.dtype)


def elementwise_batch(prim):
    """Batching rule for an elementwise primitive: align batch dims, then apply."""
    def rule(size, vals, dims, **params):
        # Fast path: every operand batched along the same dim.
        d0 = dims[0]
        if d0 is not None and all(d == d0 for d in dims):
            return prim.bind(*vals, **params), d0
        ranks = [get_aval(v).ndim - (0 if d is None else 1) for v, d in zip(vals, dims)]
        del ranks
        moved = [moveaxis(v, d, 0, size) for v, d in zip(vals, dims)]
        return prim.bind(*moved, **params), 0
    batch_rules[prim] = rule


def vectorized_batch(prim):
    """Batching rule for a unary primitive that acts elementwise: the bdim is unchanged."""
    def rule(size, vals, dims, **params):
        return prim.bind(vals[0], **params), dims[0]
    batch_rules[prim] = rule


def register(prim, impl, abstract_eval, *, jvp=None, transpose=None, batch=None,
             linear: bool = False, nondiff: bool = False):
    """Register the usual rules of a primitive in one call."""
    impl_rules[prim] = impl
    abstract_eval_rules[prim] = abstract_eval
    if jvp is not None:
        jvp_rules[prim] = jvp
    if transpose is not None:
        transpose_rules[prim] = transpose
    if batch is not None:
        batch_rules[prim] = batch
    if linear:
        linear_primitives.add(prim)
    if nondiff:
        nondiff_primitives.add(prim)
    return prim


def as_array(x: Any) -> np.ndarray:
    return x if type(x) is np.ndarray else np.asarray(x)


def normalize_axis(axis: int, ndim: int, what: str = "axis") -> int:
    if not -ndim <= axis < max(ndim, 1) and not (ndim == 0 and axis in (0, -1)):
        raise ValueError(f"{what} {axis} is out of bounds for an array of rank {ndim}")
    return axis % ndim if ndim else 0


__all__ = [
    "Zero",
    "as_array",
    "elementwise_batch",
    "is_undefined",
    "moveaxis",
    "new_primitive",
    "normalize_axis",
    "register",
    "same_shape_dtype",
    "shape_error",
    "vectorized_batch",
]
