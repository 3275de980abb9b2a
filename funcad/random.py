"""funcad.random: JAX's key-based PRNG (threefry2x32), bit for bit.

Keys are JAX's: `PRNGKey(seed)` gives a raw key (a uint32 array of shape (2,)), `key(seed)`
a typed key array (`PRNGKeyArray`: shape (), dtype `key<fry>`, a pytree leaf as in JAX,
over uint32 data); `key_data` and `wrap_key_data` convert, and every function accepts both
(`split` and `fold_in` return keys of the kind they were given). The generator is JAX's default
`threefry2x32` with `jax_threefry_partitionable` on (JAX's default since 0.5): the same key
gives the same bits as JAX, hence the same `split`, `fold_in`, `bits`, `uniform`, `randint`,
`bernoulli`, `choice`, `permutation`, `categorical` and `rademacher` draws; `binomial` and
`multinomial` follow JAX's algorithms and key schedule. Draws that go through a
transcendental function (`normal` through erfinv, `exponential`, `gumbel`, ...) agree with
JAX's to within an ulp or two of the function (XLA's log1p and erfinv round differently in
a few cases). Defaults follow JAX with x64 enabled: float64 and int64 unless a dtype is given.

Everything is built from funcad primitives (`threefry2x32` lowers to straight-line
integer code in jit's fused loops), so every sampler works eagerly, under `jit`, under
`vmap` (over keys or parameters) and under `grad` where JAX's is differentiable (e.g.
`loc + scale * normal(key)`, `uniform`'s bounds, `truncated_normal`'s bounds,
`multivariate_normal`'s mean and covariance).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

import funcad.numpy as fnp
from funcad.api import stop_gradient
from funcad.primitives.elementwise import nextafter_p as _nextafter_p
from funcad.primitives.prng import argsort as _argsort
from funcad.primitives.prng import threefry2x32 as _threefry2x32
from funcad.primitives.structural import iota as _iota
from funcad.scipy.special import _fma
from funcad.scipy.special import erf as _erf
from funcad.scipy.special import erfinv as _erfinv

__all__ = [
    "PRNGKey", "PRNGKeyArray", "ball", "bernoulli", "beta", "binomial", "bits", "categorical",
    "cauchy", "chisquare", "choice", "clone", "dirichlet", "double_sided_maxwell",
    "exponential", "f", "fold_in", "gamma", "generalized_normal", "geometric", "gumbel",
    "key", "key_data", "key_impl", "laplace", "loggamma", "logistic", "lognormal", "maxwell",
    "multinomial", "multivariate_normal", "normal", "orthogonal", "pareto", "permutation",
    "poisson", "rademacher", "randint", "rayleigh", "shuffle", "split", "t", "triangular",
    "truncated_normal", "uniform", "wald", "weibull_min", "wrap_key_data",
]

_U32 = np.dtype(np.uint32)
_U64 = np.dtype(np.uint64)
_MASK32 = 0xFFFFFFFF


# -- keys ---------------------------------------------------------------------------------


class PRNGKeyArray:
    """A typed key array, as `jax.random.key` returns: dtype `key<fry>`, shape `data.shape[:-1]`.

    It wraps the keys' uint32 data (shape (*shape, 2)). As in JAX it is a pytree leaf for
    `funcad.tree` and `funcad.tree_util`; the transforms (`jit`, `vmap` over key axes,
    `grad`, `scan`, `fori_loop`, `while_loop`, `cond`) trace its uint32 data, so keys pass
    through them unchanged.

    >>> k = key(0)
    >>> k.shape, str(k.dtype)
    ((), 'key<fry>')
    >>> split(k, 3).shape
    (3,)
    """

    __slots__ = ("_data",)
    __array_priority__ = 1000
    __hash__ = None  # as JAX's arrays: unhashable

    def __init__(self, data: Any):
        self._data = data

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self._data.shape[:-1])

    @property
    def dtype(self) -> "KeyDType":
        return _KEY_DTYPE

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of unsized object")
        return self.shape[0]

    def __iter__(self):
        if not self.shape:
            raise TypeError("iteration over a 0-d key array")
        return (self[i] for i in range(self.shape[0]))

    def __getitem__(self, idx) -> "PRNGKeyArray":
        if isinstance(idx, PRNGKeyArray):
            raise TypeError("a key array cannot index")
        idx = idx if isinstance(idx, tuple) else (idx,)
        # the trailing slice keeps each key's two words (after an Ellipsis too)
        return PRNGKeyArray(self._data[(*idx, slice(None))])

    def reshape(self, *shape) -> "PRNGKeyArray":
        if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)):
            shape = tuple(shape[0])
        return PRNGKeyArray(fnp.reshape(self._data, (*shape, 2)))

    def ravel(self) -> "PRNGKeyArray":
        return self.reshape(-1)

    def __eq__(self, other):
        if not isinstance(other, PRNGKeyArray):
            return NotImplemented
        return fnp.all(fnp.equal(self._data, other._data), axis=-1)

    def __ne__(self, other):
        if not isinstance(other, PRNGKeyArray):
            return NotImplemented
        return fnp.logical_not(self == other)

    def __array__(self, dtype=None, copy=None):
        raise TypeError("a PRNG key array (dtype key<fry>) cannot be converted to a NumPy "
                        "array. Use funcad.random.key_data(keys) for its uint32 data.")

    def __repr__(self) -> str:
        data = self._data
        if _is_traced(data):
            return f"PRNGKeyArray{list(self.shape)}(key<fry>, traced)"
        if not hasattr(data, "__array__"):  # e.g. eval_shape's ShapeDtypeStruct
            return f"ShapeDtypeStruct(shape={self.shape}, dtype=key<fry>)"
        return (f"Array({self.shape}, dtype=key<fry>) overlaying:\n"
                f"{np.asarray(data).view(np.ndarray)}")

    __str__ = __repr__


class KeyDType:
    """The dtype of typed key arrays (`key<fry>`: JAX's threefry2x32 implementation)."""

    name = "key<fry>"
    _impl = "threefry2x32"

    def __repr__(self) -> str:
        return "key<fry>"

    __str__ = __repr__

    def __eq__(self, other) -> bool:
        return isinstance(other, KeyDType) or other == "key<fry>"

    def __hash__(self) -> int:
        return hash("key<fry>")


_KEY_DTYPE = KeyDType()


def _register_key_pytree():
    # The transforms flatten a key to its uint32 data (one traceable array, whose last
    # axis holds the two words); funcad.tree and funcad.tree_util see the key as a leaf.
    from funcad._tree import register_public_leaf, register_pytree_node
    register_pytree_node(PRNGKeyArray, lambda k: ((k._data,), None),
                         lambda _, children: PRNGKeyArray(children[0]))
    register_public_leaf(PRNGKeyArray, 1)


_register_key_pytree()


def _check_impl(name: str, impl: Any) -> None:
    if impl is not None and str(impl) not in ("threefry2x32", "threefry", "fry"):
        raise NotImplementedError(f"{name}: only JAX's default PRNG implementation "
                                  f"'threefry2x32' is available in funcad, got impl={impl!r}")


def _key_words(name: str, key: Any) -> tuple[Any, bool]:
    """The uint32 data of keys (typed or raw) and whether they were typed."""
    if isinstance(key, PRNGKeyArray):
        return key._data, True
    key = fnp.asarray(key)
    if key.dtype != _U32 or key.shape[-1:] != (2,):
        raise TypeError(f"{name}: expected a PRNG key (from funcad.random.key or PRNGKey: a "
                        f"typed key array, or a uint32 array of shape (2,)), got "
                        f"{key.dtype.name}{list(key.shape)}")
    return key, False


def _check_key(name: str, key: Any, with_typed: bool = False) -> Any:
    data, typed = _key_words(name, key)
    if data.ndim != 1:
        shape = data.shape[:-1] if typed else data.shape
        want = "()" if typed else "(2,)"
        raise TypeError(f"{name} accepts a single key, but was given a key array of shape "
                        f"{shape} != {want}. Use funcad.vmap for batching.")
    return (data, typed) if with_typed else data


def _hi32(b):
    return fnp.floor_divide(b, np.uint64(1 << 32)).astype(_U32)


def _lo32(b):
    return fnp.bitwise_and(b, np.uint64(_MASK32)).astype(_U32)


def _seed_key(name: str, seed: Any) -> Any:
    seed = fnp.asarray(seed)
    if seed.ndim:
        raise TypeError(f"{name} accepts a scalar seed, but was given an array of shape "
                        f"{seed.shape} != (). Use funcad.vmap for batching")
    if not np.issubdtype(seed.dtype, np.integer):
        raise TypeError(f"{name}: the seed must be an integer, got {seed.dtype.name}")
    if seed.dtype.itemsize <= 4:
        # As JAX: a 32-bit seed shifted right by 32 bits is 0.
        return fnp.stack([fnp.zeros((), _U32), seed.astype(_U32)])
    s = seed.astype(_U64)
    return fnp.stack([_hi32(s), _lo32(s)])


def PRNGKey(seed: Any, *, impl: Any = None) -> Any:
    """A raw PRNG key (uint32[2]) from an integer seed, as jax.random.PRNGKey.

    >>> PRNGKey(42).tolist()
    [0, 42]
    """
    _check_impl("PRNGKey", impl)
    return _seed_key("PRNGKey", seed)


def key(seed: Any, *, impl: Any = None) -> PRNGKeyArray:
    """A typed PRNG key (shape (), dtype key<fry>) from an integer seed, as jax.random.key;
    its data is PRNGKey(seed).

    >>> key(7)
    Array((), dtype=key<fry>) overlaying:
    [0 7]
    """
    _check_impl("key", impl)
    return PRNGKeyArray(_seed_key("key", seed))


def key_data(keys: Any) -> Any:
    """The uint32 data of keys, shape (*keys.shape, 2) (raw keys are returned as they are).

    >>> key_data(key(1)).tolist()
    [0, 1]
    """
    return _key_words("key_data", keys)[0]


def wrap_key_data(key_bits_array: Any, *, impl: Any = None) -> PRNGKeyArray:
    """Typed keys from their uint32 data (shape (..., 2)), as jax.random.wrap_key_data.

    >>> wrap_key_data(np.array([0, 3], np.uint32)).shape
    ()
    """
    _check_impl("wrap_key_data", impl)
    if isinstance(key_bits_array, PRNGKeyArray):
        raise TypeError("wrap_key_data: the argument is already a typed key array")
    data = fnp.asarray(key_bits_array)
    if data.dtype != _U32 or data.shape[-1:] != (2,):
        raise TypeError(f"wrap_key_data: expected uint32 data of shape (..., 2), got "
                        f"{data.dtype.name}{list(data.shape)}")
    return PRNGKeyArray(data)


def key_impl(keys: Any) -> str:
    """The name of the keys' PRNG implementation: always 'threefry2x32' in funcad.

    >>> key_impl(key(0))
    'threefry2x32'
    """
    _key_words("key_impl", keys)
    return "threefry2x32"


def clone(key: Any) -> Any:
    """A copy of a key for reuse; outside key-reuse checking, the identity (as JAX).

    >>> bool(uniform(clone(key(0))) == uniform(key(0)))
    True
    """
    return key


def _wrap_like(typed: bool, data: Any) -> Any:
    return PRNGKeyArray(data) if typed else data


def _hash_counters(key, shape):
    """threefry2x32 of the row-major counters 0..n-1 laid out in `shape` (as JAX's
    iota_2x32_shape), packed as uint64 (hi word << 32 | lo word)."""
    n = math.prod(shape)
    if n >= 2 ** 32:
        raise NotImplementedError("funcad.random: more than 2**32 draws in one call")
    if shape:
        lo = fnp.reshape(_iota(_U32, (n,), 0), shape)
    else:
        lo = fnp.zeros((), _U32)
    hi = fnp.zeros(shape, _U32)
    k1 = fnp.broadcast_to(key[0], shape)
    k2 = fnp.broadcast_to(key[1], shape)
    return _threefry2x32(k1, k2, hi, lo)


def _shape(shape) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)):
        return (int(shape),)
    return tuple(int(d) for d in shape)


