"""Shared machinery of funcad.numpy: dtype promotion, broadcasting and creation functions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from funcad import _core, _dtypes
from funcad._dtypes import inexact_dtype  # noqa: F401  (re-exported to the numpy modules)
from funcad._array import Array, mark_weak, to_arrays
from funcad._core import Tracer, current_dynamic_main, get_aval
from funcad.primitives.elementwise import convert_element_type_p
from funcad.primitives.structural import broadcast_in_dim, iota, reshape
from funcad.primitives.structural import full as _full

ArrayLike = Any
_PY_SCALARS = (bool, int, float, complex)
_WEAK_SCALARS = (int, float, complex)


def is_traced(x: Any) -> bool:
    return isinstance(x, Tracer)


def lift(x: Any) -> Any:
    """Inside a transform, make a created array a tracer of the innermost active trace.

    funcad.numpy's creation functions promise traced results inside transforms, so that
    methods such as `.at[]` work on them; outside transforms they are funcad.Arrays.
    """
    main = _core.trace_stack[-1]
    if main.level == 0:
        return to_arrays(x)     # outside transforms: a funcad.Array
    if isinstance(x, Tracer):
        return x
    return main.trace.pure(x)


def asarray(a: ArrayLike, dtype: Any = None, order: Any = None, *,
            copy: bool | None = None) -> Any:
    """Convert to an array: tracers pass through, everything else becomes a funcad.Array.

    A writeable NumPy array is copied (as JAX copies it), so that writing into it later
    does not change the immutable result; an Array is returned as it is.

    >>> import funcad.numpy as fnp
    >>> fnp.asarray([1.0, 2.0])
    Array([1., 2.], dtype=float64)
    """
    if type(a) is Array and (dtype is None or a.dtype == dtype) and not copy:
        return a
    if dtype is None and (type(a) in _WEAK_SCALARS or type(a) is Array and a._weak):
        return lift(mark_weak(np.asarray(a)))        # JAX: weakly typed
    out = _asarray(a, dtype, copy)
    if (out is a and type(a) is np.ndarray and copy is not False
            and len(_core.trace_stack) == 1 and a.flags.writeable):
        out = a.copy()
    return lift(out)


def _asarray(a: ArrayLike, dtype: Any = None, copy: bool | None = None) -> Any:
    """asarray for funcad's own use: concrete inputs stay ndarrays."""
    if isinstance(a, Tracer):
        return a if dtype is None else astype(a, dtype)
    if isinstance(a, (list, tuple)) and any(_contains_tracer(x) for x in a):
        return stack([_asarray(x, dtype) for x in a])
    arr = np.array(a, dtype=dtype, copy=copy) if copy else np.asarray(a, dtype=dtype)
    if arr.dtype == object:
        raise TypeError(f"funcad.numpy cannot make an array from {a!r:.80}")
    return arr


def array(object: ArrayLike, dtype: Any = None, *, copy: bool = True, order: Any = "K",
          ndmin: int = 0) -> Any:
    """Create an array (a copy for concrete inputs), like numpy.array.

    >>> import funcad.numpy as fnp
    >>> fnp.array([[1, 2]]).shape
    (1, 2)
    """
    out = _asarray(object, dtype)
    if not isinstance(out, Tracer) and copy:
        out = np.array(out, copy=True)
        if dtype is None and (type(object) in _WEAK_SCALARS
                              or type(object) is Array and object._weak):
            out = mark_weak(out)           # JAX: weakly typed
    while ndim(out) < ndmin:
        out = reshape(out, (1, *shape(out)))
    return lift(out)


def _contains_tracer(x) -> bool:
    if isinstance(x, Tracer):
        return True
    if isinstance(x, (list, tuple)):
        return any(_contains_tracer(y) for y in x)
    return False


def shape(a: ArrayLike) -> tuple[int, ...]:
    """Shape of an array or tracer."""
    return get_aval(a).shape if isinstance(a, Tracer) else np.shape(a)


_shape_of = shape


def ndim(a: ArrayLike) -> int:
    """Number of dimensions."""
    return len(shape(a))


def size(a: ArrayLike, axis: int | None = None) -> int:
    """Number of elements (along `axis` if given)."""
    s = shape(a)
    return int(np.prod(s, dtype=np.int64)) if axis is None else s[axis]


