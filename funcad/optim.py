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
from funcad._array import at_top_level, to_array
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


def _leave(tree: Any) -> Any:
    """Outside transforms, the leaves of what an optimizer returns are funcad.Arrays."""
    if at_top_level():
        return tree_map(to_array, tree)
    return tree


def _transformation(init: Callable, update: Callable) -> GradientTransformation:
    """funcad's transformations: their states and updates are made of Arrays."""
    def init_fn(params):
        return _leave(init(params))

    def update_fn(updates, state, params=None, **extra):
        return _leave(update(updates, state, params, **extra))

    return GradientTransformation(init_fn, update_fn)


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
    {'w': Array([1., 1.], dtype=float64)}
    """
    return _transformation(lambda params: EmptyState(),
                                  lambda updates, state, params=None: (updates, state))


def scale(step_size: float) -> GradientTransformation:
    """Multiply the updates by a constant.

    Args: step_size: the factor. Returns: a GradientTransformation.

    >>> scale(-0.5).update(np.ones(2), EmptyState())[0]
    Array([-0.5, -0.5], dtype=float64)
    """
    def update(updates, state, params=None):
        return tree_map(lambda g: g * step_size, updates), state
    return _transformation(lambda params: EmptyState(), update)


def _scale_by_schedule(schedule: Callable) -> GradientTransformation:
    def init(params):
        return ScaleByScheduleState(_count0())

    def update(updates, state, params=None):
        step_size = schedule(state.count)
        updates = tree_map(lambda g: (g * step_size).astype(_dtype(g)), updates)
        return updates, ScaleByScheduleState(state.count + np.int32(1))
    return _transformation(init, update)


def scale_by_learning_rate(learning_rate: float | Callable,
                           flip_sign: bool = True) -> GradientTransformation:
    """Multiply by -learning_rate (a float, or a schedule: a callable of the step count).

    Args:
      learning_rate: a float, or a callable of the int32 step count.
      flip_sign: multiply by -learning_rate (descent) rather than +learning_rate.
    Returns: a GradientTransformation.

    >>> scale_by_learning_rate(0.1).update(np.ones(2), EmptyState())[0]
    Array([-0.1, -0.1], dtype=float64)
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
    Array([1.9], dtype=float64)
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
    return _transformation(init, update)


def scale_by_adam(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8,
                  eps_root: float = 0.0) -> GradientTransformation:
    """Adam's rescaling: mu_hat / (sqrt(nu_hat + eps_root) + eps), with bias correction.

    Args: b1, b2: decay rates of the moment estimates; eps, eps_root: added outside and
      inside the square root. Returns: a GradientTransformation (state ScaleByAdamState).

    >>> t = scale_by_adam()
    >>> t.update(np.array([2.0]), t.init(np.zeros(1)))[0]
    Array([1.], dtype=float64)
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
    return _transformation(init, update)


def add_decayed_weights(weight_decay: float = 0.0) -> GradientTransformation:
    """Add weight_decay * params to the updates (decoupled weight decay).

    Args: weight_decay: the coefficient. Returns: a GradientTransformation; its update
      needs `params`.

    >>> add_decayed_weights(0.1).update(np.ones(1), EmptyState(), np.full(1, 2.0))[0]
    Array([1.2], dtype=float64)
    """
    def update(updates, state, params=None):
        if params is None:
            raise ValueError("add_decayed_weights (adamw) needs the parameters: call "
                             "update(grads, state, params)")
        return tree_map(lambda g, p: g + weight_decay * p, updates, params), state
    return _transformation(lambda params: EmptyState(), update)


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
    Array([0.6, 0.8], dtype=float64)
    """
    def update(updates, state, params=None):
        g_norm = global_norm(updates)
        keep = g_norm < max_norm
        # Guard the division: g_norm may be 0 (then max_norm <= 0 and the updates are 0).
        denom = fnp.where(fnp.logical_or(keep, g_norm == 0), 1.0, g_norm)
        factor = fnp.where(keep, 1.0, max_norm / denom)
        return tree_map(lambda g: (g * factor).astype(_dtype(g)), updates), state
    return _transformation(lambda params: EmptyState(), update)


