"""funcad.scipy.special: special functions as in jax.scipy.special.

Each function is a composite of funcad primitives: rational and polynomial approximations
(Cephes' for erf/erfc, Giles' for erfinv, Stirling and asymptotic series with recurrences
for gammaln/digamma), so every transform (jit, vmap, grad to any order) covers them and
jit lowers them to fused native loops with no new lowering rules. Where differentiating
an approximation would be less accurate than the known derivative (erf, erfc, erfinv,
ndtri, xlogy, xlog1py), a `custom_jvp` states the exact derivative.

Accuracy against SciPy (float64, tested): erf/erfc/ndtr/log_ndtr ~1e-14 relative, erfinv
and ndtri ~1e-14 relative on (1e-12, 1 - 1e-12) (ndtri tails below 1e-12 are refined by
Newton steps), gammaln/digamma/betaln ~1e-13 absolute near their zeros.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

import funcad.numpy as fnp
from funcad import nn as _nn
from funcad._custom_derivatives import custom_jvp
from funcad.api import stop_gradient
from funcad.numpy._base import promote_inexact

__all__ = [
    "betainc", "betaln", "digamma", "entr", "erf", "erfc", "erfinv", "expit", "gammainc", "gammaincc",
    "gammaln", "i0", "i0e", "i1",
    "i1e", "log_ndtr", "log_softmax", "logit", "logsumexp", "ndtr", "ndtri", "softmax",
    "xlog1py", "xlogy", "zeta",
]


def _float(x):
    (x,) = promote_inexact(x)
    return x


def _polevl(z, coefs):
    p = coefs[0]
    for c in coefs[1:]:
        p = p * z + c
    return p


def _p1evl(z, coefs):
    # Cephes' p1evl: a polynomial whose leading coefficient 1 is left out of the table.
    p = z + coefs[0]
    for c in coefs[1:]:
        p = p * z + c
    return p


# -- erf and erfc (Cephes ndtr.c's rational approximations) ------------------------------

_ERF_T = (9.60497373987051638749e0, 9.00260197203842689217e1, 2.23200534594684319226e3,
          7.00332514112805075473e3, 5.55923013010394962768e4)
_ERF_U = (3.35617141647503099647e1, 5.21357949780152679795e2, 4.59432382970980127987e3,
          2.26290000613890934246e4, 4.92673942608635921086e4)
_ERFC_P = (2.46196981473530512524e-10, 5.64189564831068821977e-1, 7.46321056442269912687e0,
           4.86371970985681366614e1, 1.96520832956077098242e2, 5.26445194995477358631e2,
           9.34528527171957607540e2, 1.02755188689515710272e3, 5.57535335369399327526e2)
_ERFC_Q = (1.32281951154744992508e1, 8.67072140885989742329e1, 3.54937778887819891062e2,
           9.75708501743205489753e2, 1.82390916687909736289e3, 2.24633760818710981792e3,
           1.65666309194161350182e3, 5.57535340817727675546e2)
_ERFC_R = (5.64189583547755073984e-1, 1.27536670759978104416e0, 5.01905042251180477414e0,
           6.16021097993053585195e0, 7.40974269950448939160e0, 2.97886665372100240670e0)
_ERFC_S = (2.26052863220117276590e0, 9.39603524938001434673e0, 1.20489539808096656605e1,
           1.70814450747565897222e1, 9.60896809063285878198e0, 3.36907645100081516050e0)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def _erf_small(x):
    # |x| < 1
    z = x * x
    return x * _polevl(z, _ERF_T) / _p1evl(z, _ERF_U)


def _exp_neg_square(a):
    # exp(-a**2) without the rounding error of a**2 (Cephes' expx2): a = m + f with m a
    # multiple of 1/128, so m**2 is exact and the small rest goes into a second exp.
    m = fnp.floor(a * 128.0 + 0.5) / 128.0
    f = a - m
    return fnp.exp(-(m * m)) * fnp.exp(-(2.0 * m * f + f * f))


def _erfc_large(a):
    # a >= 1; erfc(30) underflows to 0, and a clamped there keeps inf - inf out
    a = fnp.minimum(a, 30.0)
    z = _exp_neg_square(a)
    mid = a < 8.0
    am = fnp.where(mid, a, 1.0)
    at = fnp.where(mid, 8.0, a)
    ratio = fnp.where(mid, _polevl(am, _ERFC_P) / _p1evl(am, _ERFC_Q),
                      _polevl(at, _ERFC_R) / _p1evl(at, _ERFC_S))
    return z * ratio


def _erf_impl(x):
    ax = fnp.abs(x)
    small = ax < 1.0
    xs = fnp.where(small, x, 0.5)
    big = fnp.where(small, 1.0, ax)
    large = 1.0 - _erfc_large(big)
    return fnp.where(small, _erf_small(xs), fnp.where(x < 0, -large, large))


def _erfc_impl(x):
    ax = fnp.abs(x)
    small = ax < 1.0
    xs = fnp.where(small, x, 0.5)
    big = fnp.where(small, 1.0, ax)
    y = _erfc_large(big)
    return fnp.where(small, 1.0 - _erf_small(xs), fnp.where(x < 0, 2.0 - y, y))


@custom_jvp
def _erf(x):
    return _erf_impl(x)


@_erf.defjvp
def _erf_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return _erf_impl(x), t * (_TWO_OVER_SQRT_PI * fnp.exp(-(x * x)))


@custom_jvp
def _erfc(x):
    return _erfc_impl(x)


@_erfc.defjvp
def _erfc_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return _erfc_impl(x), t * (-_TWO_OVER_SQRT_PI * fnp.exp(-(x * x)))


def erf(x: Any) -> Any:
    """The error function, 2/sqrt(pi) * integral of exp(-t**2) from 0 to x.

    >>> round(float(erf(0.5)), 12)
    0.520499877813
    """
    return _erf(_float(x))


def erfc(x: Any) -> Any:
    """The complementary error function 1 - erf(x), accurate where erf(x) is near 1.

    >>> float(erfc(10.0)) > 0
    True
    """
    return _erfc(_float(x))


# -- erfinv (Giles 2010, in the form XLA evaluates it, so that funcad.random.normal draws
# the same numbers as JAX) ------------------------------------------------------------------

_ERFINV_A = (-3.6444120640178196996e-21, -1.685059138182016589e-19, 1.2858480715256400167e-18,
             1.115787767802518096e-17, -1.333171662854620906e-16, 2.0972767875968561637e-17,
             6.6376381343583238325e-15, -4.0545662729752068639e-14,
             -8.1519341976054721522e-14, 2.6335093153082322977e-12,
             -1.2975133253453532498e-11, -5.4154120542946279317e-11,
             1.051212273321532285e-09, -4.1126339803469836976e-09,
             -2.9070369957882005086e-08, 4.2347877827932403518e-07,
             -1.3654692000834678645e-06, -1.3882523362786468719e-05,
             0.0001867342080340571352, -0.00074070253416626697512,
             -0.0060336708714301490533, 0.24015818242558961693, 1.6536545626831027356)
_ERFINV_B = (2.2137376921775787049e-09, 9.0756561938885390979e-08,
             -2.7517406297064545428e-07, 1.8239629214389227755e-08,
             1.5027403968909827627e-06, -4.013867526981545969e-06,
             2.9234449089955446044e-06, 1.2475304481671778723e-05,
             -4.7318229009055733981e-05, 6.8284851459573175448e-05,
             2.4031110387097893999e-05, -0.0003550375203628474796,
             0.00095328937973738049703, -0.0016882755560235047313,
             0.0024914420961078508066, -0.0037512085075692412107,
             0.005370914553590063617, 1.0052589676941592334, 3.0838856104922207635)
_ERFINV_C = (-2.7109920616438573243e-11, -2.5556418169965252055e-10,
             1.5076572693500548083e-09, -3.7894654401267369937e-09,
             7.6157012080783393804e-09, -1.4960026627149240478e-08,
             2.9147953450901080826e-08, -6.7711997758452339498e-08,
             2.2900482228026654717e-07, -9.9298272942317002539e-07,
             4.5260625972231537039e-06, -1.9681778105531670567e-05,
             7.5995277030017761139e-05, -0.00021503011930044477347,
             -0.00013871931833623122026, 1.0103004648645343977, 4.8499064014085844221)
_ERFINV_TAB = np.zeros((3, len(_ERFINV_A)))
for _row, _tab in enumerate((_ERFINV_A, _ERFINV_B, _ERFINV_C)):
    _ERFINV_TAB[_row, :len(_tab)] = _tab
del _row, _tab
_ERFINV_A32 = (2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06,
               0.00021858087, -0.00125372503, -0.00417768164, 0.246640727, 1.50140941)
_ERFINV_B32 = (-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844,
               0.00573950773, -0.0076224613, 0.00943887047, 1.00167406, 2.83297682)


def _erfinv_poly(w, dtype):
    """Giles' polynomial p(w), w = -log(1 - x**2); erfinv(x) = p(w) * x.

    Evaluated as XLA does (one Horner chain whose coefficients are selected by the range
    of w, each step a fused multiply-add), so that funcad.random.normal reproduces JAX's
    draws."""
    sw = fnp.sqrt(fnp.maximum(w, 0.0))
    if dtype == np.float32:
        lt = w < 5.0
        z = fnp.where(lt, w - 2.5, sw - 3.0)
        p = fnp.where(lt, np.float32(_ERFINV_A32[0]), np.float32(_ERFINV_B32[0]))
        for a, b in zip(_ERFINV_A32[1:], _ERFINV_B32[1:]):
            p = _fma(p, z, fnp.where(lt, np.float32(a), np.float32(b)))
        return p
    lt625, lt16 = w < 6.25, w < 16.0
    z = fnp.where(lt625, w - 3.125, fnp.where(lt16, sw - 3.25, sw - 5.0))
    # One chain over the 23 steps of the longest table; the shorter tables (19 and 17
    # coefficients) stop early and keep their value. Every element's coefficients are
    # selected at once (the tables padded with zeros, which only steps whose results are
    # dropped read) and each step reads its column: under jit all steps then share their
    # kernels (a select between literal coefficients per step made 23 distinct kernels).
    coefs = fnp.where(lt625[..., None], _ERFINV_TAB[0],
                      fnp.where(lt16[..., None], _ERFINV_TAB[1], _ERFINV_TAB[2]))
    p = coefs[..., 0]
    for i in range(1, len(_ERFINV_A)):
        if i < len(_ERFINV_C):
            p = _fma(p, z, coefs[..., i])
        elif i < len(_ERFINV_B):
            p = fnp.where(lt16, _fma(p, z, coefs[..., i]), p)
        else:
            p = fnp.where(lt625, _fma(p, z, coefs[..., i]), p)
    return p


@custom_jvp
def _fma(a, b, c):
    """a * b + c with one rounding (Dekker's exact product and Knuth's two-sum; the last
    addition may round twice in rare ties), as XLA's fused multiply-add."""
    return _fma_impl(a, b, c)


