"""Top-level JAX names added in funcad._api_extra and funcad.dtypes."""

import numpy as np
import pytest

import funcad
import funcad.numpy as fnp
from funcad.test_util import check_grads


def test_block_until_ready_and_named():
    tree = {"a": fnp.ones(2), "b": (1.0, None)}
    assert funcad.block_until_ready(tree) is tree
    f = funcad.named_call(lambda x: x * 2, name="double")
    assert float(funcad.jit(f)(2.0)) == 4.0
    with funcad.named_scope("layer"):
        assert float(funcad.grad(lambda x: x ** 2)(3.0)) == 6.0


def test_ensure_compile_time_eval():
    seen = []

    @funcad.jit
    def f(x):
        with funcad.ensure_compile_time_eval():
            c = fnp.sin(np.float64(1.0)) * 2
            seen.append(isinstance(c, funcad.Array) or type(c).__module__ == "numpy")
        return x + c

    np.testing.assert_allclose(f(1.0), 1.0 + 2 * np.sin(1.0))
    assert seen == [True]


def test_custom_gradient():
    @funcad.custom_gradient
    def f(x):
        return fnp.sin(x), lambda g: (g * 2 * fnp.cos(x),)   # a deliberately different rule

    np.testing.assert_allclose(funcad.grad(f)(1.0), 2 * np.cos(1.0))
    np.testing.assert_allclose(funcad.jit(funcad.grad(f))(1.0), 2 * np.cos(1.0))
    np.testing.assert_allclose(funcad.vmap(funcad.grad(f))(fnp.arange(3.0)),
                               2 * np.cos(np.arange(3.0)))

    @funcad.custom_gradient
    def mul(x, y):
        return x * y, lambda c: (c * y, c * x)

    gx, gy = funcad.grad(mul, argnums=(0, 1))(2.0, 3.0)
    assert (float(gx), float(gy)) == (3.0, 2.0)

    @funcad.custom_gradient
    def logexp(x):   # JAX's documented example: a stable gradient of log(1 + exp(x))
        e = fnp.exp(x)
        return fnp.log1p(e), lambda g: (g * (1 - 1 / (1 + e)),)

    check_grads(logexp, (fnp.array([0.3, -1.2, 2.0]),), order=1, modes=["rev"])
    check_grads(lambda x: mul(x, fnp.sin(x)), (fnp.array([0.3, -1.2]),), order=1,
                modes=["rev"])


def test_closure_convert():
    def outer(a):
        def inner(x):
            return x * a + fnp.sin(a)
        conv, consts = funcad.closure_convert(inner, 1.0)
        return conv(2.0, *consts), len(consts)

    val, n = outer(3.0)
    assert n == 0 and float(val) == pytest.approx(6.0 + np.sin(3.0))
    g = funcad.grad(lambda a: outer(a)[0])(3.0)
    np.testing.assert_allclose(g, 2.0 + np.cos(3.0))
    # under grad the closed-over tracer is hoisted
    counts = []
    funcad.grad(lambda a: (counts.append(outer(a)[1]), outer(a)[0])[1])(3.0)
    assert counts == [1]


def test_typeof_and_dtypes():
    t = funcad.typeof(fnp.ones((2, 3), dtype=np.float32))
    assert t.shape == (2, 3) and t.dtype == np.float32
    assert funcad.typeof(1.0).weak_type
    assert funcad.float0 == np.dtype([("float0", "V")])
    assert funcad.dtypes.float0 == funcad.float0
    assert funcad.dtypes.canonicalize_dtype(np.float32) == np.float32
    assert funcad.dtypes.issubdtype(np.float32, np.floating)
    assert funcad.dtypes.result_type(1.0, np.float32(1)) == np.float32
    assert funcad.dtypes.result_type(1, return_weak_type_flag=True)[1] is True
    assert funcad.dtypes.finfo(np.float32).eps == np.finfo(np.float32).eps
    assert funcad.dtypes.iinfo(np.int8).max == 127
    assert funcad.dtypes.scalar_type_of(np.float32(1)) is float


def test_config_context_managers():
    with funcad.enable_x64():
        pass
    with pytest.raises(ValueError, match="jax_enable_x64=False"):
        with funcad.enable_x64(False):
            pass
    assert funcad.config.jax_enable_x64 is True
    with funcad.default_matmul_precision("highest"):
        assert funcad.config.jax_default_matmul_precision == "highest"
    assert funcad.config.jax_default_matmul_precision is None
    with funcad.numpy_rank_promotion("allow"):
        pass
    with pytest.raises(NotImplementedError):
        with funcad.numpy_rank_promotion("raise"):
            pass
    with funcad.numpy_dtype_promotion("standard"):
        pass
    with pytest.raises(NotImplementedError):
        with funcad.numpy_dtype_promotion("strict"):
            pass
    with funcad.default_device(funcad.devices()[0]):
        assert float(funcad.jit(lambda x: x + 1)(1.0)) == 2.0
    with pytest.raises(ValueError):
        with funcad.default_device("gpu0"):
            pass


def test_processes_and_info():
    assert (funcad.process_count(), funcad.process_index(), funcad.host_count(),
            funcad.host_id()) == (1, 0, 1, 0)
    assert "funcad" in funcad.print_environment_info(return_string=True)


def test_clear_caches():
    n = []

    @funcad.jit
    def f(x):
        n.append(1)
        return x * 2

    f(1.0)
    f(2.0)
    funcad.clear_caches()
    assert float(f(3.0)) == 6.0
    assert len(n) == 2
