"""custom_jvp and custom_vjp: user-defined derivative rules that compose with every transform.

Both trace the user's functions to jaxprs when called and bind one primitive:

* `custom_jvp_call(fun consts, jvp consts, args)`: evaluates `fun`; its jvp rule runs the
  user's jvp jaxpr inline (so it is linearized and transposed like any other code).
* `custom_vjp_call(fun consts, fwd consts, args)`: evaluates `fun`; its jvp rule runs the
  user's `fwd` and emits `custom_lin(fun consts, args, residuals, tangents)`, a primitive
  linear in the tangents whose transpose calls the user's `bwd`. Evaluated in forward
  mode (jvp, jacfwd, hessian), `custom_lin` differentiates through `fun` instead: that
  is the rule funcad chooses so that a custom_vjp function stays usable in forward mode
  (JAX raises there). The first reverse pass uses `bwd`; derivatives of `bwd` itself
  come from differentiating the code of `bwd`.

Values the functions close over (including tracers of an outer transform) are passed to
the primitives as operands. Their derivatives come from differentiating through `fun`
(the custom rule only covers the explicit arguments, as in JAX).
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, Sequence

import numpy as np

from funcad import _core
from funcad._core import (
    Tracer,
    abstract_eval_rules,
    batch_rules,
    eval_context,
    get_aval,
    impl_rules,
    jvp_rules,
    transpose_rules,
)
from funcad._ir import Jaxpr, eval_jaxpr
from funcad._tree import tree_flatten, tree_unflatten
from funcad.interpreters.ad import (
    Zero,
    add_tangents,
    instantiate,
    jvp_flat,
    jvp_jaxpr,
    linearize_flat,
    tangent_aval,
)
from funcad.interpreters import tape
from funcad.interpreters.batching import batch_jaxpr, moveaxis
from funcad.interpreters.partial_eval import trace_to_jaxpr_closed, trace_to_jaxpr_flat
from funcad.primitives._util import new_primitive
from funcad.primitives.call import memoized
from funcad.primitives.control import _split

custom_jvp_call_p = new_primitive("custom_jvp_call", multiple_results=True)
_core.typed_by_program.add(custom_jvp_call_p)
custom_vjp_call_p = new_primitive("custom_vjp_call", multiple_results=True)
_core.typed_by_program.add(custom_vjp_call_p)
custom_lin_p = new_primitive("custom_lin", multiple_results=True)


def _as_leaf(x: Any) -> Any:
    if isinstance(x, Tracer) or type(x) is np.ndarray:
        return x
    arr = np.asarray(x)
    if arr.dtype == object:
        raise TypeError(f"custom derivative functions take arrays, got {type(x).__name__}; "
                        f"mark non-array arguments with nondiff_argnums")
    return arr


def _closure_tangents(fun_jaxpr: Jaxpr, consts, args, const_tangents) -> list | None:
    """Tangents of fun's outputs due to its closed-over operands (None if all zero)."""
    nz = [type(t) is not Zero for t in const_tangents]
    if not any(nz):
        return None
    key = tuple(nz) + (False,) * len(args)
    jj, _ = memoized("closure_jvp", fun_jaxpr, key,
                     lambda: jvp_jaxpr(fun_jaxpr, list(key), True))
    outs = eval_jaxpr(jj, (), [*consts, *args, *[t for t in const_tangents
                                                 if type(t) is not Zero]])
    return outs[len(fun_jaxpr.outvars):]


def _bind_args(fun: Callable, nondiff: tuple, args: tuple, kwargs: dict):
    if kwargs:
        try:
            args = inspect.signature(fun).bind(*args, **kwargs).args
        except (TypeError, ValueError):
            raise TypeError(f"{getattr(fun, '__name__', 'fun')}: pass the arguments of a "
                            f"custom_jvp/custom_vjp function positionally") from None
    for i in nondiff:
        if i >= len(args):
            raise TypeError(f"nondiff_argnums={nondiff} but only {len(args)} arguments "
                            f"were given")
    static = {i: args[i] for i in nondiff}
    diff = tuple(a for i, a in enumerate(args) if i not in static)
    return static, diff


def _merge(static: dict, diff: Sequence) -> list:
    it = iter(diff)
    n = len(static) + len(diff)
    return [static[i] if i in static else next(it) for i in range(n)]


def _check_like(what: str, tree_a, tree_b, avals_a, avals_b, names=("expected", "got")):
    if tree_a != tree_b:
        raise TypeError(f"{what}: {names[0]} structure {tree_a} but {names[1]} {tree_b}")
    for k, (a, b) in enumerate(zip(avals_a, avals_b)):
        if a.shape != b.shape:
            raise TypeError(f"{what}: leaf {k} has shape {b.shape}, expected {a.shape}")


