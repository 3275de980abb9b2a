"""jit: trace once per input signature and run the program as one call primitive.

`jit_p` is a call primitive (see primitives/call.py), so every transform composes with
it. Its implementation runs the program through the compiled backend registered in
`set_backend` (the Numba lowering); without one it evaluates the jaxpr with NumPy.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Sequence

import numpy as np

from funcad._core import Tracer, eval_context, get_aval
from funcad._ir import ClosedJaxpr, Jaxpr, eval_jaxpr
from funcad._tree import tree_flatten, tree_unflatten
from funcad.interpreters.partial_eval import trace_to_jaxpr_flat, convert_constvars
from funcad.primitives._util import new_primitive
from funcad.primitives.call import define_call_rules

jit_p = new_primitive("jit", multiple_results=True)

# The compiled backend: a callable (jaxpr, options) -> executor(*args) -> list of outputs.
_backend: dict[str, Callable | None] = {"compile": None}


def set_backend(compile_fn: Callable | None) -> None:
    """Install the compiler used by jit's implementation (None: evaluate with NumPy)."""
    _backend["compile"] = compile_fn


def _jit_impl(*args, jaxpr: Jaxpr, name: str, options: tuple = ()):
    compile_fn = _backend["compile"]
    if compile_fn is None:
        with eval_context():
            return eval_jaxpr(jaxpr, (), args)
    return compile_fn(jaxpr, name, options)(*args)


define_call_rules(jit_p, impl=_jit_impl)


def _signature(leaves) -> tuple:
    sig = []
    for x in leaves:
        if isinstance(x, Tracer):
            a = x.aval
            sig.append((a.shape, a.dtype, False))
        elif type(x) is np.ndarray:
            sig.append((x.shape, x.dtype, False))
        else:
            a = get_aval(x)
            sig.append((a.shape, a.dtype, a.weak_type))
    return tuple(sig)


class Jitted:
    """A function compiled per input signature. Call it like the original function."""

    def __init__(self, fun: Callable, static_argnums: Sequence[int], static_argnames:
                 Sequence[str], donate_argnums: Sequence[int], options: tuple):
        self.fun = fun
        self.static_argnums = tuple(static_argnums)
        self.static_argnames = tuple(static_argnames)
        self.donate_argnums = tuple(donate_argnums)
        self.options = options
        self.name = getattr(fun, "__name__", "fun")
        self._cache: dict = {}
        functools.update_wrapper(self, fun)

    def _split(self, args, kwargs):
        nargs = len(args)
        static_nums = tuple(i % nargs for i in self.static_argnums if -nargs <= i < nargs)
        static = []
        for i in static_nums:
            static.append(("pos", i, args[i]))
        for k in self.static_argnames:
            if k in kwargs:
                static.append(("kw", k, kwargs[k]))
        for kind, k, v in static:
            try:
                hash(v)
            except TypeError:
                raise TypeError(
                    f"jit of {self.name}: static argument {k!r} has the non-hashable value "
                    f"{v!r:.60} of type {type(v).__name__}; static arguments must be "
                    f"hashable (use a tuple instead of a list, or make the argument "
                    f"dynamic)") from None
        dyn_args = [a for i, a in enumerate(args) if i not in static_nums]
        dyn_kwargs = {k: v for k, v in kwargs.items() if k not in self.static_argnames}
        return static_nums, tuple(static), dyn_args, dyn_kwargs

    def trace(self, *args, **kwargs):
        """Trace for these arguments: returns (closed jaxpr, in_tree, out_tree, leaves)."""
        static_nums, static, dyn_args, dyn_kwargs = self._split(args, kwargs)
        leaves, in_tree = tree_flatten((dyn_args, dyn_kwargs))
        leaves = [x if isinstance(x, (Tracer, np.ndarray)) else np.asarray(x)
                  for x in leaves]
        key = (in_tree, _signature(leaves), static)
        entry = self._cache.get(key)
        if entry is None:
            entry = self._cache[key] = self._trace(args, kwargs, static_nums, in_tree,
                                                   leaves)
        return entry, leaves

    def _trace(self, args, kwargs, static_nums, in_tree, leaves):
        box = {}

        def flat_fun(*xs):
            dyn_args, dyn_kwargs = tree_unflatten(in_tree, xs)
            it = iter(dyn_args)
            full = [args[i] if i in static_nums else next(it) for i in range(len(args))]
            kw = dict(kwargs)
            kw.update(dyn_kwargs)
            out = self.fun(*full, **kw)
            out_leaves, out_tree = tree_flatten(out)
            box["out_tree"] = out_tree
            return out_leaves

        avals = [get_aval(x).strip_weak() for x in leaves]
        jaxpr, consts = trace_to_jaxpr_flat(flat_fun, avals)
        return convert_constvars(jaxpr), tuple(consts), box["out_tree"], ClosedJaxpr(
            jaxpr, tuple(consts))

    def __call__(self, *args, **kwargs):
        (jaxpr, consts, out_tree, _), leaves = self.trace(*args, **kwargs)
        outs = jit_p.bind(*consts, *leaves, jaxpr=jaxpr, name=self.name,
                          options=self.options)
        outs = [o if isinstance(o, Tracer) or type(o) is np.ndarray else np.asarray(o)
                for o in outs]
        return tree_unflatten(out_tree, outs)

    def lower(self, *args, **kwargs):
        """The traced program for these arguments (a printable closed jaxpr)."""
        (_, _, _, closed), _ = self.trace(*args, **kwargs)
        return closed

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        return functools.partial(self, obj)


def jit(fun: Callable | None = None, *, static_argnums: int | Sequence[int] = (),
        static_argnames: str | Sequence[str] = (), donate_argnums: int | Sequence[int] = (),
        parallel: bool = False, fastmath: bool = False) -> Any:
    """Compile `fun`: trace once per input signature, run as one native program.

    Usable as `jit(f)`, `@jit` or `@jit(static_argnums=...)`.

    >>> import funcad as fa, funcad.numpy as fnp
    >>> fa.jit(lambda x: fnp.sin(x) ** 2 + fnp.cos(x) ** 2)(1.0)
    array(1.)
    """
    def as_tuple(x):
        return (x,) if isinstance(x, (int, str)) else tuple(x)

    options = (("parallel", bool(parallel)), ("fastmath", bool(fastmath)))

    def wrap(f):
        return Jitted(f, as_tuple(static_argnums), as_tuple(static_argnames),
                      as_tuple(donate_argnums), options)

    return wrap if fun is None else wrap(fun)
