"""Recompute cheap long-lived values instead of storing them (before lowering).

A reverse-mode program keeps every residual of the forward pass until the backward pass
reads it. When a residual is a short elementwise expression of values that stay alive
until that point anyway (in a residual chain `h + tanh(w * h)`, the backward pass reads
`1 - tanh(w * h)**2` and also `h` itself), storing it costs a whole array per layer while
recomputing it costs a few flops inside a loop that runs anyway. This pass rewrites such
uses to recompute the expression right before them, so only the leaves stay alive (the
peak memory of a deep chain halves; what a hand-written backward pass does too).

Only uses far from the definition are rewritten (`_MIN_DISTANCE` equations): a value
read soon after it is made costs no memory worth the recomputation.
"""

from __future__ import annotations

from funcad._core import lowering_rules
from funcad._ir import Jaxpr, JaxprEqn, Literal, Var

_MIN_DISTANCE = 200      # equations between the definition and a use worth rewriting
_MAX_TREE = 12           # equations recomputed for one use at most


def _cheap(eqn, rule) -> bool:
    from funcad.lowering.numba.codegen import IndexRule, ScalarRule
    return (len(eqn.out_binders) == 1 and not eqn.primitive.multiple_results
            and (isinstance(rule, (ScalarRule, IndexRule))
                 or (isinstance(rule, str) and "{" in rule)))


def remat_cheap(jaxpr: Jaxpr) -> Jaxpr:
    """Rewrite far uses of cheap expressions to recompute them from live leaves."""
    eqns = jaxpr.eqns
    if len(eqns) <= _MIN_DISTANCE:
        return jaxpr
    def_pos: dict[Var, int] = {}
    def_eqn: dict[Var, JaxprEqn] = {}
    last_use: dict[Var, int] = {}
    end = len(eqns)
    for p, e in enumerate(eqns):
        for a in e.inputs:
            if type(a) is Var:
                last_use[a] = p
        for v in e.out_binders:
            def_pos[v] = p
            def_eqn[v] = e
    for a in jaxpr.outvars:
        if type(a) is Var:
            last_use[a] = end

    def plan(v, p, out: list, seen: set) -> bool:
        """Append to `out` the equations recomputing `v` from leaves live at `p`."""
        if v in seen:
            return True
        e = def_eqn.get(v)
        if e is None or v.aval.ndim == 0 or last_use.get(v, -1) > p:
            seen.add(v)          # an input, a scalar, or kept alive anyway: a leaf
            return True
        if len(out) >= _MAX_TREE or not _cheap(e, lowering_rules.get(e.primitive)):
            return False
        for a in e.inputs:
            if type(a) is Var and not plan(a, p, out, seen):
                return False
        out.append(e)
        seen.add(v)
        return True

    new_eqns: list[JaxprEqn] = []
    changed = False
    for p, e in enumerate(eqns):
        subst: dict[Var, Var] = {}
        for a in e.inputs:
            if (type(a) is not Var or a in subst or a not in def_pos
                    or p - def_pos[a] < _MIN_DISTANCE or a.aval.ndim == 0):
                continue
            tree: list[JaxprEqn] = []
            if not plan(a, p, tree, set()) or not tree:
                continue
            renamed: dict[Var, Var] = {}
            for t in tree:
                ins = tuple(renamed.get(x, x) if type(x) is Var else x for x in t.inputs)
                outs = tuple(Var(v.aval) for v in t.out_binders)
                renamed.update(zip(t.out_binders, outs))
                new_eqns.append(JaxprEqn(t.primitive, ins, t.params, outs))
            subst[a] = renamed[a]
        if subst:
            changed = True
            e = JaxprEqn(e.primitive, tuple(subst.get(x, x) if type(x) is Var else x
                                            for x in e.inputs), e.params, e.out_binders)
        new_eqns.append(e)
    if not changed:
        return jaxpr
    return Jaxpr(jaxpr.constvars, jaxpr.invars, tuple(new_eqns), jaxpr.outvars)


__all__ = ["remat_cheap"]
