"""funcad.tree_util: flatten, unflatten, map, leaves, structure, registration."""

from collections import namedtuple

import numpy as np
import pytest

from funcad import tree_util as tu

Point = namedtuple("Point", ["x", "y"])


class Box:
    """A registered container with static metadata."""

    def __init__(self, items, label):
        self.items, self.label = items, label

    def __eq__(self, other):
        return (type(other) is Box and self.label == other.label
                and self.items == other.items)


tu.register_pytree_node(Box, lambda b: (b.items, b.label),
                        lambda label, items: Box(list(items), label))

TREES = [
    (1, [1], "*"),
    ((1, 2), [1, 2], "(*, *)"),
    ((1,), [1], "(*,)"),
    ([1, (2, 3)], [1, 2, 3], "[*, (*, *)]"),
    ({"b": 1, "a": 2}, [2, 1], "{'a': *, 'b': *}"),
    (None, [], "None"),
    ((None, 1, ()), [1], "(None, *, ())"),
    (Point(1, (2, None)), [1, 2], "Point(*, (*, None))"),
    (Box([1, 2], "lbl"), [1, 2], "Box(*, *)"),
    ({"z": [Point(1, 2)], "a": Box([3], "q")}, [3, 1, 2], None),
    ([], [], "[]"),
    ({}, [], "{}"),
]


@pytest.mark.parametrize("tree,leaves,struct", TREES, ids=[str(i) for i in range(len(TREES))])
def test_flatten_unflatten_roundtrip(tree, leaves, struct):
    ls, td = tu.tree_flatten(tree)
    assert ls == leaves
    assert tu.tree_leaves(tree) == leaves
    assert tu.tree_structure(tree) == td
    assert td.num_leaves == len(leaves)
    if struct is not None:
        assert repr(td) == f"PyTreeDef({struct})"
    rebuilt = tu.tree_unflatten(td, ls)
    assert rebuilt == tree and type(rebuilt) is type(tree)
    assert td.unflatten(ls) == tree


def test_arrays_are_leaves():
    x = np.arange(3.0)
    ls, td = tu.tree_flatten({"x": x, "s": 2.0})
    assert td.num_leaves == 2 and ls[1] is x


def test_unflatten_wrong_number_of_leaves():
    _, td = tu.tree_flatten((1, 2))
    with pytest.raises(ValueError, match="needs 2 leaves, got 3"):
        tu.tree_unflatten(td, [1, 2, 3])


def test_structures_compare_and_hash():
    a = tu.tree_structure({"a": (1, 2)})
    b = tu.tree_structure({"a": (3, 4)})
    c = tu.tree_structure({"a": [3, 4]})
    assert a == b and hash(a) == hash(b)
    assert a != c
    assert tu.tree_structure(Box([1], "x")) != tu.tree_structure(Box([1], "y"))
    assert tu.tree_structure((1, 2)) != tu.tree_structure(Point(1, 2))


def test_tree_map_single_and_multiple():
    t = {"a": [1, 2], "b": Point(3, None)}
    assert tu.tree_map(lambda x: x * 10, t) == {"a": [10, 20], "b": Point(30, None)}
    assert tu.tree_map(lambda x, y: x + y, (1, [2]), (10, [20])) == (11, [22])
    assert tu.tree_map(lambda x: -x, Box([1, 2], "k")) == Box([-1, -2], "k")


def test_tree_map_structure_mismatch():
    with pytest.raises(ValueError, match="structures differ"):
        tu.tree_map(lambda x, y: x + y, (1, 2), [1, 2])


def test_is_leaf():
    t = {"a": (1, 2), "b": (3,)}
    assert tu.tree_leaves(t, is_leaf=lambda x: isinstance(x, tuple)) == [(1, 2), (3,)]
    assert tu.tree_map(len, t, is_leaf=lambda x: isinstance(x, tuple)) == {"a": 2, "b": 1}


def test_dict_keys_sorted_and_unflatten_order():
    ls, td = tu.tree_flatten({"c": 3, "a": 1, "b": 2})
    assert ls == [1, 2, 3]
    assert tu.tree_unflatten(td, ["A", "B", "C"]) == {"a": "A", "b": "B", "c": "C"}


def test_treedef_children_and_is_leaf():
    td = tu.tree_structure((1, [2, 3]))
    kids = tu.treedef_children(td)
    assert len(kids) == 2 and tu.treedef_is_leaf(kids[0])
    assert not tu.treedef_is_leaf(kids[1]) and kids[1].num_leaves == 2


def test_register_pytree_node_used_by_transforms():
    import funcad as fa
    import funcad.numpy as fnp

    class Lin:
        def __init__(self, w, b):
            self.w, self.b = w, b

    tu.register_pytree_node(Lin, lambda m: ((m.w, m.b), None), lambda _, c: Lin(*c))
    m = Lin(np.array([1.0, 2.0]), np.array(0.5))
    g = fa.grad(lambda m, x: fnp.sum(m.w * x) + m.b)(m, np.array([3.0, 4.0]))
    assert isinstance(g, Lin)
    np.testing.assert_allclose(g.w, [3.0, 4.0])
    np.testing.assert_allclose(g.b, 1.0)
