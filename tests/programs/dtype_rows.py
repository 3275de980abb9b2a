"""The rows of tests/test_dtypes.py: dtype kinds, sample values and the function tables
(shared by the test and by record_jax_dtypes.py, which records JAX's dtypes for them)."""

from __future__ import annotations

import numpy as np

KINDS = ["bool", "uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64",
         "float32", "float64", "complex64", "complex128", "pyint", "pyfloat", "pycomplex"]
PY_SCALARS = {"pyint": 2, "pyfloat": 0.5, "pycomplex": 1 + 2j}

DTYPE_ARGS = {
    "f32": np.float32(1.5) * np.ones(3, np.float32), "f64": np.linspace(0.5, 1.5, 3),
    "i64": np.array([1, 2, 3]), "i32": np.array([1, 2, 3], np.int32),
    "bool": np.array([True, False, True]), "pyint": 2, "pyfloat": 0.5,
    "f32s": np.float32(0.25),
}
DTYPE_UNARY = ["sin", "exp", "log", "sqrt", "tanh", "negative", "square", "abs", "sign",
               "floor", "round", "isnan", "cumsum", "sum", "mean", "prod", "max", "var",
               "argmax", "ravel", "flip", "std", "average", "median", "cumprod", "arctanh"]
DTYPE_BINARY = ["add", "subtract", "multiply", "divide", "power", "maximum", "arctan2",
                "logaddexp", "equal", "less", "dot", "matmul", "inner", "outer",
                "floor_divide", "remainder", "hypot", "float_power"]
DTYPE_PAIRS = [("f32", "f32"), ("f32", "f64"), ("f32", "pyfloat"), ("f32", "pyint"),
               ("i64", "pyfloat"), ("i32", "f32"), ("i64", "i32"), ("f32s", "f64"),
               ("bool", "i64"), ("pyfloat", "f32"), ("i64", "i64"), ("i32", "i32"),
               ("i32", "pyint"), ("bool", "bool")]


def value(kind):
    """A sample of a kind: a Python scalar, or a 2-element array of that dtype."""
    return PY_SCALARS[kind] if kind in PY_SCALARS else np.ones(2, kind)
