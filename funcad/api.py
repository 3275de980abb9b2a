"""The public transforms: grad, vjp, jvp, linearize, vmap, jacobians, make_jaxpr."""

from __future__ import annotations

import functools
from typing import Any, Callable, Sequence

import numpy as np

from funcad._array import Array, to_array
from funcad._core import (
    ShapedArray,
    Tracer,
    current_dynamic_main,
    get_aval,
    is_float_dtype,
)
from funcad._ir import ClosedJaxpr, eval_jaxpr
from funcad._tree import (
    trailing_axes,
    tree_broadcast_prefix,
    tree_flatten,
    tree_unflatten,
    tree_structure,
)
from funcad.interpreters.ad import (
    Zero,
    backward_pass,
    instantiate,
    jvp_flat,
    linearize_flat,
    tangent_aval,
)
from funcad.interpreters import tape
from funcad.interpreters.batching import moveaxis, vmap_flat
from funcad.interpreters.partial_eval import trace_to_jaxpr_flat
from funcad.numpy._base import keep_weak
from funcad.primitives.structural import full

# ----------------------------------------------------------------------------------
# helpers


def _out(x: Any) -> Any:
    """Outputs leave funcad as Arrays (0-d arrays for scalars), tracers stay tracers."""
    if isinstance(x, Tracer):
        return x
    if type(x) is Zero:
        return to_array(np.zeros(x.aval.shape, x.aval.dtype))
    return to_array(x if type(x) is np.ndarray or type(x) is Array else np.asarray(x))


_WEAK_LEAVES = frozenset({int, float, complex, Array})   # (an Array when its _weak says)


def _in(x: Any) -> Any:
    """Check and normalise one input leaf (Arrays: as plain ndarrays, which NumPy runs
    without the Array type's protocol overhead)."""
    if isinstance(x, Tracer) or type(x) is np.ndarray:
        return x
    if type(x) is Array:
        return x.view(np.ndarray)
    if isinstance(x, (bool, int, float, complex, np.generic)):
        return np.asarray(x)
    if isinstance(x, np.ndarray):
        return np.asarray(x)
    if isinstance(x, (list, tuple)):
        raise TypeError("internal: pytree node passed as leaf")
    try:
        arr = np.asarray(x)
    except Exception as e:  # pragma: no cover - defensive
        raise TypeError(f"cannot use {type(x).__name__} as an array input") from e
    if arr.dtype == object:
        raise TypeError(f"funcad cannot use a value of type {type(x).__name__} as an "
                        f"array input: {x!r:.80}")
    return arr


def _fun_name(fun: Callable) -> str:
    return getattr(fun, "__name__", type(fun).__name__)


def _normalize_argnums(argnums, nargs: int, fname: str, what: str = "argnums"):
    single = isinstance(argnums, int)
    nums = (argnums,) if single else tuple(argnums)
    out = []
    for a in nums:
        if not isinstance(a, int):
            raise TypeError(f"{what} must be an int or a tuple of ints, got {argnums!r}")
        if not -nargs <= a < nargs:
            raise ValueError(f"{what}={argnums!r} but {fname} was called with {nargs} "
                             f"positional argument(s)")
        out.append(a % nargs)
    return single, tuple(out)


def _check_float_leaves(leaves, fname: str, argnums, holomorphic: bool = False,
                        transform: str = "grad") -> None:
    for x in leaves:
        aval = get_aval(x)
        if holomorphic and aval.dtype.kind != "c":
            raise TypeError(f"{transform} with holomorphic=True requires inputs with complex "
                            f"dtype, but got {aval.dtype.name} (differentiating {fname}, "
                            f"argnums={argnums}). Pass complex inputs (e.g. "
                            f"`x.astype(complex)`) or drop holomorphic=True.")
        if not is_float_dtype(aval.dtype):
            raise TypeError(
                f"cannot differentiate {fname} with respect to an input of dtype "
                f"{aval.dtype.name} (argnums={argnums}): only floating-point or complex "
                f"inputs are differentiable. Pass a float array (e.g. `x.astype(float)`) or "
                f"leave that argument out of argnums.")


