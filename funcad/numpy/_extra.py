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
from funcad.numpy import _ufunc_api
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


def _logaddexp2_accumulate(a, axis=0, dtype=None):
    from funcad.numpy._ufuncs import promote_inexact
    from funcad.lax import cumlogsumexp
    (a,) = promote_inexact(a if dtype is None else astype(a, dtype))
    ln2 = float(np.log(2.0))
    return true_divide(cumlogsumexp(multiply(a, ln2), axis=axis), ln2)


def _make_logaddexp2():
    from funcad.numpy import _ufuncs
    return _ufunc_api.builtin(
        logaddexp2, 2, identity=-np.inf,
        reduce=_ufuncs._reduce_with(_ufuncs._logsumexp2, -np.inf, logaddexp2,
                                    dtype_arg=False),
        accumulate=_logaddexp2_accumulate)


logaddexp2 = _make_logaddexp2()  # a funcad.numpy.ufunc, as jax.numpy.logaddexp2


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
    if ndim(p) < 1:
        raise ValueError(f"polyval: p must be at least 1-d, got shape {shape(p)}")
    from funcad.numpy._base import ones_like
    # (rows of a p of rank > 1 broadcast against x, as in NumPy's Horner loop)
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
    a = asarray(a)
    if dtype is not None:
        a = astype(a, dtype)
    elif a.dtype == np.bool_:      # JAX: integers keep their dtype, bools count in int64
        a = astype(a, np.int64)
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



# -- more of jax.numpy's names (composites) ---------------------------------------------------


def empty(shape: Any, dtype: Any = None) -> Any:
    """An array of the given shape (zeros: arrays are values, nothing is uninitialised)."""
    from funcad.numpy._base import zeros
    return zeros(shape, dtype)


def empty_like(prototype: Any, dtype: Any = None, shape: Any = None) -> Any:
    """An array like `prototype` (zeros)."""
    return zeros_like(prototype, dtype=dtype, shape=shape)


def copy(a: Any, order: Any = None) -> Any:
    """A copy of `a` (arrays are immutable: the same values)."""
    from funcad.numpy._base import array
    return array(a)


def atleast_3d(*arys: Any) -> Any:
    """Views with at least three dimensions (NumPy's placement of new axes)."""
    out = []
    for a in arys:
        a = asarray(a)
        s = shape(a)
        if len(s) == 0:
            a = reshape(a, (1, 1, 1))
        elif len(s) == 1:
            a = reshape(a, (1, s[0], 1))
        elif len(s) == 2:
            a = reshape(a, (*s, 1))
        out.append(a)
    return out[0] if len(out) == 1 else out


def dstack(tup: Sequence) -> Any:
    """Stack arrays along the third axis."""
    return concatenate([atleast_3d(a) for a in tup], axis=2)


def hsplit(ary: Any, indices_or_sections: Any) -> list:
    """Split along the second axis (the first for 1-d arrays)."""
    from funcad.numpy._shapes import split
    return split(ary, indices_or_sections, axis=1 if ndim(ary) > 1 else 0)


def vsplit(ary: Any, indices_or_sections: Any) -> list:
    """Split along the first axis."""
    from funcad.numpy._shapes import split
    return split(ary, indices_or_sections, axis=0)


def dsplit(ary: Any, indices_or_sections: Any) -> list:
    """Split along the third axis."""
    from funcad.numpy._shapes import split
    return split(ary, indices_or_sections, axis=2)


def rot90(m: Any, k: int = 1, axes: tuple = (0, 1)) -> Any:
    """Rotate by 90 degrees k times in the plane of `axes`."""
    from funcad.numpy._shapes import swapaxes
    m = asarray(m)
    k = k % 4
    a0, a1 = axes
    if k == 0:
        return m
    if k == 2:
        return flip(flip(m, a0), a1)
    if k == 1:
        return swapaxes(flip(m, a1), a0, a1)
    return flip(swapaxes(m, a0, a1), a1)


