"""Automatic differentiation: forward mode (jvp), linearize, and transposition.

Reverse mode is linearize + transpose: `linearize` runs the jvp with tangents staged
into a linear jaxpr (the primal computation happens on the level below, so every
intermediate is computed once, and the values the tangent program needs become its
constants: the residuals); `backward_pass` then walks that linear program backwards
applying each primitive's transpose rule.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from funcad import _core
from funcad._core import (
    ShapedArray,
    Trace,
    Tracer,
    UnexpectedTracerError,
    get_aval,
    is_float_dtype,
    jvp_rules,
    new_main,
    nondiff_primitives,
    transpose_rules,
)
from funcad._ir import Jaxpr, Literal, Var
from funcad.interpreters.partial_eval import (
    JaxprBuilder,
    JaxprTrace,
    JaxprTracer,
    trace_to_jaxpr_flat,
    convert_constvars,
)


class Zero:
    """A symbolic zero tangent or cotangent: nothing is computed for it."""

    __slots__ = ("aval",)

    def __init__(self, aval: ShapedArray):
        self.aval = aval

    def __repr__(self) -> str:
        return f"Zero({self.aval.str_short()})"


def zeros_like_aval(aval: ShapedArray) -> Any:
    """A zero array of the given type, under the current trace."""
    from funcad.primitives.structural import full
    return full(aval.shape, 0, aval.dtype)


def instantiate(t: Any) -> Any:
    """Turn a symbolic Zero into an actual zero array."""
    return zeros_like_aval(t.aval) if type(t) is Zero else t


def tangent_aval(aval: ShapedArray) -> ShapedArray:
    # Avals are immutable, so a strong one is shared rather than copied.
    return ShapedArray(aval.shape, aval.dtype) if aval.weak_type else aval


def add_tangents(a: Any, b: Any) -> Any:
    if type(a) is Zero:
        return b
    if type(b) is Zero:
        return a
    return _add_p().bind(a, b)


def _add_p():
    # add_p is defined by funcad.primitives, which imports this module; an import
    # statement on every call would cost more than the addition itself.
    global _add_p_cache
    if _add_p_cache is None:
        from funcad.primitives.elementwise import add_p
        _add_p_cache = add_p
    return _add_p_cache


_add_p_cache = None


# ----------------------------------------------------------------------------------
# Forward mode


class JVPTracer(Tracer):
    """A primal value paired with its tangent."""

    __slots__ = ("primal", "tangent", "_aval")

    def __init__(self, trace: Trace, primal: Any, tangent: Any):
        self._trace = trace
        self.primal = primal
        self.tangent = tangent
        self._aval = None

    @property
    def aval(self) -> ShapedArray:
        a = self._aval
        if a is None:
            a = self._aval = get_aval(self.primal)
        return a

    def to_concrete(self, why: str) -> Any:
        p = self.primal
        return p.to_concrete(why) if isinstance(p, Tracer) else p

    def __array__(self, dtype=None, copy=None):
        # A NumPy array cannot carry the tangent: converting would silently drop the
        # derivative (e.g. a compiled program called with this value), so only values
        # that carry no derivative convert.
        if type(self.tangent) is not Zero:
            raise_dropped_derivative(self)
        return Tracer.__array__(self, dtype, copy)


def raise_dropped_derivative(tracer: Tracer) -> None:
    """The error for a value being differentiated that is converted to a NumPy array."""
    raise TypeError(
        f"A value being differentiated ({tracer.aval.str_short()}) was converted to a NumPy "
        f"array (np.asarray, np.array, or a NumPy function funcad does not trace), which "
        f"would drop its derivative. Use funcad.numpy functions on it, or "
        f"funcad.stop_gradient(x) first if the derivative through it should be zero.")


class JVPTrace(Trace):
    """Pushes tangents forward through each primitive with its jvp rule."""

    __slots__ = ()

    def pure(self, val: Any) -> JVPTracer:
        return JVPTracer(self, val, Zero(tangent_aval(get_aval(val))))

    lift = pure

    def process_primitive(self, prim, tracers, params):
        primals = []
        tangents = []
        nonzero = False
        for t in tracers:  # one loop, no comprehension frames (the hot path of eager AD)
            primals.append(t.primal)
            tangent = t.tangent
            tangents.append(tangent)
            if type(tangent) is not Zero:
                nonzero = True
        if not nonzero or prim in nondiff_primitives:
            return self._zero_tangent_outs(prim, primals, params)
        rule = jvp_rules.get(prim)
        if rule is None:
            raise NotImplementedError(f"differentiation rule for '{prim.name}' is not "
                                      f"implemented")
        primal_out, tangent_out = (rule(primals, tangents, **params) if params
                                   else rule(primals, tangents))
        if prim.multiple_results:
            return [JVPTracer(self, p, t) for p, t in zip(primal_out, tangent_out,
                                                          strict=True)]
        return JVPTracer(self, primal_out, tangent_out)

    def _zero_tangent_outs(self, prim, primals, params):
        out = prim.bind(*primals, **params)
        if prim.multiple_results:
            return [JVPTracer(self, o, Zero(tangent_aval(get_aval(o)))) for o in out]
        return JVPTracer(self, out, Zero(tangent_aval(get_aval(out))))


def jvp_flat(fun: Callable, primals: Sequence, tangents: Sequence) -> tuple[list, list]:
    """Forward-mode jvp of a function of flat lists. Tangents may be `Zero`."""
    with new_main(JVPTrace) as main:
        trace = main.trace
        in_tracers = [JVPTracer(trace, p, t) for p, t in zip(primals, tangents, strict=True)]
        outs = fun(*in_tracers)
        out_tracers = [trace.full_raise(o) for o in outs]
        primals_out = [t.primal for t in out_tracers]
        tangents_out = [t.tangent for t in out_tracers]
    return primals_out, tangents_out


# Rule helpers ------------------------------------------------------------------------


def defjvp(prim, *per_arg_rules: Callable | None) -> None:
    """Define a jvp rule as a sum of per-argument contributions.

    Each rule is `(t, ans, *primals, **params) -> contribution`, called only for
    arguments whose tangent is not a symbolic zero. `None` marks a non-differentiable
    argument.
    """
    def rule(primals, tangents, **params):
        ans = prim.bind(*primals, **params)
        out = None
        for r, t in zip(per_arg_rules, tangents):
            if r is None or type(t) is Zero:
                continue
            contrib = r(t, ans, *primals, **params)
            out = contrib if out is None else add_tangents(out, contrib)
        if out is None:
            out = Zero(tangent_aval(get_aval(ans)))
        return ans, out

    def unary_rule(primals, tangents, **params):
        # The hot case (sin, exp, ...) without the generic loop.
        (x,), (t,) = primals, tangents
        if params:
            ans = prim.bind(x, **params)
            if type(t) is Zero:
                return ans, Zero(tangent_aval(get_aval(ans)))
            return ans, r0(t, ans, x, **params)
        ans = prim.bind(x)  # no `**{}`: it builds a dict per call
        if type(t) is Zero:
            return ans, Zero(tangent_aval(get_aval(ans)))
        return ans, r0(t, ans, x)

    r0 = per_arg_rules[0]
    jvp = unary_rule if len(per_arg_rules) == 1 and r0 is not None else rule
    # Kept with the rule (eager reverse mode transposes elementwise primitives with them:
    # interpreters/tape.py), so that the rule table stays the one place to look.
    jvp.per_arg_rules = per_arg_rules
    jvp_rules[prim] = jvp


def deflinear_jvp(prim) -> None:
    """jvp of a primitive linear in all its arguments: apply it to the tangents."""
    def rule(primals, tangents, **params):
        ans = prim.bind(*primals, **params)
        if prim.multiple_results:
            ts = [instantiate(t) for t in tangents]
            return ans, prim.bind(*ts, **params)
        ts = [instantiate(t) for t in tangents]
        return ans, prim.bind(*ts, **params)
    jvp_rules[prim] = rule


def jvp_jaxpr(jaxpr: Jaxpr, nonzeros: Sequence[bool], instantiate_out: bool | Sequence[bool]
              ) -> tuple[Jaxpr, list[bool]]:
    """Transform a constvar-free jaxpr into one computing (primals, nonzero tangents).

    The result takes `primals + tangents-for-nonzero-inputs` and returns
    `primals_out + tangents_out` (only those out tangents that are nonzero or instantiated).
    """
    avals = jaxpr.in_avals
    n = len(avals)
    if isinstance(instantiate_out, bool):
        instantiate_out = [instantiate_out] * len(jaxpr.outvars)
    from funcad._ir import eval_jaxpr
    out_nonzeros: list[bool] = []

    def fun(*args):
        primals = args[:n]
        it = iter(args[n:])
        tangents = [next(it) if nz else Zero(tangent_aval(a))
                    for nz, a in zip(nonzeros, avals, strict=True)]
        p_out, t_out = jvp_flat(lambda *xs: eval_jaxpr(jaxpr, (), xs), primals, tangents)
        t_final = []
        out_nonzeros.clear()
        for t, inst in zip(t_out, instantiate_out, strict=True):
            if type(t) is Zero and not inst:
                out_nonzeros.append(False)
            else:
                out_nonzeros.append(True)
                t_final.append(instantiate(t))
        return [*p_out, *t_final]

    in_avals = [*avals, *[tangent_aval(a) for a, nz in zip(avals, nonzeros) if nz]]
    new_jaxpr, consts = trace_to_jaxpr_flat(fun, in_avals)
    assert not consts or True
    return _close_over_consts(new_jaxpr, consts), list(out_nonzeros)


def _close_over_consts(jaxpr: Jaxpr, consts: list) -> Jaxpr:
    """Inline constants of a freshly traced inner jaxpr as literal-producing equations."""
    if not consts:
        return jaxpr
    from funcad.primitives.structural import const_p
    from funcad._ir import JaxprEqn
    eqns = tuple(JaxprEqn(const_p, (), {"value": HashableArray(c)}, (v,))
                 for v, c in zip(jaxpr.constvars, consts, strict=True))
    return Jaxpr((), jaxpr.invars, eqns + jaxpr.eqns, jaxpr.outvars)


class HashableArray:
    """A constant array stored in a primitive's params (compared by identity)."""

    __slots__ = ("val",)

    def __init__(self, val):
        if isinstance(val, Tracer):
            # A traced value cannot be a constant of a program: it would be frozen at
            # its current value (and its derivative or batch axis lost).
            raise UnexpectedTracerError(
                f"A traced value ({val.aval.str_short()}) was about to be baked into a "
                f"transformed program as a constant. This happens when a function that "
                f"is traced lazily (a custom rule, a cached program) closes over a value "
                f"of an enclosing transform; pass that value as an argument instead.")
        self.val = np.asarray(val)

    def __repr__(self) -> str:
        return f"array{self.val.shape}"


