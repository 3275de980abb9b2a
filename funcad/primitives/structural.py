"""Structural primitives: broadcast, reshape, transpose, reverse, slice, pad, concatenate,
gather/scatter, iota and constants. All are linear in their array operands."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from funcad._core import (
    ShapedArray,
    Tracer,
    abstract_eval_rules,
    batch_rules,
    get_aval,
    impl_rules,
    jvp_rules,
    lowering_rules,
    nondiff_primitives,
    transpose_rules,
    weak_if_all,
    weak_if_operand,
    weak_type_rules,
)
from funcad.interpreters.ad import Zero, add_tangents, deflinear_jvp, instantiate, is_undefined
from funcad.interpreters.batching import moveaxis
from funcad.primitives._util import linear_primitives, new_primitive


def _linear(p):
    deflinear_jvp(p)
    linear_primitives.add(p)


# -- broadcast_in_dim --------------------------------------------------------------------
# out has `shape`; operand dim i maps to out dim broadcast_dimensions[i] (size equal or 1).

broadcast_in_dim_p = new_primitive("broadcast_in_dim")


def broadcast_in_dim(x, shape, broadcast_dimensions):
    """Broadcast `x` to `shape`, its dims landing at `broadcast_dimensions`."""
    shape = tuple(int(d) for d in shape)
    aval = get_aval(x)
    if aval.shape == shape and tuple(broadcast_dimensions) == tuple(range(len(shape))):
        return x
    return broadcast_in_dim_p.bind(x, shape=shape,
                                   broadcast_dimensions=tuple(broadcast_dimensions))


def _bid_impl(x, *, shape, broadcast_dimensions):
    x = np.asarray(x)
    if not x.ndim:
        # A scalar filling an array (the transpose of every full sum in eager grad):
        # np.empty + fill, at a fifth of broadcast_to + copy's cost.
        out = np.empty(shape, x.dtype)
        out.fill(x)
        return out
    expanded = [1] * len(shape)
    for i, d in enumerate(broadcast_dimensions):
        expanded[d] = x.shape[i]
    return np.array(np.broadcast_to(x.reshape(expanded), shape))


def _bid_aval(x, *, shape, broadcast_dimensions):
    if len(broadcast_dimensions) != x.ndim:
        raise ValueError(f"broadcast_in_dim: operand rank {x.ndim} but "
                         f"{len(broadcast_dimensions)} broadcast_dimensions")
    for i, d in enumerate(broadcast_dimensions):
        if x.shape[i] not in (1, shape[d]):
            raise ValueError(f"cannot broadcast shape {x.shape} to {shape}")
    return ShapedArray(tuple(shape), x.dtype)


def _bid_transpose(ct, x, *, shape, broadcast_dimensions):
    from funcad.primitives.reductions import reduce_sum
    in_shape = x.aval.shape
    new_dims = tuple(d for d in range(len(shape)) if d not in broadcast_dimensions)
    ones_dims = tuple(broadcast_dimensions[i] for i, n in enumerate(in_shape)
                      if n == 1 and shape[broadcast_dimensions[i]] != 1)
    summed = reduce_sum(ct, tuple(sorted(new_dims + ones_dims)))
    return [reshape(summed, in_shape)]


def _bid_batch(size, vals, dims, *, shape, broadcast_dimensions):
    (x,), (d,) = vals, dims
    x = moveaxis(x, d, 0, size)
    new_shape = (size, *shape)
    new_dims = (0, *[b + 1 for b in broadcast_dimensions])
    return broadcast_in_dim_p.bind(x, shape=new_shape, broadcast_dimensions=new_dims), 0


impl_rules[broadcast_in_dim_p] = _bid_impl
abstract_eval_rules[broadcast_in_dim_p] = _bid_aval
weak_type_rules[broadcast_in_dim_p] = weak_if_operand
_linear(broadcast_in_dim_p)
transpose_rules[broadcast_in_dim_p] = _bid_transpose
batch_rules[broadcast_in_dim_p] = _bid_batch
lowering_rules[broadcast_in_dim_p] = "broadcast_in_dim"

# -- reshape -------------------------------------------------------------------------------

reshape_p = new_primitive("reshape")


def reshape(x, new_sizes):
    """Reshape `x` (row-major order) to `new_sizes`."""
    new_sizes = tuple(int(d) for d in new_sizes)
    if get_aval(x).shape == new_sizes:
        return x
    return reshape_p.bind(x, new_sizes=new_sizes)


def _reshape_aval(x, *, new_sizes):
    if int(np.prod(new_sizes, dtype=np.int64)) != x.size:
        raise ValueError(f"cannot reshape array of shape {x.shape} (size {x.size}) into "
                         f"shape {new_sizes}")
    return ShapedArray(tuple(new_sizes), x.dtype)


def _reshape_batch(size, vals, dims, *, new_sizes):
    x = moveaxis(vals[0], dims[0], 0, size)
    return reshape_p.bind(x, new_sizes=(size, *new_sizes)), 0


impl_rules[reshape_p] = lambda x, *, new_sizes: np.reshape(x, new_sizes)
abstract_eval_rules[reshape_p] = _reshape_aval
weak_type_rules[reshape_p] = weak_if_operand
_linear(reshape_p)
transpose_rules[reshape_p] = lambda ct, x, *, new_sizes: [reshape(ct, x.aval.shape)]
batch_rules[reshape_p] = _reshape_batch
lowering_rules[reshape_p] = "reshape"

# -- transpose -------------------------------------------------------------------------------

transpose_p = new_primitive("transpose")


def transpose(x, permutation):
    """Permute the axes of `x`."""
    permutation = tuple(int(p) for p in permutation)
    if permutation == tuple(range(len(permutation))):
        return x
    return transpose_p.bind(x, permutation=permutation)


def _transpose_aval(x, *, permutation):
    if sorted(permutation) != list(range(x.ndim)):
        raise ValueError(f"transpose: axes {permutation} are not a permutation of the "
                         f"{x.ndim} axes of an array of shape {x.shape}")
    return ShapedArray(tuple(x.shape[p] for p in permutation), x.dtype)


def _transpose_transpose(ct, x, *, permutation):
    return [transpose(ct, tuple(np.argsort(permutation)))]


def _transpose_batch(size, vals, dims, *, permutation):
    x = moveaxis(vals[0], dims[0], 0, size)
    return transpose_p.bind(x, permutation=(0, *[p + 1 for p in permutation])), 0


impl_rules[transpose_p] = lambda x, *, permutation: np.transpose(x, permutation)
abstract_eval_rules[transpose_p] = _transpose_aval
weak_type_rules[transpose_p] = weak_if_operand
_linear(transpose_p)
transpose_rules[transpose_p] = _transpose_transpose
batch_rules[transpose_p] = _transpose_batch
lowering_rules[transpose_p] = "transpose"

# -- rev: reverse along dimensions --------------------------------------------------------

rev_p = new_primitive("rev")


def _rev_impl(x, *, dimensions):
    idx = tuple(slice(None, None, -1) if d in dimensions else slice(None)
                for d in range(np.ndim(x)))
    return np.asarray(x)[idx].copy()


def _rev_batch(size, vals, dims, *, dimensions):
    x = moveaxis(vals[0], dims[0], 0, size)
    return rev_p.bind(x, dimensions=tuple(d + 1 for d in dimensions)), 0


impl_rules[rev_p] = _rev_impl
abstract_eval_rules[rev_p] = lambda x, *, dimensions: ShapedArray(x.shape, x.dtype)
weak_type_rules[rev_p] = weak_if_operand
_linear(rev_p)
transpose_rules[rev_p] = lambda ct, x, *, dimensions: [rev_p.bind(ct, dimensions=dimensions)]
batch_rules[rev_p] = _rev_batch
lowering_rules[rev_p] = "rev"

# -- slice: static start/limit/strides ----------------------------------------------------

slice_p = new_primitive("slice")


def slice_(x, start_indices, limit_indices, strides=None):
    """Static slice x[start:limit:stride] along every axis."""
    aval = get_aval(x)
    strides = tuple(strides) if strides is not None else (1,) * aval.ndim
    if (tuple(start_indices) == (0,) * aval.ndim and tuple(limit_indices) == aval.shape
            and strides == (1,) * aval.ndim):
        return x
    return slice_p.bind(x, start_indices=tuple(start_indices),
                        limit_indices=tuple(limit_indices), strides=strides)


def _slice_aval(x, *, start_indices, limit_indices, strides):
    shape = []
    for n, s, lim, st in zip(x.shape, start_indices, limit_indices, strides, strict=True):
        if not (0 <= s <= lim <= n) or st < 1:
            raise ValueError(f"slice [{s}:{lim}:{st}] out of bounds for a dim of size {n}")
        shape.append(max(0, (lim - s + st - 1) // st))
    return ShapedArray(tuple(shape), x.dtype)


def _slice_impl(x, *, start_indices, limit_indices, strides):
    idx = tuple(slice(s, lim, st) for s, lim, st in zip(start_indices, limit_indices, strides))
    return np.asarray(x)[idx].copy()


def _slice_transpose(ct, x, *, start_indices, limit_indices, strides):
    in_shape = x.aval.shape
    out_shape = np.shape(ct) if not isinstance(ct, Tracer) else ct.shape
    config = []
    for n, s, st, m in zip(in_shape, start_indices, strides, out_shape):
        used = s + (m - 1) * st + 1 if m > 0 else s
        config.append((s, n - used, st - 1) if m > 0 else (0, n, 0))
    zero = np.zeros((), x.aval.dtype)
    if any(m == 0 for m in out_shape):
        return [full(in_shape, 0, x.aval.dtype)]
    return [pad_p.bind(ct, zero, padding_config=tuple(config))]


def _slice_batch(size, vals, dims, *, start_indices, limit_indices, strides):
    x = moveaxis(vals[0], dims[0], 0, size)
    return slice_p.bind(x, start_indices=(0, *start_indices),
                        limit_indices=(size, *limit_indices), strides=(1, *strides)), 0


impl_rules[slice_p] = _slice_impl
abstract_eval_rules[slice_p] = _slice_aval
weak_type_rules[slice_p] = weak_if_operand
_linear(slice_p)
transpose_rules[slice_p] = _slice_transpose
batch_rules[slice_p] = _slice_batch
lowering_rules[slice_p] = "slice"

# -- pad: (lo, hi, interior) per dim, lo/hi >= 0 ------------------------------------------

pad_p = new_primitive("pad")


def _pad_aval(x, pv, *, padding_config):
    if pv.shape != ():
        raise ValueError("pad: the padding value must be a scalar")
    shape = tuple(lo + hi + n + max(n - 1, 0) * it
                  for n, (lo, hi, it) in zip(x.shape, padding_config, strict=True))
    return ShapedArray(shape, x.dtype)


def _pad_impl(x, pv, *, padding_config):
    # Negative padding crops: pad by the positive amounts, then cut the negative ones.
    x = np.asarray(x)
    grow = tuple((max(lo, 0), max(hi, 0), it) for lo, hi, it in padding_config)
    shape = _pad_aval(get_aval(x), get_aval(pv), padding_config=grow).shape
    out = np.full(shape, pv, dtype=x.dtype)
    idx = tuple(slice(lo, lo + (n - 1) * (it + 1) + 1 if n else lo, it + 1)
                for n, (lo, hi, it) in zip(x.shape, grow))
    out[idx] = x
    return out[tuple(slice(max(-lo, 0), m - max(-hi, 0))
                     for (lo, hi, _), m in zip(padding_config, shape))]


def _pad_transpose(ct, x, pv, *, padding_config):
    from funcad.primitives.reductions import reduce_sum
    # x is a value when only the padding value is linear (pad of a constant array)
    in_shape = x.aval.shape if is_undefined(x) else get_aval(x).shape
    if any(lo < 0 or hi < 0 for lo, hi, _ in padding_config):
        # Cropped positions get no cotangent: un-crop with zeros first.
        zero = np.zeros((), get_aval(ct).dtype)
        ct = pad_p.bind(ct, zero, padding_config=tuple(
            (max(-lo, 0), max(-hi, 0), 0) for lo, hi, _ in padding_config))
        padding_config = tuple((max(lo, 0), max(hi, 0), it) for lo, hi, it in padding_config)
    starts = tuple(lo for lo, _, _ in padding_config)
    limits = tuple(lo + (n - 1) * (it + 1) + 1 if n else lo
                   for n, (lo, _, it) in zip(in_shape, padding_config))
    strides = tuple(it + 1 for _, _, it in padding_config)
    ct_x = slice_(ct, starts, limits, strides) if is_undefined(x) else None
    ct_pv = None
    if is_undefined(pv):
        total = reduce_sum(ct, tuple(range(len(in_shape))))
        inner = slice_(ct, starts, limits, strides)
        ct_pv = total - reduce_sum(inner, tuple(range(len(in_shape))))
    return [ct_x, ct_pv]


def _pad_batch(size, vals, dims, *, padding_config):
    from funcad.primitives.elementwise import select_n_p
    x, pv = vals
    dx, dpv = dims
    x = moveaxis(x, dx, 0, size)
    config = ((0, 0, 0), *padding_config)
    if dpv is None:
        return pad_p.bind(x, pv, padding_config=config), 0
    # A padding value per batch element: pad with zeros, then select it where padding went.
    aval = get_aval(x)
    padded = pad_p.bind(x, np.zeros((), aval.dtype), padding_config=config)
    out_shape = get_aval(padded).shape
    where_pad = pad_p.bind(full(aval.shape, False, np.bool_), np.True_, padding_config=config)
    pv_b = broadcast_in_dim(pv, out_shape, (0,))
    return select_n_p.bind(where_pad, padded, pv_b), 0


impl_rules[pad_p] = _pad_impl
abstract_eval_rules[pad_p] = _pad_aval
weak_type_rules[pad_p] = weak_if_all
_linear(pad_p)
transpose_rules[pad_p] = _pad_transpose
batch_rules[pad_p] = _pad_batch
lowering_rules[pad_p] = "pad"

# -- concatenate ----------------------------------------------------------------------------

concatenate_p = new_primitive("concatenate")


def _concat_aval(*xs, dimension):
    x0 = xs[0]
    for x in xs[1:]:
        if x.ndim != x0.ndim or any(a != b for i, (a, b) in enumerate(zip(x.shape, x0.shape))
                                    if i != dimension):
            raise ValueError(f"concatenate: shapes {' and '.join(str(a.shape) for a in xs)} "
                             f"differ outside axis {dimension}")
        if x.dtype != x0.dtype:
            raise TypeError("concatenate: operands have different dtypes")
    shape = list(x0.shape)
    shape[dimension] = sum(x.shape[dimension] for x in xs)
    return ShapedArray(tuple(shape), x0.dtype)


def _concat_transpose(ct, *xs, dimension):
    outs = []
    start = 0
    for x in xs:
        aval = x.aval if is_undefined(x) else get_aval(x)
        n = aval.shape[dimension]
        if is_undefined(x):
            shape = aval.shape
            s = [0] * len(shape)
            s[dimension] = start
            lim = list(shape)
            lim[dimension] = start + n
            outs.append(slice_(ct, s, lim))
        else:
            outs.append(None)
        start += n
    return outs


def _concat_batch(size, vals, dims, *, dimension):
    xs = [moveaxis(v, d, 0, size) for v, d in zip(vals, dims)]
    return concatenate_p.bind(*xs, dimension=dimension + 1), 0


impl_rules[concatenate_p] = lambda *xs, dimension: np.concatenate(xs, axis=dimension)
abstract_eval_rules[concatenate_p] = _concat_aval
weak_type_rules[concatenate_p] = weak_if_all
_linear(concatenate_p)
transpose_rules[concatenate_p] = _concat_transpose
batch_rules[concatenate_p] = _concat_batch
lowering_rules[concatenate_p] = "concatenate"

# -- iota: arange along one dimension of a shape ----------------------------------------------

iota_p = new_primitive("iota")


def _iota_impl(*, dtype, shape, dimension):
    r = np.arange(shape[dimension], dtype=dtype)
    expanded = [1] * len(shape)
    expanded[dimension] = shape[dimension]
    return np.array(np.broadcast_to(r.reshape(expanded), shape))


def _no_operand_batch(prim):
    # A primitive without operands is never batched; vmap only reaches it if asked directly.
    def rule(size, vals, dims, **params):
        return prim.bind(*vals, **params), None
    batch_rules[prim] = rule


impl_rules[iota_p] = _iota_impl
abstract_eval_rules[iota_p] = lambda *, dtype, shape, dimension: ShapedArray(shape, dtype)
nondiff_primitives.add(iota_p)
_no_operand_batch(iota_p)
lowering_rules[iota_p] = "iota"


def iota(dtype, shape, dimension=0):
    """Integers counting along `dimension` of an array of `shape`."""
    return iota_p.bind(dtype=np.dtype(dtype), shape=tuple(shape), dimension=dimension)


# -- const: an array constant held in params (inner jaxprs have no constvars) ---------------

const_p = new_primitive("const")
impl_rules[const_p] = lambda *, value: value.val
abstract_eval_rules[const_p] = lambda *, value: ShapedArray(value.val.shape, value.val.dtype)
nondiff_primitives.add(const_p)
_no_operand_batch(const_p)
lowering_rules[const_p] = "const"


def full(shape, fill_value, dtype=None):
    """An array of `shape` filled with `fill_value` (traced if `fill_value` is)."""
    from funcad._core import current_dynamic_main
    shape = tuple(int(d) for d in shape)
    if isinstance(fill_value, Tracer):
        from funcad.primitives.elementwise import convert_element_type_p
        v = fill_value
        if dtype is not None and v.dtype != np.dtype(dtype):
            v = convert_element_type_p.bind(v, new_dtype=np.dtype(dtype))
        return broadcast_in_dim(v, shape, ())
    dtype = np.dtype(dtype) if dtype is not None else get_aval(fill_value).dtype
    if current_dynamic_main().level == 0:
        return np.full(shape, fill_value, dtype)
    return broadcast_in_dim(dtype.type(fill_value), shape, ())


# -- gather: out[s..., rest...] = x[..., idx_k[s] on axis axes[k], ...] ----------------------
# All index arrays share one shape S; the result has S first, then the non-indexed axes.

gather_p = new_primitive("gather")


def _gather_aval(x, *idxs, axes):
    if len(idxs) != len(axes):
        raise ValueError("gather: one index array per indexed axis")
    s = idxs[0].shape
    for i in idxs:
        if i.shape != s:
            raise ValueError(f"gather: index shapes {[i.shape for i in idxs]} differ")
        if not np.issubdtype(i.dtype, np.integer):
            raise TypeError(f"indices must be integers, got {i.dtype.name}")
    rest = tuple(n for d, n in enumerate(x.shape) if d not in axes)
    return ShapedArray(tuple(s) + rest, x.dtype)


def _gather_impl(x, *idxs, axes):
    x = np.asarray(x)
    moved = np.moveaxis(x, axes, tuple(range(len(axes))))
    return moved[tuple(np.asarray(i) for i in idxs)]


def _gather_jvp(primals, tangents, *, axes):
    x, *idxs = primals
    ans = gather_p.bind(x, *idxs, axes=axes)
    if type(tangents[0]) is Zero:
        return ans, Zero(ShapedArray(np.shape(ans) if not isinstance(ans, Tracer)
                                     else ans.shape, get_aval(ans).dtype))
    return ans, gather_p.bind(tangents[0], *idxs, axes=axes)


def _gather_transpose(ct, x, *idxs, axes):
    zeros = full(x.aval.shape, 0, x.aval.dtype)
    return [scatter_add_p.bind(zeros, *idxs, ct, axes=axes)] + [None] * len(idxs)


def _gather_batch(size, vals, dims, *, axes):
    x, *idxs = vals
    dx, *didx = dims
    if all(d is None for d in didx):
        # Only the operand is batched: its batch axis is a non-indexed axis.
        x = moveaxis(x, dx, 0, size)
        new_axes = tuple(a + 1 for a in axes)
        out = gather_p.bind(x, *idxs, axes=new_axes)
        return out, get_aval(idxs[0]).ndim
    idxs = [moveaxis(i, d, 0, size) for i, d in zip(idxs, didx)]
    if dx is None:
        return gather_p.bind(x, *idxs, axes=axes), 0
    x = moveaxis(x, dx, 0, size)
    ishape = get_aval(idxs[0]).shape
    b = iota(get_aval(idxs[0]).dtype, ishape, 0)
    return gather_p.bind(x, b, *idxs, axes=(0, *[a + 1 for a in axes])), 0


impl_rules[gather_p] = _gather_impl
abstract_eval_rules[gather_p] = _gather_aval
weak_type_rules[gather_p] = weak_if_operand
jvp_rules[gather_p] = _gather_jvp
linear_primitives.add(gather_p)
transpose_rules[gather_p] = _gather_transpose
batch_rules[gather_p] = _gather_batch
lowering_rules[gather_p] = "gather"

# -- scatter family: out = x with x[idx] (+)= updates; updates shaped like gather's output ---


def _scatter_aval(x, *rest, axes):
    *idxs, upd = rest
    g = _gather_aval(x, *idxs, axes=axes)
    if upd.shape != g.shape:
        raise ValueError(f"scatter: updates have shape {upd.shape}, expected {g.shape}")
    if upd.dtype != x.dtype:
        raise TypeError("scatter: updates and operand dtypes differ")
    return ShapedArray(x.shape, x.dtype)


def _scatter_impl(kind):
    def impl(x, *rest, axes):
        *idxs, upd = rest
        out = np.array(x, copy=True)
        moved = np.moveaxis(out, axes, tuple(range(len(axes))))
        key = tuple(np.asarray(i) for i in idxs)
        if kind == "add":
            np.add.at(moved, key, upd)
        elif kind == "mul":
            np.multiply.at(moved, key, upd)
        else:
            moved[key] = upd
        return out
    return impl


def _scatter_batch(prim):
    def rule(size, vals, dims, *, axes):
        x, *idxs, upd = vals
        dx, *didx, du = dims
        x = moveaxis(x, dx, 0, size)
        ishape = get_aval(idxs[0]).shape
        if all(d is None for d in didx):
            # shared indices: batch axis is a non-indexed axis of x; updates gain it after S
            k = len(ishape)
            upd = moveaxis(upd, du, k, size)
            return prim.bind(x, *idxs, upd, axes=tuple(a + 1 for a in axes)), 0
        idxs = [moveaxis(i, d, 0, size) for i, d in zip(idxs, didx)]
        ishape = get_aval(idxs[0]).shape
        b = iota(get_aval(idxs[0]).dtype, ishape, 0)
        upd = moveaxis(upd, du, 0, size)
        return prim.bind(x, b, *idxs, upd, axes=(0, *[a + 1 for a in axes])), 0
    batch_rules[prim] = rule


scatter_add_p = new_primitive("scatter_add")
impl_rules[scatter_add_p] = _scatter_impl("add")
def _weak_operand_and_updates(avals, params) -> bool:
    """Weak type rule of a scatter: weak when its operand and its updates are."""
    return avals[0].weak_type and avals[2].weak_type


abstract_eval_rules[scatter_add_p] = _scatter_aval
weak_type_rules[scatter_add_p] = _weak_operand_and_updates
_linear(scatter_add_p)


def _scatter_add_transpose(ct, x, *rest, axes):
    *idxs, upd = rest
    ct_x = ct if is_undefined(x) else None
    ct_u = gather_p.bind(ct, *idxs, axes=axes) if is_undefined(upd) else None
    return [ct_x, *[None] * len(idxs), ct_u]


def _scatter_lin_jvp(prim):
    def rule(primals, tangents, *, axes):
        x, *idxs, upd = primals
        tx, *_, tu = tangents
        ans = prim.bind(x, *idxs, upd, axes=axes)
        if type(tx) is Zero and type(tu) is Zero:
            return ans, Zero(get_aval(ans).strip_weak())
        return ans, prim.bind(instantiate(tx), *idxs, instantiate(tu), axes=axes)
    jvp_rules[prim] = rule


_scatter_lin_jvp(scatter_add_p)
transpose_rules[scatter_add_p] = _scatter_add_transpose
_scatter_batch(scatter_add_p)
lowering_rules[scatter_add_p] = "scatter_add"

scatter_p = new_primitive("scatter")
impl_rules[scatter_p] = _scatter_impl("set")
abstract_eval_rules[scatter_p] = _scatter_aval
weak_type_rules[scatter_p] = _weak_operand_and_updates
_scatter_lin_jvp(scatter_p)
linear_primitives.add(scatter_p)


def _scatter_winners(x_shape, idxs, upd_shape, axes):
    """Mask of the updates that survive a scatter (with repeated indices the last wins)."""
    from funcad.primitives.elementwise import eq_p
    m = int(np.prod(upd_shape, dtype=np.int64))
    ids = reshape(iota(np.int64, (m,), 0), upd_shape)
    written = scatter_p.bind(full(x_shape, -1, np.int64), *idxs, ids, axes=axes)
    return eq_p.bind(gather_p.bind(written, *idxs, axes=axes), ids)


def _unique_indices(idxs) -> bool:
    """True when the (concrete) index arrays never name the same position twice."""
    if any(isinstance(i, Tracer) for i in idxs):
        return False
    keys = np.stack([np.ravel(np.asarray(i)) for i in idxs])
    return np.unique(keys, axis=1).shape[1] == keys.shape[1]


def _scatter_transpose(ct, x, *rest, axes):
    *idxs, upd = rest
    uaval = upd.aval if is_undefined(upd) else get_aval(upd)
    ct_x = None
    if is_undefined(x):
        ct_x = scatter_p.bind(ct, *idxs, full(uaval.shape, 0, uaval.dtype), axes=axes)
    ct_u = None
    if is_undefined(upd):
        ct_u = gather_p.bind(ct, *idxs, axes=axes)
        if not _unique_indices(idxs):
            from funcad.primitives.elementwise import select_n_p
            xaval = x.aval if is_undefined(x) else get_aval(x)
            won = _scatter_winners(xaval.shape, idxs, uaval.shape, axes)
            ct_u = select_n_p.bind(won, full(uaval.shape, 0, uaval.dtype), ct_u)
    return [ct_x, *[None] * len(idxs), ct_u]


transpose_rules[scatter_p] = _scatter_transpose
_scatter_batch(scatter_p)
lowering_rules[scatter_p] = "scatter"

scatter_mul_p = new_primitive("scatter_mul")
impl_rules[scatter_mul_p] = _scatter_impl("mul")
abstract_eval_rules[scatter_mul_p] = _scatter_aval
weak_type_rules[scatter_mul_p] = _weak_operand_and_updates


def _scatter_mul_jvp(primals, tangents, *, axes):
    from funcad.primitives.elementwise import mul_p
    x, *idxs, upd = primals
    tx, *_, tu = tangents
    ans = scatter_mul_p.bind(x, *idxs, upd, axes=axes)
    t_out = Zero(get_aval(ans).strip_weak())
    if type(tx) is not Zero:
        t_out = scatter_mul_p.bind(tx, *idxs, upd, axes=axes)
    if type(tu) is not Zero:
        # out[j] = x[j] * prod of the updates u_k sent to j, so the tangent gets
        # x[j] * t_k * (product of the other updates sent to j), scattered with add.
        xa = get_aval(x)
        coef = mul_p.bind(gather_p.bind(x, *idxs, axes=axes), _other_updates_product(idxs, upd))
        contrib = scatter_add_p.bind(full(xa.shape, 0, xa.dtype), *idxs, mul_p.bind(tu, coef),
                                     axes=axes)
        t_out = contrib if type(t_out) is Zero else add_tangents(t_out, contrib)
    return ans, t_out


def _other_updates_product(idxs, upd):
    """For each update, the product of the other updates sent to the same position.

    Exact with zeros (no division); takes O(m^2) memory for m index tuples.
    """
    from funcad.primitives.elementwise import and_p, eq_p, ne_p, select_n_p
    from funcad.primitives.reductions import reduce_prod_p
    s = get_aval(idxs[0]).shape
    ushape = get_aval(upd).shape
    m = int(np.prod(s, dtype=np.int64))
    rest = ushape[len(s):]
    r = int(np.prod(rest, dtype=np.int64))
    same = ne_p.bind(iota(np.int64, (m, m), 0), iota(np.int64, (m, m), 1))
    for i in idxs:
        flat = reshape(i, (m,))
        same = and_p.bind(same, eq_p.bind(broadcast_in_dim(flat, (m, m), (0,)),
                                          broadcast_in_dim(flat, (m, m), (1,))))
    u = broadcast_in_dim(reshape(upd, (m, r)), (m, m, r), (1, 2))
    ones = full((m, m, r), 1, get_aval(upd).dtype)
    picked = select_n_p.bind(broadcast_in_dim(same, (m, m, r), (0, 1)), ones, u)
    return reshape(reduce_prod_p.bind(picked, axes=(1,)), ushape)


jvp_rules[scatter_mul_p] = _scatter_mul_jvp
transpose_rules[scatter_mul_p] = lambda ct, x, *rest, axes: [
    scatter_mul_p.bind(ct, *rest, axes=axes), *[None] * len(rest)]
_scatter_batch(scatter_mul_p)
lowering_rules[scatter_mul_p] = "scatter_mul"


# -- dynamic_slice / dynamic_update_slice: traced start indices, static sizes ----------------

dynamic_slice_p = new_primitive("dynamic_slice")


def _clamp_starts(shape, sizes, starts):
    return [min(max(int(s), 0), n - k) for s, n, k in zip(starts, shape, sizes)]


def _ds_impl(x, *starts, slice_sizes):
    x = np.asarray(x)
    st = _clamp_starts(x.shape, slice_sizes, starts)
    return x[tuple(slice(s, s + k) for s, k in zip(st, slice_sizes))].copy()


def _ds_aval(x, *starts, slice_sizes):
    if len(starts) != x.ndim:
        raise ValueError("dynamic_slice: one start index per dimension")
    return ShapedArray(tuple(slice_sizes), x.dtype)


def _ds_jvp(primals, tangents, *, slice_sizes):
    x, *starts = primals
    ans = dynamic_slice_p.bind(x, *starts, slice_sizes=slice_sizes)
    if type(tangents[0]) is Zero:
        return ans, Zero(ShapedArray(tuple(slice_sizes), get_aval(x).dtype))
    return ans, dynamic_slice_p.bind(tangents[0], *starts, slice_sizes=slice_sizes)


def _ds_transpose(ct, x, *starts, slice_sizes):
    zeros = full(x.aval.shape, 0, x.aval.dtype)
    return [dynamic_update_slice_p.bind(zeros, ct, *starts), *[None] * len(starts)]


def _ds_batch(size, vals, dims, *, slice_sizes):
    x, *starts = vals
    dx, *ds = dims
    if all(d is None for d in ds):
        x = moveaxis(x, dx, 0, size)
        zero = np.zeros((), get_aval(starts[0]).dtype) if starts else np.int64(0)
        return dynamic_slice_p.bind(x, zero, *starts, slice_sizes=(size, *slice_sizes)), 0
    x = moveaxis(x, dx, 0, size)
    b, idxs = _batched_window(size, get_aval(x).shape[1:], slice_sizes, starts, ds)
    return gather_p.bind(x, b, *idxs, axes=tuple(range(len(idxs) + 1))), 0


def _batched_window(size, shape, sizes, starts, dims):
    """Index grids (batch, then one per dim) of shape (size, *sizes) for the windows that
    start at the (clamped, possibly batched) `starts`: dynamic slices as a gather."""
    from funcad.primitives.elementwise import add_p, convert_element_type_p, max_p, min_p
    grid = (size, *sizes)
    idxs = []
    for d, (st_, sd, n, k) in enumerate(zip(starts, dims, shape, sizes, strict=True)):
        st_ = convert_element_type_p.bind(moveaxis(st_, sd, 0, size), new_dtype=np.dtype(np.int64))
        st_ = min_p.bind(max_p.bind(st_, full((size,), 0, np.int64)),
                         full((size,), n - k, np.int64))
        idxs.append(add_p.bind(broadcast_in_dim(st_, grid, (0,)), iota(np.int64, grid, d + 1)))
    return iota(np.int64, grid, 0), idxs


impl_rules[dynamic_slice_p] = _ds_impl
abstract_eval_rules[dynamic_slice_p] = _ds_aval
weak_type_rules[dynamic_slice_p] = weak_if_operand
jvp_rules[dynamic_slice_p] = _ds_jvp
linear_primitives.add(dynamic_slice_p)
transpose_rules[dynamic_slice_p] = _ds_transpose
batch_rules[dynamic_slice_p] = _ds_batch
lowering_rules[dynamic_slice_p] = "dynamic_slice"

dynamic_update_slice_p = new_primitive("dynamic_update_slice")


def _dus_impl(x, upd, *starts):
    out = np.array(x, copy=True)
    upd = np.asarray(upd)
    st = _clamp_starts(out.shape, upd.shape, starts)
    out[tuple(slice(s, s + k) for s, k in zip(st, upd.shape))] = upd
    return out


def _dus_aval(x, upd, *starts):
    if upd.ndim != x.ndim or any(u > n for u, n in zip(upd.shape, x.shape)):
        raise ValueError(f"dynamic_update_slice: update shape {upd.shape} does not fit in "
                         f"{x.shape}")
    return ShapedArray(x.shape, x.dtype)


def _dus_jvp(primals, tangents):
    x, upd, *starts = primals
    tx, tu, *_ = tangents
    ans = dynamic_update_slice_p.bind(x, upd, *starts)
    if type(tx) is Zero and type(tu) is Zero:
        return ans, Zero(get_aval(ans).strip_weak())
    return ans, dynamic_update_slice_p.bind(instantiate(tx), instantiate(tu), *starts)


def _dus_transpose(ct, x, upd, *starts):
    uaval = upd.aval if is_undefined(upd) else get_aval(upd)
    ct_x = (dynamic_update_slice_p.bind(ct, full(uaval.shape, 0, uaval.dtype), *starts)
            if is_undefined(x) else None)
    ct_u = (dynamic_slice_p.bind(ct, *starts, slice_sizes=uaval.shape)
            if is_undefined(upd) else None)
    return [ct_x, ct_u, *[None] * len(starts)]


def _dus_batch(size, vals, dims):
    x, upd, *starts = vals
    dx, du, *ds = dims
    x = moveaxis(x, dx, 0, size)
    upd = moveaxis(upd, du, 0, size)
    if any(d is not None for d in ds):
        ushape = get_aval(upd).shape[1:]
        b, idxs = _batched_window(size, get_aval(x).shape[1:], ushape, starts, ds)
        return scatter_p.bind(x, b, *idxs, upd, axes=tuple(range(len(idxs) + 1))), 0
    zero = np.zeros((), get_aval(starts[0]).dtype) if starts else np.int64(0)
    return dynamic_update_slice_p.bind(x, upd, zero, *starts), 0


impl_rules[dynamic_update_slice_p] = _dus_impl
abstract_eval_rules[dynamic_update_slice_p] = _dus_aval
weak_type_rules[dynamic_update_slice_p] = lambda avals, params: avals[0].weak_type and avals[1].weak_type
jvp_rules[dynamic_update_slice_p] = _dus_jvp
linear_primitives.add(dynamic_update_slice_p)
transpose_rules[dynamic_update_slice_p] = _dus_transpose
batch_rules[dynamic_update_slice_p] = _dus_batch
lowering_rules[dynamic_update_slice_p] = "dynamic_update_slice"


def _shape_of(x) -> tuple:
    return get_aval(x).shape


__all__ = [
    "Any",
    "Sequence",
    "broadcast_in_dim",
    "full",
    "iota",
    "reshape",
    "slice_",
    "transpose",
]
