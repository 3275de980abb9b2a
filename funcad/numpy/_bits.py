"""Bit functions: shifts, bitwise_count, packbits and unpackbits (over funcad/primitives/bits.py).

Shifts follow JAX: an amount that is negative or at least the bit width shifts every bit
out (0, or the sign fill for `right_shift` of signed integers). Floating-point and
boolean operands raise a TypeError, as the primitives are integer-only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from funcad.numpy._base import prepare
from funcad.primitives import bits as _bits


def _int_operands(name: str, x1: Any, x2: Any) -> list:
    a, b = prepare(name, x1, x2)
    if np.dtype(a.dtype).kind not in "iu":
        raise TypeError(f"{name} needs integer operands, got {np.dtype(a.dtype).name}")
    return [a, b]


def left_shift(x1: Any, x2: Any, /) -> Any:
    """Shift the bits of `x1` left by `x2` (0 where `x2` is out of [0, bit width)).

    >>> import numpy as np
    >>> left_shift(np.int32(1), np.int32(3)).item()
    8
    """
    return _bits.shift_left_p.bind(*_int_operands("left_shift", x1, x2))


def right_shift(x1: Any, x2: Any, /) -> Any:
    """Shift right by `x2`: arithmetic for signed integers, logical for unsigned ones.

    >>> import numpy as np
    >>> right_shift(np.int32(-16), np.int32(2)).item()
    -4
    """
    a, b = _int_operands("right_shift", x1, x2)
    if np.dtype(a.dtype).kind == "u":
        return _bits.shift_right_logical_p.bind(a, b)
    return _bits.shift_right_arithmetic_p.bind(a, b)


bitwise_left_shift = left_shift
bitwise_right_shift = right_shift


def bitwise_count(x: Any, /) -> Any:
    """The number of 1 bits in the absolute value of each element, as uint8.

    >>> import numpy as np
    >>> bitwise_count(np.array([7, -7, 64])).tolist()
    [3, 3, 1]
    """
    import funcad.numpy as fnp
    (a,) = prepare("bitwise_count", x)
    if np.dtype(a.dtype).kind not in "iu":
        raise TypeError(f"bitwise_count needs an integer operand, got "
                        f"{np.dtype(a.dtype).name}")
    if np.dtype(a.dtype).kind == "i":
        a = fnp.abs(a)
    return fnp.astype(_bits.population_count_p.bind(a), np.uint8)


def _bitorder(name: str, bitorder: str) -> str:
    if bitorder not in ("big", "little"):
        raise ValueError(f"{name}: bitorder must be 'big' or 'little', got {bitorder!r}")
    return bitorder


def _bit_positions(bitorder: str) -> np.ndarray:
    return np.arange(7, -1, -1, dtype=np.uint8) if bitorder == "big" else \
        np.arange(8, dtype=np.uint8)


def packbits(a: Any, axis: int | None = None, bitorder: str = "big") -> Any:
    """Pack the truth values of `a` into the bits of uint8 (8 per byte, zero-padded).

    >>> import numpy as np
    >>> packbits(np.array([1, 0, 1, 1, 0, 0, 0, 0, 1])).tolist()
    [176, 128]
    """
    import funcad.numpy as fnp
    bitorder = _bitorder("packbits", bitorder)
    a = fnp.asarray(a)
    if np.dtype(a.dtype).kind not in "biu":
        raise TypeError(f"packbits needs an integer or boolean array, got "
                        f"{np.dtype(a.dtype).name}")
    if axis is None:
        a, axis = fnp.ravel(a), 0
    a = fnp.moveaxis(a, axis, -1)
    n = a.shape[-1]
    bits = fnp.astype(fnp.not_equal(a, 0), np.uint8)
    pad = -n % 8
    if pad:
        bits = fnp.pad(bits, [(0, 0)] * (bits.ndim - 1) + [(0, pad)])
    bits = fnp.reshape(bits, bits.shape[:-1] + ((n + pad) // 8, 8))
    shifted = left_shift(bits, _bit_positions(bitorder))
    packed = fnp.astype(fnp.sum(shifted, axis=-1), np.uint8)
    return fnp.moveaxis(packed, -1, axis)


def unpackbits(a: Any, axis: int | None = None, count: int | None = None,
               bitorder: str = "big") -> Any:
    """Unpack each uint8 element into its 8 bits (uint8 0/1), `count` of them kept.

    >>> import numpy as np
    >>> unpackbits(np.array([176], np.uint8)).tolist()
    [1, 0, 1, 1, 0, 0, 0, 0]
    """
    import funcad.numpy as fnp
    bitorder = _bitorder("unpackbits", bitorder)
    a = fnp.asarray(a)
    if np.dtype(a.dtype) != np.uint8:
        raise TypeError(f"unpackbits needs a uint8 array, got {np.dtype(a.dtype).name}")
    if axis is None:
        a, axis = fnp.ravel(a), 0
    a = fnp.moveaxis(a, axis, -1)
    bits = fnp.bitwise_and(right_shift(a[..., None], _bit_positions(bitorder)),
                           np.uint8(1))
    bits = fnp.reshape(bits, bits.shape[:-2] + (bits.shape[-2] * 8,))
    if count is not None:
        count = int(count)
        total = bits.shape[-1]
        keep = count if count >= 0 else max(total + count, 0)
        if keep <= total:
            bits = bits[..., :keep]
        else:
            bits = fnp.pad(bits, [(0, 0)] * (bits.ndim - 1) + [(0, keep - total)])
    return fnp.moveaxis(bits, -1, axis)
