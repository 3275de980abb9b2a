"""Functions whose output size depends on the values (jax.numpy's set operations, nonzero,
histogram): eagerly they give NumPy's results; under a transform the static `size=` (and
`fill_value=`) arguments fix the output size, as in JAX, and without them a clear error
names `size=`.

All are composites over funcad.numpy: sorting (argsort/lexsort), cumulative sums and
comparisons, so every transform covers them (`histogram` is differentiable in `weights`).
"""

from __future__ import annotations

import builtins
import math
from typing import Any, NamedTuple

import numpy as np

from funcad._dtypes import inexact_dtype
from funcad._core import ConcretizationTypeError, Tracer, concretization_message

_INDEX = np.dtype(np.int64)


def _fnp():
    import funcad.numpy as fnp
    return fnp


def _needs_size(name: str, x: Any, arg: str = "size") -> None:
    if isinstance(x, Tracer):
        raise ConcretizationTypeError(
            concretization_message(x, f"passed to {name}") + f" The size of {name}'s output "
            f"depends on the values of its input, so under jit, vmap or grad {name} needs the "
            f"static `{arg}=` argument (e.g. `{name}(x, {arg}=10)`; entries past the true "
            f"count are filled with `fill_value`).")


# -- nonzero, with JAX's size= ----------------------------------------------------------------


def _nonzero_flat(mask: Any, size: int, fill_value: Any) -> Any:
    """The first `size` indices i with mask[i] (mask 1-d), then fill_value (default 0)."""
    fnp = _fnp()
    csum = fnp.cumsum(fnp.astype(mask, _INDEX))
    k = fnp.arange(size, dtype=_INDEX)
    # the k-th true entry sits at the number of entries whose running count is <= k
    idx = fnp.sum(fnp.astype(csum[None, :] <= k[:, None], _INDEX), axis=1)
    if fill_value is None:
        fill_value = 0
    total = csum[-1] if fnp.shape(mask)[0] else 0
    return fnp.where(k < total, idx, fnp.asarray(fill_value, dtype=_INDEX))


def nonzero(a: Any, *, size: int | None = None, fill_value: Any = None) -> tuple:
    """Indices of the non-zero entries, one array per dimension.

    Args:
      a: an array.
      size: (static) the number of indices to return, as in JAX: needed under a transform;
        the first `size` indices are kept, and missing ones are `fill_value` (default 0).
      fill_value: an int, or a tuple of one per dimension.
    Returns: a tuple of int64 arrays.

    >>> nonzero(np.array([0, 3, 0, 5]), size=3, fill_value=-1)[0].tolist()
    [1, 3, -1]
    """
    fnp = _fnp()
    a = fnp.asarray(a)
    if size is None:
        if isinstance(a, Tracer):
            _needs_size("nonzero", a)
        return np.nonzero(a)
    size = int(size)
    shp = fnp.shape(a)
    mask = fnp.reshape(a != 0, (-1,))
    if len(shp) == 0:
        mask = fnp.reshape(a != 0, (1,))
    flat = _nonzero_flat(mask, size, None)
    csum_total = fnp.sum(fnp.astype(mask, _INDEX))
    valid = fnp.arange(size) < csum_total
    out = []
    dims = shp if len(shp) else (1,)
    rem = flat
    strides = [math.prod(dims[i + 1:]) for i in range(len(dims))]
    fills = fill_value if isinstance(fill_value, (tuple, list)) else (fill_value,) * len(dims)
    if len(fills) != len(dims):
        raise ValueError(f"nonzero: fill_value must be a scalar or a tuple of {len(dims)} "
                         f"values, got {fill_value!r}")
    for st, fv in zip(strides, fills, strict=True):
        i = rem // st
        rem = rem - i * st
        out.append(fnp.where(valid, i, fnp.asarray(0 if fv is None else fv, dtype=_INDEX)))
    return tuple(out[:len(shp)]) if len(shp) else tuple(out)


def flatnonzero(a: Any, *, size: int | None = None, fill_value: Any = None) -> Any:
    """Indices of the non-zero entries of the flattened array (`size=` as in nonzero).

    >>> flatnonzero(np.array([[0, 1], [2, 0]])).tolist()
    [1, 2]
    """
    fnp = _fnp()
    return nonzero(fnp.ravel(a), size=size, fill_value=fill_value)[0]


