"""funcad.numpy.linalg: norm, solve, inv, det, slogdet, cholesky."""

from __future__ import annotations

from typing import Any

import numpy as np

from funcad.numpy._base import _asarray as asarray
from funcad.numpy._base import broadcast_to, ndim, promote_inexact, shape
from funcad.primitives import linalg as la
from funcad.primitives.structural import reshape


def _square(name: str, a: Any) -> Any:
    (a,) = promote_inexact(asarray(a))
    s = shape(a)
    if len(s) < 2 or s[-1] != s[-2]:
        raise ValueError(f"linalg.{name}: expected a square matrix (or a stack of them), got "
                         f"shape {s}")
    return a


def solve(a: Any, b: Any) -> Any:
    """Solve a @ x = b for x (b a vector or a stack of matrices).

    >>> import numpy as np, funcad.numpy as fnp
    >>> fnp.linalg.solve(np.eye(2) * 2, np.ones(2))
    array([0.5, 0.5])
    """
    a = _square("solve", a)
    (a, b) = promote_inexact(a, asarray(b))
    sa, sb = shape(a), shape(b)
    n = sa[-1]
    if len(sb) == 1:  # NumPy 2: b is a vector only when it is 1-d
        if sb[-1] != n:
            raise ValueError(f"linalg.solve: shapes {sa} and {sb} are incompatible")
        bm = reshape(b, (*sb, 1))
        bm = broadcast_to(bm, (*sa[:-2], n, 1))
        x = la.solve_p.bind(a, bm)
        return reshape(x, shape(x)[:-1])
    if sb[-2] != n:
        raise ValueError(f"linalg.solve: shapes {sa} and {sb} are incompatible")
    batch = tuple(np.broadcast_shapes(sa[:-2], sb[:-2]))
    a = broadcast_to(a, (*batch, n, n))
    b = broadcast_to(b, (*batch, *sb[-2:]))
    return la.solve_p.bind(a, b)


def inv(a: Any) -> Any:
    """Matrix inverse."""
    a = _square("inv", a)
    s = shape(a)
    eye = broadcast_to(np.eye(s[-1], dtype=a.dtype), s)
    return la.solve_p.bind(a, eye)


def det(a: Any) -> Any:
    """Determinant."""
    return la.det_p.bind(_square("det", a))


def slogdet(a: Any) -> tuple:
    """(sign, log|det|) of a matrix."""
    sign, logdet = la.slogdet_p.bind(_square("slogdet", a))
    return sign, logdet


def cholesky(a: Any, /, *, upper: bool = False, symmetrize_input: bool = False) -> Any:
    """Lower-triangular Cholesky factor L with L @ L.T = a (upper=True: L.T).

    As numpy.linalg.cholesky, only the lower triangle of `a` is read (derivatives with
    respect to the upper triangle are 0). `symmetrize_input=True` uses (a + a.T) / 2
    instead, JAX's default, which splits those derivatives evenly between a[i, j] and
    a[j, i]; both agree for symmetric inputs and symmetric perturbations.
    """
    a = _square("cholesky", a)
    if symmetrize_input:
        from funcad.numpy._ufuncs import add, multiply
        a = multiply(add(a, la._mT(a)), 0.5)
    L = la.cholesky_p.bind(a)
    return la._mT(L) if upper else L


def norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Any:
    """Vector or matrix norm (2-norm / Frobenius by default).

    >>> import funcad.numpy as fnp
    >>> float(fnp.linalg.norm(fnp.array([3.0, 4.0])))
    5.0
    """
    from funcad.numpy._reductions import max as _max
    from funcad.numpy._reductions import min as _min
    from funcad.numpy._reductions import sum as _sum
    from funcad.numpy._ufuncs import absolute, power, sqrt, square
    (x,) = promote_inexact(asarray(x))
    nd = ndim(x)
    if axis is None:
        if ord is None or (ord in ("fro", "f") and nd == 2) or (ord == 2 and nd == 1):
            axes = tuple(range(nd))
            return sqrt(_sum(square(x), axis=axes, keepdims=keepdims))
        axis = tuple(range(nd)) if nd <= 2 else None
        if axis is None:
            raise ValueError("norm: improper number of dimensions to norm")
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    if len(axes) == 1:
        if ord is None or ord == 2:
            return sqrt(_sum(square(x), axis=axes, keepdims=keepdims))
        if ord == np.inf:
            return _max(absolute(x), axis=axes, keepdims=keepdims)
        if ord == -np.inf:
            return _min(absolute(x), axis=axes, keepdims=keepdims)
        if ord == 0:
            from funcad.numpy._base import astype
            from funcad.numpy._ufuncs import not_equal
            return _sum(astype(not_equal(x, 0), x.dtype), axis=axes, keepdims=keepdims)
        if ord == 1:
            return _sum(absolute(x), axis=axes, keepdims=keepdims)
        p = float(ord)
        return power(_sum(power(absolute(x), p), axis=axes, keepdims=keepdims), 1.0 / p)
    if len(axes) == 2:
        r, c = (a % nd for a in axes)
        if ord is None or ord in ("fro", "f"):
            return sqrt(_sum(square(x), axis=axes, keepdims=keepdims))
        if ord == 1:
            y = _max(_sum(absolute(x), axis=r, keepdims=True), axis=c, keepdims=True)
        elif ord == -1:
            y = _min(_sum(absolute(x), axis=r, keepdims=True), axis=c, keepdims=True)
        elif ord == np.inf:
            y = _max(_sum(absolute(x), axis=c, keepdims=True), axis=r, keepdims=True)
        elif ord == -np.inf:
            y = _min(_sum(absolute(x), axis=c, keepdims=True), axis=r, keepdims=True)
        else:
            raise NotImplementedError(f"norm: matrix norm ord={ord!r} is not supported "
                                      f"(supported: None, 'fro', 1, -1, inf, -inf)")
        if not keepdims:
            y = reshape(y, tuple(n for i, n in enumerate(shape(y)) if i not in (r, c)))
        return y
    raise ValueError("norm: improper number of dimensions to norm")
