"""Control flow as higher-order primitives: scan, while and cond.

Each primitive keeps its body (or branches) as constvar-free jaxprs in its params and has
impl, shape, jvp, partial-evaluation (trace- and jaxpr-level), transpose, batching and
printing rules, so every transform composes with loops and conditionals.

Layouts (operands of the equations):
  scan:  consts, carry, xs          -> carry, ys        body: consts, carry, x -> carry, y
  while: cond_consts, body_consts, carry -> carry       cond: cond_consts, carry -> bool[]
  cond:  index, operands            -> outputs          branches[i]: operands -> outputs

Reverse mode through `while` (which JAX refuses), two strategies:
* the known values are concrete (eager, also under vmap or nested differentiation): the
  trip count is computed by running the primal loop and the loop is linearized as a
  `scan` of that many steps (residuals stacked per step, O(n x residuals) memory; use
  `checkpoint` on the body to store only the carries). Any derivative order works.
* the trip count is unknown at trace time (jit): the linear program holds the whole loop
  (primal and tangent carries) and its transpose `while_rev` re-runs the primal loop
  pushing each carry on a growable stack, then runs the reverse loop (O(n x carry)
  memory). `while_rev` has jvp, transpose and batching rules, so hessians and
  reverse-over-reverse work under jit too.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from funcad import _core
from funcad._core import (
    ShapedArray,
    Tracer,
    abstract_eval_rules,
    batch_rules,
    eval_context,
    get_aval,
    impl_rules,
    jvp_rules,
    partial_eval_jaxpr_rules,
    partial_eval_rules,
    pp_rules,
    transpose_rules,
)
from funcad._ir import ClosedJaxpr, Jaxpr, JaxprEqn, Literal, Var, eval_jaxpr
from funcad.interpreters.ad import (
    JVPTracer,
    Zero,
    _close_over_consts,
    instantiate,
    is_undefined,
    jvp_jaxpr,
    tangent_aval,
    transpose_jaxpr,
)
from funcad.interpreters.batching import BatchTracer, batch_jaxpr, moveaxis
from funcad.interpreters.partial_eval import (
    JaxprTracer,
    _prune,
    partial_eval_jaxpr,
    trace_to_jaxpr_flat,
)
from funcad._callback import without_debug_callbacks
from funcad.primitives._util import new_primitive
from funcad.primitives.call import memoized

# ----------------------------------------------------------------------------------
# Jaxpr helpers


def trace_jaxpr(fun: Callable, in_avals: Sequence[ShapedArray]) -> Jaxpr:
    """Trace a function of flat values into a constvar-free jaxpr (constants inlined)."""
    jaxpr, consts = trace_to_jaxpr_flat(fun, list(in_avals))
    return _close_over_consts(jaxpr, consts)


def permute(jaxpr: Jaxpr, in_order: Sequence[int] | None = None,
            out_order: Sequence[int] | None = None) -> Jaxpr:
    """The same program with its inputs and/or outputs reordered."""
    ins = jaxpr.invars if in_order is None else tuple(jaxpr.invars[i] for i in in_order)
    outs = jaxpr.outvars if out_order is None else tuple(jaxpr.outvars[i] for i in out_order)
    return Jaxpr((), ins, jaxpr.eqns, outs)


def _split(xs: Sequence, *sizes: int) -> list[list]:
    out, start = [], 0
    for n in sizes:
        out.append(list(xs[start:start + n]))
        start += n
    out.append(list(xs[start:]))
    return out


def _zero_from_aval(aval: ShapedArray) -> Any:
    return instantiate(Zero(aval))


def _stacked(aval: ShapedArray, n: int) -> ShapedArray:
    return ShapedArray((n, *aval.shape), aval.dtype, aval.weak_type)


def _unstacked(aval: ShapedArray) -> ShapedArray:
    return ShapedArray(aval.shape[1:], aval.dtype, aval.weak_type)


def _check_avals(what: str, expected: Sequence[ShapedArray], got: Sequence[ShapedArray]):
    if len(expected) != len(got):
        raise TypeError(f"{what}: expected {len(expected)} operands, got {len(got)}")
    for i, (e, g) in enumerate(zip(expected, got)):
        if not e.same_type(g):
            raise TypeError(f"{what}: operand {i} has type {g.str_short()}, the body expects "
                            f"{e.str_short()}")


def _pp_with(*names: str):
    def rule(eqn: JaxprEqn):
        params = {k: v for k, v in eqn.params.items() if k not in names}
        return params, {k: eqn.params[k] for k in names}
    return rule


# ----------------------------------------------------------------------------------
# scan

scan_p = new_primitive("scan", multiple_results=True)
_core.typed_by_program.add(scan_p)


def _scan_impl(*args, jaxpr, num_consts, num_carry, length, reverse):
    consts, carry, xs = _split(args, num_consts, num_carry)
    y_avals = jaxpr.out_avals[num_carry:]
    ys = [np.empty((length, *a.shape), a.dtype) for a in y_avals]
    with eval_context():
        for k in range(length):
            i = length - 1 - k if reverse else k
            outs = eval_jaxpr(jaxpr, (), [*consts, *carry, *[x[i] for x in xs]])
            carry = outs[:num_carry]
            for buf, y in zip(ys, outs[num_carry:]):
                buf[i] = y
    return [*[np.asarray(c) for c in carry], *ys]


def _scan_abstract_eval(*avals, jaxpr, num_consts, num_carry, length, reverse):
    consts, carry, xs = _split(avals, num_consts, num_carry)
    for x in xs:
        if not x.shape or x.shape[0] != length:
            raise TypeError(f"scan: an xs operand of type {x.str_short()} does not have "
                            f"leading length {length}")
    _check_avals("scan", jaxpr.in_avals, [*consts, *carry, *[_unstacked(x) for x in xs]])
    outs = jaxpr.out_avals
    return [*outs[:num_carry], *[_stacked(a, length) for a in outs[num_carry:]]]


#: A scan body whose every value has at most this many elements is recomputed in the
#: reverse pass rather than stored (see `_recomputed_body`).
RECOMPUTE_MAX = 16


def _small_body(jaxpr: Jaxpr) -> bool:
    """Every input, output and intermediate of `jaxpr` has at most RECOMPUTE_MAX elements,
    and no equation holds a program of its own (a loop, a call) or a side effect."""
    from funcad._callback import has_effect
    if not jaxpr.eqns or any(a.size > RECOMPUTE_MAX for a in jaxpr.in_avals):
        return False
    for e in jaxpr.eqns:
        if any(v.aval.size > RECOMPUTE_MAX for v in e.out_binders) or has_effect(e):
            return False
        for v in e.params.values():
            if isinstance(v, (Jaxpr, ClosedJaxpr)) or (
                    isinstance(v, (tuple, list)) and v and isinstance(v[0], (Jaxpr, ClosedJaxpr))):
                return False
    return True


def _recomputed_body(jaxpr: Jaxpr) -> Jaxpr:
    """`jaxpr` itself, or, for a body of small values (an ODE step on a state vector), the
    body as one `checkpoint`: reverse mode then stores each step's inputs (the carry)
    and recomputes the step, instead of storing every intermediate (76 numbers a step
    for RK4 on 16 states, against 16). The recomputation is a few dozen scalar operations
    per step in compiled code, cheaper than writing and reading the stored values back,
    and memory drops with the number of intermediates (tests/test_unroll.py)."""
    def make():
        if not _small_body(jaxpr):
            return jaxpr
        from funcad._checkpoint import checkpoint_p
        return trace_jaxpr(lambda *a: checkpoint_p.bind(*a, jaxpr=jaxpr, policy="nothing"),
                           jaxpr.in_avals)
    return memoized("scan_recompute", jaxpr, (), make)


def _scan_jvp(primals, tangents, *, jaxpr, num_consts, num_carry, length, reverse):
    jaxpr = _recomputed_body(jaxpr)
    nc, nk = num_consts, num_carry
    nx = len(primals) - nc - nk
    ny = len(jaxpr.outvars) - nk
    nz = [type(t) is not Zero for t in tangents]
    const_nz, carry_nz, xs_nz = _split(nz, nc, nk)
    for _ in range(nk + 1):
        key = (tuple(const_nz), tuple(carry_nz), tuple(xs_nz))
        jj, out_nz = memoized("scan_jvp", jaxpr, key, lambda: jvp_jaxpr(
            jaxpr, const_nz + carry_nz + xs_nz, carry_nz + [False] * ny))
        new = [a or b for a, b in zip(carry_nz, out_nz[:nk])]
        if new == carry_nz:
            break
        carry_nz = new
    ys_nz = out_nz[nk:]
    # jvp_jaxpr's layout is (primals, nonzero tangents); scan wants each group together.
    n_in = nc + nk + nx
    idx = iter(range(n_in, n_in + sum(const_nz) + sum(carry_nz) + sum(xs_nz)))
    t_idx = [next(idx) if z else None for z in const_nz + carry_nz + xs_nz]
    tc, tk, tx = _split(t_idx, nc, nk)
    in_order = [*range(nc), *[i for i in tc if i is not None],
                *range(nc, nc + nk), *[i for i in tk if i is not None],
                *range(nc + nk, n_in), *[i for i in tx if i is not None]]
    n_tk, n_ty = sum(carry_nz), sum(ys_nz)
    n_out = nk + ny
    out_order = [*range(nk), *range(n_out, n_out + n_tk), *range(nk, n_out),
                 *range(n_out + n_tk, n_out + n_tk + n_ty)]
    body = permute(jj, in_order, out_order)
    consts, carry, xs = _split(primals, nc, nk)
    t_consts, t_carry, t_xs = _split(tangents, nc, nk)
    args = [*consts, *[t for t in t_consts if type(t) is not Zero],
            *carry, *[instantiate(t) for t, z in zip(t_carry, carry_nz) if z],
            *xs, *[t for t in t_xs if type(t) is not Zero]]
    outs = scan_p.bind(*args, jaxpr=body, num_consts=nc + sum(const_nz),
                       num_carry=nk + n_tk, length=length, reverse=reverse)
    c_out, tc_out, y_out, ty_out = _split(outs, nk, n_tk, ny)
    tc_it, ty_it = iter(tc_out), iter(ty_out)
    avals = _scan_abstract_eval(*[get_aval(p) for p in primals], jaxpr=jaxpr, num_consts=nc,
                                num_carry=nk, length=length, reverse=reverse)
    t_all = [next(tc_it) if z else Zero(tangent_aval(a))
             for z, a in zip(carry_nz, avals[:nk])]
    t_all += [next(ty_it) if z else Zero(tangent_aval(a)) for z, a in zip(ys_nz, avals[nk:])]
    return [*c_out, *y_out], t_all


class _ScanSplit:
    """How a scan splits into a known scan and an unknown scan (see `_scan_split`)."""

    __slots__ = ("carry_uk", "out_uk", "jaxpr_known", "jaxpr_unknown", "res_src",
                 "num_consts_u", "num_carry_u", "num_stacked", "known_in")


def _scan_split(jaxpr, nc, nk, unknowns) -> _ScanSplit:
    """Partially evaluate a scan body; residuals are stacked over iterations.

    Residuals that are known consts or known xs of the scan are forwarded instead of
    being stacked again.
    """
    ny = len(jaxpr.outvars) - nk
    const_uk, carry_uk, xs_uk = _split(list(unknowns), nc, nk)
    for _ in range(nk + 1):
        jk, ju, out_uk, nres = partial_eval_jaxpr(jaxpr, const_uk + carry_uk + xs_uk,
                                                  carry_uk + [False] * ny)
        new = [a or b for a, b in zip(carry_uk, out_uk[:nk])]
        if new == carry_uk:
            break
        carry_uk = new
    jk, ju, nres = _remat_broadcasts(jk, ju, nres)
    unk = const_uk + carry_uk + xs_uk
    known_in = [i for i, u in enumerate(unk) if not u]
    pos_of_invar = {v: known_in[j] for j, v in enumerate(jk.invars)}
    n_known_out = len(jk.outvars) - nres
    res_atoms = jk.outvars[n_known_out:]
    res_src = []  # ("in", index into scan operands) or ("stack", j)
    stacked = []
    for r in res_atoms:
        pos = pos_of_invar.get(r)
        if pos is not None and (pos < nc or pos >= nc + nk):
            res_src.append(("in", pos))
        else:
            res_src.append(("stack", len(stacked)))
            stacked.append(r)
    jk_outs = (*jk.outvars[:n_known_out], *stacked)
    jk = Jaxpr((), jk.invars, tuple(_prune(list(jk.eqns), jk_outs)), jk_outs)
    # Unknown body: [const-like residuals, unknown consts | unknown carry |
    #                stacked residuals, xs-like residuals, unknown xs].
    res_vars, u_ins = ju.invars[:nres], ju.invars[nres:]
    uc, uk, ux = _split(u_ins, sum(const_uk), sum(carry_uk))
    res_const = [v for v, (kind, p) in zip(res_vars, res_src) if kind == "in" and p < nc]
    res_stack = [v for v, (kind, _) in zip(res_vars, res_src) if kind == "stack"]
    res_xs = [v for v, (kind, p) in zip(res_vars, res_src) if kind == "in" and p >= nc]
    ju = Jaxpr((), (*res_const, *uc, *uk, *res_stack, *res_xs, *ux), ju.eqns, ju.outvars)
    s = _ScanSplit()
    s.carry_uk, s.out_uk = carry_uk, out_uk
    s.jaxpr_known, s.jaxpr_unknown, s.res_src = jk, ju, res_src
    s.num_consts_u = len(res_const) + len(uc)
    s.num_carry_u = len(uk)
    s.num_stacked = len(stacked)
    s.known_in = known_in
    return s


_CHEAP = ("broadcast_in_dim",)


def _remat_broadcasts(jk: Jaxpr, ju: Jaxpr, nres: int):
    """Residuals that are broadcasts are recomputed in the unknown body from their operand.

    A scan would otherwise stack e.g. a scalar weight broadcast to the carry's shape at
    every step; the operand is often a scanned input, which is then not stacked at all.
    """
    n_known_out = len(jk.outvars) - nres
    producers = {v: e for e in jk.eqns for v in e.out_binders}
    res_k, res_u = jk.outvars[n_known_out:], ju.invars[:nres]
    keep_k, keep_u, pre = [], [], []
    seen: dict = {}

    def add(a_k, a_u):
        if a_k in seen:
            return seen[a_k]
        seen[a_k] = a_u
        keep_k.append(a_k)
        keep_u.append(a_u)
        return a_u

    changed = False
    for r, ru in zip(res_k, res_u):
        e = producers.get(r) if type(r) is Var else None
        if e is not None and e.primitive.name in _CHEAP:
            a = e.inputs[0]
            a_u = a if type(a) is Literal else add(a, Var(a.aval))
            pre.append(JaxprEqn(e.primitive, (a_u,), e.params, (ru,)))
            changed = True
        else:
            got = add(r, ru)
            if got is not ru:  # the same residual twice: alias it
                changed = True
                from funcad.primitives.structural import broadcast_in_dim_p
                pre.append(JaxprEqn(broadcast_in_dim_p, (got,), dict(
                    shape=ru.aval.shape, broadcast_dimensions=tuple(range(ru.aval.ndim))),
                    (ru,)))
    if not changed:
        return jk, ju, nres
    outs = (*jk.outvars[:n_known_out], *keep_k)
    jk = Jaxpr((), jk.invars, tuple(_prune(list(jk.eqns), outs)), outs)
    ju = Jaxpr((), (*keep_u, *ju.invars[nres:]), (*pre, *ju.eqns), ju.outvars)
    return jk, ju, len(keep_k)


def _scan_known_params(s: _ScanSplit, nc, nk, length, reverse):
    unk = [True] * (nc + nk)
    for i in s.known_in:
        if i < nc + nk:
            unk[i] = False
    return dict(jaxpr=s.jaxpr_known, num_consts=sum(not u for u in unk[:nc]),
                num_carry=sum(not u for u in unk[nc:]), length=length, reverse=reverse)


def _scan_unknown_inputs(s: _ScanSplit, nc, nk, ins: list, stacked: list) -> list:
    """Operands of the unknown scan from the outer operands and the stacked residuals."""
    unk = [True] * len(ins)
    for i in s.known_in:
        unk[i] = False
    const_uk = unk[:nc]
    res_const = [ins[p] for kind, p in s.res_src if kind == "in" and p < nc]
    res_xs = [ins[p] for kind, p in s.res_src if kind == "in" and p >= nc]
    uc = [a for a, u in zip(ins[:nc], const_uk) if u]
    uk = [a for a, u in zip(ins[nc:nc + nk], s.carry_uk) if u]
    ux = [a for a, u in zip(ins[nc + nk:], unk[nc + nk:]) if u]
    return [*res_const, *uc, *uk, *stacked, *res_xs, *ux]


def _scan_partial_eval(trace, tracers, *, jaxpr, num_consts, num_carry, length, reverse):
    builder = trace.builder
    nc, nk = num_consts, num_carry
    unknowns = tuple(not builder.is_known(t) for t in tracers)
    s = memoized("scan_pe", jaxpr, (nc, nk, unknowns),
                 lambda: _scan_split(jaxpr, nc, nk, unknowns))
    known_vals = [builder.known_value(tracers[i]) for i in s.known_in]
    known_outs = scan_p.bind(*known_vals, **_scan_known_params(s, nc, nk, length, reverse))
    n_known = len(known_outs) - s.num_stacked
    stacked = [trace.pure(r) for r in known_outs[n_known:]]
    u_args = _scan_unknown_inputs(s, nc, nk, list(tracers), stacked)
    u_outs = trace.default_process_primitive(scan_p, u_args, dict(
        jaxpr=s.jaxpr_unknown, num_consts=s.num_consts_u, num_carry=s.num_carry_u,
        length=length, reverse=reverse))
    k_it, u_it = iter(known_outs[:n_known]), iter(u_outs)
    return [next(u_it) if u else next(k_it) for u in s.out_uk]


def _scan_partial_eval_jaxpr(eqn: JaxprEqn, unks_in):
    p = eqn.params
    nc, nk, length, reverse = p["num_consts"], p["num_carry"], p["length"], p["reverse"]
    s = _scan_split(p["jaxpr"], nc, nk, unks_in)
    ins = list(eqn.inputs)
    n_known_out = len(s.jaxpr_known.outvars) - s.num_stacked
    stacked = [Var(_stacked(a, length)) for a in s.jaxpr_known.out_avals[n_known_out:]]
    known_outs = [v for v, u in zip(eqn.out_binders, s.out_uk) if not u]
    unk_outs = [v for v, u in zip(eqn.out_binders, s.out_uk) if u]
    eqn_k = JaxprEqn(scan_p, tuple(ins[i] for i in s.known_in),
                     _scan_known_params(s, nc, nk, length, reverse), (*known_outs, *stacked))
    u_args = _scan_unknown_inputs(s, nc, nk, ins, stacked)
    eqn_u = JaxprEqn(scan_p, tuple(u_args), dict(
        jaxpr=s.jaxpr_unknown, num_consts=s.num_consts_u, num_carry=s.num_carry_u,
        length=length, reverse=reverse), tuple(unk_outs))
    # Known operands the unknown scan reads are residuals of the outer program too.
    uk_set = {i for i, u in enumerate(unks_in) if u}
    res = list(stacked)
    for a in u_args:
        if type(a) is Var and a not in res and a not in {ins[i] for i in uk_set}:
            res.append(a)
    return eqn_k, eqn_u, s.out_uk, res


def _scan_transpose(cts, *args, jaxpr, num_consts, num_carry, length, reverse):
    nc, nk = num_consts, num_carry
    consts, carry, xs = _split(args, nc, nk)
    const_lin = [is_undefined(a) for a in consts]
    xs_lin = [is_undefined(a) for a in xs]
    lin = tuple(const_lin + [True] * nk + xs_lin)
    ny = len(jaxpr.outvars) - nk
    t_body = memoized("scan_transpose", jaxpr, lin, lambda: _scan_transpose_body(
        jaxpr, nc, nk, const_lin, xs_lin))
    nl_consts = [a for a, l_ in zip(consts, const_lin) if not l_]
    nl_xs = [a for a, l_ in zip(xs, xs_lin) if not l_]
    acc = [_zero_from_aval(a.aval) for a, l_ in zip(consts, const_lin) if l_]
    ct_carry = [instantiate(c) for c in cts[:nk]]
    ct_ys = [instantiate(c) for c in cts[nk:]]
    del ny
    outs = scan_p.bind(*nl_consts, *acc, *ct_carry, *nl_xs, *ct_ys, jaxpr=t_body,
                       num_consts=len(nl_consts), num_carry=len(acc) + nk, length=length,
                       reverse=not reverse)
    ct_consts, ct_init, ct_xs = _split(outs, len(acc), nk)
    c_it, x_it = iter(ct_consts), iter(ct_xs)
    return ([next(c_it) if l_ else None for l_ in const_lin] + ct_init
            + [next(x_it) if l_ else None for l_ in xs_lin])


def _scan_transpose_body(jaxpr, nc, nk, const_lin, xs_lin) -> Jaxpr:
    lin = const_lin + [True] * nk + xs_lin
    t = transpose_jaxpr(jaxpr, lin)
    consts_av, carry_av, xs_av = _split(jaxpr.in_avals, nc, nk)
    nl_c = [a for a, l_ in zip(consts_av, const_lin) if not l_]
    l_c = [a for a, l_ in zip(consts_av, const_lin) if l_]
    nl_x = [a for a, l_ in zip(xs_av, xs_lin) if not l_]
    y_av = jaxpr.out_avals[nk:]
    carry_out_av = jaxpr.out_avals[:nk]

    def body(*a):
        nlc, acc, ctc, nlx, cty = _split(a, len(nl_c), len(l_c), nk, len(nl_x))
        outs = eval_jaxpr(t, (), [*nlc, *nlx, *ctc, *cty])
        ct_lc, ct_carry, ct_lx = _split(outs, len(l_c), nk)
        from funcad.primitives.elementwise import add_p
        return [*[add_p.bind(x, y) for x, y in zip(acc, ct_lc)], *ct_carry, *ct_lx]

    return trace_jaxpr(body, [*nl_c, *l_c, *carry_out_av, *nl_x, *y_av])


def _scan_batch(size, vals, dims, *, jaxpr, num_consts, num_carry, length, reverse):
    nc, nk = num_consts, num_carry
    ny = len(jaxpr.outvars) - nk
    b = [d is not None for d in dims]
    const_b, carry_b, xs_b = _split(b, nc, nk)
    for _ in range(nk + 1):
        key = (size, tuple(const_b), tuple(carry_b), tuple(xs_b))
        bj, out_b = memoized("scan_batch", jaxpr, key, lambda: batch_jaxpr(
            jaxpr, size, const_b + carry_b + xs_b, carry_b + [False] * ny))
        new = [x or y for x, y in zip(carry_b, out_b[:nk])]
        if new == carry_b:
            break
        carry_b = new
    consts, carry, xs = _split(vals, nc, nk)
    cd, kd, xd = _split(dims, nc, nk)
    consts = [moveaxis(v, d, 0, size) if d is not None else v for v, d in zip(consts, cd)]
    carry = [moveaxis(v, d, 0, size) if bb else v for v, d, bb in zip(carry, kd, carry_b)]
    xs = [moveaxis(v, d, 1, size) if d is not None else v for v, d in zip(xs, xd)]
    outs = scan_p.bind(*consts, *carry, *xs, jaxpr=bj, num_consts=nc, num_carry=nk,
                       length=length, reverse=reverse)
    return outs, [0 if bb else None for bb in carry_b] + [1 if bb else None
                                                          for bb in out_b[nk:]]


impl_rules[scan_p] = _scan_impl
abstract_eval_rules[scan_p] = _scan_abstract_eval
jvp_rules[scan_p] = _scan_jvp
partial_eval_rules[scan_p] = _scan_partial_eval
partial_eval_jaxpr_rules[scan_p] = _scan_partial_eval_jaxpr
transpose_rules[scan_p] = _scan_transpose
batch_rules[scan_p] = _scan_batch
pp_rules[scan_p] = _pp_with("jaxpr")


# ----------------------------------------------------------------------------------
# cond (n-way: index selects a branch)

cond_p = new_primitive("cond", multiple_results=True)
_core.typed_by_program.add(cond_p)


def _cond_impl(index, *ops, branches):
    i = int(np.clip(index, 0, len(branches) - 1))
    with eval_context():
        return [np.asarray(o) for o in eval_jaxpr(branches[i], (), ops)]


def _cond_abstract_eval(index, *ops, branches):
    if index.shape != () or not np.issubdtype(index.dtype, np.integer):
        raise TypeError(f"cond: the branch index must be an integer scalar, got "
                        f"{index.str_short()}")
    _check_avals("cond", branches[0].in_avals, ops)
    return list(branches[0].out_avals)


def _cond_jvp(primals, tangents, *, branches):
    index, *ops = primals
    nz = [type(t) is not Zero for t in tangents[1:]]
    out_nz = [False] * len(branches[0].outvars)
    for _ in range(2):
        res = [memoized("cond_jvp", br, (tuple(nz), tuple(out_nz)),
                        lambda br=br: jvp_jaxpr(br, nz, out_nz)) for br in branches]
        new = [any(r[1][k] for r in res) for k in range(len(out_nz))]
        if new == out_nz:
            break
        out_nz = new
    new_branches = tuple(r[0] for r in res)
    t_ops = [t for t in tangents[1:] if type(t) is not Zero]
    outs = cond_p.bind(index, *ops, *t_ops, branches=new_branches)
    n = len(branches[0].outvars)
    it = iter(outs[n:])
    return outs[:n], [next(it) if z else Zero(tangent_aval(a))
                      for z, a in zip(out_nz, branches[0].out_avals)]


def _cond_split(branches, ops_uk):
    """Partially evaluate every branch; residuals of all branches are joined."""
    out_uk = [False] * len(branches[0].outvars)
    for _ in range(len(out_uk) + 1):
        parts = [partial_eval_jaxpr(br, ops_uk, out_uk) for br in branches]
        new = [any(p[2][k] for p in parts) for k in range(len(out_uk))]
        if new == out_uk:
            break
        out_uk = new
    res_avals = [a for jk, _, _, nres in parts for a in jk.out_avals[len(jk.outvars) - nres:]]
    offsets = np.cumsum([0] + [p[3] for p in parts]).tolist()
    known_avals = [a for a, u in zip(branches[0].in_avals, ops_uk) if not u]
    unk_avals = [a for a, u in zip(branches[0].in_avals, ops_uk) if u]
    jks, jus = [], []
    for b, (jk, ju, _, nres) in enumerate(parts):
        def known(*a, jk=jk, b=b, nres=nres):
            outs = eval_jaxpr(jk, (), a)
            nk_out = len(outs) - nres
            res = [_zero_from_aval(av) for av in res_avals]
            res[offsets[b]:offsets[b] + nres] = outs[nk_out:]
            return [*outs[:nk_out], *res]

        def unknown(*a, ju=ju, b=b, nres=nres):
            res, rest = a[:len(res_avals)], a[len(res_avals):]
            return eval_jaxpr(ju, (), [*res[offsets[b]:offsets[b] + nres], *rest])

        jks.append(trace_jaxpr(known, known_avals))
        jus.append(trace_jaxpr(unknown, [*res_avals, *unk_avals]))
    return tuple(jks), tuple(jus), out_uk, len(res_avals)


def _cond_partial_eval(trace, tracers, *, branches):
    builder = trace.builder
    idx_t, *op_ts = tracers
    if not builder.is_known(idx_t):
        return trace.default_process_primitive(cond_p, tracers, dict(branches=branches))
    ops_uk = tuple(not builder.is_known(t) for t in op_ts)
    jks, jus, out_uk, nres = memoized("cond_pe", branches[0], (branches, ops_uk),
                                      lambda: _cond_split(branches, list(ops_uk)))
    index = builder.known_value(idx_t)
    known = [builder.known_value(t) for t, u in zip(op_ts, ops_uk) if not u]
    k_outs = cond_p.bind(index, *known, branches=jks)
    n_known = len(k_outs) - nres
    res = [trace.pure(r) for r in k_outs[n_known:]]
    u_ins = [t for t, u in zip(op_ts, ops_uk) if u]
    u_outs = trace.default_process_primitive(cond_p, [idx_t, *res, *u_ins],
                                             dict(branches=jus))
    k_it, u_it = iter(k_outs[:n_known]), iter(u_outs)
    return [next(u_it) if u else next(k_it) for u in out_uk]


def _cond_partial_eval_jaxpr(eqn: JaxprEqn, unks_in):
    if unks_in[0]:
        return None, eqn, [True] * len(eqn.out_binders), [
            a for a, u in zip(eqn.inputs, unks_in) if not u and type(a) is Var]
    idx, *ops = eqn.inputs
    jks, jus, out_uk, nres = _cond_split(eqn.params["branches"], list(unks_in[1:]))
    res_vars = [Var(a) for a in jks[0].out_avals[len(jks[0].outvars) - nres:]]
    known_outs = [v for v, u in zip(eqn.out_binders, out_uk) if not u]
    unk_outs = [v for v, u in zip(eqn.out_binders, out_uk) if u]
    eqn_k = JaxprEqn(cond_p, (idx, *[a for a, u in zip(ops, unks_in[1:]) if not u]),
                     dict(branches=jks), (*known_outs, *res_vars))
    eqn_u = JaxprEqn(cond_p, (idx, *res_vars, *[a for a, u in zip(ops, unks_in[1:]) if u]),
                     dict(branches=jus), tuple(unk_outs))
    extra = [idx] if type(idx) is Var else []
    return eqn_k, eqn_u, out_uk, [*res_vars, *extra]


def _cond_transpose(cts, index, *ops, branches):
    if is_undefined(index):
        raise NotImplementedError("cond: the branch index cannot be linear")
    lin = tuple(is_undefined(o) for o in ops)
    t_branches = memoized("cond_transpose", branches[0], (branches, lin), lambda: tuple(
        transpose_jaxpr(br, lin) for br in branches))
    nl = [o for o, l_ in zip(ops, lin) if not l_]
    outs = cond_p.bind(index, *nl, *[instantiate(c) for c in cts], branches=t_branches)
    it = iter(outs)
    return [None] + [next(it) if l_ else None for l_ in lin]


def _cond_batch(size, vals, dims, *, branches):
    from funcad.primitives.elementwise import select_n_p
    from funcad.primitives.structural import broadcast_in_dim
    idx, *ops = vals
    idx_d, *op_d = dims
    if idx_d is None:
        in_b = tuple(d is not None for d in op_d)
        out_b = [False] * len(branches[0].outvars)
        for _ in range(2):
            res = [memoized("cond_batch", br, (size, in_b, tuple(out_b)),
                            lambda br=br: batch_jaxpr(br, size, in_b, out_b))
                   for br in branches]
            new = [any(r[1][k] for r in res) for k in range(len(out_b))]
            if new == out_b:
                break
            out_b = new
        ops = [moveaxis(v, d, 0, size) if d is not None else v for v, d in zip(ops, op_d)]
        outs = cond_p.bind(idx, *ops, branches=tuple(r[0] for r in res))
        return outs, [0 if b else None for b in out_b]
    # A batched index: run every branch on the whole batch and select per element.
    idx = moveaxis(idx, idx_d, 0, size)
    idx = _clamp_index(idx, len(branches))
    in_b = tuple(d is not None for d in op_d)
    ops = [moveaxis(v, d, 0, size) if d is not None else v for v, d in zip(ops, op_d)]
    br_outs = []
    for br in branches:
        bj, _ = memoized("cond_batch", br, (size, in_b, True),
                         lambda br=br: batch_jaxpr(br, size, in_b, True))
        br_outs.append(eval_jaxpr(bj, (), ops))
    outs = []
    for k in range(len(branches[0].outvars)):
        cases = [o[k] for o in br_outs]
        shape = get_aval(cases[0]).shape
        pred = broadcast_in_dim(idx, shape, (0,))
        if len(cases) == 2:
            from funcad.primitives.elementwise import convert_element_type_p
            pred = convert_element_type_p.bind(pred, new_dtype=np.dtype(bool))
        outs.append(select_n_p.bind(pred, *cases))
    return outs, [0] * len(outs)


def _clamp_index(idx, n):
    from funcad.primitives.elementwise import max_p, min_p
    from funcad.primitives.structural import full
    aval = get_aval(idx)
    lo = full(aval.shape, 0, aval.dtype)
    hi = full(aval.shape, n - 1, aval.dtype)
    return min_p.bind(max_p.bind(idx, lo), hi)


impl_rules[cond_p] = _cond_impl
abstract_eval_rules[cond_p] = _cond_abstract_eval
jvp_rules[cond_p] = _cond_jvp
partial_eval_rules[cond_p] = _cond_partial_eval
partial_eval_jaxpr_rules[cond_p] = _cond_partial_eval_jaxpr
transpose_rules[cond_p] = _cond_transpose
batch_rules[cond_p] = _cond_batch
pp_rules[cond_p] = _pp_with("branches")


# ----------------------------------------------------------------------------------
# while

while_p = new_primitive("while", multiple_results=True)
_core.typed_by_program.add(while_p)


def _while_impl(*args, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts):
    cc, bc, carry = _split(args, cond_nconsts, body_nconsts)
    with eval_context():
        while eval_jaxpr(cond_jaxpr, (), [*cc, *carry])[0]:
            carry = eval_jaxpr(body_jaxpr, (), [*bc, *carry])
    return [np.asarray(c) for c in carry]


def _while_abstract_eval(*avals, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts):
    cc, bc, carry = _split(avals, cond_nconsts, body_nconsts)
    _check_avals("while_loop body", body_jaxpr.in_avals, [*bc, *carry])
    _check_avals("while_loop cond", cond_jaxpr.in_avals, [*cc, *carry])
    return list(body_jaxpr.out_avals)


def _while_jvp(primals, tangents, *, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts):
    ncc, nbc = cond_nconsts, body_nconsts
    nk = len(primals) - ncc - nbc
    nz = [type(t) is not Zero for t in tangents]
    _, bc_nz, carry_nz = _split(nz, ncc, nbc)
    for _ in range(nk + 1):
        jj, out_nz = memoized("while_jvp", body_jaxpr, (tuple(bc_nz), tuple(carry_nz)),
                              lambda: jvp_jaxpr(body_jaxpr, bc_nz + carry_nz, carry_nz))
        new = [a or b for a, b in zip(carry_nz, out_nz)]
        if new == carry_nz:
            break
        carry_nz = new
    n_in = nbc + nk
    n_tbc, n_tk = sum(bc_nz), sum(carry_nz)
    body = permute(jj, [*range(nbc), *range(n_in, n_in + n_tbc), *range(nbc, n_in),
                        *range(n_in + n_tbc, n_in + n_tbc + n_tk)])
    t_avals = [tangent_aval(a) for a, z in zip(body_jaxpr.out_avals, carry_nz) if z]

    def cond(*a):
        return eval_jaxpr(cond_jaxpr, (), a[:ncc + nk])

    cj = memoized("while_jvp_cond", cond_jaxpr, tuple(t_avals), lambda: trace_jaxpr(
        cond, [*cond_jaxpr.in_avals, *t_avals]))
    cc, bc, carry = _split(primals, ncc, nbc)
    _, t_bc, t_carry = _split(tangents, ncc, nbc)
    outs = while_p.bind(*cc, *bc, *[t for t in t_bc if type(t) is not Zero], *carry,
                        *[instantiate(t) for t, z in zip(t_carry, carry_nz) if z],
                        cond_jaxpr=cj, body_jaxpr=body, cond_nconsts=ncc,
                        body_nconsts=nbc + n_tbc)
    it = iter(outs[nk:])
    return outs[:nk], [next(it) if z else Zero(tangent_aval(a))
                       for z, a in zip(carry_nz, body_jaxpr.out_avals)]


def _while_batch(size, vals, dims, *, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts):
    from funcad.primitives.elementwise import select_n_p
    from funcad.primitives.reductions import reduce_or_p
    from funcad.primitives.structural import broadcast_in_dim
    ncc, nbc = cond_nconsts, body_nconsts
    b = [d is not None for d in dims]
    cc_b, bc_b, carry_b = _split(b, ncc, nbc)
    for _ in range(len(carry_b) + 2):
        bj, out_b = batch_jaxpr(body_jaxpr, size, bc_b + carry_b, carry_b)
        cj, (pred_b,) = batch_jaxpr(cond_jaxpr, size, cc_b + carry_b, False)
        new = [x or y or pred_b for x, y in zip(carry_b, out_b)]
        if new == carry_b:
            break
        carry_b = new
    cc, bc, carry = _split(vals, ncc, nbc)
    cd, bd, kd = _split(dims, ncc, nbc)
    cc = [moveaxis(v, d, 0, size) if d is not None else v for v, d in zip(cc, cd)]
    bc = [moveaxis(v, d, 0, size) if d is not None else v for v, d in zip(bc, bd)]
    carry = [moveaxis(v, d, 0, size) if bb else v for v, d, bb in zip(carry, kd, carry_b)]
    if not pred_b:
        outs = while_p.bind(*cc, *bc, *carry, cond_jaxpr=cj, body_jaxpr=bj,
                            cond_nconsts=ncc, body_nconsts=nbc)
        return outs, [0 if bb else None for bb in carry_b]
    # The predicate differs across the batch: loop while any element runs, and leave
    # finished elements unchanged.
    cc_av = [get_aval(v) for v in cc]
    bc_av = [get_aval(v) for v in bc]
    k_av = [get_aval(v) for v in carry]

    def body(*a):
        c, bcs, k = _split(a, len(cc_av), len(bc_av))
        (pred,) = eval_jaxpr(cj, (), [*c, *k])
        new = eval_jaxpr(bj, (), [*bcs, *k])
        return [select_n_p.bind(broadcast_in_dim(pred, get_aval(o).shape, (0,)), o_old, o)
                for o, o_old in zip(new, k)]

    def cond(*a):
        (pred,) = eval_jaxpr(cj, (), a)
        return [reduce_or_p.bind(pred, axes=(0,))]

    body_j = trace_jaxpr(body, [*cc_av, *bc_av, *k_av])
    cond_j = trace_jaxpr(cond, [*cc_av, *k_av])
    outs = while_p.bind(*cc, *cc, *bc, *carry, cond_jaxpr=cond_j, body_jaxpr=body_j,
                        cond_nconsts=ncc, body_nconsts=ncc + nbc)
    return outs, [0] * len(outs)


def _while_partial_eval(trace, tracers, *, cond_jaxpr, body_jaxpr, cond_nconsts,
                        body_nconsts):
    """Linearize a while loop by turning it into a scan of its (concrete) trip count."""
    builder = trace.builder
    params = dict(cond_jaxpr=cond_jaxpr, body_jaxpr=body_jaxpr, cond_nconsts=cond_nconsts,
                  body_nconsts=body_nconsts)
    ncc, nbc = cond_nconsts, body_nconsts
    unknowns = [not builder.is_known(t) for t in tracers]
    if not any(unknowns):
        outs = while_p.bind(*[builder.known_value(t) for t in tracers], **params)
        return outs
    cc_uk, bc_uk, carry_uk = _split(unknowns, ncc, nbc)
    if any(cc_uk):
        raise TypeError("while_loop: the loop condition depends on a value being "
                        "differentiated; only the carries may be differentiated")
    nk = len(carry_uk)
    for _ in range(nk + 1):
        jk, _, out_uk, _ = partial_eval_jaxpr(body_jaxpr, bc_uk + carry_uk, carry_uk)
        new = [a or b for a, b in zip(carry_uk, out_uk)]
        if new == carry_uk:
            break
        carry_uk = new
    used = _used_invars(cond_jaxpr)
    if any(u and v in used for u, v in zip(carry_uk, cond_jaxpr.invars[ncc:])):
        raise TypeError("while_loop: the loop condition depends on a carry being "
                        "differentiated, so the trip count is not piecewise constant; "
                        "compute the condition from non-differentiated values")
    known_vals = [builder.known_value(t) for t, u in zip(tracers, cc_uk + bc_uk + carry_uk)
                  if not u]
    n = None
    if all(_concrete_max(v)[0] is not None for v in known_vals):
        count = _trip_count(trace, tracers, cond_jaxpr, ncc, nbc, jk, bc_uk, carry_uk)
        n, exact = _concrete_max(count)
    if n is None:
        # Staged (e.g. under jit): the known loop runs below, and the unknown part is the
        # whole loop carrying primal and tangent values; its transpose (while_rev) records
        # the primal carries at run time and runs the reverse loop.
        cj, bj = _known_while(cond_jaxpr, ncc, jk, carry_uk, counter=False)
        known_outs = while_p.bind(*known_vals, cond_jaxpr=cj, body_jaxpr=bj,
                                  cond_nconsts=ncc, body_nconsts=sum(not u for u in bc_uk))
        # (debug callbacks ran in the known loop: the loop of the linear program re-runs
        # the primal body without them)
        u_outs = trace.default_process_primitive(while_p, list(tracers),
                                                 _without_debug_callbacks(params))
        k_it = iter(known_outs)
        return [o if u else next(k_it) for o, u in zip(u_outs, carry_uk)]
    bc_t, carry_t = tracers[ncc:ncc + nbc], tracers[ncc + nbc:]
    body_jaxpr = without_debug_callbacks(body_jaxpr)   # (they ran in the counting loop)
    if exact:
        return _scan_partial_eval(trace, [*bc_t, *carry_t], jaxpr=body_jaxpr,
                                  num_consts=nbc, num_carry=nk, length=n, reverse=False)
    # Batched trip counts: run the longest and freeze the finished elements.
    masked = memoized("while_masked", body_jaxpr, (), lambda: _masked_body(body_jaxpr, nbc))
    zero = trace.pure(np.zeros((), np.int64))
    outs = _scan_partial_eval(trace, [trace.pure(count), *bc_t, zero, *carry_t],
                              jaxpr=masked, num_consts=nbc + 1, num_carry=nk + 1, length=n,
                              reverse=False)
    return outs[1:]


def _masked_body(body_jaxpr, nbc):
    from funcad.primitives.elementwise import add_p, lt_p, select_n_p
    from funcad.primitives.structural import broadcast_in_dim
    count_av = ShapedArray((), np.dtype(np.int64))

    def body(count, *a):
        bc, (i, *k) = a[:nbc], a[nbc:]
        new = eval_jaxpr(body_jaxpr, (), [*bc, *k])
        active = lt_p.bind(i, count)
        outs = [select_n_p.bind(broadcast_in_dim(active, get_aval(o).shape, ()), o_old, o)
                for o, o_old in zip(new, k)]
        return [add_p.bind(i, np.int64(1)), *outs]

    return trace_jaxpr(body, [count_av, *body_jaxpr.in_avals[:nbc], count_av,
                              *body_jaxpr.in_avals[nbc:]])


def _used_invars(jaxpr: Jaxpr) -> set:
    used = {a for e in jaxpr.eqns for a in e.inputs if type(a) is Var}
    used.update(a for a in jaxpr.outvars if type(a) is Var)
    return used


def _known_while(cond_jaxpr, ncc, jk, carry_uk, counter: bool):
    """cond and body jaxprs of the loop over the known carries (plus a counter)."""
    from funcad.primitives.elementwise import add_p
    n_known_carry = sum(not u for u in carry_uk)
    nbk = len(jk.invars) - n_known_carry
    jk_body = Jaxpr((), jk.invars, jk.eqns, jk.outvars[:n_known_carry])
    k_avals = jk_body.out_avals
    known_pos = [i for i, u in enumerate(carry_uk) if not u]
    all_k_avals = cond_jaxpr.in_avals[ncc:]
    i_av = [ShapedArray((), np.dtype(np.int64))] if counter else []

    def cond(*a):
        c, kk = a[:ncc], a[ncc + len(i_av):]
        full = [_zero_from_aval(av) for av in all_k_avals]
        for p, v in zip(known_pos, kk):
            full[p] = v
        return eval_jaxpr(cond_jaxpr, (), [*c, *full])

    def body(*a):
        b, rest = a[:nbk], a[nbk:]
        if counter:
            return [add_p.bind(rest[0], np.int64(1)), *eval_jaxpr(jk_body, (), [*b, *rest[1:]])]
        return eval_jaxpr(jk_body, (), [*b, *rest])

    cj = trace_jaxpr(cond, [*cond_jaxpr.in_avals[:ncc], *i_av, *k_avals])
    bj = trace_jaxpr(body, [*jk.in_avals[:nbk], *i_av, *k_avals])
    return cj, bj


def _trip_count(trace, tracers, cond_jaxpr, ncc, nbc, jk, bc_uk, carry_uk):
    """Bind, below the linearize level, a loop that counts the iterations."""
    builder = trace.builder
    cc = [builder.known_value(t) for t in tracers[:ncc]]
    bc = [builder.known_value(t) for t, u in zip(tracers[ncc:ncc + nbc], bc_uk) if not u]
    k = [builder.known_value(t) for t, u in zip(tracers[ncc + nbc:], carry_uk) if not u]
    # (this is the primal loop as it runs: its debug callbacks run here, in the order of
    # the loop's iterations, and the scan that linearizes it runs without them)
    cj, bj = _known_while(cond_jaxpr, ncc, jk, carry_uk, counter=True)
    args = [*cc, *bc, np.int64(0), *k]
    if any(isinstance(a, Tracer) for a in args):
        outs = while_p.bind(*args, cond_jaxpr=cj, body_jaxpr=bj, cond_nconsts=ncc,
                            body_nconsts=len(bc))
    else:
        # All known values are concrete: count now, even inside a staged function (a
        # cond branch, a jit whose loop only closes over traced values), where binding
        # would stage the count and leave the trip count unknown.
        with eval_context():
            outs = while_p.bind(*args, cond_jaxpr=cj, body_jaxpr=bj, cond_nconsts=ncc,
                                body_nconsts=len(bc))
    return outs[0]


def _concrete_max(x) -> tuple[int | None, bool]:
    """The largest value of `x` if it is known, and whether it is the same everywhere."""
    if isinstance(x, Tracer):
        if isinstance(x, JVPTracer):
            return _concrete_max(x.primal)
        if isinstance(x, BatchTracer):
            n, _ = _concrete_max(x.val)
            return n, x.bdim is None and _
        if isinstance(x, JaxprTracer):
            b = x._trace.builder
            if b.partial_eval and b.is_known(x):
                return _concrete_max(b.known_value(x))
        return None, False
    arr = np.asarray(x)
    return int(arr.max()) if arr.size else 0, arr.size <= 1 or bool((arr == arr.max()).all())


def _while_partial_eval_jaxpr(eqn: JaxprEqn, unks_in):
    if not any(unks_in):
        return eqn, None, [False] * len(eqn.out_binders), []
    p = eqn.params
    ncc, nbc = p["cond_nconsts"], p["body_nconsts"]
    cc_uk, bc_uk, carry_uk = _split(list(unks_in), ncc, nbc)
    if any(cc_uk):
        return None, eqn, [True] * len(eqn.out_binders), [
            a for a, u in zip(eqn.inputs, unks_in) if not u and type(a) is Var]
    for _ in range(len(carry_uk) + 1):
        jk, _, out_uk, _ = partial_eval_jaxpr(p["body_jaxpr"], bc_uk + carry_uk, carry_uk)
        new = [a or b for a, b in zip(carry_uk, out_uk)]
        if new == carry_uk:
            break
        carry_uk = new
    # The known loop computes the known carries; the unknown equation is the whole loop
    # (its transpose records the primal carries at run time: see while_rev).
    cj, bj = _known_while(p["cond_jaxpr"], ncc, jk, carry_uk, counter=False)
    all_uk = cc_uk + bc_uk + carry_uk
    k_ins = [a for a, u in zip(eqn.inputs, all_uk) if not u]
    k_outs = [v for v, u in zip(eqn.out_binders, carry_uk) if not u]
    eqn_k = JaxprEqn(while_p, tuple(k_ins), dict(
        cond_jaxpr=cj, body_jaxpr=bj, cond_nconsts=ncc,
        body_nconsts=sum(not u for u in bc_uk)), tuple(k_outs))
    u_binders = tuple(v if u else Var(v.aval) for v, u in zip(eqn.out_binders, carry_uk))
    eqn_u = JaxprEqn(while_p, eqn.inputs, _without_debug_callbacks(p), u_binders)
    # Every known operand (including carries that only became unknown in the loop) is
    # read by the unknown equation.
    res = [a for a in dict.fromkeys(a for a, u in zip(eqn.inputs, unks_in) if not u)
           if type(a) is Var]
    return eqn_k, eqn_u, carry_uk, res


def _while_transpose(cts, *args, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts):
    """Transpose a loop whose carries are part primal (defined) and part linear.

    The primal carries evolve on their own; the reverse loop needs them in reverse order,
    so `while_rev` records them while re-running the primal loop, then walks back.
    """
    ncc, nbc = cond_nconsts, body_nconsts
    cc, bc, carry = _split(args, ncc, nbc)
    if any(is_undefined(a) for a in cc):
        raise NotImplementedError("while_loop: the condition cannot depend on linear values")
    bc_lin = tuple(is_undefined(a) for a in bc)
    k_lin = tuple(is_undefined(a) for a in carry)
    cj, fj, bj, k_lin = memoized("while_rev", body_jaxpr, (cond_jaxpr, bc_lin, k_lin),
                                 lambda: _while_rev_jaxprs(cond_jaxpr, body_jaxpr, ncc,
                                                           bc_lin, k_lin))
    nl_bc = [a for a, l_ in zip(bc, bc_lin) if not l_]
    nl_k = [a for a, l_ in zip(carry, k_lin) if not l_]
    acc = [_zero_from_aval(a.aval) for a, l_ in zip(bc, bc_lin) if l_]
    ct = [instantiate(c) for c, l_ in zip(cts, k_lin) if l_]
    outs = while_rev_p.bind(*cc, *nl_bc, *nl_k, *acc, *ct, cond_jaxpr=cj, fwd_jaxpr=fj,
                            bwd_jaxpr=bj, num_cc=ncc, num_nlc=len(nl_bc))
    acc_out, ct_out = outs[:len(acc)], outs[len(acc):]
    a_it, c_it = iter(acc_out), iter(ct_out)
    return ([None] * ncc + [next(a_it) if l_ else None for l_ in bc_lin]
            + [next(c_it) if l_ and is_undefined(a) else None
               for l_, a in zip(k_lin, carry)])


def _without_debug_callbacks(params: dict) -> dict:
    """A while equation's params with the debug callbacks of its programs removed."""
    return dict(params, cond_jaxpr=without_debug_callbacks(params["cond_jaxpr"]),
                body_jaxpr=without_debug_callbacks(params["body_jaxpr"]))


