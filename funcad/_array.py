"""`funcad.Array`: the immutable array type that funcad returns (JAX's `jax.Array`).

An Array is a read-only subclass of `numpy.ndarray` (its `flags.writeable` is False), so
every NumPy, SciPy or matplotlib function accepts it and `np.asarray(x)` is free, while
it behaves like a JAX array:

- `x[0] = 1` is a TypeError naming `x.at[0].set(1)`; `x.at[idx].set/add/mul/min/max/get`
  returns updated copies; in-place operators rebind (`y += 1` makes a new Array and
  leaves the old one alone); `out=` arguments and NumPy's in-place methods (`sort`,
  `fill`, ...) that would write into an Array raise a TypeError.
- `x[i]` with `i` traced by a transform is funcad's indexing (a traced result), and
  operators with a traced operand (`x + tracer`) give traced values, so an Array made
  outside a transform can be closed over inside one, as in JAX.
- Operators and methods give Arrays (`x + 1`, `x.sum(axis=0)`, `x.T`, `x[1:]`), as in
  JAX, rank-0 results included, and operators promote dtypes as funcad.numpy does (JAX's
  rules: `int32_array / 10` is float32), so eager code computes in the dtypes it gets
  under jit. NumPy's own functions on Arrays (`np.sin(x)`, `np.concatenate([x, y])`)
  give plain, writeable ndarrays, as they do on JAX arrays, so NumPy code that writes
  into its results keeps working (an operator whose left operand is a NumPy scalar,
  `np.float64(2) * x`, is NumPy's ufunc too: a plain ndarray).
- `block_until_ready()` returns the array, `devices()` is `{CpuDevice(id=0)}`, and the
  repr is JAX's: `Array([1., 2.], dtype=float64)`.

Where funcad creates Arrays: funcad wraps what leaves it at the boundary (results of
primitives bound outside every transform, of jit, of the transforms, and of creation
functions), never in its inner loops, so a wrap (a `view` plus a flag, ~0.25 us) is paid
once per returned array.
"""

from __future__ import annotations

import functools
import sys
import types
from typing import Any

import numpy as np

from funcad import _core, _dtypes
from funcad._core import Tracer

# ----------------------------------------------------------------------------------
# The type


class _ArrayMeta(type):
    """isinstance(x, funcad.Array) is True for tracers too, as it is for JAX's tracers."""

    def __instancecheck__(cls, obj: Any) -> bool:
        return type.__instancecheck__(cls, obj) or (cls is Array and isinstance(obj, Tracer))


class CpuDevice:
    """The one device funcad computes on (JAX's `CpuDevice(id=0)`)."""

    __slots__ = ()
    id = 0
    platform = "cpu"
    device_kind = "cpu"
    process_index = 0
    client = None

    def __repr__(self) -> str:
        return "CpuDevice(id=0)"

    def __reduce__(self):
        return (_cpu_device, ())


def _cpu_device() -> CpuDevice:
    return CPU


CPU = CpuDevice.__new__(CpuDevice)


class SingleDeviceSharding:
    """How an Array is laid out over devices: whole, on funcad's one device (JAX's
    `SingleDeviceSharding(device=CpuDevice(id=0), memory_kind=device)`)."""

    __slots__ = ()
    memory_kind = "device"
    is_fully_addressable = True
    is_fully_replicated = True
    num_devices = 1

    @property
    def device_set(self) -> set:
        return {CPU}

    def __repr__(self) -> str:
        return "SingleDeviceSharding(device=CpuDevice(id=0), memory_kind=device)"

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, SingleDeviceSharding)

    def __hash__(self) -> int:
        return hash(SingleDeviceSharding)


SHARDING = SingleDeviceSharding()


def _immutable_error(what: str, fix: str) -> TypeError:
    return TypeError(
        f"funcad Arrays are immutable (as JAX's are): {what} would change one in place. "
        f"{fix} For a mutable NumPy copy use `np.array(x)`.")


