"""Pytree utilities (public): flatten, unflatten, map, leaves, structure, registration."""

from funcad._tree import (  # noqa: F401
    PyTreeDef,
    register_pytree_node,
    tree_flatten,
    tree_leaves,
    tree_map,
    tree_structure,
    tree_unflatten,
    treedef_children,
    treedef_is_leaf,
)

__all__ = ["PyTreeDef", "register_pytree_node", "tree_flatten", "tree_leaves", "tree_map",
           "tree_structure", "tree_unflatten", "treedef_children", "treedef_is_leaf"]
