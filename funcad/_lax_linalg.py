"""funcad.lax.linalg: JAX's lower-level linear algebra (over funcad.numpy.linalg)."""

from __future__ import annotations

from typing import Any

import numpy as np

import funcad.numpy as fnp
from funcad.primitives import linalg as la

__all__ = ["cholesky", "cholesky_update", "eig", "eigh", "hessenberg", "householder_product",
           "lu", "lu_pivots_to_permutation", "ormqr", "qdwh", "qr", "schur", "svd",
           "symmetric_product", "triangular_solve", "tridiagonal", "tridiagonal_solve"]


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


def qr(x: Any, *, pivoting: bool = False, full_matrices: bool = True,
       use_magma: bool | None = None) -> tuple:
    """(q, r), or (q, r, p) with `pivoting`: x[..., :, p] = q @ r, the columns ordered by
    LAPACK's geqp3 (rank-revealing: |diag(r)| non-increasing). full_matrices=True needs
    rows <= columns here (else use False); use_magma is unused.

    The pivots come from SciPy's geqp3 (a callback, also from compiled code) and carry no
    derivative; q and r are the QR decomposition of the permuted columns, differentiable
    as JAX's (its derivative permutes the tangent's columns the same way)."""
    del use_magma
    mode = "complete" if full_matrices else "reduced"
    if not pivoting:
        return tuple(fnp.linalg.qr(x, mode=mode))
    from funcad import lax
    from funcad._callback import pure_callback
    from funcad._extras import ShapeDtypeStruct
    (x,) = fnp._base.promote_inexact(x)
    shape = fnp.shape(x)
    if len(shape) < 2:
        raise ValueError(f"lax.linalg.qr: x must have at least 2 dimensions, got {shape}")
    p = pure_callback(_geqp3_pivots, ShapeDtypeStruct((*shape[:-2], shape[-1]), np.int32),
                      lax.stop_gradient(x), vmap_method="sequential")
    cols = fnp.broadcast_to(fnp.expand_dims(p, -2), shape)
    q, r = fnp.linalg.qr(fnp.take_along_axis(x, cols, axis=-1), mode=mode)
    return q, r, p


def _geqp3_pivots(a: np.ndarray) -> np.ndarray:
    """Column pivots of LAPACK's QR with column pivoting (geqp3), per matrix of a stack."""
    import scipy.linalg
    a = np.asarray(a)
    out = np.empty((*a.shape[:-2], a.shape[-1]), np.int32)
    for idx in np.ndindex(*a.shape[:-2]):
        out[idx] = scipy.linalg.qr(a[idx], mode="r", pivoting=True, check_finite=False)[1]
    return out


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


def _square_matrix(name, x):
    (x,) = fnp._base.promote_inexact(x)
    shape = fnp.shape(x)
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise ValueError(f"lax.linalg.{name}: expected a square matrix (or a stack of them), "
                         f"got shape {tuple(shape)}")
    return x


def tridiagonal_solve(dl: Any, d: Any, du: Any, b: Any, *,
                      perturb_singular: bool = False) -> Any:
    """Solve the tridiagonal system A x = b (LAPACK's gtsv), as jax.lax.linalg.tridiagonal_solve.

    Args:
      dl, d, du: the sub-, main and superdiagonal [..., m]: A[i, i-1] = dl[i] (dl[0] is not
        read), A[i, i] = d[i], A[i, i+1] = du[i] (du[m-1] is not read).
      b: right-hand sides [..., m, n].
      perturb_singular: as JAX's CPU kernel, perturb tiny pivots (by about
        eps * max|U|) so that a singular system has a large finite solution (inverse
        iteration); else a system LAPACK finds singular (a zero pivot) gives NaNs.
    Returns: x [..., m, n]. Differentiable in all four operands (forward and reverse, any
    order), batched under vmap and lowered under jit (a generated loop with gtsv's partial
    pivoting; perturb_singular: a compiled helper).

    >>> tridiagonal_solve(np.array([0., 1.]), np.array([2., 2.]), np.array([1., 0.]),
    ...                   np.array([[3.], [3.]])).tolist()
    [[1.0], [1.0]]
    """
    from funcad.primitives.linalg_more import tridiagonal_solve_p
    dl, d, du, b = fnp._base.promote_inexact(dl, d, du, b)
    dt = np.result_type(*(fnp.result_type(v) for v in (dl, d, du, b)))
    dl, d, du, b = (v.astype(dt) if fnp.result_type(v) != dt else v for v in (dl, d, du, b))
    return tridiagonal_solve_p.bind(dl, d, du, b, perturb_singular=bool(perturb_singular))