def _check_rev_output(y_dtype: np.dtype, fname: str, transform: str,
                      holomorphic: bool) -> None:
    """JAX's rules for the output dtype of grad and jacrev (the cotangents seeded)."""
    if holomorphic:
        if y_dtype.kind != "c":
            raise TypeError(f"{transform} with holomorphic=True requires outputs with "
                            f"complex dtype, but got {y_dtype.name} (from {fname}).")
        return
    if y_dtype.kind == "c":
        raise TypeError(
            f"{transform} requires real-valued outputs (output dtype that is a sub-dtype "
            f"of np.floating), but {fname} returned {y_dtype.name}. For holomorphic "
            f"differentiation, pass holomorphic=True. For differentiation of "
            f"non-holomorphic functions involving complex outputs, use funcad.vjp directly.")
    if y_dtype.kind != "f":
        raise TypeError(
            f"{transform} requires {fname} to return a floating-point scalar, but it "
            f"returned dtype {y_dtype.name}. For differentiation of functions with "
            f"integer outputs, use funcad.vjp directly.")


def _flat_fun_of_args(fun, args, kwargs, argnums, in_tree, has_aux, box):
    """A function of the flat differentiable leaves; other args are held fixed."""
    flat_in = in_tree is _flat_tuple_tree(len(argnums))     # the leaves are the args

    def flat_fun(*leaves):
        diff = leaves if flat_in else tree_unflatten(in_tree, leaves)
        new_args = list(args)
        for i, d in zip(argnums, diff):
            new_args[i] = d
        out = fun(*new_args, **kwargs)
        if has_aux:
            if not (isinstance(out, (tuple, list)) and len(out) == 2):
                raise TypeError(f"{_fun_name(fun)} was transformed with has_aux=True, so it "
                                f"must return a pair (output, aux); got {type(out).__name__}")
            out, aux = out
            aux_leaves, aux_tree = tree_flatten(aux)
            box["aux_tree"] = aux_tree
        else:
            aux_leaves = []
        if isinstance(out, Tracer) or type(out) is np.ndarray:      # one leaf (grad's)
            out_leaves, out_tree = [out], _LEAF_TREE
        else:
            out_leaves, out_tree = tree_flatten(out)
        box["out_tree"] = out_tree
        box["num_aux"] = len(aux_leaves)
        return [*out_leaves, *aux_leaves]
    return flat_fun


_LEAF_TREE = tree_flatten(0)[1]
_FLAT_TUPLE_TREES: dict = {}


def _flat_tuple_tree(n: int):
    """The structure of a tuple of n leaves (one object per n)."""
    t = _FLAT_TUPLE_TREES.get(n)
    if t is None:
        t = _FLAT_TUPLE_TREES[n] = tree_flatten(tuple(range(n)))[1]
    return t


def _diff_leaves(args: tuple, nums: tuple) -> tuple[list, Any, list | None]:
    """The leaves of the differentiated arguments, their structure, and which are weakly
    typed (None: none is); ndarrays (the commonest arguments) are their own leaves."""
    leaves = []
    for i in nums:
        a = args[i]
        if type(a) is not np.ndarray:
            break
        leaves.append(a)
    else:
        return leaves, _flat_tuple_tree(len(nums)), None
    leaves, in_tree = tree_flatten(tuple([args[i] for i in nums]))
    weak = [x.aval.weak_type if isinstance(x, Tracer) else
            type(x) in _WEAK_LEAVES and (type(x) is not Array or x._weak) for x in leaves]
    return [_in(x) for x in leaves], in_tree, weak if any(weak) else None


# ----------------------------------------------------------------------------------
# reverse mode


def value_and_grad(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False,
                   holomorphic: bool = False) -> Callable:
    """Return a function computing both `fun` and its gradient.

    Args:
      fun: function with a scalar float output.
      argnums: which positional argument(s) to differentiate.
      has_aux: `fun` returns `(output, aux)`; aux is returned but not differentiated.
      holomorphic: `fun` is a holomorphic function of complex inputs with a complex output;
        the gradient is then its complex derivative f'(z). Without it, complex inputs
        are allowed (for a real output) and get JAX's convention df/dx - i df/dy.
    Returns:
      A function returning `(value, grad)` or `((value, aux), grad)`.

    >>> import funcad as fa, funcad.numpy as fnp
    >>> v, g = fa.value_and_grad(lambda x: fnp.sum(x ** 2))(fnp.array([1.0, 2.0]))
    >>> float(v), g.tolist()
    (5.0, [2.0, 4.0])
    """
    vg = _value_and_grad(fun, argnums, has_aux, holomorphic)

    @functools.wraps(fun, updated=())
    def value_and_grad_fun(*args, **kwargs):
        return vg(args, kwargs, True)

    return value_and_grad_fun