def _index_text(idx: Any) -> str:
    def one(i):
        if isinstance(i, slice):
            return ":".join("" if v is None else str(v)
                            for v in (i.start, i.stop, i.step)[:3 if i.step is not None else 2])
        if i is Ellipsis:
            return "..."
        if i is None:
            return "None"
        if isinstance(i, (int, np.integer)):
            return str(i)
        return "idx"
    if isinstance(idx, tuple):
        return ", ".join(one(i) for i in idx) if idx else "()"
    return one(idx)


def _plain(x: Any) -> Any:
    """An Array as a plain ndarray (a free view); anything else as it is."""
    return x.view(np.ndarray) if type(x) is Array else x


def _plain_args(args: Any) -> Any:
    """Arguments of a NumPy function with Arrays (also inside lists and tuples) as ndarrays."""
    t = type(args)
    if t is Array:
        return args.view(np.ndarray)
    if t is tuple or t is list:
        return t(_plain_args(a) for a in args)
    return args


def _has_array(x: Any) -> bool:
    t = type(x)
    if t is Array:
        return True
    if t is tuple or t is list:
        return any(_has_array(a) for a in x)
    return False


# Operands that cannot override a ufunc: they never make an Array operator defer.
_PLAIN_OPERANDS = frozenset({int, float, bool, complex, np.ndarray, np.float64, np.float32,
                             np.int64, np.int32, np.bool_, np.complex128, list, tuple})


def _defers(other: Any) -> bool:
    """Whether `array <op> other` should be left to `other` (a tracer, or a type that opts
    out of NumPy's operators with `__array_ufunc__ = None`)."""
    t = type(other)
    if t in _PLAIN_OPERANDS or t is Array:
        return False
    return isinstance(other, Tracer) or getattr(t, "__array_ufunc__", 0) is None


# The primitive an operator stands for, named in jax_debug_nans errors.
_PRIM_NAMES = {"truediv": "div", "floordiv": "floor_divide", "mod": "rem",
               "matmul": "dot_general"}


def _checked(name: str, args: tuple, out: Any) -> None:
    # jax_debug_nans/infs: eager operators are primitive applications too.
    from funcad._debug_checks import check_values
    check_values(_PRIM_NAMES.get(name, name), args, out)


_PY_NUMBERS = frozenset({int, float, complex})


def _binary(ufunc, name: str):
    inexact = name == "truediv"
    numeric = name in ("floordiv", "mod", "pow")   # booleans count as int32 (JAX's rule)

    def apply(a, b):
        """(the result, whether it is weakly typed). A weak Array operand comes as it is,
        a strong one as a plain view."""
        # funcad's (JAX's) result dtype, not NumPy's: int32 + float32 is float32, and
        # int32 / int32 is float32 (the same dtypes as funcad.numpy, eagerly and traced)
        ta, tb = type(a), type(b)
        if ta is np.ndarray:
            if tb is np.ndarray:
                if a.dtype == b.dtype and not (inexact and a.dtype.kind in "biu") and not (
                        numeric and a.dtype.kind == "b"):
                    return ufunc(a, b), False
            elif (tb is float or tb is int) and a.dtype.kind in "fc":
                return ufunc(a, b), False    # a Python number is weak: the array's dtype
        elif (ta is float or ta is int) and tb is np.ndarray and b.dtype.kind in "fc":
            return ufunc(a, b), False
        dt, weak = _dtypes.result_type_weak(a, b)
        if weak and name == "pow" and tb is not int and tb is not float and tb is not complex:
            weak = tb is Array and b._weak   # JAX's pow: a strong exponent makes it strong
        if tb not in _PY_NUMBERS:
            b = np.asarray(b)
        if ta not in _PY_NUMBERS:
            a = np.asarray(a)
        if inexact:
            dt = _dtypes.inexact_dtype(dt)
        elif numeric and (dt == np.bool_ or (name == "pow" and tb is int
                                              and a.dtype == np.bool_)):
            dt, weak = np.dtype(np.int32), False   # (bool ** 2: integer_pow of int32 bools)
        # a Python number operand is weak: NumPy gives the array's dtype too
        return ufunc(a if type(a) in _PY_NUMBERS else a.astype(dt, copy=False),
                     b if type(b) in _PY_NUMBERS else b.astype(dt, copy=False)), weak

    def op(self, other):
        if _defers(other):
            return NotImplemented
        a, b = _operand(self), _operand(other)
        out, weak = apply(a, b)
        if _core._debug_hook is not None:
            _checked(name, (a, b), out)
        return mark_weak(out, True) if weak else _result(out)

    def rop(self, other):
        if _defers(other):
            return NotImplemented
        a, b = _operand(other), _operand(self)
        out, weak = apply(a, b)
        if _core._debug_hook is not None:
            _checked(name, (a, b), out)
        return mark_weak(out, True) if weak else _result(out)

    op.__name__, rop.__name__ = f"__{name}__", f"__r{name}__"
    return op, rop


