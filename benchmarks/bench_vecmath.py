"""ns per element of funcad's libm-free transcendental functions (funcad/lowering/numba/vecmath.py)
against the same loop calling libm, and NumPy's ufunc, at float64 and float32.

* ``libm``: a kernel ``o[i] = np.<fn>(a[i])`` (``a[i] ** b[i]`` for pow) compiled by funcad's
  LLVM kernel compiler, i.e. what jit compiled before: one scalar libm call per element, the
  loop not vectorised;
* ``funcad``: ``jit(fnp.<fn>)`` now (a Python driver calling one LLVM kernel, the vecmath
  source inlined in its loop, vectorised);
* ``numpy``: the ufunc (NumPy's own SIMD loops where it has them).

Each cell is the median over ``--repeats`` calls on ``--size`` elements, divided by the size.
Usage: python benchmarks/bench_vecmath.py [--size N] [--repeats R] [--only exp,sin]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ["FUNCAD_DISABLE_JIT"] = "0"
os.environ["FUNCAD_COMPILE"] = "sync"
os.environ["FUNCAD_DRIVER"] = "python"
os.environ.setdefault("FUNCAD_CACHE_DIR", tempfile.mkdtemp(prefix="funcad-bench-vecmath-"))

import funcad as fa  # noqa: E402
import funcad.numpy as fnp  # noqa: E402
from funcad.lowering.llvm import ArrayArg, ScalarArg, compile_kernel  # noqa: E402

# (name, argument ranges): inputs uniform over them
FUNCTIONS = [("exp", [(-10, 10)]), ("expm1", [(-2, 2)]), ("log", [(0.01, 100)]),
             ("log1p", [(-0.5, 100)]), ("sin", [(-10, 10)]), ("cos", [(-10, 10)]),
             ("tanh", [(-5, 5)]), ("pow", [(0.1, 10), (-5, 5)])]


def _median_ns(fn, args, size, repeats):
    fn(*args)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t0)
    return float(np.median(times)) / size * 1e9


def _libm_kernel(name, dt, nargs):
    expr = "a[i] ** b[i]" if name == "pow" else f"np.{name}(a[i])"
    params = "a, b, o, n" if nargs == 2 else "a, o, n"
    src = f"def k({params}):\n    for i in range(n):\n        o[i] = {expr}\n"
    types = [ArrayArg(np.dtype(dt), 1)] * (nargs + 1) + [ScalarArg(np.dtype(np.int64))]
    k = compile_kernel(src, "k", types)

    def run(*args):
        out = np.empty_like(args[0])
        k(*args, out, np.int64(out.size))
        return out
    return run


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=21)
    ap.add_argument("--only", default="")
    opts = ap.parse_args()
    rng = np.random.default_rng(0)
    only = set(filter(None, opts.only.split(",")))
    rows = []
    for name, ranges in FUNCTIONS:
        if only and name not in only:
            continue
        row = [name]
        for dt in (np.float64, np.float32):
            args = [rng.uniform(lo, hi, opts.size).astype(dt) for lo, hi in ranges]
            mine = fa.jit((lambda a, b: a ** b) if name == "pow" else getattr(fnp, name))
            ufunc = np.power if name == "pow" else getattr(np, name)
            libm = _libm_kernel(name, dt, len(args))
            got, want = np.asarray(mine(*args)), ufunc(*args)
            np.testing.assert_allclose(got, want, rtol=4 * np.finfo(dt).eps)
            ns = [_median_ns(f, args, opts.size, opts.repeats) for f in (libm, mine, ufunc)]
            row += [f"{ns[0]:.2f}", f"{ns[1]:.2f}", f"{ns[0] / ns[1]:.1f}x", f"{ns[2]:.2f}"]
        rows.append(row)
    head = ["function", "f64 libm", "f64 funcad", "f64 speed-up", "f64 numpy",
            "f32 libm", "f32 funcad", "f32 speed-up", "f32 numpy"]
    print(f"ns per element, median of {opts.repeats} calls on {opts.size} elements "
          f"(load average {os.getloadavg()[0]:.1f})\n")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" + "---:|" * (len(head) - 1))
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
