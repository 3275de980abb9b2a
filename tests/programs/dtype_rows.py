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


# Weak types: expressions in `jnp`, `lax` and `jax` (JAX's modules, or funcad's under the
# same names) on the values of WEAK_SETUP. The recorded entry is the result's dtype, with a
# "*" when it is weakly typed (a Python number's type, which yields to the other operand's
# dtype in promotion: `W * F32` is float32).
WEAK_SETUP = """
I32 = jnp.array([1, 2, 3], jnp.int32)
F32 = jnp.ones(3, jnp.float32)
W = I32 * 0.5
M = jnp.arange(6).reshape(2, 3) * 0.5
"""
WEAK_ROWS = {
    # where weak types come from
    "I32 * 0.5": "I32 * 0.5", "0.5 * I32": "0.5 * I32", "I32 / 2.0": "I32 / 2.0",
    "I32 / 2": "I32 / 2", "I32 + 1": "I32 + 1", "pi * I32": "jnp.pi * I32",
    "arange(3) * 0.5": "jnp.arange(3) * 0.5", "ones(3) * 0.5": "jnp.ones(3) * 0.5",
    "asarray(0.5)": "jnp.asarray(0.5)", "array(0.5)": "jnp.array(0.5)",
    "asarray(2)": "jnp.asarray(2)", "asarray(True)": "jnp.asarray(True)",
    "asarray(1j)": "jnp.asarray(1j)", "array([0.5, 1.0])": "jnp.array([0.5, 1.0])",
    "float64(0.5)": "jnp.float64(0.5)", "full((2,), 0.5)": "jnp.full((2,), 0.5)",
    "zeros(3)": "jnp.zeros(3)", "sin(0.5)": "jnp.sin(0.5)", "sqrt(2)": "jnp.sqrt(2)",
    "lax.sin(0.5)": "lax.sin(0.5)", "lax.mul(2.0, 3.0)": "lax.mul(2.0, 3.0)",
    "linspace(0, 1, 3)": "jnp.linspace(0.0, 1.0, 3)", "arange(3.0)": "jnp.arange(3.0)",
    # how they propagate: elementwise, structural, indexing, contractions
    "cos(W)": "jnp.cos(W)", "tanh(W)": "jnp.tanh(W)", "abs(W)": "abs(W)", "-W": "-W",
    "W + 1": "W + 1", "1 - W": "1 - W", "W / 2": "W / 2", "W // 2": "W // 2",
    "W ** 2": "W ** 2", "W ** I32": "W ** I32", "2.0 ** I32": "2.0 ** I32",
    "W > 0": "W > 0", "isnan(W)": "jnp.isnan(W)", "round(W)": "jnp.round(W)",
    "floor(W)": "jnp.floor(W)", "sign(W)": "jnp.sign(W)", "clip(W, 0, 1)": "jnp.clip(W, 0, 1)",
    "maximum(W, 0.0)": "jnp.maximum(W, 0.0)", "maximum(W, F32)": "jnp.maximum(W, F32)",
    "minimum(1.0, I32 / 10)": "jnp.minimum(1.0, I32 / 10)",
    "W[1:]": "W[1:]", "W[0]": "W[0]", "W[::-1]": "W[::-1]", "M.T": "M.T",
    "M.reshape(-1)": "M.reshape(-1)", "M.ravel()": "M.ravel()", "W.copy()": "W.copy()",
    "squeeze(W[None])": "jnp.squeeze(W[None])", "expand_dims(W, 0)": "jnp.expand_dims(W, 0)",
    "moveaxis(M, 0, 1)": "jnp.moveaxis(M, 0, 1)", "broadcast_to(W, (2, 3))":
    "jnp.broadcast_to(W, (2, 3))", "tile(W, 2)": "jnp.tile(W, 2)",
    "repeat(W, 2)": "jnp.repeat(W, 2)", "roll(W, 1)": "jnp.roll(W, 1)",
    "sort(W)": "jnp.sort(W)", "take(W, [0, 2])": "jnp.take(W, jnp.array([0, 2]))",
    "W[[0, 2]]": "W[jnp.array([0, 2])]", "concatenate([W, W])": "jnp.concatenate([W, W])",
    "concatenate([W, F64])": "jnp.concatenate([W, jnp.ones(3)])",
    "stack([W, W])": "jnp.stack([W, W])", "where(W > 1, W, 0)": "jnp.where(W > 1, W, 0)",
    "where(I32 > 1, 1.0, 0.0)": "jnp.where(I32 > 1, 1.0, 0.0)",
    "where(I32 > 1, W, F32)": "jnp.where(I32 > 1, W, F32)",
    "lax.select": "lax.select(I32 > 1, W, W)", "W.at[0].set(1.0)": "W.at[0].set(1.0)",
    "W.at[0].add(1.0)": "W.at[0].add(1.0)",
    "dynamic_slice(W)": "lax.dynamic_slice(W, (1,), (2,))", "dot(W, W)": "jnp.dot(W, W)",
    "M @ M.T": "M @ M.T", "outer(W, W)": "jnp.outer(W, W)",
    "einsum(i,i->)": "jnp.einsum('i,i->', W, W)", "zeros_like(W)": "jnp.zeros_like(W)",
    "ones_like(W)": "jnp.ones_like(W)", "full_like(W, 2.0)": "jnp.full_like(W, 2.0)",
    "asarray(W)": "jnp.asarray(W)", "array(W)": "jnp.array(W)",
    # where they end: reductions, explicit dtypes, strong operands
    "sum(W)": "jnp.sum(W)", "W.sum()": "W.sum()", "mean(W)": "jnp.mean(W)",
    "max(W)": "jnp.max(W)", "W.min()": "W.min()", "prod(W)": "jnp.prod(W)",
    "var(W)": "jnp.var(W)", "argmax(W)": "jnp.argmax(W)", "cumsum(W)": "jnp.cumsum(W)",
    "norm(W)": "jnp.linalg.norm(W)", "W.astype(float32)": "W.astype(jnp.float32)",
    "W.astype(float64)": "W.astype(jnp.float64)", "I32.astype(float)": "I32.astype(float)",
    "convert(I32, f64)": "lax.convert_element_type(I32, jnp.float64)",
    "convert(W, f32)": "lax.convert_element_type(W, jnp.float32)",
    "W * F32": "W * F32", "W @ F32": "W @ F32", "W[0] * F32": "W[0] * F32",
    "cos(I32 / 10.0) * F32": "jnp.cos(I32 / 10.0) * F32",
    "float(W[0]) * F32": "float(W[0]) * F32", "sum(W) * F32": "W.sum() * F32",
    # through transforms and control flow
    "jit(x: x)(2.0)": "jax.jit(lambda x: x)(2.0)", "jit(x: x * 2)(W)": "jax.jit(lambda x: x * 2)(W)",
    "jit(x: x + 1.0)(I32)": "jax.jit(lambda x: x + 1.0)(I32)",
    "jit(sum)(W)": "jax.jit(jnp.sum)(W)", "jit(x, y: x * y)(W, F32)":
    "jax.jit(lambda x, y: x * y)(W, F32)",
    "jit(jit)(W)": "jax.jit(lambda x: jax.jit(lambda y: y * 2)(x))(W)",
    "grad(x: x * x)(2.0)": "jax.grad(lambda x: x * x)(2.0)",
    "grad(sin)(W[0])": "jax.grad(jnp.sin)(W[0])",
    "jit(grad(sin))(W[0])": "jax.jit(jax.grad(jnp.sin))(W[0])",
    "vmap(x: x * 0.5)(I32)": "jax.vmap(lambda x: x * 0.5)(I32)",
    "vmap(x: x * 2)(W)": "jax.vmap(lambda x: x * 2)(W)",
    "jit(vmap(x: x * 0.5))(I32)": "jax.jit(jax.vmap(lambda x: x * 0.5))(I32)",
    "jvp(sin)": "jax.jvp(jnp.sin, (W,), (W,))[1]",
    "cond(I32 * 0.5)": "lax.cond(True, lambda x: x * 0.5, lambda x: x * 0.25, I32)",
    "cond(W)": "lax.cond(True, lambda x: x * 2, lambda x: x, W)",
    "scan carry 0.0": "lax.scan(lambda c, x: (c + x * 0.5, None), 0.0, I32)[0]",
    "scan ys": "lax.scan(lambda c, x: (c + x, c * x), 0.0, W)[1]",
    "fori_loop 0.0": "lax.fori_loop(0, 3, lambda i, c: c + i * 0.5, 0.0)",
    "while_loop 1.0": "lax.while_loop(lambda c: c < 10, lambda c: c * 2, 1.0)",
    "jit(cond)(I32)": ("jax.jit(lambda i: lax.cond(True, lambda x: x * 0.5, lambda x: x * 0.25, "
                       "i))(I32)"),
}


def weak_dtype(x) -> str:
    """'float64', or 'float64*' for a weakly typed value (JAX's or funcad's)."""
    import numpy
    dt = str(numpy.dtype(x.dtype))
    return dt + ("*" if getattr(x, "weak_type", False) else "")
