"""Numba lowering rules for the primitives of funcad.random (see codegen.py for the kinds).

- `threefry2x32` is elementwise (a `ScalarRule`): its 20 rounds become straight-line
  integer statements inside the fused loop body. Numba widens uint32 arithmetic to uint64,
  so every word is kept in a uint64 and masked back to 32 bits after each addition and
  rotation; the two output words are packed as `(y1 << 32) | y2`.
- `argsort` is a statement rule: a loop over the leading axes calling Numba's stable
  `np.argsort(..., kind="mergesort")` on each row.
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


def _argsort(ctx, eqn, args):
    (x,), aval = args, eqn.inputs[0].aval
    n = aval.shape[-1]
    rows = int(np.prod(aval.shape[:-1], dtype=np.int64))
    flat, out, r = ctx.fresh("m"), ctx.fresh("srt"), ctx.fresh("r")
    ctx.line(f"{flat} = {ctx.reshape(x, (rows, n))}")
    ctx.line(f"{out} = {ctx.empty((rows, n), np.int64)}")
    ctx.line(f"for {r} in range({rows}):")
    with ctx.block():
        ctx.line(f'{out}[{r}] = np.argsort({flat}[{r}], kind="mergesort")')
    res = ctx.fresh("r")
    ctx.line(f"{res} = {ctx.reshape(out, aval.shape)}")
    return [res]


register("threefry2x32", ScalarRule(_threefry2x32))
register("argsort", _argsort)
