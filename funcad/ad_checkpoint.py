"""funcad.ad_checkpoint: checkpoint, checkpoint_name and the named checkpoint policies.

`checkpoint_name(x, name)` is the identity, recorded in the program as a `name` equation
that the policies `save_only_these_names` / `save_any_names_but_these` look for: inside
`checkpoint(f, policy=...)`, a named value is either kept for the backward pass or
recomputed from the checkpoint's inputs.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from funcad._checkpoint import checkpoint, remat  # noqa: F401
from funcad._core import (
    ShapedArray,
    Tracer,
    abstract_eval_rules,
    batch_rules,
    impl_rules,
    lowering_rules,
    transpose_rules,
)
from funcad._tree import tree_flatten, tree_unflatten
from funcad.interpreters.ad import deflinear_jvp
from funcad.primitives._util import linear_primitives, new_primitive

__all__ = ["checkpoint", "checkpoint_name", "checkpoint_policies", "print_saved_residuals",
           "remat", "saved_residuals"]

# -- name: the identity, with a name for checkpoint policies --------------------------------

name_p = new_primitive("name")
impl_rules[name_p] = lambda x, *, name: x
abstract_eval_rules[name_p] = lambda x, *, name: ShapedArray(x.shape, x.dtype, x.weak_type)
deflinear_jvp(name_p)
linear_primitives.add(name_p)
transpose_rules[name_p] = lambda ct, x, *, name: [ct]
batch_rules[name_p] = lambda size, vals, dims, *, name: (name_p.bind(vals[0], name=name),
                                                         dims[0])
lowering_rules[name_p] = "{0}"


def checkpoint_name(x: Any, name: str) -> Any:
    """Identity on a pytree of arrays, naming the values for checkpoint policies."""
    leaves, tree = tree_flatten(x)
    out = [name_p.bind(leaf, name=str(name)) if isinstance(leaf, Tracer) else leaf
           for leaf in leaves]
    return tree_unflatten(tree, out)


# -- policies: callables (primitive, params) -> whether to save the equation's outputs --------

_DOTS = {"dot_general", "solve", "cholesky", "det", "slogdet", "eigh", "svd", "qr"}


class checkpoint_policies:  # noqa: N801  (a namespace, as jax.checkpoint_policies)
    """JAX's named checkpoint policies, for `checkpoint(f, policy=...)`."""

    @staticmethod
    def everything_saveable(prim: Any, params: dict) -> bool:
        """Save every residual (no recomputation)."""
        return True

    @staticmethod
    def nothing_saveable(prim: Any, params: dict) -> bool:
        """Save nothing: recompute everything in the backward pass."""
        return False

    @staticmethod
    def dots_saveable(prim: Any, params: dict) -> bool:
        """Save the results of matrix products (and LAPACK calls)."""
        return prim.name in _DOTS

    checkpoint_dots = dots_saveable

    @staticmethod
    def dots_with_no_batch_dims_saveable(prim: Any, params: dict) -> bool:
        """Save the results of matrix products without batch dimensions."""
        if prim.name != "dot_general":
            return False
        (_, _), (lb, rb) = params["dimension_numbers"]
        return not lb and not rb

    checkpoint_dots_with_no_batch_dims = dots_with_no_batch_dims_saveable

    @staticmethod
    def save_only_these_names(*names: str) -> Callable:
        """Save only the values named (checkpoint_name) with one of `names`."""
        wanted = set(names)
        return lambda prim, params: prim is name_p and params["name"] in wanted

    @staticmethod
    def save_any_names_but_these(*names: str) -> Callable:
        """Save every named value except those named with one of `names`."""
        unwanted = set(names)
        return lambda prim, params: prim is name_p and params["name"] not in unwanted

    @staticmethod
    def save_anything_except_these_names(*names: str) -> Callable:
        """Save everything except the values named with one of `names`."""
        unwanted = set(names)
        return lambda prim, params: not (prim is name_p and params["name"] in unwanted)

    @staticmethod
    def save_from_both_policies(policy_1: Callable, policy_2: Callable) -> Callable:
        """Save what either policy saves."""
        return lambda prim, params: bool(policy_1(prim, params) or policy_2(prim, params))

    @staticmethod
    def save_and_offload_only_these_names(*, names_which_can_be_saved: Any = (),
                                          names_which_can_be_offloaded: Any = (),
                                          offload_src: Any = None,
                                          offload_dst: Any = None) -> Callable:
        """Save the named values (there is no device memory to offload from: offloaded
        names are saved too)."""
        return checkpoint_policies.save_only_these_names(*names_which_can_be_saved,
                                                         *names_which_can_be_offloaded)


# -- residuals -------------------------------------------------------------------------------


def saved_residuals(f: Callable, *args: Any, **kwargs: Any) -> list[tuple[Any, str]]:
    """The values reverse mode keeps from the forward pass of f at args: a list of
    (ShapeDtypeStruct, description)."""
    from funcad._extras import ShapeDtypeStruct
    from funcad.interpreters.ad import linearize_flat
    leaves, tree = tree_flatten((args, kwargs))
    leaves = [x if isinstance(x, Tracer) else np.asarray(x) for x in leaves]
    in_ids = {id(x): i for i, x in enumerate(leaves)}

    def g(*xs):
        a, kw = tree_unflatten(tree, list(xs))
        return tree_flatten(f(*a, **kw))[0]

    _, lin = linearize_flat(g, leaves, scalar_residuals={
        id(x) for x in leaves if not isinstance(x, Tracer) and x.ndim == 0})
    out = []
    for c in lin.consts:
        where = (f"from argument {in_ids[id(c)]}" if id(c) in in_ids
                 else "from the forward pass")
        c = np.asarray(c)
        out.append((ShapeDtypeStruct(c.shape, c.dtype), where))
    return out


def print_saved_residuals(f: Callable, *args: Any, **kwargs: Any) -> None:
    """Print the shapes and dtypes of the values reverse mode saves for f at args."""
    for s, where in saved_residuals(f, *args, **kwargs):
        print(f"{s.dtype.name}{list(s.shape)} {where}")
