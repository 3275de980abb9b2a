"""Core machinery: abstract values, primitives, rule tables, tracers and the trace stack.

A primitive is only a name. Every transform (evaluation, abstract evaluation, jvp,
transpose, batching, partial evaluation, lowering) is an interpreter that looks the
primitive up in its own table of rules. Tracers carry a value through one level of the
trace stack; `bind` finds the innermost (highest-level) trace among its arguments and
lets that trace process the primitive.
"""

from __future__ import annotations

import contextlib
import operator
from typing import Any, Callable, ClassVar, Sequence

import numpy as np

# ----------------------------------------------------------------------------------
# Errors


class FuncadError(Exception):
    """Base class of funcad's own errors."""


class ConcretizationTypeError(FuncadError, TypeError):
    """A traced value was used where a concrete Python value is needed."""


class NonConcreteBooleanIndexError(ConcretizationTypeError, IndexError):
    """A traced boolean array was used as a mask index (the result's shape would depend
    on its values). An IndexError, as JAX's is, and a ConcretizationTypeError."""


class UnexpectedTracerError(FuncadError):
    """A tracer escaped the transform that created it."""


class ShapeMismatchError(FuncadError, TypeError, ValueError):
    """Operand shapes do not fit an operation (e.g. a dot's contracted sizes differ).

    A TypeError, as jax.numpy raises, and a ValueError, as NumPy raises, so that code
    written for either catches it.
    """


class UnsupportedNumPyFunctionError(FuncadError, TypeError):
    """A NumPy function that funcad does not implement was called on a traced value.

    A TypeError, as NumPy's own `__array_function__` protocol raises when no argument
    type implements a function.
    """


# ----------------------------------------------------------------------------------
# Abstract values


def canonical_dtype(dtype: Any) -> np.dtype:
    """NumPy dtype object for `dtype`."""
    return np.dtype(dtype)


class ShapedArray:
    """The abstract value of an array: its shape and dtype. Immutable and hashable."""

    __slots__ = ("shape", "dtype", "weak_type")

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype, weak_type: bool = False):
        self.shape = shape
        self.dtype = dtype
        self.weak_type = weak_type

    def __eq__(self, other: object) -> bool:
        return (type(other) is ShapedArray and self.shape == other.shape
                and self.dtype == other.dtype and self.weak_type == other.weak_type)

    def __hash__(self) -> int:
        return hash((self.shape, self.dtype, self.weak_type))

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def strip_weak(self) -> ShapedArray:
        return ShapedArray(self.shape, self.dtype) if self.weak_type else self

    def str_short(self) -> str:
        return f"{dtype_short_name(self.dtype)}[{','.join(str(d) for d in self.shape)}]"

    def __repr__(self) -> str:
        return f"ShapedArray({self.str_short()})"

    def same_type(self, other: ShapedArray) -> bool:
        return self.shape == other.shape and self.dtype == other.dtype


_SHORT_NAMES = {
    "float64": "f64", "float32": "f32", "float16": "f16", "int64": "i64", "int32": "i32",
    "int16": "i16", "int8": "i8", "uint8": "u8", "uint32": "u32", "uint64": "u64",
    "bool": "bool", "complex128": "c128", "complex64": "c64",
}


def dtype_short_name(dtype: np.dtype) -> str:
    """Short printable name of a dtype, e.g. f64."""
    try:
        return _SHORT_BY_DTYPE[dtype]
    except (KeyError, TypeError):
        name = np.dtype(dtype).name
        short = _SHORT_NAMES.get(name, name)
        try:
            _SHORT_BY_DTYPE[dtype] = short   # dtype.name is slow; printing is hot
        except TypeError:
            pass
        return short


_SHORT_BY_DTYPE: dict = {}


def is_float_dtype(dtype: np.dtype) -> bool:
    """True for floating (and complex) dtypes: the ones that can be differentiated."""
    return np.dtype(dtype).kind in "fc"  # np.issubdtype(dtype, np.inexact), 10x cheaper


_PY_SCALAR_DTYPES = {bool: np.dtype(bool), int: np.dtype(np.int64),
                     float: np.dtype(np.float64), complex: np.dtype(np.complex128)}


