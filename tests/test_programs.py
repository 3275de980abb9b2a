"""Ports of JAX programs (tests/programs/): each runs on funcad with its imports renamed
(see each file's header for what else changed) and must print JAX's numbers.

JAX's numbers were recorded once by tests/programs/record_jax.py (JAX 0.10.2 and optax
0.2.8, x64, CPU, in a separate environment; JAX is never imported here) into
tests/programs/jax_reference.json, together with the small sizes each port was run at
(re-record with that script after changing a port). Each test runs the port's `main` with
those sizes on funcad and compares every number it returns.
"""

from __future__ import annotations

import importlib.util
import json
import pathlib

import numpy as np
import pytest

import funcad as fa
from funcad.tree_util import tree_leaves

PROGRAMS = pathlib.Path(__file__).parent / "programs"
REFERENCE = json.loads((PROGRAMS / "jax_reference.json").read_text())["ports"]

# Relative tolerance per port and result key; the default is RTOL. The computations are
# deterministic and x64, so the only differences left are rounding (summation order in
# XLA's dot and reductions vs NumPy's, libm vs XLA's exp/log/tanh), grown by training.
RTOL = 1e-9
TOLERANCES = {
    # Accuracies are means of booleans: float32 in JAX and funcad (JAX's rule for bool and
    # integers of up to 32 bits, also with x64). XLA divides by a constant as a product
    # with its rounded reciprocal, funcad divides: they may differ by one float32 ulp.
    **{(name, key): 2.0 ** -23 for name, keys in {
        "mnist_classifier": ("train_acc", "test_acc"),
        "mnist_classifier_fromscratch": ("train_acc", "test_acc"),
        "differentially_private_sgd": ("test_acc",),
        "mnist_vae": ("sampled_mean",),
        "neural_network_and_data_loading": ("train_acc", "test_acc")}.items()
       for key in keys},
    # The learned GP is ill-conditioned (noise variance 4e-7 against an amplitude of 7.5
    # on 7 points): its solves grow the hyperparameters' 1e-11 rounding differences
    # after 1000 steps to ~6e-9 in the predictive mean and standard deviation.
    ("gaussian_process_regression", "mu"): 1e-7,
    ("gaussian_process_regression", "std"): 1e-7,
    # optax's warmup_cosine_decay_schedule at its int32 step count is float32 (the cosine
    # branch is a weakly typed float64 that yields to the float32 warmup branch in
    # jnp.where), in JAX and funcad, and funcad's rates are JAX's eager ones bit for bit.
    # But under jit XLA's float32 arithmetic rounds 11 of the first 60 rates differently
    # from JAX's eager ones (2.7e-7 at step 11), and the losses of the MLPs trained with
    # that schedule, driven to 1e-31..1e-150 (exp(-margin)) by peak learning rate 1,
    # differ by 1.3e-2 (clip + adamw) and 1.8e-2 (inject_hyperparams(adamw)) at step 200.
    # Fed JAX's jitted float32 rates, funcad gives JAX's losses to 1.3e-9 and 2.5e-10.
    ("optax_getting_started", "mlp_clip_adamw_loss"): 2e-2,
    ("optax_getting_started", "mlp_injected_adamw_loss"): 2e-2,
    # The float32 3D convolution: XLA and funcad add its 7 float32 products per output in
    # different orders (neither accumulates in float64), so its elements differ by up to
    # 2 float32 ulps (2.4e-7 of values up to 1.9); summed over 27000 elements in float64
    # that is 7.8e-10 (sum of |out|) and 2.3e-9 (sum of squares).
    ("convolutions", "conv_3d_abssum"): 1e-8,
    ("convolutions", "conv_3d_sumsq"): 1e-8,
    # The notebook's variational parameters are float32 (`jnp.zeros(10, jnp.float32)`), and
    # `jnp.exp(beta_log_scale)` is a float32 exp: NumPy's (the kernels here) and XLA's round
    # differently (1 ulp apart on 39% of float32 inputs near 0; NumPy's is 1 ulp from the
    # rounded float64 exp on 39%, XLA's on 4%). From step 1 on, the SGD steps drift apart
    # by float32 ulps: after 100 steps the parameters differ by up to 5 ulps (5.4e-7, within
    # 2^-20 = 8 ulps) and the printed float64 ELBOs by 1.1e-8 (Numba's compiled libm expf:
    # 4 ulps and 3.4e-9). With that exp computed in float64 and rounded to float32 in both,
    # funcad gives JAX's parameters bit for bit and its ELBOs to 6e-16.
    ("vmapped_log_probs", "elbo"): 2e-8,
    **{("vmapped_log_probs", key): 2.0 ** -20 for key in ("beta_loc", "upper", "lower")},
}
# run under disable_jit (NumPy kernels): the kernels of programs with large matmuls or
# convolutions are slow as generated Python (tests' FUNCAD_DISABLE_JIT=1)
EAGER = {"mnist_classifier", "mnist_vae", "differentially_private_sgd",
         "neural_network_and_data_loading"}


def _load(name):
    spec = importlib.util.spec_from_file_location(f"programs_{name}", PROGRAMS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(name):
    kwargs = REFERENCE[name]["kwargs"]
    main = _load(name).main
    if name in EAGER:
        with fa.disable_jit():
            return main(**kwargs, verbose=False)
    return main(**kwargs, verbose=False)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_port_prints_jax_numbers(name):
    got = _run(name)
    expected = REFERENCE[name]["result"]
    assert sorted(got) == sorted(expected)
    for key, want in expected.items():
        rtol = TOLERANCES.get((name, key), RTOL)
        np.testing.assert_allclose(np.asarray(got[key], np.float64), np.asarray(want, np.float64),
                                   rtol=rtol, atol=0, err_msg=f"{name}: {key}")


def test_mnist_classifier_update_step_jit_matches_eager():
    # the program's jitted update step (here through the generated source) against eager
    m = _load("mnist_classifier")
    images, labels, _, _ = m.synthetic_mnist(num_train=32, num_test=1, side=8)
    opt_init, opt_update, get_params = m.optimizers.momentum(0.01, mass=0.9)
    _, params = m.init_random_params(fa.random.key(0), (-1, 64))

    def update(i, opt_state, batch):
        return opt_update(i, fa.grad(m.loss)(get_params(opt_state), batch), opt_state)
    state = opt_init(params)
    eager = update(0, state, (images, labels))
    jitted = fa.jit(update)(0, state, (images, labels))
    for a, b in zip(tree_leaves(eager), tree_leaves(jitted), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-13)
