"""The primitive set. Importing this package registers every primitive and its rules."""

from funcad.primitives import (  # noqa: F401
    call,
    control,
    elementwise,
    linalg,
    prng,
    reductions,
    structural,
)
