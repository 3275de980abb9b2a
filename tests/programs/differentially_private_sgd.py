"""JAX efficiently trains a differentially private conv net on MNIST.

This script contains a JAX implementation of Differentially Private Stochastic
Gradient Descent (https://arxiv.org/abs/1607.00133). DPSGD requires clipping
the per-example parameter gradients, which is non-trivial to implement
efficiently for convolutional neural networks.

Port of JAX's examples/differentially_private_sgd.py (github.com/jax-ml/jax, commit
cec06d1, Apache License 2.0; Copyright 2019 The JAX Authors) to funcad. What changed:
  * imports: `jax` -> `funcad` (jax.numpy, jax.random, jax.tree_util,
    jax.example_libraries.optimizers and stax); the conv net, loss, accuracy,
    clipped_grad, private_grad (per-example gradients by vmap of grad), update and
    private_update are unchanged.
  * absl flags became `main(...)`'s keyword arguments, with the same defaults except the
    sizes; the privacy accounting (`compute_epsilon`, from the `dp-accounting` package)
    is left out, so no epsilon is printed.
  * data and size: `examples.datasets.mnist()` downloads MNIST; `synthetic_mnist` makes a
    stand-in from NumPy's RandomState (the same numbers under both libraries). Images are
    SIDE x SIDE = 16 x 16 instead of 28 x 28 (the conv net's shapes still work out:
    16 -> 8 -> 7 -> 2 -> 1), in shape_as_image too.
  * `main` returns the test loss and accuracy it printed each epoch. JAX's mean of
    booleans is float32 even with x64, funcad's float64 (NumPy's rule), so the accuracies
    agree to float32 precision only.
"""

import itertools
import time

from funcad import grad
from funcad import jit
from funcad import random
from funcad import vmap
from funcad.example_libraries import optimizers
from funcad.example_libraries import stax
import funcad.numpy as jnp
from funcad.tree_util import tree_flatten, tree_unflatten

import numpy as np
import numpy.random as npr

SIDE = 16


init_random_params, predict = stax.serial(
    stax.Conv(16, (8, 8), padding='SAME', strides=(2, 2)),
    stax.Relu,
    stax.MaxPool((2, 2), (1, 1)),
    stax.Conv(32, (4, 4), padding='VALID', strides=(2, 2)),
    stax.Relu,
    stax.MaxPool((2, 2), (1, 1)),
    stax.Flatten,
    stax.Dense(32),
    stax.Relu,
    stax.Dense(10),
)


def loss(params, batch):
  inputs, targets = batch
  logits = predict(params, inputs)
  logits = stax.logsoftmax(logits)  # log normalize
  return -jnp.mean(jnp.sum(logits * targets, axis=1))  # cross entropy loss


def accuracy(params, batch):
  inputs, targets = batch
  target_class = jnp.argmax(targets, axis=1)
  predicted_class = jnp.argmax(predict(params, inputs), axis=1)
  return jnp.mean(predicted_class == target_class)


def clipped_grad(params, l2_norm_clip, single_example_batch):
  """Evaluate gradient for a single-example batch and clip its grad norm."""
  grads = grad(loss)(params, single_example_batch)
  nonempty_grads, tree_def = tree_flatten(grads)
  total_grad_norm = jnp.linalg.norm(
      jnp.array([jnp.linalg.norm(neg.ravel()) for neg in nonempty_grads]))
  divisor = jnp.maximum(total_grad_norm / l2_norm_clip, 1.)
  normalized_nonempty_grads = [g / divisor for g in nonempty_grads]
  return tree_unflatten(tree_def, normalized_nonempty_grads)