def _value_and_grad(fun: Callable, argnums, has_aux: bool, holomorphic: bool) -> Callable:
    """value_and_grad's work: `(args, kwargs, value) -> ((value, aux), grad)` (only the
    gradient and aux, not the value, made Arrays when `value` is False: grad's)."""
    fname = _fun_name(fun)
    normalized: dict = {}       # number of args -> _normalize_argnums's answer

    def value_and_grad_fun(args, kwargs, value):
        norm = normalized.get(len(args))
        if norm is None:
            norm = normalized[len(args)] = _normalize_argnums(argnums, len(args), fname)
        single, nums = norm
        leaves, in_tree, weak = _diff_leaves(args, nums)
        if holomorphic or any([x.dtype.kind not in "fc" for x in leaves
                               if type(x) is np.ndarray]):
            _check_float_leaves(leaves, fname, argnums, holomorphic, "grad")
        else:
            _check_float_leaves([x for x in leaves if type(x) is not np.ndarray], fname,
                                argnums, holomorphic, "grad")
        box: dict = {}
        flat_fun = _flat_fun_of_args(fun, args, kwargs, nums, in_tree, has_aux, box)
        if tape.usable(leaves):     # eager: equations recorded and transposed at once
            outs, backward = tape.vjp_flat(flat_fun, leaves)
        else:
            outs, lin = _linearize_aux(flat_fun, leaves, box, prune=False)  # transposed once

            def backward(cts_out):
                return backward_pass(lin.jaxpr, lin.consts, [True] * len(leaves),
                                     [None] * len(leaves), cts_out)
        n_aux = box["num_aux"]
        y = outs[0] if len(outs) - n_aux == 1 else None
        y_aval = get_aval(y) if y is not None else None
        if y is None or y_aval.shape != ():
            out_leaves = outs[:len(outs) - n_aux]
            shape = ([get_aval(o).shape for o in out_leaves] if len(out_leaves) != 1
                     else y_aval.shape)
            raise TypeError(
                f"grad requires {fname} to return a scalar (shape ()), but it returned "
                f"{'a value of shape ' + str(shape) if len(out_leaves) == 1 else shape}. "
                f"Reduce it to a scalar (e.g. with .sum()) or use jacrev/jacfwd/vjp for "
                f"non-scalar outputs.")
        y_dtype = y_aval.dtype
        _check_rev_output(y_dtype, fname, "grad", holomorphic)
        # full() without its argument checks when nothing is staged (every eager call)
        ct = (np.ones((), y_dtype) if current_dynamic_main().level == 0
              else full((), 1, y_dtype))
        cts = backward([ct])
        grads = [_out(instantiate(c)) for c in cts]
        if weak is not None:    # a gradient has its input's type: weak for a Python number
            grads = [keep_weak(g, w) for g, w in zip(grads, weak, strict=True)]
        grads = (tuple(grads) if in_tree is _flat_tuple_tree(len(nums))
                 else tree_unflatten(in_tree, grads))
        grad_val = grads[0] if single else grads
        if has_aux:
            aux = tree_unflatten(box["aux_tree"], [_out(a) for a in outs[len(outs) - n_aux:]])
            return (_out(y) if value else y, aux), grad_val
        return _out(y) if value else y, grad_val

    return value_and_grad_fun


def _linearize_aux(flat_fun, leaves, box, prune=True):
    """Linearize, leaving the aux outputs (counted once the function has run) out."""
    return linearize_flat(flat_fun, leaves, num_aux=lambda: box["num_aux"], prune=prune)


def grad(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False,
         holomorphic: bool = False) -> Callable:
    """Return a function computing the gradient of a scalar function.

    Args:
      fun: function with a scalar float output.
      argnums: which positional argument(s) to differentiate (int or tuple).
      has_aux: `fun` returns `(output, aux)`; then `(grad, aux)` is returned.
      holomorphic: differentiate a holomorphic complex function (complex inputs and
        output): the result is f'(z). For a real-valued f of complex z (the default),
        the result is df/dx - i df/dy (JAX's convention: grad(abs(z)**2) = 2 conj(z)).
    Returns:
      A function with the same arguments returning the gradient, shaped like the args.

    >>> import funcad as fa, funcad.numpy as fnp
    >>> fa.grad(lambda x: fnp.sin(x) * x)(0.0)
    Array(0., dtype=float64)
    """
    vg = _value_and_grad(fun, argnums, has_aux, holomorphic)

    @functools.wraps(fun, updated=())
    def grad_fun(*args, **kwargs):
        if has_aux:
            (_, aux), g = vg(args, kwargs, False)
            return g, aux
        return vg(args, kwargs, False)[1]

    return grad_fun


