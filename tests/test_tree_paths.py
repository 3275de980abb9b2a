"""funcad.tree_util key paths and the rest of jax.tree_util's API; expected values were
produced by running the same code with jax.tree_util (JAX 0.x, /tmp/jaxvenv)."""

import dataclasses
import functools
from collections import namedtuple

import numpy as np
import pytest

import funcad
import funcad.numpy as fnp
from funcad import tree_util as tu

P = namedtuple("P", ["x", "y"])


class C:
    def __init__(self, a, b):
        self.a, self.b = a, b


tu.register_pytree_node(C, lambda c: ((c.a, c.b), None), lambda _, k: C(*k))


def test_flatten_with_path_matches_jax():
    t = {"b": [1, (2, None)], "a": P(3, 4), "c": C(5, 6)}
    pairs, td = tu.tree_flatten_with_path(t)
    # jax: repr(path), keystr(path), keystr(path, simple=True, separator='/'), leaf
    expected = [
        ("(DictKey(key='a'), GetAttrKey(name='x'))", "['a'].x", "a/x", 3),
        ("(DictKey(key='a'), GetAttrKey(name='y'))", "['a'].y", "a/y", 4),
        ("(DictKey(key='b'), SequenceKey(idx=0))", "['b'][0]", "b/0", 1),
        ("(DictKey(key='b'), SequenceKey(idx=1), SequenceKey(idx=0))", "['b'][1][0]",
         "b/1/0", 2),
        ("(DictKey(key='c'), FlattenedIndexKey(key=0))", "['c'][<flat index 0>]", "c/0", 5),
        ("(DictKey(key='c'), FlattenedIndexKey(key=1))", "['c'][<flat index 1>]", "c/1", 6),
    ]
    got = [(repr(p), tu.keystr(p), tu.keystr(p, simple=True, separator="/"), x)
           for p, x in pairs]
    assert got == expected
    assert td == tu.tree_structure(t)
    assert [x for _, x in tu.tree_leaves_with_path(t)] == tu.tree_leaves(t)


def test_key_strs():
    assert (str(tu.DictKey("a")), str(tu.SequenceKey(1)), str(tu.GetAttrKey("x")),
            str(tu.FlattenedIndexKey(2))) == ("['a']", "[1]", ".x", "[<flat index 2>]")
    assert tu.keystr((tu.DictKey(1), tu.SequenceKey(0)), simple=True, separator=".") == "1.0"
    assert tu.keystr(()) == ""


def test_empty_and_is_leaf_takes_path():
    assert funcad.tree.leaves_with_path({"a": None, "b": []}) == []
    pairs, td = tu.tree_flatten_with_path([1, [2, 3]], is_leaf=lambda p, x: len(p) == 1,
                                          is_leaf_takes_path=True)
    assert pairs == [((tu.SequenceKey(0),), 1), ((tu.SequenceKey(1),), [2, 3])]
    assert repr(td) == "PyTreeDef([*, *])"


def test_map_with_path():
    out = tu.tree_map_with_path(lambda p, x, y: (tu.keystr(p), x + y), [1, {"a": 2}],
                                [10, {"a": 20}])
    assert out == [("[0]", 11), {"a": ("[1]['a']", 22)}]
    assert funcad.tree.map_with_path(lambda p, x: len(p), (1, (2,))) == (1, (2,))
    with pytest.raises(ValueError):
        tu.tree_map_with_path(lambda p, x, y: x, [1, 2], [1, 2, 3])


class WithKeys:
    def __init__(self, u, v):
        self.u, self.v = u, v


tu.register_pytree_with_keys(
    WithKeys, lambda w: (((tu.GetAttrKey("u"), w.u), (tu.DictKey("v"), w.v)), None),
    lambda _, ch: WithKeys(*ch))


@tu.register_pytree_with_keys_class
class KC:
    def __init__(self, a):
        self.a = a

    def tree_flatten_with_keys(self):
        return ((tu.GetAttrKey("a"), self.a),), None

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls(*children)


def test_register_with_keys():
    pairs, _ = tu.tree_flatten_with_path([WithKeys(1, 2), KC(3)])
    assert [tu.keystr(p) for p, _ in pairs] == ["[0].u", "[0]['v']", "[1].a"]
    assert tu.tree_leaves([WithKeys(1, 2), KC(3)]) == [1, 2, 3]
    out = tu.tree_map(lambda x: x * 2, KC(4))
    assert isinstance(out, KC) and out.a == 8


def test_flatten_one_level():
    t = {"b": [1], "a": P(3, 4)}
    assert tu.flatten_one_level(t) == ((P(3, 4), [1]), ("a", "b"))  # as JAX
    assert tu.flatten_one_level(None) == ((), None)
    kc, aux = tu.flatten_one_level_with_keys(P(1, 2))
    assert kc == [(tu.GetAttrKey("x"), 1), (tu.GetAttrKey("y"), 2)] and aux is P
    with pytest.raises(ValueError):
        tu.flatten_one_level(1.0)


