"""Tests for the LLVM kernel compiler (funcad.lowering.llvm).

Reference semantics: the same source run as plain Python on NumPy scalars (bit for bit, NaN == NaN),
restricted to constructs where NumPy's and Numba's typing agree; a few kernels against numba.njit
(error_model='numpy') for the places where only Numba defines the semantics (float32 math,
integer promotion, ``**`` with int exponents, libm transcendental functions).
"""
import json
import math
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

from funcad.lowering.llvm import ArrayArg, ScalarArg, Unsupported, compile_kernel, kernel_stats

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class _LibmMath:
    """``math`` for the plain-Python reference: the C library's functions (NaN/inf instead of
    ValueError/OverflowError), which is what compiled code (ours and Numba's) calls."""

    def __init__(self):
        import ctypes
        import ctypes.util
        self._m = ctypes.CDLL(ctypes.util.find_library("m"))
        self.pi, self.e, self.inf, self.nan = math.pi, math.e, math.inf, math.nan

    def __getattr__(self, name):
        import ctypes
        f = getattr(self._m, {"gamma": "tgamma"}.get(name, name))
        nargs = 2 if name in ("atan2", "pow", "copysign", "hypot", "nextafter") else 1
        f.restype = ctypes.c_double
        f.argtypes = [ctypes.c_double] * nargs
        return lambda *a: float(f(*(float(x) for x in a)))


LIBM_MATH = _LibmMath()


def run_python(src, name, args):
    g = {"np": np, "math": LIBM_MATH}
    exec(src, g)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        g[name](*args)


def same_bits(a, b):
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    if a.dtype.kind == "f":
        ia = a.view(np.int32 if a.dtype == np.float32 else np.int64)
        ib = b.view(ia.dtype)
        return (ia == ib) | (np.isnan(a) & np.isnan(b))
    return a == b


def assert_same(a, b, what=""):
    ok = same_bits(a, b)
    if not ok.all():
        idx = np.flatnonzero(~ok.ravel())[:5]
        raise AssertionError(f"{what}: mismatch at {idx}: got {np.asarray(a).ravel()[idx]} "
                             f"expected {np.asarray(b).ravel()[idx]}")


def types_of(args, scalar_types=None):
    out = []
    for k, a in enumerate(args):
        if isinstance(a, np.ndarray):
            out.append(ArrayArg(a.dtype, a.ndim))
        else:
            out.append(ScalarArg((scalar_types or {}).get(k, np.asarray(a).dtype)))
    return out


def check_vs_python(src, name, args, fastmath=False):
    types = types_of(args)
    k = compile_kernel(src, name, types, fastmath=fastmath)
    mine = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    ref = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    k(*[a if isinstance(a, np.ndarray) else a.item() for a in mine])
    run_python(src, name, ref)
    for j, (x, y) in enumerate(zip(mine, ref)):
        if isinstance(x, np.ndarray):
            assert_same(x, y, f"{name} arg {j}\n{src}")
    return k


# ------------------------------------------------------------------------------------------
# hand-written kernels

EXAMPLE = """
def k0(a0, a1, a2, a3, n0, n1, s0):
    # comments anywhere
    for i0 in range(n0):
        for i1 in range(n1):
            v0 = a0[i0, i1]
            v1 = a1[i1]
            t2 = abs(v0)
            t3 = t2 * t2 if t2 < 0.625 else np.float64(np.int64(1) << (60 - np.int64(t2)))
            v4 = np.copysign(np.sqrt(v0 * v0 + v1), v0) * s0 + t3
            a2[i0, i1] = v4
        acc = 0.0
        for i1 in range(n1):
            acc += a2[i0, i1]
        a3[i0] = acc
"""


def test_example_kernel():
    rng = np.random.default_rng(0)
    a0 = rng.normal(size=(7, 9)) * 10
    a0[0, 0], a0[1, 1], a0[2, 2] = np.nan, -0.0, np.inf
    a1 = rng.normal(size=9)
    check_vs_python(EXAMPLE, "k0", [a0, a1, np.zeros((7, 9)), np.zeros(7), np.int64(7), np.int64(9),
                                    np.float64(1.5)])


