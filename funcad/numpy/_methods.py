"""Operators and methods of traced values, and NumPy's dispatch protocols."""

from __future__ import annotations

from typing import Any

import numpy as np

from funcad import _core
from funcad._core import UnsupportedNumPyFunctionError
from funcad.numpy import _base, _bits, _contract, _indexing, _reductions, _setops, _shapes, _ufuncs
from funcad.numpy import linalg as _linalg


def _raw(f):
    """The plain function behind a funcad.numpy ufunc (operators are bound to it: a ufunc
    instance is no descriptor, and the function is a call cheaper)."""
    return getattr(f, "_call", f)


def _swap(f):
    return lambda self, other: f(other, self)


def _reshape_method(self, *shape, order="C"):
    if len(shape) == 1 and not isinstance(shape[0], int):
        shape = shape[0]
    return _shapes.reshape(self, shape, order)


def _transpose_method(self, *axes):
    if len(axes) == 1 and not isinstance(axes[0], int):
        axes = axes[0]
    return _shapes.transpose(self, axes or None)


def _item(self, *args):
    return self.to_concrete("float").item(*args) if hasattr(
        self.to_concrete("float"), "item") else self.to_concrete("float")


def _divmod(a, b):
    return _ufuncs.floor_divide(a, b), _ufuncs.remainder(a, b)


METHODS = {
    "__add__": _raw(_ufuncs.add), "__radd__": _swap(_raw(_ufuncs.add)),
    "__sub__": _raw(_ufuncs.subtract), "__rsub__": _swap(_raw(_ufuncs.subtract)),
    "__mul__": _raw(_ufuncs.multiply), "__rmul__": _swap(_raw(_ufuncs.multiply)),
    "__truediv__": _ufuncs.true_divide, "__rtruediv__": _swap(_ufuncs.true_divide),
    "__floordiv__": _ufuncs.floor_divide, "__rfloordiv__": _swap(_ufuncs.floor_divide),
    "__mod__": _ufuncs.remainder, "__rmod__": _swap(_ufuncs.remainder),
    "__pow__": _ufuncs.power, "__rpow__": _swap(_ufuncs.power),
    "__matmul__": _contract.matmul, "__rmatmul__": _swap(_contract.matmul),
    "__and__": _raw(_ufuncs.bitwise_and), "__rand__": _swap(_raw(_ufuncs.bitwise_and)),
    "__or__": _raw(_ufuncs.bitwise_or), "__ror__": _swap(_raw(_ufuncs.bitwise_or)),
    "__xor__": _raw(_ufuncs.bitwise_xor), "__rxor__": _swap(_raw(_ufuncs.bitwise_xor)),
    "__lshift__": _bits.left_shift, "__rlshift__": _swap(_bits.left_shift),
    "__rshift__": _bits.right_shift, "__rrshift__": _swap(_bits.right_shift),
    "__neg__": _raw(_ufuncs.negative), "__pos__": _ufuncs.positive, "__abs__": _ufuncs.absolute,
    "__invert__": _ufuncs.invert, "__getitem__": _indexing.getitem,
    "__lt__": _ufuncs.less, "__le__": _ufuncs.less_equal, "__gt__": _ufuncs.greater,
    "__ge__": _ufuncs.greater_equal, "__eq__": _ufuncs.equal, "__ne__": _ufuncs.not_equal,
    "__round__": lambda self, nd=None: _ufuncs.round(self, nd or 0),
    "__divmod__": _divmod,
    "sum": _reductions.sum, "mean": _reductions.mean, "prod": _reductions.prod,
    "max": _reductions.max, "min": _reductions.min, "argmax": _reductions.argmax,
    "argmin": _reductions.argmin, "var": _reductions.var, "std": _reductions.std,
    "cumsum": _reductions.cumsum, "all": _reductions.all, "any": _reductions.any,
    "reshape": _reshape_method, "astype": lambda self, dtype, **kw: _base.astype(self, dtype),
    "transpose": _transpose_method, "ravel": _shapes.ravel, "flatten": _shapes.ravel,
    "squeeze": _shapes.squeeze, "dot": _contract.dot, "clip": _ufuncs.clip,
    "round": _ufuncs.round, "conj": _ufuncs.conj, "swapaxes": _shapes.swapaxes,
    "repeat": _shapes.repeat, "take": _indexing.take, "item": _item,
    "tolist": lambda self: np.asarray(self).tolist(), "copy": lambda self: self,
    "nonzero": _setops.nonzero, "trace": _contract.trace, "diagonal": _shapes.diagonal,
    "T": lambda self: _shapes.transpose(self), "at": _indexing._AtIndexer,
    "real": _ufuncs.real, "imag": _ufuncs.imag,
}



