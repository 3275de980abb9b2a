"""Benchmark of funcad.lowering.llvm (Python subset -> LLVM IR -> llvmlite) against Numba.

Prints one table:
  * process init (fresh process: import + target machine + first tiny kernel), LLVM vs Numba;
  * compile time per kernel at 5 / 60 / 300 statements (distinct sources, no disk cache),
    LLVM vs Numba (Numba skipped at 300 with --quick);
  * disk-cache load time in a fresh process with 1, 100 and 1000 cached kernels;
  * call overhead (3 arrays + 2 ints, zero-trip loop), LLVM vs Numba dispatcher;
  * run time of 1e6-element loops (elementwise chain, tanh/copysign example, reduction), LLVM vs Numba.

Usage: python benchmarks/bench_llvm_kernels.py [--quick]
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

QUICK = "--quick" in sys.argv


def kernel_source(nstmt, salt):
    """An elementwise kernel with ``nstmt`` statements (loads, arithmetic, math calls, stores)."""
    ops = ["v{a} * v{b} + {c}", "np.tanh(v{a}) - v{b}", "v{a} / (1.0 + abs(v{b}))", "max(v{a}, v{b}) * {c}",
           "np.sqrt(abs(v{a})) + v{b}", "v{a} if v{b} > {c} else -v{a}", "np.exp(-v{a} * v{a}) + {c}",
           "np.floor(v{a}) - v{b} * v{b}"]
    lines = [f"def k(x, y, o, n, m):", f"    # kernel {salt}", f"    for i in range(n):", "        v0 = x[i]",
             "        v1 = y[i]"]
    rng = np.random.default_rng(salt)
    nv = 2
    while len(lines) - 3 < nstmt - 1:
        op = ops[rng.integers(len(ops))]
        a, b = nv - 1, rng.integers(nv)       # a chain: every statement is live
        lines.append(f"        v{nv} = " + op.format(a=a, b=b, c=f"{0.25 + salt * 1e-3 + nv * 1e-6!r}"))
        nv += 1
    lines.append(f"        o[i] = v{nv - 1}")
    return "\n".join(lines) + "\n"


TYPES_CODE = ("[ArrayArg(np.float64, 1), ArrayArg(np.float64, 1), ArrayArg(np.float64, 1), "
              "ScalarArg(np.int64), ScalarArg(np.int64)]")


def in_fresh_process(code):
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env=dict(os.environ, PYTHONPATH=ROOT))
    if out.returncode:
        raise RuntimeError(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_init():
    llvm = in_fresh_process(f"""
import time, json
t0 = time.perf_counter()
import numpy as np
from funcad.lowering.llvm import compile_kernel, ArrayArg, ScalarArg
import funcad.lowering.llvm.kernel_compiler as KC
t1 = time.perf_counter()
KC._get_jit()
t2 = time.perf_counter()
compile_kernel({kernel_source(3, 0)!r}, "k", {TYPES_CODE})
t3 = time.perf_counter()
print(json.dumps([t1 - t0, t2 - t1, t3 - t2]))
""")
    numba = in_fresh_process(f"""
import time, json
t0 = time.perf_counter()
import numpy as np, numba
t1 = time.perf_counter()
g = {{"np": np}}
exec({kernel_source(3, 0)!r}, g)
f = numba.njit(error_model="numpy")(g["k"])
x = np.zeros(4)
f(x, x, x, 4, 4)
t2 = time.perf_counter()
print(json.dumps([t1 - t0, t2 - t1]))
""")
    return llvm, numba


def bench_compile(nstmt, reps):
    import numba
    from funcad.lowering.llvm import ArrayArg, ScalarArg, compile_kernel
    types = [ArrayArg(np.float64, 1)] * 3 + [ScalarArg(np.int64)] * 2
    compile_kernel(kernel_source(3, 999), "k", types)     # init
    t_llvm = []
    for r in range(reps):
        src = kernel_source(nstmt, 1000 * nstmt + r)
        t = time.perf_counter()
        compile_kernel(src, "k", types)
        t_llvm.append(time.perf_counter() - t)
    t_nb = []
    if not (QUICK and nstmt > 60):
        x = np.zeros(4)
        for r in range(max(1, reps // 3)):
            g = {"np": np}
            exec(kernel_source(nstmt, 5000 * nstmt + r), g)
            t = time.perf_counter()
            numba.njit(error_model="numpy")(g["k"])(x, x, x, 4, 4)
            t_nb.append(time.perf_counter() - t)
    return np.median(t_llvm), (np.median(t_nb) if t_nb else float("nan"))


def bench_load(counts):
    res = {}
    with tempfile.TemporaryDirectory() as d:
        nmax = max(counts)
        # populate in a separate process
        in_fresh_process(f"""
