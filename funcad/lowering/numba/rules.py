"""Numba lowering rules for the core primitives (see codegen.py for the rule interface).

Elementwise primitives keep the expression templates written next to them in
funcad/primitives; this module overrides the few whose expression depends on dtypes and
registers a rule for every other primitive.
"""

from __future__ import annotations

import numpy as np

from funcad._core import all_primitives, lowering_rules
from funcad.lowering.numba import vecmath
from funcad.lowering.numba.codegen import (
    IndexRule,
    LoweringError,
    NullaryRule,
    ReduceRule,
    ScalarRule,
)

P = all_primitives


def _shape(s) -> str:
    return repr(tuple(int(d) for d in s))


def _idx(names) -> str:
    return ", ".join(names) if names else "()"


def register(name: str, rule) -> None:
    """Install `rule` as the lowering of the primitive called `name`."""
    lowering_rules[P[name]] = rule


# -- elementwise rules that depend on dtypes or params ------------------------------------


def _float_cast(ctx, dtype, expr: str) -> str:
    # Numba promotes float32 ** int to float64; cast back so the program stays float32.
    d = np.dtype(dtype)
    return f"np.{d.name}({expr})" if d != np.float64 and d.kind in "fc" else expr


def _integer_pow(ctx, eqn, args):
    (x,), y = args, eqn.params["y"]
    dt = eqn.out_binders[0].aval.dtype
    if y == 0:
        return ctx.literal(1, dt)
    if 1 <= y <= 4:
        return "(" + " * ".join([x] * y) + ")"
    if y < 0 and np.issubdtype(dt, np.inexact):
        return _float_cast(ctx, dt, f"({ctx.literal(1, dt)} / ({x} ** {-y}))")
    return _float_cast(ctx, dt, f"({x} ** {y})")


def _minmax(op):
    # NaN propagates as in np.maximum / np.minimum.
    def rule(ctx, eqn, args):
        x, y = args
        return f"({x} if ({x} {op} {y} or {x} != {x}) else {y})"
    return rule


def _div(ctx, eqn, args):
    x, y = args
    if np.issubdtype(eqn.out_binders[0].aval.dtype, np.integer):
        return f"({x} // {y})"
    return f"({x} / {y})"


def _not(ctx, eqn, args):
    if eqn.out_binders[0].aval.dtype == np.bool_:
        return f"(not {args[0]})"
    return f"(~{args[0]})"


def _pow(ctx, eqn, args):
    dt = eqn.out_binders[0].aval.dtype
    if (vecmath.is_vectorisable_dtype(dt) and all(v.aval.dtype == dt for v in eqn.inputs)
            and not ctx.interpreted and ctx.vector_loop):
        return vecmath.pow(ctx, args[0], args[1], dt)       # libm-free (see vecmath.py)
    return _float_cast(ctx, dt, f"({args[0]} ** {args[1]})")


def _select_n(ctx, eqn, args):
    pred, *cases = args
    if eqn.inputs[0].aval.dtype == np.bool_:
        return f"({cases[1]} if {pred} else {cases[0]})" if len(cases) == 2 else \
            _select_chain(pred, cases)
    return _select_chain(pred, cases)


def _select_chain(pred, cases):
    expr = cases[-1]
    for k in range(len(cases) - 2, -1, -1):
        expr = f"({cases[k]} if {pred} == {k} else {expr})"
    return expr


def _convert(ctx, eqn, args):
    new = np.dtype(eqn.params["new_dtype"])
    if new == np.bool_:
        return f"({args[0]} != 0)"
    if eqn.inputs[0].aval.dtype.kind == "c" and new.kind != "c":
        return f"np.{new.name}({args[0]}.real)"
    return f"np.{new.name}({args[0]})"


def _complex(ctx, eqn, args):
    # complex(x, y) is complex128 (exact for float32 parts, and keeps infinities that
    # x + 1j * y would turn into nan): cast to complex64 where that is the dtype.
    dt = eqn.out_binders[0].aval.dtype
    expr = f"complex({args[0]}, {args[1]})"
    return expr if dt == np.complex128 else f"{ctx.dtype(dt)}({expr})"



