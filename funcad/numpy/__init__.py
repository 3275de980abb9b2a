"""funcad.numpy: NumPy's API on traced values (the jax.numpy of funcad).

Every function works on plain arrays and inside any transform; NumPy's names, argument
names, broadcasting and dtype rules apply (float64 by default).
"""

from numpy import (  # noqa: F401  dtypes and constants, as in numpy
    bool_, complex64, complex128, dtype, e, euler_gamma, float16, float32, float64, inf,
    int8, int16, int32, int64, integer, floating, inexact, nan, newaxis, number, pi,
    uint8, uint32, uint64, iinfo, finfo, issubdtype, ndarray,
)

from funcad.numpy import linalg  # noqa: F401
from funcad.numpy._base import (  # noqa: F401
    arange, array, asarray, astype, broadcast_arrays, broadcast_shapes, broadcast_to, eye,
    full, full_like, identity, linspace, ndim, ones, ones_like, result_type, shape, size,
    stack, zeros, zeros_like,
)
from funcad.numpy._contract import (  # noqa: F401
    dot, einsum, inner, matmul, outer, tensordot, trace, vdot,
)
from funcad.numpy._indexing import (  # noqa: F401
    argwhere, at, nonzero, take, take_along_axis,
)
from funcad.numpy._reductions import (  # noqa: F401
    all, amax, amin, any, argmax, argmin, average, cumsum, max, mean, min, prod, std, sum,
    var,
)
from funcad.numpy._shapes import (  # noqa: F401
    array_split, atleast_1d, atleast_2d, column_stack, concatenate, diag, diagonal,
    expand_dims, flip, fliplr, flipud, hstack, moveaxis, pad, permute_dims, ravel, repeat,
    reshape, roll, split, squeeze, swapaxes, tile, transpose, tril, triu, vstack,
)
from funcad.numpy._ufuncs import (  # noqa: F401
    abs, absolute, acos, add, arccos, arcsin, arctan, arctan2, around, asin, atan, atan2,
    bitwise_and, bitwise_not, bitwise_or, bitwise_xor, cbrt, ceil, clip, conj, conjugate,
    copysign, cos, cosh, deg2rad, degrees, divide, equal, exp, exp2, expm1, float_power,
    floor, floor_divide, fmod, greater, greater_equal, heaviside, hypot, imag, invert,
    isfinite, isinf, isnan, less, less_equal, log, log1p, log2, log10, logaddexp,
    logical_and, logical_not, logical_or, logical_xor, maximum, minimum, mod, multiply,
    nan_to_num, negative, not_equal, positive, power, rad2deg, radians, real, reciprocal,
    remainder, rint, round, sign, sin, sinc, sinh, sqrt, square, subtract, tan, tanh,
    true_divide, where,
)
from funcad.numpy._methods import install as _install

_install()
del _install
