"""Ports of JAX programs (tests/programs/): each runs on funcad with its imports renamed
(see each file's header for what else changed) and is checked for what its output must
show, since JAX's own numbers cannot be recorded here."""

from __future__ import annotations

import importlib.util
import itertools
import pathlib

import numpy as np

import funcad as fa
from funcad.tree_util import tree_leaves

PROGRAMS = pathlib.Path(__file__).parent / "programs"


def _load(name):
    spec = importlib.util.spec_from_file_location(f"programs_{name}", PROGRAMS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_mnist_classifier_trains():
    m = _load("mnist_classifier")
    data = m.synthetic_mnist(num_train=384, num_test=256, side=8)
    # the training loop eagerly (disable_jit: NumPy kernels), so that it takes seconds
    with fa.disable_jit():
        h = m.main(num_epochs=3, step_size=0.01, data=data, verbose=False)
    losses, train_acc, test_acc = h["train_loss"], h["train_acc"], h["test_acc"]
    assert all(b < a for a, b in itertools.pairwise(losses)), losses
    assert losses[-1] < losses[0] - 0.1, losses
    assert train_acc[0] < 0.2 and train_acc[-1] > 0.4, train_acc  # chance is 0.1
    assert test_acc[-1] > 0.3 and test_acc[-1] > test_acc[0] + 0.15, test_acc


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
