"""Every primitive in the registry has every rule its kind needs (one table per transform)."""

from __future__ import annotations

import pytest

import funcad  # noqa: F401  (registers every primitive)
from funcad import _core

PRIMITIVES = sorted(_core.all_primitives.values(), key=lambda p: p.name)


def missing_rules(prim: _core.Primitive) -> list[str]:
    """Names of the rule tables that lack an entry for `prim`."""
    missing = [name for name, table in [("impl", _core.impl_rules),
                                        ("abstract_eval", _core.abstract_eval_rules),
                                        ("batching", _core.batch_rules)]
               if prim not in table]
    if prim not in _core.nondiff_primitives and prim not in _core.jvp_rules:
        missing.append("jvp (or membership of nondiff_primitives)")
    if prim in _core.linear_primitives and prim not in _core.transpose_rules:
        missing.append("transpose (it is in linear_primitives)")
    return missing


#: Extra per-primitive checks other parts of funcad add (e.g. a lowering rule per primitive):
#: each takes a primitive and returns the names of what is missing.
EXTRA_CHECKS: list = []


@pytest.mark.parametrize("prim", PRIMITIVES, ids=lambda p: p.name)
def test_primitive_has_all_rules(prim):
    missing = missing_rules(prim)
    for check in EXTRA_CHECKS:
        missing += check(prim)
    assert not missing, f"primitive '{prim.name}' lacks rules: {', '.join(missing)}"


def test_registry_is_consistent():
    assert all(_core.all_primitives[p.name] is p for p in PRIMITIVES)
    assert _core.nondiff_primitives <= set(PRIMITIVES)
    assert _core.linear_primitives <= set(PRIMITIVES)
    for table in (_core.impl_rules, _core.abstract_eval_rules, _core.jvp_rules,
                  _core.transpose_rules, _core.batch_rules):
        assert set(table) <= set(PRIMITIVES)


def test_the_registry_check_catches_a_missing_rule():
    prim = _core.all_primitives["sin"]
    saved = _core.jvp_rules.pop(prim)
    try:
        assert missing_rules(prim) == ["jvp (or membership of nondiff_primitives)"]
    finally:
        _core.jvp_rules[prim] = saved
