"""Record JAX's result dtypes (x64 on) for tests/test_dtypes.py (never run at test time).

    /tmp/jaxvenv/bin/python tests/programs/record_jax_dtypes.py > tests/programs/jax_dtypes.json

Rows: every pair of dtypes and Python scalar kinds through `jnp.add` and `jnp.true_divide`
(the promotion lattice and its inexact rule), and the unary and binary functions of
DTYPE_UNARY / DTYPE_BINARY on the arguments of DTYPE_ARGS (the dtype table of
tests/test_numpy_functions.py); then the weak types of WEAK_ROWS. An entry is a dtype
name (with "*" when weakly typed, in "weak"), or "error: <exception type>".
"""

from __future__ import annotations

import json

import jax
jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
from dtype_rows import (DTYPE_ARGS, DTYPE_BINARY, DTYPE_PAIRS, DTYPE_UNARY, KINDS,  # noqa: E402
                        PY_SCALARS, WEAK_ROWS, WEAK_SETUP, value, weak_dtype)

def dtype_of(fn):
    try:
        return str(jnp.asarray(fn()).dtype)
    except Exception as e:  # noqa: BLE001  (the row records the error's type)
        return "error: " + type(e).__name__


def main():
    out = {"add": {}, "true_divide": {}, "unary": {}, "binary": {}}
    for a in KINDS:
        for b in KINDS:
            if a in PY_SCALARS and b in PY_SCALARS:
                continue
            out["add"][f"{a},{b}"] = dtype_of(lambda: jnp.add(value(a), value(b)))
            out["true_divide"][f"{a},{b}"] = dtype_of(
                lambda: jnp.true_divide(value(a), value(b)))
    for n in DTYPE_UNARY:
        for k in ["f32", "f64", "i64", "i32", "bool"]:
            out["unary"][f"{n}({k})"] = dtype_of(lambda: getattr(jnp, n)(DTYPE_ARGS[k]))
    for n in DTYPE_BINARY:
        for a, b in DTYPE_PAIRS:
            out["binary"][f"{n}({a},{b})"] = dtype_of(
                lambda: getattr(jnp, n)(DTYPE_ARGS[a], DTYPE_ARGS[b]))
    ns = {"jnp": jnp, "lax": jax.lax, "jax": jax}
    exec(WEAK_SETUP, ns)  # noqa: S102  (the rows' values, shared with the test)
    out["weak"] = {}
    for name, expr in WEAK_ROWS.items():
        try:
            out["weak"][name] = weak_dtype(jnp.asarray(eval(expr, ns)))  # noqa: S307
        except Exception as e:  # noqa: BLE001  (the row records the error's type)
            out["weak"][name] = "error: " + type(e).__name__
    print(json.dumps(out, indent=0, sort_keys=True))


if __name__ == "__main__":
    main()
