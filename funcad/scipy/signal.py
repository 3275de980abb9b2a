"""funcad.scipy.signal: N-dimensional convolution and correlation, as in jax.scipy.signal.

`convolve`/`correlate` (any rank, method 'auto'/'direct') and `convolve2d`/`correlate2d`
(boundary='fill', fillvalue=0 only, as in JAX) lower to one `lax.conv_general_dilated` of
a batch of one with one channel, with JAX's paddings for the three modes, so they are
differentiable in both modes and work under jit and vmap. `method='fft'` (and
`fftconvolve`) is not provided.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import funcad.numpy as fnp
from funcad import lax
from funcad.numpy._base import promote_inexact

__all__ = ["convolve", "convolve2d", "correlate", "correlate2d"]


def _convolve_nd(in1: Any, in2: Any, mode: str, *, precision: Any) -> Any:
    if mode not in ("full", "same", "valid"):
        raise ValueError("mode must be one of ['full', 'same', 'valid']")
    in1, in2 = promote_inexact(in1, in2)
    in1, in2 = fnp.asarray(in1), fnp.asarray(in2)
    if in1.ndim != in2.ndim:
        raise ValueError("in1 and in2 must have the same number of dimensions")
    if in1.size == 0 or in2.size == 0:
        raise ValueError("zero-size arrays not supported in convolutions, got shapes "
                         f"{in1.shape} and {in2.shape}.")
    no_swap = all(s1 >= s2 for s1, s2 in zip(in1.shape, in2.shape))
    swap = all(s1 <= s2 for s1, s2 in zip(in1.shape, in2.shape))
    if not (no_swap or swap):
        raise ValueError("One input must be smaller than the other in every dimension.")
    shape_o = in2.shape
    if swap:
        in1, in2 = in2, in1
    shape = in2.shape
    in2 = fnp.flip(in2)
    if mode == "valid":
        padding = [(0, 0) for _ in shape]
    elif mode == "same":
        padding = [(s - 1 - (s_o - 1) // 2, s - s_o + (s_o - 1) // 2)
                   for s, s_o in zip(shape, shape_o)]
    else:
        padding = [(s - 1, s - 1) for s in shape]
    strides = (1,) * len(shape)
    result = lax.conv_general_dilated(in1[None, None], in2[None, None], strides, padding,
                                      precision=precision)
    return result[0, 0]


def convolve(in1: Any, in2: Any, mode: str = "full", method: str = "auto",
             precision: Any = None) -> Any:
    """Convolution of two N-dimensional arrays (scipy.signal.convolve; direct method)."""
    if method == "fft":
        raise NotImplementedError("convolve(method='fft') is not supported by funcad")
    if method not in ("direct", "auto"):
        raise ValueError(f"Got method={method!r}; expected 'auto', 'fft', or 'direct'.")
    return _convolve_nd(in1, in2, mode, precision=precision)


def convolve2d(in1: Any, in2: Any, mode: str = "full", boundary: str = "fill",
               fillvalue: float = 0, precision: Any = None) -> Any:
    """Convolution of two 2-dimensional arrays (scipy.signal.convolve2d; 'fill' with 0)."""
    if boundary != "fill" or fillvalue != 0:
        raise NotImplementedError("convolve2d() only supports boundary='fill', fillvalue=0")
    if np.ndim(in1) != 2 or np.ndim(in2) != 2:
        raise ValueError("convolve2d() only supports 2-dimensional inputs.")
    return _convolve_nd(in1, in2, mode, precision=precision)


def correlate(in1: Any, in2: Any, mode: str = "full", method: str = "auto",
              precision: Any = None) -> Any:
    """Cross-correlation of two N-dimensional arrays (scipy.signal.correlate)."""
    return convolve(in1, fnp.flip(fnp.conj(in2)), mode, precision=precision, method=method)


def correlate2d(in1: Any, in2: Any, mode: str = "full", boundary: str = "fill",
                fillvalue: float = 0, precision: Any = None) -> Any:
    """Cross-correlation of two 2-dimensional arrays (scipy.signal.correlate2d)."""
    if boundary != "fill" or fillvalue != 0:
        raise NotImplementedError("correlate2d() only supports boundary='fill', fillvalue=0")
    if np.ndim(in1) != 2 or np.ndim(in2) != 2:
        raise ValueError("correlate2d() only supports 2-dimensional inputs.")
    in1, in2 = fnp.asarray(in1), fnp.asarray(in2)
    swap = all(s1 <= s2 for s1, s2 in zip(in1.shape, in2.shape))
    same_shape = all(s1 == s2 for s1, s2 in zip(in1.shape, in2.shape))
    if mode == "same" or (mode == "valid" and not (swap and not same_shape)) or (
            mode == "full" and not swap):
        return fnp.flip(_convolve_nd(fnp.flip(in1), fnp.conj(in2), mode, precision=precision))
    result = _convolve_nd(fnp.flip(in2), fnp.conj(in1), mode, precision=precision)
    return fnp.conj(result) if mode == "full" else result