def _operand(x: Any) -> Any:
    """An operator's operand: a strong Array as a plain view, a weak one as it is (its
    weak type takes part in the promotion)."""
    return x if type(x) is not Array or x._weak else x.view(np.ndarray)


def _unary(ufunc, name: str):
    def op(self):
        a = self.view(np.ndarray)
        out = ufunc(a)
        if _core._debug_hook is not None:
            _checked(name, (a,), out)
        return mark_weak(out, True) if self._weak else _result(out)
    op.__name__ = f"__{name}__"
    return op


def _method(name: str, keeps_weak: bool):
    base = getattr(np.ndarray, name)

    def method(self, *args, **kwargs):
        out = _results(base(self.view(np.ndarray), *args, **kwargs))
        return mark_weak(out, True) if keeps_weak and self._weak else out
    method.__name__ = name
    method.__doc__ = base.__doc__
    return method


def _mutator(name: str, fix: str):
    def method(self, *args, **kwargs):
        raise _immutable_error(f"x.{name}(...)", fix)
    method.__name__ = name
    return method


class Array(np.ndarray, metaclass=_ArrayMeta):  # noqa: PLW1641 (no __slots__: see _weak)
    """funcad's array: an immutable `numpy.ndarray` (JAX's `jax.Array`).

    >>> import funcad.numpy as fnp
    >>> x = fnp.arange(3.0)
    >>> x
    Array([0., 1., 2.], dtype=float64)
    >>> x.at[1].set(5.0)
    Array([0., 5., 2.], dtype=float64)
    >>> y = x
    >>> y += 1
    >>> x, y
    (Array([0., 1., 2.], dtype=float64), Array([1., 2., 3.], dtype=float64))
    """

    # -- JAX's array API -----------------------------------------------------------
    @property
    def at(self):
        """Functional updates: `x.at[idx].set(v)`, `.add`, `.mul`/`.multiply`, `.min`,
        `.max`, `.get`, `.apply`; each returns a new Array."""
        return _core._tracer_methods["at"](self)

    def block_until_ready(self) -> Array:
        """funcad computes synchronously: returns the array itself."""
        return self

    def copy_to_host_async(self) -> None:
        """The array already is on the host: nothing to do."""

    def devices(self) -> set:
        """The devices holding the array: `{CpuDevice(id=0)}`."""
        return {CPU}

    @property
    def sharding(self) -> SingleDeviceSharding:
        """`SingleDeviceSharding(device=CpuDevice(id=0), memory_kind=device)`."""
        return SHARDING

    @property
    def is_fully_addressable(self) -> bool:
        return True

    @property
    def is_fully_replicated(self) -> bool:
        return True

    #: Weakly typed (made from Python numbers, as `fnp.asarray(0.5)` or `int32_x * 0.5`):
    #: yields to the other operand's dtype in promotion, as JAX's weak types do. Set on
    #: the instance (`mark_weak`); a view or a result of NumPy code is strong again.
    _weak = False

    @property
    def weak_type(self) -> bool:
        """True for a weakly typed Array (the type of a Python number, as in JAX)."""
        return self._weak

    # -- immutability --------------------------------------------------------------
    def __setitem__(self, idx, value):
        i = _index_text(idx)
        v = repr(value) if isinstance(value, (int, float, bool, np.generic)) else "value"
        raise _immutable_error(f"x[{i}] = {v}",
                               f"Use `x = x.at[{i}].set({v})` (or .add, .mul, .min, .max).")

    # -- indexing: traced indices go to funcad.numpy's indexing ----------------------
    def __getitem__(self, idx):
        if isinstance(idx, Tracer) or (type(idx) is tuple
                                       and any(isinstance(i, Tracer) for i in idx)):
            return _core._tracer_methods["__getitem__"](self, idx)
        out = np.ndarray.__getitem__(self, idx)
        if type(out) is Array and out.flags.writeable:   # advanced indexing: a fresh copy
            out.setflags(False)
        if self._weak:
            return mark_weak(out)
        return out

    @property
    def T(self) -> Array:
        """The transpose (axes reversed), as `x.transpose()`."""
        return self.transpose()

    @property
    def mT(self) -> Array:
        """The transpose of the last two axes (a stack of matrices transposed)."""
        return self.swapaxes(-1, -2)

    # -- NumPy's protocols: NumPy functions on Arrays see (and give) plain ndarrays ----
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        for x in inputs:
            if type(x) is not Array and _defers(x):
                return NotImplemented
        out = kwargs.get("out")
        if out is not None:
            if _has_array(out):
                raise _immutable_error(f"numpy.{ufunc.__name__}(..., out=x)",
                                       "Use the returned value instead of `out=`.")
            kwargs["out"] = _plain_args(out)
        if method == "at" and type(inputs[0]) is Array:
            raise _immutable_error(f"numpy.{ufunc.__name__}.at(x, ...)",
                                   f"Use `x.at[idx].{ufunc.__name__}(...)` style updates, "
                                   f"e.g. `x = x.at[idx].add(v)`.")
        return getattr(ufunc, method)(*_plain_args(inputs), **kwargs)

    def __array_function__(self, func, types, args, kwargs):
        for t in types:
            if not issubclass(t, np.ndarray):
                return NotImplemented
        if func in _WRITING_FUNCTIONS and args and type(args[0]) is Array:
            raise _immutable_error(f"numpy.{func.__name__}(x, ...)",
                                   "Use `x.at[idx].set(...)` to make an updated copy.")
        if kwargs:
            out = kwargs.get("out")
            if out is not None and _has_array(out):
                raise _immutable_error(f"numpy.{func.__name__}(..., out=x)",
                                       "Use the returned value instead of `out=`.")
            kwargs = {k: _plain_args(v) for k, v in kwargs.items()}
        return func(*_plain_args(args), **kwargs)

    def __array_wrap__(self, arr, context=None, return_scalar=False):
        # Only reached by NumPy code that bypasses the protocols above: stay plain.
        if return_scalar:
            return arr[()]
        return arr.view(np.ndarray) if type(arr) is not np.ndarray else arr

    # -- printing ------------------------------------------------------------------
    def __repr__(self) -> str:
        if self.size == 0 and self.shape != (0,):
            body = f"[], shape={self.shape}"
        else:
            body = np.array2string(self.view(np.ndarray), separator=", ", prefix="Array(")
        return f"Array({body}, dtype={self.dtype.name})"

    def __str__(self) -> str:
        return str(self.view(np.ndarray))

    # -- copies stay immutable Arrays --------------------------------------------------
    def __copy__(self) -> Array:
        return self

    def __deepcopy__(self, memo) -> Array:
        return self

    def __reduce__(self):
        return (_rebuild, (self.view(np.ndarray),))

    def __reduce_ex__(self, protocol):
        return (_rebuild, (self.view(np.ndarray),))