def _while_rev_jaxprs(cond_jaxpr, body_jaxpr, ncc, bc_lin, k_lin):
    # The primal loop ran the debug callbacks; re-running it (fwd, and bwd's residuals)
    # does not.
    cond_jaxpr = without_debug_callbacks(cond_jaxpr)
    body_jaxpr = without_debug_callbacks(body_jaxpr)
    # A carry is linear if it is undefined or becomes linear in the body (e.g. a tangent
    # carry that starts from an instantiated zero).
    k_lin = list(k_lin)
    for _ in range(len(k_lin) + 1):
        jk, ju, out_uk, nres = partial_eval_jaxpr(body_jaxpr, [*bc_lin, *k_lin], k_lin)
        new = [a or b for a, b in zip(k_lin, out_uk)]
        if new == k_lin:
            break
        k_lin = new
    k_lin = tuple(k_lin)
    n_nl = sum(not l_ for l_ in k_lin)
    cj, _ = _known_while(cond_jaxpr, ncc, jk, list(k_lin), counter=False)
    fj = Jaxpr((), jk.invars, tuple(_prune(list(jk.eqns), jk.outvars[:n_nl])),
               jk.outvars[:n_nl])
    n_lin_bc, n_lin_k = sum(bc_lin), sum(k_lin)
    t = transpose_jaxpr(ju, [False] * nres + [True] * (n_lin_bc + n_lin_k))
    nl_avals = jk.in_avals
    lbc_avals = [a for a, l_ in zip(body_jaxpr.in_avals[:len(bc_lin)], bc_lin) if l_]
    lk_avals = [a for a, l_ in zip(body_jaxpr.out_avals, k_lin) if l_]

    def bwd(*a):
        nl, acc, ct = _split(a, len(nl_avals), n_lin_bc)
        res = eval_jaxpr(jk, (), nl)[n_nl:]
        outs = eval_jaxpr(t, (), [*res, *ct])
        from funcad.primitives.elementwise import add_p
        return [*[add_p.bind(x, y) for x, y in zip(acc, outs[:n_lin_bc])], *outs[n_lin_bc:]]

    bj = trace_jaxpr(bwd, [*nl_avals, *lbc_avals, *lk_avals])
    return cj, fj, bj, k_lin


