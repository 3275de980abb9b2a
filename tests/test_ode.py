"""funcad.experimental.ode.odeint: values against SciPy, adjoint gradients against finite
differences, jit and vmap against eager (jit runs its generated source as Python here)."""

from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp

import funcad as fa
import funcad.numpy as fnp
from funcad.experimental.ode import odeint


def _pendulum(y, t, a):
    return fnp.stack([y[1], -a * fnp.sin(y[0])])


Y0 = np.array([1.0, 0.0])
TS = np.linspace(0.0, 2.0, 5)
A = np.array(1.3)


def test_values_match_scipy():
    ys = odeint(_pendulum, Y0, TS, A)
    ref = solve_ivp(lambda t, y: [y[1], -1.3 * np.sin(y[0])], (0, 2), Y0, t_eval=TS,
                    rtol=1e-12, atol=1e-12).y.T
    np.testing.assert_allclose(ys, ref, atol=1e-7)
    ys2 = odeint(_pendulum, Y0, TS, A, rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(ys2, ref, atol=1e-10)
    # time-dependent right-hand side, exact solution y = exp(-t^2 / 2)
    ts = np.array([0.0, 0.5, 1.7])
    np.testing.assert_allclose(odeint(lambda y, t: -t * y, np.array([1.0]), ts)[:, 0],
                               np.exp(-ts ** 2 / 2), rtol=1e-7)


def _fd(f, x, eps=1e-6):
    x = np.asarray(x, float)
    out = np.zeros(x.shape)
    for i in np.ndindex(x.shape):
        e = np.zeros(x.shape)
        e[i] = eps
        out[i] = (f(x + e) - f(x - e)) / (2 * eps)
    return out


def test_adjoint_gradients():
    def loss(y0, t, a):
        return fnp.sum(odeint(_pendulum, y0, t, a) ** 2)
    g_y0, g_t, g_a = fa.grad(loss, (0, 1, 2))(Y0, TS, A)
    np.testing.assert_allclose(g_y0, _fd(lambda y: loss(y, TS, A), Y0), rtol=1e-5)
    np.testing.assert_allclose(g_t, _fd(lambda t: loss(Y0, t, A), TS), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(g_a, _fd(lambda a: loss(Y0, TS, a), A), rtol=1e-5)
    gj = fa.jit(fa.grad(loss, (0, 1, 2)))(Y0, TS, A)
    for x, y in zip(gj, (g_y0, g_t, g_a)):
        np.testing.assert_allclose(x, y, rtol=1e-10, atol=1e-13)


def test_jit_and_vmap():
    ys = odeint(_pendulum, Y0, TS, A)
    np.testing.assert_allclose(fa.jit(lambda y, a: odeint(_pendulum, y, TS, a))(Y0, A), ys,
                               rtol=1e-12, atol=1e-14)
    y0s = np.stack([Y0, 2 * Y0, -Y0])
    batched = fa.vmap(lambda y: odeint(_pendulum, y, TS, A))(y0s)
    for k in range(3):
        np.testing.assert_allclose(batched[k], odeint(_pendulum, y0s[k], TS, A), rtol=1e-12,
                                   atol=1e-14)


def test_pytree_state_and_forward_mode():
    def osc(s, t):
        return {"x": s["v"], "v": -s["x"]}
    out = odeint(osc, {"x": np.array(1.0), "v": np.array(0.0)}, np.array([0.0, np.pi / 2]))
    np.testing.assert_allclose(out["x"], [1.0, 0.0], atol=1e-7)
    np.testing.assert_allclose(out["v"], [0.0, -1.0], atol=1e-7)

    def x1(x0):
        return odeint(osc, {"x": x0, "v": np.array(0.0)}, np.array([0.0, 1.0]))["x"][-1]
    np.testing.assert_allclose(fa.grad(x1)(1.0), np.cos(1.0), rtol=1e-7)
    np.testing.assert_allclose(fa.jvp(x1, (1.0,), (1.0,))[1], np.cos(1.0), rtol=1e-7)


def test_mxstep_and_hmax():
    ys = odeint(lambda y, t: -y, np.array([1.0]), np.array([0.0, 1.0]), hmax=0.01)
    np.testing.assert_allclose(ys[-1, 0], np.exp(-1.0), rtol=1e-8)
    # too few steps: the solution stops short of the output time
    short = odeint(lambda y, t: -y, np.array([1.0]), np.array([0.0, 1.0]), mxstep=2)
    assert abs(short[-1, 0] - np.exp(-1.0)) > 1e-3
