"""Views of programs: counts (equations, FLOPs, bytes) and the graph of a jaxpr.

    >>> import numpy as np, funcad as fa, funcad.numpy as fnp
    >>> prog = fa.make_jaxpr(lambda x: fnp.sum(fnp.sin(x) * x))(np.ones(3))
    >>> c = fa.counts(prog)
    >>> c.eqns, dict(c.by_primitive), c.flops, c.bytes
    (3, {'sin': 1, 'mul': 1, 'reduce_sum': 1}, 9, 56)
    >>> g = fa.graph(prog)             # renders as SVG in a notebook
    >>> g.to_dot().splitlines()[0]
    'digraph jaxpr {'

**Counts.** `counts(program)` walks a jaxpr and its bodies. FLOPs come from the shapes:
one per output element of an elementwise primitive (transcendental ones included), one
per input element of a reduction, `2*M*N*K` for a `dot_general`, about `n^3` for the
factorisations, and nothing for data movement (broadcast, reshape, slice, gather, ...).
A `scan` body counts `length` times; a `while` body once (its trip count is unknown while
tracing: `Counts.unknown_trips` says how many loops that is); a `cond` its costliest
branch. `bytes` is the storage the equations write (every output of every equation, a
loop body's once), the intermediate storage the program needs if nothing is freed.
`transform_counts(f, *args)` counts the program of `f` and of its jvp, vjp, grad, jacfwd
and jacrev.

**Graphs.** `graph(program)` is the program as a DAG: a node per equation (primitive and
output shape), edges for the variables (fan-out is one variable used many times), the
inputs, constants and outputs marked, and control-flow and call bodies drawn nested in
the node of their equation. `grad_graph(f)(*args)` draws the reverse-mode program of `f`
with the output cotangent as an explicit input, so that the equations that depend on it
(the backward pass) are told apart from the forward pass, and the forward values the
backward pass reads (the residuals) are the edges between the two.

Rendering needs no dependency: the SVG is laid out here (layers by longest path from
the inputs, ordered by the barycentre of their predecessors), which keeps notebooks and
CI free of system packages. `Graph.to_dot()` exports Graphviz DOT text for larger
programs, and `Graph.svg(engine="dot")` renders through the `dot` program when it is
installed (a clear error names `apt-get install graphviz` when it is not).
"""

from __future__ import annotations

import html
import math
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from funcad._core import pp_rules
from funcad._ir import ClosedJaxpr, Jaxpr, JaxprEqn, Literal, Var

# ---------------------------------------------------------------------------------------
# Walking programs

_ELEMENTWISE = frozenset("""
abs acos add and asin atan atan2 ceil cos cosh div eq exp expm1 floor floor_divide ge gt
integer_pow is_finite is_nan le log log1p lt max min mul mul_sz ne neg nextafter not or pow
rem round select_n sign sin sinh sqrt sub tan tanh xor
""".split())
_REDUCTIONS = frozenset("reduce_sum reduce_max reduce_min reduce_prod reduce_and reduce_or "
                        "argmax argmin cumsum".split())
_CUBIC = {"cholesky": 1 / 3, "det": 2 / 3, "slogdet": 2 / 3, "solve": 2 / 3}


def _as_jaxpr(program) -> Jaxpr:
    if isinstance(program, ClosedJaxpr):
        return program.jaxpr
    if isinstance(program, Jaxpr):
        return program
    raise TypeError(f"expected a jaxpr (from funcad.make_jaxpr), got {type(program).__name__}")


def subjaxprs(eqn: JaxprEqn) -> list[tuple[str, Jaxpr]]:
    """The bodies of a higher-order equation as (name, jaxpr) pairs (empty for others)."""
    rule = pp_rules.get(eqn.primitive)
    sub = rule(eqn)[1] if rule is not None else {
        k: v for k, v in eqn.params.items()
        if isinstance(v, (Jaxpr, ClosedJaxpr)) or (
            isinstance(v, tuple) and v and all(isinstance(x, (Jaxpr, ClosedJaxpr)) for x in v))}
    out = []
    for name, j in sub.items():
        js = j if isinstance(j, (list, tuple)) else [j]
        for k, jj in enumerate(js):
            out.append((name if len(js) == 1 else f"{name}[{k}]", _as_jaxpr(jj)))
    return out


