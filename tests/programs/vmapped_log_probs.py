"""Autobatching for Bayesian inference (JAX's notebook), every code cell.

Port of docs/notebooks/vmapped_log_probs.md of github.com/jax-ml/jax (commit cec06d1,
Apache License 2.0; Copyright the JAX Authors) to funcad: its code cells in order. What
changed:
  * imports: `jax` -> `funcad` (jit, vmap, value_and_grad, random.key/split/normal,
    jax.numpy, jax.scipy.stats.norm); NumPy and SciPy (`sp.special.expit` for the fake
    data set) stay as they are.
  * the cells run inside `main()`, which returns the numbers the notebook displays or
    prints: the labels `y`, the log-joint of one draw, the manually batched and the
    vmapped log-joints of a batch of draws, the ELBO printed every 10th SGD step and the
    final variational parameters (what the last cell plots, matplotlib is gone).
  * the cell that calls the unbatched log-joint on a batch: the caught ValueError's text
    differs (funcad's own broadcasting message); only that it is raised is recorded.
  * size: the SGD loop's 1000 steps became `main(num_iters=1000)` (the test runs fewer);
    the data set (100 points, 10 features) and the 128-sample batch are the notebook's.
  * the variational parameters stay float32, as in the notebook; their float32
    `jnp.exp` rounds differently in NumPy and XLA, so the ELBOs and parameters agree with
    JAX's to float32 ulps, not 1e-9 (tests/test_programs.py, TOLERANCES).
"""

import builtins

import numpy as np
import scipy as sp
import scipy.special  # noqa: F401  (sp.special; the notebook's session had it imported)


def main(num_iters=1000, verbose=True):
  printed = []

  def print(*args):
    if verbose:
      builtins.print(*args)

  import funcad as jax

  import funcad.numpy as jnp
  import funcad.scipy as jsp
  import funcad.scipy.stats  # noqa: F401  (jsp.stats)
  from funcad import random

  # ## Generate a fake binary classification dataset

  np.random.seed(10009)

  num_features = 10
  num_points = 100

  true_beta = np.random.randn(num_features).astype(jnp.float32)
  all_x = np.random.randn(num_points, num_features).astype(jnp.float32)
  y = (np.random.rand(num_points) < sp.special.expit(all_x.dot(true_beta))).astype(jnp.int32)

  print(y)

  # ## Write the log-joint function for the model

  # ### Non-batched

  def log_joint(beta):
      result = 0.
      # Note that no `axis` parameter is provided to `jnp.sum`.
      result = result + jnp.sum(jsp.stats.norm.logpdf(beta, loc=0., scale=1.))
      result = result + jnp.sum(-jnp.log(1 + jnp.exp(-(2*y-1) * jnp.dot(all_x, beta))))
      return result

  single = log_joint(np.random.randn(num_features))
  print(single)

  # This doesn't work, because we didn't write `log_prob()` to handle batching.
  caught = 0
  try:
    batch_size = 10
    batched_test_beta = np.random.randn(batch_size, num_features)

    log_joint(np.random.randn(batch_size, num_features))
  except ValueError as e:
    caught = 1
    print("Caught expected exception " + str(e))

  # ### Manually batched

  def batched_log_joint(beta):
      result = 0.
      # Here (and below) `sum` needs an `axis` parameter. At best, forgetting to set axis
      # or setting it incorrectly yields an error; at worst, it silently changes the
      # semantics of the model.
      result = result + jnp.sum(jsp.stats.norm.logpdf(beta, loc=0., scale=1.),
                             axis=-1)
      # Note the multiple transposes. Getting this right is not rocket science,
      # but it's also not totally mindless. (I didn't get it right on the first
      # try.)
      result = result + jnp.sum(-jnp.log(1 + jnp.exp(-(2*y-1) * jnp.dot(all_x, beta.T).T)),
                             axis=-1)
      return result

  batch_size = 10
  batched_test_beta = np.random.randn(batch_size, num_features)

  manual = batched_log_joint(batched_test_beta)
  print(manual)

  # ### Autobatched with vmap

  vmap_batched_log_joint = jax.vmap(log_joint)
  vmapped = vmap_batched_log_joint(batched_test_beta)
  print(vmapped)

  # ## Self-contained variational inference example

  # ### Set up the (batched) log-joint function

  @jax.jit
  def log_joint(beta):
      result = 0.
      # Note that no `axis` parameter is provided to `jnp.sum`.
      result = result + jnp.sum(jsp.stats.norm.logpdf(beta, loc=0., scale=10.))
      result = result + jnp.sum(-jnp.log(1 + jnp.exp(-(2*y-1) * jnp.dot(all_x, beta))))
      return result

  batched_log_joint = jax.jit(jax.vmap(log_joint))

  # ### Define the ELBO and its gradient

  def elbo(beta_loc, beta_log_scale, epsilon):
      beta_sample = beta_loc + jnp.exp(beta_log_scale) * epsilon
      return jnp.mean(batched_log_joint(beta_sample), 0) + jnp.sum(beta_log_scale - 0.5 * np.log(2*np.pi))

  elbo = jax.jit(elbo)
  elbo_val_and_grad = jax.jit(jax.value_and_grad(elbo, argnums=(0, 1)))

  # ### Optimize the ELBO using SGD

  def normal_sample(key, shape):
      """Convenience function for quasi-stateful RNG."""
      new_key, sub_key = random.split(key)
      return new_key, random.normal(sub_key, shape)

  normal_sample = jax.jit(normal_sample, static_argnums=(1,))

  key = random.key(10003)

  beta_loc = jnp.zeros(num_features, jnp.float32)
  beta_log_scale = jnp.zeros(num_features, jnp.float32)

  step_size = 0.01
  batch_size = 128
  epsilon_shape = (batch_size, num_features)
  for i in range(num_iters):
      key, epsilon = normal_sample(key, epsilon_shape)
      elbo_val, (beta_loc_grad, beta_log_scale_grad) = elbo_val_and_grad(
          beta_loc, beta_log_scale, epsilon)
      beta_loc += step_size * beta_loc_grad
      beta_log_scale += step_size * beta_log_scale_grad
      if i % 10 == 0:
          print('{}\t{}'.format(i, elbo_val))
          printed.append(float(elbo_val))

  # ### Display the results (the plot's points)

  upper = beta_loc + 2*jnp.exp(beta_log_scale)
  lower = beta_loc - 2*jnp.exp(beta_log_scale)

  def floats(a):
    return [float(v) for v in np.ravel(np.asarray(a))]

  return {"y": floats(y), "log_joint": floats(single), "caught_value_error": caught,
          "manually_batched": floats(manual), "vmap_batched": floats(vmapped),
          "elbo": printed, "beta_loc": floats(beta_loc), "upper": floats(upper),
          "lower": floats(lower)}


if __name__ == "__main__":
  main()
