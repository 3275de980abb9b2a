"""Neural-network functions (as in `jax.nn`): activations, softmax, logsumexp, one_hot.

All are composites over `funcad.numpy`, so every transform covers them. Where the chain
rule of the naive formula overflows, loses precision or gives NaN, a `custom_jvp` rule
states the derivative in a stable form (which is itself differentiable, to any order).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import funcad.numpy as fnp
from funcad._custom_derivatives import custom_jvp
from funcad.api import stop_gradient

__all__ = [
    "celu",
    "elu",
    "gelu",
    "glu",
    "hard_sigmoid",
    "hard_silu",
    "hard_swish",
    "hard_tanh",
    "initializers",
    "leaky_relu",
    "log_sigmoid",
    "log_softmax",
    "logsumexp",
    "one_hot",
    "relu",
    "relu6",
    "selu",
    "sigmoid",
    "silu",
    "soft_sign",
    "softmax",
    "softplus",
    "standardize",
    "swish",
]


def _zero_like(x):
    return fnp.zeros_like(x)


@custom_jvp
def relu(x: Any) -> Any:
    """Rectified linear unit, max(x, 0); its derivative at 0 is 0, as in JAX.

    Args: x: an array. Returns: an array of x's shape and dtype.

    >>> relu(np.array([-1.0, 0.0, 2.0]))
    Array([0., 0., 2.], dtype=float64)
    """
    return fnp.maximum(x, 0)


@relu.defjvp
def _relu_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    # The rule may not call relu itself: custom_jvp traces the rule when it is called.
    return fnp.maximum(x, 0), fnp.where(x > 0, t, _zero_like(t))


def _sigmoid(x):
    x = fnp.asarray(x)
    pos = x >= 0
    # Each branch only sees arguments where it cannot overflow, so neither the values nor
    # the derivatives (of any order) of the branch that is not selected are inf or NaN.
    xp = fnp.where(pos, x, fnp.zeros_like(x))
    xn = fnp.where(pos, fnp.zeros_like(x), x)
    en = fnp.exp(xn)
    return fnp.where(pos, 1 / (1 + fnp.exp(-xp)), en / (1 + en))


@custom_jvp
def sigmoid(x: Any) -> Any:
    """Logistic sigmoid 1 / (1 + exp(-x)), without overflow for any x.

    Args: x: an array. Returns: an array of x's shape and dtype, values in [0, 1].

    >>> sigmoid(np.array([0.0, 1000.0, -1000.0]))
    Array([0.5, 1. , 0. ], dtype=float64)
    """
    return _sigmoid(x)


@sigmoid.defjvp
def _sigmoid_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    s = _sigmoid(x)
    # s * (1 - s) written with sigmoid(-x): 1 - s loses all precision when s ~ 1.
    return s, t * (s * _sigmoid(-x))


@custom_jvp
def softplus(x: Any) -> Any:
    """log(1 + exp(x)), computed without overflow; its derivative is sigmoid(x).

    Args: x: an array. Returns: an array of x's shape and dtype.

    >>> softplus(np.array([-1000.0, 1000.0]))
    Array([   0., 1000.], dtype=float64)
    """
    x = fnp.asarray(x)
    return fnp.maximum(x, 0) + fnp.log1p(fnp.exp(-fnp.abs(x)))


@softplus.defjvp
def _softplus_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return softplus.fun(x), t * sigmoid(x)


def log_sigmoid(x: Any) -> Any:
    """log(sigmoid(x)) = -softplus(-x), without overflow or log(0).

    Args: x: an array. Returns: an array of x's shape and dtype.

    >>> float(log_sigmoid(-1000.0))
    -1000.0
    """
    return -softplus(-fnp.asarray(x))


def silu(x: Any) -> Any:
    """Sigmoid linear unit (swish), x * sigmoid(x).

    Args: x: an array. Returns: an array of x's shape and dtype.

    >>> silu(np.array([0.0, 1.0])).round(8).tolist()
    [0.0, 0.73105858]
    """
    return x * sigmoid(x)


swish = silu

# erfcx(z) = exp(z^2) erfc(z) on z in [0, 30] as a Chebyshev series in s, an affine map of
# t = (z - 4) / (z + 4) onto [-1, 1]. Coefficients from Chebyshev interpolation (degree 24,
# truncated where they reach rounding noise) of scipy.special.erfcx; relative error < 4e-14.
_ERFCX_K = 4.0
_ERFCX_ZMAX = 30.0
_ERFCX_TMAX = (_ERFCX_ZMAX - _ERFCX_K) / (_ERFCX_ZMAX + _ERFCX_K)
_ERFCX_CHEB = (
    0.3242278409981754, -0.4306611881765289, 0.16855124066182423, -0.05603210440739386,
    0.015855627980143533, -0.003790516253467762, 0.0007502451536297368,
    -0.0001176397473044934, 1.3085885998809859e-05, -6.289193110002427e-07,
    -9.533044211671946e-08, 2.223167317970394e-08, -9.619488783448076e-10,
    -2.995795720875326e-10, 4.439632089704542e-11, 2.620389208806149e-12,
    -1.0918107870406167e-12, 1.277859342617974e-16, 2.492336558216311e-14,
)


@custom_jvp
def _erfc(x):
    x = fnp.asarray(x)
    z = fnp.minimum(fnp.abs(x), _ERFCX_ZMAX)  # erfc(30) underflows to 0 in float64
    t = (z - _ERFCX_K) / (z + _ERFCX_K)
    s = (2 * t - (_ERFCX_TMAX - 1)) / (_ERFCX_TMAX + 1)
    b1, b2 = fnp.zeros_like(s), fnp.zeros_like(s)
    for c in _ERFCX_CHEB[:0:-1]:  # Clenshaw's recurrence
        b1, b2 = 2 * s * b1 - b2 + c, b1
    e = fnp.exp(-z * z) * (s * b1 - b2 + _ERFCX_CHEB[0])
    return fnp.where(x >= 0, e, 2 - e)


@_erfc.defjvp
def _erfc_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    xc = fnp.clip(x, -_ERFCX_ZMAX, _ERFCX_ZMAX)  # exp(-x^2) is 0 beyond; x^2 may overflow
    return _erfc.fun(x), t * (-2 / math.sqrt(math.pi) * fnp.exp(-xc * xc))


def gelu(x: Any, approximate: bool = True) -> Any:
    """Gaussian error linear unit x * Phi(x), as in `jax.nn.gelu` (tanh form by default).

    Args:
      x: an array.
      approximate: True for 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), False for the
        exact x * Phi(x) with Phi the standard normal CDF.
    Returns: an array of x's shape and dtype.

    >>> round(float(gelu(1.0, approximate=False)), 8)
    0.84134475
    """
    x = fnp.asarray(x)
    if approximate:
        # 0.5 (1 + tanh(u)) == sigmoid(2u). Beyond |x| = 30 the sigmoid is exactly 0 or 1,
        # and clipping keeps x^3 (and its derivative) from overflowing into inf * 0.
        xc = fnp.clip(x, -30.0, 30.0)
        u = math.sqrt(2 / math.pi) * (xc + 0.044715 * xc * xc * xc)
        return x * sigmoid(2 * u)
    return 0.5 * x * _erfc(x * (-1 / math.sqrt(2)))


def _axis_tuple(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    return tuple(int(a) % ndim if ndim else int(a) for a in axes)


def logsumexp(a: Any, axis: Any = None, b: Any = None, keepdims: bool = False) -> Any:
    """log(sum(b * exp(a), axis)) without overflow; -inf entries contribute 0.

    Args:
      a: an array.
      axis: an int, a tuple of ints or None (all axes).
      b: optional nonnegative weights, broadcastable against `a`.
      keepdims: keep the reduced axes with size 1.
    Returns: the reduced array. Its gradient is softmax(a) (weighted by b).

    >>> float(logsumexp(np.array([1000.0, 1000.0])))
    1000.6931471805599
    """
    a = fnp.asarray(a)
    m = fnp.max(a, axis=axis, keepdims=True)
    # The result does not depend on the shift, so it carries no derivative; a non-finite
    # max (all -inf, or an inf) is replaced by 0 so that a - m stays meaningful.
    m = stop_gradient(fnp.where(fnp.isfinite(m), m, fnp.zeros_like(m)))
    e = fnp.exp(a - m)
    if b is not None:
        e = e * b
    out = fnp.log(fnp.sum(e, axis=axis, keepdims=True)) + m
    if not keepdims:
        out = fnp.squeeze(out, axis=_axis_tuple(axis, fnp.ndim(a)))
    return out


def _softmax_impl(x, axis):
    x = fnp.asarray(x)
    m = fnp.max(x, axis=axis, keepdims=True)
    m = stop_gradient(fnp.where(fnp.isfinite(m), m, fnp.zeros_like(m)))
    e = fnp.exp(x - m)
    return e / fnp.sum(e, axis=axis, keepdims=True)


_softmax = custom_jvp(_softmax_impl, nondiff_argnums=(1,))


@_softmax.defjvp
def _softmax_jvp(axis, primals, tangents):
    (x,), (t,) = primals, tangents
    y = _softmax_impl(x, axis)
    # d softmax = y * (t - <y, t>): no division by the sum, exact zeros where y == 0.
    return y, y * (t - fnp.sum(y * t, axis=axis, keepdims=True))


def softmax(x: Any, axis: Any = -1) -> Any:
    """exp(x) / sum(exp(x), axis), shifted by the max so that it never overflows.

    Args: x: an array; axis: an int, a tuple of ints or None. Returns: an array of x's shape.

    >>> softmax(np.array([1000.0, 1000.0, -np.inf]))
    Array([0.5, 0.5, 0. ], dtype=float64)
    """
    if isinstance(axis, list):
        axis = tuple(axis)
    return _softmax(x, axis)


def log_softmax(x: Any, axis: Any = -1) -> Any:
    """x - logsumexp(x, axis), computed without overflow.

    Args: x: an array; axis: an int, a tuple of ints or None. Returns: an array of x's shape.

    >>> log_softmax(np.array([0.0, 0.0])).round(8).tolist()
    [-0.69314718, -0.69314718]
    """
    x = fnp.asarray(x)
    m = fnp.max(x, axis=axis, keepdims=True)
    shifted = x - stop_gradient(fnp.where(fnp.isfinite(m), m, fnp.zeros_like(m)))
    return shifted - fnp.log(fnp.sum(fnp.exp(shifted), axis=axis, keepdims=True))


def one_hot(x: Any, num_classes: int, *, dtype: Any = np.float64, axis: int = -1) -> Any:
    """One-hot encoding of integer labels; out-of-range labels give an all-zero row.

    Args:
      x: an integer array of labels.
      num_classes: the length of the new axis.
      dtype: the result's dtype (float64 by default, funcad's default float).
      axis: where the new axis goes.
    Returns: an array of shape x.shape with num_classes inserted at `axis`.

    >>> one_hot(np.array([0, 2]), 3)
    Array([[1., 0., 0.],
           [0., 0., 1.]], dtype=float64)
    """
    x = fnp.asarray(x)
    out = fnp.expand_dims(x, -1) == fnp.arange(num_classes)
    out = out.astype(dtype)
    if axis != -1 and axis != fnp.ndim(x):
        out = fnp.moveaxis(out, -1, axis)
    return out


# -- the rest of jax.nn's activations: composites, so their derivatives follow ------------


def elu(x: Any, alpha: Any = 1.0) -> Any:
    """Exponential linear unit: x for x > 0, alpha * (exp(x) - 1) otherwise.

    >>> elu(np.array([-1.0, 2.0])).round(6).tolist()
    [-0.632121, 2.0]
    """
    x = fnp.asarray(x)
    # expm1 of the clamped input so that large positive x neither overflows nor gives a NaN
    # derivative through the branch that is not taken
    return fnp.where(x > 0, x, alpha * fnp.expm1(fnp.where(x > 0, 0.0, x)))


def celu(x: Any, alpha: Any = 1.0) -> Any:
    """Continuously differentiable ELU: max(x, 0) + alpha * expm1(min(x, 0) / alpha).

    >>> celu(np.array([-1.0, 2.0])).round(6).tolist()
    [-0.632121, 2.0]
    """
    x = fnp.asarray(x)
    return fnp.maximum(x, 0.0) + alpha * fnp.expm1(fnp.minimum(x, 0.0) / alpha)


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(x: Any) -> Any:
    """Scaled ELU (self-normalising networks): scale * elu(x, alpha) with JAX's constants.

    >>> selu(np.array([0.0, 1.0])).round(6).tolist()
    [0.0, 1.050701]
    """
    return _SELU_SCALE * elu(x, _SELU_ALPHA)


def leaky_relu(x: Any, negative_slope: Any = 1e-2) -> Any:
    """x for x >= 0, negative_slope * x otherwise.

    >>> leaky_relu(np.array([-2.0, 3.0])).tolist()
    [-0.02, 3.0]
    """
    x = fnp.asarray(x)
    return fnp.where(x >= 0, x, negative_slope * x)


def relu6(x: Any) -> Any:
    """min(max(x, 0), 6).

    >>> relu6(np.array([-1.0, 3.0, 7.0])).tolist()
    [0.0, 3.0, 6.0]
    """
    return fnp.minimum(fnp.maximum(x, 0), 6.0)


def hard_tanh(x: Any) -> Any:
    """x clipped to [-1, 1].

    >>> hard_tanh(np.array([-2.0, 0.5, 2.0])).tolist()
    [-1.0, 0.5, 1.0]
    """
    x = fnp.asarray(x)
    return fnp.where(x > 1, 1.0, fnp.where(x < -1, -1.0, x)).astype(x.dtype)


def hard_sigmoid(x: Any) -> Any:
    """relu6(x + 3) / 6.

    >>> hard_sigmoid(np.array([-4.0, 0.0, 4.0])).tolist()
    [0.0, 0.5, 1.0]
    """
    return relu6(fnp.asarray(x) + 3.0) / 6.0


def hard_silu(x: Any) -> Any:
    """x * hard_sigmoid(x) (also `hard_swish`).

    >>> hard_silu(np.array([-4.0, 1.0])).tolist()
    [-0.0, 0.6666666666666666]
    """
    x = fnp.asarray(x)
    return x * hard_sigmoid(x)


hard_swish = hard_silu


def soft_sign(x: Any) -> Any:
    """x / (|x| + 1).

    >>> soft_sign(np.array([-1.0, 3.0])).tolist()
    [-0.5, 0.75]
    """
    x = fnp.asarray(x)
    return x / (fnp.abs(x) + 1)


def glu(x: Any, axis: int = -1) -> Any:
    """Gated linear unit: the first half of `axis` times the sigmoid of the second half.

    >>> glu(np.array([2.0, 0.0])).tolist()
    [1.0]
    """
    x = fnp.asarray(x)
    size = x.shape[axis]
    if size % 2:
        raise ValueError(f"glu: axis {axis} must have an even size, got {size}")
    x1, x2 = fnp.split(x, 2, axis)
    return x1 * sigmoid(x2)


def standardize(x: Any, axis: Any = -1, mean: Any = None, variance: Any = None,
                epsilon: Any = 1e-5, where: Any = None, *, algorithm: str = "fast") -> Any:
    """(x - mean) / sqrt(variance + epsilon) along `axis`, as jax.nn.standardize.

    Args:
      x: the input.
      axis: an int, a tuple of ints or None (all axes).
      mean, variance: given statistics (else x's, over `axis`, keeping dims).
      epsilon: added to the variance.
      where: a boolean mask of the entries that enter the statistics.
      algorithm: "fast" (JAX's default: mean(x^2) - mean^2, clipped at 0) or "stable"
        (mean((x - mean)^2)).
    Returns: an array of x's shape.

    >>> standardize(np.array([1.0, 3.0]), epsilon=0.0).tolist()
    [-1.0, 1.0]
    """
    x = fnp.asarray(x)
    if mean is None:
        mean = fnp.mean(x, axis, keepdims=True, where=where)
    if variance is None:
        if algorithm == "stable":
            variance = fnp.mean(fnp.square(x - mean), axis, keepdims=True, where=where)
        elif algorithm == "fast":
            variance = fnp.mean(fnp.square(x), axis, keepdims=True, where=where) \
                - fnp.square(mean)
            variance = fnp.clip(variance, 0)
        else:
            raise ValueError(f"standardize: unknown algorithm {algorithm!r}; expected "
                             "'fast' or 'stable'")
    return (x - mean) / fnp.sqrt(variance + epsilon)


from funcad.nn import initializers  # funcad.nn.initializers, as jax.nn.initializers

from funcad.nn._extra import (  # noqa: E402
    dot_product_attention, identity, log1mexp, logmeanexp, mish, sparse_plus, sparse_sigmoid,
    squareplus, tanh,
)
from funcad.nn._extra import __all__ as _extra_all  # noqa: E402

__all__ = sorted(__all__ + _extra_all)

# Called outside transforms, the public functions return funcad.Arrays.
from funcad._array import export_arrays as _export_arrays  # noqa: E402

_export_arrays(globals())