def _rebuild(arr: np.ndarray) -> Array:
    return wrap(arr)


# Operators: Arrays in, Arrays out (a tracer operand defers to the tracer's operator).
for _name, _uf in [("add", np.add), ("sub", np.subtract), ("mul", np.multiply),
                   ("truediv", np.true_divide), ("floordiv", np.floor_divide),
                   ("mod", np.remainder), ("pow", np.power), ("matmul", np.matmul),
                   ("and", np.bitwise_and), ("or", np.bitwise_or), ("xor", np.bitwise_xor),
                   ("lshift", np.left_shift), ("rshift", np.right_shift)]:
    _op, _rop = _binary(_uf, _name)
    setattr(Array, f"__{_name}__", _op)
    setattr(Array, f"__r{_name}__", _rop)
    # In-place operators make a new Array and rebind the name (`y += 1`), as in JAX.
    setattr(Array, f"__i{_name}__", _op)
for _name, _uf in [("lt", np.less), ("le", np.less_equal), ("gt", np.greater),
                   ("ge", np.greater_equal), ("eq", np.equal), ("ne", np.not_equal)]:
    setattr(Array, f"__{_name}__", _binary(_uf, _name)[0])
for _name, _uf in [("neg", np.negative), ("pos", np.positive), ("abs", np.absolute),
                   ("invert", np.invert)]:
    setattr(Array, f"__{_name}__", _unary(_uf, _name))
