"""Staging: tracing Python functions into jaxprs, and splitting jaxprs into known/unknown parts.

`JaxprTrace` records every primitive applied to its tracers as an equation. Values from
outside the trace (arrays, or tracers of lower levels) become constvars. Used with
`dynamic=True` it stages everything (make_jaxpr, jit); used as an ordinary level it records
only what depends on its tracers: that is how `linearize` separates the linear (tangent)
program from the primal computation, which runs on the level below.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from funcad import _core
from funcad._core import (
    ShapedArray,
    Trace,
    Tracer,
    abstract_eval_rules,
    get_aval,
    is_scalar_literal,
    new_main,
    out_weak,
    partial_eval_jaxpr_rules,
    partial_eval_rules,
)
from funcad._ir import Jaxpr, JaxprEqn, Literal, Var


class JaxprTracer(Tracer):
    """A value inside a program being built; `var` is its Var (or Literal) there."""

    __slots__ = ("_aval", "var", "const")

    def __init__(self, trace: Trace, aval: ShapedArray, var: Var | Literal, const: Any = None):
        self._trace = trace
        self._aval = aval
        self.var = var
        self.const = const

    @property
    def aval(self) -> ShapedArray:
        return self._aval


_NO_CONST = object()


class JaxprBuilder:
    """The equations, variables and constants recorded by one JaxprTrace."""

    def __init__(self, partial_eval: bool = False):
        self.partial_eval = partial_eval
        self.eqns: list[JaxprEqn] = []
        self.const_tracers: dict[int, JaxprTracer] = {}   # id(value) -> tracer
        self.const_list: list[JaxprTracer] = []            # array constants, in order
        # saved_residuals: ids of 0-d arguments, or None. When set, computed 0-d values
        # (NumPy scalars, what NumPy's ufuncs return) and those arguments stay constants
        # instead of literals, so that scalar residuals are listed too; Python numbers
        # and converted constants (0-d arrays) stay literals
        self.keep_scalar_residuals: set | None = None

    def new_tracer(self, trace: Trace, aval: ShapedArray) -> JaxprTracer:
        return JaxprTracer(trace, aval, Var(aval), _NO_CONST)

    def get_const(self, trace: Trace, val: Any) -> JaxprTracer:
        key = id(val)
        t = self.const_tracers.get(key)
        if t is not None:
            return t
        if type(val) is np.ndarray and val.ndim:  # the common case: an array residual
            aval = ShapedArray(val.shape, val.dtype)
            t = JaxprTracer(trace, aval, Var(aval), val)
            self.const_list.append(t)
            self.const_tracers[key] = t  # the tracer keeps `val` alive, so ids stay unique
            return t
        if is_scalar_literal(val) and (self.keep_scalar_residuals is None or not (
                isinstance(val, np.generic) or key in self.keep_scalar_residuals)):
            aval = get_aval(val)
            t = JaxprTracer(trace, aval, Literal(val, aval), val)
        else:
            aval = get_aval(val)      # a weakly typed Array stays weak; a number does not
            if aval.weak_type and not isinstance(val, np.ndarray):
                aval = aval.strip_weak()
            t = JaxprTracer(trace, aval, Var(aval), val)
            self.const_list.append(t)
        self.const_tracers[key] = t
        return t

    def is_known(self, t: JaxprTracer) -> bool:
        """True for tracers standing for values from outside the program (constants)."""
        return t.const is not _NO_CONST

    def known_value(self, t: JaxprTracer) -> Any:
        return t.const

    def var(self, t: JaxprTracer) -> Var | Literal:
        return t.var

    def add_eqn(self, prim, in_tracers, params, out_tracers) -> None:
        self.eqns.append(JaxprEqn(prim, tuple([t.var for t in in_tracers]), params,
                                  tuple([t.var for t in out_tracers])))

    def to_jaxpr(self, in_tracers: Sequence[JaxprTracer], out_tracers: Sequence[JaxprTracer],
                 prune: bool = True) -> tuple[Jaxpr, list]:
        """Build the jaxpr, keeping only the constants and equations the outputs need.

        `prune=False` keeps everything: for a program used once by an interpreter that
        skips dead equations itself (backward_pass), pruning costs more than it saves.
        """
        invars = [t.var for t in in_tracers]
        outvars = [t.var for t in out_tracers]
        if not prune:
            return Jaxpr(tuple([t.var for t in self.const_list]), tuple(invars),
                         tuple(self.eqns), tuple(outvars)), [t.const for t in self.const_list]
        used = {v for v in outvars if type(v) is Var}
        eqns = _prune(self.eqns, used)  # afterwards `used` holds every var that is read
        constvars, consts = [], []
        for t in self.const_list:
            if t.var in used:
                constvars.append(t.var)
                consts.append(t.const)
        return Jaxpr(tuple(constvars), tuple(invars), tuple(eqns), tuple(outvars)), consts


def _prune(eqns: list[JaxprEqn], outvars) -> list[JaxprEqn]:
    """Drop equations whose results are never used (dead-code elimination).

    `outvars` may be a set of live vars, which is then updated with every var read.
    """
    live = outvars if type(outvars) is set else {v for v in outvars if type(v) is Var}
    kept = []
    for e in reversed(eqns):
        outs = e.out_binders
        if (outs[0] in live if len(outs) == 1 else any(v in live for v in outs)) or (
                _has_effect(e)):
            kept.append(e)
            for a in e.inputs:
                if type(a) is Var:
                    live.add(a)
    kept.reverse()
    return kept


def _has_effect(eqn: JaxprEqn) -> bool:
    # Debug callbacks (debug.print) have no outputs but must run: never drop them.
    from funcad._callback import has_effect
    return has_effect(eqn)


class JaxprTrace(Trace):
    """Records primitives applied to its tracers into the level's JaxprBuilder."""

    __slots__ = ()

    @property
    def builder(self) -> JaxprBuilder:
        return self.main.payload

    def new_arg(self, aval: ShapedArray) -> JaxprTracer:
        return self.builder.new_tracer(self, aval)

    def pure(self, val: Any) -> JaxprTracer:
        builder = self.main.payload
        if type(val) is np.ndarray and val.ndim and id(val) not in builder.const_tracers:
            # get_const's common case inlined (a frame per residual of eager linearize)
            aval = ShapedArray(val.shape, val.dtype)
            t = JaxprTracer(self, aval, Var(aval), val)
            builder.const_list.append(t)
            builder.const_tracers[id(val)] = t  # `t` keeps `val` alive: ids stay unique
            return t
        return builder.get_const(self, val)

    lift = pure

    def process_primitive(self, prim, tracers, params):
        builder = self.main.payload
        if prim.multiple_results or builder.partial_eval and prim in partial_eval_rules:
            if builder.partial_eval and prim in partial_eval_rules:
                return partial_eval_rules[prim](self, tracers, **params)
            return self.default_process_primitive(prim, tracers, params)
        # default_process_primitive's single-result case inlined: one frame less per
        # staged equation (every tangent equation of eager linearize comes here).
        in_avals = []
        ins = []
        weak = False
        for t in tracers:
            a = t._aval
            in_avals.append(a)
            ins.append(t.var)
            if a.weak_type:
                weak = True
        aval = (abstract_eval_rules[prim](*in_avals, **params) if params
                else abstract_eval_rules[prim](*in_avals))
        if weak or aval.weak_type:
            aval = _weak_typed(prim, in_avals, params, aval)
        out = JaxprTracer(self, aval, Var(aval), _NO_CONST)
        builder.eqns.append(JaxprEqn(prim, tuple(ins), params, (out.var,)))
        return out

    def default_process_primitive(self, prim, tracers, params):
        in_avals = []
        ins = []
        for t in tracers:  # one loop, no comprehension frames (hot in eager linearize)
            in_avals.append(t._aval)
            ins.append(t.var)
        ins = tuple(ins)
        avals_out = (abstract_eval_rules[prim](*in_avals, **params) if params
                     else abstract_eval_rules[prim](*in_avals))
        builder = self.main.payload
        if prim.multiple_results:
            outs = [JaxprTracer(self, a, Var(a), _NO_CONST) for a in avals_out]
            builder.eqns.append(JaxprEqn(prim, ins, params, tuple([o.var for o in outs])))
            return outs
        if avals_out.weak_type or any(a.weak_type for a in in_avals):
            avals_out = _weak_typed(prim, in_avals, params, avals_out)
        out = JaxprTracer(self, avals_out, Var(avals_out), _NO_CONST)
        builder.eqns.append(JaxprEqn(prim, ins, params, (out.var,)))
        return out


