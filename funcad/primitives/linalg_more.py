"""The rest of jax.lax.linalg's primitives: tridiagonal_solve (LAPACK's gtsv, differentiable
in every operand), and the reductions hessenberg (gehrd), tridiagonal (sytrd/hetrd) and
schur (gees), which have no derivative rule (as in JAX).

tridiagonal_solve's Numba lowering is a generated loop (gtsv's algorithm: Gaussian
elimination with partial pivoting on the tridiagonal band); hessenberg, tridiagonal and
schur call LAPACK through SciPy from the program's Python driver (Numba binds none of
these routines): funcad/lowering/numba/linalg_more_rules.py.
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
    transpose_rules,
)
from funcad.interpreters.ad import Zero, add_tangents, is_undefined
from funcad.interpreters.batching import moveaxis
from funcad.primitives._util import linear_primitives, new_primitive
from funcad.primitives.linalg import _batch_leading, _square_aval

# -- tridiagonal_solve: dl, d, du [..., m], b [..., m, n] -> x [..., m, n] -------------------
# A x = b with A[i, i-1] = dl[i], A[i, i] = d[i], A[i, i+1] = du[i] (dl[0] and du[m-1] are
# not read), JAX's argument convention. Values as LAPACK's gtsv (partial pivoting); a
# matrix gtsv finds singular gives NaNs (JAX replaces a failed solve by NaNs). Linear in b
# (transpose: the transposed band), nonlinear in the diagonals (JAX's jvp:
# dx = A^-1 (db - dA x)). perturb_singular=True: JAX's CPU kernel instead (scaled partial
# pivoting, tiny pivots perturbed by eps * max|U|: large finite solutions of singular
# systems, for inverse iteration), _runtime.tridiagonal_solve_perturbed.

tridiagonal_solve_p = new_primitive("tridiagonal_solve")


def _gtsv(dtype):
    from scipy.linalg import lapack
    return lapack.get_lapack_funcs("gtsv", dtype=dtype)


def perturbed_constants(dtype):
    """(eps, safemin) of jaxlib's perturbed tridiagonal solve (LAPACK's xLAMCH safemin)."""
    fi = np.finfo(dtype)
    tiny, small = float(fi.tiny), 1.0 / float(fi.max)
    return float(fi.eps), (tiny if small < tiny else small * (1.0 + float(fi.eps)))


def _tridiagonal_solve_impl(dl, d, du, b, *, perturb_singular=False):
    dl, d, du, b = (np.asarray(v) for v in (dl, d, du, b))
    _tridiagonal_solve_aval(*(get_aval(v) for v in (dl, d, du, b)))
    m, k = b.shape[-2:]
    out = np.empty(b.shape, b.dtype)
    if out.size == 0:
        return out
    lead = b.shape[:-2]
    fl, fd, fu = (np.ascontiguousarray(v.reshape((-1, m))) for v in (dl, d, du))
    fb, fo = np.ascontiguousarray(b.reshape((-1, m, k))), out.reshape((-1, m, k))
    if perturb_singular:
        from funcad.lowering.numba._runtime import tridiagonal_solve_perturbed
        fo[...] = tridiagonal_solve_perturbed(fl, fd, fu, fb, *perturbed_constants(b.dtype))
        return out
    gtsv = _gtsv(b.dtype)
    for i in range(fb.shape[0]):
        if m == 1:
            fo[i] = fb[i] / fd[i, 0] if fd[i, 0] != 0 else np.nan
            continue
        _, _, _, x, info = gtsv(fl[i, 1:], fd[i], fu[i, :-1], fb[i])
        fo[i] = x if info == 0 else np.nan
    return out.reshape(lead + (m, k))


def _tridiagonal_solve_aval(dl, d, du, b, *, perturb_singular=False):
    if not (dl.shape == d.shape == du.shape):
        raise TypeError(f"tridiagonal_solve: the diagonals dl, d, du must have one shape, got "
                        f"{dl.shape}, {d.shape}, {du.shape}")
    if b.ndim < 2 or b.shape[:-1] != d.shape:
        raise TypeError(f"tridiagonal_solve: b must have shape diagonals' shape + (n,): got "
                        f"b {b.shape} with diagonals {d.shape}")
    if not (dl.dtype == d.dtype == du.dtype == b.dtype):
        raise TypeError(f"tridiagonal_solve: operands must have one dtype, got "
                        f"{dl.dtype.name}, {d.dtype.name}, {du.dtype.name}, {b.dtype.name}")
    if not np.issubdtype(b.dtype, np.inexact):
        raise TypeError(f"tridiagonal_solve: expected floating-point or complex operands, "
                        f"got {b.dtype.name}")
    return ShapedArray(b.shape, b.dtype)


def tridiagonal_product(dl, d, du, x):
    """A @ x for the band (dl, d, du) of JAX's convention (dl[0], du[-1] not read)."""
    import funcad.numpy as fnp
    nd = len(get_aval(x).shape)
    lead = [(0, 0)] * (nd - 2)
    y = d[..., :, None] * x
    y = y + fnp.pad(dl[..., 1:, None] * x[..., :-1, :], lead + [(1, 0), (0, 0)])
    y = y + fnp.pad(du[..., :-1, None] * x[..., 1:, :], lead + [(0, 1), (0, 0)])
    return y


