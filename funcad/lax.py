"""funcad.lax: control flow (scan, loops, conditionals) and lower-level operations.

All of these are differentiable in both modes (reverse mode through `while_loop`
included), batch under `vmap` and compile to native loops under `jit`.
"""

from __future__ import annotations

import builtins  # lax defines max, min, abs, round, slice... of its own
from typing import Any, Callable, Sequence

import numpy as np

from funcad import _dtypes
from funcad._array import Array
from funcad._core import ShapedArray, Tracer, get_aval
from funcad._tree import PyTreeDef, tree_flatten, tree_unflatten
from funcad.api import stop_gradient  # noqa: F401
from funcad.interpreters.partial_eval import trace_to_jaxpr_closed
from funcad.numpy._base import prepare
from funcad.primitives.control import cond_p, scan_p, while_p
from funcad.primitives.elementwise import select_n_p

__all__ = [
    "scan", "map", "fori_loop", "while_loop", "cond", "switch", "select",
    "stop_gradient", "Precision", "RoundingMethod", "abs", "acos", "acosh", "add",
    "argmax", "argmin", "asin", "asinh", "associative_scan", "atan", "atan2", "atanh",
    "batch_matmul", "bitwise_and", "bitwise_not", "bitwise_or", "bitwise_xor",
    "broadcast", "broadcast_in_dim", "broadcast_to_rank", "broadcasted_iota", "cbrt",
    "ceil", "clamp", "complex", "concatenate", "conj", "conv", "conv_dimension_numbers",
    "conv_general_dilated", "conv_general_permutations", "conv_general_shape_tuple",
    "conv_shape_tuple", "conv_transpose", "conv_transpose_shape_tuple",
    "conv_with_general_padding", "reduce_window_shape_tuple", "convert_element_type", "cos",
    "cosh", "cumlogsumexp", "cummax", "cummin", "cumprod", "cumsum", "digamma", "div",
    "dot", "dot_general", "dynamic_index_in_dim", "dynamic_slice",
    "dynamic_slice_in_dim", "dynamic_update_index_in_dim", "dynamic_update_slice",
    "dynamic_update_slice_in_dim", "eq", "erf", "erf_inv", "erfc", "exp", "exp2",
    "expand_dims", "expm1", "floor", "ge", "gt", "imag", "index_in_dim", "integer_pow", "iota",
    "is_finite", "le", "lgamma", "log", "log1p", "logistic", "lt", "max", "min", "mul",
    "ne", "neg", "pad", "padtype_to_pads", "pow", "reduce", "reduce_and", "reduce_max",
    "real", "reduce_min", "reduce_or", "reduce_prod", "reduce_sum", "reduce_window", "rem",
    "reshape", "rev", "round", "rsqrt", "sign", "sin", "sinh", "slice", "slice_in_dim",
    "sort", "sort_key_val", "sqrt", "square", "squeeze", "sub", "tan", "tanh", "top_k",
    "transpose", "linalg", "FftType", "fft",
    # funcad._lax_extra
    "custom_root", "custom_linear_solve", "full", "full_like", "select_n", "reciprocal",
    "nextafter", "optimization_barrier", "split", "collapse", "empty", "broadcast_shapes",
    "reduce_xor", "tile", "stack", "unstack", "polygamma", "zeta", "igamma", "igammac",
    "bessel_i0e", "bessel_i1e", "betainc", "index_take",
]


def select(pred: Any, on_true: Any, on_false: Any) -> Any:
    """Elementwise `on_true` where `pred` else `on_false` (shapes must match).

    >>> import numpy as np
    >>> select(np.array([True, False]), np.array([1.0, 2.0]), np.array([3.0, 4.0]))
    Array([1., 4.], dtype=float64)
    """
    on_true, on_false = prepare("select", on_true, on_false)
    return select_n_p.bind(pred, on_false, on_true)


# ----------------------------------------------------------------------------------
# helpers


def _leaf_paths(tree: PyTreeDef, prefix: str = "") -> list[str]:
    """Readable paths of the leaves of a tree: `[0]['w']`, `.field`, ..."""
    if tree.kind is None:
        return [prefix or "(root)"]
    out = []
    fields = getattr(tree.kind, "_fields", None)
    for i, child in enumerate(tree.children):
        if tree.kind is dict:
            key = f"[{tree.aux[i]!r}]"
        elif fields is not None:
            key = f".{fields[i]}"
        else:
            key = f"[{i}]"
        out.extend(_leaf_paths(child, prefix + key))
    return out