def argwhere(a: Any, *, size: int | None = None, fill_value: Any = None) -> Any:
    """Indices of the non-zero entries, one row each (`size=` as in nonzero).

    >>> argwhere(np.array([[0, 1], [2, 0]])).tolist()
    [[0, 1], [1, 0]]
    """
    fnp = _fnp()
    a = fnp.asarray(a)
    if fnp.ndim(a) == 0:
        return fnp.reshape(nonzero(fnp.reshape(a, (1,)), size=size, fill_value=fill_value)[0],
                           (-1, 0))
    if size is None and not isinstance(a, Tracer):
        return np.argwhere(a)
    return fnp.stack(nonzero(a, size=size, fill_value=fill_value), axis=-1)


# -- unique -------------------------------------------------------------------------------


def _unique_sorted_mask(aux: Any, equal_nan: bool):
    """aux (axis first) sorted lexicographically, the mask of first entries of each run,
    and the sorting permutation."""
    fnp = _fnp()
    n = fnp.shape(aux)[0]
    rest = math.prod(fnp.shape(aux)[1:])
    if rest == 0:
        perm = fnp.zeros(builtins.min(n, 1), dtype=_INDEX)
        n = fnp.shape(perm)[0]
    else:
        flat = fnp.reshape(aux, (n, rest))
        perm = fnp.lexsort(fnp.transpose(flat)[::-1]) if rest > 1 else \
            fnp.argsort(flat[:, 0], stable=True)
    aux = fnp.take(aux, perm, axis=0)
    if n == 0 or rest == 0:
        return aux, fnp.zeros(n, dtype=bool) if rest else fnp.ones(n, dtype=bool), perm
    neq = aux[1:] != aux[:-1]
    if equal_nan and np.issubdtype(aux.dtype, np.inexact):
        neq = neq & ~(fnp.isnan(aux[1:]) & fnp.isnan(aux[:-1]))
    if fnp.ndim(neq) > 1:
        neq = fnp.any(neq, axis=tuple(range(1, fnp.ndim(neq))))
    mask = fnp.concatenate([fnp.ones(1, dtype=bool), neq])
    return aux, mask, perm


def _unique(ar: Any, axis: int, return_index: bool, return_inverse: bool,
            return_counts: bool, equal_nan: bool, size: int | None, fill_value: Any):
    fnp = _fnp()
    if fnp.shape(ar)[axis] == 0 and size and fill_value is None:
        raise ValueError("unique: for zero-sized input with nonzero size argument, fill_value "
                         "must be specified")
    aux, mask, perm = _unique_sorted_mask(fnp.moveaxis(ar, axis, 0), equal_nan)
    has_data = fnp.size(aux) > 0
    if size is None:
        ind = np.nonzero(np.asarray(mask))[0]
    else:
        ind = _nonzero_flat(mask, size, None)
    result = fnp.take(aux, ind, axis=0) if has_data else aux
    if size is not None and fill_value is not None:
        fill = fnp.astype(fnp.asarray(fill_value), result.dtype)
        if fnp.shape(result)[0]:
            valid = fnp.arange(size) < fnp.sum(fnp.astype(mask, _INDEX))
            valid = fnp.reshape(valid, (size,) + (1,) * (fnp.ndim(result) - 1))
            result = fnp.where(valid, result, fill)
        else:
            result = fnp.full((size,) + tuple(fnp.shape(result)[1:]), fill, dtype=result.dtype)
    ret = [fnp.moveaxis(result, 0, axis)]
    if return_index:
        ret.append(fnp.take(perm, ind) if has_data else perm)
    if return_inverse:
        if has_data:
            imask = fnp.cumsum(fnp.astype(mask, _INDEX)) - 1
            # inverse[perm[i]] = imask[i]: a gather through the inverse permutation
            ret.append(fnp.take(imask, fnp.argsort(perm)))
        else:
            ret.append(fnp.zeros(fnp.shape(ar)[axis], dtype=_INDEX))
    if return_counts:
        if has_data:
            if size is None:
                idx = np.append(ind, np.asarray(mask).size)
            else:
                idx = _nonzero_flat(mask, size + 1, None)
                idx = fnp.concatenate([idx[:1], fnp.where(idx[1:] != 0, idx[1:],
                                                          fnp.shape(mask)[0])])
            ret.append(fnp.diff(fnp.asarray(idx, dtype=_INDEX)))
        elif fnp.shape(ar)[axis]:
            ret.append(fnp.full((1,), fnp.shape(ar)[axis], dtype=_INDEX))
        else:
            ret.append(fnp.zeros(0, dtype=_INDEX))
    return ret[0] if len(ret) == 1 else tuple(ret)


