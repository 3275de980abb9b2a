"""Transcendental functions as libm-free scalar source, so that LLVM vectorises the loops.

A call to libm (np.exp, math.log, ...) inside a loop stops LLVM's loop vectoriser: every
element pays a scalar call (exp 5-8 ns, sin/cos 8-14 ns). The builders here write the
function as plain arithmetic instead: range reduction with integers built by shifts and
bit casts (`np.float64(v).view(np.int64)`), a polynomial on the reduced argument, and
selects (conditional expressions, no branches) for the special values. Every builder
writes its statements with `ctx.line` and returns the expression of the result, like a
`ScalarRule` (see codegen.py); the source is the same in a kernel and in a Python driver,
where the values are NumPy scalars (plain floats are wrapped by `np.float64(x)` first).

float32 arguments are computed in float64 with shorter polynomials and rounded once at
the end (float32 programs stay float32): this is within 1 ulp, and subnormal float32
arguments and results need no special path.

Accuracy (tests/test_vecmath.py, in ulps of the result dtype against long double or,
for float32, float64 NumPy): exp, expm1, log, log1p, sin, cos, tanh and pow (float **
float: log|x| and y log|x| in double-double) within 2 ulp over the whole domain, exact
at signed zeros, infinities, NaN, subnormals and the overflow/underflow thresholds
(pow: C99's special cases, as NumPy).

sin/cos reduce |x| < 1.6e6 with a 4-piece Cody-Waite pi/2 (exact products k * piece, in
double-double) and larger |x| with a branch-free Payne-Hanek reduction: x times 2/pi
from a table of 24-bit pieces of 2/pi (two per entry, `_rt.TWO_OVER_PI`, chosen by x's
exponent: gathers), exact products reduced mod 4 and summed in double-double (about 100
bits: the double closest to a multiple of pi/2, 6381956970095103 * 2**797, comes out
within 0.05 ulp). Both are computed for every element and one selected, so the loop
stays vectorised; the Payne-Hanek part costs 3/4 of a sin (1e6 sins: 7.7 ms, 2.4 ms
with Cody-Waite alone). Payne-Hanek alone (7.2 ms) was not precise enough near small
multiples of pi/2 (x = 15 pi/2: 23 ulp).
"""

from __future__ import annotations

import math
import re
import weakref

import numpy as np

F64 = np.dtype(np.float64)

# Cody-Waite split of ln 2: k * _LN2_HI is exact for |k| < 2**20.
_LN2_HI, _LN2_LO = 6.93147180369123816490e-01, 1.90821492927058770002e-10
_LOG2E = 1.4426950408889634
# pi/2 in 33-bit pieces (k * piece exact for |k| < 2**20) and the rest.
_PIO2 = (1.5707963267341256, 6.077100506303966e-11, 2.0222662487111665e-21,
         8.4784276603689e-32)
_PIO2_DD = (1.5707963267948966, 6.123233995736766e-17)        # pi/2 as a double-double
# Cody-Waite serves |x| < _CW_MAX (k < 2**20); Payne-Hanek the rest.
_CW_MAX = 1.6e6
# log(1 + f) = f - s * (f - R(s*s)), s = f / (2 + f): least-squares fit of R(z) / z on
# [0, 0.0295] (|s| <= 3 - 2 sqrt(2)); relative error 4.6e-16 (float64), 1.7e-9 (float32).
_LOG_R64 = (0.666666666666667, 0.39999999999897684, 0.2857142862677037, 0.2222221100883431,
            0.18182898079840507, 0.15331430055741951, 0.1461998992141016)
_LOG_R32 = (0.6666666655280459, 0.4000012307507459, 0.2855069087450146, 0.23333817064780973)
# pow's log in double-double: log(1 + f) = 2s + (2/3) s**3 + s**5 R2(s**2), R2 fitted on
# [0, 0.0295] with 2/3 exact (relative error 3e-20).
_LOG_R2 = (0.4, 0.28571428571428564, 0.22222222222228546, 0.18181818179622503,
           0.15384615766089366, 0.13333296154417928, 0.11766829319294177, 0.10455969006446252,
           0.10765633399243271)
_TWO_THIRDS = (0.6666666666666666, 3.700743415417188e-17)
_SQRT_HALF_BITS = 0x3FE6A09E667F3BCD
# Cephes' tanh for |x| <= 0.625: x + x**3 P(x**2) / Q(x**2) (relative error 2.5e-16).
_TANH_P = (-9.64399179425052238628e-1, -9.92877231001918586564e1, -1.61468768441708447952e3)
_TANH_Q = (1.12811678491632931402e2, 2.23548839060100448583e3, 4.84406305325125486048e3)


