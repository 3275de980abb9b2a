"""The LU decomposition for funcad.scipy.linalg (partial pivoting, as LAPACK's getrf); its
Numba lowering rule is in funcad/lowering/numba/special_rules.py. (eigh, svd and qr are
in funcad/primitives/linalg.py.)
"""

from __future__ import annotations

import numpy as np

from funcad._core import ShapedArray, abstract_eval_rules, get_aval, impl_rules, jvp_rules
from funcad.interpreters.ad import Zero
from funcad.primitives._util import new_primitive, nondiff_primitives
from funcad.primitives.linalg import _batch_leading, _square_aval

# -- lu: a [..., n, n] -> (lu [..., n, n], pivots [..., n], perm [..., n]) -------------------
# a[perm] = L @ U; pivots are LAPACK's (step k swapped rows k and pivots[k]); both int64.
# L is unit lower triangular (its strict lower part stored in lu), U upper triangular.
# Partial pivoting as LAPACK's getrf: at step k the row with the largest |entry| in column
# k (the first such row on ties) is swapped into place.

lu_p = new_primitive("lu", multiple_results=True)


def lu_factor_numpy(a):
    """Reference LU with partial pivoting on one matrix (NumPy loops, LAPACK's choices)."""
    a = np.array(a, copy=True)
    n = a.shape[-1]
    perm = np.arange(n)
    piv = np.arange(n)
    for k in range(n):
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
    lead, n = a.shape[:-2], a.shape[-1]
    flat = a.reshape((-1, n, n))
    lu = np.empty_like(flat)
    piv = np.empty(flat.shape[:-1], np.int64)
    perm = np.empty(flat.shape[:-1], np.int64)
    for b, m in enumerate(flat):
        lu[b], piv[b], perm[b] = lu_factor_numpy(m)
    return [lu.reshape(a.shape), piv.reshape(lead + (n,)), perm.reshape(lead + (n,))]


def _lu_aval(a):
    _square_aval("lu")(a)
    i = ShapedArray(a.shape[:-1], np.dtype(np.int64))
    return [ShapedArray(a.shape, a.dtype), i, i]


def _lu_jvp(primals, tangents):
    import funcad.numpy as fnp
    (a,), (t,) = primals, tangents
    lu, piv, perm = lu_p.bind(a)
    outs = [lu, piv, perm]
    if type(t) is Zero:
        return outs, [Zero(get_aval(o)) for o in outs]
    n = get_aval(a).shape[-1]
    eye = np.eye(n, dtype=get_aval(a).dtype)
    lower = fnp.tril(lu, -1) + eye
    upper = fnp.triu(lu)
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
