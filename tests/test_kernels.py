"""Programs split into shared, size-generic kernels under a Python driver (issue: jit
compiles in linear time). In-process tests run the generated source as Python; the
subprocess tests compile for real."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import funcad as fa
import funcad.numpy as fnp
from funcad import lax
from funcad.lowering.numba.compile import lower_program, _options_dict


def _lowered(f, *args, split=True, monkeypatch=None):
    closed = fa.jit(f).lower(*args)
    if monkeypatch is not None:
        monkeypatch.setenv("FUNCAD_DRIVER", "python" if split else "numba")
    return lower_program(closed._flat, "f", _options_dict(()))


def _chain(n_layers, seg=None):
    def loss(ws, x):
        h = x
        for i in range(n_layers):
            h = h + fnp.tanh(ws[i] * h)
        return fnp.mean(h * h)
    return fa.grad(loss, argnums=(0, 1))


def test_layers_share_kernels_and_batch_sizes_share_texts(monkeypatch):
    monkeypatch.setenv("FUNCAD_DRIVER", "python")
    ws = np.linspace(0.1, 0.9, 40)
    small = lower_program(fa.jit(_chain(20)).lower(ws[:20], np.ones(50))._flat, "f",
                          _options_dict(()))
    big = lower_program(fa.jit(_chain(40)).lower(ws, np.ones(50))._flat, "f",
                        _options_dict(()))
    other = lower_program(fa.jit(_chain(40)).lower(ws, np.ones(77))._flat, "f",
                          _options_dict(()))
    keys_small = {c.kernel.key for c in small.calls}
    keys_big = {c.kernel.key for c in big.calls}
    # Twice the layers: twice the kernel calls, hardly any new kernel.
    assert len(big.calls) > 1.8 * len(small.calls)
    assert len(keys_big - keys_small) <= 3, (len(keys_big), len(keys_small))
    assert len(keys_big) < len(big.calls) / 3
    # Another vector length: the very same kernels (sizes are arguments).
    assert [c.kernel.key for c in other.calls] == [c.kernel.key for c in big.calls]
    assert not re.search(r"(?<![\w.])77(?![\w.])",
                         "".join(c.kernel.canonical for c in other.calls))


def test_split_program_equals_eager(monkeypatch):
    monkeypatch.setenv("FUNCAD_DRIVER", "python")
    ws, x = np.linspace(0.1, 0.9, 30), np.linspace(-1, 1, 64)
    g = _chain(30)
    for a, b in zip(fa.jit(g)(ws, x), g(ws, x)):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_driver_releases_temporaries(monkeypatch):
    monkeypatch.setenv("FUNCAD_DRIVER", "python")
    src = fa.jit(_chain(10)).lower(np.ones(10), np.ones(5)).source
    driver = src.split("# ---- kernels")[0]
    assert re.search(r"^    del \w", driver, re.M), driver


def test_runtime_name_never_collides_with_a_variable(monkeypatch):
    # The 462nd generated name is `rt`: a program with more values than that must still
    # reach its runtime helpers (it is imported as `_rt`, which no generated name can be).
    monkeypatch.setenv("FUNCAD_DRIVER", "numba")

    def f(x):            # rank-0 values are top-level locals of the program
        for k in range(300):
            x = fnp.sin(x) * (1.0 + 1e-3 * k)
        return x
    x = 0.3
    src = fa.jit(f).lower(x).source
    assert re.search(r"^\s+rt = ", src, re.M), "the program should bind a variable `rt`"
    np.testing.assert_allclose(fa.jit(f)(x), f(x), rtol=1e-12)


def test_reserved_names_are_complete():
    from funcad.lowering.numba.codegen import _RESERVED
    for word in ("async", "await", "match", "case", "type", "lambda", "range", "np",
                 "math", "prange", "print", "len"):
        assert word in _RESERVED


@pytest.mark.parametrize("split", [False, True])
def test_no_slice_assignment_from_arrays(monkeypatch, split):
    monkeypatch.setenv("FUNCAD_DRIVER", "python" if split else "numba")

    def f(x, y):
        z = fnp.concatenate([x, y, x], axis=1)
        z = fnp.pad(z, ((1, 2), (0, 3)))
        z = fnp.at(z)[1:4, 2:4].set(x * 2.0)
        c, ys = lax.scan(lambda c, r: (c + r, c * r), z[0], z)
        return fnp.sum(ys) + fnp.sum(c)
    x, y = np.ones((3, 2)), np.arange(6.0).reshape(3, 2)
    for g in (f, fa.grad(f)):
        src = fa.jit(g).lower(x, y).source
        for ln in src.splitlines():
            if "=" in ln and not ln.lstrip().startswith("#"):
                target = ln.split("=", 1)[0]
                assert ":" not in target and "..." not in target, ln
        np.testing.assert_allclose(fa.jit(g)(x, y), g(x, y), rtol=1e-12)


_SUBPROCESS = r"""
import json, sys, time
import numpy as np
import funcad as fa, funcad.numpy as fnp
from funcad.lowering.numba import stats

