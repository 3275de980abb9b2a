"""Sorting, searching, order statistics and the NaN-ignoring reductions of funcad.numpy.

`sort`, `median`, `quantile` ... are composites over one primitive, `argsort` (stable,
NaNs last, no derivative): the values are gathered with `take_along_axis`, so their
derivatives are the gather's. `searchsorted` compares every value with every sorted
element (JAX's method="compare_all"), which needs no new primitive either.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from funcad.numpy._base import (
    asarray,
    astype,
    broadcast_to,
    ndim,
    promote_inexact,
    shape,
)
from funcad.numpy._indexing import take_along_axis
from funcad.numpy._reductions import (
    _axes,
    all,
    argmax,
    argmin,
    cumsum,
    max,
    min,
    prod,
    sum,
)
from funcad.numpy._shapes import flip, moveaxis, reshape, transpose
from funcad.numpy._ufuncs import (
    abs,
    ceil,
    clip,
    floor,
    isnan,
    less,
    logical_and,
    logical_not,
    logical_or,
    multiply,
    round,
    sqrt,
    subtract,
    true_divide,
    where,
)
from funcad.primitives.reductions import argsort_p

_INDEX = np.dtype(np.int64)

# -- sort and argsort ---------------------------------------------------------------------------


def _argsort_p(a: Any, axis: int) -> Any:
    """Stable ascending argsort along `axis`; complex arrays in the lexicographic order on
    (real, imag) with NaNs last in each part, as NumPy and JAX (two stable real sorts)."""
    if np.dtype(a.dtype).kind != "c":
        return argsort_p.bind(a, axis=axis, index_dtype=_INDEX)
    from funcad.numpy._ufuncs import imag, real
    perm = argsort_p.bind(imag(a), axis=axis, index_dtype=_INDEX)
    by_real = argsort_p.bind(take_along_axis(real(a), perm, axis=axis), axis=axis,
                             index_dtype=_INDEX)
    return take_along_axis(perm, by_real, axis=axis)


def _argsort_axis(a: Any, axis: int, descending: bool) -> Any:
    if not descending:
        return _argsort_p(a, axis)
    # Stable descending order: sort the reversed array, reverse back, re-map the indices.
    n = shape(a)[axis]
    p = flip(_argsort_p(flip(a, axis), axis), axis)
    return subtract(np.int64(n - 1), p)


def _flat_or_axis(a: Any, axis: Any) -> tuple[Any, int]:
    a = asarray(a)
    if axis is None:
        return reshape(a, (-1,)), 0
    if ndim(a) == 0:
        raise ValueError("sort: axis must be None for a 0-d array")
    (ax,) = _axes(axis, ndim(a))
    return a, ax


def argsort(a: Any, axis: int | None = -1, *, kind: Any = None, order: Any = None,
            stable: bool = True, descending: bool = False) -> Any:
    """Indices that sort `a` along `axis` (stable; NaNs last)."""
    if order is not None:
        raise NotImplementedError("argsort: order= (structured arrays) is not supported")
    a, ax = _flat_or_axis(a, axis)
    return _argsort_axis(a, ax, descending)


def sort(a: Any, axis: int | None = -1, *, kind: Any = None, order: Any = None,
         stable: bool = True, descending: bool = False) -> Any:
    """Sorted copy of `a` along `axis` (NaNs last); differentiable through the values."""
    if order is not None:
        raise NotImplementedError("sort: order= (structured arrays) is not supported")
    a, ax = _flat_or_axis(a, axis)
    return take_along_axis(a, _argsort_axis(a, ax, descending), axis=ax)


def lexsort(keys: Any, axis: int = -1) -> Any:
    """Indirect stable sort by several keys (the last key is the primary one)."""
    keys = [asarray(k) for k in keys] if isinstance(keys, (list, tuple)) else [
        asarray(keys)[i] for i in range(shape(keys)[0])]
    if not keys:
        raise TypeError("lexsort: need at least one key")
    (ax,) = _axes(axis, ndim(keys[0]))
    perm = _argsort_p(keys[0], ax)
    for k in keys[1:]:
        sub = _argsort_p(take_along_axis(k, perm, axis=ax), ax)
        perm = take_along_axis(perm, sub, axis=ax)
    return perm


def sort_complex(a: Any) -> Any:
    """Sorted copy along the last axis, in the lexicographic order on (real, imag), as a
    complex array (real input is converted, as NumPy and JAX do)."""
    a = asarray(a)
    (a,) = promote_inexact(a)
    if np.dtype(a.dtype).kind != "c":
        a = astype(a, np.result_type(a.dtype, np.complex64))
    if ndim(a) == 0:
        return a
    return sort(a, axis=-1)


def partition(a: Any, kth: int, axis: int = -1) -> Any:
    """An array whose kth element is in its sorted place (here: fully sorted, as allowed)."""
    return sort(a, axis=axis)


def argpartition(a: Any, kth: int, axis: int = -1) -> Any:
    """Indices that partition `a` around its kth element (here: a full argsort)."""
    return argsort(a, axis=axis)


# -- searching -----------------------------------------------------------------------------------


def _lt(x: Any, y: Any) -> Any:
    """x < y in NumPy's sort order (NaN above everything)."""
    return logical_or(less(x, y), logical_and(isnan(y), logical_not(isnan(x))))


