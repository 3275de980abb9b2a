"""Automatic differentiation variational inference in Numpy and JAX.

This demo fits a Gaussian approximation to an intractable, unnormalized
density, by differentiating through a Monte Carlo estimate of the
variational evidence lower bound (ELBO).

Port of JAX's examples/advi.py (github.com/jax-ml/jax, commit cec06d1, Apache License 2.0;
Copyright 2018 The JAX Authors) to funcad. What changed:
  * imports: `jax` -> `funcad` (jax.random, jax.example_libraries.optimizers,
    jax.numpy, jax.scipy.stats.norm); the ELBO, the funnel density, the objective, the
    optimizer and the update step are unchanged.
  * plotting: matplotlib is gone. The callback keeps what it printed (the lower bound at
    each iteration) and, instead of drawing, records the variational parameters and the
    mean of the samples it plotted; the contours' two densities are evaluated once, after
    the last iteration, on a coarse grid (mesh_eval with num_ticks=5, not 101).
  * size: the `__main__` block became `main(num_iters=100, num_samples=40)`.
"""

from functools import partial

from funcad import jit, grad, vmap
from funcad import random
from funcad.example_libraries import optimizers
import funcad.numpy as jnp
import funcad.scipy.stats.norm as norm


# ========= Functions to define the evidence lower bound. =========

def diag_gaussian_sample(rng, mean, log_std):
    # Take a single sample from a diagonal multivariate Gaussian.
    return mean + jnp.exp(log_std) * random.normal(rng, mean.shape)

def diag_gaussian_logpdf(x, mean, log_std):
    # Evaluate a single point on a diagonal multivariate Gaussian.
    return jnp.sum(vmap(norm.logpdf)(x, mean, jnp.exp(log_std)))

def elbo(logprob, rng, mean, log_std):
    # Single-sample Monte Carlo estimate of the variational lower bound.
    sample = diag_gaussian_sample(rng, mean, log_std)
    return logprob(sample) - diag_gaussian_logpdf(sample, mean, log_std)

def batch_elbo(logprob, rng, params, num_samples):
    # Average over a batch of random samples.
    rngs = random.split(rng, num_samples)
    vectorized_elbo = vmap(partial(elbo, logprob), in_axes=(0, None, None))
    return jnp.mean(vectorized_elbo(rngs, *params))


# ========= Helper function for plotting. =========

@jit(static_argnums=(0, 1, 2, 4))
def _mesh_eval(func, x_limits, y_limits, params, num_ticks):
    # Evaluate func on a 2D grid defined by x_limits and y_limits.
    x = jnp.linspace(*x_limits, num=num_ticks)
    y = jnp.linspace(*y_limits, num=num_ticks)
    X, Y = jnp.meshgrid(x, y)
    xy_vec = jnp.stack([X.ravel(), Y.ravel()]).T
    zs = vmap(func, in_axes=(0, None))(xy_vec, params)
    return X, Y, zs.reshape(X.shape)

def mesh_eval(func, x_limits, y_limits, params, num_ticks=101):
    return _mesh_eval(func, x_limits, y_limits, params, num_ticks)

# ========= Define an intractable unnormalized density =========

def funnel_log_density(params):
    return norm.logpdf(params[0], 0, jnp.exp(params[1])) + \
           norm.logpdf(params[1], 0, 1.35)


def main(num_iters=100, num_samples=40, num_ticks=5, verbose=True):
    history = {"lower_bound": [], "mean": [], "log_std": [], "sample_mean": []}

    @jit
    def objective(params, t):
        rng = random.key(t)
        return -batch_elbo(funnel_log_density, rng, params, num_samples)

    x_limits = (-2, 2)
    y_limits = (-4, 2)
    target_dist = lambda x, _: jnp.exp(funnel_log_density(x))
    approx_dist = lambda x, params: jnp.exp(diag_gaussian_logpdf(x, *params))

    def callback(params, t):
        lower_bound = objective(params, t)
        if verbose:
            print(f"Iteration {t} lower bound {lower_bound}")
        history["lower_bound"].append(float(lower_bound))
        history["mean"].append([float(v) for v in params[0]])
        history["log_std"].append([float(v) for v in params[1]])

        # Plot random samples from variational distribution.
        # Here we clone the rng used in computing the objective
        # so that we can show exactly the same samples.
        rngs = random.split(random.key(t), num_samples)
        samples = vmap(diag_gaussian_sample, in_axes=(0, None, None))(rngs, *params)
        history["sample_mean"].append([float(v) for v in samples.mean(axis=0)])

    # Set up optimizer.
    D = 2
    init_mean = jnp.zeros(D)
    init_std  = jnp.zeros(D)
    init_params = (init_mean, init_std)
    opt_init, opt_update, get_params = optimizers.momentum(step_size=0.1, mass=0.9)
    opt_state = opt_init(init_params)

    @jit
    def update(i, opt_state):
        params = get_params(opt_state)
        gradient = grad(objective)(params, i)
        return opt_update(i, gradient, opt_state)


    # Main loop.
    if verbose:
        print("Optimizing variational parameters...")
    for t in range(num_iters):
        opt_state = update(t, opt_state)
        params = get_params(opt_state)
        callback(params, t)

    params = get_params(opt_state)
    history["target_mesh"] = mesh_eval(target_dist, x_limits, y_limits, 1, num_ticks)[2]
    history["approx_mesh"] = mesh_eval(approx_dist, x_limits, y_limits, params, num_ticks)[2]
    return history


if __name__ == "__main__":
    main()
