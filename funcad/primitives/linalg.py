"""Linear algebra primitives: dot_general, solve, det, slogdet, cholesky, eigh, svd, qr."""

from __future__ import annotations

import numpy as np

from funcad._core import (
    ShapeMismatchError,
    ShapedArray,
    abstract_eval_rules,
    batch_rules,
    get_aval,
    impl_rules,
    jvp_rules,
    lowering_rules,
    transpose_rules,
    weak_if_all,
    weak_type_rules,
)
from funcad.interpreters.ad import Zero, add_tangents, defjvp, is_undefined
from funcad.interpreters.batching import moveaxis
from funcad.primitives._util import linear_primitives, new_primitive
from funcad.primitives.elementwise import eq_p, mul_p, neg_p, select_n_p, sub_p
from funcad.primitives.structural import broadcast_in_dim, full, iota, reshape, transpose

# -- dot_general --------------------------------------------------------------------------
# dimension_numbers = ((lhs_contract, rhs_contract), (lhs_batch, rhs_batch));
# output dims: batch dims, then lhs free dims, then rhs free dims.

dot_general_p = new_primitive("dot_general")


def _free_dims(ndim, contract, batch):
    return [d for d in range(ndim) if d not in contract and d not in batch]


def _dot_general_aval(lhs, rhs, *, dimension_numbers):
    (lc, rc), (lb, rb) = dimension_numbers
    for a, b in zip(lc, rc, strict=True):
        if lhs.shape[a] != rhs.shape[b]:
            raise ShapeMismatchError(f"dot_general: contracting dimensions do not match: shapes "
                             f"{lhs.shape} and {rhs.shape} (axis {a} vs axis {b})")
    for a, b in zip(lb, rb, strict=True):
        if lhs.shape[a] != rhs.shape[b]:
            raise ShapeMismatchError(f"dot_general: batch dimensions do not match: shapes "
                             f"{lhs.shape} and {rhs.shape}")
    if lhs.dtype != rhs.dtype:
        raise TypeError(f"dot_general: dtypes differ ({lhs.dtype.name}, {rhs.dtype.name})")
    shape = (tuple(lhs.shape[d] for d in lb)
             + tuple(lhs.shape[d] for d in _free_dims(lhs.ndim, lc, lb))
             + tuple(rhs.shape[d] for d in _free_dims(rhs.ndim, rc, rb)))
    return ShapedArray(shape, lhs.dtype)


def _dot_general_impl(lhs, rhs, *, dimension_numbers):
    (lc, rc), (lb, rb) = dimension_numbers
    lhs = np.asarray(lhs)
    rhs = np.asarray(rhs)
    if not lb:
        return np.tensordot(lhs, rhs, axes=(lc, rc))
    lf = _free_dims(lhs.ndim, lc, lb)
    rf = _free_dims(rhs.ndim, rc, rb)
    bshape = [lhs.shape[d] for d in lb]
    m = [lhs.shape[d] for d in lf]
    n = [rhs.shape[d] for d in rf]
    k = int(np.prod([lhs.shape[d] for d in lc], dtype=np.int64))
    lt = np.transpose(lhs, (*lb, *lf, *lc)).reshape(
        (*bshape, int(np.prod(m, dtype=np.int64)), k))
    rt = np.transpose(rhs, (*rb, *rc, *rf)).reshape(
        (*bshape, k, int(np.prod(n, dtype=np.int64))))
    return np.matmul(lt, rt).reshape((*bshape, *m, *n))


def dot_general(lhs, rhs, dimension_numbers):
    """Generalised tensor contraction (see the module comment for dimension_numbers)."""
    (lc, rc), (lb, rb) = dimension_numbers
    dn = ((tuple(lc), tuple(rc)), (tuple(lb), tuple(rb)))
    return dot_general_p.bind(lhs, rhs, dimension_numbers=dn)


def _ranks(x):
    return x.aval.ndim if is_undefined(x) else get_aval(x).ndim