class _CustomFunction:
    """What custom_jvp and custom_vjp share: wrapping, method binding, argument split."""

    def __init__(self, fun: Callable, nondiff_argnums: Sequence[int] = ()):
        # updated=(): copying fun.__dict__ would overwrite our own attributes (e.g. `fun`)
        functools.update_wrapper(self, fun, updated=())
        self.fun = fun
        self.nondiff_argnums = tuple(nondiff_argnums)
        self._rule_depth = 0     # how many of this function's rules are being traced

    def __get__(self, obj, objtype=None):
        return self if obj is None else functools.partial(self, obj)

    def _lazy_rules(self, fun_consts: Sequence) -> bool:
        """Whether this call traces its rules lazily (see `_LazyRule`).

        A call made while one of this function's own rules is being traced is lazy, so
        that tracing does not recurse forever, unless the function closes over traced
        values: those must become operands of the call (a lazy rule traced later could
        not take them), so such a call traces its rules now, up to a nesting depth of
        `_EAGER_DEPTH` (which bounds the recursion; each level serves one more order of
        differentiation of the inner call).
        """
        if not self._rule_depth:
            return False
        closes_over_tracers = any(isinstance(c, Tracer) for c in fun_consts)
        return not closes_over_tracers or self._rule_depth >= _EAGER_DEPTH

    def _split_args(self, args: tuple, kwargs: dict):
        """(static, diff, leaves, in_tree), or None when no argument is traced.

        With nothing traced the rule could never be used (closed-over values are
        differentiated through `fun` in any case), so the caller just calls `fun`.
        """
        static, diff = _bind_args(self.fun, self.nondiff_argnums, args, kwargs)
        leaves, in_tree = tree_flatten(diff)
        if not any(isinstance(x, Tracer) for x in leaves):
            return static, diff, None, in_tree
        return static, diff, [_as_leaf(x) for x in leaves], in_tree


# ----------------------------------------------------------------------------------
# custom_jvp


class custom_jvp(_CustomFunction):
    """A function with a user-defined jvp (forward-mode) rule, as in JAX.

    The rule `jvp(primals, tangents) -> (primal_out, tangent_out)` is used by every
    derivative: forward mode directly, reverse mode by linearizing and transposing it.
    With `nondiff_argnums`, those arguments are passed first to the rule and get no
    tangents.

    >>> import funcad as fa, funcad.numpy as fnp
    >>> @custom_jvp
    ... def f(x):
    ...     return fnp.sin(x)
    >>> @f.defjvp
    ... def f_jvp(primals, tangents):
    ...     (x,), (t,) = primals, tangents
    ...     return fnp.sin(x), 2.0 * t   # deliberately not cos(x)
    >>> float(fa.grad(f)(0.3))
    2.0
    """

    def __init__(self, fun: Callable, nondiff_argnums: Sequence[int] = ()):
        super().__init__(fun, nondiff_argnums)
        self.jvp: Callable | None = None
        # (static args, input structure, shapes and dtypes) -> the traced function and
        # rule, as jit caches its traces: see _cached_traces
        self._traces: dict = {}

    def __getstate__(self) -> dict:
        # (pickled by value, e.g. by cloudpickle: the cached traces stay behind)
        return {**self.__dict__, "_traces": {}}

    def defjvp(self, jvp: Callable) -> Callable:
        """Set the jvp rule `jvp(*nondiff, primals, tangents)`; returns it (decorator)."""
        self.jvp = jvp
        self._traces.clear()
        return jvp

    def defjvps(self, *tangent_fns: Callable | None) -> None:
        """Set the rule as one `t -> tangent_out` function per argument (None: zero)."""
        def jvp(primals, tangents):
            out = self.fun(*primals)
            total = None
            for fn, t, p in zip(tangent_fns, tangents, primals):
                if fn is None:
                    continue
                c = fn(t, out, *primals)
                total = c if total is None else total + c
            return out, total
        self.jvp = jvp
        self._traces.clear()

    def __call__(self, *args, **kwargs):
        if self.jvp is None:
            raise AttributeError(f"custom_jvp function {self.__name__} has no jvp rule; "
                                 f"define one with @{self.__name__}.defjvp")
        static, diff, leaves, in_tree = self._split_args(args, kwargs)
        if leaves is None:
            return self.fun(*_merge(static, diff))
        # Eager derivatives run the rule on the values (Python control flow on them
        # works, as in JAX), unless the function closes over a value being differentiated.
        on_tape = tape.concrete_on_tape(leaves)
        if on_tape is not None:
            out = self._on_tape(static, in_tree, *on_tape)
            if out is not None:
                return out
        jvp_trace = _concrete_jvp_trace(leaves)
        if jvp_trace is not None:
            out = self._on_jvp_trace(static, in_tree, jvp_trace, leaves)
            if out is not None:
                return out
        avals = [get_aval(x).strip_weak() for x in leaves]
        key = _trace_key(self, static, in_tree, avals)
        hit = self._traces.get(key) if key is not None else None
        if hit is not None:
            fun_jaxpr, fc, jvp_jaxpr_, jc, out_tree = hit
        else:
            fun_jaxpr, fc, jvp_jaxpr_, jc, out_tree = self._trace(static, in_tree, avals)
            if key is not None and not isinstance(jvp_jaxpr_, _LazyRule) and not any(
                    isinstance(c, Tracer) for c in (*fc, *jc)):
                if len(self._traces) >= _TRACE_CACHE_SIZE:
                    self._traces.clear()
                self._traces[key] = (fun_jaxpr, fc, jvp_jaxpr_, jc, out_tree)
        outs = custom_jvp_call_p.bind(*fc, *jc, *leaves, fun_jaxpr=fun_jaxpr,
                                      jvp_jaxpr=jvp_jaxpr_, num_fun_consts=len(fc),
                                      num_jvp_consts=len(jc))
        return tree_unflatten(out_tree, [_as_leaf(o) for o in outs])

    def _trace(self, static: dict, in_tree, avals: list) -> tuple:
        """Trace the function and its rule at `avals`: (fun_jaxpr, its consts, the rule's
        jaxpr or _LazyRule, its consts, the output structure)."""
        box: dict = {}

        def fun_flat(*xs):
            out = self.fun(*_merge(static, tree_unflatten(in_tree, xs)))
            out_leaves, box["out_tree"] = tree_flatten(out)
            return [_as_leaf(o) for o in out_leaves]

        fun_jaxpr, fc = trace_to_jaxpr_closed(fun_flat, avals)
        out_avals = fun_jaxpr.out_avals[len(fc) * 0:]
        n = len(avals)

        def jvp_flat_fn(*xs):
            primals = tree_unflatten(in_tree, xs[:n])
            tangents = tree_unflatten(in_tree, xs[n:])
            p_leaves, p_tree, t_leaves = _run_jvp_rule(self, static, primals, tangents)
            _check_like(f"the jvp rule of {self.__name__} (primal output vs {self.__name__})",
                        box["out_tree"], p_tree, out_avals,
                        [get_aval(_as_leaf(p)) for p in p_leaves])
            return [*p_leaves, *t_leaves]

        if self._lazy_rules(fc):
            # Called from inside its own jvp rule (the usual `return f(x), ...` pattern):
            # tracing the rule again here would recurse forever, so it is traced only if
            # this inner call is itself differentiated.
            jvp_jaxpr_ = _LazyRule(self, lambda: trace_to_jaxpr_flat(jvp_flat_fn,
                                                                     [*avals, *avals]))
            jc = []
        else:
            self._rule_depth += 1
            try:
                jvp_jaxpr_, jc = trace_to_jaxpr_closed(jvp_flat_fn, [*avals, *avals])
            finally:
                self._rule_depth -= 1
        return fun_jaxpr, fc, jvp_jaxpr_, jc, box["out_tree"]


