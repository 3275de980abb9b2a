"""Printing of jaxprs: text (one equation per line) and HTML for notebooks."""

from __future__ import annotations

import html
from typing import Any

import numpy as np

from funcad._core import pp_rules
from funcad._ir import Jaxpr, JaxprEqn, Literal, Var


class _Namer:
    """Gives variables short names: a, b, ..., z, ba, bb, ..."""

    def __init__(self):
        self.names: dict[Var, str] = {}

    def __call__(self, v: Var) -> str:
        name = self.names.get(v)
        if name is None:
            name = self.names[v] = _letters(len(self.names))
        return name


def _letters(i: int) -> str:
    s = ""
    while True:
        s = chr(ord("a") + i % 26) + s
        i //= 26
        if i == 0:
            return s


def _fmt_literal(lit: Literal) -> str:
    v = lit.val
    if lit.aval.dtype == np.bool_:
        return str(bool(v))
    if np.issubdtype(lit.aval.dtype, np.floating):
        r = repr(float(v))
        return r if lit.aval.dtype == np.float64 else f"{r}:{lit.aval.str_short()}"
    return str(v) if lit.aval.dtype == np.int64 else f"{v}:{lit.aval.str_short()}"


def _fmt_param(v: Any) -> str:
    if isinstance(v, np.dtype):
        return v.name
    if isinstance(v, type) and issubclass(v, np.generic):
        return np.dtype(v).name
    if isinstance(v, tuple):
        return "(" + ",".join(_fmt_param(x) for x in v) + ("," if len(v) == 1 else "") + ")"
    if callable(v) and hasattr(v, "__name__"):
        return v.__name__
    return str(v)


def pp_jaxpr(jaxpr: Jaxpr, consts: tuple | list = (), indent: int = 0,
             namer: _Namer | None = None) -> str:
    """The text form of a jaxpr."""
    namer = namer or _Namer()
    return "\n".join(_pp_lines(jaxpr, namer, indent))


def _atom(a, namer) -> str:
    return _fmt_literal(a) if type(a) is Literal else namer(a)


def _binder(v: Var, namer) -> str:
    return f"{namer(v)}:{v.aval.str_short()}"


def _pp_lines(jaxpr: Jaxpr, namer: _Namer, indent: int) -> list[str]:
    pad = " " * indent
    consts = " ".join(_binder(v, namer) for v in jaxpr.constvars)
    ins = " ".join(_binder(v, namer) for v in jaxpr.invars)
    head = f"{pad}{{ lambda {consts + '; ' if consts else ''}{ins}. let"
    lines = [head]
    for eqn in jaxpr.eqns:
        lines.extend(_pp_eqn(eqn, namer, indent + 4))
    outs = ", ".join(_atom(a, namer) for a in jaxpr.outvars)
    lines.append(f"{pad}  in ({outs}{',' if len(jaxpr.outvars) == 1 else ''}) }}")
    return lines


def _pp_eqn(eqn: JaxprEqn, namer: _Namer, indent: int, bodies: bool = True) -> list[str]:
    pad = " " * indent
    rule = pp_rules.get(eqn.primitive)
    params, sub = (rule(eqn) if rule is not None else (eqn.params, {}))
    outs = " ".join(_binder(v, namer) for v in eqn.out_binders)
    ps = ", ".join(f"{k}={_fmt_param(v)}" for k, v in params.items())
    args = " ".join(_atom(a, namer) for a in eqn.inputs)
    line = f"{pad}{outs} = {eqn.primitive.name}{'[' + ps + ']' if ps else ''} {args}".rstrip()
    lines = [line]
    if not bodies:
        return lines
    for name, j in sub.items():
        js = j if isinstance(j, (list, tuple)) else [j]
        for k, jj in enumerate(js):
            label = name if len(js) == 1 else f"{name}[{k}]"
            lines.append(f"{pad}  {label}=")
            lines.extend(_pp_lines(jj, namer, indent + 4))
    return lines


def pp_eqn(eqn: JaxprEqn, namer: _Namer | None = None) -> str:
    """One equation as text (used as comments in generated code)."""
    return "\n".join(_pp_eqn(eqn, namer or _Namer(), 0))


def pp_eqn_head(eqn: JaxprEqn, namer: _Namer | None = None) -> tuple[str, bool]:
    """The first line of an equation's text, and whether inner programs were left out."""
    rule = pp_rules.get(eqn.primitive)
    has_bodies = bool(rule(eqn)[1]) if rule is not None else False
    # A param printed without a rule (a jaxpr) may span lines itself.
    lines = _pp_eqn(eqn, namer or _Namer(), 0, bodies=False)[0].splitlines()
    return lines[0], has_bodies or len(lines) > 1


def jaxpr_html(jaxpr: Jaxpr, consts: tuple | list = ()) -> str:
    """HTML for notebooks: the program with primitive names highlighted."""
    text = pp_jaxpr(jaxpr, consts)
    body = html.escape(text)
    prims = {e.primitive.name for e in _all_eqns(jaxpr)}
    for name in sorted(prims, key=len, reverse=True):
        body = body.replace(f"= {name}", f"= <b style='color:#1f5fbf'>{name}</b>")
    n = sum(1 for _ in _all_eqns(jaxpr))
    return (f"<div class='funcad-jaxpr'><div style='font-size:smaller;color:#666'>jaxpr: "
            f"{len(jaxpr.invars)} inputs, {n} equations, {len(jaxpr.outvars)} outputs"
            f"</div><pre style='line-height:1.25'>{body}</pre></div>")


def _all_eqns(jaxpr: Jaxpr):
    for e in jaxpr.eqns:
        yield e
        for v in e.params.values():
            if isinstance(v, Jaxpr):
                yield from _all_eqns(v)
            elif isinstance(v, tuple):
                for x in v:
                    if isinstance(x, Jaxpr):
                        yield from _all_eqns(x)
