"""The rest of jax.numpy's names that numerical programs use, as composites of funcad.numpy:
array-API aliases, window functions, gcd/lcm, frexp/spacing/nextafter, block, r_/c_,
functional (inplace=False) put/place/fill_diagonal/put_along_axis, polynomial helpers,
histogram2d/histogramdd. NumPy's own helpers for dtypes, printing and files are re-exported
in funcad/numpy/__init__.py.
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from funcad._core import ConcretizationTypeError, Tracer, concretization_message


def _fnp():
    import funcad.numpy as fnp
    return fnp


# -- aliases ----------------------------------------------------------------------------------


def concat(arrays: Sequence, /, *, axis: int | None = 0) -> Any:
    """The array API's name for concatenate.

    >>> concat([np.ones(1), np.zeros(1)]).tolist()
    [1.0, 0.0]
    """
    return _fnp().concatenate(arrays, axis=axis)


def pow(x1: Any, x2: Any, /) -> Any:
    """The array API's name for power.

    >>> pow(2.0, 3).item()
    8.0
    """
    return _fnp().power(x1, x2)


def bitwise_invert(x: Any, /) -> Any:
    """The array API's name for invert.

    >>> bitwise_invert(np.array([0, 1])).tolist()
    [-1, -2]
    """
    return _fnp().invert(x)


def top_k(operand: Any, k: int) -> tuple:
    """(values, indices) of the k largest entries along the last axis (lax.top_k).

    >>> top_k(np.array([1.0, 3.0, 2.0]), 2)[1].tolist()
    [1, 2]
    """
    from funcad.lax import top_k as _top_k
    return _top_k(operand, k)


def iscomplexobj(x: Any) -> bool:
    """Whether x has a complex dtype.

    >>> iscomplexobj(np.ones(2))
    False
    """
    return bool(np.issubdtype(_fnp().result_type(x), np.complexfloating))


def isrealobj(x: Any) -> bool:
    """Whether x does not have a complex dtype.

    >>> isrealobj(1.0)
    True
    """
    return not iscomplexobj(x)


def iterable(y: Any) -> bool:
    """Whether iter(y) works (a traced array is iterable when it has rank >= 1).

    >>> iterable([1]), iterable(1)
    (True, False)
    """
    try:
        iter(y)
    except TypeError:
        return False
    return True


# -- floating-point helpers ---------------------------------------------------------------


def nextafter(x1: Any, x2: Any, /) -> Any:
    """The next float after x1 towards x2, elementwise.

    >>> bool(nextafter(1.0, 2.0) > 1.0)
    True
    """
    from funcad.numpy._base import promote_inexact
    from funcad.primitives.elementwise import nextafter_p
    x1, x2 = promote_inexact(x1, x2)
    x1, x2 = _fnp().broadcast_arrays(x1, x2)
    return nextafter_p.bind(x1, x2)


def spacing(x: Any, /) -> Any:
    """The distance from x to the next float away from zero (negative for negative x).

    >>> bool(spacing(1.0) == np.finfo(float).eps)
    True
    """
    fnp = _fnp()
    from funcad.numpy._base import promote_inexact
    (x,) = promote_inexact(x)
    away = fnp.where(x < 0, -np.inf, np.inf).astype(x.dtype)
    return nextafter(x, away) - x


def frexp(x: Any, /) -> tuple:
    """(mantissa, exponent) with x = mantissa * 2**exponent and 0.5 <= |mantissa| < 1
    (mantissa x and exponent 0 for 0, inf and nan), as numpy.frexp.

    >>> [v.tolist() for v in frexp(np.array([8.0, -0.375]))]
    [[0.5, -0.75], [4, -1]]
    """
    fnp = _fnp()
    from funcad.numpy._base import promote_inexact
    (x,) = promote_inexact(x)
    finite = fnp.isfinite(x) & (x != 0)
    ax = fnp.where(finite, fnp.abs(x), 1.0)
    e = fnp.floor(fnp.log2(ax)).astype(np.int32) + 1
    # in two steps: 2**-e alone overflows for subnormal x
    half = e // 2
    m = fnp.ldexp(fnp.ldexp(ax, -half), half - e)
    # log2 may round across a power of two: bring m into [0.5, 1)
    big = m >= 1
    e = fnp.where(big, e + 1, e)
    m = fnp.where(big, m * 0.5, m)
    small = m < 0.5
    e = fnp.where(small, e - 1, e)
    m = fnp.where(small, m * 2, m)
    m = fnp.where(finite, fnp.copysign(m, x), x)
    return m.astype(x.dtype), fnp.where(finite, e, 0).astype(np.int32)


def i0(x: Any) -> Any:
    """The modified Bessel function of the first kind of order 0 (numpy.i0).

    >>> round(float(i0(0.0)), 12)
    1.0
    """
    from funcad.scipy.special import i0 as _i0
    return _i0(x)


def gcd(x1: Any, x2: Any, /) -> Any:
    """Greatest common divisor of integers, elementwise (gcd(0, 0) = 0).

    >>> gcd(np.array([12, 7, 0]), np.array([18, 5, 0])).tolist()
    [6, 1, 0]
    """
    fnp = _fnp()
    from funcad import lax
    x1, x2 = fnp.asarray(x1), fnp.asarray(x2)
    for x in (x1, x2):
        if not np.issubdtype(x.dtype, np.integer):
            raise TypeError(f"gcd: arguments must be integers, got {x.dtype}")
    x1, x2 = fnp.broadcast_arrays(fnp.abs(x1), fnp.abs(x2))

    def cond(c):
        return fnp.any(c[1] != 0)

    def body(c):
        a, b = c
        nz = b != 0
        a, b = fnp.where(nz, b, a), fnp.where(nz, fnp.remainder(a, fnp.where(nz, b, 1)), 0)
        return fnp.maximum(a, b), fnp.minimum(a, b)
    return lax.while_loop(cond, body, (fnp.maximum(x1, x2), fnp.minimum(x1, x2)))[0]


def lcm(x1: Any, x2: Any, /) -> Any:
    """Least common multiple of integers, elementwise (0 if either is 0).

    >>> lcm(np.array([4, 3, 0]), np.array([6, 5, 2])).tolist()
    [12, 15, 0]
    """
    fnp = _fnp()
    x1, x2 = fnp.abs(fnp.asarray(x1)), fnp.abs(fnp.asarray(x2))
    d = gcd(x1, x2)
    return fnp.where(d == 0, 0, x1 * fnp.floor_divide(x2, fnp.where(d == 0, 1, d)))


# -- windows ----------------------------------------------------------------------------------


def _window_n(name: str, M: Any) -> int:
    if isinstance(M, Tracer):
        raise ConcretizationTypeError(concretization_message(M, f"passed to {name} as M") +
                                      f" {name}'s length M must be a Python int.")
    return int(M)


def _cos_window(name: str, M: Any, coefs: Sequence[float]) -> Any:
    fnp = _fnp()
    M = _window_n(name, M)
    if M < 1:
        return fnp.zeros(0)
    if M == 1:
        return fnp.ones(1)
    n = fnp.arange(1 - M, M, 2, dtype=np.float64)
    out = coefs[0]
    for k, c in enumerate(coefs[1:], start=1):
        out = out + c * fnp.cos(k * np.pi * n / (M - 1))
    return out


def hanning(M: int) -> Any:
    """The Hann window of length M.

    >>> hanning(3).tolist()
    [0.0, 1.0, 0.0]
    """
    return _cos_window("hanning", M, (0.5, 0.5))


def hamming(M: int) -> Any:
    """The Hamming window of length M.

    >>> [round(v, 6) for v in hamming(3).tolist()]
    [0.08, 1.0, 0.08]
    """
    return _cos_window("hamming", M, (0.54, 0.46))


def blackman(M: int) -> Any:
    """The Blackman window of length M.

    >>> [round(v, 6) for v in blackman(3).tolist()]
    [-0.0, 1.0, -0.0]
    """
    return _cos_window("blackman", M, (0.42, 0.5, 0.08))


def bartlett(M: int) -> Any:
    """The Bartlett (triangular) window of length M.

    >>> bartlett(5).tolist()
    [0.0, 0.5, 1.0, 0.5, 0.0]
    """
    fnp = _fnp()
    M = _window_n("bartlett", M)
    if M < 1:
        return fnp.zeros(0)
    if M == 1:
        return fnp.ones(1)
    n = fnp.arange(1 - M, M, 2, dtype=np.float64)
    return fnp.where(n <= 0, 1 + n / (M - 1), 1 - n / (M - 1))


def kaiser(M: int, beta: Any) -> Any:
    """The Kaiser window of length M and shape beta (differentiable in beta).

    >>> [round(v, 6) for v in kaiser(3, 0.0).tolist()]
    [1.0, 1.0, 1.0]
    """
    fnp = _fnp()
    M = _window_n("kaiser", M)
    if M < 1:
        return fnp.zeros(0)
    if M == 1:
        return fnp.ones(1)
    n = fnp.arange(0, M, dtype=np.float64)
    alpha = (M - 1) / 2.0
    return i0(beta * fnp.sqrt(1 - ((n - alpha) / alpha) ** 2.0)) / i0(fnp.asarray(beta,
                                                                                  np.float64))


# -- assembling arrays ------------------------------------------------------------------------


def block(arrays: Any) -> Any:
    """An array assembled from nested lists of blocks (numpy.block): the innermost lists
    are joined along the last axis, the next ones along the one before, ...

    >>> block([[np.eye(2), np.zeros((2, 1))], [np.ones((1, 2)), np.ones((1, 1))]]).shape
    (3, 3)
    """
    fnp = _fnp()

    def depth(x):
        if isinstance(x, tuple):
            raise TypeError("block: arrays must be nested lists, not tuples")
        if isinstance(x, list):
            if not x:
                raise ValueError("block: lists cannot be empty")
            ds = {depth(v) for v in x}
            if len(ds) != 1:
                raise ValueError("block: list depths are mismatched")
            return ds.pop() + 1
        return 0

    def max_ndim(x):
        return max(max_ndim(v) for v in x) if isinstance(x, list) else fnp.ndim(x)
    d = depth(arrays)
    nd = max(d, max_ndim(arrays))

    def build(x, level):
        if isinstance(x, list):
            return fnp.concatenate([build(v, level + 1) for v in x], axis=-(d - level))
        x = fnp.asarray(x)
        return fnp.reshape(x, (1,) * (nd - fnp.ndim(x)) + tuple(fnp.shape(x)))
    return build(arrays, 0)


class _Concatenator:
    """numpy's r_ / c_ (slices, arrays and scalars; no string directives)."""

    def __init__(self, columns: bool):
        self.columns = columns

    def __getitem__(self, key: Any) -> Any:
        fnp = _fnp()
        items = key if isinstance(key, tuple) else (key,)
        parts = []
        for it in items:
            if isinstance(it, str):
                raise NotImplementedError("r_/c_: string directives are not supported")
            if isinstance(it, slice):
                start = 0 if it.start is None else it.start
                step = 1 if it.step is None else it.step
                if isinstance(step, complex):
                    v = fnp.linspace(start, it.stop, int(abs(step)))
                else:
                    v = fnp.arange(start, it.stop, step)
            else:
                v = fnp.asarray(it)
            if self.columns:
                v = fnp.reshape(v, (-1, 1)) if fnp.ndim(v) <= 1 else v
            else:
                v = fnp.atleast_1d(v)
            parts.append(v)
        return fnp.concatenate(parts, axis=-1 if self.columns else 0)