def vjp(fun: Callable, *primals: Any, has_aux: bool = False):
    """Evaluate `fun` and return its vector-Jacobian product function.

    Returns:
      `(out, vjp_fun)` (plus `aux` if has_aux); `vjp_fun(ct)` returns a tuple with one
      cotangent per primal.

    >>> import funcad as fa, funcad.numpy as fnp
    >>> y, f_vjp = fa.vjp(fnp.sin, 0.0)
    >>> f_vjp(1.0)
    (Array(1., dtype=float64),)
    """
    fname = _fun_name(fun)
    leaves, in_tree = tree_flatten(primals)
    leaves = [_in(x) for x in leaves]
    box: dict = {}
    flat_fun = _flat_fun_of_args(fun, primals, {}, tuple(range(len(primals))), in_tree,
                                 has_aux, box)
    if tape.usable(leaves):     # eager: equations recorded, transposed when asked
        outs, backward = tape.vjp_flat(flat_fun, leaves)
    else:
        outs, lin = _linearize_aux(flat_fun, leaves, box)

        def backward(cts_out):
            return backward_pass(lin.jaxpr, lin.consts, [True] * len(leaves),
                                 [None] * len(leaves), cts_out)
    n_aux = box["num_aux"]
    out_leaves = outs[:len(outs) - n_aux]
    out_tree = box["out_tree"]
    in_avals = [get_aval(x) for x in leaves]

    def vjp_fun(ct):
        ct_leaves, ct_tree = tree_flatten(ct)
        if ct_tree != out_tree:
            raise ValueError(f"vjp of {fname}: the cotangent has structure {ct_tree} but "
                             f"the output has structure {out_tree}")
        cts = []
        for c, o in zip(ct_leaves, out_leaves, strict=True):
            oa = get_aval(o)
            c = _in(c)
            ca = get_aval(c)
            if ca.shape != oa.shape:
                raise ValueError(f"vjp of {fname}: cotangent shape {ca.shape} does not match "
                                 f"the output shape {oa.shape}")
            if ca.dtype != oa.dtype and is_float_dtype(oa.dtype):
                from funcad.primitives.elementwise import convert_element_type_p
                c = convert_element_type_p.bind(c, new_dtype=oa.dtype)
            cts.append(c if is_float_dtype(oa.dtype) else Zero(tangent_aval(oa)))
        res = [_zero_ct(r, a) for r, a in zip(backward(cts), in_avals)]
        return tuple(tree_unflatten(in_tree, res))

    out = tree_unflatten(out_tree, [_out(o) for o in out_leaves])
    if has_aux:
        aux = tree_unflatten(box["aux_tree"], [_out(a) for a in outs[len(outs) - n_aux:]])
        return out, vjp_fun, aux
    return out, vjp_fun


def _zero_ct(r, aval: ShapedArray):
    if type(r) is Zero:
        return to_array(np.zeros(aval.shape, aval.dtype))
    return _out(r)


# ----------------------------------------------------------------------------------
# forward mode