def _as_value(x: Any) -> Any:
    if isinstance(x, Tracer) or type(x) is np.ndarray or type(x) is Array:
        return x        # (an Array keeps its weak type)
    return np.asarray(x)


def _aval(x: Any) -> ShapedArray:
    return get_aval(x).strip_weak()


def _trace(fun: Callable, in_avals: Sequence[ShapedArray]):
    """Trace a flat function; closed-over values become leading operands (consts)."""
    return trace_to_jaxpr_closed(fun, list(in_avals))


def _check_carry(what: str, tree_in, tree_out, avals_in, avals_out, root: str = "carry"):
    """The body's carry must have the structure and types of the initial carry.

    A weakly typed leaf (a Python number) may change dtype: the loop promotes it (see
    `_promote_weak_carry`); every other mismatch is an error naming the leaf.
    """
    if tree_in != tree_out:
        raise TypeError(f"{what}: the body must return a carry with the same structure as "
                        f"the initial carry, but the input carry is {tree_in} and the body "
                        f"returned {tree_out}")
    for path, a, b in zip(_leaf_paths(tree_in), avals_in, avals_out, strict=True):
        if a.shape != b.shape or a.dtype != b.dtype and not a.weak_type:
            raise TypeError(
                f"{what}: the carry leaf {root}{'' if path == '(root)' else path} has type "
                f"{a.str_short()} on input but the body returned {b.str_short()}; a loop "
                f"carry must keep its shape and dtype (convert with .astype or reshape).")


def _carry_aval(x: Any) -> ShapedArray:
    """A carry leaf's type; Python numbers (and weak tracers) stay weakly typed."""
    return get_aval(x)


def _promote_weak_carry(leaves: list, avals_in: list, avals_out: Sequence
                        ) -> tuple[list, list] | None:
    """JAX's rule for loop carries: a weakly typed initial value whose dtype differs from
    what the body returns is converted to the promoted dtype, and the body is traced
    again. Returns the new (leaves, avals), or None when nothing changes.
    """
    changed = False
    leaves, avals_in = list(leaves), list(avals_in)
    for k, (a, b) in enumerate(zip(avals_in, avals_out, strict=True)):
        if a.weak_type and a.dtype != b.dtype:
            dt = _dtypes.result_type(a, b)
            import funcad.numpy as fnp
            leaves[k] = fnp.asarray(leaves[k]).astype(dt)
            avals_in[k] = ShapedArray(a.shape, dt)
            changed = True
    return (leaves, avals_in) if changed else None


# ----------------------------------------------------------------------------------
# scan


