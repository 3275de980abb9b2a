"""funcad.lax.linalg: JAX's lower-level linear algebra (over funcad.numpy.linalg)."""

from __future__ import annotations

from typing import Any

import numpy as np

import funcad.numpy as fnp
from funcad.primitives import linalg as la

__all__ = ["cholesky", "eig", "eigh", "lu", "lu_pivots_to_permutation", "qr", "svd",
           "triangular_solve"]


def cholesky(x: Any, *, symmetrize_input: bool = True) -> Any:
    """Lower Cholesky factor (of (x + x^T) / 2 by default)."""
    return fnp.linalg.cholesky(x, symmetrize_input=symmetrize_input)


def eig(x: Any, *, compute_left_eigenvectors: bool = True,
        compute_right_eigenvectors: bool = True) -> list:
    """[w, vl, vr] of a square matrix (vl, vr only when asked for), all complex, as
    jax.lax.linalg.eig.

    `vr` holds the right eigenvectors (a @ vr = vr * w) as np.linalg.eig returns them; `vl`
    the left ones (vl^H a = w * vl^H), the columns of inv(vr)^H scaled to unit 2-norm, each
    with its largest-magnitude entry made real and positive (LAPACK's normalisation; for
    a real eigenvalue of a real matrix LAPACK may return the opposite sign). Only the
    eigenvalues are differentiable.
    """
    if not (compute_left_eigenvectors or compute_right_eigenvectors):
        return [fnp.linalg.eigvals(x)]
    w, vr = fnp.linalg.eig(x)
    out = [w]
    if compute_left_eigenvectors:
        vl = fnp.conj(fnp.swapaxes(fnp.linalg.inv(vr), -1, -2))
        vl = vl / fnp.linalg.norm(vl, axis=-2, keepdims=True)
        big = fnp.take_along_axis(vl, fnp.argmax(fnp.abs(vl), axis=-2)[..., None, :], axis=-2)
        vl = vl * (fnp.conj(big) / fnp.abs(big))
        out.append(vl)
    if compute_right_eigenvectors:
        out.append(vr)
    return out


def eigh(x: Any, *, lower: bool = True, symmetrize_input: bool = True,
         sort_eigenvalues: bool = True) -> tuple:
    """(eigenvectors, eigenvalues) of a symmetric matrix (JAX's lax order: vectors first)."""
    w, v = fnp.linalg.eigh(x, UPLO="L" if lower else "U", symmetrize_input=symmetrize_input)
    return v, w


def lu(x: Any) -> tuple:
    """LU decomposition with partial pivoting (LAPACK's getrf), as jax.lax.linalg.lu.

    Args:
      x: a matrix [..., m, n] (square or not); k = min(m, n).
    Returns: (lu [..., m, n], pivots [..., k], permutation [..., m]): `lu` holds the unit
      lower trapezoidal L [m, k] below its diagonal and the upper trapezoidal U [k, n] on
      and above it; `pivots` (int32) are LAPACK's row swaps (row i was swapped with row
      pivots[i]); `permutation` (int32) is their effect on range(m), so that
      x[..., permutation, :] == L @ U. Differentiable in x (forward and reverse, any
      order), batched under vmap and lowered under jit.

    >>> lu_, piv, perm = lu(np.array([[1.0, 2.0], [3.0, 4.0]]))
    >>> piv.tolist(), perm.tolist()
    ([1, 1], [1, 0])
    """
    from funcad.primitives.decompositions import lu_p
    (x,) = fnp._base.promote_inexact(x)
    shape = fnp.shape(x)
    if len(shape) < 2:
        raise ValueError(f"lax.linalg.lu: expected a matrix (or a stack of them), got "
                         f"shape {tuple(shape)}")
    lu_, piv, perm = lu_p.bind(x)
    # JAX's pivots and permutation are int32 (with x64 enabled too)
    return lu_, piv.astype(np.int32), perm.astype(np.int32)


def lu_pivots_to_permutation(pivots: Any, permutation_size: int) -> Any:
    """The permutation (int32) that LAPACK-style row swaps `pivots` [..., k] produce on
    range(permutation_size).

    >>> lu_pivots_to_permutation(np.array([1, 1]), 3).tolist()
    [1, 0, 2]
    """
    pivots = fnp.asarray(pivots)
    k = fnp.shape(pivots)[-1]
    if k > permutation_size:
        raise ValueError(f"lu_pivots_to_permutation: {k} pivots for a permutation of size "
                         f"{permutation_size}")
    perm = fnp.broadcast_to(fnp.arange(permutation_size, dtype=np.int32),
                            fnp.shape(pivots)[:-1] + (permutation_size,))
    cols = fnp.arange(permutation_size)
    for i in range(k):
        pk = pivots[..., i:i + 1].astype(np.int32)
        a_k = perm[..., i:i + 1]
        a_p = fnp.take_along_axis(perm, pk, axis=-1)
        perm = fnp.where(cols == i, a_p, fnp.where(cols == pk, a_k, perm))
    return perm


def qr(x: Any, *, full_matrices: bool = True) -> tuple:
    """(q, r); full_matrices=True needs rows <= columns here (else use False)."""
    return tuple(fnp.linalg.qr(x, mode="complete" if full_matrices else "reduced"))


def svd(x: Any, *, full_matrices: bool = True, compute_uv: bool = True) -> Any:
    """(u, s, vh), or s without compute_uv."""
    r = fnp.linalg.svd(x, full_matrices=full_matrices, compute_uv=compute_uv)
    return tuple(r) if compute_uv else r


def triangular_solve(a: Any, b: Any, *, left_side: bool = False, lower: bool = False,
                     transpose_a: bool = False, conjugate_a: bool = False,
                     unit_diagonal: bool = False) -> Any:
    """Solve op(a) x = b (left_side) or x op(a) = b with a triangular (only its `lower`
    or upper triangle is read; unit_diagonal: ones on the diagonal)."""
    a, b = fnp._base.promote_inexact(a, b)
    n = fnp.shape(a)[-1]
    tri = fnp.tril(a) if lower else fnp.triu(a)
    if unit_diagonal:
        eye = np.eye(n, dtype=bool)
        tri = fnp.where(eye, 1.0, tri)
    if transpose_a:
        tri = la._mT(tri)
    if left_side:
        return fnp.linalg.solve(tri, b)
    # x op(a) = b  <=>  op(a)^T x^T = b^T
    return la._mT(fnp.linalg.solve(la._mT(tri), la._mT(b)))