def result_type(*args: Any) -> np.dtype:
    """Promoted dtype by JAX's rules (funcad/_dtypes.py): Python numbers are weak, and an
    integer meeting a float gives that float.

    >>> import numpy as np, funcad.numpy as fnp
    >>> fnp.result_type(np.ones(2, np.float32), 2.0), fnp.result_type(np.int32, np.float32)
    (dtype('float32'), dtype('float32'))
    """
    return _dtypes.result_type(*args)


_WEAK_PY = {"i": int, "f": float, "c": complex}


def astype(x: Any, dtype: Any, weak: bool = False) -> Any:
    """Convert to `dtype` (a no-op when it already has it); weakly typed when `weak` (an
    operand promoted to a weak type: `int32_x * 0.5` converts `int32_x` to weak float64)."""
    dtype = np.dtype(dtype)
    if isinstance(x, Tracer):
        if x.aval.dtype == dtype:
            return x
        if weak:
            return convert_element_type_p.bind(x, new_dtype=dtype, weak_type=True)
        return convert_element_type_p.bind(x, new_dtype=dtype)
    if type(x) in _PY_SCALARS:
        if weak and type(x) is not bool:
            return _weak_scalar(_WEAK_PY[dtype.kind](x))
        return dtype.type(x)
    if weak:
        x = np.asarray(x)
        return mark_weak(x if x.dtype == dtype else x.astype(dtype))
    x = np.asarray(x)
    return x if x.dtype == dtype else x.astype(dtype)


def _weak_scalar(x: int | float | complex) -> Any:
    """A Python number as a weakly typed rank-0 array: an Array outside transforms, a
    tracer of the innermost trace inside (a weak literal)."""
    main = _core.trace_stack[-1]
    if main.level == 0:
        return mark_weak(np.asarray(x))
    return main.trace.pure(x)


def is_weak(x: Any) -> bool:
    """Whether `x` is weakly typed: a Python number (not a bool), a weak Array or tracer."""
    t = type(x)
    if t is int or t is float or t is complex:
        return True
    if t is Array:
        return x._weak
    return isinstance(x, Tracer) and x.aval.weak_type


def _to_array_operand(x: Any) -> Any:
    if isinstance(x, (Tracer, np.ndarray, np.generic)) or type(x) in _PY_SCALARS:
        return x
    return _asarray(x)


def promote(*args: Any, dtype: Any = None) -> list:
    """Convert arguments to a common dtype (NumPy 2 promotion rules)."""
    args = [_to_array_operand(a) for a in args]
    if dtype is not None:
        dt = np.dtype(dtype)
        return [astype(a, dt) for a in args]
    dt, weak = _dtypes.result_type_weak(*args)
    return [astype(a, dt, weak) for a in args]


def promote_inexact(*args: Any) -> list:
    """Promote, then make bool/integer results inexact as JAX does (`inexact_dtype`:
    float32 up to 32 bits, float64 for 64)."""
    args = [_to_array_operand(a) for a in args]
    dt, weak = _dtypes.result_type_weak(*args)
    dt = inexact_dtype(dt)
    return [astype(a, dt, weak) for a in args]


def broadcast_shapes(*shapes: Sequence[int], op: str = "operation") -> tuple[int, ...]:
    """NumPy broadcasting of shapes; a ValueError naming both shapes otherwise."""
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise ValueError(f"{op}: operands could not be broadcast together with shapes "
                         f"{' '.join(str(tuple(s)) for s in shapes)}") from None


def scalar_operand(value: Any, like: Any) -> Any:
    """A Python number as an array of the shape and dtype of aval `like`."""
    if current_dynamic_main().level == 0:
        out = np.empty(like.shape, like.dtype)
        out.fill(value)  # np.full, at half the cost (it is on every eager op with a number)
        return out
    if not like.shape:
        return like.dtype.type(value)
    return broadcast_in_dim(like.dtype.type(value), like.shape, ())


def broadcast_to(array: ArrayLike, shape: Sequence[int]) -> Any:
    """Broadcast an array to a shape, NumPy style.

    >>> import funcad.numpy as fnp
    >>> fnp.broadcast_to(fnp.array([1.0, 2.0]), (2, 2)).shape
    (2, 2)
    """
    x = _to_array_operand(array)
    shape_ = _shape_arg(shape)
    s = _shape_of(x)
    if s == shape_:
        return x
    if broadcast_shapes(s, shape_, op="broadcast_to") != shape_:
        raise ValueError(f"broadcast_to: cannot broadcast shape {s} to {shape_}")
    nd = len(shape_)
    if not isinstance(x, Tracer) and current_dynamic_main().level == 0:
        return mark_weak(np.array(np.broadcast_to(x, shape_)), is_weak(x))
    # drop size-1 dims that need expanding, then broadcast_in_dim
    dims = tuple(range(nd - len(s), nd))
    return broadcast_in_dim(x, shape_, dims)


