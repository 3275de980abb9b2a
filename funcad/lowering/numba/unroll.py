"""Small arrays inside loop bodies as scalars: no allocation per iteration.

In a `scan` or `while` body, a value of static size up to `SMALL_MAX` elements (the state
vector of an ODE, `s[0]`, `fnp.stack([a, b, c])`) is kept as one scalar variable per
element instead of an array: indexing by a constant is a plain element read, `stack`,
`concatenate`, `pad` and reshapes only regroup element names, elementwise operations and
reductions are written once per element. Such a value becomes an array only where a rule
needs one (a statement rule, a fused loop over a larger array); a small carry is written
element by element into a buffer allocated once before the loop, and small per-step
outputs straight into their stacks.

`try_unroll` is called by codegen's equation visitor; a value it handles is recorded in
`low.small` (Var -> its element expressions, C order), and `materialize` writes the array
when one is needed.
"""

from __future__ import annotations

import itertools

import numpy as np

from funcad._ir import Literal, Var

SMALL_MAX = 16      # elements: up to this size a value inside a loop body is unrolled


class Elements(list):
    """The element expressions of a small value (C order), with its shape."""

    def __init__(self, elems, shape):
        super().__init__(elems)
        self.shape = tuple(shape)


def is_small(aval) -> bool:
    """True for an array (rank >= 1) of at most SMALL_MAX elements."""
    return aval.ndim >= 1 and 1 <= aval.size <= SMALL_MAX


def _indices(shape):
    return list(itertools.product(*(range(n) for n in shape)))


def _flat(shape, idx) -> int:
    k = 0
    for n, i in zip(shape, idx):
        k = k * n + i
    return k


class _Refuse(Exception):
    """This equation is not unrolled (it goes the usual way)."""


def _element(low, a, idx) -> str:
    """The scalar expression of element `idx` of operand `a` (binding array reads)."""
    if type(a) is Literal:
        return low.ctx.literal(a.val, a.aval.dtype)
    if a.aval.ndim == 0:
        s = low.scalar_of(a)
        if s is None:
            raise _Refuse
        return s
    elems = low.small.get(a)
    if elems is not None:
        return elems[_flat(a.aval.shape, idx)]
    if a in low.splat and a not in low.env:
        return low.splat[a]
    if a not in low.env:
        raise _Refuse
    reads = low.small_reads.setdefault(a, {})
    name = reads.get(idx)
    if name is None:
        name = reads[idx] = low.ctx.fresh("el")
        at = ", ".join(str(i) for i in idx)
        low.ctx.line(f"{name} = {low.env[a]}[{at}]")
    return name


def _bind(low, expr: str) -> str:
    name = low.ctx.fresh("el")
    low.ctx.line(f"{name} = {expr}")
    return name


def _int(expr: str) -> int:
    # Index rules write integer arithmetic over the indices given ("1 + 0", "2 - 1").
    if not all(c in "0123456789+-* ()" for c in expr):
        raise _Refuse
    return int(eval(expr, {"__builtins__": {}}, {}))  # noqa: S307 (digits and + - * only)


def _elementwise(low, eqn, rule, out) -> list:
    from funcad.lowering.numba.codegen import _scalar_expr
    for a in eqn.inputs:
        if a.aval.ndim and a.aval.shape != out.shape:
            raise _Refuse
    elems = []
    for idx in _indices(out.shape):
        args = [_element(low, a, idx if a.aval.ndim else ()) for a in eqn.inputs]
        elems.append(_bind(low, _scalar_expr(low.ctx, rule, eqn, args)))
    return elems


def _index(low, eqn, rule, out) -> list:
    src = eqn.inputs[0]
    elems = []
    for idx in _indices(out.shape):
        at = [_int(s) for s in rule.fn(eqn, [str(i) for i in idx])]
        elems.append(_element(low, src, tuple(at)) if src.aval.ndim else
                     _element(low, src, ()))
    return elems


def _nullary(low, eqn, rule, out) -> list:
    return [_bind(low, rule.fn(low.ctx, eqn, [str(i) for i in idx]))
            for idx in _indices(out.shape)]


