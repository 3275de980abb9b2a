"""funcad.views: counts against hand-counted programs, and the graph of a gradient program."""

import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import funcad as fa
import funcad.numpy as fnp
from funcad import lax, views
from funcad._ir import Var

# ---------------------------------------------------------------------------------------
# Counts, checked against programs counted by hand


def test_counts_elementwise_and_reduction():
    # sin (3 flops), mul (3), reduce_sum (3 inputs): 9 FLOPs; 24 + 24 + 8 bytes written.
    c = fa.counts(fa.make_jaxpr(lambda x: fnp.sum(fnp.sin(x) * x))(np.ones(3)))
    assert (c.eqns, dict(c.by_primitive), c.flops, c.bytes) == (
        3, {"sin": 1, "mul": 1, "reduce_sum": 1}, 9, 56)


def test_counts_matmul_is_2mnk():
    c = fa.counts(fa.make_jaxpr(lambda a, b: a @ b)(np.ones((4, 3)), np.ones((3, 2))))
    assert c.by_primitive == {"dot_general": 1}
    assert c.flops == 2 * 4 * 2 * 3 and c.bytes == 4 * 2 * 8


def test_counts_scan_body_runs_length_times():
    prog = fa.make_jaxpr(
        lambda xs: lax.scan(lambda c, x: (c * x + x, fnp.sin(c)), 0.0, xs))(np.ones(5))
    c = prog.counts()
    # body: mul, add, sin on scalars = 3 FLOPs, 5 times; bytes: the scan's outputs
    # (8 + 40) and the body's temporaries once (3 * 8).
    assert c.eqns == 4 and c.by_primitive["scan"] == 1
    assert c.flops == 15 and c.bytes == 72 and c.unknown_trips == 0


def test_counts_cond_takes_the_costliest_branch():
    prog = fa.make_jaxpr(
        lambda x: lax.cond(x[0] > 0, lambda x: fnp.sin(x) * x, fnp.cos, x))(np.ones(4))
    c = fa.counts(prog)
    # gt (1) + max(cos: 4, sin + mul: 8); slice, reshape, convert move data only.
    assert c.flops == 9
    assert c.bytes == 8 + 8 + 1 + 8 + 32 + 32 + 32 + 32
    assert c.eqns == 8


def test_counts_grad_of_sin():
    c = fa.counts(fa.make_jaxpr(fa.grad(lambda x: fnp.sum(fnp.sin(x))))(np.ones(3)))
    # cos a; the cotangent seed broadcast; mul seed cos.
    assert dict(c.by_primitive) == {"cos": 1, "broadcast_in_dim": 1, "mul": 1}
    assert c.flops == 6


def test_counts_while_trip_count_is_unknown():
    prog = fa.make_jaxpr(lambda x: lax.while_loop(lambda c: c[0] < 3,
                                                  lambda c: (c[0] + 1, fnp.sin(c[1])),
                                                  (0, x))[1])(np.ones(2))
    assert fa.counts(prog).unknown_trips == 1


def test_transform_counts_reverse_program_is_linear_in_depth():
    def chain(n):
        def f(x):
            for _ in range(n):
                x = fnp.sin(fnp.exp(x) * 0.5)
            return fnp.sum(x)
        return f

    x = np.full(3, 0.1)
    sizes = [fa.transform_counts(chain(n), x)["grad"].eqns for n in (4, 8, 16)]
    assert sizes[1] - sizes[0] == (sizes[2] - sizes[1]) / 2 > 0   # exactly linear
    table = fa.transform_counts(chain(3), x)
    assert set(table) == {"f", "jvp", "vjp", "grad", "jacfwd", "jacrev"}
    assert "equations" in str(table) and "<table>" in table._repr_html_()


# ---------------------------------------------------------------------------------------
# Graphs


def _scan_loss(x):
    # The 20-element w makes the body's values too large to be recomputed in the reverse
    # pass (scans of small values are checkpointed), so residuals flow between the scans.
    w = fnp.linspace(0.5, 1.0, 20)

    def body(c, xi):
        c = fnp.sin(c) * xi + 0.01 * fnp.sum(fnp.cos(w * c))
        return c, c
    c, ys = lax.scan(body, x[0], x)
    return c + fnp.sum(ys)


def _expected(jaxpr):
    """Count equations, data edges, inputs, outputs and bodies of a jaxpr and its bodies."""
    eqns = edges = ins = outs = bodies = 0
    todo = [jaxpr]
    while todo:
        j = todo.pop()
        ins += len(j.invars) + len(j.constvars)
        outs += len(j.outvars)
        eqns += len(j.eqns)
        edges += sum(type(a) is Var for e in j.eqns for a in e.inputs)
        edges += sum(type(a) is Var for a in j.outvars)
        for e in j.eqns:
            for _, b in views.subjaxprs(e):
                bodies += 1
                todo.append(b)
    return eqns, edges, ins, outs, bodies


