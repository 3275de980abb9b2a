"""Elementwise primitives: one block per primitive with all of its rules.

Operands of an n-ary elementwise primitive have identical shapes and dtypes
(funcad.numpy inserts broadcasts and conversions). `lowering_rules[p]` for these
primitives is a scalar expression template used by the fusing Numba code generator.
"""

from __future__ import annotations

import numpy as np

from funcad import _core
from funcad._core import (
    ShapedArray,
    abstract_eval_rules,
    batch_rules,
    current_dynamic_main,
    elementwise_primitives,
    get_aval,
    impl_rules,
    jvp_rules,
    lowering_rules,
    transpose_rules,
    weak_type_rules,
    weak_if_all,
    weak_if_operand,
)
from funcad.interpreters.ad import (
    UndefinedPrimal,
    Zero,
    defjvp,
    instantiate,
    is_undefined,
    tangent_aval,
)
from funcad.primitives._util import (
    elementwise_batch,
    linear_primitives,
    new_primitive,
    nondiff_primitives,
    same_shape_dtype,
    vectorized_batch,
)


def _float_unary_aval(name):
    def rule(x):
        if not np.issubdtype(x.dtype, np.inexact):
            raise TypeError(f"{name} needs a floating-point operand, got {x.dtype.name}")
        return ShapedArray(x.shape, x.dtype)
    return rule


def _unary_aval(x):
    return ShapedArray(x.shape, x.dtype)


def unary(name, impl, template, float_only=True):
    """Create an elementwise unary primitive with impl, shape rule, batching and lowering."""
    p = new_primitive(name)
    elementwise_primitives.add(p)
    impl_rules[p] = impl
    abstract_eval_rules[p] = _float_unary_aval(name) if float_only else _unary_aval
    vectorized_batch(p)
    lowering_rules[p] = template
    return p


def binary(name, impl, template, out_dtype=None):
    """Create an elementwise binary primitive with impl, shape rule, batching and lowering."""
    p = new_primitive(name)
    elementwise_primitives.add(p)
    impl_rules[p] = impl
    if out_dtype is None:
        abstract_eval_rules[p] = lambda x, y: same_shape_dtype(name, x, y)
    else:
        def aval(x, y):
            a = same_shape_dtype(name, x, y)
            return ShapedArray(a.shape, np.dtype(out_dtype))
        abstract_eval_rules[p] = aval
    elementwise_batch(p)
    lowering_rules[p] = template
    return p


# -- linear unary -------------------------------------------------------------------

neg_p = unary("neg", np.negative, "(-{0})", float_only=False)
linear_primitives.add(neg_p)
defjvp(neg_p, lambda t, ans, x: neg_p.bind(t))
transpose_rules[neg_p] = lambda ct, x: [neg_p.bind(ct)]

# -- transcendental unary -------------------------------------------------------------

sin_p = unary("sin", np.sin, "np.sin({0})")
cos_p = unary("cos", np.cos, "np.cos({0})")
tan_p = unary("tan", np.tan, "np.tan({0})")
asin_p = unary("asin", np.arcsin, "np.arcsin({0})")
acos_p = unary("acos", np.arccos, "np.arccos({0})")
atan_p = unary("atan", np.arctan, "np.arctan({0})")
sinh_p = unary("sinh", np.sinh, "np.sinh({0})")
cosh_p = unary("cosh", np.cosh, "np.cosh({0})")
tanh_p = unary("tanh", np.tanh, "np.tanh({0})")
exp_p = unary("exp", np.exp, "np.exp({0})")
expm1_p = unary("expm1", np.expm1, "np.expm1({0})")
log_p = unary("log", np.log, "np.log({0})")
log1p_p = unary("log1p", np.log1p, "np.log1p({0})")
sqrt_p = unary("sqrt", np.sqrt, "np.sqrt({0})")
abs_p = unary("abs", np.abs, "np.abs({0})", float_only=False)
sign_p = unary("sign", np.sign, "np.sign({0})", float_only=False)
floor_p = unary("floor", np.floor, "np.floor({0})")
ceil_p = unary("ceil", np.ceil, "np.ceil({0})")
round_p = unary("round", np.round, "np.round({0})")
is_finite_p = unary("is_finite", np.isfinite, "np.isfinite({0})")
abstract_eval_rules[is_finite_p] = lambda x: ShapedArray(x.shape, np.dtype(bool))
is_nan_p = unary("is_nan", np.isnan, "np.isnan({0})")
abstract_eval_rules[is_nan_p] = lambda x: ShapedArray(x.shape, np.dtype(bool))
nondiff_primitives.update({sign_p, floor_p, ceil_p, round_p, is_finite_p, is_nan_p})

