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

import math
from typing import Any

import numpy as np

import funcad.numpy as fnp
from funcad import nn as _nn
from funcad._custom_derivatives import custom_jvp
from funcad.api import stop_gradient
from funcad.numpy._base import promote_inexact

__all__ = [
    "betaln", "digamma", "entr", "erf", "erfc", "erfinv", "expit", "gammaln", "log_ndtr",
    "log_softmax", "logit", "logsumexp", "ndtr", "ndtri", "softmax", "xlog1py", "xlogy",
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
    # a >= 1
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
    # coefficients) stop early and keep their value.
    p = fnp.where(lt625, _ERFINV_A[0], fnp.where(lt16, _ERFINV_B[0], _ERFINV_C[0]))
    for i in range(1, len(_ERFINV_A)):
        if i < len(_ERFINV_C):
            coef = fnp.where(lt625, _ERFINV_A[i], fnp.where(lt16, _ERFINV_B[i], _ERFINV_C[i]))
            p = _fma(p, z, coef)
        elif i < len(_ERFINV_B):
            p = fnp.where(lt16, _fma(p, z, fnp.where(lt625, _ERFINV_A[i], _ERFINV_B[i])), p)
        else:
            p = fnp.where(lt625, _fma(p, z, _ERFINV_A[i]), p)
    return p


def _fma(a, b, c):
    """a * b + c with one rounding (Dekker's exact product and Knuth's two-sum; the last
    addition may round twice in rare ties), as XLA's fused multiply-add."""
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


def log_ndtr(x: Any, series_order: int = 3) -> Any:
    """log(ndtr(x)), accurate for very negative and very positive x.

    >>> round(float(log_ndtr(-40.0)), 6)
    -804.608442
    """
    x = _float(x)
    lower, upper = (-20.0, 8.0) if x.dtype == np.float64 else (-10.0, 5.0)
    mid = fnp.log(ndtr(fnp.maximum(x, lower)))
    high = fnp.log1p(-ndtr(-fnp.maximum(x, upper)))
    xs = fnp.minimum(x, lower)
    # Asymptotic series for x -> -inf: log(pdf(x) / -x * sum).
    x2 = xs * xs
    total, term = 1.0, 1.0
    for n in range(1, series_order + 1):
        term = term * -(2 * n - 1) / x2
        total = total + term
    low = -0.5 * x2 - fnp.log(-xs) - _LOG_SQRT_2PI + fnp.log(total)
    return fnp.where(x > upper, high, fnp.where(x > lower, mid, low))


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
        lc = log_ndtr(ys, series_order=10)
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
    t = fnp.tan(math.pi * fnp.where(refl & ~pole, frac, 0.25))
    neg = pos - math.pi / t
    return fnp.where(pole, np.nan, fnp.where(refl, neg, pos))


def betaln(a: Any, b: Any) -> Any:
    """log|B(a, b)| = gammaln(a) + gammaln(b) - gammaln(a + b).

    >>> round(float(betaln(2.0, 3.0)), 12)
    -2.484906649788
    """
    a, b = promote_inexact(a, b)
    return gammaln(a) + gammaln(b) - gammaln(a + b)
