"""Helpers that generated programs call instead of NumPy overloads that are slow to compile.

Numba compiles its implementations of `np.dot`, `np.empty`, `np.full`, `reshape` and
`np.linalg` again in every process (about 0.1-0.8 s each). Wrapped here in functions
with `cache=True`, they are compiled once per machine and then loaded from Numba's disk
cache; a generated program that calls them only compiles its own loops. They stay
compiled under FUNCAD_DISABLE_JIT=1 too (that switch is read per program, and a Numba
program can only call compiled helpers).
"""

from __future__ import annotations

import numpy as np
from numba import njit as _njit

_jit = _njit(cache=True, nogil=True, error_model="numpy")


@_jit
def dot_nn(a, b):
    """a @ b for C-contiguous 2-d arrays (BLAS)."""
    return np.dot(a, b)


@_jit
def dot_tn(a, b):
    """a.T @ b (BLAS with a transposed operand)."""
    return np.dot(a.T, b)


@_jit
def dot_nt(a, b):
    """a @ b.T (BLAS with a transposed operand)."""
    return np.dot(a, b.T)


@_jit
def dot_tt(a, b):
    """a.T @ b.T (BLAS with transposed operands)."""
    return np.dot(a.T, b.T)


@_jit
def empty1(n0, dt):
    """np.empty((n0,), dt)."""
    return np.empty(n0, dt)


@_jit
def empty2(n0, n1, dt):
    """np.empty((n0, n1), dt)."""
    return np.empty((n0, n1), dt)


@_jit
def empty3(n0, n1, n2, dt):
    """np.empty((n0, n1, n2), dt)."""
    return np.empty((n0, n1, n2), dt)


@_jit
def empty4(n0, n1, n2, n3, dt):
    """np.empty((n0, n1, n2, n3), dt)."""
    return np.empty((n0, n1, n2, n3), dt)


@_jit
def full1(n0, v, dt):
    """np.full((n0,), v, dt)."""
    out = np.empty(n0, dt)
    for i in range(n0):
        out[i] = v
    return out


@_jit
def fill(a, v):
    """Fill the C-contiguous array `a` with `v` in place; returns `a`."""
    flat = a.reshape(a.size)
    for i in range(a.size):
        flat[i] = v
    return a


@_jit
def reshape1(a, n0):
    """a.reshape((n0,)) of a C-contiguous array (a view)."""
    return a.reshape(n0)


@_jit
def reshape2(a, n0, n1):
    """a.reshape((n0, n1)) of a C-contiguous array (a view)."""
    return a.reshape((n0, n1))


@_jit
def reshape3(a, n0, n1, n2):
    """a.reshape((n0, n1, n2)) of a C-contiguous array (a view)."""
    return a.reshape((n0, n1, n2))


@_jit
def reshape4(a, n0, n1, n2, n3):
    """a.reshape((n0, n1, n2, n3)) of a C-contiguous array (a view)."""
    return a.reshape((n0, n1, n2, n3))


@_jit
def copy(a):
    """A C-contiguous copy of `a`."""
    return a.copy()


@_jit
def solve(a, b):
    """np.linalg.solve for one 2-d system."""
    return np.linalg.solve(a, b)


@_jit
def det(a):
    """np.linalg.det of one matrix."""
    return np.linalg.det(a)


@_jit
def slogdet(a):
    """np.linalg.slogdet of one matrix."""
    return np.linalg.slogdet(a)


@_jit
def cholesky(a):
    """np.linalg.cholesky of one matrix."""
    return np.linalg.cholesky(a)


@_jit
def eigh(a):
    """np.linalg.eigh of one matrix (lower triangle)."""
    w, v = np.linalg.eigh(a)
    return w, v


@_jit
def svd(a):
    """np.linalg.svd of one matrix (reduced)."""
    u, s, vt = np.linalg.svd(a, full_matrices=False)
    return u, s, vt


@_jit
def svd_full(a):
    """np.linalg.svd of one matrix (full_matrices=True)."""
    u, s, vt = np.linalg.svd(a, full_matrices=True)
    return u, s, vt


@_jit
def qr(a):
    """np.linalg.qr of one matrix (reduced)."""
    q, r = np.linalg.qr(a)
    return q, r


# Constant tables that generated code reads as `_rt.NAME[i]` (Numba freezes a global array
# into the compiled code, so reading it cannot alias the arrays a loop writes).
from funcad.lowering.numba.vecmath import TWO_OVER_PI  # noqa: E402
