"""funcad.experimental: APIs that mirror jax.experimental (ode)."""
