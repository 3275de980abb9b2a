"""Transform-level tests: composition identities, higher order, pytrees, vmap axes, jit."""

from collections import namedtuple

import numpy as np
import pytest

import funcad as fa
import funcad.numpy as fnp
from funcad import tree_util

RNG = np.random.default_rng(0)


def close(a, b, tol=1e-8):
    la, ta = tree_util.tree_flatten(a)
    lb, tb = tree_util.tree_flatten(b)
    assert ta == tb, f"structures differ: {ta} vs {tb}"
    for x, y in zip(la, lb, strict=True):
        x, y = np.asarray(x), np.asarray(y)
        assert x.shape == y.shape, f"shapes differ: {x.shape} vs {y.shape}"
        np.testing.assert_allclose(x, y, rtol=tol, atol=tol)


def per_example_loss(w, x):
    return fnp.sum(fnp.tanh(x * w) ** 2) + fnp.sin(fnp.sum(w * x))


SCALAR_FUNS = {
    "poly": lambda x: fnp.sum(x ** 3 - 2.0 * x ** 2),
    "trig": lambda x: fnp.sum(fnp.sin(x) * fnp.cos(x[::-1])),
    "logsumexp": lambda x: fnp.log(fnp.sum(fnp.exp(x))),
    "norm": lambda x: fnp.sqrt(fnp.sum(x * x) + 1.0),
    "matvec": lambda x: fnp.sum(fnp.tanh(fnp.outer(x, x) @ x)),
    "prod": lambda x: fnp.prod(fnp.exp(0.1 * x)) * fnp.max(x),
}
VEC_FUNS = {
    "elementwise": lambda x: fnp.sin(x) * fnp.exp(-x),
    "outer": lambda x: fnp.outer(x, x).sum(axis=0),
    "cumsum": lambda x: fnp.cumsum(x ** 2),
    "reshape": lambda x: (x.reshape(2, 2) @ x.reshape(2, 2).T).ravel(),
    "softmax": lambda x: fnp.exp(x) / fnp.sum(fnp.exp(x)),
}


# ----------------------------------------------------------------------------------
# Composition identities


@pytest.mark.parametrize("name", ["per_example", "quadratic", "logistic"])
def test_grad_of_vmap_equals_vmap_of_grad(name):
    losses = {
        "per_example": per_example_loss,
        "quadratic": lambda w, x: fnp.sum((w - x) ** 2),
        "logistic": lambda w, x: fnp.log1p(fnp.exp(-fnp.dot(w, x))),
    }
    loss = losses[name]
    w = RNG.standard_normal(3)
    xs = RNG.standard_normal((5, 3))
    per_ex = fa.vmap(fa.grad(loss), in_axes=(None, 0))(w, xs)
    loop = np.stack([fa.grad(loss)(w, x) for x in xs])
    close(per_ex, loop)
    # grad of the summed vmapped loss == sum over examples of vmap(grad)
    total = fa.grad(lambda w: fnp.sum(fa.vmap(loss, in_axes=(None, 0))(w, xs)))(w)
    close(total, per_ex.sum(0))
    # grad w.r.t. the batched argument: vmap(grad wrt x) == grad of sum over batch
    gx = fa.vmap(fa.grad(loss, argnums=1), in_axes=(None, 0))(w, xs)
    gx2 = fa.grad(lambda xs: fnp.sum(fa.vmap(loss, in_axes=(None, 0))(w, xs)))(xs)
    close(gx, gx2)


@pytest.mark.parametrize("name", sorted(VEC_FUNS))
def test_jacfwd_equals_jacrev(name):
    f = VEC_FUNS[name]
    x = RNG.standard_normal(4)
    jf, jr = fa.jacfwd(f)(x), fa.jacrev(f)(x)
    assert jf.shape == (4, 4)
    close(jf, jr)
    # and against finite differences
    eps = 1e-6
    num = np.stack([(f(x + eps * e) - f(x - eps * e)) / (2 * eps) for e in np.eye(4)], -1)
    close(jf, num, tol=1e-6)


def test_jacobian_shapes_matrix_in_out():
    f = lambda a: fnp.tanh(a @ a.T)  # noqa: E731
    a = RNG.standard_normal((2, 3))
    jf, jr = fa.jacfwd(f)(a), fa.jacrev(f)(a)
    assert jf.shape == (2, 2, 2, 3)
    close(jf, jr)


@pytest.mark.parametrize("name", sorted(SCALAR_FUNS))
def test_hessian_equals_jacfwd_of_grad(name):
    f = SCALAR_FUNS[name]
    x = RNG.standard_normal(4)
    h = fa.hessian(f)(x)
    assert h.shape == (4, 4)
    close(h, fa.jacfwd(fa.grad(f))(x))
    close(h, fa.jacrev(fa.grad(f))(x))
    close(h, h.T)


