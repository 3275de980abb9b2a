"""funcad.numpy.linalg: norm, solve, inv, det, slogdet, cholesky, eigh, svd, qr, pinv, ..."""

from __future__ import annotations

from typing import Any, NamedTuple

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
    Array([0.5, 0.5], dtype=float64)
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


def cholesky(a: Any, /, *, upper: bool = False, symmetrize_input: bool = True) -> Any:
    """Lower-triangular Cholesky factor L with L @ L^H = a (upper=True: L^H).

    As JAX, the input is symmetrized first ((a + a^H) / 2), which splits the derivatives
    with respect to a[i, j] and a[j, i] evenly. `symmetrize_input=False` reads only the
    lower triangle, as numpy.linalg.cholesky (derivatives with respect to the upper
    triangle are 0; NumPy's own function called on traced values does this). Both agree
    for Hermitian inputs and Hermitian perturbations.
    """
    a = _square("cholesky", a)
    if symmetrize_input:
        from funcad.numpy._ufuncs import add, multiply
        a = multiply(add(a, _H(a)), 0.5)
    L = la.cholesky_p.bind(a)
    return _H(L) if upper else L


def _H(a: Any) -> Any:
    """Conjugate transpose of the last two axes (the transpose of a real matrix)."""
    from funcad.numpy._ufuncs import conj
    return conj(la._mT(a)) if np.dtype(a.dtype).kind == "c" else la._mT(a)


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
    if np.dtype(x.dtype).kind == "c":
        # |x|^2 = Re(x conj(x)); the other norms below go through absolute(x), real too.
        from funcad.numpy._ufuncs import conj, multiply, real

        def square(v):
            return real(multiply(v, conj(v)))
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
            return _sum(astype(not_equal(x, 0), absolute(x).dtype), axis=axes,
                        keepdims=keepdims)
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


# -- decompositions (primitives eigh, svd, qr) and what is built on them ---------------------


class EighResult(NamedTuple):
    """Eigenvalues (ascending) and eigenvectors (columns) of a symmetric matrix."""
    eigenvalues: Any
    eigenvectors: Any


class SVDResult(NamedTuple):
    """a = U @ diag(S) @ Vh."""
    U: Any
    S: Any
    Vh: Any


class QRResult(NamedTuple):
    """a = Q @ R with orthonormal Q and upper-triangular R."""
    Q: Any
    R: Any


def _sym_input(a: Any, UPLO: str | None, symmetrize_input: bool) -> Any:
    a = _square("eigh", a)
    if symmetrize_input:
        from funcad.numpy._ufuncs import add, multiply
        return multiply(add(a, _H(a)), 0.5)
    if UPLO not in (None, "L", "U"):
        raise ValueError(f"eigh: UPLO must be 'L' or 'U', got {UPLO!r}")
    return _H(a) if UPLO == "U" else a  # the primitive reads the lower triangle


def eigh(a: Any, UPLO: str | None = None, symmetrize_input: bool = True) -> EighResult:
    """Eigen-decomposition of a symmetric matrix: (eigenvalues ascending, eigenvectors).

    As in JAX, the input is symmetrized ((a + a^H) / 2) unless `symmetrize_input=False`,
    which reads only the `UPLO` triangle as NumPy does. Derivatives of the eigenvectors
    assume distinct eigenvalues.
    """
    w, v = la.eigh_p.bind(_sym_input(a, UPLO, symmetrize_input))
    return EighResult(w, v)


def eigvalsh(a: Any, UPLO: str | None = "L", *, symmetrize_input: bool = True) -> Any:
    """Eigenvalues (ascending) of a symmetric matrix."""
    return eigh(a, UPLO, symmetrize_input).eigenvalues


class EigResult(NamedTuple):
    """Eigenvalues and right eigenvectors (columns) of a general square matrix."""
    eigenvalues: Any
    eigenvectors: Any


