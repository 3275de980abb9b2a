"""jax_debug_nans / jax_debug_infs: eager primitive applications check their outputs.

When a flag is on, `_core.Primitive.bind` calls `check` after each level-0 (eager)
application: an output holding a NaN (or an infinity) that none of the inputs held raises
FloatingPointError naming the primitive. A call primitive (jit's program) that produced
one is run again equation by equation, as JAX does, so the error names the primitive
inside the program; `funcad.jit` takes its slow path (through `jit_p.bind`) while a flag
is on. Eager `funcad.Array` operators (NumPy ufuncs, not binds) check through
`check_values`. With both flags off each of them tests one global
(`_core._debug_hook is None`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from funcad import _core

_modes: dict[str, bool] = {"nan": False, "inf": False}


def set_mode(kind: str, on: bool) -> None:
    """Switch the NaN ("nan") or infinity ("inf") check on or off."""
    from funcad import _jit
    _modes[kind] = bool(on)
    active = any(_modes.values())
    _core._debug_hook = check if active else None
    _jit.set_debug_checks(active)


def _has(kind: str, x: Any) -> bool:
    if isinstance(x, (np.ndarray, np.generic)):
        if x.dtype.kind not in "fc":
            return False
    elif not isinstance(x, (float, complex)):
        return False
    return bool(np.isnan(x).any() if kind == "nan" else np.isinf(x).any())


def _rerun(prim, args, params) -> None:
    """Evaluate a call primitive's program equation by equation (each bind is checked)."""
    from funcad._ir import ClosedJaxpr, Jaxpr, eval_jaxpr
    jaxpr = params.get("jaxpr")
    if isinstance(jaxpr, ClosedJaxpr):
        eval_jaxpr(jaxpr.jaxpr, jaxpr.consts, args)
    elif isinstance(jaxpr, Jaxpr) and not jaxpr.constvars:
        eval_jaxpr(jaxpr, (), args)


def check_values(name: str, args: tuple, out: Any) -> None:
    """The check of an operation that is not a bind (an eager Array operator)."""
    for kind, on in _modes.items():
        if on and _has(kind, out) and not any(_has(kind, a) for a in args):
            flag = f"jax_debug_{kind}s"
            raise FloatingPointError(f"invalid value ({kind}) encountered in {name}. Raised "
                                     f"because {flag} is on.")


def check(prim, args: tuple, params: dict, out: Any) -> None:
    """Raise FloatingPointError if `out` has a NaN/inf (per the flags) that `args` had not."""
    outs = out if prim.multiple_results else (out,)
    for kind, on in _modes.items():
        if not on or not any(_has(kind, o) for o in outs):
            continue
        if any(_has(kind, a) for a in args):
            continue
        what = f"invalid value ({kind})"
        flag = f"jax_debug_{kind}s"
        if "jaxpr" in params:
            _rerun(prim, args, params)      # raises at the equation that made it, if any
            raise FloatingPointError(
                f"{what} encountered in {prim.name} (the compiled program made it, but "
                f"running its equations one by one did not: a difference between the "
                f"compiled and the eager arithmetic). Raised because {flag} is on.")
        raise FloatingPointError(f"{what} encountered in {prim.name}. Raised because "
                                 f"{flag} is on (funcad.config.update({flag!r}, False) "
                                 f"to turn it off).")
