"""Top-level API of issue 10: jacobian, eval_shape, disable_jit, tree, debug, pure_callback,
linear_transpose, config, ad_checkpoint and checkpoint_policies."""

from __future__ import annotations

import numpy as np
import pytest

import funcad as fa
import funcad.numpy as fnp
from funcad.ad_checkpoint import checkpoint_name, print_saved_residuals, saved_residuals
from funcad.test_util import check_grads


def test_jacobian_is_jacrev():
    f = lambda x: fnp.sin(x) * x[0]  # noqa: E731
    x = np.array([0.3, -1.2, 2.0])
    np.testing.assert_allclose(fa.jacobian(f)(x), fa.jacfwd(f)(x), rtol=1e-12)
    assert fa.jacobian is fa.jacrev


def test_eval_shape():
    s = fa.ShapeDtypeStruct((3, 4), np.float32)
    out = fa.eval_shape(lambda x, y: {"a": fnp.sum(x, axis=0), "b": x @ y},
                        s, np.ones((4, 2), np.float32))
    assert out == {"a": fa.ShapeDtypeStruct((4,), np.float32),
                   "b": fa.ShapeDtypeStruct((3, 2), np.float32)}
    assert out["b"].ndim == 2 and out["b"].size == 6
    assert fa.eval_shape(fnp.sin, 1.0).shape == ()
    calls = []
    fa.eval_shape(lambda x: calls.append(type(x)) or x, s)
    assert calls and calls[0] is not np.ndarray  # traced, never evaluated


def test_disable_jit_runs_python():
    seen = []
    f = fa.jit(lambda x: seen.append(type(x)) or x * 2)
    with fa.disable_jit():
        assert f(np.ones(2)).tolist() == [2.0, 2.0]
    assert seen == [np.ndarray]
    f(np.ones(3))
    assert seen[-1] is not np.ndarray  # traced again outside the context
    fa.config.update("jax_disable_jit", True)
    try:
        assert fa.jit(lambda x: type(x))(np.ones(1)) is np.ndarray
    finally:
        fa.config.update("jax_disable_jit", False)


def test_config():
    fa.config.update("jax_enable_x64", True)
    assert fa.config.jax_enable_x64 is True
    assert fa.config.read("jax_enable_x64") is True
    with pytest.raises(ValueError, match="float64"):
        fa.config.update("jax_enable_x64", False)
    with pytest.raises(AttributeError, match="unknown flag"):
        fa.config.update("jax_no_such_flag", 1)
    fa.config.update("jax_platforms", "cpu")
    with pytest.raises(ValueError, match="CPU"):
        fa.config.update("jax_platform_name", "gpu")
    fa.config.update("jax_default_matmul_precision", "highest")


def test_tree_namespace():
    t = {"a": (1, 2), "b": [3, {"c": 4}]}
    leaves, td = fa.tree.flatten(t)
    assert leaves == [1, 2, 3, 4] == fa.tree.leaves(t)
    assert fa.tree.structure(t) == td
    assert fa.tree.unflatten(td, [5, 6, 7, 8]) == {"a": (5, 6), "b": [7, {"c": 8}]}
    assert fa.tree.map(lambda x, y: x + y, t, t) == {"a": (2, 4), "b": [6, {"c": 8}]}
    assert fa.tree.reduce(lambda a, b: a * b, t) == 24
    assert fa.tree.reduce(lambda a, b: a + b, t, 10) == 20
    assert fa.tree.all({"x": True, "y": [1, 2]}) and not fa.tree.all([1, 0])
    outer = fa.tree.structure([0, 0])
    inner = fa.tree.structure({"p": 0, "q": 0})
    tt = fa.tree.transpose(outer, inner, [{"p": 1, "q": 2}, {"p": 3, "q": 4}])
    assert tt == {"p": [1, 3], "q": [2, 4]}
    assert fa.tree.transpose(outer, None, [{"p": 1, "q": 2}, {"p": 3, "q": 4}]) == tt


def _g(x):
    fa.debug.print("x = {x}", x=x)
    fa.debug.callback(lambda v: print("cb", v), x * 2)
    return fnp.sum(x ** 2)


