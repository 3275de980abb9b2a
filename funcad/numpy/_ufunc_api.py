"""funcad.numpy.ufunc and frompyfunc: NumPy's ufunc methods (reduce, accumulate, at,
reduceat, outer) on any elementwise function, as jax.numpy.ufunc.

The binary ufuncs of funcad.numpy (add, multiply, maximum, logical_and, ...) and
negative are `ufunc` instances built by `builtin`: each gets its own subclass whose
`__call__` is the plain function itself (a staticmethod), so that `fnp.add(x, y)` costs
one slot call more than the function (~40 ns), not a Python-level wrapper (~130 ns).
Their methods use fused paths where funcad has them (add.reduce is sum, add.accumulate
cumsum, add.at `.at[].add`, maximum.accumulate lax.cummax, ...); every other ufunc
(frompyfunc's included) gets generic ones: reduce as a fori_loop over the axis,
accumulate as a scan, at as a scan over the indices, reduceat as JAX's masked loop.
"""

from __future__ import annotations

import inspect
import math
import operator
import sys
from typing import Any, Callable

import numpy as np

from funcad import _core
from funcad._array import to_arrays

_AT_INPLACE = ("funcad arrays are immutable, so ufunc.at() cannot update in place as "
               "numpy.ufunc.at() does. Pass inplace=False and use the result, e.g. "
               "`arr = fnp.add.at(arr, idx, vals, inplace=False)`.")


def _out(x: Any) -> Any:
    """Results leave funcad as Arrays (outside transforms)."""
    return to_arrays(x) if len(_core.trace_stack) == 1 else x


def _canon_axis(axis: Any, nd: int, what: str) -> int:
    try:
        ax = operator.index(axis)
    except TypeError:
        raise TypeError(f"{what}: axis must be an integer, got {axis!r}") from None
    if not -nd <= ax < nd:
        raise ValueError(f"{what}: axis {ax} is out of bounds for an array of rank {nd}")
    return ax % nd


