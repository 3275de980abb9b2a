"""funcad.Array: the immutable ndarray subclass that funcad returns (JAX's jax.Array).

Checked: what returns Arrays (a table over transforms, funcad.numpy on concrete values,
lax, random, scipy, nn, optim), immutability and the errors that name `.at[...]`, `.at`
updates, indexing concrete Arrays with traced indices (jit, vmap, grad, fori_loop; with
gradient checks), operators between Arrays and tracers, NumPy/SciPy functions on Arrays,
printing and conversion, devices, device_put/device_get, pickling.
"""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import funcad as fa
import funcad.numpy as fnp
from funcad import lax, nn, optim
from funcad._core import Tracer
from funcad.test_util import check_grads
from funcad.tree_util import tree_leaves


def _is_frozen_array(x) -> bool:
    return type(x) is fa.Array and not x.flags.writeable


def _assert_arrays(tree, allow_scalars=False):
    leaves = tree_leaves(tree)
    assert leaves
    for leaf in leaves:
        if allow_scalars and isinstance(leaf, np.generic):
            continue
        assert _is_frozen_array(leaf), (type(leaf), getattr(leaf, "flags", None))


# ----------------------------------------------------------------------------------
# What returns Arrays


def f_scalar(x):
    return fnp.sum(fnp.sin(x) * x)


def f_vec(x):
    return fnp.tanh(x) * 2.0


X = np.linspace(0.1, 1.0, 4)

TRANSFORMS = {
    "grad": lambda: fa.grad(f_scalar)(X),
    "grad_argnums": lambda: fa.grad(lambda a, b: fnp.sum(a * b), argnums=(0, 1))(X, X),
    "value_and_grad": lambda: fa.value_and_grad(f_scalar)(X),
    "grad_has_aux": lambda: fa.grad(lambda x: (f_scalar(x), x * 2), has_aux=True)(X),
    "vjp_out": lambda: fa.vjp(f_vec, X)[0],
    "vjp_fun": lambda: fa.vjp(f_vec, X)[1](np.ones(4)),
    "jvp": lambda: fa.jvp(f_vec, (X,), (np.ones(4),)),
    "linearize": lambda: fa.linearize(f_vec, X)[0],
    "linearize_fjvp": lambda: fa.linearize(f_vec, X)[1](np.ones(4)),
    "vmap": lambda: fa.vmap(f_vec)(X),
    "vmap_tuple_out": lambda: fa.vmap(lambda x: (x, x * 2))(X),
    "jit_vector": lambda: fa.jit(f_vec)(X),
    "jit_scalar": lambda: fa.jit(f_scalar)(X),
    "jit_tree": lambda: fa.jit(lambda p: {"a": p[0] * 2, "b": (p[1] + 1,)})((X, X)),
    "jit_closure_const": lambda: fa.jit(lambda x: x + X)(X),
    "jit_of_grad": lambda: fa.jit(fa.grad(f_scalar))(X),
    "jacfwd": lambda: fa.jacfwd(f_vec)(X),
    "jacrev": lambda: fa.jacrev(f_vec)(X),
    "hessian": lambda: fa.hessian(f_scalar)(X),
    "checkpoint": lambda: fa.checkpoint(f_vec)(X),
    "grad_checkpoint": lambda: fa.grad(fa.checkpoint(f_scalar))(X),
    "custom_jvp": lambda: nn.relu(X - 0.5),
    "stop_gradient": lambda: fa.stop_gradient(X),
    "eval_shape_free": lambda: fa.jit(lambda x: fnp.zeros_like(x))(X),
    "fori_loop": lambda: lax.fori_loop(0, 3, lambda i, c: c * 2.0, fnp.ones(2)),
    "while_loop": lambda: lax.while_loop(lambda c: c[0] < 5.0, lambda c: c + 1.0,
                                         fnp.zeros(2)),
    "scan": lambda: lax.scan(lambda c, x: (c + x, c * x), 0.0, X),
    "cond": lambda: lax.cond(True, lambda x: x + 1.0, lambda x: x - 1.0, X),
    "switch": lambda: lax.switch(1, [lambda x: x, lambda x: x * 2.0], X),
    "random_normal": lambda: fa.random.normal(fa.random.PRNGKey(0), (3,)),
    "random_key": lambda: fa.random.PRNGKey(0),
    "random_split": lambda: fa.random.split(fa.random.PRNGKey(0)),
    "scipy_logsumexp": lambda: fa.scipy.special.logsumexp(X),
    "scipy_norm_logpdf": lambda: fa.scipy.stats.norm.logpdf(X),
    "nn_softmax": lambda: nn.softmax(X),
    "nn_one_hot": lambda: nn.one_hot(np.array([0, 2]), 3),
    "device_put": lambda: fa.device_put(X),
    "device_put_tree": lambda: fa.device_put({"a": X, "b": [1.0, np.ones(2)]}),
}


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_transforms_return_arrays(name):
    _assert_arrays(TRANSFORMS[name]())