# ----------------------------------------------------------------------------------
# while_rev: the transpose of a loop with primal and linear carries.
#   operands: cond_consts, nl_consts, nl_init, acc (cts of linear consts), ct (of carries)
#   fwd: nl_consts, nl_carry -> nl_carry        cond: cond_consts, nl_carry -> bool
#   bwd: nl_consts, nl_carry, acc, ct -> acc, ct   (one step of the reverse loop)
# It re-runs the primal loop pushing every carry on a stack (growable: memory is the trip
# count times the primal carry size), then applies bwd from the last step to the first.

while_rev_p = new_primitive("while_rev", multiple_results=True)


def _while_rev_impl(*args, cond_jaxpr, fwd_jaxpr, bwd_jaxpr, num_cc, num_nlc):
    n_nl = len(fwd_jaxpr.outvars)
    cc, nlc, c, rest = _split(args, num_cc, num_nlc, n_nl)
    stack = []
    with eval_context():
        while eval_jaxpr(cond_jaxpr, (), [*cc, *c])[0]:
            stack.append(c)
            c = eval_jaxpr(fwd_jaxpr, (), [*nlc, *c])
        for c_i in reversed(stack):
            rest = eval_jaxpr(bwd_jaxpr, (), [*nlc, *c_i, *rest])
    return [np.asarray(r) for r in rest]