class ufunc:
    """A universal function: elementwise over broadcast arrays, with NumPy's ufunc
    methods reduce, accumulate, at (inplace=False), reduceat and outer, as jax.numpy.ufunc.

    >>> import funcad.numpy as fnp
    >>> x = fnp.array([1, 2, 3, 4, 5])
    >>> fnp.add.nin, fnp.add.nout, fnp.add.identity
    (2, 1, 0)
    >>> int(fnp.add.reduce(x))
    15
    >>> fnp.multiply.accumulate(x)
    Array([  1,   2,   6,  24, 120], dtype=int64)
    >>> fnp.add.at(x, 0, 100, inplace=False)
    Array([101,   2,   3,   4,   5], dtype=int64)
    >>> fnp.add.reduceat(x, fnp.array([0, 2]))
    Array([ 3, 12], dtype=int64)
    >>> fnp.maximum.outer(fnp.array([1, 4]), fnp.array([2, 3])).tolist()
    [[2, 3], [4, 4]]
    """

    def __init__(self, func: Callable[..., Any], /, nin: int, nout: int, *,
                 name: str | None = None, nargs: int | None = None, identity: Any = None,
                 call: Callable[..., Any] | None = None,
                 reduce: Callable[..., Any] | None = None,
                 accumulate: Callable[..., Any] | None = None,
                 at: Callable[..., Any] | None = None,
                 reduceat: Callable[..., Any] | None = None):
        if not callable(func):
            raise TypeError(f"ufunc: func must be callable, got {func!r}")
        self.__name__ = self.__qualname__ = name or getattr(func, "__name__", "ufunc")
        self.__doc__ = getattr(func, "__doc__", None) or type(self).__doc__
        self.__module__ = getattr(func, "__module__", None) or __name__
        # Read-only (properties below): ufuncs are hashable and may be static arguments.
        self._props = (func, operator.index(nin), operator.index(nout),
                       operator.index(nargs or nin), identity)
        self._impls = {"call": call, "reduce": reduce, "accumulate": accumulate, "at": at,
                       "reduceat": reduceat}

    _func = property(lambda self: self._props[0])
    nin = property(lambda self: self._props[1], doc="The number of inputs.")
    nout = property(lambda self: self._props[2], doc="The number of outputs.")
    nargs = property(lambda self: self._props[3], doc="The number of arguments.")
    identity = property(lambda self: self._props[4],
                        doc="The identity of the operation (None if it has none).")

    def __hash__(self) -> int:
        return hash((self._func, self.__name__, *self._props[1:]))

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, ufunc) and (
            (self._func, self.__name__, *self._props[1:]) ==
            (other._func, other.__name__, *other._props[1:]))

    def __repr__(self) -> str:
        return f"<funcad.numpy.ufunc '{self.__name__}'>"

    def __reduce_ex__(self, protocol):
        # funcad.numpy's own ufuncs pickle by name, as functions do.
        home = sys.modules.get(self.__module__)
        if home is not None and getattr(home, self.__name__, None) is self:
            return self.__name__
        if type(self) is not ufunc:
            raise TypeError(f"cannot pickle {self!r}: it is not found as "
                            f"{self.__module__}.{self.__name__}")
        return super().__reduce_ex__(protocol)

    # -- calling ---------------------------------------------------------------------------

    def __call__(self, *args: Any, out: None = None, where: None = None) -> Any:
        """Apply the function elementwise to the broadcast arguments."""
        if out is not None:
            raise NotImplementedError(f"the out argument of {self!r} is not supported "
                                      f"(arrays are immutable: use the result)")
        if where is not None:
            raise NotImplementedError(f"the where argument of {self!r} is not supported; "
                                      f"use fnp.where on the result")
        if len(args) != self.nin:
            raise TypeError(f"{self.__name__} takes {self.nin} argument(s), got {len(args)}")
        call = self._impls["call"]
        if call is not None:
            return call(*args)
        return _out(self._vectorized(*args))

    def _vectorized(self, *args: Any) -> Any:
        from funcad.numpy._vectorize import vectorize
        return vectorize(self._func)(*args)

    def _apply(self, *args: Any) -> Any:
        """The function on arrays inside funcad (no Array conversion)."""
        call = self._impls["call"]
        return call(*args) if call is not None else self._vectorized(*args)

    def _result_dtype(self, *dtypes: Any) -> np.dtype:
        """The dtype of the function's result for scalar arguments of these dtypes."""
        from funcad._extras import ShapeDtypeStruct, eval_shape
        out = eval_shape(self._apply, *[ShapeDtypeStruct((), np.dtype(d)) for d in dtypes])
        return np.dtype(out.dtype)

    def _binary(self, what: str) -> None:
        if self.nin != 2:
            raise ValueError(f"{what} only supported for binary ufuncs ({self.__name__} has "
                             f"{self.nin} input(s))")
        if self.nout != 1:
            raise ValueError(f"{what} only supported for functions returning a single value "
                             f"({self.__name__} has {self.nout} outputs)")

    # -- reduce ----------------------------------------------------------------------------

    def reduce(self, a: Any, axis: Any = 0, dtype: Any = None, out: None = None,
               keepdims: bool = False, initial: Any = None, where: Any = None) -> Any:
        """Reduce `a` along `axis` (an int, a tuple or None: all) by the binary function,
        as numpy.ufunc.reduce (where= needs an identity or initial)."""
        self._binary(f"{self.__name__}.reduce")
        if out is not None:
            raise NotImplementedError(f"the out argument of {self.__name__}.reduce() is not "
                                      f"supported (arrays are immutable: use the result)")
        import funcad.numpy as fnp
        a = fnp.asarray(a)
        if fnp.ndim(a) == 0 and axis is not None and axis != ():
            raise ValueError(f"{self.__name__}.reduce: axis {axis} is out of bounds for an "
                             f"array of rank 0 (use axis=None)")
        if where is not None:
            where = fnp.asarray(where)
            if where.dtype != np.bool_:
                raise ValueError(f"{self.__name__}.reduce: where must have dtype bool, got "
                                 f"{where.dtype}")
            if self.identity is None and initial is None:
                raise ValueError(f"reduction operation {self.__name__!r} does not have an "
                                 f"identity, so to use a where mask one has to specify "
                                 f"'initial'")
        impl = self._impls["reduce"] or self._reduce_via_loop
        return _out(impl(a, axis=axis, dtype=dtype, keepdims=keepdims, initial=initial,
                         where=where))

    def _reduce_via_loop(self, a: Any, axis: Any = 0, dtype: Any = None,
                         keepdims: bool = False, initial: Any = None,
                         where: Any = None) -> Any:
        import funcad.numpy as fnp
        from funcad import lax
        from funcad.numpy._reductions import _axes
        nd = fnp.ndim(a)
        axes = _axes(axis, nd)
        shape = tuple(fnp.shape(a))
        kept = [d for d in range(nd) if d not in axes]
        final = tuple(1 if d in axes else n for d, n in enumerate(shape)) if keepdims else \
            tuple(shape[d] for d in kept)
        if dtype is None:
            dtype = self._result_dtype(a.dtype, a.dtype)
        if where is not None:
            where = fnp.broadcast_to(where, shape)
        # The reduced axes in front, flattened into one (C order).
        count = math.prod(shape[d] for d in axes)
        rest = tuple(shape[d] for d in kept)
        arr = fnp.reshape(fnp.transpose(a, (*axes, *kept)), (count, *rest))
        if where is not None:
            where = fnp.reshape(fnp.transpose(where, (*axes, *kept)), (count, *rest))
        if initial is None:
            initial = self.identity
        if count == 0:
            if initial is None:
                raise ValueError(f"zero-size array to reduction operation {self.__name__} "
                                 f"which has no identity")
            return fnp.full(final, initial, dtype)
        if initial is None:
            start, val = 1, fnp.astype(arr[0], dtype)
            if where is not None:   # (not reached: where needs an identity or initial)
                raise AssertionError
        else:
            start, val = 0, fnp.broadcast_to(fnp.astype(fnp.asarray(initial), dtype), rest)

        def body(i, v):
            new = fnp.astype(self._apply(v, fnp.astype(arr[i], dtype)), dtype)
            return new if where is None else fnp.where(where[i], new, v)
        result = lax.fori_loop(start, count, body, val) if start < count else val
        return fnp.reshape(result, final)

    # -- accumulate ------------------------------------------------------------------------

    def accumulate(self, a: Any, axis: int = 0, dtype: Any = None, out: None = None) -> Any:
        """Cumulative application of the binary function along `axis`, as
        numpy.ufunc.accumulate (result[i] = f(result[i-1], a[i]))."""
        self._binary(f"{self.__name__}.accumulate")
        if out is not None:
            raise NotImplementedError(f"the out argument of {self.__name__}.accumulate() is "
                                      f"not supported (arrays are immutable: use the result)")
        if axis is None or isinstance(axis, (tuple, list)):
            raise ValueError(f"{self.__name__}.accumulate does not allow multiple axes "
                             f"(got axis={axis!r})")
        import funcad.numpy as fnp
        a = fnp.asarray(a)
        if fnp.ndim(a) == 0:
            raise ValueError(f"{self.__name__}.accumulate: a must have at least one "
                             f"dimension")
        axis = _canon_axis(axis, fnp.ndim(a), f"{self.__name__}.accumulate")
        impl = self._impls["accumulate"] or self._accumulate_via_scan
        return _out(impl(a, axis=axis, dtype=dtype))

    def _accumulate_via_scan(self, a: Any, axis: int = 0, dtype: Any = None) -> Any:
        import funcad.numpy as fnp
        from funcad import lax
        if dtype is None:
            dtype = self._result_dtype(a.dtype, a.dtype)
        arr = fnp.astype(fnp.moveaxis(a, axis, 0), dtype)
        if fnp.shape(arr)[0] <= 1 or fnp.size(arr) == 0:
            return fnp.moveaxis(arr, 0, axis)

        def step(carry, x):
            y = fnp.astype(self._apply(carry, x), dtype)
            return y, y
        _, ys = lax.scan(step, arr[0], arr[1:])
        return fnp.moveaxis(fnp.concatenate([arr[:1], ys], axis=0), 0, axis)

    # -- at --------------------------------------------------------------------------------

    def at(self, a: Any, indices: Any, b: Any = None, /, *, inplace: bool = True) -> Any:
        """`a` with the function applied at `indices` (with `b`, for binary ufuncs), every
        repeated index applied again, as numpy.ufunc.at; needs inplace=False and returns
        the new array (funcad arrays are immutable)."""
        if inplace:
            raise NotImplementedError(_AT_INPLACE)
        if self.nout != 1:
            raise ValueError(f"{self.__name__}.at only supported for functions returning a "
                             f"single value")
        if (b is None) != (self.nin == 1):
            raise ValueError(f"{self.__name__}.at: a {'unary' if self.nin == 1 else 'binary'}"
                             f" ufunc takes {'no' if self.nin == 1 else 'a'} second operand b")
        if self.nin > 2:
            raise ValueError(f"{self.__name__}.at only supported for unary and binary ufuncs")
        import funcad.numpy as fnp
        a = fnp.asarray(a)
        impl = self._impls["at"] or self._at_via_scan
        return _out(impl(a, indices) if b is None else impl(a, indices, b))

    def _at_via_scan(self, a: Any, indices: Any, *args: Any) -> Any:
        import funcad.numpy as fnp
        from funcad import lax
        args = tuple(fnp.asarray(x) for x in args)
        dtype = self._result_dtype(a.dtype, *(x.dtype for x in args))
        a = fnp.astype(a, dtype)
        args = tuple(fnp.astype(x, dtype) for x in args)
        idx = _index_tuple(indices)
        if not idx:
            return a
        arrays = [i for i in idx if not isinstance(i, slice) and i is not None
                  and i is not Ellipsis]
        shape = fnp.broadcast_shapes(*[fnp.shape(i) for i in arrays]) if arrays else ()
        if not shape:
            return a.at[idx].set(self._apply(a.at[idx].get(), *args))
        n = math.prod(shape)
        if not any(isinstance(i, _core.Tracer) for i in arrays):
            a[idx]      # concrete indices out of range: IndexError (the scan would clamp)
        if args:
            # b broadcasts against a[indices]: the index shape, then the indexed core.
            core = tuple(fnp.shape(a[tuple(i if isinstance(i, slice) or i is None or
                                           i is Ellipsis else 0 for i in idx)]))
            args = (fnp.reshape(fnp.broadcast_to(args[0], (*shape, *core)), (n, *core)),)
        flat = [i if isinstance(i, slice) or i is None or i is Ellipsis
                else fnp.ravel(fnp.broadcast_to(fnp.asarray(i), shape)) for i in idx]

        def step(carry, k):
            cur = tuple(i if isinstance(i, slice) or i is None or i is Ellipsis else i[k]
                        for i in flat)
            new = carry.at[cur].set(fnp.astype(self._apply(carry.at[cur].get(),
                                                           *(x[k] for x in args)), dtype))
            return new, None
        out, _ = lax.scan(step, a, fnp.arange(n))
        return out

    # -- reduceat --------------------------------------------------------------------------

    def reduceat(self, a: Any, indices: Any, axis: int = 0, dtype: Any = None,
                 out: None = None) -> Any:
        """Reductions of `a` over the segments [indices[i], indices[i+1]) along `axis`
        (a[indices[i]] where indices[i] >= indices[i+1]; the last runs to the end), as
        numpy.ufunc.reduceat."""
        self._binary(f"{self.__name__}.reduceat")
        if out is not None:
            raise NotImplementedError(f"the out argument of {self.__name__}.reduceat() is not "
                                      f"supported (arrays are immutable: use the result)")
        if axis is None or isinstance(axis, (tuple, list)):
            raise ValueError(f"{self.__name__}.reduceat requires a single integer axis "
                             f"(got axis={axis!r})")
        import funcad.numpy as fnp
        a = fnp.asarray(a)
        if fnp.ndim(a) == 0:
            raise ValueError(f"{self.__name__}.reduceat: a must have 1 or more dimensions, "
                             f"got shape {fnp.shape(a)}")
        indices = fnp.asarray(indices)
        if fnp.ndim(indices) != 1:
            raise ValueError(f"{self.__name__}.reduceat: indices must be one-dimensional, "
                             f"got shape {fnp.shape(indices)}")
        if not np.issubdtype(indices.dtype, np.integer):
            raise TypeError(f"{self.__name__}.reduceat: indices must be integers, got "
                            f"{indices.dtype}")
        axis = _canon_axis(axis, fnp.ndim(a), f"{self.__name__}.reduceat")
        if not isinstance(indices, _core.Tracer):
            n = fnp.shape(a)[axis]
            bad = [int(i) for i in np.asarray(indices).ravel() if not 0 <= int(i) < n]
            if bad:     # (traced indices cannot be checked: they are clamped, as take's)
                raise IndexError(f"index {bad[0]} out-of-bounds in {self.__name__}.reduceat "
                                 f"[0, {n})")
        impl = self._impls["reduceat"] or self._reduceat_via_loop
        return _out(impl(a, indices, axis=axis, dtype=dtype))

    def _reduceat_via_loop(self, a: Any, indices: Any, axis: int = 0,
                           dtype: Any = None) -> Any:
        import funcad.numpy as fnp
        from funcad import lax
        if dtype is None:   # (JAX: a's dtype; this is the same for add, multiply, max...)
            dtype = self._result_dtype(a.dtype, a.dtype)
        n = fnp.shape(a)[axis]
        x = fnp.astype(fnp.moveaxis(a, axis, 0), dtype)       # n, rest...
        m = fnp.shape(indices)[0]
        rest = tuple(fnp.shape(x)[1:])
        res = fnp.take(x, indices, axis=0)                    # m, rest...
        ends = fnp.concatenate([indices[1:], fnp.full((1,), n, indices.dtype)])
        expand = (m,) + (1,) * len(rest)
        starts = fnp.reshape(indices, expand)
        ends = fnp.reshape(ends, expand)

        def body(i, r):
            inside = fnp.logical_and(i > starts, i < ends)
            return fnp.where(inside, fnp.astype(self._apply(r, x[i][None]), dtype), r)
        if n > 1:
            res = lax.fori_loop(1, n, body, res)
        return fnp.moveaxis(res, 0, axis)

    # -- outer -----------------------------------------------------------------------------

    def outer(self, A: Any, B: Any, /) -> Any:
        """The function on every pair (A[i...], B[j...]): shape A.shape + B.shape, as
        numpy.ufunc.outer."""
        self._binary(f"{self.__name__}.outer")
        import funcad.numpy as fnp
        A, B = fnp.asarray(A), fnp.asarray(B)
        A = fnp.reshape(A, tuple(fnp.shape(A)) + (1,) * fnp.ndim(B))
        return _out(self._apply(A, B))