def _dot_transpose_lhs(ct, lhs, rhs, *, dimension_numbers):
    (lc, rc), (lb, rb) = dimension_numbers
    ln, rn = _ranks(lhs), _ranks(rhs)
    lf = _free_dims(ln, lc, lb)
    rf = _free_dims(rn, rc, rb)
    nb, nlf = len(lb), len(lf)
    ct_batch = tuple(range(nb))
    ct_rfree = tuple(range(nb + nlf, nb + nlf + len(rf)))
    res = dot_general(ct, rhs, ((ct_rfree, tuple(rf)), (ct_batch, tuple(rb))))
    order = np.argsort(rc)
    res_dims_in_lhs = [*lb, *lf, *[lc[i] for i in order]]
    perm = [res_dims_in_lhs.index(d) for d in range(ln)]
    return transpose(res, perm)


def _dot_transpose_rhs(ct, lhs, rhs, *, dimension_numbers):
    (lc, rc), (lb, rb) = dimension_numbers
    ln, rn = _ranks(lhs), _ranks(rhs)
    lf = _free_dims(ln, lc, lb)
    rf = _free_dims(rn, rc, rb)
    nb, nlf = len(lb), len(lf)
    ct_batch = tuple(range(nb))
    ct_lfree = tuple(range(nb, nb + nlf))
    res = dot_general(ct, lhs, ((ct_lfree, tuple(lf)), (ct_batch, tuple(lb))))
    order = np.argsort(lc)
    res_dims_in_rhs = [*rb, *rf, *[rc[i] for i in order]]
    perm = [res_dims_in_rhs.index(d) for d in range(rn)]
    return transpose(res, perm)


def _dot_general_transpose(ct, lhs, rhs, *, dimension_numbers):
    if is_undefined(lhs) and is_undefined(rhs):
        raise NotImplementedError("dot_general: both operands linear (program not linear)")
    if is_undefined(lhs):
        return [_dot_transpose_lhs(ct, lhs, rhs, dimension_numbers=dimension_numbers), None]
    return [None, _dot_transpose_rhs(ct, lhs, rhs, dimension_numbers=dimension_numbers)]


def _shift(dims, at=0):
    return tuple(d + 1 if d >= at else d for d in dims)


def _dot_general_batch(size, vals, dims, *, dimension_numbers):
    (lc, rc), (lb, rb) = dimension_numbers
    lhs, rhs = vals
    dl, dr = dims
    if dl is not None and dr is not None:
        lhs = moveaxis(lhs, dl, 0, size)
        rhs = moveaxis(rhs, dr, 0, size)
        dn = ((_shift(lc), _shift(rc)), ((0, *_shift(lb)), (0, *_shift(rb))))
        return dot_general_p.bind(lhs, rhs, dimension_numbers=dn), 0
    if dl is not None:
        lhs = moveaxis(lhs, dl, 0, size)
        dn = ((_shift(lc), rc), (_shift(lb), rb))
        return dot_general_p.bind(lhs, rhs, dimension_numbers=dn), len(lb)
    rhs = moveaxis(rhs, dr, 0, size)
    dn = ((lc, _shift(rc)), (lb, _shift(rb)))
    n_lfree = len(_free_dims(get_aval(lhs).ndim, lc, lb))
    return dot_general_p.bind(lhs, rhs, dimension_numbers=dn), len(lb) + n_lfree


impl_rules[dot_general_p] = _dot_general_impl
abstract_eval_rules[dot_general_p] = _dot_general_aval
weak_type_rules[dot_general_p] = weak_if_all
defjvp(dot_general_p,
       lambda t, ans, lhs, rhs, *, dimension_numbers: dot_general_p.bind(
           t, rhs, dimension_numbers=dimension_numbers),
       lambda t, ans, lhs, rhs, *, dimension_numbers: dot_general_p.bind(
           lhs, t, dimension_numbers=dimension_numbers))
transpose_rules[dot_general_p] = _dot_general_transpose
linear_primitives.add(dot_general_p)
batch_rules[dot_general_p] = _dot_general_batch
lowering_rules[dot_general_p] = "dot_general"


# -- helpers for matrices with leading batch dims ----------------------------------------


def _matmul(a, b):
    """a [..., m, k] @ b [..., k, n] with equal leading dims."""
    nd = get_aval(a).ndim
    batch = tuple(range(nd - 2))
    return dot_general(a, b, (((nd - 1,), (nd - 2,)), (batch, batch)))


