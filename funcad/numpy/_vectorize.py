"""funcad.numpy.vectorize: NumPy's generalized-ufunc broadcasting through vmap.

The loop dimensions (those in front of each argument's core dimensions) are broadcast
together, flattened into one axis and mapped over with a single vmap; outputs get the
loop shape back in front. Without `signature` every argument has core shape `()` and the
function's outputs may have any shape.
"""

from __future__ import annotations

import functools
import re
from typing import Any, Callable

import numpy as np

_DIMS = r"\((?:\s*\w+\s*(?:,\s*\w+\s*)*)?\)"
_ARGS = rf"{_DIMS}(?:\s*,\s*{_DIMS})*"
_SIGNATURE = re.compile(rf"^\s*({_ARGS})?\s*->\s*({_ARGS})\s*$")


def _parse_signature(signature: str) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
    """'(m,n),(n)->(m)' -> ([('m', 'n'), ('n',)], [('m',)])."""
    m = _SIGNATURE.match(signature)
    if m is None:
        raise ValueError(f"vectorize: not a valid gufunc signature: {signature!r}")

    def groups(text):
        return [tuple(d.strip() for d in g.split(",") if d.strip())
                for g in re.findall(r"\(([^()]*)\)", text or "")]
    return groups(m.group(1)), groups(m.group(2))


def _bind_core(what: str, shape: tuple, core: tuple, sizes: dict) -> None:
    if len(shape) < len(core):
        raise ValueError(f"vectorize: {what} has rank {len(shape)}, fewer than its "
                         f"{len(core)} core dimension(s) {core}")
    for name, size in zip(core, shape[len(shape) - len(core):]):
        if sizes.setdefault(name, size) != size:
            raise ValueError(f"vectorize: inconsistent size for core dimension {name!r}: "
                             f"{sizes[name]} and {size} ({what})")


def vectorize(pyfunc: Callable, *, excluded: Any = frozenset(), signature: str | None = None
              ) -> Callable:
    """Vectorize `pyfunc` over leading (loop) dimensions with vmap, as jax.numpy.vectorize.

    >>> import numpy as np
    >>> import funcad.numpy as fnp
    >>> mv = fnp.vectorize(lambda m, v: m @ v, signature="(m,n),(n)->(m)")
    >>> mv(np.ones((4, 2, 3)), np.arange(3.0)).shape
    (4, 2)
    """
    excluded = frozenset(excluded)
    for e in excluded:
        if not isinstance(e, int) or isinstance(e, bool) or e < 0:
            raise TypeError(f"vectorize: excluded must hold non-negative argument positions "
                            f"(ints), got {e!r}")
    parsed = _parse_signature(signature) if signature is not None else None

    @functools.wraps(pyfunc)
    def wrapped(*args, **kwargs):
        import funcad.numpy as fnp
        from funcad._tree import tree_flatten, tree_unflatten
        from funcad.api import vmap

        idx = [i for i in range(len(args)) if i not in excluded]
        arrs = [fnp.asarray(args[i]) for i in idx]
        if parsed is None:
            in_core = [()] * len(arrs)
        else:
            in_core = parsed[0]
            if len(in_core) != len(arrs):
                raise TypeError(f"vectorize: signature {signature!r} has {len(in_core)} "
                                f"input(s) but the call has {len(arrs)} vectorized "
                                f"argument(s)")
        sizes: dict[str, int] = {}
        for k, (a, core) in enumerate(zip(arrs, in_core)):
            _bind_core(f"argument {idx[k]}", tuple(a.shape), core, sizes)
        loop_shapes = [tuple(a.shape)[:a.ndim - len(c)] for a, c in zip(arrs, in_core)]
        loop = fnp.broadcast_shapes(*loop_shapes, op="vectorize") if arrs else ()
        n = int(np.prod(loop, dtype=np.int64))
        flat = [fnp.reshape(fnp.broadcast_to(a, loop + tuple(a.shape)[a.ndim - len(c):]),
                            (n,) + tuple(a.shape)[a.ndim - len(c):])
                for a, c in zip(arrs, in_core)]

        def core_fn(*xs):
            full = list(args)
            for i, x in zip(idx, xs, strict=True):
                full[i] = x
            out = pyfunc(*full, **kwargs)
            if parsed is not None:
                _check_outputs(out, parsed[1], dict(sizes), signature)
            return out

        if not loop:
            return core_fn(*[fnp.reshape(f, f.shape[1:]) for f in flat])
        if n == 0:
            raise ValueError("vectorize: the loop dimensions have size 0 (the outputs' "
                             "core shapes cannot be known without a call)")
        out = vmap(core_fn)(*flat)
        leaves, tree = tree_flatten(out)
        return tree_unflatten(tree, [fnp.reshape(o, loop + tuple(fnp.shape(o))[1:])
                                     for o in leaves])
    return wrapped


def _check_outputs(out: Any, out_core: list, sizes: dict, signature: str) -> None:
    import funcad.numpy as fnp
    if len(out_core) == 1:
        outs = [out]
    else:
        if not isinstance(out, (tuple, list)) or len(out) != len(out_core):
            got = f"{len(out)} values" if isinstance(out, (tuple, list)) else \
                f"a {type(out).__name__}"
            raise ValueError(f"vectorize: signature {signature!r} has {len(out_core)} "
                             f"outputs but the function returned {got}")
        outs = list(out)
    for k, (o, core) in enumerate(zip(outs, out_core)):
        shape = tuple(fnp.shape(o))
        if len(shape) != len(core):
            raise ValueError(f"vectorize: output {k} has shape {shape} but the signature "
                             f"{signature!r} gives it core dimensions {core}")
        _bind_core(f"output {k}", shape, core, sizes)