def _while_rev_abstract_eval(*avals, cond_jaxpr, fwd_jaxpr, bwd_jaxpr, num_cc, num_nlc):
    return list(bwd_jaxpr.out_avals)


def _while_rev_batch(size, vals, dims, *, cond_jaxpr, fwd_jaxpr, bwd_jaxpr, num_cc,
                     num_nlc):
    from funcad.primitives.elementwise import select_n_p
    from funcad.primitives.reductions import reduce_or_p
    from funcad.primitives.structural import broadcast_in_dim
    n_nl = len(fwd_jaxpr.outvars)
    cc_b, nlc_b, c_b, rest_b = _split([d is not None for d in dims], num_cc, num_nlc, n_nl)
    for _ in range(n_nl + 1):
        fj, out_b = batch_jaxpr(fwd_jaxpr, size, nlc_b + c_b, c_b)
        new = [x or y for x, y in zip(c_b, out_b)]
        if new == c_b:
            break
        c_b = new
    cj, (pred_b,) = batch_jaxpr(cond_jaxpr, size, cc_b + c_b, False)
    if not pred_b:
        # Every element runs the same number of steps: no masking, and what is not
        # batched stays so.
        for _ in range(len(rest_b) + 1):
            bj, out_b = batch_jaxpr(bwd_jaxpr, size, nlc_b + c_b + rest_b, rest_b)
            new = [x or y for x, y in zip(rest_b, out_b)]
            if new == rest_b:
                break
            rest_b = new
        want = cc_b + nlc_b + c_b + rest_b
        vals = [moveaxis(v, d, 0, size) if w else v for v, d, w in zip(vals, dims, want)]
        outs = while_rev_p.bind(*vals, cond_jaxpr=cj, fwd_jaxpr=fj, bwd_jaxpr=bj,
                                num_cc=num_cc, num_nlc=num_nlc)
        return outs, [0 if b else None for b in rest_b]
    vals = [moveaxis(v, d, 0, size) for v, d in zip(vals, dims)]
    cc, nlc, c, rest = _split(vals, num_cc, num_nlc, n_nl)
    cj, _ = batch_jaxpr(cond_jaxpr, size, [True] * len(cond_jaxpr.invars), True)
    fj, _ = batch_jaxpr(fwd_jaxpr, size, [True] * len(fwd_jaxpr.invars), True)
    bj, _ = batch_jaxpr(bwd_jaxpr, size, [True] * len(bwd_jaxpr.invars), True)
    av = [get_aval(v) for v in vals]
    cc_av, nlc_av, c_av, rest_av = _split(av, num_cc, num_nlc, n_nl)

    def keep(pred, new, old):
        return [select_n_p.bind(broadcast_in_dim(pred, get_aval(o).shape, (0,)), o, n)
                for n, o in zip(new, old)]

    # Finished elements stay unchanged: a step is applied where that element's condition
    # holds (recomputed from the recorded carry in the reverse loop).
    def cond(*a):
        return [reduce_or_p.bind(eval_jaxpr(cj, (), a)[0], axes=(0,))]

    def fwd(*a):
        ccs, nl, k = _split(a, len(cc_av), len(nlc_av))
        (pred,) = eval_jaxpr(cj, (), [*ccs, *k])
        return keep(pred, eval_jaxpr(fj, (), [*nl, *k]), k)

    def bwd(*a):
        ccs, nl, k, r = _split(a, len(cc_av), len(nlc_av), n_nl)
        (pred,) = eval_jaxpr(cj, (), [*ccs, *k])
        return keep(pred, eval_jaxpr(bj, (), [*nl, *k, *r]), r)

    cond_b = trace_jaxpr(cond, [*cc_av, *c_av])
    fwd_b = trace_jaxpr(fwd, [*cc_av, *nlc_av, *c_av])
    bwd_b = trace_jaxpr(bwd, [*cc_av, *nlc_av, *c_av, *rest_av])
    outs = while_rev_p.bind(*cc, *cc, *nlc, *c, *rest, cond_jaxpr=cond_b, fwd_jaxpr=fwd_b,
                            bwd_jaxpr=bwd_b, num_cc=num_cc, num_nlc=num_cc + num_nlc)
    return outs, [0] * len(outs)


