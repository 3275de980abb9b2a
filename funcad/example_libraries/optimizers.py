"""funcad.example_libraries.optimizers: JAX's minimal optimizer library.

An optimizer is a triple `(init_fun, update_fun, get_params)`: `init_fun(params)` makes
the state, `update_fun(step, grads, opt_state)` returns the next state and
`get_params(opt_state)` the parameters. Step sizes are floats or schedules (callables of
the step number). States are pytrees, so an update can be jitted.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

import funcad.numpy as fnp
from funcad._tree import register_pytree_node, tree_flatten, tree_map, tree_unflatten

__all__ = ["OptimizerState", "Optimizer", "adagrad", "adam", "adamax", "clip_grads",
           "constant", "exponential_decay", "inverse_time_decay", "l2_norm", "make_schedule",
           "momentum", "nesterov", "optimizer", "pack_optimizer_state", "piecewise_constant",
           "polynomial_decay", "rmsprop", "rmsprop_momentum", "sgd", "sm3",
           "unpack_optimizer_state"]


class OptimizerState:
    """The per-leaf states of an optimizer (a pytree: its leaves are the arrays)."""

    def __init__(self, packed_state: list, tree_def: Any, subtree_defs: list):
        self.packed_state, self.tree_def, self.subtree_defs = packed_state, tree_def, \
            subtree_defs

    def __repr__(self) -> str:
        return f"OptimizerState({self.packed_state!r})"


register_pytree_node(
    OptimizerState,
    lambda s: (s.packed_state, (s.tree_def, s.subtree_defs)),
    lambda aux, children: OptimizerState(list(children), aux[0], aux[1]))


class Optimizer(NamedTuple):
    """(init_fn, update_fn, params_fn)."""

    init_fn: Callable
    update_fn: Callable
    params_fn: Callable


def _leaf_states(opt_state: OptimizerState) -> list:
    """The per-leaf states of `opt_state`, each rebuilt from its flat arrays."""
    return [tree_unflatten(s, list(f)) for s, f in
            zip(opt_state.subtree_defs, opt_state.packed_state)]


def optimizer(opt_maker: Callable) -> Callable:
    """Turn a maker of per-array (init, update, get_params) into one over pytrees."""
    @functools.wraps(opt_maker)
    def tree_opt_maker(*args, **kwargs):
        init, update, get_params = opt_maker(*args, **kwargs)

        @functools.wraps(init)
        def tree_init(x0_tree):
            x0_flat, tree = tree_flatten(x0_tree)
            initial_states = [init(x0) for x0 in x0_flat]
            states_flat, subtrees = zip(*map(tree_flatten, initial_states)) if x0_flat \
                else ((), ())
            return OptimizerState(list(states_flat), tree, list(subtrees))

        @functools.wraps(update)
        def tree_update(i, grad_tree, opt_state):
            tree, subtrees = opt_state.tree_def, opt_state.subtree_defs
            grad_flat, tree2 = tree_flatten(grad_tree)
            if tree2 != tree:
                raise TypeError(f"optimizer update: gradient tree {tree2} does not match "
                                f"the parameter tree {tree}")
            new_states = [update(i, g, s) for g, s in zip(grad_flat, _leaf_states(opt_state))]
            new_flat = [tree_flatten(s)[0] for s in new_states]
            return OptimizerState([list(f) for f in new_flat], tree, subtrees)

        @functools.wraps(get_params)
        def tree_get_params(opt_state):
            return tree_unflatten(opt_state.tree_def,
                                  [get_params(s) for s in _leaf_states(opt_state)])
        return Optimizer(tree_init, tree_update, tree_get_params)
    return tree_opt_maker


# -- schedules ------------------------------------------------------------------------------


def constant(step_size: float) -> Callable:
    """The schedule that is always step_size."""
    return lambda i: step_size


def exponential_decay(step_size: float, decay_steps: int, decay_rate: float) -> Callable:
    """step_size * decay_rate ** (i / decay_steps)."""
    return lambda i: step_size * decay_rate ** (i / decay_steps)


def inverse_time_decay(step_size: float, decay_steps: int, decay_rate: float,
                       staircase: bool = False) -> Callable:
    """step_size / (1 + decay_rate * i / decay_steps) (floored ratio if staircase)."""
    if staircase:
        return lambda i: step_size / (1 + decay_rate * fnp.floor(i / decay_steps))
    return lambda i: step_size / (1 + decay_rate * i / decay_steps)


def polynomial_decay(step_size: float, decay_steps: int, final_step_size: float,
                     power: float = 1.0) -> Callable:
    """From step_size to final_step_size along (1 - i / decay_steps) ** power."""
    def schedule(i):
        i = fnp.minimum(i, decay_steps)
        return (step_size - final_step_size) * (1 - i / decay_steps) ** power + \
            final_step_size
    return schedule


def piecewise_constant(boundaries: Any, values: Any) -> Callable:
    """values[k] for boundaries[k - 1] <= i < boundaries[k]."""
    boundaries, values = np.asarray(boundaries), np.asarray(values)
    if values.shape[0] != boundaries.shape[0] + 1:
        raise ValueError("piecewise_constant: len(values) must be len(boundaries) + 1")

    def schedule(i):
        return fnp.asarray(values)[fnp.sum(fnp.asarray(i) >= boundaries)]
    return schedule


def make_schedule(scalar_or_schedule: Any) -> Callable:
    """A schedule from a float (constant) or a callable."""
    if callable(scalar_or_schedule):
        return scalar_or_schedule
    if np.ndim(scalar_or_schedule) == 0:
        return constant(scalar_or_schedule)
    raise TypeError(type(scalar_or_schedule))


# -- optimizers -------------------------------------------------------------------------------


def _first(state):
    """The parameters of an optimizer state whose first entry they are."""
    return state[0]


def _state_of_x_and_zeros(x0):
    """The initial state (x0, zeros) of optimizers with one moment estimate."""
    return x0, fnp.zeros_like(x0)


def _state_of_x_and_two_zeros(x0):
    """The initial state (x0, zeros, zeros) of optimizers with two moment estimates."""
    return x0, fnp.zeros_like(x0), fnp.zeros_like(x0)


@optimizer
def sgd(step_size: Any):
    """Gradient descent: x - step_size(i) * g."""
    step_size = make_schedule(step_size)

    def init(x0):
        return x0

    def update(i, g, x):
        return x - step_size(i) * g

    def get_params(x):
        return x
    return init, update, get_params


@optimizer
def momentum(step_size: Any, mass: float):
    """Heavy-ball momentum: v = mass * v + g; x - step_size(i) * v."""
    step_size = make_schedule(step_size)

    def update(i, g, state):
        x, velocity = state
        velocity = mass * velocity + g
        return x - step_size(i) * velocity, velocity

    return _state_of_x_and_zeros, update, _first


@optimizer
def nesterov(step_size: Any, mass: float):
    """Nesterov momentum: v = mass * v + g; x - step_size(i) * (mass * v + g)."""
    step_size = make_schedule(step_size)

    def update(i, g, state):
        x, velocity = state
        velocity = mass * velocity + g
        return x - step_size(i) * (mass * velocity + g), velocity

    return _state_of_x_and_zeros, update, _first


@optimizer
def adagrad(step_size: Any, momentum: float = 0.9):
    """Adagrad with momentum, as in jax.example_libraries."""
    step_size = make_schedule(step_size)

    def update(i, g, state):
        x, g_sq, m = state
        g_sq = g_sq + fnp.square(g)
        g_sq_inv_sqrt = fnp.where(g_sq > 0, 1.0 / fnp.sqrt(fnp.where(g_sq > 0, g_sq, 1.0)),
                                  0.0)
        m = (1.0 - momentum) * (g * g_sq_inv_sqrt) + momentum * m
        return x - step_size(i) * m, g_sq, m

    return _state_of_x_and_two_zeros, update, _first


@optimizer
def rmsprop(step_size: Any, gamma: float = 0.9, eps: float = 1e-8):
    """RMSProp: x - step_size(i) * g / sqrt(avg_sq_grad + eps)."""
    step_size = make_schedule(step_size)

    def update(i, g, state):
        x, avg_sq_grad = state
        avg_sq_grad = avg_sq_grad * gamma + fnp.square(g) * (1.0 - gamma)
        return x - step_size(i) * g / fnp.sqrt(avg_sq_grad + eps), avg_sq_grad

    return _state_of_x_and_zeros, update, _first


@optimizer
def rmsprop_momentum(step_size: Any, gamma: float = 0.9, eps: float = 1e-8,
                     momentum: float = 0.9):
    """RMSProp with momentum."""
    step_size = make_schedule(step_size)

    def update(i, g, state):
        x, avg_sq_grad, mom = state
        avg_sq_grad = avg_sq_grad * gamma + fnp.square(g) * (1.0 - gamma)
        mom = momentum * mom + step_size(i) * g / fnp.sqrt(avg_sq_grad + eps)
        return x - mom, avg_sq_grad, mom

    return _state_of_x_and_two_zeros, update, _first


@optimizer
def adam(step_size: Any, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8):
    """Adam with bias correction."""
    step_size = make_schedule(step_size)

    def update(i, g, state):
        x, m, v = state
        m = (1 - b1) * g + b1 * m
        v = (1 - b2) * fnp.square(g) + b2 * v
        t = fnp.asarray(i + 1, dtype=m.dtype)
        mhat = m / (1 - fnp.power(b1, t))
        vhat = v / (1 - fnp.power(b2, t))
        return x - step_size(i) * mhat / (fnp.sqrt(vhat) + eps), m, v

    return _state_of_x_and_two_zeros, update, _first


@optimizer
def adamax(step_size: Any, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8):
    """Adamax (Adam with the infinity norm)."""
    step_size = make_schedule(step_size)

    def update(i, g, state):
        x, m, u = state
        m = (1 - b1) * g + b1 * m
        u = fnp.maximum(b2 * u, fnp.abs(g))
        t = fnp.asarray(i + 1, dtype=m.dtype)
        return x - (step_size(i) / (1 - fnp.power(b1, t))) * m / (u + eps), m, u

    return _state_of_x_and_two_zeros, update, _first


class _Shape:
    """A parameter's original shape inside an optimizer state (pytree aux data, no leaves)."""

    def __init__(self, shape: tuple):
        self.shape = tuple(int(d) for d in shape)

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, _Shape) and other.shape == self.shape

    def __hash__(self) -> int:
        return hash(self.shape)

    def __repr__(self) -> str:
        return f"_Shape({self.shape})"


