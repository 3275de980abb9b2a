"""funcad.scipy.linalg: SciPy's dense linear algebra names, as in jax.scipy.linalg.

Built on funcad's `solve`, `cholesky` and `det` primitives and funcad.numpy, so every
function is differentiable in both modes and works under jit and vmap (stacks of matrices
in the leading axes). Triangular solves read only the named triangle of `a` (their
derivative with respect to `a` is confined to it), at the cost of a general O(n^3) solve.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import funcad.numpy as fnp
from funcad import lax
from funcad.numpy._base import is_traced, promote_inexact

__all__ = ["block_diag", "cho_factor", "cho_solve", "cholesky", "circulant", "companion",
           "convolution_matrix", "det", "dft", "eigh", "eigh_tridiagonal", "expm",
           "expm_frechet", "fiedler", "fiedler_companion", "funm", "hadamard", "hankel",
           "helmert", "hessenberg", "hilbert", "inv", "invhilbert", "invpascal", "leslie", "lu",
           "lu_factor", "lu_solve", "pascal", "polar", "qr", "rsf2csf", "schur", "solve",
           "solve_sylvester", "solve_triangular", "sqrtm", "svd", "toeplitz"]


def _mT(a):
    return fnp.swapaxes(a, -1, -2)


def _H(a):
    """Conjugate transpose of the last two axes (the transpose of a real matrix)."""
    return fnp.conj(_mT(a)) if np.dtype(a.dtype).kind == "c" else _mT(a)


def _hermitian_from(a, lower):
    """The Hermitian (real: symmetric) matrix LAPACK sees in the `lower`/upper triangle of
    `a` (the imaginary part of the diagonal is ignored)."""
    t = fnp.tril(a, -1) if lower else fnp.triu(a, 1)
    d = fnp.tril(fnp.triu(a))
    if np.dtype(a.dtype).kind == "c":
        d = fnp.real(d).astype(a.dtype)
    return t + _H(t) + d


def _square(name, a):
    (a,) = promote_inexact(a)
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise ValueError(f"scipy.linalg.{name}: expected a square matrix (or a stack of "
                         f"them), got shape {a.shape}")
    return a


def cholesky(a: Any, lower: bool = False, overwrite_a: bool = False,
             check_finite: bool = True) -> Any:
    """Cholesky factor of a Hermitian positive-definite matrix: upper U with a = U^H U
    (lower=False, SciPy's default) or lower L with a = L L^H. As JAX, `a` is symmetrised.

    >>> cholesky(np.array([[4.0, 2.0], [2.0, 5.0]])).tolist()
    [[2.0, 1.0], [0.0, 2.0]]
    """
    del overwrite_a, check_finite
    a = _square("cholesky", a)
    L = fnp.linalg.cholesky(0.5 * (a + _H(a)), symmetrize_input=False)
    return L if lower else _H(L)


def cho_factor(a: Any, lower: bool = False, overwrite_a: bool = False,
               check_finite: bool = True) -> tuple[Any, bool]:
    """(c, lower): the Cholesky factor of `a` in the form cho_solve takes.

    >>> cho_factor(np.eye(2))[1]
    False
    """
    return cholesky(a, lower=lower), lower


def cho_solve(c_and_lower: tuple[Any, bool], b: Any, overwrite_b: bool = False,
              check_finite: bool = True) -> Any:
    """Solve a x = b given cho_factor(a).

    >>> cho_solve(cho_factor(np.eye(2) * 4.0), np.ones(2)).tolist()
    [0.25, 0.25]
    """
    del overwrite_b, check_finite
    c, lower = c_and_lower
    if lower:
        y = solve_triangular(c, b, lower=True)
        return solve_triangular(c, y, lower=True, trans=2)
    y = solve_triangular(c, b, lower=False, trans=2)
    return solve_triangular(c, y, lower=False)


def solve_triangular(a: Any, b: Any, trans: int | str = 0, lower: bool = False,
                     unit_diagonal: bool = False, overwrite_b: bool = False,
                     debug: Any = None, check_finite: bool = True) -> Any:
    """Solve a x = b (trans=0), a^T x = b (trans=1, 'T') or a^H x = b (trans=2, 'C') for
    triangular a.

    >>> solve_triangular(np.array([[2.0, 0.0], [1.0, 1.0]]), np.ones(2), lower=True).tolist()
    [0.5, 0.5]
    """
    del overwrite_b, debug, check_finite
    a = _square("solve_triangular", a)
    a, b = promote_inexact(a, b)
    t = fnp.tril(a) if lower else fnp.triu(a)
    if unit_diagonal:
        n = a.shape[-1]
        eye = np.eye(n, dtype=a.dtype)
        t = t * (1 - eye) + eye
    if trans in (1, "T"):
        t = _mT(t)
    elif trans in (2, "C"):
        t = _H(t)
    elif trans not in (0, "N"):
        raise ValueError(f"solve_triangular: trans must be 0, 1, 2, 'N', 'T' or 'C', "
                         f"got {trans!r}")
    return _solve(t, b)


def _solve(a, b):
    # SciPy's convention: b of shape (n,) or (n, k) (a stack of them for stacked a).
    if b.ndim == a.ndim - 1:
        return fnp.linalg.solve(a, b[..., None])[..., 0]
    return fnp.linalg.solve(a, b)


def solve(a: Any, b: Any, lower: bool = False, overwrite_a: bool = False,
          overwrite_b: bool = False, check_finite: bool = True, assume_a: str = "gen") -> Any:
    """Solve a x = b (assume_a 'gen', 'sym', 'her' or 'pos'; 'pos' uses Cholesky).

    >>> solve(np.eye(2) * 2.0, np.ones(2)).tolist()
    [0.5, 0.5]
    """
    del overwrite_a, overwrite_b, check_finite
    a = _square("solve", a)
    a, b = promote_inexact(a, b)
    if assume_a == "pos":
        return cho_solve(cho_factor(a, lower=lower), b)
    if assume_a == "her":
        a = _hermitian_from(a, lower)  # only the named triangle is read, as LAPACK does
    elif assume_a == "sym":
        t = fnp.tril(a) if lower else fnp.triu(a)
        d = fnp.tril(fnp.triu(a))
        a = t + _mT(t) - d
    elif assume_a != "gen":
        raise ValueError(f"solve: unknown assume_a {assume_a!r}")
    return _solve(a, b)


def inv(a: Any, overwrite_a: bool = False, check_finite: bool = True) -> Any:
    """Matrix inverse.

    >>> inv(np.eye(2) * 2.0).tolist()
    [[0.5, 0.0], [0.0, 0.5]]
    """
    return fnp.linalg.inv(_square("inv", a))


def det(a: Any, overwrite_a: bool = False, check_finite: bool = True) -> Any:
    """Determinant.

    >>> round(float(det(np.eye(3) * 2.0)), 12)
    8.0
    """
    return fnp.linalg.det(_square("det", a))


# -- decompositions -----------------------------------------------------------------------


def eigh(a: Any, b: None = None, lower: bool = True, eigvals_only: bool = False,
         overwrite_a: bool = False, overwrite_b: bool = False, type: int = 1,
         check_finite: bool = True, subset_by_index: None = None,
         subset_by_value: None = None, driver: None = None) -> Any:
    """Eigenvalues (ascending) and eigenvectors (columns) of a symmetric matrix, reading
    the `lower` (default) or upper triangle; differentiable for distinct eigenvalues.
    Each eigenvector's sign makes its largest-magnitude entry positive (deterministic,
    unlike LAPACK's).

    >>> w, v = eigh(np.array([[2.0, 1.0], [1.0, 2.0]]))
    >>> np.round(w, 12).tolist()
    [1.0, 3.0]
    """
    from funcad.primitives.linalg import eigh_p
    del overwrite_a, overwrite_b, check_finite, driver
    if b is not None or type != 1 or subset_by_index is not None or \
            subset_by_value is not None:
        raise NotImplementedError("eigh: generalized problems and subsets are not supported")
    a = _square("eigh", a)
    w, v = eigh_p.bind(_hermitian_from(a, lower))
    if eigvals_only:
        return w
    idx = fnp.argmax(fnp.abs(v), axis=-2)
    big = fnp.take_along_axis(v, idx[..., None, :], axis=-2)
    if np.dtype(v.dtype).kind == "c":
        # complex: the phase that makes that entry real > 0. Differentiated (not a
        # stop_gradient): v * phase(v) is the same for every phase LAPACK may pick, so
        # its derivative is right whatever gauge eigh's derivative rule uses.
        mag = fnp.abs(big)
        sign = fnp.conj(big) / fnp.where(mag == 0, 1.0, mag)
    else:
        sign = lax.stop_gradient(fnp.where(big < 0, -1.0, 1.0))
    return w, v * sign


def lu_factor(a: Any, overwrite_a: bool = False, check_finite: bool = True) -> tuple:
    """(lu, piv): LU with partial pivoting in LAPACK's packed form, for lu_solve.

    >>> lu, piv = lu_factor(np.array([[1.0, 2.0], [3.0, 4.0]]))
    >>> piv.tolist()
    [1, 1]
    """
    from funcad.primitives.decompositions import lu_p
    del overwrite_a, check_finite
    lu_, piv, _ = lu_p.bind(_square("lu_factor", a))
    return lu_, piv


def lu(a: Any, permute_l: bool = False, overwrite_a: bool = False,
       check_finite: bool = True) -> tuple:
    """(p, l, u) with a = p @ l @ u (or (p @ l, u) with permute_l).

    >>> p, l, u = lu(np.array([[1.0, 2.0], [3.0, 4.0]]))
    >>> bool(np.allclose(p @ l @ u, [[1.0, 2.0], [3.0, 4.0]]))
    True
    """
    from funcad.primitives.decompositions import lu_p
    del overwrite_a, check_finite
    a = _square("lu", a)
    lu_, _, perm = lu_p.bind(a)
    n = a.shape[-1]
    eye = np.eye(n, dtype=a.dtype)
    lower = fnp.tril(lu_, -1) + eye
    upper = fnp.triu(lu_)
    # p[perm[i], i] = 1, so that a = p @ l @ u
    p = (fnp.arange(n)[:, None] == perm[..., None, :]).astype(a.dtype)
    if permute_l:
        return fnp.matmul(p, lower), upper
    return p, lower, upper


def lu_solve(lu_and_piv: tuple, b: Any, trans: int = 0, overwrite_b: bool = False,
             check_finite: bool = True) -> Any:
    """Solve a x = b (trans=0), a^T x = b (trans=1) or a^H x = b (trans=2) given
    lu_factor(a).

    >>> lu_solve(lu_factor(np.eye(2) * 2.0), np.ones(2)).tolist()
    [0.5, 0.5]
    """
    del overwrite_b, check_finite
    lu_, piv = lu_and_piv
    (lu_, b) = promote_inexact(lu_, b)
    n = lu_.shape[-1]
    perm = _pivots_to_permutation(piv, n)
    vec = b.ndim == lu_.ndim - 1
    bm = b[..., None] if vec else b
    if trans == 0:
        pb = fnp.take_along_axis(bm, perm[..., :, None], axis=-2)
        y = solve_triangular(lu_, pb, lower=True, unit_diagonal=True)
        x = solve_triangular(lu_, y, lower=False)
    elif trans in (1, 2):
        y = solve_triangular(lu_, bm, lower=False, trans=trans)
        z = solve_triangular(lu_, y, lower=True, unit_diagonal=True, trans=trans)
        # undo the row permutation: x[perm] = z
        x = fnp.take_along_axis(z, _inverse(perm)[..., :, None], axis=-2)
    else:
        raise ValueError(f"lu_solve: trans must be 0, 1 or 2, got {trans!r}")
    return x[..., 0] if vec else x


def _pivots_to_permutation(piv, n):
    # perm = the row order after applying the swaps k <-> piv[k] for k = 0..n-1.
    perm = fnp.broadcast_to(fnp.arange(n), piv.shape)
    cols = fnp.arange(n)
    for k in range(n):
        pk = piv[..., k:k + 1]
        a_k = perm[..., k:k + 1]
        a_p = fnp.take_along_axis(perm, pk, axis=-1)
        perm = fnp.where(cols == k, a_p, fnp.where(cols == pk, a_k, perm))
    return perm


def _inverse(perm):
    n = perm.shape[-1]
    return fnp.argmax(perm[..., :, None] == fnp.arange(n), axis=-2)


# -- expm: Pade approximant of degree 13 with scaling and squaring (Higham 2005) -------------

_PADE13 = (64764752532480000.0, 32382376266240000.0, 7771770303897600.0, 1187353796428800.0,
           129060195264000.0, 10559470521600.0, 670442572800.0, 33522128640.0, 1323241920.0,
           40840800.0, 960960.0, 16380.0, 182.0, 1.0)
_THETA13 = 5.371920351148152
_MAX_SQUARINGS = 40  # under tracing: enough for 1-norms up to 5e12


def expm(A: Any, *, upper_triangular: bool = False, max_squarings: int = 16) -> Any:
    """Matrix exponential (Pade 13 with scaling and squaring), differentiable.

    >>> np.round(expm(np.zeros((2, 2))), 12).tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    del upper_triangular
    A = _square("expm", A)
    n = A.shape[-1]
    norm = fnp.max(fnp.sum(fnp.abs(A), axis=-2), axis=-1)
    s = fnp.maximum(fnp.ceil(fnp.log2(fnp.maximum(norm, 1e-300) / _THETA13)), 0.0)
    s = lax.stop_gradient(s)
    scale = fnp.exp2(-s)[..., None, None]
    X = A * scale
    eye = fnp.broadcast_to(np.eye(n, dtype=A.dtype), A.shape)
    b = _PADE13
    X2 = X @ X
    X4 = X2 @ X2
    X6 = X4 @ X2
    U = X @ (X6 @ (b[13] * X6 + b[11] * X4 + b[9] * X2) + b[7] * X6 + b[5] * X4 + b[3] * X2
             + b[1] * eye)
    V = X6 @ (b[12] * X6 + b[10] * X4 + b[8] * X2) + b[6] * X6 + b[4] * X4 + b[2] * X2 \
        + b[0] * eye
    R = fnp.linalg.solve(V - U, V + U)
    if not is_traced(s):
        for _ in range(int(np.max(s)) if np.size(s) else 0):
            R = fnp.where(np.reshape(s, s.shape + (1, 1)) > _, R @ R, R)
        return R
    steps = max(_MAX_SQUARINGS, max_squarings)

    def body(i, R):
        return fnp.where((s > i)[..., None, None], R @ R, R)
    return lax.fori_loop(0, steps, body, R)


del math



# -- Schur, Hessenberg, polar, tridiagonal eigenproblems (over lax.linalg) ---------------------


def schur(a: Any, output: str = "real") -> tuple:
    """(T, Z) with a = Z T Z^H (LAPACK's gees): output='real' gives the real Schur form of a
    real matrix (quasi-triangular), 'complex' the triangular one. No derivative (as JAX).

    >>> t, z = schur(np.array([[1.0, 2.0], [0.0, 3.0]]))
    >>> np.round(np.diag(t), 12).tolist()
    [1.0, 3.0]
    """
    if output not in ("real", "complex"):
        raise ValueError(f"scipy.linalg.schur: output must be 'real' or 'complex', got "
                         f"{output!r}")
    a = _square("schur", a)
    if output == "complex" and np.dtype(a.dtype).kind != "c":
        a = a.astype(np.result_type(a.dtype, np.complex64))
    return lax.linalg.schur(a)



def rsf2csf(T: Any, Z: Any, check_finite: bool = True) -> tuple:
    """(T, Z) in complex Schur form from a real Schur form (T quasi-triangular, A = Z T Z^T),
    as scipy.linalg.rsf2csf and JAX: each 2x2 block is split by a Givens rotation."""
    del check_finite
    T, Z = promote_inexact(T, Z)
    if T.ndim < 2 or T.shape[-1] != T.shape[-2]:
        raise ValueError("Input 'T' must be square.")
    if Z.ndim < 2 or Z.shape[-1] != Z.shape[-2]:
        raise ValueError("Input 'Z' must be square.")
    if T.shape[-1] != Z.shape[-1]:
        raise ValueError(f"Input array shapes must match: Z: {Z.shape} vs. T: {T.shape}")
    cdt = np.result_type(T.dtype, Z.dtype, np.complex64)
    T, Z = T.astype(cdt), Z.astype(cdt)
    n = T.shape[-1]
    eps = float(np.finfo(cdt).eps)
    for m in range(n - 1, 0, -1):
        sub = T[..., m, m - 1]
        split = fnp.abs(sub) > eps * (fnp.abs(T[..., m - 1, m - 1]) + fnp.abs(T[..., m, m]))
        mu = fnp.linalg.eigvals(T[..., m - 1:m + 1, m - 1:m + 1])[..., 0] - T[..., m, m]
        r = fnp.sqrt(fnp.abs(mu) ** 2 + fnp.abs(sub) ** 2)
        r = fnp.where(split, r, 1.0).astype(cdt)
        c = fnp.where(split, mu / r, 1.0)
        s = fnp.where(split, sub / r, 0.0)
        # G = [[conj(c), s], [-s, c]] on rows m-1, m (columns >= m-1), G^H on columns m-1, m
        # (rows <= m) and on Z's columns m-1, m
        g = fnp.stack([fnp.stack([fnp.conj(c), s], -1), fnp.stack([-s, c], -1)], -2)
        gh = _H(g)
        rows = fnp.matmul(g, T[..., m - 1:m + 1, m - 1:])
        T = fnp.concatenate([T[..., :m - 1, :],
                             fnp.concatenate([T[..., m - 1:m + 1, :m - 1], rows], -1),
                             T[..., m + 1:, :]], -2)
        cols = fnp.matmul(T[..., :m + 1, m - 1:m + 1], gh)
        T = fnp.concatenate([T[..., :, :m - 1],
                             fnp.concatenate([cols, T[..., m + 1:, m - 1:m + 1]], -2),
                             T[..., :, m + 1:]], -1)
        Z = fnp.concatenate([Z[..., :, :m - 1], fnp.matmul(Z[..., :, m - 1:m + 1], gh),
                             Z[..., :, m + 1:]], -1)
        below = np.zeros((n, n), bool)
        below[m, m - 1] = True
        T = fnp.where(below, 0, T)
    return T, Z


def sqrtm(A: Any, blocksize: int = 1) -> Any:
    """The principal matrix square root (complex), by the complex Schur method of Bjorck and
    Hammarling as jax.scipy.linalg.sqrtm (A = Z T Z^H, sqrt(T) upper triangular, column
    by column). No derivative, as JAX (through schur).

    >>> np.round(sqrtm(np.array([[4.0, 0.0], [0.0, 9.0]])).real, 12).tolist()
    [[2.0, 0.0], [0.0, 3.0]]
    """
    if blocksize > 1:
        raise NotImplementedError("Blocked version is not implemented yet.")
    A = _square("sqrtm", A)
    T, Z = schur(A, output="complex")
    n = T.shape[-1]
    diag = fnp.sqrt(fnp.diagonal(T, axis1=-2, axis2=-1))
    U = diag[..., :, None] * np.eye(n, dtype=bool)
    # column j: (U[:j, :j] + U[j, j] I) U[:j, j] = T[:j, j] - a triangular solve
    for j in range(1, n):
        m = U[..., :j, :j] + diag[..., j, None, None] * np.eye(j)
        col = fnp.linalg.solve(m, T[..., :j, j:j + 1])
        U = fnp.concatenate([U[..., :, :j], fnp.concatenate(
            [col, U[..., j:, j:j + 1]], -2), U[..., :, j + 1:]], -1)
    return fnp.matmul(fnp.matmul(Z, U), _H(Z))

def hessenberg(a: Any, *, calc_q: bool = False, overwrite_a: bool = False,
               check_finite: bool = True) -> Any:
    """H (upper Hessenberg, a = Q H Q^H), or (H, Q) with calc_q=True, as
    jax.scipy.linalg.hessenberg (LAPACK's gehrd; no derivative, as JAX).

    >>> h = hessenberg(np.eye(3))
    >>> h.tolist()
    [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    """
    del overwrite_a, check_finite
    a = _square("hessenberg", a)
    n = a.shape[-1]
    if n == 0:
        return (fnp.zeros_like(a), fnp.zeros_like(a)) if calc_q else fnp.zeros_like(a)
    packed, taus = lax.linalg.hessenberg(a)
    h = fnp.triu(packed, -1)
    if not calc_q:
        return h
    q = lax.linalg.householder_product(packed[..., 1:, :-1], taus)
    lead = [(0, 0)] * (a.ndim - 2)
    q = fnp.pad(q, lead + [(1, 0), (1, 0)]) + np.eye(n, dtype=a.dtype) * (
        np.arange(n) == 0)
    return h, q


def polar(a: Any, side: str = "right", *, method: str = "qdwh", eps: float | None = None,
          max_iterations: int | None = None) -> tuple:
    """(u, p): polar decomposition a = u p (side='right', p n x n) or a = p u (side='left',
    p m x m), p Hermitian positive semidefinite, as jax.scipy.linalg.polar. method='qdwh'
    (lax.linalg.qdwh; m >= n for 'right', m <= n for 'left') or 'svd'. Stacks of
    matrices in the leading axes; differentiable, jit and vmap.

    >>> u, p = polar(np.array([[2.0, 0.0], [0.0, -3.0]]))
    >>> np.round(u, 12).tolist(), np.round(p, 12).tolist()
    ([[1.0, 0.0], [0.0, -1.0]], [[2.0, 0.0], [0.0, 3.0]])
    """
    from funcad import api
    (a,) = promote_inexact(a)
    if a.ndim < 2:
        raise ValueError("scipy.linalg.polar: the input `a` must be at least a 2-D array")
    if side not in ("right", "left"):
        raise ValueError("scipy.linalg.polar: side must be either 'right' or 'left'")
    if method not in ("qdwh", "svd"):
        raise ValueError(f"scipy.linalg.polar: unknown polar decomposition method {method}")

    def one(x):
        m, n = x.shape
        if method == "svd":
            u_s, s, vh = fnp.linalg.svd(x, full_matrices=False)
            s = s.astype(u_s.dtype)
            unitary = fnp.matmul(u_s, vh)
            if side == "right":
                return unitary, fnp.matmul(_H(vh) * s[None, :], vh)
            return unitary, fnp.matmul(u_s * s[None, :], _H(u_s))
        if side == "right" and m >= n:
            u, p, _, _ = lax.linalg.qdwh(x, eps=eps, max_iterations=max_iterations)
            return u, p
        if side == "left" and m <= n:
            u, p, _, _ = lax.linalg.qdwh(_H(x), eps=eps, max_iterations=max_iterations)
            return _H(u), _H(p)
        raise NotImplementedError(f"scipy.linalg.polar: method='qdwh' needs m >= n for "
                                  f"side='right' and m <= n for side='left', got shape "
                                  f"{x.shape} with side={side!r}")

    fn = one
    for _ in range(a.ndim - 2):
        fn = api.vmap(fn)
    return fn(a)


def eigh_tridiagonal(d: Any, e: Any, *, eigvals_only: bool = False, select: str = "a",
                     select_range: tuple | None = None, tol: float | None = None,
                     key: Any = None) -> Any:
    """Eigenvalues (ascending; and with eigvals_only=False the eigenvectors, in columns) of
    the Hermitian tridiagonal matrix with diagonal d [n] and superdiagonal e [n-1] (the
    subdiagonal is conj(e)), as jax.scipy.linalg.eigh_tridiagonal. select='a' (all) or 'i'
    (indices select_range[0]..select_range[1]); 'v' raises NotImplementedError, as JAX.

    Computed by eigh of the dense matrix (O(n^3), where JAX bisects), so differentiable
    (distinct eigenvalues), jit and vmap; `tol` and `key` are unused.

    >>> np.round(eigh_tridiagonal(np.array([2.0, 2.0]), np.array([1.0]),
    ...                           eigvals_only=True), 12).tolist()
    [1.0, 3.0]
    """
    del tol, key
    d, e = promote_inexact(d, e)
    if d.dtype != e.dtype:
        raise TypeError(f"scipy.linalg.eigh_tridiagonal: diagonal and off-diagonal values "
                        f"must have the same dtype, got {d.dtype} and {e.dtype}")
    if d.ndim != 1 or e.shape != (max(d.shape[0] - 1, 0),):
        raise ValueError(f"scipy.linalg.eigh_tridiagonal: expected d [n] and e [n-1], got "
                         f"{d.shape} and {e.shape}")
    n = d.shape[0]
    if select == "a":
        lo, hi = 0, n - 1
    elif select == "i":
        if select_range is None:
            raise ValueError("for select='i', select_range must be specified.")
        lo, hi = int(select_range[0]), int(select_range[1])
        if lo > hi:
            raise ValueError("Got empty index range in select_range.")
    elif select == "v":
        raise NotImplementedError("eigh_tridiagonal(..., select='v') is not implemented")
    else:
        raise ValueError("'select must have a value in {'a', 'i', 'v'}.")
    if np.dtype(d.dtype).kind == "c":
        d = fnp.real(d).astype(d.dtype)
    a = fnp.diag(d)
    if n > 1:
        a = a + fnp.diag(e, 1) + fnp.diag(fnp.conj(e), -1)
    if eigvals_only:
        return eigh(a, eigvals_only=True)[lo:hi + 1]
    w, v = eigh(a)
    return w[lo:hi + 1], v[:, lo:hi + 1]

# Called outside transforms, the public functions return funcad.Arrays.
def qr(a: Any, overwrite_a: bool = False, lwork: Any = None, mode: str = "full",
       pivoting: bool = False, check_finite: bool = True) -> tuple:
    """QR decomposition, as scipy.linalg.qr (and jax.scipy.linalg.qr).

    mode 'full' (Q [..., m, m], R [..., m, n]), 'economic' (k = min(m, n) columns of Q and
    rows of R) or 'r' (R alone, [..., m, n]: zero rows below for a tall matrix). With
    `pivoting`, also the column order P of LAPACK's geqp3: a[..., :, P] = Q @ R with
    |diag(R)| non-increasing. Returns (Q, R), (Q, R, P), (R,) or (R, P), as JAX's.
    mode='full' of a matrix with more rows than columns is not supported (the last m - n
    columns of Q); overwrite_a, lwork and check_finite are unused.
    """
    del overwrite_a, lwork, check_finite
    if mode not in ("full", "economic", "r"):
        raise ValueError(f"Unsupported QR decomposition mode {mode!r}: use 'full', "
                         f"'economic' or 'r'")
    (a,) = promote_inexact(fnp.asarray(a))
    m, n = fnp.shape(a)[-2:]
    if mode == "full" and m > n:
        raise NotImplementedError(
            f"scipy.linalg.qr: mode='full' of a matrix with more rows than columns ({m} x "
            f"{n}) is not supported in funcad (the last {m - n} columns of Q); use "
            f"mode='economic', or mode='r' for R")
    q, r, *p = lax.linalg.qr(a, pivoting=pivoting, full_matrices=mode == "full")
    if mode == "r":
        if m > n:       # R as full_matrices gives it: zero rows below the n x n triangle
            r = fnp.concatenate([r, fnp.zeros((*fnp.shape(r)[:-2], m - n, n), r.dtype)],
                                axis=-2)
        return (r, *p)
    return (q, r, *p)


from funcad.scipy._linalg_extra import (  # noqa: E402
    block_diag, circulant, companion, convolution_matrix, dft, expm_frechet, fiedler,
    fiedler_companion, funm, hadamard, hankel, helmert, hilbert, invhilbert, invpascal,
    leslie, pascal, solve_sylvester, svd, toeplitz)
from funcad._array import export_arrays as _export_arrays  # noqa: E402

_export_arrays(globals())