def _mT(a):
    nd = get_aval(a).ndim
    return transpose(a, (*range(nd - 2), nd - 1, nd - 2))


def _trace_last2(a):
    from funcad.primitives.reductions import reduce_sum
    aval = get_aval(a)
    n = aval.shape[-1]
    eye = eq_p.bind(iota(np.int64, (n, n), 0), iota(np.int64, (n, n), 1))
    nd = aval.ndim
    mask = broadcast_in_dim(eye, aval.shape, (nd - 2, nd - 1))
    zeros = full(aval.shape, 0, aval.dtype)
    return reduce_sum(select_n_p.bind(mask, zeros, a), (nd - 2, nd - 1))


def _square_aval(name):
    def check(a):
        if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
            raise ValueError(f"{name}: expected a square matrix (or a stack of them), got "
                             f"shape {a.shape}")
        if not np.issubdtype(a.dtype, np.inexact):
            raise TypeError(f"{name}: expected a floating-point matrix, got {a.dtype.name}")
    return check


def _batch_leading(prim, n_out=1):
    def rule(size, vals, dims, **params):
        moved = [moveaxis(v, d, 0, size) for v, d in zip(vals, dims)]
        out = prim.bind(*moved, **params)
        return (out, [0] * n_out) if prim.multiple_results else (out, 0)
    batch_rules[prim] = rule


# -- solve: a [..., n, n], b [..., n, k] -> x with a @ x = b -------------------------------

solve_p = new_primitive("solve")


def _solve_aval(a, b):
    _square_aval("solve")(a)
    if b.ndim != a.ndim or b.shape[:-2] != a.shape[:-2] or b.shape[-2] != a.shape[-1]:
        raise ValueError(f"solve: shapes {a.shape} and {b.shape} are incompatible")
    if a.dtype != b.dtype:
        raise TypeError("solve: dtypes differ")
    return ShapedArray(b.shape, b.dtype)


def _solve_jvp(primals, tangents):
    a, b = primals
    ta, tb = tangents
    x = solve_p.bind(a, b)
    rhs = tb
    if type(ta) is not Zero:
        rhs = add_tangents(rhs, neg_p.bind(_matmul(ta, x)))
    if type(rhs) is Zero:
        return x, Zero(get_aval(x))
    return x, solve_p.bind(a, rhs)


def _solve_transpose(ct, a, b):
    if is_undefined(a):
        raise NotImplementedError("solve: the matrix cannot be linear")
    return [None, solve_p.bind(_mT(a), ct)]


impl_rules[solve_p] = lambda a, b: np.linalg.solve(a, b)
abstract_eval_rules[solve_p] = _solve_aval
jvp_rules[solve_p] = _solve_jvp
transpose_rules[solve_p] = _solve_transpose
linear_primitives.add(solve_p)
_batch_leading(solve_p)
lowering_rules[solve_p] = "solve"

# -- det ----------------------------------------------------------------------------------------

det_p = new_primitive("det")


def _det_aval(a):
    _square_aval("det")(a)
    return ShapedArray(a.shape[:-2], a.dtype)


impl_rules[det_p] = lambda a: np.linalg.det(a)
abstract_eval_rules[det_p] = _det_aval
defjvp(det_p, lambda t, ans, a: mul_p.bind(ans, _trace_last2(solve_p.bind(a, t))))
_batch_leading(det_p)
lowering_rules[det_p] = "det"

# -- slogdet: (sign, log|det|) -------------------------------------------------------------

slogdet_p = new_primitive("slogdet", multiple_results=True)


def _slogdet_aval(a):
    _square_aval("slogdet")(a)
    # Complex: a complex sign of modulus 1 and a real log|det| (as NumPy and JAX).
    real = np.finfo(a.dtype).dtype if a.dtype.kind == "c" else a.dtype
    return [ShapedArray(a.shape[:-2], a.dtype), ShapedArray(a.shape[:-2], real)]