def append(arr: Any, values: Any, axis: int | None = None) -> Any:
    """arr with values appended (flattened when axis is None)."""
    arr, values = prepare_nobroadcast(arr, values)
    if axis is None:
        return concatenate([reshape(arr, (-1,)), reshape(values, (-1,))])
    return concatenate([arr, values], axis=axis)


def _static_positions(obj: Any, n: int, what: str) -> np.ndarray:
    if isinstance(obj, Tracer):
        raise TypeError(f"{what}: the positions must be static (concrete), not traced")
    if isinstance(obj, builtins.slice):
        return np.arange(n)[obj]
    return np.asarray(obj)


def delete(arr: Any, obj: Any, axis: int | None = None) -> Any:
    """arr without the entries at the static positions `obj` along `axis`."""
    arr = asarray(arr)
    if axis is None:
        arr, axis = reshape(arr, (-1,)), 0
    (axis,) = _axes(axis, ndim(arr))
    n = shape(arr)[axis]
    pos = _static_positions(obj, n, "delete")
    if pos.dtype == bool:
        keep = ~pos
    else:
        keep = np.ones(n, bool)
        keep[pos] = False
    from funcad.numpy._indexing import take
    return take(arr, np.nonzero(keep)[0], axis=axis)


def insert(arr: Any, obj: Any, values: Any, axis: int | None = None) -> Any:
    """arr with `values` inserted before the static index (or indices) `obj`."""
    from funcad.numpy._indexing import take
    arr, values = prepare_nobroadcast(arr, values)
    if axis is None:
        arr, axis = reshape(arr, (-1,)), 0
    (axis,) = _axes(axis, ndim(arr))
    n = shape(arr)[axis]
    pos = _static_positions(obj, n + 1, "insert")
    v = values
    if ndim(v) < ndim(arr):  # NumPy: array(values, ndmin=arr.ndim)
        v = reshape(v, (1,) * (ndim(arr) - ndim(v)) + tuple(shape(v)))
    if pos.ndim == 0:
        p = int(pos) + (n if int(pos) < 0 else 0)
        v = moveaxis(v, 0, axis)
        target = list(shape(arr))
        target[axis] = shape(v)[axis]
        v = broadcast_to(v, tuple(target))
        lo = tuple(builtins.slice(0, p) if d == axis else builtins.slice(None)
                   for d in range(ndim(arr)))
        hi = tuple(builtins.slice(p, None) if d == axis else builtins.slice(None)
                   for d in range(ndim(arr)))
        return concatenate([arr[lo], v, arr[hi]], axis=axis)
    pos = np.where(pos < 0, pos + n, pos).ravel()
    target = list(shape(arr))
    target[axis] = len(pos)
    v = broadcast_to(v, tuple(target))
    # old element i has key 2i + 1; a value inserted before index p has key 2p
    keys = np.concatenate([np.arange(n) * 2 + 1, pos * 2])
    order = np.argsort(keys, kind="stable")
    return take(concatenate([arr, v], axis=axis), order, axis=axis)