r_ = _Concatenator(columns=False)
c_ = _Concatenator(columns=True)


def fromfunction(function: Callable, shape: Sequence[int], *, dtype: Any = float,
                 **kwargs: Any) -> Any:
    """function(*indices(shape)), as numpy.fromfunction.

    >>> fromfunction(lambda i, j: i + j, (2, 2)).tolist()
    [[0.0, 1.0], [1.0, 2.0]]
    """
    fnp = _fnp()
    return function(*fnp.indices(tuple(shape), dtype=dtype), **kwargs)


def resize(a: Any, new_shape: Any) -> Any:
    """a's entries repeated cyclically to fill new_shape (numpy.resize).

    >>> resize(np.array([1, 2, 3]), (2, 2)).tolist()
    [[1, 2], [3, 1]]
    """
    fnp = _fnp()
    a = fnp.ravel(fnp.asarray(a))
    new_shape = (new_shape,) if isinstance(new_shape, (int, np.integer)) else tuple(new_shape)
    total = math.prod(new_shape)
    n = fnp.shape(a)[0]
    if n == 0 or total == 0:
        return fnp.zeros(new_shape, a.dtype)
    reps = -(-total // n)
    return fnp.reshape(fnp.tile(a, reps)[:total], new_shape)


def trim_zeros(filt: Any, trim: str = "fb") -> Any:
    """filt (1-d, concrete) without its leading ('f') and trailing ('b') zeros.

    >>> trim_zeros(np.array([0, 1, 0, 2, 0])).tolist()
    [1, 0, 2]
    """
    if isinstance(filt, Tracer):
        raise ConcretizationTypeError(concretization_message(filt, "passed to trim_zeros") +
                                      " trim_zeros' output size depends on the values.")
    return np.trim_zeros(np.asarray(filt), trim)


def apply_over_axes(func: Callable, a: Any, axes: Any) -> Any:
    """func(a, axis) applied over each axis in turn, keeping the rank.

    >>> apply_over_axes(lambda x, ax: x.sum(ax), np.ones((2, 3)), [0, 1]).tolist()
    [[6.0]]
    """
    fnp = _fnp()
    a = fnp.asarray(a)
    for axis in [axes] if np.ndim(axes) == 0 else axes:
        b = func(a, axis)
        if fnp.ndim(b) == fnp.ndim(a):
            a = b
        elif fnp.ndim(b) == fnp.ndim(a) - 1:
            a = fnp.expand_dims(b, axis)
        else:
            raise ValueError("apply_over_axes: function is not returning an array of the "
                             "correct shape")
    return a


# -- diagonals and functional in-place operations -----------------------------------------------


def diag_indices_from(arr: Any) -> tuple:
    """Indices of the main diagonal of a square array.

    >>> [i.tolist() for i in diag_indices_from(np.eye(2))]
    [[0, 1], [0, 1]]
    """
    fnp = _fnp()
    shp = fnp.shape(arr)
    if len(shp) < 2 or len(set(shp)) != 1:
        raise ValueError(f"diag_indices_from: input must be at least 2-d with all dimensions "
                         f"equal, got shape {shp}")
    return fnp.diag_indices(shp[0], len(shp))


def diagflat(v: Any, k: int = 0) -> Any:
    """A 2-d array with the flattened v on its k-th diagonal.

    >>> diagflat(np.array([[1, 2]])).tolist()
    [[1, 0], [0, 2]]
    """
    fnp = _fnp()
    return fnp.diag(fnp.ravel(v), k)


def mask_indices(n: int, mask_func: Callable, k: int = 0) -> tuple:
    """Indices where mask_func(ones((n, n)), k) is non-zero (e.g. mask_func=triu).

    >>> [i.tolist() for i in mask_indices(2, np.triu)]
    [[0, 0, 1], [0, 1, 1]]
    """
    return np.nonzero(np.asarray(mask_func(np.ones((n, n), dtype=int), k)))


def _inplace_error(name: str) -> NotImplementedError:
    return NotImplementedError(f"funcad arrays are immutable, so {name} requires "
                               f"inplace=False (it then returns the updated array), as in JAX")


def _cycled(v: Any, n: int) -> Any:
    fnp = _fnp()
    v = fnp.ravel(fnp.asarray(v))
    return resize(v, (n,)) if fnp.shape(v)[0] != n else v


def fill_diagonal(a: Any, val: Any, wrap: bool = False, *, inplace: bool = True) -> Any:
    """a with its main diagonal set to val (cycled), as numpy.fill_diagonal but
    functional: pass inplace=False.

    >>> fill_diagonal(np.zeros((2, 2)), 5.0, inplace=False).tolist()
    [[5.0, 0.0], [0.0, 5.0]]
    """
    if inplace:
        raise _inplace_error("fill_diagonal")
    fnp = _fnp()
    a = fnp.asarray(a)
    shp = fnp.shape(a)
    if len(shp) < 2:
        raise ValueError("fill_diagonal: array must be at least 2-d")
    if len(shp) == 2:
        step = shp[1] + 1
        end = math.prod(shp) if wrap else min(shp[0], shp[1]) * shp[1]
    else:
        if len(set(shp)) != 1:
            raise ValueError("fill_diagonal: all dimensions of input must be of equal length")
        step = 1 + sum(shp[0] ** i for i in range(1, len(shp)))
        end = math.prod(shp)
    idx = np.arange(0, end, step)
    flat = fnp.ravel(a)
    vals = fnp.astype(_cycled(val, idx.size), a.dtype)
    return fnp.reshape(fnp.at(flat)[idx].set(vals), shp)


def put(a: Any, ind: Any, v: Any, mode: str | None = None, *, inplace: bool = True) -> Any:
    """a with a.flat[ind] = v (v cycled), functional (pass inplace=False); mode 'clip' or
    'wrap' for out-of-range indices ('raise' checks concrete ones).

    >>> put(np.zeros(3), np.array([0, 2]), 1.0, inplace=False).tolist()
    [1.0, 0.0, 1.0]
    """
    if inplace:
        raise _inplace_error("put")
    fnp = _fnp()
    a = fnp.asarray(a)
    flat = fnp.ravel(a)
    n = fnp.shape(flat)[0]
    ind = fnp.ravel(fnp.asarray(ind))
    if mode == "clip":
        ind = fnp.clip(ind, 0, n - 1)
    elif mode == "wrap":
        ind = fnp.remainder(ind, n)
    elif mode in (None, "raise", "fill"):
        if not isinstance(ind, Tracer) and np.size(ind) and (np.max(ind) >= n or
                                                             np.min(ind) < -n):
            raise IndexError(f"put: index out of range for an array of size {n}")
    else:
        raise ValueError(f"put: mode must be 'raise', 'wrap' or 'clip', got {mode!r}")
    vals = fnp.astype(_cycled(v, fnp.shape(ind)[0]), a.dtype)
    return fnp.reshape(fnp.at(flat)[ind].set(vals), fnp.shape(a))


def place(arr: Any, mask: Any, vals: Any, *, inplace: bool = True) -> Any:
    """arr with the entries where mask is true set to vals (cycled), functional (pass
    inplace=False); mask must be concrete.

    >>> place(np.arange(4), np.array([0, 1, 0, 1]), [9], inplace=False).tolist()
    [0, 9, 2, 9]
    """
    if inplace:
        raise _inplace_error("place")
    if isinstance(mask, Tracer):
        raise ConcretizationTypeError(concretization_message(mask, "passed to place as mask"))
    fnp = _fnp()
    arr = fnp.asarray(arr)
    idx = np.flatnonzero(np.broadcast_to(np.asarray(mask), fnp.shape(arr)))
    flat = fnp.ravel(arr)
    vals = fnp.astype(_cycled(vals, idx.size), arr.dtype)
    return fnp.reshape(fnp.at(flat)[idx].set(vals), fnp.shape(arr))


def put_along_axis(arr: Any, indices: Any, values: Any, axis: int | None,
                   inplace: bool = True, *, mode: str | None = None) -> Any:
    """The inverse of take_along_axis: arr with arr[..., indices, ...] = values along
    `axis`, functional (pass inplace=False).

    >>> put_along_axis(np.zeros((2, 2)), np.array([[1], [0]]), 5.0, 1,
    ...                inplace=False).tolist()
    [[0.0, 5.0], [5.0, 0.0]]
    """
    if inplace:
        raise _inplace_error("put_along_axis")
    fnp = _fnp()
    arr = fnp.asarray(arr)
    indices = fnp.asarray(indices)
    if axis is None:
        return put(arr, indices, values, mode=mode, inplace=False)
    nd = fnp.ndim(arr)
    if fnp.ndim(indices) != nd:
        raise ValueError(f"put_along_axis: indices must have rank {nd}, got shape "
                         f"{fnp.shape(indices)}")
    axis = axis % nd
    shp = fnp.broadcast_shapes(tuple(s if i != axis else 1 for i, s in
                                     enumerate(fnp.shape(arr))), fnp.shape(indices))
    idx = []
    for d in range(nd):
        if d == axis:
            idx.append(fnp.broadcast_to(indices, shp))
        else:
            r = np.arange(shp[d]).reshape([-1 if k == d else 1 for k in range(nd)])
            idx.append(np.broadcast_to(r, shp))
    vals = fnp.broadcast_to(fnp.astype(fnp.asarray(values), arr.dtype), shp)
    return fnp.at(arr)[tuple(idx)].set(vals)


# -- polynomials ------------------------------------------------------------------------------


def poly(seq_of_zeros: Any) -> Any:
    """The coefficients (highest power first) of the monic polynomial with the given roots
    (1-d, real; numpy.poly of a matrix, via its eigenvalues, is not supported).

    >>> poly(np.array([1.0, 2.0])).tolist()
    [1.0, -3.0, 2.0]
    """
    fnp = _fnp()
    z = fnp.asarray(seq_of_zeros)
    if fnp.ndim(z) != 1:
        raise NotImplementedError("poly: only a 1-d sequence of roots is supported (not the "
                                  "characteristic polynomial of a matrix)")
    from funcad.numpy._base import promote_inexact
    (z,) = promote_inexact(z)
    a = fnp.ones(1, dtype=z.dtype)
    for k in range(fnp.shape(z)[0]):
        a = fnp.convolve(a, fnp.stack([fnp.ones((), z.dtype), -z[k]]))
    return a


def _companion_roots(p: Any) -> Any:
    """The eigenvalues of p's companion matrix (p[0] != 0): its roots, complex."""
    fnp = _fnp()
    n = fnp.shape(p)[0]
    a = fnp.diag(fnp.ones((n - 2,), p.dtype), -1)
    a = a.at[0, :].set(-p[1:] / p[0])
    return fnp.linalg.eigvals(a)


def roots(p: Any, *, strip_zeros: bool = True) -> Any:
    """The roots of the polynomial with coefficients p (highest power first), complex, as
    the eigenvalues of its companion matrix (jax.numpy.roots). Leading zeros are stripped,
    which needs concrete p; under jit pass strip_zeros=False: the result then always has
    len(p) - 1 entries, and one per leading zero is NaN (at the end).

    >>> sorted(roots(np.array([1.0, -3.0, 2.0])).real.round(6).tolist())
    [1.0, 2.0]
    """
    fnp = _fnp()
    from funcad.numpy._base import promote_inexact
    (p,) = promote_inexact(fnp.atleast_1d(fnp.asarray(p)))
    if fnp.ndim(p) != 1:
        raise ValueError(f"roots: p must be a rank-1 array of coefficients, got shape "
                         f"{fnp.shape(p)}")
    cdt = np.result_type(p.dtype, np.complex64)
    n = fnp.shape(p)[0]
    if n < 2:
        return fnp.zeros((0,), cdt)
    is_zero = p == 0
    lead = fnp.where(fnp.all(is_zero), n, fnp.argmin(is_zero))
    if strip_zeros:
        try:
            lead = int(lead)
        except ConcretizationTypeError as e:
            raise ConcretizationTypeError(
                f"{e} roots() strips leading zeros, which needs concrete coefficients: "
                f"under jit pass strip_zeros=False (the roots that leading zeros remove "
                f"are then NaN).") from None
        q = p[lead:]
        if fnp.shape(q)[0] < 2:
            return fnp.zeros((0,), cdt)
        return _companion_roots(q)
    # Leading zeros rolled to the end give zero roots; sort those last and make as many of
    # the last roots as there were leading zeros NaN.
    q = fnp.where(lead == n, fnp.ones_like(p), p)
    q = fnp.take(q, (fnp.arange(n) + lead) % n)   # roll by -lead (lead may be traced)
    r = _companion_roots(q)
    r = r[fnp.argsort(r == 0, stable=True)]
    return fnp.where(fnp.arange(n - 1) < n - 1 - lead, r, fnp.asarray(complex(np.nan, np.nan),
                                                                       cdt))


def polydiv(u: Any, v: Any, *, trim_leading_zeros: bool = False) -> tuple:
    """(quotient, remainder) of the polynomials u / v (highest power first); as in JAX the
    remainder keeps u's length unless trim_leading_zeros (concrete inputs only).

    >>> [c.tolist() for c in polydiv(np.array([1.0, -3.0, 2.0]), np.array([1.0, -1.0]))]
    [[1.0, -2.0], [0.0, 0.0, 0.0]]
    """
    fnp = _fnp()
    from funcad.numpy._base import promote_inexact
    u, v = promote_inexact(fnp.atleast_1d(u), fnp.atleast_1d(v))
    m, n = fnp.shape(u)[0] - 1, fnp.shape(v)[0] - 1
    scale = 1.0 / v[0]
    q = []
    r = u
    for k in range(m - n + 1):
        d = scale * r[k]
        q.append(d)
        r = fnp.concatenate([r[:k], r[k:k + n + 1] - d * v, r[k + n + 1:]])
    q = fnp.stack(q) if q else fnp.zeros(1, u.dtype)
    if trim_leading_zeros:
        if isinstance(r, Tracer):
            raise ConcretizationTypeError(concretization_message(
                r, "trimmed by polydiv(trim_leading_zeros=True)"))
        r = np.asarray(r)
        while r.shape[0] > 1 and np.allclose(r[0], 0, rtol=1e-14):
            r = r[1:]
    return q, r


# -- multi-dimensional histograms -------------------------------------------------------------


def histogramdd(sample: Any, bins: Any = 10, range: Any = None,
                weights: Any = None, density: Any = None) -> tuple:
    """(counts, [edges per dimension]) of N points in D dimensions (sample [N, D]), as
    numpy.histogramdd: `bins` an int, D ints or D edge arrays; `range` None or D pairs.

    >>> counts, edges = histogramdd(np.array([[0.0, 0.0], [1.0, 1.0]]), bins=2)
    >>> counts.tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    fnp = _fnp()
    from funcad.numpy._setops import histogram_bin_edges
    sample = fnp.asarray(sample)
    if fnp.ndim(sample) == 1:
        sample = fnp.reshape(sample, (-1, 1))
    n, dim = fnp.shape(sample)
    if isinstance(bins, (int, np.integer)) or np.ndim(bins) == 0 and not isinstance(bins,
                                                                                    Tracer):
        bins = [bins] * dim
    if len(bins) != dim:
        raise ValueError(f"histogramdd: `bins` must be an int or a sequence of {dim}")
    ranges = [None] * dim if range is None else list(range)
    if weights is None:
        weights = fnp.ones(n, sample.dtype if np.issubdtype(sample.dtype, np.inexact)
                           else np.float64)
    weights = fnp.asarray(weights)
    edges, flat, valid = [], 0, None
    sizes = []
    for d in builtins.range(dim):
        x = sample[:, d]
        e = histogram_bin_edges(x, bins[d], ranges[d])
        nb = fnp.shape(e)[0]
        idx = fnp.searchsorted(e, x, side="right")
        idx = fnp.where(x == e[-1], nb - 1, idx)
        ok = (idx >= 1) & (idx <= nb - 1)
        valid = ok if valid is None else valid & ok
        flat = flat * (nb - 1) + (idx - 1)
        edges.append(e)
        sizes.append(nb - 1)
    total = math.prod(sizes)
    hit = (fnp.expand_dims(flat, -1) == fnp.arange(total)) & fnp.expand_dims(valid, -1)
    counts = fnp.sum(fnp.where(hit, fnp.expand_dims(weights, -1), 0), axis=0)
    counts = fnp.reshape(counts, tuple(sizes))
    if density:
        vol = 1.0
        for d, e in enumerate(edges):
            shape = [1] * dim
            shape[d] = sizes[d]
            vol = vol * fnp.reshape(fnp.diff(e), shape)
        counts = counts / vol / fnp.sum(counts)
    return counts, edges


def histogram2d(x: Any, y: Any, bins: Any = 10, range: Any = None,
                weights: Any = None, density: Any = None) -> tuple:
    """(counts, xedges, yedges) of the points (x[i], y[i]), as numpy.histogram2d.

    >>> h, xe, ye = histogram2d(np.array([0.0, 1.0]), np.array([0.0, 1.0]), bins=2)
    >>> h.tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    fnp = _fnp()
    if not isinstance(bins, (int, np.integer)) and np.ndim(bins) == 1 and len(bins) != 2:
        bins = [bins, bins]
    counts, (xe, ye) = histogramdd(fnp.stack([fnp.ravel(x), fnp.ravel(y)], axis=1), bins,
                                   range, weights, density)
    return counts, xe, ye