def _two_over_pi_table() -> np.ndarray:
    """2/pi in overlapping 48-bit windows: T[j + 4] = bits [24j, 24j + 48) of 2/pi * 2**(24j).

    T[j] = U[j] + U[j + 1] * 2**-24 with U[j + 4] = bits [24j, 24j + 24) * 2**-24 (4 zeros
    first): one read gives two 24-bit pieces (split exactly with a floor).
    """
    # 2/pi to 1300 bits from Machin's formula in integer arithmetic.
    bits = 1300
    one = 1 << (bits + 32)

    def arctan_inv(n):
        total, term, k, n2 = 0, one // n, 1, n * n
        while term:
            total += term // k if k % 4 == 1 else -(term // k)
            term //= n2
            k += 2
        return total
    pi = 4 * (4 * arctan_inv(5) - arctan_inv(239))          # pi * 2**(bits + 32)
    two_over_pi = (2 * one * one) // pi                      # (2/pi) * 2**(bits + 32)
    u = [0, 0, 0, 0]
    for j in range(53):
        u.append((two_over_pi >> (bits + 32 - 24 * (j + 1))) & 0xFFFFFF)
    return np.array([math.ldexp(u[j] * 2 ** 24 + u[j + 1], -48) for j in range(len(u) - 1)])


TWO_OVER_PI = _two_over_pi_table()
TWO_OVER_PI.flags.writeable = False
try:        # kernels compiled by funcad's LLVM kernel compiler read it as _rt.TWO_OVER_PI
    from funcad.lowering.llvm import register_constant_array
    register_constant_array("TWO_OVER_PI", TWO_OVER_PI)
except ImportError:
    pass


def is_vectorisable_dtype(dt) -> bool:
    """True for the dtypes the builders handle (float32 and float64)."""
    return np.dtype(dt) in (np.dtype(np.float32), F64)


class _Writer:
    """Writes float64 statements for one builder: fresh names with a prefix, literals."""

    def __init__(self, ctx, prefix: str):
        self.ctx, self.prefix = ctx, prefix

    def c(self, v) -> str:
        return self.ctx.literal(float(v), F64)

    def let(self, hint: str, expr: str) -> str:
        name = self.ctx.fresh(self.prefix + hint)
        self.ctx.line(f"{name} = {expr}")
        return name

    def horner(self, var: str, coefs) -> str:
        """coefs[0] + var * (coefs[1] + var * (...)), as one expression."""
        expr = self.c(coefs[-1])
        for a in reversed(coefs[:-1]):
            expr = f"({self.c(a)} + {var} * {expr})"
        return expr

    def arg(self, x: str, dt) -> str:
        """The argument as a float64 NumPy scalar (wraps plain floats, widens float32)."""
        return self.let("x", f"np.float64({x})")

    def result(self, expr: str, dt) -> str:
        return expr if np.dtype(dt) == F64 else f"np.float32({expr})"

    @staticmethod
    def bits(v: str) -> str:
        return f"np.float64({v}).view(np.int64)"

    @staticmethod
    def from_bits(i: str) -> str:
        return f"np.int64({i}).view(np.float64)"

    def split(self, a: str):
        """Veltkamp: a = hi + lo, 26 and 27 significant bits (|a| < 2**996)."""
        t = self.let("v", f"{a} * {self.c(134217729)}")
        hi = self.let("v", f"{t} - ({t} - {a})")
        return hi, self.let("v", f"{a} - {hi}")

    def two_prod(self, a: str, b: str, b_split=None):
        """(p, e) with p + e == a * b exactly (Dekker; b_split: b's split if known)."""
        ah, al = self.split(a)
        bh, bl = b_split if b_split is not None else self.split(b)
        p = self.let("p", f"{a} * {b}")
        e = self.let("e", f"(({ah} * {bh} - {p}) + {ah} * {bl} + {al} * {bh}) + {al} * {bl}")
        return p, e


def _exp_reduce(w: _Writer, x: str, lo: float, hi: float, f32: bool):
    """(k as float, k as int64, exp(r) - 1 - r as polynomial source, r, rh) with x = k ln2 + r.

    rh = x - k ln2_hi exactly; (rh - r) - k ln2_lo is the rounding error of r.
    """
    c = w.c
    xc = w.let("c", f"{x} if {x} < {c(hi)} else {c(hi)}")        # NaN -> hi
    xc = w.let("c", f"{xc} if {xc} > {c(lo)} else {c(lo)}")
    k = w.let("k", f"np.rint({xc} * {c(_LOG2E)})")
    rh = w.let("r", f"{xc} - {k} * {c(_LN2_HI)}")                # exact
    r = w.let("r", f"{rh} - {k} * {c(_LN2_LO)}")
    n = 8 if f32 else 13                                          # Taylor degree
    # exp(r) - 1 - r = r**2 (1/2 + r/6 + ...): |r| <= ln(2)/2 bounds the rest by 2**-58.
    poly = w.horner(r, [1.0 / math.factorial(j) for j in range(2, n + 1)])
    ki = w.let("i", f"np.int64({k})")
    return k, ki, poly, r, rh


