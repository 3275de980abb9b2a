"""Vectorisation (vmap): each tracer carries a value with one extra, mapped axis."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

from funcad._core import (
    ConcretizationTypeError,
    ShapedArray,
    Trace,
    Tracer,
    batch_rules,
    concretization_message,
    get_aval,
    new_main,
)
from funcad._ir import Jaxpr

not_mapped = None


class BatchTracer(Tracer):
    """A batch of values; `bdim` is the mapped axis of `val` (None: same for all)."""

    __slots__ = ("val", "bdim")

    def __init__(self, trace: Trace, val: Any, bdim: int | None):
        self._trace = trace
        self.val = val
        self.bdim = bdim

    @property
    def aval(self) -> ShapedArray:
        aval = get_aval(self.val)
        if self.bdim is None:
            return aval
        shape = list(aval.shape)
        del shape[self.bdim]
        return ShapedArray(tuple(shape), aval.dtype)

    def to_concrete(self, why: str) -> Any:
        if self.bdim is None:
            v = self.val
            return v.to_concrete(why) if isinstance(v, Tracer) else v
        raise ConcretizationTypeError(
            concretization_message(self, why) + " (Inside vmap the value differs between "
            "batch elements, so no single Python value exists.)")


class BatchTrace(Trace):
    """Applies each primitive's batching rule."""

    __slots__ = ()

    @property
    def axis_size(self) -> int:
        return self.main.payload

    def pure(self, val: Any) -> BatchTracer:
        return BatchTracer(self, val, not_mapped)

    lift = pure

    def process_primitive(self, prim, tracers, params):
        vals = [t.val for t in tracers]
        dims = [t.bdim for t in tracers]
        if all(d is None for d in dims):
            out = prim.bind(*vals, **params)
            if prim.multiple_results:
                return [BatchTracer(self, o, None) for o in out]
            return BatchTracer(self, out, None)
        rule = batch_rules.get(prim)
        if rule is None:
            raise NotImplementedError(f"batching rule for '{prim.name}' is not implemented")
        out, out_dim = rule(self.axis_size, vals, dims, **params)
        if prim.multiple_results:
            return [BatchTracer(self, o, d) for o, d in zip(out, out_dim, strict=True)]
        return BatchTracer(self, out, out_dim)


def vmap_flat(fun: Callable, axis_size: int, args: Sequence, in_dims: Sequence,
              out_dims: Sequence | None = None) -> tuple[list, list]:
    """Batch a function of flat lists. Returns outputs and their batch dims."""
    with new_main(BatchTrace, axis_size) as main:
        trace = main.trace
        tracers = [BatchTracer(trace, a, d) if d is not None else a
                   for a, d in zip(args, in_dims, strict=True)]
        outs = fun(*tracers)
        out_tracers = [trace.full_raise(o) for o in outs]
        vals = [t.val for t in out_tracers]
        dims = [t.bdim for t in out_tracers]
    return vals, dims


# Helpers for batching rules ---------------------------------------------------------


def moveaxis(x: Any, src: int | None, dst: int, size: int) -> Any:
    """Move batch dim `src` of `x` to `dst`, broadcasting if `x` is unbatched."""
    from funcad.primitives.structural import broadcast_in_dim, transpose
    aval = get_aval(x)
    if src is None:
        shape = list(aval.shape)
        shape.insert(dst, size)
        dims = tuple(i for i in range(len(shape)) if i != dst)
        return broadcast_in_dim(x, tuple(shape), dims)
    if src == dst:
        return x
    perm = list(range(aval.ndim))
    perm.pop(src)
    perm.insert(dst, src)
    return transpose(x, tuple(perm))


def bdim_at_front(x: Any, bdim: int | None, size: int) -> Any:
    return moveaxis(x, bdim, 0, size)


def batch_jaxpr(jaxpr: Jaxpr, axis_size: int, in_batched: Sequence[bool],
                instantiate: bool | Sequence[bool]) -> tuple[Jaxpr, list[bool]]:
    """Batch a constvar-free jaxpr along a leading axis of its batched inputs.

    Batched outputs have their batch dim at 0. Returns (jaxpr, out_batched).
    """
    from funcad._ir import eval_jaxpr
    from funcad.interpreters.partial_eval import trace_to_jaxpr_flat
    from funcad.interpreters.ad import _close_over_consts
    if isinstance(instantiate, bool):
        instantiate = [instantiate] * len(jaxpr.outvars)
    out_batched: list[bool] = []

    def fun(*args):
        outs, dims = vmap_flat(lambda *xs: eval_jaxpr(jaxpr, (), xs), axis_size, args,
                               [0 if b else None for b in in_batched])
        out_batched.clear()
        res = []
        for o, d, inst in zip(outs, dims, instantiate, strict=True):
            if d is None and not inst:
                out_batched.append(False)
                res.append(o)
            else:
                out_batched.append(True)
                res.append(moveaxis(o, d, 0, axis_size))
        return res

    in_avals = [ShapedArray((axis_size, *a.shape), a.dtype) if b else a
                for a, b in zip(jaxpr.in_avals, in_batched, strict=True)]
    new_jaxpr, consts = trace_to_jaxpr_flat(fun, in_avals)
    batched = dataclasses.replace(
        _close_over_consts(new_jaxpr, consts),
        batched_from=(jaxpr, axis_size, tuple(in_batched), tuple(out_batched)))
    return batched, list(out_batched)