register_pytree_node(_Shape, lambda s: ((), s.shape), lambda shape, _: _Shape(shape))


@optimizer
def sm3(step_size: Any, momentum: float = 0.9):
    """SM3 (memory-efficient adaptive steps): one accumulator vector per axis, with momentum.

    The squared-gradient accumulator of an entry is the minimum, over its axes, of that
    axis' vector (the running maxima of the accumulators along the other axes), plus g**2;
    the step is momentum of g / sqrt(accumulator) (0 where the accumulator is 0).
    Parameters of rank 0 are treated as vectors of length 1.
    """
    step_size = make_schedule(step_size)

    def init(x0):
        x0 = fnp.asarray(x0)
        x = fnp.atleast_1d(x0)
        vs = [fnp.zeros(n, dtype=x.dtype) for n in x.shape]
        return x, fnp.zeros_like(x), vs, _Shape(x0.shape)

    def update(i, g, state):
        x, m, vs, shape = state
        g = fnp.reshape(fnp.asarray(g), x.shape)
        nd = x.ndim
        along = [fnp.reshape(v, tuple(-1 if k == j else 1 for k in range(nd)))
                 for j, v in enumerate(vs)]
        accum = functools.reduce(fnp.minimum, along) + fnp.square(g)
        inv_sqrt = fnp.where(accum > 0, 1.0 / fnp.sqrt(fnp.where(accum > 0, accum, 1.0)),
                             0.0)
        m = (1.0 - momentum) * (g * inv_sqrt) + momentum * m
        x = x - step_size(i) * m
        vs = [fnp.max(accum, axis=tuple(k for k in range(nd) if k != j)) for j in range(nd)]
        return x, m, vs, shape

    def get_params(state):
        x, _, _, shape = state
        return fnp.reshape(x, shape.shape)

    return init, update, get_params