def _nbytes(aval) -> int:
    return int(np.prod(aval.shape, dtype=np.int64)) * np.dtype(aval.dtype).itemsize


def _size(aval) -> int:
    return int(np.prod(aval.shape, dtype=np.int64))


# ---------------------------------------------------------------------------------------
# Counts


@dataclass
class Counts:
    """Equations by primitive, FLOPs and bytes of intermediate storage of one program."""

    eqns: int = 0
    by_primitive: Counter = field(default_factory=Counter)
    flops: int = 0
    bytes: int = 0
    unknown_trips: int = 0

    def as_dict(self) -> dict:
        """The counts as a plain dict (for tables)."""
        return {"eqns": self.eqns, "flops": self.flops, "bytes": self.bytes,
                **{f"#{k}": v for k, v in sorted(self.by_primitive.items())}}

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{v}</td></tr>"
                       for k, v in self.by_primitive.most_common())
        return (f"<div><b>{self.eqns}</b> equations, <b>{self.flops:,}</b> FLOPs, "
                f"<b>{self.bytes:,}</b> bytes written<table>{rows}</table></div>")


def _eqn_flops(eqn: JaxprEqn) -> int:
    name = eqn.primitive.name
    outs = eqn.out_binders
    if name in _ELEMENTWISE:
        return sum(_size(v.aval) for v in outs)
    if name in _REDUCTIONS:
        return _size(eqn.inputs[0].aval)
    if name == "dot_general":
        (lhs_contract, _), _ = eqn.params["dimension_numbers"]
        k = int(np.prod([eqn.inputs[0].aval.shape[d] for d in lhs_contract], dtype=np.int64))
        return 2 * _size(outs[0].aval) * k
    if name in ("scatter_add", "scatter_mul"):
        return _size(eqn.inputs[-1].aval)
    if name in _CUBIC:
        shape = eqn.inputs[0].aval.shape
        n = shape[-1] if shape else 1
        batch = int(np.prod(shape[:-2], dtype=np.int64)) if len(shape) > 2 else 1
        extra = 2 * n * n * _size(eqn.inputs[1].aval) // max(n, 1) if name == "solve" else 0
        return int(batch * _CUBIC[name] * n ** 3) + extra
    return 0


def _count_into(c: Counts, jaxpr: Jaxpr, times: int) -> int:
    """Add the equations and bytes of `jaxpr` to `c`; return its FLOPs run `times` times."""
    flops = 0
    for eqn in jaxpr.eqns:
        c.eqns += 1
        c.by_primitive[eqn.primitive.name] += 1
        c.bytes += sum(_nbytes(v.aval) for v in eqn.out_binders)
        subs = subjaxprs(eqn)
        if not subs:
            flops += _eqn_flops(eqn)
            continue
        name = eqn.primitive.name
        if name == "scan":
            flops += sum(_count_into(c, j, 1) for _, j in subs) * eqn.params["length"]
        elif name == "cond":
            flops += max(_count_into(c, j, 1) for _, j in subs)
        else:
            if name in ("while", "while_rev"):
                c.unknown_trips += 1
            flops += sum(_count_into(c, j, 1) for _, j in subs)
    return flops * times


def counts(program) -> Counts:
    """Count a jaxpr's equations by primitive, its FLOPs and bytes written (see module doc)."""
    c = Counts()
    c.flops = _count_into(c, _as_jaxpr(program), 1)
    return c


