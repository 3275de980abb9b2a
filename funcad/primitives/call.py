"""Call primitives: apply a constvar-free jaxpr held in params (`jit` is one of these).

A call primitive's rules transform its jaxpr and bind the same primitive again, so that
`grad(jit(f))`, `vmap(jit(f))` and `jit(grad(f))` stay whole programs.
"""

from __future__ import annotations

from typing import Callable

from funcad import _core
from funcad._core import (
    Primitive,
    abstract_eval_rules,
    batch_rules,
    eval_context,
    impl_rules,
    jvp_rules,
    partial_eval_jaxpr_rules,
    partial_eval_rules,
    pp_rules,
    transpose_rules,
)
from funcad._ir import Jaxpr, JaxprEqn, Var, eval_jaxpr
from funcad.interpreters.ad import (
    Zero,
    instantiate,
    is_undefined,
    jvp_jaxpr,
    tangent_aval,
    transpose_jaxpr,
)
from funcad.interpreters.batching import batch_jaxpr, moveaxis
from funcad.interpreters.partial_eval import partial_eval_jaxpr
from funcad.primitives._util import new_primitive

# Transformed jaxprs are memoised so that repeated eager calls do not re-trace.
_memo: dict = {}


def memoized(kind: str, jaxpr: Jaxpr, key, make: Callable):
    """Cache a transformation of `jaxpr` (held alive by the cache entry)."""
    k = (kind, id(jaxpr), key)
    hit = _memo.get(k)
    if hit is not None and hit[0] is jaxpr:
        return hit[1]
    val = make()
    if len(_memo) > 4096:
        _memo.clear()
    _memo[k] = (jaxpr, val)
    return val


def call_params(prim: Primitive, params: dict, jaxpr: Jaxpr) -> dict:
    """Params for re-binding `prim` with a transformed jaxpr."""
    new = dict(params)
    new["jaxpr"] = jaxpr
    return new


def define_call_rules(prim: Primitive, impl: Callable | None = None) -> None:
    """Register impl, abstract eval, jvp, partial eval, transpose and batching for a call."""

    def default_impl(*args, jaxpr, **_):
        with eval_context():
            return eval_jaxpr(jaxpr, (), args)

    impl_rules[prim] = impl or default_impl
    abstract_eval_rules[prim] = lambda *avals, jaxpr, **_: list(jaxpr.out_avals)

    def jvp(primals, tangents, *, jaxpr, **params):
        nonzeros = tuple(type(t) is not Zero for t in tangents)
        new_jaxpr, out_nz = memoized("jvp", jaxpr, nonzeros,
                                     lambda: jvp_jaxpr(jaxpr, nonzeros, False))
        nz_tangents = [t for t in tangents if type(t) is not Zero]
        outs = prim.bind(*primals, *nz_tangents, **call_params(prim, params, new_jaxpr))
        n = len(jaxpr.outvars)
        it = iter(outs[n:])
        t_out = [next(it) if nz else Zero(tangent_aval(a))
                 for nz, a in zip(out_nz, jaxpr.out_avals, strict=True)]
        return outs[:n], t_out

    jvp_rules[prim] = jvp

    def partial_eval(trace, tracers, *, jaxpr, **params):
        builder = trace.builder
        known = [builder.is_known(t) for t in tracers]
        unknowns = tuple(not k for k in known)
        jk, ju, out_unk, nres = memoized("pe", jaxpr, unknowns,
                                         lambda: partial_eval_jaxpr(jaxpr, unknowns))
        known_vals = [builder.known_value(t) for t, k in zip(tracers, known) if k]
        known_outs = prim.bind(*known_vals, **call_params(prim, params, jk))
        n_known = len(known_outs) - nres
        res = [trace.pure(r) for r in known_outs[n_known:]]
        unk_in = [t for t, k in zip(tracers, known) if not k]
        unk_outs = trace.default_process_primitive(prim, [*res, *unk_in],
                                                   call_params(prim, params, ju))
        k_it, u_it = iter(known_outs[:n_known]), iter(unk_outs)
        return [next(u_it) if u else next(k_it) for u in out_unk]

    partial_eval_rules[prim] = partial_eval

    def partial_eval_jaxpr_rule(eqn: JaxprEqn, unks_in):
        jaxpr = eqn.params["jaxpr"]
        jk, ju, out_unk, nres = partial_eval_jaxpr(jaxpr, unks_in)
        known_ins = [a for a, u in zip(eqn.inputs, unks_in) if not u]
        unk_ins = [a for a, u in zip(eqn.inputs, unks_in) if u]
        known_outs = [v for v, u in zip(eqn.out_binders, out_unk) if not u]
        unk_outs = [v for v, u in zip(eqn.out_binders, out_unk) if u]
        res_vars = [Var(a) for a in jk.out_avals[len(known_outs):]]
        eqn_k = JaxprEqn(prim, tuple(known_ins), call_params(prim, eqn.params, jk),
                         (*known_outs, *res_vars))
        eqn_u = JaxprEqn(prim, (*res_vars, *unk_ins), call_params(prim, eqn.params, ju),
                         tuple(unk_outs))
        return eqn_k, eqn_u, out_unk, res_vars

    partial_eval_jaxpr_rules[prim] = partial_eval_jaxpr_rule

    def transpose(cts, *args, jaxpr, **params):
        linear = tuple(is_undefined(a) for a in args)
        t_jaxpr = memoized("transpose", jaxpr, linear,
                           lambda: transpose_jaxpr(jaxpr, linear))
        nonlin = [a for a, lin in zip(args, linear) if not lin]
        cts = [instantiate(c) for c in cts]
        outs = prim.bind(*nonlin, *cts, **call_params(prim, params, t_jaxpr))
        it = iter(outs)
        return [next(it) if lin else None for lin in linear]

    transpose_rules[prim] = transpose

    def batch(size, vals, dims, *, jaxpr, **params):
        in_batched = tuple(d is not None for d in dims)
        b_jaxpr, out_batched = memoized("batch", jaxpr, (size, in_batched),
                                        lambda: batch_jaxpr(jaxpr, size, in_batched, False))
        vals = [moveaxis(v, d, 0, size) if d is not None else v for v, d in zip(vals, dims)]
        outs = prim.bind(*vals, **call_params(prim, params, b_jaxpr))
        return outs, [0 if b else None for b in out_batched]

    batch_rules[prim] = batch
    pp_rules[prim] = pp_call


def pp_call(eqn: JaxprEqn) -> tuple[dict, dict]:
    """Printing: show the callee's name inline and its jaxpr as a nested block."""
    params = {k: v for k, v in eqn.params.items() if k != "jaxpr"}
    return params, {"jaxpr": eqn.params["jaxpr"]}


# The plain call (used by jit when no compiled backend is involved, and by tests).
closed_call_p = new_primitive("closed_call", multiple_results=True)
_core.typed_by_program.add(closed_call_p)
define_call_rules(closed_call_p)

__all__ = ["closed_call_p", "define_call_rules", "instantiate"]
