"""funcad.lax's lower-level operations (JAX's names and signatures), as composites.

Most are thin wrappers of primitives (dynamic_slice, pad, broadcast_in_dim, dot_general,
integer_pow, erf, lgamma, argsort) or of funcad.numpy; windowed operations (reduce_window,
conv_general_dilated) fold strided slices of the input, one per window offset, so they
differentiate, batch and lower like everything else.
"""

from __future__ import annotations

import builtins
import enum
import itertools
import math
import operator
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import funcad.numpy as fnp
from funcad._core import Tracer
from funcad._tree import tree_flatten, tree_unflatten
from funcad.numpy._base import _asarray
from funcad.primitives import elementwise as ew
from funcad.primitives import structural as st
from funcad.primitives.linalg import dot_general_p

# -- precision and dtypes -------------------------------------------------------------------


class Precision(enum.Enum):
    """Matrix-product precision (accepted for JAX compatibility; funcad always computes in
    the operands' own precision)."""

    DEFAULT = 0
    HIGH = 1
    HIGHEST = 2

    def __str__(self) -> str:
        return self.name


class RoundingMethod(enum.IntEnum):
    """How lax.round breaks ties."""

    AWAY_FROM_ZERO = 0
    TO_NEAREST_EVEN = 1


def _arr(x: Any) -> Any:
    return x if isinstance(x, Tracer) else _asarray(x)


def convert_element_type(operand: Any, new_dtype: Any) -> Any:
    """Convert to `new_dtype` (float to int truncates towards zero, as in C)."""
    x = _arr(operand)
    new_dtype = np.dtype(new_dtype)
    if np.issubdtype(new_dtype, np.integer) and np.issubdtype(x.dtype, np.inexact):
        x = fnp.trunc(x)
    return fnp.astype(x, new_dtype)


# -- elementwise ------------------------------------------------------------------------------

add, sub, mul, div = fnp.add, fnp.subtract, fnp.multiply, fnp.true_divide
neg, sign, abs, exp, log = fnp.negative, fnp.sign, fnp.abs, fnp.exp, fnp.log
sin, cos, tan, tanh = fnp.sin, fnp.cos, fnp.tan, fnp.tanh
asin, acos, atan, atan2 = fnp.arcsin, fnp.arccos, fnp.arctan, fnp.arctan2
sinh, cosh, asinh, acosh, atanh = fnp.sinh, fnp.cosh, fnp.arcsinh, fnp.arccosh, fnp.arctanh
sqrt, cbrt, log1p, expm1, exp2 = fnp.sqrt, fnp.cbrt, fnp.log1p, fnp.expm1, fnp.exp2
floor, ceil, square, pow = fnp.floor, fnp.ceil, fnp.square, fnp.power
max, min, is_finite = fnp.maximum, fnp.minimum, fnp.isfinite
real, imag, conj = fnp.real, fnp.imag, fnp.conj


def complex(x: Any, y: Any) -> Any:
    """x + i y elementwise, from real arrays of one floating dtype (float32 -> complex64).

    >>> import funcad.lax as lax
    >>> print(lax.complex(1.0, 2.0))
    (1+2j)
    """
    from funcad.primitives.elementwise import complex_p
    a, b = fnp._base.prepare("complex", x, y, inexact=True)
    if np.dtype(a.dtype).kind == "c":
        raise TypeError(f"lax.complex needs real operands, got {np.dtype(a.dtype).name}")
    return complex_p.bind(a, b)


eq, ne, lt, le, gt, ge = (fnp.equal, fnp.not_equal, fnp.less, fnp.less_equal, fnp.greater,
                          fnp.greater_equal)
bitwise_and, bitwise_or, bitwise_xor, bitwise_not = (fnp.bitwise_and, fnp.bitwise_or,
                                                     fnp.bitwise_xor, fnp.bitwise_not)


def _shift(name: str, prim_name: str):
    def fn(x: Any, y: Any) -> Any:
        from funcad.numpy._bits import _int_operands
        from funcad.primitives import bits
        return getattr(bits, prim_name).bind(*_int_operands(name, x, y))
    fn.__name__ = fn.__qualname__ = name
    return fn


shift_left = _shift("shift_left", "shift_left_p")
shift_left.__doc__ = "Shift the bits left (0 where the amount is out of [0, bit width))."
shift_right_logical = _shift("shift_right_logical", "shift_right_logical_p")
shift_right_logical.__doc__ = "Shift right filling with zeros (0 for amounts >= bit width)."
shift_right_arithmetic = _shift("shift_right_arithmetic", "shift_right_arithmetic_p")
shift_right_arithmetic.__doc__ = "Shift right filling with the sign bit (amounts saturate)."


def population_count(x: Any) -> Any:
    """The number of 1 bits of each integer element (two's complement), same dtype."""
    from funcad.numpy._base import prepare
    from funcad.primitives import bits
    (a,) = prepare("population_count", x)
    return bits.population_count_p.bind(a)


def rem(x: Any, y: Any) -> Any:
    """Remainder with the sign of the dividend (C's fmod), as lax.rem."""
    return fnp.fmod(x, y)


def round(x: Any, rounding_method: Any = RoundingMethod.AWAY_FROM_ZERO) -> Any:
    """Round to the nearest integer; ties away from zero unless TO_NEAREST_EVEN."""
    if int(rounding_method) == RoundingMethod.TO_NEAREST_EVEN:
        return fnp.round(x)
    x = _arr(x)
    return fnp.multiply(fnp.sign(x), fnp.floor(fnp.add(fnp.abs(x), 0.5)))


def integer_pow(x: Any, y: int) -> Any:
    """x ** y for a static integer y (repeated multiplication)."""
    (x,) = fnp._base.prepare("integer_pow", x)
    return ew.integer_pow_p.bind(x, y=int(y))