def eig(a: Any) -> EigResult:
    """Eigenvalues and right eigenvectors (unit-norm columns) of a square matrix, both
    complex (also for real input, as JAX); eigenvalues in LAPACK's order, not sorted.

    Differentiable through the eigenvalues only (as in JAX): a derivative that uses the
    eigenvectors raises NotImplementedError.

    >>> import numpy as np, funcad.numpy as fnp
    >>> w, v = fnp.linalg.eig(np.array([[0.0, -1.0], [1.0, 0.0]]))
    >>> sorted(np.asarray(w).imag.tolist()), str(w.dtype)
    ([-1.0, 1.0], 'complex128')
    """
    from funcad.primitives.decompositions import eig_p
    w, v = eig_p.bind(_square("eig", a), vectors=True, gauge_free=False)
    return EigResult(w, v)


def eigvals(a: Any) -> Any:
    """Eigenvalues (complex, LAPACK's order) of a square matrix; differentiable
    (dw = diag(V^-1 dA V), for distinct eigenvalues)."""
    from funcad.primitives.decompositions import eig_p
    (w,) = eig_p.bind(_square("eigvals", a), vectors=False, gauge_free=False)
    return w


def _matrix(name: str, a: Any) -> Any:
    (a,) = promote_inexact(asarray(a))
    if ndim(a) < 2:
        raise ValueError(f"linalg.{name}: expected a matrix (or a stack of them), got shape "
                         f"{shape(a)}")
    return a


def svd(a: Any, full_matrices: bool = True, compute_uv: bool = True,
        hermitian: bool = False) -> Any:
    """Singular value decomposition a = U @ diag(S) @ Vh (S descending).

    Derivatives assume distinct non-zero singular values; with full_matrices=True only
    for square matrices (pass full_matrices=False otherwise).
    """
    a = _matrix("svd", a)
    m, n = shape(a)[-2:]
    full = bool(full_matrices) and compute_uv and m != n
    u, s, vh = la.svd_p.bind(a, full_matrices=full)
    return SVDResult(u, s, vh) if compute_uv else s


def svdvals(x: Any, /) -> Any:
    """Singular values, descending."""
    return svd(x, compute_uv=False)


def qr(a: Any, mode: str = "reduced") -> Any:
    """QR decomposition (modes 'reduced', 'complete' for m <= n, and 'r')."""
    a = _matrix("qr", a)
    m, n = shape(a)[-2:]
    if mode not in ("reduced", "complete", "r"):
        raise ValueError(f"qr: mode must be 'reduced', 'complete' or 'r', got {mode!r}")
    if mode == "complete" and m > n:
        raise NotImplementedError("qr: mode='complete' for a matrix with more rows than "
                                  "columns is not supported; use mode='reduced'")
    q, r = la.qr_p.bind(a)
    return r if mode == "r" else QRResult(q, r)


def pinv(a: Any, rtol: Any = None, hermitian: bool = False, *, rcond: Any = None) -> Any:
    """Moore-Penrose pseudo-inverse (through the SVD; singular values below
    rtol * max(S) count as zero, rtol defaulting to max(m, n) * eps as in JAX)."""
    from funcad.numpy._reductions import max as _max
    from funcad.numpy._ufuncs import greater, multiply, true_divide, where
    a = _matrix("pinv", a)
    m, n = shape(a)[-2:]
    if rcond is not None:
        rtol = rcond
    if rtol is None:
        rtol = max(m, n) * np.finfo(a.dtype).eps
    u, s, vh = svd(a, full_matrices=False)
    cutoff = multiply(_max(s, axis=-1, keepdims=True), rtol)
    big = greater(s, cutoff)
    s_inv = where(big, true_divide(1.0, where(big, s, 1.0)), 0.0)
    from funcad.numpy._contract import matmul
    return matmul(multiply(_H(vh), s_inv[..., None, :]), _H(u))


def matrix_power(a: Any, n: int) -> Any:
    """a raised to the integer power n (by repeated squaring; n < 0 inverts first)."""
    from funcad.numpy._contract import matmul
    a = _square("matrix_power", a)
    n = _operator_index(n)
    if n == 0:
        return broadcast_to(np.eye(shape(a)[-1], dtype=a.dtype), shape(a))
    if n < 0:
        a = inv(a)
        n = -n
    result = None
    z = a
    while True:
        if n & 1:
            result = z if result is None else matmul(result, z)
        n >>= 1
        if not n:
            return result
        z = matmul(z, z)