def _reduce(low, eqn, rule, out) -> list:
    src, axes = eqn.inputs[0], set(eqn.params["axes"])
    accs: dict[tuple, str] = {}
    for idx in _indices(src.aval.shape):
        kept = tuple(i for d, i in enumerate(idx) if d not in axes)
        acc = accs.get(kept)
        if acc is None:
            acc = accs[kept] = low.ctx.fresh("el")
            low.ctx.line(f"{acc} = {rule.init(low.ctx, out.dtype)}")
        low.ctx.line(rule.update.format(acc=acc, v=_element(low, src, idx)))
    return [accs[idx] for idx in _indices(out.shape)]


def _reshape(low, eqn, out) -> list:
    src = eqn.inputs[0]
    shape = src.aval.shape
    return [_element(low, src, idx) for idx in _indices(shape)] if shape else \
        [_element(low, src, ())] * out.size


def _concatenate(low, eqn, out) -> list:
    dim = eqn.params["dimension"]
    where = []          # output position along dim -> (operand, its position)
    for a in eqn.inputs:
        where += [(a, k) for k in range(a.aval.shape[dim])]
    elems = []
    for idx in _indices(out.shape):
        a, k = where[idx[dim]]
        elems.append(_element(low, a, (*idx[:dim], k, *idx[dim + 1:])))
    return elems


def _pad(low, eqn, out) -> list:
    x, pv = eqn.inputs
    fill = _element(low, pv, ())
    elems = []
    for idx in _indices(out.shape):
        at = []
        for i, n, (lo, _, interior) in zip(idx, x.aval.shape, eqn.params["padding_config"]):
            j, r = divmod(i - lo, interior + 1)
            if r or not 0 <= j < n:
                break
            at.append(j)
        else:
            elems.append(_element(low, x, tuple(at)))
            continue
        elems.append(fill)
    return elems


_STATEMENTS = {"reshape": _reshape, "concatenate": _concatenate, "pad": _pad}


def try_unroll(low, eqn, rule, kind) -> bool:
    """Lower `eqn` element by element if it makes a small value inside a loop body."""
    if low.ctx.loop_depth == 0 or len(eqn.out_binders) != 1:
        return False
    v = eqn.out_binders[0]
    out = v.aval
    name = eqn.primitive.name
    small_in = any(type(a) is Var and a in low.small for a in eqn.inputs)
    if not (is_small(out) or (out.ndim == 0 and small_in)):
        return False
    if kind == "stmt" and name not in _STATEMENTS:
        return False
    if kind == "scalar-elementwise" or (out.ndim == 0 and not small_in):
        return False
    for a in eqn.inputs:
        if type(a) is Var and a in low.owner:
            low.close(low.owner[a])
    low.ctx.comment(eqn)
    try:
        if name in _STATEMENTS:
            elems = _STATEMENTS[name](low, eqn, out)
        elif kind in ("elementwise", "scalar-elementwise"):
            elems = _elementwise(low, eqn, rule, out)
        elif kind in ("index", "scalar-index"):
            elems = _index(low, eqn, rule, out)
        elif kind in ("nullary", "scalar-nullary"):
            elems = _nullary(low, eqn, rule, out)
        elif kind in ("reduce", "scalar-copy"):
            elems = _reduce(low, eqn, rule, out) if name.startswith("reduce_") else None
            if elems is None:
                raise _Refuse
        else:
            raise _Refuse
    except _Refuse:
        low.ctx.current = None
        return False
    low.ctx.current = None
    if out.ndim == 0:
        low.env[v] = elems[0]
    else:
        low.small[v] = elems
    return True


def materialize(low, a) -> str:
    """Write the small value `a` into a new array; returns its name."""
    ctx, elems = low.ctx, low.small[a]
    name = ctx.var_name(a)
    ctx.line(f"{name} = {ctx.empty(a.aval.shape, a.aval.dtype)}")
    for idx, e in zip(_indices(a.aval.shape), elems):
        ctx.line(f"{name}[{', '.join(str(i) for i in idx)}] = {e}")
    return name


def store(ctx, buf: str, prefix: list[str], elems: Elements) -> None:
    """`buf[*prefix, idx] = element` for each element of a small value."""
    for idx, e in zip(_indices(elems.shape), elems):
        ctx.line(f"{buf}[{', '.join([*prefix, *(str(i) for i in idx)])}] = {e}")


__all__ = ["Elements", "SMALL_MAX", "is_small", "materialize", "store", "try_unroll"]