def get_aval(x: Any) -> ShapedArray:
    """The abstract value of a tracer, array or scalar."""
    t = type(x)
    if t is np.ndarray:
        return ShapedArray(x.shape, x.dtype)
    if isinstance(x, Tracer):
        return x.aval
    if t in ARRAY_TYPES:       # funcad.Array: weakly typed when made from Python numbers
        return ShapedArray(x.shape, x.dtype, x._weak)
    if isinstance(x, np.generic):
        return ShapedArray(x.shape, x.dtype)
    if t in _PY_SCALAR_DTYPES:
        return ShapedArray((), _PY_SCALAR_DTYPES[t], weak_type=True)
    if isinstance(x, np.ndarray):
        return ShapedArray(x.shape, x.dtype)
    raise TypeError(
        f"funcad cannot use a value of type {type(x).__name__} as an array "
        f"({x!r:.60}); pass a NumPy array, a Python number, or a pytree of them.")


#: Concrete array types: np.ndarray and funcad.Array (added by funcad._array).
ARRAY_TYPES: set = {np.ndarray}


def is_scalar_literal(x: Any) -> bool:
    """True for concrete rank-0 values, which programs inline as literals."""
    return type(x) in _PY_SCALAR_DTYPES or isinstance(x, np.generic) or (
        type(x) in ARRAY_TYPES and x.ndim == 0)


# ----------------------------------------------------------------------------------
# Primitives and their rule tables


class Primitive:
    """A named operation; its behaviour under every transform lives in the rule tables."""

    __slots__ = ("name", "multiple_results")

    def __init__(self, name: str, multiple_results: bool = False):
        self.name = name
        self.multiple_results = multiple_results

    def __repr__(self) -> str:
        return self.name

    def bind(self, *args: Any, **params: Any) -> Any:
        """Apply the primitive under the innermost active trace."""
        main = _dynamic_main
        for a in args:
            if isinstance(a, Tracer):
                m = a._trace.main
                if m.level > main.level:
                    main = m
        if main.level == 0:
            out = impl_rules[self](*args, **params) if params else impl_rules[self](*args)
            if _debug_hook is not None:     # jax_debug_nans / jax_debug_infs (_debug_checks)
                _debug_hook(self, args, params, out)
            if _outside:    # outside every transform: the result leaves funcad as an Array
                if self.multiple_results:
                    if self in typed_by_program:
                        return _weak_results(self, args, params, out)
                    return [to_array(o) for o in out]
                for a in args:  # a weakly typed Array operand (funcad.numpy makes them)
                    if type(a) is _array_type and a._weak:
                        return _weak_result(self, args, params, out)
                return to_array(out)
            return out
        if not main.alive:
            raise_leaked_tracer(self)
        trace = main.trace
        # An explicit loop: cheaper than a comprehension's frame in CPython 3.11. full_raise
        # of a non-tracer is pure(); calling it directly saves a frame per constant.
        tracers = []
        for a in args:
            if isinstance(a, Tracer):
                tracers.append(a if a._trace is trace else trace.full_raise(a))
            else:
                tracers.append(trace.pure(a))
        return trace.process_primitive(self, tracers, params)


all_primitives: dict[str, Primitive] = {}

#: funcad.Array (set by funcad._array): its `_weak` says whether it is weakly typed.
_array_type: type = type(None)


def _weak_result(prim: Primitive, args: tuple, params: dict, out: Any) -> Any:
    """An eager result as an Array, weakly typed where JAX's rule (`out_weak`) says."""
    return mark_weak(to_array(out), out_weak(prim, [get_aval(a) for a in args], params))


def _weak_results(prim: Primitive, args: tuple, params: dict, outs: list) -> list:
    """Eager results of a primitive that runs a program (a loop, a call): weakly typed
    where the program's outputs are (its abstract evaluation says)."""
    avals = abstract_eval_rules[prim](*[get_aval(a) for a in args], **params)
    return [mark_weak(to_array(o), a.weak_type) for o, a in zip(outs, avals)]


