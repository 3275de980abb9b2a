"""Host callbacks: `pure_callback`, `debug.callback` and `debug.print`.

One primitive, `callback`, calls a Python function on concrete arrays: eagerly at once,
and under `jit` from the program's Python driver (the driver of a program with a callback
is always Python, and a loop or cond whose body calls back runs as Python code in it; only
FUNCAD_DRIVER=numba, one native function, cannot call back). Debug callbacks have no
outputs and an *effect*: dead-code elimination keeps them. Under vmap the callback is
called once per batch element (JAX's vmap_method="sequential"); under differentiation
debug callbacks see the primal values and run in the forward pass only, once per primal
iteration of a loop (as JAX: their transpose does nothing; funcad's re-runs of a while
loop's body after its primal run, the scan that linearizes it, the loop of its linear
program and the recomputation of its carries in reverse, drop them: see
`without_debug_callbacks`), and pure callbacks have no derivative (as in JAX: wrap them
in custom_jvp / custom_vjp) except with respect to integers.
"""

from __future__ import annotations

import uuid
from typing import Any, Callable

import numpy as np

from funcad._core import (
    ShapedArray,
    Tracer,
    abstract_eval_rules,
    batch_rules,
    get_aval,
    impl_rules,
    jvp_rules,
    lowering_rules,
)
from funcad._tree import tree_flatten, tree_unflatten
from funcad.primitives._util import new_primitive

callback_p = new_primitive("callback", multiple_results=True)
effectful_primitives = {callback_p}

_REGISTRY: dict[str, "_Callback"] = {}


class _Callback:
    """The user's function and what it returns; hashed by identity (a jaxpr param)."""

    def __init__(self, fn: Callable, in_tree, result_avals: tuple, kind: str):
        self.fn, self.in_tree, self.result_avals, self.kind = fn, in_tree, result_avals, kind
        self.token = uuid.uuid4().hex
        _REGISTRY[self.token] = self

    def __call__(self, *flat_args):
        args, kwargs = tree_unflatten(self.in_tree, [np.asarray(a) for a in flat_args])
        out = self.fn(*args, **kwargs)
        if self.kind == "debug":
            return []
        leaves = tree_flatten(out)[0]
        if len(leaves) != len(self.result_avals):
            raise TypeError(f"pure_callback: the callback returned {len(leaves)} arrays, "
                            f"result_shape_dtypes says {len(self.result_avals)}")
        res = []
        for v, a in zip(leaves, self.result_avals, strict=True):
            v = np.asarray(v)
            if v.shape != a.shape:
                raise TypeError(f"pure_callback: the callback returned shape {v.shape}, "
                                f"result_shape_dtypes says {a.shape}")
            res.append(v.astype(a.dtype, copy=False))
        return res

    def __repr__(self) -> str:
        return f"{getattr(self.fn, '__name__', 'callback')}"


def _impl(*args, callback, vmap_method):
    return callback(*args)


def _aval(*args, callback, vmap_method):
    return list(callback.result_avals)


def _jvp(primals, tangents, *, callback, vmap_method):
    from funcad.interpreters.ad import Zero, tangent_aval
    if callback.kind != "debug" and any(
            type(t) is not Zero and np.issubdtype(get_aval(p).dtype, np.inexact)
            for p, t in zip(primals, tangents)):
        raise TypeError("pure_callback has no derivative; define one with custom_jvp or "
                        "custom_vjp around it")
    # Debug callbacks see the primal values; a pure callback of integers only (a loop
    # counter whose tangent a loop's jvp carries) has zero derivatives.
    outs = callback_p.bind(*primals, callback=callback, vmap_method=vmap_method)
    return outs, [Zero(tangent_aval(get_aval(o))) for o in outs]


def _batch(size, vals, dims, *, callback, vmap_method):
    from funcad.interpreters.batching import moveaxis
    from funcad.primitives.structural import reshape, slice_
    vals = [v if d is None else moveaxis(v, d, 0, size) for v, d in zip(vals, dims)]
    per = []
    for b in range(size):
        args = []
        for v, d in zip(vals, dims, strict=True):
            if d is None:
                args.append(v)
                continue
            shp = get_aval(v).shape
            part = slice_(v, (b,) + (0,) * (len(shp) - 1), (b + 1,) + tuple(shp[1:]))
            args.append(reshape(part, tuple(shp[1:])))
        per.append(callback_p.bind(*args, callback=callback, vmap_method=vmap_method))
    if not callback.result_avals:
        return [], []
    from funcad.numpy import stack
    outs = [stack([p[i] for p in per]) for i in range(len(callback.result_avals))]
    return outs, [0] * len(outs)


def _lower(ctx, eqn, args):
    from funcad.lowering.numba.codegen import LoweringError
    cb = eqn.params["callback"]
    if not ctx.driver_level:
        # (codegen runs a scan/while/cond that calls back as Python code in the driver)
        raise LoweringError("callback (debug.print, debug.callback, pure_callback): under jit "
                            "a callback runs from the Python driver, but this one sits in "
                            "code compiled as one native function (FUNCAD_DRIVER=numba); "
                            "use FUNCAD_DRIVER=auto or run with FUNCAD_DISABLE_JIT=1")
    names = [ctx.fresh("cb") for _ in eqn.out_binders]
    call = f"_rt.call_callback({cb.token!r}{''.join(', ' + a for a in args)})"
    if names:
        ctx.line(f"{', '.join(names)}, = {call}")
    else:
        ctx.line(call)
    return names