# ----------------------------------------------------------------------------------
# Linearize: jvp with the tangent computation staged into a linear jaxpr.


class LinearizeResult:
    """A linear jaxpr with its residual constants and the layout of its outputs."""

    __slots__ = ("jaxpr", "consts", "out_avals")

    def __init__(self, jaxpr: Jaxpr, consts: list, out_avals: list[ShapedArray]):
        self.jaxpr = jaxpr
        self.consts = consts
        self.out_avals = out_avals


def linearize_flat(fun: Callable, primals: Sequence, num_aux: int | Callable[[], int] = 0,
                   prune: bool = True, scalar_residuals: set | None = None
                   ) -> tuple[list, LinearizeResult]:
    """Run `fun` on primals and stage its linear map (the jvp) into a jaxpr.

    The last `num_aux` outputs of `fun` are auxiliary: returned, but not linearized.
    `num_aux` may be a callable, asked after `fun` has run. `prune=False` keeps equations
    the outputs do not need (for a jaxpr transposed once, by backward_pass, which skips them).
    `scalar_residuals` (a set of ids of 0-d primals, for saved_residuals) keeps computed
    0-d residuals and those primals as constants, not as literals.
    """
    builder = JaxprBuilder(partial_eval=True)
    builder.keep_scalar_residuals = scalar_residuals
    with new_main(JaxprTrace, builder) as main:
        trace = main.trace
        tangent_in = [trace.new_arg(tangent_aval(get_aval(p))) for p in primals]
        primals_out, tangents_out = jvp_flat(fun, primals, tangent_in)
        n_lin = len(primals_out) - (num_aux() if callable(num_aux) else num_aux)
        out_tracers = []
        for p, t in zip(primals_out[:n_lin], tangents_out[:n_lin], strict=True):
            aval = tangent_aval(get_aval(p))
            if type(t) is Zero:
                t = trace.full_raise(np.zeros(aval.shape, aval.dtype))
            else:
                t = trace.full_raise(t)
            out_tracers.append(t)
        jaxpr, consts = builder.to_jaxpr(tangent_in, out_tracers, prune)
    return primals_out, LinearizeResult(jaxpr, consts,
                                        [tangent_aval(get_aval(p)) for p in primals_out[:n_lin]])