def _vecmath(name):
    # Float arguments in an innermost loop: the libm-free source of vecmath.py (LLVM
    # vectorises the loop; measured 2-8x faster than libm there). Scalar code (rank-0
    # values, loop bodies around an inner loop, unrolled small values) is faster with
    # libm's functions (per_example_logreg: 19.9 vs 17.4 us); other dtypes keep the
    # primitive's template.
    build, old = vecmath.BUILDERS[name], lowering_rules[P[name]]

    def rule(ctx, eqn, args):
        dt = eqn.out_binders[0].aval.dtype
        if (vecmath.is_vectorisable_dtype(dt) and eqn.inputs[0].aval.dtype == dt
                and not ctx.interpreted and ctx.vector_loop):
            return build(ctx, args[0], dt)
        return old.format(*args) if isinstance(old, str) else old.fn(ctx, eqn, args)
    return rule


for _fn in vecmath.BUILDERS:
    register(_fn, ScalarRule(_vecmath(_fn)))


def _libm(fn):
    # math.<fn> returns a Python float at the driver level: cast to the exact dtype.
    def rule(ctx, eqn, args):
        return f"{ctx.dtype(eqn.out_binders[0].aval.dtype)}(math.{fn}({args[0]}))"
    return rule


for _fn in ("erf", "erfc", "lgamma"):
    register(_fn, ScalarRule(_libm(_fn)))
register("integer_pow", ScalarRule(_integer_pow))
register("max", ScalarRule(_minmax(">")))
register("min", ScalarRule(_minmax("<")))
register("div", ScalarRule(_div))
register("not", ScalarRule(_not))
register("pow", ScalarRule(_pow))
register("round", "np.rint({0})")
register("select_n", ScalarRule(_select_n))
register("convert_element_type", ScalarRule(_convert))
register("complex", ScalarRule(_complex))


# -- bit shifts and population count (funcad/primitives/bits.py) -------------------------
# An amount is read as unsigned of the operand's width: one >= the width shifts every bit
# out. Each operand is cast to its exact type first (Numba widens small integers).


def _shift(kind):
    def rule(ctx, eqn, args):
        dt = eqn.out_binders[0].aval.dtype
        bits = 8 * dt.itemsize
        t, u, s = ctx.dtype(dt), f"np.uint{bits}", f"np.int{bits}"
        x, y = args
        ok = f"{u}({y}) < {u}({bits})"
        if kind == "left":
            return f"({t}({u}({x}) << {u}({y})) if {ok} else {t}(0))"
        if kind == "logical":
            return f"({t}({u}({x}) >> {u}({y})) if {ok} else {t}(0))"
        return f"{t}({s}({x}) >> ({s}({y}) if {ok} else {s}({bits - 1})))"
    return rule


def _population_count(ctx, eqn, args):
    # Parallel bit count in uint64 words without a multiplication (no wrap-around).
    dt = eqn.out_binders[0].aval.dtype
    bits = 8 * dt.itemsize
    u = "np.uint64"
    v = ctx.fresh("pc")
    ctx.line(f"{v} = {u}(np.uint{bits}({args[0]}))")
    ctx.line(f"{v} = {v} - (({v} >> {u}(1)) & {u}(0x5555555555555555))")
    ctx.line(f"{v} = ({v} & {u}(0x3333333333333333)) + (({v} >> {u}(2)) & "
             f"{u}(0x3333333333333333))")
    ctx.line(f"{v} = ({v} + ({v} >> {u}(4))) & {u}(0x0F0F0F0F0F0F0F0F)")
    ctx.line(f"{v} = {v} + ({v} >> {u}(8))")
    ctx.line(f"{v} = {v} + ({v} >> {u}(16))")
    ctx.line(f"{v} = {v} + ({v} >> {u}(32))")
    return f"{ctx.dtype(dt)}({v} & {u}(0x7F))"


register("shift_left", ScalarRule(_shift("left")))
register("shift_right_logical", ScalarRule(_shift("logical")))
register("shift_right_arithmetic", ScalarRule(_shift("arithmetic")))
register("population_count", ScalarRule(_population_count))

# -- fusible index remappings --------------------------------------------------------------