def _while_rev_jvp(primals, tangents, *, cond_jaxpr, fwd_jaxpr, bwd_jaxpr, num_cc, num_nlc):
    # Forward mode through the recorded reverse pass: record (carry, tangent) pairs with
    # the jvp of fwd and apply the jvp of bwd (linear in acc/ct, so this is exact).
    n_nl = len(fwd_jaxpr.outvars)
    n_rest = len(bwd_jaxpr.outvars)
    cj, fj, bj = memoized("while_rev_jvp", fwd_jaxpr, (cond_jaxpr, bwd_jaxpr), lambda: (
        _while_rev_jvp_jaxprs(cond_jaxpr, fwd_jaxpr, bwd_jaxpr, num_nlc, n_nl, n_rest)))
    cc, nlc, c, rest = _split(primals, num_cc, num_nlc, n_nl)
    _, t_nlc, t_c, t_rest = [[instantiate(t) for t in g]
                             for g in _split(tangents, num_cc, num_nlc, n_nl)]
    outs = while_rev_p.bind(*cc, *nlc, *t_nlc, *c, *t_c, *rest, *t_rest, cond_jaxpr=cj,
                            fwd_jaxpr=fj, bwd_jaxpr=bj, num_cc=num_cc, num_nlc=2 * num_nlc)
    # The primal outputs come from their own equation, not from the one that also reads
    # the tangents: when this is linearized (reverse over reverse) the tangent equation is
    # staged into the linear program and the primal one must stay outside it.
    primal_out = while_rev_p.bind(*primals, cond_jaxpr=cond_jaxpr, fwd_jaxpr=fwd_jaxpr,
                                  bwd_jaxpr=bwd_jaxpr, num_cc=num_cc, num_nlc=num_nlc)
    return primal_out, outs[n_rest:]