defjvp(sin_p, lambda t, ans, x: mul(t, cos_p.bind(x)))
# The sign goes into the coefficient (a primal value), not into the linear program.
defjvp(cos_p, lambda t, ans, x: mul(t, neg_p.bind(sin_p.bind(x))))
defjvp(tan_p, lambda t, ans, x: mul(t, add(_one(ans), mul(ans, ans))))
defjvp(asin_p, lambda t, ans, x: mul_sz(t, div(_one(x), sqrt_p.bind(sub(_one(x), mul(x, x))))))
defjvp(acos_p, lambda t, ans, x: neg_p.bind(
    mul_sz(t, div(_one(x), sqrt_p.bind(sub(_one(x), mul(x, x)))))))
defjvp(atan_p, lambda t, ans, x: div(t, add(_one(x), mul(x, x))))
defjvp(sinh_p, lambda t, ans, x: mul(t, cosh_p.bind(x)))
defjvp(cosh_p, lambda t, ans, x: mul(t, sinh_p.bind(x)))
defjvp(tanh_p, lambda t, ans, x: mul(t, sub(_one(ans), mul(ans, ans))))
defjvp(exp_p, lambda t, ans, x: mul(t, ans))
defjvp(expm1_p, lambda t, ans, x: mul(t, add(ans, _one(ans))))
defjvp(log_p, lambda t, ans, x: _mul_sz_or_mul(t, div(_one(x), x)))
defjvp(log1p_p, lambda t, ans, x: _log1p_jvp(t, x))
defjvp(sqrt_p, lambda t, ans, x: _mul_sz_or_mul(t, div(_full_like(ans, 0.5), ans)))


# Inverse hyperbolic functions: primitives (libm's asinh/acosh/atanh) because the
# log-based composites lose precision near 0 and for large |x|.
asinh_p = unary("asinh", np.arcsinh, "np.arcsinh({0})")
acosh_p = unary("acosh", np.arccosh, "np.arccosh({0})")
atanh_p = unary("atanh", np.arctanh, "np.arctanh({0})")
defjvp(asinh_p, lambda t, ans, x: div(t, sqrt_p.bind(add(mul(x, x), _one(x)))))
# d acosh = 1 / (sqrt(x - 1) sqrt(x + 1)): no cancellation in x*x - 1 near 1.
defjvp(acosh_p, lambda t, ans, x: _mul_sz_or_mul(t, div(_one(x), mul(
    sqrt_p.bind(sub(x, _one(x))), sqrt_p.bind(add(x, _one(x)))))))
defjvp(atanh_p, lambda t, ans, x: _mul_sz_or_mul(t, div(_one(x), sub(_one(x), mul(x, x)))))


# Special functions (libm's erf, erfc, lgamma; SciPy for the NumPy impl). digamma, the
# derivative of lgamma, is a composite (funcad.lax.digamma), so every order differentiates.


def _scipy_special(name):
    def impl(x):
        import scipy.special
        return getattr(scipy.special, name)(x).astype(x.dtype, copy=False)
    return impl


erf_p = unary("erf", _scipy_special("erf"), "math.erf({0})")
erfc_p = unary("erfc", _scipy_special("erfc"), "math.erfc({0})")
lgamma_p = unary("lgamma", _scipy_special("gammaln"), "math.lgamma({0})")