# Traces kept per custom function (cleared when full).
_TRACE_CACHE_SIZE = 64


def _trace_key(self: _CustomFunction, static: dict, in_tree, avals: list):
    """The key of a custom function's traces, as jit keys its own: static arguments (by
    type and value), the input structure, shapes and dtypes; None (no caching) while one
    of the function's own rules is being traced or for unhashable static arguments.

    Eager transforms that trace the function at each call (vmap: erfinv, 22 custom fma
    steps in the function and 22 in its rule, for every random.normal) then trace it once,
    and the memoised transformations of its jaxprs (batching) are found again.
    """
    if self._rule_depth:
        return None
    key = (tuple((i, type(v), v) for i, v in sorted(static.items())), in_tree,
           tuple((a.shape, a.dtype) for a in avals),
           _free_values(self.fun), _free_values(getattr(self, "jvp", None)),
           _free_values(getattr(self, "fwd", None)), _free_values(getattr(self, "bwd", None)))
    try:
        hash(key)
    except TypeError:
        return None
    return key


def _free_values(fn) -> tuple:
    """What a function reads from outside when traced: its closure cells' contents and the
    globals its code names, as values when hashable (a Python number), else by identity
    (arrays, modules, functions). Part of the trace key, so that a changed closed-over
    value is traced again, as JAX's eager transforms would see it."""
    if fn is None or not hasattr(fn, "__code__"):
        return (id(fn),)
    out = []
    for c in fn.__closure__ or ():
        try:
            v = c.cell_contents
        except ValueError:      # an empty cell
            continue
        out.append(_by_value(v))
    g = fn.__globals__
    for name in fn.__code__.co_names:
        if name in g:
            out.append((name, _by_value(g[name])))
    return tuple(out)


def _by_value(v):
    t = type(v)
    if t in (int, float, complex, bool, str, type(None)):
        return (t, v)
    return id(v)


def _run_jvp_rule(self: custom_jvp, static: dict, primals, tangents) -> tuple:
    """Call the jvp rule: (primal output leaves, their tree, tangent output leaves shaped
    and typed like them), with the errors that name what the rule got wrong."""
    nd = [static[i] for i in sorted(static)]
    res = self.jvp(*nd, tuple(primals), tuple(tangents))
    if not (isinstance(res, (tuple, list)) and len(res) == 2):
        raise TypeError(f"the jvp rule of {self.__name__} must return a pair "
                        f"(primal_out, tangent_out)")
    p_leaves, p_tree = tree_flatten(res[0])
    t_leaves, t_tree = tree_flatten(res[1], is_leaf=lambda x: x is None)
    if len(t_leaves) != len(p_leaves):
        raise TypeError(f"the jvp rule of {self.__name__}: tangent output structure "
                        f"{t_tree} differs from the primal output {p_tree}")
    return p_leaves, p_tree, _tangents_like(p_leaves, t_leaves)