def chain(*transforms: GradientTransformation) -> GradientTransformation:
    """Apply transformations one after the other; the state is the tuple of their states.

    Args: *transforms: GradientTransformations, applied in order.
    Returns: a GradientTransformation.

    >>> opt = chain(clip_by_global_norm(1.0), scale(-0.1))
    >>> opt.update(np.array([3.0, 4.0]), opt.init(np.zeros(2)))[0]
    Array([-0.06, -0.08], dtype=float64)
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
    return _transformation(init, update)


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
    Array([0.9, 0.9], dtype=float64)
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
    Array([-1.5], dtype=float64)
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
    Array([-0.1], dtype=float64)
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
    Array([-0.2], dtype=float64)
    """
    return chain(scale_by_adam(b1, b2, eps), add_decayed_weights(weight_decay),
                 scale_by_learning_rate(learning_rate))


def apply_updates(params: Any, updates: Any) -> Any:
    """params + updates, leaf by leaf, keeping each parameter's dtype.

    Args: params, updates: pytrees of the same structure. Returns: the new params.

    >>> apply_updates({"w": np.ones(2)}, {"w": np.array([0.5, -1.0])})
    {'w': Array([1.5, 0. ], dtype=float64)}
    """
    if tree_structure(params) != tree_structure(updates):
        raise ValueError(f"apply_updates: params and updates have different structures: "
                         f"{tree_structure(params)} vs {tree_structure(updates)}")
    leaves = [(p + u).astype(_dtype(p)) if p is not None else None
              for p, u in zip(tree_leaves(params), tree_leaves(updates), strict=True)]
    return _leave(tree_unflatten(tree_structure(params), leaves))


# ----------------------------------------------------------------------------------------
# More of optax (issue 10): type names, losses, schedules, transformations and optimizers.

import functools as _functools  # noqa: E402
import inspect as _inspect  # noqa: E402
import types as _types  # noqa: E402

Params = Any  # a pytree of arrays
Updates = Any  # a pytree of arrays with the structure of Params
OptState = Any  # a pytree of arrays (an optimizer's state)
Schedule = Callable[[Any], Any]  # step count -> value
ScalarOrSchedule = Any  # float | Schedule
TransformInitFn = Callable[[Params], OptState]
TransformUpdateFn = Callable[..., tuple]
GradientTransformationExtraArgs = GradientTransformation

# -- losses (elementwise unless a class axis is reduced, as in optax) ---------------------


def _errors(predictions, targets):
    p = fnp.asarray(predictions)
    return p if targets is None else p - targets


def l2_loss(predictions: Any, targets: Any | None = None) -> Any:
    """0.5 * (predictions - targets) ** 2, elementwise."""
    e = _errors(predictions, targets)
    return 0.5 * (e * e)


def squared_error(predictions: Any, targets: Any | None = None) -> Any:
    """(predictions - targets) ** 2, elementwise."""
    e = _errors(predictions, targets)
    return e * e


def huber_loss(predictions: Any, targets: Any | None = None, delta: float = 1.0) -> Any:
    """Quadratic for |error| <= delta, linear beyond, elementwise."""
    e = _errors(predictions, targets)
    abs_e = fnp.abs(e)
    quadratic = fnp.minimum(abs_e, delta)
    linear = abs_e - quadratic
    return 0.5 * quadratic * quadratic + delta * linear


def sigmoid_binary_cross_entropy(logits: Any, labels: Any) -> Any:
    """Binary cross-entropy of sigmoid(logits) against labels in [0, 1], elementwise."""
    from funcad.nn import log_sigmoid
    logits = fnp.asarray(logits)
    return -labels * log_sigmoid(logits) - (1.0 - labels) * log_sigmoid(-logits)


def softmax_cross_entropy(logits: Any, labels: Any, axis: int = -1,
                          where: Any = None) -> Any:
    """-sum(labels * log_softmax(logits)) over the class axis."""
    from funcad.nn import log_softmax
    terms = labels * log_softmax(logits, axis=axis)
    if where is not None:
        terms = fnp.where(where, terms, 0.0)
    return -fnp.sum(terms, axis=axis)


def softmax_cross_entropy_with_integer_labels(logits: Any, labels: Any, axis: int = -1,
                                              where: Any = None) -> Any:
    """Cross-entropy of softmax(logits) against integer class labels."""
    from funcad.api import stop_gradient
    logits = fnp.asarray(logits)
    axis = axis % fnp.ndim(logits)
    shifted = logits - stop_gradient(fnp.max(logits, axis=axis, keepdims=True))
    idx = fnp.expand_dims(fnp.asarray(labels), axis)
    label_logits = fnp.squeeze(fnp.take_along_axis(shifted, idx, axis=axis), axis)
    log_norm = fnp.log(fnp.sum(fnp.exp(shifted), axis=axis))
    out = log_norm - label_logits
    return out if where is None else fnp.where(where, out, 0.0)