def exp(ctx, x: str, dt) -> str:
    """exp(x): 2**k exp(r), |r| <= ln(2)/2, a degree-13 (float32: 8) Taylor polynomial."""
    w = _Writer(ctx, "ex")
    xd = w.arg(x, dt)
    k, ki, poly, r, _ = _exp_reduce(w, xd, -746.0, 710.0, np.dtype(dt) != F64)
    p = w.let("p", f"{w.c(1)} + ({r} + {r} * {r} * {poly})")
    # 2**k in two factors, each a normal number: results down to the subnormals round once.
    h = w.let("h", f"{ki} >> 1")
    y = w.let("y", f"{p} * {w.from_bits(f'({h} + 1023) << 52')} * "
                   f"{w.from_bits(f'({ki} - {h} + 1023) << 52')}")
    return w.result(f"({y} if {xd} == {xd} else {xd})", dt)


def expm1(ctx, x: str, dt) -> str:
    """expm1(x): 2**k (1 + q) - 1 with q = expm1(r) a polynomial; |x| < 2**-54 gives x."""
    w = _Writer(ctx, "em")
    c = w.c
    xd = w.arg(x, dt)
    k, ki, poly, r, rh = _exp_reduce(w, xd, -40.0, 710.0, np.dtype(dt) != F64)
    # The rounding error of r joins the polynomial (an error of r costs up to 1 ulp here).
    q = w.let("q", f"{r} + ((({rh} - {r}) - {k} * {c(_LN2_LO)}) + {r} * {r} * {poly})")
    t = w.let("t", w.from_bits(f"({ki} + 1021) << 52"))         # 2**(k - 2)
    t4 = w.let("u", f"{t} * {c(4)}")
    y = w.let("y", f"(({q} + {c(1)}) * {t} * {c(4)}) if {k} > {c(56)} else "
                   f"(({t4} - {c(1)}) + {t4} * {q})")
    # NaN fails the comparison and comes back as itself, like ±0 and tiny x.
    return w.result(f"({y} if abs({xd}) >= {c(2.0 ** -54)} else {xd})", dt)


def _log_core(w: _Writer, u: str, f32: bool, poly: bool = True):
    """(e, m - 1, log(m)) for u = 2**e m, m in [sqrt(1/2), sqrt(2)), u positive and normal
    (log(m) None without `poly`)."""
    c = w.c
    ib = w.let("b", w.bits(u))
    e = w.let("e", f"({ib} - {_SQRT_HALF_BITS}) >> 52")
    m = w.let("m", w.from_bits(f"{ib} - ({e} << 52)"))
    f = w.let("f", f"{m} - {c(1)}")
    if not poly:
        return e, f, None
    s = w.let("s", f"{f} / ({c(2)} + {f})")
    z = w.let("z", f"{s} * {s}")
    poly = w.horner(z, _LOG_R32 if f32 else _LOG_R64)
    lg = w.let("g", f"{f} - {s} * ({f} - {z} * {poly})")
    return e, f, lg


def log(ctx, x: str, dt) -> str:
    """log(x) = e ln2 + log(m), m in [sqrt(1/2), sqrt(2)), with log(m) = 2 atanh(f/(2+f))."""
    w = _Writer(ctx, "lg")
    c = w.c
    f32 = np.dtype(dt) != F64
    xd = w.arg(x, dt)
    if f32:
        xs, off = w.let("v", f"{xd} if {xd} > {c(0)} else {c(1)}"), ""
    else:
        # Subnormals are scaled by 2**54 first; zero, negatives and NaN take 1.0.
        sub = f"{xd} < {c(2.2250738585072014e-308)}"
        xs = w.let("v", f"({xd} * {c(2.0 ** 54)} if {sub} else {xd}) if {xd} > {c(0)} "
                        f"else {c(1)}")
        off = f" - ({c(54)} if {sub} else {c(0)})"
    e, _, lg = _log_core(w, xs, f32)
    ef = w.let("k", f"np.float64({e}){off}")
    y = w.let("y", f"{ef} * {c(_LN2_HI)} + ({lg} + {ef} * {c(_LN2_LO)})")
    return w.result(f"(({y} if {xd} < {c(np.inf)} else {xd}) if {xd} > {c(0)} else "
                    f"({c(-np.inf)} if {xd} == {c(0)} else {c(np.nan)}))", dt)