def test_hessian_matrix_input():
    f = lambda a: fnp.sum(fnp.sin(a) * a ** 2)  # noqa: E731
    a = RNG.standard_normal((2, 3))
    h = fa.hessian(f)(a)
    assert h.shape == (2, 3, 2, 3)
    expected = np.diag((2 * np.sin(a) + 4 * a * np.cos(a) - a ** 2 * np.sin(a)).ravel())
    close(h.reshape(6, 6), expected)


# ----------------------------------------------------------------------------------
# Higher-order derivatives against closed forms

HIGHER = [
    # (name, f, [f', f'', f''', f''''])
    ("sin", fnp.sin, [np.cos, lambda x: -np.sin(x), lambda x: -np.cos(x), np.sin]),
    ("exp", fnp.exp, [np.exp] * 4),
    ("log", fnp.log, [lambda x: 1 / x, lambda x: -1 / x ** 2, lambda x: 2 / x ** 3,
                      lambda x: -6 / x ** 4]),
    ("tanh", fnp.tanh, [
        lambda x: 1 - np.tanh(x) ** 2,
        lambda x: -2 * np.tanh(x) * (1 - np.tanh(x) ** 2),
        lambda x: (1 - np.tanh(x) ** 2) * (6 * np.tanh(x) ** 2 - 2),
        lambda x: (1 - np.tanh(x) ** 2) * (16 * np.tanh(x) - 24 * np.tanh(x) ** 3)]),
    ("exp(sin)", lambda x: fnp.exp(fnp.sin(x)), [
        lambda x: np.cos(x) * np.exp(np.sin(x)),
        lambda x: np.exp(np.sin(x)) * (np.cos(x) ** 2 - np.sin(x)),
        lambda x: np.exp(np.sin(x)) * np.cos(x) * (np.cos(x) ** 2 - 3 * np.sin(x) - 1),
        lambda x: np.exp(np.sin(x)) * (np.cos(x) ** 4 - 6 * np.sin(x) * np.cos(x) ** 2
                                       + 3 * np.sin(x) ** 2 - 4 * np.cos(x) ** 2
                                       + np.sin(x))]),
    ("log(1+x^2)", lambda x: fnp.log(1.0 + x * x), [
        lambda x: 2 * x / (1 + x ** 2),
        lambda x: 2 * (1 - x ** 2) / (1 + x ** 2) ** 2,
        lambda x: 4 * x * (x ** 2 - 3) / (1 + x ** 2) ** 3,
        lambda x: -12 * (x ** 4 - 6 * x ** 2 + 1) / (1 + x ** 2) ** 4]),
    ("sin*exp", lambda x: fnp.sin(x) * fnp.exp(x), [
        lambda x: np.exp(x) * (np.sin(x) + np.cos(x)),
        lambda x: 2 * np.exp(x) * np.cos(x),
        lambda x: 2 * np.exp(x) * (np.cos(x) - np.sin(x)),
        lambda x: -4 * np.exp(x) * np.sin(x)]),
    ("tanh(log)", lambda x: fnp.tanh(fnp.log(x)), [
        # tanh(log x) = (x^2-1)/(x^2+1)
        lambda x: 4 * x / (x ** 2 + 1) ** 2,
        lambda x: 4 * (1 - 3 * x ** 2) / (x ** 2 + 1) ** 3,
        lambda x: 48 * x * (x ** 2 - 1) / (x ** 2 + 1) ** 4,
        lambda x: -48 * (5 * x ** 4 - 10 * x ** 2 + 1) / (x ** 2 + 1) ** 5]),
]


@pytest.mark.parametrize("name,f,derivs", HIGHER, ids=[h[0] for h in HIGHER])
@pytest.mark.parametrize("x", [0.3, 1.7])
def test_higher_derivatives_closed_form(name, f, derivs, x):
    g = f
    for k, d in enumerate(derivs, start=1):
        g = fa.grad(g)
        np.testing.assert_allclose(g(x), d(x), rtol=1e-9, atol=1e-9,
                                   err_msg=f"order {k} of {name}")


@pytest.mark.parametrize("name,f,derivs", HIGHER[:4], ids=[h[0] for h in HIGHER[:4]])
def test_higher_derivatives_forward_and_mixed(name, f, derivs):
    x = 0.8
    # forward over forward over ...: jacfwd four times
    g = f
    for k, d in enumerate(derivs, start=1):
        g = fa.jacfwd(g)
        np.testing.assert_allclose(g(x), d(x), rtol=1e-9, err_msg=f"jacfwd^{k} of {name}")
    # mixed: jacfwd(grad(jacfwd(grad)))
    mixed = fa.jacfwd(fa.grad(fa.jacfwd(fa.grad(f))))
    np.testing.assert_allclose(mixed(x), derivs[3](x), rtol=1e-9)


def test_higher_derivatives_vectorised():
    xs = np.linspace(0.2, 2.0, 7)
    d4 = fa.vmap(fa.grad(fa.grad(fa.grad(fa.grad(fnp.log)))))(xs)
    close(d4, -6 / xs ** 4)


def test_four_nested_grads_of_polynomial():
    f = lambda x: x ** 6  # noqa: E731
    assert float(fa.grad(fa.grad(fa.grad(fa.grad(f))))(2.0)) == pytest.approx(360 * 4.0)


