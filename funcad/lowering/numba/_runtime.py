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


# -- FFT: Numba has no np.fft, so the fft primitive's lowering calls these ---------------------
# Every line is transformed in complex128 (the caller casts complex64/float32 results).
# Lengths that are powers of two use an iterative radix-2 Cooley-Tukey transform; short
# other lengths (<= _FFT_DIRECT) a direct sum with an exact twiddle table; longer ones
# Bluestein's chirp-z algorithm (a convolution of power-of-two length m >= 2n - 1,
# computed with the radix-2 transform). Twiddles and chirps are computed from exactly
# reduced integer arguments (j*k mod n, t*t mod 2n), so the error stays near NumPy's
# (relative ~1e-15 * log2 n).

_FFT_DIRECT = 16


@_jit
def _fft_twiddles(m):
    """exp(-2 pi i k / m) for k < m."""
    tw = np.empty(m, np.complex128)
    for k in range(m):
        a = -2.0 * np.pi * k / m
        tw[k] = complex(np.cos(a), np.sin(a))
    return tw


@_jit
def _fft_pow2(buf, tw, inverse):
    """In-place unnormalised DFT of buf (length m a power of two; tw = _fft_twiddles(m));
    inverse: the conjugate transform."""
    m = buf.shape[0]
    j = 0
    for i in range(1, m):          # bit-reversal permutation
        bit = m >> 1
        while j & bit:
            j ^= bit
            bit >>= 1
        j |= bit
        if i < j:
            t = buf[i]
            buf[i] = buf[j]
            buf[j] = t
    h = 1
    while h < m:
        step = m // (2 * h)
        if h < 16:
            # few twiddles, many blocks: reuse each twiddle across the blocks
            for k in range(h):
                w = tw[k * step]
                if inverse:
                    w = w.conjugate()
                for s in range(0, m, 2 * h):
                    u = buf[s + k]
                    v = buf[s + k + h] * w
                    buf[s + k] = u + v
                    buf[s + k + h] = u - v
        else:
            # long blocks: walk each contiguously (cache-friendly for large m)
            for s in range(0, m, 2 * h):
                for k in range(h):
                    w = tw[k * step]
                    if inverse:
                        w = w.conjugate()
                    u = buf[s + k]
                    v = buf[s + k + h] * w
                    buf[s + k] = u + v
                    buf[s + k + h] = u - v
        h *= 2


@_jit
def _fft_plan(n, inverse):
    """(kind, tw, chirp, filt, work) for lines of length n: kind 0 trivial, 1 radix 2,
    2 direct sum, 3 Bluestein."""
    empty = np.zeros(1, np.complex128)
    if n == 1:
        return 0, empty, empty, empty, empty
    if n & (n - 1) == 0:
        return 1, _fft_twiddles(n), empty, empty, np.empty(n, np.complex128)
    if n <= _FFT_DIRECT:
        return 2, _fft_twiddles(n), empty, empty, np.empty(n, np.complex128)
    m = 1
    while m < 2 * n - 1:
        m *= 2
    tw = _fft_twiddles(m)
    sign = 1.0 if inverse else -1.0
    chirp = np.empty(n, np.complex128)      # exp(sign * pi i t^2 / n)
    for t in range(n):
        r = (t * t) % (2 * n)
        a = sign * np.pi * r / n
        chirp[t] = complex(np.cos(a), np.sin(a))
    filt = np.zeros(m, np.complex128)       # conj(chirp) at +-t, circularly
    for t in range(n):
        c = chirp[t].conjugate()
        filt[t] = c
        if t > 0:
            filt[m - t] = c
    _fft_pow2(filt, tw, False)
    return 3, tw, chirp, filt, np.empty(m, np.complex128)