def _tangents_like(p_leaves: list, t_leaves: list) -> list:
    """A jvp rule's tangent outputs as arrays shaped and typed like the primal outputs
    (None: zeros)."""
    import funcad.numpy as fnp
    out = []
    for p, t in zip(p_leaves, t_leaves):
        a = get_aval(_as_leaf(p))
        if t is None:
            out.append(np.zeros(a.shape, a.dtype) if not isinstance(p, Tracer)
                       else fnp.zeros_like(p))
        elif isinstance(t, Tracer):
            out.append(fnp.broadcast_to(fnp.asarray(t).astype(a.dtype), a.shape))
        else:   # concrete (an eager rule): NumPy, so no transform sees it
            out.append(np.broadcast_to(np.asarray(t, a.dtype), a.shape))
    return out


def _jvp_on_tape(self: custom_jvp, static: dict, in_tree, trace, vals: list, nodes: list):
    """custom_jvp under eager reverse mode: the rule runs on the concrete primals (so
    Python control flow on them works, as in JAX), linearized in the tangents of the
    live inputs; the function itself is not traced. None: the rule closes over a value
    being differentiated (the caller takes the general path)."""
    live = [k for k, n in enumerate(nodes) if n is not None]
    if not live:
        return self.fun(*_merge(static, tree_unflatten(in_tree, vals)))
    box: dict = {}

    def rule(*ts):
        t_all = [np.zeros_like(v) for v in vals]
        for k, t in zip(live, ts):
            t_all[k] = t
        p_leaves, box["tree"], t_leaves = _run_jvp_rule(
            self, static, tree_unflatten(in_tree, vals), tree_unflatten(in_tree, t_all))
        box["n"] = len(p_leaves)
        return [*t_leaves, *[_as_leaf(p) for p in p_leaves]]

    outs, lin = linearize_flat(rule, [np.zeros_like(vals[k]) for k in live],
                               num_aux=lambda: box["n"], prune=False)
    p_out = outs[len(outs) - box["n"]:]
    if any(isinstance(x, Tracer) for x in (*p_out, *lin.consts)):
        return None     # the rule closes over a value being differentiated
    return tree_unflatten(box["tree"], tape.record_linearized(trace, vals, nodes, p_out, lin))


custom_jvp._on_tape = _jvp_on_tape


def _concrete_jvp_trace(leaves: Sequence):
    """The forward-mode trace when the traced leaves are its JVPTracers whose primals have
    values (eager jvp, jacfwd, linearize, an inner eager grad), where their equations go;
    else None."""
    from funcad.interpreters.ad import JVPTracer
    return tape.eager_trace(leaves, JVPTracer, lambda x: x.primal)


def _jvp_on_jvp_trace(self: custom_jvp, static: dict, in_tree, trace, leaves: list):
    """custom_jvp under eager forward mode: the rule runs on the concrete primals and the
    tangents as they are (as in JAX: Python control flow on primal values works). None:
    the rule closes over a value this trace differentiates."""
    from funcad.interpreters.ad import JVPTracer
    primals = [x.primal if type(x) is JVPTracer else x for x in leaves]
    tangents = [instantiate(x.tangent) if type(x) is JVPTracer else np.zeros_like(x)
                for x in leaves]
    p_leaves, p_tree, t_leaves = _run_jvp_rule(
        self, static, tree_unflatten(in_tree, primals), tree_unflatten(in_tree, tangents))
    p_leaves = [_as_leaf(p) for p in p_leaves]
    level = trace.main.level
    if any(isinstance(x, Tracer) and x._trace.main.level >= level
           for x in (*p_leaves, *t_leaves)):
        return None     # the rule closes over a value this trace differentiates
    return tree_unflatten(p_tree, [JVPTracer(trace, p, t) for p, t in zip(p_leaves, t_leaves)])


custom_jvp._on_jvp_trace = _jvp_on_jvp_trace


# How deep calls of a custom function that closes over traced values, made inside its own
# rules, trace their rules eagerly (see _CustomFunction._lazy_rules).
_EAGER_DEPTH = 3


class _LazyRule:
    """A rule traced on first use into (jaxpr with constvars, consts).

    Used for a custom function called inside one of its own rules (custom_jvp's `jvp`,
    custom_vjp's `fwd` and `bwd`): tracing that call's rules eagerly would recurse
    forever, so they are traced only if the inner call is itself differentiated (or
    batched), as JAX does.
    """

    __slots__ = ("owner", "thunk", "traced", "what")

    def __init__(self, owner: _CustomFunction, thunk: Callable[[], tuple[Jaxpr, list]],
                 what: str = "jvp"):
        self.owner, self.thunk, self.traced, self.what = owner, thunk, None, what

    def force(self) -> tuple[Jaxpr, list]:
        if self.traced is None:
            # Calls of the owner inside the rule are lazy in turn.
            prev = self.owner._rule_depth
            self.owner._rule_depth = max(prev, _EAGER_DEPTH)
            try:
                traced = self.thunk()
            finally:
                self.owner._rule_depth = prev
            if any(isinstance(c, Tracer) for c in traced[1]):
                # Traced later than the call, the rule cannot take the tracers it closes
                # over as operands of the call: refuse rather than guess.
                raise TypeError(
                    f"the {self.what} rule of {self.owner.__name__}, used by a call of "
                    f"{self.owner.__name__} nested {_EAGER_DEPTH} deep inside its own "
                    f"rules (or whose rule, but not the function, closes over traced "
                    f"values), closes over a traced value of an enclosing transform. Pass "
                    f"that value as an argument (or with nondiff_argnums) instead of "
                    f"closing over it.")
            self.traced = traced
        return self.traced

    def __repr__(self) -> str:
        return f"<{self.what} rule of {self.owner.__name__}>"


