"""Compile progress (funcad/lowering/progress.py): shown after DELAY, off with FUNCAD_PROGRESS=0."""

import sys
import time
import types

import numpy as np
import pytest

import funcad as fa
import funcad.numpy as fnp
from funcad.lowering import progress
from funcad.lowering.numba import compile as nb_compile


@pytest.fixture
def quick(monkeypatch):
    """Show progress at once (DELAY 0), whatever FUNCAD_PROGRESS says outside."""
    monkeypatch.setattr(progress, "DELAY", 0.0)
    monkeypatch.setattr(progress, "TICK", 0.01)
    monkeypatch.delenv("FUNCAD_PROGRESS", raising=False)
    progress.enable(None)
    yield
    progress.enable(None)


def test_slow_task_reports_in_a_pipe_one_final_line(quick, capsys):
    for _ in progress.steps(range(3), "jit(demo)", total=3, label=lambda i: f"kernel {i}"):
        time.sleep(0.02)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "funcad: compiled jit(demo) (3 kernels) in" in err


def test_fast_task_shows_nothing(capsys):
    progress.enable(True)
    try:
        with progress.task("jit(fast)"):
            pass
    finally:
        progress.enable(None)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("how", ["env", "call"])
def test_switched_off(quick, capsys, monkeypatch, how):
    if how == "env":
        monkeypatch.setenv("FUNCAD_PROGRESS", "0")
    else:
        progress.enable(False)
    with progress.task("jit(slow)"):
        time.sleep(0.05)
    assert not progress.enabled()
    assert capsys.readouterr().err == ""


def test_terminal_rewrites_one_line(quick, capsys, monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    with progress.task("jit(t)", "the whole program"):
        time.sleep(0.1)          # the ticker refreshes the elapsed time meanwhile
    err = capsys.readouterr().err
    assert err.startswith("\rfuncad: compiling jit(t): the whole program ... ")
    assert err.endswith("\n") and err.count("\n") == 1
    assert "funcad: compiled jit(t) in" in err


def test_notebook_updates_one_display(quick, monkeypatch):
    import IPython
    import IPython.display

    shown = []

    class Handle:
        def update(self, obj, raw=False):
            shown.append(("update", obj["text/plain"]))

    def display(obj, raw=False, display_id=None):
        assert display_id is True and raw
        shown.append(("display", obj["text/plain"]))
        return Handle()

    monkeypatch.setattr(IPython, "get_ipython", lambda: types.SimpleNamespace(kernel=object()))
    monkeypatch.setattr(IPython.display, "display", display)
    for _ in progress.steps(range(2), "jit(nb)", total=2, label=lambda i: f"kernel k{i}"):
        time.sleep(0.02)
    assert shown[0][0] == "display" and all(k == "update" for k, _ in shown[1:])
    assert any("[1/2]: kernel k0" in t for _, t in shown)
    assert shown[-1][1].startswith("funcad: compiled jit(nb) (2 kernels)")


def test_failure_ends_the_task(quick, capsys):
    with pytest.raises(ValueError):
        for i in progress.steps(range(3), "jit(bad)", total=3):
            if i == 1:
                raise ValueError("boom")
    assert progress.current() is None
    assert "funcad: compiling jit(bad) stopped after" in capsys.readouterr().err


def test_jit_compile_reports_progress(quick, capsys, monkeypatch):
    """The hook in compile.py: a fresh compile of a program shows a status line.

    The driver is forced to the split form (a loop over kernels), which the test suite
    runs as plain Python (FUNCAD_DISABLE_JIT=1), so no Numba compile is waited for.
    """
    monkeypatch.setenv("FUNCAD_COMPILE", "sync")
    monkeypatch.setenv("FUNCAD_DRIVER", "python")
    monkeypatch.setattr(nb_compile, "_by_key", {})
    monkeypatch.setattr(nb_compile, "_by_jaxpr", {})

    def loss(w, x):
        return fnp.sum(fnp.tanh(x @ w) ** 2)

    fa.jit(fa.grad(loss))(np.ones((3, 2)), np.ones((4, 3)))
    err = capsys.readouterr().err
    assert "funcad: compiled jit(loss) (" in err and " kernels) in " in err


def test_whole_program_numba_compile_reports_progress(quick, capsys, monkeypatch):
    """The other hook: a program compiled as one Numba function (costs one small compile)."""
    monkeypatch.setenv("FUNCAD_COMPILE", "sync")
    monkeypatch.setenv("FUNCAD_DISABLE_JIT", "0")
    monkeypatch.setenv("FUNCAD_DRIVER", "numba")
    monkeypatch.setattr(nb_compile, "_by_key", {})
    monkeypatch.setattr(nb_compile, "_by_jaxpr", {})

    def tiny(x):
        return fnp.sin(x) * 2.0

    out = fa.jit(tiny)(np.ones(3))
    assert np.allclose(out, np.sin(1.0) * 2.0)
    err = capsys.readouterr().err
    assert "funcad: compiled jit(tiny) in " in err
