"""funcad.numpy.ufunc (reduce, accumulate, at, reduceat, outer), frompyfunc, roots and
lax.conv_general_dilated's batch_group_count (issue 10).

Every method is checked against NumPy (or a brute-force loop), eagerly, under jit and
under vmap (against a loop over the batch), with derivatives to order 2 in both modes where
the result is differentiable."""

from __future__ import annotations

import copy
import itertools
import operator
import pickle

import numpy as np
import pytest

import funcad as fa
import funcad.numpy as fnp
from funcad import lax
from funcad.test_util import check_grads

RNG = np.random.default_rng(0)


def _close(a, b, rtol=1e-10, atol=1e-12, what=""):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, f"{what}: shape {a.shape} != {b.shape}"
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=what)


def _check(f, ref, args, *, grad=True, dtype=True, rtol=1e-10, atol=1e-12, vmap=True,
           grad_args=None):
    """f(*args) == ref(*args) eagerly and under jit; vmap over a batch of the first argument
    == a loop; check_grads order 2 (fwd and rev) in the float arguments."""
    out = f(*args)
    expected = ref(*args)
    _close(out, expected, rtol, atol, "eager")
    if dtype:
        assert np.asarray(out).dtype == np.asarray(expected).dtype, \
            (np.asarray(out).dtype, np.asarray(expected).dtype)
    assert isinstance(out, fa.Array)
    _close(fa.jit(f)(*args), out, rtol, atol, "jit")
    if vmap:
        batch = np.stack([args[0], args[0] * 0.5 + 1.0 if np.asarray(args[0]).dtype.kind == "f"
                          else args[0][::-1] if np.ndim(args[0]) else args[0]])
        rest = args[1:]
        vm = fa.vmap(lambda a: f(a, *rest))(batch)
        _close(vm, np.stack([np.asarray(f(b, *rest)) for b in batch]), rtol, atol, "vmap")
        _close(fa.jit(fa.vmap(lambda a: f(a, *rest)))(batch), vm, rtol, atol, "jit(vmap)")
    if grad:
        nums = grad_args if grad_args is not None else [
            i for i, a in enumerate(args) if np.asarray(a).dtype.kind == "f"]
        def g(*xs):
            full = list(args)
            for i, x in zip(nums, xs):
                full[i] = x
            return f(*full)
        check_grads(g, [args[i] for i in nums], order=2, modes=("fwd", "rev"))


X2 = RNG.normal(size=(3, 4))
X3 = RNG.normal(size=(2, 3, 4))
INTS = RNG.integers(0, 16, size=(3, 5))

# -- the ufunc objects ------------------------------------------------------------------------

JAX_UFUNCS = {"add": 0, "multiply": 1, "subtract": None, "maximum": None, "minimum": None,
              "bitwise_and": -1, "bitwise_or": 0, "bitwise_xor": 0, "logical_and": True,
              "logical_or": False, "logical_xor": False, "logaddexp": -np.inf,
              "logaddexp2": -np.inf}


@pytest.mark.parametrize("name", sorted(JAX_UFUNCS) + ["negative"])
def test_ufunc_instances(name):
    u = getattr(fnp, name)
    assert isinstance(u, fnp.ufunc)
    assert u.__name__ == name and u.__doc__ and repr(u) == f"<funcad.numpy.ufunc '{name}'>"
    assert (u.nin, u.nout, u.nargs) == ((1, 1, 1) if name == "negative" else (2, 1, 2))
    assert u.identity == JAX_UFUNCS.get(name)
    if name in JAX_UFUNCS and name != "subtract" and JAX_UFUNCS[name] is not None:
        assert u.identity == getattr(np, name).identity or name.startswith("logaddexp")
    with pytest.raises(AttributeError):
        u.nin = 3
    assert hash(u) == hash(u) and u == u and u != fnp.ufunc(lambda a, b: a, 2, 1)
    assert pickle.loads(pickle.dumps(u)) is u
    assert copy.deepcopy(u) is u and copy.copy(u) is u
    assert u.__module__ == "funcad.numpy"
    import inspect
    assert list(inspect.signature(u).parameters) == (["x"] if name == "negative" else
                                                     ["x1", "x2"])