def scan(f: Callable, init: Any, xs: Any = None, length: int | None = None,
         reverse: bool = False, unroll: int = 1, checkpoint: Any = None
         ) -> tuple[Any, Any]:
    """Loop `f` over the leading axis of `xs`, threading a carry: one primitive, any transform.

    Semantics (with pytrees of arrays for `init`, `xs` and the results)::

        carry = init
        for x in xs:               # reversed(xs) if reverse
            carry, y = f(carry, x)
            ys.append(y)
        return carry, stack(ys)

    Args:
      f: `(carry, x) -> (carry, y)`; the carry keeps its structure, shapes and dtypes.
      init: initial carry (a pytree).
      xs: pytree of arrays scanned along axis 0, or None (then give `length`).
      length: number of steps (checked against `xs`).
      reverse: iterate from the last element to the first (ys keep xs's order).
      unroll: accepted for JAX compatibility; ignored (jit emits one native loop).
      checkpoint: memory/recompute trade-off of reverse mode: None (store every step's
        residuals), a `funcad.checkpoint` policy name applied to the body ("nothing" or
        "dots": store only the carries, or the carries and dot results), "sqrt" (nested
        loops storing O(sqrt n) carries) or "recursive" (binomial bisection storing
        O(log n) carries, O(n log n) recomputation).
    Returns:
      `(final_carry, ys)`.

    >>> import funcad.numpy as fnp
    >>> scan(lambda c, x: (c + x, c * x), 0.0, fnp.arange(4.0))
    (Array(6., dtype=float64), Array([0., 0., 2., 9.], dtype=float64))
    """
    if checkpoint in ("sqrt", "recursive", "binomial", "log"):
        from funcad._checkpoint import scan_checkpointed
        return scan_checkpointed(f, init, xs, length, reverse, checkpoint)
    if checkpoint is not None:
        from funcad._checkpoint import checkpoint as _ckpt
        body = _ckpt(f, policy=checkpoint)
    else:
        body = f
    init_leaves, init_tree = tree_flatten(init)
    carry_avals = [_carry_aval(x) for x in init_leaves]
    init_leaves = [_as_value(x) for x in init_leaves]
    xs_leaves, xs_tree = tree_flatten(xs)
    xs_leaves = [_as_value(x) for x in xs_leaves]
    lengths = {get_aval(x).shape[0] if get_aval(x).ndim else None for x in xs_leaves}
    if None in lengths:
        raise ValueError("scan: every leaf of xs must have a leading axis to scan over, but "
                         "one is a scalar")
    if length is not None:
        lengths.add(int(length))
    if len(lengths) > 1:
        raise ValueError(f"scan: the leaves of xs (and `length`) disagree on the number of "
                         f"steps: {sorted(lengths)}")
    if not lengths:
        raise ValueError("scan: give `length` when xs is None")
    n = lengths.pop()
    x_avals = [ShapedArray(a.shape[1:], a.dtype, a.weak_type)
               for a in [get_aval(x) for x in xs_leaves]]
    box: dict = {}

    def flat_body(*args):
        carry = tree_unflatten(init_tree, args[:len(carry_avals)])
        x = tree_unflatten(xs_tree, args[len(carry_avals):])
        out = body(carry, x)
        if not (isinstance(out, tuple) and len(out) == 2):
            raise TypeError(f"scan: the body must return a pair (carry, y), got "
                            f"{type(out).__name__}")
        new_carry, y = out
        c_leaves, c_tree = tree_flatten(new_carry)
        _check_carry("scan", init_tree, c_tree, carry_avals,
                     [_aval(c) for c in c_leaves])
        y_leaves, box["y_tree"] = tree_flatten(y)
        return [*c_leaves, *y_leaves]

    jaxpr, consts = _trace(flat_body, [*carry_avals, *x_avals])
    promoted = _promote_weak_carry(init_leaves, carry_avals,
                                   jaxpr.out_avals[:len(carry_avals)])
    if promoted is not None:
        init_leaves, carry_avals = promoted
        jaxpr, consts = _trace(flat_body, [*carry_avals, *x_avals])
    outs = scan_p.bind(*consts, *init_leaves, *xs_leaves, jaxpr=jaxpr,
                       num_consts=len(consts), num_carry=len(carry_avals), length=n,
                       reverse=bool(reverse))
    outs = [_as_value(o) for o in outs]
    carry = tree_unflatten(init_tree, outs[:len(carry_avals)])
    return carry, tree_unflatten(box["y_tree"], outs[len(carry_avals):])


def map(f: Callable, xs: Any) -> Any:  # noqa: A001 - the name JAX uses
    """Apply `f` to each slice of `xs` along axis 0 with a `scan` (a loop, not vmap).

    >>> import numpy as np
    >>> map(lambda x: x * 2.0, np.arange(3.0))
    Array([0., 2., 4.], dtype=float64)
    """
    return scan(lambda _, x: (None, f(x)), None, xs)[1]


# ----------------------------------------------------------------------------------
# while_loop and fori_loop


