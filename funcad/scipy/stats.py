"""funcad.scipy.stats: densities and distribution functions as in jax.scipy.stats.

Each distribution is a namespace of functions with SciPy's argument names (`loc`, `scale`,
shape parameters), composites of funcad.numpy and funcad.scipy.special, differentiable in
every float argument. Outside the support, log-densities are -inf and densities 0.
"""

from __future__ import annotations

import math
import sys
from types import ModuleType, SimpleNamespace
from typing import Any

import numpy as np

import funcad.numpy as fnp
from funcad.numpy._base import promote_inexact
from funcad.scipy import special as sp

__all__ = ["bernoulli", "beta", "cauchy", "expon", "gamma", "laplace", "multivariate_normal",
           "norm", "poisson", "t", "uniform"]

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def _args(*xs):
    xs = promote_inexact(*xs)
    return fnp.broadcast_arrays(*xs) if len(xs) > 1 else xs


def _where_support(cond, value, outside):
    return fnp.where(cond, value, outside)


# -- norm -----------------------------------------------------------------------------------


def _norm_logpdf(x: Any, loc: Any = 0, scale: Any = 1) -> Any:
    """Log density of the normal distribution N(loc, scale**2).

    >>> round(float(norm.logpdf(0.0)), 12)
    -0.918938533205
    """
    x, loc, scale = _args(x, loc, scale)
    z = (x - loc) / scale
    return -0.5 * z * z - _LOG_SQRT_2PI - fnp.log(scale)


def _norm_pdf(x: Any, loc: Any = 0, scale: Any = 1) -> Any:
    """Density of the normal distribution.

    >>> round(float(norm.pdf(0.0)), 12)
    0.398942280401
    """
    return fnp.exp(_norm_logpdf(x, loc, scale))


def _norm_cdf(x: Any, loc: Any = 0, scale: Any = 1) -> Any:
    """Cumulative distribution function of the normal distribution.

    >>> float(norm.cdf(0.0))
    0.5
    """
    x, loc, scale = _args(x, loc, scale)
    return sp.ndtr((x - loc) / scale)


def _norm_logcdf(x: Any, loc: Any = 0, scale: Any = 1) -> Any:
    """Log of the normal cdf, accurate far in the left tail.

    >>> round(float(norm.logcdf(-40.0)), 6)
    -804.608442
    """
    x, loc, scale = _args(x, loc, scale)
    return sp.log_ndtr((x - loc) / scale)


def _norm_sf(x: Any, loc: Any = 0, scale: Any = 1) -> Any:
    """Survival function 1 - cdf of the normal distribution.

    >>> float(norm.sf(0.0))
    0.5
    """
    x, loc, scale = _args(x, loc, scale)
    return sp.ndtr(-(x - loc) / scale)


def _norm_logsf(x: Any, loc: Any = 0, scale: Any = 1) -> Any:
    """Log of the normal survival function.

    >>> round(float(norm.logsf(40.0)), 6)
    -804.608442
    """
    x, loc, scale = _args(x, loc, scale)
    return sp.log_ndtr(-(x - loc) / scale)


def _norm_ppf(q: Any, loc: Any = 0, scale: Any = 1) -> Any:
    """Quantile function (inverse cdf) of the normal distribution.

    >>> round(float(norm.ppf(0.975)), 9)
    1.959963985
    """
    q, loc, scale = _args(q, loc, scale)
    return sp.ndtri(q) * scale + loc


def _norm_isf(q: Any, loc: Any = 0, scale: Any = 1) -> Any:
    """Inverse survival function of the normal distribution.

    >>> round(float(norm.isf(0.025)), 9)
    1.959963985
    """
    q, loc, scale = _args(q, loc, scale)
    return -sp.ndtri(q) * scale + loc


norm = SimpleNamespace(logpdf=_norm_logpdf, pdf=_norm_pdf, cdf=_norm_cdf,
                       logcdf=_norm_logcdf, sf=_norm_sf, logsf=_norm_logsf, ppf=_norm_ppf,
                       isf=_norm_isf)

# -- t ----------------------------------------------------------------------------------------