import json, numpy as np
from funcad.lowering.llvm import compile_kernel, ArrayArg, ScalarArg
import benchmarks.bench_llvm_kernels as B
for s in range({nmax}):
    compile_kernel(B.kernel_source(5, 70000 + s), "k", {TYPES_CODE}, cache_dir={d!r})
print(json.dumps(0))
""")
        for n in counts:
            res[n] = in_fresh_process(f"""
import json, time, numpy as np
t0 = time.perf_counter()
from funcad.lowering.llvm import compile_kernel, ArrayArg, ScalarArg, kernel_stats
import funcad.lowering.llvm.kernel_compiler as KC
import benchmarks.bench_llvm_kernels as B
KC._get_jit()
srcs = [B.kernel_source(5, 70000 + s) for s in range({n})]
t1 = time.perf_counter()
for src in srcs:
    compile_kernel(src, "k", {TYPES_CODE}, cache_dir={d!r})
t2 = time.perf_counter()
assert kernel_stats["loaded"] == {n} and kernel_stats["compiled"] == 0, kernel_stats
print(json.dumps([t1 - t0, (t2 - t1) / {n}, t2 - t1]))
""")
    return res


CALL_SRC = """
def k(a, b, c, n, m):
    for i in range(n):
        for j in range(m):
            c[i, j] = a[i, j] + b[i, j]
"""


def bench_call():
    import numba
    from funcad.lowering.llvm import ArrayArg, ScalarArg, compile_kernel
    k = compile_kernel(CALL_SRC, "k", [ArrayArg(np.float64, 2)] * 3 + [ScalarArg(np.int64)] * 2)
    g = {"np": np}
    exec(CALL_SRC, g)
    f = numba.njit(error_model="numpy")(g["k"])
    a = np.zeros((4, 4))
    f(a, a, a, 0, 0)
    # alternatives measured for the record: ctypes on a C-ABI function of the same arguments
    import ctypes
    import llvmlite.binding as ll
    import funcad.lowering.llvm.kernel_compiler as KC
    jit = KC._get_jit()
    m = ll.parse_assembly("define void @bench_cabi(ptr %a, ptr %b, ptr %c, i64 %n, i64 %m) {\n  ret void\n}\n")
    jit.ee.add_module(m)
    jit.ee.finalize_object()
    cf = ctypes.CFUNCTYPE(None, *[ctypes.c_void_p] * 3, ctypes.c_int64, ctypes.c_int64)(
        jit.ee.get_function_address("bench_cabi"))

    def via_ctypes_data(a, b, c, n, m):
        cf(a.ctypes.data, b.ctypes.data, c.ctypes.data, n, m)

    def via_array_interface(a, b, c, n, m):
        cf(a.__array_interface__["data"][0], b.__array_interface__["data"][0],
           c.__array_interface__["data"][0], n, m)

    out = []
    for fn in (k, f, via_ctypes_data, via_array_interface):
        best = 1e9
        for _ in range(7):
            t = time.perf_counter()
            for _ in range(20000):
                fn(a, a, a, 0, 0)
            best = min(best, (time.perf_counter() - t) / 20000)
        out.append(best)
    return out


RUN_SRCS = {
    "elementwise chain": ("""
def k(x, y, o, n, m):
    for i in range(n):
        a = x[i]
        b = y[i]
        o[i] = (a * b + 1.5) / (1.0 + abs(a - b)) - max(a, b) * 0.25
