"""funcad.lax.linalg: JAX's lower-level linear algebra (over funcad.numpy.linalg)."""

from __future__ import annotations

from typing import Any

import funcad.numpy as fnp
from funcad.primitives import linalg as la

__all__ = ["cholesky", "eigh", "qr", "svd", "triangular_solve"]


def cholesky(x: Any, *, symmetrize_input: bool = True) -> Any:
    """Lower Cholesky factor (of (x + x^T) / 2 by default)."""
    return fnp.linalg.cholesky(x, symmetrize_input=symmetrize_input)


def eigh(x: Any, *, lower: bool = True, symmetrize_input: bool = True,
         sort_eigenvalues: bool = True) -> tuple:
    """(eigenvectors, eigenvalues) of a symmetric matrix (JAX's lax order: vectors first)."""
    w, v = fnp.linalg.eigh(x, UPLO="L" if lower else "U", symmetrize_input=symmetrize_input)
    return v, w


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
        import numpy as np
        eye = np.eye(n, dtype=bool)
        tri = fnp.where(eye, 1.0, tri)
    if transpose_a:
        tri = la._mT(tri)
    if left_side:
        return fnp.linalg.solve(tri, b)
    # x op(a) = b  <=>  op(a)^T x^T = b^T
    return la._mT(fnp.linalg.solve(la._mT(tri), la._mT(b)))