Array.__hash__ = None


def _divmod(self, other):
    if _defers(other):
        return NotImplemented
    return _results(np.divmod(self.view(np.ndarray), _plain(other)))


Array.__divmod__ = _divmod

# Methods that make new arrays give Arrays; those that would write in place raise. Those
# that only move elements (and clip, round, conj) keep a weak type, as JAX's do.
_KEEP_WEAK = frozenset({"clip", "round", "conj", "conjugate", "copy", "flatten", "ravel",
                        "reshape", "take", "repeat", "compress", "transpose", "swapaxes",
                        "squeeze", "diagonal", "__round__"})
for _name in ["sum", "prod", "mean", "var", "std", "max", "min", "argmax", "argmin", "ptp",
              "cumsum", "cumprod", "all", "any", "clip", "round", "conj", "conjugate", "dot",
              "astype", "copy", "flatten", "ravel", "reshape", "take", "repeat", "compress",
              "choose", "searchsorted", "argsort", "argpartition", "nonzero", "trace",
              "transpose", "swapaxes", "squeeze", "diagonal", "byteswap", "__round__"]:
    if hasattr(np.ndarray, _name):
        setattr(Array, _name, _method(_name, _name in _KEEP_WEAK))
for _name, _fix in [("sort", "Use `x = fnp.sort(x)` (or np.sort(x))."),
                    ("partition", "Use `np.partition(x, kth)`."),
                    ("fill", "Use `fnp.full_like(x, value)`."),
                    ("put", "Use `x = x.at[idx].set(values)`."),
                    ("itemset", "Use `x = x.at[idx].set(value)`."),
                    ("resize", "Use `fnp.resize(x, shape)` or `x.reshape(shape)`."),
                    ("setfield", "Make a mutable copy first.")]:
    setattr(Array, _name, _mutator(_name, _fix))

_WRITING_FUNCTIONS = frozenset(f for f in (
    getattr(np, n, None) for n in ("copyto", "put", "place", "putmask", "fill_diagonal",
                                   "put_along_axis")) if f is not None)


# ----------------------------------------------------------------------------------
# Making Arrays


def wrap(x: np.ndarray) -> Array:
    """A read-only Array view of an ndarray (the ndarray itself is left as it is)."""
    out = x.view(Array)
    out.setflags(False)
    return out


def _results(r: Any) -> Any:
    t = type(r)
    if t is np.ndarray:
        r = r.view(Array)
        r.setflags(False)
        return r
    if t is Array:
        if r.flags.writeable:
            r.setflags(False)
        return r
    if t is tuple:
        return tuple(_results(x) for x in r)
    if t in _NUMPY_SCALARS:
        return _scalar_array(r)
    return r


# NumPy's number scalars: they leave funcad as rank-0 Arrays (as JAX returns them), so
# that what a program does with them next follows funcad's (JAX's) dtype rules, eagerly
# as under jit (np.int32(3) / 10 would be NumPy's float64, funcad's is float32).
_NUMPY_SCALARS = frozenset({np.float64, np.float32, np.float16, np.int64, np.int32,
                            np.int16, np.int8, np.uint64, np.uint32, np.uint16, np.uint8,
                            np.bool_, np.complex128, np.complex64})


