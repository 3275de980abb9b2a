"""The intermediate representation: variables, literals, equations and jaxprs.

A `Jaxpr` is a straight-line program in A-normal form. Higher-order primitives (calls,
loops, conditionals) keep their bodies as `Jaxpr`s in their params; those inner jaxprs
have no constvars: their constants are passed to them as ordinary operands.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from funcad import _core
from funcad._core import (
    ShapedArray,
    abstract_eval_rules,
    get_aval,
    Primitive,
)



class Var:
    """A variable of a jaxpr. Hashes by identity."""

    __slots__ = ("aval",)

    def __init__(self, aval: ShapedArray):
        self.aval = aval

    def __repr__(self) -> str:
        return f"Var({id(self) % 10000}:{self.aval.str_short()})"


class Literal:
    """A scalar constant written inline in a program."""

    __slots__ = ("val", "aval")

    def __init__(self, val: Any, aval: ShapedArray | None = None):
        aval = aval if aval is not None else get_aval(val)
        self.aval = ShapedArray((), aval.dtype)
        self.val = np.asarray(val, dtype=aval.dtype)[()]

    def __repr__(self) -> str:
        return f"Literal({self.val!r})"


Atom = Var | Literal


class JaxprEqn:
    """One equation: `out_binders = primitive[params](*inputs)`. Treated as immutable."""

    __slots__ = ("primitive", "inputs", "params", "out_binders")

    def __init__(self, primitive: Primitive, inputs: tuple[Atom, ...], params: dict[str, Any],
                 out_binders: tuple[Var, ...]):
        self.primitive = primitive
        self.inputs = inputs
        self.params = params
        self.out_binders = out_binders

    def __repr__(self) -> str:
        from funcad._pretty import pp_eqn
        return pp_eqn(self)


@dataclass(frozen=True, slots=True, eq=False)
class Jaxpr:
    """A program: constvars and invars in, equations, outvars out."""

    constvars: tuple[Var, ...]
    invars: tuple[Var, ...]
    eqns: tuple[JaxprEqn, ...]
    outvars: tuple[Atom, ...]
    #: `(jaxpr, axis_size, in_batched, out_batched)` when this program is
    #: `batch_jaxpr(jaxpr, ...)`, i.e. `jaxpr` run on every example along axis 0 of the
    #: batched inputs and outputs (lowering may then loop over examples instead).
    #: Not part of the program's identity: any program equal to this one may drop it.
    batched_from: Any = None

    @property
    def in_avals(self) -> list[ShapedArray]:
        return [v.aval for v in self.invars]

    @property
    def out_avals(self) -> list[ShapedArray]:
        return [v.aval for v in self.outvars]

    def __str__(self) -> str:
        from funcad._pretty import pp_jaxpr
        return pp_jaxpr(self)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        from funcad._pretty import jaxpr_html
        return jaxpr_html(self)

    def graph(self, **kw):
        """The program as a DAG (`funcad.views.graph`): SVG in notebooks, `.to_dot()`."""
        from funcad.views import graph
        return graph(self, **kw)

    def counts(self):
        """Equations by primitive, FLOPs and bytes written (`funcad.views.counts`)."""
        from funcad.views import counts
        return counts(self)


@dataclass(frozen=True, slots=True, eq=False)
class ClosedJaxpr:
    """A jaxpr together with the values of its constvars."""

    jaxpr: Jaxpr
    consts: tuple[Any, ...] = field(default=())

    @property
    def in_avals(self) -> list[ShapedArray]:
        return self.jaxpr.in_avals

    @property
    def out_avals(self) -> list[ShapedArray]:
        return self.jaxpr.out_avals

    @property
    def eqns(self):
        return self.jaxpr.eqns

    def __str__(self) -> str:
        from funcad._pretty import pp_jaxpr
        return pp_jaxpr(self.jaxpr, self.consts)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        from funcad._pretty import jaxpr_html
        return jaxpr_html(self.jaxpr, self.consts)

    def graph(self, **kw):
        """The program as a DAG (`funcad.views.graph`): SVG in notebooks, `.to_dot()`."""
        from funcad.views import graph
        return graph(self, **kw)

    def counts(self):
        """Equations by primitive, FLOPs and bytes written (`funcad.views.counts`)."""
        from funcad.views import counts
        return counts(self)


def eval_jaxpr(jaxpr: Jaxpr, consts: list | tuple, args: list | tuple) -> list:
    """Evaluate a jaxpr by binding each equation's primitive (so it works under any trace).

    Outside transforms the values made on the way stay plain ndarrays; the caller (a
    primitive's bind, a transform) makes what leaves funcad an Array."""
    if _core._outside:
        with _core.inside():
            return _eval_jaxpr(jaxpr, consts, args)
    return _eval_jaxpr(jaxpr, consts, args)


def _eval_jaxpr(jaxpr: Jaxpr, consts: list | tuple, args: list | tuple) -> list:
    env: dict[Var, Any] = {}
    for v, x in zip(jaxpr.constvars, consts, strict=True):
        env[v] = x
    for v, x in zip(jaxpr.invars, args, strict=True):
        env[v] = x

    def read(a):
        return a.val if type(a) is Literal else env[a]

    for eqn in jaxpr.eqns:
        outs = eqn.primitive.bind(*[read(a) for a in eqn.inputs], **eqn.params)
        if eqn.primitive.multiple_results:
            for v, o in zip(eqn.out_binders, outs, strict=True):
                env[v] = o
        else:
            env[eqn.out_binders[0]] = outs
    return [read(a) for a in jaxpr.outvars]


class JaxprTypeError(TypeError):
    """A jaxpr failed the type checker (an internal bug in a transform)."""


def typecheck_jaxpr(jaxpr: Jaxpr) -> None:
    """Check that every variable is bound once before use and every equation is well typed."""
    env: set[Var] = set()

    def bind(v: Var) -> None:
        if v in env:
            raise JaxprTypeError(f"variable {v} bound twice")
        env.add(v)

    def check_atom(a: Atom) -> ShapedArray:
        if isinstance(a, Literal):
            return a.aval
        if a not in env:
            raise JaxprTypeError(f"variable {a} used before it is bound")
        return a.aval

    for v in (*jaxpr.constvars, *jaxpr.invars):
        bind(v)
    for eqn in jaxpr.eqns:
        in_avals = [check_atom(a) for a in eqn.inputs]
        for val in eqn.params.values():
            if isinstance(val, Jaxpr):
                typecheck_jaxpr(val)
            elif isinstance(val, tuple) and val and isinstance(val[0], Jaxpr):
                for j in val:
                    typecheck_jaxpr(j)
        out = abstract_eval_rules[eqn.primitive](*in_avals, **eqn.params)
        outs = out if eqn.primitive.multiple_results else [out]
        if len(outs) != len(eqn.out_binders):
            raise JaxprTypeError(f"{eqn.primitive}: wrong number of outputs")
        for v, aval in zip(eqn.out_binders, outs, strict=True):
            if not v.aval.same_type(aval):
                raise JaxprTypeError(
                    f"{eqn.primitive}: binder {v.aval.str_short()} but rule gives "
                    f"{aval.str_short()}")
            bind(v)
    for a in jaxpr.outvars:
        check_atom(a)


# ----------------------------------------------------------------------------------
# Structural identity: two programs that differ only in their Var objects are one.


class _Unkeyable(Exception):
    pass


def _param_key(val: Any):
    if isinstance(val, Jaxpr):
        return ("jaxpr", structural_key(val, _strict=True))
    if isinstance(val, ClosedJaxpr):
        return ("closed", structural_key(val.jaxpr, _strict=True),
                tuple(_param_key(c) for c in val.consts))
    if isinstance(val, (tuple, list)):
        return (type(val).__name__, tuple(_param_key(v) for v in val))
    if isinstance(val, dict):
        return ("dict", tuple((k, _param_key(v)) for k, v in val.items()))
    if isinstance(val, np.ndarray):
        return ("array", val.dtype.str, val.shape, val.tobytes())
    if val is None or isinstance(val, (bool, int, float, complex, str, np.generic, np.dtype,
                                       ShapedArray)):
        return (type(val).__name__, val)
    raise _Unkeyable(type(val).__name__)   # callables and other objects: no identity


def structural_key(jaxpr: Jaxpr, _strict: bool = False):
    """A hashable key equal for programs that differ only in their variables (else None).

    Variables are numbered in order of appearance; params that hold callables or other
    objects without a value identity make the program unkeyable (None).
    """
    names: dict[Var, int] = {}

    def atom(a):
        if type(a) is Literal:
            return ("lit", a.aval.dtype.str, repr(a.val.item()), bool(np.signbit(a.val))
                    if a.aval.dtype.kind == "f" else False)
        n = names.get(a)
        if n is None:
            n = names[a] = len(names)
            return (n, a.aval)
        return n

    try:
        key = (tuple(atom(v) for v in jaxpr.constvars), tuple(atom(v) for v in jaxpr.invars),
               tuple((e.primitive.name, id(e.primitive), tuple(atom(a) for a in e.inputs),
                      tuple(_param_key(v) for v in e.params.items()),
                      tuple(atom(v) for v in e.out_binders)) for e in jaxpr.eqns),
               tuple(atom(a) for a in jaxpr.outvars))
    except _Unkeyable:
        if _strict:
            raise
        return None
    return key


_interned: dict = {}


def intern_jaxpr(jaxpr: Jaxpr) -> Jaxpr:
    """The first traced program structurally equal to `jaxpr` (itself if new or unkeyable).

    Transformations memoised by program identity (jvp, partial evaluation, remat) then
    run once for a function traced many times at the same shapes (checkpointed layers).
    """
    key = structural_key(jaxpr)
    if key is None:
        return jaxpr
    try:
        hit = _interned.get(key)
    except TypeError:       # an unhashable param value slipped through
        return jaxpr
    if hit is not None:
        return hit
    if len(_interned) > 1024:
        _interned.clear()
    _interned[key] = jaxpr
    return jaxpr