# ----------------------------------------------------------------------------------
# Transposition


class UndefinedPrimal:
    """Marks a linear input of an equation during transposition."""

    __slots__ = ("aval",)

    def __init__(self, aval: ShapedArray):
        self.aval = aval

    def __repr__(self) -> str:
        return f"UndefinedPrimal({self.aval.str_short()})"


def is_undefined(x: Any) -> bool:
    return type(x) is UndefinedPrimal


def backward_pass(jaxpr: Jaxpr, consts: Sequence, linear_args: Sequence[bool],
                  args: Sequence, cts_out: Sequence) -> list:
    """Transpose a jaxpr (see _backward_pass); values made on the way stay ndarrays."""
    if _core._outside:
        with _core.inside():
            return _backward_pass(jaxpr, consts, linear_args, args, cts_out)
    return _backward_pass(jaxpr, consts, linear_args, args, cts_out)


def _backward_pass(jaxpr: Jaxpr, consts: Sequence, linear_args: Sequence[bool],
                   args: Sequence, cts_out: Sequence) -> list:
    """Transpose a jaxpr that is linear in the inputs flagged in `linear_args`.

    `args` holds values for non-linear inputs (anything for linear ones); `cts_out` are
    cotangents of the outputs (`Zero` allowed). Returns cotangents of every input
    (`Zero` where none flows; `None` for non-linear inputs).
    """
    # One environment for both kinds of var: a linear var maps to its UndefinedPrimal
    # (made once per var, not once per use), any other to its value.
    primal_env: dict[Var, Any] = dict(zip(jaxpr.constvars, consts, strict=True))
    linear: set[Var] = set()
    for v, lin, a in zip(jaxpr.invars, linear_args, args, strict=True):
        if lin:
            linear.add(v)
            primal_env[v] = UndefinedPrimal(v.aval)
        else:
            primal_env[v] = a

    # Forward sweep: evaluate equations that do not touch linear inputs, and collect the
    # transpose rules' inputs of those that do (their non-linear inputs are known by now).
    lin_eqns = []
    for eqn in jaxpr.eqns:
        ins = []
        is_linear = False
        for a in eqn.inputs:
            if type(a) is Literal:
                ins.append(a.val)
            else:
                x = primal_env[a]
                if type(x) is UndefinedPrimal:
                    is_linear = True
                ins.append(x)
        if is_linear:
            for v in eqn.out_binders:
                linear.add(v)
                primal_env[v] = UndefinedPrimal(v.aval)
            lin_eqns.append((eqn, ins))
        else:
            outs = eqn.primitive.bind(*ins, **eqn.params)
            if eqn.primitive.multiple_results:
                for v, o in zip(eqn.out_binders, outs, strict=True):
                    primal_env[v] = o
            else:
                primal_env[eqn.out_binders[0]] = outs

    ct_env: dict[Var, Any] = {}

    def write_ct(v, ct):
        if type(v) is not Var or v not in linear or ct is None or type(ct) is Zero:
            return
        prev = ct_env.get(v)
        ct_env[v] = ct if prev is None else add_tangents(prev, ct)

    for v, ct in zip(jaxpr.outvars, cts_out, strict=True):
        write_ct(v, ct)

    for eqn, invals in reversed(lin_eqns):
        prim = eqn.primitive
        if prim.multiple_results:
            cts = [ct_env.pop(v, None) for v in eqn.out_binders]
            if all(c is None for c in cts):
                continue
            cts = [Zero(v.aval) if c is None else c for v, c in zip(eqn.out_binders, cts)]
        else:
            cts = ct_env.pop(eqn.out_binders[0], None)
            if cts is None:
                continue
        rule = transpose_rules.get(prim)
        if rule is None:
            raise NotImplementedError(f"transpose rule for '{prim.name}' is not implemented")
        params = eqn.params
        cts_in = rule(cts, *invals, **params) if params else rule(cts, *invals)
        if len(cts_in) != len(invals):
            raise ValueError(f"transpose rule for '{prim.name}' returned {len(cts_in)} "
                             f"cotangents for {len(invals)} inputs")
        for a, ct, x in zip(eqn.inputs, cts_in, invals):
            if type(x) is UndefinedPrimal and ct is not None and type(ct) is not Zero:
                prev = ct_env.get(a)  # never a Zero: add without add_tangents' checks
                ct_env[a] = ct if prev is None else _add_p().bind(prev, ct)

    result = []
    for v, lin in zip(jaxpr.invars, linear_args, strict=True):
        if not lin:
            result.append(None)
        else:
            ct = ct_env.get(v)
            result.append(Zero(v.aval) if ct is None else ct)
    return result