def _while_rev_jvp_jaxprs(cond_jaxpr, fwd_jaxpr, bwd_jaxpr, nnl_c, n_nl, n_rest):
    def cond(*a):
        return eval_jaxpr(cond_jaxpr, (), [*a[:len(a) - 2 * n_nl], *a[len(a) - 2 * n_nl:][:n_nl]])

    ncc = len(cond_jaxpr.invars) - n_nl
    k_avals = fwd_jaxpr.out_avals
    cj = trace_jaxpr(cond, [*cond_jaxpr.in_avals[:ncc], *k_avals, *k_avals])
    fj, _ = jvp_jaxpr(fwd_jaxpr, [True] * len(fwd_jaxpr.invars), True)
    n_f = len(fwd_jaxpr.invars)
    fj = permute(fj, [*range(nnl_c), *range(n_f, n_f + nnl_c), *range(nnl_c, n_f),
                      *range(n_f + nnl_c, 2 * n_f)])
    bj, _ = jvp_jaxpr(bwd_jaxpr, [True] * len(bwd_jaxpr.invars), True)
    n_b = len(bwd_jaxpr.invars)
    groups = [nnl_c, n_nl, n_rest]
    starts = np.cumsum([0] + groups).tolist()
    order = []
    for g, st in zip(groups, starts):
        order += [*range(st, st + g), *range(n_b + st, n_b + st + g)]
    # bwd' takes (nlc, dnlc, c, dc, rest, drest) and returns (rest', drest'); the rest
    # layout of the new loop is (rest, drest), matching its outputs.
    bj = permute(bj, order)
    return cj, fj, bj


