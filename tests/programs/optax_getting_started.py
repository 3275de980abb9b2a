"""Optax's "Getting started" notebook: a linear model and an MLP fitted with optax.

Port of docs/getting_started.ipynb of github.com/google-deepmind/optax (commit 2edbcbe,
Apache License 2.0; Copyright the Optax Authors) to funcad: all its code cells, in order.
What changed:
  * imports: `jax` -> `funcad`, `jax.numpy` -> `funcad.numpy`, `optax` -> `funcad.optim`
    (imported under the name `optax`); the models, losses, optimizers and loops are the
    notebook's.
  * the cells became `main(...)`; the notebook's `assert`s stay, and `main` returns what
    they check (the fitted parameters), what the cells print (each MLP fit's loss every
    100 steps, the injected learning rate before and after, the polynomial schedule) and
    what they compute (scale_by_rms's gradients and updates, the new parameters, the
    Huber loss of the first batch, its mean and sum over all), as numbers; a dict of
    arrays is stored as one array per key (`name/hidden`, `name/output`).
  * `fit` takes a name to store its losses under. The Losses cell's `loss = huber_loss(..)`
    is `huber`: inside `main` the notebook's rebinding of `loss` would make `fit` see an
    unbound local.
  * the cells that only build an optimizer (the custom chain with clip_by_global_norm /
    scale_by_adam / scale, flatten(adam), the chain with scale_by_schedule, adam with a
    schedule) also apply it once to the scale_by_rms cell's gradients (`one_update`), so
    that they are compared as numbers.
  * data: the MLP's training bytes come from np.random.RandomState(0) instead of the
    unseeded np.random (the same numbers under both libraries); the number of MLP steps
    is an argument (the notebook: 1000).
  * left out: nothing runs that the notebook runs. Its "Popular optimizers" cell defines
    an `adamw` built on `optax.scale_and_decay`, which optax does not have (optax 0.2.8,
    nor at 2edbcbe): the notebook never calls it and neither does the port.
  * known difference (tests/test_programs.py TOLERANCES): warmup_cosine_decay_schedule,
    fed optax's int32 step count, returns float32 (its cosine branch is weakly typed
    float64, so jnp.where takes the float32 of the warmup branch's int32 / int), in JAX
    and in funcad, and funcad's rates are JAX's eager ones bit for bit. Under jit XLA
    rounds 11 of the first 60 float32 rates differently from JAX's own eager ones, and
    the two MLPs trained with the schedule (peak learning rate 1, losses down to 1e-150)
    drift apart by ~2e-2 at step 200.
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

  # Weight Decay, Schedules and Clipping
  schedule = optax.warmup_cosine_decay_schedule(
    init_value=0.0,
    peak_value=1.0,
    warmup_steps=50,
    decay_steps=1_000,
    end_value=0.0,
  )

  optimizer = optax.chain(
    optax.clip(1.0),
    optax.adamw(learning_rate=schedule),
  )

  _ = fit(initial_params, optimizer, "mlp_clip_adamw_loss")

  # Accessing learning rate
  optimizer = optax.inject_hyperparams(optax.adamw)(learning_rate=schedule)

  params = initial_params
  state = optimizer.init(params)
  if verbose:
    print('initial learning rate:', state.hyperparams['learning_rate'])
  history["initial_learning_rate"] = float(state.hyperparams['learning_rate'])

  _, state = fit(initial_params, optimizer, "mlp_injected_adamw_loss")

  if verbose:
    print('final learning rate:', state.hyperparams['learning_rate'])
  history["final_learning_rate"] = float(state.hyperparams['learning_rate'])

  # Gradient Transformations
  tx = optax.scale_by_rms()
  state = tx.init(params)  # init stats
  grads = jax.grad(loss)(params, TRAINING_DATA, LABELS)
  updates, state = tx.update(grads, state, params)  # transform & update stats.
  record(history, "scale_by_rms_grads", grads)
  record(history, "scale_by_rms_updates", updates)

  # Composing Gradient Transformations
  max_norm = 100.
  learning_rate = 1e-3

  my_optimizer = optax.chain(
      optax.clip_by_global_norm(max_norm),
      optax.scale_by_adam(eps=1e-4),
      optax.scale(-learning_rate))
  record(history, "custom_chain_updates", one_update(my_optimizer, params, grads))

  # Wrapping Gradient Transformations
  my_optimizer = optax.flatten(optax.adam(learning_rate))
  record(history, "flatten_adam_updates", one_update(my_optimizer, params, grads))

  # Schedules
  schedule_fn = optax.polynomial_schedule(
      init_value=1., end_value=0., power=1, transition_steps=5)

  history["polynomial_schedule"] = []
  for step_count in range(6):
    if verbose:
      print(schedule_fn(step_count))  # [1., 0.8, 0.6, 0.4, 0.2, 0.]
    history["polynomial_schedule"].append(float(schedule_fn(step_count)))

  schedule_fn = optax.polynomial_schedule(
      init_value=-learning_rate, end_value=0., power=1, transition_steps=5)
  optimizer = optax.chain(
      optax.clip_by_global_norm(max_norm),
      optax.scale_by_adam(eps=1e-4),
      optax.scale_by_schedule(schedule_fn))
  record(history, "scheduled_chain_updates", one_update(optimizer, params, grads))

  optimizer = optax.adam(learning_rate=schedule_fn)
  record(history, "scheduled_adam_updates", one_update(optimizer, params, grads))

  # Popular optimizers: the notebook only defines this function; optax has no
  # scale_and_decay, so calling it would fail under optax too.
  def adamw(learning_rate, b1, b2, eps, weight_decay):
    return optax.chain(
        optax.scale_by_adam(b1=b1, b2=b2, eps=eps),
        optax.scale_and_decay(-learning_rate, weight_decay=weight_decay))

  # Applying updates
  updates, state = tx.update(grads, state, params)  # transform & update stats.
  new_params = optax.apply_updates(params, updates)  # update the parameters.
  record(history, "scale_by_rms_second_updates", updates)
  record(history, "new_params", new_params)

  # Losses
  predictions = net(TRAINING_DATA, params)
  huber = optax.huber_loss(predictions, LABELS)
  history["huber_loss_first_batch"] = huber[0]  # (the whole array: mean and sum below)

  avg_loss = jnp.mean(optax.huber_loss(predictions, LABELS))
  sum_loss = jnp.sum(optax.huber_loss(predictions, LABELS))
  history["huber_avg_loss"] = avg_loss
  history["huber_sum_loss"] = sum_loss

  return history


def record(history, name, tree):
  """Store a dict of arrays (the MLP's parameters' shape) under name/key, one array each."""
  for key, value in tree.items():
    history[f"{name}/{key}"] = value


def one_update(optimizer, params, grads):
  """Updates of `optimizer` for one step at `grads` (the notebook only builds it)."""
  state = optimizer.init(params)
  updates, _ = optimizer.update(grads, state, params)
  return updates


if __name__ == "__main__":
  main()