def transpose_jaxpr(jaxpr: Jaxpr, linear_args: Sequence[bool],
                    ct_nonzero: Sequence[bool] | None = None) -> Jaxpr:
    """A jaxpr for the transpose: (non-linear args, cts_out) -> cts of linear args.

    Zero cotangents of linear inputs are instantiated.
    """
    nonlin_avals = [v.aval for v, lin in zip(jaxpr.invars, linear_args) if not lin]
    lin_avals = [v.aval for v, lin in zip(jaxpr.invars, linear_args) if lin]
    out_avals = jaxpr.out_avals
    n_nl = len(nonlin_avals)

    def fun(*args):
        nl, cts = args[:n_nl], args[n_nl:]
        it = iter(nl)
        full_args = [None if lin else next(it) for lin in linear_args]
        res = backward_pass(jaxpr, (), linear_args, full_args, cts)
        return [instantiate(r) for r, lin in zip(res, linear_args) if lin]

    t_jaxpr, consts = trace_to_jaxpr_flat(fun, [*nonlin_avals, *out_avals])
    del lin_avals
    return _close_over_consts(t_jaxpr, consts)


def check_differentiable(aval: ShapedArray, what: str) -> None:
    """Raise the user-facing TypeError for differentiating w.r.t. a non-float input."""
    if not is_float_dtype(aval.dtype):
        raise TypeError(
            f"{what} has dtype {aval.dtype.name}; funcad can only differentiate with "
            f"respect to floating-point inputs. Convert it (e.g. `x.astype(float)`) or "
            f"leave it out of `argnums`.")


convert_constvars = convert_constvars
JaxprTracer = JaxprTracer