def jvp(fun: Callable, primals: Sequence, tangents: Sequence, has_aux: bool = False):
    """Jacobian-vector product: `(fun(*primals), J @ tangents)`.

    >>> import funcad as fa, funcad.numpy as fnp
    >>> fa.jvp(fnp.sin, (0.0,), (2.0,))
    (Array(0., dtype=float64), Array(2., dtype=float64))
    """
    fname = _fun_name(fun)
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError("jvp expects primals and tangents as tuples (one entry per "
                        f"argument), got {type(primals).__name__} and "
                        f"{type(tangents).__name__}")
    p_leaves, p_tree = tree_flatten(tuple(primals))
    t_leaves, t_tree = tree_flatten(tuple(tangents))
    if p_tree != t_tree:
        raise ValueError(f"jvp of {fname}: primals have structure {p_tree} but tangents "
                         f"have {t_tree}")
    p_leaves = [_in(x) for x in p_leaves]
    t_leaves = [_in(x) for x in t_leaves]
    for p, t in zip(p_leaves, t_leaves):
        pa, ta = get_aval(p), get_aval(t)
        if pa.shape != ta.shape:
            raise ValueError(f"jvp of {fname}: tangent shape {ta.shape} does not match "
                             f"primal shape {pa.shape}")
    t_leaves = [t if is_float_dtype(get_aval(p).dtype) else Zero(get_aval(p).strip_weak())
                for p, t in zip(p_leaves, t_leaves)]
    t_leaves = [_cast_like(t, p) for t, p in zip(t_leaves, p_leaves)]
    box: dict = {}
    flat_fun = _flat_fun_of_args(fun, tuple(primals), {}, tuple(range(len(primals))),
                                 p_tree, has_aux, box)
    p_out, t_out = jvp_flat(flat_fun, p_leaves, t_leaves)
    n_aux = box["num_aux"]
    n = len(p_out) - n_aux
    out_tree = box["out_tree"]
    po = tree_unflatten(out_tree, [_out(x) for x in p_out[:n]])
    to = tree_unflatten(out_tree, [_out(instantiate(t)) for t in t_out[:n]])
    if has_aux:
        return po, to, tree_unflatten(box["aux_tree"], [_out(x) for x in p_out[n:]])
    return po, to


def _cast_like(t, p):
    if type(t) is Zero:
        return t
    pa = get_aval(p)
    if get_aval(t).dtype != pa.dtype:
        from funcad.primitives.elementwise import convert_element_type_p
        return convert_element_type_p.bind(t, new_dtype=pa.dtype)
    return t


def linearize(fun: Callable, *primals: Any):
    """Evaluate `fun` and return `(out, f_jvp)`, a re-usable linear function.

    >>> import funcad as fa, funcad.numpy as fnp
    >>> y, f_jvp = fa.linearize(fnp.exp, 0.0)
    >>> f_jvp(3.0)
    Array(3., dtype=float64)
    """
    leaves, in_tree = tree_flatten(primals)
    leaves = [_in(x) for x in leaves]
    box: dict = {}
    flat_fun = _flat_fun_of_args(fun, primals, {}, tuple(range(len(primals))), in_tree,
                                 False, box)
    outs, lin = linearize_flat(flat_fun, leaves)
    out_tree = box["out_tree"]
    in_avals = [get_aval(x) for x in leaves]

    def f_jvp(*tangents):
        t_leaves, t_tree = tree_flatten(tangents)
        if t_tree != in_tree:
            raise ValueError(f"linearized function expects tangents with structure {in_tree}"
                             f", got {t_tree}")
        t_leaves = [_in(t) for t in t_leaves]
        for t, a in zip(t_leaves, in_avals):
            if get_aval(t).shape != a.shape:
                raise ValueError(f"tangent shape {get_aval(t).shape} does not match primal "
                                 f"shape {a.shape}")
        res = eval_jaxpr(lin.jaxpr, lin.consts, t_leaves)
        return tree_unflatten(out_tree, [_out(r) for r in res])

    return tree_unflatten(out_tree, [_out(o) for o in outs]), f_jvp


# ----------------------------------------------------------------------------------
# vmap


