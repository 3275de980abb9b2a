"""funcad.example_libraries.stax and funcad.nn.initializers: shapes, values against NumPy,
JAX's key schedule and initializer formulas, derivatives, jit and vmap.

JAX cannot run here, so "the same parameters as JAX's stax" is checked by rebuilding them
from funcad.random (whose draws are checked bit for bit against recorded JAX outputs in
tests/test_random.py) in the split order and with the formulas of JAX's stax.py and
nn/initializers.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import funcad as fa
import funcad.numpy as fnp
from funcad import lax, random
from funcad.example_libraries import stax
from funcad.nn import initializers as init
from funcad.test_util import check_grads

KEY = random.PRNGKey(0)
RNG = np.random.default_rng(0)

# name: (layer, input shape); init's output shape must be apply's (eager and jit)
LAYERS = {
    "Dense": (stax.Dense(3), (4, 5)),
    "Dense_3d": (stax.Dense(2), (2, 3, 4)),
    "Conv_valid": (stax.Conv(3, (3, 3)), (2, 6, 5, 2)),
    "Conv_same_strided": (stax.Conv(2, (3, 2), strides=(2, 2), padding="SAME"),
                          (2, 7, 6, 3)),
    "GeneralConv_NCHW": (stax.GeneralConv(("NCHW", "OIHW", "NCHW"), 2, (2, 2)),
                         (1, 3, 5, 5)),
    "ConvTranspose_same": (stax.ConvTranspose(2, (3, 3), strides=(2, 2), padding="SAME"),
                           (2, 3, 4, 3)),
    "ConvTranspose_valid": (stax.ConvTranspose(2, (3, 3), strides=(2, 1)), (1, 3, 3, 2)),
    "Conv1DTranspose": (stax.Conv1DTranspose(2, (3,), strides=(2,), padding="VALID"),
                        (2, 5, 3)),
    "BatchNorm": (stax.BatchNorm(), (3, 2, 2, 4)),
    "BatchNorm_axis0": (stax.BatchNorm(axis=0, center=False), (5, 3)),
    "MaxPool": (stax.MaxPool((2, 2)), (2, 5, 4, 3)),
    "MaxPool_same": (stax.MaxPool((3, 3), strides=(2, 2), padding="SAME"), (1, 5, 5, 2)),
    "SumPool": (stax.SumPool((2, 1), strides=(2, 1)), (2, 4, 3, 1)),
    "AvgPool_same": (stax.AvgPool((3, 3), padding="SAME"), (1, 4, 5, 2)),
    "AvgPool_spec": (stax.AvgPool((2, 2), spec="NCHW"), (1, 2, 4, 4)),
    "Flatten": (stax.Flatten, (2, 3, 4)),
    "Identity": (stax.Identity, (2, 3)),
    "serial": (stax.serial(stax.Dense(4), stax.Tanh, stax.Dense(2), stax.LogSoftmax), (3, 5)),
    "residual": (stax.serial(stax.FanOut(2), stax.parallel(stax.Dense(3), stax.Dense(3)),
                             stax.FanInSum), (2, 3)),
    "concat": (stax.serial(stax.FanOut(2), stax.parallel(stax.Dense(3), stax.Identity),
                           stax.FanInConcat()), (2, 4)),
    "shape_dependent": (stax.shape_dependent(lambda s: stax.Dense(s[-1])), (2, 3)),
}
for _name in ("Relu", "Sigmoid", "Tanh", "Elu", "LeakyRelu", "Selu", "Gelu", "Softplus",
              "LogSoftmax", "Softmax", "Exp"):
    LAYERS[_name] = (getattr(stax, _name), (3, 4))


def _x(shape):
    return RNG.normal(size=shape)


@pytest.mark.parametrize("name", LAYERS)
def test_layer_shapes_eager_and_jit(name):
    (init_fun, apply_fun), shape = LAYERS[name]
    out_shape, params = init_fun(KEY, shape)
    x = _x(shape)
    y = apply_fun(params, x)
    assert tuple(y.shape) == tuple(out_shape), (y.shape, out_shape)
    yj = fa.jit(apply_fun)(params, x)
    np.testing.assert_allclose(yj, y, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", ["Dense", "Conv_same_strided", "ConvTranspose_same",
                                  "BatchNorm", "MaxPool_same", "AvgPool_same", "serial",
                                  "residual", "Selu", "Gelu"])
def test_layer_grads_order2(name):
    (init_fun, apply_fun), shape = LAYERS[name]
    _, params = init_fun(KEY, shape)
    x = _x(shape)

    leaves, tree = fa.tree_util.tree_flatten(params)

    def loss(x, *leaves):  # check_grads takes arrays: the parameters as leaves
        p = fa.tree_util.tree_unflatten(tree, leaves)
        return fnp.sum(fnp.sin(apply_fun(p, x)))
    check_grads(loss, (x, *leaves), order=2, modes=("fwd", "rev"), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", ["Dense", "Conv_valid", "MaxPool", "serial"])
def test_layer_vmap_over_examples(name):
    (init_fun, apply_fun), shape = LAYERS[name]
    _, params = init_fun(KEY, shape)
    x = _x(shape)
    # each example alone, with a batch axis of 1, as a per-example loop
    per = fa.vmap(lambda xi: apply_fun(params, xi[None])[0])(x)
    np.testing.assert_allclose(per, apply_fun(params, x), rtol=1e-12, atol=1e-14)


def _np_conv_nhwc(x, w, stride, pads):
    x = np.pad(x, [(0, 0), pads[0], pads[1], (0, 0)])
    kh, kw, _, o = w.shape
    oh = (x.shape[1] - kh) // stride[0] + 1
    ow = (x.shape[2] - kw) // stride[1] + 1
    out = np.zeros((x.shape[0], oh, ow, o))
    for i in range(oh):
        for j in range(ow):
            patch = x[:, i * stride[0]:i * stride[0] + kh, j * stride[1]:j * stride[1] + kw]
            out[:, i, j] = np.einsum("nhwc,hwco->no", patch, w)
    return out


def test_dense_conv_values():
    x = _x((4, 5))
    _, (W, b) = stax.Dense(3)[0](KEY, x.shape)
    np.testing.assert_allclose(stax.Dense(3)[1]((W, b), x), x @ W + b, rtol=1e-13)
    (init_fun, apply_fun), shape = LAYERS["Conv_same_strided"]
    _, (W, b) = init_fun(KEY, shape)
    assert W.shape == (3, 2, 3, 2) and b.shape == (1, 1, 1, 2)
    x = _x(shape)
    pads = lax.padtype_to_pads(shape[1:3], (3, 2), (2, 2), "SAME")
    np.testing.assert_allclose(apply_fun((W, b), x),
                               _np_conv_nhwc(x, W, (2, 2), pads) + b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("padding", ["SAME", "VALID"])
@pytest.mark.parametrize("strides", [(1, 1), (2, 2), (2, 1)])
def test_conv_transpose_is_the_gradient_of_conv(padding, strides):
    # lax.conv_transpose with transpose_kernel=True is the vjp of the forward conv (JAX's test)
    w = _x((3, 3, 2, 4))  # HWIO of the forward conv: 2 -> 4 channels
    # sizes where the forward conv uses every input row (SAME: multiples of the stride;
    # VALID: (n - k) a multiple of it), so that the transposed conv's shape is the input's
    x_shape = (1, 6, 4, 2) if padding == "SAME" else (1, 7, 5, 2)
    y, vjp = fa.vjp(lambda x: lax.conv_general_dilated(
        x, w, strides, padding, dimension_numbers=("NHWC", "HWIO", "NHWC")), _x(x_shape))
    ct = _x(y.shape)
    (expected,) = vjp(ct)
    got = lax.conv_transpose(ct, w, strides, padding, transpose_kernel=True)
    assert got.shape == x_shape
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    w_t = np.swapaxes(w, 2, 3)  # a kernel from 4 to 2 channels, for the transposed conv
    shape = lax.conv_transpose_shape_tuple(y.shape, w_t.shape, strides, padding,
                                           ("NHWC", "HWIO", "NHWC"))
    assert shape == lax.conv_transpose(ct, w_t, strides, padding).shape


def _np_pool(x, window, strides, pads, fill, op):
    x = np.pad(x, [(0, 0), pads[0], pads[1], (0, 0)], constant_values=fill)
    oh = (x.shape[1] - window[0]) // strides[0] + 1
    ow = (x.shape[2] - window[1]) // strides[1] + 1
    return np.stack([np.stack([op(x[:, i * strides[0]:i * strides[0] + window[0],
                                    j * strides[1]:j * strides[1] + window[1]], axis=(1, 2))
                               for j in range(ow)], 1) for i in range(oh)], 1)


def test_pooling_values():
    x = _x((2, 5, 5, 2))
    pads = lax.padtype_to_pads((5, 5), (3, 3), (2, 2), "SAME")
    mx = stax.MaxPool((3, 3), strides=(2, 2), padding="SAME")[1]((), x)
    np.testing.assert_array_equal(mx, _np_pool(x, (3, 3), (2, 2), pads, -np.inf, np.max))
    sm = stax.SumPool((3, 3), strides=(2, 2), padding="SAME")[1]((), x)
    np.testing.assert_allclose(sm, _np_pool(x, (3, 3), (2, 2), pads, 0.0, np.sum), rtol=1e-13)
    av = stax.AvgPool((3, 3), strides=(2, 2), padding="SAME")[1]((), x)
    count = _np_pool(np.ones((1, 5, 5, 1)), (3, 3), (2, 2), pads, 0.0, np.sum)
    np.testing.assert_allclose(av, sm / count, rtol=1e-13)


def test_batchnorm_values():
    x = _x((6, 3))
    beta, gamma = _x(3), _x(3)
    y = stax.BatchNorm(axis=(0,))[1]((beta, gamma), x)
    ref = gamma * (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5) + beta
    np.testing.assert_allclose(y, ref, rtol=1e-12)
    _, (b0, g0) = stax.BatchNorm(axis=(0,))[0](KEY, (6, 3))
    np.testing.assert_array_equal(b0, np.zeros(3))
    np.testing.assert_array_equal(g0, np.ones(3))
    _, (b1, g1) = stax.BatchNorm(axis=(0,), center=False, scale=False)[0](KEY, (6, 3))
    assert b1 == () and g1 == ()


def _jax_glorot_normal(key, shape, in_axis=-2, out_axis=-1):
    # JAX's variance_scaling(1.0, "fan_avg", "truncated_normal"), written out
    rf = math.prod(shape) / shape[in_axis] / shape[out_axis]
    fan_in, fan_out = shape[in_axis] * rf, shape[out_axis] * rf
    variance = np.float64(1.0 / ((fan_in + fan_out) / 2))
    stddev = np.sqrt(variance) / np.float64(.87962566103423978)
    return random.truncated_normal(key, -2, 2, shape) * stddev


def test_serial_init_follows_jax_key_schedule():
    init_fun, _ = stax.serial(stax.Dense(4), stax.Relu, stax.Conv(2, (1, 1)),
                              stax.Dense(3, W_init=init.he_normal()))
    shape, params = init_fun(KEY, (2, 1, 1, 5))
    assert shape == (2, 1, 1, 3)
    # serial: rng, layer_rng = split(rng) for each layer in turn
    rng, k_dense = random.split(KEY)
    rng, _k_relu = random.split(rng)
    rng, k_conv = random.split(rng)
    rng, k_dense2 = random.split(rng)
    k1, k2 = random.split(k_dense)
    np.testing.assert_array_equal(params[0][0], _jax_glorot_normal(k1, (5, 4)))
    np.testing.assert_array_equal(params[0][1], random.normal(k2, (4,)) * 1e-2)
    assert params[1] == ()
    k1, k2 = random.split(k_conv)
    # Conv's kernel HWIO: glorot with in_axis=2, out_axis=3; bias normal(1e-6), shape 1,1,1,O
    np.testing.assert_array_equal(params[2][0], _jax_glorot_normal(k1, (1, 1, 4, 2), 2, 3))
    np.testing.assert_array_equal(params[2][1], random.normal(k2, (1, 1, 1, 2)) * 1e-6)
    k1, _ = random.split(k_dense2)
    he = random.truncated_normal(k1, -2, 2, (2, 3)) * (
        np.sqrt(np.float64(2.0 / 2)) / np.float64(.87962566103423978))
    np.testing.assert_array_equal(params[3][0], he)


def test_parallel_and_dropout_follow_jax():
    init_fun, _ = stax.parallel(stax.Dense(2), stax.Dense(3))
    shapes, params = init_fun(KEY, [(1, 4), (1, 5)])
    assert shapes == ((1, 2), (1, 3))
    _, kb = random.split(KEY, 2)
    np.testing.assert_array_equal(params[1][0],
                                  _jax_glorot_normal(random.split(kb)[0], (5, 3)))
    x = np.ones((3, 4))
    _, drop = stax.Dropout(0.7)
    with pytest.raises(ValueError, match="PRNG key"):
        drop((), x)
    y = drop((), x, rng=KEY)
    keep = random.bernoulli(KEY, 0.7, x.shape)
    np.testing.assert_array_equal(y, np.where(keep, x / 0.7, 0))
    np.testing.assert_array_equal(stax.Dropout(0.7, mode="test")[1]((), x, rng=KEY), x)
    # serial splits apply's rng into one key per layer
    _, net = stax.serial(stax.Identity, stax.Dropout(0.5))
    np.testing.assert_array_equal(net([(), ()], x, rng=KEY),
                                  stax.Dropout(0.5)[1]((), x, rng=random.split(KEY, 2)[1]))
    yj = fa.jit(lambda x, k: net([(), ()], x, rng=k))(x, KEY)
    np.testing.assert_array_equal(yj, net([(), ()], x, rng=KEY))


@pytest.mark.parametrize("name,builder,scale,mode", [
    ("glorot_normal", init.glorot_normal, 1.0, "fan_avg"),
    ("glorot_uniform", init.glorot_uniform, 1.0, "fan_avg"),
    ("he_normal", init.he_normal, 2.0, "fan_in"),
    ("he_uniform", init.he_uniform, 2.0, "fan_in"),
    ("lecun_normal", init.lecun_normal, 1.0, "fan_in"),
    ("lecun_uniform", init.lecun_uniform, 1.0, "fan_in"),
])
def test_variance_scaling_spread(name, builder, scale, mode):
    shape = (300, 200)
    w = builder()(KEY, shape)
    n = {"fan_in": 300, "fan_avg": 250}[mode]
    assert w.dtype == np.float64 and w.shape == shape
    assert abs(np.std(w) / math.sqrt(scale / n) - 1) < 0.02, name
    assert abs(np.mean(w)) < 0.01
    w32 = builder()(KEY, (3, 4), np.float32)
    assert w32.dtype == np.float32
    if "normal" in name:
        assert np.abs(w).max() < 2 * math.sqrt(scale / n) / .87962566103423978


def test_other_initializers():
    np.testing.assert_array_equal(init.normal(5.0)(KEY, (3,)), random.normal(KEY, (3,)) * 5)
    np.testing.assert_array_equal(init.uniform(2.0)(KEY, (3,)), random.uniform(KEY, (3,)) * 2)
    np.testing.assert_array_equal(init.truncated_normal(3.0)(KEY, (3,)),
                                  random.truncated_normal(KEY, -2.0, 2.0, (3,)) * 3)
    np.testing.assert_array_equal(init.constant(2.5)(KEY, (2,)), [2.5, 2.5])
    q = init.orthogonal()(KEY, (3, 5))
    np.testing.assert_allclose(q @ q.T, np.eye(3), atol=1e-12)
    d = init.delta_orthogonal()(KEY, (3, 3, 4))
    np.testing.assert_allclose(d[1] @ d[1].T, np.eye(3), atol=1e-12)
    assert np.all(d[0] == 0) and np.all(d[2] == 0)
    with pytest.raises(ValueError, match="in_axis"):
        init.glorot_normal()(KEY, (3,))
    with pytest.raises(ValueError, match="invalid mode"):
        init.variance_scaling(1.0, "fan_sideways", "normal")
    w = fa.jit(lambda k: init.glorot_normal()(k, (3, 4)))(KEY)
    np.testing.assert_allclose(w, init.glorot_normal()(KEY, (3, 4)), rtol=1e-14)
    ws = fa.vmap(lambda k: init.he_normal()(k, (3, 4)))(random.split(KEY, 3))
    assert ws.shape == (3, 3, 4)
    np.testing.assert_allclose(ws[1], init.he_normal()(random.split(KEY, 3)[1], (3, 4)),
                               rtol=1e-14)


def test_stax_training_step_under_jit_and_grad():
    init_fun, apply_fun = stax.serial(stax.Conv(3, (3, 3), padding="SAME"), stax.Relu,
                                      stax.AvgPool((2, 2), strides=(2, 2)), stax.Flatten,
                                      stax.Dense(2), stax.LogSoftmax)
    _, params = init_fun(KEY, (4, 6, 6, 1))
    x, y = _x((4, 6, 6, 1)), np.eye(2)[[0, 1, 1, 0]]

    def loss(p):
        return -fnp.mean(fnp.sum(apply_fun(p, x) * y, axis=1))
    g = fa.grad(loss)(params)
    gj = fa.jit(fa.grad(loss))(params)
    for a, b in zip(fa.tree_util.tree_leaves(g), fa.tree_util.tree_leaves(gj), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-13)