losses = _types.SimpleNamespace(
    l2_loss=l2_loss, squared_error=squared_error, huber_loss=huber_loss,
    sigmoid_binary_cross_entropy=sigmoid_binary_cross_entropy,
    softmax_cross_entropy=softmax_cross_entropy,
    softmax_cross_entropy_with_integer_labels=softmax_cross_entropy_with_integer_labels)

# -- schedules: callables of the step count ------------------------------------------------


def constant_schedule(value: Any) -> Schedule:
    """The schedule that is always `value`."""
    return lambda count: value


def polynomial_schedule(init_value: Any, end_value: Any, power: Any, transition_steps: int,
                        transition_begin: int = 0) -> Schedule:
    """From init_value to end_value along (1 - t)**power over transition_steps steps."""
    if transition_steps <= 0:
        return constant_schedule(init_value)

    def schedule(count):
        c = fnp.clip(fnp.asarray(count) - transition_begin, 0, transition_steps)
        frac = 1.0 - c / transition_steps
        return (init_value - end_value) * (frac ** power) + end_value
    return schedule


def linear_schedule(init_value: Any, end_value: Any, transition_steps: int,
                    transition_begin: int = 0) -> Schedule:
    """From init_value to end_value linearly over transition_steps steps."""
    return polynomial_schedule(init_value, end_value, 1, transition_steps, transition_begin)


def exponential_decay(init_value: float, transition_steps: int, decay_rate: float,
                      transition_begin: int = 0, staircase: bool = False,
                      end_value: float | None = None) -> Schedule:
    """init_value * decay_rate ** ((count - transition_begin) / transition_steps)."""
    if transition_steps <= 0:
        return constant_schedule(init_value)

    def schedule(count):
        decreased = fnp.asarray(count) - transition_begin
        p = decreased / transition_steps
        if staircase:
            p = fnp.floor(p)
        value = fnp.where(decreased <= 0, init_value, init_value * fnp.power(decay_rate, p))
        if end_value is not None:
            value = (fnp.maximum if decay_rate < 1 else fnp.minimum)(value, end_value)
        return value
    return schedule


def cosine_decay_schedule(init_value: float, decay_steps: int, alpha: float = 0.0,
                          exponent: float = 1.0) -> Schedule:
    """init_value * ((1 - alpha) * (0.5 (1 + cos(pi t / decay_steps))) ** exponent + alpha)."""
    if decay_steps <= 0:
        raise ValueError("cosine_decay_schedule: decay_steps must be positive")

    def schedule(count):
        c = fnp.minimum(fnp.asarray(count), decay_steps)
        cosine = 0.5 * (1.0 + fnp.cos(np.pi * c / decay_steps))
        return init_value * ((1.0 - alpha) * cosine ** exponent + alpha)
    return schedule


def join_schedules(schedules: Any, boundaries: Any) -> Schedule:
    """Schedule i from boundaries[i - 1] on, fed the steps counted from that boundary."""
    def schedule(step):
        step = fnp.asarray(step)
        output = schedules[0](step)
        for boundary, sched in zip(boundaries, schedules[1:]):
            output = fnp.where(step < boundary, output, sched(step - boundary))
        return output
    return schedule


def warmup_cosine_decay_schedule(init_value: float, peak_value: float, warmup_steps: int,
                                 decay_steps: int, end_value: float = 0.0,
                                 exponent: float = 1.0) -> Schedule:
    """Linear warmup to peak_value over warmup_steps, then cosine decay to end_value at
    decay_steps (counted from step 0)."""
    alpha = 0.0 if peak_value == 0.0 else end_value / peak_value
    return join_schedules([linear_schedule(init_value, peak_value, warmup_steps),
                           cosine_decay_schedule(peak_value, decay_steps - warmup_steps,
                                                 alpha, exponent)], [warmup_steps])


def piecewise_constant_schedule(init_value: float,
                                boundaries_and_scales: dict | None = None) -> Schedule:
    """init_value multiplied by scales[b] once the step reaches each boundary b."""
    items = sorted((boundaries_and_scales or {}).items())

    def schedule(count):
        count = fnp.asarray(count)
        v = init_value
        for b, s in items:
            v = fnp.where(count >= b, v * s, v)
        return v
    return schedule


