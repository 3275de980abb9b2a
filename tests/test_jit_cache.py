"""The disk cache of compiled programs, across processes (subprocess tests)."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys

import pytest

_PROGRAM = r"""
import json, sys, time
import numpy as np
import funcad as fa, funcad.numpy as fnp
from funcad.lowering.numba import stats

def loss(w, x):
    return fnp.sum(fnp.tanh(x @ w) ** 2)

w, x = np.ones((3, 2)) * 0.1, np.arange(12.0).reshape(4, 3)
g = fa.jit(fa.grad(loss))(w, x)
print(json.dumps({"stats": stats, "g": g.tolist()}))
"""


def _run(cache_dir: str) -> dict:
    env = dict(os.environ, FUNCAD_CACHE_DIR=cache_dir, FUNCAD_DISABLE_JIT="0")
    out = subprocess.run([sys.executable, "-c", _PROGRAM], env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_second_process_loads_without_compiling(tmp_path):
    a = _run(str(tmp_path))
    assert a["stats"]["compiled"] == 1 and a["stats"]["disk_hits"] == 0
    b = _run(str(tmp_path))
    assert b["stats"]["compiled"] == 0 and b["stats"]["disk_hits"] == 1
    assert a["g"] == b["g"]

    # A corrupted source file is detected, rewritten and recompiled, never used.
    files = glob.glob(str(tmp_path / "fa_*.py"))
    assert len(files) == 1
    with open(files[0], "a") as f:
        f.write("\nraise RuntimeError('corrupted')\n")
    c = _run(str(tmp_path))
    assert c["stats"]["rewritten"] == 1
    assert c["g"] == a["g"]
    d = _run(str(tmp_path))
    assert d["stats"]["compiled"] == 0 and d["g"] == a["g"]


def test_two_processes_compiling_at_once(tmp_path):
    env = dict(os.environ, FUNCAD_CACHE_DIR=str(tmp_path), FUNCAD_DISABLE_JIT="0")
    procs = [subprocess.Popen([sys.executable, "-c", _PROGRAM], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(2)]
    results = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, results):
        assert p.returncode == 0, err
    gs = [json.loads(out.strip().splitlines()[-1])["g"] for out, _ in results]
    assert gs[0] == gs[1]
    assert not glob.glob(str(tmp_path / ".tmp-*"))
    again = _run(str(tmp_path))
    assert again["stats"]["compiled"] == 0 and again["g"] == gs[0]


@pytest.mark.parametrize("flag", ["parallel", "fastmath"])
def test_compile_flags_enter_the_key(flag):
    from funcad.lowering.numba.compile import _key
    assert _key("src", {"parallel": False, "fastmath": False}, False) != _key(
        "src", {"parallel": flag == "parallel", "fastmath": flag == "fastmath"}, False)
