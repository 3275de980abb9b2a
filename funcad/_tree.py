"""Pytrees: nested tuples, lists, dicts, namedtuples, None and registered classes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Hashable

# type -> (flatten: obj -> (children, aux), unflatten: (aux, children) -> obj)
_registry: dict[type, tuple[Callable, Callable]] = {}


def register_pytree_node(nodetype: type, flatten_func: Callable, unflatten_func: Callable):
    """Register a class as a pytree node.

    Args:
      nodetype: the class.
      flatten_func: ``obj -> (children, aux_data)``; aux_data is compared with ``==``
        (it need not be hashable).
      unflatten_func: ``(aux_data, children) -> obj``.

    >>> class Pair:
    ...     def __init__(self, a, b): self.a, self.b = a, b
    >>> register_pytree_node(Pair, lambda p: ((p.a, p.b), None), lambda _, c: Pair(*c))
    >>> tree_leaves(Pair(1, (2, 3)))
    [1, 2, 3]
    """
    _registry[nodetype] = (flatten_func, unflatten_func)


# Registered node types that the public tree functions (funcad.tree, funcad.tree_util) see as
# leaves, as JAX sees its typed PRNG key arrays, while the transforms (which flatten with the
# functions below) still reach the node's one child, a traceable array; the value is how
# many trailing axes that child has beyond the node's own shape (a key's two uint32 words).
_PUBLIC_LEAVES: dict[type, int] = {}


def register_public_leaf(nodetype: type, trailing_axes: int) -> None:
    """Make a registered one-child node a leaf of the public tree functions (internal)."""
    if nodetype not in _registry:
        raise TypeError(f"register_public_leaf: {nodetype} is not a registered pytree node")
    _PUBLIC_LEAVES[nodetype] = trailing_axes


def public_is_leaf(is_leaf: Callable | None) -> Callable | None:
    """`is_leaf` extended with the public-leaf types (see _PUBLIC_LEAVES)."""
    if not _PUBLIC_LEAVES:
        return is_leaf
    kinds = _PUBLIC_LEAVES
    if is_leaf is None:
        return lambda x: type(x) in kinds
    return lambda x: type(x) in kinds or is_leaf(x)


def trailing_axes(tree: Any) -> list[int] | None:
    """For each leaf of `tree` (as the transforms flatten it) the number of its trailing
    axes that belong to a public-leaf node holding it (a typed key's word axis), or None
    when the tree holds no such node."""
    if not _PUBLIC_LEAVES:
        return None
    outer = tree_flatten(tree, is_leaf=public_is_leaf(None))[0]
    if not any(type(x) in _PUBLIC_LEAVES for x in outer):
        return None
    out: list[int] = []
    for x in outer:
        n = _PUBLIC_LEAVES.get(type(x))
        if n is None:
            out.append(0)
        else:
            out.extend([n] * len(tree_flatten(x)[0]))
    return out


def _is_namedtuple(x: Any) -> bool:
    return isinstance(x, tuple) and hasattr(type(x), "_fields")


def _aux_equal(a: Any, b: Any) -> bool:
    """aux_data compared by equality, as JAX does (it need not be hashable)."""
    if a is b:
        return True
    try:
        return bool(a == b)
    except Exception:  # e.g. arrays, whose == is elementwise: never equal, so no reuse
        return False


def _aux_hash(a: Any) -> int:
    try:
        return hash(a)
    except TypeError:
        # Unhashable aux_data (a dict, a list): equal values must hash alike, so only
        # the type takes part; __eq__ tells such structures apart.
        return hash(type(a).__qualname__)


@dataclass(frozen=True, slots=True, eq=False)
class PyTreeDef:
    """The structure of a pytree, without its leaves. Hashable and comparable.

    aux_data of registered nodes is compared by equality and need not be hashable (as in
    JAX), so structures with dict-valued aux_data still work as jit cache keys.
    """

    kind: Any            # None for a leaf, else the node type
    aux: Hashable
    children: tuple[PyTreeDef, ...]
    num_leaves: int

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if type(other) is not PyTreeDef:
            return NotImplemented
        return (self.kind is other.kind and self.num_leaves == other.num_leaves
                and _aux_equal(self.aux, other.aux) and self.children == other.children)

    def __hash__(self) -> int:
        aux = self.aux
        if aux is not None:       # (inline: jit hashes the structure on every call)
            aux = _aux_hash(aux)
        return hash((self.kind, aux, self.children, self.num_leaves))

    def __repr__(self) -> str:
        return f"PyTreeDef({self._str()})"

    def _str(self) -> str:
        if self.kind is None:
            return "*"
        if self.kind is type(None):
            return "None"
        inner = ", ".join(c._str() for c in self.children)
        if self.kind is tuple:
            return f"({inner}{',' if len(self.children) == 1 else ''})"
        if self.kind is list:
            return f"[{inner}]"
        if self.kind is dict:
            return "{" + ", ".join(f"{k!r}: {c._str()}"
                                   for k, c in zip(self.aux, self.children)) + "}"
        return f"{getattr(self.kind, '__name__', self.kind)}({inner})"

    def unflatten(self, leaves) -> Any:
        return tree_unflatten(self, leaves)


_LEAF = PyTreeDef(None, None, (), 1)
_NONE = PyTreeDef(type(None), None, (), 0)


def _flatten(x: Any, leaves: list, is_leaf) -> PyTreeDef:
    if is_leaf is not None and is_leaf(x):
        leaves.append(x)
        return _LEAF
    t = type(x)
    if t is tuple or t is list:
        kids = tuple(_flatten(c, leaves, is_leaf) for c in x)
        return PyTreeDef(t, None, kids, sum(k.num_leaves for k in kids))
    if t is dict:
        try:
            keys = tuple(sorted(x))
        except TypeError:
            keys = tuple(x)
        kids = tuple(_flatten(x[k], leaves, is_leaf) for k in keys)
        return PyTreeDef(dict, keys, kids, sum(k.num_leaves for k in kids))
    if x is None:
        return _NONE
    if t in _registry:
        children, aux = _registry[t][0](x)
        kids = tuple(_flatten(c, leaves, is_leaf) for c in children)
        return PyTreeDef(t, aux, kids, sum(k.num_leaves for k in kids))
    if _is_namedtuple(x):
        kids = tuple(_flatten(c, leaves, is_leaf) for c in x)
        return PyTreeDef(t, None, kids, sum(k.num_leaves for k in kids))
    leaves.append(x)
    return _LEAF


def tree_flatten(tree: Any, is_leaf: Callable | None = None) -> tuple[list, PyTreeDef]:
    """Flatten a pytree into a list of leaves and its structure.

    >>> tree_flatten({'b': 1, 'a': (2, None)})
    ([2, 1], PyTreeDef({'a': (*, None), 'b': *}))
    """
    leaves: list = []
    treedef = _flatten(tree, leaves, is_leaf)
    return leaves, treedef


def _unflatten(td: PyTreeDef, it) -> Any:
    k = td.kind
    if k is None:
        return next(it)
    if k is type(None):
        return None
    kids = [_unflatten(c, it) for c in td.children]
    if k is tuple:
        return tuple(kids)
    if k is list:
        return kids
    if k is dict:
        return dict(zip(td.aux, kids))
    if k in _registry:
        return _registry[k][1](td.aux, kids)
    return k(*kids)  # namedtuple


def tree_unflatten(treedef: PyTreeDef, leaves) -> Any:
    """Rebuild a pytree from its structure and leaves.

    >>> leaves, td = tree_flatten([1, (2, 3)])
    >>> tree_unflatten(td, [4, 5, 6])
    [4, (5, 6)]
    """
    leaves = list(leaves)
    if len(leaves) != treedef.num_leaves:
        raise ValueError(f"tree_unflatten: structure {treedef} needs {treedef.num_leaves} "
                         f"leaves, got {len(leaves)}")
    return _unflatten(treedef, iter(leaves))


def tree_leaves(tree: Any, is_leaf: Callable | None = None) -> list:
    """The leaves of a pytree, in flattening order.

    >>> tree_leaves({'x': [1, 2], 'y': 3})
    [1, 2, 3]
    """
    return tree_flatten(tree, is_leaf)[0]


def tree_structure(tree: Any, is_leaf: Callable | None = None) -> PyTreeDef:
    """The structure of a pytree.

    >>> tree_structure((1, [2]))
    PyTreeDef((*, [*]))
    """
    return tree_flatten(tree, is_leaf)[1]


def tree_map(f: Callable, tree: Any, *rest: Any, is_leaf: Callable | None = None) -> Any:
    """Apply `f` leaf-wise to one or more pytrees of the same structure.

    >>> tree_map(lambda a, b: a + b, (1, [2]), (10, [20]))
    (11, [22])
    """
    leaves, td = tree_flatten(tree, is_leaf)
    all_leaves = [leaves]
    for r in rest:
        r_leaves, r_td = tree_flatten(r, is_leaf)
        if r_td != td:
            raise ValueError(f"tree_map: structures differ: {td} and {r_td}")
        all_leaves.append(r_leaves)
    return tree_unflatten(td, [f(*xs) for xs in zip(*all_leaves)])


def treedef_children(td: PyTreeDef) -> list[PyTreeDef]:
    """The structures of the children of a node."""
    return list(td.children)


def treedef_is_leaf(td: PyTreeDef) -> bool:
    """True if the structure is a single leaf."""
    return td.kind is None


def tree_broadcast_prefix(prefix: Any, tree: Any, what: str = "in_axes") -> list:
    """Expand a pytree prefix (e.g. vmap's in_axes) to one entry per leaf of `tree`."""
    out: list = []

    def rec(p, t, path):
        pt = tree_structure(t)
        if p is None or not isinstance(p, (tuple, list, dict)) and type(p) not in _registry:
            out.extend([p] * pt.num_leaves)
            return
        if isinstance(p, dict) and isinstance(t, dict):
            if set(p) != set(t):
                raise ValueError(f"{what}: dict keys {sorted(p)} do not match the "
                                 f"argument's keys {sorted(t)} at {path or 'top level'}")
            for k in sorted(t):
                rec(p[k], t[k], f"{path}[{k!r}]")
            return
        p_leaves, p_td = tree_flatten(p, is_leaf=lambda x: x is None)
        t_children = _children(t)
        p_children = _children(p)
        if type(p) is not type(t) or len(p_children) != len(t_children):
            raise ValueError(
                f"{what} structure {tree_structure(p, is_leaf=lambda x: x is None)} "
                f"is not a prefix of the argument structure {pt} at {path or 'top level'}")
        del p_leaves, p_td
        for i, (pc, tc) in enumerate(zip(p_children, t_children)):
            rec(pc, tc, f"{path}[{i}]")

    rec(prefix, tree, "")
    return out


def _children(x: Any) -> list:
    t = type(x)
    if t in _registry:
        return list(_registry[t][0](x)[0])
    if isinstance(x, (tuple, list)):
        return list(x)
    if isinstance(x, dict):
        return [x[k] for k in sorted(x)]
    return []


# -- the public view: public-leaf nodes (typed PRNG keys) are leaves ------------------------


def pub_tree_flatten(tree: Any, is_leaf: Callable | None = None) -> tuple[list, PyTreeDef]:
    """Flatten a pytree into a list of leaves and its structure (typed keys are leaves).

    >>> tree_flatten({'b': 1, 'a': (2, None)})
    ([2, 1], PyTreeDef({'a': (*, None), 'b': *}))
    """
    return tree_flatten(tree, public_is_leaf(is_leaf))


def pub_tree_leaves(tree: Any, is_leaf: Callable | None = None) -> list:
    """The leaves of a pytree, in flattening order (typed keys are leaves)."""
    return tree_flatten(tree, public_is_leaf(is_leaf))[0]


def pub_tree_structure(tree: Any, is_leaf: Callable | None = None) -> PyTreeDef:
    """The structure of a pytree (typed keys are leaves)."""
    return tree_flatten(tree, public_is_leaf(is_leaf))[1]


def pub_tree_map(f: Callable, tree: Any, *rest: Any, is_leaf: Callable | None = None) -> Any:
    """Apply `f` leaf-wise to one or more pytrees of the same structure (typed keys are
    leaves)."""
    return tree_map(f, tree, *rest, is_leaf=public_is_leaf(is_leaf))
