"""More of jax.lax, as composites: implicit solves (custom_root, custom_linear_solve),
array constructors and shape helpers, and special functions with JAX's derivative rules.

custom_root and custom_linear_solve trace the user's functions to jaxprs whose closed-over
values become explicit operands, and bind them through funcad.custom_jvp (and, for the
transposable linear solve, funcad.custom_vjp), so the solver's iterations are never
differentiated: derivatives come from the implicit function theorem, as in JAX.
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import funcad.numpy as fnp
from funcad._core import Tracer, get_aval
from funcad._custom_derivatives import custom_jvp, custom_vjp
from funcad._ir import eval_jaxpr
from funcad._tree import tree_flatten, tree_unflatten
from funcad.api import stop_gradient
from funcad.interpreters.partial_eval import trace_to_jaxpr_closed
from funcad.primitives.elementwise import select_n_p

__all__ = [
    "custom_root", "custom_linear_solve", "full", "full_like", "select_n", "reciprocal",
    "nextafter", "optimization_barrier", "split", "collapse", "empty", "broadcast_shapes",
    "reduce_xor", "tile", "stack", "unstack", "polygamma", "zeta", "igamma", "igammac",
    "bessel_i0e", "bessel_i1e", "betainc", "index_take",
]


# ----------------------------------------------------------------------------------
# implicit differentiation: custom_root, custom_linear_solve


def _leaf(x: Any) -> Any:
    return x if isinstance(x, (Tracer, np.ndarray)) else fnp.asarray(x)


def _avals(leaves: Sequence) -> list:
    return [get_aval(x).strip_weak() for x in leaves]


def _check_tree(what: str, got, want, has_aux: bool = False) -> None:
    if got != want:
        extra = " (with has_aux=True, a pair (solution, aux))" if has_aux else ""
        raise TypeError(f"{what} must return a pytree of the structure of its input "
                        f"{want}{extra}, got {got}")


def _fn_of(jaxpr, tree) -> Callable:
    """A jaxpr (consts as leading operands) as a function `consts -> (x -> tree)`."""
    def with_consts(consts: Sequence) -> Callable:
        def fn(x):
            leaves, _ = tree_flatten(x)
            return tree_unflatten(tree, eval_jaxpr(jaxpr, (), [*consts, *map(_leaf, leaves)]))
        return fn
    return with_consts


def _trace_tree_fn(what: str, fun: Callable, in_tree, in_avals: list, out_tree_want=None):
    """Trace `fun(tree) -> tree` at in_avals: (jaxpr, consts, output tree)."""
    box: dict = {}

    def flat(*xs):
        out = fun(tree_unflatten(in_tree, xs))
        leaves, box["tree"] = tree_flatten(out)
        return [_leaf(o) for o in leaves]

    jaxpr, consts = trace_to_jaxpr_closed(flat, in_avals)
    if out_tree_want is not None:
        _check_tree(what, box["tree"], out_tree_want)
    return jaxpr, list(consts), box["tree"]


def _neg_tree(t: Any) -> Any:
    leaves, tree = tree_flatten(t)
    return tree_unflatten(tree, [-_leaf(x) for x in leaves])


def _zeros_tree(t: Any) -> Any:
    leaves, tree = tree_flatten(t)
    return tree_unflatten(tree, [fnp.zeros_like(_leaf(x)) for x in leaves])


def _split_consts(consts: list) -> tuple[list, list, Callable]:
    """(inexact consts: differentiated, the others, merge(inexact) -> all)."""
    kinds = [np.issubdtype(get_aval(c).dtype, np.inexact) for c in consts]
    diff = [c for c, k in zip(consts, kinds) if k]
    other = [c for c, k in zip(consts, kinds) if not k]

    def merge(d):
        it_d, it_o = iter(d), iter(other)
        return [next(it_d) if k else next(it_o) for k in kinds]
    return diff, other, merge


def custom_root(f: Callable, initial_guess: Any, solve: Callable, tangent_solve: Callable,
                has_aux: bool = False) -> Any:
    """solve(f, initial_guess), differentiated implicitly (f(solution) = 0), as JAX's.

    The derivative with respect to what `f` closes over is
    `-tangent_solve(g, d_params f(solution))` with `g` = f linearized at the solution;
    `solve` is never differentiated, and the initial guess gets no derivative.

    >>> import funcad as fa, funcad.numpy as fnp
    >>> def sqrt(a):
    ...     def newton(f, x):
    ...         for _ in range(30):
    ...             x = x - f(x) / fa.grad(f)(x)
    ...         return x
    ...     return custom_root(lambda x: x * x - a, 1.0, newton, lambda g, y: y / g(1.0))
    >>> round(float(fa.grad(sqrt)(4.0)), 12)
    0.25
    """
    g_leaves, g_tree = tree_flatten(initial_guess)
    g_leaves = [_leaf(x) for x in g_leaves]
    g_avals = _avals(g_leaves)
    f_jaxpr, f_consts, _ = _trace_tree_fn("custom_root: f", f, g_tree, g_avals, g_tree)
    f_of = _fn_of(f_jaxpr, g_tree)
    diff, _, merge = _split_consts(f_consts)
    nd = len(diff)

    # solve, as a function of f's (differentiated) consts and the guess; what it closes
    # over besides is not differentiated (JAX: its consts get no tangents)
    box: dict = {}

    def solve_flat(*xs):
        out = solve(f_of(merge(xs[:nd])), tree_unflatten(g_tree, xs[nd:]))
        if has_aux:
            if not (isinstance(out, (tuple, list)) and len(out) == 2):
                raise TypeError("custom_root with has_aux=True: solve must return a pair "
                                "(solution, aux)")
            sol, aux = out
        else:
            sol, aux = out, None
        s_leaves, s_tree = tree_flatten(sol)
        _check_tree("custom_root: solve", s_tree, g_tree, has_aux)
        a_leaves, box["aux_tree"] = tree_flatten(aux)
        box["n_aux"] = len(a_leaves)
        return [_leaf(o) for o in (*s_leaves, *a_leaves)]

    s_jaxpr, s_consts = trace_to_jaxpr_closed(solve_flat, [*_avals(diff), *g_avals])
    n_sol = len(g_leaves)
    aux_tree = box["aux_tree"]

    def unpack(outs):
        sol = tree_unflatten(g_tree, outs[:n_sol])
        if not has_aux:
            return sol
        return sol, tree_unflatten(aux_tree, outs[n_sol:])

    @custom_jvp
    def root(params, guess, solve_consts):
        return eval_jaxpr(s_jaxpr, (), [*solve_consts, *params, *guess])

    @root.defjvp
    def root_jvp(primals, tangents):
        params, guess, solve_consts = primals
        params_dot = tangents[0]
        outs = root(params, guess, solve_consts)
        solution = tree_unflatten(g_tree, outs[:n_sol])
        # F(p, u*(p)) = 0  =>  du* = -(d_u F)^-1 (d_p F dp)
        from funcad.api import jvp
        _, rhs = jvp(lambda p: f_of(merge(p))(solution), (list(params),),
                     (list(params_dot),))

        def g(t):
            return jvp(f_of(merge(params)), (solution,), (t,))[1]

        sol_dot = tangent_solve(g, rhs)
        sd_leaves, sd_tree = tree_flatten(sol_dot)
        _check_tree("custom_root: tangent_solve", sd_tree, g_tree)
        out_dot = [-_leaf(t) for t in sd_leaves]
        out_dot += [fnp.zeros_like(a) for a in outs[n_sol:]]   # aux: not differentiated
        return outs, out_dot

    return unpack(root(diff, g_leaves, [stop_gradient(c) for c in s_consts]))


def custom_linear_solve(matvec: Callable, b: Any, solve: Callable,
                        transpose_solve: Callable | None = None, symmetric: bool = False,
                        has_aux: bool = False) -> Any:
    """solve(matvec, b), differentiated implicitly as the solution x of matvec(x) = b.

    As JAX's: the tangent is `solve(matvec, db - dmatvec(x))`, reverse mode solves the
    transposed system with `transpose_solve(vecmat, ct)` (`solve` when `symmetric`), and
    `solve` itself is never differentiated. Reverse mode without `transpose_solve` of a
    non-symmetric system is refused, and so is (NotImplementedError) reverse mode over
    forward mode in what `matvec` closes over; other second derivatives are implicit too.

    >>> import numpy as np, funcad as fa, funcad.numpy as fnp
    >>> a = np.array([[2.0, 1.0], [1.0, 3.0]])
    >>> def f(b):
    ...     x = custom_linear_solve(lambda x: a @ x, b,
    ...                             lambda mv, r: fnp.linalg.solve(a, r), symmetric=True)
    ...     return x.sum()
    >>> np.round(np.asarray(fa.grad(f)(np.ones(2))), 12)
    array([0.4, 0.2])
    """
    b_leaves, b_tree = tree_flatten(b)
    b_leaves = [_leaf(x) for x in b_leaves]
    b_avals = _avals(b_leaves)
    m_jaxpr, m_consts, _ = _trace_tree_fn("custom_linear_solve: matvec", matvec, b_tree,
                                          b_avals, b_tree)
    mv_of = _fn_of(m_jaxpr, b_tree)
    diff, _, merge = _split_consts(m_consts)
    nd = len(diff)
    n_b = len(b_leaves)

    def vecmat_of(params):
        from funcad.api import vjp
        _, pullback = vjp(mv_of(merge(params)), tree_unflatten(b_tree, list(b_avals_zeros)))
        return lambda y: pullback(y)[0]

    b_avals_zeros = [np.zeros(a.shape, a.dtype) for a in b_avals]
    box: dict = {}

    def trace_solve(what, user_solve, op_of, aux):
        def flat(*xs):
            out = user_solve(op_of(list(xs[:nd])), tree_unflatten(b_tree, xs[nd:]))
            if aux:
                if not (isinstance(out, (tuple, list)) and len(out) == 2):
                    raise TypeError(f"custom_linear_solve with has_aux=True: {what} must "
                                    f"return a pair (solution, aux)")
                x, a = out
            else:
                x, a = out, None
            x_leaves, x_tree = tree_flatten(x)
            _check_tree(f"custom_linear_solve: {what}", x_tree, b_tree, aux)
            a_leaves, box[what] = tree_flatten(a)
            return [_leaf(o) for o in (*x_leaves, *a_leaves)]
        jaxpr, consts = trace_to_jaxpr_closed(flat, [*_avals(diff), *b_avals])
        return jaxpr, [stop_gradient(c) for c in consts]

    def mv_params(params):
        return mv_of(merge(params))

    s_jaxpr, s_consts = trace_solve("solve", solve, mv_params, has_aux)
    aux_tree = box["solve"]
    if symmetric:
        t_jaxpr, t_consts = s_jaxpr, s_consts
    elif transpose_solve is not None:
        t_jaxpr, t_consts = trace_solve("transpose_solve", transpose_solve, vecmat_of,
                                        False)
    else:
        t_jaxpr, t_consts = None, []

    def run(jaxpr, consts, params, rhs, keep_aux=False):
        outs = eval_jaxpr(jaxpr, (), [*consts, *params, *rhs])
        return outs if keep_aux else outs[:n_b]

    # Two systems: A (matvec, solve) and its transpose T (vecmat, transpose_solve). Each
    # has `lsolve` (a custom_jvp: the solution, differentiated implicitly in forward
    # mode) and `lin` (the solution as a function of the right-hand side, transposed by
    # the other system's lsolve in reverse mode).
    ops = {"A": mv_params, "T": vecmat_of}
    jaxprs = {"A": s_jaxpr, "T": t_jaxpr}
    other = {"A": "T", "T": "A"}
    lsolve: dict = {}
    lin: dict = {}

    def build(k):
        op = ops[k]
        keep = has_aux and k == "A"

        @custom_jvp
        def ls(params, rhs, sc, tc):
            return run(jaxprs[k], sc, params, rhs, keep_aux=keep)

        @ls.defjvp
        def ls_jvp(primals, tangents):
            from funcad.api import jvp
            params, rhs, sc, tc = primals
            params_dot, rhs_dot = tangents[0], tangents[1]
            outs = ls(params, rhs, sc, tc)
            x = tree_unflatten(b_tree, outs[:n_b])
            # A x = b  =>  A dx = db - dA x
            _, dax = jvp(lambda p: op(p)(x), (list(params),), (list(params_dot),))
            r = [_leaf(t) - _leaf(d) for t, d in zip(rhs_dot, tree_flatten(dax)[0])]
            # lin's own jvp in r: custom_vjp's tangent, linear in r, whose transpose is
            # lin's bwd (a custom_vjp called on tangents directly would not transpose)
            zeros = [fnp.zeros_like(t) for t in r]
            x_dot = jvp(lambda rr: lin[k](params, rr, sc, tc), (zeros,), (r,))[1]
            return outs, [*x_dot, *[fnp.zeros_like(a) for a in outs[n_b:]]]

        # lin's primal: the solve with a forward-only implicit rule (lin's forward mode
        # differentiates its primal; using `ls` there would nest lin in itself forever)
        @custom_jvp
        def ls_fwd(params, rhs, sc, tc):
            return run(jaxprs[k], sc, params, rhs)

        @ls_fwd.defjvp
        def ls_fwd_jvp(primals, tangents):
            from funcad.api import jvp
            params, rhs, sc, tc = primals
            params_dot, rhs_dot = tangents[0], tangents[1]
            outs = ls_fwd(params, rhs, sc, tc)
            x = tree_unflatten(b_tree, outs)
            _, dax = jvp(lambda p: op(p)(x), (list(params),), (list(params_dot),))
            r = [_leaf(t) - _leaf(d) for t, d in zip(rhs_dot, tree_flatten(dax)[0])]
            return outs, ls_fwd(params, r, sc, tc)

        def lin_fun(params, r, sc, tc):
            return ls_fwd(params, r, sc, tc)

        if jaxprs[other[k]] is None:
            ln = _NoTranspose(lin_fun)

            def lin_fwd(params, r, sc, tc):
                return lin_fun(params, r, sc, tc), None

            def lin_bwd(res, ct):
                raise ValueError(
                    "custom_linear_solve: reverse-mode differentiation (grad, vjp) needs "
                    "the transposed system: pass transpose_solve=..., or symmetric=True "
                    "if matvec is symmetric")
        else:
            ln = custom_vjp(lin_fun)

            def lin_fwd(params, r, sc, tc):
                return lin_fun(params, r, sc, tc), (params, sc, tc)

            def lin_bwd(res, ct):
                # y = A^-1 r:  r_bar = A^-T ct, by the transposed system's implicit solve.
                # lin is only differentiated in r (see ls_jvp): no cotangent for params.
                params, sc, tc = res
                lam = lsolve[other[k]](params, list(ct), tc, sc)[:n_b]
                return None, lam, None, None
        ln.defvjp(lin_fwd, lin_bwd)
        lsolve[k], lin[k] = ls, ln

    build("A")
    if t_jaxpr is not None:
        build("T")
    outs = lsolve["A"](diff, b_leaves, s_consts, t_consts)
    x = tree_unflatten(b_tree, outs[:n_b])
    return (x, tree_unflatten(aux_tree, outs[n_b:])) if has_aux else x


class _NoTranspose(custom_vjp):
    """A custom_vjp whose rules are traced only when used (its bwd refuses)."""

    def _lazy_rules(self, fun_consts: Sequence) -> bool:
        return True


# ----------------------------------------------------------------------------------
# constructors, shapes, selection


def _arr(x: Any) -> Any:
    return x if isinstance(x, Tracer) else fnp.asarray(x)


def full(shape: Sequence[int], fill_value: Any, dtype: Any = None, *,
         sharding: Any = None) -> Any:
    """An array of `shape` filled with the scalar `fill_value` (of `dtype` if given)."""
    if np.ndim(fill_value) if not isinstance(fill_value, Tracer) else fill_value.ndim:
        raise TypeError(f"full must be called with scalar fill_value, got fill_value.shape "
                        f"{np.shape(fill_value)}.")
    _no_sharding("full", sharding)
    return fnp.full(tuple(shape), fill_value, dtype)


def full_like(x: Any, fill_value: Any, dtype: Any = None, shape: Any = None,
              sharding: Any = None) -> Any:
    """An array like `x` (its shape and dtype unless given) filled with `fill_value`."""
    _no_sharding("full_like", sharding)
    if not isinstance(x, (Tracer, np.ndarray)) and hasattr(x, "shape") and hasattr(
            x, "dtype") and not hasattr(x, "__array__"):
        # a ShapeDtypeStruct-like description
        return full(tuple(x.shape) if shape is None else shape, fill_value,
                    x.dtype if dtype is None else dtype)
    return fnp.full_like(_arr(x), fill_value, dtype, shape)


def _no_sharding(name: str, sharding: Any) -> None:
    if sharding is not None:
        raise NotImplementedError(f"{name}: funcad runs on one device and has no "
                                  f"shardings; pass sharding=None")


def empty(shape: Sequence[int], dtype: Any, *, out_sharding: Any = None) -> Any:
    """An array of `shape` and `dtype` whose contents are unspecified (zeros in funcad)."""
    _no_sharding("empty", out_sharding)
    return fnp.zeros(tuple(shape), dtype)


def select_n(which: Any, *cases: Any) -> Any:
    """Elementwise cases[which]: `which` is boolean (two cases) or int32; cases must have
    one shape and dtype, `which` that shape or a scalar."""
    if not cases:
        raise ValueError("select_n requires at least one case")
    cases = [_arr(c) for c in cases]
    which = _arr(which)
    shape, dtype = get_aval(cases[0]).shape, get_aval(cases[0]).dtype
    for c in cases[1:]:
        a = get_aval(c)
        if a.shape != shape or a.dtype != dtype:
            raise TypeError(f"select_n cases must have the same shapes and dtypes, got "
                            f"{[get_aval(c).str_short() for c in cases]}; convert them "
                            f"first (e.g. with lax.convert_element_type)")
    w = get_aval(which)
    if w.dtype == np.bool_:
        if len(cases) > 2:
            raise TypeError(f"select_n with a boolean `which` takes at most 2 cases, got "
                            f"{len(cases)}; pass an int32 `which`")
    elif not np.issubdtype(w.dtype, np.integer):
        raise TypeError(f"select_n: `which` must be boolean or integer, got {w.dtype}")
    if w.shape not in ((), shape):
        raise TypeError(f"select_n: `which` must be a scalar or have the shape of the "
                        f"cases {shape}, got {w.shape}")
    if len(cases) == 1:
        return cases[0]
    if w.shape == () and shape != ():
        which = fnp.broadcast_to(which, shape)
    if w.dtype != np.bool_ and w.dtype != np.int32:
        which = which.astype(np.int32)
    return select_n_p.bind(which, *cases)


def reciprocal(x: Any) -> Any:
    """Elementwise 1 / x (lax.integer_pow(x, -1))."""
    from funcad._lax_ops import integer_pow
    x = _arr(x)
    if not np.issubdtype(get_aval(x).dtype, np.inexact):
        raise TypeError(f"reciprocal: integers cannot be raised to negative powers, got "
                        f"{get_aval(x).str_short()}; convert to a float dtype first")
    return integer_pow(x, -1)


def nextafter(x1: Any, x2: Any) -> Any:
    """The next representable value after x1 in the direction of x2, elementwise; not
    differentiable, as JAX's."""
    _refuse_differentiated("nextafter", "x1", x1)
    _refuse_differentiated("nextafter", "x2", x2)
    return _nextafter(*_same_float("nextafter", x1, x2))


