"""funcad.config: JAX's `config.update(name, value)` for the flags that mean something here.

funcad follows NumPy's dtypes (float64 by default, float32 stays float32), so
`jax_enable_x64=True` is what funcad always does and False is refused; the other
accepted flags change funcad's behaviour as described in `_FLAGS`.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

_FLAGS = {
    # name: (default, check(value) -> None or raises, what it does)
    "jax_enable_x64": True,
    "jax_disable_jit": False,
    "jax_platforms": "cpu",
    "jax_platform_name": "cpu",
    "jax_default_matmul_precision": None,
    "jax_numpy_rank_promotion": "allow",
    "jax_default_prng_impl": "threefry2x32",
    "jax_debug_nans": False,
    "jax_debug_infs": False,
    "funcad_compile": None,
}


class Config:
    """Holds the flags; read them as attributes (`funcad.config.jax_enable_x64`)."""

    def __init__(self) -> None:
        object.__setattr__(self, "_values", dict(_FLAGS))

    def update(self, name: str, value: Any) -> None:
        """Set a flag (JAX's names; see the module docstring for what each does here)."""
        if name not in _FLAGS:
            raise AttributeError(f"funcad.config: unknown flag {name!r}; known: "
                                 f"{', '.join(sorted(_FLAGS))}")
        if name == "jax_enable_x64":
            if not value:
                raise ValueError("funcad.config: jax_enable_x64=False is not supported: funcad "
                                 "follows NumPy's dtypes (float64 by default; float32 inputs "
                                 "stay float32, so pass float32 arrays for 32-bit programs)")
        elif name == "jax_disable_jit":
            from funcad import _jit
            _jit.set_disabled(bool(value))
        elif name in ("jax_platforms", "jax_platform_name"):
            if value not in (None, "", "cpu"):
                raise ValueError(f"funcad.config: {name}={value!r}: funcad runs on the CPU only")
        elif name == "jax_default_matmul_precision":
            if value not in (None, "default", "high", "highest", "float32", "bfloat16",
                             "tensorfloat32", "fastest"):
                raise ValueError(f"funcad.config: unknown matmul precision {value!r}")
            # accepted: funcad always multiplies in the operands' own precision
        elif name == "jax_numpy_rank_promotion":
            if value != "allow":
                raise NotImplementedError("funcad.config: jax_numpy_rank_promotion other than "
                                          "'allow' is not supported (funcad broadcasts as "
                                          "NumPy does)")
        elif name == "jax_default_prng_impl":
            if value != "threefry2x32":
                raise NotImplementedError("funcad.config: only the threefry2x32 PRNG exists")
        elif name in ("jax_debug_nans", "jax_debug_infs"):
            from funcad import _debug_checks
            _debug_checks.set_mode(name[len("jax_debug_"):-1], bool(value))
            value = bool(value)
        elif name == "funcad_compile":
            if value not in ("sync", "background"):
                raise ValueError("funcad.config: funcad_compile must be 'sync' or "
                                 "'background'")
            os.environ["FUNCAD_COMPILE"] = value
        self._values[name] = value

    def read(self, name: str) -> Any:
        """The current value of a flag."""
        return self._values[name]

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self.update(name, value)


config = Config()


@contextlib.contextmanager
def debug_nans(new_val: bool = True):
    """Context manager: jax_debug_nans set to `new_val` inside (eager NaNs raise).

    >>> import funcad as fa, funcad.numpy as fnp
    >>> with fa.debug_nans(True):
    ...     fnp.log(-1.0)
    Traceback (most recent call last):
    FloatingPointError: invalid value (nan) encountered in log...
    """
    with _flag("jax_debug_nans", new_val):
        yield


@contextlib.contextmanager
def debug_infs(new_val: bool = True):
    """Context manager: jax_debug_infs set to `new_val` inside (eager infinities raise)."""
    with _flag("jax_debug_infs", new_val):
        yield


@contextlib.contextmanager
def _flag(name: str, value: Any):
    """The config flag `name` set to `value` inside the block, restored after it."""
    previous = getattr(config, name)
    config.update(name, value)
    try:
        yield
    finally:
        config.update(name, previous)
