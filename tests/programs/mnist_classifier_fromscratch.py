"""A basic MNIST example using Numpy and JAX (an MLP written from scratch, plain SGD).

Port of JAX's examples/mnist_classifier_fromscratch.py (github.com/jax-ml/jax, commit
cec06d1, Apache License 2.0; Copyright 2018 The JAX Authors) to funcad. What changed:
  * imports: `jax` -> `funcad` (jax.numpy -> funcad.numpy, jax.scipy.special ->
    funcad.scipy.special); init_random_params, predict, loss, accuracy and update are
    unchanged.
  * data: `examples.datasets.mnist()` downloads MNIST; `synthetic_mnist` makes a stand-in
    with the same layout from NumPy's RandomState (the same numbers under both libraries).
  * size: the `__main__` block became `main(...)` with the sizes as arguments (the test
    runs 2 epochs of 8x8 images through [64, 32, 32, 10]); it returns the accuracies it
    printed and, new, the training loss per epoch; it passes init_random_params a fresh
    RandomState(0) (its default argument is one generator shared by every call).
  * JAX's mean of booleans is float32 even with x64, funcad's float64 (NumPy's rule), so
    the accuracies agree to float32 precision only.
"""

import time

import numpy as np
import numpy.random as npr

import funcad.numpy as jnp
from funcad import grad, jit
from funcad.scipy.special import logsumexp


def init_random_params(scale, layer_sizes, rng=npr.RandomState(0)):
  return [(scale * rng.randn(m, n), scale * rng.randn(n))
          for m, n, in zip(layer_sizes[:-1], layer_sizes[1:])]

def predict(params, inputs):
  activations = inputs
  for w, b in params[:-1]:
    outputs = jnp.dot(activations, w) + b
    activations = jnp.tanh(outputs)

  final_w, final_b = params[-1]
  logits = jnp.dot(activations, final_w) + final_b
  return logits - logsumexp(logits, axis=1, keepdims=True)

def loss(params, batch):
  inputs, targets = batch
  preds = predict(params, inputs)
  return -jnp.mean(jnp.sum(preds * targets, axis=1))

def accuracy(params, batch):
  inputs, targets = batch
  target_class = jnp.argmax(targets, axis=1)
  predicted_class = jnp.argmax(predict(params, inputs), axis=1)
  return jnp.mean(predicted_class == target_class)


def synthetic_mnist(num_train, num_test, side, noise=0.35, seed=0):
  """MNIST's layout (flat images in [0, 1], one-hot labels): class prototypes plus noise."""
  rs = npr.RandomState(seed)
  prototypes = rs.uniform(size=(10, side * side))

  def make(n):
    labels = rs.randint(10, size=n)
    images = np.clip(prototypes[labels] + noise * rs.normal(size=(n, side * side)), 0, 1)
    return images, np.eye(10)[labels]
  return (*make(num_train), *make(num_test))


def main(layer_sizes=(784, 1024, 1024, 10), param_scale=0.1, step_size=0.001,
         num_epochs=10, batch_size=128, num_train=1000, num_test=200, verbose=True):
  layer_sizes = list(layer_sizes)
  side = int(round(layer_sizes[0] ** 0.5))

  train_images, train_labels, test_images, test_labels = synthetic_mnist(
      num_train, num_test, side)
  num_train = train_images.shape[0]
  num_complete_batches, leftover = divmod(num_train, batch_size)
  num_batches = num_complete_batches + bool(leftover)

  def data_stream():
    rng = npr.RandomState(0)
    while True:
      perm = rng.permutation(num_train)
      for i in range(num_batches):
        batch_idx = perm[i * batch_size:(i + 1) * batch_size]
        yield train_images[batch_idx], train_labels[batch_idx]
  batches = data_stream()

  @jit
  def update(params, batch):
    grads = grad(loss)(params, batch)
    return [(w - step_size * dw, b - step_size * db)
            for (w, b), (dw, db) in zip(params, grads)]

  history = {"train_loss": [], "train_acc": [], "test_acc": []}
  params = init_random_params(param_scale, layer_sizes, rng=npr.RandomState(0))
  for epoch in range(num_epochs):
    start_time = time.time()
    for _ in range(num_batches):
      params = update(params, next(batches))
    epoch_time = time.time() - start_time

    train_acc = accuracy(params, (train_images, train_labels))
    test_acc = accuracy(params, (test_images, test_labels))
    history["train_loss"].append(float(loss(params, (train_images, train_labels))))
    history["train_acc"].append(float(train_acc))
    history["test_acc"].append(float(test_acc))
    if verbose:
      print(f"Epoch {epoch} in {epoch_time:0.2f} sec")
      print(f"Training set accuracy {train_acc}")
      print(f"Test set accuracy {test_acc}")
  return history


if __name__ == "__main__":
  main()