@custom_jvp
def _nextafter(x1, x2):
    return fnp.nextafter(x1, x2)


@_nextafter.defjvp
def _nextafter_jvp(primals, tangents):
    (x1, x2), (t1, t2) = primals, tangents
    return _nextafter(x1, x2), _no_derivative(t1) + _no_derivative(t2)


def optimization_barrier(operand: Any, /) -> Any:
    """The identity on a pytree of arrays (funcad does no reordering to prevent)."""
    leaves, tree = tree_flatten(operand)
    return tree_unflatten(tree, [_arr(x) for x in leaves])


def split(operand: Any, sizes: Sequence[int], axis: int = 0) -> Sequence[Any]:
    """Pieces of `operand` along `axis` of the given sizes (which sum to its length)."""
    x = _arr(operand)
    nd = fnp.ndim(x)
    if not -nd <= axis < nd:
        raise ValueError(f"split: axis {axis} is out of bounds for an array of rank {nd}")
    axis %= nd
    sizes = [int(s) for s in sizes]
    n = fnp.shape(x)[axis]
    if builtins.any(s < 0 for s in sizes) or builtins.sum(sizes) != n:
        raise ValueError(f"split: sizes must be nonnegative and sum to the size of the axis "
                         f"({n}), got {tuple(sizes)}")
    out, start = [], 0
    for s in sizes:
        idx = [builtins.slice(None)] * nd
        idx[axis] = builtins.slice(start, start + s)
        out.append(x[tuple(idx)])
        start += s
    return out


