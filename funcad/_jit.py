"""jit: trace once per input signature and run the program as one call primitive.

`jit_p` is a call primitive (see primitives/call.py), so every transform composes with
it. Its implementation runs the program through the compiled backend registered in
`set_backend` (the Numba lowering); without one it evaluates the jaxpr with NumPy.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import weakref
from typing import Any, Callable, Sequence

import numpy as np

from funcad import _core
from funcad._array import Array, mark_weak, to_array, writeable_const, writeable_view
from funcad._core import ShapedArray, Tracer, eval_context, get_aval
from funcad._ir import ClosedJaxpr, Jaxpr, eval_jaxpr
from funcad._tree import tree_flatten, tree_unflatten
from funcad.interpreters.partial_eval import trace_to_jaxpr_flat
from funcad.primitives._util import new_primitive
from funcad.primitives.call import define_call_rules

jit_p = new_primitive("jit", multiple_results=True)
_core.typed_by_program.add(jit_p)

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

_EVAL_MAIN = _core.trace_stack[0]


def _fast_call(run: Callable, consts: tuple, out_tree, weak: tuple) -> Callable:
    """The cached call of one signature: run the program, rebuild the output pytree
    (`weak`: which outputs are weakly typed)."""
    if any(weak):
        return _weak_outputs(_fast_call(run, consts, out_tree, ()), out_tree, weak)
    single = out_tree.num_leaves == 1 and out_tree.kind is None
    if not consts and single:
        one = getattr(run, "single", None)     # the executor's own one-output path
        if one is not None:
            return one
        return lambda args: to_array(run(*args)[0])
    if not consts:
        return lambda args: tree_unflatten(out_tree, [to_array(o) for o in run(*args)])

    def call(args):
        return tree_unflatten(out_tree, [to_array(o) for o in run(*consts, *args)])
    return call


def _weak_outputs(call: Callable, out_tree, weak: tuple) -> Callable:
    """`call` with the outputs that the program types weakly made weak Arrays."""
    def weak_call(args):
        leaves = tree_flatten(call(args))[0]
        return tree_unflatten(out_tree, [mark_weak(o, w) for o, w in zip(leaves, weak)])
    return weak_call


def _out_weak(jaxpr: Jaxpr) -> tuple:
    return tuple(v.aval.weak_type for v in jaxpr.outvars)


_SCALAR_TYPES = (bool, int, float, complex)


def _is_scalar(a: Any) -> bool:
    return type(a) in _SCALAR_TYPES or isinstance(a, np.generic)


def _fast_key(args: tuple) -> tuple:
    """Signature of positional arguments: (type, shape, dtype) of arrays, type of scalars,
    and the same inside tuples and lists (parameters often come as tuples of arrays)."""
    if len(args) == 1:      # the commonest call, without a comprehension's frame
        a = args[0]
        if type(a) is np.ndarray:
            return ((np.ndarray, a.shape, a.dtype),)
        if type(a) is Array:
            return ((Array, a.shape, a.dtype, a._weak),)
    return tuple([(np.ndarray, a.shape, a.dtype) if type(a) is np.ndarray else
                  (type(a), _fast_key(a)) if type(a) is tuple or type(a) is list else
                  (Array, a.shape, a.dtype, a._weak) if type(a) is Array else type(a)
                  for a in args])


def _array_tree(a: Any) -> bool:
    """True for an ndarray, or tuples and lists nesting only ndarrays."""
    t = type(a)
    if t is np.ndarray or t is Array:
        return True
    return (t is tuple or t is list) and all(_array_tree(x) for x in a)


def _flat_arrays(args, out: list) -> list:
    """The leaves of nested tuples and lists of arrays, in tree_flatten's order."""
    for a in args:
        if type(a) is np.ndarray or type(a) is Array:
            out.append(a)
        else:
            _flat_arrays(a, out)
    return out


def _flattening(call: Callable) -> Callable:
    """Wrap a fast call so that tuples and lists of arrays arrive as their leaves."""
    return lambda args: call(_flat_arrays(args, []))


def _converting(call: Callable) -> Callable:
    """Wrap a fast call so that scalar arguments arrive as 0-d arrays and Arrays as plain
    writeable views (what compiled code takes without a conversion of its own)."""
    return lambda args: call([a if type(a) is np.ndarray else
                              writeable_view(a) if type(a) is Array else np.asarray(a)
                              for a in args])