def _tridiagonal_solve_jvp(primals, tangents, *, perturb_singular=False):
    from funcad.primitives.elementwise import neg_p
    dl, d, du, b = primals
    tdl, td, tdu, tb = tangents
    x = tridiagonal_solve_p.bind(dl, d, du, b, perturb_singular=perturb_singular)
    rhs = tb
    if not all(type(t) is Zero for t in (tdl, td, tdu)):
        zero = lambda t, ref: t if type(t) is not Zero else np.zeros(  # noqa: E731
            get_aval(ref).shape, get_aval(ref).dtype)
        dax = tridiagonal_product(zero(tdl, dl), zero(td, d), zero(tdu, du), x)
        rhs = add_tangents(rhs, neg_p.bind(dax))
    if type(rhs) is Zero:
        return x, Zero(get_aval(x))
    return x, tridiagonal_solve_p.bind(dl, d, du, rhs, perturb_singular=perturb_singular)


def transposed_band(dl, du):
    """(dl, du) of the transposed matrix, in JAX's convention."""
    import funcad.numpy as fnp
    nd = len(get_aval(dl).shape)
    lead = [(0, 0)] * (nd - 1)
    return (fnp.pad(du[..., :-1], lead + [(1, 0)]), fnp.pad(dl[..., 1:], lead + [(0, 1)]))


def _tridiagonal_solve_transpose(ct, dl, d, du, b, *, perturb_singular=False):
    if is_undefined(dl) or is_undefined(d) or is_undefined(du):
        raise NotImplementedError("tridiagonal_solve: the diagonals cannot be linear "
                                  "(the solve is linear in b only)")
    if type(ct) is Zero:
        return [None, None, None, Zero(b.aval)]
    dl_t, du_t = transposed_band(dl, du)
    return [None, None, None, tridiagonal_solve_p.bind(dl_t, d, du_t, ct,
                                                       perturb_singular=perturb_singular)]


impl_rules[tridiagonal_solve_p] = _tridiagonal_solve_impl
abstract_eval_rules[tridiagonal_solve_p] = _tridiagonal_solve_aval
jvp_rules[tridiagonal_solve_p] = _tridiagonal_solve_jvp
transpose_rules[tridiagonal_solve_p] = _tridiagonal_solve_transpose
linear_primitives.add(tridiagonal_solve_p)
_batch_leading(tridiagonal_solve_p)
# lowering: funcad/lowering/numba/linalg_more_rules.py (a generated gtsv loop)