def _eval_rule(rule, consts: Sequence, args: Sequence) -> list:
    """Evaluate a rule jaxpr (its consts are operands) or a lazy rule (consts inside)."""
    if isinstance(rule, _LazyRule):
        jaxpr, rule_consts = rule.force()
        return eval_jaxpr(jaxpr, rule_consts, list(args))
    return eval_jaxpr(rule, (), [*consts, *args])


def _batch_rule(rule, size: int, consts_batched: Sequence[bool], args_batched):
    """Batch a rule jaxpr (its consts are its first operands) or a lazy rule (consts
    inside, never batched). `args_batched`: one bool per argument, or True for all."""
    if isinstance(rule, _LazyRule):
        def thunk():
            closed = rule.force()
            ab = ([True] * len(closed[0].invars) if args_batched is True
                  else list(args_batched))
            return _batch_closed(closed, size, ab)
        return _LazyRule(rule.owner, thunk, rule.what)
    nc = len(consts_batched)
    ab = [True] * (len(rule.invars) - nc) if args_batched is True else list(args_batched)
    return batch_jaxpr(rule, size, [*consts_batched, *ab], True)[0]


def _cjvp_impl(*args, fun_jaxpr, jvp_jaxpr, num_fun_consts, num_jvp_consts):
    fc, _, xs = _split(args, num_fun_consts, num_jvp_consts)
    with eval_context():
        return eval_jaxpr(fun_jaxpr, (), [*fc, *xs])


def _cjvp_jvp(primals, tangents, *, fun_jaxpr, jvp_jaxpr, num_fun_consts, num_jvp_consts):
    fc, jc, xs = _split(primals, num_fun_consts, num_jvp_consts)
    t_fc, _, t_xs = _split(tangents, num_fun_consts, num_jvp_consts)
    outs = _eval_rule(jvp_jaxpr, jc, [*xs, *[instantiate(t) for t in t_xs]])
    n = len(fun_jaxpr.outvars)
    p_out, t_out = outs[:n], list(outs[n:])
    extra = _closure_tangents(fun_jaxpr, fc, xs, t_fc)
    if extra is not None:
        t_out = [add_tangents(a, b) for a, b in zip(t_out, extra)]
    return p_out, t_out


def _cjvp_batch(size, vals, dims, *, fun_jaxpr, jvp_jaxpr, num_fun_consts, num_jvp_consts):
    nfc, njc = num_fun_consts, num_jvp_consts
    fc_b, jc_b, x_b = _split([d is not None for d in dims], nfc, njc)
    # Tangents are batched like their primals (they have the same type). Memoised per
    # program (a custom function's traces are cached: see _trace_key).
    fb = memoized("cjvp_batch", fun_jaxpr, (size, tuple(fc_b + x_b)),
                  lambda: batch_jaxpr(fun_jaxpr, size, fc_b + x_b, True)[0])
    jb = memoized("cjvp_batch_rule", jvp_jaxpr, (size, tuple(jc_b), tuple(x_b + x_b)),
                  lambda: _batch_rule(jvp_jaxpr, size, jc_b, x_b + x_b))
    vals = [moveaxis(v, d, 0, size) if d is not None else v for v, d in zip(vals, dims)]
    outs = custom_jvp_call_p.bind(*vals, fun_jaxpr=fb, jvp_jaxpr=jb, num_fun_consts=nfc,
                                  num_jvp_consts=njc)
    return outs, [0] * len(outs)


def _batch_closed(closed: tuple[Jaxpr, list], size: int, in_batched: list) -> tuple:
    """Batch a (jaxpr with constvars, consts) rule whose inputs are batched like
    `in_batched` (consts unbatched)."""
    jaxpr, consts = closed
    k = len(consts)
    flat = Jaxpr((), (*jaxpr.constvars, *jaxpr.invars), jaxpr.eqns, jaxpr.outvars)
    b, _ = batch_jaxpr(flat, size, [False] * k + list(in_batched), True)
    return Jaxpr(b.invars[:k], b.invars[k:], b.eqns, b.outvars), consts


impl_rules[custom_jvp_call_p] = _cjvp_impl
abstract_eval_rules[custom_jvp_call_p] = lambda *a, fun_jaxpr, **_: list(fun_jaxpr.out_avals)
jvp_rules[custom_jvp_call_p] = _cjvp_jvp
batch_rules[custom_jvp_call_p] = _cjvp_batch


# ----------------------------------------------------------------------------------
# custom_vjp