def _slogdet_jvp(primals, tangents):
    (a,), (t,) = primals, tangents
    sign, logdet = slogdet_p.bind(a)
    d = _trace_last2(solve_p.bind(a, t))  # d log det = tr(a^-1 da)
    if get_aval(a).dtype.kind != "c":
        return [sign, logdet], [Zero(get_aval(sign)), d]
    # d log|det| = Re(tr(a^-1 da)); d sign = i Im(tr(a^-1 da)) sign (JAX's rule).
    from funcad.primitives.elementwise import complex_p, imag_p, mul_p, real_p
    d_re, d_im = real_p.bind(d), imag_p.bind(d)
    zero = full(get_aval(d_re).shape, 0, get_aval(d_re).dtype)
    return [sign, logdet], [mul_p.bind(complex_p.bind(zero, d_im), sign), d_re]


impl_rules[slogdet_p] = lambda a: list(np.linalg.slogdet(a))
abstract_eval_rules[slogdet_p] = _slogdet_aval
jvp_rules[slogdet_p] = _slogdet_jvp
_batch_leading(slogdet_p, n_out=2)
lowering_rules[slogdet_p] = "slogdet"

# -- cholesky: lower-triangular L with L L^T = a ----------------------------------------

cholesky_p = new_primitive("cholesky")


def _cholesky_aval(a):
    _square_aval("cholesky")(a)
    return ShapedArray(a.shape, a.dtype)


def _cholesky_jvp(primals, tangents):
    (a,), (t,) = primals, tangents
    L = cholesky_p.bind(a)
    if _is_zero(t):
        return L, Zero(get_aval(L))
    fnp = _fnp()
    n = get_aval(a).shape[-1]
    lower = np.tril(np.ones((n, n), bool), -1)
    # The impl reads only the lower triangle of `a` (and the real part of its diagonal):
    # the tangent it sees is that Hermitian matrix.
    t = _lower_read(t)
    # a = L L^H: phi = L^{-1} dA L^{-H} is Hermitian; dL = L (tril(phi, -1) + diag(phi)/2).
    tmp = solve_p.bind(L, t)
    phi = _H(solve_p.bind(L, _H(tmp)))
    masked = fnp.where(lower, phi, fnp.where(_eye_mask(n), fnp.multiply(phi, 0.5), 0.0))
    return L, fnp.matmul(L, masked)


impl_rules[cholesky_p] = lambda a: np.linalg.cholesky(a)
abstract_eval_rules[cholesky_p] = _cholesky_aval
jvp_rules[cholesky_p] = _cholesky_jvp
_batch_leading(cholesky_p)
lowering_rules[cholesky_p] = "cholesky"

# -- eigh, svd, qr: LAPACK decompositions --------------------------------------------------
# Their jvp rules are written with funcad.numpy (imported when a rule runs: funcad.numpy
# imports this module), so the tangent programs are ordinary composites that transpose,
# batch and lower like any other.


def _fnp():
    import funcad.numpy as fnp
    return fnp


def _is_zero(t):
    return type(t) is Zero


def _eye_mask(n):
    return np.eye(n, dtype=bool)


def _is_complex(x):
    return get_aval(x).dtype.kind == "c"


def _H(x):
    """Conjugate transpose of the last two axes (the transpose for real x)."""
    fnp = _fnp()
    xt = fnp.swapaxes(x, -1, -2)
    return fnp.conj(xt) if _is_complex(x) else xt


def _real_dtype(dtype):
    return np.finfo(dtype).dtype if np.dtype(dtype).kind == "c" else np.dtype(dtype)


def _lower_read(t):
    """The Hermitian (real: symmetric) matrix the impl sees when it reads only the lower
    triangle of t (LAPACK ignores the imaginary part of a Hermitian matrix's diagonal)."""
    fnp = _fnp()
    n = get_aval(t).shape[-1]
    strict = fnp.tril(t, -1)
    diag = fnp.where(_eye_mask(n), t, 0.0)
    if _is_complex(t):
        diag = fnp.where(_eye_mask(n), fnp.real(diag).astype(get_aval(t).dtype), 0.0)
    return fnp.add(fnp.add(strict, _H(strict)), diag)


# eigh: a [..., n, n] (lower triangle read) -> (w [..., n] ascending, v [..., n, n])

eigh_p = new_primitive("eigh", multiple_results=True)


def _eigh_aval(a):
    _square_aval("eigh")(a)
    # Hermitian: real eigenvalues, complex eigenvectors.
    return [ShapedArray(a.shape[:-1], _real_dtype(a.dtype)), ShapedArray(a.shape, a.dtype)]