def collapse(operand: Any, start_dimension: int, stop_dimension: int | None = None) -> Any:
    """Merge dimensions start_dimension..stop_dimension-1 into one."""
    x = _arr(operand)
    shape = fnp.shape(x)
    nd = len(shape)
    lo = start_dimension % nd if nd else 0
    hi = nd if stop_dimension is None else (stop_dimension if stop_dimension >= 0
                                            else stop_dimension + nd)
    if not 0 <= lo <= hi <= nd:
        raise ValueError(f"collapse: invalid dimensions [{start_dimension}, "
                         f"{stop_dimension}) for an array of rank {nd}")
    return fnp.reshape(x, (*shape[:lo], math.prod(shape[lo:hi]), *shape[hi:]))


def broadcast_shapes(*shapes: Sequence[int]) -> tuple[int, ...]:
    """The shape the given shapes broadcast to (NumPy's rule); a ValueError if none."""
    try:
        return tuple(int(d) for d in np.broadcast_shapes(*[tuple(s) for s in shapes]))
    except ValueError:
        raise ValueError(f"Incompatible shapes for broadcasting: shapes={list(map(tuple, shapes))}"
                         ) from None


def reduce_xor(operand: Any, axes: Sequence[int]) -> Any:
    """Exclusive or over `axes` (logical for booleans, bitwise for integers)."""
    x = _arr(operand)
    dt = get_aval(x).dtype
    if not (dt == np.bool_ or np.issubdtype(dt, np.integer)):
        raise TypeError(f"reduce_xor takes booleans or integers, got {dt}")
    nd = fnp.ndim(x)
    dims = tuple(sorted({int(d) % nd for d in axes})) if nd else ()
    if not dims:
        return x
    moved = fnp.moveaxis(x, dims, tuple(range(len(dims))))
    shape = fnp.shape(moved)
    count = math.prod(shape[:len(dims)])
    flat = fnp.reshape(moved, (count, *shape[len(dims):]))
    if count == 0:
        return fnp.zeros(shape[len(dims):], dt)
    while fnp.shape(flat)[0] > 1:      # pairwise, log2(count) steps
        n = fnp.shape(flat)[0]
        half = n // 2
        folded = fnp.bitwise_xor(flat[:half], flat[half:2 * half])
        flat = fnp.concatenate([folded, flat[2 * half:]]) if n % 2 else folded
    return flat[0]


