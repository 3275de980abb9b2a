"""Pickling jaxprs (funcad._serialize): round trips, identity, versions, refusals."""

import pickle

import numpy as np
import pytest

import funcad as fa
import funcad.numpy as fnp
from funcad import _serialize, lax, nn
from funcad._core import Primitive, all_primitives
from funcad._ir import JaxprEqn, Jaxpr, Var, eval_jaxpr, typecheck_jaxpr
from funcad.lowering.numba.compile import compile_jaxpr

RNG = np.random.default_rng(0)
W = RNG.normal(size=(3, 4))
X = RNG.normal(size=(5, 3))


def mlp_loss(w, x):
    return fnp.mean(nn.softplus(nn.relu(x @ w) - 0.5) ** 2)


def ode_like(w, x):
    def body(i, c):
        return c + 0.1 * fnp.tanh(c @ w[:, :3])
    y = lax.fori_loop(0, 4, body, x)
    z = lax.scan(lambda c, r: (c * r, c.sum()), y[0], y)[1]
    return lax.cond(z.sum() > 0, lambda a: a * 2.0, lambda a: a - 1.0, z).sum()


CASES = {
    "grad_mlp": (fa.grad(mlp_loss), (W, X)),
    "vmap_grad_mlp": (fa.vmap(fa.grad(mlp_loss), in_axes=(None, 0)), (W, X[:, None, :])),
    "control_flow_grad": (fa.grad(ode_like), (W, X)),
    "checkpoint_jit": (fa.jit(fa.checkpoint(lambda w, x: fnp.sin(x @ w).sum())), (W, X)),
}


def _walk(jaxpr):
    yield jaxpr
    for e in jaxpr.eqns:
        for v in e.params.values():
            for j in (v if isinstance(v, tuple) else (v,)):
                inner = getattr(j, "jaxpr", j)
                if isinstance(inner, Jaxpr):
                    yield from _walk(inner)


@pytest.mark.parametrize("name", list(CASES))
def test_round_trip_prints_typechecks_and_evaluates_the_same(name):
    fun, args = CASES[name]
    closed = fa.make_jaxpr(fun)(*args)
    back = pickle.loads(pickle.dumps(closed))
    assert str(back) == str(closed)
    typecheck_jaxpr(back.jaxpr)   # fails if variables lost their identity
    want = eval_jaxpr(closed.jaxpr, closed.consts, args)
    got = eval_jaxpr(back.jaxpr, back.consts, args)
    for a, b in zip(want, got, strict=True):
        np.testing.assert_array_equal(a, b)
    # Primitives are the receiving process's registered objects, by name.
    for j in _walk(back.jaxpr):
        for e in j.eqns:
            assert e.primitive is all_primitives[e.primitive.name]


def test_vars_keep_identity_within_one_pickle():
    closed = fa.make_jaxpr(lambda x: fnp.sin(x) * fnp.sin(x) + x)(1.0)
    back = _serialize.loads(_serialize.dumps(closed.jaxpr))
    sin1, sin2, mul, add = back.eqns
    assert mul.inputs[0] is sin1.out_binders[0] and mul.inputs[1] is sin2.out_binders[0]
    assert sin1.inputs[0] is back.invars[0] and add.inputs[1] is back.invars[0]
    assert back.outvars[0] is add.out_binders[0]
    # Two pickles never share variables.
    again = _serialize.loads(_serialize.dumps(closed.jaxpr))
    assert again.invars[0] is not back.invars[0]


def test_unpickled_program_compiles_and_runs_like_the_original():
    prog = fa.jit(fa.grad(mlp_loss))
    (flat, consts, _, _), leaves = prog.trace(W, X)
    back = _serialize.loads(_serialize.dumps(flat))
    want = compile_jaxpr(flat, "mlp").run(*consts, *leaves)
    got = compile_jaxpr(back, "mlp").run(*consts, *leaves)
    np.testing.assert_array_equal(want[0], got[0])


