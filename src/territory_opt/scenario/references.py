"""Cross-references inside a validated spec: the rules, objective, capacities, quotas and pair
loads may only name attributes and tags the tables declare, and none of the reserved names.
"""

from __future__ import annotations

from territory_opt.errors import Problem
from territory_opt.scenario.schema import ScenarioSpec

RESERVED_ATTRIBUTES = frozenset(
    {"items", "territory", "name", "fte", "travel", "km_mean", "km_max", "mi_mean", "mi_max",
     "min_mean", "min_max"}
)
"""Attribute names that would collide with KPI table columns or mean 'count the items'."""


def rule_references(spec: ScenarioSpec, source: str = "scenario.yaml") -> list[Problem]:
    """Rules and objective may only name attributes and tags the tables declare."""
    attrs = set(spec.items.attribute_columns())
    if spec.accounts is not None:
        attrs |= set(spec.accounts.attribute_columns())
    tags = set(spec.items.tag_columns())
    expected = f"one of the item attributes {sorted(attrs)}" if attrs else (
        "an attribute declared under items.attributes (none are declared)"
    )
    problems = [
        Problem(f"{source}, at items.attributes", "attributes", repr(name),
                f"a name other than {sorted(RESERVED_ATTRIBUTES)} (reserved for KPI columns "
                "and 'items' counting); map it, e.g. {'hours': '" + name + "'}")
        for name in sorted(attrs & RESERVED_ATTRIBUTES)
    ]

    def check(name: str | None, yaml_path: str, allow_items: bool = False) -> None:
        if name is None or name in attrs or (allow_items and name == "items"):
            return
        problems.append(Problem(f"{source}, at {yaml_path}", yaml_path.rsplit(".", 1)[-1],
                                repr(name), expected + (" or 'items'" if allow_items else "")))

    for i, rule in enumerate(spec.rules.balance):
        check(rule.attribute, f"rules.balance.{i}.attribute")
    for name in spec.territories.capacity:
        check(name, f"territories.capacity.{name}")
    if spec.rules.disruption is not None:
        check(spec.rules.disruption.attribute, "rules.disruption.attribute", allow_items=True)
    check(spec.objective.travel.attribute, "objective.travel.attribute")
    check(spec.objective.disruption.per, "objective.disruption.per", allow_items=True)
    if spec.objective.dispersion is not None:
        check(spec.objective.dispersion.attribute, "objective.dispersion.attribute")
    if spec.quotas is not None:
        check(spec.quotas.basis, "quotas.basis")
    if spec.pairs is not None:
        for name in spec.pairs.loads:
            check(name, f"pairs.loads.{name}")
    for i, tag in enumerate(spec.rules.eligibility):
        if tag not in tags:
            problems.append(Problem(f"{source}, at rules.eligibility.{i}", "eligibility",
                                    repr(tag), f"one of the item tags {sorted(tags)}"))
    if spec.rules.eligibility and spec.territories.skills is None:
        problems.append(Problem(f"{source}, at territories.skills", "skills", "nothing",
                                "a skills column, since rules.eligibility is given"))
    return problems
