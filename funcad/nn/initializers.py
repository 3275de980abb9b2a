"""funcad.nn.initializers: JAX's parameter initializers (jax.nn.initializers).

Each builder returns `init(key, shape, dtype=None) -> array`; the draws are funcad.random's,
which are JAX's bit for bit, and the scalings are computed in the same order and dtype as
JAX's, so the same key gives JAX's parameters (with x64 enabled: the default dtype is
float64, funcad's default float, as JAX's `default_float_dtype()` is under x64).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import funcad.numpy as fnp
from funcad import random

__all__ = [
    "Initializer", "constant", "delta_orthogonal", "glorot_normal", "glorot_uniform",
    "he_normal", "he_uniform", "kaiming_normal", "kaiming_uniform", "lecun_normal",
    "lecun_uniform", "normal", "ones", "orthogonal", "truncated_normal", "uniform",
    "variance_scaling", "xavier_normal", "xavier_uniform", "zeros",
]

Initializer = Callable[..., Any]


def _dtype(dtype: Any) -> np.dtype:
    return np.dtype(np.float64 if dtype is None else dtype)


def _const(value: Any, dtype: np.dtype) -> np.ndarray:
    # JAX's jnp.array(value, dtype): the scale rounded to the draw's dtype first
    return np.asarray(value, dtype=dtype)


def zeros(key: Any, shape: Sequence[int], dtype: Any = None) -> Any:
    """An array of zeros (the key is ignored).

    >>> zeros(None, (2,)).tolist()
    [0.0, 0.0]
    """
    return fnp.zeros(shape, _dtype(dtype))


def ones(key: Any, shape: Sequence[int], dtype: Any = None) -> Any:
    """An array of ones (the key is ignored).

    >>> ones(None, (2,)).tolist()
    [1.0, 1.0]
    """
    return fnp.ones(shape, _dtype(dtype))


def constant(value: Any, dtype: Any = None) -> Initializer:
    """An initializer filling arrays with `value`.

    >>> constant(-7.0)(None, (2,)).tolist()
    [-7.0, -7.0]
    """
    def init(key: Any, shape: Sequence[int], dtype: Any = dtype) -> Any:
        return fnp.full(shape, value, dtype=_dtype(dtype))
    return init


def uniform(scale: Any = 1e-2, dtype: Any = None) -> Initializer:
    """An initializer drawing uniformly from [0, scale).

    >>> uniform(10.0)(random.PRNGKey(0), (3,)).shape
    (3,)
    """
    def init(key: Any, shape: Sequence[int], dtype: Any = dtype) -> Any:
        dt = _dtype(dtype)
        return random.uniform(key, shape, dt) * _const(scale, dt)
    return init


def normal(stddev: Any = 1e-2, dtype: Any = None) -> Initializer:
    """An initializer drawing from a normal with mean 0 and standard deviation `stddev`.

    >>> normal()(random.PRNGKey(0), (2, 3)).shape
    (2, 3)
    """
    def init(key: Any, shape: Sequence[int], dtype: Any = dtype) -> Any:
        dt = _dtype(dtype)
        return random.normal(key, shape, dt) * _const(stddev, dt)
    return init


def truncated_normal(stddev: Any = 1e-2, dtype: Any = None, lower: Any = -2.0,
                     upper: Any = 2.0) -> Initializer:
    """An initializer drawing a standard normal truncated to (lower, upper), times `stddev`
    (no correction of the truncated distribution's smaller spread, as in JAX).

    >>> bool(abs(truncated_normal(1.0)(random.PRNGKey(0), (100,))).max() < 2.0)
    True
    """
    def init(key: Any, shape: Sequence[int], dtype: Any = dtype) -> Any:
        dt = _dtype(dtype)
        return random.truncated_normal(key, lower, upper, shape, dt) * _const(stddev, dt)
    return init


def _compute_fans(shape: Sequence[int], in_axis: Any = -2, out_axis: Any = -1,
                  batch_axis: Any = ()) -> tuple[float, float]:
    """(fan_in, fan_out) of a dense or convolution kernel; axes that are not in, out or
    batch axes form the receptive field."""
    if isinstance(in_axis, int) and in_axis == -2 and len(shape) <= 1:
        raise ValueError(f"Can't compute input and output sizes of a {len(shape)}-dimensional "
                         "weights tensor with default in_axis. Must be at least 2D or specify "
                         "in_axis explicitly.")

    def size(axes):
        return shape[axes] if isinstance(axes, int) else math.prod(shape[i] for i in axes)
    in_size, out_size, batch_size = size(in_axis), size(out_axis), size(batch_axis)
    receptive_field_size = math.prod(shape) / in_size / out_size / batch_size
    return in_size * receptive_field_size, out_size * receptive_field_size


# the standard deviation of a standard normal truncated to (-2, 2)
_TRUNC_STD = .87962566103423978


def variance_scaling(scale: Any, mode: str, distribution: str, in_axis: Any = -2,
                     out_axis: Any = -1, batch_axis: Any = (), dtype: Any = None
                     ) -> Initializer:
    """An initializer whose spread adapts to the kernel's shape: variance scale / n, with n
    the fan in, fan out, their mean ("fan_avg") or geometric mean ("fan_geo_avg").

    Args:
      scale: the scaling factor.
      mode: "fan_in", "fan_out", "fan_avg" or "fan_geo_avg".
      distribution: "truncated_normal" (at 2 standard deviations, rescaled so that the
        truncated draw has the asked variance), "normal" or "uniform".
      in_axis, out_axis, batch_axis: the kernel's input, output and ignored axes.
      dtype: the default dtype.
    Returns: init(key, shape, dtype=dtype).

    >>> w = variance_scaling(2.0, "fan_in", "normal")(random.PRNGKey(0), (3, 4))
    >>> w.shape
    (3, 4)
    """
    if mode not in ("fan_in", "fan_out", "fan_avg", "fan_geo_avg"):
        raise ValueError(f"invalid mode for variance scaling initializer: {mode}")
    if distribution not in ("truncated_normal", "normal", "uniform"):
        raise ValueError(f"invalid distribution for variance scaling initializer: "
                         f"{distribution}")

    def init(key: Any, shape: Sequence[int], dtype: Any = dtype) -> Any:
        shape = tuple(int(d) for d in shape)
        dt = _dtype(dtype)
        if dt.kind != "f":
            raise NotImplementedError(f"variance_scaling: only real floating dtypes are "
                                      f"supported, got {dt.name}")
        fan_in, fan_out = _compute_fans(shape, in_axis, out_axis, batch_axis)
        denominator = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2,
                       "fan_geo_avg": (fan_in * fan_out) ** 0.5}[mode]
        variance = _const(scale / denominator, dt)
        if distribution == "truncated_normal":
            stddev = np.sqrt(variance) / _const(_TRUNC_STD, dt)
            return random.truncated_normal(key, -2, 2, shape, dt) * stddev
        if distribution == "normal":
            return random.normal(key, shape, dt) * np.sqrt(variance)
        return random.uniform(key, shape, dt, -1, 1) * np.sqrt(_const(3, dt) * variance)
    return init


def glorot_uniform(in_axis: Any = -2, out_axis: Any = -1, batch_axis: Any = (),
                   dtype: Any = None) -> Initializer:
    """variance_scaling(1.0, "fan_avg", "uniform") (Xavier uniform)."""
    return variance_scaling(1.0, "fan_avg", "uniform", in_axis, out_axis, batch_axis, dtype)


def glorot_normal(in_axis: Any = -2, out_axis: Any = -1, batch_axis: Any = (),
                  dtype: Any = None) -> Initializer:
    """variance_scaling(1.0, "fan_avg", "truncated_normal") (Xavier normal).

    >>> glorot_normal()(random.PRNGKey(0), (3, 4)).shape
    (3, 4)
    """
    return variance_scaling(1.0, "fan_avg", "truncated_normal", in_axis, out_axis,
                            batch_axis, dtype)


def lecun_uniform(in_axis: Any = -2, out_axis: Any = -1, batch_axis: Any = (),
                  dtype: Any = None) -> Initializer:
    """variance_scaling(1.0, "fan_in", "uniform")."""
    return variance_scaling(1.0, "fan_in", "uniform", in_axis, out_axis, batch_axis, dtype)


def lecun_normal(in_axis: Any = -2, out_axis: Any = -1, batch_axis: Any = (),
                 dtype: Any = None) -> Initializer:
    """variance_scaling(1.0, "fan_in", "truncated_normal")."""
    return variance_scaling(1.0, "fan_in", "truncated_normal", in_axis, out_axis, batch_axis,
                            dtype)


def he_uniform(in_axis: Any = -2, out_axis: Any = -1, batch_axis: Any = (),
               dtype: Any = None) -> Initializer:
    """variance_scaling(2.0, "fan_in", "uniform") (Kaiming uniform)."""
    return variance_scaling(2.0, "fan_in", "uniform", in_axis, out_axis, batch_axis, dtype)


def he_normal(in_axis: Any = -2, out_axis: Any = -1, batch_axis: Any = (),
              dtype: Any = None) -> Initializer:
    """variance_scaling(2.0, "fan_in", "truncated_normal") (Kaiming normal)."""
    return variance_scaling(2.0, "fan_in", "truncated_normal", in_axis, out_axis, batch_axis,
                            dtype)


xavier_uniform = glorot_uniform
xavier_normal = glorot_normal
kaiming_uniform = he_uniform
kaiming_normal = he_normal


def orthogonal(scale: Any = 1.0, column_axis: int = -1, dtype: Any = None) -> Initializer:
    """An initializer of (scaled) orthogonal matrices along `column_axis`.

    >>> q = orthogonal()(random.PRNGKey(0), (3, 3))
    >>> bool(np.allclose(q @ q.T, np.eye(3)))
    True
    """
    def init(key: Any, shape: Sequence[int], dtype: Any = dtype) -> Any:
        dt = _dtype(dtype)
        shape = tuple(shape)
        if len(shape) < 2:
            raise ValueError("orthogonal initializer requires at least a 2D shape")
        if any(d == 0 for d in shape):
            return fnp.zeros(shape, dt)
        n_rows, n_cols = math.prod(shape) // shape[column_axis], shape[column_axis]
        q = random.orthogonal(key, n_rows, (), dt, n_cols)
        q = fnp.reshape(q, tuple(np.delete(shape, column_axis)) + (shape[column_axis],))
        q = fnp.moveaxis(q, -1, column_axis)
        return _const(scale, dt) * q
    return init


def delta_orthogonal(scale: Any = 1.0, column_axis: int = -1, dtype: Any = None
                     ) -> Initializer:
    """An initializer of delta-orthogonal convolution kernels (3D, 4D or 5D shapes): zero
    except an orthogonal matrix at the spatial centre."""
    def init(key: Any, shape: Sequence[int], dtype: Any = dtype) -> Any:
        dt = _dtype(dtype)
        if len(shape) not in (3, 4, 5):
            raise ValueError("Delta orthogonal initializer requires a 3D, 4D or 5D shape.")
        if shape[-1] < shape[-2]:
            raise ValueError("`fan_in` must be less or equal than `fan_out`. ")
        ortho = orthogonal(scale=scale, column_axis=column_axis, dtype=dt)(key, shape[-2:])
        # zeros with the matrix at the spatial centre: pad it out
        spatial = tuple(shape[:-2])
        pads = [((k - 1) // 2, k - 1 - (k - 1) // 2) for k in spatial] + [(0, 0), (0, 0)]
        return fnp.pad(fnp.reshape(ortho, (1,) * len(spatial) + tuple(shape[-2:])), pads)
    return init