def _broadcast_index(eqn, idx):
    x = eqn.inputs[0].aval
    shape = eqn.params["shape"]
    return ["0" if x.shape[i] == 1 and shape[d] != 1 else idx[d]
            for i, d in enumerate(eqn.params["broadcast_dimensions"])]


def _transpose_index(eqn, idx):
    perm = eqn.params["permutation"]
    src = [""] * len(perm)
    for j, p in enumerate(perm):
        src[p] = idx[j]
    return src


def _slice_index(eqn, idx):
    out = []
    for i, s, st in zip(idx, eqn.params["start_indices"], eqn.params["strides"]):
        term = i if st == 1 else f"{st} * {i}"
        out.append(term if s == 0 else f"{s} + {term}")
    return out


def _pad_index(eqn, idx):
    out = []
    for i, (lo, _, interior) in zip(idx, eqn.params["padding_config"]):
        shifted = i if lo == 0 else (f"{i} - {lo}" if lo > 0 else f"{i} + {-lo}")
        out.append(shifted if interior == 0 else f"({shifted}) // {interior + 1}")
    return out


def _pad_guard(eqn, idx):
    # Where the output element is read from the operand; None: everywhere.
    terms = []
    x, out = eqn.inputs[0].aval, eqn.out_binders[0].aval
    for i, n, m, (lo, _, interior) in zip(idx, x.shape, out.shape,
                                          eqn.params["padding_config"]):
        step = interior + 1
        first, last = lo, lo + (n - 1) * step      # output positions of x's first and last
        if n == 0:
            return "False"
        if first > 0:
            terms.append(f"{i} >= {first}")
        if last < m - 1:
            terms.append(f"{i} <= {last}")
        if interior:
            terms.append(f"({i} - {lo}) % {step} == 0")
    return " and ".join(f"({t})" for t in terms) if terms else None


def _rev_index(eqn, idx):
    shape = eqn.inputs[0].aval.shape
    dims = eqn.params["dimensions"]
    return [f"{shape[d] - 1} - {i}" if d in dims else i for d, i in enumerate(idx)]


def _iota(ctx, eqn, idx):
    dt = np.dtype(eqn.params["dtype"])
    i = idx[eqn.params["dimension"]] if idx else "0"
    return i if dt == np.int64 else f"np.{dt.name}({i})"


register("broadcast_in_dim", IndexRule(_broadcast_index))
register("transpose", IndexRule(_transpose_index))
register("slice", IndexRule(_slice_index))
register("rev", IndexRule(_rev_index))
register("pad", IndexRule(_pad_index, _pad_guard))
register("iota", NullaryRule(_iota))

# -- fusible reductions ------------------------------------------------------------------


def _extreme(ctx, dtype, lowest: bool) -> str:
    d = np.dtype(dtype)
    if d == np.bool_:
        return "False" if lowest else "True"
    if np.issubdtype(d, np.integer):
        info = np.iinfo(d)
        return ctx.literal(info.min if lowest else info.max, d)
    return ctx.literal(-np.inf if lowest else np.inf, d)


register("reduce_sum", ReduceRule(lambda ctx, d: ctx.literal(0, d), "{acc} += {v}", True))
register("reduce_prod", ReduceRule(lambda ctx, d: ctx.literal(1, d), "{acc} *= {v}", True))
register("reduce_max", ReduceRule(lambda ctx, d: _extreme(ctx, d, True),
                                  "{acc} = {v} if ({v} > {acc} or {v} != {v}) else {acc}"))
register("reduce_min", ReduceRule(lambda ctx, d: _extreme(ctx, d, False),
                                  "{acc} = {v} if ({v} < {acc} or {v} != {v}) else {acc}"))
register("reduce_and", ReduceRule(lambda ctx, d: "True", "{acc} = {acc} and {v}"))
register("reduce_or", ReduceRule(lambda ctx, d: "False", "{acc} = {acc} or {v}"))

# -- statement rules: shapes ------------------------------------------------------------------