def _erf_coef(x):
    # 2 / sqrt(pi) * exp(-x^2)
    return mul(_full_like(x, 2.0 / np.sqrt(np.pi)), exp_p.bind(neg_p.bind(mul(x, x))))


defjvp(erf_p, lambda t, ans, x: mul(t, _erf_coef(x)))
defjvp(erfc_p, lambda t, ans, x: mul(t, neg_p.bind(_erf_coef(x))))


def _lgamma_jvp(t, ans, x):
    from funcad.lax import digamma
    return mul(t, digamma(x))


defjvp(lgamma_p, _lgamma_jvp)


def _log1p_jvp(t, x):
    one = _one(x)
    return _mul_sz_or_mul(t, div(one, add(x, one)))

# -- integer power ---------------------------------------------------------------------

integer_pow_p = new_primitive("integer_pow")
impl_rules[integer_pow_p] = lambda x, *, y: np.power(x, y) if y >= 0 else 1 / np.power(x, -y)
abstract_eval_rules[integer_pow_p] = lambda x, *, y: ShapedArray(x.shape, x.dtype)
weak_type_rules[integer_pow_p] = weak_if_operand
vectorized_batch(integer_pow_p)
lowering_rules[integer_pow_p] = "({0} ** {y})"


def _integer_pow_jvp(t, ans, x, *, y):
    if y == 0:
        return Zero(ShapedArray(x.shape if hasattr(x, "shape") else (), ans.dtype))
    if y == 1:
        return t
    if y == 2:
        return mul(t, mul(_full_like(x, 2), x))
    coef = mul(_full_like(x, y), integer_pow_p.bind(x, y=y - 1))
    return mul(t, coef) if y > 0 else mul_sz(t, coef)


defjvp(integer_pow_p, _integer_pow_jvp)

# -- linear binary ------------------------------------------------------------------------

add_p = binary("add", np.add, "({0} + {1})")
sub_p = binary("sub", np.subtract, "({0} - {1})")
linear_primitives.update({add_p, sub_p})


def _add_jvp(primals, tangents):
    x, y = primals
    tx, ty = tangents
    ans = add_p.bind(x, y)
    if type(tx) is Zero:
        return ans, ty
    if type(ty) is Zero:
        return ans, tx
    return ans, add_p.bind(tx, ty)


def _sub_jvp(primals, tangents):
    x, y = primals
    tx, ty = tangents
    ans = sub_p.bind(x, y)
    if type(tx) is Zero:
        return ans, neg_p.bind(ty)
    if type(ty) is Zero:
        return ans, tx
    return ans, sub_p.bind(tx, ty)


jvp_rules[add_p] = _add_jvp
jvp_rules[sub_p] = _sub_jvp
transpose_rules[add_p] = lambda ct, x, y: [ct if is_undefined(x) else None,
                                           ct if is_undefined(y) else None]
transpose_rules[sub_p] = lambda ct, x, y: [ct if is_undefined(x) else None,
                                           neg_p.bind(ct) if is_undefined(y) else None]

# -- multiplication and division (linear in one argument at a time) -------------------------

mul_p = binary("mul", np.multiply, "({0} * {1})")


def _mul_jvp(primals, tangents):
    x, y = primals
    tx, ty = tangents
    ans = mul_p.bind(x, y)
    if type(tx) is Zero:
        return ans, (ty if type(ty) is Zero else mul_p.bind(x, ty))
    if type(ty) is Zero:
        return ans, mul_p.bind(tx, y)
    if x is y and tx is ty:
        # x * x: t * (x + x) stages one product instead of two products and a sum, with
        # the same value (doubling is exact).
        return ans, mul_p.bind(tx, add_p.bind(x, x))
    return ans, add_p.bind(mul_p.bind(tx, y), mul_p.bind(x, ty))


jvp_rules[mul_p] = _mul_jvp


def _mul_transpose(ct, x, y):
    if type(x) is UndefinedPrimal:
        if type(y) is UndefinedPrimal:
            raise NotImplementedError("transpose of mul: both operands are linear (the "
                                      "program is not linear)")
        return [mul_p.bind(ct, y), None]
    return [None, mul_p.bind(x, ct)]