schedules = _types.SimpleNamespace(
    constant_schedule=constant_schedule, polynomial_schedule=polynomial_schedule,
    linear_schedule=linear_schedule, exponential_decay=exponential_decay,
    cosine_decay_schedule=cosine_decay_schedule, join_schedules=join_schedules,
    warmup_cosine_decay_schedule=warmup_cosine_decay_schedule,
    piecewise_constant_schedule=piecewise_constant_schedule)

# -- transformations -----------------------------------------------------------------------


def scale_by_schedule(step_size_fn: Schedule) -> GradientTransformation:
    """Multiply the updates by step_size_fn(step count)."""
    return _scale_by_schedule(step_size_fn)


def clip(max_delta: float) -> GradientTransformation:
    """Clip every update element to [-max_delta, max_delta]."""
    def update(updates, state, params=None):
        return tree_map(lambda g: fnp.clip(g, -max_delta, max_delta), updates), state
    return _transformation(lambda params: EmptyState(), update)


class ScaleByRmsState(NamedTuple):
    """The running mean of squared gradients (and the step count)."""

    count: Any
    nu: Any


def scale_by_rms(decay: float = 0.9, eps: float = 1e-8, initial_scale: float = 0.0,
                 eps_in_sqrt: bool = True, bias_correction: bool = False
                 ) -> GradientTransformation:
    """Divide by the root of a running mean of squared gradients (RMSProp's rescaling)."""
    def init(params):
        return ScaleByRmsState(_count0(), tree_map(
            lambda p: np.full(np.shape(p), initial_scale, np.result_type(p)), params))

    def update(updates, state, params=None):
        nu = tree_map(lambda g, n: decay * n + (1 - decay) * (g * g), updates, state.nu)
        count = state.count + np.int32(1)
        nu_hat = nu
        if bias_correction:
            bc = 1 - fnp.power(decay, fnp.asarray(count).astype(np.float64))
            nu_hat = tree_map(lambda n: n / bc, nu)
        if eps_in_sqrt:
            out = tree_map(lambda g, n: (g / fnp.sqrt(n + eps)).astype(_dtype(g)), updates,
                           nu_hat)
        else:
            out = tree_map(lambda g, n: (g / (fnp.sqrt(n) + eps)).astype(_dtype(g)), updates,
                           nu_hat)
        return out, ScaleByRmsState(count, nu)
    return _transformation(init, update)


class ScaleByRStdDevState(NamedTuple):
    """Running means of gradients and squared gradients (centered RMSProp)."""

    count: Any
    mu: Any
    nu: Any


def scale_by_stddev(decay: float = 0.9, eps: float = 1e-8, initial_scale: float = 0.0,
                    eps_in_sqrt: bool = True, bias_correction: bool = False
                    ) -> GradientTransformation:
    """Divide by a running estimate of the gradients' standard deviation."""
    def init(params):
        return ScaleByRStdDevState(_count0(), _zeros_like_tree(params), tree_map(
            lambda p: np.full(np.shape(p), initial_scale, np.result_type(p)), params))

    def update(updates, state, params=None):
        mu = tree_map(lambda g, m: decay * m + (1 - decay) * g, updates, state.mu)
        nu = tree_map(lambda g, n: decay * n + (1 - decay) * (g * g), updates, state.nu)
        count = state.count + np.int32(1)
        mu_hat, nu_hat = mu, nu
        if bias_correction:
            bc = 1 - fnp.power(decay, fnp.asarray(count).astype(np.float64))
            mu_hat = tree_map(lambda m: m / bc, mu)
            nu_hat = tree_map(lambda n: n / bc, nu)
        if eps_in_sqrt:
            out = tree_map(lambda g, m, n: (g / fnp.sqrt(n - m * m + eps)).astype(_dtype(g)),
                           updates, mu_hat, nu_hat)
        else:
            out = tree_map(lambda g, m, n: (g / (fnp.sqrt(n - m * m) + eps)).astype(
                _dtype(g)), updates, mu_hat, nu_hat)
        return out, ScaleByRStdDevState(count, mu, nu)
    return _transformation(init, update)


class ScaleByRssState(NamedTuple):
    """The running sum of squared gradients (Adagrad)."""

    sum_of_squares: Any


def scale_by_rss(initial_accumulator_value: float = 0.1, eps: float = 1e-7
                 ) -> GradientTransformation:
    """Divide by the root of the running sum of squared gradients (Adagrad's rescaling)."""
    def init(params):
        return ScaleByRssState(tree_map(
            lambda p: np.full(np.shape(p), initial_accumulator_value, np.result_type(p)),
            params))

    def update(updates, state, params=None):
        ss = tree_map(lambda g, s: s + g * g, updates, state.sum_of_squares)

        def one(g, s):
            pos = s > 0
            inv = fnp.where(pos, 1.0 / fnp.sqrt(fnp.where(pos, s, 1.0) + eps), 0.0)
            return (inv * g).astype(_dtype(g))
        return tree_map(one, updates, ss), ScaleByRssState(ss)
    return _transformation(init, update)


