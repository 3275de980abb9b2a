"""Top-level helpers of JAX's API: ShapeDtypeStruct, eval_shape, linear_transpose."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from funcad._core import Tracer, get_aval
from funcad._tree import tree_flatten, tree_unflatten


class ShapeDtypeStruct:
    """A shape and a dtype standing for an array (the inputs and outputs of eval_shape).

    >>> import numpy as np, funcad as fa
    >>> fa.ShapeDtypeStruct((2, 3), np.float32)
    ShapeDtypeStruct(shape=(2, 3), dtype=float32)
    """

    __slots__ = ("shape", "dtype", "weak_type")

    def __init__(self, shape: Any, dtype: Any, *, weak_type: bool = False, sharding: Any = None):
        self.shape = tuple(int(d) for d in shape)
        self.dtype = np.dtype(dtype)
        self.weak_type = bool(weak_type)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of unsized object")
        return self.shape[0]

    def __eq__(self, other: Any) -> bool:
        return (isinstance(other, ShapeDtypeStruct) and self.shape == other.shape
                and self.dtype == other.dtype and self.weak_type == other.weak_type)

    def __hash__(self) -> int:
        return hash((self.shape, self.dtype, self.weak_type))

    def __repr__(self) -> str:
        weak = ", weak_type=True" if self.weak_type else ""
        return f"ShapeDtypeStruct(shape={self.shape}, dtype={self.dtype.name}{weak})"


def _aval_of(x: Any):
    from funcad._core import ShapedArray
    if isinstance(x, ShapeDtypeStruct):
        return ShapedArray(x.shape, x.dtype, x.weak_type)
    if isinstance(x, Tracer):
        return x.aval
    if hasattr(x, "shape") and hasattr(x, "dtype") and not isinstance(x, np.ndarray):
        return ShapedArray(tuple(x.shape), np.dtype(x.dtype))
    return get_aval(x if isinstance(x, (np.ndarray, np.generic)) else np.asarray(x))


def eval_shape(fun: Callable, *args: Any, **kwargs: Any) -> Any:
    """Shapes and dtypes of `fun`'s outputs, traced without computing anything.

    Arguments may be arrays or anything with `.shape` and `.dtype` (ShapeDtypeStruct).

    >>> import numpy as np, funcad as fa, funcad.numpy as fnp
    >>> fa.eval_shape(lambda x: fnp.sum(x, axis=0), fa.ShapeDtypeStruct((3, 4), np.float32))
    ShapeDtypeStruct(shape=(4,), dtype=float32)
    """
    from funcad.interpreters.partial_eval import trace_to_jaxpr_flat
    leaves, in_tree = tree_flatten((args, kwargs))
    box = {}

    def flat_fun(*xs):
        a, kw = tree_unflatten(in_tree, list(xs))
        out_leaves, out_tree = tree_flatten(fun(*a, **kw))
        box["tree"] = out_tree
        return out_leaves

    jaxpr, _ = trace_to_jaxpr_flat(flat_fun, [_aval_of(x) for x in leaves])
    outs = [ShapeDtypeStruct(a.shape, a.dtype, weak_type=a.weak_type)
            for a in jaxpr.out_avals]
    return tree_unflatten(box["tree"], outs)


def linear_transpose(fun: Callable, *primals: Any, reduce_axes: tuple = ()) -> Callable:
    """The transpose of a linear function, as a function of output cotangents returning a
    tuple of input cotangents. `primals` give the input shapes and dtypes (their values are
    not used).

    >>> import numpy as np, funcad as fa
    >>> t = fa.linear_transpose(lambda x: 2.0 * x[::-1], np.zeros(3))
    >>> t(np.array([1.0, 2.0, 3.0]))
    (Array([6., 4., 2.], dtype=float64),)
    """
    from funcad.api import vjp
    zeros = [np.zeros(_aval_of(p).shape, _aval_of(p).dtype) for p in
             tree_flatten(primals)[0]]
    _, tree = tree_flatten(primals)
    zero_args = tree_unflatten(tree, zeros)
    # A linear function's vjp at any point is its transpose; at zero, any constant
    # offset (a non-linear function) shows as a non-zero output, which we refuse.
    out, pullback = vjp(fun, *zero_args)
    if any(np.any(np.asarray(o) != 0) for o in tree_flatten(out)[0]
           if not isinstance(o, Tracer)):
        raise TypeError("linear_transpose: the function is not linear (f(0) != 0)")

    def transposed(*cts):
        ct = cts[0] if len(cts) == 1 else cts
        return tuple(pullback(ct))
    return transposed
