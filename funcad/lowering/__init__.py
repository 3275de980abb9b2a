"""Backends that turn jaxprs into native code (today: Numba)."""