def _plain_flat(args, out: list) -> list:
    """_flat_arrays, with Arrays as plain writeable views."""
    for a in args:
        if type(a) is np.ndarray:
            out.append(a)
        elif type(a) is Array:
            out.append(writeable_view(a))
        else:
            _plain_flat(a, out)
    return out


class Lowered:
    """A jitted function lowered for one signature: its jaxpr and generated source."""

    def __init__(self, closed: ClosedJaxpr, jaxpr: Jaxpr, name: str, options: tuple):
        self.jaxpr = closed
        self._flat = jaxpr
        self.name = name
        self.options = options

    @property
    def source(self) -> str:
        """The generated Python source compiled by Numba."""
        from funcad.lowering.numba.compile import program_source
        return program_source(self._flat, self.name, self.options)

    def compile(self):
        """Compile (or load from the cache) and return the compiled program."""
        from funcad.lowering.numba.compile import compile_jaxpr
        return compile_jaxpr(self._flat, self.name, self.options)

    def __str__(self) -> str:
        return f"# jaxpr\n{self.jaxpr}\n\n# generated source\n{self.source}"

    __repr__ = __str__

    def _repr_html_(self) -> str:
        import html
        return (self.jaxpr._repr_html_() + "<pre style='line-height:1.25'>"
                + html.escape(self.source) + "</pre>")


def _signature(leaves) -> tuple:
    sig = []
    for x in leaves:
        if isinstance(x, Tracer):
            a = x.aval
            sig.append((a.shape, a.dtype, a.weak_type))
        elif type(x) is np.ndarray:
            sig.append((x.shape, x.dtype, False))
        elif type(x) is Array:
            sig.append((x.shape, x.dtype, x._weak))
        else:
            a = get_aval(x)
            sig.append((a.shape, a.dtype, a.weak_type))
    return tuple(sig)


# Traces are cached per function (held weakly) and jit configuration, as in JAX, so that
# `jit(f)(x)` called again with a fresh wrapper reuses the traces (and compiled programs)
# of the previous wrapper instead of tracing `f` again.
_trace_caches: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _shared_caches(fun: Callable, config: tuple) -> tuple[dict, dict]:
    """(trace cache, fast-path cache) of `fun` under this jit configuration."""
    try:
        per_fun = _trace_caches.get(fun)
        if per_fun is None:
            per_fun = _trace_caches[fun] = {}
    except TypeError:  # not weakly referenceable, or unhashable: one cache per wrapper
        return {}, {}
    caches = per_fun.get(config)
    if caches is None:
        caches = per_fun[config] = ({}, {})
    return caches


