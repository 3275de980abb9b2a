"""The primitive set. Importing this package registers every primitive and its rules."""

from funcad.primitives import (  # noqa: F401
    call,
    control,
    decompositions,
    elementwise,
    fft,
    linalg,
    prng,
    reductions,
    structural,
)