def rsqrt(x: Any) -> Any:
    """1 / sqrt(x), elementwise."""
    return fnp.reciprocal(fnp.sqrt(x))


def logistic(x: Any) -> Any:
    """The logistic sigmoid 1 / (1 + exp(-x)), computed stably."""
    from funcad.nn import sigmoid
    return sigmoid(x)


def clamp(min: Any, x: Any, max: Any) -> Any:
    """min <= x <= max elementwise (note JAX's argument order)."""
    return fnp.minimum(fnp.maximum(x, min), max)


def _special(name: str, prim):
    def fn(x: Any) -> Any:
        (x,) = fnp._base.promote_inexact(x)
        return prim.bind(x)
    fn.__name__ = fn.__qualname__ = name
    return fn


erf = _special("erf", ew.erf_p)
erf.__doc__ = "The error function, elementwise."
erfc = _special("erfc", ew.erfc_p)
erfc.__doc__ = "The complementary error function 1 - erf(x), elementwise (accurate for large x)."
lgamma = _special("lgamma", ew.lgamma_p)
lgamma.__doc__ = "log |Gamma(x)|, elementwise."


def digamma(x: Any) -> Any:
    """The digamma function d/dx lgamma(x), elementwise (a composite: reflection below 1/2,
    recurrence to x + 8, then the asymptotic series; accurate to ~1e-15)."""
    (x,) = fnp._base.promote_inexact(x)
    refl = fnp.less(x, 0.5)
    y = fnp.where(refl, fnp.subtract(1.0, x), x)
    # (no creation functions here: this runs inside lgamma's jvp rule, where they would
    # make tracers of the level being processed)
    acc = fnp.reciprocal(y)
    for k in range(1, 8):
        acc = acc + fnp.reciprocal(y + float(k))
    z = y + 8.0
    inv = fnp.reciprocal(z)
    inv2 = inv * inv
    series = inv2 * (1 / 12 - inv2 * (1 / 120 - inv2 * (1 / 252 - inv2 * (
        1 / 240 - inv2 * (1 / 132 - inv2 * (691 / 32760 - inv2 / 12))))))
    res = fnp.log(z) - 0.5 * inv - series - acc
    # psi(x) = psi(1 - x) - pi / tan(pi x)
    return fnp.where(refl, res - np.pi / fnp.tan(np.pi * fnp.where(refl, x, 0.25)), res)


_TWO_OVER_SQRT_PI = float(2.0 / np.sqrt(np.pi))  # a Python float: float32 stays float32


def erf_inv(x: Any) -> Any:
    """The inverse error function, elementwise (Giles' approximation refined by Newton
    steps; derivative sqrt(pi)/2 exp(erf_inv(x)^2))."""
    from funcad._custom_derivatives import custom_jvp

    @custom_jvp
    def _erf_inv(x):
        w = -fnp.log((1.0 - x) * (1.0 + x))
        small = w < 5.0
        ws = fnp.where(small, w, 5.0) - 2.5
        wl = fnp.sqrt(fnp.where(small, 5.0, w)) - 3.0
        ps = 2.81022636e-08
        for c in (3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087,
                  -0.00125372503, -0.00417768164, 0.246640727, 1.50140941):
            ps = c + ps * ws
        pl = -0.000200214257
        for c in (0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773,
                  -0.0076224613, 0.00943887047, 1.00167406, 2.83297682):
            pl = c + pl * wl
        y = fnp.where(small, ps, pl) * x
        for _ in range(3):  # Newton on erf(y) = x
            y = y - (erf(y) - x) / (_TWO_OVER_SQRT_PI * fnp.exp(-y * y))
        return fnp.where(fnp.abs(x) == 1.0, fnp.copysign(np.inf, x), y)

    @_erf_inv.defjvp
    def _erf_inv_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        y = _erf_inv(x)
        return y, t * (1.0 / _TWO_OVER_SQRT_PI) * fnp.exp(y * y)

    (x,) = fnp._base.promote_inexact(x)
    return _erf_inv(x)


# -- shapes -----------------------------------------------------------------------------------


def broadcast_in_dim(operand: Any, shape: Sequence[int], broadcast_dimensions: Sequence[int]
                     ) -> Any:
    """Broadcast `operand` into `shape`, its dims going to `broadcast_dimensions`."""
    x = _arr(operand)
    if tuple(fnp.shape(x)) == tuple(shape):
        return x
    return st.broadcast_in_dim(x, tuple(int(d) for d in shape),
                               tuple(int(d) for d in broadcast_dimensions))


def broadcast(operand: Any, sizes: Sequence[int]) -> Any:
    """Add leading dimensions of the given sizes."""
    x = _arr(operand)
    nd = fnp.ndim(x)
    return broadcast_in_dim(x, (*sizes, *fnp.shape(x)), tuple(range(len(sizes),
                                                                      len(sizes) + nd)))


def broadcast_to_rank(x: Any, rank: int) -> Any:
    """Add leading dimensions of size 1 up to `rank`."""
    x = _arr(x)
    return fnp.reshape(x, (1,) * (rank - fnp.ndim(x)) + tuple(fnp.shape(x)))


def reshape(operand: Any, new_sizes: Sequence[int], dimensions: Sequence[int] | None = None
            ) -> Any:
    """Reshape (after transposing by `dimensions` if given), row-major."""
    x = _arr(operand)
    if dimensions is not None:
        x = fnp.transpose(x, tuple(dimensions))
    return fnp.reshape(x, tuple(new_sizes))


def transpose(operand: Any, permutation: Sequence[int]) -> Any:
    """Permute dimensions."""
    return fnp.transpose(_arr(operand), tuple(permutation))


def rev(operand: Any, dimensions: Sequence[int]) -> Any:
    """Reverse along `dimensions`."""
    return fnp.flip(_arr(operand), tuple(dimensions)) if len(dimensions) else _arr(operand)


