"""Drop a transpose whose value is only combined elementwise and then reduced away.

`vmap(grad)` of a dense layer gives per-example weight gradients as a transposed batch of
outer products; a program that only needs their norm (`sum(g * g)`) then squares and sums
the transposed array. Elementwise operations do not care about the order of axes, and a
reduction over the permuted axes gives the same numbers in the same order when the kept
axes keep their order. So `reduce(f(transpose(x)))` becomes `reduce'(f(x))`: the loop nest
runs over `x`'s own layout, and fuses with the equations that make `x` (a transpose read
would end the nest and store the whole array first).

Only exact rewrites: a chain of single-use elementwise equations whose other operands are
scalars (literals or rank-0 values), ending in one reduction whose kept axes stay in order.
The order in which elements are summed changes, so sums may differ in the last bits, as
for any change of loop order.
"""

from __future__ import annotations

from funcad._core import ShapedArray, lowering_rules
from funcad._ir import Jaxpr, JaxprEqn, Var

_REDUCTIONS = ("reduce_sum", "reduce_max", "reduce_min", "reduce_prod")


def _elementwise(eqn) -> bool:
    from funcad.lowering.numba.codegen import ScalarRule
    rule = lowering_rules.get(eqn.primitive)
    return (len(eqn.out_binders) == 1 and not eqn.primitive.multiple_results
            and (isinstance(rule, ScalarRule) or (isinstance(rule, str) and "{" in rule)))


def sink_transposes(jaxpr: Jaxpr) -> Jaxpr:
    """Rewrite `reduce(elementwise chain(transpose(x)))` to work on `x` directly."""
    if not any(e.primitive.name == "transpose" for e in jaxpr.eqns):
        return jaxpr
    users: dict[Var, list] = {}
    for e in jaxpr.eqns:
        for a in dict.fromkeys(a for a in e.inputs if type(a) is Var):
            users.setdefault(a, []).append(e)
    outs = {a for a in jaxpr.outvars if type(a) is Var}

    def only_user(v):
        us = users.get(v, [])
        return us[0] if len(us) == 1 and v not in outs else None

    replace: dict[int, JaxprEqn | None] = {}     # id(eqn) -> new eqn (None: dropped)
    for t in jaxpr.eqns:
        if t.primitive.name != "transpose" or type(t.inputs[0]) is not Var:
            continue
        perm = t.params["permutation"]
        chain, v = [], t.out_binders[0]
        e = only_user(v)
        while e is not None and _elementwise(e) and id(e) not in replace:
            others = [a for a in e.inputs if a is not v]
            if any(type(a) is Var and a.aval.ndim for a in others):
                break
            chain.append(e)
            v = e.out_binders[0]
            e = only_user(v)
        if e is None or e.primitive.name not in _REDUCTIONS or id(e) in replace:
            continue
        axes = tuple(sorted(perm[a] for a in e.params["axes"]))
        kept_t = [perm[d] for d in range(len(perm)) if d not in e.params["axes"]]
        if kept_t != sorted(kept_t):
            continue      # the kept axes would come out in another order
        # Rename: the chain computes on x's layout; its values get new variables.
        src = t.inputs[0]
        sub = {t.out_binders[0]: src}
        replace[id(t)] = None
        for c in chain:
            out = c.out_binders[0]
            new = Var(ShapedArray(src.aval.shape, out.aval.dtype, out.aval.weak_type))
            replace[id(c)] = JaxprEqn(c.primitive, tuple(sub.get(a, a) for a in c.inputs),
                                      c.params, (new,))
            sub[out] = new
        replace[id(e)] = JaxprEqn(e.primitive, tuple(sub.get(a, a) for a in e.inputs),
                                  dict(e.params, axes=axes), e.out_binders)
    if not replace:
        return jaxpr
    eqns = []
    for e in jaxpr.eqns:
        if id(e) in replace:
            if replace[id(e)] is not None:
                eqns.append(replace[id(e)])
        else:
            eqns.append(e)
    return Jaxpr(jaxpr.constvars, jaxpr.invars, tuple(eqns), jaxpr.outvars)


__all__ = ["sink_transposes"]