@_jit
def _fft_line(line, kind, tw, chirp, filt, work, inverse):
    """Unnormalised DFT (inverse: conjugate sign) of `line`, in place."""
    n = line.shape[0]
    if kind == 0:
        return
    if kind == 1:
        _fft_pow2(line, tw, inverse)
        return
    if kind == 2:
        for k in range(n):
            acc = 0j
            idx = 0
            for j in range(n):
                w = tw[idx]
                if inverse:
                    w = w.conjugate()
                acc += line[j] * w
                idx += k
                if idx >= n:
                    idx -= n
            work[k] = acc
        for k in range(n):
            line[k] = work[k]
        return
    m = work.shape[0]
    for j in range(n):
        work[j] = line[j] * chirp[j]
    for j in range(n, m):
        work[j] = 0j
    _fft_pow2(work, tw, False)
    for j in range(m):
        work[j] = work[j] * filt[j]
    _fft_pow2(work, tw, True)
    inv_m = 1.0 / m
    for k in range(n):
        line[k] = work[k] * chirp[k] * inv_m


@_jit
def fft_axis(x, inverse):
    """DFT along the middle axis of a 3-d C array (A, n, B), as complex128; inverse: the
    inverse DFT (divided by n)."""
    na, n, nb = x.shape
    out = np.empty((na, n, nb), np.complex128)
    kind, tw, chirp, filt, work = _fft_plan(n, inverse)
    line = np.empty(n, np.complex128)
    scale = 1.0 / n if inverse else 1.0
    for a in range(na):
        for b in range(nb):
            for j in range(n):
                line[j] = x[a, j, b]
            _fft_line(line, kind, tw, chirp, filt, work, inverse)
            for j in range(n):
                out[a, j, b] = line[j] * scale
    return out


@_jit
def rfft_last(x):
    """DFT of each row of a real 2-d C array (A, n): the n // 2 + 1 first frequencies."""
    na, n = x.shape
    h = n // 2 + 1
    out = np.empty((na, h), np.complex128)
    kind, tw, chirp, filt, work = _fft_plan(n, False)
    line = np.empty(n, np.complex128)
    for a in range(na):
        for j in range(n):
            line[j] = x[a, j]
        _fft_line(line, kind, tw, chirp, filt, work, False)
        for k in range(h):
            out[a, k] = line[k]
    return out