def _t_logpdf(x: Any, df: Any, loc: Any = 0, scale: Any = 1) -> Any:
    """Log density of Student's t distribution with df degrees of freedom.

    >>> round(float(t.logpdf(0.0, 1.0)), 12)
    -1.144729885849
    """
    x, df, loc, scale = _args(x, df, loc, scale)
    z = (x - loc) / scale
    half = 0.5 * (df + 1.0)
    norm_const = (sp.gammaln(half) - sp.gammaln(0.5 * df) - 0.5 * fnp.log(df * math.pi)
                  - fnp.log(scale))
    return norm_const - half * fnp.log1p(z * z / df)


def _t_pdf(x: Any, df: Any, loc: Any = 0, scale: Any = 1) -> Any:
    """Density of Student's t distribution.

    >>> round(float(t.pdf(0.0, 1.0)), 12)
    0.318309886184
    """
    return fnp.exp(_t_logpdf(x, df, loc, scale))


t = SimpleNamespace(logpdf=_t_logpdf, pdf=_t_pdf)

# -- multivariate_normal --------------------------------------------------------------------


def _mvn_logpdf(x: Any, mean: Any, cov: Any, allow_singular: None = None) -> Any:
    """Log density of the multivariate normal N(mean, cov) at the rows of x.

    >>> round(float(multivariate_normal.logpdf(np.zeros(2), np.zeros(2), np.eye(2))), 12)
    -1.837877066409
    """
    if allow_singular is not None:
        raise NotImplementedError("multivariate_normal.logpdf: allow_singular is not "
                                  "supported (as in JAX)")
    x, mean, cov = promote_inexact(x, mean, cov)
    n = mean.shape[-1] if mean.ndim else 1
    if cov.ndim < 2:
        # a scalar variance or a vector of variances (SciPy's and JAX's convention)
        var = fnp.broadcast_to(cov, (n,)) if cov.ndim < 2 else cov
        z = (x - mean) / fnp.sqrt(var)
        return (-0.5 * fnp.sum(z * z, axis=-1) - n * _LOG_SQRT_2PI
                - 0.5 * fnp.sum(fnp.log(var), axis=-1))
    L = fnp.linalg.cholesky(cov)
    diff = x - mean
    shape = np.broadcast_shapes(diff.shape, L.shape[:-1])
    diff = fnp.broadcast_to(diff, shape)
    Lb = fnp.broadcast_to(L, shape[:-1] + L.shape[-2:])
    from funcad.scipy.linalg import solve_triangular
    y = solve_triangular(Lb, diff[..., None], lower=True)[..., 0]
    logdet = fnp.sum(fnp.log(fnp.diagonal(L, axis1=-2, axis2=-1)), axis=-1)
    return -0.5 * fnp.sum(y * y, axis=-1) - n * _LOG_SQRT_2PI - logdet


def _mvn_pdf(x: Any, mean: Any, cov: Any) -> Any:
    """Density of the multivariate normal distribution.

    >>> round(float(multivariate_normal.pdf(np.zeros(2), np.zeros(2), np.eye(2))), 12)
    0.159154943092
    """
    return fnp.exp(_mvn_logpdf(x, mean, cov))


multivariate_normal = SimpleNamespace(logpdf=_mvn_logpdf, pdf=_mvn_pdf)

# -- bernoulli and poisson (discrete) -------------------------------------------------------


def _bernoulli_logpmf(k: Any, p: Any, loc: Any = 0) -> Any:
    """Log probability mass of the Bernoulli distribution at k (0 or 1).

    >>> round(float(bernoulli.logpmf(1, 0.3)), 12)
    -1.203972804326
    """
    k, p, loc = _args(k, p, loc)
    k = k - loc
    val = sp.xlogy(k, p) + sp.xlog1py(1.0 - k, -p)
    return _where_support((k == 0) | (k == 1), val, -np.inf)


def _bernoulli_pmf(k: Any, p: Any, loc: Any = 0) -> Any:
    """Probability mass of the Bernoulli distribution.

    >>> float(bernoulli.pmf(1, 0.25))
    0.25
    """
    return fnp.exp(_bernoulli_logpmf(k, p, loc))


def _bernoulli_cdf(k: Any, p: Any) -> Any:
    """Cumulative distribution function of the Bernoulli distribution.

    >>> float(bernoulli.cdf(0, 0.25))
    0.75
    """
    k, p = _args(k, p)
    return fnp.where(k < 0, 0.0, fnp.where(k < 1, 1.0 - p, 1.0))