transpose_rules[mul_p] = _mul_transpose

# -- mul_sz: t * c with a strong zero: t == 0 gives 0 even where c is inf or nan ------------
# The jvp rules of functions whose derivative is infinite somewhere (sqrt, log, division,
# fractional powers) multiply the tangent with it, so that the branch a `where` did not take
# contributes 0 instead of 0 * inf = NaN to gradients: `where(x > 0, sqrt(x), 0.)` at x = 0
# has gradient 0 (the "double where" trap). Where c is finite it equals t * c exactly, so
# higher derivatives are unaffected.


def _mul_sz_impl(t, c):
    with np.errstate(invalid="ignore", over="ignore"):
        return np.where(t == 0, np.zeros((), np.result_type(t, c)), np.multiply(t, c))


mul_sz_p = binary("mul_sz", _mul_sz_impl, "({0} * {1} if {0} != 0 else {0})")
defjvp(mul_sz_p, lambda dt, ans, t, c: mul_sz_p.bind(dt, c),
       lambda dc, ans, t, c: mul_sz_p.bind(t, dc))


def _mul_sz_transpose(ct, t, c):
    if is_undefined(c):  # linear in c for a fixed t (second-order derivatives need this)
        return [None, mul_sz_p.bind(t, ct)]
    return [mul_sz_p.bind(ct, c), None]


transpose_rules[mul_sz_p] = _mul_sz_transpose


def mul_sz(t, c):
    return mul_sz_p.bind(t, c)


def _mul_sz_or_mul(t, c):
    # Where c is a finite constant the strong zero changes nothing (but the sign of zeros),
    # and mul's impl and transpose are several times cheaper: eager AD takes this branch.
    return mul_p.bind(t, c) if _finite_constant(c) else mul_sz_p.bind(t, c)


div_p = binary("div", np.true_divide, "({0} / {1})")


def _div_impl(x, y):
    # dtype.kind rather than np.issubdtype(np.result_type(x), np.integer): 10x cheaper
    dt = x.dtype if type(x) is np.ndarray else np.result_type(x)
    if dt.kind in "iu":
        # Integer division rounds down (NumPy's //, and the Numba lowering's); unlike
        # lax.div, which truncates toward 0. funcad.numpy never binds div on integers.
        return np.floor_divide(x, y)
    return np.true_divide(x, y)


impl_rules[div_p] = _div_impl


def _div_jvp(primals, tangents):
    x, y = primals
    tx, ty = tangents
    ans = div_p.bind(x, y)
    nonzero = _nonzero_constant(y)  # once: it costs more than the arithmetic
    out = None
    if type(tx) is not Zero:
        out = div_p.bind(tx, y) if nonzero else mul_sz(tx, div_p.bind(_one(y), y))
    if type(ty) is not Zero:
        coef = neg_p.bind(div_p.bind(ans, y))
        # -ans / y is finite only where ans is too (a where's untaken branch may be nan).
        exact = nonzero and _finite_constant(ans)
        t_y = mul_p.bind(ty, coef) if exact else mul_sz(ty, coef)
        out = t_y if out is None else add_p.bind(out, t_y)
    return ans, Zero(tangent_aval(get_aval(ans))) if out is None else out


# Value tests: the jvp rules of mul by a constant, div, log, sqrt, ... take exact shortcut
# equations where a known value is finite or nonzero (the general ones otherwise). A
# traced value is not known, but the eager tape's compiled backward passes trace the rules
# with guards (funcad/interpreters/tape_backward.py): `_core.value_test_hook` answers then.


def _finite_constant(a):
    if type(a) is np.ndarray:
        return bool(np.isfinite(a).all())
    if isinstance(a, (np.generic, float, int)):
        return bool(np.isfinite(a))
    hook = _core.value_test_hook
    return hook is not None and hook(_finite_constant, a)


