"""Record JAX's numbers for the ports in tests/programs/ (never run at test time).

Each port imports funcad under JAX's names (`funcad` for `jax`, `funcad.optim` for `optax`,
...). This script runs a port with those imports pointing back at JAX, calls its `main`
with the small sizes listed in CASES, and writes what it returns to jax_reference.json,
which tests/test_programs.py compares funcad's run against. It needs a separate
environment with JAX; funcad itself is not imported:

    python -m venv /tmp/jaxvenv && /tmp/jaxvenv/bin/pip install jax jaxlib numpy scipy optax
    /tmp/jaxvenv/bin/python tests/programs/record_jax.py [port names...]

With names, only those ports are re-recorded; the others keep their stored numbers.
With `--random`, it prints instead JAX's draws for the expressions in RANDOM_ROWS as the
rows of tests/test_random_extra.py's JAX table (`expression: (dtype, shape, values)`).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import json
import pathlib
import sys
import textwrap

import jax

jax.config.update("jax_enable_x64", True)

HERE = pathlib.Path(__file__).parent
OUT = HERE / "jax_reference.json"

# port name: keyword arguments of its main() (small sizes, so that funcad's test is quick)
CASES = {
    "mnist_classifier": dict(num_epochs=3, step_size=0.01, num_train=384, num_test=256,
                             side=8),
    "mnist_classifier_fromscratch": dict(layer_sizes=(64, 32, 32, 10), num_epochs=3,
                                         step_size=0.5, num_train=512, num_test=256),
    "advi": dict(num_iters=10, num_samples=20),
    "mnist_vae": dict(num_epochs=2, step_size=0.01, nrow=3, ncol=3, num_train=128,
                      num_test=64),
    "differentially_private_sgd": dict(batch_size=32, epochs=2, learning_rate=0.5,
                                       num_train=128, num_test=64),
    "neural_network_and_data_loading": dict(side=8, num_epochs=3, num_train=384,
                                            num_test=256),
    "custom_derivative_rules": dict(),
    "autodiff_cookbook": dict(),
    "optax_getting_started": dict(num_train_steps=201),
    "gaussian_process_regression": dict(num_steps=1000, num_test=25),
    "convolutions": dict(image_shape=(96, 128)),
    "vmapped_log_probs": dict(num_iters=100),
    "thinking_in_jax": dict(),
    "autodiff_remat": dict(),
}

# funcad.random expressions (jr is the random module; K42 = PRNGKey(42)) recorded by --random
RANDOM_ROWS = [
    "jr.binomial(K42, np.array([5., 20., 100., 1000., 40., 7.]),"
    " np.array([.3, .7, .4, .01, .95, .5]))",
    "jr.binomial(K42, 50., 0.3, (8,))",
    "jr.binomial(K42, np.array([[3.], [300.]]), np.array([.2, .6, .9]))",
    "jr.binomial(jr.PRNGKey(7), 1000., 0.5, (6,))",
    "jr.binomial(K42, np.array([np.nan, -1., np.inf, 5., 5., 5., 0., 7.9, np.inf]),"
    " np.array([.5, .5, .5, np.nan, 1., 0., .3, 1., .7]))",
    "jr.binomial(K42, 20., np.float32(0.4), (5,), dtype=np.float32)",
    "jr.binomial(K42, np.float32(300.), np.float32(0.45), (6,), dtype=np.float32)",
    "jr.binomial(K42, 40., 0.3, (4,), dtype=np.float32)",
    "jr.multinomial(K42, 10., np.array([.2, .3, .1, .4]))",
    "jr.multinomial(K42, 1000., np.array([.2, .3, .1, .4]))",
    "jr.multinomial(K42, np.array([5., 50.]), np.array([[.5, .5, 0.], [.1, .1, .8]]))",
    "jr.multinomial(jr.PRNGKey(3), 100., np.array([.2, .3, .5]), shape=(4, 3))",
    "jr.multinomial(K42, 30., np.array([.25, .25, .5], np.float32), dtype=np.float32)",
    "jr.gumbel(K42, (7,), mode='high')",
    "jr.gumbel(jr.PRNGKey(5), (2, 3), mode='high')",
    "jr.gumbel(K42, (6,), np.float32, mode='high')",
    "jr.categorical(K42, np.array([[.1, 1., -.5, .3], [2., 0., 0., -1.]]), mode='high')",
]

# funcad's module names and the modules they stand for
RENAMES = {"funcad.optim": "optax", "funcad": "jax"}


def _jax_name(name):
    for ours, theirs in RENAMES.items():
        if name == ours or name.startswith(ours + "."):
            return theirs + name[len(ours):]
    return None


class _JaxFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answers `import funcad.x.y` with the already imported module `jax.x.y`."""

    def find_spec(self, name, path=None, target=None):
        """A spec for funcad's names; None for every other module."""
        if _jax_name(name) is None:
            return None
        return importlib.util.spec_from_loader(name, self)

    def create_module(self, spec):
        """The JAX module itself (so `funcad.numpy is jax.numpy`)."""
        return importlib.import_module(_jax_name(spec.name))

    def exec_module(self, module):
        """Nothing to run: the JAX module is already imported."""


def load(name):
    """The port tests/programs/<name>.py, imported with JAX behind funcad's names."""
    spec = importlib.util.spec_from_file_location(f"port_{name}", HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _plain(value):
    """JSON-ready copy of a port's result (arrays become nested lists of Python numbers)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


def random_rows():
    """Print JAX's draws for RANDOM_ROWS as Python source for a recorded-rows table."""
    import numpy as np
    import jax.random as jr
    env = {"jr": jr, "np": np, "K42": jr.PRNGKey(42)}
    for expr in RANDOM_ROWS:
        out = np.asarray(eval(expr, env))
        key = textwrap.wrap(expr, 60, break_long_words=False, drop_whitespace=False)
        print("\n".join(f"    {part!r}" for part in key) + f": ({str(out.dtype)!r}, "
              f"{out.shape}, [")
        values = ", ".join(repr(v.item()) for v in out.ravel())
        print("\n".join("        " + line for line in textwrap.wrap(values, 88)))
        print("    ]),")


def main(names):
    """Run the named ports (all by default) under JAX and store their results."""
    sys.meta_path.insert(0, _JaxFinder())
    stored = json.loads(OUT.read_text()) if OUT.exists() else {}
    ports = stored.get("ports", {})
    for name in names or CASES:
        kwargs = CASES[name]
        result = _plain(load(name).main(**kwargs, verbose=False))
        ports[name] = {"kwargs": kwargs, "result": result}
        print(name, json.dumps(result)[:200])
    import optax
    stored = {"jax_version": jax.__version__, "optax_version": optax.__version__, "x64": True,
              "ports": {k: ports[k] for k in sorted(ports)}}
    OUT.write_text(json.dumps(stored, indent=1) + "\n")


if __name__ == "__main__":
    if sys.argv[1:] == ["--random"]:
        random_rows()
    else:
        main(sys.argv[1:])