# ----------------------------------------------------------------------------------
# Perturbation confusion


def test_perturbation_confusion_grad():
    assert float(fa.grad(lambda x: x * fa.grad(lambda y: x + y)(1.0))(2.0)) == 1.0


def test_perturbation_confusion_grad_closure_dependence():
    # d/dx [x * d/dy (x*y)] = d/dx x^2 = 2x
    f = lambda x: x * fa.grad(lambda y: x * y)(3.0)  # noqa: E731
    assert float(fa.grad(f)(2.0)) == pytest.approx(4.0)


def test_perturbation_confusion_jvp():
    def f(x):
        inner = fa.jvp(lambda y: x + y, (1.0,), (1.0,))[1]
        return x * inner
    assert float(fa.jvp(f, (2.0,), (1.0,))[1]) == 1.0


def test_jvp_inside_vjp():
    def f(x):
        # jvp of y -> x*y^2 at y=1 in direction 1: 2x; so f(x) = x * 2x
        return x * fa.jvp(lambda y: x * y ** 2, (1.0,), (1.0,))[1]
    y, f_vjp = fa.vjp(f, 3.0)
    assert float(y) == 18.0
    assert float(f_vjp(1.0)[0]) == pytest.approx(12.0)


def test_vjp_inside_jvp():
    def f(x):
        return x * fa.vjp(lambda y: x * y, 1.0)[1](1.0)[0]  # = x * x
    assert float(fa.jvp(f, (3.0,), (1.0,))[1]) == pytest.approx(6.0)


def test_vmap_inside_grad():
    ys = np.arange(4.0)

    def f(x):
        return fnp.sum(fa.vmap(lambda y: x * y ** 2 + fnp.sin(x))(ys))
    expected = np.sum(ys ** 2) + 4 * np.cos(1.5)
    assert float(fa.grad(f)(1.5)) == pytest.approx(expected)


def test_grad_inside_vmap_closing_over_batched():
    xs = np.array([1.0, 2.0, 3.0])
    # per x: d/dy (x*y^2) at y=x = 2x^2
    out = fa.vmap(lambda x: fa.grad(lambda y: x * y ** 2)(x))(xs)
    close(out, 2 * xs ** 2)


def test_vmap_of_vmap_with_closure():
    a = np.arange(3.0)
    b = np.arange(4.0)
    out = fa.vmap(lambda x: fa.vmap(lambda y: x * y + x)(b))(a)
    close(out, a[:, None] * b[None, :] + a[:, None])


# ----------------------------------------------------------------------------------
# argnums and has_aux


def f3(x, y, z):
    return fnp.sum(x * y ** 2) + fnp.sin(z)


@pytest.mark.parametrize("argnums,expected", [
    (0, lambda x, y, z: y ** 2),
    (1, lambda x, y, z: 2 * x * y),
    (2, lambda x, y, z: np.cos(z)),
    (-1, lambda x, y, z: np.cos(z)),
    ((0, 2), lambda x, y, z: (y ** 2, np.cos(z))),
    ((2, 0), lambda x, y, z: (np.cos(z), y ** 2)),
    ((0, 1, 2), lambda x, y, z: (y ** 2, 2 * x * y, np.cos(z))),
])
def test_argnums(argnums, expected):
    x, y, z = np.array([1.0, 2.0]), np.array([3.0, -1.0]), 0.5
    g = fa.grad(f3, argnums=argnums)(x, y, z)
    close(g, expected(x, y, z))
    v, g2 = fa.value_and_grad(f3, argnums=argnums)(x, y, z)
    close(g2, expected(x, y, z))
    close(v, np.sum(x * y ** 2) + np.sin(z))


def test_jacobians_argnums_tuple():
    f = lambda x, y: x * y  # noqa: E731
    x, y = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    for jac in (fa.jacfwd, fa.jacrev):
        jx, jy = jac(f, argnums=(0, 1))(x, y)
        close(jx, np.diag(y))
        close(jy, np.diag(x))
        close(jac(f, argnums=1)(x, y), np.diag(x))


def aux_fun(x):
    return fnp.sum(x ** 2), {"mean": fnp.mean(x), "n": 3}


def test_has_aux_grad_and_value_and_grad():
    x = np.array([1.0, 2.0, 3.0])
    g, aux = fa.grad(aux_fun, has_aux=True)(x)
    close(g, 2 * x)
    assert float(aux["mean"]) == 2.0 and int(aux["n"]) == 3
    (v, aux), g = fa.value_and_grad(aux_fun, has_aux=True)(x)
    assert float(v) == 14.0 and float(aux["mean"]) == 2.0
    close(g, 2 * x)


def test_has_aux_vjp_and_jvp():
    x = np.array([1.0, 2.0])
    f = lambda x: (fnp.sin(x), fnp.cos(x))  # noqa: E731
    y, f_vjp, aux = fa.vjp(f, x, has_aux=True)
    close(y, np.sin(x))
    close(aux, np.cos(x))
    close(f_vjp(np.ones(2)), (np.cos(x),))
    y, t, aux = fa.jvp(f, (x,), (np.ones(2),), has_aux=True)
    close((y, t, aux), (np.sin(x), np.cos(x), np.cos(x)))


