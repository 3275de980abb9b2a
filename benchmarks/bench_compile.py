"""jit compile time against program size: cold, cached and new-shape first calls.

Workloads (the programs of the shared benchmark, /work/shared/bench/backends/funcad.py,
imported from there rather than copied):
- `chain L`: `memory(data)`, the residual chain `h = h + tanh(w[i] * h)` of L layers on
  a 1000-vector, `jit(grad(mean(h*h)))` w.r.t. (ws, x); `chain L ckpt`: the same with
  `fa.checkpoint` around each 10-layer segment;
- `mlp`: `jit(grad(mlp_loss))` of the 784-256-256-10 MLP, data `make_data("compile")`.

Columns: cold first call (fresh process, empty FUNCAD_CACHE_DIR / NUMBA_CACHE_DIR), cached
first call (a second fresh process sharing those dirs), new-shape first call (in the cached
process: the same program at vector length 2000 / batch 64; then, in the default
background mode, that new shape's first result and the slowest of its next calls while a
worker lowers and loads it), steady call time (median),
kernel calls / distinct kernels of the driver, and the stats counters of the cold process.
Every measurement runs in a fresh subprocess, FUNCAD_COMPILE=sync, one thread.

Run:  python benchmarks/bench_compile.py [--sizes 20,40,80,200] [--repeat N] [--out FILE]
Not run in CI.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_BENCH = os.environ.get("FUNCAD_SHARED_BENCH", "/work/shared/bench")

# The child: builds one workload, times the first call (and, when asked, a first call at
# another shape and the steady call time), prints one JSON line.
CHILD = r"""
import json, os, sys, time
t_start = time.perf_counter()
sys.path.insert(0, os.environ["BENCH_SHARED"])
import numpy as np
import funcad as fa
from funcad.lowering.numba import stats, compile_log
from backends import funcad as fb
import common
spec = json.loads(sys.argv[1])

def build(shape_variant):
    if spec["kind"] == "mlp":
        data = common.make_data("compile")
        if shape_variant:
            data = dict(data, x=data["x"][:64], y=data["y"][:64])
        return fb.compile_mlp(data)
    rng = np.random.default_rng(0)
    L, n = spec["layers"], (2000 if shape_variant else 1000)
    data = dict(ws=rng.uniform(-0.5, 0.5, L), x=rng.standard_normal(n), layers=L,
                segment=10)
    return fb.memory(data, checkpoint=spec["checkpoint"])

def drivers():
    # "driver fa_...: N kernel calls, M distinct kernels" lines of the compile log.
    out = []
    for line in compile_log():
        if line.startswith("driver "):
            tail = line.split(": ", 1)[1].split(", ")
            out.append((int(tail[0].split()[0]), int(tail[1].split()[0])))
    return out

res = {"import_s": time.perf_counter() - t_start}
if spec.get("tiered"):
    # The default mode: the new shape's calls interpret until a worker has lowered and
    # loaded the program. First result, and the slowest of the next calls.
    fn = build(False); fn(); fn(); fa.wait_compiled(); fn()
    fn2 = build(True)
    times = []
    for _ in range(spec["steady_n"]):
        t = time.perf_counter(); fn2(); times.append(time.perf_counter() - t)
    res["first_s"], res["worst_later_s"] = times[0], max(times[1:])
    print("RESULT " + json.dumps(res))
    sys.exit(0)
