"""Pytree utilities (public): flatten, unflatten, map, leaves, structure, registration.

As in JAX, typed PRNG key arrays (funcad.random.key) are leaves here."""

from funcad._tree import (  # noqa: F401
    PyTreeDef,
    register_pytree_node,
    tree_unflatten,
    treedef_children,
    treedef_is_leaf,
)
from funcad._tree import pub_tree_flatten as tree_flatten  # noqa: F401
from funcad._tree import pub_tree_leaves as tree_leaves  # noqa: F401
from funcad._tree import pub_tree_map as tree_map  # noqa: F401
from funcad._tree import pub_tree_structure as tree_structure  # noqa: F401

__all__ = ["PyTreeDef", "register_pytree_node", "tree_flatten", "tree_leaves", "tree_map",
           "tree_structure", "tree_unflatten", "treedef_children", "treedef_is_leaf"]