def _weak_typed(prim, in_avals: list, params: dict, aval: ShapedArray) -> ShapedArray:
    """`aval` weakly typed exactly when JAX's rule says (`funcad._core.out_weak`)."""
    weak = out_weak(prim, in_avals, params)
    if weak == aval.weak_type:
        return aval
    return ShapedArray(aval.shape, aval.dtype, weak)


def trace_to_jaxpr_flat(fun: Callable, in_avals: Sequence[ShapedArray]) -> tuple[Jaxpr, list]:
    """Trace a function of flat arguments into a jaxpr and its constants.

    `fun` takes and returns flat lists of values.
    """
    builder = JaxprBuilder()
    with new_main(JaxprTrace, builder, dynamic=True) as main:
        trace = main.trace
        in_tracers = [trace.new_arg(a) for a in in_avals]
        outs = fun(*in_tracers)
        out_tracers = [trace.full_raise(o) for o in outs]
        jaxpr, consts = builder.to_jaxpr(in_tracers, out_tracers)
    return jaxpr, consts


def trace_to_jaxpr_closed(fun: Callable, in_avals: Sequence[ShapedArray]) -> Jaxpr:
    """Trace into a jaxpr without constvars: constants become leading invars.

    Returns (jaxpr, consts) where jaxpr.invars = const binders + arg binders.
    """
    jaxpr, consts = trace_to_jaxpr_flat(fun, in_avals)
    return convert_constvars(jaxpr), consts


