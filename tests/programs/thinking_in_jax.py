"""How to think in JAX (JAX's notebook), every code cell.

Port of docs/notebooks/thinking_in_jax.md of github.com/jax-ml/jax (commit cec06d1,
Apache License 2.0; Copyright the JAX Authors) to funcad: its code cells in order. What
changed:
  * imports: `jax` -> `funcad` (jit, grad, jacobian, jacfwd, jacrev, vmap, random.key/
    split/normal, debug.print, jax.Array, jax.numpy); NumPy stays as it is.
  * the cells run inside `main()`, which returns the numbers the notebook displays or
    prints: the plotted sine curve (matplotlib is gone), the NumPy and funcad linspaces,
    the arrays before and after `.at[0].set(10)`, `isinstance(x, jax.Array)`, the
    number of devices in `x.devices()` and `x.sharding.device_set`, the `np.allclose` of
    the eager and jitted `norm`, the negatives of `get_negatives`, the gradients, finite
    differences, jacobian and hessian, the naively, manually and vmap-batched products,
    the key's data (`print(key)`), the normal draws, and the results of the two `f(2.)`
    cells, with the values `jax.debug.print` printed (read back from stdout) and how
    many times the plain `print` ran while tracing (its traced text is not compared).
  * the cells that demonstrate an error (`x[0] = 10` on an immutable array, a TypeError;
    `jit(get_negatives)(x)`, a boolean mask of a traced value: JAX's
    NonConcreteBooleanIndexError, an IndexError): the port checks that an error of the
    same kind is raised and records only that.
  * `%xmode minimal` and the `%timeit` lines are gone: each timed call runs once.
  * the `jax.debug.print` cell runs under `contextlib.redirect_stdout` and ends with
    `jax.effects_barrier()` (so that JAX's printed lines are out before they are read).
  * `type(x_np)` and `type(x_jnp)` are recorded as `type(x_np) is np.ndarray` and
    `isinstance(x_jnp, jax.Array)` (the class names differ: `jaxlib...ArrayImpl`).
  * the port found three gaps in funcad, fixed with it: Arrays had no `.sharding` (now
    JAX's `SingleDeviceSharding` of the CPU device), `funcad.effects_barrier` was
    missing, and a traced boolean mask index raised a ConcretizationTypeError (a
    TypeError) where JAX raises NonConcreteBooleanIndexError (an IndexError); funcad's
    now is both.
"""

import builtins
import contextlib
import io

import numpy as np