def hessenberg(a: Any) -> tuple:
    """(a, taus): Hessenberg reduction packed as LAPACK's gehrd, as jax.lax.linalg.hessenberg.

    The upper triangle and first subdiagonal of `a` [..., n, n] hold the Hessenberg matrix
    H, the entries below it the Householder vectors (v_i[i+1] = 1 implicit, v_i[i+2:] in
    column i), and taus [..., n-1] their scalar factors: a = Q H Q^H with
    Q = H_0 ... H_{n-2}, H_i = I - tau_i v_i v_i^H (householder_product). Real and complex;
    no derivative (as JAX); under jit LAPACK runs from the Python driver.
    """
    from funcad.primitives.linalg_more import hessenberg_p
    return tuple(hessenberg_p.bind(_square_matrix("hessenberg", a)))


def tridiagonal(a: Any, *, lower: bool = True) -> tuple:
    """(a, d, e, taus): reduction of a symmetric/Hermitian matrix to tridiagonal form, packed
    as LAPACK's sytrd/hetrd, as jax.lax.linalg.tridiagonal.

    Only the `lower` (or upper) triangle of `a` [..., n, n] is read. `d` [..., n] and
    `e` [..., n-1] (real) are the diagonal and off-diagonal of the tridiagonal matrix; the
    returned `a` holds them on its diagonal and first sub- (lower) or superdiagonal, and
    the Householder vectors beyond it, with `taus` [..., n-1] their factors. No derivative
    (as JAX); under jit LAPACK runs from the Python driver.
    """
    from funcad.primitives.linalg_more import tridiagonal_p
    return tuple(tridiagonal_p.bind(_square_matrix("tridiagonal", a), lower=bool(lower)))


def schur(x: Any, *, compute_schur_vectors: bool = True, sort_eig_vals: bool = False,
          select_callable: Any = None) -> Any:
    """(T, vs): Schur decomposition x = vs T vs^H (LAPACK's gees), as jax.lax.linalg.schur.

    Real input gives the real Schur form (upper quasi-triangular: 2x2 diagonal blocks for
    complex-conjugate eigenvalue pairs), complex input the complex (upper triangular) one;
    vs is orthogonal/unitary. compute_schur_vectors=False returns [T]. sort_eig_vals is not
    implemented (JAX raises too) and select_callable is unused. No derivative (as JAX);
    under jit LAPACK runs from the Python driver.
    """
    from funcad.primitives.linalg_more import schur_p
    del select_callable
    if sort_eig_vals:
        raise NotImplementedError("lax.linalg.schur: sort_eig_vals=True (the sort feature of "
                                  "LAPACK's gees) is not implemented, as in JAX")
    outs = schur_p.bind(_square_matrix("schur", x),
                        compute_schur_vectors=bool(compute_schur_vectors))
    return tuple(outs) if compute_schur_vectors else list(outs)


def householder_product(a: Any, taus: Any) -> Any:
    """The [..., m, n] matrix of orthonormal columns H_0 H_1 ... H_{k-1} (first n columns),
    H_i = I - taus[i] v_i v_i^H with v_i in column i of `a` below the diagonal (v_i[i] = 1),
    as LAPACK's orgqr/ungqr and jax.lax.linalg.householder_product. Built from funcad
    operations, so differentiable, jittable and batched.
    """
    a, taus = fnp._base.promote_inexact(a, taus)
    dt = np.result_type(fnp.result_type(a), fnp.result_type(taus))
    a, taus = a.astype(dt), taus.astype(dt)
    shape = fnp.shape(a)
    if len(shape) < 2:
        raise ValueError(f"householder_product: expected a matrix, got shape {tuple(shape)}")
    m, n = shape[-2:]
    k = fnp.shape(taus)[-1]
    if m < n or k > n:
        raise ValueError(f"householder_product: need m >= n >= k, got a {tuple(shape)} and "
                         f"taus {tuple(fnp.shape(taus))}")
    q = fnp.broadcast_to(np.eye(m, n, dtype=dt), shape[:-2] + (m, n))
    # Q = H_0 (H_1 (... (H_{k-1} I))): apply the reflectors from the last to the first
    for i in reversed(range(k)):
        v = _reflector(a, i, dt)
        w = fnp.matmul(fnp.conj(la._mT(v)), q)                       # v^H Q  [.., 1, n]
        q = q - taus[..., i, None, None] * fnp.matmul(v, w)
    return q


def _H(x):
    return fnp.conj(la._mT(x))


