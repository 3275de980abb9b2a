"""Golden-string tests: the exact printed jaxpr of small functions and their gradients.

When a deliberate change to tracing or printing alters these programs, check the new text
by eye (the failure message shows it) and paste it here.
"""

import numpy as np
import pytest

import funcad as fa
import funcad.numpy as fnp

GOLDEN = {
    "sin_mul": (
        (lambda x: fnp.sin(x) * 2.0, (1.0,)),
        """\
{ lambda a:f64[]. let
    b:f64[] = sin a
    c:f64[] = mul b 2.0
  in (c,) }"""),
    "grad_sin_mul": (
        (fa.grad(lambda x: fnp.sin(x) * 2.0), (1.0,)),
        """\
{ lambda a:f64[]. let
    b:f64[] = cos a
    c:f64[] = mul 1.0 2.0
    d:f64[] = mul c b
  in (d,) }"""),
    "sum_sq": (
        (lambda x: fnp.sum(x ** 2), (np.ones(3),)),
        """\
{ lambda a:f64[3]. let
    b:f64[3] = integer_pow[y=2] a
    c:f64[] = reduce_sum[axes=(0,)] b
  in (c,) }"""),
    "grad_sum_sq": (
        (fa.grad(lambda x: fnp.sum(x ** 2)), (np.ones(3),)),
        """\
{ lambda a:f64[3]. let
    b:f64[3] = broadcast_in_dim[shape=(3,), broadcast_dimensions=()] 2.0
    c:f64[3] = mul b a
    d:f64[3] = broadcast_in_dim[shape=(3,), broadcast_dimensions=()] 1.0
    e:f64[3] = mul d c
  in (e,) }"""),
    "broadcast_add": (
        (lambda x, y: x + y, (np.ones((2, 3)), np.ones(3))),
        """\
{ lambda a:f64[2,3] b:f64[3]. let
    c:f64[2,3] = broadcast_in_dim[shape=(2,3), broadcast_dimensions=(1,)] b
    d:f64[2,3] = add a c
  in (d,) }"""),
    "matvec": (
        (lambda a, x: fnp.tanh(a @ x), (np.ones((2, 3)), np.ones(3))),
        """\
{ lambda a:f64[2,3] b:f64[3]. let
    c:f64[3,1] = reshape[new_sizes=(3,1)] b
    d:f64[2,1] = dot_general[dimension_numbers=(((1,),(0,)),((),()))] a c
    e:f64[2] = reshape[new_sizes=(2,)] d
    f:f64[2] = tanh e
  in (f,) }"""),
    "grad_matvec": (
        (fa.grad(lambda a, x: fnp.sum(fnp.tanh(a @ x))), (np.ones((2, 3)), np.ones(3))),
        """\
{ lambda a:f64[2,3] b:f64[3]. let
    c:f64[3,1] = reshape[new_sizes=(3,1)] b
    d:f64[2,1] = dot_general[dimension_numbers=(((1,),(0,)),((),()))] a c
    e:f64[2] = reshape[new_sizes=(2,)] d
    f:f64[2] = tanh e
    g:f64[2] = broadcast_in_dim[shape=(2,), broadcast_dimensions=()] 1.0
    h:f64[2] = mul f f
    i:f64[2] = sub g h
    j:f64[2] = broadcast_in_dim[shape=(2,), broadcast_dimensions=()] 1.0
    k:f64[2] = mul j i
    l:f64[2,1] = reshape[new_sizes=(2,1)] k
    m:f64[2,3] = dot_general[dimension_numbers=(((1,),(1,)),((),()))] l c
  in (m,) }"""),
    "f32": (
        (lambda x: fnp.exp(x) * 0.5, (np.ones(2, np.float32),)),
        """\
{ lambda a:f32[2]. let
    b:f32[2] = exp a
    c:f32[2] = broadcast_in_dim[shape=(2,), broadcast_dimensions=()] 0.5:f32[]
    d:f32[2] = mul b c
  in (d,) }"""),
    "vmap": (
        (fa.vmap(lambda x: fnp.sum(x * x)), (np.ones((4, 3)),)),
        """\
{ lambda a:f64[4,3]. let
    b:f64[4,3] = mul a a
    c:f64[4] = reduce_sum[axes=(1,)] b
  in (c,) }"""),
    "jit": (
        (fa.jit(lambda x: fnp.cos(x) + 1.0), (1.0,)),
        """\
{ lambda a:f64[]. let
    b:f64[] = jit[name=<lambda>, options=((parallel,False),(fastmath,False))] a
      jaxpr=
        { lambda c:f64[]. let
            d:f64[] = cos c
            e:f64[] = add d 1.0
          in (e,) }
  in (b,) }"""),
    "where": (
        (lambda x: fnp.where(x > 0, x, 0.0), (np.ones(3),)),
        """\
{ lambda a:f64[3]. let
    b:f64[3] = broadcast_in_dim[shape=(3,), broadcast_dimensions=()] 0.0
    c:bool[3] = gt a b
    d:f64[3] = broadcast_in_dim[shape=(3,), broadcast_dimensions=()] 0.0
    e:f64[3] = select_n c d a
  in (e,) }"""),
    "index": (
        (lambda x: x[1:, 0], (np.ones((3, 2)),)),
        """\
{ lambda a:f64[3,2]. let
    b:f64[2,1] = slice[start_indices=(1,0), limit_indices=(3,1), strides=(1,1)] a
    c:f64[2] = reshape[new_sizes=(2,)] b
  in (c,) }"""),
    "jvp": (
        (lambda x, t: fa.jvp(fnp.sin, (x,), (t,)), (1.0, 1.0)),
        """\
{ lambda a:f64[] b:f64[]. let
    c:f64[] = sin a
    d:f64[] = cos a
    e:f64[] = mul b d
  in (c, e) }"""),
}


@pytest.mark.parametrize("name", list(GOLDEN))
def test_golden_jaxpr(name):
    (f, args), expected = GOLDEN[name][0], GOLDEN[name][1]
    actual = str(fa.make_jaxpr(f)(*args))
    assert actual == expected, f"printed jaxpr of {name} changed; now:\n{actual}"


def test_html_repr_contains_the_program():
    closed = fa.make_jaxpr(lambda x: fnp.sin(x) * 2.0)(1.0)
    html = closed._repr_html_()
    assert "sin" in html and "mul" in html and "<" in html
    assert "f64[]" in html


def test_make_jaxpr_static_argnums():
    closed = fa.make_jaxpr(lambda x, n: x ** n, static_argnums=1)(2.0, 3)
    assert str(closed) == """\
{ lambda a:f64[]. let
    b:f64[] = integer_pow[y=3] a
  in (b,) }"""