@pytest.mark.parametrize("jac", [fa.jacfwd, fa.jacrev])
def test_has_aux_jacobians(jac):
    x = np.array([1.0, 2.0])
    j, aux = jac(lambda x: (x ** 2, {"s": fnp.sum(x)}), has_aux=True)(x)
    close(j, np.diag(2 * x))
    assert float(aux["s"]) == 3.0


def test_aux_is_not_differentiated_under_nesting():
    g = fa.grad(lambda x: fa.grad(lambda y: (x * y ** 2, y), has_aux=True)(x)[0])
    assert float(g(3.0)) == pytest.approx(4 * 3.0)


# ----------------------------------------------------------------------------------
# Pytrees as inputs and outputs of every transform

Point = namedtuple("Point", ["x", "y"])


class Params:
    """A registered pytree class."""

    def __init__(self, w, b):
        self.w, self.b = w, b


tree_util.register_pytree_node(Params, lambda p: ((p.w, p.b), None),
                               lambda _, c: Params(*c))


def _params_eq(a, b):
    close(tree_util.tree_leaves(a), tree_util.tree_leaves(b))


PYTREES = {
    "tuple": (np.array([1.0, 2.0]), 3.0),
    "list": [np.array([1.0, 2.0]), np.array([[0.5]])],
    "dict": {"b": np.array([1.0, -1.0]), "a": 0.5, "c": None},
    "nested": ({"w": [np.array([0.1, 0.2]), (0.3,)]}, None),
    "namedtuple": Point(np.array([1.0, 2.0]), np.array(0.5)),
    "registered": Params(np.array([[1.0, 2.0]]), np.array([0.1])),
}


def tree_loss(t):
    return sum(fnp.sum(fnp.sin(leaf) * leaf) for leaf in tree_util.tree_leaves(t))


def tree_grad_expected(t):
    return tree_util.tree_map(lambda x: np.sin(x) + np.asarray(x) * np.cos(x), t)


@pytest.mark.parametrize("name", sorted(PYTREES))
def test_pytree_grad_and_value_and_grad(name):
    t = PYTREES[name]
    g = fa.grad(tree_loss)(t)
    assert tree_util.tree_structure(g) == tree_util.tree_structure(t)
    close(tree_util.tree_leaves(g), tree_util.tree_leaves(tree_grad_expected(t)))
    _, g2 = fa.value_and_grad(tree_loss)(t)
    _params_eq(g, g2)


def tree_map_fun(t):
    return tree_util.tree_map(lambda x: fnp.exp(x) * 2.0, t)


@pytest.mark.parametrize("name", sorted(PYTREES))
def test_pytree_jvp_vjp_linearize(name):
    t = PYTREES[name]
    ones = tree_util.tree_map(lambda x: np.ones_like(np.asarray(x, float)), t)
    exp2 = tree_util.tree_map(lambda x: 2 * np.exp(x), t)
    y, ty = fa.jvp(tree_map_fun, (t,), (ones,))
    assert tree_util.tree_structure(y) == tree_util.tree_structure(t)
    _params_eq(y, exp2)
    _params_eq(ty, exp2)
    y, f_vjp = fa.vjp(tree_map_fun, t)
    (ct,) = f_vjp(ones)
    assert tree_util.tree_structure(ct) == tree_util.tree_structure(t)
    _params_eq(ct, exp2)
    y, f_jvp = fa.linearize(tree_map_fun, t)
    _params_eq(f_jvp(ones), exp2)


@pytest.mark.parametrize("name", sorted(PYTREES))
def test_pytree_vmap(name):
    t = PYTREES[name]
    batched = tree_util.tree_map(lambda x: np.stack([np.asarray(x, float) * k
                                                     for k in (1.0, 2.0, 3.0)]), t)
    out = fa.vmap(tree_map_fun)(batched)
    assert tree_util.tree_structure(out) == tree_util.tree_structure(t)
    _params_eq(out, tree_util.tree_map(lambda x: 2 * np.exp(x), batched))


@pytest.mark.parametrize("name", sorted(PYTREES))
def test_pytree_jacobians_and_hessian(name):
    t = PYTREES[name]
    jf = fa.jacfwd(tree_loss)(t)
    jr = fa.jacrev(tree_loss)(t)
    assert tree_util.tree_structure(jf) == tree_util.tree_structure(t)
    _params_eq(jf, jr)
    _params_eq(jf, tree_grad_expected(t))
    h = fa.hessian(tree_loss)(t)
    # diagonal blocks: hessian[i][i] of an elementwise function is diagonal
    leaves = [np.asarray(x, float) for x in tree_util.tree_leaves(t)]
    h_struct = tree_util.tree_structure(h)
    assert h_struct.num_leaves == len(leaves) ** 2