def tile(operand: Any, reps: Sequence[int]) -> Any:
    """Repeat `operand` reps[i] times along axis i (len(reps) must be its rank)."""
    x = _arr(operand)
    reps = tuple(int(r) for r in reps)
    if len(reps) != fnp.ndim(x):
        raise ValueError(f"tile: reps length must be equal to the ndim of x, got "
                         f"len(reps)={len(reps)} and x.ndim={fnp.ndim(x)}.")
    return fnp.tile(x, reps)


def stack(operands: Sequence[Any], axis: int = 0) -> Any:
    """Stack arrays of one shape along a new axis."""
    if not len(operands):
        raise ValueError("stack requires at least one operand")
    return fnp.stack([_arr(o) for o in operands], axis=axis)


def unstack(x: Any, axis: int = 0) -> tuple:
    """The slices of `x` along `axis`, as a tuple."""
    return tuple(fnp.unstack(_arr(x), axis=axis))


def index_take(src: Any, idxs: Any, axes: Sequence[int]) -> Any:
    """src indexed by the integer arrays idxs[k] along axes[k] (gathered points)."""
    src = _arr(src)
    axes = [int(a) % fnp.ndim(src) for a in axes]
    idxs = list(idxs)
    if len(idxs) != len(axes):
        raise ValueError(f"index_take: one index array per axis, got {len(idxs)} index "
                         f"arrays for axes {tuple(axes)}")
    if len(set(axes)) != len(axes):
        raise ValueError(f"index_take: repeated axes {tuple(axes)}")
    moved = fnp.moveaxis(src, axes, tuple(range(len(axes))))
    return moved[tuple(_arr(i) for i in idxs)]