def squeeze(array: Any, dimensions: Sequence[int]) -> Any:
    """Remove the given size-1 dimensions."""
    return fnp.squeeze(_arr(array), tuple(dimensions)) if len(dimensions) else _arr(array)


def expand_dims(array: Any, dimensions: Sequence[int]) -> Any:
    """Insert size-1 dimensions at `dimensions`."""
    return fnp.expand_dims(_arr(array), tuple(dimensions))


def concatenate(operands: Sequence, dimension: int) -> Any:
    """Join arrays along an existing dimension."""
    return fnp.concatenate(list(operands), axis=dimension)


def iota(dtype: Any, size: int) -> Any:
    """0, 1, ..., size - 1 of the given dtype."""
    return fnp.arange(size, dtype=dtype)


def broadcasted_iota(dtype: Any, shape: Sequence[int], dimension: int) -> Any:
    """An array of `shape` counting along `dimension`."""
    return st.iota(np.dtype(dtype), tuple(shape), dimension)


def pad(operand: Any, padding_value: Any, padding_config: Sequence) -> Any:
    """Pad with (low, high, interior) per dimension; negative low/high crop."""
    x = _arr(operand)
    config = [tuple(int(v) for v in c) for c in padding_config]
    if len(config) != fnp.ndim(x):
        raise ValueError(f"pad: padding_config has {len(config)} entries for an operand of "
                         f"rank {fnp.ndim(x)}")
    if any(i < 0 for _, _, i in config):
        raise ValueError("pad: interior padding must be non-negative")
    pv = fnp.astype(_arr(padding_value), x.dtype)
    if fnp.ndim(pv) != 0:
        raise ValueError("pad: padding_value must be a scalar")
    pos = tuple((builtins_max(lo, 0), builtins_max(hi, 0), i) for lo, hi, i in config)
    if any(p != (0, 0, 0) for p in pos):
        x = st.pad_p.bind(x, pv, padding_config=pos)
    if any(lo < 0 or hi < 0 for lo, hi, _ in config):
        idx = tuple(builtins.slice(-lo if lo < 0 else 0, (n + hi) if hi < 0 else n)
                    for (lo, hi, _), n in zip(config, fnp.shape(x)))
        x = x[idx]
    return x


def builtins_max(a: int, b: int) -> int:
    return builtins.max(a, b)


# -- slicing ------------------------------------------------------------------------------------


def slice(operand: Any, start_indices: Sequence[int], limit_indices: Sequence[int],
          strides: Sequence[int] | None = None) -> Any:
    """Static slice operand[start:limit:stride] per dimension."""
    x = _arr(operand)
    return st.slice_(x, tuple(start_indices), tuple(limit_indices),
                     None if strides is None else tuple(strides))


def slice_in_dim(operand: Any, start_index: int | None, limit_index: int | None,
                 stride: int = 1, axis: int = 0) -> Any:
    """Static slice along one axis."""
    x = _arr(operand)
    idx = [builtins.slice(None)] * fnp.ndim(x)
    idx[axis] = builtins.slice(start_index, limit_index, stride)
    return x[tuple(idx)]



def index_in_dim(operand: Any, index: int, axis: int = 0, keepdims: bool = True) -> Any:
    """Static index along one axis (keeping it as size 1 if keepdims)."""
    x = _arr(operand)
    n = fnp.shape(x)[axis]
    index = index + n if index < 0 else index
    y = slice_in_dim(x, index, index + 1, 1, axis)
    return y if keepdims else fnp.squeeze(y, axis)


def _index_operand(i: Any) -> Any:
    i = _arr(i)
    if not np.issubdtype(i.dtype, np.integer):
        raise TypeError(f"index arguments must be integers, got {i.dtype}")
    return fnp.astype(i, np.int64)


def dynamic_slice(operand: Any, start_indices: Sequence, slice_sizes: Sequence[int]) -> Any:
    """operand[start:start + size] per dimension with traced starts (clamped into range)."""
    x = _arr(operand)
    starts = [_index_operand(s) for s in start_indices]
    if len(starts) != fnp.ndim(x) or len(slice_sizes) != fnp.ndim(x):
        raise ValueError(f"dynamic_slice: operand of rank {fnp.ndim(x)} needs that many start "
                         f"indices and slice sizes, got {len(starts)} and {len(slice_sizes)}")
    return st.dynamic_slice_p.bind(x, *starts, slice_sizes=tuple(int(s) for s in slice_sizes))


def dynamic_update_slice(operand: Any, update: Any, start_indices: Sequence) -> Any:
    """operand with `update` written at traced `start_indices` (clamped into range)."""
    x = _arr(operand)
    u = fnp.astype(_arr(update), x.dtype)
    starts = [_index_operand(s) for s in start_indices]
    if len(starts) != fnp.ndim(x) or fnp.ndim(u) != fnp.ndim(x):
        raise ValueError(f"dynamic_update_slice: operand of rank {fnp.ndim(x)} needs an update "
                         f"of the same rank and one start index per dimension")
    return st.dynamic_update_slice_p.bind(x, u, *starts)


def _starts(x: Any, index: Any, axis: int) -> list:
    z = np.zeros((), np.int64)
    return [index if d == axis else z for d in range(fnp.ndim(x))]


def dynamic_slice_in_dim(operand: Any, start_index: Any, slice_size: int, axis: int = 0) -> Any:
    """dynamic_slice along one axis."""
    x = _arr(operand)
    axis = axis % fnp.ndim(x)
    sizes = [slice_size if d == axis else n for d, n in enumerate(fnp.shape(x))]
    return dynamic_slice(x, _starts(x, start_index, axis), sizes)


def dynamic_index_in_dim(operand: Any, index: Any, axis: int = 0, keepdims: bool = True) -> Any:
    """operand at a traced index along one axis."""
    x = _arr(operand)
    axis = axis % fnp.ndim(x)
    y = dynamic_slice_in_dim(x, index, 1, axis)
    return y if keepdims else fnp.squeeze(y, axis)


