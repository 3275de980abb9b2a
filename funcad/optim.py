"""Optimizers as optax-style gradient transformations: pure `init` / `update` pairs.

A `GradientTransformation` has `init(params) -> state` and `update(grads, state,
params=None) -> (updates, new_state)`; `apply_updates(params, updates)` adds the updates.
States are pytrees of arrays (namedtuples and tuples), so a whole training step, optimizer
included, can be `funcad.jit`-ed. Learning rates are floats or schedules: callables of the
step count (0 on the first update). Names, arguments and formulas follow optax.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

import funcad.numpy as fnp
from funcad._tree import tree_leaves, tree_map, tree_structure, tree_unflatten

__all__ = [
    "EmptyState",
    "GradientTransformation",
    "ScaleByAdamState",
    "ScaleByScheduleState",
    "TraceState",
    "adam",
    "adamw",
    "add_decayed_weights",
    "apply_updates",
    "chain",
    "clip_by_global_norm",
    "global_norm",
    "identity",
    "momentum",
    "scale",
    "scale_by_adam",
    "scale_by_learning_rate",
    "sgd",
    "trace",
]


class GradientTransformation(NamedTuple):
    """A pair of pure functions `init(params) -> state` and `update(grads, state, params)`."""

    init: Callable
    update: Callable


class EmptyState(NamedTuple):
    """The state of a stateless transformation."""


class TraceState(NamedTuple):
    """The momentum buffer of `trace`."""

    trace: Any


class ScaleByAdamState(NamedTuple):
    """Adam's step count (int32) and first and second moment estimates."""

    count: Any
    mu: Any
    nu: Any


class ScaleByScheduleState(NamedTuple):
    """The step count (int32) fed to a learning-rate schedule."""

    count: Any


def _zeros_like_tree(params):
    return tree_map(lambda p: np.zeros(np.shape(p), np.result_type(p)), params)


def _dtype(x):
    return x.dtype if hasattr(x, "dtype") else np.result_type(x)


def _count0():
    return np.zeros((), np.int32)


def identity() -> GradientTransformation:
    """The transformation that returns the gradients unchanged.

    Returns: a GradientTransformation.

    >>> identity().update({"w": np.ones(2)}, EmptyState())[0]
    {'w': array([1., 1.])}
    """
    return GradientTransformation(lambda params: EmptyState(),
                                  lambda updates, state, params=None: (updates, state))


def scale(step_size: float) -> GradientTransformation:
    """Multiply the updates by a constant.

    Args: step_size: the factor. Returns: a GradientTransformation.

    >>> scale(-0.5).update(np.ones(2), EmptyState())[0]
    array([-0.5, -0.5])
    """
    def update(updates, state, params=None):
        return tree_map(lambda g: g * step_size, updates), state
    return GradientTransformation(lambda params: EmptyState(), update)


def _scale_by_schedule(schedule: Callable) -> GradientTransformation:
    def init(params):
        return ScaleByScheduleState(_count0())

    def update(updates, state, params=None):
        step_size = schedule(state.count)
        updates = tree_map(lambda g: (g * step_size).astype(_dtype(g)), updates)
        return updates, ScaleByScheduleState(state.count + np.int32(1))
    return GradientTransformation(init, update)


def scale_by_learning_rate(learning_rate: float | Callable,
                           flip_sign: bool = True) -> GradientTransformation:
    """Multiply by -learning_rate (a float, or a schedule: a callable of the step count).

    Args:
      learning_rate: a float, or a callable of the int32 step count.
      flip_sign: multiply by -learning_rate (descent) rather than +learning_rate.
    Returns: a GradientTransformation.

    >>> scale_by_learning_rate(0.1).update(np.ones(2), EmptyState())[0]
    array([-0.1, -0.1])
    """
    sign = -1 if flip_sign else 1
    if callable(learning_rate):
        return _scale_by_schedule(lambda count: sign * learning_rate(count))
    return scale(sign * learning_rate)


