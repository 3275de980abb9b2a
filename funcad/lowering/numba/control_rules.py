"""Numba lowering of control flow: each loop is one native loop in the generated source.

`scan` becomes a `for` loop that writes its stacked outputs into buffers preallocated
before the loop (the reverse pass of a scan is a scan with `reverse=True` reading those
stacks, so it is a native loop too); `while` becomes `while True: ... break`; `cond` an
`if/elif/else` chain; `checkpoint` is emitted in place (recomputation is already
explicit in the program it holds). Loop-carried values keep one Numba type because the
emitter's arrays are C-contiguous with fixed dtypes and rank-0 values are scalars.
"""

from __future__ import annotations

import contextlib

from funcad._core import lowering_rules
from funcad.lowering.numba.unroll import Elements, is_small, store
from funcad.primitives.control import cond_p, scan_p, while_p, while_rev_p


def _assign(ctx, names: list[str], exprs: list[str]) -> None:
    # Tuple assignment: a body may permute its carries (c1, c2 = c2, c1).
    if not names:
        return
    if len(names) == 1:
        ctx.line(f"{names[0]} = {exprs[0]}")
    else:
        ctx.line(f"{', '.join(names)} = {', '.join(exprs)}")


def _store_at(ctx, buf: str, i: str, value, shape) -> None:
    """`buf[i] = value` for a value of `shape`, as explicit loops for arrays.

    A slice assignment from an array makes Numba compile its shape-error path (1-2 s).
    """
    if isinstance(value, Elements):
        store(ctx, buf, [i], value)
        return
    if not shape:
        ctx.line(f"{buf}[{i}] = {value}")
        return
    with ctx.loop(shape) as idx:
        at = ", ".join(idx)
        ctx.line(f"{buf}[{i}, {at}] = {value}[{at}]")


def _carries(ctx, avals, init: list[str]) -> list[str]:
    """Bind the loop's carries. A small one gets a buffer of its own, written element by
    element at the end of each iteration (no allocation per iteration)."""
    carry = [ctx.fresh("carry") for _ in avals]
    _assign(ctx, carry, init)
    for c, a in zip(carry, avals):
        if is_small(a):
            buf = ctx.fresh("buf")
            ctx.line(f"{buf} = {ctx.empty(a.shape, a.dtype)}")
            with ctx.loop(a.shape) as idx:
                at = ", ".join(idx)
                ctx.line(f"{buf}[{at}] = {c}[{at}]")
            ctx.line(f"{c} = {buf}")
    return carry


def _next_carries(ctx, carry: list[str], outs: list) -> None:
    """`carry = outs`, element-wise into the buffers of small carries."""
    whole = [(c, o) for c, o in zip(carry, outs) if not isinstance(o, Elements)]
    for c, o in zip(carry, outs):
        if isinstance(o, Elements):
            store(ctx, c, [], o)
    _assign(ctx, [c for c, _ in whole], [o for _, o in whole])


def _scan_numba(ctx, eqn, args):
    p = eqn.params
    nc, nk, length, reverse = p["num_consts"], p["num_carry"], p["length"], p["reverse"]
    jaxpr = p["jaxpr"]
    consts, carry_in, xs = args[:nc], args[nc:nc + nk], args[nc + nk:]
    carry = _carries(ctx, [v.aval for v in eqn.out_binders[:nk]], carry_in)
    ys = []
    for a in eqn.out_binders[nk:]:
        name = ctx.fresh("ys")
        ctx.line(f"{name} = {ctx.empty(a.aval.shape, a.aval.dtype)}")
        ys.append(name)
    k = ctx.fresh("k")
    i = ctx.fresh("i")
    ctx.line(f"for {k} in range({length}):")
    with ctx.block():
        ctx.line(f"{i} = {length - 1} - {k}" if reverse else f"{i} = {k}")
        x_at = [f"{x}[{i}]" for x in xs]
        with ctx.loop_body():
            outs = ctx.emit_jaxpr(jaxpr, [*consts, *carry, *x_at], elements=True)
        for buf, o, v in zip(ys, outs[nk:], eqn.out_binders[nk:]):
            _store_at(ctx, buf, i, o, v.aval.shape[1:])
        _next_carries(ctx, carry, outs[:nk])
    return [*carry, *ys]


@contextlib.contextmanager
def _while_cond_holds(ctx, cond_jaxpr, cond_args):
    """Emit `while True:` that breaks once `cond_jaxpr` is false; the block is the body."""
    ctx.line("while True:")
    with ctx.block():
        (pred,) = ctx.emit_jaxpr(cond_jaxpr, cond_args)
        ctx.line(f"if not {pred}:")
        with ctx.block():
            ctx.line("break")
        yield


