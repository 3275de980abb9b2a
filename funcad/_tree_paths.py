"""Pytree key paths and the rest of jax.tree_util's API (with_path functions, registration
helpers, Partial, reductions), built on funcad._tree."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, NamedTuple

from funcad import _tree
from funcad._tree import (PyTreeDef, _children, _is_namedtuple, _registry, public_is_leaf,
                          register_pytree_node, tree_flatten, tree_unflatten)


class DictKey(NamedTuple):
    """A dict key in a key path (str: ``['a']``)."""
    key: Any

    def __str__(self) -> str:
        return f"[{self.key!r}]"


class SequenceKey(NamedTuple):
    """A sequence index in a key path (str: ``[0]``)."""
    idx: int

    def __str__(self) -> str:
        return f"[{self.idx!r}]"


class GetAttrKey(NamedTuple):
    """An attribute name in a key path (str: ``.name``)."""
    name: str

    def __str__(self) -> str:
        return f".{self.name}"


class FlattenedIndexKey(NamedTuple):
    """The index of a child of a node registered without keys (str: ``[<flat index 0>]``)."""
    key: int

    def __str__(self) -> str:
        return f"[<flat index {self.key}>]"


KeyEntry = Any
KeyPath = tuple

# type -> flatten_with_keys: obj -> (iterable of (key, child), aux)
_keys_registry: dict[type, Callable] = {}


def keystr(keys: tuple, *, simple: bool = False, separator: str = "") -> str:
    """A readable string for a key path, as jax.tree_util.keystr."""
    if not simple:
        return separator.join(str(k) for k in keys)

    def one(k):
        if isinstance(k, DictKey):
            return str(k.key)
        if isinstance(k, SequenceKey):
            return str(k.idx)
        if isinstance(k, GetAttrKey):
            return k.name
        if isinstance(k, FlattenedIndexKey):
            return str(k.key)
        return str(k)
    return separator.join(one(k) for k in keys)


def register_pytree_with_keys(nodetype: type, flatten_with_keys: Callable,
                              unflatten_func: Callable, flatten_func: Callable | None = None):
    """Register a pytree node whose flatten function gives (key, child) pairs."""
    if flatten_func is None:
        def flatten_func(x):
            kc, aux = flatten_with_keys(x)
            return [c for _, c in kc], aux
    register_pytree_node(nodetype, flatten_func, unflatten_func)
    _keys_registry[nodetype] = flatten_with_keys


def register_pytree_with_keys_class(cls: type) -> type:
    """Class decorator: register `cls` with its tree_flatten_with_keys/tree_unflatten."""
    flatten_func = getattr(cls, "tree_flatten", None)
    register_pytree_with_keys(cls, lambda x: x.tree_flatten_with_keys(), cls.tree_unflatten,
                              (lambda x: x.tree_flatten()) if flatten_func else None)
    return cls


def register_pytree_node_class(cls: type) -> type:
    """Class decorator: register `cls` with its tree_flatten method and tree_unflatten
    classmethod."""
    register_pytree_node(cls, lambda x: x.tree_flatten(), cls.tree_unflatten)
    return cls


def register_static(cls: type) -> type:
    """Register `cls` as a pytree with no leaves (instances are static under jit)."""
    register_pytree_with_keys(cls, lambda obj: ((), obj), lambda obj, _children: obj)
    return cls


def register_dataclass(nodetype: type, data_fields=None, meta_fields=None, drop_fields=()):
    """Register a dataclass-like type: data_fields are children, meta_fields static (both
    inferred from ``field(metadata=dict(static=True))`` when omitted), as JAX."""
    if data_fields is None or meta_fields is None:
        if (data_fields is None) != (meta_fields is None):
            raise TypeError("register_dataclass: data_fields and meta_fields must both be "
                            f"specified when either is specified. Got {data_fields=} "
                            f"{meta_fields=}.")
        if not dataclasses.is_dataclass(nodetype):
            raise TypeError("register_dataclass: data_fields and meta_fields are required "
                            f"when nodetype is not a dataclass. Got {nodetype=}.")
        fs = dataclasses.fields(nodetype)
        data_fields = [f.name for f in fs
                       if not f.metadata.get("static", False) and f.name not in drop_fields]
        meta_fields = [f.name for f in fs
                       if f.metadata.get("static", False) and f.name not in drop_fields]
    meta_fields, data_fields = tuple(meta_fields), tuple(data_fields)
    if dataclasses.is_dataclass(nodetype):
        init_fields = {f.name for f in dataclasses.fields(nodetype) if f.init}
        init_fields.difference_update(drop_fields)
        if {*meta_fields, *data_fields} != init_fields:
            msg = ("data_fields and meta_fields must include all dataclass fields with "
                   "``init=True`` and only them.")
            if missing := init_fields - {*meta_fields, *data_fields}:
                msg += (f" Missing fields: {missing}. Add them to drop_fields to suppress "
                        "this error.")
            if unexpected := {*meta_fields, *data_fields} - init_fields:
                msg += f" Unexpected fields: {unexpected}."
            raise ValueError(msg)
    if overlap := set(data_fields) & set(meta_fields):
        raise ValueError(f"data_fields and meta_fields must not overlap. Overlapping fields:"
                         f" {overlap}.")

    def unflatten_func(meta, data):
        return nodetype(**dict(zip(meta_fields, meta)), **dict(zip(data_fields, data)))

    def flatten_func(x):
        return (tuple(getattr(x, n) for n in data_fields),
                tuple(getattr(x, n) for n in meta_fields))

    def flatten_with_keys(x):
        return (tuple((GetAttrKey(n), getattr(x, n)) for n in data_fields),
                tuple(getattr(x, n) for n in meta_fields))

    register_pytree_with_keys(nodetype, flatten_with_keys, unflatten_func, flatten_func)
    return nodetype


class Partial(functools.partial):
    """A functools.partial that is a pytree: its args and keywords are the children, the
    function is static (so it can be passed to jit)."""

    def __new__(cls, func, *args, **kw):
        if isinstance(func, functools.partial):
            func = _WholePartial(func)
        return super().__new__(cls, func, *args, **kw)


class _WholePartial:
    """A functools.partial given to Partial, kept whole: functools.partial would merge its
    arguments into the new one's (making them children, not part of the static function).
    Compares and hashes as the partial it holds; its attributes are that partial's."""

    __slots__ = ("partial",)

    def __init__(self, partial: functools.partial):
        self.partial = partial

    def __call__(self, *args, **kw):
        return self.partial(*args, **kw)

    def __getattr__(self, name):
        return getattr(self.partial, name)

    def __eq__(self, other):
        return self.partial == (other.partial if isinstance(other, _WholePartial) else other)

    def __hash__(self):
        return hash(self.partial)