def _nonzero_constant(y):
    if type(y) is np.ndarray:
        return bool((y != 0).all())  # the method: np.all's dispatch costs more than the test
    if isinstance(y, (np.ndarray, np.generic, float, int)):
        return bool(np.all(y != 0))
    hook = _core.value_test_hook
    return hook is not None and hook(_nonzero_constant, y)


jvp_rules[div_p] = _div_jvp


def _div_transpose(ct, x, y):
    if is_undefined(y):
        raise NotImplementedError("transpose of div with a linear denominator")
    return [div_p.bind(ct, y), None]


transpose_rules[div_p] = _div_transpose

rem_p = binary("rem", np.fmod, "np.fmod({0}, {1})")
defjvp(rem_p, lambda t, ans, x, y: t,
       lambda t, ans, x, y: neg_p.bind(mul(t, _trunc(div_p.bind(x, y)))))

floor_divide_p = binary("floor_divide", np.floor_divide, "({0} // {1})")
nondiff_primitives.add(floor_divide_p)

pow_p = binary("pow", np.power, "({0} ** {1})")


def _pow_jvp_x(t, ans, x, y):
    # d/dx x**y = y * x**(y-1); written to stay finite at x = 0 for y >= 1.
    return mul_sz(t, mul(y, pow_p.bind(x, sub(y, _one(y)))))


def _pow_jvp_y(t, ans, x, y):
    # d/dy x**y = log(x) * x**y, taken as 0 where x == 0 (the limit for y > 0).
    zero = _full_like(x, 0)
    safe_log = log_p.bind(select_n_p.bind(eq(x, zero), x, _one(x)))
    return mul(t, mul(safe_log, ans))


defjvp(pow_p, _pow_jvp_x, _pow_jvp_y)

max_p = binary("max", np.maximum, "max({0}, {1})")
min_p = binary("min", np.minimum, "min({0}, {1})")
lowering_rules[max_p] = "_fa_max({0}, {1})"
lowering_rules[min_p] = "_fa_min({0}, {1})"


def _minmax_jvp(prim, pick_x):
    # Ties split the tangent evenly between the operands (as JAX does).
    def rule_x(t, ans, x, y):
        return mul(t, _balanced_mask(pick_x(x, y), eq(x, y), x))

    def rule_y(t, ans, x, y):
        return mul(t, _balanced_mask(pick_x(y, x), eq(x, y), x))
    defjvp(prim, rule_x, rule_y)


def _balanced_mask(strict, tie, like):
    one = _one(like)
    half = _full_like(like, 0.5)
    zero = _full_like(like, 0)
    return select_n_p.bind(strict, select_n_p.bind(tie, zero, half), one)


_minmax_jvp(max_p, lambda a, b: gt(a, b))
_minmax_jvp(min_p, lambda a, b: lt(a, b))

atan2_p = binary("atan2", np.arctan2, "np.arctan2({0}, {1})")


def _atan2_denom(x, y):
    return add(mul(x, x), mul(y, y))


defjvp(atan2_p, lambda t, ans, y, x: div(mul(t, x), _atan2_denom(x, y)),
       lambda t, ans, y, x: neg_p.bind(div(mul(t, y), _atan2_denom(x, y))))

nextafter_p = binary("nextafter", np.nextafter, "np.nextafter({0}, {1})")
nondiff_primitives.add(nextafter_p)

# -- comparisons and logic (never differentiable) -----------------------------------------

eq_p = binary("eq", np.equal, "({0} == {1})", out_dtype=bool)
ne_p = binary("ne", np.not_equal, "({0} != {1})", out_dtype=bool)
lt_p = binary("lt", np.less, "({0} < {1})", out_dtype=bool)
le_p = binary("le", np.less_equal, "({0} <= {1})", out_dtype=bool)
gt_p = binary("gt", np.greater, "({0} > {1})", out_dtype=bool)
ge_p = binary("ge", np.greater_equal, "({0} >= {1})", out_dtype=bool)
and_p = binary("and", np.bitwise_and, "({0} & {1})")
or_p = binary("or", np.bitwise_or, "({0} | {1})")
xor_p = binary("xor", np.bitwise_xor, "({0} ^ {1})")
not_p = unary("not", lambda x: np.logical_not(x) if x.dtype == bool else np.invert(x),
              "(not {0})", float_only=False)