def while_loop(cond_fun: Callable, body_fun: Callable, init_val: Any) -> Any:
    """Repeat `body_fun` while `cond_fun` is true: `while cond_fun(v): v = body_fun(v)`.

    Differentiable in forward and reverse mode. Reverse mode (which JAX refuses) records
    the trip count and the carries. Eagerly, the loop runs once to find the trip count n
    and is then linearized as an n-step scan: memory O(n x the residuals of one step)
    (wrap `body_fun` in `funcad.checkpoint` to store only the carries). When the trip
    count is unknown at trace time (under `jit`), the backward pass re-runs the primal
    loop pushing each carry on a growable stack, then runs the reverse loop: memory
    O(n x carry size), time about two forward passes plus one reverse pass; both loops
    are native loops in the compiled code. The condition must depend on differentiated
    values only through comparisons. Under `vmap`, the loop runs until every batch
    element is done and finished elements stay unchanged.

    Args:
      cond_fun: carry -> boolean scalar.
      body_fun: carry -> carry of the same structure, shapes and dtypes.
      init_val: initial carry (a pytree).
    Returns:
      The final carry.

    >>> while_loop(lambda x: x < 10, lambda x: x * 2, 1)
    Array(16, dtype=int64)
    """
    leaves, tree = tree_flatten(init_val)
    avals = [_carry_aval(x) for x in leaves]
    leaves = [_as_value(x) for x in leaves]

    def flat_cond(*args):
        pred = cond_fun(tree_unflatten(tree, args))
        pred = _as_value(pred)
        pa = get_aval(pred)
        if pa.shape != () or pa.dtype != np.bool_:
            raise TypeError(f"while_loop: cond_fun must return a boolean scalar, got "
                            f"{pa.str_short()}")
        return [pred]

    def flat_body(*args):
        out = body_fun(tree_unflatten(tree, args))
        o_leaves, o_tree = tree_flatten(out)
        _check_carry("while_loop", tree, o_tree, avals, [_aval(o) for o in o_leaves])
        return o_leaves

    bj, bc = _trace(flat_body, avals)
    promoted = _promote_weak_carry(leaves, avals, bj.out_avals)
    if promoted is not None:
        leaves, avals = promoted
        bj, bc = _trace(flat_body, avals)
    cj, cc = _trace(flat_cond, avals)
    outs = while_p.bind(*cc, *bc, *leaves, cond_jaxpr=cj, body_jaxpr=bj,
                        cond_nconsts=len(cc), body_nconsts=len(bc))
    return tree_unflatten(tree, [_as_value(o) for o in outs])


def _static_int(x: Any) -> int | None:
    if isinstance(x, Tracer):
        return None
    if isinstance(x, (int, np.integer)) or (isinstance(x, np.ndarray) and x.ndim == 0
                                            and np.issubdtype(x.dtype, np.integer)):
        return int(x)
    return None


def fori_loop(lower: Any, upper: Any, body_fun: Callable, init_val: Any) -> Any:
    """`for i in range(lower, upper): val = body_fun(i, val)`.

    With concrete bounds this is a `scan` (reverse mode stores each step); with traced
    bounds it is a `while_loop` (reverse mode records the trip count).

    >>> fori_loop(0, 4, lambda i, x: x + i, 0.0)
    Array(6., dtype=float64)
    """
    lo, hi = _static_int(lower), _static_int(upper)
    v_tree = tree_flatten(init_val)[1]

    def checked_body(i, x):
        # Checked against the carry the loop passes in: weakly typed leaves (Python
        # numbers) may change dtype, and scan/while_loop then promote them.
        v_avals = [get_aval(v) for v in tree_flatten(x)[0]]
        out = body_fun(i, x)
        o_leaves, o_tree = tree_flatten(out)
        o_avals = [_aval(_as_value(o)) for o in o_leaves]
        if o_tree == v_tree and any(a.dtype != b.dtype and not a.weak_type
                                    for a, b in zip(v_avals, o_avals)):
            hint = (" (the loop index is an int64 array: under NumPy promotion a float32 "
                    "value times it is float64; use i.astype(x.dtype))")
        else:
            hint = ""
        try:
            _check_carry("fori_loop", v_tree, o_tree, v_avals, o_avals, root="val")
        except TypeError as e:
            raise TypeError(str(e) + hint) from None
        return out

    if lo is not None and hi is not None:
        def step(carry, _):
            i, x = carry
            return (i + 1, checked_body(i, x)), None
        (_, out), _ = scan(step, (np.int64(lo), init_val), None, length=builtins.max(hi - lo, 0))
        return out

    def cond(c):
        return c[0] < c[1]

    def body(c):
        i, u, x = c
        return i + 1, u, checked_body(i, x)

    import funcad.numpy as fnp
    lower = fnp.asarray(lower).astype(np.int64)
    upper = fnp.asarray(upper).astype(np.int64)
    return while_loop(cond, body, (lower, upper, init_val))[2]