register_pytree_node(Partial, lambda p: ((p.args, p.keywords), p.func),
                     lambda func, xs: Partial(func, *xs[0], **xs[1]))


# -- key-path flattening --------------------------------------------------------------------


def _key_children(x: Any) -> tuple[list, Any] | None:
    """[(key, child)] and aux of one node, or None for a leaf."""
    t = type(x)
    if t is tuple or t is list:
        return [(SequenceKey(i), c) for i, c in enumerate(x)], None
    if t is dict:
        try:
            keys = tuple(sorted(x))
        except TypeError:
            keys = tuple(x)
        return [(DictKey(k), x[k]) for k in keys], keys
    if x is None:
        return [], None
    if t in _registry:
        if t in _keys_registry:
            kc, aux = _keys_registry[t](x)
            return list(kc), aux
        children, aux = _registry[t][0](x)
        return [(FlattenedIndexKey(i), c) for i, c in enumerate(children)], aux
    if _is_namedtuple(x):
        return [(GetAttrKey(f), c) for f, c in zip(t._fields, x)], None
    return None


def _flatten_with_path(tree, is_leaf, takes_path):
    out: list = []

    def rec(path, x):
        if is_leaf is not None and (is_leaf(path, x) if takes_path else is_leaf(x)):
            out.append((path, x))
            return
        kc = _key_children(x)
        if kc is None:
            out.append((path, x))
            return
        for k, c in kc[0]:
            rec(path + (k,), c)

    rec((), tree)
    return out