HAND = [
    ("""
def k(a, b, out, n):
    for i in range(n):
        out[n - 1 - i] = a[i] * 2.0 - b[(i + 3) % n] / 3.0
""", lambda: [np.arange(10.0), np.linspace(-1, 1, 10), np.zeros(10), np.int64(10)]),
    ("""
def k(a, out, n):
    for i in range(1, n):
        x = a[i]
        y = a[i - 1]
        if x > y and not (x != x):
            out[i] = x // y
        else:
            out[i] = x % y
        out[0] += 1.0
""", lambda: [np.array([3.0, -7.5, 2.0, np.nan, 0.0, -0.0, 5.0, -2.0, np.inf, 1e300]), np.zeros(10),
              np.int64(10)]),
    ("""
def k(a, b, o, oi, ob, n):
    for i in range(n):
        x = a[i]
        y = b[i]
        o[i] = (x // y) * 3 + (x % y) - (x << 3) + (y >> 2) + (x ^ y) + (x & 7) + (~y | 1)
        oi[i] = np.int32(x * 1000003)
        ob[i] = 0 < x <= y or x == -y
""", lambda: [np.array([7, -7, 7, -7, 0, 5, -9223372036854775808, 1 << 40]),
              np.array([2, 2, -2, -2, 3, 0, -1, 3]), np.zeros(8, np.int64), np.zeros(8, np.int32),
              np.zeros(8, bool), np.int64(8)]),
    ("""
def k(a, o, n, m):
    for i in range(n):
        for j in range(m):
            o[i, j] = max(a[i, j], np.float32(0.5)) + min(a[i, j], a[n - 1 - i, m - 1 - j])
    for j in range(0, m, 2):
        o[0, j] = np.float32(-1.0)
    for j in range(m - 1, -1, -3):
        o[1, j] = o[1, j] * np.float32(2.0)
    o[-1, -1] = a[-2, -3]
""", lambda: [np.array([[1, np.nan, -0.0, 3], [2, 0.0, np.inf, -1], [5, 6, 7, np.nan]], np.float32),
              np.zeros((3, 4), np.float32), np.int64(3), np.int64(4)]),
    ("""
def k(a, o, n):
    for i in range(n):
        x = a[i]
        o[i, 0] = np.floor(x) + np.ceil(x) * 2.0 + np.rint(x) * 4.0
        o[i, 1] = np.round(x)
        o[i, 2] = np.sign(x) + 0.0
        o[i, 3] = np.float64(np.isnan(x)) + 2.0 * np.isinf(x) + 4.0 * np.isfinite(x)
        o[i, 4] = np.fmod(x, 1.5) + np.nextafter(x, 0.0)
        o[i, 5] = np.float64(np.int64(x)) if abs(x) < 1e18 else -1.0
        o[i, 6] = x ** 2.0 + np.sqrt(abs(x))
        o[i, 7] = -x if x < 0 else +x
        o[i, 8] = np.nan if x > 100 else (np.inf if x < -100 else -np.inf)
""", lambda: [np.array([2.5, -2.5, 0.5, 1.5, -0.0, np.nan, np.inf, -np.inf, 1e300, -3.7, 1e-310]),
              np.zeros((11, 9)), np.int64(11)]),
    ("""
def k(a, b, o, n):
    acc = 0
    for i in range(n):
        t = a[i]
        acc += np.int64(t) * 2
        last = i
    o[0] = acc
    o[1] = last
    if n > 100:
        pass
    else:
        o[2] = np.int64(b[0]) + np.int64(b[1] and b[2]) + (b[0] & b[1]) + (b[0] | b[1]) + (b[0] ^ b[1])
        o[3] = np.int64(not b[0]) + np.int64(np.bool_(a[1]))
""", lambda: [np.array([1, -2, 3, 0], np.int32), np.array([True, False, True]), np.zeros(4, np.int64),
              np.int64(4)]),
    ("""
def k(a, o):
    o[()] = a[()] * 2.0
""", lambda: [np.array(3.5), np.zeros(())]),
]


@pytest.mark.parametrize("case", range(len(HAND)))
def test_hand_written(case):
    src, make = HAND[case]
    check_vs_python(src, "k", make())


def test_runtime_range_step():
    # the generator's reverse cumsum after canonicalisation: range(q1 - q2, -q3, -q4)
    src = """
def k(p0, p1, q0, q1, q2, q3, q4):
    for v0 in range(q0):
        v1 = np.float64(0.0)
        for v2 in range(q1 - q2, -q3, -q4):
            v1 += p0[v2, v0]
            p1[v2, v0] = v1
    for v3 in range(0, q1, q2 + 1):
        p1[v3, 0] += 100.0
"""
    p0 = np.arange(15.0).reshape(5, 3)
    check_vs_python(src, "k", [p0, np.zeros((5, 3)), np.int64(3), np.int64(5), np.int64(1), np.int64(1),
                               np.int64(1)])
    check_vs_python(src, "k", [p0, np.zeros((5, 3)), np.int64(3), np.int64(5), np.int64(1), np.int64(1),
                               np.int64(-2)])


def test_while_break_continue_tuple_assign():
    # the generator's while loops: `while True:` + `if not cond: break`, carries as tuples
    src = """
def k(a, o, n):
    for i in range(n):
        x = a[i]
        it = 0
        s = 0.0
        while True:
            if not (x > 1.0 and it < 50):
                break
            x, s = x / 2.0, s + x
            it += 1
        o[i, 0] = x
        o[i, 1] = s
        c = 0
        j = 0
        while j < 10:
            j += 1
            if j % 3 == 0:
                continue
            if j > 7:
                break
            c += j
        o[i, 2] = c
    for i in range(n):
        if a[i] < 0:
            continue
        elif a[i] > 100:
            break
        else:
            o[i, 3] = 1.0
        o[i, 4] = i
"""
    a = np.array([3.0, 1e300, -5.0, np.nan, 7.5, 200.0, 2.0])
    check_vs_python(src, "k", [a, np.zeros((7, 5)), np.int64(7)])


def test_widened_int_name_and_uint64_literal():
    # the generator's gather: an int32 index widened by ``j += n`` (Numba unifies to int64)
    src = """
def k(idx, x, o, u, n, m):
    for i in range(n):
        j = idx[i]
        if j < 0:
            j += m
        o[i] = x[j] + j
    u[0] = np.uint64(18446744073709551615) - u[1]
"""
    idx = np.array([0, -1, 2, -3, 4], np.int32)
    check_vs_python(src, "k", [idx, np.arange(5.0), np.zeros(5), np.array([0, 5], np.uint64), np.int64(5),
                               np.int64(5)])


def test_fastmath_compiles_and_is_close():
    rng = np.random.default_rng(1)
    src = """
def k(a, o, n):
    s = 0.0
    for i in range(n):
        s += a[i] * a[i]
    o[0] = s
"""
    a = rng.normal(size=1000)
    o = np.zeros(1)
    compile_kernel(src, "k", types_of([a, o, 1000]), fastmath=True)(a, o, 1000)
    assert abs(o[0] - np.dot(a, a)) < 1e-9 * np.dot(a, a)
    assert "nnan" not in compile_kernel(src, "k", types_of([a, o, 1000]), fastmath=True).__self__.llvm_ir


# ------------------------------------------------------------------------------------------
# random kernels vs plain Python on NumPy scalars

FCONSTS = ["0.0", "-0.0", "1.5", "-2.25", "0.1", "3.0", "1e300", "np.inf", "np.nan", "-1e-310", "0.5"]
ICONSTS = ["0", "1", "-1", "2", "3", "-7", "63", "64", "100"]


