"""Testing helpers: check derivatives against central finite differences.

Complex inputs and outputs are checked as JAX checks them: a complex value is a pair of
reals, random directions have random real and imaginary parts, and reverse mode is
checked against the bilinear pairing <u, v> = Re(sum(u * v)) (no conjugation), for which
funcad's (and JAX's) vjp is the transpose of the jvp.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from funcad._tree import tree_flatten, tree_map, tree_unflatten
from funcad.api import jvp, vjp

_DEFAULT_EPS = {np.dtype(np.float64): 1e-5, np.dtype(np.float32): 3e-3}
_DEFAULT_TOL = {np.dtype(np.float64): 1e-5, np.dtype(np.float32): 3e-2}


def _wide(a) -> np.ndarray:
    a = np.asarray(a)
    return a.astype(np.complex128 if a.dtype.kind == "c" else np.float64)


def _vdot(a_leaves, b_leaves) -> float:
    return float(sum(np.real(np.sum(_wide(a) * _wide(b)))
                     for a, b in zip(a_leaves, b_leaves, strict=True)))


def _random_like(rng: np.random.Generator, x: Any) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype.kind == "c":
        return (rng.standard_normal(x.shape) + 1j * rng.standard_normal(x.shape)
                ).astype(x.dtype)
    return rng.standard_normal(x.shape).astype(x.dtype)


def _axpy(a: float, x_leaves, y_leaves):
    return [np.asarray(y + a * x, dtype=np.asarray(y).dtype) for x, y in zip(x_leaves,
                                                                              y_leaves)]


def _numerical_jvp(f: Callable, args: Sequence, tangents: Sequence, eps: float):
    a_leaves, tree = tree_flatten(tuple(args))
    t_leaves, _ = tree_flatten(tuple(tangents))
    plus = tree_unflatten(tree, _axpy(eps, t_leaves, a_leaves))
    minus = tree_unflatten(tree, _axpy(-eps, t_leaves, a_leaves))
    fp, fm = f(*plus), f(*minus)
    return tree_map(lambda p, m: (_wide(p) - _wide(m)) / (2 * eps), fp, fm)


def _assert_close(what: str, expected, actual, atol: float, rtol: float, fname: str) -> None:
    e_leaves, e_tree = tree_flatten(expected)
    a_leaves, a_tree = tree_flatten(actual)
    if e_tree != a_tree:
        raise AssertionError(f"check_grads({fname}): {what}: structures differ: {e_tree} vs "
                             f"{a_tree}")
    for i, (e, a) in enumerate(zip(e_leaves, a_leaves)):
        e, a = _wide(e), _wide(a)
        if e.shape != a.shape:
            raise AssertionError(f"check_grads({fname}): {what}: output {i} has shape "
                                 f"{a.shape}, finite differences give {e.shape}")
        if not np.allclose(a, e, atol=atol, rtol=rtol, equal_nan=True):
            err = np.max(np.abs(a - e)) if a.size else 0.0
            raise AssertionError(
                f"check_grads({fname}): {what} disagrees with finite differences "
                f"(output {i}, max abs error {err:.3g}, atol={atol:g}, rtol={rtol:g}).\n"
                f"  expected (numerical): {np.array2string(e, precision=6, threshold=20)}\n"
                f"  got (funcad):         {np.array2string(a, precision=6, threshold=20)}")


def check_jvp(f: Callable, args: Sequence, *, eps: float | None = None,
              atol: float | None = None, rtol: float | None = None, seed: int = 0) -> None:
    """Check `jvp(f)` in a random direction against central finite differences."""
    rng = np.random.default_rng(seed)
    leaves, tree = tree_flatten(tuple(args))
    dtype = _common_dtype(leaves)
    eps = eps or _DEFAULT_EPS[dtype]
    atol = atol or _DEFAULT_TOL[dtype]
    rtol = rtol or _DEFAULT_TOL[dtype]
    tangents = tree_unflatten(tree, [_random_like(rng, x) for x in leaves])
    _, t_out = jvp(f, tuple(args), tuple(tangents))
    t_num = _numerical_jvp(f, args, tangents, eps)
    _assert_close("jvp (forward mode)", t_num, t_out, atol, rtol, _name(f))


def check_vjp(f: Callable, args: Sequence, *, eps: float | None = None,
              atol: float | None = None, rtol: float | None = None, seed: int = 0) -> None:
    """Check `vjp(f)` against finite differences: <u, J v> == <J^T u, v>."""
    rng = np.random.default_rng(seed + 1)
    leaves, tree = tree_flatten(tuple(args))
    dtype = _common_dtype(leaves)
    eps = eps or _DEFAULT_EPS[dtype]
    atol = atol or _DEFAULT_TOL[dtype]
    rtol = rtol or _DEFAULT_TOL[dtype]
    v_leaves = [_random_like(rng, x) for x in leaves]
    out, f_vjp = vjp(f, *args)
    out_leaves, out_tree = tree_flatten(out)
    u_leaves = [_random_like(rng, o) for o in out_leaves]
    ct_in = f_vjp(tree_unflatten(out_tree, u_leaves))
    ct_leaves, _ = tree_flatten(ct_in)
    lhs = _vdot(ct_leaves, v_leaves)
    num = _numerical_jvp(f, args, tree_unflatten(tree, v_leaves), eps)
    rhs = _vdot(u_leaves, tree_flatten(num)[0])
    _assert_close("vjp (reverse mode): <vjp(u), v>", np.float64(rhs), np.float64(lhs),
                  atol * max(1.0, abs(rhs)), rtol, _name(f))


def check_grads(f: Callable, args: Sequence, order: int = 2,
                modes: Sequence[str] = ("fwd", "rev"), *, eps: float | None = None,
                atol: float | None = None, rtol: float | None = None, seed: int = 0) -> None:
    """Check derivatives of `f` at `args` up to `order` against central finite differences.

    Forward mode compares `jvp` in a random direction; reverse mode compares the vjp with
    a random cotangent through the identity <u, J v> = <J^T u, v>. Higher orders apply the
    same checks to the jvp and vjp functions themselves. Raises AssertionError with the
    expected and actual values when they disagree.

    >>> import funcad.numpy as fnp
    >>> check_grads(fnp.sin, (0.5,), order=2)
    """
    args = tuple(np.asarray(a, dtype=np.result_type(a, np.float64)
                            if not hasattr(a, "dtype") else a.dtype) for a in args)
    kw = dict(eps=eps, atol=atol, rtol=rtol)
    for mode in modes:
        if mode not in ("fwd", "rev"):
            raise ValueError(f"check_grads: unknown mode {mode!r} (use 'fwd' or 'rev')")
    if "fwd" in modes:
        check_jvp(f, args, seed=seed, **kw)
    if "rev" in modes:
        check_vjp(f, args, seed=seed, **kw)
    if order > 1:
        rng = np.random.default_rng(seed + 2)
        leaves, tree = tree_flatten(args)
        if "fwd" in modes:
            v = tree_unflatten(tree, [_random_like(rng, x) for x in leaves])

            def f_jvp(*a):
                return jvp(f, a, tuple(v))[1]
            f_jvp.__name__ = f"jvp({_name(f)})"
            check_grads(f_jvp, args, order - 1, modes, seed=seed + 3, **kw)
        if "rev" in modes:
            out = f(*args)
            out_leaves, out_tree = tree_flatten(out)
            u = tree_unflatten(out_tree, [_random_like(rng, o) for o in out_leaves])

            def f_vjp(*a):
                return vjp(f, *a)[1](u)
            f_vjp.__name__ = f"vjp({_name(f)})"
            check_grads(f_vjp, args, order - 1, modes, seed=seed + 4, **kw)


def _common_dtype(leaves) -> np.dtype:
    dts = {np.asarray(x).dtype for x in leaves}
    if np.dtype(np.float32) in dts or np.dtype(np.complex64) in dts:
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def _name(f: Callable) -> str:
    return getattr(f, "__name__", type(f).__name__)