# ----------------------------------------------------------------------------------
# special functions (funcad.scipy.special's composites, with JAX's derivative rules)


def _no_derivative(t: Any) -> Any:
    """The tangent of an argument JAX has no derivative for: exactly 0 where its tangent
    is 0, NaN otherwise (reverse mode refuses it: its predicate is not linear)."""
    return fnp.where(t == 0, 0.0, np.nan)


def _refuse_differentiated(name: str, arg: str, v: Any) -> None:
    """Raise when `v` is being differentiated (a forward-mode or eager reverse-mode tracer
    at any depth), as JAX raises for an argument it has no derivative rule for."""
    from funcad.interpreters.ad import JVPTracer, Zero
    from funcad.interpreters.batching import BatchTracer
    from funcad.interpreters.tape import TapeTracer
    while isinstance(v, Tracer):
        if (isinstance(v, JVPTracer) and type(v.tangent) is not Zero
                or isinstance(v, TapeTracer) and v.node is not None):
            raise ValueError(f"lax.{name}: no derivative with respect to {arg} (as in JAX); "
                             f"wrap that argument in lax.stop_gradient if its derivative "
                             f"is not wanted")
        v = (v.val if isinstance(v, (BatchTracer, TapeTracer)) else
             v.primal if isinstance(v, JVPTracer) else None)