def loss(ws, x):
    h = x
    for i in range(ws.shape[0]):
        h = h + fnp.tanh(ws[i] * h)
    return fnp.mean(h * h)

n, size = int(sys.argv[1]), int(sys.argv[2])
g = fa.jit(fa.grad(loss, argnums=(0, 1)))
ws, x = np.linspace(0.1, 0.9, n), np.linspace(-1, 1, size)
t0 = time.perf_counter()
out = g(ws, x)
first = time.perf_counter() - t0
before = dict(stats)
t0 = time.perf_counter()
out2 = g(ws, np.linspace(-1, 1, size + 17))
new_shape = time.perf_counter() - t0
ref = fa.grad(loss, argnums=(0, 1))(ws, x)
err = max(float(np.max(np.abs(a - b))) for a, b in zip(out, ref))
print(json.dumps({"first": first, "new_shape": new_shape, "before": before,
                  "after": dict(stats), "err": err}))
"""


def _run(cache_dir, *argv, compile_mode="sync"):
    env = dict(os.environ, FUNCAD_CACHE_DIR=str(cache_dir), FUNCAD_DISABLE_JIT="0",
               FUNCAD_COMPILE=compile_mode, NUMBA_CACHE_DIR=str(cache_dir))
    out = subprocess.run([sys.executable, "-c", _SUBPROCESS, *map(str, argv)], env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def _compiled(st):
    return st["kernels_compiled"] + st["kernels_llvm"] + st["compiled"]


def test_kernels_are_shared_across_processes_sizes_and_programs(tmp_path):
    a = _run(tmp_path, 20, 100)
    assert a["err"] < 1e-10 and _compiled(a["before"]) > 0
    # A new batch size in the same process compiles no kernel.
    assert _compiled(a["after"]) == _compiled(a["before"])
    # Another process loads what the first compiled; a deeper chain of the same family
    # needs (almost) nothing new.
    b = _run(tmp_path, 20, 100)
    assert b["after"]["kernels_compiled"] == 0 and b["after"]["compiled"] == 0
    assert b["after"]["kernels_llvm"] == 0 and b["after"]["kernels_loaded"] > 0
    c = _run(tmp_path, 40, 300)
    assert c["err"] < 1e-10
    assert c["after"]["kernels_compiled"] + c["after"]["compiled"] <= 3


def test_two_processes_compiling_kernels_at_once(tmp_path):
    env = dict(os.environ, FUNCAD_CACHE_DIR=str(tmp_path), FUNCAD_DISABLE_JIT="0",
               FUNCAD_COMPILE="sync", NUMBA_CACHE_DIR=str(tmp_path))
    procs = [subprocess.Popen([sys.executable, "-c", _SUBPROCESS, "20", "64"], env=env,
                              text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(2)]
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
        assert json.loads(out.strip().splitlines()[-1])["err"] < 1e-10


def test_tiered_first_call_returns_before_compilation(tmp_path):
    prog = _SUBPROCESS.replace("print(json.dumps(", "fa.wait_compiled()\nprint(json.dumps(")
    env = dict(os.environ, FUNCAD_CACHE_DIR=str(tmp_path), FUNCAD_DISABLE_JIT="0",
               FUNCAD_COMPILE="background", NUMBA_CACHE_DIR=str(tmp_path))
    prog += r"""
t0 = time.perf_counter(); g(ws, x); native = time.perf_counter() - t0
from funcad.lowering.numba import compile as comp
print(json.dumps({"first": first, "err": err, "native": native,
                  "tiered": len(comp._tiered), "in_caller": stats["kernels_compiled"]}))
"""
    out = subprocess.run([sys.executable, "-c", prog, "40", "1000"], env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["err"] < 1e-10 and r["tiered"] >= 1
    # Interpreting the first call costs milliseconds, not a compile.
    assert r["first"] < 0.5, r
    assert r["in_caller"] == 0


def test_tiered_large_program_is_lowered_by_the_worker(tmp_path):
    # A large program's second call starts a worker that lowers it too: no call of the
    # caller lowers, and the switch loads the worker's lowered program.
    prog = r"""
import json, sys, time
import numpy as np
import funcad as fa, funcad.numpy as fnp
from funcad.lowering.numba import compile as comp, background

def loss(ws, x):
    h = x
    for i in range(ws.shape[0]):
        h = h + fnp.tanh(ws[i] * h)
    return fnp.mean(h * h)