def _bernoulli_ppf(q: Any, p: Any) -> Any:
    """Quantile function of the Bernoulli distribution.

    >>> float(bernoulli.ppf(0.9, 0.25))
    1.0
    """
    q, p = _args(q, p)
    return fnp.where((q < 0) | (q > 1), np.nan, fnp.where(q <= 1.0 - p, 0.0, 1.0))


bernoulli = SimpleNamespace(logpmf=_bernoulli_logpmf, pmf=_bernoulli_pmf, cdf=_bernoulli_cdf,
                            ppf=_bernoulli_ppf)


def _poisson_logpmf(k: Any, mu: Any, loc: Any = 0) -> Any:
    """Log probability mass of the Poisson distribution with mean mu.

    >>> round(float(poisson.logpmf(2, 3.0)), 12)
    -1.495922603224
    """
    k, mu, loc = _args(k, mu, loc)
    k = k - loc
    val = sp.xlogy(k, mu) - sp.gammaln(k + 1.0) - mu
    return _where_support((k >= 0) & (k == fnp.floor(k)), val, -np.inf)


def _poisson_pmf(k: Any, mu: Any, loc: Any = 0) -> Any:
    """Probability mass of the Poisson distribution.

    >>> round(float(poisson.pmf(0, 2.0)), 12)
    0.135335283237
    """
    return fnp.exp(_poisson_logpmf(k, mu, loc))


def _poisson_cdf(k: Any, mu: Any, loc: Any = 0) -> Any:
    """Cumulative distribution function of the Poisson distribution.

    >>> round(float(poisson.cdf(2, 3.0)), 12)
    0.423190081127
    """
    k, mu, loc = _args(k, mu, loc)
    k = fnp.floor(k - loc)
    return fnp.where(k < 0, 0.0, sp.gammaincc(fnp.maximum(k, 0.0) + 1.0, mu))


poisson = SimpleNamespace(logpmf=_poisson_logpmf, pmf=_poisson_pmf, cdf=_poisson_cdf)

# -- beta and gamma ---------------------------------------------------------------------------


def _beta_logpdf(x: Any, a: Any, b: Any, loc: Any = 0, scale: Any = 1) -> Any:
    """Log density of the beta distribution on [loc, loc + scale].

    >>> round(float(beta.logpdf(0.5, 2.0, 3.0)), 12)
    0.405465108108
    """
    x, a, b, loc, scale = _args(x, a, b, loc, scale)
    y = (x - loc) / scale
    inside = (y >= 0) & (y <= 1)
    ys = fnp.where(inside, y, 0.5)
    val = sp.xlogy(a - 1.0, ys) + sp.xlog1py(b - 1.0, -ys) - sp.betaln(a, b) - fnp.log(scale)
    return _where_support(inside, val, -np.inf)


def _beta_pdf(x: Any, a: Any, b: Any, loc: Any = 0, scale: Any = 1) -> Any:
    """Density of the beta distribution.

    >>> round(float(beta.pdf(0.5, 2.0, 3.0)), 12)
    1.5
    """
    return fnp.exp(_beta_logpdf(x, a, b, loc, scale))


def _beta_cdf(x: Any, a: Any, b: Any, loc: Any = 0, scale: Any = 1) -> Any:
    """Cumulative distribution function of the beta distribution.

    >>> round(float(beta.cdf(0.5, 2.0, 3.0)), 12)
    0.6875
    """
    x, a, b, loc, scale = _args(x, a, b, loc, scale)
    return sp.betainc(a, b, fnp.clip((x - loc) / scale, 0.0, 1.0))


def _beta_sf(x: Any, a: Any, b: Any, loc: Any = 0, scale: Any = 1) -> Any:
    """Survival function of the beta distribution.

    >>> round(float(beta.sf(0.5, 2.0, 3.0)), 12)
    0.3125
    """
    x, a, b, loc, scale = _args(x, a, b, loc, scale)
    return sp.betainc(b, a, fnp.clip(1.0 - (x - loc) / scale, 0.0, 1.0))


def _beta_logcdf(x: Any, a: Any, b: Any, loc: Any = 0, scale: Any = 1) -> Any:
    """Log cdf of the beta distribution.

    >>> round(float(beta.logcdf(0.5, 2.0, 3.0)), 12)
    -0.374693449441
    """
    return fnp.log(_beta_cdf(x, a, b, loc, scale))


