"""Top-level JAX names a numerical program uses: block_until_ready, named_call/named_scope,
ensure_compile_time_eval, custom_gradient, closure_convert, typeof, clear_caches, the
configuration context managers, float0, the process/host queries, print_environment_info."""

from __future__ import annotations

import contextlib
import functools
from typing import Any, Callable

import numpy as np

from funcad import _core
from funcad._tree import tree_flatten, tree_leaves, tree_unflatten, register_pytree_node

#: The dtype of the tangents of integer and boolean values, as JAX's.
float0 = np.dtype([("float0", np.void, 0)])


def block_until_ready(x: Any) -> Any:
    """Wait until every array leaf of `x` is computed; returns `x` (funcad is synchronous)."""
    for leaf in tree_leaves(x):
        f = getattr(leaf, "block_until_ready", None)
        if callable(f) and not isinstance(leaf, _core.Tracer):
            f()
    return x


def named_call(fun: Callable, *, name: str | None = None) -> Callable:
    """`fun` unchanged in meaning (funcad's jaxprs carry no call names)."""
    @functools.wraps(fun)
    def wrapper(*args, **kwargs):
        return fun(*args, **kwargs)
    return wrapper


@contextlib.contextmanager
def named_scope(name: str):
    """Context manager naming a scope: a no-op in funcad (no profiler metadata)."""
    if not isinstance(name, str):
        raise TypeError(f"named_scope: name must be a string, got {name!r}")
    yield


@contextlib.contextmanager
def ensure_compile_time_eval():
    """Context manager: operations on concrete values run eagerly even under jit (as JAX:
    the dynamic trace is reset to evaluation; values depending on traced arguments are
    still traced). Limitation: funcad.numpy's creation functions (fnp.array, fnp.ones...)
    still return tracers inside a transform; operate on NumPy values or Python numbers to
    get concrete results."""
    with _core.eval_context():
        yield


def typeof(x: Any) -> _core.ShapedArray:
    """The abstract value (funcad's ShapedArray: shape, dtype, weak_type) of a value."""
    return _core.get_aval(x)


def clear_caches() -> None:
    """Clear jit's in-memory trace caches (functions are traced again on their next call;
    the on-disk compile cache is kept)."""
    from funcad import _jit
    for per_fun in list(_jit._trace_caches.values()):
        for caches in per_fun.values():
            for c in caches:
                c.clear()


# -- configuration context managers ---------------------------------------------------------


@contextlib.contextmanager
def enable_x64(new_val: bool = True):
    """Context manager for jax_enable_x64: funcad is always 64-bit, False raises."""
    from funcad._config import _flag
    with _flag("jax_enable_x64", new_val):
        yield


@contextlib.contextmanager
def default_matmul_precision(precision: Any):
    """Context manager for jax_default_matmul_precision (accepted; funcad multiplies in the
    operands' own precision)."""
    from funcad._config import _flag
    with _flag("jax_default_matmul_precision", precision):
        yield


@contextlib.contextmanager
def numpy_rank_promotion(level: str):
    """Context manager for jax_numpy_rank_promotion: only 'allow' is supported."""
    from funcad._config import _flag
    with _flag("jax_numpy_rank_promotion", level):
        yield


@contextlib.contextmanager
def numpy_dtype_promotion(promotion: str):
    """Context manager for jax_numpy_dtype_promotion: only 'standard' is supported."""
    if promotion != "standard":
        if promotion == "strict":
            raise NotImplementedError("numpy_dtype_promotion('strict') is not supported: "
                                      "funcad always uses the standard promotion rules")
        raise ValueError(f"numpy_dtype_promotion: expected 'standard' or 'strict', got "
                         f"{promotion!r}")
    yield


@contextlib.contextmanager
def default_device(device: Any):
    """Context manager for the default device: None or funcad's CPU device (the only one)."""
    from funcad._array import devices
    if device is not None and device not in devices() and device != "cpu":
        raise ValueError(f"default_device: {device!r} is not a funcad device; funcad runs on "
                         f"{devices()} only")
    yield


# -- processes ------------------------------------------------------------------------------


def process_count(backend: str | None = None) -> int:
    """The number of processes: 1 (funcad runs in one process)."""
    return 1


def process_index(backend: str | None = None) -> int:
    """This process's index: 0."""
    return 0


def host_count(backend: str | None = None) -> int:
    """Alias of process_count: 1."""
    return 1


def host_id(backend: str | None = None) -> int:
    """Alias of process_index: 0."""
    return 0