def qdwh(x: Any, *, is_hermitian: bool = False, max_iterations: int | None = None,
         eps: float | None = None, dynamic_shape: tuple[int, int] | None = None) -> tuple:
    """(u, h, num_iters, is_converged): polar decomposition x = u h of an m x n matrix
    (m >= n) by the QR-based dynamically weighted Halley iteration (QDWH), as
    jax.lax.linalg.qdwh.

    u has orthonormal columns, h (n x n) is Hermitian positive semidefinite. Written with
    funcad operations (QR steps while the weights are large, Cholesky steps after, then
    Halley steps in a while_loop until the iterates change by less than
    (5 eps)^(1/3), at most `max_iterations` (default 10) in all, and one Newton-Schulz
    step), so it runs under jit and vmap and is differentiable through the iteration.
    `is_hermitian` is unused (as in JAX); `dynamic_shape` (m, n), static here, computes the
    decomposition of x[:m, :n] and pads u and h with zeros.
    """
    from funcad import lax as flax
    from funcad.scipy.linalg import cho_solve
    del is_hermitian
    (x,) = fnp._base.promote_inexact(x)
    shape = tuple(fnp.shape(x))
    if len(shape) != 2:
        raise ValueError(f"lax.linalg.qdwh: expected a matrix, got shape {shape} (use vmap "
                         f"for stacks)")
    M, N = shape
    if M < N:
        raise ValueError("lax.linalg.qdwh: the input matrix of shape M x N must have M >= N")
    max_iterations = 10 if max_iterations is None else int(max_iterations)
    if dynamic_shape is not None:
        m, n = (int(v) for v in dynamic_shape)
        u, h, k, ok = qdwh(x[:m, :n], max_iterations=max_iterations, eps=eps)
        return (fnp.pad(u, [(0, M - m), (0, N - n)]), fnp.pad(h, [(0, N - n), (0, N - n)]),
                k, ok)
    dt = np.dtype(fnp.result_type(x))
    eps = float(np.finfo(dt).eps) if eps is None else float(eps)
    eye = np.eye(N, dtype=dt)

    # alpha >= ||x||_2 from sqrt(||x||_1 ||x||_inf); u0 = x / alpha has ||u0||_2 <= 1
    one_norm = fnp.linalg.norm(x, ord=1)
    inf_norm = fnp.linalg.norm(x, ord=np.inf)
    alpha_inv = fnp.where(one_norm == 0, 1.0,
                          flax.rsqrt(fnp.where(one_norm == 0, 1.0, one_norm))
                          * flax.rsqrt(fnp.where(inf_norm == 0, 1.0, inf_norm)))
    u = x * alpha_inv.astype(dt)

    # The weights (a, b, c) of each step follow from the bound l on the smallest singular
    # value alone, so they are computed here in Python (as JAX does), l0 = eps.
    l, tol_l = eps, 10.0 * eps / 2.0
    tol_norm = tol_l ** (1.0 / 3.0)
    steps = []
    while l + tol_l < 1 and len(steps) < max_iterations:
        l2 = l * l
        dd = (4 * (1 / l2 - 1) / l2) ** (1 / 3)
        sqd = (1.0 + dd) ** 0.5
        a = sqd + (2 - dd + 2 * (2 - l2) / (l2 * sqd)) ** 0.5
        b = (a - 1) ** 2 / 4
        c = a + b - 1
        l = l * (a + b * l2) / (1 + c * l2)
        steps.append((a, b, c))

    def qr_step(u, a, b, c):
        # u <- (b/c) u + (a - b/c)/sqrt(c) q1 q2^H with [sqrt(c) u; I] = [q1; q2] r
        e, sqrt_c = b / c, float(c) ** 0.5
        q, _ = fnp.linalg.qr(fnp.concatenate([sqrt_c * u, eye], axis=0), mode="reduced")
        return e * u + ((a - e) / sqrt_c) * fnp.matmul(q[:M], _H(q[M:]))

    def chol_step(u, a, b, c):
        # u <- (b/c) u + (a - b/c) u (c u^H u + I)^-1 (one Cholesky factorisation)
        e = b / c
        y = fnp.linalg.cholesky(c * fnp.matmul(_H(u), u) + eye)
        z = _H(cho_solve((y, True), _H(u)))
        return e * u + (a - e) * z

    not_converged = fnp.asarray(True)
    for a, b, c in steps:
        if c > 100:
            u = qr_step(u, a, b, c)
        else:
            u_prev = u
            u = chol_step(u, a, b, c)
            not_converged = fnp.linalg.norm(u - u_prev) > tol_norm

    def cond(state):
        k, _, nc = state
        return fnp.logical_and(nc, k < max_iterations)

    def body(state):
        k, u, _ = state
        u_new = chol_step(u, 3.0, 1.0, 3.0)      # a, b, c -> 3, 1, 3: Halley's iteration
        return k + 1, u_new, fnp.linalg.norm(u_new - u) > tol_norm

    num_iters, u, not_converged = flax.while_loop(
        cond, body, (fnp.asarray(len(steps), dtype=np.int32), u, not_converged))
    # one Newton-Schulz step for accuracy, then h = u^H x made exactly Hermitian
    u = 1.5 * u - 0.5 * fnp.matmul(u, fnp.matmul(_H(u), u))
    h = fnp.matmul(_H(u), x)
    h = (h + _H(h)) / 2
    return u, h, num_iters, fnp.logical_not(not_converged)