def transform_counts(fun: Callable, *args, argnums: int = 0) -> dict[str, Counts]:
    """Counts of the program of `fun` and of its jvp, vjp, grad, jacfwd and jacrev at args."""
    from funcad import api

    out_avals = api.make_jaxpr(fun)(*args).out_avals
    cts = [np.ones(a.shape, a.dtype) for a in out_avals]
    x = args[argnums]

    def at(xx):
        return fun(*args[:argnums], xx, *args[argnums + 1:])

    def backward(xx, *ct):
        return api.vjp(at, xx)[1](ct[0] if len(ct) == 1 else tuple(ct))

    progs = {"f": api.make_jaxpr(fun)(*args),
             "jvp": api.make_jaxpr(lambda xx, t: api.jvp(at, (xx,), (t,)))(x, np.ones_like(x)),
             "vjp": api.make_jaxpr(backward)(x, *cts)}
    if len(out_avals) == 1 and out_avals[0].shape == ():
        progs["grad"] = api.make_jaxpr(api.grad(fun, argnums))(*args)
    progs["jacfwd"] = api.make_jaxpr(api.jacfwd(fun, argnums))(*args)
    progs["jacrev"] = api.make_jaxpr(api.jacrev(fun, argnums))(*args)
    return CountTable({k: counts(v) for k, v in progs.items()})


class CountTable(dict):
    """A dict of name -> Counts that renders as a table in a notebook."""

    def _repr_html_(self) -> str:
        head = "<tr><th></th><th>equations</th><th>FLOPs</th><th>bytes</th></tr>"
        rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{c.eqns}</td><td>{c.flops:,}</td>"
                       f"<td>{c.bytes:,}</td></tr>" for k, c in self.items())
        return f"<table>{head}{rows}</table>"

    def __str__(self) -> str:
        lines = [f"{'':8} {'equations':>9} {'FLOPs':>12} {'bytes':>12}"]
        lines += [f"{k:8} {c.eqns:9d} {c.flops:12,d} {c.bytes:12,d}" for k, c in self.items()]
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# Graphs: the model


@dataclass
class Node:
    """A node of a program graph: an input, a constant, an equation or an output."""

    id: str
    kind: str                 # "input" | "const" | "eqn" | "output"
    label: str
    shape: str
    phase: str | None = None  # "forward" | "backward" | None
    parent: str | None = None  # the cluster (body) this node belongs to
    eqn: JaxprEqn | None = None


@dataclass
class Edge:
    """A variable flowing from the node that makes it to a node that reads it."""

    src: str
    dst: str
    shape: str
    residual: bool = False    # a forward value read by the backward pass


@dataclass
class Cluster:
    """The body of a higher-order equation (a scan's, a jit's, a cond branch)."""

    id: str
    label: str
    owner: str                # the id of the equation node that holds the body
    parent: str | None