def unique(ar: Any, return_index: bool = False, return_inverse: bool = False,
           return_counts: bool = False, axis: int | None = None, *, equal_nan: bool = True,
           size: int | None = None, fill_value: Any = None, sorted: bool = True) -> Any:
    """The sorted unique values of an array (along `axis`, or of the flattened array), as
    numpy.unique / jax.numpy.unique.

    Args:
      ar: an array.
      return_index, return_inverse, return_counts: also return the index of each value's
        first occurrence, the index of each input entry in the result (the input's shape
        when axis is None), and the counts.
      axis: None (flatten) or the axis whose slices are compared.
      equal_nan: whether NaNs are one value.
      size: (static) the number of values to return, needed under jit/vmap/grad as in JAX;
        extra slots hold `fill_value` (default: the smallest value).
      fill_value: see size.
      sorted: ignored (the values are always sorted), as in JAX.
    Returns: an array, or a tuple with the requested extras (int64).

    >>> unique(np.array([3, 1, 3, 2])).tolist()
    [1, 2, 3]
    >>> unique(np.array([3, 1, 3]), size=4, fill_value=0).tolist()
    [1, 3, 0, 0]
    """
    del sorted
    fnp = _fnp()
    arr = fnp.asarray(ar)
    if size is None:
        _needs_size("unique", arr)
    else:
        size = int(size)
    arr_shape = fnp.shape(arr)
    if axis is None:
        axis_int = 0
        arr = fnp.ravel(arr)
    else:
        nd = fnp.ndim(arr)
        if not -nd <= axis < nd:
            raise ValueError(f"unique: axis {axis} is out of bounds for an array of rank {nd}")
        axis_int = axis % nd
    result = _unique(arr, axis_int, return_index, return_inverse, return_counts,
                     equal_nan=equal_nan, size=size, fill_value=fill_value)
    if return_inverse and axis is None:
        i = 2 if return_index else 1
        result = (*result[:i], fnp.reshape(result[i], arr_shape), *result[i + 1:])
    return result


class UniqueAllResult(NamedTuple):
    values: Any
    indices: Any
    inverse_indices: Any
    counts: Any


class UniqueCountsResult(NamedTuple):
    values: Any
    counts: Any


class UniqueInverseResult(NamedTuple):
    values: Any
    inverse_indices: Any


def unique_all(x: Any, /, *, size: int | None = None, fill_value: Any = None
               ) -> UniqueAllResult:
    """(values, indices, inverse_indices, counts) of unique(x) (NaNs distinct).

    >>> unique_all(np.array([2, 1, 2])).counts.tolist()
    [1, 2]
    """
    r = unique(x, return_index=True, return_inverse=True, return_counts=True,
               equal_nan=False, size=size, fill_value=fill_value)
    return UniqueAllResult(*r)


def unique_counts(x: Any, /, *, size: int | None = None, fill_value: Any = None
                  ) -> UniqueCountsResult:
    """(values, counts) of unique(x) (NaNs distinct).

    >>> unique_counts(np.array([2, 1, 2])).counts.tolist()
    [1, 2]
    """
    r = unique(x, return_counts=True, equal_nan=False, size=size, fill_value=fill_value)
    return UniqueCountsResult(*r)


def unique_inverse(x: Any, /, *, size: int | None = None, fill_value: Any = None
                   ) -> UniqueInverseResult:
    """(values, inverse_indices) of unique(x) (inverse_indices in x's shape).

    >>> unique_inverse(np.array([2, 1, 2])).inverse_indices.tolist()
    [1, 0, 1]
    """
    r = unique(x, return_inverse=True, equal_nan=False, size=size, fill_value=fill_value)
    return UniqueInverseResult(*r)