def _operator_index(n: Any) -> int:
    import operator
    try:
        return operator.index(n)
    except TypeError:
        raise TypeError(f"matrix_power: the exponent must be an integer, got {n!r}") from None


def multi_dot(arrays: Any, *, precision: Any = None) -> Any:
    """Product of a chain of matrices (first may be 1-d, last may be 1-d)."""
    from funcad.numpy._contract import matmul
    arrays = list(arrays)
    if len(arrays) < 2:
        raise ValueError("multi_dot: expecting at least two arrays")
    out = arrays[0]
    for b in arrays[1:]:
        out = matmul(out, b)
    return out


def matrix_rank(M: Any, rtol: Any = None, *, tol: Any = None) -> Any:
    """Number of singular values above rtol * max(S) (default max(m, n) * eps)."""
    from funcad.numpy._reductions import max as _max
    from funcad.numpy._reductions import sum as _sum
    from funcad.numpy._ufuncs import greater, multiply
    M = asarray(M)
    if ndim(M) < 2:
        from funcad.numpy._reductions import any as _any
        return _sum(_any(M != 0).astype(np.int64)) if ndim(M) else (M != 0).astype(np.int64)
    s = svdvals(M)
    if tol is not None:
        cutoff = tol
    else:
        m, n = shape(M)[-2:]
        r = max(m, n) * np.finfo(s.dtype).eps if rtol is None else rtol
        cutoff = multiply(_max(s, axis=-1, keepdims=True), r)
    return _sum(greater(s, cutoff), axis=-1)


def lstsq(a: Any, b: Any, rcond: Any = None, *, numpy_resid: bool = False) -> tuple:
    """Least-squares solution of a @ x = b: (x, residuals, rank, singular values)."""
    from funcad.numpy._contract import matmul
    from funcad.numpy._reductions import sum as _sum
    from funcad.numpy._ufuncs import square, subtract
    a = _matrix("lstsq", a)
    (a, b) = promote_inexact(a, asarray(b))
    m, n = shape(a)
    x = matmul(pinv(a, rtol=rcond), b)
    s = svdvals(a)
    rank = matrix_rank(a, rtol=rcond)
    if m > n and int(np.asarray(rank) if not hasattr(rank, "aval") else n) == n:
        r = subtract(matmul(a, x), b)
        if np.dtype(r.dtype).kind == "c":
            from funcad.numpy._ufuncs import abs as _abs
            r = _abs(r)
        resid = _sum(square(r), axis=0)
        if ndim(b) == 1:
            resid = reshape(resid, (1,))
    else:
        resid = np.zeros((0,), a.dtype)
    return x, resid, rank, s


# -- the array-API names of numpy.linalg ---------------------------------------------------------


def vector_norm(x: Any, /, *, axis: Any = None, keepdims: bool = False, ord: Any = 2) -> Any:
    """Vector norm over `axis` (all axes, flattened, when None)."""
    from funcad.numpy._shapes import reshape as _reshape
    x = asarray(x)
    if axis is None:
        y = norm(_reshape(x, (-1,)), ord=ord)
        return reshape(y, (1,) * ndim(x)) if keepdims else y
    return norm(x, ord=ord, axis=axis, keepdims=keepdims)


def matrix_norm(x: Any, /, *, keepdims: bool = False, ord: Any = "fro") -> Any:
    """Matrix norm over the last two axes ('fro', 'nuc', 1, -1, 2, -2, inf, -inf)."""
    from funcad.numpy._reductions import max as _max
    from funcad.numpy._reductions import min as _min
    from funcad.numpy._reductions import sum as _sum
    x = _matrix("matrix_norm", x)
    if ord in (2, -2, "nuc"):
        s = svdvals(x)
        y = _max(s, axis=-1) if ord == 2 else _min(s, axis=-1) if ord == -2 else _sum(s, -1)
        return reshape(y, (*shape(y), 1, 1)) if keepdims else y
    return norm(x, ord=ord, axis=(-2, -1), keepdims=keepdims)