@pytest.mark.parametrize("name", ["jit_vector", "jit_scalar", "jit_of_grad", "jacrev"])
def test_compiled_outputs_are_arrays(name, monkeypatch):
    monkeypatch.setenv("FUNCAD_DISABLE_JIT", "0")
    _assert_arrays(TRANSFORMS[name]())


def test_jit_outputs_are_arrays_on_every_call_path():
    f = fa.jit(lambda x, y: x * y)
    a = fnp.arange(3.0)
    for args in [(X[:3], X[:3]), (X[:3], 2.0), (a, a), (a, X[:3]), (a, 2.0)]:
        for _ in range(3):   # slow path, then the fast path of each signature
            _assert_arrays(f(*args))
    g = fa.jit(lambda p: p[0] @ p[1])
    for _ in range(3):
        _assert_arrays(g((np.eye(2), np.ones(2))))
        _assert_arrays(g((fnp.eye(2), fnp.ones(2))))


def test_optim_outputs_are_arrays():
    params = {"w": fnp.ones(3), "b": fnp.zeros(())}
    grads = fa.grad(lambda p: fnp.sum(p["w"] ** 2) + p["b"])(params)
    _assert_arrays(grads)
    for opt in [optim.sgd(0.1), optim.adam(0.1), optim.chain(optim.clip_by_global_norm(1.0),
                                                             optim.sgd(0.1, momentum=0.9))]:
        state = opt.init(params)
        updates, state = opt.update(grads, state, params)
        _assert_arrays(updates, allow_scalars=True)   # b: 0-d arithmetic gives scalars
        new = optim.apply_updates(params, updates)
        _assert_arrays(new, allow_scalars=True)
        # the inputs are unchanged (nothing was written in place)
        np.testing.assert_array_equal(params["w"], np.ones(3))


CREATION = {
    "zeros": lambda: fnp.zeros(3), "ones": lambda: fnp.ones((2, 2)),
    "full": lambda: fnp.full(2, 7.0), "zeros_like": lambda: fnp.zeros_like(X),
    "ones_like": lambda: fnp.ones_like(X), "full_like": lambda: fnp.full_like(X, 2.0),
    "arange": lambda: fnp.arange(5), "linspace": lambda: fnp.linspace(0, 1, 5),
    "eye": lambda: fnp.eye(3), "identity": lambda: fnp.identity(2),
    "array": lambda: fnp.array([1.0, 2.0]), "asarray": lambda: fnp.asarray([1, 2]),
    "asarray_np": lambda: fnp.asarray(X), "array_0d": lambda: fnp.array(3.0),
    "astype": lambda: fnp.astype(X, np.float32), "stack": lambda: fnp.stack([X, X]),
    "concatenate": lambda: fnp.concatenate([X, X]), "where": lambda: fnp.where(X > 0.5, X, 0),
    "sum_axis": lambda: fnp.sum(np.ones((2, 3)), axis=0), "dot": lambda: fnp.dot(X, X),
    "matmul": lambda: fnp.ones((2, 3)) @ fnp.ones(3), "sort": lambda: fnp.sort(X[::-1]),
    "split": lambda: fnp.split(X, 2), "nonzero": lambda: fnp.nonzero(X > 0.5),
    "linalg_inv": lambda: fnp.linalg.inv(np.eye(2) * 2), "slogdet": lambda: fnp.linalg.slogdet(
        np.ones((3, 2, 2)) + np.eye(2)), "einsum": lambda: fnp.einsum("i,i->", X, X),
    "mask_index": lambda: fnp.arange(4.0)[fnp.arange(4.0) > 1],
    "take": lambda: fnp.take(X, np.array([0, 2])), "reshape": lambda: fnp.reshape(X, (2, 2)),
}