def log1p(ctx, x: str, dt) -> str:
    """log1p(x): log of u = 1 + x as in log, plus the rounding error of u over u."""
    w = _Writer(ctx, "lp")
    c = w.c
    xd = w.arg(x, dt)
    u = w.let("u", f"{xd} + {c(1)}")
    uv = w.let("v", f"{u} if {u} > {c(0)} else {c(1)}")
    e, _, lg = _log_core(w, uv, np.dtype(dt) != F64)
    # 1 + x - u exactly (Sterbenz: x >= u/2 from u >= 2 on; u - 1 exact below), over u:
    # the first-order correction of log(u).
    cr = w.let("c", f"((({c(1)} - ({uv} - {xd})) if {uv} >= {c(2)} else "
                    f"({xd} - ({uv} - {c(1)}))) / {uv})")
    ef = w.let("k", f"np.float64({e})")
    y = w.let("y", f"{ef} * {c(_LN2_HI)} + ({lg} + ({cr} + {ef} * {c(_LN2_LO)}))")
    # |x| < 2**-20: x - x**2/2 + x**3/3 (the next term is below 2**-60 x); u = 1 + x would
    # cancel there. NaN fails the comparison and comes back as itself.
    y = w.let("y", f"({y} if {xd} < {c(np.inf)} else {xd}) if abs({xd}) >= "
                   f"{c(2.0 ** -20)} else {xd} - {xd} * {xd} * ({c(0.5)} - {xd} * {c(1 / 3)})")
    return w.result(f"({y} if {xd} > {c(-1)} else "
                    f"({c(-np.inf)} if {xd} == {c(-1)} else {c(np.nan)}))", dt)


def _log_dd(w: _Writer, x: str, e_off: str):
    """log(x) - e_off ln2 as a double-double (hi, lo), relative error about 2**-70; x
    positive and normal."""
    c = w.c
    e, f, _ = _log_core(w, x, False, poly=False)
    ef = w.let("k", f"np.float64({e}) - {e_off}")
    # s = f / (2 + f) as s_h + s_l: 2 + f = d_h + d_l exactly, then one Newton step.
    dh = w.let("d", f"{c(2)} + {f}")
    dl = w.let("d", f"({c(2)} - {dh}) + {f}")
    sh = w.let("s", f"{f} / {dh}")
    p, pe = w.two_prod(sh, dh)
    sl = w.let("s", f"(({f} - {p}) - {pe} - {sh} * {dl}) / {dh}")
    # (2/3) s**3 in double-double.
    zh, zl = w.two_prod(sh, sh)
    th, tl = w.two_prod(zh, sh)
    t3 = w.let("t", f"{tl} + {zl} * {sh} + {c(3)} * {zh} * {sl}")      # s**3 = th + t3
    uh, ul = w.two_prod(th, c(_TWO_THIRDS[0]),
                        b_split=w.split(c(_TWO_THIRDS[0])))
    ul = w.let("u", f"{ul} + {th} * {c(_TWO_THIRDS[1])} + {t3} * {c(_TWO_THIRDS[0])}")
    rest = w.let("q", f"{th} * {zh} * {w.horner(zh, _LOG_R2)}")       # s**5 R2(s**2)
    # e ln2 + 2 s + (2/3) s**3 + s**5 R2, the big terms with exact two-sums.
    h, l1 = _two_sum(w, f"{ef} * {c(_LN2_HI)}", f"{c(2)} * {sh}")
    h, l2 = _two_sum(w, h, uh)
    lo = w.let("g", f"{l1} + {l2} + ({c(2)} * {sl} + {ul} + {rest} + {ef} * {c(_LN2_LO)})")
    hi = w.let("h", f"{h} + {lo}")
    return hi, w.let("g", f"{lo} - ({hi} - {h})")