def searchsorted(a: Any, v: Any, side: str = "left", sorter: Any = None, *,
                 method: str = "scan") -> Any:
    """Indices where elements of v would be inserted into the sorted 1-d array a (every
    method computes JAX's "compare_all": one comparison per pair, no new primitive)."""
    if method not in ("scan", "scan_unrolled", "sort", "compare_all"):
        raise ValueError(f"searchsorted: unknown method {method!r}")
    if side not in ("left", "right"):
        raise ValueError(f"searchsorted: side must be 'left' or 'right', got {side!r}")
    a = asarray(a)
    if ndim(a) != 1:
        raise ValueError(f"searchsorted: a must be 1-d, got shape {shape(a)}")
    if sorter is not None:
        a = asarray(a)[asarray(sorter)]
    v = asarray(v)
    (a, v) = promote_like(a, v)
    ae = reshape(a, (1,) * ndim(v) + shape(a))
    ve = reshape(v, shape(v) + (1,))
    if np.issubdtype(a.dtype, np.inexact):
        before = _lt(ae, ve) if side == "left" else logical_not(_lt(ve, ae))
    else:
        before = less(ae, ve) if side == "left" else logical_not(less(ve, ae))
    return sum(astype(before, _INDEX), axis=-1)


def promote_like(*args: Any) -> list:
    from funcad.numpy._base import promote
    return promote(*args)


def interp(x: Any, xp: Any, fp: Any, left: Any = None, right: Any = None,
           period: Any = None) -> Any:
    """Piecewise-linear interpolation of the points (xp, fp) at x (xp increasing)."""
    x, xp, fp = promote_inexact(x, xp, fp)
    if ndim(xp) != 1 or ndim(fp) != 1 or shape(xp) != shape(fp):
        raise ValueError(f"interp: xp and fp must be 1-d of the same length, got shapes "
                         f"{shape(xp)} and {shape(fp)}")
    if period is not None:
        period = abs(astype(asarray(period), x.dtype))
        from funcad.numpy._shapes import concatenate
        from funcad.numpy._ufuncs import remainder
        x = remainder(x, period)
        xp = remainder(xp, period)
        order = argsort(xp)
        xp, fp = xp[order], fp[order]
        xp = concatenate([xp[-1:] - period, xp, xp[:1] + period])
        fp = concatenate([fp[-1:], fp, fp[:1]])
    n = shape(xp)[0]
    if n == 1:
        return broadcast_to(where(x == x, fp[0], fp[0]), shape(x))
    i = clip(searchsorted(xp, x, side="right"), 1, n - 1)
    from funcad.numpy._indexing import take
    x0, x1, f0, f1 = take(xp, i - 1), take(xp, i), take(fp, i - 1), take(fp, i)
    dx = subtract(x1, x0)
    eps = np.spacing(np.finfo(x.dtype).eps)
    dx0 = abs(dx) <= eps
    f = where(dx0, f0, f0 + true_divide(subtract(x, x0), where(dx0, 1, dx)) * subtract(f1, f0))
    if period is None:
        f = where(less(x, xp[0]), fp[0] if left is None else left, f)
        f = where(less(xp[-1], x), fp[-1] if right is None else right, f)
    return astype(f, x.dtype)


# -- order statistics ----------------------------------------------------------------------------

_METHODS = ("linear", "lower", "higher", "nearest", "midpoint", "inverted_cdf",
            "averaged_inverted_cdf", "closest_observation", "interpolated_inverted_cdf",
            "hazen", "weibull", "median_unbiased", "normal_unbiased")


