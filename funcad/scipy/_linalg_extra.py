"""Special matrices, svd and solve_sylvester of jax.scipy.linalg (exported by funcad.scipy.linalg).

The matrices built from arrays (toeplitz, hankel, circulant, leslie, companion, fiedler,
fiedler_companion, convolution_matrix, block_diag) are gathers, concatenations and
arithmetic of funcad.numpy, so they are differentiable in both modes and work under jit and
vmap; leading axes of their vector arguments are batch axes, as in JAX. The matrices of a
size alone (hilbert, invhilbert, pascal, invpascal, helmert, hadamard, dft) are constants
computed exactly in NumPy (Python integers for the binomials), so `n` (and `kind`, `full`,
`scale`, `dtype`) must be static, as in JAX.
"""

from __future__ import annotations

import math
import operator
from typing import Any, Callable

import numpy as np

import funcad.numpy as fnp
from funcad._custom_derivatives import custom_jvp, custom_vjp
from funcad.numpy._base import promote, promote_inexact

__all__ = ["block_diag", "circulant", "companion", "convolution_matrix", "dft",
           "expm_frechet", "fiedler", "fiedler_companion", "funm", "hadamard", "hankel",
           "helmert", "hilbert", "invhilbert", "invpascal", "leslie", "pascal",
           "solve_sylvester", "svd", "toeplitz"]


def _mT(a):
    return fnp.swapaxes(a, -1, -2)


def _H(a):
    return fnp.conj(_mT(a)) if np.dtype(a.dtype).kind == "c" else _mT(a)


def _static_int(name: str, n: Any) -> int:
    try:
        return operator.index(n)
    except TypeError:
        raise TypeError(f"scipy.linalg.{name}: n must be a static Python integer (as in JAX: "
                        f"mark it static, e.g. jit(..., static_argnums=...)), got "
                        f"{type(n).__name__}") from None


def _batch_vectors(*vs):
    """Broadcast the leading (batch) axes of vectors, keeping each one's last axis."""
    batch = np.broadcast_shapes(*(v.shape[:-1] for v in vs))
    return [fnp.broadcast_to(v, (*batch, v.shape[-1])) for v in vs]


# -- matrices built from arrays (differentiable, batched over leading axes) -------------------


def block_diag(*arrs: Any) -> Any:
    """Block diagonal matrix of arrays of at most two dimensions (scipy.linalg.block_diag)."""
    if len(arrs) == 0:
        arrs = (fnp.zeros((1, 0)),)
    arrs = promote(*arrs)
    for i, a in enumerate(arrs):
        if a.ndim > 2:
            raise ValueError(f"Arguments to scipy.linalg.block_diag must have at most 2 "
                             f"dimensions, got shape {a.shape} at argument {i}.")
    arrs = [fnp.atleast_2d(a) for a in arrs]
    dtype = arrs[0].dtype
    total = sum(a.shape[1] for a in arrs)
    rows, col = [], 0
    for a in arrs:
        r, c = a.shape
        rows.append(fnp.concatenate([fnp.zeros((r, col), dtype), a,
                                     fnp.zeros((r, total - col - c), dtype)], axis=1))
        col += c
    return fnp.concatenate(rows, axis=0)


def toeplitz(c: Any, r: Any = None) -> Any:
    """Toeplitz matrix of first column c and first row r (default conj(c)); batched."""
    c = fnp.atleast_1d(fnp.asarray(c))
    r = fnp.conj(c) if r is None else fnp.atleast_1d(fnp.asarray(r))
    c, r = promote(c, r)
    c, r = _batch_vectors(c, r)
    m, n = c.shape[-1], r.shape[-1]
    if m == 0 or n == 0:
        return fnp.zeros((*c.shape[:-1], m, n), c.dtype)
    elems = fnp.concatenate([fnp.flip(c, -1), r[..., 1:]], axis=-1)
    idx = (m - 1) - np.arange(m)[:, None] + np.arange(n)[None, :]
    return elems[..., idx]