def pow(ctx, x: str, y: str, dt) -> str:
    """x ** y = exp(y log|x|) with log|x| and the product in double-double; C99's specials."""
    w = _Writer(ctx, "pw")
    c = w.c
    f32 = np.dtype(dt) != F64
    xd, yd = w.arg(x, dt), w.let("y", f"np.float64({y})")
    ax = w.let("a", f"abs({xd})")
    # The core sees a positive finite x and a finite y (others are replaced; selected below).
    yf = w.let("f", f"{yd} if abs({yd}) < {c(np.inf)} else {c(1)}")     # NaN -> 1
    if f32:
        xs = w.let("v", f"{ax} if ({ax} > {c(0)}) & ({ax} < {c(np.inf)}) else {c(1)}")
        e, _, lg = _log_core(w, xs, False)
        ef = w.let("k", f"np.float64({e})")
        ph = w.let("p", f"{yf} * ({ef} * {c(_LN2_HI)} + ({lg} + {ef} * {c(_LN2_LO)}))")
        pl = c(0)
    else:
        sub = f"{ax} < {c(2.2250738585072014e-308)}"
        xs = w.let("v", f"({ax} * {c(2.0 ** 54)} if {sub} else {ax}) if "
                        f"({ax} > {c(0)}) & ({ax} < {c(np.inf)}) else {c(1)}")
        lh, ll = _log_dd(w, xs, f"({c(54)} if {sub} else {c(0)})")
        ph, pe = w.two_prod(yf, lh)
        # |y log x| > 750 overflows or underflows anyway (and y's split may overflow there).
        pl = w.let("g", f"({pe} + {yf} * {ll}) if abs({ph}) < {c(750)} else {c(0)}")
    # exp(ph + pl) as in exp, pl joining the reduced argument.
    pc = w.let("c", f"{ph} if {ph} < {c(710)} else {c(710)}")
    pc = w.let("c", f"{pc} if {pc} > {c(-746)} else {c(-746)}")
    k = w.let("k", f"np.rint({pc} * {c(_LOG2E)})")
    rh = w.let("r", f"{pc} - {k} * {c(_LN2_HI)}")                  # exact
    t = w.let("t", f"{pl} - {k} * {c(_LN2_LO)}")
    r = w.let("r", f"{rh} + {t}")
    rc = w.let("r", f"({rh} - {r}) + {t}")                           # r's rounding error
    n = 8 if f32 else 13
    poly = w.horner(r, [1.0 / math.factorial(j) for j in range(2, n + 1)])
    ki = w.let("i", f"np.int64({k})")
    pp = w.let("p", f"{c(1)} + ({r} + ({rc} + {r} * {r} * {poly}))")
    h = w.let("i", f"{ki} >> 1")
    mag = w.let("m", f"{pp} * {w.from_bits(f'({h} + 1023) << 52')} * "
                     f"{w.from_bits(f'({ki} - {h} + 1023) << 52')}")
    # Signs and C99's special cases, in order.
    yint = w.let("n", f"np.floor({yd}) == {yd}")
    odd = w.let("o", f"{yint} & (np.floor({yd} * {c(0.5)}) != {yd} * {c(0.5)})")
    gen = f"((-{mag} if {odd} else {mag}) if {yint} else {c(np.nan)}) if {xd} < {c(0)} else {mag}"
    zero = (f"(np.copysign({c(np.inf)}, {xd}) if {odd} else {c(np.inf)}) if "
            f"{yd} < {c(0)} else ({xd} if {odd} else {c(0)})")
    xinf = (f"({c(0)} if {yd} < {c(0)} else {c(np.inf)}) if {xd} > {c(0)} else "
            f"((({c(-0.0)} if {odd} else {c(0)}) if {yd} < {c(0)} else "
            f"({c(-np.inf)} if {odd} else {c(np.inf)})))")
    yinf = (f"{c(1)} if {ax} == {c(1)} else (({c(np.inf)} if {yd} > {c(0)} else {c(0)}) "
            f"if {ax} > {c(1)} else ({c(0)} if {yd} > {c(0)} else {c(np.inf)}))")
    v = w.let("z", f"({xinf}) if {ax} == {c(np.inf)} else ({gen})")
    v = w.let("z", f"({zero}) if {ax} == {c(0)} else {v}")
    v = w.let("z", f"({yinf}) if abs({yd}) == {c(np.inf)} else {v}")
    v = w.let("z", f"{c(np.nan)} if ({xd} != {xd}) | ({yd} != {yd}) else {v}")
    return w.result(f"({c(1)} if ({yd} == {c(0)}) | ({xd} == {c(1)}) else {v})", dt)


def _two_sum(w: _Writer, a: str, b: str):
    """(s, e) with s + e == a + b exactly."""
    s = w.let("s", f"{a} + {b}")
    bb = w.let("d", f"{s} - {a}")
    e = w.let("e", f"({a} - ({s} - {bb})) + ({b} - {bb})")
    return s, e


def _payne_hanek(w: _Writer, ax: str):
    """(fh, fl, n): ax * 2/pi = n + fh + fl (mod 4), |fh + fl| <= 1/2 (about), n a float.

    ax = xh + xl, 26 and 27 significant bits; the products with the 24-bit pieces of 2/pi
    are exact and reduced mod 4 exactly; the pieces are read from a table from the
    exponent, so the loop stays branch-free (gathers).
    """
    c, ctx = w.c, w.ctx
    tab = "_rt.TWO_OVER_PI"
    ib = w.let("b", w.bits(ax))
    # j - 4: the first piece whose products with xh, xl are not all multiples of 4 (the
    # table starts with 4 zeros, so ax down to 2**-27 reads inside it). The pieces are
    # stored as numbers below 1: ax * 2**(-24 (j - 4)) (exact, in [2**54, 2**78)) meets
    # them, so that neither side leaves the normal range.
    j = w.let("j", f"(((({ib} >> 52) & 2047) - 981) * 2731) >> 16")     # (e + 42) // 24
    xs = w.let("y", f"{ax} * {w.from_bits(f'(1119 - 24 * {j}) << 52')}")
    xh = w.let("h", w.from_bits(f"{w.bits(xs)} & -134217728"))   # clears 27 low bits
    xl = w.let("l", f"{xs} - {xh}")
    t = []
    for i in range(0, 8, 2):
        v = w.let("t", f"{tab}[{j}]" if i == 0 else f"{tab}[{j} + {i}]")
        u = w.let("t", f"np.floor({v} * {c(2.0 ** 24)})")
        t.append(w.let("t", f"{u} * {c(2.0 ** (-24 - 24 * i))}"))
        t.append(w.let("t", f"({v} * {c(2.0 ** 24)} - {u}) * {c(2.0 ** (-24 - 24 * i))}"))

    def mod4(p):
        return f"({p} - np.floor({p} * {c(0.25)}) * {c(4)})"
    # Multiples of 2**-46 below 2**5: their sum is exact (xh * t0 is a multiple of 32).
    a = w.let("a", " + ".join(mod4(f"{h} * {tt}") for h, tt in
                              ((xl, t[0]), (xh, t[1]), (xl, t[1]), (xh, t[2]))))
    n1 = w.let("n", f"np.rint({a})")
    hi = w.let("f", f"{a} - {n1}")
    hi, e1 = _two_sum(w, hi, mod4(f"{xl} * {t[2]}"))
    hi, e2 = _two_sum(w, hi, mod4(f"{xh} * {t[3]}"))
    n2 = w.let("n", f"np.rint({hi})")
    hi = w.let("f", f"{hi} - {n2}")
    hi, e3 = _two_sum(w, hi, f"{xl} * {t[3]}")
    hi, e4 = _two_sum(w, hi, f"{xh} * {t[4]}")
    lo = w.let("g", f"{e1} + {e2} + {e3} + {e4} + {xl} * {t[4]} + {xh} * {t[5]} + "
                    f"({xl} * {t[5]} + {xh} * {t[6]} + {xl} * {t[6]} + {xh} * {t[7]})")
    fh = w.let("f", f"{hi} + {lo}")
    fl = w.let("g", f"{lo} - ({fh} - {hi})")
    return fh, fl, w.let("n", f"{n1} + {n2}")