@pytest.mark.parametrize("name", sorted(CREATION))
def test_numpy_functions_on_concrete_values_return_arrays(name):
    _assert_arrays(CREATION[name]())


def test_every_row_of_the_numpy_table_returns_arrays():
    """Every funcad.numpy function of tests/test_numpy_functions.py, on concrete inputs,
    returns Arrays (NumPy scalars only where NumPy itself returns scalars)."""
    from tests.test_numpy_functions import ROWS
    bad = []
    for r in ROWS:
        shapes = r.shapes[-1]
        out = r.fn(*[fa.device_put(a) for a in r.args(shapes)])
        for leaf in tree_leaves(out):
            if not (_is_frozen_array(leaf) or isinstance(leaf, np.generic)):
                bad.append(f"{r.name}: {type(leaf).__name__}")
    assert not bad, bad


# ----------------------------------------------------------------------------------
# Immutability


def test_setitem_raises_and_names_at():
    x = fnp.arange(3.0)
    with pytest.raises(TypeError, match=r"x\.at\[0\]\.set\(10\)"):
        x[0] = 10
    with pytest.raises(TypeError, match=r"x\.at\[1:\]\.set"):
        x[1:] = 1.0
    with pytest.raises(TypeError, match="immutable"):
        fa.jit(lambda t: t * 2)(X)[0] = 1.0
    np.testing.assert_array_equal(x, [0.0, 1.0, 2.0])
    assert not x.flags.writeable


def test_inplace_operators_rebind():
    x = fnp.arange(3.0)
    y = x
    y += 10
    assert y is not x
    np.testing.assert_array_equal(x, [0.0, 1.0, 2.0])
    np.testing.assert_array_equal(y, [10.0, 11.0, 12.0])
    _assert_arrays(y)
    z = x
    for op in ["-=", "*=", "/=", "**=", "//=", "%="]:
        exec(f"z {op} 2.0")
    np.testing.assert_array_equal(x, [0.0, 1.0, 2.0])
    m = fnp.eye(2)
    m @= fnp.ones((2, 2))
    np.testing.assert_array_equal(m, np.ones((2, 2)))
    b = fnp.array([True, False])
    b |= True
    np.testing.assert_array_equal(b, [True, True])


def test_numpy_writes_into_arrays_raise():
    x = fnp.arange(3.0)
    with pytest.raises(TypeError, match="immutable"):
        np.add(x, 1, out=x)
    with pytest.raises(TypeError, match="immutable"):
        np.sin(np.ones(3), out=(x,))
    with pytest.raises(TypeError, match=r"x\.at\[idx\]"):
        np.add.at(x, [0], 1.0)
    with pytest.raises(TypeError, match="immutable"):
        np.copyto(x, 0.0)
    with pytest.raises(TypeError, match="immutable"):
        np.cumsum(np.ones(3), out=x)
    for method, args in [("sort", ()), ("fill", (0.0,)), ("put", ([0], [1.0])),
                         ("resize", ((2,),)), ("partition", (1,))]:
        with pytest.raises(TypeError, match="immutable"):
            getattr(x, method)(*args)
    np.testing.assert_array_equal(x, [0.0, 1.0, 2.0])


def test_method_results_are_immutable_arrays():
    x = fnp.arange(6.0).reshape(2, 3)
    for out in [x.copy(), x.astype(np.float32), x.flatten(), x.T, x[:, 1], x[[0, 1], [1, 2]],
                x[x > 2], x.sum(axis=0), x.mean(axis=1), x.reshape(3, 2), x.ravel(),
                x.take([0, 1]), x.clip(1, 2), x.cumsum(), x.argsort(), x.transpose(),
                -x, abs(x), x + 1, 1 + x, x * x, x @ x.T, x < 2, ~(x < 2), x ** 2,
                divmod(x, 2)[0], copy.copy(x), copy.deepcopy(x)]:
        _assert_arrays(out)