def count_nonzero(a: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Number of non-zero entries."""
    from funcad.numpy._ufuncs import not_equal
    return sum(astype(not_equal(asarray(a), 0), np.int64), axis=axis, keepdims=keepdims)


def ptp(a: Any, axis: Any = None, out: None = None, keepdims: bool = False) -> Any:
    """Range (maximum - minimum) along an axis."""
    from funcad.numpy._reductions import max as _max
    from funcad.numpy._reductions import min as _min
    return subtract(_max(a, axis=axis, keepdims=keepdims), _min(a, axis=axis,
                                                                 keepdims=keepdims))


def digitize(x: Any, bins: Any, right: bool = False, *, method: Any = None) -> Any:
    """Indices of the bins (monotonic `bins`) to which each value of x belongs."""
    from funcad.numpy._sorting import searchsorted
    bins_c = None if isinstance(bins, Tracer) else np.asarray(bins)
    if bins_c is not None and bins_c.size > 1 and bins_c[0] > bins_c[-1]:
        n = bins_c.size
        return n - searchsorted(bins_c[::-1], x, side="right" if right else "left")
    return searchsorted(bins, x, side="left" if right else "right")


def isin(element: Any, test_elements: Any, assume_unique: bool = False,
         invert: bool = False, *, kind: Any = None) -> Any:
    """Whether each element is in test_elements."""
    element = asarray(element)
    t = reshape(asarray(test_elements), (-1,))
    hit = any(equal(expand_dims(element, -1), t), axis=-1)
    return logical_not(hit) if invert else hit


def divmod(x1: Any, x2: Any, /) -> tuple:  # noqa: A001
    """(floor_divide(x1, x2), remainder(x1, x2))."""
    from funcad.numpy._ufuncs import floor_divide, remainder
    return floor_divide(x1, x2), remainder(x1, x2)


def modf(x: Any, /) -> tuple:
    """(fractional part, integral part), both with the sign of x."""
    t = trunc(x)
    return subtract(x, t), t


def angle(z: Any, deg: bool = False) -> Any:
    """The argument of z, arctan2(imag(z), real(z)) (degrees if deg).

    >>> import funcad.numpy as fnp
    >>> float(fnp.angle(1j))
    1.5707963267948966
    """
    from funcad.numpy._ufuncs import arctan2, imag, real
    (z,) = promote_inexact(z)
    a = arctan2(imag(z), real(z))
    return multiply(a, 180.0 / np.pi) if deg else a


def fabs(x: Any, /) -> Any:
    """Absolute value as a float."""
    (x,) = promote_inexact(x)
    return abs(x)


def logspace(start: Any, stop: Any, num: int = 50, endpoint: bool = True, base: Any = 10.0,
             dtype: Any = None, axis: int = 0) -> Any:
    """base ** linspace(start, stop, num)."""
    from funcad.numpy._base import linspace
    y = power(base, linspace(start, stop, num, endpoint=endpoint, axis=axis))
    return y if dtype is None else astype(y, dtype)


def geomspace(start: Any, stop: Any, num: int = 50, endpoint: bool = True, dtype: Any = None,
              axis: int = 0) -> Any:
    """Numbers evenly spaced on a log scale from start to stop (same signs)."""
    from funcad.numpy._base import linspace
    from funcad.numpy._ufuncs import log10, sign
    start, stop = promote_inexact(start, stop)
    s = sign(start)
    y = power(10.0, linspace(log10(abs(start)), log10(abs(stop)), num, endpoint=endpoint,
                             axis=axis))
    y = multiply(s, y)
    if num > 0:
        y = concatenate([reshape(start, (1,)), y[1:]]) if ndim(start) == 0 else y
        if endpoint and num > 1 and ndim(stop) == 0:
            y = concatenate([y[:-1], reshape(stop, (1,))])
    return y if dtype is None else astype(y, dtype)


def vander(x: Any, N: int | None = None, increasing: bool = False) -> Any:
    """The Vandermonde matrix of x: columns x ** (N - 1), ..., x ** 0 (or increasing)."""
    x = asarray(x)
    if ndim(x) != 1:
        raise ValueError(f"vander: x must be 1-d, got shape {shape(x)}")
    n = shape(x)[0] if N is None else int(N)
    cols = [power(x, float(k)) if np.issubdtype(x.dtype, np.inexact) else power(x, k)
            for k in range(n)]
    from funcad.numpy._base import ones_like
    if n:
        cols[0] = ones_like(x)
    if not increasing:
        cols = cols[::-1]
    return stack(cols, axis=1) if cols else reshape(zeros_like(x), (shape(x)[0], 0))


def tri(N: int, M: int | None = None, k: int = 0, dtype: Any = None) -> Any:
    """Ones at and below the k-th diagonal of an N x M array."""
    from funcad.numpy._base import lift
    return lift(np.tri(N, M, k, dtype=dtype or np.float64))


def indices(dimensions: Sequence[int], dtype: Any = int, sparse: bool = False) -> Any:
    """Index grids of an array of the given shape."""
    from funcad.numpy._base import lift
    out = np.indices(tuple(dimensions), dtype=dtype, sparse=sparse)
    return tuple(lift(o) for o in out) if sparse else lift(out)


def ix_(*args: Any) -> tuple:
    """Open-mesh index arrays from 1-d sequences."""
    n = len(args)
    out = []
    for i, a in enumerate(args):
        a = asarray(a)
        if ndim(a) != 1:
            raise ValueError("ix_: cross index must be 1-dimensional")
        out.append(reshape(a, tuple(-1 if j == i else 1 for j in range(n))))
    return tuple(out)


def unravel_index(indices: Any, shape: Sequence[int]) -> tuple:
    """The multi-index of flat indices into an array of `shape` (clamped into range)."""
    from funcad.numpy._ufuncs import floor_divide, remainder
    idx = asarray(indices)
    total = int(np.prod(shape, dtype=np.int64))
    idx = clip(where(idx < 0, idx + total, idx), 0, total - 1)
    out = []
    for d in reversed(shape):
        out.append(remainder(idx, d))
        idx = floor_divide(idx, d)
    return tuple(reversed(out))


def ravel_multi_index(multi_index: Sequence, dims: Sequence[int], mode: str = "raise",
                      order: str = "C") -> Any:
    """Flat indices of a multi-index into an array of shape `dims` (mode 'clip' or 'wrap'
    on traced indices; 'raise' checks concrete ones)."""
    from funcad.numpy._ufuncs import remainder
    if order != "C":
        raise NotImplementedError("ravel_multi_index: only order='C'")
    out = None
    for i, d in zip(multi_index, dims, strict=True):
        i = asarray(i)
        if mode == "clip":
            i = clip(i, 0, d - 1)
        elif mode == "wrap":
            i = remainder(i, d)
        elif not isinstance(i, Tracer) and (np.any(np.asarray(i) < 0) or np.any(
                np.asarray(i) >= d)):
            raise ValueError("ravel_multi_index: invalid entry in coordinates array")
        out = i if out is None else out * d + i
    return out


def rollaxis(a: Any, axis: int, start: int = 0) -> Any:
    """Move `axis` to before position `start` (NumPy's older moveaxis)."""
    a = asarray(a)
    n = ndim(a)
    axis = axis % n
    start = start + n if start < 0 else start
    if axis < start:
        start -= 1
    return moveaxis(a, axis, start)


def unwrap(p: Any, discont: Any = None, axis: int = -1, period: Any = 2 * np.pi) -> Any:
    """Unwrap phase jumps larger than max(discont, period / 2) along an axis."""
    from funcad.numpy._ufuncs import remainder
    (p,) = promote_inexact(p)
    discont = period / 2 if discont is None else discont
    dd = diff(p, axis=axis)
    half = period / 2
    ddmod = subtract(remainder(dd + half, period), half)
    ddmod = where(logical_and(equal(ddmod, -half), dd > 0), half, ddmod)
    correction = where(abs(dd) < discont, 0.0, subtract(ddmod, dd))
    (ax,) = _axes(axis, ndim(p))
    first = tuple(builtins.slice(0, 1) if d == ax else builtins.slice(None)
                  for d in range(ndim(p)))
    rest = tuple(builtins.slice(1, None) if d == ax else builtins.slice(None)
                 for d in range(ndim(p)))
    return concatenate([p[first], p[rest] + cumsum(correction, axis=ax)], axis=ax)


def gradient(f: Any, *varargs: Any, axis: Any = None, edge_order: int = 1) -> Any:
    """Second-order central differences inside, first-order one-sided at the edges
    (scalar spacings)."""
    if edge_order != 1:
        raise NotImplementedError("gradient: only edge_order=1")
    (f,) = promote_inexact(f)
    axes = _axes(axis, ndim(f))
    if not varargs:
        spacings = [1.0] * len(axes)
    elif len(varargs) == 1:
        spacings = list(varargs) * len(axes)
    else:
        spacings = list(varargs)
    out = []
    for ax, h in zip(axes, spacings, strict=True):
        if ndim(h) != 0:
            raise NotImplementedError("gradient: only scalar spacings")
        g = moveaxis(f, ax, -1)
        if shape(g)[-1] < 2:
            raise ValueError("gradient: each dimension needs at least 2 samples")
        mid = (g[..., 2:] - g[..., :-2]) / (2.0 * h)
        lo = (g[..., 1:2] - g[..., 0:1]) / h
        hi = (g[..., -1:] - g[..., -2:-1]) / h
        out.append(moveaxis(concatenate([lo, mid, hi], axis=-1), -1, ax))
    return out[0] if len(out) == 1 else out


def polyder(p: Any, m: int = 1) -> Any:
    """Coefficients of the m-th derivative of the polynomial p."""
    (p,) = promote_inexact(p)
    for _ in range(m):
        n = shape(p)[0] - 1
        p = multiply(p[:-1], np.arange(n, 0, -1, dtype=p.dtype))
    return p


def polyint(p: Any, m: int = 1, k: Any = None) -> Any:
    """Coefficients of the m-th antiderivative of p (integration constants k)."""
    (p,) = promote_inexact(p)
    ks = np.zeros(m) if k is None else np.broadcast_to(np.asarray(k, float), (m,))
    for i in range(m):
        n = shape(p)[0]
        p = concatenate([true_divide(p, np.arange(n, 0, -1, dtype=p.dtype)),
                         reshape(astype(ks[i], p.dtype), (1,))])
    return p


def polyadd(a1: Any, a2: Any) -> Any:
    """Sum of two polynomials (coefficients highest degree first)."""
    a1, a2 = prepare_nobroadcast(a1, a2)
    n = builtins.max(shape(a1)[0], shape(a2)[0])
    return pad(a1, (n - shape(a1)[0], 0)) + pad(a2, (n - shape(a2)[0], 0))


def polysub(a1: Any, a2: Any) -> Any:
    """Difference of two polynomials."""
    from funcad.numpy._ufuncs import negative
    return polyadd(a1, negative(asarray(a2)))


def polymul(a1: Any, a2: Any, *, trim_leading_zeros: bool = False) -> Any:
    """Product of two polynomials."""
    return convolve(a1, a2)


def polyfit(x: Any, y: Any, deg: int, rcond: Any = None, full: bool = False, w: Any = None,
            cov: bool = False) -> Any:
    """Least-squares polynomial fit of degree deg (coefficients highest degree first)."""
    from funcad.numpy.linalg import pinv
    if full or cov:
        raise NotImplementedError("polyfit: full=True and cov=True are not supported")
    x, y = promote_inexact(x, y)
    a = vander(x, deg + 1)
    if w is not None:
        w = asarray(w)
        a = multiply(a, w[:, None])
        y = multiply(y, w if ndim(y) == 1 else w[:, None])
    # scale the columns, as NumPy does, for conditioning
    scl = sqrt(sum(multiply(a, a), axis=0))
    coef = matmul(pinv(true_divide(a, scl), rtol=rcond), y)
    return true_divide(coef, scl if ndim(coef) == 1 else scl[:, None])


def apply_along_axis(func1d: Callable, axis: int, arr: Any, *args: Any, **kwargs: Any) -> Any:
    """Apply func1d to the 1-d slices along `axis` (through vmap)."""
    from funcad.api import vmap
    arr = asarray(arr)
    (axis,) = _axes(axis, ndim(arr))
    moved = moveaxis(arr, axis, -1)
    lead = shape(moved)[:-1]
    flat = reshape(moved, (-1, shape(moved)[-1]))
    out = vmap(lambda v: func1d(v, *args, **kwargs))(flat)
    out = reshape(out, lead + tuple(shape(out)[1:]))
    k = ndim(out) - len(lead)
    # the function's output axes go where `axis` was
    src = tuple(range(len(lead), len(lead) + k))
    return moveaxis(out, src, tuple(range(axis, axis + k))) if k else out


def bincount(x: Any, weights: Any = None, minlength: int = 0, *,
             length: int | None = None) -> Any:
    """Counts (or summed weights) of each non-negative integer in x; under a transform
    `length` (static) sets the output size, as in JAX."""
    from funcad.numpy._base import arange
    x = asarray(x)
    if length is None:
        if isinstance(x, Tracer):
            raise TypeError("bincount of a traced array needs a static length= argument")
        length = builtins.max(int(np.max(x)) + 1 if np.size(x) else 0, minlength)
    hit = equal(expand_dims(reshape(x, (-1,)), -1), arange(length))
    if weights is None:
        return sum(astype(hit, np.int64), axis=0)
    w = reshape(asarray(weights), (-1, 1))
    (w,) = promote_inexact(w) if not np.issubdtype(result_type(w), np.inexact) else (w,)
    return sum(where(hit, w, 0), axis=0)


def choose(a: Any, choices: Sequence, out: None = None, mode: str = "raise") -> Any:
    """Entries of choices[a] elementwise (mode 'clip' or 'wrap' for traced indices)."""
    from funcad.numpy._ufuncs import remainder
    a = asarray(a)
    cs = broadcast_arrays(*([a] + [asarray(c) for c in choices]), op="choose")
    a, cs = cs[0], cs[1:]
    n = len(cs)
    if mode == "clip":
        a = clip(a, 0, n - 1)
    elif mode == "wrap":
        a = remainder(a, n)
    out = cs[0]
    for i in range(1, n):
        out = where(equal(a, i), cs[i], out)
    return out


def compress(condition: Any, a: Any, axis: int | None = None, out: None = None) -> Any:
    """The slices of a where the (concrete) condition holds."""
    cond = _static_positions(condition, 0, "compress").astype(bool)
    a = asarray(a)
    if axis is None:
        a, axis = reshape(a, (-1,)), 0
    from funcad.numpy._indexing import take
    return take(a, np.nonzero(cond)[0], axis=axis)


def extract(condition: Any, arr: Any) -> Any:
    """The entries of arr where the (concrete) condition holds, flattened."""
    cond = np.ravel(_static_positions(condition, 0, "extract")).astype(bool)
    return compress(cond, reshape(asarray(arr), (-1,)))


def isreal(x: Any) -> Any:
    """True where the imaginary part is zero (everywhere for a real array)."""
    from funcad.numpy._base import ones_like
    from funcad.numpy._ufuncs import equal, imag
    x = asarray(x)
    if np.dtype(x.dtype).kind != "c":
        return ones_like(x, dtype=bool)
    return equal(imag(x), 0)


def iscomplex(x: Any) -> Any:
    """True where the imaginary part is nonzero (nowhere for a real array)."""
    from funcad.numpy._ufuncs import imag, not_equal
    x = asarray(x)
    if np.dtype(x.dtype).kind != "c":
        return zeros_like(x, dtype=bool)
    return not_equal(imag(x), 0)


def isscalar(element: Any) -> bool:
    """Whether element is a scalar (a Python/NumPy number or a 0-d array, as in JAX)."""
    return np.isscalar(element) or (hasattr(element, "shape") and shape(element) == ())


promote_types = np.promote_types
can_cast = np.can_cast
