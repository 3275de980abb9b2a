"""funcad.numpy.fft: NumPy's (and jax.numpy's) discrete Fourier transforms.

Every transform is a composite: the transformed axes are moved to the end, cropped or
zero-padded to the requested lengths, transformed by the one `fft` primitive
(funcad.lax.fft) and scaled for `norm`, so all of them differentiate, batch and compile
like any other funcad code. Dtypes as JAX: float32, complex64, bools and integers of up to
32 bits give complex64 (or float32 for the real outputs of irfft/hfft), everything else
complex128 (float64).
`norm` is None or "backward" (inverse transforms divide by n), "ortho" (both divide by
sqrt(n)) or "forward" (forward transforms divide by n).
"""

from __future__ import annotations

import operator
from typing import Any, Sequence

import numpy as np

from funcad._dtypes import inexact_dtype
from funcad._lax_fft import fft as _lax_fft
from funcad.numpy._base import _asarray as asarray
from funcad.numpy._base import ndim, shape

__all__ = [
    "fft", "ifft", "fft2", "ifft2", "fftn", "ifftn", "rfft", "irfft", "rfft2", "irfft2",
    "rfftn", "irfftn", "hfft", "ihfft", "fftfreq", "rfftfreq", "fftshift", "ifftshift",
]

_NORMS = (None, "backward", "ortho", "forward")
_SWAPPED = {None: "forward", "backward": "forward", "ortho": "ortho", "forward": "backward"}


def _check_norm(name: str, norm: Any) -> None:
    if norm not in _NORMS:
        raise ValueError(f"fft.{name}: invalid norm {norm!r}; use None, 'backward', "
                         f"'ortho' or 'forward'")


def _scale(norm: Any, n: int, inverse: bool) -> float | None:
    """The factor that turns the primitive's result (inverse already divided by n) into
    the `norm` convention; None for none."""
    if norm in (None, "backward"):
        return None
    if norm == "ortho":
        return float(np.sqrt(n)) if inverse else 1.0 / float(np.sqrt(n))
    return float(n) if inverse else 1.0 / n        # "forward"


def _index(name: str, what: str, v: Any) -> int:
    try:
        return operator.index(v)
    except TypeError:
        raise TypeError(f"fft.{name}: {what} must be an integer, got {v!r}") from None


def _axes_lengths(name: str, a: Any, s: Any, axes: Any, real_inverse: bool = False
                  ) -> tuple[list[int], list[int] | None]:
    """NumPy's rules for (s, axes): axes default to all (s None) or the last len(s)."""
    nd = ndim(a)
    if s is not None:
        s = [_index(name, "s", v) for v in (s if np.ndim(s) else [s])]
    if axes is None:
        axes = list(range(nd)) if s is None else list(range(nd - len(s), nd))
    else:
        axes = [_index(name, "axes", v) for v in (axes if np.ndim(axes) else [axes])]
    out = []
    for ax in axes:
        if not -nd <= ax < nd:
            raise ValueError(f"fft.{name}: axis {ax} is out of bounds for an array of "
                             f"rank {nd}")
        out.append(ax % nd)
    if len(set(out)) != len(out):
        raise ValueError(f"fft.{name}: repeated axes {tuple(axes)} are not supported")
    if s is not None and len(s) != len(out):
        raise ValueError(f"fft.{name}: s {tuple(s)} and axes {tuple(axes)} have different "
                         f"lengths")
    return out, s


def _resize(x: Any, axis: int, n: int) -> Any:
    """Crop or zero-pad `x` at the end of `axis` to length n (NumPy's `n`/`s`)."""
    from funcad._lax_ops import pad
    m = shape(x)[axis]
    if m == n:
        return x
    config = [(0, 0, 0)] * ndim(x)
    config[axis] = (0, n - m, 0)
    return pad(x, np.zeros((), x.dtype), config)


def _prepare(name: str, a: Any, real_only: bool) -> Any:
    a = asarray(a)
    kind = a.dtype.kind
    if kind not in "biufc":
        raise TypeError(f"fft.{name}: unsupported dtype {a.dtype.name}")
    if real_only and kind == "c":
        raise TypeError(f"fft.{name} needs a real array, got {a.dtype.name} (use fft.fft "
                        f"for complex input)")
    if kind in "biu":
        a = a.astype(inexact_dtype(a.dtype))   # JAX: int32 -> float32 -> complex64
    return a