def split(key: Any, num: int | Sequence[int] = 2) -> Any:
    """Split a key into `num` new keys (an int or a shape), shape (*num, 2).

    >>> split(PRNGKey(0), 3).shape
    (3, 2)
    """
    key, typed = _check_key("split", key, with_typed=True)
    shape = _shape(num)
    b = _hash_counters(key, shape)
    return _wrap_like(typed, fnp.stack([_hi32(b), _lo32(b)], axis=-1))


def _split2(key):
    ks = split(key, 2)
    return ks[0], ks[1]


def fold_in(key: Any, data: Any) -> Any:
    """A new key that is a deterministic function of `key` and the integer `data`.

    >>> fold_in(PRNGKey(0), 1).shape
    (2,)
    """
    key, typed = _check_key("fold_in", key, with_typed=True)
    data = fnp.asarray(data)
    if data.ndim:
        raise TypeError(f"fold_in accepts a scalar, but was given an array of shape "
                        f"{data.shape} != (). Use funcad.vmap for batching.")
    b = _threefry2x32(key[0], key[1], fnp.zeros((), _U32), data.astype(_U32))
    return _wrap_like(typed, fnp.stack([_hi32(b), _lo32(b)]))


def _random_bits(key, bit_width: int, shape) -> Any:
    b = _hash_counters(key, shape)
    if bit_width == 64:
        return b
    x = fnp.bitwise_xor(_hi32(b), _lo32(b))
    return x if bit_width == 32 else x.astype(np.dtype(f"uint{bit_width}"))


def bits(key: Any, shape: Sequence[int] = (), dtype: Any = None) -> Any:
    """Uniform random bits as unsigned integers (uint64 by default).

    >>> bits(PRNGKey(0), (2,), np.uint32).dtype
    dtype('uint32')
    """
    key = _check_key("bits", key)
    dtype = np.dtype(np.uint64 if dtype is None else dtype)
    if not np.issubdtype(dtype, np.unsignedinteger):
        raise ValueError(f"dtype argument to `bits` must be an unsigned int dtype, got {dtype}")
    return _random_bits(key, dtype.itemsize * 8, _shape(shape))


# -- floats -------------------------------------------------------------------------------


def _float_dtype(name, dtype):
    dtype = np.dtype(np.float64 if dtype is None else dtype)
    if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype argument to `{name}` must be float32 or float64, got {dtype}")
    return dtype


def _check_shape(name, shape, *param_shapes):
    if param_shapes:
        out = np.broadcast_shapes(shape, *param_shapes)
        if out != shape:
            raise ValueError(f"{name} parameter shapes must be broadcast-compatible with "
                             f"shape argument, and the result of broadcasting the shapes "
                             f"must equal the shape argument, but got result {out} for "
                             f"shape argument {shape}.")


def _uniform(key, shape, dtype, minval, maxval):
    minval = fnp.asarray(minval).astype(dtype)
    maxval = fnp.asarray(maxval).astype(dtype)
    _check_shape("uniform", shape, minval.shape, maxval.shape)
    # JAX puts random mantissa bits under the exponent of 1.0 and subtracts 1; the result
    # is exactly (bits >> (nbits - nmant)) * 2**-nmant, computed here without a bitcast.
    if dtype == np.float64:
        m = fnp.floor_divide(_random_bits(key, 64, shape), np.uint64(1 << 12))
        floats = m.astype(dtype) * dtype.type(2.0 ** -52)
    else:
        m = fnp.floor_divide(_random_bits(key, 32, shape), np.uint32(1 << 9))
        floats = m.astype(dtype) * dtype.type(2.0 ** -23)
    if _is_const(minval, 0.0) and _is_const(maxval, 1.0):
        scaled = floats
    else:
        scaled = _fma(floats, maxval - minval, minval)
    return fnp.broadcast_to(fnp.maximum(minval, scaled), shape)


def _is_const(x, value) -> bool:
    return type(x) is np.ndarray and x.ndim == 0 and x == value


def uniform(key: Any, shape: Sequence[int] = (), dtype: Any = None, minval: Any = 0.0,
            maxval: Any = 1.0) -> Any:
    """Uniform floats in [minval, maxval), differentiable in minval and maxval.

    >>> float(uniform(PRNGKey(0))) < 1
    True
    """
    key = _check_key("uniform", key)
    return _uniform(key, _shape(shape), _float_dtype("uniform", dtype), minval, maxval)


def _normal(key, shape, dtype):
    lo = np.nextafter(np.array(-1.0, dtype), np.array(0.0, dtype))
    u = _uniform(key, shape, dtype, lo, dtype.type(1.0))
    return dtype.type(np.sqrt(2)) * _erfinv(u)


def normal(key: Any, shape: Sequence[int] = (), dtype: Any = None) -> Any:
    """Standard normal floats (JAX's inverse-cdf method: sqrt(2) * erfinv(uniform)).

    >>> normal(PRNGKey(0), (3,)).shape
    (3,)
    """
    key = _check_key("normal", key)
    return _normal(key, _shape(shape), _float_dtype("normal", dtype))