def _eigh_jvp(primals, tangents):
    (a,), (t,) = primals, tangents
    w, v = eigh_p.bind(a)
    if _is_zero(t):
        return [w, v], [Zero(get_aval(w)), Zero(get_aval(v))]
    fnp = _fnp()
    n = get_aval(a).shape[-1]
    eye = _eye_mask(n)
    # a = V diag(w) V^H: with M = V^H dA V (Hermitian), dw = Re diag(M) and
    # dV = V (F o M), F_ij = 1 / (w_j - w_i) off the diagonal and 0 on it: the gauge
    # diag(V^H dV) = 0 fixes each eigenvector's free phase (complex) or sign (real).
    m = fnp.matmul(fnp.matmul(_H(v), _lower_read(t)), v)
    dw = fnp.sum(fnp.where(eye, m, 0.0), axis=-1)
    if _is_complex(a):
        dw = fnp.real(dw)
    gap = fnp.subtract(w[..., None, :], w[..., :, None])  # w_j - w_i
    f = fnp.where(eye, 0.0, fnp.true_divide(1.0, fnp.where(eye, 1.0, gap)))
    dv = fnp.matmul(v, fnp.multiply(f.astype(get_aval(a).dtype), m))
    return [w, v], [dw, dv]


impl_rules[eigh_p] = lambda a: list(np.linalg.eigh(a))
abstract_eval_rules[eigh_p] = _eigh_aval
jvp_rules[eigh_p] = _eigh_jvp
_batch_leading(eigh_p, n_out=2)
lowering_rules[eigh_p] = "eigh"

# svd: a [..., m, n] -> (u [..., m, k], s [..., k] descending, vt [..., k, n]), k = min(m, n)
# (full_matrices=True: u [..., m, m], vt [..., n, n]; differentiable for square a only).

svd_p = new_primitive("svd", multiple_results=True)


def _svd_aval(a, *, full_matrices):
    if a.ndim < 2:
        raise ValueError(f"svd: expected a matrix (or a stack of them), got shape {a.shape}")
    if not np.issubdtype(a.dtype, np.inexact):
        raise TypeError(f"svd: expected a floating-point matrix, got {a.dtype.name}")
    *lead, m, n = a.shape
    k = min(m, n)
    lead = tuple(lead)
    s = ShapedArray((*lead, k), _real_dtype(a.dtype))  # real singular values
    if full_matrices:
        return [ShapedArray((*lead, m, m), a.dtype), s, ShapedArray((*lead, n, n), a.dtype)]
    return [ShapedArray((*lead, m, k), a.dtype), s, ShapedArray((*lead, k, n), a.dtype)]


def _svd_jvp(primals, tangents, *, full_matrices):
    (a,), (t,) = primals, tangents
    u, s, vt = svd_p.bind(a, full_matrices=full_matrices)
    outs = [u, s, vt]
    if _is_zero(t):
        return outs, [Zero(get_aval(o)) for o in outs]
    m, n = get_aval(a).shape[-2:]
    if full_matrices and m != n:
        raise NotImplementedError("svd: derivatives with full_matrices=True need a square "
                                  "matrix; use full_matrices=False")
    fnp = _fnp()
    k = min(m, n)
    eye = _eye_mask(k)
    dtype = get_aval(a).dtype
    uh, v = _H(u), _H(vt)
    # a = U S V^H; with D = U^H dA V: dS = Re diag(D), and (F_ij = 1 / (s_j^2 - s_i^2))
    #   dU = U (F o (D S + S D^H) + i Im diag(D) / S),  dV = V (F o (S D + D^H S)),
    # the imaginary diagonal term fixing the phase freedom shared by u_i and v_i (JAX's
    # convention: diag(V^H dV) = 0); zero for real matrices.
    d = fnp.matmul(fnp.matmul(uh, t), v)
    d_diag = fnp.sum(fnp.where(eye, d, 0.0), axis=-1)
    ds = fnp.real(d_diag) if _is_complex(a) else d_diag
    s_row, s_col = s[..., None, :], s[..., :, None]
    diffs = fnp.multiply(s_row + s_col, s_row - s_col)  # s_j^2 - s_i^2
    f = fnp.where(eye, 0.0, fnp.true_divide(1.0, fnp.where(eye, 1.0, diffs))).astype(dtype)
    s_inv = fnp.where(s == 0, 0.0, fnp.true_divide(1.0, fnp.where(s == 0, 1.0, s)))
    sc = s.astype(dtype)
    dss = fnp.multiply(d, sc[..., None, :])  # D diag(s)
    sds = fnp.multiply(sc[..., :, None], d)  # diag(s) D
    du_inner = fnp.multiply(f, dss + _H(dss))
    if _is_complex(a):
        phase = fnp.multiply(fnp.imag(d_diag), s_inv)
        du_inner = du_inner + fnp.where(eye, (1j * phase[..., None, :]).astype(dtype), 0.0)
    du = fnp.matmul(u, du_inner)
    dv = fnp.matmul(v, fnp.multiply(f, sds + _H(sds)))
    s_inv_row = s_inv.astype(dtype)[..., None, :]
    if m > n:
        dav = fnp.matmul(t, v)
        du = du + fnp.multiply(dav - fnp.matmul(u, fnp.matmul(uh, dav)), s_inv_row)
    if n > m:
        dahu = fnp.matmul(_H(t), u)
        dv = dv + fnp.multiply(dahu - fnp.matmul(v, fnp.matmul(vt, dahu)), s_inv_row)
    return outs, [du, ds, _H(dv)]


