"""Reductions of funcad.numpy: sum, mean, prod, max, min, arg*, var, std, cumsum, all, any."""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

from funcad.numpy._base import _asarray as asarray
from funcad.numpy._base import astype, inexact_dtype, ndim, shape
from funcad.numpy._ufuncs import multiply, sqrt, square, subtract, true_divide, where
from funcad.primitives import reductions as red
from funcad.primitives.structural import reshape


def _axes(axis: Any, nd: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(nd))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        a = int(a)
        if not -nd <= a < builtins.max(nd, 1):
            raise ValueError(f"axis {a} is out of bounds for an array of rank {nd}")
        out.append(a % nd if nd else 0)
    if len(set(out)) != len(out):
        raise ValueError(f"duplicate value in 'axis': {axis}")
    return tuple(sorted(out))


def _keepdims(y: Any, in_shape: tuple, axes: tuple, keepdims: bool) -> Any:
    if not keepdims:
        return y
    return reshape(y, tuple(1 if i in axes else n for i, n in enumerate(in_shape)))


def _reduce(prim, a, axis, keepdims, dtype=None, initial_dtype=None):
    a = asarray(a)
    if dtype is not None:
        a = astype(a, dtype)
    elif initial_dtype is not None:
        a = astype(a, initial_dtype(a.dtype))
    s = shape(a)
    axes = _axes(axis, len(s))
    if prim in (red.reduce_max_p, red.reduce_min_p):
        for ax in axes:
            if s[ax] == 0:
                raise ValueError("zero-size array to reduction operation max/min which has "
                                 "no identity")
    y = prim.bind(a, axes=axes) if axes else a
    return _keepdims(y, s, axes, keepdims)


def _sum_dtype(dt: np.dtype) -> np.dtype:
    if dt.kind in "fc":  # the common case, without np.issubdtype's cost
        return dt
    if dt == np.bool_ or (np.issubdtype(dt, np.integer) and dt.itemsize < 8):
        return np.dtype(np.int64) if np.issubdtype(dt, np.signedinteger) or \
            dt == np.bool_ else np.dtype(np.uint64)
    return dt


def sum(a: Any, axis: Any = None, dtype: Any = None, out: None = None,
        keepdims: bool = False, initial: Any = None, where: Any = None) -> Any:
    """Sum over the given axes.

    >>> import funcad.numpy as fnp
    >>> fnp.sum(fnp.ones((2, 3)), axis=0)
    Array([2., 2., 2.], dtype=float64)
    """
    _no_out(out, where)
    y = _reduce(red.reduce_sum_p, a, axis, keepdims, dtype, _sum_dtype)
    return y if initial is None else y + initial


def prod(a: Any, axis: Any = None, dtype: Any = None, out: None = None,
         keepdims: bool = False, initial: Any = None, where: Any = None) -> Any:
    """Product over the given axes."""
    _no_out(out, where)
    y = _reduce(red.reduce_prod_p, a, axis, keepdims, dtype, _sum_dtype)
    return y if initial is None else y * initial


def _is_complex(a: Any) -> bool:
    return np.dtype(a.dtype).kind == "c"


def _complex_arg(a: Any, ax: int, largest: bool) -> Any:
    """argmax (largest) / argmin of a complex array along `ax` in the lexicographic order
    on (real, imag), as NumPy and JAX: the first NaN (in either part) wins, else the first
    extremum. Built from real reductions, so it traces, batches and lowers like them."""
    from funcad.numpy._ufuncs import (equal, imag, isnan, logical_and, logical_not,
                                      logical_or, real)
    red_p = red.reduce_max_p if largest else red.reduce_min_p
    arg_p = red.argmax_p
    far = -np.inf if largest else np.inf
    re_, im_ = real(a), imag(a)
    nan = logical_or(isnan(re_), isnan(im_))
    r = where(nan, far, re_)
    best_r = red_p.bind(r, axes=(ax,))
    cand = logical_and(equal(r, _expand(best_r, ax)), logical_not(nan))
    i = where(cand, im_, far)
    best_i = red_p.bind(i, axes=(ax,))
    hit = logical_and(cand, equal(i, _expand(best_i, ax)))
    idx = arg_p.bind(astype(hit, np.int32), axis=ax, index_dtype=np.dtype(np.int64))
    first_nan = arg_p.bind(astype(nan, np.int32), axis=ax, index_dtype=np.dtype(np.int64))
    any_nan = red.reduce_or_p.bind(nan, axes=(ax,))
    return where(any_nan, first_nan, idx)


def _expand(y: Any, ax: int) -> Any:
    s = list(shape(y))
    s.insert(ax, 1)
    return reshape(y, tuple(s))


