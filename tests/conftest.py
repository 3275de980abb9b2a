"""Shared test configuration."""

import os
import tempfile

import numpy as np
import pytest

# Compiled programs go to a throw-away cache so tests never see a stale user cache.
os.environ.setdefault("FUNCAD_CACHE_DIR", tempfile.mkdtemp(prefix="funcad-test-cache-"))


@pytest.fixture
def rng():
    return np.random.default_rng(0)