def vmap(fun: Callable, in_axes: Any = 0, out_axes: Any = 0, axis_size: int | None = None
         ) -> Callable:
    """Vectorise `fun` over an axis of its inputs.

    Args:
      fun: the function to vectorise.
      in_axes: int, None, or a pytree prefix of the arguments (a tuple with one entry per
        positional argument); None means not mapped. Negative axes count from the end.
      out_axes: where the mapped axis goes in the outputs (int, None, or pytree prefix).
      axis_size: the mapped size, needed only when no input is mapped.

    >>> import funcad as fa, funcad.numpy as fnp
    >>> fa.vmap(lambda x, y: x * y, in_axes=(0, None))(fnp.arange(3.0), 2.0)
    Array([0., 2., 4.], dtype=float64)
    """
    fname = _fun_name(fun)
    if isinstance(in_axes, list):
        in_axes = tuple(in_axes)
    _check_axes_spec(in_axes, "in_axes")

    @functools.wraps(fun, updated=())
    def vmapped(*args, **kwargs):
        if isinstance(in_axes, tuple) and len(in_axes) != len(args):
            raise ValueError(f"vmap of {fname}: in_axes has {len(in_axes)} entries but the "
                             f"function was called with {len(args)} positional arguments")
        axes_spec = in_axes if isinstance(in_axes, tuple) else (in_axes,) * len(args)
        leaves, in_tree = tree_flatten(args)
        axes = tree_broadcast_prefix(axes_spec, args, "in_axes")
        kw_leaves, kw_tree = tree_flatten(kwargs)
        leaves = [_in(x) for x in leaves] + [_in(x) for x in kw_leaves]
        axes = list(axes) + [0] * len(kw_leaves)
        arg_names = _leaf_names(args, kwargs, fname)
        # a typed key's data has a trailing word axis that in_axes does not count
        trail = trailing_axes((args, kwargs)) or [0] * len(leaves)
        size = axis_size
        sizes = []
        norm_axes = []
        for x, ax, name, tr in zip(leaves, axes, arg_names, trail, strict=True):
            if ax is None:
                norm_axes.append(None)
                continue
            nd = get_aval(x).ndim - tr
            if not isinstance(ax, int):
                raise TypeError(f"vmap of {fname}: in_axes entries must be ints or None, "
                                f"got {ax!r} for {name}")
            if not -nd <= ax < nd:
                raise ValueError(f"vmap of {fname}: in_axes={ax} is out of range for {name} "
                                 f"of shape {get_aval(x).shape[:nd]} (rank {nd})")
            ax %= nd
            norm_axes.append(ax)
            sizes.append((name, get_aval(x).shape[ax]))
        if sizes:
            distinct = {s for _, s in sizes}
            if len(distinct) > 1:
                detail = ", ".join(f"{n} has size {s}" for n, s in sizes)
                raise ValueError(f"vmap of {fname}: the mapped axes have different sizes: "
                                 f"{detail}. All mapped axes must have the same size.")
            s0 = sizes[0][1]
            if size is not None and size != s0:
                raise ValueError(f"vmap of {fname}: axis_size={size} but the mapped inputs "
                                 f"have size {s0}")
            size = s0
        if size is None:
            raise ValueError(f"vmap of {fname}: no input is mapped (all in_axes are None); "
                             f"pass axis_size to say how many times to map")
        box: dict = {}
        n_pos = in_tree.num_leaves

        def flat_fun(*xs):
            a = tree_unflatten(in_tree, xs[:n_pos])
            kw = tree_unflatten(kw_tree, xs[n_pos:])
            out = fun(*a, **kw)
            out_leaves, out_tree = tree_flatten(out)
            box["out_tree"] = out_tree
            box["out"] = out
            return out_leaves

        outs, dims = vmap_flat(flat_fun, size, leaves, norm_axes)
        out_tree = box["out_tree"]
        out_struct = tree_unflatten(out_tree, list(range(out_tree.num_leaves)))
        oaxes = tree_broadcast_prefix(out_axes, out_struct, "out_axes")
        otrail = trailing_axes(box["out"]) or [0] * len(outs)
        final = []
        for o, d, oa, tr in zip(outs, dims, oaxes, otrail, strict=True):
            if oa is None:
                if d is not None:
                    raise ValueError(f"vmap of {fname}: out_axes=None for an output that "
                                     f"depends on the mapped inputs (it differs across the "
                                     f"batch)")
                final.append(_out(o))
                continue
            nd = get_aval(o).ndim + (1 if d is None else 0) - tr
            if not -nd <= oa < nd:
                raise ValueError(f"vmap of {fname}: out_axes={oa} out of range for an output "
                                 f"of rank {nd}")
            final.append(_out(moveaxis(o, d, oa % nd, size)))
        return tree_unflatten(out_tree, final)

    return vmapped


def _check_axes_spec(spec, what):
    for leaf in tree_flatten(spec, is_leaf=lambda x: x is None)[0]:
        if leaf is not None and not isinstance(leaf, int):
            raise TypeError(f"vmap {what} must contain ints or None, got {leaf!r}")


def _leaf_names(args, kwargs, fname) -> list[str]:
    names = []
    for i, a in enumerate(args):
        n = tree_structure(a).num_leaves
        names.extend([f"argument {i}"] if n == 1 else
                     [f"argument {i} (leaf {j})" for j in range(n)])
    for k in sorted(kwargs):
        n = tree_structure(kwargs[k]).num_leaves
        names.extend([f"keyword argument {k!r}"] * n)
    return names


# ----------------------------------------------------------------------------------
# Jacobians and Hessians