def test_misc_helpers():
    assert tu.tree_broadcast([1, 2], [(3, 4), 5]) == [(1, 1), 2]
    assert funcad.tree.broadcast({"a": 0}, {"a": [1, 2]}) == {"a": [0, 0]}
    assert tu.all_leaves([1, 2]) and not tu.all_leaves([1, [2]])
    assert tu.is_tree_node(list) and tu.is_tree_node(P) and tu.is_tree_node(C)
    assert not tu.is_tree_node(int)
    td = tu.treedef_tuple([tu.tree_structure(1), tu.tree_structure([1])])
    assert repr(td) == "PyTreeDef((*, [*]))"
    assert tu.tree_reduce(lambda a, b: a + b, [1, (2, 3)]) == 6
    assert tu.tree_reduce(lambda a, b: a + b, [], 7) == 7
    order = tu.tree_reduce_associative(lambda a, b: f"({a}{b})", list("abcde"))
    assert order == "(((ab)(cd))e)"
    assert funcad.tree.reduce_associative(lambda a, b: a + b, [], identity=0) == 0
    with pytest.raises(TypeError):
        tu.tree_reduce_associative(lambda a, b: a + b, [])
    assert tu.tree_all([True, (1,)]) and not tu.tree_all([True, 0])
    outer = tu.tree_structure([0, 0])
    inner = tu.tree_structure((0, 0))
    assert tu.tree_transpose(outer, inner, [(1, 2), (3, 4)]) == ([1, 3], [2, 4])


@dataclasses.dataclass
class D:
    x: object
    y: object
    op: str = funcad.tree.static(default="add")


tu.register_dataclass(D)


@tu.register_dataclass
@dataclasses.dataclass
class E:
    w: object
    n: int = dataclasses.field(default=1, metadata=dict(static=True))


def test_register_dataclass():
    pairs, td = tu.tree_flatten_with_path(D(1.0, 2.0))
    assert pairs == [((tu.GetAttrKey("x"),), 1.0), ((tu.GetAttrKey("y"),), 2.0)]
    assert tu.tree_structure(D(1.0, 2.0, "sub")) != td

    @funcad.jit
    def f(d):
        return d.x * d.y if d.op == "add" else d.x - d.y

    assert float(f(D(fnp.array(3.0), fnp.array(4.0)))) == 12.0
    assert float(f(D(fnp.array(3.0), fnp.array(4.0), "sub"))) == -1.0
    g = funcad.grad(lambda e: e.w ** e.n)(E(fnp.array(3.0), 2))
    assert isinstance(g, E) and g.n == 2 and float(g.w) == 6.0
    with pytest.raises(ValueError, match="Missing fields"):
        tu.register_dataclass(D, data_fields=["x"], meta_fields=["op"])
    with pytest.raises(TypeError):
        tu.register_dataclass(C)


@tu.register_static
class Mode(str):
    pass


@tu.register_pytree_node_class
class Scale:
    def __init__(self, s, name):
        self.s, self.name = s, name

    def tree_flatten(self):
        return (self.s,), self.name

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls(children[0], aux)


def test_static_and_node_class():
    assert tu.tree_leaves([Mode("a"), 1]) == [1]

    @funcad.jit
    def f(x, m, sc):
        return x * sc.s if m == "mul" else x + sc.s

    assert float(f(fnp.array(2.0), Mode("mul"), Scale(fnp.array(3.0), "k"))) == 6.0
    assert float(f(fnp.array(2.0), Mode("add"), Scale(fnp.array(3.0), "k"))) == 5.0
    g = funcad.grad(lambda sc: sc.s ** 2)(Scale(fnp.array(3.0), "k"))
    assert isinstance(g, Scale) and g.name == "k" and float(g.s) == 6.0


def _affine(a, x, b=0.0):
    return a * x + b


def test_partial():
    p = tu.Partial(_affine, fnp.array(2.0), b=fnp.array(1.0))
    assert float(p(3.0)) == 7.0
    leaves, td = tu.tree_flatten(p)
    assert len(leaves) == 2
    assert [tu.keystr(k) for k, _ in tu.tree_leaves_with_path(p)] == [
        "[<flat index 0>][0]", "[<flat index 1>]['b']"]

    @funcad.jit
    def call(fn, x):
        return fn(x)

    assert float(call(p, fnp.array(3.0))) == 7.0
    assert float(call(tu.Partial(_affine, fnp.array(5.0)), fnp.array(3.0))) == 15.0
    g = funcad.grad(lambda q, x: q(x))(p, fnp.array(3.0))
    assert isinstance(g, tu.Partial) and g.func is _affine
    np.testing.assert_allclose(g.args[0], 3.0)
    np.testing.assert_allclose(g.keywords["b"], 1.0)
    xs = fnp.arange(3.0)
    np.testing.assert_allclose(funcad.vmap(lambda q, x: q(x), in_axes=(None, 0))(p, xs),
                               2 * np.arange(3.0) + 1)
    # a Partial of a partial is kept nested, with the inner one static
    inner = functools.partial(_affine, 4.0)
    pp = tu.Partial(inner, 2.0)
    assert float(pp()) == 8.0 and tu.tree_leaves(pp) == [2.0]
