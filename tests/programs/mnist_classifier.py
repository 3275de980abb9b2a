"""A basic MNIST-style classifier with the mini-libraries stax and optimizers.

Port of JAX's examples/mnist_classifier.py (github.com/jax-ml/jax, commit cec06d1, Apache
License 2.0) to funcad. What changed:
  * imports: `jax` -> `funcad` (jax.numpy -> funcad.numpy, jax.example_libraries ->
    funcad.example_libraries); nothing else in the model, loss, accuracy, optimizer or
    update step changed.
  * data: `examples.datasets.mnist()` downloads MNIST; this port has no network, so
    `synthetic_mnist` makes a small stand-in with the same layout (flattened images in
    [0, 1], one-hot float labels of 10 classes): each class is a fixed random prototype
    image, and an example is its class's prototype plus noise.
  * size: the training loop moved into `main(...)` with arguments so that a test can run
    it in seconds (fewer, smaller images, a few epochs); `main()` returns the per-epoch
    losses and accuracies instead of only printing them (the training loss is new).
  * reference numbers: tests/programs/record_jax.py ran this file under JAX 0.10.2 (x64)
    and stored main()'s result in jax_reference.json; the data is made by NumPy from a
    fixed seed, so both libraries train on the same numbers. JAX's mean of booleans is
    float32 even with x64, funcad's float64 (NumPy's rule), so the accuracies agree to
    float32 precision only.
"""

import itertools
import time

import numpy as np
import numpy.random as npr

import funcad.numpy as jnp
from funcad import grad, jit, random
from funcad.example_libraries import optimizers, stax
from funcad.example_libraries.stax import Dense, LogSoftmax, Relu


def loss(params, batch):
    inputs, targets = batch
    preds = predict(params, inputs)
    return -jnp.mean(jnp.sum(preds * targets, axis=1))


def accuracy(params, batch):
    inputs, targets = batch
    target_class = jnp.argmax(targets, axis=1)
    predicted_class = jnp.argmax(predict(params, inputs), axis=1)
    return jnp.mean(predicted_class == target_class)


init_random_params, predict = stax.serial(
    Dense(1024), Relu,
    Dense(1024), Relu,
    Dense(10), LogSoftmax)


def synthetic_mnist(num_train=1000, num_test=200, side=28, noise=0.35, seed=0):
    """(train_images, train_labels, test_images, test_labels) laid out as
    examples/datasets.mnist(): images flattened to side*side floats in [0, 1], labels
    one-hot float64 [n, 10]."""
    rs = npr.RandomState(seed)
    prototypes = rs.uniform(size=(10, side * side))

    def make(n):
        labels = rs.randint(10, size=n)
        images = np.clip(prototypes[labels] + noise * rs.normal(size=(n, side * side)), 0, 1)
        return images, np.eye(10)[labels]
    train_images, train_labels = make(num_train)
    test_images, test_labels = make(num_test)
    return train_images, train_labels, test_images, test_labels


def main(num_epochs=10, batch_size=128, step_size=0.001, momentum_mass=0.9,
         num_train=1000, num_test=200, side=28, verbose=True):
    rng = random.key(0)

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

    opt_init, opt_update, get_params = optimizers.momentum(step_size, mass=momentum_mass)

    @jit
    def update(i, opt_state, batch):
        params = get_params(opt_state)
        return opt_update(i, grad(loss)(params, batch), opt_state)

    _, init_params = init_random_params(rng, (-1, train_images.shape[1]))
    opt_state = opt_init(init_params)
    itercount = itertools.count()

    history = {"train_loss": [float(loss(init_params, (train_images, train_labels)))],
               "train_acc": [float(accuracy(init_params, (train_images, train_labels)))],
               "test_acc": [float(accuracy(init_params, (test_images, test_labels)))]}
    if verbose:
        print("\nStarting training...")
    for epoch in range(num_epochs):
        start_time = time.time()
        for _ in range(num_batches):
            opt_state = update(next(itercount), opt_state, next(batches))
        epoch_time = time.time() - start_time

        params = get_params(opt_state)
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