def dynamic_update_slice_in_dim(operand: Any, update: Any, start_index: Any, axis: int) -> Any:
    """dynamic_update_slice along one axis."""
    x = _arr(operand)
    axis = axis % fnp.ndim(x)
    return dynamic_update_slice(x, update, _starts(x, start_index, axis))


def dynamic_update_index_in_dim(operand: Any, update: Any, index: Any, axis: int) -> Any:
    """Write `update` (with or without the axis) at a traced index along one axis."""
    x = _arr(operand)
    axis = axis % fnp.ndim(x)
    u = _arr(update)
    if fnp.ndim(u) == fnp.ndim(x) - 1:
        u = fnp.expand_dims(u, axis)
    return dynamic_update_slice_in_dim(x, u, index, axis)


# -- products -------------------------------------------------------------------------------------


def dot_general(lhs: Any, rhs: Any, dimension_numbers: Any, precision: Any = None,
                preferred_element_type: Any = None) -> Any:
    """Generalised tensor contraction: ((lhs_contract, rhs_contract), (lhs_batch, rhs_batch));
    output dims are batch, lhs free, rhs free."""
    (lc, rc), (lb, rb) = dimension_numbers
    lhs, rhs = fnp._base.promote(lhs, rhs, dtype=preferred_element_type)
    dn = ((tuple(int(d) for d in lc), tuple(int(d) for d in rc)),
          (tuple(int(d) for d in lb), tuple(int(d) for d in rb)))
    return dot_general_p.bind(lhs, rhs, dimension_numbers=dn)


def dot(lhs: Any, rhs: Any, precision: Any = None, preferred_element_type: Any = None) -> Any:
    """Vector/matrix product of rank-1 or rank-2 operands."""
    lhs, rhs = _arr(lhs), _arr(rhs)
    if fnp.ndim(lhs) not in (1, 2) or fnp.ndim(rhs) not in (1, 2):
        raise TypeError(f"lax.dot needs rank-1 or rank-2 operands, got shapes "
                        f"{fnp.shape(lhs)} and {fnp.shape(rhs)}")
    return dot_general(lhs, rhs, (((fnp.ndim(lhs) - 1,), (0,)), ((), ())),
                       preferred_element_type=preferred_element_type)


def batch_matmul(lhs: Any, rhs: Any, precision: Any = None) -> Any:
    """Batched matrix product over leading dimensions."""
    return fnp.matmul(lhs, rhs)


# -- reductions --------------------------------------------------------------------------------


def reduce_sum(operand: Any, axes: Sequence[int]) -> Any:
    """Sum over `axes`."""
    return fnp.sum(_arr(operand), axis=tuple(axes))


def reduce_prod(operand: Any, axes: Sequence[int]) -> Any:
    """Product over `axes`."""
    return fnp.prod(_arr(operand), axis=tuple(axes))


def reduce_max(operand: Any, axes: Sequence[int]) -> Any:
    """Maximum over `axes`."""
    return fnp.max(_arr(operand), axis=tuple(axes))


def reduce_min(operand: Any, axes: Sequence[int]) -> Any:
    """Minimum over `axes`."""
    return fnp.min(_arr(operand), axis=tuple(axes))


def reduce_and(operand: Any, axes: Sequence[int]) -> Any:
    """Logical and over `axes`."""
    return fnp.all(_arr(operand), axis=tuple(axes))


def reduce_or(operand: Any, axes: Sequence[int]) -> Any:
    """Logical or over `axes`."""
    return fnp.any(_arr(operand), axis=tuple(axes))


def argmax(operand: Any, axis: int, index_dtype: Any) -> Any:
    """Index of the maximum along `axis`."""
    return fnp.astype(fnp.argmax(_arr(operand), axis=axis), index_dtype)


def argmin(operand: Any, axis: int, index_dtype: Any) -> Any:
    """Index of the minimum along `axis`."""
    return fnp.astype(fnp.argmin(_arr(operand), axis=axis), index_dtype)


# -- cumulative reductions and scans -----------------------------------------------------------


def associative_scan(fn: Callable, elems: Any, reverse: bool = False, axis: int = 0) -> Any:
    """Inclusive scan of an associative `fn` over the leading `axis` of the leaves of elems
    (pytrees; Hillis-Steele: log2(n) rounds of `fn` on shifted slices)."""
    leaves, tree = tree_flatten(elems)
    if not leaves:
        return elems
    leaves = [_arr(x) for x in leaves]
    nd = fnp.ndim(leaves[0])
    axis = axis % nd
    n = fnp.shape(leaves[0])[axis]
    if any(fnp.shape(x)[axis] != n for x in leaves):
        raise ValueError("associative_scan: all leaves need the same size along `axis`")
    if reverse:
        leaves = [fnp.flip(x, axis) for x in leaves]

    def take(xs, lo, hi):
        return [slice_in_dim(x, lo, hi, 1, axis) for x in xs]

    s = 1
    while s < n:
        a = tree_unflatten(tree, take(leaves, 0, n - s))
        b = tree_unflatten(tree, take(leaves, s, n))
        # (reverse, as in JAX: the scan of the reversed elements, reversed back)
        combined = tree_flatten(fn(a, b))[0]
        leaves = [fnp.concatenate([head, c], axis=axis)
                  for head, c in zip(take(leaves, 0, s), combined, strict=True)]
        s *= 2
    if reverse:
        leaves = [fnp.flip(x, axis) for x in leaves]
    return tree_unflatten(tree, leaves)


def _cum(fn: Callable, operand: Any, axis: int, reverse: bool) -> Any:
    x = _arr(operand)
    return associative_scan(fn, x, reverse=reverse, axis=axis)