nondiff_primitives.update({eq_p, ne_p, lt_p, le_p, gt_p, ge_p, and_p, or_p, xor_p, not_p})


def _ordered_aval(p):
    # Like lax's: ordering primitives take real operands (funcad.numpy's comparisons,
    # maximum and minimum order complex numbers lexicographically on top of them).
    base = abstract_eval_rules[p]

    def rule(x, y):
        if x.dtype.kind == "c":
            hint = ("; compare real parts, or use funcad.numpy's comparisons, maximum and "
                    "minimum, which order complex numbers lexicographically as NumPy does"
                    if p in (lt_p, le_p, gt_p, ge_p, max_p, min_p) else "")
            raise TypeError(f"{p.name} does not accept complex operands ({x.dtype.name})"
                            + hint)
        return base(x, y)
    abstract_eval_rules[p] = rule


for _p in (lt_p, le_p, gt_p, ge_p, max_p, min_p, atan2_p, rem_p, floor_divide_p, nextafter_p):
    _ordered_aval(_p)

# -- select_n: out = cases[pred] elementwise (pred bool or int32) ----------------------------

select_n_p = new_primitive("select_n")


def _select_n_impl(pred, *cases):
    if len(cases) == 2:
        return np.where(pred, cases[1], cases[0])
    return np.choose(pred, cases)


def _select_n_aval(pred, *cases):
    out = same_shape_dtype("select_n", *cases)
    if pred.shape != out.shape:
        raise ValueError(f"select_n: predicate shape {pred.shape} differs from case shape "
                         f"{out.shape}")
    if pred.dtype != np.bool_ and not np.issubdtype(pred.dtype, np.integer):
        raise TypeError(f"select_n: predicate must be bool or int, got {pred.dtype.name}")
    return out


def _select_n_jvp(primals, tangents):
    pred, *cases = primals
    _, *case_ts = tangents
    ans = select_n_p.bind(pred, *cases)
    if all(type(t) is Zero for t in case_ts):
        return ans, Zero(ShapedArray(np.shape(ans), np.result_type(ans)))
    return ans, select_n_p.bind(pred, *[instantiate(t) for t in case_ts])


def _select_n_transpose(ct, pred, *cases):
    if is_undefined(pred):
        raise NotImplementedError("select_n: the predicate cannot be linear")
    zeros = _full_like(ct, 0)
    out = [None]
    for i, c in enumerate(cases):
        if not is_undefined(c):
            out.append(None)
            continue
        branches = [zeros] * len(cases)
        branches[i] = ct
        out.append(select_n_p.bind(pred, *branches))
    return out


impl_rules[select_n_p] = _select_n_impl
abstract_eval_rules[select_n_p] = _select_n_aval
weak_type_rules[select_n_p] = lambda avals, params: all(a.weak_type for a in avals[1:])
jvp_rules[select_n_p] = _select_n_jvp
transpose_rules[select_n_p] = _select_n_transpose
elementwise_batch(select_n_p)
linear_primitives.add(select_n_p)
lowering_rules[select_n_p] = "select_n"  # handled specially by the code generator

# -- convert_element_type -------------------------------------------------------------------

convert_element_type_p = new_primitive("convert_element_type")


def _convert_impl(x, *, new_dtype, weak_type=False):
    if np.iscomplexobj(x) and np.dtype(new_dtype).kind != "c":
        x = np.real(x)  # as NumPy's astype, without its ComplexWarning (JAX's rule too)
    return np.asarray(x).astype(new_dtype) if np.ndim(x) else new_dtype.type(x)


def _convert_jvp(primals, tangents, *, new_dtype, **weak):
    (x,), (t,) = primals, tangents
    ans = convert_element_type_p.bind(x, new_dtype=new_dtype, **weak)
    if type(t) is Zero or not np.issubdtype(new_dtype, np.inexact):
        return ans, Zero(ShapedArray(np.shape(ans), new_dtype))
    return ans, convert_element_type_p.bind(t, new_dtype=new_dtype)