def test_graph_of_a_gradient_with_a_scan_matches_its_jaxpr():
    x = np.linspace(0.1, 0.4, 4)
    prog = views.grad_program(_scan_loss)(x)
    g = fa.grad_graph(_scan_loss)(x)
    eqns, edges, ins, outs, bodies = _expected(prog.jaxpr)
    kinds = [n.kind for n in g.nodes.values()]
    assert kinds.count("eqn") == eqns
    assert kinds.count("input") + kinds.count("const") == ins
    assert kinds.count("output") == outs
    assert len(g.edges) == edges and len(g.clusters) == bodies == 2

    # Every top-level equation is a node with its primitive, and edges follow variables.
    top = g.eqn_nodes(parent=None)
    assert [n.eqn.primitive.name for n in top] == [e.primitive.name for e in prog.jaxpr.eqns]
    scans = [n for n in top if n.eqn.primitive.name == "scan"]
    assert [n.eqn.params["reverse"] for n in scans] == [False, True]
    # Forward and backward are told apart: the forward scan does not depend on the
    # cotangent, the reverse scan does, and residuals flow from one to the other.
    assert [n.phase for n in scans] == ["forward", "backward"]
    assert any(e.src == scans[0].id and e.dst == scans[1].id and e.residual for e in g.edges)
    assert top[0].eqn.primitive.name == "slice" and top[0].phase == "forward"
    # The bodies are nested in their scan's node.
    owners = {c.owner for c in g.clusters.values()}
    assert owners == {s.id for s in scans}
    body_nodes = [n for n in g.nodes.values() if n.parent is not None and n.kind == "eqn"]
    assert {n.eqn.primitive.name for n in body_nodes} >= {"sin", "cos", "mul"}

    # SVG: one drawn node per graph node and one path per edge, and it is well-formed XML.
    svg = g._repr_svg_()
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    drawn = [e for e in root.iter(f"{ns}g") if e.get("class") == "fa-node"]
    assert len(drawn) == len(g.nodes)
    paths = [e for e in root.iter(f"{ns}path") if e.get("class") == "fa-edge"]
    assert len(paths) == len(g.edges)

    # DOT: every node and edge, bodies as clusters.
    dot = g.to_dot()
    assert dot.startswith("digraph jaxpr {") and dot.rstrip().endswith("}")
    assert len(re.findall(r"^\s*\w+ -> \w+ ", dot, re.M)) == len(g.edges)
    for nid in g.nodes:
        assert re.search(rf"^\s*{nid} \[label=", dot, re.M)
    assert dot.count("subgraph cluster_") == len(g.clusters) + len(owners)


def test_graph_of_plain_jaxpr_and_fan_out():
    x = np.ones(3)
    prog = fa.make_jaxpr(lambda x: fnp.sin(x) * fnp.cos(x) + x)(x)
    g = prog.graph()
    ins = [n for n in g.nodes.values() if n.kind == "input"]
    assert len(ins) == 1
    # x is read three times: fan-out is three edges from one node.
    assert sum(e.src == ins[0].id for e in g.edges) == 3
    assert all(n.phase is None for n in g.nodes.values())
    assert "Graph: 4 equations" in repr(g)


def test_graph_dot_engine_missing_is_a_clear_error(monkeypatch):
    g = fa.graph(fa.make_jaxpr(fnp.sin)(np.ones(2)))
    monkeypatch.setattr(views.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="apt-get install graphviz"):
        g.svg(engine="dot")
    assert g.svg().startswith("<svg")      # the builtin layout needs nothing


@pytest.mark.skipif(views.shutil.which("dot") is None, reason="Graphviz 'dot' not installed")
def test_graph_dot_engine_renders():
    g = fa.grad_graph(_scan_loss)(np.linspace(0.1, 0.4, 4))
    assert "<svg" in g.svg(engine="dot")


def test_graph_save(tmp_path):
    g = fa.grad_graph(lambda x: fnp.sum(fnp.tanh(x)))(np.ones(2))
    g.save(str(tmp_path / "g.svg"))
    g.save(str(tmp_path / "g.dot"))
    assert (tmp_path / "g.svg").read_text().startswith("<svg")
    assert (tmp_path / "g.dot").read_text().startswith("digraph")


def test_readme_image_is_current():
    """docs/images/grad_scan_graph.svg is what docs/make_images.py draws now."""
    import importlib.util
    from pathlib import Path

    docs = Path(__file__).resolve().parent.parent / "docs"
    spec = importlib.util.spec_from_file_location("make_images", docs / "make_images.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    for name, make in mod.IMAGES.items():
        assert (docs / name).read_text() == make().svg(), (
            f"docs/{name} is stale: run python docs/make_images.py")
    assert "docs/images/grad_scan_graph.svg" in (docs.parent / "README.md").read_text()