# -- NumPy protocols: numpy.sin(tracer) and numpy.sum(tracer) trace through funcad ----------

_UFUNC_ALIASES = {"absolute": "absolute", "divide": "true_divide", "power": "power",
                  "conjugate": "conj"}


def _array_ufunc(self, ufunc, method, *inputs, **kwargs):
    from funcad import numpy as fnp
    name = _UFUNC_ALIASES.get(ufunc.__name__, ufunc.__name__)
    if kwargs.get("out") is not None:
        raise TypeError(f"numpy.{ufunc.__name__}(..., out=...) cannot write into a traced "
                        f"array; use the returned value")
    kwargs.pop("out", None)
    if method == "__call__":
        fn = getattr(fnp, name, None)
        if fn is None:
            raise UnsupportedNumPyFunctionError(
                f"numpy.{ufunc.__name__} is not supported on traced values (funcad.numpy "
                f"has no {name}); compute it outside the transformed function, or write it "
                f"with funcad.numpy functions")
        return fn(*inputs, **kwargs)
    fn = getattr(fnp, name, None)
    if isinstance(fn, fnp.ufunc):
        # numpy.add.reduce(tracer), numpy.maximum.accumulate(tracer), ...: the same method
        # of funcad.numpy's ufunc (at updates in place, which traced values cannot).
        if method == "at":
            raise TypeError(f"numpy.{ufunc.__name__}.at cannot update a traced array in "
                            f"place; use funcad.numpy.{name}.at(a, indices, b, "
                            f"inplace=False), which returns the updated array")
        if method in ("reduce", "accumulate", "reduceat", "outer"):
            return getattr(fn, method)(*inputs, **kwargs)
    raise UnsupportedNumPyFunctionError(f"numpy.{ufunc.__name__}.{method} is not supported "
                                        f"on traced values")


def _array_function(self, func, types, args, kwargs):
    from funcad import numpy as fnp
    mod = getattr(func, "__module__", "") or "numpy"
    # Only NumPy's main namespace, numpy.linalg and numpy.fft have funcad counterparts: a
    # function of another submodule must not dispatch to a namesake in funcad.numpy.
    if mod == "numpy.linalg":
        target = fnp.linalg
    elif mod == "numpy.fft":
        target = fnp.fft
    elif mod == "numpy" or mod.startswith(("numpy.core", "numpy._core", "numpy.lib")):
        target = fnp
    else:
        target = None
    fn = getattr(target, func.__name__, None) if target is not None else None
    if fn is None or not callable(fn):
        public = mod if target is None else ("numpy.linalg" if target is fnp.linalg
                                             else "numpy.fft" if target is fnp.fft
                                             else "numpy")
        raise UnsupportedNumPyFunctionError(
            f"{public}.{func.__name__} is not supported on traced values: funcad.numpy has "
            f"no equivalent yet. Compute it outside the transformed function, or write it "
            f"with funcad.numpy functions.")
    if target is fnp.linalg and func.__name__ in ("eigh", "eigvalsh", "cholesky"):
        # NumPy reads one triangle; funcad's (JAX's) default symmetrizes the input.
        kwargs = {"symmetrize_input": False, **kwargs}
    return fn(*args, **kwargs)


METHODS["__array_ufunc__"] = _array_ufunc
METHODS["__array_function__"] = _array_function


def _setitem(self, key, value):
    raise TypeError(
        "funcad arrays are immutable inside transforms: instead of `x[idx] = y` write "
        "`x = x.at[idx].set(y)` (also .add, .multiply), which returns an updated copy")


def install() -> None:
    """Attach the functions behind tracer operators and methods."""
    _core._tracer_methods.update(METHODS)
    _core.Tracer.__setitem__ = _setitem
    # Operators are looked up on the type: bind them directly (saves a call per operation).
    for name in ("__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__",
                 "__truediv__", "__rtruediv__", "__pow__", "__rpow__", "__matmul__",
                 "__rmatmul__", "__neg__", "__getitem__", "__lt__", "__le__", "__gt__",
                 "__ge__"):
        setattr(_core.Tracer, name, METHODS[name])


def _unused(*_: Any) -> None:
    return None


del _linalg