def _convert_transpose(ct, x, *, new_dtype, weak_type=False):
    # real -> complex transposes to the real part of the cotangent (<ct, t> = Re(ct t)).
    if get_aval(ct).dtype.kind == "c" and x.aval.dtype.kind != "c":
        ct = real_p.bind(ct)
    return [convert_element_type_p.bind(ct, new_dtype=x.aval.dtype)]


impl_rules[convert_element_type_p] = _convert_impl
# weak_type=True (a parameter only present when True): the result is weakly typed, as an
# integer operand promoted by a Python float (`int32_x * 0.5`) is in JAX.
abstract_eval_rules[convert_element_type_p] = (
    lambda x, *, new_dtype, weak_type=False: ShapedArray(x.shape, np.dtype(new_dtype),
                                                         weak_type))
weak_type_rules[convert_element_type_p] = lambda avals, params: params.get("weak_type", False)
jvp_rules[convert_element_type_p] = _convert_jvp
transpose_rules[convert_element_type_p] = _convert_transpose
vectorized_batch(convert_element_type_p)
linear_primitives.add(convert_element_type_p)
lowering_rules[convert_element_type_p] = "convert"  # handled specially by the code generator

# -- complex numbers --------------------------------------------------------------------------
# Transposes are JAX's: the transpose of a linear map L is taken for the bilinear pairing
# <c, t> = Re(c * t) (no conjugation), so mul by a constant transposes to mul by the same
# constant and conj to conj; real(t) transposes to ct + 0j and imag(t) to -1j * ct. With
# that, grad of a real-valued f of z = x + iy is df/dx - i df/dy, as jax.grad returns.


def _real_dtype(dtype):
    return np.finfo(dtype).dtype  # complex64 -> float32, complex128 -> float64


def _complex_dtype(dtype):
    return np.result_type(dtype, np.complex64)


def _complex_only_aval(name, out):
    def rule(x):
        if np.dtype(x.dtype).kind != "c":
            raise TypeError(f"{name} needs a complex operand, got {x.dtype.name}")
        return ShapedArray(x.shape, out(x.dtype))
    return rule


real_p = new_primitive("real")
impl_rules[real_p] = lambda x: np.real(x).copy() if np.ndim(x) else np.real(x)[()]
abstract_eval_rules[real_p] = _complex_only_aval("real", _real_dtype)
weak_type_rules[real_p] = weak_if_operand
vectorized_batch(real_p)
linear_primitives.add(real_p)
defjvp(real_p, lambda t, ans, x: real_p.bind(t))
lowering_rules[real_p] = "{0}.real"

imag_p = new_primitive("imag")
impl_rules[imag_p] = lambda x: np.imag(x).copy() if np.ndim(x) else np.imag(x)[()]
abstract_eval_rules[imag_p] = _complex_only_aval("imag", _real_dtype)
weak_type_rules[imag_p] = weak_if_operand
vectorized_batch(imag_p)
linear_primitives.add(imag_p)
defjvp(imag_p, lambda t, ans, x: imag_p.bind(t))
lowering_rules[imag_p] = "{0}.imag"

conj_p = new_primitive("conj")
impl_rules[conj_p] = np.conjugate
abstract_eval_rules[conj_p] = _complex_only_aval("conj", lambda d: d)
weak_type_rules[conj_p] = weak_if_operand
vectorized_batch(conj_p)
linear_primitives.add(conj_p)
defjvp(conj_p, lambda t, ans, x: conj_p.bind(t))
transpose_rules[conj_p] = lambda ct, x: [conj_p.bind(ct)]
lowering_rules[conj_p] = "{0}.conjugate()"

complex_p = new_primitive("complex")


def _complex_impl(x, y):
    out = np.empty(np.shape(x), _complex_dtype(np.result_type(x)))
    out.real = x
    out.imag = y
    return out if out.ndim else out[()]