def _pub(is_leaf, takes_path):
    if not _tree._PUBLIC_LEAVES:
        return is_leaf
    kinds = _tree._PUBLIC_LEAVES
    if is_leaf is None:
        return (lambda p, x: type(x) in kinds) if takes_path else (lambda x: type(x) in kinds)
    if takes_path:
        return lambda p, x: type(x) in kinds or is_leaf(p, x)
    return lambda x: type(x) in kinds or is_leaf(x)


def tree_flatten_with_path(tree: Any, is_leaf: Callable | None = None,
                           is_leaf_takes_path: bool = False) -> tuple[list, PyTreeDef]:
    """([(key_path, leaf)], treedef) of a pytree."""
    pairs = _flatten_with_path(tree, _pub(is_leaf, is_leaf_takes_path), is_leaf_takes_path)
    if is_leaf_takes_path and is_leaf is not None:
        td = _structure_from_paths(tree, pairs)
    else:
        td = tree_flatten(tree, public_is_leaf(is_leaf))[1]
    return pairs, td


def _structure_from_paths(tree, pairs):
    """The treedef of `tree` whose leaves are exactly the subtrees at the paths in pairs."""
    leaf_paths = {p for p, _ in pairs}

    def is_leaf_at(path):
        return path in leaf_paths

    def rec(path, x):
        if is_leaf_at(path):
            return _tree._LEAF
        kc = _key_children(x)
        kids = tuple(rec(path + (k,), c) for k, c in kc[0])
        t = type(x)
        if x is None:
            return _tree._NONE
        aux = kc[1]
        if t in _registry:
            aux = _registry[t][0](x)[1]
        return PyTreeDef(t, aux, kids, sum(k.num_leaves for k in kids))

    return rec((), tree)


def tree_leaves_with_path(tree: Any, is_leaf: Callable | None = None,
                          is_leaf_takes_path: bool = False) -> list:
    """[(key_path, leaf)] of a pytree."""
    return _flatten_with_path(tree, _pub(is_leaf, is_leaf_takes_path), is_leaf_takes_path)


def tree_map_with_path(f: Callable, tree: Any, *rest: Any, is_leaf: Callable | None = None,
                       is_leaf_takes_path: bool = False) -> Any:
    """Apply ``f(key_path, leaf, *rest_leaves)`` leaf-wise."""
    pairs, td = tree_flatten_with_path(tree, is_leaf, is_leaf_takes_path)
    all_leaves = [[x for _, x in pairs]]
    for r in rest:
        all_leaves.append(_flatten_up_to(td, r))
    return tree_unflatten(td, [f(p, *xs) for (p, _), xs in zip(pairs, zip(*all_leaves))])


def _flatten_up_to(td: PyTreeDef, tree: Any) -> list:
    """The subtrees of `tree` at the leaves of `td` (error if `tree` does not match)."""
    if td.kind is None:
        return [tree]
    if td.kind is type(None):
        if tree is not None:
            raise ValueError(f"Expected None, got {tree!r}.")
        return []
    if type(tree) is not td.kind and not (
            td.kind in (tuple, list) and type(tree) is td.kind):
        raise ValueError(f"Tree structure mismatch: expected a {td.kind.__name__} node, "
                         f"got {type(tree).__name__}.")
    if td.kind is dict and tuple(sorted(tree)) != tuple(td.aux):
        raise ValueError(f"Dict key mismatch: expected keys {list(td.aux)}, got "
                         f"{sorted(tree)}.")
    kids = _children(tree) if td.kind is not dict else [tree[k] for k in td.aux]
    if td.kind not in (tuple, list, dict) and td.kind in _registry:
        kids, aux = _registry[td.kind][0](tree)
        kids = list(kids)
        if not _tree._aux_equal(aux, td.aux):
            raise ValueError(f"Mismatch custom node data: {aux!r} != {td.aux!r}.")
    elif _is_namedtuple(tree):
        kids = list(tree)
    if len(kids) != len(td.children):
        raise ValueError(f"Arity mismatch: expected {len(td.children)} children, got "
                         f"{len(kids)}.")
    out: list = []
    for k, c in zip(kids, td.children):
        out.extend(_flatten_up_to(c, k))
    return out