class custom_vjp(_CustomFunction):
    """A function with a user-defined vjp (reverse-mode) rule, as in JAX.

    `fwd(*args) -> (out, residuals)` and `bwd(*nondiff, residuals, ct_out) -> tuple of
    cotangents, one per differentiable argument` (None for a zero cotangent). Reverse
    mode uses `bwd`; forward mode (jvp, jacfwd, hessian) differentiates through the
    primal function instead, so the function stays usable there.

    >>> import funcad as fa, funcad.numpy as fnp
    >>> @custom_vjp
    ... def clip_grad(x):
    ...     return x
    >>> clip_grad.defvjp(lambda x: (x, None), lambda _, g: (fnp.clip(g, -1.0, 1.0),))
    >>> float(fa.grad(lambda x: 5.0 * clip_grad(x))(2.0))
    1.0
    """

    def __init__(self, fun: Callable, nondiff_argnums: Sequence[int] = ()):
        super().__init__(fun, nondiff_argnums)
        self.fwd: Callable | None = None
        self.bwd: Callable | None = None

    def defvjp(self, fwd: Callable, bwd: Callable) -> None:
        """Set `fwd(*args) -> (out, res)` and `bwd(*nondiff, res, ct) -> cts`."""
        self.fwd, self.bwd = fwd, bwd

    def __call__(self, *args, **kwargs):
        if self.fwd is None:
            raise AttributeError(f"custom_vjp function {self.__name__} has no vjp rule; "
                                 f"define one with {self.__name__}.defvjp(fwd, bwd)")
        static, diff, leaves, in_tree = self._split_args(args, kwargs)
        if leaves is None:
            return self.fun(*_merge(static, diff))
        avals = [get_aval(x).strip_weak() for x in leaves]
        box: dict = {}
        name = self.__name__

        def fun_flat(*xs):
            out = self.fun(*_merge(static, tree_unflatten(in_tree, xs)))
            out_leaves, box["out_tree"] = tree_flatten(out)
            return [_as_leaf(o) for o in out_leaves]

        def fwd_flat(*xs):
            res = self.fwd(*_merge(static, tree_unflatten(in_tree, xs)))
            if not (isinstance(res, (tuple, list)) and len(res) == 2):
                raise TypeError(f"the fwd rule of {name} must return (output, residuals)")
            out, r = res
            o_leaves, o_tree = tree_flatten(out)
            if o_tree != box["out_tree"]:
                raise TypeError(f"the fwd rule of {name} returns an output of structure "
                                f"{o_tree} but {name} returns {box['out_tree']}")
            r_leaves, box["res_tree"] = tree_flatten(r)
            return [*[_as_leaf(o) for o in o_leaves], *[_as_leaf(x) for x in r_leaves]]

        fun_jaxpr, fc = trace_to_jaxpr_closed(fun_flat, avals)
        out_tree = box["out_tree"]
        bwd_user = self.bwd
        nd = [static[i] for i in sorted(static)]
        n_out = len(fun_jaxpr.outvars)

        def bwd_flat(*a):
            res = tree_unflatten(box["res_tree"], a[:len(a) - n_out])
            ct = tree_unflatten(out_tree, a[len(a) - n_out:])
            cts = bwd_user(*nd, res, ct)
            if not isinstance(cts, (tuple, list)) or len(cts) != len(diff):
                got = type(cts).__name__
                if isinstance(cts, (tuple, list)):
                    got += f" of length {len(cts)}"
                raise TypeError(f"the bwd rule of {name} must return a tuple with one "
                                f"cotangent per differentiable argument ({len(diff)}), "
                                f"got {got}")
            c_leaves = []
            import funcad.numpy as fnp
            for arg, c in zip(diff, cts):
                a_leaves, a_tree = tree_flatten(arg)
                if c is None:
                    c_leaves.extend(fnp.zeros_like(_as_leaf(x)) for x in a_leaves)
                    continue
                cl, c_tree = tree_flatten(c, is_leaf=lambda x: x is None)
                if c_tree != a_tree and len(cl) != len(a_leaves):
                    raise TypeError(f"the bwd rule of {name} returned a cotangent of "
                                    f"structure {c_tree} for an argument of structure "
                                    f"{a_tree}")
                for x, cx in zip(a_leaves, cl):
                    av = get_aval(_as_leaf(x))
                    cx = fnp.zeros_like(_as_leaf(x)) if cx is None else fnp.asarray(cx)
                    if get_aval(cx).shape != av.shape:
                        raise TypeError(f"the bwd rule of {name} returned a cotangent of "
                                        f"shape {get_aval(cx).shape} for an argument of "
                                        f"shape {av.shape}")
                    c_leaves.append(cx.astype(av.dtype) if get_aval(cx).dtype != av.dtype
                                    else cx)
            return c_leaves

        ct_avals = [tangent_aval(a) for a in fun_jaxpr.out_avals]
        if self._lazy_rules(fc):
            # Called inside its own fwd or bwd (JAX's `def f_fwd(x): return f(x), x`, or
            # the bwd of an implicit fixed point solving another fixed point): this call
            # is its primal unless it is differentiated itself, so its rules are traced
            # only then (tracing them now would recurse forever).
            def trace_fwd():
                return trace_to_jaxpr_flat(fwd_flat, avals)

            fwd_lazy = _LazyRule(self, trace_fwd, "fwd")

            def trace_bwd():
                res_avals = fwd_lazy.force()[0].out_avals[n_out:]
                return trace_to_jaxpr_flat(bwd_flat, [*res_avals, *ct_avals])

            fwd_jaxpr, wc = fwd_lazy, []
            bwd_jaxpr, bc = _LazyRule(self, trace_bwd, "bwd"), []
        else:
            # fwd and bwd are traced now, so that what they close over (tracers of
            # enclosing transforms included) travels as operands.
            self._rule_depth += 1
            try:
                fwd_jaxpr, wc = trace_to_jaxpr_closed(fwd_flat, avals)
                res_avals = fwd_jaxpr.out_avals[n_out:]
                bwd_jaxpr, bc = trace_to_jaxpr_closed(bwd_flat, [*res_avals, *ct_avals])
            finally:
                self._rule_depth -= 1
        outs = custom_vjp_call_p.bind(*fc, *wc, *bc, *leaves, fun_jaxpr=fun_jaxpr,
                                      fwd_jaxpr=fwd_jaxpr, bwd_jaxpr=bwd_jaxpr,
                                      num_fun_consts=len(fc), num_fwd_consts=len(wc),
                                      num_bwd_consts=len(bc))
        return tree_unflatten(out_tree, [_as_leaf(o) for o in outs])


