"""Numba lowering rules of funcad/primitives/linalg_more.py.

- `tridiagonal_solve`: a generated loop, LAPACK's gtsv algorithm (elimination with partial
  pivoting on the band, a second superdiagonal of fill-in, back substitution), the same
  operations in the same order as the LAPACK routine the eager impl calls; a zero pivot
  gives NaNs for that system (as JAX). perturb_singular=True calls the compiled helper
  `_rt.tridiagonal_solve_perturbed` (JAX's CPU kernel), as the eager impl does.
- `hessenberg`, `tridiagonal`, `schur`: LAPACK's gehrd, sytrd/hetrd and gees, which Numba
  does not bind, through SciPy from the program's Python driver (`_rt.host_*` in
  _pyruntime.py, the eager impls): a driver-only rule, like host callbacks, so a program
  using them has a Python driver, and a scan/while whose body uses them runs as a Python
  loop in the driver. They have no derivatives, so they only appear in forward programs.
"""

from __future__ import annotations

import numpy as np

from funcad.lowering.numba.rules import register
from funcad.primitives.linalg_more import perturbed_constants


def _tridiagonal_solve(ctx, eqn, args):
    b_aval = eqn.inputs[3].aval
    m, k = b_aval.shape[-2:]
    batch = int(np.prod(b_aval.shape[:-2], dtype=np.int64))
    dt = b_aval.dtype
    cplx = dt.kind == "c"
    out = ctx.fresh("x")
    if batch * m * k == 0:
        ctx.line(f"{out} = {ctx.empty(b_aval.shape, dt)}")
        return [out]
    fl, fd, fu, fb = (ctx.fresh(h) for h in ("dl", "d", "du", "b"))
    for name, a in zip((fl, fd, fu), args[:3]):
        ctx.line(f"{name} = {ctx.reshape(a, (batch, m))}")
    ctx.line(f"{fb} = {ctx.reshape(args[3], (batch, m, k))}")
    if eqn.params.get("perturb_singular", False):
        # JAX's perturbed CPU kernel, a cached Numba helper (the eager impl calls it too)
        eps, safemin = perturbed_constants(dt)
        ctx.line(f"{out} = _rt.tridiagonal_solve_perturbed({fl}, {fd}, {fu}, {fb}, "
                 f"{eps!r}, {safemin!r})")
        r = ctx.fresh("r")
        ctx.line(f"{r} = {ctx.reshape(out, b_aval.shape)}")
        return [r]
    wl, wd, wu = (ctx.fresh(h) for h in ("wl", "wd", "wu"))
    bi, i, j, fact, tmp, sing = (ctx.fresh(h) for h in ("bi", "i", "j", "f", "t", "sing"))
    ctx.line(f"{out} = {ctx.empty((batch, m, k), dt)}")
    for w in (wl, wd, wu):
        ctx.line(f"{w} = {ctx.empty((batch, m), dt)}")

    def mag(x):   # LAPACK's pivot comparison: |x| (complex: |re| + |im|, CABS1)
        return f"(abs({x}.real) + abs({x}.imag))" if cplx else f"abs({x})"

    zero = ctx.literal(0, dt)
    ctx.line(f"for {bi} in range({batch}):")
    with ctx.block():
        ctx.line(f"for {i} in range({m}):")
        with ctx.block():
            ctx.line(f"{wd}[{bi}, {i}] = {fd}[{bi}, {i}]")
            ctx.line(f"{wu}[{bi}, {i}] = {fu}[{bi}, {i}]")
            ctx.line(f"{wl}[{bi}, {i}] = {fl}[{bi}, {i} + 1] if {i} + 1 < {m} else {zero}")
            ctx.line(f"for {j} in range({k}):")
            with ctx.block():
                ctx.line(f"{out}[{bi}, {i}, {j}] = {fb}[{bi}, {i}, {j}]")
        ctx.line(f"{sing} = False")
        ctx.line(f"for {i} in range({m - 1}):")
        with ctx.block():
            ctx.line(f"if not {sing}:")
            with ctx.block():
                ctx.line(f"if {mag(f'{wd}[{bi}, {i}]')} >= {mag(f'{wl}[{bi}, {i}]')}:")
                with ctx.block():     # no row interchange
                    ctx.line(f"if {wd}[{bi}, {i}] != {zero}:")
                    with ctx.block():
                        ctx.line(f"{fact} = {wl}[{bi}, {i}] / {wd}[{bi}, {i}]")
                        ctx.line(f"{wd}[{bi}, {i} + 1] = {wd}[{bi}, {i} + 1] - {fact} * "
                                 f"{wu}[{bi}, {i}]")
                        ctx.line(f"for {j} in range({k}):")
                        with ctx.block():
                            ctx.line(f"{out}[{bi}, {i} + 1, {j}] = {out}[{bi}, {i} + 1, {j}] - "
                                     f"{fact} * {out}[{bi}, {i}, {j}]")
                    ctx.line("else:")
                    with ctx.block():
                        ctx.line(f"{sing} = True")
                    ctx.line(f"{wl}[{bi}, {i}] = {zero}")
                ctx.line("else:")
                with ctx.block():     # interchange rows i and i + 1
                    ctx.line(f"{fact} = {wd}[{bi}, {i}] / {wl}[{bi}, {i}]")
                    ctx.line(f"{wd}[{bi}, {i}] = {wl}[{bi}, {i}]")
                    ctx.line(f"{tmp} = {wd}[{bi}, {i} + 1]")
                    ctx.line(f"{wd}[{bi}, {i} + 1] = {wu}[{bi}, {i}] - {fact} * {tmp}")
                    ctx.line(f"if {i} + 2 < {m}:")
                    with ctx.block():   # fill-in: the second superdiagonal, kept in wl
                        ctx.line(f"{wl}[{bi}, {i}] = {wu}[{bi}, {i} + 1]")
                        ctx.line(f"{wu}[{bi}, {i} + 1] = -{fact} * {wl}[{bi}, {i}]")
                    ctx.line("else:")
                    with ctx.block():
                        ctx.line(f"{wl}[{bi}, {i}] = {zero}")
                    ctx.line(f"{wu}[{bi}, {i}] = {tmp}")
                    ctx.line(f"for {j} in range({k}):")
                    with ctx.block():
                        ctx.line(f"{tmp} = {out}[{bi}, {i}, {j}]")
                        ctx.line(f"{out}[{bi}, {i}, {j}] = {out}[{bi}, {i} + 1, {j}]")
                        ctx.line(f"{out}[{bi}, {i} + 1, {j}] = {tmp} - {fact} * "
                                 f"{out}[{bi}, {i} + 1, {j}]")
        ctx.line(f"if {sing} or {wd}[{bi}, {m - 1}] == {zero}:")
        with ctx.block():
            ctx.line(f"for {i} in range({m}):")
            with ctx.block():
                ctx.line(f"for {j} in range({k}):")
                with ctx.block():
                    ctx.line(f"{out}[{bi}, {i}, {j}] = np.nan")
        ctx.line("else:")
        with ctx.block():
            ctx.line(f"for {j} in range({k}):")
            with ctx.block():
                ctx.line(f"{out}[{bi}, {m - 1}, {j}] = {out}[{bi}, {m - 1}, {j}] / "
                         f"{wd}[{bi}, {m - 1}]")
                if m > 1:
                    ctx.line(f"{out}[{bi}, {m - 2}, {j}] = ({out}[{bi}, {m - 2}, {j}] - "
                             f"{wu}[{bi}, {m - 2}] * {out}[{bi}, {m - 1}, {j}]) / "
                             f"{wd}[{bi}, {m - 2}]")
                ctx.line(f"for {i} in range({m - 3}, -1, -1):")
                with ctx.block():
                    ctx.line(f"{out}[{bi}, {i}, {j}] = ({out}[{bi}, {i}, {j}] - "
                             f"{wu}[{bi}, {i}] * {out}[{bi}, {i} + 1, {j}] - "
                             f"{wl}[{bi}, {i}] * {out}[{bi}, {i} + 2, {j}]) / "
                             f"{wd}[{bi}, {i}]")
    r = ctx.fresh("r")
    ctx.line(f"{r} = {ctx.reshape(out, b_aval.shape)}")
    return [r]


register("tridiagonal_solve", _tridiagonal_solve)


def _host(fn_name, param_names=()):
    """A driver-only rule: `outs = _rt.<fn_name>(a, params...)` in the Python driver."""
    def rule(ctx, eqn, args):
        from funcad.lowering.numba.codegen import LoweringError
        if not ctx.driver_level:
            raise LoweringError(
                f"{eqn.primitive.name}: under jit it calls LAPACK through SciPy from the "
                f"program's Python driver, but this one sits in code compiled as one native "
                f"function (FUNCAD_DRIVER=numba, or a construct the driver does not run); "
                f"run with FUNCAD_DISABLE_JIT=1")
        names = [ctx.fresh("h") for _ in eqn.out_binders]
        extra = "".join(f", {eqn.params[p]!r}" for p in param_names)
        ctx.line(f"{', '.join(names)}, = _rt.{fn_name}({args[0]}{extra})")
        return names
    rule.driver_only = True
    return rule


register("hessenberg", _host("host_hessenberg"))
register("tridiagonal", _host("host_tridiagonal", ("lower",)))
register("schur", _host("host_schur", ("compute_schur_vectors",)))