""", 1),
    "tanh/copysign (example)": ("""
def k(x, y, o, n, m):
    for i in range(n):
        v0 = x[i]
        t2 = abs(v0)
        t3 = t2 * t2 if t2 < 0.625 else np.float64(np.int64(1) << (60 - np.int64(t2)))
        o[i] = np.copysign(np.tanh(v0 + y[i]), v0) * 0.5 + t3
""", 1),
    "row sums (reduction)": ("""
def k(x, y, o, n, m):
    for i in range(n):
        acc = 0.0
        for j in range(m):
            acc += x[i * m + j] * y[i * m + j]
        o[i] = acc
""", 1000),
}


def bench_run():
    import numba
    from funcad.lowering.llvm import ArrayArg, ScalarArg, compile_kernel
    rng = np.random.default_rng(0)
    N = 10 ** 6
    x, y = rng.normal(size=N), rng.normal(size=N)
    res = {}
    for name, (src, m) in RUN_SRCS.items():
        n = N // m
        k = compile_kernel(src, "k", [ArrayArg(np.float64, 1)] * 3 + [ScalarArg(np.int64)] * 2)
        g = {"np": np}
        exec(src, g)
        f = numba.njit(error_model="numpy")(g["k"])
        o1, o2 = np.zeros(n), np.zeros(n)
        f(x, y, o2, n, m)
        k(x, y, o1, n, m)
        assert np.allclose(o1, o2, rtol=1e-12, equal_nan=True), name
        times = []
        for fn, o in ((k, o1), (f, o2)):
            best = 1e9
            for _ in range(5 if QUICK else 15):
                t = time.perf_counter()
                fn(x, y, o, n, m)
                best = min(best, time.perf_counter() - t)
            times.append(best)
        res[name] = times
    return res


def main():
    print(f"funcad LLVM kernel compiler vs Numba  (machine: {os.cpu_count()} cpus; quick={QUICK})")
    (l_imp, l_init, l_first), (n_imp, n_first) = bench_init()
    print(f"{'process init (fresh)':40s} {'LLVM':>12s} {'Numba':>12s}")
    print(f"{'  import (LLVM column: numpy + funcad)':40s} {l_imp * 1e3:10.0f}ms {n_imp * 1e3:10.0f}ms")
    print(f"{'  JIT init (target machine, engine)':40s} {l_init * 1e3:10.0f}ms")
    print(f"{'  first tiny kernel (Numba: + init)':40s} {l_first * 1e3:10.0f}ms {n_first * 1e3:10.0f}ms")
    print(f"{'compile per kernel (median)':40s}")
    for nstmt, reps in ((5, 9), (60, 5), (300, 3)):
        tl, tn = bench_compile(nstmt, reps)
        print(f"{f'  {nstmt} statements':40s} {tl * 1e3:10.1f}ms {tn * 1e3:10.1f}ms")
    counts = (1, 100) if QUICK else (1, 100, 1000)
    print(f"{'disk cache load, fresh process':40s} {'imp.+init':>12s} {'per kernel':>12s} {'total':>10s}")
    for n, (init, per, tot) in bench_load(counts).items():
        print(f"{f'  {n} cached kernels':40s} {init * 1e3:10.1f}ms {per * 1e3:10.2f}ms {tot * 1e3:8.0f}ms")
    cl, cn, cc, ca = bench_call()
    print(f"{'call overhead (3 arrays + 2 ints)':40s} {cl * 1e6:10.2f}us {cn * 1e6:10.2f}us")
    print(f"{'  (ctypes + arr.ctypes.data)':40s} {cc * 1e6:10.2f}us")
    print(f"{'  (ctypes + __array_interface__)':40s} {ca * 1e6:10.2f}us")
    print(f"{'run time, 1e6 elements (best of N)':40s}")
    for name, (tl, tn) in bench_run().items():
        print(f"{'  ' + name:40s} {tl * 1e3:10.2f}ms {tn * 1e3:10.2f}ms")


if __name__ == "__main__":
    main()