class Gen:
    """Random typed expressions whose NumPy-scalar and Numba typing agree."""

    def __init__(self, rng):
        self.rng = rng
        self.locals = []          # (name, kind)

    def choice(self, xs):
        return xs[self.rng.integers(len(xs))]

    def leaf(self, kind):
        r = self.rng.random()
        cands = [n for n, k in self.locals if k == kind]
        if cands and r < 0.25:
            return self.choice(cands)
        idx = "i" if self.rng.random() < 0.7 else "n - 1 - i"
        if kind == "f64":
            if r < 0.45:
                return f"xf[{idx}]"
            if r < 0.55:
                return "sf"
            return f"np.float64({self.choice(FCONSTS)})"
        if kind == "f32":
            if r < 0.6:
                return f"xg[{idx}]"
            return f"np.float32({self.choice(FCONSTS)})"
        if kind == "i64":
            if r < 0.45:
                return f"xi[{idx}]"
            if r < 0.55:
                return "si"
            if r < 0.65:
                return "np.int64(i)"
            return f"np.int64({self.choice(ICONSTS)})"
        if kind == "i32":
            return f"xj[{idx}]"
        return f"xb[{idx}]"

    def expr(self, kind, d):
        if d <= 0 or self.rng.random() < 0.2:
            if kind == "i64" and self.rng.random() < 0.3:
                return f"np.int64({self.leaf('i32')})"
            return self.leaf(kind)
        m = getattr(self, "e_" + kind)
        return m(d - 1)

    def e_f64(self, d):
        r = self.rng.integers(14)
        if r == 0:
            return f"({self.expr('f64', d)} {self.choice(['+', '-', '*', '/'])} {self.expr(self.choice(['f64', 'f32', 'i64', 'i32']), d)})"
        if r == 1:
            return f"({self.expr(self.choice(['f32', 'i64', 'i32']), d)} {self.choice(['+', '-', '*', '/'])} {self.expr('f64', d)})"
        if r == 2:
            return f"({self.expr('f64', d)} {self.choice(['//', '%'])} {self.expr(self.choice(['f64', 'f32']), d)})"
        if r == 3:
            return f"({self.expr('i64', d)} / {self.expr(self.choice(['i64', 'i32']), d)})"
        if r == 4:
            fn = self.choice(["np.sqrt", "np.floor", "np.ceil", "np.rint", "np.round", "np.sign", "np.abs",
                              "abs", "-", "+"])
            if fn == "np.sign":     # np.sign(-0.0): NumPy +0.0, Numba (and we) -0.0
                return f"(np.sign({self.expr('f64', d)}) + np.float64(0.0))"
            return f"{fn}({self.expr('f64', d)})"
        if r == 5:
            fn = self.choice(["tanh", "exp", "log", "sin", "cos", "expm1", "log1p", "atan", "sinh", "cosh",
                              "tan", "asin", "acos", "erf", "erfc"])
            return f"np.float64(math.{fn}({self.expr('f64', d)}))"
        if r == 6:
            fn = self.choice(["np.copysign", "np.fmod", "np.nextafter", "min", "max"])
            return f"{fn}({self.expr('f64', d)}, {self.expr('f64', d)})"
        if r == 7:
            return f"np.float64(math.atan2({self.expr('f64', d)}, {self.expr('f64', d)}))"
        if r == 8:
            return f"({self.expr('f64', d)} if {self.expr('b', d)} else {self.expr('f64', d)})"
        if r == 9:
            return f"np.float64({self.expr(self.choice(['f32', 'i64', 'i32', 'b']), d)})"
        if r == 10:
            return f"({self.expr('f64', d)} ** {self.expr('f64', d)})"
        if r == 11:
            return f"({self.expr('f64', d)} * {self.expr('f64', d)} + {self.expr('f64', d)})"
        return self.leaf("f64")

    def e_f32(self, d):
        r = self.rng.integers(9)
        if r == 0:
            return f"({self.expr('f32', d)} {self.choice(['+', '-', '*', '/', '//', '%'])} {self.expr('f32', d)})"
        if r == 1:
            fn = self.choice(["np.sqrt", "np.floor", "np.ceil", "np.rint", "np.abs", "abs", "-"])
            return f"{fn}({self.expr('f32', d)})"
        if r == 2:
            fn = self.choice(["np.copysign", "np.fmod", "np.nextafter", "min", "max"])
            return f"{fn}({self.expr('f32', d)}, {self.expr('f32', d)})"
        if r == 3:
            return f"np.float32({self.expr(self.choice(['f64', 'i64', 'i32', 'b']), d)})"
        if r == 4:
            return f"({self.expr('f32', d)} if {self.expr('b', d)} else {self.expr('f32', d)})"
        return self.leaf("f32")

    def e_i64(self, d):
        r = self.rng.integers(11)
        if r == 0:
            return f"({self.expr('i64', d)} {self.choice(['+', '-', '*', '//', '%', '&', '|', '^'])} {self.expr(self.choice(['i64', 'i32']), d)})"
        if r == 1:
            return f"({self.expr('i32', d)} {self.choice(['+', '-', '//', '%'])} {self.expr('i64', d)})"
        if r == 2:
            return f"({self.expr('i64', d)} {self.choice(['<<', '>>'])} np.int64({self.choice(ICONSTS + ['65', '-3'])}))"
        if r == 3:
            return f"{self.choice(['-', '~', 'abs', 'np.abs'])}({self.expr('i64', d)})"
        if r == 4:
            return f"np.int64({self.expr(self.choice(['f64', 'f32', 'i32', 'b']), d)})"
        if r == 5:
            return f"{self.choice(['min', 'max'])}({self.expr('i64', d)}, {self.expr('i64', d)})"
        if r == 6:
            return f"({self.expr('i64', d)} if {self.expr('b', d)} else {self.expr('i64', d)})"
        if r == 7:
            return f"np.int64({self.expr('f64', d)} > {self.expr('f64', d)})"
        return self.leaf("i64")

    def e_i32(self, d):
        r = self.rng.integers(4)
        if r == 0:
            return f"np.int32({self.expr(self.choice(['i64', 'f64', 'f32']), d)})"
        if r == 1:
            return f"abs({self.expr('i32', d)})"
        return self.leaf("i32")

    def e_b(self, d):
        r = self.rng.integers(9)
        if r == 0:
            k = self.choice(["f64", "f32", "i64", "i32"])
            k2 = self.choice(["f64", "i64"]) if k in ("f64", "i64") else k
            return f"({self.expr(k, d)} {self.choice(['<', '<=', '>', '>=', '==', '!='])} {self.expr(k2, d)})"
        if r == 1:
            return f"({self.expr('f64', d)} < {self.expr('f64', d)} <= {self.expr('f64', d)})"
        if r == 2:
            return f"({self.expr('b', d)} {self.choice(['and', 'or'])} {self.expr('b', d)})"
        if r == 3:
            return f"({self.expr('b', d)} {self.choice(['&', '|', '^'])} {self.expr('b', d)})"
        if r == 4:
            return f"(not {self.expr('b', d)})"
        if r == 5:
            return f"{self.choice(['np.isnan', 'np.isinf', 'np.isfinite'])}({self.expr(self.choice(['f64', 'f32']), d)})"
        if r == 6:
            return f"np.bool_({self.expr(self.choice(['f64', 'i64', 'f32']), d)})"
        return self.leaf("b")