def test_ufunc_calls_return_arrays_and_trace():
    x, y = np.array([1.0, -2.0, 3.0]), np.array([0.5, 4.0, -1.0])
    for name in ["add", "multiply", "subtract", "maximum", "minimum", "logaddexp",
                 "logaddexp2"]:
        u, ref = getattr(fnp, name), getattr(np, name)
        out = u(x, y)
        assert type(out) is fa.Array
        _close(out, ref(x, y))
        _close(fa.jit(u)(x, y), ref(x, y))
        _close(fa.vmap(u)(x, y), ref(x, y))
        check_grads(u, (x, y), order=2, modes=("fwd", "rev"))
    b = np.array([True, False, True])
    for name in ["logical_and", "logical_or", "logical_xor", "bitwise_and", "bitwise_or",
                 "bitwise_xor"]:
        assert type(getattr(fnp, name)(b, b[::-1])) is fa.Array
        np.testing.assert_array_equal(getattr(fnp, name)(INTS, 5), getattr(np, name)(INTS, 5))
    _close(fnp.negative(x), -x)
    # operators of traced values still work (they are bound to the plain functions)
    g = fa.grad(lambda v: fnp.sum((v + 1.0) * v - v * 2.0 + (-v)))(x)
    _close(g, 2 * x + 1 - 2 - 1)
    assert fa.make_jaxpr(fnp.add)(x, y) is not None
    # static arguments: ufuncs are hashable
    f = fa.jit(lambda u, a, b: u(a, b), static_argnums=0)
    _close(f(fnp.add, x, y), x + y)
    _close(f(fnp.maximum, x, y), np.maximum(x, y))


def test_ufunc_call_errors():
    with pytest.raises(NotImplementedError, match="out"):
        fnp.frompyfunc(operator.add, 2, 1)(1.0, 2.0, out=np.zeros(()))
    with pytest.raises(NotImplementedError, match="where"):
        fnp.frompyfunc(operator.add, 2, 1)(1.0, 2.0, where=True)
    with pytest.raises(TypeError, match="takes 2"):
        fnp.frompyfunc(operator.add, 2, 1)(1.0)
    with pytest.raises(ValueError, match="binary"):
        fnp.negative.reduce(np.ones(3))
    with pytest.raises(ValueError, match="binary"):
        fnp.negative.outer(np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match="binary"):
        fnp.negative.accumulate(np.ones(3))
    with pytest.raises(NotImplementedError, match="inplace=False"):
        fnp.add.at(np.ones(3), 0, 1.0)
    with pytest.raises(NotImplementedError, match="out argument"):
        fnp.add.reduce(np.ones(3), out=np.zeros(()))
    with pytest.raises(ValueError, match="identity"):
        fnp.maximum.reduce(np.ones(3), where=np.array([True, False, True]))
    with pytest.raises(ValueError, match="dtype bool"):
        fnp.add.reduce(np.ones(3), where=np.ones(3))
    with pytest.raises(ValueError, match="no identity"):
        fnp.subtract.reduce(np.ones((0, 2)))
    with pytest.raises(ValueError, match="multiple axes"):
        fnp.add.accumulate(np.ones((2, 2)), axis=None)
    with pytest.raises(ValueError, match="one-dimensional"):
        fnp.add.reduceat(np.ones(4), np.zeros((1, 1), int))
    for bad in ([0, 4], [-1]):
        with pytest.raises(IndexError, match="out-of-bounds"):
            fnp.add.reduceat(np.ones(4), np.array(bad))
    with pytest.raises(NotImplementedError, match="boolean mask"):
        fnp.add.at(np.ones(3), np.array([True, False, True]), 1.0, inplace=False)
    with pytest.raises(ValueError, match="second operand"):
        fnp.add.at(np.ones(3), 0, inplace=False)
    for u in (fnp.add, fnp.bitwise_or, fnp.frompyfunc(operator.mul, 2, 1)):
        with pytest.raises(IndexError):
            u.at(np.ones(3, int), np.array([0, 3]), 1, inplace=False)


# -- reduce -----------------------------------------------------------------------------------

REDUCE_CASES = [
    ("add", X3, {}), ("add", X3, {"axis": 1}), ("add", X3, {"axis": None}),
    ("add", X3, {"axis": (0, 2), "keepdims": True}), ("add", X2, {"initial": 2.5}),
    ("add", X2, {"axis": 1, "where": X2 > 0}), ("multiply", X2, {"axis": -1}),
    ("multiply", X2, {"axis": 0, "initial": 2.0, "keepdims": True}),
    ("maximum", X3, {"axis": 2}), ("maximum", X2, {"axis": 1, "initial": 0.3}),
    ("maximum", X2, {"axis": 0, "where": X2 < 1.0, "initial": -5.0}),
    ("minimum", X3, {"axis": (0, 1)}), ("minimum", X2, {"axis": None, "initial": -0.1}),
    ("subtract", X3, {"axis": 1}), ("subtract", X2, {"axis": 0, "keepdims": True}),
    ("subtract", X2, {"axis": 1, "initial": 1.0, "where": X2 > -0.5}),
    ("logaddexp", X3, {"axis": 1}), ("logaddexp", X2, {"axis": None, "initial": 0.5}),
    ("logaddexp", X2, {"axis": 0, "where": X2 > 0}),
    ("logaddexp2", X2, {"axis": 1, "keepdims": True}),
]


