"""Numba lowering rules for funcad.random's primitives, lu and fft (codegen.py: rule kinds).

- `threefry2x32` is elementwise (a `ScalarRule`): its 20 rounds become straight-line
  integer statements inside the fused loop body. Numba widens uint32 arithmetic to uint64,
  so every word is kept in a uint64 and masked back to 32 bits after each addition and
  rotation; the two output words are packed as `(y1 << 32) | y2`.
(argsort and eigh, which funcad.random and funcad.scipy use, have their rules with the
core primitives in rules.py.)
- `lu`: a generated pivoting loop; `fft`: calls of the native FFT helpers of _runtime.py
  (the Python driver's _pyruntime.py calls NumPy's FFT under the same names).
"""

from __future__ import annotations

import numpy as np

from funcad.lowering.numba.codegen import ScalarRule
from funcad.lowering.numba.rules import register
from funcad.primitives.prng import THREEFRY_PARITY, THREEFRY_ROTATIONS


def _threefry2x32(ctx, eqn, args):
    u = "np.uint64"
    mask = f"{u}(0xFFFFFFFF)"
    k = [ctx.fresh("tfk") for _ in range(3)]
    x = [ctx.fresh("tfx"), ctx.fresh("tfy")]
    ctx.line(f"{k[0]} = {u}({args[0]})")
    ctx.line(f"{k[1]} = {u}({args[1]})")
    ctx.line(f"{k[2]} = {k[0]} ^ {k[1]} ^ {u}({THREEFRY_PARITY})")
    ctx.line(f"{x[0]} = ({u}({args[2]}) + {k[0]}) & {mask}")
    ctx.line(f"{x[1]} = ({u}({args[3]}) + {k[1]}) & {mask}")
    for i in range(5):
        for r in THREEFRY_ROTATIONS[i % 2]:
            ctx.line(f"{x[0]} = ({x[0]} + {x[1]}) & {mask}")
            ctx.line(f"{x[1]} = ((({x[1]} << {u}({r})) | ({x[1]} >> {u}({32 - r}))) & {mask})"
                     f" ^ {x[0]}")
        ctx.line(f"{x[0]} = ({x[0]} + {k[(i + 1) % 3]}) & {mask}")
        ctx.line(f"{x[1]} = ({x[1]} + {k[(i + 2) % 3]} + {u}({i + 1})) & {mask}")
    return f"(({x[0]} << {u}(32)) | {x[1]})"


register("threefry2x32", ScalarRule(_threefry2x32))