def cumsum(operand: Any, axis: int = 0, reverse: bool = False) -> Any:
    """Cumulative sum along `axis` (from the end if reverse)."""
    from funcad.primitives.reductions import cumsum_p
    x = _arr(operand)
    return cumsum_p.bind(x, axis=axis % fnp.ndim(x), reverse=bool(reverse))


def cumprod(operand: Any, axis: int = 0, reverse: bool = False) -> Any:
    """Cumulative product along `axis`."""
    return _cum(fnp.multiply, operand, axis, reverse)


def cummax(operand: Any, axis: int = 0, reverse: bool = False) -> Any:
    """Cumulative maximum along `axis`."""
    return _cum(fnp.maximum, operand, axis, reverse)


def cummin(operand: Any, axis: int = 0, reverse: bool = False) -> Any:
    """Cumulative minimum along `axis`."""
    return _cum(fnp.minimum, operand, axis, reverse)


def cumlogsumexp(operand: Any, axis: int = 0, reverse: bool = False) -> Any:
    """Cumulative log-sum-exp along `axis`."""
    return _cum(fnp.logaddexp, operand, axis, reverse)


# -- sorting ---------------------------------------------------------------------------------------


def sort(operand: Any, dimension: int = -1, is_stable: bool = True, num_keys: int = 1) -> Any:
    """Sort along `dimension`; a sequence of operands is sorted by its first num_keys
    (lexicographically) and permuted together."""
    single = not isinstance(operand, (list, tuple))
    ops = [_arr(operand)] if single else [_arr(o) for o in operand]
    nd = fnp.ndim(ops[0])
    dim = dimension % nd
    if not 1 <= num_keys <= len(ops):
        raise ValueError(f"sort: num_keys={num_keys} for {len(ops)} operand(s)")
    # (complex keys: lexicographic on (real, imag), as fnp.argsort orders them)
    from funcad.numpy._sorting import _argsort_p
    perm = _argsort_p(ops[num_keys - 1], dim)
    for k in reversed(range(num_keys - 1)):  # stable passes, the primary key last
        sub = _argsort_p(fnp.take_along_axis(ops[k], perm, axis=dim), dim)
        perm = fnp.take_along_axis(perm, sub, axis=dim)
    out = [fnp.take_along_axis(o, perm, axis=dim) for o in ops]
    return out[0] if single else tuple(out)


def sort_key_val(keys: Any, values: Any, dimension: int = -1, is_stable: bool = True) -> tuple:
    """Sort keys and permute values alongside."""
    return sort((keys, values), dimension, is_stable, 1)


def top_k(operand: Any, k: int) -> tuple:
    """The k largest entries along the last axis and their indices (ties: lower index
    first)."""
    x = _arr(operand)
    n = fnp.shape(x)[-1]
    if not 0 <= k <= n:
        raise ValueError(f"top_k: k={k} for a last axis of size {n}")
    idx = fnp.argsort(x, axis=-1, descending=True)[..., :k]
    return fnp.take_along_axis(x, idx, axis=-1), fnp.astype(idx, np.int32)


# -- windows: reduce_window and convolutions -------------------------------------------------------