class Graph:
    """A program as a DAG; renders as SVG in notebooks, exports DOT with `to_dot()`."""

    def __init__(self, program, cotangent_inputs=(), title: str = ""):
        self.jaxpr = _as_jaxpr(program)
        self.title = title
        self.nodes: dict[str, Node] = {}
        self.edges: list[Edge] = []
        self.clusters: dict[str, Cluster] = {}
        self._n = 0
        backward_vars = {self.jaxpr.invars[i] for i in cotangent_inputs}
        self._phased = bool(cotangent_inputs)
        self._build(self.jaxpr, None, backward_vars, top=True)

    # -- building ----------------------------------------------------------------------
    def _id(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}{self._n}"

    def _add(self, kind, label, shape, parent, phase=None, eqn=None) -> str:
        nid = self._id(kind[0])
        self.nodes[nid] = Node(nid, kind, label, shape, phase, parent, eqn)
        return nid

    def _build(self, jaxpr: Jaxpr, parent: str | None, backward_vars: set, top: bool) -> None:
        made: dict[Var, str] = {}
        phase_of: dict[str, str | None] = {}
        for v in jaxpr.constvars:
            made[v] = self._add("const", "const", v.aval.str_short(), parent)
        for i, v in enumerate(jaxpr.invars):
            back = v in backward_vars
            label = ("cotangent" if back and top else f"in {i}")
            phase = ("backward" if back else "forward") if self._phased else None
            made[v] = self._add("input", label, v.aval.str_short(), parent, phase)
            phase_of[made[v]] = phase
        for eqn in jaxpr.eqns:
            back = any(type(a) is Var and a in backward_vars for a in eqn.inputs)
            phase = ("backward" if back else "forward") if self._phased else None
            lits = [_lit(a) for a in eqn.inputs if type(a) is Literal]
            label = _eqn_label(eqn) + (" " + " ".join(lits) if lits else "")
            shape = " ".join(v.aval.str_short() for v in eqn.out_binders)
            nid = self._add("eqn", label, shape, parent, phase, eqn)
            phase_of[nid] = phase
            for a in eqn.inputs:
                if type(a) is Var:
                    src = made[a]
                    self.edges.append(Edge(src, nid, a.aval.str_short(),
                                           residual=back and phase_of.get(src) == "forward"))
            for name, body in subjaxprs(eqn):
                cid = self._id("cluster")
                self.clusters[cid] = Cluster(cid, name, nid, parent)
                inner_back = set()
                if back:
                    # Map the equation's operands onto the body's inputs where they line up.
                    ops = list(eqn.inputs)
                    if len(ops) == len(body.invars) + 1:
                        ops = ops[1:]  # cond: the branch index comes first
                    if len(ops) == len(body.invars):
                        inner_back = {b for a, b in zip(ops, body.invars, strict=True)
                                      if type(a) is Var and a in backward_vars}
                self._build(body, cid, inner_back, top=False)
            for v in eqn.out_binders:
                made[v] = nid
                if back:
                    backward_vars.add(v)
        for i, a in enumerate(jaxpr.outvars):
            oid = self._add("output", f"out {i}", a.aval.str_short(), parent,
                            phase_of.get(made.get(a)) if type(a) is Var else None)
            if type(a) is Var:
                self.edges.append(Edge(made[a], oid, a.aval.str_short()))

    # -- queries -----------------------------------------------------------------------
    def eqn_nodes(self, parent: str | None = ...) -> list[Node]:
        """The equation nodes (of one body when `parent` is given: None is the top level)."""
        return [n for n in self.nodes.values()
                if n.kind == "eqn" and (parent is ... or n.parent == parent)]

    @property
    def residuals(self) -> list[Edge]:
        """The edges that carry a forward value into the backward pass."""
        return [e for e in self.edges if e.residual]

    # -- DOT ---------------------------------------------------------------------------
    def to_dot(self) -> str:
        """Graphviz DOT text of the graph (bodies are clusters; no dependency needed)."""
        lines = ["digraph jaxpr {", "  compound=true; rankdir=TB; nodesep=0.25; ranksep=0.35;",
                 '  node [fontname="Helvetica", fontsize=10];',
                 '  edge [color="#777777", arrowsize=0.6];']
        if self.title:
            lines.append(f'  label="{_dot_esc(self.title)}"; labelloc=t;')
        children: dict[str | None, list[str]] = {}
        for c in self.clusters.values():
            children.setdefault(c.owner, []).append(c.id)
        members: dict[str | None, list[Node]] = {}
        for n in self.nodes.values():
            members.setdefault(n.parent, []).append(n)
        owner_cluster = {}   # eqn node id -> the cluster drawn around it and its bodies

        def emit(parent, indent):
            pad = "  " * indent
            for n in members.get(parent, []):
                if n.id in children:
                    oc = f"cluster_{n.id}"
                    owner_cluster[n.id] = oc
                    lines.append(f"{pad}subgraph {oc} {{")
                    lines.append(f'{pad}  style="rounded,dashed"; color="#999999"; label="";')
                    lines.append(f"{pad}  {_dot_node(n)}")
                    for cid in children[n.id]:
                        c = self.clusters[cid]
                        lines.append(f"{pad}  subgraph cluster_{cid} {{")
                        lines.append(f'{pad}    label="{_dot_esc(c.label)}"; style=rounded; '
                                     'color="#bbbbbb"; fontsize=9;')
                        emit(cid, indent + 2)
                        lines.append(f"{pad}  }}")
                    lines.append(f"{pad}}}")
                else:
                    lines.append(f"{pad}{_dot_node(n)}")

        emit(None, 1)
        for e in self.edges:
            attrs = [f'label="{_dot_esc(e.shape)}"', "fontsize=8", 'fontcolor="#999999"']
            if e.residual:
                attrs += ['color="#d62728"', "style=dashed"]
            lines.append(f"  {e.src} -> {e.dst} [{', '.join(attrs)}];")
        lines.append("}")
        return "\n".join(lines)

    # -- SVG ---------------------------------------------------------------------------
    def svg(self, engine: str = "builtin") -> str:
        """SVG text: laid out here (engine="builtin") or by Graphviz (engine="dot")."""
        if engine == "dot":
            exe = shutil.which("dot")
            if exe is None:
                raise RuntimeError(
                    "Graph.svg(engine='dot') needs the Graphviz 'dot' program, which is not "
                    "installed (apt-get install graphviz, brew install graphviz or conda "
                    "install graphviz); engine='builtin' draws without it, and to_dot() "
                    "gives the DOT text.")
            res = subprocess.run([exe, "-Tsvg"], input=self.to_dot().encode(),
                                 capture_output=True, check=True, timeout=60)
            return res.stdout.decode()
        if engine != "builtin":
            raise ValueError(f"engine={engine!r}: expected 'builtin' or 'dot'")
        return _Layout(self).svg()

    def _repr_svg_(self) -> str:
        return self.svg()

    def save(self, path: str, engine: str = "builtin") -> None:
        """Write the graph to `path`: .svg (drawn) or .dot / .gv (DOT text)."""
        text = self.to_dot() if path.endswith((".dot", ".gv")) else self.svg(engine)
        with open(path, "w") as f:
            f.write(text)

    def __repr__(self) -> str:
        n_eqn = len(self.eqn_nodes())
        return (f"<funcad.views.Graph: {n_eqn} equations, {len(self.edges)} edges, "
                f"{len(self.clusters)} bodies>")