def _cvjp_impl(*args, fun_jaxpr, fwd_jaxpr, bwd_jaxpr, num_fun_consts, num_fwd_consts,
               num_bwd_consts):
    fc, _, _, xs = _split(args, num_fun_consts, num_fwd_consts, num_bwd_consts)
    with eval_context():
        return eval_jaxpr(fun_jaxpr, (), [*fc, *xs])


def _cvjp_jvp(primals, tangents, *, fun_jaxpr, fwd_jaxpr, bwd_jaxpr, num_fun_consts,
              num_fwd_consts, num_bwd_consts):
    fc, wc, bc, xs = _split(primals, num_fun_consts, num_fwd_consts, num_bwd_consts)
    t_fc, _, _, t_xs = _split(tangents, num_fun_consts, num_fwd_consts, num_bwd_consts)
    outs = _eval_rule(fwd_jaxpr, wc, xs)
    n = len(fun_jaxpr.outvars)
    p_out, res = outs[:n], outs[n:]
    t_out = custom_lin_p.bind(*fc, *xs, *bc, *res, *[instantiate(t) for t in t_xs],
                              fun_jaxpr=fun_jaxpr, bwd_jaxpr=bwd_jaxpr,
                              num_fun_consts=len(fc), num_bwd_consts=len(bc),
                              num_res=len(res))
    extra = _closure_tangents(fun_jaxpr, fc, xs, t_fc)
    if extra is not None:
        t_out = [add_tangents(a, b) for a, b in zip(t_out, extra)]
    return p_out, list(t_out)


def _cvjp_batch(size, vals, dims, *, fun_jaxpr, fwd_jaxpr, bwd_jaxpr, num_fun_consts,
                num_fwd_consts, num_bwd_consts):
    nfc, nwc, nbc = num_fun_consts, num_fwd_consts, num_bwd_consts
    fc_b, wc_b, bc_b, _ = _split([d is not None for d in dims], nfc, nwc, nbc)
    nx = len(vals) - nfc - nwc - nbc
    # Every argument, residual and cotangent is treated as batched so that they line up.
    fb, _ = batch_jaxpr(fun_jaxpr, size, fc_b + [True] * nx, True)
    wb = _batch_rule(fwd_jaxpr, size, wc_b, [True] * nx)
    bb = _batch_rule(bwd_jaxpr, size, bc_b, True)
    vals = [moveaxis(v, d, 0, size) if (d is not None or i >= nfc + nwc + nbc) else v
            for i, (v, d) in enumerate(zip(vals, dims))]
    outs = custom_vjp_call_p.bind(*vals, fun_jaxpr=fb, fwd_jaxpr=wb, bwd_jaxpr=bb,
                                  num_fun_consts=nfc, num_fwd_consts=nwc, num_bwd_consts=nbc)
    return outs, [0] * len(outs)


impl_rules[custom_vjp_call_p] = _cvjp_impl
abstract_eval_rules[custom_vjp_call_p] = lambda *a, fun_jaxpr, **_: list(fun_jaxpr.out_avals)
jvp_rules[custom_vjp_call_p] = _cvjp_jvp
batch_rules[custom_vjp_call_p] = _cvjp_batch


# -- custom_lin: linear in its tangents; transpose = bwd, evaluation = jvp through fun ----


def _lin_jaxpr(fun_jaxpr: Jaxpr, nfc: int) -> Jaxpr:
    nx = len(fun_jaxpr.invars) - nfc
    key = (False,) * nfc + (True,) * nx
    jj, _ = memoized("custom_lin", fun_jaxpr, key,
                     lambda: jvp_jaxpr(fun_jaxpr, list(key), True))
    return jj


def _lin_apply(fun_jaxpr, nfc, nbc, num_res, args):
    nx = len(fun_jaxpr.invars) - nfc
    fc, xs, _, _, ts = _split(args, nfc, nx, nbc, num_res)
    outs = eval_jaxpr(_lin_jaxpr(fun_jaxpr, nfc), (), [*fc, *xs, *ts])
    return outs[len(fun_jaxpr.outvars):]


def _lin_impl(*args, fun_jaxpr, bwd_jaxpr, num_fun_consts, num_bwd_consts, num_res):
    with eval_context():
        return _lin_apply(fun_jaxpr, num_fun_consts, num_bwd_consts, num_res, args)


def _lin_abstract_eval(*avals, fun_jaxpr, bwd_jaxpr, num_fun_consts, num_bwd_consts,
                       num_res):
    return [tangent_aval(a) for a in fun_jaxpr.out_avals]