@_jit
def irfft_last(x, n):
    """Inverse of rfft_last: rows (A, n // 2 + 1) of a Hermitian spectrum -> real (A, n)
    (imaginary parts of the zero and Nyquist entries ignored)."""
    na = x.shape[0]
    out = np.empty((na, n), np.float64)
    kind, tw, chirp, filt, work = _fft_plan(n, True)
    line = np.empty(n, np.complex128)
    for a in range(na):
        line[0] = x[a, 0].real
        for k in range(1, (n - 1) // 2 + 1):
            line[k] = x[a, k]
            line[n - k] = x[a, k].conjugate()
        if n % 2 == 0:
            line[n // 2] = x[a, n // 2].real
        _fft_line(line, kind, tw, chirp, filt, work, True)
        for j in range(n):
            out[a, j] = line[j].real / n
    return out


# -- eig: complex eigenvalues and right eigenvectors, as np.linalg.eig (NumPy's eager
# impl) returns them converted to complex. Numba's np.linalg.eig refuses real matrices
# with complex eigenvalues (a "domain change"), so real matrices call LAPACK's xGEEV
# through Numba's own binding and unpack conjugate pairs as NumPy does (same routine,
# same order of eigenvalues as the eager path).

from numba import types as _nbtypes  # noqa: E402
from numba.np.linalg import _LAPACK as _NbLapack  # noqa: E402
from numba.np.linalg import ensure_lapack as _ensure_lapack  # noqa: E402

_ensure_lapack()
_RGEEV_D = _NbLapack().numba_ez_rgeev(_nbtypes.float64)
_RGEEV_S = _NbLapack().numba_ez_rgeev(_nbtypes.float32)
_KIND_D, _KIND_S, _JOB_N, _JOB_V = ord("d"), ord("s"), ord("N"), ord("V")


@_jit
def _eig_unpack(wr, wi, vr, w, v):
    """Complex (w, v) from xGEEV's real output; vr[i] is eigenvector i (column-major);
    a pair with wi[i] != 0 stores re, im parts of eigenvector i in vr[i], vr[i + 1]."""
    n = wr.shape[0]
    i = 0
    while i < n:
        if wi[i] == 0.0 or i + 1 == n:
            w[i] = complex(wr[i], 0.0)
            for j in range(n):
                v[j, i] = complex(vr[i, j], 0.0)
            i += 1
        else:
            w[i] = complex(wr[i], wi[i])
            w[i + 1] = complex(wr[i + 1], wi[i + 1])
            for j in range(n):
                v[j, i] = complex(vr[i, j], vr[i + 1, j])
                v[j, i + 1] = complex(vr[i, j], -vr[i + 1, j])
            i += 2


@_jit
def _fortran_copy(a):
    """A C array holding a^T: read column-major it is a (LAPACK overwrites it)."""
    n = a.shape[0]
    out = np.empty((n, n), a.dtype)
    for i in range(n):
        for j in range(n):
            out[j, i] = a[i, j]
    return out


@_jit
def eig_f64(a):
    """np.linalg.eig of one float64 matrix, as complex128 (w, v)."""
    n = a.shape[-1]
    acpy = _fortran_copy(a)
    wr = np.empty(n, np.float64)
    wi = np.empty(n, np.float64)
    vl = np.empty((n, 1), np.float64)
    vr = np.empty((n, n), np.float64)
    w = np.empty(n, np.complex128)
    v = np.empty((n, n), np.complex128)
    if n == 0:
        return w, v
    r = _RGEEV_D(_KIND_D, _JOB_N, _JOB_V, n, acpy.ctypes, n, wr.ctypes, wi.ctypes,
                 vl.ctypes, 1, vr.ctypes, n)
    if r != 0:
        raise np.linalg.LinAlgError("eig: LAPACK's dgeev failed (no convergence)")
    _eig_unpack(wr, wi, vr, w, v)
    if acpy.size + vl.size < 0:  # keeps the LAPACK work arrays alive past the call
        raise ValueError("unreachable")
    return w, v


@_jit
def eig_f32(a):
    """np.linalg.eig of one float32 matrix, as complex64 (w, v)."""
    n = a.shape[-1]
    acpy = _fortran_copy(a)
    wr = np.empty(n, np.float32)
    wi = np.empty(n, np.float32)
    vl = np.empty((n, 1), np.float32)
    vr = np.empty((n, n), np.float32)
    w = np.empty(n, np.complex64)
    v = np.empty((n, n), np.complex64)
    if n == 0:
        return w, v
    r = _RGEEV_S(_KIND_S, _JOB_N, _JOB_V, n, acpy.ctypes, n, wr.ctypes, wi.ctypes,
                 vl.ctypes, 1, vr.ctypes, n)
    if r != 0:
        raise np.linalg.LinAlgError("eig: LAPACK's sgeev failed (no convergence)")
    _eig_unpack(wr, wi, vr, w, v)
    if acpy.size + vl.size < 0:  # keeps the LAPACK work arrays alive past the call
        raise ValueError("unreachable")
    return w, v


@_jit
def eig_complex(a):
    """np.linalg.eig of one complex matrix."""
    w, v = np.linalg.eig(a)
    return w, v


@_jit
def eigvals_f64(a):
    """The eigenvalues of eig_f64 (the same LAPACK call, so the same order)."""
    return eig_f64(a)[0]


@_jit
def eigvals_f32(a):
    """The eigenvalues of eig_f32."""
    return eig_f32(a)[0]


@_jit
def eigvals_complex(a):
    """The eigenvalues of eig_complex."""
    return eig_complex(a)[0]


# Constant tables that generated code reads as `_rt.NAME[i]` (Numba freezes a global array
# into the compiled code, so reading it cannot alias the arrays a loop writes).
from funcad.lowering.numba.vecmath import TWO_OVER_PI  # noqa: E402


# -- tridiagonal_solve(perturb_singular=True): JAX's CPU kernel (jaxlib's
# tridiagonal_solve_perturbed.h), rewritten: elimination with scaled partial pivoting that
# records U's three diagonals, then back substitution in which a pivot below 1 in magnitude
# is moved away from zero by eps * max|U| (doubling until the quotient cannot overflow) or
# scaled up with its row, so a singular system gives a large finite solution (inverse
# iteration). The eager impl calls it too.

@_jit
def tridiagonal_solve_perturbed(dl, d, du, b, eps, safemin):
    """x [B, m, k] of the systems (dl, d, du [B, m], b [B, m, k]) with perturbed pivots."""
    nb, n, k = b.shape
    x = np.empty_like(b)
    u = np.zeros((n, 3), b.dtype)
    row = np.empty(k, b.dtype)
    bignum = 1.0 / safemin
    for s in range(nb):
        if n == 0:
            continue
        max_abs_u = 0.0
        if n == 1:
            max_abs_u = abs(d[s, 0])
            u[0, 0] = d[s, 0]
            for j in range(k):
                x[s, 0, j] = b[s, 0, j]
        else:
            for i in range(n):
                u[i, 0] = 0
                u[i, 1] = 0
                u[i, 2] = 0
            u[0, 0] = d[s, 0]
            u[0, 1] = du[s, 0]
            max_abs_u = max(abs(u[0, 0]), abs(u[0, 1]))
            scale1 = abs(u[0, 0]) + abs(u[0, 1])
            for j in range(k):
                x[s, 0, j] = b[s, 0, j]
            for r in range(n - 1):
                sub = dl[s, r + 1]
                u[r + 1, 0] = d[s, r + 1]
                scale2 = abs(sub) + abs(u[r + 1, 0])
                if r < n - 2:
                    scale2 += abs(du[s, r + 1])
                if sub == 0:
                    scale1 = scale2
                    u[r + 1, 1] = du[s, r + 1] if r < n - 2 else 0
                    u[r, 2] = 0
                    for j in range(k):
                        x[s, r + 1, j] = b[s, r + 1, j]
                else:
                    piv1 = 0.0 if u[r, 0] == 0 else abs(u[r, 0]) / scale1
                    piv2 = abs(sub) / scale2
                    if piv2 <= piv1:       # no row interchange
                        scale1 = scale2
                        f = sub / u[r, 0]
                        u[r + 1, 0] = u[r + 1, 0] - f * u[r, 1]
                        u[r + 1, 1] = du[s, r + 1] if r < n - 2 else 0
                        u[r, 2] = 0
                        for j in range(k):
                            x[s, r + 1, j] = b[s, r + 1, j] - f * x[s, r, j]
                    else:                  # interchange rows r and r + 1
                        f = u[r, 0] / sub
                        utmp = u[r, 1]
                        u[r, 0] = sub
                        u[r + 1, 0] = utmp - f * d[s, r + 1]
                        u[r, 1] = d[s, r + 1]
                        if r < n - 2:
                            u[r, 2] = du[s, r + 1]
                            u[r + 1, 1] = -f * du[s, r + 1]
                        for j in range(k):
                            t = x[s, r, j]
                            x[s, r + 1, j] = t - f * b[s, r + 1, j]
                            x[s, r, j] = b[s, r + 1, j]
                        scale1 = abs(u[r + 1, 0]) + abs(u[r + 1, 1])
                if r < n - 2:
                    for c in range(3):
                        max_abs_u = max(max_abs_u, abs(u[r, c]))
            max_abs_u = max(max_abs_u, abs(u[n - 1, 0]))
        perturb0 = eps * max_abs_u
        for r in range(n - 1, -1, -1):
            p = u[r, 0]
            for j in range(k):
                v = x[s, r, j]
                if r + 1 < n:
                    v = v - u[r, 1] * x[s, r + 1, j]
                if r + 2 < n:
                    v = v - u[r, 2] * x[s, r + 2, j]
                row[j] = v
            abs_p = abs(p)
            if abs_p < 1.0:                # perturb (or scale) a tiny pivot
                pert = max(abs(perturb0), safemin)
                pert = -pert if np.signbit(p.real) else pert
                max_factor = 0.0
                for j in range(k):
                    max_factor = max(max_factor, abs(row[j]))
                stop = False
                while abs_p < 1.0 and not stop:
                    if abs_p < safemin:
                        if abs_p == 0.0 or max_factor * safemin > abs_p:
                            p = p + pert
                            pert = pert * 2.0
                        else:
                            p = p * bignum
                            for j in range(k):
                                row[j] = row[j] * bignum
                            stop = True
                    elif max_factor > abs_p * bignum:
                        p = p + pert
                        pert = pert * 2.0
                    else:
                        stop = True
                    abs_p = abs(p)
            inv = 1.0 / p
            for j in range(k):
                x[s, r, j] = row[j] * inv
    return x