def _transform(name: str, kind: str, a: Any, s: Any, axes: Any, norm: Any) -> Any:
    """kind: FFT, IFFT, RFFT or IRFFT over `axes` with lengths `s` (output lengths)."""
    _check_norm(name, norm)
    a = _prepare(name, a, real_only=(kind == "RFFT"))
    axes, s = _axes_lengths(name, a, s, axes)
    if not axes:
        raise ValueError(f"fft.{name}: no axes to transform")
    in_shape = shape(a)
    if s is None:
        s = [in_shape[ax] for ax in axes]
        if kind == "IRFFT":
            s[-1] = 2 * (in_shape[axes[-1]] - 1)
    for n in s:
        if n < 1:
            raise ValueError(f"fft.{name}: invalid number of data points ({n}); each "
                             f"transformed length must be at least 1")
    for ax, n in zip(axes[:-1], s[:-1]):
        a = _resize(a, ax, n)
    a = _resize(a, axes[-1], s[-1] // 2 + 1 if kind == "IRFFT" else s[-1])
    from funcad.numpy._shapes import moveaxis
    k = len(axes)
    trailing = list(range(ndim(a) - k, ndim(a)))
    moved = axes != trailing
    if moved:
        a = moveaxis(a, axes, trailing)
    y = _lax_fft(a, kind, tuple(s))
    if moved:
        y = moveaxis(y, trailing, axes)
    factor = _scale(norm, int(np.prod(s, dtype=np.int64)), kind in ("IFFT", "IRFFT"))
    if factor is not None:
        y = y * np.array(factor, np.finfo(y.dtype).dtype)
    return y


def _one_axis(n: Any, axis: Any) -> tuple[Any, Any]:
    return (None if n is None else [n]), [axis]


def fft(a: Any, n: int | None = None, axis: int = -1, norm: str | None = None) -> Any:
    """One-dimensional discrete Fourier transform along `axis` (cropped/padded to n).

    >>> import funcad.numpy as fnp
    >>> fnp.fft.fft([1.0, 2.0, 3.0, 4.0])
    Array([10.+0.j, -2.+2.j, -2.+0.j, -2.-2.j], dtype=complex128)
    >>> fnp.fft.ifft(fnp.fft.fft([1.0, 2.0, 3.0])).real
    Array([1., 2., 3.], dtype=float64)
    """
    return _transform("fft", "FFT", a, *_one_axis(n, axis), norm)


def ifft(a: Any, n: int | None = None, axis: int = -1, norm: str | None = None) -> Any:
    """One-dimensional inverse discrete Fourier transform along `axis`."""
    return _transform("ifft", "IFFT", a, *_one_axis(n, axis), norm)


def fftn(a: Any, s: Sequence[int] | None = None, axes: Sequence[int] | None = None,
         norm: str | None = None) -> Any:
    """N-dimensional discrete Fourier transform over `axes` (all axes by default)."""
    return _transform("fftn", "FFT", a, s, axes, norm)


def ifftn(a: Any, s: Sequence[int] | None = None, axes: Sequence[int] | None = None,
          norm: str | None = None) -> Any:
    """N-dimensional inverse discrete Fourier transform over `axes`."""
    return _transform("ifftn", "IFFT", a, s, axes, norm)


def fft2(a: Any, s: Sequence[int] | None = None, axes: Sequence[int] = (-2, -1),
         norm: str | None = None) -> Any:
    """Two-dimensional discrete Fourier transform (over the last two axes by default)."""
    return _transform("fft2", "FFT", a, s, axes, norm)


def ifft2(a: Any, s: Sequence[int] | None = None, axes: Sequence[int] = (-2, -1),
          norm: str | None = None) -> Any:
    """Two-dimensional inverse discrete Fourier transform."""
    return _transform("ifft2", "IFFT", a, s, axes, norm)


def rfft(a: Any, n: int | None = None, axis: int = -1, norm: str | None = None) -> Any:
    """Discrete Fourier transform of a real array: the n // 2 + 1 non-negative frequencies."""
    return _transform("rfft", "RFFT", a, *_one_axis(n, axis), norm)


def irfft(a: Any, n: int | None = None, axis: int = -1, norm: str | None = None) -> Any:
    """Inverse of rfft: a real array of length n (default 2 * (a.shape[axis] - 1))."""
    return _transform("irfft", "IRFFT", a, *_one_axis(n, axis), norm)


def rfftn(a: Any, s: Sequence[int] | None = None, axes: Sequence[int] | None = None,
          norm: str | None = None) -> Any:
    """N-dimensional transform of a real array (rfft over the last of `axes`)."""
    return _transform("rfftn", "RFFT", a, s, axes, norm)


def irfftn(a: Any, s: Sequence[int] | None = None, axes: Sequence[int] | None = None,
           norm: str | None = None) -> Any:
    """Inverse of rfftn (irfft over the last of `axes`, ifft over the others)."""
    return _transform("irfftn", "IRFFT", a, s, axes, norm)


def rfft2(a: Any, s: Sequence[int] | None = None, axes: Sequence[int] = (-2, -1),
          norm: str | None = None) -> Any:
    """Two-dimensional transform of a real array."""
    return _transform("rfft2", "RFFT", a, s, axes, norm)


def irfft2(a: Any, s: Sequence[int] | None = None, axes: Sequence[int] = (-2, -1),
           norm: str | None = None) -> Any:
    """Inverse of rfft2."""
    return _transform("irfft2", "IRFFT", a, s, axes, norm)


def hfft(a: Any, n: int | None = None, axis: int = -1, norm: str | None = None) -> Any:
    """Transform of a Hermitian-symmetric signal given by its first half: a real spectrum."""
    from funcad.numpy._ufuncs import conj
    _check_norm("hfft", norm)
    a = _prepare("hfft", a, real_only=False)
    return _transform("hfft", "IRFFT", conj(a), *_one_axis(n, axis), _SWAPPED[norm])


def ihfft(a: Any, n: int | None = None, axis: int = -1, norm: str | None = None) -> Any:
    """Inverse of hfft: the first half of the Hermitian spectrum of a real signal."""
    from funcad.numpy._ufuncs import conj
    _check_norm("ihfft", norm)
    return conj(_transform("ihfft", "RFFT", a, *_one_axis(n, axis), _SWAPPED[norm]))


def _freq_dtype(dtype: Any) -> np.dtype:
    return np.dtype(np.float64 if dtype is None else dtype)


def _freqs(name: str, ints: np.ndarray, n: int, d: Any, dtype: Any) -> Any:
    from funcad._core import Tracer
    dt = _freq_dtype(dtype)
    if isinstance(d, Tracer):
        return asarray(ints.astype(dt)) * (1.0 / (n * d))
    return asarray((ints * (1.0 / (n * float(d)))).astype(dt))


def fftfreq(n: int, d: Any = 1.0, *, dtype: Any = None, device: Any = None) -> Any:
    """Sample frequencies of fft's output: [0, 1, ..., -1] / (d * n).

    >>> import funcad.numpy as fnp
    >>> fnp.fft.fftfreq(4)
    Array([ 0.  ,  0.25, -0.5 , -0.25], dtype=float64)
    """
    n = _index("fftfreq", "n", n)
    if n < 1:
        raise ValueError(f"fft.fftfreq: n must be positive, got {n}")
    ints = np.concatenate([np.arange(0, (n - 1) // 2 + 1), np.arange(-(n // 2), 0)])
    return _freqs("fftfreq", ints, n, d, dtype)


def rfftfreq(n: int, d: Any = 1.0, *, dtype: Any = None, device: Any = None) -> Any:
    """Sample frequencies of rfft's output: [0, 1, ..., n // 2] / (d * n)."""
    n = _index("rfftfreq", "n", n)
    if n < 1:
        raise ValueError(f"fft.rfftfreq: n must be positive, got {n}")
    return _freqs("rfftfreq", np.arange(0, n // 2 + 1), n, d, dtype)


def _shift(name: str, x: Any, axes: Any, sign: int) -> Any:
    from funcad.numpy._shapes import roll
    x = asarray(x)
    nd = ndim(x)
    if axes is None:
        axes = list(range(nd))
    elif not np.ndim(axes):
        axes = [axes]
    axes = [_index(name, "axes", ax) for ax in axes]
    if not axes:
        return x
    shifts = [sign * (shape(x)[ax] // 2) for ax in axes]
    return roll(x, shifts, axes)


def fftshift(x: Any, axes: Any = None) -> Any:
    """Move the zero frequency to the centre (roll by n // 2 along `axes`, default all)."""
    return _shift("fftshift", x, axes, 1)


def ifftshift(x: Any, axes: Any = None) -> Any:
    """Inverse of fftshift (roll by -(n // 2))."""
    return _shift("ifftshift", x, axes, -1)


# Called outside transforms, the public functions return funcad.Arrays.
from funcad._array import export_arrays as _export_arrays  # noqa: E402

_export_arrays(globals())
