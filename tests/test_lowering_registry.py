"""Every primitive has a Numba lowering rule (the registry coverage check for lowering)."""

from funcad._core import all_primitives, lowering_rules
from funcad.lowering.numba.rules import check_all_lowered


def test_every_primitive_has_a_lowering_rule():
    assert check_all_lowered() == [], (
        "primitives without a Numba lowering rule (add one in funcad/lowering/numba/): "
        f"{check_all_lowered()}")


def test_templates_are_well_formed():
    for name, p in all_primitives.items():
        rule = lowering_rules.get(p)
        if isinstance(rule, str):
            assert "{0}" in rule, f"template of {name} does not use its operand: {rule!r}"
