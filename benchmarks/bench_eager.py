"""Eager `grad` of a 20-operation function on size-10 arrays.

Compares funcad's eager (un-jitted) `grad` with a hand-written NumPy gradient of the same
function, and with HIPS autograd and PyTorch when they are importable (nothing is
installed for them). Prints the median microseconds per call over several repeats.

    python benchmarks/bench_eager.py [--size 10] [--repeats 15] [--number 200]
"""

from __future__ import annotations

import argparse
import sys
import timeit

import numpy as np


def make_f(lib):
    """The benchmark function written against a NumPy-like module `lib` (20 operations)."""
    def f(x):
        a = lib.sin(x)            # 1
        b = lib.cos(x)            # 2
        c = a * b                 # 3
        d = x * x                 # 4
        e = c + d                 # 5
        f_ = lib.tanh(e)          # 6
        g = lib.exp(f_)           # 7
        h = g - a                 # 8
        i = h * 0.5               # 9
        j = lib.log1p(d)          # 10
        k = i + j                 # 11
        l_ = j + 1.0              # 12
        m = lib.sqrt(l_)          # 13
        n = k / m                 # 14
        o = n * n                 # 15
        p = o - x                 # 16
        q = lib.sin(p)            # 17
        r = q * b                 # 18
        s = r + 2.0               # 19
        return lib.sum(s)         # 20
    return f


def numpy_grad(x):
    """Hand-written reverse-mode gradient of make_f(np), the fastest possible eager code."""
    a = np.sin(x)
    b = np.cos(x)
    c = a * b
    d = x * x
    e = c + d
    f_ = np.tanh(e)
    g = np.exp(f_)
    h = g - a
    i = h * 0.5
    j = np.log1p(d)
    k = i + j
    l_ = j + 1.0
    m = np.sqrt(l_)
    n = k / m
    o = n * n
    p = o - x
    q = np.sin(p)
    # backward
    q_bar = b                       # from r = q * b, s summed
    b_bar = q
    p_bar = q_bar * np.cos(p)
    o_bar = p_bar
    x_bar = -p_bar
    n_bar = 2.0 * n * o_bar
    k_bar = n_bar / m
    m_bar = -n_bar * k / (m * m)
    l_bar = m_bar * 0.5 / m
    j_bar = k_bar + l_bar
    i_bar = k_bar
    d_bar = j_bar / (1.0 + d)
    h_bar = 0.5 * i_bar
    g_bar = h_bar
    a_bar = -h_bar
    f_bar = g_bar * g
    e_bar = f_bar * (1.0 - f_ * f_)
    c_bar = e_bar
    d_bar = d_bar + e_bar
    x_bar = x_bar + 2.0 * x * d_bar
    a_bar = a_bar + c_bar * b
    b_bar = b_bar + c_bar * a
    return x_bar + a_bar * b - b_bar * a


def median_us(fn, arg, repeats: int, number: int) -> float:
    """Median over `repeats` of the mean time of `number` calls, in microseconds."""
    fn(arg)  # warm-up (imports, caches)
    times = timeit.repeat(lambda: fn(arg), repeat=repeats, number=number)
    return float(np.median(times)) / number * 1e6


def candidates(size: int):
    """(name, callable, input) for every available implementation."""
    import funcad as fa
    import funcad.numpy as fnp

    x = np.random.default_rng(0).uniform(-1.0, 1.0, size)
    out = [("numpy (hand-written)", numpy_grad, x), ("funcad grad (eager)",
                                                     fa.grad(make_f(fnp)), x)]
    try:
        import autograd
        import autograd.numpy as anp
        out.append(("HIPS autograd", autograd.grad(make_f(anp)), x))
    except ImportError:
        pass
    try:
        import torch

        f_t = make_f(torch)

        def torch_grad(xt):
            xt = xt.detach().requires_grad_(True)
            f_t(xt).backward()
            return xt.grad

        out.append(("PyTorch eager", torch_grad, torch.from_numpy(x)))
    except ImportError:
        pass
    return out


def check(size: int) -> None:
    """The funcad gradient must equal the hand-written one before timing anything."""
    import funcad as fa
    import funcad.numpy as fnp

    x = np.random.default_rng(1).uniform(-1.0, 1.0, size)
    np.testing.assert_allclose(fa.grad(make_f(fnp))(x), numpy_grad(x), rtol=1e-10)


def main(argv=None) -> None:
    """Run the benchmark and print a table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--number", type=int, default=200)
    args = ap.parse_args(argv)
    check(args.size)
    rows = [(name, median_us(fn, x, args.repeats, args.number))
            for name, fn, x in candidates(args.size)]
    base = rows[0][1]
    print(f"eager grad of a 20-op function, size-{args.size} float64 arrays "
          f"(median of {args.repeats} x {args.number} calls; Python {sys.version.split()[0]})")
    print(f"{'implementation':<24} {'us/call':>10} {'vs numpy':>10}")
    for name, us in rows:
        print(f"{name:<24} {us:>10.1f} {us / base:>9.1f}x")
    missing = {"HIPS autograd", "PyTorch eager"} - {n for n, _ in rows}
    if missing:
        print(f"(not importable, not measured: {', '.join(sorted(missing))})")


if __name__ == "__main__":
    main()
