"""Every misuse gets a clear exception that names the mistake and the fix."""

import numpy as np
import pytest

import funcad as fa
import funcad.numpy as fnp
from funcad import ConcretizationTypeError, UnexpectedTracerError


def raises(exc, fn, *fragments):
    """Assert `fn()` raises `exc` and its message contains every fragment."""
    with pytest.raises(exc) as info:
        fn()
    msg = str(info.value)
    for frag in fragments:
        assert frag in msg, f"{frag!r} not in message: {msg}"
    return msg


# ----------------------------------------------------------------------------------
# grad of a non-scalar or non-float output, differentiating integer inputs


@pytest.mark.parametrize("transform", [fa.grad, fa.value_and_grad])
def test_grad_of_non_scalar(transform):
    raises(TypeError, lambda: transform(lambda x: x * 2.0)(np.ones(3)),
           "scalar", "(3,)", "jacrev")


def test_grad_of_pytree_output():
    raises(TypeError, lambda: fa.grad(lambda x: (x, x))(1.0), "scalar")


@pytest.mark.parametrize("f", [lambda x: fnp.argmax(x), lambda x: fnp.sum(x > 0),
                               lambda x: fnp.sum(x).astype(int)])
def test_grad_of_non_float_output(f):
    raises(TypeError, lambda: fa.grad(f)(np.ones(3)), "floating", "int64")


def test_grad_of_complex_output():
    raises(TypeError, lambda: fa.grad(lambda x: fnp.sum(x) * 1j)(np.ones(3)), "floating",
           "complex128")


@pytest.mark.parametrize("transform", [fa.grad, fa.value_and_grad, fa.jacfwd, fa.jacrev,
                                       fa.hessian])
@pytest.mark.parametrize("x", [3, np.arange(3), np.array([True, False])])
def test_differentiate_wrt_integer_input(transform, x):
    msg = raises(TypeError, lambda: transform(lambda x: fnp.sum(x * 2.0))(x),
                 "floating-point")
    assert "int64" in msg or "bool" in msg


def test_integer_in_argnums_tuple():
    f = lambda x, n: x * n  # noqa: E731
    raises(TypeError, lambda: fa.grad(f, argnums=(0, 1))(1.0, 2), "int64", "argnums")


def test_argnums_out_of_range():
    raises(ValueError, lambda: fa.grad(lambda x: x, argnums=2)(1.0), "argnums=2", "1 positional")


def test_has_aux_without_pair():
    raises(TypeError, lambda: fa.grad(lambda x: x, has_aux=True)(1.0), "has_aux", "pair")


# ----------------------------------------------------------------------------------
# Traced values used as Python values


def if_fun(x):
    if x > 0:
        return x
    return -x


FIXES = ("lax.cond", "where", "static_argnums")


@pytest.mark.parametrize("wrap", ["jit", "make_jaxpr", "vmap"])
@pytest.mark.parametrize("case", ["if", "bool", "int", "float", "shape", "shape_tuple",
                                  "reshape", "index", "while"])
def test_traced_value_as_python_value(wrap, case):
    f = {
        "if": if_fun,
        "bool": lambda x: x * bool(x),
        "int": lambda x: x * int(x),
        "float": lambda x: x * float(x),
        "shape": lambda x: fnp.zeros(x.astype(int)),
        "shape_tuple": lambda x: fnp.ones((x.astype(int), 2)),
        "reshape": lambda x: fnp.ones(4).reshape(x.astype(int), -1),
        "index": lambda x: [1.0, 2.0, 3.0][x.astype(int)],
        "while": lambda x: _while(x),
    }[case]
    run = {
        "jit": lambda: fa.jit(f)(2.0),
        "make_jaxpr": lambda: fa.make_jaxpr(f)(2.0),
        "vmap": lambda: fa.vmap(f)(np.array([2.0, 1.0])),
    }[wrap]
    msg = raises(ConcretizationTypeError, run, *FIXES)
    assert "traced" in msg.lower()
    # it is also a TypeError, as in JAX
    assert issubclass(ConcretizationTypeError, TypeError)


