"""Indexing: NumPy's basic and advanced indexing, take, and functional `.at[]` updates.

`x[idx]` lowers to static slices (`slice`, `rev`, `reshape`) when the index is basic, and
to one `gather` for integer-array or traced indices. `x.at[idx].set(v)` reuses the same
machinery on an array of flat positions: it computes which element of `x` each element of
`x[idx]` is, then scatters into the flattened `x`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from funcad._array import returns_arrays
from funcad._core import (ConcretizationTypeError, NonConcreteBooleanIndexError, Tracer,
                          concretization_message)
from funcad.numpy._base import _asarray as asarray
from funcad.numpy._base import astype, broadcast_arrays, broadcast_to, shape
from funcad.primitives import structural as st

_INT_TYPES = (int, np.integer)


def _is_int_scalar(x) -> bool:
    return isinstance(x, _INT_TYPES) and not isinstance(x, (bool, np.bool_))


def _expand_index(idx: Any, nd: int) -> tuple[list, list[int]]:
    """Normalise an index to one entry per (possibly new) axis; returns entries and the
    positions of `None` (new axes) in the result of inserting them."""
    if not isinstance(idx, tuple):
        idx = (idx,)
    items = []
    for i in idx:
        if isinstance(i, list):
            i = asarray(i)
        if (isinstance(i, (np.ndarray, Tracer)) and (i.dtype == np.bool_)):
            if isinstance(i, Tracer):
                raise NonConcreteBooleanIndexError(
                    concretization_message(i, "used as a boolean mask index") +
                    " Boolean masks need concrete values because the result's shape depends"
                    " on them; use fnp.where(mask, x, 0) to keep the shape static.")
            items.extend(np.nonzero(i)) if i.ndim else items.append(i)
            if i.ndim == 0:
                raise NotImplementedError("indexing with a 0-d boolean is not supported")
            continue
        items.append(i)
    n_ell = sum(1 for i in items if i is Ellipsis)
    if n_ell > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    n_used = sum(1 for i in items if i is not None and i is not Ellipsis)
    if n_used > nd:
        raise IndexError(f"too many indices for array: array is {nd}-dimensional, but "
                         f"{n_used} were indexed")
    out = []
    for i in items:
        if i is Ellipsis:
            out.extend([slice(None)] * (nd - n_used))
        else:
            out.append(i)
    if n_ell == 0:
        out.extend([slice(None)] * (nd - n_used))
    return out


def getitem(x: Any, idx: Any, _dump_slot: bool = False) -> Any:
    """NumPy indexing of a (possibly traced) array.

    Out-of-range traced indices are clamped. With `_dump_slot` (used by `.at[]`), every
    axis indexed by a traced value has one extra trailing element that out-of-range
    traced indices select instead.
    """
    x = asarray(x)
    entries = _expand_index(idx, len(shape(x)))
    # 1. new axes: reshape, then treat them as full slices.
    if any(e is None for e in entries):
        new_shape, k = [], 0
        s = shape(x)
        for e in entries:
            if e is None:
                new_shape.append(1)
            else:
                new_shape.append(s[k])
                k += 1
        x = st.reshape(x, tuple(new_shape))
        entries = [slice(None) if e is None else e for e in entries]
    s = shape(x)
    advanced = [i for i, e in enumerate(entries)
                if not isinstance(e, slice) and not _is_int_scalar(e)]
    # 2. static slices (and static ints as length-1 slices) in one slice + rev.
    starts, limits, strides, rev_dims = [], [], [], []
    int_dims = []
    for d, (e, n) in enumerate(zip(entries, s)):
        if isinstance(e, slice):
            _check_static_slice(e)
            start, stop, step = e.indices(n)
            if step > 0:
                cnt = max(0, (stop - start + step - 1) // step)
                starts.append(start)
                limits.append(start + (cnt - 1) * step + 1 if cnt else start)
                strides.append(step)
            else:
                cnt = max(0, (start - stop - step - 1) // (-step))
                last = start + (cnt - 1) * step if cnt else start
                starts.append(last if cnt else 0)
                limits.append(start + 1 if cnt else 0)
                strides.append(-step)
                if cnt:
                    rev_dims.append(d)
        elif _is_int_scalar(e) and not advanced:
            i = int(e)
            if not -n <= i < n:
                raise IndexError(f"index {i} is out of bounds for axis {d} with size {n}")
            i %= n
            starts.append(i)
            limits.append(i + 1)
            strides.append(1)
            int_dims.append(d)
        else:
            starts.append(0)
            limits.append(n)
            strides.append(1)
    x = st.slice_(x, starts, limits, strides)
    if rev_dims:
        x = st.rev_p.bind(x, dimensions=tuple(rev_dims))
    if not advanced:
        if int_dims:
            x = st.reshape(x, tuple(n for d, n in enumerate(shape(x)) if d not in int_dims))
        return x
    # 3. advanced indices (integer arrays, traced ints; static ints join them).
    adv_dims = [d for d, e in enumerate(entries) if not isinstance(e, slice)]
    idxs = []
    for d in adv_dims:
        e = entries[d]
        n = shape(x)[d]
        if _dump_slot and isinstance(e, Tracer):
            idxs.append(_normalize_index(e, n - 1, d, dump=True))
        else:
            idxs.append(_normalize_index(e, n, d))
    idxs = broadcast_arrays(*idxs, op="indexing")
    out = st.gather_p.bind(x, *idxs, axes=tuple(adv_dims))
    contiguous = adv_dims == list(range(adv_dims[0], adv_dims[0] + len(adv_dims)))
    if contiguous and adv_dims[0] > 0:
        # NumPy puts the index dims where the (adjacent) indexed axes were.
        k = len(shape(idxs[0]))
        first = adv_dims[0]
        nd_out = len(shape(out))
        perm = list(range(k, k + first)) + list(range(k)) + list(range(k + first, nd_out))
        out = st.transpose(out, tuple(perm))
    return out


def _check_static_slice(e: slice) -> None:
    for b in (e.start, e.stop, e.step):
        if isinstance(b, Tracer):
            raise ConcretizationTypeError(
                concretization_message(b, "used as a slice bound") + " A slice's length "
                "must be known when tracing. For a window of fixed length k at a traced "
                "start i, index with `x[i + fnp.arange(k)]` (or `fnp.take`).")


def _normalize_index(e: Any, n: int, axis: int, dump: bool = False) -> Any:
    """Integer index array with negative entries wrapped (bounds-checked when concrete).

    Traced indices cannot be checked, so (as in JAX) out-of-range ones are clamped (eager
    and compiled code then agree and never read outside the array), or with `dump` sent
    to position n."""
    if isinstance(e, Tracer):
        if not np.issubdtype(e.dtype, np.integer):
            raise IndexError(f"arrays used as indices must be of integer type, got "
                             f"{e.dtype.name}")
        from funcad.numpy._ufuncs import add, clip, less, logical_and, where
        wrapped = where(less(e, 0), add(e, n), e)
        if dump:
            inside = logical_and(less(-1, wrapped), less(wrapped, n))
            return where(inside, wrapped, n)
        return clip(wrapped, 0, max(n - 1, 0))
    a = np.asarray(e)
    if a.dtype == object or not (np.issubdtype(a.dtype, np.integer) or a.size == 0):
        raise IndexError(f"only integers, slices (`:`), ellipsis (`...`), None and integer "
                         f"or boolean arrays are valid indices (got {a.dtype.name} for axis "
                         f"{axis})")
    a = a.astype(np.int64)
    if a.size and (a.max() >= n or a.min() < -n):
        bad = a.max() if a.max() >= n else a.min()
        raise IndexError(f"index {bad} is out of bounds for axis {axis} with size {n}")
    return np.where(a < 0, a + n, a)


def take(a: Any, indices: Any, axis: int | None = None, out: None = None,
         mode: str | None = None) -> Any:
    """Take elements along an axis (the flattened array if axis is None).

    `mode` is NumPy's: 'raise' (default; checked for concrete indices), 'wrap' or 'clip'.
    """
    if out is not None:
        raise TypeError("take: out= is not supported; use the returned array")
    a = asarray(a)
    if axis is None:
        from funcad.numpy._shapes import ravel
        a = ravel(a)
        axis = 0
    nd = len(shape(a))
    if not -nd <= int(axis) < max(nd, 1):
        raise ValueError(f"take: axis {axis} is out of bounds for an array of rank {nd}")
    axis = int(axis) % nd if nd else 0
    indices = indices if isinstance(indices, _INT_TYPES) else asarray(indices)
    if mode not in (None, "raise", "wrap", "clip"):
        raise ValueError(f"take: mode must be 'raise', 'wrap' or 'clip', got {mode!r}")
    if mode in ("wrap", "clip"):
        n = shape(a)[axis]
        if n == 0:
            raise IndexError("take: cannot take from an empty axis")
        from funcad.numpy._ufuncs import clip, remainder
        indices = remainder(indices, n) if mode == "wrap" else clip(indices, 0, n - 1)
    return getitem(a, (slice(None),) * axis + (indices,))


def take_along_axis(arr: Any, indices: Any, axis: int | None = -1) -> Any:
    """Pick values along an axis with an index array of the same rank (other axes
    broadcast)."""
    arr = asarray(arr)
    indices = asarray(indices)
    if axis is None:
        from funcad.numpy._shapes import ravel
        arr = ravel(arr)
        axis = 0
        if len(shape(indices)) != 1:
            raise ValueError("take_along_axis: with axis=None, indices must be 1-d")
    nd = len(shape(arr))
    if len(shape(indices)) != nd:
        raise ValueError(f"take_along_axis: indices (rank {len(shape(indices))}) and arr "
                         f"(rank {nd}) must have the same rank")
    if not -nd <= int(axis) < nd:
        raise ValueError(f"take_along_axis: axis {axis} is out of bounds for rank {nd}")
    axis = int(axis) % nd
    sa, si = shape(arr), shape(indices)
    rest = [(sa[d],) if d != axis else (1,) for d in range(nd)]
    irest = [(si[d],) if d != axis else (1,) for d in range(nd)]
    try:
        full_shape = [np.broadcast_shapes(r, q)[0] for r, q in zip(rest, irest)]
    except ValueError:
        raise ValueError(f"take_along_axis: shapes {sa} (arr) and {si} (indices) do not "
                         f"broadcast outside axis {axis}") from None
    full_shape[axis] = si[axis]
    idx = []
    for d in range(nd):
        if d == axis:
            idx.append(broadcast_to(indices, tuple(full_shape)))
        else:
            # Size-1 axes of arr broadcast: always index position 0 there.
            r = np.arange(full_shape[d]) if sa[d] != 1 else np.zeros(full_shape[d], np.int64)
            r = r.reshape([-1 if k == d else 1 for k in range(nd)])
            idx.append(np.broadcast_to(r, full_shape))
    return getitem(arr, tuple(idx))


# -- functional updates -----------------------------------------------------------------


class _IndexUpdateRef:
    """`x.at[idx]`: methods return a new array with the indexed elements updated."""

    __slots__ = ("array", "index")

    def __init__(self, array, index):
        self.array = array
        self.index = index

    def _positions(self):
        """x, its shape, its size, and the flat position of each element of x[idx]."""
        x = asarray(self.array)
        s = shape(x)
        n = int(np.prod(s, dtype=np.int64))
        if not _has_tracer(self.index):
            # Concrete index: positions are computed now (and can be checked for repeats).
            return x, s, n, np.arange(n, dtype=np.int64).reshape(s)[self.index]
        # Traced indices: as in JAX, updates at out-of-range indices are dropped. Each
        # traced axis of the position grid gets a trailing slot holding n, the position of
        # an extra element of the flat array that is cut off after the update.
        flat_ids = st.iota(np.int64, (n,), 0) if n else np.zeros((0,), np.int64)
        grid = st.reshape(flat_ids, s)
        config = [(0, 1 if d in _traced_axes(self.index, len(s)) else 0, 0)
                  for d in range(len(s))]
        grid = st.pad_p.bind(grid, np.int64(n), padding_config=tuple(config))
        pos = getitem(grid, self.index, _dump_slot=True)
        return x, s, n, pos

    def _scatter(self, prim, values, positions=None):
        x, s, n, pos = positions or self._positions()
        from funcad.numpy._base import is_weak, keep_weak, promote
        weak = is_weak(self.array) and is_weak(values)   # JAX: then still weakly typed
        (values,) = promote(values, dtype=x.dtype)
        values = broadcast_to(values, shape(pos))
        flat = st.reshape(x, (n,))
        dump = isinstance(pos, Tracer)
        if dump:
            flat = st.pad_p.bind(flat, np.zeros((), x.dtype), padding_config=((0, 1, 0),))
        out = prim.bind(flat, pos, values, axes=(0,))
        if dump:
            out = st.slice_(out, (0,), (n,))
        return keep_weak(st.reshape(out, s), weak)

    def get(self, **kwargs) -> Any:
        """`x[idx]` (out-of-range traced indices are clamped: mode 'clip')."""
        _check_at_kwargs("get", kwargs, "clip")
        return getitem(self.array, self.index)

    def set(self, values: Any, **kwargs) -> Any:
        """A copy of x with x[idx] = values (with repeated indices the last one wins)."""
        _check_at_kwargs("set", kwargs, "drop")
        return self._scatter(st.scatter_p, values)

    def add(self, values: Any, **kwargs) -> Any:
        """A copy of x with x[idx] += values (repeated indices accumulate)."""
        _check_at_kwargs("add", kwargs, "drop")
        return self._scatter(st.scatter_add_p, values)

    def subtract(self, values: Any, **kwargs) -> Any:
        """A copy of x with x[idx] -= values."""
        from funcad.numpy._ufuncs import negative
        return self.add(negative(asarray(values)), **kwargs)

    def multiply(self, values: Any, **kwargs) -> Any:
        """A copy of x with x[idx] *= values (repeated indices multiply repeatedly)."""
        _check_at_kwargs("multiply", kwargs, "drop")
        positions = self._positions()
        x, s, n, pos = positions
        if isinstance(pos, Tracer) or np.unique(pos).size != np.size(pos):
            return self._scatter(st.scatter_mul_p, values, positions)
        # Known unique positions: x * (ones with the values set) has cheaper derivatives
        # than scatter_mul's (whose derivative in the values handles repeats).
        from funcad.numpy._base import ones_like, promote
        from funcad.numpy._ufuncs import multiply
        (values,) = promote(values, dtype=x.dtype)
        ones = ones_like(x)
        factors = _IndexUpdateRef(ones, self.index)._scatter(st.scatter_p, values,
                                                              (ones, s, n, pos))
        return multiply(x, factors)

    mul = multiply

    def divide(self, values: Any, **kwargs) -> Any:
        """A copy of x with x[idx] /= values."""
        from funcad.numpy._ufuncs import true_divide
        return self.multiply(true_divide(1, values), **kwargs)

    def min(self, values: Any, **kwargs) -> Any:
        """A copy of x with x[idx] = minimum(x[idx], values) (repeats: the smallest)."""
        from funcad.numpy._reductions import min as reduce_min
        from funcad.numpy._ufuncs import minimum
        _check_at_kwargs("min", kwargs, "drop")
        return self.set(minimum(self.get(), self._combine_repeats(values, reduce_min, np.inf)))

    def max(self, values: Any, **kwargs) -> Any:
        """A copy of x with x[idx] = maximum(x[idx], values) (repeats: the largest)."""
        from funcad.numpy._reductions import max as reduce_max
        from funcad.numpy._ufuncs import maximum
        _check_at_kwargs("max", kwargs, "drop")
        return self.set(maximum(self.get(), self._combine_repeats(values, reduce_max,
                                                                  -np.inf)))

    def apply(self, func, **kwargs) -> Any:
        """A copy of x with x[idx] = func(x[idx]) (once per element, repeats or not)."""
        _check_at_kwargs("apply", kwargs, "drop")
        return self.set(func(self.get()))

    def _combine_repeats(self, values, reduce, identity):
        """Values broadcast to x[idx]'s shape, each replaced by the reduction over all the
        updates sent to its position (so that the last write of a `set` is right)."""
        from funcad.numpy._base import promote
        from funcad.numpy._ufuncs import where
        x, _, _, pos = self._positions()
        (values,) = promote(values, dtype=x.dtype)
        values = broadcast_to(values, shape(pos))
        if not isinstance(pos, Tracer) and np.unique(pos).size == np.size(pos):
            return values
        m = int(np.prod(shape(pos), dtype=np.int64))
        flat_pos = st.reshape(pos, (m,))
        same = st.broadcast_in_dim(flat_pos, (m, m), (0,)) == st.broadcast_in_dim(
            flat_pos, (m, m), (1,)) if isinstance(pos, Tracer) else (
            np.ravel(pos)[:, None] == np.ravel(pos)[None, :])
        v = st.broadcast_in_dim(st.reshape(values, (m,)), (m, m), (1,))
        return st.reshape(reduce(where(same, v, identity), axis=1), shape(pos))


# Outside transforms, `.at[...]` methods return funcad.Arrays.
for _name in ("get", "set", "add", "subtract", "multiply", "divide", "min", "max", "apply"):
    setattr(_IndexUpdateRef, _name, returns_arrays(getattr(_IndexUpdateRef, _name)))
_IndexUpdateRef.mul = _IndexUpdateRef.multiply
del _name

_AT_HINTS = ("indices_are_sorted", "unique_indices")


def _check_at_kwargs(method: str, kwargs: dict, supported_mode: str) -> None:
    for k, v in kwargs.items():
        if k in _AT_HINTS:
            continue
        if k == "mode" and v in (None, supported_mode, "promise_in_bounds"):
            continue
        if k in ("mode", "fill_value"):
            raise NotImplementedError(
                f"x.at[...].{method}({k}={v!r}) is not supported: out-of-range traced "
                f"indices are {'clamped' if method == 'get' else 'dropped'} "
                f"(mode={supported_mode!r})")
        raise TypeError(f"x.at[...].{method}() got an unexpected keyword argument {k!r}")


class _AtIndexer:
    """The object behind `x.at`: index it to get an update reference."""

    __slots__ = ("array",)

    def __init__(self, array):
        self.array = array

    def __getitem__(self, index) -> _IndexUpdateRef:
        return _IndexUpdateRef(self.array, index)


def _traced_axes(idx: Any, nd: int) -> set[int]:
    """The axes of an array of rank nd that `idx` indexes with traced values."""
    entries = _expand_index(idx, nd)
    axes, k = set(), 0
    for e in entries:
        if e is None:
            continue
        if isinstance(e, Tracer):
            axes.add(k)
        k += 1
    return axes


def _has_tracer(idx: Any) -> bool:
    if isinstance(idx, tuple):
        return any(isinstance(i, Tracer) for i in idx)
    return isinstance(idx, Tracer)


def at(x: Any) -> _AtIndexer:
    """Functional updates of a plain array: `fnp.at(x)[idx].set(v)` (also add, multiply, get).

    >>> import numpy as np, funcad.numpy as fnp
    >>> fnp.at(np.zeros(3))[1].set(5.0)
    Array([0., 5., 0.], dtype=float64)
    """
    return _AtIndexer(x)


__all__ = ["astype", "at", "getitem", "take", "take_along_axis"]
