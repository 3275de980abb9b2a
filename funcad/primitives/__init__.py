"""The primitive set. Importing this package registers every primitive and its rules."""

from funcad.primitives import (  # noqa: F401
    bits,
    call,
    control,
    decompositions,
    elementwise,
    fft,
    linalg,
    linalg_more,
    prng,
    reductions,
    structural,
)
