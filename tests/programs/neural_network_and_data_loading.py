"""Training a simple neural network, with NumPy data loading (JAX's tutorial notebook).

Port of docs/notebooks/Neural_Network_and_Data_Loading.md of github.com/jax-ml/jax (commit
cec06d1, Apache License 2.0; Copyright 2018 The JAX Authors) to funcad. What changed:
  * imports: `jax` -> `funcad` (jax.numpy, jax.random, jax.scipy.special); the
    initialization, predict, its vmap, one_hot, accuracy, loss and update are the
    notebook's.
  * data: the notebook loads MNIST with torchvision and a torch DataLoader; here
    `synthetic_mnist` makes the same arrays from NumPy's RandomState (pixel values 0-255,
    the training set as uint8 like `mnist_dataset.train_data`, the test set as float32,
    integer labels), and `training_generator` yields the loader's batches (in order, no
    shuffling, float32 images as flatten_and_cast made them, the last batch short).
  * size: images are side x side (8 x 8 in the test, not 28 x 28; layer_sizes follows), and
    the cells became `main(...)`, which returns the accuracies the notebook printed. The
    shape checks printed by the first cells are kept as return values too.
  * JAX's mean of booleans is float32 even with x64, funcad's float64 (NumPy's rule), so
    the accuracies agree to float32 precision only.
"""

import time

import numpy as np
import numpy.random as npr

import funcad.numpy as jnp
from funcad import grad, jit, vmap
from funcad import random
from funcad.scipy.special import logsumexp


# A helper function to randomly initialize weights and biases
# for a dense neural network layer
def random_layer_params(m, n, key, scale=1e-2):
  w_key, b_key = random.split(key)
  return scale * random.normal(w_key, (n, m)), scale * random.normal(b_key, (n,))

# Initialize all layers for a fully-connected neural network with sizes "sizes"
def init_network_params(sizes, key):
  keys = random.split(key, len(sizes))
  return [random_layer_params(m, n, k) for m, n, k in zip(sizes[:-1], sizes[1:], keys)]


def relu(x):
  return jnp.maximum(0, x)

def predict(params, image):
  # per-example predictions
  activations = image
  for w, b in params[:-1]:
    outputs = jnp.dot(w, activations) + b
    activations = relu(outputs)

  final_w, final_b = params[-1]
  logits = jnp.dot(final_w, activations) + final_b
  return logits - logsumexp(logits)


# Make a batched version of the `predict` function
batched_predict = vmap(predict, in_axes=(None, 0))


def one_hot(x, k, dtype=jnp.float32):
  """Create a one-hot encoding of x of size k."""
  return jnp.array(x[:, None] == jnp.arange(k), dtype)

def accuracy(params, images, targets):
  target_class = jnp.argmax(targets, axis=1)
  predicted_class = jnp.argmax(batched_predict(params, images), axis=1)
  return jnp.mean(predicted_class == target_class)

def loss(params, images, targets):
  preds = batched_predict(params, images)
  return -jnp.mean(preds * targets)


def synthetic_mnist(num_train, num_test, side, noise=0.35, seed=0):
  """Raw MNIST-like pixels (0-255) and integer labels: class prototypes plus noise."""
  rs = npr.RandomState(seed)
  prototypes = rs.uniform(size=(10, side * side))

  def make(n):
    labels = rs.randint(10, size=n)
    pixels = np.clip(prototypes[labels] + noise * rs.normal(size=(n, side * side)), 0, 1)
    return np.round(255 * pixels).astype(np.uint8), labels
  return (*make(num_train), *make(num_test))


def main(side=28, hidden=512, step_size=0.01, num_epochs=8, batch_size=128,
         num_train=60000, num_test=10000, verbose=True):
  layer_sizes = [side * side, hidden, hidden, 10]
  n_targets = 10
  params = init_network_params(layer_sizes, random.key(0))
  history = {}

  # This works on single examples
  random_flattened_image = random.normal(random.key(1), (side * side,))
  preds = predict(params, random_flattened_image)
  history["single_preds"] = preds

  random_flattened_images = random.normal(random.key(1), (10, side * side))
  batched_preds = batched_predict(params, random_flattened_images)
  history["batched_preds_row0"] = batched_preds[0]

  @jit
  def update(params, x, y):
    grads = grad(loss)(params, x, y)
    return [(w - step_size * dw, b - step_size * db)
            for (w, b), (dw, db) in zip(params, grads)]

  raw_train, raw_train_labels, raw_test, raw_test_labels = synthetic_mnist(
      num_train, num_test, side)

  def training_generator():
    for i in range(0, num_train, batch_size):
      yield raw_train[i:i + batch_size].astype(np.float32), raw_train_labels[i:i + batch_size]

  # Get the full train dataset (for checking accuracy while training)
  train_images = raw_train.reshape(len(raw_train), -1)
  train_labels = one_hot(raw_train_labels, n_targets)

  # Get full test dataset
  test_images = jnp.array(raw_test.reshape(len(raw_test), -1), dtype=jnp.float32)
  test_labels = one_hot(raw_test_labels, n_targets)

  history.update(train_acc=[], test_acc=[])
  for epoch in range(num_epochs):
    start_time = time.time()
    for x, y in training_generator():
      y = one_hot(y, n_targets)
      params = update(params, x, y)
    epoch_time = time.time() - start_time

    train_acc = accuracy(params, train_images, train_labels)
    test_acc = accuracy(params, test_images, test_labels)
    if verbose:
      print("Epoch {} in {:0.2f} sec".format(epoch, epoch_time))
      print("Training set accuracy {}".format(train_acc))
      print("Test set accuracy {}".format(test_acc))
    history["train_acc"].append(float(train_acc))
    history["test_acc"].append(float(test_acc))
  history["final_loss"] = float(loss(params, test_images, test_labels))
  return history


if __name__ == "__main__":
  main()