def _complex_extreme(a: Any, axis: Any, keepdims: bool, largest: bool) -> Any:
    """max/min of a complex array over `axis`: the element at the lexicographic arg-extremum
    (its derivative is the gather's: the tangent of that element)."""
    from funcad.numpy._indexing import take_along_axis
    from funcad.primitives.structural import transpose
    s = shape(a)
    axes = _axes(axis, len(s))
    for ax in axes:
        if s[ax] == 0:
            raise ValueError("zero-size array to reduction operation max/min which has "
                             "no identity")
    if not axes:
        return a
    kept = [d for d in range(len(s)) if d not in axes]
    n = _count(s, axes)
    x = reshape(transpose(a, (*kept, *axes)), (*[s[d] for d in kept], n))
    last = len(kept)
    idx = _complex_arg(x, last, largest)
    y = take_along_axis(x, _expand(idx, last), axis=-1)
    y = _tie_averaged(x, reshape(y, tuple(s[d] for d in kept)), last)
    return _keepdims(y, s, axes, keepdims)


def _tie_averaged(x: Any, y: Any, ax: int) -> Any:
    """y (the chosen elements of x along `ax`) with JAX's extremum derivative: the tangent
    averaged over the elements equal to y. The value stays y exactly: stop_gradient(y)
    plus (m - stop_gradient(m)), m the mean of the equal elements (0 where m is not
    finite: an infinite or NaN extremum gets a zero derivative)."""
    from funcad.api import stop_gradient
    from funcad.numpy._ufuncs import equal, isfinite, logical_and
    y0 = stop_gradient(y)
    mask = equal(x, _expand(y0, ax))
    count = sum(astype(mask, np.dtype(y.dtype).type(0).real.dtype), axis=ax)
    total = sum(where(mask, x, 0), axis=ax)
    from funcad.lax import complex as _complex
    from funcad.numpy._ufuncs import imag, real
    n = where(count > 0, count, 1)  # (parts divided apart: no inf * 0 in complex division)
    mean = _complex(true_divide(real(total), n), true_divide(imag(total), n))
    m0 = stop_gradient(mean)
    ok = logical_and(count > 0, isfinite(m0))
    return y0 + (where(ok, mean, 0) - where(ok, m0, 0))


def max(a: Any, axis: Any = None, out: None = None, keepdims: bool = False,
        initial: Any = None, where: Any = None) -> Any:
    """Maximum over the given axes (complex: lexicographic on (real, imag), NaNs first)."""
    _no_out(out, where)
    a = asarray(a)
    if _is_complex(a):
        y = _complex_extreme(a, axis, keepdims, True)
    else:
        y = _reduce(red.reduce_max_p, a, axis, keepdims)
    if initial is not None:
        from funcad.numpy._ufuncs import maximum
        y = maximum(y, initial)
    return y


def min(a: Any, axis: Any = None, out: None = None, keepdims: bool = False,
        initial: Any = None, where: Any = None) -> Any:
    """Minimum over the given axes (complex: lexicographic on (real, imag), NaNs first)."""
    _no_out(out, where)
    a = asarray(a)
    if _is_complex(a):
        y = _complex_extreme(a, axis, keepdims, False)
    else:
        y = _reduce(red.reduce_min_p, a, axis, keepdims)
    if initial is not None:
        from funcad.numpy._ufuncs import minimum
        y = minimum(y, initial)
    return y


amax, amin = max, min


def all(a: Any, axis: Any = None, out: None = None, keepdims: bool = False) -> Any:
    """True where all elements along the axes are true."""
    _no_out(out, None)
    return _reduce(red.reduce_and_p, astype(asarray(a), bool), axis, keepdims)


def any(a: Any, axis: Any = None, out: None = None, keepdims: bool = False) -> Any:
    """True where any element along the axes is true."""
    _no_out(out, None)
    return _reduce(red.reduce_or_p, astype(asarray(a), bool), axis, keepdims)


def _count(s, axes) -> int:
    return int(np.prod([s[i] for i in axes], dtype=np.int64))


def mean(a: Any, axis: Any = None, dtype: Any = None, out: None = None,
         keepdims: bool = False, where: Any = None) -> Any:
    """Arithmetic mean over the given axes."""
    _no_out(out, where)
    a = asarray(a)
    a = astype(a, dtype or inexact_dtype(a.dtype))
    axes = _axes(axis, ndim(a))
    n = _count(shape(a), axes)
    return true_divide(sum(a, axes, keepdims=keepdims), n)