def _payne_hanek32(w: _Writer, ax: str):
    """(f, n): ax * 2/pi = n + f (mod 4), |f| <= 1/2 (about), for ax a float32 value.

    ax has 24 significant bits, so its products with the 24-bit pieces are exact without
    splitting it, and 5 pieces give f to about 2**-60 (float32 needs far less).
    """
    c = w.c
    tab = "_rt.TWO_OVER_PI"
    ib = w.let("b", w.bits(ax))
    # j - 4: the first piece whose product with ax is not a multiple of 4; the scaled ax
    # lies in [2**25, 2**49).
    j = w.let("j", f"(((({ib} >> 52) & 2047) - 952) * 2731) >> 16")     # (e + 71) // 24
    xs = w.let("y", f"{ax} * {w.from_bits(f'(1119 - 24 * {j}) << 52')}")
    t = []
    for i in range(0, 6, 2):
        v = w.let("t", f"{tab}[{j}]" if i == 0 else f"{tab}[{j} + {i}]")
        u = w.let("t", f"np.floor({v} * {c(2.0 ** 24)})")
        t.append(w.let("t", f"{u} * {c(2.0 ** (-24 - 24 * i))}"))
        t.append(w.let("t", f"({v} * {c(2.0 ** 24)} - {u}) * {c(2.0 ** (-24 - 24 * i))}"))

    def mod4(p):
        return f"({p} - np.floor({p} * {c(0.25)}) * {c(4)})"
    a = w.let("a", f"{mod4(f'{xs} * {t[0]}')} + {mod4(f'{xs} * {t[1]}')}")   # exact
    n1 = w.let("n", f"np.rint({a})")
    hi, e = _two_sum(w, f"({a} - {n1})", mod4(f"{xs} * {t[2]}"))
    n2 = w.let("n", f"np.rint({hi})")
    f = w.let("f", f"({hi} - {n2}) + ({e} + {xs} * {t[3]} + {xs} * {t[4]})")
    return f, w.let("n", f"{n1} + {n2}")


# The shared part of sin and cos (reduction and both polynomials) per emitter: sin(x)
# and cos(x) of the same x in one loop body (common in derivatives) reuse it.
_SINCOS_MEMO: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_BINDS = re.compile(r"^\s*(?:for\s+)?([\w\s,]+?)\s*(?:[-+*/%&|^]|<<|>>|//|\*\*)?=(?!=)|"
                    r"^\s*for\s+([\w\s,]+?)\s+in\b")
_NAME = re.compile(r"(?<![\w.])[A-Za-z_]\w*")


def _memo_hit(ctx, key):
    """The names a previous _sincos_core wrote for `key`, if still valid here."""
    memo = _SINCOS_MEMO.get(ctx)
    hit = memo.get(key) if memo is not None else None
    if hit is None or hit[0] is not ctx.lines:
        return None
    lines, start, indent, names = hit
    if len(lines) < start:
        return None
    # Still in the same block (no line since at a smaller indentation) and the argument's
    # names not rebound since.
    used = set(_NAME.findall(key[0]))
    for ln in lines[start:]:
        if ln.strip() and len(ln) - len(ln.lstrip(" ")) < indent:
            return None
        m = _BINDS.match(ln)
        if m and used & {n.strip() for n in (m.group(1) or m.group(2)).split(",")}:
            return None
    return names