# -- utilities ----------------------------------------------------------------------------------


def l2_norm(tree: Any) -> Any:
    """The L2 norm of all leaves together."""
    leaves, _ = tree_flatten(tree)
    return fnp.sqrt(sum(fnp.vdot(x, x) for x in leaves))


def clip_grads(grad_tree: Any, max_norm: float) -> Any:
    """Scale the gradients down to a global norm of at most max_norm."""
    norm = l2_norm(grad_tree)
    factor = fnp.where(norm < max_norm, 1.0, max_norm / fnp.where(norm < max_norm, 1.0, norm))
    return tree_map(lambda g: g * factor, grad_tree)


def unpack_optimizer_state(opt_state: OptimizerState) -> Any:
    """The state as a pytree of tuples of arrays (to save it)."""
    return tree_unflatten(opt_state.tree_def, [_Packed(s) for s in _leaf_states(opt_state)])


class _Packed(tuple):
    """One leaf's state inside an unpacked optimizer state."""

    def __new__(cls, s):
        return super().__new__(cls, (s,))


register_pytree_node(_Packed, lambda p: ((), p[0]), lambda aux, _: _Packed(aux))


def pack_optimizer_state(marked_pytree: Any) -> OptimizerState:
    """Inverse of unpack_optimizer_state."""
    packed, tree = tree_flatten(marked_pytree, is_leaf=lambda x: isinstance(x, _Packed))
    states = [p[0] for p in packed]
    flat, subtrees = zip(*map(tree_flatten, states)) if states else ((), ())
    return OptimizerState([list(f) for f in flat], tree, list(subtrees))
