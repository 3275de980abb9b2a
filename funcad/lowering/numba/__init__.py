"""The Numba backend of jit: source generation (codegen), rules, and compilation/caching.

Importing this package registers the lowering rules and installs the backend into
`funcad._jit`. Numba itself is imported only when the first program is compiled.
"""

from funcad.lowering.numba import rules as _rules  # noqa: F401  (registers the rules)
from funcad.lowering.numba.codegen import LoweringError, lower_jaxpr
from funcad.lowering.numba.compile import (
    NumbaCompileError,
    backend_compile,
    cache_dir,
    compile_jaxpr,
    compile_log,
    jit_disabled,
    stats,
)


def _preload_llvm() -> None:
    # The LLVM kernel compiler is what a first jit call needs; loading LLVM's library
    # (~0.07 s) belongs to importing the backend, not to that call.
    try:
        import llvmlite.binding  # noqa: F401
        import funcad.lowering.llvm  # noqa: F401
    except Exception:  # pragma: no cover - llvmlite broken: kernels go to Numba
        pass


def install() -> None:
    """Make funcad.jit compile through this backend."""
    from funcad._jit import set_backend
    set_backend(backend_compile)


install()
_preload_llvm()

__all__ = ["LoweringError", "NumbaCompileError", "cache_dir", "compile_jaxpr", "compile_log",
           "install", "jit_disabled", "lower_jaxpr", "stats"]
