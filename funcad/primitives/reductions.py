"""Reductions over static axes, arg-reductions and cumulative sums."""

from __future__ import annotations

import numpy as np

from funcad._core import (
    ShapedArray,
    abstract_eval_rules,
    batch_rules,
    get_aval,
    impl_rules,
    jvp_rules,
    lowering_rules,
    nondiff_primitives,
    transpose_rules,
)
from funcad.interpreters.ad import Zero, defjvp, deflinear_jvp
from funcad.interpreters.batching import moveaxis
from funcad.primitives._util import linear_primitives, new_primitive
from funcad.primitives.elementwise import (
    convert_element_type_p,
    div_p,
    eq_p,
    mul_p,
)
from funcad.primitives.structural import broadcast_in_dim, full


def _reduce_aval(x, *, axes):
    for a in axes:
        if not 0 <= a < x.ndim:
            raise ValueError(f"axis {a} is out of bounds for an array of rank {x.ndim}")
    return ShapedArray(tuple(n for i, n in enumerate(x.shape) if i not in axes), x.dtype)


def _no_complex(name, dtype):
    if np.dtype(dtype).kind == "c":
        raise TypeError(
            f"{name} of a complex array ({np.dtype(dtype).name}): funcad does not order "
            f"complex numbers in max/min/argmax/argmin/sort (NumPy and JAX order them "
            f"lexicographically by (real, imag)); apply it to fnp.real(x), fnp.abs(x) or "
            f"another real key instead.")


def _ordered_reducer(p, impl):
    base = abstract_eval_rules[p]

    def aval(x, **params):
        _no_complex(p.name, x.dtype)
        return base(x, **params)

    def checked_impl(x, **params):
        _no_complex(p.name, np.result_type(x))
        return impl(x, **params)
    abstract_eval_rules[p] = aval
    impl_rules[p] = checked_impl


def _reduce_batch(prim):
    def rule(size, vals, dims, *, axes):
        x = moveaxis(vals[0], dims[0], 0, size)
        return prim.bind(x, axes=tuple(a + 1 for a in axes)), 0
    batch_rules[prim] = rule


def keep_dims_broadcast(y, in_shape, axes):
    """Broadcast a reduction result back to the input shape."""
    kept = tuple(i for i in range(len(in_shape)) if i not in axes)
    return broadcast_in_dim(y, in_shape, kept)


def _reducer(name, impl):
    p = new_primitive(name)
    impl_rules[p] = lambda x, *, axes: impl(x, axis=axes)
    abstract_eval_rules[p] = _reduce_aval
    _reduce_batch(p)
    lowering_rules[p] = name
    return p


# -- reduce_sum ----------------------------------------------------------------------------

reduce_sum_p = _reducer("reduce_sum", np.sum)
# ndarray.sum skips np.sum's dispatch (half its cost on small arrays); same result.
impl_rules[reduce_sum_p] = lambda x, *, axes: (x.sum(axis=axes) if type(x) is np.ndarray
                                               else np.sum(x, axis=axes))
deflinear_jvp(reduce_sum_p)
linear_primitives.add(reduce_sum_p)
transpose_rules[reduce_sum_p] = lambda ct, x, *, axes: [
    keep_dims_broadcast(ct, x.aval.shape, axes)]


def reduce_sum(x, axes):
    """Sum over the given axes."""
    axes = tuple(sorted(axes))
    if not axes:
        return x
    return reduce_sum_p.bind(x, axes=axes)


# -- reduce_max / reduce_min: tangent averaged over the positions of the extremum -----------

reduce_max_p = _reducer("reduce_max", np.max)
reduce_min_p = _reducer("reduce_min", np.min)


def _extremum_jvp(t, ans, x, *, axes):
    shape = get_aval(x).shape
    location = eq_p.bind(x, keep_dims_broadcast(ans, shape, axes))
    dtype = get_aval(x).dtype
    mask = convert_element_type_p.bind(location, new_dtype=dtype)
    counts = reduce_sum_p.bind(mask, axes=axes)
    return div_p.bind(reduce_sum_p.bind(mul_p.bind(t, mask), axes=axes), counts)


_ordered_reducer(reduce_max_p, impl_rules[reduce_max_p])
_ordered_reducer(reduce_min_p, impl_rules[reduce_min_p])
defjvp(reduce_max_p, _extremum_jvp)
defjvp(reduce_min_p, _extremum_jvp)

# -- reduce_prod ------------------------------------------------------------------------------

reduce_prod_p = _reducer("reduce_prod", np.prod)


def _prod_jvp(t, ans, x, *, axes):
    # d prod / dx_k = the product of all the other elements: exclusive prefix products times
    # exclusive suffix products, so zeros in x give exact results (no division), in
    # O(n log n) work and O(n) memory.
    from funcad.primitives.structural import reshape, transpose
    aval = get_aval(x)
    kept = [i for i in range(aval.ndim) if i not in axes]
    perm = (*kept, *axes)
    outer = tuple(aval.shape[i] for i in kept)
    n = int(np.prod([aval.shape[i] for i in axes], dtype=np.int64))
    xs = reshape(transpose(x, perm), (*outer, n))
    ts = reshape(transpose(t, perm), (*outer, n))
    others = mul_p.bind(_exclusive_cumprod(xs, reverse=False),
                        _exclusive_cumprod(xs, reverse=True))
    return reduce_sum_p.bind(mul_p.bind(ts, others), axes=(len(outer),))