def trace(decay: float, nesterov: bool = False) -> GradientTransformation:
    """Momentum: trace = g + decay * trace; the update is the trace (Nesterov: g + decay * trace).

    Args: decay: the momentum coefficient; nesterov: use Nesterov momentum.
    Returns: a GradientTransformation whose state is a TraceState.

    >>> t = trace(0.9)
    >>> u, s = t.update(np.ones(1), t.init(np.zeros(1)))
    >>> t.update(np.ones(1), s)[0]
    array([1.9])
    """
    def init(params):
        return TraceState(_zeros_like_tree(params))

    def update(updates, state, params=None):
        new_trace = tree_map(lambda g, t: g + decay * t, updates, state.trace)
        if nesterov:
            updates = tree_map(lambda g, t: g + decay * t, updates, new_trace)
        else:
            updates = new_trace
        return updates, TraceState(new_trace)
    return GradientTransformation(init, update)


def scale_by_adam(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8,
                  eps_root: float = 0.0) -> GradientTransformation:
    """Adam's rescaling: mu_hat / (sqrt(nu_hat + eps_root) + eps), with bias correction.

    Args: b1, b2: decay rates of the moment estimates; eps, eps_root: added outside and
      inside the square root. Returns: a GradientTransformation (state ScaleByAdamState).

    >>> t = scale_by_adam()
    >>> t.update(np.array([2.0]), t.init(np.zeros(1)))[0]
    array([1.])
    """
    def init(params):
        return ScaleByAdamState(_count0(), _zeros_like_tree(params), _zeros_like_tree(params))

    def update(updates, state, params=None):
        mu = tree_map(lambda g, m: b1 * m + (1 - b1) * g, updates, state.mu)
        nu = tree_map(lambda g, v: b2 * v + (1 - b2) * (g * g), updates, state.nu)
        count = state.count + np.int32(1)
        c = fnp.asarray(count).astype(np.float64)
        bc1 = 1 - fnp.power(b1, c)
        bc2 = 1 - fnp.power(b2, c)
        updates = tree_map(
            lambda m, v: ((m / bc1) / (fnp.sqrt(v / bc2 + eps_root) + eps)).astype(
                _dtype(m)), mu, nu)
        return updates, ScaleByAdamState(count, mu, nu)
    return GradientTransformation(init, update)


def add_decayed_weights(weight_decay: float = 0.0) -> GradientTransformation:
    """Add weight_decay * params to the updates (decoupled weight decay).

    Args: weight_decay: the coefficient. Returns: a GradientTransformation; its update
      needs `params`.

    >>> add_decayed_weights(0.1).update(np.ones(1), EmptyState(), np.full(1, 2.0))[0]
    array([1.2])
    """
    def update(updates, state, params=None):
        if params is None:
            raise ValueError("add_decayed_weights (adamw) needs the parameters: call "
                             "update(grads, state, params)")
        return tree_map(lambda g, p: g + weight_decay * p, updates, params), state
    return GradientTransformation(lambda params: EmptyState(), update)


def global_norm(updates: Any) -> Any:
    """The L2 norm of all leaves of a pytree taken together.

    Args: updates: a pytree of arrays. Returns: a scalar.

    >>> float(global_norm({"a": np.array([3.0]), "b": np.array([4.0])}))
    5.0
    """
    return fnp.sqrt(sum(fnp.sum(fnp.square(x)) for x in tree_leaves(updates)))


def clip_by_global_norm(max_norm: float) -> GradientTransformation:
    """Scale the updates by max_norm / global_norm when their global norm exceeds max_norm.

    Args: max_norm: the largest global norm let through unchanged.
    Returns: a stateless GradientTransformation.

    >>> clip_by_global_norm(1.0).update(np.array([3.0, 4.0]), EmptyState())[0]
    array([0.6, 0.8])
    """
    def update(updates, state, params=None):
        g_norm = global_norm(updates)
        keep = g_norm < max_norm
        # Guard the division: g_norm may be 0 (then max_norm <= 0 and the updates are 0).
        denom = fnp.where(fnp.logical_or(keep, g_norm == 0), 1.0, g_norm)
        factor = fnp.where(keep, 1.0, max_norm / denom)
        return tree_map(lambda g: (g * factor).astype(_dtype(g)), updates), state
    return GradientTransformation(lambda params: EmptyState(), update)