@pytest.mark.parametrize("name,x,kw", REDUCE_CASES,
                         ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(REDUCE_CASES)])
def test_reduce(name, x, kw):
    u, ref = getattr(fnp, name), getattr(np, name)
    _check(lambda a: u.reduce(a, **kw), lambda a: ref.reduce(a, **kw), (x,),
           vmap="where" not in kw)


@pytest.mark.parametrize("name", ["bitwise_and", "bitwise_or", "bitwise_xor", "logical_and",
                                  "logical_or", "logical_xor", "add", "multiply", "maximum",
                                  "minimum", "subtract"])
@pytest.mark.parametrize("axis", [0, 1, None])
def test_reduce_integers(name, axis):
    u, ref = getattr(fnp, name), getattr(np, name)
    x = INTS.astype(np.int32) + (1 if name == "multiply" else 0)
    if name.startswith("logical"):
        x = x % 3 == 0
    if name == "subtract" and axis is None:
        return  # NumPy: not reorderable
    _check(lambda a: u.reduce(a, axis=axis), lambda a: ref.reduce(a, axis=axis), (x,),
           grad=False)
    if not name.startswith("logical") and name not in ("subtract", "maximum", "minimum"):
        m = x % 2 == 0
        _check(lambda a: u.reduce(a, axis=axis, where=m),
               lambda a: ref.reduce(a, axis=axis, where=m), (x,), grad=False, vmap=False)


def test_reduce_dtype_and_empty():
    x = np.arange(1, 7, dtype=np.int32).reshape(2, 3)
    for name in ["add", "multiply", "maximum", "bitwise_or"]:
        u, ref = getattr(fnp, name), getattr(np, name)
        for dt in [None, np.int64] + ([np.float32] if name != "bitwise_or" else []):
            out, exp = u.reduce(x, dtype=dt), ref.reduce(x, dtype=dt)
            assert out.dtype == exp.dtype, (name, dt, out.dtype, exp.dtype)
            np.testing.assert_array_equal(out, exp)
    e = np.zeros((0, 3))
    _close(fnp.add.reduce(e), np.add.reduce(e))
    _close(fnp.multiply.reduce(e, axis=0), np.multiply.reduce(e, axis=0))
    _close(fnp.maximum.reduce(e, initial=-1.0), np.maximum.reduce(e, initial=-1.0))
    _close(fnp.logical_and.reduce(e), np.logical_and.reduce(e))
    with pytest.raises(ValueError):
        fnp.maximum.reduce(e)
    with pytest.raises(ValueError, match="rank 0"):
        fnp.add.reduce(np.float64(3.0))
    for name in ["add", "maximum", "subtract", "bitwise_or"]:
        s = np.array(3) if name == "bitwise_or" else np.array(3.0)
        assert getattr(fnp, name).reduce(s, axis=None) == getattr(np, name).reduce(s, axis=None)


# -- accumulate -------------------------------------------------------------------------------

ACC_CASES = [("add", X3, 1), ("add", X2, -1), ("multiply", X2, 1), ("maximum", X3, 2),
             ("minimum", X2, 0), ("subtract", X3, 0), ("logaddexp", X2, 1),
             ("logaddexp2", X2, 0)]


@pytest.mark.parametrize("name,x,axis", ACC_CASES,
                         ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(ACC_CASES)])
def test_accumulate(name, x, axis):
    u, ref = getattr(fnp, name), getattr(np, name)
    x = x.copy()
    if name in ("maximum", "minimum"):
        x = x + np.arange(x.size).reshape(x.shape) * 1e-3   # distinct values: smooth
    _check(lambda a: u.accumulate(a, axis=axis), lambda a: ref.accumulate(a, axis=axis), (x,))


@pytest.mark.parametrize("name", ["add", "multiply", "maximum", "minimum", "subtract",
                                  "bitwise_and", "bitwise_or", "bitwise_xor", "logical_and",
                                  "logical_or", "logical_xor"])
