"""funcad.experimental.ode: `odeint`, JAX's adaptive Dormand-Prince integrator.

The forward pass is a `lax.scan` over the output times whose body is a `lax.while_loop`
of adaptive Runge-Kutta (Dormand-Prince 5(4)) steps with 4th-order interpolation at the
output times. Reverse mode is the adjoint method (a `custom_vjp`): the augmented system
(y, dL/dy, dL/dt0, dL/dargs) is integrated backwards in time between output times. All of
it is ordinary funcad code, so it runs eagerly, under jit and under vmap.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable

import numpy as np

import funcad.numpy as fnp
from funcad import lax
from funcad._custom_derivatives import custom_vjp
from funcad._tree import tree_flatten, tree_map, tree_unflatten

__all__ = ["odeint"]


def _ravel(tree: Any):
    """(flat vector, unravel) of a pytree of arrays (the leaves' common float dtype)."""
    leaves, td = tree_flatten(tree)
    leaves = [fnp.asarray(x) for x in leaves]
    shapes = [fnp.shape(x) for x in leaves]
    sizes = [int(np.prod(s, dtype=np.int64)) for s in shapes]
    dtypes = [x.dtype for x in leaves]
    dt = np.result_type(*dtypes) if dtypes else np.dtype(np.float64)
    flat = fnp.concatenate([fnp.reshape(x, (-1,)).astype(dt) for x in leaves]) if leaves \
        else np.zeros(0, dt)

    def unravel(v):
        out, i = [], 0
        for s, n, d in zip(shapes, sizes, dtypes):
            out.append(fnp.reshape(v[i:i + n], s).astype(d))
            i += n
        return tree_unflatten(td, out)
    return flat, unravel


_ALPHA = np.array([1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0, 0.0])
_BETA = np.array([
    [1 / 5, 0, 0, 0, 0, 0, 0],
    [3 / 40, 9 / 40, 0, 0, 0, 0, 0],
    [44 / 45, -56 / 15, 32 / 9, 0, 0, 0, 0],
    [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729, 0, 0, 0],
    [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656, 0, 0],
    [35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0]])
_C_SOL = np.array([35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0])
_C_ERR = np.array([35 / 384 - 1951 / 21600, 0, 500 / 1113 - 22642 / 50085,
                   125 / 192 - 451 / 720, -2187 / 6784 + 12231 / 42400, 11 / 84 - 649 / 6300,
                   -1.0 / 60.0])
_C_MID = np.array([6025192743 / 30085553152 / 2, 0, 51252292925 / 65400821598 / 2,
                   -2691868925 / 45128329728 / 2, 187940372067 / 1594534317056 / 2,
                   -1776094331 / 19743644256 / 2, 11237099 / 235043384 / 2])


def _rk_step(func, y0, f0, t0, dt):
    ks = [f0]
    for i in range(1, 7):  # unrolled: 6 more stages
        k = fnp.stack(ks + [fnp.zeros_like(f0)] * (7 - len(ks)))
        yi = y0 + dt * fnp.dot(_BETA[i - 1].astype(f0.dtype), k)
        ks.append(func(yi, t0 + dt * _ALPHA[i - 1]))
    k = fnp.stack(ks)
    y1 = dt * fnp.dot(_C_SOL.astype(f0.dtype), k) + y0
    y1_err = dt * fnp.dot(_C_ERR.astype(f0.dtype), k)
    return y1, ks[-1], y1_err, k


def _interp_fit(y0, y1, k, dt):
    y_mid = y0 + dt * fnp.dot(_C_MID.astype(y0.dtype), k)
    dy0, dy1 = k[0], k[-1]
    a = -2.0 * dt * dy0 + 2.0 * dt * dy1 - 8.0 * y0 - 8.0 * y1 + 16.0 * y_mid
    b = 5.0 * dt * dy0 - 3.0 * dt * dy1 + 18.0 * y0 + 14.0 * y1 - 32.0 * y_mid
    c = -4.0 * dt * dy0 + dt * dy1 - 11.0 * y0 - 5.0 * y1 + 16.0 * y_mid
    return fnp.stack([a, b, c, dt * dy0, y0])


def _initial_step_size(func, t0, y0, order, rtol, atol, f0):
    scale = atol + fnp.abs(y0) * rtol
    d0 = fnp.linalg.norm(y0 / scale)
    d1 = fnp.linalg.norm(f0 / scale)
    small = fnp.logical_or(d0 < 1e-5, d1 < 1e-5)
    h0 = fnp.where(small, 1e-6, 0.01 * d0 / fnp.where(small, 1.0, d1))
    y1 = y0 + h0 * f0
    f1 = func(y1, t0 + h0)
    d2 = fnp.linalg.norm((f1 - f0) / scale) / h0
    tiny = fnp.logical_and(d1 <= 1e-15, d2 <= 1e-15)
    h1 = fnp.where(tiny, fnp.maximum(1e-6, h0 * 1e-3),
                   (0.01 / fnp.where(tiny, 1.0, fnp.maximum(d1, d2))) ** (1.0 / (order + 1.0)))
    return fnp.minimum(100.0 * h0, h1)


def _mean_error_ratio(err, rtol, atol, y0, y1):
    tol = atol + rtol * fnp.maximum(fnp.abs(y0), fnp.abs(y1))
    return fnp.sqrt(fnp.mean((err / tol) ** 2))


def _optimal_step_size(last_step, ratio, safety=0.9, ifactor=10.0, dfactor=0.2, order=5.0):
    dfactor = fnp.where(ratio < 1, 1.0, dfactor)
    safe_ratio = fnp.where(ratio == 0, 1.0, ratio)
    factor = fnp.minimum(ifactor, fnp.maximum(safe_ratio ** (-1.0 / order) * safety, dfactor))
    return fnp.where(ratio == 0, last_step * ifactor, last_step * factor)


def _integrate(func, rtol, atol, mxstep, hmax, y0, ts, *args):
    """odeint on a flat state vector y0."""
    def f(y, t):
        return func(y, t, *args)

    def scan_fun(carry, target_t):
        def cond_fun(state):
            i, _, _, t, dt, _, _ = state
            return fnp.logical_and(fnp.logical_and(t < target_t, i < mxstep), dt > 0)

        def body_fun(state):
            i, y, fy, t, dt, last_t, coeff = state
            next_y, next_f, next_err, k = _rk_step(f, y, fy, t, dt)
            next_t = t + dt
            ratio = _mean_error_ratio(next_err, rtol, atol, y, next_y)
            new_coeff = _interp_fit(y, next_y, k, dt)
            dt = fnp.clip(_optimal_step_size(dt, ratio), 0.0, hmax)
            ok = ratio <= 1.0
            new = [i + 1, next_y, next_f, next_t, dt, t, new_coeff]
            old = [i + 1, y, fy, t, dt, last_t, coeff]
            return [fnp.where(ok, a, b) for a, b in zip(new, old)]

        _, *carry = lax.while_loop(cond_fun, body_fun, [np.int64(0)] + list(carry))
        _, _, t, _, last_t, coeff = carry
        rel = (target_t - last_t) / fnp.where(t == last_t, 1.0, t - last_t)
        y_target = fnp.polyval(coeff, rel)
        return carry, y_target

    f0 = f(y0, ts[0])
    dt = fnp.clip(_initial_step_size(f, ts[0], y0, 4, rtol, atol, f0), 0.0, hmax)
    coeff = fnp.stack([y0] * 5)
    init = [y0, f0, ts[0], dt, ts[0], coeff]
    _, ys = lax.scan(scan_fun, init, ts[1:])
    return fnp.concatenate([y0[None], ys])


def odeint(func: Callable, y0: Any, t: Any, *args: Any, rtol: float = 1.4e-8,
           atol: float = 1.4e-8, mxstep: float = np.inf, hmax: float = np.inf) -> Any:
    """Solve dy/dt = func(y, t, *args) from y(t[0]) = y0 at the times t (increasing).

    Adaptive Dormand-Prince 5(4) steps with error control (rtol, atol), at most mxstep
    steps between output times and steps no longer than hmax. y0 may be a pytree; returns
    the states at each time (a leading axis of len(t)). Differentiable with respect to
    y0, t and args by the adjoint method.

    >>> import numpy as np, funcad.numpy as fnp
    >>> ys = odeint(lambda y, t: -y, np.array([1.0]), np.array([0.0, 1.0]))
    >>> bool(abs(ys[-1, 0] - np.exp(-1.0)) < 1e-7)
    True
    """
    for a in tree_flatten(args)[0]:
        if callable(a):
            raise TypeError("odeint: extra arguments must be arrays (or pytrees of arrays), "
                            "not functions; close over functions in `func` instead")
    flat_y0, unravel = _ravel(y0)
    if not np.issubdtype(flat_y0.dtype, np.inexact):
        flat_y0 = flat_y0.astype(np.float64)
    ts = fnp.asarray(t).astype(flat_y0.dtype)

    def flat_func(y, tt, *a):
        return _ravel(func(unravel(y), tt, *a))[0].astype(flat_y0.dtype)
    ys = _odeint(flat_func, float(rtol), float(atol), mxstep, hmax, flat_y0, ts, *args)
    return fnp.stack([unravel(ys[i]) for i in range(fnp.shape(ys)[0])]) if not isinstance(
        y0, (dict, list, tuple)) and fnp.ndim(y0) == 0 else _unravel_rows(ys, unravel)


def _unravel_rows(ys, unravel):
    rows = [unravel(ys[i]) for i in range(fnp.shape(ys)[0])]
    return tree_map(lambda *xs: fnp.stack(xs), *rows)


@partial(custom_vjp, nondiff_argnums=(0, 1, 2, 3, 4))
def _odeint(func, rtol, atol, mxstep, hmax, y0, ts, *args):
    return _integrate(func, rtol, atol, mxstep, hmax, y0, ts, *args)


def _odeint_fwd(func, rtol, atol, mxstep, hmax, y0, ts, *args):
    ys = _integrate(func, rtol, atol, mxstep, hmax, y0, ts, *args)
    return ys, (ys, ts, args)


def _odeint_rev(func, rtol, atol, mxstep, hmax, res, g):
    from funcad.api import vjp
    ys, ts, args = res
    n = fnp.shape(ys)[0]
    args_flat, unravel_args = _ravel(args)
    ny = fnp.shape(ys)[1]

    def aug_dynamics(state, t, *a):
        y, y_bar = state[:ny], state[ny:2 * ny]
        # t is negative time here: negate it back.
        y_dot, pullback = vjp(lambda yy, tt, aa: func(yy, tt, *unravel_args(aa)), y, -t,
                              args_flat)
        cy, ct, ca = pullback(y_bar)
        return fnp.concatenate([-y_dot, cy, fnp.reshape(ct, (1,)), ca])

    def scan_fun(carry, i):
        y_bar, t0_bar, args_bar = carry
        t_bar = fnp.dot(func(ys[i], ts[i], *args), g[i])
        t0_bar = t0_bar - t_bar
        state = fnp.concatenate([ys[i], y_bar, fnp.reshape(t0_bar, (1,)), args_bar])
        span = fnp.stack([-ts[i], -ts[i - 1]])
        out = _integrate(aug_dynamics, rtol, atol, mxstep, hmax, state, span)[1]
        y_bar = out[ny:2 * ny] + g[i - 1]
        t0_bar = out[2 * ny]
        args_bar = out[2 * ny + 1:]
        return (y_bar, t0_bar, args_bar), t_bar

    init = (g[-1], fnp.zeros((), ys.dtype), fnp.zeros_like(args_flat).astype(ys.dtype))
    (y_bar, t0_bar, args_bar), rev_ts_bar = lax.scan(scan_fun, init,
                                                     fnp.arange(n - 1, 0, -1))
    ts_bar = fnp.concatenate([fnp.reshape(t0_bar, (1,)), rev_ts_bar[::-1]])
    args_bar = unravel_args(args_bar.astype(args_flat.dtype)) if args else ()
    return (y_bar, ts_bar, *args_bar)


_odeint.defvjp(_odeint_fwd, _odeint_rev)