def out_weak(prim: Primitive, avals: Sequence[ShapedArray], params: dict) -> bool:
    """Whether the result of `prim` on `avals` is weakly typed (JAX's rule).

    A weak type is the type of a Python number: it yields to the other operand's dtype in
    promotion (a weak float64 times a float32 array is float32). Elementwise primitives
    keep it when every operand has it; structural ones (reshape, slicing, ...) when their
    operand does (`weak_type_rules`); everything else (reductions, ...) drops it.
    """
    rule = weak_type_rules.get(prim)
    if rule is not None:
        return rule(avals, params)
    if prim in elementwise_primitives:
        return all(a.weak_type for a in avals)
    return False


def weak_if_operand(avals: Sequence[ShapedArray], params: dict) -> bool:
    """Weak type rule of a structural primitive: weak when its first operand is."""
    return avals[0].weak_type


def weak_if_all(avals: Sequence[ShapedArray], params: dict) -> bool:
    """Weak type rule: weak when every operand is (concatenate, pad, dot_general)."""
    return all(a.weak_type for a in avals)

#: funcad._debug_checks.check while jax_debug_nans or jax_debug_infs is on, else None.
_debug_hook: Callable | None = None
#: While the eager tape compiles a backward pass (funcad/interpreters/tape_backward.py):
#: `hook(test, tracer) -> bool`, asked by the rules' value tests (elementwise.py) about a
#: traced value; None otherwise (a traced value then passes no value test).
value_test_hook: Callable | None = None

# One dictionary per transform. Primitive modules register into these.
impl_rules: dict[Primitive, Callable] = {}
abstract_eval_rules: dict[Primitive, Callable] = {}
jvp_rules: dict[Primitive, Callable] = {}
transpose_rules: dict[Primitive, Callable] = {}
batch_rules: dict[Primitive, Callable] = {}
partial_eval_rules: dict[Primitive, Callable] = {}
partial_eval_jaxpr_rules: dict[Primitive, Callable] = {}
pp_rules: dict[Primitive, Callable] = {}
lowering_rules: dict[Primitive, Callable] = {}
#: prim -> fn(in_avals, params) -> whether its result is weakly typed (see `out_weak`).
weak_type_rules: dict[Primitive, Callable] = {}
#: Primitives that run a program (loops, calls): their outputs' weak types are the
#: program's, which their abstract evaluation gives.
typed_by_program: set[Primitive] = set()

#: Primitives that are linear in all their array inputs (so they need a transpose rule).
linear_primitives: set[Primitive] = set()
#: Primitives whose outputs are never differentiable (comparisons, argmax, ...).
nondiff_primitives: set[Primitive] = set()
#: Elementwise primitives (each output element depends on the same element of each
#: operand only): with real operands of one shape their Jacobians are diagonal.
elementwise_primitives: set[Primitive] = set()


def new_primitive(name: str, multiple_results: bool = False) -> Primitive:
    """Create and register a primitive."""
    if name in all_primitives:
        raise ValueError(f"primitive {name} already exists")
    p = Primitive(name, multiple_results)
    all_primitives[name] = p
    return p


def raise_leaked_tracer(prim: Primitive | None = None) -> None:
    what = f" (while applying {prim.name})" if prim is not None else ""
    raise UnexpectedTracerError(
        "A traced value leaked out of the transform that created it" + what + ": it was "
        "stored (in a global, a closure or an attribute) while a function was being "
        "traced by jit/grad/vmap and used after that transform had finished. Return "
        "the value from the transformed function instead of storing it.")


# ----------------------------------------------------------------------------------
# The trace stack


class MainTrace:
    """One level of the trace stack."""

    __slots__ = ("level", "trace_type", "payload", "alive", "trace")

    def __init__(self, level: int, trace_type: type, payload: Any = None):
        self.level = level
        self.trace_type = trace_type
        self.payload = payload
        self.alive = True
        self.trace = trace_type(self)

    def __repr__(self) -> str:
        return f"MainTrace({self.level}, {self.trace_type.__name__})"


