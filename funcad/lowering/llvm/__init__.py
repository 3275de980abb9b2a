"""A fast second compiler for small generated kernels: Python subset -> LLVM IR -> llvmlite JIT.

See :mod:`funcad.lowering.llvm.kernel_compiler` for the subset, the semantics and measured numbers.
"""
from .kernel_compiler import (ArrayArg, ScalarArg, Unsupported, compile_kernel, kernel_stats,
                              register_constant_array)

__all__ = ["compile_kernel", "Unsupported", "ArrayArg", "ScalarArg", "kernel_stats",
           "register_constant_array"]
