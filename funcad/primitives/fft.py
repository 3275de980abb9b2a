"""The FFT primitive: discrete Fourier transforms over the trailing axes (lax.fft).

`fft(x, fft_type, fft_lengths)` transforms the last `len(fft_lengths)` axes of `x`:

- "FFT": complex -> complex, unnormalised forward DFT (exp(-2 pi i jk/n)).
- "IFFT": complex -> complex, inverse DFT divided by the product of the lengths.
- "RFFT": float -> complex, the forward DFT of a real array; the last axis keeps its
  n // 2 + 1 non-negative frequencies.
- "IRFFT": complex -> float, the inverse of RFFT: the last axis (n // 2 + 1 entries) is
  read as the non-negative half of a Hermitian spectrum of length n (the imaginary parts
  of its zero and, for even n, Nyquist entries are ignored), the other axes are inverted
  as complex, and the result has the trailing shape `fft_lengths`. As NumPy's irfftn:
  complex inverse DFTs over the leading axes, then a real one over the last.

float32 pairs with complex64 and float64 with complex128. `funcad.lax.fft` promotes real
operands of FFT/IFFT to complex before binding (so the primitive needs no real-input
case). Every type is linear over the reals, so the jvp applies the primitive to the
tangent. Transposes use the pairing <c, t> = Re(sum c t) of the complex rules
(elementwise.py): the DFT matrix is symmetric, so FFT and IFFT transpose to themselves;
RFFT = (keep the first n//2+1 columns) o FFT on a real input, so its transpose pads the
cotangent with zeros to length n, applies FFT and keeps the real part; IRFFT is
y = Re(IFFT(pad(w * x))) with weights w = 2 on the frequencies that stand for a conjugate
pair and 1 on the zero (and Nyquist) ones, so its transpose is w * conj(RFFT(ct)) / N.
The Numba lowering (lowering/numba/special_rules.py) calls a native FFT in
lowering/numba/_runtime.py (radix 2, Bluestein for other lengths).
"""

from __future__ import annotations

import numpy as np

from funcad._core import (
    ShapedArray,
    abstract_eval_rules,
    batch_rules,
    get_aval,
    impl_rules,
    linear_primitives,
    transpose_rules,
)
from funcad.interpreters.ad import deflinear_jvp
from funcad.primitives._util import moveaxis, new_primitive

FFT_TYPES = ("FFT", "IFFT", "RFFT", "IRFFT")

fft_p = new_primitive("fft")


def _complex_of(dtype) -> np.dtype:
    return np.dtype(np.complex64 if np.dtype(dtype) == np.float32 else np.complex128)


def _real_of(dtype) -> np.dtype:
    return np.dtype(np.float32 if np.dtype(dtype) == np.complex64 else np.float64)