def graph(program, cotangent_inputs=(), title: str = "") -> Graph:
    """The DAG of a jaxpr (`cotangent_inputs`: input positions whose dependents are backward)."""
    return Graph(program, cotangent_inputs, title)


def grad_program(fun: Callable, argnums: int = 0) -> Callable:
    """`grad_program(f)(*args)`: the jaxpr of f's vjp, the output cotangent as its last input."""
    from funcad import api

    def make(*args):
        out_avals = api.make_jaxpr(fun)(*args).out_avals
        if len(out_avals) != 1:
            raise TypeError("grad_program needs a function with one array output")
        ct = np.ones(out_avals[0].shape, out_avals[0].dtype)

        def backward(*a):
            *xs, ct_ = a
            rest = lambda x: fun(*xs[:argnums], x, *xs[argnums + 1:])  # noqa: E731
            return api.vjp(rest, xs[argnums])[1](ct_)[0]

        return api.make_jaxpr(backward)(*args, ct)
    return make


def grad_graph(fun: Callable, argnums: int = 0, title: str = "") -> Callable:
    """`grad_graph(f)(*args)`: the graph of f's reverse-mode program, its two passes marked."""
    def make(*args):
        prog = grad_program(fun, argnums)(*args)
        return Graph(prog, cotangent_inputs=(len(prog.jaxpr.invars) - 1,), title=title)
    return make


# ---------------------------------------------------------------------------------------
# Labels and DOT helpers

