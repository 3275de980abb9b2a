"""Execute every notebook in notebooks/, the README example and the tour; fail on any error."""

import json
import re
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


@pytest.fixture
def this_python_kernel(tmp_path, monkeypatch):
    """A `python3` kernelspec that runs this interpreter, whatever other specs exist.

    JUPYTER_PATH is searched before the user and system folders, so a stale user-level
    `python3` spec from another environment cannot hijack the run.
    """
    spec_dir = tmp_path / "kernels" / "python3"
    spec_dir.mkdir(parents=True)
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Python 3", "language": "python"}
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    return "python3"


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found in notebooks/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_executes(path, this_python_kernel):
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, kernel_name=this_python_kernel, timeout=120,
                                     resources={"metadata": {"path": str(path.parent)}})
    client.execute()  # raises CellExecutionError naming the failing cell
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    facts = _facts(nb)
    if facts is not None:
        check_facts(path.name, facts)


# ---------------------------------------------------------------------------------------
# Notebooks that end with a cell tagged "facts" print `FACTS_JSON {...}`: the claims they
# show, as numbers. They are checked on every execution above, and in the committed copy.


def _facts(nb):
    for cell in nb.cells:
        if cell.cell_type == "code" and "facts" in cell.get("metadata", {}).get("tags", []):
            text = "".join(o.get("text", "") for o in cell.get("outputs", [])
                           if o.get("output_type") == "stream")
            m = re.search(r"^FACTS_JSON (.*)$", text, re.M)
            assert m, "the facts cell printed no FACTS_JSON line"
            return json.loads(m.group(1))
    return None


def check_facts(name, f):
    assert name == "03_seeing_backprop.ipynb", f"no fact checks for {name}"
    # 1. Naive symbolic expansion grows exponentially on the DAG (at least doubling per
    # level) and superlinearly on the chain; funcad's reverse program grows linearly.
    naive = f["naive_dag_terms"]
    assert all(b >= 2 * a for a, b in zip(naive, naive[1:])), naive
    chain = f["naive_chain_terms"]
    steps = [b - a for a, b in zip(chain, chain[1:])]
    assert all(b > a for a, b in zip(steps, steps[1:])), "chain expansion is not superlinear"
    for key in ("reverse_dag_eqns", "reverse_chain_eqns"):
        rev = f[key]
        d = [b - a for a, b in zip(rev, rev[1:])]
        assert min(d) > 0 and max(d) <= 10, (key, d)        # bounded steps: linear
        assert rev[-1] <= 10 * len(rev), key
    assert len(set(f["reverse_dag_eqns"][i + 1] - f["reverse_dag_eqns"][i]
                   for i in range(len(naive) - 1))) == 1
    # 2. The backward pass is proportional to the forward pass.
    assert all(0.2 < r < 2 for r in f["backward_per_forward"])
    # 3. Few inputs: forward mode is cheaper; few outputs: reverse mode is.
    fwd, rev = f["jac_flops_fwd"], f["jac_flops_rev"]
    assert fwd[0][-1] < rev[0][-1] / 10 and rev[-1][0] < fwd[-1][0] / 10
    # 4. Cotangents add at fan-out.
    assert f["fanout_sum_matches"] and f["attention_x_uses"] == 3
    # 5. Sigmoid stacks vanish, relu stacks do not; naive formulas overflow where the
    # stable ones stay finite; clipping tames the exploding recurrence.
    sig, relu = f["sigmoid_grad_norms"], f["relu_grad_norms"]
    assert sig[0] / sig[-1] < 1e-10 and relu[0] / relu[-1] > 1e-3
    assert all(f["naive_unstable"]) and all(f["stable_finite"])
    assert f["clip_final_loss"] < 0.1 and not f["noclip_final_finite"]
    # 6. Checkpointing uses less peak memory than storing every step.
    mem = f["ckpt_peak_mb"]
    for kind in ("segments", "sqrt", "recursive"):
        assert mem[kind][-1] < 0.5 * mem["none"][-1], (kind, mem)
    assert mem["none"][-1] > 4 * mem["none"][0]           # O(n): grows with n
    # 7. Compiled code is faster than eager NumPy.
    assert f["speedup_jit"] > 1.0
    # 8. Every optimizer lowers the loss.
    for opt, (first, last) in f["train_loss_first_last"].items():
        assert last < 0.5 * first, opt
    assert f["notebook_seconds"] < 120


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_committed_outputs_are_current(path):
    """Every code cell was run, in order, in one session; committed facts hold."""
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    counts = [c.get("execution_count") for c in code]
    if path.name.startswith("03_"):
        assert counts == list(range(1, len(code) + 1)), counts
        assert not [o for c in code for o in c.outputs if o.get("output_type") == "error"]
    facts = _facts(nb)
    if facts is not None:
        check_facts(path.name, facts)


def test_readme_python_example_runs(capsys):
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    assert blocks, "README.md has no python example"
    for code in blocks:
        exec(compile(code, "README.md", "exec"), {})


def test_tour_runs(capsys):
    from funcad.__main__ import main
    main()
    out = capsys.readouterr().out
    for heading in ("make_jaxpr", "grad", "vmap", "hessian", "jit"):
        assert heading in out
    assert "lambda" in out and "unavailable" not in out
