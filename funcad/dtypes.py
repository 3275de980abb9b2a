"""funcad.dtypes: the common names of jax.dtypes (funcad is always 64-bit, as JAX with
jax_enable_x64; there is no bfloat16 and no extended/PRNG-key dtype)."""

from __future__ import annotations

from typing import Any

import numpy as np

from funcad._api_extra import float0
from funcad._dtypes import result_type_weak as _result_type_weak

__all__ = ["canonicalize_dtype", "finfo", "float0", "iinfo", "issubdtype", "result_type",
           "scalar_type_of"]

finfo = np.finfo
iinfo = np.iinfo


def canonicalize_dtype(dtype: Any, allow_extended_dtype: bool = False) -> np.dtype:
    """The dtype funcad uses for `dtype` (itself: x64 is always on)."""
    return np.dtype(dtype)


def issubdtype(a: Any, b: Any) -> bool:
    """numpy.issubdtype (funcad has no extended dtypes)."""
    return bool(np.issubdtype(a, b))


def result_type(*args: Any, return_weak_type_flag: bool = False):
    """The dtype of combining values by JAX's promotion rules (optionally with the weak
    flag)."""
    dtype, weak = _result_type_weak(*args)
    return (dtype, weak) if return_weak_type_flag else dtype


def scalar_type_of(x: Any) -> type:
    """The Python scalar type (bool, int, float, complex) of a value's dtype."""
    from funcad._core import get_aval
    dt = np.dtype(get_aval(x).dtype) if not isinstance(x, (np.dtype, type)) else np.dtype(x)
    if dt == np.bool_:
        return bool
    if dt.kind in "iu":
        return int
    if dt.kind == "f":
        return float
    if dt.kind == "c":
        return complex
    raise TypeError(f"scalar_type_of: no scalar type for dtype {dt}")