def _infer_static(fun: Callable, nums: tuple, names: tuple) -> tuple[tuple, tuple]:
    """Map static argument names to positions and positions to names, as JAX does.

    `static_argnames='x'` also applies when `x` is passed positionally, and
    `static_argnums=0` when the first parameter is passed by keyword. When both are
    given they are taken as they are.
    """
    if nums and names:
        return nums, names
    try:
        params = list(inspect.signature(fun).parameters.values())
    except (TypeError, ValueError):  # builtins and some callables have no signature
        return nums, names
    positional = [p for p in params
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if names:
        nums = tuple(i for i, p in enumerate(positional)
                     if p.name in names and p.kind is p.POSITIONAL_OR_KEYWORD)
    elif nums:
        names = tuple(positional[i].name for i in nums
                      if 0 <= i < len(positional)
                      and positional[i].kind is positional[i].POSITIONAL_OR_KEYWORD)
    return nums, names


class Jitted:
    """A function compiled per input signature. Call it like the original function."""

    def __init__(self, fun: Callable, static_argnums: Sequence[int], static_argnames:
                 Sequence[str], donate_argnums: Sequence[int], options: tuple):
        self.fun = fun
        self.static_argnums, self.static_argnames = _infer_static(
            fun, tuple(static_argnums), tuple(static_argnames))
        self.donate_argnums = tuple(donate_argnums)
        self.options = options
        self.name = getattr(fun, "__name__", "fun")
        self._cache, self._fast = _shared_caches(
            fun, (self.static_argnums, self.static_argnames, self.donate_argnums, options))
        self._runs: dict = {}      # id(jaxpr) -> (jaxpr, compiled executor)
        # (shape, dtype, fast call) of the last single-ndarray signature called
        self._one = (None, None, None)
        # updated=(): copying fun.__dict__ would overwrite our own attributes (e.g. `fun`)
        functools.update_wrapper(self, fun, updated=())

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
        """Trace for these arguments: returns (closed jaxpr, in_tree, out_tree, leaves).

        Tracers of enclosing transforms that the function closes over are inputs of the
        program (closure conversion): they come first in the returned leaves, and such a
        trace is not cached, since it belongs to the transform that is running.
        """
        static_nums, static, dyn_args, dyn_kwargs = self._split(args, kwargs)
        leaves, in_tree = tree_flatten((dyn_args, dyn_kwargs))
        # Python numbers stay weakly typed while tracing (float32 + 2.0 is float32, as in
        # JAX and NumPy 2); they run as 0-d arrays.
        signature = _signature(leaves)
        leaves = [x if isinstance(x, (Tracer, np.ndarray)) else np.asarray(x)
                  for x in leaves]
        key = (in_tree, signature, static)
        entry = self._cache.get(key)
        if entry is None:
            entry, closed_over = self._trace(args, kwargs, static_nums, in_tree, signature)
            if closed_over:
                return entry, [*closed_over, *leaves]
            self._cache[key] = entry
        return entry, leaves

    def _trace(self, args, kwargs, static_nums, in_tree, signature):
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

        avals = [ShapedArray(shape, dtype, weak) for shape, dtype, weak in signature]
        jaxpr, consts = trace_to_jaxpr_flat(flat_fun, avals)
        closed = ClosedJaxpr(jaxpr, tuple(consts))
        # Closure conversion: closed-over tracers (of grad, vmap, an enclosing jit, ...)
        # become inputs after the concrete constants, so the caller binds them like
        # arguments and the enclosing transforms see them.
        traced = [isinstance(c, Tracer) for c in consts]
        const_vars = [v for v, t in zip(jaxpr.constvars, traced, strict=True) if not t]
        traced_vars = [v for v, t in zip(jaxpr.constvars, traced, strict=True) if t]
        flat = Jaxpr((), (*const_vars, *traced_vars, *jaxpr.invars), jaxpr.eqns,
                     jaxpr.outvars)
        # Array constants run as writeable views of their memory, as Array arguments do.
        concrete = tuple(writeable_const(c) for c, t in zip(consts, traced, strict=True)
                         if not t)
        closed_over = [c for c, t in zip(consts, traced, strict=True) if t]
        return (flat, concrete, box["out_tree"], closed), closed_over

    def __call__(self, *args, **kwargs):
        # Fastest path: one ndarray of the shape and dtype of the last such call.
        if not kwargs and len(args) == 1:
            a = args[0]
            shape, dtype, call = self._one
            if (type(a) is np.ndarray and a.dtype is dtype and a.shape == shape
                    and _core._dynamic_main is _EVAL_MAIN and not _plain):
                return call(args)
        if _plain:  # funcad.disable_jit(): run the Python function itself
            if _disabled:
                return self.fun(*args, **kwargs)
            return self._call_slow(args, kwargs)    # debug checks: through jit_p.bind
        # Fast path: positional ndarrays whose signature was seen before, nothing traced.
        if not kwargs and _core._dynamic_main is _EVAL_MAIN:
            try:
                call = self._fast[_fast_key(args)]
            except (KeyError, AttributeError):
                pass
            else:
                if len(args) == 1 and type(args[0]) is np.ndarray:
                    self._one = (args[0].shape, args[0].dtype, call)
                return call(args)
        return self._call_slow(args, kwargs)

    def _call_slow(self, args, kwargs):
        (jaxpr, consts, out_tree, _), leaves = self.trace(*args, **kwargs)
        compile_fn = _backend["compile"]
        if (compile_fn is None or _debug_checks or _core._dynamic_main is not _EVAL_MAIN
                or any(isinstance(x, Tracer) for x in leaves)):
            outs = jit_p.bind(*consts, *leaves, jaxpr=jaxpr, name=self.name,
                              options=self.options)
        else:
            ready = self._runs.get(id(jaxpr))
            if ready is not None and ready[0] is jaxpr:
                run = ready[1]          # compiled before: skip the backend's lookups
            else:
                run = compile_fn(jaxpr, self.name, self.options)
                if not getattr(run, "tiered", False):
                    self._runs[id(jaxpr)] = (jaxpr, run)
            outs = run(*consts, *leaves)
            # A tiered executor (interpreting while a worker compiles) is asked again on
            # the next call; the fast path is registered once native code runs.
            if (not kwargs and not self.static_argnums and not self.static_argnames
                    and not getattr(run, "tiered", False)):
                call = _fast_call(run, consts, out_tree, _out_weak(jaxpr))
                if all(type(a) is np.ndarray for a in args):
                    self._fast[_fast_key(args)] = call
                elif all(type(a) is np.ndarray or type(a) is Array or _is_scalar(a)
                         for a in args):
                    self._fast[_fast_key(args)] = _converting(call)
                elif all(_array_tree(a) for a in args):
                    plain = all(type(a) is np.ndarray for a in _flat_arrays(args, []))
                    self._fast[_fast_key(args)] = (
                        _flattening(call) if plain
                        else lambda a, call=call: call(_plain_flat(a, [])))
        outs = [o if isinstance(o, Tracer) else mark_weak(to_array(np.asarray(o)), w)
                for o, w in zip(outs, _out_weak(jaxpr), strict=True)]
        return tree_unflatten(out_tree, outs)

    def lower(self, *args, **kwargs):
        """The traced program and its generated Numba source for these arguments.

        Returns a `Lowered` object: `.jaxpr` (printable closed jaxpr), `.source` (the
        generated Python source), `.compile()`; `str()` shows both.
        """
        (jaxpr, consts, _, closed), _ = self.trace(*args, **kwargs)
        return Lowered(closed, jaxpr, self.name, self.options)

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        return functools.partial(self, obj)


_disabled = False
_debug_checks = False   # jax_debug_nans/infs: calls go through jit_p.bind (_debug_checks.py)
_plain = False          # _disabled or _debug_checks: one test on the fast path


def set_disabled(disabled: bool) -> None:
    """Make every jitted function run its Python function directly (True) or not."""
    global _disabled, _plain
    _disabled = bool(disabled)
    _plain = _disabled or _debug_checks


def set_debug_checks(on: bool) -> None:
    """Route jitted calls through jit_p.bind, whose result bind checks (jax_debug_nans)."""
    global _debug_checks, _plain
    _debug_checks = bool(on)
    _plain = _disabled or _debug_checks


@contextlib.contextmanager
def disable_jit(disable: bool = True):
    """Context manager: inside it, jitted functions run as plain Python (for debugging:
    prints show values, breakpoints work).

    >>> import funcad as fa
    >>> with fa.disable_jit():
    ...     fa.jit(lambda x: x + 1)(1.0)
    2.0
    """
    previous = _disabled
    set_disabled(disable)
    try:
        yield
    finally:
        set_disabled(previous)


def jit(fun: Callable | None = None, *, static_argnums: int | Sequence[int] = (),
        static_argnames: str | Sequence[str] = (), donate_argnums: int | Sequence[int] = (),
        parallel: bool = False, fastmath: bool = False) -> Any:
    """Compile `fun`: trace once per input signature, run as one native program.

    Usable as `jit(f)`, `@jit` or `@jit(static_argnums=...)`. Traces are cached per
    function and options (not per wrapper): `jit(f)(x)` in a loop traces `f` once.

    Args:
      fun: the function; it may close over arrays and over values traced by enclosing
        transforms (those become inputs of the program).
      static_argnums, static_argnames: arguments that are Python values, not arrays (a
        new value traces again; they must be hashable). Names and positions map to each
        other through `fun`'s signature, so a static argument may be passed either way.
      donate_argnums: accepted for JAX compatibility.
      parallel, fastmath: Numba options (a separate cache each).
    Returns:
      A `Jitted` function with `.lower(*args)` to see the jaxpr and generated source.

    >>> import funcad as fa, funcad.numpy as fnp
    >>> fa.jit(lambda x: fnp.sin(x) ** 2 + fnp.cos(x) ** 2)(1.0)
    Array(1., dtype=float64)
    """
    def as_tuple(x):
        return (x,) if isinstance(x, (int, str)) else tuple(x)

    options = (("parallel", bool(parallel)), ("fastmath", bool(fastmath)))

    def wrap(f):
        return Jitted(f, as_tuple(static_argnums), as_tuple(static_argnames),
                      as_tuple(donate_argnums), options)

    return wrap if fun is None else wrap(fun)