def unique_values(x: Any, /, *, size: int | None = None, fill_value: Any = None) -> Any:
    """The sorted unique values of x (NaNs collapsed).

    >>> unique_values(np.array([2, 1, 2])).tolist()
    [1, 2]
    """
    return unique(x, equal_nan=True, size=size, fill_value=fill_value)


# -- the other set operations ---------------------------------------------------------------


def _compress(name: str, values: Any, mask: Any, size: int | None, fill_value: Any) -> Any:
    """values[mask] (1-d), or with size: the first `size` of them then fill_value (default:
    the first kept value, as JAX's)."""
    fnp = _fnp()
    if size is None:
        _needs_size(name, mask)
        return np.asarray(values)[np.asarray(mask)]
    idx = _nonzero_flat(mask, int(size), None)
    out = fnp.take(values, idx) if fnp.shape(values)[0] else fnp.zeros(int(size), values.dtype)
    valid = fnp.arange(int(size)) < fnp.sum(fnp.astype(mask, _INDEX))
    if fill_value is None:
        fill_value = out[0] if fnp.shape(out)[0] else 0
    return fnp.where(valid, out, fnp.astype(fnp.asarray(fill_value), out.dtype))


def _sorted_unique_1d(name: str, x: Any, size_given: bool):
    fnp = _fnp()
    x = fnp.ravel(fnp.asarray(x))
    if not size_given:
        _needs_size(name, x)
    aux, mask, _ = _unique_sorted_mask(x, equal_nan=True)
    return aux, mask


def union1d(ar1: Any, ar2: Any, *, size: int | None = None, fill_value: Any = None) -> Any:
    """The sorted unique values of both arrays.

    >>> union1d(np.array([1, 3]), np.array([2, 3])).tolist()
    [1, 2, 3]
    """
    fnp = _fnp()
    return unique(fnp.concatenate([fnp.ravel(fnp.asarray(ar1)), fnp.ravel(fnp.asarray(ar2))]),
                  size=size, fill_value=fill_value)


def setdiff1d(ar1: Any, ar2: Any, assume_unique: bool = False, *, size: int | None = None,
              fill_value: Any = None) -> Any:
    """The sorted unique values of ar1 that are not in ar2.

    >>> setdiff1d(np.array([1, 2, 3, 2]), np.array([2])).tolist()
    [1, 3]
    """
    fnp = _fnp()
    aux, mask = _sorted_unique_1d("setdiff1d", ar1, size is not None)
    keep = mask & ~fnp.isin(aux, ar2)
    return _compress("setdiff1d", aux, keep, size, fill_value)


def intersect1d(ar1: Any, ar2: Any, assume_unique: bool = False, return_indices: bool = False,
                *, size: int | None = None, fill_value: Any = None) -> Any:
    """The sorted unique values in both arrays (return_indices is not supported).

    >>> intersect1d(np.array([1, 2, 3]), np.array([3, 1, 5])).tolist()
    [1, 3]
    """
    if return_indices:
        raise NotImplementedError("intersect1d: return_indices=True is not supported")
    fnp = _fnp()
    aux, mask = _sorted_unique_1d("intersect1d", ar1, size is not None)
    keep = mask & fnp.isin(aux, ar2)
    return _compress("intersect1d", aux, keep, size, fill_value)


def setxor1d(ar1: Any, ar2: Any, assume_unique: bool = False, *, size: int | None = None,
             fill_value: Any = None) -> Any:
    """The sorted unique values in exactly one of the arrays.

    >>> setxor1d(np.array([1, 2, 3]), np.array([3, 4])).tolist()
    [1, 2, 4]
    """
    fnp = _fnp()
    a1, m1 = _sorted_unique_1d("setxor1d", ar1, size is not None)
    a2, m2 = _sorted_unique_1d("setxor1d", ar2, size is not None)
    in1 = m1 & ~fnp.isin(a1, a2)
    in2 = m2 & ~fnp.isin(a2, a1)
    aux = fnp.concatenate([a1, a2])
    keep = fnp.concatenate([in1, in2])
    # sort the kept values (dropped ones last) so that the result is sorted
    big = fnp.where(keep, 0, 1)
    order = fnp.lexsort([aux, big])
    return _compress("setxor1d", fnp.take(aux, order), fnp.take(keep, order), size, fill_value)