def test_accumulate_integers(name):
    u, ref = getattr(fnp, name), getattr(np, name)
    x = INTS.astype(np.int32) + (1 if name == "multiply" else 0)
    if name.startswith("logical"):
        x = x % 3 == 0
    for axis in (0, 1):
        # dtypes are JAX's: add/multiply.accumulate are cumsum/cumprod, which keep int32
        # (NumPy's accumulate gives int64)
        _check(lambda a: u.accumulate(a, axis=axis), lambda a: ref.accumulate(a, axis=axis),
               (x,), grad=False, dtype=name not in ("add", "multiply"))
        if name in ("add", "multiply"):
            assert u.accumulate(x, axis=axis).dtype == np.int32
    if not name.startswith(("bitwise", "logical")):
        out = u.accumulate(x, dtype=np.float64)
        assert out.dtype == np.float64
        _close(out, ref.accumulate(x, dtype=np.float64))


def test_accumulate_nan_and_float32():
    x = np.array([1.0, np.nan, 3.0, 0.5])
    for name in ["maximum", "minimum", "add"]:
        np.testing.assert_array_equal(getattr(fnp, name).accumulate(x),
                                      getattr(np, name).accumulate(x))
    x32 = X2.astype(np.float32)
    for name in ["add", "multiply", "maximum", "logaddexp", "subtract"]:
        out = getattr(fnp, name).accumulate(x32, axis=1)
        assert out.dtype == np.float32
        _close(out, getattr(np, name).accumulate(x32, axis=1), rtol=1e-5, atol=1e-6)


# -- at ---------------------------------------------------------------------------------------

AT_CASES = [
    ("add", np.array([0, 2, 0, 3]), RNG.normal(size=4)),
    ("add", 1, 2.5),
    ("add", (np.array([0, 1, 0]), np.array([2, 2, 2])), np.array([1.0, 2.0, 3.0])),
    ("add", (slice(None), np.array([1, 1])), np.array([1.0, 2.0])),
    ("multiply", np.array([1, 1, 2]), np.array([2.0, 3.0, -1.0])),
    ("subtract", np.array([0, 0, 4]), np.array([1.0, 2.0, 3.0])),
    ("maximum", np.array([3, 3, 0]), np.array([0.5, 2.5, -9.0])),
    ("minimum", np.array([1, 4, 1]), np.array([0.1, -2.0, -0.4])),
    ("logaddexp", np.array([2, 2, 0]), np.array([0.3, -0.2, 1.5])),
]


@pytest.mark.parametrize("name,idx,b", AT_CASES,
                         ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(AT_CASES)])
def test_at(name, idx, b):
    u, ref = getattr(fnp, name), getattr(np, name)
    a = RNG.normal(size=(5, 3)) if isinstance(idx, tuple) else RNG.normal(size=6)
    if isinstance(idx, tuple) and isinstance(idx[0], slice):
        a = RNG.normal(size=(2, 3))

    def expected(a, b):
        a = np.array(a, copy=True)
        ref.at(a, idx, b)
        return a
    _check(lambda a, b: u.at(a, idx, b, inplace=False), expected, (a, b),
           vmap=np.ndim(b) == 0 or name != "maximum")


def test_at_unary_and_dtypes():
    a = RNG.normal(size=5)
    idx = np.array([0, 0, 3])

    def neg_ref(a):
        a = a.copy()
        np.negative.at(a, idx)
        return a
    _check(lambda a: fnp.negative.at(a, idx, inplace=False), neg_ref, (a,))
    x = np.arange(6, dtype=np.int32)
    out = fnp.add.at(x, np.array([0, 0, 5]), 2, inplace=False)
    exp = x.copy()
    np.add.at(exp, [0, 0, 5], 2)
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, exp)
    bools = np.array([True, False, False])
    np.testing.assert_array_equal(fnp.add.at(bools, np.array([1, 1]), True, inplace=False),
                                  [True, True, False])
    y = np.arange(8, dtype=np.int64)
    out = fnp.bitwise_or.at(y, np.array([1, 1, 2]), np.array([4, 8, 1]), inplace=False)
    exp = y.copy()
    np.bitwise_or.at(exp, [1, 1, 2], [4, 8, 1])
    np.testing.assert_array_equal(out, exp)


def test_at_traced_indices():
    a = RNG.normal(size=5)
    f = fa.jit(lambda a, i, b: fnp.add.at(a, i, b, inplace=False))
    i = np.array([4, 1, 4])
    exp = a.copy()
    np.add.at(exp, i, [1.0, 2.0, 3.0])
    _close(f(a, i, np.array([1.0, 2.0, 3.0])), exp)
    g = fa.jit(lambda a, i, b: fnp.subtract.at(a, i, b, inplace=False))
    exp = a.copy()
    np.subtract.at(exp, i, [1.0, 2.0, 3.0])
    _close(g(a, i, np.array([1.0, 2.0, 3.0])), exp)
    h = fa.jit(lambda a, i: fnp.frompyfunc(lambda x, y: x * y + 1.0, 2, 1).at(
        a, i, 2.0, inplace=False))
    exp = a.copy()
    for k in i:
        exp[k] = exp[k] * 2.0 + 1.0
    _close(h(a, i), exp)


