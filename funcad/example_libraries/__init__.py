"""funcad.example_libraries: JAX's small example libraries (optimizers, stax)."""