def main(verbose=True):
  def print(*args, **kwargs):
    if verbose:
      builtins.print(*args, **kwargs)

  def floats(a):
    return [float(v) for v in np.ravel(np.asarray(a))]

  result = {}

  # ## JAX vs. NumPy

  import funcad.numpy as jnp

  x_jnp = jnp.linspace(0, 10, 1000)
  y_jnp = 2 * jnp.sin(x_jnp) * jnp.cos(x_jnp)
  result["sin_cos"] = floats(y_jnp)

  x_np = np.linspace(0, 10, 1000)
  x_jnp = jnp.linspace(0, 10, 1000)
  result["linspace_np"] = floats(x_np)
  result["linspace_jnp"] = floats(x_jnp)

  import funcad as jax
  print(type(x_np))
  print(type(x_jnp))
  result["type_np_is_ndarray"] = int(type(x_np) is np.ndarray)
  result["type_jnp_is_array"] = int(isinstance(x_jnp, jax.Array))

  # NumPy: mutable arrays
  x = np.arange(10)
  x[0] = 10
  print(x)
  result["numpy_mutated"] = floats(x)

  # JAX: immutable arrays
  caught = 0
  x = jnp.arange(10)
  try:
    x[0] = 10
  except TypeError as e:
    caught = 1
    print("TypeError:", e)
  result["caught_setitem_type_error"] = caught

  y = x.at[0].set(10)
  print(x)
  print(y)
  result["at_set_x"] = floats(x)
  result["at_set_y"] = floats(y)

  # ## Arrays: jax.Array

  x = jnp.arange(5)
  result["is_jax_array"] = int(isinstance(x, jax.Array))
  print(x.devices())
  result["num_devices"] = len(x.devices())
  print(x.sharding)
  result["sharding_num_devices"] = len(x.sharding.device_set)

  # ## Just-in-time compilation

  def norm(X):
    X = X - X.mean(0)
    return X / X.std(0)

  from funcad import jit
  norm_compiled = jit(norm)

  np.random.seed(1701)
  X = jnp.array(np.random.rand(10000, 10))
  close = np.allclose(norm(X), norm_compiled(X), atol=1E-6)
  print(close)
  result["norm_allclose"] = int(close)

  norm(X).block_until_ready()
  norm_compiled(X).block_until_ready()

  def get_negatives(x):
    return x[x < 0]

  x = jnp.array(np.random.randn(10))
  negatives = get_negatives(x)
  print(negatives)
  result["negatives"] = floats(negatives)

  caught = 0
  try:
    jit(get_negatives)(x)
  except IndexError as e:
    caught = 1
    print("IndexError:", e)
  result["caught_boolean_mask_index_error"] = caught

  # ## Automatic differentiation

  from funcad import grad

  def sum_logistic(x):
    return jnp.sum(1.0 / (1.0 + jnp.exp(-x)))

  x_small = jnp.arange(3.)
  derivative_fn = grad(sum_logistic)
  print(derivative_fn(x_small))
  result["grad"] = floats(derivative_fn(x_small))

  def first_finite_differences(f, x, eps=1E-3):
    return jnp.array([(f(x + eps * v) - f(x - eps * v)) / (2 * eps)
                     for v in jnp.eye(len(x))])

  print(first_finite_differences(sum_logistic, x_small))
  result["finite_differences"] = floats(first_finite_differences(sum_logistic, x_small))

  third = grad(jit(grad(jit(grad(sum_logistic)))))(1.0)
  print(third)
  result["third_derivative"] = floats(third)

  from funcad import jacobian
  print(jacobian(jnp.exp)(x_small))
  result["jacobian_exp"] = floats(jacobian(jnp.exp)(x_small))

  from funcad import jacfwd, jacrev

  def hessian(fun):
    return jit(jacfwd(jacrev(fun)))

  print(hessian(sum_logistic)(x_small))
  result["hessian"] = floats(hessian(sum_logistic)(x_small))

  # ## Auto-vectorization

  from funcad import random

  key = random.key(1701)
  key1, key2 = random.split(key)
  mat = random.normal(key1, (150, 100))
  batched_x = random.normal(key2, (10, 100))

  def apply_matrix(x):
    return jnp.dot(mat, x)

  def naively_batched_apply_matrix(v_batched):
    return jnp.stack([apply_matrix(v) for v in v_batched])

  print('Naively batched')
  naive = naively_batched_apply_matrix(batched_x).block_until_ready()
  result["naively_batched"] = floats(naive)

  @jit
  def batched_apply_matrix(batched_x):
    return jnp.dot(batched_x, mat.T)

  np.testing.assert_allclose(naively_batched_apply_matrix(batched_x),
                             batched_apply_matrix(batched_x), atol=1E-4, rtol=1E-4)
  print('Manually batched')
  result["manually_batched"] = floats(batched_apply_matrix(batched_x).block_until_ready())

  from funcad import vmap

  @jit
  def vmap_batched_apply_matrix(batched_x):
    return vmap(apply_matrix)(batched_x)

  np.testing.assert_allclose(naively_batched_apply_matrix(batched_x),
                             vmap_batched_apply_matrix(batched_x), atol=1E-4, rtol=1E-4)
  print('Auto-vectorized with vmap')
  result["vmap_batched"] = floats(vmap_batched_apply_matrix(batched_x).block_until_ready())

  # ## Pseudorandom numbers

  key = random.key(43)
  print(key)
  result["key_data"] = floats(random.key_data(key))

  a = random.normal(key)
  b = random.normal(key)
  print(a)
  print(b)
  result["same_key_normals"] = floats([a, b])

  draws = []
  for i in range(3):
    new_key, subkey = random.split(key)
    del key  # The old key is consumed by split() -- we must never use it again.
    val = random.normal(subkey)
    del subkey  # The subkey is consumed by normal().
    print(f"draw {i}: {val}")
    draws.append(float(val))
    key = new_key  # new_key is safe to use in the next iteration.
  result["draws"] = draws

  # ## Debugging: print under jit runs while tracing, jax.debug.print at run time

  traced_prints = []

  @jax.jit
  def f(x):
    traced_prints.append(1)
    print("print(x) ->", x)
    y = jnp.sin(x)
    traced_prints.append(1)
    print("print(y) ->", y)
    return y

  out = f(2.)
  result["print_result"] = floats(out)
  result["trace_time_prints"] = len(traced_prints)

  @jax.jit
  def f(x):
    jax.debug.print("jax.debug.print(x) -> {x}", x=x)
    y = jnp.sin(x)
    jax.debug.print("jax.debug.print(y) -> {y}", y=y)
    return y

  stdout = io.StringIO()
  with contextlib.redirect_stdout(stdout):
    out = f(2.)
    out.block_until_ready()
    jax.effects_barrier()
  print(stdout.getvalue(), end="")
  result["debug_print_result"] = floats(out)
  result["debug_printed"] = [float(line.split("->")[1])
                             for line in stdout.getvalue().splitlines()]

  return result


if __name__ == "__main__":
  main()
