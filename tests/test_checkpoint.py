"""checkpoint (remat) and checkpointed scans: same gradients, less memory."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import funcad as fa
import funcad.numpy as fnp
from funcad import lax
from funcad.test_util import check_grads

RNG = np.random.default_rng(1)


def block(x, W):
    h = fnp.tanh(W @ x)
    return fnp.sin(W @ h) * x


@pytest.mark.parametrize("policy", [None, "nothing", "dots", "everything"])
def test_checkpointed_gradients_equal_exactly(policy):
    x, W = RNG.standard_normal(3), RNG.standard_normal((3, 3))
    f = lambda x, W: fnp.sum(fa.checkpoint(block, policy=policy)(x, W) ** 2)  # noqa: E731
    f0 = lambda x, W: fnp.sum(block(x, W) ** 2)  # noqa: E731
    for a, b in zip(fa.grad(f, (0, 1))(x, W), fa.grad(f0, (0, 1))(x, W)):
        np.testing.assert_array_equal(a, b)
    check_grads(f, (x, W), order=2)
    for a, b in zip(fa.grad(fa.jit(f), (0, 1))(x, W), fa.grad(f0, (0, 1))(x, W)):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    np.testing.assert_allclose(fa.jit(fa.grad(f))(x, W), fa.grad(f0)(x, W), rtol=1e-12)
    np.testing.assert_allclose(fa.vmap(fa.grad(f), (0, None))(np.stack([x, x]), W),
                               np.stack([fa.grad(f0)(x, W)] * 2), rtol=1e-12)


def test_remat_alias_and_policy_errors():
    assert fa.remat is fa.checkpoint
    with pytest.raises(ValueError, match="unknown policy"):
        fa.checkpoint(block, policy="sometimes")


def test_checkpoint_recomputes_in_backward_pass():
    # With policy "nothing" the forward part stores no tanh residual; "dots" stores the
    # dot products.
    x, W = RNG.standard_normal(3), RNG.standard_normal((3, 3))
    f = lambda x: fnp.sum(fa.checkpoint(block)(x, W))  # noqa: E731
    _, f_vjp = fa.vjp(f, x)
    text = str(fa.make_jaxpr(fa.grad(f))(x))
    assert "checkpoint[policy=nothing]" in text
    fd = lambda x: fnp.sum(fa.checkpoint(block, policy="dots")(x, W))  # noqa: E731
    text = str(fa.make_jaxpr(fa.grad(fd))(x))
    assert "checkpoint[policy=dots]" in text


def chain(x, w, ck):
    c, _ = lax.scan(lambda c, wi: (c + fnp.tanh(wi * c), None), x, w, checkpoint=ck)
    return fnp.sum(c ** 2)


@pytest.mark.parametrize("ck", ["nothing", "dots", "sqrt", "recursive"])
def test_checkpointed_scan_equal_exactly(ck):
    w = RNG.standard_normal(37) * 0.3
    x = RNG.standard_normal(5)
    ref = fa.grad(chain, (0, 1))(x, w, None)
    for a, b in zip(fa.grad(chain, (0, 1))(x, w, ck), ref):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(fa.jit(fa.grad(chain, (0, 1)), static_argnums=2)(x, w, ck), ref):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_checkpointed_scan_reverse_and_check_grads():
    w = RNG.standard_normal(7) * 0.3
    x = RNG.standard_normal(3)

    def f(x, w, ck):
        c, ys = lax.scan(lambda c, wi: (fnp.sin(wi * c) + c, fnp.sum(c)), x, w,
                         reverse=True, checkpoint=ck)
        return fnp.sum(c) + fnp.sum(ys * w)

    for ck in ("sqrt", "recursive"):
        np.testing.assert_allclose(f(x, w, ck), f(x, w, None), rtol=1e-14)
        check_grads(lambda x, w: f(x, w, ck), (x, w), order=2)


_MEM_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import funcad as fa, funcad.numpy as fnp
    from funcad import lax
    ck = None if sys.argv[1] == "none" else sys.argv[1]
    x = np.linspace(-1.0, 1.0, 100_000)
    w = np.linspace(0.5, 1.5, 200)

    def loss(x):
        c, _ = lax.scan(lambda c, wi: (c + fnp.tanh(wi * c), None), x, w, checkpoint=ck)
        return fnp.sum(c)

    fa.grad(loss)(x[:10])  # warm up (imports, tracing machinery)
    def status(key):
        for line in open("/proc/self/status"):
            if line.startswith(key):
                return int(line.split()[1])
    before = status("VmRSS:")
    open("/proc/self/clear_refs", "w").write("5")  # reset the peak (VmHWM) to the RSS
    g = fa.grad(loss)(x)
    after = status("VmHWM:")
    print(json.dumps({"delta_kb": after - before, "checksum": float(g.sum())}))
""")


def _peak(ck: str) -> dict:
    out = subprocess.run([sys.executable, "-c", _MEM_SCRIPT, ck], capture_output=True,
                         text=True, timeout=300, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_checkpointing_uses_several_times_less_memory():
    plain, sqrt, rec = _peak("none"), _peak("sqrt"), _peak("recursive")
    assert plain["checksum"] == sqrt["checksum"] == rec["checksum"]
    # 200 steps x 100k floats: the plain gradient keeps every step's residuals.
    assert plain["delta_kb"] > 4 * sqrt["delta_kb"], (plain, sqrt)
    assert plain["delta_kb"] > 4 * rec["delta_kb"], (plain, rec)


def test_repeated_checkpoint_calls_share_one_program_and_keep_their_constants():
    # Each call traces again; structurally equal programs are interned, so their jvp and
    # remat split are computed once. Closed-over constants are inputs, not part of the
    # program: each call still sees its own.
    from funcad._ir import structural_key
    consts = [np.full(4, c) for c in (0.5, 2.0, -1.0)]

    def loss(x):
        h = x
        for c in consts:
            h = fa.checkpoint(lambda h: fnp.sin(h * c))(h)
        return fnp.sum(h)

    x = np.linspace(-1.0, 1.0, 4)
    jaxpr = fa.make_jaxpr(fa.grad(loss))(x).jaxpr
    inner = {id(e.params["jaxpr"]) for e in jaxpr.eqns if e.primitive.name == "checkpoint"}
    assert len(inner) <= 2       # the forward program, and the backward one
    g = fa.grad(loss)(x)
    h, dh = x, np.ones(4)
    for c in consts:
        dh = dh * np.cos(h * c) * c
        h = np.sin(h * c)
    ref = fa.grad(lambda x: fnp.sum(fnp.sin(fnp.sin(fnp.sin(x * consts[0]) * consts[1])
                                            * consts[2])))(x)
    np.testing.assert_allclose(g, ref, rtol=1e-14)
    np.testing.assert_allclose(fa.jit(fa.grad(loss))(x), ref, rtol=1e-14)
    # Literals and params are part of the key; variables are not.
    k1 = structural_key(fa.make_jaxpr(lambda x: fnp.sin(x) * 2.0)(x).jaxpr)
    k2 = structural_key(fa.make_jaxpr(lambda y: fnp.sin(y) * 2.0)(x).jaxpr)
    k3 = structural_key(fa.make_jaxpr(lambda x: fnp.sin(x) * 3.0)(x).jaxpr)
    k4 = structural_key(fa.make_jaxpr(lambda x: fnp.sum(x, axis=0))(np.ones((2, 2))).jaxpr)
    k5 = structural_key(fa.make_jaxpr(lambda x: fnp.sum(x, axis=1))(np.ones((2, 2))).jaxpr)
    assert k1 == k2 and k1 != k3 and k4 != k5