def _fft_aval(x, *, fft_type, fft_lengths):
    k = len(fft_lengths)
    if fft_type not in FFT_TYPES:
        raise ValueError(f"fft: unknown fft_type {fft_type!r} (one of {', '.join(FFT_TYPES)})")
    if not 1 <= k <= x.ndim:
        raise ValueError(f"fft: fft_lengths {fft_lengths} must name 1 to {x.ndim} trailing "
                         f"axes of an operand of shape {x.shape}")
    trailing = tuple(x.shape[x.ndim - k:])
    kind = np.dtype(x.dtype).kind
    if fft_type in ("FFT", "IFFT", "IRFFT") and kind != "c":
        raise TypeError(f"fft: {fft_type} needs a complex operand, got {x.dtype.name} "
                        f"(lax.fft converts real operands of FFT and IFFT)")
    if fft_type == "RFFT" and kind != "f":
        raise TypeError(f"fft: RFFT needs a float32 or float64 operand, got {x.dtype.name}")
    if fft_type == "IRFFT":
        want = (*fft_lengths[:-1], fft_lengths[-1] // 2 + 1)
    else:
        want = tuple(fft_lengths)
    if trailing != want:
        raise ValueError(f"fft: {fft_type} with fft_lengths {tuple(fft_lengths)} needs "
                         f"trailing dims {want}, got an operand of shape {x.shape}")
    if fft_type in ("FFT", "IFFT"):
        return ShapedArray(x.shape, x.dtype)
    lead = x.shape[:x.ndim - k]
    if fft_type == "RFFT":
        return ShapedArray((*lead, *fft_lengths[:-1], fft_lengths[-1] // 2 + 1),
                           _complex_of(x.dtype))
    return ShapedArray((*lead, *fft_lengths), _real_of(x.dtype))


def _fft_impl(x, *, fft_type, fft_lengths):
    x = np.asarray(x)
    k = len(fft_lengths)
    axes = tuple(range(x.ndim - k, x.ndim))
    out = _fft_aval(get_aval(x), fft_type=fft_type, fft_lengths=fft_lengths)
    if fft_type == "FFT":
        y = np.fft.fftn(x, axes=axes)
    elif fft_type == "IFFT":
        y = np.fft.ifftn(x, axes=axes)
    elif fft_type == "RFFT":
        y = np.fft.rfftn(x, axes=axes)
    else:
        y = np.fft.irfftn(x, s=tuple(fft_lengths), axes=axes)
    return np.ascontiguousarray(y, dtype=out.dtype)


def _irfft_weights(n: int, dtype) -> np.ndarray:
    """Per-frequency weights of IRFFT's last axis: 2 where an entry stands for a conjugate
    pair, 1 for frequency 0 and (even n) the Nyquist frequency."""
    w = np.full(n // 2 + 1, 2.0)
    w[0] = 1.0
    if n % 2 == 0:
        w[-1] = 1.0
    return w.astype(dtype)


def _fft_transpose(ct, x, *, fft_type, fft_lengths):
    from funcad.primitives.elementwise import conj_p, mul_p, real_p
    from funcad.primitives.structural import broadcast_in_dim, pad_p
    fft_lengths = tuple(fft_lengths)
    if fft_type in ("FFT", "IFFT"):
        return [fft_p.bind(ct, fft_type=fft_type, fft_lengths=fft_lengths)]
    ct_aval = get_aval(ct)
    if fft_type == "RFFT":
        n = fft_lengths[-1]
        config = tuple((0, 0, 0) for _ in ct_aval.shape[:-1]) + ((0, n - ct_aval.shape[-1], 0),)
        full = pad_p.bind(ct, np.zeros((), ct_aval.dtype), padding_config=config)
        return [real_p.bind(fft_p.bind(full, fft_type="FFT", fft_lengths=fft_lengths))]
    # IRFFT: x_bar = w * conj(RFFT(ct)) / N
    n = fft_lengths[-1]
    spec = conj_p.bind(fft_p.bind(ct, fft_type="RFFT", fft_lengths=fft_lengths))
    spec_aval = get_aval(spec)
    scale = _irfft_weights(n, spec_aval.dtype) / np.prod(fft_lengths, dtype=np.float64)
    w = broadcast_in_dim(scale.astype(spec_aval.dtype), spec_aval.shape, (spec_aval.ndim - 1,))
    return [mul_p.bind(spec, w)]


def _fft_batch(size, vals, dims, *, fft_type, fft_lengths):
    (x,), (d,) = vals, dims
    ndim = get_aval(x).ndim
    if d >= ndim - len(fft_lengths):   # the batch axis sits among the transformed ones
        x, d = moveaxis(x, d, 0, size), 0
    return fft_p.bind(x, fft_type=fft_type, fft_lengths=tuple(fft_lengths)), d


impl_rules[fft_p] = _fft_impl
abstract_eval_rules[fft_p] = _fft_aval
deflinear_jvp(fft_p)
linear_primitives.add(fft_p)
transpose_rules[fft_p] = _fft_transpose
batch_rules[fft_p] = _fft_batch
# The Numba lowering rule is registered in funcad/lowering/numba/special_rules.py.