def _complex_aval(x, y):
    a = same_shape_dtype("complex", x, y)
    if a.dtype.kind != "f":
        raise TypeError(f"complex needs floating-point operands, got {a.dtype.name}")
    return ShapedArray(a.shape, _complex_dtype(a.dtype))


def _complex_jvp(primals, tangents):
    x, y = primals
    tx, ty = tangents
    ans = complex_p.bind(x, y)
    if type(tx) is Zero and type(ty) is Zero:
        return ans, Zero(tangent_aval(get_aval(ans)))
    return ans, complex_p.bind(instantiate(tx), instantiate(ty))


def _complex_transpose(ct, x, y):
    # <ct, tx + i ty> = Re(ct) tx - Im(ct) ty
    return [real_p.bind(ct) if is_undefined(x) else None,
            neg_p.bind(imag_p.bind(ct)) if is_undefined(y) else None]


def _zeros_of(x, dtype):
    global _full
    if _full is None:
        from funcad.primitives.structural import full as _full
    return _full(get_aval(x).shape, 0, dtype)


impl_rules[complex_p] = _complex_impl
abstract_eval_rules[complex_p] = _complex_aval
weak_type_rules[complex_p] = weak_if_all
jvp_rules[complex_p] = _complex_jvp
transpose_rules[complex_p] = _complex_transpose
elementwise_batch(complex_p)
linear_primitives.add(complex_p)
lowering_rules[complex_p] = "complex"  # a ScalarRule in lowering/numba/rules.py (dtype)
transpose_rules[real_p] = lambda ct, x: [complex_p.bind(ct, _zeros_of(ct, get_aval(ct).dtype))]
transpose_rules[imag_p] = lambda ct, x: [complex_p.bind(_zeros_of(ct, get_aval(ct).dtype),
                                                        neg_p.bind(ct))]


def _abs_jvp(t, ans, x):
    if np.dtype(get_aval(x).dtype).kind != "c":
        return mul(t, sign_p.bind(x))
    # d|z| = Re(conj(z) dz) / |z|; 0 at z = 0 (sign(0) = 0, as for real abs).
    safe = select_n_p.bind(eq(ans, _full_like(ans, 0)), ans, _one(ans))
    coef = div(conj_p.bind(x), complex_p.bind(safe, _full_like(safe, 0)))
    return real_p.bind(mul(t, coef))


jvp_rules.pop(abs_p, None)
defjvp(abs_p, _abs_jvp)


def _abs_aval(x):
    dt = _real_dtype(x.dtype) if np.dtype(x.dtype).kind == "c" else x.dtype
    return ShapedArray(x.shape, dt)


abstract_eval_rules[abs_p] = _abs_aval

# -- stop_gradient ----------------------------------------------------------------------------

stop_gradient_p = unary("stop_gradient", lambda x: x, "{0}", float_only=False)
nondiff_primitives.add(stop_gradient_p)

# -- small helpers used by the rules above (they bind primitives, so rules stay traceable) ----


def _full_like(x, value):
    if type(x) is np.ndarray and current_dynamic_main().level == 0:
        out = np.empty(x.shape, x.dtype)  # what full() does here, without its checks and
        out.fill(value)                   # at half np.full's cost
        return out
    global _full
    if _full is None:  # structural imports this module; import statements per call are slow
        from funcad.primitives.structural import full as _full
    aval = get_aval(x)
    return _full(aval.shape, value, aval.dtype)


_full = None


def _one(x):
    return _full_like(x, 1)


def _trunc(x):
    zero = _full_like(x, 0)
    return select_n_p.bind(lt(x, zero), floor_p.bind(x), ceil_p.bind(x))


def add(x, y):
    return add_p.bind(x, y)


def sub(x, y):
    return sub_p.bind(x, y)


def mul(x, y):
    return mul_p.bind(x, y)


def div(x, y):
    return div_p.bind(x, y)


def eq(x, y):
    return eq_p.bind(x, y)


def lt(x, y):
    return lt_p.bind(x, y)


def gt(x, y):
    return gt_p.bind(x, y)


del batch_rules