def _while(x):
    while x < 10:
        x = x * 2
    return x


def test_traced_shape_argument_of_jit_names_static_argnums():
    raises(ConcretizationTypeError, lambda: fa.jit(lambda n: fnp.zeros(n))(3),
           "static_argnums", "shape")
    # and the fix works
    out = fa.jit(lambda n: fnp.zeros(n), static_argnums=0)(3)
    np.testing.assert_array_equal(out, np.zeros(3))


def test_vmap_bool_mentions_batch():
    raises(ConcretizationTypeError, lambda: fa.vmap(if_fun)(np.ones(2)), "vmap")


def test_python_control_flow_on_concrete_values_is_fine_under_grad():
    # under grad alone the primal value is known, as in JAX
    assert float(fa.grad(if_fun)(-2.0)) == -1.0


# ----------------------------------------------------------------------------------
# vmap axis errors


def test_vmap_size_mismatch_names_arguments_and_sizes():
    raises(ValueError, lambda: fa.vmap(lambda x, y: x + y)(np.ones(3), np.ones(4)),
           "argument 0", "size 3", "argument 1", "size 4")


def test_vmap_size_mismatch_in_pytree_and_kwargs():
    raises(ValueError, lambda: fa.vmap(lambda p: p[0] + p[1])((np.ones(3), np.ones(2))),
           "size 3", "size 2")
    raises(ValueError, lambda: fa.vmap(lambda x, *, y: x + y)(np.ones(3), y=np.ones(5)),
           "size 3", "size 5", "'y'")


def test_vmap_axis_size_disagrees():
    raises(ValueError, lambda: fa.vmap(lambda x: x, axis_size=5)(np.ones(3)),
           "axis_size=5", "3")


@pytest.mark.parametrize("in_axes,shape", [(2, (3, 4)), (-3, (3, 4)), (0, ())])
def test_vmap_axis_out_of_range(in_axes, shape):
    raises(ValueError, lambda: fa.vmap(lambda x: x, in_axes=in_axes)(np.ones(shape)),
           f"in_axes={in_axes}", str(shape), "argument 0")


def test_vmap_out_axes_out_of_range():
    raises(ValueError, lambda: fa.vmap(lambda x: x, out_axes=3)(np.ones(3)), "out_axes=3")


def test_vmap_in_axes_wrong_length():
    raises(ValueError, lambda: fa.vmap(lambda x, y: x, in_axes=(0,))(np.ones(3), np.ones(3)),
           "in_axes", "1", "2")


def test_vmap_in_axes_not_a_prefix():
    raises(ValueError, lambda: fa.vmap(lambda p: p["a"], in_axes=({"b": 0},))({"a": np.ones(2)}),
           "in_axes")


def test_vmap_in_axes_bad_type():
    raises(TypeError, lambda: fa.vmap(lambda x: x, in_axes="0")(np.ones(3)), "in_axes", "'0'")


def test_vmap_nothing_mapped_needs_axis_size():
    raises(ValueError, lambda: fa.vmap(lambda x: x, in_axes=None)(np.ones(3)), "axis_size")


def test_vmap_out_axes_none_for_batched_output():
    raises(ValueError, lambda: fa.vmap(lambda x: x, out_axes=None)(np.ones(3)), "out_axes=None")


# ----------------------------------------------------------------------------------
# Shape mismatches in ops show both shapes


SHAPE_ERRORS = {
    "add": lambda a, b: fnp.add(a, b),
    "add_operator": lambda a, b: fnp.asarray(a) + b,
    "mul": lambda a, b: fnp.multiply(a, b),
    "where": lambda a, b: fnp.where(a > 0, a, b),
    "maximum": lambda a, b: fnp.maximum(a, b),
    "dot": lambda a, b: fnp.dot(a, b),
    "matmul": lambda a, b: fnp.matmul(a, b),
    "subtract_operator": lambda a, b: b - fnp.sin(a),
}


