"""funcad.tree: JAX's `jax.tree` namespace (map, leaves, structure, flatten, unflatten, ...).

As in JAX, typed PRNG key arrays (funcad.random.key) are leaves here."""

from __future__ import annotations

import functools
from typing import Any, Callable

from funcad._tree import PyTreeDef, tree_unflatten
from funcad._tree import pub_tree_flatten as tree_flatten
from funcad._tree import pub_tree_leaves as tree_leaves
from funcad._tree import pub_tree_map as tree_map
from funcad._tree import pub_tree_structure as tree_structure

__all__ = ["all", "broadcast", "flatten", "flatten_with_path", "leaves", "leaves_with_path",
           "map", "map_with_path", "reduce", "reduce_associative", "static", "structure",
           "transpose", "unflatten"]

_NO_INIT = object()


def map(f: Callable, tree: Any, *rest: Any, is_leaf: Callable | None = None) -> Any:  # noqa: A001
    """Apply `f` to the leaves of `tree` (and the matching leaves of `rest`)."""
    return tree_map(f, tree, *rest, is_leaf=is_leaf)


def leaves(tree: Any, is_leaf: Callable | None = None) -> list:
    """The leaves of a pytree, in order."""
    return tree_leaves(tree, is_leaf=is_leaf)


def structure(tree: Any, is_leaf: Callable | None = None) -> PyTreeDef:
    """The treedef of a pytree."""
    return tree_structure(tree, is_leaf=is_leaf)


def flatten(tree: Any, is_leaf: Callable | None = None) -> tuple[list, PyTreeDef]:
    """(leaves, treedef) of a pytree."""
    return tree_flatten(tree, is_leaf=is_leaf)


def unflatten(treedef: PyTreeDef, leaves: Any) -> Any:
    """Rebuild a pytree from its treedef and leaves."""
    return tree_unflatten(treedef, list(leaves))


def reduce(function: Callable, tree: Any, initializer: Any = _NO_INIT,
           is_leaf: Callable | None = None) -> Any:
    """functools.reduce over the leaves of a pytree."""
    ls = tree_leaves(tree, is_leaf=is_leaf)
    if initializer is _NO_INIT:
        return functools.reduce(function, ls)
    return functools.reduce(function, ls, initializer)


def all(tree: Any, *, is_leaf: Callable | None = None) -> bool:  # noqa: A001
    """Whether every leaf is truthy."""
    import builtins
    return builtins.all(tree_leaves(tree, is_leaf=is_leaf))


def transpose(outer_treedef: PyTreeDef, inner_treedef: PyTreeDef | None,
              pytree_to_transpose: Any) -> Any:
    """Turn an outer tree of inner trees into an inner tree of outer trees (inner_treedef
    None: the structure of the first inner tree)."""
    subtrees = _flatten_up_to(outer_treedef, pytree_to_transpose)
    if inner_treedef is None:
        inner_treedef = tree_structure(subtrees[0])
    n_inner = inner_treedef.num_leaves
    cols: list[list] = [[] for _ in range(n_inner)]
    for sub in subtrees:
        ls, td = tree_flatten(sub)
        if td != inner_treedef:
            raise TypeError(f"tree.transpose: inner structure {td} differs from {inner_treedef}")
        for i, leaf in enumerate(ls):
            cols[i].append(leaf)
    return tree_unflatten(inner_treedef, [tree_unflatten(outer_treedef, c) for c in cols])


def _flatten_up_to(td: PyTreeDef, tree: Any) -> list:
    """The subtrees of `tree` at the leaves of `td`."""
    if td.kind is None:
        return [tree]
    from funcad._tree import _children
    kids = _children(tree)
    if len(kids) != len(td.children):
        raise TypeError(f"tree.transpose: the tree does not match the outer structure {td}")
    out = []
    for k, c in zip(kids, td.children, strict=True):
        out.extend(_flatten_up_to(c, k))
    return out


def map_with_path(f: Callable, tree: Any, *rest: Any, is_leaf: Callable | None = None,
                  is_leaf_takes_path: bool = False) -> Any:
    """Apply ``f(key_path, leaf, *rest_leaves)`` to the leaves of `tree`."""
    from funcad._tree_paths import tree_map_with_path
    return tree_map_with_path(f, tree, *rest, is_leaf=is_leaf,
                              is_leaf_takes_path=is_leaf_takes_path)


def flatten_with_path(tree: Any, is_leaf: Callable | None = None,
                      is_leaf_takes_path: bool = False) -> tuple[list, PyTreeDef]:
    """([(key_path, leaf)], treedef) of a pytree."""
    from funcad._tree_paths import tree_flatten_with_path
    return tree_flatten_with_path(tree, is_leaf, is_leaf_takes_path)


def leaves_with_path(tree: Any, is_leaf: Callable | None = None,
                     is_leaf_takes_path: bool = False) -> list:
    """[(key_path, leaf)] of a pytree."""
    from funcad._tree_paths import tree_leaves_with_path
    return tree_leaves_with_path(tree, is_leaf, is_leaf_takes_path)


def reduce_associative(operation: Callable, tree: Any, *, identity: Any = _NO_INIT,
                       is_leaf: Callable | None = None) -> Any:
    """Reduce the leaves of a pytree with an associative operation (balanced order)."""
    from funcad._tree_paths import _NO_INIT as _P_NO_INIT
    from funcad._tree_paths import tree_reduce_associative
    return tree_reduce_associative(operation, tree,
                                   identity=_P_NO_INIT if identity is _NO_INIT else identity,
                                   is_leaf=is_leaf)


def broadcast(prefix_tree: Any, full_tree: Any, is_leaf: Callable | None = None) -> Any:
    """Broadcast each leaf of `prefix_tree` over the matching subtree of `full_tree`."""
    from funcad._tree_paths import tree_broadcast
    return tree_broadcast(prefix_tree, full_tree, is_leaf)


def static(**kwargs):
    """A dataclasses.field marked static (metadata static=True), for register_dataclass."""
    import dataclasses
    metadata = dict(kwargs.pop("metadata", None) or {})
    metadata["static"] = True
    return dataclasses.field(metadata=metadata, **kwargs)