def _while_rev_transpose(cts, *args, cond_jaxpr, fwd_jaxpr, bwd_jaxpr, num_cc, num_nlc):
    """Transpose of while_rev (reverse over reverse through a loop traced under jit).

    while_rev computes rest_out = R(p) rest with R = B_0 ... B_{n-1}, the B_i = bwd at the
    recorded carries, p = (nl consts, initial carry). Its transpose in `rest` is the
    forward loop F(p; u) = B_{n-1}^T ... B_0^T u (a while_p carrying (c, v)); for inputs
    of p that are linear (tangents, when while_rev came from a jvp), <u, R(p) rest> =
    <F(p; u), rest> is differentiated with respect to them by reverse mode through F.
    """
    n_nl = len(fwd_jaxpr.outvars)
    cc, nlc, c0, rest = _split(args, num_cc, num_nlc, n_nl)
    if any(is_undefined(a) for a in cc):
        raise NotImplementedError("while_loop: the condition cannot depend on linear values")
    p = [*nlc, *c0]
    p_lin = [is_undefined(a) for a in p]
    r_lin = [is_undefined(a) for a in rest]
    u = [instantiate(c) for c in cts]
    p_vals = [_zero_from_aval(a.aval) if l_ else a for a, l_ in zip(p, p_lin)]
    r_vals = [_zero_from_aval(a.aval) if l_ else a for a, l_ in zip(rest, r_lin)]
    cj, bj = memoized("while_rev_T", bwd_jaxpr, (cond_jaxpr, fwd_jaxpr), lambda: (
        _while_rev_transpose_jaxprs(cond_jaxpr, fwd_jaxpr, bwd_jaxpr, num_cc, num_nlc)))

    def forward(*pv):
        nl, c = pv[:num_nlc], pv[num_nlc:]
        outs = while_p.bind(*cc, *nl, *c, *u, cond_jaxpr=cj, body_jaxpr=bj,
                            cond_nconsts=num_cc, body_nconsts=num_nlc)
        return list(outs[n_nl:])

    ct_p = [None] * len(p)
    if any(p_lin):
        from funcad.api import vjp
        lin_idx = [i for i, l_ in enumerate(p_lin) if l_]

        def of_linear(*xs):
            full = list(p_vals)
            for i, x in zip(lin_idx, xs):
                full[i] = x
            return forward(*full)

        v, pull = vjp(of_linear, *[p_vals[i] for i in lin_idx])
        for i, c in zip(lin_idx, pull(list(r_vals))):
            ct_p[i] = c
    else:
        v = forward(*p_vals)
    ct_rest = [vi if l_ else None for vi, l_ in zip(v, r_lin)]
    return [None] * num_cc + ct_p + ct_rest