def _lin_jvp(primals, tangents, *, fun_jaxpr, bwd_jaxpr, num_fun_consts, num_bwd_consts,
             num_res):
    # Forward mode over a custom_vjp tangent: differentiate the jvp through fun. When only
    # the tangent operands vary, custom_lin is linear in them: apply it to their tangents
    # (so it stays transposable by bwd, and a fun whose jvp holds custom_lin terminates).
    n_t = len(fun_jaxpr.invars) - num_fun_consts
    if all(type(t) is Zero for t in tangents[:len(tangents) - n_t]):
        params = dict(fun_jaxpr=fun_jaxpr, bwd_jaxpr=bwd_jaxpr, num_fun_consts=num_fun_consts,
                      num_bwd_consts=num_bwd_consts, num_res=num_res)
        head = list(primals[:len(primals) - n_t])
        outs = custom_lin_p.bind(*primals, **params)
        t_outs = custom_lin_p.bind(*head, *[instantiate(t) for t in tangents[len(head):]],
                                   **params)
        return list(outs), list(t_outs)
    return jvp_flat(lambda *a: _lin_apply(fun_jaxpr, num_fun_consts, num_bwd_consts,
                                          num_res, a), primals, tangents)


def _lin_transpose(cts, *args, fun_jaxpr, bwd_jaxpr, num_fun_consts, num_bwd_consts,
                   num_res):
    nfc = num_fun_consts
    nx = len(fun_jaxpr.invars) - nfc
    _, _, bc, res, _ = _split(args, nfc, nx, num_bwd_consts, num_res)
    cts = [instantiate(c) for c in cts]
    ct_x = _eval_rule(bwd_jaxpr, bc, [*res, *cts])
    return [None] * (nfc + nx + num_bwd_consts + num_res) + list(ct_x)


def _lin_batch(size, vals, dims, *, fun_jaxpr, bwd_jaxpr, num_fun_consts, num_bwd_consts,
               num_res):
    nfc, nbc = num_fun_consts, num_bwd_consts
    nx = len(fun_jaxpr.invars) - nfc
    fc_d, x_d, b_d, r_d, t_d = _split(dims, nfc, nx, nbc, num_res)
    fc_b = [d is not None for d in fc_d]
    b_b = [d is not None for d in b_d]
    r_b = [d is not None for d in r_d]
    # Arguments and tangents are all batched so that bwd's cotangents line up with them.
    fb, _ = batch_jaxpr(fun_jaxpr, size, fc_b + [True] * nx, True)
    bb = _batch_rule(bwd_jaxpr, size, b_b, r_b + [True] * len(fun_jaxpr.outvars))
    fc, xs, bc, res, ts = _split(vals, nfc, nx, nbc, num_res)

    def move(vs, ds, force):
        return [moveaxis(v, d, 0, size) if (d is not None or force) else v
                for v, d in zip(vs, ds)]
    outs = custom_lin_p.bind(*move(fc, fc_d, False), *move(xs, x_d, True),
                             *move(bc, b_d, False), *move(res, r_d, False),
                             *move(ts, t_d, True), fun_jaxpr=fb, bwd_jaxpr=bb,
                             num_fun_consts=nfc, num_bwd_consts=nbc, num_res=num_res)
    return outs, [0] * len(outs)


impl_rules[custom_lin_p] = _lin_impl
abstract_eval_rules[custom_lin_p] = _lin_abstract_eval
jvp_rules[custom_lin_p] = _lin_jvp
transpose_rules[custom_lin_p] = _lin_transpose
batch_rules[custom_lin_p] = _lin_batch


# ----------------------------------------------------------------------------------
# Numba lowering (registered by funcad.lowering.numba.control_rules)


def _cjvp_numba(ctx, eqn, args):
    p = eqn.params
    fc, _, xs = _split(args, p["num_fun_consts"], p["num_jvp_consts"])
    return ctx.emit_jaxpr(p["fun_jaxpr"], [*fc, *xs])


def _cvjp_numba(ctx, eqn, args):
    p = eqn.params
    fc, _, _, xs = _split(args, p["num_fun_consts"], p["num_fwd_consts"], p["num_bwd_consts"])
    return ctx.emit_jaxpr(p["fun_jaxpr"], [*fc, *xs])


def _lin_numba(ctx, eqn, args):
    p = eqn.params
    nfc = p["num_fun_consts"]
    nx = len(p["fun_jaxpr"].invars) - nfc
    fc, xs, _, _, ts = _split(args, nfc, nx, p["num_bwd_consts"], p["num_res"])
    outs = ctx.emit_jaxpr(_lin_jaxpr(p["fun_jaxpr"], nfc), [*fc, *xs, *ts])
    return outs[len(p["fun_jaxpr"].outvars):]


def lowering_rules_for() -> list:
    """(primitive, Numba lowering rule) pairs for the custom-derivative primitives."""
    for rule in (_cjvp_numba, _cvjp_numba, _lin_numba):
        rule.emits_body_only = True       # they emit an inner program in place
    return [(custom_jvp_call_p, _cjvp_numba), (custom_vjp_call_p, _cvjp_numba),
            (custom_lin_p, _lin_numba)]


__all__ = ["custom_jvp", "custom_vjp", "custom_jvp_call_p", "custom_vjp_call_p",
           "custom_lin_p"]
