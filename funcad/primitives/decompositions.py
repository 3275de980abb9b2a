"""The LU decomposition for funcad.scipy.linalg (partial pivoting, as LAPACK's getrf); its
Numba lowering rule is in funcad/lowering/numba/special_rules.py. (eigh, svd and qr are
in funcad/primitives/linalg.py.)
"""

from __future__ import annotations

import numpy as np

from funcad._core import ShapedArray, abstract_eval_rules, get_aval, impl_rules, jvp_rules
from funcad.interpreters.ad import Zero
from funcad.primitives._util import new_primitive, nondiff_primitives
from funcad.primitives.linalg import _batch_leading

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

__all__ = ["lu_p"]
del nondiff_primitives