def _while_rev_transpose_jaxprs(cond_jaxpr, fwd_jaxpr, bwd_jaxpr, ncc, nnl_c):
    """cond and body of F: carries (c, v); v <- bwd^T(c) v, c <- fwd(c)."""
    n_nl = len(fwd_jaxpr.outvars)
    n_rest = len(bwd_jaxpr.outvars)
    bt = transpose_jaxpr(bwd_jaxpr, [False] * (nnl_c + n_nl) + [True] * n_rest)
    k_avals = fwd_jaxpr.out_avals
    r_avals = bwd_jaxpr.out_avals

    def cond(*a):
        return eval_jaxpr(cond_jaxpr, (), a[:ncc + n_nl])

    def body(*a):
        nl, c, v = _split(a, nnl_c, n_nl)
        return [*eval_jaxpr(fwd_jaxpr, (), [*nl, *c]), *eval_jaxpr(bt, (), [*nl, *c, *v])]

    cj = trace_jaxpr(cond, [*cond_jaxpr.in_avals[:ncc], *k_avals, *r_avals])
    bj = trace_jaxpr(body, [*fwd_jaxpr.in_avals[:nnl_c], *k_avals, *r_avals])
    return cj, bj


impl_rules[while_rev_p] = _while_rev_impl
transpose_rules[while_rev_p] = _while_rev_transpose
abstract_eval_rules[while_rev_p] = _while_rev_abstract_eval
batch_rules[while_rev_p] = _while_rev_batch
jvp_rules[while_rev_p] = _while_rev_jvp
pp_rules[while_rev_p] = _pp_with("cond_jaxpr", "fwd_jaxpr", "bwd_jaxpr")

impl_rules[while_p] = _while_impl
abstract_eval_rules[while_p] = _while_abstract_eval
jvp_rules[while_p] = _while_jvp
partial_eval_rules[while_p] = _while_partial_eval
partial_eval_jaxpr_rules[while_p] = _while_partial_eval_jaxpr
transpose_rules[while_p] = _while_transpose
batch_rules[while_p] = _while_batch
pp_rules[while_p] = _pp_with("cond_jaxpr", "body_jaxpr")

__all__ = ["scan_p", "cond_p", "while_p", "while_rev_p", "trace_jaxpr", "permute"]