# -- hessenberg, tridiagonal, schur: LAPACK reductions without derivatives ------------------
# JAX defines no jvp for them; here the jvp rule passes symbolic-zero tangents through (so
# code that only reads them, or differentiates something else, works) and raises
# NotImplementedError naming the primitive when a tangent is nonzero.

def _no_derivative(prim, name):
    def jvp(primals, tangents, **params):
        outs = prim.bind(*primals, **params)
        if all(type(t) is Zero for t in tangents):
            return outs, [Zero(get_aval(o)) for o in outs]
        raise NotImplementedError(
            f"{name}: differentiation is not implemented (JAX defines no derivative rule "
            f"for {name} either); wrap it in stop_gradient, or define one with custom_jvp")
    jvp_rules[prim] = jvp


def _real_of(dtype):
    return np.finfo(dtype).dtype if np.dtype(dtype).kind == "c" else np.dtype(dtype)


def _per_matrix(a, fn, out_avals):
    """Apply `fn` (one matrix -> list of arrays) to every matrix of a stack."""
    lead = a.shape[:-2]
    outs = [np.empty(o.shape, o.dtype) for o in out_avals]
    count = int(np.prod(lead, dtype=np.int64))
    flat = a.reshape((count,) + a.shape[-2:])
    flat_outs = [o.reshape((count,) + o.shape[len(lead):]) for o in outs]
    for i in range(flat.shape[0]):
        for dst, src in zip(flat_outs, fn(flat[i]), strict=True):
            dst[i] = src
    return outs


# hessenberg: a [..., n, n] -> (a_packed [..., n, n], taus [..., n-1]) as LAPACK's gehrd:
# H in the upper triangle and first subdiagonal, the Householder vectors below it.

hessenberg_p = new_primitive("hessenberg", multiple_results=True)


def _hessenberg_aval(a):
    _square_aval("hessenberg")(a)
    n = a.shape[-1]
    return [ShapedArray(a.shape, a.dtype), ShapedArray(a.shape[:-2] + (max(n - 1, 0),),
                                                       a.dtype)]


def hessenberg_matrix(a):
    """gehrd of one matrix: [packed, taus] (NaNs if LAPACK reports a failure)."""
    from scipy.linalg import lapack
    n = a.shape[-1]
    if n <= 1:
        return [a.copy(), np.zeros((max(n - 1, 0),), a.dtype)]
    gehrd, gehrd_lwork = lapack.get_lapack_funcs(("gehrd", "gehrd_lwork"), (a,))
    lwork = int(np.real(gehrd_lwork(n)[0])) if gehrd_lwork is not None else max(n, 1)
    ht, tau, info = gehrd(a, lwork=max(lwork, n))
    if info != 0:
        return [np.full_like(a, np.nan), np.full((n - 1,), np.nan, a.dtype)]
    return [np.asarray(ht, a.dtype), np.asarray(tau, a.dtype)]


def _hessenberg_impl(a):
    a = np.asarray(a)
    return _per_matrix(a, hessenberg_matrix, _hessenberg_aval(get_aval(a)))


impl_rules[hessenberg_p] = _hessenberg_impl
abstract_eval_rules[hessenberg_p] = _hessenberg_aval
_no_derivative(hessenberg_p, "hessenberg")
_batch_leading(hessenberg_p, n_out=2)

# tridiagonal: a [..., n, n] Hermitian -> (a_packed, d [..., n] real, e [..., n-1] real,
# taus [..., n-1]) as LAPACK's sytrd/hetrd (only the `lower` or upper triangle is read).

tridiagonal_p = new_primitive("tridiagonal", multiple_results=True)


def _tridiagonal_aval(a, *, lower):
    _square_aval("tridiagonal")(a)
    n = a.shape[-1]
    if n == 0:
        raise ValueError(f"tridiagonal: expected a non-empty square matrix, got shape "
                         f"{a.shape}")
    lead, r = a.shape[:-2], _real_of(a.dtype)
    return [ShapedArray(a.shape, a.dtype), ShapedArray(lead + (n,), r),
            ShapedArray(lead + (n - 1,), r), ShapedArray(lead + (n - 1,), a.dtype)]