# -- reduceat ---------------------------------------------------------------------------------

REDUCEAT_CASES = [("add", np.array([0, 2, 3]), 1), ("add", np.array([0, 3, 1, 3]), 1),
                  ("multiply", np.array([1, 2]), 0), ("maximum", np.array([0, 2]), 1),
                  ("minimum", np.array([2, 0, 1]), 0), ("subtract", np.array([0, 2]), 1),
                  ("logaddexp", np.array([0, 1, 3]), 1)]


@pytest.mark.parametrize("name,idx,axis", REDUCEAT_CASES,
                         ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(REDUCEAT_CASES)])
def test_reduceat(name, idx, axis):
    u, ref = getattr(fnp, name), getattr(np, name)
    x = RNG.normal(size=(3, 4)) + np.arange(12).reshape(3, 4) * 1e-2
    _check(lambda a: u.reduceat(a, idx, axis=axis), lambda a: ref.reduceat(a, idx, axis=axis),
           (x,))


def test_reduceat_integers_and_traced_indices():
    x = INTS.astype(np.int32)
    for name in ["add", "bitwise_or", "maximum", "logical_or"]:
        u, ref = getattr(fnp, name), getattr(np, name)
        xx = x % 2 == 0 if name.startswith("logical") else x
        out, exp = u.reduceat(xx, np.array([0, 3, 4]), axis=1), ref.reduceat(
            xx, [0, 3, 4], axis=1)
        # (JAX's dtype: add.reduceat keeps int32, where NumPy's gives int64)
        assert out.dtype == (np.int32 if name == "add" else exp.dtype), (name, out.dtype)
        np.testing.assert_array_equal(out, exp)
    f = fa.jit(lambda a, i: fnp.add.reduceat(a, i))
    a = RNG.normal(size=7)
    _close(f(a, np.array([0, 4, 5])), np.add.reduceat(a, [0, 4, 5]))


# -- outer ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["add", "multiply", "subtract", "maximum", "minimum",
                                  "logaddexp", "logaddexp2"])
def test_outer(name):
    u, ref = getattr(fnp, name), getattr(np, name)
    A, B = RNG.normal(size=(2, 3)), RNG.normal(size=(4,)) + 0.05
    _check(lambda a, b: u.outer(a, b), lambda a, b: ref.outer(a, b), (A, B))
    _check(lambda a, b: u.outer(a, b), lambda a, b: ref.outer(a, b), (B, 1.5))
    np.testing.assert_array_equal(fnp.bitwise_xor.outer(INTS[0], INTS[1]),
                                  np.bitwise_xor.outer(INTS[0], INTS[1]))


# -- NumPy's ufunc methods on traced values dispatch to these --------------------------------

def test_numpy_ufunc_methods_on_tracers():
    x = X2

    def f(a):
        return (np.add.reduce(a), np.maximum.accumulate(a, axis=1), np.multiply.outer(a[0], a[1]),
                np.add.reduceat(a, [0, 2], axis=1), np.logaddexp.reduce(a, axis=None))
    exp = f(x)
    got = fa.jit(f)(x)
    for g, e in zip(got, exp):
        _close(g, e)
    check_grads(lambda a: np.add.reduce(a) * np.multiply.outer(a[0], a[1])[0],
                (x,), order=2, modes=("fwd", "rev"))
    with pytest.raises(TypeError, match=r"inplace=False"):
        fa.jit(lambda a: np.add.at(a, [0], 1.0))(np.ones(3))


# -- frompyfunc -------------------------------------------------------------------------------

def _py_hypot(a, b):
    return fnp.sqrt(a * a + b * b)


