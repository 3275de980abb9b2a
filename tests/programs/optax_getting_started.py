"""Optax's "Getting started" notebook: a linear model and an MLP fitted with optax.

Port of docs/getting_started.ipynb of github.com/google-deepmind/optax (commit 2edbcbe,
Apache License 2.0; Copyright the Optax Authors) to funcad: its code cells in order up to
the first MLP fit (optax.adam). What changed:
  * imports: `jax` -> `funcad`, `jax.numpy` -> `funcad.numpy`, `optax` -> `funcad.optim`
    (imported under the name `optax`); the models, losses, optimizers and loops are the
    notebook's.
  * the cells became `main(...)`; the notebook's `assert`s stay, and `main` returns what
    they check (the fitted parameters) and what the cells print (the MLP's loss every
    100 steps, the learning rates before and after), as numbers.
  * data: the MLP's training bytes come from np.random.RandomState(0) instead of the
    unseeded np.random (the same numbers under both libraries); the number of MLP steps
    is an argument (the notebook: 1000).
  * left out: the cells after the first MLP fit, which train with
    warmup_cosine_decay_schedule. Under JAX that schedule, fed optax's int32 step count,
    returns float32 (its cosine branch is weakly typed float64, so jnp.where takes the
    float32 of the linear branch's int32 / int); funcad has no weak types on arrays and
    returns float64, so the learning rates differ from the 8th digit and the fitted
    losses soon after.
"""

import functools

import numpy as np

import funcad as jax
import funcad.numpy as jnp
import funcad.optim as optax


@functools.partial(jax.vmap, in_axes=(None, 0))
def network(params, x):
  return jnp.dot(params, x)

def compute_loss(params, x, y):
  y_pred = network(params, x)
  loss = jnp.mean(optax.l2_loss(y_pred, y))
  return loss


def net(x: jnp.ndarray, params: optax.Params) -> jnp.ndarray:
  x = jnp.dot(x, params['hidden'])
  x = jax.nn.relu(x)
  x = jnp.dot(x, params['output'])
  return x


def loss(params: optax.Params, batch: jnp.ndarray, labels: jnp.ndarray) -> jnp.ndarray:
  y_hat = net(batch, params)

  # optax also provides a number of common loss functions.
  loss_value = optax.sigmoid_binary_cross_entropy(y_hat, labels).sum(axis=-1)

  return loss_value.mean()


def main(num_train_steps=1_000, verbose=True):
  history = {}
  key = jax.random.PRNGKey(42)
  target_params = 0.5

  # Generate some data.
  xs = jax.random.normal(key, (16, 2))
  ys = jnp.sum(xs * target_params, axis=-1)

  start_learning_rate = 1e-1
  optimizer = optax.adam(start_learning_rate)

  # Initialize parameters of the model + optimizer.
  params = jnp.array([0.0, 0.0])
  opt_state = optimizer.init(params)

  # A simple update loop.
  for _ in range(1000):
    grads = jax.grad(compute_loss)(params, xs, ys)
    updates, opt_state = optimizer.update(grads, opt_state)
    params = optax.apply_updates(params, updates)

  assert jnp.allclose(params, target_params), \
  'Optimization should retrieve the target params used to generate the data.'
  history["linear_adam_params"] = params

  # Exponential decay of the learning rate.
  scheduler = optax.exponential_decay(
      init_value=start_learning_rate,
      transition_steps=1000,
      decay_rate=0.99)

  # Combining gradient transforms using `optax.chain`.
  gradient_transform = optax.chain(
      optax.clip_by_global_norm(1.0),  # Clip by the gradient by the global norm.
      optax.scale_by_adam(),  # Use the updates from adam.
      optax.scale_by_schedule(scheduler),  # Use the learning rate from the scheduler.
      # Scale updates by -1 since optax.apply_updates is additive and we want to descend on the loss.
      optax.scale(-1.0)
  )

  # Initialize parameters of the model + optimizer.
  params = jnp.array([0.0, 0.0])  # Recall target_params=0.5.
  opt_state = gradient_transform.init(params)

  # A simple update loop.
  for _ in range(1000):
    grads = jax.grad(compute_loss)(params, xs, ys)
    updates, opt_state = gradient_transform.update(grads, opt_state)
    params = optax.apply_updates(params, updates)

  assert jnp.allclose(params, target_params), \
  'Optimization should retrieve the target params used to generate the data.'
  history["linear_chain_params"] = params

  decaying_global_norm_tx = optax.inject_hyperparams(optax.clip_by_global_norm)(
      max_norm=optax.linear_schedule(1.0, 0.0, transition_steps=99))

  opt_state = decaying_global_norm_tx.init(None)
  assert opt_state.hyperparams['max_norm'] == 1.0, 'Max norm should start at 1.0'

  for _ in range(100):
    _, opt_state = decaying_global_norm_tx.update(None, opt_state)

  assert opt_state.hyperparams['max_norm'] == 0.0, 'Max norm should end at 0.0'

  BATCH_SIZE = 5
  NUM_TRAIN_STEPS = num_train_steps
  RAW_TRAINING_DATA = np.random.RandomState(0).randint(255, size=(NUM_TRAIN_STEPS, BATCH_SIZE, 1))

  TRAINING_DATA = np.unpackbits(RAW_TRAINING_DATA.astype(np.uint8), axis=-1)
  LABELS = jax.nn.one_hot(RAW_TRAINING_DATA % 2, 2).astype(jnp.float32).reshape(NUM_TRAIN_STEPS, BATCH_SIZE, 2)

  initial_params = {
      'hidden': jax.random.normal(shape=[8, 32], key=jax.random.PRNGKey(0)),
      'output': jax.random.normal(shape=[32, 2], key=jax.random.PRNGKey(1)),
  }

  def fit(params: optax.Params, optimizer: optax.GradientTransformation, name) -> optax.Params:
    opt_state = optimizer.init(params)

    @jax.jit
    def step(params, opt_state, batch, labels):
      loss_value, grads = jax.value_and_grad(loss)(params, batch, labels)
      updates, opt_state = optimizer.update(grads, opt_state, params)
      params = optax.apply_updates(params, updates)
      return params, opt_state, loss_value

    history[name] = []
    for i, (batch, labels) in enumerate(zip(TRAINING_DATA, LABELS)):
      params, opt_state, loss_value = step(params, opt_state, batch, labels)
      if i % 100 == 0:
        if verbose:
          print(f'step {i}, loss: {loss_value}')
        history[name].append(float(loss_value))

    return params, opt_state

  # Finally, we can fit our parametrized function using the Adam optimizer
  # provided by optax.
  optimizer = optax.adam(learning_rate=1e-2)
  _ = fit(initial_params, optimizer, "mlp_adam_loss")

  return history


if __name__ == "__main__":
  main()