# ----------------------------------------------------------------------------------
# cond and switch


def _branches(what: str, funs: Sequence[Callable], operands: tuple, labels: Sequence[str]):
    leaves, tree = tree_flatten(operands)
    leaves = [_as_value(x) for x in leaves]
    avals = [get_aval(x) for x in leaves]      # a weakly typed operand stays weak there
    jaxprs, consts, out_trees = [], [], []
    for k, fun in enumerate(funs):
        box = {}

        def flat(*args, fun=fun, box=box):
            out = fun(*tree_unflatten(tree, args))
            o_leaves, box["tree"] = tree_flatten(out)
            return o_leaves

        j, c = _trace(flat, avals)
        jaxprs.append(j)
        consts.append(c)
        out_trees.append(box["tree"])
    names = [label if getattr(f, "__name__", "<lambda>") == "<lambda>"
             else f"{label} ({f.__name__})" for label, f in zip(labels, funs)]
    for k in range(1, len(funs)):
        if out_trees[k] != out_trees[0]:
            raise TypeError(f"{what}: the branches must return the same structure, but "
                            f"{names[0]} returned {out_trees[0]} and {names[k]} returned "
                            f"{out_trees[k]}")
        for path, a, b in zip(_leaf_paths(out_trees[0]), jaxprs[0].out_avals,
                              jaxprs[k].out_avals):
            if a.shape != b.shape or a.dtype != b.dtype:
                where = "the output" if path == "(root)" else f"output {path}"
                raise TypeError(f"{what}: {where} of {names[0]} has type "
                                f"{a.str_short()} but {names[k]} returns {b.str_short()}; "
                                f"the branches must return the same types")
    # Each branch takes all branches' constants, then the operands.
    all_consts = [c for cs in consts for c in cs]
    n_all = len(all_consts)
    offsets = np.cumsum([0] + [len(c) for c in consts]).tolist()
    c_avals = [_aval(c) for c in all_consts]
    branches = []
    from funcad._ir import Jaxpr, Var
    for k, j in enumerate(jaxprs):
        fresh = [Var(a) for a in c_avals]
        mine = j.invars[:len(consts[k])]
        fresh[offsets[k]:offsets[k] + len(consts[k])] = mine
        branches.append(Jaxpr((), (*fresh, *j.invars[len(consts[k]):]), j.eqns, j.outvars))
    del n_all
    return tuple(branches), [_as_value(c) for c in all_consts], leaves, out_trees[0]


def switch(index: Any, branches: Sequence[Callable], *operands: Any,
           _labels: Sequence[str] | None = None) -> Any:
    """Apply `branches[index](*operands)`; the index is clamped to the valid range.

    Under `vmap` with a batched index, every branch runs on the whole batch and the
    results are selected per element (values and gradients are right; the cost is that
    of all branches).

    >>> switch(1, [lambda x: x + 1, lambda x: x * 10], 2.0)
    Array(20., dtype=float64)
    """
    if not branches:
        raise ValueError("switch: give at least one branch")
    labels = _labels or [f"branches[{i}]" for i in range(len(branches))]
    br, consts, leaves, out_tree = _branches("cond" if _labels else "switch", list(branches),
                                             operands, labels)
    index = _as_value(index)
    ia = get_aval(index)
    if ia.shape != ():
        raise TypeError(f"switch: the index must be a scalar, got {ia.str_short()}")
    if not np.issubdtype(ia.dtype, np.integer):
        import funcad.numpy as fnp
        index = fnp.asarray(index).astype(np.int64)
    elif ia.dtype != np.int64:
        import funcad.numpy as fnp
        index = fnp.asarray(index).astype(np.int64)
    outs = cond_p.bind(index, *consts, *leaves, branches=br)
    return tree_unflatten(out_tree, [_as_value(o) for o in outs])