def _reshape(ctx, eqn, args):
    (x,), out = args, eqn.out_binders[0].aval
    name = ctx.fresh("r")
    if eqn.inputs[0].aval.ndim == 0:
        ctx.line(f"{name} = {ctx.full(out.shape, x, out.dtype)}")
    elif out.ndim == 0:
        ctx.line(f"{name} = {x}.ravel()[0]")
    else:
        ctx.line(f"{name} = {ctx.reshape(x, out.shape)}")
    return [name]


def _concatenate(ctx, eqn, args):
    out = eqn.out_binders[0].aval
    dim = eqn.params["dimension"]
    name = ctx.fresh("cat")
    ctx.line(f"{name} = {ctx.empty(out.shape, out.dtype)}")
    start = 0
    for a, x in zip(eqn.inputs, args):
        n = a.aval.shape[dim]
        if n and a.aval.size:
            with ctx.loop(a.aval.shape) as idx:
                at = list(idx)
                at[dim] = idx[dim] if start == 0 else f"{start} + {idx[dim]}"
                ctx.line(f"{name}[{', '.join(at)}] = {x}[{_idx(idx)}]")
        start += n
    return [name]


def _const(ctx, eqn, args):
    return [ctx.const(eqn.params["value"].val)]


register("reshape", _reshape)
register("concatenate", _concatenate)
register("const", _const)

# -- gather / scatter: explicit loops over the index shape and the kept axes ---------------


def _gather_loops(ctx, eqn, x_aval, idx_args, axes, body):
    """Loop over (index shape S, non-indexed axes); call body(operand_index, out_index)."""
    ishape = eqn.inputs[1].aval.shape
    rest = [d for d in range(x_aval.ndim) if d not in axes]
    loop_shape = (*ishape, *[x_aval.shape[d] for d in rest])
    with ctx.loop(loop_shape) as idx:
        s_idx, r_idx = idx[:len(ishape)], idx[len(ishape):]
        src = [""] * x_aval.ndim
        at = _idx(s_idx) if s_idx else "()"
        for k, (ax, iarg) in enumerate(zip(axes, idx_args)):
            j = ctx.fresh("j")
            n = x_aval.shape[ax]
            ctx.line(f"{j} = {iarg}[{at}]" if ishape else f"{j} = {iarg}")
            ctx.line(f"if {j} < 0:")
            with ctx.block():
                ctx.line(f"{j} += {n}")
            src[ax] = j
        for d, i in zip(rest, r_idx):
            src[d] = i
        body(_idx(src), _idx(idx))


def _gather(ctx, eqn, args):
    x, *idxs = args
    out = eqn.out_binders[0].aval
    name = ctx.fresh("g")
    if out.ndim == 0:   # rank-0 results are scalars: no loop, no array
        _gather_loops(ctx, eqn, eqn.inputs[0].aval, idxs, eqn.params["axes"],
                      lambda src, dst: ctx.line(f"{name} = {x}[{src}]"))
        return [name]
    ctx.line(f"{name} = {ctx.empty(out.shape, out.dtype)}")
    _gather_loops(ctx, eqn, eqn.inputs[0].aval, idxs, eqn.params["axes"],
                  lambda src, dst: ctx.line(f"{name}[{dst}] = {x}[{src}]"))
    return [name]


def _scatter(op):
    def rule(ctx, eqn, args):
        x, *idxs, upd = args
        name = ctx.fresh("sc")
        ctx.line(f"{name} = _rt.copy({x})")
        upd_scalar = eqn.inputs[-1].aval.ndim == 0

        def body(src, dst):
            u = upd if upd_scalar else f"{upd}[{dst}]"
            ctx.line(f"{name}[{src}] {op} {u}")
        _gather_loops(ctx, eqn, eqn.inputs[0].aval, idxs, eqn.params["axes"], body)
        return [name]
    return rule


register("gather", _gather)
register("scatter_add", _scatter("+="))
register("scatter", _scatter("="))
register("scatter_mul", _scatter("*="))


def _clamped_starts(ctx, shape, sizes, starts):
    names = []
    for n, k, s in zip(shape, sizes, starts):
        j = ctx.fresh("st")
        ctx.line(f"{j} = min(max(np.int64({s}), 0), {n - k})")
        names.append(j)
    return names