def random_kernel(seed):
    rng = np.random.default_rng(seed)
    g = Gen(rng)
    lines = ["def k(xf, xg, xi, xj, xb, of, og, oi, ob, n, sf, si):", "    for i in range(n):"]
    for j in range(int(rng.integers(1, 4))):
        kind = g.choice(["f64", "f32", "i64", "b"])
        lines.append(f"        e{j} = {g.expr(kind, 3)}")
        g.locals.append((f"e{j}", kind))
    for out, kind in (("of", "f64"), ("og", "f32"), ("oi", "i64"), ("ob", "b")):
        lines.append(f"        {out}[i] = {g.expr(kind, 4)}")
    if rng.random() < 0.3:
        lines.append("        of[i] += np.float64(oi[i]) * np.float64(0.5)")
    return "\n".join(lines) + "\n"


def random_inputs(rng, n=40):
    fspecial = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e308, -1e-310, 2.5, -2.5, 0.5, 1.5, -1.0])
    xf = rng.normal(size=n) * rng.choice([1, 10, 1000], size=n)
    xf[rng.integers(n, size=n // 3)] = rng.choice(fspecial, size=n // 3)
    xg = (rng.normal(size=n) * 10).astype(np.float32)
    xg[rng.integers(n, size=n // 4)] = rng.choice(fspecial, size=n // 4).astype(np.float32)
    xi = rng.integers(-1000, 1000, size=n)
    xi[rng.integers(n, size=n // 4)] = rng.choice(
        [0, -1, 1, 2 ** 62, -(2 ** 63), 2 ** 63 - 1, 64, 3], size=n // 4)
    xj = rng.integers(-100, 100, size=n).astype(np.int32)
    xj[rng.integers(n, size=4)] = 0
    xb = rng.random(n) < 0.5
    outs = [np.zeros(n), np.zeros(n, np.float32), np.zeros(n, np.int64), np.zeros(n, bool)]
    return [xf, xg, xi, xj, xb] + outs + [np.int64(n), np.float64(rng.normal()), np.int64(rng.integers(-5, 5))]


@pytest.mark.parametrize("chunk", range(4))
def test_random_kernels_vs_python(chunk):
    for seed in range(chunk * 20, chunk * 20 + 20):
        src = random_kernel(seed)
        args = random_inputs(np.random.default_rng(seed + 1000))
        check_vs_python(src, "k", args)


# ------------------------------------------------------------------------------------------
# against Numba where only Numba defines the semantics

NUMBA_SRC = """
def k(xf, xg, xi, xj, xu, xb, of, og, oi, n):
    for i in range(n):
        f = xf[i]
        g = xg[i]
        a = xi[i]
        j = xj[i]
        of[i, 0] = np.tanh(f) + np.exp(f / 100.0) + np.log1p(abs(f)) + np.expm1(f / 1000.0)
        of[i, 1] = math.lgamma(f) + math.erf(f) + math.erfc(f) + np.arctan2(f, 2.0)
        of[i, 2] = math.gamma(f / 100.0) + np.sinh(f / 100.0) + np.cosh(f / 1000.0) + np.arcsin(f / 1e4)
        fz = f + 100.0     # Numba raises ZeroDivisionError when x ** negative_int divides by 0.0
        of[i, 3] = f ** 3 + fz ** -2 + fz ** a + min(f, 1.0) + max(1.0, f) + f ** 0
        of[i, 4] = f // 0.0 + (f % 0.0) * 0.0 + np.float64(a // 0) + np.float64(a % 0)
        of[i, 5] = np.round(f) + round(f) + math.floor(f / 3.0) + math.ceil(f) + math.trunc(f)
        og[i, 0] = math.tanh(g) + np.tanh(g) + np.exp(g / np.float32(10.0)) + math.sqrt(abs(g))
        og[i, 1] = g ** 5 + g ** np.int64(7) + g * 2 + g * j + np.float32(j) + g ** 2 + (g if g != 0 else np.float32(2.0)) ** a + np.sign(g) + g // np.float32(0.75)
        og[i, 2] = np.float32(np.log(abs(g) + np.float32(1.0))) + np.sin(g) + np.cos(g) + np.arctan2(g, a)
        oi[i, 0] = j * j * j * j * j + (j << 5) + (j >> 1) + -j + ~j
        oi[i, 1] = (xb[i] + xb[i]) * 7 - xb[i] + np.sign(j) + abs(xb[i]) + np.int64(np.int8(a)) + np.int64(np.uint8(a))
        oi[i, 2] = np.int64(np.int32(f)) + np.int64(f if abs(f) < 1e15 else 0.0) + a ** 3 + j ** 2 + j ** np.int64(5)
        oi[i, 3] = np.int64(xu[i] + xu[i]) + np.int64(xu[i] // 3) + np.int64(xu[i] - np.uint32(7))
        oi[i, 4] = max(j, a) + min(j, np.int32(5)) + np.int64(max(xb[i], xb[n - 1 - i]))
"""


def test_against_numba():
    numba = pytest.importorskip("numba")
    rng = np.random.default_rng(7)
    n = 48
    xf = rng.normal(size=n) * 20
    xf[:8] = [np.nan, np.inf, -np.inf, 0.0, -0.0, 2.5, -3.5, 1e-300]
    xg = (rng.normal(size=n) * 5).astype(np.float32)
    xg[:6] = [np.nan, np.inf, -0.0, 0.0, 0.5, -1.5]
    xi = rng.integers(-9, 9, size=n)
    xj = rng.integers(-60, 60, size=n).astype(np.int32)
    xj[:3] = [2 ** 31 - 1, -(2 ** 31), 0]
    xu = rng.integers(0, 2 ** 32, size=n).astype(np.uint32)
    xb = rng.random(n) < 0.5
    args = [xf, xg, xi, xj, xu, xb, np.zeros((n, 6)), np.zeros((n, 3), np.float32), np.zeros((n, 5), np.int64), n]
    k = compile_kernel(NUMBA_SRC, "k", types_of(args))
    mine = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    k(*mine)
    g = {"np": np, "math": math}
    exec(NUMBA_SRC, g)
    ref = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    numba.njit(error_model="numpy")(g["k"])(*ref)
    for j in (6, 7, 8):
        for c in range(mine[j].shape[1]):
            assert_same(mine[j][:, c], ref[j][:, c], f"output {j} column {c}")


def test_numba_minmax_nan_and_divmod():
    numba = pytest.importorskip("numba")
    src = """
def k(a, b, o, n):
    for i in range(n):
        x = a[i]
        y = b[i]
        o[i, 0] = max(x, y)
        o[i, 1] = min(x, y)
        o[i, 2] = x // y
        o[i, 3] = x % y
        o[i, 4] = np.sign(x)
        o[i, 5] = np.fmod(x, y)
"""
    vals = np.array([np.nan, 1.0, -1.0, 0.0, -0.0, np.inf, -np.inf, 2.5, -7.0])
    a, b = [v.ravel().copy() for v in np.meshgrid(vals, vals)]
    n = a.size
    o1, o2 = np.zeros((n, 6)), np.zeros((n, 6))
    compile_kernel(src, "k", types_of([a, b, o1, n]))(a, b, o1, n)
    g = {"np": np, "math": math}
    exec(src, g)
    numba.njit(error_model="numpy")(g["k"])(a, b, o2, n)
    for c in range(6):
        assert_same(o1[:, c], o2[:, c], f"column {c}")


# ------------------------------------------------------------------------------------------
# calling convention

def test_argument_checks():
    src = "def k(a, b, n, x):\n    for i in range(n):\n        a[i] = b[i] * x\n"
    k = compile_kernel(src, "k", [ArrayArg(np.float64, 1), ArrayArg(np.float32, 1), ScalarArg(np.int64),
                                  ScalarArg(np.float64)])
    a, b = np.zeros(4), np.arange(4, dtype=np.float32)
    k(a, b, np.int64(4), np.float32(2.0))
    assert a.tolist() == [0, 2, 4, 6]
    k(a, b, True, 3)
    assert a[0] == 0 and a[1] == 2
    for bad in [(a, b.astype(np.float64), 4, 1.0), (a[::2], b, 2, 1.0), (a.reshape(2, 2), b, 4, 1.0),
                (b, b, 4, 1.0), ([0.0] * 4, b, 4, 1.0), (a, b, 4.0, 1.0), (a, b, 4, "x"), (a, b, 4),
                (np.zeros(4, ">f8"), b, 4, 1.0)]:
        with pytest.raises(TypeError):
            k(*bad)
    ro = np.zeros(4)
    ro.flags.writeable = False
    with pytest.raises(TypeError):
        k(ro, b, 4, 1.0)
    k(np.zeros(4).view(np.ndarray), b[:], 4, 1.0)     # views and subclasses are fine
    m = np.ma.MaskedArray(np.zeros(4))
    k(m, b, 4, 1.0)
    assert m.data[1] == 1.0


def test_memoised_per_process():
    src = "def k(a, n):\n    for i in range(n):\n        a[i] = 1.0\n"
    t = [ArrayArg(np.float64, 1), ScalarArg(np.int64)]
    before = dict(kernel_stats)
    k1 = compile_kernel(src, "k", t)
    k2 = compile_kernel(src, "k", t)
    assert k1 is k2
    assert kernel_stats["memory_hits"] >= before["memory_hits"] + 1


# ------------------------------------------------------------------------------------------
# unsupported constructs

UNSUPPORTED = [
    ("def k(a, n):\n    i = 0\n    while i < n:\n        i += 1\n    else:\n        pass\n", "while-else"),
    ("def k(a, n):\n    break\n", "outside a loop"),
    ("def k(a, n):\n    x, y = 1\n", "tuple"),
    ("def k(a, n):\n    a[0], y = 1.0, 2\n", "array elements"),
    ("def k(a, n):\n    return n\n", "return"),
    ("def k(a, n):\n    x = (1, 2)\n", "Tuple"),
    ("def k(a, n):\n    a[0:2] = 1.0\n", "slic"),
    ("def k(a, n):\n    a[0] = np.sqrt(n, out=None)\n", "keyword"),
    ("def k(a, n):\n    a[0] = np.foo(n)\n", "np.foo"),
    ("def k(a, n):\n    a[0] = 1j\n", "complex"),
    ("def k(a, n):\n    a[0] = a.shape[0]\n", "a.shape"),
    ("def k(a, n):\n    a[0] = a.size\n", "attribute"),
    ("def k(a, n):\n    a[0] = n ** -1\n", "negative"),
    ("def k(a, n):\n    a[0] = n ** n\n", "non-literal"),
    ("def k(a, n):\n    a[0] = np.power(n, 2)\n", "np.power"),
    ("def k(a, n):\n    a[0] = y\n", "'y'"),
    ("def k(a, n):\n    x = 1\n    x = 2.5\n", "reassigned"),
    ("def k(a, n):\n    x = a\n", "array 'a' used as a value"),
    ("def k(a, n):\n    a[0] = 1.0\n", "indexed with 1"),
    ("def k(a, n):\n    f = lambda: 1\n", "Lambda"),
    ("def k(a, n):\n    a[0, 0] = math.fmod(1.0, 2.0)\n", "math.fmod"),
    ("def k(a, n):\n    a[0, 0] = np.uint64(n) + n\n", "uint64"),
    ("def k(a, n):\n    a[0, 0] = [1][0]\n", "[1]"),
    ("def k(a, n):\n    a[0, 0] = 1.0 if n in (1, 2) else 2.0\n", "In"),
    ("def k(a, n):\n    for i in range(n):\n        pass\n    else:\n        pass\n", "for-else"),
    ("def k(a, n):\n    a[0, 0] = 1.0\n    print(n)\n", "print"),
    ("def k(a, n):\n    a[n, 0.5] = 1.0\n", "float64"),
    ("def k(a, n):\n    x = 1.0 and 2.0\n", "and/or"),
    ("def k(a, n):\n    np = 1\n", "reserved"),
    ("def k(a, n):\n    for range in range(n):\n        pass\n", "reserved"),
    ("def k(a, n):\n    a[0] = a[0] if n is None else 1.0\n", "Is"),
    ("def k(a, n):\n    def g():\n        pass\n", "FunctionDef"),
]


@pytest.mark.parametrize("case", range(len(UNSUPPORTED)))
def test_unsupported(case):
    src, frag = UNSUPPORTED[case]
    types = [ArrayArg(np.float64, 2 if "0, 0" in src or "n, 0.5" in src or "-1, 0" in src else 1),
             ScalarArg(np.int64)]
    if frag == "indexed with 1":
        types[0] = ArrayArg(np.float64, 2)
    with pytest.raises(Unsupported) as ei:
        compile_kernel(src, "k", types)
    assert frag.lower() in str(ei.value).lower(), str(ei.value)


def test_unsupported_types():
    with pytest.raises(Unsupported, match="complex"):
        compile_kernel("def k(a):\n    pass\n", "k", [ArrayArg(np.complex128, 1)])
    with pytest.raises(Unsupported, match="no function"):
        compile_kernel("def k(a):\n    pass\n", "other", [ArrayArg(np.float64, 1)])
    with pytest.raises(Unsupported, match="parameters"):
        compile_kernel("def k(a):\n    pass\n", "k", [])
    assert issubclass(Unsupported, Exception)


# ------------------------------------------------------------------------------------------
# disk cache, across processes

CHILD = """
import json, sys
import numpy as np
from funcad.lowering.llvm import compile_kernel, ArrayArg, ScalarArg, kernel_stats
src = "def k(a, n):\\n    for i in range(n):\\n        a[i] = np.tanh(np.float64(i)) * 2.0\\n"
k = compile_kernel(src, "k", [ArrayArg(np.float64, 1), ScalarArg(np.int64)], cache_dir=sys.argv[1])
a = np.zeros(5)
k(a, 5)
print(json.dumps([dict(kernel_stats), a.tolist()]))
"""


def run_child(cache_dir):
    out = subprocess.run([sys.executable, "-c", CHILD, str(cache_dir)], capture_output=True, text=True,
                         cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT), timeout=120)
    assert out.returncode == 0, out.stderr
    stats, a = json.loads(out.stdout.strip().splitlines()[-1])
    assert a == [np.tanh(float(i)) * 2.0 for i in range(5)]
    return stats


def test_disk_cache_across_processes(tmp_path):
    s1 = run_child(tmp_path)
    assert s1["compiled"] == 1 and s1["loaded"] == 0
    files = [f for f in os.listdir(tmp_path) if f.endswith(".fko")]
    assert len(files) == 1
    s2 = run_child(tmp_path)
    assert s2["compiled"] == 0 and s2["loaded"] == 1
    # corrupt: flip a payload byte -> detected, recompiled, rewritten
    p = tmp_path / files[0]
    data = bytearray(p.read_bytes())
    data[-10] ^= 0xFF
    p.write_bytes(bytes(data))
    s3 = run_child(tmp_path)
    assert s3["compiled"] == 1 and s3["loaded"] == 0
    # truncated (the loader checks the header in-process, no need for another child)
    from funcad.lowering.llvm import objcache
    key = files[0][:-4]
    assert objcache.load(str(tmp_path), key) is not None      # rewritten valid by the 3rd child
    p.write_bytes(p.read_bytes()[:30])
    assert objcache.load(str(tmp_path), key) is None
    s4 = run_child(tmp_path)
    assert s4["compiled"] == 1
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".tmp")]


def test_objcache_roundtrip(tmp_path):
    from funcad.lowering.llvm import objcache
    key = objcache.cache_key("x", 1)
    assert objcache.load(str(tmp_path), key) is None
    objcache.store(str(tmp_path), key, b"hello")
    assert objcache.load(str(tmp_path), key) == b"hello"
    assert objcache.cache_key("x", 1) == key != objcache.cache_key("x", 2)


# ------------------------------------------------------------------------------------------
# random statements over all dtypes against Numba (typing and promotion rules)

NB_TYPES = {"f64": "xf", "f32": "xg", "i64": "xi", "i32": "xj", "i16": "xh", "i8": "xk",
            "u8": "xu", "u16": "xv", "u32": "xw", "b": "xb"}


def numba_random_kernel(seed, nstmt=40):
    rng = np.random.default_rng(seed)
    kinds = list(NB_TYPES)

    def leaf():
        k = kinds[rng.integers(len(kinds))]
        idx = "i" if rng.random() < 0.7 else "n - 1 - i"
        if rng.random() < 0.15:
            return rng.choice(["2", "-3", "0.5", "1.5", "True", "np.float32(0.25)", "np.int8(-2)",
                               "np.uint8(3)", "np.int32(7)"])
        return f"{NB_TYPES[k]}[{idx}]"

    def expr(d):
        if d == 0:
            return leaf()
        r = rng.integers(10)
        a, b = expr(d - 1), expr(d - 1)
        if r < 4:
            return f"({a} {rng.choice(['+', '-', '*', '/', '//', '%'])} {b})"
        if r == 4:
            return f"({a} {rng.choice(['<', '<=', '==', '!=', '>'])} {b})"
        if r == 5:
            return f"{rng.choice(['min', 'max'])}({a}, {b})"
        if r == 6:
            return f"{rng.choice(['np.arctan2', 'np.copysign', 'np.fmod', 'math.atan2', 'np.hypot'])}({a}, {b})"
        if r == 7:
            return f"{rng.choice(['np.sqrt', 'np.abs', 'abs', 'np.floor', 'np.sign', 'math.sqrt', 'np.exp', 'np.isnan', '-', '+', 'np.tanh', 'math.exp'])}({a})"
        if r == 8:
            return f"({a} if {b} else {expr(d - 1)})"
        return f"({a} & {b})" if rng.random() < 0.5 else f"({a} << {rng.integers(0, 8)})"

    lines = ["def k(xf, xg, xi, xj, xh, xk, xu, xv, xw, xb, of, n):", "    for i in range(n):"]
    used = 0
    while used < nstmt:
        e = expr(int(rng.integers(1, 4)))
        lines.append(f"        of[i, {used}] = {e}")
        used += 1
    return "\n".join(lines) + "\n"


def numba_random_inputs(rng, n=24):
    xf = rng.normal(size=n) * 10
    xf[:6] = [np.nan, np.inf, -np.inf, 0.0, -0.0, 2.5]
    xg = (rng.normal(size=n) * 10).astype(np.float32)
    xg[6:10] = [np.nan, -0.0, 0.5, -np.inf]
    ints = [rng.integers(-50, 50, size=n), rng.integers(-50, 50, size=n).astype(np.int32),
            rng.integers(-300, 300, size=n).astype(np.int16), rng.integers(-128, 128, size=n).astype(np.int8),
            rng.integers(0, 256, size=n).astype(np.uint8), rng.integers(0, 3000, size=n).astype(np.uint16),
            rng.integers(0, 2 ** 32, size=n).astype(np.uint32)]
    for a in ints:
        a[10:12] = 0
    xb = rng.random(n) < 0.5
    return [xf, xg] + ints + [xb]


def run_numba_random(seed, numba):
    from funcad.lowering.llvm.kernel_compiler import generate_ir
    src = numba_random_kernel(seed)
    ins = numba_random_inputs(np.random.default_rng(seed))
    n = len(ins[0])
    types = types_of(ins + [np.zeros((n, 40)), n])
    head, body = src.splitlines()[:2], src.splitlines()[2:]
    keep = []
    for line in body:     # drop statements outside the subset (e.g. float & float)
        try:
            generate_ir("\n".join(head + [line]) + "\n", "k", types)
            keep.append(line)
        except Unsupported:
            keep.append("        pass")
    src = "\n".join(head + keep) + "\n"
    k = compile_kernel(src, "k", types)
    o1, o2 = np.zeros((n, 40)), np.zeros((n, 40))
    k(*ins, o1, n)
    g = {"np": np, "math": math}
    exec(src, g)
    numba.njit(error_model="numpy")(g["k"])(*ins, o2, n)
    lines = src.splitlines()[2:]
    for c in range(40):
        assert_same(o1[:, c], o2[:, c], f"seed {seed} statement {lines[c].strip()}")
    return True


def test_random_all_dtypes_vs_numba():
    numba = pytest.importorskip("numba")
    done = [run_numba_random(seed, numba) for seed in (1,)]
    assert any(done)


# ------------------------------------------------------------------------------------------
# loop nests as the code generator writes them (tanh rule in float32, argmax, gather, reverse
# cumsum), against Numba

GENERATED = """
def k(p0, p1, p2, p3, p4, p5, q0, q1, q2):
    for v0 in range(q0):
        for v1 in range(q1):
            v2 = p0[v0, v1]
            v3 = abs(v2)
            v4 = v3 * v3
            v5 = v3 + v3 * v4 * ((v4 * (v4 * np.float32(-0.9643991794250523) + np.float32(-99.28772310019185)) + np.float32(-1614.6876844170845)) / (((v4 + np.float32(112.81167849163293)) * v4 + np.float32(2235.4883906010045)) * v4 + np.float32(4844.063053251255)))
            v6 = np.float32(2.0) * v3
            v7 = v6 if v6 < np.float32(40.0) else np.float32(40.0)
            v8 = np.rint(v7 * np.float32(1.4426950408889634))
            v9 = (v8 * np.float32(0.6931471803691238) - v7) + v8 * np.float32(1.9082149292705877e-10)
            v10 = (np.float32(1.0) + v9 * (np.float32(1.0) + v9 * (np.float32(0.5) + v9 * (np.float32(0.16666666666666666) + v9 * (np.float32(0.041666666666666664) + v9 * np.float32(0.008333333333333333))))))
            v11 = v10 * (np.float32(np.int64(1) << (60 - np.int64(v8))) * np.float32(8.673617379884035e-19))
            v12 = (np.float32(1.0) - v11) / (np.float32(1.0) + v11)
            v13 = np.copysign(v12 if v3 > np.float32(0.625) else v5, v2)
            v16 = (v2 if (v2 > np.float32(-1.0) or v2 != v2) else np.float32(-1.0))
            p1[v0, v1] = v13 * (np.float32(1.0) - v13 * v13) + v16
    for v0 in range(q1):
        v21 = p0[0, v0]
        v22 = 0
        for v23 in range(1, q0):
            v24 = p0[v23, v0]
            if (v24 > v21 and v21 == v21) or (v24 != v24 and v21 == v21):
                v21 = v24
                v22 = v23
        p2[v0] = v22
    for v0 in range(q2):
        for v1 in range(q1):
            v32 = p3[v0]
            if v32 < 0:
                v32 += q0
            p4[v0, v1] = p0[v32, v1]
    for v0 in range(q1):
        acc = np.float32(0.0)
        for v1 in range(q0 - 1, -1, -1):
            acc += p0[v1, v0]
            p5[v1, v0] = acc
"""


def test_generated_style_kernel_vs_numba():
    numba = pytest.importorskip("numba")
    rng = np.random.default_rng(3)
    q0, q1, q2 = 9, 7, 5
    p0 = (rng.normal(size=(q0, q1)) * 3).astype(np.float32)
    p0[0, :4] = [np.nan, np.inf, -0.0, 30.0]
    p0[3, 2] = np.nan
    p3 = np.array([0, -1, 4, -9, 8], np.int32)
    args = [p0, np.zeros((q0, q1), np.float32), np.zeros(q1, np.int64), p3, np.zeros((q2, q1), np.float32),
            np.zeros((q0, q1), np.float32), q0, q1, q2]
    k = compile_kernel(GENERATED, "k", types_of(args))
    mine = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    ref = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    k(*mine)
    g = {"np": np, "math": math}
    exec(GENERATED, g)
    numba.njit(error_model="numpy")(g["k"])(*ref)
    for j in (1, 2, 4, 5):
        assert_same(mine[j], ref[j], f"output {j}")


def test_gil_released_for_large_arrays():
    import threading
    import time
    src = """
def k(a, n, reps):
    for r in range(reps):
        for i in range(n):
            a[i] = np.sqrt(a[i] + 1.0)
"""
    k = compile_kernel(src, "k", [ArrayArg(np.float64, 1), ScalarArg(np.int64), ScalarArg(np.int64)])
    a = np.zeros(1 << 15)
    t = time.perf_counter()
    k(a, a.size, 20)
    per_rep = (time.perf_counter() - t) / 20
    reps = int(min(max(0.15 / max(per_rep, 1e-9), 20), 100000))
    th = threading.Thread(target=k, args=(a, a.size, reps))
    count = 0
    th.start()
    while th.is_alive():
        count += 1
    th.join()
    assert count > 1000          # the main thread ran Python code while the kernel ran


def test_view_bit_casts_and_constant_tables(monkeypatch):
    """``np.float64(x).view(np.int64)`` (and back, float32/int32) and reads of a registered
    ``_rt.NAME[i]`` table, against plain Python on NumPy scalars."""
    from funcad.lowering.llvm import kernel_compiler, register_constant_array
    from funcad.lowering.numba import _pyruntime
    monkeypatch.setattr(kernel_compiler, "CONSTANT_ARRAYS", dict(kernel_compiler.CONSTANT_ARRAYS))
    register_constant_array("TEST_TABLE", np.array([0.5, -1.25, 3.0, 1e300]))
    monkeypatch.setattr(_pyruntime, "TEST_TABLE", np.array([0.5, -1.25, 3.0, 1e300]),
                        raising=False)
    src = """
def k(a, b, o, p, n):
    for i in range(n):
        bits = np.float64(a[i]).view(np.int64)
        e = ((bits >> 52) & 2047) - 1023
        o[i] = np.int64(bits & -134217728).view(np.float64) + _rt.TEST_TABLE[i % 4]
        p[i] = np.int32(np.float32(b[i]).view(np.int32) + np.int32(e & 1)).view(np.float32)
"""
    a = np.array([1.0, -2.5, 3e-310, np.inf, np.nan, 0.1, -0.0, 7.0])
    b = a.astype(np.float32)
    args = [a, b, np.zeros(8), np.zeros(8, np.float32), np.int64(8)]
    k = compile_kernel(src, "k", types_of(args))
    got = [np.zeros(8), np.zeros(8, np.float32)]
    k(a, b, *got, np.int64(8))
    ns = {"np": np, "_rt": _pyruntime}
    exec(src, ns)
    want = [np.zeros(8), np.zeros(8, np.float32)]
    with np.errstate(all="ignore"):
        ns["k"](a, b, *want, np.int64(8))
    for g, w in zip(got, want):
        assert g.tobytes() == w.tobytes()
    with pytest.raises(Unsupported):
        compile_kernel(src.replace("_rt.TEST_TABLE", "_rt.NO_SUCH_TABLE"), "k", types_of(args))
    with pytest.raises(Unsupported):     # tables are read-only
        compile_kernel("def k(o, n):\n    for i in range(n):\n        _rt.TEST_TABLE[i] = o[i]\n",
                       "k", types_of([np.zeros(4), np.int64(4)]))