def _reduce64(w: _Writer, xd: str, ax: str):
    """(rh, rl, k mod 4) with x = rh + rl + k pi/2, |rh + rl| <= pi/4 (about)."""
    c = w.c
    # Cody-Waite: x - k pi/2 in double-double, exact products k * piece (k < 2**20).
    xv = w.let("v", f"{xd} if {ax} < {c(_CW_MAX)} else {c(0)}")   # NaN, inf, huge -> 0
    k = w.let("k", f"np.rint({xv} * {c(2 / np.pi)})")
    y1 = w.let("y", f"{xv} - {k} * {c(_PIO2[0])}")
    rh, e = _two_sum(w, y1, f"-({k} * {c(_PIO2[1])})")
    rl = w.let("e", f"{e} - ({k} * {c(_PIO2[2])} + {k} * {c(_PIO2[3])})")
    # Payne-Hanek for |x| >= 1.6e6, computed for every element (one path is selected).
    xp = w.let("p", f"({ax} if {ax} < {c(np.inf)} else {c(_CW_MAX)}) if {ax} >= "
                    f"{c(_CW_MAX)} else {c(_CW_MAX)}")
    fh, fl, n = _payne_hanek(w, xp)
    # (fh + fl) pi/2 in double-double (Dekker's product with pi/2 split in 26-bit halves).
    ph, pl = _PIO2_DD
    sp = w.let("q", f"{fh} * {c(134217729)}")
    ah = w.let("q", f"{sp} - ({sp} - {fh})")
    al = w.let("q", f"{fh} - {ah}")
    p1h = float(np.float64(ph * 134217729) - (np.float64(ph * 134217729) - ph))
    p1l = ph - p1h
    bh = w.let("u", f"{fh} * {c(ph)}")
    bl = w.let("u", f"(({ah} * {c(p1h)} - {bh}) + {ah} * {c(p1l)} + {al} * {c(p1h)}) + "
                    f"{al} * {c(p1l)} + ({fh} * {c(pl)} + {fl} * {c(ph)})")
    neg = f"{xd} < {c(0)}"
    big = w.let("w", f"{ax} >= {c(_CW_MAX)}")
    # The reduced argument and quadrant of the path that applies (x < 0: negated),
    # normalised: |rl| <= ulp(rh) / 2 (the polynomials neglect rl * r**2).
    r0 = w.let("r", f"(-{bh} if {neg} else {bh}) if {big} else {rh}")
    r1 = w.let("r", f"(-{bl} if {neg} else {bl}) if {big} else {rl}")
    rh = w.let("r", f"{r0} + {r1}")
    rl = w.let("r", f"{r1} - ({rh} - {r0})")
    q = w.let("n", f"np.int64((-{n} if {neg} else {n}) if {big} else {k}) & 3")
    return rh, rl, q


def _sincos_core(ctx, x: str, dt):
    """(x as float64, |x|, sin r, cos r, quadrant) with x = r + quadrant pi/2 (mod 2 pi)."""
    key = (x, np.dtype(dt).name)
    hit = _memo_hit(ctx, key)
    if hit is not None:
        return hit
    w = _Writer(ctx, "sc")
    c = w.c
    f32 = np.dtype(dt) != F64
    xd = w.arg(x, dt)
    ax = w.let("a", f"abs({xd})")
    if f32:
        # float32: one Payne-Hanek reduction for every |x| (tiny, inf and NaN take 1.0).
        xp = w.let("p", f"({ax} if {ax} < {c(np.inf)} else {c(1)}) if {ax} >= "
                        f"{c(2.0 ** -27)} else {c(1)}")
        f, n = _payne_hanek32(w, xp)
        rh = w.let("r", f"{f} * {c(-_PIO2_DD[0])} if {xd} < {c(0)} else {f} * {c(_PIO2_DD[0])}")
        rl = None
        q = w.let("n", f"np.int64(-{n} if {xd} < {c(0)} else {n}) & 3")
    else:
        rh, rl, q = _reduce64(w, xd, ax)
    z = w.let("z", f"{rh} * {rh}")
    ns, nc = (4, 5) if f32 else (7, 8)
    # sin r = r + r**3 S(r**2), cos r = 1 - r**2/2 + r**4 C(r**2): Taylor, |r| <= pi/4.
    spoly = w.horner(z, [(-1) ** j / math.factorial(2 * j + 1) for j in range(1, ns + 1)])
    cpoly = w.horner(z, [(-1) ** j / math.factorial(2 * j) for j in range(2, nc + 1)])
    if rl is None:
        s = w.let("s", f"{rh} + {rh} * {z} * {spoly}")
        co = w.let("c", f"({c(1)} - {c(0.5)} * {z}) + {z} * {z} * {cpoly}")
    else:
        s = w.let("s", f"{rh} + ({rl} + {rh} * {z} * {spoly})")
        hz = w.let("h", f"{c(0.5)} * {z}")
        one_m = w.let("o", f"{c(1)} - {hz}")
        co = w.let("c", f"{one_m} + ((({c(1)} - {one_m}) - {hz}) + ({z} * {z} * {cpoly} - "
                        f"{rh} * {rl}))")
    names = (xd, ax, s, co, q)
    indent = len(ctx.lines[-1]) - len(ctx.lines[-1].lstrip(" "))
    _SINCOS_MEMO.setdefault(ctx, {})[key] = (ctx.lines, len(ctx.lines), indent, names)
    return names