def _beta_logsf(x: Any, a: Any, b: Any, loc: Any = 0, scale: Any = 1) -> Any:
    """Log survival function of the beta distribution.

    >>> round(float(beta.logsf(0.5, 2.0, 3.0)), 12)
    -1.163150809806
    """
    return fnp.log(_beta_sf(x, a, b, loc, scale))


beta = SimpleNamespace(logpdf=_beta_logpdf, pdf=_beta_pdf, cdf=_beta_cdf, sf=_beta_sf,
                       logcdf=_beta_logcdf, logsf=_beta_logsf)


def _gamma_logpdf(x: Any, a: Any, loc: Any = 0, scale: Any = 1) -> Any:
    """Log density of the gamma distribution with shape a.

    >>> round(float(gamma.logpdf(1.0, 2.0)), 12)
    -1.0
    """
    x, a, loc, scale = _args(x, a, loc, scale)
    y = (x - loc) / scale
    inside = y >= 0
    ys = fnp.where(inside, y, 1.0)
    val = sp.xlogy(a - 1.0, ys) - ys - sp.gammaln(a) - fnp.log(scale)
    return _where_support(inside, val, -np.inf)


def _gamma_pdf(x: Any, a: Any, loc: Any = 0, scale: Any = 1) -> Any:
    """Density of the gamma distribution.

    >>> round(float(gamma.pdf(1.0, 2.0)), 12)
    0.367879441171
    """
    return fnp.exp(_gamma_logpdf(x, a, loc, scale))


def _gamma_cdf(x: Any, a: Any, loc: Any = 0, scale: Any = 1) -> Any:
    """Cumulative distribution function of the gamma distribution.

    >>> round(float(gamma.cdf(1.0, 2.0)), 12)
    0.264241117657
    """
    x, a, loc, scale = _args(x, a, loc, scale)
    return sp.gammainc(a, fnp.maximum((x - loc) / scale, 0.0))


def _gamma_sf(x: Any, a: Any, loc: Any = 0, scale: Any = 1) -> Any:
    """Survival function of the gamma distribution.

    >>> round(float(gamma.sf(1.0, 2.0)), 12)
    0.735758882343
    """
    x, a, loc, scale = _args(x, a, loc, scale)
    return sp.gammaincc(a, fnp.maximum((x - loc) / scale, 0.0))


def _gamma_logcdf(x: Any, a: Any, loc: Any = 0, scale: Any = 1) -> Any:
    """Log cdf of the gamma distribution.

    >>> round(float(gamma.logcdf(1.0, 2.0)), 12)
    -1.330893268204
    """
    return fnp.log(_gamma_cdf(x, a, loc, scale))


def _gamma_logsf(x: Any, a: Any, loc: Any = 0, scale: Any = 1) -> Any:
    """Log survival function of the gamma distribution.

    >>> round(float(gamma.logsf(1.0, 2.0)), 12)
    -0.30685281944
    """
    return fnp.log(_gamma_sf(x, a, loc, scale))


gamma = SimpleNamespace(logpdf=_gamma_logpdf, pdf=_gamma_pdf, cdf=_gamma_cdf, sf=_gamma_sf,
                        logcdf=_gamma_logcdf, logsf=_gamma_logsf)

# -- expon, laplace, uniform, cauchy ---------------------------------------------------------


def _expon_logpdf(x: Any, loc: Any = 0, scale: Any = 1) -> Any:
    """Log density of the exponential distribution.

    >>> float(expon.logpdf(1.0))
    -1.0
    """
    x, loc, scale = _args(x, loc, scale)
    y = (x - loc) / scale
    return _where_support(y >= 0, -y - fnp.log(scale), -np.inf)


def _expon_pdf(x: Any, loc: Any = 0, scale: Any = 1) -> Any:
    """Density of the exponential distribution.

    >>> round(float(expon.pdf(1.0)), 12)
    0.367879441171
    """
    return fnp.exp(_expon_logpdf(x, loc, scale))