def truncated_normal(key: Any, lower: Any, upper: Any, shape: Sequence[int] | None = None,
                     dtype: Any = None) -> Any:
    """Standard normal floats truncated to (lower, upper), differentiable in the bounds.

    >>> bool(abs(truncated_normal(PRNGKey(0), -1.0, 1.0)) < 1)
    True
    """
    key = _check_key("truncated_normal", key)
    dtype = _float_dtype("truncated_normal", dtype)
    lower = fnp.asarray(lower).astype(dtype)
    upper = fnp.asarray(upper).astype(dtype)
    if shape is None:
        shape = np.broadcast_shapes(lower.shape, upper.shape)
    else:
        shape = _shape(shape)
        _check_shape("truncated_normal", shape, lower.shape, upper.shape)
    sqrt2 = dtype.type(np.sqrt(2))
    a = _erf(lower / sqrt2)
    b = _erf(upper / sqrt2)
    u = _uniform(key, shape, dtype, a, b)
    out = sqrt2 * _erfinv(u)
    return fnp.clip(out, _nextafter(stop_gradient(lower), np.inf),
                    _nextafter(stop_gradient(upper), -np.inf))


def _nextafter(x, toward):
    return _nextafter_p.bind(x, fnp.full(x.shape, toward, x.dtype))


def bernoulli(key: Any, p: Any = 0.5, shape: Sequence[int] | None = None,
              mode: str = "low") -> Any:
    """Booleans that are True with probability p.

    >>> bernoulli(PRNGKey(0), 0.5, (4,)).dtype
    dtype('bool')
    """
    key = _check_key("bernoulli", key)
    if mode not in ("high", "low"):
        raise ValueError(f"got mode={mode!r}, expected 'high' or 'low'")
    p = fnp.asarray(p)
    if not np.issubdtype(p.dtype, np.floating):
        raise TypeError(f"bernoulli probability `p` must have a floating dtype, got {p.dtype}.")
    shape = p.shape if shape is None else _shape(shape)
    _check_shape("bernoulli", shape, p.shape)
    dtype = p.dtype
    if mode == "high":
        u = _uniform(key, (2, *shape), dtype, 0.0, 1.0)
        u1, u2 = u[0], u[1] * dtype.type(2.0 ** -np.finfo(dtype).nmant)
        return u2 < p - u1
    return _uniform(key, shape, dtype, 0.0, 1.0) < p


def exponential(key: Any, shape: Sequence[int] = (), dtype: Any = None) -> Any:
    """Exponential(1) floats, -log1p(-uniform).

    >>> float(exponential(PRNGKey(0))) >= 0
    True
    """
    key = _check_key("exponential", key)
    dtype = _float_dtype("exponential", dtype)
    u = _uniform(key, _shape(shape), dtype, 0.0, 1.0)
    return -fnp.log1p(-u)


def laplace(key: Any, shape: Sequence[int] = (), dtype: Any = None) -> Any:
    """Laplace(0, 1) floats.

    >>> laplace(PRNGKey(0), (2,)).shape
    (2,)
    """
    key = _check_key("laplace", key)
    dtype = _float_dtype("laplace", dtype)
    u = _uniform(key, _shape(shape), dtype, -1.0 + np.finfo(dtype).epsneg, 1.0)
    return fnp.sign(u) * fnp.log1p(-fnp.abs(u))


def logistic(key: Any, shape: Sequence[int] = (), dtype: Any = None) -> Any:
    """Standard logistic floats, log(u) - log1p(-u).

    >>> logistic(PRNGKey(0), (2,)).shape
    (2,)
    """
    key = _check_key("logistic", key)
    dtype = _float_dtype("logistic", dtype)
    x = _uniform(key, _shape(shape), dtype, np.finfo(dtype).tiny, 1.0)
    return fnp.log(x) - fnp.log1p(-x)


def cauchy(key: Any, shape: Sequence[int] = (), dtype: Any = None) -> Any:
    """Standard Cauchy floats, tan(pi * (u - 1/2)).

    >>> cauchy(PRNGKey(0), (2,)).shape
    (2,)
    """
    key = _check_key("cauchy", key)
    dtype = _float_dtype("cauchy", dtype)
    u = _uniform(key, _shape(shape), dtype, np.finfo(dtype).eps, 1.0)
    return fnp.tan(dtype.type(np.pi) * (u - dtype.type(0.5)))


def _gumbel(key, shape, dtype, mode="low"):
    if mode == "low":
        u = _uniform(key, shape, dtype, np.finfo(dtype).tiny, 1.0)
        return -fnp.log(-fnp.log(u))
    # JAX's mode="high": two uniforms, the second filling in the low-order bits of the
    # first where it is below 1/2 (so that -log(-log1p(-x)) resolves the far tail).
    info = np.finfo(dtype)
    u = _uniform(key, (2, *shape), dtype, 0.0, 1.0)
    high, low = u[0], u[1]
    fill = dtype.type(max(2.0 ** -(2 * int(info.nmant) + 1), float(info.tiny)))
    x = fnp.where(high >= 0.5, high, high + dtype.type(2.0 ** -int(info.nmant)) * low + fill)
    return -fnp.log(-fnp.log1p(-x))


def gumbel(key: Any, shape: Sequence[int] = (), dtype: Any = None,
           mode: str | None = None) -> Any:
    """Standard Gumbel floats, -log(-log(u)) (JAX's default mode 'low'; mode='high' uses
    two uniforms per draw for twice the dynamic range, as JAX).

    >>> gumbel(PRNGKey(0), (2,)).shape
    (2,)
    """
    key = _check_key("gumbel", key)
    if mode is None:
        mode = "low"
    if mode not in ("highest", "high", "low"):
        raise ValueError(f"Must provide valid mode for gumbel got: {mode}")
    dtype = _float_dtype("gumbel", dtype)
    if mode == "highest":
        if dtype == np.float32:
            raise NotImplementedError("gumbel: mode='highest' for float32 (JAX's bit-level "
                                      "int-to-float conversion) is not implemented")
        mode = "high"  # JAX: 'highest' is 'high' except for float32
    return _gumbel(key, _shape(shape), dtype, mode)


def rademacher(key: Any, shape: Sequence[int] = (), dtype: Any = np.int64) -> Any:
    """Random signs, -1 or +1 with equal probability.

    >>> sorted(set(rademacher(PRNGKey(0), (20,)).tolist()))
    [-1, 1]
    """
    key = _check_key("rademacher", key)
    dtype = np.dtype(dtype)
    b = bernoulli(key, 0.5, _shape(shape)).astype(dtype)
    return (2 * b - 1).astype(dtype)


# -- integers -----------------------------------------------------------------------------


def _umul(a, b, nbits):
    # Unsigned multiplication modulo 2**nbits. 32-bit words live in uint64 (Numba widens
    # uint32 arithmetic), so they are masked back explicitly.
    p = a * b
    return p if nbits == 64 else fnp.bitwise_and(p, np.uint64(_MASK32))


def _uadd(a, b, nbits):
    s = a + b
    return s if nbits == 64 else fnp.bitwise_and(s, np.uint64(_MASK32))


def _clip_to(val, dtype):
    info, vinfo = np.iinfo(dtype), np.iinfo(val.dtype)
    lo, hi = max(info.min, vinfo.min), min(info.max, vinfo.max)
    return fnp.clip(val, val.dtype.type(lo), val.dtype.type(hi)).astype(dtype)


def randint(key: Any, shape: Sequence[int], minval: Any, maxval: Any,
            dtype: Any = np.int64) -> Any:
    """Uniform integers in [minval, maxval) (JAX's algorithm: 2 * nbits random bits, mod).

    >>> randint(PRNGKey(0), (3,), 0, 10).dtype
    dtype('int64')
    """
    key = _check_key("randint", key)
    dtype = np.dtype(dtype)
    if not np.issubdtype(dtype, np.integer):
        raise TypeError(f"randint only accepts integer dtypes, got {dtype}")
    shape = _shape(shape)
    if dtype.itemsize < 4:
        # Sample in 32 bits to avoid biased results (as JAX).
        info = np.iinfo(dtype)
        lo = fnp.clip(_int_operand(minval), info.min, info.max).astype(np.int32)
        hi = fnp.clip(_int_operand(maxval), info.min, info.max + 1).astype(np.int32)
        return _randint(key, shape, lo, hi, np.dtype(np.int32)).astype(dtype)
    return _randint(key, shape, _int_operand(minval), _int_operand(maxval), dtype)


def _int_operand(v):
    if isinstance(v, int) and not isinstance(v, bool):
        return fnp.asarray(np.int64(min(max(v, np.iinfo(np.int64).min), np.iinfo(np.int64).max)))
    v = fnp.asarray(v)
    return v if np.issubdtype(v.dtype, np.integer) else v.astype(np.int64)