def _reflector(a, i, dt):
    """The Householder vector v_i of LAPACK's packed form: column i of `a` below row i,
    v_i[i] = 1, zeros above ([..., m, 1])."""
    rows = np.arange(fnp.shape(a)[-2])[:, None]
    return fnp.where(rows > i, a[..., :, i:i + 1], fnp.where(rows == i, 1, 0).astype(dt))


def ormqr(a: Any, taus: Any, c: Any, *, left: bool = True, transpose: bool = False) -> Any:
    """Q @ c, Q^H @ c (transpose), c @ Q (left=False) or c @ Q^H, with Q = H_0 ... H_{k-1}
    the m x m product of the Householder reflectors packed in `a` [..., m, n] and `taus`
    [..., k] (LAPACK's geqrf form), without forming Q, as jax.lax.linalg.ormqr. Built
    from funcad operations: differentiable, jittable, batched.
    """
    a, taus, c = fnp._base.promote_inexact(a, taus, c)
    dt = np.result_type(*(fnp.result_type(v) for v in (a, taus, c)))
    a, taus, c = a.astype(dt), taus.astype(dt), c.astype(dt)
    m = fnp.shape(a)[-2]
    k = fnp.shape(taus)[-1]
    if (fnp.shape(c)[-2] if left else fnp.shape(c)[-1]) != m:
        raise ValueError(f"ormqr: c {tuple(fnp.shape(c))} does not match the {m} rows of the "
                         f"Householder matrix a {tuple(fnp.shape(a))} (left={left})")
    # Q c = H_0 (... (H_{k-1} c)); Q^H c = H_{k-1}^H (... (H_0^H c)); c Q = ((c H_0) ...) H_{k-1}
    order = range(k) if left == transpose else reversed(range(k))
    for i in order:
        v = _reflector(a, i, dt)
        tau = taus[..., i, None, None]
        if transpose:
            tau = fnp.conj(tau)
        if left:
            c = c - tau * fnp.matmul(v, fnp.matmul(_H(v), c))
        else:
            c = c - tau * fnp.matmul(fnp.matmul(c, v), _H(v))
    return c


def symmetric_product(a_matrix: Any, c_matrix: Any, *, alpha: float = 1.0, beta: float = 0.0,
                      symmetrize_output: bool = False) -> Any:
    """alpha a a^T + beta c ([..., m, m]) as jax.lax.linalg.symmetric_product; every entry is
    computed (JAX guarantees only the lower triangle unless symmetrize_output, which copies
    the lower triangle to the upper)."""
    a, c = fnp._base.promote_inexact(a_matrix, c_matrix)
    out = alpha * fnp.matmul(a, la._mT(a)) + beta * c
    if symmetrize_output:
        out = fnp.tril(out) + la._mT(fnp.tril(out, -1))
    return out


def cholesky_update(r_matrix: Any, w_vector: Any) -> Any:
    """The upper Cholesky factor of r^T r + w w^T for an upper-triangular r with a positive
    diagonal (A = r^T r), as jax.lax.linalg.cholesky_update (the same factor JAX's Givens
    rotations give; computed here by refactoring, O(n^3), differentiable)."""
    r, w = fnp._base.promote_inexact(r_matrix, w_vector)
    shape = tuple(fnp.shape(r))
    if len(shape) != 2 or shape[0] != shape[1] or tuple(fnp.shape(w)) != shape[:1]:
        raise ValueError(f"cholesky_update: expected a square matrix and a vector of its "
                         f"size, got shapes {shape} and {tuple(fnp.shape(w))}")
    r = fnp.triu(r)
    a = fnp.matmul(la._mT(r), r) + w[:, None] * w[None, :]
    return la._mT(fnp.linalg.cholesky(a))