_COLORS = {"forward": ("#dbe8f7", "#1f5fbf"), "backward": ("#fde3cf", "#c4510a"),
           None: ("#eeeeee", "#555555")}
_KIND_COLORS = {"input": ("#d9f2d9", "#2a7a2a"), "const": ("#f0f0f0", "#777777"),
                "output": ("#fff7c2", "#9a7b00")}


def _lit(a: Literal) -> str:
    v = a.val
    if isinstance(v, (float, np.floating)):
        return f"{float(v):g}"
    return str(v)


def _eqn_label(eqn: JaxprEqn) -> str:
    name = eqn.primitive.name
    p = eqn.params
    if name == "scan":
        return f"scan ×{p['length']}" + (" rev" if p.get("reverse") else "")
    if name in ("jit", "closed_call") and "name" in p:
        return f"{name} {p['name']}"
    if name in ("reduce_sum", "reduce_max", "reduce_min") and "axes" in p:
        return f"{name} {tuple(p['axes'])}"
    return name


def _dot_esc(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"')


def _fill(n: Node) -> tuple[str, str]:
    if n.kind == "eqn" or (n.kind == "input" and n.phase == "backward"):
        return _COLORS[n.phase] if n.kind == "eqn" else _COLORS["backward"]
    return _KIND_COLORS[n.kind]


def _dot_node(n: Node) -> str:
    fill, line = _fill(n)
    shape = {"eqn": "box", "input": "ellipse", "const": "ellipse", "output": "ellipse"}[n.kind]
    extra = ', peripheries=2' if n.kind == "output" else ""
    return (f'{n.id} [label="{_dot_esc(n.label)}\\n{_dot_esc(n.shape)}", shape={shape}, '
            f'style="rounded,filled", fillcolor="{fill}", color="{line}"{extra}];')


# ---------------------------------------------------------------------------------------
# A small layered layout, drawn as SVG

_CH = 6.6          # width of a character at font-size 11, px
_NODE_H = 34
_GAP_X = 14
_GAP_Y = 26
_PAD = 10
_HEAD = 22


class _Layout:
    def __init__(self, g: Graph):
        self.g = g
        self.members: dict[str | None, list[Node]] = {}
        for n in g.nodes.values():
            self.members.setdefault(n.parent, []).append(n)
        self.bodies: dict[str, list[str]] = {}
        for c in g.clusters.values():
            self.bodies.setdefault(c.owner, []).append(c.id)
        self.preds: dict[str, list[str]] = {}
        for e in g.edges:
            self.preds.setdefault(e.dst, []).append(e.src)
        self.size: dict[str, tuple[float, float]] = {}   # node or cluster -> (w, h)
        self.pos: dict[str, tuple[float, float]] = {}    # relative to its container
        self.abs: dict[str, tuple[float, float]] = {}

    def _node_size(self, n: Node) -> tuple[float, float]:
        if n.id in self.bodies:
            ws, hs = zip(*(self._place(cid) for cid in self.bodies[n.id]), strict=True)
            w = max(sum(ws) + _GAP_X * (len(ws) - 1), len(n.label) * _CH) + 2 * _PAD
            return w, max(hs) + _HEAD + 2 * _PAD + 14
        text = max(len(n.label), len(n.shape)) * _CH
        return max(text + 16, 44), _NODE_H

    def _place(self, container: str | None) -> tuple[float, float]:
        """Lay out the nodes of one container; return its size."""
        nodes = self.members.get(container, [])
        ids = {n.id for n in nodes}
        for n in nodes:
            self.size[n.id] = self._node_size(n)
        layer: dict[str, int] = {}
        for n in nodes:  # nodes are in program order, so predecessors come first
            if n.kind in ("input", "const"):
                layer[n.id] = 0
            else:
                layer[n.id] = 1 + max((layer[p] for p in self.preds.get(n.id, ()) if p in ids),
                                      default=0)
        # Pull each equation down to just above its first reader (a broadcast of a
        # constant then sits beside the equation that uses it, not among the inputs).
        succs: dict[str, list[str]] = {}
        for n in nodes:
            for p in self.preds.get(n.id, ()):
                if p in ids:
                    succs.setdefault(p, []).append(n.id)
        for n in reversed(nodes):
            if n.kind == "eqn" and n.id in succs:
                readers = [layer[s] for s in succs[n.id]
                           if self.g.nodes[s].kind != "output"]
                if readers:
                    layer[n.id] = max(layer[n.id], min(readers) - 1)
        last = max(layer.values(), default=0)
        for n in nodes:
            if n.kind == "output":
                layer[n.id] = max(last, 1)
        rows: dict[int, list[str]] = {}
        for n in nodes:
            rows.setdefault(layer[n.id], []).append(n.id)
        order: dict[str, float] = {}
        for r in sorted(rows):
            if r > 0:
                def bary(nid):
                    ps = [order[p] for p in self.preds.get(nid, ()) if p in order]
                    return sum(ps) / len(ps) if ps else math.inf
                rows[r].sort(key=bary)
            for i, nid in enumerate(rows[r]):
                order[nid] = i
        width = max((sum(self.size[i][0] for i in row) + _GAP_X * (len(row) - 1)
                     for row in rows.values()), default=0)
        y = 0.0
        for r in sorted(rows):
            row = rows[r]
            row_w = sum(self.size[i][0] for i in row) + _GAP_X * (len(row) - 1)
            x = (width - row_w) / 2
            h = max(self.size[i][1] for i in row)
            for nid in row:
                w, hh = self.size[nid]
                self.pos[nid] = (x, y)
                x += w + _GAP_X
            y += h + _GAP_Y
        if container is not None:
            self.size[container] = (width, y - _GAP_Y)
        return width, max(y - _GAP_Y, 0)

    def _absolute(self, container, ox, oy) -> None:
        for n in self.members.get(container, []):
            x, y = self.pos[n.id]
            self.abs[n.id] = (ox + x, oy + y)
            if n.id in self.bodies:
                bx = ox + x + _PAD
                for cid in self.bodies[n.id]:
                    self.abs[cid] = (bx, oy + y + _HEAD + 14)
                    self._absolute(cid, bx, oy + y + _HEAD + 14)
                    bx += self.size[cid][0] + _GAP_X

    def svg(self) -> str:
        w, h = self._place(None)
        top = 24 if self.g.title else 4
        self._absolute(None, 8, top)
        W, H = max(w, len(self.g.title) * 7.6) + 16, h + top + 8
        out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W:.0f}" height="{H:.0f}" '
               f'viewBox="0 0 {W:.0f} {H:.0f}" '
               'font-family="Helvetica,Arial,DejaVu Sans,sans-serif" '
               'font-size="11">',
               '<defs><marker id="fa-arrow" viewBox="0 0 10 10" refX="10" refY="5" '
               'markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0L10,5L0,10z" '
               'fill="#888"/></marker><marker id="fa-arrow-r" viewBox="0 0 10 10" refX="10" '
               'refY="5" markerWidth="6" markerHeight="6" orient="auto"><path '
               'd="M0,0L10,5L0,10z" fill="#d62728"/></marker></defs>']
        if self.g.title:
            out.append(f'<text x="8" y="16" font-size="13" font-weight="bold">'
                       f'{html.escape(self.g.title)}</text>')
        # Top-level edges pass under the boxes of bodies; then the boxes, the edges inside
        # them, and the nodes on top.
        top = [e for e in self.g.edges if self.g.nodes[e.dst].parent is None]
        out.extend(self._edge(e) for e in top)
        for n in self.g.nodes.values():
            if n.id in self.bodies:
                out.append(self._compound(n))
        out.extend(self._edge(e) for e in self.g.edges if self.g.nodes[e.dst].parent is not None)
        for n in self.g.nodes.values():
            if n.id not in self.bodies:
                out.append(self._node(n))
        out.append("</svg>")
        return "\n".join(out)

    def _compound(self, n: Node) -> str:
        x, y = self.abs[n.id]
        w, h = self.size[n.id]
        fill, line = _fill(n)
        parts = [f'<g class="fa-node" id="{n.id}"><title>{html.escape(n.label)} -> '
                 f'{html.escape(n.shape)}</title>',
                 f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="8" '
                 f'fill="{fill}" fill-opacity="0.45" stroke="{line}" stroke-dasharray="5,3"/>',
                 f'<text x="{x + 8:.1f}" y="{y + 15:.1f}" font-weight="bold" fill="{line}">'
                 f'{html.escape(n.label)}</text>',
                 f'<text x="{x + w - 6:.1f}" y="{y + 15:.1f}" text-anchor="end" fill="#777" '
                 f'font-size="9">{html.escape(_clip(n.shape, int(w / 6) - len(n.label)))}'
                 '</text>']
        for cid in self.bodies[n.id]:
            cx, cy = self.abs[cid]
            cw, ch = self.size[cid]
            parts.append(f'<text x="{cx:.1f}" y="{cy - 4:.1f}" fill="#777" font-size="9">'
                         f'{html.escape(self.g.clusters[cid].label)}</text>')
            parts.append(f'<rect x="{cx - 4:.1f}" y="{cy - 2:.1f}" width="{cw + 8:.1f}" '
                         f'height="{ch + 4:.1f}" rx="5" fill="white" fill-opacity="0.6" '
                         'stroke="#bbb"/>')
        parts.append("</g>")
        return "\n".join(parts)

    def _node(self, n: Node) -> str:
        x, y = self.abs[n.id]
        w, h = self.size[n.id]
        fill, line = _fill(n)
        rx = h / 2 if n.kind != "eqn" else 5
        width = 2.2 if n.kind == "output" else 1.2
        return (f'<g class="fa-node" id="{n.id}"><title>{html.escape(n.label)} -> '
                f'{html.escape(n.shape)}</title>'
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="{rx:.1f}" '
                f'fill="{fill}" stroke="{line}" stroke-width="{width}"/>'
                f'<text x="{x + w / 2:.1f}" y="{y + 14:.1f}" text-anchor="middle" '
                f'fill="{line}" font-weight="bold">{html.escape(n.label)}</text>'
                f'<text x="{x + w / 2:.1f}" y="{y + 27:.1f}" text-anchor="middle" fill="#666" '
                f'font-size="9">{html.escape(n.shape)}</text></g>')

    def _edge(self, e: Edge) -> str:
        sx, sy = self.abs[e.src]
        sw, sh = self.size[e.src]
        tx, ty = self.abs[e.dst]
        tw, _ = self.size[e.dst]
        x1, y1 = sx + sw / 2, sy + sh
        x2, y2 = tx + tw / 2, ty
        if y2 <= y1:  # an edge into a body's container from below it: enter from the side
            x2 = tx
            y2 = ty + 10
        dy = max((y2 - y1) / 2, 12)
        color, marker = ("#d62728", "fa-arrow-r") if e.residual else ("#999", "fa-arrow")
        dash = ' stroke-dasharray="4,3"' if e.residual else ""
        return (f'<path class="fa-edge" d="M{x1:.1f},{y1:.1f} C{x1:.1f},{y1 + dy:.1f} '
                f'{x2:.1f},{y2 - dy:.1f} {x2:.1f},{y2:.1f}" fill="none" stroke="{color}" '
                f'stroke-width="1.1"{dash} marker-end="url(#{marker})"/>')


def _clip(s: str, n: int) -> str:
    n = max(n, 6)
    return s if len(s) <= n else s[: n - 1] + "…"


__all__ = ["Counts", "CountTable", "Edge", "Graph", "Node", "counts", "grad_graph",
           "grad_program", "graph", "subjaxprs", "transform_counts"]