def _randint(key, shape, minval, maxval, dtype):
    _check_shape("randint", shape, minval.shape, maxval.shape)
    info = np.iinfo(dtype)
    if np.iinfo(maxval.dtype).max > info.max:
        out_of_range = maxval > maxval.dtype.type(info.max)
    else:
        out_of_range = fnp.zeros(maxval.shape, bool)
    minval = fnp.broadcast_to(_clip_to(minval, dtype), shape)
    maxval = fnp.broadcast_to(_clip_to(maxval, dtype), shape)
    out_of_range = fnp.broadcast_to(out_of_range, shape)
    nbits = info.bits
    k1, k2 = _split2(key)
    higher = _random_bits(k1, nbits, shape).astype(_U64)
    lower = _random_bits(k2, nbits, shape).astype(_U64)
    # maxval - minval wraps modulo 2**nbits, as JAX's subtraction does.
    diff = maxval.astype(np.int64) - minval.astype(np.int64)
    span = diff.astype(_U64)
    if nbits == 32:
        span = fnp.bitwise_and(span, np.uint64(_MASK32))
    one = np.uint64(1)
    span = fnp.where(maxval <= minval, one, span)
    span = fnp.where(out_of_range & (maxval > minval), _uadd(span, one, nbits), span)
    # 2**nbits % span without overflow: ((2**(nbits/2) % span)**2) % span. A span of 0
    # (the full 2**64 range) leaves the bits unchanged, as in XLA (x % 0 == x).
    safe = fnp.where(span == 0, one, span)

    def rem(a):
        return fnp.where(span == 0, a, fnp.remainder(a, safe))

    mult = rem(fnp.full(shape, np.uint64(1 << (nbits // 2))))
    mult = rem(_umul(mult, mult, nbits))
    offset = _uadd(_umul(rem(higher), mult, nbits), rem(lower), nbits)
    offset = rem(offset)
    return minval + offset.astype(dtype)


# -- permutations and choices ----------------------------------------------------------------


def _sort_by_keys(sort_keys, x, axis):
    # Stable sort of x along axis by sort_keys (lax.sort_key_val).
    sk = fnp.moveaxis(sort_keys, axis, -1)
    xv = fnp.moveaxis(x, axis, -1)
    idx = _argsort(sk)
    return fnp.moveaxis(fnp.take_along_axis(xv, idx, axis=-1), -1, axis)


def _shuffle(key, x, axis):
    exponent = 3  # JAX's (tjablin's) static number of sort rounds
    n = math.prod(x.shape)
    rounds = int(np.ceil(exponent * np.log(max(1, n)) / np.log(np.iinfo(np.uint32).max)))
    for _ in range(rounds):
        key, subkey = _split2(key)
        sort_keys = _random_bits(subkey, 32, x.shape)
        x = _sort_by_keys(sort_keys, x, axis)
    return x


def permutation(key: Any, x: Any, axis: int = 0, independent: bool = False) -> Any:
    """A random permutation of range(x) (an int) or of x along `axis`.

    >>> sorted(permutation(PRNGKey(0), 5).tolist())
    [0, 1, 2, 3, 4]
    """
    key = _check_key("permutation", key)
    if _is_traced(x) and x.ndim == 0:
        raise TypeError("permutation: the length x must be a concrete integer (pass it as a "
                        "static argument: jit(..., static_argnums=...))")
    if not _is_traced(x) and np.ndim(x) == 0:
        if not np.issubdtype(np.asarray(x).dtype, np.integer):
            raise TypeError("x must be an integer or at least 1-dimensional")
        return _shuffle(key, fnp.arange(int(x)), 0)
    x = fnp.asarray(x)
    axis = axis % x.ndim
    if independent or x.ndim == 1:
        return _shuffle(key, x, axis)
    ind = _shuffle(key, fnp.arange(x.shape[axis]), 0)
    return fnp.take(x, ind, axis=axis)


def shuffle(key: Any, x: Any, axis: int = 0) -> Any:
    """Shuffle x along `axis`, each slice independently (deprecated in JAX, and removed
    from recent versions: it is `permutation(key, x, axis, independent=True)`).

    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     sorted(shuffle(PRNGKey(0), np.arange(4)).tolist())
    [0, 1, 2, 3]
    """
    import warnings
    warnings.warn("funcad.random.shuffle is deprecated (as jax.random.shuffle). Use "
                  "funcad.random.permutation with independent=True.", FutureWarning,
                  stacklevel=2)
    key = _check_key("shuffle", key)
    x = fnp.asarray(x)
    if x.ndim == 0:
        raise TypeError("shuffle: x must be at least 1-dimensional")
    return _shuffle(key, x, axis % x.ndim)


def _searchsorted_left(sorted_1d, v):
    # Number of entries strictly less than v (jnp.searchsorted, side='left').
    return fnp.sum(sorted_1d < fnp.expand_dims(v, -1), axis=-1)


def _top_k_indices(g, k):
    # Indices of the k largest entries of a 1-d array, largest first, ties by index.
    return _argsort(-g)[:k]


def choice(key: Any, a: Any, shape: Sequence[int] = (), replace: bool = True,
           p: Any = None, axis: int = 0) -> Any:
    """Random samples from a (an int n means range(n)), with or without replacement.

    >>> choice(PRNGKey(0), 5, (3,), replace=False).shape
    (3,)
    """
    key = _check_key("choice", key)
    if not isinstance(shape, (tuple, list)):
        raise TypeError(f"shape argument of funcad.random.choice must be a sequence, got "
                        f"{shape}")
    shape = _shape(shape)
    scalar = isinstance(a, (int, np.integer)) or np.ndim(a) == 0
    if scalar:
        n_inputs = int(a)
        arr = None
    else:
        arr = fnp.asarray(a)
        axis = axis % arr.ndim
        n_inputs = arr.shape[axis]
    n_draws = math.prod(shape)
    if n_draws == 0:
        return fnp.zeros(shape, np.int64 if arr is None else arr.dtype)
    if n_inputs <= 0:
        raise ValueError("a must be greater than 0 unless no samples are taken")
    if not replace and n_draws > n_inputs:
        raise ValueError(f"Cannot take a larger sample (size {n_draws}) than population "
                         f"(size {n_inputs}) when 'replace=False'")
    if p is None:
        if replace:
            ind = randint(key, shape, 0, n_inputs)
            result = ind if arr is None else fnp.take(arr, ind, axis=axis)
        else:
            perm = permutation(key, n_inputs if arr is None else arr, axis)
            result = perm[(slice(None),) * (0 if arr is None else axis) + (slice(n_draws),)]
    else:
        (p_arr,) = _promote_inexact(p)
        if p_arr.shape != (n_inputs,):
            raise ValueError("p must be None or a 1D vector with the same size as "
                             f"a.shape[axis]. p has shape {p_arr.shape} and a.shape[axis] "
                             f"is {n_inputs}.")
        if replace:
            p_cuml = fnp.cumsum(p_arr)
            r = p_cuml[-1] * (1 - _uniform(key, shape, p_cuml.dtype, 0.0, 1.0))
            ind = _searchsorted_left(p_cuml, r).astype(np.int64)
        else:
            g = _gumbel(key, (n_inputs,), p_arr.dtype) + fnp.log(p_arr)
            ind = _top_k_indices(g, n_draws)
        result = ind if arr is None else fnp.take(arr, ind, axis=axis)
    if arr is None:
        return fnp.reshape(result, shape)
    return fnp.reshape(result, arr.shape[:axis] + shape + arr.shape[axis + 1:])


def _is_traced(x):
    from funcad.numpy._base import is_traced
    return is_traced(x)


def _promote_inexact(*xs):
    from funcad.numpy._base import promote_inexact
    return promote_inexact(*xs)


def categorical(key: Any, logits: Any, axis: int = -1, shape: Sequence[int] | None = None,
                replace: bool = True, mode: str | None = None) -> Any:
    """Samples from categorical distributions given by unnormalised log-probabilities
    (the Gumbel-max trick, as JAX; `mode` is gumbel's).

    >>> categorical(PRNGKey(0), np.zeros((2, 3))).shape
    (2,)
    """
    key = _check_key("categorical", key)
    (logits,) = _promote_inexact(logits)
    mode = "low" if mode is None else mode
    if mode not in ("high", "low"):
        raise ValueError(f"Must provide valid mode for gumbel got: {mode}")
    ndim = logits.ndim
    axis = axis % ndim
    batch_shape = tuple(d for i, d in enumerate(logits.shape) if i != axis)
    if shape is None:
        shape = batch_shape
    else:
        shape = _shape(shape)
        if shape[len(shape) - len(batch_shape):] != batch_shape:
            raise ValueError(f"categorical: shape {shape} must end with the logits' batch "
                             f"shape {batch_shape}")
    prefix = shape[:len(shape) - len(batch_shape)]
    if not replace:
        logits = logits + _gumbel(key, logits.shape, logits.dtype, mode)
        k = math.prod(prefix)
        if k > logits.shape[axis]:
            raise ValueError(f"Number of samples without replacement ({k}) cannot exceed "
                             f"number of categories ({logits.shape[axis]}).")
        moved = fnp.moveaxis(logits, axis, -1)
        idx = _argsort(-moved)[..., :k]
        idx = fnp.moveaxis(idx, -1, 0)
        return fnp.reshape(idx, shape).astype(np.int32)  # lax.top_k's indices, as JAX
    logits_shape = list(shape[len(shape) - len(batch_shape):])
    logits_shape.insert(axis, logits.shape[axis])
    g = _gumbel(key, (*prefix, *logits_shape), logits.dtype, mode)
    expanded = fnp.reshape(logits, (1,) * len(prefix) + logits.shape)
    return fnp.argmax(g + expanded, axis=axis - ndim)


# -- multivariate ---------------------------------------------------------------------------


def multivariate_normal(key: Any, mean: Any, cov: Any, shape: Sequence[int] | None = None,
                        dtype: Any = None, method: str = "cholesky") -> Any:
    """Multivariate normal samples mean + F @ z with F @ F.T = cov: F the Cholesky factor
    (method='cholesky', differentiable in mean and cov), V sqrt(w) from eigh (method='eigh')
    or U sqrt(s) from svd (method='svd'), as JAX.

    >>> multivariate_normal(PRNGKey(0), np.zeros(2), np.eye(2), (3,)).shape
    (3, 2)
    """
    key = _check_key("multivariate_normal", key)
    mean, cov = _promote_inexact(mean, cov)
    if method not in ("cholesky", "eigh", "svd"):
        raise ValueError(f"multivariate_normal: method must be 'cholesky', 'eigh' or 'svd', "
                         f"got {method!r}")
    dtype = mean.dtype if dtype is None else _float_dtype("multivariate_normal", dtype)
    if mean.ndim < 1:
        raise ValueError(f"multivariate_normal requires mean.ndim >= 1, got mean.ndim == "
                         f"{mean.ndim}")
    if cov.ndim < 2:
        raise ValueError(f"multivariate_normal requires cov.ndim >= 2, got cov.ndim == "
                         f"{cov.ndim}")
    n = mean.shape[-1]
    if cov.shape[-2:] != (n, n):
        raise ValueError(f"multivariate_normal requires cov.shape == (..., n, n) for n={n}, "
                         f"but got cov.shape == {cov.shape}.")
    if shape is None:
        shape = np.broadcast_shapes(mean.shape[:-1], cov.shape[:-2])
    else:
        shape = _shape(shape)
        _check_shape("normal", shape, mean.shape[:-1], cov.shape[:-2])
    if method == "cholesky":
        factor = fnp.linalg.cholesky(cov)
    elif method == "eigh":
        w, v = fnp.linalg.eigh(cov)
        factor = v * fnp.sqrt(w)[..., None, :]      # cov = factor @ factor.T
    else:
        u, sv, _ = fnp.linalg.svd(cov)
        factor = u * fnp.sqrt(sv)[..., None, :]
    z = _normal(key, shape + mean.shape[-1:], dtype)
    return mean + fnp.einsum("...ij,...j->...i", factor, z)


# -- gamma family: Marsaglia-Tsang rejection with JAX's key schedule -----------------------


def _gamma_one(key, alpha, log_space):
    dtype = alpha.dtype
    zero = fnp.zeros((), dtype)
    one = fnp.ones((), dtype)
    boost_mask = alpha >= 1
    alpha_orig = alpha
    alpha = fnp.where(boost_mask, alpha, alpha + 1)
    d = alpha - 1.0 / 3.0
    c = (1.0 / 3.0) / fnp.sqrt(d)

    def cond_fn(kxvu):
        _, X, V, U = kxvu
        return (U >= 1 - 0.0331 * (X * X)) & (fnp.log(U) >= X * 0.5 + d * ((1 - V)
                                                                            + fnp.log(V)))

    def body_fn(kxvu):
        ks = split(kxvu[0], 3)
        key, x_key, u_key = ks[0], ks[1], ks[2]

        def next_kxv(kxv):
            k, sub = _split2(kxv[0])
            x = _normal(sub, (), dtype)
            return k, x, 1 + x * c
        _, x, v = _lax().while_loop(lambda kxv: kxv[2] <= 0, next_kxv, (x_key, zero, -one))
        return key, x * x, v * v * v, _uniform(u_key, (), dtype, 0.0, 1.0)

    key, subkey = _split2(key)
    _, _, V, _ = _lax().while_loop(cond_fn, body_fn, (key, zero, one, one + one))
    if log_space:
        log_samples = -_exponential(subkey, (), dtype)
        log_boost = fnp.where(boost_mask | (log_samples == 0), zero,
                              log_samples * (1 / alpha_orig))
        return fnp.log(d) + fnp.log(V) + log_boost
    samples = 1 - _uniform(subkey, (), dtype, 0.0, 1.0)
    boost = fnp.where(boost_mask, one, fnp.power(samples, 1 / alpha_orig))
    return d * V * boost


def _lax():
    from funcad import lax
    return lax


def _gamma_sample_grad(a, x):
    """d sample / d a by implicit differentiation of the cdf: -dP(a, x)/da / pdf(x; a)
    (as JAX's random_gamma_grad)."""
    from funcad.api import jvp
    from funcad.scipy.special import gammainc, gammaln
    dp_da = jvp(lambda a_: gammainc(a_, x), (a,), (fnp.ones_like(a),))[1]
    log_pdf = (a - 1) * fnp.log(x) - x - gammaln(a)
    return -dp_da / fnp.exp(log_pdf)


def _make_gamma(log_space):
    from funcad._custom_derivatives import custom_jvp

    @custom_jvp
    def sample(keys, alphas):
        vm = _vmap()
        return vm(lambda k, a: _gamma_one(k, a, log_space))(keys, alphas)

    @sample.defjvp
    def sample_jvp(primals, tangents):
        keys, alphas = primals
        _, t = tangents
        out = _vmap()(lambda k, a: _gamma_one(k, a, log_space))(keys, alphas)
        x = stop_gradient(out)
        if log_space:
            x = fnp.exp(x)
            x = fnp.where(x == 0, np.finfo(x.dtype).tiny, x)
            g = _gamma_sample_grad(alphas, x) / x
        else:
            g = _gamma_sample_grad(alphas, x)
        return out, t * g
    return sample


def _vmap():
    from funcad.api import vmap
    return vmap


_GAMMA = {}


def _gamma(key, a, shape, dtype, log_space=False):
    a = fnp.asarray(a).astype(dtype)
    if shape is None:
        shape = a.shape
    else:
        shape = _shape(shape)
        _check_shape("gamma", shape, a.shape)
    a = fnp.broadcast_to(a, shape)
    n = math.prod(shape)
    if n == 0:
        return fnp.zeros(shape, dtype)
    keys = split(key, n)
    if log_space not in _GAMMA:
        _GAMMA[log_space] = _make_gamma(log_space)
    out = _GAMMA[log_space](keys, fnp.reshape(a, (n,)))
    return fnp.reshape(out, shape)


def gamma(key: Any, a: Any, shape: Sequence[int] | None = None, dtype: Any = None) -> Any:
    """Gamma(a, 1) floats; differentiable in `a` (implicit reparameterisation, as JAX).

    >>> float(gamma(PRNGKey(0), 2.0)) > 0
    True
    """
    key = _check_key("gamma", key)
    return _gamma(key, a, shape, _float_dtype("gamma", dtype))


def loggamma(key: Any, a: Any, shape: Sequence[int] | None = None, dtype: Any = None) -> Any:
    """log of Gamma(a, 1) samples, accurate for small `a` (where samples underflow).

    >>> float(loggamma(PRNGKey(0), 0.01)) < 0
    True
    """
    key = _check_key("loggamma", key)
    return _gamma(key, a, shape, _float_dtype("loggamma", dtype), log_space=True)


def _exponential(key, shape, dtype):
    return -fnp.log1p(-_uniform(key, shape, dtype, 0.0, 1.0))


def _broadcast_shape(name, shape, *params):
    if shape is None:
        return tuple(np.broadcast_shapes(*(np.shape(p) for p in params)))
    shape = _shape(shape)
    _check_shape(name, shape, *(np.shape(p) for p in params))
    return shape


def beta(key: Any, a: Any, b: Any, shape: Sequence[int] | None = None,
         dtype: Any = None) -> Any:
    """Beta(a, b) floats (from two log-gamma draws), differentiable in a and b.

    >>> 0 < float(beta(PRNGKey(0), 2.0, 3.0)) < 1
    True
    """
    key = _check_key("beta", key)
    dtype = _float_dtype("beta", dtype)
    a = fnp.asarray(a).astype(dtype)
    b = fnp.asarray(b).astype(dtype)
    shape = _broadcast_shape("beta", shape, a, b)
    key_a, key_b = _split2(key)
    a = fnp.broadcast_to(a, shape)
    b = fnp.broadcast_to(b, shape)
    log_gamma_a = _gamma(key_a, a, shape, dtype, log_space=True)
    log_gamma_b = _gamma(key_b, b, shape, dtype, log_space=True)
    log_max = fnp.maximum(log_gamma_a, log_gamma_b)
    gamma_a_scaled = fnp.exp(log_gamma_a - log_max)
    gamma_b_scaled = fnp.exp(log_gamma_b - log_max)
    return gamma_a_scaled / (gamma_a_scaled + gamma_b_scaled)


def dirichlet(key: Any, alpha: Any, shape: Sequence[int] | None = None,
              dtype: Any = None) -> Any:
    """Dirichlet(alpha) vectors along the last axis, differentiable in alpha.

    >>> dirichlet(PRNGKey(0), np.ones(3)).shape
    (3,)
    """
    key = _check_key("dirichlet", key)
    dtype = _float_dtype("dirichlet", dtype)
    alpha = fnp.asarray(alpha).astype(dtype)
    if alpha.ndim < 1:
        raise ValueError(f"dirichlet requires alpha.ndim >= 1, got alpha.ndim == {alpha.ndim}")
    if shape is None:
        shape = alpha.shape[:-1]
    else:
        shape = _shape(shape)
        _check_shape("dirichlet", shape, alpha.shape[:-1])
    from funcad.nn import softmax
    log_gamma_samples = _gamma(key, alpha, shape + alpha.shape[-1:], dtype, log_space=True)
    return softmax(log_gamma_samples, -1)


def t(key: Any, df: Any, shape: Sequence[int] | None = None, dtype: Any = None) -> Any:
    """Student's t floats with df degrees of freedom, differentiable in df.

    >>> t(PRNGKey(0), 3.0, (2,)).shape
    (2,)
    """
    key = _check_key("t", key)
    dtype = _float_dtype("t", dtype)
    df = fnp.asarray(df).astype(dtype)
    shape = _broadcast_shape("t", shape, df)
    key_n, key_g = _split2(key)
    n = _normal(key_n, shape, dtype)
    half_df = df / 2
    g = _gamma(key_g, half_df, shape, dtype)
    return n * fnp.sqrt(half_df / g)


# -- poisson: Knuth's method for small rates, Hormann's transformed rejection otherwise ------


def _poisson_knuth(key, lam, shape, dtype):
    lax = _lax()
    f32 = np.dtype(np.float32)

    def body_fn(carry):
        i, k, rng, log_prod = carry
        rng, subkey = _split2(rng)
        k = fnp.where(log_prod > -lam, k + 1, k)
        u = _uniform(subkey, shape, f32, 0.0, 1.0)
        return i + 1, k, rng, log_prod + fnp.log(u)

    def cond_fn(carry):
        return fnp.any(carry[3] > -lam)

    init = (fnp.zeros((), np.int64), fnp.zeros(shape, dtype), key, fnp.zeros(shape, f32))
    k = lax.while_loop(cond_fn, body_fn, init)[1]
    return (k - 1).astype(dtype)


def _poisson_rejection(key, lam, shape, dtype):
    from funcad.scipy.special import gammaln
    lax = _lax()
    log_lam = fnp.log(lam)
    b = 0.931 + 2.53 * fnp.sqrt(lam)
    a = -0.059 + 0.02483 * b
    inv_alpha = 1.1239 + 1.1328 / (b - 3.4)
    v_r = 0.9277 - 3.6224 / (b - 2)

    def body_fn(carry):
        i, k_out, accepted, key = carry
        ks = split(key, 3)
        key, subkey_0, subkey_1 = ks[0], ks[1], ks[2]
        u = _uniform(subkey_0, shape, lam.dtype, 0.0, 1.0) - 0.5
        v = _uniform(subkey_1, shape, lam.dtype, 0.0, 1.0)
        u_shifted = 0.5 - fnp.abs(u)
        k = fnp.floor((2 * a / u_shifted + b) * u + lam + 0.43)
        s = fnp.log(v * inv_alpha / (a / (u_shifted * u_shifted) + b))
        tt = -lam + k * log_lam - gammaln(k + 1)
        accept1 = (u_shifted >= 0.07) & (v <= v_r)
        reject = (k < 0) | ((u_shifted < 0.013) & (v > u_shifted))
        accept2 = s <= tt
        accept = accept1 | (~reject & accept2)
        k_out = fnp.where(accept, k, k_out)
        return i + 1, k_out, accepted | accept, key

    def cond_fn(carry):
        return fnp.any(~carry[2])

    init = (fnp.zeros((), np.int64), fnp.full(shape, -1, lam.dtype),
            fnp.zeros(shape, bool), key)
    k = lax.while_loop(cond_fn, body_fn, init)[1]
    return k.astype(dtype)


def poisson(key: Any, lam: Any, shape: Sequence[int] | None = None,
            dtype: Any = np.int64) -> Any:
    """Poisson(lam) integers (JAX's algorithms, computed in float32 as JAX does).

    >>> int(poisson(PRNGKey(0), 0.0))
    0
    """
    key = _check_key("poisson", key)
    dtype = np.dtype(dtype)
    lam = fnp.asarray(lam)
    shape = lam.shape if shape is None else _shape(shape)
    lam = fnp.broadcast_to(lam, shape).astype(np.float32)
    use_knuth = fnp.isnan(lam) | (lam < 10)
    lam_knuth = fnp.where(use_knuth, lam, np.float32(0.0))
    lam_rejection = fnp.where(use_knuth, np.float32(1e5), lam)
    result = fnp.where(use_knuth, _poisson_knuth(key, lam_knuth, shape, dtype),
                       _poisson_rejection(key, lam_rejection, shape, dtype))
    return fnp.where(lam == 0, fnp.zeros((), dtype), result)


# -- binomial (JAX's, after TensorFlow: inversion for n * p <= 10, BTRS otherwise) ---------

_STIRLING_TAIL = [0.0810614667953272, 0.0413406959554092, 0.0276779256849983,
                  0.02079067210376509, 0.0166446911898211, 0.0138761288230707,
                  0.0118967099458917, 0.0104112652619720, 0.00925546218271273,
                  0.00833056343336287]


def _stirling_approx_tail(k):
    table = fnp.asarray(np.array(_STIRLING_TAIL, k.dtype))
    use_tail_values = k <= 9
    k = fnp.clip(k, k.dtype.type(0.0), k.dtype.type(9.0))
    kp1sq = (k + 1) * (k + 1)
    approx = (1.0 / 12 - (1.0 / 360 - 1.0 / 1260 / kp1sq) / kp1sq) / (k + 1)
    k = fnp.floor(k)
    return fnp.where(use_tail_values, fnp.take(table, k.astype(np.int32)), approx)


def _binomial_inversion(key, count, prob, shape, dtype):
    lax = _lax()
    log1minusprob = fnp.log1p(-prob)

    def body_fn(carry):
        num_geom, geom_sum, key = carry
        ks = split(key)
        subkey, key = ks[0], ks[1]
        num_geom_out = fnp.where(geom_sum <= count, num_geom + 1, num_geom)
        u = _uniform(subkey, shape, prob.dtype, 0.0, 1.0)
        geom = fnp.ceil(fnp.log(u) / log1minusprob)
        return num_geom_out, geom_sum + geom, key

    def cond_fn(carry):
        return fnp.any(carry[1] <= count)

    init = (fnp.zeros(shape, prob.dtype), fnp.zeros(shape, prob.dtype), key)
    k = lax.while_loop(cond_fn, body_fn, init)[0]
    return (k - 1).astype(dtype)


def _btrs(key, count, prob, shape, dtype):
    # Hormann's transformed rejection with squeeze (BTRS), as JAX and TensorFlow.
    lax = _lax()
    stddev = fnp.sqrt(count * prob * (1 - prob))
    b = 1.15 + 2.53 * stddev
    a = -0.0873 + 0.0248 * b + 0.01 * prob
    c = count * prob + 0.5
    v_r = 0.92 - 4.2 / b
    r = prob / (1 - prob)
    alpha = (2.83 + 5.1 / b) * stddev
    m = fnp.floor((count + 1) * prob)

    def body_fn(carry):
        k_out, accepted, key = carry
        ks = split(key, 3)
        key, subkey_0, subkey_1 = ks[0], ks[1], ks[2]
        u = _uniform(subkey_0, shape, prob.dtype, 0.0, 1.0)
        v = _uniform(subkey_1, shape, prob.dtype, 0.0, 1.0)
        u = u - 0.5
        us = 0.5 - fnp.abs(u)
        accept1 = (us >= 0.07) & (v <= v_r)
        k = fnp.floor((2 * a / us + b) * u + c)
        reject = (k < 0) | (k > count)
        v = fnp.log(v * alpha / (a / (us * us) + b))
        ub = ((m + 0.5) * fnp.log((m + 1) / (r * (count - m + 1)))
              + (count + 1) * fnp.log((count - m + 1) / (count - k + 1))
              + (k + 0.5) * fnp.log(r * (count - k + 1) / (k + 1))
              + _stirling_approx_tail(m)
              + _stirling_approx_tail(count - m)
              - _stirling_approx_tail(k)
              - _stirling_approx_tail(count - k))
        accept2 = v <= ub
        accept = accept1 | (~reject & accept2)
        return fnp.where(accept, k, k_out), accepted | accept, key

    def cond_fn(carry):
        return fnp.any(~carry[1])

    init = (fnp.full(shape, -1, prob.dtype), fnp.zeros(shape, bool), key)
    return lax.while_loop(cond_fn, body_fn, init)[0].astype(dtype)


def _binomial(key, count, prob, shape, dtype):
    # Not differentiable (the draws are integers): no gradient flows to n or p.
    count = stop_gradient(fnp.asarray(count))
    (prob,) = _promote_inexact(stop_gradient(fnp.asarray(prob)))
    if shape is None:
        shape = tuple(np.broadcast_shapes(count.shape, prob.shape))
    else:
        shape = _shape(shape)
        _check_shape("binomial", shape, count.shape, prob.shape)
    count = fnp.broadcast_to(count.astype(prob.dtype), shape)
    prob = fnp.broadcast_to(prob, shape)
    one = prob.dtype.type(1.0)
    p_lt_half = prob < 0.5
    q = fnp.where(p_lt_half, prob, one - prob)
    count_nan_or_neg = fnp.isnan(count) | (count < 0.0)
    count_inf = fnp.isinf(count)
    q_is_nan = fnp.isnan(q)
    q_l_0 = q < 0.0
    q = fnp.where(q_is_nan | q_l_0, prob.dtype.type(0.01), q)
    use_inversion = count_nan_or_neg | (count * q <= 10.0)
    count = fnp.floor(count)
    count_inv = fnp.where(use_inversion, count, prob.dtype.type(0.0))
    count_btrs = fnp.where(use_inversion, prob.dtype.type(1e4), count)
    q_btrs = fnp.where(use_inversion, prob.dtype.type(0.5), q)
    samples = fnp.where(use_inversion,
                        _binomial_inversion(key, count_inv, q, shape, dtype),
                        _btrs(key, count_btrs, q_btrs, shape, dtype))
    invalid = q_l_0 | q_is_nan | count_nan_or_neg
    samples = fnp.where(invalid, dtype.type(np.nan), samples)
    samples = fnp.where(count_inf & ~invalid, dtype.type(np.inf), samples)
    return fnp.where(p_lt_half | count_nan_or_neg | q_is_nan | count_inf, samples,
                     count.astype(dtype) - samples)


def binomial(key: Any, n: Any, p: Any, shape: Sequence[int] | None = None,
             dtype: Any = None) -> Any:
    """Binomial(n, p) counts as floats (JAX's algorithm: inversion by geometric jumps for
    n * min(p, 1-p) <= 10, BTRS rejection otherwise; the same key gives JAX's draws).
    Not differentiable (no gradient flows to n or p).

    >>> float(binomial(PRNGKey(0), 10.0, 0.0))
    0.0
    """
    key = _check_key("binomial", key)
    dtype = np.dtype(np.float64 if dtype is None else dtype)
    if not np.issubdtype(dtype, np.floating):
        raise ValueError(f"dtype argument to `binomial` must be a float dtype, got {dtype}")
    with np.errstate(all="ignore"):  # rejected proposals take logs of negatives, as JAX's
        return _binomial(key, n, p, shape, dtype)


def multinomial(key: Any, n: Any, p: Any, *, shape: Sequence[int] | None = None,
                dtype: Any = None, unroll: int | bool = 1) -> Any:
    """Multinomial(n, p) counts along the last axis of p (JAX's method: a scan of
    conditional binomials, one key per category).

    >>> multinomial(PRNGKey(0), 10.0, np.array([0.2, 0.3, 0.5])).sum().item()
    10.0
    """
    key = _check_key("multinomial", key)
    dtype = np.dtype(np.float64 if dtype is None else dtype)
    n, p = _promote_inexact(n, p)
    shape = p.shape if shape is None else _shape(shape)
    n = fnp.broadcast_to(n, shape[:-1])
    p = fnp.broadcast_to(p, shape)

    def f(remainder, ratio_key):
        ratio, k = ratio_key
        count = _binomial(k, remainder, fnp.clip(ratio, 0, 1), None, remainder.dtype)
        return remainder - count, count

    p = fnp.moveaxis(p, -1, 0)
    # reversed cumulative sum (summed from the last category, as a reverse scan)
    remaining_probs = fnp.flip(fnp.cumsum(fnp.flip(p, 0), axis=0), 0)
    ratios = p / fnp.where(remaining_probs == 0, p.dtype.type(1), remaining_probs)
    keys = split(key, ratios.shape[0])
    with np.errstate(all="ignore"):
        _, counts = _lax().scan(f, n, (ratios, keys), unroll=unroll)
    return fnp.moveaxis(counts, 0, -1).astype(dtype)


# -- orthogonal: Q of the QR decomposition of a normal matrix, R with a positive diagonal ----


def _qr_positive(z):
    """Q of z = QR (z of shape (..., m, k), m >= k) with R's diagonal made positive: a
    unique factor, so it equals LAPACK's Householder Q times sign(diag(R)) as JAX uses.
    Modified Gram-Schmidt, twice (re-orthogonalisation) for accuracy."""
    k = z.shape[-1]
    cols = []
    for j in range(k):
        v = z[..., :, j]
        for _ in range(2):
            for q in cols:
                v = v - fnp.sum(q * v, axis=-1, keepdims=True) * q
        v = v / fnp.sqrt(fnp.sum(v * v, axis=-1, keepdims=True))
        cols.append(v)
    return fnp.stack(cols, axis=-1)


def orthogonal(key: Any, n: int, shape: Sequence[int] = (), dtype: Any = None,
               m: int | None = None) -> Any:
    """Random orthogonal n x m matrices (uniform under the Haar measure when square).

    >>> q = orthogonal(PRNGKey(0), 3)
    >>> bool(np.allclose(q @ q.T, np.eye(3)))
    True
    """
    key = _check_key("orthogonal", key)
    dtype = _float_dtype("orthogonal", dtype)
    m = n if m is None else int(m)
    n = int(n)
    shape = _shape(shape)
    z = _normal(key, (*shape, max(n, m), min(n, m)), dtype)
    x = _qr_positive(z)
    return fnp.swapaxes(x, -1, -2) if n < m else x


# -- more samplers, composed as in JAX -------------------------------------------------------


def _params(name, dtype, shape, *params):
    params = [fnp.asarray(p).astype(dtype) for p in params]
    return _broadcast_shape(name, shape, *params), params


def pareto(key: Any, b: Any, shape: Sequence[int] | None = None, dtype: Any = None) -> Any:
    """Pareto floats with shape parameter b, exp(exponential / b).

    >>> float(pareto(PRNGKey(0), 3.0)) >= 1
    True
    """
    key = _check_key("pareto", key)
    dtype = _float_dtype("pareto", dtype)
    shape, (b,) = _params("pareto", dtype, shape, b)
    return fnp.exp(_exponential(key, shape, dtype) / b)


def _chisquare(key, df, shape, dtype):
    half_df = df / 2
    return fnp.exp(_gamma(key, half_df, shape, dtype, log_space=True)) * 2


def chisquare(key: Any, df: Any, shape: Sequence[int] | None = None,
              dtype: Any = None) -> Any:
    """Chi-square floats with df degrees of freedom (differentiable in df).

    >>> float(chisquare(PRNGKey(0), 4.0)) > 0
    True
    """
    key = _check_key("chisquare", key)
    dtype = _float_dtype("chisquare", dtype)
    shape, (df,) = _params("chisquare", dtype, shape, df)
    return _chisquare(key, df, shape, dtype)


def f(key: Any, dfnum: Any, dfden: Any, shape: Sequence[int] | None = None,
      dtype: Any = None) -> Any:
    """F-distributed floats with dfnum and dfden degrees of freedom.

    >>> float(f(PRNGKey(0), 3.0, 5.0)) > 0
    True
    """
    key = _check_key("f", key)
    dtype = _float_dtype("f", dtype)
    shape, (dfnum, dfden) = _params("f", dtype, shape, dfnum, dfden)
    key_dfd, key_dfn = _split2(key)
    num = _chisquare(key_dfn, dfnum, shape, dtype) / dfnum
    den = _chisquare(key_dfd, dfden, shape, dtype) / dfden
    return num / den


def maxwell(key: Any, shape: Sequence[int] = (), dtype: Any = None) -> Any:
    """Maxwell floats: the norm of a 3-d standard normal vector.

    >>> float(maxwell(PRNGKey(0))) > 0
    True
    """
    key = _check_key("maxwell", key)
    dtype = _float_dtype("maxwell", dtype)
    z = _normal(key, _shape(shape) + (3,), dtype)
    return fnp.sqrt(fnp.sum(z * z, axis=-1))


def double_sided_maxwell(key: Any, loc: Any, scale: Any, shape: Sequence[int] = (),
                         dtype: Any = None) -> Any:
    """Double-sided Maxwell floats: loc + scale * (random sign) * maxwell.

    >>> double_sided_maxwell(PRNGKey(0), 0.0, 1.0, (2,)).shape
    (2,)
    """
    key = _check_key("double_sided_maxwell", key)
    dtype = _float_dtype("double_sided_maxwell", dtype)
    loc = fnp.asarray(loc).astype(dtype)
    scale = fnp.asarray(scale).astype(dtype)
    params_shape = tuple(np.broadcast_shapes(loc.shape, scale.shape))
    shape = _shape(shape) or params_shape
    shape = shape + params_shape
    maxwell_key, rademacher_key = _split2(key)
    return (rademacher(rademacher_key, shape, dtype) * maxwell(maxwell_key, shape, dtype)
            * scale + loc)


def weibull_min(key: Any, scale: Any, concentration: Any, shape: Sequence[int] = (),
                dtype: Any = None) -> Any:
    """Weibull floats, (-log1p(-u)) ** (1 / concentration) * scale.

    >>> float(weibull_min(PRNGKey(0), 2.0, 1.5)) > 0
    True
    """
    key = _check_key("weibull_min", key)
    dtype = _float_dtype("weibull_min", dtype)
    u = _uniform(key, _shape(shape), dtype, 0.0, 1.0)
    return fnp.power(-fnp.log1p(-u), 1.0 / concentration) * scale


def rayleigh(key: Any, scale: Any, shape: Sequence[int] | None = None,
             dtype: Any = None) -> Any:
    """Rayleigh floats, scale * sqrt(-2 log u).

    >>> float(rayleigh(PRNGKey(0), 2.0)) > 0
    True
    """
    key = _check_key("rayleigh", key)
    dtype = _float_dtype("rayleigh", dtype)
    shape, (scale,) = _params("rayleigh", dtype, shape, scale)
    u = _uniform(key, shape, dtype, 0.0, 1.0)
    return fnp.broadcast_to(scale, shape) * fnp.sqrt(fnp.log(u) * -2.0)


def geometric(key: Any, p: Any, shape: Sequence[int] | None = None,
              dtype: Any = np.int64) -> Any:
    """Geometric integers >= 1: the number of Bernoulli(p) trials up to the first success.

    >>> int(geometric(PRNGKey(0), 1.0))
    1
    """
    key = _check_key("geometric", key)
    (p,) = _promote_inexact(p)
    shape = _broadcast_shape("geometric", shape, p)
    u = _uniform(key, shape, p.dtype, 0.0, 1.0)
    u = fnp.where(u == 0, 1.0, u)
    log_one_minus_p = fnp.broadcast_to(fnp.log1p(-p), shape)
    return (fnp.floor(fnp.log(u) / log_one_minus_p) + 1).astype(dtype)


def lognormal(key: Any, sigma: Any = 1.0, shape: Sequence[int] | None = None,
              dtype: Any = None) -> Any:
    """Log-normal floats exp(sigma * normal) (differentiable in sigma).

    >>> float(lognormal(PRNGKey(0))) > 0
    True
    """
    key = _check_key("lognormal", key)
    dtype = _float_dtype("lognormal", dtype)
    shape, (sigma,) = _params("lognormal", dtype, shape, sigma)
    return fnp.exp(_normal(key, shape, dtype) * sigma)


def wald(key: Any, mean: Any, shape: Sequence[int] | None = None, dtype: Any = None) -> Any:
    """Wald (inverse Gaussian) floats with the given mean.

    >>> float(wald(PRNGKey(0), 1.5)) > 0
    True
    """
    key = _check_key("wald", key)
    dtype = _float_dtype("wald", dtype)
    shape, (mean,) = _params("wald", dtype, shape, mean)
    k1, k2 = _split2(key)
    mean = fnp.broadcast_to(mean, shape)
    v = _normal(k1, shape, dtype)
    z = _uniform(k2, shape, dtype, 0.0, 1.0)
    y = v * v
    y_sq = y * y
    mean_sq = mean * mean
    sqrt_term = fnp.sqrt(4 * mean * y + mean_sq * y_sq)
    x = mean + mean_sq * y / 2 - mean / 2 * sqrt_term
    return fnp.where(z <= mean / (mean + x), x, mean_sq / x)


def generalized_normal(key: Any, p: Any, shape: Sequence[int] = (),
                       dtype: Any = None) -> Any:
    """Generalized normal floats with exponent p (p=2: normal up to scale).

    >>> generalized_normal(PRNGKey(0), 1.5, (2,)).shape
    (2,)
    """
    key = _check_key("generalized_normal", key)
    dtype = _float_dtype("generalized_normal", dtype)
    p = fnp.asarray(p).astype(dtype)
    shape = _shape(shape)
    keys = split(key)
    g = _gamma(keys[0], 1 / p, shape, dtype)
    r = rademacher(keys[1], shape, dtype)
    return r * g ** (1 / p)


def ball(key: Any, d: int, p: float = 2, shape: Sequence[int] = (),
         dtype: Any = None) -> Any:
    """Points drawn uniformly from the d-dimensional unit p-norm ball (shape (*shape, d)).

    Barthe et al.'s construction, composed as JAX's: g = generalized_normal(k1, p) in
    each coordinate, e = exponential(k2), g / (sum |g|**p + e) ** (1/p).

    >>> ball(PRNGKey(0), 3, shape=(2,)).shape
    (2, 3)
    """
    key = _check_key("ball", key)
    if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1:
        raise ValueError(f"ball: d must be a positive integer, got {d!r}")
    if not isinstance(p, (int, float, np.integer, np.floating)) or p <= 0:
        raise ValueError(f"ball: p must be a positive number, got {p!r}")
    dtype = _float_dtype("ball", dtype)
    shape = _shape(shape)
    k1, k2 = split(key)
    g = generalized_normal(k1, float(p), (*shape, int(d)), dtype)
    e = exponential(k2, shape, dtype)
    r = (fnp.sum(fnp.abs(g) ** p, axis=-1) + e) ** (1 / p)
    return g / r[..., None]


def triangular(key: Any, left: Any, mode: Any, right: Any,
               shape: Sequence[int] | None = None, dtype: Any = None) -> Any:
    """Triangular floats on [left, right] with the given mode.

    >>> 0 <= float(triangular(PRNGKey(0), 0.0, 1.0, 3.0)) <= 3
    True
    """
    key = _check_key("triangular", key)
    dtype = _float_dtype("triangular", dtype)
    shape, (left, mode, right) = _params("triangular", dtype, shape, left, mode, right)
    left, mode, right = (fnp.broadcast_to(v, shape) for v in (left, mode, right))
    fc = (mode - left) / (right - left)
    u = _uniform(key, shape, dtype, 0.0, 1.0)
    out1 = left + fnp.sqrt(u * (right - left) * (mode - left))
    out2 = right - fnp.sqrt((1 - u) * (right - left) * (right - mode))
    return fnp.where(u < fc, out1, out2)


# Called outside transforms, the public functions return funcad.Arrays.
from funcad._array import export_arrays as _export_arrays  # noqa: E402

_export_arrays(globals())