def _while_numba(ctx, eqn, args):
    p = eqn.params
    ncc, nbc = p["cond_nconsts"], p["body_nconsts"]
    cc, bc, init = args[:ncc], args[ncc:ncc + nbc], args[ncc + nbc:]
    carry = _carries(ctx, [v.aval for v in eqn.out_binders], init)
    with _while_cond_holds(ctx, p["cond_jaxpr"], [*cc, *carry]):
        with ctx.loop_body():
            outs = ctx.emit_jaxpr(p["body_jaxpr"], [*bc, *carry], elements=True)
        _next_carries(ctx, carry, outs)
    return carry


def _cond_numba(ctx, eqn, args):
    branches = eqn.params["branches"]
    index, ops = args[0], args[1:]
    outs = [ctx.fresh("out") for _ in eqn.out_binders]
    n = len(branches)
    for b, br in enumerate(branches):
        if b == 0 and n > 1:
            ctx.line(f"if {index} <= 0:")
        elif b < n - 1:
            ctx.line(f"elif {index} == {b}:")
        elif n > 1:
            ctx.line("else:")
        else:
            ctx.line("if True:")
        with ctx.block():
            res = ctx.emit_jaxpr(br, list(ops))
            _assign(ctx, outs, res)
            if not outs:
                ctx.line("pass")
    return outs


def _while_rev_numba(ctx, eqn, args):
    # Re-run the primal loop pushing its carries on growable stacks (capacity doubles),
    # then walk them back with the reverse step: two native loops, no Python per step.
    p = eqn.params
    ncc, nnl = p["num_cc"], p["num_nlc"]
    fwd = p["fwd_jaxpr"]
    n_k = len(fwd.outvars)
    cc, nlc, init, rest_in = args[:ncc], args[ncc:ncc + nnl], args[ncc + nnl:ncc + nnl + n_k], \
        args[ncc + nnl + n_k:]
    carry = [ctx.fresh("carry") for _ in init]
    _assign(ctx, carry, init)
    cap, n = ctx.fresh("cap"), ctx.fresh("n")
    ctx.line(f"{cap} = 16")
    ctx.line(f"{n} = 0")
    avals = [v.aval for v in fwd.outvars]
    stacks = [ctx.fresh("stack") for _ in avals]

    def alloc(size: str, a) -> str:
        dims = ", ".join([size, *[str(int(d)) for d in a.shape]])
        return f"np.empty(({dims},), {ctx.dtype(a.dtype)})"

    for st, a in zip(stacks, avals):
        ctx.line(f"{st} = {alloc(cap, a)}")
    with _while_cond_holds(ctx, p["cond_jaxpr"], [*cc, *carry]):
        ctx.line(f"if {n} == {cap}:")
        with ctx.block():
            ctx.line(f"{cap} = 2 * {cap}")
            for st, a in zip(stacks, avals):
                grown = ctx.fresh("grown")
                ctx.line(f"{grown} = {alloc(cap, a)}")
                with ctx.loop((n, *a.shape)) as idx:
                    ctx.line(f"{grown}[{', '.join(idx)}] = {st}[{', '.join(idx)}]")
                ctx.line(f"{st} = {grown}")
        for st, c, a in zip(stacks, carry, avals):
            _store_at(ctx, st, n, c, a.shape)
        ctx.line(f"{n} += 1")
        _assign(ctx, carry, ctx.emit_jaxpr(fwd, [*nlc, *carry]))
    rest = [ctx.fresh("ct") for _ in rest_in]
    _assign(ctx, rest, rest_in)
    j = ctx.fresh("j")
    ctx.line(f"for {j} in range({n} - 1, -1, -1):")
    with ctx.block():
        c_j = [f"{st}[{j}]" for st in stacks]
        _assign(ctx, rest, ctx.emit_jaxpr(p["bwd_jaxpr"], [*nlc, *c_j, *rest]))
    return rest


def _inline_numba(ctx, eqn, args):
    return ctx.emit_jaxpr(eqn.params["jaxpr"], args)


_inline_numba.emits_body_only = True     # see codegen: its loop nests become kernels


lowering_rules[scan_p] = _scan_numba
lowering_rules[while_p] = _while_numba
lowering_rules[cond_p] = _cond_numba
lowering_rules[while_rev_p] = _while_rev_numba


def register_call_like(prim) -> None:
    """Lower a call-like primitive (checkpoint, custom_jvp/vjp calls) by emitting its body."""
    lowering_rules[prim] = _inline_numba


def _register_optional():
    from funcad._checkpoint import checkpoint_p
    register_call_like(checkpoint_p)
    try:
        from funcad import _custom_derivatives as cd
    except ImportError:  # pragma: no cover
        return
    for rule in getattr(cd, "lowering_rules_for", lambda: [])():
        lowering_rules[rule[0]] = rule[1]


_register_optional()
