"""Elementwise functions of funcad.numpy, with NumPy's broadcasting and promotion."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from funcad._core import Tracer, get_aval
from funcad.numpy._base import (
    astype,
    broadcast_arrays,
    inexact_dtype,
    is_weak,
    prepare,
    promote_inexact,
    result_type,
    scalar_operand,
)
from funcad import _core
from funcad._array import Array, to_array
from funcad.primitives import elementwise as ew
from funcad.primitives.elementwise import conj_p, imag_p, real_p


def _fast_aval(x: Any):
    """The aval of a tracer or ndarray (None for anything that needs conversion)."""
    if isinstance(x, Tracer):
        return x.aval
    if type(x) is np.ndarray or type(x) is Array:
        return get_aval(x)
    return None


@functools.cache
def _ufunc_dtype(name: str, dtype: np.dtype) -> np.dtype:
    """The dtype ufunc `name` returns for an input of `dtype`: NumPy's, except that bools
    and integers that NumPy makes floats become `inexact_dtype` (JAX's rule)."""
    with np.errstate(all="ignore"):
        dt = getattr(np, name)(np.ones((), dtype)).dtype
    return inexact_dtype(dtype) if dt.kind == "f" and dtype.kind in "biu" else dt


def _leave(x: Any) -> Any:
    """A result made without bind: an Array when it leaves funcad (outside transforms)."""
    return to_array(x) if _core._outside else x


def _unary(name: str, prim, inexact: bool = True, doc: str = ""):
    def fn(x: Any, /) -> Any:
        if type(x) is Array and not x._weak:    # NumPy runs the impl on a plain view
            x = x.view(np.ndarray)
        # Fast path (inlined: a call per operation is measurable in eager AD) for tracers
        # and arrays, whose .dtype is all that is needed.
        a = x.aval if isinstance(x, Tracer) else x if type(x) is np.ndarray else None
        if a is not None and (not inexact or a.dtype.kind == "f"):
            return prim.bind(x)
        (x,) = prepare(name, x)
        if inexact:
            dt = _ufunc_dtype(name, np.dtype(result_type(x)))
            if not np.issubdtype(dt, np.inexact):
                # floor/ceil of integers: the integers themselves
                return _leave(astype(x, dt))
            x = astype(x, dt, is_weak(x))
        return prim.bind(x)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc or f"Elementwise {name}, as numpy.{name}."
    fn._returns_arrays = True   # every result comes from bind (or _leave): no wrapper needed
    return fn


_FLOAT_SCALARS = (float, int)


def _binary(name: str, prim, inexact: bool = False, doc: str = ""):
    def fn(x1: Any, x2: Any, /) -> Any:
        # NumPy runs the impl on plain views without protocol calls (a weakly typed Array
        # takes the general path: its weak type takes part in the promotion)
        if type(x1) is Array and not x1._weak:
            x1 = x1.view(np.ndarray)
        if type(x2) is Array and not x2._weak:
            x2 = x2.view(np.ndarray)
        # Fast paths: same-typed arrays, and an array with a Python number. An ndarray
        # stands for its own aval (shape and dtype); _fast_aval inlined.
        a1 = x1.aval if isinstance(x1, Tracer) else x1 if type(x1) is np.ndarray else None
        a2 = x2.aval if isinstance(x2, Tracer) else x2 if type(x2) is np.ndarray else None
        if a1 is not None:
            if a2 is not None:
                if a1.shape == a2.shape and a1.dtype == a2.dtype and (
                        not inexact or a1.dtype.kind == "f"):
                    return prim.bind(x1, x2)
            elif type(x2) in _FLOAT_SCALARS and a1.dtype.kind == "f" and (
                    a1 is x1 or not a1.weak_type):
                return prim.bind(x1, scalar_operand(x2, a1))
        elif (a2 is not None and type(x1) in _FLOAT_SCALARS and a2.dtype.kind == "f"
              and (a2 is x2 or not a2.weak_type)):
            return prim.bind(scalar_operand(x1, a2), x2)
        a, b = prepare(name, x1, x2, inexact=inexact)
        return prim.bind(a, b)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc or f"Elementwise {name}, as numpy.{name}, with broadcasting."
    fn._returns_arrays = True   # every result comes from bind: no wrapper needed
    return fn


sin = _unary("sin", ew.sin_p)
cos = _unary("cos", ew.cos_p)
tan = _unary("tan", ew.tan_p)
arcsin = _unary("arcsin", ew.asin_p)
arccos = _unary("arccos", ew.acos_p)
arctan = _unary("arctan", ew.atan_p)
sinh = _unary("sinh", ew.sinh_p)
cosh = _unary("cosh", ew.cosh_p)
tanh = _unary("tanh", ew.tanh_p)
exp = _unary("exp", ew.exp_p)
expm1 = _unary("expm1", ew.expm1_p)
log = _unary("log", ew.log_p)
log1p = _unary("log1p", ew.log1p_p)
sqrt = _unary("sqrt", ew.sqrt_p)
floor = _unary("floor", ew.floor_p)
ceil = _unary("ceil", ew.ceil_p)
asin, acos, atan = arcsin, arccos, arctan
arcsinh = _unary("arcsinh", ew.asinh_p)
arccosh = _unary("arccosh", ew.acosh_p)
arctanh = _unary("arctanh", ew.atanh_p)
asinh, acosh, atanh = arcsinh, arccosh, arctanh


def negative(x: Any, /) -> Any:
    """Elementwise -x."""
    (x,) = prepare("negative", x)
    if x.dtype == np.bool_:
        raise TypeError("negative of a boolean array is not supported; use logical_not")
    return ew.neg_p.bind(x)


def positive(x: Any, /) -> Any:
    """Elementwise +x."""
    return x


def absolute(x: Any, /) -> Any:
    """Elementwise |x|."""
    (x,) = prepare("abs", x)
    if np.issubdtype(x.dtype, np.unsignedinteger) or x.dtype == np.bool_:
        return x
    return ew.abs_p.bind(x)


abs = absolute


def sign(x: Any, /) -> Any:
    """Elementwise sign (-1, 0, 1); booleans are refused, as in JAX."""
    (x,) = prepare("sign", x)
    if x.dtype == np.bool_:
        raise TypeError("sign does not accept dtype bool (as in JAX); accepted dtypes are "
                        "integers, floats and complex numbers: convert with x.astype(int)")
    return ew.sign_p.bind(x)


def round(a: Any, decimals: int = 0) -> Any:
    """Round half to even to `decimals` places."""
    (a,) = prepare("round", a)
    if a.dtype == np.bool_:
        raise ValueError("round of a boolean array is not supported (as in JAX): convert "
                         "with x.astype(int) first")
    if not np.issubdtype(a.dtype, np.inexact):
        if decimals >= 0:
            return a
        # Integers to tens, hundreds, ...: round in float64, as NumPy does.
        return astype(round(astype(a, np.float64), decimals), a.dtype)
    if decimals == 0:
        return ew.round_p.bind(a)
    factor = 10.0 ** decimals
    return divide(ew.round_p.bind(multiply(a, factor)), factor)


around = round


def rint(x: Any, /) -> Any:
    """Round to the nearest integer."""
    return round(x)


def isnan(x: Any, /) -> Any:
    """Elementwise NaN test."""
    (x,) = prepare("isnan", x)
    if not np.issubdtype(x.dtype, np.inexact):
        return _full_bool(x, False)
    return ew.is_nan_p.bind(x)


def isfinite(x: Any, /) -> Any:
    """Elementwise finiteness test."""
    (x,) = prepare("isfinite", x)
    if not np.issubdtype(x.dtype, np.inexact):
        return _full_bool(x, True)
    return ew.is_finite_p.bind(x)


def isinf(x: Any, /) -> Any:
    """Elementwise infinity test."""
    return logical_and(logical_not(isfinite(x)), logical_not(isnan(x)))


def _full_bool(x, v):
    from funcad.numpy._base import full, shape
    return full(shape(x), v, bool)


add = _binary("add", ew.add_p)
subtract = _binary("subtract", ew.sub_p)
multiply = _binary("multiply", ew.mul_p)
_maximum = _binary("maximum", ew.max_p)
_minimum = _binary("minimum", ew.min_p)


def _lexicographic(x1, x2, strict_op, name):
    """x1 `op` x2 for complex operands: NumPy's (and JAX's) order on (real, imag)."""
    a, b = prepare(name, x1, x2)
    ra, rb = real_p.bind(a), real_p.bind(b)
    ia, ib = imag_p.bind(a), imag_p.bind(b)
    return ew.select_n_p.bind(ew.eq_p.bind(ra, rb), strict_op.bind(ra, rb),
                              strict_op.bind(ia, ib))


def _complex_operands(x1, x2) -> bool:
    # On the path of every eager comparison and maximum (relu): no np.result_type call
    # for arrays, tracers and Python numbers.
    for x in (x1, x2):
        t = type(x)
        if t is float or t is int or t is bool:
            continue
        if t is complex:
            return True
        dt = getattr(x, "dtype", None)
        if dt is None:
            return result_type(x1, x2).kind == "c"
        if dt.kind == "c":
            return True
    return False


def maximum(x1: Any, x2: Any, /) -> Any:
    """Elementwise maximum, NaN-propagating (complex: lexicographic on (real, imag))."""
    if not _complex_operands(x1, x2):
        return _maximum(x1, x2)
    a, b = prepare("maximum", x1, x2)
    nan = logical_or(isnan(a), isnan(b))
    pick_a = logical_or(isnan(a), logical_and(logical_not(nan), greater_equal(a, b)))
    return ew.select_n_p.bind(pick_a, b, a)


def minimum(x1: Any, x2: Any, /) -> Any:
    """Elementwise minimum, NaN-propagating (complex: lexicographic on (real, imag))."""
    if not _complex_operands(x1, x2):
        return _minimum(x1, x2)
    a, b = prepare("minimum", x1, x2)
    nan = logical_or(isnan(a), isnan(b))
    pick_a = logical_or(isnan(a), logical_and(logical_not(nan), less_equal(a, b)))
    return ew.select_n_p.bind(pick_a, b, a)
arctan2 = _binary("arctan2", ew.atan2_p, inexact=True)
atan2 = arctan2


_divide = _binary("divide", ew.div_p, inexact=True)  # with the fast paths of the others


def true_divide(x1: Any, x2: Any, /) -> Any:
    """Elementwise true division (integers give `inexact_dtype`: int32 / int32 is float32)."""
    return _divide(x1, x2)


divide = true_divide


def _numeric(*xs) -> list:
    """JAX's rule for arithmetic on booleans (floor_divide, remainder, power, square):
    they count as int32 (NumPy gives int8, and a primitive of booleans would give bool)."""
    return [astype(x, np.int32) if x.dtype == np.bool_ else x for x in xs]


def floor_divide(x1: Any, x2: Any, /) -> Any:
    """Elementwise floor division (for floats, NumPy's exact algorithm: 1.0 // 0.1 == 9)."""
    a, b = _numeric(*prepare("floor_divide", x1, x2))
    if not np.issubdtype(a.dtype, np.inexact):
        return ew.floor_divide_p.bind(a, b)
    # floor(a / b) is wrong where a / b rounds up to an integer; go through fmod as NumPy.
    mod = ew.rem_p.bind(a, b)
    div = true_divide(subtract(a, mod), b)
    div = where(_remainder_needs_fix(mod, b), subtract(div, 1), div)
    floordiv = floor(div)
    floordiv = where(greater(subtract(div, floordiv), 0.5), add(floordiv, 1), floordiv)
    return where(equal(b, 0), true_divide(a, b), floordiv)


def _remainder_needs_fix(mod, b):
    """Where fmod's sign (the dividend's) differs from the divisor's."""
    return logical_and(not_equal(mod, 0), not_equal(less(mod, 0), less(b, 0)))


def remainder(x1: Any, x2: Any, /) -> Any:
    """Elementwise remainder with the sign of the divisor (Python's %)."""
    a, b = _numeric(*prepare("remainder", x1, x2))
    r = ew.rem_p.bind(a, b)
    return where(_remainder_needs_fix(r, b), add(r, b), r)


mod = remainder


def fmod(x1: Any, x2: Any, /) -> Any:
    """Elementwise remainder with the sign of the dividend (C's fmod)."""
    a, b = _numeric(*prepare("fmod", x1, x2))
    return ew.rem_p.bind(a, b)


def power(x1: Any, x2: Any, /) -> Any:
    """Elementwise x1 ** x2 (integer exponents use repeated multiplication)."""
    if not isinstance(x2, Tracer) and (isinstance(x2, (int, np.integer)) and
                                       not isinstance(x2, bool)):
        (a,) = _numeric(*prepare("power", x1))
        if np.issubdtype(a.dtype, np.integer) and x2 < 0:
            raise ValueError("Integers to negative integer powers are not allowed.")
        return ew.integer_pow_p.bind(a, y=int(x2))
    a, b = _numeric(*prepare("power", x1, x2))
    if is_weak(b) and not is_weak(x2):
        # JAX's pow keeps a strong exponent strong: weak ** int32 array is strong
        b = (ew.convert_element_type_p.bind(b, new_dtype=b.aval.dtype)
             if isinstance(b, Tracer) else np.asarray(b))
    return ew.pow_p.bind(a, b)


def float_power(x1: Any, x2: Any, /) -> Any:
    """x1 ** x2 in an inexact dtype (JAX's rule: float32 stays float32)."""
    return power(*promote_inexact(x1, x2))


def square(x: Any, /) -> Any:
    """Elementwise x * x."""
    (x,) = _numeric(*prepare("square", x))
    return ew.integer_pow_p.bind(x, y=2)


def reciprocal(x: Any, /) -> Any:
    """Elementwise 1 / x."""
    return true_divide(1, x)


def cbrt(x: Any, /) -> Any:
    """Elementwise cube root."""
    (x,) = promote_inexact(x)
    return multiply(sign(x), power(absolute(x), 1.0 / 3.0))


def exp2(x: Any, /) -> Any:
    """Elementwise 2 ** x."""
    (x,) = promote_inexact(x)
    return exp(multiply(x, float(np.log(2.0))))


def log2(x: Any, /) -> Any:
    """Elementwise base-2 logarithm."""
    (x,) = promote_inexact(x)
    return true_divide(log(x), float(np.log(2.0)))


def log10(x: Any, /) -> Any:
    """Elementwise base-10 logarithm."""
    (x,) = promote_inexact(x)
    return true_divide(log(x), float(np.log(10.0)))


def logaddexp(x1: Any, x2: Any, /) -> Any:
    """log(exp(x1) + exp(x2)) computed without overflow."""
    a, b = prepare("logaddexp", x1, x2, inexact=True)
    m = maximum(a, b)
    # Where both are -inf (or +inf) the difference is nan: use 0 there.
    d = subtract(a, b)
    d = where(isnan(d), 0.0, d)
    return add(m, log1p(exp(negative(absolute(d)))))


def hypot(x1: Any, x2: Any, /) -> Any:
    """sqrt(x1**2 + x2**2), without overflow or underflow in the squares."""
    a, b = prepare("hypot", x1, x2, inexact=True)
    aa, ab = absolute(a), absolute(b)
    big, small = maximum(aa, ab), minimum(aa, ab)
    safe = where(logical_or(equal(big, 0), isinf(big)), 1.0, big)
    r = multiply(big, sqrt(add(1.0, square(true_divide(small, safe)))))
    return where(logical_or(isinf(a), isinf(b)), np.inf, r)


def deg2rad(x: Any, /) -> Any:
    """Degrees to radians."""
    return multiply(x, np.pi / 180.0)


def rad2deg(x: Any, /) -> Any:
    """Radians to degrees."""
    return multiply(x, 180.0 / np.pi)


radians, degrees = deg2rad, rad2deg


def sinc(x: Any, /) -> Any:
    """sin(pi x) / (pi x), equal to 1 at 0."""
    (x,) = promote_inexact(x)
    px = multiply(x, np.pi)
    is_zero = equal(x, 0)
    safe = where(is_zero, 1.0, px)
    return where(is_zero, 1.0, true_divide(sin(safe), safe))


# -- comparisons and logic ----------------------------------------------------------------

equal = _binary("equal", ew.eq_p)
not_equal = _binary("not_equal", ew.ne_p)
_less = _binary("less", ew.lt_p)
_less_equal = _binary("less_equal", ew.le_p)
_greater = _binary("greater", ew.gt_p)
_greater_equal = _binary("greater_equal", ew.ge_p)


def _ordering(name, real_fn, prim):
    def fn(x1: Any, x2: Any, /) -> Any:
        if _complex_operands(x1, x2):
            return _lexicographic(x1, x2, prim, name)
        return real_fn(x1, x2)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = (f"Elementwise {name}, as numpy.{name}, with broadcasting (complex "
                  f"numbers are ordered lexicographically on (real, imag), as in NumPy).")
    return fn


less = _ordering("less", _less, ew.lt_p)
less_equal = _ordering("less_equal", _less_equal, ew.le_p)
greater = _ordering("greater", _greater, ew.gt_p)
greater_equal = _ordering("greater_equal", _greater_equal, ew.ge_p)


def _as_bool(x):
    return astype(x, bool) if result_type(x) != np.bool_ else x


def logical_and(x1: Any, x2: Any, /) -> Any:
    """Elementwise logical and."""
    a, b = broadcast_arrays(*prepare("logical_and", _as_bool(x1), _as_bool(x2)))
    return ew.and_p.bind(a, b)


def logical_or(x1: Any, x2: Any, /) -> Any:
    """Elementwise logical or."""
    a, b = broadcast_arrays(*prepare("logical_or", _as_bool(x1), _as_bool(x2)))
    return ew.or_p.bind(a, b)


def logical_xor(x1: Any, x2: Any, /) -> Any:
    """Elementwise logical xor."""
    a, b = broadcast_arrays(*prepare("logical_xor", _as_bool(x1), _as_bool(x2)))
    return ew.xor_p.bind(a, b)


def logical_not(x: Any, /) -> Any:
    """Elementwise logical not."""
    (x,) = prepare("logical_not", _as_bool(x))
    return ew.not_p.bind(x)


def _bitwise(name, prim):
    def fn(x1, x2, /):
        a, b = prepare(name, x1, x2)
        if np.issubdtype(a.dtype, np.inexact):
            raise TypeError(f"{name} is only defined for integer and boolean arrays")
        return prim.bind(a, b)
    fn.__name__ = name
    fn.__doc__ = f"Elementwise {name}."
    return fn


bitwise_and = _bitwise("bitwise_and", ew.and_p)
bitwise_or = _bitwise("bitwise_or", ew.or_p)
bitwise_xor = _bitwise("bitwise_xor", ew.xor_p)


def invert(x: Any, /) -> Any:
    """Bitwise not (logical not for booleans)."""
    (x,) = prepare("invert", x)
    return ew.not_p.bind(x)


bitwise_not = invert


def where(condition: Any, x: Any = None, y: Any = None, /) -> Any:
    """Choose elementwise from `x` where `condition` holds, else from `y`.

    With one argument it returns the indices of non-zero elements (concrete input only).

    >>> import funcad.numpy as fnp
    >>> fnp.where(fnp.array([True, False]), 1.0, 0.0)
    Array([1., 0.], dtype=float64)
    """
    if x is None and y is None:
        from funcad.numpy._indexing import nonzero
        return nonzero(condition)
    if x is None or y is None:
        raise ValueError("where takes either 1 or 3 arguments")
    x, y = prepare("where", x, y)
    c = _as_bool(condition)
    c, x, y = broadcast_arrays(c, x, y, op="where")
    return ew.select_n_p.bind(c, y, x)


def clip(a: Any, a_min: Any = None, a_max: Any = None, out: None = None, *, min: Any = None,
         max: Any = None) -> Any:
    """Limit values to [a_min, a_max] (NumPy 2 also calls them min and max)."""
    if out is not None:
        raise TypeError("clip: out= is not supported; use the returned array")
    lo = a_min if a_min is not None else min
    hi = a_max if a_max is not None else max
    result = a
    if lo is not None:
        result = maximum(result, lo)
    if hi is not None:
        result = minimum(result, hi)
    if lo is None and hi is None:
        (result,) = prepare("clip", a)
    return result


def _is_complex(x: Any) -> bool:
    return result_type(x).kind == "c"


def real(x: Any, /) -> Any:
    """Real part (real inputs are returned unchanged).

    >>> import funcad.numpy as fnp
    >>> fnp.real(fnp.array([1 + 2j])).tolist()
    [1.0]
    """
    (x,) = prepare("real", x)
    return real_p.bind(x) if _is_complex(x) else x


def imag(x: Any, /) -> Any:
    """Imaginary part (zero for real inputs).

    >>> import funcad.numpy as fnp
    >>> fnp.imag(fnp.array([1 + 2j])).tolist()
    [2.0]
    """
    from funcad.numpy._base import zeros_like
    (x,) = prepare("imag", x)
    return imag_p.bind(x) if _is_complex(x) else zeros_like(x)


def conj(x: Any, /) -> Any:
    """Complex conjugate (real inputs are returned unchanged).

    >>> import funcad.numpy as fnp
    >>> complex(fnp.conj(1 + 2j))
    (1-2j)
    """
    (x,) = prepare("conj", x)
    return conj_p.bind(x) if _is_complex(x) else x


conjugate = conj


def heaviside(x1: Any, x2: Any, /) -> Any:
    """Heaviside step: 0 for x1 < 0, x2 at 0, 1 for x1 > 0."""
    a, b = prepare("heaviside", x1, x2, inexact=True)
    return where(isnan(a), a, where(less(a, 0), 0.0, where(greater(a, 0), 1.0, b)))


def copysign(x1: Any, x2: Any, /) -> Any:
    """|x1| with the sign of x2."""
    a, b = prepare("copysign", x1, x2, inexact=True)
    # -0.0 counts as negative: its reciprocal is -inf.
    neg = logical_or(less(b, 0), logical_and(equal(b, 0), less(true_divide(1.0, b), 0)))
    return where(neg, negative(absolute(a)), absolute(a))


def nan_to_num(x: Any, copy: bool = True, nan: float = 0.0, posinf: Any = None,
               neginf: Any = None) -> Any:
    """Replace nan and infinities by finite numbers."""
    (x,) = prepare("nan_to_num", x)
    info = np.finfo(x.dtype)
    posinf = info.max if posinf is None else posinf
    neginf = info.min if neginf is None else neginf
    out = where(isnan(x), nan, x)
    out = where(logical_and(isinf(out), greater(out, 0)), posinf, out)
    return where(logical_and(isinf(out), less(out, 0)), neginf, out)


# -- ufunc instances (as jax.numpy: the binary ufuncs and negative) ---------------------------
#
# fnp.add and the others below are funcad.numpy.ufunc instances whose call is the function
# above itself (see _ufunc_api.builtin); their methods use funcad's fused reductions,
# scans and scatters where there are some, and ufunc's generic loops otherwise.

from funcad.numpy import _ufunc_api  # noqa: E402


def _masked(a, mask, fill):
    """a where `mask` holds, else `fill` (in a's dtype)."""
    if mask is None:
        return a
    return where(mask, a, astype(np.asarray(fill), a.dtype))


def _has_empty_axis(a, axis) -> bool:
    from funcad.numpy._base import shape
    from funcad.numpy._reductions import _axes
    s = shape(a)
    return any(s[d] == 0 for d in _axes(axis, len(s)))


def _reduce_with(reducer, identity, combine, dtype_arg=True):
    """A ufunc.reduce fast path over the funcad.numpy reduction `reducer`: masked elements
    become the identity (or `initial`, for maximum and minimum), and `initial` joins the
    result through the ufunc itself (`combine`)."""
    def impl(a, axis=0, dtype=None, keepdims=False, initial=None, where=None):
        from funcad.numpy._base import full, shape
        from funcad.numpy._reductions import _axes
        if dtype is not None and not dtype_arg:
            a = astype(a, dtype)
        a = _masked(a, where, identity if identity is not None else initial)
        if identity is None and initial is not None and _has_empty_axis(a, axis):
            axes = _axes(axis, len(shape(a)))
            final = tuple(1 if d in axes else n for d, n in enumerate(shape(a))) if \
                keepdims else tuple(n for d, n in enumerate(shape(a)) if d not in axes)
            return full(final, initial, a.dtype)
        y = reducer(a, axis=axis, keepdims=keepdims, **({"dtype": dtype} if dtype_arg and
                                                         dtype is not None else {}))
        if initial is not None:
            y = astype(combine(y, initial), y.dtype)
        return y
    return impl


def _logical_xor_reduce(a, axis=None, keepdims=False):
    from funcad.numpy._reductions import sum as _sum
    return not_equal(remainder(_sum(astype(a, bool), axis=axis, keepdims=keepdims,
                                    dtype=np.int64), 2), 0)


def _logsumexp(a, axis=None, keepdims=False):
    from funcad.nn import logsumexp
    (a,) = promote_inexact(a)
    return logsumexp(a, axis=axis, keepdims=keepdims)


def _logsumexp2(a, axis=None, keepdims=False):
    ln2 = float(np.log(2.0))
    (a,) = promote_inexact(a)
    return true_divide(_logsumexp(multiply(a, ln2), axis, keepdims), ln2)


def _sum(a, **kw):
    from funcad.numpy._reductions import sum as _s
    return _s(a, **kw)


def _prod(a, **kw):
    from funcad.numpy._reductions import prod as _p
    return _p(a, **kw)


def _max(a, **kw):
    from funcad.numpy._reductions import max as _m
    return _m(a, **kw)


def _min(a, **kw):
    from funcad.numpy._reductions import min as _m
    return _m(a, **kw)


def _all(a, **kw):
    from funcad.numpy._reductions import all as _a
    return _a(a, **kw)


def _any(a, **kw):
    from funcad.numpy._reductions import any as _a
    return _a(a, **kw)


def _accumulate_with(cum):
    """A ufunc.accumulate fast path: `cum(a, axis)`, in `dtype` if given (else cum's dtype:
    JAX's add.accumulate is cumsum, so int32 stays int32)."""
    def impl(a, axis=0, dtype=None):
        if dtype is not None:
            a = astype(a, dtype)
        return cum(a, axis)
    return impl


def _cumsum(a, axis):
    from funcad.numpy._reductions import cumsum as _c
    return _c(a, axis=axis)


def _cumprod(a, axis):
    from funcad.numpy._extra import cumprod as _c
    return _c(a, axis=axis)


def _cummax(a, axis):
    from funcad.lax import cummax as _c
    return _c(a, axis=axis)


def _cummin(a, axis):
    from funcad.lax import cummin as _c
    return _c(a, axis=axis)


def _cumlogsumexp(a, axis):
    from funcad.lax import cumlogsumexp as _c
    (a,) = promote_inexact(a)
    return _c(a, axis=axis)


def _at_with(method, bool_via_int=False):
    """A ufunc.at fast path: `a.at[indices].<method>(b)` (a scatter that applies every
    repeated index), booleans through int32 as JAX."""
    def impl(a, indices, b):
        from funcad.numpy._indexing import at as _at
        idx = _ufunc_api._index_tuple(indices)
        if bool_via_int and a.dtype == np.bool_:
            b = astype(astype(b, bool), np.int32)
            return astype(getattr(_at(astype(a, np.int32))[idx], method)(b), bool)
        return getattr(_at(a)[idx], method)(b)
    return impl


_B = _ufunc_api.builtin
add = _B(add, 2, identity=0, reduce=_reduce_with(_sum, 0, add),
         accumulate=_accumulate_with(_cumsum), at=_at_with("add", True))
multiply = _B(multiply, 2, identity=1, reduce=_reduce_with(_prod, 1, multiply),
              accumulate=_accumulate_with(_cumprod),
              at=_at_with("multiply", True))
subtract = _B(subtract, 2, identity=None, at=_at_with("subtract"))
maximum = _B(maximum, 2, identity=None,
             reduce=_reduce_with(_max, None, maximum, dtype_arg=False),
             accumulate=_accumulate_with(_cummax), at=_at_with("max"))
minimum = _B(minimum, 2, identity=None,
             reduce=_reduce_with(_min, None, minimum, dtype_arg=False),
             accumulate=_accumulate_with(_cummin), at=_at_with("min"))
logical_and = _B(logical_and, 2, identity=True,
                 reduce=_reduce_with(_all, True, logical_and, dtype_arg=False))
logical_or = _B(logical_or, 2, identity=False,
                reduce=_reduce_with(_any, False, logical_or, dtype_arg=False))
logical_xor = _B(logical_xor, 2, identity=False,
                 reduce=_reduce_with(_logical_xor_reduce, False, logical_xor,
                                     dtype_arg=False))
bitwise_and = _B(bitwise_and, 2, identity=-1)
bitwise_or = _B(bitwise_or, 2, identity=0)
bitwise_xor = _B(bitwise_xor, 2, identity=0)
logaddexp = _B(logaddexp, 2, identity=-np.inf,
               reduce=_reduce_with(_logsumexp, -np.inf, logaddexp, dtype_arg=False),
               accumulate=_accumulate_with(_cumlogsumexp))
negative = _B(negative, 1)
del _B