def hankel(c: Any, r: Any = None) -> Any:
    """Hankel matrix of first column c and last row r (default zeros); batched."""
    c = fnp.asarray(c)
    r = fnp.zeros_like(c) if r is None else fnp.asarray(r)
    if c.ndim == 0:
        raise ValueError("hankel: c must be at least 1-dimensional, got a scalar.")
    if r.ndim == 0:
        raise ValueError("hankel: r must be at least 1-dimensional, got a scalar.")
    c, r = promote(c, r)
    c, r = _batch_vectors(c, r)
    m, n = c.shape[-1], r.shape[-1]
    if m == 0 or n == 0:
        return fnp.zeros((*c.shape[:-1], m, n), c.dtype)
    v = fnp.concatenate([c, r[..., 1:]], axis=-1)
    return v[..., np.arange(m)[:, None] + np.arange(n)[None, :]]


def circulant(c: Any) -> Any:
    """Circulant matrix of first column c, A[i, j] = c[(i - j) % n]; batched."""
    c = fnp.atleast_1d(fnp.asarray(c))
    n = c.shape[-1]
    return c[..., (np.arange(n)[:, None] - np.arange(n)[None, :]) % n]


def leslie(f: Any, s: Any) -> Any:
    """Leslie matrix: fecundities f (n >= 2) in the first row, survivals s (n - 1) below."""
    f = fnp.atleast_1d(fnp.asarray(f))
    s = fnp.atleast_1d(fnp.asarray(s))
    if f.shape[-1] < 2:
        raise ValueError(f"The length of f along the last axis must be at least 2; got "
                         f"shape {f.shape}.")
    if s.shape[-1] != f.shape[-1] - 1:
        raise ValueError(f"Incorrect lengths for f and s. The length of s along the last "
                         f"axis must be one less than the length of f; got f shape "
                         f"{f.shape} and s shape {s.shape}.")
    f, s = promote(f, s)
    f, s = _batch_vectors(f, s)
    n = f.shape[-1]
    below = s[..., :, None] * np.eye(n - 1, n, dtype=bool)
    return fnp.concatenate([f[..., None, :], below.astype(f.dtype)], axis=-2)


def companion(a: Any) -> Any:
    """Companion matrix of the polynomial coefficients a (first row -a[1:] / a[0]); batched."""
    (a,) = promote_inexact(fnp.atleast_1d(fnp.asarray(a)))
    if a.shape[-1] < 2:
        raise ValueError(f"The length of `a` along the last axis must be at least 2; got "
                         f"shape {a.shape}.")
    first = -a[..., 1:] / a[..., :1]
    m = a.shape[-1] - 1
    below = fnp.broadcast_to(np.eye(m - 1, m, dtype=a.dtype), (*a.shape[:-1], m - 1, m))
    return fnp.concatenate([first[..., None, :], below], axis=-2)


def fiedler(a: Any) -> Any:
    """Symmetric Fiedler matrix F[i, j] = |a[i] - a[j]|; batched."""
    a = fnp.atleast_1d(fnp.asarray(a))
    return fnp.abs(a[..., :, None] - a[..., None, :])


def fiedler_companion(a: Any) -> Any:
    """Fiedler companion matrix (pentadiagonal, eigenvalues the roots of a); batched."""
    (a,) = promote_inexact(fnp.atleast_1d(fnp.asarray(a)))
    if a.shape[-1] == 0:
        raise ValueError(f"fiedler_companion requires the last axis of 'a' to have nonzero "
                         f"length, but got an array of shape {a.shape}.")
    n = a.shape[-1] - 1
    batch = a.shape[:-1]
    if n == 0:
        return fnp.zeros((*batch, 0, 0), a.dtype)
    a = a / a[..., :1]
    if n == 1:
        return -a[..., 1:, None]
    i = np.arange(n)[:, None]
    j = np.arange(n)[None, :]
    even, odd = i % 2 == 0, i % 2 == 1
    out = fnp.zeros((*batch, n, n), a.dtype)
    # (mask, value) as JAX's select: -a[1] at (0, 0), ones at (1, 0) and on the second
    # super- (even rows) and sub-diagonals (odd rows >= 3), -a[i + 2] on the first
    # superdiagonal and -a[i + 1] on the first subdiagonal of even rows
    cases = [((i == 0) & (j == 0), -a[..., 1:2, None]),
             ((i == 1) & (j == 0), 1.0),
             ((j == i + 1) & even, -a[..., np.minimum(i + 2, n)]),
             ((j == i + 2) & even, 1.0),
             ((j == i - 1) & even & (i >= 2), -a[..., np.minimum(i + 1, n)]),
             ((j == i - 2) & odd & (i >= 3), 1.0)]
    for mask, val in reversed(cases):
        out = fnp.where(mask, val, out)
    return out