def padtype_to_pads(in_shape: Sequence[int], window_shape: Sequence[int],
                    window_strides: Sequence[int], padding: str) -> list[tuple[int, int]]:
    """Explicit (low, high) pads for padding 'SAME', 'SAME_LOWER' or 'VALID'."""
    p = padding.upper() if isinstance(padding, str) else padding
    if p == "VALID":
        return [(0, 0)] * len(in_shape)
    if p in ("SAME", "SAME_LOWER"):
        out = []
        for n, w, s in zip(in_shape, window_shape, window_strides, strict=True):
            o = -(-n // s)
            need = builtins_max(0, (o - 1) * s + w - n)
            lo = need // 2 if p == "SAME" else -(-need // 2)
            out.append((lo, need - lo))
        return out
    raise ValueError(f"padding must be 'SAME', 'SAME_LOWER', 'VALID' or (low, high) pairs, got "
                     f"{padding!r}")


def _pads(padding: Any, in_shape, window_shape, strides) -> list[tuple[int, int]]:
    if isinstance(padding, str):
        return padtype_to_pads(in_shape, window_shape, strides, padding)
    pads = [tuple(int(v) for v in p) for p in padding]
    if len(pads) != len(in_shape):
        raise ValueError(f"padding has {len(pads)} pairs for {len(in_shape)} dimensions")
    return pads


def _windows(x: Any, window: Sequence[int], strides: Sequence[int],
             dilation: Sequence[int], first_dim: int):
    """Yield, for each window offset, the strided slice of x (dims from first_dim on)."""
    shp = fnp.shape(x)
    nd = len(shp)
    eff = [(w - 1) * d + 1 for w, d in zip(window, dilation, strict=True)]
    outs = [(shp[first_dim + i] - e) // s + 1 if shp[first_dim + i] >= e else 0
            for i, (e, s) in enumerate(zip(eff, strides, strict=True))]
    for offs in itertools.product(*[range(w) for w in window]):
        start = [0] * nd
        limit = list(shp)
        step = [1] * nd
        for i, (o, d, s, n_out) in enumerate(zip(offs, dilation, strides, outs, strict=True)):
            start[first_dim + i] = o * d
            limit[first_dim + i] = o * d + s * (n_out - 1) + 1 if n_out else o * d
            step[first_dim + i] = s
        yield st.slice_(x, tuple(start), tuple(limit), tuple(step))


def reduce_window(operand: Any, init_value: Any, computation: Callable,
                  window_dimensions: Sequence[int], window_strides: Sequence[int],
                  padding: Any, base_dilation: Sequence[int] | None = None,
                  window_dilation: Sequence[int] | None = None) -> Any:
    """Reduce each window of `operand` with the binary `computation` (e.g. lax.add, lax.max),
    starting from `init_value`, which also fills padding and base-dilation holes."""
    x = _arr(operand)
    nd = fnp.ndim(x)
    window_strides = tuple(window_strides) if window_strides is not None else (1,) * nd
    base_dilation = tuple(base_dilation or (1,) * nd)
    window_dilation = tuple(window_dilation or (1,) * nd)
    if not (len(window_dimensions) == len(window_strides) == nd):
        raise ValueError(f"reduce_window: window_dimensions and window_strides need {nd} "
                         f"entries for an operand of rank {nd}")
    dilated = [(n - 1) * b + 1 if n else 0 for n, b in zip(fnp.shape(x), base_dilation)]
    eff = [(w - 1) * d + 1 for w, d in zip(window_dimensions, window_dilation)]
    pads = _pads(padding, dilated, eff, window_strides)
    init = fnp.astype(_arr(init_value), x.dtype)
    x = pad(x, init, [(lo, hi, b - 1) for (lo, hi), b in zip(pads, base_dilation)])
    acc = None
    for sl in _windows(x, window_dimensions, window_strides, window_dilation, 0):
        acc = computation(init, sl) if acc is None else computation(acc, sl)
    return acc


def _conv_specs(dimension_numbers: Any, nd: int):
    """(lhs_perm, rhs_perm, out_perm): each array's dims in (N|O, C|I, spatial...) order."""
    if dimension_numbers is None:
        p = tuple(range(nd))
        return p, p, p
    if len(dimension_numbers) == 3 and all(isinstance(s, str) for s in dimension_numbers):
        lhs_s, rhs_s, out_s = dimension_numbers
        if not (len(lhs_s) == len(rhs_s) == len(out_s) == nd):
            raise ValueError(f"conv: dimension_numbers {dimension_numbers} do not match "
                             f"rank {nd}")

        def perm(spec, a, b):
            spatial = sorted((i for i, c in enumerate(spec) if c not in (a, b)),
                             key=lambda i: rhs_s.index(spec[i]))
            return (spec.index(a), spec.index(b), *spatial)
        return perm(lhs_s, "N", "C"), perm(rhs_s, "O", "I"), perm(out_s, "N", "C")
    lhs_p, rhs_p, out_p = dimension_numbers
    return tuple(lhs_p), tuple(rhs_p), tuple(out_p)


def conv_general_dilated(lhs: Any, rhs: Any, window_strides: Sequence[int], padding: Any,
                         lhs_dilation: Sequence[int] | None = None,
                         rhs_dilation: Sequence[int] | None = None,
                         dimension_numbers: Any = None, feature_group_count: int = 1,
                         batch_group_count: int = 1, precision: Any = None,
                         preferred_element_type: Any = None) -> Any:
    """N-d convolution (cross-correlation, as in XLA) with strides, padding, lhs/rhs
    dilation, layouts given by dimension_numbers (e.g. ('NHWC', 'HWIO', 'NHWC')), feature
    groups and batch groups."""
    lhs, rhs = fnp._base.promote(lhs, rhs, dtype=preferred_element_type)
    nd = fnp.ndim(lhs)
    if fnp.ndim(rhs) != nd or nd < 3:
        raise ValueError(f"conv: lhs and rhs need the same rank >= 3, got shapes "
                         f"{fnp.shape(lhs)} and {fnp.shape(rhs)}")
    bg = operator.index(batch_group_count)
    fg = operator.index(feature_group_count)
    if bg < 1 or fg < 1:
        raise ValueError(f"conv_general_dilated: batch_group_count and feature_group_count "
                         f"must be positive, got {bg} and {fg}")
    if bg > 1 and fg > 1:
        raise ValueError(f"conv_general_dilated: At most one of batch_group_count and "
                         f"feature_group_count may be > 1, got batch_group_count={bg} and "
                         f"feature_group_count={fg}")
    nsp = nd - 2
    lhs_perm, rhs_perm, out_perm = _conv_specs(dimension_numbers, nd)
    x = fnp.transpose(lhs, lhs_perm)  # N, C, spatial
    w = fnp.transpose(rhs, rhs_perm)  # O, I, spatial
    strides = tuple(window_strides) if window_strides is not None else (1,) * nsp
    lhs_dilation = tuple(lhs_dilation or (1,) * nsp)
    rhs_dilation = tuple(rhs_dilation or (1,) * nsp)
    n, c = fnp.shape(x)[:2]
    o, i = fnp.shape(w)[:2]
    g = fg
    if bg > 1 and (n % bg or o % bg):
        raise ValueError(f"conv_general_dilated: batch_group_count={bg} must divide the lhs "
                         f"batch size ({n}) and the number of output features ({o})")
    if c != i * g or o % g:
        raise ValueError(f"conv: lhs has {c} features, rhs expects {i} per group with "
                         f"feature_group_count={g} and {o} output features")
    ksize = fnp.shape(w)[2:]
    eff = [(k - 1) * d + 1 for k, d in zip(ksize, rhs_dilation)]
    pads = _pads(padding, fnp.shape(x)[2:], eff, strides)
    zero = np.zeros((), x.dtype)
    x = pad(x, zero, [(0, 0, 0), (0, 0, 0)] + [(lo, hi, d - 1) for (lo, hi), d in
                                               zip(pads, lhs_dilation)])
    patches = fnp.stack(list(_windows(x, ksize, strides, rhs_dilation, 2)))  # K, N, C, out...
    kk = math.prod(ksize)
    w = fnp.reshape(w, (o, i, kk))
    og = o // g
    if bg > 1:
        # XLA's batch groups: the batch splits into bg groups (group-major), and group b of
        # the output features (o // bg of them) sees only batch group b; out's batch is
        # n // bg. (JAX's weight gradient of a feature-grouped conv.)
        nb, ob = n // bg, o // bg
        outs = [fnp.einsum("knc...,ock->no...", patches[:, b * nb:(b + 1) * nb],
                           w[b * ob:(b + 1) * ob]) for b in range(bg)]
    else:
        outs = []
        for gi in range(g):
            pg = patches[:, :, gi * i:(gi + 1) * i]
            wg = w[gi * og:(gi + 1) * og]
            outs.append(fnp.einsum("knc...,ock->no...", pg, wg))
    out = outs[0] if len(outs) == 1 else fnp.concatenate(outs, axis=1)
    return fnp.transpose(out, tuple(int(v) for v in np.argsort(out_perm)))


def conv(lhs: Any, rhs: Any, window_strides: Sequence[int], padding: Any, precision: Any = None,
         preferred_element_type: Any = None) -> Any:
    """conv_general_dilated in the NCHW / OIHW layout without dilation."""
    return conv_general_dilated(lhs, rhs, window_strides, padding, precision=precision,
                                preferred_element_type=preferred_element_type)


def conv_with_general_padding(lhs: Any, rhs: Any, window_strides: Sequence[int], padding: Any,
                              lhs_dilation: Sequence[int] | None,
                              rhs_dilation: Sequence[int] | None, precision: Any = None,
                              preferred_element_type: Any = None) -> Any:
    """conv_general_dilated in the NCHW / OIHW layout."""
    return conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation,
                                precision=precision,
                                preferred_element_type=preferred_element_type)