def _quantile(name: str, a: Any, q: Any, axis: Any, method: str, keepdims: bool,
              ignore_nan: bool) -> Any:
    if method not in ("linear", "lower", "higher", "nearest", "midpoint"):
        raise NotImplementedError(f"{name}: method={method!r} is not supported (linear, lower, "
                                  f"higher, nearest, midpoint are)") if method in _METHODS \
            else ValueError(f"{name}: unknown method {method!r}")
    # NumPy's dtype rule: a Python-number q is weak, an array q promotes with a.
    (a,) = promote_inexact(a)
    if np.dtype(a.dtype).kind == "c":
        raise ValueError(f"{name} does not support complex input (as in JAX: quantiles of "
                         f"complex numbers are poorly defined); use fnp.real(a) or fnp.abs(a)")
    if type(q) in (int, float):
        q = np.asarray(q, a.dtype)
    a, q = promote_inexact(a, asarray(q))
    a_shape = shape(a)
    axes = _axes(axis, ndim(a))
    kept = [d for d in range(ndim(a)) if d not in axes]
    n = int(np.prod([a_shape[d] for d in axes], dtype=np.int64))
    if n == 0:
        raise ValueError(f"{name}: cannot take a quantile of an empty array")
    rest = tuple(a_shape[d] for d in kept)
    x = reshape(transpose(a, (*kept, *axes)), (*rest, n))  # reduced axes last, merged
    s = take_along_axis(x, argsort_p.bind(x, axis=len(rest), index_dtype=_INDEX), axis=-1)
    nan_row = isnan(s[..., -1:])  # NaNs sort last
    if ignore_nan:
        count = sum(astype(logical_not(isnan(s)), a.dtype), axis=-1, keepdims=True)
    else:
        count = broadcast_to(np.asarray(n, a.dtype), (*rest, 1))
    qs = shape(q)
    qf = reshape(q, (1,) * len(rest) + (-1,))  # rest dims of 1, then the flat q
    pos = multiply(qf, subtract(count, 1))  # (*rest, nq)
    last = subtract(count, 1)
    lo = clip(floor(pos), 0, last)
    hi = clip(ceil(pos), 0, last)

    def at(p):
        return take_along_axis(s, astype(p, _INDEX), axis=-1)
    if method == "lower":
        res = at(lo)
    elif method == "higher":
        res = at(hi)
    elif method == "nearest":
        res = at(clip(round(pos), 0, last))
    elif method == "midpoint":
        res = multiply(at(lo) + at(hi), 0.5)
    else:
        vlo, vhi = at(lo), at(hi)
        res = vlo + multiply(subtract(vhi, vlo), subtract(pos, lo))
    if not ignore_nan:
        res = where(nan_row, np.nan, res)
    # (*rest, nq) -> (*q.shape, *rest), with the reduced axes as ones under keepdims
    res = reshape(res, rest + qs)
    res = moveaxis(res, tuple(range(len(rest), len(rest) + len(qs))),
                   tuple(range(len(qs)))) if qs and rest else res
    if keepdims:
        res = reshape(res, qs + tuple(1 if d in axes else a_shape[d] for d in range(ndim(a))))
    return res


def quantile(a: Any, q: Any, axis: Any = None, out: None = None, overwrite_input: bool = False,
             method: str = "linear", keepdims: bool = False, *,
             interpolation: Any = None) -> Any:
    """q-th quantiles (q in [0, 1]) of `a` along `axis`."""
    return _quantile("quantile", a, q, axis, interpolation or method, keepdims, False)


def percentile(a: Any, q: Any, axis: Any = None, out: None = None,
               overwrite_input: bool = False, method: str = "linear", keepdims: bool = False,
               *, interpolation: Any = None) -> Any:
    """q-th percentiles (q in [0, 100]) of `a` along `axis`."""
    return _quantile("percentile", a, _div100(q), axis, interpolation or method, keepdims,
                     False)


def median(a: Any, axis: Any = None, out: None = None, overwrite_input: bool = False,
           keepdims: bool = False) -> Any:
    """Median along `axis` (NaN if a slice has a NaN)."""
    return _quantile("median", a, 0.5, axis, "midpoint", keepdims, False)


def nanquantile(a: Any, q: Any, axis: Any = None, out: None = None,
                overwrite_input: bool = False, method: str = "linear",
                keepdims: bool = False, *, interpolation: Any = None) -> Any:
    """quantile, ignoring NaNs."""
    return _quantile("nanquantile", a, q, axis, interpolation or method, keepdims, True)


def nanpercentile(a: Any, q: Any, axis: Any = None, out: None = None,
                  overwrite_input: bool = False, method: str = "linear",
                  keepdims: bool = False, *, interpolation: Any = None) -> Any:
    """percentile, ignoring NaNs."""
    return _quantile("nanpercentile", a, _div100(q), axis, interpolation or method, keepdims,
                     True)


def _div100(q: Any) -> Any:
    return q / 100 if type(q) in (int, float) else true_divide(asarray(q), 100)


def nanmedian(a: Any, axis: Any = None, out: None = None, overwrite_input: bool = False,
              keepdims: bool = False) -> Any:
    """median, ignoring NaNs."""
    return _quantile("nanmedian", a, 0.5, axis, "midpoint", keepdims, True)


# -- NaN-ignoring reductions ------------------------------------------------------------------


def _nan_to(a: Any, value: Any) -> Any:
    a = asarray(a)
    if not np.issubdtype(a.dtype, np.inexact):
        return a
    return where(isnan(a), value, a)