def convert_constvars(jaxpr: Jaxpr) -> Jaxpr:
    """Turn a jaxpr's constvars into leading invars."""
    return Jaxpr((), (*jaxpr.constvars, *jaxpr.invars), jaxpr.eqns, jaxpr.outvars)


# ----------------------------------------------------------------------------------
# Partial evaluation of jaxprs: split into a known part and an unknown part.


def partial_eval_jaxpr(jaxpr: Jaxpr, in_unknowns: Sequence[bool],
                       instantiate: bool | Sequence[bool] = False
                       ) -> tuple[Jaxpr, Jaxpr, list[bool], int]:
    """Split a constvar-free jaxpr by which inputs are unknown.

    Returns (jaxpr_known, jaxpr_unknown, out_unknowns, num_res):
      jaxpr_known:   known inputs -> known outputs + residuals
      jaxpr_unknown: residuals + unknown inputs -> unknown outputs
    Outputs marked in `instantiate` are forced into the unknown part.
    """
    assert not jaxpr.constvars
    if isinstance(instantiate, bool):
        instantiate = [instantiate] * len(jaxpr.outvars)
    unknown: set[Var] = {v for v, u in zip(jaxpr.invars, in_unknowns, strict=True) if u}
    known_eqns: list[JaxprEqn] = []
    unknown_eqns: list[JaxprEqn] = []
    residuals: list[Var] = []
    res_set: set[Var] = set()

    def is_unknown(a) -> bool:
        return type(a) is Var and a in unknown

    def add_residual(a) -> None:
        if type(a) is Var and a not in unknown and a not in res_set:
            residuals.append(a)
            res_set.add(a)

    for eqn in jaxpr.eqns:
        unks_in = [is_unknown(a) for a in eqn.inputs]
        if not any(unks_in):
            known_eqns.append(eqn)
            continue
        rule = partial_eval_jaxpr_rules.get(eqn.primitive)
        if rule is not None:
            eqn_known, eqn_unknown, unks_out, res = rule(eqn, unks_in)
            if eqn_known is not None:
                known_eqns.append(eqn_known)
            for v, u in zip(eqn.out_binders, unks_out, strict=True):
                if u:
                    unknown.add(v)
            for r in res:
                add_residual(r)
            if eqn_unknown is not None:
                unknown_eqns.append(eqn_unknown)
            continue
        for a, u in zip(eqn.inputs, unks_in, strict=True):
            if not u:
                add_residual(a)
        unknown_eqns.append(eqn)
        unknown.update(eqn.out_binders)

    out_unknowns = []
    known_outs, unknown_outs = [], []
    for a, inst in zip(jaxpr.outvars, instantiate, strict=True):
        if is_unknown(a):
            out_unknowns.append(True)
            unknown_outs.append(a)
        elif inst:
            out_unknowns.append(True)
            add_residual(a)
            unknown_outs.append(a)
        else:
            out_unknowns.append(False)
            known_outs.append(a)

    known_invars = [v for v, u in zip(jaxpr.invars, in_unknowns) if not u]
    unknown_invars = [v for v, u in zip(jaxpr.invars, in_unknowns) if u]
    # Residuals that are known inputs are fine: the known jaxpr just forwards them.
    jaxpr_known = Jaxpr((), tuple(known_invars), tuple(known_eqns),
                        (*known_outs, *residuals))
    jaxpr_known = Jaxpr((), jaxpr_known.invars,
                        tuple(_prune(list(jaxpr_known.eqns), jaxpr_known.outvars)),
                        jaxpr_known.outvars)
    # Unknown jaxpr binds residuals as fresh variables to keep binders unique.
    rename = {r: Var(r.aval) for r in residuals}
    jaxpr_unknown = _substitute(
        Jaxpr((), (*residuals, *unknown_invars), tuple(unknown_eqns), tuple(unknown_outs)),
        rename)
    return jaxpr_known, jaxpr_unknown, out_unknowns, len(residuals)


def _substitute(jaxpr: Jaxpr, rename: dict[Var, Var]) -> Jaxpr:
    def sub(a):
        return rename.get(a, a) if type(a) is Var else a
    eqns = tuple(JaxprEqn(e.primitive, tuple(sub(a) for a in e.inputs), e.params,
                          e.out_binders) for e in jaxpr.eqns)
    return Jaxpr(tuple(sub(v) for v in jaxpr.constvars), tuple(sub(v) for v in jaxpr.invars),
                 eqns, tuple(sub(a) for a in jaxpr.outvars))


def zeros_literal(aval: ShapedArray) -> Any:
    """A concrete zero of the given type."""
    return np.zeros(aval.shape, aval.dtype)


def current_builder_trace() -> JaxprTrace | None:
    """The dynamic JaxprTrace, if a program is being staged."""
    main = _core.current_dynamic_main()
    return main.trace if main.trace_type is JaxprTrace else None