lowered_here = []
real = comp.lower_program
comp.lower_program = lambda *a, **k: lowered_here.append(1) or real(*a, **k)
g = fa.jit(fa.grad(loss, argnums=(0, 1)))
ws, x = np.linspace(0.1, 0.9, 40), np.linspace(-1, 1, 300)
outs = [g(ws, x) for _ in range(3)]
in_calls = len(lowered_here)
size = background.program_size(fa.jit(fa.grad(loss, argnums=(0, 1))).lower(ws, x)._flat)
lowered_here.clear()
fa.wait_compiled()
out = g(ws, x)
(t,) = [t for _, t in comp._tiered.values()]
ref = fa.grad(loss, argnums=(0, 1))(ws, x)
err = max(float(np.max(np.abs(a - b))) for o in outs + [out] for a, b in zip(o, ref))
print(json.dumps({"size": size, "lowered_here": len(lowered_here) + in_calls, "err": err,
                  "native": t.native is not None}))
"""
    env = dict(os.environ, FUNCAD_CACHE_DIR=str(tmp_path), FUNCAD_DISABLE_JIT="0",
               FUNCAD_COMPILE="background", NUMBA_CACHE_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", prog], env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout.strip().splitlines()[-1])
    from funcad.lowering.numba.background import LOWER_HERE_MAX
    assert r["size"] > LOWER_HERE_MAX, r
    assert r["lowered_here"] == 0 and r["native"] and r["err"] < 1e-10, r
    assert not [p for p in os.listdir(tmp_path / "jobs") if p.endswith(".pkl")]


def test_corrupt_kernel_files_are_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("FUNCAD_DRIVER", "python")
    monkeypatch.setenv("FUNCAD_CACHE_DIR", str(tmp_path))
    from funcad.lowering.numba.compile import _ensure_file, stats
    path = str(tmp_path / "k.py")
    _ensure_file(path, "x = 1\n")
    with open(path, "w") as f:
        f.write("garbage(")
    before = stats["rewritten"]
    _ensure_file(path, "x = 1\n")
    assert stats["rewritten"] == before + 1 and open(path).read() == "x = 1\n"


def test_long_lived_cheap_residuals_are_recomputed(monkeypatch):
    # A deep chain's backward pass reads h_i and 1 - tanh(w_i h_i)**2: only h_i is kept,
    # the other is recomputed next to its use (half the arrays alive at the peak).
    from funcad.lowering.numba import remat
    monkeypatch.setenv("FUNCAD_DRIVER", "python")
    g = _chain(60)
    ws, x = np.linspace(0.1, 0.9, 60), np.linspace(-1, 1, 37)

    def peak_vectors():
        """Most 37-vectors alive at once in the driver (allocations minus dels)."""
        lp = lower_program(fa.jit(g).lower(ws, x)._flat, "f", _options_dict(()))
        live, peak = set(), 0
        for ln in lp.source.split("# ---- kernels")[0].splitlines():
            m = re.match(r"\s+(\w+) = (?:_rt\.fill\()?_empty\(37,", ln)
            if m:
                live.add(m.group(1))
            elif ln.strip().startswith("del "):
                live -= {n.strip() for n in ln.strip()[4:].split(",")}
            peak = max(peak, len(live))
        return peak
    with_remat = peak_vectors()
    monkeypatch.setattr(remat, "_MIN_DISTANCE", 10 ** 9)
    without = peak_vectors()
    # 60 layer inputs must stay alive; without the pass, 60 more residuals do.
    assert with_remat <= 60 + 15 and without >= 2 * 60, (with_remat, without)
    monkeypatch.undo()
    monkeypatch.setenv("FUNCAD_DRIVER", "python")
    for a, b in zip(fa.jit(g)(ws, x), g(ws, x)):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_loops_and_sizes_are_seen_inside_cond_branches():
    # A loop inside a cond branch is compiled at once like any loop (interpreting it op
    # by op is ~100x slower), and the branches count towards the program's size.
    from funcad import lax
    from funcad.lowering.numba.background import has_loops, program_size

    def f(x):
        return lax.cond(x[0] > 0, lambda x: lax.fori_loop(0, 3, lambda i, s: s * 2.0, x),
                        lambda x: x + 1.0, x)

    jaxpr = fa.make_jaxpr(f)(np.ones(3)).jaxpr
    assert [e.primitive.name for e in jaxpr.eqns][-1] == "cond"
    assert has_loops(jaxpr)
    assert program_size(jaxpr) > len(jaxpr.eqns)
    assert not has_loops(fa.make_jaxpr(lambda x: lax.cond(x[0] > 0, fnp.sin, fnp.cos, x))(
        np.ones(3)).jaxpr)