def _count(a: Any, axis: Any, keepdims: bool, dtype: Any) -> Any:
    return sum(astype(logical_not(isnan(a)), dtype), axis=axis, keepdims=keepdims)


def nansum(a: Any, axis: Any = None, dtype: Any = None, out: None = None,
           keepdims: bool = False, initial: Any = None, where: Any = None) -> Any:
    """Sum treating NaNs as zero."""
    _check(out, initial, where)
    return sum(_nan_to(a, 0), axis=axis, dtype=dtype, keepdims=keepdims)


def nanprod(a: Any, axis: Any = None, dtype: Any = None, out: None = None,
            keepdims: bool = False, initial: Any = None, where: Any = None) -> Any:
    """Product treating NaNs as one."""
    _check(out, initial, where)
    return prod(_nan_to(a, 1), axis=axis, dtype=dtype, keepdims=keepdims)


def nanmean(a: Any, axis: Any = None, dtype: Any = None, out: None = None,
            keepdims: bool = False, *, where: Any = None) -> Any:
    """Mean of the non-NaN elements (NaN where there are none)."""
    _check(out, None, where)
    (a,) = promote_inexact(a)
    if dtype is not None:
        a = astype(a, dtype)
    return true_divide(nansum(a, axis=axis, keepdims=keepdims),
                       _count(a, axis, keepdims, a.dtype))


def nanvar(a: Any, axis: Any = None, dtype: Any = None, out: None = None, ddof: int = 0,
           keepdims: bool = False, *, where: Any = None) -> Any:
    """Variance of the non-NaN elements."""
    _check(out, None, where)
    (a,) = promote_inexact(a)
    if dtype is not None:
        a = astype(a, dtype)
    m = nanmean(a, axis=axis, keepdims=True)
    d = _nan_to(subtract(a, m), 0)
    ss = sum(multiply(d, d), axis=axis, keepdims=keepdims)
    return true_divide(ss, subtract(_count(a, axis, keepdims, a.dtype), ddof))


def nanstd(a: Any, axis: Any = None, dtype: Any = None, out: None = None, ddof: int = 0,
           keepdims: bool = False, *, where: Any = None) -> Any:
    """Standard deviation of the non-NaN elements."""
    return sqrt(nanvar(a, axis=axis, dtype=dtype, out=out, ddof=ddof, keepdims=keepdims,
                       where=where))


def _nan_extreme(fn, fill, a, axis, keepdims):
    a = asarray(a)
    if not np.issubdtype(a.dtype, np.inexact):
        return fn(a, axis=axis, keepdims=keepdims)
    res = fn(where(isnan(a), fill, a), axis=axis, keepdims=keepdims)
    return where(all(isnan(a), axis=axis, keepdims=keepdims), np.nan, res)


def nanmax(a: Any, axis: Any = None, out: None = None, keepdims: bool = False,
           initial: Any = None, where: Any = None) -> Any:
    """Maximum ignoring NaNs (NaN where a slice is all NaN)."""
    _check(out, initial, where)
    return _nan_extreme(max, -np.inf, a, axis, keepdims)


def nanmin(a: Any, axis: Any = None, out: None = None, keepdims: bool = False,
           initial: Any = None, where: Any = None) -> Any:
    """Minimum ignoring NaNs (NaN where a slice is all NaN)."""
    _check(out, initial, where)
    return _nan_extreme(min, np.inf, a, axis, keepdims)


def nanargmax(a: Any, axis: int | None = None, out: None = None, *,
              keepdims: bool = False) -> Any:
    """Index of the maximum ignoring NaNs."""
    return argmax(_nan_to(a, -np.inf), axis=axis, keepdims=keepdims)


def nanargmin(a: Any, axis: int | None = None, out: None = None, *,
              keepdims: bool = False) -> Any:
    """Index of the minimum ignoring NaNs."""
    return argmin(_nan_to(a, np.inf), axis=axis, keepdims=keepdims)


def nancumsum(a: Any, axis: int | None = None, dtype: Any = None, out: None = None) -> Any:
    """Cumulative sum treating NaNs as zero."""
    return cumsum(_nan_to(a, 0), axis=axis, dtype=dtype)


def nancumprod(a: Any, axis: int | None = None, dtype: Any = None, out: None = None) -> Any:
    """Cumulative product treating NaNs as one."""
    from funcad.numpy._extra import cumprod
    return cumprod(_nan_to(a, 1), axis=axis, dtype=dtype)


def _check(out, initial, where_) -> None:
    if out is not None:
        raise TypeError("funcad.numpy functions do not support out=: use the returned array")
    if initial is not None or where_ is not None:
        raise NotImplementedError("initial= and where= are not supported; use fnp.where on "
                                  "the input instead")