def _index_tuple(indices: Any) -> tuple:
    """A ufunc.at index as a tuple of ints, slices, None, Ellipsis and arrays."""
    import funcad.numpy as fnp
    if not isinstance(indices, tuple):
        indices = (indices,)
    out = []
    for i in indices:
        if isinstance(i, (slice, type(None))) or i is Ellipsis:
            out.append(i)
        elif isinstance(i, (int, np.integer)) and not isinstance(i, bool):
            out.append(int(i))
        else:
            arr = fnp.asarray(i)
            if arr.dtype == np.bool_:
                raise NotImplementedError("ufunc.at with boolean mask indices is not "
                                          "supported; use integer indices (fnp.nonzero)")
            out.append(arr)
    return tuple(out)


def builtin(fn: Callable[..., Any], nin: int, *, identity: Any = None,
            module: str = "funcad.numpy", **methods: Any) -> ufunc:
    """funcad.numpy's own ufunc for the plain function `fn`: a ufunc whose call is `fn`
    itself (its own subclass with `__call__ = staticmethod(fn)`, the cheapest call of an
    instance), with the given fast methods."""
    cls = type("ufunc", (ufunc,), {"__call__": staticmethod(fn), "__slots__": (),
                                   "__module__": module, "__doc__": ufunc.__doc__})
    u = cls(fn, nin, 1, name=fn.__name__, identity=identity, call=fn, **methods)
    u.__module__ = module
    u._call = fn
    # inspect.signature would read the staticmethod as a method and drop its first argument
    u.__signature__ = inspect.signature(fn)
    return u


def frompyfunc(func: Callable[..., Any], /, nin: int, nout: int, *,
               identity: Any = None) -> ufunc:
    """A ufunc from a function of `nin` scalars returning `nout` values, vectorized over
    broadcast arguments (through vmap), as jax.numpy.frompyfunc.

    >>> import operator
    >>> import funcad.numpy as fnp
    >>> add = fnp.frompyfunc(operator.add, nin=2, nout=1, identity=0)
    >>> x = fnp.arange(4)
    >>> add(x, 10).tolist(), add.reduce(x).tolist(), add.accumulate(x).tolist()
    ([10, 11, 12, 13], 6, [0, 1, 3, 6])
    """
    return ufunc(func, nin, nout, identity=identity)
