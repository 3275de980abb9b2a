"""Shared test configuration."""

import os
import tempfile

import numpy as np
import pytest

# Compiled programs go to a throw-away cache so tests never see a stale user cache.
os.environ.setdefault("FUNCAD_CACHE_DIR", tempfile.mkdtemp(prefix="funcad-test-cache-"))
# jit runs its generated source as plain Python by default in tests (Numba compiles cost
# ~1 s per program); tests/test_jit*.py switch Numba on for programs shared by many checks.
os.environ.setdefault("FUNCAD_DISABLE_JIT", "1")
# Compile before a first call returns (tests/test_tiered.py checks the background mode).
os.environ.setdefault("FUNCAD_COMPILE", "sync")


@pytest.fixture
def rng():
    return np.random.default_rng(0)