class ScaleByLionState(NamedTuple):
    """Lion's step count and momentum."""

    count: Any
    mu: Any


def scale_by_lion(b1: float = 0.9, b2: float = 0.99, mu_dtype: Any = None
                  ) -> GradientTransformation:
    """Lion's update: sign((1 - b1) g + b1 mu), with mu = (1 - b2) g + b2 mu."""
    def init(params):
        mu = _zeros_like_tree(params)
        if mu_dtype is not None:
            mu = tree_map(lambda m: m.astype(mu_dtype), mu)
        return ScaleByLionState(_count0(), mu)

    def update(updates, state, params=None):
        out = tree_map(lambda g, m: fnp.sign((1 - b1) * g + b1 * m).astype(_dtype(g)),
                       updates, state.mu)
        mu = tree_map(lambda g, m: ((1 - b2) * g + b2 * m).astype(_dtype(m)), updates,
                      state.mu)
        return out, ScaleByLionState(state.count + np.int32(1), mu)
    return _transformation(init, update)


def _safe_norm(x, min_norm):
    norm2 = fnp.sum(x * x)
    big = norm2 > min_norm * min_norm
    # the where inside keeps the gradient finite at x = 0
    return fnp.where(big, fnp.sqrt(fnp.where(big, norm2, 1.0)), min_norm)


def scale_by_trust_ratio(min_norm: float = 0.0, trust_coefficient: float = 1.0,
                         eps: float = 0.0) -> GradientTransformation:
    """Scale each leaf's update by ||param|| / ||update|| (LARS/LAMB's trust ratio)."""
    def update(updates, state, params=None):
        if params is None:
            raise ValueError("scale_by_trust_ratio (lamb) needs the parameters: call "
                             "update(grads, state, params)")

        def one(u, p):
            p_norm = _safe_norm(p, min_norm)
            u_norm = _safe_norm(u, min_norm)
            zero = fnp.logical_or(p_norm == 0.0, u_norm == 0.0)
            ratio = trust_coefficient * p_norm / fnp.where(zero, 1.0, u_norm + eps)
            return (u * fnp.where(zero, 1.0, ratio)).astype(_dtype(u))
        return tree_map(one, updates, params), state
    return _transformation(lambda params: EmptyState(), update)


def flatten(inner: GradientTransformation) -> GradientTransformation:
    """Run `inner` on one vector: all leaves raveled and concatenated."""
    def ravel(tree):
        leaves = tree_leaves(tree)
        return fnp.concatenate([fnp.ravel(fnp.asarray(x)) for x in leaves]) if leaves else (
            np.zeros(0))

    def unravel(vec, like):
        leaves, out, i = tree_leaves(like), [], 0
        for x in leaves:
            n = int(np.prod(np.shape(x), dtype=np.int64))
            out.append(fnp.reshape(vec[i:i + n], np.shape(x)).astype(_dtype(x)))
            i += n
        return tree_unflatten(tree_structure(like), out)

    def init(params):
        return inner.init(ravel(params))

    def update(updates, state, params=None):
        flat_params = None if params is None else ravel(params)
        new, state = inner.update(ravel(updates), state, flat_params)
        return unravel(new, updates), state
    return _transformation(init, update)


class InjectHyperparamsState(NamedTuple):
    """inject_hyperparams' step count, current hyperparameters and the inner state."""

    count: Any
    hyperparams: Any
    inner_state: Any