def convolution_matrix(a: Any, n: int, mode: str = "full") -> Any:
    """Matrix A with A @ v == convolve(a, v, mode) for v of length n (a batched)."""
    n = _static_int("convolution_matrix", n)
    if n <= 0:
        raise ValueError(f"n must be a positive integer; got {n}.")
    a = fnp.asarray(a)
    if a.ndim == 0:
        raise ValueError("convolution_matrix: a must be at least 1-dimensional, got a "
                         "scalar.")
    m = a.shape[-1]
    if m < 1:
        raise ValueError(f"len(a) must be at least 1; got shape {a.shape}.")
    if mode not in ("full", "valid", "same"):
        raise ValueError(f"mode must be one of 'full', 'valid', 'same'; got {mode!r}.")
    pad = [(0, 0)] * (a.ndim - 1) + [(0, n - 1)]
    az = fnp.pad(a, pad)
    raz = fnp.pad(fnp.flip(a, -1), pad)
    L = m + n - 1
    if mode == "same":
        trim = min(n, m) - 1
        tb = trim // 2
        te = trim - tb
    elif mode == "valid":
        tb = te = min(n, m) - 1
    else:
        tb = te = 0
    return toeplitz(az[..., tb:L - te], raz[..., L - n - tb:L - tb])


# -- matrices of a static size (exact constants) ----------------------------------------------


def _kind(kind):
    if kind is None:
        kind = "symmetric"
    if kind not in ("symmetric", "lower", "upper"):
        raise ValueError(f"Expected kind to be one of: ['symmetric', 'lower', 'upper']; "
                         f"got {kind}")
    return kind


def _float(x: int) -> float:
    try:
        return float(x)             # correctly rounded
    except OverflowError:           # beyond float64's range, as floating point would give
        return math.inf if x > 0 else -math.inf


def _exact(rows, dtype=np.float64):
    """A float array from a nested list of Python ints, each correctly rounded."""
    return fnp.asarray(np.array([[_float(x) for x in row] for row in rows], dtype=dtype)
                       .reshape(len(rows), len(rows[0]) if rows else 0))


def hilbert(n: int) -> Any:
    """Hilbert matrix H[i, j] = 1 / (i + j + 1) of order n."""
    n = _static_int("hilbert", n)
    i = np.arange(n, dtype=np.float64)
    return fnp.asarray(1.0 / (i[:, None] + i[None, :] + 1.0))


def invhilbert(n: int) -> Any:
    """Inverse of the Hilbert matrix of order n (exact integers, rounded to float64)."""
    n = _static_int("invhilbert", n)
    c = math.comb
    rows = [[(-1 if (i + j) % 2 else 1) * (i + j + 1) * c(n + i, n - j - 1) * c(n + j, n - i - 1)
             * c(i + j, i) ** 2 for j in range(n)] for i in range(n)]
    return _exact(rows) if n else fnp.zeros((0, 0))


def _binomials(n):
    """[[comb(i, j)]] for i, j < n, as Python integers (Pascal's rule)."""
    L = [[1] + [0] * (n - 1)]
    for i in range(1, n):
        prev = L[-1]
        L.append([1] + [prev[j - 1] + prev[j] for j in range(1, n)])
    return L


def pascal(n: int, kind: str | None = None) -> Any:
    """Pascal matrix of order n: kind 'symmetric' (default), 'lower' or 'upper'."""
    kind = _kind(kind)
    n = _static_int("pascal", n)
    if n == 0:
        return fnp.zeros((0, 0))
    if kind == "symmetric":   # comb(i + j, i), by P[i][j] = P[i - 1][j] + P[i][j - 1]
        rows = [[1] * n]
        for i in range(1, n):
            row = [1]
            for j in range(1, n):
                row.append(row[-1] + rows[-1][j])
            rows.append(row)
    else:
        rows = _binomials(n)
        if kind == "upper":
            rows = [list(r) for r in zip(*rows)]
    return _exact(rows)