def broadcast_arrays(*args: Any, op: str = "operation") -> list:
    """Broadcast arrays against each other."""
    shapes = [shape(a) for a in args]
    if all(s == shapes[0] for s in shapes):
        return list(args)
    target = broadcast_shapes(*shapes, op=op)
    return [broadcast_to(a, target) for a in args]


def prepare(op: str, *args: Any, inexact: bool = False, dtype: Any = None) -> list:
    """Promote dtypes then broadcast shapes: the operands of an elementwise primitive."""
    args = promote_inexact(*args) if inexact else promote(*args, dtype=dtype)
    return broadcast_arrays(*args, op=op)


# -- creation ------------------------------------------------------------------------------


def _shape_arg(shape_: Any) -> tuple[int, ...]:
    if isinstance(shape_, (int, np.integer)):
        return (int(shape_),)
    # A traced size raises ConcretizationTypeError (naming static_argnums), not a bare TypeError.
    if isinstance(shape_, Tracer) and shape_.ndim == 0:
        return (int(shape_.to_concrete("shape")),)
    if isinstance(shape_, (tuple, list)):
        shape_ = [d.to_concrete("shape") if isinstance(d, Tracer) else d for d in shape_]
    try:
        return tuple(int(d) for d in shape_)
    except TypeError as e:
        raise TypeError(f"shape must be an int or a tuple of ints, got {shape_!r}") from e


def zeros(shape: Any, dtype: Any = None) -> Any:
    """Array of zeros (float64 by default).

    >>> import funcad.numpy as fnp
    >>> fnp.zeros(2)
    Array([0., 0.], dtype=float64)
    """
    return lift(_full(_shape_arg(shape), 0, np.dtype(dtype or np.float64)))


def ones(shape: Any, dtype: Any = None) -> Any:
    """Array of ones (float64 by default)."""
    return lift(_full(_shape_arg(shape), 1, np.dtype(dtype or np.float64)))


def full(shape: Any, fill_value: Any, dtype: Any = None) -> Any:
    """Array filled with `fill_value` (which may be traced, and an array that broadcasts);
    weakly typed when `dtype` is None and `fill_value` is (a Python number), as in JAX."""
    weak = False
    if dtype is None:
        dtype, weak = _dtypes.result_type_weak(fill_value)
    if isinstance(fill_value, Tracer) and fill_value.ndim:
        return broadcast_to(astype(fill_value, dtype), _shape_arg(shape))
    if not isinstance(fill_value, Tracer) and np.ndim(fill_value):
        return lift(mark_weak(broadcast_to(np.asarray(fill_value, dtype), _shape_arg(shape)),
                              weak))
    return lift(_filled(_shape_arg(shape), fill_value, np.dtype(dtype), weak))


def _filled(shape_: tuple, fill_value: Any, dtype: np.dtype, weak: bool) -> Any:
    return keep_weak(_full(shape_, fill_value, dtype), weak)


def keep_weak(x: Any, weak: bool) -> Any:
    """`x` weakly typed when `weak` (a function whose result JAX types weakly, computed
    here through steps that drop the weak type)."""
    if not weak:
        return x
    if isinstance(x, Tracer):
        return x if x.aval.weak_type else convert_element_type_p.bind(
            x, new_dtype=x.aval.dtype, weak_type=True)
    return mark_weak(x)


def _like(a: Any, dtype: Any, shape_: Any) -> tuple[tuple[int, ...], np.dtype, bool]:
    s = _shape_arg(shape_) if shape_ is not None else _shape_of(a)
    if dtype is not None:
        return s, np.dtype(dtype), False
    return (s, *_dtypes.result_type_weak(_to_array_operand(a)))


def zeros_like(a: Any, dtype: Any = None, shape: Any = None) -> Any:
    """Zeros with the shape and dtype (and weak type) of `a`."""
    s, dt, weak = _like(a, dtype, shape)
    return lift(_filled(s, 0, dt, weak))


