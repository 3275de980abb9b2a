"""More of NumPy's API as composites of the other funcad.numpy functions.

Nothing here adds a primitive: every function is built from the ones of the other
modules, so it gets every transform and the Numba lowering for free.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from funcad._core import Tracer

from funcad.numpy._base import (
    _asarray,
    asarray,
    astype,
    broadcast_arrays,
    broadcast_to,
    ndim,
    prepare,
    promote_inexact,
    result_type,
    shape,
    stack,
    zeros_like,
)
from funcad.numpy._contract import matmul
from funcad.numpy._reductions import _axes, all, any, cumsum, sum
from funcad.numpy._shapes import (
    atleast_2d,
    concatenate,
    diag,
    expand_dims,
    flip,
    moveaxis,
    pad,
    reshape,
    squeeze,
)
from funcad.numpy._ufuncs import (
    abs,
    ceil,
    clip,
    equal,
    floor,
    isfinite,
    isinf,
    isnan,
    less_equal,
    logical_and,
    logical_not,
    logical_or,
    maximum,
    minimum,
    multiply,
    power,
    sqrt,
    subtract,
    true_divide,
    where,
)

# -- comparisons of whole arrays ------------------------------------------------------------


def isclose(a: Any, b: Any, rtol: Any = 1e-05, atol: Any = 1e-08,
            equal_nan: bool = False) -> Any:
    """Elementwise |a - b| <= atol + rtol * |b| (infinities equal only to themselves)."""
    a, b = prepare("isclose", a, b, inexact=True)
    out = logical_or(logical_and(less_equal(abs(subtract(a, b)), atol + rtol * abs(b)),
                                 isfinite(b)), equal(a, b))
    if equal_nan:
        out = logical_or(out, logical_and(isnan(a), isnan(b)))
    return out


def allclose(a: Any, b: Any, rtol: Any = 1e-05, atol: Any = 1e-08,
             equal_nan: bool = False) -> Any:
    """Whether all elements of a and b are close (see isclose)."""
    return all(isclose(a, b, rtol, atol, equal_nan))


def array_equal(a1: Any, a2: Any, equal_nan: bool = False) -> Any:
    """Whether two arrays have the same shape and elements."""
    a1, a2 = _asarray(a1), _asarray(a2)
    if shape(a1) != shape(a2):
        return np.bool_(False)
    eq = equal(a1, a2)
    if equal_nan and np.issubdtype(result_type(a1, a2), np.inexact):
        eq = logical_or(eq, logical_and(isnan(a1), isnan(a2)))
    return all(eq)


def array_equiv(a1: Any, a2: Any) -> Any:
    """Whether two arrays are equal after broadcasting them against each other."""
    a1, a2 = _asarray(a1), _asarray(a2)
    try:
        np.broadcast_shapes(shape(a1), shape(a2))
    except ValueError:
        return np.bool_(False)
    return all(equal(a1, a2))


# -- elementwise ------------------------------------------------------------------------------


def fmax(x1: Any, x2: Any, /) -> Any:
    """Elementwise maximum that ignores NaNs (NaN only where both are NaN)."""
    x1, x2 = prepare("fmax", x1, x2)
    if not np.issubdtype(x1.dtype, np.inexact):
        return maximum(x1, x2)
    return where(isnan(x2), x1, where(isnan(x1), x2, maximum(x1, x2)))


def fmin(x1: Any, x2: Any, /) -> Any:
    """Elementwise minimum that ignores NaNs (NaN only where both are NaN)."""
    x1, x2 = prepare("fmin", x1, x2)
    if not np.issubdtype(x1.dtype, np.inexact):
        return minimum(x1, x2)
    return where(isnan(x2), x1, where(isnan(x1), x2, minimum(x1, x2)))


def trunc(x: Any, /) -> Any:
    """Round towards zero, elementwise."""
    (x,) = prepare("trunc", x)
    if not np.issubdtype(x.dtype, np.inexact):
        return x
    return where(x < 0, ceil(x), floor(x))


def fix(x: Any, out: None = None) -> Any:
    """Round towards zero (numpy.fix)."""
    return trunc(x)


def ldexp(x1: Any, x2: Any, /) -> Any:
    """x1 * 2**x2 elementwise (x2 integer)."""
    (x1,) = promote_inexact(x1)
    x2 = _asarray(x2) if not hasattr(x2, "aval") else x2
    if not np.issubdtype(result_type(x2), np.integer):
        raise TypeError(f"ldexp: the exponent must be an integer, got {result_type(x2)}")
    return multiply(x1, power(astype(2.0, x1.dtype), astype(x2, x1.dtype)))


def signbit(x: Any, /) -> Any:
    """Whether the sign bit is set (true for -0.0 and negative NaN payloads aside)."""
    (x,) = prepare("signbit", x)
    if not np.issubdtype(x.dtype, np.inexact):
        return x < 0
    return logical_or(x < 0, logical_and(equal(x, 0), true_divide(1.0, x) < 0))


def isposinf(x: Any, /) -> Any:
    """Elementwise x == +inf."""
    return logical_and(isinf(x), asarray(x) > 0)


def isneginf(x: Any, /) -> Any:
    """Elementwise x == -inf."""
    return logical_and(isinf(x), asarray(x) < 0)


def logaddexp2(x1: Any, x2: Any, /) -> Any:
    """log2(2**x1 + 2**x2), computed stably."""
    from funcad.numpy._ufuncs import logaddexp
    x1, x2 = prepare("logaddexp2", x1, x2, inexact=True)
    ln2 = float(np.log(2.0))  # a Python float: weakly typed, float32 stays float32
    return true_divide(logaddexp(multiply(x1, ln2), multiply(x2, ln2)), ln2)


# -- shapes and grids ---------------------------------------------------------------------------


def meshgrid(*xi: Any, copy: bool = True, sparse: bool = False, indexing: str = "xy") -> list:
    """Coordinate matrices from coordinate vectors (as numpy.meshgrid; a list, as in JAX)."""
    if indexing not in ("xy", "ij"):
        raise ValueError(f"meshgrid: indexing must be 'xy' or 'ij', got {indexing!r}")
    n = len(xi)
    out = []
    for i, x in enumerate(xi):
        x = asarray(x)
        s = [1] * n
        s[i] = -1
        if indexing == "xy" and n > 1 and i < 2:
            s[i] = 1
            s[1 - i] = -1
        out.append(reshape(x, tuple(s)))
    if not sparse:
        out = broadcast_arrays(*out, op="meshgrid")
    return list(out)


def unstack(x: Any, /, *, axis: int = 0) -> tuple:
    """Split an array into a tuple of its slices along `axis`."""
    x = asarray(x)
    x = moveaxis(x, axis, 0)
    return tuple(x[i] for i in range(shape(x)[0]))


def matrix_transpose(x: Any, /) -> Any:
    """Swap the last two axes."""
    from funcad.numpy._shapes import swapaxes
    if ndim(x) < 2:
        raise ValueError(f"matrix_transpose needs an array of rank >= 2, got shape {shape(x)}")
    return swapaxes(x, -1, -2)


def tril_indices(n: int, k: int = 0, m: int | None = None) -> tuple:
    """Indices of the lower triangle of an (n, m) array."""
    return tuple(np.tril_indices(n, k, m))


def triu_indices(n: int, k: int = 0, m: int | None = None) -> tuple:
    """Indices of the upper triangle of an (n, m) array."""
    return tuple(np.triu_indices(n, k, m))


def tril_indices_from(arr: Any, k: int = 0) -> tuple:
    """Indices of the lower triangle of a 2-d array."""
    s = shape(arr)
    return tril_indices(s[-2], k, s[-1])


def triu_indices_from(arr: Any, k: int = 0) -> tuple:
    """Indices of the upper triangle of a 2-d array."""
    s = shape(arr)
    return triu_indices(s[-2], k, s[-1])


def diag_indices(n: int, ndim: int = 2) -> tuple:
    """Indices of the main diagonal of an n x ... x n array."""
    return tuple(np.diag_indices(n, ndim))


# -- products -----------------------------------------------------------------------------------


def vecdot(x1: Any, x2: Any, /, *, axis: int = -1) -> Any:
    """Dot product of vectors along `axis` (broadcasting the others)."""
    x1, x2 = prepare("vecdot", x1, x2)
    return sum(multiply(x1, x2), axis=axis)


def matvec(x1: Any, x2: Any, /) -> Any:
    """Matrix-vector product over the last axes, broadcasting the leading ones."""
    x2 = asarray(x2)
    return squeeze(matmul(x1, expand_dims(x2, -1)), -1)


def vecmat(x1: Any, x2: Any, /) -> Any:
    """Vector-matrix product over the last axes, broadcasting the leading ones."""
    x1 = asarray(x1)
    return squeeze(matmul(expand_dims(x1, -2), x2), -2)


def kron(a: Any, b: Any) -> Any:
    """Kronecker product."""
    a, b = prepare_nobroadcast(a, b)
    na, nb = ndim(a), ndim(b)
    if na < nb:
        a = reshape(a, (1,) * (nb - na) + shape(a))
    elif nb < na:
        b = reshape(b, (1,) * (na - nb) + shape(b))
    sa, sb = shape(a), shape(b)
    nd = len(sa)
    ar = reshape(a, tuple(d for s in sa for d in (s, 1)))
    br = reshape(b, tuple(d for s in sb for d in (1, s)))
    return reshape(multiply(ar, br), tuple(x * y for x, y in zip(sa, sb, strict=True))
                   if nd else ())


def prepare_nobroadcast(*args: Any) -> list:
    """Promote to a common dtype without broadcasting."""
    from funcad.numpy._base import promote
    return promote(*args)


def cross(a: Any, b: Any, axisa: int = -1, axisb: int = -1, axisc: int = -1,
          axis: int | None = None) -> Any:
    """Cross product of 3-vectors (or the z component for 2-vectors)."""
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = prepare_nobroadcast(a, b)
    a, b = moveaxis(a, axisa, -1), moveaxis(b, axisb, -1)
    na, nb = shape(a)[-1], shape(b)[-1]
    if na not in (2, 3) or nb not in (2, 3):
        raise ValueError(f"cross: incompatible dimensions for cross product (dimension must "
                         f"be 2 or 3), got {na} and {nb}")
    a0, a1 = a[..., 0], a[..., 1]
    b0, b1 = b[..., 0], b[..., 1]
    if na == 2 and nb == 2:
        return subtract(multiply(a0, b1), multiply(a1, b0))
    a2 = a[..., 2] if na == 3 else zeros_like(a0)
    b2 = b[..., 2] if nb == 3 else zeros_like(b0)
    c = stack(broadcast_arrays(subtract(multiply(a1, b2), multiply(a2, b1)),
                               subtract(multiply(a2, b0), multiply(a0, b2)),
                               subtract(multiply(a0, b1), multiply(a1, b0)), op="cross"),
              axis=-1)
    return moveaxis(c, -1, axisc)


def _full_conv(a: Any, v: Any) -> Any:
    """The full discrete convolution of two 1-d arrays (len(a) >= len(v))."""
    n, m = shape(a)[0], shape(v)[0]
    ap = pad(a, (m - 1, m - 1))
    idx = np.arange(n + m - 1)[:, None] + np.arange(m)[None, :]
    return matmul(ap[idx], flip(v))


def convolve(a: Any, v: Any, mode: str = "full", *, precision: Any = None,
             preferred_element_type: Any = None) -> Any:
    """Discrete linear convolution of two 1-d arrays (modes 'full', 'same', 'valid')."""
    a, v = prepare_nobroadcast(a, v)
    if ndim(a) != 1 or ndim(v) != 1:
        raise ValueError(f"convolve: only 1-d arrays, got shapes {shape(a)} and {shape(v)}")
    if shape(a)[0] == 0 or shape(v)[0] == 0:
        raise ValueError("convolve: inputs cannot be empty")
    if shape(v)[0] > shape(a)[0]:
        a, v = v, a
    n, m = shape(a)[0], shape(v)[0]
    full = _full_conv(a, v)
    if mode == "full":
        return full
    if mode == "same":
        start = (m - 1) // 2
        return full[start:start + n]
    if mode == "valid":
        return full[m - 1:n]
    raise ValueError(f"convolve: mode must be 'full', 'same' or 'valid', got {mode!r}")


def correlate(a: Any, v: Any, mode: str = "valid", *, precision: Any = None,
              preferred_element_type: Any = None) -> Any:
    """Cross-correlation of two 1-d arrays: c[k] = sum_n a[n + k] * v[n]."""
    a, v = prepare_nobroadcast(a, v)
    if ndim(a) != 1 or ndim(v) != 1:
        raise ValueError(f"correlate: only 1-d arrays, got shapes {shape(a)} and {shape(v)}")
    if shape(v)[0] > shape(a)[0]:
        return flip(convolve(v, flip(a), mode))
    return convolve(a, flip(v), mode)


def polyval(p: Any, x: Any, *, unroll: int = 16) -> Any:
    """Evaluate the polynomial with coefficients p (highest degree first) at x (Horner)."""
    p, x = prepare_nobroadcast(p, x)
    if ndim(p) != 1:
        raise ValueError(f"polyval: p must be 1-d, got shape {shape(p)}")
    from funcad.numpy._base import ones_like
    y = zeros_like(x) if shape(p)[0] == 0 else p[0] * ones_like(x)
    for i in range(1, shape(p)[0]):
        y = y * x + p[i]
    return y


# -- differences, integrals, statistics -----------------------------------------------------------


def diff(a: Any, n: int = 1, axis: int = -1, prepend: Any = None, append: Any = None) -> Any:
    """n-th discrete difference along `axis`."""
    a = asarray(a)
    if n < 0:
        raise ValueError(f"diff: order must be non-negative, got {n}")
    if ndim(a) == 0:
        raise ValueError("diff requires input that is at least one dimensional")
    (axis,) = _axes(axis, ndim(a))
    parts = []
    for extra in (prepend, None, append):
        if extra is None:
            if not parts:
                parts.append(None)
            continue
        e = asarray(extra)
        if ndim(e) == 0:
            s = list(shape(a))
            s[axis] = 1
            e = broadcast_to(e, tuple(s))
        parts.append(e)
    pieces = ([parts[0]] if prepend is not None else []) + [a] + (
        [parts[-1]] if append is not None else [])
    if len(pieces) > 1:
        a = concatenate(prepare_nobroadcast(*pieces), axis=axis)
    for _ in range(n):
        k = shape(a)[axis]
        hi = tuple(builtins.slice(1, None) if d == axis else builtins.slice(None)
                   for d in range(ndim(a)))
        lo = tuple(builtins.slice(None, k - 1) if d == axis else builtins.slice(None)
                   for d in range(ndim(a)))
        a = subtract(a[hi], a[lo]) if a.dtype != np.bool_ else a[hi] != a[lo]
    return a


def ediff1d(ary: Any, to_end: Any = None, to_begin: Any = None) -> Any:
    """Differences between consecutive elements of the flattened array."""
    d = diff(reshape(asarray(ary), (-1,)))
    pieces = []  # to_begin and to_end take the dtype of ary, as in NumPy
    if to_begin is not None:
        pieces.append(astype(reshape(asarray(to_begin), (-1,)), d.dtype))
    pieces.append(d)
    if to_end is not None:
        pieces.append(astype(reshape(asarray(to_end), (-1,)), d.dtype))
    return concatenate(pieces) if len(pieces) > 1 else d


def trapezoid(y: Any, x: Any = None, dx: Any = 1.0, axis: int = -1) -> Any:
    """Integral of y along `axis` by the trapezoidal rule (sample points x, or spacing dx)."""
    (y,) = promote_inexact(y)
    y = moveaxis(y, axis, -1)
    if x is None:
        d = dx
    else:
        x = asarray(x)
        d = diff(x) if ndim(x) == 1 else moveaxis(diff(x, axis=axis), axis, -1)
    return sum(multiply(d, y[..., 1:] + y[..., :-1]), axis=-1) * 0.5


def cov(m: Any, y: Any = None, rowvar: bool = True, bias: bool = False,
        ddof: int | None = None, fweights: Any = None, aweights: Any = None) -> Any:
    """Covariance matrix of the variables in the rows (rowvar) or columns of m."""
    from funcad.numpy._reductions import average
    (x,) = promote_inexact(m)
    if ndim(x) > 2:
        raise ValueError(f"cov: m has more than 2 dimensions: shape {shape(x)}")
    x = atleast_2d(x)
    if not rowvar and shape(x)[0] != 1:
        x = x.T
    if y is not None:
        (yy,) = promote_inexact(y)
        yy = atleast_2d(yy)
        if not rowvar and shape(yy)[0] != 1:
            yy = yy.T
        x, yy = promote_inexact(x, yy)
        x = concatenate([x, yy], axis=0)
    if ddof is None:
        ddof = 0 if bias else 1
    w = None
    if fweights is not None:
        w = astype(asarray(fweights), x.dtype)
    if aweights is not None:
        aw = astype(asarray(aweights), x.dtype)
        w = aw if w is None else multiply(w, aw)
    avg, w_sum = average(x, axis=1, weights=w, returned=True)
    w_sum = w_sum[0]
    if w is None:
        fact = shape(x)[1] - ddof
    elif ddof == 0:
        fact = w_sum
    elif aweights is None:
        fact = w_sum - ddof
    else:
        fact = w_sum - ddof * sum(multiply(w, aw)) / w_sum
    xc = subtract(x, avg[:, None])
    xt = xc.T if w is None else multiply(xc, w).T
    c = true_divide(matmul(xc, xt), fact)
    return squeeze(c)


def corrcoef(x: Any, y: Any = None, rowvar: bool = True) -> Any:
    """Pearson correlation coefficients (cov normalised by the standard deviations)."""
    c = cov(x, y, rowvar)
    if ndim(c) == 0:
        return true_divide(c, c)
    d = diag(c)
    s = sqrt(d)
    c = true_divide(true_divide(c, s[:, None]), s[None, :])
    return clip(c, -1, 1)


# -- choosing --------------------------------------------------------------------------------


def select(condlist: Sequence, choicelist: Sequence, default: Any = 0) -> Any:
    """The element of the first choice whose condition holds, else `default`."""
    if len(condlist) != len(choicelist):
        raise ValueError(f"select: list of cases must be same length as list of conditions "
                         f"({len(condlist)} and {len(choicelist)})")
    if not condlist:
        raise ValueError("select with an empty condition list is not possible")
    out = default
    for cond, choice in reversed(list(zip(condlist, choicelist, strict=True))):
        cond = asarray(cond)
        if cond.dtype != np.bool_:
            raise TypeError(f"select: condlist entries must be boolean, got {cond.dtype}")
        out = where(cond, choice, out)
    return out


def piecewise(x: Any, condlist: Any, funclist: Sequence, *args: Any, **kw: Any) -> Any:
    """Evaluate funclist[i] where condlist[i] holds (a last extra function: elsewhere).

    As in JAX every function is evaluated on all of `x` and the results are selected.
    """
    x = asarray(x)
    # NumPy's rule: a scalar, or a sequence whose first entry is not itself a sequence or
    # an array, is one condition.
    # (the first entry of a traced condition array is a 0-d tracer: a scalar here)
    if isinstance(condlist, tuple):
        condlist = list(condlist)
    first = condlist[0] if isinstance(condlist, list) else (
        None if ndim(condlist) == 0 else condlist[0])
    if first is None or (not (isinstance(first, (list, np.ndarray)) or (
            isinstance(first, Tracer) and ndim(first) > 0)) and ndim(x) != 0):
        condlist = [condlist]
    condlist = [broadcast_to(asarray(c), shape(x)) for c in condlist]
    n = len(condlist)
    if len(funclist) == n + 1:
        none = logical_not(any(stack(condlist), axis=0)) if n else broadcast_to(
            np.bool_(True), shape(x))
        condlist = condlist + [none]
    elif len(funclist) != n:
        raise ValueError(f"piecewise: with {n} condition(s), {n} or {n + 1} functions are "
                         f"expected, got {len(funclist)}")
    out = zeros_like(x)
    for cond, f in zip(condlist, funclist, strict=True):
        val = f(x, *args, **kw) if callable(f) else f
        out = where(cond, astype(val, out.dtype) if not callable(f) else val, out)
    return astype(out, x.dtype)


# -- cumulative products, maxima, minima --------------------------------------------------------


def _scan_doubling(op: Callable, x: Any, axis: int, reverse: bool = False) -> Any:
    """Inclusive scan of an associative `op` along `axis` (Hillis-Steele, log2(n) steps)."""
    x = moveaxis(x, axis, -1)
    if reverse:
        x = flip(x, -1)
    n = shape(x)[-1]
    s = 1
    while s < n:
        x = concatenate([x[..., :s], op(x[..., :n - s], x[..., s:])], axis=-1)
        s *= 2
    if reverse:
        x = flip(x, -1)
    return moveaxis(x, -1, axis)


def _cumulative(name: str, op: Callable, a: Any, axis: Any, dtype: Any) -> Any:
    from funcad.numpy._reductions import _sum_dtype
    a = asarray(a)
    if dtype is not None:
        a = astype(a, dtype)
    elif name == "cumprod":
        a = astype(a, _sum_dtype(a.dtype))
    if axis is None:
        a = reshape(a, (-1,))
        axis = 0
    (axis,) = _axes(axis, ndim(a))
    return _scan_doubling(op, a, axis)


def cumprod(a: Any, axis: int | None = None, dtype: Any = None, out: None = None) -> Any:
    """Cumulative product along an axis (the flattened array if axis is None)."""
    return _cumulative("cumprod", multiply, a, axis, dtype)


def cumulative_sum(x: Any, /, *, axis: int | None = None, dtype: Any = None,
                   include_initial: bool = False) -> Any:
    """Cumulative sum (array API: optional leading zero)."""
    if axis is None:
        if ndim(x) > 1:
            raise ValueError("cumulative_sum: axis must be given for arrays of rank > 1")
        axis = 0
    c = cumsum(x, axis=axis, dtype=dtype)
    if include_initial:
        (ax,) = _axes(axis, ndim(c))
        c = pad(c, tuple((1, 0) if d == ax else (0, 0) for d in range(ndim(c))))
    return c


def cumulative_prod(x: Any, /, *, axis: int | None = None, dtype: Any = None,
                    include_initial: bool = False) -> Any:
    """Cumulative product (array API: optional leading one)."""
    if axis is None:
        if ndim(x) > 1:
            raise ValueError("cumulative_prod: axis must be given for arrays of rank > 1")
        axis = 0
    c = cumprod(x, axis=axis, dtype=dtype)
    if include_initial:
        (ax,) = _axes(axis, ndim(c))
        c = pad(c, tuple((1, 0) if d == ax else (0, 0) for d in range(ndim(c))),
                constant_values=1)
    return c