def _std_basis(leaves) -> tuple[int, list]:
    sizes = [get_aval(x).size for x in leaves]
    total = sum(sizes)
    basis = []
    offset = 0
    for x, n in zip(leaves, sizes):
        aval = get_aval(x)
        b = np.zeros((total, n), dtype=aval.dtype)
        b[offset:offset + n, :] = np.eye(n, dtype=aval.dtype)
        basis.append(b.reshape((total, *aval.shape)))
        offset += n
    return total, basis


def _split_axis(x, axis_len_shapes, axis: int):
    """Split axis `axis` (of total size sum(prod(shape))) into pieces reshaped to shapes."""
    from funcad import numpy as fnp
    pieces = []
    start = 0
    for shape in axis_len_shapes:
        n = int(np.prod(shape, dtype=np.int64))
        idx = [slice(None)] * get_aval(x).ndim
        idx[axis] = slice(start, start + n)
        piece = x[tuple(idx)]
        sh = list(get_aval(piece).shape)
        new_shape = sh[:axis] + list(shape) + sh[axis + 1:]
        pieces.append(_out(fnp.reshape(piece, tuple(new_shape))))
        start += n
    return pieces


def _differentiable_leaves(fun, fname, argnums, args, kwargs, holomorphic=False,
                           transform="jacrev"):
    """The float leaves selected by argnums, and `fun` as a function of those leaves.

    Returns (single, leaves, in_tree, f_of_leaves); `single` is True for an int argnums.
    """
    single, nums = _normalize_argnums(argnums, len(args), fname)
    leaves, in_tree = tree_flatten(tuple(args[i] for i in nums))
    leaves = [_in(x) for x in leaves]
    _check_float_leaves(leaves, fname, argnums, holomorphic, transform)
    if transform == "jacfwd" and not holomorphic:
        for x in leaves:
            dt = get_aval(x).dtype
            if dt.kind == "c":
                raise TypeError(
                    f"jacfwd requires real-valued inputs (input dtype that is a sub-dtype "
                    f"of np.floating), but got {dt.name} (differentiating {fname}). For "
                    f"holomorphic differentiation, pass holomorphic=True. For "
                    f"differentiation of non-holomorphic functions involving complex "
                    f"inputs, use funcad.jvp directly.")

    def f_of_leaves(*ls):
        new = list(args)
        for i, v in zip(nums, tree_unflatten(in_tree, ls)):
            new[i] = v
        return fun(*new, **kwargs)
    return single, leaves, in_tree, f_of_leaves


def jacfwd(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False,
           holomorphic: bool = False) -> Callable:
    """Jacobian by forward mode (one jvp per input element, vectorised with vmap).

    The result has shape `out.shape + in.shape` for each (output leaf, input leaf).

    >>> import funcad as fa, funcad.numpy as fnp
    >>> fa.jacfwd(lambda x: x ** 2)(fnp.array([1.0, 2.0]))
    Array([[2., 0.],
           [0., 4.]], dtype=float64)
    """
    fname = _fun_name(fun)

    def jac_fun(*args, **kwargs):
        single, leaves, in_tree, f_of_leaves = _differentiable_leaves(
            fun, fname, argnums, args, kwargs, holomorphic, "jacfwd")
        total, basis = _std_basis(leaves)

        def push(*ts):
            out = jvp(f_of_leaves, tuple(leaves), tuple(ts), has_aux=has_aux)
            return out

        res = vmap(push, in_axes=tuple(0 for _ in basis), out_axes=(None, -1, None)
                   if has_aux else (None, -1))(*basis)
        t_leaves, out_tree = tree_flatten(res[1])
        if holomorphic:
            for t in t_leaves:
                if get_aval(t).dtype.kind != "c":
                    raise TypeError(f"jacfwd with holomorphic=True requires outputs with "
                                    f"complex dtype, but got {get_aval(t).dtype.name} "
                                    f"(from {fname}).")
        in_shapes = [get_aval(x).shape for x in leaves]
        jac_leaves = []
        for t in t_leaves:
            pieces = _split_axis(t, in_shapes, get_aval(t).ndim - 1)
            tree = tree_unflatten(in_tree, pieces)
            jac_leaves.append(tree[0] if single else tree)
        jac = tree_unflatten(out_tree, jac_leaves)
        return (jac, res[2]) if has_aux else jac

    return jac_fun