def print_environment_info(return_string: bool = False):
    """Print (or return) the versions of funcad, Python, NumPy, Numba and the platform."""
    import platform
    import sys

    import funcad
    try:
        import numba
        numba_version = numba.__version__
    except Exception:  # pragma: no cover
        numba_version = "not installed"
    text = (f"funcad:  {funcad.__version__}\n"
            f"numpy:   {np.__version__}\n"
            f"numba:   {numba_version}\n"
            f"python:  {sys.version}\n"
            f"device info: cpu-1, 1 local devices\n"
            f"process_count: 1\n"
            f"platform: {platform.uname()}\n")
    if return_string:
        return text
    print(text)


# -- custom_gradient and closure_convert ----------------------------------------------------


class _Residuals:
    """custom_gradient's residuals: the traced vjp rule's constants (children) and the rule's
    jaxpr and trees (static)."""

    def __init__(self, consts, static):
        self.consts, self.static = consts, static


register_pytree_node(_Residuals, lambda r: (tuple(r.consts), r.static),
                     lambda static, consts: _Residuals(list(consts), static))


class _Static:
    """Hashable-by-identity holder for a jaxpr and trees (compared by identity)."""

    def __init__(self, *items):
        self.items = items


def custom_gradient(fun: Callable) -> Callable:
    """Define a function's gradient as JAX: ``fun(*args)`` returns ``(value, vjp_fn)``
    where ``vjp_fn(cotangent)`` returns the cotangents of the args (a tuple, or one value
    for one arg). Built on funcad.custom_vjp."""
    from funcad._custom_derivatives import custom_vjp
    from funcad._ir import eval_jaxpr
    from funcad.interpreters.partial_eval import trace_to_jaxpr_flat

    @custom_vjp
    def wrapped(*args):
        ans, _ = fun(*args)
        return ans

    def fwd(*args):
        ans, rule = fun(*args)
        ans_leaves, out_tree = tree_flatten(ans)
        avals = [_core.get_aval(a).strip_weak() for a in ans_leaves]
        box: list = []

        def flat_rule(*cts):
            res = rule(tree_unflatten(out_tree, list(cts)))
            res_leaves, res_tree = tree_flatten(res)
            box.append(res_tree)
            return res_leaves

        jaxpr, consts = trace_to_jaxpr_flat(flat_rule, avals)
        return ans, _Residuals(list(consts), _Static(jaxpr, box[0], len(args)))

    def bwd(res, cts):
        jaxpr, in_tree, nargs = res.static.items
        out = tree_unflatten(in_tree, eval_jaxpr(jaxpr, res.consts, tree_leaves(cts)))
        if nargs == 1 and not (isinstance(out, tuple) and len(out) == 1):
            out = (out,)
        if not isinstance(out, tuple) or len(out) != nargs:
            raise TypeError(f"custom_gradient: the vjp function must return a tuple of "
                            f"{nargs} cotangents (one per argument), got {out!r:.80}")
        return out

    wrapped.defvjp(fwd, bwd)
    functools.update_wrapper(wrapped, fun, updated=())
    return wrapped


def closure_convert(fun: Callable, *example_args) -> tuple[Callable, list]:
    """As JAX: (converted, consts) where ``converted(*args, *consts)`` equals ``fun(*args)``
    and consts are the tracers of outer transforms that `fun` closes over (hoisted so that
    custom_vjp/custom_jvp rules can take them as arguments)."""
    from funcad._ir import eval_jaxpr
    from funcad.interpreters.partial_eval import trace_to_jaxpr_flat

    flat_args, in_tree = tree_flatten(example_args)
    avals = [_core.get_aval(x) for x in flat_args]
    box: list = []

    def flat_fun(*xs):
        out = fun(*tree_unflatten(in_tree, list(xs)))
        leaves, out_tree = tree_flatten(out)
        box.append(out_tree)
        return leaves

    jaxpr, consts = trace_to_jaxpr_flat(flat_fun, avals)
    out_tree = box[0]
    hoist = [isinstance(c, _core.Tracer) and np.dtype(c.aval.dtype).kind in "fc"
             for c in consts]
    closure_consts = [c for c, h in zip(consts, hoist) if not h]
    hoisted = [c for c, h in zip(consts, hoist) if h]
    n_hoisted = len(hoisted)

    def converted_fun(*args_hconsts):
        n_args = len(args_hconsts) - n_hoisted
        args, hconsts = args_hconsts[:n_args], list(args_hconsts[n_args:])
        ci, hi = iter(closure_consts), iter(hconsts)
        all_consts = [next(hi) if h else next(ci) for h in hoist]
        leaves, in_tree2 = tree_flatten(tuple(args))
        if in_tree2 != in_tree:
            raise TypeError(f"closure_convert: the converted function was traced for "
                            f"arguments {in_tree}, called with {in_tree2}")
        return tree_unflatten(out_tree, eval_jaxpr(jaxpr, all_consts, leaves))

    return converted_fun, hoisted