def invpascal(n: int, kind: str | None = None) -> Any:
    """Inverse of the Pascal matrix of order n (kind as pascal's)."""
    kind = _kind(kind)
    n = _static_int("invpascal", n)
    if n == 0:
        return fnp.zeros((0, 0))
    Li = [[-b if (i - j) % 2 else b for j, b in enumerate(row)]
          for i, row in enumerate(_binomials(n))]
    if kind == "lower":
        rows = Li
    elif kind == "upper":
        rows = [list(r) for r in zip(*Li)]
    else:   # P = L L^T, so P^-1 = L^-T L^-1 (exact integer products)
        Lo = np.empty((n, n), dtype=object)
        Lo[:] = Li
        rows = (Lo.T @ Lo).tolist()
    return _exact(rows)


def helmert(n: int, full: bool = False) -> Any:
    """Helmert matrix of order n: (n - 1, n) orthonormal contrasts, (n, n) with full=True."""
    n = _static_int("helmert", n)
    if n < 1:
        raise ValueError(f"n must be a positive integer; got {n}.")
    H = np.tril(np.ones((n, n)), -1) - np.diag(np.arange(n))
    d = np.arange(n) * np.arange(1, n + 1)
    H[0] = 1.0
    d[0] = n
    H = H / np.sqrt(d)[:, None]
    return fnp.asarray(H if full else H[1:])


def hadamard(n: int, dtype: Any = int) -> Any:
    """Sylvester's n x n Hadamard matrix (n a power of 2), of the given dtype (default int)."""
    n = _static_int("hadamard", n)
    if n < 1 or n & (n - 1):
        raise ValueError(f"n must be a positive power of 2; got {n}.")
    H = np.ones((1, 1), dtype=np.int64)
    while H.shape[0] < n:
        H = np.block([[H, H], [H, -H]])
    return fnp.asarray(H, dtype=dtype)


def dft(n: int, scale: str | None = None, *, dtype: Any = None) -> Any:
    """n x n DFT matrix W[i, j] = exp(-2 pi i j / n) (scale None, 'sqrtn' or 'n')."""
    n = _static_int("dft", n)
    if scale is not None and scale not in ("sqrtn", "n"):
        raise ValueError(f"scale must be None, 'sqrtn', or 'n'; got {scale!r}.")
    dtype = np.dtype(np.complex128 if dtype is None else dtype)
    if dtype.kind != "c":
        raise ValueError(f"dtype must be a complex floating-point type; got {dtype}.")
    k = np.arange(n)
    w = np.exp(-2j * np.pi * ((k[:, None] * k[None, :]) % max(n, 1)) / max(n, 1))
    if scale == "sqrtn":
        w = w / np.sqrt(n)
    elif scale == "n":
        w = w / n
    return fnp.asarray(w.astype(dtype))


# -- decompositions and equations -------------------------------------------------------------


def svd(a: Any, full_matrices: bool = True, compute_uv: bool = True,
        overwrite_a: bool = False, check_finite: bool = True,
        lapack_driver: str = "gesdd") -> Any:
    """Singular value decomposition (u, s, vh), or s without compute_uv (scipy.linalg.svd)."""
    del overwrite_a, check_finite
    if lapack_driver not in ("gesdd", "gesvd"):
        raise ValueError(f"scipy.linalg.svd: lapack_driver must be 'gesdd' or 'gesvd', got "
                         f"{lapack_driver!r}")
    (a,) = promote_inexact(fnp.asarray(a))
    r = fnp.linalg.svd(a, full_matrices=full_matrices, compute_uv=compute_uv)
    return tuple(r) if compute_uv else r