def _same_float(name: str, *args: Any) -> list:
    arrs = [_arr(a) for a in args]
    dts = {get_aval(a).dtype for a in arrs if not get_aval(a).weak_type}
    if len(dts) > 1:
        raise TypeError(f"lax.{name} requires arguments to have the same dtypes, got "
                        f"{', '.join(str(d) for d in sorted(dts, key=str))}; convert them "
                        f"first")
    from funcad.numpy._base import promote_inexact
    arrs = promote_inexact(*arrs)
    for a in arrs:
        if not np.issubdtype(get_aval(a).dtype, np.floating):
            raise TypeError(f"lax.{name} takes floating-point arguments, got "
                            f"{get_aval(a).dtype}")
    return list(fnp.broadcast_arrays(*arrs))


def _polygamma_value(m, x):
    from funcad.scipy import special as sp
    mi = fnp.where((m >= 1) & (fnp.floor(m) == m), m, 1.0)
    sign = fnp.where(fnp.remainder(mi, 2.0) == 0, -1.0, 1.0)
    high = sign * fnp.exp(sp.gammaln(mi + 1.0)) * sp.zeta(mi + 1.0, x)
    out = fnp.where(m == 0, sp.digamma(x), high)
    return fnp.where((m >= 0) & (fnp.floor(m) == m), out, np.nan)


