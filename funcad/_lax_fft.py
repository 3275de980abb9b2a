"""funcad.lax.fft and lax.FftType: the FFT primitive's public entry point."""

from __future__ import annotations

import enum
from typing import Any, Sequence

import numpy as np

from funcad.primitives.elementwise import convert_element_type_p
from funcad.primitives.fft import fft_p


class FftType(enum.IntEnum):
    """The kind of transform lax.fft computes (JAX's names and values)."""

    FFT = 0
    IFFT = 1
    RFFT = 2
    IRFFT = 3

    def __str__(self) -> str:
        return self.name


def _fft_type_name(fft_type: Any) -> str:
    if isinstance(fft_type, FftType):
        return fft_type.name
    if isinstance(fft_type, str):
        name = fft_type.rsplit(".", 1)[-1].upper()
        if name in FftType.__members__:
            return name
    if isinstance(fft_type, (int, np.integer)) and not isinstance(fft_type, bool):
        if int(fft_type) in {t.value for t in FftType}:
            return FftType(int(fft_type)).name
    raise ValueError(f"lax.fft: unknown fft_type {fft_type!r}; use lax.FftType.FFT, IFFT, "
                     f"RFFT or IRFFT (or their names as strings)")


def _convert(x: Any, dtype) -> Any:
    return x if x.dtype == dtype else convert_element_type_p.bind(x, new_dtype=np.dtype(dtype))


def fft(x: Any, fft_type: Any, fft_lengths: Sequence[int]) -> Any:
    """Fourier transform over the trailing len(fft_lengths) axes of x (JAX's lax.fft).

    FFT/IFFT are complex to complex (real operands become complex), RFFT real to
    complex (the last axis keeps n // 2 + 1 frequencies), IRFFT complex to real; IFFT and
    IRFFT divide by the product of fft_lengths.

    >>> import numpy as np
    >>> from funcad import lax
    >>> lax.fft(np.array([1.0, 2.0, 3.0, 4.0]), lax.FftType.RFFT, (4,))
    Array([10.+0.j, -2.+2.j, -2.+0.j], dtype=complex128)
    """
    from funcad.numpy._base import _asarray
    name = _fft_type_name(fft_type)
    try:
        lengths = tuple(int(n) for n in fft_lengths)
    except TypeError:
        lengths = (int(fft_lengths),)
    x = _asarray(x)
    kind = x.dtype.kind
    single = x.dtype in (np.float32, np.complex64)
    if kind not in "biufc":
        raise TypeError(f"lax.fft: unsupported operand dtype {x.dtype.name}")
    if name == "RFFT":
        if kind == "c":
            raise TypeError("lax.fft: RFFT needs a real operand, got "
                            f"{x.dtype.name} (use FFT for complex input)")
        x = _convert(x, np.float32 if single else np.float64)
    else:
        x = _convert(x, np.complex64 if single else np.complex128)
    return fft_p.bind(x, fft_type=name, fft_lengths=lengths)


__all__ = ["FftType", "fft"]