# -- histograms -------------------------------------------------------------------------------


def histogram_bin_edges(a: Any, bins: Any = 10, range: Any = None,
                        weights: Any = None) -> Any:
    """The bin edges `histogram` uses: `bins` edges as given, or `bins` (an int) equal bins
    over `range` (default: a's min and max; widened by 0.5 each way when they are equal).

    >>> histogram_bin_edges(np.array([0.0, 1.0]), bins=2).tolist()
    [0.0, 0.5, 1.0]
    """
    del weights
    fnp = _fnp()
    if isinstance(bins, str):
        raise NotImplementedError("histogram: string values for `bins` are not supported "
                                  "(give an int or the edges)")
    arr = fnp.asarray(a)
    dtype = inexact_dtype(arr.dtype)
    if np.ndim(bins) == 1 or (isinstance(bins, Tracer) and fnp.ndim(bins) == 1):
        return fnp.asarray(bins, dtype=dtype)
    if isinstance(bins, Tracer):
        raise ConcretizationTypeError(concretization_message(bins, "passed as histogram's "
                                                             "bins") + " Pass an int.")
    n = int(bins)
    if n < 1:
        raise ValueError(f"histogram: `bins` must be positive, got {bins}")
    if range is None:
        if fnp.size(arr) == 0:
            lo, hi = fnp.asarray(0.0, dtype), fnp.asarray(1.0, dtype)
        else:
            lo, hi = fnp.astype(fnp.min(arr), dtype), fnp.astype(fnp.max(arr), dtype)
    else:
        if np.shape(range) != (2,) and not (isinstance(range, (tuple, list)) and
                                            len(range) == 2):
            raise ValueError(f"histogram: `range` must be None or a pair of scalars, got "
                             f"{range!r}")
        lo, hi = (fnp.astype(fnp.asarray(r), dtype) for r in range)
        if not isinstance(lo, Tracer) and not isinstance(hi, Tracer) and lo > hi:
            raise ValueError(f"histogram: max must be larger than min in range, got {range}")
    same = lo == hi
    lo, hi = fnp.where(same, lo - 0.5, lo), fnp.where(same, hi + 0.5, hi)
    return fnp.linspace(lo, hi, n + 1, dtype=dtype)


def histogram(a: Any, bins: Any = 10, range: Any = None, weights: Any = None,
              density: Any = None) -> tuple:
    """(counts, bin_edges) of the values of `a`, as numpy.histogram: the last bin includes
    its right edge, values outside the edges are not counted. Works under jit and vmap
    (`bins` an int or edges), differentiable in `weights` and (through the bins'
    placement) nowhere else, as in JAX. Like JAX's, the counts have the dtype of the
    weights (of `a` when there are none).

    >>> histogram(np.array([0.0, 0.2, 0.9, 1.0]), bins=2)[0].tolist()
    [2.0, 2.0]
    """
    fnp = _fnp()
    a = fnp.asarray(a)
    if weights is None:
        weights = fnp.ones_like(a)
    else:
        weights = fnp.asarray(weights)
        if fnp.shape(weights) != fnp.shape(a):
            raise ValueError(f"histogram: weights should have the same shape as a, got "
                             f"{fnp.shape(weights)} and {fnp.shape(a)}")
    a, weights = fnp.ravel(a), fnp.ravel(weights)
    edges = histogram_bin_edges(a, bins, range)
    nb = fnp.shape(edges)[0]
    idx = fnp.searchsorted(edges, a, side="right")
    idx = fnp.where(a == edges[-1], nb - 1, idx)
    hit = fnp.expand_dims(idx, -1) == fnp.arange(1, nb)
    counts = fnp.sum(fnp.where(hit, fnp.expand_dims(weights, -1), 0), axis=0)
    counts = fnp.astype(counts, weights.dtype)
    if density:
        widths = fnp.diff(edges)
        counts = counts / widths / fnp.sum(counts)
    return counts, edges