_lower.driver_only = True  # codegen: write it into the Python driver, never a kernel
impl_rules[callback_p] = _impl
abstract_eval_rules[callback_p] = _aval
jvp_rules[callback_p] = _jvp
batch_rules[callback_p] = _batch
lowering_rules[callback_p] = _lower


def call_callback(token: str, *args) -> list:
    """Run a registered callback from generated driver code (rank-0 results as scalars)."""
    outs = _REGISTRY[token](*args)
    # kernels take C-contiguous arrays (the callback may return a transposed view)
    return [o[()] if o.ndim == 0 else np.ascontiguousarray(o) for o in outs]


def _bind(kind: str, fn: Callable, result_avals: tuple, args: tuple, kwargs: dict,
          vmap_method: str) -> list:
    leaves, in_tree = tree_flatten((args, kwargs))
    leaves = [x if isinstance(x, Tracer) else np.asarray(x) for x in leaves]
    cb = _Callback(fn, in_tree, result_avals, kind)
    return callback_p.bind(*leaves, callback=cb, vmap_method=vmap_method)


def pure_callback(callback: Callable, result_shape_dtypes: Any, *args: Any,
                  sharding: Any = None, vmap_method: str | None = None,
                  **kwargs: Any) -> Any:
    """Call a Python function on concrete arrays from inside transformed code.

    `result_shape_dtypes` is a pytree of objects with `.shape` and `.dtype` (e.g.
    `funcad.ShapeDtypeStruct`) describing what `callback` returns. The callback must be
    pure (it may be called any number of times, or not at all). Under vmap it is called
    once per batch element; it has no derivative.

    >>> import numpy as np, funcad as fa
    >>> f = lambda x: fa.pure_callback(np.sin, fa.ShapeDtypeStruct((), np.float64), x)
    >>> float(fa.jit(f)(0.0))
    0.0
    """
    if vmap_method not in (None, "sequential", "sequential_unrolled", "expand_dims",
                           "broadcast_all", "legacy_vectorized"):
        raise ValueError(f"pure_callback: unknown vmap_method {vmap_method!r}")
    res_leaves, res_tree = tree_flatten(result_shape_dtypes)
    avals = tuple(ShapedArray(tuple(r.shape), np.dtype(r.dtype)) for r in res_leaves)
    outs = _bind("pure", callback, avals, args, kwargs, "sequential")
    return tree_unflatten(res_tree, list(outs))


def debug_callback(callback: Callable, *args: Any, ordered: bool = False,
                   **kwargs: Any) -> None:
    """Call `callback(*args, **kwargs)` with concrete values, for its side effects (printing,
    logging), also from jitted code and under vmap (once per batch element) and grad
    (primal values)."""
    _bind("debug", callback, (), args, kwargs, "sequential")


def debug_print(fmt: str, *args: Any, ordered: bool = False, **kwargs: Any) -> None:
    """Print `fmt.format(*args, **kwargs)` with the concrete values, also from jitted code.

    >>> import funcad as fa
    >>> fa.jit(lambda x: fa.debug.print("x = {}", x) or x)(2.0)
    x = 2.0
    Array(2., dtype=float64)
    """
    def show(*a, **kw):
        print(fmt.format(*a, **kw))
    debug_callback(show, *args, **kwargs)


def has_effect(eqn) -> bool:
    """Whether an equation (or a program inside its params) calls a debug callback."""
    if eqn.primitive in effectful_primitives:
        return eqn.params["callback"].kind == "debug"
    for p in eqn.params.values():
        for x in (p if isinstance(p, (tuple, list)) else (p,)):   # cond's branches: a tuple
            inner = getattr(x, "jaxpr", x)
            eqns = getattr(inner, "eqns", None)
            if eqns is not None and any(has_effect(e) for e in eqns):
                return True
    return False


def without_debug_callbacks(jaxpr):
    """`jaxpr` (a Jaxpr or ClosedJaxpr) without its debug callbacks, at any depth.

    Loop transforms that re-run a primal body which already ran (the scan that linearizes
    a while_loop after the loop that counts its trips, the loop of its linear program, the
    recomputation and reverse steps of its transpose) use it, so that `debug.print` runs once per primal iteration, as JAX's debug
    callbacks run in the forward pass only (their transpose does nothing). Equations only
    the callbacks read are dropped too. Returns `jaxpr` itself when there is none.
    """
    from funcad._ir import ClosedJaxpr, Jaxpr, JaxprEqn
    if isinstance(jaxpr, ClosedJaxpr):
        inner = without_debug_callbacks(jaxpr.jaxpr)
        return jaxpr if inner is jaxpr.jaxpr else ClosedJaxpr(inner, jaxpr.consts)
    if not any(has_effect(e) for e in jaxpr.eqns):
        return jaxpr
    from funcad.interpreters.partial_eval import _prune
    eqns = []
    for e in jaxpr.eqns:
        if e.primitive in effectful_primitives and e.params["callback"].kind == "debug":
            continue
        if has_effect(e):
            params = {k: _strip_param(v) for k, v in e.params.items()}
            e = JaxprEqn(e.primitive, e.inputs, params, e.out_binders)
        eqns.append(e)
    eqns = _prune(eqns, jaxpr.outvars)
    return Jaxpr(jaxpr.constvars, jaxpr.invars, tuple(eqns), jaxpr.outvars)


def _strip_param(v):
    from funcad._ir import ClosedJaxpr, Jaxpr
    if isinstance(v, (Jaxpr, ClosedJaxpr)):
        return without_debug_callbacks(v)
    if isinstance(v, tuple) and any(isinstance(x, (Jaxpr, ClosedJaxpr)) for x in v):
        return tuple(_strip_param(x) for x in v)
    return v