def _shift_in_ones(a, s, reverse):
    """a[..., i - s] (reverse: a[..., i + s]) along the last axis, ones where out of range."""
    from funcad.primitives.structural import pad_p, slice_
    shape = get_aval(a).shape
    n = shape[-1]
    if s >= n:
        return full(shape, 1, get_aval(a).dtype)
    starts = [0] * len(shape)
    limits = list(shape)
    if reverse:
        starts[-1] = s
    else:
        limits[-1] = n - s
    part = slice_(a, starts, limits)
    config = [(0, 0, 0)] * (len(shape) - 1) + [(0, s, 0) if reverse else (s, 0, 0)]
    return pad_p.bind(part, np.ones((), get_aval(a).dtype), padding_config=tuple(config))


def _exclusive_cumprod(a, reverse):
    """Products of the elements before (reverse: after) each one along the last axis."""
    n = get_aval(a).shape[-1]
    out = _shift_in_ones(a, 1, reverse)
    s = 1
    while s < n:
        out = mul_p.bind(out, _shift_in_ones(out, s, reverse))
        s *= 2
    return out


defjvp(reduce_prod_p, _prod_jvp)

# -- logical reductions -------------------------------------------------------------------------

reduce_and_p = _reducer("reduce_and", np.all)
reduce_or_p = _reducer("reduce_or", np.any)
nondiff_primitives.update({reduce_and_p, reduce_or_p})

# -- argmax / argmin over one axis --------------------------------------------------------------


def _arg_aval(x, *, axis, index_dtype):
    if not 0 <= axis < x.ndim:
        raise ValueError(f"axis {axis} is out of bounds for an array of rank {x.ndim}")
    return ShapedArray(tuple(n for i, n in enumerate(x.shape) if i != axis),
                       np.dtype(index_dtype))


def _arg_batch(prim):
    def rule(size, vals, dims, *, axis, index_dtype):
        x = moveaxis(vals[0], dims[0], 0, size)
        return prim.bind(x, axis=axis + 1, index_dtype=index_dtype), 0
    batch_rules[prim] = rule


argmax_p = new_primitive("argmax")
argmin_p = new_primitive("argmin")
impl_rules[argmax_p] = lambda x, *, axis, index_dtype: np.argmax(x, axis=axis).astype(
    index_dtype)
impl_rules[argmin_p] = lambda x, *, axis, index_dtype: np.argmin(x, axis=axis).astype(
    index_dtype)
for _p in (argmax_p, argmin_p):
    abstract_eval_rules[_p] = _arg_aval
    _ordered_reducer(_p, impl_rules[_p])
    _arg_batch(_p)
    nondiff_primitives.add(_p)
    lowering_rules[_p] = _p.name

# -- cumsum --------------------------------------------------------------------------------------

cumsum_p = new_primitive("cumsum")


def _cumsum_impl(x, *, axis, reverse):
    if reverse:
        return np.flip(np.cumsum(np.flip(x, axis), axis=axis, dtype=x.dtype), axis)
    return np.cumsum(x, axis=axis, dtype=x.dtype)  # (NumPy would widen small integers)


def _cumsum_batch(size, vals, dims, *, axis, reverse):
    x = moveaxis(vals[0], dims[0], 0, size)
    return cumsum_p.bind(x, axis=axis + 1, reverse=reverse), 0


impl_rules[cumsum_p] = _cumsum_impl
abstract_eval_rules[cumsum_p] = lambda x, *, axis, reverse: ShapedArray(x.shape, x.dtype)
deflinear_jvp(cumsum_p)
linear_primitives.add(cumsum_p)
transpose_rules[cumsum_p] = lambda ct, x, *, axis, reverse: [
    cumsum_p.bind(ct, axis=axis, reverse=not reverse)]
batch_rules[cumsum_p] = _cumsum_batch
lowering_rules[cumsum_p] = "cumsum"

# -- argsort along one axis (stable; NaNs last, as in NumPy) ----------------------------------
# sort, median, quantile, top_k are composites: argsort, then take_along_axis (a gather),
# so their derivatives are the gather's. argsort itself has no derivative.

argsort_p = new_primitive("argsort")


def _argsort_aval(x, *, axis, index_dtype):
    if not 0 <= axis < x.ndim:
        raise ValueError(f"argsort: axis {axis} is out of bounds for an array of rank {x.ndim}")
    return ShapedArray(x.shape, np.dtype(index_dtype))


def _argsort_batch(size, vals, dims, *, axis, index_dtype):
    x = moveaxis(vals[0], dims[0], 0, size)
    return argsort_p.bind(x, axis=axis + 1, index_dtype=index_dtype), 0


impl_rules[argsort_p] = lambda x, *, axis, index_dtype: np.argsort(
    x, axis=axis, kind="stable").astype(index_dtype)
abstract_eval_rules[argsort_p] = _argsort_aval
_ordered_reducer(argsort_p, impl_rules[argsort_p])
batch_rules[argsort_p] = _argsort_batch
nondiff_primitives.add(argsort_p)
lowering_rules[argsort_p] = "argsort"  # a statement rule in lowering/numba/rules.py

del Zero, jvp_rules