def test_debug_print_eager_grad_jit_vmap(capsys):
    x = np.array([1.0, 2.0])
    _g(x)
    assert capsys.readouterr().out == "x = [1. 2.]\ncb [2. 4.]\n"
    np.testing.assert_allclose(fa.grad(_g)(x), 2 * x)
    assert capsys.readouterr().out == "x = [1. 2.]\ncb [2. 4.]\n"
    assert fa.jit(_g)(x) == 5.0
    assert capsys.readouterr().out == "x = [1. 2.]\ncb [2. 4.]\n"
    np.testing.assert_allclose(fa.jit(fa.grad(_g))(x), 2 * x)
    assert capsys.readouterr().out == "x = [1. 2.]\ncb [2. 4.]\n"
    fa.vmap(_g)(np.array([[1.0, 2.0], [3.0, 4.0]]))
    out = capsys.readouterr().out
    assert "x = [1. 2.]" in out and "x = [3. 4.]" in out and "cb [6. 8.]" in out


def test_debug_print_survives_dead_code_elimination(capsys):
    def f(x):
        y = fa.jit(lambda v: (fa.debug.print("inner {}", v), v * 2)[1])(x)
        return x + 0 * y
    fa.jit(f)(1.5)
    assert capsys.readouterr().out == "inner 1.5\n"


def test_debug_print_compiled(capsys, monkeypatch):
    monkeypatch.setenv("FUNCAD_DISABLE_JIT", "0")
    f = fa.jit(lambda x: (fa.debug.print("v={}", x.sum()), fnp.sin(x))[1])
    np.testing.assert_allclose(f(np.ones(3)), np.sin(np.ones(3)))
    assert capsys.readouterr().out == "v=3.0\n"


def test_pure_callback():
    def f(x):
        return fa.pure_callback(lambda v: np.sin(v) * 2, fa.ShapeDtypeStruct(x.shape, x.dtype),
                                x)
    x = np.array([0.1, 0.5, 1.0])
    np.testing.assert_allclose(f(x), 2 * np.sin(x))
    np.testing.assert_allclose(fa.jit(f)(x), 2 * np.sin(x))
    np.testing.assert_allclose(fa.vmap(f)(np.stack([x, -x])), 2 * np.sin(np.stack([x, -x])))
    np.testing.assert_allclose(fa.jit(fa.vmap(f))(np.stack([x, x])), 2 * np.sin(np.stack([x,
                                                                                          x])))
    with pytest.raises(TypeError, match="custom_jvp"):
        fa.grad(lambda v: fnp.sum(f(v)))(x)
    two = fa.jit(lambda v: fa.pure_callback(
        lambda a: (a.sum(), a * 2), (fa.ShapeDtypeStruct((), np.float64),
                                     fa.ShapeDtypeStruct((3,), np.float64)), v))(x)
    np.testing.assert_allclose(two[0], x.sum())
    np.testing.assert_allclose(two[1], 2 * x)
    with pytest.raises(TypeError, match="shape"):
        fa.pure_callback(lambda v: v[:2], fa.ShapeDtypeStruct((3,), np.float64), x)


def test_pure_callback_with_custom_jvp():
    @fa.custom_jvp
    def s(x):
        return fa.pure_callback(np.sin, fa.ShapeDtypeStruct(x.shape, x.dtype), x)

    @s.defjvp
    def _s_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        return s(x), t * fnp.cos(x)
    x = np.array([0.2, 0.7])
    np.testing.assert_allclose(fa.grad(lambda v: fnp.sum(s(v)))(x), np.cos(x))
    np.testing.assert_allclose(fa.jit(fa.grad(lambda v: fnp.sum(s(v))))(x), np.cos(x))


def test_linear_transpose():
    a = np.arange(6.0).reshape(2, 3)
    t = fa.linear_transpose(lambda x: a @ x, np.zeros(3))
    ct = np.array([1.0, -2.0])
    np.testing.assert_allclose(t(ct)[0], a.T @ ct)
    t2 = fa.linear_transpose(lambda x, y: {"s": x + 2 * y}, np.zeros(2), np.zeros(2))
    gx, gy = t2({"s": np.array([1.0, 3.0])})
    np.testing.assert_allclose(gx, [1.0, 3.0])
    np.testing.assert_allclose(gy, [2.0, 6.0])
    with pytest.raises(TypeError, match="not linear"):
        fa.linear_transpose(lambda x: x + 1.0, np.zeros(2))


