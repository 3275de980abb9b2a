"""Control-flow benchmarks: funcad against hand-written code (not run in CI).

1. Lorenz system, 2000 RK4 steps written with `lax.scan`, under `jit`: gradient of a scalar
   loss of the final state w.r.t. (sigma, rho, beta) and the initial state, against a
   hand-written Numba forward loop plus adjoint loop. Target: at most 2x.
2. Peak memory (RSS growth, measured in fresh subprocesses) of the gradient of a 200-layer
   residual tanh chain on 1e5-element vectors with sqrt checkpointing, against a
   hand-written NumPy gradient with the same checkpointing. Target: at most 1.3x.

Run: python benchmarks/bench_control.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

DT = 0.01
STEPS = 2000


# ----------------------------------------------------------------------------------
# Lorenz: funcad


def lorenz_funcad():
    import funcad as fa
    from funcad import lax

    def f(s, p):
        x, y, z = s
        sigma, rho, beta = p
        return sigma * (y - x), x * (rho - z) - y, x * y - beta * z

    def step(s, p):
        k1 = f(s, p)
        s2 = tuple(a + 0.5 * DT * k for a, k in zip(s, k1))
        k2 = f(s2, p)
        s3 = tuple(a + 0.5 * DT * k for a, k in zip(s, k2))
        k3 = f(s3, p)
        s4 = tuple(a + DT * k for a, k in zip(s, k3))
        k4 = f(s4, p)
        return tuple(a + DT / 6 * (q1 + 2 * q2 + 2 * q3 + q4)
                     for a, q1, q2, q3, q4 in zip(s, k1, k2, k3, k4))

    def loss(p, s0):
        s, _ = lax.scan(lambda s, _: (step(s, p), None), s0, None, length=STEPS)
        x, y, z = s
        return x * x + y * y + z * z

    return fa.jit(fa.grad(loss, (0, 1)))


# ----------------------------------------------------------------------------------
# Lorenz: hand-written Numba forward + adjoint


def lorenz_numba():
    import numba

    @numba.njit(cache=True)
    def rhs(x, y, z, sg, rh, bt):
        return sg * (y - x), x * (rh - z) - y, x * y - bt * z

    @numba.njit(cache=True)
    def rhs_t(x, y, z, sg, rh, bt, g1, g2, g3):
        # J^T g for the state and the parameters.
        gx = -sg * g1 + (rh - z) * g2 + y * g3
        gy = sg * g1 - g2 + x * g3
        gz = -x * g2 - bt * g3
        return gx, gy, gz, (y - x) * g1, x * g2, -z * g3

    @numba.njit(cache=True)
    def grad(p, s0):
        sg, rh, bt = p[0], p[1], p[2]
        xs = np.empty((STEPS, 3))
        x, y, z = s0[0], s0[1], s0[2]
        h = 0.5 * DT
        for i in range(STEPS):
            xs[i, 0], xs[i, 1], xs[i, 2] = x, y, z
            a1, b1, c1 = rhs(x, y, z, sg, rh, bt)
            a2, b2, c2 = rhs(x + h * a1, y + h * b1, z + h * c1, sg, rh, bt)
            a3, b3, c3 = rhs(x + h * a2, y + h * b2, z + h * c2, sg, rh, bt)
            a4, b4, c4 = rhs(x + DT * a3, y + DT * b3, z + DT * c3, sg, rh, bt)
            x = x + DT / 6 * (a1 + 2 * a2 + 2 * a3 + a4)
            y = y + DT / 6 * (b1 + 2 * b2 + 2 * b3 + b4)
            z = z + DT / 6 * (c1 + 2 * c2 + 2 * c3 + c4)
        gx, gy, gz = 2 * x, 2 * y, 2 * z
        gs = gr = gb = 0.0
        for i in range(STEPS - 1, -1, -1):
            x, y, z = xs[i, 0], xs[i, 1], xs[i, 2]
            a1, b1, c1 = rhs(x, y, z, sg, rh, bt)
            x2, y2, z2 = x + h * a1, y + h * b1, z + h * c1
            a2, b2, c2 = rhs(x2, y2, z2, sg, rh, bt)
            x3, y3, z3 = x + h * a2, y + h * b2, z + h * c2
            a3, b3, c3 = rhs(x3, y3, z3, sg, rh, bt)
            x4, y4, z4 = x + DT * a3, y + DT * b3, z + DT * c3
            w = DT / 6
            k1 = (w * gx, w * gy, w * gz)
            k2 = (2 * w * gx, 2 * w * gy, 2 * w * gz)
            k3 = (2 * w * gx, 2 * w * gy, 2 * w * gz)
            # k4 = f(s4)
            u, v, t, ps, pr, pb = rhs_t(x4, y4, z4, sg, rh, bt, w * gx, w * gy, w * gz)
            gs += ps
            gr += pr
            gb += pb
            gx, gy, gz = gx + u, gy + v, gz + t
            k3 = (k3[0] + DT * u, k3[1] + DT * v, k3[2] + DT * t)
            u, v, t, ps, pr, pb = rhs_t(x3, y3, z3, sg, rh, bt, k3[0], k3[1], k3[2])
            gs += ps
            gr += pr
            gb += pb
            gx, gy, gz = gx + u, gy + v, gz + t
            k2 = (k2[0] + h * u, k2[1] + h * v, k2[2] + h * t)
            u, v, t, ps, pr, pb = rhs_t(x2, y2, z2, sg, rh, bt, k2[0], k2[1], k2[2])
            gs += ps
            gr += pr
            gb += pb
            gx, gy, gz = gx + u, gy + v, gz + t
            k1 = (k1[0] + h * u, k1[1] + h * v, k1[2] + h * t)
            u, v, t, ps, pr, pb = rhs_t(x, y, z, sg, rh, bt, k1[0], k1[1], k1[2])
            gs += ps
            gr += pr
            gb += pb
            gx, gy, gz = gx + u, gy + v, gz + t
        return np.array([gs, gr, gb]), np.array([gx, gy, gz])

    return grad


def _median_time(fn, args, repeats: int, inner: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn(*args)
        times.append((time.perf_counter() - t0) / inner)
    return float(np.median(times))


def bench_lorenz(repeats: int) -> list[tuple]:
    p = np.array([10.0, 28.0, 8.0 / 3.0])
    s0 = np.array([1.0, 1.0, 1.05])
    fa_grad = lorenz_funcad()
    nb_grad = lorenz_numba()
    gp_fa, gs_fa = fa_grad(tuple(p), tuple(s0))
    gp_fa, gs_fa = np.array(gp_fa, float), np.array(gs_fa, float)
    gp_nb, gs_nb = nb_grad(p, s0)
    err = max(np.max(np.abs(gp_fa - gp_nb) / np.abs(gp_nb)),
              np.max(np.abs(gs_fa - gs_nb) / np.abs(gs_nb)))
    t_fa = _median_time(fa_grad, (tuple(p), tuple(s0)), repeats, 50)
    t_nb = _median_time(nb_grad, (p, s0), repeats, 50)
    return [("Lorenz RK4 x2000, jit(grad) wrt (sigma,rho,beta), s0", t_fa * 1e6, t_nb * 1e6,
             t_fa / t_nb, f"us; max rel diff {err:.1e}")]


# ----------------------------------------------------------------------------------
# Memory: checkpointed 200-layer chain


_MEM = r"""
import json, sys
import numpy as np
N, L = 100_000, 200
x = np.linspace(-1.0, 1.0, N)
w = np.linspace(0.5, 1.5, L)
which = sys.argv[1]
if which == "hand":
    def grad(x):
        b = int(np.ceil(np.sqrt(L)))
        ckpts, c = [], x
        for i in range(L):
            if i % b == 0:
                ckpts.append(c)
            c = c + np.tanh(w[i] * c)
        g = np.ones_like(x)
        for k in range(len(ckpts) - 1, -1, -1):
            lo, hi = k * b, min((k + 1) * b, L)
            states, c = [], ckpts[k]
            for i in range(lo, hi):
                states.append(c)
                c = c + np.tanh(w[i] * c)
            for i in range(hi - 1, lo - 1, -1):
                t = np.tanh(w[i] * states[i - lo])
                g = g + g * (1.0 - t * t) * w[i]
        return g