@pytest.mark.parametrize("name", sorted(PYTREES))
def test_pytree_jit(name):
    t = PYTREES[name]
    out = fa.jit(tree_map_fun)(t)
    assert tree_util.tree_structure(out) == tree_util.tree_structure(t)
    _params_eq(out, tree_map_fun(t))
    _params_eq(fa.jit(fa.grad(tree_loss))(t), fa.grad(tree_loss)(t))


def test_pytree_outputs_of_every_transform():
    x = np.array([1.0, 2.0])

    def f(x):
        return {"a": fnp.sin(x), "b": (fnp.cos(x), None), "c": Point(x ** 2, fnp.sum(x))}
    jf = fa.jacfwd(f)(x)
    jr = fa.jacrev(f)(x)
    assert tree_util.tree_structure(jf) == tree_util.tree_structure(f(x))
    _params_eq(jf, jr)
    close(jf["c"].y, np.ones(2))
    y, t = fa.jvp(f, (x,), (np.ones(2),))
    close(t["a"], np.cos(x))
    y, f_vjp = fa.vjp(f, x)
    ct = tree_util.tree_map(np.ones_like, y)
    close(f_vjp(ct)[0], np.cos(x) - np.sin(x) + 2 * x + 1)
    out = fa.vmap(f)(np.stack([x, 2 * x]))
    close(out["c"].y, np.array([3.0, 6.0]))


def test_pytree_with_int_leaf_in_jvp_gets_zero_tangent():
    def f(x, n):
        return x * n
    _, t = fa.jvp(f, (2.0, 3), (1.0, 0))
    assert float(t) == 3.0


# ----------------------------------------------------------------------------------
# vmap axes


def test_vmap_in_axes_pytree_prefix_with_none():
    def f(p, x):
        return p["w"] * x + p["b"]
    p = {"w": np.arange(3.0), "b": 1.0}
    xs = np.arange(12.0).reshape(4, 3)
    out = fa.vmap(f, in_axes=({"w": None, "b": None}, 0))(p, xs)
    close(out, xs * p["w"] + 1.0)
    out = fa.vmap(f, in_axes=(None, 0))(p, xs)
    close(out, xs * p["w"] + 1.0)
    bs = np.array([1.0, 2.0, 3.0, 4.0])
    out = fa.vmap(f, in_axes=({"w": None, "b": 0}, 0))({"w": p["w"], "b": bs}, xs)
    close(out, xs * p["w"] + bs[:, None])


def test_vmap_in_axes_list_and_tuple_args():
    f = lambda pair: pair[0] + pair[1]  # noqa: E731
    a, b = np.arange(6.0).reshape(2, 3), np.arange(2.0)
    close(fa.vmap(f, in_axes=((1, None),))((a, b)), a.T + b[None, :])
    close(fa.vmap(f, in_axes=[[1, None]])([a, b]), a.T + b[None, :])


@pytest.mark.parametrize("in_axis", [0, 1, 2, -1, -2, -3])
def test_vmap_negative_and_positive_in_axes(in_axis):
    x = RNG.standard_normal((2, 3, 4))
    f = lambda v: fnp.sum(v ** 2, axis=0) * v[0]  # noqa: E731
    out = fa.vmap(f, in_axes=in_axis)(x)
    xm = np.moveaxis(x, in_axis, 0)
    close(out, np.stack([np.sum(v ** 2, axis=0) * v[0] for v in xm]))


@pytest.mark.parametrize("out_axis", [0, 1, -1, 2])
def test_vmap_out_axes(out_axis):
    x = RNG.standard_normal((5, 2, 3))
    out = fa.vmap(lambda v: v * 2.0, out_axes=out_axis)(x)
    close(out, np.moveaxis(2.0 * x, 0, out_axis))


def test_vmap_out_axes_pytree_and_none():
    x = np.arange(3.0)
    a, b = fa.vmap(lambda v: (v * 2.0, 7.0), out_axes=(0, None))(x)
    close(a, 2 * x)
    close(b, np.array(7.0))
    out = fa.vmap(lambda v: {"p": v, "q": fnp.stack([v, v])},
                  out_axes={"p": 0, "q": 1})(x)
    close(out["q"], np.stack([x, x]))


def test_vmap_axis_size_with_all_unmapped():
    out = fa.vmap(lambda c: c * 2.0, in_axes=None, axis_size=4)(np.array(1.5))
    close(out, np.full(4, 3.0))
    out = fa.vmap(lambda: fnp.ones(2), axis_size=3)()
    close(out, np.ones((3, 2)))


def test_vmap_kwargs_are_mapped_on_axis_zero():
    f = lambda x, *, scale: x * scale  # noqa: E731
    xs, scales = np.arange(3.0), np.array([1.0, 10.0, 100.0])
    close(fa.vmap(f)(xs, scale=scales), xs * scales)


def test_vmap_matches_loop_for_matmul_in_axes():
    a = RNG.standard_normal((3, 4, 5))
    b = RNG.standard_normal((5, 2))
    out = fa.vmap(fnp.matmul, in_axes=(0, None))(a, b)
    close(out, a @ b)
    out = fa.vmap(fnp.matmul, in_axes=(2, None))(a.transpose(1, 2, 0), b)
    close(out, a @ b)