def _dynamic_slice(ctx, eqn, args):
    x, *starts = args
    sizes = eqn.params["slice_sizes"]
    if not sizes:
        return [x]
    st = _clamped_starts(ctx, eqn.inputs[0].aval.shape, sizes, starts)
    name = ctx.fresh("ds")
    sl = ", ".join(f"{s}:{s} + {k}" for s, k in zip(st, sizes))
    ctx.line(f"{name} = np.ascontiguousarray({x}[{sl}])")
    return [name]


def _dynamic_update_slice(ctx, eqn, args):
    x, upd, *starts = args
    sizes = eqn.inputs[1].aval.shape
    if eqn.inputs[0].aval.ndim == 0:
        return [upd]
    st = _clamped_starts(ctx, eqn.inputs[0].aval.shape, sizes, starts)
    name = ctx.fresh("dus")
    ctx.line(f"{name} = _rt.copy({x})")
    if eqn.inputs[1].aval.size:
        with ctx.loop(sizes) as idx:
            at = ", ".join(f"{s} + {i}" for s, i in zip(st, idx))
            ctx.line(f"{name}[{at}] = {upd}[{_idx(idx)}]")
    return [name]


register("dynamic_slice", _dynamic_slice)
register("dynamic_update_slice", _dynamic_update_slice)

# -- arg-reductions and cumsum -------------------------------------------------------------------


def _arg(op):
    def rule(ctx, eqn, args):
        (x,), aval = args, eqn.inputs[0].aval
        axis = eqn.params["axis"]
        out = eqn.out_binders[0].aval
        name = ctx.fresh("arg")
        outer = [n for d, n in enumerate(aval.shape) if d != axis]
        if outer:
            ctx.line(f"{name} = {ctx.empty(out.shape, out.dtype)}")
        with ctx.loop(outer) as idx:
            def at(k):
                full = list(idx)
                full.insert(axis, k)
                return _idx(full)
            best, bi, v = ctx.fresh("best"), ctx.fresh("bi"), ctx.fresh("v")
            ctx.line(f"{best} = {x}[{at('0')}]")
            ctx.line(f"{bi} = 0")
            k = ctx.fresh("k")
            ctx.line(f"for {k} in range(1, {aval.shape[axis]}):")
            with ctx.block():
                ctx.line(f"{v} = {x}[{at(k)}]")
                # The first NaN wins, as in NumPy.
                ctx.line(f"if ({v} {op} {best} and {best} == {best}) or "
                         f"({v} != {v} and {best} == {best}):")
                with ctx.block():
                    ctx.line(f"{best} = {v}")
                    ctx.line(f"{bi} = {k}")
            if outer:
                ctx.line(f"{name}[{_idx(idx)}] = {bi}")
            else:
                ctx.line(f"{name} = {ctx.dtype(out.dtype)}({bi})")
        return [name]
    return rule


def _cumsum(ctx, eqn, args):
    (x,), aval = args, eqn.inputs[0].aval
    axis, reverse = eqn.params["axis"], eqn.params["reverse"]
    name = ctx.fresh("cs")
    ctx.line(f"{name} = {ctx.empty(aval.shape, aval.dtype)}")
    outer = [n for d, n in enumerate(aval.shape) if d != axis]
    n = aval.shape[axis]
    with ctx.loop(outer) as idx:
        acc, k = ctx.fresh("acc"), ctx.fresh("k")
        ctx.line(f"{acc} = {ctx.literal(0, aval.dtype)}")
        rng = f"range({n} - 1, -1, -1)" if reverse else f"range({n})"
        ctx.line(f"for {k} in {rng}:")
        full = list(idx)
        full.insert(axis, k)
        with ctx.block():
            ctx.line(f"{acc} += {x}[{_idx(full)}]")
            ctx.line(f"{name}[{_idx(full)}] = {acc}")
    return [name]