def _expon_cdf(x: Any, loc: Any = 0, scale: Any = 1) -> Any:
    """Cumulative distribution function of the exponential distribution.

    >>> round(float(expon.cdf(1.0)), 12)
    0.632120558829
    """
    x, loc, scale = _args(x, loc, scale)
    y = fnp.maximum((x - loc) / scale, 0.0)
    return -fnp.expm1(-y)


def _expon_sf(x: Any, loc: Any = 0, scale: Any = 1) -> Any:
    """Survival function of the exponential distribution.

    >>> round(float(expon.sf(1.0)), 12)
    0.367879441171
    """
    x, loc, scale = _args(x, loc, scale)
    return fnp.exp(-fnp.maximum((x - loc) / scale, 0.0))


def _expon_logsf(x: Any, loc: Any = 0, scale: Any = 1) -> Any:
    """Log survival function of the exponential distribution.

    >>> float(expon.logsf(2.0))
    -2.0
    """
    x, loc, scale = _args(x, loc, scale)
    return -fnp.maximum((x - loc) / scale, 0.0)


def _expon_logcdf(x: Any, loc: Any = 0, scale: Any = 1) -> Any:
    """Log cdf of the exponential distribution.

    >>> round(float(expon.logcdf(1.0)), 12)
    -0.458675145387
    """
    return fnp.log(_expon_cdf(x, loc, scale))


def _expon_ppf(q: Any, loc: Any = 0, scale: Any = 1) -> Any:
    """Quantile function of the exponential distribution.

    >>> round(float(expon.ppf(0.5)), 12)
    0.69314718056
    """
    q, loc, scale = _args(q, loc, scale)
    return -fnp.log1p(-q) * scale + loc


expon = SimpleNamespace(logpdf=_expon_logpdf, pdf=_expon_pdf, cdf=_expon_cdf, sf=_expon_sf,
                        logsf=_expon_logsf, logcdf=_expon_logcdf, ppf=_expon_ppf)


def _laplace_logpdf(x: Any, loc: Any = 0, scale: Any = 1) -> Any:
    """Log density of the Laplace distribution.

    >>> round(float(laplace.logpdf(0.0)), 12)
    -0.69314718056
    """
    x, loc, scale = _args(x, loc, scale)
    return -fnp.abs(x - loc) / scale - math.log(2.0) - fnp.log(scale)


def _laplace_pdf(x: Any, loc: Any = 0, scale: Any = 1) -> Any:
    """Density of the Laplace distribution.

    >>> float(laplace.pdf(0.0))
    0.5
    """
    return fnp.exp(_laplace_logpdf(x, loc, scale))


def _laplace_cdf(x: Any, loc: Any = 0, scale: Any = 1) -> Any:
    """Cumulative distribution function of the Laplace distribution.

    >>> float(laplace.cdf(0.0))
    0.5
    """
    x, loc, scale = _args(x, loc, scale)
    z = (x - loc) / scale
    return fnp.where(z < 0, 0.5 * fnp.exp(fnp.minimum(z, 0.0)),
                     1.0 - 0.5 * fnp.exp(-fnp.maximum(z, 0.0)))


laplace = SimpleNamespace(logpdf=_laplace_logpdf, pdf=_laplace_pdf, cdf=_laplace_cdf)


def _uniform_logpdf(x: Any, loc: Any = 0, scale: Any = 1) -> Any:
    """Log density of the uniform distribution on [loc, loc + scale].

    >>> round(float(uniform.logpdf(0.5, 0.0, 2.0)), 12)
    -0.69314718056
    """
    x, loc, scale = _args(x, loc, scale)
    return _where_support((x >= loc) & (x <= loc + scale), -fnp.log(scale), -np.inf)


def _uniform_pdf(x: Any, loc: Any = 0, scale: Any = 1) -> Any:
    """Density of the uniform distribution.

    >>> float(uniform.pdf(0.5, 0.0, 2.0))
    0.5
    """
    return fnp.exp(_uniform_logpdf(x, loc, scale))


def _uniform_cdf(x: Any, loc: Any = 0, scale: Any = 1) -> Any:
    """Cumulative distribution function of the uniform distribution.

    >>> float(uniform.cdf(0.25))
    0.25
    """
    x, loc, scale = _args(x, loc, scale)
    return fnp.clip((x - loc) / scale, 0.0, 1.0)


