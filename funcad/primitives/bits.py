"""Bit primitives on integers: shifts and population count (JAX's lax semantics).

Shift amounts are read as unsigned integers of the operand's width, so an amount that is
negative or at least the bit width shifts every bit out: 0 for `shift_left` and
`shift_right_logical`, the sign fill (0 or -1) for `shift_right_arithmetic`. Operands
have one integer dtype (funcad.numpy promotes). None of them is differentiable: they are
in `nondiff_primitives` (integer outputs carry no tangent). `lowering_rules` are set in
funcad/lowering/numba/rules.py (their expressions depend on the dtype).
"""

from __future__ import annotations

import numpy as np

from funcad._core import ShapedArray
from funcad.primitives._util import (
    elementwise_batch,
    new_primitive,
    register,
    same_shape_dtype,
    vectorized_batch,
)


def unsigned_of(dtype) -> np.dtype:
    """The unsigned integer dtype of the same width as the integer `dtype`."""
    return np.dtype(f"u{np.dtype(dtype).itemsize}")


def signed_of(dtype) -> np.dtype:
    """The signed integer dtype of the same width as the integer `dtype`."""
    return np.dtype(f"i{np.dtype(dtype).itemsize}")


def _int_binary_aval(name):
    def rule(x, y):
        a = same_shape_dtype(name, x, y)
        if a.dtype.kind not in "iu":
            raise TypeError(f"{name} needs integer operands, got {a.dtype.name}")
        return a
    return rule


def _amount(x: np.ndarray, y: np.ndarray):
    """(x as unsigned bits, shift amount clipped to width - 1, mask of in-range amounts)."""
    x, y = np.asarray(x), np.asarray(y)
    u = unsigned_of(x.dtype)
    bits = 8 * x.dtype.itemsize
    yu = y.astype(u)
    ok = yu < bits
    return x, u, np.minimum(yu, bits - 1), ok


def _shift_left_impl(x, y):
    x, u, s, ok = _amount(x, y)
    out = np.where(ok, np.left_shift(x.view(u), s), u.type(0)).astype(u)
    return out.view(x.dtype)


def _shift_right_logical_impl(x, y):
    x, u, s, ok = _amount(x, y)
    out = np.where(ok, np.right_shift(x.view(u), s), u.type(0)).astype(u)
    return out.view(x.dtype)


def _shift_right_arithmetic_impl(x, y):
    # An amount >= the width gives the sign fill, which is the shift by width - 1.
    x, u, s, ok = _amount(x, y)
    sd = signed_of(x.dtype)
    out = np.right_shift(x.view(sd), s.astype(sd)).astype(sd)
    return out.view(x.dtype)


shift_left_p = register(new_primitive("shift_left"), _shift_left_impl,
                        _int_binary_aval("shift_left"), nondiff=True)
elementwise_batch(shift_left_p)
shift_right_logical_p = register(new_primitive("shift_right_logical"),
                                 _shift_right_logical_impl,
                                 _int_binary_aval("shift_right_logical"), nondiff=True)
elementwise_batch(shift_right_logical_p)
shift_right_arithmetic_p = register(new_primitive("shift_right_arithmetic"),
                                    _shift_right_arithmetic_impl,
                                    _int_binary_aval("shift_right_arithmetic"), nondiff=True)
elementwise_batch(shift_right_arithmetic_p)


def _popcount_impl(x):
    x = np.asarray(x)
    return np.bitwise_count(x.view(unsigned_of(x.dtype))).astype(x.dtype)


def _popcount_aval(x):
    if x.dtype.kind not in "iu":
        raise TypeError(f"population_count needs an integer operand, got {x.dtype.name}")
    return ShapedArray(x.shape, x.dtype)


# The number of 1 bits of each element's two's-complement representation, same dtype.
population_count_p = register(new_primitive("population_count"), _popcount_impl,
                              _popcount_aval, nondiff=True)
vectorized_batch(population_count_p)