def _argsort(ctx, eqn, args):
    """A stable bottom-up merge sort of each line along `axis` (NaNs last, as NumPy)."""
    (x,), aval = args, eqn.inputs[0].aval
    axis = eqn.params["axis"]
    out = eqn.out_binders[0].aval
    n = aval.shape[axis]
    name, perm, tmp = ctx.fresh("as"), ctx.fresh("perm"), ctx.fresh("tmp")
    ctx.line(f"{name} = {ctx.empty(out.shape, out.dtype)}")
    ctx.line(f"{perm} = {ctx.empty((n,), np.int64)}")
    ctx.line(f"{tmp} = {ctx.empty((n,), np.int64)}")
    outer = [m for d, m in enumerate(aval.shape) if d != axis]
    k, w, lo, mid, hi = (ctx.fresh(h) for h in ("k", "w", "lo", "mid", "hi"))
    i, j, o, vi, vj = (ctx.fresh(h) for h in ("i", "j", "o", "vi", "vj"))
    with ctx.loop(outer) as idx:
        def at(e):
            full = list(idx)
            full.insert(axis, e)
            return _idx(full)
        ctx.line(f"for {k} in range({n}):")
        with ctx.block():
            ctx.line(f"{perm}[{k}] = {k}")
        ctx.line(f"{w} = 1")
        ctx.line(f"while {w} < {n}:")
        with ctx.block():
            ctx.line(f"{lo} = 0")
            ctx.line(f"while {lo} < {n}:")
            with ctx.block():
                ctx.line(f"{mid} = min({lo} + {w}, {n})")
                ctx.line(f"{hi} = min({lo} + 2 * {w}, {n})")
                ctx.line(f"{i} = {lo}")
                ctx.line(f"{j} = {mid}")
                ctx.line(f"for {o} in range({lo}, {hi}):")
                with ctx.block():
                    # Take from the left run unless the right value is strictly smaller
                    # (stability); NaN is larger than everything.
                    ctx.line(f"if {i} < {mid} and {j} < {hi}:")
                    with ctx.block():
                        ctx.line(f"{vi} = {x}[{at(f'{perm}[{i}]')}]")
                        ctx.line(f"{vj} = {x}[{at(f'{perm}[{j}]')}]")
                        ctx.line(f"if {vj} < {vi} or ({vi} != {vi} and {vj} == {vj}):")
                        with ctx.block():
                            ctx.line(f"{tmp}[{o}] = {perm}[{j}]")
                            ctx.line(f"{j} += 1")
                        ctx.line("else:")
                        with ctx.block():
                            ctx.line(f"{tmp}[{o}] = {perm}[{i}]")
                            ctx.line(f"{i} += 1")
                    ctx.line(f"elif {i} < {mid}:")
                    with ctx.block():
                        ctx.line(f"{tmp}[{o}] = {perm}[{i}]")
                        ctx.line(f"{i} += 1")
                    ctx.line("else:")
                    with ctx.block():
                        ctx.line(f"{tmp}[{o}] = {perm}[{j}]")
                        ctx.line(f"{j} += 1")
                ctx.line(f"{lo} += 2 * {w}")
            ctx.line(f"for {k} in range({n}):")
            with ctx.block():
                ctx.line(f"{perm}[{k}] = {tmp}[{k}]")
            ctx.line(f"{w} *= 2")
        ctx.line(f"for {k} in range({n}):")
        with ctx.block():
            ctx.line(f"{name}[{at(k)}] = {perm}[{k}]")
    return [name]


register("argsort", _argsort)
register("argmax", _arg(">"))
register("argmin", _arg("<"))
register("cumsum", _cumsum)

# -- dot_general: BLAS through np.dot for big float products, loops otherwise ----------------

_BLAS_MIN_FLOPS = 4096


def _canonical(ctx, x, aval, first, second, third, shape3):
    """`x` with dims (first, second, third) as a C-contiguous or transposed 3/2-d view."""
    perm = (*first, *second, *third)
    t = ctx.fresh("v")
    if perm == tuple(range(aval.ndim)):
        ctx.line(f"{t} = {ctx.reshape(x, shape3)}")
    else:
        tr = f"np.ascontiguousarray({x}.transpose({_shape(perm)}))"
        ctx.line(f"{t} = {ctx.reshape(tr, shape3)}")
    return t