def _lu(ctx, eqn, args):
    # Right-looking LU with partial pivoting, the same operations in the same order as
    # funcad.primitives.decompositions.lu_factor_numpy (the eager impl), so both pick the
    # same pivots.
    # A [..., m, n] matrix: min(m, n) steps, m rows to pivot among (non-square as well).
    aval = eqn.inputs[0].aval
    rows, n = aval.shape[-2:]
    batch = int(np.prod(aval.shape[:-2], dtype=np.int64))
    flat = ctx.fresh("m")
    ctx.line(f"{flat} = {ctx.reshape(args[0], (batch, rows, n))}")
    steps = min(rows, n)
    lu_aval, piv_aval, perm_aval = (v.aval for v in eqn.out_binders)
    lu, piv, perm = ctx.fresh("lu"), ctx.fresh("piv"), ctx.fresh("perm")
    b, k, i, j, p, best, tmp = (ctx.fresh(h) for h in ("b", "k", "i", "j", "p", "best", "tmp"))
    ctx.line(f"{lu} = {flat}.copy()")
    ctx.line(f"{perm} = {ctx.empty((batch, rows), np.int64)}")
    ctx.line(f"{piv} = {ctx.empty((batch, steps), np.int64)}")
    ctx.line(f"for {b} in range({batch}):")
    with ctx.block():
        ctx.line(f"for {i} in range({rows}):")
        with ctx.block():
            ctx.line(f"{perm}[{b}, {i}] = {i}")
        ctx.line(f"for {k} in range({steps}):")
        with ctx.block():
            ctx.line(f"{p} = {k}")
            ctx.line(f"{best} = abs({lu}[{b}, {k}, {k}])")
            ctx.line(f"for {i} in range({k} + 1, {rows}):")
            with ctx.block():
                ctx.line(f"if abs({lu}[{b}, {i}, {k}]) > {best}:")
                with ctx.block():
                    ctx.line(f"{best} = abs({lu}[{b}, {i}, {k}])")
                    ctx.line(f"{p} = {i}")
            ctx.line(f"{piv}[{b}, {k}] = {p}")
            ctx.line(f"if {p} != {k}:")
            with ctx.block():
                ctx.line(f"for {j} in range({n}):")
                with ctx.block():
                    ctx.line(f"{tmp} = {lu}[{b}, {k}, {j}]")
                    ctx.line(f"{lu}[{b}, {k}, {j}] = {lu}[{b}, {p}, {j}]")
                    ctx.line(f"{lu}[{b}, {p}, {j}] = {tmp}")
                ctx.line(f"{tmp} = {perm}[{b}, {k}]")
                ctx.line(f"{perm}[{b}, {k}] = {perm}[{b}, {p}]")
                ctx.line(f"{perm}[{b}, {p}] = {tmp}")
            ctx.line(f"if {lu}[{b}, {k}, {k}] != 0:")
            with ctx.block():
                ctx.line(f"for {i} in range({k} + 1, {rows}):")
                with ctx.block():
                    ctx.line(f"{lu}[{b}, {i}, {k}] = {lu}[{b}, {i}, {k}] / {lu}[{b}, {k}, {k}]")
            ctx.line(f"for {i} in range({k} + 1, {rows}):")
            with ctx.block():
                ctx.line(f"for {j} in range({k} + 1, {n}):")
                with ctx.block():
                    ctx.line(f"{lu}[{b}, {i}, {j}] = {lu}[{b}, {i}, {j}] - "
                             f"{lu}[{b}, {i}, {k}] * {lu}[{b}, {k}, {j}]")
    outs = []
    for name, aval in ((lu, lu_aval), (piv, piv_aval), (perm, perm_aval)):
        r = ctx.fresh("r")
        ctx.line(f"{r} = {ctx.reshape(name, aval.shape) if aval.shape else name}")
        outs.append(r)
    return outs


register("lu", _lu)


# -- fft: the native FFT of _runtime.py (Numba has no np.fft), one axis at a time ------------


def _fft(ctx, eqn, args):
    """Transform the trailing axes one by one: each is the middle axis of a 3-d view
    (before, n, after) for `_rt.fft_axis`; RFFT starts with `_rt.rfft_last` on the last
    axis, IRFFT ends with `_rt.irfft_last`. The helpers compute in complex128."""
    aval, out = eqn.inputs[0].aval, eqn.out_binders[0].aval
    fft_type, lengths = eqn.params["fft_type"], tuple(eqn.params["fft_lengths"])
    nd, k = aval.ndim, len(lengths)
    cur, shape = args[0], list(aval.shape)

    def prod(dims):
        return int(np.prod(dims, dtype=np.int64))

    def c2c(cur, shape, axis, inverse):
        t = ctx.fresh("ft")
        view = ctx.reshape(cur, (prod(shape[:axis]), shape[axis], prod(shape[axis + 1:])))
        ctx.line(f"{t} = _rt.fft_axis({view}, {inverse})")
        return t

    if fft_type == "RFFT":
        n = shape[-1]
        t = ctx.fresh("ft")
        ctx.line(f"{t} = _rt.rfft_last({ctx.reshape(cur, (prod(shape[:-1]), n))})")
        cur, shape[-1] = t, n // 2 + 1
        for axis in range(nd - k, nd - 1):
            cur = c2c(cur, shape, axis, False)
    elif fft_type == "IRFFT":
        for axis in range(nd - k, nd - 1):
            cur = c2c(cur, shape, axis, True)
        t = ctx.fresh("ft")
        view = ctx.reshape(cur, (prod(shape[:-1]), shape[-1]))
        ctx.line(f"{t} = _rt.irfft_last({view}, {lengths[-1]})")
        cur, shape[-1] = t, lengths[-1]
    else:
        for axis in range(nd - k, nd):
            cur = c2c(cur, shape, axis, fft_type == "IFFT")
    name = ctx.fresh("fft")
    res = ctx.reshape(cur, out.shape)
    if out.dtype in (np.complex64, np.float32):
        res = f"{res}.astype({ctx.dtype(out.dtype)})"
    ctx.line(f"{name} = {res}")
    return [name]


register("fft", _fft)