# ----------------------------------------------------------------------------------
# linearize, dtypes, stop_gradient


def test_linearize_reuse_and_jit():
    f = lambda x: fnp.sin(x) * fnp.exp(x)  # noqa: E731
    x = np.array([0.1, 0.7, -0.3])
    y, f_jvp = fa.linearize(f, x)
    close(y, f(x))
    for t in (np.ones(3), np.array([1.0, -2.0, 0.5]), np.zeros(3)):
        expected = fa.jvp(f, (x,), (t,))[1]
        close(f_jvp(t), expected)
        close(fa.jit(f_jvp)(t), expected)
    # linear: f_jvp(a t) == a f_jvp(t)
    close(f_jvp(3.0 * np.ones(3)), 3.0 * f_jvp(np.ones(3)))
    # vmap over tangents gives the Jacobian
    close(fa.vmap(f_jvp)(np.eye(3)).T, fa.jacfwd(f)(x))


@pytest.mark.parametrize("transform", ["grad", "jvp", "vjp", "vmap", "jacfwd", "jacrev",
                                       "hessian", "jit"])
def test_float32_stays_float32(transform):
    x = np.array([0.5, 1.5], dtype=np.float32)
    f = lambda x: fnp.sum(fnp.sin(x) * 2.0 + x ** 2)  # noqa: E731
    g = lambda x: fnp.exp(x) * 0.5  # noqa: E731
    out = {
        "grad": lambda: fa.grad(f)(x),
        "jvp": lambda: fa.jvp(g, (x,), (np.ones(2, np.float32),)),
        "vjp": lambda: fa.vjp(g, x)[1](np.ones(2, np.float32)),
        "vmap": lambda: fa.vmap(g)(x),
        "jacfwd": lambda: fa.jacfwd(g)(x),
        "jacrev": lambda: fa.jacrev(g)(x),
        "hessian": lambda: fa.hessian(f)(x),
        "jit": lambda: fa.jit(fa.grad(f))(x),
    }[transform]()
    for leaf in tree_util.tree_leaves(out):
        assert np.asarray(leaf).dtype == np.float32, (transform, np.asarray(leaf).dtype)


def test_default_dtype_float64():
    assert fa.grad(lambda x: x * 2)(1.0).dtype == np.float64
    assert fa.grad(lambda x: fnp.sum(x * 2))(np.array([1.0])).dtype == np.float64


def test_stop_gradient():
    f = lambda x: x ** 2 + fa.stop_gradient(x ** 3)  # noqa: E731
    assert float(fa.grad(f)(2.0)) == 4.0
    assert float(fa.grad(fa.grad(f))(2.0)) == 2.0
    assert float(fa.jvp(f, (2.0,), (1.0,))[1]) == 4.0
    close(fa.vmap(fa.grad(f))(np.array([1.0, 2.0])), np.array([2.0, 4.0]))


def test_closure_over_array():
    w = np.array([1.0, 2.0, 3.0])
    f = lambda x: fnp.sum(w * fnp.sin(x))  # noqa: E731
    x = np.array([0.1, 0.2, 0.3])
    close(fa.grad(f)(x), w * np.cos(x))
    close(fa.jit(fa.grad(f))(x), w * np.cos(x))
    close(fa.vmap(fa.grad(f))(np.stack([x, x])), np.stack([w * np.cos(x)] * 2))


def test_outputs_are_arrays():
    """Outputs are funcad.Arrays: read-only ndarrays (tests/test_array.py has the rest)."""
    out = fa.grad(lambda x: x * 3.0)(2.0)
    assert type(out) is fa.Array and out.shape == () and not out.flags.writeable
    assert type(fa.vmap(lambda x: x + 1)(np.arange(3.0))) is fa.Array
    assert type(fa.jvp(lambda x: x, (1.0,), (1.0,))[1]) is fa.Array


def test_integer_inputs_allowed_when_not_differentiated():
    f = lambda x, n: fnp.sum(x ** n)  # noqa: E731
    assert float(fa.grad(f)(2.0, 3)) == 12.0
    close(fa.vmap(f, in_axes=(0, None))(np.arange(3.0), 2), np.array([0.0, 1.0, 4.0]))


# ----------------------------------------------------------------------------------
# Every transform under jit, and jit inside every transform


def g_scalar(x):
    return fnp.sum(fnp.tanh(x) * fnp.exp(-x ** 2))


JIT_CASES = {
    "grad": lambda x: fa.grad(g_scalar)(x),
    "value_and_grad": lambda x: fa.value_and_grad(g_scalar)(x),
    "grad_grad_sum": lambda x: fa.grad(lambda x: fnp.sum(fa.grad(g_scalar)(x) ** 2))(x),
    "jvp": lambda x: fa.jvp(g_scalar, (x,), (fnp.ones_like(x),)),
    "vjp": lambda x: fa.vjp(g_scalar, x)[1](1.0),
    "vmap": lambda x: fa.vmap(lambda v: fnp.sin(v) * v)(x),
    "vmap_grad": lambda x: fa.vmap(fa.grad(lambda v: fnp.sin(v) * v))(x),
    "jacfwd": lambda x: fa.jacfwd(lambda v: fnp.sin(v) * v)(x),
    "jacrev": lambda x: fa.jacrev(lambda v: fnp.sin(v) * v)(x),
    "hessian": lambda x: fa.hessian(g_scalar)(x),
}


