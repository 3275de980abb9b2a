"""Rewrite dot products that contract nothing (or only size-1 dims) as broadcast multiplies.

Per-example gradients of a dense layer are a batch of outer products: `vmap(grad)` gives
`dot_general` over a size-1 contraction, `(B, 1, n) x (B, 1, m) -> (B, n, m)`. As a dot
it is a zero-filled array accumulated into and then transposed; as `broadcast * broadcast`
it is one fused loop nest that writes each element once (and a transpose after it becomes
a permuted store in that loop nest).
"""

from __future__ import annotations

from funcad._core import all_primitives
from funcad._core import ShapedArray
from funcad._ir import Jaxpr, JaxprEqn, Var


def _eqn(name: str, inputs, params: dict, aval) -> tuple[JaxprEqn, Var]:
    out = Var(aval)
    return JaxprEqn(all_primitives[name], tuple(inputs), params, (out,)), out


def _spread(x, contract, batch, out_shape, dims, eqns: list):
    """`x` with its contracted (size-1) dims dropped, batch dims first, broadcast to
    `out_shape` along `dims`."""
    a = x.aval
    kept = [d for d in range(a.ndim) if d not in contract]
    if len(kept) != a.ndim:
        e, x = _eqn("reshape", [x], {"new_sizes": tuple(a.shape[d] for d in kept)},
                    ShapedArray(tuple(a.shape[d] for d in kept), a.dtype))
        eqns.append(e)
    order = [*batch, *(d for d in kept if d not in batch)]
    perm = tuple(kept.index(d) for d in order)
    if perm != tuple(range(len(perm))):
        e, x = _eqn("transpose", [x], {"permutation": perm},
                    ShapedArray(tuple(a.shape[d] for d in order), a.dtype))
        eqns.append(e)
    e, x = _eqn("broadcast_in_dim", [x], {"shape": tuple(out_shape),
                                          "broadcast_dimensions": tuple(dims)},
                ShapedArray(tuple(out_shape), a.dtype))
    eqns.append(e)
    return x


def outer_products(jaxpr: Jaxpr) -> Jaxpr:
    """Replace each `dot_general` whose contracted dims all have size 1 by a multiply."""
    if not any(e.primitive.name == "dot_general" for e in jaxpr.eqns):
        return jaxpr
    eqns: list[JaxprEqn] = []
    changed = False
    for e in jaxpr.eqns:
        if e.primitive.name != "dot_general" or not _is_outer(e):
            eqns.append(e)
            continue
        changed = True
        (lc, rc), (lb, rb) = e.params["dimension_numbers"]
        x, y = e.inputs
        out = e.out_binders[0]
        nb = len(lb)
        nlf = x.aval.ndim - len(lc) - nb
        nrf = y.aval.ndim - len(rc) - nb
        batch = list(range(nb))
        xs = _spread(x, lc, lb, out.aval.shape, [*batch, *range(nb, nb + nlf)], eqns)
        ys = _spread(y, rc, rb, out.aval.shape,
                     [*batch, *range(nb + nlf, nb + nlf + nrf)], eqns)
        eqns.append(JaxprEqn(all_primitives["mul"], (xs, ys), {}, (out,)))
    if not changed:
        return jaxpr
    return Jaxpr(jaxpr.constvars, jaxpr.invars, tuple(eqns), jaxpr.outvars)


def _is_outer(e: JaxprEqn) -> bool:
    (lc, rc), _ = e.params["dimension_numbers"]
    x, y = e.inputs
    out = e.out_binders[0].aval
    return (type(x) is Var and type(y) is Var
            and x.aval.dtype == y.aval.dtype == out.dtype and out.dtype.kind in "fc"
            and set(e.params) == {"dimension_numbers"}
            and all(x.aval.shape[d] == 1 for d in lc) and all(y.aval.shape[d] == 1 for d in rc))


__all__ = ["outer_products"]
