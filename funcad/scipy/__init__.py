"""funcad.scipy: the jax.scipy of funcad (special functions, distributions, linear algebra,
convolutions).

Every function is a composite of funcad primitives (with custom derivative rules where
the chain rule through an approximation would be inaccurate), so it works eagerly and
under jit, vmap, grad and their compositions.
"""

from funcad.scipy import linalg, signal, special, stats

__all__ = ["linalg", "signal", "special", "stats"]
