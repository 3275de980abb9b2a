"""A basic variational autoencoder (VAE) on binarized MNIST using Numpy and JAX.

This file uses the stax network definition library and the optimizers
optimization library.

Port of JAX's examples/mnist_vae.py (github.com/jax-ml/jax, commit cec06d1, Apache
License 2.0; Copyright 2018 The JAX Authors) to funcad. What changed:
  * imports: `jax` -> `funcad` (jax.numpy, jax.lax, jax.random,
    jax.example_libraries.optimizers and stax); the model, the ELBO, run_epoch (a
    fori_loop of momentum steps with keys from fold_in), evaluate and image_sample are
    unchanged.
  * data and size: `examples.datasets.mnist()` downloads MNIST; `synthetic_images` makes
    gray images in [0, 1] from NumPy's RandomState (class prototypes plus noise; the same
    numbers under both libraries), binarized by random.bernoulli as before. Images are
    SIDE x SIDE = 8 x 8 instead of 28 x 28 (the decoder's last layer is Dense(SIDE * SIDE)).
  * output: the `__main__` block became `main(...)`; matplotlib is gone, and `main`
    returns the test ELBO it printed each epoch and the mean of each sampled image grid
    instead of saving the grids as PNG files. JAX's mean of booleans is float32 even with
    x64, funcad's float64 (NumPy's rule), so the grids' means agree to float32 precision.
"""

import time

import numpy as np
import numpy.random as npr

import funcad as jax
import funcad.numpy as jnp
from funcad import jit, grad, lax, random
from funcad.example_libraries import optimizers
from funcad.example_libraries import stax
from funcad.example_libraries.stax import Dense, FanOut, Relu, Softplus

SIDE = 8


def gaussian_kl(mu, sigmasq):
  """KL divergence from a diagonal Gaussian to the standard Gaussian."""
  return -0.5 * jnp.sum(1. + jnp.log(sigmasq) - mu**2. - sigmasq)

def gaussian_sample(rng, mu, sigmasq):
  """Sample a diagonal Gaussian."""
  return mu + jnp.sqrt(sigmasq) * random.normal(rng, mu.shape)

def bernoulli_logpdf(logits, x):
  """Bernoulli log pdf of data x given logits."""
  return -jnp.sum(jnp.logaddexp(0., jnp.where(x, -1., 1.) * logits))

def elbo(rng, params, images):
  """Monte Carlo estimate of the negative evidence lower bound."""
  enc_params, dec_params = params
  mu_z, sigmasq_z = encode(enc_params, images)
  logits_x = decode(dec_params, gaussian_sample(rng, mu_z, sigmasq_z))
  return bernoulli_logpdf(logits_x, images) - gaussian_kl(mu_z, sigmasq_z)

def image_sample(rng, params, nrow, ncol):
  """Sample images from the generative model."""
  _, dec_params = params
  code_rng, img_rng = random.split(rng)
  logits = decode(dec_params, random.normal(code_rng, (nrow * ncol, 10)))
  sampled_images = random.bernoulli(img_rng, jnp.logaddexp(0., logits))
  return image_grid(nrow, ncol, sampled_images, (SIDE, SIDE))

def image_grid(nrow, ncol, imagevecs, imshape):
  """Reshape a stack of image vectors into an image grid for plotting."""
  images = iter(imagevecs.reshape((-1,) + imshape))
  return jnp.vstack([jnp.hstack([next(images).T for _ in range(ncol)][::-1])
                    for _ in range(nrow)]).T


encoder_init, encode = stax.serial(
    Dense(512), Relu,
    Dense(512), Relu,
    FanOut(2),
    stax.parallel(Dense(10), stax.serial(Dense(10), Softplus)),
)

decoder_init, decode = stax.serial(
    Dense(512), Relu,
    Dense(512), Relu,
    Dense(SIDE * SIDE),
)


def synthetic_images(num_train, num_test, side=SIDE, noise=0.3, seed=0):
  """(train_images, test_images): flat gray images in [0, 1], class prototypes plus noise."""
  rs = npr.RandomState(seed)
  prototypes = rs.uniform(size=(10, side * side))

  def make(n):
    images = prototypes[rs.randint(10, size=n)] + noise * rs.normal(size=(n, side * side))
    return np.clip(images, 0, 1)
  return make(num_train), make(num_test)


def main(step_size=0.001, num_epochs=100, batch_size=32, nrow=10, ncol=10,
         num_train=2048, num_test=256, verbose=True):
  test_rng = random.key(1)  # fixed prng key for evaluation

  train_images, test_images = synthetic_images(num_train, num_test)
  num_complete_batches, leftover = divmod(train_images.shape[0], batch_size)
  num_batches = num_complete_batches + bool(leftover)

  enc_init_rng, dec_init_rng = random.split(random.key(2))
  _, init_encoder_params = encoder_init(enc_init_rng, (batch_size, SIDE * SIDE))
  _, init_decoder_params = decoder_init(dec_init_rng, (batch_size, 10))
  init_params = init_encoder_params, init_decoder_params

  opt_init, opt_update, get_params = optimizers.momentum(step_size, mass=0.9)

  train_images = jax.device_put(train_images)
  test_images = jax.device_put(test_images)

  def binarize_batch(rng, i, images):
    i = i % num_batches
    batch = lax.dynamic_slice_in_dim(images, i * batch_size, batch_size)
    return random.bernoulli(rng, batch)

  @jit
  def run_epoch(rng, opt_state, images):
    def body_fun(i, opt_state):
      elbo_rng, data_rng = random.split(random.fold_in(rng, i))
      batch = binarize_batch(data_rng, i, images)
      loss = lambda params: -elbo(elbo_rng, params, batch) / batch_size
      g = grad(loss)(get_params(opt_state))
      return opt_update(i, g, opt_state)
    return lax.fori_loop(0, num_batches, body_fun, opt_state)

  @jit
  def evaluate(opt_state, images):
    params = get_params(opt_state)
    elbo_rng, data_rng, image_rng = random.split(test_rng, 3)
    binarized_test = random.bernoulli(data_rng, images)
    test_elbo = elbo(elbo_rng, params, binarized_test) / images.shape[0]
    sampled_images = image_sample(image_rng, params, nrow, ncol)
    return test_elbo, sampled_images

  history = {"test_elbo": [], "sampled_mean": []}
  opt_state = opt_init(init_params)
  for epoch in range(num_epochs):
    tic = time.time()
    opt_state = run_epoch(random.key(epoch), opt_state, train_images)
    test_elbo, sampled_images = evaluate(opt_state, test_images)
    if verbose:
      print(f"{epoch: 3d} {test_elbo} ({time.time() - tic:.3f} sec)")
    history["test_elbo"].append(float(test_elbo))
    history["sampled_mean"].append(float(jnp.mean(sampled_images)))
  return history


if __name__ == "__main__":
  main()