@pytest.mark.parametrize("name", sorted(JIT_CASES))
def test_transform_under_jit(name):
    f = JIT_CASES[name]
    x = np.array([0.3, -0.4, 1.1])
    close(fa.jit(f)(x), f(x))


@pytest.mark.parametrize("outer", ["grad", "vmap", "jacfwd", "jacrev", "hessian", "jvp"])
def test_jit_inside_transform(outer):
    jf = fa.jit(g_scalar)
    x = np.array([0.3, -0.4, 1.1])
    xs = np.stack([x, 2 * x])
    run = {
        "grad": lambda f: fa.grad(f)(x),
        "vmap": lambda f: fa.vmap(f)(xs),
        "jacfwd": lambda f: fa.jacfwd(f)(x),
        "jacrev": lambda f: fa.jacrev(f)(x),
        "hessian": lambda f: fa.hessian(f)(x),
        "jvp": lambda f: fa.jvp(f, (x,), (np.ones(3),)),
    }[outer]
    close(run(jf), run(g_scalar))


def test_jit_vmap_grad_grad_composition():
    f = lambda x: fnp.sin(x) * x ** 2  # noqa: E731
    xs = np.linspace(-1, 1, 5)
    out = fa.jit(fa.vmap(fa.grad(fa.grad(f))))(xs)
    close(out, 2 * np.sin(xs) + 4 * xs * np.cos(xs) - xs ** 2 * np.sin(xs))


def test_jit_retraces_per_signature_only():
    calls = []

    def f(x):
        calls.append(1)
        return x * 2.0
    jf = fa.jit(f)
    jf(np.ones(3))
    jf(np.ones(3) * 2)
    assert len(calls) == 1
    jf(np.ones(4))
    assert len(calls) == 2


def test_jit_static_argnums():
    f = fa.jit(lambda x, n: x * n if n > 1 else -x, static_argnums=1)
    close(f(np.ones(2), 3), 3 * np.ones(2))
    close(f(np.ones(2), 0), -np.ones(2))
    g = fa.jit(lambda x, n: x ** n, static_argnames="n")
    close(g(np.array(2.0), n=3), np.array(8.0))


def test_transforms_preserve_function_metadata():
    def my_loss(x):
        """Doc."""
        return x * 2.0
    for t in (fa.grad, fa.vmap, fa.jit):
        assert t(my_loss).__name__ == "my_loss"


# ----------------------------------------------------------------------------------
# Every transformed program type-checks and evaluates to the eager result

TYPECHECK_CASES = {
    "f": lambda f: f,
    "grad": lambda f: fa.grad(lambda x: fnp.sum(f(x))),
    "grad_grad": lambda f: fa.grad(lambda x: fnp.sum(fa.grad(lambda y: fnp.sum(f(y)))(x))),
    "vmap": lambda f: fa.vmap(f),
    "vmap_grad": lambda f: fa.vmap(fa.grad(lambda x: fnp.sum(f(x)))),
    "jacfwd": lambda f: fa.jacfwd(f),
    "jacrev": lambda f: fa.jacrev(f),
    "hessian": lambda f: fa.hessian(lambda x: fnp.sum(f(x))),
    "jit_grad": lambda f: fa.jit(fa.grad(lambda x: fnp.sum(f(x)))),
    "jvp": lambda f: lambda x: fa.jvp(f, (x,), (fnp.ones_like(x),)),
    "linearize": lambda f: lambda x: fa.linearize(f, x)[1](fnp.ones_like(x)),
}


@pytest.mark.parametrize("transform", sorted(TYPECHECK_CASES))
@pytest.mark.parametrize("fname", sorted(VEC_FUNS))
def test_transformed_programs_typecheck(transform, fname):
    from funcad._ir import eval_jaxpr, typecheck_jaxpr
    g = TYPECHECK_CASES[transform](VEC_FUNS[fname])
    x = RNG.standard_normal(4)
    arg = np.stack([x, 2 * x]) if transform.startswith("vmap") else x
    closed = fa.make_jaxpr(g)(arg)
    typecheck_jaxpr(closed.jaxpr)
    out = eval_jaxpr(closed.jaxpr, closed.consts, [arg])
    close(out, tree_util.tree_leaves(g(arg)))


# ----------------------------------------------------------------------------------
# check_grads itself must catch a wrong rule