def conv_dimension_numbers(lhs_shape: Sequence[int], rhs_shape: Sequence[int],
                           dimension_numbers: Any) -> tuple:
    """The (lhs, rhs, out) dimension permutations of a dimension_numbers spec."""
    return _conv_specs(dimension_numbers, len(lhs_shape))


def conv_general_permutations(dimension_numbers: Any) -> tuple:
    """The (lhs, rhs, out) dimension permutations of a string spec such as
    ('NHWC', 'HWIO', 'NHWC'), each in (N|O, C|I, spatial...) order."""
    for spec, (a, b) in zip(dimension_numbers, (("N", "C"), ("O", "I"), ("N", "C")),
                            strict=True):
        if not spec.count(a) == spec.count(b) == 1 or len(spec) != len(set(spec)):
            raise TypeError(f"conv: dimension_numbers entry {spec!r} must contain {a!r} and "
                            f"{b!r} exactly once and no repeated characters")
    return _conv_specs(tuple(dimension_numbers), len(dimension_numbers[0]))


def conv_shape_tuple(lhs_shape: Sequence[int], rhs_shape: Sequence[int],
                     strides: Sequence[int], pads: Any, batch_group_count: int = 1) -> tuple:
    """The output shape of a conv with lhs (N, C, spatial...) and rhs (O, I, spatial...)."""
    pads = _pads(pads, tuple(lhs_shape[2:]), tuple(rhs_shape[2:]), strides)
    padded = [n + lo + hi for n, (lo, hi) in zip(lhs_shape[2:], pads, strict=True)]
    if any(p < 0 for p in padded):
        raise ValueError(f"conv: negative padding {pads} is larger than the dimensions "
                         f"{tuple(lhs_shape[2:])}")
    space = tuple(builtins_max(0, (p - k) // s + 1) if p >= k else 0
                  for p, k, s in zip(padded, rhs_shape[2:], strides, strict=True))
    return (lhs_shape[0] // batch_group_count, rhs_shape[0]) + space


def conv_general_shape_tuple(lhs_shape: Sequence[int], rhs_shape: Sequence[int],
                             window_strides: Sequence[int], padding: Any,
                             dimension_numbers: Any) -> tuple:
    """The output shape of conv_general_dilated (no dilation) in the given layouts."""
    lhs_perm, rhs_perm, out_perm = conv_general_permutations(dimension_numbers)
    out = conv_shape_tuple([lhs_shape[i] for i in lhs_perm], [rhs_shape[i] for i in rhs_perm],
                           window_strides, padding)
    return tuple(int(out[i]) for i in np.argsort(out_perm))


def _conv_transpose_padding(k: int, s: int, padding: Any) -> tuple[int, int]:
    # the (low, high) pads of the fractionally strided conv that a 'SAME' or 'VALID'
    # forward conv (or explicit forward pads) corresponds to, as JAX's
    if padding == "SAME":
        pad_len = k + s - 2
        pad_a = k - 1 if s > k - 1 else int(np.ceil(pad_len / 2))
    elif padding == "VALID":
        pad_len = k + s - 2 + builtins_max(k - s, 0)
        pad_a = k - 1
    elif isinstance(padding, tuple):
        pads = tuple(k - p - 1 for p in padding)
        pad_a, pad_len = pads[0], sum(pads)
    else:
        raise ValueError(f"conv_transpose: invalid padding {padding!r} (use 'SAME', 'VALID' "
                         "or (low, high) pairs)")
    return pad_a, pad_len - pad_a


def conv_transpose_shape_tuple(lhs_shape: Sequence[int], rhs_shape: Sequence[int],
                               window_strides: Sequence[int], padding: Any,
                               dimension_numbers: Any) -> tuple:
    """The output shape of conv_transpose in the given layouts."""
    lhs_perm, rhs_perm, out_perm = conv_general_permutations(dimension_numbers)
    lhs_t = [lhs_shape[i] for i in lhs_perm]
    rhs_t = [rhs_shape[i] for i in rhs_perm]
    if isinstance(padding, str):
        padding = [_conv_transpose_padding(k, s, padding)
                   for k, s in zip(rhs_t[2:], window_strides, strict=True)]
    padding = [sum(p) for p in padding]
    space = [(i - 1) * s - k + 2 + p
             for i, k, s, p in zip(lhs_t[2:], rhs_t[2:], window_strides, padding, strict=True)]
    out = (lhs_t[0], rhs_t[0], *space)
    return tuple(int(out[i]) for i in np.argsort(out_perm))


def conv_transpose(lhs: Any, rhs: Any, strides: Sequence[int], padding: Any,
                   rhs_dilation: Sequence[int] | None = None, dimension_numbers: Any = None,
                   transpose_kernel: bool = False, precision: Any = None,
                   preferred_element_type: Any = None,
                   use_consistent_padding: bool = False) -> Any:
    """The N-d "transposed" convolution (a fractionally strided conv), as jax.lax's:
    'SAME' and 'VALID' (and, with use_consistent_padding, explicit pairs) name the padding
    of the forward conv; explicit pairs otherwise pad the transposed conv itself. The
    default layouts are TensorFlow's (NHC/HIO/NHC, NHWC/HWIO/NHWC, NHWDC/HWDIO/NHWDC);
    transpose_kernel flips the spatial axes and swaps I and O, as Keras's Conv2DTranspose.
    """
    nd = fnp.ndim(lhs)
    if fnp.ndim(rhs) != nd or nd < 3:
        raise ValueError(f"conv_transpose: lhs and rhs need the same rank >= 3, got shapes "
                         f"{fnp.shape(lhs)} and {fnp.shape(rhs)}")
    if dimension_numbers is None:
        dimension_numbers = {3: ("NHC", "HIO", "NHC"), 4: ("NHWC", "HWIO", "NHWC"),
                             5: ("NHWDC", "HWDIO", "NHWDC")}.get(nd)
        if dimension_numbers is None:
            raise ValueError("conv_transpose: no default dimension_numbers for rank "
                             f"{nd}; pass dimension_numbers")
    _, rhs_perm, _ = _conv_specs(dimension_numbers, nd)
    k_sdims = [fnp.shape(rhs)[i] for i in rhs_perm[2:]]
    rhs_dilation = tuple(rhs_dilation or (1,) * (nd - 2))
    if use_consistent_padding or (isinstance(padding, str) and padding in ("SAME", "VALID")):
        eff = [(k - 1) * r + 1 for k, r in zip(k_sdims, rhs_dilation, strict=True)]
        rep = [padding] * len(strides) if isinstance(padding, str) else [tuple(p) for p in
                                                                         padding]
        pads = [_conv_transpose_padding(k, s, p) for k, s, p in zip(eff, strides, rep,
                                                                    strict=True)]
    else:
        pads = padding
    if transpose_kernel:
        rhs = fnp.flip(rhs, tuple(rhs_perm[2:]))
        rhs = fnp.swapaxes(rhs, rhs_perm[0], rhs_perm[1])
    return conv_general_dilated(lhs, rhs, (1,) * (nd - 2), pads, tuple(strides), rhs_dilation,
                                dimension_numbers, precision=precision,
                                preferred_element_type=preferred_element_type)


def reduce_window_shape_tuple(operand_shape: Sequence[int], window_dimensions: Sequence[int],
                              window_strides: Sequence[int], padding: Sequence,
                              base_dilation: Sequence[int] | None = None,
                              window_dilation: Sequence[int] | None = None) -> tuple:
    """The output shape of reduce_window with explicit (low, high) padding pairs."""
    shape = list(operand_shape)
    if base_dilation is not None:
        shape = [0 if n == 0 else (n - 1) * b + 1 for n, b in zip(shape, base_dilation)]
    window = list(window_dimensions)
    if window_dilation is not None:
        window = [0 if w == 0 else (w - 1) * d + 1 for w, d in zip(window, window_dilation)]
    padded = [n + lo + hi for n, (lo, hi) in zip(shape, padding, strict=True)]
    return tuple(0 if p < w else (p - w) // s + 1
                 for p, w, s in zip(padded, window, window_strides, strict=True))



# -- lax.reduce: a reduction with any binary computation -------------------------------------

_MONOIDS = {}  # filled below: computation -> (reduction, identity test)


def reduce(operands: Any, init_values: Any, computation: Callable,
           dimensions: Sequence[int]) -> Any:
    """Reduce `operands` over `dimensions` with the binary `computation`, starting from
    init_values (pytrees allowed; lax.add/mul/max/min and the logical ops use the fused
    reductions, other computations fold the slices one by one)."""
    leaves, tree = tree_flatten(operands)
    inits = tree_flatten(init_values)[0]
    if len(leaves) != len(inits):
        raise ValueError("reduce: operands and init_values must have the same structure")
    leaves = [_arr(x) for x in leaves]
    dims = tuple(sorted(int(d) % fnp.ndim(leaves[0]) for d in dimensions))
    fused = _MONOIDS.get(computation)
    if fused is not None and len(leaves) == 1:
        out = fused(leaves[0], dims) if dims else leaves[0]
        return tree_unflatten(tree, [computation(fnp.astype(_arr(inits[0]), out.dtype), out)])
    acc = [fnp.broadcast_to(fnp.astype(_arr(v), x.dtype), tuple(
        n for d, n in enumerate(fnp.shape(x)) if d not in dims)) for v, x in zip(inits, leaves)]
    moved = [fnp.moveaxis(x, dims, tuple(range(len(dims)))) for x in leaves]
    count = math.prod(fnp.shape(moved[0])[:len(dims)])
    flat = [fnp.reshape(x, (count, *fnp.shape(x)[len(dims):])) for x in moved]
    for k in range(count):
        a = tree_unflatten(tree, acc)
        b = tree_unflatten(tree, [x[k] for x in flat])
        acc = tree_flatten(computation(a, b))[0]
    return tree_unflatten(tree, acc)


_MONOIDS.update({
    add: lambda x, d: fnp.sum(x, axis=d), mul: lambda x, d: fnp.prod(x, axis=d),
    max: lambda x, d: fnp.max(x, axis=d), min: lambda x, d: fnp.min(x, axis=d),
})