def tridiagonal_matrix(a, lower):
    """sytrd/hetrd of one matrix: [packed, d, e, taus]."""
    from scipy.linalg import lapack
    n = a.shape[-1]
    r = _real_of(a.dtype)
    if n == 1:
        return [a.copy(), np.real(np.diagonal(a)).astype(r), np.zeros((0,), r),
                np.zeros((0,), a.dtype)]
    name = "hetrd" if a.dtype.kind == "c" else "sytrd"
    trd, trd_lwork = lapack.get_lapack_funcs((name, name + "_lwork"), (a,))
    lwork = int(np.real(trd_lwork(n, lower=int(lower))[0]))
    c, d, e, tau, info = trd(a, lower=int(lower), lwork=max(lwork, 1))
    if info != 0:
        nan = np.nan
        return [np.full_like(a, nan), np.full((n,), nan, r), np.full((n - 1,), nan, r),
                np.full((n - 1,), nan, a.dtype)]
    return [np.asarray(c, a.dtype), np.asarray(d, r), np.asarray(e, r),
            np.asarray(tau, a.dtype)]


def _tridiagonal_impl(a, *, lower):
    a = np.asarray(a)
    return _per_matrix(a, lambda m: tridiagonal_matrix(m, lower),
                       _tridiagonal_aval(get_aval(a), lower=lower))


impl_rules[tridiagonal_p] = _tridiagonal_impl
abstract_eval_rules[tridiagonal_p] = _tridiagonal_aval
_no_derivative(tridiagonal_p, "tridiagonal")
_batch_leading(tridiagonal_p, n_out=4)

# schur: a [..., n, n] -> [T, vs] (vectors=False: [T]) as LAPACK's gees without sorting:
# real input, the real Schur form (quasi-triangular, 2x2 blocks for complex pairs);
# complex input, the complex (triangular) one. a = vs T vs^H.

schur_p = new_primitive("schur", multiple_results=True)


def _schur_aval(a, *, compute_schur_vectors):
    _square_aval("schur")(a)
    t = ShapedArray(a.shape, a.dtype)
    return [t, t] if compute_schur_vectors else [t]


def schur_matrix(a, compute_schur_vectors):
    """gees of one matrix: [T, vs] or [T] (NaNs if LAPACK reports no convergence)."""
    import scipy.linalg
    n = a.shape[-1]
    if n == 0:
        return [a.copy(), a.copy()] if compute_schur_vectors else [a.copy()]
    try:
        t, z = scipy.linalg.schur(a, output="complex" if a.dtype.kind == "c" else "real",
                                  check_finite=False)
    except (np.linalg.LinAlgError, ValueError):
        t = z = np.full_like(a, np.nan)
    t, z = np.asarray(t, a.dtype), np.asarray(z, a.dtype)
    return [t, z] if compute_schur_vectors else [t]


def _schur_impl(a, *, compute_schur_vectors):
    a = np.asarray(a)
    return _per_matrix(a, lambda m: schur_matrix(m, compute_schur_vectors),
                       _schur_aval(get_aval(a), compute_schur_vectors=compute_schur_vectors))


impl_rules[schur_p] = _schur_impl
abstract_eval_rules[schur_p] = _schur_aval
_no_derivative(schur_p, "schur")


def _schur_batch(size, vals, dims, *, compute_schur_vectors):
    outs = schur_p.bind(moveaxis(vals[0], dims[0], 0, size),
                        compute_schur_vectors=compute_schur_vectors)
    return outs, [0] * len(outs)


batch_rules[schur_p] = _schur_batch

__all__ = ["hessenberg_p", "schur_p", "tridiagonal_p", "tridiagonal_solve_p",
           "tridiagonal_product", "transposed_band"]