else:
    import funcad as fa, funcad.numpy as fnp
    from funcad import lax
    ck = None if which == "none" else which

    def loss(x):
        c, _ = lax.scan(lambda c, wi: (c + fnp.tanh(wi * c), None), x, w, checkpoint=ck)
        return fnp.sum(c)
    grad = fa.grad(loss)
    grad(x[:10])
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1])
before = status("VmRSS:")
open("/proc/self/clear_refs", "w").write("5")  # reset the peak (VmHWM) to the current RSS
g = grad(x)
after = status("VmHWM:")
print(json.dumps({"mb": (after - before) / 1024, "sum": float(np.sum(g))}))
"""


def _mem(which: str) -> dict:
    out = subprocess.run([sys.executable, "-c", _MEM, which], capture_output=True, text=True,
                         env={**os.environ, "PYTHONWARNINGS": "ignore"}, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_memory(repeats: int) -> list[tuple]:
    rows = []
    hand = [_mem("hand") for _ in range(repeats)]
    hand_mb = float(np.median([h["mb"] for h in hand]))
    for which in ("sqrt", "recursive", "none"):
        runs = [_mem(which) for _ in range(repeats)]
        mb = float(np.median([r["mb"] for r in runs]))
        ok = abs(runs[0]["sum"] - hand[0]["sum"]) <= 1e-9 * abs(hand[0]["sum"])
        rows.append((f"200-layer tanh chain grad, 1e5 floats, checkpoint={which}", mb,
                     hand_mb, mb / hand_mb, f"MB peak RSS growth; same grad: {ok}"))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    rows = bench_lorenz(args.repeats) + bench_memory(max(3, args.repeats // 2))
    print(f"{'benchmark':62s} {'funcad':>10s} {'hand':>10s} {'ratio':>7s}  unit")
    for name, a, b, r, unit in rows:
        print(f"{name:62s} {a:10.1f} {b:10.1f} {r:7.2f}  {unit}")


if __name__ == "__main__":
    main()