@custom_jvp
def _polygamma(m, x):
    return _polygamma_value(m, x)


@_polygamma.defjvp
def _polygamma_jvp(primals, tangents):
    (m, x), (tm, tx) = primals, tangents
    return _polygamma(m, x), _polygamma(m + 1.0, x) * tx + _no_derivative(tm)


def polygamma(m: Any, x: Any) -> Any:
    """The polygamma function psi^(m)(x) for integer-valued m >= 0 (NaN otherwise);
    differentiable in x only, as JAX's."""
    _refuse_differentiated("polygamma", "m", m)
    m, x = _same_float("polygamma", m, x)
    return _polygamma(m, x)


@custom_jvp
def _zeta(x, q):
    from funcad.scipy import special as sp
    return sp.zeta(x, q)


@_zeta.defjvp
def _zeta_jvp(primals, tangents):
    (x, q), (tx, tq) = primals, tangents
    return _zeta(x, q), _no_derivative(tx) + _no_derivative(tq)


def zeta(x: Any, q: Any) -> Any:
    """The Hurwitz zeta function sum_k (k + q)**-x; not differentiable, as JAX's."""
    _refuse_differentiated("zeta", "x", x)
    _refuse_differentiated("zeta", "q", q)
    x, q = _same_float("zeta", x, q)
    return _zeta(x, q)