class Trace:
    """Interprets primitives applied to its tracers."""

    __slots__ = ("main",)

    def __init__(self, main: MainTrace):
        self.main = main

    def pure(self, val: Any) -> Tracer:
        raise NotImplementedError

    lift = pure

    def full_raise(self, val: Any) -> Tracer:
        if not isinstance(val, Tracer):
            return self.pure(val)
        main = val._trace.main
        if main is self.main:
            return val
        if main.level < self.main.level:
            return self.lift(val)
        if not main.alive:
            raise_leaked_tracer()
        raise UnexpectedTracerError(
            f"Internal level confusion: a tracer of {main} met the trace {self.main}.")

    def process_primitive(self, prim: Primitive, tracers: list, params: dict) -> Any:
        raise NotImplementedError


class EvalTrace(Trace):
    """Level 0: apply primitives to concrete NumPy values."""

    __slots__ = ()

    def pure(self, val: Any) -> Any:
        return val

    lift = pure

    def process_primitive(self, prim, tracers, params):
        return impl_rules[prim](*tracers, **params)


trace_stack: list[MainTrace] = [MainTrace(0, EvalTrace)]
_dynamic_main: MainTrace = trace_stack[0]
#: True while no transform runs (len(trace_stack) == 1): what primitives compute then
#: leaves funcad, so it is made a funcad.Array.
_outside = True


def to_array(x: Any) -> Any:
    """Replaced by funcad._array.to_array (an ndarray leaving funcad becomes an Array)."""
    return x


def mark_weak(x: Any, weak: bool = True) -> Any:
    """Replaced by funcad._array.mark_weak (an Array made weakly typed)."""
    return x


class new_main:
    """Push a new level on the trace stack for the duration of the block.

    A class rather than a generator-based context manager: eager transforms enter one per
    call, and this costs a fraction of contextlib's overhead.
    """

    __slots__ = ("main", "prev_dynamic", "dynamic", "prev_outside")

    def __init__(self, trace_type: type, payload: Any = None, dynamic: bool = False):
        self.main = MainTrace(len(trace_stack), trace_type, payload)
        self.dynamic = dynamic

    def __enter__(self) -> MainTrace:
        global _dynamic_main, _outside
        main = self.main
        trace_stack.append(main)
        self.prev_outside = _outside
        _outside = False
        self.prev_dynamic = _dynamic_main
        if self.dynamic:
            _dynamic_main = main
        return main

    def __exit__(self, *exc) -> None:
        global _dynamic_main, _outside
        self.main.alive = False
        trace_stack.pop()
        _outside = self.prev_outside
        _dynamic_main = self.prev_dynamic


class inside:
    """funcad's own evaluation outside transforms (a backward pass, the body of an eager
    loop): the values that primitives compute in the block stay plain ndarrays (they do
    not leave funcad, so they are not made Arrays)."""

    __slots__ = ("prev",)

    def __enter__(self) -> None:
        global _outside
        self.prev = _outside
        _outside = False

    def __exit__(self, *exc) -> None:
        global _outside
        _outside = self.prev


def current_dynamic_main() -> MainTrace:
    return _dynamic_main


@contextlib.contextmanager
def eval_context():
    """Run with the dynamic trace reset to evaluation (used by impls that run Python)."""
    global _dynamic_main
    prev = _dynamic_main
    _dynamic_main = trace_stack[0]
    try:
        yield
    finally:
        _dynamic_main = prev


def find_top_trace(xs: Any) -> Trace:
    """The trace that should process an operation on `xs`."""
    main = _dynamic_main
    for x in xs:
        if isinstance(x, Tracer):
            m = x._trace.main
            if m.level > main.level:
                main = m
    if not main.alive:
        raise_leaked_tracer()
    return main.trace


# ----------------------------------------------------------------------------------
# Tracers

# Filled in by funcad.numpy: the functions behind operators and methods of tracers.
_tracer_methods: dict[str, Callable] = {}


def _forward(name: str, swap: bool = False):
    def op(self, *args, **kwargs):
        if swap:
            return _tracer_methods[name](args[0], self)
        return _tracer_methods[name](self, *args, **kwargs)
    op.__name__ = name
    return op