def _uniform_ppf(q: Any, loc: Any = 0, scale: Any = 1) -> Any:
    """Quantile function of the uniform distribution (NaN outside [0, 1]).

    >>> float(uniform.ppf(0.25, 1.0, 2.0))
    1.5
    """
    q, loc, scale = _args(q, loc, scale)
    return fnp.where((q < 0) | (q > 1), np.nan, loc + q * scale)


uniform = SimpleNamespace(logpdf=_uniform_logpdf, pdf=_uniform_pdf, cdf=_uniform_cdf,
                          ppf=_uniform_ppf)


def _cauchy_logpdf(x: Any, loc: Any = 0, scale: Any = 1) -> Any:
    """Log density of the Cauchy distribution.

    >>> round(float(cauchy.logpdf(0.0)), 12)
    -1.144729885849
    """
    x, loc, scale = _args(x, loc, scale)
    z = (x - loc) / scale
    return -math.log(math.pi) - fnp.log(scale) - fnp.log1p(z * z)


def _cauchy_pdf(x: Any, loc: Any = 0, scale: Any = 1) -> Any:
    """Density of the Cauchy distribution.

    >>> round(float(cauchy.pdf(0.0)), 12)
    0.318309886184
    """
    return fnp.exp(_cauchy_logpdf(x, loc, scale))


def _cauchy_cdf(x: Any, loc: Any = 0, scale: Any = 1) -> Any:
    """Cumulative distribution function of the Cauchy distribution.

    >>> float(cauchy.cdf(0.0))
    0.5
    """
    x, loc, scale = _args(x, loc, scale)
    return 0.5 + fnp.arctan((x - loc) / scale) / math.pi


def _cauchy_logcdf(x: Any, loc: Any = 0, scale: Any = 1) -> Any:
    """Log cdf of the Cauchy distribution.

    >>> round(float(cauchy.logcdf(0.0)), 12)
    -0.69314718056
    """
    return fnp.log(_cauchy_cdf(x, loc, scale))


def _cauchy_sf(x: Any, loc: Any = 0, scale: Any = 1) -> Any:
    """Survival function of the Cauchy distribution.

    >>> float(cauchy.sf(0.0))
    0.5
    """
    x, loc, scale = _args(x, loc, scale)
    return _cauchy_cdf(-x, -loc, scale)


def _cauchy_logsf(x: Any, loc: Any = 0, scale: Any = 1) -> Any:
    """Log survival function of the Cauchy distribution.

    >>> round(float(cauchy.logsf(0.0)), 12)
    -0.69314718056
    """
    return fnp.log(_cauchy_sf(x, loc, scale))


def _cauchy_ppf(q: Any, loc: Any = 0, scale: Any = 1) -> Any:
    """Quantile function of the Cauchy distribution.

    >>> round(float(cauchy.ppf(0.75)), 12)
    1.0
    """
    q, loc, scale = _args(q, loc, scale)
    return loc + scale * fnp.tan(math.pi * (q - 0.5))


def _cauchy_isf(q: Any, loc: Any = 0, scale: Any = 1) -> Any:
    """Inverse survival function of the Cauchy distribution.

    >>> round(float(cauchy.isf(0.25)), 12)
    1.0
    """
    q, loc, scale = _args(q, loc, scale)
    return loc + scale * fnp.tan(math.pi * (0.5 - q))


cauchy = SimpleNamespace(logpdf=_cauchy_logpdf, pdf=_cauchy_pdf, cdf=_cauchy_cdf,
                         logcdf=_cauchy_logcdf, sf=_cauchy_sf, logsf=_cauchy_logsf,
                         ppf=_cauchy_ppf, isf=_cauchy_isf)


# Called outside transforms, the distributions' functions return funcad.Arrays.
from funcad._array import returns_arrays as _returns_arrays  # noqa: E402

for _dist in __all__:
    _ns = globals()[_dist]
    for _k, _f in vars(_ns).items():
        setattr(_ns, _k, _returns_arrays(_f, __name__))
    # each distribution is a submodule, as in JAX: `import funcad.scipy.stats.norm as norm`
    _mod = ModuleType(f"{__name__}.{_dist}", f"The {_dist} distribution's functions.")
    _mod.__dict__.update(vars(_ns))
    sys.modules[_mod.__name__] = globals()[_dist] = _mod
del _dist, _ns, _k, _f, _mod