def test_numpy_results_stay_plain_and_writeable():
    """NumPy's own functions on Arrays give plain ndarrays, as they do on JAX arrays, so
    NumPy code that writes into its results keeps working."""
    x = fnp.arange(4.0)
    for out in [np.sin(x), np.zeros_like(x), np.concatenate([x, x]), np.sort(x),
                np.linalg.norm(x, keepdims=True), np.where(x > 1, x, 0), np.array(x),
                np.cumsum(x), np.outer(x, x), np.linalg.inv(np.eye(2) + fnp.ones((2, 2)))]:
        assert type(out) is np.ndarray and out.flags.writeable, type(out)
        out[...] = 0
    a = np.asarray(x)
    assert type(a) is np.ndarray and np.shares_memory(a, x) and not a.flags.writeable
    np.testing.assert_array_equal(x, [0.0, 1.0, 2.0, 3.0])


def test_scipy_and_numpy_accept_arrays():
    scipy = pytest.importorskip("scipy")
    import scipy.linalg
    import scipy.special
    x = fnp.linspace(0.1, 0.9, 5)
    np.testing.assert_allclose(scipy.special.expit(x), 1 / (1 + np.exp(-np.asarray(x))))
    m = fnp.eye(3) * 2.0
    np.testing.assert_allclose(scipy.linalg.solve(m, fnp.ones(3)), np.full(3, 0.5))
    np.testing.assert_allclose(np.interp(0.5, x, x), 0.5)
    np.testing.assert_allclose(np.histogram(x, bins=2)[0], [2, 3])
    assert np.allclose(x, np.asarray(x)) and np.isclose(x[0], 0.1)


# ----------------------------------------------------------------------------------
# .at on Arrays


@pytest.mark.parametrize("jit", [False, True])
def test_at_methods(jit):
    x = fnp.arange(4.0)
    cases = {
        "set": (lambda x: x.at[1].set(10.0), [0, 10, 2, 3]),
        "add": (lambda x: x.at[1:3].add(1.0), [0, 2, 3, 3]),
        "mul": (lambda x: x.at[2].mul(3.0), [0, 1, 6, 3]),
        "multiply": (lambda x: x.at[np.array([1, 3])].multiply(2.0), [0, 2, 2, 6]),
        "min": (lambda x: x.at[3].min(1.5), [0, 1, 2, 1.5]),
        "max": (lambda x: x.at[0].max(5.0), [5, 1, 2, 3]),
        "get": (lambda x: x.at[2].get(), 2.0),
    }
    for name, (f, want) in cases.items():
        out = (fa.jit(f) if jit else f)(x)
        np.testing.assert_array_equal(out, want, err_msg=name)
        _assert_arrays(out)
    np.testing.assert_array_equal(x, [0, 1, 2, 3])


def test_at_on_0d_and_empty_indices():
    x = fnp.array(2.0)
    for out in [x.at[()].set(3.0), x.at[()].get(), x.at[...].add(1.0),
                fnp.arange(3.0).at[:].get(), fnp.at(np.ones(2))[0].set(5.0)]:
        _assert_arrays(out)


def test_at_on_a_closed_over_array_with_traced_index_and_value():
    table = fnp.zeros(4)
    f = fa.jit(lambda i, v: table.at[i].set(v))
    np.testing.assert_array_equal(f(2, 5.0), [0, 0, 5, 0])
    g = fa.grad(lambda v: fnp.sum(table.at[1].add(v) ** 2))
    np.testing.assert_allclose(g(3.0), 6.0)


# ----------------------------------------------------------------------------------
# Traced indices into concrete Arrays; operators between Arrays and tracers


