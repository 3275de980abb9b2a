"""The LU decomposition for funcad.scipy.linalg (partial pivoting, as LAPACK's getrf); its
Numba lowering rule is in funcad/lowering/numba/special_rules.py. The general (non-
symmetric) eigendecomposition `eig`. (eigh, svd and qr are in funcad/primitives/linalg.py.)
"""

from __future__ import annotations

import numpy as np

from funcad._core import (
    ShapedArray,
    abstract_eval_rules,
    batch_rules,
    get_aval,
    impl_rules,
    jvp_rules,
    lowering_rules,
    transpose_rules,
)
from funcad.interpreters.ad import Zero, deflinear_jvp
from funcad.interpreters.batching import moveaxis
from funcad.primitives._util import linear_primitives, new_primitive, nondiff_primitives
from funcad.primitives.linalg import _batch_leading, _square_aval

# -- lu: a [..., m, n] -> (lu [..., m, n], pivots [..., k], perm [..., m]), k = min(m, n) ---
# a[perm] = L @ U; pivots are LAPACK's (step k swapped rows k and pivots[k]); both int64.
# L [m, k] is unit lower trapezoidal (its strict lower part stored in lu), U [k, n] upper
# trapezoidal.
# Partial pivoting as LAPACK's getrf: at step k the row with the largest |entry| in column
# k (the first such row on ties) is swapped into place.

lu_p = new_primitive("lu", multiple_results=True)


def lu_factor_numpy(a):
    """Reference LU with partial pivoting on one matrix (NumPy loops, LAPACK's choices)."""
    a = np.array(a, copy=True)
    m, n = a.shape[-2:]
    perm = np.arange(m)
    piv = np.arange(min(m, n))
    for k in range(min(m, n)):
        p = k + int(np.argmax(np.abs(a[k:, k])))
        piv[k] = p
        if p != k:
            a[[k, p]] = a[[p, k]]
            perm[[k, p]] = perm[[p, k]]
        if a[k, k] != 0:
            a[k + 1:, k] /= a[k, k]
        a[k + 1:, k + 1:] -= np.outer(a[k + 1:, k], a[k, k + 1:])
    return a, piv, perm


def _lu_impl(a):
    lead, (m, n) = a.shape[:-2], a.shape[-2:]
    flat = a.reshape((-1, m, n))
    lu = np.empty_like(flat)
    piv = np.empty((flat.shape[0], min(m, n)), np.int64)
    perm = np.empty((flat.shape[0], m), np.int64)
    for b, mat in enumerate(flat):
        lu[b], piv[b], perm[b] = lu_factor_numpy(mat)
    return [lu.reshape(a.shape), piv.reshape(lead + (min(m, n),)), perm.reshape(lead + (m,))]


def _lu_aval(a):
    if a.ndim < 2:
        raise ValueError(f"lu: expected a matrix (or a stack of them), got shape {a.shape}")
    if not np.issubdtype(a.dtype, np.inexact):
        raise TypeError(f"lu: expected a floating-point matrix, got {a.dtype.name}")
    m, n = a.shape[-2:]
    i64 = np.dtype(np.int64)
    return [ShapedArray(a.shape, a.dtype), ShapedArray(a.shape[:-2] + (min(m, n),), i64),
            ShapedArray(a.shape[:-2] + (m,), i64)]


def _lu_jvp(primals, tangents):
    import funcad.numpy as fnp
    (a,), (t,) = primals, tangents
    lu, piv, perm = lu_p.bind(a)
    outs = [lu, piv, perm]
    if type(t) is Zero:
        return outs, [Zero(get_aval(o)) for o in outs]
    aval = get_aval(a)
    m, n = aval.shape[-2:]
    k = min(m, n)
    lead = [(0, 0)] * (aval.ndim - 2)
    # L [m, k] and U [k, n] padded to square: L with the identity's last m - k columns,
    # U with its last n - k rows (for a square matrix nothing changes).
    lower = fnp.pad(fnp.tril(lu[..., :, :k], -1), lead + [(0, 0), (0, m - k)]) + \
        np.eye(m, dtype=aval.dtype)
    upper = fnp.pad(fnp.triu(lu[..., :k, :]), lead + [(0, n - k), (0, 0)]) + \
        np.diag((np.arange(n) >= k).astype(aval.dtype))
    # P dA = dL U + L dU  =>  X = L^-1 P dA U^-1, dL = L tril(X, -1), dU = triu(X) U
    pt = fnp.take_along_axis(t, perm[..., :, None], axis=-2)
    x = fnp.linalg.solve(lower, pt)
    x = fnp.swapaxes(fnp.linalg.solve(fnp.swapaxes(upper, -1, -2), fnp.swapaxes(x, -1, -2)),
                     -1, -2)
    d_lower = fnp.matmul(lower, fnp.tril(x, -1))
    d_upper = fnp.matmul(fnp.triu(x), upper)
    return outs, [fnp.tril(d_lower, -1) + d_upper, Zero(get_aval(piv)), Zero(get_aval(perm))]


impl_rules[lu_p] = _lu_impl
abstract_eval_rules[lu_p] = _lu_aval
jvp_rules[lu_p] = _lu_jvp
_batch_leading(lu_p, n_out=3)