class Tracer:
    """A value being traced through a transform. Behaves like an array."""

    __slots__ = ("_trace",)
    __array_priority__ = 1000
    _hashable_error: ClassVar[str] = "funcad tracers are unhashable"

    @property
    def aval(self) -> ShapedArray:
        raise NotImplementedError

    # -- array attributes
    @property
    def shape(self) -> tuple[int, ...]:
        return self.aval.shape

    @property
    def dtype(self) -> np.dtype:
        return self.aval.dtype

    @property
    def ndim(self) -> int:
        return self.aval.ndim

    @property
    def size(self) -> int:
        return self.aval.size

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d traced array")
        return self.shape[0]

    def __iter__(self):
        if not self.shape:
            raise TypeError("iteration over a 0-d traced array")
        return (self[i] for i in range(self.shape[0]))

    # -- conversion to Python values: only possible where the trace knows the value
    def to_concrete(self, why: str) -> Any:
        raise ConcretizationTypeError(concretization_message(self, why))

    def __bool__(self):
        return bool(self.to_concrete("bool"))

    def __int__(self):
        return int(self.to_concrete("int"))

    def __float__(self):
        return float(self.to_concrete("float"))

    def __complex__(self):
        return complex(self.to_concrete("complex"))

    def __index__(self):
        return operator.index(self.to_concrete("index"))

    def __array__(self, dtype=None, copy=None):
        val = self.to_concrete("array")
        return np.asarray(val, dtype=dtype)

    def __hash__(self):
        raise TypeError(self._hashable_error)

    def __repr__(self) -> str:
        return f"Traced<{self.aval.str_short()}>with<{type(self._trace).__name__}>"

    # operators and methods are attached by funcad.numpy (see _install_tracer_methods)


_BINARY_OPS = ["add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul",
               "and", "or", "xor", "lshift", "rshift"]
for _name in _BINARY_OPS:
    setattr(Tracer, f"__{_name}__", _forward(f"__{_name}__"))
    setattr(Tracer, f"__r{_name}__", _forward(f"__r{_name}__"))
for _name in ["neg", "pos", "abs", "invert", "getitem", "lt", "le", "gt", "ge",
              "eq", "ne", "round", "divmod"]:
    setattr(Tracer, f"__{_name}__", _forward(f"__{_name}__"))
for _name in ["sum", "mean", "prod", "max", "min", "argmax", "argmin", "var", "std",
              "cumsum", "all", "any", "reshape", "astype", "transpose", "ravel",
              "flatten", "squeeze", "dot", "clip", "round", "conj", "swapaxes",
              "repeat", "take", "item", "tolist", "copy", "nonzero", "trace",
              "diagonal", "__array_ufunc__", "__array_function__"]:
    setattr(Tracer, _name, _forward(_name))


def _tracer_prop(name):
    return property(lambda self: _tracer_methods[name](self))


Tracer.T = _tracer_prop("T")
Tracer.at = _tracer_prop("at")
Tracer.real = _tracer_prop("real")
Tracer.imag = _tracer_prop("imag")


def concretization_message(tracer: Tracer, why: str) -> str:
    """Explain why a traced value cannot become a Python value, and what to do instead."""
    aval = tracer.aval.str_short()
    what = {
        "bool": "used as a Python bool (in `if`, `while`, `and`/`or`, or `assert`)",
        "int": "converted with int()",
        "float": "converted with float()",
        "complex": "converted with complex()",
        "index": "used as a Python index or shape",
        "array": "converted to a NumPy array",
        "shape": "used as a shape or size",
    }.get(why, why)
    return (
        f"A traced value of type {aval} was {what}, but its value is not known while "
        f"the function is being traced. Fixes: for a data-dependent choice use "
        f"`funcad.numpy.where` or `funcad.lax.cond` (loops: `lax.while_loop`, "
        f"`lax.fori_loop`); for a value that is really a constant (a size, a flag, a "
        f"number of steps) mark that argument static with `static_argnums`/"
        f"`static_argnames` in `jit`, or compute it with NumPy outside the function."
        + (" If you are indexing a plain NumPy array with a traced index, make the array "
           "a funcad array first: `funcad.numpy.asarray(x)[i]` or `funcad.numpy.take(x, i)`."
           if why in ("index", "array") else ""))
