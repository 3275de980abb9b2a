"""Shape manipulation in funcad.numpy: reshape, transpose, concatenate, split, pad, ..."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from funcad._core import Tracer
from funcad.numpy._base import _asarray as asarray
from funcad.numpy._base import astype, broadcast_to, ndim, promote, shape
from funcad.primitives import structural as st


def _norm_axis(axis: int, nd: int, what: str = "axis") -> int:
    axis = int(axis)
    if not -nd <= axis < nd:
        raise ValueError(f"{what} {axis} is out of bounds for an array of rank {nd}")
    return axis % nd


def reshape(a: Any, shape: Any = None, order: str = "C", *, newshape: Any = None,
            copy: bool | None = None) -> Any:
    """Reshape (row-major); one dimension may be -1.

    >>> import funcad.numpy as fnp
    >>> fnp.reshape(fnp.arange(6.0), (2, -1)).shape
    (2, 3)
    """
    if order != "C":
        raise NotImplementedError("reshape: only order='C' is supported")
    if shape is None:
        if newshape is None:
            raise TypeError("reshape() missing the required argument 'shape'")
        shape = newshape
    a = asarray(a)
    if isinstance(shape, (int, np.integer, Tracer)):
        shape = (shape,)
    newshape = [int(d.to_concrete("shape")) if isinstance(d, Tracer) else int(d)
                for d in shape]
    old = _shape_of(a)
    size = int(np.prod(old, dtype=np.int64))
    if newshape.count(-1) > 1:
        raise ValueError("reshape: can only specify one unknown dimension (-1)")
    if -1 in newshape:
        known = int(np.prod([d for d in newshape if d != -1], dtype=np.int64))
        if known == 0 or size % known:
            raise ValueError(f"cannot reshape array of shape {old} (size {size}) into "
                             f"shape {tuple(newshape)}")
        newshape[newshape.index(-1)] = size // known
    if int(np.prod(newshape, dtype=np.int64)) != size or any(d < 0 for d in newshape):
        raise ValueError(f"cannot reshape array of shape {old} (size {size}) into shape "
                         f"{tuple(newshape)}")
    return st.reshape(a, tuple(newshape))


_shape_of = shape


def ravel(a: Any, order: str = "C") -> Any:
    """Flatten to one dimension."""
    return reshape(a, (-1,), order)


def transpose(a: Any, axes: Sequence[int] | None = None) -> Any:
    """Permute axes (reverse them by default)."""
    a = asarray(a)
    nd = ndim(a)
    if axes is None:
        axes = tuple(range(nd))[::-1]
    axes = tuple(_norm_axis(x, nd) for x in axes)
    if sorted(axes) != list(range(nd)):
        raise ValueError(f"transpose: axes {axes} do not match an array of rank {nd}")
    return st.transpose(a, axes)


def permute_dims(a: Any, axes: Sequence[int]) -> Any:
    """Array-API name of transpose."""
    return transpose(a, axes)


def swapaxes(a: Any, axis1: int, axis2: int) -> Any:
    """Interchange two axes."""
    nd = ndim(a)
    perm = list(range(nd))
    i, j = _norm_axis(axis1, nd), _norm_axis(axis2, nd)
    perm[i], perm[j] = perm[j], perm[i]
    return transpose(a, perm)


def moveaxis(a: Any, source: Any, destination: Any) -> Any:
    """Move axes to new positions."""
    nd = ndim(a)
    src = [source] if isinstance(source, (int, np.integer)) else list(source)
    dst = [destination] if isinstance(destination, (int, np.integer)) else list(destination)
    if len(src) != len(dst):
        raise ValueError("moveaxis: source and destination must have the same length")
    src = [_norm_axis(s, nd, "source") for s in src]
    dst = [_norm_axis(d, nd, "destination") for d in dst]
    order = [i for i in range(nd) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return transpose(a, order)


def expand_dims(a: Any, axis: Any) -> Any:
    """Insert size-1 axes."""
    a = asarray(a)
    axes = [axis] if isinstance(axis, (int, np.integer)) else list(axis)
    out_nd = ndim(a) + len(axes)
    axes = sorted(_norm_axis(x, out_nd) for x in axes)
    if len(set(axes)) != len(axes):
        raise ValueError(f"expand_dims: repeated axis in {axis}")
    new_shape = list(shape(a))
    for x in axes:
        new_shape.insert(x, 1)
    return st.reshape(a, tuple(new_shape))


def squeeze(a: Any, axis: Any = None) -> Any:
    """Remove size-1 axes."""
    a = asarray(a)
    s = shape(a)
    if axis is None:
        axes = [i for i, n in enumerate(s) if n == 1]
    else:
        given = [axis] if isinstance(axis, (int, np.integer)) else axis
        axes = [_norm_axis(x, len(s)) for x in given]
        for x in axes:
            if s[x] != 1:
                raise ValueError(f"cannot select an axis to squeeze out which has size not "
                                 f"equal to one (axis {x} of shape {s})")
    return st.reshape(a, tuple(n for i, n in enumerate(s) if i not in axes))


def atleast_1d(*arys: Any) -> Any:
    """View inputs as arrays with at least one dimension."""
    res = [reshape(a, (1,)) if ndim(a) == 0 else asarray(a) for a in arys]
    return res[0] if len(res) == 1 else res


def atleast_2d(*arys: Any) -> Any:
    """View inputs as arrays with at least two dimensions."""
    res = []
    for a in arys:
        a = asarray(a)
        while ndim(a) < 2:
            a = expand_dims(a, 0)
        res.append(a)
    return res[0] if len(res) == 1 else res


def concatenate(arrays: Sequence, axis: int | None = 0, out: None = None, *,
                dtype: Any = None, casting: str = "same_kind") -> Any:
    """Join arrays along an existing axis (flattened if axis is None).

    >>> import funcad.numpy as fnp
    >>> fnp.concatenate([fnp.ones(2), fnp.zeros(1)])
    Array([1., 1., 0.], dtype=float64)
    """
    if out is not None:
        raise TypeError("concatenate: out= is not supported; use the returned array")
    arrays = [asarray(a) for a in arrays]
    if not arrays:
        raise ValueError("need at least one array to concatenate")
    if dtype is not None:
        arrays = [astype(a, dtype) for a in arrays]
    if axis is None:
        arrays = [ravel(a) for a in arrays]
        axis = 0
    arrays = promote(*arrays)
    nd = ndim(arrays[0])
    if nd == 0:
        raise ValueError("zero-dimensional arrays cannot be concatenated")
    ax = _norm_axis(axis, nd)
    for a in arrays[1:]:
        if ndim(a) != nd:
            raise ValueError(f"concatenate: all arrays must have the same rank, got shapes "
                             f"{[shape(x) for x in arrays]}")
    if len(arrays) == 1:
        return arrays[0]
    if not any(isinstance(a, Tracer) for a in arrays):
        from funcad._core import current_dynamic_main
        if current_dynamic_main().level == 0:
            return np.concatenate(arrays, axis=ax)
    return st.concatenate_p.bind(*arrays, dimension=ax)


def stack(arrays: Sequence, axis: int = 0, out: None = None, *, dtype: Any = None) -> Any:
    """Join arrays along a new axis."""
    from funcad.numpy._base import stack as _stack
    return _stack(arrays, axis, out, dtype=dtype)


def hstack(tup: Sequence) -> Any:
    """Stack horizontally."""
    arrs = atleast_1d(*tup) if len(tup) > 1 else [atleast_1d(tup[0])]
    return concatenate(arrs, axis=0 if ndim(arrs[0]) == 1 else 1)


def vstack(tup: Sequence) -> Any:
    """Stack vertically."""
    arrs = atleast_2d(*tup) if len(tup) > 1 else [atleast_2d(tup[0])]
    return concatenate(arrs, axis=0)


def column_stack(tup: Sequence) -> Any:
    """Stack 1-d arrays as columns."""
    arrs = [reshape(a, (-1, 1)) if ndim(a) < 2 else a for a in tup]
    return concatenate(arrs, axis=1)


def split(ary: Any, indices_or_sections: Any, axis: int = 0) -> list:
    """Split into sub-arrays along an axis."""
    ary = asarray(ary)
    nd = ndim(ary)
    ax = _norm_axis(axis, nd)
    n = shape(ary)[ax]
    if isinstance(indices_or_sections, (int, np.integer)):
        k = int(indices_or_sections)
        if k <= 0 or n % k:
            raise ValueError(f"array split does not result in an equal division: {n} "
                             f"elements into {k} sections")
        bounds = [i * (n // k) for i in range(k + 1)]
    else:
        bounds = [0, *[min(max(int(i), 0), n) for i in indices_or_sections], n]
    return [_slice_axis(ary, ax, bounds[i], max(bounds[i], bounds[i + 1]))
            for i in range(len(bounds) - 1)]


def array_split(ary: Any, indices_or_sections: Any, axis: int = 0) -> list:
    """Split into nearly equal sub-arrays."""
    if isinstance(indices_or_sections, (int, np.integer)):
        n = shape(ary)[_norm_axis(axis, ndim(ary))]
        k = int(indices_or_sections)
        sizes = [n // k + (1 if i < n % k else 0) for i in range(k)]
        idx = np.cumsum(sizes)[:-1].tolist()
        return split(ary, idx, axis)
    return split(ary, indices_or_sections, axis)


def _slice_axis(a, axis, start, stop):
    s = shape(a)
    starts = [0] * len(s)
    limits = list(s)
    starts[axis] = start
    limits[axis] = stop
    return st.slice_(a, starts, limits)


def flip(m: Any, axis: Any = None) -> Any:
    """Reverse the order of elements along axes."""
    m = asarray(m)
    nd = ndim(m)
    axes = tuple(range(nd)) if axis is None else tuple(
        _norm_axis(x, nd) for x in ([axis] if isinstance(axis, (int, np.integer)) else axis))
    if not axes:
        return m
    return st.rev_p.bind(m, dimensions=axes)


def fliplr(m: Any) -> Any:
    """Flip along axis 1."""
    return flip(m, 1)


def flipud(m: Any) -> Any:
    """Flip along axis 0."""
    return flip(m, 0)


def roll(a: Any, shift: Any, axis: Any = None) -> Any:
    """Roll elements along an axis."""
    a = asarray(a)
    if axis is None:
        return reshape(roll(ravel(a), shift, 0), shape(a))
    shifts = [shift] if isinstance(shift, (int, np.integer)) else list(shift)
    axes = [axis] if isinstance(axis, (int, np.integer)) else list(axis)
    for s, ax in zip(shifts, axes):
        ax = _norm_axis(ax, ndim(a))
        n = shape(a)[ax]
        if n == 0:
            continue
        s = int(s) % n
        if s:
            a = concatenate([_slice_axis(a, ax, n - s, n), _slice_axis(a, ax, 0, n - s)], ax)
    return a


def tile(A: Any, reps: Any) -> Any:
    """Repeat an array `reps` times along each axis."""
    A = asarray(A)
    reps = (reps,) if isinstance(reps, (int, np.integer)) else tuple(reps)
    nd = max(ndim(A), len(reps))
    A = reshape(A, (1,) * (nd - ndim(A)) + shape(A))
    reps = (1,) * (nd - len(reps)) + reps
    s = shape(A)
    # broadcast to (r0, s0, r1, s1, ...) then merge pairs
    inter = []
    dims = []
    for i, (r, n) in enumerate(zip(reps, s)):
        inter += [r, n]
        dims.append(2 * i + 1)
    b = st.broadcast_in_dim(A, tuple(inter), tuple(dims))
    return reshape(b, tuple(r * n for r, n in zip(reps, s)))


def repeat(a: Any, repeats: Any, axis: int | None = None,
           total_repeat_length: int | None = None) -> Any:
    """Repeat each element `repeats` times along an axis.

    `total_repeat_length` (JAX's) fixes the output length: extra values are dropped, or
    the last value is repeated.
    """
    a = asarray(a)
    if axis is None:
        a = ravel(a)
        axis = 0
    ax = _norm_axis(axis, ndim(a))
    if isinstance(repeats, Tracer):
        repeats = repeats.to_concrete("shape")
    reps = np.asarray(repeats)
    s = shape(a)
    if total_repeat_length is not None:
        idx = np.repeat(np.arange(s[ax]), reps)[:int(total_repeat_length)]
        if idx.size < total_repeat_length:
            if not idx.size:
                raise ValueError("repeat: total_repeat_length needs at least one value")
            idx = np.concatenate([idx, np.full(total_repeat_length - idx.size, idx[-1])])
        from funcad.numpy._indexing import take
        return take(a, idx, axis=ax)
    if reps.ndim == 0:
        r = int(reps)
        inter = list(s)
        inter.insert(ax + 1, r)
        dims = tuple(i if i <= ax else i + 1 for i in range(len(s)))
        b = st.broadcast_in_dim(a, tuple(inter), dims)
        out_shape = list(s)
        out_shape[ax] = s[ax] * r
        return reshape(b, tuple(out_shape))
    idx = np.repeat(np.arange(s[ax]), reps)
    from funcad.numpy._indexing import take
    return take(a, idx, axis=ax)


def pad(array: Any, pad_width: Any, mode: str = "constant", constant_values: Any = 0) -> Any:
    """Pad an array (modes: constant, edge, reflect, symmetric, wrap).

    >>> import funcad.numpy as fnp
    >>> fnp.pad(fnp.array([1.0, 2.0]), 1)
    Array([0., 1., 2., 0.], dtype=float64)
    """
    array = asarray(array)
    nd = ndim(array)
    pw = np.broadcast_to(np.asarray(pad_width, dtype=np.int64).reshape(-1, 2)
                         if np.ndim(pad_width) == 2 else np.asarray(pad_width, np.int64),
                         (nd, 2)) if np.ndim(pad_width) != 2 else np.broadcast_to(
        np.asarray(pad_width, np.int64), (nd, 2))
    if (pw < 0).any():
        raise ValueError("pad: pad widths must be non-negative")
    if mode == "constant":
        (cv,) = promote(constant_values, dtype=array.dtype)
        if ndim(cv) != 0:
            raise NotImplementedError("pad: only a scalar constant_values is supported")
        config = tuple((int(lo), int(hi), 0) for lo, hi in pw)
        if not any(lo or hi for lo, hi, _ in config):
            return array
        return st.pad_p.bind(array, cv, padding_config=config)
    if mode not in ("edge", "reflect", "symmetric", "wrap"):
        raise NotImplementedError(f"pad: mode {mode!r} is not supported (use constant, "
                                  f"edge, reflect, symmetric or wrap)")
    out = array
    for ax in range(nd):
        lo, hi = int(pw[ax, 0]), int(pw[ax, 1])
        n = shape(out)[ax]
        parts = []
        if lo:
            parts.append(_pad_piece(out, ax, n, lo, mode, before=True))
        parts.append(out)
        if hi:
            parts.append(_pad_piece(out, ax, n, hi, mode, before=False))
        if len(parts) > 1:
            out = concatenate(parts, ax)
    return out


def _pad_piece(a, ax, n, k, mode, before):
    from funcad.numpy._indexing import take
    if mode == "edge":
        idx = np.zeros(k, np.int64) if before else np.full(k, n - 1)
    elif mode == "wrap":
        idx = (np.arange(-k, 0) % n) if before else (np.arange(n, n + k) % n)
    else:
        period = 2 * n - 2 if mode == "reflect" else 2 * n
        period = max(period, 1)

        def refl(i):
            i = i % period
            if mode == "reflect":
                return np.where(i < n, i, period - i)
            return np.where(i < n, i, period - 1 - i)
        if before:
            pos = np.arange(-k, 0)
            idx = refl(-pos if mode == "reflect" else -pos - 1)
        else:
            pos = np.arange(n, n + k)
            idx = refl(pos)
    return take(a, np.asarray(idx, np.int64), axis=ax)


def broadcast_to_(a, s):
    return broadcast_to(a, s)


def diagonal(a: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Any:
    """The diagonal of the matrix formed by axes (axis1, axis2), as the last axis."""
    a = asarray(a)
    nd = ndim(a)
    a1, a2 = _norm_axis(axis1, nd), _norm_axis(axis2, nd)
    a = moveaxis(a, (a1, a2), (nd - 2, nd - 1))
    n, m = shape(a)[-2:]
    rows = np.arange(max(0, -offset), min(n, m - offset) if m - offset > 0 else 0)
    cols = rows + offset
    from funcad.numpy._indexing import getitem
    idx = (Ellipsis, rows, cols)
    return getitem(a, idx)


def diag(v: Any, k: int = 0) -> Any:
    """Extract a diagonal (2-d input) or build a diagonal matrix (1-d input)."""
    v = asarray(v)
    if ndim(v) == 2:
        return diagonal(v, k)
    if ndim(v) != 1:
        raise ValueError("diag: input must be 1-d or 2-d")
    n = shape(v)[0] + abs(k)
    from funcad.numpy._base import zeros
    from funcad.numpy._indexing import at
    rows = np.arange(shape(v)[0]) + max(0, -k)
    cols = np.arange(shape(v)[0]) + max(0, k)
    return at(zeros((n, n), v.dtype))[rows, cols].set(v)


def tril(m: Any, k: int = 0) -> Any:
    """Lower triangle (zero above diagonal k)."""
    from funcad.numpy._ufuncs import where
    m = asarray(m)
    n, c = shape(m)[-2:]
    mask = np.tri(n, c, k, dtype=bool)
    return where(mask, m, 0)


def triu(m: Any, k: int = 0) -> Any:
    """Upper triangle (zero below diagonal k)."""
    from funcad.numpy._ufuncs import where
    m = asarray(m)
    n, c = shape(m)[-2:]
    mask = ~np.tri(n, c, k - 1, dtype=bool)
    return where(mask, m, 0)


__all__ = [
    "Sequence",
    "broadcast_to",
    "concatenate",
    "expand_dims",
    "flip",
    "moveaxis",
    "pad",
    "ravel",
    "repeat",
    "reshape",
    "roll",
    "split",
    "squeeze",
    "stack",
    "swapaxes",
    "tile",
    "transpose",
]