def igamma(a: Any, x: Any) -> Any:
    """The regularized lower incomplete gamma function P(a, x)."""
    from funcad.scipy import special as sp
    a, x = _same_float("igamma", a, x)
    return sp.gammainc(a, x)


def igammac(a: Any, x: Any) -> Any:
    """The regularized upper incomplete gamma function Q(a, x) = 1 - P(a, x)."""
    from funcad.scipy import special as sp
    a, x = _same_float("igammac", a, x)
    return sp.gammaincc(a, x)


def bessel_i0e(x: Any) -> Any:
    """The exponentially scaled modified Bessel function of order 0, exp(-|x|) I0(x)."""
    from funcad.scipy import special as sp
    (x,) = _same_float("bessel_i0e", x)
    return sp.i0e(x)


def bessel_i1e(x: Any) -> Any:
    """The exponentially scaled modified Bessel function of order 1, exp(-|x|) I1(x)."""
    from funcad.scipy import special as sp
    (x,) = _same_float("bessel_i1e", x)
    return sp.i1e(x)


@custom_jvp
def _betainc(a, b, x):
    from funcad.scipy import special as sp
    return sp.betainc(a, b, x)


@_betainc.defjvp
def _betainc_jvp(primals, tangents):
    from funcad.scipy import special as sp
    (a, b, x), (ta, tb, tx) = primals, tangents
    dx = fnp.exp((b - 1.0) * fnp.log1p(-x) + (a - 1.0) * fnp.log(x) - sp.betaln(a, b))
    return _betainc(a, b, x), dx * tx + _no_derivative(ta) + _no_derivative(tb)


def betainc(a: Any, b: Any, x: Any) -> Any:
    """The regularized incomplete beta function I_x(a, b); differentiable in x only, as
    JAX's."""
    _refuse_differentiated("betainc", "a", a)
    _refuse_differentiated("betainc", "b", b)
    a, b, x = _same_float("betainc", a, b, x)
    return _betainc(a, b, x)


# Called outside transforms, the public functions return funcad.Arrays.
from funcad._array import export_arrays as _export_arrays  # noqa: E402

_export_arrays(globals())