@pytest.mark.parametrize("name", sorted(SHAPE_ERRORS))
@pytest.mark.parametrize("wrap", ["eager", "grad", "jit", "vmap"])
def test_shape_mismatch_shows_both_shapes(name, wrap):
    f = SHAPE_ERRORS[name]
    a, b = np.ones(3), np.ones(4)
    run = {
        "eager": lambda: f(a, b),
        "grad": lambda: fa.grad(lambda a: fnp.sum(f(a, b)))(a),
        "jit": lambda: fa.jit(f)(a, b),
        "vmap": lambda: fa.vmap(f)(a[None], b[None]),
    }[wrap]
    raises(ValueError, run, "(3,)", "(4,)")


def test_matmul_mismatch_matrices():
    raises(ValueError, lambda: fa.jit(lambda a, b: a @ b)(np.ones((2, 3)), np.ones((4, 5))),
           "(2, 3)", "(4, 5)")


def test_reshape_and_concatenate_mismatch():
    raises(ValueError, lambda: fa.make_jaxpr(lambda x: x.reshape(4))(np.ones(3)), "(3,)", "(4,)")
    raises(ValueError, lambda: fnp.concatenate([np.ones((2, 3)), np.ones((2, 4))]), "3", "4")


def test_tangent_and_cotangent_shape_mismatch():
    raises(ValueError, lambda: fa.jvp(fnp.sin, (np.ones(3),), (np.ones(4),)), "(3,)", "(4,)")
    raises(ValueError, lambda: fa.vjp(fnp.sin, np.ones(3))[1](np.ones(4)), "(3,)", "(4,)")


# ----------------------------------------------------------------------------------
# Unknown keywords, static arguments, leaked tracers


@pytest.mark.parametrize("call,word", [
    (lambda: fnp.sum(np.ones(3), axs=0), "axs"),
    (lambda: fa.grad(lambda x: fnp.sum(x, axs=0))(np.ones(3)), "axs"),
    (lambda: fa.grad(lambda x: x.sum(axes=0))(np.ones(3)), "axes"),
    (lambda: fa.grad(lambda x: x, argnum=0), "argnum"),
    (lambda: fa.vmap(lambda x: x, in_axis=0), "in_axis"),
    (lambda: fa.jit(lambda x: x, static_argnum=0), "static_argnum"),
    (lambda: fa.grad(lambda x: x)(1.0, foo=1), "foo"),
    (lambda: fnp.exp(np.ones(2), bogus=True), "bogus"),
])
def test_unknown_keyword(call, word):
    raises(TypeError, call, "unexpected keyword", word)


def test_non_hashable_static_argument():
    f = fa.jit(lambda x, n: x * len(n), static_argnums=1)
    raises(TypeError, lambda: f(1.0, [1, 2]), "hashable", "list", "tuple")
    g = fa.jit(lambda x, opts: x * len(opts), static_argnames="opts")
    raises(TypeError, lambda: g(1.0, opts={"a": 1}), "hashable", "dict")


def test_non_array_input():
    raises(TypeError, lambda: fa.vmap(lambda x: x)(object()), "object")


LEAKS = {
    "grad": lambda f: fa.grad(f)(1.0),
    "jit": lambda f: fa.jit(f)(1.0),
    "vmap": lambda f: fa.vmap(f)(np.ones(2)),
    "make_jaxpr": lambda f: fa.make_jaxpr(f)(1.0),
    "jvp": lambda f: fa.jvp(f, (1.0,), (1.0,)),
}


@pytest.mark.parametrize("transform", sorted(LEAKS))
@pytest.mark.parametrize("use", ["eager", "operator", "grad"])
def test_leaked_tracer(transform, use):
    store = []

    def leaker(x):
        store.append(x)
        return x * 2.0
    LEAKS[transform](leaker)
    leaked = store[0]
    run = {
        "eager": lambda: fnp.sin(leaked),
        "operator": lambda: leaked * 2.0,
        "grad": lambda: fa.grad(lambda y: y * leaked)(1.0),
    }[use]
    raises(UnexpectedTracerError, run, "leaked", "Return the value")