fn = build(False)
t = time.perf_counter(); fn(); res["first_s"] = time.perf_counter() - t
d = drivers()
res["kernel_calls"], res["distinct_kernels"] = (d[0] if d else (0, 0))
res["stats"] = dict(stats)
if spec["more"]:
    fn2 = build(True)
    before = dict(stats)
    t = time.perf_counter(); fn2(); res["newshape_s"] = time.perf_counter() - t
    res["newshape_stats"] = {k: stats[k] - before[k] for k in stats}
    times = []
    for _ in range(spec["steady_n"]):
        t = time.perf_counter(); fn(); times.append(time.perf_counter() - t)
    res["steady_s"] = sorted(times)[len(times) // 2]
print("RESULT " + json.dumps(res))
"""


def _env(cache: str, mode: str = "sync") -> dict:
    env = dict(os.environ)
    for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
              "NUMBA_NUM_THREADS"):
        env[v] = "1"
    env.update(FUNCAD_COMPILE=mode, FUNCAD_DISABLE_JIT="0",
               FUNCAD_CACHE_DIR=os.path.join(cache, "funcad"),
               NUMBA_CACHE_DIR=os.path.join(cache, "numba"),
               XDG_CACHE_HOME=os.path.join(cache, "xdg"),
               BENCH_SHARED=SHARED_BENCH,
               PYTHONPATH=os.pathsep.join(p for p in (ROOT, env.get("PYTHONPATH")) if p))
    env.pop("FUNCAD_DRIVER", None)
    return env


def _child(spec: dict, cache: str) -> dict:
    env = _env(cache, "background" if spec.get("tiered") else "sync")
    r = subprocess.run([sys.executable, "-c", CHILD, json.dumps(spec)], env=env,
                       capture_output=True, text=True, timeout=3600)
    for line in r.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"child failed ({r.returncode}) for {spec}:\n{r.stderr[-3000:]}")


def measure(spec: dict, repeat: int) -> dict:
    """Median over `repeat` pairs of fresh processes (cold, then cached) of one workload."""
    runs = []
    for _ in range(repeat):
        cache = tempfile.mkdtemp(prefix="funcad-bench-compile-")
        try:
            cold = _child(dict(spec, more=False), cache)
            cached = _child(dict(spec, more=True), cache)
            tiered = _child(dict(spec, tiered=True), cache)
        finally:
            shutil.rmtree(cache, ignore_errors=True)
        runs.append((cold, cached, tiered))
    med = lambda xs: statistics.median(xs)  # noqa: E731
    cold0, cached0, _ = runs[len(runs) // 2]
    return {"name": spec["name"], "layers": spec.get("layers"),
            "cold_s": med([c["first_s"] for c, _, _ in runs]),
            "cached_s": med([k["first_s"] for _, k, _ in runs]),
            "newshape_s": med([k["newshape_s"] for _, k, _ in runs]),
            "newshape_bg_s": med([t["first_s"] for _, _, t in runs]),
            "newshape_bg_worst_s": med([t["worst_later_s"] for _, _, t in runs]),
            "steady_s": med([k["steady_s"] for _, k, _ in runs]),
            "import_s": med([c["import_s"] for c, _, _ in runs]),
            "kernel_calls": cold0["kernel_calls"], "distinct_kernels": cold0["distinct_kernels"],
            "cold_stats": cold0["stats"], "cached_stats": cached0["stats"],
            "newshape_stats": cached0["newshape_stats"]}


def _counters(s: dict) -> str:
    keys = [("kernels_llvm", "llvm"), ("kernels_compiled", "numba"),
            ("kernels_loaded", "loaded"), ("kernels_reused", "reused"),
            ("compiled", "whole"), ("lowered", "lowered")]
    return " ".join(f"{short}={int(s.get(k, 0))}" for k, short in keys)


def _fit(points):
    """Least squares t = a + b * layers; returns (a, b, r^2)."""
    n = len(points)
    if n < 2:
        return None
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    sxy = sum((x - mx) * (y - my) for x, y in points)
    b = sxy / sxx
    a = my - b * mx
    ss = sum((y - my) ** 2 for _, y in points)
    res = sum((y - a - b * x) ** 2 for x, y in points)
    return a, b, (1 - res / ss) if ss else 1.0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="20,40,80,200", help="chain layers, comma-separated")
    ap.add_argument("--repeat", type=int, default=3, help="median of N fresh runs")
    ap.add_argument("--steady", type=int, default=20, help="calls for the steady time")
    ap.add_argument("--out", help="write the results as JSON")
    ap.add_argument("--no-mlp", action="store_true")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]

    specs = []
    for ckpt in (False, True):
        for L in sizes:
            specs.append(dict(kind="chain", layers=L, checkpoint=ckpt,
                              name=f"chain {L}{' ckpt' if ckpt else ''}"))
    if not args.no_mlp:
        specs.append(dict(kind="mlp", name="mlp grad"))

    rows = []
    for spec in specs:
        spec["steady_n"] = args.steady
        r = measure(spec, args.repeat)
        rows.append(r)
        print(f"# {r['name']}: cold {r['cold_s']:.2f}s cached {r['cached_s']:.3f}s",
              file=sys.stderr, flush=True)

    print(f"\njit compile time vs program size (median of {args.repeat}; "
          "single-threaded, FUNCAD_COMPILE=sync; import time excluded)\n")
    print("| program | cold first call | cached first call | new-shape first call "
          "| new shape, default mode: first / slowest later call "
          "| steady call | kernel calls / distinct | counters (cold) | counters (cached) "
          "| counters (new shape) |")
    print("|---|---:|---:|---:|---:|---:|---:|---|---|---|")
    for r in rows:
        kc = (f"{r['kernel_calls']} / {r['distinct_kernels']}" if r["kernel_calls"]
              else "whole program")
        print(f"| {r['name']} | {r['cold_s']:.2f} s | {r['cached_s'] * 1e3:.0f} ms "
              f"| {r['newshape_s'] * 1e3:.0f} ms "
              f"| {r['newshape_bg_s'] * 1e3:.0f} / {r['newshape_bg_worst_s'] * 1e3:.0f} ms "
              f"| {r['steady_s'] * 1e3:.2f} ms | {kc} "
              f"| {_counters(r['cold_stats'])} | {_counters(r['cached_stats'])} "
              f"| {_counters(r['newshape_stats'])} |")

    print()
    for ckpt in (False, True):
        pts = [(r["layers"], r["cold_s"]) for r in rows
               if r["layers"] is not None and r["name"].endswith("ckpt") == ckpt]
        fit = _fit(pts)
        label = "chain ckpt" if ckpt else "chain"
        if fit:
            a, b, r2 = fit
            print(f"least squares, {label}: cold = {a:.2f} s + {b * 1e3:.1f} ms/layer "
                  f"(r^2 = {r2:.3f}; points {', '.join(f'{x}:{y:.2f}' for x, y in pts)})")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"repeat": args.repeat, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
