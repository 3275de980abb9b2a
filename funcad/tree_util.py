"""Pytree utilities (public): flatten, unflatten, map, leaves, structure, registration,
key paths.

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
from funcad._tree_paths import (  # noqa: F401
    DictKey,
    FlattenedIndexKey,
    GetAttrKey,
    KeyEntry,
    KeyPath,
    Partial,
    SequenceKey,
    all_leaves,
    flatten_one_level,
    flatten_one_level_with_keys,
    is_tree_node,
    keystr,
    register_dataclass,
    register_pytree_node_class,
    register_pytree_with_keys,
    register_pytree_with_keys_class,
    register_static,
    tree_all,
    tree_broadcast,
    tree_flatten_with_path,
    tree_leaves_with_path,
    tree_map_with_path,
    tree_reduce,
    tree_reduce_associative,
    tree_transpose,
    treedef_tuple,
)

__all__ = ["PyTreeDef", "register_pytree_node", "tree_flatten", "tree_leaves", "tree_map",
           "tree_structure", "tree_unflatten", "treedef_children", "treedef_is_leaf",
           "DictKey", "FlattenedIndexKey", "GetAttrKey", "KeyEntry", "KeyPath", "Partial",
           "SequenceKey", "all_leaves", "flatten_one_level", "flatten_one_level_with_keys",
           "is_tree_node", "keystr", "register_dataclass", "register_pytree_node_class",
           "register_pytree_with_keys", "register_pytree_with_keys_class", "register_static",
           "tree_all", "tree_broadcast", "tree_flatten_with_path", "tree_leaves_with_path",
           "tree_map_with_path", "tree_reduce", "tree_reduce_associative", "tree_transpose",
           "treedef_tuple"]