impl_rules[svd_p] = lambda a, *, full_matrices: list(np.linalg.svd(
    a, full_matrices=full_matrices))
abstract_eval_rules[svd_p] = _svd_aval
jvp_rules[svd_p] = _svd_jvp
_batch_leading(svd_p, n_out=3)
lowering_rules[svd_p] = "svd"

# qr (reduced): a [..., m, n] -> (q [..., m, k], r [..., k, n]), k = min(m, n);
# differentiable for m >= n.

qr_p = new_primitive("qr", multiple_results=True)


def _qr_aval(a):
    if a.ndim < 2:
        raise ValueError(f"qr: expected a matrix (or a stack of them), got shape {a.shape}")
    if not np.issubdtype(a.dtype, np.inexact):
        raise TypeError(f"qr: expected a floating-point matrix, got {a.dtype.name}")
    *lead, m, n = a.shape
    k = min(m, n)
    return [ShapedArray((*lead, m, k), a.dtype), ShapedArray((*lead, k, n), a.dtype)]


def _qr_jvp(primals, tangents):
    (a,), (t,) = primals, tangents
    q, r = qr_p.bind(a)
    if _is_zero(t):
        return [q, r], [Zero(get_aval(q)), Zero(get_aval(r))]
    m, n = get_aval(a).shape[-2:]
    if m < n:
        raise NotImplementedError("qr: derivatives need a matrix with at least as many rows "
                                  "as columns")
    fnp = _fnp()
    # a = Q R: with X = Q^H dA R^{-1}, Q^H dQ = dO is skew-Hermitian and dR R^{-1} = X - dO
    # upper triangular, so dO's strict lower part is X's. LAPACK's R has a real diagonal
    # (complex too): that fixes dO's diagonal to i Im diag(X) (zero for real matrices).
    dx_rinv = _H(solve_p.bind(_H(r), _H(t)))  # dA R^{-1} = (R^{-H} dA^H)^H
    x = fnp.matmul(_H(q), dx_rinv)
    low = fnp.tril(x, -1)
    do = low - _H(low)
    if _is_complex(a):
        n_ = get_aval(x).shape[-1]
        do = do + fnp.where(_eye_mask(n_), x - fnp.real(x).astype(get_aval(x).dtype), 0.0)
    dq = fnp.matmul(q, do - x) + dx_rinv
    dr = fnp.matmul(x - do, r)
    return [q, r], [dq, dr]


impl_rules[qr_p] = lambda a: list(np.linalg.qr(a))
abstract_eval_rules[qr_p] = _qr_aval
jvp_rules[qr_p] = _qr_jvp
_batch_leading(qr_p, n_out=2)
lowering_rules[qr_p] = "qr"

__all__ = ["dot_general", "reshape", "sub_p"]

