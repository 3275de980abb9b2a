"""Numba lowering of control flow: each loop is one native loop in the generated source.

(In a split program a `scan` or `while` whose body calls back to the host, or whose
native loop would be a very large kernel, runs instead as a Python loop in the driver,
`_scan_driver`/`_while_driver`: see codegen's `_driver_loop_reason`.)

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
    if _by_example(ctx, jaxpr):
        return _scan_by_example(ctx, eqn, args)
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


def _unrolls(jaxpr) -> bool:
    """True when every value `jaxpr` makes inside a loop body is a scalar or small
    (so it becomes scalar code: see unroll.py) and no equation is a loop or call."""
    from funcad.lowering.numba.codegen import _LOOP_CALL_NAMES, _kind, inline_calls
    from funcad.lowering.numba.unroll import _STATEMENTS
    for e in inline_calls(jaxpr, _LOOP_CALL_NAMES).eqns:
        if any(v.aval.ndim and not is_small(v.aval) for v in e.out_binders):
            return False
        rule = lowering_rules.get(e.primitive)
        if _kind(rule) == "stmt" and e.primitive.name not in _STATEMENTS:
            return False
    return all(a.ndim == 0 or is_small(a) for a in jaxpr.in_avals)


#: Interpreted code (FUNCAD_DISABLE_JIT=1) keeps NumPy's batched steps, which are faster
#: there; tests set this to run the by-example lowering as Python as well.
BY_EXAMPLE_INTERPRETED = False


def _by_example(ctx, body) -> bool:
    """Lower a batched scan as a loop over examples of the unbatched scan?

    `vmap` of a scan whose per-example state is small (an ODE's state vector) batches
    every step over the examples: arrays of batch x state, allocated per step. Run per
    example, the same scan is scalar code (unroll.py), 2-3x faster per example and linear
    in the batch size. The unbatched body is known when the batched one came from
    `batch_jaxpr` (`Jaxpr.batched_from`).
    """
    origin = body.batched_from
    return (origin is not None and (BY_EXAMPLE_INTERPRETED or not ctx.interpreted)
            and origin[1] >= 2
            and _unrolls(origin[0]))


def _scan_by_example(ctx, eqn, args):
    # Steps outside, examples inside: each example's step is scalar code reading its
    # carries from row b of a (batch, ...) buffer, and the stacked outputs are written in
    # the batched layout (steps, batch, ...) row after row. Unbatched carries get a row
    # per example too (all rows equal), so examples never share a buffer.
    p = eqn.params
    nc, nk, length, reverse = p["num_consts"], p["num_carry"], p["length"], p["reverse"]
    body, size, in_b, out_b = p["jaxpr"].batched_from
    consts, carry_in, xs = args[:nc], args[nc:nc + nk], args[nc + nk:]
    const_b, carry_b, xs_b = in_b[:nc], in_b[nc:nc + nk], in_b[nc + nk:]
    carry_avals = body.out_avals[:nk]
    b, k, i = ctx.fresh("b"), ctx.fresh("k"), ctx.fresh("i")
    rows = []
    for c, a, bb in zip(carry_in, carry_avals, carry_b):
        buf = ctx.fresh("rows")
        ctx.line(f"{buf} = {ctx.empty((size, *a.shape), a.dtype)}")
        ctx.line(f"for {b} in range({size}):")
        with ctx.block():
            src = f"{c}[{b}]" if bb else c
            if a.ndim:
                with ctx.loop(a.shape) as idx:
                    at = ", ".join(idx)
                    ctx.line(f"{buf}[{b}, {at}] = {src}[{at}]")
            else:
                ctx.line(f"{buf}[{b}] = {src}")
        rows.append(buf)
    ys = []
    for v in eqn.out_binders[nk:]:
        name = ctx.fresh("ys")
        ctx.line(f"{name} = {ctx.empty(v.aval.shape, v.aval.dtype)}")
        ys.append(name)
    ctx.line(f"for {k} in range({length}):")
    with ctx.block():
        ctx.line(f"{i} = {length - 1} - {k}" if reverse else f"{i} = {k}")
        ctx.line(f"for {b} in range({size}):")
        with ctx.block():
            cs = [f"{c}[{b}]" if bb else c for c, bb in zip(consts, const_b)]
            carry = [f"{r}[{b}]" for r in rows]
            x_at = [f"{x}[{i}, {b}]" if bb else f"{x}[{i}]" for x, bb in zip(xs, xs_b)]
            with ctx.loop_body():
                res = ctx.emit_jaxpr(body, [*cs, *carry, *x_at], elements=True)
            new = []
            for o in res[:nk]:             # bound before any row is overwritten
                if isinstance(o, Elements):
                    new.append(o)
                else:
                    t = ctx.fresh("new")
                    ctx.line(f"{t} = {o}")
                    new.append(t)
            for buf, o, a, bb in zip(ys, res[nk:], body.out_avals[nk:], out_b[nk:]):
                _store_at(ctx, buf, f"{i}, {b}" if bb else i, o, a.shape)
            for r, o, a in zip(rows, new, carry_avals):
                _store_at(ctx, r, b, o, a.shape)
    outs = []
    for r, a, bb in zip(rows, carry_avals, out_b[:nk]):
        if bb:
            outs.append(r)
        else:                              # every row holds it: take row 0
            name = ctx.fresh("carry")
            ctx.line(f"{name} = {r}[0]" if size else f"{name} = {carry_in[len(outs)]}")
            outs.append(name)
    return [*outs, *ys]


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


def _scan_driver(ctx, eqn, args):
    """A scan as a Python `for` loop in the driver: its body's loop nests are kernels."""
    p = eqn.params
    nc, nk, length, reverse = p["num_consts"], p["num_carry"], p["length"], p["reverse"]
    consts, carry_in, xs = args[:nc], args[nc:nc + nk], args[nc + nk:]
    carry = _driver_carries(ctx, eqn.out_binders[:nk], carry_in)
    ys = []
    for a in eqn.out_binders[nk:]:
        name = ctx.fresh("ys")
        ctx.line(f"{name} = {ctx.empty(a.aval.shape, a.aval.dtype)}")
        ctx.note(name, a.aval)
        ys.append(name)
    k = ctx.fresh("k")
    i = ctx.fresh("i")
    x_avals = [v.aval for v in p["jaxpr"].invars[nc + nk:]]
    ctx.line(f"for {k} in range({length}):")
    with ctx.block():
        ctx.line(f"{i} = {length - 1} - {k}" if reverse else f"{i} = {k}")
        x_at = []
        for x, a in zip(xs, x_avals):
            name = ctx.fresh("x")
            ctx.line(f"{name} = {x}[{i}]")     # a C-contiguous row (or a NumPy scalar)
            ctx.note(name, a)
            x_at.append(name)
        ctx.driver_loops += 1
        try:
            outs = ctx.emit_jaxpr(p["jaxpr"], [*consts, *carry, *x_at])
        finally:
            ctx.driver_loops -= 1
        for buf, o in zip(ys, outs[nk:]):
            ctx.line(f"{buf}[{i}] = {o}")
        _assign(ctx, carry, outs[:nk])
    return [*carry, *ys]


def _driver_carries(ctx, binders, init: list[str]) -> list[str]:
    carry = [ctx.fresh("carry") for _ in binders]
    _assign(ctx, carry, init)
    for c, v in zip(carry, binders):
        ctx.note(c, v.aval)
    return carry


def _while_driver(ctx, eqn, args):
    """A while loop as a Python loop in the driver: its body's loop nests are kernels."""
    p = eqn.params
    ncc, nbc = p["cond_nconsts"], p["body_nconsts"]
    cc, bc, init = args[:ncc], args[ncc:ncc + nbc], args[ncc + nbc:]
    carry = _driver_carries(ctx, eqn.out_binders, init)
    ctx.driver_loops += 1
    try:
        with _while_cond_holds(ctx, p["cond_jaxpr"], [*cc, *carry]):
            _assign(ctx, carry, ctx.emit_jaxpr(p["body_jaxpr"], [*bc, *carry]))
    finally:
        ctx.driver_loops -= 1
    return carry


_scan_numba.driver_loop = _scan_driver       # see codegen: loops run by the Python driver
_while_numba.driver_loop = _while_driver

# A scan runs `length` steps, typically thousands (an ODE integrator): as a Python loop in
# the driver each step pays its kernels' calls (512 gradients of a 2000-step RK4 on 16
# states: 48 s, against 0.26 s native), while compiling its native loop is paid once. So a
# scan goes to the driver only when that native loop would take Numba minutes. (A while
# loop, a rejection sampler's, runs a few iterations: the driver from 300 lines.)
_scan_numba.driver_loop_lines = 4000


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


def _cond_driver(ctx, eqn, args):
    """A cond whose branches call back to the host: an if/elif/else in the driver."""
    outs = _cond_numba(ctx, eqn, args)
    for o, v in zip(outs, eqn.out_binders):
        ctx.note(o, v.aval)
    return outs


_cond_numba.driver_loop = _cond_driver


def _while_rev_args(eqn, args) -> tuple:
    """while_rev's operands: (cond consts, loop consts, initial carry, cotangents in)."""
    p = eqn.params
    ncc, nnl, n_k = p["num_cc"], p["num_nlc"], len(p["fwd_jaxpr"].outvars)
    return (args[:ncc], args[ncc:ncc + nnl], args[ncc + nnl:ncc + nnl + n_k],
            args[ncc + nnl + n_k:])


def _while_rev_numba(ctx, eqn, args):
    # Re-run the primal loop pushing its carries on growable stacks (capacity doubles),
    # then walk them back with the reverse step: two native loops, no Python per step.
    p = eqn.params
    fwd = p["fwd_jaxpr"]
    cc, nlc, init, rest_in = _while_rev_args(eqn, args)
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


def _while_rev_driver(ctx, eqn, args):
    """while_rev as two Python loops in the driver (its programs call back to the host:
    a pure_callback that the primal loop's recomputation needs): the primal carries go on
    a list, then the reverse steps walk it back; the bodies' loop nests are kernels."""
    p = eqn.params
    fwd = p["fwd_jaxpr"]
    cc, nlc, init, rest_in = _while_rev_args(eqn, args)
    avals = [v.aval for v in fwd.outvars]
    carry = [ctx.fresh("carry") for _ in init]
    _assign(ctx, carry, init)
    for c, a in zip(carry, avals):
        ctx.note(c, a)
    stack = ctx.fresh("stack")
    ctx.line(f"{stack} = []")
    ctx.driver_loops += 1
    try:
        with _while_cond_holds(ctx, p["cond_jaxpr"], [*cc, *carry]):
            ctx.line(f"{stack}.append(({''.join(c + ', ' for c in carry)}))")
            _assign(ctx, carry, ctx.emit_jaxpr(fwd, [*nlc, *carry]))
        rest = [ctx.fresh("ct") for _ in rest_in]
        _assign(ctx, rest, rest_in)
        for r, v in zip(rest, eqn.out_binders):
            ctx.note(r, v.aval)
        j = ctx.fresh("j")
        c_j = [ctx.fresh("carry") for _ in avals]
        ctx.line(f"for {j} in range(len({stack}) - 1, -1, -1):")
        with ctx.block():
            if c_j:
                ctx.line(f"{''.join(c + ', ' for c in c_j)}= {stack}[{j}]")
            for c, a in zip(c_j, avals):
                ctx.note(c, a)
            _assign(ctx, rest, ctx.emit_jaxpr(p["bwd_jaxpr"], [*nlc, *c_j, *rest]))
            if not rest:
                ctx.line("pass")
    finally:
        ctx.driver_loops -= 1
    return rest


_while_rev_numba.driver_loop = _while_rev_driver   # only when it calls back (see codegen)
_while_rev_numba.driver_loop_lines = float("inf")  # (large ones stay native loops)


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