def jacrev(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False,
           holomorphic: bool = False) -> Callable:
    """Jacobian by reverse mode (one vjp per output element, vectorised with vmap).

    >>> import funcad as fa, funcad.numpy as fnp
    >>> fa.jacrev(lambda x: x ** 2)(fnp.array([1.0, 2.0]))
    Array([[2., 0.],
           [0., 4.]], dtype=float64)
    """
    fname = _fun_name(fun)

    def jac_fun(*args, **kwargs):
        single, leaves, in_tree, f_of_leaves = _differentiable_leaves(
            fun, fname, argnums, args, kwargs, holomorphic, "jacrev")
        res = vjp(f_of_leaves, *leaves, has_aux=has_aux)
        y, f_vjp = res[0], res[1]
        y_leaves, out_tree = tree_flatten(y)
        for o in y_leaves:
            _check_rev_output(get_aval(o).dtype, fname, "jacrev", holomorphic)
        total, basis = _std_basis(y_leaves)

        def pull(*cts):
            return f_vjp(tree_unflatten(out_tree, cts))

        cts_in = vmap(pull, in_axes=tuple(0 for _ in basis))(*basis)  # tuple over leaves
        out_shapes = [get_aval(o).shape for o in y_leaves]
        # cts_in[j] has shape (total_out, *in_shape_j); split the leading axis per output.
        per_input = [_split_axis(c, out_shapes, 0) for c in cts_in]
        jac_leaves = []
        for k in range(len(y_leaves)):
            tree = tree_unflatten(in_tree, [per_input[j][k] for j in range(len(leaves))])
            jac_leaves.append(tree[0] if single else tree)
        jac = tree_unflatten(out_tree, jac_leaves)
        return (jac, res[2]) if has_aux else jac

    return jac_fun


def hessian(fun: Callable, argnums: int | Sequence[int] = 0, holomorphic: bool = False
            ) -> Callable:
    """Hessian of a scalar function: `jacfwd(jacrev(fun))`.

    >>> import funcad as fa, funcad.numpy as fnp
    >>> fa.hessian(lambda x: fnp.sum(x ** 3))(fnp.array([1.0, 2.0]))
    Array([[ 6.,  0.],
           [ 0., 12.]], dtype=float64)
    """
    return jacfwd(jacrev(fun, argnums, holomorphic=holomorphic), argnums,
                  holomorphic=holomorphic)


# ----------------------------------------------------------------------------------
# make_jaxpr and stop_gradient


def make_jaxpr(fun: Callable, static_argnums: int | Sequence[int] = ()) -> Callable:
    """Return a function that traces `fun` and returns its closed jaxpr.

    >>> import funcad as fa, funcad.numpy as fnp
    >>> print(fa.make_jaxpr(lambda x: fnp.sin(x) * 2.0)(1.0))
    { lambda a:f64[]. let
        b:f64[] = sin a
        c:f64[] = mul b 2.0
      in (c,) }
    """
    static = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)

    @functools.wraps(fun, updated=())
    def make(*args, **kwargs):
        dyn_idx = [i for i in range(len(args)) if i not in static]
        dyn = [args[i] for i in dyn_idx]
        leaves, in_tree = tree_flatten((dyn, kwargs))
        leaves = [_in(x) for x in leaves]
        box = {}

        def flat_fun(*xs):
            d, kw = tree_unflatten(in_tree, xs)
            full_args = list(args)
            for i, v in zip(dyn_idx, d):
                full_args[i] = v
            out = fun(*full_args, **kw)
            out_leaves, out_tree = tree_flatten(out)
            box["out_tree"] = out_tree
            return out_leaves

        avals = [get_aval(x).strip_weak() for x in leaves]
        jaxpr, consts = trace_to_jaxpr_flat(flat_fun, avals)
        closed = ClosedJaxpr(jaxpr, tuple(consts))
        return closed

    return make


def stop_gradient(x: Any) -> Any:
    """Identity on values, zero derivative (applied to every leaf of a pytree).

    >>> import funcad as fa
    >>> fa.grad(lambda x: x * fa.stop_gradient(x))(3.0)
    Array(3., dtype=float64)
    """
    from funcad.primitives.elementwise import stop_gradient_p
    leaves, tree = tree_flatten(x)
    out = []
    for leaf in leaves:
        leaf = _in(leaf)
        out.append(stop_gradient_p.bind(leaf) if isinstance(leaf, Tracer) else _out(leaf))
    return tree_unflatten(tree, out)
