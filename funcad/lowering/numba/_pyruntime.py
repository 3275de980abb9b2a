"""The runtime helpers of generated code, as plain NumPy, for drivers run by Python.

Same names and contracts as `_runtime.py` (whose helpers are Numba-compiled): a program's
driver (the code between its kernels) runs in Python and calls these, so BLAS, LAPACK
and allocation cost nothing to compile.
"""

from __future__ import annotations

import numpy as np


def dot_nn(a, b):
    """a @ b for C-contiguous 2-d arrays (BLAS)."""
    return np.dot(a, b)


def dot_tn(a, b):
    """a.T @ b (BLAS with a transposed operand)."""
    return np.dot(a.T, b)


def dot_nt(a, b):
    """a @ b.T (BLAS with a transposed operand)."""
    return np.dot(a, b.T)


def dot_tt(a, b):
    """a.T @ b.T (BLAS with transposed operands)."""
    return np.dot(a.T, b.T)


empty1 = np.empty   # empty1(n0, dt) is np.empty(n0, dt): no Python frame on the hot path


def empty2(n0, n1, dt):
    """np.empty((n0, n1), dt)."""
    return np.empty((n0, n1), dt)


def empty3(n0, n1, n2, dt):
    """np.empty((n0, n1, n2), dt)."""
    return np.empty((n0, n1, n2), dt)


def empty4(n0, n1, n2, n3, dt):
    """np.empty((n0, n1, n2, n3), dt)."""
    return np.empty((n0, n1, n2, n3), dt)


def full1(n0, v, dt):
    """np.full((n0,), v, dt)."""
    return np.full(n0, v, dt)


def fill(a, v):
    """Fill `a` with `v` in place; returns `a`."""
    a.fill(v)
    return a


def reshape1(a, n0):
    """a.reshape((n0,)) of a C-contiguous array (a view)."""
    return a.reshape(n0)


def reshape2(a, n0, n1):
    """a.reshape((n0, n1)) of a C-contiguous array (a view)."""
    return a.reshape((n0, n1))


def reshape3(a, n0, n1, n2):
    """a.reshape((n0, n1, n2)) of a C-contiguous array (a view)."""
    return a.reshape((n0, n1, n2))


def reshape4(a, n0, n1, n2, n3):
    """a.reshape((n0, n1, n2, n3)) of a C-contiguous array (a view)."""
    return a.reshape((n0, n1, n2, n3))


def copy(a):
    """A C-contiguous copy of `a`."""
    return np.array(a, order="C", copy=True)


def solve(a, b):
    """np.linalg.solve for one 2-d system."""
    return np.linalg.solve(a, b)


def det(a):
    """np.linalg.det of one matrix."""
    return np.linalg.det(a)


def slogdet(a):
    """np.linalg.slogdet of one matrix."""
    sign, logdet = np.linalg.slogdet(a)
    return sign, logdet


def cholesky(a):
    """np.linalg.cholesky of one matrix."""
    return np.linalg.cholesky(a)


def eigh(a):
    """np.linalg.eigh of one matrix (lower triangle)."""
    w, v = np.linalg.eigh(a)
    return w, v


def svd(a):
    """np.linalg.svd of one matrix (reduced)."""
    u, s, vt = np.linalg.svd(a, full_matrices=False)
    return u, s, vt


def svd_full(a):
    """np.linalg.svd of one matrix (full_matrices=True)."""
    u, s, vt = np.linalg.svd(a, full_matrices=True)
    return u, s, vt


def qr(a):
    """np.linalg.qr of one matrix (reduced)."""
    q, r = np.linalg.qr(a)
    return q, r


def _eig(a):
    """np.linalg.eig of one matrix, complex as _runtime.eig_* return it."""
    w, v = np.linalg.eig(a)
    cdt = np.result_type(a.dtype, np.complex64)
    return w.astype(cdt), v.astype(cdt)


def eig_f64(a):
    """np.linalg.eig of one float64 matrix, as complex128."""
    return _eig(a)


def eig_f32(a):
    """np.linalg.eig of one float32 matrix, as complex64."""
    return _eig(a)


def eig_complex(a):
    """np.linalg.eig of one complex matrix."""
    return _eig(a)


def eigvals_f64(a):
    """The eigenvalues of eig_f64."""
    return _eig(a)[0]


def eigvals_f32(a):
    """The eigenvalues of eig_f32."""
    return _eig(a)[0]


def eigvals_complex(a):
    """The eigenvalues of eig_complex."""
    return _eig(a)[0]


def call_callback(token, *args):
    """Run a host callback (debug.print, pure_callback) from the driver."""
    from funcad._callback import call_callback as run
    return run(token, *args)


def fft_axis(x, inverse):
    """DFT along the middle axis of a 3-d array (A, n, B), as complex128 (NumPy's FFT)."""
    x = x.astype(np.complex128)
    return np.ascontiguousarray(np.fft.ifft(x, axis=1) if inverse else np.fft.fft(x, axis=1))


def rfft_last(x):
    """DFT of each row of a real 2-d array (A, n): the n // 2 + 1 first frequencies."""
    return np.fft.rfft(x.astype(np.float64), axis=1)


def irfft_last(x, n):
    """Inverse of rfft_last: rows (A, n // 2 + 1) of a Hermitian spectrum -> real (A, n)."""
    return np.fft.irfft(x.astype(np.complex128), n, axis=1)


# Constant tables that generated code reads as `_rt.NAME[i]` (same as _runtime.py).
from funcad.lowering.numba.vecmath import TWO_OVER_PI  # noqa: E402


# -- LAPACK reductions Numba does not bind (gehrd, sytrd/hetrd, gees): the eager impls, called
# from the Python driver (driver-only rules in linalg_more_rules.py; compile.py keeps a
# program that calls a `host_` helper on a Python driver).

def host_hessenberg(a):
    """(packed, taus) of LAPACK's gehrd over a stack of matrices."""
    from funcad.primitives.linalg_more import _hessenberg_impl
    return _hessenberg_impl(a)


def host_tridiagonal(a, lower):
    """(packed, d, e, taus) of LAPACK's sytrd/hetrd over a stack of matrices."""
    from funcad.primitives.linalg_more import _tridiagonal_impl
    return _tridiagonal_impl(a, lower=lower)


def host_schur(a, compute_schur_vectors):
    """[T, vs] (or [T]) of LAPACK's gees over a stack of matrices."""
    from funcad.primitives.linalg_more import _schur_impl
    return _schur_impl(a, compute_schur_vectors=compute_schur_vectors)


def tridiagonal_solve_perturbed(dl, d, du, b, eps, safemin):
    """tridiagonal_solve(perturb_singular=True) over [B, m] bands (the compiled helper)."""
    from funcad.lowering.numba._runtime import tridiagonal_solve_perturbed as solve
    return solve(dl, d, du, b, eps, safemin)
