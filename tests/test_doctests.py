"""The examples in public docstrings run and print what they say."""

import doctest
import importlib
import pkgutil

import pytest

import funcad

MODULES = sorted(m.name for m in pkgutil.walk_packages(funcad.__path__, "funcad.")
                 if not m.name.endswith("__main__"))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    if name == "funcad.distributed":
        pytest.importorskip("dask.distributed")   # the `distributed` extra
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"


def test_public_functions_have_docstrings():
    import funcad.numpy as fnp
    from funcad.scipy import linalg, special, stats
    missing = []
    for dist in stats.__all__:
        for fname, fn in vars(getattr(stats, dist)).items():
            if not fn.__doc__:
                missing.append(f"funcad.scipy.stats.{dist}.{fname}")
    for mod in (funcad, fnp, fnp.linalg, fnp.fft, funcad.lax, funcad.tree_util, funcad.random, special,
                linalg):
        for name in getattr(mod, "__all__", None) or dir(mod):
            obj = getattr(mod, name)
            if name.startswith("_") or not callable(obj) or isinstance(obj, type):
                continue
            if getattr(obj, "__module__", "").startswith("funcad") and not obj.__doc__:
                missing.append(f"{mod.__name__}.{name}")
    assert not missing, f"public functions without a docstring: {missing}"