def test_format_version_is_checked(monkeypatch):
    closed = fa.make_jaxpr(fnp.sin)(1.0)
    monkeypatch.setattr(_serialize, "FORMAT_VERSION", 999)
    data = pickle.dumps(closed.jaxpr)
    monkeypatch.setattr(_serialize, "FORMAT_VERSION", 1)
    with pytest.raises(_serialize.JaxprFormatError, match="format version 999"):
        pickle.loads(data)
    with pytest.raises(_serialize.JaxprFormatError, match="not a funcad program"):
        _serialize.loads(pickle.dumps("hello"))


def test_a_batched_program_keeps_what_it_batches():
    # vmap of a scan: the batched body remembers its unbatched body (Jaxpr.batched_from),
    # which the lowering uses to run example by example; workers get it too.
    from funcad import lax
    f = fa.vmap(lambda s: lax.scan(lambda c, _: (fnp.sin(c) * 0.5, None), s, None,
                                   length=3)[0])
    jaxpr = fa.make_jaxpr(f)(np.ones((4, 2))).jaxpr
    back = _serialize.loads(_serialize.dumps(jaxpr))
    (scan,) = [e for e in back.eqns if e.primitive.name == "scan"]
    body, size, in_b, out_b = scan.params["jaxpr"].batched_from
    assert size == 4 and in_b == (True,) and out_b == (True,)
    assert [a.shape for a in body.in_avals] == [(2,)]


def test_unknown_primitive_is_a_clear_error():
    v = Var(fa.make_jaxpr(fnp.sin)(1.0).jaxpr.invars[0].aval)
    out = Var(v.aval)
    alien = Primitive("not_a_funcad_primitive")
    j = Jaxpr((), (v,), (JaxprEqn(alien, (v,), {}, (out,)),), (out,))
    with pytest.raises(_serialize.JaxprFormatError, match="not_a_funcad_primitive"):
        pickle.loads(pickle.dumps(j))


def test_a_callable_param_is_refused_naming_the_primitive_and_param():
    closed = fa.make_jaxpr(fnp.sin)(1.0)
    e = closed.jaxpr.eqns[0]
    bad = JaxprEqn(e.primitive, e.inputs, {"hook": lambda x: x}, e.out_binders)
    j = Jaxpr((), closed.jaxpr.invars, (bad,), closed.jaxpr.outvars)
    with pytest.raises(_serialize.JaxprPickleError, match="'hook' of a 'sin' equation"):
        pickle.dumps(j)


@fa.custom_vjp
def clip_grad(x):
    return fnp.sin(x)


def _clip_fwd(x):
    return clip_grad(x), fnp.cos(x)     # calls itself: its inner rules are traced lazily


clip_grad.defvjp(_clip_fwd, lambda c, g: (fnp.clip(c * g, -1.0, 1.0),))


def test_lazy_custom_rules_are_refused_or_stubbed_for_evaluation():
    # The call traced fwd, whose inner call of clip_grad holds lazy (Python) rules.
    closed = fa.make_jaxpr(lambda x: clip_grad(x) * 2.0)(X[0])
    with pytest.raises(_serialize.JaxprPickleError, match="rule of clip_grad"):
        pickle.dumps(closed)
    back = _serialize.loads(_serialize.dumps(closed, for_eval=True))
    np.testing.assert_array_equal(eval_jaxpr(back.jaxpr, back.consts, [X[0]])[0],
                                  eval_jaxpr(closed.jaxpr, closed.consts, [X[0]])[0])
    # Evaluating is fine; differentiating through the missing rule is a clear error.
    def f(x):
        return eval_jaxpr(back.jaxpr, back.consts, [x])[0].sum()
    with pytest.raises(fa.FuncadError, match="shipped for evaluation only"):
        fa.grad(lambda x: fa.grad(f)(x).sum())(X[0])