def cond(pred: Any, true_fun: Callable, false_fun: Callable, *operands: Any) -> Any:
    """`true_fun(*operands)` if `pred` else `false_fun(*operands)`, as one primitive.

    Only the chosen branch runs (eagerly and under jit). Under `vmap` with a batched
    predicate both branches run and the results are selected per element, which gives
    the right values and gradients (and the double-where-safe gradient of the branch not
    taken is zero, not NaN).

    >>> cond(True, lambda x: x + 1.0, lambda x: x - 1.0, 1.0)
    Array(2., dtype=float64)
    """
    pa = get_aval(_as_value(pred))
    if pa.shape != ():
        raise TypeError(f"cond: the predicate must be a scalar, got {pa.str_short()}; for "
                        f"an elementwise choice use funcad.numpy.where or lax.select")
    import funcad.numpy as fnp
    index = fnp.asarray(pred).astype(np.int64) if isinstance(pred, Tracer) else np.int64(
        bool(pred))
    if isinstance(pred, Tracer) and pa.dtype != np.bool_:
        index = fnp.asarray(fnp.not_equal(pred, 0)).astype(np.int64)
    return switch(index, [false_fun, true_fun], *operands,
                  _labels=("false_fun", "true_fun"))


from funcad._lax_ops import (  # noqa: E402,F401  lower-level operations
    Precision,
    RoundingMethod,
    abs,
    acos,
    acosh,
    add,
    argmax,
    argmin,
    asin,
    asinh,
    associative_scan,
    atan,
    atan2,
    atanh,
    batch_matmul,
    bitwise_and,
    bitwise_not,
    bitwise_or,
    bitwise_xor,
    broadcast,
    broadcast_in_dim,
    broadcast_to_rank,
    broadcasted_iota,
    cbrt,
    ceil,
    clamp,
    complex,
    concatenate,
    conj,
    conv,
    conv_dimension_numbers,
    conv_general_dilated,
    conv_general_permutations,
    conv_general_shape_tuple,
    conv_shape_tuple,
    conv_transpose,
    conv_transpose_shape_tuple,
    reduce_window_shape_tuple,
    conv_with_general_padding,
    convert_element_type,
    cos,
    cosh,
    cumlogsumexp,
    cummax,
    cummin,
    cumprod,
    cumsum,
    digamma,
    div,
    dot,
    dot_general,
    dynamic_index_in_dim,
    dynamic_slice,
    dynamic_slice_in_dim,
    dynamic_update_index_in_dim,
    dynamic_update_slice,
    dynamic_update_slice_in_dim,
    eq,
    erf,
    erf_inv,
    erfc,
    exp,
    exp2,
    expand_dims,
    expm1,
    floor,
    imag,
    ge,
    gt,
    index_in_dim,
    integer_pow,
    iota,
    is_finite,
    le,
    lgamma,
    log,
    log1p,
    logistic,
    lt,
    max,
    min,
    mul,
    ne,
    neg,
    pad,
    padtype_to_pads,
    population_count,
    pow,
    reduce,
    reduce_and,
    reduce_max,
    real,
    reduce_min,
    reduce_or,
    reduce_prod,
    reduce_sum,
    reduce_window,
    rem,
    reshape,
    rev,
    round,
    rsqrt,
    shift_left,
    shift_right_arithmetic,
    shift_right_logical,
    sign,
    sin,
    sinh,
    slice,
    slice_in_dim,
    sort,
    sort_key_val,
    sqrt,
    square,
    squeeze,
    sub,
    tan,
    tanh,
    top_k,
    transpose,
)


from funcad._lax_extra import (  # noqa: E402,F401  implicit solves, constructors, special
    bessel_i0e,
    bessel_i1e,
    betainc,
    broadcast_shapes,
    collapse,
    custom_linear_solve,
    custom_root,
    empty,
    full,
    full_like,
    igamma,
    igammac,
    index_take,
    nextafter,
    optimization_barrier,
    polygamma,
    reciprocal,
    reduce_xor,
    select_n,
    split,
    stack,
    tile,
    unstack,
    zeta,
)
from funcad import _lax_linalg as linalg  # noqa: E402,F401  (funcad.lax.linalg)
from funcad._lax_fft import FftType, fft  # noqa: E402,F401


def _register_lowering() -> None:
    # The Numba lowering of loops lives with the backend; register it when present.
    try:
        from funcad.lowering.numba import control_rules  # noqa: F401
    except ImportError:  # pragma: no cover - backend not installed
        pass


_register_lowering()


# Called outside transforms, the public functions return funcad.Arrays.
from funcad._array import export_arrays as _export_arrays  # noqa: E402

_export_arrays(globals())
