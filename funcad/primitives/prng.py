"""Primitives of funcad.random: the threefry2x32 block cipher and a stable argsort.

Both are integer-valued (no derivatives: members of `nondiff_primitives`). Their Numba
lowering rules live in funcad/lowering/numba/special_rules.py.
"""

from __future__ import annotations

import numpy as np

from funcad._core import ShapedArray, abstract_eval_rules, batch_rules, impl_rules
from funcad.interpreters.batching import moveaxis
from funcad.primitives._util import (
    elementwise_batch,
    new_primitive,
    nondiff_primitives,
    same_shape_dtype,
)

# -- threefry2x32: (k1, k2, x1, x2) uint32 -> (y1 << 32) | y2 as uint64 --------------------
# The Threefry-2x32 hash with 20 rounds (Salmon et al. 2011), keyed as in JAX's default
# PRNG. The two output words are packed into one uint64 so that the primitive stays a
# single-output elementwise op that fuses into loop nests; JAX's 64-bit random bits are
# exactly this packing, its 32-bit bits are y1 ^ y2.

threefry2x32_p = new_primitive("threefry2x32")

THREEFRY_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
THREEFRY_PARITY = 0x1BD11BDA


def _rotl32(v, r):
    return (v << np.uint32(r)) | (v >> np.uint32(32 - r))


def _threefry2x32_impl(k1, k2, x1, x2):
    k1, k2, x1, x2 = (np.asarray(a, np.uint32) for a in (k1, k2, x1, x2))
    with np.errstate(over="ignore"):  # additions wrap modulo 2**32 (0-d arrays warn)
        return _threefry2x32_rounds(k1, k2, x1, x2)


def _threefry2x32_rounds(k1, k2, x1, x2):
    ks = (k1, k2, k1 ^ k2 ^ np.uint32(THREEFRY_PARITY))
    x = [x1 + ks[0], x2 + ks[1]]
    for i in range(5):
        for r in THREEFRY_ROTATIONS[i % 2]:
            x[0] = x[0] + x[1]
            x[1] = _rotl32(x[1], r) ^ x[0]
        x[0] = x[0] + ks[(i + 1) % 3]
        x[1] = x[1] + ks[(i + 2) % 3] + np.uint32(i + 1)
    out = (x[0].astype(np.uint64) << np.uint64(32)) | x[1].astype(np.uint64)
    return out if out.ndim else np.uint64(out)


def _threefry2x32_aval(k1, k2, x1, x2):
    a = same_shape_dtype("threefry2x32", k1, k2, x1, x2)
    if a.dtype != np.uint32:
        raise TypeError(f"threefry2x32 needs uint32 operands, got {a.dtype.name}")
    return ShapedArray(a.shape, np.dtype(np.uint64))


impl_rules[threefry2x32_p] = _threefry2x32_impl
abstract_eval_rules[threefry2x32_p] = _threefry2x32_aval
elementwise_batch(threefry2x32_p)
nondiff_primitives.add(threefry2x32_p)


def threefry2x32(k1, k2, x1, x2):
    """Threefry-2x32 of counters (x1, x2) under key (k1, k2), packed as uint64."""
    return threefry2x32_p.bind(k1, k2, x1, x2)


# -- argsort: the stable sort permutation of funcad.primitives.reductions, last axis ------


def argsort(x):
    """Indices that sort `x` along its last axis (stable: ties keep their order)."""
    from funcad._core import get_aval
    from funcad.primitives.reductions import argsort_p
    return argsort_p.bind(x, axis=len(get_aval(x).shape) - 1, index_dtype=np.dtype(np.int64))


__all__ = ["argsort", "threefry2x32", "threefry2x32_p"]
