"""funcad's exception classes under JAX's module name (`jax.errors`)."""

from funcad._core import (ConcretizationTypeError, FuncadError, NonConcreteBooleanIndexError,
                          UnexpectedTracerError)

#: JAX's names for the concretization errors of bool() and np.asarray() on a traced value.
TracerBoolConversionError = ConcretizationTypeError
TracerIntegerConversionError = ConcretizationTypeError

__all__ = ["ConcretizationTypeError", "FuncadError", "NonConcreteBooleanIndexError",
           "TracerBoolConversionError",
           "TracerIntegerConversionError", "UnexpectedTracerError"]