def test_frompyfunc_call_and_methods():
    u = fnp.frompyfunc(_py_hypot, 2, 1, identity=0.0)
    assert isinstance(u, fnp.ufunc) and (u.nin, u.nout, u.identity) == (2, 1, 0.0)
    assert u.__name__ == "_py_hypot"
    ref = np.frompyfunc(lambda a, b: float(np.hypot(a, b)), 2, 1, identity=0.0)
    x, y = RNG.normal(size=(2, 3)), RNG.normal(size=(3,))

    def r(fn, *a, **kw):
        return np.asarray(fn(*a, **kw), dtype=np.float64)
    _check(u, lambda a, b: r(ref, a, b), (x, y))
    _check(lambda a: u.reduce(a, axis=1), lambda a: r(ref.reduce, a, axis=1), (x,))
    _check(lambda a: u.reduce(a, axis=None), lambda a: r(ref.reduce, a, axis=None), (x,))
    _check(lambda a: u.accumulate(a, axis=1), lambda a: r(ref.accumulate, a, axis=1), (x,))
    _check(lambda a, b: u.outer(a, b), lambda a, b: r(ref.outer, a, b), (x, y))
    _check(lambda a: u.reduceat(a, np.array([0, 2]), axis=1),
           lambda a: r(ref.reduceat, a, [0, 2], axis=1), (x,))

    def at_ref(a, b):
        a = np.array(a, dtype=object)
        ref.at(a, [0, 0, 2], b)
        return a.astype(np.float64)
    _check(lambda a, b: u.at(a, np.array([0, 0, 2]), b, inplace=False), at_ref,
           (RNG.normal(size=4), np.array([1.0, 2.0, -0.5])))
    m = np.array([[True, False, True], [False, True, True]])
    _check(lambda a: u.reduce(a, axis=0, where=m),
           lambda a: r(ref.reduce, a, axis=0, where=m, initial=0.0), (x,), vmap=False)


def test_frompyfunc_nout_and_unary():
    two = fnp.frompyfunc(lambda a, b: (a + b, a * b), 2, 2)
    s, p = two(np.array([1.0, 2.0]), 3.0)
    _close(s, [4.0, 5.0])
    _close(p, [3.0, 6.0])
    with pytest.raises(ValueError, match="single value"):
        two.reduce(np.ones(3))
    sq = fnp.frompyfunc(lambda a: a * a, 1, 1)
    _check(sq, lambda a: a * a, (X2,))
    a = RNG.normal(size=4)
    exp = a.copy()
    for k in [1, 1, 3]:
        exp[k] = exp[k] ** 2
    _close(sq.at(a, np.array([1, 1, 3]), inplace=False), exp)
    # traced scalars: Python control flow on them is the usual error, lax.cond/where work
    step = fnp.frompyfunc(lambda a: fnp.where(a > 0, a, 0.0), 1, 1)
    _close(fa.jit(step)(X2), np.maximum(X2, 0))
    # integer function: reduce in integers
    gcd = fnp.frompyfunc(fnp.gcd, 2, 1, identity=0)
    np.testing.assert_array_equal(gcd.reduce(np.array([12, 18, 30])), 6)
    assert gcd.reduce(np.array([12, 18, 30])).dtype == np.int64
    with pytest.raises(TypeError, match="callable"):
        fnp.frompyfunc(3, 1, 1)
    u = fnp.frompyfunc(operator.add, 2, 1)
    assert pickle.loads(pickle.dumps(u)) == u


# -- roots ------------------------------------------------------------------------------------

def _sorted_roots(r):
    r = np.asarray(r)
    return r[np.lexsort((r.imag.round(8), r.real.round(8)))]


@pytest.mark.parametrize("p", [[1.0, -3.0, 2.0], [2.0, 0.0, 1.0], [1.0, -6.0, 11.0, -6.0],
                               [0.0, 0.0, 1.0, 2.0, 5.0], [1.0, 2.0, 0.0, 0.0],
                               [3.0], [0.0, 4.0], [1.5, -0.5]])
def test_roots_values(p):
    p = np.array(p)
    out = fnp.roots(p)
    exp = np.roots(p)
    assert out.dtype == np.complex128 and out.shape == exp.shape
    _close(_sorted_roots(out), _sorted_roots(exp), rtol=1e-8, atol=1e-8)
    assert fnp.roots(p.astype(np.float32)).dtype == np.complex64


def test_roots_strip_zeros_false_under_jit():
    f = fa.jit(lambda p: fnp.roots(p, strip_zeros=False))
    p = np.array([0.0, 0.0, 1.0, -3.0, 2.0])
    out = np.asarray(f(p))
    assert out.shape == (4,)
    assert np.isnan(out[2:]).all()
    _close(_sorted_roots(out[:2]), [1.0, 2.0], atol=1e-10)
    q = np.array([1.0, -6.0, 11.0, -6.0])
    _close(_sorted_roots(f(q)), [1.0, 2.0, 3.0], atol=1e-9)
    assert np.isnan(np.asarray(f(np.zeros(3)))).all()
    # trailing zeros are zero roots, sorted last
    out = np.asarray(f(np.array([1.0, -1.0, 0.0])))
    _close(out, [1.0, 0.0], atol=1e-12)
    with pytest.raises(fa.errors.ConcretizationTypeError, match="strip_zeros=False"):
        fa.jit(fnp.roots)(q)
    with pytest.raises(ValueError, match="rank-1"):
        fnp.roots(np.ones((2, 2)))
    # numpy.roots on traced values dispatches here (__array_function__)
    g = fa.grad(lambda p: fnp.real(fnp.sum(np.roots(p) ** 2)))(q)
    _close(g, fa.grad(lambda p: fnp.real(fnp.sum(fnp.roots(p) ** 2)))(q))