def _dot_general(ctx, eqn, args):
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    la, ra = eqn.inputs[0].aval, eqn.inputs[1].aval
    out = eqn.out_binders[0].aval
    x, y = args
    lf = [d for d in range(la.ndim) if d not in lc and d not in lb]
    rf = [d for d in range(ra.ndim) if d not in rc and d not in rb]
    B = int(np.prod([la.shape[d] for d in lb], dtype=np.int64))
    M = int(np.prod([la.shape[d] for d in lf], dtype=np.int64))
    K = int(np.prod([la.shape[d] for d in lc], dtype=np.int64))
    N = int(np.prod([ra.shape[d] for d in rf], dtype=np.int64))
    name = ctx.fresh("dot")
    if la.ndim == 0 or ra.ndim == 0:
        a = x if la.ndim == 0 else y
        b = y if la.ndim == 0 else x
        ctx.line(f"{name} = {b} * {a}" if out.ndim else f"{name} = {a} * {b}")
        if out.ndim:
            ctx.line(f"{name} = np.ascontiguousarray({name})")
        return [name]
    blas = (out.dtype.kind == "f" and M * N * K >= _BLAS_MIN_FLOPS and M > 1 and N > 1
            and B <= 64)
    if blas and not lb:
        a, ta = _operand2d(ctx, x, la, lf, lc, (M, K))
        b, tb = _operand2d(ctx, y, ra, rc, rf, (K, N))
        call = f"_rt.dot_{'t' if ta else 'n'}{'t' if tb else 'n'}({a}, {b})"
        ctx.line(f"{name} = {ctx.reshape(call, out.shape) if out.shape != (M, N) else call}")
        return [name]
    if not blas:
        return [_dot_loops(ctx, eqn, x, y, lf, rf)]
    a = _canonical(ctx, x, la, lb, lf, lc, (B, M, K))
    b = _canonical(ctx, y, ra, rb, rc, rf, (B, K, N))
    r3 = ctx.fresh("d3")
    ctx.line(f"{r3} = {ctx.empty((B, M, N), out.dtype)}")
    bi = ctx.fresh("b")
    ctx.line(f"for {bi} in range({B}):")
    with ctx.block():
        ctx.line(f"{r3}[{bi}] = _rt.dot_nn({a}[{bi}], {b}[{bi}])")
    ctx.line(f"{name} = {ctx.reshape(r3, out.shape)}")
    return [name]


def _dot_loops(ctx, eqn, x, y, lf, rf) -> str:
    """Small or integer products: one loop nest over the original layouts (no copies)."""
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    la, ra = eqn.inputs[0].aval, eqn.inputs[1].aval
    out = eqn.out_binders[0].aval
    name = ctx.fresh("dot")
    zero = ctx.literal(0, out.dtype)
    ctx.line(f"{name} = {ctx.full(out.shape, zero, out.dtype) if out.ndim else zero}")
    sizes = ([la.shape[d] for d in lb] + [la.shape[d] for d in lf]
             + [la.shape[d] for d in lc] + [ra.shape[d] for d in rf])
    with ctx.loop(sizes) as idx:
        nb, nf, nc = len(lb), len(lf), len(lc)
        bi, fi, ci, ri = idx[:nb], idx[nb:nb + nf], idx[nb + nf:nb + nf + nc], idx[nb + nf + nc:]
        xi = [bi[lb.index(d)] if d in lb else fi[lf.index(d)] if d in lf else ci[lc.index(d)]
              for d in range(la.ndim)]
        yi = [bi[rb.index(d)] if d in rb else ri[rf.index(d)] if d in rf else ci[rc.index(d)]
              for d in range(ra.ndim)]
        acc = f"{name}[{_idx(bi + fi + ri)}]" if out.ndim else name
        ctx.line(f"{acc} += {x}[{_idx(xi)}] * {y}[{_idx(yi)}]")
    return name


def _operand2d(ctx, x, aval, rows, cols, shape2):
    """(expression, transposed): a 2-d C array, or one whose transpose BLAS should use."""
    if list(rows) + list(cols) == list(range(aval.ndim)):
        return (ctx.reshape(x, shape2) if aval.shape != shape2 else x), False
    if aval.ndim == 2:
        return x, True
    return _canonical(ctx, x, aval, (), rows, cols, shape2), False


register("dot_general", _dot_general)

# -- linear algebra: LAPACK through Numba's np.linalg, looped over leading dims ---------------