def inject_hyperparams(inner_factory: Callable, static_args: Any = (),
                       hyperparam_dtype: Any = None) -> Callable:
    """Wrap an optimizer factory so that its numeric hyperparameters live in the state
    (state.hyperparams['learning_rate'] can be read and changed) and schedules given
    for them are evaluated at each step."""
    static = {static_args} if isinstance(static_args, str) else set(static_args)
    sig = _inspect.signature(inner_factory)

    @_functools.wraps(inner_factory)
    def wrapped(*args, **kwargs):
        bound = sig.bind(*args, **kwargs).arguments
        sched = {k: v for k, v in bound.items() if callable(v) and k not in static}
        numeric = {k: v for k, v in bound.items() if k not in static and k not in sched
                   and isinstance(v, (int, float, np.number, np.ndarray))
                   and not isinstance(v, bool)}
        other = {k: v for k, v in bound.items() if k not in sched and k not in numeric}

        def as_array(v):
            dt = hyperparam_dtype or (np.float64 if isinstance(v, (int, float)) else None)
            return fnp.asarray(v, dtype=dt)

        def hparams_at(count, stored):
            hp = dict(stored)
            hp.update({k: as_array(f(count)) for k, f in sched.items()})
            return hp

        def init(params):
            count = _count0()
            hp = hparams_at(count, {k: as_array(v) for k, v in numeric.items()})
            inner = inner_factory(**other, **hp)
            return InjectHyperparamsState(count, hp, inner.init(params))

        def update(updates, state, params=None):
            hp = hparams_at(state.count, {k: state.hyperparams[k] for k in numeric})
            inner = inner_factory(**other, **hp)
            updates, inner_state = inner.update(updates, state.inner_state, params)
            return updates, InjectHyperparamsState(state.count + np.int32(1), hp, inner_state)
        return _transformation(init, update)
    return wrapped


# -- optimizers --------------------------------------------------------------------------------


def rmsprop(learning_rate: ScalarOrSchedule, decay: float = 0.9, eps: float = 1e-8,
            initial_scale: float = 0.0, eps_in_sqrt: bool = True, centered: bool = False,
            momentum: float | None = None, nesterov: bool = False,
            bias_correction: bool = False) -> GradientTransformation:
    """RMSProp (centered: divide by a standard deviation estimate), optionally with
    momentum, as in optax."""
    rescale = (scale_by_stddev if centered else scale_by_rms)(
        decay, eps, initial_scale, eps_in_sqrt, bias_correction)
    parts = [rescale, scale_by_learning_rate(learning_rate)]
    if momentum is not None:
        parts.append(trace(momentum, nesterov))
    return chain(*parts)


def adagrad(learning_rate: ScalarOrSchedule, initial_accumulator_value: float = 0.1,
            eps: float = 1e-7) -> GradientTransformation:
    """Adagrad: updates divided by the root of the running sum of squared gradients."""
    return chain(scale_by_rss(initial_accumulator_value, eps),
                 scale_by_learning_rate(learning_rate))


def lion(learning_rate: ScalarOrSchedule, b1: float = 0.9, b2: float = 0.99,
         mu_dtype: Any = None, weight_decay: float = 1e-3,
         mask: Any = None) -> GradientTransformation:
    """Lion: the sign of an interpolated momentum, with decoupled weight decay."""
    if mask is not None:
        raise NotImplementedError("lion: mask= is not supported")
    return chain(scale_by_lion(b1, b2, mu_dtype), add_decayed_weights(weight_decay),
                 scale_by_learning_rate(learning_rate))


def lamb(learning_rate: ScalarOrSchedule, b1: float = 0.9, b2: float = 0.999,
         eps: float = 1e-6, eps_root: float = 0.0, weight_decay: float = 0.0,
         mask: Any = None) -> GradientTransformation:
    """LAMB: Adam with weight decay, rescaled per leaf by the trust ratio."""
    if mask is not None:
        raise NotImplementedError("lamb: mask= is not supported")
    return chain(scale_by_adam(b1, b2, eps, eps_root), add_decayed_weights(weight_decay),
                 scale_by_trust_ratio(), scale_by_learning_rate(learning_rate))


__all__ += [
    "GradientTransformationExtraArgs", "InjectHyperparamsState", "OptState", "Params",
    "ScalarOrSchedule", "Schedule", "ScaleByLionState", "ScaleByRStdDevState",
    "ScaleByRmsState", "ScaleByRssState", "TransformInitFn", "TransformUpdateFn", "Updates",
    "adagrad", "clip", "constant_schedule", "cosine_decay_schedule", "exponential_decay",
    "flatten", "huber_loss", "inject_hyperparams", "join_schedules", "l2_loss", "lamb",
    "linear_schedule", "lion", "losses", "piecewise_constant_schedule", "polynomial_schedule",
    "rmsprop", "scale_by_lion", "scale_by_rms", "scale_by_rss", "scale_by_schedule",
    "scale_by_stddev", "scale_by_trust_ratio", "schedules", "sigmoid_binary_cross_entropy",
    "softmax_cross_entropy", "softmax_cross_entropy_with_integer_labels", "squared_error",
    "warmup_cosine_decay_schedule",
]
