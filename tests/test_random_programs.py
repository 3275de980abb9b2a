"""Random compositions of funcad.numpy functions, checked against every oracle.

Hypothesis builds a straight-line program over two inputs (x and a y that broadcasts
against it) from smooth unary functions, broadcasting binary operations, reductions,
reshapes/transposes/concatenation/cumsum, slices and integer-array indexing. Each program
is checked for its value against NumPy, its derivatives against finite differences
(check_grads, order 2, forward and reverse), vmap against a Python loop, and jit against
eager evaluation.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import funcad as fa
import funcad.numpy as fnp
from funcad.test_util import check_grads

# Smooth everywhere and bounded-ish, so finite differences are reliable at any point.
UNARY = {
    "sin": lambda m, v: m.sin(v),
    "cos": lambda m, v: m.cos(v),
    "tanh": lambda m, v: m.tanh(v),
    "arctan": lambda m, v: m.arctan(v),
    "square": lambda m, v: m.square(v),
    "neg": lambda m, v: -v,
    "exp_tanh": lambda m, v: m.exp(m.tanh(v)),
    "log1p_sq": lambda m, v: m.log1p(v * v),
    "sqrt_sq1": lambda m, v: m.sqrt(v * v + 1.0),
    "recip": lambda m, v: 1.0 / (1.0 + v * v),
    "pow3": lambda m, v: m.power(v, 3),
    "scale": lambda m, v: 0.5 * v + 0.25,
}
BINARY = {
    "add": lambda m, a, b: a + b,
    "sub": lambda m, a, b: m.subtract(a, b),
    "mul": lambda m, a, b: a * b,
    "div": lambda m, a, b: a / (1.0 + b * b),
    "logaddexp": lambda m, a, b: m.logaddexp(a, b),
    "hypot_like": lambda m, a, b: m.sqrt(a * a + b * b + 0.5),
}


def _reduce(m, v, kind, axis, keepdims):
    if v.ndim == 0:
        return v
    axis = axis % v.ndim
    return getattr(m, kind)(v, axis=axis, keepdims=keepdims)


def _shape_op(m, v, kind):
    if kind == "transpose":
        return m.transpose(v)
    if kind == "ravel":
        return m.reshape(v, (-1,))
    if kind == "expand_bcast":
        e = m.expand_dims(v, 0)
        return m.concatenate([e, 2.0 * e], axis=0)
    if kind == "reshape_split" and v.ndim >= 1 and v.shape[-1] % 2 == 0 and v.shape[-1] > 1:
        return m.reshape(v, v.shape[:-1] + (2, v.shape[-1] // 2))
    if kind == "moveaxis" and v.ndim >= 2:
        return m.moveaxis(v, 0, -1)
    if kind == "concat" and v.ndim >= 1:
        return m.concatenate([v, v[::-1] * 0.5], axis=0)
    if kind == "cumsum" and v.ndim >= 1:
        return m.cumsum(v, axis=-1)
    if kind == "gather" and v.ndim >= 1:
        return v[np.array([v.shape[0] - 1, 0, 0])]  # integer-array indexing, repeats
    return v


def _slice_op(v, kind):
    if v.ndim == 0:
        return v
    if kind == "reverse":
        return v[::-1]
    if kind == "tail" and v.shape[0] > 1:
        return v[1:]
    if kind == "last_col":
        return v[..., -1:]
    if kind == "stride":
        return v[::2]
    if kind == "index0":
        return v[0]
    return v


def run(prog, m, x, y):
    """Interpret a program with the NumPy-like module `m`."""
    env = [x, y]
    for op in prog:
        kind = op[0]
        if kind == "unary":
            _, name, i = op
            env.append(UNARY[name](m, env[i]))
        elif kind == "binary":
            _, name, i, j = op
            a, b = env[i], env[j]
            try:
                np.broadcast_shapes(np.shape(a), np.shape(b))
            except ValueError:
                b = m.sum(b)  # not broadcastable: combine with its total instead
            env.append(BINARY[name](m, a, b))
        elif kind == "reduce":
            _, name, i, axis, keepdims = op
            env.append(_reduce(m, env[i], name, axis, keepdims))
        elif kind == "normalize":
            _, i, axis = op
            v = env[i]
            env.append(v - _reduce(m, v, "mean", axis, True) if v.ndim else v)
        elif kind == "shape":
            _, name, i = op
            env.append(_shape_op(m, env[i], name))
        elif kind == "slice":
            _, name, i = op
            env.append(_slice_op(env[i], name))
        elif kind == "matmul":
            _, i, j = op
            a, b = env[i], env[j]
            if a.ndim >= 1 and b.ndim in (1, 2) and a.shape[-1] == b.shape[0]:
                env.append(m.matmul(a, b))
            else:
                env.append(a * m.sum(b))
    # the output mixes the last value with the inputs so that every input matters
    return env[-1] + 0.1 * m.sum(m.sin(env[0])) + 0.1 * m.sum(m.cos(env[1]))


X_SHAPES = [(3,), (2, 3), (4,), (2, 2), (3, 2, 2)]


@st.composite
def programs(draw):
    """A program (list of ops) and the shapes of x and y."""
    x_shape = draw(st.sampled_from(X_SHAPES))
    y_shape = draw(st.sampled_from([x_shape, x_shape[-1:], (), (1,) * (len(x_shape) - 1)
                                    + x_shape[-1:]]))
    # track shapes with NumPy while drawing, so every op is valid where it lands
    env = [np.zeros(x_shape), np.zeros(y_shape)]
    prog = []
    for _ in range(draw(st.integers(1, 6))):
        i = draw(st.integers(0, len(env) - 1))
        kind = draw(st.sampled_from(["unary", "unary", "binary", "binary", "reduce",
                                     "normalize", "shape", "slice", "matmul"]))
        if kind == "unary":
            op = ("unary", draw(st.sampled_from(sorted(UNARY))), i)
        elif kind == "binary":
            op = ("binary", draw(st.sampled_from(sorted(BINARY))), i,
                  draw(st.integers(0, len(env) - 1)))
        elif kind == "reduce":
            op = ("reduce", draw(st.sampled_from(["sum", "mean", "prod"])), i,
                  draw(st.integers(-3, 2)), draw(st.booleans()))
        elif kind == "normalize":
            op = ("normalize", i, draw(st.integers(-2, 1)))
        elif kind == "shape":
            op = ("shape", draw(st.sampled_from(["transpose", "ravel", "expand_bcast",
                                                 "reshape_split", "moveaxis", "concat",
                                                 "cumsum", "gather"])), i)
        elif kind == "slice":
            op = ("slice", draw(st.sampled_from(["reverse", "tail", "last_col", "stride",
                                                 "index0"])), i)
        else:
            op = ("matmul", i, draw(st.integers(0, len(env) - 1)))
        prog.append(op)
        env.append(np.asarray(run(prog, np, *env[:2])))  # only its shape matters here
    seed = draw(st.integers(0, 2 ** 16))
    return prog, x_shape, y_shape, seed


def inputs(x_shape, y_shape, seed, batch=None):
    rng = np.random.default_rng(seed)
    pre = () if batch is None else (batch,)
    return (rng.uniform(-1.0, 1.0, pre + x_shape), rng.uniform(-1.0, 1.0, pre + y_shape))


SETTINGS = settings(max_examples=50, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
# jit compiles every new program with Numba (about a second each), so fewer examples.
JIT_SETTINGS = settings(SETTINGS, max_examples=8)


@SETTINGS
@given(programs())
def test_random_program_value_and_grads(spec):
    prog, xs, ys, seed = spec
    x, y = inputs(xs, ys, seed)
    f = lambda x, y: run(prog, fnp, x, y)  # noqa: E731
    expected = run(prog, np, x, y)
    np.testing.assert_allclose(f(x, y), expected, rtol=1e-10, atol=1e-12)
    check_grads(f, (x, y), order=2, modes=("fwd", "rev"), atol=1e-4, rtol=1e-4)
    # jacfwd and jacrev agree
    np.testing.assert_allclose(fa.jacfwd(f)(x, y), fa.jacrev(f)(x, y), rtol=1e-8, atol=1e-10)


@SETTINGS
@given(programs(), st.sampled_from(["both", "x_only", "x_axis_last"]))
def test_random_program_vmap_matches_loop(spec, mode):
    prog, xs, ys, seed = spec
    f = lambda x, y: run(prog, fnp, x, y)  # noqa: E731
    xb, yb = inputs(xs, ys, seed, batch=3)
    if mode == "both":
        out = fa.vmap(f)(xb, yb)
        loop = np.stack([f(a, b) for a, b in zip(xb, yb)])
    elif mode == "x_only":
        out = fa.vmap(f, in_axes=(0, None))(xb, yb[0])
        loop = np.stack([f(a, yb[0]) for a in xb])
    else:
        out = fa.vmap(f, in_axes=(-1, None), out_axes=-1)(np.moveaxis(xb, 0, -1), yb[0])
        loop = np.stack([f(a, yb[0]) for a in xb], axis=-1)
    np.testing.assert_allclose(out, loop, rtol=1e-10, atol=1e-12)
    # per-example gradients of a scalarised program agree with the loop too
    g = lambda x, y: fnp.sum(fnp.sin(f(x, y)))  # noqa: E731
    gb = fa.vmap(fa.grad(g), in_axes=(0, None))(xb, yb[0])
    np.testing.assert_allclose(gb, np.stack([fa.grad(g)(a, yb[0]) for a in xb]),
                               rtol=1e-10, atol=1e-12)


@JIT_SETTINGS
@given(programs())
def test_random_program_jit_matches_eager(spec):
    prog, xs, ys, seed = spec
    x, y = inputs(xs, ys, seed)
    f = lambda x, y: run(prog, fnp, x, y)  # noqa: E731
    g = lambda x, y: fnp.sum(f(x, y) ** 2)  # noqa: E731
    np.testing.assert_allclose(fa.jit(f)(x, y), f(x, y), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fa.jit(fa.grad(g))(x, y), fa.grad(g)(x, y), rtol=1e-10,
                               atol=1e-12)


@pytest.mark.parametrize("name", sorted(UNARY))
def test_each_unary_building_block(name):
    x = np.array([[-0.7, 0.2, 0.9], [0.4, -0.1, 1.3]])
    f = lambda v: UNARY[name](fnp, v)  # noqa: E731
    np.testing.assert_allclose(f(x), UNARY[name](np, x), rtol=1e-12)
    check_grads(f, (x,), order=2)


@pytest.mark.parametrize("name", sorted(BINARY))
def test_each_binary_building_block(name):
    a = np.array([[-0.7, 0.2, 0.9], [0.4, -0.1, 1.3]])
    b = np.array([0.3, -0.5, 0.8])
    f = lambda u, v: BINARY[name](fnp, u, v)  # noqa: E731
    np.testing.assert_allclose(f(a, b), BINARY[name](np, a, b), rtol=1e-12)
    check_grads(f, (a, b), order=2)


@JIT_SETTINGS
@given(programs(), st.sampled_from(["checkpoint", "jit"]))
def test_random_program_repeated_as_layers(spec, wrap):
    # One function called as several layers: its programs are shared (interned
    # checkpoints, jit's cache), and every layer must still read its own inputs.
    prog, xs, ys, seed = spec
    x, y = inputs(xs, ys, seed)

    def layer(h, y):
        return h + 0.1 * fnp.sin(fnp.sum(run(prog, fnp, h, y)))

    def loss(layer_fn, x, y):
        h = x
        for c in (1.0, -0.5, 2.0):
            h = layer_fn(h * c, y)
        return fnp.sum(h ** 2)

    wrapped = fa.checkpoint(layer) if wrap == "checkpoint" else fa.jit(layer)
    ref = fa.grad(lambda x, y: loss(layer, x, y), argnums=(0, 1))(x, y)
    g = fa.grad(lambda x, y: loss(wrapped, x, y), argnums=(0, 1))
    for out in (g(x, y), fa.jit(g)(x, y)):
        for a, b in zip(out, ref):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