def cond(x: Any, p: Any = None) -> Any:
    """Condition number (2-norm by default: largest / smallest singular value)."""
    x = _matrix("cond", x)
    if p is None or p in (2, -2):
        from funcad.numpy._reductions import max as _max
        from funcad.numpy._reductions import min as _min
        from funcad.numpy._ufuncs import true_divide
        s = svdvals(x)
        r = true_divide(_max(s, axis=-1), _min(s, axis=-1))
        return true_divide(1.0, r) if p == -2 else r
    from funcad.numpy._ufuncs import multiply
    return multiply(matrix_norm(x, ord=p), matrix_norm(inv(x), ord=p))


def vecdot(x1: Any, x2: Any, /, *, axis: int = -1) -> Any:
    """Dot product of vectors along `axis`."""
    from funcad.numpy._extra import vecdot as _vecdot
    return _vecdot(x1, x2, axis=axis)


def cross(x1: Any, x2: Any, /, *, axis: int = -1) -> Any:
    """Cross product of 3-vectors along `axis`."""
    from funcad.numpy._extra import cross as _cross
    if shape(x1)[axis] != 3 or shape(x2)[axis] != 3:
        raise ValueError("linalg.cross: both inputs need size 3 along axis")
    return _cross(x1, x2, axis=axis)


def outer(x1: Any, x2: Any, /) -> Any:
    """Outer product of two vectors."""
    from funcad.numpy._contract import outer as _outer
    if ndim(x1) != 1 or ndim(x2) != 1:
        raise ValueError("linalg.outer: both inputs must be 1-d")
    return _outer(x1, x2)


def diagonal(x: Any, /, *, offset: int = 0) -> Any:
    """Diagonals of the last two axes."""
    from funcad.numpy._shapes import diagonal as _diagonal
    return _diagonal(x, offset, -2, -1)


def trace(x: Any, /, *, offset: int = 0, dtype: Any = None) -> Any:
    """Sums of the diagonals of the last two axes."""
    from funcad.numpy._contract import trace as _trace
    return _trace(x, offset, -2, -1, dtype)


def matmul(x1: Any, x2: Any, /) -> Any:
    """Matrix product."""
    from funcad.numpy._contract import matmul as _matmul
    return _matmul(x1, x2)


def matrix_transpose(x: Any, /) -> Any:
    """Swap the last two axes."""
    return la._mT(_matrix("matrix_transpose", x))


def tensordot(x1: Any, x2: Any, /, *, axes: Any = 2) -> Any:
    """Tensor contraction (as numpy.tensordot)."""
    from funcad.numpy._contract import tensordot as _tensordot
    return _tensordot(x1, x2, axes)


def tensorinv(a: Any, ind: int = 2) -> Any:
    """The inverse of a with respect to tensordot over its first `ind` axes."""
    a = asarray(a)
    s = shape(a)
    lead, trail = s[:ind], s[ind:]
    n = int(np.prod(lead, dtype=np.int64))
    if n != int(np.prod(trail, dtype=np.int64)):
        raise ValueError("tensorinv: the leading and trailing dimensions differ in size")
    return reshape(inv(reshape(a, (n, n))), (*trail, *lead))


def tensorsolve(a: Any, b: Any, axes: Any = None) -> Any:
    """Solve tensordot(a, x, axes=x.ndim) = b for x."""
    from funcad.numpy._shapes import moveaxis
    a, b = asarray(a), asarray(b)
    if axes is not None:
        for k in sorted(int(ax) % ndim(a) for ax in axes)[::-1]:
            a = moveaxis(a, k, -1)
    xs = shape(a)[ndim(b):]
    n = int(np.prod(xs, dtype=np.int64))
    x = solve(reshape(a, (n, n)), reshape(b, (n,)))
    return reshape(x, xs)


# Called outside transforms, the public functions return funcad.Arrays.
from funcad._array import export_arrays as _export_arrays  # noqa: E402

_export_arrays(globals())