def private_grad(params, batch, rng, l2_norm_clip, noise_multiplier,
                 batch_size):
  """Return differentially private gradients for params, evaluated on batch."""
  clipped_grads = vmap(clipped_grad, (None, None, 0))(params, l2_norm_clip, batch)
  clipped_grads_flat, grads_treedef = tree_flatten(clipped_grads)
  aggregated_clipped_grads = [g.sum(0) for g in clipped_grads_flat]
  rngs = random.split(rng, len(aggregated_clipped_grads))
  noised_aggregated_clipped_grads = [
      g + l2_norm_clip * noise_multiplier * random.normal(r, g.shape)
      for r, g in zip(rngs, aggregated_clipped_grads)]
  normalized_noised_aggregated_clipped_grads = [
      g / batch_size for g in noised_aggregated_clipped_grads]
  return tree_unflatten(grads_treedef, normalized_noised_aggregated_clipped_grads)


def shape_as_image(images, labels, dummy_dim=False):
  target_shape = (-1, 1, SIDE, SIDE, 1) if dummy_dim else (-1, SIDE, SIDE, 1)
  return jnp.reshape(images, target_shape), labels


def synthetic_mnist(num_train, num_test, side=SIDE, noise=0.35, seed=0):
  """MNIST's layout (flat images in [0, 1], one-hot labels): class prototypes plus noise."""
  rs = npr.RandomState(seed)
  prototypes = rs.uniform(size=(10, side * side))

  def make(n):
    labels = rs.randint(10, size=n)
    images = np.clip(prototypes[labels] + noise * rs.normal(size=(n, side * side)), 0, 1)
    return images, np.eye(10)[labels]
  return (*make(num_train), *make(num_test))


def main(dpsgd=True, learning_rate=.15, noise_multiplier=1.1, l2_norm_clip=1.0,
         batch_size=256, epochs=60, seed=0, num_train=1024, num_test=256, verbose=True):

  train_images, train_labels, test_images, test_labels = synthetic_mnist(
      num_train, num_test)
  num_train = train_images.shape[0]
  num_complete_batches, leftover = divmod(num_train, batch_size)
  num_batches = num_complete_batches + bool(leftover)
  key = random.key(seed)

  def data_stream():
    rng = npr.RandomState(seed)
    while True:
      perm = rng.permutation(num_train)
      for i in range(num_batches):
        batch_idx = perm[i * batch_size:(i + 1) * batch_size]
        yield train_images[batch_idx], train_labels[batch_idx]

  batches = data_stream()

  opt_init, opt_update, get_params = optimizers.sgd(learning_rate)

  @jit
  def update(_, i, opt_state, batch):
    params = get_params(opt_state)
    return opt_update(i, grad(loss)(params, batch), opt_state)

  @jit
  def private_update(rng, i, opt_state, batch):
    params = get_params(opt_state)
    rng = random.fold_in(rng, i)  # get new key for new random numbers
    return opt_update(
        i,
        private_grad(params, batch, rng, l2_norm_clip,
                     noise_multiplier, batch_size), opt_state)

  _, init_params = init_random_params(key, (-1, SIDE, SIDE, 1))
  opt_state = opt_init(init_params)
  itercount = itertools.count()

  history = {"test_loss": [], "test_acc": []}
  if verbose:
    print('\nStarting training...')
  for epoch in range(1, epochs + 1):
    start_time = time.time()
    for _ in range(num_batches):
      if dpsgd:
        opt_state = \
            private_update(
                key, next(itercount), opt_state,
                shape_as_image(*next(batches), dummy_dim=True))
      else:
        opt_state = update(
            key, next(itercount), opt_state, shape_as_image(*next(batches)))
    epoch_time = time.time() - start_time

    # evaluate test accuracy
    params = get_params(opt_state)
    test_acc = accuracy(params, shape_as_image(test_images, test_labels))
    test_loss = loss(params, shape_as_image(test_images, test_labels))
    if verbose:
      print(f'Epoch {epoch} in {epoch_time:0.2f} sec')
      print('Test set loss, accuracy (%): ({:.2f}, {:.2f})'.format(
          test_loss, 100 * test_acc))
    history["test_loss"].append(float(test_loss))
    history["test_acc"].append(float(test_acc))
  return history


if __name__ == '__main__':
  main()