def _h(x):
    y = checkpoint_name(fnp.sin(x), "a")
    z = checkpoint_name(fnp.cos(y), "b")
    return fnp.sum(z * y)


@pytest.mark.parametrize("policy", [
    None, fa.checkpoint_policies.everything_saveable, fa.checkpoint_policies.nothing_saveable,
    fa.checkpoint_policies.dots_saveable, fa.checkpoint_policies.checkpoint_dots,
    fa.checkpoint_policies.dots_with_no_batch_dims_saveable,
    fa.checkpoint_policies.save_only_these_names("a"),
    fa.checkpoint_policies.save_any_names_but_these("a"),
    fa.checkpoint_policies.save_anything_except_these_names("b"),
    fa.checkpoint_policies.save_from_both_policies(
        fa.checkpoint_policies.save_only_these_names("a"),
        fa.checkpoint_policies.dots_saveable),
    fa.checkpoint_policies.save_and_offload_only_these_names(names_which_can_be_saved=["a"]),
])
def test_checkpoint_policies_give_the_same_gradients(policy):
    x = np.array([0.3, -0.4, 1.1])
    hc = fa.checkpoint(_h, policy=policy)
    np.testing.assert_allclose(fa.grad(hc)(x), fa.grad(_h)(x), rtol=1e-13)
    np.testing.assert_allclose(fa.jit(fa.grad(hc))(x), fa.grad(_h)(x), rtol=1e-13)
    check_grads(hc, (x,), order=2)


def test_checkpoint_name_policies_choose_residuals(capsys):
    x = np.ones(3)
    n_nothing = len(saved_residuals(fa.checkpoint(_h), x))
    n_a = len(saved_residuals(fa.checkpoint(
        _h, policy=fa.checkpoint_policies.save_only_these_names("a")), x))
    n_all = len(saved_residuals(fa.checkpoint(
        _h, policy=fa.checkpoint_policies.everything_saveable), x))
    assert n_nothing < n_a < n_all
    assert fa.ad_checkpoint.checkpoint is fa.checkpoint
    print_saved_residuals(fa.checkpoint(_h), x)
    assert capsys.readouterr().out == "float64[3] from argument 0\n"


def test_checkpoint_name_is_identity_under_transforms():
    x = np.array([0.5, 2.0])
    f = lambda v: fnp.sum(checkpoint_name(v * v, "sq") * 3)  # noqa: E731
    check_grads(f, (x,), order=2)
    np.testing.assert_allclose(fa.vmap(lambda v: checkpoint_name(v, "n") * 2)(x), 2 * x)
    np.testing.assert_allclose(fa.jit(f)(x), f(x))


def test_saved_residuals_lists_scalar_residuals():
    # 0-d residuals were inlined as literals and missing from the list (the autodiff_remat
    # port; the counts are JAX's): a chain of n sins at a scalar saves its n cos values,
    # the notebook's recursive checkpointing of 8 (16) sins the argument and 3 (4) values
    def chain(n):
        def f(x):
            for _ in range(n):
                x = fnp.sin(x)
            return x
        return f

    def recursive(funs):
        if len(funs) == 1:
            return funs[0]
        if len(funs) == 2:
            f1, f2 = funs
            return lambda x: f1(f2(x))
        f1, f2 = recursive(funs[:len(funs) // 2]), recursive(funs[len(funs) // 2:])
        return lambda x: f1(fa.checkpoint(f2)(x))

    for n in (8, 16):
        res = saved_residuals(chain(n), 3.)
        assert len(res) == n and all(s.shape == () for s, _ in res)
    for n, want in ((8, 4), (16, 5)):
        res = saved_residuals(recursive([fnp.sin] * n), 3.)
        assert len(res) == want and res[0][1] == "from argument 0"
    # Python constants stay literals, not residuals; arrays are listed as before
    assert saved_residuals(lambda x: 2.0 * x + 1.0, 3.) == []
    assert len(saved_residuals(lambda x: fnp.sin(x), np.ones(3))) == 1
