"""Eager funcad.numpy calls on weakly typed Arrays: traced, so that their results are weak
exactly where the primitives' rules say (JAX's weak types; see funcad._core.out_weak).

Elementwise functions and Array operators compute weak types directly. Every other public
function (stack, where, take, einsum, ...) called outside transforms with a weak Array
argument is traced once for that call, with the weak Arrays as the program's inputs, and
the program is evaluated with NumPy; its outputs' avals say which results are weak. A
function that cannot be traced (its output shape depends on values: `nonzero`, `unique`)
runs as it is, and its results are strongly typed.
"""

from __future__ import annotations

from typing import Any, Callable

from funcad._array import Array, mark_weak


def _collect(x: Any, found: list) -> None:
    t = type(x)
    if t is Array and x._weak:
        found.append(x)
    elif t is tuple or t is list:
        for y in x:
            _collect(y, found)


def _substitute(x: Any, it) -> Any:
    t = type(x)
    if t is Array and x._weak:
        return next(it)
    if t is tuple or t is list:
        return t(_substitute(y, it) for y in x)
    return x


def eval_weak(fun: Callable, args: tuple, kwargs: dict) -> Any:
    """`fun(*args, **kwargs)` outside transforms, its results weakly typed as JAX's."""
    from funcad._core import get_aval
    from funcad._ir import eval_jaxpr
    from funcad._tree import tree_flatten, tree_unflatten
    from funcad.interpreters.partial_eval import trace_to_jaxpr_flat

    weak: list = []
    _collect((args, tuple(kwargs.values())), weak)
    box = {}

    def flat_fun(*tracers):
        it = iter(tracers)
        a = _substitute(args, it)
        kw = dict(zip(kwargs, _substitute(tuple(kwargs.values()), it)))
        leaves, box["tree"] = tree_flatten(fun(*a, **kw))
        return leaves

    try:
        jaxpr, consts = trace_to_jaxpr_flat(flat_fun, [get_aval(w) for w in weak])
    except Exception:  # noqa: BLE001  (not traceable: run it as it is, strongly typed)
        return None
    outs = eval_jaxpr(jaxpr, consts, weak)
    outs = [mark_weak(o, v.aval.weak_type) for o, v in zip(outs, jaxpr.outvars, strict=True)]
    return tree_unflatten(box["tree"], outs)