# -- eig: a [..., n, n] -> (w [..., n], v [..., n, n]) (vectors=False: [w]), complex ------
# As np.linalg.eig (LAPACK's xGEEV): eigenvalues in LAPACK's order, right eigenvectors in
# the columns of v, each of unit 2-norm; real matrices give complex results too (complex64
# for float32, as JAX). The eigenvalues are differentiable: dw = diag(V^-1 dA V). The
# eigenvectors are not (JAX has no rule for them either): their tangent is
# `eig_vectors_tangent`, a linear placeholder that raises when it is evaluated, transposed
# or compiled, so a reverse-mode derivative that does not use the eigenvectors works
# (forward mode raises for vectors=True, as JAX does for eig with eigenvectors). Both
# forms run the same LAPACK call (xGEEV with right eigenvectors), so the eigenvalues come
# in the same order whether or not the vectors are asked for.

eig_p = new_primitive("eig", multiple_results=True)


def _complex_of(dtype):
    return np.result_type(dtype, np.complex64)


def _eig_impl(a, *, vectors, gauge_free=False):
    cdt = _complex_of(a.dtype)
    if a.size == 0:
        w, v = np.empty(a.shape[:-1], cdt), np.empty(a.shape, cdt)
    else:
        w, v = np.linalg.eig(a)
    w, v = np.asarray(w).astype(cdt, copy=False), np.asarray(v).astype(cdt, copy=False)
    return [w, v] if vectors else [w]


def _eig_aval(a, *, vectors, gauge_free=False):
    _square_aval("eig")(a)
    cdt = _complex_of(a.dtype)
    w = ShapedArray(a.shape[:-1], cdt)
    return [w, ShapedArray(a.shape, cdt)] if vectors else [w]


EIG_VECTORS_MESSAGE = (
    "eig: derivatives of the eigenvectors are not implemented (as in JAX), only of the "
    "eigenvalues; differentiate funcad.numpy.linalg.eigvals (or only eig's eigenvalues), "
    "or use eigh for Hermitian matrices")

eig_vectors_tangent_p = new_primitive("eig_vectors_tangent")


def _refuse(*args, **kwargs):
    raise NotImplementedError(EIG_VECTORS_MESSAGE)


def _eig_vectors_tangent_aval(t):
    return ShapedArray(t.shape, _complex_of(t.dtype))


def _eig_vectors_tangent_batch(size, vals, dims):
    return eig_vectors_tangent_p.bind(moveaxis(vals[0], dims[0], 0, size)), 0


impl_rules[eig_vectors_tangent_p] = _refuse
abstract_eval_rules[eig_vectors_tangent_p] = _eig_vectors_tangent_aval
deflinear_jvp(eig_vectors_tangent_p)
transpose_rules[eig_vectors_tangent_p] = _refuse
linear_primitives.add(eig_vectors_tangent_p)
batch_rules[eig_vectors_tangent_p] = _eig_vectors_tangent_batch
lowering_rules[eig_vectors_tangent_p] = "eig_vectors_tangent"  # raises when lowered


def _eig_jvp(primals, tangents, *, vectors, gauge_free=False):
    import funcad.numpy as fnp
    (a,), (t,) = primals, tangents
    # (v of a gauge-free eig is used only in dw below, which is invariant to rescaling
    # the eigenvectors, so any rule for dv serves it: higher derivatives of eigenvalues)
    w, v = eig_p.bind(a, vectors=True, gauge_free=True)
    outs = [w, v] if vectors else [w]
    if type(t) is Zero:
        return outs, [Zero(get_aval(o)) for o in outs]
    # A V = V diag(w)  =>  V^-1 dA V = diag(dw) + (off-diagonal terms), so
    # dw = diag(V^-1 dA V) (eigenvalues assumed distinct; V invertible).
    tc = t if get_aval(t).dtype.kind == "c" else t.astype(get_aval(v).dtype)
    x = fnp.linalg.solve(v, fnp.matmul(tc, v))
    dw = fnp.diagonal(x, axis1=-2, axis2=-1)
    if not vectors:
        return outs, [dw]
    if not gauge_free:
        return outs, [dw, eig_vectors_tangent_p.bind(t)]
    # dV = V C with C_ij = x_ij / (w_j - w_i) off the diagonal, C_ii = 0 (one gauge of many)
    n = get_aval(a).shape[-1]
    eye = np.eye(n, dtype=bool)
    gap = fnp.subtract(w[..., None, :], w[..., :, None])
    f = fnp.where(eye, 0.0, fnp.true_divide(1.0, fnp.where(eye, 1.0, gap)))
    return outs, [dw, fnp.matmul(v, fnp.multiply(f, x))]


def _eig_batch(size, vals, dims, **params):
    outs = eig_p.bind(moveaxis(vals[0], dims[0], 0, size), **params)
    return outs, [0] * len(outs)


impl_rules[eig_p] = _eig_impl
abstract_eval_rules[eig_p] = _eig_aval
jvp_rules[eig_p] = _eig_jvp
batch_rules[eig_p] = _eig_batch
lowering_rules[eig_p] = "eig"  # funcad/lowering/numba/rules.py (_runtime.eig_f64 ...)

__all__ = ["eig_p", "lu_p"]
del nondiff_primitives