@pytest.mark.parametrize("mode", ["fwd", "rev"])
@pytest.mark.parametrize("order", [1, 2])
def test_check_grads_catches_a_wrong_jvp_rule(monkeypatch, mode, order):
    from funcad._core import jvp_rules
    from funcad.primitives.elementwise import cos_p, mul_p, sin_p
    from funcad.test_util import check_grads

    def wrong_sin_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        # 1.01 * cos: close enough to look plausible, wrong enough to be caught
        return sin_p.bind(x), mul_p.bind(t, mul_p.bind(cos_p.bind(x), np.float64(1.01)))

    f = lambda x: fnp.sin(x) * x  # noqa: E731
    x = np.array([0.3, 1.2, -0.7])
    check_grads(f, (x,), order=order, modes=(mode,))  # the real rule passes
    monkeypatch.setitem(jvp_rules, sin_p, wrong_sin_jvp)
    with pytest.raises(AssertionError, match="disagrees with finite differences"):
        check_grads(f, (x,), order=order, modes=(mode,))


def test_check_grads_catches_a_wrong_second_derivative(monkeypatch):
    from funcad._core import jvp_rules
    from funcad.primitives.elementwise import cos_p, mul_p, sin_p
    from funcad.test_util import check_grads

    def sin_jvp_with_wrong_cos(primals, tangents):
        (x,), (t,) = primals, tangents
        # right first derivative, but its own derivative is zero (cos of a stopped x)
        return sin_p.bind(x), mul_p.bind(t, cos_p.bind(fa.stop_gradient(x)))

    f = lambda x: fnp.sum(fnp.sin(x))  # noqa: E731
    x = np.array([0.3, 1.2])
    monkeypatch.setitem(jvp_rules, sin_p, sin_jvp_with_wrong_cos)
    check_grads(f, (x,), order=1)
    with pytest.raises(AssertionError, match="disagrees with finite differences"):
        check_grads(f, (x,), order=2)


# ----------------------------------------------------------------------------------
# Control flow composes with every transform


def _scan_fun(x):
    def body(c, xi):
        c = c * fnp.sin(xi) + xi
        return c, c
    c, ys = fa.lax.scan(body, 1.0, x)
    return c + fnp.sum(ys)


def _cond_fun(x):
    return fa.lax.cond(x > 0, lambda v: fnp.sin(v) * v, lambda v: v ** 3, x)


def _while_sqrt(a):
    return fa.lax.while_loop(lambda c: fnp.abs(c * c - a) > 1e-12, lambda c: 0.5 * (c + a / c),
                             a)


def _scan_numeric_grad(x, eps=1e-6):
    def ref(x):
        c, s = 1.0, 0.0
        for xi in x:
            c = c * np.sin(xi) + xi
            s += c
        return c + s
    return np.array([(ref(x + eps * e) - ref(x - eps * e)) / (2 * eps) for e in np.eye(len(x))])


def test_scan_under_transforms():
    x = np.array([0.3, -0.5, 0.9, 1.1])
    g = _scan_numeric_grad(x)
    close(fa.grad(_scan_fun)(x), g, tol=1e-7)
    close(fa.jacfwd(_scan_fun)(x), g, tol=1e-7)
    close(fa.jit(fa.grad(_scan_fun))(x), g, tol=1e-7)
    h = fa.hessian(_scan_fun)(x)
    close(h, h.T)
    close(h, fa.jacfwd(fa.jacfwd(_scan_fun))(x))
    xs = np.stack([x, 2 * x, -x])
    per_ex = np.stack([fa.grad(_scan_fun)(r) for r in xs])
    close(fa.vmap(fa.grad(_scan_fun))(xs), per_ex)
    close(fa.grad(lambda xs: fnp.sum(fa.vmap(_scan_fun)(xs)))(xs), per_ex)


def test_cond_under_transforms():
    x = np.array([0.3, -0.5, 0.9, -1.1])
    close(fa.vmap(_cond_fun)(x), np.where(x > 0, np.sin(x) * x, x ** 3))
    d = np.where(x > 0, np.cos(x) * x + np.sin(x), 3 * x ** 2)
    close(fa.vmap(fa.grad(_cond_fun))(x), d)
    close(fa.jit(fa.vmap(fa.grad(_cond_fun)))(x), d)


def test_while_loop_under_transforms():
    a = np.array([2.0, 9.0])
    close(fa.vmap(_while_sqrt)(a), np.sqrt(a))
    assert float(fa.grad(_while_sqrt)(2.0)) == pytest.approx(0.5 / np.sqrt(2.0))
    close(fa.vmap(fa.grad(_while_sqrt))(a), 0.5 / np.sqrt(a))
    power = lambda x: fa.lax.fori_loop(0, 5, lambda i, c: c * x, 1.0)  # noqa: E731
    assert float(fa.grad(fa.grad(power))(2.0)) == pytest.approx(20 * 8.0)


def test_checkpoint_under_transforms():
    x = np.array([0.3, -0.5, 0.9])
    f = fa.checkpoint(lambda v: fnp.sin(fnp.sin(v)))
    expected = np.cos(np.sin(x)) * np.cos(x)
    close(fa.grad(lambda v: fnp.sum(f(v)))(x), expected)
    close(fa.vmap(fa.grad(f))(x), expected)