def chain(*transforms: GradientTransformation) -> GradientTransformation:
    """Apply transformations one after the other; the state is the tuple of their states.

    Args: *transforms: GradientTransformations, applied in order.
    Returns: a GradientTransformation.

    >>> opt = chain(clip_by_global_norm(1.0), scale(-0.1))
    >>> opt.update(np.array([3.0, 4.0]), opt.init(np.zeros(2)))[0]
    array([-0.06, -0.08])
    """
    def init(params):
        return tuple(t.init(params) for t in transforms)

    def update(updates, state, params=None):
        if len(state) != len(transforms):
            raise ValueError(f"chain of {len(transforms)} transformations got a state of "
                             f"length {len(state)}")
        new_state = []
        for t, s in zip(transforms, state, strict=True):
            updates, s = t.update(updates, s, params)
            new_state.append(s)
        return updates, tuple(new_state)
    return GradientTransformation(init, update)


def sgd(learning_rate: float | Callable, momentum: float | None = None,
        nesterov: bool = False) -> GradientTransformation:
    """Stochastic gradient descent, optionally with (Nesterov) momentum, as in optax.

    Args:
      learning_rate: a float or a schedule (callable of the step count).
      momentum: the momentum decay, or None for plain SGD.
      nesterov: use Nesterov momentum.
    Returns: a GradientTransformation.

    >>> opt = sgd(0.1)
    >>> apply_updates(np.ones(2), opt.update(np.ones(2), opt.init(np.ones(2)))[0])
    array([0.9, 0.9])
    """
    first = trace(momentum, nesterov) if momentum is not None else identity()
    return chain(first, scale_by_learning_rate(learning_rate))


def momentum(learning_rate: float | Callable, beta: float = 0.9) -> GradientTransformation:
    """Heavy-ball momentum: trace = g + beta * trace, update = -learning_rate * trace.

    Args: learning_rate: a float or a schedule; beta: the momentum decay.
    Returns: a GradientTransformation.

    >>> opt = momentum(1.0, beta=0.5)
    >>> u, s = opt.update(np.ones(1), opt.init(np.zeros(1)))
    >>> opt.update(np.ones(1), s)[0]
    array([-1.5])
    """
    return chain(trace(beta), scale_by_learning_rate(learning_rate))


def adam(learning_rate: float | Callable, b1: float = 0.9, b2: float = 0.999,
         eps: float = 1e-8) -> GradientTransformation:
    """Adam, as in optax: -learning_rate * mu_hat / (sqrt(nu_hat) + eps).

    Args:
      learning_rate: a float or a schedule (callable of the step count).
      b1, b2: decay rates of the first and second moment estimates.
      eps: added to the denominator.
    Returns: a GradientTransformation.

    >>> opt = adam(0.1)
    >>> opt.update(np.array([5.0]), opt.init(np.zeros(1)))[0]
    array([-0.1])
    """
    return chain(scale_by_adam(b1, b2, eps), scale_by_learning_rate(learning_rate))


def adamw(learning_rate: float | Callable, b1: float = 0.9, b2: float = 0.999,
          eps: float = 1e-8, weight_decay: float = 1e-4) -> GradientTransformation:
    """Adam with decoupled weight decay: -lr * (adam update + weight_decay * params).

    Args:
      learning_rate: a float or a schedule (callable of the step count).
      b1, b2, eps: as in `adam`.
      weight_decay: the decay coefficient; `update` then needs `params`.
    Returns: a GradientTransformation.

    >>> opt = adamw(0.1, weight_decay=0.5)
    >>> p = np.array([2.0])
    >>> opt.update(np.array([5.0]), opt.init(p), p)[0]
    array([-0.2])
    """
    return chain(scale_by_adam(b1, b2, eps), add_decayed_weights(weight_decay),
                 scale_by_learning_rate(learning_rate))


def apply_updates(params: Any, updates: Any) -> Any:
    """params + updates, leaf by leaf, keeping each parameter's dtype.

    Args: params, updates: pytrees of the same structure. Returns: the new params.

    >>> apply_updates({"w": np.ones(2)}, {"w": np.array([0.5, -1.0])})
    {'w': array([1.5, 0. ])}
    """
    if tree_structure(params) != tree_structure(updates):
        raise ValueError(f"apply_updates: params and updates have different structures: "
                         f"{tree_structure(params)} vs {tree_structure(updates)}")
    leaves = [(p + u).astype(_dtype(p)) if p is not None else None
              for p, u in zip(tree_leaves(params), tree_leaves(updates), strict=True)]
    return tree_unflatten(tree_structure(params), leaves)