def _batched(fn_name, n_out=1):
    def rule(ctx, eqn, args):
        a_aval = eqn.inputs[0].aval
        lead = a_aval.shape[:-2]
        B = int(np.prod(lead, dtype=np.int64))
        outs_avals = [v.aval for v in eqn.out_binders]
        names = [ctx.fresh(fn_name[:4]) for _ in outs_avals]
        if not lead:
            call = f"_rt.{fn_name}({', '.join(args)})"
            if n_out == 1:
                ctx.line(f"{names[0]} = {call}")
            else:
                ctx.line(f"{', '.join(names)} = {call}")
            return names
        flat = []
        for a, v in zip(args, eqn.inputs):
            t = ctx.fresh("m")
            ctx.line(f"{t} = {ctx.reshape(a, (B, *v.aval.shape[-2:]))}")
            flat.append(t)
        for nm, o in zip(names, outs_avals):
            ctx.line(f"{nm} = {ctx.empty((B, *o.shape[len(lead):]), o.dtype)}")
        bi = ctx.fresh("b")
        ctx.line(f"for {bi} in range({B}):")
        with ctx.block():
            call = f"_rt.{fn_name}({', '.join(f'{t}[{bi}]' for t in flat)})"
            if n_out == 1:
                ctx.line(f"{names[0]}[{bi}] = {call}")
            else:
                tmp = [ctx.fresh("o") for _ in names]
                ctx.line(f"{', '.join(tmp)} = {call}")
                for nm, t in zip(names, tmp):
                    ctx.line(f"{nm}[{bi}] = {t}")
        return [ctx_reshape(ctx, nm, o.shape) for nm, o in zip(names, outs_avals)]
    return rule


def ctx_reshape(ctx, name, shape) -> str:
    """Reshape a freshly computed C array to `shape` (a new name)."""
    r = ctx.fresh("r")
    ctx.line(f"{r} = {ctx.reshape(name, shape) if shape else name}")
    return r


register("solve", _batched("solve"))
register("det", _batched("det"))
register("slogdet", _batched("slogdet", n_out=2))
register("cholesky", _batched("cholesky"))
register("eigh", _batched("eigh", n_out=2))
register("qr", _batched("qr", n_out=2))
_svd_reduced, _svd_full = _batched("svd", n_out=3), _batched("svd_full", n_out=3)
register("svd", lambda ctx, eqn, args: (_svd_full if eqn.params["full_matrices"]
                                        else _svd_reduced)(ctx, eqn, args))
_eig_rules = {(kind, vectors): _batched(f"{'eig' if vectors else 'eigvals'}_{kind}",
                                        n_out=2 if vectors else 1)
              for kind in ("f64", "f32", "complex") for vectors in (True, False)}


def _eig(ctx, eqn, args):
    kind = {"float64": "f64", "float32": "f32"}.get(eqn.inputs[0].aval.dtype.name, "complex")
    return _eig_rules[kind, eqn.params["vectors"]](ctx, eqn, args)


register("eig", _eig)


def _eig_vectors_tangent(ctx, eqn, args):
    from funcad.primitives.decompositions import EIG_VECTORS_MESSAGE
    raise NotImplementedError(EIG_VECTORS_MESSAGE)


register("eig_vectors_tangent", _eig_vectors_tangent)

# -- calls: emit the body in place (normally they are inlined before planning) --------------


def _call(ctx, eqn, args):
    return ctx.emit_jaxpr(eqn.params["jaxpr"], args)


_call.emits_body_only = True


register("jit", _call)
register("closed_call", _call)


def check_all_lowered() -> list[str]:
    """Names of primitives that still lack a Numba lowering rule."""
    missing = []
    for name, p in all_primitives.items():
        rule = lowering_rules.get(p)
        if rule is None or (isinstance(rule, str) and "{" not in rule):
            missing.append(name)
    return missing


__all__ = ["check_all_lowered", "register", "LoweringError"]
from funcad.lowering.numba import special_rules as _special_rules  # noqa: E402,F401
from funcad.lowering.numba import linalg_more_rules as _linalg_more_rules  # noqa: E402,F401