@_fma.defjvp
def _fma_jvp(primals, tangents):
    # The error terms are 0 in exact arithmetic: differentiate a * b + c, not the splitting
    # (whose tangents would carry its rounding, ~1e-8 relative).
    (a, b, c), (ta, tb, tc) = primals, tangents
    return _fma_impl(a, b, c), ta * b + a * tb + tc


def _fma_impl(a, b, c):
    dt = np.result_type(a, b, c)
    split = dt.type(134217729.0 if dt == np.float64 else 4097.0)  # 2**27 + 1, 2**12 + 1

    def halves(x):
        t = split * x
        hi = t - (t - x)
        return hi, x - hi

    p = a * b
    a_hi, a_lo = halves(a)
    b_hi, b_lo = halves(b)
    e = ((a_hi * b_hi - p) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo
    s = p + c
    bb = s - p
    t = (p - (s - bb)) + (c - bb)
    out = s + (t + e)
    return fnp.where(fnp.isfinite(out), out, p + c)


def _erfinv_impl(x):
    w = -fnp.log1p(x * -x)
    p = _erfinv_poly(w, x.dtype)
    # (+-inf at +-1 from a constant: x * inf would put 0 * inf = NaN into cotangents)
    return fnp.where(fnp.abs(x) == 1.0, fnp.sign(x) * np.inf, p * x)


@custom_jvp
def _erfinv(x):
    return _erfinv_impl(x)


@_erfinv.defjvp
def _erfinv_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    y = _erfinv_impl(x)
    return y, t * ((math.sqrt(math.pi) / 2) * fnp.exp(y * y))


def erfinv(x: Any) -> Any:
    """The inverse of erf on (-1, 1) (+-inf at +-1).

    >>> round(float(erfinv(0.5)), 12)
    0.476936276204
    """
    return _erfinv(_float(x))


# -- the normal distribution's cdf, its log and its inverse ------------------------------

_SQRT_HALF = math.sqrt(0.5)
_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def ndtr(x: Any) -> Any:
    """The standard normal cumulative distribution function.

    >>> float(ndtr(0.0))
    0.5
    """
    x = _float(x)
    z = x * _SQRT_HALF
    small = fnp.abs(z) < _SQRT_HALF
    y = 0.5 * erfc(fnp.abs(z))
    return fnp.where(small, 0.5 + 0.5 * erf(z), fnp.where(z > 0, 1.0 - y, y))


def _log_ndtr_impl(x, series_order):
    # Below `lower` ndtr leaves the normal range: the asymptotic series takes over there
    # (JAX switches at -20, where 3 terms of the series are only good to ~1e-11).
    lower = -37.0 if x.dtype == np.float64 else -10.0
    mid = fnp.log(ndtr(fnp.minimum(fnp.maximum(x, lower), 0.0)))
    # log1p(-ndtr(-x)) for x > 0: log(ndtr(x)) would lose the digits of a cdf near 1
    high = fnp.log1p(-ndtr(-fnp.maximum(x, 0.0)))
    xs = fnp.minimum(x, lower)
    # Asymptotic series for x -> -inf: log(pdf(x) / -x * sum).
    x2 = xs * xs
    total, term = 1.0, 1.0
    for n in range(1, series_order + 1):
        term = term * -(2 * n - 1) / x2
        total = total + term
    low = -0.5 * x2 - fnp.log(-xs) - _LOG_SQRT_2PI + fnp.log(total)
    return fnp.where(x > 0, high, fnp.where(x > lower, mid, low))


@functools.cache
def _log_ndtr_fn(series_order):
    @custom_jvp
    def f(x):
        return _log_ndtr_impl(x, series_order)

    @f.defjvp
    def f_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        y = _log_ndtr_impl(x, series_order)
        # pdf / cdf in log space: the quotient of two underflowing numbers far left
        return y, t * fnp.exp(-0.5 * x * x - _LOG_SQRT_2PI - y)
    return f


def log_ndtr(x: Any, series_order: int = 3) -> Any:
    """log(ndtr(x)), accurate for very negative and very positive x.

    >>> round(float(log_ndtr(-40.0)), 6)
    -804.608442
    """
    return _log_ndtr_fn(int(series_order))(_float(x))


def _ndtri_impl(p):
    # erfinv(2p - 1) with w = -log(1 - (2p-1)**2) = -log(4 p (1 - p)) computed without
    # cancellation, so that the tails keep their relative accuracy.
    w = -(math.log(4.0) + fnp.log(p) + fnp.log1p(-p))
    x = (p - 0.5) * 2.0
    y = math.sqrt(2.0) * _erfinv_poly(w, p.dtype) * x
    # Giles' fit ends at w ~ 37 (p ~ 1e-17): deeper tails start from Abramowitz and
    # Stegun 26.2.23 (error < 5e-4) and take Newton steps on log_ndtr (quadratic
    # convergence: 4 steps reach full precision).
    tail = w > 25.0
    ps = fnp.where(tail, fnp.minimum(p, 1.0 - p), 1e-20)
    t = fnp.sqrt(-2.0 * fnp.log(ps))
    ys = -(t - (2.515517 + t * (0.802853 + t * 0.010328))
           / (1.0 + t * (1.432788 + t * (0.189269 + t * 0.001308))))
    for _ in range(4):
        lc = _log_ndtr_impl(ys, 10)
        ys = ys - (lc - fnp.log(ps)) * fnp.exp(lc + 0.5 * ys * ys + _LOG_SQRT_2PI)
    ys = fnp.where(p < 0.5, ys, -ys)
    y = fnp.where(tail, ys, y)
    return fnp.where(p == 0.0, -np.inf, fnp.where(p == 1.0, np.inf, y))


@custom_jvp
def _ndtri(p):
    return _ndtri_impl(p)


@_ndtri.defjvp
def _ndtri_jvp(primals, tangents):
    (p,), (t,) = primals, tangents
    y = _ndtri_impl(p)
    return y, t * fnp.exp(0.5 * y * y + _LOG_SQRT_2PI)


def ndtri(p: Any) -> Any:
    """The inverse of ndtr: the standard normal quantile function.

    >>> round(float(ndtri(0.975)), 9)
    1.959963985
    """
    return _ndtri(_float(p))


# -- logistic ------------------------------------------------------------------------------


def expit(x: Any) -> Any:
    """The logistic sigmoid 1 / (1 + exp(-x)), without overflow.

    >>> float(expit(0.0))
    0.5
    """
    return _nn.sigmoid(_float(x))


def logit(x: Any) -> Any:
    """The inverse of expit, log(x / (1 - x)).

    >>> float(logit(0.5))
    0.0
    """
    x = _float(x)
    return fnp.log(x) - fnp.log1p(-x)


def logsumexp(a: Any, axis: Any = None, b: Any = None, keepdims: bool = False,
              return_sign: bool = False) -> Any:
    """log(sum(b * exp(a))) without overflow; with return_sign, also the sum's sign.

    Args:
      a: an array. axis: an int, tuple or None. b: optional weights (may be negative).
      keepdims: keep reduced axes. return_sign: return (log|sum|, sign) instead of NaN
        for a negative sum.
    Returns: the reduced array, or a pair (value, sign).

    >>> round(float(logsumexp(np.array([1.0, 2.0]))), 12)
    2.313261687518
    """
    a = _float(a)
    if isinstance(axis, list):
        axis = tuple(axis)
    m = fnp.max(a, axis=axis, keepdims=True)
    m = stop_gradient(fnp.where(fnp.isfinite(m), m, fnp.zeros_like(m)))
    e = fnp.exp(a - m)
    if b is not None:
        e = e * b
    s = fnp.sum(e, axis=axis, keepdims=keepdims)
    mk = m if keepdims else fnp.squeeze(m, axis=_axis_tuple(axis, fnp.ndim(a)))
    sign = fnp.sign(s)
    if return_sign:
        return fnp.log(fnp.abs(s)) + mk, sign
    return fnp.where(sign < 0, np.nan, fnp.log(fnp.abs(s)) + mk)


def _axis_tuple(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, int):
        return (axis % ndim,) if ndim else ()
    return tuple(a % ndim for a in axis)


def softmax(x: Any, axis: Any = None) -> Any:
    """exp(x) / sum(exp(x), axis) (scipy's default: over all axes).

    >>> softmax(np.array([0.0, 0.0])).tolist()
    [0.5, 0.5]
    """
    return _nn.softmax(_float(x), axis=axis)


def log_softmax(x: Any, axis: Any = None) -> Any:
    """x - logsumexp(x, axis) (scipy's default: over all axes).

    >>> log_softmax(np.array([0.0, 0.0])).round(6).tolist()
    [-0.693147, -0.693147]
    """
    return _nn.log_softmax(_float(x), axis=axis)


# -- x log y ---------------------------------------------------------------------------------


def _xlogy_impl(x, y):
    safe_y = fnp.where(x == 0, 1.0, y)
    return fnp.where(x == 0, 0.0, x * fnp.log(safe_y))


@custom_jvp
def _xlogy(x, y):
    return _xlogy_impl(x, y)


@_xlogy.defjvp
def _xlogy_jvp(primals, tangents):
    (x, y), (tx, ty) = primals, tangents
    # As JAX: d/dx = log(y), d/dy = x / y.
    return _xlogy_impl(x, y), tx * fnp.log(y) + ty * (x / y)


def xlogy(x: Any, y: Any) -> Any:
    """x * log(y), taken as 0 where x == 0 (even where y is 0).

    >>> float(xlogy(0.0, 0.0))
    0.0
    """
    x, y = promote_inexact(x, y)
    x, y = fnp.broadcast_arrays(x, y)
    return _xlogy(x, y)


def _xlog1py_impl(x, y):
    safe_y = fnp.where(x == 0, 0.0, y)
    return fnp.where(x == 0, 0.0, x * fnp.log1p(safe_y))


@custom_jvp
def _xlog1py(x, y):
    return _xlog1py_impl(x, y)


@_xlog1py.defjvp
def _xlog1py_jvp(primals, tangents):
    (x, y), (tx, ty) = primals, tangents
    return _xlog1py_impl(x, y), tx * fnp.log1p(y) + ty * (x / (1.0 + y))


def xlog1py(x: Any, y: Any) -> Any:
    """x * log1p(y), taken as 0 where x == 0.

    >>> float(xlog1py(0.0, -1.0))
    0.0
    """
    x, y = promote_inexact(x, y)
    x, y = fnp.broadcast_arrays(x, y)
    return _xlog1py(x, y)


def entr(x: Any) -> Any:
    """Elementwise entropy -x log x (0 at 0, -inf for negative x).

    >>> float(entr(1.0))
    -0.0
    """
    x = _float(x)
    safe = fnp.where(x > 0, x, 1.0)
    return fnp.where(x > 0, -(safe * fnp.log(safe)), fnp.where(x == 0, 0.0, -np.inf))


# -- gamma function family ---------------------------------------------------------------------

_SHIFT = 10  # recurrences move the argument to >= 10, where the asymptotic series converge
# Stirling series coefficients B_2k / (2k (2k - 1)) for lgamma, B_2k / (2k) for digamma.
_LGAMMA_SERIES = (1 / 12, -1 / 360, 1 / 1260, -1 / 1680, 1 / 1188, -691 / 360360, 1 / 156,
                  -3617 / 122400)
_DIGAMMA_SERIES = (1 / 12, -1 / 120, 1 / 252, -1 / 240, 1 / 132, -691 / 32760, 1 / 12)


def _lgamma_pos(x):
    # x >= 0.5: lgamma(x) = lgamma(x + n) - sum_k log(x + k), n = SHIFT for small x.
    small = x < _SHIFT
    z = fnp.where(small, x + _SHIFT, x)
    corr = fnp.zeros_like(x)
    for k in range(_SHIFT):
        corr = corr + fnp.log(x + k)
    corr = fnp.where(small, corr, 0.0)
    r = 1.0 / z
    r2 = r * r
    series = _polevl(r2, _LGAMMA_SERIES[::-1]) * r
    return (z - 0.5) * fnp.log(z) - z + _LOG_SQRT_2PI + series - corr


def _digamma_pos(x):
    small = x < _SHIFT
    z = fnp.where(small, x + _SHIFT, x)
    corr = fnp.zeros_like(x)
    for k in range(_SHIFT):
        corr = corr + 1.0 / (x + k)
    corr = fnp.where(small, corr, 0.0)
    r2 = 1.0 / (z * z)
    series = _polevl(r2, _DIGAMMA_SERIES[::-1]) * r2
    return fnp.log(z) - 0.5 / z - series - corr


def gammaln(x: Any) -> Any:
    """log|Gamma(x)| (inf at the poles 0, -1, -2, ...).

    >>> round(float(gammaln(5.0)), 12)
    3.178053830348
    """
    x = _float(x)
    refl = x < 0.5
    xp = fnp.where(refl, 1.0 - x, x)
    pos = _lgamma_pos(xp)
    # Reflection: lgamma(x) = log(pi / |sin(pi x)|) - lgamma(1 - x).
    frac = x - fnp.floor(x)
    s = fnp.abs(fnp.sin(math.pi * fnp.where(refl, frac, 0.5)))
    pole = refl & (frac == 0)
    s = fnp.where(pole, 1.0, s)
    neg = math.log(math.pi) - fnp.log(s) - pos
    return fnp.where(pole, np.inf, fnp.where(refl, neg, pos))


def digamma(x: Any) -> Any:
    """The logarithmic derivative of Gamma, psi(x) (NaN at the poles 0, -1, ...).

    >>> round(float(digamma(1.0)), 12)
    -0.577215664902
    """
    x = _float(x)
    refl = x < 0.5
    xp = fnp.where(refl, 1.0 - x, x)
    pos = _digamma_pos(xp)
    frac = x - fnp.floor(x)
    pole = refl & (frac == 0)
    a = math.pi * fnp.where(refl & ~pole, frac, 0.25)
    # pi / tan(pi x) as a ratio of cos and sin: derivatives through tan near pi/2 are
    # ratios of huge numbers
    neg = pos - math.pi * fnp.cos(a) / fnp.sin(a)
    return fnp.where(pole, np.nan, fnp.where(refl, neg, pos))


def betaln(a: Any, b: Any) -> Any:
    """log|B(a, b)| = gammaln(a) + gammaln(b) - gammaln(a + b).

    >>> round(float(betaln(2.0, 3.0)), 12)
    -2.484906649788
    """
    a, b = promote_inexact(a, b)
    return gammaln(a) + gammaln(b) - gammaln(a + b)


# -- exponentially scaled modified Bessel functions (Cephes' Chebyshev expansions) ----------

_I1E_A = (2.77791411276104639959e-18, -2.11142121435816608115e-17, 1.55363195773620046921e-16,
          -1.10559694773538630805e-15, 7.60068429473540693410e-15, -5.04218550472791168711e-14,
          3.22379336594557470981e-13, -1.98397439776494371520e-12, 1.17361862988909016308e-11,
          -6.66348972350202774223e-11, 3.62559028155211703701e-10, -1.88724975172282928790e-9,
          9.38153738649577178388e-9, -4.44505912879632808065e-8, 2.00329475355213526229e-7,
          -8.56872026469545474066e-7, 3.47025130813767847674e-6, -1.32731636560394358279e-5,
          4.78156510755005422638e-5, -1.61760815825896745588e-4, 5.12285956168575772895e-4,
          -1.51357245063125314899e-3, 4.15642294431288815669e-3, -1.05640848946261981558e-2,
          2.47264490306265168283e-2, -5.29459812080949914269e-2, 1.02643658689847095384e-1,
          -1.76416518357834055153e-1, 2.52587186443633654823e-1)
_I1E_B = (7.51729631084210481353e-18, 4.41434832307170791151e-18, -4.65030536848935832153e-17,
          -3.20952592199342395980e-17, 2.96262899764595013876e-16, 3.30820231092092828324e-16,
          -1.88035477551078244854e-15, -3.81440307243700780478e-15, 1.04202769841288027642e-14,
          4.27244001671195135429e-14, -2.10154184277266431302e-14, -4.08355111109219731823e-13,
          -7.19855177624590851209e-13, 2.03562854414708950722e-12, 1.41258074366137813316e-11,
          3.25260358301548823856e-11, -1.89749581235054123450e-11, -5.58974346219658380687e-10,
          -3.83538038596423702205e-9, -2.63146884688951950684e-8, -2.51223623787020892529e-7,
          -3.88256480887769039346e-6, -1.10588938762623716291e-4, -9.76109749136146840777e-3,
          7.78576235018280120474e-1)


def _i0_tables():
    # NumPy's i0 uses the same Cephes tables; take them from NumPy rather than copy them.
    from numpy.lib import _function_base_impl as fb
    return tuple(fb._i0A), tuple(fb._i0B)


def _chbevl(x, coefs):
    b0, b1, b2 = coefs[0], 0.0, 0.0
    for c in coefs[1:]:
        b2 = b1
        b1 = b0
        b0 = x * b1 - b2 + c
    return 0.5 * (b0 - b2)


def _bessel_e(x, a, b, odd):
    z = fnp.abs(x)
    small = z <= 8.0
    zs = fnp.where(small, z, 8.0)
    zl = fnp.where(small, 8.0, z)
    lo = _chbevl(0.5 * zs - 2.0, a)
    if odd:
        lo = zs * lo
    hi = _chbevl(32.0 / zl - 2.0, b) / fnp.sqrt(zl)
    out = fnp.where(small, lo, hi)
    return fnp.sign(x) * out if odd else out


def _i0e_impl(x):
    a, b = _i0_tables()
    return _bessel_e(x, a, b, odd=False)


def _i1e_impl(x):
    return _bessel_e(x, _I1E_A, _I1E_B, odd=True)


@custom_jvp
def _i0e(x):
    return _i0e_impl(x)


@_i0e.defjvp
def _i0e_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    y = _i0e_impl(x)
    return y, t * (_i1e(x) - fnp.sign(x) * y)


@custom_jvp
def _i1e(x):
    return _i1e_impl(x)


@_i1e.defjvp
def _i1e_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    y = _i1e_impl(x)
    zero = x == 0
    safe = fnp.where(zero, 1.0, x)
    # I1'(x) = I0(x) - I1(x) / x, with the limit 1/2 at 0.
    d = fnp.where(zero, 0.5, _i0e(x) - fnp.sign(x) * y - y / safe)
    return y, t * d


def i0e(x: Any) -> Any:
    """Exponentially scaled modified Bessel function of order 0, exp(-|x|) I0(x).

    >>> round(float(i0e(1.0)), 12)
    0.465759607594
    """
    return _i0e(_float(x))


def i1e(x: Any) -> Any:
    """Exponentially scaled modified Bessel function of order 1, exp(-|x|) I1(x).

    >>> round(float(i1e(1.0)), 12)
    0.20791041535
    """
    return _i1e(_float(x))


def i0(x: Any) -> Any:
    """Modified Bessel function of order 0.

    >>> round(float(i0(1.0)), 12)
    1.266065877752
    """
    x = _float(x)
    return fnp.exp(fnp.abs(x)) * i0e(x)


def i1(x: Any) -> Any:
    """Modified Bessel function of order 1.

    >>> round(float(i1(1.0)), 12)
    0.565159103992
    """
    x = _float(x)
    return fnp.exp(fnp.abs(x)) * i1e(x)


# -- Hurwitz zeta (Euler-Maclaurin summation) --------------------------------------------

_BERNOULLI_2J = (1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6, -3617 / 510,
                 43867 / 798, -174611 / 330, 854513 / 138, -236364091 / 2730)


def zeta(x: Any, q: Any = None) -> Any:
    """The Hurwitz zeta function sum_k (k + q)**-x (Riemann's when q is None), for x > 1.

    >>> round(float(zeta(2.0, 1.0)), 12)
    1.644934066848
    """
    x, q = promote_inexact(x, 1.0 if q is None else q)
    x, q = fnp.broadcast_arrays(x, q)
    n = 10
    total = fnp.zeros_like(x)
    for k in range(n):
        total = total + fnp.power(q + k, -x)
    a = q + n
    total = total + fnp.power(a, 1.0 - x) / (x - 1.0) + 0.5 * fnp.power(a, -x)
    # sum_j B_2j / (2j)! * x (x+1) ... (x+2j-2) * a**(-x-2j+1)
    fact = 1.0
    rising = x
    term_pow = fnp.power(a, -x - 1.0)
    inv_a2 = 1.0 / (a * a)
    for j, b2j in enumerate(_BERNOULLI_2J, start=1):
        fact = fact * (2 * j - 1) * (2 * j) if j > 1 else 2.0
        total = total + (b2j / fact) * rising * term_pow
        rising = rising * (x + 2 * j - 1) * (x + 2 * j)
        term_pow = term_pow * inv_a2
    domain = (x > 1.0) & (q > 0.0)
    return fnp.where(x == 1.0, np.inf, fnp.where(domain, total, np.nan))


# -- regularized incomplete gamma functions ------------------------------------------------

_GAMMAINC_SERIES_TERMS = 200
_GAMMAINC_CF_TERMS = 120
_TINY = 1e-300


def _gammainc_parts(a, x):
    """(P by its series, Q by its continued fraction, which of the two is accurate)."""
    use_series = x < a + 1.0
    # Each branch sees only arguments where it converges (the other gets a harmless 1).
    xs = fnp.where(use_series, x, fnp.minimum(a, 1.0) * 0.5)
    xc = fnp.where(use_series, a + 2.0, x)
    safe_xs = fnp.where(xs > 0, xs, 1.0)
    term = fnp.ones_like(xs)
    total = term
    for n in range(1, _GAMMAINC_SERIES_TERMS):
        term = term * xs / (a + n)
        total = total + term
    log_pre = a * fnp.log(safe_xs) - xs - gammaln(a + 1.0)
    p_series = fnp.where(xs > 0, fnp.exp(log_pre) * total, 0.0)
    # Modified Lentz evaluation of the continued fraction for Q (Numerical Recipes 6.2).
    b = xc + 1.0 - a
    c = fnp.full_like(xc, 1.0 / _TINY)
    d = 1.0 / b
    h = d
    for i in range(1, _GAMMAINC_CF_TERMS):
        an = -i * (i - a)
        b = b + 2.0
        d = an * d + b
        d = fnp.where(fnp.abs(d) < _TINY, _TINY, d)
        c = b + an / c
        c = fnp.where(fnp.abs(c) < _TINY, _TINY, c)
        d = 1.0 / d
        h = h * (d * c)
    q_cf = fnp.exp(a * fnp.log(xc) - xc - gammaln(a)) * h
    return p_series, q_cf, use_series


def gammainc(a: Any, x: Any) -> Any:
    """The regularized lower incomplete gamma function P(a, x), for a > 0, x >= 0.

    >>> round(float(gammainc(2.0, 1.0)), 12)
    0.264241117657
    """
    a, x = promote_inexact(a, x)
    a, x = fnp.broadcast_arrays(a, x)
    p, q, use_series = _gammainc_parts(a, x)
    out = fnp.where(use_series, p, 1.0 - q)
    return fnp.where((a > 0) & (x >= 0), out, np.nan)


def gammaincc(a: Any, x: Any) -> Any:
    """The regularized upper incomplete gamma function Q(a, x) = 1 - P(a, x).

    >>> round(float(gammaincc(2.0, 1.0)), 12)
    0.735758882343
    """
    a, x = promote_inexact(a, x)
    a, x = fnp.broadcast_arrays(a, x)
    p, q, use_series = _gammainc_parts(a, x)
    out = fnp.where(use_series, 1.0 - p, q)
    return fnp.where((a > 0) & (x >= 0), out, np.nan)


# -- regularized incomplete beta function ----------------------------------------------

_BETAINC_CF_TERMS = 100
_FPMIN = 1e-300


def _betacf(a, b, x):
    # Lentz's evaluation of the continued fraction of I_x(a, b) (Numerical Recipes 6.4).
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = fnp.ones_like(x)
    d = 1.0 - qab * x / qap
    d = 1.0 / fnp.where(fnp.abs(d) < _FPMIN, _FPMIN, d)
    h = d
    for m in range(1, _BETAINC_CF_TERMS):
        m2 = 2 * m
        for aa in (m * (b - m) * x / ((qam + m2) * (a + m2)),
                   -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + aa * d
            d = 1.0 / fnp.where(fnp.abs(d) < _FPMIN, _FPMIN, d)
            c = 1.0 + aa / c
            c = fnp.where(fnp.abs(c) < _FPMIN, _FPMIN, c)
            h = h * (d * c)
    return h


def betainc(a: Any, b: Any, x: Any) -> Any:
    """The regularized incomplete beta function I_x(a, b), for a, b > 0, 0 <= x <= 1.

    >>> round(float(betainc(2.0, 3.0, 0.5)), 12)
    0.6875
    """
    a, b, x = promote_inexact(a, b, x)
    a, b, x = fnp.broadcast_arrays(a, b, x)
    inside = (x > 0) & (x < 1)
    xs = fnp.where(inside, x, 0.5)
    direct = xs < (a + 1.0) / (a + b + 2.0)
    # each branch evaluates the fraction where it converges fast (the symmetry I_x(a, b) =
    # 1 - I_{1-x}(b, a) covers the other side)
    aa = fnp.where(direct, a, b)
    bb = fnp.where(direct, b, a)
    xx = fnp.where(direct, xs, 1.0 - xs)
    front = fnp.exp(aa * fnp.log(xx) + bb * fnp.log1p(-xx) - betaln(aa, bb)) / aa
    val = front * _betacf(aa, bb, xx)
    out = fnp.where(direct, val, 1.0 - val)
    out = fnp.where(x <= 0, 0.0, fnp.where(x >= 1, 1.0, out))
    return fnp.where((a > 0) & (b > 0), out, np.nan)


from funcad.scipy._special_extra import (  # noqa: E402
    bernoulli, bessel_jn, beta, boxcox, boxcox1p, comb, dawsn, erfcx, exp1, expi, expn,
    factorial, fresnel, gamma, gammasgn, hyp1f1, kl_div, loggamma, multigammaln, owens_t, poch,
    polygamma, rel_entr, sici, spence,
)
from funcad.scipy._special_extra import __all__ as _extra_all  # noqa: E402

__all__ = sorted(__all__ + _extra_all)

# Called outside transforms, the public functions return funcad.Arrays.
from funcad._array import export_arrays as _export_arrays  # noqa: E402

_export_arrays(globals())