def ones_like(a: Any, dtype: Any = None, shape: Any = None) -> Any:
    """Ones with the shape and dtype (and weak type) of `a`."""
    s, dt, weak = _like(a, dtype, shape)
    return lift(_filled(s, 1, dt, weak))


def full_like(a: Any, fill_value: Any, dtype: Any = None, shape: Any = None) -> Any:
    """`fill_value` with the shape and dtype (and weak type) of `a`."""
    s, dt, weak = _like(a, dtype, shape)
    out = full(s, fill_value, dt)
    return lift(_filled(s, fill_value, dt, weak)) if weak and not np.ndim(fill_value) else out


def _static(x: Any, what: str) -> Any:
    if isinstance(x, Tracer):
        return x.to_concrete("shape")
    return x


def arange(start: Any, stop: Any = None, step: Any = None, dtype: Any = None) -> Any:
    """Evenly spaced values (the bounds must be concrete).

    >>> import funcad.numpy as fnp
    >>> fnp.arange(3)
    Array([0, 1, 2], dtype=int64)
    """
    start = _static(start, "arange")
    stop = _static(stop, "arange")
    step = _static(step, "arange")
    if stop is None:
        start, stop = 0, start
    r = np.arange(start, stop, 1 if step is None else step, dtype=dtype)
    if current_dynamic_main().level > 0 and r.ndim == 1 and r.size > 0 and (
            start == 0 and step in (None, 1)) and np.issubdtype(r.dtype, np.integer):
        return iota(r.dtype, r.shape, 0)
    return lift(r)


def linspace(start: Any, stop: Any, num: int = 50, endpoint: bool = True,
             retstep: bool = False, dtype: Any = None, axis: int = 0) -> Any:
    """`num` evenly spaced samples from start to stop (the ends may be traced).

    >>> import funcad.numpy as fnp
    >>> fnp.linspace(0.0, 1.0, 3)
    Array([0. , 0.5, 1. ], dtype=float64)
    """
    if not isinstance(start, Tracer) and not isinstance(stop, Tracer):
        out = np.linspace(start, stop, num, endpoint=endpoint, retstep=retstep,
                          dtype=dtype, axis=axis)
        return (lift(out[0]), out[1]) if retstep else lift(out)
    num = int(num)
    div = (num - 1) if endpoint else num
    t = np.arange(num, dtype=np.float64) / max(div, 1)
    start_, stop_ = promote_inexact(start, stop)
    from funcad.numpy._ufuncs import add, multiply, subtract, true_divide
    s = broadcast_shapes(shape(start_), shape(stop_), op="linspace")
    t = t.reshape((num,) + (1,) * len(s))
    step = subtract(stop_, start_)
    out = add(start_, multiply(t, step))
    if endpoint and num > 1:
        # NumPy makes the last sample exactly `stop`.
        from funcad.numpy._indexing import at
        out = at(out)[-1].set(broadcast_to(stop_, s))
    if dtype is not None:
        out = astype(out, dtype)
    if axis != 0:
        from funcad.numpy._shapes import moveaxis
        out = moveaxis(out, 0, axis)
    if retstep:
        return out, true_divide(step, max(div, 1))
    return out


def eye(N: int, M: int | None = None, k: int = 0, dtype: Any = float) -> Any:
    """Identity-like matrix with ones on diagonal `k`."""
    return lift(np.eye(N, M, k, dtype=dtype or np.float64))


def identity(n: int, dtype: Any = None) -> Any:
    """Identity matrix."""
    return lift(np.eye(n, dtype=dtype or np.float64))


def stack(arrays: Sequence, axis: int = 0, out: None = None, *, dtype: Any = None) -> Any:
    """Join arrays along a new axis."""
    from funcad.numpy._shapes import concatenate, expand_dims
    if out is not None:
        raise TypeError("stack: out= is not supported; use the returned array")
    arrays = [_to_array_operand(a) for a in arrays]
    if dtype is not None:
        arrays = [astype(a, dtype) for a in arrays]
    if not arrays:
        raise ValueError("need at least one array to stack")
    s0 = shape(arrays[0])
    for a in arrays[1:]:
        if shape(a) != s0:
            raise ValueError(f"stack: all input arrays must have the same shape, got "
                             f"{s0} and {shape(a)}")
    nd = len(s0) + 1
    if not -nd <= axis < nd:
        raise ValueError(f"stack: axis {axis} is out of bounds for the result of rank {nd}")
    return concatenate([expand_dims(a, axis % nd) for a in arrays], axis=axis % nd)