def test_roots_derivatives_jit_vmap():
    p = np.array([1.0, -6.0, 11.0, -6.0])      # roots 1, 2, 3 (distinct)

    def f(p, strip=True):     # symmetric functions of the roots: independent of their order
        r = fnp.roots(p, strip_zeros=strip)
        return fnp.real(fnp.sum(r ** 2)), fnp.real(fnp.prod(r)), fnp.sum(fnp.abs(r) ** 3)
    exp = (36 / 1 - 2 * 11, 6.0, 36.0)
    for got, e in zip(f(p), exp):
        _close(got, e, rtol=1e-9)
    check_grads(f, (p,), order=2, modes=("fwd", "rev"), rtol=1e-5, atol=1e-7)
    check_grads(lambda p: f(p)[0], (np.array([2.0, 1.0, 3.0]),), order=2,
                modes=("fwd", "rev"), rtol=1e-5, atol=1e-7)   # complex roots
    g = lambda p: fnp.sort(fnp.real(fnp.roots(p, strip_zeros=False)))
    ps = np.stack([p, np.array([1.0, -9.0, 26.0, -24.0])])
    _close(fa.vmap(g)(ps), np.stack([[1.0, 2.0, 3.0], [2.0, 3.0, 4.0]]), atol=1e-9)
    _close(fa.jit(fa.vmap(g))(ps), fa.vmap(g)(ps), atol=1e-12)
    _close(fa.jit(lambda p: f(p, False)[0])(p), exp[0], rtol=1e-9)
    gr = fa.grad(lambda p: f(p)[0])(p)
    _close(fa.jit(fa.grad(lambda p: f(p, False)[0]))(p), gr, rtol=1e-9)
    check_grads(lambda p: f(p, False), (p,), order=2, modes=("fwd", "rev"), rtol=1e-5,
                atol=1e-7)


# -- lax.conv_general_dilated(batch_group_count=k) ------------------------------------------

def _ref_conv_batch_groups(lhs, rhs, k, strides=(1, 1), pads=((0, 0), (0, 0))):
    """Brute force (NCHW / OIHW): out[n, g*O/k + o] = sum_c,window lhs[g*N/k + n, c] *
    rhs[g*O/k + o, c], XLA's batch_group_count."""
    lhs = np.pad(lhs, ((0, 0), (0, 0)) + tuple(pads))
    n, c, h, w = lhs.shape
    o, i, kh, kw = rhs.shape
    assert i == c
    nb, ob = n // k, o // k
    oh, ow = (h - kh) // strides[0] + 1, (w - kw) // strides[1] + 1
    out = np.zeros((nb, o, oh, ow))
    for b, oc, y, x in itertools.product(range(nb), range(o), range(oh), range(ow)):
        g = oc // ob
        patch = lhs[g * nb + b, :, y * strides[0]:y * strides[0] + kh,
                    x * strides[1]:x * strides[1] + kw]
        out[b, oc, y, x] = np.sum(patch * rhs[oc])
    return out


@pytest.mark.parametrize("k,lhs_shape,rhs_shape,strides,padding,pads", [
    (2, (4, 3, 5, 4), (4, 3, 2, 2), (1, 1), "VALID", ((0, 0), (0, 0))),
    (3, (6, 2, 4, 4), (3, 2, 3, 2), (2, 1), [(1, 0), (0, 1)], ((1, 0), (0, 1))),
    (2, (2, 1, 3, 3), (6, 1, 2, 2), (1, 1), "VALID", ((0, 0), (0, 0))),
])
def test_conv_batch_group_count(k, lhs_shape, rhs_shape, strides, padding, pads):
    lhs, rhs = RNG.normal(size=lhs_shape), RNG.normal(size=rhs_shape)

    def f(x, w):
        return lax.conv_general_dilated(x, w, strides, padding, batch_group_count=k)
    _check(f, lambda x, w: _ref_conv_batch_groups(x, w, k, strides, pads), (lhs, rhs),
           rtol=1e-9, atol=1e-10)
    # vmap over the kernel too, and over both
    rhs2 = np.stack([rhs, rhs * -0.5])
    _close(fa.vmap(f, in_axes=(None, 0))(lhs, rhs2),
           np.stack([_ref_conv_batch_groups(lhs, r, k, strides, pads) for r in rhs2]),
           rtol=1e-9, atol=1e-10)
    lhs2 = np.stack([lhs, lhs + 1.0])
    _close(fa.jit(fa.vmap(f))(lhs2, rhs2),
           np.stack([_ref_conv_batch_groups(a, r, k, strides, pads)
                     for a, r in zip(lhs2, rhs2)]), rtol=1e-9, atol=1e-10)