def test_traced_index_into_concrete_array():
    table = fnp.arange(10.0)
    assert float(lax.fori_loop(0, 10, lambda i, s: s + table[i], 0.0)) == 45.0
    assert float(fa.jit(lambda i: table[i])(3)) == 3.0
    np.testing.assert_array_equal(fa.vmap(lambda i: table[i])(np.array([1, 4])), [1, 4])
    m = fnp.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(fa.jit(lambda i, j: m[i, j])(1, 2), 6.0)
    np.testing.assert_array_equal(fa.jit(lambda i: m[i, 1:3])(2), [9, 10])
    np.testing.assert_array_equal(fa.jit(lambda i: m[:, i])(0), [0, 4, 8])
    # eager (not jitted) fori_loop and scan
    assert float(lax.scan(lambda c, i: (c + table[i], None), 0.0, np.arange(3))[0]) == 3.0


def test_grad_through_traced_index_into_concrete_array():
    table = fnp.linspace(0.5, 2.0, 5)

    def loss(w):
        return lax.fori_loop(0, 5, lambda i, s: s + fnp.sin(w * table[i]), 0.0)

    expected = float(np.sum(np.cos(1.3 * np.linspace(0.5, 2.0, 5)) * np.linspace(0.5, 2, 5)))
    np.testing.assert_allclose(fa.grad(loss)(1.3), expected, rtol=1e-12)
    np.testing.assert_allclose(fa.jit(fa.grad(loss))(1.3), expected, rtol=1e-12)
    check_grads(loss, (1.3,), order=2)
    w = fnp.array([0.3, -0.2])
    check_grads(lambda w: fnp.sum(fa.vmap(lambda i: table[i] * w)(np.array([0, 3]))),
                (w,), order=2)


@pytest.mark.parametrize("jit", [False, True])
def test_operators_between_arrays_and_tracers(jit):
    a = fnp.array([1.0, 2.0])
    ops = [lambda t: a + t, lambda t: t + a, lambda t: a * t, lambda t: a - t,
           lambda t: a / t, lambda t: a ** t, lambda t: a @ t, lambda t: a < t,
           lambda t: a == t, lambda t: np.add(a, t), lambda t: np.multiply(t, a),
           lambda t: np.sin(t) * a, lambda t: np.maximum(a, t), lambda t: np.dot(a, t)]
    t0 = np.array([3.0, 4.0])
    for op in ops:
        want = op(t0)
        got = (fa.jit(op) if jit else lambda t: fa.vmap(op, in_axes=None, axis_size=1)(t)[0]
               )(t0)
        np.testing.assert_allclose(got, want)

    def inner(t):
        out = a + t
        assert isinstance(out, Tracer) and isinstance(np.add(a, t), Tracer)
        return fnp.sum(out * a)
    np.testing.assert_allclose(fa.grad(inner)(t0), a)


def test_numpy_ufuncs_on_tracers_still_trace():
    f = fa.grad(lambda x: np.sum(np.sin(x) * fnp.arange(1.0, 3.0)))
    np.testing.assert_allclose(f(np.zeros(2)), [1.0, 2.0])


# ----------------------------------------------------------------------------------
# isinstance, printing, conversions, devices, pickling


def test_isinstance():
    x = fnp.ones(2)
    assert isinstance(x, fa.Array) and isinstance(x, np.ndarray)
    assert not isinstance(np.ones(2), fa.Array)
    seen = []
    fa.jit(lambda t: seen.append(isinstance(t, fa.Array)) or t)(X)
    fa.grad(lambda t: seen.append(isinstance(t, fa.Array)) or fnp.sum(t))(X)
    assert seen == [True, True]


def test_repr_str_and_conversions():
    x = fnp.array([1.0, 2.0])
    assert repr(x) == "Array([1., 2.], dtype=float64)"
    assert str(x) == "[1. 2.]"
    assert repr(fnp.arange(3)) == "Array([0, 1, 2], dtype=int64)"
    assert repr(fnp.zeros((0, 2))) == "Array([], shape=(0, 2), dtype=float64)"
    assert "\n" in repr(fnp.eye(2)) and repr(fnp.eye(2)).startswith("Array([[1., 0.],")
    s = fa.jit(lambda t: fnp.sum(t))(x)
    assert s.shape == () and isinstance(s, fa.Array)
    assert repr(s) == "Array(3., dtype=float64)"
    assert str(s) == "3.0"
    assert float(s) == 3.0 and int(s) == 3 and bool(s) and complex(s) == 3
    assert f"{s:.2f}" == "3.00" and f"{s}" == "3.0"
    assert s.item() == 3.0 and s.tolist() == 3.0 and x.tolist() == [1.0, 2.0]
    assert [1, 2, 3, 4][fa.jit(lambda: fnp.array(2))()] == 3       # __index__
    assert list(x) == [1.0, 2.0] and len(x) == 2