def _scalar_array(x: np.generic) -> Array:
    out = np.asarray(x).view(Array)
    out.setflags(False)
    return out


# `x.setflags(False)`, not `setflags(write=False)`: keyword parsing costs 140 ns more, on
# every result that leaves funcad.


def to_array(x: Any) -> Any:
    """One output leaf leaving funcad: ndarrays and NumPy scalars become Arrays, everything
    else stays."""
    t = type(x)
    if t is np.ndarray:
        x = x.view(Array)
        x.setflags(False)
    elif t in _NUMPY_SCALARS:
        return _scalar_array(x)
    return x


_result = to_array      # a NumPy result as an Array


def to_arrays(out: Any) -> Any:
    """Outputs leaving funcad (a leaf, or tuples/lists/dicts of them) as Arrays."""
    t = type(out)
    if t is np.ndarray:
        out = out.view(Array)
        out.setflags(False)
        return out
    if t in _NUMPY_SCALARS:
        return _scalar_array(out)
    if t is list:
        return [to_arrays(x) for x in out]
    if t is tuple:
        return tuple(to_arrays(x) for x in out)
    if isinstance(out, tuple) and hasattr(out, "_fields"):    # namedtuples
        return t(*[to_arrays(x) for x in out])
    if t is dict:
        return {k: to_arrays(v) for k, v in out.items()}
    return out


_core.to_array = to_array
_core.ARRAY_TYPES.add(Array)
_core._array_type = Array


def mark_weak(x: Any, weak: bool = True) -> Any:
    """`x` (an ndarray, Array or NumPy scalar) as an Array that is weakly typed when
    `weak`; anything else (a tracer) as it is."""
    if not weak:
        return x
    t = type(x)
    if t is np.ndarray or t is Array or t in _NUMPY_SCALARS:
        out = np.asarray(x).view(Array)
        out.setflags(False)
        out._weak = True
        return out
    return x


_core.mark_weak = mark_weak


def at_top_level() -> bool:
    """True outside every transform: values made now leave funcad."""
    return len(_core.trace_stack) == 1


def _any_weak(xs) -> bool:
    """Whether a weakly typed Array is among `xs` (or in their lists and tuples)."""
    for a in xs:
        t = type(a)
        if t is Array:
            if a._weak:
                return True
        elif (t is tuple or t is list) and _any_weak(a):
            return True
    return False


def _call_weak(fun, args: tuple, kwargs: dict) -> Any:
    """`fun` called outside transforms with weakly typed Arrays (funcad._weak_eval)."""
    from funcad._weak_eval import eval_weak
    out = eval_weak(fun, args, kwargs)
    return to_arrays(fun(*args, **kwargs)) if out is None else out


def returns_arrays(fun, module: str | None = None):
    """Decorate a public function so that its results are Arrays when it is called
    outside every transform (inside one they are tracers, and pass through).

    The wrapper's globals are `fun`'s (so doctest finds it where `fun` was defined) and its
    `__module__` is `module` (the namespace that exports it, where pickle looks it up)."""
    stack = _core.trace_stack
    convert = to_arrays
    # closure cells, not globals: the wrapper runs in `fun`'s globals (see below)
    any_weak, call_weak, array_type = _any_weak, _call_weak, Array

    def wrapper(*args, **kwargs):
        if len(stack) != 1:
            return fun(*args, **kwargs)
        for a in args:          # (inlined: every eager call of a funcad function checks)
            t = type(a)
            if t is array_type:
                if a._weak:
                    return call_weak(fun, args, kwargs)
            elif (t is tuple or t is list) and any_weak(a):
                return call_weak(fun, args, kwargs)
        if kwargs and any_weak(kwargs.values()):
            return call_weak(fun, args, kwargs)
        return convert(fun(*args, **kwargs))
    w = types.FunctionType(wrapper.__code__, fun.__globals__, fun.__name__, None,
                           wrapper.__closure__)
    functools.update_wrapper(w, fun)
    if module is not None:
        w.__module__ = module
        w.__qualname__ = fun.__name__
    w._returns_arrays = True
    return w