def _sincos(ctx, x: str, dt, want: str) -> str:
    xd, ax, s, co, q = _sincos_core(ctx, x, dt)
    w = _Writer(ctx, want[0] + "n")
    c = w.c
    if want == "sin":
        # q = 0, 1, 2, 3: s, c, -s, -c
        v = w.let("y", f"{co} if ({q} & 1) == 1 else {s}")
        v = w.let("y", f"-{v} if ({q} & 2) == 2 else {v}")
        # |x| < 2**-27: sin x rounds to x (signed zeros, subnormals); inf and NaN: NaN.
        out = f"(({v} if {ax} >= {c(2.0 ** -27)} else {xd}) if {ax} < {c(np.inf)} else " \
              f"{c(np.nan)})"
    else:
        # q = 0, 1, 2, 3: c, -s, -c, s
        v = w.let("y", f"{s} if ({q} & 1) == 1 else {co}")
        v = w.let("y", f"-{v} if (({q} + 1) & 2) == 2 else {v}")
        out = f"(({v} if {ax} >= {c(2.0 ** -27)} else {c(1)}) if {ax} < {c(np.inf)} else " \
              f"{c(np.nan)})"
    return w.result(out, dt)


def sin(ctx, x: str, dt) -> str:
    """sin(x): x - k pi/2 (Cody-Waite or Payne-Hanek), then the sin or cos polynomial."""
    return _sincos(ctx, x, dt, "sin")


def cos(ctx, x: str, dt) -> str:
    """cos(x): x - k pi/2 (Cody-Waite or Payne-Hanek), then the cos or sin polynomial."""
    return _sincos(ctx, x, dt, "cos")


def tanh(ctx, x: str, dt) -> str:
    """tanh(x): Cephes' rational form below 0.625, (1 - e) / (1 + e), e = exp(-2|x|), above."""
    # No libm call, so that LLVM vectorises the loop (libm tanh took 14 ns an element,
    # expm1 8 ns, this 1.2 ns; max error 1.5 ulp). Both branches are computed and one
    # selected: above 0.625, (1 - e) / (1 + e) with e = exp(-2|x|) = 2**-k exp(-r),
    # exp(-r) a degree-13 Taylor polynomial on |r| <= ln(2)/2 and 2**-k from an integer.
    def c(v):
        return ctx.literal(v, dt)
    z, s, sm, w0, w, k, r, e0, e, big = (ctx.fresh(n) for n in (
        "tz", "ts", "tp", "tv", "tw", "tk", "tr", "tq", "te", "tb"))
    (p0, p1, p2), (q0, q1, q2) = _TANH_P, _TANH_Q
    ctx.line(f"{z} = abs({x})")
    ctx.line(f"{s} = {z} * {z}")
    ctx.line(f"{sm} = {z} + {z} * {s} * (({s} * ({s} * {c(p0)} + {c(p1)}) + {c(p2)}) / "
             f"((({s} + {c(q0)}) * {s} + {c(q1)}) * {s} + {c(q2)}))")
    ctx.line(f"{w0} = {c(2)} * {z}")
    ctx.line(f"{w} = {w0} if {w0} < {c(40)} else {c(40)}")   # tanh is 1.0 from 19.1 on
    ctx.line(f"{k} = np.rint({w} * {c(_LOG2E)})")
    ctx.line(f"{r} = ({k} * {c(_LN2_HI)} - {w}) + {k} * {c(_LN2_LO)}")
    poly = c(1.0 / math.factorial(13))
    for n in range(12, -1, -1):
        poly = f"({c(1.0 / math.factorial(n))} + {r} * {poly})"
    ctx.line(f"{e0} = {poly}")
    ctx.line(f"{e} = {e0} * ({ctx.dtype(dt)}(np.int64(1) << (60 - np.int64({k}))) * "
             f"{c(2.0 ** -60)})")
    ctx.line(f"{big} = ({c(1)} - {e}) / ({c(1)} + {e})")
    # NaN takes the rational branch, which keeps it NaN.
    return f"np.copysign({big} if {z} > {c(0.625)} else {sm}, {x})"


BUILDERS = {"exp": exp, "expm1": expm1, "log": log, "log1p": log1p, "sin": sin, "cos": cos,
            "tanh": tanh}
BINARY_BUILDERS = {"pow": pow}

__all__ = ["BINARY_BUILDERS", "BUILDERS", "cos", "exp", "expm1", "is_vectorisable_dtype", "log",
           "log1p", "pow", "sin", "tanh"]