def _sylvester_schur(A, B, C):
    # Bartels-Stewart: A = U R U^H, B^H = V S V^H (complex Schur), so R Y + Y S^H = F with
    # Y = U^H X V, F = U^H C V; S^H is lower triangular: column j of Y from the later ones
    from funcad.scipy.linalg import schur
    R, U = schur(A, output="complex")
    S, V = schur(_H(B), output="complex")
    F = _H(U) @ C.astype(R.dtype) @ V
    Sh = _H(S)
    m, n = F.shape[-2:]
    eye = np.eye(m, dtype=R.dtype)
    cols = [None] * n
    for j in range(n - 1, -1, -1):
        rhs = F[..., :, j]
        for k in range(j + 1, n):
            rhs = rhs - cols[k] * Sh[..., k, j, None]
        M = R + Sh[..., j, j, None, None] * eye
        d = fnp.diagonal(M, axis1=-2, axis2=-1)   # an exactly singular (triangular) M: any
        M = M + (fnp.where(d == 0, 1, d) - d)[..., None] * eye   # value, masked by `tol`
        cols[j] = fnp.linalg.solve(M, rhs[..., None])[..., 0]
    Y = fnp.stack(cols, axis=-1)
    X = U @ Y @ _H(V)
    lam = (fnp.diagonal(R, axis1=-2, axis2=-1)[..., :, None]
           + fnp.diagonal(Sh, axis1=-2, axis2=-1)[..., None, :])
    return X, lam


def _sylvester_eigen(A, B, C):
    RA, UA = fnp.linalg.eig(A)
    RB, UB = fnp.linalg.eig(B)
    F = fnp.linalg.solve(UA, C.astype(RA.dtype) @ UB)
    lam = RA[..., :, None] + RB[..., None, :]
    X = UA @ (F / lam) @ fnp.linalg.inv(UB)
    return X, lam


def _sylvester_raw(A, B, C, method, tol):
    if method == "schur":
        X, lam = _sylvester_schur(A, B, C)
    elif method == "eigen":
        X, lam = _sylvester_eigen(A, B, C)
    else:
        raise ValueError(f'Unrecognized method {method}. The two valid methods are either '
                         f'"schur" or "eigen".')
    if np.dtype(C.dtype).kind != "c":
        X = fnp.real(X).astype(C.dtype)
    singular = fnp.any(fnp.abs(lam) < tol, axis=(-2, -1))
    return fnp.where(singular[..., None, None], np.nan, X).astype(X.dtype)


# X = L^{-1}(C) with L(X) = A X + X B. Reverse mode: the custom_vjp below (the cotangent
# solves the transposed equation). Forward mode goes through its primal function, a
# custom_jvp whose rule solves L(dX) = dC - dA X - X dB; both rules call _sylvester, so
# every order of either mode has a rule.
def _sylvester_jvp_fun(method, tol, A, B, C):
    return _sylvester_raw(A, B, C, method, tol)


_sylvester_jvp = custom_jvp(_sylvester_jvp_fun, nondiff_argnums=(0, 1))


@_sylvester_jvp.defjvp
def _sylvester_jvp_rule(method, tol, primals, tangents):
    A, B, C = primals
    dA, dB, dC = tangents
    X = _sylvester(method, tol, A, B, C)
    return X, _sylvester(method, tol, A, B, dC - dA @ X - X @ dB)


def _sylvester_vjp_fun(method, tol, A, B, C):
    return _sylvester_jvp(method, tol, A, B, C)


_sylvester = custom_vjp(_sylvester_vjp_fun, nondiff_argnums=(0, 1))


def _sylvester_fwd(method, tol, A, B, C):
    X = _sylvester(method, tol, A, B, C)
    return X, (A, B, X)


def _sylvester_bwd(method, tol, res, g):
    A, B, X = res
    G = _sylvester(method, tol, _mT(A), _mT(B), g)
    return -G @ _mT(X), -_mT(X) @ G, G


_sylvester.defvjp(_sylvester_fwd, _sylvester_bwd)