def export_arrays(namespace: dict, names=None) -> None:
    """Make the public functions of a module namespace return Arrays (see returns_arrays);
    functions that only return Python values are harmless to wrap."""
    module = namespace["__name__"]
    if names is None:
        names = namespace.get("__all__") or [n for n in namespace if not n.startswith("_")]
    for name in names:
        f = namespace.get(name)
        if (isinstance(f, types.FunctionType) and f.__module__.startswith("funcad")
                and not getattr(f, "_returns_arrays", False)):
            home = sys.modules.get(f.__module__)
            if (home is not None and home is not sys.modules.get(module)
                    and f.__name__ == name and getattr(home, name, None) is f):
                # Defined in a private module: wrap it there too and keep its __module__,
                # so pickle finds the wrapper and doctest runs the examples in the globals
                # they were written for.
                w = returns_arrays(f)
                setattr(home, f.__name__, w)
            else:
                w = returns_arrays(f, module)
            namespace[name] = w


def writeable_view(x: Array) -> np.ndarray:
    """A plain, writeable view of an Array's memory, for compiled code (which never writes
    into its inputs, but which Numba types differently when they are read-only). Arrays
    view memory that funcad allocated writeable, so this is free of copies; memory that
    nobody may write is copied."""
    v = x.view(np.ndarray)
    try:
        v.setflags(write=True)
    except ValueError:
        v = np.array(v)
    return v


def writeable_const(c: Any) -> Any:
    """A constant of a compiled program as compiled code takes it: Arrays and read-only
    arrays as writeable plain views of their memory (copied once if nobody may write it)."""
    if isinstance(c, np.ndarray) and (type(c) is not np.ndarray or not c.flags.writeable):
        return writeable_view(c.view(Array))
    return c


def asarray_leaf(x: Any, copy: bool = False) -> Array:
    """A concrete leaf as an Array: Arrays as they are, other values converted (copied when
    `copy` and the memory is writeable, so that the Array cannot change under the caller)."""
    if type(x) is Array:
        return x
    if isinstance(x, Tracer):
        return x
    arr = np.asarray(x)
    if copy and arr.flags.writeable and arr is x:
        arr = arr.copy()
    return wrap(arr)


# ----------------------------------------------------------------------------------
# Devices (JAX's names; funcad has one: the CPU)


def devices(backend: str | None = None) -> list:
    """The devices funcad can compute on: `[CpuDevice(id=0)]`."""
    return [CPU]


def local_devices(process_index: int | None = None, backend: str | None = None) -> list:
    """Same as `devices()`."""
    return [CPU]


def device_count(backend: str | None = None) -> int:
    """1: funcad computes on the CPU."""
    return 1


local_device_count = device_count


def default_backend() -> str:
    """'cpu'."""
    return "cpu"


def device_put(x: Any, device: Any = None, *, src: Any = None, donate: bool = False,
               may_alias: bool | None = None) -> Any:
    """Put a pytree of arrays on the (CPU) device: its leaves become Arrays.

    NumPy arrays are copied (as JAX copies them), so later writes to them do not change
    the Arrays; Arrays are returned as they are.

    >>> import numpy as np, funcad as fa
    >>> fa.device_put(np.arange(3.0))
    Array([0., 1., 2.], dtype=float64)
    """
    from funcad._tree import tree_map
    return tree_map(lambda a: asarray_leaf(a, copy=not may_alias), x)


def effects_barrier() -> None:
    """Wait until every computation's side effects (`debug.print`, callbacks) are done:
    funcad runs them synchronously, so there is nothing to wait for."""


def device_get(x: Any) -> Any:
    """Fetch a pytree of arrays to the host: funcad's arrays are there already, so this
    returns `x` itself.

    >>> import funcad as fa, funcad.numpy as fnp
    >>> fa.device_get(fnp.ones(2))
    Array([1., 1.], dtype=float64)
    """
    return x


__all__ = ["Array", "CpuDevice", "SingleDeviceSharding", "default_backend", "device_count",
           "device_get", "device_put", "devices", "effects_barrier", "local_device_count",
           "local_devices"]