def test_conv_batch_group_count_is_the_grouped_weight_gradient():
    # JAX's use: the weight gradient of a feature-grouped conv is a batch-grouped conv of
    # the (transposed) input and output cotangent.
    g = 2
    x = RNG.normal(size=(3, 4, 5, 5))         # N, C=g*2, H, W
    w = RNG.normal(size=(6, 2, 3, 3))         # O=g*3, I=2
    ct = RNG.normal(size=(3, 6, 3, 3))

    def fwd(w):
        return lax.conv_general_dilated(x, w, (1, 1), "VALID", feature_group_count=g)
    _, vjp = fa.vjp(fwd, w)
    (dw,) = vjp(ct)
    # dw[o, i, kh, kw] = sum_n,y,x x[n, grp(o)*2 + i, y+kh, x+kw] ct[n, o, y, x]
    lhs = np.transpose(x, (1, 0, 2, 3))        # C, N, H, W: "batch" = C, features = N
    rhs = np.transpose(ct, (1, 0, 2, 3))       # O, N, h, w
    via = lax.conv_general_dilated(lhs, rhs, (1, 1), "VALID", batch_group_count=g)
    _close(np.transpose(np.asarray(via), (1, 0, 2, 3)), dw, rtol=1e-9, atol=1e-10)


def test_conv_batch_group_count_layouts_and_errors():
    lhs, rhs = RNG.normal(size=(4, 5, 4, 3)), RNG.normal(size=(2, 2, 3, 4))  # NHWC, HWIO
    out = lax.conv_general_dilated(lhs, rhs, (1, 1), "SAME", batch_group_count=2,
                                   dimension_numbers=("NHWC", "HWIO", "NHWC"))
    ref = lax.conv_general_dilated(np.transpose(lhs, (0, 3, 1, 2)),
                                   np.transpose(rhs, (3, 2, 0, 1)), (1, 1), "SAME",
                                   batch_group_count=2)
    _close(out, np.transpose(np.asarray(ref), (0, 2, 3, 1)))
    check_grads(lambda a, b: lax.conv_general_dilated(
        a, b, (1, 1), "SAME", batch_group_count=2, dimension_numbers=("NHWC", "HWIO", "NHWC")),
        (lhs, rhs), order=2, modes=("fwd", "rev"))
    x, w = np.ones((4, 2, 3, 3)), np.ones((4, 2, 2, 2))
    with pytest.raises(ValueError, match="batch_group_count"):
        lax.conv_general_dilated(x, w, (1, 1), "VALID", batch_group_count=3)
    with pytest.raises(ValueError, match="batch_group_count"):
        lax.conv_general_dilated(x, np.ones((3, 2, 2, 2)), (1, 1), "VALID",
                                 batch_group_count=2)
    with pytest.raises(ValueError, match="At most one"):
        lax.conv_general_dilated(np.ones((4, 4, 3, 3)), np.ones((4, 2, 2, 2)), (1, 1), "VALID",
                                 batch_group_count=2, feature_group_count=2)
    with pytest.raises(ValueError, match="batch_group_count"):
        lax.conv_general_dilated(x, w, (1, 1), "VALID", batch_group_count=0)


def test_ufunc_constructor_hooks():
    calls = []

    def my_reduce(a, axis=0, dtype=None, keepdims=False, initial=None, where=None):
        calls.append((axis, keepdims))
        return fnp.sum(a, axis=axis, keepdims=keepdims)
    u = fnp.ufunc(lambda a, b: a + b, 2, 1, name="myadd", nargs=3, identity=0,
                  call=fnp.add, reduce=my_reduce)
    assert (u.__name__, u.nargs, u.identity) == ("myadd", 3, 0)
    x = RNG.normal(size=(2, 3))
    _close(u(x, x), 2 * x)
    _close(u.reduce(x, axis=1, keepdims=True), x.sum(1, keepdims=True))
    assert calls == [(1, True)]
    _close(u.accumulate(x, axis=1), np.cumsum(x, axis=1))       # generic scan
    _close(u.outer(x[0], x[1]), np.add.outer(x[0], x[1]))
    assert u == fnp.ufunc(u._func, 2, 1, name="myadd", nargs=3, identity=0)
    assert repr(u) == "<funcad.numpy.ufunc 'myadd'>"
