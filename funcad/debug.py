"""funcad.debug: `print` and `callback` that work eagerly, under jit, vmap and grad."""

from funcad._callback import debug_callback as callback
from funcad._callback import debug_print as print  # noqa: A001  (JAX's name)

__all__ = ["callback", "print"]