def var(a: Any, axis: Any = None, dtype: Any = None, out: None = None, ddof: int = 0,
        keepdims: bool = False, where: Any = None) -> Any:
    """Variance over the given axes (divisor n - ddof)."""
    _no_out(out, where)
    a = asarray(a)
    a = astype(a, dtype or inexact_dtype(a.dtype))
    axes = _axes(axis, ndim(a))
    n = _count(shape(a), axes)
    centered = subtract(a, mean(a, axes, keepdims=True))
    if np.dtype(a.dtype).kind == "c":  # |a - mean|^2: a real variance, as NumPy's
        from funcad.numpy._ufuncs import conj, multiply, real
        sq = real(multiply(centered, conj(centered)))
    else:
        sq = square(centered)
    return true_divide(sum(sq, axes, keepdims=keepdims), n - ddof)


def std(a: Any, axis: Any = None, dtype: Any = None, out: None = None, ddof: int = 0,
        keepdims: bool = False, where: Any = None) -> Any:
    """Standard deviation over the given axes."""
    return sqrt(var(a, axis, dtype, out, ddof, keepdims, where))


def _arg(prim, a, axis, keepdims):
    a = asarray(a)
    in_shape = shape(a)
    if axis is None:
        a = reshape(a, (size_of(a),))
    nd = ndim(a)
    (ax,) = _axes(0 if axis is None else axis, nd)
    if shape(a)[ax] == 0:
        raise ValueError("attempt to get argmax/argmin of an empty sequence")
    if _is_complex(a):
        y = _complex_arg(a, ax, prim is red.argmax_p)
    else:
        y = prim.bind(a, axis=ax, index_dtype=np.dtype(np.int64))
    if axis is None:
        return reshape(y, (1,) * len(in_shape)) if keepdims else y
    return _keepdims(y, shape(a), (ax,), keepdims)


def size_of(a) -> int:
    return int(np.prod(shape(a), dtype=np.int64))


def argmax(a: Any, axis: int | None = None, out: None = None, keepdims: bool = False) -> Any:
    """Index of the maximum (first occurrence) along an axis."""
    _no_out(out, None)
    return _arg(red.argmax_p, a, axis, keepdims)


def argmin(a: Any, axis: int | None = None, out: None = None, keepdims: bool = False) -> Any:
    """Index of the minimum (first occurrence) along an axis."""
    _no_out(out, None)
    return _arg(red.argmin_p, a, axis, keepdims)


def cumsum(a: Any, axis: int | None = None, dtype: Any = None, out: None = None) -> Any:
    """Cumulative sum along an axis (the flattened array if axis is None)."""
    _no_out(out, None)
    a = asarray(a)
    # JAX: integers keep their dtype (sum promotes them, cumsum does not); bools count in int64
    a = astype(a, dtype or (np.dtype(np.int64) if a.dtype == np.bool_ else a.dtype))
    if axis is None:
        a = reshape(a, (size_of(a),))
        axis = 0
    (ax,) = _axes(axis, ndim(a))
    return red.cumsum_p.bind(a, axis=ax, reverse=False)


def average(a: Any, axis: Any = None, weights: Any = None, returned: bool = False, *,
            keepdims: bool = False) -> Any:
    """Weighted average (1-d weights run along `axis`, as in NumPy)."""
    from funcad.numpy._base import broadcast_to
    a = asarray(a)
    a = astype(a, inexact_dtype(a.dtype))
    if weights is None:
        avg = mean(a, axis, keepdims=keepdims)
        if not returned:
            return avg
        return avg, broadcast_to(np.asarray(_count(shape(a), _axes(axis, ndim(a))),
                                            avg.dtype), shape(avg))
    w = asarray(weights)
    if shape(w) != shape(a):
        if axis is None:
            raise TypeError("average: axis must be given when weights and a differ in shape")
        axes = _axes(axis, ndim(a))
        if ndim(w) != 1 or len(axes) != 1 or shape(w)[0] != shape(a)[axes[0]]:
            raise ValueError(f"average: weights of shape {shape(w)} do not match a of shape "
                             f"{shape(a)} along axis {axis}")
        w = reshape(w, tuple(shape(w)[0] if i == axes[0] else 1 for i in range(ndim(a))))
        w = broadcast_to(w, shape(a))
    num = sum(multiply(a, w), axis, keepdims=keepdims)
    den = sum(w, axis, keepdims=keepdims)
    res = true_divide(num, den)
    return (res, broadcast_to(den, shape(res))) if returned else res


def _no_out(out, where_):
    if out is not None:
        raise TypeError("funcad.numpy functions do not support out=: arrays are values; "
                        "use the returned array")
    if where_ is not None:
        raise NotImplementedError("the where= argument of reductions is not supported; "
                                  "use fnp.where on the input instead")


__all__ = [
    "all",
    "amax",
    "amin",
    "any",
    "argmax",
    "argmin",
    "average",
    "cumsum",
    "max",
    "mean",
    "min",
    "prod",
    "std",
    "sum",
    "var",
    "where",
]