def flatten_one_level(tree: Any) -> tuple[tuple, Any]:
    """(children, aux data) of one pytree node; ValueError for a leaf."""
    kc = _key_children(tree)
    if kc is None:
        raise ValueError(f"can't tree-flatten type: {type(tree)}")
    aux = kc[1]
    t = type(tree)
    if _is_namedtuple(tree) and t not in _registry:
        aux = t
    return tuple(c for _, c in kc[0]), aux


def flatten_one_level_with_keys(tree: Any) -> tuple[list, Any]:
    """([(key, child)], aux data) of one pytree node; ValueError for a leaf."""
    kc = _key_children(tree)
    if kc is None:
        raise ValueError(f"can't tree-flatten type: {type(tree)}")
    aux = kc[1]
    if _is_namedtuple(tree) and type(tree) not in _registry:
        aux = type(tree)
    return list(kc[0]), aux


# -- reductions and structure helpers -------------------------------------------------------

_NO_INIT = object()


def tree_reduce(function: Callable, tree: Any, initializer: Any = _NO_INIT,
                is_leaf: Callable | None = None) -> Any:
    """functools.reduce over the leaves of a pytree."""
    ls = tree_flatten(tree, public_is_leaf(is_leaf))[0]
    if initializer is _NO_INIT:
        return functools.reduce(function, ls)
    return functools.reduce(function, ls, initializer)


def tree_reduce_associative(operation: Callable, tree: Any, *, identity: Any = _NO_INIT,
                            is_leaf: Callable | None = None) -> Any:
    """Reduce the leaves with an associative operation, pairwise (a balanced tree)."""
    seq = tree_flatten(tree, public_is_leaf(is_leaf))[0]
    if not seq:
        if identity is _NO_INIT:
            raise TypeError("Must specify identity for parallel reduction of empty sequence.")
        return identity
    while len(seq) > 1:
        nxt = [operation(seq[i], seq[i + 1]) for i in range(0, len(seq) - 1, 2)]
        if len(seq) % 2:
            nxt.append(seq[-1])
        seq = nxt
    return seq[0]


def tree_all(tree: Any, *, is_leaf: Callable | None = None) -> bool:
    """Whether every leaf is truthy."""
    return all(tree_flatten(tree, public_is_leaf(is_leaf))[0])


def tree_transpose(outer_treedef: PyTreeDef, inner_treedef: PyTreeDef | None,
                   pytree_to_transpose: Any) -> Any:
    """Turn an outer tree of inner trees into an inner tree of outer trees."""
    from funcad.tree import transpose
    return transpose(outer_treedef, inner_treedef, pytree_to_transpose)


def tree_broadcast(prefix_tree: Any, full_tree: Any, is_leaf: Callable | None = None) -> Any:
    """Broadcast each leaf of `prefix_tree` over the matching subtree of `full_tree`."""
    p_leaves, p_td = tree_flatten(prefix_tree, public_is_leaf(is_leaf))
    subtrees = _flatten_up_to(p_td, full_tree)
    return tree_unflatten(p_td, [
        tree_unflatten(tree_flatten(s, public_is_leaf(is_leaf))[1],
                       [p] * tree_flatten(s, public_is_leaf(is_leaf))[1].num_leaves)
        for p, s in zip(p_leaves, subtrees)])


def all_leaves(iterable, is_leaf: Callable | None = None) -> bool:
    """Whether every element of `iterable` is a pytree leaf."""
    items = list(iterable)
    leaves = tree_flatten(items, public_is_leaf(is_leaf))[0]
    return len(leaves) == len(items) and all(a is b for a, b in zip(items, leaves))


def is_tree_node(typ: type) -> bool:
    """Whether a type is a pytree node type (built-in, registered, or a namedtuple)."""
    if not isinstance(typ, type):
        raise TypeError(f"is_tree_node: expected a type, got {typ!r}")
    if typ in _tree._PUBLIC_LEAVES:
        return False
    return (typ in (tuple, list, dict, type(None)) or typ in _registry
            or (issubclass(typ, tuple) and hasattr(typ, "_fields")))


def treedef_tuple(treedefs) -> PyTreeDef:
    """A tuple treedef from child treedefs."""
    kids = tuple(treedefs)
    return PyTreeDef(tuple, None, kids, sum(k.num_leaves for k in kids))