def solve_sylvester(A: Any, B: Any, C: Any, *, method: str = "schur",
                    tol: float = 1e-8) -> Any:
    """Solve A X + X B = C (method 'schur' or 'eigen'; NaNs if eig(A) + eig(B) is near 0)."""
    A, B, C = promote_inexact(fnp.asarray(A), fnp.asarray(B), fnp.asarray(C))
    if A.ndim < 2 or B.ndim < 2 or C.ndim < 2:
        raise ValueError(f"Incompatible shapes for Sylvester equation:\nA: {A.shape}\n"
                         f"B: {B.shape}\nC: {C.shape}")
    m, n = C.shape[-2:]
    if A.shape[-2:] != (m, m) or B.shape[-2:] != (n, n):
        raise ValueError(f"Incompatible shapes for Sylvester equation:\nA: {A.shape}\n"
                         f"B: {B.shape}\nC: {C.shape}")
    if method not in ("schur", "eigen"):
        raise ValueError(f'Unrecognized method {method}. The two valid methods are either '
                         f'"schur" or "eigen".')
    batch = np.broadcast_shapes(A.shape[:-2], B.shape[:-2], C.shape[:-2])
    A = fnp.broadcast_to(A, (*batch, m, m))
    B = fnp.broadcast_to(B, (*batch, n, n))
    C = fnp.broadcast_to(C, (*batch, m, n))
    return _sylvester(method, float(tol), A, B, C)


def expm_frechet(A: Any, E: Any, *, method: str | None = None,
                 compute_expm: bool = True) -> Any:
    """Frechet derivative of expm at A in the direction E: (expm(A), L) or L alone."""
    from funcad.api import jvp
    from funcad.scipy.linalg import expm
    del method
    A, E = fnp.asarray(A), fnp.asarray(E)
    if A.ndim < 2 or A.shape[-2] != A.shape[-1]:
        raise ValueError(f"expected A to be a (batched) square matrix, got A.shape={A.shape}")
    if E.ndim < 2 or E.shape[-2] != E.shape[-1]:
        raise ValueError(f"expected E to be a (batched) square matrix, got E.shape={E.shape}")
    if A.shape != E.shape:
        raise ValueError(f"expected A and E to be the same shape, got A.shape={A.shape} "
                         f"E.shape={E.shape}")
    A, E = promote_inexact(A, E)
    eA, L = jvp(lambda x: expm(x, upper_triangular=False, max_squarings=16), (A,), (E,))
    return (eA, L) if compute_expm else L


def funm(A: Any, func: Callable, disp: bool = True) -> Any:
    """Matrix function func(A) (complex), Schur-Parlett as JAX; disp=False: (F, err)."""
    from funcad.scipy.linalg import rsf2csf, schur
    A = fnp.asarray(A)
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise ValueError("expected square array_like input")
    T, Z = schur(A)
    T, Z = rsf2csf(T, Z)
    N = T.shape[0]
    d = fnp.asarray(func(fnp.diagonal(T))).astype(T.dtype)
    # Parlett's recurrence, one superdiagonal p at a time: with F holding the diagonals
    # below p, (T F - F T)[i, i + p] = T[i, j] (F[j, j] - F[i, i]) + sum_{i<k<j} (T[i, k]
    # F[k, j] - F[i, k] T[k, j]), the numerator of Golub and Van Loan's 11.1.1
    F = d[:, None] * np.eye(N, dtype=bool)
    tdiag = fnp.diagonal(T)
    den = tdiag[None, :] - tdiag[:, None]           # T[j, j] - T[i, i]
    safe = fnp.where(den != 0, den, 1)
    for p in range(1, N):
        G = T @ F - F @ T
        F = F + fnp.where(np.eye(N, k=p, dtype=bool), fnp.where(den != 0, G / safe, G), 0)
    upper = np.triu(np.ones((N, N), dtype=bool), 1)
    minden = fnp.abs(T[0, 0]) if N else fnp.asarray(np.inf)
    if N > 1:
        minden = fnp.minimum(minden, fnp.min(fnp.where(upper, fnp.abs(den), np.inf)))
    Fm = F
    Fm = Z @ Fm @ _H(Z)
    if disp:
        return Fm
    tol = float(np.finfo(np.float32 if np.dtype(Fm.dtype) == np.complex64 else np.float64).eps)
    minden = fnp.where(minden == 0.0, tol, minden)
    err = fnp.where(fnp.any(fnp.isinf(Fm)), np.inf, fnp.minimum(1, fnp.maximum(
        tol, (tol / minden) * fnp.linalg.norm(fnp.triu(T, 1), 1))))
    return Fm, err