def test_devices_and_transfers():
    x = fnp.ones(2)
    assert x.block_until_ready() is x
    (dev,) = x.devices()
    assert repr(dev) == "CpuDevice(id=0)" and dev.platform == "cpu"
    assert fa.devices() == [dev] and fa.device_count() == 1
    assert fa.device_get(x) is x
    tree = {"a": x, "b": [np.ones(2)]}
    assert fa.device_get(tree) is tree
    n = np.arange(3.0)
    p = fa.device_put(n)
    assert _is_frozen_array(p)
    n[0] = 7.0           # device_put copied: the Array does not change
    assert p[0] == 0.0
    assert fa.device_put(x) is x
    _assert_arrays(fa.device_put((1.0, [np.ones(2)])))


def test_sharding_and_effects_barrier():
    # the thinking_in_jax port: `x.sharding` is JAX's single-device sharding of the CPU,
    # and `funcad.effects_barrier()` (waiting for debug.print) exists and returns None
    x = fnp.arange(5)
    s = x.sharding
    assert repr(s) == "SingleDeviceSharding(device=CpuDevice(id=0), memory_kind=device)"
    assert s.device_set == x.devices() and s.num_devices == 1
    assert s.is_fully_replicated and s.is_fully_addressable and s.memory_kind == "device"
    assert s == fnp.ones(2).sharding and hash(s) == hash(fnp.ones(2).sharding)
    assert fa.effects_barrier() is None


def test_asarray_copies_writeable_numpy_arrays():
    n = np.zeros(2)
    a = fnp.asarray(n)
    n[0] = 1.0
    assert a[0] == 0.0
    assert fnp.asarray(a) is a


def test_pickle_roundtrip():
    x = fnp.arange(3.0)
    y = pickle.loads(pickle.dumps(x))
    assert _is_frozen_array(y)
    np.testing.assert_array_equal(y, x)


def test_arrays_as_inputs_everywhere():
    """Arrays and plain ndarrays are interchangeable as inputs (same compiled program)."""
    f = fa.jit(lambda x: fnp.sum(fnp.sin(x) * x))
    a = fnp.linspace(0, 1, 5)
    n = np.linspace(0, 1, 5)
    assert float(f(a)) == float(f(n)) == float(f(a))
    np.testing.assert_allclose(fa.grad(f)(a), fa.grad(f)(n))
    np.testing.assert_allclose(fa.vmap(f)(fnp.stack([a, a])), [f(n), f(n)])
    np.testing.assert_array_equal(fa.jit(lambda x: x[::-1] * 1.0)(a[::2]), [1.0, 0.5, 0.0])


def test_closed_over_arrays_run_as_writeable_constants():
    """Array (and read-only) constants reach compiled code as writeable views, which Numba
    takes without a conversion per call (read-only arrays are another Numba type)."""
    c = fnp.linspace(0.0, 1.0, 5)
    ro = np.linspace(0.0, 1.0, 5)
    ro.flags.writeable = False
    for const in (c, ro):
        g = fa.jit(lambda x, const=const: fnp.sum(fnp.sin(x) * const))
        x = np.ones(5)
        np.testing.assert_allclose(g(x), np.sum(np.sin(x) * np.asarray(const)))
        (_, consts, _, _), _ = g.trace(x)
        assert consts and all(type(k) is np.ndarray and k.flags.writeable for k in consts)
        assert np.shares_memory(consts[0], const) or const is ro
    assert not c.flags.writeable


def test_numpy_ndarray_name_is_array():
    assert fnp.ndarray is fa.Array      # jax.numpy.ndarray is jax.Array
    assert isinstance(fnp.ones(2), fnp.ndarray)
